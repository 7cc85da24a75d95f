import AzureEmulator
import AzureMessagingCore
import Foundation
import MessagingFaultSupport
import XCTest

@testable import AzureServiceBus

/// `ServiceBusReceiver(prefetchCount:)` end to end against the emulator: messages received ahead are handed out in
/// order and once, closing gives the unhanded ones back untouched, receive-and-delete works with it, and the lock
/// of a message waiting in the prefetch buffer lapses like any other.
final class ServiceBusPrefetchTests: XCTestCase {
    private func send(_ count: Int, to cs: String) throws -> [String] {
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        let ids = (0..<count).map { "m\($0)" }
        try sender.send(ids.map { ServiceBusMessage(body: $0, messageID: $0) })
        return ids
    }

    func testPrefetchedMessagesAreHandedOutInOrderExactlyOnce() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sent = try send(60, to: cs)
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", prefetchCount: 20)
        defer { try? receiver.close() }
        XCTAssertEqual(receiver.prefetchCount, 20)
        var received: [String] = []
        let first = try receiver.receive(maxMessages: 7, timeout: .seconds(10))
        received += first.map { $0.message.messageID ?? "" }
        // The link keeps credit ahead of the calls: the next messages arrive before anyone asks for them.
        XCTAssertTrue(FaultScenario.eventually { receiver.prefetchedCount >= 10 }, "prefetched \(receiver.prefetchedCount)")
        for message in first { try receiver.complete(message) }
        while received.count < sent.count {
            let batch = try receiver.receive(maxMessages: min(7, sent.count - received.count), timeout: .seconds(10))
            XCTAssertFalse(batch.isEmpty, "after \(received.count) messages")
            if batch.isEmpty { break }
            for message in batch {
                XCTAssertEqual(message.deliveryCount, 0)
                try receiver.complete(message)
            }
            received += batch.map { $0.message.messageID ?? "" }
        }
        XCTAssertEqual(received, sent, "in order, each once")
        let other = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? other.close() }
        XCTAssertEqual(try other.receive(maxMessages: 1, timeout: .seconds(0.3)).count, 0, "every message was completed")
    }

    func testClosingReleasesPrefetchedMessagesWithTheirDeliveryCountUnchanged() throws {
        // Locks far longer than the test: only the release can make the messages available again in time.
        let emulator = try startServiceBusEmulator(self) { $0.lockDuration = .seconds(300) }
        let cs = emulator.serviceBusConnectionString
        let sent = try send(10, to: cs)
        let first = try ServiceBusReceiver(connectionString: cs, queueName: "q1", prefetchCount: 10)
        let taken = try first.receive(maxMessages: 2, timeout: .seconds(10))
        XCTAssertEqual(taken.map { $0.message.messageID ?? "" }, ["m0", "m1"])
        XCTAssertTrue(FaultScenario.eventually { first.prefetchedCount == 8 }, "prefetched \(first.prefetchedCount)")
        for message in taken { try first.complete(message) }
        try first.close()
        XCTAssertEqual(first.prefetchedCount, 0)

        let second = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? second.close() }
        let again = try second.receive(maxMessages: 8, timeout: .seconds(10))
        XCTAssertEqual(again.map { $0.message.messageID ?? "" }, Array(sent[2...]), "released, in order")
        XCTAssertEqual(again.map(\.deliveryCount), Array(repeating: 0, count: 8), "a release is not a failed delivery")
        for message in again { try second.complete(message) }
    }

    func testReceiveAndDeleteWithPrefetch() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sent = try send(30, to: cs)
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", receiveMode: .receiveAndDelete,
                                              prefetchCount: 8)
        defer { try? receiver.close() }
        var received: [String] = []
        while received.count < sent.count {
            let batch = try receiver.receive(maxMessages: min(4, sent.count - received.count), timeout: .seconds(10))
            XCTAssertFalse(batch.isEmpty, "after \(received.count) messages")
            if batch.isEmpty { break }
            XCTAssertTrue(batch.allSatisfy { $0.lockToken == nil })
            received += batch.map { $0.message.messageID ?? "" }
        }
        XCTAssertEqual(received, sent, "in order, each once")
        XCTAssertEqual(try receiver.receive(maxMessages: 1, timeout: .seconds(0.3)).count, 0, "nothing left")
        XCTAssertEqual(receiver.prefetchedCount, 0)
    }

    func testTheLockOfAPrefetchedMessageLapsesWhileItWaits() throws {
        let emulator = try startServiceBusEmulator(self) { $0.lockDuration = .seconds(1) }
        let cs = emulator.serviceBusConnectionString
        // Four messages for one call of 1 plus a prefetch of 3: all the credit `holder` has is used, so it cannot
        // take a lapsed message back before `other` does.
        _ = try send(4, to: cs)
        let holder = try ServiceBusReceiver(connectionString: cs, queueName: "q1", prefetchCount: 3)
        defer { try? holder.close() }
        let first = try holder.receive(maxMessages: 1, timeout: .seconds(10))
        XCTAssertEqual(first.map { $0.message.messageID ?? "" }, ["m0"])
        XCTAssertTrue(FaultScenario.eventually { holder.prefetchedCount == 3 }, "prefetched \(holder.prefetchedCount)")

        // The prefetched messages stay locked to `holder` until their locks lapse; then another receiver gets them,
        // as failed deliveries.
        let other = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? other.close() }
        var redelivered: [ServiceBusReceivedMessage] = []
        let deadline = Date().addingTimeInterval(30)
        while redelivered.count < 4, Date() < deadline {
            redelivered += try other.receive(maxMessages: 4 - redelivered.count, timeout: .seconds(5))
        }
        XCTAssertEqual(Set(redelivered.map { $0.message.messageID ?? "" }), ["m0", "m1", "m2", "m3"])
        XCTAssertEqual(redelivered.map(\.deliveryCount), [1, 1, 1, 1])
        for message in redelivered { try other.complete(message) }

        // `holder` still hands its prefetched copies out; their locks are gone, so settling them says so.
        let stale = try holder.receive(maxMessages: 3, timeout: .seconds(10))
        XCTAssertEqual(stale.map { $0.message.messageID ?? "" }, ["m1", "m2", "m3"])
        for message in stale {
            XCTAssertThrowsError(try holder.complete(message)) { error in
                XCTAssertEqual((error as? ServiceBusError)?.code, .messageLockLost, "\(error)")
            }
        }
    }

    /// Peek-locked messages buffered from a connection that ended are dropped, not handed out (every settlement
    /// would fail with lock-lost); the service delivers them again on the next connection.
    func testMessagesPrefetchedOnALostConnectionAreDroppedAndRedelivered() throws {
        let emulator = try startServiceBusEmulator(self) { $0.lockDuration = .seconds(1) }
        let cs = emulator.serviceBusConnectionString
        let sent = try send(5, to: cs)
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", prefetchCount: 4)
        defer { try? receiver.close() }
        let first = try receiver.receive(maxMessages: 1, timeout: .seconds(10))
        XCTAssertEqual(first.map { $0.message.messageID ?? "" }, ["m0"])
        try receiver.complete(first[0])
        XCTAssertTrue(FaultScenario.eventually { receiver.prefetchedCount == 4 }, "prefetched \(receiver.prefetchedCount)")
        let lost = expectation(description: "connection closed")
        receiver.withLink { result in
            guard case .success(let link) = result else { return XCTFail("no link") }
            link.connection.close { lost.fulfill() }
        }
        wait(for: [lost], timeout: 10)
        XCTAssertTrue(FaultScenario.eventually { receiver.prefetchedCount == 0 }, "still buffered \(receiver.prefetchedCount)")
        var again: [ServiceBusReceivedMessage] = []
        let deadline = Date().addingTimeInterval(30)
        while again.count < 4, Date() < deadline {
            let batch = try receiver.receive(maxMessages: 4 - again.count, timeout: .seconds(5))
            for message in batch { try receiver.complete(message) }
            again += batch
        }
        XCTAssertEqual(Set(again.map { $0.message.messageID ?? "" }), Set(sent[1...]))
        XCTAssertGreaterThan(receiver.connectionsOpened, 1)
    }

    func testPrefetchCountIsClamped() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let negative = try ServiceBusReceiver(connectionString: cs, queueName: "q1", prefetchCount: -5)
        let huge = try ServiceBusReceiver(connectionString: cs, queueName: "q1", prefetchCount: .max)
        XCTAssertEqual(negative.prefetchCount, 0)
        XCTAssertEqual(huge.prefetchCount, ServiceBusReceiver.maxPrefetchCount)
        try negative.close()
        try huge.close()
    }
}
