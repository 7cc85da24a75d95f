import AzureClientsToolbox  // the only library import: this file checks what the umbrella re-exports
import XCTest

final class UmbrellaImportTests: XCTestCase {
    func testOneImportReachesTheClientsAndWhatTheyNeed() throws {
        let error = ToolboxError(.notFound, "no hub", serviceCondition: ServiceCondition(amqpCondition: "amqp:not-found"))
        XCTAssertEqual(error.condition, "amqp:not-found")
        let producerRole: any EventHubProducing.Type = EventHubProducer.self
        let senderRole: any ServiceBusSending.Type = ManagedServiceBusSender.self
        XCTAssertNotNil(producerRole)
        XCTAssertNotNil(senderRole)
        let parsed = try MessagingConnectionString(
            parsing: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;EntityPath=q")
        XCTAssertEqual(parsed.entityPath, "q")
        XCTAssertEqual(SystemClock().now() <= SystemClock().now(), true)
    }
}
