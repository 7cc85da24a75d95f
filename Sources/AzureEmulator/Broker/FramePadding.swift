import ToolboxAMQP

/// Rewrites outgoing frames so every performative (and the errors, termini and outcomes inside it) lists all of
/// its fields, trailing nulls included.
///
/// The specification lets an encoder drop trailing null fields, and ToolboxAMQP does. Azure does not, and
/// pyamqp (the AMQP stack inside azure-eventhub and azure-servicebus) indexes fields positionally without bounds
/// checks (`frame[9]` of open, `frame[7]` of begin, `frame[2][2]` of a detach error) and appends a transfer's
/// payload after its fields, so a shortened list breaks it.
struct FramePadding {
    /// Field counts of the described lists pyamqp reads positionally (OASIS AMQP 1.0 parts 2, 3 and 5).
    static let fieldCounts: [UInt64: Int] = [
        0x10: 10, 0x11: 8, 0x12: 14, 0x13: 11, 0x14: 11, 0x15: 6, 0x16: 3, 0x17: 1, 0x18: 1,
        0x1d: 3, 0x28: 11, 0x29: 7, 0x23: 2, 0x25: 1, 0x27: 3,
        0x40: 1, 0x41: 3, 0x42: 1, 0x43: 1, 0x44: 2,
    ]

    /// `fieldCounts` by small-ulong descriptor code (0 where the code has no entry), for the byte-level path.
    static let smallCodeFieldCounts: [Int] = (0...255).map { fieldCounts[UInt64($0)] ?? 0 }

    /// The most padding adds to one frame: up to 11 nulls for a transfer's missing fields, a list8 header
    /// widened to a list32 (6 bytes), and padding inside a delivery state (an outcome and its error), doubled
    /// for margin.
    static let maxGrowth = 128

    private var buffer: [UInt8] = []
    /// Rewrites performatives; the default pads them (outgoing), `IncomingFrames` adjusts client attaches.
    var transform: @Sendable (AMQPValue) -> AMQPValue = { settleOutcomes(pad($0)) }
    /// True while `transform` is the default padding: frames are then padded on their bytes where
    /// `quickPad` can vouch for the result, and decoded only where it cannot.
    var padsInPlace = true
    /// Frames larger than this are passed through unread (and then everything after them), so a hostile size
    /// cannot make us buffer; the connection's own parser rejects such frames.
    var maxFrameSize = Int.max
    /// When set, only frames whose performative has one of these descriptor codes are decoded and transformed;
    /// the rest are copied through after a peek at their descriptor (incoming transfers are most of the traffic).
    var onlyCodes: Set<UInt8>?
    private var passthrough = false

    /// Feeds bytes written by the connection; returns the rewritten complete units (headers and frames).
    ///
    /// Bytes that need no change are not copied: when every complete unit passes unchanged and nothing was
    /// buffered, the input itself (or its complete prefix) is returned.
    mutating func rewrite(_ bytes: [UInt8]) -> [UInt8] {
        if passthrough { return bytes }
        let source: [UInt8]
        if buffer.isEmpty {
            source = bytes
        } else {
            buffer.append(contentsOf: bytes)
            source = buffer
            buffer = []
        }
        // nil while every unit so far passes unchanged (the output is then `source[..<start]`).
        var out: [UInt8]?
        var start = 0
        func emit(_ unit: ArraySlice<UInt8>, replacedBy replacement: [UInt8]?) {
            guard let replacement else {
                out?.append(contentsOf: unit)
                return
            }
            if out == nil {
                out = []
                out?.reserveCapacity(source.count + FramePadding.maxGrowth)
                out?.append(contentsOf: source[..<unit.startIndex])
            }
            out?.append(contentsOf: replacement)
        }
        while source.count - start >= 8 {
            if source[start] == 0x41, source[start + 1] == 0x4D, source[start + 2] == 0x51, source[start + 3] == 0x50 {
                emit(source[start..<start + 8], replacedBy: nil)  // "AMQP" protocol header
                start += 8
                continue
            }
            let size = EncodedAMQP.bigEndian32(source[...], at: start)
            if size < 8 || size > maxFrameSize {
                passthrough = true
                emit(source[start...], replacedBy: nil)
                return out ?? source
            }
            guard source.count - start >= size else { break }
            let frame = source[start..<start + size]
            if let onlyCodes, !FramePadding.mayHave(onlyCodes, frame) {
                emit(frame, replacedBy: nil)
            } else {
                switch padsInPlace ? FramePadding.quickPad(frame) : .undecided {
                case .unchanged: emit(frame, replacedBy: nil)
                case .padded(let padded): emit(frame, replacedBy: padded)
                case .undecided: emit(frame, replacedBy: FramePadding.rewrite(frame: Array(frame), transform))
                }
            }
            start += size
        }
        if start < source.count { buffer = Array(source[start...]) }
        if let out { return out }
        return start == source.count ? source : Array(source[..<start])
    }

