import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Requests started from completions, as `toolbox bench http` does: with completions on a callback queue (the
/// request is then written on the caller's thread, inside the connection queue's `sync`) and inline on the event
/// loop (the start is then enqueued). Several chains share fewer connections than they have requests in flight,
/// so starts meet busy loops, waiting acquires and connections released from another thread.
final class HTTPClientEventLoopTests: XCTestCase {
    private func runChains(inline: Bool, chains: Int = 6, perChain: Int = 40) throws {
        let server = try HTTPServer { request, respond in
            respond(HTTPServerResponse(status: 200, text: request.head.target))
        }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.inlineCompletions = inline
        configuration.maxConnectionsPerEndpoint = 4
        configuration.eventLoopCount = 2
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        let failures = LockedValue<[String]>([])
        let group = DispatchGroup()
        @Sendable func next(chain: Int, index: Int) {
            guard index < perChain else {
                group.leave()
                return
            }
            let target = "/\(chain)/\(index)"
            let request: HTTPRequest
            do {
                request = try HTTPRequest(url: "http://127.0.0.1:\(server.port)\(target)")
            } catch {
                failures.withLockedValue { $0.append("\(error)") }
                group.leave()
                return
            }
            client.execute(request, deadline: .after(seconds: 30)) { result in
                switch result {
                case .success(let response) where String(decoding: response.body, as: UTF8.self) == target:
                    break
                case .success(let response):
                    failures.withLockedValue { $0.append("\(target): \(response.status) \(response.body.count) bytes") }
                case .failure(let error):
                    failures.withLockedValue { $0.append("\(target): \(error)") }
                }
                next(chain: chain, index: index + 1)
            }
        }
        for chain in 0..<chains {
            group.enter()
            next(chain: chain, index: 0)
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success, "every chain finished")
        XCTAssertEqual(failures.load(), [])
        XCTAssertLessThanOrEqual(client.connectionsOpened, 4)
    }

    /// Requests queued for the only connection each start on its queue in the turn that finished the one before
    /// (no thread hop between a response and the next request), in order, with their own answers.
    func testRequestsWaitingForTheConnectionStartInTheTurnThatFreesIt() throws {
        // The server reads a new connection's first request only after 300 ms: every request below is queued for
        // the connection before the first one is answered.
        let server = try HTTPServer(connectionSetupDelay: .milliseconds(300)) { request, respond in
            respond(HTTPServerResponse(status: 200, text: request.head.target))
        }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.maxConnectionsPerEndpoint = 1
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        let count = 20
        let answers = LockedValue<[String]>([])
        let group = DispatchGroup()
        let serial = DispatchQueue(label: "answers")
        for index in 0..<count {
            group.enter()
            let request = try HTTPRequest(url: "http://127.0.0.1:\(server.port)/\(index)")
            client.execute(request, deadline: .after(seconds: 30), queue: serial) { result in
                let text = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) } ?? "\(result)"
                answers.withLockedValue { $0.append(text) }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(answers.load(), (0..<count).map { "/\($0)" }, "each answer is its own, first come first served")
        XCTAssertEqual(client.connectionsOpened, 1)
        XCTAssertEqual(client.requestsStartedInPlace, count - 1,
                       "all but the first (served by the opening connection) started where the previous one ended")
    }

    /// A connection on `loop` to `port`, as the client's connector makes them.
    private func openConnection(port: UInt16, loop: HTTPEventLoops.Loop) throws -> HTTPClientConnection {
        let connected = LockedValue<Result<TCPConnection, TransportError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        TCPConnection.connect(host: "127.0.0.1", port: port, tls: nil, serverName: nil,
                              deadline: .after(seconds: 10), targetQueue: loop.queue, poller: loop.poller,
                              queue: DispatchQueue(label: "connect")) { result in
            connected.withLockedValue { $0 = result }
            ready.signal()
        }
        XCTAssertEqual(ready.wait(timeout: .now() + 10), .success)
        let tcp = try XCTUnwrap(connected.load()).get()
        return HTTPClientConnection(tcp: tcp, endpoint: HTTPEndpoint(isTLS: false, host: "127.0.0.1", port: port),
                                    limits: HTTPParserLimits(), userAgent: "test")
    }

    /// Runs `path` on `connection` from its own queue (after `first`, in the same turn) and waits for the outcome.
    private func exchangeOnItsQueue(
        _ connection: HTTPClientConnection, _ path: String, sink: BufferingSink = BufferingSink(limit: 1 << 20),
        first: () -> Void = {}
    ) throws -> (HTTPClientConnection.ExchangeStart, HTTPExchangeOutcome) {
        let request = try HTTPRequest(url: "http://127.0.0.1:\(connection.endpoint.port)\(path)")
        let outcome = LockedValue<HTTPExchangeOutcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        let start: HTTPClientConnection.ExchangeStart = connection.tcp.queue.sync {
            first()
            return connection.exchange(request, deadline: .after(seconds: 10), sink: sink, onOwnQueue: true) { result in
                outcome.withLockedValue { $0 = result }
                done.signal()
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        return (start, try XCTUnwrap(outcome.load()))
    }

    /// An abort already queued on the connection (a cancel of the exchange that just ended) must reach it before a
    /// waiting request starts there: that request then ends unsent (so it may be sent again elsewhere) instead of
    /// being cut off after it went out.
    func testAnAbortQueuedOnTheConnectionComesBeforeAnInPlaceStart() throws {
        let server = try HTTPServer { request, respond in
            respond(HTTPServerResponse(status: 200, text: request.head.target))
        }
        defer { server.close() }
        let loops = HTTPEventLoops(count: 1)
        let loop = try XCTUnwrap(loops.next())
        let connection = try openConnection(port: server.port, loop: loop)
        defer { connection.tcp.close(mode: .abortive, queue: DispatchQueue(label: "close")) {} }
        // Without a queued abort the exchange starts in place and completes.
        let sink = BufferingSink(limit: 1 << 20)
        let (firstStart, first) = try exchangeOnItsQueue(connection, "/first", sink: sink)
        XCTAssertEqual(firstStart, .inPlace)
        XCTAssertEqual(try first.result.get().status, 200)
        XCTAssertEqual(String(decoding: sink.takeBody(), as: UTF8.self), "/first")
        // With one queued, the next exchange (a waiting request's) is enqueued behind it.
        let (start, ended) = try exchangeOnItsQueue(connection, "/after-abort") {
            connection.abort(TransportError(.cancelled, "cancelled by the test"))
        }
        XCTAssertEqual(start, .enqueued, "not started in place while an abort waits on the queue")
        XCTAssertTrue(ended.unsent, "the abort came first: not a byte of the request went out")
        if case .success = ended.result { XCTFail("the aborted connection cannot have answered") }
    }

    func testChainedRequestsWithCompletionsOnTheCallbackQueue() throws {
        try runChains(inline: false)
    }

    func testChainedRequestsWithInlineCompletions() throws {
        try runChains(inline: true)
    }
}
