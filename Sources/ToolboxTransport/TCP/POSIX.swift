#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#else
#error("ToolboxTransport needs POSIX sockets: Glibc, Musl or Darwin")
#endif

/// Thin wrappers over the socket calls the transport uses, so the state machines read as logic rather than C.
package enum POSIX {
    #if canImport(Darwin)
    package static let streamType = SOCK_STREAM
    #else
    package static let streamType = Int32(SOCK_STREAM.rawValue)
    #endif

    /// The calling thread's `errno`, for files that do not import the C library themselves.
    package static var lastErrno: Int32 { errno }

    package static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        #if canImport(Darwin)
        return Darwin.connect(fd, address, length)
        #else
        return Glibc.connect(fd, address, length)
        #endif
    }

    package static var errnoText: String { String(cString: strerror(errno)) }

    /// Processors online (at least 1).
    package static var activeProcessorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    package static func text(for code: Int32) -> String { String(cString: strerror(code)) }

    /// Makes `fd` non-blocking and close-on-exec (child processes such as test servers must not inherit it).
    package static func prepare(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let fdFlags = fcntl(fd, F_GETFD, 0)
        _ = fcntl(fd, F_SETFD, fdFlags | FD_CLOEXEC)
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    /// Disables Nagle: request/response protocols pay 40 ms per exchange with it on.
    package static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// TCP keep-alive probes after 30 s of silence, every 10 s, 3 unanswered ones end the connection: a peer
    /// that vanished (power loss, a NAT that forgot us) then fails reads and writes within about a minute instead
    /// of the kernel's two hours. Application-level idle time-outs (AMQP heartbeats) usually notice first.
    package static func setKeepAlive(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
        #if canImport(Glibc) || canImport(Musl)
        var idle: Int32 = 30, interval: Int32 = 10, count: Int32 = 3
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    package static func setReuseAddress(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Makes the next `close` send RST instead of FIN: the abortive close.
    package static func setLingerZero(_ fd: Int32) {
        var value = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }

    package static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) != 0 { return errno }
        return code
    }

    /// `send` without SIGPIPE: a peer that went away must become an error, not kill the process.
    package static func send(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Darwin)
        return Darwin.send(fd, pointer, count, 0)
        #else
        return Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
        #endif
    }

    package static func receive(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        #if canImport(Darwin)
        return Darwin.recv(fd, pointer, count, 0)
        #else
        return Glibc.recv(fd, pointer, count, 0)
        #endif
    }

    package static func closeDescriptor(_ fd: Int32) {
        #if canImport(Darwin)
        _ = Darwin.close(fd)
        #else
        _ = Glibc.close(fd)
        #endif
    }

    package static func shutdownWrite(_ fd: Int32) {
        #if canImport(Darwin)
        _ = Darwin.shutdown(fd, Int32(SHUT_WR))
        #else
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        #endif
    }

    package static func isWouldBlock(_ code: Int32) -> Bool { code == EAGAIN || code == EWOULDBLOCK || code == EINTR }
}
