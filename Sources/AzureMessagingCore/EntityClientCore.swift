import Dispatch
import Logging
import ToolboxCore

/// The one implementation behind a service's basic (one connection) and managed (pool) sending clients: the
/// entity, the settings, the connection provider and the operation plumbing both share. Each service adds its
/// operations in a constrained extension (`EventHubProducerCore`, `ServiceBusSenderCore`).
///
/// Completion handlers run on `queue`, exactly once, never under a library lock.
package final class EntityClientCore<Service: EntityService>: Sendable {
    package typealias Connection = EntityConnection<Service>
    package typealias Options = MessagingClientOptions<Service.Readiness>
    /// The hub, queue or topic the client sends to.
    package let entityPath: String
    package let options: Options
    package let provider: ConnectionProvider<EntityConnectionFactory<Service>>

    private init(entityPath: String, options: Options, provider: ConnectionProvider<EntityConnectionFactory<Service>>) {
        self.entityPath = entityPath
        self.options = options
        self.provider = provider
    }

    /// A basic client's core: one connection, opened on first use and proved ready by its sender attach alone.
    package convenience init(single endpoint: MessagingEndpoint, entityPath: String, options: Options) {
        let factory = EntityConnectionFactory<Service>(endpoint: options.applied(to: endpoint), entityPath: entityPath,
                                                          readiness: .attach, logger: options.logger, clock: options.clock)
        self.init(entityPath: entityPath, options: options,
                  provider: ConnectionProvider(single: factory, health: HealthTracker(metricsLabel: options.pool.metricsLabel),
                                               clock: options.clock))
    }

    /// A managed client's core: a pool per `options.pool` of connections proved ready per `options.readiness`.
    /// - Throws: `.invalidArgument` for an invalid pool configuration.
    package convenience init(pooled endpoint: MessagingEndpoint, entityPath: String, options: Options) throws(AzureMessagingError) {
        let factory = EntityConnectionFactory<Service>(endpoint: options.applied(to: endpoint), entityPath: entityPath,
                                                          readiness: options.readiness, logger: options.logger,
                                                          clock: options.clock)
        self.init(entityPath: entityPath, options: options,
                  provider: try ConnectionProvider(pooled: factory, configuration: options.pool, logger: options.logger,
                                                   health: HealthTracker(metricsLabel: options.pool.metricsLabel),
                                                   clock: options.clock))
    }

    /// Runs one operation with the client's retry and logging settings (`ConnectionProvider.perform`).
    package func perform<T: Sendable>(
        _ context: String, queue: DispatchQueue,
        _ body: @escaping @Sendable (Connection, TryScope, @escaping @Sendable (Result<T, AzureMessagingError>) -> Void)
            -> Void,
        completion: @escaping @Sendable (Result<T, AzureMessagingError>) -> Void
    ) -> any Cancellable {
        provider.perform(context, retry: options.retry, logger: options.logger, queue: queue, body: body,
                         completion: completion)
    }

    /// Fails an operation whose arguments are wrong before it touches a connection; `completion` runs on `queue`.
    package func refuse<T: Sendable>(_ error: AzureMessagingError, queue: DispatchQueue,
                                     completion: @escaping @Sendable (Result<T, AzureMessagingError>) -> Void)
        -> any Cancellable
    {
        queue.async { completion(.failure(error)) }
        return CompletedOperation()
    }

    /// Sends a batch made with `createBatch`: refuses an empty one, else `send` transfers its encoded `payload`.
    package func send(batchOf count: Int, payload: @autoclosure () -> [UInt8], queue: DispatchQueue,
                      _ send: @escaping @Sendable (Connection, [UInt8], TryScope,
                                                   @escaping @Sendable (Result<Void, AzureMessagingError>) -> Void) -> Void,
                      completion: @escaping @Sendable (Result<Void, AzureMessagingError>) -> Void) -> any Cancellable {
        guard count > 0 else {
            return refuse(AzureMessagingError(.invalidArgument, "the batch is empty"), queue: queue, completion: completion)
        }
        let payload = payload()
        return perform("send of a batch of \(count) to \(entityPath)", queue: queue, { connection, scope, done in
            send(connection, payload, scope, done)
        }, completion: completion)
    }

    /// Opens `count` ready connections ahead of need (the one connection of a basic client).
    package func warmUp(connections count: Int, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<Int, AzureMessagingError>) -> Void) {
        provider.warmUp(count: count, queue: queue, completion: completion)
    }

    /// Closes the connection(s); operations after this fail with `.clientClosed`.
    package func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        provider.close(queue: queue, completion: completion)
    }

    /// Connection counts, in-use leases, last error and reconnects.
    package var health: ClientHealth { provider.currentHealth }
}
