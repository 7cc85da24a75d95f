import Dispatch
import ToolboxCore

/// A re-armable one-shot timer on a connection's queue.
///
/// One timer source per purpose is re-armed per operation, instead of one `asyncAfter` per read, because
/// cancelled `asyncAfter` work stays queued until its deadline: at thousands of requests per second with 60 s
/// deadlines that is millions of dead closures. Use only on `queue`.
///
/// Re-programming a Dispatch timer is not free (the source is woken on its queue and the manager thread's timer
/// heap is updated), and a keep-alive connection arms and disarms its read timer once per request, nearly always
/// with a deadline later than the one before. So the source is re-programmed only when a deadline comes earlier
/// than the time it is already set to fire: disarming keeps it set, and a firing that finds the current
/// deadline still ahead (or nothing armed) re-programs it for that deadline (or for never) instead of running the
/// handler. A handler therefore still runs once, at its deadline, unless disarmed or re-armed first.
final class ConnectionTimer {
    private let source: any DispatchSourceTimer
    private var handler: (() -> Void)?
    /// The deadline of `handler`.
    private var due: MonotonicInstant = .distantFuture
    /// When the source is set to fire (`.distantFuture`: not set).
    private var scheduled: MonotonicInstant = .distantFuture
    private var cancelled = false

    init(queue: DispatchQueue) {
        source = DispatchSource.makeTimerSource(queue: queue)
        source.setEventHandler { [weak self] in self?.fired() }
        source.schedule(deadline: .distantFuture)
        source.activate()
    }

    /// Runs `handler` once at `deadline` unless disarmed or re-armed first; `Deadline.never` just disarms.
    func arm(at deadline: Deadline, _ handler: @escaping () -> Void) {
        guard !cancelled else { return }
        if deadline == .never {
            disarm()
            return
        }
        self.handler = handler
        due = deadline.instant
        if due < scheduled { program(due) }
    }

    func disarm() {
        handler = nil
        due = .distantFuture
    }

    func cancel() {
        guard !cancelled else { return }
        cancelled = true
        handler = nil
        source.cancel()
    }

    deinit {
        source.cancel()
    }

    private func program(_ instant: MonotonicInstant) {
        scheduled = instant
        source.schedule(deadline: instant.dispatchTime)
    }

    private func fired() {
        scheduled = .distantFuture
        guard !cancelled, let handler else { return }
        if due > MonotonicInstant.now() {
            // Armed again for later since the source was set (or the clocks differ by a hair): wait for it.
            program(due)
            return
        }
        self.handler = nil
        due = .distantFuture
        handler()
    }
}
