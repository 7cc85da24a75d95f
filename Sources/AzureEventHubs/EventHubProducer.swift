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
/// `options.allowPlainTextForDevelopment` is set). Its settings and connection health are `options` and `health`
/// (`MessagingClient`).
public final class EventHubProducer: EventHubProducerCoreBacked, Sendable {
    package let core: EventHubProducerCore

    /// A producer authenticated by the connection string's key or signature.
    ///
    /// - Parameters:
    ///   - connectionString: `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…` (or a signature).
    ///   - eventHubName: the hub; nil takes the connection string's `EntityPath`.
    ///   - options: retries, TLS trust, logging.
    /// - Throws: `.invalidArgument` for a malformed connection string or no hub name.
    public convenience init(connectionString: String, eventHubName: String? = nil,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        let target = try EventHubProducerCore.endpoint(connectionString: connectionString, eventHubName: eventHubName,
                                                       options: options)
        self.init(endpoint: target.endpoint, eventHubName: target.entityPath, options: options)
    }

    /// A producer authenticated by an Entra ID credential (CBS `jwt` tokens for `https://eventhubs.azure.net//.default`).
    public convenience init(fullyQualifiedNamespace: String, eventHubName: String, credential: any TokenCredential,
                            options: EventHubProducerOptions = EventHubProducerOptions()) {
        self.init(endpoint: EventHubProducerCore.endpoint(fullyQualifiedNamespace: fullyQualifiedNamespace,
                                                          credential: credential, options: options),
                  eventHubName: eventHubName, options: options)
    }

    /// A producer for an explicit endpoint.
    public init(endpoint: MessagingEndpoint, eventHubName: String, options: EventHubProducerOptions = EventHubProducerOptions()) {
        core = EventHubProducerCore(single: endpoint, entityPath: eventHubName, options: options)
    }
}
