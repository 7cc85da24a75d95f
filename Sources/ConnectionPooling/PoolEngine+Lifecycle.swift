import Dispatch
import ToolboxCore

/// A pending `warmUp` call.
struct WarmUpRequest: Sendable {
    let target: Int
    let queue: DispatchQueue
    let completion: @Sendable (Result<Int, ConnectionPoolError>) -> Void
}

extension PoolEngine {
    // MARK: Warm-up

    /// Opens connections ahead of need until `count` (at most `maxSize`) are ready.
    ///
    /// Completes with the number of ready connections, or with `.connectionFailed` as soon as one create fails.
    func warmUp(
        count: Int,
        queue: DispatchQueue,
        completion: @escaping @Sendable (Result<Int, ConnectionPoolError>) -> Void
    ) {
        var effects = PoolEffects()
        let now = preciseNow()
        lock.lock()
        if isClosed {
            lock.unlock()
            queue.async { completion(.failure(ConnectionPoolError(.poolClosed, "warmUp on a closed pool"))) }
            return
        }
        let target = max(0, min(count, configuration.maxSize))
        if readyHeap.count >= target {
            let ready = readyHeap.count
            lock.unlock()
            queue.async { completion(.success(ready)) }
            return
        }
        warmUps.append(WarmUpRequest(target: target, queue: queue, completion: completion))
        planCreatesLocked(now: now, effects: &effects)
        lock.unlock()
        run(effects)
    }

    func completeWarmUpsLocked(effects: inout PoolEffects) {
        guard !warmUps.isEmpty else { return }
        let ready = readyHeap.count
        warmUps.removeAll { request in
            guard ready >= request.target else { return false }
            let completion = request.completion
            let queue = request.queue
            effects.actions.append(.callback { queue.async { completion(.success(ready)) } })
            return true
        }
    }

    // MARK: Expiry and minReady upkeep

    /// Makes sure the sweep runs no later than `instant`. O(1): the timer is moved only to an earlier time.
    func noteWakeLocked(_ instant: MonotonicInstant) {
        guard instant != .distantFuture else { return }
        if let nextSweep, nextSweep <= instant { return }
        nextSweep = instant
        sweepTimer?.cancel()
        sweepTimer = clock.schedule(at: instant, on: housekeepingQueue, leeway: .milliseconds(5)) { [self] in sweep() }
    }

    /// Wakes the sweep at the slot's expiry and, with minReady, at its refresh time — unless that has passed:
    /// a wake-up in the past would fire at once and re-note itself, spinning the sweep until the slot expires.
    func noteSlotWakesLocked(_ slot: PoolSlot, now: MonotonicInstant) {
        let expiry = slot.expiry
        noteWakeLocked(expiry)
        if configuration.minReady > 0 {
            let refresh = expiry.advanced(bySeconds: -times.refreshAhead)
            if refresh > now { noteWakeLocked(refresh) }
        }
    }

    /// Retires idle and aged connections, opens what `minReady` needs, and sets the next wake-up.
    func sweep() {
        let now = preciseNow()
        var effects = PoolEffects()
        lock.lock()
        nextSweep = nil
        sweepTimer = nil
        if !isClosed {
            for slot in readyHeap.storage
            where slot.expiry <= now {
                retireLocked(slot, effects: &effects)
            }
            planCreatesLocked(now: now, effects: &effects)
            for slot in readyHeap.storage { noteSlotWakesLocked(slot, now: now) }
            if configuration.minReady > 0 && inCreateBackoffLocked(now: now) {
                noteWakeLocked(lastCreateFailureAt.advanced(bySeconds: createBackoffLocked()))
            }
        }
        lock.unlock()
        run(effects)
    }

    // MARK: Shutdown

    /// Drains the pool: new acquires fail with `.poolClosed`, queued ones fail now, leases in flight finish,
    /// then every connection closes and `completion` runs.
    func closeAll(
        queue: DispatchQueue, completion: @escaping @Sendable () -> Void
    ) {
        var effects = PoolEffects()
        effects.gaugesChanged = true
        lock.lock()
        var cancelCreations = false
        if !isClosed {
            isClosed = true
            cancelCreations = openingCount > 0
            let error = ConnectionPoolError(.poolClosed, "the pool is closing (closeAll was called)")
            for waiter in waiters.drain() where !waiter.done {
                finishWaiterLocked(waiter)
                effects.actions.append(.deliver(waiter, .failure(error)))
            }
            for request in warmUps {
                let completion = request.completion
                let queue = request.queue
                effects.actions.append(.callback { queue.async { completion(.failure(error)) } })
            }
            warmUps.removeAll()
            for slot in slots {
                switch slot.state {
                case .ready:
                    retireLocked(slot, expired: false, effects: &effects)
                case .opening where !slot.abandoned:
                    slot.abandoned = true
                    abandonedOpening += 1
                default:
                    break
                }
            }
        }
        closeCompletions.append { queue.async { completion() } }
        if slots.isEmpty {
            effects.actions.append(contentsOf: closeCompletions.map { .callback($0) })
            closeCompletions.removeAll()
        }
        lock.unlock()
        run(effects)
        // Connections still opening end now rather than at their deadline (a peer that never answers).
        if cancelCreations { connector.cancelCreations() }
    }

    // MARK: Checking

    /// The pool's invariants, as a list of violations (empty when all hold). For tests and debugging.
    func invariantViolations() -> [String] {
        lock.withLock {
            var problems: [String] = []
            if !readyHeap.isValid() { problems.append("ready heap order or indices broken") }
            if slots.count > configuration.maxSize { problems.append("\(slots.count) slots > maxSize") }
            if openingCount > maxCreates { problems.append("\(openingCount) opening > maxConcurrentCreates") }
            let opening = slots.filter { $0.state == .opening }.count
            if opening != openingCount { problems.append("openingCount \(openingCount) != \(opening) opening slots") }
            let ready = slots.filter { $0.state == .ready }
            if ready.count != readyHeap.count { problems.append("\(ready.count) ready slots, heap has \(readyHeap.count)") }
            var total = 0
            for slot in slots {
                total += slot.inUse
                if slot.inUse > configuration.clientLimit {
                    problems.append("slot \(slot.id) has \(slot.inUse) leases > clientLimit")
                }
                if slot.inUse < 0 { problems.append("slot \(slot.id) has negative inUse") }
            }
            if total != stats.inUse { problems.append("inUse \(stats.inUse) != sum over slots \(total)") }
            return problems
        }
    }
}
