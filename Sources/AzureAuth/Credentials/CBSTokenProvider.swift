import Dispatch
import ToolboxCore

/// A token for an AMQP `$cbs` put-token request.
public struct CBSToken: Sendable, CustomStringConvertible {
    /// The `amqp-value` body: a SAS token or an Entra ID access token.
    public let token: Secret<String>
    /// UNIX seconds; the put-token `expiration` is this × 1000.
    public let expiresOn: Int
    /// The put-token `type`: `servicebus.windows.net:sastoken` for SAS, `jwt` for Entra ID tokens.
    public let tokenType: String

    public init(token: Secret<String>, expiresOn: Int, tokenType: String) {
        self.token = token
        self.expiresOn = expiresOn
        self.tokenType = tokenType
    }

    public var description: String { "CBSToken(type: \(tokenType), expiresOn: \(expiresOn), token: <redacted>)" }
}

/// Where an Event Hubs or Service Bus connection gets its `$cbs` tokens: a shared access key/signature or a
/// `TokenCredential`.
///
/// ```swift
/// let cbs = CBSTokenProvider.tokenCredential(credential, scope: AzureScope.eventHubs)
/// cbs.token(forAudience: "sb://ns.servicebus.windows.net/eh1", deadline: .after(seconds: 30)) { result in ... }
/// ```
public struct CBSTokenProvider: Sendable, CustomStringConvertible {
    /// The put-token type for SAS tokens.
    public static let sasTokenType = "servicebus.windows.net:sastoken"
    /// The put-token type for Entra ID tokens.
    public static let jwtTokenType = "jwt"

    private enum Source: Sendable {
        case sas(SASTokenProvider)
        case credential(any TokenCredential, scope: String)
    }

    private let source: Source

    /// SAS tokens from a key or fixed signature.
    public static func sharedAccessSignature(_ provider: SASTokenProvider) -> CBSTokenProvider {
        CBSTokenProvider(source: .sas(provider))
    }

    /// Entra ID tokens for `scope` (`AzureScope.eventHubs` or `AzureScope.serviceBus`).
    public static func tokenCredential(_ credential: any TokenCredential, scope: String) -> CBSTokenProvider {
        CBSTokenProvider(source: .credential(credential, scope: scope))
    }

    /// A token for `audience` (`sb://<namespace[:port]>/<entity>`), delivered once on `queue`.
    @discardableResult
    public func token(
        forAudience audience: String, deadline: Deadline,
        queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<CBSToken, AuthError>) -> Void
    ) -> any Cancellable {
        switch source {
        case .sas(let provider):
            let result: Result<CBSToken, AuthError>
            do throws(AuthError) {
                let (token, expiresOn) = try provider.token(forAudience: audience)
                result = .success(CBSToken(token: token, expiresOn: expiresOn, tokenType: Self.sasTokenType))
            } catch {
                result = .failure(error)
            }
            queue.async { completion(result) }
            return CompletedOperation()
        case .credential(let credential, let scope):
            return credential.token(for: [scope], options: TokenRequestOptions(deadline: deadline), queue: queue) {
                completion($0.map { CBSToken(token: $0.token, expiresOn: $0.expiresOn, tokenType: Self.jwtTokenType) })
            }
        }
    }

    public var description: String {
        switch source {
        case .sas(let provider): return "CBSTokenProvider(\(provider))"
        case .credential(let credential, let scope):
            return "CBSTokenProvider(\(credential.credentialName), scope: \(scope))"
        }
    }
}
