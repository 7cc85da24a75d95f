import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// HTTPClient behaviour that needs a misbehaving server: deadlines, cancellation, 100-continue, bad URLs.
final class HTTPClientTests: XCTestCase {
    /// A server that accepts connections and never answers.
    private func silentServer() throws -> (TCPListener, LockedValue<[TCPConnection]>) {
        let held = LockedValue<[TCPConnection]>([])
        let listener = try TCPListener { connection in held.withLockedValue { $0.append(connection) } }
        return (listener, held)
    }

    func testDeadlineFailsWithTimedOut() throws {
        let (listener, _) = try silentServer()
        defer { listener.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        expectTransportError(.timedOut) {
            _ = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(listener.port)/"), timeout: .seconds(0.3))
        }
    }

    /// A peer that accepts the connection and never answers the TLS handshake: the request fails at its deadline,
    /// and `shutdown` ends the connect still running instead of waiting out `connectTimeout` (`toolbox cosmos
    /// read --timeout 2` took the 10 s default to exit).
    func testShutdownEndsAConnectStuckInTheTLSHandshake() throws {
        let (listener, held) = try silentServer()
        defer { listener.close() }
        var configuration = HTTPClientConfiguration()
        configuration.connectTimeout = .seconds(3600)
        let client = try HTTPClient(configuration: configuration)
        expectTransportError(.timedOut) {
            _ = try client.execute(try HTTPRequest(url: "https://127.0.0.1:\(listener.port)/"), timeout: .seconds(0.3))
        }
        XCTAssertEqual(held.load().count, 1, "the connection was accepted; its handshake never completes")
        let closed = expectation(description: "shut down")
        client.shutdown(queue: DispatchQueue(label: "test")) { closed.fulfill() }
        wait(for: [closed], timeout: 60)
    }

    func testCancellationFailsWithCancelled() throws {
        let (listener, held) = try silentServer()
        defer { listener.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let outcome = LockedValue<Result<HTTPResponse, TransportError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let handle = client.execute(try HTTPRequest(url: "http://127.0.0.1:\(listener.port)/"),
                                    deadline: .after(seconds: 30)) { result in
            outcome.withLockedValue { $0 = result }
            done.signal()
        }
        // Cancel once the request is really in flight on a connection.
        let deadline = Deadline.after(seconds: 10)
        while held.load().isEmpty, !deadline.hasPassed { usleep(10_000) }
        handle.cancel()
        handle.cancel()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        guard case .failure(let error) = outcome.load() else { return XCTFail("expected a failure") }
        XCTAssertEqual(error.code, .cancelled)
    }

    func testExpectContinueSendsTheBodyAfter100() throws {
        let server = try HTTPServer { request, respond in
            respond(HTTPServerResponse(status: 200, text: "\(request.body.count)"))
        }
        defer { server.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let request = try HTTPRequest(method: "POST", url: "http://127.0.0.1:\(server.port)/x",
                                      headers: ["Expect": "100-continue"], body: .bytes(Array(repeating: 1, count: 5000)))
        let response = try client.execute(request, timeout: .seconds(10))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "5000")
        // The connection stays usable afterwards.
        XCTAssertEqual(try client.execute(request, timeout: .seconds(10)).status, 200)
        XCTAssertEqual(client.connectionsOpened, 1)
    }

    /// A `.block` body goes out with its `Content-Length`, small or large, at once or after `100 Continue`, and
    /// the request lets the block go once it is over.
    func testBlockBodiesAreSentWholeAndReleased() throws {
        let server = try HTTPServer { request, respond in
            let sum = request.body.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) }
            respond(HTTPServerResponse(status: 200, text: "\(request.head.headers.first(name: "Content-Length") ?? "-") \(request.body.count) \(sum)"))
        }
        defer { server.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        for (size, expect) in [(0, false), (100, false), (300_000, false), (300_000, true), (5_000, true)] {
            let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) }
            var block = try XCTUnwrap(ByteBlock(capacity: max(size, 1) * 2))
            block.fill(count: size) { buffer in buffer.copyBytes(from: content) }
            XCTAssertEqual(block.bytes, content)
            let sum = content.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) }
            do {
                let request = try HTTPRequest(method: "PUT", url: "http://127.0.0.1:\(server.port)/b",
                                              headers: expect ? ["Expect": "100-continue"] : [:], body: .block(block))
                let response = try client.execute(request, timeout: .seconds(30))
                XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "\(size) \(size) \(sum)",
                               "size \(size), expect \(expect)")
            }
            // The exchange lets go of its request when it ends; the connection's queue may still be finishing it.
            let deadline = Deadline.after(seconds: 10)
            while !isKnownUniquelyReferenced(&block), !deadline.hasPassed { usleep(1_000) }
            XCTAssertTrue(isKnownUniquelyReferenced(&block), "size \(size): the client still holds the block")
        }
        XCTAssertEqual(client.connectionsOpened, 1, "every exchange reused the keep-alive connection")
    }

    /// `fill` clamps its count to the block, and the content is what was written.
    func testByteBlockFillClampsToItsCapacity() throws {
        let block = try XCTUnwrap(ByteBlock(capacity: 10))
        XCTAssertEqual(block.capacity, 10)
        XCTAssertEqual(block.count, 0)
        block.fill(count: 50) { buffer in
            XCTAssertEqual(buffer.count, 10)
            for index in buffer.indices { buffer[index] = UInt8(index) }
        }
        XCTAssertEqual(block.bytes, Array(0..<10))
        block.fill(count: -3) { XCTAssertEqual($0.count, 0) }
        XCTAssertEqual(block.count, 0)
        XCTAssertEqual(try XCTUnwrap(ByteBlock(capacity: 0)).capacity, 1)
    }

    func testHeadResponseHasNoBodyAndKeepsTheConnection() throws {
        let server = try HTTPServer { _, respond in
            respond(HTTPServerResponse(status: 200, body: .bytes(Array(repeating: 7, count: 1000))))
        }
        defer { server.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let head = try client.execute(try HTTPRequest(method: "HEAD", url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(10))
        XCTAssertEqual(head.headers.first(name: "content-length"), "1000")
        XCTAssertEqual(head.body, [])
        let get = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(10))
        XCTAssertEqual(get.body.count, 1000)
        XCTAssertEqual(client.connectionsOpened, 1)
    }

    func testOversizedBufferedBodyFailsClearly() throws {
        let server = try HTTPServer { _, respond in
            respond(HTTPServerResponse(status: 200, body: .bytes(Array(repeating: 7, count: 10_000))))
        }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.maxBufferedResponseBytes = 1000
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        expectTransportError(.httpBodyTooLarge) {
            _ = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(10))
        }
    }

    /// A `Content-Length` over the limit fails at the body's first bytes: the client read 256 MiB (the default
    /// limit) of a body declared as 100 GB before saying so, and here it would wait for more until the deadline.
    func testADeclaredBodyOverTheLimitFailsAtItsFirstBytes() throws {
        let held = LockedValue<[TCPConnection]>([])
        let listener = try TCPListener { connection in
            held.withLockedValue { $0.append(connection) }
            connection.read { _ in
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n"
                connection.write(Array(head.utf8) + Array(repeating: 7, count: 4096)) { _ in }  // then nothing more
            }
        }
        defer { listener.close() }
        var configuration = HTTPClientConfiguration()
        configuration.maxBufferedResponseBytes = 1 << 20
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        expectTransportError(.httpBodyTooLarge) {
            _ = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(listener.port)/"), timeout: .seconds(60))
        }
    }

    func testRefusedConnectionIsReportedAsSuch() throws {
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let port = try closedPort()
        expectTransportError(.connectionRefused) {
            _ = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(10))
        }
    }

    func testWarmUpOpensConnectionsAheadOfRequests() throws {
        let server = try HTTPServer { _, respond in respond(HTTPServerResponse(status: 204)) }
        defer { server.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let endpoint = HTTPEndpoint(isTLS: false, host: "127.0.0.1", port: server.port)
        XCTAssertEqual(try client.warmUp(endpoint, count: 3), 3)
        XCTAssertEqual(client.connectionsOpened, 3)
        XCTAssertEqual(client.poolSnapshots()[endpoint]?.ready, 3)
        XCTAssertEqual(try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(10)).status, 204)
        XCTAssertEqual(client.connectionsOpened, 3, "the request used a warmed connection")
    }

    func testSlowStreamingConsumerReceivesEverythingInOrder() throws {
        let body = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 5) }
        let server = try HTTPServer { _, respond in respond(HTTPServerResponse(status: 200, body: .bytes(body))) }
        defer { server.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let received = Received()
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedValue<Result<HTTPResponseHead, TransportError>?>(nil)
        client.stream(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/"), deadline: .after(seconds: 60),
                      onHead: { _ in },
                      onBody: { piece in
                          // A consumer slower than loopback: the client must pause reading, not buffer ahead.
                          usleep(1000)
                          received.append(piece)
                      },
                      completion: { result in
                          outcome.withLockedValue { $0 = result }
                          done.signal()
                      })
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(try outcome.load()?.get().status, 200)
        XCTAssertTrue(received.all == body, "streamed bytes differ or arrived out of order")
        // The connection is reusable after a paused and resumed response.
        XCTAssertEqual(try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(30)).body.count,
                       body.count)
        XCTAssertEqual(client.connectionsOpened, 1)
    }

    func testDroppingTheClientClosesItsConnections() throws {
        let closed = DispatchSemaphore(value: 0)
        let held = LockedValue<[TCPConnection]>([])
        let listener = try TCPListener { connection in
            held.withLockedValue { $0.append(connection) }
            connection.read { _ in
                connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)) { _ in
                    connection.read { result in
                        if case .success(let bytes) = result, bytes.isEmpty { closed.signal() }
                    }
                }
            }
        }
        defer { listener.close() }
        do {
            let client = try HTTPClient()
            XCTAssertEqual(try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(listener.port)/"), timeout: .seconds(10)).status, 200)
        }
        XCTAssertEqual(closed.wait(timeout: .now() + 20), .success, "a dropped client must close its idle connections")
    }

    func testIPv6EndpointEndToEnd() throws {
        let server = try HTTPServer(host: "::1") { request, respond in
            respond(HTTPServerResponse(status: 200, text: request.head.headers.first(name: "Host") ?? "-"))
        }
        defer { server.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let response = try client.execute(try HTTPRequest(url: "http://[::1]:\(server.port)/"), timeout: .seconds(10))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "[::1]:\(server.port)")
    }

    /// The fields the client adds (Host, User-Agent, the body's framing) go after the caller's, in that order; a
    /// caller's Content-Length or Transfer-Encoding gives way to the body's real framing; a caller's Host stays.
    func testClientAddsItsFieldsAfterTheCallersAndTheBodyFramesItself() throws {
        let server = try HTTPServer { request, respond in
            let fields = request.head.headers.map { "\($0.name): \($0.value)" }
            respond(HTTPServerResponse(status: 200, text: (fields + ["body \(request.body.count)"]).joined(separator: "\n")))
        }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.userAgent = "ua-test/1"
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        let url = "http://127.0.0.1:\(server.port)/x"
        let host = "Host: 127.0.0.1:\(server.port)"
        func fields(_ request: HTTPRequest) throws -> [String] {
            let response = try client.execute(request, timeout: .seconds(10))
            XCTAssertEqual(response.status, 200)
            return String(decoding: response.body, as: UTF8.self).components(separatedBy: "\n")
        }
        XCTAssertEqual(try fields(HTTPRequest(url: url, headers: ["X-A": "1"])),
                       ["X-A: 1", host, "User-Agent: ua-test/1", "body 0"])
        XCTAssertEqual(try fields(HTTPRequest(method: "POST", url: url)),
                       [host, "User-Agent: ua-test/1", "Content-Length: 0", "body 0"])
        XCTAssertEqual(try fields(HTTPRequest(method: "PUT", url: url, headers: ["Content-Length": "0"])),
                       ["Content-Length: 0", host, "User-Agent: ua-test/1", "body 0"])
        let stale: HTTPHeaders = ["Content-Length": "99", "Host": "custom", "Transfer-Encoding": "gzip", "User-Agent": "mine",
                                  "X-B": "2"]
        XCTAssertEqual(try fields(HTTPRequest(method: "POST", url: url, headers: stale, body: .bytes(Array("hello".utf8)))),
                       ["Host: custom", "User-Agent: mine", "X-B: 2", "Content-Length: 5", "body 5"])
        let pieces = LockedValue([Array("ab".utf8), Array("cde".utf8)])
        let chunked = HTTPRequestBody.stream(contentLength: nil) { deliver in
            deliver(.success(pieces.withLockedValue { $0.isEmpty ? nil : $0.removeFirst() }))
        }
        XCTAssertEqual(try fields(HTTPRequest(method: "PUT", url: url, headers: stale, body: chunked)),
                       ["Host: custom", "User-Agent: mine", "X-B: 2", "Transfer-Encoding: chunked", "body 5"])
        // A field the client adds is checked like the caller's: a User-Agent with a line break is refused.
        configuration.userAgent = "ua\r\nX-Injected: 1"
        let injecting = try HTTPClient(configuration: configuration)
        defer { try? injecting.shutdown() }
        expectTransportError(.invalidRequest) { _ = try injecting.execute(try HTTPRequest(url: url), timeout: .seconds(10)) }
    }

    func testServerAnswersPipelinedRequestsInOrder() throws {
        let server = try HTTPServer { request, respond in
            // The first answer is the slowest: order must still follow the requests.
            let delay = request.head.target == "/1" ? 50 : 0
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) {
                respond(HTTPServerResponse(status: 200, text: request.head.target))
            }
        }
        defer { server.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(10))
        let requests = (1...3).map { "GET /\($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined()
        try connection.write(Array(requests.utf8), timeout: .seconds(10))
        var parser = HTTPParser(parsing: .responses)
        var bodies: [String] = []
        while bodies.count < 3 {
            let bytes = try connection.read(timeout: .seconds(10))
            XCTAssertFalse(bytes.isEmpty, "the server closed early")
            if bytes.isEmpty { break }
            for event in try parser.feed(bytes) {
                if case .body(let body) = event { bodies.append(String(decoding: body, as: UTF8.self)) }
            }
        }
        XCTAssertEqual(bodies, ["/1", "/2", "/3"])
        try connection.close()
    }

    func testConnectionsPastTheirLifespanAreReplaced() throws {
        let server = try HTTPServer { _, respond in respond(HTTPServerResponse(status: 204)) }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.maxLifespan = .seconds(0.3)
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        let url = "http://127.0.0.1:\(server.port)/"
        XCTAssertEqual(try client.execute(try HTTPRequest(url: url), timeout: .seconds(10)).status, 204)
        // Wait for the pool to retire the connection at its lifespan (its expiry timer), not a guessed interval.
        let retired = Deadline.after(.seconds(10))
        while client.poolSnapshots().values.contains(where: { $0.ready > 0 }), !retired.hasPassed { usleep(5_000) }
        XCTAssertFalse(client.poolSnapshots().values.contains { $0.ready > 0 }, "the connection outlived its lifespan")
        XCTAssertEqual(try client.execute(try HTTPRequest(url: url), timeout: .seconds(10)).status, 204)
        XCTAssertEqual(client.connectionsOpened, 2, "the first connection outlived its lifespan")
    }

    func testURLParsing() throws {
        let a = try HTTPRequest(url: "https://Example.org:8443/a/b?c=d#frag")
        XCTAssertEqual(a.endpoint, HTTPEndpoint(isTLS: true, host: "Example.org", port: 8443))
        XCTAssertEqual(a.target, "/a/b?c=d")
        let b = try HTTPRequest(url: "http://[::1]:8080?x=1")
        XCTAssertEqual(b.endpoint.host, "::1")
        XCTAssertEqual(b.endpoint.hostHeader, "[::1]:8080")
        XCTAssertEqual(b.target, "/?x=1")
        XCTAssertEqual(try HTTPRequest(url: "https://host").endpoint.port, 443)
        expectTransportError(.invalidRequest) { _ = try HTTPRequest(url: "ftp://host/") }
        expectTransportError(.invalidRequest) { _ = try HTTPRequest(url: "http://host:99999/") }
        expectTransportError(.invalidRequest) { _ = try HTTPRequest(url: "http:///path") }
        do {
            _ = try HTTPRequest(url: "htps://acct.blob.core.windows.net/c/b?sv=2021&sig=SECRETSIGNATURE")
            XCTFail("a bad scheme must be refused")
        } catch {
            XCTAssertFalse("\(error)".contains("SECRETSIGNATURE"), "errors must not carry the query: \(error)")
        }
        XCTAssertEqual(HTTPEndpoint.redacted("http://user:pw@host:x/p?q=1"), "http://<userinfo redacted>@host:x/p?<query redacted>")
    }

    func testShutdownClosesConnectionsAndLaterRequestsReopen() throws {
        let server = try HTTPServer { _, respond in respond(HTTPServerResponse(status: 204)) }
        defer { server.close() }
        let client = try HTTPClient()
        let url = "http://127.0.0.1:\(server.port)/"
        XCTAssertEqual(try client.execute(try HTTPRequest(url: url), timeout: .seconds(10)).status, 204)
        try client.shutdown()
        XCTAssertEqual(try client.execute(try HTTPRequest(url: url), timeout: .seconds(10)).status, 204,
                       "a shut-down client opens new pools on demand")
        try client.shutdown()
    }
}
