import Foundation
import ToolboxAMQP
import XCTest

@testable import AzureEmulator

/// The event hub keeps a batch's events as the producer encoded them and splices its annotations in
/// (`IncomingEvent`); what a consumer decodes must be what decoding, annotating and re-encoding gave.
final class EventBatchStampingTests: XCTestCase {
    private let stamp = EventStamp(sequenceNumber: 42, offset: 4096, enqueuedTime: 1_700_000_000_000, partitionKey: nil)
    private var stamps: [AMQPMap.Entry] { stamp.entries }

    func testTheHandWrittenSectionIsWhatTheEncoderWrites() {
        let keys: [String?] = [nil, "", "key-1", String(repeating: "k", count: 300)]
        for key in keys {
            for sequence: Int64 in [0, 127, 128, -1, -129, .max, .min] {
                let stamp = EventStamp(sequenceNumber: sequence, offset: sequence == .min ? 0 : abs(sequence % 1_000_000),
                                       enqueuedTime: sequence, partitionKey: key)
                let expected = AMQPEncoder.encode(.described(descriptor: .ulong(0x72), value: .map(AMQPMap(stamp.entries))))
                XCTAssertEqual(stamp.encodedSection(), expected, "sequence \(sequence), key of \(key?.count ?? -1) bytes")
            }
        }
    }

    func testTheSectionIsWrittenInPlaceForAnyOffsetAndItsLengthIsKnownFirst() {
        for offset: Int64 in [0, 9, 10, 99, 100, 4096, -1, -10, .max, .min, .max - 1, .min + 1] {
            for key: String? in [nil, "k", String(repeating: "é", count: 200)] {
                let stamp = EventStamp(sequenceNumber: 5, offset: offset, enqueuedTime: 1, partitionKey: key)
                let expected = AMQPEncoder.encode(.described(descriptor: .ulong(0x72), value: .map(AMQPMap(stamp.entries))))
                var bytes: [UInt8] = [0xEE]
                stamp.appendSection(to: &bytes)
                XCTAssertEqual(Array(bytes.dropFirst()), expected, "offset \(offset)")
                XCTAssertEqual(stamp.encodedLength, expected.count, "offset \(offset)")
                XCTAssertEqual(EventStamp.decimalDigits(offset), String(offset).utf8.count)
            }
        }
    }

    private func event() -> AMQPMessage {
        var message = AMQPMessage(data: Array("hello".utf8))
        message.header = AMQPHeader()
        message.header?.durable = true
        message.properties = AMQPProperties()
        message.properties?.messageID = .string("id-1")
        message.properties?.contentType = AMQPSymbol("application/json")
        message.applicationProperties = ["k": .string("v"), "n": .long(7)]
        return message
    }

    /// What a consumer decoded before the splice existed: the emulator decoded, merged the annotations, encoded.
    private func reference(_ message: AMQPMessage) throws -> AMQPMessage {
        var expected = message
        var annotations = expected.messageAnnotations ?? AMQPMap()
        for entry in stamps { annotations[entry.key] = entry.value }
        expected.messageAnnotations = annotations
        return try AMQPMessage.decode(expected.encode())
    }

    func testAnEventWithoutAnnotationsIsSplicedAndDecodesAsTheReencodedOne() throws {
        let bytes = event().encode()
        let incoming = try IncomingEvent(batchSection: bytes)
        guard case .encoded(_, let at) = incoming else { return XCTFail("expected the splice path, got \(incoming)") }
        XCTAssertGreaterThan(at, 0, "after the header")
        XCTAssertEqual(try AMQPMessage.decode(incoming.stamped(with: stamp)), try reference(event()))
    }

    func testAnEventWithOnlyABodyGetsTheAnnotationsFirst() throws {
        let bytes = AMQPMessage(data: [1, 2, 3]).encode()
        let incoming = try IncomingEvent(batchSection: bytes)
        guard case .encoded(_, let at) = incoming else { return XCTFail("expected the splice path") }
        XCTAssertEqual(at, 0)
        XCTAssertEqual(try AMQPMessage.decode(incoming.stamped(with: stamp)), try reference(AMQPMessage(data: [1, 2, 3])))
    }

    func testAnEventWithItsOwnAnnotationsIsDecodedAndMerged() throws {
        var message = event()
        message.messageAnnotations = [.symbol("x-opt-custom"): .string("kept"), .symbol("x-opt-offset"): .string("old")]
        let incoming = try IncomingEvent(batchSection: message.encode())
        guard case .decoded = incoming else { return XCTFail("expected the decode path") }
        let stored = try AMQPMessage.decode(incoming.stamped(with: stamp))
        XCTAssertEqual(stored, try reference(message))
        XCTAssertEqual(stored.messageAnnotations?[.symbol("x-opt-custom")], .string("kept"))
        XCTAssertEqual(stored.messageAnnotations?[.symbol("x-opt-offset")], .string("4096"))
    }

    func testSectionsOutOfOrderAreDecoded() throws {
        // pyamqp writes delivery annotations after the body.
        let body = AMQPMessage(data: [9]).encode()
        let annotations = AMQPEncoder.encode(.described(descriptor: .ulong(0x71), value: .map(["a": .int(1)])))
        let incoming = try IncomingEvent(batchSection: body + annotations)
        guard case .decoded(let message) = incoming else { return XCTFail("expected the decode path") }
        XCTAssertEqual(message.deliveryAnnotations?["a"], .int(1))
    }

    func testMalformedEventsAreRefusedNotStored() {
        let bytes = event().encode()
        for cut in [1, 3, bytes.count / 2, bytes.count - 1] {
            XCTAssertThrowsError(try IncomingEvent(batchSection: Array(bytes.prefix(cut))), "cut at \(cut)")
        }
        // A section size far past the bytes present.
        XCTAssertThrowsError(try IncomingEvent(batchSection: [0x00, 0x53, 0x75, 0xb0, 0xff, 0xff, 0xff, 0xff, 1]))
    }
}
