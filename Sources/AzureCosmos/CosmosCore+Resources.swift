import Dispatch
import ToolboxCore

/// Databases and containers of the account.
extension CosmosCore {
    typealias PropertiesCompletion = @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void

    func createDatabase(_ id: String, ifNotExists: Bool, timeout: Duration?, queue: DispatchQueue,
                        completion: @escaping PropertiesCompletion) -> any Cancellable {
        var create = CosmosRequest(method: "POST", segments: ["dbs"], isFeed: true, idempotent: false,
                                   operation: "creating database '\(id)'")
        create.body = CosmosJSON.object(["id": .string(id)]).jsonBytes
        let read = CosmosRequest(method: "GET", segments: CosmosPaths.database(id), isFeed: false, idempotent: true,
                                 operation: "reading database '\(id)'")
        return createResource(create, read: ifNotExists ? read : nil, what: "database '\(id)'", timeout: timeout,
                              queue: queue, completion: completion)
    }

    func createContainer(_ id: String, database: String, partitionKey: CosmosPartitionKeyDefinition, ifNotExists: Bool,
                         timeout: Duration?, queue: DispatchQueue, completion: @escaping PropertiesCompletion)
        -> any Cancellable
    {
        var create = CosmosRequest(method: "POST", segments: ["dbs", database, "colls"], isFeed: true,
                                   idempotent: false, operation: "creating container '\(id)' in '\(database)'")
        create.body = CosmosJSON.object(["id": .string(id), "partitionKey": partitionKey.json]).jsonBytes
        let read = CosmosRequest(method: "GET", segments: CosmosPaths.container(database, id), isFeed: false,
                                 idempotent: true, operation: "reading container '\(id)' of '\(database)'")
        return createResource(create, read: ifNotExists ? read : nil, what: "container '\(id)'", timeout: timeout,
                              queue: queue, completion: completion)
    }

    /// Create, or (create-if-not-exists, as the SDKs do it) read first and create only on 404, reading again
    /// if a concurrent creator won the race (409).
    private func createResource(_ create: CosmosRequest, read: CosmosRequest?, what: String, timeout: Duration?,
                                queue: DispatchQueue, completion: @escaping PropertiesCompletion) -> any Cancellable {
        let operation = CosmosOperation<CosmosResourceProperties>(create.operation, queue: queue, completion: completion)
        let deadline = self.deadline(timeout)
        let parse: @Sendable (CosmosRawResponse) -> Result<CosmosResourceProperties, ToolboxError> = { response in
            Result { () throws(ToolboxError) in
                try CosmosResourceProperties(json: try CosmosJSON(parsing: response.body, what: "the description of \(what)"),
                                             what: what)
            }
        }
        withAccount(operation, deadline: deadline) { [pipeline] in
            let doCreate: @Sendable () -> Void = {
                operation.setStep(pipeline.send(create, deadline: deadline) { result in
                    switch result {
                    case .failure(let error) where error.code == .resourceExists && read != nil:
                        operation.setStep(pipeline.send(read!, deadline: deadline) { operation.finish($0.flatMap(parse)) })
                    default:
                        operation.finish(result.flatMap(parse))
                    }
                })
            }
            guard let read else { return doCreate() }
            operation.setStep(pipeline.send(read, deadline: deadline) { result in
                switch result {
                case .failure(let error) where error.code == .resourceNotFound: doCreate()
                default: operation.finish(result.flatMap(parse))
                }
            })
        }
        return operation
    }

    func readResource(_ segments: [String], what: String, timeout: Duration?, queue: DispatchQueue,
                      completion: @escaping PropertiesCompletion) -> any Cancellable {
        let request = CosmosRequest(method: "GET", segments: segments, isFeed: false, idempotent: true,
                                    operation: "reading \(what)")
        return run(request, timeout: timeout, queue: queue, completion: completion) { response throws(ToolboxError) in
            try CosmosResourceProperties(json: try CosmosJSON(parsing: response.body, what: "the description of \(what)"),
                                         what: what)
        }
    }

    func deleteResource(_ segments: [String], what: String, timeout: Duration?, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        let request = CosmosRequest(method: "DELETE", segments: segments, isFeed: false, idempotent: false,
                                    operation: "deleting \(what)")
        if segments.count == 4 { metadata.invalidateContainer(link: segments.joined(separator: "/")) }
        return run(request, timeout: timeout, queue: queue, completion: completion) { _ in () }
    }

    /// Lists a feed (`dbs` or `dbs/x/colls`), following continuations.
    func listResources(_ segments: [String], key: String, what: String, timeout: Duration?, queue: DispatchQueue,
                       completion: @escaping @Sendable (Result<[CosmosResourceProperties], ToolboxError>) -> Void)
        -> any Cancellable
    {
        let operation = CosmosOperation<[CosmosResourceProperties]>("listing \(what)", queue: queue,
                                                                     completion: completion)
        let deadline = self.deadline(timeout)
        withAccount(operation, deadline: deadline) { [self] in
            listPage(segments, key: key, what: what, continuation: nil, collected: [], operation: operation,
                     deadline: deadline)
        }
        return operation
    }

    private func listPage(_ segments: [String], key: String, what: String, continuation: String?,
                          collected: [CosmosResourceProperties], operation: CosmosOperation<[CosmosResourceProperties]>,
                          deadline: Deadline) {
        var request = CosmosRequest(method: "GET", segments: segments, isFeed: true, idempotent: true,
                                    operation: "listing \(what)")
        if let continuation { request.headers = [("x-ms-continuation", continuation)] }
        operation.setStep(pipeline.send(request, deadline: deadline) { [self] result in
            do {
                let response = try result.get()
                let json = try CosmosJSON(parsing: response.body, what: "the list of \(what)")
                guard let list = json[key]?.arrayValue else {
                    throw ToolboxError(.invalidResponse, "the list of \(what) has no \"\(key)\" array")
                }
                var all = collected
                for entry in list { all.append(try CosmosResourceProperties(json: entry, what: what)) }
                if let next = response.header("x-ms-continuation"), !next.isEmpty {
                    // A service that keeps sending continuations would grow the list until the deadline.
                    guard next != continuation else {
                        throw ToolboxError(.invalidResponse, "listing \(what): the service answered a continuation "
                            + "with the same continuation")
                    }
                    guard all.count < 1_000_000 else {
                        throw ToolboxError(.invalidResponse, "listing \(what): more than 1,000,000 entries and still "
                            + "a continuation; stopped")
                    }
                    listPage(segments, key: key, what: what, continuation: next, collected: all, operation: operation,
                             deadline: deadline)
                } else {
                    operation.finish(.success(all))
                }
            } catch let error as ToolboxError {
                operation.finish(.failure(error))
            } catch {
                operation.finish(.failure(ToolboxError(.invalidResponse, "listing \(what): \(error)")))
            }
        })
    }
}

extension CosmosMetadataCache {
    /// Forgets a container's cached properties and ranges (after it was deleted or recreated).
    func invalidateContainer(link: String) {
        markStale(container: link, subStatus: CosmosSubStatus.nameCacheIsStale)
    }
}
