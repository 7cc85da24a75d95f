import Dispatch
import Foundation
import ToolboxCore

// Blocking forms: for scripts and code without an event loop. They throw `.blockingCallOnLibraryQueue` when
// called on a library queue instead of deadlocking.
extension CosmosContainerOperations {
    @discardableResult
    public func createItem(_ document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                           options: CosmosItemOptions = CosmosItemOptions()) throws(ToolboxError)
        -> CosmosResponse<[UInt8]>
    {
        try Blocking.waitForResult { queue, done in
            writeItem(document, partitionKey: partitionKey, upsert: false, options: options, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func upsertItem(_ document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                           options: CosmosItemOptions = CosmosItemOptions()) throws(ToolboxError)
        -> CosmosResponse<[UInt8]>
    {
        try Blocking.waitForResult { queue, done in
            writeItem(document, partitionKey: partitionKey, upsert: true, options: options, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func createItem<T: Codable & Sendable>(
        _ item: T, partitionKey: CosmosPartitionKey? = nil, options: CosmosItemOptions = CosmosItemOptions(),
        encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder()
    ) throws(ToolboxError) -> CosmosResponse<T> {
        let coders = CosmosCoding.Box((encoder, decoder))
        return try Blocking.waitForResult { queue, done in
            createItem(item, partitionKey: partitionKey, options: options, encoder: coders.value.0,
                       decoder: coders.value.1, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func upsertItem<T: Codable & Sendable>(
        _ item: T, partitionKey: CosmosPartitionKey? = nil, options: CosmosItemOptions = CosmosItemOptions(),
        encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder()
    ) throws(ToolboxError) -> CosmosResponse<T> {
        let coders = CosmosCoding.Box((encoder, decoder))
        return try Blocking.waitForResult { queue, done in
            upsertItem(item, partitionKey: partitionKey, options: options, encoder: coders.value.0,
                       decoder: coders.value.1, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func replaceItem(id: String, with document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                            options: CosmosItemOptions = CosmosItemOptions()) throws(ToolboxError)
        -> CosmosResponse<[UInt8]>
    {
        try Blocking.waitForResult { queue, done in
            replaceItem(id: id, with: document, partitionKey: partitionKey, options: options, queue: queue,
                        completion: done)
        }
    }

    @discardableResult
    public func replaceItem<T: Codable & Sendable>(
        id: String, with item: T, partitionKey: CosmosPartitionKey? = nil, options: CosmosItemOptions = CosmosItemOptions(),
        encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder()
    ) throws(ToolboxError) -> CosmosResponse<T> {
        let coders = CosmosCoding.Box((encoder, decoder))
        return try Blocking.waitForResult { queue, done in
            replaceItem(id: id, with: item, partitionKey: partitionKey, options: options, encoder: coders.value.0,
                        decoder: coders.value.1, queue: queue, completion: done)
        }
    }

    public func readItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions = CosmosItemOptions())
        throws(ToolboxError) -> CosmosResponse<[UInt8]>
    {
        try Blocking.waitForResult { queue, done in
            readItem(id: id, partitionKey: partitionKey, options: options, queue: queue, completion: done)
        }
    }

    public func readItem<T: Decodable & Sendable>(
        id: String, partitionKey: CosmosPartitionKey, as type: T.Type, options: CosmosItemOptions = CosmosItemOptions(),
        decoder: JSONDecoder = JSONDecoder()
    ) throws(ToolboxError) -> CosmosResponse<T> {
        let box = CosmosCoding.Box(decoder)
        return try Blocking.waitForResult { queue, done in
            readItem(id: id, partitionKey: partitionKey, as: type, options: options, decoder: box.value, queue: queue,
                     completion: done)
        }
    }

    @discardableResult
    public func deleteItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions = CosmosItemOptions())
        throws(ToolboxError) -> CosmosResponse<Void>
    {
        try Blocking.waitForResult { queue, done in
            deleteItem(id: id, partitionKey: partitionKey, options: options, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func patchItem(id: String, partitionKey: CosmosPartitionKey, operations: [CosmosPatchOperation],
                          condition: String? = nil, options: CosmosItemOptions = CosmosItemOptions())
        throws(ToolboxError) -> CosmosResponse<[UInt8]>
    {
        try Blocking.waitForResult { queue, done in
            patchItem(id: id, partitionKey: partitionKey, operations: operations, condition: condition,
                      options: options, queue: queue, completion: done)
        }
    }

    public func queryPage(_ query: CosmosQuery?, options: CosmosQueryOptions = CosmosQueryOptions())
        throws(ToolboxError) -> CosmosQueryPage<[UInt8]>
    {
        try Blocking.waitForResult { queue, done in queryPage(query, options: options, queue: queue, completion: done) }
    }

    public func queryItems(_ query: CosmosQuery?, options: CosmosQueryOptions = CosmosQueryOptions())
        throws(ToolboxError) -> CosmosQueryResult<[UInt8]>
    {
        try Blocking.waitForResult { queue, done in queryItems(query, options: options, queue: queue, completion: done) }
    }

    /// All results of `query`, decoded as `T`.
    public func queryItems<T: Decodable & Sendable>(_ query: CosmosQuery?, as type: T.Type,
                                                     options: CosmosQueryOptions = CosmosQueryOptions(),
                                                     decoder: JSONDecoder = JSONDecoder()) throws(ToolboxError) -> [T] {
        let raw = try queryItems(query, options: options)
        var items: [T] = []
        for bytes in raw.items { items.append(try CosmosCoding.decode(T.self, bytes, decoder)) }
        return items
    }

    public func close() throws(ToolboxError) {
        let _: Void = try Blocking.waitForResult { queue, done in close(queue: queue) { done(.success(())) } }
    }
}
