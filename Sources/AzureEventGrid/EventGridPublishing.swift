import Dispatch
import ToolboxCore

/// Publishing to named Event Grid topics: the role `EventGridClient` and `ManagedEventGridClient` play (and what
/// code under test should take, so tests can pass a stub).
///
/// ```swift
/// let client = try ManagedEventGridClient(config: config, credential: .token(credential))
/// try client.emitEvent(topic: "orders", eventType: "Contoso.Orders.Created", subject: "orders/42",
///                      data: EventGridData(["orderId": 42]))              // blocking
/// client.send([cloudEvent], toTopic: "audit") { result in … }            // completion handler
/// try await client.emitEvent(topic: "orders", …)                          // AzureClientsToolboxAsync
/// ```
///
/// Every operation completes exactly once on `queue` and returns a handle whose `cancel()` delivers
/// `.cancelled` unless the result already was. Errors are `ToolboxError`s: `.resourceNotFound` (no such topic),
/// `.invalidArgument` (a topic the client was not configured with, bad events), `.badRequest` (the service
/// refused the events; its message says why), `.authorizationFailed`, `.forbidden`, `.requestTooLarge`,
/// `.throttled`, `.serviceUnavailable`, `.timedOut`, `.cancelled`, `.clientClosed`, or the transport's code
/// for a connection that failed on every try — with the service's status, `error.code`, message and request id
/// in `serviceCondition`, never a key or token.
public protocol EventGridPublishing: AnyObject, Sendable {
    /// The topics this client publishes to.
    var config: EventGridConfig { get }

    /// Publishes EventGridEvents to `topic` in one request (`application/json`).
    @discardableResult
    func send(_ events: [EventGridEvent], toTopic topic: String, timeout: Duration, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Publishes CloudEvents to `topic` in one request (`application/cloudevents-batch+json`).
    @discardableResult
    func send(_ events: [CloudEvent], toTopic topic: String, timeout: Duration, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable

    /// Closes the connections; later publishes fail with `.clientClosed`. Idempotent.
    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void)
}

/// Default time-out of one publish, retries included.
public enum EventGridTimeouts {
    public static let publish: Duration = .seconds(60)
}

extension EventGridPublishing {
    // MARK: Completion forms with defaults

    @discardableResult
    public func send(_ events: [EventGridEvent], toTopic topic: String, timeout: Duration = EventGridTimeouts.publish,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send(events, toTopic: topic, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    @discardableResult
    public func send(_ events: [CloudEvent], toTopic topic: String, timeout: Duration = EventGridTimeouts.publish,
                     completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        send(events, toTopic: topic, timeout: timeout, queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    /// Publishes one EventGridEvent built from its parts, as the Python toolbox's `emit_event(topic, event_type,
    /// subject, data, data_version="v1")`.
    @discardableResult
    public func emitEvent(topic: String, eventType: String, subject: String, data: EventGridData,
                          dataVersion: String = "v1", timeout: Duration = EventGridTimeouts.publish,
                          queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                          completion: @escaping @Sendable (Result<Void, ToolboxError>) -> Void) -> any Cancellable {
        let event = EventGridEvent(subject: subject, eventType: eventType, data: data, dataVersion: dataVersion)
        return send([event], toTopic: topic, timeout: timeout, queue: queue, completion: completion)
    }

    public func close(completion: @escaping @Sendable () -> Void) {
        close(queue: LibraryQueues.defaultCallbackQueue, completion: completion)
    }

    // MARK: Blocking forms

    /// Publishes EventGridEvents to `topic` and waits.
    public func send(_ events: [EventGridEvent], toTopic topic: String,
                     timeout: Duration = EventGridTimeouts.publish) throws(ToolboxError) {
        try Blocking.waitForResult { queue, done in
            send(events, toTopic: topic, timeout: timeout, queue: queue, completion: done)
        }
    }

    /// Publishes CloudEvents to `topic` and waits.
    public func send(_ events: [CloudEvent], toTopic topic: String,
                     timeout: Duration = EventGridTimeouts.publish) throws(ToolboxError) {
        try Blocking.waitForResult { queue, done in
            send(events, toTopic: topic, timeout: timeout, queue: queue, completion: done)
        }
    }

    /// `emit_event`, blocking.
    public func emitEvent(topic: String, eventType: String, subject: String, data: EventGridData,
                          dataVersion: String = "v1", timeout: Duration = EventGridTimeouts.publish) throws(ToolboxError) {
        try Blocking.waitForResult { queue, done in
            emitEvent(topic: topic, eventType: eventType, subject: subject, data: data, dataVersion: dataVersion,
                      timeout: timeout, queue: queue, completion: done)
        }
    }

    /// Closes and waits; throws only `.blockingCallOnLibraryQueue`.
    public func close() throws(ToolboxError) {
        let _: Void = try Blocking.waitForResult { queue, done in close(queue: queue) { done(.success(())) } }
    }
}
