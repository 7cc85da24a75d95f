import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

final class ConnectionTests: XCTestCase {
    func open(_ broker: TestBroker, _ configuration: AMQPConnectionConfiguration = .init(idleTimeout: nil)) throws -> AMQPConnection {
        let connection = AMQPConnection(transport: PipeTransport(broker: broker), configuration: configuration,
                                        logger: testLogger())
        try connection.open()
        return connection
    }

    /// Polls `condition` on the broker's queue until true; fails after `timeout`.
    func eventually(_ broker: TestBroker, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line,
                    _ condition: @escaping (TestBroker) -> Bool) {
        let deadline = Deadline.after(seconds: timeout)
        while !deadline.hasPassed {
            if broker.sync(condition) { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
        XCTFail("condition not met within \(timeout)s", file: file, line: line)
    }

    func testOpenNegotiatesFrameSizeChannelMaxAndSASL() throws {
        let broker = TestBroker()
        broker.maxFrameSize = 1024
        let connection = try open(broker, AMQPConnectionConfiguration(
            containerID: "c1", hostname: "localhost", sasl: .plain(username: "user", password: Secret("secret")),
            maxFrameSize: 4096, channelMax: 100, idleTimeout: nil))
        XCTAssertEqual(connection.queue.sync { connection.peerMaxFrameSize }, 1024)
        let open = try XCTUnwrap(broker.sync { $0.clientOpen })
        XCTAssertEqual(open.containerID, "c1")
        XCTAssertEqual(open.maxFrameSize, 4096)
        XCTAssertEqual(open.channelMax, 100)
        XCTAssertEqual(open.hostname, "localhost")
        XCTAssertEqual(broker.sync { $0.saslInit?.0 }, "PLAIN")
        XCTAssertEqual(broker.sync { $0.saslInit?.1 }, [0] + Array("user".utf8) + [0] + Array("secret".utf8))
        // The broker allows channels 0...7: an eighth and ninth session still fit, the ninth does not.
        for _ in 0..<8 { _ = try connection.beginSession() }
        XCTAssertThrowsError(try connection.beginSession()) { XCTAssertEqual(($0 as? AMQPError)?.code, .limitExceeded) }
        try connection.close()
        XCTAssertTrue(broker.sync { $0.receivedPerformatives.contains(.close(nil)) })
    }

    func testSASLFailuresAreTypedAndHidePasswords() throws {
        let broker = TestBroker()
        let wrong = AMQPConnection(transport: PipeTransport(broker: broker), configuration: AMQPConnectionConfiguration(
            sasl: .plain(username: "user", password: Secret("hunter2")), idleTimeout: nil))
        XCTAssertThrowsError(try wrong.open()) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .authentication)
            XCTAssertFalse("\(error)".contains("hunter2"))
        }
        let external = AMQPConnection(transport: PipeTransport(broker: TestBroker()),
                                      configuration: AMQPConnectionConfiguration(sasl: .external, idleTimeout: nil))
        XCTAssertThrowsError(try external.open()) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .authentication)
            XCTAssertTrue("\(error)".contains("EXTERNAL"))
        }
        XCTAssertFalse("\(AMQPSASLMechanism.plain(username: "u", password: Secret("hunter2")))".contains("hunter2"))
        let noSASL = try open(TestBroker(), AMQPConnectionConfiguration(sasl: .none, idleTimeout: nil))
        try noSASL.close()
    }

    func testHeartbeatsFlowBothWaysAndKeepTheConnectionAlive() throws {
        let broker = TestBroker()
        broker.idleTimeOut = 200  // ms: we must send something at least every 100 ms
        let opened = MonotonicInstant.now()
        let connection = try open(broker, AMQPConnectionConfiguration(idleTimeout: .seconds(0.6)))
        eventually(broker) { $0.heartbeatsReceived >= 5 }
        // The broker heartbeats at half our 600 ms time-out, so the connection is still open after several of them.
        Thread.sleep(forTimeInterval: max(0, 2 - MonotonicInstant.now().seconds(since: opened)))
        let session = try connection.beginSession()
        try session.end()
        try connection.close()
    }

    func testIdleTimeOutFailsTheConnectionWithATypedError() throws {
        let broker = TestBroker()
        broker.sendHeartbeats = false
        let connection = try open(broker, AMQPConnectionConfiguration(idleTimeout: .seconds(0.1)))
        let closed = expectation(description: "closed")
        connection.onClose { error in
            XCTAssertEqual(error?.code, .timedOut)
            closed.fulfill()
        }
        wait(for: [closed], timeout: 10)
        eventually(broker) { broker in
            broker.receivedPerformatives.contains { if case .close(let e) = $0 { e?.condition == AMQPRemoteError.resourceLimitExceeded } else { false } }
        }
    }

    func testMultiFrameTransfersBothWaysAtThePeersFrameSize() throws {
        let broker = TestBroker()
        broker.maxFrameSize = 512
        let connection = try open(broker, AMQPConnectionConfiguration(maxFrameSize: 600, idleTimeout: nil))
        let session = try connection.beginSession()
        let sender = try session.attachSender(address: "q")
        let body = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        XCTAssertEqual(try sender.send(AMQPMessage(data: body)), .accepted)
        let transfers = broker.sync { $0.received.filter { if case .amqp(_, .transfer, _) = $0 { true } else { false } } }
        XCTAssertGreaterThan(transfers.count, 190)
        for frame in transfers { XCTAssertLessThanOrEqual(frame.encode().count, 512) }
        let inbox = Inbox()
        _ = try session.attachReceiver(address: "q") { delivery in
            delivery.accept()
            inbox.add(delivery)
        }
        inbox.wait(for: 1)
        XCTAssertEqual(inbox.items.load().first?.message.dataBody, body)
        XCTAssertEqual(inbox.items.load().first?.size, AMQPMessage(data: body).encode().count)
        eventually(broker) { $0.outcomes == [.accepted] }
    }

    func testDrainWithOutstandingCreditAndManualCredit() throws {
        let broker = TestBroker()
        broker.queues["q"] = [AMQPMessage(data: [1]).encode(), AMQPMessage(data: [2]).encode()]
        let connection = try open(broker)
        let session = try connection.beginSession()
        let inbox = Inbox()
        let receiver = try session.attachReceiver(address: "q", options: AMQPReceiverOptions(credit: .manual)) { delivery in
            delivery.release()
            inbox.add(delivery)
        }
        XCTAssertEqual(inbox.count, 0)
        receiver.addCredit(5)
        inbox.wait(for: 2)
        try receiver.drain()
        XCTAssertEqual(connection.queue.sync { receiver.linkCredit }, 0)
        XCTAssertEqual(connection.queue.sync { receiver.deliveryCount }, 5)
        let drainFlows = broker.sync { $0.receivedPerformatives.filter { if case .flow(let f) = $0 { f.drain } else { false } } }
        XCTAssertEqual(drainFlows.count, 1)
        eventually(broker) { $0.outcomes == [.released, .released] }
    }

    func testReceiverSettleModeSecondWaitsForTheSendersSettlement() throws {
        let broker = TestBroker()
        broker.queues["q"] = [AMQPMessage(value: "x").encode()]
        let connection = try open(broker)
        let session = try connection.beginSession()
        let settled = expectation(description: "settled")
        let options = AMQPReceiverOptions(receiverSettleMode: .second)
        _ = try session.attachReceiver(address: "q", options: options) { delivery in
            delivery.accept { result in
                if case .failure(let error) = result { XCTFail("\(error)") }
                settled.fulfill()
            }
        }
        wait(for: [settled], timeout: 10)
        let dispositions = broker.sync { $0.receivedPerformatives.compactMap { if case .disposition(let d) = $0 { d } else { nil } } }
        XCTAssertEqual(dispositions.map(\.settled), [false])
    }

    /// A link attached after the peer closed the connection with `amqp:connection:forced` fails with the peer's
    /// reason (it said only "the session ended before the link could attach").
    func testALinkAttachedAfterAForcedCloseSaysWhy() throws {
        let broker = TestBroker()
        let connection = try open(broker)
        let session = try connection.beginSession()
        let closed = expectation(description: "closed")
        connection.onClose { _ in closed.fulfill() }
        broker.sync { broker in
            broker.send(.amqp(0, .close(AMQPRemoteError(condition: AMQPRemoteError.connectionForced,
                                                        description: "the namespace is being upgraded"))))
        }
        wait(for: [closed], timeout: 10)
        XCTAssertThrowsError(try session.attachSender(address: "q")) { error in
            let shown = "\(error)"
            XCTAssertTrue(shown.contains("before the link could attach"), shown)
            XCTAssertTrue(shown.contains("amqp:connection:forced"), shown)
            XCTAssertTrue(shown.contains("the namespace is being upgraded"), shown)
            XCTAssertEqual((error as? AMQPError)?.recovery, .rebuildConnection, shown)
        }
    }

    func testSenderSettlesWhenTheReceiverUsesSecondMode() throws {
        let broker = TestBroker()
        broker.hook = { performative, channel, broker in
            guard case .transfer(let transfer) = performative else { return false }
            broker.send(.amqp(channel, .disposition(AMQPDisposition(role: .receiver, first: transfer.deliveryID ?? 0,
                                                                    settled: false, state: .rejected(AMQPRemoteError(condition: "test:no", description: "nope"))))))
            return true
        }
        let connection = try open(broker)
        let session = try connection.beginSession()
        let sender = try session.attachSender(address: "q", options: AMQPSenderOptions(receiverSettleMode: .second))
        let outcome = try sender.send(AMQPMessage(data: [1]))
        XCTAssertEqual(outcome, .rejected(AMQPRemoteError(condition: "test:no", description: "nope")))
        eventually(broker) { broker in
            broker.receivedPerformatives.contains { if case .disposition(let d) = $0 { d.role == .sender && d.settled } else { false } }
        }
    }

    func testPresettledSendsCompleteWithoutOutcome() throws {
        let broker = TestBroker()
        let connection = try open(broker)
        let sender = try connection.beginSession().attachSender(address: "q", options: AMQPSenderOptions(settleMode: .settled))
        XCTAssertNil(try sender.send(AMQPMessage(data: [])))
        eventually(broker) { $0.queues["q"]?.count == 1 }
        XCTAssertEqual(try AMQPMessage.decode(broker.sync { $0.queues["q"]![0] }).body, .data([[]]))
    }

    func testPeerErrorsSurfaceAsTypedErrors() throws {
        // A refused attach: no terminus in the reply, then detach with an error.
        let refusing = TestBroker()
        refusing.hook = { performative, channel, broker in
            guard case .attach(var attach) = performative else { return false }
            let handle = attach.handle
            attach.role = .receiver
            attach.target = nil
            broker.send(.amqp(channel, .attach(attach)))
            broker.send(.amqp(channel, .detach(AMQPDetach(handle: handle, closed: true,
                error: AMQPRemoteError(condition: AMQPRemoteError.notFound, description: "no such queue")))))
            return true
        }
        let session = try open(refusing).beginSession()
        XCTAssertThrowsError(try session.attachSender(address: "missing")) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .linkDetached)
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.notFound)
            XCTAssertEqual((error as? AMQPError)?.remote?.errorDescription, "no such queue")
        }
        // The peer closes the connection with an error while we begin a session.
        let closing = TestBroker()
        closing.hook = { performative, _, broker in
            guard case .begin = performative else { return false }
            broker.send(.amqp(0, .close(AMQPRemoteError(condition: AMQPRemoteError.unauthorizedAccess, description: "bad token"))))
            return true
        }
        let connection = try open(closing)
        XCTAssertThrowsError(try connection.beginSession()) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .connectionClosed)
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.unauthorizedAccess)
        }
        eventually(closing) { $0.receivedPerformatives.last == .close(nil) }
        // The peer ends the session: pending sends fail with the session's error.
        let ending = TestBroker()
        ending.hook = { performative, channel, broker in
            guard case .transfer = performative else { return false }
            broker.send(.amqp(channel, .end(AMQPRemoteError(condition: AMQPRemoteError.windowViolation))))
            return true
        }
        let sender = try open(ending).beginSession().attachSender(address: "q")
        XCTAssertThrowsError(try sender.send(AMQPMessage(data: [1]))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .sessionEnded)
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.windowViolation)
        }
    }

    func testHostileFrameFromThePeerFailsTheConnectionCleanly() throws {
        let broker = TestBroker()
        broker.hook = { performative, _, broker in
            guard case .begin = performative else { return false }
            broker.sendRaw([0x7f, 0xff, 0xff, 0xff, 2, 0, 0, 0])  // a 2 GiB frame
            return true
        }
        let connection = try open(broker)
        XCTAssertThrowsError(try connection.beginSession()) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .limitExceeded, "\(error)")
        }
        eventually(broker) { broker in
            broker.receivedPerformatives.contains { if case .close(let e) = $0 { e?.condition == AMQPRemoteError.framingError } else { false } }
        }
    }

    func testOversizedIncomingMessageDetachesTheLink() throws {
        let broker = TestBroker()
        broker.queues["q"] = [AMQPMessage(data: [UInt8](repeating: 1, count: 5000)).encode()]
        let session = try open(broker).beginSession()
        let receiver = try session.attachReceiver(address: "q", options: AMQPReceiverOptions(maxMessageSize: 1000)) { _ in
            XCTFail("oversized message must not be delivered")
        }
        eventually(broker) { broker in
            broker.receivedPerformatives.contains { if case .detach(let d) = $0 { d.error?.condition == AMQPRemoteError.messageSizeExceeded } else { false } }
        }
        XCTAssertThrowsError(try receiver.drain())
    }

    func testTransportLossFailsEverythingOnce() throws {
        let broker = TestBroker()
        broker.hook = { performative, _, broker in
            guard case .transfer = performative else { return false }
            broker.transport?.drop()
            return true
        }
        let connection = try open(broker)
        let sender = try connection.beginSession().attachSender(address: "q")
        let closed = expectation(description: "closed")
        connection.onClose { error in
            XCTAssertEqual(error?.code, .connectionClosed)
            closed.fulfill()
        }
        XCTAssertThrowsError(try sender.send(AMQPMessage(data: [1]))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .connectionClosed)
        }
        wait(for: [closed], timeout: 10)
        XCTAssertThrowsError(try connection.beginSession())
    }
}

