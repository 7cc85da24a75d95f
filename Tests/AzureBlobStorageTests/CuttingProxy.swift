import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP proxy that forwards to an upstream port and, on the first connection whose response passes
/// `cutAfterResponseBytes`, forwards only that many bytes and then resets both sides: a connection dropped in
/// the middle of a response body. Later connections pass through untouched.
final class CuttingProxy: @unchecked Sendable {
    // @unchecked Sendable: `cutCount`, `stopped` and `sockets` are guarded by `lock`.
    private let lock = NSLock()
    private var cutCount = 0
    private var stopped = false
    private var sockets: [Int32] = []
    private let listener: Int32
    let port: UInt16
    private let upstreamPort: UInt16
    private let cutAfter: Int

    init(upstreamPort: UInt16, cutAfterResponseBytes: Int) throws {
        self.upstreamPort = upstreamPort
        self.cutAfter = cutAfterResponseBytes
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var cuts: Int { lock.withLock { cutCount } }

    func stop() {
        let all: [Int32] = lock.withLock {
            stopped = true
            return sockets
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in all { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = upstreamPort.bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            let ok: Bool = lock.withLock {
                sockets += [client, upstream]
                return !stopped && connected == 0
            }
            guard ok else {
                close(client)
                close(upstream)
                continue
            }
            Thread { [self] in pump(from: client, to: upstream, cutting: false) }.start()
            Thread { [self] in pump(from: upstream, to: client, cutting: true) }.start()
        }
    }

    /// Copies bytes one way; the response direction of the first long response stops at `cutAfter` and resets.
    private func pump(from source: Int32, to destination: Int32, cutting: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        var forwarded = 0
        var cutThis = cutting && lock.withLock { cutCount == 0 }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            var slice = count
            if cutThis, forwarded + count >= cutAfter {
                let claimed: Bool = lock.withLock {
                    if cutCount > 0 { return false }
                    cutCount += 1
                    return true
                }
                if claimed {
                    slice = cutAfter - forwarded
                    _ = buffer.withUnsafeBytes { write(destination, $0.baseAddress, slice) }
                    // shutdown, not close: the other direction's thread may be blocked reading this socket, and a
                    // close would not wake it (nor reach the peer) until that read returned.
                    shutdown(destination, Int32(SHUT_RDWR))
                    shutdown(source, Int32(SHUT_RDWR))
                    return
                }
                cutThis = false
            }
            forwarded += slice
            let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress, slice) }
            if written <= 0 { break }
        }
        shutdown(destination, Int32(SHUT_WR))
    }
}
