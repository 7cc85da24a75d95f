import Dispatch
import Foundation
import ToolboxCore

/// The one implementation of `ServiceBusSending` both senders share: each forwards to its core.
protocol ServiceBusSenderCoreBacked: ServiceBusSending {
    var core: ServiceBusSenderCore { get }
}

extension ServiceBusSenderCoreBacked {
    public var entityPath: String { core.entityPath }

    @discardableResult
    public func send(_ message: ServiceBusMessage, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.send(message, queue: queue, completion: completion)
    }

    @discardableResult
    public func send(_ messages: [ServiceBusMessage], queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.send(messages, queue: queue, completion: completion)
    }

    @discardableResult
    public func send(_ batch: ServiceBusMessageBatch, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.send(batch, queue: queue, completion: completion)
    }

    @discardableResult
    public func createBatch(queue: DispatchQueue,
                            completion: @escaping @Sendable (Result<ServiceBusMessageBatch, ToolboxError>) -> Void)
        -> any Cancellable
    {
        core.createBatch(queue: queue, completion: completion)
    }

    @discardableResult
    public func schedule(_ messages: [ServiceBusMessage], at time: Date, queue: DispatchQueue,
                         completion: @escaping @Sendable (Result<[Int64], ToolboxError>) -> Void) -> any Cancellable {
        core.schedule(messages, at: time, queue: queue, completion: completion)
    }

    @discardableResult
    public func cancelScheduled(_ sequenceNumbers: [Int64], queue: DispatchQueue,
                                completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.cancelScheduled(sequenceNumbers, queue: queue, completion: completion)
    }

    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        core.close(queue: queue, completion: completion)
    }
}
