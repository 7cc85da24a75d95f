import Dispatch
import ToolboxCore

/// Something that obtains access tokens for scopes: the one interface every Entra ID credential implements.
///
/// ```swift
/// let credential = try DefaultAzureCredential(transport: transport)
/// credential.token(for: ["https://storage.azure.com/.default"]) { result in
///     switch result { case .success(let token): use(token); case .failure(let error): log(error) }
/// }
/// let token = try credential.token(for: ["https://storage.azure.com/.default"])   // blocking form
/// ```
///
/// The completion runs exactly once, on `queue`, never while a library lock is held. The returned
/// `Cancellable` makes that completion deliver `AuthError.Code.cancelled` if it has not run yet.
///
/// Clients call `token(for:options:queue:completion:)` from the caller's thread or from a library work queue
/// (never from a connection's queue): an implementation must return promptly and deliver later, never block.
public protocol TokenCredential: Sendable {
    /// A short name for errors and the CLI: `ClientSecretCredential`, `ManagedIdentityCredential`, ...
    var credentialName: String { get }

    /// Obtains a token for `scopes` and delivers it on `queue`.
    @discardableResult
    func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable
}

extension TokenCredential {
    /// Obtains a token for `scopes` with default options (30-second deadline).
    @discardableResult
    public func token(
        for scopes: [String], queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        token(for: scopes, options: TokenRequestOptions(), queue: queue, completion: completion)
    }

    /// Blocking form: waits for the token.
    ///
    /// - throws: `AuthError`, or `CoreError.Code.blockingCallOnLibraryQueue` when called on a library queue.
    public func token(for scopes: [String], options: TokenRequestOptions = TokenRequestOptions()) throws
        -> AccessToken
    {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AccessToken, any Error>) -> Void) in
            token(for: scopes, options: options, queue: queue) { result in done(result.mapError { $0 }) }
        }
    }
}

/// Checks the scopes a single-resource endpoint (IMDS, App Service, Azure CLI) accepts and returns the resource.
enum ScopeResource {
    static func resource(for scopes: [String], credential: String) -> Result<String, AuthError> {
        guard scopes.count == 1, let scope = scopes.first, !scope.isEmpty else {
            return .failure(AuthError(.invalidArgument, "\(credential) takes exactly one scope, got \(scopes.count); "
                + "request one scope such as 'https://storage.azure.com/.default' per call"))
        }
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/".utf8)
        guard scope.utf8.allSatisfy({ allowed.contains($0) }) else {
            return .failure(AuthError(.invalidArgument, "the scope '\(scope)' has characters other than letters, "
                + "digits and '-_.:/'; pass a scope such as 'https://storage.azure.com/.default'"))
        }
        let suffix = "/.default"
        return .success(scope.hasSuffix(suffix) ? String(scope.dropLast(suffix.count)) : scope)
    }
}

/// What answers a credential's token requests: its per-tenant caches, or a chain of credentials.
protocol TokenSource: Sendable {
    func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable
}

extension TenantTokenCaches: TokenSource {}
extension ChainedTokenCredential: TokenSource {}

/// A credential that hands every token request to one `tokenSource`.
protocol TokenForwardingCredential: TokenCredential {
    var tokenSource: any TokenSource { get }
}

extension TokenForwardingCredential {
    @discardableResult
    public func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        tokenSource.token(for: scopes, options: options, queue: queue, completion: completion)
    }
}

/// A credential that answers each request itself, through a `TokenDelivery` (named `<credentialName>.token`)
/// that owns the request's deadline, cancellation and exactly-once completion.
protocol DeliveringTokenCredential: TokenForwardingCredential {
    func token(for scopes: [String], options: TokenRequestOptions, delivery: TokenDelivery)
}

extension DeliveringTokenCredential {
    var tokenSource: any TokenSource { DeliveringTokenSource(credential: self) }
}

/// The token source of a `DeliveringTokenCredential`: a fresh delivery per request, answered by the credential.
struct DeliveringTokenSource<Credential: DeliveringTokenCredential>: TokenSource {
    let credential: Credential

    func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        let delivery = TokenDelivery(queue: queue, deadline: options.deadline,
                                     operation: "\(credential.credentialName).token", completion: completion)
        credential.token(for: scopes, options: options, delivery: delivery)
        return delivery
    }
}
