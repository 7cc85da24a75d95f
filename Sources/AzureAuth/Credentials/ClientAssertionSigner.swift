import CToolboxOpenSSL
import Foundation
import ToolboxCore
import ToolboxTransport

/// Signs client-assertion JWTs (RS256) with a certificate's RSA private key, as MSAL does for certificate
/// credentials: header `{"alg":"RS256","typ":"JWT","x5t":<base64url SHA-1 of the DER certificate>}`, claims
/// `aud` (the token endpoint), `iss` = `sub` = client id, `jti`, `nbf`, `iat` and `exp` (ten minutes).
final class ClientAssertionSigner: @unchecked Sendable {
    // @unchecked Sendable: `key` is loaded in `init` and never modified; OpenSSL 3 allows concurrent signing with a
    // shared EVP_PKEY because each signature uses its own EVP_MD_CTX. `deinit` frees it once nobody holds `self`.
    private let key: OpaquePointer
    /// base64url SHA-1 thumbprint of the certificate (`x5t`).
    let thumbprint: String

    /// Loads the first private key and certificate from PEM text, or from PKCS#12 (`.pfx`) bytes.
    init(pem: Secret<[UInt8]>, password: Secret<String>?, source: String) throws(AuthError) {
        OpenSSLLibrary.ensureInitialized()
        func fail(_ what: String) -> AuthError {
            AuthError(.invalidArgument, "the certificate file '\(source)' \(what); pass a PEM or PKCS#12 file "
                + "holding the certificate and its RSA private key (AZURE_CLIENT_CERTIFICATE_PATH)")
        }
        var loadedKey: OpaquePointer?
        var der: [UInt8] = []
        pem.exposedValue.withUnsafeBytes { raw in
            let read = { (body: (OpaquePointer) -> Void) in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
                body(bio)
                BIO_free(bio)
            }
            read { bio in
                if let password {
                    loadedKey = password.exposedValue.withCString { PEM_read_bio_PrivateKey(bio, nil, nil,
                        UnsafeMutableRawPointer(mutating: $0)) }
                } else {
                    loadedKey = PEM_read_bio_PrivateKey(bio, nil, nil, nil)
                }
            }
            read { bio in
                guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else { return }
                let length = i2d_X509(certificate, nil)
                if length > 0 {
                    der = [UInt8](repeating: 0, count: Int(length))
                    der.withUnsafeMutableBufferPointer { buffer in
                        var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                        _ = i2d_X509(certificate, &cursor)
                    }
                }
                X509_free(certificate)
            }
        }
        if loadedKey == nil, der.isEmpty {
            (loadedKey, der) = Self.readPKCS12(pem.exposedValue, password: password?.exposedValue)
        }
        ERR_clear_error()
        guard let loadedKey else { throw fail("has no private key that could be read (wrong password?)") }
        guard EVP_PKEY_get_base_id(loadedKey) == EVP_PKEY_RSA else {
            EVP_PKEY_free(loadedKey)
            throw fail("holds a key that is not RSA; Entra ID client assertions need RS256")
        }
        guard !der.isEmpty else {
            EVP_PKEY_free(loadedKey)
            throw fail("has no certificate")
        }
        key = loadedKey
        var sha1 = [UInt8](repeating: 0, count: 20)
        der.withUnsafeBufferPointer { input in
            sha1.withUnsafeMutableBufferPointer { out in
                _ = EVP_Digest(input.baseAddress, input.count, out.baseAddress, nil, EVP_sha1(), nil)
            }
        }
        thumbprint = Self.base64URL(sha1)
    }

    deinit { EVP_PKEY_free(key) }

    /// The key and DER certificate of a PKCS#12 bundle; nil and empty when `bytes` is not one (or the password
    /// is wrong).
    private static func readPKCS12(_ bytes: [UInt8], password: String?) -> (OpaquePointer?, [UInt8]) {
        bytes.withUnsafeBytes { raw -> (OpaquePointer?, [UInt8]) in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return (nil, []) }
            defer { BIO_free(bio) }
            guard let bundle = d2i_PKCS12_bio(bio, nil) else { return (nil, []) }
            defer { PKCS12_free(bundle) }
            var key: OpaquePointer?
            var certificate: OpaquePointer?
            let ok = (password ?? "").withCString { PKCS12_parse(bundle, $0, &key, &certificate, nil) }
            defer { if let certificate { X509_free(certificate) } }
            guard ok == 1, let certificate else {
                if let key { EVP_PKEY_free(key) }
                return (nil, [])
            }
            let length = i2d_X509(certificate, nil)
            guard length > 0 else {
                if let key { EVP_PKEY_free(key) }
                return (nil, [])
            }
            var der = [UInt8](repeating: 0, count: Int(length))
            der.withUnsafeMutableBufferPointer { buffer in
                var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                _ = i2d_X509(certificate, &cursor)
            }
            return (key, der)
        }
    }

    /// A signed assertion for `clientID` addressed to `audience`, valid from `now` for ten minutes.
    func assertion(clientID: String, audience: String, now: Int) throws(AuthError) -> Secret<String> {
        let header = #"{"alg":"RS256","typ":"JWT","x5t":"\#(thumbprint)"}"#
        let claims: [String: Any] = [
            "aud": audience, "iss": clientID, "sub": clientID, "jti": UUID().uuidString.lowercased(),
            "nbf": now, "iat": now, "exp": now + 600,
        ]
        guard let claimData = try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]) else {
            throw AuthError(.invalidArgument, "could not encode the client assertion claims")
        }
        let signingInput = Self.base64URL(Array(header.utf8)) + "." + Self.base64URL(Array(claimData))
        let signature = try sign(Array(signingInput.utf8))
        return Secret(signingInput + "." + Self.base64URL(signature))
    }

    private func sign(_ message: [UInt8]) throws(AuthError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else {
            throw AuthError(.authenticationFailed, "OpenSSL could not allocate a signing context")
        }
        defer { EVP_MD_CTX_free(context) }
        var length = 0
        var signature: [UInt8] = []
        let ok = message.withUnsafeBufferPointer { input -> Bool in
            guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1,
                EVP_DigestSign(context, nil, &length, input.baseAddress, input.count) == 1
            else { return false }
            signature = [UInt8](repeating: 0, count: length)
            return signature.withUnsafeMutableBufferPointer {
                EVP_DigestSign(context, $0.baseAddress, &length, input.baseAddress, input.count) == 1
            }
        }
        ERR_clear_error()
        guard ok else { throw AuthError(.authenticationFailed, "OpenSSL could not sign the client assertion") }
        return Array(signature.prefix(length))
    }

    /// Base64 with the URL alphabet and no padding (RFC 7515).
    static func base64URL(_ bytes: [UInt8]) -> String {
        AuthCrypto.base64(bytes)
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
