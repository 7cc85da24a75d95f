import Logging
import ToolboxCore

/// The OAuth 2.0 client-credentials grant at an Entra token endpoint, behind per-tenant token caches: what
/// `ClientSecretCredential`, `ClientCertificateCredential` and `WorkloadIdentityCredential` share. Each supplies
/// only how the client proves itself — `proof` returns the form fields for a token URL (a secret, a signed
/// assertion, a federated token) or why it cannot; the grant adds `client_id`, `grant_type` and `scope` and sends
/// the fields in name order, as azure-identity does.
struct ClientCredentialsGrant: Sendable {
    let tenantID: String
    let clientID: String
    let endpoint: EntraTokenEndpoint
    let caches: TenantTokenCaches

    /// - throws: `AuthError.Code.invalidArgument` for an invalid tenant id or a non-HTTPS authority.
    init(
        credentialName: String, tenantID: String, clientID: String, authorityHost: String?,
        additionallyAllowedTenants: [String]?, environment: [String: String], transport: any TokenHTTPTransport,
        logger: Logger, clock: @escaping @Sendable () -> Int,
        proof: @escaping @Sendable (_ tokenURL: String) -> Result<[(String, String)], AuthError>
    ) throws(AuthError) {
        let authority = authorityHost ?? environment.nonEmpty(AzureEnvironmentVariable.authorityHost)
            ?? AzureEnvironmentVariable.defaultAuthorityHost
        let endpoint = try EntraTokenEndpoint(authorityHost: authority, tenantID: tenantID)
        self.tenantID = tenantID
        self.clientID = clientID
        self.endpoint = endpoint
        caches = TenantTokenCaches(
            name: credentialName, defaultTenant: tenantID, authorityHost: endpoint.authorityHost,
            allowed: additionallyAllowedTenants ?? TenantPolicy.allowedFromEnvironment(environment),
            environment: environment
        ) { endpoint in
            TokenCache(name: credentialName, logger: logger, clock: clock) { scopes, deadline, done in
                let fields: [(String, String)]
                switch proof(endpoint.tokenURL) {
                case .success(let value): fields = value
                case .failure(let error): return done(.failure(error))
                }
                let form = (fields + [
                    ("client_id", clientID), ("grant_type", "client_credentials"),
                    ("scope", scopes.joined(separator: " ")),
                ]).sorted { $0.0 < $1.0 }
                endpoint.requestToken(form: form, transport: transport, deadline: deadline, source: credentialName,
                                      clock: clock, completion: done)
            }
        }
    }
}

/// A credential that authenticates through a `ClientCredentialsGrant`: its tenant, client and token source are
/// the grant's.
protocol ClientCredentialsGrantCredential: TokenForwardingCredential {
    var grant: ClientCredentialsGrant { get }
}

extension ClientCredentialsGrantCredential {
    var tokenSource: any TokenSource { grant.caches }
}
