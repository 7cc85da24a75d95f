import ToolboxCore

/// Why a pool could not hand out a lease: a `ToolboxError` with one of the codes below (or `.timedOut`,
/// `.cancelled`, `.invalidConfiguration`). The old name stays for code written against it.
///
/// ```swift
/// pool.acquire { result in
///     if case .failure(let error) = result, error.code == .timedOut { ... }
/// }
/// ```
public typealias ConnectionPoolError = ToolboxError

extension ToolboxError.Code {
    /// Every connection is at `clientLimit`, none may be opened, and the waiting queue is full.
    public static let exhausted = Self("exhausted", defaultRecovery: .retry)
    /// Creating a connection or proving it ready failed; `underlying` holds the connector's error.
    public static let connectionFailed = Self("connectionFailed")
    /// `closeAll()` was called; the pool hands out nothing more.
    public static let poolClosed = Self("poolClosed")
}

extension ToolboxError {
    /// A pool error whose cause is the connector's error (the old `ConnectionPoolError` initialiser).
    public init(_ code: Code, _ message: String, cause: (any Error)?) {
        self.init(code, message, underlying: cause)
    }

    /// The connector's error behind `.connectionFailed`: the old name of `underlying`.
    public var cause: (any Error)? { underlying }
}
