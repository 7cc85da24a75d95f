import ArgumentParser
import AzureEmulator
import Dispatch
import Foundation
import Logging
import ToolboxCore

/// `toolbox emulator`: a local Event Hubs + Service Bus namespace over AMQP for Microsoft's SDKs and our clients.
///
/// Prints one JSON line on stdout once it accepts connections, logs on stderr, and runs until SIGINT or SIGTERM.
struct EmulatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run a local Event Hubs and Service Bus (AMQP 1.0), Cosmos DB, Blob Storage, Event Grid and Entra ID (HTTP) emulator",
        discussion: #"""
            Ready line (stdout): {"ready": true, "amqp_port": P, "amqps_port": P|null, "amqp_ws_port": P,
            "amqps_ws_port": P|null, "ca_file": PATH|null,
            "eventhubs_connection_string": "...", "servicebus_connection_string": "...",
            "http_port": P, "https_port": P, "cosmos_endpoint": URL, "cosmos_key": "...",
            "cosmos_connection_string": "...", "blob_endpoint": URL, "blob_connection_string": "...",
            "eventgrid_endpoints": {TOPIC: URL}, "eventgrid_key": "...", "authority_host": URL, "tenant_id": "...",
            "client_id": "...", "client_secret": "...", "imds_endpoint": URL, "identity_endpoint": URL,
            "identity_header": "...", "federated_token": "..."}
            AMQP clients authenticate with SAS tokens from the connection strings (key name
            RootManageSharedAccessKey, key SAS_KEY_VALUE); unknown entities are created on first use unless
            --strict-entities is given. The HTTP services share one plain and one HTTPS listener (both by default);
            the HTTPS certificate is the AMQPS one (its CA in ca_file). See docs/emulator.md.
            """#)

    @Option(help: "Numeric address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Plain AMQP port (0 picks a free one).")
    var amqpPort: UInt16 = 0

    @Option(help: "AMQPS port (0 picks a free one); without --tls-cert a self-signed certificate is generated.")
    var amqpsPort: UInt16?

    @Option(help: "AMQP-over-WebSocket port (ws://HOST:P/$servicebus/websocket; 0 picks a free one).")
    var amqpWsPort: UInt16 = 0

    @Option(help: "AMQP-over-secure-WebSocket port (wss://, the AMQPS certificate; 0 picks a free one).")
    var amqpsWsPort: UInt16 = 0

    @Option(help: "PEM certificate chain for AMQPS.")
    var tlsCert: String?

    @Option(help: "PEM private key for AMQPS.")
    var tlsKey: String?

    @Option(help: "An event hub to create, NAME or NAME:PARTITIONS (repeatable).")
    var eventhub: [String] = []

    @Option(help: "A Service Bus queue to create (repeatable).")
    var queue: [String] = []

    @Option(help: "Delay in milliseconds before each new connection is answered (Azure takes 700–900).")
    var connectDelayMs: Int = 0

    @Flag(help: "Refuse links to entities that were not given with --eventhub or --queue.")
    var strictEntities = false

    @Option(help: "Plain HTTP port of Cosmos DB, Blob Storage, Event Grid and Entra ID (0 picks a free one).")
    var httpPort: UInt16 = 0

    @Option(help: "HTTPS port of the same services (0 picks a free one).")
    var httpsPort: UInt16 = 0

    @Option(help: "A Cosmos DB container to create, DB/CONTAINER or DB/CONTAINER:/pkpath (repeatable; partition key /id when omitted).")
    var cosmosContainer: [String] = []

    @Option(help: "A Blob Storage container to create (repeatable).")
    var blobContainer: [String] = []

    @Option(help: "An Event Grid topic to serve (repeatable).")
    var eventgridTopic: [String] = []

    @Option(help: "A PEM certificate whose key may sign Entra client assertions for client_id (repeatable).")
    var entraClientCertificate: [String] = []

    @Option(help: "Probability (0-1) that an HTTP request is throttled (Cosmos 429, Blob 503, Event Grid 429).")
    var httpThrottleRate: Double = 0

    @Option(help: "Probability (0-1) that an HTTP request's connection is reset instead of answered.")
    var httpDropRate: Double = 0

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give --tls-cert and --tls-key together") }
        guard connectDelayMs >= 0, connectDelayMs <= 60_000 else {
            throw ValidationError("--connect-delay-ms must be between 0 and 60000")
        }
        for spec in eventhub { _ = try EmulatorCommand.parseHub(spec) }
        for spec in cosmosContainer { _ = try EmulatorCommand.parseCosmosContainer(spec) }
        for name in blobContainer where !EmulatorCommand.isValidBlobContainerName(name) {
            throw ValidationError("--blob-container \(name): use 3-63 lowercase letters, digits and single hyphens, starting with a letter or digit")
        }
        for topic in eventgridTopic where topic.isEmpty || topic.count > 50
            || !topic.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) {
            throw ValidationError("--eventgrid-topic \(topic): use 1-50 letters, digits and hyphens")
        }
        for (flag, rate) in [("--http-throttle-rate", httpThrottleRate), ("--http-drop-rate", httpDropRate)]
            where !(rate >= 0 && rate <= 1) {
            throw ValidationError("\(flag) must be between 0 and 1")
        }
    }

    /// `DB/CONTAINER` or `DB/CONTAINER:/pkpath`.
    static func parseCosmosContainer(_ spec: String) throws -> CosmosContainerDefinition {
        var names = Substring(spec)
        var partitionKeyPath = "/id"
        if let colon = spec.firstIndex(of: ":") {
            names = spec[..<colon]
            partitionKeyPath = String(spec[spec.index(after: colon)...])
            guard partitionKeyPath.hasPrefix("/"), partitionKeyPath.count > 1,
                  !partitionKeyPath.contains(where: { $0 == " " || $0 == "\"" })
            else { throw ValidationError("--cosmos-container \(spec): the partition key path must look like /field or /a/b") }
        }
        let parts = names.split(separator: "/", omittingEmptySubsequences: false)
        let invalid: (Substring) -> Bool = { name in
            name.isEmpty || name.count > 255 || name.contains(where: { "\\?#".contains($0) }) || name.hasSuffix(" ")
        }
        guard parts.count == 2, !invalid(parts[0]), !invalid(parts[1]) else {
            throw ValidationError("--cosmos-container takes DB/CONTAINER or DB/CONTAINER:/pkpath, got '\(spec)'")
        }
        return CosmosContainerDefinition(database: String(parts[0]), container: String(parts[1]),
                                         partitionKeyPath: partitionKeyPath)
    }

    /// Azure's container-name rule: 3-63 of lowercase letters, digits and hyphens, no leading, trailing or double hyphen.
    static func isValidBlobContainerName(_ name: String) -> Bool {
        guard (3...63).contains(name.count), name.first != "-", name.last != "-", !name.contains("--") else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }

    static func parseHub(_ spec: String) throws -> EventHubDefinition {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.first, !name.isEmpty else {
            throw ValidationError("--eventhub takes NAME or NAME:PARTITIONS, got '\(spec)'")
        }
        var partitions = 2
        if parts.count == 2 {
            guard let count = Int(parts[1]), count >= 1, count <= 32 else {
                throw ValidationError("--eventhub \(spec): PARTITIONS must be a number from 1 to 32")
            }
            partitions = count
        }
        return EventHubDefinition(name: String(name), partitionCount: partitions)
    }

    func run() throws {
        var configuration = EmulatorConfiguration()
        configuration.host = host
        configuration.amqpPort = amqpPort
        configuration.amqpsPort = amqpsPort ?? (tlsCert != nil ? 0 : nil)
        configuration.amqpWebSocketPort = amqpWsPort
        configuration.amqpsWebSocketPort = amqpsWsPort
        configuration.tlsCertificateFile = tlsCert
        configuration.tlsPrivateKeyFile = tlsKey
        configuration.eventHubs = try eventhub.map(EmulatorCommand.parseHub)
        configuration.queues = queue
        configuration.strictEntities = strictEntities
        configuration.faults.connectionSetupDelay = .milliseconds(connectDelayMs)
        configuration.faults.httpThrottleRate = httpThrottleRate
        configuration.faults.httpDropProbability = httpDropRate
        configuration.httpPort = httpPort
        configuration.httpsPort = httpsPort
        configuration.cosmosContainers = try cosmosContainer.map(EmulatorCommand.parseCosmosContainer)
        configuration.blobContainers = blobContainer
        configuration.eventGridTopics = eventgridTopic
        configuration.clientCertificateFiles = entraClientCertificate
        var logger = Logger(label: "toolbox.emulator") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = .info
        configuration.logger = logger

        let emulator: Emulator
        do {
            emulator = try Emulator.start(configuration)
        } catch {
            JSONOutput.printError("\(error)")  // printError adds the "error: " prefix
            throw ExitCode(1)
        }
        let entity = configuration.eventHubs.first?.name
        let orNull: (Any?) -> Any = { $0 ?? NSNull() }
        JSONOutput.printLine([
            "ready": true,
            "amqp_port": Int(emulator.amqpPort),
            "amqps_port": orNull(emulator.amqpsPort.map { Int($0) }),
            "amqp_ws_port": orNull(emulator.amqpWebSocketPort.map { Int($0) }),
            "amqps_ws_port": orNull(emulator.amqpsWebSocketPort.map { Int($0) }),
            "ca_file": orNull(emulator.caFile),
            "eventhubs_connection_string": emulator.connectionString(entityPath: entity),
            "servicebus_connection_string": emulator.serviceBusConnectionString,
            "http_port": orNull(emulator.httpPort.map { Int($0) }),
            "https_port": orNull(emulator.httpsPort.map { Int($0) }),
            "cosmos_endpoint": orNull(emulator.cosmosEndpoint),
            "cosmos_key": emulator.cosmosKey,
            "cosmos_connection_string": orNull(emulator.cosmosConnectionString),
            "blob_endpoint": orNull(emulator.blobEndpoint),
            "blob_connection_string": orNull(emulator.blobConnectionString),
            "eventgrid_endpoints": emulator.eventGridEndpoints,
            "eventgrid_key": emulator.eventGridKey,
            "authority_host": orNull(emulator.authorityHost),
            "tenant_id": configuration.tenantID,
            "client_id": configuration.clientID,
            "client_secret": configuration.clientSecret.exposedValue,
            "imds_endpoint": orNull(emulator.imdsEndpoint),
            "identity_endpoint": orNull(emulator.identityEndpoint),
            "identity_header": emulator.identityHeader,
            "federated_token": emulator.issueFederatedToken(lifetime: 24 * 3600),
        ])

        let stop = DispatchSemaphore(value: 0)
        let sources = watchInterruptSignals(on: DispatchQueue(label: "toolbox.emulator.signals")) { stop.signal() }
        stop.wait()
        logger.info("stopping")
        emulator.stop()
        for source in sources { source.cancel() }
    }
}
