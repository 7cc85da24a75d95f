import Dispatch
import ToolboxCore

/// A `ToolboxClock` that only moves when a test says so, like swift-nio's `EmbeddedEventLoop.advanceTime(by:)`.
///
/// ```swift
/// let clock = ManualClock()
/// let pool = try ConnectionPool(connector: connector, configuration: configuration, clock: clock)
/// clock.advance(bySeconds: 301)  // past maxIdle: the pool's sweep runs now, before advance returns
/// ```
///
/// `advance` runs every job that comes due, in deadline order (ties in scheduling order), each on the queue it
/// was scheduled on through `queue.sync`, moving `now()` to the job's deadline first; jobs scheduled while it
/// runs are run too if they fall inside the step. When `advance` returns, everything due has run. A job
/// scheduled at or before `now()` waits for the next `advance` (`advance(bySeconds: 0)` runs it).
///
/// It is a programmer error to call `advance` on a queue a job is scheduled on (it would wait for itself).
public final class ManualClock: ToolboxClock, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is inside `state`, a LockedValue; jobs run outside the lock.
    private struct Job {
        let id: UInt64
        let deadline: MonotonicInstant
        let queue: DispatchQueue
        let work: @Sendable () -> Void
    }

    private struct State {
        var now: MonotonicInstant
        var nextID: UInt64 = 0
        var jobs: [UInt64: Job] = [:]
    }

    private let state: LockedValue<State>

    /// A clock that starts at `start` (by default the real monotonic now, so deadlines mixed with real time stay
    /// plausible).
    public init(start: MonotonicInstant = .now()) {
        state = LockedValue(State(now: start))
    }

    public func now() -> MonotonicInstant { state.withLockedValue { $0.now } }

    public func schedule(
        at deadline: MonotonicInstant, on queue: DispatchQueue, leeway: DispatchTimeInterval,
        _ work: @escaping @Sendable () -> Void
    ) -> any Cancellable {
        let id: UInt64 = state.withLockedValue { state in
            state.nextID += 1
            state.jobs[state.nextID] = Job(id: state.nextID, deadline: deadline, queue: queue, work: work)
            return state.nextID
        }
        return ManualClockJob { [weak self] in self?.state.withLockedValue { _ = $0.jobs.removeValue(forKey: id) } }
    }

    /// Moves the clock forward by `seconds`, running every job that comes due on the way.
    public func advance(bySeconds seconds: Double) {
        precondition(seconds >= 0 && seconds.isFinite, "ManualClock only moves forward, by a finite amount")
        advance(to: now().advanced(bySeconds: seconds))
    }

    /// Moves the clock forward by `duration`, running every job that comes due on the way.
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "ManualClock only moves forward")
        advance(to: now().advanced(by: duration))
    }

    /// Moves the clock to `instant` (no earlier than now), running every job due by then.
    public func advance(to instant: MonotonicInstant) {
        while let job = takeNextJob(dueBy: instant) {
            dispatchPrecondition(condition: .notOnQueue(job.queue))
            job.queue.sync(execute: job.work)
        }
        state.withLockedValue { if $0.now < instant { $0.now = instant } }
    }

    /// How many jobs are scheduled and not yet run or cancelled.
    public var pendingJobCount: Int { state.withLockedValue { $0.jobs.count } }

    /// The deadline of the earliest scheduled job, if any.
    public var nextDeadline: MonotonicInstant? {
        state.withLockedValue { $0.jobs.values.map(\.deadline).min() }
    }

    private func takeNextJob(dueBy instant: MonotonicInstant) -> Job? {
        state.withLockedValue { state in
            let due = state.jobs.values.filter { $0.deadline <= instant }
            guard let next = due.min(by: { ($0.deadline, $0.id) < ($1.deadline, $1.id) }) else { return nil }
            state.jobs.removeValue(forKey: next.id)
            if state.now < next.deadline { state.now = next.deadline }
            return next
        }
    }
}

/// The handle of one `ManualClock` job: cancelling removes it.
private struct ManualClockJob: Cancellable {
    let remove: @Sendable () -> Void
    func cancel() { remove() }
}
