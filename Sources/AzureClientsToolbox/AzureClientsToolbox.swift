// The umbrella module: `import AzureClientsToolbox` gives an application every client and what it needs to
// call them (errors, cancellation, clocks, credentials). Each client module adds its one line here.
// Plumbing modules (transport, AMQP, emulator) are deliberately not re-exported.
@_exported import AzureAuth
@_exported import AzureBlobStorage
@_exported import AzureCosmos
@_exported import AzureEventGrid
@_exported import AzureEventHubs
@_exported import AzureServiceBus
@_exported import ToolboxCore
