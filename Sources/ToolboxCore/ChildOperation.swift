import Dispatch

/// One public operation of an HTTP service client in flight: its exactly-once completion on the caller's queue,
/// and the handles of the steps it runs (requests, token fetches, timers; several at once for parallel blob
/// transfers), so that `cancel()` stops all of them. Blob Storage and Event Grid both run their operations on it.
package final class ChildOperation<Value: Sendable>: Cancellable, @unchecked Sendable {
    // @unchecked Sendable: `children`, `nextID`, `finished` and `cleanups` are guarded by `lock`; the completion
    // and the cleanups run outside it, once (the completion through `CompletionOnce`).
    private let lock = Lock()
    private var children: [Int: any Cancellable] = [:]
    private var nextID = 0
    private var finished = false
    private var cleanups: [@Sendable () -> Void] = []
    private let once: CompletionOnce<Result<Value, ToolboxError>>
    private let what: String

    /// - parameter what: the operation, for the cancellation message ("uploading 'a.bin'").
    package init(_ what: String, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<Value, ToolboxError>) -> Void) {
        self.what = what
        once = CompletionOnce { result in queue.async { completion(result) } }
    }

    package var isFinished: Bool { lock.withLock { finished } }

    /// Keeps `child` (a timer, say) until `untrack` or the end; cancels it at once if the operation already ended.
    @discardableResult
    package func track(_ child: any Cancellable) -> Int? {
        let id: Int? = lock.withLock {
            if finished { return nil }
            nextID += 1
            children[nextID] = child
            return nextID
        }
        if id == nil { child.cancel() }
        return id
    }

    package func untrack(_ id: Int?) {
        guard let id else { return }
        lock.withLock { _ = children.removeValue(forKey: id) }
    }

    /// Runs one step as a child: `start` gets a `done` its completion calls first, after which cancelling the
    /// operation no longer touches the step's handle (a finished request's connection may already serve someone
    /// else).
    package func run(_ start: (_ done: @escaping @Sendable () -> Void) -> any Cancellable) {
        let box = ChildHandle()
        let id = track(box)
        let handle = start { [weak self] in
            box.complete()
            self?.untrack(id)
        }
        box.attach(handle)
    }

    /// Runs `cleanup` when the operation ends, however it ends (closing a file, releasing a buffer).
    package func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let runNow: Bool = lock.withLock {
            if finished { return true }
            cleanups.append(cleanup)
            return false
        }
        if runNow { cleanup() }
    }

    /// Delivers `result` unless something already was, and cancels whatever is still running.
    ///
    /// Only the first call delivers: a later one (a child failing because this cancelled it) returns at once.
    /// It used to go on to `once.complete` too, and could get there while the first was still cancelling the
    /// children — so a stream upload refused at its 50,001st block sometimes reported "cancelled" instead.
    package func finish(_ result: Result<Value, ToolboxError>) {
        let ending: (pending: [any Cancellable], cleanups: [@Sendable () -> Void])? = lock.withLock {
            if finished { return nil }
            finished = true
            defer {
                children = [:]
                self.cleanups = []
            }
            return (Array(children.values), self.cleanups)
        }
        guard let (pending, cleanups) = ending else { return }
        for child in pending { child.cancel() }
        for cleanup in cleanups { cleanup() }
        once.complete(result)
    }

    package func cancel() {
        finish(.failure(ToolboxError(.cancelled, "\(what) was cancelled")))
    }
}

/// The handle of one child step, cancellable only while the step runs.
private final class ChildHandle: Cancellable, Sendable {
    private enum Phase { case running, completed, cancelled }
    private let state = LockedValue<(phase: Phase, handle: (any Cancellable)?)>((.running, nil))

    /// The step's own handle, once its start returned; cancelled at once if the operation was.
    func attach(_ handle: any Cancellable) {
        let cancelNow = state.withLockedValue { state -> Bool in
            guard state.phase == .running else { return state.phase == .cancelled }
            state.handle = handle
            return false
        }
        if cancelNow { handle.cancel() }
    }

    func complete() {
        state.withLockedValue { state in
            if state.phase == .running { state = (.completed, nil) }
        }
    }

    func cancel() {
        let handle = state.withLockedValue { state -> (any Cancellable)? in
            guard state.phase == .running else { return nil }
            defer { state = (.cancelled, nil) }
            return state.handle
        }
        handle?.cancel()
    }
}
