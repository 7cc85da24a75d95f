import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Blocks the test thread until a callback-style operation completes.
func awaitResult<T: Sendable>(timeout: Double = 20, _ start: (@escaping @Sendable (Result<T, TransportError>) -> Void) -> Void)
    throws -> T
{
    let box = LockedValue<Result<T, TransportError>?>(nil)
    let done = DispatchSemaphore(value: 0)
    start { result in
        box.withLockedValue { $0 = result }
        done.signal()
    }
    guard done.wait(timeout: .now() + timeout) == .success, let result = box.load() else {
        throw TestSetupError("no completion within \(timeout) s")
    }
    return try result.get()
}

/// Hands the connections a listener accepts to the test thread.
final class AcceptedConnections: Sendable {
    private let connections = LockedValue<[TCPConnection]>([])
    private let arrived = DispatchSemaphore(value: 0)

    func add(_ connection: TCPConnection) {
        connections.withLockedValue { $0.append(connection) }
        arrived.signal()
    }

    func next(timeout: Double = 20) throws -> TCPConnection {
        guard arrived.wait(timeout: .now() + timeout) == .success else { throw TestSetupError("nothing was accepted") }
        return connections.withLockedValue { $0.removeFirst() }
    }
}

extension WebSocketConnection {
    /// Echoes every byte back until the peer closes.
    func echoForever() {
        read(maxBytes: 1 << 20, deadline: .never, queue: queue) { result in
            guard case .success(let bytes) = result, !bytes.isEmpty else {
                self.close(mode: .graceful, queue: self.queue) {}
                return
            }
            self.write(bytes, deadline: .never, queue: self.queue) { _ in self.echoForever() }
        }
    }

    func readExactly(_ count: Int) throws -> [UInt8] {
        var collected: [UInt8] = []
        while collected.count < count {
            let bytes: [UInt8] = try awaitResult { read(maxBytes: 1 << 20, deadline: .after(seconds: 20), queue: .global(), completion: $0) }
            if bytes.isEmpty { break }
            collected += bytes
        }
        return collected
    }
}

/// WebSocket client and server over loopback TCP and TLS, and against hand-written peers that misbehave.
final class WebSocketConnectionTests: XCTestCase {
    private func echoServer(tls: TLSContext?) throws -> TCPListener {
        try TCPListener(tls: tls) { tcp in
            WebSocketConnection.accept(tcp, subprotocol: "AMQPWSB10", path: "/$servicebus/websocket",
                                       deadline: .after(seconds: 10)) { result in
                if case .success(let socket) = result { socket.echoForever() }
            }
        }
    }

    private func connect(port: UInt16, tls: TLSContext? = nil, host: String = "127.0.0.1", subprotocols: [String] = ["AMQPWSB10"],
                         maxOutgoingFrame: Int = 1 << 20, options: TCPConnectOptions = TCPConnectOptions()) throws
        -> WebSocketConnection
    {
        try awaitResult {
            WebSocketConnection.connect(host: host, port: port, path: "/$servicebus/websocket", tls: tls,
                                        subprotocols: subprotocols, maxOutgoingFrame: maxOutgoingFrame,
                                        deadline: .after(seconds: 10), options: options, completion: $0)
        }
    }

    func testEchoesLargeFragmentedWritesOverPlainAndTLS() throws {
        let pki = try TestPKI.get()
        for tls in [nil, try pki.serverContext()] {
            let listener = try echoServer(tls: tls)
            defer { listener.close() }
            let client = try connect(port: listener.port, tls: tls == nil ? nil : try pki.clientContext(),
                                     maxOutgoingFrame: 1000)
            XCTAssertEqual(client.subprotocol, "AMQPWSB10")
            let payload = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let _: Void = try awaitResult { client.write(payload, deadline: .after(seconds: 20), queue: .global(), completion: $0) }
            XCTAssertEqual(try client.readExactly(payload.count), payload)
            let _: Void = try awaitResult { done in client.close(mode: .graceful, queue: .global()) { done(.success(())) } }
        }
    }

