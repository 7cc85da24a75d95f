import ArgumentParser
import AzureEventHubs
import AzureServiceBus

/// `--ca-file`, `--transport`, `--proxy` and `--custom-endpoint`: how the messaging commands reach the namespace.
struct MessagingTransportOptions: ParsableArguments {
    enum Transport: String, ExpressibleByArgument, CaseIterable {
        case amqp
        case websockets
    }

    @OptionGroup var tls: CAFileOption

    @Option(help: "amqp (TCP 5671/5672) or websockets (AMQP over WebSockets on 443).")
    var transport: Transport = .amqp

    @Option(help: "HTTP proxy URL, http://[user:password@]host:port (implies websockets; CONNECT with Basic auth).")
    var proxy: String?

    @Option(help: "Connect to this address (sb://host:port) instead of the namespace; TLS name and audiences stay the namespace's.")
    var customEndpoint: String?

    func validate() throws {
        _ = try parsedProxy()
    }

    private func parsedProxy() throws -> HTTPProxy? {
        guard let proxy else { return nil }
        do {
            return try HTTPProxy(url: proxy)
        } catch {
            // The parser's messages never repeat the password.
            throw ValidationError("--proxy: \(error.message)")
        }
    }

    var transportType: MessagingTransportType { transport == .websockets ? .amqpOverWebSockets : .amqp }

    /// The proxy, already checked by `validate()`.
    private var checkedProxy: HTTPProxy? { (try? parsedProxy()) ?? nil }

    /// Sets the CA file, transport, proxy and custom endpoint of an Event Hubs or Service Bus client's options.
    func apply(to options: inout some MessagingConnectionSettings) {
        options.caFile = tls.caFile
        options.transport = transportType
        options.proxy = checkedProxy
        options.customEndpointAddress = customEndpoint
    }
}

/// The connection settings Event Hubs producer options and Service Bus client options both carry, under the same
/// names: what `MessagingTransportOptions.apply(to:)` sets.
protocol MessagingConnectionSettings {
    var caFile: String? { get set }
    var transport: MessagingTransportType { get set }
    var proxy: HTTPProxy? { get set }
    var customEndpointAddress: String? { get set }
}

// Both are `MessagingClientOptions` (EventHubProducerOptions, ServiceBusClientOptions).
extension MessagingClientOptions: MessagingConnectionSettings {}
