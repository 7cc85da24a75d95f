import Dispatch
import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// `HTTPServer(handlesOnConnectionQueue: true)`: the handler runs on the connection's queue; answers given at
/// once or later are both sent, in order, once each, however many requests are pipelined.
final class HTTPServerInlineTests: XCTestCase {
    /// Sends `requests` in one write and reads until `count` responses are parsed: their status and body text.
    private static func exchange(port: UInt16, _ requests: String, count: Int) throws -> [(Int, String)] {
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(10))
        defer { try? connection.close() }
        try connection.write(Array(requests.utf8), timeout: .seconds(10))
        var parser = HTTPParser(parsing: .responses)
        var responses: [(Int, String)] = []
        var status = 0
        var body: [UInt8] = []
        while responses.count < count {
            let bytes = try connection.read(maxBytes: 65536, timeout: .seconds(20))
            if bytes.isEmpty { break }
            for event in try parser.feed(bytes) {
                switch event {
                case .responseHead(let head):
                    status = head.status
                    body = []
                case .body(let piece):
                    body += piece
                case .end:
                    responses.append((status, String(decoding: body, as: UTF8.self)))
                case .requestHead:
                    XCTFail("a request head in a response stream")
                }
            }
        }
        return responses
    }

    private static func post(_ path: String, _ body: String) -> String {
        "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    func testTheHandlerRunsOnTheConnectionsQueueAndAnswersAtOnce() throws {
        let labels = LockedValue<[String]>([])
        let server = try HTTPServer(handlesOnConnectionQueue: true) { request, respond in
            labels.withLockedValue { $0.append(LibraryQueues.currentLibraryQueueLabel ?? "none") }
            respond(HTTPServerResponse(status: 200, text: "echo " + String(decoding: request.body, as: UTF8.self)))
        }
        defer { server.close() }
        let responses = try Self.exchange(port: server.port, Self.post("/a", "one") + Self.post("/b", "two"), count: 2)
        XCTAssertEqual(responses.map(\.0), [200, 200])
        XCTAssertEqual(responses.map(\.1), ["echo one", "echo two"])
        XCTAssertEqual(labels.load().count, 2)
        XCTAssertTrue(labels.load().allSatisfy { $0.hasPrefix("ToolboxTransport.accepted") }, "\(labels.load())")
    }

    /// With event loops, a connection's requests are read and handled by its loop's poller thread itself (the
    /// connection's queue runs there while idle): one thread for the requests of a loop, with no hop. Dispatch may
    /// still run a turn on a worker when the queue was draining as a report came (seen once in CI), so the test
    /// asks that the poller thread handled most of them, not every one.
    func testWithEventLoopsTheLoopsPollerThreadHandlesTheRequests() throws {
        let threads = LockedValue<[UInt: Int]>([:])
        let labels = LockedValue<Set<String>>([])
        let server = try HTTPServer(handlesOnConnectionQueue: true, eventLoops: 1) { request, respond in
            threads.withLockedValue { $0[UInt(pthread_self()), default: 0] += 1 }
            labels.withLockedValue { _ = $0.insert(LibraryQueues.currentLibraryQueueLabel ?? "none") }
            respond(HTTPServerResponse(status: 200, text: request.head.target))
        }
        defer { server.close() }
        for round in 0..<3 {
            // One connection per round, each request sent after the previous answer.
            let connection = try TCPConnection.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(10))
            defer { try? connection.close() }
            var parser = HTTPParser(parsing: .responses)
            for index in 0..<10 {
                try connection.write(Array("GET /\(round)/\(index) HTTP/1.1\r\nHost: x\r\n\r\n".utf8), timeout: .seconds(10))
                var body: [UInt8] = []
                var ended = false
                while !ended {
                    let bytes = try connection.read(maxBytes: 65536, timeout: .seconds(20))
                    XCTAssertFalse(bytes.isEmpty, "the server closed the connection")
                    if bytes.isEmpty { return }
                    for event in try parser.feed(bytes) {
                        if case .body(let piece) = event { body += piece }
                        if case .end = event { ended = true }
                    }
                }
                XCTAssertEqual(String(decoding: body, as: UTF8.self), "/\(round)/\(index)")
            }
        }
        let counts = threads.load()
        XCTAssertEqual(counts.values.reduce(0, +), 30)
        XCTAssertGreaterThanOrEqual(counts.values.max() ?? 0, 20, "the loop's poller thread handled most requests: \(counts)")
        XCTAssertTrue(labels.load().allSatisfy { $0.hasPrefix("ToolboxTransport.accepted") }, "\(labels.load())")
    }

    /// Many connections over two event loops, each pipelining requests with bodies: every answer is its own.
    func testEventLoopsServeManyConnectionsAtOnce() throws {
        let server = try HTTPServer(handlesOnConnectionQueue: true, eventLoops: 2) { request, respond in
            respond(HTTPServerResponse(status: 200, text: "echo " + String(decoding: request.body, as: UTF8.self)))
        }
        defer { server.close() }
        let failures = LockedValue<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { client in
            do {
                let requests = (0..<25).map { Self.post("/\(client)/\($0)", "c\(client)-r\($0)") }.joined()
                let responses = try Self.exchange(port: server.port, requests, count: 25)
                if responses.map(\.1) != (0..<25).map({ "echo c\(client)-r\($0)" }) {
                    failures.withLockedValue { $0.append("client \(client): \(responses.map(\.1))") }
                }
            } catch {
                failures.withLockedValue { $0.append("client \(client): \(error)") }
            }
        }
        XCTAssertEqual(failures.load(), [])
    }

    /// Hundreds of pipelined requests with bodies, answered inline: each gets its own body back, in order (the
    /// next request's body must not be lost while the previous answer is written from inside the parse loop),
    /// and the stack stays flat.
    func testManyPipelinedRequestsAnsweredInlineKeepTheirBodiesAndOrder() throws {
        let server = try HTTPServer(handlesOnConnectionQueue: true) { request, respond in
            respond(HTTPServerResponse(status: 200, text: String(decoding: request.body, as: UTF8.self)))
        }
        defer { server.close() }
        let count = 2_000
        let requests = (0..<count).map { Self.post("/p", "body-\($0)") }.joined()
        let responses = try Self.exchange(port: server.port, requests, count: count)
        XCTAssertEqual(responses.count, count)
        XCTAssertEqual(responses.map(\.1), (0..<count).map { "body-\($0)" })
    }

    /// A handler that answers later, from another queue, twice: the first answer is sent, the second ignored;
    /// answers at once and later alternate on one connection.
    func testALaterAnswerIsSentOnceAndMixesWithImmediateOnes() throws {
        let elsewhere = DispatchQueue(label: "later")
        let server = try HTTPServer(handlesOnConnectionQueue: true) { request, respond in
            let text = String(decoding: request.body, as: UTF8.self)
            if request.head.target == "/later" {
                elsewhere.asyncAfter(deadline: .now() + 0.01) {
                    respond(HTTPServerResponse(status: 202, text: "later " + text))
                    respond(HTTPServerResponse(status: 500, text: "again"))
                }
            } else {
                respond(HTTPServerResponse(status: 200, text: "now " + text))
                respond(HTTPServerResponse(status: 500, text: "again"))
            }
        }
        defer { server.close() }
        // A second answer sent by mistake would show up as an extra response ahead of the last one.
        let requests = Self.post("/later", "1") + Self.post("/now", "2") + Self.post("/later", "3") + Self.post("/now", "4")
            + Self.post("/now", "5")
        let responses = try Self.exchange(port: server.port, requests, count: 5)
        XCTAssertEqual(responses.map(\.0), [202, 200, 202, 200, 200])
        XCTAssertEqual(responses.map(\.1), ["later 1", "now 2", "later 3", "now 4", "now 5"])
    }

    /// The default still runs the handler on `queue`, off the connection's queue.
    func testWithoutTheOptionTheHandlerRunsOnItsQueue() throws {
        let queue = LibraryQueues.makeQueue(label: "handlers-here")
        let labels = LockedValue<[String]>([])
        let server = try HTTPServer(queue: queue) { _, respond in
            labels.withLockedValue { $0.append(LibraryQueues.currentLibraryQueueLabel ?? "none") }
            respond(HTTPServerResponse(status: 204))
        }
        defer { server.close() }
        let responses = try Self.exchange(port: server.port, Self.post("/x", "") + Self.post("/y", ""), count: 2)
        XCTAssertEqual(responses.map(\.0), [204, 204])
        XCTAssertEqual(labels.load(), ["handlers-here", "handlers-here"])
    }
}
