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
        let connected = LockedValue<Result<TCPConnection, TransportError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        TCPConnection.connect(host: "127.0.0.1", port: server.port, tls: nil, serverName: nil,
                              deadline: .after(seconds: 10), targetQueue: loop.queue, poller: loop.poller,
                              queue: DispatchQueue(label: "connect")) { result in
            connected.withLockedValue { $0 = result }
            ready.signal()
        }
        XCTAssertEqual(ready.wait(timeout: .now() + 10), .success)
        let tcp = try XCTUnwrap(connected.load()).get()
        let connection = HTTPClientConnection(tcp: tcp, endpoint: HTTPEndpoint(isTLS: false, host: "127.0.0.1", port: server.port),
                                              limits: HTTPParserLimits(), userAgent: "test")
        // One exchange first: the request below is the connection's next one, as for a waiting request.
        let first = LockedValue<HTTPExchangeOutcome?>(nil)
        let firstDone = DispatchSemaphore(value: 0)
        connection.exchange(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/first"), deadline: .after(seconds: 10),
                            sink: BufferingSink(limit: 1 << 20)) { result in
            first.withLockedValue { $0 = result }
            firstDone.signal()
        }
        XCTAssertEqual(firstDone.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try XCTUnwrap(first.load()).result.get().status, 200)
        let request = try HTTPRequest(url: "http://127.0.0.1:\(server.port)/after-abort")
        let outcome = LockedValue<HTTPExchangeOutcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        let start: HTTPClientConnection.ExchangeStart = tcp.queue.sync {
            connection.abort(TransportError(.cancelled, "cancelled by the test"))
            return connection.exchange(request, deadline: .after(seconds: 10), sink: BufferingSink(limit: 1 << 20),
                                       onOwnQueue: true) { result in
                outcome.withLockedValue { $0 = result }
                done.signal()
            }
        }
        XCTAssertEqual(start, .enqueued, "not started in place while an abort waits on the queue")
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        let ended = try XCTUnwrap(outcome.load())
        XCTAssertTrue(ended.unsent, "the abort came first: not a byte of the request went out")
        if case .success = ended.result { XCTFail("the aborted connection cannot have answered") }
        // Without a queued abort the same call starts in place and the exchange completes.
        let second = try HTTPRequest(url: "http://127.0.0.1:\(server.port)/second")
        let fresh = LockedValue<Result<TCPConnection, TransportError>?>(nil)
        let reconnected = DispatchSemaphore(value: 0)
        TCPConnection.connect(host: "127.0.0.1", port: server.port, tls: nil, serverName: nil,
                              deadline: .after(seconds: 10), targetQueue: loop.queue, poller: loop.poller,
                              queue: DispatchQueue(label: "connect")) { result in
            fresh.withLockedValue { $0 = result }
            reconnected.signal()
        }
        XCTAssertEqual(reconnected.wait(timeout: .now() + 10), .success)
        let tcp2 = try XCTUnwrap(fresh.load()).get()
        let connection2 = HTTPClientConnection(tcp: tcp2, endpoint: HTTPEndpoint(isTLS: false, host: "127.0.0.1", port: server.port),
                                               limits: HTTPParserLimits(), userAgent: "test")
        let sink = BufferingSink(limit: 1 << 20)
        let secondOutcome = LockedValue<HTTPExchangeOutcome?>(nil)
        let secondDone = DispatchSemaphore(value: 0)
        let secondStart: HTTPClientConnection.ExchangeStart = tcp2.queue.sync {
            connection2.exchange(second, deadline: .after(seconds: 10), sink: sink, onOwnQueue: true) { result in
                secondOutcome.withLockedValue { $0 = result }
                secondDone.signal()
            }
        }
        XCTAssertEqual(secondStart, .inPlace)
        XCTAssertEqual(secondDone.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try XCTUnwrap(secondOutcome.load()).result.get().status, 200)
        XCTAssertEqual(String(decoding: sink.takeBody(), as: UTF8.self), "/second")
        tcp.close(mode: .abortive, queue: DispatchQueue(label: "close")) {}
        tcp2.close(mode: .abortive, queue: DispatchQueue(label: "close")) {}
    }

    func testChainedRequestsWithCompletionsOnTheCallbackQueue() throws {
        try runChains(inline: false)
    }

    func testChainedRequestsWithInlineCompletions() throws {
        try runChains(inline: true)
    }
}
