import AzureAuth
import Dispatch
import Foundation
import Logging
import ToolboxCore
import ToolboxTransport

/// One request to the Blob service, before signing: what to do to which resource.
struct BlobRequest: Sendable {
    enum Resource: Sendable {
        /// The account (`/{account}/?restype=service…`).
        case service
        /// The client's container.
        case container
        /// A blob in the client's container.
        case blob(String)
    }

    var method: String
    var resource: Resource
    /// Query parameters, not yet encoded, in the order they are sent.
    var query: [(String, String)] = []
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// An upload's block, sent instead of `body` when set (from the reader's memory, not copied).
    var upload: OutgoingBytes?
    /// Statuses that mean success.
    var expected: Set<Int>
    /// What the request does, for error messages (`uploading block 3 of 'a.bin'`). Never holds secrets.
    var operation: String
}

/// Signs, sends and retries Blob requests for one container: the engine every operation shares.
///
/// Each request is signed afresh per attempt (new `x-ms-date`, a fresh bearer token from the credential's
/// cache). A retryable answer or connection failure is retried with exponential back-off and jitter (or the
/// service's `Retry-After`) while retries and the operation's deadline last. Bodies are byte arrays, so every
/// retry can resend them.
final class BlobPipeline: Sendable {
    static let storageScope = "https://storage.azure.com/.default"

    let service: BlobServiceURL
    let containerName: String
    let credential: BlobCredential
    let options: BlobClientOptions
    let http: HTTPClient
    let logger: Logger
    private let signer: StorageSharedKeySigner?
    private let closed = LockedValue(false)
    /// Where HTTP completions run before the operation's own logic; never user code.
    /// A fresh serial queue per use (see `LibraryQueues.makeWorkQueue`), so requests still complete side by side.
    var workQueue: DispatchQueue { LibraryQueues.makeWorkQueue(label: "AzureBlobStorage.work") }

    init(service: BlobServiceURL, containerName: String, credential: BlobCredential, options: BlobClientOptions,
         http: HTTPClient, logger: Logger) throws(ToolboxError) {
        guard !containerName.isEmpty else {
            throw ToolboxError(.invalidArgument, "the container name is empty")
        }
        if case .token = credential, !service.endpoint.isTLS {
            throw ToolboxError(.invalidArgument, "a token credential needs an https:// Blob endpoint (bearer tokens "
                + "are never sent in clear text, as Azure's SDKs refuse too); \(service.accountURL) is http://")
        }
        if case .sharedKey(let account, let key) = credential {
            do {
                signer = try StorageSharedKeySigner(accountName: account, accountKey: key)
            } catch {
                throw ToolboxError(error.code, error.message, underlying: error)
            }
        } else {
            signer = nil
        }
        self.service = service
        self.containerName = containerName
        self.credential = credential
        self.options = options
        self.http = http
        self.logger = logger
    }

    var isClosed: Bool { closed.load() }

    /// The values no error may show even when the service (or something posing as it) echoes them: the account
    /// key or the SAS token (and its signature), and the `Authorization` header `request` went with (a bearer
    /// token, a shared-key signature).
    func secrets(sentWith request: HTTPRequest?) -> [String] {
        var values: [String] = []
        switch credential {
        case .sharedKey(_, let key): values.append(key.exposedValue)
        case .sas(let token): values.append(token.exposedValue)
        case .token, .anonymous: break
        }
        if let authorization = request?.headers.first(name: "Authorization") { values.append(authorization) }
        return SecretForms.of(values)
    }

