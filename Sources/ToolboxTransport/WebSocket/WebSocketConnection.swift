import Dispatch
import ToolboxCore

/// A WebSocket (RFC 6455) over a `TCPConnection`, used as a byte stream: what is written goes out in binary
/// frames, and the payloads of the peer's binary frames (fragmented or not) are read back in order. This is how
/// AMQP runs over WebSockets (`AMQPWSB10`): frame boundaries carry no meaning.
///
/// ```swift
/// WebSocketConnection.connect(host: "myns.servicebus.windows.net", port: 443, path: "/$servicebus/websocket",
///                             tls: tls, subprotocols: ["AMQPWSB10"], deadline: .after(seconds: 30)) { result in
///     guard case .success(let socket) = result else { return }
///     socket.write(bytes, deadline: .never, queue: q) { _ in }
/// }
/// ```
///
/// The connection answers pings with pongs, runs the close handshake (its own close waits for the peer's close
/// frame, at most `closeTimeout`), masks every frame it sends as a client and insists on masked frames as a
/// server, and enforces `WebSocketLimits` on what it receives. A protocol violation by the peer sends close code
/// 1002 (1009 for a frame over the limit) and fails reads with the `ToolboxError` that names it; a peer's close
/// with a code other than 1000/1001 fails reads with `.webSocketClosed` carrying the code and reason.
public final class WebSocketConnection: ByteStream, @unchecked Sendable {
    // @unchecked Sendable: every mutable property is touched only on `queue` (the TCP connection's own serial
    // queue), where the TCP completions it asks for are delivered; the public methods hop there first.

    public enum Role: Sendable { case client, server }

    /// The TCP (or TLS) connection underneath.
    public let tcp: TCPConnection
    public let role: Role
    /// The subprotocol both sides agreed on (`AMQPWSB10` for AMQP), if any.
    public let subprotocol: String?
    /// Largest payload of one frame this side sends; larger writes go out as a fragmented message. Default 1 MiB.
    public let maxOutgoingFrame: Int
    /// How long a graceful close waits for the peer's close frame before closing TCP anyway.
    public var closeTimeout: Duration = .seconds(5)
    public var queue: DispatchQueue { tcp.queue }
    public var peerDescription: String { tcp.peerDescription }

    private var decoder: WebSocketFrameDecoder
    private var inbound: [UInt8] = []
    private var inboundStart = 0
    private var pendingRead: (maxBytes: Int, handler: (Result<[UInt8], TransportError>) -> Void)?
    private var readTimer: DispatchWorkItem?
    private var failure: TransportError?
    /// The peer's close frame arrived (or its TCP stream ended).
    private var peerClosed = false
    private var sentClose = false
    private var tcpClosed = false
    private var reading = false
    private var closeHandlers: [@Sendable () -> Void] = []
    /// Unread payload held before the connection stops reading from TCP (back-pressure, as TCPConnection does).
    static let inboundLimit = 1 << 20

    init(tcp: TCPConnection, role: Role, subprotocol: String?, limits: WebSocketLimits, maxOutgoingFrame: Int,
         leftover: [UInt8]) {
        self.tcp = tcp
        self.role = role
        self.subprotocol = subprotocol
        self.maxOutgoingFrame = max(125, maxOutgoingFrame)
        self.decoder = WebSocketFrameDecoder(expectMasked: role == .server, limits: limits)
        if !leftover.isEmpty { decoder.feed(leftover) }
    }

    /// Starts taking frames off the socket (on `queue`); frames that arrived with the handshake are handled first.
    func begin() {
        queue.async { self.process([]) }
    }

    // MARK: ByteStream

