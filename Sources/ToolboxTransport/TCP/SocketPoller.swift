#if os(Linux)
import CToolboxOpenSSL  // for <sys/epoll.h>, see shim.h
import Dispatch
import Glibc
import ToolboxCore

/// One Dispatch read source for many sockets: an `epoll` set whose descriptor the source watches.
///
/// libdispatch on Linux re-arms a read source through its manager thread after every event (an `eventfd`
/// wake-up and two `epoll_ctl` calls), which made one source per connection cost a manager round trip per HTTP
/// response. Connections of one event loop register their sockets here instead (`EPOLLONESHOT`, re-armed by the
/// connection on its own queue after it has read): one manager round trip then serves every socket that became
/// readable meanwhile. Each ready socket's connection is handed a readiness call on its own queue.
final class SocketPoller: @unchecked Sendable {
    // @unchecked Sendable: `registrations` and `nextToken` are guarded by `lock`; `epfd` and `source` never change
    // after init (the epoll set itself is thread-safe in the kernel).
    private let lock = Lock()
    private var registrations: [UInt64: WeakConnection] = [:]
    private var nextToken: UInt64 = 1
    private let epfd: Int32
    private let source: (any DispatchSourceRead)?

    private struct WeakConnection {
        weak var connection: TCPConnection?
    }

    /// nil when the kernel refuses an epoll set (connections then use their own read sources).
    init?(queue: DispatchQueue) {
        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { return nil }
        self.epfd = epfd
        let source = DispatchSource.makeReadSource(fileDescriptor: epfd, queue: queue)
        self.source = source
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { Glibc.close(epfd) }
        source.resume()
    }

    deinit {
        source?.cancel()
    }

    /// Adds `fd` for one readiness report; returns the token to re-arm and remove it with, or nil on failure.
    func register(_ connection: TCPConnection, fd: Int32) -> UInt64? {
        let token: UInt64 = lock.withLock {
            let token = nextToken
            nextToken += 1
            registrations[token] = WeakConnection(connection: connection)
            return token
        }
        if control(EPOLL_CTL_ADD, fd, token) { return token }
        lock.withLock { registrations[token] = nil }
        return nil
    }

    /// Asks for the next readiness report of a registered socket.
    func rearm(fd: Int32, token: UInt64) -> Bool {
        control(EPOLL_CTL_MOD, fd, token)
    }

    /// Removes a socket; call before closing it.
    func unregister(fd: Int32, token: UInt64) {
        var event = epoll_event()
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event)
        lock.withLock { registrations[token] = nil }
    }

    private func control(_ operation: Int32, _ fd: Int32, _ token: UInt64) -> Bool {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = token
        return epoll_ctl(epfd, operation, fd, &event) == 0
    }

    /// On the loop's queue: hands every ready socket to its connection's queue.
    private func drain() {
        withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: 64) { events in
            while true {
                let n = Int(epoll_wait(epfd, events.baseAddress!, Int32(events.count), 0))
                if n <= 0 { return }
                let ready: [TCPConnection] = lock.withLock {
                    (0..<n).compactMap { registrations[events[$0].data.u64]?.connection }
                }
                for connection in ready {
                    connection.queue.async { connection.pollerReportedReadable() }
                }
                if n < events.count { return }
            }
        }
    }
}
#else
import Dispatch

/// epoll is Linux only; elsewhere every connection keeps its own read source.
final class SocketPoller: Sendable {
    init?(queue: DispatchQueue) { return nil }
    func register(_ connection: TCPConnection, fd: Int32) -> UInt64? { nil }
    func rearm(fd: Int32, token: UInt64) -> Bool { false }
    func unregister(fd: Int32, token: UInt64) {}
}
#endif
