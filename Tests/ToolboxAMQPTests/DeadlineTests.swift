import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

final class DeadlineTests: XCTestCase {
    func open(_ broker: TestBroker) throws -> AMQPConnection {
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        return connection
    }

    func testSendWithoutCreditTimesOutAndIsNeverTransferred() throws {
        let broker = TestBroker()
        broker.creditPerLink = 0
        let sender = try open(broker).beginSession().attachSender(address: "q")
        XCTAssertThrowsError(try sender.send(AMQPMessage(data: [1]), timeout: .seconds(0.1))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .timedOut)
        }
        // Cancelling a queued send fails it with .cancelled.
        let cancelled = expectation(description: "cancelled")
        let handle = sender.send(AMQPMessage(data: [2])) { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .cancelled) } else { XCTFail("\(result)") }
            cancelled.fulfill()
        }
        handle.cancel()
        wait(for: [cancelled], timeout: 10)
        // Credit arrives later: nothing abandoned is sent, a new message is.
        broker.sync { broker in
            broker.creditPerLink = 10
            broker.grantCredit(clientHandle: 0, 10)
        }
        XCTAssertEqual(try sender.send(AMQPMessage(data: [3])), .accepted)
        let bodies = broker.sync { $0.queues["q"] ?? [] }.compactMap { try? AMQPMessage.decode($0).dataBody }
        XCTAssertEqual(bodies, [[3]])
    }

    /// A send whose deadline passed before the link got to it is never transferred: whoever set the deadline has
    /// given up (a messaging try that timed out and retried), so sending it now would make a duplicate.
    func testASendWhoseDeadlineAlreadyPassedIsNeverTransferred() throws {
        let broker = TestBroker()
        let sender = try open(broker).beginSession().attachSender(address: "q")
        let failed = expectation(description: "failed")
        sender.send(AMQPMessage(data: [1]), deadline: Deadline(MonotonicInstant.now().advanced(bySeconds: -1))) { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .timedOut) } else { XCTFail("\(result)") }
            failed.fulfill()
        }
        wait(for: [failed], timeout: 10)
        XCTAssertEqual(try sender.send(AMQPMessage(data: [2])), .accepted)
        let bodies = broker.sync { $0.queues["q"] ?? [] }.compactMap { try? AMQPMessage.decode($0).dataBody }
        XCTAssertEqual(bodies, [[2]])
    }

    func testAttachAndBeginDeadlines() throws {
        let broker = TestBroker()
        broker.hook = { performative, _, _ in
            if case .attach(let attach) = performative, attach.target?.address == "silent" { return true }
            return false
        }
        let connection = try open(broker)
        let session = try connection.beginSession()
        XCTAssertThrowsError(try session.attachSender(address: "silent", timeout: .seconds(0.1))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .timedOut)
        }
        // The abandoned link is detached so the peer does not keep it.
        let deadline = Deadline.after(seconds: 10)
        while !broker.sync({ $0.receivedPerformatives.contains { if case .detach = $0 { true } else { false } } }), !deadline.hasPassed {
            Thread.sleep(forTimeInterval: 0.01)
        }
        XCTAssertTrue(broker.sync { $0.receivedPerformatives.contains { if case .detach = $0 { true } else { false } } })

        let silentBegin = TestBroker()
        silentBegin.hook = { performative, _, _ in if case .begin = performative { return true } else { return false } }
        XCTAssertThrowsError(try open(silentBegin).beginSession(timeout: .seconds(0.1))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .timedOut)
        }
        let receiverBroker = TestBroker()
        receiverBroker.hook = { performative, _, _ in if case .attach = performative { return true } else { return false } }
        let quietSession = try open(receiverBroker).beginSession()
        let cancelled = expectation(description: "attach cancelled")
        let handle = quietSession.attachReceiver(address: "q", onMessage: { _ in }) { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .cancelled) } else { XCTFail("\(result)") }
            cancelled.fulfill()
        }
        handle.cancel()
        wait(for: [cancelled], timeout: 10)
    }
}
