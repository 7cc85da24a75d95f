import Metrics
import ToolboxCore

/// A consistent view of a pool at one instant, taken under its lock.
public struct ConnectionPoolSnapshot: Sendable, Equatable {
    /// Connections proved ready and taking leases.
    public var ready = 0
    /// Connections being created or proved ready.
    public var opening = 0
    /// Connections retired (expired, discarded, pool closing) waiting for their leases to return or closing.
    public var draining = 0
    /// Leases handed out and not yet returned.
    public var inUse = 0
    /// Callers queued for a lease.
    public var waiters = 0
    /// Connections created and proved ready since the pool started.
    public var creates = 0
    /// Creates or readiness checks that failed or timed out.
    public var createFailures = 0
    /// Connections retired for idleness, age or because a lease discarded them.
    public var expirations = 0
    /// Connections closed.
    public var closes = 0
    /// Leases handed out.
    public var leases = 0
    /// Acquires that failed with `.timedOut`.
    public var acquireTimeouts = 0
    /// Acquires that had to queue, and their total and longest wait.
    public var waitedAcquires = 0
    public var totalAcquireWaitSeconds = 0.0
    public var maxAcquireWaitSeconds = 0.0

    /// All open connections (ready, opening and draining).
    public var open: Int { ready + opening + draining }
}

/// The pool's swift-metrics instruments, labelled with the pool's `metricsLabel` as dimension `pool`.
final class PoolMetricsRecorder: Sendable {
    let ready: Gauge
    let opening: Gauge
    let inUse: Gauge
    let waiters: Gauge
    let creates: Counter
    let createFailures: Counter
    let expirations: Counter
    let acquireTimeouts: Counter
    let acquireWait: Metrics.Timer

    init(label: String) {
        let dimensions = [("pool", label)]
        ready = Gauge(label: "toolbox_pool_ready_connections", dimensions: dimensions)
        opening = Gauge(label: "toolbox_pool_opening_connections", dimensions: dimensions)
        inUse = Gauge(label: "toolbox_pool_leases_in_use", dimensions: dimensions)
        waiters = Gauge(label: "toolbox_pool_waiters", dimensions: dimensions)
        creates = Counter(label: "toolbox_pool_creates_total", dimensions: dimensions)
        createFailures = Counter(label: "toolbox_pool_create_failures_total", dimensions: dimensions)
        expirations = Counter(label: "toolbox_pool_expirations_total", dimensions: dimensions)
        acquireTimeouts = Counter(label: "toolbox_pool_acquire_timeouts_total", dimensions: dimensions)
        acquireWait = Metrics.Timer(label: "toolbox_pool_acquire_wait", dimensions: dimensions)
    }

    /// Brings gauges and counters up to date with a snapshot, counting only what changed since `previous`.
    func record(_ snapshot: ConnectionPoolSnapshot, since previous: ConnectionPoolSnapshot) {
        ready.record(snapshot.ready)
        opening.record(snapshot.opening)
        inUse.record(snapshot.inUse)
        waiters.record(snapshot.waiters)
        if snapshot.creates > previous.creates { creates.increment(by: snapshot.creates - previous.creates) }
        if snapshot.createFailures > previous.createFailures {
            createFailures.increment(by: snapshot.createFailures - previous.createFailures)
        }
        if snapshot.expirations > previous.expirations {
            expirations.increment(by: snapshot.expirations - previous.expirations)
        }
        if snapshot.acquireTimeouts > previous.acquireTimeouts {
            acquireTimeouts.increment(by: snapshot.acquireTimeouts - previous.acquireTimeouts)
        }
    }
}
