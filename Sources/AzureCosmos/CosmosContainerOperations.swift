import Dispatch
import Foundation
import ToolboxCore

/// The Cosmos DB container role: what `Cosmos` (connections on demand) and `ManagedCosmos` (a pool of ready
/// connections) do with the items of the container they are bound to, as a protocol your code can depend on and
/// your tests can stub.
///
/// The requirements are the completion forms on raw JSON bytes. Each returns a `Cancellable` and calls its
/// completion exactly once, on `queue`, never under a library lock. The extensions add `Codable` forms (with
/// your `JSONEncoder`/`JSONDecoder`), defaults, and blocking forms (which refuse to run on a library queue); the
/// `async` forms come from `AzureClientsToolboxAsync`.
///
/// ```swift
/// let cosmos = try ManagedCosmos(endpoint: endpoint, credential: DefaultAzureCredential(), databaseName: "db",
///                                containerName: "orders")
/// let created = try cosmos.createItem(Order(id: "1", tenant: "a"))
/// let order: Order = try cosmos.readItem(id: "1", partitionKey: "a").value
/// ```
public protocol CosmosContainerOperations: AnyObject, Sendable {
    var databaseName: String { get }
    var containerName: String { get }

    /// Creates the item (`upsert: false`; 409 `.resourceExists` if the id is taken) or creates/replaces it
    /// (`upsert: true`). Without `partitionKey` the key is read from the document.
    @discardableResult
    func writeItem(_ document: [UInt8], partitionKey: CosmosPartitionKey?, upsert: Bool, options: CosmosItemOptions,
                   queue: DispatchQueue,
                   completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable

    /// Replaces item `id` with `document`; with `options.ifMatch`, only if its ETag still matches
    /// (else `.preconditionFailed`).
    @discardableResult
    func replaceItem(id: String, with document: [UInt8], partitionKey: CosmosPartitionKey?,
                     options: CosmosItemOptions, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable

    /// Reads item `id` (`.resourceNotFound` if it does not exist).
    @discardableResult
    func readItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions, queue: DispatchQueue,
                  completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable

    /// Deletes item `id`.
    @discardableResult
    func deleteItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions, queue: DispatchQueue,
                    completion: @escaping @Sendable (Result<CosmosResponse<Void>, ToolboxError>) -> Void)
        -> any Cancellable

    /// Applies up to 10 patch operations; with `condition` (`"from c where c.n > 3"`) only if it holds
    /// (else `.preconditionFailed`).
    @discardableResult
    func patchItem(id: String, partitionKey: CosmosPartitionKey, operations: [CosmosPatchOperation],
                   condition: String?, options: CosmosItemOptions, queue: DispatchQueue,
                   completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable

    /// One page of a SQL query (nil: a read feed of all items). Cross-partition when
    /// `options.partitionKey` is nil. Pass the page's `continuation` back for the next one.
    @discardableResult
    func queryPage(_ query: CosmosQuery?, options: CosmosQueryOptions, queue: DispatchQueue,
                   completion: @escaping @Sendable (Result<CosmosQueryPage<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable

    /// Closes the client's connections; later calls fail with `.clientClosed`. Idempotent; `completion` runs once
    /// everything is closed.
    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void)
}

// MARK: - Completion forms with defaults and Codable

extension CosmosContainerOperations {
    @discardableResult
    public func createItem(_ document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                           options: CosmosItemOptions = CosmosItemOptions(),
                           queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                           completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        writeItem(document, partitionKey: partitionKey, upsert: false, options: options, queue: queue,
                  completion: completion)
    }

    @discardableResult
    public func upsertItem(_ document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                           options: CosmosItemOptions = CosmosItemOptions(),
                           queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                           completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        writeItem(document, partitionKey: partitionKey, upsert: true, options: options, queue: queue,
                  completion: completion)
    }

    @discardableResult
    public func replaceItem(id: String, with document: [UInt8], partitionKey: CosmosPartitionKey? = nil,
                            options: CosmosItemOptions = CosmosItemOptions(),
                            completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        replaceItem(id: id, with: document, partitionKey: partitionKey, options: options, queue: LibraryQueues.defaultCallbackQueue,
                    completion: completion)
    }

    @discardableResult
    public func readItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions = CosmosItemOptions(),
                         completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        readItem(id: id, partitionKey: partitionKey, options: options, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    @discardableResult
    public func deleteItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions = CosmosItemOptions(),
                             completion: @escaping @Sendable (Result<CosmosResponse<Void>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        deleteItem(id: id, partitionKey: partitionKey, options: options, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    @discardableResult
    public func patchItem(id: String, partitionKey: CosmosPartitionKey, operations: [CosmosPatchOperation],
                          condition: String? = nil, options: CosmosItemOptions = CosmosItemOptions(),
                           completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        patchItem(id: id, partitionKey: partitionKey, operations: operations, condition: condition, options: options,
                  queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    @discardableResult
    public func queryPage(_ query: CosmosQuery?, options: CosmosQueryOptions = CosmosQueryOptions(),
                           completion: @escaping @Sendable (Result<CosmosQueryPage<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        queryPage(query, options: options, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Creates `item`, encoded with `encoder`; the stored item comes back decoded with `decoder`.
    @discardableResult
    public func createItem<T: Codable & Sendable>(
        _ item: T, partitionKey: CosmosPartitionKey? = nil, options: CosmosItemOptions = CosmosItemOptions(),
        encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder(),
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<CosmosResponse<T>, ToolboxError>) -> Void
    ) -> any Cancellable {
        codable(item, encoder: encoder, decoder: decoder, queue: queue, completion: completion) { bytes, done in
            writeItem(bytes, partitionKey: partitionKey, upsert: false, options: options, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func upsertItem<T: Codable & Sendable>(
        _ item: T, partitionKey: CosmosPartitionKey? = nil, options: CosmosItemOptions = CosmosItemOptions(),
        encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder(),
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<CosmosResponse<T>, ToolboxError>) -> Void
    ) -> any Cancellable {
        codable(item, encoder: encoder, decoder: decoder, queue: queue, completion: completion) { bytes, done in
            writeItem(bytes, partitionKey: partitionKey, upsert: true, options: options, queue: queue, completion: done)
        }
    }

    @discardableResult
    public func replaceItem<T: Codable & Sendable>(
        id: String, with item: T, partitionKey: CosmosPartitionKey? = nil, options: CosmosItemOptions = CosmosItemOptions(),
        encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder(),
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<CosmosResponse<T>, ToolboxError>) -> Void
    ) -> any Cancellable {
        codable(item, encoder: encoder, decoder: decoder, queue: queue, completion: completion) { bytes, done in
            replaceItem(id: id, with: bytes, partitionKey: partitionKey, options: options, queue: queue, completion: done)
        }
    }

    /// Reads item `id` and decodes it as `T`.
    @discardableResult
    public func readItem<T: Decodable & Sendable>(
        id: String, partitionKey: CosmosPartitionKey, as type: T.Type, options: CosmosItemOptions = CosmosItemOptions(),
        decoder: JSONDecoder = JSONDecoder(), queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<CosmosResponse<T>, ToolboxError>) -> Void
    ) -> any Cancellable {
        readItem(id: id, partitionKey: partitionKey, options: options, queue: queue) { result in
            completion(result.flatMap { response in Result { () throws(ToolboxError) in
                try response.map { bytes throws(ToolboxError) in try CosmosCoding.decode(T.self, bytes, decoder) }
            } })
        }
    }

    /// Runs every page of `query` and collects the results.
    ///
    /// `options.timeout`, when given, bounds the whole query — every page, each page's requests and retries —
    /// not each page: a service that keeps answering empty pages with a new continuation ends in `.timedOut`.
    /// Without it each page may take `CosmosClientOptions.timeout`.
    @discardableResult
    public func queryItems(_ query: CosmosQuery?, options: CosmosQueryOptions = CosmosQueryOptions(),
                           queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                           completion: @escaping @Sendable (Result<CosmosQueryResult<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let handle = CancellableSlot()  // the page in flight
        let deadline = options.timeout.map { Deadline.after($0) }
        collectPages(query, options: options, deadline: deadline, queue: queue, handle: handle,
                     collected: CosmosQueryResult(items: [], pages: 0, requestCharge: 0),
                     followed: CosmosContinuationLog(start: options.continuation), completion: completion)
        return handle
    }

    private func collectPages(_ query: CosmosQuery?, options: CosmosQueryOptions, deadline: Deadline?,
                              queue: DispatchQueue, handle: CancellableSlot, collected: CosmosQueryResult<[UInt8]>,
                              followed: CosmosContinuationLog,
                              completion: @escaping @Sendable (Result<CosmosQueryResult<[UInt8]>, ToolboxError>) -> Void) {
        var pageOptions = options
        if let deadline {
            let remaining = deadline.secondsRemaining
            guard remaining > 0 else {
                let error = ToolboxError(.timedOut, "the query did not end within its timeout "
                    + "(\(collected.pages) pages and \(collected.items.count) results read)")
                queue.async { completion(.failure(error)) }
                return
            }
            pageOptions.timeout = .clampingSeconds(remaining)
        }
        handle.set(queryPage(query, options: pageOptions, queue: queue) { result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let page):
                var followed = followed
                do throws(ToolboxError) {
                    try followed.follow(page.continuation, page: collected.pages + 1, what: "the query")
                } catch {
                    return completion(.failure(error))
                }
                var all = collected
                all.items += page.items
                all.pages += 1
                all.requestCharge += page.requestCharge
                guard let next = page.continuation else { return completion(.success(all)) }
                var options = options
                options.continuation = next
                self.collectPages(query, options: options, deadline: deadline, queue: queue, handle: handle,
                                  collected: all, followed: followed, completion: completion)
            }
        })
    }

    public func close(completion: @escaping @Sendable () -> Void) {
        close(queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    private func codable<T: Codable & Sendable>(
        _ item: T, encoder: JSONEncoder, decoder: JSONDecoder, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<CosmosResponse<T>, ToolboxError>) -> Void,
        start: (_ bytes: [UInt8], _ done: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
            -> any Cancellable
    ) -> any Cancellable {
        let bytes: [UInt8]
        do {
            bytes = try CosmosCoding.encode(item, encoder)
        } catch {
            queue.async { completion(.failure(error)) }
            return CompletedOperation()
        }
        let decoder = CosmosCoding.Box(decoder)
        return start(bytes) { result in
            completion(result.flatMap { response in Result { () throws(ToolboxError) in
                try response.map { bytes throws(ToolboxError) in try CosmosCoding.decode(T.self, bytes, decoder.value) }
            } })
        }
    }
}

/// `Codable` through the caller's encoder and decoder, with typed errors.
enum CosmosCoding {
    /// JSONEncoder/JSONDecoder are classes without a Sendable promise; the client only uses them from one
    /// operation at a time, as the caller handed them over.
    struct Box<T>: @unchecked Sendable {
        // @unchecked Sendable: the coder is used by one completion only, after the caller gave it up.
        let value: T
        init(_ value: T) { self.value = value }
    }

    static func encode<T: Encodable>(_ item: T, _ encoder: JSONEncoder) throws(ToolboxError) -> [UInt8] {
        // Raw JSON bytes are Codable too (as an array of numbers): whichever overload Swift picked, bytes stay the
        // document they are.
        if let bytes = item as? [UInt8] { return bytes }
        if let data = item as? Data { return Array(data) }
        do {
            return Array(try encoder.encode(item))
        } catch {
            throw ToolboxError(.invalidArgument, "the item cannot be encoded as JSON: \(error)", underlying: error)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ decoder: JSONDecoder) throws(ToolboxError) -> T {
        if let raw = bytes as? T { return raw }
        if let data = Data(bytes) as? T { return data }
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch {
            throw ToolboxError(.invalidResponse, "the item does not decode as \(T.self): \(error)", underlying: error)
        }
    }
}
