// The user-facing declarations of AzureMessagingCore (and the proxy type of the transport options), re-exported one by one so `import` of this module is enough;
// the shared plumbing (connection provider, link cache, receive inbox, retry loop) stays package-internal.
@_exported import struct AzureMessagingCore.Backoff
@_exported import struct AzureMessagingCore.ClientHealth
@_exported import struct AzureMessagingCore.MessagingEndpoint
@_exported import enum AzureMessagingCore.MessagingTransportType
@_exported import struct AzureMessagingCore.RetryOptions
@_exported import typealias AzureMessagingCore.AzureMessagingError
@_exported import struct ToolboxTransport.HTTPProxy
