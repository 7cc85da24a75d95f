import ToolboxAMQP

extension AMQPValue {
    /// A message-id or correlation-id (AMQP allows ulong, uuid, binary or string) as the text the clients expose:
    /// a string as it is, a uuid in lowercase, a ulong in decimal, and binary decoded as UTF-8 — as
    /// azure-servicebus and azure-eventhub do — or, when it is not valid UTF-8, as lowercase hex (it read as nil,
    /// and `toolbox servicebus receive` printed `null`). nil for any other type (a peer's protocol violation).
    package var messageIdentifierText: String? {
        switch self {
        case .string(let text): return text
        case .uuid(let uuid): return uuid.uuidString.lowercased()
        case .ulong(let number): return String(number)
        case .binary(let bytes):
            if let text = String(validating: bytes, as: UTF8.self) { return text }
            let digits = Array("0123456789abcdef".utf8)
            var hex: [UInt8] = []
            hex.reserveCapacity(bytes.count * 2)
            for byte in bytes {
                hex.append(digits[Int(byte >> 4)])
                hex.append(digits[Int(byte & 0x0f)])
            }
            return String(decoding: hex, as: UTF8.self)
        default: return nil
        }
    }
}
