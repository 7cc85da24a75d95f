import ToolboxAMQP
import XCTest

@testable import AzureEmulator

/// `FramePadding.quickPad` pads the frames the emulator sends most on their bytes; whatever it returns must be
/// exactly what decoding, padding and re-encoding the performative gives (`FramePadding.pad(frame:)`).
final class FramePaddingInPlaceTests: XCTestCase {
    private func frame(_ performative: AMQPValue, payload: [UInt8] = [], type: UInt8 = 0, channel: UInt16 = 3) -> [UInt8] {
        let body = AMQPEncoder.encode(performative) + payload
        let size = 8 + body.count
        return [UInt8(size >> 24 & 0xff), UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff), UInt8(size & 0xff),
                2, type, UInt8(channel >> 8), UInt8(channel & 0xff)] + body
    }

    private func described(_ code: UInt64, _ fields: [AMQPValue]) -> AMQPValue {
        .described(descriptor: .ulong(code), value: .list(fields))
    }

    private var accepted: AMQPValue { described(0x24, []) }
    private var released: AMQPValue { described(0x26, []) }

    /// Frames the emulator sends under load, and the ones the quick path must leave to the decoder.
    private var frames: [(name: String, bytes: [UInt8], quick: Bool)] {
        let error = described(0x1d, [.symbol("amqp:internal-error"), "x"])
        return [
            ("transfer with payload", frame(described(0x14, [.uint(0), .uint(7), .binary([1, 2]), .uint(0), .bool(true)]),
                                            payload: Array(repeating: 0xAB, count: 300)), true),
            ("transfer, every field", frame(described(0x14, Array(repeating: .null, count: 11)), payload: [1]), true),
            ("transfer, long tag (list32)", frame(described(0x14, [.uint(0), .uint(7), .binary(Array(repeating: 9, count: 260))])), true),
            ("flow with properties", frame(described(0x13, [.uint(1), .uint(2048), .uint(1), .uint(2048), .uint(0),
                                                               .uint(0), .uint(300), .null, .bool(false), .bool(false),
                                                               .map(["a": .long(1)])])), true),
            ("flow, short", frame(described(0x13, [.uint(1), .uint(2048), .uint(1), .uint(2048)])), true),
            ("disposition accepted, settled", frame(described(0x15, [.bool(true), .uint(3), .uint(9), .bool(true), accepted])), true),
            ("disposition released by a sender", frame(described(0x15, [.bool(false), .uint(3), .null, .bool(true), released])), true),
            ("disposition without state", frame(described(0x15, [.bool(true), .uint(3)])), true),
            ("begin", frame(described(0x11, [.null, .uint(0), .uint(5000), .uint(5000)])), true),
            ("empty list (end)", frame(described(0x17, [])), true),
            ("sasl outcome", frame(described(0x44, [.ubyte(0)]), type: 1), true),
            ("heartbeat", [0, 0, 0, 8, 2, 0, 0, 0], true),
            ("unknown performative", frame(described(0x99, [.uint(1)])), true),
            ("disposition accepted, unsettled", frame(described(0x15, [.bool(true), .uint(3), .null, .bool(false), accepted])), false),
            ("disposition rejected with error", frame(described(0x15, [.bool(true), .uint(3), .null, .bool(true),
                                                                          described(0x25, [error])])), false),
            ("dead-letter confirmation", frame(described(0x15, [.bool(false), .uint(3), .null, .bool(true),
                                                                   described(0x25, [error])])), false),
            ("detach with error", frame(described(0x16, [.uint(0), .bool(true), error])), false),
            ("attach with terminus", frame(described(0x12, ["l", .uint(0), .bool(true), .null, .null,
                                                               described(0x28, ["a"]), described(0x29, ["b"])])), false),
            ("ulong descriptor", [0, 0, 0, 20, 2, 0, 0, 0, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x17, 0x45, 0x40], false),
        ]
    }

    func testTheQuickPathGivesTheDecodingPathsBytesOrStepsAside() {
        for (name, bytes, quick) in frames {
            let expected = FramePadding.pad(frame: bytes)
            switch FramePadding.quickPad(bytes[...]) {
            case .unchanged:
                XCTAssertTrue(quick, name)
                XCTAssertEqual(expected, bytes, "\(name): left as it was")
            case .padded(let padded):
                XCTAssertTrue(quick, name)
                XCTAssertEqual(padded, expected, name)
            case .undecided:
                XCTAssertFalse(quick, "\(name): the quick path should have handled it")
            }
        }
    }

    func testTruncatedOrMalformedFramesNeverTrapAndAreLeftToTheDecoder() throws {
        let good = frame(described(0x14, [.uint(0), .uint(7), .binary([1, 2])]), payload: [1, 2, 3])
        // Every shortened frame, with its size field claiming what is there, and every single-byte corruption.
        for length in 9..<good.count {
            var cut = Array(good[..<length])
            cut[3] = UInt8(length)
            if case .padded(let padded) = FramePadding.quickPad(cut[...]) {
                XCTAssertEqual(padded, FramePadding.pad(frame: cut), "cut at \(length)")
            }
        }
        for index in 8..<good.count {
            for value: UInt8 in [0x00, 0x45, 0xc0, 0xd0, 0xff] {
                var bad = good
                bad[index] = value
                // Only our own encoder's frames reach this path; of a corrupted one it must not trap, must keep the
                // frame's size field true, and must agree with the decoder wherever the decoder could read it.
                guard case .padded(let padded) = FramePadding.quickPad(bad[...]) else { continue }
                XCTAssertEqual(Int(padded[3]), padded.count, "byte \(index) = \(value)")
                let decoded = FramePadding.pad(frame: bad)
                // (The decoding path re-encodes canonically, e.g. `52 00` as `43`: compare what the bytes mean.)
                if decoded != bad { XCTAssertEqual(try meaning(padded), try meaning(decoded), "byte \(index) = \(value)") }
            }
        }
    }

    /// A frame's header, performative and payload, with the performative decoded.
    private func meaning(_ frame: [UInt8]) throws -> [String] {
        var decoder = AMQPDecoder(frame, range: 8..<frame.count)
        let performative = try decoder.decodeValue()
        return ["\(frame[4..<8])", "\(performative)", "\(frame[decoder.position...])"]
    }

    /// The stream rewriter gives the same bytes however the connection's writes split the frames, and hands
    /// back its input uncopied when nothing in it changes.
    func testTheStreamGivesTheSameBytesWhateverTheSplitAndPassesUnchangedInputThrough() {
        let all = frames.map(\.bytes)
        let stream = Array("AMQP".utf8) + [0, 1, 0, 0] + all.joined()
        var whole = FramePadding()
        let expected = whole.rewrite(stream)
        XCTAssertEqual(expected, Array("AMQP".utf8) + [0, 1, 0, 0] + all.map { FramePadding.pad(frame: $0) }.joined())
        for step in [1, 3, 7, 64, 1000] {
            var padding = FramePadding()
            var out: [UInt8] = []
            var index = 0
            while index < stream.count {
                out += padding.rewrite(Array(stream[index..<min(stream.count, index + step)]))
                index += step
            }
            XCTAssertEqual(out, expected, "written \(step) bytes at a time")
        }
        var padding = FramePadding()
        let full = frame(described(0x15, [.bool(true), .uint(3), .uint(3), .bool(true), accepted, .bool(false)]))
        let twice = full + full
        twice.withUnsafeBufferPointer { input in
            let output = padding.rewrite(twice)
            XCTAssertEqual(output, twice)
            output.withUnsafeBufferPointer { XCTAssertEqual($0.baseAddress, input.baseAddress, "passed through, not copied") }
        }
    }
}
