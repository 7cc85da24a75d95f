import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// The emulator's Entra ID: AzureAuth's own credentials get tokens from it that the emulator's services accept,
/// and every refusal has Entra's shape.
final class EntraTests: XCTestCase {
    private static let storageScope = "https://storage.azure.com/.default"

    private func startHTTPEmulator(_ configure: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> Emulator {
        try startEmulator { configuration in
            configuration.httpsPort = 0
            configure(&configuration)
        }
    }

    private func transport(_ emulator: Emulator) throws -> HTTPClientTokenTransport {
        try HTTPClientTokenTransport(caFile: XCTUnwrap(emulator.caFile))
    }

    /// The token is one the emulator's HTTP services accept for `audience`.
    private func assertAccepted(_ token: AccessToken, audience: String, by emulator: Emulator,
                                file: StaticString = #filePath, line: UInt = #line) {
        let context = EmulatorHTTPContext(configuration: emulator.configuration)
        switch context.verifyBearer("Bearer " + token.token.exposedValue, audiences: [audience]) {
        case .success(let claims): XCTAssertEqual(claims.audience, audience, file: file, line: line)
        case .failure(let rejection): XCTFail("token refused: \(rejection.reason)", file: file, line: line)
        }
    }

    private func environment(_ emulator: Emulator, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "AZURE_AUTHORITY_HOST": emulator.authorityHost ?? "",
            "AZURE_TENANT_ID": emulator.configuration.tenantID,
            "AZURE_CLIENT_ID": emulator.configuration.clientID,
        ].merging(extra) { $1 }
    }

    func testClientSecretCredentialGetsATokenTheServicesAccept() throws {
        let emulator = try startHTTPEmulator()
        let credential = try ClientSecretCredential(
            tenantID: emulator.configuration.tenantID, clientID: emulator.configuration.clientID,
            clientSecret: Secret(EmulatorWellKnown.clientSecret), authorityHost: emulator.authorityHost,
            environment: [:], transport: transport(emulator))
        assertAccepted(try credential.token(for: [Self.storageScope]), audience: "https://storage.azure.com/", by: emulator)
        assertAccepted(try credential.token(for: ["https://eventgrid.azure.net/.default"]),
                       audience: "https://eventgrid.azure.net/", by: emulator)
        // The AMQP side's `$cbs` takes the same issuer's tokens for the Event Hubs audience.
        let eventHubs = try credential.token(for: ["https://eventhubs.azure.net//.default"])
        let now = Int(Date().timeIntervalSince1970)
        guard case .success = EmulatorJWT.verify(eventHubs.token.exposedValue, key: emulator.configuration.key, now: now)
        else { return XCTFail("the Event Hubs token is not one $cbs accepts") }
    }

    func testWrongSecretUnknownClientAndUnknownTenantAreRefusedInEntrasShape() throws {
        let emulator = try startHTTPEmulator()
        let wrongSecret = try ClientSecretCredential(
            tenantID: emulator.configuration.tenantID, clientID: emulator.configuration.clientID,
            clientSecret: Secret("not-the-secret"), authorityHost: emulator.authorityHost, environment: [:],
            transport: transport(emulator))
        XCTAssertThrowsError(try wrongSecret.token(for: [Self.storageScope])) { error in
            let error = error as? AuthError
            XCTAssertEqual(error?.code, .authenticationFailed)
            XCTAssertTrue(error?.message.contains("AADSTS7000215") == true, "\(String(describing: error))")
            XCTAssertFalse(error?.message.contains("not-the-secret") == true)
        }
        let unknownClient = try ClientSecretCredential(
            tenantID: emulator.configuration.tenantID, clientID: "11111111-2222-3333-4444-555555555555",
            clientSecret: Secret(EmulatorWellKnown.clientSecret), authorityHost: emulator.authorityHost,
            environment: [:], transport: transport(emulator))
        XCTAssertThrowsError(try unknownClient.token(for: [Self.storageScope])) { error in
            XCTAssertTrue((error as? AuthError)?.message.contains("AADSTS700016") == true, "\(error)")
        }
        let unknownTenant = try ClientSecretCredential(
            tenantID: "contoso.onmicrosoft.com", clientID: emulator.configuration.clientID,
            clientSecret: Secret(EmulatorWellKnown.clientSecret), authorityHost: emulator.authorityHost,
            environment: [:], transport: transport(emulator))
        XCTAssertThrowsError(try unknownTenant.token(for: [Self.storageScope])) { error in
            XCTAssertTrue((error as? AuthError)?.message.contains("AADSTS90002") == true, "\(error)")
        }
    }

