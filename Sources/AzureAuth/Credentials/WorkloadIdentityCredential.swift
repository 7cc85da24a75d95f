import Dispatch
import Foundation
import Logging
import ToolboxCore

/// Authenticates with a federated token file (Kubernetes workload identity): the file's content is sent as a
/// client assertion.
///
/// ```swift
/// let credential = try WorkloadIdentityCredential(transport: transport)   // reads the AZURE_* variables
/// ```
///
/// Reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST` from
/// `environment` unless given. The file is read again when it is older than ten minutes in memory (the
/// projected token rotates). Tokens are cached per tenant and scope set; other tenants as `ClientSecretCredential`.
public final class WorkloadIdentityCredential: TokenCredential, CustomStringConvertible {
    public let credentialName = "WorkloadIdentityCredential"
    public let tenantID: String
    public let clientID: String
    public let tokenFilePath: String
    private let caches: TenantTokenCaches

    /// - throws: `AuthError.Code.credentialUnavailable` naming each missing variable.
    public init(
        tenantID: String? = nil, clientID: String? = nil, tokenFilePath: String? = nil, authorityHost: String? = nil,
        additionallyAllowedTenants: [String]? = nil,
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport, logger: Logger = Logger(label: "AzureAuth.WorkloadIdentityCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) throws(AuthError) {
        typealias Env = AzureEnvironmentVariable
        let tenant = tenantID ?? environment.nonEmpty(Env.tenantID)
        let client = clientID ?? environment.nonEmpty(Env.clientID)
        let file = tokenFilePath ?? environment.nonEmpty(Env.federatedTokenFile)
        guard let tenant, let client, let file else {
            let missing = [(tenant, Env.tenantID), (client, Env.clientID), (file, Env.federatedTokenFile)]
                .filter { $0.0 == nil }.map(\.1)
            throw AuthError(.credentialUnavailable, "WorkloadIdentityCredential is unavailable: "
                + "\(missing.joined(separator: ", ")) not set; set them or pass tenantID, clientID and tokenFilePath")
        }
        let authority = authorityHost ?? environment.nonEmpty(Env.authorityHost) ?? Env.defaultAuthorityHost
        let endpoint = try EntraTokenEndpoint(authorityHost: authority, tenantID: tenant)
        self.tenantID = tenant
        self.clientID = client
        self.tokenFilePath = file
        let assertion = FederatedTokenFile(path: file, clock: clock)
        caches = TenantTokenCaches(
            name: "WorkloadIdentityCredential", defaultTenant: tenant, authorityHost: endpoint.authorityHost,
            allowed: additionallyAllowedTenants ?? TenantPolicy.allowedFromEnvironment(environment),
            environment: environment
        ) { endpoint in
            TokenCache(name: "WorkloadIdentityCredential", logger: logger, clock: clock) { scopes, deadline, done in
                let jwt: Secret<String>
                switch assertion.read() {
                case .success(let value): jwt = value
                case .failure(let error): return done(.failure(error))
                }
                endpoint.requestToken(
                    form: [
                        ("client_assertion", jwt.exposedValue),
                        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                        ("client_id", client), ("grant_type", "client_credentials"),
                        ("scope", scopes.joined(separator: " ")),
                    ],
                    transport: transport, deadline: deadline, source: "WorkloadIdentityCredential", clock: clock,
                    completion: done)
            }
        }
    }

    @discardableResult
    public func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        caches.token(for: scopes, options: options, queue: queue, completion: completion)
    }

    public var description: String {
        "WorkloadIdentityCredential(tenantID: \(tenantID), clientID: \(clientID), tokenFile: \(tokenFilePath))"
    }
}

/// The federated token file, re-read at most every ten minutes (as azure-identity's `TokenFileMixin`).
final class FederatedTokenFile: Sendable {
    private let path: String
    private let clock: @Sendable () -> Int
    private let cached = LockedValue<(value: Secret<String>, readAt: Int)?>(nil)
    static let rereadInterval = 600

    init(path: String, clock: @escaping @Sendable () -> Int) {
        self.path = path
        self.clock = clock
    }

    func read() -> Result<Secret<String>, AuthError> {
        let now = clock()
        if let entry = cached.load(), now - entry.readAt < Self.rereadInterval { return .success(entry.value) }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(AuthError(.credentialUnavailable, "WorkloadIdentityCredential could not read the "
                + "federated token file '\(path)' (AZURE_FEDERATED_TOKEN_FILE); check that it exists and is readable"))
        }
        let text = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard !text.isEmpty else {
            return .failure(AuthError(.credentialUnavailable, "the federated token file '\(path)' is empty"))
        }
        cached.withLockedValue { $0 = (Secret(text), now) }
        return .success(Secret(text))
    }
}
