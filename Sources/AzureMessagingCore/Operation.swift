import Dispatch
import Foundation
import Logging
import Synchronization
import ToolboxCore

/// The queue a retry's back-off timer and a try's connection lease complete on: a fresh serial queue each time,
/// so tries still run beside each other, never a shared `.concurrent` one (see `LibraryQueues.makeWorkQueue`).
private var timerQueue: DispatchQueue { LibraryQueues.makeWorkQueue(label: "AzureMessaging.retry-timers") }

extension ConnectionProvider {
    /// Runs `body` on a lent connection, with the retry policy of DESIGN §6, and completes once on `queue`.
    ///
    /// Each try gets a connection (a closed one is discarded and replaced; waiting for one is bounded by the pool's
    /// `acquireTimeout`), runs `body` with a `TryScope` carrying the try's deadline, then returns the connection —
    /// discarded when the failure was connection-level, so every user of that connection shares one reconnect.
    /// When the try times out, the work it registered on its scope is cancelled (a message still queued is not
    /// sent after its retry was) and its lease is returned at once; a connection on which tries keep timing out
    /// is retired, since a dead or silent peer would otherwise hold every later try too. Transient failures are
    /// retried after a backoff delay (none before re-attaching a detached link); permanent ones are delivered as
    /// they are. Cancelling the returned handle delivers `.cancelled` at once and cancels the current try's work.
    @discardableResult
    package func perform<T: Sendable>(
        _ context: String, retry: RetryOptions, logger: Logger, queue: DispatchQueue,
        body: @escaping @Sendable (F.Connection, TryScope, @escaping @Sendable (Result<T, AzureMessagingError>) -> Void)
            -> Void,
        completion: @escaping @Sendable (Result<T, AzureMessagingError>) -> Void
    ) -> any Cancellable {
        let started = MonotonicInstant.now()
        let health = self.health
        let once = CompletionOnce<Result<T, AzureMessagingError>> { result in
            let seconds = MonotonicInstant.now().seconds(since: started)
            if logger.logLevel <= .debug {
                logger.debug("\(context) took \(String(format: "%.2f", seconds * 1000)) ms: \(result.isSuccess ? "ok" : "failed")")
            }
            var error: AzureMessagingError?
            if case .failure(let failure) = result { error = failure }
            health.recordOperation(String(context.prefix { $0 != " " }), seconds: seconds, error: error)
            // A blocking wrapper's completion only signals its waiting thread: run it here (see Blocking.deliveryQueue).
            if queue === Blocking.deliveryQueue { completion(result) } else { queue.async { completion(result) } }
        }
        let current = LockedValue<TryScope?>(nil)
        let token = OperationCancellation {
            once.complete(.failure(AzureMessagingError(.cancelled, "\(context): cancelled")))
            current.load()?.cancel()
        }
        attempt(context, number: 0, retry: retry, logger: logger, token: token, current: current, once: once, body: body)
        return token
    }

