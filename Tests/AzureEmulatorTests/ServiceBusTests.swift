import AzureAuth
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEmulator

final class ServiceBusTests: XCTestCase {
    private func peekLockReceiver(_ client: TestClient, _ path: String, credit: AMQPCreditMode = .auto(prefetch: 10))
        throws -> (AMQPReceiver, Collector) {
        let collector = Collector()
        let options = AMQPReceiverOptions(credit: credit, settleMode: .unsettled, receiverSettleMode: .second)
        let receiver = try client.session.attachReceiver(address: client.address(path), options: options) { collector.add($0) }
        return (receiver, collector)
    }

    private func management(_ client: TestClient, queue: String) throws -> AMQPRequestResponseLink {
        try AMQPRequestResponseLink.attach(session: client.session, address: "\(queue)/$management")
    }

    private func request(_ link: AMQPRequestResponseLink, _ operation: String, _ body: AMQPMap) throws -> (Int32?, AMQPMap?, AMQPMessage) {
        var message = AMQPMessage(value: .map(body))
        message.applicationProperties = ["operation": .string(operation), "type": "entity-mgmt"]
        let response = try link.request(message, timeout: .seconds(10))
        var status: Int32?
        if case .int(let code)? = response.applicationProperties?["statusCode"] { status = code }
        var map: AMQPMap?
        if case .value(.map(let value)) = response.body { map = value }
        return (status, map, response)
    }

    private func text(_ delivery: AMQPDelivery) -> String { String(decoding: delivery.message.dataBody ?? [], as: UTF8.self) }

    private func settle(_ delivery: AMQPDelivery, _ outcome: AMQPDeliveryState) throws {
        let _: Void = try Blocking.wait { queue, done in delivery.settle(outcome, queue: queue) { done($0.mapError { $0 }) } }
    }

