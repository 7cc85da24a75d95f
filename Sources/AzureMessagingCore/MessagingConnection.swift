import AzureAuth
import Dispatch
import Foundation
import Logging
import Synchronization
import ToolboxTransport
import ToolboxAMQP
import ToolboxCore

/// One authenticated AMQP connection to a namespace: TCP (+TLS), SASL ANONYMOUS, open and one session, with a
/// token refresher per audience that puts a fresh token after 90 % of its life, but no later than min(30 s, half
/// its lifetime) before it expires (`AMQPCBSTokenRefresher.refreshDelay`; the `$cbs` link pair is attached only
/// while a put-token is in flight).
///
/// Event Hubs and Service Bus clients build their links on it. `isClosed` turns true as soon as the
/// connection ends for any reason, so a pooled client can retire it.
package final class MessagingConnection: Sendable {

    private struct State {
        var closedError: AzureMessagingError?
        var closing = false
        var retired = false
        /// Tries in a row that timed out on this connection (see `noteTryOutcome`).
        var tryTimeouts = 0
        /// Audiences with a put-token done (refresher running) or in flight (waiters).
        var authorized: [String: AMQPCBSTokenRefresher] = [:]
        var authorizing: [String: [@Sendable (Result<Void, AzureMessagingError>) -> Void]] = [:]
    }

    private static let ids = Atomic<Int>(0)
    /// Runs the open deadlines (one per connection being opened).
    private static let openTimers = LibraryQueues.makeQueue(label: "AzureMessaging.open-timers")

    /// Identifies this connection in logs and health reports; a reconnect gets a new one.
    package let id: Int
    package let endpoint: MessagingEndpoint
    package let amqp: AMQPConnection
    package let session: AMQPSession
    let cbs: AMQPCBSClient
    let logger: Logger
    /// Runs the CBS token refreshers' timers.
    let clock: any ToolboxClock
    /// The queue the connection's own bookkeeping callbacks run on (the AMQP connection's queue).
    package var queue: DispatchQueue { amqp.queue }
    private let state = LockedValue(State())

    private init(id: Int, endpoint: MessagingEndpoint, amqp: AMQPConnection, session: AMQPSession, cbs: AMQPCBSClient,
                 logger: Logger, clock: any ToolboxClock) {
        self.clock = clock
        self.id = id
        self.endpoint = endpoint
        self.amqp = amqp
        self.session = session
        self.cbs = cbs
        self.logger = logger
    }

    /// Whether the connection has ended (the peer closed it, the socket failed, or `close` was called).
    package var isClosed: Bool { amqp.hasEnded || state.withLockedValue { $0.closedError != nil || $0.closing } }

    /// Marks the connection retired by its client; true only the first time (one reconnect per failed connection).
    package func markRetired() -> Bool {
        state.withLockedValue { state in
            defer { state.retired = true }
            return !state.retired
        }
    }

    /// Records how a try on this connection ended; true once `timeoutsBeforeRetiring` tries in a row timed out.
    @discardableResult
    package func noteTryOutcome(timedOut: Bool, timeoutsBeforeRetiring: Int) -> Bool {
        state.withLockedValue { state in
            state.tryTimeouts = timedOut ? state.tryTimeouts + 1 : 0
            return state.tryTimeouts >= timeoutsBeforeRetiring
        }
    }

    /// Why the connection ended, once it has.
    package var closedError: AzureMessagingError? { state.load().closedError }

    /// Opens a connection (as `open`), wraps it as a client's connection and puts a token for that connection's
    /// audience on `$cbs` before handing it over, so a client never sees an unauthorized connection. A refused
    /// token closes the new connection. Both clients' connection factories open their connections this way.
    /// `open`, then the put-token for the entity. The returned handle ends the whole attempt: the open (as
    /// `open`'s handle does), or, once it is open, the connection, failing the completion with `.cancelled`.
    @discardableResult
    package static func openAuthorized<Connection: Sendable>(
        endpoint: MessagingEndpoint, containerIDPrefix: String, product: String, deadline: Deadline, logger: Logger,
        clock: any ToolboxClock = SystemClock(),
        wrap: @escaping @Sendable (MessagingConnection) -> Connection,
        audience: @escaping @Sendable (Connection) -> String,
        completion: @escaping @Sendable (Result<Connection, AzureMessagingError>) -> Void
    ) -> any Cancellable {
        let once = CompletionOnce<Result<Connection, AzureMessagingError>>(completion)
        let token = CancellationToken()
        let opening = open(endpoint: endpoint, containerIDPrefix: containerIDPrefix, product: product, deadline: deadline,
                           logger: logger, clock: clock) { result in
            switch result {
            case .failure(let error):
                once.complete(.failure(error))
            case .success(let messaging):
                // Cancelled while authorizing: the connection goes, and the attempt ends as cancelled.
                token.onCancel {
                    if once.complete(.failure(AzureMessagingError(.cancelled, "opening the connection was cancelled"))) {
                        messaging.close {}
                    }
                }
                guard !once.isCompleted else { return }  // cancelled meanwhile: nothing to authorize
                let connection = wrap(messaging)
                messaging.authorize(audience: audience(connection), timeout: max(0.001, deadline.secondsRemaining)) {
                    switch $0 {
                    case .success:
                        if !once.complete(.success(connection)) { messaging.close {} }
                    case .failure(let error):
                        messaging.close {}
                        once.complete(.failure(error))
                    }
                }
            }
        }
        token.onCancel { opening.cancel() }
        return token
    }

    /// Opens a connection: transport, SASL, open, session. `completion` runs once, on the event loop the new
    /// connection's queue targets.
    ///
    /// The event loop, because what follows an open (the put-token, the pool's bookkeeping, the
    /// first attach) is short, never blocks and goes on on the connection's queue anyway: a fresh work queue per
    /// open started a Dispatch thread for each of a burst of opens (a pool warming up 50 connections added 8–19
    /// threads, and their stacks, where it adds 3–8 with the loop; docs/performance-history.md, "2026-12-04, evening").
    /// `clock` runs the open deadline's timer and, later, the CBS token refreshers.
    ///
    /// The returned handle ends an open still in progress (connect, TLS, SASL, open, session), failing the
    /// completion with `.cancelled`: a pool that closes cancels its opens rather than wait out their deadline.
    @discardableResult
    package static func open(endpoint: MessagingEndpoint, containerIDPrefix: String, product: String,
                            deadline: Deadline, logger: Logger, clock: any ToolboxClock = SystemClock(),
                            completion: @escaping @Sendable (Result<MessagingConnection, AzureMessagingError>) -> Void)
        -> any Cancellable
    {
        let loop = MessagingEventLoops.shared.next()
        // The open deadline's timer, cancelled once the open ends either way (it would otherwise stay armed, and
        // keep what it captured, until the deadline).
        let timer = LockedValue<(any Cancellable)?>(nil)
        let once = CompletionOnce<Result<MessagingConnection, AzureMessagingError>> { result in
            timer.withLockedValue { $0 }?.cancel()
            loop.async { completion(result) }
        }
        let id = ids.add(1, ordering: .relaxed).newValue
        let seconds = max(0.001, deadline.secondsRemaining)
        let tls: TLSContext?
        do {
            tls = try endpoint.makeTLSContext()
        } catch {
            once.complete(.failure(error))
            return CompletedOperation()
        }
        let configuration = AMQPConnectionConfiguration(
            containerID: "\(containerIDPrefix)-\(RandomUUID.string())", hostname: endpoint.host,
            sasl: .anonymous, maxFrameSize: 65536, channelMax: 65535, idleTimeout: endpoint.idleTimeout.flatMap {
                $0 > .zero ? $0 : nil }, openTimeout: .clampingSeconds(seconds),
            properties: ["product": .string(product), "version": "1.0.0", "platform": "Linux",
                         "user-agent": .string("\(product)/1.0.0 AzureClientsToolbox (Swift)")])
        let target: (host: String, port: UInt16)
        do {
            target = try endpoint.connectTarget()
        } catch {
            once.complete(.failure(error))
            return CompletedOperation()
        }
        let context = endpoint.effectiveTransport == .amqpOverWebSockets || endpoint.customEndpointAddress != nil
            ? "connecting to \(endpoint.host) (\(endpoint.effectiveTransport == .amqp ? "amqp" : "websocket") to "
                + "\(target.host):\(target.port)\(endpoint.proxy.map { " via proxy \($0)" } ?? ""))"
            : "connecting to \(endpoint.host):\(endpoint.port)"
        // The socket is connected first, so that the AMQP connection can run on the socket's own queue (no
        // thread hop between socket and protocol; see docs/architecture.md).
        let started = LockedValue<(attempt: (any Cancellable)?, amqp: AMQPConnection?)>((nil, nil))
        // Ends the attempt with `error` unless it ended already: the connect or the AMQP connection is abandoned.
        let abandon: @Sendable (AzureMessagingError) -> Void = { error in
            if once.complete(.failure(error)) {
                let (attempt, amqp) = started.load()
                attempt?.cancel()
                amqp?.close(timeout: .seconds(1), queue: LibraryQueues.ignoredCompletions) { _ in }
            }
        }
        // The whole handshake (TCP, TLS, SASL, open, session) must finish by the deadline.
        // A completed `once` makes the timer a no-op; `once` also cancels it.
        let openTimer = clock.schedule(at: clock.now().advanced(bySeconds: seconds), on: openTimers) {
            abandon(AzureMessagingError(.timedOut, "\(context): no ready connection within \(seconds)s",
                                        recovery: .rebuildConnection))
        }
        timer.withLockedValue { $0 = openTimer }
        if once.isCompleted { openTimer.cancel() }
        let connected: @Sendable (Result<AMQPSocketTransport, AMQPError>) -> Void = { result in
            switch result {
            case .failure(let error):
                once.complete(.failure(AzureMessagingError(error, context: context)))
            case .success(let transport):
                let amqp = AMQPConnection(transport: transport, configuration: configuration, logger: logger)
                started.withLockedValue { $0.amqp = amqp }
                if once.isCompleted {  // timed out while connecting
                    amqp.close(timeout: .seconds(1), queue: LibraryQueues.ignoredCompletions) { _ in }
                    return
                }
                handshake(amqp, id: id, endpoint: endpoint, context: context, logger: logger, clock: clock, once: once)
            }
        }
        // A custom endpoint changes only where the socket goes: TLS still verifies the namespace's name.
        let serverName = endpoint.customEndpointAddress == nil ? nil : endpoint.host
        let attempt: any Cancellable
        switch endpoint.effectiveTransport {
        case .amqp:
            // The connect's completion only starts the handshake on the new connection's queue: the loop runs it.
            attempt = AMQPSocketTransport.connect(host: target.host, port: target.port, tls: tls,
                                                  serverName: serverName, deadline: deadline,
                                                  targetQueue: loop, queue: loop, completion: connected)
        case .amqpOverWebSockets:
            attempt = AMQPSocketTransport.connectWebSocket(
                host: target.host, port: target.port, tls: tls, serverName: serverName,
                proxy: endpoint.proxy, deadline: deadline, queue: loop, completion: connected)
        }
        started.withLockedValue { $0.attempt = attempt }
        // Abandoned before the connect's handle was kept: the connect's completion closes what it opened.
        return OpenAttempt { abandon(AzureMessagingError(.cancelled, "\(context): the open was cancelled")) }
    }

    /// SASL, open and session on a connected transport.
    private static func handshake(_ amqp: AMQPConnection, id: Int, endpoint: MessagingEndpoint, context: String,
                                  logger: Logger, clock: any ToolboxClock,
                                  once: CompletionOnce<Result<MessagingConnection, AzureMessagingError>>) {
        let fail: @Sendable (AMQPError) -> Void = { error in
            if once.complete(.failure(AzureMessagingError(error, context: context))) { amqp.close(timeout: .seconds(1), queue: LibraryQueues.ignoredCompletions) { _ in } }
        }
        amqp.open(queue: amqp.queue) { result in
            if case .failure(let error) = result { return fail(error) }
            amqp.beginSession(queue: amqp.queue) { result in
                switch result {
                case .failure(let error): fail(error)
                case .success(let session):
                    // `$cbs` is attached for each put-token and detached after it (see AMQPCBSClient).
                    let cbs = AMQPCBSClient(session: session, detachesWhenIdle: true)
                    let connection = MessagingConnection(id: id, endpoint: endpoint, amqp: amqp, session: session,
                                                         cbs: cbs, logger: logger, clock: clock)
                    amqp.onClose(queue: amqp.queue) { [weak connection] error in connection?.didClose(error) }
                    if !once.complete(.success(connection)) { connection.close {} }
                }
            }
        }
    }

    /// Puts a token for `audience` on `$cbs` once (later calls reuse it) and keeps it fresh until the
    /// connection closes. Concurrent callers for one audience share one put-token.
    package func authorize(audience: String, timeout: Double,
                          completion: @escaping @Sendable (Result<Void, AzureMessagingError>) -> Void) {
        enum Step { case done(AzureMessagingError?), wait, start }
        let step: Step = state.withLockedValue { state in
            if let error = state.closedError { return .done(error) }
            if state.authorized[audience] != nil { return .done(nil) }
            if state.authorizing[audience] != nil {
                state.authorizing[audience]?.append(completion)
                return .wait
            }
            state.authorizing[audience] = [completion]
            return .start
        }
        switch step {
        case .done(let error): return completion(error.map { .failure($0) } ?? .success(()))
        case .wait: return
        case .start: break
        }
        let provider = endpoint.tokenProvider
        let typeOverride = endpoint.tokenTypeOverride
        let tokenQueue = queue
        let refresher = AMQPCBSTokenRefresher(cbs: cbs, audience: audience, putTokenTimeout: .clampingSeconds(min(max(timeout, 5), 60)),
                                              clock: clock, targetQueue: queue, onRefreshFailure: { [logger] error in
            logger.warning("CBS token refresh for \(audience) failed: \(error)")
        }) { audience, done in
            provider.token(forAudience: audience, deadline: .after(seconds: timeout), queue: tokenQueue) { result in
                done(result.map { token in
                    AMQPCBSToken(token: token.token, type: typeOverride ?? token.tokenType,
                                 expiresAt: Date(timeIntervalSince1970: Double(token.expiresOn)))
                }.mapError { $0 })
            }
        }
        refresher.start(queue: queue) { [weak self] result in
            let mapped: Result<Void, AzureMessagingError> = result.mapError { error in
                if error.code == .requestFailed && error.remote == nil {
                    return AzureMessagingError(.unauthorized, "CBS put-token refused: \(error.message)")
                }
                return AzureMessagingError(error, context: "CBS put-token for \(audience)")
            }
            if case .failure = mapped { refresher.cancel() }
            let waiters: [@Sendable (Result<Void, AzureMessagingError>) -> Void] = self?.state.withLockedValue { state in
                if case .success = mapped, state.closedError == nil { state.authorized[audience] = refresher }
                return state.authorizing.removeValue(forKey: audience) ?? []
            } ?? []
            for waiter in waiters { waiter(mapped) }
        }
    }

    /// The current token for `audience` (Event Hubs `$management` repeats it as `security_token`).
    package func currentToken(audience: String, timeout: Double,
                             completion: @escaping @Sendable (Result<CBSToken, AzureMessagingError>) -> Void) {
        endpoint.tokenProvider.token(forAudience: audience, deadline: .after(seconds: timeout), queue: queue) { result in
            completion(result.mapError { AzureMessagingError.wrap($0, context: "token for \(audience)") })
        }
    }

    /// Closes the connection (refreshers stop, links end with it). Idempotent.
    package func close(completion: @escaping @Sendable () -> Void) {
        let refreshers: [AMQPCBSTokenRefresher] = state.withLockedValue { state in
            state.closing = true
            defer { state.authorized = [:] }
            return Array(state.authorized.values)
        }
        for refresher in refreshers { refresher.cancel() }
        amqp.close(timeout: .seconds(2), queue: queue) { _ in completion() }
    }

    private func didClose(_ error: AMQPError?) {
        let mapped = error.map { AzureMessagingError($0, context: "connection \(id) ended") }
            ?? AzureMessagingError(.connectionLost, "connection \(id) was closed", recovery: .rebuildConnection)
        let (refreshers, waiters) = state.withLockedValue { state in
            if state.closedError == nil { state.closedError = mapped }
            defer { state.authorized = [:]; state.authorizing = [:] }
            return (Array(state.authorized.values), Array(state.authorizing.values.joined()))
        }
        for refresher in refreshers { refresher.cancel() }
        for waiter in waiters { waiter(.failure(mapped)) }
        logger.debug("connection \(id) ended: \(mapped)")
    }
}

/// The handle of an open in progress: `cancel` runs its action (once is enough; the action is idempotent).
private struct OpenAttempt: Cancellable {
    let action: @Sendable () -> Void
    func cancel() { action() }
}
