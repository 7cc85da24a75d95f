import Foundation
import ToolboxAMQP

extension BrokerConnection {
    /// Service Bus `<entity>/$management` operations, answered with camelCase status keys.
    func handleServiceBusManagement(_ delivery: AMQPDelivery, entity: String) {
        let request = delivery.message
        let node = entity + "/$management"
        func answer(_ status: Int32, _ description: String, _ body: AMQPValue? = nil, condition: AMQPSymbol? = nil) {
            reply(to: request, node: node, status: status, description: description, body: body, camelCase: true,
                  errorCondition: condition)
        }
        if broker.kind(of: entity) == .topic {
            handleTopicManagement(request, topic: entity, answer: answer)
            return
        }
        let queue: ServiceBusQueue
        switch broker.serviceBusQueue(entity) {
        case .success(let found): queue = found
        case .failure(let error):
            answer(404, error.remote.errorDescription ?? "entity not found", condition: error.remote.condition)
            return
        }
        guard case .string(let operation)? = request.applicationProperties?["operation"] else {
            answer(400, "the request has no 'operation' application property", condition: "com.microsoft:argument-error")
            return
        }
        var body = AMQPMap()
        if case .value(.map(let map)) = request.body { body = map }
        switch operation {
        case "com.microsoft:schedule-message":
            var sequences: [AMQPValue] = []
            for item in ServiceBusManagement.list(body["messages"]) {
                guard case .map(let entry) = item, case .binary(let bytes)? = entry["message"],
                    let message = try? AMQPMessage.decode(bytes)
                else {
                    answer(400, "each scheduled message needs an encoded 'message'", condition: "com.microsoft:argument-error")
                    return
                }
                let at = ServiceBusManagement.timestamp(message.messageAnnotations?[.symbol("x-opt-scheduled-enqueue-time")])
                switch queue.enqueue(message, scheduledAt: at ?? ServiceBusQueue.now()) {
                case .success(let sequence): sequences.append(.long(sequence))
                case .failure(let error):
                    answer(403, error.remote.errorDescription ?? "quota exceeded", condition: error.remote.condition)
                    return
                }
            }
            answer(200, "OK", .map(["sequence-numbers": ServiceBusManagement.array(.long, sequences)]))
        case "com.microsoft:cancel-scheduled-message":
            queue.cancelScheduled(ServiceBusManagement.longs(body["sequence-numbers"]))
            answer(200, "OK")
        case "com.microsoft:renew-lock":
            let tokens = ServiceBusManagement.uuids(body["lock-tokens"])
            guard let expirations = queue.renew(tokens) else {
                answer(410, "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
                       condition: "com.microsoft:message-lock-lost")
                return
            }
            answer(200, "OK", .map(["expirations": ServiceBusManagement.array(.timestamp, expirations.map { .timestamp($0) })]))
        case "com.microsoft:update-disposition":
            updateDisposition(body, queue: queue, answer: answer)
        case "com.microsoft:receive-by-sequence-number":
            let sequences = ServiceBusManagement.longs(body["sequence-numbers"])
            let peekLock = body["receiver-settle-mode"] != .uint(0)
            guard let deliveries = queue.receiveDeferred(sequences, peekLock: peekLock) else {
                answer(404, "Failed to retrieve the deferred messages: a sequence number is not a deferred message.",
                       condition: "com.microsoft:message-not-found")
                return
            }
            let messages: [AMQPValue] = deliveries.map { item in
                var entry: AMQPMap = ["message": .binary(item.payload)]
                if let token = item.token { entry["lock-token"] = .uuid(token) }
                return .map(entry)
            }
            answer(200, "OK", .map(["messages": .list(messages)]))
        case "com.microsoft:peek-message":
            let from = ServiceBusManagement.long(body["from-sequence-number"]) ?? 1
            let count = Int(ServiceBusManagement.long(body["message-count"]) ?? 1)
            let messages = queue.peek(from: from, count: max(0, min(count, 1000)))
            if messages.isEmpty {
                answer(204, "No Content")
            } else {
                answer(200, "OK", .map(["messages": .list(messages.map { .map(["message": .binary($0)]) })]))
            }
        default:
            answer(501, "the emulator does not implement '\(operation)'", condition: AMQPRemoteError.notImplemented)
        }
    }

