import AzureAuth
import ConnectionPooling
import Dispatch
import ToolboxCore
import ToolboxTransport

/// The pooled Cosmos DB client, like the Python toolbox's `ManagedCosmos`: ready keep-alive connections shared
/// by all callers. A new connection reads the container (`GET /dbs/{db}/colls/{c}/`) before it serves anyone,
/// so a broken key or a missing container fails the connection, not a caller's request.
///
/// ```swift
/// var options = CosmosClientOptions()
/// options.pool.maxSize = 8
/// options.pool.minReady = 2
/// let cosmos = try ManagedCosmos(endpoint: endpoint, credential: DefaultAzureCredential(), databaseName: "db",
///                                containerName: "orders", options: options)
/// try cosmos.warmUp(connections: 2)          // optional: pay connect + TLS + readiness up front
/// try cosmos.createItem(order)
/// print(cosmos.poolSnapshot)                 // ready, in use, opening, creates, expirations ...
/// ```
///
/// Defaults follow the Python library: idle 30 s, lifespan 60 s, 10 connections; `options.pool` changes them.
public final class ManagedCosmos: CosmosClient, CosmosCoreBacked, @unchecked Sendable {
    // @unchecked Sendable: the only stored property is immutable; its core guards its own state.
    let binding: CosmosBinding

    public init(endpoint: String, authorization: CosmosAuthorization, databaseName: String, containerName: String,
                options: CosmosClientOptions = CosmosClientOptions()) throws(ToolboxError) {
        let pool = options.pool
        guard pool.maxSize >= 1, pool.minReady >= 0, pool.minReady <= pool.maxSize else {
            throw ToolboxError(.invalidConfiguration, "pool.maxSize must be at least 1 and pool.minReady between 0 "
                + "and maxSize (got maxSize \(pool.maxSize), minReady \(pool.minReady))")
        }
        var http = HTTPClientConfiguration()
        http.maxConnectionsPerEndpoint = pool.maxSize
        http.maxIdle = pool.maxIdle
        http.maxLifespan = pool.maxLifespan
        http.minReadyPerEndpoint = pool.minReady
        http.connectTimeout = pool.connectionCreateTimeout
        http.metricsLabel = pool.metricsLabel
        let core = try CosmosCore(endpoint: endpoint, authorization: authorization, options: options,
                                  httpConfiguration: http, readiness: (databaseName, containerName))
        self.binding = CosmosBinding(core: core, databaseName: databaseName, containerName: containerName)
    }

    init(binding: CosmosBinding) { self.binding = binding }

    /// Another container of the account over the same pool (whose connections were proved with this client's
    /// container), caches and session tokens. Closing either closes both.
    public func container(_ containerName: String, database: String? = nil) -> ManagedCosmos {
        ManagedCosmos(binding: binding(container: containerName, database: database))
    }

    /// Opens up to `connections` ready connections (each proved by a container read) ahead of need; completes
    /// with how many are ready.
    public func warmUp(connections: Int, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: @escaping @Sendable (Result<Int, ToolboxError>) -> Void) {
        core.http.warmUp(core.pipeline.endpoint, count: connections, queue: queue) { result in
            completion(result.mapError { error in
                if let refusal = error.first(ToolboxError.self), refusal.serviceCondition != nil { return refusal }
                return CosmosErrors.transport(error, operation: "warming up \(connections) connections")
            })
        }
    }

    /// Blocking form of `warmUp(connections:queue:completion:)`.
    @discardableResult
    public func warmUp(connections: Int) throws(ToolboxError) -> Int {
        try Blocking.waitForResult { queue, done in warmUp(connections: connections, queue: queue, completion: done) }
    }

    /// The pool's state: ready, in use, opening connections, creates, failures, expirations, waits; nil
    /// before the first request or warm-up opened the pool.
    public var poolSnapshot: ConnectionPoolSnapshot? {
        core.http.poolSnapshots()[core.pipeline.endpoint]
    }

    /// How many connections the client has opened so far.
    public var connectionsOpened: Int { core.http.connectionsOpened }
}
