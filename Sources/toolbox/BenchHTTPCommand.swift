import ArgumentParser
import Dispatch
import Foundation
import ToolboxCore
import ToolboxTransport

/// `toolbox bench http --url URL [--ca-file PEM] [--requests N] [--concurrency C] --json`
///
/// Sends N GET requests with C in flight through one `HTTPClient` (keep-alive, at most C connections; with
/// `--inline-completions` each completion, and so the next request, runs on the connection's queue) and prints
/// `{"requests", "errors", "requests_per_sec", "p50_us", "p99_us", "connections_opened", "started_after_poller_round"}`.
/// The first request runs alone so that a TLS peer that cannot be verified stops the run at once: the typed error
/// goes to stderr and the exit status is 1.
struct BenchHTTPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http", abstract: "Keep-alive HTTP/1.1 load test of ToolboxTransport's HTTPClient")

    @Option(help: "The URL to GET (http:// or https://)")
    var url: String

    @OptionGroup var tls: CAFileOption

    @Option(help: "Total number of requests")
    var requests: Int = 1000

    @Option(help: "Requests in flight at once (also the most connections opened)")
    var concurrency: Int = 32

    @Option(help: "Deadline of each request, in seconds")
    var timeout: Double = 30

    @Flag(name: .customLong("inline-completions"),
          help: "Run each completion on the connection's queue (HTTPClientConfiguration.inlineCompletions)")
    var inlineCompletions = false

    @Option(name: .customLong("event-loops"),
            help: "Serial queues the connections share (HTTPClientConfiguration.eventLoopCount; default: processors)")
    var eventLoops: Int?

    @Flag(help: "Print the summary as one JSON object")
    var json = false

    func validate() throws {
        if requests < 1 { throw ValidationError("--requests must be at least 1") }
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let eventLoops, eventLoops < 0 { throw ValidationError("--event-loops must not be negative") }
        _ = try Duration(cliSeconds: timeout, flag: "--timeout")
    }

    func run() throws {
        let timeout = try Duration(cliSeconds: self.timeout, flag: "--timeout")  // checked in validate()
        var configuration = HTTPClientConfiguration()
        if let caFile = tls.caFile { configuration.tls.trustRoots = .file(caFile) }
        configuration.maxConnectionsPerEndpoint = concurrency
        configuration.inlineCompletions = inlineCompletions
        if let eventLoops { configuration.eventLoopCount = eventLoops }
        let client: HTTPClient
        let request: HTTPRequest
        do {
            client = try HTTPClient(configuration: configuration)
            request = try HTTPRequest(url: url)
        } catch {
            JSONOutput.printError("\(error)")
            throw ExitCode(1)
        }
        defer { try? client.shutdown() }

        let first = MonotonicInstant.now()
        let firstStatus: Int
        do {
            firstStatus = try client.execute(request, timeout: timeout).status
        } catch {
            JSONOutput.printError("\(error)")
            throw ExitCode(1)
        }
        let firstMicros = MonotonicInstant.now().seconds(since: first) * 1e6

        let state = LockedValue(LoadState(remaining: requests - 1))
        state.withLockedValue { state in
            if firstStatus < 400 {
                state.latencies.append(firstMicros)
            } else {
                state.errors += 1
                state.firstError = "HTTP status \(firstStatus)"
            }
        }
        let done = DispatchSemaphore(value: 0)
        let started = MonotonicInstant.now()
        @Sendable func launch() {
            let go: Bool = state.withLockedValue { state in
                guard state.remaining > 0 else { return false }
                state.remaining -= 1
                state.inFlight += 1
                return true
            }
            guard go else { return }
            let sent = MonotonicInstant.now()
            client.execute(request, deadline: .after(timeout)) { result in
                let micros = MonotonicInstant.now().seconds(since: sent) * 1e6
                let finished: Bool = state.withLockedValue { state in
                    state.inFlight -= 1
                    switch result {
                    case .success(let response) where response.status < 400:
                        state.latencies.append(micros)
                    case .success(let response):
                        state.errors += 1
                        if state.firstError == nil { state.firstError = "HTTP status \(response.status)" }
                    case .failure(let error):
                        state.errors += 1
                        if state.firstError == nil { state.firstError = "\(error)" }
                    }
                    return state.remaining == 0 && state.inFlight == 0
                }
                if finished { done.signal() } else { launch() }
            }
        }

        if requests > 1 {
            for _ in 0..<min(concurrency, requests - 1) { launch() }
            done.wait()
        }
        let elapsed = max(MonotonicInstant.now().seconds(since: started), 1e-9)
        let final = state.load()
        let sorted = final.latencies.sorted()
        func percentile(_ p: Double) -> Int {
            guard !sorted.isEmpty else { return 0 }
            let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
            return Int(sorted[max(0, index)].rounded())
        }
        let measured = requests - 1
        let summary: [String: Any] = [
            "requests": requests,
            "errors": final.errors,
            "requests_per_sec": measured > 0 ? (Double(measured) / elapsed * 10).rounded() / 10 : 0,
            "p50_us": percentile(0.50),
            "p99_us": percentile(0.99),
            "connections_opened": client.connectionsOpened,
            // Requests whose caller found the loop's poller thread busy and handed the start to it.
            "started_after_poller_round": client.requestsStartedAfterPollerRound,
        ]
        if let firstError = final.firstError {
            JSONOutput.printHuman("warning: \(final.errors) requests failed; first: \(firstError)")
        }
        if json {
            JSONOutput.printLine(summary)
        } else {
            print("""
                \(requests) requests, \(final.errors) errors, \(summary["requests_per_sec"] ?? 0) req/s, \
                p50 \(percentile(0.5)) µs, p99 \(percentile(0.99)) µs, \(client.connectionsOpened) connections
                """)
        }
    }
}

private struct LoadState {
    var remaining: Int
    var inFlight = 0
    var errors = 0
    var latencies: [Double] = []
    var firstError: String?
}
