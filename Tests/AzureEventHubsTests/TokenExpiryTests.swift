import AzureAuth
import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import ToolboxCore
import Logging
import ToolboxAMQP
import XCTest

@testable import AzureMessagingCore

@testable import AzureEventHubs

/// The emulator expires tokens on live links as Azure does (detach with `amqp:unauthorized-access` once the token
/// covering a link lapses unrenewed), so CBS refresh is tested for real: long-lived links with short-lived tokens
/// keep working while the refresh keeps up, and fail with `.unauthorized` once it stops.
final class TokenExpiryTests: XCTestCase {
    private func endpoint(_ emulator: Emulator, _ credential: EmulatorTokenCredential) -> MessagingEndpoint {
        MessagingEndpoint(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, credential: credential,
                          scope: AzureScope.eventHubs, allowPlainTextForDevelopment: true)
    }

    /// A producer and a partition-0 receiver with tokens from `credential`, closed when the test ends.
    private func clients(_ emulator: Emulator, _ credential: EmulatorTokenCredential,
                         receiverCredential: EmulatorTokenCredential? = nil) -> (EventHubProducer, PartitionReceiver)
    {
        let producer = EventHubProducer(endpoint: endpoint(emulator, credential), eventHubName: "eh1",
                                        options: fastRetryOptions { $0.retry.maxRetries = 0 })
        let receiver = PartitionReceiver(endpoint: endpoint(emulator, receiverCredential ?? credential), eventHubName: "eh1", partitionID: "0",
                                         startingPosition: .earliest)
        addTeardownBlock {
            try? producer.close()
            try? receiver.close()
        }
        return (producer, receiver)
    }

