import AzureAuth
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEmulator

/// Many connections at once on shared entities: every message delivered exactly once, nothing left behind.
final class ConcurrencyTests: XCTestCase {
    func testConcurrentSendersAndCompetingReceiversShareOneQueue() throws {
        let emulator = try startEmulator { $0.queues = ["shared"] }
        let senders = 6
        let perSender = 40
        let total = senders * perSender
        let received = LockedValue<[String]>([])
        let done = expectation(description: "all received")
        done.expectedFulfillmentCount = total
        var receivers: [(TestClient, AMQPReceiver)] = []
        for _ in 0..<2 {
            let client = try TestClient(emulator)
            try client.authorize("shared")
            let options = AMQPReceiverOptions(credit: .auto(prefetch: 7), settleMode: .unsettled, receiverSettleMode: .second)
            let receiver = try client.session.attachReceiver(address: client.address("shared"), options: options) { delivery in
                received.withLockedValue { $0.append(String(decoding: delivery.message.dataBody ?? [], as: UTF8.self)) }
                delivery.accept { _ in done.fulfill() }
            }
            receivers.append((client, receiver))
        }
        let failures = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: senders) { index in
            do {
                let client = try TestClient(emulator)
                defer { client.close() }
                try client.authorize("shared")
                let sender = try client.session.attachSender(address: client.address("shared"))
                for message in 0..<perSender {
                    if try sender.send(AMQPMessage(data: Array("\(index)-\(message)".utf8))) != .accepted {
                        failures.withLockedValue { $0 += 1 }
                    }
                }
            } catch {
                failures.withLockedValue { $0 += 1 }
            }
        }
        XCTAssertEqual(failures.load(), 0)
        wait(for: [done], timeout: 60)
        XCTAssertEqual(received.load().count, total)
        XCTAssertEqual(Set(received.load()).count, total, "each message delivered once")
        for (client, receiver) in receivers {
            try receiver.close()
            client.close()
        }
        XCTAssertEqual(try emulatorQueue(emulator, "shared").count, 0)
    }

    func testConcurrentProducersKeepPartitionSequencesDense() throws {
        let emulator = try startEmulator { $0.eventHubs = [EventHubDefinition(name: "busy", partitionCount: 2)] }
        let failures = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: 4) { index in
            do {
                let client = try TestClient(emulator)
                defer { client.close() }
                try client.authorize("busy")
                let sender = try client.session.attachSender(address: client.address("busy"))
                for batch in 0..<10 {
                    let outcome = try sender.send(eventBatch(["\(index)-\(batch)-a", "\(index)-\(batch)-b"]), messageFormat: batchFormat)
                    if outcome != .accepted { failures.withLockedValue { $0 += 1 } }
                }
            } catch {
                failures.withLockedValue { $0 += 1 }
            }
        }
        XCTAssertEqual(failures.load(), 0)
        let hub = try emulator.broker.eventHub("busy", create: false).get()
        var count = 0
        for partition in 0..<2 {
            var sequence: Int64 = 0
            while let event = hub.event(partition: partition, atOrAfter: sequence) {
                XCTAssertEqual(event.sequenceNumber, sequence)
                sequence += 1
                count += 1
            }
        }
        XCTAssertEqual(count, 80)
    }
}
