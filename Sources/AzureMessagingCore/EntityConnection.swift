import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore

/// A service whose clients send to one entity (an event hub, a queue or topic) over `EntityConnection`s: how its
/// connections introduce themselves and prove ready. Each service adds its link operations in a constrained
/// extension of `EntityConnection` (`EventHubConnection`, `ServiceBusConnection`).
package protocol EntityService: Sendable {
    associatedtype Readiness: MessagingReadiness
    /// The AMQP container-id prefix of the service's client connections (`EHProducer`, `SBSender`).
    static var containerIDPrefix: String { get }
    /// The `product` connection property the service sees (`azsdk-swift-eventhubs`).
    static var product: String { get }
    /// The properties a sender attach carries, given the attach's time-out in seconds (default: none).
    static func senderProperties(timeout: Double) -> AMQPMap?
    /// The round trip `readiness` asks for once the sender is attached (not called for `.attach`).
    static func roundTrip(on connection: EntityConnection<Self>, proving readiness: Readiness, deadline: Deadline,
                          completion: @escaping @Sendable (Result<Void, AzureMessagingError>) -> Void)
}

/// One authenticated connection to an entity with the links a sending client attaches on it: sender links (by
/// link path) and the `$management` link, each attached on first use and shared by every operation.
package final class EntityConnection<Service: EntityService>: Sendable {
    package let messaging: MessagingConnection
    /// The hub, queue or topic.
    package let entityPath: String
    package let senders = LinkCache<AMQPSender>(hasEnded: { $0.hasEnded }, discard: { $0.close(queue: LibraryQueues.ignoredCompletions) { _ in } })
    package let management = LinkCache<AMQPRequestResponseLink>(hasEnded: { $0.hasEnded }, discard: { $0.close(queue: LibraryQueues.ignoredCompletions) { _ in } })

    package init(messaging: MessagingConnection, entityPath: String) {
        self.messaging = messaging
        self.entityPath = entityPath
    }

    /// The CBS audience of the entity.
    package var audience: String { messaging.endpoint.audience(entityPath) }
    package var isClosed: Bool { messaging.isClosed }
    package func close(completion: @escaping @Sendable () -> Void) { messaging.close(completion: completion) }

    /// The sender link to `path` (the entity or one of its partitions), attached on first use after a CBS
    /// put-token for the entity and cached under `path`; an attach not done by `deadline` fails with `.timedOut`
    /// and leaves no trace in the cache.
    package func sender(path: String, deadline: Deadline,
                        completion: @escaping @Sendable (Result<AMQPSender, AzureMessagingError>) -> Void) {
        let messaging = self.messaging
        let timeout = max(0.001, deadline.secondsRemaining)
        senders.link(path, deadline: deadline, attach: { done in
            // Only when attaching: a cached link costs one dictionary lookup, no string building.
            let address = messaging.endpoint.address(path)
            messaging.authorize(audience: self.audience, timeout: timeout) { result in
                if case .failure(let error) = result { return done(.failure(error)) }
                let id = RandomUUID.string()
                let options = AMQPSenderOptions(name: id, settleMode: .unsettled, receiverSettleMode: .second,
                                                sourceAddress: "sender-link-\(id)",
                                                properties: Service.senderProperties(timeout: timeout))
                messaging.session.attachSender(address: address, options: options, deadline: deadline,
                                               queue: messaging.queue) { result in
                    done(result.mapError { AzureMessagingError($0, context: "attaching a sender to \(path)") })
                }
            }
        }, completion: completion)
    }
}

extension EntityService {
    package static func senderProperties(timeout: Double) -> AMQPMap? { nil }
}

/// Opens a sending client's connections to its entity (one for a basic client, many for a managed one).
package struct EntityConnectionFactory<Service: EntityService>: MessagingConnectionFactory {
    package typealias Connection = EntityConnection<Service>

    package let endpoint: MessagingEndpoint
    package let entityPath: String
    package let readiness: Service.Readiness
    package let logger: Logger
    /// Runs the connections' timers (open deadline, CBS token refresh).
    package let clock: any ToolboxClock
    /// The opens in progress (shared by this factory's copies).
    private let opens = CancellableSet()

    package init(endpoint: MessagingEndpoint, entityPath: String, readiness: Service.Readiness, logger: Logger,
                 clock: any ToolboxClock = SystemClock()) {
        self.endpoint = endpoint
        self.entityPath = entityPath
        self.readiness = readiness
        self.logger = logger
        self.clock = clock
    }

    package func open(deadline: Deadline, completion: @escaping @Sendable (Result<Connection, AzureMessagingError>) -> Void) {
        let entityPath = self.entityPath
        let opens = self.opens
        let id = opens.reserve()
        let handle = MessagingConnection.openAuthorized(
            endpoint: endpoint, containerIDPrefix: Service.containerIDPrefix, product: Service.product,
            deadline: deadline, logger: logger, clock: clock,
            wrap: { Connection(messaging: $0, entityPath: entityPath) }, audience: \.audience) { result in
                opens.finish(id)
                completion(result)
            }
        opens.attach(id, handle)
    }

    /// A closing pool (or basic client) ends the opens in progress instead of waiting out their deadline
    /// (`toolbox eventhubs send` to a peer that never answered lingered ~20 s in close after reporting its
    /// failure), and the connections still proving themselves ready: each is closed, so its attach or round trip
    /// fails now (`closeAll` waited for it up to `getTimeout`).
    package func cancelOpens() { opens.cancelAll() }

    package func ready(_ connection: Connection, deadline: Deadline,
                       completion outer: @escaping @Sendable (Result<Void, AzureMessagingError>) -> Void) {
        let readiness = self.readiness
        let opens = self.opens
        let id = opens.reserve()
        let closing = CancellationToken()
        closing.onCancel { connection.close {} }
        opens.attach(id, closing)
        let completion: @Sendable (Result<Void, AzureMessagingError>) -> Void = { result in
            opens.finish(id)
            outer(result)
        }
        connection.sender(path: connection.entityPath, deadline: deadline) { result in
            if case .failure(let error) = result { return completion(.failure(error)) }
            if readiness == .attach { return completion(.success(())) }
            Service.roundTrip(on: connection, proving: readiness, deadline: deadline, completion: completion)
        }
    }

    package func close(_ connection: Connection, completion: @escaping @Sendable () -> Void) {
        connection.close(completion: completion)
    }

    package func isClosed(_ connection: Connection) -> Bool { connection.isClosed }

    package func markRetired(_ connection: Connection) -> Bool { connection.messaging.markRetired() }

    @discardableResult
    package func noteTryOutcome(_ connection: Connection, timedOut: Bool) -> Bool {
        connection.messaging.noteTryOutcome(timedOut: timedOut,
                                            timeoutsBeforeRetiring: ConnectionProvider<Self>.timeoutsBeforeRetiring)
    }
}
