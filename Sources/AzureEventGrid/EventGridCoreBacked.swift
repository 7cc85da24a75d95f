import Dispatch
import ToolboxCore

/// The one implementation of `EventGridPublishing` both clients share: each forwards to its core.
protocol EventGridCoreBacked: EventGridPublishing {
    var core: EventGridCore { get }
}

extension EventGridCoreBacked {
    public var config: EventGridConfig { core.config }

    @discardableResult
    public func send(_ events: [EventGridEvent], toTopic topic: String, timeout: Duration, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.publish(events, topic: topic, timeout: timeout, queue: queue, completion: completion)
    }

    @discardableResult
    public func send(_ events: [CloudEvent], toTopic topic: String, timeout: Duration, queue: DispatchQueue,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        core.publish(events, topic: topic, timeout: timeout, queue: queue, completion: completion)
    }

    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        core.close(queue: queue, completion: completion)
    }
}
