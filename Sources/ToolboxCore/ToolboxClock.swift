import Dispatch

/// Monotonic time and timers: the one abstraction every timer in the library goes through, so tests can drive
/// time instead of sleeping.
///
/// ```swift
/// let clock: any ToolboxClock = SystemClock()
/// let timer = clock.schedule(at: clock.now().advanced(bySeconds: 5), on: queue) { expire() }
/// timer.cancel()  // if it has not run yet, it never will
/// ```
///
/// `SystemClock` is the real one; `ManualClock` (in `AzureClientsToolboxTesting`) only moves when a test calls
/// `advance(by:)`, and then runs what came due on the queues it was scheduled on, in deadline order.
public protocol ToolboxClock: Sendable {
    /// The current instant.
    func now() -> MonotonicInstant

    /// The current instant at tick resolution (a few ms), for bookkeeping measured in seconds; cheaper than
    /// `now()` on Linux. Defaults to `now()`.
    func coarseNow() -> MonotonicInstant

    /// Runs `work` on `queue` once the clock reaches `deadline` (at once if it already has, for the system clock).
    ///
    /// - Parameters:
    ///   - deadline: when to run; `.distantFuture` schedules nothing that will ever run.
    ///   - queue: where `work` runs.
    ///   - leeway: how late the system may run it, to batch wake-ups.
    ///   - work: the job; runs at most once.
    /// - Returns: a handle whose `cancel()` makes sure `work` will not start (it may already have).
    func schedule(
        at deadline: MonotonicInstant, on queue: DispatchQueue, leeway: DispatchTimeInterval,
        _ work: @escaping @Sendable () -> Void
    ) -> any Cancellable
}

extension ToolboxClock {
    public func coarseNow() -> MonotonicInstant { now() }

    /// `schedule(at:on:leeway:_:)` with a 1 ms leeway.
    @discardableResult
    public func schedule(
        at deadline: MonotonicInstant, on queue: DispatchQueue, _ work: @escaping @Sendable () -> Void
    ) -> any Cancellable {
        schedule(at: deadline, on: queue, leeway: .milliseconds(1), work)
    }

    /// A deadline `seconds` from this clock's now.
    public func deadline(afterSeconds seconds: Double) -> Deadline {
        Deadline(now().advanced(bySeconds: seconds))
    }
}

/// The real monotonic clock, with timers on Dispatch (one `DispatchSourceTimer` per scheduled job, so the
/// leeway is honoured: `asyncAfter` would let a 10 s deadline slip by up to a second).
public struct SystemClock: ToolboxClock {
    public init() {}

    public func now() -> MonotonicInstant { .now() }

    public func coarseNow() -> MonotonicInstant { .coarseNow() }

    public func schedule(
        at deadline: MonotonicInstant, on queue: DispatchQueue, leeway: DispatchTimeInterval,
        _ work: @escaping @Sendable () -> Void
    ) -> any Cancellable {
        if deadline == .distantFuture { return CompletedOperation() }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let job = SystemClockTimer(timer)
        timer.setEventHandler {
            // Cancelling the source here drops the handler (and what it captured) and keeps the job one-shot.
            timer.cancel()
            work()
        }
        timer.schedule(deadline: deadline.dispatchTime, leeway: leeway)
        timer.resume()
        return job
    }
}

/// The handle of one `SystemClock` job.
private final class SystemClockTimer: Cancellable, @unchecked Sendable {
    // @unchecked Sendable: the only state is the DispatchSourceTimer, whose cancel() is thread-safe.
    private let timer: any DispatchSourceTimer

    init(_ timer: any DispatchSourceTimer) { self.timer = timer }

    func cancel() { timer.cancel() }
}

extension MonotonicInstant {
    /// This instant moved forward by `duration` (saturating at `distantFuture`, never below zero).
    public func advanced(by duration: Duration) -> MonotonicInstant {
        advanced(bySeconds: duration.toolboxSeconds)
    }
}

extension Deadline {
    /// The deadline `timeout` from `clock`'s now: how a public `timeout: Duration` becomes the `Deadline`
    /// the machinery works with.
    public static func after(_ timeout: Duration, on clock: any ToolboxClock = SystemClock()) -> Deadline {
        Deadline(clock.now().advanced(by: timeout))
    }
}

extension Duration {
    /// `seconds` as a `Duration`, for internals that count in seconds and call an API taking a `Duration`:
    /// NaN and negatives become zero and anything past 10⁹ s becomes 10⁹ s — where `.seconds(_: Double)` would
    /// trap on NaN or infinity.
    package static func clampingSeconds(_ seconds: Double) -> Duration {
        guard seconds > 0 else { return .zero }  // also NaN
        if seconds >= 1e9 { return .seconds(1_000_000_000) }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// The duration in seconds, as a `Double` (for the internals that still count in seconds).
    package var toolboxSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
