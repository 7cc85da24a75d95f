import Dispatch
import ToolboxCore
import XCTest

@testable import AzureAuth

final class CBSTokenProviderTests: XCTestCase {
    private func get(_ provider: CBSTokenProvider, _ audience: String) -> Result<CBSToken, AuthError>? {
        let box = LockedValue<Result<CBSToken, AuthError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        provider.token(forAudience: audience, deadline: .after(seconds: 10), queue: .global()) { result in
            box.withLockedValue { $0 = result }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        return box.load()
    }

    func testSASAndJWTTokens() throws {
        let clock = TestClock(1_700_000_000 - 3600)
        let sas = CBSTokenProvider.sharedAccessSignature(SASTokenProvider(
            keyName: "RootManageSharedAccessKey", key: Secret("dGVzdGtleS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc4OQ=="),
            clock: clock.function))
        let token = try XCTUnwrap(get(sas, "sb://localhost:5673/eh1")).get()
        XCTAssertEqual(token.tokenType, "servicebus.windows.net:sastoken")
        XCTAssertEqual(token.expiresOn, 1_700_000_000)
        XCTAssertTrue(token.token.exposedValue.contains("sig=r3rqC1XCu2ZPuPpk8SVDuCyXUzyVgb7jYoql9H9PmqI%3D"))
        XCTAssertFalse("\(token)".contains("r3rqC1"))

        let jwt = CBSTokenProvider.tokenCredential(
            StaticTokenCredential(token: Secret("eyJ.jwt"), expiresOn: 1_900_000_000), scope: AzureScope.eventHubs)
        let entra = try XCTUnwrap(get(jwt, "sb://ns.servicebus.windows.net/eh1")).get()
        XCTAssertEqual(entra.tokenType, "jwt")
        XCTAssertEqual(entra.token.exposedValue, "eyJ.jwt")
        XCTAssertEqual(entra.expiresOn, 1_900_000_000)
    }

    func testScopes() {
        XCTAssertEqual(AzureScope.cosmos(endpoint: "https://127.0.0.1:8443/", environment: [:]),
            "https://127.0.0.1/.default")
        XCTAssertEqual(AzureScope.cosmos(endpoint: "https://acct.documents.azure.com:443/", environment: [:]),
            "https://acct.documents.azure.com/.default")
        XCTAssertEqual(AzureScope.cosmos(endpoint: "https://x/", environment: ["AZURE_COSMOS_AAD_SCOPE_OVERRIDE": "s"]),
            "s")
        XCTAssertEqual(AzureScope.eventHubs, "https://eventhubs.azure.net//.default")
    }
}
