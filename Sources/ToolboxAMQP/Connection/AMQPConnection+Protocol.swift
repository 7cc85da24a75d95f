import Dispatch
import ToolboxCore

/// The wire side of a connection: protocol headers, SASL (both roles), open, peer-initiated sessions and the
/// dispatch of frames to sessions. Everything here runs on `queue`.
extension AMQPConnection {
    func frameName(_ frame: AMQPFrame) -> String {
        switch frame {
        case .heartbeat: return "heartbeat"
        case .sasl(let body):
            switch body {
            case .mechanisms: return "sasl-mechanisms"
            case .initialize(let mechanism, _, _): return "sasl-init(\(mechanism.rawValue))"
            case .challenge: return "sasl-challenge"
            case .response: return "sasl-response"
            case .outcome(let code, _): return "sasl-outcome(\(code))"
            }
        case .amqp(let channel, let performative, let payload):
            // Performatives carry no secrets (SASL frames are summarised above); payloads are never logged.
            return "[ch\(channel)] \(performative)" + (payload.isEmpty ? "" : " +\(payload.count) bytes")
        }
    }

    func handle(_ event: AMQPTransportEvent) {
        debugAssertOnQueue(queue)
        switch event {
        case .connected:
            guard state == .idle else { return }
            if server != nil {
                state = .serverHeader
            } else if configuration.sasl.symbol != nil {
                sendRaw(AMQPProtocolHeader.sasl.bytes)
                state = .saslHeader
            } else {
                sendAMQPHeaderAndOpen()
            }
        case .received(let bytes):
            lastReceived = .now()
            parser.append(bytes)
            do {
                try drainParser()
            } catch let error as AMQPError {
                protocolFailure(error)
            } catch {
                protocolFailure(AMQPError(.decoding, "\(error)"))
            }
            reopenWindows()
        case .closed(let error):
            transport = nil
            if state == .closeSent {
                finish(nil)
            } else if let error {
                finish(AMQPError(.transport, "\(error)", underlying: error))
            } else {
                finish(AMQPError(.connectionClosed, "peer closed the transport without a close frame"))
            }
        }
    }

    /// Reopens the incoming windows that ran low while the bytes just read were processed: one flow per session
    /// and read, sent only after every transfer in those bytes was checked against the window announced before.
    func reopenWindows() {
        debugAssertOnQueue(queue)
        guard !sessionsAwaitingWindow.isEmpty else { return }
        let sessions = sessionsAwaitingWindow
        sessionsAwaitingWindow = []
        for session in sessions { session.reopenWindow() }
    }

    func drainParser() throws {
        debugAssertOnQueue(queue)
        while state != .closed {
            if state == .saslHeader || state == .serverHeader || state == .serverAMQPHeader
                || (state == .amqpHeader && !headerReceived) {
                guard let header = try parser.nextProtocolHeader() else { return }
                try receivedHeader(header)
            } else {
                guard let frame = try parser.nextFrame() else { return }
                try receivedFrame(frame)
            }
        }
    }


    func receivedHeader(_ header: AMQPProtocolHeader) throws {
        debugAssertOnQueue(queue)
        switch (state, header) {
        case (.saslHeader, .sasl):
            state = .saslMechanisms
        case (.amqpHeader, .amqp):
            headerReceived = true
        case (.serverHeader, .sasl) where !(server?.mechanisms.isEmpty ?? true):
            sendRaw(AMQPProtocolHeader.sasl.bytes)
            send(.sasl(.mechanisms(server?.mechanisms ?? [])))
            state = .serverSASLInit
        case (.serverHeader, .amqp) where server?.allowWithoutSASL == true, (.serverAMQPHeader, .amqp):
            sendRaw(AMQPProtocolHeader.amqp.bytes)
            state = .amqpHeader
            headerReceived = true
        case (.serverHeader, _), (.serverAMQPHeader, _):
            // Answer with the header we do support, then hang up (part 2, 2.2).
            let supported: AMQPProtocolHeader = (server?.mechanisms.isEmpty ?? true) ? .amqp : .sasl
            sendRaw(supported.bytes)
            throw AMQPError(.framing, "client asked for protocol \(header), which this broker does not accept")
        default:
            throw AMQPError(.framing, "peer answered with protocol header \(header) in state \(state)")
        }
    }

    func receivedFrame(_ frame: AMQPFrame) throws {
        debugAssertOnQueue(queue)
        switch frame {
        case .heartbeat:
            return
        case .sasl(let body):
            try receivedSASL(body)
        case .amqp(let channel, let performative, let payload):
            if logger.logLevel <= .trace { logger.trace("<- \(frameName(frame))") }
            guard headerReceived else { throw AMQPError(.framing, "AMQP frame before the AMQP protocol header") }
            try receivedPerformative(channel: channel, performative, payload: payload)
        }
    }

