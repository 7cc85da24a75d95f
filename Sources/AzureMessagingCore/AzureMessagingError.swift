import AzureAuth
import ConnectionPooling
import ToolboxAMQP
import ToolboxCore

/// Every Event Hubs and Service Bus operation delivers a `ToolboxError` with one of the codes below, and Azure's
/// AMQP condition and description in `serviceCondition` exactly as the service sent them. The old name stays for
/// code written against it.
///
/// ```swift
/// catch let error as ToolboxError where error.code == .messageSizeExceeded {
///     print(error.condition ?? "-", error.conditionDescription ?? "-")
/// }
/// ```
///
/// `recovery` says what the client did or would do (DESIGN §6): rebuild the link, rebuild the connection,
/// retry with backoff, or fail. Descriptions never contain keys, tokens or connection strings.
public typealias AzureMessagingError = ToolboxError

extension ToolboxError.Code {
    /// The credential was refused (`amqp:unauthorized-access`, `com.microsoft:auth-failed`, CBS 401).
    public static let unauthorized = Self("unauthorized")
    /// The entity (hub, partition, queue) or message does not exist (`amqp:not-found`).
    public static let notFound = Self("notFound")
    /// The message or batch is larger than the link's max-message-size.
    public static let messageSizeExceeded = Self("messageSizeExceeded")
    /// The entity is disabled (`com.microsoft:entity-disabled`).
    public static let entityDisabled = Self("entityDisabled")
    /// The service is throttling (`com.microsoft:server-busy`); retried with backoff before surfacing.
    public static let serverBusy = Self("serverBusy", defaultRecovery: .retry)
    /// The connection failed (socket, TLS, `amqp:connection:forced`); the client reconnects.
    public static let connectionLost = Self("connectionLost", defaultRecovery: .rebuildConnection)
    /// The link was detached (`amqp:link:detach-forced`); the client re-attaches.
    public static let linkLost = Self("linkLost", defaultRecovery: .rebuildLink)
    /// A Service Bus message lock expired or was lost (`com.microsoft:message-lock-lost`).
    public static let messageLockLost = Self("messageLockLost")
    /// The service's TLS certificate was not trusted (issuer, host name, dates): not retried.
    public static let certificateRejected = Self("certificateRejected")
    /// A quota of the entity or namespace is used up (`amqp:resource-limit-exceeded`): the queue or topic is full,
    /// or the namespace has as many connections or receivers as it allows. Not retried, as in the Azure SDKs
    /// (`ServiceBusQuotaExceededError`, `QuotaExceeded`): it lasts until messages are received or a connection
    /// closes, which a retry a few hundred milliseconds later does not wait for.
    public static let quotaExceeded = Self("quotaExceeded")
}

extension ToolboxError {
    /// A messaging error with the AMQP condition and description the service sent (the old
    /// `AzureMessagingError` initialiser).
    public init(_ code: Code, _ message: String, condition: String?, conditionDescription: String? = nil,
                recovery: Recovery? = nil) {
        self.init(code, message, serviceCondition: condition.map {
            ServiceCondition(amqpCondition: $0, serviceMessage: conditionDescription.map { Redaction.peerText($0) })
        }, recovery: recovery)
    }

    /// Azure's AMQP error condition (`amqp:not-found`, `com.microsoft:server-busy` ...), when the service sent one.
    public var condition: String? { serviceCondition?.amqpCondition }
    /// Azure's description of the condition, when it sent one.
    public var conditionDescription: String? { serviceCondition?.serviceMessage }
}

extension ToolboxError {
    /// Condition → code for the conditions Azure sends (azure-servicebus `_ERROR_CODE_TO_ERROR_MAPPING`).
    static let codesByCondition: [String: Code] = [
        "amqp:unauthorized-access": .unauthorized, "com.microsoft:auth-failed": .unauthorized,
        "amqp:not-found": .notFound, "com.microsoft:message-not-found": .notFound,
        "amqp:link:message-size-exceeded": .messageSizeExceeded,
        "com.microsoft:entity-disabled": .entityDisabled,
        "com.microsoft:server-busy": .serverBusy, "amqp:resource-limit-exceeded": .quotaExceeded,
        "com.microsoft:timeout": .timedOut,
        "amqp:link:detach-forced": .linkLost, "amqp:link:stolen": .linkLost,
        "amqp:connection:forced": .connectionLost, "amqp:connection:framing-error": .connectionLost,
        "com.microsoft:message-lock-lost": .messageLockLost, "com.microsoft:session-lock-lost": .messageLockLost,
        "com.microsoft:argument-error": .invalidArgument, "com.microsoft:argument-out-of-range": .invalidArgument,
    ]

