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
package final class HealthTracker: Sendable {
    private let state = LockedValue(ClientHealth())
    /// The `client` dimension of the metrics; nil disables them.
    package let metricsLabel: String?
    /// Metric handles by operation and result, made once: creating a swift-metrics handle asks the factory
    /// (a lock and a dictionary lookup in most back ends) and allocates, which cost more than the send it counts.
    private let operationMetrics = LockedValue<[OperationKey: (Counter, Timer)]>([:])
    private let counters = LockedValue<[String: Counter]>([:])

    private struct OperationKey: Hashable {
        let operation: String
        let result: String
    }

    package init(metricsLabel: String? = nil) {
        self.metricsLabel = metricsLabel
    }

    /// The counter `label` with the `client` dimension, made on first use (after the application bootstrapped
    /// its metrics back end, as creating it per call did).
    private func counter(_ label: String) -> Counter? {
        guard let metricsLabel else { return nil }
        return counters.withLockedValue { cache in
            if let found = cache[label] { return found }
            let made = Counter(label: label, dimensions: [("client", metricsLabel)])
            cache[label] = made
            return made
        }
    }

    /// Records one finished operation (all its tries) in swift-metrics.
    package func recordOperation(_ operation: String, seconds: Double, error: AzureMessagingError?) {
        guard let metricsLabel else { return }
        let key = OperationKey(operation: operation, result: error.map { $0.code.rawValue } ?? "success")
        let (counter, timer) = operationMetrics.withLockedValue { cache in
            if let found = cache[key] { return found }
            let made = (Counter(label: "azure_messaging_operations_total",
                                dimensions: [("client", metricsLabel), ("operation", key.operation), ("result", key.result)]),
                        Timer(label: "azure_messaging_operation_duration",
                              dimensions: [("client", metricsLabel), ("operation", key.operation)]))
            cache[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(Int64(clampingRounded: seconds * 1_000_000_000))
    }

    /// Records a retry in swift-metrics.
    package func recordRetry() {
        counter("azure_messaging_retries_total")?.increment()
    }

    package func recordError(_ error: AzureMessagingError) {
        state.withLockedValue {
            $0.lastError = error.description
            $0.lastErrorAt = Date()
        }
    }

    package func recordReconnect() {
        state.withLockedValue { $0.reconnectCount += 1 }
        counter("azure_messaging_reconnects_total")?.increment()
    }
    package func recordOpened() { state.withLockedValue { $0.connectionsOpened += 1 } }

    package var current: ClientHealth { state.load() }
}
