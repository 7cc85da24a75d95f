import ToolboxCore

extension ToolboxError.Code {
    /// The WebSocket peer broke RFC 6455 (bad frame header, unmasked client frame, oversized control frame, …).
    public static let webSocketProtocolError = Self("webSocketProtocolError", defaultRecovery: .rebuildConnection)
    /// A WebSocket frame or message is larger than the configured limit.
    public static let webSocketFrameTooLarge = Self("webSocketFrameTooLarge", defaultRecovery: .rebuildConnection)
    /// The server answered the WebSocket upgrade with something other than `101 Switching Protocols`, or a 101
    /// that does not prove it understood the request (accept key, subprotocol). `HTTPRefusal` is the
    /// underlying error, with the status and headers.
    public static let webSocketUpgradeRefused = Self("webSocketUpgradeRefused")
    /// The peer closed the WebSocket with a close frame whose code is not 1000 (normal closure).
    public static let webSocketClosed = Self("webSocketClosed", defaultRecovery: .rebuildConnection)
}

/// One WebSocket frame (RFC 6455 §5.2).
public struct WebSocketFrame: Equatable, Sendable {
    /// The frame's opcode (§5.2: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).
    public struct Opcode: RawRepresentable, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let continuation = Opcode(rawValue: 0x0)
        public static let text = Opcode(rawValue: 0x1)
        public static let binary = Opcode(rawValue: 0x2)
        public static let close = Opcode(rawValue: 0x8)
        public static let ping = Opcode(rawValue: 0x9)
        public static let pong = Opcode(rawValue: 0xA)
        /// Close, ping and pong: at most 125 bytes of payload, never fragmented (§5.5).
        public var isControl: Bool { rawValue & 0x8 != 0 }
        var isKnown: Bool { [0x0, 0x1, 0x2, 0x8, 0x9, 0xA].contains(rawValue) }
    }

    public var fin: Bool
    public var opcode: Opcode
    /// The unmasked payload.
    public var payload: [UInt8]

    public init(fin: Bool = true, opcode: Opcode, payload: [UInt8]) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
    }

    /// The frame's bytes; with `maskingKey` (a client's frames must be masked, §5.3) the payload is masked with it.
    public func encoded(maskingKey: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 14)
        out.append((fin ? 0x80 : 0) | (opcode.rawValue & 0x0F))
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        let count = payload.count
        if count < 126 {
            out.append(maskBit | UInt8(truncatingIfNeeded: count))
        } else if count <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(truncatingIfNeeded: count >> 8))
            out.append(UInt8(truncatingIfNeeded: count))
        } else {
            out.append(maskBit | 127)
            let length = UInt64(count)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        }
        guard let key = maskingKey, key.count == 4 else {
            out.append(contentsOf: payload)
            return out
        }
        out.append(contentsOf: key)
        let headerCount = out.count
        out.append(contentsOf: payload)
        let mask = (key[0], key[1], key[2], key[3])
        out.withUnsafeMutableBufferPointer { bytes in
            var index = headerCount
            var phase = 0
            while index < bytes.count {
                switch phase {
                case 0: bytes[index] ^= mask.0
                case 1: bytes[index] ^= mask.1
                case 2: bytes[index] ^= mask.2
                default: bytes[index] ^= mask.3
                }
                phase = (phase + 1) & 3
                index += 1
            }
        }
        return out
    }

    /// A close frame's payload: the status code, then a UTF-8 reason cut to fit 125 bytes.
    public static func closePayload(code: UInt16, reason: String = "") -> [UInt8] {
        [UInt8(truncatingIfNeeded: code >> 8), UInt8(truncatingIfNeeded: code)] + Array(reason.utf8.prefix(123))
    }
}

/// Limits a `WebSocketFrameDecoder` enforces on what the peer sends.
public struct WebSocketLimits: Sendable {
    /// Largest payload of one frame. Default 16 MiB (AMQP frames over the socket are at most the negotiated
    /// max-frame-size, 64 KiB for the clients here; the service itself sends frames of up to 256 KiB).
    public var maxFramePayload = 16 << 20
    /// Largest message (all fragments together). Default 64 MiB.
    public var maxMessageSize = 64 << 20

    public init(maxFramePayload: Int = 16 << 20, maxMessageSize: Int = 64 << 20) {
        self.maxFramePayload = maxFramePayload
        self.maxMessageSize = maxMessageSize
    }
}

/// Decodes the frames of one direction of a WebSocket from bytes as they arrive, checking RFC 6455's rules:
/// reserved bits clear (no extension is negotiated), known opcodes, control frames short and unfragmented,
/// continuation frames only inside a fragmented message, masking as the role requires, lengths in their
/// shortest form, and `WebSocketLimits`. Any violation throws a `ToolboxError` naming it; the stream is then
/// unusable (the connection fails it with close code 1002 or 1009).
///
/// Data frames are returned as they are (fragments included); `messageComplete` tells whether the last one
/// finished a message.
public struct WebSocketFrameDecoder: Sendable {
    /// Whether the peer's frames must be masked (a server decoding a client) or must not be (a client).
    public let expectMasked: Bool
    public let limits: WebSocketLimits
    private var buffer: [UInt8] = []
    private var start = 0
    /// The opcode of the fragmented message in progress, and its size so far.
    private var messageOpcode: WebSocketFrame.Opcode?
    private var messageSize = 0

