import AzureAuth
import AzureClientsToolboxAsync
import AzureClientsToolboxTesting
import AzureEmulator
import AzureEventGrid
import Foundation
import ToolboxCore
import XCTest

/// Events published by our clients arrive at the emulator with their schema and every field intact, whichever
/// credential, client and calling style publishes them.
final class EventGridClientTests: XCTestCase {
    private struct Order: Codable, Equatable {
        let orderId: Int
        let note: String
    }

    func testEmitEventAndBatchesOfBothSchemasArriveIntact() throws {
        let emulator = try startEventGridEmulator()
        let client = try EventGridClient(config: eventGridConfig(emulator), credential: .key(Secret(emulator.eventGridKey)),
                                         options: eventGridOptions(emulator))
        defer { try? client.close() }
        XCTAssertEqual(client.config.topics, ["orders", "audit"])

        try client.emitEvent(topic: "orders", eventType: "Contoso.Orders.Created", subject: "orders/42",
                             data: EventGridData(["orderId": 42, "note": "ünï \"quoted\"\n"]))
        let time = Date(timeIntervalSince1970: 1_764_700_000.25)
        let batch = try (1...3).map { index in
            EventGridEvent(subject: "orders/\(index)", eventType: "Contoso.Orders.Shipped",
                           data: try EventGridData(encoding: Order(orderId: index, note: "n\(index)")),
                           dataVersion: "2.0", id: "id-\(index)", eventTime: time)
        }
        try client.send(batch, toTopic: "orders")
        let cloud = [
            CloudEvent(source: "/contoso/orders", type: "Contoso.Orders.Audited", data: .json(try EventGridData(["a": [1, 2]])),
                       subject: "orders/1", id: "c-1", time: time, dataContentType: "application/json",
                       extensions: ["tenant": try EventGridData("contoso"), "priority": try EventGridData(5)]),
            CloudEvent(source: "/contoso/orders", type: "Contoso.Orders.Blob", data: .binary([0, 1, 2, 255]), id: "c-2",
                       time: nil),
        ]
        try client.send(cloud, toTopic: "audit")

        let orders = emulator.eventGridEvents("orders")
        XCTAssertEqual(orders.count, 4)
        XCTAssertTrue(orders.allSatisfy { $0.schema == .eventGrid })
        let emitted = try XCTUnwrap(orders.first?.object())
        XCTAssertEqual(emitted["eventType"] as? String, "Contoso.Orders.Created")
        XCTAssertEqual(emitted["subject"] as? String, "orders/42")
        XCTAssertEqual(emitted["dataVersion"] as? String, "v1")
        XCTAssertEqual((emitted["data"] as? [String: Any])?["note"] as? String, "ünï \"quoted\"\n")
        let second = try XCTUnwrap(orders[1].object())
        XCTAssertEqual(second["id"] as? String, "id-1")
        XCTAssertEqual(second["eventTime"] as? String, "2025-12-02T18:26:40.250000Z")
        XCTAssertEqual(second["dataVersion"] as? String, "2.0")
        let decoded = try JSONDecoder().decode(Order.self, from: JSONSerialization.data(withJSONObject: second["data"] as Any))
        XCTAssertEqual(decoded, Order(orderId: 1, note: "n1"))

        let audit = emulator.eventGridEvents("audit")
        XCTAssertEqual(audit.map(\.schema), [.cloudEvent, .cloudEvent])
        let first = try XCTUnwrap(audit[0].object())
        XCTAssertEqual(first["specversion"] as? String, "1.0")
        XCTAssertEqual(first["tenant"] as? String, "contoso")
        XCTAssertEqual(first["priority"] as? Int, 5)
        XCTAssertEqual(first["datacontenttype"] as? String, "application/json")
        XCTAssertEqual(first["time"] as? String, "2025-12-02T18:26:40.250000Z")
        let binary = try XCTUnwrap(audit[1].object())
        XCTAssertEqual(binary["data_base64"] as? String, "AAEC/w==")
        XCTAssertNil(binary["time"])
    }

