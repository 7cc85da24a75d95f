/// Work decided under the pool's lock and carried out after it is released: deliveries to callers, connector
/// calls and completion handlers never run with the lock held.
struct PoolEffects<Connection: Sendable> {
    typealias LeaseResult = Result<ConnectionLease<Connection>, ConnectionPoolError>

    var deliveries: [(Waiter<Connection>, LeaseResult)] = []
    var creates: [PoolSlot<Connection>] = []
    var closes: [(PoolSlot<Connection>, Connection)] = []
    var callbacks: [@Sendable () -> Void] = []
    /// Slot counts changed: refresh the swift-metrics gauges.
    var gaugesChanged = false

    var isEmpty: Bool {
        deliveries.isEmpty && creates.isEmpty && closes.isEmpty && callbacks.isEmpty && !gaugesChanged
    }
}
