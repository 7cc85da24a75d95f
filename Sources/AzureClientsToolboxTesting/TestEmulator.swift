import AzureEmulator
import Foundation

/// An in-process emulator for one test, with ready connection strings. Works from XCTest and Swift Testing
/// alike (this module does not import either): stop it with `defer`, or scope it with `withEmulator`; it also
/// stops when the last reference goes away.
///
/// ```swift
/// @Test func send() throws {                     // or: func testSend() throws in an XCTestCase
///     let emulator = try TestEmulator.start(eventHubs: ["orders": 2], queues: ["jobs"])
///     defer { emulator.stop() }
///     let producer = try EventHubProducer(connectionString: emulator.eventHubsConnectionString("orders"))
///     ...
/// }
/// ```
///
/// Each emulator listens on a free loopback port, so tests run in parallel.
public final class TestEmulator: Sendable {
    public let emulator: Emulator

    init(emulator: Emulator) { self.emulator = emulator }

    /// Starts an emulator with the given hubs (name → partition count), queues and faults.
    public static func start(eventHubs: [String: Int] = ["eh1": 2], queues: [String] = ["q1"],
                             faults: EmulatorFaults = EmulatorFaults(),
                             configure: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> TestEmulator {
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = eventHubs.sorted { $0.key < $1.key }.map {
            EventHubDefinition(name: $0.key, partitionCount: $0.value)
        }
        configuration.queues = queues
        configuration.faults = faults
        configure(&configuration)
        return TestEmulator(emulator: try Emulator.start(configuration))
    }

    /// Runs `body` with a fresh emulator and stops it afterwards, however `body` ends.
    public static func withEmulator<T>(
        eventHubs: [String: Int] = ["eh1": 2], queues: [String] = ["q1"], faults: EmulatorFaults = EmulatorFaults(),
        configure: (inout EmulatorConfiguration) -> Void = { _ in }, _ body: (TestEmulator) throws -> T
    ) throws -> T {
        let started = try start(eventHubs: eventHubs, queues: queues, faults: faults, configure: configure)
        defer { started.stop() }
        return try body(started)
    }

    /// `Endpoint=sb://127.0.0.1:<port>;...;EntityPath=<hub>;UseDevelopmentEmulator=true`.
    public func eventHubsConnectionString(_ eventHub: String) -> String {
        emulator.eventHubsConnectionString(eventHub: eventHub)
    }

    /// The namespace connection string for Service Bus (no EntityPath).
    public var serviceBusConnectionString: String { emulator.serviceBusConnectionString }

    /// `127.0.0.1:<port>`: the namespace for credential-based clients.
    public var fullyQualifiedNamespace: String { "127.0.0.1:\(emulator.amqpPort)" }

    /// Stops the listeners and drops every connection. Idempotent.
    public func stop() { emulator.stop() }

    deinit { emulator.stop() }
}
