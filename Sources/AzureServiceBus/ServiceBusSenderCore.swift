import AzureMessagingCore

/// The core behind `ServiceBusSender` (one connection) and `ManagedServiceBusSender` (a pool); the
/// `ServiceBusSending` operations run on it in `ServiceBusSenderCoreBacked`.
package typealias ServiceBusSenderCore = EntityClientCore<ServiceBusEntity>
