import Dispatch
import ToolboxCore

extension PoolEngine {
    /// Opens connections while someone needs one and the limits allow it.
    ///
    /// Needed means: queued callers beyond what the connections already opening will serve
    /// (`clientLimit` each), or fewer fresh ready connections than `minReady` / a pending `warmUp` asks for, or
    /// (`.spread`) more leases held and wanted than ready and opening connections.
    /// Target-driven and spreading opens back off exponentially after failures so a broken endpoint is not hammered.
    func planCreatesLocked(now: MonotonicInstant, effects: inout PoolEffects) {
        guard !isClosed else { return }
        while slots.count < configuration.maxSize && openingCount < maxCreates {
            let activeOpening = openingCount - abandonedOpening
            let forWaiters = liveWaiters > activeOpening * clientLimit
            var forTarget = false
            let target = max(configuration.minReady, warmUps.map(\.target).max() ?? 0)
            if target > 0 && !inCreateBackoffLocked(now: now) {
                forTarget = freshReadyCountLocked(now: now) + activeOpening < target
            }
            // Spreading: a connection per concurrent lease (held or wanted), up to maxSize.
            let forSpread = spreads && readyHeap.count + activeOpening < stats.inUse + liveWaiters
                && !inCreateBackoffLocked(now: now)
            guard forWaiters || forTarget || forSpread else { return }
            let slot = PoolSlot(id: nextSlotID, engine: self, now: now, maxIdle: times.maxIdle, maxLifespan: times.maxLifespan)
            nextSlotID += 1
            slots.append(slot)
            openingCount += 1
            effects.actions.append(.create(slot))
            effects.gaugesChanged = true
        }
    }

    func inCreateBackoffLocked(now: MonotonicInstant) -> Bool {
        guard consecutiveCreateFailures > 0 else { return false }
        return now < lastCreateFailureAt.advanced(bySeconds: createBackoffLocked())
    }

    func createBackoffLocked() -> Double {
        min(30, 0.1 * Double(1 << min(consecutiveCreateFailures, 9)))
    }

    /// Ready connections that will not expire within `refreshAhead`.
    func freshReadyCountLocked(now: MonotonicInstant) -> Int {
        let horizon = now.advanced(bySeconds: times.refreshAhead)
        var count = 0
        for slot in readyHeap.storage
        where slot.expiry > horizon {
            count += 1
        }
        return count
    }

    func startCreate(_ slot: PoolSlot) {
        let deadline = clock.deadline(afterSeconds: times.getTimeout)
        logger.debug("opening connection", metadata: ["slot": "\(slot.id)"])
        let timer = clock.schedule(at: deadline.instant, on: housekeepingQueue, leeway: .milliseconds(5)) {
            [self, slot] in openingTimedOut(slot)
        }
        let finished: Bool = lock.withLock {
            if slot.state == .opening { slot.openingTimer = timer }
            return slot.state != .opening
        }
        if finished { timer.cancel() }
        connector.create(deadline: deadline) { [self, slot] result in
            switch result {
            case .success(let connection):
                let abandoned: Bool = lock.withLock {
                    slot.connection = connection
                    return slot.abandoned
                }
                if abandoned {
                    openingFinished(slot, connection: connection, result: .failure(abandonedError))
                    return
                }
                connector.ready(connection, deadline: deadline) { [self, slot] readiness in
                    openingFinished(slot, connection: connection, result: readiness)
                }
                // The same for a `closeAll` between the check above and the ready check starting.
                if lock.withLock({ isClosed }) { connector.cancelCreations() }
            case .failure(let error):
                openingFinished(slot, connection: nil, result: .failure(error))
            }
        }
        // A `closeAll` that ran between this slot's planning and the create above cancelled what was running then,
        // not this create: cancel again (`isClosed` is set before `closeAll` cancels, so one of the two sees it).
        if lock.withLock({ isClosed }) { connector.cancelCreations() }
    }

    private var abandonedError: ConnectionPoolError {
        ConnectionPoolError(.connectionFailed, "the pool stopped waiting for this connection")
    }

    /// The end of a slot's opening: ready and serving, or failed (its waiters failed or re-routed).
    func openingFinished(_ slot: PoolSlot, connection: AnyConnectionBox?, result: Result<Void, any Error>) {
        let now = preciseNow()
        var effects = PoolEffects()
        effects.gaugesChanged = true
        lock.lock()
        guard slot.state == .opening else {
            lock.unlock()
            return
        }
        let openingTimer = slot.openingTimer
        slot.openingTimer = nil
        openingCount -= 1
        if slot.abandoned {
            abandonedOpening -= 1
            closeOrDropLocked(slot, connection: connection, effects: &effects)
        } else {
            switch result {
            case .success:
                slot.state = .ready
                slot.markIdle(at: now)
                readyHeap.insert(slot)
                stats.creates += 1
                consecutiveCreateFailures = 0
                noteSlotWakesLocked(slot, now: now)
                serveWaitersLocked(now: now, effects: &effects)
                completeWarmUpsLocked(effects: &effects)
            case .failure(let error):
                logger.warning("connection failed to open", metadata: ["slot": "\(slot.id)", "error": "\(error)"])
                closeOrDropLocked(slot, connection: connection, effects: &effects)
                failOpeningLocked(cause: error, now: now, effects: &effects)
            }
        }
        planCreatesLocked(now: now, effects: &effects)
        lock.unlock()
        openingTimer?.cancel()
        run(effects)
    }