    public func read(maxBytes: Int, deadline: Deadline, queue callbackQueue: DispatchQueue,
                     completion: @escaping @Sendable (Result<[UInt8], TransportError>) -> Void) {
        queue.async {
            guard self.pendingRead == nil else {
                callbackQueue.async { completion(.failure(TransportError(
                    .invalidRequest, "a read on \(self.peerDescription) is already pending"))) }
                return
            }
            self.pendingRead = (max(1, maxBytes), { result in callbackQueue.async { completion(result) } })
            if deadline != .never {
                let timer = DispatchWorkItem { [weak self] in
                    guard let self, let read = self.pendingRead else { return }
                    self.pendingRead = nil
                    read.handler(.failure(TransportError(.timedOut, "no data from \(self.peerDescription) before the read deadline")))
                }
                self.readTimer = timer
                self.queue.asyncAfter(deadline: .now() + max(0, deadline.secondsRemaining), execute: timer)
            }
            self.completePendingRead()
            self.readMore()
        }
    }

    public func write(_ bytes: [UInt8], deadline: Deadline, queue callbackQueue: DispatchQueue,
                      completion: @escaping @Sendable (Result<Void, TransportError>) -> Void) {
        queue.async {
            self.writeNow(bytes, deadline: deadline) { error in
                callbackQueue.async { completion(error.map { .failure($0) } ?? .success(())) }
            }
        }
    }

