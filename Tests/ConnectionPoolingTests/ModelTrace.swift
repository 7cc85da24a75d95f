import Foundation

/// An execution of the SPIN model of the pool (`Verification/pool.pml`), as its `printf`s write it: `spin -T -t`
/// replaying a counterexample trail, or `spin -T -n<seed>` simulating at random (scripts/model-check.sh).
///
/// ```
/// CONFIG clients=3 maxSize=2 clientLimit=1 maxCreates=1
/// EV acquire c=0 -> queued          <- the action of one lock step
/// EV create s=0                     <- effects the real pool must show in the same step
/// ST ready=0 opening=1 draining=0 inuse=0 waiters=1 closed=0
/// RESULT assertion assertion violated (openingCount<=1)
/// ```
///
/// `CYCLE` marks where an acceptance cycle (a liveness counterexample) starts; `RESULT` says why the trace ends
/// (`none`, `assertion <text>`, `deadlock`, `cycle <property>`). Other lines are ignored.
struct ModelTrace {
    struct Configuration: Equatable {
        var clients = 3
        var maxSize = 2
        var clientLimit = 1
        var maxCreates = 1
    }

    enum AcquireOutcome: Equatable {
        case lease(slot: Int)
        case queued
        case poolClosed
    }

    enum Delivered: Equatable {
        case lease(slot: Int)
        case timedOut
        case connectionFailed
        case poolClosed
    }

    enum Event: Equatable {
        // Actions: what the replayer does to the real pool.
        case acquire(client: Int, outcome: AcquireOutcome)
        case release(client: Int, slot: Int, discard: Bool)
        case expire(client: Int, slot: Int)
        case createDone(slot: Int, ok: Bool)
        case readyDone(slot: Int, ok: Bool)
        case closeDone(slot: Int)
        case getTimeout(slot: Int)
        case waiterTimeout(client: Int)
        case tick(lifespan: Bool)
        case closeAll
        // Effects: what the real pool must do in the same step.
        case create(slot: Int)
        case close(slot: Int)
        case deliver(client: Int, result: Delivered)
        case closeCompleted

        var isEffect: Bool {
            switch self {
            case .create, .close, .deliver, .closeCompleted: return true
            default: return false
            }
        }
    }

    /// The counts the model prints after each lock step (`ST`); `draining` counts closing slots too, as
    /// `ConnectionPoolSnapshot.draining` does.
    struct Counts: Equatable, CustomStringConvertible {
        var ready = 0
        var opening = 0
        var draining = 0
        var inUse = 0
        var waiters = 0

        var description: String {
            "ready=\(ready) opening=\(opening) draining=\(draining) inuse=\(inUse) waiters=\(waiters)"
        }
    }

    struct Step {
        /// 1-based line number in the trace text, for messages.
        var line: Int
        var action: Event
        var effects: [Event] = []
        var counts = Counts()
        var closed = false
        /// Whether the step's `ST` line was printed (a trail can stop inside its last step).
        var complete = false
    }

    enum Ending: Equatable {
        case none
        case assertion(String)
        case deadlock
        case cycle(String)
    }

    var configuration = Configuration()
    var steps: [Step] = []
    var ending = Ending.none
    /// Index into `steps` where the acceptance cycle starts, for liveness counterexamples.
    var cycleStart: Int?

    struct ParseError: Error, CustomStringConvertible {
        let line: Int
        let message: String
        var description: String { "trace line \(line): \(message)" }
    }

