import ArgumentParser
import ConnectionPooling
import Dispatch
import Foundation
import ToolboxCore

/// `toolbox demo`: the reason the library exists, in numbers — a new connection per operation versus the pool.
///
/// Until the Event Hubs client and the emulator land, the connection is simulated: `create` costs
/// `--connect-delay-ms` (Azure's 700–900 ms TCP+TLS+SASL+CBS+attach) and an operation costs nothing.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cold (new connection per operation) versus pooled, with a simulated connection-setup delay."
    )

    @Option(help: "Simulated connection-setup cost in milliseconds (Azure measures 700–900).")
    var connectDelayMs: Int = 800

    @Option(help: "Operations per style.")
    var count: Int = 10

    @Flag(help: "Print one JSON object on stdout instead of the table.")
    var json = false

    func validate() throws {
        guard connectDelayMs >= 0, connectDelayMs <= 60_000 else {
            throw ValidationError("--connect-delay-ms must be between 0 and 60000")
        }
        guard count >= 1, count <= 100_000 else { throw ValidationError("--count must be between 1 and 100000") }
    }

    func run() throws {
        let connector = SimulatedConnector(delay: Double(connectDelayMs) / 1000)
        let say: (String) -> Void = { line in if !json { print(line) } else { JSONOutput.printHuman(line) } }
        say("Simulated connection setup: \(connectDelayMs) ms; \(count) operations each way.\n")
        say("  style     op   ms/op")

        var basicTotal = 0.0
        for index in 1...count {
            let started = MonotonicInstant.now()
            let connection: SimulatedConnector.Connection = try Blocking.wait { queue, completion in
                connector.create(deadline: .after(seconds: 60)) { result in queue.async { completion(result) } }
            }
            connection.operate()
            let _: Void = try Blocking.wait { queue, completion in
                connector.close(connection) { queue.async { completion(.success(())) } }
            }
            let elapsed = MonotonicInstant.now().seconds(since: started)
            basicTotal += elapsed
            say("  basic  \(pad(index))  \(format(elapsed * 1000))")
        }

        let pool = try ConnectionPool(connector: connector, configuration: .with { $0.metricsLabel = nil })
        var pooledTotal = 0.0
        var firstPooled = 0.0
        for index in 1...count {
            let started = MonotonicInstant.now()
            let lease = try pool.acquire()
            lease.connection.operate()
            lease.release()
            let elapsed = MonotonicInstant.now().seconds(since: started)
            if index == 1 { firstPooled = elapsed }
            pooledTotal += elapsed
            say("  pooled \(pad(index))  \(format(elapsed * 1000))")
        }
        try pool.closeAll()

        let basicPerOp = basicTotal / Double(count) * 1000
        let pooledPerOp = pooledTotal / Double(count) * 1000
        let warmPerOp = count > 1 ? (pooledTotal - firstPooled) / Double(count - 1) * 1000 : pooledPerOp
        let speedup = basicPerOp / max(pooledPerOp, 1e-6)
        say("""

              basic  (new connection each time): \(format(basicPerOp)) ms/op, \(format(1000 / basicPerOp)) ops/s
              pooled (one shared connection):    \(format(pooledPerOp)) ms/op (after warm-up \(format(warmPerOp, 4)) ms/op)
              speed-up: \(format(speedup))x per operation including the pool's one cold start, \
            \(format(basicPerOp / max(warmPerOp, 1e-6), 0))x once warm
            """)
        if json {
            JSONOutput.printLine([
                "connect_delay_ms": connectDelayMs,
                "count": count,
                "basic_ms_per_op": JSONOutput.rounded(basicPerOp, 4),
                "pooled_ms_per_op": JSONOutput.rounded(pooledPerOp, 4),
                "pooled_warm_ms_per_op": JSONOutput.rounded(warmPerOp, 6),
                "speedup": JSONOutput.rounded(speedup, 2),
                "speedup_warm": JSONOutput.rounded(basicPerOp / max(warmPerOp, 1e-6), 1),
                "simulated": true,
            ])
        }
    }

    private func pad(_ n: Int) -> String {
        let text = String(n)
        return String(repeating: " ", count: max(0, 3 - text.count)) + text
    }

    private func format(_ value: Double, _ places: Int = 2) -> String {
        String(format: "%.\(places)f", value)
    }
}

/// A connector whose `create` takes a fixed time, standing in for Azure's connection setup.
struct SimulatedConnector: Connector {
    final class Connection: Sendable {
        /// One operation on an open connection: in this simulation, free.
        func operate() {}
    }

    let delay: Double
    private let queue = DispatchQueue(label: "toolbox.demo.connector")

    init(delay: Double) { self.delay = delay }

    func create(deadline: Deadline, completion: @escaping @Sendable (Result<Connection, any Error>) -> Void) {
        queue.asyncAfter(deadline: .now() + delay) { completion(.success(Connection())) }
    }

    func ready(_ connection: Connection, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(.success(()))
    }

    func close(_ connection: Connection, completion: @escaping @Sendable () -> Void) {
        completion()
    }
}
