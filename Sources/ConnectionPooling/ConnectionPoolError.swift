import ToolboxCore

/// Why a pool could not hand out a lease. Match on `code`; read `description` for what to change.
///
/// ```swift
/// pool.acquire { result in
///     if case .failure(let error) = result, error.code == .timedOut { ... }
/// }
/// ```
public struct ConnectionPoolError: ToolboxError, Equatable {
    public enum Code: String, Sendable, Equatable {
        /// Every connection is at `clientLimit`, none may be opened, and the waiting queue is full.
        case exhausted
        /// No lease became free before the acquire timeout.
        case timedOut
        /// Creating a connection or proving it ready failed; `cause` holds the connector's error.
        case connectionFailed
        /// `closeAll()` was called; the pool hands out nothing more.
        case poolClosed
        /// The caller cancelled the acquire.
        case cancelled
        /// A `ConnectionPoolConfiguration` setting is out of range.
        case invalidConfiguration
    }

    public let code: Code
    public let message: String
    /// The connector's error behind `.connectionFailed`.
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "ConnectionPoolError.\(code.rawValue): \(message) (cause: \(cause))" }
        return "ConnectionPoolError.\(code.rawValue): \(message)"
    }

    /// Equal when the codes are equal: messages carry numbers that vary from run to run.
    public static func == (lhs: ConnectionPoolError, rhs: ConnectionPoolError) -> Bool { lhs.code == rhs.code }
}
