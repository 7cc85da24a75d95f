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

    /// Human-readable form: the condition, then the peer's description.
    public var description: String {
        if let errorDescription { return "\(condition.rawValue): \(errorDescription)" }
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

/// The error type of ToolboxAMQP: a code to match on, a message, and the peer's condition when it sent one.
///
/// ```swift
/// catch let error as AMQPError where error.code == .linkDetached {
///     print(error.remote?.condition ?? "no condition")
/// }
/// ```
public struct AMQPError: ToolboxError, Equatable {
    /// What went wrong, coarse enough to match on.
    public enum Code: String, Sendable, Equatable {
        /// Bytes that are not valid AMQP (type codec).
        case decoding
        /// A value that cannot be encoded (for example a mixed array).
        case encoding
        /// A frame or protocol header the peer sent violates the specification.
        case framing
        /// A size, count or depth the peer declared exceeds our limits.
        case limitExceeded
        /// The peer broke the protocol (unexpected performative, unknown handle...).
        case protocolViolation
        /// SASL negotiation failed (no common mechanism, or the outcome was not ok).
        case authentication
        /// The connection was closed (by the peer with `remote` set, or locally).
        case connectionClosed
        /// The session was ended.
        case sessionEnded
        /// The link was detached.
        case linkDetached
        /// The operation did not finish before its deadline.
        case timedOut
        /// The caller cancelled the operation.
        case cancelled
        /// The transport (socket or TLS) failed.
        case transport
        /// The caller passed an argument the operation cannot use.
        case invalidArgument
        /// A request/response operation (CBS, management) got a non-success status.
        case requestFailed
    }

    public let code: Code
    public let message: String
    /// The condition the peer sent, if this error came from the peer.
    public let remote: AMQPRemoteError?

    public init(_ code: Code, _ message: String, remote: AMQPRemoteError? = nil) {
        self.code = code
        self.message = message
        self.remote = remote
    }

    public var description: String {
        if let remote { return "\(code.rawValue): \(message) (\(remote))" }
        return "\(code.rawValue): \(message)"
    }

    public static func == (lhs: AMQPError, rhs: AMQPError) -> Bool {
        lhs.code == rhs.code && lhs.remote == rhs.remote
    }
}
