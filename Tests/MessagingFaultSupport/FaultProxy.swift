#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#else
#error("FaultProxy needs POSIX sockets")
#endif
import Foundation
import ToolboxAMQP
import XCTest

/// A TCP proxy on 127.0.0.1 in front of a real peer (the emulator) whose faults a test switches on and off: refuse
/// new connections, reset the open ones, go silent (a half-open peer), stop reading what the client sends (a peer
/// whose receive buffer is full) while still talking, and drop chosen AMQP frames (a broker that never answers an
/// attach). Between faults it forwards bytes untouched, so the client recovers when the "peer" does.
///
/// ```swift
/// let proxy = try FaultProxy(upstreamPort: emulator.amqpPort)
/// proxy.mode = .silent          // connections stay open, nothing moves either way
/// proxy.mode = .forward         // bytes flow again (held bytes included)
/// proxy.resetAll()              // every open connection gets an RST
/// ```
///
/// Test support only: blocking sockets, a thread per direction per connection. `stop()` ends everything.
public final class FaultProxy: @unchecked Sendable {
    // @unchecked Sendable: `state` is guarded by `condition`'s lock; each pump thread owns its buffers; the
    // listening descriptor is only closed in `stop()` after the accept thread has left `accept`.

    /// What the proxy does with connections, new and open.
    public enum Mode: Sendable, Equatable {
        /// Forward bytes both ways.
        case forward
        /// Accept, then reset at once (the endpoint refuses connections).
        case refuse
        /// Keep connections open but deliver nothing either way (what arrives is discarded): a peer that vanished
        /// without closing (half-open). New connections are accepted and get nothing back (a TLS or AMQP handshake
        /// that never completes). A connection that went through a silence is reset when bytes flow again: the
        /// vanished peer does not come back on it.
        case silent
        /// Stop reading what clients send, but keep forwarding what the peer says (its heartbeats included): a
        /// peer that stopped reading, whose socket buffers fill up.
        case stopReadingClient
    }

    /// Which way a frame travels.
    public enum Direction: Sendable { case toPeer, toClient }

    /// Decides whether a frame is forwarded (true) or dropped. Frames on the link handle of a dropped attach
    /// (flow, transfer, detach) are dropped with it, so the client never learns the link exists.
    public typealias FrameFilter = @Sendable (Direction, AMQPFrame) -> Bool
    /// Replaces a forwarded frame (re-encoded only when the result differs): a peer that grants credit it was not
    /// given, say.
    public typealias FrameRewrite = @Sendable (Direction, AMQPFrame) -> AMQPFrame

    private struct State {
        var mode: Mode = .forward
        var filter: FrameFilter?
        var rewrite: FrameRewrite?
        var connections: [Int: Pipe] = [:]
        var nextID = 0
        var accepted = 0
        var stopped = false
        /// Bumped by `resetAll`: a connection accepted before a reset but registered after it is reset too.
        var resets = 0
    }

    /// The port clients dial.
    public let port: UInt16
    private let upstreamPort: UInt16
    private let listenFD: Int32
    private let condition = NSCondition()
    private var state = State()
    private let acceptDone = DispatchSemaphore(value: 0)

