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
/// All state sits behind one lock held for O(log n) work; connector calls and completion handlers always run
/// outside it. Completion handlers run on the queue the caller passes (default
/// `LibraryQueues.defaultCallbackQueue`), exactly once.
public final class ConnectionPool<C: Connector>: LeaseOwner, @unchecked Sendable {
    // @unchecked Sendable: every `var` below is read and written only with `lock` held; the `let`s are
    // immutable or thread-safe (DispatchQueue, DispatchSourceTimer, Logger, PoolMetricsRecorder).
    public typealias Connection = C.Connection
    public typealias Lease = ConnectionLease<Connection>
    public typealias AcquireCompletion = @Sendable (Result<Lease, ConnectionPoolError>) -> Void

    public let connector: C
    public let configuration: ConnectionPoolConfiguration
    let logger: Logger
    let lock = Lock()
    let housekeepingQueue: DispatchQueue
    let sweepTimer: any DispatchSourceTimer
    let metricsRecorder: PoolMetricsRecorder?
    let maxCreates: Int

    var slots: [PoolSlot<Connection>] = []
    var readyHeap = IndexedMinHeap<PoolSlot<Connection>>(by: PoolSlot.precedes)
    var waiters = FIFOQueue<Waiter<Connection>>()
    var liveWaiters = 0
    var openingCount = 0
    /// Opening slots whose waiters were already failed (create timed out, pool closing): they still count
    /// against `maxSize` and `maxConcurrentCreates` until the connector answers.
    var abandonedOpening = 0
    var nextSlotID = 1
    var isClosed = false
    var closeCompletions: [@Sendable () -> Void] = []
    var warmUps: [WarmUpRequest] = []
    var nextSweep: MonotonicInstant?
    var consecutiveCreateFailures = 0
    var lastCreateFailureAt = MonotonicInstant(nanoseconds: 0)
    var stats = ConnectionPoolSnapshot()
    var lastRecorded = ConnectionPoolSnapshot()

