import ToolboxCore

/// One public Blob operation in flight: its exactly-once completion and the handles of the requests and timers
/// it runs (several at once for parallel transfers), so that `cancel()` stops all of them — the operation type
/// Event Grid's publishes use too.
typealias BlobOperation<Value: Sendable> = ChildOperation<Value>
