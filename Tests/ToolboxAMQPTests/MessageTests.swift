import Foundation
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

final class MessageTests: XCTestCase {
    func testEverySectionAndPropertyRoundTrips() throws {
        var message = AMQPMessage(body: .sequence([[.int(1), "two"], [.symbol("three")]]))
        message.header = AMQPHeader(durable: true, priority: 9, ttl: 60_000, firstAcquirer: false, deliveryCount: 3)
        message.deliveryAnnotations = [.symbol("x-opt-lock-token"): .uuid(UUID())]
        message.messageAnnotations = [.symbol("x-opt-partition-key"): "pk", .symbol("x-opt-enqueued-time"): .timestamp(1_700_000_000_000)]
        var properties = AMQPProperties(messageID: .ulong(42), to: "q", subject: "s", replyTo: "r",
                                        correlationID: .binary([1, 2]), contentType: "application/json")
        properties.userID = Array("user".utf8)
        properties.contentEncoding = "gzip"
        properties.absoluteExpiryTime = 1_800_000_000_000
        properties.creationTime = 1_700_000_000_000
        properties.groupID = "g"
        properties.groupSequence = 7
        properties.replyToGroupID = "rg"
        message.properties = properties
        message.applicationProperties = ["operation": "READ", "count": .long(5), "flag": true]
        message.footer = [.symbol("x-hash"): .binary([0xff])]
        let encoded = message.encode()
        XCTAssertEqual(try AMQPMessage.decode(encoded), message)
        // Sections appear in the specification's order.
        var decoder = AMQPDecoder(encoded)
        var codes: [UInt64] = []
        while !decoder.isAtEnd { codes.append(try decoder.decodeValue().descriptorCode ?? 0) }
        XCTAssertEqual(codes, [0x70, 0x71, 0x72, 0x73, 0x74, 0x76, 0x76, 0x78])

        let value = AMQPMessage(value: .map(["k": .list([.null, .double(1.5)])]))
        XCTAssertEqual(try AMQPMessage.decode(value.encode()), value)
        let multiData = AMQPMessage(body: .data([[1], [2, 3]]))
        XCTAssertEqual(try AMQPMessage.decode(multiData.encode()).dataBody, [1, 2, 3])
        XCTAssertEqual(try AMQPMessage.decode([]), AMQPMessage())
    }

    func testByteExactSimpleMessage() {
        var message = AMQPMessage(data: [0x61])
        message.properties = AMQPProperties(messageID: "m1")
        // properties(list8, 1 field: string "m1"), data(vbin8 "a")
        XCTAssertEqual(message.encode(), [0x00, 0x53, 0x73, 0xc0, 0x05, 0x01, 0xa1, 0x02, 0x6d, 0x31, 0x00, 0x53, 0x75, 0xa0, 0x01, 0x61])
    }

    /// `data` sections are written without building their `AMQPValue`; the bytes are the generic encoder's, on
    /// both sides of the vbin8/vbin32 switch, and several sections follow each other.
    func testDataSectionsAreTheGenericEncoding() throws {
        for size in [0, 1, 254, 255, 256, 70_000] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let generic = AMQPEncoder.encode(.described(descriptor: .ulong(0x75), value: .binary(payload)))
            var encoder = AMQPEncoder()
            encoder.encodeDataSection(payload)
            XCTAssertEqual(encoder.bytes, generic, "size \(size)")
            let message = AMQPMessage(body: .data([payload, [1, 2, 3]]))
            XCTAssertEqual(message.encode(), generic + AMQPEncoder.encode(
                .described(descriptor: .ulong(0x75), value: .binary([1, 2, 3]))), "size \(size)")
            XCTAssertEqual(try AMQPMessage.decode(message.encode()).body, .data([payload, [1, 2, 3]]))
        }
    }

    /// The decoder reads `data` sections in their usual form directly; other forms of the descriptor still
    /// decode, and a section cut short is an error, not a crash.
    func testDataSectionsDecodeInEveryFormAndTruncationIsAnError() throws {
        let payload: [UInt8] = Array(repeating: 0x5a, count: 300)
        let usual = AMQPMessage(body: .data([[1, 2], payload])).encode()
        XCTAssertEqual(try AMQPMessage.decode(usual).body, .data([[1, 2], payload]))
        // The descriptor as an 8-byte ulong and as its symbol, and the payload as vbin32 although it fits vbin8.
        let longDescriptor: [UInt8] = [0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x75, 0xb0, 0, 0, 0, 2, 7, 8]
        let symbolDescriptor = AMQPEncoder.encode(.described(descriptor: .symbol("amqp:data:binary"), value: .binary([9])))
        XCTAssertEqual(try AMQPMessage.decode(longDescriptor + symbolDescriptor + usual).body,
                       .data([[7, 8], [9], [1, 2], payload]))
        for cut in 1..<usual.count where cut != 7 {  // 7: right after the first section, a whole message
            XCTAssertThrowsError(try AMQPMessage.decode(Array(usual[..<cut])), "cut at \(cut)")
        }
        // A data section next to a value body is still refused.
        let mixed = usual + AMQPEncoder.encode(.described(descriptor: .ulong(0x77), value: .string("v")))
        XCTAssertThrowsError(try AMQPMessage.decode(mixed))
    }

    func testMalformedMessagesAreRejected() {
        let cases: [[UInt8]] = [
            [0x40],  // not a described section
            [0x00, 0x53, 0x75, 0x41],  // data section holding a boolean
            [0x00, 0x53, 0x70, 0x45, 0x00, 0x53, 0x70, 0x45],  // two headers
            [0x00, 0x53, 0x75, 0xa0, 0x00, 0x00, 0x53, 0x77, 0x40],  // data and amqp-value mixed
            [0x00, 0x53, 0x79, 0x45],  // unknown section
            [0x00, 0x53, 0x70, 0xc0, 0x02, 0x01, 0x50],  // truncated
        ]
        for bytes in cases { XCTAssertThrowsError(try AMQPMessage.decode(bytes), "\(bytes)") }
    }

    func testModifiedOutcomeReachesTheBroker() throws {
        let broker = TestBroker()
        broker.queues["q"] = [AMQPMessage(data: [1]).encode()]
        let connection = AMQPConnection(transport: PipeTransport(broker: broker),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let settled = expectation(description: "modified")
        _ = try connection.beginSession().attachReceiver(address: "q") { delivery in
            delivery.modify(deliveryFailed: true, undeliverableHere: false, annotations: ["reason": "later"]) { result in
                if case .failure(let error) = result { XCTFail("\(error)") }
                settled.fulfill()
            }
        }
        wait(for: [settled], timeout: 10)
        let deadline = Deadline.after(seconds: 10)
        while broker.sync({ $0.outcomes.isEmpty }), !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(broker.sync { $0.outcomes },
                       [.modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: ["reason": "later"])])
    }
}
