import AzureAuth
import AzureMessagingCore

/// The basic Service Bus sender: one connection, opened on first use, shared by every call, replaced once
/// for everybody when it fails.
///
/// ```swift
/// let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
/// try sender.send(ServiceBusMessage(body: "hello"))
/// let sequenceNumbers = try sender.send([ServiceBusMessage(body: "later")], delay: .seconds(30))
/// ```
///
/// Its settings and connection health are `options` and `health` (`MessagingClient`).
public final class ServiceBusSender: ServiceBusSenderCoreBacked, Sendable {
    package let core: ServiceBusSenderCore

    public convenience init(connectionString: String, queueName: String? = nil,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        let target = try options.serviceBusEndpoint(connectionString: connectionString, queueName: queueName)
        self.init(endpoint: target.endpoint, entityPath: target.entityPath, options: options)
    }

    /// A sender to a topic (every subscription gets a copy); the wire protocol is the queue's.
    public convenience init(connectionString: String, topicName: String,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        try self.init(connectionString: connectionString, queueName: topicName, options: options)
    }

    /// A sender authenticated by an Entra ID credential (`https://servicebus.azure.net//.default`).
    public convenience init(fullyQualifiedNamespace: String, queueName: String, credential: any TokenCredential,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        self.init(endpoint: options.serviceBusEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential),
                  entityPath: queueName, options: options)
    }

    public init(endpoint: MessagingEndpoint, entityPath: String, options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        core = ServiceBusSenderCore(single: endpoint, entityPath: entityPath, options: options)
    }

    /// The old name of `init(endpoint:entityPath:options:)`: the path may name a queue or a topic.
    @available(*, deprecated, renamed: "init(endpoint:entityPath:options:)")
    public convenience init(endpoint: MessagingEndpoint, queueName: String,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        self.init(endpoint: endpoint, entityPath: queueName, options: options)
    }
}
