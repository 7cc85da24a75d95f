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
        commandName: "emulator", abstract: "Run a local Event Hubs and Service Bus emulator over AMQP 1.0",
        discussion: #"""
            Ready line (stdout): {"ready": true, "amqp_port": P, "amqps_port": P|null, "ca_file": PATH|null,
            "eventhubs_connection_string": "...", "servicebus_connection_string": "..."}
            Clients authenticate with SAS tokens from the connection strings (key name RootManageSharedAccessKey,
            key SAS_KEY_VALUE). Unknown entities are created on first use unless --strict-entities is given.
            """#)

    @Option(help: "Numeric address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Plain AMQP port (0 picks a free one).")
    var amqpPort: UInt16 = 0

    @Option(help: "AMQPS port (0 picks a free one); without --tls-cert a self-signed certificate is generated.")
    var amqpsPort: UInt16?

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

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give --tls-cert and --tls-key together") }
        guard connectDelayMs >= 0, connectDelayMs <= 60_000 else {
            throw ValidationError("--connect-delay-ms must be between 0 and 60000")
        }
        for spec in eventhub { _ = try EmulatorCommand.parseHub(spec) }
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
        configuration.tlsCertificateFile = tlsCert
        configuration.tlsPrivateKeyFile = tlsKey
        configuration.eventHubs = try eventhub.map(EmulatorCommand.parseHub)
        configuration.queues = queue
        configuration.strictEntities = strictEntities
        configuration.faults.connectionSetupDelay = Double(connectDelayMs) / 1000
        var logger = Logger(label: "toolbox.emulator") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = .info
        configuration.logger = logger

        let emulator: Emulator
        do {
            emulator = try Emulator.start(configuration)
        } catch {
            JSONOutput.printError("error: \(error)")
            throw ExitCode(1)
        }
        let entity = configuration.eventHubs.first?.name
        JSONOutput.printLine([
            "ready": true,
            "amqp_port": Int(emulator.amqpPort),
            "amqps_port": emulator.amqpsPort.map { Int($0) as Any } ?? NSNull(),
            "ca_file": emulator.caFile.map { $0 as Any } ?? NSNull(),
            "eventhubs_connection_string": emulator.connectionString(entityPath: entity),
            "servicebus_connection_string": emulator.serviceBusConnectionString,
        ])

        let stop = DispatchSemaphore(value: 0)
        let signalQueue = DispatchQueue(label: "toolbox.emulator.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        stop.wait()
        logger.info("stopping")
        emulator.stop()
        for source in sources { source.cancel() }
    }
}
