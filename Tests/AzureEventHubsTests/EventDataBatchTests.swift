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
        let bytes = batch.encode()
        XCTAssertFalse(batch.tryAdd(EventData(body: [UInt8](repeating: 1, count: 10_240))))
        XCTAssertEqual(batch.sizeInBytes, before)
        XCTAssertEqual(batch.encode(), bytes)
        // A smaller event still fits after the refusal.
        XCTAssertTrue(batch.tryAdd(EventData(body: "small")))
        XCTAssertEqual(batch.sizeInBytes, batch.encode().count)
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

    /// Events are written straight into the batch's buffer; the bytes are exactly those of the envelope message
    /// with each event's own encoding as a `data` section, at every size either side of the vbin8/vbin32 switch,
    /// for events with properties and for bare ones (written without building a message). The expected bytes come
    /// from the generic value encoder, so the sections' own fast path is checked against it too.
    func testBytesAreTheEnvelopeWithEachEncodedEventAsADataSection() {
        func generic(_ section: [UInt8]) -> [UInt8] {
            AMQPEncoder.encode(.described(descriptor: .ulong(0x75), value: .binary(section)))
        }
        for key in [nil, "k"] as [String?] {
            for bare in [false, true] {
                var batch = EventDataBatch(maxSizeInBytes: 1_048_576, options: SendEventOptions(partitionKey: key))
                var expected = EventDataBatch.envelope(partitionKey: key).encode()
                for size in [0, 1, 200, 230, 240, 245, 250, 255, 256, 300, 65_536, 3] {
                    let body = [UInt8](repeating: UInt8(size % 251), count: size)
                    let event = bare ? EventData(body: body) : EventData(body: body, messageID: "m\(size)")
                    XCTAssertTrue(batch.tryAdd(event))
                    var message = event.amqpMessage(partitionKey: key)
                    let inner: [UInt8]
                    if bare && key == nil {
                        inner = generic(body)  // a bare event is its one data section
                        XCTAssertNil(message.properties)
                    } else {
                        message.body = .none
                        inner = message.encode() + generic(body)
                    }
                    expected += generic(inner)
                    XCTAssertEqual(batch.encode(), expected, "key \(key ?? "-") bare \(bare) size \(size)")
                    XCTAssertEqual(batch.sizeInBytes, batch.encode().count)
                }
                XCTAssertEqual(batch.count, 12)
            }
        }
    }
}
