import Foundation
import ToolboxCore
import XCTest

@testable import AzureAuth

/// Certificate credentials: the client assertion is checked with the `openssl` command, independently of the
/// code that produced it.
final class ClientCertificateCredentialTests: XCTestCase {
    private var directory: String!
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    let scope = "https://storage.azure.com/.default"

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cert-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try shell("""
            openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj '/CN=sp' 2>/dev/null
            cat cert.pem key.pem > combined.pem
            openssl pkey -in key.pem -pubout -out public.pem
            openssl pkey -in key.pem -aes256 -passout pass:pw-123 -out encrypted-key.pem
            cat cert.pem encrypted-key.pem > encrypted.pem
            openssl x509 -in cert.pem -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' > sha1.txt
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ec.key -out ec.pem \
              -days 2 -subj '/CN=ec' 2>/dev/null
            cat ec.pem ec.key > ec-combined.pem
            openssl pkcs12 -export -inkey key.pem -in cert.pem -out bundle.pfx -passout pass:pfx-pw
            """)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    @discardableResult
    private func shell(_ script: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "set -e\ncd '\(directory!)'\n" + script]
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 { throw TestSetupFailure("the openssl command failed or is missing (status \(process.terminationStatus)); install openssl") }
        return process.terminationStatus
    }

    private func base64URLDecode(_ text: Substring) throws -> [UInt8] {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return try XCTUnwrap(AuthCrypto.base64Decode(base64))
    }

    func testAssertionIsAVerifiableRS256JWTWithThumbprintAndClaims() throws {
        let transport = FakeTokenTransport.issuing("cert-token")
        let clock = TestClock()
        let credential = try ClientCertificateCredential(
            tenantID: tenant, clientID: "cert-app", certificatePath: directory + "/combined.pem",
            authorityHost: "https://127.0.0.1:10243", environment: [:], transport: transport, clock: clock.function)
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "cert-token")

        let form = formFields(try XCTUnwrap(transport.requests.first).body)
        XCTAssertEqual(form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        XCTAssertEqual(form["client_id"], "cert-app")
        XCTAssertEqual(form["grant_type"], "client_credentials")
        XCTAssertEqual(form["scope"], scope)
        XCTAssertNil(form["client_secret"])
        let parts = try XCTUnwrap(form["client_assertion"]).split(separator: ".")
        XCTAssertEqual(parts.count, 3)

        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try base64URLDecode(parts[0])))
            as? [String: Any])
        XCTAssertEqual(header["alg"] as? String, "RS256")
        XCTAssertEqual(header["typ"] as? String, "JWT")
        let sha1Hex = try String(contentsOfFile: directory + "/sha1.txt", encoding: .utf8).trimmingWhitespace()
        XCTAssertEqual(AuthCrypto.hex(try base64URLDecode(Substring(try XCTUnwrap(header["x5t"] as? String)))),
            sha1Hex.lowercased())

        let claims = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try base64URLDecode(parts[1])))
            as? [String: Any])
        XCTAssertEqual(claims["aud"] as? String, "https://127.0.0.1:10243/\(tenant)/oauth2/v2.0/token")
        XCTAssertEqual(claims["iss"] as? String, "cert-app")
        XCTAssertEqual(claims["sub"] as? String, "cert-app")
        XCTAssertEqual(claims["nbf"] as? Int, clock.now)
        XCTAssertEqual(claims["exp"] as? Int, clock.now + 600)
        XCTAssertNotNil(claims["jti"] as? String)

        // Verify the signature with the openssl command and the certificate's public key.
        try Data((parts[0] + "." + parts[1]).utf8).write(to: URL(fileURLWithPath: directory + "/signed.txt"))
        try Data(try base64URLDecode(parts[2])).write(to: URL(fileURLWithPath: directory + "/signature.bin"))
        XCTAssertEqual(try shell(
            "openssl dgst -sha256 -verify public.pem -signature signature.bin signed.txt > /dev/null"), 0)
    }

    func testPKCS12Bundle() throws {
        let transport = FakeTokenTransport.issuing("pfx-token")
        let credential = try ClientCertificateCredential(
            tenantID: tenant, clientID: "pfx-app", certificatePath: directory + "/bundle.pfx",
            password: Secret("pfx-pw"), environment: [:], transport: transport)
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "pfx-token")
        let assertion = try XCTUnwrap(formFields(try XCTUnwrap(transport.requests.first).body)["client_assertion"])
        let header = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(try base64URLDecode(try XCTUnwrap(assertion.split(separator: ".").first)))) as? [String: Any])
        let sha1Hex = try String(contentsOfFile: directory + "/sha1.txt", encoding: .utf8).trimmingWhitespace()
        XCTAssertEqual(AuthCrypto.hex(try base64URLDecode(Substring(try XCTUnwrap(header["x5t"] as? String)))),
            sha1Hex.lowercased())
        XCTAssertThrowsError(try ClientCertificateCredential(
            tenantID: tenant, clientID: "c", certificatePath: directory + "/bundle.pfx", password: Secret("nope-pw"),
            environment: [:], transport: transport)) { XCTAssertEqual(($0 as? AuthError)?.code, .invalidArgument) }
    }

    func testEncryptedKeyEnvironmentAndBadFiles() throws {
        let transport = FakeTokenTransport.issuing("env-cert-token")
        let environment = EnvironmentCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_CERTIFICATE_PATH": directory + "/encrypted.pem",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw-123",
        ], transport: transport)
        XCTAssertTrue(environment.isConfigured)
        XCTAssertEqual(try XCTUnwrap(awaitToken(environment, [scope])).get().token.exposedValue, "env-cert-token")

        XCTAssertThrowsError(try ClientCertificateCredential(
            tenantID: tenant, clientID: "c", certificatePath: directory + "/encrypted.pem",
            password: Secret("bad-pw-xyz"), environment: [:], transport: transport)) { error in
            XCTAssertEqual((error as? AuthError)?.code, .invalidArgument)
            XCTAssertFalse("\(error)".contains("bad-pw-xyz"), "the password is not echoed")
        }
        XCTAssertThrowsError(try ClientCertificateCredential(
            tenantID: tenant, clientID: "c", certificatePath: directory + "/ec-combined.pem", environment: [:],
            transport: transport)) { XCTAssertTrue("\($0)".contains("not RSA")) }
        XCTAssertThrowsError(try ClientCertificateCredential(
            tenantID: tenant, clientID: "c", certificatePath: directory + "/key.pem", environment: [:],
            transport: transport)) { XCTAssertTrue("\($0)".contains("no certificate")) }
        let credential = try ClientCertificateCredential(
            tenantID: tenant, clientID: "c", certificatePath: directory + "/combined.pem", environment: [:],
            transport: transport)
        let key = try String(contentsOfFile: directory + "/key.pem", encoding: .utf8)
        let keyBody = key.split(separator: "\n")[1]
        XCTAssertFalse(dumpText(credential).contains(keyBody), "the private key never prints")
    }
}
