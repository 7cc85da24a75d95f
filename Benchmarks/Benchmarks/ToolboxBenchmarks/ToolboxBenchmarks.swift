import AzureEmulator
import AzureEventHubs
import AzureServiceBus
import Benchmark
import ConnectionPooling
import Foundation
import ToolboxAMQP
import ToolboxCore

#if canImport(Glibc)
import Glibc
#endif

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

/// Body size of every message and event, and of the TCP ping-pong (the floor for one acknowledged send).
let payloadSize = 128
/// Events per `EventDataBatch` in the batch-throughput benchmark.
let eventsPerBatch = 100

/// Fixtures built once: the harness calls each benchmark's closure once per sample, so anything made inside it
/// (a pool, an emulator, a socket pair) would be rebuilt, and its predecessor torn down concurrently, for every
/// sample. The emulator runs in this process with no injected connect delay (`connectionSetupDelay` 0), so "cold"
/// measures the whole local cost of a new connection (TCP, AMQP open, CBS, attach) and nothing else.
enum Fixtures {
    static let pool: ConnectionPool<InstantConnector>? = {
        let pool = try? ConnectionPool(connector: InstantConnector(), configuration: .with { $0.metricsLabel = nil })
        _ = try? pool?.warmUp(count: 1)
        return pool
    }()

    static let lock = Lock()

    static let emulator: Emulator? = {
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 4)]
        configuration.queues = ["q-send", "q-receive"]
        configuration.limits.maxMessagesPerQueue = 10_000_000  // the send benchmark never drains its queue
        return try? Emulator.start(configuration)
    }()

    static let producer: ManagedEventHubProducer? = emulator.flatMap {
        try? ManagedEventHubProducer(connectionString: $0.eventHubsConnectionString(eventHub: "eh1"))
    }

    /// A separate pooled producer for batches, so the single-event benchmark's link is not shared.
    static let batchProducer: ManagedEventHubProducer? = emulator.flatMap {
        try? ManagedEventHubProducer(connectionString: $0.eventHubsConnectionString(eventHub: "eh1"))
    }

    static let sender: ManagedServiceBusSender? = emulator.flatMap {
        try? ManagedServiceBusSender(connectionString: $0.serviceBusConnectionString, queueName: "q-send")
    }

    /// Fills `q-receive` before each receive sample (untimed).
    static let refiller: ManagedServiceBusSender? = emulator.flatMap {
        try? ManagedServiceBusSender(connectionString: $0.serviceBusConnectionString, queueName: "q-receive")
    }

    static let receiver: ServiceBusReceiver? = emulator.flatMap {
        try? ServiceBusReceiver(connectionString: $0.serviceBusConnectionString, queueName: "q-receive",
                                receiveMode: .peekLock)
    }

    static let pingPong: LoopbackPingPong? = try? LoopbackPingPong(size: payloadSize)
}

struct FixtureUnavailable: Error {}
struct ShortReceive: Error { let received: Int }

/// A blocking loopback TCP connection (TCP_NODELAY) to an echo thread: one `roundTrip()` writes `size` bytes and
/// reads them back — no protocol, TLS or event loop; the same as `toolbox bench tcp-pingpong`.
final class LoopbackPingPong: @unchecked Sendable {  // `buffer` is used by one benchmark closure at a time (the harness runs samples serially)
    struct SocketError: Error { let call: String; let errno: Int32 }

    private let client: Int32
    private var buffer: [UInt8]

