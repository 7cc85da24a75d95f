import Dispatch
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import ToolboxAMQP
import ToolboxAMQPBroker

/// Our client against our broker role over real loopback sockets, plain and TLS.
final class ListenerTests: XCTestCase {
    func roundTrip(listener: AMQPListener, url: String, caFile: String?) throws {
        let endpoint = try AMQPEndpoint(url: url)
        let connection = try AMQPConnection(endpoint: endpoint, caFile: caFile,
                                            configuration: AMQPConnectionConfiguration(maxFrameSize: 1024, idleTimeout: .seconds(5)))
        try connection.open()
        let session = try connection.beginSession()
        let sender = try session.attachSender(address: "q")
        let body = [UInt8](repeating: 9, count: 300_000)
        XCTAssertEqual(try sender.send(AMQPMessage(data: body)), .accepted)
        let inbox = Inbox()
        _ = try session.attachReceiver(address: "q") { delivery in
            delivery.accept()
            inbox.add(delivery)
        }
        inbox.wait(for: 1)
        XCTAssertEqual(inbox.items.load().first?.message.dataBody, body)
        try connection.close()
    }

    func testClientAndListenerOverTCP() throws {
        let broker = MiniBroker()
        let accepted = LockedValue(0)
        let listener = try AMQPListener(server: broker.configuration(), configuration: AMQPConnectionConfiguration(idleTimeout: .seconds(5))) { _ in
            accepted.withLockedValue { $0 += 1 }
        }
        defer { listener.close() }
        XCTAssertNotEqual(listener.port, 0)
        try roundTrip(listener: listener, url: "amqp://u:pw@127.0.0.1:\(listener.port)/q", caFile: nil)
        XCTAssertEqual(accepted.load(), 1)
    }

    func testClientAndListenerOverTLS() throws {
        let (cert, key) = try makeCertificate()
        let tls = try TLSContext(server: TLSServerConfiguration(certificateChainFile: cert, privateKeyFile: key))
        let broker = MiniBroker()
        let listener = try AMQPListener(tls: tls, server: broker.configuration(), configuration: AMQPConnectionConfiguration(idleTimeout: .seconds(5))) { _ in }
        defer { listener.close() }
        try roundTrip(listener: listener, url: "amqps://localhost:\(listener.port)/q", caFile: cert)
        // Without trusting the certificate the client refuses the server.
        let untrusted = try AMQPConnection(endpoint: AMQPEndpoint(url: "amqps://localhost:\(listener.port)/q"),
                                           configuration: AMQPConnectionConfiguration(idleTimeout: nil, openTimeout: .seconds(10)))
        XCTAssertThrowsError(try untrusted.open()) { XCTAssertEqual(($0 as? AMQPError)?.code, .transport, "\($0)") }
    }
}

extension XCTestCase {
    /// A self-signed certificate for localhost made with the openssl CLI (installed by CI).
    func makeCertificate() throws -> (cert: String, key: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("amqp-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            XCTFail("the openssl CLI is needed for this test (apt-get install -y openssl): \(error)")
            throw error
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            XCTFail("openssl req failed with status \(process.terminationStatus)")
            throw AMQPError(.invalidArgument, "openssl failed")
        }
        return (cert, key)
    }
}
