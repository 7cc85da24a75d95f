// The user-facing declarations of AzureMessagingCore, re-exported one by one so `import` of this module is enough;
// the shared plumbing (connection provider, link cache, receive inbox, retry loop) stays package-internal.
@_exported import struct AzureMessagingCore.Backoff
@_exported import struct AzureMessagingCore.ClientHealth
@_exported import struct AzureMessagingCore.MessagingEndpoint
@_exported import struct AzureMessagingCore.RetryOptions
@_exported import typealias AzureMessagingCore.AzureMessagingError
