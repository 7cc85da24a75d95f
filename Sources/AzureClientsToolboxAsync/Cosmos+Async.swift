import AzureCosmos
import Dispatch
import Foundation
import ToolboxCore

// async/await forms of the Cosmos DB roles: bridges onto the completion forms; Task cancellation cancels the
// operation through its handle.
extension CosmosContainerOperations {
    @discardableResult
    public func createItem(_ document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                           options: CosmosItemOptions = CosmosItemOptions()) async throws(ToolboxError)
        -> CosmosResponse<[UInt8]>
    {
        try await awaitOperation {
            writeItem(document, partitionKey: partitionKey, upsert: false, options: options, queue: asyncDeliveryQueue,
                      completion: $0)
        }
    }

    @discardableResult
    public func upsertItem(_ document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                           options: CosmosItemOptions = CosmosItemOptions()) async throws(ToolboxError)
        -> CosmosResponse<[UInt8]>
    {
        try await awaitOperation {
            writeItem(document, partitionKey: partitionKey, upsert: true, options: options, queue: asyncDeliveryQueue,
                      completion: $0)
        }
    }

    @discardableResult
    public func createItem<T: Codable & Sendable>(_ item: T, partitionKey: CosmosPartitionKey? = nil,
                                                  options: CosmosItemOptions = CosmosItemOptions())
        async throws(ToolboxError) -> CosmosResponse<T>
    {
        try await awaitOperation {
            createItem(item, partitionKey: partitionKey, options: options, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    @discardableResult
    public func upsertItem<T: Codable & Sendable>(_ item: T, partitionKey: CosmosPartitionKey? = nil,
                                                  options: CosmosItemOptions = CosmosItemOptions())
        async throws(ToolboxError) -> CosmosResponse<T>
    {
        try await awaitOperation {
            upsertItem(item, partitionKey: partitionKey, options: options, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    @discardableResult
    public func replaceItem(id: String, with document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                            options: CosmosItemOptions = CosmosItemOptions()) async throws(ToolboxError)
        -> CosmosResponse<[UInt8]>
    {
        try await awaitOperation {
            replaceItem(id: id, with: document, partitionKey: partitionKey, options: options, queue: asyncDeliveryQueue,
                        completion: $0)
        }
    }

    public func readItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions = CosmosItemOptions())
        async throws(ToolboxError) -> CosmosResponse<[UInt8]>
    {
        try await awaitOperation {
            readItem(id: id, partitionKey: partitionKey, options: options, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func readItem<T: Decodable & Sendable>(id: String, partitionKey: CosmosPartitionKey, as type: T.Type,
                                                  options: CosmosItemOptions = CosmosItemOptions())
        async throws(ToolboxError) -> CosmosResponse<T>
    {
        try await awaitOperation {
            readItem(id: id, partitionKey: partitionKey, as: type, options: options, queue: asyncDeliveryQueue,
                     completion: $0)
        }
    }

    @discardableResult
    public func deleteItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions = CosmosItemOptions())
        async throws(ToolboxError) -> CosmosResponse<Void>
    {
        try await awaitOperation {
            deleteItem(id: id, partitionKey: partitionKey, options: options, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    @discardableResult
    public func patchItem(id: String, partitionKey: CosmosPartitionKey, operations: [CosmosPatchOperation],
                          condition: String? = nil, options: CosmosItemOptions = CosmosItemOptions())
        async throws(ToolboxError) -> CosmosResponse<[UInt8]>
    {
        try await awaitOperation {
            patchItem(id: id, partitionKey: partitionKey, operations: operations, condition: condition,
                      options: options, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func queryPage(_ query: CosmosQuery?, options: CosmosQueryOptions = CosmosQueryOptions())
        async throws(ToolboxError) -> CosmosQueryPage<[UInt8]>
    {
        try await awaitOperation { queryPage(query, options: options, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func queryItems(_ query: CosmosQuery?, options: CosmosQueryOptions = CosmosQueryOptions())
        async throws(ToolboxError) -> CosmosQueryResult<[UInt8]>
    {
        try await awaitOperation { queryItems(query, options: options, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// Closes the client; never throws.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            close(queue: asyncDeliveryQueue) { continuation.resume() }
        }
    }
}

extension CosmosAccountOperations {
    @discardableResult
    public func createDatabase(_ id: String, ifNotExists: Bool = false, timeout: Duration? = nil)
        async throws(ToolboxError) -> CosmosResourceProperties
    {
        try await awaitOperation {
            createDatabase(id, ifNotExists: ifNotExists, timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    @discardableResult
    public func createContainer(_ id: String, database: String, partitionKey: CosmosPartitionKeyDefinition,
                                ifNotExists: Bool = false, timeout: Duration? = nil)
        async throws(ToolboxError) -> CosmosResourceProperties
    {
        try await awaitOperation {
            createContainer(id, database: database, partitionKey: partitionKey, ifNotExists: ifNotExists,
                            timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func deleteDatabase(_ id: String, timeout: Duration? = nil) async throws(ToolboxError) {
        try await awaitOperation { deleteDatabase(id, timeout: timeout, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func deleteContainer(_ id: String, database: String, timeout: Duration? = nil) async throws(ToolboxError) {
        try await awaitOperation {
            deleteContainer(id, database: database, timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func listContainers(database: String, timeout: Duration? = nil) async throws(ToolboxError)
        -> [CosmosResourceProperties]
    {
        try await awaitOperation {
            listContainers(database: database, timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }
}

extension ManagedCosmos {
    /// Opens up to `connections` ready connections ahead of need (not cancellable).
    @discardableResult
    public func warmUp(connections: Int) async throws(ToolboxError) -> Int {
        try await awaitUncancellable { warmUp(connections: connections, queue: asyncDeliveryQueue, completion: $0) }
    }
}
