import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxCore

/// The Service Bus sender role: what `ServiceBusSender` (one connection) and `ManagedServiceBusSender` (a pool)
/// do, as a protocol your code can depend on and your tests can stub.
///
/// The requirements are the completion-handler forms: each returns a `Cancellable`, and calls its completion
/// exactly once, on `queue`, never under a library lock. The blocking forms come from the extension below
/// (they refuse to run on a library queue); the `async` forms from `AzureClientsToolboxAsync`.
///
/// ```swift
/// func notify(_ sender: any ServiceBusSending, _ text: String) throws {
///     try sender.send(ServiceBusMessage(body: text))
/// }
/// ```
public protocol ServiceBusSending: MessagingClosing {
    /// The queue or topic the sender sends to.
    var entityPath: String { get }

    /// Sends one message (message-format 0).
    ///
    /// - Parameters:
    ///   - message: the message; one without an id gets a UUID first, so a retry carries the same id.
    ///   - queue: where `completion` runs.
    ///   - completion: called once with the outcome; errors are `ToolboxError`s.
    /// - Returns: a handle that cancels the send (the completion then gets `.cancelled`).
    @discardableResult
    func send(_ message: ServiceBusMessage, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Sends `messages` in one batch transfer; fails with `.messageSizeExceeded` when they do not fit together.
    @discardableResult
    func send(_ messages: [ServiceBusMessage], queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Sends a batch made with `createBatch`.
    @discardableResult
    func send(_ batch: ServiceBusMessageBatch, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// An empty batch sized by the sender link's max-message-size.
    @discardableResult
    func createBatch(queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<ServiceBusMessageBatch, ToolboxError>) -> Void)
        -> any Cancellable

    /// Schedules `messages` to appear at `time`; completes with their sequence numbers.
    @discardableResult
    func schedule(_ messages: [ServiceBusMessage], at time: Date, queue: DispatchQueue,
                  completion: @escaping @Sendable (Result<[Int64], ToolboxError>) -> Void) -> any Cancellable

    /// Cancels scheduled messages by sequence number.
    @discardableResult
    func cancelScheduled(_ sequenceNumbers: [Int64], queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable
}

// MARK: - Completion forms built on the requirements

extension ServiceBusSending {
    /// Sends `messages` after `delay`, like the Python toolbox (always through schedule-message, so it returns the
    /// sequence numbers).
    ///
    /// - Parameters:
    ///   - messages: the messages.
    ///   - delay: how long from now they become visible (a negative delay counts as none).
    ///   - queue: where `completion` runs.
    ///   - completion: called once with their sequence numbers.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func send(_ messages: [ServiceBusMessage], delay: Duration,
                     queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                     completion: @escaping @Sendable (Result<[Int64], ToolboxError>) -> Void) -> any Cancellable {
        schedule(messages, at: Date().addingTimeInterval(max(0, delay.toolboxSeconds)), queue: queue, completion: completion)
    }

    /// Sends one message; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - message: the message.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the send.
    @discardableResult
    public func send(_ message: ServiceBusMessage,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send(message, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Sends `messages` in one batch transfer; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - messages: at least one message.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the send.
    @discardableResult
    public func send(_ messages: [ServiceBusMessage],
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send(messages, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Sends a batch made with `createBatch`; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - batch: a non-empty batch.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the send.
    @discardableResult
    public func send(_ batch: ServiceBusMessageBatch,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send(batch, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// An empty batch sized by the sender link's max-message-size; `completion` runs on the default callback queue.
    ///
    /// - Parameter completion: called once with the batch or the failure.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func createBatch(completion: @escaping @Sendable (Result<ServiceBusMessageBatch, ToolboxError>) -> Void)
        -> any Cancellable
    {
        createBatch(queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Schedules `messages` to appear at `time`; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - messages: the messages.
    ///   - time: when they become visible.
    ///   - completion: called once with their sequence numbers.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func schedule(_ messages: [ServiceBusMessage], at time: Date,
                         completion: @escaping @Sendable (Result<[Int64], ToolboxError>) -> Void) -> any Cancellable {
        schedule(messages, at: time, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Cancels scheduled messages by sequence number; `completion` runs on the default callback queue.
    ///
    /// - Parameters:
    ///   - sequenceNumbers: what `schedule` returned.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func cancelScheduled(_ sequenceNumbers: [Int64],
                                completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        cancelScheduled(sequenceNumbers, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// The old name of `entityPath` (it may name a topic).
    @available(*, deprecated, renamed: "entityPath")
    public var queueName: String { entityPath }
}

// MARK: - Blocking forms

extension ServiceBusSending {
    /// Blocking form of `send(_:queue:completion:)`.
    public func send(_ message: ServiceBusMessage) throws(ToolboxError) {
        try blockingWait { queue, done in send(message, queue: queue, completion: done) }
    }

    /// Blocking form of `send(_:queue:completion:)` for several messages in one batch.
    public func send(_ messages: [ServiceBusMessage]) throws(ToolboxError) {
        try blockingWait { queue, done in send(messages, queue: queue, completion: done) }
    }

    /// Blocking form of `createBatch(queue:completion:)`.
    public func createBatch() throws(ToolboxError) -> ServiceBusMessageBatch {
        try blockingWait { queue, done in createBatch(queue: queue, completion: done) }
    }

    /// Blocking form of `send(_:queue:completion:)` for a prepared batch.
    public func send(_ batch: ServiceBusMessageBatch) throws(ToolboxError) {
        try blockingWait { queue, done in send(batch, queue: queue, completion: done) }
    }

    /// Blocking form of `schedule(_:at:queue:completion:)`.
    public func schedule(_ messages: [ServiceBusMessage], at time: Date) throws(ToolboxError) -> [Int64] {
        try blockingWait { queue, done in schedule(messages, at: time, queue: queue, completion: done) }
    }

    /// Blocking form of `send(_:delay:queue:completion:)`.
    @discardableResult
    public func send(_ messages: [ServiceBusMessage], delay: Duration) throws(ToolboxError) -> [Int64] {
        try blockingWait { queue, done in send(messages, delay: delay, queue: queue, completion: done) }
    }

    /// Blocking form of `cancelScheduled(_:queue:completion:)`.
    public func cancelScheduled(_ sequenceNumbers: [Int64]) throws(ToolboxError) {
        try blockingWait { queue, done in cancelScheduled(sequenceNumbers, queue: queue, completion: done) }
    }
}

/// The name this package's sender base class had; Azure's SDKs use `ServiceBusSenderClient` for their concrete
/// sender, so the role is now `ServiceBusSending`, adopted by the final `ServiceBusSender` and
/// `ManagedServiceBusSender`.
@available(*, deprecated, renamed: "ServiceBusSending")
public typealias ServiceBusSenderClient = ServiceBusSending
