import ArgumentParser
import AzureServiceBus
import Foundation
import ToolboxCore

/// `toolbox servicebus ...`: Service Bus queue commands.
struct ServiceBusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servicebus", abstract: "Send to and receive from a Service Bus queue (Azure or the emulator).",
        subcommands: [ServiceBusSend.self, ServiceBusReceive.self])
}

/// `toolbox servicebus send`: N messages with C concurrent callers; same summary as `eventhubs send`.
struct ServiceBusSend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send messages; prints {sent, failed, seconds, events_per_sec, p50_ms, p99_ms}.")

    @OptionGroup var target: ServiceBusQueueOptions

    @Option(help: "Schedule the messages this many seconds ahead (through $management schedule-message).")
    var delaySeconds: Double?

    @Option(help: "Message id (default: a new UUID per message).")
    var messageId: String?

    @OptionGroup var send: MessagingSendOptions<MessageSends>

    func validate() throws {
        // Checked finite and bounded: `Duration.seconds(_:)` traps on inf, nan and values past ~1.7e20.
        if let delaySeconds, !(delaySeconds.isFinite && delaySeconds >= 0 && delaySeconds <= 1e9) {
            throw ValidationError("--delay-seconds must be in [0, 1000000000] (got \(delaySeconds))")
        }
    }

    func run() throws {
        var options = ServiceBusClientOptions()
        send.network.apply(to: &options)
        try send.run { [send, target, payload = send.content.payload, messageId, delaySeconds] in
            let sender: any ServiceBusSending = send.pooled
                ? try ManagedServiceBusSender(connectionString: target.connectionString, queueName: target.queue, options: options)
                : try ServiceBusSender(connectionString: target.connectionString, queueName: target.queue, options: options)
            return ({ try sender.close() }, { _, done in
                let message = ServiceBusMessage(body: payload, messageID: messageId)
                if let delaySeconds {
                    sender.send([message], delay: .seconds(delaySeconds), queue: ClosedLoopLoad.completionQueue()) {
                        done($0.failure.map { "\($0)" })
                    }
                } else {
                    sender.send(message, queue: ClosedLoopLoad.completionQueue()) { done($0.failure.map { "\($0)" }) }
                }
            })
        }
    }
}

/// `--connection-string` and `--queue`: the queue `servicebus send` and `servicebus receive` work on.
struct ServiceBusQueueOptions: ParsableArguments {
    @Option(help: "Service Bus connection string.")
    var connectionString: String

    @Option(help: "The queue.")
    var queue: String
}

