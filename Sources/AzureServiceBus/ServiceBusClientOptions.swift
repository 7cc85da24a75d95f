import AzureAuth
import AzureMessagingCore
import ConnectionPooling

/// Settings shared by the Service Bus senders and receiver (`MessagingClientOptions`, the same settings as Event
/// Hubs'): a `$management` peek proves a managed sender's new connection ready, and its pool defaults to
/// clientLimit 100, maxSize 10, maxIdle 200 s.
public typealias ServiceBusClientOptions = MessagingClientOptions<ServiceBusReadiness>

/// How a new pooled Service Bus connection proves it is ready.
public enum ServiceBusReadiness: MessagingReadiness {
    /// CBS token and sender attach only.
    case attach
    /// CBS + attach + a `$management` peek of one message (a round trip that changes nothing; the default).
    case managementPeek

    /// `.managementPeek`.
    public static var defaultReadiness: ServiceBusReadiness { .managementPeek }

    /// clientLimit 100, maxSize 10, maxIdle 200 s, metrics label `azure_servicebus_sender`.
    public static var defaultPool: ConnectionPoolConfiguration { .messagingClient(maxIdle: .seconds(200), metricsLabel: "azure_servicebus_sender") }

    /// `AzureServiceBus`.
    public static var loggerLabel: String { "AzureServiceBus" }
}

extension MessagingClientOptions where Readiness == ServiceBusReadiness {
    /// What a Service Bus connection string names; `queueName` nil takes its `EntityPath`.
    func serviceBusEndpoint(connectionString: String, queueName: String?) throws(ServiceBusError)
        -> (endpoint: MessagingEndpoint, entityPath: String)
    {
        var target = try endpoint(connectionString: connectionString, entity: queueName, named: ("queue name", "queueName"))
        // azure-servicebus puts SAS tokens with CBS type "jwt" (connection-sasl-cbs.md §2).
        target.endpoint.tokenTypeOverride = "jwt"
        return target
    }

    /// The endpoint of a namespace authenticated by an Entra ID credential (`https://servicebus.azure.net//.default`).
    func serviceBusEndpoint(fullyQualifiedNamespace: String, credential: any TokenCredential) -> MessagingEndpoint {
        endpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential, scope: AzureScope.serviceBus)
    }
}
