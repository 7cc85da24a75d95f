import Foundation
import ToolboxCore

/// A managed (or basic) client's health, on demand: what its connections are doing and what last went wrong.
///
/// ```swift
/// let health = producer.health
/// print(health.readyConnections, health.inUseLeases, health.lastError ?? "-", health.reconnectCount)
/// ```
public struct ClientHealth: Sendable, Equatable, CustomStringConvertible {
    /// Connections open and proved ready.
    public var readyConnections = 0
    /// Connections being opened (TCP, TLS, SASL, CBS, attach, readiness).
    public var openingConnections = 0
    /// Operations holding a connection right now.
    public var inUseLeases = 0
    /// The last failure an operation saw (retried or not), without secrets.
    public var lastError: String?
    /// When `lastError` happened.
    public var lastErrorAt: Date?
    /// Connections retired because they failed in use (each is replaced by one reconnect on next use).
    public var reconnectCount = 0
    /// Connections opened since the client was created.
    public var connectionsOpened = 0

    public init() {}

    public var description: String {
        "ready=\(readyConnections) opening=\(openingConnections) inUse=\(inUseLeases) reconnects=\(reconnectCount) "
            + "opened=\(connectionsOpened) lastError=\(lastError ?? "none")"
    }
}

/// Collects the parts of `ClientHealth` that a client (not its pool) knows: errors and reconnects.
public final class HealthTracker: Sendable {
    private let state = LockedValue(ClientHealth())

    public init() {}

    public func recordError(_ error: AzureMessagingError) {
        state.withLockedValue {
            $0.lastError = error.description
            $0.lastErrorAt = Date()
        }
    }

    public func recordReconnect() { state.withLockedValue { $0.reconnectCount += 1 } }
    public func recordOpened() { state.withLockedValue { $0.connectionsOpened += 1 } }

    public var current: ClientHealth { state.load() }
}
