import AzureAuth
import AzureMessagingCore

/// The basic Service Bus sender: one connection, opened on first use, shared by every call, replaced once
/// for everybody when it fails.
///
/// ```swift
/// let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
/// try sender.send(ServiceBusMessage(body: "hello"))
/// let sequenceNumbers = try sender.send([ServiceBusMessage(body: "later")], delay: 30)
/// ```
public final class ServiceBusSender: ServiceBusSenderClient, @unchecked Sendable {
    // @unchecked Sendable: no stored properties of its own (see ServiceBusSenderClient).

    public convenience init(connectionString: String, queueName: String? = nil,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        let (endpoint, entityPath) = try ServiceBusClientOptions.endpoint(connectionString: connectionString, options: options)
        self.init(endpoint: endpoint, queueName: try ServiceBusClientOptions.queueName(queueName, entityPath), options: options)
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
                  queueName: queueName, options: options)
    }

    public init(endpoint: MessagingEndpoint, queueName: String, options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        let factory = ServiceBusConnectionFactory(endpoint: endpoint, queueName: queueName, readiness: .attach,
                                                  logger: options.logger)
        let health = HealthTracker(metricsLabel: options.pool.metricsLabel)
        super.init(provider: ConnectionProvider(single: factory, health: health), queueName: queueName, options: options)
    }
}
