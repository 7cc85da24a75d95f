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
        let connection = AMQPConnection(transport: transport, configuration: AMQPConnectionConfiguration(idleTimeout: nil, openTimeout: .seconds(10)))
        // SASL init is the first frame: the open never completes.
        XCTAssertThrowsError(try connection.open())
    }

    func testConnectionSetupDelayHoldsTheHandshakeBack() throws {
        let emulator = try startEmulator { $0.faults.connectionSetupDelay = .seconds(0.4) }
        // The monotonic clock, as the emulator's delay uses: the wall clock may be stepped meanwhile.
        let started = MonotonicInstant.now()
        let client = try TestClient(emulator)
        defer { client.close() }
        XCTAssertGreaterThanOrEqual(MonotonicInstant.now().seconds(since: started), 0.4)
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
        emulator.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: caFile), "stop removes the generated certificate")
    }
}
