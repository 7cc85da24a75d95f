import ToolboxAMQP
import XCTest

@testable import AzureEventHubs

final class EventDataBatchTests: XCTestCase {
    func testSizeIsTheExactEncodedSize() {
        for key in [nil, "customer-42"] as [String?] {
            var batch = EventDataBatch(maxSizeInBytes: 1_048_576, options: SendEventOptions(partitionKey: key))
            XCTAssertEqual(batch.sizeInBytes, batch.encode().count)
            for size in [0, 7, 250, 300, 70_000] {
                var event = EventData(body: [UInt8](repeating: 0x61, count: size), contentType: "text/plain")
                event.properties = ["color": "red", "n": .int(7)]
                XCTAssertTrue(batch.tryAdd(event))
                XCTAssertEqual(batch.sizeInBytes, batch.encode().count, "key \(key ?? "-") size \(size)")
            }
        }
    }

    func testTryAddStopsAtMaxSize() {
        var batch = EventDataBatch(maxSizeInBytes: 1_048_576, options: SendEventOptions())
        var added = 0
        while batch.tryAdd(EventData(body: [UInt8](repeating: 1, count: 10_240))) { added += 1 }
        XCTAssertGreaterThan(added, 100)
        XCTAssertLessThan(added, 103)
        XCTAssertLessThanOrEqual(batch.encode().count, 1_048_576)
        XCTAssertEqual(batch.count, added)
        // A refused event leaves the batch unchanged.
        let before = batch.sizeInBytes
        XCTAssertFalse(batch.tryAdd(EventData(body: [UInt8](repeating: 1, count: 10_240))))
        XCTAssertEqual(batch.sizeInBytes, before)
    }

    func testBatchLayoutMatchesTheSDKs() throws {
        var batch = EventDataBatch(maxSizeInBytes: 1_048_576, options: SendEventOptions(partitionKey: "customer-42"))
        XCTAssertTrue(batch.tryAdd(EventData(body: "hello-1")))
        XCTAssertTrue(batch.tryAdd(EventData(body: "hello-2", contentType: "text/plain", properties: ["color": "red"])))
        let outer = try AMQPMessage.decode(batch.encode())
        XCTAssertEqual(outer.header?.durable, true)
        XCTAssertEqual(outer.messageAnnotations?[.symbol("x-opt-partition-key")], .string("customer-42"))
        guard case .data(let sections) = outer.body else { return XCTFail("no data sections") }
        XCTAssertEqual(sections.count, 2)
        let second = try AMQPMessage.decode(sections[1])
        XCTAssertEqual(second.messageAnnotations?[.symbol("x-opt-partition-key")], .string("customer-42"))
        XCTAssertEqual(second.properties?.contentType, "text/plain")
        XCTAssertEqual(second.applicationProperties?[.string("color")], .string("red"))
        XCTAssertEqual(second.dataBody, Array("hello-2".utf8))

        var plain = EventDataBatch(maxSizeInBytes: 1_048_576, options: SendEventOptions())
        XCTAssertTrue(plain.tryAdd(EventData(body: "x")))
        let bare = try AMQPMessage.decode(plain.encode())
        XCTAssertNil(bare.header)
        XCTAssertNil(bare.messageAnnotations)
        XCTAssertEqual(try AMQPMessage.decode(bare.dataBody ?? []).dataBody, Array("x".utf8))
    }
}
