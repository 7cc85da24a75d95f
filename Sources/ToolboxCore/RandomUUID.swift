import Foundation

/// Random (version 4) UUIDs for message-ids, request and event ids, link names and lock tokens.
///
/// ```swift
/// let id = RandomUUID.make()          // a UUID
/// let text = RandomUUID.string()      // "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
/// ```
///
/// Foundation's `UUID()` on Linux opens, reads and closes `/dev/urandom` on every call (measured: 4.7 % of a
/// client's samples sending scheduled messages, 3.8 % publishing Event Grid events). These draw 16 bytes from
/// the system generator (`getrandom` on Linux) in two calls, which measured faster than OpenSSL's `RAND_bytes`
/// (performance-history.md, branch `tls-idle`), and set the version (4) and variant (RFC 4122/9562) bits.
public enum RandomUUID {
    /// A random version-4 UUID.
    public static func make() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var words = (generator.next() as UInt64, generator.next() as UInt64)
        return withUnsafeMutableBytes(of: &words) { bytes in
            bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
            bytes[8] = (bytes[8] & 0x3F) | 0x80  // variant 10
            return UUID(uuid: bytes.loadUnaligned(as: uuid_t.self))
        }
    }

    /// A random version-4 UUID in its lowercase 36-character text form, as the Azure SDKs write ids
    /// (`str(uuid4())`).
    public static func string() -> String { make().lowercasedString }
}

extension UUID {
    /// The lowercase 8-4-4-4-12 text form (`uuidString` is uppercase; this skips `lowercased()`'s second string).
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { text in
                var at = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    let byte = bytes[index]
                    text[at] = hexDigit(byte >> 4)
                    text[at + 1] = hexDigit(byte & 0x0F)
                    at += 2
                }
                return at
            }
        }
    }
}

@inline(__always)
private func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
}
