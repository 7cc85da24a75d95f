import AzureAuth
import ConnectionPooling
import ToolboxAMQP
import ToolboxCore

/// The error every Event Hubs and Service Bus operation delivers: a code to match on, a message, and Azure's
/// AMQP condition and description exactly as the service sent them.
///
/// ```swift
/// catch let error as AzureMessagingError where error.code == .messageSizeExceeded {
///     print(error.condition ?? "-", error.conditionDescription ?? "-")
/// }
/// ```
///
/// `recovery` says what the client did or would do (DESIGN §6): rebuild the link, rebuild the connection,
/// retry with backoff, or fail. Descriptions never contain keys, tokens or connection strings.
public struct AzureMessagingError: ToolboxError, Equatable {
    /// What went wrong, coarse enough to match on.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The credential was refused (`amqp:unauthorized-access`, `com.microsoft:auth-failed`, CBS 401).
        public static let unauthorized = Code(rawValue: "unauthorized")
        /// The entity (hub, partition, queue) or message does not exist (`amqp:not-found`).
        public static let notFound = Code(rawValue: "notFound")
        /// The message or batch is larger than the link's max-message-size.
        public static let messageSizeExceeded = Code(rawValue: "messageSizeExceeded")
        /// The entity is disabled (`com.microsoft:entity-disabled`).
        public static let entityDisabled = Code(rawValue: "entityDisabled")
        /// The service is throttling (`com.microsoft:server-busy`); retried with backoff before surfacing.
        public static let serverBusy = Code(rawValue: "serverBusy")
        /// An operation did not finish in time (locally, or `com.microsoft:timeout`).
        public static let timedOut = Code(rawValue: "timedOut")
        /// The connection failed (socket, TLS, `amqp:connection:forced`); the client reconnects.
        public static let connectionLost = Code(rawValue: "connectionLost")
        /// The link was detached (`amqp:link:detach-forced`); the client re-attaches.
        public static let linkLost = Code(rawValue: "linkLost")
        /// A Service Bus message lock expired or was lost (`com.microsoft:message-lock-lost`).
        public static let messageLockLost = Code(rawValue: "messageLockLost")
        /// The service's TLS certificate was not trusted (issuer, host name, dates): not retried.
        public static let certificateRejected = Code(rawValue: "certificateRejected")
        /// The caller passed something unusable.
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// The caller cancelled the operation.
        public static let cancelled = Code(rawValue: "cancelled")
        /// The client was closed.
        public static let clientClosed = Code(rawValue: "clientClosed")
        /// The blocking form was called on a library queue, where waiting would deadlock.
        public static let blockingCallOnLibraryQueue = Code(rawValue: "blockingCallOnLibraryQueue")
        /// Any other failure the service reported; `condition` holds its AMQP condition.
        public static let serviceError = Code(rawValue: "serviceError")
    }

    public let code: Code
    public let message: String
    /// Azure's AMQP error condition (`amqp:not-found`, `com.microsoft:server-busy` ...), when the service sent one.
    public let condition: String?
    /// Azure's description of the condition, when it sent one.
    public let conditionDescription: String?
    /// What a client should do about it.
    public let recovery: AMQPRecoveryAction

    public init(_ code: Code, _ message: String, condition: String? = nil, conditionDescription: String? = nil,
                recovery: AMQPRecoveryAction = .fail) {
        self.code = code
        self.message = message
        self.condition = condition
        self.conditionDescription = conditionDescription
        self.recovery = recovery
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let condition {
            text += " (\(condition)\(conditionDescription.map { ": \($0)" } ?? ""))"
        }
        return text
    }

    public static func == (lhs: AzureMessagingError, rhs: AzureMessagingError) -> Bool {
        lhs.code == rhs.code && lhs.condition == rhs.condition
    }

    /// Whether the client may try again (after a retry delay, a new link or a new connection).
    public var isTransient: Bool { recovery != .fail }
}

