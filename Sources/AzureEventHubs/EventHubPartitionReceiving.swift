import AzureMessagingCore
import Dispatch
import ToolboxCore

/// The Event Hubs partition-receiver role: what `PartitionReceiver` does, as a protocol your code can depend on
/// and your tests can stub.
///
/// The requirements are the completion-handler forms: each returns a `Cancellable` (where it has a result) and
/// calls its completion exactly once, on `queue`, never under a library lock. The blocking forms come from the
/// extension below (they refuse to run on a library queue); the `async` forms from `AzureClientsToolboxAsync`.
///
/// ```swift
/// func drain(_ receiver: any EventHubPartitionReceiving) throws -> Int {
///     try receiver.receive(maxEvents: 100, timeout: .seconds(5)).count
/// }
/// ```
public protocol EventHubPartitionReceiving: MessagingClosing {
    /// The event hub read.
    var eventHubName: String { get }
    /// The consumer group read through (`$Default` unless given).
    var consumerGroup: String { get }
    /// The partition read.
    var partitionID: String { get }

    /// Delivers up to `maxEvents` events: as soon as that many are buffered, else what arrived within `timeout`.
    ///
    /// - Parameters:
    ///   - maxEvents: the most events to deliver.
    ///   - timeout: how long to wait for `maxEvents`; what arrived by then is delivered (possibly nothing).
    ///   - queue: where `completion` runs.
    ///   - completion: called once with the events, or the failure when the receiver is closed or cannot connect.
    /// - Returns: a handle that cancels the receive (the completion then gets `.cancelled`).
    @discardableResult
    func receive(maxEvents: Int, timeout: Duration, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<[ReceivedEventData], ToolboxError>) -> Void) -> any Cancellable
}

extension EventHubPartitionReceiving {
    /// `receive(maxEvents:timeout:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - maxEvents: the most events to deliver.
    ///   - timeout: how long to wait for them.
    ///   - completion: called once with the events or the failure.
    /// - Returns: a handle that cancels the receive.
    @discardableResult
    public func receive(maxEvents: Int, timeout: Duration,
                        completion: @escaping @Sendable (Result<[ReceivedEventData], ToolboxError>) -> Void)
        -> any Cancellable
    {
        receive(maxEvents: maxEvents, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Blocking form of `receive(maxEvents:timeout:queue:completion:)`.
    ///
    /// - Parameters:
    ///   - maxEvents: the most events to return.
    ///   - timeout: how long to wait for them.
    /// - Returns: what arrived, possibly nothing.
    public func receive(maxEvents: Int, timeout: Duration) throws(ToolboxError) -> [ReceivedEventData] {
        try blockingWait { queue, done in receive(maxEvents: maxEvents, timeout: timeout, queue: queue, completion: done) }
    }
}
