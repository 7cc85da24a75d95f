import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// Issue 13 item 8: flow control is enforced on receipt, and a sender's queue is bounded.
final class FlowControlEnforcementTests: XCTestCase {
    private func open(_ broker: TestBroker) throws -> AMQPConnection {
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil), logger: testLogger())
        try connection.open()
        return connection
    }

    /// A peer that ignores credit: deliveries past every credit we granted (two grants' overshoot is tolerated)
    /// detach the link with `amqp:link:transfer-limit-exceeded` instead of being buffered (before: the credit was
    /// floored at zero and everything the peer sent was delivered).
    func testAPeerThatIgnoresCreditGetsTheLinkDetached() throws {
        let broker = TestBroker()
        let connection = try open(broker)
        defer { try? connection.close() }
        let session = try connection.beginSession()
        let delivered = LockedValue(0)
        let receiver = try session.attachReceiver(address: "q", options: AMQPReceiverOptions(credit: .manual)) { delivery in
            delivered.withLockedValue { $0 += 1 }
            delivery.accept()
        }
        receiver.addCredit(2)
        let handle = connection.queue.sync { receiver.handle }
        let eventuallyFlowed = Deadline.after(seconds: 10)
        while broker.sync({ $0.receivedPerformatives.contains { if case .flow(let f) = $0 { f.linkCredit == 2 } else { false } } }) == false,
              !eventuallyFlowed.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        broker.sync { broker in
            for index in 0..<20 { broker.sendMessage(AMQPMessage(data: [UInt8(index)]).encode(), clientHandle: handle) }
        }
        let deadline = Deadline.after(seconds: 10)
        var detach: AMQPDetach?
        while detach == nil, !deadline.hasPassed {
            detach = broker.sync { $0.receivedPerformatives.lazy.compactMap { if case .detach(let d) = $0 { d } else { nil } }.first }
            if detach == nil { Thread.sleep(forTimeInterval: 0.01) }
        }
        XCTAssertEqual(detach?.error?.condition, AMQPRemoteError.transferLimitExceeded)
        XCTAssertLessThanOrEqual(delivered.load(), 6, "deliveries past the credit (and its tolerance) were delivered")
        XCTAssertThrowsError(try receiver.drain(timeout: .seconds(1)))
    }

    /// A peer sending the same delivery-id again while that delivery is unsettled (the same transfer twice) is a
    /// protocol violation: the message is handed out once, never twice (`toolbox amqp receive` printed it twice).
    func testADeliveryIDSentAgainWhileUnsettledIsAProtocolViolation() throws {
        let broker = TestBroker()
        let connection = try open(broker)
        defer { try? connection.close() }
        let session = try connection.beginSession()
        let delivered = LockedValue(0)
        let receiver = try session.attachReceiver(address: "q", options: AMQPReceiverOptions(credit: .manual)) { _ in
            delivered.withLockedValue { $0 += 1 }  // left unsettled
        }
        receiver.addCredit(5)
        let handle = connection.queue.sync { receiver.handle }
        let flowed = Deadline.after(seconds: 10)
        while broker.sync({ $0.receivedPerformatives.contains { if case .flow(let f) = $0 { f.linkCredit == 5 } else { false } } }) == false,
              !flowed.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        broker.sync { broker in
            broker.sendMessage(AMQPMessage(data: [1]).encode(), clientHandle: handle)
            broker.nextDeliveryID = 0
            broker.sendMessage(AMQPMessage(data: [1]).encode(), clientHandle: handle)
        }
        let deadline = Deadline.after(seconds: 10)
        var ended = false
        while !ended, !deadline.hasPassed {
            ended = broker.sync { $0.receivedPerformatives.contains { performative in
                switch performative {
                case .close(let error): error != nil
                case .end(let error): error != nil
                case .detach(let detach): detach.error != nil
                default: false
                }
            } }
            if !ended { Thread.sleep(forTimeInterval: 0.01) }
        }
        XCTAssertTrue(ended, "the client ended the link, session or connection with an error")
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(delivered.load(), 1, "the repeated transfer was not handed out")
    }

    /// A message the receiver cannot decode ends its link, and `endError` says why from any thread (`toolbox amqp
    /// receive` printed only "received 0 of 1" and waited out its time-out).
    func testALinkEndedByAnUndecodableMessageSaysWhy() throws {
        let broker = TestBroker()
        let connection = try open(broker)
        defer { try? connection.close() }
        let session = try connection.beginSession()
        let receiver = try session.attachReceiver(address: "q", options: AMQPReceiverOptions(credit: .manual)) { _ in }
        XCTAssertNil(receiver.endError)
        receiver.addCredit(1)
        let handle = connection.queue.sync { receiver.handle }
        let flowed = Deadline.after(seconds: 10)
        while broker.sync({ $0.receivedPerformatives.contains { if case .flow(let f) = $0 { f.linkCredit == 1 } else { false } } }) == false,
              !flowed.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        broker.sync { $0.sendMessage([0x00, 0x53, 0x75, 0xA0, 0xFF], clientHandle: handle) }  // data section, length past the end
        // Once the broker has our detach it answers it ("detached"): the reason must survive that answer.
        let deadline = Deadline.after(seconds: 10)
        while broker.sync({ $0.receivedPerformatives.contains { if case .detach = $0 { true } else { false } } }) == false,
              !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        // Its answer crosses the in-memory transport to the connection's queue: give it that turn, then read.
        broker.sync { _ in }
        Thread.sleep(forTimeInterval: 0.2)
        connection.queue.sync {}
        let error = try XCTUnwrap(receiver.endError)
        XCTAssertEqual(error.code, .decoding, "\(error)")
        XCTAssertTrue("\(error)".contains("could not decode delivery"), "\(error)")
    }

    /// A sender whose peer grants no credit fails sends beyond `maxPendingBytes` at once (back-pressure) instead of
    /// queueing without bound; a send that fits still waits (and times out here, no credit ever comes).
    func testTheSendersQueueIsBounded() throws {
        let broker = TestBroker()
        broker.creditPerLink = 0
        var options = AMQPSenderOptions()
        options.maxPendingBytes = 1000
        let sender = try open(broker).beginSession().attachSender(address: "q", options: options)
        let first = expectation(description: "first send ends")
        sender.send(AMQPMessage(data: [UInt8](repeating: 1, count: 600)), deadline: .after(seconds: 2)) { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .timedOut, "\(error)") }
            first.fulfill()
        }
        XCTAssertThrowsError(try sender.send(AMQPMessage(data: [UInt8](repeating: 2, count: 600)), timeout: .seconds(5))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .limitExceeded, "\(error)")
            XCTAssertTrue("\(error)".contains("wait for link credit"), "\(error)")
        }
        wait(for: [first], timeout: 10)
        // Once the waiting message gave up, its bytes no longer count.
        XCTAssertThrowsError(try sender.send(AMQPMessage(data: [UInt8](repeating: 3, count: 600)), timeout: .seconds(0.2))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .timedOut, "\(error)")
        }
    }
}

/// The peer's description as errors carry it: echoed tokens blanked and cut to 1,024 bytes, in the condition's
/// description and in the error built from it (a 60 KB `rejected` description was printed whole).
final class PeerDescriptionTests: XCTestCase {
    func testAPeersDescriptionIsRedactedAndCutWhereverErrorsShowIt() {
        let description = "token SharedAccessSignature sr=x&sig=SECRETSIG%3D&se=1 " + String(repeating: "z", count: 60_000)
        let remote = AMQPRemoteError(condition: AMQPRemoteError.unauthorizedAccess, description: description)
        let error = AMQPError(.requestFailed, "sending failed", remote: remote)
        for text in ["\(remote)", "\(error)", error.serviceCondition?.serviceMessage ?? ""] {
            XCTAssertFalse(text.contains("SECRETSIG"), text.prefix(200) + "")
            XCTAssertLessThan(text.utf8.count, 1_300, "cut short")
        }
        XCTAssertEqual(remote.errorDescription, description, "the condition itself keeps the peer's full text")
    }
}
