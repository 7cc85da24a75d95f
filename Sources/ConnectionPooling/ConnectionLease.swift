import Synchronization
import ToolboxCore

/// What to do with a connection when a lease returns it.
public enum LeaseRelease: Sendable {
    /// The connection is healthy: share it again.
    case reuse
    /// The connection failed in use: retire it. Other leases on it finish; then it closes.
    case discard
}

/// The right to use one pooled connection until `release` is called.
///
/// ```swift
/// let lease = try pool.acquire()
/// defer { lease.release() }
/// try lease.connection.send(message)
/// ```
///
/// Release exactly once: a second release is ignored. A lease dropped without release is returned by its
/// deinitialiser (as `.reuse`) so no capacity is lost, but that is a programmer error worth fixing.
public final class ConnectionLease<Connection: Sendable>: Sendable {
    /// The shared connection. Other leases may use it at the same time (up to `clientLimit`).
    public let connection: Connection
    @usableFromInline let slot: PoolSlot
    /// Flips once: whichever of `release` and `deinit` flips it returns the lease.
    private let released = Atomic<Bool>(false)

    @usableFromInline
    init(connection: Connection, slot: PoolSlot) {
        self.connection = connection
        self.slot = slot
    }

    /// An identifier of the underlying connection, stable for its life: leases that share it have the same one.
    public var connectionID: Int { slot.id }

    /// Returns the lease; `.discard` retires the connection because it failed in use.
    public func release(_ mode: LeaseRelease = .reuse) {
        guard released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        slot.engine.giveBack(slot, mode)
    }

    /// Whether `release` has been called.
    public var isReleased: Bool { released.load(ordering: .acquiring) }

    deinit {
        if !released.load(ordering: .acquiring) {
            slot.engine.giveBack(slot, .reuse)
        }
    }
}
