import AzureAuth
import AzureMessagingCore
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
/// `options.retry`. Settings, health and warm-up come with `ManagedMessagingClient`.
public final class ManagedEventHubProducer: EventHubProducerCoreBacked, ManagedMessagingClient, Sendable {
    package let core: EventHubProducerCore

    public convenience init(connectionString: String, eventHubName: String? = nil,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        let target = try EventHubProducerCore.endpoint(connectionString: connectionString, eventHubName: eventHubName,
                                                       options: options)
        try self.init(endpoint: target.endpoint, eventHubName: target.entityPath, options: options)
    }

    public convenience init(fullyQualifiedNamespace: String, eventHubName: String, credential: any TokenCredential,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        try self.init(endpoint: EventHubProducerCore.endpoint(fullyQualifiedNamespace: fullyQualifiedNamespace,
                                                              credential: credential, options: options),
                      eventHubName: eventHubName, options: options)
    }

    public init(endpoint: MessagingEndpoint, eventHubName: String,
                options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        core = try EventHubProducerCore(pooled: endpoint, entityPath: eventHubName, options: options)
    }
}
