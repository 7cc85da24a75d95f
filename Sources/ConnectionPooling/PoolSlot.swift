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
@usableFromInline
final class PoolSlot: HeapIndexed, @unchecked Sendable {
    // @unchecked Sendable: only the owning ConnectionPool touches the fields, always under its lock.
    @usableFromInline let id: Int
    /// The owning engine, so a lease needs to hold only its slot. The cycle this makes with `engine.slots`
    /// ends when the slot is closed and removed, which every slot is by `closeAll` or `shutDown`.
    @usableFromInline let engine: PoolEngine
    var state: SlotState = .opening
    /// The connection, boxed so the engine stays free of generics; set once `create` delivers it.
    @usableFromInline var connection: AnyConnectionBox?
    /// Leases on this connection now. Behind a pointer, like `heapIndex`, so the lease path skips dynamic
    /// exclusivity checks the pool's lock makes redundant.
    var inUse: Int {
        unsafeAddress { UnsafePointer(hot).pointer(to: \.inUse)! }
        unsafeMutableAddress { hot.pointer(to: \.inUse)! }
    }
    var heapIndex: Int? {
        unsafeAddress { UnsafePointer(hot).pointer(to: \.heapIndex)! }
        unsafeMutableAddress { hot.pointer(to: \.heapIndex)! }
    }
    private struct Hot {
        var inUse = 0
        var heapIndex: Int?
    }
    private let hot: UnsafeMutablePointer<Hot> = {
        let pointer = UnsafeMutablePointer<Hot>.allocate(capacity: 1)
        pointer.initialize(to: Hot())
        return pointer
    }()
    let createdAt: MonotonicInstant
    /// When the slot was last left with no lease (or became ready).
    private(set) var lastActivity: MonotonicInstant
    /// Precomputed in integer nanoseconds so the lease path compares instead of doing arithmetic.
    private let lifespanDeadline: UInt64
    private let idleNanoseconds: UInt64
    private var idleDeadline: UInt64
    /// Set when the pool stopped waiting for this slot's create/ready (timed out, pool closed).
    var abandoned = false
    /// The `getTimeout` timer of an opening slot, cancelled when the opening finishes.
    var openingTimer: (any Cancellable)?

    init(id: Int, engine: PoolEngine, now: MonotonicInstant, maxIdle: Double?, maxLifespan: Double?) {
        self.id = id
        self.engine = engine
        self.createdAt = now
        self.lastActivity = now
        self.lifespanDeadline = maxLifespan.map { now.advanced(bySeconds: $0).nanoseconds } ?? .max
        self.idleNanoseconds = maxIdle.map { UInt64(clamping: Int64(clampingRounded: min($0, 1e9) * 1e9)) } ?? .max
        self.idleDeadline = now.nanoseconds.addingReportingOverflow(idleNanoseconds).overflow
            ? .max : now.nanoseconds + idleNanoseconds
    }

    deinit {
        hot.deinitialize(count: 1)
        hot.deallocate()
    }

    /// Records that the slot has no lease as of `now` (its idle clock starts).
    func markIdle(at now: MonotonicInstant) {
        lastActivity = now
        let (sum, overflow) = now.nanoseconds.addingReportingOverflow(idleNanoseconds)
        idleDeadline = overflow ? .max : sum
    }

    /// When the slot must stop taking new leases: its lifespan, or its idle limit while it has no lease.
    var expiry: MonotonicInstant {
        MonotonicInstant(nanoseconds: inUse == 0 ? Swift.min(lifespanDeadline, idleDeadline) : lifespanDeadline)
    }

    /// Heap order: fewest leases first (spreads load across sockets), then the newest connection (most life
    /// left), then the lowest id so the order is total.
    static func precedes(_ a: PoolSlot, _ b: PoolSlot) -> Bool {
        if a.inUse != b.inUse { return a.inUse < b.inUse }
        if a.createdAt != b.createdAt { return a.createdAt > b.createdAt }
        return a.id < b.id
    }
}
