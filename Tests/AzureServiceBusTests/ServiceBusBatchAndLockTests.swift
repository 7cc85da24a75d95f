import AzureEmulator
import Foundation
import MessagingFaultSupport
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureServiceBus

final class ServiceBusBatchAndLockTests: XCTestCase {
    func testBatchSizeIsExactAndBounded() throws {
        var batch = ServiceBusMessageBatch(maxSizeInBytes: 1_048_576)
        XCTAssertEqual(batch.sizeInBytes, batch.encode().count)
        for size in [0, 10, 300, 70_000] {
            var message = ServiceBusMessage(body: [UInt8](repeating: 0x62, count: size))
            message.timeToLive = .seconds(60)
            XCTAssertTrue(batch.tryAdd(message))
            XCTAssertEqual(batch.sizeInBytes, batch.encode().count, "size \(size)")
        }
        var small = ServiceBusMessageBatch(maxSizeInBytes: 2_000)
        var added = 0
        while small.tryAdd(ServiceBusMessage(body: [UInt8](repeating: 1, count: 300))) { added += 1 }
        XCTAssertGreaterThan(added, 3)
        XCTAssertLessThanOrEqual(small.encode().count, 2_000)
        let outer = try AMQPMessage.decode(small.encode())
        guard case .data(let sections) = outer.body else { return XCTFail("no data sections") }
        XCTAssertEqual(sections.count, added)
        XCTAssertEqual(outer.properties?.messageID, try AMQPMessage.decode(sections[0]).properties?.messageID,
                       "the outer message carries the first message's id")
    }

    func testCreateBatchSendAndTooLarge() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        var batch = try sender.createBatch()
        XCTAssertEqual(batch.maxSizeInBytes, 1_048_576)
        for i in 0..<4 { XCTAssertTrue(batch.tryAdd(ServiceBusMessage(body: "b\(i)"))) }
        try sender.send(batch)
        XCTAssertThrowsError(try sender.send([ServiceBusMessage(body: [UInt8](repeating: 0, count: 1_100_000))])) {
            XCTAssertEqual(($0 as? ServiceBusError)?.code, .messageSizeExceeded)
        }
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", receiveMode: .receiveAndDelete)
        defer { try? receiver.close() }
        XCTAssertEqual(try receiver.receive(maxMessages: 4, timeout: .seconds(10)).map { $0.message.bodyAsString ?? "" },
                       ["b0", "b1", "b2", "b3"])
    }

    func testAnExpiredLockIsReportedAsLockLost() throws {
        let emulator = try startServiceBusEmulator(self) { $0.lockDuration = .seconds(0.3) }
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "slow"))
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? receiver.close() }
        let message = try XCTUnwrap(try receiver.receive(maxMessages: 1, timeout: .seconds(10)).first)
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertThrowsError(try receiver.renewLock(message)) { error in
            XCTAssertEqual((error as? ServiceBusError)?.code, .messageLockLost, "\(error)")
            XCTAssertEqual((error as? ServiceBusError)?.condition, "com.microsoft:message-lock-lost")
        }
        // The message comes back with its delivery count raised.
        let again = try XCTUnwrap(try receiver.receive(maxMessages: 1, timeout: .seconds(10)).first)
        XCTAssertEqual(again.message.bodyAsString, "slow")
        XCTAssertEqual(again.deliveryCount, 1)
        try receiver.complete(again)
    }

    /// Dead-lettering asks for `rejected`; the service answers a lapsed lock with `rejected(message-lock-lost)`,
    /// which is a refusal, not the bare `rejected()` that confirms a dead-letter.
    func testDeadLetteringAfterTheLockLapsedIsLockLost() throws {
        let emulator = try startServiceBusEmulator(self) { $0.lockDuration = .seconds(1) }
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "late", messageID: "late"))
        let holder = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? holder.close() }
        let held = try XCTUnwrap(try holder.receive(maxMessages: 1, timeout: .seconds(10)).first)
        XCTAssertEqual(held.message.messageID, "late")
        // Another receiver gets the message once its lock has lapsed (no sleeping on the lock's duration).
        let other = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? other.close() }
        var again: [ServiceBusReceivedMessage] = []
        let deadline = Date().addingTimeInterval(30)
        while again.isEmpty, Date() < deadline {
            again += try other.receive(maxMessages: 1, timeout: .seconds(5))
        }
        let redelivered = try XCTUnwrap(again.first)
        XCTAssertEqual(redelivered.message.messageID, "late")
        XCTAssertThrowsError(try holder.deadLetter(held, reason: "r", description: "d")) { error in
            XCTAssertEqual((error as? ServiceBusError)?.code, .messageLockLost, "\(error)")
        }
        // A dead-letter on a live lock still succeeds (bare `rejected()`) and the message lands in the dead-letter queue.
        try other.deadLetter(redelivered, reason: "r", description: "d")
        let dlq = try ServiceBusReceiver(connectionString: cs, queueName: "q1", receiveMode: .receiveAndDelete,
                                         deadLetterQueue: true)
        defer { try? dlq.close() }
        XCTAssertEqual(try dlq.receive(maxMessages: 1, timeout: .seconds(10)).map { $0.message.messageID ?? "" }, ["late"])
    }

    func testWrongKeyIsUnauthorizedWithoutTheKeyInTheError() throws {
        let emulator = try startServiceBusEmulator(self) { $0.faults.refuseAuthentication = true }
        let sender = try ServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1",
                                          options: fastOptions())
        defer { try? sender.close() }
        XCTAssertThrowsError(try sender.send(ServiceBusMessage(body: "x"))) { error in
            XCTAssertEqual((error as? ServiceBusError)?.code, .unauthorized, "\(error)")
            XCTAssertFalse("\(error)".contains("SAS_KEY_VALUE"))
        }
        let receiver = try ServiceBusReceiver(connectionString: emulator.serviceBusConnectionString, queueName: "q1")
        defer { try? receiver.close() }
        XCTAssertThrowsError(try receiver.receive(maxMessages: 1, timeout: .seconds(5))) {
            XCTAssertEqual(($0 as? ServiceBusError)?.code, .unauthorized, "\($0)")
        }
    }
}

