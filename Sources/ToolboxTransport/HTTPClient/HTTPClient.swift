import ConnectionPooling
import Dispatch
import Logging
import Synchronization
import ToolboxCore

/// A keep-alive HTTP/1.1 client: one `ConnectionPool` per endpoint, one request in flight per connection.
///
/// ```swift
/// var configuration = HTTPClientConfiguration()
/// configuration.tls.trustRoots = .file("emulator-ca.pem")
/// let client = try HTTPClient(configuration: configuration)
/// client.execute(try HTTPRequest(url: "https://localhost:8081/dbs"), deadline: .after(seconds: 5)) { result in
///     print(try? result.get().status)
/// }
/// let response = try client.execute(try HTTPRequest(url: "https://localhost:8081/dbs"), timeout: 5)  // blocking
/// ```
///
/// Every request has a deadline covering the wait for a connection, connecting, sending and receiving, and
/// returns a `Cancellable`. An idempotent request with a replayable body whose reused connection turns out to
/// have been closed by the server is retried once on a fresh connection. Completions run on the `queue:` given,
/// exactly once (or inline on the connection's queue with `HTTPClientConfiguration.inlineCompletions`).
/// Connections run on a few shared serial queues (`HTTPClientConfiguration.eventLoopCount`).
/// Call `shutdown()` when done: it closes the pooled connections.
public final class HTTPClient: Sendable {
    public let configuration: HTTPClientConfiguration
    private let tls: TLSContext
    private let pools = LockedValue<[HTTPEndpoint: ConnectionPool<HTTPConnector>]>([:])
    private let opened = LockedValue(0)
    /// Requests that waited for a connection and started in the turn of its queue that freed it (tests).
    private let startedInPlace = Atomic<Int>(0)
    /// Requests started by a loop's poller thread after its round because the caller found it busy.
    private let startedAfterPollerRound = Atomic<Int>(0)
    let loops: HTTPEventLoops
    private let logger: Logger

    /// - throws: `TransportError`: `.invalidConfiguration` naming a time setting out of range,
    ///   `.tlsConfigurationInvalid` when the TLS settings cannot be loaded.
    public init(
        configuration: HTTPClientConfiguration = HTTPClientConfiguration(),
        logger: Logger = Logger(label: "AzureClientsToolbox.HTTPClient", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.tls = try TLSContext(client: configuration.tls)
        self.loops = HTTPEventLoops(count: min(configuration.eventLoopCount, configuration.maxConnectionsPerEndpoint),
                                    logger: logger)
        self.logger = logger
    }

    deinit {
        // A pool keeps its idle connections open until told otherwise; a client dropped without shutdown() must
        // not leak them (and their descriptors) for the life of the process.
        for pool in pools.load().values { pool.closeAll(queue: LibraryQueues.ignoredCompletions) {} }
    }

    /// How many connections the client has opened so far (all endpoints).
    public var connectionsOpened: Int { opened.load() }

    /// How many requests that waited for a connection started on its queue in the turn that freed it.
    package var requestsStartedInPlace: Int { startedInPlace.load(ordering: .relaxed) }

    /// How many requests a caller handed to its loop's poller thread (busy delivering reports) to start after its
    /// round, instead of waiting for the loop.
    package var requestsStartedAfterPollerRound: Int { startedAfterPollerRound.load(ordering: .relaxed) }

    // MARK: Buffered

    /// Sends `request` and collects the whole response body (up to `maxBufferedResponseBytes`).
    @discardableResult
    public func execute(
        _ request: HTTPRequest, deadline: Deadline? = nil,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<HTTPResponse, TransportError>) -> Void
    ) -> any Cancellable {
        let sink = BufferingSink(limit: configuration.maxBufferedResponseBytes)
        if configuration.inlineCompletions {
            return start(request, deadline: deadline, sink: sink) { result in
                completion(result.map { HTTPResponse(head: $0, body: sink.takeBody()) })
            }
        }
        return start(request, deadline: deadline, sink: sink) { result in
            let response = result.map { HTTPResponse(head: $0, body: sink.takeBody()) }
            queue.async { completion(response) }
        }
    }

    /// Blocking form of `execute(_:deadline:queue:completion:)`.
    public func execute(_ request: HTTPRequest, timeout: Duration? = nil) throws -> HTTPResponse {
        let deadline = Deadline.after(timeout ?? configuration.defaultRequestTimeout)
        return try Blocking.wait { queue, completion in
            execute(request, deadline: deadline, queue: queue) { completion($0.mapError { $0 }) }
        }
    }

    // MARK: Streaming

    /// Sends `request` and hands the response over as it arrives: the head, then body pieces, in order.
    ///
    /// `onHead` and `onBody` run one at a time, in order, on a serial queue targeting `queue`; `completion`
    /// runs after the last of them. A retry on a stale connection happens only before any of them ran.
    @discardableResult
    public func stream(
        _ request: HTTPRequest, deadline: Deadline? = nil,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        onHead: @escaping @Sendable (HTTPResponseHead) -> Void,
        onBody: @escaping @Sendable ([UInt8]) -> Void,
        completion: @escaping @Sendable (Result<HTTPResponseHead, TransportError>) -> Void
    ) -> any Cancellable {
        let delivery = DispatchQueue(label: "ToolboxTransport.HTTPClient.stream", target: queue)
        let sink = StreamingSink(queue: delivery, onHead: onHead, onBody: onBody)
        return start(request, deadline: deadline, sink: sink) { result in
            delivery.async { completion(result) }
        }
    }

