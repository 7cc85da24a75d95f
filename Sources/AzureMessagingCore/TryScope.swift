import ToolboxCore

/// What one try of a messaging operation may use besides its connection: the try's deadline, and a place to
/// register the work it starts (a send, a request) so that the work is cancelled the moment the try gives up.
///
/// `perform` makes one per try and cancels it when the try completes, fails or times out, so a message still
/// waiting for credit when its try timed out is never sent after the retry was (it would be a duplicate), and
/// nothing the try started keeps its connection's lease.
///
/// ```swift
/// provider.perform("send", retry: retry, logger: logger, queue: queue, body: { connection, scope, done in
///     guard !scope.isCancelled else { return done(.failure(scope.cancellationError)) }
///     scope.track(sender.send(message, deadline: scope.deadline) { ... })
/// }, completion: completion)
/// ```
package final class TryScope: Sendable {
    private struct State {
        var cancelled = false
        var work: [any Cancellable] = []
    }

    /// When the try times out: pass it to every send, attach and request the try makes.
    package let deadline: Deadline
    private let state = LockedValue(State())

    package init(deadline: Deadline) { self.deadline = deadline }

    /// Seconds left until `deadline` (at least 1 ms, for APIs that take a time-out).
    package var secondsRemaining: Double { max(0.001, deadline.secondsRemaining) }

    /// True once the try gave up (or finished): start nothing more for it.
    package var isCancelled: Bool { state.withLockedValue { $0.cancelled } }

    /// The error a body reports when it finds its try already over.
    package var cancellationError: AzureMessagingError {
        AzureMessagingError(.timedOut, "the try ended before its work started", recovery: .retry)
    }

    /// Registers work to cancel when the try ends; cancels it at once if the try already ended.
    package func track(_ work: any Cancellable) {
        let late: Bool = state.withLockedValue { state in
            if state.cancelled { return true }
            state.work.append(work)
            return false
        }
        if late { work.cancel() }
    }

    /// Ends a try that succeeded: its work is done, so it is dropped without cancelling (a cancel costs a hop onto
    /// the connection's queue per send).
    func finish() {
        state.withLockedValue { state in
            state.cancelled = true
            state.work = []
        }
    }

    /// Ends the try: cancels every tracked piece of work (a no-op for work that already finished).
    func cancel() {
        let work: [any Cancellable] = state.withLockedValue { state in
            state.cancelled = true
            defer { state.work = [] }
            return state.work
        }
        for item in work { item.cancel() }
    }
}
