import Dispatch
import Logging
import ToolboxCore

/// How a new pooled connection proves it is ready before any caller uses it.
public enum EventHubReadiness: Sendable, Hashable {
    /// CBS token and sender attach only.
    case attach
    /// CBS + attach + a `$management` READ of the hub (the default): a real round trip, no event written.
    case managementRead
    /// CBS + attach + a real event sent, as the Python toolbox does ("Connection established").
    case readyMessage(EventData)
}

/// Opens Event Hubs connections for the producers (one for the basic producer, many for the managed one).
public struct EventHubConnectionFactory: MessagingConnectionFactory {
    public let endpoint: MessagingEndpoint
    public let eventHubName: String
    public let readiness: EventHubReadiness
    public let logger: Logger
    /// Runs the connections' timers (open deadline, CBS token refresh).
    public let clock: any ToolboxClock

    public init(endpoint: MessagingEndpoint, eventHubName: String, readiness: EventHubReadiness, logger: Logger,
                clock: any ToolboxClock = SystemClock()) {
        self.clock = clock
        self.endpoint = endpoint
        self.eventHubName = eventHubName
        self.readiness = readiness
        self.logger = logger
    }

    public func open(deadline: Deadline, completion: @escaping @Sendable (Result<EventHubConnection, EventHubsError>) -> Void) {
        let hub = eventHubName
        MessagingConnection.openAuthorized(
            endpoint: endpoint, containerIDPrefix: "EHProducer", product: "azsdk-swift-eventhubs", deadline: deadline,
            logger: logger, clock: clock, wrap: { EventHubConnection(messaging: $0, eventHubName: hub) }, audience: \.audience,
            completion: completion)
    }

    public func ready(_ connection: EventHubConnection, deadline: Deadline,
                      completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) {
        connection.sender(partitionID: nil, deadline: deadline) { [readiness] result in
            if case .failure(let error) = result { return completion(.failure(error)) }
            switch readiness {
            case .attach:
                completion(.success(()))
            case .managementRead:
                connection.read(type: "com.microsoft:eventhub", partitionID: nil, deadline: deadline) {
                    completion($0.map { _ in () })
                }
            case .readyMessage(let event):
                var batch = EventDataBatch(maxSizeInBytes: Int.max, options: SendEventOptions())
                _ = batch.tryAdd(event)
                connection.send(payload: batch.encode(), partitionID: nil, scope: TryScope(deadline: deadline),
                                completion: completion)
            }
        }
    }

    public func close(_ connection: EventHubConnection, completion: @escaping @Sendable () -> Void) {
        connection.close(completion: completion)
    }

    public func isClosed(_ connection: EventHubConnection) -> Bool { connection.isClosed }

    public func markRetired(_ connection: EventHubConnection) -> Bool { connection.messaging.markRetired() }

    @discardableResult
    public func noteTryOutcome(_ connection: EventHubConnection, timedOut: Bool) -> Bool {
        connection.messaging.noteTryOutcome(timedOut: timedOut,
                                            timeoutsBeforeRetiring: ConnectionProvider<Self>.timeoutsBeforeRetiring)
    }
}
