/// Settings of an `HTTPClient`. Times are in seconds.
public struct HTTPClientConfiguration: Sendable {
    /// How HTTPS endpoints are verified. Default: the system trust store, full verification.
    public var tls = TLSClientConfiguration()
    /// The most connections open to one endpoint (each carries one request at a time). Default 32.
    public var maxConnectionsPerEndpoint = 32
    /// Idle connections are closed after this long (servers drop them anyway; nginx after 75 s). Default 50 s.
    public var maxIdle: Double = 50
    /// Connections older than this are retired once their request finishes (Cosmos DB recycles at 60 s).
    /// Default off.
    public var maxLifespan: Double? = nil
    /// Per endpoint, keep at least this many connections open and ready, replacing them before they expire, so
    /// no request pays for connect and TLS. Default 0 (off).
    public var minReadyPerEndpoint = 0
    /// Deadline for opening one connection, TLS included. Default 10 s.
    public var connectTimeout: Double = 10
    /// Used when a request is started without a deadline. Default 60 s.
    public var defaultRequestTimeout: Double = 60
    /// Response parsing limits (line and header sizes).
    public var responseLimits = HTTPParserLimits()
    /// Largest response body `execute` collects in memory; larger ones fail with `.httpBodyTooLarge`
    /// (stream them with `stream` instead). Default 256 MiB.
    public var maxBufferedResponseBytes = 256 << 20
    /// Sent when the request has no User-Agent.
    public var userAgent = "AzureClientsToolbox-Swift"

    public init() {}
}
