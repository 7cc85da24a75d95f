import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// Less travelled paths: write deadlines, CA directories, read-until-close bodies, our client against our server.
final class TransportEdgeCaseTests: XCTestCase {
    func testWriteDeadlineFailsWhenThePeerStopsReading() throws {
        let held = LockedValue<[TCPConnection]>([])
        let listener = try TCPListener { connection in held.withLockedValue { $0.append(connection) } }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        // Far more than the loopback socket buffers hold, to a peer that never reads.
        let payload = [UInt8](repeating: 0x5a, count: 64 << 20)
        expectTransportError(.timedOut) { try connection.write(payload, timeout: .seconds(0.5)) }
        expectTransportError(.timedOut) { try connection.write([1], timeout: .seconds(1)) }
    }

    func testCADirectoryIsATrustRoot() throws {
        let pki = try TestPKI.get()
        guard let openssl = findExecutable("openssl") else {
            throw TestSetupError("the openssl command is missing (apt-get install openssl)")
        }
        let directory = NSTemporaryDirectory() + "toolbox-ca-dir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: pki.caFile, toPath: directory + "/ca.pem")
        let rehash = runCommand(openssl, ["rehash", directory])
        XCTAssertEqual(rehash.status, 0, rehash.output)

        let listener = try TCPListener(tls: try pki.serverContext()) { echo($0) }
        defer { listener.close() }
        let client = try TLSContext(client: TLSClientConfiguration(trustRoots: .directory(directory)))
        let connection = try TCPConnection.connect(host: "localhost", port: listener.port, tls: client, timeout: .seconds(10))
        try connection.write([3], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 1), [3])
        try connection.close()
    }

    func testResponseBodyDelimitedByConnectionClose() throws {
        let listener = try TCPListener { connection in
            connection.read { _ in
                connection.write(Array("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end".utf8)) { _ in
                    connection.close {}
                }
            }
        }
        defer { listener.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        let response = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(listener.port)/"), timeout: .seconds(10))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "until the end")
        XCTAssertFalse(response.head.keepAlive)
    }

    func testTruncatedResponseIsAnError() throws {
        let listener = try TCPListener { connection in
            connection.read { _ in
                connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".utf8)) { _ in
                    connection.close {}
                }
            }
        }
        defer { listener.close() }
        let client = try HTTPClient()
        defer { try? client.shutdown() }
        expectTransportError(.httpTruncated) {
            _ = try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(listener.port)/"), timeout: .seconds(10))
        }
    }

    func testOurClientAgainstOurServerWithMutualTLS() throws {
        let pki = try TestPKI.get()
        let server = try HTTPServer(tls: try pki.serverContext(requireClientCertificate: true)) { request, respond in
            respond(HTTPServerResponse(status: 200, body: .chunked([request.body, Array("!".utf8)])))
        }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.tls.trustRoots = .file(pki.caFile)
        configuration.tls.clientCertificateChainFile = pki.clientCertificate
        configuration.tls.clientPrivateKeyFile = pki.clientKey
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        for i in 0..<5 {
            let response = try client.execute(
                try HTTPRequest(method: "POST", url: "https://localhost:\(server.port)/", body: .bytes(Array("\(i)".utf8))),
                timeout: .seconds(10))
            XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "\(i)!")
        }
        XCTAssertEqual(client.connectionsOpened, 1)
    }

    func testMissingClientKeyIsAConfigurationError() throws {
        var configuration = TLSClientConfiguration()
        configuration.clientCertificateChainFile = try TestPKI.get().clientCertificate
        expectTransportError(.tlsConfigurationInvalid) { _ = try TLSContext(client: configuration) }
    }
}
