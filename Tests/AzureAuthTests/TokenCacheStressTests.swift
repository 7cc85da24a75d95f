import Dispatch
import Logging
import ToolboxCore
import XCTest

@testable import AzureAuth

/// Concurrency stress for the token cache; run under ThreadSanitizer:
/// `swift test --scratch-path .build-auth-tsan --sanitize=thread --filter AzureAuthTests.TokenCacheStressTests`
final class TokenCacheStressTests: XCTestCase {
    /// 1,000 concurrent callers of a real credential whose token expired: exactly one token request.
    func testThousandCallersThroughClientSecretCredentialMakeOneRequest() throws {
        let clock = TestClock()
        let transport = FakeTokenTransport(delay: 0.05) { _, index in
            FakeTokenTransport.json(200, ["access_token": "token-\(index)", "expires_in": 3599])
        }
        let credential = try ClientSecretCredential(
            tenantID: "tenant", clientID: "client", clientSecret: Secret("secret"), environment: [:],
            transport: transport, clock: clock.function)
        for round in 0..<3 {
            let results = LockedValue<[String]>([])
            let group = DispatchGroup()
            let callers = 1000
            for _ in 0..<callers { group.enter() }
            DispatchQueue.concurrentPerform(iterations: callers) { index in
                let queue: DispatchQueue = index % 2 == 0 ? .global() : LibraryQueues.defaultCallbackQueue
                credential.token(for: ["https://storage.azure.com/.default"], queue: queue) { result in
                    results.withLockedValue { $0.append((try? result.get().token.exposedValue) ?? "failed") }
                    group.leave()
                }
            }
            XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
            XCTAssertEqual(results.load().count, callers)
            XCTAssertEqual(Set(results.load()), ["token-\(round)"], "round \(round)")
            XCTAssertEqual(transport.count, round + 1, "one request per expired token, round \(round)")
            clock.advance(3600)  // expire it for the next round
        }
    }

    /// Callers, cancellations, deadlines and refreshes racing on many scopes; every completion runs exactly once.
    func testMixedConcurrentUseDeliversExactlyOnce() {
        let clock = TestClock()
        let fetches = LockedValue(0)
        let cache = TokenCache(name: "stress", logger: Logger(label: "stress"), clock: clock.function,
                               refreshRetryDelay: 0) { scopes, _, done in
            fetches.withLockedValue { $0 += 1 }
            DispatchQueue.global().async {
                done(.success(AccessToken(token: Secret(scopes[0]), expiresOn: clock.now + 400)))
            }
        }
        let calls = 4000
        let completions = LockedValue([Int](repeating: 0, count: calls))
        let group = DispatchGroup()
        for _ in 0..<calls { group.enter() }
        DispatchQueue.concurrentPerform(iterations: calls) { index in
            if index % 500 == 0 { clock.advance(150) }
            let handle = cache.token(
                for: ["scope-\(index % 7)"], options: TokenRequestOptions(deadline: .after(seconds: 20)),
                queue: .global()
            ) { _ in
                completions.withLockedValue { $0[index] += 1 }
                group.leave()
            }
            if index % 3 == 0 { handle.cancel() }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(Set(completions.load()), [1], "every call completed exactly once")
        XCTAssertGreaterThanOrEqual(fetches.load(), 7)
    }
}
