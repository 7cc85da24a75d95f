import Foundation
import XCTest

@testable import ToolboxAMQP

/// Bytes written as in the transcripts' Python notation.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

final class CodecTests: XCTestCase {
    func roundTrip(_ value: AMQPValue, file: StaticString = #filePath, line: UInt = #line) throws {
        let encoded = AMQPEncoder.encode(value)
        let decoded = try AMQPDecoder.decode(encoded)
        XCTAssertEqual(decoded, value, file: file, line: line)
        XCTAssertEqual(AMQPEncoder.encode(decoded), encoded, file: file, line: line)
    }

    func testPrimitivesUseSmallestEncodings() {
        let vectors: [(AMQPValue, [UInt8])] = [
            (.null, [0x40]),
            (.bool(true), [0x41]),
            (.bool(false), [0x42]),
            (.ubyte(7), [0x50, 7]),
            (.ushort(0x1234), [0x60, 0x12, 0x34]),
            (.uint(0), [0x43]),
            (.uint(255), [0x52, 0xff]),
            (.uint(256), [0x70, 0, 0, 1, 0]),
            (.ulong(0), [0x44]),
            (.ulong(0x10), [0x53, 0x10]),
            (.ulong(0x1_0000_0000), [0x80, 0, 0, 0, 1, 0, 0, 0, 0]),
            (.byte(-1), [0x51, 0xff]),
            (.short(-2), [0x61, 0xff, 0xfe]),
            (.int(-128), [0x54, 0x80]),
            (.int(202), [0x71, 0, 0, 0, 202]),
            (.long(127), [0x55, 0x7f]),
            (.long(60_000), [0x81, 0, 0, 0, 0, 0, 0, 0xea, 0x60]),
            (.float(1.0), [0x72, 0x3f, 0x80, 0, 0]),
            (.double(-2.0), [0x82, 0xc0, 0, 0, 0, 0, 0, 0, 0]),
            (.decimal32(0x2230_0001), [0x74, 0x22, 0x30, 0x00, 0x01]),
            (.decimal64(0x2238_0000_0000_0001), [0x84, 0x22, 0x38, 0, 0, 0, 0, 0, 1]),
            (.char(0x1F600), [0x73, 0, 1, 0xf6, 0]),
            (.timestamp(1_795_642_200_000), [0x83, 0, 0, 0x01, 0xa2, 0x14, 0x9d, 0x8f, 0xc0]),
            (.binary([1, 2]), [0xa0, 2, 1, 2]),
            (.string("é"), [0xa1, 2, 0xc3, 0xa9]),
            (.symbol("PLAIN"), [0xa3, 5] + bytes("PLAIN")),
            (.list([]), [0x45]),
            (.list([.uint(0), .null]), [0xc0, 3, 2, 0x43, 0x40]),
            (.map([.symbol("a"): .int(1)]), [0xc1, 6, 2, 0xa3, 1, 0x61, 0x54, 1]),
        ]
        for (value, expected) in vectors {
            XCTAssertEqual(AMQPEncoder.encode(value), expected, "\(value)")
            XCTAssertEqual(try AMQPDecoder.decode(expected), value, "\(value)")
        }
    }

    func testDecimal128AndUUIDRoundTripRawBytes() throws {
        let d = AMQPDecimal128(high: 0x2208_0000_0000_0000, low: 0x0000_0000_0000_0001)
        let encoded = AMQPEncoder.encode(.decimal128(d))
        XCTAssertEqual(encoded.count, 17)
        XCTAssertEqual(encoded[0], 0x94)
        XCTAssertEqual(Array(encoded[1...2]), [0x22, 0x08])
        try roundTrip(.decimal128(d))
        let uuid = try XCTUnwrap(UUID(uuidString: "0e00c937-6ae1-4612-99bd-ffc2c98f4561"))
        let uuidBytes = AMQPEncoder.encode(.uuid(uuid))
        XCTAssertEqual(uuidBytes, [0x98, 0x0e, 0x00, 0xc9, 0x37, 0x6a, 0xe1, 0x46, 0x12,
                                   0x99, 0xbd, 0xff, 0xc2, 0xc9, 0x8f, 0x45, 0x61])
        try roundTrip(.uuid(uuid))
    }

