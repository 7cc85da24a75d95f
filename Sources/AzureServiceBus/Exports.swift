// AzureMessagingCore's public declarations are exactly the user-facing ones the messaging clients share (endpoint,
// retry and transport options, health, the error type, the re-exported proxy type); its shared plumbing
// (connection provider, link cache, receive inbox, retry loop) is `package`. Re-exporting the module keeps that
// list in one place, and `import` of this module is enough.
@_exported import AzureMessagingCore
