import AzureAuth
import AzureMessagingCore
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

/// The core behind `EventHubProducer` (one connection) and `ManagedEventHubProducer` (a pool); the
/// `EventHubProducing` operations run on it in `EventHubProducerCoreBacked`.
package typealias EventHubProducerCore = EntityClientCore<EventHubEntity>

extension EntityClientCore where Service == EventHubEntity {
    var eventHubName: String { entityPath }

    /// What an Event Hubs connection string names; `eventHubName` nil takes its `EntityPath`.
    static func endpoint(connectionString: String, eventHubName: String?, options: EventHubProducerOptions)
        throws(EventHubsError) -> (endpoint: MessagingEndpoint, entityPath: String)
    {
        try options.endpoint(connectionString: connectionString, entity: eventHubName,
                             named: ("event hub name", "eventHubName"))
    }

    /// The endpoint of a namespace authenticated by an Entra ID credential (CBS `jwt` tokens for
    /// `https://eventhubs.azure.net//.default`).
    static func endpoint(fullyQualifiedNamespace: String, credential: any TokenCredential,
                         options: EventHubProducerOptions) -> MessagingEndpoint {
        options.endpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential, scope: AzureScope.eventHubs)
    }
}
