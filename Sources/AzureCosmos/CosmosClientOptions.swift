import Logging
import ToolboxCore
import ToolboxTransport

/// Settings shared by `Cosmos` and `ManagedCosmos`.
///
/// ```swift
/// var options = CosmosClientOptions()
/// options.caFile = "emulator-ca.pem"
/// options.pool.maxSize = 4
/// ```
public struct CosmosClientOptions: Sendable {
    /// Default time-out of one operation, retries included (a query: one page). Default 60 s.
    public var timeout: Duration = .seconds(60)
    /// Retry rules (429, 449, 410 and connection failures).
    public var retry = CosmosRetryOptions()
    /// A PEM file of CA certificates to trust for HTTPS (an emulator's self-signed CA).
    public var caFile: String?
    /// The HTTP proxy HTTPS requests tunnel through (`CONNECT`, Basic auth when it has a user). Default: the one
    /// Azure's SDKs would use, `HTTPS_PROXY` with `NO_PROXY` exceptions (`HTTPProxy.fromEnvironment()`); nil
    /// connects directly.
    public var proxy: HTTPProxy? = HTTPProxy.fromEnvironment()
    /// Skips certificate verification entirely. Development only.
    public var insecureSkipVerification = false
    /// Basic client (`Cosmos`): connections are retired after this long, like the Python `Cosmos` client
    /// recycles its SDK client (`cosmos_client_ttl_seconds`, 60 s).
    public var clientTTL: Duration = .seconds(60)
    /// Basic client: most connections open at once. Default 32.
    public var maxConnections = 32
    /// Managed client (`ManagedCosmos`): the pool.
    public var pool = CosmosPoolOptions()
    /// Whether to send `x-ms-consistency-level` (only a weaker level than the account's is allowed). Default nil:
    /// the account's default.
    public var consistencyLevel: String?
    /// Sent as `User-Agent`.
    public var userAgent = "AzureClientsToolbox-Swift cosmos"
    /// Where the client logs retries and metadata refreshes (nothing secret). Default: no logging.
    public var logger = Logger(label: "AzureClientsToolbox.Cosmos", factory: { _ in SwiftLogNoOpLogHandler() })
    /// The clock retry waits are scheduled on (a `ManualClock` in tests).
    public var clock: any ToolboxClock = SystemClock()

    public init() {}
}

/// How `Cosmos` and `ManagedCosmos` retry, after the official SDKs' defaults.
public struct CosmosRetryOptions: Sendable {
    /// 429 retries per operation (azure-cosmos: 9).
    public var maxThrottleRetries = 9
    /// Total time an operation may spend waiting out 429s (azure-cosmos: 30 s).
    public var maxThrottleWait: Duration = .seconds(30)
    /// Retries of 449 (retry with), 410 (gone, partition split) and 404/1002 (session not yet available).
    public var maxTransientRetries = 5
    /// Retries after a connection failure or a 503, for idempotent operations (reads, queries) only; writes
    /// are retried only when the request never left (connect refused).
    public var maxConnectionRetries = 3
    /// First backoff of 449/410/connection retries; doubles up to `maxBackoff`.
    public var initialBackoff: Duration = .milliseconds(10)
    public var maxBackoff: Duration = .seconds(1)

    public init() {}
}

/// The pool of `ManagedCosmos` (Python's defaults: idle 30 s, lifespan 60 s, max size 10).
///
/// HTTP/1.1 carries one request at a time per connection, so a connection serves one caller at a time
/// (Python's `client_limit` counts callers sharing an aiohttp session, which itself pools connections).
public struct CosmosPoolOptions: Sendable {
    /// Most connections. Default 10.
    public var maxSize = 10
    /// Idle connections close after this. Default 30 s.
    public var maxIdle: Duration = .seconds(30)
    /// Connections retire after this. Default 60 s.
    public var maxLifespan: Duration? = .seconds(60)
    /// Keep this many ready connections, replaced before they expire. Default 0.
    public var minReady = 0
    /// Deadline for opening and proving one connection. Default 10 s.
    public var connectionCreateTimeout: Duration = .seconds(10)
    /// Label of the pool's swift-metrics; nil reports none.
    public var metricsLabel: String? = "azure_toolbox_cosmos_pool"

    public init() {}
}
