import AzureAuth
import AzureMessagingCore

/// The basic Event Hubs producer: one connection, opened on first use (TCP, TLS, SASL, CBS put-token for the
/// hub, sender link) and shared by every call; if it fails, the next call reconnects once for everybody.
///
/// ```swift
/// let producer = try EventHubProducer(connectionString: cs, eventHubName: "eh1")
/// try producer.send(EventData(body: "hello"))                                   // blocking
/// producer.send([a, b], options: SendEventOptions(partitionKey: "k")) { r in }  // completion handler
/// ```
///
/// TLS is used unless the connection string says `UseDevelopmentEmulator=true` (or
/// `options.allowPlainTextForDevelopment` is set).
public final class EventHubProducer: EventHubProducerClient, @unchecked Sendable {
    // @unchecked Sendable: no stored properties of its own (see EventHubProducerClient).

    /// A producer authenticated by the connection string's key or signature.
    public convenience init(connectionString: String, eventHubName: String? = nil,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        let (endpoint, parsed) = try Self.endpoint(connectionString: connectionString, options: options)
        self.init(endpoint: endpoint, eventHubName: try Self.hubName(eventHubName, parsed), options: options)
    }

    /// A producer authenticated by an Entra ID credential (CBS `jwt` tokens for `https://eventhubs.azure.net//.default`).
    public convenience init(fullyQualifiedNamespace: String, eventHubName: String, credential: any TokenCredential,
                            options: EventHubProducerOptions = EventHubProducerOptions()) {
        self.init(endpoint: MessagingEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential,
                                              scope: AzureScope.eventHubs, caFile: options.caFile,
                                              allowPlainTextForDevelopment: options.allowPlainTextForDevelopment),
                  eventHubName: eventHubName, options: options)
    }

    /// A producer for an explicit endpoint.
    public init(endpoint: MessagingEndpoint, eventHubName: String, options: EventHubProducerOptions = EventHubProducerOptions()) {
        let factory = EventHubConnectionFactory(endpoint: endpoint, eventHubName: eventHubName, readiness: .attach,
                                                logger: options.logger)
        let health = HealthTracker(metricsLabel: options.pool.metricsLabel)
        super.init(provider: ConnectionProvider(single: factory, health: health), eventHubName: eventHubName, options: options)
    }
}
