import Dispatch
import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// A server that answers before the request body is fully sent (`413`, `401`) and closes: the client returns
/// that answer, stops sending, and does not reuse the connection (as curl and Go's net/http do).
final class HTTPClientEarlyResponseTests: XCTestCase {
    static let fourMiB: [UInt8] = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let refusal = Array(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nWWW-Authenticate: SharedKey\r\n\r\nunauthorized".utf8)
    /// What a server that closes after refusing says (nginx adds `Connection: close` to its `413` too).
    static let refusalAndClose = Array(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nConnection: close\r\n\r\nunauthorized".utf8)

    /// Reads one request head, answers 401 without reading the body, then closes (`close`) or keeps draining.
    private func refusingServer(accepted: LockedValue<Int>, close mode: TCPConnection.CloseMode?) throws
        -> TCPListener
    {
        try TCPListener { connection in
            accepted.withLockedValue { $0 += 1 }
            readHead(connection, buffered: []) {
                connection.write(mode == nil ? Self.refusal : Self.refusalAndClose) { _ in
                    if let mode { connection.close(mode: mode) {} } else { drain(connection) }
                }
            }
        }
    }

    private func assertRefused(_ response: HTTPResponse, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, 401, file: file, line: line)
        XCTAssertEqual(response.body, Array("unauthorized".utf8), file: file, line: line)
    }

    /// 4 MiB in 64 KiB pieces, chunked when `length` is nil.
    private static func streamed(length: Int?) -> HTTPRequestBody {
        let offset = LockedValue(0)
        return .stream(contentLength: length) { deliver in
            let start = offset.withLockedValue { o -> Int in
                let s = o
                o += 64 << 10
                return s
            }
            if start >= fourMiB.count { return deliver(.success(nil)) }
            deliver(.success(Array(fourMiB[start..<min(start + (64 << 10), fourMiB.count)])))
        }
    }

    /// The server answers and closes with the upload unread (graceful: FIN, then the kernel's RST for the data
    /// that keeps coming; abortive: RST at once). Whether the client sees the answer first or its write fails
    /// first, the answer is what the caller gets.
    func testAnswerBeforeBodyIsReturnedWhenTheServerCloses() throws {
        for mode in [TCPConnection.CloseMode.graceful, .abortive] {
            let accepted = LockedValue(0)
            let listener = try refusingServer(accepted: accepted, close: mode)
            defer { listener.close() }
            let client = try HTTPClient()
            defer { try? client.shutdown() }
            let url = "http://127.0.0.1:\(listener.port)/upload"
            let bodies: [HTTPRequestBody] = [
                .bytes(Self.fourMiB), Self.streamed(length: Self.fourMiB.count), Self.streamed(length: nil),
            ]
            for body in bodies {
                assertRefused(try client.execute(try HTTPRequest(method: "PUT", url: url, body: body), timeout: .seconds(30)))
            }
            XCTAssertEqual(client.connectionsOpened, 3, "a connection whose upload was cut short is not reused")
            XCTAssertEqual(accepted.load(), 3)
        }
    }

    /// Deterministic early answer: the body stream stalls after its first piece, the server answers 401 after
    /// the head and keeps the connection open. The complete answer ends the exchange; the body is not pulled
    /// again, and the connection is closed rather than pooled.
    func testCompleteAnswerStopsTheUploadAndRetiresTheConnection() throws {
        let accepted = LockedValue(0)
        let listener = try refusingServer(accepted: accepted, close: nil)
        defer { listener.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let url = "http://127.0.0.1:\(listener.port)/upload"
        let pulls = LockedValue(0)
        let stalled = LockedValue<(@Sendable (Result<[UInt8]?, any Error>) -> Void)?>(nil)
        let body = HTTPRequestBody.stream(contentLength: 1 << 30) { deliver in
            if pulls.withLockedValue({ $0 += 1; return $0 }) == 1 {
                deliver(.success([UInt8](repeating: 1, count: 1024)))
            } else {
                stalled.withLockedValue { $0 = deliver }   // never delivered while the exchange runs
            }
        }
        assertRefused(try client.execute(try HTTPRequest(method: "PUT", url: url, body: body), timeout: .seconds(30)))
        // Late delivery after the exchange ended is ignored.
        stalled.load()?(.success([1, 2, 3]))
        XCTAssertLessThanOrEqual(pulls.load(), 2)
        let snapshot = try XCTUnwrap(client.poolSnapshots().values.first)
        XCTAssertEqual(snapshot.ready, 0, "the cut-short connection must not be pooled: \(snapshot)")
        // The next request gets a fresh connection, and a small request on it is reused normally.
        assertRefused(try client.execute(try HTTPRequest(url: url), timeout: .seconds(30)))
        XCTAssertEqual(client.connectionsOpened, 2)
        XCTAssertEqual(accepted.load(), 2)
    }

    /// A body stream that stalls before the server answers no longer outlives the request's deadline: the
    /// response read that runs beside the upload carries it.
    func testStalledBodyStreamEndsAtTheDeadline() throws {
        let listener = try TCPListener { connection in drain(connection) }
        defer { listener.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let held = LockedValue<[@Sendable (Result<[UInt8]?, any Error>) -> Void]>([])
        let body = HTTPRequestBody.stream(contentLength: nil) { deliver in held.withLockedValue { $0.append(deliver) } }
        expectTransportError(.timedOut) {
            _ = try client.execute(
                try HTTPRequest(method: "PUT", url: "http://127.0.0.1:\(listener.port)/", body: body), timeout: .seconds(0.5))
        }
        for deliver in held.load() { deliver(.success(nil)) }   // late: ignored
    }

    /// The reset arrives while the answer is still unread in the socket: a raw TCP client sends the head and a
    /// body the server never reads; the server answers and resets. The bytes read before the reset error are
    /// the answer.
    func testBytesReceivedBeforeAResetAreStillDelivered() throws {
        let listener = try TCPListener { connection in
            readHead(connection, buffered: []) {
                connection.write(Self.refusal) { _ in connection.close(mode: .abortive) {} }
            }
        }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        defer { try? connection.close(mode: .abortive) }
        try connection.write(Array("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n".utf8), timeout: .seconds(10))
        // Keep writing until the reset shows (EPIPE/ECONNRESET) or the body is sent.
        let writeResult: Result<Void, TransportError> = Result {
            try connection.write(Self.fourMiB, timeout: .seconds(30))
        }.mapError { $0 as? TransportError ?? TransportError(.invalidRequest, "\($0)") }
        if case .failure(let error) = writeResult {
            XCTAssertEqual(error.code, .connectionReset, "\(error)")
        }
        var received: [UInt8] = []
        while received.count < Self.refusal.count {
            do {
                let bytes = try connection.read(timeout: .seconds(30))
                if bytes.isEmpty { break }
                received += bytes
            } catch let error as TransportError {
                XCTAssertEqual(error.code, .connectionReset, "\(error)")
                break
            }
        }
        XCTAssertEqual(received, Self.refusal)
    }
}

/// Reads until the end of a request head (the body, if any, is left unread), then runs `then`.
private func readHead(_ connection: TCPConnection, buffered: [UInt8], then: @escaping @Sendable () -> Void) {
    let terminator: [UInt8] = [13, 10, 13, 10]
    if buffered.count >= 4, (0...(buffered.count - 4)).contains(where: { Array(buffered[$0..<($0 + 4)]) == terminator }) {
        return then()
    }
    connection.read { result in
        guard case .success(let bytes) = result, !bytes.isEmpty else { return connection.close(mode: .abortive) {} }
        readHead(connection, buffered: buffered + bytes, then: then)
    }
}

/// Reads and discards everything until the peer closes.
private func drain(_ connection: TCPConnection) {
    connection.read { result in
        guard case .success(let bytes) = result, !bytes.isEmpty else { return connection.close(mode: .abortive) {} }
        drain(connection)
    }
}
