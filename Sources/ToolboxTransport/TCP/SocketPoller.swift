import Dispatch
import ToolboxCore

/// Which readiness a socket's owner wants reported.
struct SocketInterest: OptionSet, Sendable {
    let rawValue: UInt8
    static let read = SocketInterest(rawValue: 1)
    static let write = SocketInterest(rawValue: 2)
}

/// What the poller saw on a socket. An error or hang-up (a refused connect, a reset) counts as both readable
/// and writable: the next receive or send on the socket reports what happened.
struct SocketReadiness: Sendable {
    let readable: Bool
    let writable: Bool
}

#if os(Linux)
import CToolboxOpenSSL  // for <sys/epoll.h>, see shim.h
import Glibc

/// Socket readiness from an `epoll` set of our own, drained either by one Dispatch read source on the epoll
/// descriptor (`init(queue:)`, the shared poller) or by a thread of its own (`init(thread:)`, an HTTP event
/// loop's: see there why).
///
/// Every socket on Linux is watched through a poller, never through a Dispatch read or write source of its own:
///
/// - **Safety.** libdispatch's epoll back end handles `EPOLLHUP` (unmaskable; reported for every refused connect
///   and every reset connection) on its manager thread while the source's own queue may already be unregistering
///   the same source (both were seen running `EPOLL_CTL_DEL` on the same descriptor at once under strace); under
///   churn that ended in "BUG IN LIBDISPATCH: Source finalized twice" (SIGILL) — issue 13 item 0. A poller's
///   registrations are keyed by a token that is never reused, so a report that arrives after its socket was
///   removed (and its number handed to a new socket) finds no registration and is dropped; closing a socket needs
///   no cancel handler to wait for. The epoll descriptor itself never hangs up.
/// - **Cost.** A Dispatch source is re-armed through the manager thread after every event (an `eventfd` wake-up
///   and two `epoll_ctl` calls); one poller drain serves every socket that became ready meanwhile.
///
/// Registrations are `EPOLLONESHOT`: after a report the socket stays disarmed until its owner re-arms it (on its
/// own queue, after it has read or written). Each report is delivered on the registration's queue.
final class SocketPoller: @unchecked Sendable {
    // @unchecked Sendable: the registrations live in `state` (a lock); `epfd`, `source` and `stopFD` never change
    // after init (the epoll set itself is thread-safe in the kernel).
    struct State {
        var registrations: [UInt64: Registration] = [:]
        var nextToken: UInt64 = 1
    }

    private let state = LockedValue(State())
    private let epfd: Int32
    /// Dispatch mode: the read source on the epoll descriptor.
    private let source: (any DispatchSourceRead)?
    /// Thread mode: the write end of the pipe whose closing stops the poller thread (-1 in Dispatch mode).
    private let stopFD: Int32

    struct Registration {
        let queue: DispatchQueue
        let handler: @Sendable (_ token: UInt64, SocketReadiness) -> Void
    }

    /// The poller of connections that belong to no event loop (created on first use; nil if the kernel refused).
    static let shared: SocketPoller? = SocketPoller(
        queue: LibraryQueues.makeQueue(label: "ToolboxTransport.poller", qos: .userInitiated))

    /// Dispatch mode: a read source on the epoll descriptor drains it on `queue`, and each report is handed to its
    /// registration's queue with `async`. nil when the kernel refuses an epoll set (sockets then fall back to
    /// Dispatch sources).
    init?(queue: DispatchQueue) {
        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { return nil }
        self.epfd = epfd
        self.stopFD = -1
        let source = DispatchSource.makeReadSource(fileDescriptor: epfd, queue: queue)
        self.source = source
        let state = self.state
        source.setEventHandler {
            SocketPoller.drain(epfd, state, timeout: 0) { registration, token, readiness in
                let handler = registration.handler
                registration.queue.async { handler(token, readiness) }
            }
        }
        // The epoll descriptor is closed only once its source can no longer touch it.
        source.setCancelHandler { Glibc.close(epfd) }
        source.resume()
    }