    // MARK: Warm-up and introspection

    /// Opens up to `count` connections to `endpoint` ahead of need, so the first requests skip connect and TLS.
    ///
    /// Completes with how many connections are ready (a failure to connect is delivered as its `TransportError`).
    public func warmUp(
        _ endpoint: HTTPEndpoint, count: Int, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<Int, TransportError>) -> Void
    ) {
        let pool: ConnectionPool<HTTPConnector>
        do {
            pool = try self.pool(for: endpoint)
        } catch {
            queue.async { completion(.failure(error)) }
            return
        }
        pool.warmUp(count: count, queue: queue) { result in
            completion(result.mapError { HTTPClient.transportError($0, endpoint: endpoint) })
        }
    }

    /// Blocking form of `warmUp(_:count:queue:completion:)`.
    @discardableResult
    public func warmUp(_ endpoint: HTTPEndpoint, count: Int) throws -> Int {
        try Blocking.wait { queue, completion in
            warmUp(endpoint, count: count, queue: queue) { completion($0.mapError { $0 }) }
        }
    }

    /// The pool state (ready, in use, opening, creates, expirations …) of every endpoint used so far.
    public func poolSnapshots() -> [HTTPEndpoint: ConnectionPoolSnapshot] {
        pools.load().mapValues(\.snapshot)
    }

    // MARK: Shutdown

    /// Closes every pooled connection (in-flight requests finish first); later requests open new ones.
    public func shutdown(queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                         completion: @escaping @Sendable () -> Void) {
        let all = pools.withLockedValue { pools in
            defer { pools = [:] }
            return Array(pools.values)
        }
        let group = DispatchGroup()
        for pool in all {
            group.enter()
            pool.closeAll(queue: queue) { group.leave() }
        }
        group.notify(queue: queue, execute: completion)
    }

    /// Blocking form of `shutdown(queue:completion:)`.
    public func shutdown() throws {
        let _: Void = try Blocking.wait { queue, completion in shutdown(queue: queue) { completion(.success(())) } }
    }

    // MARK: Machinery

    private func start(
        _ request: HTTPRequest, deadline: Deadline?, sink: any HTTPResponseSink & Sendable,
        completion: @escaping @Sendable (Result<HTTPResponseHead, TransportError>) -> Void
    ) -> any Cancellable {
        let task = HTTPRequestTask()
        let finish = CompletionOnce<Result<HTTPResponseHead, TransportError>>(completion)
        task.onCancel {
            finish.complete(.failure(TransportError(.cancelled, "the request to \(request.endpoint) was cancelled")))
        }
        let deadline = deadline ?? .after(configuration.defaultRequestTimeout)
        attempt(request, deadline: deadline, sink: sink, task: task, retried: false, finish: finish)
        return task
    }

    private func attempt(
        _ request: HTTPRequest, deadline: Deadline, sink: any HTTPResponseSink & Sendable, task: HTTPRequestTask,
        retried: Bool, finish: CompletionOnce<Result<HTTPResponseHead, TransportError>>
    ) {
        let pool: ConnectionPool<HTTPConnector>
        do {
            pool = try self.pool(for: request.endpoint)
        } catch {
            finish.complete(.failure(error))
            return
        }
        // A free connection is taken on this thread: one thread hop less per request than acquire(queue:).
        if let lease = pool.tryAcquireImmediately() {
            use(lease, request, deadline: deadline, sink: sink, task: task, retried: retried, onCallerThread: true,
                finish: finish)
            return
        }
        // The acquire handle must be the cancel action before the acquire can complete: its completion replaces
        // it with the connection's abort, and that must not be overwritten afterwards.
        let acquireHandle = LockedValue<(any Cancellable)?>(nil)
        guard task.setCancelAction({ acquireHandle.load()?.cancel() }) else { return }
        // The lease is delivered on the thread that frees it — mostly the previous exchange's completion, on that
        // connection's own queue, where the exchange then starts in the same turn: no thread is woken between
        // one response and the next request on a busy pool (a queue per acquire cost two wake-ups: the acquire's
        // queue, then the connection's). A failure (time-out, cancel, pool closed: whoever resolved the wait may
        // be a caller's thread or the pool's housekeeping queue) is finished from a queue of its own, as before.
        // Weak: the pool may keep a served waiter until its timeout, and that must not keep the client (and so
        // its pooled connections) alive after the user dropped it.
        let handle = pool.acquireDeliveringInline(timeoutSeconds: max(0, deadline.secondsRemaining)) {
            [weak self] result in
            switch result {
            case .failure(let error):
                LibraryQueues.makeWorkQueue(label: "ToolboxTransport.acquire").async {
                    finish.complete(.failure(HTTPClient.transportError(error, endpoint: request.endpoint)))
                }
            case .success(let lease):
                guard let self else {
                    lease.release(.discard)
                    LibraryQueues.makeWorkQueue(label: "ToolboxTransport.acquire").async {
                        finish.complete(.failure(TransportError(.closedLocally, "the HTTPClient was released")))
                    }
                    return
                }
                // Started in place on the connection's own queue, enqueued from anywhere else (never a `sync`:
                // this may be a Dispatch worker or another connection's queue, which must not wait for a busy loop).
                use(lease, request, deadline: deadline, sink: sink, task: task, retried: retried,
                    onCallerThread: false, onOwnQueue: true, finish: finish)
            }
        }
        acquireHandle.withLockedValue { $0 = handle }
        if task.isCancelled { handle.cancel() }
    }

    /// Runs the exchange on a leased connection, then returns the lease (retiring a failed connection).
    private func use(
        _ lease: ConnectionLease<HTTPClientConnection>, _ request: HTTPRequest, deadline: Deadline,
        sink: any HTTPResponseSink & Sendable, task: HTTPRequestTask, retried: Bool, onCallerThread: Bool,
        onOwnQueue: Bool = false, finish: CompletionOnce<Result<HTTPResponseHead, TransportError>>
    ) {
        let connection = lease.connection
        // The cancel reaches this exchange only: one that comes after it ended leaves the connection alone, which
        // by then may carry the next waiting request (it took the connection in the turn this one ended).
        let ticket = HTTPExchangeTicket()
        guard task.setCancelAction({
            connection.abort(TransportError(.cancelled, "the request to \(request.endpoint) was cancelled"),
                             ticket: ticket)
        }) else {
            lease.release()
            return
        }
        // Without inline completions every completion hops to its queue (or, streaming, to its delivery queue),
        // so the request may be written from this thread — only the caller's own call that found a free
        // connection, never the acquire's completion (a Dispatch worker that must not wait for a busy loop).
        let start = connection.exchange(request, deadline: deadline, sink: sink,
                                        onCallerThread: onCallerThread && !configuration.inlineCompletions,
                                        onOwnQueue: onOwnQueue, ticket: ticket) { [weak self] outcome in
            // Cancelling from now on must not abort the connection: it goes back to the pool and may serve others.
            task.clearCancelAction()
            lease.release(outcome.reusable ? .reuse : .discard)
            if let self, outcome.stale, !retried, (request.isIdempotent || outcome.unsent), request.body.isReplayable,
                !task.isCancelled, !deadline.hasPassed
            {
                self.logger.debug("retrying on a fresh connection", metadata: ["endpoint": "\(request.endpoint)"])
                self.attempt(request, deadline: deadline, sink: sink, task: task, retried: true, finish: finish)
                return
            }
            finish.complete(outcome.result)
        }
        switch start {
        case .inPlace: startedInPlace.add(1, ordering: .relaxed)
        case .afterPollerRound: startedAfterPollerRound.add(1, ordering: .relaxed)
        case .onCallerThread, .enqueued: break
        }
    }

    private func pool(for endpoint: HTTPEndpoint) throws(TransportError) -> ConnectionPool<HTTPConnector> {
        let result: Result<ConnectionPool<HTTPConnector>, TransportError> = pools.withLockedValue { pools in
            if let pool = pools[endpoint] { return .success(pool) }
            var connector = HTTPConnector(
                endpoint: endpoint, tls: tls, serverNameOverride: configuration.tls.serverNameOverride,
                connectTimeout: configuration.connectTimeout.toolboxSeconds,
                connectOptions: TCPConnectOptions(attemptDelay: configuration.connectionAttemptDelay,
                                                  proxy: endpoint.isTLS ? configuration.proxy : nil),
                limits: configuration.responseLimits, userAgent: configuration.userAgent, opened: opened,
                loops: loops)
            connector.readinessProbe = configuration.readinessProbe
            do {
                let pool = try ConnectionPool(
                    connector: connector, configuration: configuration.poolConfiguration, logger: logger)
                pools[endpoint] = pool
                return .success(pool)
            } catch {
                return .failure(TransportError(.invalidRequest, "invalid HTTPClient configuration: \(error)"))
            }
        }
        return try result.get()
    }

    static func transportError(_ error: ConnectionPoolError, endpoint: HTTPEndpoint) -> TransportError {
        switch error.code {
        case .connectionFailed:
            if let cause = error.cause as? TransportError { return cause }
            return TransportError(.connectFailed, "could not connect to \(endpoint): \(error)", underlying: error)
        case .timedOut:
            return TransportError(.timedOut, "no connection to \(endpoint) became free before the request deadline")
        case .exhausted:
            return TransportError(.poolExhausted, "too many requests are waiting for \(endpoint); \(error.message)")
        case .poolClosed:
            return TransportError(.closedLocally, "the HTTPClient was shut down")
        case .cancelled:
            return TransportError(.cancelled, "the request to \(endpoint) was cancelled")
        default:
            return TransportError(.invalidRequest, "invalid HTTPClient configuration: \(error.message)",
                                  underlying: error)
        }
    }
}