    func testSenderAndReceiverOutliveShortTokensWhileTheRefreshKeepsUp() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let credential = EmulatorTokenCredential(emulator: emulator, lifetime: 2)
        let (producer, receiver) = clients(emulator, credential)
        // Sends and receives spread over more than three token lifetimes, on the same two connections.
        var received: [String] = []
        let started = Date()
        var sent = 0
        while Date().timeIntervalSince(started) < 6.5 {
            try producer.send(EventData(body: "event \(sent)"), options: SendEventOptions(partitionID: "0"))
            sent += 1
            received += try receiver.receive(maxEvents: 1, timeout: .seconds(5)).map { $0.event.bodyAsString ?? "" }
            Thread.sleep(forTimeInterval: 0.25)  // pacing across token lifetimes, not synchronisation
        }
        XCTAssertEqual(received, (0..<sent).map { "event \($0)" }, "every event once, in order, none lost")
        XCTAssertEqual(producer.health.connectionsOpened, 1, "the producer's links lived on with refreshed tokens")
        XCTAssertGreaterThanOrEqual(credential.tokensIssued, 6, "tokens were renewed on both live connections")
    }

    /// The `$cbs` pair is attached for each put-token and detached after it (as the Go SDK does): an authorized
    /// idle connection holds no CBS links, and its refreshes still renew the token on fresh pairs.
    func testAnAuthorizedConnectionHoldsNoCBSLinksAndRefreshesOnFreshPairs() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let credential = EmulatorTokenCredential(emulator: emulator, lifetime: 2)
        let endpoint = endpoint(emulator, credential)
        let opened = expectation(description: "opened and authorized")
        let result = LockedValue<Result<MessagingConnection, AzureMessagingError>?>(nil)
        MessagingConnection.openAuthorized(
            endpoint: endpoint, containerIDPrefix: "cbs-test", product: "cbs-test", deadline: .after(seconds: 20),
            logger: Logger(label: "cbs-test"), wrap: { $0 }, audience: { _ in endpoint.audience("eh1") }
        ) { outcome in
            result.withLockedValue { $0 = outcome }
            opened.fulfill()
        }
        wait(for: [opened], timeout: 30)
        let connection = try XCTUnwrap(result.load()).get()
        defer { connection.close {} }
        XCTAssertNil(connection.cbs.link, "detached once the token was accepted")
        // Two refreshes (each after 1 s of a 2 s token: the margin is min(30 s, half the lifetime)), each on a pair
        // attached for it.
        let deadline = Deadline.after(seconds: 20)
        while credential.tokensIssued < 3, !deadline.hasPassed { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertGreaterThanOrEqual(credential.tokensIssued, 3)
        let detached = Deadline.after(seconds: 10)
        while connection.cbs.link != nil, !detached.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertNil(connection.cbs.link)
        XCTAssertFalse(connection.isClosed)
        // The connection is still authorized: a sender attaches and its event lands.
        let sender = try connection.session.attachSender(address: "eh1")
        XCTAssertEqual(try sender.send(AMQPMessage(value: .string("after refreshes"))), .accepted)
    }

    /// An open finishes on the messaging event loop its connection's queue targets, not on a work queue of its own
    /// (a burst of opens then started a thread per open), and the authorized connection is handed over on the
    /// connection's own queue.
    func testOpensFinishOnTheEventLoopAndAuthorizedConnectionsOnTheirQueue() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let endpoint = endpoint(emulator, EmulatorTokenCredential(emulator: emulator, lifetime: 60))
        let labels = LockedValue<[String]>([])
        let done = DispatchGroup()
        for _ in 0..<4 {
            done.enter()
            MessagingConnection.open(endpoint: endpoint, containerIDPrefix: "loop-test", product: "loop-test",
                                     deadline: .after(seconds: 20), logger: Logger(label: "loop-test")) { result in
                labels.withLockedValue { $0.append(LibraryQueues.currentLibraryQueueLabel ?? "no library queue") }
                if case .success(let connection) = result { connection.close {} } else { XCTFail("\(result)") }
                done.leave()
            }
        }
        done.enter()
        MessagingConnection.openAuthorized(
            endpoint: endpoint, containerIDPrefix: "loop-test", product: "loop-test", deadline: .after(seconds: 20),
            logger: Logger(label: "loop-test"), wrap: { $0 }, audience: { _ in endpoint.audience("eh1") }
        ) { result in
            labels.withLockedValue { $0.append(LibraryQueues.currentLibraryQueueLabel ?? "no library queue") }
            if case .success(let connection) = result { connection.close {} } else { XCTFail("\(result)") }
            done.leave()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        let seen = labels.load()
        XCTAssertEqual(seen.count, 5)
        XCTAssertEqual(seen.filter { $0.hasPrefix("AzureMessagingCore.loop") }.count, 4, "\(seen)")
        XCTAssertEqual(seen.filter { $0.hasPrefix("ToolboxTransport.connection.") }.count, 1, "\(seen)")
    }

    func testLinksWhoseTokenLapsesUnrenewedFailWithUnauthorized() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        // Each client gets one token, then its refreshes fail. (One credential of two tokens for both gave the
        // producer's refresh the receiver's token whenever the refresh came before the receiver's first request.)
        let (producer, receiver) = clients(emulator, EmulatorTokenCredential(emulator: emulator, lifetime: 2, limit: 1),
                                           receiverCredential: EmulatorTokenCredential(emulator: emulator, lifetime: 2, limit: 1))
        try producer.send(EventData(body: "while the token lives"), options: SendEventOptions(partitionID: "0"))
        XCTAssertEqual(try receiver.receive(maxEvents: 1, timeout: .seconds(5)).count, 1)

        // A receive waiting across the expiry fails with the typed error (not an empty result).
        XCTAssertThrowsError(try receiver.receive(maxEvents: 1, timeout: .seconds(10))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .unauthorized, "\(error)")
        }
        // The producer's link was detached too: its next send fails with the typed error, within its try.
        XCTAssertThrowsError(try producer.send(EventData(body: "after"), options: SendEventOptions(partitionID: "0"))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .unauthorized, "\(error)")
        }
        let stored = try readAll(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"), partitions: 1,
                                 expected: 2, timeout: 1.5)
        XCTAssertEqual(stored.map { $0.event.bodyAsString }, ["while the token lives"], "nothing accepted after the lapse")
    }
}
