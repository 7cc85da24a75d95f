import AzureAuth
import AzureClientsToolboxTesting
@testable import AzureCosmos
@testable import AzureEmulator
import Dispatch
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import XCTest

/// `DefaultAzureCredential` against the emulator's Entra ID endpoint, end to end: the client asks for the scope
/// it derives from the endpoint host, and the emulator's Cosmos gateway authorizes every request with the
/// resulting `type=aad` token (the clients get no key).
final class CosmosEntraTests: XCTestCase {
    /// Records the scopes asked for and the tokens handed out, passing everything else through.
    final class RecordingCredential: TokenCredential {
        let inner: any TokenCredential
        let scopes = LockedValue<[[String]]>([])
        let tokens = LockedValue<[String]>([])
        var credentialName: String { inner.credentialName }

        init(_ inner: any TokenCredential) { self.inner = inner }

        func token(for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
                   completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void) -> any Cancellable {
            self.scopes.withLockedValue { $0.append(scopes) }
            return inner.token(for: scopes, options: options, queue: queue) { [tokens] result in
                if case .success(let token) = result { tokens.withLockedValue { $0.append(token.token.exposedValue) } }
                completion(result)
            }
        }
    }

    static func environment(_ emulator: TestEmulator) -> [String: String] {
        [
            "AZURE_AUTHORITY_HOST": emulator.emulator.authorityHost ?? "",
            "AZURE_TENANT_ID": emulator.emulator.configuration.tenantID,
            "AZURE_CLIENT_ID": emulator.emulator.configuration.clientID,
            "AZURE_CLIENT_SECRET": emulator.emulator.configuration.clientSecret.exposedValue,
        ]
    }

    func values(_ items: [[UInt8]]) throws -> [Int] {
        try items.map { Int(try CosmosJSON(parsing: $0)["n"]?.numberValue ?? -1) }
    }

