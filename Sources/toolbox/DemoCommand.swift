import ArgumentParser
import AzureEmulator
import AzureEventHubs
import Foundation
import ToolboxCore

/// `toolbox demo`: the reason the library exists, in numbers.
///
/// Starts the embedded emulator with Azure's connection-setup cost (`--connect-delay-ms`, default 800: what Azure's
/// TCP + TLS + SASL + CBS + attach costs), then sends the same events two ways: with the basic producer, opening a
/// new connection per send as Azure's samples do, and with the managed (pooled) producer. Every event is read back
/// from the hub's partition properties before the numbers are printed.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Basic (new connection per send) versus pooled Event Hubs producer, on the embedded emulator."
    )

    @Option(help: "Connection-setup delay the emulator adds to every new connection, in milliseconds.")
    var connectDelayMs: Int = 800

    @Option(help: "Events sent by each producer.")
    var count: Int = 10

    @Flag(help: "Print one JSON object on stdout (the live table goes to stderr).")
    var json = false

    func validate() throws {
        guard connectDelayMs >= 0, connectDelayMs <= 60_000 else {
            throw ValidationError("--connect-delay-ms must be between 0 and 60000")
        }
        guard count >= 1, count <= 100_000 else { throw ValidationError("--count must be between 1 and 100000") }
    }

    func run() throws {
        let say: (String) -> Void = { line in
            if json { JSONOutput.printHuman(line) } else { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        }
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = [EventHubDefinition(name: "demo", partitionCount: 2)]
        configuration.faults.connectionSetupDelay = .milliseconds(connectDelayMs)
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let connectionString = emulator.eventHubsConnectionString(eventHub: "demo")

        say("Embedded emulator on 127.0.0.1:\(emulator.amqpPort), \(connectDelayMs) ms connection setup; "
            + "\(count) events per producer.\n")
        say("  producer  event      ms")

        var basicTotal = 0.0
        for index in 1...count {
            let started = MonotonicInstant.now()
            let producer = try EventHubProducer(connectionString: connectionString)
            try producer.send(EventData(body: "basic event \(index)"))
            try producer.close()
            let elapsed = MonotonicInstant.now().seconds(since: started)
            basicTotal += elapsed
            say("  basic     \(pad(index, 5))  \(format(elapsed * 1000, 3))")
        }

        let managed = try ManagedEventHubProducer(connectionString: connectionString)
        var pooledTotal = 0.0
        var firstPooled = 0.0
        for index in 1...count {
            let started = MonotonicInstant.now()
            try managed.send(EventData(body: "pooled event \(index)"))
            let elapsed = MonotonicInstant.now().seconds(since: started)
            if index == 1 { firstPooled = elapsed }
            pooledTotal += elapsed
            say("  pooled    \(pad(index, 5))  \(format(elapsed * 1000, 3))")
        }
        let stored = try storedEvents(managed)
        try managed.close()
        guard stored == 2 * count else {
            throw ValidationError("the hub holds \(stored) events, expected \(2 * count): events were lost")
        }

        let basicPerOp = basicTotal / Double(count) * 1000
        let pooledPerOp = pooledTotal / Double(count) * 1000
        let warmPerOp = count > 1 ? (pooledTotal - firstPooled) / Double(count - 1) * 1000 : pooledPerOp
        let speedup = basicPerOp / max(pooledPerOp, 1e-6)
        let warmSpeedup = basicPerOp / max(warmPerOp, 1e-6)
        say("""

              \(row("producer", "ms/op", "events/s"))
              \(row("basic (connection per send)", format(basicPerOp, 3), format(1000 / basicPerOp, 1)))
              \(row("pooled (ManagedEventHubProducer)", format(pooledPerOp, 3), format(1000 / pooledPerOp, 1)))
              \(row("pooled, once warm", format(warmPerOp, 3), format(1000 / warmPerOp, 1)))

              speed-up: \(format(speedup, 1))x per event including the pool's one cold connection, \
            \(format(warmSpeedup, 0))x once warm; \(stored) events stored, none lost.
            """)
        if json {
            JSONOutput.printLine([
                "connect_delay_ms": connectDelayMs,
                "count": count,
                "basic_ms_per_op": JSONOutput.rounded(basicPerOp, 3),
                "pooled_ms_per_op": JSONOutput.rounded(pooledPerOp, 3),
                "pooled_warm_ms_per_op": JSONOutput.rounded(warmPerOp, 4),
                "speedup": JSONOutput.rounded(speedup, 2),
                "speedup_warm": JSONOutput.rounded(warmSpeedup, 1),
                "events_stored": stored,
            ])
        }
    }

    /// Events the hub holds across its partitions, read over `$management`.
    private func storedEvents(_ producer: ManagedEventHubProducer) throws -> Int {
        var total = 0
        for id in try producer.partitionIDs() {
            let properties = try producer.partitionProperties(partitionID: id)
            if !properties.isEmpty {
                // The service's numbers, not ours: an inconsistent pair counts as nothing rather than trapping.
                let (span, overflow) = properties.lastEnqueuedSequenceNumber
                    .subtractingReportingOverflow(properties.beginningSequenceNumber)
                if !overflow, span >= 0 { total = total.saturatingAdd(Int(span.saturatingAdd(1))) }
            }
        }
        return total
    }

    private func row(_ label: String, _ perOp: String, _ perSecond: String) -> String {
        label + String(repeating: " ", count: max(1, 34 - label.count)) + pad(perOp, 10) + pad(perSecond, 12)
    }

    private func pad(_ value: Int, _ width: Int) -> String { pad(String(value), width) }

    private func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }

    private func format(_ value: Double, _ places: Int) -> String {
        String(format: "%.\(places)f", value)
    }
}