    func testWideEncodingsAreDecodedAndLargeValuesUseThem() throws {
        // Wide forms a peer may send even for small values.
        XCTAssertEqual(try AMQPDecoder.decode([0xb1, 0, 0, 0, 1, 0x41]), .string("A"))
        XCTAssertEqual(try AMQPDecoder.decode([0xb3, 0, 0, 0, 1, 0x41]), .symbol("A"))
        XCTAssertEqual(try AMQPDecoder.decode([0xb0, 0, 0, 0, 1, 0x41]), .binary([0x41]))
        XCTAssertEqual(try AMQPDecoder.decode([0xd0, 0, 0, 0, 5, 0, 0, 0, 1, 0x40]), .list([.null]))
        XCTAssertEqual(try AMQPDecoder.decode([0xd1, 0, 0, 0, 6, 0, 0, 0, 2, 0x40, 0x41]), .map([nil: true]))
        XCTAssertEqual(try AMQPDecoder.decode([0x56, 0x01]), .bool(true))
        XCTAssertEqual(try AMQPDecoder.decode([0x56, 0x00]), .bool(false))
        XCTAssertThrowsError(try AMQPDecoder.decode([0x56, 0x02]))

        let big = [UInt8](repeating: 7, count: 300)
        let encoded = AMQPEncoder.encode(.binary(big))
        XCTAssertEqual(Array(encoded[0..<5]), [0xb0, 0, 0, 1, 0x2c])
        try roundTrip(.binary(big))
        let longList = AMQPValue.list(Array(repeating: .uint(1000), count: 100))
        XCTAssertEqual(AMQPEncoder.encode(longList).first, 0xd0)
        try roundTrip(longList)
        try roundTrip(.string(String(repeating: "x", count: 70_000)))
        try roundTrip(.symbol(AMQPSymbol(String(repeating: "s", count: 256))))
    }

    func testArrays() throws {
        let mechanisms = AMQPArray.symbols(["MSSBCBS", "ANONYMOUS", "PLAIN", "EXTERNAL"])
        try roundTrip(.array(mechanisms))
        // Compact array as other peers send it: array8 of sym8.
        let compact: [UInt8] = [0xe0, 0x0d, 0x02, 0xa3, 0x05] + bytes("PLAIN") + [0x04] + bytes("ANON")
        XCTAssertEqual(try AMQPDecoder.decode(compact), .array(.symbols(["PLAIN", "ANON"])))
        let ints = try AMQPArray(elementType: .int, elements: [.int(1), .int(-70000)])
        try roundTrip(.array(ints))
        let described = try AMQPArray(elementType: .list, descriptor: .ulong(0x24), elements: [.list([]), .list([.null])])
        try roundTrip(.array(described))
        let bools = try AMQPArray(elementType: .bool, elements: [true, false])
        XCTAssertEqual(AMQPEncoder.encode(.array(bools)), [0xf0, 0, 0, 0, 7, 0, 0, 0, 2, 0x56, 1, 0])
        try roundTrip(.array(bools))
        let nested = try AMQPArray(elementType: .array, elements: [.array(ints), .array(ints)])
        try roundTrip(.array(nested))
        for type in [AMQPArray.ElementType.ubyte, .ushort, .ulong, .long, .float, .double, .char, .timestamp] {
            let values: [AMQPValue] = [
                .ubyte(1), .ushort(2), .ulong(3), .long(4), .float(5), .double(6), .char(65), .timestamp(8),
            ]
            let one = values.first { AMQPArray.ElementType.of($0) == type }!
            try roundTrip(.array(try AMQPArray(elementType: type, elements: [one, one])))
        }
        try roundTrip(.array(try AMQPArray(elementType: .map, elements: [.map(["k": "v"])])))
        try roundTrip(.array(try AMQPArray(elementType: .string, elements: [.string(String(repeating: "y", count: 300))])))
        XCTAssertThrowsError(try AMQPArray(elementType: .int, elements: [.uint(1)]))
        // uint0 elements have no payload: a compact array of many of them is legal.
        XCTAssertEqual(try AMQPDecoder.decode([0xe0, 0x02, 0x03, 0x43]), .array(try AMQPArray(elementType: .uint, elements: [0, 0, 0].map { .uint($0) })))
    }

