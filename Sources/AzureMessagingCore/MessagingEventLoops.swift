import Dispatch
import Foundation
import Synchronization
import ToolboxCore

/// The serial queues the Event Hubs and Service Bus connections' queues target, one per processor, handed out
/// round robin (as `HTTPClient`'s event loops are).
///
/// A connection queue of its own targets libdispatch's overcommit pool, which starts another thread whenever
/// such a queue has work and no thread is free: opening 50 pooled connections at once left about 25 extra
/// threads, whose stacks and malloc arenas counted against every idle connection (performance-history.md,
/// "Idle memory"). Sharing a few serial queues bounds that at one thread per loop; each connection keeps its
/// own serial queue (its work stays ordered and exclusive), and work on connections of one loop runs in turn.
final class MessagingEventLoops: Sendable {
    static let shared = MessagingEventLoops(count: ProcessInfo.processInfo.activeProcessorCount)

    private let loops: [DispatchQueue]
    private let counter = Atomic<Int>(0)

    init(count: Int) {
        loops = (0..<max(1, count)).map { LibraryQueues.makeQueue(label: "AzureMessagingCore.loop\($0)") }
    }

    /// The loop for the next connection.
    func next() -> DispatchQueue {
        let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[(n % loops.count + loops.count) % loops.count]
    }
}
