import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

/// The one implementation of `ServiceBusSending` both senders share, run on their core (settings, health and
/// close come with `EntityClientCoreBacked`). Completion handlers run on `queue`, exactly once, never under a
/// library lock.
protocol ServiceBusSenderCoreBacked: ServiceBusSending, EntityClientCoreBacked where Service == ServiceBusEntity {}

extension ServiceBusSenderCoreBacked {
    public var entityPath: String { core.entityPath }

    /// Sends one message (message-format 0). A message without an id gets a UUID string first, so a retry
    /// after a lost connection carries the same id (duplicate detection can drop the copy).
    @discardableResult
    public func send(_ message: ServiceBusMessage, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        let payload = message.amqpMessage(messageID: message.messageID ?? RandomUUID.string()).encode()
        return core.perform("send to \(entityPath)", queue: queue, { connection, scope, done in
            connection.send(payload: payload, messageFormat: 0, scope: scope, completion: done)
        }, completion: completion)
    }

    /// Sends `messages` in one batch transfer (message-format 0x80013700); fails with `.messageSizeExceeded`
    /// when they do not fit the link's max-message-size together (use `createBatch` to split them).
    @discardableResult
    public func send(_ messages: [ServiceBusMessage], queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        guard !messages.isEmpty else {
            return core.refuse(ServiceBusError(.invalidArgument, "send needs at least one message"), queue: queue,
                          completion: completion)
        }
        // Ids are fixed before the first try, so a retry carries the same ones.
        let messages = messages.map { message -> ServiceBusMessage in
            var message = message
            if message.messageID == nil { message.messageID = RandomUUID.string() }
            return message
        }
        return core.perform("send of \(messages.count) message(s) to \(entityPath)", queue: queue, { connection, scope, done in
            connection.maxMessageSize(deadline: scope.deadline) { result in
                switch result {
                case .failure(let error): done(.failure(error))
                case .success(let maxSize):
                    var batch = ServiceBusMessageBatch(maxSizeInBytes: maxSize)
                    for message in messages where !batch.tryAdd(message) {
                        return done(.failure(ServiceBusError(
                            .messageSizeExceeded, "\(messages.count) message(s) exceed the link's max-message-size of "
                                + "\(maxSize) bytes; split them with createBatch/tryAdd",
                            condition: AMQPRemoteError.messageSizeExceeded.rawValue)))
                    }
                    connection.send(payload: batch.encode(), messageFormat: 0x8001_3700, scope: scope, completion: done)
                }
            }
        }, completion: completion)
    }

    /// An empty batch sized by the sender link's max-message-size (this opens the connection if needed).
    @discardableResult
    public func createBatch(queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<ServiceBusMessageBatch, ServiceBusError>) -> Void)
        -> any Cancellable
    {
        return core.perform("createBatch for \(entityPath)", queue: queue, { connection, scope, done in
            connection.maxMessageSize(deadline: scope.deadline) { done($0.map { ServiceBusMessageBatch(maxSizeInBytes: $0) }) }
        }, completion: completion)
    }

    /// Sends a batch made with `createBatch`.
    @discardableResult
    public func send(_ batch: ServiceBusMessageBatch, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        core.send(batchOf: batch.count, payload: batch.encode(), queue: queue, { connection, payload, scope, done in
            connection.send(payload: payload, messageFormat: 0x8001_3700, scope: scope, completion: done)
        }, completion: completion)
    }

    /// Schedules `messages` to appear at `time`; completes with their sequence numbers (for `cancelScheduled`).
    @discardableResult
    public func schedule(_ messages: [ServiceBusMessage], at time: Date,
                         queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<[Int64], ServiceBusError>) -> Void) -> any Cancellable {
        var entries: [AMQPValue] = []
        for var message in messages {
            message.scheduledEnqueueTime = time
            let id = message.messageID ?? RandomUUID.string()
            var entry: AMQPMap = ["message-id": .string(id),
                                  "message": .binary(message.amqpMessage(messageID: id).encode())]
            if let session = message.sessionID { entry.entries.append(.init(key: "session-id", value: .string(session))) }
            if let key = message.partitionKey { entry.entries.append(.init(key: "partition-key", value: .string(key))) }
            entries.append(.map(entry))
        }
        let body: AMQPMap = ["messages": .list(entries)]
        return core.perform("schedule of \(messages.count) message(s) on \(entityPath)", queue: queue, { connection, scope, done in
            connection.management(operation: "com.microsoft:schedule-message", body: body, deadline: scope.deadline) { result in
                done(result.map { map in
                    guard case .array(let array)? = map[.string("sequence-numbers")] else { return [] }
                    return array.elements.compactMap { if case .long(let n) = $0 { return n } else { return nil } }
                })
            }
        }, completion: completion)
    }

    /// Cancels scheduled messages by sequence number.
    @discardableResult
    public func cancelScheduled(_ sequenceNumbers: [Int64], queue: DispatchQueue,
                                completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) -> any Cancellable {
        let array = (try? AMQPArray(elementType: .long, elements: sequenceNumbers.map { .long($0) })).map { AMQPValue.array($0) }
            ?? .list([])
        let body: AMQPMap = ["sequence-numbers": array]
        return core.perform("cancel of \(sequenceNumbers.count) scheduled message(s) on \(entityPath)", queue: queue, { connection, scope, done in
            connection.management(operation: "com.microsoft:cancel-scheduled-message", body: body, deadline: scope.deadline) {
                done($0.map { _ in () })
            }
        }, completion: completion)
    }
}