    /// A topic's `$management`: schedule-message copies each message to every subscription (the sequence number
    /// reported is the first subscription's); cancel-scheduled-message is accepted and ignored.
    private func handleTopicManagement(_ request: AMQPMessage, topic: String,
                                       answer: (Int32, String, AMQPValue?, AMQPSymbol?) -> Void) {
        var body = AMQPMap()
        if case .value(.map(let map)) = request.body { body = map }
        switch request.applicationProperties?["operation"] {
        case "com.microsoft:schedule-message":
            var sequences: [AMQPValue] = []
            let subscriptions = broker.subscriptions(of: topic)
            for item in ServiceBusManagement.list(body["messages"]) {
                guard case .map(let entry) = item, case .binary(let bytes)? = entry["message"],
                    let message = try? AMQPMessage.decode(bytes)
                else {
                    answer(400, "each scheduled message needs an encoded 'message'", nil, "com.microsoft:argument-error")
                    return
                }
                let at = ServiceBusManagement.timestamp(message.messageAnnotations?[.symbol("x-opt-scheduled-enqueue-time")])
                var first: Int64 = 0
                for (index, subscription) in subscriptions.enumerated() {
                    if case .success(let sequence) = subscription.enqueue(message, scheduledAt: at ?? ServiceBusQueue.now()),
                        index == 0 {
                        first = sequence
                    }
                }
                sequences.append(.long(first))
            }
            answer(200, "OK", .map(["sequence-numbers": ServiceBusManagement.array(.long, sequences)]), nil)
        case "com.microsoft:cancel-scheduled-message":
            answer(200, "OK", nil, nil)
        default:
            answer(400, "a topic's $management supports schedule-message and cancel-scheduled-message; use a subscription's for the rest",
                   nil, "com.microsoft:argument-error")
        }
    }

    private func updateDisposition(_ body: AMQPMap, queue: ServiceBusQueue,
                                   answer: (Int32, String, AMQPValue?, AMQPSymbol?) -> Void) {
        let tokens = ServiceBusManagement.uuids(body["lock-tokens"])
        let reason = body["deadletter-reason"].flatMap(ServiceBusQueue.text)
        let description = body["deadletter-description"].flatMap(ServiceBusQueue.text)
        var lost = false
        for token in tokens {
            let result: SettleResult
            switch body["disposition-status"].flatMap(ServiceBusQueue.text) {
            case "completed": result = queue.complete(token)
            case "abandoned": result = queue.unlock(token, countDelivery: true, deferring: false)
            case "defered", "deferred": result = queue.unlock(token, countDelivery: false, deferring: true)
            case "suspended": result = queue.deadLetter(token, reason: reason, description: description)
            default:
                answer(400, "disposition-status must be completed, abandoned, suspended or defered", nil, "com.microsoft:argument-error")
                return
            }
            if result == .lockLost { lost = true }
        }
        if lost {
            answer(410, "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
                   nil, "com.microsoft:message-lock-lost")
        } else {
            answer(200, "OK", nil, nil)
        }
    }
}

/// Reading the loosely typed bodies of Service Bus management requests.
enum ServiceBusManagement {
    static func list(_ value: AMQPValue?) -> [AMQPValue] {
        switch value {
        case .list(let items)?: return items
        case .array(let array)?: return array.elements
        default: return []
        }
    }

    static func long(_ value: AMQPValue?) -> Int64? {
        switch value {
        case .long(let v)?: return v
        case .int(let v)?: return Int64(v)
        case .uint(let v)?: return Int64(v)
        case .ulong(let v)?: return Int64(clamping: v)
        case .short(let v)?: return Int64(v)
        default: return nil
        }
    }

    static func longs(_ value: AMQPValue?) -> [Int64] { list(value).compactMap { long($0) } }

    static func uuids(_ value: AMQPValue?) -> [UUID] {
        list(value).compactMap { if case .uuid(let token) = $0 { return token } else { return nil } }
    }

    static func timestamp(_ value: AMQPValue?) -> Int64? {
        if case .timestamp(let at)? = value { return at }
        return nil
    }

    static func array(_ type: AMQPArray.ElementType, _ elements: [AMQPValue]) -> AMQPValue {
        (try? AMQPArray(elementType: type, elements: elements)).map { .array($0) } ?? .list(elements)
    }
}
