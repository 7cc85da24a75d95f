import Dispatch
import ToolboxCore

/// A re-armable one-shot timer on a connection's queue.
///
/// One timer source per purpose is re-armed per operation, instead of one `asyncAfter` per read, because
/// cancelled `asyncAfter` work stays queued until its deadline: at thousands of requests per second with 60 s
/// deadlines that is millions of dead closures. Use only on `queue`.
final class ConnectionTimer {
    private let source: any DispatchSourceTimer
    private var handler: (() -> Void)?
    private var cancelled = false

    init(queue: DispatchQueue) {
        source = DispatchSource.makeTimerSource(queue: queue)
        source.setEventHandler { [weak self] in
            guard let self, let handler = self.handler else { return }
            self.handler = nil
            handler()
        }
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
        source.schedule(deadline: deadline.instant.dispatchTime)
    }

    func disarm() {
        guard handler != nil else { return }
        handler = nil
        source.schedule(deadline: .distantFuture)
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
}
