import ToolboxCore

/// The Entra ID v2 token endpoint of one tenant: `{authority}/{tenant}/oauth2/v2.0/token`.
///
/// No discovery request is made (no OpenID configuration, no instance discovery): the token endpoint is
/// computed, as azure-identity's own (non-MSAL) client does.
struct EntraTokenEndpoint: Sendable {
    let authorityHost: String
    let tenantID: String

    init(authorityHost: String, tenantID: String) throws(AuthError) {
        self.authorityHost = try Self.normalizeAuthority(authorityHost)
        try Self.validateTenant(tenantID)
        self.tenantID = tenantID
    }

    var tokenURL: String { "\(authorityHost)/\(tenantID)/oauth2/v2.0/token" }

    /// `https://host[:port]` without a trailing slash. A scheme-less host becomes HTTPS; plain HTTP is refused
    /// because the request carries a client secret or assertion.
    static func normalizeAuthority(_ value: String) throws(AuthError) -> String {
        var authority = value.trimmingWhitespace()
        while authority.hasSuffix("/") { authority.removeLast() }
        if !authority.contains("://") { authority = "https://" + authority }
        // A user name or password in the URL would be quoted by every error naming the token endpoint.
        let hostPart = authority.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        if hostPart.count > 2, hostPart[2].contains("@") {
            throw AuthError(.invalidArgument, "the authority host carries a user name or password ('user@host'); "
                + "Entra ID takes none there, and it would be shown in errors (AZURE_AUTHORITY_HOST or the "
                + "authorityHost argument)")
        }
        guard authority.lowercased().hasPrefix("https://"), authority.count > "https://".count else {
            throw AuthError(.invalidArgument, "the authority host '\(value)' is not an HTTPS URL; token requests "
                + "carry secrets, so use 'https://...' (AZURE_AUTHORITY_HOST or the authorityHost argument)")
        }
        return authority
    }

    /// Tenant ids are GUIDs or domain names: letters, digits, `-` and `.` only.
    static func validateTenant(_ tenantID: String) throws(AuthError) {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.".utf8)
        guard !tenantID.isEmpty, tenantID.utf8.allSatisfy({ allowed.contains($0) }) else {
            throw AuthError(.invalidArgument, "the tenant id '\(tenantID)' is not valid; use the directory's GUID "
                + "or domain (letters, digits, '-' and '.'), as in AZURE_TENANT_ID")
        }
    }

    /// Form fields whose values are secrets, never to be shown even when the endpoint echoes them.
    static let secretFormFields: Set<String> = [
        "client_secret", "client_assertion", "assertion", "refresh_token", "password", "code",
    ]

    /// POSTs `form` and parses the token response.
    func requestToken(
        form: [(String, String)], transport: any TokenHTTPTransport, deadline: Deadline, source: String,
        clock: @escaping @Sendable () -> Int,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) {
        let request = TokenHTTPRequest(
            method: "POST", url: tokenURL,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Array(PercentEncoding.formEncode(form).utf8))
        transport.send(request, deadline: deadline) { result in
            switch result {
            case .success(let response):
                // An endpoint may echo what it was sent (the client secret, the assertion) into its error body:
                // blanked out before the body is read or cut short.
                let secrets = form.filter { Self.secretFormFields.contains($0.0) }
                    .flatMap { [$0.1, PercentEncoding.quotePlus($0.1)] }
                completion(TokenResponseParser.parse(response.redacting(secrets), now: clock(),
                                                     source: "\(source) (\(tokenURL))")
                    .mapError { $0.redacting(secrets) })
            case .failure(let error):
                completion(.failure(AuthError.wrap(error, .transportFailed,
                    context: "\(source) could not reach \(tokenURL)")))
            }
        }
    }
}
