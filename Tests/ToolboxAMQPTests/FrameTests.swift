import XCTest

@testable import ToolboxAMQP

final class FrameTests: XCTestCase {
    func parseAll(_ bytes: [UInt8], maxFrameSize: UInt32 = 65536) throws -> [AMQPFrame] {
        var parser = AMQPFrameParser(maxFrameSize: maxFrameSize)
        parser.append(bytes)
        var frames: [AMQPFrame] = []
        while let frame = try parser.nextFrame() { frames.append(frame) }
        XCTAssertEqual(parser.bufferedCount, 0)
        return frames
    }

    func testByteExactFrames() throws {
        XCTAssertEqual(AMQPFrame.heartbeat.encode(), [0, 0, 0, 8, 2, 0, 0, 0])
        XCTAssertEqual(AMQPFrame.amqp(0, .close(nil)).encode(), [0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x18, 0x45])
        // sasl-init as pyamqp sends it (connection-sasl-cbs.md): ANONYMOUS, empty response, hostname.
        let initFrame = AMQPFrame.sasl(.initialize(mechanism: "ANONYMOUS", initialResponse: [], hostname: "localhost"))
        let body: [UInt8] = [0x00, 0x53, 0x41, 0xc0, 0x19, 0x03, 0xa3, 0x09] + bytes("ANONYMOUS") + [0xa0, 0x00, 0xa1, 0x09]
            + bytes("localhost")
        XCTAssertEqual(initFrame.encode(), [0, 0, 0, UInt8(8 + body.count), 2, 1, 0, 0] + body)
        XCTAssertEqual(try parseAll(initFrame.encode()), [initFrame])
        // sasl-outcome(code=ubyte(0))
        let outcome: [UInt8] = [0, 0, 0, 0x10, 2, 1, 0, 0, 0x00, 0x53, 0x44, 0xc0, 0x03, 0x01, 0x50, 0x00]
        XCTAssertEqual(try parseAll(outcome), [.sasl(.outcome(code: .ok, additionalData: nil))])
        XCTAssertEqual(AMQPFrame.sasl(.outcome(code: .ok, additionalData: nil)).encode(), outcome)
        XCTAssertEqual(AMQPProtocolHeader.sasl.bytes, bytes("AMQP") + [3, 1, 0, 0])
        XCTAssertEqual(try AMQPProtocolHeader(bytes: ArraySlice(bytes("AMQP") + [0, 1, 0, 0])), .amqp)
        XCTAssertThrowsError(try AMQPProtocolHeader(bytes: ArraySlice(bytes("AMQP") + [0, 0, 9, 1])))
        XCTAssertThrowsError(try AMQPProtocolHeader(bytes: ArraySlice(bytes("HTTP/1.1"))))
    }

    func testReceivedArraysSplitAnywhereParseAlikeAndNothingIsHeldOnceConsumed() throws {
        var transfer = AMQPTransfer(handle: 3)
        transfer.deliveryID = 7
        let frames: [AMQPFrame] = [
            .heartbeat, .amqp(channel: 0, performative: .close(nil), payload: []),
            .amqp(channel: 2, performative: .transfer(transfer), payload: Array(repeating: 0xab, count: 3000)),
            .heartbeat,
        ]
        let stream = frames.flatMap { $0.encode() }
        var random = SeededGenerator(state: 20261207)
        for _ in 0..<200 {
            var parser = AMQPFrameParser(maxFrameSize: 65536)
            var parsed: [AMQPFrame] = []
            var offset = 0
            while offset < stream.count {
                let length = min(stream.count - offset, Int.random(in: 1...1500, using: &random))
                parser.append(Array(stream[offset..<(offset + length)]))
                offset += length
                while let frame = try parser.nextFrame() { parsed.append(frame) }
                // Whatever a read leaves over is a partial frame; once all of it is consumed nothing is held.
                if parser.bufferedCount == 0 { XCTAssertEqual(parser.heldCapacity, 0) }
            }
            XCTAssertEqual(parsed, frames)
            XCTAssertEqual(parser.bufferedCount, 0)
            XCTAssertEqual(parser.heldCapacity, 0)
        }
    }