    /// False only when the frame's performative is certainly not one of `codes` (a small-ulong descriptor,
    /// `00 53 xx`, naming another); anything unusual is decoded as before.
    static func mayHave(_ codes: Set<UInt8>, _ frame: ArraySlice<UInt8>) -> Bool {
        let base = frame.startIndex
        let body = base + Int(frame[base + 4]) * 4
        guard body + 2 < frame.endIndex, frame[body] == 0x00, frame[body + 1] == 0x53 else { return true }
        return codes.contains(frame[body + 2])
    }

    /// One frame with its performative padded; frames that cannot be read are passed on unchanged.
    static func pad(frame: [UInt8]) -> [UInt8] { rewrite(frame: frame) { settleOutcomes(pad($0)) } }

    /// One frame with its performative transformed; frames that cannot be read are passed on unchanged.
    static func rewrite(frame: [UInt8], _ transform: (AMQPValue) -> AMQPValue) -> [UInt8] {
        let headerLength = Int(frame[4]) * 4
        guard headerLength >= 8, frame.count > headerLength else { return frame }
        var decoder = AMQPDecoder(frame, range: headerLength..<frame.count)
        guard let performative = try? decoder.decodeValue() else { return frame }
        let padded = transform(performative)
        guard padded != performative else { return frame }
        let body = AMQPEncoder.encode(padded) + frame[decoder.position...]
        let size = headerLength + body.count
        var out = [UInt8(truncatingIfNeeded: size >> 24), UInt8(truncatingIfNeeded: size >> 16),
                   UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
        out.append(contentsOf: frame[4..<headerLength])
        out.append(contentsOf: body)
        return out
    }

    /// Our outcome for a client's delivery goes out settled, as Azure sends it: pyamqp senders attach with
    /// rcv-settle-mode `second` but wait for a settled disposition and never settle themselves (surprises.md 7).
    /// The receiving link keeps its record of such a delivery until the link detaches.
    static func settleOutcomes(_ value: AMQPValue) -> AMQPValue {
        guard case .described(.ulong(0x15), .list(var fields)) = value, fields.count >= 5 else { return value }
        if fields[0] == .bool(true), fields[3] != .bool(true), !fields[4].isNull {
            fields[3] = .bool(true)
        } else if fields[0] == .bool(false), case .described(.ulong(0x25), let rejected) = fields[4],
                  !isLockLost(rejected) {
            // Confirming a dead-letter: Azure answers a bare `rejected()`; pyamqp reads an error in it as a failed
            // settlement and retries through $management. A settlement refused for a lapsed lock keeps its error.
            fields[4] = .described(descriptor: .ulong(0x25), value: .list([.null]))
        } else {
            return value
        }
        return .described(descriptor: .ulong(0x15), value: .list(fields))
    }

    /// A `rejected` state's fields carrying `com.microsoft:message-lock-lost`.
    private static func isLockLost(_ rejected: AMQPValue) -> Bool {
        guard case .list(let fields) = rejected, case .described(_, .list(let error))? = fields.first,
            case .symbol(let condition)? = error.first
        else { return false }
        return condition.rawValue == "com.microsoft:message-lock-lost"
    }

    static func pad(_ value: AMQPValue) -> AMQPValue {
        guard case .described(.ulong(let code), .list(let fields)) = value, let count = fieldCounts[code] else { return value }
        var padded = fields.map(pad)
        if padded.count < count { padded += Array(repeating: .null, count: count - padded.count) }
        return .described(descriptor: .ulong(code), value: .list(padded))
    }
}

/// Incoming frames: a client's sender attach asking for rcv-settle-mode `second` is answered as `first`.
///
/// pyamqp senders ask for `second` but never settle after our outcome (they wait for a settled disposition,
/// which is what Azure sends), so the emulator's receiving link takes mode `first`: its outcomes go out settled
/// and it keeps no record of them.
enum IncomingFrames {
    static func make(maxFrameSize: Int) -> FramePadding {
        var rewriter = FramePadding()
        rewriter.maxFrameSize = maxFrameSize
        rewriter.transform = firstSettleModeForSenders
        rewriter.padsInPlace = false
        rewriter.onlyCodes = [0x12]  // attach: the only performative rewritten on the way in
        return rewriter
    }

    static func firstSettleModeForSenders(_ value: AMQPValue) -> AMQPValue {
        guard case .described(.ulong(0x12), .list(var fields)) = value, fields.count > 4, fields[2] == .bool(false),
            fields[4] == .ubyte(1)
        else { return value }
        fields[4] = .ubyte(0)
        return .described(descriptor: .ulong(0x12), value: .list(fields))
    }
}
