import AzureAuth
import Dispatch
import ToolboxCore

/// The pooled Service Bus sender (defaults clientLimit 100, maxSize 10, maxIdle 200 s); each new connection
/// is proved ready (CBS, sender attach, a `$management` peek) before use.
///
/// ```swift
/// let sender = try ManagedServiceBusSender(connectionString: cs, queueName: "q1")
/// try sender.send(ServiceBusMessage(body: "hello"))
/// print(sender.health)
/// ```
public final class ManagedServiceBusSender: ServiceBusSenderCoreBacked, Sendable {
    let core: ServiceBusSenderCore

    /// The settings this sender was made with.
    public var options: ServiceBusClientOptions { core.options }

    /// Connection counts, in-use leases, last error and reconnects.
    public var health: ClientHealth { core.health }

    public convenience init(connectionString: String, queueName: String? = nil,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        let (endpoint, entityPath) = try ServiceBusClientOptions.endpoint(connectionString: connectionString, options: options)
        try self.init(endpoint: endpoint, entityPath: try ServiceBusClientOptions.queueName(queueName, entityPath),
                      options: options)
    }

    /// A pooled sender to a topic (every subscription gets a copy). A topic's `$management` node has no peek, so
    /// readiness is proved by the CBS token and the sender attach.
    public convenience init(connectionString: String, topicName: String,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        var options = options
        if options.readiness == .managementPeek { options.readiness = .attach }
        try self.init(connectionString: connectionString, queueName: topicName, options: options)
    }

    public convenience init(fullyQualifiedNamespace: String, queueName: String, credential: any TokenCredential,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        try self.init(endpoint: MessagingEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential,
                                                  scope: AzureScope.serviceBus, caFile: options.caFile,
                                                  allowPlainTextForDevelopment: options.allowPlainTextForDevelopment),
                      entityPath: queueName, options: options)
    }

    public init(endpoint: MessagingEndpoint, entityPath: String,
                options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        let factory = ServiceBusConnectionFactory(endpoint: endpoint, queueName: entityPath, readiness: options.readiness,
                                                  logger: options.logger, clock: options.clock)
        core = ServiceBusSenderCore(
            provider: try ConnectionProvider(pooled: factory, configuration: options.pool, logger: options.logger,
                                             health: HealthTracker(metricsLabel: options.pool.metricsLabel), clock: options.clock),
            entityPath: entityPath, options: options)
    }

    /// The old name of `init(endpoint:entityPath:options:)`: the path may name a queue or a topic.
    @available(*, deprecated, renamed: "init(endpoint:entityPath:options:)")
    public convenience init(endpoint: MessagingEndpoint, queueName: String,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        try self.init(endpoint: endpoint, entityPath: queueName, options: options)
    }

    /// Opens `connections` ready connections ahead of need.
    public func warmUp(connections: Int, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: @escaping @Sendable (Result<Int, ServiceBusError>) -> Void) {
        core.provider.warmUp(count: connections, queue: queue, completion: completion)
    }

    /// Blocking form of `warmUp(connections:queue:completion:)`.
    @discardableResult
    public func warmUp(connections: Int) throws(ServiceBusError) -> Int {
        try blockingWait { queue, done in warmUp(connections: connections, queue: queue, completion: done) }
    }
}
