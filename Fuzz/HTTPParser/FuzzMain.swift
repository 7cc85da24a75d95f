// libFuzzer entry point for ToolboxTransport's HTTP/1.1 parser; built by scripts/fuzz.sh.
//
// Each input is parsed as a request stream and as a response stream, fed in two pieces split where the first
// byte says, so both whole-buffer and incremental paths run. The parser may reject the input (that is what it
// is for); it must never crash, hang, or hand out more body bytes than it was given.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var limits = HTTPParserLimits()
    limits.maxLineLength = 256
    limits.maxHeaderBytes = 2048
    limits.maxHeaderCount = 32
    limits.maxBodyBytes = 1 << 16
    for kind in [HTTPParser.Kind.requests, .responses] {
        var parser = HTTPParser(parsing: kind, limits: limits)
        parser.nextResponseIsToHEAD = split % 7 == 0
        var bodyBytes = 0
        do {
            for piece in [bytes[..<split], bytes[split...]] {
                for event in try parser.feed(piece) {
                    if case .body(let chunk) = event { bodyBytes += chunk.count }
                }
            }
            for event in try parser.finish() {
                if case .body(let chunk) = event { bodyBytes += chunk.count }
            }
        } catch let error as TransportError {
            precondition(!error.message.isEmpty, "errors must explain themselves")
        } catch {
            preconditionFailure("the parser threw a non-TransportError: \(error)")
        }
        precondition(bodyBytes <= bytes.count, "the parser produced more body bytes than it received")
    }
    return 0
}
