import AzureAuth
import Dispatch
import Logging
import ToolboxCore
import ToolboxTransport

/// An answer from the gateway, with what the retries cost.
struct CosmosRawResponse: Sendable {
    var http: HTTPResponse
    /// Request charge summed over every try.
    var requestCharge: Double
    var activityID: String?

    var status: Int { http.status }
    var body: [UInt8] { http.body }
    func header(_ name: String) -> String? { http.headers.first(name: name) }

    func response<T: Sendable>(_ value: T) -> CosmosResponse<T> {
        CosmosResponse(value: value, status: http.status, requestCharge: requestCharge, activityID: activityID,
                       etag: header("etag"), sessionToken: header("x-ms-session-token"))
    }
}

/// Sends `CosmosRequest`s: signs them, and retries per `CosmosRetryOptions` (429 after `x-ms-retry-after-ms`
/// within the wait cap, 449, 410 with a metadata refresh, 404/1002, connection failures and 503 for idempotent
/// requests).
final class CosmosPipeline: Sendable {
    let http: HTTPClient
    let endpoint: HTTPEndpoint
    let authorizer: CosmosAuthorizer
    let options: CosmosClientOptions
    let sessions = CosmosSessionTokens()
    /// Called on 410 answers that say cached routing or container metadata is stale.
    let staleMetadata = LockedValue<(@Sendable (_ containerLink: String, _ subStatus: Int?) -> Void)?>(nil)
    /// Whether the account's consistency is Session (then session tokens are tracked and sent).
    let sessionConsistency = LockedValue(false)
    let clientID = CosmosActivityID.make()
    private let closed = LockedValue(false)

    init(http: HTTPClient, endpoint: HTTPEndpoint, authorizer: CosmosAuthorizer, options: CosmosClientOptions) {
        self.http = http
        self.endpoint = endpoint
        self.authorizer = authorizer
        self.options = options
    }

    var isClosed: Bool { closed.load() }

    func markClosed() -> Bool {
        closed.withLockedValue { closed in
            defer { closed = true }
            return !closed
        }
    }

    /// Sends `request` until it succeeds, fails for good, or `deadline` passes. `completion` runs once, on an
    /// arbitrary library queue.
    @discardableResult
    func send(_ request: CosmosRequest, deadline: Deadline,
              completion: @escaping @Sendable (Result<CosmosRawResponse, ToolboxError>) -> Void) -> any Cancellable {
        let call = CosmosCall(pipeline: self, request: request, deadline: deadline, completion: completion)
        if isClosed {
            call.finish(.failure(ToolboxError(.clientClosed, "\(request.operation): the Cosmos client is closed")))
            return call
        }
        call.attempt()
        return call
    }

    /// The signed HTTP request for one try.
    func build(_ request: CosmosRequest, deadline: Deadline,
               completion: @escaping @Sendable (Result<HTTPRequest, ToolboxError>) -> Void) {
        let date = CosmosRequestDate.now()
        let resource = request.signedResource
        let endpoint = self.endpoint
        // Like the SDKs, session tokens go out on reads and queries (writes establish them, they need none).
        let sessionToken = request.sessionToken ?? (sessionConsistency.load() && request.idempotent
            ? request.containerLink.flatMap { sessions.token(container: $0, rangeID: request.rangeID) } : nil)
        let consistency = options.consistencyLevel
        let userAgent = options.userAgent
        let clientID = self.clientID
        authorizer.authorize(verb: request.method, resourceType: resource.type, resourceLink: resource.link,
                             date: date, deadline: deadline) { result in
            completion(result.map { authorization in
                var headers = HTTPHeaders()
                headers.add(name: "Accept", value: "application/json")
                headers.add(name: "Cache-Control", value: "no-cache")
                headers.add(name: "x-ms-version", value: "2020-07-15")
                headers.add(name: "x-ms-date", value: date)
                headers.add(name: "Authorization", value: authorization)
                headers.add(name: "x-ms-activity-id", value: CosmosActivityID.make())
                headers.add(name: "x-ms-client-id", value: clientID)
                headers.add(name: "User-Agent", value: userAgent)
                if let consistency { headers.add(name: "x-ms-consistency-level", value: consistency) }
                if let sessionToken { headers.add(name: "x-ms-session-token", value: sessionToken) }
                for (name, value) in request.headers { headers.add(name: name, value: value) }
                var body = HTTPRequestBody.empty
                if let bytes = request.body {
                    body = .bytes(bytes)
                    if !headers.contains(name: "Content-Type") {
                        headers.add(name: "Content-Type", value: "application/json")
                    }
                }
                return HTTPRequest(method: request.method, endpoint: endpoint, target: request.wirePath,
                                   headers: headers, body: body)
            })
        }
    }
}

