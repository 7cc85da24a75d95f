import AzureEmulator
import AzureEventHubs
import Benchmark
import ConnectionPooling
import ToolboxAMQP
import ToolboxCore

/// A connector whose connections are plain objects: isolates the pool's own cost.
struct InstantConnector: Connector {
    final class Connection: Sendable {}
    func create(deadline: Deadline, completion: @escaping @Sendable (Result<Connection, any Error>) -> Void) {
        completion(.success(Connection()))
    }
    func ready(_ connection: Connection, deadline: Deadline, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(.success(()))
    }
    func close(_ connection: Connection, completion: @escaping @Sendable () -> Void) { completion() }
}

/// Fixtures built once: the harness calls each benchmark's closure once per sample, so anything made inside it
/// (a pool, an emulator) would be rebuilt, and its predecessor torn down concurrently, for every sample.
enum Fixtures {
    static let pool: ConnectionPool<InstantConnector>? = {
        let pool = try? ConnectionPool(connector: InstantConnector(), configuration: .with { $0.metricsLabel = nil })
        _ = try? pool?.warmUp(count: 1)
        return pool
    }()

    static let emulator: Emulator? = {
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 4)]
        return try? Emulator.start(configuration)
    }()

    static let producer: ManagedEventHubProducer? = emulator.flatMap {
        try? ManagedEventHubProducer(connectionString: $0.eventHubsConnectionString(eventHub: "eh1"))
    }
}

struct FixtureUnavailable: Error {}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
                                           maxDuration: .seconds(3))

    Benchmark("Pool lease cycle (acquire + release, warm pool)") { benchmark in
        guard let pool = Fixtures.pool else { throw FixtureUnavailable() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let lease = try pool.acquire()
            lease.release()
        }
    }

    Benchmark("AMQP transfer frame encode + parse (128-byte payload)") { benchmark in
        var transfer = AMQPTransfer(handle: 1)
        transfer.deliveryID = 7
        transfer.deliveryTag = [0, 0, 0, 7]
        transfer.messageFormat = 0
        let payload = AMQPMessage(data: [UInt8](repeating: 0x78, count: 128)).encode()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let bytes = AMQPFrame.amqp(channel: 1, performative: .transfer(transfer), payload: payload).encode()
            var parser = AMQPFrameParser(maxFrameSize: 65_536)
            parser.append(bytes)
            blackHole(try parser.nextFrame())
        }
    }

    Benchmark("Event Hubs single-event send, ManagedEventHubProducer, in-process emulator",
              configuration: .init(metrics: [.wallClock, .cpuTotal, .throughput], maxIterations: 5_000)) { benchmark in
        guard let producer = Fixtures.producer else { throw FixtureUnavailable() }
        let event = EventData(body: [UInt8](repeating: 0x78, count: 128))
        try producer.send(event)  // the first sample pays for the connection
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try producer.send(event) }
    }
}
