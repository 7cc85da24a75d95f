import AzureAuth
import Dispatch
import Logging
import ToolboxCore
import ToolboxTransport

/// What `Cosmos` and `ManagedCosmos` share: the HTTP client (and its pool), signing, retries, metadata caches
/// and session tokens. Containers of the same account reached through one client share one core.
final class CosmosCore: Sendable {
    let pipeline: CosmosPipeline
    let metadata: CosmosMetadataCache
    let options: CosmosClientOptions
    let accountEndpoint: String
    private let closing = LockedValue<[@Sendable () -> Void]?>(nil)

    /// - Parameter readiness: the container a new connection must read before it serves anyone (managed
    ///   clients); nil for connections proved by their first request.
    init(endpoint: String, authorization: CosmosAuthorization, options: CosmosClientOptions,
         httpConfiguration: HTTPClientConfiguration, readiness: (database: String, container: String)?)
        throws(ToolboxError)
    {
        let parsed: (HTTPEndpoint, String)
        do {
            let request = try HTTPRequest(url: endpoint)
            parsed = (request.endpoint, request.target)
        } catch {
            throw ToolboxError(.invalidArgument, "'\(endpoint)' is not an http:// or https:// Cosmos DB account "
                + "endpoint", underlying: error)
        }
        let authorizer = try CosmosAuthorizer(authorization, endpoint: endpoint)
        if authorizer.isToken, !parsed.0.isTLS {
            throw ToolboxError(.invalidArgument, "Entra ID tokens are only sent over HTTPS, as the Azure SDKs insist; "
                + "use the https:// endpoint (\(parsed.0.host))")
        }
        var configuration = httpConfiguration
        configuration.userAgent = options.userAgent
        // Every answer is handed to the caller's queue by `CosmosOperation` anyway: the HTTP client's own hop to
        // a callback queue would be a second thread hop per request. `CosmosCall` does only bookkeeping on the
        // connection's queue and moves large bodies off it before they are decoded.
        configuration.inlineCompletions = true
        if let caFile = options.caFile { configuration.tls.trustRoots = .file(caFile) }
        configuration.proxy = options.proxy
        if options.insecureSkipVerification { configuration.tls.verification = .noneInsecureDevelopmentOnly }
        if let readiness {
            configuration.readinessProbe = CosmosCore.probe(
                authorizer: authorizer, database: readiness.database, container: readiness.container,
                userAgent: options.userAgent)
        }
        let http: HTTPClient
        do {
            http = try HTTPClient(configuration: configuration, logger: options.logger)
        } catch {
            throw ToolboxError(.invalidConfiguration, "the Cosmos DB client's TLS settings cannot be used: \(error)",
                               underlying: error)
        }
        self.pipeline = CosmosPipeline(http: http, endpoint: parsed.0, authorizer: authorizer, options: options)
        self.metadata = CosmosMetadataCache(pipeline: pipeline)
        self.options = options
        self.accountEndpoint = endpoint
    }

    var http: HTTPClient { pipeline.http }

    func deadline(_ timeout: Duration?) -> Deadline {
        Deadline.after(timeout ?? options.timeout, on: options.clock)
    }

    /// The readiness request of managed connections: a container read, as the Python `ManagedCosmos.ready`.
    private static func probe(authorizer: CosmosAuthorizer, database: String, container: String, userAgent: String)
        -> HTTPReadinessProbe
    {
        let request = CosmosRequest(method: "GET", segments: CosmosPaths.container(database, container), isFeed: false,
                                    idempotent: true, operation: "the readiness read of container '\(container)'")
        return HTTPReadinessProbe(
            makeRequest: { endpoint, deadline, done in
                let date = CosmosRequestDate.now()
                let resource = request.signedResource
                authorizer.authorize(verb: "GET", resourceType: resource.type, resourceLink: resource.link,
                                     date: date, deadline: deadline) { result in
                    done(result.map { authorization in
                        HTTPRequest(method: "GET", endpoint: endpoint, target: request.wirePath, headers: [
                            "Accept": "application/json", "x-ms-version": "2020-07-15", "x-ms-date": date,
                            "Authorization": authorization, "x-ms-activity-id": CosmosActivityID.make(),
                            "User-Agent": userAgent,
                        ])
                    }.mapError { $0 })
                }
            },
            check: { response in
                (200..<300).contains(response.status)
                    ? nil : CosmosErrors.from(HTTPResponse(head: response.head, body: response.body),
                                              operation: request.operation)
            })
    }

    // MARK: Running requests

    /// Sends `request` after the account has been read once (it says whether to track session tokens).
    func run<T: Sendable>(_ request: CosmosRequest, timeout: Duration?, queue: DispatchQueue,
                          completion: @escaping @Sendable (Result<T, ToolboxError>) -> Void,
                          transform: @escaping @Sendable (CosmosRawResponse) throws(ToolboxError) -> T) -> any Cancellable {
        let operation = CosmosOperation<T>(request.operation, queue: queue, completion: completion)
        let deadline = self.deadline(timeout)
        withAccount(operation, deadline: deadline) { [pipeline] in
            operation.setStep(pipeline.send(request, deadline: deadline) { result in
                operation.finish(result.flatMap { response in Result { () throws(ToolboxError) in try transform(response) } })
            })
        }
        return operation
    }

    /// Runs `next` once the database account is known.
    func withAccount<T>(_ operation: CosmosOperation<T>, deadline: Deadline, _ next: @escaping @Sendable () -> Void) {
        if pipeline.isClosed {
            operation.finish(.failure(ToolboxError(.clientClosed, "\(operation.what): the Cosmos client is closed")))
            return
        }
        metadata.databaseAccount(deadline: deadline) { result in
            switch result {
            case .failure(let error): operation.finish(.failure(error))
            case .success: if !operation.isFinished { next() }
            }
        }
    }

    /// Runs `next` with the container's properties (partition key paths, `_rid`).
    func withContainer<T>(_ operation: CosmosOperation<T>, database: String, container: String, deadline: Deadline,
                          _ next: @escaping @Sendable (CosmosResourceProperties) -> Void) {
        withAccount(operation, deadline: deadline) { [metadata] in
            metadata.container(database: database, container: container, deadline: deadline) { result in
                switch result {
                case .failure(let error): operation.finish(.failure(error))
                case .success(let properties): if !operation.isFinished { next(properties) }
                }
            }
        }
    }

    // MARK: Close

    /// Closes the HTTP connections once; later operations fail with `.clientClosed`. Every caller's
    /// completion runs after the connections are closed.
    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        let deliver: @Sendable () -> Void = { queue.async(execute: completion) }
        let first = closing.withLockedValue { waiters -> Bool? in
            if waiters == nil {
                waiters = [deliver]
                return true
            }
            if waiters!.isEmpty { return nil }  // closed already
            waiters!.append(deliver)
            return false
        }
        switch first {
        case nil: deliver()
        case false?: break
        case true?:
            _ = pipeline.markClosed()
            pipeline.http.shutdown(queue: LibraryQueues.makeWorkQueue(label: "AzureCosmos.close")) { [closing] in
                let waiters = closing.withLockedValue { waiters -> [@Sendable () -> Void] in
                    defer { waiters = [] }
                    return waiters ?? []
                }
                for waiter in waiters { waiter() }
            }
        }
    }
}
