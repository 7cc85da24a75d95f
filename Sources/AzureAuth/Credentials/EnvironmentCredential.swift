import Dispatch
import Logging
import ToolboxCore

/// A service principal configured through environment variables: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
/// `AZURE_CLIENT_SECRET` (plus optional `AZURE_AUTHORITY_HOST`).
///
/// ```swift
/// let credential = EnvironmentCredential(transport: transport)
/// ```
///
/// Without those variables every request fails with `AuthError.Code.credentialUnavailable` naming what is
/// missing. Certificate (`AZURE_CLIENT_CERTIFICATE_PATH`) and username/password configurations are recognised
/// and reported as unsupported.
public struct EnvironmentCredential: TokenCredential, CustomStringConvertible {
    public let credentialName = "EnvironmentCredential"
    private let inner: Result<ClientSecretCredential, AuthError>

    public init(
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport, logger: Logger = Logger(label: "AzureAuth.EnvironmentCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) {
        typealias Env = AzureEnvironmentVariable
        let tenant = environment.nonEmpty(Env.tenantID)
        let client = environment.nonEmpty(Env.clientID)
        if let tenant, let client, let secret = environment.nonEmpty(Env.clientSecret) {
            do throws(AuthError) {
                inner = .success(try ClientSecretCredential(
                    tenantID: tenant, clientID: client, clientSecret: Secret(secret), environment: environment,
                    transport: transport, logger: logger, clock: clock))
            } catch {
                inner = .failure(error)
            }
            return
        }
        let prefix = "EnvironmentCredential is unavailable: "
        if tenant != nil, client != nil, environment.nonEmpty(Env.clientCertificatePath) != nil {
            inner = .failure(AuthError(.credentialUnavailable, prefix + "certificate authentication "
                + "(\(Env.clientCertificatePath)) is not supported by this library; set \(Env.clientSecret) instead"))
        } else if client != nil, environment.nonEmpty(Env.username) != nil {
            inner = .failure(AuthError(.credentialUnavailable, prefix + "username/password authentication "
                + "(\(Env.username)) is not supported by this library; set \(Env.clientSecret) instead"))
        } else {
            let missing = [Env.tenantID, Env.clientID, Env.clientSecret].filter { environment.nonEmpty($0) == nil }
            inner = .failure(AuthError(.credentialUnavailable, prefix + "environment variables are not fully "
                + "configured (missing \(missing.joined(separator: ", ")))"))
        }
    }

    /// Whether the environment configures a usable client-secret credential.
    public var isConfigured: Bool {
        if case .success = inner { return true }
        return false
    }

    @discardableResult
    public func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        switch inner {
        case .success(let credential):
            return credential.token(for: scopes, options: options, queue: queue, completion: completion)
        case .failure(let error):
            queue.async { completion(.failure(error)) }
            return CompletedOperation()
        }
    }

    public var description: String {
        switch inner {
        case .success(let credential): return "EnvironmentCredential(\(credential))"
        case .failure: return "EnvironmentCredential(unavailable)"
        }
    }
}