    /// A hand-written server: answers the upgrade itself, then speaks raw frames.
    private func rawServer() throws -> (TCPListener, AcceptedConnections) {
        let accepted = AcceptedConnections()
        return (try TCPListener { accepted.add($0) }, accepted)
    }

    private func completeUpgrade(_ tcp: TCPConnection, status: String = "101 Switching Protocols",
                                 extraHeaders: String = "", protocolHeader: String = "AMQPWSB10") throws {
        var request: [UInt8] = []
        while try HTTPHead.parse(request, limit: 16384, peer: "client") == nil { request += try tcp.read(timeout: .seconds(10)) }
        let head = try XCTUnwrap(try HTTPHead.parse(request, limit: 16384, peer: "client")).0
        let accept = WebSocketHandshake.acceptValue(forKey: head.header("Sec-WebSocket-Key") ?? "")
        let answer = "HTTP/1.1 \(status)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n"
            + "Sec-WebSocket-Protocol: \(protocolHeader)\r\n\(extraHeaders)\r\n"
        try tcp.write(Array(answer.utf8), timeout: .seconds(10))
    }

    private func readFrame(_ tcp: TCPConnection, expectMasked: Bool = true) throws -> WebSocketFrame {
        var decoder = WebSocketFrameDecoder(expectMasked: expectMasked)
        while true {
            if let frame = try decoder.next() { return frame }
            let bytes = try tcp.read(timeout: .seconds(10))
            if bytes.isEmpty { throw TestSetupError("the client closed before sending a frame") }
            decoder.feed(bytes)
        }
    }

