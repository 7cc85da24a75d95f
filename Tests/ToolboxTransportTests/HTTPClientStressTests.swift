import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Many requests racing deadlines and cancellation: each completes exactly once and no lease is lost.
final class HTTPClientStressTests: XCTestCase {
    func testDeadlinesAndCancellationsUnderLoad() throws {
        let server = try HTTPServer { request, respond in
            // Answer after a pseudo-random delay so deadlines and cancellations hit every phase.
            let delay = Int(request.head.target.dropFirst()).map { $0 % 40 } ?? 0
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(delay)) {
                respond(HTTPServerResponse(status: 200, text: request.head.target))
            }
        }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.maxConnectionsPerEndpoint = 8
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }

        let total = 400
        let completions = LockedValue([Int](repeating: 0, count: total))
        let outcomes = LockedValue<[TransportError.Code: Int]>([:])
        let wrongBodies = LockedValue(0)
        let group = DispatchGroup()
        var generator = SystemRandomNumberGenerator()
        for i in 0..<total {
            group.enter()
            let deadline = Deadline.after(seconds: Double(Int.random(in: 5...300, using: &generator)) / 1000)
            let request = try HTTPRequest(url: "http://127.0.0.1:\(server.port)/\(i * 7)")
            let handle = client.execute(request, deadline: deadline) { result in
                completions.withLockedValue { $0[i] += 1 }
                switch result {
                case .success(let response):
                    if response.body != Array("/\(i * 7)".utf8) { wrongBodies.withLockedValue { $0 += 1 } }
                case .failure(let error):
                    outcomes.withLockedValue { $0[error.code, default: 0] += 1 }
                }
                group.leave()
            }
            if i % 3 == 0 {
                let after = Int.random(in: 0...50, using: &generator)
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(after)) { handle.cancel() }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success, "some request never completed")
        // Let late duplicate completions (the bug this test looks for) show up before counting.
        usleep(300_000)
        XCTAssertEqual(completions.load().filter { $0 != 1 }.count, 0, "every request completes exactly once")
        XCTAssertEqual(wrongBodies.load(), 0, "a response was delivered to the wrong request")
        let unexpected = outcomes.load().keys.filter { ![.timedOut, .cancelled].contains($0) }
        XCTAssertEqual(unexpected, [], "unexpected failures: \(outcomes.load())")

        // No lease was lost: every connection slot still serves requests.
        for i in 0..<(configuration.maxConnectionsPerEndpoint * 2) {
            let response = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/\(i)"), timeout: .seconds(30))
            XCTAssertEqual(response.status, 200)
        }
        XCTAssertEqual(try concurrentCheck(client: client, port: server.port, count: 16), 0, "requests failed after the storm")
    }

    /// Runs `count` requests at once with a generous deadline; returns how many failed.
    private func concurrentCheck(client: HTTPClient, port: UInt16, count: Int) throws -> Int {
        let failures = LockedValue(0)
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            client.execute(try HTTPRequest(url: "http://127.0.0.1:\(port)/\(i)"), deadline: .after(seconds: 30)) { result in
                if case .failure = result { failures.withLockedValue { $0 += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        return failures.load()
    }
}
