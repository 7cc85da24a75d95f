#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import ToolboxCore

/// How `TCPConnection.connect` opens connections.
public struct TCPConnectOptions: Sendable {
    /// How long to wait for one address's connect before also trying the next resolved address ("Happy
    /// Eyeballs", RFC 8305 §5: its recommended 250 ms). The first connection to succeed wins; the others are
    /// closed. An attempt that fails starts the next one at once. The connect deadline bounds all of them.
    public var attemptDelay: Duration = .milliseconds(250)
    /// An HTTP proxy to tunnel through with `CONNECT` (TLS, if any, then runs inside the tunnel); nil connects
    /// directly, as does a host the proxy's `noProxy` matches.
    public var proxy: HTTPProxy?

    /// Tests connect to these addresses instead of resolving the host.
    var addressesOverride: [SocketAddress]?

    public init(attemptDelay: Duration = .milliseconds(250), proxy: HTTPProxy? = nil) {
        self.attemptDelay = attemptDelay
        self.proxy = proxy
    }
}

/// Connects to the first of several addresses that answers, starting attempts `attemptDelay` apart, address
/// families interleaved (RFC 8305 in spirit). Lives on the connection's queue: every method, handler and
/// report below runs there, and the result is delivered there, exactly once, unless `cancel()` came first.
///
/// Each pending connect is watched by the poller (Linux; see `SocketPoller` for why never by a Dispatch source
/// there), or elsewhere by a write source whose cancel handler closes the socket — and hands the winner's socket
/// over only once that source can no longer touch it.
final class ConnectRace: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is touched only on `queue` (the connection's serial queue); the
    // poller's reports and the sources' handlers run on that queue and capture `self` weakly.

    private struct Attempt {
        let address: SocketAddress
        let fd: Int32
        let watch: Watch
    }

    private enum Watch {
        /// The socket's registration in the poller.
        case poller(UInt64)
        /// The write source, and whether its cancel handler hands the socket over instead of closing it.
        case source(any DispatchSourceWrite, FDKeep)
    }

    /// What a source's cancel handler does with its descriptor: closes it, or (the winner's) hands it over.
    private final class FDKeep: @unchecked Sendable {
        // @unchecked Sendable: written before `cancel()` and read in the cancel handler, both on the queue.
        var handOver: (() -> Void)?
    }

    private let queue: DispatchQueue
    private let poller: SocketPoller?
    private let peerDescription: String
    private let attemptDelay: Double
    private var remaining: ArraySlice<SocketAddress>
    private var running: [Int: Attempt] = [:]
    private var nextID = 0
    /// Each address tried that failed, with why; for the error when none succeeds.
    private var failures: [(address: SocketAddress, code: Int32)] = []
    private var delayTimer: (any DispatchSourceTimer)?
    private var handler: ((Result<(fd: Int32, address: SocketAddress), TransportError>) -> Void)?

    init(addresses: [SocketAddress], peerDescription: String, attemptDelay: Double, queue: DispatchQueue,
         poller: SocketPoller?,
         handler: @escaping (Result<(fd: Int32, address: SocketAddress), TransportError>) -> Void) {
        self.remaining = ConnectRace.interleaved(addresses)[...]
        self.poller = poller
        self.peerDescription = peerDescription
        self.attemptDelay = min(max(0, attemptDelay), 3600)  // a negative or absurd delay: none, or an hour
        self.queue = queue
        self.handler = handler
    }

    /// Orders addresses so families alternate, starting with the family of the first (RFC 8305 §4).
    static func interleaved(_ addresses: [SocketAddress]) -> [SocketAddress] {
        guard let first = addresses.first else { return [] }
        var preferred = addresses.filter { $0.family == first.family }[...]
        var other = addresses.filter { $0.family != first.family }[...]
        var result: [SocketAddress] = []
        while !preferred.isEmpty || !other.isEmpty {
            if let next = preferred.popFirst() { result.append(next) }
            if let next = other.popFirst() { result.append(next) }
        }
        return result
    }

    func start() {
        dispatchPrecondition(condition: .onQueue(queue))
        startNext()
    }

    /// Stops every attempt and closes their sockets; the handler is not called.
    func cancel() {
        dispatchPrecondition(condition: .onQueue(queue))
        handler = nil
        finish()
    }

    /// What was tried so far and how it went, for a timeout's message.
    var summary: String {
        let tried = failures.map { "\($0.address) (\(POSIX.text(for: $0.code)))" }
            + running.values.sorted { $0.fd < $1.fd }.map { "\($0.address) (no answer yet)" }
        return tried.isEmpty ? "no address tried" : "tried " + tried.joined(separator: ", ")
    }

    // MARK: Attempts

    private func startNext() {
        while handler != nil, let address = remaining.popFirst() {
            let socketFD = socket(address.family, POSIX.streamType, 0)
            if socketFD < 0 {
                failures.append((address, errno))
                continue
            }
            POSIX.prepare(socketFD)
            POSIX.setNoDelay(socketFD)
            POSIX.setKeepAlive(socketFD)
            let rc = address.withSockAddr { POSIX.connect(socketFD, $0, $1) }
            let code = errno
            if rc == 0 {
                win(fd: socketFD, address: address, attemptID: nil)
                return
            }
            if code != EINPROGRESS {
                POSIX.closeDescriptor(socketFD)
                failures.append((address, code))
                continue
            }
            let id = nextID
            nextID += 1
            let watch: Watch
            if let poller {
                guard let token = poller.register(fd: socketFD, interest: .write, queue: queue, handler: {
                    [weak self] _, _ in self?.attemptReady(id)
                }) else {
                    let code = POSIX.lastErrno
                    POSIX.closeDescriptor(socketFD)
                    failures.append((address, code))
                    continue
                }
                watch = .poller(token)
            } else {
                let keep = FDKeep()
                let source = DispatchSource.makeWriteSource(fileDescriptor: socketFD, queue: queue)
                source.setEventHandler { [weak self] in self?.attemptReady(id) }
                source.setCancelHandler {
                    if let handOver = keep.handOver { handOver() } else { POSIX.closeDescriptor(socketFD) }
                }
                source.resume()
                watch = .source(source, keep)
            }
            running[id] = Attempt(address: address, fd: socketFD, watch: watch)
            if !remaining.isEmpty { armDelay() }
            return
        }
        if handler != nil, running.isEmpty { allFailed() }
    }

    /// Starts the next attempt after `attemptDelay` unless something finishes first.
    private func armDelay() {
        let timer = delayTimer ?? {
            let made = DispatchSource.makeTimerSource(queue: queue)
            made.setEventHandler { [weak self] in self?.startNext() }
            made.resume()
            delayTimer = made
            return made
        }()
        timer.schedule(deadline: .now() + attemptDelay)
    }

    private func attemptReady(_ id: Int) {
        guard handler != nil, let attempt = running[id] else { return }
        let code = POSIX.pendingError(attempt.fd)
        if code == 0 {
            win(fd: attempt.fd, address: attempt.address, attemptID: id)
            return
        }
        running[id] = nil
        stop(attempt)
        failures.append((attempt.address, code))
        // A failure does not wait for the delay: the next address starts now.
        delayTimer?.schedule(deadline: .distantFuture)
        startNext()
    }

    private func win(fd: Int32, address: SocketAddress, attemptID: Int?) {
        let handler = self.handler
        self.handler = nil
        let attempt = attemptID.flatMap { running.removeValue(forKey: $0) }
        finish()
        let deliver: () -> Void = { handler?(.success((fd, address))) }
        switch attempt?.watch {
        case .poller(let token)?:
            poller?.unregister(fd: fd, token: token)
            deliver()
        case .source(let source, let keep)?:
            // The new owner may watch the socket only once this source no longer can.
            keep.handOver = deliver
            source.cancel()
        case nil:
            deliver()
        }
    }

    private func allFailed() {
        let handler = self.handler
        self.handler = nil
        finish()
        handler?(.failure(error()))
    }

    /// Stops watching a losing attempt and closes its socket (with a source: from its cancel handler).
    private func stop(_ attempt: Attempt) {
        switch attempt.watch {
        case .poller(let token):
            poller?.unregister(fd: attempt.fd, token: token)
            POSIX.closeDescriptor(attempt.fd)
        case .source(let source, _):
            source.cancel()
        }
    }

    /// Stops the losers (closing their sockets) and the delay timer.
    private func finish() {
        for attempt in running.values { stop(attempt) }
        running = [:]
        remaining = []
        delayTimer?.cancel()
        delayTimer = nil
    }

    /// The error when every address failed: names each address and why (no secrets: addresses and errno text).
    private func error() -> TransportError {
        guard !failures.isEmpty else {
            return TransportError(.connectFailed, "no address to connect to for \(peerDescription)")
        }
        let allRefused = failures.allSatisfy { $0.code == ECONNREFUSED }
        let lastCode = failures[failures.count - 1].code
        if failures.count == 1 {
            let (address, code) = failures[0]
            if code == ECONNREFUSED {
                return TransportError(
                    .connectionRefused,
                    "nothing is listening on \(peerDescription) (\(address)); check the host and port", errno: code)
            }
            if code == ECONNRESET {
                return TransportError(
                    .connectionReset, "\(peerDescription) (\(address)) reset the connection as it opened", errno: code)
            }
            return TransportError(
                .connectFailed, "could not connect to \(peerDescription) (\(address)): \(POSIX.text(for: code))",
                errno: code)
        }
        let tried = failures.map { "\($0.address) (\(POSIX.text(for: $0.code)))" }.joined(separator: ", ")
        return TransportError(
            allRefused ? .connectionRefused : .connectFailed,
            "could not connect to \(peerDescription) at any of its \(failures.count) addresses: tried \(tried)"
                + (allRefused ? "; check the host and port" : ""),
            errno: lastCode)
    }
}