/// `toolbox servicebus receive`: one JSON line per message, then `{"received": N}`.
struct ServiceBusReceive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive messages; prints one line per message {body, message_id, sequence_number, delivery_count}, then {received}.")

    enum Settle: String, ExpressibleByArgument, CaseIterable {
        case complete, abandon, deadLetter = "dead-letter", `defer`
    }

    @OptionGroup var target: ServiceBusQueueOptions

    @Option(help: "Messages to receive at most.")
    var count: Int = 1

    @Option(help: "Seconds to wait for them in total.")
    var timeout: Double = 5

    @Option(help: "How to settle each peek-locked message: complete, abandon, dead-letter or defer.")
    var settle: Settle = .complete

    @Flag(help: "Receive-and-delete mode instead of peek-lock (no settlement).")
    var receiveAndDelete = false

    @Option(help: "Messages the receiver takes ahead of the calls (prefetch_count; 0: none). Peek-locked ones never handed out are released on exit; not allowed with --receive-and-delete.")
    var prefetch: Int = 0

    @OptionGroup var network: MessagingTransportOptions

    @Flag(help: "Print JSON lines on stdout.")
    var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be >= 1") }
        guard (0...10_000).contains(prefetch) else { throw ValidationError("--prefetch must be 0...10000 (got \(prefetch))") }
        // The service deletes a message as it sends it in receive-and-delete mode: what is prefetched beyond --count
        // (the standing credit keeps pulling until the exit) would be deleted and never printed.
        guard prefetch == 0 || !receiveAndDelete else {
            throw ValidationError("--prefetch cannot be combined with --receive-and-delete: messages received ahead and not printed would be deleted and lost")
        }
        guard timeout.isFinite, timeout >= 0, timeout <= 86_400 else {
            throw ValidationError("--timeout must be in [0, 86400] seconds (got \(timeout))")
        }
    }

    func run() throws {
        var options = ServiceBusClientOptions()
        network.apply(to: &options)
        let receiver = try ServiceBusReceiver(connectionString: target.connectionString, queueName: target.queue,
                                              receiveMode: receiveAndDelete ? .receiveAndDelete : .peekLock,
                                              prefetchCount: prefetch, options: options)
        defer { try? receiver.close() }
        let deadline = Date().addingTimeInterval(timeout)
        var received = 0
        // Ctrl-C or SIGTERM stops after the batch being settled, with the summary and a clean close (which gives
        // back what was prefetched); one that comes during a wait for messages closes the receiver to end it.
        // Without this the process died at once, and the messages it held stayed locked until their locks lapsed.
        let interruption = LockedValue((interrupted: false, waiting: false))
        let signalQueue = DispatchQueue(label: "toolbox.servicebus.receive.signals")
        let sources = watchInterruptSignals(on: signalQueue) {
            let (again, waiting) = interruption.withLockedValue { state -> (Bool, Bool) in
                defer { state.interrupted = true }
                return (state.interrupted, state.waiting)
            }
            // A second signal quits at once (a settlement the service does not confirm can take `tryTimeout`).
            if again { Foundation.exit(130) }
            if waiting { receiver.close(queue: signalQueue) {} }
        }
        defer { for source in sources { source.cancel() } }
        // A failure still ends with the summary line (what was received and settled before it), then the error.
        var failure: (any Error)?
        do {
            try receiveAll(receiver, deadline: deadline, received: &received, interruption: interruption)
        } catch {
            failure = error
        }
        // Messages received ahead and never handed out: `close` releases them (peek-lock) on the way out.
        let prefetched = receiver.prefetchedCount
        if json {
            // The key only with --prefetch: the line without it is `{"received": N}`, as scripts expect.
            JSONOutput.printLine(prefetch > 0 ? ["received": received, "prefetched_unhanded": prefetched] : ["received": received])
        } else {
            print("received \(received)" + (prefetched > 0 ? ", \(prefetched) prefetched and not handed out" : ""))
        }
        if let failure { throw failure }
        if interruption.load().interrupted {
            JSONOutput.printError("interrupted: received \(received) of \(count) messages")
            throw ExitCode(130)
        }
        // Like `toolbox amqp receive`: fewer than --count before the time-out is a non-zero exit, with the reason.
        if received < count {
            let cause: String
            if let last = receiver.lastError {
                cause = "; last error: \(last)"
            } else if receiver.connectionsOpened == 0 {
                cause = "; no connection to the namespace was opened in that time"
            } else {
                cause = "; no more arrived (the queue was empty, or its messages were locked by other receivers)"
            }
            JSONOutput.printError("received \(received) of \(count) messages within \(timeout) s\(cause)")
            throw ExitCode(1)
        }
    }

    /// Receives until `count` messages are in or `deadline` passes, settling and printing each batch as it comes
    /// (a batch returns shortly after its first message: `ServiceBusReceiver.receiveBatchWindow`).
    private func receiveAll(_ receiver: ServiceBusReceiver, deadline: Date, received: inout Int,
                            interruption: LockedValue<(interrupted: Bool, waiting: Bool)>) throws {
        while received < count {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { break }
            let proceed = interruption.withLockedValue { state -> Bool in
                guard !state.interrupted else { return false }
                state.waiting = true
                return true
            }
            guard proceed else { break }
            let batch = Result { try receiver.receive(maxMessages: count - received, timeout: .seconds(remaining)) }
            let interrupted = interruption.withLockedValue { state -> Bool in
                state.waiting = false
                return state.interrupted
            }
            if interrupted, case .failure = batch { break }  // the close that ended the wait
            let messages = try batch.get()
            for message in messages {
                if !receiveAndDelete {
                    switch settle {
                    case .complete: try receiver.complete(message)
                    case .abandon: try receiver.abandon(message)
                    case .deadLetter: try receiver.deadLetter(message, reason: "toolbox", description: "dead-lettered by toolbox servicebus receive")
                    case .defer: try receiver.defer(message)
                    }
                }
                received += 1
                let line: [String: Any] = [
                    "body": message.message.bodyAsString ?? message.body.map { String(format: "%02x", $0) }.joined(),
                    "message_id": message.message.messageID ?? NSNull(),
                    "sequence_number": message.sequenceNumber, "delivery_count": Int(message.deliveryCount),
                ]
                JSONOutput.printLine(line)  // JSON either way: a Swift dictionary's description has no stable order
            }
        }
    }
}