    private func attempt<T: Sendable>(
        _ context: String, number: Int, retry: RetryOptions, logger: Logger, token: OperationCancellation,
        current: LockedValue<TryScope?>, once: CompletionOnce<Result<T, AzureMessagingError>>,
        body: @escaping @Sendable (F.Connection, TryScope, @escaping @Sendable (Result<T, AzureMessagingError>) -> Void)
            -> Void
    ) {
        guard !token.isCancelled, !once.isCompleted else { return }
        let scope = TryScope(deadline: .after(retry.tryTimeout, on: clock))
        current.withLockedValue { $0 = scope }
        if token.isCancelled { scope.cancel() }
        let lease = TryLease()
        let tryOnce = CompletionOnce<Result<T, AzureMessagingError>> { [self] result in
            // The try is over, whoever ended it: its work stops and its connection goes back (or is retired).
            if case .success = result { scope.finish() } else { scope.cancel() }
            if let handle = lease.end() {
                handle.release(discard: shouldDiscard(connection(of: handle), after: result, logger: logger))
            }
            switch result {
            case .success: once.complete(result)
            case .failure(let error):
                health.recordError(error)
                guard error.isTransient, number < retry.maxRetries, !token.isCancelled else {
                    once.complete(result)
                    return
                }
                health.recordRetry()
                let delay = error.recovery == .rebuildLink && number == 0 ? .zero : retry.delay(beforeRetry: number)
                logger.debug("\(context): try \(number + 1) failed (\(error)); retrying in \(String(format: "%.3f", delay.toolboxSeconds)) s")
                clock.schedule(at: clock.now().advanced(by: delay), on: timerQueue) { [self] in
                    attempt(context, number: number + 1, retry: retry, logger: logger, token: token, current: current,
                            once: once, body: body)
                }
            }
        }
        // The per-try time-out: dropped unfired when the try completed first. It fires no earlier than
        // `scope.deadline`, so work that checks the deadline sees it passed once the try has given up.
        timeouts.schedule(after: retry.tryTimeout, TryTimeout(once: tryOnce, context: context, timeout: retry.tryTimeout))
        acquireOpen(timeout: nil, openTimeout: retry.tryTimeout.toolboxSeconds, skipped: 0) { result in
            switch result {
            case .failure(let error):
                tryOnce.complete(.failure(error))
            case .success(let handle):
                // The try may have timed out while waiting for the connection: then the lease goes straight back.
                guard lease.begin(handle) else { return handle.release(discard: false) }
                body(handle.connection(as: F.Connection.self), scope) { result in tryOnce.complete(result) }
            }
        }
    }

    /// Whether a try's connection is retired when the try ends with `result`: after a connection-level failure,
    /// when the connection has closed, or when tries on it keep timing out (`MessagingConnectionFactory`
    /// counts them). A success clears that count.
    private func shouldDiscard<T>(_ connection: F.Connection, after result: Result<T, AzureMessagingError>,
                                  logger: Logger) -> Bool {
        switch result {
        case .success:
            factory.noteTryOutcome(connection, timedOut: false)
            return false
        case .failure(let error):
            if error.recovery == .rebuildConnection || factory.isClosed(connection) { return true }
            guard error.code == .timedOut else { return false }
            let retire = factory.noteTryOutcome(connection, timedOut: true)
            if retire { logger.debug("retiring a connection on which \(Self.timeoutsBeforeRetiring) tries in a row timed out") }
            return retire
        }
    }

    /// Tries in a row that may time out on one connection before it is retired.
    package static var timeoutsBeforeRetiring: Int { 2 }

    /// Acquires a connection that is still open: a closed one (the service dropped it while idle) is
    /// discarded and the next one taken at once, without spending a retry on it. Bounded, in case every
    /// connection in the pool died together.
    private func acquireOpen(
        timeout: Double?, openTimeout: Double, skipped: Int,
        completion: @escaping @Sendable (Result<ConnectionHandle, AzureMessagingError>) -> Void
    ) {
        // A free connection is taken on the caller's thread: no hop before the operation starts.
        if let handle = tryAcquireNow() {
            guard factory.isClosed(connection(of: handle)) else { return completion(.success(handle)) }
            handle.release(discard: true)
            guard skipped < 32 else {
                return completion(.failure(AzureMessagingError(.connectionLost, "every connection had closed",
                                                                recovery: .rebuildConnection)))
            }
            return acquireOpen(timeout: timeout, openTimeout: openTimeout, skipped: skipped + 1, completion: completion)
        }
        acquire(timeout: timeout, openTimeout: openTimeout, queue: timerQueue) { [self] result in
            guard case .success(let handle) = result, factory.isClosed(connection(of: handle)) else {
                return completion(result)
            }
            handle.release(discard: true)
            guard skipped < 32 else {
                return completion(.failure(AzureMessagingError(.connectionLost, "every connection had closed",
                                                                recovery: .rebuildConnection)))
            }
            acquireOpen(timeout: timeout, openTimeout: openTimeout, skipped: skipped + 1, completion: completion)
        }
    }
}

