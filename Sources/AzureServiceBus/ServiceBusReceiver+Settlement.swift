import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

extension ServiceBusReceiver {
    /// Settles a peek-locked message on its link and waits for the service's confirmation; a message that came
    /// through `receiveDeferred` is settled with `$management` update-disposition instead. `verb` names the
    /// settlement in the handle's cancellation error ("completing message 7").
    private func settle(_ message: ServiceBusReceivedMessage, verb: String, outcome: AMQPDeliveryState,
                        disposition: String, extra: AMQPMap = AMQPMap(), queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        let handle = CancellableCompletion("\(verb) message \(message.sequenceNumber)", queue: queue, completion: completion)
        settle(message, outcome: outcome, disposition: disposition, extra: extra, queue: queue, completion: handle.complete)
        return handle
    }

    private func settle(_ message: ServiceBusReceivedMessage, outcome: AMQPDeliveryState, disposition: String,
                        extra: AMQPMap, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) {
        guard receiveMode == .peekLock, let token = message.lockToken else {
            let error = ServiceBusError(.invalidArgument, "only peek-locked messages can be settled (this one has no lock token)")
            return queue.async { completion(.failure(error)) }
        }
        if let delivery = message.delivery {
            guard message.connectionID == currentConnectionID else {
                let why = lastError.map { "; the receiver's last connection error: \($0)" }
                    ?? "; the receiver has reconnected since"
                let error = ServiceBusError(.messageLockLost,
                                            "the connection this message came on has ended; its lock is lost\(why)",
                                            condition: "com.microsoft:message-lock-lost")
                return queue.async { completion(.failure(error)) }
            }
            // The service's confirmation is waited for at most `retry.tryTimeout`: a peer that never sends it left
            // `complete` (and `toolbox servicebus receive`) waiting forever, deaf to its own time-out.
            let once = CompletionOnce<Result<Void, ServiceBusError>>(completion)
            timeouts.schedule(after: options.retry.tryTimeout,
                              SettlementTimeout(once: once, sequenceNumber: message.sequenceNumber,
                                                limit: options.retry.tryTimeout, queue: queue))
            delivery.settle(outcome, queue: queue) { result in
                once.complete(result.mapError { ServiceBusError($0, context: "settling message \(message.sequenceNumber)") })
            }
            return
        }
        var body: AMQPMap = ["disposition-status": .string(disposition), "lock-tokens": Self.uuidArray([token])]
        body.entries += extra.entries
        management(operation: "com.microsoft:update-disposition", body: body) { result in
            queue.async { completion(result.map { _ in () }) }
        }
    }

    static func uuidArray(_ tokens: [UUID]) -> AMQPValue {
        (try? AMQPArray(elementType: .uuid, elements: tokens.map { .uuid($0) })).map { .array($0) } ?? .list([])
    }

    /// Completes the message: it is removed from the queue.
    @discardableResult
    public func complete(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        settle(message, verb: "completing", outcome: .accepted, disposition: "completed", queue: queue, completion: completion)
    }

    /// Abandons the message: the lock is released and it is delivered again (delivery count + 1).
    @discardableResult
    public func abandon(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        settle(message, verb: "abandoning",
               outcome: .modified(deliveryFailed: true, undeliverableHere: false, messageAnnotations: nil),
               disposition: "abandoned", queue: queue, completion: completion)
    }

    /// Moves the message to the dead-letter queue with a reason and description.
    @discardableResult
    public func deadLetter(_ message: ServiceBusReceivedMessage, reason: String?, description: String?,
                           queue: DispatchQueue,
                           completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        var info = AMQPMap()
        if let reason { info.entries.append(.init(key: .symbol("DeadLetterReason"), value: .string(reason))) }
        if let description { info.entries.append(.init(key: .symbol("DeadLetterErrorDescription"), value: .string(description))) }
        let error = AMQPRemoteError(condition: "com.microsoft:dead-letter", description: description, info: info)
        var extra = AMQPMap()
        if let reason { extra.entries.append(.init(key: "deadletter-reason", value: .string(reason))) }
        if let description { extra.entries.append(.init(key: "deadletter-description", value: .string(description))) }
        return settle(message, verb: "dead-lettering", outcome: .rejected(error), disposition: "suspended", extra: extra,
                      queue: queue, completion: completion)
    }

    /// Defers the message: it stays in the queue, retrievable only with `receiveDeferred(sequenceNumbers:)`.
    @discardableResult
    public func `defer`(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        settle(message, verb: "deferring",
               outcome: .modified(deliveryFailed: true, undeliverableHere: true, messageAnnotations: nil),
               disposition: "defered", queue: queue, completion: completion)
    }

