import AzureAuth
import Dispatch
import ToolboxCore
import ToolboxTransport

/// The basic Cosmos DB client, bound to one database and container like the Python toolbox's `Cosmos`:
/// connections open on demand and are retired after `options.clientTTL` (60 s), so credentials and DNS are
/// picked up again regularly.
///
/// ```swift
/// let cosmos = try Cosmos(connectionString: cs, databaseName: "db", containerName: "orders")
/// try cosmos.upsertItem(Array(#"{"id": "1", "pk": "a"}"#.utf8))
/// let page = try cosmos.queryPage(CosmosQuery("SELECT * FROM c WHERE c.pk = @pk", parameters: ["@pk": "a"]))
/// try cosmos.close()
/// ```
///
/// `container(_:database:)` reaches another container of the account over the same connections and caches.
public final class Cosmos: CosmosClient, CosmosCoreBacked, @unchecked Sendable {
    // @unchecked Sendable: the only stored property is immutable; its core guards its own state.
    let binding: CosmosBinding

    /// - throws: `.invalidArgument` for an unusable endpoint, `.invalidKey` for a key that is not base64.
    public init(endpoint: String, authorization: CosmosAuthorization, databaseName: String, containerName: String,
                options: CosmosClientOptions = CosmosClientOptions()) throws(ToolboxError) {
        var http = HTTPClientConfiguration()
        http.maxConnectionsPerEndpoint = max(1, options.maxConnections)
        http.maxLifespan = options.clientTTL
        http.maxIdle = min(.seconds(50), options.clientTTL)
        let core = try CosmosCore(endpoint: endpoint, authorization: authorization, options: options,
                                  httpConfiguration: http, readiness: nil)
        self.binding = CosmosBinding(core: core, databaseName: databaseName, containerName: containerName)
    }

    init(binding: CosmosBinding) { self.binding = binding }

    /// Another container of the account, sharing this client's connections, caches and session tokens (closing
    /// either closes both).
    public func container(_ containerName: String, database: String? = nil) -> Cosmos {
        Cosmos(binding: binding(container: containerName, database: database))
    }

    /// How many connections the client has opened so far.
    public var connectionsOpened: Int { core.http.connectionsOpened }
}
