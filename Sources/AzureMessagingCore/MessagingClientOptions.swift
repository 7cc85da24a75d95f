import AzureAuth
import ConnectionPooling
import Logging
import ToolboxCore

/// How a service's new pooled connection proves itself ready, and the defaults its clients start from.
///
/// `EventHubReadiness` and `ServiceBusReadiness` adopt it; their clients' options are
/// `MessagingClientOptions<EventHubReadiness>` (`EventHubProducerOptions`) and
/// `MessagingClientOptions<ServiceBusReadiness>` (`ServiceBusClientOptions`).
public protocol MessagingReadiness: Sendable, Hashable {
    /// CBS token and sender attach only: what the basic (one-connection) clients always use.
    static var attach: Self { get }
    /// What a managed client uses unless `MessagingClientOptions.readiness` says otherwise.
    static var defaultReadiness: Self { get }
    /// A managed client's pool unless `MessagingClientOptions.pool` says otherwise.
    static var defaultPool: ConnectionPoolConfiguration { get }
    /// The label of the client's default logger (which discards everything).
    static var loggerLabel: String { get }
}

/// The settings of a messaging client, the same for Event Hubs and Service Bus; only the readiness check and
/// the defaults (`Readiness`'s) differ.
///
/// ```swift
/// let options = EventHubProducerOptions.with { $0.retry.maxRetries = 5; $0.transport = .amqpOverWebSockets }
/// ```
public struct MessagingClientOptions<Readiness: MessagingReadiness>: Sendable {
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
    /// How the managed client proves a new connection ready (default: `Readiness.defaultReadiness`, a
    /// `$management` round trip that writes nothing).
    public var readiness = Readiness.defaultReadiness
    /// The managed client's pool (default: `Readiness.defaultPool`, clientLimit 100, maxSize 10 and the
    /// service's maxIdle: 220 s for Event Hubs, 200 s for Service Bus).
    public var pool = Readiness.defaultPool
    /// The clock of the client's timers: per-try time-outs, retry delays, receive time-outs and the pool's
    /// sweeps. Tests pass a `ManualClock` (product `AzureClientsToolboxTesting`) and move time with `advance(by:)`.
    public var clock: any ToolboxClock = SystemClock()
    /// Where the client logs; per-operation timings go out at `.debug`.
    public var logger = Logger(label: Readiness.loggerLabel, factory: { _ in SwiftLogNoOpLogHandler() })

    /// The defaults.
    public init() {}

    /// The defaults, changed by `change`.
    ///
    /// - Parameter change: sets what differs from the defaults.
    /// - Returns: the options.
    public static func with(_ change: (inout Self) -> Void) -> Self {
        var options = Self()
        change(&options)
        return options
    }
}

extension MessagingClientOptions {
    /// `endpoint` reached the way these options say (transport, proxy, custom endpoint address).
    package func applied(to endpoint: MessagingEndpoint) -> MessagingEndpoint {
        endpoint.applying(transport: transport, proxy: proxy, customEndpointAddress: customEndpointAddress)
    }

    /// The endpoint a connection string names, with these options' TLS settings, and the entity it names: `given`,
    /// else the string's `EntityPath`. A malformed string, no entity, or a `given` that is not the `EntityPath` (nor
    /// a subscription or dead-letter queue of it) is `.invalidArgument`; the message never repeats the string (it
    /// holds a key).
    ///
    /// - Parameters:
    ///   - entity: what the entity is called in the message and the parameter that passes it, as in
    ///     `("event hub name", "eventHubName")`.
    package func endpoint(connectionString: String, entity given: String?, named entity: (noun: String, parameter: String))
        throws(AzureMessagingError) -> (endpoint: MessagingEndpoint, entityPath: String)
    {
        let parsed: MessagingConnectionString
        let endpoint: MessagingEndpoint
        do {
            parsed = try MessagingConnectionString(parsing: connectionString)
            endpoint = try MessagingEndpoint(connectionString: parsed, caFile: caFile,
                                             allowPlainTextForDevelopment: allowPlainTextForDevelopment)
        } catch {
            throw AzureMessagingError(.invalidArgument, "invalid connection string: \(error)")
        }
        guard let name = given ?? parsed.entityPath, !name.isEmpty else {
            throw AzureMessagingError(.invalidArgument,
                                      "no \(entity.noun): pass \(entity.parameter) or add EntityPath to the connection string")
        }
        // A connection string with EntityPath is scoped to that entity (often its own access policy): another name
        // is a mistake the Azure SDKs refuse, not an override. A subscription (`topic/Subscriptions/s`) or a
        // dead-letter queue (`q/$DeadLetterQueue`) belongs to the entity its path starts with. Names compare as
        // Azure compares them, ignoring case.
        if let given, let scoped = parsed.entityPath, !scoped.isEmpty {
            let owner = given.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? given
            guard owner.lowercased() == scoped.lowercased() else {
                throw AzureMessagingError(.invalidArgument, "the \(entity.noun) '\(given)' does not match the connection "
                    + "string's EntityPath '\(scoped)': pass \(entity.parameter) nil (or the same name), or use a "
                    + "namespace-level connection string")
            }
        }
        return (endpoint, name)
    }

    /// The endpoint of a namespace authenticated by an Entra ID credential for `scope`, with these options' TLS
    /// settings.
    package func endpoint(fullyQualifiedNamespace: String, credential: any TokenCredential, scope: String) -> MessagingEndpoint {
        MessagingEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential, scope: scope,
                          caFile: caFile, allowPlainTextForDevelopment: allowPlainTextForDevelopment)
    }
}

extension ConnectionPoolConfiguration {
    /// A managed messaging client's default pool: up to 10 connections each shared by up to 100 operations (as
    /// the Python toolbox's clients), closed after the service's `maxIdle` seconds unused.
    package static func messagingClient(maxIdle: Duration, metricsLabel: String) -> ConnectionPoolConfiguration {
        .with {
            $0.clientLimit = 100
            $0.maxSize = 10
            $0.maxIdle = maxIdle
            $0.metricsLabel = metricsLabel
        }
    }
}
