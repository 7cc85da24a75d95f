import ArgumentParser
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

/// `toolbox amqp ...`: send and receive over AMQP 1.0 (RabbitMQ, the emulator, any AMQP 1.0 peer).
struct AMQPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp", abstract: "Send and receive AMQP 1.0 messages",
        subcommands: [AMQPSendCommand.self, AMQPReceiveCommand.self])
}

/// Connects to the URL's endpoint and begins a session; errors go to stderr and exit 1.
/// Opens the connection and a session; with `within`, connecting, opening and beginning all fit in that many seconds
/// (`amqp receive --timeout`: a peer that never answered `open` held it 30 s past its time-out).
private func openSession(url: String, caFile: String?, within limit: Double? = nil)
    throws -> (AMQPConnection, AMQPSession, AMQPEndpoint)
{
    do {
        let endpoint = try AMQPEndpoint(url: url)
        // "/" alone (amqp://host:5672/) names no node either: it was sent to as an address.
        guard endpoint.address.contains(where: { $0 != "/" }) else {
            throw AMQPError(.invalidArgument, "the URL needs an address path, e.g. amqp://host:5672/queue/q1")
        }
        let deadline = limit.map { Deadline.after(seconds: $0) }
        func left(_ otherwise: Double) -> Duration {
            .clampingSeconds(max(0.001, min(otherwise, deadline?.secondsRemaining ?? otherwise)))
        }
        var configuration = AMQPConnectionConfiguration()
        configuration.openTimeout = left(configuration.openTimeout.toolboxSeconds)
        let connection = try AMQPConnection(endpoint: endpoint, caFile: caFile, configuration: configuration)
        try connection.open()
        return (connection, try connection.beginSession(timeout: left(60)), endpoint)
    } catch {
        JSONOutput.printError("\(error)")
        throw ExitCode(1)
    }
}

private func rate(_ count: Int, _ seconds: Double) -> Double {
    seconds > 0 ? (Double(count) / seconds * 10).rounded() / 10 : 0
}

/// `toolbox amqp send --url amqp[s]://[user:pass@]host:port/address [--count N] [--size BYTES | --body TEXT]
/// [--ca-file PEM] [--settled] --json`
struct AMQPSendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send messages with data-section bodies and report their outcomes",
        discussion: #"Output: {"sent": N, "accepted": N, "rejected": N, "released": N, "other": N, "seconds": S, "messages_per_sec": R}; exit 1 when an unsettled message was not accepted"#)

    @Option(help: "amqp[s]://[user:pass@]host:port/address")
    var url: String

    @Option(help: "How many messages to send")
    var count: Int = 1

    @OptionGroup var content: SendBodyOptions<AMQPMessages>

    @OptionGroup var tls: CAFileOption

    @Flag(help: "Send pre-settled (no outcomes are awaited)")
    var settled = false

    @Flag(help: "Print the summary as one JSON object")
    var json = false

    func validate() throws {
        if count < 0 { throw ValidationError("--count must not be negative") }
    }

    func run() throws {
        let payload = content.payload
        let (connection, session, endpoint) = try openSession(url: url, caFile: tls.caFile)
        defer { try? connection.close() }
        let sender: AMQPSender
        do {
            sender = try session.attachSender(address: endpoint.address,
                                              options: AMQPSenderOptions(settleMode: settled ? .settled : .unsettled))
        } catch {
            JSONOutput.printError("\(error)")
            throw ExitCode(1)
        }
        let tally = LockedValue<(accepted: Int, rejected: Int, released: Int, other: Int, failure: AMQPError?)>((0, 0, 0, 0, nil))
        let group = DispatchGroup()
        let started = MonotonicInstant.now()
        let runID = UUID().uuidString.lowercased()
        // Outcomes only update the tally: one serial queue, not the concurrent default callback queue, so the
        // command survives running out of descriptors (see LibraryQueues.makeWorkQueue).
        let outcomes = DispatchQueue(label: "toolbox.amqp-send")
        for index in 0..<count {
            var message = AMQPMessage(data: payload)
            message.properties = AMQPProperties(messageID: .string("\(runID)-\(index)"))
            group.enter()
            // A broker that never grants credit must not hang the command: each send gets 60 s for its outcome.
            sender.send(message, deadline: .after(seconds: 60), queue: outcomes) { result in
                tally.withLockedValue { tally in
                    switch result {
                    case .success(.accepted): tally.accepted += 1
                    case .success(.rejected): tally.rejected += 1
                    case .success(.released): tally.released += 1
                    case .success: tally.other += 1
                    case .failure(let error): tally.failure = tally.failure ?? error
                    }
                }
                group.leave()
            }
        }
        group.wait()
        let seconds = MonotonicInstant.now().seconds(since: started)
        let result = tally.load()
        if let failure = result.failure {
            JSONOutput.printError("\(failure)")
            throw ExitCode(1)
        }
        // `other`: outcomes that are none of the three (modified, received, an unknown one, none at all).
        let summary: [String: Any] = [
            "sent": count, "accepted": result.accepted, "rejected": result.rejected, "released": result.released,
            "other": result.other, "seconds": (seconds * 1000).rounded() / 1000, "messages_per_sec": rate(count, seconds),
        ]
        if json {
            JSONOutput.printLine(summary)
        } else {
            print("sent \(count) (accepted \(result.accepted), rejected \(result.rejected), released \(result.released), "
                  + "other \(result.other)) in \(String(format: "%.3f", seconds)) s")
        }
        // Unsettled sends the peer did not accept failed, whatever it said instead: a non-zero exit with the count
        // (it exited 0 with "accepted": 0).
        if !settled, result.accepted < count {
            JSONOutput.printError("\(count - result.accepted) of \(count) messages were not accepted (rejected "
                + "\(result.rejected), released \(result.released), other \(result.other))")
            throw ExitCode(1)
        }
    }
}

