import Dispatch
import ToolboxCore

extension TCPConnection {
    /// Moves whatever the socket still holds into `inbound` (decrypting it with TLS) before the connection fails
    /// with a reset. Runs on `queue`, only from `fail`, before the socket is released.
    ///
    /// A server that answers early (`413 Payload Too Large` during an upload) and closes with our unread body in
    /// its buffers resets the connection; its answer has usually reached our socket before the reset and can
    /// still be received (Linux keeps the receive queue after a RST). At most `inboundLimit` bytes are taken.
    func salvageReceived() {
        guard fd >= 0 else { return }
        var budget = TCPConnection.inboundLimit
        withUnsafeTemporaryAllocation(byteCount: TCPConnection.receiveChunk, alignment: 16) { buffer in
            while budget > 0 {
                let n = POSIX.receive(fd, buffer.baseAddress!, min(buffer.count, budget))
                if n <= 0 {
                    if n == 0 { peerClosed = true }
                    return
                }
                budget -= n
                let received = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                if let tls { tls.feed(received) } else { inbound.append(received) }
            }
        }
        guard let tls, state == .open || state == .closing else { return }
        // Decrypt what is complete; a truncated record or a failure just ends the salvage (the reset is reported).
        withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 16) { buffer in
            while true {
                guard case .bytes(let n) = tls.read(into: buffer) else { return }
                inbound.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
    }
}
