import Dispatch
import Logging
import ToolboxCore

/// A service principal configured through environment variables: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
/// either `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH` (+ `AZURE_CLIENT_CERTIFICATE_PASSWORD`), plus
/// optional `AZURE_AUTHORITY_HOST`. A secret wins over a certificate, as in Azure's SDKs.
///
/// ```swift
/// let credential = EnvironmentCredential(transport: transport)
/// ```
///
/// Without those variables every request fails with `AuthError.Code.credentialUnavailable` naming what is
/// missing. Username/password configurations are recognised and reported as unsupported.
public struct EnvironmentCredential: TokenCredential, CustomStringConvertible {
    public let credentialName = "EnvironmentCredential"
    private let inner: Result<any TokenCredential, AuthError>

    public init(
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport, logger: Logger = Logger(label: "AzureAuth.EnvironmentCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) {
        typealias Env = AzureEnvironmentVariable
        let tenant = environment.nonEmpty(Env.tenantID)
        let client = environment.nonEmpty(Env.clientID)
        let prefix = "EnvironmentCredential is unavailable: "
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
        if let tenant, let client, let path = environment.nonEmpty(Env.clientCertificatePath) {
            do throws(AuthError) {
                inner = .success(try ClientCertificateCredential(
                    tenantID: tenant, clientID: client, certificatePath: path,
                    password: environment.nonEmpty(Env.clientCertificatePassword).map(Secret.init),
                    environment: environment, transport: transport, logger: logger, clock: clock))
            } catch {
                inner = .failure(AuthError(error.code, "EnvironmentCredential: " + error.message))
            }
        } else if client != nil, environment.nonEmpty(Env.username) != nil {
            inner = .failure(AuthError(.credentialUnavailable, prefix + "username/password authentication "
                + "(\(Env.username)) is not supported by this library; set \(Env.clientSecret) instead"))
        } else {
            let missing = [Env.tenantID, Env.clientID, Env.clientSecret].filter { environment.nonEmpty($0) == nil }
            inner = .failure(AuthError(.credentialUnavailable, prefix + "environment variables are not fully "
                + "configured (missing \(missing.joined(separator: ", ")))"))
        }
    }

    /// Whether the environment configures a usable client-secret or certificate credential.
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
        case .success(let credential): return "EnvironmentCredential(\(credential.credentialName))"
        case .failure: return "EnvironmentCredential(unavailable)"
        }
    }
}
