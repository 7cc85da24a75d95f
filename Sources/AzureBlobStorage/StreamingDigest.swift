import CToolboxOpenSSL
import ToolboxTransport

/// An incremental MD5 or SHA-256 (OpenSSL EVP), for hashing a blob while it streams through.
package final class StreamingDigest: @unchecked Sendable {
    // @unchecked Sendable: the EVP context is used by one owner at a time (the serial reader of an upload, or a
    // single thread in the CLI); callers never share one across threads concurrently.
    package enum Algorithm: Sendable { case md5, sha256 }

    private let context: OpaquePointer?

    package init(_ algorithm: Algorithm) {
        OpenSSLLibrary.ensureInitialized()
        context = EVP_MD_CTX_new()
        let md = algorithm == .md5 ? EVP_md5() : EVP_sha256()
        if let context { EVP_DigestInit_ex(context, md, nil) }
    }

    deinit { EVP_MD_CTX_free(context) }

    package func update(_ bytes: UnsafeRawBufferPointer) {
        guard let context, let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    package func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest; the object must not be updated afterwards. Empty if OpenSSL could not allocate a context.
    package func finish() -> [UInt8] {
        guard let context else { return [] }
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = output.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return Array(output.prefix(Int(length)))
    }
}
