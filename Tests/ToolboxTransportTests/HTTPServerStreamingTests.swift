import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// `HTTPServerResponse.Body.stream`: pieces pulled one at a time, framed by Content-Length or chunked.
final class HTTPServerStreamingTests: XCTestCase {
    /// Hands out `pieces` in order and counts how many were pulled.
    private final class Pieces: Sendable {
        private let state: LockedValue<(pieces: [[UInt8]], pulled: Int)>
        init(_ pieces: [[UInt8]]) { state = LockedValue((pieces, 0)) }
        func next() -> [UInt8]? {
            state.withLockedValue { state in
                guard !state.pieces.isEmpty else { return nil }
                state.pulled += 1
                return state.pieces.removeFirst()
            }
        }
        var pulled: Int { state.load().pulled }
    }

    private func serve(_ make: @escaping @Sendable (String) -> HTTPServerResponse) throws -> HTTPServer {
        try HTTPServer { request, respond in respond(make(request.head.target)) }
    }

    func testContentLengthAndChunkedStreamsArriveWholeAndHEADPullsNothing() throws {
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 / 7) }
        let pieces = [Array(big[0..<(1 << 20)]), [], Array(big[(1 << 20)...])]
        let headPieces = Pieces(pieces)
        let server = try serve { target in
            switch target {
            case "/length":
                let source = Pieces(pieces)
                return HTTPServerResponse(status: 200, body: .stream(contentLength: big.count, next: { source.next() }))
            case "/head":
                return HTTPServerResponse(status: 200, body: .stream(contentLength: big.count, next: { headPieces.next() }))
            case "/tiny":
                // 50,000 pieces of 16 bytes: the socket takes each at once, which must not recurse per piece.
                let count = LockedValue(0)
                return HTTPServerResponse(status: 200, body: .stream(contentLength: 50_000 * 16, next: {
                    count.withLockedValue { sent in
                        guard sent < 50_000 else { return nil }
                        sent += 1
                        return [UInt8](repeating: UInt8(truncatingIfNeeded: sent), count: 16)
                    }
                }))
            case "/short":
                let source = Pieces([[1, 2, 3]])
                return HTTPServerResponse(status: 200, body: .stream(contentLength: 10, next: { source.next() }))
            default:
                let source = Pieces(pieces)
                return HTTPServerResponse(status: 200, body: .stream(contentLength: nil, next: { source.next() }))
            }
        }
        defer { server.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let base = "http://127.0.0.1:\(server.port)"

        let sized = try client.execute(try HTTPRequest(url: base + "/length"), timeout: .seconds(30))
        XCTAssertEqual(sized.headers.first(name: "Content-Length"), String(big.count))
        XCTAssertNil(sized.headers.first(name: "Transfer-Encoding"))
        XCTAssertEqual(sized.body, big)

        let chunked = try client.execute(try HTTPRequest(url: base + "/chunked"), timeout: .seconds(30))
        XCTAssertEqual(chunked.headers.first(name: "Transfer-Encoding"), "chunked")
        XCTAssertEqual(chunked.body, big)

        let head = try client.execute(try HTTPRequest(method: "HEAD", url: base + "/head"), timeout: .seconds(30))
        XCTAssertEqual(head.headers.first(name: "Content-Length"), String(big.count))
        XCTAssertEqual(headPieces.pulled, 0)

        // The same connection keeps working after streamed responses.
        XCTAssertEqual(try client.execute(try HTTPRequest(url: base + "/length"), timeout: .seconds(30)).body.count, big.count)

        let tiny = try client.execute(try HTTPRequest(url: base + "/tiny"), timeout: .seconds(60))
        XCTAssertEqual(tiny.body.count, 50_000 * 16)
        XCTAssertEqual(Array(tiny.body.suffix(16)), [UInt8](repeating: UInt8(truncatingIfNeeded: 50_000), count: 16))

        // A body shorter than its Content-Length cannot be framed: the connection is reset, never left hanging.
        XCTAssertThrowsError(try client.execute(try HTTPRequest(url: base + "/short"), timeout: .seconds(30)))
    }
}
