import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// The client-credentials grant at `POST /<tenant>/oauth2/v2.0/token`, checked as Entra ID checks it.
///
/// The client proves itself with one of:
/// - `client_secret` (form field, or HTTP Basic as MSAL's `client_secret_basic`): must equal the configured secret;
/// - `client_assertion` of type `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, either
///   - an RS256 JWT (certificate credential): signature verified against `clientCertificateFiles` (the one its
///     `x5t`/`x5t#S256` names, else each), `iss` = `sub` = `client_id`, `aud` a URL whose path is this token
///     endpoint's (`/<tenant>/oauth2/v2.0/token`; the host is not compared, since clients reach the emulator
///     under several loopback names), `exp` in the future and `nbf` not more than five minutes ahead; or
///   - an HS256 federated token from this emulator (`/_emulator/entra/federated-token`, audience
///     `api://AzureADTokenExchange`), what workload identity reads from `AZURE_FEDERATED_TOKEN_FILE`.
///
/// The scope must name one resource with `/.default` (`https://storage.azure.com/.default`); the token's
/// audience is that resource with a trailing slash, as the HTTP and AMQP services expect.
struct EntraClientCredentials: Sendable {
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// The audience of federated tokens (what Kubernetes service-account tokens carry for Entra).
    static let federatedAudience = "api://AzureADTokenExchange"
    /// OpenID scopes MSAL may add; they name no resource.
    private static let openIDScopes: Set<String> = ["openid", "profile", "offline_access", "email"]

    let context: EmulatorHTTPContext
    let certificates: [CertificatePublicKey]

