import AzureEmulator
import Foundation
import MessagingFaultSupport
import XCTest

@testable import AzureEventHubs

/// The basic (single-connection) clients open their connection within the try's deadline, as the managed ones
/// bound it by the pool's: before, a connect that hung (a handshake the peer never answers) was kept for 60 s
/// whatever the try time-out, and every retry waited on that same stuck open.
final class BasicClientOpenDeadlineTests: XCTestCase {
    func testAHungOpenIsGivenUpWithTheTryAndTheClientRecovers() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let proxy = try FaultProxy(upstreamPort: emulator.amqpPort)
        addTeardownBlock { proxy.stop() }
        proxy.mode = .silent  // connections are accepted, the AMQP handshake never gets an answer
        let producer = EventHubProducer(
            endpoint: try FaultScenario.endpoint(port: proxy.port), eventHubName: "eh1",
            options: EventHubProducerOptions.with {
                $0.retry = RetryOptions(maxRetries: 1, delay: .milliseconds(20), maxDelay: .milliseconds(200), tryTimeout: .seconds(1))
                $0.readiness = .attach
            })
        defer { try? producer.close() }
        XCTAssertThrowsError(try producer.send(EventData(body: "into silence"))) { error in
            XCTAssertEqual((error as? AzureMessagingError)?.code, .timedOut, "\(error)")
        }
        XCTAssertGreaterThanOrEqual(proxy.acceptedCount, 1)
        // The opens the tries started are abandoned with them: no connection is left hanging at the proxy.
        XCTAssertTrue(FaultScenario.eventually(15) { proxy.openCount == 0 },
                      "a hung open outlived the tries that waited for it (\(proxy.openCount) still open)")
        proxy.mode = .forward
        try producer.send(EventData(body: "after"))
    }
}
