/// Splits an incoming byte stream into protocol headers and frames, enforcing the frame size limit.
///
/// ```swift
/// var parser = AMQPFrameParser(maxFrameSize: 65536)
/// parser.append(bytesFromSocket)
/// while let frame = try parser.nextFrame() { handle(frame) }
/// ```
///
/// A frame that declares more than `maxFrameSize` bytes fails before its body is buffered, so a hostile
/// size cannot make us allocate.
public struct AMQPFrameParser: Sendable {
    /// Largest frame accepted (our advertised max-frame-size).
    public var maxFrameSize: UInt32
    public var limits: AMQPDecodingLimits
    private var buffer: [UInt8] = []
    private var start = 0

    /// The largest frame either side may send before the peer's `open` arrived (MIN-MAX-FRAME-SIZE, AMQP 1.0
    /// §2.4.1): SASL frames and the open itself. A connection raises its parser's limit once the open is in.
    public static let preOpenMaxFrameSize: UInt32 = 512

    public init(maxFrameSize: UInt32, limits: AMQPDecodingLimits = .default) {
        self.maxFrameSize = maxFrameSize
        self.limits = limits
    }

    /// Bytes received and not yet consumed.
    public var bufferedCount: Int { buffer.count - start }

    /// The capacity of the buffer held (tests: an idle parser holds none).
    var heldCapacity: Int { buffer.capacity }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        // Compact lazily so a stream of small frames does not shift the buffer on every frame.
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Appends a received array; with nothing left over from earlier reads it becomes the buffer as it is (no
    /// copy: it is usually the socket read's own array).
    public mutating func append(_ bytes: [UInt8]) {
        guard start == buffer.count else { return append(bytes[...]) }
        buffer = bytes
        start = 0
    }

    /// Once every buffered byte is consumed the buffer is let go, so an idle connection holds no copy of what it
    /// read last (a read can be 256 KiB).
    private mutating func releaseIfConsumed() {
        if start == buffer.count, !buffer.isEmpty {
            buffer = []
            start = 0
        }
    }

    /// The next 8-byte protocol header, or nil if fewer than 8 bytes are buffered.
    public mutating func nextProtocolHeader() throws -> AMQPProtocolHeader? {
        guard bufferedCount >= 8 else {
            releaseIfConsumed()
            return nil
        }
        let header = try AMQPProtocolHeader(bytes: buffer[start..<(start + 8)])
        start += 8
        return header
    }

    /// The next complete frame, or nil if more bytes are needed.
    public mutating func nextFrame() throws -> AMQPFrame? {
        guard bufferedCount >= 8 else {
            releaseIfConsumed()
            return nil
        }
        var size: UInt32 = 0
        for i in 0..<4 { size = size << 8 | UInt32(buffer[start + i]) }
        let doff = Int(buffer[start + 4])
        let type = buffer[start + 5]
        let channel = UInt16(buffer[start + 6]) << 8 | UInt16(buffer[start + 7])
        guard size >= 8 else { throw AMQPError(.framing, "frame size \(size) is smaller than its header") }
        guard size <= maxFrameSize else {
            throw AMQPError(.limitExceeded, "frame of \(size) bytes exceeds max-frame-size \(maxFrameSize)")
        }
        guard doff >= 2, doff * 4 <= Int(size) else {
            throw AMQPError(.framing, "invalid data offset \(doff) for a frame of \(size) bytes")
        }
        guard bufferedCount >= Int(size) else { return nil }
        let bodyStart = start + doff * 4
        let frameEnd = start + Int(size)
        start = frameEnd
        switch type {
        case 0:
            if bodyStart == frameEnd { return .heartbeat }
            var decoder = AMQPDecoder(buffer, range: bodyStart..<frameEnd, limits: limits)
            let performative = try AMQPPerformative(try decoder.decodeValue())
            let payload = decoder.isAtEnd ? [] : Array(buffer[decoder.position..<frameEnd])
            if !payload.isEmpty, case .transfer = performative {} else if !payload.isEmpty {
                throw AMQPError(.framing, "\(performative.name) frame carries \(payload.count) unexpected bytes")
            }
            return .amqp(channel: channel, performative: performative, payload: payload)
        case 1:
            var decoder = AMQPDecoder(buffer, range: bodyStart..<frameEnd, limits: limits)
            let body = try AMQPSASLPerformative(try decoder.decodeValue())
            guard decoder.isAtEnd else { throw AMQPError(.framing, "SASL frame has trailing bytes") }
            return .sasl(body)
        default:
            throw AMQPError(.framing, "unknown frame type \(type)")
        }
    }
}
