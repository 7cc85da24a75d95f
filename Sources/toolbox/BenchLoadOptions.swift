import ArgumentParser

/// What sets one bench command's closed loop apart from another's: the words of its help and its limits.
protocol ClosedLoopProfile {
    /// After "Timed operations".
    static var countDetail: String { get }
    static var sizeHelp: String { get }
    static var maxConcurrency: Int { get }
    /// The warm-up is `max(2 × concurrency, warmupFloor)` operations unless `--warmup` says otherwise.
    static var warmupFloor: Int { get }
    /// After the default in `--warmup`'s help.
    static var warmupDetail: String { get }
}

extension ClosedLoopProfile {
    static var countDetail: String { "" }
    static var warmupDetail: String { "" }
}

/// `--count`, `--concurrency`, `--size` and `--warmup`: the closed-loop load of `bench eventhubs`,
/// `bench servicebus` and `bench cosmos`.
struct ClosedLoopOptions<Profile: ClosedLoopProfile>: ParsableArguments {
    @Option(help: "Timed operations\(Profile.countDetail).")
    var count: Int = 1000

    @Option(help: "Concurrent callers (each starts its next operation when the previous one completes).")
    var concurrency: Int = 1

    @Option(help: "\(Profile.sizeHelp)")
    var size: Int = 128

    @Option(help: "Untimed operations before measuring (default: max(2 × concurrency, \(Profile.warmupFloor))\(Profile.warmupDetail)).")
    var warmup: Int?

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be >= 1") }
        guard concurrency >= 1, concurrency <= Profile.maxConcurrency else {
            throw ValidationError("--concurrency must be 1...\(Profile.maxConcurrency)")
        }
        guard size >= 0, size <= 1_000_000 else { throw ValidationError("--size must be 0...1000000") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be >= 0") }
    }

    /// Untimed operations before the timed ones: `--warmup`, else `max(2 × concurrency, warmupFloor)`.
    var warmupCount: Int { warmup ?? max(2 * concurrency, Profile.warmupFloor) }
}

/// `bench eventhubs` and `bench servicebus`.
enum MessagingBenchProfile: ClosedLoopProfile {
    static let countDetail = ": events or messages (with --batch-size, rounded up to whole batches)"
    static let sizeHelp = "Body size in bytes."
    static let maxConcurrency = 4096
    static let warmupFloor = 50
    static let warmupDetail = "; 0 with --cold"
}

/// The options `bench eventhubs` and `bench servicebus` share: where to connect, how much closed-loop load, how
/// to print.
struct BenchLoadOptions: ParsableArguments {
    @Option(help: "Connection string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...).")
    var connectionString: String

    @OptionGroup var loop: ClosedLoopOptions<MessagingBenchProfile>

    @OptionGroup var network: MessagingTransportOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    /// The body every operation sends.
    var payload: [UInt8] { [UInt8](repeating: 0x78, count: loop.size) }

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