    func testTokenEndpointChecksScopeGrantAndBodyOverRawHTTP() throws {
        let emulator = try startHTTPEmulator()
        let client = try HTTPClient(configuration: HTTPClientConfiguration())
        defer { try? client.shutdown() }
        let tenant = emulator.configuration.tenantID
        let url = try XCTUnwrap(emulator.plainHTTPBaseURL) + "/\(tenant)/oauth2/v2.0/token"
        func post(_ form: String, contentType: String = "application/x-www-form-urlencoded",
                  authorization: String? = nil) throws -> (Int, [String: Any]) {
            var headers: HTTPHeaders = ["Content-Type": contentType]
            if let authorization { headers.add(name: "Authorization", value: authorization) }
            let response = try client.execute(HTTPRequest(method: "POST", url: url, headers: headers,
                                                          body: .bytes(Array(form.utf8))), timeout: .seconds(10))
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
            return (response.head.status, object)
        }
        let id = emulator.configuration.clientID
        let secret = EmulatorWellKnown.clientSecret
        let base = "client_id=\(id)&grant_type=client_credentials&client_secret=\(secret)"
        for (form, status, code) in [
            (base + "&scope=https%3A%2F%2Fstorage.azure.com%2Fuser.read", 400, 1002012),
            (base + "&scope=https%3A%2F%2Fstorage.azure.com%2F.default+https%3A%2F%2Feventgrid.azure.net%2F.default", 400, 28000),
            (base, 400, 900144),
            ("client_id=\(id)&grant_type=password&scope=x%2F.default", 400, 70003),
            ("client_id=\(id)&grant_type=client_credentials&scope=https%3A%2F%2Fstorage.azure.com%2F.default", 401, 7000218),
        ] {
            let (answer, object) = try post(form)
            XCTAssertEqual(answer, status, form)
            XCTAssertEqual(object["error_codes"] as? [Int], [code], form)
            XCTAssertTrue((object["error_description"] as? String)?.hasPrefix("AADSTS\(code): ") == true, form)
        }
        XCTAssertEqual(try post(base + "&scope=x%2F.default", contentType: "application/json").0, 400)
        // client_secret_basic (MSAL's alternative) and the OpenID scopes MSAL adds.
        let basic = "Basic " + AuthCrypto.base64(Array("\(id):\(secret)".utf8))
        let (status, object) = try post("grant_type=client_credentials&scope=openid+profile+offline_access+"
            + "https%3A%2F%2F127.0.0.1%2F.default", authorization: basic)
        XCTAssertEqual(status, 200)
        XCTAssertEqual(object["token_type"] as? String, "Bearer")
        XCTAssertEqual(object["expires_in"] as? Int, 3599)
        let token = try XCTUnwrap(object["access_token"] as? String)
        assertAccepted(AccessToken(token: Secret(token), expiresOn: 0), audience: "https://127.0.0.1/", by: emulator)
    }