final class FlowControlTests: XCTestCase {
    func testSenderRespectsTheSessionWindowAndThePeersMaxMessageSize() throws {
        let broker = TestBroker()
        broker.sessionWindow = 3
        broker.maxFrameSize = 512
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let sender = try connection.beginSession().attachSender(address: "q")
        let group = DispatchGroup()
        let accepted = LockedValue(0)
        for index in 0..<20 {
            group.enter()
            // Two to three frames each: windows run out in the middle of deliveries.
            sender.send(AMQPMessage(data: [UInt8](repeating: UInt8(index), count: 900))) { result in
                if case .success(.accepted) = result { accepted.withLockedValue { $0 += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(accepted.load(), 20)
        XCTAssertFalse(broker.sync { $0.windowViolated })
        XCTAssertEqual(broker.sync { $0.queues["q"]?.count }, 20)
        let stored = try XCTUnwrap(broker.sync { $0.queues["q"]?[7] })
        XCTAssertEqual(try AMQPMessage.decode(stored).dataBody, [UInt8](repeating: 7, count: 900))
    }

    func testPeersMaxMessageSizeIsEnforcedBeforeSending() throws {
        let broker = TestBroker()
        broker.hook = { performative, channel, broker in
            guard case .attach(var attach) = performative, attach.role == .sender else { return false }
            let handle = attach.handle
            attach.role = .receiver
            attach.handle += 100
            attach.maxMessageSize = 100
            broker.send(.amqp(channel, .attach(attach)))
            var flow = AMQPFlow(nextIncomingID: 0, incomingWindow: 100, nextOutgoingID: 0, outgoingWindow: 100)
            flow.handle = handle + 100
            flow.deliveryCount = 0
            flow.linkCredit = 10
            broker.send(.amqp(channel, .flow(flow)))
            return true
        }
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let sender = try connection.beginSession().attachSender(address: "q")
        XCTAssertThrowsError(try sender.send(AMQPMessage(data: [UInt8](repeating: 0, count: 200)))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .limitExceeded)
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.messageSizeExceeded)
        }
    }

    func testExternalMechanismWithTheBrokerRole() throws {
        let (clientEnd, serverEnd) = PipeEnd.pair()
        let seen = LockedValue<[String]>([])
        let server = AMQPConnection(acceptedTransport: serverEnd, server: AMQPServerConfiguration(
            mechanisms: ["EXTERNAL"], allowWithoutSASL: false,
            authenticate: { mechanism, response, hostname in
                seen.withLockedValue { $0.append("\(mechanism.rawValue) \(response ?? []) \(hostname ?? "-")") }
                return true
            }, linkAttached: { _, _ in .refuse(AMQPRemoteError(condition: AMQPRemoteError.notAllowed)) }),
            configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        server.open { _ in }
        let client = AMQPConnection(transport: clientEnd, configuration: AMQPConnectionConfiguration(
            hostname: "example.org", sasl: .external, idleTimeout: nil))
        try client.open()
        XCTAssertEqual(seen.load(), ["EXTERNAL [] example.org"])
        try client.close()
        // A client that skips SASL is refused when the broker requires it.
        let (plainEnd, strictEnd) = PipeEnd.pair()
        AMQPConnection(acceptedTransport: strictEnd, server: AMQPServerConfiguration(
            mechanisms: ["EXTERNAL"], allowWithoutSASL: false, linkAttached: { _, _ in .refuse(AMQPRemoteError(condition: "x")) }),
                       configuration: AMQPConnectionConfiguration(idleTimeout: nil)).open { _ in }
        let noSASL = AMQPConnection(transport: plainEnd, configuration: AMQPConnectionConfiguration(sasl: .none, idleTimeout: nil))
        XCTAssertThrowsError(try noSASL.open()) { XCTAssertEqual(($0 as? AMQPError)?.code, .framing, "\($0)") }
    }
}

final class NegotiationLimitTests: XCTestCase {
    func testLinkHandlesStayWithinThePeersHandleMax() throws {
        let broker = TestBroker()
        broker.hook = { performative, channel, broker in
            guard case .begin = performative else { return false }
            var reply = AMQPBegin(remoteChannel: channel, nextOutgoingID: 0, incomingWindow: 100, outgoingWindow: 100)
            reply.handleMax = 1
            broker.send(.amqp(channel, .begin(reply)))
            return true
        }
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let session = try connection.beginSession()
        // The broker's hook swallowed begin, so its internal state does not know the session; attaches still
        // go out and the handle check happens on our side before anything is sent.
        session.attachSender(address: "a") { _ in }
        session.attachSender(address: "b") { _ in }
        XCTAssertThrowsError(try session.attachSender(address: "c")) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .invalidArgument, "\(error)")
        }
        let handles = broker.sync { $0.receivedPerformatives.compactMap { if case .attach(let a) = $0 { a.handle } else { nil } } }
        XCTAssertEqual(handles, [0, 1])
    }

    /// An attach on a session whose connection has closed is a lost connection (rebuild and retry), not the
    /// caller's mistake: a producer attaching `$management` while its connection dropped got `.invalidArgument`
    /// and gave up instead of retrying (EndpointOutageSoakTests in CI).
    func testAttachingOnAnEndedSessionIsSessionEndedNotAnArgumentError() throws {
        let broker = TestBroker()
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let session = try connection.beginSession()
        try connection.close()
        XCTAssertThrowsError(try session.attachSender(address: "late")) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .sessionEnded, "\(error)")
        }
    }
}

