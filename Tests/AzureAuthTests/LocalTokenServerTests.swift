import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureAuth

/// Every HTTP credential against a real local token endpoint, over ToolboxTransport's HTTPClient (TLS for the
/// authority, plain HTTP for IMDS and App Service, as in Azure).
final class LocalTokenServerTests: XCTestCase {
    let scope = "https://storage.azure.com/.default"
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

    func testClientSecretAndWorkloadIdentityOverTLS() throws {
        let server = try LocalTokenServer(tls: true)
        defer { server.close() }
        let transport = try HTTPClientTokenTransport(caFile: server.caFile)
        defer { try? transport.client.shutdown() }

        let secretCredential = try ClientSecretCredential(
            tenantID: tenant, clientID: "app-1", clientSecret: Secret(server.clientSecret),
            authorityHost: server.authority, environment: [:], transport: transport)
        XCTAssertEqual(try secretCredential.token(for: [scope]).token.exposedValue, "entra-token-for-app-1")
        XCTAssertEqual(try secretCredential.token(for: [scope]).token.exposedValue, "entra-token-for-app-1")
        XCTAssertEqual(server.count, 1, "the second call was served from the cache")
        let first = try XCTUnwrap(server.requests.load().first)
        XCTAssertEqual(first.head.target, "/\(tenant)/oauth2/v2.0/token")
        XCTAssertEqual(first.head.headers.first(name: "Content-Type"), "application/x-www-form-urlencoded")

        let wrong = try ClientSecretCredential(
            tenantID: tenant, clientID: "app-1", clientSecret: Secret("wrong-secret"),
            authorityHost: server.authority, environment: [:], transport: transport)
        XCTAssertThrowsError(try wrong.token(for: [scope])) { error in
            XCTAssertEqual((error as? AuthError)?.code, .authenticationFailed)
            XCTAssertTrue("\(error)".contains("AADSTS7000215"))
            XCTAssertFalse("\(error)".contains("wrong-secret"))
        }

        let environment = EnvironmentCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "env-app", "AZURE_CLIENT_SECRET": server.clientSecret,
            "AZURE_AUTHORITY_HOST": server.authority,
        ], transport: transport)
        XCTAssertEqual(try environment.token(for: [scope]).token.exposedValue, "entra-token-for-env-app")

        let file = server.directory + "/federated-token"
        try server.assertion.write(toFile: file, atomically: true, encoding: .utf8)
        let workload = DefaultAzureCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "wi-app", "AZURE_FEDERATED_TOKEN_FILE": file,
            "AZURE_AUTHORITY_HOST": server.authority, "PATH": "/nonexistent",
        ], transport: transport)
        XCTAssertEqual(try workload.token(for: [scope]).token.exposedValue, "entra-token-for-wi-app")
        XCTAssertEqual(workload.selectedCredential?.credentialName, "WorkloadIdentityCredential")
    }

    func testUntrustedServerCertificateIsATransportFailure() throws {
        let server = try LocalTokenServer(tls: true)
        defer { server.close() }
        let transport = try HTTPClientTokenTransport()  // system trust store: does not know the test CA
        defer { try? transport.client.shutdown() }
        let credential = try ClientSecretCredential(
            tenantID: tenant, clientID: "app", clientSecret: Secret(server.clientSecret),
            authorityHost: server.authority, environment: [:], transport: transport)
        XCTAssertThrowsError(try credential.token(for: [scope], options: TokenRequestOptions(deadline: .after(seconds: 20)))) {
            XCTAssertEqual(($0 as? AuthError)?.code, .transportFailed, "\($0)")
        }
        XCTAssertEqual(server.count, 0, "no request reached an unverified server")
    }

    func testManagedIdentityIMDSAndAppServiceOverPlainHTTP() throws {
        let server = try LocalTokenServer(tls: false)
        defer { server.close() }
        let transport = try HTTPClientTokenTransport()
        defer { try? transport.client.shutdown() }
        let base = "http://127.0.0.1:\(server.server.port)"

        let imds = try ManagedIdentityCredential(
            id: .clientID("uami-1"), environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": base], transport: transport)
        let token = try imds.token(for: [scope])
        XCTAssertEqual(token.token.exposedValue, "imds-token")
        XCTAssertEqual(token.expiresOn, 1_795_724_499)
        XCTAssertEqual(server.requests.load().last?.head.target,
            "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com&client_id=uami-1")

        let appService = try ManagedIdentityCredential(
            environment: ["IDENTITY_ENDPOINT": base + "/msi/token", "IDENTITY_HEADER": server.identityHeader],
            transport: transport)
        XCTAssertEqual(try appService.token(for: [scope]).token.exposedValue, "app-service-token")
        XCTAssertEqual(server.requests.load().last?.head.target,
            "/msi/token?api-version=2019-08-01&resource=https://storage.azure.com")

        let wrongHeader = try ManagedIdentityCredential(
            environment: ["IDENTITY_ENDPOINT": base + "/msi/token", "IDENTITY_HEADER": "nope"], transport: transport)
        XCTAssertThrowsError(try wrongHeader.token(for: [scope])) {
            XCTAssertEqual(($0 as? AuthError)?.code, .authenticationFailed)
        }
    }

    func testIMDSWithNobodyListeningIsUnavailable() throws {
        // Bind a port, then close it, so nothing listens there.
        let server = try LocalTokenServer(tls: false)
        let port = server.server.port
        server.close()
        let transport = try HTTPClientTokenTransport(connectTimeout: .seconds(5))
        defer { try? transport.client.shutdown() }
        let imds = try ManagedIdentityCredential(
            environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:\(port)"], transport: transport)
        XCTAssertThrowsError(try imds.token(for: [scope])) {
            XCTAssertEqual(($0 as? AuthError)?.code, .credentialUnavailable, "\($0)")
        }
    }
}
