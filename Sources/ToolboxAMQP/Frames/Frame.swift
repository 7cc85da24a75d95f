/// One AMQP performative: the body of an AMQP frame (type 0x00).
public enum AMQPPerformative: Hashable, Sendable {
    case open(AMQPOpen)
    case begin(AMQPBegin)
    case attach(AMQPAttach)
    case flow(AMQPFlow)
    case transfer(AMQPTransfer)
    case disposition(AMQPDisposition)
    case detach(AMQPDetach)
    /// `end` (0x17) with an optional error.
    case end(AMQPRemoteError?)
    /// `close` (0x18) with an optional error.
    case close(AMQPRemoteError?)

    init(_ value: AMQPValue) throws {
        let (code, inner) = try value.describedParts(
            orThrow: AMQPError(.framing, "frame body is not a performative: \(value)"))
        switch code {
        case 0x10: self = .open(try AMQPOpen(FieldReader("open", inner)))
        case 0x11: self = .begin(try AMQPBegin(FieldReader("begin", inner)))
        case 0x12: self = .attach(try AMQPAttach(FieldReader("attach", inner)))
        case 0x13: self = .flow(try AMQPFlow(FieldReader("flow", inner)))
        case 0x14: self = .transfer(try AMQPTransfer(FieldReader("transfer", inner)))
        case 0x15: self = .disposition(try AMQPDisposition(FieldReader("disposition", inner)))
        case 0x16: self = .detach(try AMQPDetach(FieldReader("detach", inner)))
        case 0x17: self = .end(try FieldReader("end", inner).error(0, "error"))
        case 0x18: self = .close(try FieldReader("close", inner).error(0, "error"))
        default: throw AMQPError(.framing, "unknown performative descriptor 0x\(String(code, radix: 16))")
        }
    }

    var encoded: AMQPValue {
        switch self {
        case .open(let p): return describedList(0x10, p.fields)
        case .begin(let p): return describedList(0x11, p.fields)
        case .attach(let p): return describedList(0x12, p.fields)
        case .flow(let p): return describedList(0x13, p.fields)
        case .transfer(let p): return describedList(0x14, p.fields)
        case .disposition(let p): return describedList(0x15, p.fields)
        case .detach(let p): return describedList(0x16, p.fields)
        case .end(let e): return describedList(0x17, [e?.encoded ?? .null])
        case .close(let e): return describedList(0x18, [e?.encoded ?? .null])
        }
    }

    /// Short name for logs (never includes payloads or secrets).
    public var name: String {
        switch self {
        case .open: return "open"
        case .begin: return "begin"
        case .attach: return "attach"
        case .flow: return "flow"
        case .transfer: return "transfer"
        case .disposition: return "disposition"
        case .detach: return "detach"
        case .end: return "end"
        case .close: return "close"
        }
    }
}

/// SASL outcome codes (`sasl-code`).
public enum AMQPSASLCode: UInt8, Sendable {
    case ok = 0, auth = 1, sys = 2, sysPerm = 3, sysTemp = 4
}

/// One SASL frame body (type 0x01).
public enum AMQPSASLPerformative: Hashable, Sendable {
    case mechanisms([AMQPSymbol])
    /// `initial-response` carries credentials: it is excluded from `description`.
    case initialize(mechanism: AMQPSymbol, initialResponse: [UInt8]?, hostname: String?)
    case challenge([UInt8])
    case response([UInt8])
    case outcome(code: AMQPSASLCode, additionalData: [UInt8]?)

    init(_ value: AMQPValue) throws {
        let (code, inner) = try value.describedParts(
            orThrow: AMQPError(.framing, "SASL frame body is not a SASL performative: \(value)"))
        switch code {
        case 0x40:
            let f = try FieldReader("sasl-mechanisms", inner)
            self = .mechanisms(try f.required(f.symbols(0, "sasl-server-mechanisms"), 0, "sasl-server-mechanisms"))
        case 0x41:
            let f = try FieldReader("sasl-init", inner)
            self = .initialize(
                mechanism: try f.required(f.symbol(0, "mechanism"), 0, "mechanism"),
                initialResponse: try f.binary(1, "initial-response"), hostname: try f.string(2, "hostname"))
        case 0x42:
            let f = try FieldReader("sasl-challenge", inner)
            self = .challenge(try f.required(f.binary(0, "challenge"), 0, "challenge"))
        case 0x43:
            let f = try FieldReader("sasl-response", inner)
            self = .response(try f.required(f.binary(0, "response"), 0, "response"))
        case 0x44:
            let f = try FieldReader("sasl-outcome", inner)
            let raw = try f.required(f.ubyte(0, "code"), 0, "code")
            guard let outcome = AMQPSASLCode(rawValue: raw) else {
                throw AMQPError(.decoding, "sasl-outcome has invalid code \(raw)")
            }
            self = .outcome(code: outcome, additionalData: try f.binary(1, "additional-data"))
        default: throw AMQPError(.framing, "unknown SASL descriptor 0x\(String(code, radix: 16))")
        }
    }

