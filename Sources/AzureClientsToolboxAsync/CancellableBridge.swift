import AzureMessagingCore
import Dispatch
import ToolboxCore

/// Awaits a completion-handler operation; Task cancellation cancels it through its handle.
func awaitOperation<T: Sendable>(
    _ start: (@escaping @Sendable (Result<T, AzureMessagingError>) -> Void) -> any Cancellable
) async throws(AzureMessagingError) -> T {
    // Holds the started operation's handle so Task cancellation reaches it, even before `start` returned it.
    let box = CancellableSlot()
    let result: Result<T, AzureMessagingError> = await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            box.set(start { continuation.resume(returning: $0) })
        }
    } onCancel: {
        box.cancel()
    }
    return try result.get()
}

/// Awaits an operation that has no handle (close, warm-up): it runs to completion.
func awaitUncancellable<T: Sendable>(
    _ start: (@escaping @Sendable (Result<T, AzureMessagingError>) -> Void) -> Void
) async throws(AzureMessagingError) -> T {
    let result: Result<T, AzureMessagingError> = await withCheckedContinuation { continuation in
        start { continuation.resume(returning: $0) }
    }
    return try result.get()
}

/// Where the async forms ask for completions: they only resume a continuation there, which never blocks and
/// never calls back into the library, so they qualify for `Blocking.deliveryQueue` (components may run such a
/// completion inline). Not the concurrent default callback queue: library-made work never waits on a
/// non-overcommit root queue (see `LibraryQueues.makeWorkQueue`).
var asyncDeliveryQueue: DispatchQueue { Blocking.deliveryQueue }
