import Synchronization

/// Wraps a completion handler so that it runs at most once, however many paths try to complete it.
///
/// Timeouts, cancellation and the real result race one another; whichever arrives first wins and the rest are
/// dropped. `complete` returns whether this call was the one that ran the handler.
///
/// An atomic flag decides the winner (no lock: several of these are made per operation on hot paths, and a `Lock`
/// costs two allocations and a mutex initialisation each).
public final class CompletionOnce<Value>: @unchecked Sendable {
    // @unchecked Sendable: `completed` is atomic. `handler` is written by `init`, then read and cleared only by
    // the one caller that wins the `completed` exchange; no other thread touches it (and `deinit` runs after
    // every reference is gone).
    private let completed = Atomic<Bool>(false)
    private var handler: (@Sendable (Value) -> Void)?

    public init(_ handler: @escaping @Sendable (Value) -> Void) {
        self.handler = handler
    }

    /// Whether the handler has already run (or is running).
    public var isCompleted: Bool { completed.load(ordering: .acquiring) }

    /// Decides the race now and hands the handler to the winner, to run later (on a callback queue): from this
    /// call on `isCompleted` is true, so nothing can still be told a different outcome. nil for a loser.
    public func claim() -> (@Sendable (Value) -> Void)? {
        if completed.exchange(true, ordering: .acquiringAndReleasing) { return nil }
        let taken = handler
        handler = nil
        return taken
    }

    @discardableResult
    public func complete(_ value: Value) -> Bool {
        if completed.exchange(true, ordering: .acquiringAndReleasing) { return false }
        let taken = handler
        handler = nil
        taken?(value)
        return true
    }
}
