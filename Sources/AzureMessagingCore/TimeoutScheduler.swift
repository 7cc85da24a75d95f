import Dispatch
import ToolboxCore

/// Something that may time out: `timeOut()` runs once its deadline passes, unless it finished first.
protocol TimeoutTarget: AnyObject, Sendable {
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
final class TimeoutScheduler: @unchecked Sendable {
    // @unchecked Sendable: `heap`, `armedAt` and `sequence` are guarded by `lock`; the timer source is
    // thread-safe and re-scheduled only under `lock`. `timeOut()` is called outside the lock.

    private struct Entry {
        let deadline: UInt64
        let sequence: UInt64
        let target: any TimeoutTarget

        func fires(before other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    static let shared = TimeoutScheduler()

    private let lock = Lock()
    private var heap: [Entry] = []
    private var armedAt = UInt64.max
    private var sequence: UInt64 = 0
    private let timer: any DispatchSourceTimer

    init() {
        let queue = LibraryQueues.makeQueue(label: "AzureMessaging.timeouts")
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .distantFuture)
        timer.setEventHandler { [unowned(unsafe) self] in self.fire() }
        timer.activate()
    }

    deinit { timer.cancel() }

    /// Calls `target.timeOut()` after `seconds`, unless it is finished by then.
    func schedule(after seconds: Double, _ target: any TimeoutTarget) {
        let deadline = MonotonicInstant.now().advanced(bySeconds: seconds).nanoseconds
        lock.withLock {
            while let top = heap.first, top.target.isFinished { popTop() }
            sequence &+= 1
            push(Entry(deadline: deadline, sequence: sequence, target: target))
            if deadline < armedAt {
                armedAt = deadline
                timer.schedule(deadline: MonotonicInstant(nanoseconds: deadline).dispatchTime, leeway: .milliseconds(1))
            }
        }
    }

    /// Entries waiting (finished ones not yet dropped included); for tests.
    var count: Int { lock.withLock { heap.count } }

    private func fire() {
        let now = MonotonicInstant.now().nanoseconds
        let expired: [any TimeoutTarget] = lock.withLock {
            var expired: [any TimeoutTarget] = []
            while let top = heap.first, top.deadline <= now || top.target.isFinished {
                if !top.target.isFinished { expired.append(top.target) }
                popTop()
            }
            armedAt = heap.first?.deadline ?? .max
            if armedAt != .max {
                timer.schedule(deadline: MonotonicInstant(nanoseconds: armedAt).dispatchTime, leeway: .milliseconds(1))
            }
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
        var parent = 0
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
