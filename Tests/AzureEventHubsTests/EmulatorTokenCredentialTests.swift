import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import ToolboxCore
import XCTest

@testable import AzureEventHubs

/// Credential-based clients (CBS `jwt`, as with Entra ID on Azure) end to end against the emulator's token issuer.
final class EmulatorTokenCredentialTests: XCTestCase {
    func testManagedProducerAuthenticatesWithJWTsAndEveryEventLands() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 2)
        let credential = EmulatorTokenCredential(emulator: emulator)
        let producer = try ManagedEventHubProducer(
            fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, eventHubName: "eh1", credential: credential,
            options: fastRetryOptions { $0.allowPlainTextForDevelopment = true })
        defer { try? producer.close() }
        for i in 0..<5 { try producer.send(EventData(body: "jwt \(i)")) }
        var stored = 0
        for id in try producer.partitionIDs() {
            let properties = try producer.partitionProperties(partitionID: id)
            if !properties.isEmpty {
                stored += Int(properties.lastEnqueuedSequenceNumber - properties.beginningSequenceNumber + 1)
            }
        }
        XCTAssertEqual(stored, 5)
        XCTAssertGreaterThanOrEqual(credential.tokensIssued, 1)
    }

    func testJWTsAreRefreshedOnTheLiveConnection() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 2)
        let credential = EmulatorTokenCredential(emulator: emulator, lifetime: 2)
        let producer = EventHubProducer(
            fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, eventHubName: "eh1", credential: credential,
            options: fastRetryOptions { $0.allowPlainTextForDevelopment = true; $0.retry.maxRetries = 0 })
        defer { try? producer.close() }
        try producer.send(EventData(body: "before"), options: SendEventOptions(partitionID: "0"))
        Thread.sleep(forTimeInterval: 3)
        try producer.send(EventData(body: "after"), options: SendEventOptions(partitionID: "1"))
        XCTAssertEqual(producer.health.connectionsOpened, 1, "the same connection, with a refreshed token")
        XCTAssertGreaterThanOrEqual(credential.tokensIssued, 2)
    }

    func testATokenFromAnotherIssuerIsRefusedAsUnauthorized() throws {
        let emulator = try startEventHubsEmulator(self)
        var otherConfiguration = EmulatorConfiguration()
        otherConfiguration.key = Secret("a-different-namespace-key")
        let other = try Emulator.start(otherConfiguration)
        defer { other.stop() }
        let producer = EventHubProducer(
            fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, eventHubName: "eh1",
            credential: EmulatorTokenCredential(emulator: other),
            options: fastRetryOptions { $0.allowPlainTextForDevelopment = true })
        defer { try? producer.close() }
        XCTAssertThrowsError(try producer.send(EventData(body: "x"))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .unauthorized, "\(error)")
        }
    }
}
