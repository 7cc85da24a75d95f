import AzureAuth
import ToolboxCore

// The service side of AzureAuth's signers: what a broker or an emulator checks. It lives apart from AzureAuth so a
// client-only application links no verifier.

extension SharedAccessSignature {
    /// Broker-side check: the token parses, was signed with `key` over its own `sr` and `se`, and has not expired
    /// at `now` (UNIX seconds). The comparison does not leak timing through early exit.
    ///
    /// - Parameters:
    ///   - token: the whole `SharedAccessSignature sr=…&sig=…&se=…&skn=…` token as received.
    ///   - key: the shared access key the token should have been signed with.
    ///   - now: the current time, UNIX seconds.
    /// - Returns: true when the signature matches and the token has not expired.
    public static func verify(_ token: String, key: Secret<String>, now: Int) -> Bool {
        guard let parsed = parse(token), parsed.expiry > now else { return false }
        let expected = AuthCrypto.base64(AuthCrypto.hmacSHA256(
            key: Array(key.exposedValue.utf8), message: "\(parsed.encodedResource)\n\(parsed.expiry)"))
        return AuthCrypto.constantTimeEqual(Array(expected.utf8), Array(parsed.signature.utf8))
    }
}

extension CosmosMasterKeySigner {
    /// Server-side check: whether `header` (the `authorization` header as received, URL-encoded or not) is the
    /// master-key token for this request. Constant-time comparison.
    ///
    /// - Parameters:
    ///   - header: the `authorization` header value as received.
    ///   - verb: the request's HTTP method.
    ///   - resourceType: the resource type the request addresses (`docs`, `colls`, …).
    ///   - resourceLink: the resource link the request addresses.
    ///   - date: the request's `x-ms-date` header.
    /// - Returns: true when `header` is the token this signer makes for the request.
    public func verify(header: String, verb: String, resourceType: String, resourceLink: String, date: String)
        -> Bool
    {
        let expected = Array(authorizationToken(
            verb: verb, resourceType: resourceType, resourceLink: resourceLink, date: date).exposedValue.utf8)
        let given = Array(PercentEncoding.unquote(header).utf8)
        return AuthCrypto.constantTimeEqual(expected, given)
    }
}

extension EventGridSharedAccessSignature {
    /// Whether `parsed`'s signature is `key`'s (compared in constant time).
    ///
    /// - Parameters:
    ///   - parsed: the token as `parse(_:)` split it.
    ///   - key: the topic's access key.
    /// - Returns: true when the signature was made with `key` over the token's signed text.
    public static func isSignatureValid(_ parsed: Parsed, key: Secret<String>) -> Bool {
        guard let expected = try? sign(parsed.signedText, key: key) else { return false }
        return AuthCrypto.constantTimeEqual(Array(expected.utf8), Array(parsed.signature.utf8))
    }
}
