import Dispatch
import ToolboxCore

extension TCPConnection {
    /// Takes over a socket a listener accepted; with TLS, runs the server side of the handshake first. Call it on
    /// `queue`; `handler` runs there once the connection is open or has failed.
    package func adoptAccepted(fd socketFD: Int32, remote: SocketAddress, deadline: Deadline,
                       _ handler: @escaping (TransportError?) -> Void) {
        debugAssertOnQueue(queue)
        fd = socketFD
        selfRetain = self
        installSources()
        recordAddresses(remote: remote)
        handshakeHandler = handler
        phaseTimer.arm(at: deadline) { [weak self] in
            guard let self else { return }
            self.fail(TransportError(.timedOut, "the TLS handshake with \(self.peerDescription) took too long"))
        }
        beginSession(serverName: nil)
    }
}
