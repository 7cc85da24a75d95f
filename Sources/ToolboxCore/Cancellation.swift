/// A handle that cancels an operation started with a completion handler.
///
/// Cancelling is idempotent and safe from any thread. An operation that is cancelled before it completes
/// delivers a cancellation error to its completion handler exactly once; cancelling after completion does nothing.
public protocol Cancellable: Sendable {
    func cancel()
}

/// A thread-safe cancellation flag with handlers that run once when it is cancelled.
///
/// Operations register what they must undo with `onCancel(_:)`; the async shim maps `Task` cancellation onto
/// `cancel()`.
public final class CancellationToken: Cancellable, @unchecked Sendable {
    // @unchecked Sendable: `state` is only touched inside `lock`; handlers run outside it.
    private let lock = Lock()
    private var cancelled = false
    private var handlers: [@Sendable () -> Void] = []

    public init() {}

    /// Whether `cancel()` has been called.
    public var isCancelled: Bool { lock.withLock { cancelled } }

    /// Runs `handler` once when the token is cancelled, or right away (on this thread) if it already is.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow: Bool = lock.withLock {
            if cancelled { return true }
            handlers.append(handler)
            return false
        }
        if runNow { handler() }
    }

    public func cancel() {
        let toRun: [@Sendable () -> Void] = lock.withLock {
            if cancelled { return [] }
            cancelled = true
            defer { handlers = [] }
            return handlers
        }
        for handler in toRun { handler() }
    }
}

/// A `Cancellable` for operations that completed synchronously and have nothing left to cancel.
public struct CompletedOperation: Cancellable {
    public init() {}
    public func cancel() {}
}
