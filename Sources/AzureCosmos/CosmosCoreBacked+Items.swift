import Dispatch
import ToolboxCore

/// Item operations of the container a client is bound to: the `CosmosContainerOperations` requirements both
/// `Cosmos` and `ManagedCosmos` fulfil, run on their core.
extension CosmosCoreBacked {
    /// Create (POST), or upsert (POST with `x-ms-documentdb-is-upsert`). Without `partitionKey` the key is read
    /// from the document with the container's partition key paths, as the SDKs do.
    @discardableResult
    public func writeItem(_ document: [UInt8], partitionKey: CosmosPartitionKey?, upsert: Bool,
                          options: CosmosItemOptions, queue: DispatchQueue,
                          completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = upsert ? "upserting an item into '\(containerName)'" : "creating an item in '\(containerName)'"
        let segments = CosmosPaths.container(databaseName, containerName) + ["docs"]
        return withPartitionKey(what, body: document, partitionKey: partitionKey, options: options, queue: queue,
                                completion: completion) { key in
            var request = CosmosRequest(method: "POST", segments: segments, isFeed: true, idempotent: false,
                                        operation: what)
            request.headers = Self.itemHeaders(key, options)
            if upsert { request.headers.append(("x-ms-documentdb-is-upsert", "True")) }
            request.body = document
            return request
        }
    }

    /// Replace (PUT) the item `id` with `document`.
    @discardableResult
    public func replaceItem(id: String, with document: [UInt8], partitionKey: CosmosPartitionKey?,
                            options: CosmosItemOptions, queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "replacing item '\(id)' in '\(containerName)'"
        if let refused = refuseEmptyID(id, what, queue: queue, completion: completion) { return refused }
        return withPartitionKey(what, body: document, partitionKey: partitionKey, options: options, queue: queue,
                                completion: completion) { [self] key in
            var request = itemRequest("PUT", id: id, idempotent: false, operation: what, partitionKey: key,
                                      options: options)
            request.body = document
            return request
        }
    }

