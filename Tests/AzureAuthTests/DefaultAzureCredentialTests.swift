import Foundation
import ToolboxCore
import XCTest

@testable import AzureAuth

final class DefaultAzureCredentialTests: XCTestCase {
    let scope = "https://storage.azure.com/.default"
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

    func testOrderMatchesAzureIdentity() {
        let credential = DefaultAzureCredential(environment: [:], transport: FakeTokenTransport.issuing())
        XCTAssertEqual(credential.credentials.map(\.credentialName), [
            "EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential", "AzureCLICredential",
        ])
        let fewer = DefaultAzureCredential(
            environment: [:], transport: FakeTokenTransport.issuing(), exclude: [.managedIdentity, .azureCLI])
        XCTAssertEqual(fewer.credentials.map(\.credentialName), ["EnvironmentCredential", "WorkloadIdentityCredential"])
    }

    func testEnvironmentSecretWinsAndIsRemembered() throws {
        let transport = FakeTokenTransport.issuing("from-secret")
        let credential = DefaultAzureCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s3cret",
            "AZURE_AUTHORITY_HOST": "https://127.0.0.1:10243", "PATH": "/nonexistent",
        ], transport: transport)
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "from-secret")
        XCTAssertEqual(credential.selectedCredential?.credentialName, "EnvironmentCredential")
        XCTAssertEqual(transport.requests.first?.url, "https://127.0.0.1:10243/\(tenant)/oauth2/v2.0/token")
    }

    func testWorkloadIdentityOnlyMakesExactlyOneRequest() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fed-\(UUID().uuidString)")
        try "fed-jwt".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let transport = FakeTokenTransport.issuing("from-wi")
        let credential = DefaultAzureCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": file.path,
            "AZURE_AUTHORITY_HOST": "https://127.0.0.1:10243",
        ], transport: transport)
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "from-wi")
        XCTAssertEqual(transport.count, 1)
        XCTAssertEqual(formFields(try XCTUnwrap(transport.requests.first).body)["client_assertion"], "fed-jwt")
    }

    func testManagedIdentityWithOverrideUsesClientIDFromEnvironment() throws {
        let transport = FakeTokenTransport { _, _ in ManagedIdentityCredentialTests.imdsBody("from-mi") }
        let credential = DefaultAzureCredential(environment: [
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:10200", "AZURE_CLIENT_ID": "uami",
        ], transport: transport)
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "from-mi")
        XCTAssertTrue(try XCTUnwrap(transport.requests.first?.url).hasSuffix("&client_id=uami"))
    }

    func testFailureListsWhyEachMemberFailed() throws {
        let transport = FakeTokenTransport { _, _ in .failure(FakeNetworkError()) }
        let credential = DefaultAzureCredential(environment: ["PATH": "/nonexistent"], transport: transport)
        let error = try XCTUnwrap(awaitToken(credential, [scope])?.failure)
        XCTAssertEqual(error.code, .credentialUnavailable)
        let message = error.message
        for name in ["EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential",
                     "AzureCLICredential"] {
            XCTAssertTrue(message.contains("\n\t\(name): "), "missing \(name) in: \(message)")
        }
        XCTAssertTrue(message.contains("AZURE_TENANT_ID"))
        XCTAssertTrue(message.contains("AZURE_FEDERATED_TOKEN_FILE"))
        XCTAssertTrue(message.contains("connection refused"))
        XCTAssertTrue(message.contains("'az') not found"))
        XCTAssertNil(credential.selectedCredential)
        // The probe: IMDS without an override got one request with a short deadline and no retries.
        XCTAssertEqual(transport.count, 1)
    }

    func testIMDSProbeAnsweredByAProxyIsUnavailableInTheChainOnly() throws {
        let proxy = FakeTokenTransport { _, _ in
            .success(TokenHTTPResponse(status: 403, body: Array("resolve_deny: denied destination".utf8)))
        }
        let chain = DefaultAzureCredential(environment: ["PATH": "/nonexistent"], transport: proxy)
        let error = try XCTUnwrap(awaitToken(chain, [scope])?.failure)
        XCTAssertEqual(error.code, .credentialUnavailable)
        XCTAssertTrue(error.message.contains("HTTP 403"), error.message)
        XCTAssertTrue(error.message.contains("AzureCLICredential"), "the chain went on to the CLI")

        let standalone = try ManagedIdentityCredential(environment: [:], transport: proxy, retryDelays: [])
        XCTAssertEqual(awaitToken(standalone, [scope])?.failureCode, .authenticationFailed)
    }

    func testAuthenticationFailureStopsTheChain() throws {
        let transport = FakeTokenTransport { _, _ in
            FakeTokenTransport.json(401, ["error": "invalid_client", "error_description": "AADSTS7000215: bad"])
        }
        let credential = DefaultAzureCredential(environment: [
            "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s3cret",
        ], transport: transport)
        let error = try XCTUnwrap(awaitToken(credential, [scope])?.failure)
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("stopped at EnvironmentCredential"), error.message)
        XCTAssertFalse(error.message.contains("s3cret"))
        XCTAssertEqual(transport.count, 1, "no later member was tried")
    }

    func testChainFallsThroughUnavailableMembers() throws {
        let chain = ChainedTokenCredential([
            UnavailableCredential(credentialName: "First", error: AuthError(.credentialUnavailable, "nope")),
            StaticTokenCredential(token: Secret("second"), expiresOn: 2_000_000_000),
        ])
        XCTAssertEqual(try chain.token(for: [scope]).token.exposedValue, "second")
        XCTAssertEqual("\(chain)", "ChainedTokenCredential(First, StaticTokenCredential)")
    }
}
