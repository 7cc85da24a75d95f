import AzureAuth
import AzureMessagingCore
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
///
/// Settings, health and warm-up come with `ManagedMessagingClient`.
public final class ManagedServiceBusSender: ServiceBusSenderCoreBacked, ManagedMessagingClient, Sendable {
    package let core: ServiceBusSenderCore

    public convenience init(connectionString: String, queueName: String? = nil,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        let target = try options.serviceBusEndpoint(connectionString: connectionString, queueName: queueName)
        try self.init(endpoint: target.endpoint, entityPath: target.entityPath, options: options)
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
        try self.init(endpoint: options.serviceBusEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential),
                      entityPath: queueName, options: options)
    }

    public init(endpoint: MessagingEndpoint, entityPath: String,
                options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        core = try ServiceBusSenderCore(pooled: endpoint, entityPath: entityPath, options: options)
    }

    /// The old name of `init(endpoint:entityPath:options:)`: the path may name a queue or a topic.
    @available(*, deprecated, renamed: "init(endpoint:entityPath:options:)")
    public convenience init(endpoint: MessagingEndpoint, queueName: String,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        try self.init(endpoint: endpoint, entityPath: queueName, options: options)
    }
}
