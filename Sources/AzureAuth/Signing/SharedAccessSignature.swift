import ToolboxCore

/// Event Hubs and Service Bus SAS tokens, built exactly as Azure's SDKs build them.
///
/// ```swift
/// let token = SharedAccessSignature.token(audience: "sb://myns.servicebus.windows.net/eh1",
///     keyName: "RootManageSharedAccessKey", key: Secret(key), expiry: 1_700_000_000)
/// // "SharedAccessSignature sr=sb%3A%2F%2F...&sig=...&se=1700000000&skn=RootManageSharedAccessKey"
/// ```
///
/// The signature is base64(HMAC-SHA256(UTF-8 key *as given*, `quote_plus(audience) + "\n" + expiry`)); the key
/// is not base64-decoded. Query order is `sr`, `sig`, `se`, `skn`, each value `quote_plus`-encoded, and the key
/// name is encoded twice as the SDKs do (harmless for ordinary names).
public enum SharedAccessSignature {
    /// The string the signature covers: `quote_plus(audience) + "\n" + expiry`.
    public static func stringToSign(audience: String, expiry: Int) -> String {
        "\(PercentEncoding.quotePlus(audience))\n\(expiry)"
    }

    /// The base64 signature over `stringToSign(audience:expiry:)`.
    public static func signature(audience: String, key: Secret<String>, expiry: Int) -> String {
        let mac = AuthCrypto.hmacSHA256(
            key: Array(key.exposedValue.utf8), message: stringToSign(audience: audience, expiry: expiry))
        return AuthCrypto.base64(mac)
    }

    /// The full token, `SharedAccessSignature sr=...&sig=...&se=...&skn=...`.
    public static func token(audience: String, keyName: String, key: Secret<String>, expiry: Int) -> Secret<String> {
        let sig = signature(audience: audience, key: key, expiry: expiry)
        let query = PercentEncoding.formEncode([
            ("sr", audience), ("sig", sig), ("se", String(expiry)), ("skn", PercentEncoding.quotePlus(keyName)),
        ])
        return Secret("SharedAccessSignature \(query)")
    }

    /// The fields of a SAS token as a broker reads them.
    public struct Parsed: Sendable, Equatable {
        /// `sr` exactly as it appears in the token (still percent-encoded; the signature covers this form).
        public let encodedResource: String
        /// `sr` decoded: the audience.
        public var resource: String { PercentEncoding.unquote(encodedResource, plusAsSpace: true) }
        /// `sig`, decoded.
        public let signature: String
        /// `se`, UNIX seconds.
        public let expiry: Int
        /// `skn`, decoded.
        public let keyName: String
    }

    /// Splits a `SharedAccessSignature sr=...&sig=...&se=...&skn=...` token; nil when it is not one.
    public static func parse(_ token: String) -> Parsed? {
        let prefix = "SharedAccessSignature "
        guard token.hasPrefix(prefix) else { return nil }
        var fields: [String: String] = [:]
        for pair in token.dropFirst(prefix.count).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            fields[String(parts[0])] = String(parts[1])
        }
        guard let sr = fields["sr"], let sig = fields["sig"], let se = fields["se"].flatMap({ Int($0) }),
            let skn = fields["skn"]
        else { return nil }
        return Parsed(
            encodedResource: sr, signature: PercentEncoding.unquote(sig, plusAsSpace: true), expiry: se,
            keyName: PercentEncoding.unquote(PercentEncoding.unquote(skn, plusAsSpace: true), plusAsSpace: true))
    }
}