    func testDescribedValuesFromTranscripts() throws {
        // eh_producer/toolbox_async: the inner message of an Event Hubs batch, encoded by pyamqp.
        let inner = bytes("\u{0}Sp") + [0xc0, 0x07, 0x05, 0x56, 0x01, 0x40, 0x40, 0x40, 0x40]
            + bytes("\u{0}Sr") + [0xc1, 0x22, 0x02, 0xa3, 0x13] + bytes("x-opt-partition-key") + [0xa1, 0x0a]
            + bytes("pk-toolbox") + bytes("\u{0}Su") + [0xa0, 0x0f] + bytes("toolbox event 1")
        XCTAssertEqual(inner.count, 71)  // binary(71:...) in the transcript
        var decoder = AMQPDecoder(inner)
        XCTAssertEqual(
            try decoder.decodeValue(),
            .described(descriptor: .ulong(0x70), value: .list([true, nil, nil, nil, nil])))
        XCTAssertEqual(
            try decoder.decodeValue(),
            .described(descriptor: .ulong(0x72), value: .map([.symbol("x-opt-partition-key"): "pk-toolbox"])))
        XCTAssertEqual(
            try decoder.decodeValue(), .described(descriptor: .ulong(0x75), value: .binary(bytes("toolbox event 1"))))
        XCTAssertTrue(decoder.isAtEnd)
        // The same sections in our canonical encoding.
        let message = try AMQPMessage.decode(inner)
        XCTAssertEqual(message.header?.durable, true)
        XCTAssertEqual(message.messageAnnotations?[.symbol("x-opt-partition-key")], "pk-toolbox")
        XCTAssertEqual(message.body, .data([bytes("toolbox event 1")]))
        XCTAssertEqual(try AMQPMessage.decode(message.encode()), message)
        // "\x00Su\xa0\x16Connection established" (toolbox_async.log, readiness probe)
        let probe = bytes("\u{0}Su") + [0xa0, 0x16] + bytes("Connection established")
        XCTAssertEqual(try AMQPMessage.decode(probe).body, .data([bytes("Connection established")]))
        XCTAssertEqual(AMQPMessage(data: bytes("Connection established")).encode(), probe)
    }

    func testHostileInputFailsCleanly() {
        let cases: [[UInt8]] = [
            [],
            [0xff],
            [0xa1, 5, 0x41],  // string longer than input
            [0xb0, 0xff, 0xff, 0xff, 0xff],  // 4 GiB binary
            [0xd0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1],  // list size past the end
            [0xc0, 0x02, 0xff, 0x40],  // 255 elements in 1 byte
            [0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40],  // 4 billion nulls
            [0xe0, 0x03, 0x02, 0x71, 0x00],  // 2 ints in 1 byte
            [0xe0, 0x02, 0x01, 0x00],  // described element constructor without descriptor
            [0xa1, 0x02, 0xc3, 0x28],  // invalid UTF-8
            [0xc1, 0x02, 0x01, 0x40],  // odd map
            [0x00, 0x00, 0x53, 0x01, 0x40, 0x40],  // described descriptor
            [0xc0, 0x03, 0x01, 0x40, 0x40],  // size larger than content
        ]
        for input in cases {
            XCTAssertThrowsError(try AMQPDecoder.decode(input), "\(input)") { error in
                XCTAssertTrue(error is AMQPError)
            }
        }
        var deep: [UInt8] = []
        for _ in 0..<100 { deep += [0x00, 0x53, 0x01] }
        deep.append(0x40)
        XCTAssertThrowsError(try AMQPDecoder.decode(deep)) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .limitExceeded)
        }
        // Many arrays of empty elements: each within the per-compound count, together over the shared budget.
        var manyArrays: [UInt8] = [0xd0, 0, 0, 0, 0, 0, 0, 0, 20]
        for _ in 0..<20 { manyArrays += [0xf0, 0, 0, 0, 5, 0x00, 0x01, 0x86, 0xa0, 0x40] }  // 100,000 nulls each
        let size = UInt32(manyArrays.count - 5)
        manyArrays[1...4] = [UInt8(size >> 24), UInt8((size >> 16) & 0xff), UInt8((size >> 8) & 0xff), UInt8(size & 0xff)]
        XCTAssertThrowsError(try AMQPDecoder.decode(manyArrays, limits: AMQPDecodingLimits(maxZeroWidthElements: 1_000_000))) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .limitExceeded)
        }
        XCTAssertNoThrow(try AMQPDecoder.decode(manyArrays, limits: AMQPDecodingLimits(maxZeroWidthElements: 2_000_000)))
        // Issue 13 item 9: by default one ~20-byte array of a million nulls is refused before anything is allocated
        // (the old default budget let it decode into tens of megabytes of values).
        let millionNulls: [UInt8] = [0xf0, 0, 0, 0, 5, 0x00, 0x0f, 0x42, 0x40, 0x40]
        XCTAssertThrowsError(try AMQPDecoder.decode(millionNulls)) { error in
            XCTAssertEqual((error as? AMQPError)?.code, .limitExceeded)
        }
        let fewNulls: [UInt8] = [0xf0, 0, 0, 0, 5, 0x00, 0, 0x10, 0x00, 0x40]  // 4096: the default budget
        XCTAssertEqual(try AMQPDecoder.decode(fewNulls), .array(try AMQPArray(elementType: .null, elements: Array(repeating: .null, count: 4096))))
        let nestedLists = [UInt8](repeating: 0xc0, count: 1) + [0x01, 0x00]
        XCTAssertEqual(try AMQPDecoder.decode(nestedLists), .list([]))
    }
}