    init(text: String) throws(ParseError) {
        var current: Step?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let words = raw.split(separator: " ").map(String.init)
            guard let keyword = words.first else { continue }
            switch keyword {
            case "CONFIG":
                let values = try Self.keyValues(words.dropFirst(), line: line)
                configuration.clients = try Self.int(values, "clients", line: line)
                configuration.maxSize = try Self.int(values, "maxSize", line: line)
                configuration.clientLimit = try Self.int(values, "clientLimit", line: line)
                configuration.maxCreates = try Self.int(values, "maxCreates", line: line)
            case "EV":
                let event = try Self.event(Array(words.dropFirst()), line: line)
                if event.isEffect {
                    guard current != nil else { throw ParseError(line: line, message: "an effect before any action") }
                    current?.effects.append(event)
                } else {
                    if current != nil {
                        throw ParseError(line: line, message: "a second action before the ST line of the first")
                    }
                    current = Step(line: line, action: event)
                }
            case "ST":
                guard var step = current else { throw ParseError(line: line, message: "ST without an action") }
                let values = try Self.keyValues(words.dropFirst(), line: line)
                step.counts = Counts(
                    ready: try Self.int(values, "ready", line: line),
                    opening: try Self.int(values, "opening", line: line),
                    draining: try Self.int(values, "draining", line: line),
                    inUse: try Self.int(values, "inuse", line: line),
                    waiters: try Self.int(values, "waiters", line: line))
                step.closed = try Self.int(values, "closed", line: line) != 0
                step.complete = true
                steps.append(step)
                current = nil
            case "CYCLE":
                cycleStart = steps.count
            case "RESULT":
                let rest = words.dropFirst(2).joined(separator: " ")
                switch words.dropFirst().first {
                case "none": ending = .none
                case "assertion": ending = .assertion(rest)
                case "deadlock": ending = .deadlock
                case "cycle": ending = .cycle(rest)
                default: throw ParseError(line: line, message: "unknown RESULT '\(raw)'")
                }
            default:
                continue
            }
        }
        // A trail can stop inside a step (the assertion fired before its ST line): keep that step.
        if let current { steps.append(current) }
        if steps.isEmpty { throw ParseError(line: 0, message: "no steps") }
    }

    private static func keyValues(_ words: ArraySlice<String>, line: Int) throws(ParseError) -> [String: String] {
        var values: [String: String] = [:]
        for word in words {
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ParseError(line: line, message: "expected key=value, got '\(word)'") }
            values[parts[0]] = parts[1]
        }
        return values
    }

    private static func int(_ values: [String: String], _ key: String, line: Int) throws(ParseError) -> Int {
        guard let text = values[key] else { throw ParseError(line: line, message: "missing \(key)=") }
        guard let value = Int(text), value >= 0, value < 1000 else {
            throw ParseError(line: line, message: "\(key)=\(text) is not a small non-negative number")
        }
        return value
    }

    private static func event(_ words: [String], line: Int) throws(ParseError) -> Event {
        guard let name = words.first else { throw ParseError(line: line, message: "EV without a name") }
        let arguments = words.dropFirst().filter { $0.contains("=") }
        let values = try keyValues(arguments[...], line: line)
        let flags = Set(words.dropFirst().filter { !$0.contains("=") })
        func c() throws(ParseError) -> Int { try int(values, "c", line: line) }
        func s() throws(ParseError) -> Int { try int(values, "s", line: line) }
        func ok() throws(ParseError) -> Bool {
            if flags.contains("ok") { return true }
            if flags.contains("fail") { return false }
            throw ParseError(line: line, message: "expected ok or fail")
        }
        switch name {
        case "acquire":
            let client = try c()
            if flags.contains("queued") { return .acquire(client: client, outcome: .queued) }
            if flags.contains("poolClosed") { return .acquire(client: client, outcome: .poolClosed) }
            if flags.contains("lease") { return .acquire(client: client, outcome: .lease(slot: try s())) }
            throw ParseError(line: line, message: "acquire without an outcome")
        case "release": return .release(client: try c(), slot: try s(), discard: flags.contains("discard"))
        case "expire": return .expire(client: try c(), slot: try s())
        case "createDone": return .createDone(slot: try s(), ok: try ok())
        case "readyDone": return .readyDone(slot: try s(), ok: try ok())
        case "closeDone": return .closeDone(slot: try s())
        case "getTimeout": return .getTimeout(slot: try s())
        case "waiterTimeout": return .waiterTimeout(client: try c())
        case "tick": return .tick(lifespan: flags.contains("lifespan"))
        case "closeAll": return .closeAll
        case "create": return .create(slot: try s())
        case "close": return .close(slot: try s())
        case "closeCompleted": return .closeCompleted
        case "deliver":
            let client = try c()
            if flags.contains("ok") { return .deliver(client: client, result: .lease(slot: try s())) }
            if flags.contains("timedOut") { return .deliver(client: client, result: .timedOut) }
            if flags.contains("connectionFailed") { return .deliver(client: client, result: .connectionFailed) }
            if flags.contains("poolClosed") { return .deliver(client: client, result: .poolClosed) }
            throw ParseError(line: line, message: "deliver without a result")
        default:
            throw ParseError(line: line, message: "unknown event '\(name)'")
        }
    }
}
