import Dispatch
import ToolboxCore

/// The `Cancellable` of one public operation, which may take several steps (metadata reads, pages, retries):
/// it cancels whichever step is current and delivers the result exactly once on the caller's queue.
final class CosmosOperation<Value: Sendable>: Cancellable, Sendable {
    private let step = CancellableSlot()
    private let once: CompletionOnce<Result<Value, ToolboxError>>
    let what: String

    init(_ what: String, queue: DispatchQueue, completion: @escaping @Sendable (Result<Value, ToolboxError>) -> Void) {
        self.what = what
        self.once = CompletionOnce { result in queue.async { completion(result) } }
    }

    var isFinished: Bool { once.isCompleted }

    /// Makes `handle` the step to cancel; cancels it at once (and returns false) if the operation was cancelled.
    @discardableResult
    func setStep(_ handle: any Cancellable) -> Bool {
        // A step that already completed the operation is left alone; a step started after a cancel is cancelled.
        step.set(handle) && !once.isCompleted
    }

    func finish(_ result: Result<Value, ToolboxError>) {
        once.complete(result)
    }

    func cancel() {
        // The operation's own cancellation is delivered before the step's handle can answer with its own error.
        step.cancel { finish(.failure(ToolboxError(.cancelled, "\(what) was cancelled"))) }
    }
}
