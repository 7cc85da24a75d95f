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
    ///
    /// Read through the slot rather than stored: one reference less to retain and release per lease. The slot's
    /// box is set before any lease exists and never changes afterwards, and only its pool's `ConnectionBox`es
    /// go in it, so the unchecked downcast holds.
    @inlinable
    public var connection: Connection {
        unsafeDowncast(slot.connection.unsafelyUnwrapped, to: ConnectionBox<Connection>.self).value
    }
    @usableFromInline let slot: PoolSlot
    /// Flips once: whichever of `release` and `deinit` flips it returns the lease.
    private let released = Atomic<Bool>(false)

    @usableFromInline
    init(slot: PoolSlot) {
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