    func receivedSASL(_ body: AMQPSASLPerformative) throws {
        debugAssertOnQueue(queue)
        switch (state, body) {
        case (.serverSASLInit, .initialize(let mechanism, let response, let hostname)):
            let ok = (server?.mechanisms.contains(mechanism) ?? false)
                && (server?.authenticate(mechanism, response, hostname) ?? false)
            send(.sasl(.outcome(code: ok ? .ok : .auth, additionalData: nil)))
            guard ok else {
                throw AMQPError(.authentication, "client failed SASL \(mechanism.rawValue) authentication")
            }
            state = .serverAMQPHeader
        case (.saslMechanisms, .mechanisms(let offered)):
            guard let wanted = configuration.sasl.symbol, offered.contains(wanted) else {
                throw AMQPError(.authentication,
                    "server offers SASL \(offered.map(\.rawValue)), not \(configuration.sasl.symbol?.rawValue ?? "none")")
            }
            send(.sasl(.initialize(mechanism: wanted, initialResponse: configuration.sasl.initialResponse,
                                   hostname: configuration.hostname)))
            state = .saslOutcome
        case (.saslOutcome, .challenge):
            // None of our mechanisms use challenges; an empty response lets the server decide.
            send(.sasl(.response([])))
        case (.saslOutcome, .outcome(let code, _)):
            guard code == .ok else {
                throw AMQPError(.authentication, "SASL \(configuration.sasl) failed with outcome \(code)")
            }
            sendAMQPHeaderAndOpen()
        default:
            throw AMQPError(.framing, "unexpected SASL frame in state \(state)")
        }
    }

    func sendAMQPHeaderAndOpen() {
        debugAssertOnQueue(queue)
        state = .amqpHeader
        headerReceived = false
        sendRaw(AMQPProtocolHeader.amqp.bytes)
        send(.amqp(0, .open(makeOpen())))
        openSent = true
    }

    func makeOpen() -> AMQPOpen {
        var open = AMQPOpen(containerID: configuration.containerID, hostname: configuration.hostname)
        open.maxFrameSize = configuration.maxFrameSize
        open.channelMax = configuration.channelMax
        open.idleTimeOut = configuration.idleTimeout.map { max(UInt32(clampingRounded: $0.toolboxSeconds * 1000), 1) }
        open.properties = configuration.properties
        return open
    }

    func receivedPerformative(channel: UInt16, _ performative: AMQPPerformative, payload: [UInt8]) throws {
        debugAssertOnQueue(queue)
        switch performative {
        case .open(let open):
            guard state == .amqpHeader, remoteOpen == nil else { throw AMQPError(.protocolViolation, "unexpected open") }
            remoteOpen = open
            // Frames up to our advertised max-frame-size from now on (512 until here).
            parser.maxFrameSize = configuration.maxFrameSize
            if server != nil {
                // The broker answers the client's open; the negotiated values are the same either way.
                var reply = makeOpen()
                reply.hostname = nil
                send(.amqp(0, .open(reply)))
                openSent = true
            }
            peerMaxFrameSize = Int(max(512, open.maxFrameSize))
            negotiatedChannelMax = min(configuration.channelMax, open.channelMax)
            state = .openReceived
            openTimeoutItem?.cancel()
            startTimer()
            openCallback?(.success(()))
            openCallback = nil
        case .close(let error):
            if state == .closeSent {
                finish(error.map { AMQPError(.connectionClosed, "peer closed the connection", remote: $0) })
            } else {
                send(.amqp(0, .close(nil)))
                // A clean close by the peer is not an error for observers; pending work still fails.
                finish(error.map { AMQPError(.connectionClosed, "peer closed the connection", remote: $0) })
            }
        case .begin(let begin):
            if server != nil, begin.remoteChannel == nil, state == .openReceived {
                try acceptSession(begin, remoteChannel: channel)
                return
            }
            guard let local = begin.remoteChannel, let session = sessions[local], session.remoteChannel == nil else {
                // Peer-initiated sessions are a broker-side feature; refuse politely.
                send(.amqp(0, .close(AMQPRemoteError(condition: AMQPRemoteError.notImplemented,
                                                      description: "client does not accept peer-initiated sessions"))))
                state = .closeSent
                return
            }
            session.receivedBegin(begin, remoteChannel: channel)
        default:
            guard state == .openReceived || state == .closeSent else {
                throw AMQPError(.protocolViolation, "\(performative.name) before open")
            }
            // Frames for unknown or ended sessions are ignored (Azure SDKs send detach after end).
            guard let session = sessionsByRemoteChannel[channel] else { return }
            try session.received(performative, payload: payload)
        }
    }

    /// Broker role: a client began a session; answer on the lowest free channel.
    func acceptSession(_ begin: AMQPBegin, remoteChannel: UInt16) throws {
        debugAssertOnQueue(queue)
        guard sessionsByRemoteChannel[remoteChannel] == nil else {
            throw AMQPError(.protocolViolation, "client began a second session on channel \(remoteChannel)")
        }
        guard let channel = (0...negotiatedChannelMax).first(where: { sessions[$0] == nil }) else {
            throw AMQPError(.limitExceeded, "client began more sessions than channel-max \(negotiatedChannelMax) allows")
        }
        let session = AMQPSession(connection: self, channel: channel, configuration: AMQPSessionConfiguration())
        sessions[channel] = session
        session.accept(begin, remoteChannel: remoteChannel)
    }
}