    /// Listens on a free loopback port and forwards to `127.0.0.1:upstreamPort`.
    public init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Self.streamType, 0)
        guard fd >= 0 else { throw FaultProxyError("socket failed: errno \(errno)") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw FaultProxyError("bind/listen failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listenFD = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "FaultProxy.accept"
        thread.start()
    }

    deinit { stop() }

    /// The current fault; changing it applies at once to open connections (bytes held while silent are sent on).
    public var mode: Mode {
        get { condition.withLock { state.mode } }
        set {
            let silenced: [Pipe] = condition.withLock {
                state.mode = newValue
                condition.broadcast()
                return newValue == .silent ? [] : state.connections.values.filter(\.silenced)
            }
            // The vanished peer does not come back on the connections it left hanging.
            for pipe in silenced { pipe.abort() }
        }
    }

    /// Frames for which this returns false are dropped (nil: forward everything).
    public var frameFilter: FrameFilter? {
        get { condition.withLock { state.filter } }
        set { condition.withLock { state.filter = newValue } }
    }

    /// Rewrites forwarded frames (nil: forward them as they are).
    public var frameRewrite: FrameRewrite? {
        get { condition.withLock { state.rewrite } }
        set { condition.withLock { state.rewrite = newValue } }
    }

    /// Connections accepted so far (refused ones included).
    public var acceptedCount: Int { condition.withLock { state.accepted } }

    /// Connections open now.
    public var openCount: Int { condition.withLock { state.connections.count } }

    /// Resets every open connection (RST to the client), as a peer that crashed would.
    public func resetAll() {
        let pipes = condition.withLock {
            state.resets += 1
            return Array(state.connections.values)
        }
        for pipe in pipes { pipe.abort() }
    }

    /// Closes the listener and every connection, and waits for the accept thread to leave.
    public func stop() {
        let pipes: [Pipe]? = condition.withLock {
            guard !state.stopped else { return nil }
            state.stopped = true
            condition.broadcast()
            return Array(state.connections.values)
        }
        guard let pipes else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        acceptDone.wait()
        close(listenFD)
        for pipe in pipes { pipe.abort() }
    }

    // MARK: - Accepting

    private func acceptLoop() {
        defer { acceptDone.signal() }
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let (mode, id, stopped, resets): (Mode, Int, Bool, Int) = condition.withLock {
                state.accepted += 1
                state.nextID += 1
                return (state.mode, state.nextID, state.stopped, state.resets)
            }
            if stopped || mode == .refuse {
                Self.resetAndClose(client)
                if stopped { return }
                continue
            }
            let upstream = socket(AF_INET, Self.streamType, 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = upstream >= 0 && withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
            guard connected else {
                if upstream >= 0 { close(upstream) }
                Self.resetAndClose(client)
                continue
            }
            let pipe = Pipe(id: id, client: client, upstream: upstream, proxy: self)
            // The mode may have turned to refuse, or every connection been reset, while this one connected
            // upstream: it must not outlive that (a send "through a refused endpoint" would go through it).
            let keep: Bool = condition.withLock {
                guard !state.stopped, state.mode != .refuse, state.resets == resets else { return false }
                state.connections[id] = pipe
                return true
            }
            if keep {
                pipe.start()
            } else {
                Self.resetAndClose(client)
                close(upstream)
            }
        }
    }

    fileprivate func pipeEnded(_ id: Int) {
        condition.withLock { _ = state.connections.removeValue(forKey: id) }
    }

    /// What a pump does next in `direction`.
    fileprivate enum Flow { case forward, discard, end }

    /// Blocks while `direction` is held (not read) by the mode; `.discard` while silent, `.end` once the pipe or
    /// the proxy is closing, or when bytes flow again on a pipe that went through a silence.
    fileprivate func flow(_ direction: Direction, pipe: Pipe) -> Flow {
        condition.withLock {
            while true {
                if state.stopped || pipe.isClosing { return .end }
                switch (state.mode, direction) {
                case (.silent, _):
                    pipe.silenced = true
                    return .discard
                case (.stopReadingClient, .toPeer): _ = condition.wait(until: Date().addingTimeInterval(0.05))
                default: return pipe.silenced ? .end : .forward
                }
            }
        }
    }

    fileprivate var currentFrameHooks: (FrameFilter?, FrameRewrite?) { condition.withLock { (state.filter, state.rewrite) } }

    fileprivate func wakeWaiters() { condition.withLock { condition.broadcast() } }

    // MARK: - Sockets

    #if canImport(Glibc)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    static let streamType = SOCK_STREAM
    #endif

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    fileprivate static func resetAndClose(_ fd: Int32) {
        var option = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }
}

/// One proxied connection: two pump threads; the descriptors are closed only after both threads have left them,
/// so a number is never reused while a thread might still use it.
private final class Pipe: @unchecked Sendable {
    // @unchecked Sendable: `closing` and `running` are guarded by `lock`; each pump thread owns its own parser state.
    let id: Int
    let client: Int32
    let upstream: Int32
    unowned let proxy: FaultProxy
    private let lock = NSLock()
    private var closing = false
    private var running = 2
    private var reset = false
    /// Set (under the proxy's lock) once the pipe went through a `.silent` period.
    var silenced = false

    init(id: Int, client: Int32, upstream: Int32, proxy: FaultProxy) {
        self.id = id
        self.client = client
        self.upstream = upstream
        self.proxy = proxy
    }

    var isClosing: Bool { lock.withLock { closing } }

    func start() {
        for direction in [FaultProxy.Direction.toPeer, .toClient] {
            let thread = Thread { [self] in
                pump(direction)
                finishOne()
            }
            thread.name = "FaultProxy.pipe\(id)"
            thread.start()
        }
    }

    /// Ends the connection with an RST to the client.
    func abort() {
        lock.withLock {
            closing = true
            reset = true
        }
        shutdown(client, Int32(SHUT_RDWR))
        shutdown(upstream, Int32(SHUT_RDWR))
        proxy.wakeWaiters()
    }

    private func closeBoth() {
        lock.withLock { closing = true }
        shutdown(client, Int32(SHUT_RDWR))
        shutdown(upstream, Int32(SHUT_RDWR))
        proxy.wakeWaiters()
    }

