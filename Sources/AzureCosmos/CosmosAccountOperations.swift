import Dispatch
import ToolboxCore

/// Databases and containers of the account a client talks to (create, create-if-not-exists, read, delete,
/// list). `Cosmos` and `ManagedCosmos` both provide it.
public protocol CosmosAccountOperations: AnyObject, Sendable {
    @discardableResult
    func createDatabase(_ id: String, ifNotExists: Bool, timeout: Duration?, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable

    @discardableResult
    func readDatabase(_ id: String, timeout: Duration?, queue: DispatchQueue,
                      completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable

    @discardableResult
    func deleteDatabase(_ id: String, timeout: Duration?, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    @discardableResult
    func listDatabases(timeout: Duration?, queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<[CosmosResourceProperties], ToolboxError>) -> Void)
        -> any Cancellable

    @discardableResult
    func createContainer(_ id: String, database: String, partitionKey: CosmosPartitionKeyDefinition, ifNotExists: Bool,
                         timeout: Duration?, queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable

    @discardableResult
    func readContainer(_ id: String, database: String, timeout: Duration?, queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable

    @discardableResult
    func deleteContainer(_ id: String, database: String, timeout: Duration?, queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    @discardableResult
    func listContainers(database: String, timeout: Duration?, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<[CosmosResourceProperties], ToolboxError>) -> Void)
        -> any Cancellable
}

// Blocking forms.
extension CosmosAccountOperations {
    @discardableResult
    public func createDatabase(_ id: String, ifNotExists: Bool = false, timeout: Duration? = nil) throws(ToolboxError)
        -> CosmosResourceProperties
    {
        try Blocking.waitForResult { queue, done in
            createDatabase(id, ifNotExists: ifNotExists, timeout: timeout, queue: queue, completion: done)
        }
    }

    public func readDatabase(_ id: String, timeout: Duration? = nil) throws(ToolboxError) -> CosmosResourceProperties {
        try Blocking.waitForResult { queue, done in readDatabase(id, timeout: timeout, queue: queue, completion: done) }
    }

    public func deleteDatabase(_ id: String, timeout: Duration? = nil) throws(ToolboxError) {
        try Blocking.waitForResult { queue, done in deleteDatabase(id, timeout: timeout, queue: queue, completion: done) }
    }

    public func listDatabases(timeout: Duration? = nil) throws(ToolboxError) -> [CosmosResourceProperties] {
        try Blocking.waitForResult { queue, done in listDatabases(timeout: timeout, queue: queue, completion: done) }
    }

    @discardableResult
    public func createContainer(_ id: String, database: String, partitionKey: CosmosPartitionKeyDefinition,
                                ifNotExists: Bool = false, timeout: Duration? = nil) throws(ToolboxError)
        -> CosmosResourceProperties
    {
        try Blocking.waitForResult { queue, done in
            createContainer(id, database: database, partitionKey: partitionKey, ifNotExists: ifNotExists,
                            timeout: timeout, queue: queue, completion: done)
        }
    }

    public func readContainer(_ id: String, database: String, timeout: Duration? = nil) throws(ToolboxError)
        -> CosmosResourceProperties
    {
        try Blocking.waitForResult { queue, done in
            readContainer(id, database: database, timeout: timeout, queue: queue, completion: done)
        }
    }

    public func deleteContainer(_ id: String, database: String, timeout: Duration? = nil) throws(ToolboxError) {
        try Blocking.waitForResult { queue, done in
            deleteContainer(id, database: database, timeout: timeout, queue: queue, completion: done)
        }
    }

    public func listContainers(database: String, timeout: Duration? = nil) throws(ToolboxError)
        -> [CosmosResourceProperties]
    {
        try Blocking.waitForResult { queue, done in
            listContainers(database: database, timeout: timeout, queue: queue, completion: done)
        }
    }
}

/// What a client is bound to: the account's core (connections, caches, session tokens) and one container.
struct CosmosBinding: Sendable {
    let core: CosmosCore
    let databaseName: String
    let containerName: String
}

/// The shared implementation of both roles over a `CosmosCore`.
protocol CosmosCoreBacked: CosmosContainerOperations, CosmosAccountOperations {
    var binding: CosmosBinding { get }
}

extension CosmosCoreBacked {
    var core: CosmosCore { binding.core }
    public var databaseName: String { binding.databaseName }
    public var containerName: String { binding.containerName }

    /// `binding` moved to another container of the account (same core).
    func binding(container containerName: String, database: String?) -> CosmosBinding {
        CosmosBinding(core: core, databaseName: database ?? databaseName, containerName: containerName)
    }

    @discardableResult
    public func queryPage(_ query: CosmosQuery?, options: CosmosQueryOptions, queue: DispatchQueue,
                          completion: @escaping @Sendable (Result<CosmosQueryPage<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = query.map { "querying '\(containerName)' (\($0.text.prefix(60)))" } ?? "reading the items of '\(containerName)'"
        let operation = CosmosOperation<CosmosQueryPage<[UInt8]>>(what, queue: queue, completion: completion)
        CosmosQueryExecution(core: core, database: databaseName, container: containerName, query: query,
                             options: options, operation: operation).start()
        return operation
    }

    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        core.close(queue: queue, completion: completion)
    }

    @discardableResult
    public func createDatabase(_ id: String, ifNotExists: Bool, timeout: Duration?, queue: DispatchQueue,
                               completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.createDatabase(id, ifNotExists: ifNotExists, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func readDatabase(_ id: String, timeout: Duration?, queue: DispatchQueue,
                             completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.readResource(CosmosPaths.database(id), what: "database '\(id)'", timeout: timeout, queue: queue,
                          completion: completion)
    }

    @discardableResult
    public func deleteDatabase(_ id: String, timeout: Duration?, queue: DispatchQueue,
                               completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.deleteResource(CosmosPaths.database(id), what: "database '\(id)'", timeout: timeout, queue: queue,
                            completion: completion)
    }

    @discardableResult
    public func listDatabases(timeout: Duration?, queue: DispatchQueue,
                              completion: @escaping @Sendable (Result<[CosmosResourceProperties], ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.listResources(["dbs"], key: "Databases", what: "databases", timeout: timeout, queue: queue,
                           completion: completion)
    }

    @discardableResult
    public func createContainer(_ id: String, database: String, partitionKey: CosmosPartitionKeyDefinition,
                                ifNotExists: Bool, timeout: Duration?, queue: DispatchQueue,
                                completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.createContainer(id, database: database, partitionKey: partitionKey, ifNotExists: ifNotExists,
                             timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func readContainer(_ id: String, database: String, timeout: Duration?, queue: DispatchQueue,
                              completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.readResource(CosmosPaths.container(database, id), what: "container '\(id)'", timeout: timeout,
                          queue: queue, completion: completion)
    }

    @discardableResult
    public func deleteContainer(_ id: String, database: String, timeout: Duration?, queue: DispatchQueue,
                                completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.deleteResource(CosmosPaths.container(database, id), what: "container '\(id)'", timeout: timeout,
                            queue: queue, completion: completion)
    }

    @discardableResult
    public func listContainers(database: String, timeout: Duration?, queue: DispatchQueue,
                               completion: @escaping @Sendable (Result<[CosmosResourceProperties], ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.listResources(["dbs", database, "colls"], key: "DocumentCollections", what: "containers of '\(database)'",
                           timeout: timeout, queue: queue, completion: completion)
    }
}
