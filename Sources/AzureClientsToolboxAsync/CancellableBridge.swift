import AzureMessagingCore
import Dispatch
import ToolboxCore

/// Holds the `Cancellable` of a started operation so Task cancellation can reach it, even when the Task is
/// cancelled before the operation handed its handle back.
final class CancellableBox: Sendable {
    private let state = LockedValue<(handle: (any Cancellable)?, cancelled: Bool)>((nil, false))

    func set(_ handle: any Cancellable) {
        let cancelNow = state.withLockedValue { state -> Bool in
            state.handle = handle
            return state.cancelled
        }
        if cancelNow { handle.cancel() }
    }

    func cancel() {
        let handle = state.withLockedValue { state -> (any Cancellable)? in
            state.cancelled = true
            return state.handle
        }
        handle?.cancel()
    }
}

/// Awaits a completion-handler operation; Task cancellation cancels it through its handle.
func awaitOperation<T: Sendable>(
    _ start: (@escaping @Sendable (Result<T, AzureMessagingError>) -> Void) -> any Cancellable
) async throws(AzureMessagingError) -> T {
    let box = CancellableBox()
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

/// Where the async forms ask for completions: they only resume a continuation there.
var asyncDeliveryQueue: DispatchQueue { LibraryQueues.defaultCallbackQueue }
