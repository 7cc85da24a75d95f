import ToolboxCore

/// A key Azure hands out (Get User Delegation Key) for signing user-delegation SAS tokens.
public struct UserDelegationKey: Sendable, CustomStringConvertible {
    public var signedObjectID: String
    public var signedTenantID: String
    /// `skt`, ISO 8601 (`2030-01-01T00:00:00Z`) exactly as the service returned it.
    public var signedStart: String
    /// `ske`, ISO 8601 exactly as the service returned it.
    public var signedExpiry: String
    public var signedService: String
    public var signedVersion: String
    /// `skdutid`, present only for delegated-user keys.
    public var signedDelegatedUserTenantID: String?
    /// The base64 key value.
    public var value: Secret<String>

    public init(
        signedObjectID: String, signedTenantID: String, signedStart: String, signedExpiry: String,
        signedService: String, signedVersion: String, signedDelegatedUserTenantID: String? = nil,
        value: Secret<String>
    ) {
        self.signedObjectID = signedObjectID
        self.signedTenantID = signedTenantID
        self.signedStart = signedStart
        self.signedExpiry = signedExpiry
        self.signedService = signedService
        self.signedVersion = signedVersion
        self.signedDelegatedUserTenantID = signedDelegatedUserTenantID
        self.value = value
    }

    public var description: String {
        "UserDelegationKey(oid: \(signedObjectID), tid: \(signedTenantID), start: \(signedStart), "
            + "expiry: \(signedExpiry), value: <redacted>)"
    }
}

/// Blob and container SAS tokens, signed with the account key (service SAS) or a user delegation key.
///
/// ```swift
/// var sas = BlobSASBuilder(accountName: "devstoreaccount1", containerName: "ctr1", blobName: "dir/a.txt",
///                          permissions: "r", expiry: 1_893_459_600)
/// let query = try sas.token(accountKey: Secret(key))     // "se=...&sp=r&sv=2026-10-06&sr=b&sig=..."
/// ```
///
/// Field order and encodings follow azure-storage-blob 12.31 (`x-ms-version` 2026-10-06) and match its vectors.
/// Values are percent-encoded with `/` kept, as Python's `quote` does.
public struct BlobSASBuilder: Sendable {
    public var accountName: String
    public var containerName: String
    /// The blob; nil for a container SAS (`sr=c`).
    public var blobName: String?
    /// Permission letters in the service's order, e.g. `rcw`, `rl`.
    public var permissions: String
    /// `se`, UNIX seconds.
    public var expiry: Int
    /// `st`, UNIX seconds.
    public var start: Int?
    /// `sip`, an address or range.
    public var ipRange: String?
    /// `spr`: `https` or `https,http`.
    public var signedProtocol: String?
    /// `si`, a stored access policy (account-key SAS only).
    public var identifier: String?
    /// `sv`.
    public var version: String = "2026-10-06"
    /// `ses`.
    public var encryptionScope: String?
    public var cacheControl: String?
    public var contentDisposition: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var contentType: String?

    public init(
        accountName: String, containerName: String, blobName: String? = nil, permissions: String, expiry: Int,
        start: Int? = nil, signedProtocol: String? = nil
    ) {
        self.accountName = accountName
        self.containerName = containerName
        self.blobName = blobName
        self.permissions = permissions
        self.expiry = expiry
        self.start = start
        self.signedProtocol = signedProtocol
    }

    private var resource: String { blobName == nil ? "c" : "b" }

    private var canonicalizedResource: String {
        var path = "/blob/\(accountName)/\(containerName)"
        if let blobName { path += "/\(blobName)" }
        return path
    }

    private var overrides: [String] {
        [cacheControl ?? "", contentDisposition ?? "", contentEncoding ?? "", contentLanguage ?? "", contentType ?? ""]
    }

    /// The string a service SAS signs.
    public func stringToSign() -> String {
        ([permissions, start.map(UTCDate.iso8601) ?? "", UTCDate.iso8601(expiry), canonicalizedResource,
          identifier ?? "", ipRange ?? "", signedProtocol ?? "", version, resource, "", encryptionScope ?? ""]
            + overrides).joined(separator: "\n")
    }

    /// The string a user-delegation SAS signs under `key`.
    public func stringToSign(userDelegationKey key: UserDelegationKey) -> String {
        // After skv come skdutid and four signed-user fields this builder does not set (sduoid, saoid, suoid,
        // scid); after ses two request-binding fields it does not set either. Empty fields are still signed.
        ([permissions, start.map(UTCDate.iso8601) ?? "", UTCDate.iso8601(expiry), canonicalizedResource,
          key.signedObjectID, key.signedTenantID, key.signedStart, key.signedExpiry, key.signedService,
          key.signedVersion, key.signedDelegatedUserTenantID ?? "", "", "", "", "",
          ipRange ?? "", signedProtocol ?? "", version, resource, "", encryptionScope ?? "", "", ""]
            + overrides).joined(separator: "\n")
    }

    /// A service SAS query string (no leading `?`) signed with the account key.
    public func token(accountKey: Secret<String>) throws(AuthError) -> Secret<String> {
        let signer = try StorageSharedKeySigner(accountName: accountName, accountKey: accountKey)
        return Secret(query(keyFields: [], signature: signer.sign(stringToSign())))
    }

    /// A user-delegation SAS query string (no leading `?`) signed with `userDelegationKey`.
    public func token(userDelegationKey key: UserDelegationKey) throws(AuthError) -> Secret<String> {
        guard let bytes = AuthCrypto.base64Decode(key.value.exposedValue) else {
            throw AuthError(.invalidKey, "the user delegation key value is not valid base64; pass the 'Value' "
                + "from Get User Delegation Key unchanged")
        }
        if identifier != nil {
            throw AuthError(.invalidArgument, "a user-delegation SAS cannot name a stored access policy; clear "
                + "'identifier' or sign with the account key")
        }
        let sig = AuthCrypto.base64(AuthCrypto.hmacSHA256(key: bytes, message: stringToSign(userDelegationKey: key)))
        var keyFields = [
            ("skoid", key.signedObjectID), ("sktid", key.signedTenantID), ("skt", key.signedStart),
            ("ske", key.signedExpiry), ("sks", key.signedService), ("skv", key.signedVersion),
        ]
        if let tid = key.signedDelegatedUserTenantID { keyFields.append(("skdutid", tid)) }
        return Secret(query(keyFields: keyFields, signature: sig))
    }

    private func query(keyFields: [(String, String)], signature: String) -> String {
        var fields: [(String, String?)] = [
            ("st", start.map(UTCDate.iso8601)), ("se", UTCDate.iso8601(expiry)), ("sp", permissions),
            ("sip", ipRange), ("spr", signedProtocol), ("sv", version), ("si", identifier), ("sr", resource),
            ("ses", encryptionScope), ("rscc", cacheControl), ("rscd", contentDisposition),
            ("rsce", contentEncoding), ("rscl", contentLanguage), ("rsct", contentType),
        ]
        fields += keyFields.map { ($0.0, $0.1) }
        fields.append(("sig", signature))
        return fields.compactMap { name, value in value.map { "\(name)=\(PercentEncoding.quote($0, safe: "/"))" } }
            .joined(separator: "&")
    }
}
