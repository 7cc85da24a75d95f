import Dispatch
import Foundation
import ToolboxCore
import XCTest

@_spi(Testing) @testable import ToolboxAMQP

/// The request/response link's one time-out timer: set for the earliest pending request, moved earlier by a
/// request with a shorter time-out, failing only the requests whose time is up.
final class RequestTimeoutTests: XCTestCase {
    /// An open connection to `broker` (no idle time-out) and a session on it.
    private func openSession(to broker: TestBroker) throws -> (AMQPConnection, AMQPSession) {
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        return (connection, try connection.beginSession())
    }

    func testShorterTimeoutExpiresFirstAndOthersLiveOn() throws {
        let broker = TestBroker()
        let swallowed = LockedValue(0)
        broker.hook = { performative, _, _ in
            guard case .transfer = performative else { return false }
            // The first two requests get no answer; later ones are answered.
            return swallowed.withLockedValue { $0 += 1; return $0 <= 2 }
        }
        let (_, session) = try openSession(to: broker)
        let link = try AMQPRequestResponseLink.attach(session: session, address: "$management")

        let long = LockedValue<Result<AMQPMessage, AMQPError>?>(nil)
        let longDone = expectation(description: "long request ends")
        link.request(AMQPMessage(value: .int(1)), timeout: .seconds(600)) { result in
            long.withLockedValue { $0 = result }
            longDone.fulfill()
        }
        // Sent after the long one, due long before it: the timer must move earlier for it.
        XCTAssertThrowsError(try link.request(AMQPMessage(value: .int(2)), timeout: .milliseconds(200))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .timedOut)
        }
        XCTAssertNil(long.load(), "only the request whose time was up may fail")
        let answer = try link.request(AMQPMessage(value: .int(3)), timeout: .seconds(30))
        XCTAssertEqual(answer.body, .value(.int(3)), "the broker echoes the request's body")
        XCTAssertNil(long.load())

        let closed = expectation(description: "closed")
        link.close { _ in closed.fulfill() }
        wait(for: [closed, longDone], timeout: 20)
        guard case .failure(let error)? = long.load() else { return XCTFail("the long request must fail on close") }
        XCTAssertEqual(error.code, .linkDetached)
    }

    /// A request the peer accepted but never answers fails as soon as the pair ends (the peer detaches the response
    /// link, or the connection drops) with that reason — not at its time-out, ten minutes away here — whether its
    /// completion goes to another queue or runs inline on the connection's; the surviving half is detached.
    func testPendingRequestsFailWhenThePairEndsNotAtTheirTimeout() throws {
        for ending in ["detach", "drop"] {
            for inline in [false, true] {
                try checkPendingRequestFails(ending: ending, completionOnConnectionQueue: inline)
            }
        }
    }

    private func checkPendingRequestFails(ending: String, completionOnConnectionQueue: Bool) throws {
        let label = "\(ending), completion on the connection's queue: \(completionOnConnectionQueue)"
        let broker = TestBroker()
        let taken = expectation(description: "request taken (\(label))")
        let takenOnce = LockedValue(false)
        broker.hook = { performative, _, broker in
            guard case .transfer(let transfer) = performative, let id = transfer.deliveryID else { return false }
            broker.sendRangedDisposition(first: id, last: id)  // accepted and settled, never answered
            if !takenOnce.withLockedValue({ seen in defer { seen = true }; return seen }) { taken.fulfill() }
            return true
        }
        let (connection, session) = try openSession(to: broker)
        let link = try AMQPRequestResponseLink.attach(session: session, address: "$management")
        let outcome = LockedValue<Result<AMQPMessage, AMQPError>?>(nil)
        let done = expectation(description: "request ends (\(label))")
        let queue = completionOnConnectionQueue ? session.queue : LibraryQueues.defaultCallbackQueue
        link.request(AMQPMessage(value: .int(1)), timeout: .seconds(600), queue: queue) { result in
            outcome.withLockedValue { $0 = result }
            done.fulfill()
        }
        wait(for: [taken], timeout: 10)
        XCTAssertNil(outcome.load(), "accepted, not answered: still pending (\(label))")
        if ending == "detach" {
            broker.sync { $0.detachClientReceivers(error: AMQPRemoteError(condition: "amqp:internal-error",
                                                                          description: "node gone")) }
        } else {
            broker.sync { $0.transport?.drop() }
        }
        wait(for: [done], timeout: 10)
        guard case .failure(let error)? = outcome.load() else {
            return XCTFail("the pending request must fail when the pair ends (\(label))")
        }
        XCTAssertNotEqual(error.code, .timedOut, "\(label): \(error)")
        if ending == "detach" {
            XCTAssertEqual(error.remote?.condition.rawValue, "amqp:internal-error", "\(error)")
            // The sender, still attached when its partner ended, is detached too: the broker holds no link of ours.
            var attached = broker.sync { $0.linkCount }
            for _ in 0..<500 where attached > 0 {
                usleep(20_000)
                attached = broker.sync { $0.linkCount }
            }
            XCTAssertEqual(attached, 0, "the surviving sender was never detached")
        }
        XCTAssertTrue(link.hasEnded, label)
        // Later requests on the ended pair fail at once, with the same reason (not `.timedOut` after 20 s).
        XCTAssertThrowsError(try link.request(AMQPMessage(value: .int(2)), timeout: .seconds(20))) { later in
            XCTAssertEqual((later as? AMQPError)?.code, error.code, "\(label): \(later)")
        }
        connection.close(queue: LibraryQueues.ignoredCompletions) { _ in }
    }

    /// A completion asked for on the connection's own queue (as the clients' management and CBS requests ask) runs
    /// there, with the response, the request's failure or the pair's end alike.
    func testACompletionAskedForOnTheConnectionsQueueRunsThere() throws {
        let broker = TestBroker()
        let (connection, session) = try openSession(to: broker)
        let link = try AMQPRequestResponseLink.attach(session: session, address: "$management")
        let queue = session.queue
        let answered = expectation(description: "answered")
        link.request(AMQPMessage(value: .int(7)), timeout: .seconds(30), queue: queue) { result in
            dispatchPrecondition(condition: .onQueue(queue))
            XCTAssertEqual(try? result.get().body, .value(.int(7)), "the broker echoes the body")
            answered.fulfill()
        }
        wait(for: [answered], timeout: 10)
        let failed = expectation(description: "failed on close")
        broker.sync {
            $0.hook = { performative, _, _ in
                if case .transfer = performative { return true }  // swallowed: no outcome, no answer
                return false
            }
        }
        link.request(AMQPMessage(value: .int(8)), timeout: .seconds(600), queue: queue) { result in
            dispatchPrecondition(condition: .onQueue(queue))
            guard case .failure(let error) = result else { return XCTFail("no answer can come: \(result)") }
            XCTAssertEqual(error.code, .linkDetached)
            failed.fulfill()
        }
        link.close { _ in }
        wait(for: [failed], timeout: 10)
        connection.close(queue: LibraryQueues.ignoredCompletions) { _ in }
    }
}
