import Dispatch
import ToolboxCore

/// Something that may time out: `timeOut()` runs once its deadline passes, unless it finished first.
package protocol TimeoutTarget: AnyObject, Sendable {
    /// True once the operation completed (its entry can be dropped without firing).
    var isFinished: Bool { get }
    func timeOut()
}

/// One timer for the per-try time-outs of every operation, instead of a `DispatchQueue.asyncAfter` per try.
///
/// `asyncAfter` creates, arms and later fires a dispatch timer source per call, and keeps its closure alive until
/// the deadline, even when the operation finished long before: at 50,000 sends a second with a 60 s try time-out,
/// three million timers. Here each try is one entry in a min-heap ordered by deadline. Tries usually finish in
/// about the order they started, so finished entries reach the top soon and are dropped when the next entry is
/// added; the one timer is re-armed only when a new deadline is earlier than the armed one.
///
/// The timer runs on a `ToolboxClock`: `SystemClock` in production (one shared scheduler), a `ManualClock` in
/// tests, where `advance(by:)` fires the time-outs that came due.
package final class TimeoutScheduler: @unchecked Sendable {
    // @unchecked Sendable: `heap`, `armedAt`, `armed`, `generation` and `sequence` are guarded by `lock`; the
    // clock job is scheduled and cancelled only under `lock`. `timeOut()` is called outside the lock.

    private struct Entry {
        let deadline: UInt64
        let sequence: UInt64
        let target: any TimeoutTarget

        func fires(before other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    /// The scheduler on the system clock that every client without a clock of its own shares.
    static let shared = TimeoutScheduler(clock: SystemClock())

    /// The shared scheduler for the system clock, a new one for any other clock.
    package static func on(_ clock: any ToolboxClock) -> TimeoutScheduler {
        clock is SystemClock ? shared : TimeoutScheduler(clock: clock)
    }

    let clock: any ToolboxClock
    private let lock = Lock()
    private var heap: [Entry] = []
    private var armedAt = UInt64.max
    private var armed: (any Cancellable)?
    /// Counts arms: a job that fires after it was replaced (its cancel came too late) finds it stale and does nothing.
    private var generation: UInt64 = 0
    private var sequence: UInt64 = 0
    /// The heap's size at which finished entries are swept out wherever they sit (`compact`): one entry that does
    /// not finish — a receive waiting a minute on an idle queue, a hung try with a long time-out — otherwise holds
    /// every later entry under it until it fires, ~3 million at 50,000 sends a second for a minute.
    private var compactAt = TimeoutScheduler.minimumCompaction
    static let minimumCompaction = 1_024
    private let queue = LibraryQueues.makeQueue(label: "AzureMessaging.timeouts")

    init(clock: any ToolboxClock) {
        self.clock = clock
    }

    deinit { armed?.cancel() }

    /// Calls `target.timeOut()` after `duration`, unless it is finished by then.
    package func schedule(after duration: Duration, _ target: any TimeoutTarget) {
        let deadline = clock.now().advanced(by: duration).nanoseconds
        lock.withLock {
            while let top = heap.first, top.target.isFinished { popTop() }
            if heap.count >= compactAt { compact() }
            sequence &+= 1
            push(Entry(deadline: deadline, sequence: sequence, target: target))
            if deadline < armedAt { arm(deadline) }
        }
    }

    /// Entries waiting (finished ones not yet dropped included); for tests.
    package var count: Int { lock.withLock { heap.count } }

    /// Sets the one clock job to fire at `deadline` (under `lock`).
    private func arm(_ deadline: UInt64) {
        armed?.cancel()
        generation &+= 1
        let current = generation
        armedAt = deadline
        armed = clock.schedule(at: MonotonicInstant(nanoseconds: deadline), on: queue) { [weak self] in
            self?.fire(current)
        }
    }

    private func fire(_ firing: UInt64) {
        let now = clock.now().nanoseconds
        let expired: [any TimeoutTarget] = lock.withLock {
            // Replaced by an earlier deadline while it was starting: the job armed since then does the work.
            guard firing == generation else { return [] }
            var expired: [any TimeoutTarget] = []
            while let top = heap.first, top.deadline <= now || top.target.isFinished {
                if !top.target.isFinished { expired.append(top.target) }
                popTop()
            }
            armed = nil
            armedAt = .max
            // The sweep threshold follows the heap back down after a peak, or up to twice that peak could pile
            // up under one long wait again before the next sweep.
            compactAt = max(Self.minimumCompaction, min(compactAt, heap.count.multipliedReportingOverflow(by: 2).partialValue))
            if let next = heap.first?.deadline { arm(next) }
            return expired
        }
        for target in expired { target.timeOut() }
    }

    // MARK: Binary heap (under `lock`)

    private func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].fires(before: heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    /// Drops every finished entry and rebuilds the heap (O(n), run when the heap has doubled since the last sweep:
    /// amortised O(1) per entry). The armed job stays: if it is now early, it finds nothing due and re-arms.
    private func compact() {
        heap.removeAll { $0.target.isFinished }
        var index = heap.count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
        compactAt = max(Self.minimumCompaction, heap.count.multipliedReportingOverflow(by: 2).partialValue)
    }

    private func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            let right = left + 1
            let child = right < heap.count && heap[right].fires(before: heap[left]) ? right : left
            guard heap[child].fires(before: heap[parent]) else { break }
            heap.swapAt(child, parent)
            parent = child
        }
    }
}
