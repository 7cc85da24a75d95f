import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

/// Event Hubs batches (message-format 0x80013700): each `data` section is one encoded event.
let batchMessageFormat: UInt32 = 0x8001_3700

extension BrokerConnection {
    /// A producer link to `<hub>` (partition by key or round robin) or `<hub>/Partitions/<id>`.
    func eventHubProducer(hub name: String, partition: String?) -> AMQPLinkDecision {
        let hub: EventHub
        switch broker.eventHub(name) {
        case .success(let found): hub = found
        case .failure(let error): return .refuse(error.remote)
        }
        var pinned: Int?
        if let partition {
            guard let index = hub.partitionIndex(partition) else {
                return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notFound,
                                               description: "event hub '\(name)' has no partition '\(partition)'; ids are 0...\(hub.partitionCount - 1)"))
            }
            pinned = index
        }
        let partitionIndex = pinned
        return entitySendReceiver(reading: "event batch") { delivery in
            let (events, key) = try EventHubBatch.unpackEvents(delivery.message, format: delivery.messageFormat,
                                                               encoded: delivery.encodedMessage)
            hub.append(events, partition: partitionIndex ?? hub.choosePartition(key: key), partitionKey: key)
            return nil
        }
    }

    /// A consumer link on `<hub>/ConsumerGroups/<group>/Partitions/<id>`, starting where the selector filter says.
    func eventHubConsumer(hub name: String, group: String, partition: String, attach: AMQPAttach) -> AMQPLinkDecision {
        let hub: EventHub
        switch broker.eventHub(name) {
        case .success(let found): hub = found
        case .failure(let error): return .refuse(error.remote)
        }
        guard let index = hub.partitionIndex(partition) else {
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notFound,
                                           description: "event hub '\(name)' has no partition '\(partition)'"))
        }
        guard hub.consumerGroups.contains(group.lowercased()) || !broker.configuration.strictEntities else {
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notFound,
                                           description: "event hub '\(name)' has no consumer group '\(group)'"))
        }
        guard let position = SelectorFilter.startingPosition(from: attach.source?.filter) else {
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.invalidField,
                                           description: "the selector filter is not one the emulator understands (offset, sequence number or enqueued time)"))
        }
        let cursor = LockedValue(hub.firstSequence(partition: index, position: position))
        let runtimeMetrics = attach.desiredCapabilities?.contains("com.microsoft:enable-receiver-runtime-metric") == true
        return .send(ready: { sender in
            hub.subscribe(sender, partition: index)
            // Consumers never settle what they get (pyamqp), so events go pre-settled.
            // Nothing to do with each event's outcome: completed inline, no block per event on a handler queue.
            sender.pull(queue: LibraryQueues.ignoredCompletions) {
                cursor.withLockedValue { next -> AMQPOutgoingDelivery? in
                    guard let event = hub.event(partition: index, atOrAfter: next) else { return nil }
                    next = event.sequenceNumber + 1
                    var payload = event.payload
                    if runtimeMetrics, let last = hub.lastEnqueued(partition: index) {
                        payload = EventHubBatch.addingRuntimeMetrics(to: payload, last: last)
                    }
                    return AMQPOutgoingDelivery(payload: payload, settled: true) { _ in }
                }
            }
        })
    }
}

/// Unpacks what a producer sent into events.
enum EventHubBatch {
    /// Inserts the delivery-annotations Azure adds for consumers that enabled receiver runtime metrics, after the
    /// header section (if any) as the specification orders sections.
    static func addingRuntimeMetrics(to payload: [UInt8], last: StoredEvent) -> [UInt8] {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let annotations = AMQPEncoder.encode(.described(descriptor: .ulong(0x71), value: .map([
            .symbol("last_enqueued_sequence_number"): .long(last.sequenceNumber),
            .symbol("last_enqueued_offset"): .string(String(last.offset)),
            .symbol("last_enqueued_time_utc"): .timestamp(last.enqueuedTime),
            .symbol("runtime_info_retrieval_time_utc"): .timestamp(now),
        ])))
        var split = 0
        if payload.count > 3, payload[0] == 0x00, payload[1] == 0x53, payload[2] == 0x70 {
            var decoder = AMQPDecoder(payload)
            if (try? decoder.decodeValue()) != nil { split = decoder.position }
        }
        return Array(payload[..<split]) + annotations + payload[split...]
    }

    /// The events and the partition key (`x-opt-partition-key` on the outer message).
    static func unpack(_ message: AMQPMessage, format: UInt32) throws -> ([AMQPMessage], String?) {
        let key = partitionKey(of: message)
        guard format == batchMessageFormat else { return ([message], key) }
        guard case .data(let sections) = message.body else { return ([], key) }
        return (try sections.map { try AMQPMessage.decode($0) }, key)
    }

    /// `unpack` for an event hub, which stores what it received: a batch's events, and a single event sent as
    /// `encoded` (the delivery's bytes), stay encoded when they can (`IncomingEvent`); encoding each single event
    /// again was the emulator's largest cost per event under `toolbox bench eventhubs --concurrency 64`
    /// (performance-history.md, "emu-amqp").
    static func unpackEvents(_ message: AMQPMessage, format: UInt32, encoded: [UInt8] = []) throws -> ([IncomingEvent], String?) {
        let key = partitionKey(of: message)
        guard format == batchMessageFormat else { return ([IncomingEvent(single: message, encoded: encoded)], key) }
        guard case .data(let sections) = message.body else { return ([], key) }
        return (try sections.map { try IncomingEvent(batchSection: $0) }, key)
    }

    private static func partitionKey(of message: AMQPMessage) -> String? {
        if case .string(let text)? = message.messageAnnotations?[.symbol("x-opt-partition-key")] { return text }
        return nil
    }
}
