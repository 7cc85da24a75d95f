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
        // Send heartbeats at about half the peer's time-out; check ours at a quarter of it.
        let tick = max(0.005, min(peerIdle.map { $0 / 4 } ?? .infinity, ourIdle.map { $0 / 4 } ?? .infinity, 1.0))
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + tick, repeating: tick)
        // A heartbeat is due half a tick before half the peer's time-out: ticks come late by a little, and waiting
        // for a whole half (99.9 ms measured against 100 ms) put it off to the next tick, 3/4 of the time-out.
        let heartbeatDue = peerIdle.map { max($0 / 2 - tick / 2, tick / 2) }
        timer.setEventHandler { [weak self] in self?.tick(heartbeatDue: heartbeatDue, ourIdle: ourIdle) }
        self.timer = timer
        timer.resume()
    }

    /// `heartbeatDue`: seconds without sending after which a heartbeat goes out (nil: the peer wants none).
    func tick(heartbeatDue: Double?, ourIdle: Double?) {
        debugAssertOnQueue(queue)
        let now = MonotonicInstant.now()
        if let heartbeatDue, now.seconds(since: lastSent) >= heartbeatDue { send(.heartbeat) }
        if let ourIdle, now.seconds(since: lastReceived) > ourIdle {
            protocolFailure(AMQPError(.timedOut, "peer sent nothing for \(ourIdle)s (idle time-out)"))
        }
    }
}