    func testEveryPerformativeRoundTrips() throws {
        var open = AMQPOpen(containerID: "EHProducer-1", hostname: "localhost")
        open.maxFrameSize = 1_048_576
        open.channelMax = 65535
        open.idleTimeOut = 120_000
        open.properties = [.symbol("product"): "azsdk-python-eventhubs"]
        open.offeredCapabilities = ["ANONYMOUS-RELAY"]
        var begin = AMQPBegin(remoteChannel: 1, nextOutgoingID: 0, incomingWindow: 5000, outgoingWindow: 5000)
        begin.handleMax = 255
        var source = AMQPSource(address: "$cbs")
        source.filter = [.symbol("apache.org:selector-filter:string"):
            .described(descriptor: .symbol("apache.org:selector-filter:string"), value: "amqp.annotation.x-opt-offset > '-1'")]
        source.outcomes = ["amqp:accepted:list", "amqp:rejected:list"]
        source.defaultOutcome = AMQPDeliveryState.released.encoded
        var attach = AMQPAttach(name: "l1", handle: 2, role: .receiver, source: source, target: AMQPTarget(address: "$cbs"))
        attach.receiverSettleMode = .second
        attach.senderSettleMode = .unsettled
        attach.initialDeliveryCount = 0
        attach.maxMessageSize = 1_048_576
        attach.properties = [.symbol("com.microsoft:timeout"): .long(60)]
        var flow = AMQPFlow(nextIncomingID: 0, incomingWindow: 5000, nextOutgoingID: 0, outgoingWindow: 5000)
        flow.handle = 1
        flow.deliveryCount = 0
        flow.linkCredit = 300
        flow.drain = true
        var transfer = AMQPTransfer(handle: 3)
        transfer.deliveryID = 1
        transfer.deliveryTag = [0, 0, 0, 1]
        transfer.messageFormat = 0x8001_3700
        transfer.settled = false
        transfer.more = true
        let rejected = AMQPRemoteError(condition: "com.microsoft:dead-letter", description: "why",
                                       info: ["DeadLetterReason": "r"])
        let performatives: [AMQPPerformative] = [
            .open(open), .begin(begin), .attach(attach), .flow(flow), .transfer(transfer),
            .disposition(AMQPDisposition(role: .receiver, first: 0, last: 9, settled: true, state: .accepted)),
            .disposition(AMQPDisposition(role: .receiver, first: 1, settled: false, state: .rejected(rejected))),
            .disposition(AMQPDisposition(role: .receiver, first: 1, settled: true, state: .released)),
            .disposition(AMQPDisposition(role: .sender, first: 1, settled: true, state:
                .modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: ["k": .int(1)]))),
            .disposition(AMQPDisposition(role: .receiver, first: 1, settled: false,
                                         state: .received(sectionNumber: 1, sectionOffset: 7))),
            .detach(AMQPDetach(handle: 3, closed: true, error: AMQPRemoteError(condition: AMQPRemoteError.detachForced))),
            .end(nil), .end(AMQPRemoteError(condition: "amqp:invalid-field", description: "Unrecognised state")),
            .close(AMQPRemoteError(condition: AMQPRemoteError.unauthorizedAccess)),
        ]
        var stream: [UInt8] = []
        var expected: [AMQPFrame] = []
        for (index, performative) in performatives.enumerated() {
            let payload: [UInt8] = performative.name == "transfer" ? [1, 2, 3] : []
            let frame = AMQPFrame.amqp(channel: UInt16(index), performative: performative, payload: payload)
            stream += frame.encode()
            expected.append(frame)
        }
        let sasl: [AMQPSASLPerformative] = [
            .mechanisms(["MSSBCBS", "ANONYMOUS", "PLAIN", "EXTERNAL"]),
            .initialize(mechanism: "PLAIN", initialResponse: [0] + bytes("guest") + [0] + bytes("guest"), hostname: nil),
            .challenge([1]), .response([2]), .outcome(code: .auth, additionalData: [3]),
        ]
        for body in sasl {
            stream += AMQPFrame.sasl(body).encode()
            expected.append(.sasl(body))
        }
        stream += AMQPFrame.heartbeat.encode()
        expected.append(.heartbeat)
        XCTAssertEqual(try parseAll(stream), expected)
        // Byte at a time: the parser must reassemble.
        var parser = AMQPFrameParser(maxFrameSize: 65536)
        var frames: [AMQPFrame] = []
        for byte in stream {
            parser.append([byte])
            while let frame = try parser.nextFrame() { frames.append(frame) }
        }
        XCTAssertEqual(frames, expected)
    }

    func testSymbolicDescriptorsAndSingleSymbolFieldsAreAccepted() throws {
        // Peers may use the symbolic descriptor and a single symbol for multiple="true" fields.
        let value = AMQPValue.described(descriptor: .symbol("amqp:sasl-mechanisms:list"), value: .list([.symbol("PLAIN")]))
        XCTAssertEqual(try AMQPSASLPerformative(value), .mechanisms(["PLAIN"]))
        XCTAssertEqual(try AMQPDeliveryState(.described(descriptor: .symbol("amqp:accepted:list"), value: .list([]))), .accepted)
    }

    func testHostileFramesFailCleanly() throws {
        let oversized: [UInt8] = [0x7f, 0xff, 0xff, 0xff, 2, 0, 0, 0]
        XCTAssertThrowsError(try parseAll(oversized)) { XCTAssertEqual(($0 as? AMQPError)?.code, .limitExceeded) }
        for bad: [UInt8] in [
            [0, 0, 0, 4, 2, 0, 0, 0],  // size below header
            [0, 0, 0, 8, 1, 0, 0, 0],  // doff 1
            [0, 0, 0, 8, 3, 0, 0, 0],  // doff past the frame
            [0, 0, 0, 9, 2, 7, 0, 0, 0x40],  // unknown type
            [0, 0, 0, 9, 2, 0, 0, 0, 0x40],  // body is not a performative
            [0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x99, 0x45],  // unknown descriptor
            [0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0x45],  // open without container-id
            [0, 0, 0, 13, 2, 0, 0, 0, 0x00, 0x53, 0x18, 0x45, 0x41],  // close followed by payload
            [0, 0, 0, 8, 2, 1, 0, 0],  // empty SASL frame
        ] {
            XCTAssertThrowsError(try parseAll(bad), "\(bad)") { XCTAssertTrue($0 is AMQPError) }
        }
    }
}

final class RabbitMQVectorTests: XCTestCase {
    /// sasl-mechanisms exactly as RabbitMQ 3.10.8 sends it: an array8 of sym32 elements.
    func testRabbitMQSASLMechanismsFrame() throws {
        let frame: [UInt8] = [0, 0, 0, 0x40, 2, 1, 0, 0, 0x00, 0x53, 0x40, 0xc0, 0x33, 0x01, 0xe0, 0x30, 0x04, 0xb3]
            + [0, 0, 0, 9] + bytes("ANONYMOUS") + [0, 0, 0, 5] + bytes("PLAIN") + [0, 0, 0, 8] + bytes("AMQPLAIN")
            + [0, 0, 0, 8] + bytes("EXTERNAL")
        XCTAssertEqual(frame.count, 0x40)
        var parser = AMQPFrameParser(maxFrameSize: 512)
        parser.append(frame)
        XCTAssertEqual(try parser.nextFrame(), .sasl(.mechanisms(["ANONYMOUS", "PLAIN", "AMQPLAIN", "EXTERNAL"])))
    }
}
