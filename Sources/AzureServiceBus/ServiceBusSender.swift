import AzureAuth

/// The basic Service Bus sender: one connection, opened on first use, shared by every call, replaced once
/// for everybody when it fails.
///
/// ```swift
/// let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
/// try sender.send(ServiceBusMessage(body: "hello"))
/// let sequenceNumbers = try sender.send([ServiceBusMessage(body: "later")], delay: .seconds(30))
/// ```
public final class ServiceBusSender: ServiceBusSenderCoreBacked, Sendable {
    let core: ServiceBusSenderCore

    /// The settings this sender was made with.
    public var options: ServiceBusClientOptions { core.options }

    /// Connection counts, in-use leases, last error and reconnects.
    public var health: ClientHealth { core.health }

    public convenience init(connectionString: String, queueName: String? = nil,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        let (endpoint, entityPath) = try ServiceBusClientOptions.endpoint(connectionString: connectionString, options: options)
        self.init(endpoint: endpoint, entityPath: try ServiceBusClientOptions.queueName(queueName, entityPath), options: options)
    }

    /// A sender to a topic (every subscription gets a copy); the wire protocol is the queue's.
    public convenience init(connectionString: String, topicName: String,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        try self.init(connectionString: connectionString, queueName: topicName, options: options)
    }

    /// A sender authenticated by an Entra ID credential (`https://servicebus.azure.net//.default`).
    public convenience init(fullyQualifiedNamespace: String, queueName: String, credential: any TokenCredential,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        self.init(endpoint: MessagingEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential,
                                              scope: AzureScope.serviceBus, caFile: options.caFile,
                                              allowPlainTextForDevelopment: options.allowPlainTextForDevelopment),
                  entityPath: queueName, options: options)
    }

    public init(endpoint: MessagingEndpoint, entityPath: String, options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        let factory = ServiceBusConnectionFactory(endpoint: endpoint, queueName: entityPath, readiness: .attach,
                                                  logger: options.logger, clock: options.clock)
        let health = HealthTracker(metricsLabel: options.pool.metricsLabel)
        core = ServiceBusSenderCore(provider: ConnectionProvider(single: factory, health: health, clock: options.clock), entityPath: entityPath,
                                    options: options)
    }

    /// The old name of `init(endpoint:entityPath:options:)`: the path may name a queue or a topic.
    @available(*, deprecated, renamed: "init(endpoint:entityPath:options:)")
    public convenience init(endpoint: MessagingEndpoint, queueName: String,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        self.init(endpoint: endpoint, entityPath: queueName, options: options)
    }
}
