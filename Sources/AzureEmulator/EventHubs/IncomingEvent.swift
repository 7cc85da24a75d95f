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
        var section: [UInt8] = []
        appendSection(to: &section)
        return section
    }

    /// Appends `encodedSection()` to `bytes` in place: its length is worked out first, so the section is written
    /// once, straight into the stored event (no section, body or offset-string arrays of its own).
    func appendSection(to bytes: inout [UInt8]) {
        let sequenceLength = (-128...127).contains(sequenceNumber) ? 2 : 9
        let offsetDigits = Self.decimalDigits(offset)
        let keyLength = partitionKey.map { $0.utf8.count } ?? 0
        let bodyLength = self.bodyLength(offsetDigits: offsetDigits, keyLength: keyLength)
        let count: UInt8 = partitionKey == nil ? 6 : 8
        bytes.append(contentsOf: [0x00, 0x53, 0x72])
        if bodyLength + 1 <= 0xff {
            bytes.append(contentsOf: [0xc1, UInt8(bodyLength + 1), count])
        } else {
            bytes.append(0xd1)
            append32(&bytes, bodyLength + 4)
            append32(&bytes, Int(count))
        }
        func symbol(_ key: StaticString) {
            bytes.append(0xa3)
            bytes.append(UInt8(key.utf8CodeUnitCount))
            key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        }
        func stringHeader(_ length: Int) {
            if length <= 0xff {
                bytes.append(0xa1)
                bytes.append(UInt8(length))
            } else {
                bytes.append(0xb1)
                append32(&bytes, length)
            }
        }
        func fixed64(_ code: UInt8, _ value: Int64) {
            bytes.append(code)
            withUnsafeBytes(of: UInt64(bitPattern: value).bigEndian) { bytes.append(contentsOf: $0) }
        }
        symbol(Self.sequenceNumberKey)
        if sequenceLength == 2 {
            bytes.append(0x55)
            bytes.append(UInt8(bitPattern: Int8(truncatingIfNeeded: sequenceNumber)))
        } else {
            fixed64(0x81, sequenceNumber)
        }
        symbol(Self.offsetKey)
        stringHeader(offsetDigits)
        Self.appendDecimal(offset, digits: offsetDigits, to: &bytes)
        symbol(Self.enqueuedTimeKey)
        fixed64(0x83, enqueuedTime)
        if let partitionKey {
            symbol(Self.partitionKeyKey)
            stringHeader(keyLength)
            bytes.append(contentsOf: partitionKey.utf8)
        }
    }

    /// How many bytes `appendSection` appends.
    var encodedLength: Int {
        let body = bodyLength(offsetDigits: Self.decimalDigits(offset), keyLength: partitionKey.map { $0.utf8.count } ?? 0)
        return 3 + (body + 1 <= 0xff ? 3 : 9) + body
    }

    /// The length of the section's map body (its entries, without the map's constructor, size and count).
    private func bodyLength(offsetDigits: Int, keyLength: Int) -> Int {
        let sequenceLength = (-128...127).contains(sequenceNumber) ? 2 : 9
        var length = 2 + Self.sequenceNumberKey.utf8CodeUnitCount + sequenceLength
            + 2 + Self.offsetKey.utf8CodeUnitCount + Self.stringHeaderLength(offsetDigits) + offsetDigits
            + 2 + Self.enqueuedTimeKey.utf8CodeUnitCount + 9
        if partitionKey != nil {
            length += 2 + Self.partitionKeyKey.utf8CodeUnitCount + Self.stringHeaderLength(keyLength) + keyLength
        }
        return length
    }

    private static func stringHeaderLength(_ length: Int) -> Int { length <= 0xff ? 2 : 5 }

    /// How many characters `String(value)` has (a minus sign included).
    static func decimalDigits(_ value: Int64) -> Int {
        var digits = value < 0 ? 2 : 1
        var rest = value.magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// Appends `String(value).utf8` (`digits` from `decimalDigits(value)`) without building the string.
    static func appendDecimal(_ value: Int64, digits: Int, to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        if value < 0 { bytes[start] = UInt8(ascii: "-") }
        var rest = value.magnitude
        var index = start + digits - 1
        repeat {
            bytes[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
            index -= 1
        } while rest > 0
    }

    // Static strings: written with one copy from the binary, no array to retain and release per event (the
    // arrays these were cost 4 % of the emulator's samples under batches of 100).
    private static let sequenceNumberKey: StaticString = "x-opt-sequence-number"
    private static let offsetKey: StaticString = "x-opt-offset"
    private static let enqueuedTimeKey: StaticString = "x-opt-enqueued-time"
    private static let partitionKeyKey: StaticString = "x-opt-partition-key"
}

/// Appends `value` (a length or count, at most `UInt32.max` for anything an AMQP frame can carry) big-endian.
private func append32(_ bytes: inout [UInt8], _ value: Int) {
    EncodedAMQP.append32(&bytes, value)
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

    /// A single event: `encoded` (its bytes as sent, which decode to `message`) kept when it can be spliced,
    /// otherwise the decoded `message`. Empty `encoded` means the bytes are not at hand.
    init(single message: AMQPMessage, encoded: [UInt8]) {
        if !encoded.isEmpty, let at = Self.annotationsInsertionPoint(encoded) {
            self = .encoded(encoded, annotationsAt: at)
        } else {
            self = .decoded(message)
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
            // One allocation per stored event, of its final size: the stamp is written in place between the
            // event's sections.
            var stamped: [UInt8] = []
            stamped.reserveCapacity(bytes.count + stamp.encodedLength)
            stamped.append(contentsOf: bytes[..<at])
            stamp.appendSection(to: &stamped)
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
        guard start < bytes.count, bytes[start] != 0x00 else { return nil }
        return EncodedAMQP.end(bytes, at: start, limit: bytes.count)
    }
}
