import Foundation
import ToolboxCore
import XCTest

@testable import AzureAuth

final class ManagedIdentityCredentialTests: XCTestCase {
    let scope = "https://storage.azure.com/.default"

    /// The real IMDS response shape: every number is a string.
    static func imdsBody(_ token: String = "mi-token") -> Result<TokenHTTPResponse, any Error> {
        FakeTokenTransport.json(200, [
            "access_token": token, "client_id": "cid", "expires_in": "86399", "expires_on": "1795724499",
            "ext_expires_in": "86399", "not_before": "1795638100", "resource": "https://storage.azure.com",
            "token_type": "Bearer",
        ])
    }

    func testIMDSSystemAssignedWithEndpointOverride() throws {
        let transport = FakeTokenTransport { _, _ in Self.imdsBody() }
        let credential = try ManagedIdentityCredential(
            environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:10200/"], transport: transport)
        XCTAssertEqual(credential.source, .imds)
        let token = try XCTUnwrap(awaitToken(credential, [scope])).get()
        XCTAssertEqual(token.token.exposedValue, "mi-token")
        XCTAssertEqual(token.expiresOn, 1_795_724_499)
        let request = try XCTUnwrap(transport.requests.first)
        XCTAssertEqual(request.method, "GET")
        XCTAssertEqual(request.url, "http://127.0.0.1:10200/metadata/identity/oauth2/token"
            + "?api-version=2018-02-01&resource=https://storage.azure.com")
        XCTAssertEqual(request.header("Metadata"), "true")
    }

    func testIMDSUserAssignedIdentities() throws {
        let cases: [(ManagedIdentityCredential.UserAssignedID, String)] = [
            (.clientID("11111111-0000-0000-0000-000000000001"), "&client_id=11111111-0000-0000-0000-000000000001"),
            (.objectID("22222222-0000-0000-0000-000000000002"), "&object_id=22222222-0000-0000-0000-000000000002"),
            (.resourceID("/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"),
             "&msi_res_id=/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"),
        ]
        for (id, suffix) in cases {
            let transport = FakeTokenTransport { _, _ in Self.imdsBody() }
            let credential = try ManagedIdentityCredential(id: id, environment: [:], transport: transport)
            _ = try XCTUnwrap(awaitToken(credential, [scope])).get()
            let url = try XCTUnwrap(transport.requests.first?.url)
            XCTAssertTrue(url.hasPrefix("http://169.254.169.254/metadata/identity/oauth2/token?"), url)
            XCTAssertTrue(url.hasSuffix(suffix), url)
        }
    }

    func testIMDS400MeansNoIdentityAndRetryableStatusesAreRetried() throws {
        let noIdentity = FakeTokenTransport { _, _ in
            FakeTokenTransport.json(400, ["error": "invalid_request", "error_description": "Identity not found"])
        }
        let unassigned = try ManagedIdentityCredential(environment: [:], transport: noIdentity, retryDelays: [0.01])
        XCTAssertEqual(awaitToken(unassigned, [scope])?.failureCode, .credentialUnavailable)
        XCTAssertEqual(noIdentity.count, 1, "400 is not retried")

        let flaky = FakeTokenTransport { _, index in
            index < 2 ? FakeTokenTransport.json(index == 0 ? 503 : 429, [:]) : Self.imdsBody("after-retry")
        }
        let credential = try ManagedIdentityCredential(environment: [:], transport: flaky, retryDelays: [0.01, 0.01])
        XCTAssertEqual(try XCTUnwrap(awaitToken(credential, [scope])).get().token.exposedValue, "after-retry")
        XCTAssertEqual(flaky.count, 3)

        let alwaysDown = FakeTokenTransport { _, _ in FakeTokenTransport.json(500, [:]) }
        let exhausted = try ManagedIdentityCredential(environment: [:], transport: alwaysDown, retryDelays: [0.01])
        XCTAssertEqual(awaitToken(exhausted, [scope])?.failureCode, .authenticationFailed)
        XCTAssertEqual(alwaysDown.count, 2, "one try plus one retry")

        let unreachable = FakeTokenTransport { _, _ in .failure(FakeNetworkError()) }
        let offline = try ManagedIdentityCredential(environment: [:], transport: unreachable)
        XCTAssertEqual(awaitToken(offline, [scope])?.failureCode, .credentialUnavailable)
    }

    func testAppServiceRequest() throws {
        let transport = FakeTokenTransport { _, _ in
            FakeTokenTransport.json(200, ["access_token": "as-token", "expires_on": "1795724499",
                                          "resource": "https://storage.azure.com", "token_type": "Bearer"])
        }
        let credential = try ManagedIdentityCredential(
            id: .clientID("uami"),
            environment: ["IDENTITY_ENDPOINT": "http://127.0.0.1:10200/msi/token", "IDENTITY_HEADER": "hdr-secret"],
            transport: transport)
        XCTAssertEqual(credential.source, .appService)
        let token = try XCTUnwrap(awaitToken(credential, [scope])).get()
        XCTAssertEqual(token.token.exposedValue, "as-token")
        XCTAssertEqual(token.expiresOn, 1_795_724_499)
        let request = try XCTUnwrap(transport.requests.first)
        XCTAssertEqual(request.url,
            "http://127.0.0.1:10200/msi/token?api-version=2019-08-01&resource=https://storage.azure.com&client_id=uami")
        XCTAssertEqual(request.header("X-IDENTITY-HEADER"), "hdr-secret")
        XCTAssertFalse("\(credential)".contains("hdr-secret"))
        XCTAssertFalse("\(request)".contains("hdr-secret"))
    }

    /// App Service's identity endpoint answering 503 or 429 is retried (it was tried once); a 404 is not.
    func testAppServiceRetriesTransientAnswers() throws {
        for (first, requests) in [(503, 2), (429, 2), (404, 1)] {
            let transport = FakeTokenTransport { _, index in
                index == 0 ? FakeTokenTransport.json(first, ["error": "busy"])
                    : FakeTokenTransport.json(200, ["access_token": "as-token", "expires_on": "1795724499",
                                                    "token_type": "Bearer"])
            }
            let credential = try ManagedIdentityCredential(
                environment: ["IDENTITY_ENDPOINT": "http://127.0.0.1:10200/msi/token", "IDENTITY_HEADER": "hdr"],
                transport: transport, retryDelays: [0.01, 0.02])
            let result = awaitToken(credential, [scope])
            XCTAssertEqual(transport.count, requests, "\(first)")
            if requests == 2 {
                XCTAssertEqual(try XCTUnwrap(result).get().token.exposedValue, "as-token", "\(first)")
            } else {
                XCTAssertEqual(result?.failureCode, .authenticationFailed, "\(first)")
            }
        }
    }

    /// URLs with a password in them are refused without quoting it (errors naming the endpoint showed it).
    func testEndpointsWithAPasswordAreRefusedWithoutShowingIt() throws {
        XCTAssertThrowsError(try ManagedIdentityCredential(
            environment: ["IDENTITY_ENDPOINT": "http://u:PASSWORD1@127.0.0.1:10200/msi/token", "IDENTITY_HEADER": "h"],
            transport: FakeTokenTransport.issuing())) { error in
            XCTAssertEqual((error as? AuthError)?.code, .invalidArgument)
            XCTAssertFalse("\(error)".contains("PASSWORD1"), "\(error)")
        }
        XCTAssertThrowsError(try EntraTokenEndpoint(authorityHost: "https://u:PASSWORD2@login.example", tenantID: "t"))
        { error in
            XCTAssertEqual((error as? AuthError)?.code, .invalidArgument)
            XCTAssertFalse("\(error)".contains("PASSWORD2"), "\(error)")
        }
    }

    func testUnsupportedEnvironmentsAndScopes() throws {
        let transport = FakeTokenTransport.issuing()
        let environments: [[String: String]] = [
            ["IDENTITY_ENDPOINT": "http://x", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "t"],
            ["IDENTITY_ENDPOINT": "http://x", "IMDS_ENDPOINT": "http://y"],
            ["MSI_ENDPOINT": "http://x"],
            ["IDENTITY_ENDPOINT": "http://x"],
        ]
        for environment in environments {
            XCTAssertThrowsError(try ManagedIdentityCredential(environment: environment, transport: transport)) {
                XCTAssertEqual(($0 as? AuthError)?.code, .credentialUnavailable, "\(environment)")
            }
        }
        let credential = try ManagedIdentityCredential(environment: [:], transport: transport)
        XCTAssertEqual(awaitToken(credential, ["a/.default", "b/.default"])?.failureCode, .invalidArgument)
        XCTAssertEqual(awaitToken(credential, ["bad scope"])?.failureCode, .invalidArgument)
        XCTAssertEqual(transport.count, 0)
    }
}
