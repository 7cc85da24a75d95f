/// The handles of steps running side by side (connections being opened), for one owner to cancel all at once
/// (a pool that closes): `reserve` before a step starts, `attach` its handle once it has one, `finish` when it
/// ends. A step reserved before `cancelAll` and attached after it is cancelled as it attaches, so a cancel that
/// races with a start is never lost.
package final class CancellableSet: Sendable {
    private struct State {
        var next = 0
        var running: Set<Int> = []
        var handles: [Int: any Cancellable] = [:]
        /// Steps with ids up to this one were running when `cancelAll` was called.
        var cancelledThrough = 0
    }

    // The handles are taken under the LockedValue and cancelled outside it.
    private let state = LockedValue(State())

    package init() {}

    /// A place for a step about to start; pass the id to `attach` and `finish`.
    package func reserve() -> Int {
        state.withLockedValue { state in
            state.next += 1
            state.running.insert(state.next)
            return state.next
        }
    }

    /// Keeps the step's handle while it runs; cancels it at once if `cancelAll` came since `reserve`.
    package func attach(_ id: Int, _ handle: any Cancellable) {
        let cancelNow = state.withLockedValue { state -> Bool in
            guard state.running.contains(id) else { return false }  // it finished already
            if id <= state.cancelledThrough { return true }
            state.handles[id] = handle
            return false
        }
        if cancelNow { handle.cancel() }
    }

    /// The step ended: forgets its handle.
    package func finish(_ id: Int) {
        state.withLockedValue { state in
            state.running.remove(id)
            state.handles.removeValue(forKey: id)
        }
    }

    /// Cancels every step running now (and those reserved but not yet attached, as they attach).
    package func cancelAll() {
        let handles = state.withLockedValue { state -> [any Cancellable] in
            state.cancelledThrough = state.next
            defer { state.handles = [:] }
            return Array(state.handles.values)
        }
        for handle in handles { handle.cancel() }
    }

    /// Steps reserved and not finished.
    package var count: Int { state.withLockedValue { $0.running.count } }
}
