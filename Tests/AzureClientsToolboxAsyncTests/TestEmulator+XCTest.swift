import AzureClientsToolboxTesting
import XCTest

extension TestEmulator {
    /// An emulator stopped when `test` finishes: the XCTest glue a user writes in their own test target
    /// (AzureClientsToolboxTesting itself imports no test framework).
    static func start(for test: XCTestCase, eventHubs: [String: Int] = ["eh1": 2],
                      queues: [String] = ["q1"]) throws -> TestEmulator {
        let emulator = try start(eventHubs: eventHubs, queues: queues)
        test.addTeardownBlock { emulator.stop() }
        return emulator
    }
}
