import Dispatch
import ToolboxCore

/// A caller queued for a lease. Fields other than the constants are touched only under the pool's lock,
/// except `completion`, which only the one path that resolved the waiter (`done` set under the lock) takes.
final class Waiter: HeapIndexed, @unchecked Sendable {
    // @unchecked Sendable: `done` and `heapIndex` are read and written only under the pool's lock; `completion`
    // is taken exactly once, by whoever set `done` under that lock.
    let enqueuedAt: MonotonicInstant
    let timeout: Double
    /// When the acquire times out (`distantFuture` for an infinite timeout).
    let deadline: MonotonicInstant
    /// Where to deliver; nil delivers inline on the thread that resolves the waiter (blocking form).
    let queue: DispatchQueue?
    private var completion: PoolEngine.SlotCompletion?
    var done = false
    /// Position in the pool's deadline heap.
    var heapIndex: Int?

    init(enqueuedAt: MonotonicInstant, timeout: Double, queue: DispatchQueue?,
         completion: @escaping PoolEngine.SlotCompletion) {
        self.enqueuedAt = enqueuedAt
        self.timeout = timeout
        self.deadline = timeout.isFinite ? enqueuedAt.advanced(bySeconds: timeout) : .distantFuture
        self.queue = queue
        self.completion = completion
    }

    /// Delivers the result and drops the completion, so a resolved waiter still sitting in the FIFO holds
    /// nothing of the caller's.
    func deliver(_ result: Result<PoolSlot, ConnectionPoolError>) {
        guard let completion else { return }
        self.completion = nil
        if let queue {
            queue.async { completion(result) }
        } else {
            completion(result)
        }
    }
}
