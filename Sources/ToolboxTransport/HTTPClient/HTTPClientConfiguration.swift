import ConnectionPooling
import ToolboxCore

/// Settings of an `HTTPClient`. Times are `Duration`s; `HTTPClient.init` rejects a negative one (and a zero
/// `connectTimeout` or `defaultRequestTimeout`) with `.invalidConfiguration` naming the setting.
public struct HTTPClientConfiguration: Sendable {
    /// How HTTPS endpoints are verified. Default: the system trust store, full verification.
    public var tls = TLSClientConfiguration()
    /// The most connections open to one endpoint (each carries one request at a time). Default 32.
    public var maxConnectionsPerEndpoint = 32
    /// Idle connections are closed after this long (servers drop them anyway; nginx after 75 s). Default 50 s.
    public var maxIdle: Duration = .seconds(50)
    /// Connections older than this are retired once their request finishes (Cosmos DB recycles at 60 s).
    /// Default off.
    public var maxLifespan: Duration? = nil
    /// Per endpoint, keep at least this many connections open and ready, replacing them before they expire, so
    /// no request pays for connect and TLS. Default 0 (off).
    public var minReadyPerEndpoint = 0
    /// Deadline for opening one connection, TLS included. Default 10 s.
    public var connectTimeout: Duration = .seconds(10)
    /// When a host has several addresses, how long one connect attempt may run before the next address is tried
    /// alongside it ("Happy Eyeballs"; the first to connect wins). Default 0.25 s (RFC 8305).
    public var connectionAttemptDelay: Duration = .milliseconds(250)
    /// Used when a request is started without a deadline. Default 60 s.
    public var defaultRequestTimeout: Duration = .seconds(60)
    /// The HTTP proxy HTTPS requests tunnel through (`CONNECT`, Basic auth when it has a user; TLS to the
    /// service runs end to end inside the tunnel). Default: what Azure's SDKs read, `HTTPS_PROXY`/`https_proxy`
    /// with `NO_PROXY`/`no_proxy` exceptions, at the time the configuration is made; nil connects directly.
    /// Plain `http://` endpoints (emulators) are never proxied.
    public var proxy: HTTPProxy? = HTTPProxy.fromEnvironment()
    /// Response parsing limits (line and header sizes).
    public var responseLimits = HTTPParserLimits()
    /// Largest response body `execute` collects in memory; larger ones fail with `.httpBodyTooLarge`
    /// (stream them with `stream` instead). Default 256 MiB.
    public var maxBufferedResponseBytes = 256 << 20
    /// Sent when the request has no User-Agent.
    public var userAgent = "AzureClientsToolbox-Swift"
    /// How many serial queues ("event loops") the client's connections share: each connection's own serial queue
    /// targets one of them, round robin. Work for connections on the same loop is drained by one thread in turn
    /// instead of waking a thread per connection, which is what costs most CPU per request on a busy client.
    /// More loops let more cores work at once. Default: the number of processors online. 0 gives every
    /// connection an independent queue (the behaviour before this setting existed).
    public var eventLoopCount = POSIX.activeProcessorCount
    /// When true, the completion of the buffered `execute(_:deadline:queue:completion:)` runs directly on the
    /// thread that finished the request, normally the connection's queue, instead of being dispatched to
    /// `queue:` (which is then unused): one thread hop less per request. The completion must be quick and must
    /// not block (blocking calls on library queues fail fast anyway); it may start further requests. A request
    /// that fails at once (an unusable URL, a client shut down) may complete before `execute` returns.
    /// `stream` is not affected. Default false.
    public var inlineCompletions = false
    /// A request each new connection must answer successfully before it serves anyone (a Cosmos DB container
    /// read, say); a connection that fails it is closed and its waiters get the error. Default nil (no probe).
    public var readinessProbe: HTTPReadinessProbe? = nil
    /// Label of the swift-metrics gauges and counters of the per-endpoint pools; nil (default) reports none.
    public var metricsLabel: String? = nil

    public init() {}

    /// Throws `.invalidConfiguration` naming the first setting out of range: a negative time, a zero one where
    /// zero makes no sense, or one longer than `ConnectionPoolConfiguration.longestTime` (about 31 years).
    public func validate() throws(ToolboxError) {
        func check(_ name: String, _ value: Duration, zeroAllowed: Bool) throws(ToolboxError) {
            try ConnectionPoolConfiguration.checkTime("HTTPClientConfiguration.\(name)", value, zeroAllowed: zeroAllowed)
        }
        try check("maxIdle", maxIdle, zeroAllowed: false)
        if let maxLifespan { try check("maxLifespan", maxLifespan, zeroAllowed: false) }
        try check("connectTimeout", connectTimeout, zeroAllowed: false)
        try check("connectionAttemptDelay", connectionAttemptDelay, zeroAllowed: true)
        try check("defaultRequestTimeout", defaultRequestTimeout, zeroAllowed: false)
        do {
            try poolConfiguration.validate()
        } catch {
            throw ToolboxError(.invalidConfiguration, "HTTPClientConfiguration: \(error.message)", underlying: error)
        }
    }

    /// The per-endpoint pool these settings describe (one request per connection at a time).
    var poolConfiguration: ConnectionPoolConfiguration {
        var pool = ConnectionPoolConfiguration()
        pool.clientLimit = 1  // HTTP/1.1: one request in flight per connection
        pool.maxSize = maxConnectionsPerEndpoint
        pool.maxConcurrentCreates = maxConnectionsPerEndpoint
        pool.maxIdle = maxIdle
        pool.maxLifespan = maxLifespan
        pool.minReady = min(minReadyPerEndpoint, maxConnectionsPerEndpoint)
        pool.getTimeout = connectTimeout
        pool.metricsLabel = metricsLabel
        return pool
    }
}

/// Proves a new connection ready with one real request before the pool hands it out.
///
/// `makeRequest` builds the request (asynchronously: a bearer token may have to be fetched first);
/// `check` judges the response and returns an error to refuse the connection.
public struct HTTPReadinessProbe: Sendable {
    public var makeRequest: @Sendable (HTTPEndpoint, Deadline, @escaping @Sendable (Result<HTTPRequest, any Error>) -> Void) -> Void
    public var check: @Sendable (HTTPResponse) -> (any Error)?

    public init(
        makeRequest: @escaping @Sendable (HTTPEndpoint, Deadline, @escaping @Sendable (Result<HTTPRequest, any Error>) -> Void) -> Void,
        check: @escaping @Sendable (HTTPResponse) -> (any Error)?
    ) {
        self.makeRequest = makeRequest
        self.check = check
    }
}
