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
        if let problem = message.propertyProblem {
            return core.refuse(ServiceBusError(.invalidArgument, problem), queue: queue, completion: completion)
        }
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
        if let (index, problem) = Self.firstPropertyProblem(messages) {
            return core.refuse(ServiceBusError(.invalidArgument, "message \(index): \(problem)"), queue: queue,
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

    /// The first message (by index) whose properties the service would refuse, and why.
    static func firstPropertyProblem(_ messages: [ServiceBusMessage]) -> (Int, String)? {
        for (index, message) in messages.enumerated() {
            if let problem = message.propertyProblem { return (index, problem) }
        }
        return nil
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
        if let (index, problem) = Self.firstPropertyProblem(messages) {
            return core.refuse(ServiceBusError(.invalidArgument, "message \(index): \(problem)"), queue: queue,
                               completion: completion)
        }
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
        let count = messages.count
        return core.perform("schedule of \(count) message(s) on \(entityPath)", queue: queue, { connection, scope, done in
            connection.management(operation: "com.microsoft:schedule-message", body: body, deadline: scope.deadline) { result in
                done(result.flatMap { ServiceBusScheduling.sequenceNumbers(in: $0, expected: count) })
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

enum ServiceBusScheduling {
    /// The sequence numbers a `schedule-message` response assigned, one per scheduled message and in their order.
    /// A response that lacks them, holds something other than longs or holds a different count is refused: the
    /// messages may well be scheduled, but without their numbers the caller could not cancel them, and an empty or
    /// short list would pass for success.
    static func sequenceNumbers(in response: AMQPMap, expected: Int) -> Result<[Int64], ServiceBusError> {
        let elements: [AMQPValue]
        switch response[.string("sequence-numbers")] {
        case .array(let array)?: elements = array.elements
        case .list(let list)?: elements = list
        case nil:
            return .failure(ServiceBusError(.invalidResponse, "the schedule-message response has no 'sequence-numbers'"))
        case .some:
            return .failure(ServiceBusError(.invalidResponse,
                                            "the schedule-message response's 'sequence-numbers' is not an array"))
        }
        var numbers: [Int64] = []
        numbers.reserveCapacity(elements.count)
        for element in elements {
            guard case .long(let number) = element else {
                return .failure(ServiceBusError(.invalidResponse,
                                                "the schedule-message response's 'sequence-numbers' holds a non-long value"))
            }
            // Service Bus numbers messages from 1 up; a negative number could never be cancelled by.
            guard number >= 0 else {
                return .failure(ServiceBusError(.invalidResponse,
                                                "the schedule-message response's 'sequence-numbers' holds \(number), a negative number"))
            }
            numbers.append(number)
        }
        guard numbers.count == expected else {
            return .failure(ServiceBusError(.invalidResponse, "the schedule-message response carries \(numbers.count) "
                                                + "sequence number(s) for \(expected) scheduled message(s)"))
        }
        return .success(numbers)
    }
}
