import Dispatch
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// A loopback TCP proxy in front of a real endpoint whose behaviour a test switches: refusing (nothing listens
/// on its port), dropping at random (each connection is reset at once, soon, or after a while), or passing every
/// connection through. Going to `.refusing` also resets every live connection, as an
/// endpoint that goes down does.
final class FlakyProxy: @unchecked Sendable {
    // @unchecked Sendable: mutable state lives in `state` (a lock); `port` and `target` never change.
    enum Mode: Sendable, Equatable {
        case refusing
        case dropping
        case passing
    }

    let port: UInt16
    private let target: UInt16
    private let state = LockedValue<(mode: Mode, listener: TCPListener?, live: [ObjectIdentifier: TCPConnection])>(
        (.refusing, nil, [:]))

    /// Binds a free port, then starts in `mode`.
    init(target: UInt16, mode: Mode) throws {
        self.target = target
        let probe = try TCPListener(host: "127.0.0.1", port: 0) { _ in }
        port = probe.port
        probe.close()
        try set(mode)
    }

    var mode: Mode { state.load().mode }

    /// Switches behaviour; listening again on the same port is retried briefly (a connect may hold it a moment).
    func set(_ mode: Mode) throws {
        let (oldListener, dropped): (TCPListener?, [TCPConnection]) = state.withLockedValue {
            state in
            state.mode = mode
            guard mode == .refusing else { return (nil, []) }
            let taken = (state.listener, Array(state.live.values))
            state.listener = nil
            state.live = [:]
            return taken
        }
        oldListener?.close()
        for connection in dropped { connection.close(mode: .abortive) {} }
        guard mode != .refusing, state.load().listener == nil else { return }
        var lastError: (any Error)?
        for _ in 0..<200 {
            do {
                let listener = try TCPListener(host: "127.0.0.1", port: port) { [weak self] in self?.accepted($0) }
                state.withLockedValue { $0.listener = listener }
                return
            } catch {
                lastError = error
                usleep(10_000)
            }
        }
        throw lastError ?? TransportError(.listenFailed, "could not listen on \(port) again")
    }

    func stop() {
        try? set(.refusing)
    }

    private func accepted(_ client: TCPConnection) {
        let mode = state.load().mode
        let roll = Int.random(in: 0..<3)
        if mode == .refusing || (mode == .dropping && roll == 0) {
            client.close(mode: .abortive) {}
            return
        }
        track(client)
        TCPConnection.connect(host: "127.0.0.1", port: target, deadline: .after(seconds: 5)) { [weak self] result in
            guard let self, case .success(let upstream) = result else {
                client.close(mode: .abortive) {}
                return
            }
            self.track(upstream)
            let end: @Sendable () -> Void = { [weak self] in
                client.close(mode: .abortive) {}
                upstream.close(mode: .abortive) {}
                self?.untrack(client, upstream)
            }
            Self.pipe(from: client, to: upstream, end: end)
            Self.pipe(from: upstream, to: client, end: end)
            guard mode == .dropping else { return }
            // Dropped soon (often mid-handshake) or after a while (mid-traffic), unless the endpoint recovered.
            let lifetime = roll == 1 ? Double.random(in: 0...0.3) : Double.random(in: 0.3...2)
            DispatchQueue.global().asyncAfter(deadline: .now() + lifetime) { [weak self] in
                if self?.mode != .passing { end() }
            }
        }
    }

    private func track(_ connection: TCPConnection) {
        state.withLockedValue { $0.live[ObjectIdentifier(connection)] = connection }
    }

    private func untrack(_ connections: TCPConnection...) {
        state.withLockedValue { for connection in connections { $0.live[ObjectIdentifier(connection)] = nil } }
    }

    private static func pipe(from source: TCPConnection, to sink: TCPConnection, end: @escaping @Sendable () -> Void) {
        source.read { result in
            guard case .success(let bytes) = result, !bytes.isEmpty else { return end() }
            sink.write(bytes, deadline: .after(seconds: 10)) { written in
                if case .failure = written { return end() }
                pipe(from: source, to: sink, end: end)
            }
        }
    }
}
