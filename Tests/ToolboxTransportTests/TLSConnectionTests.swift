import Dispatch
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

final class TLSConnectionTests: XCTestCase {
    private func tlsEchoListener(
        expired: Bool = false, requireClientCertificate: Bool = false, errors: LockedValue<[TransportError]>? = nil
    ) throws -> TCPListener {
        let context = try TestPKI.get().serverContext(
            expired: expired, requireClientCertificate: requireClientCertificate)
        return try TCPListener(tls: context, onError: { error in errors?.withLockedValue { $0.append(error) } }) {
            echo($0)
        }
    }

    func testEchoOverTLSVerifiesNameAndChain() throws {
        let listener = try tlsEchoListener()
        defer { listener.close() }
        let client = try TestPKI.get().clientContext()
        for host in ["localhost", "127.0.0.1"] {
            let connection = try TCPConnection.connect(host: host, port: listener.port, tls: client, timeout: .seconds(10))
            XCTAssertTrue(connection.isTLS)
            let payload = Array(repeating: UInt8(ascii: "x"), count: 100_000)
            try connection.write(payload, timeout: .seconds(10))
            XCTAssertEqual(try readExactly(connection, count: payload.count), payload)
            try connection.close()
        }
    }

    func testSecondConnectionResumesTheTLSSession() throws {
        let listener = try tlsEchoListener(requireClientCertificate: true)
        defer { listener.close() }
        let client = try TestPKI.get().clientContext(withClientCertificate: true)
        var resumed: [Bool] = []
        for _ in 0..<3 {
            let connection = try TCPConnection.connect(host: "localhost", port: listener.port, tls: client, timeout: .seconds(10))
            // One round trip lets the client read the server's post-handshake session ticket (TLS 1.3).
            try connection.write([1], timeout: .seconds(10))
            XCTAssertEqual(try readExactly(connection, count: 1), [1])
            resumed.append(connection.isTLSSessionResumed)
            try connection.close()
        }
        XCTAssertEqual(resumed, [false, true, true])

        // Another context (other trust settings) never resumes this one's sessions.
        let other = try TestPKI.get().clientContext(withClientCertificate: true)
        let fresh = try TCPConnection.connect(host: "localhost", port: listener.port, tls: other, timeout: .seconds(10))
        XCTAssertFalse(fresh.isTLSSessionResumed)
        try fresh.close()
    }

