import Dispatch
import Foundation
import Logging
import ToolboxCore

/// Authenticates a service principal with a certificate: each token request carries a client assertion (a JWT
/// signed RS256 with the certificate's private key, as MSAL builds it).
///
/// ```swift
/// let credential = try ClientCertificateCredential(tenantID: tenant, clientID: app,
///                                                  certificatePath: "/secrets/sp.pem", transport: transport)
/// ```
///
/// The file is PEM with the certificate and its RSA private key (optionally encrypted: pass `password`).
/// Requests go straight to `{authorityHost}/{tenant}/oauth2/v2.0/token`; tokens are cached per tenant and scope set.
/// Other tenants: as `ClientSecretCredential`.
public final class ClientCertificateCredential: TokenCredential, ClientCredentialsGrantCredential,
    CustomStringConvertible
{
    public let credentialName = "ClientCertificateCredential"
    /// `client_assertion_type` of a JWT client assertion (RFC 7523).
    static let jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    public let certificatePath: String
    let grant: ClientCredentialsGrant
    /// The tenant tokens come from, unless a request names another allowed tenant.
    public var tenantID: String { grant.tenantID }
    /// The application (client) id.
    public var clientID: String { grant.clientID }

    /// - throws: `AuthError.Code.invalidArgument` when the file cannot be read or holds no RSA key and certificate.
    public init(
        tenantID: String, clientID: String, certificatePath: String, password: Secret<String>? = nil,
        authorityHost: String? = nil, additionallyAllowedTenants: [String]? = nil,
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport,
        logger: Logger = Logger(label: "AzureAuth.ClientCertificateCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) throws(AuthError) {
        guard !clientID.isEmpty else {
            throw AuthError(.invalidArgument, "ClientCertificateCredential needs a client id (AZURE_CLIENT_ID)")
        }
        guard let data = FileManager.default.contents(atPath: certificatePath) else {
            throw AuthError(.invalidArgument, "ClientCertificateCredential could not read '\(certificatePath)' "
                + "(AZURE_CLIENT_CERTIFICATE_PATH); check that it exists and is readable")
        }
        let signer = try ClientAssertionSigner(pem: Secret(Array(data)), password: password, source: certificatePath)
        grant = try ClientCredentialsGrant(
            credentialName: "ClientCertificateCredential", tenantID: tenantID, clientID: clientID,
            authorityHost: authorityHost, additionallyAllowedTenants: additionallyAllowedTenants,
            environment: environment, transport: transport, logger: logger, clock: clock
        ) { tokenURL in
            do throws(AuthError) {
                let assertion = try signer.assertion(clientID: clientID, audience: tokenURL, now: clock())
                return .success([("client_assertion", assertion.exposedValue), ("client_assertion_type", Self.jwtBearer)])
            } catch {
                return .failure(error)
            }
        }
        self.certificatePath = certificatePath
    }

    public var description: String {
        "ClientCertificateCredential(tenantID: \(tenantID), clientID: \(clientID), certificate: \(certificatePath))"
    }
}
