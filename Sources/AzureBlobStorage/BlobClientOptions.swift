import ToolboxCore
import ToolboxTransport

/// Settings of a `BlobContainer` or `ManagedBlobContainer`.
///
/// ```swift
/// var options = BlobClientOptions()
/// options.caFile = "emulator-ca.pem"
/// options.transfer.blockSize = 8 << 20
/// options.pool.minReady = 2            // managed client: keep two warm connections
/// ```
public struct BlobClientOptions: Sendable {
    /// PEM file of CA certificates to trust in addition to nothing else (an emulator's self-signed CA); nil uses
    /// the system trust store.
    public var caFile: String?
    /// The HTTP proxy HTTPS requests tunnel through (`CONNECT`, Basic auth when it has a user). Default: the one
    /// Azure's SDKs would use, `HTTPS_PROXY` with `NO_PROXY` exceptions (`HTTPProxy.fromEnvironment()`); nil
    /// connects directly.
    public var proxy: HTTPProxy? = HTTPProxy.fromEnvironment()
    /// `x-ms-version` sent with every request; the version azure-storage-blob 12.31 speaks.
    public var serviceVersion = "2026-10-06"
    /// Retries of throttled (429, 503) and failed (500, 502, 504, 408, connection errors) requests.
    public var retry = BlobRetryOptions()
    /// Block sizes, thresholds and parallelism of uploads and downloads.
    public var transfer = BlobTransferOptions()
    /// Connections: how many, how long they live, and (managed client) how many stay warm.
    public var pool = BlobPoolOptions()
    /// Deadline of each single HTTP attempt within an operation (a stalled connection is given up and the
    /// request retried). Default 120 s.
    public var tryTimeout: Duration = .seconds(120)
    /// The clock every retry delay runs on (tests pass a `ManualClock`).
    public var clock: any ToolboxClock = SystemClock()
    /// Sent as `User-Agent`.
    public var userAgent = "AzureClientsToolbox-Swift/blob"
    /// Test hook: told about every HTTP attempt once it ended (retries included).
    @_spi(Testing) public var attemptObserver: (@Sendable (BlobAttemptRecord) -> Void)?

    public init() {}
}

/// Exponential back-off with jitter, honouring the service's `Retry-After`.
public struct BlobRetryOptions: Sendable {
    /// Retries after the first attempt. Default 3 (azure-storage-blob's `retry_total`).
    public var maxRetries = 3
    /// Delay before the first retry; doubles each time. Default 0.8 s.
    public var initialDelay: Duration = .milliseconds(800)
    /// Upper bound of one delay (a `Retry-After` too). Default 60 s.
    public var maxDelay: Duration = .seconds(60)

    public init() {}
}

/// How large transfers are cut up.
public struct BlobTransferOptions: Sendable {
    /// Uploads of at most this many bytes go as one Put Blob; larger ones as blocks. Default 8 MiB.
    public var singlePutThreshold = 8 << 20
    /// Bytes per Put Block. Default 8 MiB (Azure allows up to 4,000 MiB, and at most 50,000 blocks per blob).
    public var blockSize = 8 << 20
    /// Blocks or ranges in flight at once. Memory stays within `blockSize × concurrency` (uploads) and
    /// `chunkSize × concurrency` (in-memory and streamed downloads). Default 8.
    public var concurrency = 8
    /// Bytes per ranged GET. Default 8 MiB.
    public var chunkSize = 8 << 20
    /// Send `Content-MD5` with single puts, and record the blob's MD5 (`x-ms-blob-content-md5`) at commit, so
    /// the service rejects corrupted bytes and readers can check the whole blob. Costs an MD5 pass over the data
    /// on the client (the largest share of an upload's CPU over a loopback TLS connection). Default false, as in
    /// azure-storage-blob (`validate_content=False`): TLS already protects the bytes in transit, and a single Put
    /// Blob gets its MD5 from the service anyway.
    public var computeMD5 = false

    public init() {}
}

/// The connections of a client (one HTTP/1.1 request per connection at a time).
public struct BlobPoolOptions: Sendable {
    /// Most connections to the account's endpoint. Default 32.
    public var maxConnections = 32
    /// Idle connections close after this long. Default 50 s.
    public var maxIdle: Duration = .seconds(50)
    /// Connections retire after this long (the basic client's TTL). Default: basic 300 s, managed off.
    public var maxLifespan: Duration?
    /// Managed client: connections kept open and ready, refreshed before they expire. Default 0.
    public var minReady = 0
    /// Deadline for opening one connection (TLS included). Default 10 s.
    public var connectTimeout: Duration = .seconds(10)

    public init() {}
}

/// One HTTP attempt, as the test hook `BlobClientOptions.attemptObserver` sees it.
@_spi(Testing) public struct BlobAttemptRecord: Sendable, Equatable {
    public var method: String
    /// The `comp` query parameter (`block`, `blocklist`, `list` …), if any.
    public var comp: String?
    /// The answer's status; nil when the attempt failed without one (a dropped connection).
    public var status: Int?
}
