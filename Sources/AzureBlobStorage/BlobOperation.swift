import Dispatch
import ToolboxCore

/// One public operation in flight: its exactly-once completion and the handles of the requests and timers it
/// runs (several at once for parallel transfers), so that `cancel()` stops all of them.
final class BlobOperation<Value: Sendable>: Cancellable, @unchecked Sendable {
    // @unchecked Sendable: `children`, `nextID` and `finished` are guarded by `lock`; the completion is run
    // outside it, once, through `CompletionOnce`.
    private let lock = Lock()
    private var children: [Int: any Cancellable] = [:]
    private var nextID = 0
    private var finished = false
    private let once: CompletionOnce<Result<Value, ToolboxError>>
    private let what: String
    private var cleanups: [@Sendable () -> Void] = []

    /// - parameter what: the operation, for the cancellation message ("uploading 'a.bin'").
    init(_ what: String, queue: DispatchQueue, completion: @escaping @Sendable (Result<Value, ToolboxError>) -> Void) {
        self.what = what
        once = CompletionOnce { result in queue.async { completion(result) } }
    }

    var isFinished: Bool { lock.withLock { finished } }

    /// Tracks `child` until `untrack` (or the end); cancels it at once if the operation already ended.
    @discardableResult
    func track(_ child: any Cancellable) -> Int? {
        let id: Int? = lock.withLock {
            if finished { return nil }
            nextID += 1
            children[nextID] = child
            return nextID
        }
        if id == nil { child.cancel() }
        return id
    }

    func untrack(_ id: Int?) {
        guard let id else { return }
        lock.withLock { _ = children.removeValue(forKey: id) }
    }

    /// Starts a child (a request, a timer) that calls the `finished` it is given when it ends; the child is
    /// cancelled with the operation only while it runs, never after.
    func run(_ start: (_ finished: @escaping @Sendable () -> Void) -> any Cancellable) {
        let slot = LockedValue<(id: Int?, done: Bool)>((nil, false))
        let handle = start { [weak self] in
            let id = slot.withLockedValue { state -> Int? in
                state.done = true
                return state.id
            }
            self?.untrack(id)
        }
        let id = track(handle)
        let doneAlready = slot.withLockedValue { state -> Bool in
            if state.done { return true }
            state.id = id
            return false
        }
        if doneAlready { untrack(id) }
    }

    /// Runs `cleanup` when the operation ends, however it ends (closing a file, releasing a buffer).
    func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let runNow: Bool = lock.withLock {
            if finished { return true }
            cleanups.append(cleanup)
            return false
        }
        if runNow { cleanup() }
    }

    /// Delivers `result` unless something already was, and cancels whatever is still running.
    func finish(_ result: Result<Value, ToolboxError>) {
        let (pending, cleanups): ([any Cancellable], [@Sendable () -> Void]) = lock.withLock {
            if finished { return ([], []) }
            finished = true
            defer {
                children = [:]
                self.cleanups = []
            }
            return (Array(children.values), self.cleanups)
        }
        for child in pending { child.cancel() }
        for cleanup in cleanups { cleanup() }
        once.complete(result)
    }

    func cancel() {
        finish(.failure(ToolboxError(.cancelled, "\(what) was cancelled")))
    }
}
