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
public final class CancellationToken: Cancellable, Sendable {
    private struct State {
        var cancelled = false
        var handlers: [@Sendable () -> Void] = []
    }

    // Handlers are registered and taken under the LockedValue and run outside it.
    private let state = LockedValue(State())

    public init() {}

    /// Whether `cancel()` has been called.
    public var isCancelled: Bool { state.withLockedValue { $0.cancelled } }

    /// Runs `handler` once when the token is cancelled, or right away (on this thread) if it already is.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow: Bool = state.withLockedValue { state in
            if state.cancelled { return true }
            state.handlers.append(handler)
            return false
        }
        if runNow { handler() }
    }

    public func cancel() {
        let toRun: [@Sendable () -> Void] = state.withLockedValue { state in
            if state.cancelled { return [] }
            state.cancelled = true
            defer { state.handlers = [] }
            return state.handlers
        }
        for handler in toRun { handler() }
    }
}

/// A `Cancellable` for operations that completed synchronously and have nothing left to cancel.
public struct CompletedOperation: Cancellable {
    public init() {}
    public func cancel() {}
}
