import Dispatch
import Logging
import ToolboxCore

/// The pool's machinery, free of generics so that it compiles to concrete code: a generic pool used from
/// another module would otherwise look up type metadata on every acquire (measured: most of its cost).
/// `ConnectionPool<C>` is a thin typed facade over it.
///
/// All state sits behind one lock held for O(log n) work; connector calls and completion handlers always run
/// outside it.
@usableFromInline
final class PoolEngine: @unchecked Sendable {
    // @unchecked Sendable: every `var` below is read and written only with `lock` held; the `let`s are
    // immutable or thread-safe (DispatchQueue, ToolboxClock, Logger, PoolMetricsRecorder).
    @usableFromInline typealias SlotCompletion = @Sendable (Result<PoolSlot, ConnectionPoolError>) -> Void

    let connector: any ErasedConnector
    let configuration: ConnectionPoolConfiguration
    /// The configuration's times in seconds (converted once, after validation).
    @usableFromInline let times: PoolTimes
    let logger: Logger
    let lock = Lock()
    let housekeepingQueue: DispatchQueue
    /// Every instant and timer of the pool comes from here (a `ManualClock` in tests).
    let clock: any ToolboxClock
    /// The system clock is read directly on the lease path, skipping the existential call.
    let usesSystemClock: Bool
    /// The sweep's next run (idle and lifespan expiry, minReady upkeep); moved only to an earlier time.
    var sweepTimer: (any Cancellable)?
    /// Fires at the earliest queued acquire's deadline (one timer for all waiters, moved as the heap's minimum
    /// changes), so a waiter served early leaves nothing scheduled behind.
    var waiterTimer: (any Cancellable)?
    let metricsRecorder: PoolMetricsRecorder?
    let maxCreates: Int
    let clientLimit: Int
    /// `selectionPolicy == .spread`, read on the lease path.
    let spreads: Bool

    var slots: [PoolSlot] = []
    /// The heap and the counters touched on every lease live behind pointers: accesses through an addressor
    /// skip Swift's dynamic exclusivity checks, which the lock already makes redundant (measured: ~10 ns of a
    /// ~130 ns acquire+release).
    private let readyHeapStorage: UnsafeMutablePointer<IndexedMinHeap<PoolSlot>>
    private let statsStorage: UnsafeMutablePointer<ConnectionPoolSnapshot>
    var readyHeap: IndexedMinHeap<PoolSlot> {
        unsafeAddress { UnsafePointer(readyHeapStorage) }
        unsafeMutableAddress { readyHeapStorage }
    }
    var stats: ConnectionPoolSnapshot {
        unsafeAddress { UnsafePointer(statsStorage) }
        unsafeMutableAddress { statsStorage }
    }
    var waiters = FIFOQueue<Waiter>()
    var waiterDeadlines = IndexedMinHeap<Waiter>(by: { $0.deadline < $1.deadline })
    var waiterTimerAt: MonotonicInstant?
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
    var lastRecorded = ConnectionPoolSnapshot()

    init(connector: any ErasedConnector, configuration: ConnectionPoolConfiguration, logger: Logger,
         clock: any ToolboxClock) {
        self.connector = connector
        self.clock = clock
        self.usesSystemClock = clock is SystemClock
        self.configuration = configuration
        self.times = configuration.engineTimes
        self.logger = logger
        self.maxCreates = configuration.effectiveMaxConcurrentCreates
        self.clientLimit = configuration.clientLimit
        self.spreads = configuration.selectionPolicy == .spread
        self.readyHeapStorage = .allocate(capacity: 1)
        readyHeapStorage.initialize(to: IndexedMinHeap<PoolSlot>(by: PoolSlot.precedes))
        self.statsStorage = .allocate(capacity: 1)
        statsStorage.initialize(to: ConnectionPoolSnapshot())
        self.housekeepingQueue = LibraryQueues.makeQueue(
            label: "AzureClientsToolbox.ConnectionPool.\(configuration.metricsLabel ?? "pool")")
        self.metricsRecorder = configuration.metricsLabel.map(PoolMetricsRecorder.init(label:))
        if configuration.minReady > 0 {
            housekeepingQueue.async { [self] in sweep() }
        }
    }

    deinit {
        readyHeapStorage.deinitialize(count: 1)
        readyHeapStorage.deallocate()
        statsStorage.deinitialize(count: 1)
        statsStorage.deallocate()
    }

    /// Drains the pool and stops its timers once nothing is left; called when the typed pool is deinitialised.
    func shutDown() {
        closeAll(queue: housekeepingQueue) { [self] in
            let timers = lock.withLock {
                defer { (sweepTimer, waiterTimer, nextSweep, waiterTimerAt) = (nil, nil, nil, nil) }
                return [sweepTimer, waiterTimer]
            }
            for timer in timers { timer?.cancel() }
        }
    }

