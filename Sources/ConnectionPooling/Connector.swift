import ToolboxCore

/// Creates, proves and closes the connections a `ConnectionPool` shares: implement it to pool your own.
///
/// ```swift
/// struct SocketConnector: Connector {
///     func create(deadline: Deadline, completion: @escaping @Sendable (Result<MySocket, any Error>) -> Void) {
///         MySocket.connect(to: endpoint, deadline: deadline, completion: completion)
///     }
///     func ready(_ socket: MySocket, deadline: Deadline,
///                completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
///         socket.ping(deadline: deadline, completion: completion)   // one real round trip
///     }
///     func close(_ socket: MySocket, completion: @escaping @Sendable () -> Void) {
///         socket.close(completion: completion)
///     }
/// }
/// ```
///
/// The pool calls `create` and then `ready` exactly once per connection, and `close` exactly once for every
/// connection `create` delivered (including one whose readiness check failed, and one that arrives after the
/// pool gave up on it). Each method must call its completion exactly once, from any thread; the pool never
/// calls a connector method while holding its lock. Errors delivered by `create` and `ready` reach every caller
/// waiting on that connection as `ConnectionPoolError.Code.connectionFailed` with the error as its cause.
public protocol Connector: Sendable {
    /// What the pool hands out. Usually a reference type that owns a socket.
    associatedtype Connection: Sendable

    /// Opens a new connection; honour `deadline` (the pool's `getTimeout`).
    func create(deadline: Deadline, completion: @escaping @Sendable (Result<Connection, any Error>) -> Void)

    /// Proves a freshly created connection works with a first real round trip (a ready message, a read).
    func ready(
        _ connection: Connection, deadline: Deadline,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void)

    /// Closes a connection the pool no longer wants. It is never leased again after this call.
    func close(_ connection: Connection, completion: @escaping @Sendable () -> Void)

    /// The pool is closing: end the creations still running now, each through its completion (an error), instead
    /// of at its deadline. `closeAll` waits for them; without this it waited up to `getTimeout` for a peer that
    /// never answers. The default does nothing (creations end at their deadline).
    func cancelCreations()
}

extension Connector {
    public func cancelCreations() {}
}
