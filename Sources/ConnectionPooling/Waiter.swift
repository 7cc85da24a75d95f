import Dispatch
import ToolboxCore

/// A caller queued for a lease. Fields other than the constants are touched only under the pool's lock.
final class Waiter<Connection: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `done` and `timeoutItem` are read and written only under the pool's lock.
    typealias Completion = @Sendable (Result<ConnectionLease<Connection>, ConnectionPoolError>) -> Void

    let enqueuedAt: MonotonicInstant
    let timeout: Double
    /// Where to deliver; nil delivers inline on the thread that resolves the waiter (blocking form).
    let queue: DispatchQueue?
    let completion: Completion
    var done = false
    var timeoutItem: DispatchWorkItem?

    init(enqueuedAt: MonotonicInstant, timeout: Double, queue: DispatchQueue?, completion: @escaping Completion) {
        self.enqueuedAt = enqueuedAt
        self.timeout = timeout
        self.queue = queue
        self.completion = completion
    }

    func deliver(_ result: Result<ConnectionLease<Connection>, ConnectionPoolError>) {
        if let queue {
            let completion = self.completion
            queue.async { completion(result) }
        } else {
            completion(result)
        }
    }
}