/// One operation's tries: the retry state machine behind `CosmosPipeline.send`.
final class CosmosCall: Cancellable, @unchecked Sendable {
    // @unchecked Sendable: the mutable state (`state`) is a LockedValue; the rest is immutable.
    private struct State {
        var throttleRetries = 0
        var throttleWaited: Duration = .zero
        var transientRetries = 0
        var connectionRetries = 0
        var charge = 0.0
    }

    /// Bodies up to this size are passed on from the connection's queue directly (point reads and writes).
    static let inlineBodyLimit = 16 * 1024

    private let pipeline: CosmosPipeline
    private let request: CosmosRequest
    private let deadline: Deadline
    private let once: CompletionOnce<Result<CosmosRawResponse, ToolboxError>>
    private let state = LockedValue(State())
    /// The try or the retry timer in progress.
    private let current = CancellableSlot()

    init(pipeline: CosmosPipeline, request: CosmosRequest, deadline: Deadline,
         completion: @escaping @Sendable (Result<CosmosRawResponse, ToolboxError>) -> Void) {
        self.pipeline = pipeline
        self.request = request
        self.deadline = deadline
        self.once = CompletionOnce(completion)
    }

    func finish(_ result: Result<CosmosRawResponse, ToolboxError>) {
        once.complete(result)
    }

    func cancel() {
        current.cancel()
        finish(.failure(ToolboxError(.cancelled, "\(request.operation) was cancelled")))
    }

    func attempt() {
        if once.isCompleted { return }
        if deadline.hasPassed {
            finish(.failure(ToolboxError(.timedOut, "\(request.operation) did not finish before its deadline")))
            return
        }
        pipeline.build(request, deadline: deadline) { [self] built in
            switch built {
            case .failure(let error):
                finish(.failure(error))
            case .success(let http):
                // The client runs completions inline on the connection's queue (CosmosCore), so `queue` is unused.
                let authorization = http.headers.first(name: "Authorization")
                let step = pipeline.http.execute(http, deadline: deadline, queue: LibraryQueues.ignoredCompletions) {
                    [self] result in
                    handle(result, authorization: authorization)
                }
                current.set(step)
            }
        }
    }

    private func handle(_ result: Result<HTTPResponse, TransportError>, authorization: String?) {
        switch result {
        case .failure(let error):
            if error.code == .cancelled {
                finish(.failure(ToolboxError(.cancelled, "\(request.operation) was cancelled")))
                return
            }
            if let status = error.serviceCondition?.httpStatus {
                // A managed connection's readiness read was refused: the service's answer, not a network failure.
                // Throttling and the other transient answers are ridden out like any request's; a missing container
                // or a bad key fails at once.
                var refused = error
                refused.message = "\(request.operation): \(error.message)"
                if !retried(status: status, error: refused) { finish(.failure(refused)) }
                return
            }
            // A request that never left (connect refused or failed) is safe to repeat even when it writes.
            let neverSent = error.code == .connectionRefused || error.code == .connectFailed
                || error.code == .resolutionFailed
            let retryable = error.code != .closedLocally && error.code != .timedOut
                && (request.idempotent || neverSent) && error.code != .tlsConfigurationInvalid
                && error.code != .httpBodyTooLarge  // the same answer again would not fit either
            if retryable, takeRetry(\.connectionRetries, limit: pipeline.options.retry.maxConnectionRetries) {
                pipeline.options.logger.debug("retrying after a connection failure",
                                              metadata: ["operation": "\(request.operation)", "error": "\(error.code)"])
                retry(after: backoff(state.load().connectionRetries))
                return
            }
            finish(.failure(CosmosErrors.transport(error, operation: request.operation)))
        case .success(let response):
            process(response, authorization: authorization)
        }
    }

    /// The largest `x-ms-request-charge` believed; the service charges far less for any one request.
    static let maxRequestCharge = 1_000_000.0

