import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

/// The one implementation of `EventHubProducing` both producers share, run on their core (settings, health and
/// close come with `EntityClientCoreBacked`). Completion handlers run on `queue`, exactly once, never under a
/// library lock.
protocol EventHubProducerCoreBacked: EventHubProducing, EntityClientCoreBacked where Service == EventHubEntity {}

extension EventHubProducerCoreBacked {
    public var eventHubName: String { core.eventHubName }

    // MARK: Send

    /// Sends `events` in one batch transfer; fails with `.messageSizeExceeded` if they do not fit the link's
    /// max-message-size together (use `createBatch` to split them).
    @discardableResult
    public func send(_ events: [EventData], options sendOptions: SendEventOptions,
                     queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) -> any Cancellable {
        do throws(EventHubsError) {
            try sendOptions.validate()
            if events.isEmpty { throw EventHubsError(.invalidArgument, "send needs at least one event") }
        } catch {
            return core.refuse(error, queue: queue, completion: completion)
        }
        return core.perform("send of \(events.count) event(s) to \(eventHubName)", queue: queue, { connection, scope, done in
            // One link lookup for both the size limit and the send.
            connection.sender(partitionID: sendOptions.partitionID, deadline: scope.deadline) { result in
                switch result {
                case .failure(let error): done(.failure(error))
                case .success(let sender):
                    let maxSize = EventHubConnection.maxMessageSize(of: sender)
                    var batch = EventDataBatch(maxSizeInBytes: maxSize, options: sendOptions)
                    for event in events where !batch.tryAdd(event) {
                        return done(.failure(EventHubsError(
                            .messageSizeExceeded, "\(events.count) event(s) exceed the link's max-message-size of "
                                + "\(maxSize) bytes; split them with createBatch/tryAdd",
                            condition: AMQPRemoteError.messageSizeExceeded.rawValue)))
                    }
                    connection.send(payload: batch.encode(), on: sender, partitionID: sendOptions.partitionID, scope: scope,
                                    completion: done)
                }
            }
        }, completion: completion)
    }

    /// Sends a batch made with `createBatch`.
    @discardableResult
    public func send(_ batch: EventDataBatch, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) -> any Cancellable {
        let partitionID = batch.options.partitionID
        return core.send(batchOf: batch.count, payload: batch.encode(), queue: queue, { connection, payload, scope, done in
            connection.send(payload: payload, partitionID: partitionID, scope: scope, completion: done)
        }, completion: completion)
    }

    /// An empty batch sized by the link's max-message-size (this attaches the link, opening the connection if needed).
    @discardableResult
    public func createBatch(options sendOptions: SendEventOptions,
                            queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<EventDataBatch, EventHubsError>) -> Void)
        -> any Cancellable
    {
        do throws(EventHubsError) { try sendOptions.validate() } catch {
            return core.refuse(error, queue: queue, completion: completion)
        }
        return core.perform("createBatch for \(eventHubName)", queue: queue, { connection, scope, done in
            connection.maxMessageSize(partitionID: sendOptions.partitionID, deadline: scope.deadline) { result in
                done(result.map { EventDataBatch(maxSizeInBytes: $0, options: sendOptions) })
            }
        }, completion: completion)
    }

    // MARK: Management

    /// The hub's name, creation time and partition ids (`$management` READ `com.microsoft:eventhub`).
    @discardableResult
    public func eventHubProperties(queue: DispatchQueue,
                                   completion: @escaping @Sendable (Result<EventHubProperties, EventHubsError>) -> Void)
        -> any Cancellable
    {
        let hub = eventHubName
        return read("com.microsoft:eventhub", partitionID: nil, context: "eventHubProperties of \(hub)", queue: queue, { map in
            var ids: [String] = []
            if case .array(let array)? = map[text: "partition_ids"] {
                ids = array.elements.compactMap { if case .string(let id) = $0 { return id } else { return nil } }
            }
            return EventHubProperties(name: map.string("name") ?? hub, createdAt: map.date("created_at"), partitionIDs: ids)
        }, completion: completion)
    }

    /// One partition's sequence numbers, last offset and time (`$management` READ `com.microsoft:partition`).
    @discardableResult
    public func partitionProperties(partitionID: String, queue: DispatchQueue,
                                    completion: @escaping @Sendable (Result<PartitionProperties, EventHubsError>) -> Void)
        -> any Cancellable
    {
        let hub = eventHubName
        return read("com.microsoft:partition", partitionID: partitionID, context: "partitionProperties of \(hub)/\(partitionID)",
                    queue: queue, { map in
            PartitionProperties(
                eventHubName: map.string("name") ?? hub, id: map.string("partition") ?? partitionID,
                beginningSequenceNumber: map.int64("begin_sequence_number") ?? -1,
                lastEnqueuedSequenceNumber: map.int64("last_enqueued_sequence_number") ?? -1,
                lastEnqueuedOffset: map.string("last_enqueued_offset") ?? "-1",
                lastEnqueuedTime: map.date("last_enqueued_time_utc"),
                isEmpty: map[text: "is_partition_empty"] == .bool(true))
        }, completion: completion)
    }

    /// One `$management` READ of `type` as an operation, its response map made into a `T` by `decode`.
    private func read<T: Sendable>(_ type: String, partitionID: String?, context: String, queue: DispatchQueue,
                                   _ decode: @escaping @Sendable (AMQPMap) -> T,
                                   completion: @escaping @Sendable (Result<T, EventHubsError>) -> Void) -> any Cancellable {
        core.perform(context, queue: queue, { connection, scope, done in
            connection.read(type: type, partitionID: partitionID, deadline: scope.deadline) { done($0.map(decode)) }
        }, completion: completion)
    }
}
