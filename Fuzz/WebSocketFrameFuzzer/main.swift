// libFuzzer entry point for ToolboxTransport's WebSocket frame decoder and the HTTP head parser that reads
// upgrade answers and proxy CONNECT answers; built by Fuzz/run.sh.
//
// Each input is decoded in both roles (masked frames expected, and not), fed in pieces split where the first
// byte says, under small limits. The decoder may reject the input with a typed error (that is what it is for); it
// must never crash, hang, hand out more payload than it was given, or return frames that break RFC 6455's rules.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let limits = WebSocketLimits(maxFramePayload: 4096, maxMessageSize: 8192)
    for expectMasked in [true, false] {
        var decoder = WebSocketFrameDecoder(expectMasked: expectMasked, limits: limits)
        var payloadBytes = 0
        do {
            for piece in [bytes[..<split], bytes[split...]] {
                decoder.feed(Array(piece))
                while let frame = try decoder.next() {
                    payloadBytes += frame.payload.count
                    precondition(frame.payload.count <= limits.maxFramePayload, "a frame over the limit was returned")
                    if frame.opcode.isControl {
                        precondition(frame.fin && frame.payload.count <= 125, "an invalid control frame was returned")
                    }
                    // What was decoded encodes back to a frame the decoder accepts again, unchanged.
                    var again = WebSocketFrameDecoder(expectMasked: expectMasked, limits: WebSocketLimits())
                    again.feed(frame.encoded(maskingKey: expectMasked ? [1, 2, 3, 4] : nil))
                    if frame.opcode == .continuation { continue }  // alone it is outside a message
                    let decodedAgain = try again.next()
                    precondition(decodedAgain == frame, "re-encoding changed the frame")
                }
            }
        } catch {
            precondition(error.code == .webSocketProtocolError || error.code == .webSocketFrameTooLarge,
                         "unexpected error code \(error.code)")
            precondition(!error.message.isEmpty, "errors must explain themselves")
        }
        precondition(payloadBytes <= bytes.count, "the decoder produced more payload than it received")
    }
    do {
        if let (head, used) = try HTTPHead.parse(bytes, limit: 2048, peer: "fuzz") {
            precondition(used <= bytes.count && !head.startLine.isEmpty, "a head larger than the input")
            _ = try? head.statusLine(peer: "fuzz")
            _ = head.headerContains("Connection", token: "upgrade")
        }
    } catch {
        precondition(!error.message.isEmpty, "errors must explain themselves")
    }
    return 0
}
