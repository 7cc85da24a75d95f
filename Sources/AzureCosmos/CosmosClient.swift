import AzureAuth
import ToolboxCore

/// What `Cosmos` and `ManagedCosmos` have in common: both roles, and the ways to create one.
///
/// ```swift
/// func makeClient<C: CosmosClient>(_ kind: C.Type) throws -> C {
///     try C(connectionString: cs, databaseName: "db", containerName: "orders")
/// }
/// ```
public protocol CosmosClient: CosmosContainerOperations, CosmosAccountOperations {
    /// - throws: `.invalidArgument` for an unusable endpoint, `.invalidKey` for a key that is not base64,
    ///   `.invalidConfiguration` for unusable options.
    init(endpoint: String, authorization: CosmosAuthorization, databaseName: String, containerName: String,
         options: CosmosClientOptions) throws(ToolboxError)
}

extension CosmosClient {
    /// Master-key authorization with the account key.
    public init(endpoint: String, key: Secret<String>, databaseName: String, containerName: String,
                options: CosmosClientOptions = CosmosClientOptions()) throws(ToolboxError) {
        try self.init(endpoint: endpoint, authorization: .masterKey(key), databaseName: databaseName,
                      containerName: containerName, options: options)
    }

    /// Entra ID tokens from `credential` (HTTPS endpoints only).
    public init(endpoint: String, credential: any TokenCredential, databaseName: String, containerName: String,
                options: CosmosClientOptions = CosmosClientOptions()) throws(ToolboxError) {
        try self.init(endpoint: endpoint, authorization: .credential(credential), databaseName: databaseName,
                      containerName: containerName, options: options)
    }

    /// `AccountEndpoint=…;AccountKey=…;`
    public init(connectionString: String, databaseName: String, containerName: String,
                options: CosmosClientOptions = CosmosClientOptions()) throws(ToolboxError) {
        let parsed = try CosmosConnectionString(parsing: connectionString)
        try self.init(endpoint: parsed.accountEndpoint, authorization: .masterKey(parsed.accountKey),
                      databaseName: databaseName, containerName: containerName, options: options)
    }
}
