import Dispatch
import ToolboxCore

/// The one implementation of `EventHubProducing` both producers share: each forwards to its core.
protocol EventHubProducerCoreBacked: EventHubProducing {
    var core: EventHubProducerCore { get }
}

extension EventHubProducerCoreBacked {
    public var eventHubName: String { core.eventHubName }

    @discardableResult
    public func send(_ events: [EventData], options: SendEventOptions, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.send(events, options: options, queue: queue, completion: completion)
    }

    @discardableResult
    public func send(_ batch: EventDataBatch, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.send(batch, queue: queue, completion: completion)
    }

    @discardableResult
    public func createBatch(options: SendEventOptions, queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<EventDataBatch, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.createBatch(options: options, queue: queue, completion: completion)
    }

    @discardableResult
    public func eventHubProperties(queue: DispatchQueue,
                                   completion: @escaping @Sendable (Result<EventHubProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.eventHubProperties(queue: queue, completion: completion)
    }

    @discardableResult
    public func partitionProperties(partitionID: String, queue: DispatchQueue,
                                    completion: @escaping @Sendable (Result<PartitionProperties, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.partitionProperties(partitionID: partitionID, queue: queue, completion: completion)
    }

    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        core.close(queue: queue, completion: completion)
    }
}
