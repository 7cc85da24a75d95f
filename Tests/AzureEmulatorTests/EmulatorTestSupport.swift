import AzureAuth
import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEmulator

/// A client connection to a running emulator, with a session and a `$cbs` link.
final class TestClient {
    let emulator: Emulator
    let connection: AMQPConnection
    let session: AMQPSession
    let cbs: AMQPCBSClient

    init(_ emulator: Emulator, maxFrameSize: UInt32 = 65536) throws {
        self.emulator = emulator
        let transport = AMQPSocketTransport(host: "127.0.0.1", port: emulator.amqpPort)
        connection = AMQPConnection(transport: transport,
                                    configuration: AMQPConnectionConfiguration(hostname: "localhost", sasl: .anonymous,
                                                                               maxFrameSize: maxFrameSize, idleTimeout: nil))
        try connection.open()
        session = try connection.beginSession()
        cbs = try AMQPCBSClient.attach(session: session)
    }

    /// The audience the SDKs use: `sb://host:port/<entity>`.
    func audience(_ entity: String) -> String { "sb://127.0.0.1:\(emulator.amqpPort)/\(entity)" }

    func token(_ entity: String, key: String = "SAS_KEY_VALUE", keyName: String = "RootManageSharedAccessKey",
               expiry: Int = Int(Date().timeIntervalSince1970) + 3600) -> AMQPCBSToken {
        let token = SharedAccessSignature.token(audience: audience(entity), keyName: keyName, key: Secret(key), expiry: expiry)
        return AMQPCBSToken(token: token, type: AMQPCBSToken.sasTokenType, expiresAt: Date(timeIntervalSince1970: Double(expiry)))
    }

    /// Puts a valid token for `entity`.
    func authorize(_ entity: String) throws {
        try cbs.putToken(audience: audience(entity), token: token(entity), timeout: .seconds(10))
    }

    /// The `amqps://host:port/<path>` form the SDKs use for link addresses.
    func address(_ path: String) -> String { "amqps://localhost:\(emulator.amqpPort)/\(path)" }

    func close() {
        try? connection.close()
    }
}

/// Collects deliveries from a receiver and waits for a count.
final class Collector: @unchecked Sendable {
    // @unchecked Sendable: `items` is a LockedValue; `condition` guards waiting.
    let items = LockedValue<[AMQPDelivery]>([])
    private let condition = NSCondition()

    func add(_ delivery: AMQPDelivery) {
        items.withLockedValue { $0.append(delivery) }
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until `count` deliveries arrived (at most `timeout` seconds); returns them.
    @discardableResult
    func wait(for count: Int, timeout: Double = 10) -> [AMQPDelivery] {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while items.load().count < count, condition.wait(until: deadline) {}
        condition.unlock()
        return items.load()
    }
}

extension XCTestCase {
    /// Starts an emulator on a free port, stopped when the test ends.
    func startEmulator(_ configure: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> Emulator {
        var configuration = EmulatorConfiguration()
        configuration.logger = Logger(label: "AzureEmulatorTests")
        configuration.logger.logLevel = .warning
        configure(&configuration)
        let emulator = try Emulator.start(configuration)
        addTeardownBlock { emulator.stop() }
        return emulator
    }
}

extension AMQPMessage {
    func annotation(_ key: String) -> AMQPValue? { messageAnnotations?[.symbol(AMQPSymbol(key))] }
}

/// An Event Hubs batch as the SDKs send it: one data section per encoded event.
func eventBatch(_ bodies: [String], partitionKey: String? = nil) -> AMQPMessage {
    var outer = AMQPMessage(body: .data(bodies.map { body in
        var inner = AMQPMessage(data: Array(body.utf8))
        if let partitionKey { inner.messageAnnotations = [.symbol("x-opt-partition-key"): .string(partitionKey)] }
        return inner.encode()
    }))
    if let partitionKey {
        outer.header = AMQPHeader(durable: true)
        outer.messageAnnotations = [.symbol("x-opt-partition-key"): .string(partitionKey)]
    }
    return outer
}

let batchFormat: UInt32 = 0x8001_3700