    /// Receives deferred messages by sequence number (locked in peek-lock mode).
    @discardableResult
    public func receiveDeferred(sequenceNumbers: [Int64], queue: DispatchQueue,
                                completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ServiceBusError>) -> Void)
        -> any Cancellable
    {
        let handle = CancellableCompletion("receiving \(sequenceNumbers.count) deferred message(s)", queue: queue,
                                           completion: completion)
        let numbers = (try? AMQPArray(elementType: .long, elements: sequenceNumbers.map { .long($0) })).map { AMQPValue.array($0) }
            ?? .list([])
        let body: AMQPMap = ["sequence-numbers": numbers, "receiver-settle-mode": .uint(receiveMode == .peekLock ? 1 : 0)]
        management(operation: "com.microsoft:receive-by-sequence-number", body: body) { result in
            queue.async {
                handle.complete(result.flatMap { map, link in
                    Self.decodeMessages(map, lockTokens: true, connectionID: link.connection.id)
                })
            }
        }
        return handle
    }

    /// Renews the message's lock; completes with the new locked-until time.
    @discardableResult
    public func renewLock(_ message: ServiceBusReceivedMessage, queue: DispatchQueue,
                          completion: @escaping @Sendable (Result<Date, ServiceBusError>) -> Void) -> any Cancellable {
        let handle = CancellableCompletion("renewing the lock of message \(message.sequenceNumber)", queue: queue,
                                           completion: completion)
        guard let token = message.lockToken else {
            let error = ServiceBusError(.invalidArgument, "the message has no lock token to renew")
            queue.async { handle.complete(.failure(error)) }
            return handle
        }
        management(operation: "com.microsoft:renew-lock", body: ["lock-tokens": Self.uuidArray([token])]) { result in
            queue.async {
                handle.complete(result.flatMap { map, _ in
                    guard case .array(let array)? = map[.string("expirations")], case .timestamp(let ms)? = array.elements.first else {
                        return .failure(ServiceBusError(.invalidResponse, "the renew-lock response has no expiration"))
                    }
                    return .success(Date(timeIntervalSince1970: Double(ms) / 1000))
                })
            }
        }
        return handle
    }

    /// Reads messages without locking them, from `fromSequenceNumber` (default: after the last peeked one).
    @discardableResult
    public func peek(maxMessages: Int, fromSequenceNumber: Int64?, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ServiceBusError>) -> Void)
        -> any Cancellable
    {
        let handle = CancellableCompletion("peeking \(maxMessages) message(s)", queue: queue, completion: completion)
        let from = nextPeekSequence(fromSequenceNumber)
        let body: AMQPMap = ["from-sequence-number": .long(from), "message-count": .int(Int32(clamping: maxMessages))]
        management(operation: "com.microsoft:peek-message", body: body) { [weak self] result in
            let decoded = result.flatMap { map, _ in Self.decodeMessages(map, lockTokens: false, connectionID: nil) }
            if case .success(let messages) = decoded, let last = messages.last { self?.notePeeked(last.sequenceNumber) }
            queue.async { handle.complete(decoded) }
        }
        return handle
    }

    static func decodeMessages(_ map: AMQPMap, lockTokens: Bool, connectionID: Int?)
        -> Result<[ServiceBusReceivedMessage], ServiceBusError>
    {
        guard case .list(let items)? = map[.string("messages")] else { return .success([]) }
        var messages: [ServiceBusReceivedMessage] = []
        for item in items {
            guard case .map(let entry) = item, case .binary(let bytes)? = entry[.string("message")],
                  let amqp = try? AMQPMessage.decode(bytes)
            else { return .failure(ServiceBusError(.invalidResponse, "a management response carried an unreadable message")) }
            var token: UUID?
            if lockTokens, case .uuid(let uuid)? = entry[.string("lock-token")] { token = uuid }
            messages.append(ServiceBusReceivedMessage(amqp: amqp, delivery: nil, lockToken: token, connectionID: connectionID))
        }
        return .success(messages)
    }
}

/// A settlement's wait for the service's confirmation in the receiver's `TimeoutScheduler`: fails it with
/// `.timedOut` on the caller's queue unless the confirmation came first.
private final class SettlementTimeout: TimeoutTarget {
    let once: CompletionOnce<Result<Void, ServiceBusError>>
    let sequenceNumber: Int64
    let limit: Duration
    let queue: DispatchQueue

    init(once: CompletionOnce<Result<Void, ServiceBusError>>, sequenceNumber: Int64, limit: Duration,
         queue: DispatchQueue) {
        self.once = once
        self.sequenceNumber = sequenceNumber
        self.limit = limit
        self.queue = queue
    }

    var isFinished: Bool { once.isCompleted }

    func timeOut() {
        guard !once.isCompleted else { return }
        let error = ServiceBusError(
            .timedOut, "settling message \(sequenceNumber): the service did not confirm the settlement within "
                + "\(limit.toolboxSeconds) s; it may not have taken effect (the message comes back once its lock expires)")
        queue.async { [once] in once.complete(.failure(error)) }
    }
}