final class TranscriptVectorTests: XCTestCase {
    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return result
    }

    /// str8 and sym8 values are taken only when they are valid UTF-8, whatever their bytes: ASCII, multi-byte text,
    /// a real U+FFFD, and every kind of invalid sequence (truncated, overlong, surrogate, out of range, stray).
    func testStringsMustBeValidUTF8() throws {
        func decode(_ code: UInt8, _ text: [UInt8]) throws -> AMQPValue {
            var decoder = AMQPDecoder([code, UInt8(text.count)] + text)
            return try decoder.decodeValue()
        }
        for text in ["", "plain", "caf\u{E9} \u{1F600}", "real \u{FFFD} replacement", "\u{10FFFF}"] {
            XCTAssertEqual(try decode(0xA1, Array(text.utf8)), .string(text))
            XCTAssertEqual(try decode(0xA3, Array(text.utf8)), .symbol(AMQPSymbol(text)))
        }
        let invalid: [[UInt8]] = [[0xC3], [0x61, 0xE2, 0x82], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80],
                                  [0xF4, 0x90, 0x80, 0x80], [0x80], [0x61, 0xFF, 0x62], [0xF8, 0x88, 0x80, 0x80, 0x80]]
        for bytes in invalid {
            XCTAssertThrowsError(try decode(0xA1, bytes), "\(bytes)")
            XCTAssertThrowsError(try decode(0xA3, bytes), "\(bytes)")
        }
    }

    /// Every message encoding the Azure SDKs produced in the transcripts decodes, and re-encodes (in our
    /// canonical form) to bytes that decode to the same message.
    func testEveryTranscriptMessageDecodesAndRoundTrips() throws {
        XCTAssertGreaterThan(transcriptMessageVectors.count, 50)
        var sectionKinds = Set<UInt64>()
        for (source, hex) in transcriptMessageVectors {
            let bytes = Self.bytes(hex: hex)
            let message = try AMQPMessage.decode(bytes)
            XCTAssertEqual(try AMQPMessage.decode(message.encode()), message, source)
            var decoder = AMQPDecoder(bytes)
            while !decoder.isAtEnd {
                let section = try decoder.decodeValue()
                if let code = section.descriptorCode { sectionKinds.insert(code) }
            }
            // Where pyamqp's encoding is already the smallest one (no padding nulls, compact booleans), ours is identical.
            if !hex.contains("560140404040") && message.header == nil && message.properties == nil {
                XCTAssertEqual(message.encode(), bytes, source)
            }
        }
        XCTAssertTrue(sectionKinds.isSuperset(of: [0x70, 0x72, 0x75]), "header, message annotations and data seen: \(sectionKinds)")
    }
}
