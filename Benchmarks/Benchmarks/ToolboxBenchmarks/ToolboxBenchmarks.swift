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

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
                                           maxDuration: .seconds(3))

    Benchmark("Pool lease cycle (acquire + release, warm pool)") { benchmark in
        let pool = try ConnectionPool(connector: InstantConnector(), configuration: .with { $0.metricsLabel = nil })
        try pool.warmUp(count: 1)
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
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 4)]
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        let event = EventData(body: [UInt8](repeating: 0x78, count: 128))
        for _ in 0..<100 { try producer.send(event) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try producer.send(event) }
    }
}
