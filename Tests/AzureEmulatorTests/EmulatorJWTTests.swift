import AzureAuth
import Foundation
import ToolboxCore
import XCTest

@testable import AzureEmulator

/// The emulator's own token issuer and `$cbs` verification of its JWTs.
final class EmulatorJWTTests: XCTestCase {
    let key = Secret("SAS_KEY_VALUE")
    let now = 1_800_000_000

    private var authority: TokenAuthority { TokenAuthority(keyName: "RootManageSharedAccessKey", key: key) }

    func testAValidTokenCoversTheWholeNamespace() {
        let token = EmulatorJWT.issue(audience: "https://eventhubs.azure.net/", lifetime: 600, key: key, now: now)
        XCTAssertEqual(token.split(separator: ".").count, 3)
        XCTAssertEqual(authority.verify(token: token, audience: "sb://127.0.0.1:5672/eh1", now: now),
                       .granted(path: "", expiry: now + 600))
        XCTAssertTrue(TokenAuthority.covers("", "eh1/partitions/0"))
    }

    func testScopesMapToTheirAudiences() {
        XCTAssertEqual(EmulatorJWT.audience(forScope: "https://eventhubs.azure.net//.default"), "https://eventhubs.azure.net/")
        XCTAssertEqual(EmulatorJWT.audience(forScope: "https://servicebus.azure.net/.default"), "https://servicebus.azure.net/")
    }

    func testForgedExpiredAndForeignTokensAreRefusedWithoutEchoingThem() {
        let foreign = EmulatorJWT.issue(audience: "https://eventhubs.azure.net/", lifetime: 600, key: Secret("other-key"),
                                        now: now)
        let expired = EmulatorJWT.issue(audience: "https://eventhubs.azure.net/", lifetime: 10, key: key, now: now - 60)
        let storage = EmulatorJWT.issue(audience: "https://storage.azure.com/", lifetime: 600, key: key, now: now)
        var tampered = EmulatorJWT.issue(audience: "https://eventhubs.azure.net/", lifetime: 600, key: key, now: now)
        tampered = tampered.replacingOccurrences(of: ".", with: ".e", options: [], range: tampered.range(of: "."))
        let cases: [(String, String)] = [
            (foreign, "signature"), (expired, "expired"), (storage, "audience"), (tampered, "JWT"),
            ("not-a-token", "neither"),
        ]
        for (token, reason) in cases {
            guard case .refused(let status, let description) = authority.verify(token: token, audience: "eh1", now: now)
            else { return XCTFail("accepted \(reason)") }
            XCTAssertEqual(status, 401)
            XCTAssertTrue(description.contains(reason), "\(reason): \(description)")
            XCTAssertFalse(description.contains(token), "the token must not be echoed")
        }
    }

    func testIssueTokenFromARunningEmulator() throws {
        let emulator = try Emulator.start(EmulatorConfiguration())
        defer { emulator.stop() }
        let issued = Date().timeIntervalSince1970
        let token = emulator.issueToken(forScope: "https://servicebus.azure.net//.default", lifetime: 120)
        // At least the lifetime asked for: the whole-second expiry is rounded up, never down.
        XCTAssertGreaterThanOrEqual(Double(token.expiresOn), issued + 120)
        XCTAssertLessThanOrEqual(Double(token.expiresOn), Date().timeIntervalSince1970 + 121)
        XCTAssertEqual(emulator.fullyQualifiedNamespace, "127.0.0.1:\(emulator.amqpPort)")
        guard case .granted = authority.verify(token: token.token.exposedValue, audience: "q1") else {
            return XCTFail("a token from the emulator's issuer must verify with its key")
        }
    }
}
