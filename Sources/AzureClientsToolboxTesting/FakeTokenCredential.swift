import AzureAuth
import Dispatch
import ToolboxCore

/// A `TokenCredential` for tests: hands out a fixed token (or a failure) and records the scopes asked for.
///
/// ```swift
/// let credential = FakeTokenCredential(token: "test-token")
/// ... use it ...
/// XCTAssertEqual(credential.requestedScopes, [["https://eventhubs.azure.net//.default"]])
/// ```
public final class FakeTokenCredential: TokenCredential, Sendable {
    public let credentialName = "FakeTokenCredential"
    private let token: Secret<String>
    private let lifetime: Int
    private let failure: AuthError?
    private let requests = LockedValue<[[String]]>([])

    /// - parameters:
    ///   - token: the token handed out.
    ///   - lifetime: seconds until each token expires (short values exercise refresh).
    ///   - failure: when set, every request fails with it instead.
    public init(token: String = "fake-token", lifetime: Int = 3600, failure: AuthError? = nil) {
        self.token = Secret(token)
        self.lifetime = lifetime
        self.failure = failure
    }

    /// Every `scopes` argument received, in order.
    public var requestedScopes: [[String]] { requests.load() }

    @discardableResult
    public func token(for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
                      completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void) -> any Cancellable {
        requests.withLockedValue { $0.append(scopes) }
        let result: Result<AccessToken, AuthError> = failure.map { .failure($0) }
            ?? .success(AccessToken(token: token, expiresOn: UTCDate.nowUnixSeconds() + lifetime))
        queue.async { completion(result) }
        return CompletedOperation()
    }
}
