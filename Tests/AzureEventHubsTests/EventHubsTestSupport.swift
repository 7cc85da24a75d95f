import AzureEmulator
import AzureEventHubs
import Foundation
import XCTest

/// Starts an in-process emulator on a free loopback port, stopped when the test ends.
func startEventHubsEmulator(_ test: XCTestCase, hub: String = "eh1", partitions: Int = 4,
                            _ change: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> Emulator {
    var configuration = EmulatorConfiguration()
    configuration.eventHubs = [EventHubDefinition(name: hub, partitionCount: partitions)]
    change(&configuration)
    let emulator = try Emulator.start(configuration)
    test.addTeardownBlock { emulator.stop() }
    return emulator
}

/// Options that retry fast, so fault tests do not wait for production back-off.
func fastRetryOptions(_ change: (inout EventHubProducerOptions) -> Void = { _ in }) -> EventHubProducerOptions {
    EventHubProducerOptions.with {
        $0.retry = RetryOptions(maxRetries: 5, delay: .seconds(0.02), maxDelay: .seconds(0.5), tryTimeout: .seconds(10))
        change(&$0)
    }
}

/// Reads every partition of `hub` from the start until at least `expected` events arrived and a further pass over
/// every partition brought nothing new, or `timeout` passed. (Stopping as soon as the count reached `expected` left
/// a partition's tail unread when duplicates — at-least-once retries — made up the count.)
func readAll(connectionString: String, hub: String = "eh1", partitions: Int, expected: Int,
             timeout: Double = 30) throws -> [ReceivedEventData] {
    let receivers = try (0..<partitions).map {
        try PartitionReceiver(connectionString: connectionString, eventHubName: hub, partitionID: String($0),
                              startingPosition: .earliest)
    }
    defer { for receiver in receivers { try? receiver.close() } }
    var events: [ReceivedEventData] = []
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        var progressed = false
        for receiver in receivers {
            let batch = try receiver.receive(maxEvents: 5000, timeout: .seconds(0.2))
            if !batch.isEmpty { progressed = true }
            events += batch
        }
        if !progressed && events.count >= expected { break }
    }
    return events
}