    func testAnswersPingsAndReportsTheServersCloseCode() throws {
        let (listener, accepted) = try rawServer()
        defer { listener.close() }
        let pending = LockedValue<WebSocketConnection?>(nil)
        let connected = DispatchSemaphore(value: 0)
        WebSocketConnection.connect(host: "127.0.0.1", port: listener.port, path: "/p", subprotocols: ["AMQPWSB10"],
                                    deadline: .after(seconds: 10)) { result in
            pending.withLockedValue { $0 = try? result.get() }
            connected.signal()
        }
        let tcp = try accepted.next()
        try completeUpgrade(tcp)
        XCTAssertEqual(connected.wait(timeout: .now() + 10), .success)
        let client = try XCTUnwrap(pending.load())
        try tcp.write(WebSocketFrame(opcode: .ping, payload: Array("are you there".utf8)).encoded(), timeout: .seconds(10))
        let pong = try readFrame(tcp)
        XCTAssertEqual(pong.opcode, .pong)
        XCTAssertEqual(pong.payload, Array("are you there".utf8))
        // Data, then a close with an application code: the data is read, then the close surfaces as an error.
        try tcp.write(WebSocketFrame(opcode: .binary, payload: [1, 2, 3]).encoded()
            + WebSocketFrame(opcode: .close, payload: WebSocketFrame.closePayload(code: 4000, reason: "going")).encoded(),
                      timeout: .seconds(10))
        XCTAssertEqual(try client.readExactly(3), [1, 2, 3])
        XCTAssertThrowsError(try client.readExactly(1)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .webSocketClosed)
            XCTAssertTrue("\(error)".contains("4000") && "\(error)".contains("going"), "\(error)")
        }
        let echoed = try readFrame(tcp)
        XCTAssertEqual(echoed.opcode, .close)
        XCTAssertEqual(Array(echoed.payload.prefix(2)), [0x0F, 0xA0])  // 4000 echoed back
    }

    func testMaskedServerFrameFailsTheClientWithCode1002() throws {
        let (listener, accepted) = try rawServer()
        defer { listener.close() }
        let pending = LockedValue<WebSocketConnection?>(nil)
        let connected = DispatchSemaphore(value: 0)
        WebSocketConnection.connect(host: "127.0.0.1", port: listener.port, path: "/p", subprotocols: ["AMQPWSB10"],
                                    deadline: .after(seconds: 10)) { result in
            pending.withLockedValue { $0 = try? result.get() }
            connected.signal()
        }
        let tcp = try accepted.next()
        try completeUpgrade(tcp)
        XCTAssertEqual(connected.wait(timeout: .now() + 10), .success)
        let client = try XCTUnwrap(pending.load())
        try tcp.write(WebSocketFrame(opcode: .binary, payload: [9]).encoded(maskingKey: [1, 2, 3, 4]), timeout: .seconds(10))
        XCTAssertThrowsError(try client.readExactly(1)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .webSocketProtocolError)
        }
        let close = try readFrame(tcp)
        XCTAssertEqual(close.opcode, .close)
        XCTAssertEqual(Array(close.payload.prefix(2)), [0x03, 0xEA])  // 1002 protocol error
    }

    func testRefusedUpgradeCarriesStatusAndHeaders() throws {
        let (listener, accepted) = try rawServer()
        defer { listener.close() }
        let outcome = LockedValue<TransportError?>(nil)
        let done = DispatchSemaphore(value: 0)
        WebSocketConnection.connect(host: "127.0.0.1", port: listener.port, path: "/p", subprotocols: ["AMQPWSB10"],
                                    deadline: .after(seconds: 10)) { result in
            if case .failure(let error) = result { outcome.withLockedValue { $0 = error } }
            done.signal()
        }
        let tcp = try accepted.next()
        try completeUpgrade(tcp, status: "403 Forbidden", extraHeaders: "X-Why: not on this port\r\n")
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        let error = try XCTUnwrap(outcome.load())
        XCTAssertEqual(error.code, .webSocketUpgradeRefused)
        let refusal = try XCTUnwrap(error.first(HTTPRefusal.self))
        XCTAssertEqual(refusal.status, 403)
        XCTAssertEqual(refusal.reason, "Forbidden")
        XCTAssertEqual(refusal.header("x-why"), "not on this port")
        XCTAssertTrue(error.message.contains("403"), error.message)
    }

    func testWrongSubprotocolOrAcceptKeyIsRefused() throws {
        for (protocolHeader, expected) in [("mqtt", "did not choose"), ("AMQPWSB10", "")] {
            let (listener, accepted) = try rawServer()
            defer { listener.close() }
            let outcome = LockedValue<Result<WebSocketConnection, TransportError>?>(nil)
            let done = DispatchSemaphore(value: 0)
            WebSocketConnection.connect(host: "127.0.0.1", port: listener.port, path: "/p", subprotocols: ["AMQPWSB10"],
                                        deadline: .after(seconds: 10)) { result in
                outcome.withLockedValue { $0 = result }
                done.signal()
            }
            let tcp = try accepted.next()
            if expected.isEmpty {
                // A 101 whose accept key was not computed from our key.
                _ = try tcp.read(timeout: .seconds(10))
                try tcp.write(Array(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: AMQPWSB10\r\n\r\n").utf8),
                              timeout: .seconds(10))
            } else {
                try completeUpgrade(tcp, protocolHeader: protocolHeader)
            }
            XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
            guard case .failure(let error) = try XCTUnwrap(outcome.load()) else { return XCTFail("the upgrade succeeded") }
            XCTAssertEqual(error.code, .webSocketUpgradeRefused)
            XCTAssertTrue(error.message.contains(expected.isEmpty ? "Sec-WebSocket-Accept" : expected), error.message)
        }
    }

    func testOurServerRefusesAClientWithoutTheSubprotocol() throws {
        let listener = try echoServer(tls: nil)
        defer { listener.close() }
        XCTAssertThrowsError(try connect(port: listener.port, subprotocols: ["chat"])) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .webSocketUpgradeRefused)
            XCTAssertEqual(error?.first(HTTPRefusal.self)?.status, 400)
        }
    }
}
