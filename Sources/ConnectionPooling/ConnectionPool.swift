import Dispatch
import Logging
import ToolboxCore

/// A pool of shared connections: each ready connection serves up to `clientLimit` leases at once.
///
/// ```swift
/// let pool = try ConnectionPool(connector: MyConnector())
/// pool.acquire { result in
///     guard case .success(let lease) = result else { return }
///     lease.connection.send(payload) { _ in lease.release() }
/// }
/// let lease = try pool.acquire()          // blocking form, for scripts
/// lease.release()
/// ```
///
/// An acquire takes the ready connection with the fewest leases (ties: the newest) when it has spare
/// capacity; otherwise it queues (FIFO, with a deadline) and, within `maxSize` and `maxConcurrentCreates`, a
/// new connection is opened for it. Waiters are woken by events — a lease returned, a connection proved
/// ready, a create failing — never by polling. See `docs/connection-pooling.md`.
///
/// Completion handlers run on the queue the caller passes (default `LibraryQueues.defaultCallbackQueue`),
/// exactly once, never while the pool's lock is held.
public final class ConnectionPool<C: Connector>: Sendable {
    public typealias Connection = C.Connection
    public typealias Lease = ConnectionLease<Connection>
    public typealias AcquireCompletion = @Sendable (Result<Lease, ConnectionPoolError>) -> Void

    public let connector: C
    public let configuration: ConnectionPoolConfiguration
    @usableFromInline let engine: PoolEngine

    /// Creates a pool; no connection opens until the first acquire (or `warmUp`, or `minReady`).
    ///
    /// - Parameters:
    ///   - connector: creates, proves and closes the connections.
    ///   - configuration: sizes, limits, expiry and time-outs.
    ///   - logger: where the pool logs opens, closes and failures.
    ///   - clock: the source of every instant and timer (idle and lifespan expiry, acquire deadlines, create
    ///     time-outs, minReady refresh); a `ManualClock` lets a test move time instead of sleeping.
    /// - Throws: `ToolboxError` with code `.invalidConfiguration` naming a setting out of range.
    public init(
        connector: C,
        configuration: ConnectionPoolConfiguration = ConnectionPoolConfiguration(),
        logger: Logger = Logger(label: "AzureClientsToolbox.ConnectionPool", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: any ToolboxClock = SystemClock()
    ) throws(ConnectionPoolError) {
        try configuration.validate()
        self.connector = connector
        self.configuration = configuration
        self.engine = PoolEngine(
            connector: ConnectorAdapter(connector: connector), configuration: configuration, logger: logger,
            clock: clock)
    }

    /// Dropping the last reference to the pool drains it: queued acquires fail, leases in flight finish, and
    /// every connection is closed.
    deinit {
        engine.shutDown()
    }

    @inlinable
    func lease(_ slot: PoolSlot) -> Lease {
        Lease(slot: slot)
    }

    // MARK: Acquire

    /// Leases a connection, delivering it to `completion` on `queue`.
    ///
    /// - parameters:
    ///   - timeout: how long to queue when no connection has spare capacity (default
    ///     `configuration.acquireTimeout`); zero fails at once instead of queueing.
    ///   - queue: where `completion` runs.
    ///   - completion: receives the lease or the reason there is none, exactly once.
    /// - returns: a handle whose `cancel()` fails a still-queued acquire with `.cancelled`.
    @discardableResult
    public func acquire(
        timeout: Duration? = nil,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping AcquireCompletion
    ) -> any Cancellable {
        acquire(timeoutSeconds: PoolTimes.seconds(timeout, or: engine.times.acquireTimeout), queue: queue,
                completion: completion)
    }

    /// `acquire(timeout:queue:completion:)` for the library's own callers, whose deadlines are already in
    /// seconds (the engine's unit); nil means `configuration.acquireTimeout`, and a negative or NaN
    /// `timeoutSeconds` fails at once instead of queueing.
    @discardableResult
    package func acquire(
        timeoutSeconds: Double?, queue: DispatchQueue, completion: @escaping AcquireCompletion
    ) -> any Cancellable {
        let timeout = timeoutSeconds ?? engine.times.acquireTimeout
        let (immediate, handle) = engine.acquireOrEnqueue(timeout: timeout, queue: queue) { [self] result in
            completion(result.map { lease($0) })
        }
        if let immediate {
            let result = immediate.map { lease($0) }
            queue.async { completion(result) }
        }
        return handle
    }

    /// `acquire(timeoutSeconds:queue:completion:)` delivering on no queue: `completion` runs on whichever thread
    /// resolves the wait, after the pool's lock is released — the caller's own thread when a lease is free at
    /// once, otherwise the thread that releases a lease (typically in a connection's own completion, on its
    /// queue), finishes opening a connection, times the wait out, cancels it or closes the pool.
    ///
    /// For library callers whose completion only hands the lease on (starts work on the connection's queue, or
    /// hops elsewhere) and never blocks: it saves the thread hop of every served wait.
    @discardableResult
    package func acquireDeliveringInline(
        timeoutSeconds: Double?, completion: @escaping AcquireCompletion
    ) -> any Cancellable {
        let timeout = timeoutSeconds ?? engine.times.acquireTimeout
        let (immediate, handle) = engine.acquireOrEnqueue(timeout: timeout, queue: nil) { [self] result in
            completion(result.map { lease($0) })
        }
        if let immediate { completion(immediate.map { lease($0) }) }
        return handle
    }

    /// Leases a connection, blocking the calling thread until one is free.
    ///
    /// Takes a free lease without any thread hop. Called on a library queue when it would have to wait, it
    /// throws `CoreError` (`.blockingCallOnLibraryQueue`) instead of risking a deadlock.
    /// - throws: `ConnectionPoolError` (`.timedOut`, `.exhausted`, `.connectionFailed`, `.poolClosed`) or `CoreError`.
    @inlinable
    public func acquire(timeout: Duration? = nil) throws -> Lease {
        if let slot = engine.tryLeaseImmediately() { return lease(slot) }
        return lease(try engine.acquireBlocking(timeout: PoolTimes.seconds(timeout, or: engine.times.acquireTimeout)))
    }

    /// Leases a connection only if one is free right now, without queueing; with the `.spread` selection policy a
    /// lease that shares a connection may start opening another, as any acquire does.
    @inlinable
    public func tryAcquireImmediately() -> Lease? {
        engine.tryLeaseImmediately().map { lease($0) }
    }

    /// Leases a connection, runs `body` with it, and returns the lease (`.discard` if `body` throws
    /// `LeaseDiscardingError`, otherwise `.reuse`).
    public func withConnection<T>(timeout: Duration? = nil, _ body: (Connection) throws -> T) throws -> T {
        let lease = try acquire(timeout: timeout)
        do {
            let value = try body(lease.connection)
            lease.release(.reuse)
            return value
        } catch let error as LeaseDiscardingError {
            lease.release(.discard)
            throw error
        } catch {
            lease.release(.reuse)
            throw error
        }
    }

    /// Retires the connection behind `lease` because it failed in use: no new leases go to it, and it closes
    /// when its last lease returns. Does not release `lease` itself.
    public func expire(_ lease: Lease) {
        engine.expireSlot(lease.slot)
    }

    // MARK: Warm-up, shutdown, state

    /// Opens connections ahead of need until `count` (at most `maxSize`) are ready.
    ///
    /// Completes with the number of ready connections, or with `.connectionFailed` as soon as one create fails.
    public func warmUp(
        count: Int,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<Int, ConnectionPoolError>) -> Void
    ) {
        engine.warmUp(count: count, queue: queue, completion: completion)
    }

