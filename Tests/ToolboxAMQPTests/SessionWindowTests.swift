import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// Issue 13 item 8, second half: the session's incoming window is enforced (AMQP 1.0 part 2, 2.5.6).
final class SessionWindowTests: XCTestCase {
    private let window: UInt32 = 8

    /// An open connection, a session with a small incoming window, and a receiver with plenty of link credit (so
    /// only the session window limits the peer), with the handle the broker addresses it by.
    private func receiver(_ broker: TestBroker, delivered: LockedValue<Int>)
        throws -> (AMQPConnection, AMQPSession, AMQPReceiver, UInt32) {
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil), logger: testLogger())
        try connection.open()
        let session = try connection.beginSession(configuration: AMQPSessionConfiguration(incomingWindow: window))
        let receiver = try session.attachReceiver(address: "q", options: AMQPReceiverOptions(credit: .manual)) { delivery in
            delivered.withLockedValue { $0 += 1 }
            delivery.accept()
        }
        receiver.addCredit(1000)
        let handle = connection.queue.sync { receiver.handle }
        try waitUntil("the credit reached the broker") {
            broker.sync { $0.receivedPerformatives.contains { if case .flow(let f) = $0 { f.linkCredit == 1000 } else { false } } }
        }
        return (connection, session, receiver, handle)
    }

    private func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        let deadline = Deadline.after(seconds: 10)
        while !condition() {
            if deadline.hasPassed { throw AMQPError(.timedOut, "never happened: \(what)") }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    private func sessionEnd(_ broker: TestBroker) -> AMQPRemoteError?? {
        broker.sync { $0.receivedPerformatives.lazy.compactMap { if case .end(let error) = $0 { error } else { nil } }.first }
    }

    /// A peer that floods transfers past the window it was given, without waiting for our flow, gets the session
    /// ended with `amqp:session:window-violation`, and what it sent past the window is not delivered. Before the
    /// fix the session reopened its window while it processed the flood, frame by frame, so every transfer moved
    /// the limit the next was judged against and the flood was delivered in full.
    func testAFloodPastTheIncomingWindowEndsTheSession() throws {
        let broker = TestBroker()
        let delivered = LockedValue(0)
        let (connection, _, receiver, handle) = try receiver(broker, delivered: delivered)
        defer { try? connection.close() }
        broker.sync { broker in
            broker.inOneWrite {
                for index in 0..<(3 * window) { broker.sendMessage(AMQPMessage(data: [UInt8(index)]).encode(), clientHandle: handle) }
            }
        }
        try waitUntil("the session ended") { sessionEnd(broker) != nil }
        XCTAssertEqual(sessionEnd(broker)??.condition, AMQPRemoteError.windowViolation)
        XCTAssertLessThanOrEqual(delivered.load(), Int(window), "transfers past the window were delivered")
        XCTAssertThrowsError(try receiver.drain(timeout: .seconds(1))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .limitExceeded, "\(error)")
        }
    }

    /// A peer that keeps to the window (a full window in one read, then waiting for our flow) is never refused,
    /// and the window reopens once per read however many transfers that read held.
    func testAPeerThatKeepsToTheWindowIsServed() throws {
        let broker = TestBroker()
        let delivered = LockedValue(0)
        let (connection, _, _, handle) = try receiver(broker, delivered: delivered)
        defer { try? connection.close() }
        for round in 1...4 {
            broker.sync { broker in
                broker.inOneWrite {
                    for _ in 0..<window { broker.sendMessage(AMQPMessage(data: [UInt8(round)]).encode(), clientHandle: handle) }
                }
            }
            let received = UInt32(round) * window
            try waitUntil("the window reopened after round \(round)") {
                broker.sync { $0.receivedPerformatives.contains {
                    if case .flow(let f) = $0 { f.handle == nil && f.nextIncomingID == received && f.incomingWindow == window } else { false }
                } }
            }
        }
        try waitUntil("every delivery arrived") { delivered.load() == 4 * Int(window) }
        XCTAssertTrue(sessionEnd(broker) == nil, "a peer within the window had its session ended")
    }
}
