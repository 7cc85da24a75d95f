import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxCore

/// The Service Bus receiver role: what `ServiceBusReceiver` does, as a protocol your code can depend on and your
/// tests can stub.
///
/// The requirements are the completion-handler forms: each returns a `Cancellable` (cancelling delivers
/// `.cancelled` unless the result came first; a settlement already sent may still take effect) and calls its
/// completion exactly once, on `queue`, never under a library lock. The blocking forms come from the extension
/// below (they refuse to run on a library queue); the `async` forms from `AzureClientsToolboxAsync`.
///
/// ```swift
/// func drain(_ receiver: any ServiceBusReceiving) throws {
///     for message in try receiver.receive(maxMessages: 10, timeout: .seconds(5)) { try receiver.complete(message) }
/// }
/// ```
public protocol ServiceBusReceiving: MessagingClosing {
    /// The entity read: a queue or `<topic>/Subscriptions/<subscription>`, with `/$DeadLetterQueue` when reading
    /// its dead-letter queue.
    var entityPath: String { get }

    /// Peek-lock (settle each message) or receive-and-delete.
    var receiveMode: ServiceBusReceiveMode { get }

    /// Delivers up to `maxMessages` messages: as soon as that many arrived; else, once the first arrived, what
    /// arrived within `ServiceBusReceiver.receiveBatchWindow` (200 ms) more; else nothing when `timeout` passes.
    ///
    /// - Parameters:
    ///   - maxMessages: the most messages to deliver (at least 1 is asked for).
    ///   - timeout: how long to wait for the first message (azure-servicebus's `max_wait_time`).
    ///   - queue: where `completion` runs.
    ///   - completion: called once with the messages or the failure (`.clientClosed`, `.unauthorized`, …).
    /// - Returns: a handle that cancels the receive (the completion then gets `.cancelled`).
    @discardableResult
    func receive(maxMessages: Int, timeout: Duration, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ToolboxError>) -> Void)
        -> any Cancellable

    /// Completes a peek-locked message: it is removed from the entity.
    @discardableResult
    func complete(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                  completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Abandons a peek-locked message: its lock is released and it is delivered again.
    @discardableResult
    func abandon(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Moves a peek-locked message to the dead-letter queue, with an optional reason and description.
    @discardableResult
    func deadLetter(_ message: ServiceBusReceivedMessage, reason: String?, description: String?, queue: DispatchQueue,
                    completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Defers a peek-locked message: it stays, retrievable only with `receiveDeferred(sequenceNumbers:)`.
    @discardableResult
    func `defer`(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Receives deferred messages by sequence number.
    @discardableResult
    func receiveDeferred(sequenceNumbers: [Int64], queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ToolboxError>) -> Void)
        -> any Cancellable

    /// Renews a peek-locked message's lock; completes with the new locked-until time.
    @discardableResult
    func renewLock(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                   completion: @escaping @Sendable (Result<Date, ToolboxError>) -> Void) -> any Cancellable

    /// Reads messages without locking them, from `fromSequenceNumber` (nil: after the last one peeked).
    @discardableResult
    func peek(maxMessages: Int, fromSequenceNumber: Int64?, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ToolboxError>) -> Void)
        -> any Cancellable
}

// MARK: - Completion forms on the default callback queue

extension ServiceBusReceiving {
    /// `receive(maxMessages:timeout:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - maxMessages: the most messages to deliver.
    ///   - timeout: how long to wait for the first (then 200 ms more for the rest).
    ///   - completion: called once with the messages or the failure.
    /// - Returns: a handle that cancels the receive.
    @discardableResult
    public func receive(maxMessages: Int, timeout: Duration,
                        completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ToolboxError>) -> Void)
        -> any Cancellable
    {
        receive(maxMessages: maxMessages, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue,
                completion: completion)
    }

    /// `complete(_:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - message: a peek-locked message.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the wait for the outcome.
    @discardableResult
    public func complete(_ message: ServiceBusReceivedMessage,
                         completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        complete(message, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// `abandon(_:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - message: a peek-locked message.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the wait for the outcome.
    @discardableResult
    public func abandon(_ message: ServiceBusReceivedMessage,
                        completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        abandon(message, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// `deadLetter(_:reason:description:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - message: a peek-locked message.
    ///   - reason: the `DeadLetterReason` to record.
    ///   - description: the `DeadLetterErrorDescription` to record.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the wait for the outcome.
    @discardableResult
    public func deadLetter(_ message: ServiceBusReceivedMessage, reason: String? = nil, description: String? = nil,
                           completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        deadLetter(message, reason: reason, description: description, queue: LibraryQueues.defaultCallbackQueue,
                   completion: completion)
    }

    /// `defer(_:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - message: a peek-locked message.
    ///   - completion: called once with the outcome.
    /// - Returns: a handle that cancels the wait for the outcome.
    @discardableResult
    public func `defer`(_ message: ServiceBusReceivedMessage,
                        completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        self.defer(message, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// `receiveDeferred(sequenceNumbers:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - sequenceNumbers: the deferred messages' sequence numbers.
    ///   - completion: called once with the messages or the failure.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func receiveDeferred(sequenceNumbers: [Int64],
                                completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ToolboxError>) -> Void)
        -> any Cancellable
    {
        receiveDeferred(sequenceNumbers: sequenceNumbers, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// `renewLock(_:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - message: a peek-locked message.
    ///   - completion: called once with the new locked-until time or the failure.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func renewLock(_ message: ServiceBusReceivedMessage,
                          completion: @escaping @Sendable (Result<Date, ToolboxError>) -> Void) -> any Cancellable {
        renewLock(message, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// `peek(maxMessages:fromSequenceNumber:queue:completion:)` with `completion` on the default callback queue.
    ///
    /// - Parameters:
    ///   - maxMessages: the most messages to read.
    ///   - fromSequenceNumber: where to start; nil continues after the last one peeked.
    ///   - completion: called once with the messages or the failure.
    /// - Returns: a handle that cancels the request.
    @discardableResult
    public func peek(maxMessages: Int, fromSequenceNumber: Int64? = nil,
                     completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ToolboxError>) -> Void)
        -> any Cancellable
    {
        peek(maxMessages: maxMessages, fromSequenceNumber: fromSequenceNumber, queue: LibraryQueues.defaultCallbackQueue,
             completion: completion)
    }
}

// MARK: - Blocking forms

extension ServiceBusReceiving {
    /// Blocking form of `receive(maxMessages:timeout:queue:completion:)`.
    ///
    /// - Parameters:
    ///   - maxMessages: the most messages to return.
    ///   - timeout: how long to wait for the first (then 200 ms more for the rest).
    /// - Returns: what arrived, possibly nothing.
    public func receive(maxMessages: Int, timeout: Duration) throws(ToolboxError) -> [ServiceBusReceivedMessage] {
        try blockingWait { queue, done in receive(maxMessages: maxMessages, timeout: timeout, queue: queue, completion: done) }
    }

    /// Blocking form of `complete(_:queue:completion:)`.
    /// - Parameter message: a peek-locked message.
    public func complete(_ message: ServiceBusReceivedMessage) throws(ToolboxError) {
        try blockingWait { queue, done in complete(message, queue: queue, completion: done) }
    }

    /// Blocking form of `abandon(_:queue:completion:)`.
    /// - Parameter message: a peek-locked message.
    public func abandon(_ message: ServiceBusReceivedMessage) throws(ToolboxError) {
        try blockingWait { queue, done in abandon(message, queue: queue, completion: done) }
    }

    /// Blocking form of `deadLetter(_:reason:description:queue:completion:)`.
    ///
    /// - Parameters:
    ///   - message: a peek-locked message.
    ///   - reason: the `DeadLetterReason` to record.
    ///   - description: the `DeadLetterErrorDescription` to record.
    public func deadLetter(_ message: ServiceBusReceivedMessage, reason: String? = nil, description: String? = nil)
        throws(ToolboxError)
    {
        try blockingWait { queue, done in
            deadLetter(message, reason: reason, description: description, queue: queue, completion: done)
        }
    }

    /// Blocking form of `defer(_:queue:completion:)`.
    /// - Parameter message: a peek-locked message.
    public func `defer`(_ message: ServiceBusReceivedMessage) throws(ToolboxError) {
        try blockingWait { queue, done in self.defer(message, queue: queue, completion: done) }
    }

    /// Blocking form of `receiveDeferred(sequenceNumbers:queue:completion:)`.
    /// - Parameter sequenceNumbers: the deferred messages' sequence numbers.
    /// - Returns: the messages found.
    public func receiveDeferred(sequenceNumbers: [Int64]) throws(ToolboxError) -> [ServiceBusReceivedMessage] {
        try blockingWait { queue, done in receiveDeferred(sequenceNumbers: sequenceNumbers, queue: queue, completion: done) }
    }

    /// Blocking form of `renewLock(_:queue:completion:)`.
    /// - Parameter message: a peek-locked message.
    /// - Returns: the new locked-until time.
    @discardableResult
    public func renewLock(_ message: ServiceBusReceivedMessage) throws(ToolboxError) -> Date {
        try blockingWait { queue, done in renewLock(message, queue: queue, completion: done) }
    }

    /// Blocking form of `peek(maxMessages:fromSequenceNumber:queue:completion:)`.
    ///
    /// - Parameters:
    ///   - maxMessages: the most messages to read.
    ///   - fromSequenceNumber: where to start; nil continues after the last one peeked.
    /// - Returns: the messages, unlocked.
    public func peek(maxMessages: Int, fromSequenceNumber: Int64? = nil) throws(ToolboxError) -> [ServiceBusReceivedMessage] {
        try blockingWait { queue, done in
            peek(maxMessages: maxMessages, fromSequenceNumber: fromSequenceNumber, queue: queue, completion: done)
        }
    }
}
