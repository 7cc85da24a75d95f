#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#else
#error("ToolboxCore needs pthreads: Glibc, Musl or Darwin")
#endif

/// A small mutual-exclusion lock over `pthread_mutex_t`.
///
/// The mutex lives in memory this class allocates once and never moves, which is what pthreads require.
/// Library code holds a lock for O(log n) work at most: never across I/O and never while calling user code.
///
/// ```swift
/// let lock = Lock()
/// lock.withLock { counter += 1 }
/// ```
public final class Lock: @unchecked Sendable {
    // @unchecked Sendable: the only state is the pthread mutex, which is itself the synchronisation primitive.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if DEBUG
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        #endif
        let rc = pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(rc == 0, "pthread_mutex_init failed with \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable
    public func lock() { _lock() }

    @inlinable
    public func unlock() { _unlock() }

    @usableFromInline
    func _lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed with \(rc) (re-entrant use of a Lock?)")
    }

    @usableFromInline
    func _unlock() {
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed with \(rc) (unlock from a thread that does not hold it?)")
    }

    /// Runs `body` with the lock held.
    @inlinable
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        _lock()
        defer { _unlock() }
        return try body()
    }
}

/// A value and the lock that protects it, travelling together so nobody forgets the lock.
///
/// ```swift
/// let hits = LockedValue(0)
/// hits.withLockedValue { $0 += 1 }
/// ```
public final class LockedValue<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only read or written inside `lock.withLock`.
    @usableFromInline let lock = Lock()
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    @inlinable
    public func withLockedValue<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&value) }
    }

    /// A copy of the current value.
    @inlinable
    public func load() -> Value {
        lock.withLock { value }
    }
}
