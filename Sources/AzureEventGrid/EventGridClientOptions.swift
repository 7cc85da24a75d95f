import Logging
import ToolboxCore
import ToolboxTransport

/// Settings shared by `EventGridClient` and `ManagedEventGridClient`.
///
/// ```swift
/// var options = EventGridClientOptions()
/// options.caFile = emulator.caFile          // trust the emulator's CA
/// options.retry.maxRetries = 5
/// options.pool.maxConnectionsPerTopic = 8   // ManagedEventGridClient
/// ```
public struct EventGridClientOptions: Sendable {
    /// The HTTP proxy HTTPS requests tunnel through (`CONNECT`, Basic auth when it has a user). Default: the one
    /// Azure's SDKs would use, `HTTPS_PROXY` with `NO_PROXY` exceptions (`HTTPProxy.fromEnvironment()`); nil
    /// connects directly.
    public var proxy: HTTPProxy? = HTTPProxy.fromEnvironment()
    /// Retries of a publish answered 408, 429, 500, 502, 503 or 504, or whose connection failed or broke.
    ///
    /// A publish is retried after a broken connection too (the service may have taken it): each event carries
    /// its `id`, and Event Grid's delivery is at-least-once anyway, so subscribers already dedupe by id.
    public struct Retry: Sendable {
        /// Retries after the first try (azure-core's default: 3). 0 turns retrying off.
        public var maxRetries = 3
        /// First back-off; doubles per retry, with ±20 % jitter (azure-core: 0.8 s).
        public var baseDelay: Duration = .milliseconds(800)
        /// Longest back-off, also the cap on a service's `Retry-After` (azure-core: 120 s).
        public var maxDelay: Duration = .seconds(60)
        /// Each try's own time-out, within the operation's `timeout`.
        public var tryTimeout: Duration = .seconds(30)

        public init() {}
    }

    /// The managed client's connections (per topic host).
    public struct Pool: Sendable {
        /// Most connections open to one topic host; each carries one request at a time.
        public var maxConnectionsPerTopic = 16
        /// Connections kept open and ready per topic host, replaced before they expire.
        public var minReadyPerTopic = 1
        /// Idle connections close after this long.
        public var maxIdle: Duration = .seconds(50)
        /// Connections retire once this old (nil: never).
        public var maxLifespan: Duration?

        public init() {}
    }

    /// Opt-in merging of concurrent publishes to one topic into shared requests, as the SDKs' buffered
    /// producers do: more events per second from many callers, one result per caller.
    ///
    /// ```swift
    /// options.coalescing.isEnabled = true       // 64 callers publishing one event each → a few requests
    /// ```
    ///
    /// Up to `maxRequestsInFlight` requests run per topic; publishes made while they are all busy wait and go
    /// together, as one JSON array, when one of them finishes (a lone publish never waits). Every caller still
    /// gets its own result. The service takes a request all or nothing: when it refuses a merged request for
    /// its content (400, 413), each publish in it is sent again alone (through the same request slots), so only
    /// a publish that is itself wrong fails; any other failure (authorization, throttling after the retries, a
    /// broken connection) fails every publish of that request alike. Each publish times out at its own deadline,
    /// waiting or in flight; a merged request runs until the latest deadline of its publishes. A publish cancelled
    /// while it waits is not sent; cancelled once its request is sent, it may still be published, as without
    /// merging (a request is aborted once none of its publishes waits for it). See docs/clients/eventgrid.md.
    public struct Coalescing: Sendable {
        /// Off by default: every publish is its own request.
        public var isEnabled = false
        /// Requests in flight at once per topic (and schema) before publishes wait to be merged. Default 4.
        public var maxRequestsInFlight = 4
        /// Most events in one merged request. Default 1,000.
        public var maxEventsPerRequest = 1_000
        /// Most body bytes in one merged request: Event Grid refuses requests over 1 MB (1,048,576 bytes).
        public var maxBytesPerRequest = 1_048_576
        /// Most publishes waiting per topic (and schema) for a request slot; past that a publish fails at once
        /// with `.poolExhausted` instead of queueing without bound. Default 10,000.
        public var maxWaitingPublishes = 10_000

        public init() {}
    }

    public var retry = Retry()
    public var pool = Pool()
    public var coalescing = Coalescing()
    /// HTTPS verification; `caFile` (when set) replaces the trust roots with that PEM file.
    public var tls = TLSClientConfiguration()
    /// PEM CA certificates to trust instead of the system store (the emulator's `ca_file`).
    public var caFile: String?
    /// Allow bearer tokens over `http://` (the emulator's plain listener). Azure's SDKs refuse; so do we unless
    /// this is set.
    public var allowPlainTextForDevelopment = false
    /// The `api-version` of basic-topic publishes (what azure-eventgrid sends).
    public var apiVersion = "2018-01-01"
    /// Sent as `User-Agent`.
    public var userAgent = "azsdk-swift-eventgrid/1.0 AzureClientsToolbox"
    /// Drives retry back-off (tests pass a `ManualClock`).
    public var clock: any ToolboxClock = SystemClock()
    /// Where the client logs retries (never keys or tokens).
    public var logger = Logger(label: "AzureEventGrid", factory: { _ in SwiftLogNoOpLogHandler() })

    public init() {}

    /// The TLS settings in effect (`caFile` applied).
    var effectiveTLS: TLSClientConfiguration {
        var tls = self.tls
        if let caFile { tls.trustRoots = .file(caFile) }
        return tls
    }
}