    func testTLSOverIPv6VerifiesTheIPAddress() throws {
        let context = try TestPKI.get().serverContext()
        let listener = try TCPListener(host: "::1", tls: context) { echo($0) }
        defer { listener.close() }
        let connection = try TCPConnection.connect(
            host: "::1", port: listener.port, tls: try TestPKI.get().clientContext(), timeout: .seconds(10))
        try connection.write([9], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 1), [9])
        try connection.close()
    }

    func testUntrustedIssuerIsReported() throws {
        let errors = LockedValue<[TransportError]>([])
        let listener = try tlsEchoListener(errors: errors)
        defer { listener.close() }
        let client = try TestPKI.get().clientContext(trusting: try TestPKI.get().otherCAFile)
        expectTransportError(.untrustedIssuer) {
            _ = try TCPConnection.connect(host: "localhost", port: listener.port, tls: client, timeout: .seconds(10))
        }
    }

    func testWrongHostNameIsReported() throws {
        let listener = try tlsEchoListener()
        defer { listener.close() }
        let client = try TestPKI.get().clientContext()
        expectTransportError(.hostNameMismatch) {
            _ = try TCPConnection.connect(
                host: "127.0.0.1", port: listener.port, tls: client, serverName: "wrong.example", timeout: .seconds(10))
        }
    }

    /// Issue 13 item 10: an empty server name used to switch host-name verification off silently (the chain
    /// alone was checked, so any trusted certificate passed for any server). It is a configuration error now,
    /// unless verification was turned off explicitly.
    func testAnEmptyServerNameWithVerificationIsAConfigurationError() throws {
        let listener = try tlsEchoListener()
        defer { listener.close() }
        let client = try TestPKI.get().clientContext()
        expectTransportError(.tlsConfigurationInvalid) {
            _ = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, tls: client, serverName: "",
                                          timeout: .seconds(10))
        }
        let insecure = try TLSContext(client: .insecureNoVerificationForDevelopmentOnly())
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, tls: insecure,
                                                   serverName: "", timeout: .seconds(10))
        try connection.close()
    }

    func testWrongIPAddressIsReported() throws {
        let listener = try tlsEchoListener()
        defer { listener.close() }
        let client = try TestPKI.get().clientContext()
        // The certificate lists 127.0.0.1 and ::1 only; checking it against another IP must fail.
        expectTransportError(.hostNameMismatch) {
            _ = try TCPConnection.connect(
                host: "127.0.0.1", port: listener.port, tls: client, serverName: "10.1.2.3", timeout: .seconds(10))
        }
    }

    func testExpiredCertificateIsReported() throws {
        let listener = try tlsEchoListener(expired: true)
        defer { listener.close() }
        let client = try TestPKI.get().clientContext()
        do {
            _ = try TCPConnection.connect(host: "localhost", port: listener.port, tls: client, timeout: .seconds(10))
            XCTFail("an expired certificate must be rejected")
        } catch let error as TransportError {
            XCTAssertEqual(error.code, .certificateExpired, "\(error)")
            XCTAssertTrue(error.isCertificateVerificationFailure)
            XCTAssertTrue(error.description.contains("expired"), error.description)
        }
    }

    func testNotYetValidCertificateIsReported() throws {
        let pki = try TestPKI.get()
        let context = try TLSContext(server: TLSServerConfiguration(
            certificateChainFile: pki.futureCertificate, privateKeyFile: pki.futureKey))
        let listener = try TCPListener(tls: context) { echo($0) }
        defer { listener.close() }
        expectTransportError(.certificateNotYetValid) {
            _ = try TCPConnection.connect(host: "localhost", port: listener.port, tls: try pki.clientContext(), timeout: .seconds(10))
        }
    }

    func testInsecureOptOutAcceptsAnyCertificate() throws {
        let listener = try tlsEchoListener(expired: true)
        defer { listener.close() }
        let client = try TLSContext(client: .insecureNoVerificationForDevelopmentOnly())
        let connection = try TCPConnection.connect(
            host: "127.0.0.1", port: listener.port, tls: client, serverName: "anything.example", timeout: .seconds(10))
        try connection.write([1, 2], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 2), [1, 2])
        try connection.close()
    }

    func testMutualTLSRequiresTheClientCertificate() throws {
        let errors = LockedValue<[TransportError]>([])
        let listener = try tlsEchoListener(requireClientCertificate: true, errors: errors)
        defer { listener.close() }
        let withCertificate = try TestPKI.get().clientContext(withClientCertificate: true)
        let connection = try TCPConnection.connect(
            host: "localhost", port: listener.port, tls: withCertificate, timeout: .seconds(10))
        try connection.write([5], timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 1), [5])
        try connection.close()

        // TLS 1.3 clients finish their handshake before the server checks them, so the refusal may only
        // show on the first read.
        let without = try TestPKI.get().clientContext()
        do {
            let rejected = try TCPConnection.connect(host: "localhost", port: listener.port, tls: without, timeout: .seconds(10))
            try? rejected.write([5], timeout: .seconds(10))
            let bytes = try rejected.read(timeout: .seconds(10))
            XCTAssertEqual(bytes, [], "a server requiring client certificates must not echo to an anonymous client")
        } catch let error as TransportError {
            XCTAssertTrue([.tlsHandshakeFailed, .tlsProtocolError, .connectionReset].contains(error.code), "\(error)")
        }
    }

    func testUnreadableCAFileIsAConfigurationError() {
        expectTransportError(.tlsConfigurationInvalid) {
            _ = try TLSContext(client: TLSClientConfiguration(trustRoots: .file("/nonexistent/ca.pem")))
        }
        expectTransportError(.tlsConfigurationInvalid) {
            _ = try TLSContext(server: TLSServerConfiguration(
                certificateChainFile: "/nonexistent/cert.pem", privateKeyFile: "/nonexistent/key.pem"))
        }
    }

    func testPlainClientToTLSListenerFailsTheServerHandshake() throws {
        let errors = LockedValue<[TransportError]>([])
        let reported = DispatchSemaphore(value: 0)
        let listener = try TCPListener(tls: try TestPKI.get().serverContext(), onError: { error in
            errors.withLockedValue { $0.append(error) }
            reported.signal()
        }) { _ in }
        defer { listener.close() }
        let connection = try TCPConnection.connect(host: "127.0.0.1", port: listener.port, timeout: .seconds(10))
        try connection.write(Array("GET / HTTP/1.1\r\n\r\n".utf8), timeout: .seconds(10))
        XCTAssertEqual(reported.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(errors.load().first?.code, .tlsHandshakeFailed, "\(errors.load())")
        try connection.close()
    }
}