final class TransferEdgeTests: XCTestCase {
    func testAbortedDeliveryIsDroppedAndSectionsInAnyOrderDecode() throws {
        let broker = TestBroker()
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let session = try connection.beginSession()
        let inbox = Inbox()
        let receiver = try session.attachReceiver(address: "q", options: AMQPReceiverOptions(credit: .manual)) { delivery in
            inbox.add(delivery)
        }
        XCTAssertEqual(receiver.address, "q")
        receiver.addCredit(5)
        // Wait until the broker saw the credit, then send an aborted delivery followed by a complete one whose
        // delivery-annotations come after the body, as pyamqp writes them.
        let deadline = Deadline.after(seconds: 10)
        while !broker.sync({ $0.receivedPerformatives.contains { if case .flow = $0 { true } else { false } } }), !deadline.hasPassed {
            Thread.sleep(forTimeInterval: 0.01)
        }
        var first = AMQPTransfer(handle: 100)
        first.deliveryID = 0
        first.deliveryTag = [0]
        first.more = true
        var abort = AMQPTransfer(handle: 100)
        abort.deliveryID = 0
        abort.aborted = true
        var complete = AMQPTransfer(handle: 100)
        complete.deliveryID = 1
        complete.deliveryTag = [1]
        complete.settled = true
        var encoder = AMQPEncoder()
        encoder.encode(.described(descriptor: .ulong(0x75), value: .binary([7])))
        encoder.encode(.described(descriptor: .ulong(0x71), value: .map([.symbol("x-opt-lock-token"): .int(1)])))
        broker.sync { broker in
            broker.send(.amqp(channel: 0, performative: .transfer(first), payload: [0x00, 0x53]))
            broker.send(.amqp(channel: 0, performative: .transfer(abort), payload: []))
            broker.send(.amqp(channel: 0, performative: .transfer(complete), payload: encoder.bytes))
        }
        inbox.wait(for: 1)
        let delivery = try XCTUnwrap(inbox.items.load().first)
        XCTAssertEqual(delivery.deliveryID, 1)
        XCTAssertTrue(delivery.isSettled)
        let accepted = expectation(description: "accepting a pre-settled delivery is a no-op that succeeds")
        delivery.accept { result in
            if case .failure(let error) = result { XCTFail("\(error)") }
            accepted.fulfill()
        }
        wait(for: [accepted], timeout: 10)
        XCTAssertEqual(delivery.message.dataBody, [7])
        XCTAssertEqual(delivery.message.deliveryAnnotations?[.symbol("x-opt-lock-token")], .int(1))
        XCTAssertEqual(inbox.count, 1)
        XCTAssertEqual(connection.queue.sync { receiver.deliveryCount }, 2, "an aborted delivery still counts against credit")
    }
}

final class BackpressureTests: XCTestCase {
    func testAutoCreditCountsDeliveriesTheHandlerHasNotFinished() throws {
        let broker = TestBroker()
        broker.queues["q"] = (0..<50).map { AMQPMessage(data: [UInt8($0)]).encode() }
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let gate = DispatchSemaphore(value: 0)
        let inbox = Inbox()
        _ = try connection.beginSession().attachReceiver(address: "q", options: AMQPReceiverOptions(credit: .auto(prefetch: 10))) {
            delivery in
            inbox.add(delivery)
            gate.wait()  // a slow consumer
            delivery.accept()
        }
        inbox.wait(for: 1)
        // While the handler is stuck, at most the prefetch may be taken off the broker's queue.
        let deadline = Deadline.after(seconds: 10)
        while broker.sync({ $0.queues["q"]?.count ?? 0 }) > 40, !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(broker.sync { $0.queues["q"]?.count }, 40, "exactly the prefetch was delivered")
        for _ in 0..<50 { gate.signal() }
        inbox.wait(for: 49)
        XCTAssertEqual(inbox.count, 50)
    }
}
