import ToolboxCore

/// Cosmos DB master-key authorization, as the Cosmos SDKs compute it.
///
/// ```swift
/// let signer = try CosmosMasterKeySigner(key: Secret(masterKey))
/// let header = signer.authorizationHeader(verb: "GET", resourceType: "dbs", resourceLink: "dbs/testdb",
///                                         date: "Tue, 01 Jan 2030 00:00:00 GMT")
/// ```
///
/// String to sign: `lower(verb)\nlower(resourceType)\nresourceLink\nlower(x-ms-date)\n\n`, HMAC-SHA256 under the
/// base64-decoded key. The resource link keeps its case and is not percent-encoded (`dbs/db/colls/c/docs/item 1`).
public struct CosmosMasterKeySigner: Sendable, CustomStringConvertible {
    private let key: Secret<[UInt8]>

    /// - throws: `AuthError.Code.invalidKey` when `key` is not base64.
    public init(key: Secret<String>) throws(AuthError) {
        guard let bytes = AuthCrypto.base64Decode(key.exposedValue) else {
            throw AuthError(.invalidKey, "the Cosmos DB account key is not valid base64; copy the primary key "
                + "again from the portal ('Keys')")
        }
        self.key = Secret(bytes)
    }

    /// The string the signature covers.
    public static func stringToSign(verb: String, resourceType: String, resourceLink: String, date: String) -> String {
        "\(verb.lowercased())\n\(resourceType.lowercased())\n\(resourceLink)\n\(date.lowercased())\n\n"
    }

    /// `type=master&ver=1.0&sig=<base64>`, before URL-encoding.
    public func authorizationToken(verb: String, resourceType: String, resourceLink: String, date: String)
        -> Secret<String>
    {
        let text = Self.stringToSign(verb: verb, resourceType: resourceType, resourceLink: resourceLink, date: date)
        let sig = AuthCrypto.base64(AuthCrypto.hmacSHA256(key: key.exposedValue, message: text))
        return Secret("type=master&ver=1.0&sig=\(sig)")
    }

    /// The `authorization` header value as sent: the token URL-encoded.
    public func authorizationHeader(verb: String, resourceType: String, resourceLink: String, date: String)
        -> Secret<String>
    {
        let token = authorizationToken(verb: verb, resourceType: resourceType, resourceLink: resourceLink, date: date)
        return Secret(PercentEncoding.quote(token.exposedValue, safe: "-_.!~*'()"))
    }

    public var description: String { "CosmosMasterKeySigner(key: <redacted>)" }
}
