import Dispatch
import ToolboxCore

// The pool's time-outs were `Double` seconds before they became `Duration`s. These overloads keep code written
// against that API compiling (with a warning pointing at the new spelling) and behave exactly as it did:
// zero, a negative number or NaN fails at once instead of queueing, `.infinity` waits for ever. They have no
// default argument, so `acquire()` and `acquire(timeout: nil)` always pick the `Duration` form.
extension ConnectionPool {
    @available(*, deprecated, message: "pass a Duration: acquire(timeout: .seconds(5), queue:completion:)")
    @discardableResult
    public func acquire(
        timeout seconds: Double,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping AcquireCompletion
    ) -> any Cancellable {
        acquire(timeoutSeconds: seconds, queue: queue, completion: completion)
    }

    @available(*, deprecated, message: "pass a Duration: acquire(timeout: .seconds(5))")
    public func acquire(timeout seconds: Double) throws -> Lease {
        if let slot = engine.tryLeaseImmediately() { return lease(slot) }
        return lease(try engine.acquireBlocking(timeout: seconds))
    }
}
