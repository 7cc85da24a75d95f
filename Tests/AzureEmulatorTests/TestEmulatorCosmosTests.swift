import AzureAuth
import AzureClientsToolboxTesting
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// `TestEmulator.startCosmos` hands tests a running account with ready containers, over HTTP or HTTPS.
final class TestEmulatorCosmosTests: XCTestCase {
    private func get(_ path: String, base: String, key: String, client: HTTPClient) throws -> HTTPResponse {
        let date = UTCDate.rfc1123(Int(Date().timeIntervalSince1970))
        let signer = try CosmosMasterKeySigner(key: Secret(key))
        let headers: HTTPHeaders = [
            "x-ms-date": date, "x-ms-version": "2020-07-15",
            "authorization": signer.authorizationHeader(verb: "GET", path: path, date: date).exposedValue,
        ]
        return try client.execute(HTTPRequest(url: base + path.dropFirst(), headers: headers), timeout: .seconds(10))
    }

    func testReadyContainersOverHTTPAndHTTPSAndSplits() throws {
        for https in [false, true] {
            let emulator = try TestEmulator.startCosmos(containers: ["shop/orders": "/tenant", "shop/carts": "/id"], https: https)
            defer { emulator.stop() }
            XCTAssertTrue(emulator.cosmosEndpoint.hasPrefix(https ? "https://127.0.0.1:" : "http://127.0.0.1:"))
            XCTAssertEqual(emulator.cosmosConnectionString, "AccountEndpoint=\(emulator.cosmosEndpoint);AccountKey=\(emulator.cosmosKey);")
            var configuration = HTTPClientConfiguration()
            if https, let ca = emulator.emulator.caFile { configuration.tls = TLSClientConfiguration(trustRoots: .file(ca)) }
            let client = try HTTPClient(configuration: configuration)
            defer { try? client.shutdown() }
            let container = try get("/dbs/shop/colls/orders/", base: emulator.cosmosEndpoint, key: emulator.cosmosKey, client: client)
            XCTAssertEqual(container.head.status, 200)
            let body = try CosmosValue.parse(container.body)
            XCTAssertEqual(body["partitionKey"]?["paths"], .array([.string("/tenant")]))
            XCTAssertEqual(try get("/dbs/shop/colls/carts/", base: emulator.cosmosEndpoint, key: emulator.cosmosKey, client: client).head.status, 200)
            XCTAssertEqual(try emulator.splitCosmosPartitionKeyRange(database: "shop", container: "orders"), ["2", "3", "4", "5"])
        }
    }
}