    func testSendPeekLockCompleteAndReceiveAndDelete() throws {
        let emulator = try startEmulator { $0.queues = ["q1"] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q1")
        let sender = try client.session.attachSender(address: client.address("q1"))
        var first = AMQPMessage(data: Array("one".utf8))
        first.properties = AMQPProperties(messageID: "mid-1")
        first.applicationProperties = ["k": "v"]
        XCTAssertEqual(try sender.send(first), .accepted)
        XCTAssertEqual(try sender.send(eventBatch(["two", "three"]), messageFormat: batchFormat), .accepted)

        let (receiver, collector) = try peekLockReceiver(client, "q1")
        let got = collector.wait(for: 3)
        XCTAssertEqual(got.map(text), ["one", "two", "three"])
        let delivery = got[0]
        XCTAssertFalse(delivery.isSettled)
        XCTAssertEqual(delivery.deliveryTag.count, 16, "the lock token is the delivery tag")
        XCTAssertEqual(delivery.message.header?.deliveryCount, 0)
        XCTAssertEqual(delivery.message.annotation("x-opt-sequence-number"), .long(1))
        XCTAssertEqual(delivery.message.properties?.messageID, "mid-1")
        XCTAssertEqual(delivery.message.applicationProperties?["k"], "v")
        if case .timestamp = delivery.message.annotation("x-opt-locked-until") {} else { XCTFail("no locked-until") }
        for delivery in got { try settle(delivery, .accepted) }
        try receiver.close()

        XCTAssertEqual(try sender.send(AMQPMessage(data: Array("four".utf8))), .accepted)
        let deleting = Collector()
        let options = AMQPReceiverOptions(credit: .auto(prefetch: 10), settleMode: .settled)
        let destructive = try client.session.attachReceiver(address: client.address("q1"), options: options) { deleting.add($0) }
        let deleted = deleting.wait(for: 1)
        XCTAssertEqual(deleted.map(text), ["four"])
        XCTAssertTrue(deleted[0].isSettled)
        try destructive.close()
        XCTAssertEqual(try emulatorQueue(emulator, "q1").count, 0)
    }

    func testAbandonRedeliversWithAHigherCountAndDeadLetterKeepsTheReason() throws {
        let emulator = try startEmulator { $0.queues = ["q2"] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q2")
        try client.authorize("q2/$DeadLetterQueue")
        let sender = try client.session.attachSender(address: client.address("q2"))
        XCTAssertEqual(try sender.send(AMQPMessage(data: Array("m".utf8))), .accepted)
        let (receiver, collector) = try peekLockReceiver(client, "q2")
        let first = collector.wait(for: 1)[0]
        try settle(first, .modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: nil))
        let again = collector.wait(for: 2)[1]
        XCTAssertEqual(again.message.header?.deliveryCount, 1)
        XCTAssertNotEqual(again.deliveryTag, first.deliveryTag, "a new lock gets a new token")
        let error = AMQPRemoteError(condition: "com.microsoft:dead-letter", description: "bad payload",
                                    info: [.symbol("DeadLetterReason"): "why", .symbol("DeadLetterErrorDescription"): "bad payload"])
        try settle(again, .rejected(error))
        try receiver.close()

        let (dlq, dead) = try peekLockReceiver(client, "q2/$DeadLetterQueue")
        let message = dead.wait(for: 1)[0].message
        XCTAssertEqual(message.applicationProperties?["DeadLetterReason"], "why")
        XCTAssertEqual(message.applicationProperties?["DeadLetterErrorDescription"], "bad payload")
        XCTAssertEqual(message.annotation("x-opt-deadletter-source"), "q2")
        try dlq.close()
    }

    func testMaxDeliveryCountMovesTheMessageToTheDeadLetterQueue() throws {
        let emulator = try startEmulator { $0.queues = ["q3"]; $0.maxDeliveryCount = 2 }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q3")
        XCTAssertEqual(try client.session.attachSender(address: client.address("q3")).send(AMQPMessage(data: [1])), .accepted)
        let (receiver, collector) = try peekLockReceiver(client, "q3")
        try settle(collector.wait(for: 1)[0], .modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: nil))
        try settle(collector.wait(for: 2)[1], .modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: nil))
        try receiver.close()
        let (dlq, dead) = try peekLockReceiver(client, "q3/$DeadLetterQueue")
        let message = dead.wait(for: 1)[0].message
        XCTAssertEqual(message.applicationProperties?["DeadLetterReason"], "MaxDeliveryCountExceeded")
        XCTAssertEqual(collector.items.load().count, 2)
        try dlq.close()
    }

    func testExpiredLocksMakeTheMessageAvailableAgain() throws {
        // Long enough that the redelivered message is still locked when the test settles it after two more round
        // trips, even through a pause of this shared machine (0.3 s was not, now and then).
        let emulator = try startEmulator { $0.lockDuration = .seconds(1) }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q4")
        XCTAssertEqual(try client.session.attachSender(address: client.address("q4")).send(AMQPMessage(data: [7])), .accepted)
        let (receiver, collector) = try peekLockReceiver(client, "q4")
        let first = collector.wait(for: 1)[0]
        // Not settled: the lock expires and the same link gets the message again, counted as a failed delivery.
        let second = collector.wait(for: 2)[1]
        XCTAssertEqual(second.message.header?.deliveryCount, 1)
        XCTAssertEqual(second.message.annotation("x-opt-sequence-number"), first.message.annotation("x-opt-sequence-number"))
        // Settling with the expired token does not complete the redelivered message: it is refused as lock-lost.
        XCTAssertThrowsError(try settle(first, .accepted)) { error in
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.amqpCondition, "com.microsoft:message-lock-lost", "\(error)")
        }
        XCTAssertEqual(try emulatorQueue(emulator, "q4").count, 1)
        try settle(second, .accepted)
        XCTAssertEqual(try emulatorQueue(emulator, "q4").count, 0)
        try receiver.close()
    }

    func testManagementScheduleCancelPeekRenewDeferAndReceiveDeferred() throws {
        let emulator = try startEmulator { $0.queues = ["q5"] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q5")
        let link = try management(client, queue: "q5")
        func scheduled(_ body: String, at: Int64) -> AMQPValue {
            var message = AMQPMessage(data: Array(body.utf8))
            message.properties = AMQPProperties(messageID: .string(body))
            message.messageAnnotations = [.symbol("x-opt-scheduled-enqueue-time"): .timestamp(at)]
            return .map(["message-id": .string(body), "message": .binary(message.encode())])
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let (status, body, response) = try request(link, "com.microsoft:schedule-message",
                                                   ["messages": .list([scheduled("now", at: now), scheduled("later", at: now + 3_600_000)])])
        XCTAssertEqual(status, 200)
        XCTAssertEqual(response.applicationProperties?["statusDescription"], "OK")
        guard case .array(let numbers)? = body?["sequence-numbers"] else { return XCTFail("no sequence numbers") }
        XCTAssertEqual(numbers.elementType, .long)
        XCTAssertEqual(numbers.elements.count, 2)
        XCTAssertEqual(try request(link, "com.microsoft:cancel-scheduled-message",
                                   ["sequence-numbers": .array(try AMQPArray(elementType: .long, elements: [numbers.elements[1]]))]).0, 200)
        // Peek sees only the due message, without locking it.
        let peeked = try request(link, "com.microsoft:peek-message", ["from-sequence-number": .long(1), "message-count": .int(10)])
        XCTAssertEqual(peeked.0, 200)
        guard case .list(let items)? = peeked.1?["messages"] else { return XCTFail("no messages") }
        XCTAssertEqual(items.count, 1)
        XCTAssertEqual(try request(link, "com.microsoft:peek-message", ["from-sequence-number": .long(50), "message-count": .int(1)]).0, 204)

        let (receiver, collector) = try peekLockReceiver(client, "q5")
        let delivery = collector.wait(for: 1)[0]
        XCTAssertEqual(text(delivery), "now")
        let token = try XCTUnwrap(LockToken.token(fromDeliveryTag: delivery.deliveryTag))
        let tokens = AMQPValue.array(try AMQPArray(elementType: .uuid, elements: [.uuid(token)]))
        let renewed = try request(link, "com.microsoft:renew-lock", ["lock-tokens": tokens])
        XCTAssertEqual(renewed.0, 200)
        guard case .array(let expirations)? = renewed.1?["expirations"] else { return XCTFail("no expirations") }
        XCTAssertEqual(expirations.elementType, .timestamp)
        let unknown = AMQPValue.array(try AMQPArray(elementType: .uuid, elements: [.uuid(UUID())]))
        let lost = try request(link, "com.microsoft:renew-lock", ["lock-tokens": unknown])
        XCTAssertEqual(lost.0, 410)
        XCTAssertEqual(lost.2.applicationProperties?["errorCondition"], .symbol("com.microsoft:message-lock-lost"))

        // Defer, then fetch by sequence number and complete through update-disposition.
        try settle(delivery, .modified(deliveryFailed: true, undeliverableHere: true, messageAnnotations: nil))
        guard case .long(let sequence)? = delivery.message.annotation("x-opt-sequence-number") else { return XCTFail("no sequence") }
        let fetched = try request(link, "com.microsoft:receive-by-sequence-number",
                                  ["sequence-numbers": .array(try AMQPArray(elementType: .long, elements: [.long(sequence)])),
                                   "receiver-settle-mode": .uint(1)])
        XCTAssertEqual(fetched.0, 200)
        guard case .list(let deferred)? = fetched.1?["messages"], case .map(let entry)? = deferred.first,
            case .uuid(let deferredToken)? = entry["lock-token"], case .binary(let bytes)? = entry["message"]
        else { return XCTFail("no deferred message") }
        XCTAssertEqual(try AMQPMessage.decode(bytes).dataBody, Array("now".utf8))
        let completed = try request(link, "com.microsoft:update-disposition",
                                    ["disposition-status": "completed",
                                     "lock-tokens": .array(try AMQPArray(elementType: .uuid, elements: [.uuid(deferredToken)]))])
        XCTAssertEqual(completed.0, 200)
        XCTAssertEqual(try emulatorQueue(emulator, "q5").count, 0)
        XCTAssertEqual(try request(link, "com.microsoft:receive-by-sequence-number",
                                   ["sequence-numbers": .array(try AMQPArray(elementType: .long, elements: [.long(sequence)]))]).0, 404)
        try receiver.close()
    }

    func testReceiversOnlyTakeWhatTheirCreditAllows() throws {
        let emulator = try startEmulator()
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q6")
        let sender = try client.session.attachSender(address: client.address("q6"))
        for index in 0..<3 { XCTAssertEqual(try sender.send(AMQPMessage(data: [UInt8(index)])), .accepted) }
        let (receiver, collector) = try peekLockReceiver(client, "q6", credit: .manual)
        receiver.addCredit(1)
        XCTAssertEqual(collector.wait(for: 1).count, 1)
        // The other two stay unlocked: a second receiver gets them.
        let (other, otherCollector) = try peekLockReceiver(client, "q6")
        XCTAssertEqual(otherCollector.wait(for: 2).count, 2)
        try receiver.drain()
        try receiver.close()
        try other.close()
    }

    func testQueueLimitRejectsWithResourceLimitExceeded() throws {
        let emulator = try startEmulator { $0.limits.maxMessagesPerQueue = 2 }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("small")
        let sender = try client.session.attachSender(address: client.address("small"))
        XCTAssertEqual(try sender.send(AMQPMessage(data: [1])), .accepted)
        XCTAssertEqual(try sender.send(AMQPMessage(data: [2])), .accepted)
        guard case .rejected(let error)? = try sender.send(AMQPMessage(data: [3])) else { return XCTFail("not rejected") }
        XCTAssertEqual(error?.condition, AMQPRemoteError.resourceLimitExceeded)
        XCTAssertTrue(error?.errorDescription?.contains("limit of 2") == true)
    }

    func testLockTokensUseDotNetGuidByteOrder() {
        let token = UUID(uuidString: "00112233-4455-6677-8899-aabbccddeeff")!
        XCTAssertEqual(LockToken.deliveryTag(token),
                       [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
        XCTAssertEqual(LockToken.token(fromDeliveryTag: LockToken.deliveryTag(token)), token)
    }
}

/// The emulator's queue, for checking state directly.
func emulatorQueue(_ emulator: Emulator, _ name: String) throws -> ServiceBusQueue {
    try emulator.broker.serviceBusQueue(name, create: false).mapError { $0 as any Error }.get()
}
