import AzureAuth
import Dispatch
import Foundation
import Logging
import ToolboxCore
import ToolboxTransport

/// What both clients share: the topics, their credentials, the HTTP client, and one publish with retries.
///
/// Each try is authorized afresh (a new SAS token when signing with the key, the credential's cached bearer
/// token otherwise), sent with its own time-out within the operation's, and retried — after the service's
/// `Retry-After`, else exponential back-off with jitter — on the statuses and connection failures
/// `EventGridErrors` lists, while retries and the operation's time remain.
final class EventGridCore: Sendable {
    struct Topic: Sendable {
        let config: EventGridTopicConfig
        let credential: EventGridCredential
        /// The publish URL (with `api-version`), parsed once here rather than on every publish.
        let endpoint: HTTPEndpoint
        let target: String
    }

    let config: EventGridConfig
    let options: EventGridClientOptions
    let http: HTTPClient
    private let topics: [String: Topic]
    private let closed = LockedValue(false)
    /// Merges concurrent publishes when `options.coalescing.isEnabled`.
    private let coalescer: EventGridCoalescer?
    /// Where HTTP and token completions run before the operation's own logic; never user code.
    /// A fresh serial queue per use (see `LibraryQueues.makeWorkQueue`), so requests still complete side by side.
    private var workQueue: DispatchQueue { LibraryQueues.makeWorkQueue(label: "AzureEventGrid.work") }

    /// - parameter pooled: a pool per topic host as `options.pool` says; else one connection, opened on demand.
    init(config: EventGridConfig, credential: EventGridCredential?, options: EventGridClientOptions,
         pooled: Bool) throws(ToolboxError) {
        guard !config.topicConfigs.isEmpty else {
            throw ToolboxError(.invalidArgument, "the Event Grid configuration has no topics")
        }
        var topics: [String: Topic] = [:]
        for topic in config.topicConfigs {
            guard let topicCredential = topic.credential ?? credential else {
                throw ToolboxError(.invalidArgument, "topic '\(topic.name)' has no credential: give the client one or "
                    + "set EventGridTopicConfig.credential")
            }
            let probe: HTTPRequest
            do {
                probe = try HTTPRequest(method: "POST", url: topic.url)
            } catch {
                throw ToolboxError(.invalidArgument, "topic '\(topic.name)' has an unusable URL '\(topic.url)': \(error)",
                                   underlying: error)
            }
            if case .token = topicCredential, !probe.endpoint.isTLS, !options.allowPlainTextForDevelopment {
                throw ToolboxError(.invalidArgument, "topic '\(topic.name)' uses a token credential over http://; bearer "
                    + "tokens are only sent over https:// (set allowPlainTextForDevelopment for a local emulator)")
            }
            if case .signedWithKey(let key, _) = topicCredential, AuthCrypto.base64Decode(key.exposedValue) == nil {
                throw ToolboxError(.invalidKey, "the key of topic '\(topic.name)' is not base64; copy it from the "
                    + "topic's Access keys page")
            }
            let separator = topic.url.utf8.contains(UInt8(ascii: "?")) ? "&" : "?"
            let publish: HTTPRequest
            do {
                publish = try HTTPRequest(method: "POST", url: topic.url + separator + "api-version=\(options.apiVersion)")
            } catch {
                throw ToolboxError(.invalidArgument, "topic '\(topic.name)' has an unusable URL '\(topic.url)': \(error)",
                                   underlying: error)
            }
            topics[topic.name] = Topic(config: topic, credential: topicCredential, endpoint: publish.endpoint,
                                       target: publish.target)
        }
        self.config = config
        self.options = options
        self.topics = topics
        var http = HTTPClientConfiguration()
        http.tls = options.effectiveTLS
        http.proxy = options.proxy
        http.userAgent = options.userAgent
        http.maxIdle = options.pool.maxIdle
        // Every answer is handed to the caller's queue by its `PublishOperation` (or to a work queue, for merged
        // requests) anyway: the HTTP client's own hop to a callback queue would be a second thread hop per publish.
        // What runs on the connection's queue is bookkeeping: the status check, a small error body's parse, a
        // retry's timer.
        http.inlineCompletions = true
        if pooled {
            http.maxConnectionsPerEndpoint = max(1, options.pool.maxConnectionsPerTopic)
            http.minReadyPerEndpoint = max(0, min(options.pool.minReadyPerTopic, http.maxConnectionsPerEndpoint))
            http.maxLifespan = options.pool.maxLifespan
        } else {
            http.maxConnectionsPerEndpoint = 1
        }
        do {
            self.http = try HTTPClient(configuration: http, logger: options.logger)
        } catch {
            throw ToolboxError(.invalidConfiguration, "could not set up HTTPS for Event Grid: \(error)", underlying: error)
        }
        coalescer = options.coalescing.isEnabled
            ? EventGridCoalescer(settings: options.coalescing, clock: options.clock) : nil
    }

