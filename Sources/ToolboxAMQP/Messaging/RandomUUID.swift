import Foundation

extension UUID {
    /// A random (version 4, RFC 9562) UUID from the system generator (`getrandom`).
    ///
    /// `UUID()` on Linux opens, reads and closes `/dev/urandom` for every identifier; a message-id or lock token
    /// per message made that about 8 % of a sending client's samples (performance-history.md, "Issue 20").
    package static func randomV4() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var words = (generator.next() as UInt64, generator.next() as UInt64)
        return withUnsafeMutableBytes(of: &words) { bytes in
            bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
            bytes[8] = (bytes[8] & 0x3F) | 0x80  // variant 10
            return UUID(uuid: bytes.loadUnaligned(as: uuid_t.self))
        }
    }
}
