// libFuzzer target for the AMQP 1.0 type decoder and message-section decoder.
// Built by Fuzz/run.sh; any crash, hang or sanitizer report is a bug: hostile bytes must only ever throw.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAMQPTypes(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = AMQPDecodingLimits(maxDepth: 32, maxElementCount: 4096)
    if let value = try? AMQPDecoder.decode(bytes, limits: limits) {
        // Whatever decodes must re-encode to bytes that decode to the same value.
        let again = try? AMQPDecoder.decode(AMQPEncoder.encode(value), limits: AMQPDecodingLimits(maxDepth: 64, maxElementCount: 1 << 20))
        if again != value, !containsNaN(value) {
            fatalError("round trip changed \(value) into \(String(describing: again))")
        }
    }
    if let message = try? AMQPMessage.decode(bytes, limits: limits) {
        _ = try? AMQPMessage.decode(message.encode())
    }
    return 0
}

/// NaN never equals itself, so values holding one cannot be compared after a round trip.
func containsNaN(_ value: AMQPValue) -> Bool {
    switch value {
    case .float(let f): return f.isNaN
    case .double(let d): return d.isNaN
    case .list(let items): return items.contains(where: containsNaN)
    case .map(let map): return map.entries.contains { containsNaN($0.key) || containsNaN($0.value) }
    case .array(let array): return array.elements.contains(where: containsNaN) || (array.descriptor.map(containsNaN) ?? false)
    case .described(let d, let v): return containsNaN(d) || containsNaN(v)
    default: return false
    }
}
