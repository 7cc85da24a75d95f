import ToolboxCore

/// Where a pooled connection is in its life: closed → opening → ready → draining → closed.
public enum SlotState: String, Sendable {
    /// Being created, then proved ready (each a critical section: no lease is handed out yet).
    case opening
    /// Proved ready; shared by up to `clientLimit` leases.
    case ready
    /// Marked to close (expired, discarded, pool closing); existing leases finish, no new ones start.
    case draining
    /// The connector's `close` is running.
    case closing
}

/// One connection's place in the pool. Every field is read and written only with the pool's lock held.
final class PoolSlot<Connection: Sendable>: HeapIndexed, @unchecked Sendable {
    // @unchecked Sendable: only the owning ConnectionPool touches the fields, always under its lock.
    let id: Int
    var state: SlotState = .opening
    var connection: Connection?
    var inUse = 0
    let createdAt: MonotonicInstant
    var lastActivity: MonotonicInstant
    var heapIndex: Int?
    /// Set when the pool stopped waiting for this slot's create/ready (timed out, pool closed).
    var abandoned = false
    /// Set once a replacement was opened ahead of this slot's expiry (minReady upkeep).
    var replacementStarted = false

    init(id: Int, now: MonotonicInstant) {
        self.id = id
        self.createdAt = now
        self.lastActivity = now
    }

    /// When the slot must stop taking new leases, given the pool's limits.
    func expiry(maxIdle: Double?, maxLifespan: Double?) -> MonotonicInstant {
        var result = MonotonicInstant.distantFuture
        if let maxLifespan { result = createdAt.advanced(bySeconds: maxLifespan) }
        if inUse == 0, let maxIdle { result = Swift.min(result, lastActivity.advanced(bySeconds: maxIdle)) }
        return result
    }

    /// Heap order: fewest leases first (spreads load across sockets), then the newest connection (most life
    /// left), then the lowest id so the order is total.
    static func precedes(_ a: PoolSlot, _ b: PoolSlot) -> Bool {
        if a.inUse != b.inUse { return a.inUse < b.inUse }
        if a.createdAt != b.createdAt { return a.createdAt > b.createdAt }
        return a.id < b.id
    }
}