    private func process(_ response: HTTPResponse, authorization: String?) {
        // A charge that is not a number from 0 to 1,000,000 RU (inf, nan, 1e308, negative) is ignored: summed over
        // pages and retries it would make every total infinite.
        let charge = response.headers.first(name: "x-ms-request-charge").flatMap { Double($0) }
            .flatMap { (0...Self.maxRequestCharge).contains($0) ? $0 : nil } ?? 0
        let total = state.withLockedValue { state -> Double in
            state.charge += charge
            return state.charge
        }
        if let link = request.containerLink, let token = response.headers.first(name: "x-ms-session-token") {
            pipeline.sessions.record(container: link, header: token)
        }
        let status = response.status
        if (200..<300).contains(status) || request.acceptedStatuses.contains(status) {
            let raw = CosmosRawResponse(http: response, requestCharge: total,
                                        activityID: response.headers.first(name: "x-ms-activity-id"))
            // This runs on the connection's queue (inline completions): a page big enough to take a while to
            // decode (queries, feeds) is handed on before the operation's continuation decodes it.
            if response.body.count > Self.inlineBodyLimit {
                LibraryQueues.makeWorkQueue(label: "AzureCosmos.page").async { [self] in finish(.success(raw)) }
            } else {
                finish(.success(raw))
            }
            return
        }
        // The key, and the authorization the request went with (a signature, or a token for Entra ID), never come
        // back in an error: blanked out of the answer before any of it is read or cut short.
        let secrets = SecretForms.of(pipeline.authorizer.secrets + (authorization.map { [$0] } ?? []))
        var error = CosmosErrors.from(response.redacting(secrets), operation: request.operation).redacting(secrets)
        if retried(status: status, error: error) { return }
        if status == 429 {
            error.message += " (still throttled after \(state.load().throttleRetries) retries)"
        }
        finish(.failure(error))
    }

    /// Schedules the next try when the answer `status` calls for one and the budget allows; false otherwise.
    private func retried(status: Int, error: ToolboxError) -> Bool {
        let subStatus = error.serviceCondition?.subStatus
        let retry = pipeline.options.retry
        switch status {
        case 429:
            let wait = error.serviceCondition?.retryAfter ?? backoff(state.load().throttleRetries + 3)
            let allowed = state.withLockedValue { state -> Bool in
                guard state.throttleRetries < retry.maxThrottleRetries,
                    state.throttleWaited + wait <= retry.maxThrottleWait
                else { return false }
                state.throttleRetries += 1
                state.throttleWaited += wait
                return true
            }
            if allowed, deadline.secondsRemaining > wait.toolboxSeconds {
                retryAfterThrottle(wait)
                return true
            }
        case 449:
            if takeRetry(\.transientRetries, limit: retry.maxTransientRetries) {
                self.retry(after: backoff(state.load().transientRetries))
                return true
            }
        case 410:
            if request.surfaceGone { break }
            if let link = request.containerLink, let notify = pipeline.staleMetadata.load() {
                notify(link, subStatus)
            }
            if takeRetry(\.transientRetries, limit: retry.maxTransientRetries) {
                self.retry(after: backoff(state.load().transientRetries))
                return true
            }
        case 404 where subStatus == CosmosSubStatus.readSessionNotAvailable:
            if takeRetry(\.transientRetries, limit: retry.maxTransientRetries) {
                self.retry(after: backoff(state.load().transientRetries))
                return true
            }
        case 503:
            if request.idempotent, takeRetry(\.connectionRetries, limit: retry.maxConnectionRetries) {
                self.retry(after: backoff(state.load().connectionRetries))
                return true
            }
        default:
            break
        }
        return false
    }

    private func takeRetry(_ counter: WritableKeyPath<State, Int>, limit: Int) -> Bool {
        state.withLockedValue { state in
            guard state[keyPath: counter] < limit else { return false }
            state[keyPath: counter] += 1
            return true
        }
    }

    private func backoff(_ attempt: Int) -> Duration {
        let retry = pipeline.options.retry
        var wait = retry.initialBackoff
        for _ in 1..<max(1, min(attempt, 30)) where wait < retry.maxBackoff { wait *= 2 }
        return min(wait, retry.maxBackoff)
    }

    private func retryAfterThrottle(_ wait: Duration) {
        pipeline.options.logger.debug("throttled (429); retrying",
                                      metadata: ["operation": "\(request.operation)", "after": "\(wait)"])
        retry(after: wait)
    }

    private func retry(after wait: Duration) {
        if deadline.secondsRemaining <= wait.toolboxSeconds {
            finish(.failure(ToolboxError(.timedOut, "\(request.operation) did not finish before its deadline "
                + "(retries were still going on)")))
            return
        }
        let clock = pipeline.options.clock
        let timer = clock.schedule(at: clock.now().advanced(by: wait), on: LibraryQueues.makeWorkQueue(label: "AzureCosmos.retry")) {
            [self] in attempt()
        }
        current.set(timer)
    }
}
