import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// Issue 13 item 12: a result on its way to the callback queue already counts as delivered, so a deadline or a
/// cancellation arriving meanwhile cannot replace it (before: `isDone` stayed false until the queued block ran, and
/// on the concurrent default queue "timed out" could overtake "accepted").
final class CallbackRaceTests: XCTestCase {
    func testAResultOnItsWayIsDoneAndWinsOverALaterTimeout() {
        let delivery = DispatchQueue(label: "suspended-callbacks", attributes: .concurrent)
        delivery.suspend()
        let results = LockedValue<[String]>([])
        let done = expectation(description: "delivered")
        done.assertForOverFulfill = true
        let callback = Callback<Int>(delivery) { result in
            results.withLockedValue { $0.append((try? result.get()).map { "accepted \($0)" } ?? "failed") }
            done.fulfill()
        }
        callback(.success(1))
        XCTAssertTrue(callback.isDone, "a result already on its way must count as delivered")
        // What the sender's deadline does: checks isDone, then fails the callback.
        if !callback.isDone { callback(.failure(AMQPError(.timedOut, "no outcome before the deadline"))) }
        callback(.failure(AMQPError(.cancelled, "cancelled")))
        delivery.resume()
        wait(for: [done], timeout: 10)
        delivery.sync(flags: .barrier) {}
        XCTAssertEqual(results.load(), ["accepted 1"])
    }

    /// Many sends racing their deadlines on the concurrent default queue: each completes exactly once, and never
    /// with a time-out once its outcome arrived.
    func testSendOutcomesAndDeadlinesNeverBothArrive() throws {
        let broker = TestBroker()
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        defer { try? connection.close() }
        let sender = try connection.beginSession().attachSender(address: "q")
        let count = 2000
        let calls = LockedValue<[Int: Int]>([:])
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            // Deadlines spread around the time the outcomes come back.
            sender.send(AMQPMessage(data: [UInt8(index & 0xff)]),
                        deadline: .after(seconds: Double(index % 20) / 10_000)) { _ in
                calls.withLockedValue { $0[index, default: 0] += 1 }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        // A second completion would also have unbalanced the group (a crash).
        XCTAssertEqual(calls.load().count, count)
        XCTAssertTrue(calls.load().values.allSatisfy { $0 == 1 }, "a send completed twice")
    }
}
