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

/// Socket readiness from an `epoll` set of our own, which one Dispatch read source on the epoll descriptor drains.
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
    // @unchecked Sendable: the registrations live in `state`; `epfd` and `source` never change
    // after init (the epoll set itself is thread-safe in the kernel).
    private struct State {
        var registrations: [UInt64: Registration] = [:]
        var nextToken: UInt64 = 1
    }

    private let state = LockedValue(State())
    private let epfd: Int32
    private let source: any DispatchSourceRead

    private struct Registration {
        let queue: DispatchQueue
        let handler: @Sendable (_ token: UInt64, SocketReadiness) -> Void
    }

    /// The poller of connections that belong to no event loop (created on first use; nil if the kernel refused).
    static let shared: SocketPoller? = SocketPoller(
        queue: LibraryQueues.makeQueue(label: "ToolboxTransport.poller", qos: .userInitiated))

    /// nil when the kernel refuses an epoll set (sockets then fall back to Dispatch sources).
    init?(queue: DispatchQueue) {
        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { return nil }
        self.epfd = epfd
        let source = DispatchSource.makeReadSource(fileDescriptor: epfd, queue: queue)
        self.source = source
        source.setEventHandler { [weak self] in self?.drain() }
        // The epoll descriptor is closed only once its source can no longer touch it.
        source.setCancelHandler { Glibc.close(epfd) }
        source.resume()
    }

    deinit {
        source.cancel()
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

    /// On the poller's queue: hands each report to its registration's queue.
    private func drain() {
        let failed = EPOLLERR.rawValue | EPOLLHUP.rawValue
        let readable = EPOLLIN.rawValue | failed
        let writable = EPOLLOUT.rawValue | failed
        withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: 64) { events in
            guard let base = events.baseAddress else { return }
            while true {
                let n = Int(epoll_wait(epfd, base, Int32(events.count), 0))
                if n <= 0 { return }
                let ready: [(UInt64, Registration, SocketReadiness)] = state.withLockedValue { state in
                    (0..<n).compactMap { index in
                        let event = events[index]
                        let token = event.data.u64
                        guard let registration = state.registrations[token] else { return nil }
                        let readiness = SocketReadiness(
                            readable: event.events & readable != 0, writable: event.events & writable != 0)
                        return (token, registration, readiness)
                    }
                }
                for (token, registration, readiness) in ready {
                    let handler = registration.handler
                    registration.queue.async { handler(token, readiness) }
                }
                if n < events.count { return }
            }
        }
    }
}
#else

/// epoll is Linux only; elsewhere every socket keeps its own Dispatch sources (kqueue has no unmaskable hang-up).
final class SocketPoller: Sendable {
    static let shared: SocketPoller? = nil
    init?(queue: DispatchQueue) { return nil }
    func register(fd: Int32, interest: SocketInterest, queue: DispatchQueue,
                  handler: @escaping @Sendable (_ token: UInt64, SocketReadiness) -> Void) -> UInt64? { nil }
    func rearm(fd: Int32, token: UInt64, interest: SocketInterest) -> Bool { false }
    func unregister(fd: Int32, token: UInt64) {}
}
#endif
