import AzureMessagingCore
import Dispatch
import ToolboxCore

/// The Event Hubs producer role: what `EventHubProducer` (one connection) and `ManagedEventHubProducer` (a pool)
/// do, as a protocol your code can depend on and your tests can stub.
///
/// The requirements are the completion-handler forms: each returns a `Cancellable`, and calls its completion
/// exactly once, on `queue`, never under a library lock. The blocking forms come from the extension below
/// (they refuse to run on a library queue); the `async` forms from `AzureClientsToolboxAsync`.
///
/// ```swift
/// final class Checkout {
///     let events: any EventHubProducing        // a ManagedEventHubProducer in production, a stub in tests
///     init(events: any EventHubProducing) { self.events = events }
///     func placed(_ order: Order) throws { try events.send(EventData(body: order.json)) }
/// }
/// ```
///
/// `docs/api-conventions.md` (section 8) shows a stub.
public protocol EventHubProducing: MessagingClosing {
    /// The event hub this producer sends to.
    var eventHubName: String { get }

    /// Sends `events` in one batch transfer; fails with `.messageSizeExceeded` if they do not fit the link's
    /// max-message-size together.
    ///
    /// - Parameters:
    ///   - events: at least one event.
    ///   - options: partition key or partition id (not both).
    ///   - queue: where `completion` runs.
    ///   - completion: called once with the outcome; errors are `ToolboxError`s.
    /// - Returns: a handle that cancels the send (the completion then gets `.cancelled`).
    @discardableResult
    func send(_ events: [EventData], options: SendEventOptions, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Sends a batch made with `createBatch`.
    @discardableResult
    func send(_ batch: EventDataBatch, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// An empty batch sized by the link's max-message-size.
    @discardableResult
    func createBatch(options: SendEventOptions, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<EventDataBatch, ToolboxError>) -> Void) -> any Cancellable

    /// The hub's name, creation time and partition ids.
    @discardableResult
    func eventHubProperties(queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<EventHubProperties, ToolboxError>) -> Void)
        -> any Cancellable

    /// One partition's sequence numbers, last offset and time.
    @discardableResult
    func partitionProperties(partitionID: String, queue: DispatchQueue,
                             completion: @escaping @Sendable (Result<PartitionProperties, ToolboxError>) -> Void)
        -> any Cancellable
}

// MARK: - Completion forms with their defaults

extension EventHubProducing {
    /// Sends one event (as a batch of one, like the SDKs).
    @discardableResult
    public func send(_ event: EventData, options: SendEventOptions = SendEventOptions(),
                     queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send([event], options: options, queue: queue, completion: completion)
    }

    /// Sends `events` in one batch transfer; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - events: at least one event.
    ///   - options: partition key or partition id (not both).
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the send.
    @discardableResult
    public func send(_ events: [EventData], options: SendEventOptions = SendEventOptions(),
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send(events, options: options, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Sends a batch made with `createBatch`; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - batch: a non-empty batch.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the send.
    @discardableResult
    public func send(_ batch: EventDataBatch,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send(batch, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// An empty batch sized by the link's max-message-size; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - options: partition key or partition id the batch's events go to.
    ///   - completion: called once with the batch or the failure.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func createBatch(options: SendEventOptions = SendEventOptions(),
                            completion: @escaping @Sendable (Result<EventDataBatch, ToolboxError>) -> Void)
        -> any Cancellable
    {
        createBatch(options: options, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// The hub's name, creation time and partition ids; `completion` runs on the default callback queue.
    ///
    /// - Parameter completion: called once with the properties or the failure.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func eventHubProperties(completion: @escaping @Sendable (Result<EventHubProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        eventHubProperties(queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// One partition's sequence numbers, last offset and time; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - partitionID: the partition.
    ///   - completion: called once with the properties or the failure.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func partitionProperties(partitionID: String,
                                    completion: @escaping @Sendable (Result<PartitionProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        partitionProperties(partitionID: partitionID, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// The hub's partition ids.
    @discardableResult
    public func partitionIDs(queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                             completion: @escaping @Sendable (Result<[String], ToolboxError>) -> Void) -> any Cancellable {
        eventHubProperties(queue: queue) { completion($0.map(\.partitionIDs)) }
    }
}

// MARK: - Blocking forms

extension EventHubProducing {
    /// Blocking form of `send(_:options:queue:completion:)`.
    public func send(_ event: EventData, options: SendEventOptions = SendEventOptions()) throws(ToolboxError) {
        try blockingWait { queue, done in send([event], options: options, queue: queue, completion: done) }
    }

    /// Blocking form of `send(_:options:queue:completion:)` for several events in one batch.
    public func send(_ events: [EventData], options: SendEventOptions = SendEventOptions()) throws(ToolboxError) {
        try blockingWait { queue, done in send(events, options: options, queue: queue, completion: done) }
    }

    /// Blocking form of `send(_:queue:completion:)` for a prepared batch.
    public func send(_ batch: EventDataBatch) throws(ToolboxError) {
        try blockingWait { queue, done in send(batch, queue: queue, completion: done) }
    }

    /// Blocking form of `createBatch(options:queue:completion:)`.
    public func createBatch(options: SendEventOptions = SendEventOptions()) throws(ToolboxError) -> EventDataBatch {
        try blockingWait { queue, done in createBatch(options: options, queue: queue, completion: done) }
    }

    /// Blocking form of `eventHubProperties(queue:completion:)`.
    public func eventHubProperties() throws(ToolboxError) -> EventHubProperties {
        try blockingWait { queue, done in eventHubProperties(queue: queue, completion: done) }
    }

    /// Blocking form of `partitionIDs(queue:completion:)`.
    public func partitionIDs() throws(ToolboxError) -> [String] {
        try blockingWait { queue, done in partitionIDs(queue: queue, completion: done) }
    }

    /// Blocking form of `partitionProperties(partitionID:queue:completion:)`.
    public func partitionProperties(partitionID: String) throws(ToolboxError) -> PartitionProperties {
        try blockingWait { queue, done in partitionProperties(partitionID: partitionID, queue: queue, completion: done) }
    }
}

/// The name this package's producer base class had; Azure's SDKs use `EventHubProducerClient` for their concrete
/// producer, so the role is now `EventHubProducing`, adopted by the final `EventHubProducer` and
/// `ManagedEventHubProducer`.
@available(*, deprecated, renamed: "EventHubProducing")
public typealias EventHubProducerClient = EventHubProducing
