import AzureClientsToolboxTesting
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
            /// Requests being answered right now, and the most there ever were at once.
            var current = 0
            var peak = 0
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
                    state.current += 1
                    state.peak = max(state.peak, state.current)
                    guard state.released || state.bodies.count > 1 else {
                        state.held = respond
                        return false
                    }
                    state.current -= 1
                    return true
                }
                if answerNow { respond(response) }
            }
            self.state = state
        }

        var url: String { "http://127.0.0.1:\(server.port)/api/events" }
        var requestCount: Int { state.withLockedValue { $0.bodies.count } }
        /// The most requests the topic was answering at once.
        var peakConcurrency: Int { state.withLockedValue { $0.peak } }

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
                if state.held != nil { state.current -= 1 }
                defer { state.held = nil }
                return state.held
            }
            held?(HTTPServerResponse(status: 200))
        }
    }

    private func client(_ topic: GatedTopic, maxEvents: Int = 1_000, maxWaiting: Int = 10_000,
                        clock: (any ToolboxClock)? = nil) throws -> EventGridClient {
        var options = EventGridClientOptions()
        options.retry.maxRetries = 0
        options.coalescing.isEnabled = true
        options.coalescing.maxRequestsInFlight = 1
        options.coalescing.maxEventsPerRequest = maxEvents
        options.coalescing.maxWaitingPublishes = maxWaiting
        if let clock { options.clock = clock }
        return try singleTopicClient(url: topic.url, server: topic.server, options: options)
    }

    private func event(_ subject: String) throws -> EventGridEvent {
        EventGridEvent(subject: subject, eventType: "Contoso.Test", data: try EventGridData(["s": subject]))
    }

    /// Publishes one event per subject; the first is sent at once and held by the topic, the rest wait.
    private func publish(_ subjects: [String], on client: EventGridClient, topic: GatedTopic,
                         timeout: Duration = .seconds(60)) throws -> [String: ResultBox<Void>]
    {
        var boxes: [String: ResultBox<Void>] = [:]
        for (index, subject) in subjects.enumerated() {
            let box = ResultBox<Void>()
            boxes[subject] = box
            client.send([try event(subject)], toTopic: "t", timeout: timeout, completion: box.handler)
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
        XCTAssertEqual(topic.subjects, [["a"], ["b", "bad", "d"], ["b"], ["bad"], ["d"]],
                       "the re-sends go one at a time through the only slot, in order")
        XCTAssertEqual(topic.peakConcurrency, 1)
    }

    func testContentRefusalResendsStayWithinMaxRequestsInFlight() throws {
        let topic = try GatedTopic()
        let client = try client(topic)
        let subjects = ["a"] + (0..<30).map { "s\($0)" } + ["bad"]
        let boxes = try publish(subjects, on: client, topic: topic)
        topic.release()
        for subject in subjects.dropLast() {
            guard case .success = try XCTUnwrap(boxes[subject]).wait().0 else { return XCTFail("\(subject) failed") }
        }
        guard case .failure = try XCTUnwrap(boxes["bad"]).wait().0 else { return XCTFail("the bad event must fail") }
        XCTAssertEqual(topic.subjects.count, 2 + 31)
        XCTAssertEqual(Array(topic.subjects.dropFirst(2)), subjects.dropFirst().map { [$0] })
        XCTAssertEqual(topic.peakConcurrency, 1, "never more requests at once than maxRequestsInFlight")
    }

    func testAWaitingPublishTimesOutAtItsOwnDeadlineAndTheOthersStillGo() throws {
        let clock = ManualClock()
        let topic = try GatedTopic()
        let client = try client(topic, clock: clock)
        var boxes = try publish(["a"], on: client, topic: topic)
        boxes.merge(try publish(["short"], on: client, topic: topic, timeout: .seconds(1))) { first, _ in first }
        boxes.merge(try publish(["b", "c"], on: client, topic: topic)) { first, _ in first }
        clock.advance(by: .seconds(3))
        guard case .failure(let error) = try XCTUnwrap(boxes["short"]).wait().0 else {
            return XCTFail("the 1 s publish must time out while it waits")
        }
        XCTAssertEqual(error.code, .timedOut)
        XCTAssertTrue(error.message.contains("not sent"), error.message)
        topic.release()
        for subject in ["a", "b", "c"] {
            let result = try XCTUnwrap(boxes[subject]).wait().0
            guard case .success = result else { return XCTFail("\(subject): \(String(describing: result))") }
        }
        XCTAssertEqual(topic.subjects, [["a"], ["b", "c"]], "the expired publish is not sent, nor shortens the rest")
    }

    func testPublishesPastMaxWaitingFailAtOnceAndFinishedOnesFreeTheirPlace() throws {
        let topic = try GatedTopic()
        let client = try client(topic, maxWaiting: 2)
        let a = try XCTUnwrap(try publish(["a"], on: client, topic: topic)["a"])
        let b = ResultBox<Void>(), c = ResultBox<Void>(), d = ResultBox<Void>(), e = ResultBox<Void>()
        let bHandle = client.send([try event("b")], toTopic: "t", completion: b.handler)
        client.send([try event("c")], toTopic: "t", completion: c.handler)
        client.send([try event("d")], toTopic: "t", completion: d.handler)
        guard case .failure(let error) = d.wait().0 else { return XCTFail("d must be refused: 2 already wait") }
        XCTAssertEqual(error.code, .poolExhausted)
        XCTAssertTrue(error.message.contains("maxWaitingPublishes"), error.message)
        bHandle.cancel()
        guard case .failure(let cancelled) = b.wait().0 else { return XCTFail("b was cancelled") }
        XCTAssertEqual(cancelled.code, .cancelled)
        client.send([try event("e")], toTopic: "t", completion: e.handler)
        topic.release()
        for (subject, box) in [("a", a), ("c", c), ("e", e)] {
            let result = box.wait().0
            guard case .success = result else { return XCTFail("\(subject): \(String(describing: result))") }
        }
        XCTAssertEqual(topic.subjects, [["a"], ["c", "e"]])
    }

    func testCancellingALonePublishAbortsItsRequestAndFreesTheSlot() throws {
        let topic = try GatedTopic()
        let client = try client(topic)
        let a = ResultBox<Void>()
        let handle = client.send([try event("a")], toTopic: "t", completion: a.handler)
        waitUntil("a reaches the topic") { topic.requestCount == 1 }
        handle.cancel()
        guard case .failure(let error) = a.wait().0 else { return XCTFail("a was cancelled") }
        XCTAssertEqual(error.code, .cancelled)
        // The topic never answers a; b still goes, because a's request was aborted and its slot freed.
        let b = ResultBox<Void>()
        client.send([try event("b")], toTopic: "t", completion: b.handler)
        guard case .success = b.wait().0 else { return XCTFail("b must be sent once a's request is aborted") }
        XCTAssertEqual(topic.subjects, [["a"], ["b"]])
    }
}