extension AzureMessagingError {
    /// Condition → code for the conditions Azure sends (azure-servicebus `_ERROR_CODE_TO_ERROR_MAPPING`).
    static let codesByCondition: [String: Code] = [
        "amqp:unauthorized-access": .unauthorized, "com.microsoft:auth-failed": .unauthorized,
        "amqp:not-found": .notFound, "com.microsoft:message-not-found": .notFound,
        "amqp:link:message-size-exceeded": .messageSizeExceeded,
        "com.microsoft:entity-disabled": .entityDisabled,
        "com.microsoft:server-busy": .serverBusy, "amqp:resource-limit-exceeded": .serverBusy,
        "com.microsoft:timeout": .timedOut,
        "amqp:link:detach-forced": .linkLost, "amqp:link:stolen": .linkLost,
        "amqp:connection:forced": .connectionLost, "amqp:connection:framing-error": .connectionLost,
        "com.microsoft:message-lock-lost": .messageLockLost, "com.microsoft:session-lock-lost": .messageLockLost,
        "com.microsoft:argument-error": .invalidArgument, "com.microsoft:argument-out-of-range": .invalidArgument,
    ]

    /// Classifies an AMQP error per DESIGN §6, keeping the peer's condition and description.
    public init(_ error: AMQPError, context: String) {
        let recovery = error.recoveryAction
        if let remote = error.remote {
            let code = Self.codesByCondition[remote.condition.rawValue]
                ?? (recovery == .rebuildConnection ? .connectionLost : recovery == .rebuildLink ? .linkLost : .serviceError)
            self.init(code, "\(context): \(error.message)", condition: remote.condition.rawValue,
                      conditionDescription: remote.errorDescription, recovery: recovery)
            return
        }
        let tlsFailures = ["untrustedIssuer", "hostNameMismatch", "certificateExpired", "certificateNotYetValid",
                           "certificateInvalid"]
        if error.code == .transport, tlsFailures.contains(where: { error.message.contains($0) }) {
            self.init(.certificateRejected, "\(context): \(error.message)", recovery: .fail)
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
        case .transport, .connectionClosed, .sessionEnded, .decoding, .framing, .protocolViolation: code = .connectionLost
        case .requestFailed: code = .serviceError
        }
        self.init(code, "\(context): \(error.message)", recovery: recovery)
    }

    /// A rejected delivery: the service's condition decides.
    public init(rejected remote: AMQPRemoteError?, context: String) {
        guard let remote else {
            self.init(.serviceError, "\(context): the service rejected the message without a reason")
            return
        }
        self.init(AMQPError(.requestFailed, "the service rejected the message", remote: remote), context: context)
    }

    /// Wraps any error the lower layers deliver.
    public static func wrap(_ error: any Error, context: String) -> AzureMessagingError {
        switch error {
        case let error as AzureMessagingError: return error
        case let error as AMQPError: return AzureMessagingError(error, context: context)
        case let error as AuthError:
            let code: Code = error.code == .timedOut ? .timedOut : error.code == .cancelled ? .cancelled : .unauthorized
            return AzureMessagingError(code, "\(context): \(error)", recovery: code == .timedOut ? .retry : .fail)
        case let error as CoreError:
            switch error.code {
            case .blockingCallOnLibraryQueue: return AzureMessagingError(.blockingCallOnLibraryQueue, error.message)
            case .cancelled: return AzureMessagingError(.cancelled, "\(context): cancelled")
            case .timedOut: return AzureMessagingError(.timedOut, "\(context): \(error.message)", recovery: .retry)
            }
        case let error as ConnectionPoolError:
            switch error.code {
            case .connectionFailed:
                if let cause = error.cause { return wrap(cause, context: context) }
                return AzureMessagingError(.connectionLost, "\(context): \(error)", recovery: .rebuildConnection)
            case .timedOut, .exhausted:
                return AzureMessagingError(.timedOut, "\(context): \(error)", recovery: .retry)
            case .poolClosed: return AzureMessagingError(.clientClosed, "\(context): the client is closed")
            case .cancelled: return AzureMessagingError(.cancelled, "\(context): cancelled")
            default: return AzureMessagingError(.invalidArgument, "\(context): \(error)")
            }
        default:
            return AzureMessagingError(.serviceError, "\(context): \(error)")
        }
    }
}
