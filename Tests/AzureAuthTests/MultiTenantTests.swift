import Foundation
import ToolboxCore
import XCTest

@testable import AzureAuth

/// `TokenRequestOptions.tenantID` with `additionallyAllowedTenants`, as azure-identity's `resolve_tenant`.
final class MultiTenantTests: XCTestCase {
    let home = "home-tenant"
    let scope = "https://storage.azure.com/.default"

    private func options(_ tenant: String?) -> TokenRequestOptions {
        TokenRequestOptions(deadline: .after(seconds: 30), tenantID: tenant)
    }

    func testOtherTenantsNeedPermission() throws {
        let transport = FakeTokenTransport { request, _ in
            FakeTokenTransport.json(200, ["access_token": "token@\(request.url)", "expires_in": 3599])
        }
        let locked = try ClientSecretCredential(
            tenantID: home, clientID: "c", clientSecret: Secret("s"), environment: [:], transport: transport)
        let refused = try XCTUnwrap(awaitToken(locked, [scope], options: options("guest-tenant"))?.failure)
        XCTAssertEqual(refused.code, .authenticationFailed)
        XCTAssertTrue(refused.message.contains("additionallyAllowedTenants"), refused.message)
        XCTAssertEqual(transport.count, 0)
        XCTAssertNoThrow(try XCTUnwrap(awaitToken(locked, [scope], options: options(home))).get())
        XCTAssertEqual(transport.requests.last?.url, "https://login.microsoftonline.com/home-tenant/oauth2/v2.0/token")

        let open = try ClientSecretCredential(
            tenantID: home, clientID: "c", clientSecret: Secret("s"), additionallyAllowedTenants: ["guest-tenant"],
            environment: [:], transport: transport)
        let guest = try XCTUnwrap(awaitToken(open, [scope], options: options("guest-tenant"))).get()
        XCTAssertTrue(guest.token.exposedValue.hasSuffix("/guest-tenant/oauth2/v2.0/token"))
        let own = try XCTUnwrap(awaitToken(open, [scope])).get()
        XCTAssertTrue(own.token.exposedValue.hasSuffix("/home-tenant/oauth2/v2.0/token"), "cached per tenant")
        let before = transport.count
        _ = try XCTUnwrap(awaitToken(open, [scope], options: options("guest-tenant"))).get()
        XCTAssertEqual(transport.count, before, "the guest tenant's token is cached too")
        XCTAssertEqual(awaitToken(open, [scope], options: options("bad/tenant"))?.failureCode, .invalidArgument)
    }

    func testEnvironmentListWildcardAndKillSwitch() throws {
        let transport = FakeTokenTransport { request, _ in
            FakeTokenTransport.json(200, ["access_token": request.url, "expires_in": 3599])
        }
        let fromEnv = try ClientSecretCredential(
            tenantID: home, clientID: "c", clientSecret: Secret("s"),
            environment: ["AZURE_ADDITIONALLY_ALLOWED_TENANTS": "t1; t2"], transport: transport)
        XCTAssertTrue(try XCTUnwrap(awaitToken(fromEnv, [scope], options: options("t2"))).get().token.exposedValue
            .contains("/t2/"))
        XCTAssertEqual(awaitToken(fromEnv, [scope], options: options("t3"))?.failureCode, .authenticationFailed)

        let any = try ClientSecretCredential(
            tenantID: home, clientID: "c", clientSecret: Secret("s"), additionallyAllowedTenants: ["*"],
            environment: [:], transport: transport)
        XCTAssertTrue(try XCTUnwrap(awaitToken(any, [scope], options: options("t9"))).get().token.exposedValue
            .contains("/t9/"))

        let pinned = try ClientSecretCredential(
            tenantID: home, clientID: "c", clientSecret: Secret("s"), additionallyAllowedTenants: ["*"],
            environment: ["AZURE_IDENTITY_DISABLE_MULTITENANTAUTH": "true"], transport: transport)
        XCTAssertTrue(try XCTUnwrap(awaitToken(pinned, [scope], options: options("t9"))).get().token.exposedValue
            .contains("/home-tenant/"))
    }

    func testAzureCLIPassesAllowedTenant() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mt-az-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("args").path
        let script = directory.appendingPathComponent("az")
        try "#!/bin/sh\necho \"$@\" > \(log)\necho '{\"accessToken\": \"t\", \"expires_on\": 1795641737}'\n"
            .write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let environment = ["PATH": directory.path]
        XCTAssertEqual(awaitToken(AzureCLICredential(environment: environment), [scope], options: options("t1"))?
            .failureCode, .authenticationFailed)
        let allowed = AzureCLICredential(additionallyAllowedTenants: ["t1"], environment: environment)
        XCTAssertNoThrow(try XCTUnwrap(awaitToken(allowed, [scope], options: options("t1"))).get())
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("--tenant t1"))
    }
}
