/// Work decided under the pool's lock and carried out after it is released: deliveries to callers, connector
/// calls and completion handlers never run with the lock held.
///
/// One array (not one per kind) so the common lease path, which decides nothing, costs no more than an empty
/// array.
struct PoolEffects {
    enum Action {
        case deliver(Waiter, Result<PoolSlot, ConnectionPoolError>)
        case create(PoolSlot)
        case close(PoolSlot, AnyConnectionBox)
        case callback(@Sendable () -> Void)
    }

    var actions: [Action] = []
    /// Slot counts changed: refresh the swift-metrics gauges.
    var gaugesChanged = false

    var isEmpty: Bool { actions.isEmpty && !gaugesChanged }
}
