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
    /// Seconds to wait for one address's connect before also trying the next resolved address ("Happy
    /// Eyeballs", RFC 8305 §5: its recommended 250 ms). The first connection to succeed wins; the others are
    /// closed. An attempt that fails starts the next one at once. The connect deadline bounds all of them.
    public var attemptDelay: Double = 0.25

    /// Tests connect to these addresses instead of resolving the host.
    var addressesOverride: [SocketAddress]?

    public init(attemptDelay: Double = 0.25) {
        self.attemptDelay = attemptDelay
    }
}

/// Connects to the first of several addresses that answers, starting attempts `attemptDelay` apart, address
/// families interleaved (RFC 8305 in spirit). Lives on the connection's queue: every method, handler and
/// source below runs there, and the result is delivered there, exactly once, unless `cancel()` came first.
final class ConnectRace: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is touched only on `queue` (the connection's serial queue); the
    // sources' handlers are created with that queue and capture `self` weakly.

    private struct Attempt {
        let address: SocketAddress
        let fd: Int32
        let source: any DispatchSourceWrite
        /// Set for the winner, whose descriptor is handed over instead of closed.
        let keep: FDKeep
    }

    /// Whether an attempt's cancel handler must leave its descriptor open (the winner's).
    private final class FDKeep: @unchecked Sendable {
        // @unchecked Sendable: written before `cancel()` and read in the cancel handler, both on the queue.
        var keep = false
    }

    private let queue: DispatchQueue
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
         handler: @escaping (Result<(fd: Int32, address: SocketAddress), TransportError>) -> Void) {
        self.remaining = ConnectRace.interleaved(addresses)[...]
        self.peerDescription = peerDescription
        self.attemptDelay = max(0, attemptDelay)
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
            let keep = FDKeep()
            let source = DispatchSource.makeWriteSource(fileDescriptor: socketFD, queue: queue)
            source.setEventHandler { [weak self] in self?.attemptReady(id) }
            source.setCancelHandler { if !keep.keep { POSIX.closeDescriptor(socketFD) } }
            running[id] = Attempt(address: address, fd: socketFD, source: source, keep: keep)
            source.resume()
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
        attempt.source.cancel()   // closes the descriptor
        failures.append((attempt.address, code))
        // A failure does not wait for the delay: the next address starts now.
        delayTimer?.schedule(deadline: .distantFuture)
        startNext()
    }

    private func win(fd: Int32, address: SocketAddress, attemptID: Int?) {
        if let attemptID, let attempt = running.removeValue(forKey: attemptID) {
            attempt.keep.keep = true
            attempt.source.cancel()
        }
        let handler = self.handler
        self.handler = nil
        finish()
        handler?(.success((fd, address)))
    }

    private func allFailed() {
        let handler = self.handler
        self.handler = nil
        finish()
        handler?(.failure(error()))
    }

    /// Cancels the losers (closing their sockets) and the delay timer.
    private func finish() {
        for attempt in running.values { attempt.source.cancel() }
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
