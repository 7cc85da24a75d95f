import AzureAuth
import AzureClientsToolboxTesting
import AzureEmulator
import XCTest

/// `TestEmulator.startBlob`: ready containers and the endpoints a Blob client takes.
final class TestEmulatorBlobTests: XCTestCase {
    func testStartBlobHandsOutContainersEndpointsAndAConnectionStringClientsParse() throws {
        let emulator = try TestEmulator.startBlob(containers: ["uploads", "reports"], https: true)
        defer { emulator.stop() }
        let endpoint = try XCTUnwrap(emulator.blobEndpoint)
        XCTAssertTrue(endpoint.hasPrefix("https://127.0.0.1:") && endpoint.hasSuffix("/devstoreaccount1"), endpoint)
        XCTAssertTrue(try XCTUnwrap(emulator.plainBlobEndpoint).hasPrefix("http://127.0.0.1:"))
        let parsed = try StorageConnectionString(parsing: try XCTUnwrap(emulator.blobConnectionString))
        XCTAssertEqual(parsed.accountName, emulator.blobAccountName)
        XCTAssertEqual(parsed.accountKey?.exposedValue, emulator.blobAccountKey)
        XCTAssertEqual(parsed.blobEndpoint, endpoint)
        XCTAssertNotNil(emulator.emulator.caFile)

        XCTAssertEqual(emulator.blobNames(in: "uploads"), [])
        XCTAssertEqual(emulator.blobNames(in: "reports"), [])
        XCTAssertNil(emulator.blobNames(in: "missing"))
        try emulator.createBlobContainer("late")
        try emulator.createBlobContainer("late")
        XCTAssertEqual(emulator.blobNames(in: "late"), [])
        XCTAssertThrowsError(try emulator.createBlobContainer("No_Such-Name!"))
        XCTAssertNil(emulator.blobContent(container: "uploads", blob: "nothing"))
        XCTAssertEqual(emulator.emulator.blobContainerURL("uploads"), endpoint + "/uploads")
    }
}
