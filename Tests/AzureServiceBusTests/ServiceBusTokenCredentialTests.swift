import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import XCTest

@testable import AzureServiceBus

/// Service Bus with a `TokenCredential` (CBS `jwt`) end to end against the emulator's token issuer.
final class ServiceBusTokenCredentialTests: XCTestCase {
    func testSenderAndReceiverAuthenticateWithJWTs() throws {
        let emulator = try startServiceBusEmulator(self)
        let credential = EmulatorTokenCredential(emulator: emulator)
        let options = fastOptions { $0.allowPlainTextForDevelopment = true }
        let sender = try ManagedServiceBusSender(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace,
                                                 queueName: "q1", credential: credential, options: options)
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "with a jwt", messageID: "jwt-1"))
        let receiver = ServiceBusReceiver(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, queueName: "q1",
                                          credential: credential, options: options)
        defer { try? receiver.close() }
        let messages = try receiver.receive(maxMessages: 1, timeout: .seconds(10))
        XCTAssertEqual(messages.map(\.message.messageID), ["jwt-1"])
        if let message = messages.first { try receiver.complete(message) }
        XCTAssertGreaterThanOrEqual(credential.tokensIssued, 2, "sender and receiver each asked for a token")
    }
}
