/// What `FramePadding.quickPad` made of a frame.
enum QuickPadding: Equatable {
    /// The default transform leaves the frame as it is.
    case unchanged
    /// The frame as the default transform rewrites it, byte for byte.
    case padded([UInt8])
    /// Something this path does not vouch for: decode the performative (`FramePadding.rewrite(frame:_:)`).
    case undecided
}

extension FramePadding {
    /// `settleOutcomes(pad(_:))` applied to a frame's bytes without decoding it: the same bytes the decoding path
    /// gives, for the frames the emulator sends all the time (transfers, flows, dispositions that accept).
    ///
    /// The decoding path decoded every outgoing performative into `AMQPValue`s, padded, compared and re-encoded
    /// it: 8 % of the emulator's CPU under schedule-message load and more under single sends
    /// (performance-history.md, "Issue 20"). Here the performative's fields are only stepped over; missing trailing
    /// fields are appended as nulls and the list header is rewritten as `AMQPEncoder` writes it (list8 while the
    /// body and count fit a byte, else list32). Whatever would need more — a described field the padding recurses
    /// into (an error, terminus or outcome with fields of its own), a disposition `settleOutcomes` changes,
    /// a boolean encoded as `0x56`, an unusual constructor — is `.undecided`.
    static func quickPad(_ frame: ArraySlice<UInt8>) -> QuickPadding {
        let base = frame.startIndex
        let end = frame.endIndex
        guard frame.count >= 8 else { return .undecided }
        let headerLength = Int(frame[base + 4]) * 4
        guard headerLength >= 8, frame.count > headerLength else { return .unchanged }  // as `rewrite(frame:_:)`
        let performative = base + headerLength
        guard end - performative >= 4, frame[performative] == 0x00, frame[performative + 1] == 0x53 else {
            return .undecided
        }
        let code = frame[performative + 2]
        let expected = smallCodeFieldCounts[Int(code)]
        // A performative the padding does not list is left alone (`pad` returns it, `settleOutcomes` too).
        guard expected > 0 else { return .unchanged }
        let listAt = performative + 3
        // The list's field count, where its fields start and where it ends (its size counts the count's bytes).
        let count: Int
        let fieldsStart: Int
        let listEnd: Int
        switch frame[listAt] {
        case 0x45:
            count = 0
            fieldsStart = listAt + 1
            listEnd = fieldsStart
        case 0xc0:
            guard end - listAt >= 3 else { return .undecided }
            count = Int(frame[listAt + 2])
            fieldsStart = listAt + 3
            listEnd = listAt + 2 + Int(frame[listAt + 1])
        case 0xd0:
            guard end - listAt >= 9 else { return .undecided }
            count = EncodedAMQP.bigEndian32(frame, at: listAt + 5)
            fieldsStart = listAt + 9
            listEnd = listAt + 5 + EncodedAMQP.bigEndian32(frame, at: listAt + 1)
        default:
            return .undecided
        }
        guard fieldsStart <= listEnd, listEnd <= end else { return .undecided }
        // The fields `settleOutcomes` reads on a disposition: role, settled and state.
        var role: UInt8 = 0x40
        var settled: UInt8 = 0x40
        var state: UInt8 = 0x40
        var position = fieldsStart
        for index in 0..<count {
            guard position < listEnd else { return .undecided }
            let constructor = frame[position]
            if constructor == 0x00 {
                // Described: fine when its descriptor is a small ulong `pad` does not recurse into (accepted, released).
                guard listEnd - position >= 3, frame[position + 1] == 0x53,
                      smallCodeFieldCounts[Int(frame[position + 2])] == 0
                else { return .undecided }
            }
            switch index {
            case 0: role = constructor
            case 3: settled = constructor
            case 4: state = constructor
            default: break
            }
            guard let next = EncodedAMQP.end(frame, at: position, limit: listEnd) else { return .undecided }
            position = next
        }
        guard position == listEnd else { return .undecided }
        if code == 0x15 {
            // `settleOutcomes`: only booleans written as 0x41/0x42 (or absent, null) are read here.
            guard [0x40, 0x41, 0x42].contains(role), [0x40, 0x41, 0x42].contains(settled) else { return .undecided }
            if role == 0x41, settled != 0x41, state != 0x40 { return .undecided }
        }
        guard count < expected else { return .unchanged }
        let missing = expected - count
        let fieldBytes = listEnd - fieldsStart + missing
        var out: [UInt8] = []
        out.reserveCapacity(frame.count + missing + 9)
        out.append(contentsOf: [0, 0, 0, 0])  // the frame size, set below
        out.append(contentsOf: frame[(base + 4)..<listAt])
        if fieldBytes + 1 <= 0xff, expected <= 0xff {
            out.append(contentsOf: [0xc0, UInt8(fieldBytes + 1), UInt8(expected)])
        } else {
            out.append(0xd0)
            EncodedAMQP.append32(&out, fieldBytes + 4)
            EncodedAMQP.append32(&out, expected)
        }
        out.append(contentsOf: frame[fieldsStart..<listEnd])
        out.append(contentsOf: repeatElement(0x40, count: missing))
        out.append(contentsOf: frame[listEnd...])
        let size = out.count
        out[0] = UInt8(truncatingIfNeeded: size >> 24)
        out[1] = UInt8(truncatingIfNeeded: size >> 16)
        out[2] = UInt8(truncatingIfNeeded: size >> 8)
        out[3] = UInt8(truncatingIfNeeded: size)
        return .padded(out)
    }
}
