import AzureAuth
import Foundation
import ToolboxAMQP
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

final class FaultTests: XCTestCase {
    func testRefuseAuthenticationAnswersEveryPutTokenWith401() throws {
        let emulator = try startEmulator { $0.faults.refuseAuthentication = true }
        let client = try TestClient(emulator)
        defer { client.close() }
        XCTAssertThrowsError(try client.authorize("eh1")) { XCTAssertTrue("\($0)".contains("401"), "\($0)") }
        XCTAssertThrowsError(try client.session.attachSender(address: client.address("eh1")))
    }

    func testServerBusyRejectsSendsWithAzuresCondition() throws {
        let emulator = try startEmulator { $0.faults.serverBusyRate = 1 }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("q1")
        let sender = try client.session.attachSender(address: client.address("q1"))
        guard case .rejected(let error)? = try sender.send(AMQPMessage(data: [1])) else { return XCTFail("not rejected") }
        XCTAssertEqual(error?.condition, "com.microsoft:server-busy")
        XCTAssertEqual(try emulatorQueue(emulator, "q1").count, 0)
    }

    func testDropAfterFramesClosesTheConnectionAbruptly() throws {
        // Header exchange, open, begin, then two attaches of the CBS pair: the 4th frame (the second attach) drops it.
        let emulator = try startEmulator { $0.faults.dropAfterFrames = 4 }
        XCTAssertThrowsError(try TestClient(emulator)) { error in
            XCTAssertNotNil(error as? AMQPError, "\(error)")
        }
        let deadline = Date().addingTimeInterval(10)
        while emulator.connectionCount > 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(emulator.connectionCount, 0)
    }

    func testDropProbabilityOneDropsOnTheFirstFrame() throws {
        let emulator = try startEmulator { $0.faults.dropProbability = 1 }
        let transport = AMQPSocketTransport(host: "127.0.0.1", port: emulator.amqpPort)
        let connection = AMQPConnection(transport: transport, configuration: AMQPConnectionConfiguration(idleTimeout: nil, openTimeout: 10))
        // SASL init is the first frame: the open never completes.
        XCTAssertThrowsError(try connection.open())
    }

    func testConnectionSetupDelayHoldsTheHandshakeBack() throws {
        let emulator = try startEmulator { $0.faults.connectionSetupDelay = 0.4 }
        let started = Date()
        let client = try TestClient(emulator)
        defer { client.close() }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.4)
        try client.authorize("q1")
    }

    func testFrameCounterSkipsProtocolHeadersAndBodies() {
        var counter = FrameCounter()
        let header = Array("AMQP".utf8) + [3, 1, 0, 0]
        let frame: [UInt8] = [0, 0, 0, 10, 2, 0, 0, 0, 0xAA, 0xBB]
        XCTAssertEqual(counter.feed(header), 0)
        XCTAssertEqual(counter.feed(frame + frame), 2)
        // Split anywhere, even inside the size.
        let stream = Array("AMQP".utf8) + [0, 1, 0, 0] + frame
        var total = 0
        for byte in stream { total += counter.feed([byte]) }
        XCTAssertEqual(total, 1)
        XCTAssertEqual(counter.frames, 3)
    }

    func testEntityLimitRefusesNewEntities() throws {
        let emulator = try startEmulator { $0.limits.maxEntities = 1 }
        let client = try TestClient(emulator)
        defer { client.close() }
        try client.authorize("")
        XCTAssertNoThrow(try client.session.attachSender(address: client.address("first")))
        XCTAssertThrowsError(try client.session.attachSender(address: client.address("second"))) { error in
            XCTAssertEqual((error as? AMQPError)?.remote?.condition, AMQPRemoteError.resourceLimitExceeded)
        }
    }

    func testStopClosesClientsAndTheListener() throws {
        var configuration = EmulatorConfiguration()
        configuration.logger.logLevel = .critical
        let emulator = try Emulator.start(configuration)
        let client = try TestClient(emulator)
        let closed = expectation(description: "client saw the close")
        client.connection.onClose { _ in closed.fulfill() }
        emulator.stop()
        wait(for: [closed], timeout: 10)
        XCTAssertThrowsError(try TestClient(emulator))
        emulator.stop()
    }

    func testAMQPSWithAGeneratedCertificateTrustedThroughTheReportedCA() throws {
        let emulator = try startEmulator { $0.amqpsPort = 0 }
        let caFile = try XCTUnwrap(emulator.caFile)
        let port = try XCTUnwrap(emulator.amqpsPort)
        let tls = try TLSContext(client: TLSClientConfiguration(trustRoots: .file(caFile)))
        let transport = AMQPSocketTransport(host: "127.0.0.1", port: port, tls: tls, serverName: "localhost")
        let connection = AMQPConnection(transport: transport, configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        defer { try? connection.close() }
        let session = try connection.beginSession()
        let cbs = try AMQPCBSClient.attach(session: session)
        let audience = "sb://localhost:\(port)/q1"
        let token = SharedAccessSignature.token(audience: audience, keyName: "RootManageSharedAccessKey",
                                                key: Secret("SAS_KEY_VALUE"), expiry: Int(Date().timeIntervalSince1970) + 600)
        try cbs.putToken(audience: audience, token: AMQPCBSToken(token: token, type: "jwt", expiresAt: Date().addingTimeInterval(600)))
        XCTAssertEqual(try session.attachSender(address: "amqps://localhost:\(port)/q1").send(AMQPMessage(data: [1])), .accepted)
    }
}

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
