import ArgumentParser
import AzureCosmos
import Foundation
import ToolboxCore

/// `toolbox bench cosmos`: closed-loop latency and throughput of one Cosmos DB operation.
struct BenchCosmosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cosmos",
        abstract: "Run N operations from C concurrent callers against a container; prints one JSON line.",
        discussion: """
            --operation read|create|upsert|query. read and query use one item (id bench-read) upserted first; \
            items carry "bench" at the container's partition key path (their id when the path is /id); create writes new ids; upsert rewrites 100 ids. --pooled (default) uses \
            ManagedCosmos, --no-pooled the basic Cosmos client. Untimed warm-up operations run first.
            Keys: operation, count, concurrency, size, pooled, ops_per_sec, p50_ms, p99_ms, mean_ms, errors, \
            connections, seconds, request_charge, cpu_us_per_op.
            """)

    enum Operation: String, ExpressibleByArgument, CaseIterable { case read, create, upsert, query }

    @OptionGroup var connection: CosmosConnectionOptions
    @Option(help: "read|create|upsert|query") var operation: Operation = .read
    @OptionGroup var loop: ClosedLoopOptions<CosmosBenchProfile>
    @Flag(inversion: .prefixedNo, help: "ManagedCosmos (pooled, default) or the basic Cosmos client.")
    var pooled = true

    func run() throws {
        let client: any CosmosContainerOperations
        do {
            client = try connection.makeClient(pooled: pooled)
        } catch let error as ToolboxError {
            CosmosOutput.printError(error)
            throw ExitCode(1)
        }
        defer { try? client.close() }
        let filler = String(repeating: "x", count: loop.size)
        let run = UUID().uuidString.prefix(8)
        let operation = self.operation
        let charge = LockedValue(0.0)
        let items: BenchCosmosItems
        do {
            let paths = try (client as? any CosmosAccountOperations)?
                .readContainer(connection.container, database: connection.database).partitionKey?.paths
            items = BenchCosmosItems(paths: paths ?? ["/pk"], filler: filler)
        } catch {
            CosmosOutput.printError(error)
            throw ExitCode(1)
        }
        let readKey = items.partitionKey(id: "bench-read")
        if operation == .read || operation == .query {
            do {
                try client.upsertItem(items.document(id: "bench-read"), partitionKey: readKey)
            } catch {
                CosmosOutput.printError(error)
                throw ExitCode(1)
            }
        }
        let query = CosmosQuery("SELECT * FROM c WHERE c.id = @id", parameters: ["@id": "bench-read"])
        let step: ClosedLoopLoad.Operation = { index, done in
            let record: @Sendable (Double?, ToolboxError?) -> Void = { units, error in
                if let units { charge.withLockedValue { $0 += units } }
                done(error.map { "\($0)" })
            }
            switch operation {
            case .read:
                client.readItem(id: "bench-read", partitionKey: readKey) { result in
                    record(try? result.get().requestCharge, result.failure)
                }
            case .create, .upsert:
                let id = operation == .create ? "bench-\(run)-\(index)" : "bench-upsert-\(index % 100)"
                client.writeItem(items.document(id: id), partitionKey: items.partitionKey(id: id), upsert: operation == .upsert, options: CosmosItemOptions(),
                                 queue: LibraryQueues.defaultCallbackQueue) { result in
                    record(try? result.get().requestCharge, result.failure)
                }
            case .query:
                client.queryPage(query, options: CosmosQueryOptions(partitionKey: readKey)) { result in
                    record(try? result.get().requestCharge, result.failure)
                }
            }
        }
        let count = loop.count
        let warm = ClosedLoopLoad.run(count: loop.warmupCount, concurrency: loop.concurrency,
                                      operation: { index, done in step(count + index, done) })
        if let error = warm.lastError { JSONOutput.printError("warm-up: \(error)") }
        charge.withLockedValue { $0 = 0 }
        let before = ProcessStats.cpuSeconds()
        let outcome = ClosedLoopLoad.run(count: count, concurrency: loop.concurrency, operation: step)
        let cpu = ProcessStats.cpuSeconds() - before
        if let error = outcome.lastError { JSONOutput.printError("last error: \(error)") }
        let connections = (client as? ManagedCosmos)?.connectionsOpened ?? (client as? Cosmos)?.connectionsOpened ?? 0
        let seconds = outcome.seconds
        let summary: [String: Any] = [
            "operation": operation.rawValue, "count": count, "concurrency": loop.concurrency, "size": loop.size, "pooled": pooled,
            "ops_per_sec": JSONOutput.rounded(seconds > 0 ? Double(outcome.succeeded) / seconds : 0, 1),
            "p50_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.5)) / 1e6, 4),
            "p99_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.99)) / 1e6, 4),
            "mean_ms": JSONOutput.rounded(outcome.meanMilliseconds, 4), "errors": outcome.failed,
            "connections": connections, "seconds": JSONOutput.rounded(seconds),
            "request_charge": JSONOutput.rounded(charge.load(), 2),
            "cpu_us_per_op": JSONOutput.rounded(cpu * 1e6 / Double(count), 1),
        ]
        JSONOutput.printLine(summary)
        if outcome.failed > 0 { throw ExitCode(1) }
    }
}

/// `bench cosmos`'s closed loop.
enum CosmosBenchProfile: ClosedLoopProfile {
    static let sizeHelp = "Bytes of filler in each written item."
    static let maxConcurrency = 1024
    static let warmupFloor = 20
}

/// The bench's items, shaped for the container's partition key `paths` (read from the container, so `/id`,
/// `/pk`, `/tenant/region` and hierarchical keys all work): "bench" at each path other than `/id`.
struct BenchCosmosItems: Sendable {
    let paths: [String]
    let filler: String

    func partitionKey(id: String) -> CosmosPartitionKey {
        let parts = paths.map { $0 == "/id" ? CosmosPartitionKey.string(id) : .string("bench") }
        return parts.count == 1 ? parts[0] : .hierarchical(parts)
    }

    func document(id: String) -> [UInt8] {
        var document = CosmosJSON.object(["id": .string(id), "filler": .string(filler)])
        for path in paths where path != "/id" {
            document = Self.setting(.string("bench"), at: path.split(separator: "/").map(String.init)[...], in: document)
        }
        return document.jsonBytes
    }

    private static func setting(_ value: CosmosJSON, at path: ArraySlice<String>, in json: CosmosJSON) -> CosmosJSON {
        guard let first = path.first else { return value }
        var members: [String: CosmosJSON] = [:]
        if case .object(let existing) = json { members = existing }
        members[first] = setting(value, at: path.dropFirst(), in: members[first] ?? .object([:]))
        return .object(members)
    }
}
