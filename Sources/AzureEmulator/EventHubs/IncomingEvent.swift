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

    /// Appends `encodedSection()` to `bytes` in place: its length is worked out first and the section is written
    /// through a pointer into scratch memory of that size, then appended with one copy (byte-wise `Array.append`,
    /// a uniqueness and capacity check per byte, was a third of the emulator's instructions per batched event).
    func appendSection(to bytes: inout [UInt8]) {
        let offsetDigits = Self.decimalDigits(offset)
        let keyLength = partitionKey.map { $0.utf8.count } ?? 0
        let bodyLength = self.bodyLength(offsetDigits: offsetDigits, keyLength: keyLength)
        let total = 3 + (bodyLength + 1 <= 0xff ? 3 : 9) + bodyLength
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: total) { scratch in
            var out = SectionWriter(base: scratch.baseAddress!, capacity: total)
            out.put(0x00, 0x53, 0x72)
            let count: UInt8 = partitionKey == nil ? 6 : 8
            if bodyLength + 1 <= 0xff {
                out.put(0xc1, UInt8(bodyLength + 1), count)
            } else {
                out.put(0xd1)
                out.put32(bodyLength + 4)
                out.put32(Int(count))
            }
            out.put(symbol: Self.sequenceNumberKey)
            if (-128...127).contains(sequenceNumber) {
                out.put(0x55, UInt8(bitPattern: Int8(truncatingIfNeeded: sequenceNumber)))
            } else {
                out.put(0x81)
                out.put64(UInt64(bitPattern: sequenceNumber))
            }
            out.put(symbol: Self.offsetKey)
            out.putStringHeader(offsetDigits)
            out.putDecimal(offset, digits: offsetDigits)
            out.put(symbol: Self.enqueuedTimeKey)
            out.put(0x83)
            out.put64(UInt64(bitPattern: enqueuedTime))
            if var key = partitionKey {
                out.put(symbol: Self.partitionKeyKey)
                out.putStringHeader(keyLength)
                key.withUTF8 { out.put(contentsOf: $0) }
            }
            guard !out.overflowed, out.written == total else {
                // Unreachable while `bodyLength` and the writes agree; then the generic encoder still gets it right.
                assertionFailure("the stamp's length was worked out wrong")
                return bytes.append(contentsOf: AMQPEncoder.encode(.described(descriptor: .ulong(0x72),
                                                                               value: .map(AMQPMap(entries)))))
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<total]))
        }
    }

    /// Writes the section's bytes through a pointer to memory of the section's worked-out length; a write that
    /// would pass `capacity` is dropped and marks the writer `overflowed`.
    private struct SectionWriter {
        let base: UnsafeMutablePointer<UInt8>
        let capacity: Int
        private(set) var written = 0
        private(set) var overflowed = false

        init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
            self.base = base
            self.capacity = capacity
        }

        /// Whether `count` more bytes fit; marks the overflow when not.
        @inline(__always)
        private mutating func fits(_ count: Int) -> Bool {
            if count <= capacity - written { return true }
            overflowed = true
            return false
        }

        @inline(__always)
        mutating func put(_ byte: UInt8) {
            guard fits(1) else { return }
            base[written] = byte
            written += 1
        }

        @inline(__always)
        mutating func put(_ first: UInt8, _ second: UInt8) {
            put(first)
            put(second)
        }

        @inline(__always)
        mutating func put(_ first: UInt8, _ second: UInt8, _ third: UInt8) {
            put(first)
            put(second)
            put(third)
        }

        @inline(__always)
        mutating func put(contentsOf buffer: UnsafeBufferPointer<UInt8>) {
            guard let source = buffer.baseAddress, buffer.count > 0, fits(buffer.count) else { return }
            (base + written).update(from: source, count: buffer.count)
            written += buffer.count
        }

        @inline(__always)
        mutating func put(symbol key: StaticString) {
            put(0xa3, UInt8(key.utf8CodeUnitCount))
            key.withUTF8Buffer { put(contentsOf: $0) }
        }

        /// A length or count, big-endian (clamped as `EncodedAMQP.append32`: nothing an AMQP frame carries is larger).
        @inline(__always)
        mutating func put32(_ value: Int) {
            let clamped = UInt32(clamping: value)
            put(UInt8(truncatingIfNeeded: clamped >> 24), UInt8(truncatingIfNeeded: clamped >> 16))
            put(UInt8(truncatingIfNeeded: clamped >> 8), UInt8(truncatingIfNeeded: clamped))
        }

        @inline(__always)
        mutating func put64(_ value: UInt64) {
            put32(Int(value >> 32))
            put32(Int(value & 0xffff_ffff))
        }

        @inline(__always)
        mutating func putStringHeader(_ length: Int) {
            if length <= 0xff {
                put(0xa1, UInt8(length))
            } else {
                put(0xb1)
                put32(length)
            }
        }

        /// `String(value).utf8` (`digits` from `EventStamp.decimalDigits(value)`), written from the last digit back.
        @inline(__always)
        mutating func putDecimal(_ value: Int64, digits: Int) {
            guard digits > 0, fits(digits) else { return }
            var rest = value.magnitude
            var index = written + digits - 1
            repeat {
                base[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
                index -= 1
            } while rest > 0 && index >= written
            if value < 0 { base[written] = UInt8(ascii: "-") }
            written += digits
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

    // Static strings: written with one copy from the binary, no array to retain and release per event (the
    // arrays these were cost 4 % of the emulator's samples under batches of 100).
    private static let sequenceNumberKey: StaticString = "x-opt-sequence-number"
    private static let offsetKey: StaticString = "x-opt-offset"
    private static let enqueuedTimeKey: StaticString = "x-opt-enqueued-time"
    private static let partitionKeyKey: StaticString = "x-opt-partition-key"
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
