import ToolboxCore

/// The `CONNECT` exchange with an HTTP proxy, between the TCP connect to the proxy and the TLS handshake with
/// the target (or, without TLS, the connection being reported open).
struct ProxyTunnel {
    let proxy: HTTPProxy
    let targetHost: String
    let targetPort: UInt16
    /// The proxy's answer so far.
    var response: [UInt8] = []
    /// Where TLS (or the caller) takes over once the tunnel is up.
    var serverName = ""
}

extension TCPConnection {
    /// Largest `CONNECT` answer head accepted from a proxy.
    static let proxyHeadLimit = 16 * 1024

    /// Fails a connect that could not resolve or reach its addresses; through a proxy those were the proxy's, and
    /// the message says so rather than blaming the target.
    func failConnect(_ error: TransportError) {
        guard let tunnel else { return fail(error) }
        fail(TransportError(error.code, "could not reach proxy \(tunnel.proxy) for \(peerDescription): \(error.message)",
                            underlying: error.underlying))
    }

    /// Sends `CONNECT target` to the proxy the socket is connected to; `continueTunnel` reads the answer.
    func startTunnel(serverName: String) {
        guard var tunnel else { return }
        tunnel.serverName = serverName
        self.tunnel = tunnel
        state = .handshaking
        outbound.append(contentsOf: tunnel.proxy.connectRequest(host: tunnel.targetHost, port: tunnel.targetPort))
        flush()
        updateReadInterest()
    }

    /// Reads the proxy's answer: 2xx starts the session with the target through the tunnel; anything else, or
    /// the proxy closing first, fails the connect with `.proxyConnectRefused` naming the proxy.
    func continueTunnel(sawEOF: Bool, socketError: Int32?) {
        guard var tunnel, state == .handshaking else { return }
        let proxyName = tunnel.proxy.description
        let target = "\(tunnel.targetHost):\(tunnel.targetPort)"
        if !inbound.isEmpty { tunnel.response += inbound.take(upTo: inbound.count) }
        self.tunnel = tunnel
        let parsed: (HTTPHead, Int)?
        do {
            parsed = try HTTPHead.parse(tunnel.response, limit: Self.proxyHeadLimit, peer: "proxy \(proxyName)")
        } catch {
            fail(ToolboxError(.proxyConnectRefused, "proxy \(proxyName) sent an unusable answer to CONNECT \(target): \(error.message)",
                              underlying: error))
            return
        }
        guard let (head, used) = parsed else {
            if let socketError {
                fail(TransportError(.connectionReset, "reading the answer of proxy \(proxyName) failed: \(POSIX.text(for: socketError))",
                                    errno: socketError))
            } else if sawEOF {
                fail(ToolboxError(.proxyConnectRefused, "proxy \(proxyName) closed the connection instead of answering CONNECT \(target)"))
            } else {
                updateReadInterest()
            }
            return
        }
        let status: (status: Int, reason: String)
        do {
            status = try head.statusLine(peer: "proxy \(proxyName)")
        } catch {
            fail(ToolboxError(.proxyConnectRefused, "proxy \(proxyName) answered CONNECT \(target) with a malformed status line",
                              underlying: error))
            return
        }
        guard (200...299).contains(status.status) else {
            let refusal = HTTPRefusal(status: status.status, reason: status.reason, headers: head.headers)
            // Some proxies (tinyproxy) answer bad credentials with 401 instead of 407.
            let hint = status.status == 407 || status.status == 401
                ? (tunnel.proxy.username == nil ? " (it wants credentials)" : " (check the credentials)") : ""
            fail(ToolboxError(.proxyConnectRefused,
                              "proxy \(proxyName) refused CONNECT \(target): HTTP \(status.status) \(status.reason)\(hint)",
                              underlying: refusal))
            return
        }
        let extra = Array(tunnel.response[used...])
        self.tunnel = nil
        if !extra.isEmpty {
            guard tlsContext == nil else {
                fail(ToolboxError(.proxyConnectRefused,
                                  "proxy \(proxyName) sent bytes after its CONNECT answer, before the TLS handshake"))
                return
            }
            inbound.append(extra)
        }
        beginSession(serverName: tunnel.serverName)
        if sawEOF {
            peerClosed = true
            completePendingRead()
        }
    }
}
