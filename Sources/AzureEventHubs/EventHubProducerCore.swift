import AzureAuth
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

/// The one implementation behind `EventHubProducer` (one connection) and `ManagedEventHubProducer` (a pool):
/// both hold a core and forward the `EventHubProducing` requirements to it (`EventHubProducerCoreBacked`).
///
/// Completion handlers run on `queue`, exactly once, never under a library lock.
final class EventHubProducerCore: Sendable {
    let eventHubName: String
    let options: EventHubProducerOptions
    let provider: ConnectionProvider<EventHubConnectionFactory>

    init(provider: ConnectionProvider<EventHubConnectionFactory>, eventHubName: String, options: EventHubProducerOptions) {
        self.provider = provider
        self.eventHubName = eventHubName
        self.options = options
    }

    static func endpoint(connectionString: String, options: EventHubProducerOptions) throws(EventHubsError)
        -> (MessagingEndpoint, MessagingConnectionString)
    {
        do {
            let parsed = try MessagingConnectionString(parsing: connectionString)
            return (try MessagingEndpoint(connectionString: parsed, caFile: options.caFile,
                                          allowPlainTextForDevelopment: options.allowPlainTextForDevelopment), parsed)
        } catch {
            throw EventHubsError(.invalidArgument, "invalid connection string: \(error)")
        }
    }

    static func hubName(_ given: String?, _ parsed: MessagingConnectionString) throws(EventHubsError) -> String {
        guard let name = given ?? parsed.entityPath, !name.isEmpty else {
            throw EventHubsError(.invalidArgument, "no event hub name: pass eventHubName or add EntityPath to the connection string")
        }
        return name
    }

    private func perform<T: Sendable>(
        _ context: String, queue: DispatchQueue,
        _ body: @escaping @Sendable (EventHubConnection, TryScope, @escaping @Sendable (Result<T, EventHubsError>) -> Void)
            -> Void,
        completion: @escaping @Sendable (Result<T, EventHubsError>) -> Void
    ) -> any Cancellable {
        provider.perform(context, retry: options.retry, logger: options.logger, queue: queue, body: body,
                         completion: completion)
    }

    // MARK: Send

    /// Sends `events` in one batch transfer; fails with `.messageSizeExceeded` if they do not fit the link's
    /// max-message-size together (use `createBatch` to split them).
    func send(_ events: [EventData], options sendOptions: SendEventOptions,
                     queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) -> any Cancellable {
        do throws(EventHubsError) {
            try sendOptions.validate()
            if events.isEmpty { throw EventHubsError(.invalidArgument, "send needs at least one event") }
        } catch {
            queue.async { completion(.failure(error)) }
            return CompletedOperation()
        }
        return perform("send of \(events.count) event(s) to \(eventHubName)", queue: queue, { connection, scope, done in
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
    func send(_ batch: EventDataBatch, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) -> any Cancellable {
        guard batch.count > 0 else {
            queue.async { completion(.failure(EventHubsError(.invalidArgument, "the batch is empty"))) }
            return CompletedOperation()
        }
        let payload = batch.encode()
        return perform("send of a batch of \(batch.count) to \(eventHubName)", queue: queue, { connection, scope, done in
            connection.send(payload: payload, partitionID: batch.options.partitionID, scope: scope, completion: done)
        }, completion: completion)
    }

    /// An empty batch sized by the link's max-message-size (this attaches the link, opening the connection if needed).
    func createBatch(options sendOptions: SendEventOptions,
                            queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<EventDataBatch, EventHubsError>) -> Void)
        -> any Cancellable
    {
        do throws(EventHubsError) { try sendOptions.validate() } catch {
            queue.async { completion(.failure(error)) }
            return CompletedOperation()
        }
        return perform("createBatch for \(eventHubName)", queue: queue, { connection, scope, done in
            connection.maxMessageSize(partitionID: sendOptions.partitionID, deadline: scope.deadline) { result in
                done(result.map { EventDataBatch(maxSizeInBytes: $0, options: sendOptions) })
            }
        }, completion: completion)
    }

    // MARK: Management

    /// The hub's name, creation time and partition ids (`$management` READ `com.microsoft:eventhub`).
    func eventHubProperties(queue: DispatchQueue,
                                   completion: @escaping @Sendable (Result<EventHubProperties, EventHubsError>) -> Void)
        -> any Cancellable
    {
        let hub = eventHubName
        return perform("eventHubProperties of \(hub)", queue: queue, { connection, scope, done in
            connection.read(type: "com.microsoft:eventhub", partitionID: nil, deadline: scope.deadline) { result in
                done(result.map { map in
                    var ids: [String] = []
                    if case .array(let array)? = map[text: "partition_ids"] {
                        ids = array.elements.compactMap { if case .string(let id) = $0 { return id } else { return nil } }
                    }
                    return EventHubProperties(name: map.string("name") ?? hub, createdAt: map.date("created_at"),
                                              partitionIDs: ids)
                })
            }
        }, completion: completion)
    }

    /// One partition's sequence numbers, last offset and time (`$management` READ `com.microsoft:partition`).
    func partitionProperties(partitionID: String, queue: DispatchQueue,
                                    completion: @escaping @Sendable (Result<PartitionProperties, EventHubsError>) -> Void)
        -> any Cancellable
    {
        let hub = eventHubName
        return perform("partitionProperties of \(hub)/\(partitionID)", queue: queue, { connection, scope, done in
            connection.read(type: "com.microsoft:partition", partitionID: partitionID, deadline: scope.deadline) { result in
                done(result.map { map in
                    PartitionProperties(
                        eventHubName: map.string("name") ?? hub, id: map.string("partition") ?? partitionID,
                        beginningSequenceNumber: map.int64("begin_sequence_number") ?? -1,
                        lastEnqueuedSequenceNumber: map.int64("last_enqueued_sequence_number") ?? -1,
                        lastEnqueuedOffset: map.string("last_enqueued_offset") ?? "-1",
                        lastEnqueuedTime: map.date("last_enqueued_time_utc"),
                        isEmpty: map[text: "is_partition_empty"] == .bool(true))
                })
            }
        }, completion: completion)
    }

    // MARK: Lifecycle

    /// Closes the connection(s); operations after this fail with `.clientClosed`.
    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        provider.close(queue: queue, completion: completion)
    }

    /// Connection counts, in-use leases, last error and reconnects.
    var health: ClientHealth { provider.currentHealth }
}
