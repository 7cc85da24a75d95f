import Dispatch
import Synchronization
#if canImport(CDispatch)
internal import CDispatch
#endif

/// A queue-specific mark set without a destructor: what the library uses instead of `DispatchQueue.setSpecific`.
///
/// Why: the Swift overlay's `setSpecific` always registers a destructor for the value it boxes, and when a queue
/// whose specifics have destructors is disposed, libdispatch runs them with `dispatch_async_f` on the default
/// *non-overcommit* root queue (queue.c, `_dispatch_queue_specific_head_dispose`). Connection and work queues
/// come and go all day, so each one dying put a block where libdispatch's worker-pool monitor looks — and the
/// monitor kills the process with SIGILL when it cannot open `/proc` files because the process is out of
/// descriptors (see `LibraryQueues.makeWorkQueue`; a `toolbox eventhubs send` died that way in
/// DescriptorExhaustionTests). A mark is a static key with a plain integer value and no destructor, so a queue
/// dies without leaving work behind.
///
/// The C call needs the queue's `dispatch_queue_t`, which the Linux overlay keeps in its first stored property and
/// does not expose. It is read from there only after a probe proved the layout on this runtime: the pointer read
/// from a fresh queue must be the very queue libdispatch reports as current while it runs a block on that queue.
/// If the probe fails (another runtime), marks fall back to `setSpecific`: correct, with the disposal work back.
package final class QueueMark: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; `key` is an address used only as an identity, never dereferenced.
    /// The fallback's key.
    private let fallbackKey = DispatchSpecificKey<UInt>()

    #if canImport(CDispatch)
    /// The C key: the address of an allocation of this mark's, freed never (marks are static).
    private let key: UnsafeMutableRawPointer

    /// The byte offset of `dispatch_queue_t` inside a `DispatchQueue`, proven by the probe, or nil.
    private static let wrappedOffset: Int? = {
        let candidate = 2 * MemoryLayout<Int>.size  // after the object header (isa, reference counts)
        let probe = DispatchQueue(label: "AzureClientsToolbox.queue-layout-probe")
        let read = Unmanaged.passUnretained(probe).toOpaque().load(fromByteOffset: candidate, as: OpaquePointer?.self)
        // `dispatch_get_current_queue` is deprecated for deciding where code runs; here it only names the queue a
        // block runs on, and a sync on a fresh, untargeted serial queue runs that block inline.
        let current = Mutex<OpaquePointer?>(nil)
        probe.sync { current.withLock { $0 = dispatch_get_current_queue() } }
        return read != nil && read == current.withLock({ $0 }) ? candidate : nil
    }()

    private static func rawQueue(_ queue: DispatchQueue) -> OpaquePointer? {
        guard let offset = wrappedOffset else { return nil }
        return withExtendedLifetime(queue) {
            Unmanaged.passUnretained(queue).toOpaque().load(fromByteOffset: offset, as: OpaquePointer?.self)
        }
    }
    #endif

    package init() {
        #if canImport(CDispatch)
        key = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        #endif
    }

    /// Whether marks are set without a destructor on this runtime (the probe passed).
    package static var isDestructorFree: Bool {
        #if canImport(CDispatch)
        return wrappedOffset != nil
        #else
        return false
        #endif
    }

    /// Marks `queue` with `value` (0, which reads as "no mark", is stored as 1).
    package func set(on queue: DispatchQueue, value: UInt = 1) {
        let value = max(value, 1)
        #if canImport(CDispatch)
        if let raw = Self.rawQueue(queue) {
            dispatch_queue_set_specific(raw, key, UnsafeMutableRawPointer(bitPattern: value), nil)
            return
        }
        #endif
        queue.setSpecific(key: fallbackKey, value: value)
    }

    /// The value of the mark on the current queue, or on the first queue it targets that has one; nil if none.
    package var current: UInt? {
        #if canImport(CDispatch)
        if Self.wrappedOffset != nil {
            return dispatch_get_specific(key).map { UInt(bitPattern: $0) }
        }
        #endif
        return DispatchQueue.getSpecific(key: fallbackKey)
    }

    /// The label of the queue the caller runs on (the innermost one).
    package static var currentQueueLabel: String {
        #if canImport(CDispatch)
        return String(cString: dispatch_queue_get_label(nil))
        #else
        return "a library queue"
        #endif
    }
}