    /// The codes messaging clients deliver; `wrap` passes errors with these codes through unchanged.
    static let messagingCodes: Set<Code> = [
        .unauthorized, .notFound, .messageSizeExceeded, .entityDisabled, .serverBusy, .timedOut, .connectionLost,
        .linkLost, .messageLockLost, .certificateRejected, .invalidArgument, .cancelled, .clientClosed,
        .blockingCallOnLibraryQueue, .serviceError, .invalidResponse, .quotaExceeded,
    ]

    /// Classifies an AMQP-layer error per DESIGN §6, keeping the peer's condition and description; the AMQP
    /// error becomes `underlying`.
    public init(_ error: ToolboxError, context: String) {
        let recovery = error.recovery
        let message = "\(context): \(error.message)"
        if let condition = error.condition {
            let code = Self.isIdleTimeoutClose(error.code, AMQPSymbol(condition)) ? .connectionLost
                : Self.codesByCondition[condition]
                ?? (recovery == .rebuildConnection ? .connectionLost : recovery == .rebuildLink ? .linkLost : .serviceError)
            self.init(code, message, serviceCondition: error.serviceCondition, underlying: error, recovery: recovery)
            return
        }
        if Self.messagingCodes.contains(error.code) {
            // Already a messaging code (a layer above AMQP raised it): keep it, add the context.
            self.init(error.code, message, underlying: error, recovery: recovery)
            return
        }
        if error.isCertificateVerificationFailure {
            self.init(.certificateRejected, message, underlying: error, recovery: .fail)
            return
        }
        let code: Code
        switch error.code {
        case .timedOut: code = .timedOut
        case .linkDetached: code = .linkLost
        case .cancelled: code = .cancelled
        case .invalidArgument, .encoding: code = .invalidArgument
        case .authentication: code = .unauthorized
        case .limitExceeded: code = .messageSizeExceeded
        case .requestFailed: code = .serviceError
        default: code = .connectionLost  // transport, connection closed, session ended, decoding, framing, protocol
        }
        self.init(code, message, underlying: error, recovery: recovery)
    }

    /// A rejected delivery: the service's condition decides.
    public init(rejected remote: AMQPRemoteError?, context: String) {
        guard let remote else {
            self.init(.serviceError, "\(context): the service rejected the message without a reason")
            return
        }
        self.init(AMQPError(.requestFailed, "the service rejected the message", remote: remote), context: context)
    }

    /// Maps any error the lower layers deliver onto a messaging error (one already classified passes through).
    public static func wrap(_ error: any Error, context: String) -> ToolboxError {
        guard let error = error as? ToolboxError else {
            return ToolboxError(.serviceError, "\(context): \(error)", underlying: error)
        }
        if messagingCodes.contains(error.code) { return error }
        switch error.code {
        case .credentialUnavailable, .authenticationFailed, .transportFailed, .invalidKey, .malformedConnectionString,
             .missingConnectionStringKey, .invalidConnectionStringValue:
            return ToolboxError(.unauthorized, "\(context): \(error)", underlying: error, recovery: .fail)
        case .connectionFailed:
            if let cause = error.underlying { return wrap(cause, context: context) }
            return ToolboxError(.connectionLost, "\(context): \(error)", underlying: error, recovery: .rebuildConnection)
        case .exhausted:
            return ToolboxError(.timedOut, "\(context): \(error)", underlying: error, recovery: .retry)
        case .poolClosed:
            return ToolboxError(.clientClosed, "\(context): the client is closed", underlying: error)
        case .invalidConfiguration:
            return ToolboxError(.invalidArgument, "\(context): \(error)", underlying: error)
        default:
            return ToolboxError(error, context: context)
        }
    }
}