    init(size: Int) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw SocketError(call: "socket", errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        guard bound else { throw SocketError(call: "bind/listen", errno: errno) }
        let server = Thread {
            let peer = accept(listener, nil, nil)
            close(listener)
            guard peer >= 0 else { return }
            Self.noDelay(peer)
            var echo = [UInt8](repeating: 0, count: size)
            while Self.transfer(peer, &echo, read: true) && Self.transfer(peer, &echo, read: false) {}
            close(peer)
        }
        server.start()
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) == 0 }
        }
        guard client >= 0, connected else { throw SocketError(call: "connect", errno: errno) }
        Self.noDelay(client)
        self.client = client
        buffer = [UInt8](repeating: 0x78, count: size)
    }

    /// One round trip; false if the connection failed.
    func roundTrip() -> Bool {
        Self.transfer(client, &buffer, read: false) && Self.transfer(client, &buffer, read: true)
    }

    private static func noDelay(_ descriptor: Int32) {
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func transfer(_ descriptor: Int32, _ buffer: inout [UInt8], read reading: Bool) -> Bool {
        let total = buffer.count
        return buffer.withUnsafeMutableBytes { bytes in
            var done = 0
            while done < total {
                let n = reading ? recv(descriptor, bytes.baseAddress! + done, total - done, 0)
                    : send(descriptor, bytes.baseAddress! + done, total - done, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }
}

struct PingPongFailed: Error {}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
                                           maxDuration: .seconds(3))
    let ioMetrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .throughput]

    // MARK: The pool and its physical reference

    Benchmark("Pool lease cycle (acquire + release, warm pool)") { benchmark in
        guard let pool = Fixtures.pool else { throw FixtureUnavailable() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let lease = try pool.acquire()
            lease.release()
        }
    }

    Benchmark("Bare Lock lock + unlock pair (reference for the pool)") { benchmark in
        let lock = Fixtures.lock
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            lock.lock()
            lock.unlock()
        }
    }

    // The same two with 1,000 operations per sample, so the harness's per-sample cost is spread out: with
    // `--scale` (or dividing by 1,000) these give per-operation figures comparable to `toolbox bench pool`.
    Benchmark("Pool lease cycle, 1000 per sample", configuration: .init(scalingFactor: .kilo)) { benchmark in
        guard let pool = Fixtures.pool else { throw FixtureUnavailable() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let lease = try pool.acquire()
            lease.release()
        }
    }

    Benchmark("Bare Lock lock + unlock pair, 1000 per sample", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let lock = Fixtures.lock
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            lock.lock()
            lock.unlock()
        }
    }

    // MARK: AMQP codec

    Benchmark("AMQP transfer frame encode + parse (128-byte payload)") { benchmark in
        var transfer = AMQPTransfer(handle: 1)
        transfer.deliveryID = 7
        transfer.deliveryTag = [0, 0, 0, 7]
        transfer.messageFormat = 0
        let payload = AMQPMessage(data: [UInt8](repeating: 0x78, count: payloadSize)).encode()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let bytes = AMQPFrame.amqp(channel: 1, performative: .transfer(transfer), payload: payload).encode()
            var parser = AMQPFrameParser(maxFrameSize: 65_536)
            parser.append(bytes)
            blackHole(try parser.nextFrame())
        }
    }

    // MARK: The floor for one acknowledged send

    Benchmark("Loopback TCP ping-pong, 128 B each way (floor for one acknowledged send)",
              configuration: .init(metrics: ioMetrics, maxIterations: 20_000)) { benchmark in
        guard let pingPong = Fixtures.pingPong else { throw FixtureUnavailable() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations where !pingPong.roundTrip() { throw PingPongFailed() }
    }

    // MARK: Event Hubs

    Benchmark("Event Hubs single-event send, ManagedEventHubProducer, in-process emulator",
              configuration: .init(metrics: ioMetrics, maxIterations: 5_000)) { benchmark in
        guard let producer = Fixtures.producer else { throw FixtureUnavailable() }
        let event = EventData(body: [UInt8](repeating: 0x78, count: payloadSize))
        try producer.send(event)  // the first sample pays for the connection
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try producer.send(event) }
    }

    // One sample = 10 EventDataBatch sends of 100 × 128-byte events = 1,000 events (the scaled iterations), so
    // with `--scale` the throughput row reads events/s and the time rows time per event. Each send fills a copy
    // of one empty batch (made by createBatch once per sample), as a caller building batches does.
    Benchmark("Event Hubs batch send, 100 × 128 B per EventDataBatch, ManagedEventHubProducer (1000 events per sample)",
              configuration: .init(metrics: ioMetrics, scalingFactor: .kilo, maxIterations: 1_000)) { benchmark in
        guard let producer = Fixtures.batchProducer else { throw FixtureUnavailable() }
        let empty = try producer.createBatch()  // the first sample pays for the connection and the link
        let body = [UInt8](repeating: 0x78, count: payloadSize)
        let batchesPerSample = benchmark.scaledIterations.count / eventsPerBatch
        benchmark.startMeasurement()
        for _ in 0..<batchesPerSample {
            var batch = empty
            for _ in 0..<eventsPerBatch where !batch.tryAdd(EventData(body: body)) { throw FixtureUnavailable() }
            try producer.send(batch)
        }
    }

    // Cold versus pooled: the pooled counterpart is the single-event benchmark above. No connect delay is
    // injected (see Fixtures); `toolbox bench eventhubs --cold` against `toolbox emulator --connect-delay-ms`
    // measures the case the pool exists for.
    Benchmark("Event Hubs cold send: new EventHubProducer (connection) per send, in-process emulator",
              configuration: .init(metrics: ioMetrics, maxIterations: 500)) { benchmark in
        guard let emulator = Fixtures.emulator else { throw FixtureUnavailable() }
        let connectionString = emulator.eventHubsConnectionString(eventHub: "eh1")
        let event = EventData(body: [UInt8](repeating: 0x78, count: payloadSize))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let producer = try EventHubProducer(connectionString: connectionString)
            try producer.send(event)
            try producer.close()
        }
    }

    // MARK: Service Bus

    Benchmark("Service Bus single-message send, ManagedServiceBusSender, in-process emulator",
              configuration: .init(metrics: ioMetrics, maxIterations: 5_000)) { benchmark in
        guard let sender = Fixtures.sender else { throw FixtureUnavailable() }
        let message = ServiceBusMessage(body: [UInt8](repeating: 0x78, count: payloadSize))
        try sender.send(message)  // the first sample pays for the connection
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try sender.send(message) }
    }

    // What the Python toolbox's send_message does (issue 20's scheduled row): schedule-message with no delay,
    // one `$management` request and its response per call.
    Benchmark("Service Bus scheduled send (schedule-message, no delay), ManagedServiceBusSender, in-process emulator",
              configuration: .init(metrics: ioMetrics, maxIterations: 5_000)) { benchmark in
        guard let sender = Fixtures.sender else { throw FixtureUnavailable() }
        let message = ServiceBusMessage(body: [UInt8](repeating: 0x78, count: payloadSize))
        _ = try sender.send([message], delay: 0)  // the first sample pays for the management link
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { _ = try sender.send([message], delay: 0) }
    }

    // One sample: receive a batch of 10 peek-locked messages (one receive call) and complete each, in turn,
    // waiting for the emulator's confirmation of each — 10 messages per sample (throughput × 10 = messages/s).
    // The 10 messages are sent, untimed, at the start of the sample.
    Benchmark("Service Bus receive 10 (peek-lock) + complete each, ServiceBusReceiver, in-process emulator",
              configuration: .init(metrics: ioMetrics, maxIterations: 2_000)) { benchmark in
        guard let refiller = Fixtures.refiller, let receiver = Fixtures.receiver else { throw FixtureUnavailable() }
        let batch = 10
        let message = ServiceBusMessage(body: [UInt8](repeating: 0x78, count: payloadSize))
        try refiller.send([ServiceBusMessage](repeating: message, count: batch))
        benchmark.startMeasurement()
        var completed = 0
        while completed < batch {  // one receive call, unless the emulator delivered fewer than asked
            let received = try receiver.receive(maxMessages: batch - completed, timeout: 10)
            guard !received.isEmpty else { throw ShortReceive(received: completed) }
            for message in received { try receiver.complete(message) }
            completed += received.count
        }
    }
}
