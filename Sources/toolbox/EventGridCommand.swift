import ArgumentParser
import AzureAuth
import AzureEventGrid
import Dispatch
import Foundation
import ToolboxCore

/// `toolbox eventgrid …`: publish to an Event Grid topic.
struct EventGridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventgrid", abstract: "Publish events to an Event Grid topic",
        subcommands: [EventGridPublishCommand.self])
}

/// `toolbox eventgrid publish --endpoint URL (--key KEY | --sas-token T | --credential default) [--ca-file PEM]
/// [--schema eventgrid|cloudevent] --event-type T --subject S --data JSON [--count N] [--batch-size B]
/// [--concurrency K] [--coalesce [--max-requests-in-flight N]]`
struct EventGridPublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish COUNT events (BATCH-SIZE per request, CONCURRENCY requests at once) to one topic",
        discussion: #"""
            Output: {"published": N, "failed": N, "seconds": S, "events_per_sec": R, "coalesced": B}.
            On failure: exit 1 and {"error": {"status": HTTP status or 0, "code": "...", "message": "..."},
            "published": N, "failed": N} on stdout, the reason on stderr. --credential default uses
            DefaultAzureCredential (AZURE_* variables; --ca-file is trusted for the token endpoint too).
            """#)

    enum Schema: String, ExpressibleByArgument, CaseIterable {
        case eventgrid, cloudevent
    }

    @Option(help: "The topic's publish URL, e.g. https://<topic>.<region>-1.eventgrid.azure.net/api/events")
    var endpoint: String

    @Option(help: "The topic's access key (aeg-sas-key)")
    var key: String?

    @Option(name: .customLong("sas-token"), help: "A SAS token r=...&e=...&s=... (aeg-sas-token)")
    var sasToken: String?

    @OptionGroup var entra: DefaultCredentialOption

    @OptionGroup var tls: CAFileOption

    @Option(help: "eventgrid (EventGridEvent) or cloudevent (CloudEvents 1.0)")
    var schema: Schema = .eventgrid

    @Option(name: .customLong("event-type"), help: "eventType (EventGridEvent) or type (CloudEvent)")
    var eventType: String

    @Option(help: "The events' subject")
    var subject: String

    @Option(help: "The events' data, as JSON")
    var data: String

    @Option(name: .customLong("data-version"), help: "dataVersion of EventGridEvents")
    var dataVersion = "v1"

    @Option(help: "source of CloudEvents")
    var source = "/azure-clients-toolbox/cli"

    @Option(help: "Events to publish in all")
    var count = 1

    @Option(name: .customLong("batch-size"), help: "Events per request")
    var batchSize = 1

    @Option(help: "Requests in flight at once")
    var concurrency = 1

    @Flag(help: "Merge concurrent publishes into shared requests (EventGridClientOptions.coalescing)")
    var coalesce = false

    @Option(name: .customLong("max-requests-in-flight"),
            help: "With --coalesce: requests in flight before publishes wait to be merged (default 4)")
    var maxRequestsInFlight: Int?

    @Option(help: "Seconds each request may take, retries included")
    var timeout: Double = 60

    @Flag(help: "Accepted for symmetry with the other commands: the output is always JSON")
    var json = false

    /// The topic's name for messages: the first label of an Azure topic host (`orders` of
    /// `orders.westus2-1.eventgrid.azure.net`), or the path segment before `api` on a numeric or local host
    /// (the emulator's `/eventgrid/orders/api/events`).
    var topicName: String {
        guard let url = URL(string: endpoint), let host = url.host, !host.isEmpty else { return "topic" }
        let local = host == "localhost" || host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" }
        if !local, let label = host.split(separator: ".").first { return String(label) }
        let segments = url.path.split(separator: "/")
        if let api = segments.lastIndex(of: "api"), api > segments.startIndex {
            return String(segments[segments.index(before: api)])
        }
        return host
    }

    func validate() throws {
        guard [key, sasToken, entra.credential].compactMap({ $0 }).count == 1 else {
            throw ValidationError("pass exactly one of --key KEY, --sas-token T and --credential default")
        }
        guard count >= 1, count <= 100_000_000 else { throw ValidationError("--count must be 1 or more") }
        guard batchSize >= 1, batchSize <= 10_000 else { throw ValidationError("--batch-size must be 1 to 10000") }
        guard concurrency >= 1, concurrency <= 1024 else { throw ValidationError("--concurrency must be 1 to 1024") }
        _ = try Duration(cliSeconds: timeout, flag: "--timeout")
        if let maxRequestsInFlight {
            guard coalesce else { throw ValidationError("--max-requests-in-flight needs --coalesce") }
            guard (1...1024).contains(maxRequestsInFlight) else {
                throw ValidationError("--max-requests-in-flight must be 1 to 1024")
            }
        }
    }

    func run() throws {
        let eventData: EventGridData
        do {
            eventData = try EventGridData(json: Array(data.utf8))
        } catch {
            fail(status: 0, code: ToolboxError.Code.invalidArgument.rawValue,
                 message: "--data is not valid JSON", published: 0, failed: count)
        }
        let client: ManagedEventGridClient
        do {
            var options = EventGridClientOptions()
            options.caFile = try tls.readable()
            options.pool.maxConnectionsPerTopic = concurrency
            options.pool.minReadyPerTopic = 0
            options.coalescing.isEnabled = coalesce
            if let maxRequestsInFlight { options.coalescing.maxRequestsInFlight = maxRequestsInFlight }
            let topic = EventGridTopicConfig(name: topicName, url: endpoint)
            client = try ManagedEventGridClient(config: EventGridConfig(topic), credential: makeCredential(),
                                                options: options)
        } catch {
            let error = error as? ToolboxError ?? ToolboxError(.invalidArgument, "\(error)")
            fail(error, published: 0, failed: count)
        }
        let outcome = publishAll(client: client, data: eventData)
        try? client.close()
        if let error = outcome.firstError {
            fail(error, published: outcome.published, failed: outcome.failed)
        }
        JSONOutput.printLine([
            "published": outcome.published, "failed": outcome.failed,
            "seconds": JSONOutput.rounded(outcome.seconds, 3),
            "events_per_sec": JSONOutput.rounded(outcome.seconds > 0 ? Double(outcome.published) / outcome.seconds : 0, 1),
            "coalesced": coalesce,
        ])
    }

    private func makeCredential() throws -> EventGridCredential {
        if let key { return .key(Secret(key)) }
        if let sasToken { return .sharedAccessSignature(Secret(sasToken)) }
        return .token(try DefaultCredentialOption.make(caFile: tls.caFile))
    }

    private struct Outcome {
        var published = 0
        var failed = 0
        var firstError: ToolboxError?
        var seconds = 0.0
    }

    private func publishAll(client: ManagedEventGridClient, data: EventGridData) -> Outcome {
        let state = LockedValue(Outcome())
        let slots = DispatchSemaphore(value: concurrency)
        let group = DispatchGroup()
        let started = MonotonicInstant.now()
        // Once: deriving it parses the endpoint URL (it was ~4 % of the CPU of a 64-caller publish run).
        let topic = topicName
        var remaining = count
        while remaining > 0 {
            let size = min(batchSize, remaining)
            remaining -= size
            slots.wait()
            group.enter()
            let done: @Sendable (Result<Void, ToolboxError>) -> Void = { result in
                state.withLockedValue { outcome in
                    switch result {
                    case .success: outcome.published += size
                    case .failure(let error):
                        outcome.failed += size
                        outcome.firstError = outcome.firstError ?? error
                    }
                }
                slots.signal()
                group.leave()
            }
            let timeout = (try? Duration(cliSeconds: self.timeout, flag: "--timeout")) ?? .seconds(60)  // checked in validate()
            switch schema {
            case .eventgrid:
                let events = (0..<size).map { _ in
                    EventGridEvent(subject: subject, eventType: eventType, data: data, dataVersion: dataVersion)
                }
                client.send(events, toTopic: topic, timeout: timeout, completion: done)
            case .cloudevent:
                let events = (0..<size).map { _ in
                    CloudEvent(source: source, type: eventType, data: .json(data), subject: subject)
                }
                client.send(events, toTopic: topic, timeout: timeout, completion: done)
            }
        }
        group.wait()
        var outcome = state.load()
        outcome.seconds = MonotonicInstant.now().seconds(since: started)
        return outcome
    }

    /// Prints the error line (stdout) and the reason (stderr), then exits 1.
    private func fail(_ error: ToolboxError, published: Int, failed: Int) -> Never {
        let condition = error.serviceCondition
        fail(status: condition?.httpStatus ?? 0, code: condition?.errorCode ?? error.code.rawValue,
             message: condition?.serviceMessage ?? error.message, published: published, failed: failed,
             reason: "\(error)")
    }

    private func fail(status: Int, code: String, message: String, published: Int, failed: Int,
                      reason: String? = nil) -> Never {
        JSONOutput.printLine(["error": ["status": status, "code": code, "message": message],
                              "published": published, "failed": failed])
        JSONOutput.printError(reason ?? message)
        EventGridPublishCommand.exit(withError: ExitCode(1))
    }
}