    /// The clock's coarse now; on the system clock without the existential call (this is on the lease path).
    @inline(__always)
    func coarseNow() -> MonotonicInstant {
        usesSystemClock ? MonotonicInstant.coarseNow() : clock.coarseNow()
    }

    /// The clock's precise now.
    @inline(__always)
    func preciseNow() -> MonotonicInstant {
        usesSystemClock ? MonotonicInstant.now() : clock.now()
    }

    /// Runs `expireWaiters` at `instant`, replacing the waiter timer. Called with the lock held.
    ///
    /// The job captures the engine strongly: weak references would give the engine a side table and make every
    /// lease's retain and release take the slow path. `shutDown()` cancels the jobs, which releases them.
    func scheduleWaiterTimerLocked(at instant: MonotonicInstant) {
        waiterTimer?.cancel()
        waiterTimerAt = instant
        waiterTimer = clock.schedule(at: instant, on: housekeepingQueue, leeway: .milliseconds(1)) { [self] in
            expireWaiters()
        }
    }

    // MARK: Acquire

    /// Takes a lease on a free connection right now, or returns nil (never queues; under `.spread` a shared lease
    /// may start opening another connection).
    @usableFromInline
    func tryLeaseImmediately() -> PoolSlot? {
        let now = coarseNow()
        var effects = PoolEffects()
        lock.lock()
        guard !isClosed, liveWaiters == 0 else {
            lock.unlock()
            return nil
        }
        let slot = tryLeaseLocked(now: now, effects: &effects)
        lock.unlock()
        if !effects.isEmpty { run(effects) }
        return slot
    }

    /// Leases now if possible (returned), else queues `completion` (nil queue: called inline on the resolving
    /// thread) and returns the handle that cancels the wait.
    func acquireOrEnqueue(
        timeout: Double, queue: DispatchQueue?, completion: @escaping SlotCompletion
    ) -> (Result<PoolSlot, ConnectionPoolError>?, any Cancellable) {
        let now = coarseNow()
        var effects = PoolEffects()
        lock.lock()
        if isClosed {
            lock.unlock()
            return (.failure(ConnectionPoolError(.poolClosed, "the pool was closed by closeAll(); create a new pool")),
                    CompletedOperation())
        }
        if liveWaiters == 0, let slot = tryLeaseLocked(now: now, effects: &effects) {
            lock.unlock()
            if !effects.isEmpty { run(effects) }
            return (.success(slot), CompletedOperation())
        }
        if liveWaiters >= configuration.maxWaiters || !(timeout > 0) {
            let error = noCapacityErrorLocked(timeout: timeout)
            if error.code == .timedOut { stats.acquireTimeouts += 1 }
            lock.unlock()
            if !effects.isEmpty { run(effects) }
            return (.failure(error), CompletedOperation())
        }
        let waiter = Waiter(enqueuedAt: preciseNow(), timeout: timeout, queue: queue, completion: completion)
        waiters.push(waiter)
        liveWaiters += 1
        if timeout.isFinite {
            waiterDeadlines.insert(waiter)
            if waiterTimerAt.map({ waiter.deadline < $0 }) ?? true {
                scheduleWaiterTimerLocked(at: waiter.deadline)
            }
        }
        planCreatesLocked(now: now, effects: &effects)
        lock.unlock()
        run(effects)
        return (nil, WaiterCancellation(engine: self, waiter: waiter))
    }

    /// Takes a lease on the best ready connection with spare capacity, retiring expired ones on the way.
    func tryLeaseLocked(now: MonotonicInstant, effects: inout PoolEffects) -> PoolSlot? {
        while let top = readyHeap.min, top.inUse < clientLimit {
            if top.expiry <= now
                || top.connection == nil
            {
                retireLocked(top, effects: &effects)
                continue
            }
            top.inUse += 1
            readyHeap.update(top)
            stats.inUse += 1
            stats.leases += 1
            // Spreading: this lease shares a connection (none was free), so open another if the pool may.
            if spreads, top.inUse > 1 { planCreatesLocked(now: now, effects: &effects) }
            return top
        }
        return nil
    }

