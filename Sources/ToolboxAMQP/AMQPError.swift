import ToolboxCore

/// An error condition as carried on the wire by `close`, `end`, `detach` and the `rejected` outcome.
///
/// `condition` is the symbol the peer sent (`amqp:unauthorized-access`, `com.microsoft:server-busy`),
/// kept exactly as received so callers can classify it.
public struct AMQPRemoteError: Hashable, Sendable, CustomStringConvertible {
    public var condition: AMQPSymbol
    /// The peer's human-readable description of the condition.
    public var errorDescription: String?
    public var info: AMQPMap?

    public init(condition: AMQPSymbol, description: String? = nil, info: AMQPMap? = nil) {
        self.condition = condition
        self.errorDescription = description
        self.info = info
    }

    /// Human-readable form: the condition, then the peer's description — any token it echoed blanked out, cut to
    /// 1,024 characters (a peer may send megabytes; `errorDescription` keeps them all).
    public var description: String {
        if let errorDescription { return "\(condition.rawValue): \(Redaction.peerText(errorDescription))" }
        return condition.rawValue
    }

    // Standard conditions (AMQP 1.0 part 2, section 2.8.15 to 2.8.18).
    public static let internalError: AMQPSymbol = "amqp:internal-error"
    public static let notFound: AMQPSymbol = "amqp:not-found"
    public static let unauthorizedAccess: AMQPSymbol = "amqp:unauthorized-access"
    public static let decodeError: AMQPSymbol = "amqp:decode-error"
    public static let resourceLimitExceeded: AMQPSymbol = "amqp:resource-limit-exceeded"
    public static let notAllowed: AMQPSymbol = "amqp:not-allowed"
    public static let invalidField: AMQPSymbol = "amqp:invalid-field"
    public static let notImplemented: AMQPSymbol = "amqp:not-implemented"
    public static let resourceLocked: AMQPSymbol = "amqp:resource-locked"
    public static let preconditionFailed: AMQPSymbol = "amqp:precondition-failed"
    public static let resourceDeleted: AMQPSymbol = "amqp:resource-deleted"
    public static let illegalState: AMQPSymbol = "amqp:illegal-state"
    public static let frameSizeTooSmall: AMQPSymbol = "amqp:frame-size-too-small"
    public static let connectionForced: AMQPSymbol = "amqp:connection:forced"
    public static let framingError: AMQPSymbol = "amqp:connection:framing-error"
    public static let connectionRedirect: AMQPSymbol = "amqp:connection:redirect"
    public static let windowViolation: AMQPSymbol = "amqp:session:window-violation"
    public static let errantLink: AMQPSymbol = "amqp:session:errant-link"
    public static let handleInUse: AMQPSymbol = "amqp:session:handle-in-use"
    public static let unattachedHandle: AMQPSymbol = "amqp:session:unattached-handle"
    public static let detachForced: AMQPSymbol = "amqp:link:detach-forced"
    public static let transferLimitExceeded: AMQPSymbol = "amqp:link:transfer-limit-exceeded"
    public static let messageSizeExceeded: AMQPSymbol = "amqp:link:message-size-exceeded"
    public static let linkRedirect: AMQPSymbol = "amqp:link:redirect"
    public static let stolen: AMQPSymbol = "amqp:link:stolen"
}

/// ToolboxAMQP raises `ToolboxError`s with the codes below and, when the peer sent one, its condition in
/// `serviceCondition`; the old name stays for code written against it.
///
/// ```swift
/// catch let error as ToolboxError where error.code == .linkDetached {
///     print(error.remote?.condition ?? "no condition")
/// }
/// ```
public typealias AMQPError = ToolboxError

extension ToolboxError.Code {
    /// Bytes that are not valid AMQP (type codec).
    public static let decoding = Self("decoding", defaultRecovery: .rebuildConnection)
    /// A value that cannot be encoded (for example a mixed array).
    public static let encoding = Self("encoding")
    /// A frame or protocol header the peer sent violates the specification.
    public static let framing = Self("framing", defaultRecovery: .rebuildConnection)
    /// A size, count or depth the peer declared exceeds our limits.
    public static let limitExceeded = Self("limitExceeded")
    /// The peer broke the protocol (unexpected performative, unknown handle...).
    public static let protocolViolation = Self("protocolViolation", defaultRecovery: .rebuildConnection)
    /// SASL negotiation failed (no common mechanism, or the outcome was not ok).
    public static let authentication = Self("authentication")
    /// The session was ended.
    public static let sessionEnded = Self("sessionEnded", defaultRecovery: .rebuildConnection)
    /// The link was detached.
    public static let linkDetached = Self("linkDetached", defaultRecovery: .rebuildLink)
    /// The transport (socket or TLS) failed; `underlying` holds the transport's error.
    public static let transport = Self("transport", defaultRecovery: .rebuildConnection)
    /// A request/response operation (CBS, management) got a non-success status.
    public static let requestFailed = Self("requestFailed")
}

extension ToolboxError {
    /// An AMQP error carrying the condition the peer sent (nil: raised locally); the recovery follows the
    /// condition table in `AMQPRecovery.swift`.
    public init(_ code: Code, _ message: String, remote: AMQPRemoteError?, underlying: (any Error)? = nil) {
        self.init(code, message, serviceCondition: remote.map {
            // The peer's words as an error may show them: echoed tokens blanked, cut to 1,024 bytes.
            ServiceCondition(amqpCondition: $0.condition.rawValue, serviceMessage: $0.errorDescription.map { Redaction.peerText($0) })
        }, underlying: underlying)
        if let remote {
            recovery = Self.isIdleTimeoutClose(code, remote.condition)
                ? .rebuildConnection : Self.recovery(forCondition: remote.condition)
        }
    }

    /// The AMQP condition the peer sent, if this error came from the peer (its `info` map is not kept).
    public var remote: AMQPRemoteError? {
        guard let condition = serviceCondition?.amqpCondition else { return nil }
        return AMQPRemoteError(condition: AMQPSymbol(condition), description: serviceCondition?.serviceMessage)
    }
}