    /// Blocking form of `warmUp(count:queue:completion:)`; returns the number of ready connections.
    @discardableResult
    public func warmUp(count: Int) throws -> Int {
        try Blocking.wait { queue, completion in
            engine.warmUp(count: count, queue: queue) { result in completion(result.mapError { $0 }) }
        }
    }

    /// Drains the pool: new acquires fail with `.poolClosed`, queued ones fail now, leases in flight finish,
    /// then every connection closes and `completion` runs.
    public func closeAll(
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue, completion: @escaping @Sendable () -> Void = {}
    ) {
        engine.closeAll(queue: queue, completion: completion)
    }

    /// Blocking form of `closeAll(queue:completion:)`: returns once every connection is closed.
    public func closeAll() throws {
        let _: Void = try Blocking.wait { queue, completion in
            engine.closeAll(queue: queue) { completion(.success(())) }
        }
    }

    /// A consistent snapshot of the pool's counts and totals.
    public var snapshot: ConnectionPoolSnapshot { engine.snapshot }

    /// The pool's invariants, as a list of violations (empty when all hold). For tests and debugging.
    @_spi(Testing) public func invariantViolations() -> [String] { engine.invariantViolations() }
}

/// Throw this (or wrap your error in it) from `withConnection`'s body to retire the connection.
public struct LeaseDiscardingError: Error, Sendable {
    public let underlying: any Error
    public init(_ underlying: any Error) { self.underlying = underlying }
}

extension PoolEngine {
    /// The waiting half of the blocking acquire.
    @usableFromInline
    func acquireBlocking(timeout: Double) throws -> PoolSlot {
        if let label = LibraryQueues.currentLibraryQueueLabel {
            throw CoreError(
                .blockingCallOnLibraryQueue,
                "ConnectionPool.acquire() would block the library queue '\(label)'; use acquire(queue:completion:)")
        }
        let semaphore = DispatchSemaphore(value: 0)
        let box = LockedValue<Result<PoolSlot, ConnectionPoolError>?>(nil)
        let (immediate, _) = acquireOrEnqueue(timeout: timeout, queue: nil) { result in
            box.withLockedValue { $0 = result }
            semaphore.signal()
        }
        if let immediate { return try immediate.get() }
        semaphore.wait()
        guard let result = box.load() else {
            throw ConnectionPoolError(.cancelled, "acquire finished without a result")
        }
        return try result.get()
    }
}
