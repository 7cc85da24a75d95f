import CToolboxOpenSSL
import ToolboxTransport

extension AuthCrypto {
    /// MD5 digest of `data` (16 bytes), computed by OpenSSL: Blob Storage's `Content-MD5` integrity check, never
    /// used for security.
    public static func md5(_ data: some Collection<UInt8>) -> [UInt8] {
        OpenSSLLibrary.ensureInitialized()
        var output = [UInt8](repeating: 0, count: 16)
        let contiguous: Void? = data.withContiguousStorageIfAvailable { input in
            output.withUnsafeMutableBufferPointer { out in
                _ = EVP_Digest(input.baseAddress, input.count, out.baseAddress, nil, EVP_md5(), nil)
            }
        }
        if contiguous == nil {
            let copy = Array(data)
            copy.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { out in
                    _ = EVP_Digest(input.baseAddress, input.count, out.baseAddress, nil, EVP_md5(), nil)
                }
            }
        }
        return output
    }
}
