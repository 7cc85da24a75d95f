import Dispatch
import ToolboxCore

/// Item operations of one container.
extension CosmosCore {
    typealias ItemCompletion = @Sendable (Result<CosmosResponse<[UInt8]>, ToolboxError>) -> Void

    private func itemHeaders(_ partitionKey: CosmosPartitionKey, _ options: CosmosItemOptions) -> [(String, String)] {
        var headers = [("x-ms-documentdb-partitionkey", partitionKey.headerValue)]
        if let ifMatch = options.ifMatch { headers.append(("If-Match", ifMatch)) }
        if let ifNoneMatch = options.ifNoneMatch { headers.append(("If-None-Match", ifNoneMatch)) }
        return headers
    }

    /// Create (POST), or upsert (POST with `x-ms-documentdb-is-upsert`). Without `partitionKey` the key is read
    /// from the document with the container's partition key paths, as the SDKs do.
    func writeItem(database: String, container: String, body: [UInt8], partitionKey: CosmosPartitionKey?,
                   upsert: Bool, options: CosmosItemOptions, queue: DispatchQueue,
                   completion: @escaping ItemCompletion) -> any Cancellable {
        let what = upsert ? "upserting an item into '\(container)'" : "creating an item in '\(container)'"
        return withPartitionKey(what, database: database, container: container, body: body,
                                partitionKey: partitionKey, options: options, queue: queue, completion: completion) {
            [self] key in
            var request = CosmosRequest(method: "POST", segments: CosmosPaths.container(database, container) + ["docs"],
                                        isFeed: true, idempotent: false, operation: what)
            request.headers = itemHeaders(key, options)
            if upsert { request.headers.append(("x-ms-documentdb-is-upsert", "True")) }
            request.body = body
            return request
        }
    }

    /// Replace (PUT) the item `id` with `body`.
    func replaceItem(database: String, container: String, id: String, body: [UInt8],
                     partitionKey: CosmosPartitionKey?, options: CosmosItemOptions, queue: DispatchQueue,
                     completion: @escaping ItemCompletion) -> any Cancellable {
        let what = "replacing item '\(id)' in '\(container)'"
        return withPartitionKey(what, database: database, container: container, body: body,
                                partitionKey: partitionKey, options: options, queue: queue, completion: completion) {
            [self] key in
            var request = CosmosRequest(method: "PUT", segments: CosmosPaths.item(database, container, id),
                                        isFeed: false, idempotent: false, operation: what)
            request.headers = itemHeaders(key, options)
            request.body = body
            return request
        }
    }

    func readItem(database: String, container: String, id: String, partitionKey: CosmosPartitionKey,
                  options: CosmosItemOptions, queue: DispatchQueue, completion: @escaping ItemCompletion)
        -> any Cancellable
    {
        var request = CosmosRequest(method: "GET", segments: CosmosPaths.item(database, container, id), isFeed: false,
                                    idempotent: true, operation: "reading item '\(id)' from '\(container)'")
        request.headers = itemHeaders(partitionKey, options)
        request.containerLink = CosmosPaths.containerLink(database, container)
        request.sessionToken = options.sessionToken
        return run(request, timeout: options.timeout, queue: queue, completion: completion) { $0.response($0.body) }
    }

    func deleteItem(database: String, container: String, id: String, partitionKey: CosmosPartitionKey,
                    options: CosmosItemOptions, queue: DispatchQueue,
                    completion: @escaping @Sendable (Result<CosmosResponse<Void>, ToolboxError>) -> Void)
        -> any Cancellable
    {
        var request = CosmosRequest(method: "DELETE", segments: CosmosPaths.item(database, container, id),
                                    isFeed: false, idempotent: false, operation: "deleting item '\(id)' from '\(container)'")
        request.headers = itemHeaders(partitionKey, options)
        request.containerLink = CosmosPaths.containerLink(database, container)
        return run(request, timeout: options.timeout, queue: queue, completion: completion) { $0.response(()) }
    }

    /// Partial update: `{"operations": [...], "condition": "from c where ..."}` with PATCH.
    func patchItem(database: String, container: String, id: String, partitionKey: CosmosPartitionKey,
                   operations: [CosmosPatchOperation], condition: String?, options: CosmosItemOptions,
                   queue: DispatchQueue, completion: @escaping ItemCompletion) -> any Cancellable {
        let what = "patching item '\(id)' in '\(container)'"
        guard !operations.isEmpty, operations.count <= 10 else {
            let operation = CosmosOperation<CosmosResponse<[UInt8]>>(what, queue: queue, completion: completion)
            operation.finish(.failure(ToolboxError(.invalidArgument, "\(what): a patch takes 1 to 10 operations "
                + "(got \(operations.count)), as the service allows")))
            return operation
        }
        var body: [String: CosmosJSON] = ["operations": .array(operations.map(\.json))]
        if let condition { body["condition"] = .string(condition) }
        var request = CosmosRequest(method: "PATCH", segments: CosmosPaths.item(database, container, id),
                                    isFeed: false, idempotent: false, operation: what)
        request.headers = itemHeaders(partitionKey, options) + [("Content-Type", "application/json-patch+json")]
        request.body = CosmosJSON.object(body).jsonBytes
        request.containerLink = CosmosPaths.containerLink(database, container)
        return run(request, timeout: options.timeout, queue: queue, completion: completion) { $0.response($0.body) }
    }

    /// Resolves the partition key (given, or read from `body`), then sends what `make` builds.
    private func withPartitionKey(
        _ what: String, database: String, container: String, body: [UInt8], partitionKey: CosmosPartitionKey?,
        options: CosmosItemOptions, queue: DispatchQueue, completion: @escaping ItemCompletion,
        make: @escaping @Sendable (CosmosPartitionKey) -> CosmosRequest
    ) -> any Cancellable {
        let operation = CosmosOperation<CosmosResponse<[UInt8]>>(what, queue: queue, completion: completion)
        let deadline = self.deadline(options.timeout)
        let link = CosmosPaths.containerLink(database, container)
        let send: @Sendable (CosmosPartitionKey) -> Void = { [pipeline] key in
            var request = make(key)
            request.containerLink = link
            operation.setStep(pipeline.send(request, deadline: deadline) { result in
                operation.finish(result.map { $0.response($0.body) })
            })
        }
        if let partitionKey {
            withAccount(operation, deadline: deadline) { send(partitionKey) }
            return operation
        }
        withContainer(operation, database: database, container: container, deadline: deadline) { properties in
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
