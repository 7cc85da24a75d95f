import Foundation
import Logging
import ToolboxCore
import XCTest

@testable import AzureAuth

/// ClientSecretCredential, WorkloadIdentityCredential and EnvironmentCredential against an in-memory endpoint.
final class EntraCredentialTests: XCTestCase {
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    let secret = "super-SECRET-value~1"
    /// A secret the form encodes: an endpoint may echo it either way.
    let encodedSecret = "p@ss+word/SECRET=1"
    let scope = "https://storage.azure.com/.default"

    func testClientSecretRequestMatchesAzureIdentityOnTheWire() throws {
        let transport = FakeTokenTransport.issuing("jwt-1")
        let clock = TestClock()
        let credential = try ClientSecretCredential(
            tenantID: tenant, clientID: "app-id", clientSecret: Secret(secret),
            authorityHost: "https://127.0.0.1:10243/", environment: [:], transport: transport, clock: clock.function)
        let token = try XCTUnwrap(awaitToken(credential, [scope])).get()
        XCTAssertEqual(token.token.exposedValue, "jwt-1")
        XCTAssertEqual(token.expiresOn, clock.now + 3599)
        let request = try XCTUnwrap(transport.requests.first)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "https://127.0.0.1:10243/\(tenant)/oauth2/v2.0/token")
        XCTAssertEqual(request.header("content-type"), "application/x-www-form-urlencoded")
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self),
            "client_id=app-id&client_secret=super-SECRET-value~1&grant_type=client_credentials"
                + "&scope=https%3A%2F%2Fstorage.azure.com%2F.default")
        // Cached: the second call makes no request.
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "jwt-1")
        XCTAssertEqual(transport.count, 1)
        XCTAssertEqual(transport.requests.count, 1)
    }

    /// An endpoint that echoes the client secret it was sent into its error never gets it into the error.
    func testAnEchoedClientSecretNeverReachesTheError() throws {
        let transport = FakeTokenTransport { request, _ in
            let body = String(decoding: request.body, as: UTF8.self)
            let sent = formFields(request.body)["client_secret"] ?? ""
            // The secret echoed raw, straddling the 300 characters the description is cut to (no part of it may
            // survive), and form-encoded in the whole body after it.
            return FakeTokenTransport.json(401, ["error": "invalid_client",
                                                 "error_description": String(repeating: "a", count: 290) + " \(sent) \(body)"])
        }
        for value in [secret, encodedSecret] {
            let credential = try ClientSecretCredential(
                tenantID: tenant, clientID: "app-id", clientSecret: Secret(value),
                authorityHost: "https://127.0.0.1:10243/", environment: [:], transport: transport,
                clock: TestClock().function)
            let result = try XCTUnwrap(awaitToken(credential, [scope]))
            guard case .failure(let error) = result else { return XCTFail("accepted") }
            XCTAssertEqual(error.code, .authenticationFailed)
            XCTAssertFalse("\(error)".contains(value), "\(error)")
            XCTAssertFalse("\(error)".contains("SECRET"), "\(error)")
            XCTAssertFalse("\(error)".contains(value.prefix(6)), "no part of the secret either: \(error)")
            XCTAssertTrue("\(error)".contains(" [REDACTE"), "\(error)")
        }
    }

    func testAuthorityHostComesFromEnvironmentAndMustBeHTTPS() throws {
        let transport = FakeTokenTransport.issuing()
        let fromEnv = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret),
            environment: ["AZURE_AUTHORITY_HOST": "login.example.test:8443"], transport: transport)
        XCTAssertEqual(fromEnv.authorityHost, "https://login.example.test:8443")
        let standard = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), environment: [:], transport: transport)
        XCTAssertEqual(standard.authorityHost, "https://login.microsoftonline.com")
        XCTAssertThrowsError(try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), authorityHost: "http://127.0.0.1:1",
            environment: [:], transport: transport)) { XCTAssertEqual(($0 as? AuthError)?.code, .invalidArgument) }
        XCTAssertThrowsError(try ClientSecretCredential(
            tenantID: "bad/tenant", clientID: "c", clientSecret: Secret(secret), environment: [:],
            transport: transport)) { XCTAssertEqual(($0 as? AuthError)?.code, .invalidArgument) }
    }

    func testEntraErrorBecomesAuthenticationFailedWithoutSecret() throws {
        let transport = FakeTokenTransport { _, _ in
            FakeTokenTransport.json(401, [
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7_000_215],
            ])
        }
        let credential = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), environment: [:], transport: transport)
        let error = try XCTUnwrap(awaitToken(credential, [scope])?.failure)
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("AADSTS7000215"), error.message)
        XCTAssertTrue(error.message.contains("invalid_client"), error.message)
        XCTAssertFalse("\(error)".contains(secret))
    }

    func testMalformedAndNetworkFailures() throws {
        let noExpiry = FakeTokenTransport { _, _ in FakeTokenTransport.json(200, ["access_token": "t"]) }
        let credential = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), environment: [:], transport: noExpiry)
        XCTAssertEqual(awaitToken(credential, [scope])?.failureCode, .authenticationFailed)
        XCTAssertEqual(awaitToken(credential, [])?.failureCode, .invalidArgument)
        XCTAssertEqual(noExpiry.count, 1, "no request without a scope")

        let down = FakeTokenTransport { _, _ in .failure(FakeNetworkError()) }
        let offline = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), environment: [:], transport: down)
        let error = try XCTUnwrap(awaitToken(offline, [scope])?.failure)
        XCTAssertEqual(error.code, .transportFailed)
        XCTAssertTrue(error.message.contains("connection refused"))
    }

    func testLongLivedTokensRefreshAtHalfLife() throws {
        let transport = FakeTokenTransport { _, _ in
            FakeTokenTransport.json(200, ["access_token": "t", "expires_in": "86399"])
        }
        let clock = TestClock()
        let credential = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), environment: [:], transport: transport,
            clock: clock.function)
        let token = try XCTUnwrap(awaitToken(credential, [scope])).get()
        XCTAssertEqual(token.expiresOn, clock.now + 86399)
        XCTAssertEqual(token.refreshOn, clock.now + 86399 / 2)
    }

    func testWorkloadIdentitySendsTheFederatedTokenFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fed-\(UUID().uuidString)")
        try "federated.jwt.value\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let transport = FakeTokenTransport.issuing("wi-token")
        let credential = try WorkloadIdentityCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "wi-client", "AZURE_FEDERATED_TOKEN_FILE": file.path,
            "AZURE_AUTHORITY_HOST": "https://127.0.0.1:10243",
        ], transport: transport)
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "wi-token")
        let request = try XCTUnwrap(transport.requests.first)
        XCTAssertEqual(request.url, "https://127.0.0.1:10243/\(tenant)/oauth2/v2.0/token")
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self),
            "client_assertion=federated.jwt.value"
                + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                + "&client_id=wi-client&grant_type=client_credentials&scope=https%3A%2F%2Fstorage.azure.com%2F.default")
    }

    func testWorkloadIdentityMissingConfiguration() throws {
        XCTAssertThrowsError(try WorkloadIdentityCredential(
            environment: ["AZURE_TENANT_ID": tenant], transport: FakeTokenTransport.issuing())) { error in
            let authError = error as? AuthError
            XCTAssertEqual(authError?.code, .credentialUnavailable)
            XCTAssertTrue(authError?.message.contains("AZURE_CLIENT_ID") ?? false)
            XCTAssertTrue(authError?.message.contains("AZURE_FEDERATED_TOKEN_FILE") ?? false)
        }
        let credential = try WorkloadIdentityCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": "/nonexistent/token",
        ], transport: FakeTokenTransport.issuing())
        XCTAssertEqual(awaitToken(credential, [scope])?.failureCode, .credentialUnavailable)
    }

    /// A token file over 1 MiB, or one that is not a regular file (a FIFO would block the read), is refused
    /// without reading it; nothing is sent.
    func testWorkloadIdentityRefusesAHugeOrIrregularTokenFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let huge = directory.appendingPathComponent("huge").path
        XCTAssertTrue(FileManager.default.createFile(atPath: huge, contents: nil))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: huge))
        try handle.truncate(atOffset: UInt64(FederatedTokenFile.maxBytes + 1))
        try handle.close()
        let fifo = directory.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for (path, expected) in [(huge, "bytes"), (fifo, "not a regular file"), (directory.path, "not a regular file")] {
            let transport = FakeTokenTransport.issuing()
            let credential = try WorkloadIdentityCredential(environment: [
                "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": path,
            ], transport: transport)
            let result = try XCTUnwrap(awaitToken(credential, [scope]))
            guard case .failure(let error) = result else { return XCTFail("accepted \(path)") }
            XCTAssertEqual(error.code, .credentialUnavailable)
            XCTAssertTrue(error.message.contains(expected), error.message)
            XCTAssertEqual(transport.count, 0)
        }
    }

    func testEnvironmentCredential() throws {
        let transport = FakeTokenTransport.issuing("env-token")
        let configured = EnvironmentCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": secret,
        ], transport: transport)
        XCTAssertTrue(configured.isConfigured)
        XCTAssertEqual(try XCTUnwrap(awaitToken(configured, [scope])).get().token.exposedValue, "env-token")
        XCTAssertEqual(formFields(try XCTUnwrap(transport.requests.first).body)["client_secret"], secret)
        XCTAssertFalse("\(configured)".contains(secret))

        let missing = EnvironmentCredential(environment: ["AZURE_CLIENT_ID": "c"], transport: transport)
        let error = try XCTUnwrap(awaitToken(missing, [scope])?.failure)
        XCTAssertEqual(error.code, .credentialUnavailable)
        XCTAssertTrue(error.message.contains("AZURE_TENANT_ID") && error.message.contains("AZURE_CLIENT_SECRET"))
        let certificate = EnvironmentCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_CERTIFICATE_PATH": "/nonexistent.pem",
        ], transport: transport)
        let certificateError = try XCTUnwrap(awaitToken(certificate, [scope])?.failure)
        XCTAssertEqual(certificateError.code, .invalidArgument)
        XCTAssertTrue(certificateError.message.contains("/nonexistent.pem"), certificateError.message)
        let password = EnvironmentCredential(environment: [
            "AZURE_CLIENT_ID": "c", "AZURE_USERNAME": "u", "AZURE_PASSWORD": "p",
        ], transport: transport)
        XCTAssertTrue(try XCTUnwrap(awaitToken(password, [scope])?.failure).message.contains("not supported"))
    }

    /// Secrets never reach `description`, `dump`, errors or log lines (captured at trace level).
    func testSecretsAreRedactedEverywhere() throws {
        let leakyError = FakeTokenTransport { request, _ in
            // An endpoint that echoes the request back must still not leak through our error messages.
            FakeTokenTransport.json(400, ["error": "invalid_request",
                                          "error_description": "bad request of \(request.body.count) bytes"])
        }
        let logger = CapturingLogHandler.logger("redaction")
        let credential = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), environment: [:], transport: leakyError,
            logger: logger)
        let error = try XCTUnwrap(awaitToken(credential, [scope])?.failure)
        let good = try ClientSecretCredential(
            tenantID: tenant, clientID: "c", clientSecret: Secret(secret), environment: [:],
            transport: FakeTokenTransport.issuing("bearer-XYZ-123"), logger: logger)
        let token = try XCTUnwrap(awaitToken(good, [scope])).get()
        let request = TokenHTTPRequest(method: "POST", url: "https://h/t?x=1",
                                       headers: [("X-IDENTITY-HEADER", "hdr-secret")], body: Array(secret.utf8))
        let texts = [
            "\(error)", error.message, "\(credential)", dumpText(credential), "\(token)", dumpText(token),
            "\(request)", String(reflecting: token.token),
            "\(TokenHTTPResponse(status: 200, body: Array("bearer-XYZ-123".utf8)))",
        ] + CapturingLogHandler.lines.load()
        XCTAssertFalse(CapturingLogHandler.lines.load().isEmpty, "the logger saw the fetches")
        for text in texts {
            XCTAssertFalse(text.contains(secret), "client secret leaked: \(text)")
            XCTAssertFalse(text.contains("bearer-XYZ-123"), "token leaked: \(text)")
            XCTAssertFalse(text.contains("hdr-secret"), "identity header leaked: \(text)")
        }
    }

    func testBlockingFormAndLibraryQueueGuard() throws {
        let credential = StaticTokenCredential(token: Secret("static"), expiresOn: 2_000_000_000)
        XCTAssertEqual(try credential.token(for: [scope]).token.exposedValue, "static")
        let queue = LibraryQueues.makeQueue(label: "AzureAuthTests.library")
        let thrown = LockedValue<(any Error)?>(nil)
        queue.sync {
            do { _ = try credential.token(for: [scope]) } catch { thrown.withLockedValue { $0 = error } }
        }
        XCTAssertEqual((thrown.load() as? CoreError)?.code, .blockingCallOnLibraryQueue)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
