import AzureAuth
import AzureMessagingCore
import ConnectionPooling
import Logging
import ToolboxCore

/// Settings shared by the Service Bus senders and receiver.
public struct ServiceBusClientOptions: Sendable {
    /// Retries of transient failures (server busy, time-outs, lost links and connections).
    public var retry = RetryOptions()
    /// A PEM file of CA certificates to trust (an emulator with TLS); nil trusts the system roots.
    public var caFile: String?
    /// Plain AMQP without TLS even when the connection string lacks `UseDevelopmentEmulator=true`.
    public var allowPlainTextForDevelopment = false
    /// AMQP over TCP (`.amqp`, the default) or over WebSockets on port 443 (`.amqpOverWebSockets`), like the
    /// SDKs' `transport_type`; a connection string's `TransportType=AmqpWebSockets` also selects WebSockets.
    public var transport = MessagingTransportType.amqp
    /// An HTTP proxy to reach the namespace through (`CONNECT`, Basic auth); implies WebSockets, like the
    /// SDKs' `http_proxy`. `HTTPProxy.fromEnvironment()` reads `HTTPS_PROXY`/`NO_PROXY`.
    public var proxy: HTTPProxy?
    /// Connect to this address instead of the namespace host (`sb://gateway:8443`), like the SDKs'
    /// `custom_endpoint_address`; TLS name and CBS audiences stay the namespace's.
    public var customEndpointAddress: String?
    /// How the managed sender proves a new connection ready (default: a `$management` peek, nothing written).
    public var readiness = ServiceBusReadiness.managementPeek
    /// The managed sender's pool: clientLimit 100, maxSize 10, maxIdle 200 s by default.
    public var pool = ConnectionPoolConfiguration.with {
        $0.clientLimit = 100
        $0.maxSize = 10
        $0.maxIdle = .seconds(200)
        $0.metricsLabel = "azure_servicebus_sender"
    }
    /// The clock of the client's timers: per-try time-outs, retry delays, receive time-outs and the pool's
    /// sweeps. Tests pass a `ManualClock` (product `AzureClientsToolboxTesting`) and move time with `advance(by:)`.
    public var clock: any ToolboxClock = SystemClock()
    /// Where the client logs; per-operation timings go out at `.debug`.
    public var logger = Logger(label: "AzureServiceBus", factory: { _ in SwiftLogNoOpLogHandler() })

    public init() {}

    /// The defaults, changed by `change`.
    public static func with(_ change: (inout ServiceBusClientOptions) -> Void) -> ServiceBusClientOptions {
        var options = ServiceBusClientOptions()
        change(&options)
        return options
    }

    static func endpoint(connectionString: String, options: ServiceBusClientOptions) throws(ServiceBusError)
        -> (MessagingEndpoint, String?)
    {
        do {
            let parsed = try MessagingConnectionString(parsing: connectionString)
            var endpoint = try MessagingEndpoint(connectionString: parsed, caFile: options.caFile,
                                                 allowPlainTextForDevelopment: options.allowPlainTextForDevelopment)
            // azure-servicebus puts SAS tokens with CBS type "jwt" (connection-sasl-cbs.md §2).
            endpoint.tokenTypeOverride = "jwt"
            return (endpoint, parsed.entityPath)
        } catch {
            throw ServiceBusError(.invalidArgument, "invalid connection string: \(error)")
        }
    }

    static func queueName(_ given: String?, _ entityPath: String?) throws(ServiceBusError) -> String {
        guard let name = given ?? entityPath, !name.isEmpty else {
            throw ServiceBusError(.invalidArgument, "no queue name: pass queueName or add EntityPath to the connection string")
        }
        return name
    }
}