/// `amqp send`'s bodies: `--size` sends the alphabet over and over.
enum AMQPMessages: SendBodyKind {
    static let noun = "Message"
    static let defaultBody = "toolbox amqp message"
    static func filler(size: Int) -> [UInt8] { (0..<size).map { UInt8(ascii: "a") + UInt8($0 % 26) } }
    static let fillerNote = ", a repeating pattern"
}

/// `toolbox amqp receive --url ... [--count N] [--timeout S] [--print-bodies] --json`
struct AMQPReceiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive", abstract: "Receive and accept messages",
        discussion: #"With --print-bodies, one line per message: {"body_kind": data|amqp-value|amqp-sequence|none, "#
            + #""body_base64": ..., "message_id": ..., "size": N} (plus "body_text" for a string value, "body_json" "#
            + #"for other values and sequences); "#
            + #"then {"received": N, "bytes": B, "seconds": S, "messages_per_sec": R}. Exits 1 if fewer than --count arrive."#)

    @Option(help: "amqp[s]://[user:pass@]host:port/address")
    var url: String

    @Option(help: "Stop after this many messages; fewer before the timeout is an error")
    var count: Int?

    @Option(help: "Seconds to wait for messages, connecting included (connecting may take at least 5)")
    var timeout: Double = 10

    @OptionGroup var tls: CAFileOption

    @Flag(name: .customLong("print-bodies"), help: "Print one JSON line per message")
    var printBodies = false

    @Flag(help: "Print JSON")
    var json = false

    func validate() throws {
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
        guard timeout.isFinite, timeout >= 0, timeout <= 86_400 else {
            throw ValidationError("--timeout must be in [0, 86400] seconds (got \(timeout))")
        }
    }

    func run() throws {
        let started = MonotonicInstant.now()
        // Connecting gets at least 5 s: `--timeout 0` (a poll, or with `--count 0` a connectivity check) connected
        // before the time-out bounded it, and a TLS handshake to Azure takes up to a second.
        let (connection, session, endpoint) = try openSession(url: url, caFile: tls.caFile, within: max(timeout, 5))
        defer { try? connection.close() }
        let connectBudget = max(timeout, 5)
        let elapsed = { MonotonicInstant.now().seconds(since: started) }
        let wanted = count
        let state = LockedValue<(received: Int, bytes: Int)>((0, 0))
        let done = DispatchSemaphore(value: 0)
        let output = LibraryQueues.makeQueue(label: "toolbox.amqp.receive.output")
        let printBodies = self.printBodies
        let json = self.json
        // With --count, grant exactly that much credit so no extra message is taken off the queue.
        let credit: AMQPCreditMode = wanted.map { _ in .manual } ?? .auto(prefetch: 200)
        let receiver: AMQPReceiver
        do {
            receiver = try session.attachReceiver(address: endpoint.address, options: AMQPReceiverOptions(credit: credit),
                                                  messageQueue: output, timeout: .clampingSeconds(max(0.001, connectBudget - elapsed()))) { delivery in
                delivery.accept(queue: output)
                let n = state.withLockedValue { state -> Int in
                    state.received += 1
                    state.bytes += delivery.size
                    return state.received
                }
                if printBodies {
                    var line = AMQPBodyOutput.fields(delivery.message)
                    line["message_id"] = delivery.message.properties?.messageID.map(Self.describe) ?? NSNull()
                    JSONOutput.printLine(line)  // JSON either way: a Swift dictionary's description has no stable order
                }
                if let wanted, n == wanted { done.signal() }
            }
        } catch {
            JSONOutput.printError("\(error)")
            throw ExitCode(1)
        }
        let receiving = MonotonicInstant.now()
        // A link that ends (a message it could not decode, the peer detaching it) ends the wait: nothing more comes.
        receiver.onEnd(queue: output) { _ in done.signal() }
        if let wanted {
            if wanted > 0 { receiver.addCredit(UInt32(clamping: wanted)) } else { done.signal() }
        }
        _ = done.wait(timeout: .now() + max(0.001, timeout - elapsed()))
        let seconds = MonotonicInstant.now().seconds(since: receiving)
        // Let the output queue finish lines already received before the summary.
        output.sync {}
        let result = state.load()
        let summary: [String: Any] = [
            "received": result.received, "bytes": result.bytes, "seconds": (seconds * 1000).rounded() / 1000,
            "messages_per_sec": rate(result.received, seconds),
        ]
        if json { JSONOutput.printLine(summary) } else { print("received \(result.received) messages") }
        // Why, when the link ended early (a message it could not decode, the peer detaching it): read before our
        // own close ends it too.
        let endedEarly = receiver.endError
        try? receiver.close()
        if let wanted, result.received < wanted {
            let why = endedEarly.map { "; the link ended: \($0)" } ?? ""
            JSONOutput.printError("received \(result.received) of \(wanted) messages within \(timeout) s\(why)")
            throw ExitCode(1)
        }
        // Without --count the wait ends at the time-out; a link that ended before it failed the receive.
        if wanted == nil, let endedEarly {
            JSONOutput.printError("the link ended before --timeout: \(endedEarly)")
            throw ExitCode(1)
        }
    }

    /// message-id as JSON: strings as is, other types in their AMQP description.
    static func describe(_ id: AMQPValue) -> Any {
        switch id {
        case .string(let s): return s
        case .ulong(let v): return v
        case .uuid(let u): return u.uuidString.lowercased()
        case .binary(let b): return Data(b).base64EncodedString()
        default: return "\(id)"
        }
    }
}