    /// Creates a pool; no connection opens until the first acquire (or `warmUp`, or `minReady`).
    ///
    /// - throws: `ConnectionPoolError` with code `.invalidConfiguration` naming a setting out of range.
    public init(
        connector: C,
        configuration: ConnectionPoolConfiguration = ConnectionPoolConfiguration(),
        logger: Logger = Logger(label: "AzureClientsToolbox.ConnectionPool", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(ConnectionPoolError) {
        try configuration.validate()
        self.connector = connector
        self.configuration = configuration
        self.logger = logger
        self.maxCreates = configuration.effectiveMaxConcurrentCreates
        self.housekeepingQueue = LibraryQueues.makeQueue(
            label: "AzureClientsToolbox.ConnectionPool.\(configuration.metricsLabel ?? "pool")")
        self.sweepTimer = DispatchSource.makeTimerSource(queue: housekeepingQueue)
        self.metricsRecorder = configuration.metricsLabel.map(PoolMetricsRecorder.init(label:))
        sweepTimer.setEventHandler { [weak self] in self?.sweep() }
        sweepTimer.schedule(deadline: .distantFuture)
        sweepTimer.resume()
        if configuration.minReady > 0 {
            housekeepingQueue.async { [weak self] in self?.sweep() }
        }
    }

    deinit {
        sweepTimer.cancel()
    }

    // MARK: Acquire

    /// Leases a connection, delivering it to `completion` on `queue`.
    ///
    /// - parameter timeout: how long to queue when no connection has spare capacity (default
    ///   `configuration.acquireTimeout`); zero fails at once instead of queueing.
    /// - returns: a handle whose `cancel()` fails a still-queued acquire with `.cancelled`.
    @discardableResult
    public func acquire(
        timeout: Double? = nil,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping AcquireCompletion
    ) -> any Cancellable {
        let (immediate, handle) = acquireOrEnqueue(timeout: timeout ?? configuration.acquireTimeout, queue: queue,
                                                   completion: completion)
        if let immediate {
            queue.async { completion(immediate) }
        }
        return handle
    }

    /// Leases a connection, blocking the calling thread until one is free.
    ///
    /// Takes a free lease without any thread hop. Called on a library queue when it would have to wait, it
    /// throws `CoreError` (`.blockingCallOnLibraryQueue`) instead of risking a deadlock.
    /// - throws: `ConnectionPoolError` (`.timedOut`, `.exhausted`, `.connectionFailed`, `.poolClosed`) or `CoreError`.
    public func acquire(timeout: Double? = nil) throws -> Lease {
        let effectiveTimeout = timeout ?? configuration.acquireTimeout
        if let lease = tryAcquireImmediately() { return lease }
        if let label = LibraryQueues.currentLibraryQueueLabel {
            throw CoreError(
                .blockingCallOnLibraryQueue,
                "ConnectionPool.acquire() would block the library queue '\(label)'; use acquire(queue:completion:)")
        }
        let semaphore = DispatchSemaphore(value: 0)
        let box = LockedValue<Result<Lease, ConnectionPoolError>?>(nil)
        let (immediate, _) = acquireOrEnqueue(timeout: effectiveTimeout, queue: nil) { result in
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

    /// Leases a connection only if one is free right now, without queueing or opening one.
    public func tryAcquireImmediately() -> Lease? {
        let now = MonotonicInstant.now()
        var effects = PoolEffects<Connection>()
        lock.lock()
        guard !isClosed, liveWaiters == 0 else {
            lock.unlock()
            return nil
        }
        let lease = tryLeaseLocked(now: now, effects: &effects)
        lock.unlock()
        if !effects.isEmpty { run(effects) }
        return lease
    }

    /// Leases a connection, runs `body` with it, and returns the lease (`.discard` if `body` throws
    /// `LeaseDiscardingError`, otherwise `.reuse`).
    public func withConnection<T>(timeout: Double? = nil, _ body: (Connection) throws -> T) throws -> T {
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
        expireSlot(lease.slot)
    }

    /// A consistent snapshot of the pool's counts and totals.
    public var snapshot: ConnectionPoolSnapshot {
        lock.withLock { snapshotLocked() }
    }

    // MARK: Internals

    private func acquireOrEnqueue(
        timeout: Double, queue: DispatchQueue?, completion: @escaping AcquireCompletion
    ) -> (Result<Lease, ConnectionPoolError>?, any Cancellable) {
        let now = MonotonicInstant.now()
        var effects = PoolEffects<Connection>()
        lock.lock()
        if isClosed {
            lock.unlock()
            return (.failure(ConnectionPoolError(.poolClosed, "the pool was closed by closeAll(); create a new pool")),
                    CompletedOperation())
        }
        if liveWaiters == 0, let lease = tryLeaseLocked(now: now, effects: &effects) {
            lock.unlock()
            if !effects.isEmpty { run(effects) }
            return (.success(lease), CompletedOperation())
        }
        if liveWaiters >= configuration.maxWaiters || !(timeout > 0) {
            let error = noCapacityErrorLocked(timeout: timeout)
            if error.code == .timedOut { stats.acquireTimeouts += 1 }
            lock.unlock()
            if !effects.isEmpty { run(effects) }
            return (.failure(error), CompletedOperation())
        }
        let waiter = Waiter<Connection>(enqueuedAt: now, timeout: timeout, queue: queue, completion: completion)
        waiters.push(waiter)
        liveWaiters += 1
        if timeout.isFinite {
            let item = DispatchWorkItem { [weak self, weak waiter] in
                guard let self, let waiter else { return }
                self.resolveWaiter(waiter, reason: .timedOut)
            }
            waiter.timeoutItem = item
            housekeepingQueue.asyncAfter(deadline: now.advanced(bySeconds: timeout).dispatchTime, execute: item)
        }
        planCreatesLocked(now: now, effects: &effects)
        lock.unlock()
        run(effects)
        return (nil, WaiterCancellation(pool: self, waiter: waiter))
    }

    /// Takes a lease on the best ready connection with spare capacity, retiring expired ones on the way.
    func tryLeaseLocked(now: MonotonicInstant, effects: inout PoolEffects<Connection>) -> Lease? {
        while let top = readyHeap.min, top.inUse < configuration.clientLimit {
            if top.expiry(maxIdle: configuration.maxIdle, maxLifespan: configuration.maxLifespan) <= now {
                retireLocked(top, effects: &effects)
                continue
            }
            guard let connection = top.connection else {
                retireLocked(top, effects: &effects)
                continue
            }
            top.inUse += 1
            readyHeap.update(top)
            stats.inUse += 1
            stats.leases += 1
            return Lease(connection: connection, slot: top, owner: self, at: now)
        }
        return nil
    }

    func giveBack(_ slot: PoolSlot<Connection>, _ mode: LeaseRelease) {
        let now = MonotonicInstant.now()
        var effects = PoolEffects<Connection>()
        lock.lock()
        slot.inUse -= 1
        stats.inUse -= 1
        if slot.inUse == 0 { slot.lastActivity = now }
        switch slot.state {
        case .ready:
            if mode == .discard {
                retireLocked(slot, effects: &effects)
            } else {
                readyHeap.update(slot)
                if slot.inUse == 0, let maxIdle = configuration.maxIdle {
                    noteWakeLocked(now.advanced(bySeconds: maxIdle))
                }
            }
        case .draining:
            if slot.inUse == 0 { beginCloseLocked(slot, effects: &effects) }
        case .opening, .closing:
            break
        }
        if liveWaiters > 0 {
            serveWaitersLocked(now: now, effects: &effects)
            planCreatesLocked(now: now, effects: &effects)
        }
        lock.unlock()
        if !effects.isEmpty { run(effects) }
    }

    func expireSlot(_ slot: PoolSlot<Connection>) {
        var effects = PoolEffects<Connection>()
        lock.lock()
        if slot.state == .ready {
            retireLocked(slot, effects: &effects)
            planCreatesLocked(now: .now(), effects: &effects)
        }
        lock.unlock()
        run(effects)
    }

    /// Hands free capacity to queued callers in FIFO order.
    func serveWaitersLocked(now: MonotonicInstant, effects: inout PoolEffects<Connection>) {
        while liveWaiters > 0 {
            while let first = waiters.first, first.done { _ = waiters.pop() }
            guard let waiter = waiters.first, let lease = tryLeaseLocked(now: now, effects: &effects) else { return }
            _ = waiters.pop()
            finishWaiterLocked(waiter)
            let waited = now.seconds(since: waiter.enqueuedAt)
            stats.waitedAcquires += 1
            stats.totalAcquireWaitSeconds += waited
            stats.maxAcquireWaitSeconds = max(stats.maxAcquireWaitSeconds, waited)
            metricsRecorder?.acquireWait.recordNanoseconds(Int64(waited * 1e9))
            effects.deliveries.append((waiter, .success(lease)))
        }
    }

    func finishWaiterLocked(_ waiter: Waiter<Connection>) {
        waiter.done = true
        waiter.timeoutItem?.cancel()
        waiter.timeoutItem = nil
        liveWaiters -= 1
    }

    enum WaiterEnd { case timedOut, cancelled }

    func resolveWaiter(_ waiter: Waiter<Connection>, reason: WaiterEnd) {
        lock.lock()
        guard !waiter.done else {
            lock.unlock()
            return
        }
        finishWaiterLocked(waiter)
        let error: ConnectionPoolError
        switch reason {
        case .timedOut:
            stats.acquireTimeouts += 1
            error = noCapacityErrorLocked(timeout: waiter.timeout)
        case .cancelled:
            error = ConnectionPoolError(.cancelled, "the acquire was cancelled by its caller")
        }
        lock.unlock()
        waiter.deliver(.failure(error))
    }

    func noCapacityErrorLocked(timeout: Double) -> ConnectionPoolError {
        let state = "\(stats.inUse) leases in use on \(readyHeap.count) ready connections "
            + "(clientLimit \(configuration.clientLimit)), \(openingCount) opening, maxSize \(configuration.maxSize)"
        if liveWaiters >= configuration.maxWaiters {
            return ConnectionPoolError(
                .exhausted,
                "\(liveWaiters) callers already wait for a lease (maxWaiters \(configuration.maxWaiters)); \(state). "
                    + "Raise clientLimit or maxSize, or send less at once")
        }
        return ConnectionPoolError(
            .timedOut,
            "no lease became free within \(timeout)s; \(state). Raise acquireTimeout, clientLimit or maxSize, "
                + "or check why leases are held so long")
    }

    func snapshotLocked() -> ConnectionPoolSnapshot {
        var result = stats
        result.ready = readyHeap.count
        result.opening = openingCount
        result.draining = slots.count - readyHeap.count - openingCount
        result.waiters = liveWaiters
        return result
    }

    func run(_ effects: PoolEffects<Connection>) {
        for (waiter, result) in effects.deliveries { waiter.deliver(result) }
        for slot in effects.creates { startCreate(slot) }
        for (slot, connection) in effects.closes { startClose(slot, connection) }
        for callback in effects.callbacks { callback() }
        if effects.gaugesChanged, let metricsRecorder {
            let (now, before): (ConnectionPoolSnapshot, ConnectionPoolSnapshot) = lock.withLock {
                let current = snapshotLocked()
                defer { lastRecorded = current }
                return (current, lastRecorded)
            }
            metricsRecorder.record(now, since: before)
        }
    }
}

/// Cancels a queued acquire.
struct WaiterCancellation<C: Connector>: Cancellable {
    let pool: ConnectionPool<C>
    let waiter: Waiter<C.Connection>

    func cancel() { pool.resolveWaiter(waiter, reason: .cancelled) }
}

/// Throw this (or wrap your error in it) from `withConnection`'s body to retire the connection.
public struct LeaseDiscardingError: Error, Sendable {
    public let underlying: any Error
    public init(_ underlying: any Error) { self.underlying = underlying }
}
