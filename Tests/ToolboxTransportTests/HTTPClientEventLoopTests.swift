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

    func testChainedRequestsWithCompletionsOnTheCallbackQueue() throws {
        try runChains(inline: false)
    }

    func testChainedRequestsWithInlineCompletions() throws {
        try runChains(inline: true)
    }
}