    var isClosed: Bool { closed.load() }

    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        closed.withLockedValue { $0 = true }
        http.shutdown(queue: queue, completion: completion)
    }

    /// The HTTP endpoint of each topic (for warming the managed client's pool).
    var endpoints: [HTTPEndpoint] {
        Array(Set(topics.values.compactMap { try? HTTPRequest(method: "POST", url: $0.config.url).endpoint }))
    }

    // MARK: Publishing

    func publish(_ events: [EventGridEvent], topic: String, timeout: Duration, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        let body = events.isEmpty ? [] : EventGridWire.body(events)
        return publish(body: body, count: events.count, contentType: "application/json; charset=utf-8", problem: nil,
                       topic: topic, timeout: timeout, queue: queue, completion: completion)
    }

    func publish(_ events: [CloudEvent], topic: String, timeout: Duration, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        let problem = EventGridWire.extensionProblem(events)
        let body = events.isEmpty || problem != nil ? [] : EventGridWire.body(events)
        return publish(body: body, count: events.count, contentType: "application/cloudevents-batch+json; charset=utf-8",
                       problem: problem, topic: topic, timeout: timeout, queue: queue, completion: completion)
    }

    private func publish(body: [UInt8], count: Int, contentType: String, problem: String?, topic: String,
                         timeout: Duration, queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        let what = "publishing \(count) event\(count == 1 ? "" : "s") to topic '\(topic)'"
        let operation = PublishOperation(what, queue: queue, completion: completion)
        if isClosed {
            operation.finish(.failure(ToolboxError(.clientClosed, "\(what): the client is closed")))
        } else if let problem {
            operation.finish(.failure(ToolboxError(.invalidArgument, "\(what): \(problem)")))
        } else if count == 0 {
            operation.finish(.failure(ToolboxError(.invalidArgument, "\(what): there are no events to publish")))
        } else if let target = topics[topic] {
            let deadline = Deadline.after(timeout, on: options.clock)
            if let coalescer {
                coalescer.submit(.init(body: body, count: count, operation: operation, deadline: deadline, what: what),
                                 topic: topic, contentType: contentType, core: self)
            } else {
                let request = Request(topic: target, body: body, contentType: contentType, what: what)
                attempt(request, number: 0, deadline: deadline, operation: operation)
            }
        } else {
            operation.finish(.failure(ToolboxError(.invalidArgument, "\(what): the client has no topic '\(topic)' "
                + "(configured: \(config.topics.joined(separator: ", ")))")))
        }
        return operation
    }

    /// One request of merged publishes (`EventGridCoalescer`), with its own operation and retries; cancelling the
    /// returned operation aborts it.
    func sendMerged(topic: String, contentType: String, body: [UInt8], count: Int, deadline: Deadline, what: String,
                    completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        let operation = PublishOperation(what, queue: workQueue, completion: completion)
        guard let target = topics[topic], !isClosed else {
            operation.finish(.failure(ToolboxError(.clientClosed, "\(what): the client is closed")))
            return operation
        }
        attempt(Request(topic: target, body: body, contentType: contentType, what: what), number: 0, deadline: deadline,
                operation: operation)
        return operation
    }

    /// One publish sent alone, bypassing the coalescer (after a merged request was refused for its content).
    func sendAlone(_ member: EventGridCoalescer.Member, topic: String, contentType: String) {
        guard let target = topics[topic], !isClosed else {
            return member.operation.finish(.failure(ToolboxError(.clientClosed, "\(member.what): the client is closed")))
        }
        attempt(Request(topic: target, body: member.body, contentType: contentType, what: member.what), number: 0,
                deadline: member.deadline, operation: member.operation)
    }

    private struct Request: Sendable {
        let topic: Topic
        let body: [UInt8]
        let contentType: String
        let what: String
    }

    private func secondsLeft(_ deadline: Deadline) -> Double {
        deadline.instant.seconds(since: options.clock.now())
    }

    private func attempt(_ request: Request, number: Int, deadline: Deadline, operation: PublishOperation) {
        guard !operation.isFinished else { return }
        let left = secondsLeft(deadline)
        guard left > 0 else {
            return operation.finish(.failure(ToolboxError(.timedOut, "\(request.what) timed out after \(number) "
                + "tr\(number == 1 ? "y" : "ies")")))
        }
        // Each try gets its own deadline on the real clock (the HTTP layer's), within what the operation has left.
        let tryTimeout = options.retry.tryTimeout.toolboxSeconds
        let tryDeadline = Deadline.after(seconds: min(left, tryTimeout > 0 ? tryTimeout : left))
        authorization(for: request.topic, deadline: tryDeadline, operation: operation) { [self] header in
            var headers: HTTPHeaders = [
                "Content-Type": request.contentType, "Accept": "*/*", "User-Agent": options.userAgent,
                "x-ms-client-request-id": RandomUUID.string(),
            ]
            headers.add(name: header.name, value: header.value.exposedValue)
            let httpRequest = HTTPRequest(method: "POST", endpoint: request.topic.endpoint,
                                          target: request.topic.target, headers: headers, body: .bytes(request.body))
            operation.run { done in
              // The client completes inline on the connection's queue (`inlineCompletions`), so `queue` is unused.
              http.execute(httpRequest, deadline: tryDeadline, queue: LibraryQueues.ignoredCompletions) {
                [self] result in
                done()
                switch result {
                case .success(let response) where (200..<300).contains(response.status):
                    operation.finish(.success(()))
                case .success(let response):
                    // What was sent to authorize (a key, a SAS token, a bearer token) never comes back in an error,
                    // even when the endpoint echoes it. For a bearer token, the token alone.
                    let secrets = SecretForms.of([header.value.exposedValue])
                    let error = EventGridErrors.from(response.redacting(secrets), what: request.what).redacting(secrets)
                    if EventGridErrors.retryableStatuses.contains(response.status) {
                        retry(request, after: number, error: error, deadline: deadline, operation: operation)
                    } else {
                        operation.finish(.failure(error))
                    }
                case .failure(let failure):
                    let error = ToolboxError(failure.code, "\(request.what) (\(request.topic.config.url)) failed: "
                        + failure.message, serviceCondition: failure.serviceCondition, underlying: failure,
                        recovery: failure.recovery)
                    if EventGridErrors.retryableTransportCodes.contains(failure.code) {
                        retry(request, after: number, error: error, deadline: deadline, operation: operation)
                    } else {
                        operation.finish(.failure(error))
                    }
                }
              }
            }
        }
    }

    /// Tries again after a back-off when retries and time remain; otherwise delivers `error`.
    private func retry(_ request: Request, after number: Int, error: ToolboxError, deadline: Deadline,
                       operation: PublishOperation) {
        guard number < options.retry.maxRetries else {
            let tries = number + 1
            return operation.finish(.failure(ToolboxError(
                error.code, error.message + " (after \(tries) tr\(tries == 1 ? "y" : "ies"))",
                serviceCondition: error.serviceCondition, underlying: error.underlying, recovery: error.recovery)))
        }
        let delay = backoff(retry: number, serviceDelay: error.serviceCondition?.retryAfter)
        guard delay.toolboxSeconds < secondsLeft(deadline) else {
            let tries = number + 1
            return operation.finish(.failure(ToolboxError(.timedOut, "\(request.what) timed out: no time left to "
                + "retry after \(tries) tr\(tries == 1 ? "y" : "ies") (last: \(error.message))",
                serviceCondition: error.serviceCondition, underlying: error)))
        }
        options.logger.debug("eventgrid: \(request.what) failed (\(error.code)); retrying in \(delay)")
        operation.run { done in
            options.clock.schedule(at: options.clock.now().advanced(by: delay), on: workQueue) { [self] in
                done()
                attempt(request, number: number + 1, deadline: deadline, operation: operation)
            }
        }
    }

    /// The service's `Retry-After` (capped), else `baseDelay × 2^retry` (capped) with ±20 % jitter. Whatever the
    /// options say, a delay stays between 0 and a day.
    func backoff(retry: Int, serviceDelay: Duration?) -> Duration {
        func clamped(_ seconds: Double) -> Double { seconds.isFinite ? min(max(seconds, 0), 86_400) : 86_400 }
        let cap = clamped(options.retry.maxDelay.toolboxSeconds)
        if let serviceDelay { return .milliseconds(Int64(min(clamped(serviceDelay.toolboxSeconds), cap) * 1000)) }
        let exponential = clamped(options.retry.baseDelay.toolboxSeconds) * pow(2, Double(min(max(retry, 0), 30)))
        let seconds = min(exponential, cap) * Double.random(in: 0.8...1.2)
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The auth header for one try of `topic`.
    private func authorization(for topic: Topic, deadline: Deadline, operation: PublishOperation,
                               then send: @escaping @Sendable ((name: String, value: Secret<String>)) -> Void) {
        switch topic.credential {
        case .key(let key):
            send(("aeg-sas-key", key))
        case .sharedAccessSignature(let token):
            send(("aeg-sas-token", token))
        case .signedWithKey(let key, let validity):
            // Between a minute and a year, whatever `validity` says (a huge Duration must not overflow).
            let seconds = validity.toolboxSeconds
            let expiry = UTCDate.nowUnixSeconds() + (seconds.isFinite ? Int(min(max(seconds, 60), 31_536_000)) : 60)
            do {
                let token = try EventGridSharedAccessSignature.token(endpoint: topic.config.url, key: key, expiry: expiry,
                                                                     apiVersion: options.apiVersion)
                send(("aeg-sas-token", token))
            } catch {
                operation.finish(.failure(error))
            }
        case .token(let credential):
            operation.run { done in
              credential.token(for: [EventGridCredential.scope], options: TokenRequestOptions(deadline: deadline),
                               queue: workQueue) { result in
                done()
                switch result {
                case .success(let token):
                    send(("Authorization", Secret("Bearer " + token.token.exposedValue)))
                case .failure(let error):
                    operation.finish(.failure(ToolboxError(error.code, "getting an Event Grid token from "
                        + "\(credential.credentialName) failed: \(error.message)", serviceCondition: error.serviceCondition,
                        underlying: error, recovery: error.recovery)))
                }
              }
            }
        }
    }
}

/// One publish in flight: its exactly-once completion and the request, token fetch or timer it is waiting on,
/// so `cancel()` stops whichever runs.
typealias PublishOperation = ChildOperation<Void>
