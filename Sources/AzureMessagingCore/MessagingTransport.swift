import AzureAuth
@_exported import struct ToolboxTransport.HTTPProxy
import ToolboxCore
import ToolboxTransport

/// How an Event Hubs or Service Bus client reaches its namespace.
///
/// ```swift
/// let options = EventHubProducerOptions.with {
///     $0.transport = .amqpOverWebSockets                 // port 443, wss://<host>/$servicebus/websocket
///     $0.proxy = try? HTTPProxy(url: "http://proxy.internal:3128")
///     $0.customEndpointAddress = "sb://gateway.internal:8443"
/// }
/// ```
public enum MessagingTransportType: String, Sendable, CaseIterable {
    /// AMQP over TCP: port 5671 with TLS (5672 plain for emulators). The default.
    case amqp
    /// AMQP over a WebSocket (`AMQPWSB10`) on port 443 (80 plain), for networks that allow only HTTPS out;
    /// Python's `TransportType.AmqpOverWebsocket`, .NET's `AmqpWebSockets`. A proxy needs it.
    case amqpOverWebSockets
}

extension MessagingEndpoint {
    /// The transport the connection will actually use: WebSockets when asked for, or when a proxy is set (a
    /// proxy tunnels HTTPS, as in Azure's SDKs, which switch to WebSockets whenever `http_proxy` is given).
    public var effectiveTransport: MessagingTransportType { proxy != nil ? .amqpOverWebSockets : transport }

    /// Where the socket goes: the custom endpoint address's host and port if set, else the namespace host with,
    /// for AMQP, the namespace's port and, for WebSockets, 443 with TLS and 80 without (a connection string's port
    /// is the AMQP port, as in the SDKs).
    public func connectTarget() throws(AzureMessagingError) -> (host: String, port: UInt16) {
        let defaultPort: UInt16 = effectiveTransport == .amqp ? (customEndpointAddress == nil ? port : (useTLS ? 5671 : 5672))
            : (useTLS ? 443 : 80)
        guard let address = customEndpointAddress else { return (host, defaultPort) }
        var rest = Substring(address.trimmingSpaces())
        let parts = rest.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 { rest = parts[1] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var hostPart = rest
        var port = defaultPort
        func parsePort(_ text: Substring) throws(AzureMessagingError) -> UInt16 {
            guard let value = UInt16(text), value > 0 else {
                throw AzureMessagingError(.invalidArgument, "the custom endpoint address's port is not a number from 1 to 65535")
            }
            return value
        }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw AzureMessagingError(.invalidArgument, "the custom endpoint address's IPv6 address has no closing bracket")
            }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { port = try parsePort(after.dropFirst()) }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            port = try parsePort(rest[rest.index(after: colon)...])
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { $0 == " " || $0 == "@" }) else {
            throw AzureMessagingError(.invalidArgument, "the custom endpoint address '\(address)' has no valid host")
        }
        return (String(hostPart), port)
    }

    /// This endpoint with a client's connection options laid over it: WebSockets when `transport` asks for
    /// them, and the proxy and custom endpoint address when given (what is nil leaves the endpoint's own).
    public func applying(transport: MessagingTransportType, proxy: HTTPProxy?,
                         customEndpointAddress: String?) -> MessagingEndpoint {
        var endpoint = self
        if transport == .amqpOverWebSockets { endpoint.transport = .amqpOverWebSockets }
        if let proxy { endpoint.proxy = proxy }
        if let customEndpointAddress { endpoint.customEndpointAddress = customEndpointAddress }
        return endpoint
    }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
