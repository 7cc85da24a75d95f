import Dispatch
import Logging
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
import CToolboxOpenSSL  // for <sys/epoll.h> and <sys/eventfd.h>, see shim.h
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
    // @unchecked Sendable: the registrations and the thread-mode driver live in `state` (a lock); `epfd`,
    // `source` and `threads` never change after init (the epoll set itself is thread-safe in the kernel).
    struct State {
        var registrations: [UInt64: Registration] = [:]
        var nextToken: UInt64 = 1
        /// Thread mode: what drains the set now.
        var driver: Driver = .none
        /// Thread mode: how many poller threads were started so far.
        var threadStarts = 0
    }

    /// Thread mode: nothing (no registration yet, or the thread ended while the set was empty), a poller thread,
    /// or — once the system refused a thread — a Dispatch read source on the fallback queue, for good.
    enum Driver {
        case none
        case thread
        case source(any DispatchSourceRead)
    }

    private let state = LockedValue(State())
    private let epfd: Int32
    /// Dispatch mode: the read source on the epoll descriptor.
    private let source: (any DispatchSourceRead)?
    /// Thread mode: what a poller thread needs, and the owner of the epoll set and the stop `eventfd`.
    private let threads: PollerThread?

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
        self.threads = nil
        self.source = SocketPoller.makeSource(epfd: epfd, state: state, queue: queue) { Glibc.close(epfd) }
    }

    /// Thread mode (an event loop's poller): a thread of its own blocks in `epoll_wait` and runs each report on
    /// its registration's queue with `sync`, on the poller thread itself. When that queue (and the event loop it
    /// targets) is idle, the report is handled without waking any other thread: the Dispatch mode costs the
    /// manager thread's wake-up and then a worker's for every report. nil when the kernel refuses the epoll set
    /// or the `eventfd` (the caller then falls back to the Dispatch mode).
    ///
    /// The thread starts on the first `register`, not here (a client that never connects costs no thread), and
    /// ends once a wait of `idleSeconds` saw no report while the set was empty; the next `register` starts
    /// another. If the system refuses a thread, a Dispatch read source on `fallbackQueue` drains the set from then
    /// on. An `epoll_wait` failure is logged and waited out (backing off while it repeats); the set is closed only
    /// after the poller has been released and its thread has ended.
    ///
    /// Every registration's queue must be one whose work never waits for this poller (a connection's queue).
    init?(thread: (), fallbackQueue: DispatchQueue, idleSeconds: Double = 30, logger: Logger) {
        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { return nil }
        // An eventfd rather than a pipe: created close-on-exec in one call, so a fork/exec on another thread
        // (the Azure CLI credential runs `az`) cannot inherit it and hold the poller's stop signal open.
        let stopFD = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard stopFD >= 0 else {
            Glibc.close(epfd)
            return nil
        }
        // The eventfd carries token 0 (no registration has it): it reports once deinit writes to it.
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        guard epoll_ctl(epfd, EPOLL_CTL_ADD, stopFD, &event) == 0 else {
            Glibc.close(epfd)
            Glibc.close(stopFD)
            return nil
        }
        self.epfd = epfd
        self.source = nil
        let idleMilliseconds = Int32(clamping: Int(exactly: (max(0.001, min(idleSeconds, 3600)) * 1000).rounded()) ?? 30_000)
        self.threads = PollerThread(epfd: epfd, stopFD: stopFD, state: state, idleMilliseconds: idleMilliseconds,
                                    fallbackQueue: fallbackQueue, logger: logger)
    }

    deinit {
        source?.cancel()
        // Thread mode: a running thread sees the eventfd readable and ends; the last of it and this poller to go
        // closes the epoll set and the eventfd (PollerThread.deinit).
        threads?.stop()
    }

    /// Thread mode: whether a poller thread runs now, and how many were started so far.
    var threadStatus: (running: Bool, starts: Int) {
        state.withLockedValue { state in
            if case .thread = state.driver { return (true, state.threadStarts) }
            return (false, state.threadStarts)
        }
    }

    /// Thread mode, for tests: the descriptors the poller owns (the epoll set and the stop eventfd).
    var ownedDescriptors: [Int32] { threads.map { [$0.epfd, $0.stopFD] } ?? [epfd] }

    /// Thread mode, for tests: the next `count` `epoll_wait` calls of the poller thread fail with `code`.
    func injectWaitFailures(_ count: Int, errno code: Int32) {
        threads?.injectedFailures.withLockedValue { $0 = (count, code) }
    }

    /// Thread mode, for tests: how many injected failures are still to come.
    var pendingInjectedWaitFailures: Int { threads?.injectedFailures.load().count ?? 0 }

    /// Thread mode: while the poller thread is delivering a round of reports, takes `work` to run on that thread
    /// once the round is over, and returns true; otherwise (the thread waits in `epoll_wait`, or there is none)
    /// returns false and the caller runs `work` itself.
    ///
    /// For work that would `sync` onto one of this poller's queues from another thread: while the thread holds
    /// the loop, that `sync` waits, and the two threads then hand the loop back and forth — a sleep and a wake-up
    /// on each side (`toolbox bench http`: two thirds of its context switches). Taken here, it costs neither.
    func runAfterCurrentRound(_ work: @escaping @Sendable () -> Void) -> Bool {
        threads?.takeIfDelivering(work) ?? false
    }

    /// Adds `fd`, armed for `interest`; `handler` runs on `queue` for each report, with the registration's token.
    /// Returns the token to re-arm and remove it with, or nil (with `errno` set) when the kernel refused.
    func register(fd: Int32, interest: SocketInterest, queue: DispatchQueue,
                  handler: @escaping @Sendable (_ token: UInt64, SocketReadiness) -> Void) -> UInt64? {
        let threaded = threads != nil
        let (token, startThread): (UInt64, Bool) = state.withLockedValue { state in
            let token = state.nextToken
            state.nextToken &+= 1
            state.registrations[token] = Registration(queue: queue, handler: handler)
            guard threaded, case .none = state.driver else { return (token, false) }
            state.driver = .thread
            state.threadStarts += 1
            return (token, true)
        }
        if startThread, let threads { threads.start() }
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

    /// A read source on `epfd` that drains it on `queue` and hands each report to its registration's queue.
    static func makeSource(epfd: Int32, state: LockedValue<State>, queue: DispatchQueue,
                           onCancel: @escaping @Sendable () -> Void) -> any DispatchSourceRead {
        let source = DispatchSource.makeReadSource(fileDescriptor: epfd, queue: queue)
        source.setEventHandler {
            SocketPoller.drain(epfd, state, timeout: 0) { registration, token, readiness in
                let handler = registration.handler
                registration.queue.async { handler(token, readiness) }
            }
        }
        // The epoll descriptor is closed only once its source can no longer touch it.
        source.setCancelHandler(handler: onCancel)
        source.resume()
        return source
    }

    /// How one `drain` ended.
    enum DrainResult: Equatable {
        /// Reports were handed over (or the wait ended without any, when the timeout was 0).
        case delivered
        /// The wait of `timeout` ms (> 0) ended with nothing to report.
        case timedOut
        /// The stop eventfd (token 0) reported.
        case stopped
        /// `epoll_wait` failed with this errno (other than EINTR, which is waited out).
        case failed(Int32)
    }

    /// Collects the reports `epoll_wait` gives (waiting up to `timeout` ms, -1 for ever) and hands each to
    /// `deliver`, until no more are ready. `failWait` (tests) makes a wait fail with the errno it returns.
    @discardableResult
    static func drain(_ epfd: Int32, _ state: LockedValue<State>, timeout: Int32,
                      failWait: () -> Int32? = { nil },
                      deliver: (Registration, UInt64, SocketReadiness) -> Void) -> DrainResult {
        let failed = EPOLLERR.rawValue | EPOLLHUP.rawValue
        let readable = EPOLLIN.rawValue | failed
        let writable = EPOLLOUT.rawValue | failed
        return withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: 64) { events in
            guard let base = events.baseAddress else { return .failed(ENOMEM) }
            var wait = timeout
            while true {
                if let code = failWait() { return .failed(code) }
                let n = Int(epoll_wait(epfd, base, Int32(events.count), wait))
                if n < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    return .failed(code)
                }
                if n == 0 { return wait > 0 ? .timedOut : .delivered }
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
                if stopped { return .stopped }
                if n < events.count { return .delivered }
            }
        }
    }
}

