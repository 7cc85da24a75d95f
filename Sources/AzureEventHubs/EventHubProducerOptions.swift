import AzureMessagingCore
import ConnectionPooling

/// Settings shared by `EventHubProducer` and `ManagedEventHubProducer` (`MessagingClientOptions`, the same
/// settings as Service Bus's): a `$management` READ proves a managed producer's new connection ready, and its
/// pool defaults to clientLimit 100, maxSize 10, maxIdle 220 s.
public typealias EventHubProducerOptions = MessagingClientOptions<EventHubReadiness>

/// How a new pooled connection proves it is ready before any caller uses it.
public enum EventHubReadiness: MessagingReadiness {
    /// CBS token and sender attach only.
    case attach
    /// CBS + attach + a `$management` READ of the hub (the default): a real round trip, no event written.
    case managementRead
    /// CBS + attach + a real event sent, as the Python toolbox does ("Connection established").
    case readyMessage(EventData)

    /// `.managementRead`.
    public static var defaultReadiness: EventHubReadiness { .managementRead }

    /// clientLimit 100, maxSize 10, maxIdle 220 s, metrics label `azure_eventhubs_producer`.
    public static var defaultPool: ConnectionPoolConfiguration { .messagingClient(maxIdle: .seconds(220), metricsLabel: "azure_eventhubs_producer") }

    /// `AzureEventHubs`.
    public static var loggerLabel: String { "AzureEventHubs" }
}
