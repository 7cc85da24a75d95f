import Foundation

/// Service Bus lock tokens travel as 16-byte delivery tags in .NET GUID byte order (the first three groups
/// little-endian); the SDKs read them with `uuid.UUID(bytes_le=tag)` and send them back as AMQP uuids.
enum LockToken {
    static func deliveryTag(_ token: UUID) -> [UInt8] {
        let b = withUnsafeBytes(of: token.uuid) { Array($0) }
        return [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] + b[8...]
    }

    static func token(fromDeliveryTag tag: [UInt8]) -> UUID? {
        guard tag.count == 16 else { return nil }
        let b = [tag[3], tag[2], tag[1], tag[0], tag[5], tag[4], tag[7], tag[6]] + tag[8...]
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}