    /// The connector did not finish within `getTimeout`: fail the callers now; the slot keeps its place
    /// (against `maxSize`) until the connector answers, and whatever it delivers then is closed.
    func openingTimedOut(_ slot: PoolSlot) {
        let now = preciseNow()
        var effects = PoolEffects()
        lock.lock()
        guard slot.state == .opening, !slot.abandoned else {
            lock.unlock()
            return
        }
        slot.abandoned = true
        abandonedOpening += 1
        let cause = CoreError(.timedOut, "creating and proving the connection took longer than getTimeout "
            + "(\(configuration.getTimeout))")
        failOpeningLocked(cause: cause, now: now, effects: &effects)
        lock.unlock()
        run(effects)
    }

    /// A create failed: every waiter the remaining opening connections will not serve fails now with the cause
    /// (rather than waiting out its timeout), and so does every pending `warmUp`.
    func failOpeningLocked(cause: any Error, now: MonotonicInstant, effects: inout PoolEffects) {
        stats.createFailures += 1
        consecutiveCreateFailures += 1
        lastCreateFailureAt = now
        let error = ConnectionPoolError(
            .connectionFailed,
            "could not open a connection; check the endpoint and credentials, or raise getTimeout", cause: cause)
        let covered = (openingCount - abandonedOpening) * clientLimit
        var toFail = liveWaiters - covered
        while toFail > 0, let waiter = waiters.pop() {
            guard !waiter.done else { continue }
            finishWaiterLocked(waiter)
            effects.actions.append(.deliver(waiter, .failure(error)))
            toFail -= 1
        }
        for request in warmUps {
            let completion = request.completion
            request.queue.async { completion(.failure(error)) }
        }
        warmUps.removeAll()
        if configuration.minReady > 0 {
            noteWakeLocked(now.advanced(bySeconds: createBackoffLocked()))
        }
    }

    func closeOrDropLocked(
        _ slot: PoolSlot, connection: AnyConnectionBox?, effects: inout PoolEffects
    ) {
        if let connection {
            slot.state = .closing
            effects.actions.append(.close(slot, connection))
        } else {
            removeSlotLocked(slot, effects: &effects)
        }
    }

    /// Takes a ready slot out of service; it closes now if idle, else when its last lease returns.
    /// `expired` is false when the pool is shutting down: that is not an expiration in the metrics.
    func retireLocked(_ slot: PoolSlot, expired: Bool = true, effects: inout PoolEffects) {
        guard slot.state == .ready else { return }
        readyHeap.remove(slot)
        slot.state = .draining
        if expired { stats.expirations += 1 }
        effects.gaugesChanged = true
        logger.debug("retiring connection", metadata: ["slot": "\(slot.id)", "inUse": "\(slot.inUse)"])
        if slot.inUse == 0 { beginCloseLocked(slot, effects: &effects) }
    }

    func beginCloseLocked(_ slot: PoolSlot, effects: inout PoolEffects) {
        slot.state = .closing
        if let connection = slot.connection {
            effects.actions.append(.close(slot, connection))
        } else {
            removeSlotLocked(slot, effects: &effects)
        }
    }

    func startClose(_ slot: PoolSlot, _ connection: AnyConnectionBox) {
        logger.debug("closing connection", metadata: ["slot": "\(slot.id)"])
        connector.close(connection) { [self, slot] in
            var effects = PoolEffects()
            effects.gaugesChanged = true
            lock.lock()
            stats.closes += 1
            removeSlotLocked(slot, effects: &effects)
            planCreatesLocked(now: preciseNow(), effects: &effects)
            lock.unlock()
            run(effects)
        }
    }

    func removeSlotLocked(_ slot: PoolSlot, effects: inout PoolEffects) {
        if let index = slots.firstIndex(where: { $0 === slot }) {
            slots.remove(at: index)
        }
        // `slot.connection` stays: a lease reads its connection through the slot, even after it was released.
        if isClosed && slots.isEmpty {
            effects.actions.append(contentsOf: closeCompletions.map { .callback($0) })
            closeCompletions.removeAll()
        }
    }
}
