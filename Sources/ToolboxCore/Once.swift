/// Wraps a completion handler so that it runs at most once, however many paths try to complete it.
///
/// Timeouts, cancellation and the real result race one another; whichever arrives first wins and the rest are
/// dropped. `complete` returns whether this call was the one that ran the handler.
public final class CompletionOnce<Value>: @unchecked Sendable {
    // @unchecked Sendable: `handler` is taken exactly once under `lock`; it is called outside the lock.
    private let lock = Lock()
    private var handler: (@Sendable (Value) -> Void)?

    public init(_ handler: @escaping @Sendable (Value) -> Void) {
        self.handler = handler
    }

    /// Whether the handler has already run (or is running).
    public var isCompleted: Bool { lock.withLock { handler == nil } }

    @discardableResult
    public func complete(_ value: Value) -> Bool {
        let taken: (@Sendable (Value) -> Void)? = lock.withLock {
            defer { handler = nil }
            return handler
        }
        guard let taken else { return false }
        taken(value)
        return true
    }
}
