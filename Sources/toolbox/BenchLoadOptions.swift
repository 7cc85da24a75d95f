import ArgumentParser

/// The options `bench eventhubs` and `bench servicebus` share: where to connect, how much closed-loop load, how
/// to print.
struct BenchLoadOptions: ParsableArguments {
    @Option(help: "Connection string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...).")
    var connectionString: String

    @Option(help: "Timed operations: events or messages (with --batch-size, rounded up to whole batches).")
    var count: Int = 1000

    @Option(help: "Concurrent callers (each starts its next operation when the previous one completes).")
    var concurrency: Int = 1

    @Option(help: "Body size in bytes.")
    var size: Int = 128

    @Option(help: "Untimed operations before measuring (default: max(2 × concurrency, 50); 0 with --cold).")
    var warmup: Int?

    @Option(help: "PEM CA file to trust (an emulator with TLS).")
    var caFile: String?

    @OptionGroup var network: MessagingTransportOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be >= 1") }
        guard concurrency >= 1, concurrency <= 4096 else { throw ValidationError("--concurrency must be 1...4096") }
        guard size >= 0, size <= 1_000_000 else { throw ValidationError("--size must be 0...1000000") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be >= 0") }
    }

    /// The body every operation sends.
    var payload: [UInt8] { [UInt8](repeating: 0x78, count: size) }

    /// Prints `summary` (one JSON line with --json, else sorted key=value pairs) and exits 1 when `failed` > 0.
    func report(_ summary: [String: Any], failed: Int) throws {
        if json {
            JSONOutput.printLine(summary)
        } else {
            print(summary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        if failed > 0 {
            JSONOutput.printError("\(failed) operations failed (the last error, if any, is printed above)")
            throw ExitCode(1)
        }
    }
}