    @discardableResult
    public func readItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions, queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "reading item '\(id)' from '\(containerName)'"
        if let refused = refuseEmptyID(id, what, queue: queue, completion: completion) { return refused }
        var request = itemRequest("GET", id: id, idempotent: true, operation: what, partitionKey: partitionKey,
                                  options: options)
        request.sessionToken = options.sessionToken
        return core.run(request, timeout: options.timeout, queue: queue, completion: completion) {
            $0.response($0.body)
        }
    }

    @discardableResult
    public func deleteItem(id: String, partitionKey: CosmosPartitionKey, options: CosmosItemOptions, queue: DispatchQueue,
                           completion: @escaping @Sendable (Result<CosmosResponse<Void>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "deleting item '\(id)' from '\(containerName)'"
        if let refused = refuseEmptyID(id, what, queue: queue, completion: completion) { return refused }
        let request = itemRequest("DELETE", id: id, idempotent: false, operation: what, partitionKey: partitionKey,
                                  options: options)
        return core.run(request, timeout: options.timeout, queue: queue, completion: completion) { $0.response(()) }
    }

    /// Partial update: `{"operations": [...], "condition": "from c where ..."}` with PATCH.
    @discardableResult
    public func patchItem(id: String, partitionKey: CosmosPartitionKey, operations: [CosmosPatchOperation],
                          condition: String?, options: CosmosItemOptions, queue: DispatchQueue,
                          completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        let what = "patching item '\(id)' in '\(containerName)'"
        if let refused = refuseEmptyID(id, what, queue: queue, completion: completion) { return refused }
        guard !operations.isEmpty, operations.count <= 10 else {
            let operation = CosmosOperation<CosmosResponse<[UInt8]>>(what, queue: queue, completion: completion)
            operation.finish(.failure(ToolboxError(.invalidArgument, "\(what): a patch takes 1 to 10 operations "
                + "(got \(operations.count)), as the service allows")))
            return operation
        }
        var body: [String: CosmosJSON] = ["operations": .array(operations.map(\.json))]
        if let condition { body["condition"] = .string(condition) }
        var request = itemRequest("PATCH", id: id, idempotent: false, operation: what, partitionKey: partitionKey,
                                  options: options)
        request.headers.append(("Content-Type", "application/json-patch+json"))
        request.body = CosmosJSON.object(body).jsonBytes
        return core.run(request, timeout: options.timeout, queue: queue, completion: completion) {
            $0.response($0.body)
        }
    }

    /// An empty id names no item: the path would be the container's item feed (`…/docs//`), which the service
    /// answers with a misleading 401 (the signature was made for an item). Refused before anything is sent.
    private func refuseEmptyID<T: Sendable>(_ id: String, _ what: String, queue: DispatchQueue,
                                            completion: @escaping @Sendable (Result<T, ToolboxError>) -> Void)
        -> (any Cancellable)?
    {
        guard id.isEmpty else { return nil }
        let operation = CosmosOperation<T>(what, queue: queue, completion: completion)
        operation.finish(.failure(ToolboxError(.invalidArgument, "\(what): an item id must not be empty")))
        return operation
    }

    /// A request on item `id`, with its partition key and the options' conditions.
    private func itemRequest(_ method: String, id: String, idempotent: Bool, operation: String,
                             partitionKey: CosmosPartitionKey, options: CosmosItemOptions) -> CosmosRequest {
        var request = CosmosRequest(method: method, segments: CosmosPaths.item(databaseName, containerName, id),
                                    isFeed: false, idempotent: idempotent, operation: operation)
        request.headers = Self.itemHeaders(partitionKey, options)
        request.containerLink = CosmosPaths.containerLink(databaseName, containerName)
        return request
    }

    private static func itemHeaders(_ partitionKey: CosmosPartitionKey, _ options: CosmosItemOptions)
        -> [(String, String)]
    {
        var headers = [("x-ms-documentdb-partitionkey", partitionKey.headerValue)]
        if let ifMatch = options.ifMatch { headers.append(("If-Match", ifMatch)) }
        if let ifNoneMatch = options.ifNoneMatch { headers.append(("If-None-Match", ifNoneMatch)) }
        return headers
    }

    /// Resolves the partition key (given, or read from `body`), then sends what `make` builds.
    private func withPartitionKey(
        _ what: String, body: [UInt8], partitionKey: CosmosPartitionKey?, options: CosmosItemOptions,
        queue: DispatchQueue, completion: @escaping @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void,
        make: @escaping @Sendable (CosmosPartitionKey) -> CosmosRequest
    ) -> any Cancellable {
        let (core, database, container) = (core, databaseName, containerName)
        let operation = CosmosOperation<CosmosResponse<[UInt8]>>(what, queue: queue, completion: completion)
        let deadline = core.deadline(options.timeout)
        let link = CosmosPaths.containerLink(database, container)
        let send: @Sendable (CosmosPartitionKey) -> Void = { [pipeline = core.pipeline] key in
            var request = make(key)
            request.containerLink = link
            operation.setStep(pipeline.send(request, deadline: deadline) { result in
                operation.finish(result.map { $0.response($0.body) })
            })
        }
        if let partitionKey {
            core.withAccount(operation, deadline: deadline) { send(partitionKey) }
            return operation
        }
        core.withContainer(operation, database: database, container: container, deadline: deadline) { properties in
            do throws(ToolboxError) {
                let document = try CosmosJSON(parsing: body, what: "the item")
                let paths = properties.partitionKey?.paths ?? []
                guard !paths.isEmpty else {
                    throw ToolboxError(.invalidResponse, "container '\(container)' has no partition key paths")
                }
                send(try CosmosPartitionKey.extract(from: document, paths: paths))
            } catch {
                operation.finish(.failure(error))
            }
        }
        return operation
    }
}
