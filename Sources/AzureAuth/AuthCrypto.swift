import CToolboxOpenSSL
import Foundation
import ToolboxTransport

/// HMAC-SHA256, SHA-256 and base64, all computed by OpenSSL (no hand-written cryptography).
///
/// ```swift
/// let signature = AuthCrypto.base64(AuthCrypto.hmacSHA256(key: keyBytes, message: Array("text".utf8)))
/// ```
public enum AuthCrypto {
    /// HMAC-SHA256 of `message` under `key`; 32 bytes.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        OpenSSLLibrary.ensureInitialized()
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // OpenSSL needs a non-null key pointer even for an empty key, so an empty key is passed as one
        // byte with length zero.
        let keyStorage = key.isEmpty ? [0] : key
        let ok = keyStorage.withUnsafeBufferPointer { keyBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                output.withUnsafeMutableBufferPointer { outBuffer in
                    HMAC(
                        EVP_sha256(), keyBuffer.baseAddress, Int32(key.count),
                        messageBuffer.baseAddress, messageBuffer.count,
                        outBuffer.baseAddress, &length) != nil
                }
            }
        }
        // HMAC with SHA-256 fails only on allocation failure; an all-zero digest would never verify anyway.
        precondition(ok, "OpenSSL HMAC-SHA256 failed")
        return Array(output.prefix(Int(length)))
    }

    /// HMAC-SHA256 of the UTF-8 bytes of `message`.
    public static func hmacSHA256(key: [UInt8], message: String) -> [UInt8] {
        hmacSHA256(key: key, message: Array(message.utf8))
    }

    /// SHA-256 digest of `data`; 32 bytes.
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        OpenSSLLibrary.ensureInitialized()
        var output = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                _ = EVP_Digest(input.baseAddress, input.count, out.baseAddress, nil, EVP_sha256(), nil)
            }
        }
        return output
    }

    /// Lower-case hexadecimal SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256Hex(_ text: String) -> String {
        hex(sha256(Array(text.utf8)))
    }

    /// Lower-case hexadecimal form of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Standard (padded) base64 of `bytes`.
    public static func base64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// The bytes of standard base64 `text`, or nil when it is not valid base64.
    public static func base64Decode(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text).map { Array($0) }
    }

    /// Whether `a` and `b` are equal, taking the same time whatever their contents (signature and key checks
    /// must not leak through an early exit); lengths are compared first.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// `count` cryptographically random bytes from OpenSSL's generator.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        OpenSSLLibrary.ensureInitialized()
        var bytes = [UInt8](repeating: 0, count: count)
        let rc = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(rc == 1, "OpenSSL RAND_bytes failed")
        return bytes
    }
}
