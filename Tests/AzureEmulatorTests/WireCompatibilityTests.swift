import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEmulator

final class WireCompatibilityTests: XCTestCase {
    /// pyamqp indexes performative fields without bounds checks; every list goes out complete.
    func testOutgoingPerformativesListEveryField() throws {
        var begin = AMQPEncoder()
        begin.encode(.described(descriptor: .ulong(0x11), value: .list([.ushort(1), .uint(0), .uint(10), .uint(10)])))
        let body = begin.bytes
        let size = 8 + body.count
        let frame: [UInt8] = [0, 0, 0, UInt8(size), 2, 0, 0, 1] + body
        var padding = FramePadding()
        let out = padding.rewrite(Array("AMQP".utf8) + [0, 1, 0, 0] + Array(frame.prefix(5)))
        XCTAssertEqual(out, Array("AMQP".utf8) + [0, 1, 0, 0], "headers pass, partial frames wait")
        let rewritten = padding.rewrite(Array(frame.dropFirst(5)))
        let value = try AMQPDecoder.decode(Array(rewritten[8...]))
        guard case .described(_, .list(let fields)) = value else { return XCTFail("\(value)") }
        XCTAssertEqual(fields.count, 8)
        XCTAssertEqual(Int(rewritten[3]), rewritten.count)
        XCTAssertEqual(Array(rewritten[4..<8]), [2, 0, 0, 1])
    }

    func testTransferPayloadIsKeptAfterThePaddedPerformative() throws {
        var transfer = AMQPEncoder()
        transfer.encode(.described(descriptor: .ulong(0x14), value: .list([.uint(0), .uint(7), .binary([1, 2])])))
        let payload: [UInt8] = [0xAA, 0xBB, 0xCC]
        let body = transfer.bytes + payload
        let frame: [UInt8] = [0, 0, 0, UInt8(8 + body.count), 2, 0, 0, 0] + body
        let out = FramePadding.pad(frame: frame)
        var decoder = AMQPDecoder(out, range: 8..<out.count)
        guard case .described(_, .list(let fields)) = try decoder.decodeValue() else { return XCTFail("not a list") }
        XCTAssertEqual(fields.count, 11)
        XCTAssertEqual(Array(out[decoder.position...]), payload)
    }

    func testOutcomesGoOutSettledAndDeadLetterConfirmationsBare() {
        let error = AMQPValue.described(descriptor: .ulong(0x1d), value: .list([.symbol("com.microsoft:dead-letter"), "x"]))
        let unsettled = AMQPValue.described(descriptor: .ulong(0x15), value: .list([
            .bool(true), .uint(3), .null, .bool(false), .described(descriptor: .ulong(0x24), value: .list([])), .null]))
        guard case .described(_, .list(let fields)) = FramePadding.settleOutcomes(unsettled) else { return XCTFail("") }
        XCTAssertEqual(fields[3], .bool(true))
        let confirmation = AMQPValue.described(descriptor: .ulong(0x15), value: .list([
            .bool(false), .uint(3), .null, .bool(true), .described(descriptor: .ulong(0x25), value: .list([error])), .null]))
        guard case .described(_, .list(let confirmed)) = FramePadding.settleOutcomes(confirmation) else { return XCTFail("") }
        XCTAssertEqual(confirmed[4], .described(descriptor: .ulong(0x25), value: .list([.null])))
    }

    /// The path is found on bytes; it must be what Foundation's `range(of: "://")` found, for any text.
    func testAddressPathsMatchTheFoundationSplit() {
        func reference(_ address: String) -> String {
            var text = Substring(address)
            if let scheme = text.range(of: "://") {
                text = text[scheme.upperBound...]
                if let slash = text.firstIndex(of: "/") { text = text[slash...] } else { text = "" }
            }
            while text.hasPrefix("/") { text = text.dropFirst() }
            while text.hasSuffix("/") { text = text.dropLast() }
            return String(text)
        }
        let samples = ["amqps://h:1/q2/$DeadLetterQueue", "q1/$management", "", ":", "://", ":/", "://x", "a://b",
                       "a:b://c/d/", "x:/y//z", "é://hôte/chemin/", "sb://ns.servicebus.windows.net:5671//q//",
                       "::///", "a:/:///b", "no-scheme/with:colon", "\u{1F600}://h/\u{1F600}", "https://h", "h://"]
        for sample in samples {
            XCTAssertEqual(EntityAddress.path(sample), reference(sample), "\(sample)")
        }
    }

    func testAddressesAndTheTokenPathsTheyNeed() {
        XCTAssertEqual(EntityAddress("amqps://localhost:5673/eh1/ConsumerGroups/$Default/Partitions/3"),
                       .consumer(hub: "eh1", group: "$Default", partition: "3"))
        XCTAssertEqual(EntityAddress("q1/$management"), .entityManagement("q1"))
        XCTAssertEqual(EntityAddress("amqps://h:1/q2/$DeadLetterQueue"), .deadLetter("q2"))
        XCTAssertEqual(EntityAddress("$cbs"), .cbs)
        XCTAssertNil(EntityAddress("a/b/c/d"))
        let consumer = EntityAddress("eh1/ConsumerGroups/$Default/Partitions/3")?.authorizationPath ?? ""
        XCTAssertTrue(TokenAuthority.covers("eh1", consumer))
        XCTAssertTrue(TokenAuthority.covers("EH1/consumergroups/$default/partitions/3", consumer))
        XCTAssertFalse(TokenAuthority.covers("eh1/ConsumerGroups/$Default/Partitions/2", consumer))
        XCTAssertFalse(TokenAuthority.covers("eh", consumer))
        XCTAssertTrue(TokenAuthority.covers("", consumer))
    }
}

final class SettleModeTests: XCTestCase {
    func testClientSendersAskingForSecondGetSettledOutcomes() throws {
        let attach = AMQPValue.described(descriptor: .ulong(0x12), value: .list([
            "link", .uint(1), .bool(false), .ubyte(0), .ubyte(1)]))
        guard case .described(_, .list(let fields)) = IncomingFrames.firstSettleModeForSenders(attach) else { return XCTFail("") }
        XCTAssertEqual(fields[4], .ubyte(0))
        let receiverAttach = AMQPValue.described(descriptor: .ulong(0x12), value: .list([
            "link", .uint(1), .bool(true), .ubyte(0), .ubyte(1)]))
        XCTAssertEqual(IncomingFrames.firstSettleModeForSenders(receiverAttach), receiverAttach, "receivers keep their mode")

        let emulator = try startEmulator()
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("second")
        let sender = try client.session.attachSender(address: client.address("second"),
                                                     options: AMQPSenderOptions(receiverSettleMode: .second))
        for index in 0..<20 { XCTAssertEqual(try sender.send(AMQPMessage(data: [UInt8(index)])), .accepted) }
        XCTAssertEqual(try emulatorQueue(emulator, "second").count, 20)
    }

    func testOversizedFramesPassThroughUnbuffered() {
        var rewriter = IncomingFrames.make(maxFrameSize: 512)
        let huge: [UInt8] = [0x00, 0x10, 0x00, 0x00, 2, 0, 0, 0, 1, 2, 3]
        XCTAssertEqual(rewriter.rewrite(huge), huge)
        XCTAssertEqual(rewriter.rewrite([9, 9]), [9, 9])
    }
}