    init(context: EmulatorHTTPContext) throws {
        self.context = context
        var certificates: [CertificatePublicKey] = []
        for path in context.configuration.clientCertificateFiles {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw EmulatorError(.invalidConfiguration, "cannot read the client certificate file '\(path)'")
            }
            do throws(AuthError) {
                certificates.append(try CertificatePublicKey(pem: Array(data), source: path))
            } catch {
                throw EmulatorError(.invalidConfiguration, "client certificate: \(error.message)")
            }
        }
        self.certificates = certificates
    }

    /// A federated token the token endpoint accepts as a client assertion for any client id.
    static func issueFederatedToken(context: EmulatorHTTPContext, lifetime: Int) -> String {
        context.issueToken(audience: federatedAudience, lifetime: lifetime,
                           extraClaims: ["sub": "system:serviceaccount:default:emulator"])
    }

    func handle(_ request: EmulatorHTTPRequest, tenant: String) -> HTTPServerResponse {
        let configuration = context.configuration
        let contentType = request.header("Content-Type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return EntraError.response(status: 400, error: "invalid_request", code: 900144,
                description: "The request body must be application/x-www-form-urlencoded (got "
                    + "'\(EntraService.printable(contentType))').")
        }
        var form = Self.parseForm(request.body)
        if let basic = Self.basicCredentials(request.header("Authorization")) {
            form["client_id"] = form["client_id"] ?? basic.id
            form["client_secret"] = form["client_secret"] ?? basic.secret
        }
        guard let grantType = form["grant_type"] else {
            return EntraError.response(status: 400, error: "invalid_request", code: 900144,
                description: "The request body must contain the following parameter: 'grant_type'.")
        }
        guard grantType == "client_credentials" else {
            return EntraError.response(status: 400, error: "unsupported_grant_type", code: 70003,
                description: "The app requested an unsupported grant type "
                    + "'\(EntraService.printable(grantType))'; the emulator supports client_credentials.")
        }
        guard let clientID = form["client_id"], !clientID.isEmpty else {
            return EntraError.response(status: 400, error: "invalid_request", code: 900144,
                description: "The request body must contain the following parameter: 'client_id'.")
        }
        guard clientID.caseInsensitiveCompare(configuration.clientID) == .orderedSame else {
            return EntraError.response(status: 400, error: "unauthorized_client", code: 700016,
                description: "Application with identifier '\(EntraService.printable(clientID))' was not found "
                    + "in the directory '\(tenant)'. The emulator's application is '\(configuration.clientID)' "
                    + "(AZURE_CLIENT_ID).")
        }
        let audience: String
        switch Self.audience(forScope: form["scope"]) {
        case .audience(let value): audience = value
        case .refused(let refusal): return refusal
        }
        if let refusal = authenticate(form, clientID: clientID, tenant: tenant) { return refusal }
        let lifetime = configuration.entraTokenLifetime
        let token = context.issueToken(audience: audience, lifetime: lifetime,
                                       extraClaims: ["appid": clientID, "tid": tenant, "oid": clientID])
        context.logger.info("entra: issued a token for \(audience) to client \(clientID)")
        return EntraError.json(200, ["token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                                     "access_token": token])
    }

    enum ScopeCheck {
        case audience(String)
        case refused(HTTPServerResponse)
    }

    /// The audience a client-credentials scope asks for, or the AADSTS error for a scope Entra refuses.
    static func audience(forScope scope: String?) -> ScopeCheck {
        let scopes = (scope ?? "").split(separator: " ").map(String.init).filter { !openIDScopes.contains($0) }
        guard !scopes.isEmpty else {
            return .refused(EntraError.response(status: 400, error: "invalid_request", code: 900144,
                description: "The request body must contain the following parameter: 'scope'."))
        }
        guard scopes.count == 1 else {
            return .refused(EntraError.response(status: 400, error: "invalid_scope", code: 28000,
                description: "Provided value for the input parameter scope is not valid because it contains more "
                    + "than one resource."))
        }
        guard scopes[0].hasSuffix("/.default"), scopes[0].count > "/.default".count else {
            return .refused(EntraError.response(status: 400, error: "invalid_scope", code: 1002012,
                description: "The provided value for scope '\(EntraService.printable(scopes[0]))' is not valid. "
                    + "Client credential flows must have a scope value with /.default suffixed to the resource "
                    + "identifier (application ID URI)."))
        }
        return .audience(EmulatorJWT.audience(forScope: scopes[0]))
    }

    /// Nil when the client proved itself; otherwise the refusal.
    private func authenticate(_ form: [String: String], clientID: String, tenant: String) -> HTTPServerResponse? {
        if let secret = form["client_secret"] {
            let expected = Array(context.configuration.clientSecret.exposedValue.utf8)
            guard AuthCrypto.constantTimeEqual(Array(secret.utf8), expected) else {
                return EntraError.response(status: 401, error: "invalid_client", code: 7000215,
                    description: "Invalid client secret provided. Ensure the secret being sent in the request is "
                        + "the client secret value, not the client secret ID, for a secret added to app "
                        + "'\(clientID)'.")
            }
            return nil
        }
        guard let assertion = form["client_assertion"] else {
            return EntraError.response(status: 401, error: "invalid_client", code: 7000218,
                description: "The request body must contain the following parameter: 'client_assertion' or "
                    + "'client_secret'.")
        }
        guard form["client_assertion_type"] == Self.assertionType else {
            return EntraError.response(status: 400, error: "invalid_request", code: 50027,
                description: "client_assertion_type must be '\(Self.assertionType)'.")
        }
        return verifyAssertion(assertion, clientID: clientID, tenant: tenant)
    }

    private func verifyAssertion(_ assertion: String, clientID: String, tenant: String) -> HTTPServerResponse? {
        func refuse(_ code: Int, _ description: String) -> HTTPServerResponse {
            EntraError.response(status: 401, error: "invalid_client", code: code, description: description)
        }
        let parts = assertion.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = EmulatorJWT.base64URLDecode(String(parts[0])),
              let claimBytes = EmulatorJWT.base64URLDecode(String(parts[1])),
              let signature = EmulatorJWT.base64URLDecode(String(parts[2])),
              let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
              let claims = try? JSONSerialization.jsonObject(with: Data(claimBytes)) as? [String: Any]
        else { return refuse(50027, "The client assertion is not a valid compact JWT.") }
        let now = Int(Date().timeIntervalSince1970)
        switch header["alg"] as? String {
        case "HS256":
            let audiences: Set<String> = [Self.federatedAudience]
            if case .failure(let rejection) = EmulatorJWT.verify(assertion, key: context.configuration.key, now: now,
                                                                 audiences: audiences) {
                return refuse(70021, "No matching federated identity record found for presented assertion: "
                    + rejection.reason + ".")
            }
            return nil
        case "RS256":
            break
        default:
            return refuse(50027, "The client assertion must be signed with RS256 (a certificate) or be a federated "
                + "token from this emulator (HS256).")
        }
        guard !certificates.isEmpty else {
            return refuse(700027, "Client assertion failed signature validation: no certificate is registered for "
                + "application '\(clientID)' (toolbox emulator --entra-client-certificate PEM).")
        }
        let thumbprint = header["x5t"] as? String
        let thumbprint256 = header["x5t#S256"] as? String
        let named = certificates.filter { $0.thumbprintSHA1 == thumbprint || $0.thumbprintSHA256 == thumbprint256 }
        let signingInput = Array((parts[0] + "." + parts[1]).utf8)
        guard (named.isEmpty ? certificates : named).contains(where: {
            $0.verifyRS256(message: signingInput, signature: signature)
        }) else {
            return refuse(700027, "Client assertion failed signature validation: it is not signed by a certificate "
                + "registered for application '\(clientID)'.")
        }
        guard claims["iss"] as? String == clientID, claims["sub"] as? String == clientID else {
            return refuse(700021, "Client assertion application identifier doesn't match 'client_id' parameter "
                + "(iss and sub must both be '\(clientID)').")
        }
        let audience = claims["aud"] as? String ?? ""
        let expectedPath = "/\(tenant)/oauth2/v2.0/token"
        var audiencePath = ""
        if let scheme = audience.range(of: "://") {
            let rest = audience[scheme.upperBound...]
            if let slash = rest.firstIndex(of: "/") { audiencePath = String(rest[slash...]) }
        }
        guard audiencePath.caseInsensitiveCompare(expectedPath) == .orderedSame else {
            return refuse(50013, "Assertion audience claim does not match the required value: aud must be this "
                + "token endpoint (…\(expectedPath)).")
        }
        guard let expiry = (claims["exp"] as? NSNumber)?.intValue, expiry > now else {
            return refuse(700024, "Client assertion is not within its valid time range (exp is missing or past).")
        }
        if let notBefore = (claims["nbf"] as? NSNumber)?.intValue, notBefore > now + 300 {
            return refuse(700024, "Client assertion is not within its valid time range (nbf is in the future).")
        }
        return nil
    }

    /// `application/x-www-form-urlencoded` fields (the first of repeated names wins).
    static func parseForm(_ body: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentEncoding.unquote(String(parts[0]), plusAsSpace: true)
            let value = parts.count > 1 ? PercentEncoding.unquote(String(parts[1]), plusAsSpace: true) : ""
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    /// `Authorization: Basic base64(url-encoded id ":" url-encoded secret)` (RFC 6749 §2.3.1).
    static func basicCredentials(_ authorization: String?) -> (id: String, secret: String)? {
        guard let authorization, authorization.count > 6,
              authorization.prefix(6).caseInsensitiveCompare("Basic ") == .orderedSame,
              let decoded = AuthCrypto.base64Decode(String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(bytes: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (PercentEncoding.unquote(String(text[..<colon]), plusAsSpace: true),
                PercentEncoding.unquote(String(text[text.index(after: colon)...]), plusAsSpace: true))
    }
}
