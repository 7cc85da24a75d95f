import Dispatch
import ToolboxCore

/// One caller waiting for a token: delivers exactly once on its queue, whichever of result, deadline or
/// cancellation comes first.
final class TokenDelivery: Cancellable, @unchecked Sendable {
    // @unchecked Sendable: every property is immutable; DispatchWorkItem is not marked Sendable but its
    // `cancel()` is documented as thread-safe, and CompletionOnce serialises delivery behind its own lock.
    private let once: CompletionOnce<Result<AccessToken, AuthError>>
    private let queue: DispatchQueue
    private let timer: DispatchWorkItem?

    init(
        queue: DispatchQueue, deadline: Deadline, operation: String,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) {
        let once = CompletionOnce(completion)
        self.queue = queue
        self.once = once
        if deadline == .never {
            timer = nil
        } else {
            let work = DispatchWorkItem {
                once.complete(.failure(AuthError(.timedOut, "\(operation) did not complete before its deadline; "
                    + "pass a later deadline in TokenRequestOptions or check that the token endpoint is reachable")))
            }
            timer = work
            queue.asyncAfter(deadline: deadline.instant.dispatchTime, execute: work)
        }
    }

    /// Whether a result has already been delivered (or a timeout or cancellation won).
    var isCompleted: Bool { once.isCompleted }

    /// Delivers `result` on the caller's queue unless something else already completed this delivery.
    func deliver(_ result: Result<AccessToken, AuthError>) {
        timer?.cancel()
        let once = self.once
        queue.async { once.complete(result) }
    }

    func cancel() {
        timer?.cancel()
        let once = self.once
        queue.async { once.complete(.failure(AuthError(.cancelled, "the token request was cancelled"))) }
    }
}
