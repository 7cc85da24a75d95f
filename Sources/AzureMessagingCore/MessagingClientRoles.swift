import Dispatch
import ToolboxCore

/// What every messaging client role ends with: closing, in its completion, default-queue and blocking forms
/// (the `async` form comes from `AzureClientsToolboxAsync`). `EventHubProducing`, `EventHubPartitionReceiving`,
/// `ServiceBusSending` and `ServiceBusReceiving` refine it.
public protocol MessagingClosing: AnyObject, Sendable {
    /// Closes the client's connections; receives waiting complete with what is buffered, calls after this fail
    /// with `.clientClosed`. Idempotent; `completion` runs once everything is closed.
    ///
    /// - Parameters:
    ///   - queue: where `completion` runs.
    ///   - completion: runs once everything is closed.
    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void)
}

extension MessagingClosing {
    /// Closes the client's connections, then calls `completion` on the default callback queue.
    ///
    /// - Parameter completion: runs once everything is closed.
    public func close(completion: @escaping @Sendable () -> Void) {
        close(queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Blocking form of `close(queue:completion:)`: returns once everything is closed.
    /// - Throws: only `.blockingCallOnLibraryQueue`.
    public func close() throws(ToolboxError) {
        let _: Void = try blockingWait { queue, done in close(queue: queue) { done(.success(())) } }
    }
}

/// A messaging client that owns its connections (`EventHubProducer`, `ServiceBusSender` and their managed forms):
/// the settings it was made with and the health of its connections.
public protocol MessagingClient: MessagingClosing {
    /// How the client's service proves new connections ready; it picks the options' defaults.
    associatedtype Readiness: MessagingReadiness
    /// The settings this client was made with.
    var options: MessagingClientOptions<Readiness> { get }
    /// Connection counts, in-use leases, last error and reconnects.
    var health: ClientHealth { get }
}

/// A managed messaging client: a pool of ready connections it can fill ahead of need.
public protocol ManagedMessagingClient: MessagingClient {
    /// Opens `connections` ready connections ahead of need; completes with how many are ready.
    ///
    /// - Parameters:
    ///   - connections: how many to have ready (at most the pool's `maxSize`).
    ///   - queue: where `completion` runs.
    ///   - completion: called once with the number ready, or the failure to open them.
    func warmUp(connections: Int, queue: DispatchQueue,
                completion: @escaping @Sendable (Result<Int, AzureMessagingError>) -> Void)
}

extension ManagedMessagingClient {
    /// `warmUp(connections:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - connections: how many to have ready.
    ///   - completion: called once with the number ready or the failure.
    public func warmUp(connections: Int, completion: @escaping @Sendable (Result<Int, AzureMessagingError>) -> Void) {
        warmUp(connections: connections, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Blocking form of `warmUp(connections:queue:completion:)`.
    ///
    /// - Parameter connections: how many to have ready.
    /// - Returns: how many are ready.
    @discardableResult
    public func warmUp(connections: Int) throws(AzureMessagingError) -> Int {
        try blockingWait { queue, done in warmUp(connections: connections, queue: queue, completion: done) }
    }
}

/// A client that is an `EntityClientCore` behind a public final type: the settings, health, close and warm-up
/// every such client forwards to its core.
package protocol EntityClientCoreBacked: MessagingClient where Readiness == Service.Readiness {
    associatedtype Service: EntityService
    var core: EntityClientCore<Service> { get }
}

extension EntityClientCoreBacked {
    public var options: MessagingClientOptions<Readiness> { core.options }

    public var health: ClientHealth { core.health }

    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        core.close(queue: queue, completion: completion)
    }

    /// The `ManagedMessagingClient` requirement; public only on the managed clients, which adopt that protocol.
    public func warmUp(connections: Int, queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<Int, AzureMessagingError>) -> Void) {
        core.warmUp(connections: connections, queue: queue, completion: completion)
    }
}