    func testDiscoveryDocumentsPointBackAtTheHostTheClientUsed() throws {
        let emulator = try startHTTPEmulator()
        let client = try HTTPClient(configuration: HTTPClientConfiguration())
        defer { try? client.shutdown() }
        let base = try XCTUnwrap(emulator.plainHTTPBaseURL)
        let tenant = emulator.configuration.tenantID
        func get(_ path: String) throws -> (Int, [String: Any]) {
            let response = try client.execute(HTTPRequest(url: base + path), timeout: .seconds(10))
            return (response.head.status,
                    try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:])
        }
        let (status, document) = try get("/\(tenant)/v2.0/.well-known/openid-configuration")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(document["issuer"] as? String, "\(base)/\(tenant)/v2.0")
        XCTAssertEqual(document["token_endpoint"] as? String, "\(base)/\(tenant)/oauth2/v2.0/token")
        XCTAssertEqual(document["jwks_uri"] as? String, "\(base)/\(tenant)/discovery/v2.0/keys")
        let (_, instance) = try get("/common/discovery/instance?api-version=1.1")
        XCTAssertEqual(instance["tenant_discovery_endpoint"] as? String,
                       "\(base)/\(tenant)/v2.0/.well-known/openid-configuration")
        XCTAssertEqual(try get("/\(tenant)/discovery/v2.0/keys").0, 200)
        let (unknown, error) = try get("/someone-else/v2.0/.well-known/openid-configuration")
        XCTAssertEqual(unknown, 400)
        XCTAssertEqual(error["error"] as? String, "invalid_tenant")
    }

    func testManagedIdentityOverIMDSAndAppService() throws {
        let emulator = try startHTTPEmulator()
        let imdsEndpoint = try XCTUnwrap(emulator.imdsEndpoint)
        XCTAssertTrue(imdsEndpoint.hasPrefix("http://"), "IMDS is plain HTTP: \(imdsEndpoint)")
        let transport = try transport(emulator)
        let imds = try ManagedIdentityCredential(environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": imdsEndpoint],
                                                 transport: transport, retryDelays: [])
        assertAccepted(try imds.token(for: [Self.storageScope]), audience: "https://storage.azure.com/", by: emulator)
        let userAssigned = try ManagedIdentityCredential(
            id: .clientID("22222222-aaaa-bbbb-cccc-000000000002"),
            environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": imdsEndpoint], transport: transport, retryDelays: [])
        assertAccepted(try userAssigned.token(for: ["https://eventgrid.azure.net/.default"]),
                       audience: "https://eventgrid.azure.net/", by: emulator)
        let appService = try ManagedIdentityCredential(
            environment: ["IDENTITY_ENDPOINT": try XCTUnwrap(emulator.identityEndpoint),
                          "IDENTITY_HEADER": emulator.identityHeader], transport: transport)
        XCTAssertEqual(appService.source, .appService)
        assertAccepted(try appService.token(for: [Self.storageScope]), audience: "https://storage.azure.com/", by: emulator)
        let wrongHeader = try ManagedIdentityCredential(
            environment: ["IDENTITY_ENDPOINT": try XCTUnwrap(emulator.identityEndpoint), "IDENTITY_HEADER": "wrong"],
            transport: transport)
        XCTAssertThrowsError(try wrongHeader.token(for: [Self.storageScope]))
    }

    func testIMDSRequiresTheMetadataHeaderAndAnswersInIMDSShape() throws {
        let emulator = try startHTTPEmulator()
        let client = try HTTPClient(configuration: HTTPClientConfiguration())
        defer { try? client.shutdown() }
        let url = try XCTUnwrap(emulator.imdsEndpoint)
            + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com"
        let refused = try client.execute(HTTPRequest(url: url), timeout: .seconds(10))
        XCTAssertEqual(refused.head.status, 400)
        XCTAssertTrue(String(decoding: refused.body, as: UTF8.self).contains("Required metadata header not specified"))
        let answered = try client.execute(HTTPRequest(url: url, headers: ["Metadata": "true"]), timeout: .seconds(10))
        XCTAssertEqual(answered.head.status, 200)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answered.body)) as? [String: Any])
        XCTAssertEqual(object["resource"] as? String, "https://storage.azure.com")
        for key in ["expires_in", "expires_on", "ext_expires_in", "not_before", "client_id", "access_token"] {
            XCTAssertNotNil(object[key] as? String, key)
        }
        let noResource = try client.execute(HTTPRequest(
            url: try XCTUnwrap(emulator.imdsEndpoint) + "/metadata/identity/oauth2/token?api-version=2018-02-01",
            headers: ["Metadata": "true"]), timeout: .seconds(10))
        XCTAssertEqual(noResource.head.status, 400)
    }

    func testDefaultAzureCredentialFromEnvironmentVariables() throws {
        let emulator = try startHTTPEmulator()
        let credential = DefaultAzureCredential(
            environment: environment(emulator, ["AZURE_CLIENT_SECRET": EmulatorWellKnown.clientSecret]),
            transport: try transport(emulator), exclude: [.azureCLI])
        assertAccepted(try credential.token(for: [Self.storageScope]), audience: "https://storage.azure.com/", by: emulator)
        XCTAssertEqual(credential.selectedCredential?.credentialName, "EnvironmentCredential")
    }

    func testWorkloadIdentityWithTheEmulatorsFederatedToken() throws {
        let emulator = try startHTTPEmulator()
        let directory = try temporaryDirectory()
        let tokenFile = directory + "/token"
        try emulator.issueFederatedToken().write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let credential = try WorkloadIdentityCredential(
            environment: environment(emulator, ["AZURE_FEDERATED_TOKEN_FILE": tokenFile]), transport: transport(emulator))
        assertAccepted(try credential.token(for: [Self.storageScope]), audience: "https://storage.azure.com/", by: emulator)
        // A storage token is not a federated token.
        try emulator.issueToken(forScope: Self.storageScope).token.exposedValue
            .write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let other = try WorkloadIdentityCredential(
            environment: environment(emulator, ["AZURE_FEDERATED_TOKEN_FILE": tokenFile]), transport: transport(emulator))
        XCTAssertThrowsError(try other.token(for: [Self.storageScope])) { error in
            XCTAssertTrue((error as? AuthError)?.message.contains("AADSTS70021") == true, "\(error)")
        }
    }

    func testClientCertificateAssertionIsVerifiedAgainstTheRegisteredCertificate() throws {
        let directory = try temporaryDirectory()
        try makeRSACertificate(named: "registered", in: directory)
        try makeRSACertificate(named: "stranger", in: directory)
        let emulator = try startHTTPEmulator { $0.clientCertificateFiles = [directory + "/registered.pem"] }
        func credential(_ name: String) throws -> ClientCertificateCredential {
            try ClientCertificateCredential(
                tenantID: emulator.configuration.tenantID, clientID: emulator.configuration.clientID,
                certificatePath: "\(directory)/\(name)-bundle.pem", authorityHost: emulator.authorityHost,
                environment: [:], transport: transport(emulator))
        }
        assertAccepted(try credential("registered").token(for: [Self.storageScope]),
                       audience: "https://storage.azure.com/", by: emulator)
        XCTAssertThrowsError(try credential("stranger").token(for: [Self.storageScope])) { error in
            XCTAssertTrue((error as? AuthError)?.message.contains("AADSTS700027") == true, "\(error)")
        }
    }

    func testRefusedAuthenticationAndThrottlingFaults() throws {
        let refusing = try startHTTPEmulator { $0.faults.refuseAuthentication = true }
        let credential = try ClientSecretCredential(
            tenantID: refusing.configuration.tenantID, clientID: refusing.configuration.clientID,
            clientSecret: Secret(EmulatorWellKnown.clientSecret), authorityHost: refusing.authorityHost,
            environment: [:], transport: transport(refusing))
        XCTAssertThrowsError(try credential.token(for: [Self.storageScope])) { error in
            XCTAssertEqual((error as? AuthError)?.code, .authenticationFailed)
        }
        let throttling = try startHTTPEmulator { $0.faults.httpThrottleRate = 1 }
        let client = try HTTPClient(configuration: HTTPClientConfiguration())
        defer { try? client.shutdown() }
        let response = try client.execute(HTTPRequest(
            url: try XCTUnwrap(throttling.imdsEndpoint) + "/metadata/identity/oauth2/token?api-version=2018-02-01"
                + "&resource=https://storage.azure.com", headers: ["Metadata": "true"]), timeout: .seconds(10))
        XCTAssertEqual(response.head.status, 429)
        XCTAssertEqual(response.head.headers.first(name: "Retry-After"), "1")
        // The emulator-only routes are exempt from the faults.
        let federated = try client.execute(HTTPRequest(
            url: try XCTUnwrap(throttling.plainHTTPBaseURL) + "/_emulator/entra/federated-token"), timeout: .seconds(10))
        XCTAssertEqual(federated.head.status, 200)
    }

    // MARK: - helpers

    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "entra-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// `<name>.pem` (certificate) and `<name>-bundle.pem` (key + certificate), RSA 2048, self-signed.
    private func makeRSACertificate(named name: String, in directory: String) throws {
        let script = """
            set -e
            cd '\(directory)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout \(name).key -out \(name).pem -days 2 \
              -subj '/CN=\(name)' 2>/dev/null
            cat \(name).key \(name).pem > \(name)-bundle.pem
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "openssl could not make a test certificate")
    }
}
