import ArgumentParser
import Dispatch
import Foundation
import ToolboxCore

/// What a send command calls its bodies and sends when `--body` and `--size` are not given.
protocol SendBodyKind {
    /// "Event" or "Message".
    static var noun: String { get }
    static var defaultBody: String { get }
    /// The body `--size N` sends: N bytes of filler.
    static func filler(size: Int) -> [UInt8]
    /// What `--size`'s help says of the filler, after "in bytes".
    static var fillerNote: String { get }
}

extension SendBodyKind {
    static var defaultBody: String { "hello from toolbox" }
    static func filler(size: Int) -> [UInt8] { [UInt8](repeating: 0x78, count: size) }
    static var fillerNote: String { "" }
}

/// `--body TEXT` or `--size BYTES`: the body of every message `eventhubs send`, `servicebus send` and `amqp send`
/// send.
struct SendBodyOptions<Kind: SendBodyKind>: ParsableArguments {
    @Option(help: "\(Kind.noun) body text.")
    var body: String?

    @Option(help: "\(Kind.noun) body size in bytes\(Kind.fillerNote) (instead of --body): large bodies without a huge argument.")
    var size: Int?

    func validate() throws {
        if body != nil && size != nil { throw ValidationError("give --body or --size, not both") }
        if let size, size < 0 { throw ValidationError("--size must be >= 0") }
    }

    /// The body every send carries: `--size` bytes of filler, or `--body` as UTF-8.
    var payload: [UInt8] { size.map(Kind.filler) ?? Array((body ?? Kind.defaultBody).utf8) }
}

/// How `eventhubs send` and `servicebus send` name what they send and the client that sends it.
protocol MessagingSendKind: SendBodyKind {
    /// "producer" or "sender".
    static var client: String { get }
    /// `--count` when it is not given.
    static var defaultCount: Int { get }
}

enum EventSends: MessagingSendKind {
    static let noun = "Event"
    static let client = "producer"
    static let defaultCount = 100
}

enum MessageSends: MessagingSendKind {
    static let noun = "Message"
    static let client = "sender"
    static let defaultCount = 1
}

/// The options and the run of `eventhubs send` and `servicebus send`: N sends of one body from C concurrent
/// callers, then the summary `{sent, failed, seconds, events_per_sec, p50_ms, p99_ms}`.
struct MessagingSendOptions<Kind: MessagingSendKind>: ParsableArguments {
    @Option(help: "\(Kind.noun)s to send.")
    var count: Int = Kind.defaultCount

    @Option(help: "Concurrent callers.")
    var concurrency: Int = 1

    @OptionGroup var content: SendBodyOptions<Kind>

    @OptionGroup var network: MessagingTransportOptions

    @Flag(inversion: .prefixedNo, help: "Use the managed (pooled) \(Kind.client); --no-pooled uses the basic \(Kind.client).")
    var pooled = true

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must be >= 0") }
        guard concurrency >= 1, concurrency <= 4096 else { throw ValidationError("--concurrency must be 1...4096") }
    }

    /// Runs the sends, closes the client and prints the summary; exits 1 if any send failed.
    ///
    /// Completion-handler sends: `concurrency` callers really are in flight at once (a thread per caller would be
    /// capped by the number of cores).
    ///
    /// Ctrl-C or SIGTERM stops starting sends; those in flight finish (each within its own time-out), the client
    /// closes and the summary is printed, exit 130 — a second signal quits at once. Without this the process died
    /// with nothing said of what had been sent. The signals are watched before `open` makes the client, so one
    /// that comes while it connects is handled too.
    ///
    /// - parameter open: makes the client; returns how to close it and how to make one send.
    func run(_ open: () throws -> (close: () throws -> Void, send: ClosedLoopLoad.Operation)) throws {
        let interrupted = LockedValue(false)
        let sources = watchInterruptSignals(on: DispatchQueue(label: "toolbox.send.signals")) {
            let again = interrupted.withLockedValue { was in
                defer { was = true }
                return was
            }
            if again { Foundation.exit(130) }
            JSONOutput.printError("interrupted: finishing the sends in flight (interrupt again to quit at once)")
        }
        defer { for source in sources { source.cancel() } }
        let (close, send) = try open()
        let outcome = ClosedLoopLoad.run(count: count, concurrency: concurrency, stopping: { interrupted.load() },
                                         operation: send)
        try? close()
        // A signal that came once every send was made interrupted nothing.
        let cut = interrupted.load() && outcome.succeeded + outcome.failed < count
        try ClosedLoopLoad.printSendSummary(outcome, json: json, interruptedOf: cut ? count : nil)
    }
}