    /// Takes back one lease on `slot`.
    @usableFromInline
    func giveBack(_ slot: PoolSlot, _ mode: LeaseRelease) {
        let now = coarseNow()
        var effects = PoolEffects()
        lock.lock()
        slot.inUse -= 1
        stats.inUse -= 1
        if slot.inUse == 0 { slot.markIdle(at: now) }
        switch slot.state {
        case .ready:
            if mode == .discard {
                retireLocked(slot, effects: &effects)
            } else {
                readyHeap.update(slot)
                if slot.inUse == 0 { noteWakeLocked(slot.expiry) }
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

    /// Retires `slot` (it failed in use): no new leases; it closes when its last lease returns.
    @usableFromInline
    func expireSlot(_ slot: PoolSlot) {
        var effects = PoolEffects()
        lock.lock()
        if slot.state == .ready {
            retireLocked(slot, effects: &effects)
            planCreatesLocked(now: coarseNow(), effects: &effects)
        }
        lock.unlock()
        run(effects)
    }

    /// Hands free capacity to queued callers in FIFO order.
    func serveWaitersLocked(now: MonotonicInstant, effects: inout PoolEffects) {
        guard liveWaiters > 0 else { return }
        let precise = preciseNow()
        while liveWaiters > 0 {
            while let first = waiters.first, first.done { _ = waiters.pop() }
            guard let waiter = waiters.first, let slot = tryLeaseLocked(now: now, effects: &effects) else { return }
            _ = waiters.pop()
            finishWaiterLocked(waiter)
            let waited = max(0, precise.seconds(since: waiter.enqueuedAt))
            stats.waitedAcquires += 1
            stats.totalAcquireWaitSeconds += waited
            stats.maxAcquireWaitSeconds = max(stats.maxAcquireWaitSeconds, waited)
            metricsRecorder?.acquireWait.recordNanoseconds(Int64(clampingRounded: waited * 1e9))
            effects.actions.append(.deliver(waiter, .success(slot)))
        }
    }

    func finishWaiterLocked(_ waiter: Waiter) {
        waiter.done = true
        waiterDeadlines.remove(waiter)
        liveWaiters -= 1
    }

    /// Fails every queued acquire whose deadline has passed, then moves the timer to the next deadline.
    func expireWaiters() {
        let now = preciseNow()
        var expired: [(Waiter, ConnectionPoolError)] = []
        lock.lock()
        waiterTimerAt = nil
        waiterTimer = nil
        while let first = waiterDeadlines.min, first.deadline <= now {
            finishWaiterLocked(first)
            stats.acquireTimeouts += 1
            expired.append((first, noCapacityErrorLocked(timeout: first.timeout)))
        }
        if let next = waiterDeadlines.min { scheduleWaiterTimerLocked(at: next.deadline) }
        lock.unlock()
        for (waiter, error) in expired { waiter.deliver(.failure(error)) }
    }

    /// Fails a still-queued acquire with `.cancelled` (its caller cancelled it).
    func cancelWaiter(_ waiter: Waiter) {
        lock.lock()
        guard !waiter.done else {
            lock.unlock()
            return
        }
        finishWaiterLocked(waiter)
        lock.unlock()
        waiter.deliver(.failure(ConnectionPoolError(.cancelled, "the acquire was cancelled by its caller")))
    }

    func noCapacityErrorLocked(timeout: Double) -> ConnectionPoolError {
        let state = "\(stats.inUse) leases in use on \(readyHeap.count) ready connections "
            + "(clientLimit \(clientLimit)), \(openingCount) opening, maxSize \(configuration.maxSize)"
        if liveWaiters >= configuration.maxWaiters {
            return ConnectionPoolError(
                .exhausted,
                "\(liveWaiters) callers already wait for a lease (maxWaiters \(configuration.maxWaiters)); \(state). "
                    + "Raise clientLimit or maxSize, or send less at once")
        }
        if readyHeap.isEmpty, stats.inUse == 0, openingCount > 0 {
            // Nothing is held: the wait was for a connection that is still being opened (a server that accepts and
            // never answers, a slow handshake). Raising limits would not help; saying so points at the server.
            return ConnectionPoolError(
                .timedOut,
                "no connection was ready within \(timeout)s: \(openingCount) still opening and none ready (maxSize "
                    + "\(configuration.maxSize)); the server has not completed the connection or its handshake")
        }
        return ConnectionPoolError(
            .timedOut,
            "no lease became free within \(timeout)s; \(state). Raise acquireTimeout, clientLimit or maxSize, "
                + "or check why leases are held so long")
    }

    @usableFromInline
    var snapshot: ConnectionPoolSnapshot { lock.withLock { snapshotLocked() } }

    func snapshotLocked() -> ConnectionPoolSnapshot {
        var result = stats
        result.ready = readyHeap.count
        result.opening = openingCount
        result.draining = slots.count - readyHeap.count - openingCount
        result.waiters = liveWaiters
        return result
    }

    func run(_ effects: PoolEffects) {
        for action in effects.actions {
            switch action {
            case .deliver(let waiter, let result): waiter.deliver(result)
            case .create(let slot): startCreate(slot)
            case .close(let slot, let connection): startClose(slot, connection)
            case .callback(let callback): callback()
            }
        }
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
struct WaiterCancellation: Cancellable {
    let engine: PoolEngine
    let waiter: Waiter

    func cancel() { engine.cancelWaiter(waiter) }
}
