import Dispatch
import ToolboxCore

/// A credential that always returns the same token: for tests and for tokens obtained elsewhere.
///
/// ```swift
/// let credential = StaticTokenCredential(token: Secret("eyJ..."), expiresOn: 1_900_000_000)
/// ```
public struct StaticTokenCredential: TokenCredential, CustomStringConvertible {
    public let credentialName = "StaticTokenCredential"
    private let accessToken: AccessToken

    public init(_ accessToken: AccessToken) {
        self.accessToken = accessToken
    }

    public init(token: Secret<String>, expiresOn: Int) {
        self.init(AccessToken(token: token, expiresOn: expiresOn))
    }

    @discardableResult
    public func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        let token = accessToken
        queue.async { completion(.success(token)) }
        return CompletedOperation()
    }

    public var description: String { "StaticTokenCredential(\(accessToken))" }
}