final class ServiceBusReceiverRecoveryTests: XCTestCase {
    /// A peek-lock receiver on connections the emulator keeps dropping: it reconnects on the next call, settling
    /// a message from a dead connection reports lock-lost, and every message is eventually completed.
    func testPeekLockReceiverRecoversFromDroppedConnections() throws {
        let emulator = try startServiceBusEmulator(self) {
            $0.faults.dropAfterFrames = 40   // every connection dies after 40 frames from the client
            $0.lockDuration = .seconds(0.5)
        }
        let cs = emulator.serviceBusConnectionString
        let sender = try ManagedServiceBusSender(connectionString: cs, queueName: "q1", options: fastOptions { $0.retry.maxRetries = 30 })
        defer { try? sender.close() }
        var sent = Set<String>()
        for i in 0..<100 {
            let id = "m\(i)"
            try sender.send(ServiceBusMessage(body: id, messageID: id))
            sent.insert(id)
        }
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? receiver.close() }
        var completed = Set<String>()
        let deadline = Date().addingTimeInterval(90)
        while completed != sent && Date() < deadline {
            guard let batch = try? receiver.receive(maxMessages: 20, timeout: .seconds(0.5)) else { continue }
            for message in batch {
                do {
                    try receiver.complete(message)
                    completed.insert(message.message.bodyAsString ?? "")
                } catch {
                    // The connection it came on is gone (lock lost) or failed mid-settlement: it comes back later.
                    XCTAssertTrue(error.isTransient || error.code == .messageLockLost, "\(error)")
                }
            }
        }
        XCTAssertEqual(sent.subtracting(completed), [], "never completed")
        XCTAssertGreaterThan(receiver.connectionsOpened, 1, "the fault never hit the receiver")
    }

    /// A receive link that ends while its connection stays open is replaced on a new connection, and the old
    /// connection is closed (it used to stay open, unowned, when the next call found the ended link before the
    /// link's end handler ran). A message received on it can no longer be settled, and the error says why.
    func testALinkThatEndsOnAnOpenConnectionIsReplacedAndItsConnectionClosed() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "held", messageID: "held"))
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? receiver.close() }
        let held = try XCTUnwrap(try receiver.receive(maxMessages: 1, timeout: .seconds(10)).first)
        let current = expectation(description: "current link")
        let box = LockedValue<ServiceBusReceiver.Link?>(nil)
        receiver.withLink { result in
            if case .success(let link) = result { box.withLockedValue { $0 = link } }
            current.fulfill()
        }
        wait(for: [current], timeout: 10)
        let old = try XCTUnwrap(box.load())
        // The link's close completes on the connection's queue, where the link's end handler is queued behind
        // it: the next call finds the ended link before the receiver has heard that it ended.
        let replaced = expectation(description: "new link")
        old.receiver.close(deadline: .after(.seconds(10)), queue: old.connection.queue) { closed in
            if case .failure(let error) = closed { XCTFail("closing the link: \(error)") }
            receiver.withLink { result in
                if case .success(let link) = result {
                    XCTAssertNotEqual(link.connection.id, old.connection.id)
                } else {
                    XCTFail("no new link: \(result)")
                }
                replaced.fulfill()
            }
        }
        wait(for: [replaced], timeout: 10)
        XCTAssertTrue(FaultScenario.eventually { old.connection.isClosed }, "the old connection is still open")
        XCTAssertThrowsError(try receiver.complete(held)) { error in
            let error = error as? ServiceBusError
            XCTAssertEqual(error?.code, .messageLockLost, "\(String(describing: error))")
            XCTAssertTrue(error?.description.contains("its lock is lost;") == true, "\(String(describing: error))")
        }
    }
}

final class ServiceBusTopicTests: XCTestCase {
    func testTopicSendAndSubscriptionReceive() throws {
        let emulator = try startServiceBusEmulator(self) {
            $0.topics = [TopicDefinition(name: "orders", subscriptions: ["audit", "billing"])]
        }
        let cs = emulator.serviceBusConnectionString
        let sender = try ManagedServiceBusSender(connectionString: cs, topicName: "orders")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "o1"))
        try sender.send([ServiceBusMessage(body: "o2"), ServiceBusMessage(body: "o3")])
        for subscription in ["audit", "billing"] {
            let receiver = try ServiceBusReceiver(connectionString: cs, topicName: "orders", subscriptionName: subscription)
            defer { try? receiver.close() }
            let got = try receiver.receive(maxMessages: 3, timeout: .seconds(10))
            XCTAssertEqual(got.map { $0.message.bodyAsString ?? "" }, ["o1", "o2", "o3"], subscription)
            try receiver.complete(got[0])
            try receiver.deadLetter(got[1], reason: "r", description: "d")
            XCTAssertGreaterThan(try receiver.renewLock(got[2]).timeIntervalSinceNow, 0)
            try receiver.complete(got[2])
            let dlq = try ServiceBusReceiver(connectionString: cs, topicName: "orders", subscriptionName: subscription,
                                             deadLetterQueue: true)
            defer { try? dlq.close() }
            XCTAssertEqual(try dlq.receive(maxMessages: 1, timeout: .seconds(10)).first?.deadLetterReason, "r")
        }
    }
}