    func testDefaultAzureCredentialFromTheEmulatorsEntraID() throws {
        let emulator = try TestEmulator.startCosmos(https: true)
        defer { emulator.stop() }
        let caFile = try XCTUnwrap(emulator.emulator.caFile)
        XCTAssertTrue(emulator.cosmosEndpoint.hasPrefix("https://127.0.0.1:"), emulator.cosmosEndpoint)
        // The environment is injected: the process environment stays untouched for tests running in parallel.
        let chain = DefaultAzureCredential(environment: Self.environment(emulator),
                                           transport: try HTTPClientTokenTransport(caFile: caFile), exclude: [.azureCLI])
        let credential = RecordingCredential(chain)
        var options = CosmosClientOptions()
        options.caFile = caFile
        options.pool.metricsLabel = nil

        let managed = try ManagedCosmos(endpoint: emulator.cosmosEndpoint, credential: credential, databaseName: "testdb",
                                        containerName: "items", options: options)
        defer { try? managed.close() }
        for n in 0..<6 {
            try managed.createItem(Array(#"{"id": "m\#(n)", "pk": "p\#(n % 3)", "n": \#(n)}"#.utf8))
        }
        XCTAssertEqual(try CosmosJSON(parsing: managed.readItem(id: "m4", partitionKey: "p1").value)["n"]?.numberValue, 4)
        let managedQuery = try managed.queryItems(CosmosQuery("SELECT * FROM c ORDER BY c.n DESC"),
                                                  options: CosmosQueryOptions(maxItemCount: 2))
        XCTAssertEqual(try values(managedQuery.items), [5, 4, 3, 2, 1, 0])

        let basic = try Cosmos(endpoint: emulator.cosmosEndpoint, credential: credential, databaseName: "testdb",
                               containerName: "items", options: options)
        defer { try? basic.close() }
        try basic.createItem(Array(#"{"id": "b6", "pk": "p0", "n": 6}"#.utf8))
        XCTAssertEqual(try CosmosJSON(parsing: basic.readItem(id: "m1", partitionKey: "p1").value)["n"]?.numberValue, 1)
        let basicQuery = try basic.queryItems(CosmosQuery("SELECT * FROM c WHERE c.n >= @min", parameters: ["@min": 5]))
        XCTAssertEqual(try values(basicQuery.items).sorted(), [5, 6])

        XCTAssertEqual(chain.selectedCredential?.credentialName, "EnvironmentCredential")
        // The scope is the endpoint host without the port, as the SDKs derive it; the tokens carry that audience.
        let asked = Set(credential.scopes.load().flatMap { $0 })
        XCTAssertEqual(asked, ["https://127.0.0.1/.default"])
        let tokens = credential.tokens.load()
        XCTAssertFalse(tokens.isEmpty)
        let context = EmulatorHTTPContext(configuration: emulator.emulator.configuration)
        for token in Set(tokens) {
            guard case .success(let claims) = context.verifyBearer("Bearer " + token, audiences: ["https://127.0.0.1/"])
            else { return XCTFail("the emulator's Entra ID handed out a token without the Cosmos audience") }
            XCTAssertEqual(claims.audience, "https://127.0.0.1/")
        }

        // The gateway does check the audience: a token from the same issuer for Storage is refused.
        let storageToken = emulator.emulator.issueToken(forScope: "https://storage.azure.com/.default")
        let wrongAudience = try Cosmos(endpoint: emulator.cosmosEndpoint, credential: StaticTokenCredential(storageToken),
                                       databaseName: "testdb", containerName: "items", options: options)
        defer { try? wrongAudience.close() }
        XCTAssertThrowsError(try wrongAudience.readItem(id: "m1", partitionKey: "p1")) {
            XCTAssertEqual(($0 as? ToolboxError)?.serviceCondition?.httpStatus, 401, "\($0)")
        }
    }

    func testCLIWithCredentialDefault() throws {
        let emulator = try TestEmulator.startCosmos(https: true)
        defer { emulator.stop() }
        let caFile = try XCTUnwrap(emulator.emulator.caFile)
        func cosmos(_ arguments: [String], environment: [String: String] = Self.environment(emulator)) throws
            -> ToolboxCLI.Output
        {
            try ToolboxCLI.run(["cosmos"] + arguments + ["--endpoint", emulator.cosmosEndpoint, "--credential", "default",
                                                        "--ca-file", caFile, "--database", "testdb", "--container", "items",
                                                        "--json"], environment: environment)
        }
        let created = try cosmos(["create", "--item", #"{"id": "c1", "pk": "a", "n": 1}"#])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertEqual(try created.singleJSONObject()["id"] as? String, "c1")
        XCTAssertEqual(try cosmos(["create", "--item", #"{"id": "c2", "pk": "b", "n": 2}"#]).status, 0)
        let read = try cosmos(["read", "--id", "c1", "--partition-key", "a"])
        XCTAssertEqual(read.status, 0, read.stderr)
        XCTAssertEqual(try read.singleJSONObject()["n"] as? Int, 1)
        let query = try cosmos(["query", "--query", "SELECT * FROM c ORDER BY c.n DESC", "--max-item-count", "1"])
        XCTAssertEqual(query.status, 0, query.stderr)
        let lines = query.jsonLines
        XCTAssertEqual(lines.dropLast().map { $0["n"] as? Int }, [2, 1])
        XCTAssertEqual(lines.last?["count"] as? Int, 2)
        XCTAssertFalse(query.stderr.contains(emulator.emulator.configuration.clientSecret.exposedValue))

        // A wrong secret: Entra refuses, the CLI says why and exits non-zero without echoing the secret.
        var wrong = Self.environment(emulator)
        wrong["AZURE_CLIENT_SECRET"] = "not-the-secret-value"
        let refused = try cosmos(["read", "--id", "c1", "--partition-key", "a"], environment: wrong)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertFalse(refused.stderr.isEmpty)
        XCTAssertFalse(refused.stderr.contains("not-the-secret-value") || refused.stdout.contains("not-the-secret-value"))
    }

    /// Records the library queue (if any) each token request is made on.
    final class QueueRecordingCredential: TokenCredential {
        let inner: any TokenCredential
        let labels = LockedValue<[String?]>([])
        var credentialName: String { inner.credentialName }

        init(_ inner: any TokenCredential) { self.inner = inner }

        func token(for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
                   completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void) -> any Cancellable {
            labels.withLockedValue { $0.append(LibraryQueues.currentLibraryQueueLabel) }
            return inner.token(for: scopes, options: options, queue: queue, completion: completion)
        }
    }

    /// A user's `TokenCredential` never runs on a connection's queue, even where an operation goes on after a
    /// response: first writes waiting for the account and container reads, a create after a read's 404.
    func testTokenCredentialIsNeverCalledOnAConnectionQueue() throws {
        let emulator = try TestEmulator.startCosmos(https: true)
        defer { emulator.stop() }
        let credential = QueueRecordingCredential(EmulatorTokenCredential(emulator: emulator.emulator))
        var options = CosmosClientOptions()
        options.caFile = try XCTUnwrap(emulator.emulator.caFile)
        options.pool.metricsLabel = nil
        let cosmos = try Cosmos(endpoint: emulator.cosmosEndpoint, credential: credential, databaseName: "testdb",
                                containerName: "items", options: options)
        defer { try? cosmos.close() }
        let group = DispatchGroup()
        let failures = LockedValue<[String]>([])
        for n in 0..<20 {
            group.enter()
            cosmos.createItem(Array(#"{"id": "q\#(n)", "pk": "p\#(n % 4)", "n": \#(n)}"#.utf8)) { result in
                if case .failure(let error) = result { failures.withLockedValue { $0.append(error.message) } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(failures.load(), [])
        _ = try cosmos.createDatabase("second", ifNotExists: true)  // a read answered 404, then the create

        let labels = credential.labels.load()
        XCTAssertGreaterThanOrEqual(labels.count, 24, "account, container, 20 creates, read and create")
        for label in labels {
            XCTAssertFalse(label?.hasPrefix("ToolboxTransport.") ?? false, "token asked for on \(label ?? "")")
        }
    }
}