    /// Thread mode (an event loop's poller): a thread of its own blocks in `epoll_wait` and runs each report on
    /// its registration's queue with `sync`, on the poller thread itself. When that queue (and the event loop it
    /// targets) is idle, the report is handled without waking any other thread: the Dispatch mode costs the
    /// manager thread's wake-up and then a worker's for every report. nil when the kernel refuses the epoll set,
    /// the pipe or the thread (the caller then falls back to the Dispatch mode).
    ///
    /// Every registration's queue must be one whose work never waits for this poller (a connection's queue).
    init?(thread: ()) {
        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { return nil }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            Glibc.close(epfd)
            return nil
        }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD, 0) | FD_CLOEXEC) }
        // The pipe's read end carries token 0 (no registration has it): it reports once the write end is closed.
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        let driver = PollerThread(epfd: epfd, stopRead: pipeFDs[0], state: state)
        guard epoll_ctl(epfd, EPOLL_CTL_ADD, pipeFDs[0], &event) == 0, driver.start() else {
            Glibc.close(epfd)
            Glibc.close(pipeFDs[0])
            Glibc.close(pipeFDs[1])
            return nil
        }
        self.epfd = epfd
        self.stopFD = pipeFDs[1]
        self.source = nil
    }

    deinit {
        source?.cancel()
        // Thread mode: the read end reports end-of-file; the thread then closes the epoll set and the read end.
        if stopFD >= 0 { Glibc.close(stopFD) }
    }

    /// Adds `fd`, armed for `interest`; `handler` runs on `queue` for each report, with the registration's token.
    /// Returns the token to re-arm and remove it with, or nil (with `errno` set) when the kernel refused.
    func register(fd: Int32, interest: SocketInterest, queue: DispatchQueue,
                  handler: @escaping @Sendable (_ token: UInt64, SocketReadiness) -> Void) -> UInt64? {
        let token: UInt64 = state.withLockedValue { state in
            let token = state.nextToken
            state.nextToken &+= 1
            state.registrations[token] = Registration(queue: queue, handler: handler)
            return token
        }
        if control(EPOLL_CTL_ADD, fd, token, interest) { return token }
        let code = errno
        state.withLockedValue { $0.registrations[token] = nil }
        errno = code
        return nil
    }

    /// Arms a registered socket for its next report of `interest`.
    func rearm(fd: Int32, token: UInt64, interest: SocketInterest) -> Bool {
        control(EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Removes a socket; reports already on their way for it are dropped. Call before closing the socket.
    func unregister(fd: Int32, token: UInt64) {
        var event = epoll_event()
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event)
        state.withLockedValue { $0.registrations[token] = nil }
    }

    private func control(_ operation: Int32, _ fd: Int32, _ token: UInt64, _ interest: SocketInterest) -> Bool {
        var event = epoll_event()
        event.events = EPOLLONESHOT.rawValue
        if interest.contains(.read) { event.events |= EPOLLIN.rawValue }
        if interest.contains(.write) { event.events |= EPOLLOUT.rawValue }
        event.data.u64 = token
        return epoll_ctl(epfd, operation, fd, &event) == 0
    }

    /// Collects the reports `epoll_wait` gives (waiting up to `timeout` ms, -1 for ever) and hands each to
    /// `deliver`, until no more are ready. Returns false once the stop pipe (token 0) reported, or the epoll set
    /// failed (it cannot with a valid descriptor and buffer; EINTR is waited out).
    @discardableResult
    static func drain(_ epfd: Int32, _ state: LockedValue<State>, timeout: Int32,
                      deliver: (Registration, UInt64, SocketReadiness) -> Void) -> Bool {
        let failed = EPOLLERR.rawValue | EPOLLHUP.rawValue
        let readable = EPOLLIN.rawValue | failed
        let writable = EPOLLOUT.rawValue | failed
        return withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: 64) { events in
            guard let base = events.baseAddress else { return false }
            var wait = timeout
            while true {
                let n = Int(epoll_wait(epfd, base, Int32(events.count), wait))
                // EINTR only (the descriptor and buffer are valid): wait again.
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return n == 0 }
                wait = 0
                var stopped = false
                let ready: [(UInt64, Registration, SocketReadiness)] = state.withLockedValue { state in
                    (0..<n).compactMap { index in
                        let event = events[index]
                        let token = event.data.u64
                        if token == 0 { stopped = true }
                        guard let registration = state.registrations[token] else { return nil }
                        let readiness = SocketReadiness(
                            readable: event.events & readable != 0, writable: event.events & writable != 0)
                        return (token, registration, readiness)
                    }
                }
                for (token, registration, readiness) in ready { deliver(registration, token, readiness) }
                if stopped { return false }
                if n < events.count { return true }
            }
        }
    }
}

/// The thread of a thread-mode `SocketPoller`: waits in `epoll_wait`, runs each report on its registration's
/// queue with `sync`, and ends (closing the epoll set and the stop pipe's read end) when the poller goes away.
private final class PollerThread: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; `state` is a lock.
    private let epfd: Int32
    private let stopRead: Int32
    private let state: LockedValue<SocketPoller.State>

    init(epfd: Int32, stopRead: Int32, state: LockedValue<SocketPoller.State>) {
        self.epfd = epfd
        self.stopRead = stopRead
        self.state = state
    }

    /// Starts the (detached) thread; false when the system refused it.
    func start() -> Bool {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<PollerThread>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<PollerThread>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    private func run() {
        while SocketPoller.drain(epfd, state, timeout: -1, deliver: { registration, token, readiness in
            registration.queue.sync { registration.handler(token, readiness) }
        }) {}
        Glibc.close(epfd)
        Glibc.close(stopRead)
    }
}
#else

/// epoll is Linux only; elsewhere every socket keeps its own Dispatch sources (kqueue has no unmaskable hang-up).
final class SocketPoller: Sendable {
    static let shared: SocketPoller? = nil
    init?(queue: DispatchQueue) { return nil }
    init?(thread: ()) { return nil }
    func register(fd: Int32, interest: SocketInterest, queue: DispatchQueue,
                  handler: @escaping @Sendable (_ token: UInt64, SocketReadiness) -> Void) -> UInt64? { nil }
    func rearm(fd: Int32, token: UInt64, interest: SocketInterest) -> Bool { false }
    func unregister(fd: Int32, token: UInt64) {}
}
#endif
