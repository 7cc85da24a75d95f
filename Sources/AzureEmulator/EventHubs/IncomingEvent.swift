import ToolboxAMQP

/// The annotations a partition stamps on each event it stores.
struct EventStamp {
    let sequenceNumber: Int64
    let offset: Int64
    let enqueuedTime: Int64
    let partitionKey: String?

    /// As map entries, in the order they are encoded.
    var entries: [AMQPMap.Entry] {
        var entries: [AMQPMap.Entry] = [
            .init(key: .symbol("x-opt-sequence-number"), value: .long(sequenceNumber)),
            .init(key: .symbol("x-opt-offset"), value: .string(String(offset))),
            .init(key: .symbol("x-opt-enqueued-time"), value: .timestamp(enqueuedTime)),
        ]
        if let partitionKey { entries.append(.init(key: .symbol("x-opt-partition-key"), value: .string(partitionKey))) }
        return entries
    }

    /// The message-annotations section of `entries`, written byte by byte: the same bytes `AMQPEncoder` gives
    /// for them (EventBatchStampingTests checks it), without building `AMQPValue`s — through the generic encoder
    /// this section was the largest cost of storing an event of a batch (performance-history.md, "Issue 20").
    func encodedSection() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(128)
        func symbol(_ bytes: [UInt8]) {
            body.append(0xa3)
            body.append(UInt8(bytes.count))
            body.append(contentsOf: bytes)
        }
        func string(_ text: String) {
            let utf8 = Array(text.utf8)
            if utf8.count <= 0xff {
                body.append(0xa1)
                body.append(UInt8(utf8.count))
            } else {
                body.append(0xb1)
                append32(&body, utf8.count)
            }
            body.append(contentsOf: utf8)
        }
        func fixed64(_ code: UInt8, _ value: Int64) {
            body.append(code)
            withUnsafeBytes(of: UInt64(bitPattern: value).bigEndian) { body.append(contentsOf: $0) }
        }
        symbol(Self.sequenceNumberKey)
        if (-128...127).contains(sequenceNumber) {
            body.append(0x55)
            body.append(UInt8(bitPattern: Int8(sequenceNumber)))
        } else {
            fixed64(0x81, sequenceNumber)
        }
        symbol(Self.offsetKey)
        string(String(offset))
        symbol(Self.enqueuedTimeKey)
        fixed64(0x83, enqueuedTime)
        var count = 6
        if let partitionKey {
            symbol(Self.partitionKeyKey)
            string(partitionKey)
            count = 8
        }
        var section: [UInt8] = [0x00, 0x53, 0x72]
        section.reserveCapacity(body.count + 12)
        if body.count + 1 <= 0xff {
            section += [0xc1, UInt8(body.count + 1), UInt8(count)]
        } else {
            section.append(0xd1)
            append32(&section, body.count + 4)
            append32(&section, count)
        }
        section.append(contentsOf: body)
        return section
    }

    private static let sequenceNumberKey = Array("x-opt-sequence-number".utf8)
    private static let offsetKey = Array("x-opt-offset".utf8)
    private static let enqueuedTimeKey = Array("x-opt-enqueued-time".utf8)
    private static let partitionKeyKey = Array("x-opt-partition-key".utf8)
}

/// Appends `value` (a length or count, at most `UInt32.max` for anything an AMQP frame can carry) big-endian.
private func append32(_ bytes: inout [UInt8], _ value: Int) {
    let clamped = UInt32(clamping: value)
    withUnsafeBytes(of: clamped.bigEndian) { bytes.append(contentsOf: $0) }
}

/// One event as a producer sent it, before the broker stamps its annotations.
enum IncomingEvent: Sendable {
    /// The producer's bytes, which carry no message-annotations section: the broker's is spliced in at
    /// `annotationsAt`, and nothing else is decoded or re-encoded. Producers put the partition key on the batch,
    /// not on its events, so this is how events of a batch arrive; decoding and re-encoding each one was most
    /// of the emulator's CPU per event under `toolbox bench eventhubs --batch-size 100`
    /// (performance-history.md, "Issue 20").
    case encoded([UInt8], annotationsAt: Int)
    /// A decoded message; the broker's annotations are merged into its own.
    case decoded(AMQPMessage)

    /// An event of a batch (one `data` section of it): kept as sent when its sections are well formed, in the
    /// specification's order and without message annotations; otherwise decoded (throwing when it cannot be).
    init(batchSection bytes: [UInt8]) throws {
        if let at = Self.annotationsInsertionPoint(bytes) {
            self = .encoded(bytes, annotationsAt: at)
        } else {
            self = .decoded(try AMQPMessage.decode(bytes))
        }
    }

    /// The encoded event with the stamp's annotations among its message annotations (replacing equal keys).
    func stamped(with stamp: EventStamp) -> [UInt8] {
        switch self {
        case .decoded(var message):
            var merged = message.messageAnnotations ?? AMQPMap()
            for entry in stamp.entries { merged[entry.key] = entry.value }
            message.messageAnnotations = merged
            return message.encode()
        case .encoded(let bytes, let at):
            let section = stamp.encodedSection()
            var stamped: [UInt8] = []
            stamped.reserveCapacity(bytes.count + section.count)
            stamped.append(contentsOf: bytes[..<at])
            stamped.append(contentsOf: section)
            stamped.append(contentsOf: bytes[at...])
            return stamped
        }
    }

    /// Where a message-annotations section goes in `bytes` (before the first section that follows it in the
    /// specification's order), or nil when `bytes` is not a sequence of sections this scan can vouch for: each a
    /// described value with a small-ulong descriptor 0x70...0x78 in non-decreasing order (data and sequence
    /// sections may repeat), every length within the bytes, and no message-annotations section already there.
    static func annotationsInsertionPoint(_ bytes: [UInt8]) -> Int? {
        var position = 0
        var previous: UInt8 = 0
        var insertion: Int?
        while position < bytes.count {
            guard bytes.count - position >= 4, bytes[position] == 0x00, bytes[position + 1] == 0x53 else { return nil }
            let code = bytes[position + 2]
            guard (0x70...0x78).contains(code), code != 0x72, code >= previous,
                  code != previous || code == 0x75 || code == 0x76 else { return nil }
            if code > 0x72, insertion == nil { insertion = position }
            previous = code
            guard let end = skipValue(bytes, at: position + 3) else { return nil }
            position = end
        }
        guard position > 0 else { return nil }
        return insertion ?? position
    }

    /// The index after the value whose constructor is at `start`, reading only its constructor and size; nil
    /// when it is described (no section value is) or its size runs past the bytes.
    private static func skipValue(_ bytes: [UInt8], at start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        let code = bytes[start]
        let body = start + 1
        let end: Int
        switch code {
        case 0x40...0x45: end = body
        case 0xa0, 0xa1, 0xa3, 0xc0, 0xc1, 0xe0:
            guard body < bytes.count else { return nil }
            end = body + 1 + Int(bytes[body])
        case 0xb0, 0xb1, 0xb3, 0xd0, 0xd1, 0xf0:
            guard bytes.count - body >= 4 else { return nil }
            let size = Int(bytes[body]) << 24 | Int(bytes[body + 1]) << 16 | Int(bytes[body + 2]) << 8 | Int(bytes[body + 3])
            end = body + 4 + size
        default:
            switch code >> 4 {
            case 0x5: end = body + 1
            case 0x6: end = body + 2
            case 0x7: end = body + 4
            case 0x8: end = body + 8
            case 0x9: end = body + 16
            default: return nil
            }
        }
        return end <= bytes.count ? end : nil
    }
}
