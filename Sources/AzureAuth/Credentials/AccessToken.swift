import ToolboxCore

/// A bearer token and when it stops being valid.
///
/// `description` shows the expiry only; the token itself is a `Secret`.
public struct AccessToken: Sendable, CustomStringConvertible {
    /// The bearer token (a JWT for Entra ID).
    public let token: Secret<String>
    /// When the token expires, in UNIX seconds.
    public let expiresOn: Int
    /// When a cache should fetch a replacement, in UNIX seconds; nil means five minutes before `expiresOn`.
    public let refreshOn: Int?
    /// The token type the endpoint reported (`Bearer`).
    public let tokenType: String

    public init(token: Secret<String>, expiresOn: Int, refreshOn: Int? = nil, tokenType: String = "Bearer") {
        self.token = token
        self.expiresOn = expiresOn
        self.refreshOn = refreshOn
        self.tokenType = tokenType
    }

    public var description: String {
        "AccessToken(token: <redacted>, expiresOn: \(expiresOn)\(refreshOn.map { ", refreshOn: \($0)" } ?? ""))"
    }
}

/// Options for one token request.
public struct TokenRequestOptions: Sendable {
    /// When the request must have completed; the credential fails with `AuthError.Code.timedOut` after it.
    public var deadline: Deadline
    /// The tenant to get the token from, when it differs from the credential's own; the credential must allow
    /// it (`additionallyAllowedTenants`). Managed identity ignores it.
    public var tenantID: String?

    /// - parameters:
    ///   - deadline: defaults to 30 seconds from now.
    ///   - tenantID: the tenant to ask instead of the credential's own (nil: its own).
    public init(deadline: Deadline = .after(seconds: 30), tenantID: String? = nil) {
        self.deadline = deadline
        self.tenantID = tenantID
    }
}
