import AzureAuth

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
public final class EventHubProducer: EventHubProducerCoreBacked, Sendable {
    let core: EventHubProducerCore

    /// The settings this producer was made with.
    public var options: EventHubProducerOptions { core.options }

    /// Connection counts, in-use leases, last error and reconnects.
    public var health: ClientHealth { core.health }

    /// A producer authenticated by the connection string's key or signature.
    ///
    /// - Parameters:
    ///   - connectionString: `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…` (or a signature).
    ///   - eventHubName: the hub; nil takes the connection string's `EntityPath`.
    ///   - options: retries, TLS trust, logging.
    /// - Throws: `.invalidArgument` for a malformed connection string or no hub name.
    public convenience init(connectionString: String, eventHubName: String? = nil,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        let (endpoint, parsed) = try EventHubProducerCore.endpoint(connectionString: connectionString, options: options)
        self.init(endpoint: endpoint, eventHubName: try EventHubProducerCore.hubName(eventHubName, parsed), options: options)
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
                                                logger: options.logger, clock: options.clock)
        let health = HealthTracker(metricsLabel: options.pool.metricsLabel)
        core = EventHubProducerCore(provider: ConnectionProvider(single: factory, health: health, clock: options.clock), eventHubName: eventHubName,
                                    options: options)
    }
}
