import Dispatch
import ToolboxCore

/// Heartbeats and idle time-out: empty frames at half the peer's idle-time-out, and failure when the peer is
/// silent for longer than ours.
extension AMQPConnection {
    func startTimer() {
        debugAssertOnQueue(queue)
        let peerIdle = remoteOpen?.idleTimeOut.flatMap { $0 == 0 ? nil : Double($0) / 1000 }
        let ourIdle = configuration.idleTimeout.map { max($0.toolboxSeconds, 0.001) }
        guard peerIdle != nil || ourIdle != nil else { return }
        // Send heartbeats at half the peer's time-out; check ours at a quarter of it.
        let tick = max(0.005, min(peerIdle.map { $0 / 4 } ?? .infinity, ourIdle.map { $0 / 4 } ?? .infinity, 1.0))
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + tick, repeating: tick)
        timer.setEventHandler { [weak self] in self?.tick(peerIdle: peerIdle, ourIdle: ourIdle) }
        self.timer = timer
        timer.resume()
    }

    func tick(peerIdle: Double?, ourIdle: Double?) {
        debugAssertOnQueue(queue)
        let now = MonotonicInstant.now()
        if let peerIdle, now.seconds(since: lastSent) >= peerIdle / 2 { send(.heartbeat) }
        if let ourIdle, now.seconds(since: lastReceived) > ourIdle {
            protocolFailure(AMQPError(.timedOut, "peer sent nothing for \(ourIdle)s (idle time-out)"))
        }
    }
}
