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
        ticket: HTTPExchangeTicket? = nil, first: () -> Void = {}
    ) throws -> (HTTPClientConnection.ExchangeStart, HTTPExchangeOutcome) {
        let request = try HTTPRequest(url: "http://127.0.0.1:\(connection.endpoint.port)\(path)")
        let outcome = LockedValue<HTTPExchangeOutcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        let start: HTTPClientConnection.ExchangeStart = connection.tcp.queue.sync {
            first()
            return connection.exchange(request, deadline: .after(seconds: 10), sink: sink, onOwnQueue: true,
                                       ticket: ticket) { result in
                outcome.withLockedValue { $0 = result }
                done.signal()
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        return (start, try XCTUnwrap(outcome.load()))
    }

    /// A cancel reaches the exchange it was made for and no other. One that comes after its exchange ended (the
    /// race of a cancel with a completion: the connection already went to the next waiting request) changes
    /// nothing; one that comes before its exchange started ends it unsent and leaves the connection in service;
    /// one that comes while it runs ends it and retires the connection.
    func testACancelReachesOnlyTheExchangeItWasMadeFor() throws {
        // "/unanswered" is never answered (its responder is kept, unused, until the end).
        let unanswered = LockedValue<[@Sendable (HTTPServerResponse) -> Void]>([])
        let server = try HTTPServer { request, respond in
            if request.head.target == "/unanswered" {
                unanswered.withLockedValue { $0.append(respond) }
                return
            }
            respond(HTTPServerResponse(status: 200, text: request.head.target))
        }
        defer { server.close() }
        let loops = HTTPEventLoops(count: 1)
        let loop = try XCTUnwrap(loops.next())
        let connection = try openConnection(port: server.port, loop: loop)
        defer { connection.tcp.close(mode: .abortive, queue: DispatchQueue(label: "close")) {} }
        let cancelled = TransportError(.cancelled, "cancelled by the test")

        // The first exchange ends; its cancel arrives late, in the turn the next exchange starts in.
        let firstTicket = HTTPExchangeTicket()
        let sink = BufferingSink(limit: 1 << 20)
        let (firstStart, first) = try exchangeOnItsQueue(connection, "/first", sink: sink, ticket: firstTicket)
        XCTAssertEqual(firstStart, .inPlace)
        XCTAssertEqual(try first.result.get().status, 200)
        XCTAssertEqual(String(decoding: sink.takeBody(), as: UTF8.self), "/first")
        let nextSink = BufferingSink(limit: 1 << 20)
        let (nextStart, next) = try exchangeOnItsQueue(connection, "/next", sink: nextSink, ticket: HTTPExchangeTicket()) {
            connection.abort(cancelled, ticket: firstTicket)
        }
        XCTAssertEqual(nextStart, .inPlace)
        XCTAssertEqual(try next.result.get().status, 200, "a late cancel of the exchange before must not cut this one")
        XCTAssertEqual(String(decoding: nextSink.takeBody(), as: UTF8.self), "/next")
        XCTAssertTrue(next.reusable)

        // Cancelled before its start: ends unsent with the cancel's error; the connection stays in service.
        let early = HTTPExchangeTicket()
        connection.abort(cancelled, ticket: early)
        let request = try HTTPRequest(url: "http://127.0.0.1:\(server.port)/never")
        let earlyOutcome = LockedValue<HTTPExchangeOutcome?>(nil)
        let earlyDone = DispatchSemaphore(value: 0)
        XCTAssertEqual(connection.exchange(request, deadline: .after(seconds: 10), sink: BufferingSink(limit: 1024),
                                           ticket: early) { result in
            earlyOutcome.withLockedValue { $0 = result }
            earlyDone.signal()
        }, .enqueued)
        XCTAssertEqual(earlyDone.wait(timeout: .now() + 10), .success)
        let ended = try XCTUnwrap(earlyOutcome.load())
        XCTAssertTrue(ended.unsent)
        XCTAssertTrue(ended.reusable)
        XCTAssertEqual(errorCode(ended.result), .cancelled)
        let (_, after) = try exchangeOnItsQueue(connection, "/after")
        XCTAssertEqual(try after.result.get().status, 200, "the connection still serves requests")

        // Cancelled while it runs (its request went out and is never answered): ends with the cancel's error, and
        // the connection is retired.
        let running = HTTPExchangeTicket()
        let slowOutcome = LockedValue<HTTPExchangeOutcome?>(nil)
        let slowDone = DispatchSemaphore(value: 0)
        connection.exchange(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/unanswered"),
                            deadline: .after(seconds: 60), sink: BufferingSink(limit: 1024), ticket: running) { result in
            slowOutcome.withLockedValue { $0 = result }
            slowDone.signal()
        }
        for _ in 0..<1000 where unanswered.load().isEmpty { usleep(10_000) }
        XCTAssertEqual(unanswered.load().count, 1, "the request reached the server")
        connection.abort(cancelled, ticket: running)
        XCTAssertEqual(slowDone.wait(timeout: .now() + 30), .success, "the cancel ended it (it is never answered)")
        let slow = try XCTUnwrap(slowOutcome.load())
        XCTAssertEqual(errorCode(slow.result), .cancelled)
        XCTAssertFalse(slow.reusable)
        XCTAssertFalse(slow.unsent)
        XCTAssertNotEqual(connection.tcp.state, .open, "retired")
    }

    private func errorCode(_ result: Result<HTTPResponseHead, TransportError>) -> TransportError.Code? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    func testChainedRequestsWithCompletionsOnTheCallbackQueue() throws {
        try runChains(inline: false)
    }

    func testChainedRequestsWithInlineCompletions() throws {
        try runChains(inline: true)
    }
}