    public init(expectMasked: Bool, limits: WebSocketLimits = WebSocketLimits()) {
        self.expectMasked = expectMasked
        self.limits = limits
    }

    /// Bytes received but not yet part of a whole frame.
    public var bufferedCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func feed(_ bytes: [UInt8]) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65536, start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, nil when more bytes are needed.
    public mutating func next() throws(ToolboxError) -> WebSocketFrame? {
        let available = buffer.count - start
        guard available >= 2 else { return nil }
        let first = buffer[start], second = buffer[start + 1]
        guard first & 0x70 == 0 else {
            throw Self.violation("a frame has reserved bits set (0x\(String(first, radix: 16))) but no extension was negotiated")
        }
        let opcode = WebSocketFrame.Opcode(rawValue: first & 0x0F)
        guard opcode.isKnown else { throw Self.violation("unknown opcode \(opcode.rawValue)") }
        let fin = first & 0x80 != 0
        let masked = second & 0x80 != 0
        guard masked == expectMasked else {
            throw Self.violation(expectMasked ? "a client frame is not masked" : "a server frame is masked")
        }
        var headerLength = 2
        var length = UInt64(second & 0x7F)
        if length == 126 {
            guard available >= 4 else { return nil }
            length = UInt64(buffer[start + 2]) << 8 | UInt64(buffer[start + 3])
            headerLength = 4
            guard length >= 126 else { throw Self.violation("a 16-bit length of \(length) is not in its shortest form") }
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = 0
            for index in 2..<10 { length = length << 8 | UInt64(buffer[start + index]) }
            headerLength = 10
            guard length >> 63 == 0 else { throw Self.violation("a 64-bit length has its most significant bit set") }
            guard length > 0xFFFF else { throw Self.violation("a 64-bit length of \(length) is not in its shortest form") }
        }
        if opcode.isControl {
            guard fin else { throw Self.violation("a control frame (opcode \(opcode.rawValue)) is fragmented") }
            guard length <= 125 else {
                throw Self.violation("a control frame (opcode \(opcode.rawValue)) carries \(length) bytes; at most 125 are allowed")
            }
        }
        guard let payloadLength = Int(exactly: length), payloadLength <= limits.maxFramePayload else {
            throw ToolboxError(.webSocketFrameTooLarge,
                               "a WebSocket frame of \(length) bytes exceeds the limit of \(limits.maxFramePayload)")
        }
        if !opcode.isControl {
            if opcode == .continuation {
                guard messageOpcode != nil else { throw Self.violation("a continuation frame arrived outside a fragmented message") }
            } else if messageOpcode != nil {
                throw Self.violation("a new data frame (opcode \(opcode.rawValue)) arrived inside a fragmented message")
            }
            let (total, overflow) = messageSize.addingReportingOverflow(payloadLength)
            guard !overflow, total <= limits.maxMessageSize else {
                throw ToolboxError(.webSocketFrameTooLarge,
                                   "a WebSocket message exceeds the limit of \(limits.maxMessageSize) bytes")
            }
        }
        let maskLength = masked ? 4 : 0
        guard available - headerLength - maskLength >= payloadLength else { return nil }
        let maskStart = start + headerLength
        let payloadStart = maskStart + maskLength
        var payload = Array(buffer[payloadStart..<(payloadStart + payloadLength)])
        if masked {
            let key = (buffer[maskStart], buffer[maskStart + 1], buffer[maskStart + 2], buffer[maskStart + 3])
            payload.withUnsafeMutableBufferPointer { bytes in
                for index in bytes.indices {
                    switch index & 3 {
                    case 0: bytes[index] ^= key.0
                    case 1: bytes[index] ^= key.1
                    case 2: bytes[index] ^= key.2
                    default: bytes[index] ^= key.3
                    }
                }
            }
        }
        start = payloadStart + payloadLength
        if !opcode.isControl {
            if fin {
                messageOpcode = nil
                messageSize = 0
            } else {
                if opcode != .continuation { messageOpcode = opcode }
                messageSize += payloadLength
            }
        }
        return WebSocketFrame(fin: fin, opcode: opcode, payload: payload)
    }

    /// Whether no fragmented message is in progress (the last data frame had FIN set).
    public var messageComplete: Bool { messageOpcode == nil }

    static func violation(_ text: String) -> ToolboxError {
        ToolboxError(.webSocketProtocolError, "WebSocket protocol violation: \(text)")
    }
}
