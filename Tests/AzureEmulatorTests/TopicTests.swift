import AzureAuth
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEmulator

final class TopicTests: XCTestCase {
    private func receiver(_ client: TestClient, _ path: String) throws -> (AMQPReceiver, Collector) {
        let collector = Collector()
        let options = AMQPReceiverOptions(credit: .auto(prefetch: 10), settleMode: .unsettled, receiverSettleMode: .second)
        return (try client.session.attachReceiver(address: client.address(path), options: options) { collector.add($0) }, collector)
    }

    func testATopicCopiesEachMessageToEverySubscription() throws {
        let emulator = try startEmulator { $0.topics = [TopicDefinition(name: "orders", subscriptions: ["audit", "billing"])] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("orders")
        let sender = try client.session.attachSender(address: client.address("orders"))
        XCTAssertEqual(try sender.send(AMQPMessage(data: Array("o1".utf8))), .accepted)
        XCTAssertEqual(try sender.send(eventBatch(["o2", "o3"]), messageFormat: batchFormat), .accepted)
        for name in ["audit", "billing"] {
            let (link, collector) = try receiver(client, "orders/Subscriptions/\(name)")
            let got = collector.wait(for: 3)
            XCTAssertEqual(got.map { String(decoding: $0.message.dataBody ?? [], as: UTF8.self) }, ["o1", "o2", "o3"])
            XCTAssertEqual(got.first?.deliveryTag.count, 16)
            try link.close()
        }
        // A bare topic cannot be received from.
        XCTAssertThrowsError(try client.session.attachReceiver(address: client.address("orders")) { _ in }) { error in
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.notFound)
        }
    }

    func testSubscriptionsCreatedOnFirstUseAndScheduledThroughTheTopic() throws {
        let emulator = try startEmulator()
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("events")
        // The subscription's receiver creates the topic.
        let (link, collector) = try receiver(client, "events/Subscriptions/s1")
        let management = try AMQPRequestResponseLink.attach(session: client.session, address: "events/$management")
        var scheduled = AMQPMessage(data: Array("later".utf8))
        scheduled.messageAnnotations = [.symbol("x-opt-scheduled-enqueue-time"): .timestamp(Int64(Date().timeIntervalSince1970 * 1000))]
        var request = AMQPMessage(value: .map(["messages": .list([.map(["message-id": "m", "message": .binary(scheduled.encode())])])]))
        request.applicationProperties = ["operation": "com.microsoft:schedule-message"]
        let response = try management.request(request, timeout: .seconds(10))
        XCTAssertEqual(response.applicationProperties?["statusCode"], .int(200))
        XCTAssertEqual(collector.wait(for: 1).map { String(decoding: $0.message.dataBody ?? [], as: UTF8.self) }, ["later"])
        try link.close()
        // Dead-letter sub-queue of a subscription.
        XCTAssertEqual(EntityAddress("events/Subscriptions/s1/$DeadLetterQueue"), .deadLetter("events/Subscriptions/s1"))
        XCTAssertNoThrow(try client.session.attachReceiver(address: client.address("events/Subscriptions/s1/$DeadLetterQueue")) { _ in })
    }
}
