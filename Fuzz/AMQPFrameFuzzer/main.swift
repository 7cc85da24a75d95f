// libFuzzer target for the AMQP 1.0 frame parser: protocol header, frame header, performatives, SASL frames.
// Built by Fuzz/run.sh; any crash, hang or sanitizer report is a bug: hostile bytes must only ever throw.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAMQPFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // Both layers: the first byte picks whether the stream starts with a protocol header.
    var parser = AMQPFrameParser(maxFrameSize: 65536, limits: AMQPDecodingLimits(maxDepth: 32, maxElementCount: 4096))
    parser.append(bytes.dropFirst())
    do {
        if bytes.first.map({ $0 & 1 == 1 }) ?? false { _ = try parser.nextProtocolHeader() }
        while let frame = try parser.nextFrame() {
            // Every parsed frame re-encodes into one frame that parses back equal.
            var again = AMQPFrameParser(maxFrameSize: .max)
            again.append(frame.encode())
            if let reparsed = try again.nextFrame(), reparsed != frame, !"\(frame)".contains("nan") {
                fatalError("frame round trip changed \(frame) into \(reparsed)")
            }
        }
    } catch {
        // Rejecting hostile input with an error is the expected outcome.
    }
    return 0
}