    func testSASTokenSignedWithKeyAndTokenCredentials() throws {
        let emulator = try startEventGridEmulator()
        let ordersURL = try XCTUnwrap(emulator.eventGridEndpoint("orders"))
        let key = Secret(emulator.eventGridKey)
        let sas = try EventGridSharedAccessSignature.token(endpoint: ordersURL, key: key, expiry: UTCDate.nowUnixSeconds() + 600)
        let transport = try HTTPClientTokenTransport(caFile: XCTUnwrap(emulator.emulator.caFile))
        let entra = try ClientSecretCredential(
            tenantID: EmulatorWellKnown.tenantID, clientID: EmulatorWellKnown.clientID,
            clientSecret: Secret(EmulatorWellKnown.clientSecret), authorityHost: emulator.emulator.authorityHost,
            environment: [:], transport: transport)
        let credentials: [(String, EventGridCredential)] = [
            ("sas", .sharedAccessSignature(sas)),
            ("signed", .signedWithKey(key, validity: .seconds(300))),
            ("entra", .token(entra)),
            ("emulator-token", .token(EmulatorTokenCredential(emulator: emulator.emulator))),
        ]
        for (name, credential) in credentials {
            let client = try ManagedEventGridClient(config: EventGridConfig(EventGridTopicConfig(name: "orders", url: ordersURL)),
                                                    credential: credential, options: eventGridOptions(emulator))
            try client.emitEvent(topic: "orders", eventType: "Auth.Checked", subject: name, data: EventGridData(["by": name]))
            try client.close()
        }
        XCTAssertEqual(emulator.eventGridEvents("orders").compactMap { $0.object()?["subject"] as? String },
                       credentials.map(\.0))
    }

