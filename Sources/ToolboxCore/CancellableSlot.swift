/// The handle of whichever step an operation is running now, for operations whose steps (pages, retries, a
/// Task's bridged call) start one after another: a cancel reaches the current step, and a step that is set after
/// the cancel is cancelled at once, so a cancel that races with a step's start is never lost.
package final class CancellableSlot: Cancellable, Sendable {
    // The handle is taken under the LockedValue and cancelled outside it.
    private let state = LockedValue<(current: (any Cancellable)?, cancelled: Bool)>((nil, false))

    package init() {}

    /// Makes `handle` the step to cancel; cancels it at once and returns false if the slot was already cancelled.
    @discardableResult
    package func set(_ handle: any Cancellable) -> Bool {
        let cancelled = state.withLockedValue { state -> Bool in
            state.current = handle
            return state.cancelled
        }
        if cancelled { handle.cancel() }
        return !cancelled
    }

    package func cancel() {
        cancel(after: {})
    }

    /// Marks the slot cancelled, runs `first` (outside the lock; an operation delivers its own cancellation there,
    /// before the step's handle can answer for it), then cancels the current step.
    package func cancel(after first: () -> Void) {
        let current = state.withLockedValue { state -> (any Cancellable)? in
            state.cancelled = true
            return state.current
        }
        first()
        current?.cancel()
    }
}