/// A thread-mode `SocketPoller`'s driver: starts poller threads (each waits in `epoll_wait` and runs each report
/// on its registration's queue with `sync`), falls back to a read source when the system refuses a thread, and
/// owns the epoll set and the stop eventfd: they are closed when both the poller and its last thread are gone.
private final class PollerThread: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; `state` and `injectedFailures` are locks.
    let epfd: Int32
    let stopFD: Int32
    private let state: LockedValue<SocketPoller.State>
    private let idleMilliseconds: Int32
    private let fallbackQueue: DispatchQueue
    private let logger: Logger
    /// Tests: how many of the next waits fail, and with which errno.
    let injectedFailures = LockedValue<(count: Int, code: Int32)>((0, 0))
    /// Whether the thread is delivering a round of reports, and the work handed to it meanwhile
    /// (`SocketPoller.runAfterCurrentRound`), run when the round is over.
    private let handoff = LockedValue<(delivering: Bool, work: [@Sendable () -> Void])>((false, []))

    init(epfd: Int32, stopFD: Int32, state: LockedValue<SocketPoller.State>, idleMilliseconds: Int32,
         fallbackQueue: DispatchQueue, logger: Logger) {
        self.epfd = epfd
        self.stopFD = stopFD
        self.state = state
        self.idleMilliseconds = idleMilliseconds
        self.fallbackQueue = fallbackQueue
        self.logger = logger
    }

    deinit {
        let epfd = self.epfd
        let stopFD = self.stopFD
        let fallback: (any DispatchSourceRead)? = state.withLockedValue { state in
            if case .source(let source) = state.driver { return source }
            return nil
        }
        if let fallback {
            // Its cancel handler closes both once the source can no longer touch them.
            fallback.cancel()
        } else {
            Glibc.close(epfd)
            Glibc.close(stopFD)
        }
    }

    /// The poller was released: a running thread wakes on the eventfd and ends.
    func stop() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(stopFD, $0.baseAddress, $0.count) }
    }

    /// Starts a (detached) poller thread; the state already says `.thread`. When the system refuses, the set is
    /// drained by a read source on the fallback queue from now on.
    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<PollerThread>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<PollerThread>.fromOpaque(context).release()
            fallBackToSource(code: started)
            return
        }
        pthread_detach(thread)
    }

    private func fallBackToSource(code: Int32) {
        logger.warning("an HTTP event loop could not start its poller thread; a Dispatch source drains it instead",
                       metadata: ["errno": "\(code)"])
        // The source never needs the stop signal (it ends with the driver's deinit), and a level-triggered
        // eventfd in its set would keep it firing.
        var event = epoll_event()
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, stopFD, &event)
        let epfd = self.epfd
        let stopFD = self.stopFD
        let source = SocketPoller.makeSource(epfd: epfd, state: state, queue: fallbackQueue) {
            Glibc.close(epfd)
            Glibc.close(stopFD)
        }
        state.withLockedValue { $0.driver = .source(source) }
    }

    func takeIfDelivering(_ work: @escaping @Sendable () -> Void) -> Bool {
        handoff.withLockedValue { handoff in
            guard handoff.delivering else { return false }
            handoff.work.append(work)
            return true
        }
    }

    /// Runs the work handed over during the round just delivered, and what arrives while it runs; then marks the
    /// thread as no longer delivering (from then on callers run their work themselves).
    private func finishRound() {
        while true {
            let work: [@Sendable () -> Void] = handoff.withLockedValue { handoff in
                if handoff.work.isEmpty { handoff.delivering = false }
                defer { handoff.work = [] }
                return handoff.work
            }
            if work.isEmpty { return }
            for item in work { item() }
        }
    }

    private func run() {
        var failures = 0
        let failWait: () -> Int32? = { [injectedFailures] in
            injectedFailures.withLockedValue { injected in
                guard injected.count > 0 else { return nil }
                injected.count -= 1
                return injected.code
            }
        }
        while true {
            var delivering = false
            let result = SocketPoller.drain(epfd, state, timeout: idleMilliseconds, failWait: failWait) {
                registration, token, readiness in
                if !delivering {
                    delivering = true
                    handoff.withLockedValue { $0.delivering = true }
                }
                registration.queue.sync { registration.handler(token, readiness) }
            }
            if delivering { finishRound() }
            switch result {
            case .stopped:
                return
            case .delivered:
                failures = 0
            case .timedOut:
                failures = 0
                // Nothing happened for a while: end if nothing is registered (a later register starts a thread).
                let idle = state.withLockedValue { state -> Bool in
                    guard state.registrations.isEmpty else { return false }
                    state.driver = .none
                    return true
                }
                if idle { return }
            case .failed(let code):
                // Not a stop: the set stays open and registered sockets keep their registrations. Log the first
                // failure and then every doubling; back off 1 ms, doubling to 1 s, while the failures repeat.
                failures += 1
                if failures & (failures - 1) == 0 {
                    logger.error("epoll_wait failed on an HTTP event loop; waiting again",
                                 metadata: ["errno": "\(code)", "failures": "\(failures)"])
                }
                usleep(UInt32(1000 << min(failures - 1, 10)))
            }
        }
    }
}
#else

/// epoll is Linux only; elsewhere every socket keeps its own Dispatch sources (kqueue has no unmaskable hang-up).
final class SocketPoller: Sendable {
    static let shared: SocketPoller? = nil
    init?(queue: DispatchQueue) { return nil }
    init?(thread: (), fallbackQueue: DispatchQueue, idleSeconds: Double = 30, logger: Logger) { return nil }
    func register(fd: Int32, interest: SocketInterest, queue: DispatchQueue,
                  handler: @escaping @Sendable (_ token: UInt64, SocketReadiness) -> Void) -> UInt64? { nil }
    func rearm(fd: Int32, token: UInt64, interest: SocketInterest) -> Bool { false }
    func unregister(fd: Int32, token: UInt64) {}
}
#endif