    func testPerTopicCredentialOverridesTheClientsOwn() throws {
        let emulator = try startEventGridEmulator()
        let config = EventGridConfig([
            EventGridTopicConfig(name: "orders", url: try XCTUnwrap(emulator.eventGridEndpoint("orders")),
                                 credential: .key(Secret(emulator.eventGridKey))),
            EventGridTopicConfig(name: "audit", url: try XCTUnwrap(emulator.eventGridEndpoint("audit"))),
        ])
        let client = try EventGridClient(config: config, credential: .key(Secret("d3Jvbmcta2V5")),
                                         options: eventGridOptions(emulator))
        defer { try? client.close() }
        XCTAssertNoThrow(try client.emitEvent(topic: "orders", eventType: "t", subject: "s", data: .null))
        XCTAssertThrowsError(try client.emitEvent(topic: "audit", eventType: "t", subject: "s", data: .null)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .authorizationFailed)
        }
    }

    func testManagedClientWarmsUpAndCarriesConcurrentPublishes() throws {
        let emulator = try startEventGridEmulator()
        var options = eventGridOptions(emulator)
        options.pool.maxConnectionsPerTopic = 4
        let client = try ManagedEventGridClient(config: eventGridConfig(emulator), credential: .key(Secret(emulator.eventGridKey)),
                                                options: options)
        defer { try? client.close() }
        XCTAssertGreaterThanOrEqual(try client.warmUp(connectionsPerTopic: 2), 2)
        let group = DispatchGroup()
        let failures = LockedValue(0)
        for index in 0..<40 {
            group.enter()
            client.emitEvent(topic: index % 2 == 0 ? "orders" : "audit", eventType: "Load", subject: "\(index)",
                             data: try EventGridData(["index": index])) { result in
                if case .failure = result { failures.withLockedValue { $0 += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.load(), 0)
        XCTAssertEqual(emulator.eventGridEvents("orders").count + emulator.eventGridEvents("audit").count, 40)
        let snapshots = client.poolSnapshots()
        XCTAssertFalse(snapshots.isEmpty)
        XCTAssertTrue(snapshots.values.allSatisfy { $0.ready + $0.inUse <= 4 })
    }

    func testAsyncFormsPublishAndCloseRefusesLaterPublishes() async throws {
        let emulator = try startEventGridEmulator()
        let client = try ManagedEventGridClient(config: eventGridConfig(emulator), credential: .key(Secret(emulator.eventGridKey)),
                                                options: eventGridOptions(emulator))
        try await client.emitEvent(topic: "orders", eventType: "Async", subject: "a", data: EventGridData(["x": 1]))
        try await client.send([EventGridEvent(subject: "b", eventType: "Async", data: .null)], toTopic: "orders")
        try await client.send([CloudEvent(source: "/s", type: "Async", subject: "c")], toTopic: "audit")
        _ = try await client.warmUp()
        await client.close()
        await client.close()  // idempotent
        do {
            try await client.emitEvent(topic: "orders", eventType: "Async", subject: "late", data: .null)
            XCTFail("published after close")
        } catch {
            XCTAssertEqual(error.code, .clientClosed)
        }
        XCTAssertEqual(emulator.eventGridEvents("orders").count, 2)
        XCTAssertEqual(emulator.eventGridEvents("audit").count, 1)
    }

    /// The HTTP client answers on the connection's queue (`inlineCompletions`), so this checks that every
    /// completion still runs on the queue the caller named, never on a library queue, and that a completion can
    /// publish the next event itself — successes and refusals alike.
    func testCompletionsRunOnTheCallersQueueAndMayPublishTheNextEvent() throws {
        let emulator = try startEventGridEmulator()
        let good = try EventGridClient(config: eventGridConfig(emulator), credential: .key(Secret(emulator.eventGridKey)),
                                       options: eventGridOptions(emulator))
        defer { try? good.close() }
        let bad = try EventGridClient(config: eventGridConfig(emulator), credential: .key(Secret("not-the-key")),
                                      options: eventGridOptions(emulator))
        defer { try? bad.close() }
        let queue = DispatchQueue(label: "eventgrid.caller")
        let key = DispatchSpecificKey<Int>()
        queue.setSpecific(key: key, value: 42)
        let outcomes = LockedValue<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let total = 12
        @Sendable func publish(_ index: Int) {
            let client = index % 3 == 2 ? bad : good
            client.emitEvent(topic: "orders", eventType: "Chain", subject: "\(index)", data: .null, queue: queue) {
                result in
                let onQueue = DispatchQueue.getSpecific(key: key) == 42
                let marked = LibraryQueues.currentLibraryQueueLabel != nil
                let outcome: String
                switch result {
                case .success: outcome = "ok"
                case .failure: outcome = "refused"
                }
                outcomes.withLockedValue { $0.append("\(index) \(outcome) \(onQueue) \(marked)") }
                if index + 1 < total { publish(index + 1) } else { done.signal() }
            }
        }
        publish(0)
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        let expected = (0..<total).map { index in
            "\(index) \(index % 3 == 2 ? "refused" : "ok") true false"
        }
        XCTAssertEqual(outcomes.load(), expected)
        XCTAssertEqual(emulator.eventGridEvents("orders").count, total - total / 3)
    }

    func testBlockingFormRefusesALibraryQueue() throws {
        let emulator = try startEventGridEmulator()
        let client = try EventGridClient(config: eventGridConfig(emulator), credential: .key(Secret(emulator.eventGridKey)),
                                         options: eventGridOptions(emulator))
        defer { try? client.close() }
        let box = ResultBox<Void>()
        LibraryQueues.defaultCallbackQueue.async {
            box.handler(Result { () throws(ToolboxError) in
                try client.emitEvent(topic: "orders", eventType: "t", subject: "s", data: .null)
            })
        }
        let (result, _) = box.wait()
        guard case .failure(let error) = result else { return XCTFail("blocked on a library queue: \(String(describing: result))") }
        XCTAssertEqual(error.code, .blockingCallOnLibraryQueue)
    }
}
