import AzureAuth
import AzureClientsToolboxTesting
import AzureEmulator
import AzureEventGrid
import Foundation
import Logging
import ToolboxCore
import ToolboxTransportServer
import XCTest

extension XCTestCase {
    /// An emulator with topics `orders` and `audit`, plain and HTTPS listeners; stopped when the test ends.
    func startEventGridEmulator(_ configure: @escaping (inout EmulatorConfiguration) -> Void = { _ in }) throws -> TestEmulator {
        let emulator = try TestEmulator.start(eventHubs: [:], queues: []) { configuration in
            configuration.eventGridTopics = ["orders", "audit"]
            configuration.httpsPort = 0
            configuration.logger.logLevel = .warning
            configure(&configuration)
        }
        addTeardownBlock { emulator.stop() }
        return emulator
    }

    /// Options trusting the emulator's CA, with fast retries.
    func eventGridOptions(_ emulator: TestEmulator) -> EventGridClientOptions {
        var options = EventGridClientOptions()
        options.caFile = emulator.emulator.caFile
        options.retry.baseDelay = .milliseconds(5)
        options.retry.maxDelay = .milliseconds(20)
        return options
    }

    /// Both topics at their HTTPS URLs.
    func eventGridConfig(_ emulator: TestEmulator) throws -> EventGridConfig {
        EventGridConfig([
            EventGridTopicConfig(name: "orders", url: try XCTUnwrap(emulator.eventGridEndpoint("orders"))),
            EventGridTopicConfig(name: "audit", url: try XCTUnwrap(emulator.eventGridEndpoint("audit"))),
        ])
    }

    /// A client of the one topic "t" at `url` (served by `server`), both closed when the test ends.
    func singleTopicClient(url: String, server: HTTPServer, options: EventGridClientOptions) throws -> EventGridClient {
        let client = try EventGridClient(config: EventGridConfig(EventGridTopicConfig(name: "t", url: url)),
                                         credential: .key(Secret("a2V5")), options: options)
        addTeardownBlock {
            try? client.close()
            server.close()
        }
        return client
    }

    /// Polls `condition` until it holds (10 s at most): waiting for an event, not a fixed sleep.
    func waitUntil(_ what: String, _ condition: () -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            if Date() > deadline { return XCTFail("timed out waiting until \(what)", file: file, line: line) }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }
}

/// Collects one completion result.
final class ResultBox<Value: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `results` is guarded by `condition`.
    private var results: [Result<Value, ToolboxError>] = []
    private let condition = NSCondition()

    var handler: @Sendable (Result<Value, ToolboxError>) -> Void {
        { result in
            self.condition.lock()
            self.results.append(result)
            self.condition.broadcast()
            self.condition.unlock()
        }
    }

    /// The first result (waiting up to 10 s), and how many arrived in all.
    func wait() -> (Result<Value, ToolboxError>?, Int) {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(10)
        while results.isEmpty, condition.wait(until: deadline) {}
        return (results.first, results.count)
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return results.count
    }
}
