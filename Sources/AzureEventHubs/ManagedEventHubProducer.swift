import AzureAuth
import Dispatch
import ToolboxCore

/// The pooled Event Hubs producer: a `ConnectionPool` of ready connections, each shared by up to
/// `clientLimit` concurrent sends (defaults: clientLimit 100, maxSize 10, maxIdle 220 s).
///
/// ```swift
/// let producer = try ManagedEventHubProducer(connectionString: cs, eventHubName: "eh1")
/// try producer.warmUp(connections: 2)           // optional: pay the connection cost up front
/// try producer.send(EventData(body: "hello"))
/// print(producer.health)                         // ready/opening connections, in-use leases, last error, reconnects
/// ```
///
/// A new connection is proved ready before use with CBS, the sender attach and a `$management` READ (or,
/// with `options.readiness = .readyMessage(event)`, a real event as the Python toolbox does). A connection
/// that fails in use is retired and replaced once for all its users; transient failures are retried per
/// `options.retry`.
public final class ManagedEventHubProducer: EventHubProducerCoreBacked, Sendable {
    let core: EventHubProducerCore

    /// The settings this producer was made with.
    public var options: EventHubProducerOptions { core.options }

    /// Connection counts, in-use leases, last error and reconnects.
    public var health: ClientHealth { core.health }

    public convenience init(connectionString: String, eventHubName: String? = nil,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        let (endpoint, parsed) = try EventHubProducerCore.endpoint(connectionString: connectionString, options: options)
        try self.init(endpoint: endpoint, eventHubName: try EventHubProducerCore.hubName(eventHubName, parsed), options: options)
    }

    public convenience init(fullyQualifiedNamespace: String, eventHubName: String, credential: any TokenCredential,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        try self.init(endpoint: MessagingEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential,
                                                  scope: AzureScope.eventHubs, caFile: options.caFile,
                                                  allowPlainTextForDevelopment: options.allowPlainTextForDevelopment),
                      eventHubName: eventHubName, options: options)
    }

    public init(endpoint: MessagingEndpoint, eventHubName: String,
                options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        let factory = EventHubConnectionFactory(endpoint: endpoint, eventHubName: eventHubName,
                                                readiness: options.readiness, logger: options.logger, clock: options.clock)
        core = EventHubProducerCore(
            provider: try ConnectionProvider(pooled: factory, configuration: options.pool, logger: options.logger,
                                             health: HealthTracker(metricsLabel: options.pool.metricsLabel), clock: options.clock),
            eventHubName: eventHubName, options: options)
    }

    /// Opens `connections` ready connections ahead of need; completes with how many are ready.
    public func warmUp(connections: Int, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: @escaping @Sendable (Result<Int, EventHubsError>) -> Void) {
        core.provider.warmUp(count: connections, queue: queue, completion: completion)
    }

    /// Blocking form of `warmUp(connections:queue:completion:)`.
    @discardableResult
    public func warmUp(connections: Int) throws(EventHubsError) -> Int {
        try blockingWait { queue, done in warmUp(connections: connections, queue: queue, completion: done) }
    }
}
