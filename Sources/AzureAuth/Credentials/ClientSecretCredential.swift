import Dispatch
import Logging
import ToolboxCore

/// Authenticates a service principal with a client secret (OAuth 2.0 client credentials grant).
///
/// ```swift
/// let credential = try ClientSecretCredential(tenantID: tenant, clientID: app, clientSecret: Secret(secret),
///                                             transport: transport)
/// ```
///
/// Requests go straight to `{authorityHost}/{tenant}/oauth2/v2.0/token` (no instance discovery). The authority
/// defaults to `AZURE_AUTHORITY_HOST` from `environment`, else the public cloud. Tokens are cached per tenant and
/// scope set. `additionallyAllowedTenants` (default: `AZURE_ADDITIONALLY_ALLOWED_TENANTS`) lists the other tenants
/// `TokenRequestOptions.tenantID` may name; `*` allows any.
public final class ClientSecretCredential: TokenCredential, ClientCredentialsGrantCredential, CustomStringConvertible {
    public let credentialName = "ClientSecretCredential"
    let grant: ClientCredentialsGrant
    /// The tenant tokens come from, unless a request names another allowed tenant.
    public var tenantID: String { grant.tenantID }
    /// The application (client) id.
    public var clientID: String { grant.clientID }

    /// - throws: `AuthError.Code.invalidArgument` for an invalid tenant id, empty client id or secret, or a
    ///   non-HTTPS authority.
    public init(
        tenantID: String, clientID: String, clientSecret: Secret<String>, authorityHost: String? = nil,
        additionallyAllowedTenants: [String]? = nil,
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport, logger: Logger = Logger(label: "AzureAuth.ClientSecretCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) throws(AuthError) {
        guard !clientID.isEmpty else {
            throw AuthError(.invalidArgument, "ClientSecretCredential needs a client id (AZURE_CLIENT_ID)")
        }
        guard !clientSecret.exposedValue.isEmpty else {
            throw AuthError(.invalidArgument, "ClientSecretCredential needs a non-empty client secret "
                + "(AZURE_CLIENT_SECRET)")
        }
        grant = try ClientCredentialsGrant(
            credentialName: "ClientSecretCredential", tenantID: tenantID, clientID: clientID,
            authorityHost: authorityHost, additionallyAllowedTenants: additionallyAllowedTenants,
            environment: environment, transport: transport, logger: logger, clock: clock
        ) { _ in .success([("client_secret", clientSecret.exposedValue)]) }
    }

    /// The authority requests go to, `https://host[:port]`.
    public var authorityHost: String { grant.endpoint.authorityHost }

    public var description: String {
        "ClientSecretCredential(tenantID: \(tenantID), clientID: \(clientID), authority: \(authorityHost), "
            + "clientSecret: <redacted>)"
    }
}