    /// Marks the pipeline closed (later requests fail with `.clientClosed`) and shuts the connections down.
    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        closed.withLockedValue { $0 = true }
        http.shutdown(queue: queue, completion: completion)
    }

    /// The account name for SAS resources: the credential's, else the one in the URL.
    var accountName: String? {
        if case .sharedKey(let account, _) = credential { return account }
        return service.accountName
    }

    /// The absolute URL of the container or of a blob in it (no query).
    func url(blob: String?) -> String {
        service.endpoint.description + service.path(container: containerName, blob: blob)
    }

    // MARK: Buffered requests with retries

    /// Sends `request` (retrying as the options allow) and delivers the response when its status is expected.
    func send(_ request: BlobRequest, deadline: Deadline, tracker: BlobOperation<some Sendable>,
              completion: @escaping @Sendable (Result<HTTPResponse, ToolboxError>) -> Void) {
        attempt(request, number: 0, deadline: deadline, tracker: tracker, completion: completion)
    }

    private func attempt(_ request: BlobRequest, number: Int, deadline: Deadline, tracker: BlobOperation<some Sendable>,
                         completion: @escaping @Sendable (Result<HTTPResponse, ToolboxError>) -> Void) {
        launch(request, body: request.upload?.body ?? .bytes(request.body), tracker: tracker, failed: { completion(.failure($0)) }) {
            [self] httpRequest, ended in
            http.execute(httpRequest, deadline: tryDeadline(deadline), queue: workQueue) { [self] result in
                ended()
                observe(request, status: try? result.get().status)
                let failure: ToolboxError
                let retryable: Bool
                switch result {
                case .success(let response) where request.expected.contains(response.status):
                    return completion(.success(response))
                case .success(let response):
                    let secrets = secrets(sentWith: httpRequest)
                    failure = BlobErrors.from(response.redacting(secrets), operation: request.operation).redacting(secrets)
                    retryable = BlobErrors.isRetryable(status: response.status)
                case .failure(let error):
                    failure = BlobErrors.from(error, operation: request.operation)
                    retryable = BlobErrors.isRetryable(error)
                }
                retryOrFail(failure, retryable: retryable, number: number, deadline: deadline, tracker: tracker,
                            completion: completion) { [self] in
                    attempt(request, number: number + 1, deadline: deadline, tracker: tracker, completion: completion)
                }
            }
        }
    }

    /// Builds `request` and, unless the operation ended meanwhile, starts it with `start` as a child the
    /// operation cancels while it runs; `start` must call `ended` when the request is over.
    func launch(_ request: BlobRequest, body: HTTPRequestBody, tracker: BlobOperation<some Sendable>,
                failed: @escaping @Sendable (ToolboxError) -> Void,
                start: @escaping @Sendable (HTTPRequest, _ ended: @escaping @Sendable () -> Void) -> any Cancellable) {
        build(request, body: body) { built in
            switch built {
            case .failure(let error):
                failed(error)
            case .success(let httpRequest):
                guard !tracker.isFinished else { return }
                tracker.run { ended in start(httpRequest, ended) }
            }
        }
    }

    /// Tells the test hook about an attempt.
    func observe(_ request: BlobRequest, status: Int?) {
        guard let observer = options.attemptObserver else { return }
        let comp = request.query.first { $0.0 == "comp" }?.1
        observer(BlobAttemptRecord(method: request.method, comp: comp, status: status))
    }

    /// Schedules `again` after the back-off when `failure` is retryable and retries and time remain; else fails.
    func retryOrFail(_ failure: ToolboxError, retryable: Bool, number: Int, deadline: Deadline,
                     tracker: BlobOperation<some Sendable>,
                     completion: @escaping @Sendable (Result<HTTPResponse, ToolboxError>) -> Void,
                     again: @escaping @Sendable () -> Void) {
        guard retryable, number < options.retry.maxRetries, !tracker.isFinished else {
            return completion(.failure(failure))
        }
        let delay = backoff(number: number, retryAfter: failure.serviceCondition?.retryAfter)
        guard deadline.secondsRemaining > delay.toolboxSeconds else { return completion(.failure(failure)) }
        logger.debug("retrying", metadata: ["operation": "\(failure.message)", "attempt": "\(number + 1)"])
        let clock = options.clock
        let timer = clock.schedule(at: clock.now().advanced(by: delay), on: workQueue, again)
        tracker.track(timer)
    }

    /// Exponential back-off with ±20 % jitter, or the service's `Retry-After`, capped by `maxDelay`.
    func backoff(number: Int, retryAfter: Duration?) -> Duration {
        let cap = options.retry.maxDelay
        if let retryAfter { return min(retryAfter, cap) }
        let base = options.retry.initialDelay.toolboxSeconds * pow(2, Double(min(number, 30)))
        let jittered = base * Double.random(in: 0.8...1.2)
        return min(.milliseconds(Int64(min(jittered, 86_400) * 1000)), cap)
    }

    func tryDeadline(_ deadline: Deadline) -> Deadline {
        min(deadline, Deadline.after(options.tryTimeout))
    }

    // MARK: Signing

    /// Builds the wire request: URL with encoded query (and SAS), standard headers, then the signature or a
    /// bearer token. Asynchronous because a token may have to be fetched.
    func build(_ request: BlobRequest, body: HTTPRequestBody,
               completion: @escaping @Sendable (Result<HTTPRequest, ToolboxError>) -> Void) {
        if isClosed {
            return completion(.failure(ToolboxError(.clientClosed, "the blob client for container '\(containerName)' "
                + "is closed; \(request.operation) was not started")))
        }
        var target: String
        switch request.resource {
        case .service: target = service.basePath + "/"
        case .container: target = service.path(container: containerName, blob: nil)
        case .blob(let name): target = service.path(container: containerName, blob: name)
        }
        var query = request.query.map { "\(PercentEncoding.quote($0.0, safe: ""))=\(PercentEncoding.quote($0.1, safe: ""))" }
        if case .sas(let token) = credential { query.append(token.exposedValue) }
        if let sas = service.sasInURL { query.append(sas.exposedValue) }
        if !query.isEmpty { target += "?" + query.joined(separator: "&") }

        var fields = request.headers
        fields.append(("x-ms-version", options.serviceVersion))
        fields.append(("x-ms-date", UTCDate.rfc1123(UTCDate.nowUnixSeconds())))
        fields.append(("x-ms-client-request-id", RandomUUID.string()))
        switch body {
        case .bytes(let bytes) where !bytes.isEmpty: fields.append(("Content-Length", String(bytes.count)))
        case .block(let block) where block.count > 0: fields.append(("Content-Length", String(block.count)))
        case .stream(let length?, _): fields.append(("Content-Length", String(length)))
        default: if ["PUT", "POST"].contains(request.method) { fields.append(("Content-Length", "0")) }
        }
        let method = request.method
        let endpoint = service.endpoint
        let requestTarget = target
        let finish: @Sendable ([(String, String)]) -> Void = { fields in
            var headers = HTTPHeaders(fields)
            if !headers.contains(name: "Accept") { headers.add(name: "Accept", value: "application/xml") }
            completion(.success(HTTPRequest(method: method, endpoint: endpoint, target: requestTarget, headers: headers,
                                            body: body)))
        }
        switch credential {
        case .sharedKey:
            guard let signer else { return finish(fields) }
            let authorization = signer.authorization(method: method, url: target, headers: fields)
            fields.append(("Authorization", authorization.exposedValue))
            finish(fields)
        case .token(let tokenCredential):
            let fixed = fields
            tokenCredential.token(for: [Self.storageScope], options: TokenRequestOptions(), queue: workQueue) { result in
                switch result {
                case .success(let token):
                    finish(fixed + [("Authorization", "Bearer \(token.token.exposedValue)")])
                case .failure(let error):
                    completion(.failure(ToolboxError(
                        error.code, "getting a Storage token from \(tokenCredential.credentialName) for "
                            + "\(request.operation) failed: \(error.message)", underlying: error)))
                }
            }
        case .sas, .anonymous:
            finish(fields)
        }
    }
}
