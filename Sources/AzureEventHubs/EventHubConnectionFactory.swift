import AzureMessagingCore
import Dispatch
import ToolboxAMQP
import ToolboxCore

/// Opens Event Hubs connections for the producers (one for the basic producer, many for the managed one).
package typealias EventHubConnectionFactory = EntityConnectionFactory<EventHubEntity>

/// Event Hubs as an `EntityService`: how the producers' connections introduce themselves and prove ready.
package enum EventHubEntity: EntityService {
    package static var containerIDPrefix: String { "EHProducer" }
    package static var product: String { "azsdk-swift-eventhubs" }

    /// The attach's time-out in whole seconds as `com.microsoft:timeout`, as the SDKs send it.
    package static func senderProperties(timeout: Double) -> AMQPMap? {
        [.symbol("com.microsoft:timeout"): .long(Int64(clampingRounded: timeout.rounded(.down)))]
    }

    package static func roundTrip(on connection: EventHubConnection, proving readiness: EventHubReadiness,
                                  deadline: Deadline, completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) {
        switch readiness {
        case .attach:
            completion(.success(()))
        case .managementRead:
            connection.read(type: "com.microsoft:eventhub", partitionID: nil, deadline: deadline) { completion($0.map { _ in () }) }
        case .readyMessage(let event):
            var batch = EventDataBatch(maxSizeInBytes: Int.max, options: SendEventOptions())
            _ = batch.tryAdd(event)
            connection.send(payload: batch.encode(), partitionID: nil, scope: TryScope(deadline: deadline), completion: completion)
        }
    }
}