/// The connection lent to one try: released exactly once, by whichever ends first — the try's completion, or the
/// acquire that finds the try already over.
private final class TryLease: Sendable {
    private enum State { case waiting, held(ConnectionHandle), ended }
    private let state = LockedValue<State>(.waiting)

    /// Hands the lease to the try; false when the try already ended (the caller releases it).
    func begin(_ handle: ConnectionHandle) -> Bool {
        state.withLockedValue { state in
            guard case .waiting = state else { return false }
            state = .held(handle)
            return true
        }
    }

    /// Ends the try; returns the lease to release, if one was handed over.
    func end() -> ConnectionHandle? {
        state.withLockedValue { state in
            defer { state = .ended }
            if case .held(let handle) = state { return handle }
            return nil
        }
    }
}

/// The handle `perform` returns: the first `cancel()` completes the operation with `.cancelled` (a no-op once it
/// completed). An atomic flag instead of a `CancellationToken`: no lock or handler list per operation.
final class OperationCancellation: Cancellable {
    private let cancelled = Atomic<Bool>(false)
    private let onCancel: @Sendable () -> Void

    init(_ onCancel: @escaping @Sendable () -> Void) { self.onCancel = onCancel }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    func cancel() {
        if !cancelled.exchange(true, ordering: .acquiringAndReleasing) { onCancel() }
    }
}

/// A try's time-out in `TimeoutScheduler`: fails the try with `.timedOut` (retried per the policy).
private final class TryTimeout<T: Sendable>: TimeoutTarget {
    let once: CompletionOnce<Result<T, AzureMessagingError>>
    let context: String
    let timeout: Duration

    init(once: CompletionOnce<Result<T, AzureMessagingError>>, context: String, timeout: Duration) {
        self.once = once
        self.context = context
        self.timeout = timeout
    }

    var isFinished: Bool { once.isCompleted }

    func timeOut() {
        once.complete(.failure(AzureMessagingError(.timedOut, "\(context): no answer within \(timeout.toolboxSeconds) s", recovery: .retry)))
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}

/// The blocking twin of a completion-handler operation: waits on a private queue; fails fast with
/// `.blockingCallOnLibraryQueue` when called on a library queue.
package func blockingWait<T>(
    function: StaticString = #function,
    _ operation: (DispatchQueue, @escaping @Sendable (Result<T, AzureMessagingError>) -> Void) -> Void
) throws(AzureMessagingError) -> T {
    do {
        return try Blocking.wait(function: function) { queue, done in
            operation(queue) { done($0.mapError { $0 }) }
        }
    } catch {
        throw AzureMessagingError.wrap(error, context: "\(function)")
    }
}

/// The handle of an operation that has no retry loop of its own (a settlement, a management request on a
/// receiver's link): `cancel()` delivers `.cancelled` on `queue` unless the result came first; the result that
/// comes later is dropped. The work on the wire is not recalled (a settlement may still take effect), as with
/// the Azure SDKs' cancellation.
package final class CancellableCompletion<T: Sendable>: Cancellable {
    private let once: CompletionOnce<Result<T, AzureMessagingError>>
    private let queue: DispatchQueue
    private let context: String

    /// - Parameters:
    ///   - context: what the operation is, for the cancellation error.
    ///   - queue: where `completion` runs.
    ///   - completion: called once, with the result or `.cancelled`.
    package init(_ context: String, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<T, AzureMessagingError>) -> Void) {
        self.once = CompletionOnce(completion)
        self.queue = queue
        self.context = context
    }

    /// Delivers `result` on the calling thread (the caller is already on `queue`), unless cancelled first.
    package func complete(_ result: Result<T, AzureMessagingError>) { once.complete(result) }

    package func cancel() {
        guard let handler = once.claim() else { return }
        let error = AzureMessagingError(.cancelled, "\(context): cancelled")
        queue.async { handler(.failure(error)) }
    }
}
