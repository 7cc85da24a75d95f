import AzureEventGrid
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer
import XCTest

/// `EventGridClientOptions.coalescing`: publishes made while the request slots are busy go together as one
/// request, and every caller still gets its own result.
final class EventGridCoalescingTests: XCTestCase {
    /// A topic that records every request body and holds the first answer until `release()`; it refuses (400)
    /// any request carrying an event whose subject is "bad".
    private final class GatedTopic: Sendable {
        private struct State {
            var bodies: [[UInt8]] = []
            var held: (@Sendable (HTTPServerResponse) -> Void)?
            var released = false
        }

        let server: HTTPServer
        private let state: LockedValue<State>

        init(refusalStatus: Int = 400) throws {
            let state = LockedValue(State())
            server = try HTTPServer { request, respond in
                let bad = String(decoding: request.body, as: UTF8.self).contains(#""subject": "bad""#)
                let response = bad
                    ? HTTPServerResponse(status: refusalStatus, headers: ["Content-Type": "application/json"],
                                         text: #"{"error":{"code":"BadRequest","message":"event 'bad' refused"}}"#)
                    : HTTPServerResponse(status: 200)
                let answerNow: Bool = state.withLockedValue { state in
                    state.bodies.append(request.body)
                    guard state.released || state.bodies.count > 1 else {
                        state.held = respond
                        return false
                    }
                    return true
                }
                if answerNow { respond(response) }
            }
            self.state = state
        }

        var url: String { "http://127.0.0.1:\(server.port)/api/events" }
        var requestCount: Int { state.withLockedValue { $0.bodies.count } }

        /// The subjects of each request's events, in order.
        var subjects: [[String]] {
            state.withLockedValue { $0.bodies }.map { body in
                let array = (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] ?? []
                return array.map { $0["subject"] as? String ?? "?" }
            }
        }

        func release() {
            let held: (@Sendable (HTTPServerResponse) -> Void)? = state.withLockedValue { state in
                state.released = true
                defer { state.held = nil }
                return state.held
            }
            held?(HTTPServerResponse(status: 200))
        }
    }

    private func client(_ topic: GatedTopic, maxEvents: Int = 1_000) throws -> EventGridClient {
        var options = EventGridClientOptions()
        options.retry.maxRetries = 0
        options.coalescing.isEnabled = true
        options.coalescing.maxRequestsInFlight = 1
        options.coalescing.maxEventsPerRequest = maxEvents
        return try singleTopicClient(url: topic.url, server: topic.server, options: options)
    }

    private func event(_ subject: String) throws -> EventGridEvent {
        EventGridEvent(subject: subject, eventType: "Contoso.Test", data: try EventGridData(["s": subject]))
    }

    /// Publishes one event per subject; the first is sent at once and held by the topic, the rest wait.
    private func publish(_ subjects: [String], on client: EventGridClient, topic: GatedTopic)
        throws -> [String: ResultBox<Void>]
    {
        var boxes: [String: ResultBox<Void>] = [:]
        for (index, subject) in subjects.enumerated() {
            let box = ResultBox<Void>()
            boxes[subject] = box
            client.send([try event(subject)], toTopic: "t", completion: box.handler)
            if index == 0 { waitUntil("the first publish reaches the topic") { topic.requestCount == 1 } }
        }
        return boxes
    }

    func testPublishesWaitingForTheSlotGoAsOneRequestAndEachCallerSucceeds() throws {
        let topic = try GatedTopic()
        let client = try client(topic)
        let boxes = try publish(["a", "b", "c", "d"], on: client, topic: topic)
        XCTAssertEqual(topic.requestCount, 1, "the others wait while the only slot is busy")
        topic.release()
        for subject in ["a", "b", "c", "d"] {
            let (result, count) = try XCTUnwrap(boxes[subject]).wait()
            guard case .success = result else { return XCTFail("\(subject): \(String(describing: result))") }
            XCTAssertEqual(count, 1)
        }
        XCTAssertEqual(topic.subjects, [["a"], ["b", "c", "d"]])
    }

    func testTheEventCapSplitsWaitingPublishesAndACancelledOneIsNotSent() throws {
        let topic = try GatedTopic()
        let client = try client(topic, maxEvents: 2)
        var boxes = try publish(["a", "b"], on: client, topic: topic)
        let cancelled = ResultBox<Void>()
        let handle = client.send([try event("x")], toTopic: "t", completion: cancelled.handler)
        boxes.merge(try publish(["c", "d"], on: client, topic: topic)) { first, _ in first }
        handle.cancel()
        topic.release()
        if case .failure(let error) = cancelled.wait().0 {
            XCTAssertEqual(error.code, .cancelled)
        } else {
            XCTFail("the cancelled publish must fail with .cancelled")
        }
        for subject in ["a", "b", "c", "d"] {
            guard case .success = try XCTUnwrap(boxes[subject]).wait().0 else { return XCTFail("\(subject) failed") }
        }
        XCTAssertEqual(topic.subjects, [["a"], ["b", "c"], ["d"]])
    }

    func testAMergedRequestRefusedForItsContentIsResentPublishByPublish() throws {
        let topic = try GatedTopic()
        let client = try client(topic)
        let boxes = try publish(["a", "b", "bad", "d"], on: client, topic: topic)
        topic.release()
        for subject in ["a", "b", "d"] {
            guard case .success = try XCTUnwrap(boxes[subject]).wait().0 else { return XCTFail("\(subject) failed") }
        }
        guard case .failure(let error) = try XCTUnwrap(boxes["bad"]).wait().0 else {
            return XCTFail("the bad event must fail")
        }
        XCTAssertEqual(error.code, .badRequest)
        XCTAssertEqual(error.serviceCondition?.httpStatus, 400)
        XCTAssertEqual(topic.subjects.first, ["a"])
        XCTAssertEqual(topic.subjects.dropFirst().first, ["b", "bad", "d"])
        XCTAssertEqual(Set(topic.subjects.dropFirst(2)), [["b"], ["bad"], ["d"]])
    }

    func testOtherFailuresOfAMergedRequestReachEveryCallerInIt() throws {
        let topic = try GatedTopic(refusalStatus: 401)
        let client = try client(topic)
        let boxes = try publish(["a", "bad", "c"], on: client, topic: topic)
        topic.release()
        guard case .success = try XCTUnwrap(boxes["a"]).wait().0 else { return XCTFail("a failed") }
        for subject in ["bad", "c"] {
            guard case .failure(let error) = try XCTUnwrap(boxes[subject]).wait().0 else {
                return XCTFail("\(subject) must fail with its request")
            }
            XCTAssertEqual(error.code, .authorizationFailed)
            XCTAssertTrue(error.message.contains("merged"), error.message)
        }
        XCTAssertEqual(topic.subjects, [["a"], ["bad", "c"]], "not re-sent: nothing in the request was at fault")
    }
}
