import Foundation
import Metrics
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

/// Collects the parts of `ClientHealth` that a client (not its pool) knows: errors and reconnects; and
/// reports operations to swift-metrics when a label is given.
///
/// Metrics (dimension `client=<label>`): counter `azure_messaging_operations_total` (+ `operation`, `result`:
/// `success` or the error code), timer `azure_messaging_operation_duration` (+ `operation`), counters
/// `azure_messaging_retries_total` and `azure_messaging_reconnects_total`.
public final class HealthTracker: Sendable {
    private let state = LockedValue(ClientHealth())
    /// The `client` dimension of the metrics; nil disables them.
    public let metricsLabel: String?

    public init(metricsLabel: String? = nil) {
        self.metricsLabel = metricsLabel
    }

    /// Records one finished operation (all its tries) in swift-metrics.
    public func recordOperation(_ operation: String, seconds: Double, error: AzureMessagingError?) {
        guard let metricsLabel else { return }
        let result = error.map { $0.code.rawValue } ?? "success"
        Counter(label: "azure_messaging_operations_total",
                dimensions: [("client", metricsLabel), ("operation", operation), ("result", result)]).increment()
        Timer(label: "azure_messaging_operation_duration", dimensions: [("client", metricsLabel), ("operation", operation)])
            .recordNanoseconds(Int64(seconds * 1_000_000_000))
    }

    /// Records a retry in swift-metrics.
    public func recordRetry() {
        guard let metricsLabel else { return }
        Counter(label: "azure_messaging_retries_total", dimensions: [("client", metricsLabel)]).increment()
    }

    public func recordError(_ error: AzureMessagingError) {
        state.withLockedValue {
            $0.lastError = error.description
            $0.lastErrorAt = Date()
        }
    }

    public func recordReconnect() {
        state.withLockedValue { $0.reconnectCount += 1 }
        if let metricsLabel {
            Counter(label: "azure_messaging_reconnects_total", dimensions: [("client", metricsLabel)]).increment()
        }
    }
    public func recordOpened() { state.withLockedValue { $0.connectionsOpened += 1 } }

    public var current: ClientHealth { state.load() }
}