    /// Sends `bytes` as one binary message (fragmented past `maxOutgoingFrame`) from code running on `queue`.
    public func writeNow(_ bytes: [UInt8], deadline: Deadline, completion: @escaping (TransportError?) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        if let failure { return completion(failure) }
        guard !sentClose, !tcpClosed else {
            return completion(TransportError(.closedLocally, "cannot write to \(peerDescription): the WebSocket is closed"))
        }
        var encoded: [UInt8] = []
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + maxOutgoingFrame)
            let frame = WebSocketFrame(fin: end == bytes.count, opcode: offset == 0 ? .binary : .continuation,
                                       payload: Array(bytes[offset..<end]))
            encoded += encode(frame)
            offset = end
        } while offset < bytes.count
        tcp.writeNow(encoded, deadline: deadline, completion: completion)
    }

    public func close(mode: TCPConnection.CloseMode, queue callbackQueue: DispatchQueue,
                      completion: @escaping @Sendable () -> Void) {
        queue.async {
            let done: @Sendable () -> Void = { callbackQueue.async { completion() } }
            if self.tcpClosed { return done() }
            self.closeHandlers.append(done)
            guard mode == .graceful, self.failure == nil else { return self.closeTCP(.abortive) }
            self.sendClose(code: 1000, reason: "")
            if self.peerClosed { return self.closeTCP(.graceful) }
            self.queue.asyncAfter(deadline: Deadline.after(self.closeTimeout).instant.dispatchTime) { [weak self] in self?.closeTCP(.abortive) }
            self.readMore()
        }
    }

    // MARK: Frames in

    private func readMore() {
        guard !reading, !peerClosed, !tcpClosed, failure == nil, inbound.count - inboundStart < Self.inboundLimit else { return }
        reading = true
        tcp.read(maxBytes: 256 * 1024, deadline: .never, queue: queue) { [self] result in
            reading = false
            switch result {
            case .success(let bytes) where bytes.isEmpty:
                peerClosed = true
                if !sentClose {
                    fail(TransportError(.connectionReset,
                                        "\(peerDescription) closed the TCP connection without a WebSocket close frame"))
                } else {
                    closeTCP(.graceful)
                    completePendingRead()
                }
            case .success(let bytes):
                process(bytes)
            case .failure(let error):
                peerClosed = true
                fail(error)
            }
        }
    }

    private func process(_ bytes: [UInt8]) {
        decoder.feed(bytes)
        do {
            while failure == nil, !peerClosed, let frame = try decoder.next() {
                try handle(frame)
            }
        } catch {
            sendClose(code: error.code == .webSocketFrameTooLarge ? 1009 : 1002, reason: "")
            fail(error)
            return
        }
        completePendingRead()
        readMore()
    }

    private func handle(_ frame: WebSocketFrame) throws(ToolboxError) {
        switch frame.opcode {
        case .binary, .continuation:
            inbound.append(contentsOf: frame.payload)
        case .text:
            throw WebSocketFrameDecoder.violation("a text frame arrived on a binary byte stream")
        case .ping:
            if !sentClose { send(WebSocketFrame(opcode: .pong, payload: frame.payload)) }
        case .pong:
            break
        case .close:
            try peerSentClose(frame.payload)
        default:
            throw WebSocketFrameDecoder.violation("unknown opcode \(frame.opcode.rawValue)")
        }
    }

    private func peerSentClose(_ payload: [UInt8]) throws(ToolboxError) {
        var code: UInt16 = 1005
        var reason = ""
        if payload.count == 1 { throw WebSocketFrameDecoder.violation("a close frame carries a 1-byte payload") }
        if payload.count >= 2 {
            code = UInt16(payload[0]) << 8 | UInt16(payload[1])
            guard let text = String(validating: payload[2...], as: UTF8.self) else {
                throw WebSocketFrameDecoder.violation("a close frame's reason is not valid UTF-8")
            }
            reason = text
            let valid = (1000...1003).contains(code) || (1007...1014).contains(code) || (3000...4999).contains(code)
            guard valid else { throw WebSocketFrameDecoder.violation("a close frame carries invalid status code \(code)") }
        }
        peerClosed = true
        // Echo the status code (§5.5.1), then end TCP: a server closes first (§7.1.1); a client may too.
        sendClose(code: code == 1005 ? 1000 : code, reason: "")
        if code != 1000, code != 1001, code != 1005 {
            let printable = String(reason.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(123))
            failure = TransportError(.webSocketClosed,
                                     "\(peerDescription) closed the WebSocket with code \(code)\(printable.isEmpty ? "" : ": \(printable)")")
        }
        closeTCP(.graceful)
        completePendingRead()
    }

    // MARK: Frames out

    private func encode(_ frame: WebSocketFrame) -> [UInt8] {
        frame.encoded(maskingKey: role == .client ? WebSocketHandshake.randomBytes(4) : nil)
    }

    private func send(_ frame: WebSocketFrame) {
        guard !tcpClosed else { return }
        tcp.writeNow(encode(frame), deadline: .after(seconds: 30)) { _ in }
    }

    private func sendClose(code: UInt16, reason: String) {
        guard !sentClose else { return }
        sentClose = true
        send(WebSocketFrame(opcode: .close, payload: WebSocketFrame.closePayload(code: code, reason: reason)))
    }

    // MARK: Ending

    private func fail(_ error: TransportError) {
        if failure == nil { failure = error }
        closeTCP(.graceful)
        completePendingRead()
    }

    private func closeTCP(_ mode: TCPConnection.CloseMode) {
        guard !tcpClosed else { return }
        tcpClosed = true
        let handlers = closeHandlers
        closeHandlers = []
        tcp.close(mode: mode, queue: queue) { for handler in handlers { handler() } }
    }

    private func completePendingRead() {
        guard let read = pendingRead else { return }
        let result: Result<[UInt8], TransportError>
        let available = inbound.count - inboundStart
        if available > 0 {
            let end = inboundStart + min(available, read.maxBytes)
            result = .success(Array(inbound[inboundStart..<end]))
            inboundStart = end
            if inboundStart == inbound.count {
                inbound.removeAll(keepingCapacity: inbound.capacity <= 1 << 20)
                inboundStart = 0
            }
        } else if let failure {
            result = .failure(failure)
        } else if peerClosed {
            result = .success([])
        } else if tcpClosed {
            result = .failure(TransportError(.closedLocally, "the WebSocket to \(peerDescription) was closed"))
        } else {
            return
        }
        pendingRead = nil
        readTimer?.cancel()
        readTimer = nil
        read.handler(result)
    }
}
