/// Every setting of a `ConnectionPool`, with the defaults of the Python original where it has one.
///
/// Times are in seconds. `nil` turns an expiry off.
public struct ConnectionPoolConfiguration: Sendable, Equatable {
    /// How many leases may share one connection at once (Python: `client_limit`). Default 100.
    public var clientLimit: Int = 100
    /// The most connections open at once, counting those opening and closing. Default 10.
    public var maxSize: Int = 10
    /// A connection unused for this long is closed (Azure drops idle sockets). Default 300 s.
    public var maxIdle: Double? = 300
    /// A connection older than this is retired once its leases return. Default off.
    public var maxLifespan: Double? = nil
    /// The most connections being created (and proved ready) at once. Default max(maxSize / 3, 1).
    public var maxConcurrentCreates: Int? = nil
    /// How long `acquire` waits for a lease when every connection is busy or still opening. Default 10 s.
    public var acquireTimeout: Double = 10
    /// The deadline given to the connector for creating one connection and proving it ready. Default 60 s.
    public var getTimeout: Double = 60
    /// Keep at least this many ready connections, opening replacements before they expire. Default 0 (off).
    public var minReady: Int = 0
    /// With `minReady`, how long before a connection's expiry its replacement starts opening. Default 10 s.
    public var refreshAhead: Double = 10
    /// The most callers that may queue for a lease; one more fails at once with `.exhausted`. Default 100,000.
    public var maxWaiters: Int = 100_000
    /// Names the pool in logs and as the `pool` dimension of its swift-metrics; nil disables swift-metrics.
    public var metricsLabel: String? = "azure_toolbox_pool"
    /// When another connection opens: only once every connection holds `clientLimit` leases (`.shareFirst`, the
    /// default), or whenever every connection is leased (`.spread`). See `ConnectionSelectionPolicy`.
    public var selectionPolicy: ConnectionSelectionPolicy = .shareFirst

    public init() {}

    /// The defaults, changed by the given closure.
    public static func with(_ change: (inout ConnectionPoolConfiguration) -> Void) -> ConnectionPoolConfiguration {
        var configuration = ConnectionPoolConfiguration()
        change(&configuration)
        return configuration
    }

    /// `maxConcurrentCreates` with its default applied.
    public var effectiveMaxConcurrentCreates: Int {
        max(1, min(maxConcurrentCreates ?? max(maxSize / 3, 1), maxSize))
    }

    /// Throws a `ConnectionPoolError` with code `.invalidConfiguration` naming the first bad setting.
    public func validate() throws(ConnectionPoolError) {
        func bad(_ message: String) -> ConnectionPoolError { ConnectionPoolError(.invalidConfiguration, message) }
        if clientLimit < 1 { throw bad("clientLimit must be at least 1 (got \(clientLimit))") }
        if maxSize < 1 { throw bad("maxSize must be at least 1 (got \(maxSize))") }
        if let maxIdle, !(maxIdle > 0) { throw bad("maxIdle must be positive or nil (got \(maxIdle))") }
        if let maxLifespan, !(maxLifespan > 0) {
            throw bad("maxLifespan must be positive or nil (got \(maxLifespan))")
        }
        if let maxConcurrentCreates, maxConcurrentCreates < 1 {
            throw bad("maxConcurrentCreates must be at least 1 or nil (got \(maxConcurrentCreates))")
        }
        if !(acquireTimeout >= 0) { throw bad("acquireTimeout must be zero or positive (got \(acquireTimeout))") }
        if !(getTimeout > 0) { throw bad("getTimeout must be positive (got \(getTimeout))") }
        if minReady < 0 || minReady > maxSize {
            throw bad("minReady must be between 0 and maxSize (\(maxSize)) (got \(minReady))")
        }
        if !(refreshAhead >= 0) { throw bad("refreshAhead must be zero or positive (got \(refreshAhead))") }
        if maxWaiters < 0 { throw bad("maxWaiters must be zero or positive (got \(maxWaiters))") }
    }
}

/// How a pool spreads concurrent leases over its connections. Either way a lease goes to the ready connection
/// with the fewest leases, and no connection carries more than `clientLimit`.
///
/// ```swift
/// options.pool.selectionPolicy = .spread   // 64 concurrent senders over up to maxSize connections
/// ```
public enum ConnectionSelectionPolicy: String, Sendable, Equatable, CaseIterable {
    /// Share one connection until it holds `clientLimit` leases, then open the next (up to `maxSize`): the fewest
    /// sockets, handshakes and memory for the load. The default.
    case shareFirst
    /// Open another connection (up to `maxSize`) whenever more leases are wanted at once than there are
    /// connections, so concurrent callers spread over up to `maxSize` sockets, as the Python library does. A
    /// caller never waits for the new connection while an open one has room: it shares that one meanwhile.
    /// It costs more CPU per operation and a connection (and handshake) per extra socket, and pays off where one
    /// connection limits throughput (per-connection flow control, a proxy, one TCP stream's window); see
    /// docs/connection-pooling.md for when to choose it.
    case spread
}
