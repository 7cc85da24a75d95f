import AzureClientsToolboxAsync
import AzureClientsToolboxTesting
import AzureEventGrid
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest
import ToolboxTransportServer

/// The statuses the emulator never sends (403, 408, 5xx, other 2xx), from a scripted server: which are retried,
/// how often, and what each becomes.
final class EventGridStatusTests: XCTestCase {
    /// Answers each request with the next status of `script` (the last one repeats) and counts the requests.
    private final class ScriptedTopic: Sendable {
        let server: HTTPServer
        private let counter: LockedValue<Int>

        init(_ script: [Int]) throws {
            let counter = LockedValue(0)
            server = try HTTPServer { request, respond in
                let index = counter.withLockedValue { count -> Int in
                    defer { count += 1 }
                    return count
                }
                let status = script[min(index, script.count - 1)]
                let body = (200..<300).contains(status) ? ""
                    : #"{"error":{"code":"Scripted\#(status)","message":"scripted answer \#(status)"}}"#
                respond(HTTPServerResponse(status: status, headers: ["Content-Type": "application/json",
                                                                     "x-ms-request-id": "req-\(index)"], text: body))
            }
            self.counter = counter
        }

        var requestCount: Int { counter.load() }
        var url: String { "http://127.0.0.1:\(server.port)/api/events" }
    }

    private func client(_ topic: ScriptedTopic, maxRetries: Int = 3, clock: (any ToolboxClock)? = nil) throws -> EventGridClient {
        var options = EventGridClientOptions()
        options.retry.maxRetries = maxRetries
        options.retry.baseDelay = .milliseconds(1)
        options.retry.maxDelay = .milliseconds(5)
        if let clock { options.clock = clock }
        return try singleTopicClient(url: topic.url, server: topic.server, options: options)
    }

    private func outcome(_ client: EventGridClient) -> ToolboxError? {
        do {
            try client.emitEvent(topic: "t", eventType: "t", subject: "s", data: .null)
            return nil
        } catch {
            return error
        }
    }

    /// An endpoint that echoes the key it was sent (in its error body and request id) never gets it into the
    /// error: the tester's echoing server had `--key` printed on stdout and stderr.
    func testAnEchoedKeyNeverReachesTheError() throws {
        let server = try HTTPServer { request, respond in
            let sent = request.head.headers.first(name: "aeg-sas-key") ?? ""
            // In the message, and again straddling where a body that is not JSON is cut short.
            let body = request.head.target.contains("plain") ? String(repeating: "x", count: 280) + sent
                : #"{"error":{"code":"Unauthorized","message":"bad key \#(sent)"}}"#
            respond(HTTPServerResponse(status: 401, headers: ["Content-Type": "application/json", "x-ms-request-id": sent],
                                       text: body))
        }
        let key = "dG9waWMta2V5LXNlY3JldC12YWx1ZQ=="
        defer { server.close() }
        for path in ["json", "plain"] {
            let client = try EventGridClient(
                config: EventGridConfig(EventGridTopicConfig(name: "t", url: "http://127.0.0.1:\(server.port)/\(path)")),
                credential: .key(Secret(key)))
            defer { try? client.close() }
            XCTAssertThrowsError(try client.emitEvent(topic: "t", eventType: "t", subject: "s", data: .null)) { error in
                let text = "\(error) \((error as? ToolboxError)?.serviceCondition.map { "\($0)" } ?? "")"
                XCTAssertFalse(text.contains(key), text)
                XCTAssertFalse(text.contains(key.prefix(12)), "no part of the key either: \(text)")
                XCTAssertTrue(text.contains("[REDACTED]"), text)
            }
        }
    }

    func testRetryableStatusesAreRetriedUntilAnAnswerSucceeds() throws {
        for status in [408, 429, 500, 502, 503, 504] {
            let topic = try ScriptedTopic([status, status, 200])
            XCTAssertNil(outcome(try client(topic)), "\(status)")
            XCTAssertEqual(topic.requestCount, 3, "\(status)")
        }
        let accepted = try ScriptedTopic([204])
        XCTAssertNil(outcome(try client(accepted)))
    }

    func testFinalStatusesMapToTheirCodesWithoutRetrying() throws {
        let expected: [(Int, ToolboxError.Code)] = [
            (400, .badRequest), (401, .authorizationFailed), (403, .forbidden), (404, .resourceNotFound),
            (413, .requestTooLarge), (409, .serviceError), (302, .serviceError),
        ]
        for (status, code) in expected {
            let topic = try ScriptedTopic([status])
            let error = try XCTUnwrap(outcome(try client(topic)), "\(status)")
            XCTAssertEqual(error.code, code, "\(status)")
            XCTAssertEqual(error.serviceCondition?.httpStatus, status)
            XCTAssertEqual(error.serviceCondition?.errorCode, "Scripted\(status)")
            XCTAssertEqual(error.serviceCondition?.serviceMessage, "scripted answer \(status)")
            XCTAssertEqual(error.serviceCondition?.requestID, "req-0")
            XCTAssertEqual(topic.requestCount, 1, "\(status) is not retried")
        }
        let failing = try ScriptedTopic([503])
        let error = try XCTUnwrap(outcome(try client(failing, maxRetries: 4)))
        XCTAssertEqual(error.code, .serviceUnavailable)
        XCTAssertEqual(failing.requestCount, 5)
        let noRetries = try ScriptedTopic([503])
        XCTAssertEqual(outcome(try client(noRetries, maxRetries: 0))?.code, .serviceUnavailable)
        XCTAssertEqual(noRetries.requestCount, 1)
    }

    func testTaskCancellationCancelsAnAsyncPublishWaitingToRetry() async throws {
        let topic = try ScriptedTopic([503])
        let clock = ManualClock()
        var options = EventGridClientOptions()
        options.clock = clock
        let client = try EventGridClient(config: EventGridConfig(EventGridTopicConfig(name: "t", url: topic.url)),
                                         credential: .key(Secret("a2V5")), options: options)
        let task = Task {
            try await client.emitEvent(topic: "t", eventType: "t", subject: "s", data: .null)
        }
        let waitUntil = Date().addingTimeInterval(10)
        while clock.pendingJobCount == 0, Date() < waitUntil { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(clock.pendingJobCount, 1, "the retry was scheduled")
        task.cancel()
        let result = await task.result
        guard case .failure(let error) = result else { return XCTFail("not cancelled") }
        XCTAssertEqual((error as? ToolboxError)?.code, .cancelled)
        XCTAssertEqual(clock.pendingJobCount, 0)
        XCTAssertEqual(topic.requestCount, 1)
        await client.close()
        topic.server.close()
    }
}
