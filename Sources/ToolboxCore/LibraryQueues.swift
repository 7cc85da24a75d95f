import Dispatch

/// The queues the library owns, and the marker that lets blocking wrappers refuse to run on them.
///
/// Every queue the library creates (connection queues, timer queues, the default callback queue) carries a
/// queue-specific marker. A blocking wrapper called on such a queue would wait for work that can only run on
/// that very queue (or starve the pool that would run it), so it fails fast with
/// `CoreError.Code.blockingCallOnLibraryQueue` instead of deadlocking.
public enum LibraryQueues {
    /// Set on every library queue, without a destructor (see `QueueMark`).
    private static let marker = QueueMark()

    /// The queue completion handlers run on when the caller passes none. Concurrent, never `.main`.
    ///
    /// The one library queue left on a non-overcommit root queue (see `makeWorkQueue`): it is public and shared,
    /// and servers fan their handlers out on it. A caller that may run out of descriptors and wants no exposure
    /// to libdispatch's worker-pool monitor passes its own serial queue.
    public static let defaultCallbackQueue: DispatchQueue = makeQueue(
        label: "AzureClientsToolbox.callbacks", attributes: .concurrent)

    /// A serial queue carrying the library marker. Use it for every queue a library component owns.
    public static func makeQueue(
        label: String,
        qos: DispatchQoS = .unspecified,
        attributes: DispatchQueue.Attributes = [],
        target: DispatchQueue? = nil
    ) -> DispatchQueue {
        let queue = DispatchQueue(label: label, qos: qos, attributes: attributes, target: target)
        marker.set(on: queue)
        return queue
    }

    /// A queue for one independent piece of work (a completion, a back-off timer, a blocking lookup) that may run
    /// beside any other such work: a fresh serial queue on every call, never a shared `.concurrent` queue or
    /// `DispatchQueue.global()`.
    ///
    /// Why (Linux libdispatch, src/event/workqueue.c): once a second the manager thread looks at each
    /// *non-overcommit* root queue — where `.concurrent` queues and `global()` send their work — and, when work is
    /// waiting there, opens `/proc/<tid>/stat` of every worker thread to count the runnable ones. If that `open`
    /// fails (EMFILE: the process is at its RLIMIT_NOFILE) libdispatch calls `DISPATCH_CLIENT_CRASH` and the process
    /// dies of SIGILL. Serial queues without a target sit on the *overcommit* root queues, which the monitor never
    /// inspects, so work on them cannot trigger it. Running out of descriptors is a peer- and OS-made condition the
    /// library must survive (typed EMFILE errors, back-off, recovery), so library work never waits on a
    /// non-overcommit root queue. A serial queue costs one small allocation; it goes away with its last block.
    public static func makeWorkQueue(label: String) -> DispatchQueue {
        makeQueue(label: label)
    }

    /// Where the library sends completions it has nothing to do in (`close(mode: .abortive) {}` and the like):
    /// one serial queue, so a fire-and-forget completion never lands on a non-overcommit root queue (see
    /// `makeWorkQueue`). Only for completions that return at once: the AMQP layer runs them inline, on the thread
    /// that decided the result, without a hop.
    package static let ignoredCompletions = makeQueue(label: "AzureClientsToolbox.ignored-completions")

    /// The label of the queue the caller is running on when that queue is a library queue or targets one, or nil
    /// when it is not on one.
    public static var currentLibraryQueueLabel: String? {
        marker.current == nil ? nil : QueueMark.currentQueueLabel
    }
}

/// Runs a completion-handler operation and waits for its result: the engine of every blocking wrapper.
///
/// ```swift
/// let lease = try Blocking.wait { completion in pool.acquire(queue: $0, completion: completion) }
/// ```
///
/// The operation delivers onto a private queue, so the wait never depends on a queue the caller may be
/// blocking. Called on a library queue, it throws `CoreError.Code.blockingCallOnLibraryQueue` at once.
public enum Blocking {
    /// The queue `wait` passes to the operations it starts, for their completion.
    ///
    /// Its completions only store the result and signal the waiting thread's semaphore: they never block,
    /// never call back into the library and may run on any thread. So a library component that recognises
    /// this queue (`queue === Blocking.deliveryQueue`) may run such a completion inline, on its own queue,
    /// instead of hopping here first: the waiting thread then wakes one thread hop earlier. Components that
    /// do not recognise it deliver here as onto any other queue.
    /// Serial, not `.concurrent` (see `LibraryQueues.makeWorkQueue`): its completions are a store and a signal.
    package static let deliveryQueue = LibraryQueues.makeQueue(label: "AzureClientsToolbox.blocking-delivery")

    /// Starts `operation` with a private delivery queue and blocks the calling thread until it completes.
    ///
    /// - parameters:
    ///   - function: the caller's name, for the error raised on a library queue (defaults to `#function`).
    ///   - operation: starts the work; it must call the completion exactly once, on the given queue.
    /// - throws: what the operation delivered, or `ToolboxError` `.blockingCallOnLibraryQueue` when called on a
    ///   library queue.
    public static func wait<T>(
        function: StaticString = #function,
        _ operation: (DispatchQueue, @escaping @Sendable (Result<T, any Error>) -> Void) -> Void
    ) throws -> T {
        if let label = LibraryQueues.currentLibraryQueueLabel {
            throw CoreError(
                .blockingCallOnLibraryQueue,
                "the blocking form of \(function) was called on the library queue '\(label)', where waiting would "
                    + "deadlock; use the completion-handler form there, or pass your own callback queue")
        }
        let box = ResultBox<T>()
        let semaphore = DispatchSemaphore(value: 0)
        operation(deliveryQueue) { result in
            box.set(result)
            semaphore.signal()
        }
        semaphore.wait()
        return try box.take().get()
    }
}

/// Carries one result from the thread that produces it to the one that waits on a semaphore.
private final class ResultBox<T>: Sendable {
    // `LockedValue` carries the result across threads: set once before the semaphore signal, taken after the wait.
    private let result = LockedValue<Result<T, any Error>?>(nil)

    func set(_ value: Result<T, any Error>) {
        result.withLockedValue { if case .none = $0 { $0 = value } }
    }

    func take() -> Result<T, any Error> {
        // Called only after the semaphore wait that follows `set`, so the value is there.
        result.load() ?? .failure(CoreError(.invalidArgument, "the operation completed without a result"))
    }
}

extension Blocking {
    /// `wait` for an operation that delivers `ToolboxError`s, with the error type kept: the engine of a
    /// role protocol's blocking forms.
    ///
    /// ```swift
    /// public func readItem(id: String) throws(ToolboxError) -> Item {
    ///     try Blocking.waitForResult { queue, done in readItem(id: id, queue: queue, completion: done) }
    /// }
    /// ```
    ///
    /// - Throws: what the operation delivered, or `.blockingCallOnLibraryQueue` when called on a library queue.
    public static func waitForResult<T>(
        function: StaticString = #function,
        _ operation: (DispatchQueue, @escaping @Sendable (Result<T, ToolboxError>) -> Void) -> Void
    ) throws(ToolboxError) -> T {
        do {
            return try wait(function: function) { queue, done in operation(queue) { done($0.mapError { $0 }) } }
        } catch let error as ToolboxError {
            throw error
        } catch {
            throw ToolboxError(.invalidArgument, "\(function) delivered an error of another type: \(error)",
                               underlying: error)
        }
    }
}
