import AzureAuth
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEmulator

final class EventHubsTests: XCTestCase {
    private func consumer(_ client: TestClient, hub: String, partition: Int, filter: String?) throws -> (AMQPReceiver, Collector) {
        let collector = Collector()
        var options = AMQPReceiverOptions(credit: .auto(prefetch: 300))
        if let filter {
            options.filter = [.symbol("apache.org:selector-filter:string"):
                .described(descriptor: .symbol("apache.org:selector-filter:string"), value: .string(filter))]
        }
        let receiver = try client.session.attachReceiver(
            address: client.address("\(hub)/ConsumerGroups/$Default/Partitions/\(partition)"), options: options
        ) { collector.add($0) }
        return (receiver, collector)
    }

    private func managementRead(_ client: TestClient, _ properties: AMQPMap) throws -> AMQPMessage {
        let link = try AMQPRequestResponseLink.attach(session: client.session, address: "$management")
        var request = AMQPMessage()
        request.applicationProperties = properties
        return try link.request(request, timeout: .seconds(10))
    }

    func testLinksWithoutATokenAreRefusedAsUnauthorized() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 2)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        XCTAssertThrowsError(try client.session.attachSender(address: client.address("eh1"))) { error in
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.unauthorizedAccess)
        }
        // A token for another entity does not cover eh1.
        try client.authorize("other")
        XCTAssertThrowsError(try client.session.attachSender(address: client.address("eh1/Partitions/0")))
        try client.authorize("eh1")
        XCTAssertEqual(try client.session.attachSender(address: client.address("eh1"))
            .send(eventBatch(["x"]), messageFormat: batchFormat), .accepted)
    }

    func testPutTokenWithAWrongKeyOrExpiredTokenIsRefusedWith401() throws {
        let emulator = try startEmulator()
        let client = try TestClient(emulator)
        defer { client.close() }
        for token in [client.token("eh1", key: "not-the-key"), client.token("eh1", keyName: "someone"),
                      client.token("eh1", expiry: Int(Date().timeIntervalSince1970) - 10)] {
            XCTAssertThrowsError(try client.cbs.putToken(audience: client.audience("eh1"), token: token, timeout: .seconds(10))) { error in
                XCTAssertTrue("\(error)".contains("status 401"), "\(error)")
                XCTAssertFalse("\(error)".contains("SharedAccessSignature"), "the token must not be echoed")
            }
        }
        // A token for eh1 does not authorize an audience it does not cover.
        let mismatched = client.token("eh1")
        XCTAssertThrowsError(try client.cbs.putToken(audience: client.audience("eh2"), token: mismatched, timeout: .seconds(10)))
        // SAS under type "jwt" (what azure-servicebus sends) is accepted.
        var jwt = client.token("q1")
        jwt.type = AMQPCBSToken.jwtType
        XCTAssertNoThrow(try client.cbs.putToken(audience: client.audience("q1"), token: jwt, timeout: .seconds(10)))
    }

    func testBatchesAreUnpackedPartitionKeysStickAndConsumersSeeAnnotations() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 4)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("eh1")
        let sender = try client.session.attachSender(address: client.address("eh1"))
        XCTAssertEqual(try sender.send(eventBatch(["a1", "a2"], partitionKey: "customer-42"), messageFormat: batchFormat), .accepted)
        XCTAssertEqual(try sender.send(eventBatch(["a3"], partitionKey: "customer-42"), messageFormat: batchFormat), .accepted)
        let pinned = try client.session.attachSender(address: client.address("eh1/Partitions/3"))
        XCTAssertEqual(try pinned.send(eventBatch(["p1", "p2", "p3"]), messageFormat: batchFormat), .accepted)

        var found: [String] = []
        var keyed: [Int] = []
        for partition in 0..<4 {
            let (receiver, collector) = try consumer(client, hub: "eh1", partition: partition,
                                                     filter: "amqp.annotation.x-opt-offset > '-1'")
            let response = try managementRead(client, ["operation": "READ", "name": "eh1", "type": "com.microsoft:partition",
                                                       "partition": .string(String(partition))])
            guard case .value(.map(let body)) = response.body else { return XCTFail("no body") }
            guard case .long(let last)? = body["last_enqueued_sequence_number"] else { return XCTFail("\(body)") }
            let expected = Int(last + 1)
            let deliveries = collector.wait(for: expected)
            XCTAssertEqual(deliveries.count, expected)
            for (index, delivery) in deliveries.enumerated() {
                let message = delivery.message
                XCTAssertTrue(delivery.isSettled)
                XCTAssertEqual(message.annotation("x-opt-sequence-number"), .long(Int64(index)))
                if case .string = message.annotation("x-opt-offset") {} else { XCTFail("x-opt-offset must be a string") }
                if case .timestamp = message.annotation("x-opt-enqueued-time") {} else { XCTFail("no enqueued time") }
                if message.annotation("x-opt-partition-key") == "customer-42" { keyed.append(partition) }
                found.append(String(decoding: message.dataBody ?? [], as: UTF8.self))
            }
            if partition == 3 {
                XCTAssertTrue(found.suffix(3).elementsEqual(["p1", "p2", "p3"]) || found.contains("p1"))
            }
            try receiver.close()
        }
        XCTAssertEqual(Set(found), ["a1", "a2", "a3", "p1", "p2", "p3"])
        XCTAssertEqual(Set(keyed).count, 1, "one partition key must stick to one partition")
        XCTAssertEqual(keyed.count, 3)
    }

    func testRoundRobinSpreadsEventsWithoutKey() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "rr", partitionCount: 2)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("rr")
        let sender = try client.session.attachSender(address: client.address("rr"))
        for index in 0..<4 { XCTAssertEqual(try sender.send(eventBatch(["e\(index)"]), messageFormat: batchFormat), .accepted) }
        for partition in 0..<2 {
            let response = try managementRead(client, ["operation": "READ", "name": "rr", "type": "com.microsoft:partition",
                                                       "partition": .string(String(partition))])
            guard case .value(.map(let body)) = response.body else { return XCTFail("no body") }
            XCTAssertEqual(body["last_enqueued_sequence_number"], .long(1))
            XCTAssertEqual(body["is_partition_empty"], .bool(false))
        }
    }

    func testManagementReadsHubPropertiesWithHyphenatedStatusKeys() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 3)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("eh1")
        let response = try managementRead(client, ["operation": "READ", "name": "eh1", "type": "com.microsoft:eventhub"])
        XCTAssertEqual(response.applicationProperties?["status-code"], .int(200))
        XCTAssertEqual(response.applicationProperties?["status-description"], "OK")
        guard case .value(.map(let body)) = response.body else { return XCTFail("no body") }
        XCTAssertEqual(body["partition_count"], .int(3))
        XCTAssertEqual(body["name"], "eh1")
        guard case .array(let ids)? = body["partition_ids"] else { return XCTFail("no ids") }
        XCTAssertEqual(ids.elements, ["0", "1", "2"])
        XCTAssertEqual(ids.elementType, .string)
        let missing = try managementRead(client, ["operation": "READ", "name": "eh1", "type": "com.microsoft:partition",
                                                  "partition": "9"])
        XCTAssertEqual(missing.applicationProperties?["status-code"], .int(404))
    }

    func testManagementWithoutTokenIsRefusedUnlessTheRequestCarriesOne() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 1)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        let denied = try managementRead(client, ["operation": "READ", "name": "eh1", "type": "com.microsoft:eventhub"])
        XCTAssertEqual(denied.applicationProperties?["status-code"], .int(401))
        let token = client.token("eh1").token.exposedValue
        let allowed = try managementRead(client, ["operation": "READ", "name": "eh1", "type": "com.microsoft:eventhub",
                                                  "security_token": .string(token)])
        XCTAssertEqual(allowed.applicationProperties?["status-code"], .int(200))
    }

    func testConsumersStartAtSequenceNumbersEnqueuedTimeAndLatest() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 1)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("eh1")
        let sender = try client.session.attachSender(address: client.address("eh1/Partitions/0"))
        XCTAssertEqual(try sender.send(eventBatch(["e0", "e1", "e2", "e3"]), messageFormat: batchFormat), .accepted)
        func bodies(_ filter: String?, count: Int) throws -> [String] {
            let (receiver, collector) = try consumer(client, hub: "eh1", partition: 0, filter: filter)
            defer { try? receiver.close() }
            return collector.wait(for: count, timeout: count == 0 ? 0.3 : 10).map { String(decoding: $0.message.dataBody ?? [], as: UTF8.self) }
        }
        XCTAssertEqual(try bodies("amqp.annotation.x-opt-sequence-number > '1'", count: 2), ["e2", "e3"])
        XCTAssertEqual(try bodies("amqp.annotation.x-opt-sequence-number >= '1'", count: 3), ["e1", "e2", "e3"])
        XCTAssertEqual(try bodies("amqp.annotation.x-opt-enqueued-time > '0'", count: 4).count, 4)
        // Latest: only what is sent after the attach.
        let (receiver, collector) = try consumer(client, hub: "eh1", partition: 0, filter: "amqp.annotation.x-opt-offset > '@latest'")
        XCTAssertEqual(try sender.send(eventBatch(["new"]), messageFormat: batchFormat), .accepted)
        let got = collector.wait(for: 1)
        XCTAssertEqual(got.map { String(decoding: $0.message.dataBody ?? [], as: UTF8.self) }, ["new"])
        XCTAssertEqual(got.first?.message.annotation("x-opt-sequence-number"), .long(4))
        try receiver.close()
        // An offset position: everything after the second event's offset.
        let (all, allCollector) = try consumer(client, hub: "eh1", partition: 0, filter: "amqp.annotation.x-opt-offset > '-1'")
        let events = allCollector.wait(for: 5)
        try all.close()
        guard case .string(let offset)? = events[1].message.annotation("x-opt-offset") else { return XCTFail("no offset") }
        XCTAssertEqual(try bodies("amqp.annotation.x-opt-offset > '\(offset)'", count: 3), ["e2", "e3", "new"])
    }

    /// Issue 13 item 7: azure-eventhub's consumer with `starting_position=9223372036854775807,
    /// starting_position_inclusive=False` made the selector's `n + 1` trap and killed the emulator. Nothing comes
    /// after the largest sequence number; the emulator keeps serving.
    func testASelectorAfterTheLargestSequenceNumberDeliversNothingAndDoesNotTrap() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 1)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("eh1")
        let sender = try client.session.attachSender(address: client.address("eh1/Partitions/0"))
        XCTAssertEqual(try sender.send(eventBatch(["e0"]), messageFormat: batchFormat), .accepted)
        for filter in ["amqp.annotation.x-opt-sequence-number > '9223372036854775807'",
                       "amqp.annotation.x-opt-sequence-number >= '9223372036854775807'",
                       "amqp.annotation.x-opt-sequence-number > '-9223372036854775808'"] {
            let (receiver, collector) = try consumer(client, hub: "eh1", partition: 0, filter: filter)
            let expected = filter.contains("-9223372036854775808") ? 1 : 0
            XCTAssertEqual(collector.wait(for: expected, timeout: expected == 0 ? 0.3 : 10).count, expected, filter)
            try receiver.close()
        }
        XCTAssertEqual(try sender.send(eventBatch(["e1"]), messageFormat: batchFormat), .accepted)
    }

    func testRuntimeMetricsAreAddedAsDeliveryAnnotationsWhenAsked() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 1)] }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("eh1")
        let sender = try client.session.attachSender(address: client.address("eh1/Partitions/0"))
        var inner = AMQPMessage(data: Array("a".utf8))
        inner.header = AMQPHeader(durable: true)
        let batch = AMQPMessage(body: .data([inner.encode(), AMQPMessage(data: Array("b".utf8)).encode()]))
        XCTAssertEqual(try sender.send(batch, messageFormat: batchFormat), .accepted)
        let collector = Collector()
        var options = AMQPReceiverOptions(credit: .auto(prefetch: 10))
        options.filter = [.symbol("apache.org:selector-filter:string"):
            .described(descriptor: .symbol("apache.org:selector-filter:string"), value: "amqp.annotation.x-opt-offset > '-1'")]
        options.desiredCapabilities = ["com.microsoft:enable-receiver-runtime-metric"]
        let receiver = try client.session.attachReceiver(address: client.address("eh1/ConsumerGroups/$Default/Partitions/0"),
                                                         options: options) { collector.add($0) }
        let first = collector.wait(for: 2)[0].message
        XCTAssertEqual(first.deliveryAnnotations?[.symbol("last_enqueued_sequence_number")], .long(1))
        XCTAssertEqual(first.header?.durable, true, "the header stays first")
        XCTAssertEqual(first.dataBody, Array("a".utf8))
        try receiver.close()
    }

    func testMaxMessageSizeIsAnnouncedAndEnforced() throws {
        let emulator = try startEmulator {
            $0.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 1)]
            $0.limits.maxMessageSize = 4096
        }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("eh1")
        let sender = try client.session.attachSender(address: client.address("eh1"))
        // Our client refuses locally because the emulator announced max-message-size on its attach.
        XCTAssertThrowsError(try sender.send(AMQPMessage(data: [UInt8](repeating: 1, count: 10_000)))) { error in
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.messageSizeExceeded)
        }
        XCTAssertEqual(try sender.send(eventBatch(["small"]), messageFormat: batchFormat), .accepted)
    }

    func testStrictEntitiesRefuseUnknownHubs() throws {
        let emulator = try startEmulator { $0.strictEntities = true }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("nohub")
        XCTAssertThrowsError(try client.session.attachSender(address: client.address("nohub/Partitions/0"))) { error in
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.notFound)
        }
    }
}
