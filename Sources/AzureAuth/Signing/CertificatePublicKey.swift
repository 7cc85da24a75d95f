import CToolboxOpenSSL
import Foundation
import ToolboxCore
import ToolboxTransport

/// The public key of an X.509 certificate, for checking RS256 JWT signatures (client assertions) the way Entra
/// ID checks them against an application's registered certificate.
///
/// ```swift
/// let key = try CertificatePublicKey(pem: Array(pemText.utf8), source: "sp.pem")
/// key.verifyRS256(message: Array(signingInput.utf8), signature: signatureBytes)
/// ```
package final class CertificatePublicKey: @unchecked Sendable {
    // @unchecked Sendable: `key` is loaded in `init` and never modified; OpenSSL 3 allows concurrent verification
    // with a shared EVP_PKEY because each check uses its own EVP_MD_CTX. `deinit` frees it once nobody holds `self`.
    private let key: OpaquePointer
    /// base64url SHA-1 of the DER certificate: the `x5t` an assertion names its certificate by.
    package let thumbprintSHA1: String
    /// base64url SHA-256 of the DER certificate (`x5t#S256`).
    package let thumbprintSHA256: String

    /// Loads the first certificate in PEM text.
    ///
    /// - throws: `AuthError.Code.invalidArgument` when there is no certificate or its key is not RSA.
    package init(pem: [UInt8], source: String) throws(AuthError) {
        OpenSSLLibrary.ensureInitialized()
        var certificate: OpaquePointer?
        pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(clamping: raw.count)) else { return }
            certificate = PEM_read_bio_X509(bio, nil, nil, nil)
            BIO_free(bio)
        }
        ERR_clear_error()
        guard let certificate else {
            throw AuthError(.invalidArgument, "'\(source)' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        defer { X509_free(certificate) }
        guard let publicKey = X509_get_pubkey(certificate) else {
            throw AuthError(.invalidArgument, "the certificate in '\(source)' has no readable public key")
        }
        guard EVP_PKEY_get_base_id(publicKey) == EVP_PKEY_RSA else {
            EVP_PKEY_free(publicKey)
            throw AuthError(.invalidArgument, "the certificate in '\(source)' has a key that is not RSA; client "
                + "assertions are RS256")
        }
        let length = i2d_X509(certificate, nil)
        var der = [UInt8](repeating: 0, count: Int(max(0, length)))
        der.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_X509(certificate, &cursor)
        }
        key = publicKey
        thumbprintSHA1 = Self.base64URL(Self.digest(der, EVP_sha1(), length: 20))
        thumbprintSHA256 = Self.base64URL(AuthCrypto.sha256(der))
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether `signature` is an RSASSA-PKCS1-v1_5 SHA-256 signature of `message` under this key.
    package func verifyRS256(message: [UInt8], signature: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        let ok = message.withUnsafeBufferPointer { input in
            signature.withUnsafeBufferPointer { sig in
                EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1
                    && EVP_DigestVerify(context, sig.baseAddress, sig.count, input.baseAddress, input.count) == 1
            }
        }
        ERR_clear_error()
        return ok
    }

    private static func digest(_ data: [UInt8], _ type: OpaquePointer?, length: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: length)
        data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                _ = EVP_Digest(input.baseAddress, input.count, out.baseAddress, nil, type, nil)
            }
        }
        return output
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        AuthCrypto.base64(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
