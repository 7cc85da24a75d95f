import Dispatch
import ToolboxCore

/// A caller queued for a lease. Fields other than the constants are touched only under the pool's lock.
final class Waiter: @unchecked Sendable {
    // @unchecked Sendable: `done` and `timeoutItem` are read and written only under the pool's lock.
    let enqueuedAt: MonotonicInstant
    let timeout: Double
    /// Where to deliver; nil delivers inline on the thread that resolves the waiter (blocking form).
    let queue: DispatchQueue?
    let completion: PoolEngine.SlotCompletion
    var done = false
    var timeoutItem: DispatchWorkItem?

    init(enqueuedAt: MonotonicInstant, timeout: Double, queue: DispatchQueue?,
         completion: @escaping PoolEngine.SlotCompletion) {
        self.enqueuedAt = enqueuedAt
        self.timeout = timeout
        self.queue = queue
        self.completion = completion
    }

    func deliver(_ result: Result<PoolSlot, ConnectionPoolError>) {
        if let queue {
            let completion = self.completion
            queue.async { completion(result) }
        } else {
            completion(result)
        }
    }
}