    var encoded: AMQPValue {
        switch self {
        case .mechanisms(let m): return describedList(0x40, [.array(.symbols(m))])
        case .initialize(let mechanism, let response, let hostname):
            return describedList(0x41, [
                .symbol(mechanism), .optional(response) { .binary($0) }, .optional(hostname) { .string($0) },
            ])
        case .challenge(let b): return describedList(0x42, [.binary(b)])
        case .response(let b): return describedList(0x43, [.binary(b)])
        case .outcome(let code, let data): return describedList(0x44, [.ubyte(code.rawValue), .optional(data) { .binary($0) }])
        }
    }
}

/// A frame: an AMQP performative on a channel (with the transfer payload), a SASL performative, or an empty
/// frame (heartbeat).
public enum AMQPFrame: Hashable, Sendable {
    case amqp(channel: UInt16, performative: AMQPPerformative, payload: [UInt8])
    case sasl(AMQPSASLPerformative)
    /// An AMQP frame with no body: a keep-alive.
    case heartbeat

    /// Shorthand for a performative without payload.
    public static func amqp(_ channel: UInt16, _ performative: AMQPPerformative) -> AMQPFrame {
        .amqp(channel: channel, performative: performative, payload: [])
    }

    /// The frame's bytes: 8-byte header (size, doff=2, type, channel), body, payload.
    public func encode() -> [UInt8] {
        var encoder = AMQPEncoder(reservingCapacity: 64)
        encoder.append(raw: [0, 0, 0, 0, 2])
        switch self {
        case .heartbeat:
            encoder.append(raw: [0, 0, 0])
        case .sasl(let body):
            encoder.append(raw: [1, 0, 0])
            encoder.encode(body.encoded)
        case .amqp(let channel, let performative, let payload):
            encoder.append(raw: [0, UInt8(channel >> 8), UInt8(channel & 0xff)])
            encoder.encode(performative.encoded)
            encoder.append(raw: payload)
        }
        var bytes = encoder.bytes
        let size = UInt32(bytes.count)
        bytes[0] = UInt8(size >> 24)
        bytes[1] = UInt8((size >> 16) & 0xff)
        bytes[2] = UInt8((size >> 8) & 0xff)
        bytes[3] = UInt8(size & 0xff)
        return bytes
    }

    /// Encoded size of a transfer frame header + performative, without payload (for splitting).
    static func overhead(of performative: AMQPPerformative) -> Int {
        AMQPFrame.amqp(0, performative).encode().count
    }
}

/// The 8-byte protocol header that starts each protocol layer.
public enum AMQPProtocolHeader: UInt8, Sendable {
    /// `AMQP 0 1 0 0`.
    case amqp = 0
    /// `AMQP 2 1 0 0`.
    case tls = 2
    /// `AMQP 3 1 0 0`.
    case sasl = 3

    public var bytes: [UInt8] { [0x41, 0x4d, 0x51, 0x50, rawValue, 1, 0, 0] }

    /// Parses a header, failing on anything that is not AMQP 1.0.0.
    public init(bytes: ArraySlice<UInt8>) throws {
        guard bytes.count == 8, Array(bytes.prefix(4)) == [0x41, 0x4d, 0x51, 0x50] else {
            throw AMQPError(.framing, "peer did not send an AMQP protocol header")
        }
        let rest = Array(bytes.dropFirst(4))
        guard rest[1] == 1, rest[2] == 0, rest[3] == 0, let id = AMQPProtocolHeader(rawValue: rest[0]) else {
            throw AMQPError(.framing, "peer offers unsupported protocol \(rest.map(String.init).joined(separator: "."))")
        }
        self = id
    }
}