    private func finishOne() {
        let (last, reset): (Bool, Bool) = lock.withLock {
            running -= 1
            return (running == 0, self.reset)
        }
        guard last else { return closeBoth() }
        if reset { FaultProxy.resetAndClose(client) } else { close(client) }
        close(upstream)
        proxy.pipeEnded(id)
    }

    private func pump(_ direction: FaultProxy.Direction) {
        let (source, target) = direction == .toPeer ? (client, upstream) : (upstream, client)
        var splitter = FrameSplitter()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while proxy.flow(direction, pipe: self) != .end {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            // What was read while the mode changed to a held one waits until bytes flow again.
            switch proxy.flow(direction, pipe: self) {
            case .end: return
            case .discard: continue
            case .forward: break
            }
            var out = Array(buffer[0..<count])
            let (filter, rewrite) = proxy.currentFrameHooks
            if filter != nil || rewrite != nil {
                out = splitter.filter(out, direction: direction, filter ?? { _, _ in true }, rewrite: rewrite)
            }
            var sent = 0
            while sent < out.count {
                let n = out.withUnsafeBytes { send(target, $0.baseAddress! + sent, out.count - sent, Int32(MSG_NOSIGNAL)) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return }
                sent += n
            }
        }
    }
}

/// Splits a byte stream into protocol headers and frames so a `FrameFilter` can drop whole frames.
private struct FrameSplitter {
    private var pending: [UInt8] = []
    /// Link handles (per channel) whose attach was dropped: their later frames are dropped too.
    private var hidden: Set<UInt64> = []

    mutating func filter(_ bytes: [UInt8], direction: FaultProxy.Direction,
                         _ keep: FaultProxy.FrameFilter, rewrite: FaultProxy.FrameRewrite?) -> [UInt8] {
        pending += bytes
        var out: [UInt8] = []
        var start = 0
        while pending.count - start >= 8 {
            if pending[start] == 0x41, pending[start + 1] == 0x4D, pending[start + 2] == 0x51, pending[start + 3] == 0x50 {
                out += pending[start..<(start + 8)]  // "AMQP" protocol header
                start += 8
                continue
            }
            var size = 0
            for i in 0..<4 { size = size << 8 | Int(pending[start + i]) }
            guard size >= 8 else { out += pending[start...]; start = pending.count; break }
            guard pending.count - start >= size else { break }
            let frameBytes = Array(pending[start..<(start + size)])
            start += size
            var parser = AMQPFrameParser(maxFrameSize: UInt32.max)
            parser.append(frameBytes)
            guard let frame = try? parser.nextFrame() else { out += frameBytes; continue }
            guard forward(frame, direction: direction, keep) else { continue }
            if let rewritten = rewrite?(direction, frame), rewritten != frame {
                out += rewritten.encode()
            } else {
                out += frameBytes
            }
        }
        pending.removeFirst(start)
        return out
    }

    private mutating func forward(_ frame: AMQPFrame, direction: FaultProxy.Direction, _ keep: FaultProxy.FrameFilter) -> Bool {
        guard case .amqp(let channel, let performative, _) = frame else { return keep(direction, frame) }
        func key(_ handle: UInt32) -> UInt64 { UInt64(channel) << 32 | UInt64(handle) }
        switch performative {
        case .attach(let attach):
            if keep(direction, frame) { return true }
            hidden.insert(key(attach.handle))
            return false
        case .flow(let flow):
            if let handle = flow.handle, hidden.contains(key(handle)) { return false }
        case .transfer(let transfer):
            if hidden.contains(key(transfer.handle)) { return false }
        case .detach(let detach):
            if hidden.contains(key(detach.handle)) { return false }
        default:
            break
        }
        return keep(direction, frame)
    }
}

/// Why a `FaultProxy` could not start.
public struct FaultProxyError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A loopback port nothing listens on (bound, then closed).
public func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, FaultProxy.streamType, 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { throw FaultProxyError("no free port: errno \(errno)") }
    return UInt16(bigEndian: address.sin_port)
}

/// Runs `body`; a failure caused by the emulator padding frames past the client's max-frame-size (issue 13 item 1,
/// fixed on the `hardening-core` branch) skips the test with that reason instead of failing it, so the large-message
/// scenarios run for real as soon as that fix is merged. Any other failure is rethrown.
public func skippingKnownFramePaddingBug<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        if "\(error)".contains("exceeds max-frame-size") {
            throw XCTSkip("the emulator pads frames past the client's max-frame-size (issue 13 item 1): \(error)")
        }
        throw error
    }
}
