import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator
import ToolboxTransportServer

/// Drives the Cosmos service directly (no sockets): builds requests as azure-cosmos sends them, signed with
/// AzureAuth's master-key signer, and decodes the answers.
struct CosmosTestHarness {
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: CosmosValue?
        var raw: String

        func header(_ name: String) -> String? { headers.first(name: name) }
        var documents: [CosmosValue] {
            if case .array(let items)? = body?["Documents"] { return items }
            return []
        }
        var substatus: String? { header("x-ms-substatus") }
    }

    let service: CosmosService
    let signer: CosmosMasterKeySigner

    init(containers: [CosmosContainerDefinition] = [CosmosContainerDefinition(database: "db", container: "c", partitionKeyPath: "/pk")],
         configure: (inout EmulatorConfiguration) -> Void = { _ in }) throws {
        var configuration = EmulatorConfiguration()
        configuration.cosmosContainers = containers
        configure(&configuration)
        service = try CosmosService(context: EmulatorHTTPContext(configuration: configuration))
        signer = try CosmosMasterKeySigner(key: configuration.cosmosKey)
    }

    /// Sends `method path` (path percent-encoded as on the wire) with `body`; signs with the account key unless
    /// `authorization` is given.
    func send(_ method: String, _ path: String, body: String? = nil, headers extra: [(String, String)] = [],
              authorization: String? = nil, date: String = UTCDate.rfc1123(Int(Date().timeIntervalSince1970))) -> Answer {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "127.0.0.1:8081")
        headers.add(name: "x-ms-date", value: date)
        headers.add(name: "x-ms-version", value: "2020-07-15")
        headers.add(name: "authorization",
                    value: authorization ?? signer.authorizationHeader(verb: method, path: path, date: date).exposedValue)
        for (name, value) in extra { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(method: method, target: path, headers: headers)
        let request = EmulatorHTTPRequest(head: head, body: Array((body ?? "").utf8), isSecure: false, localPort: 8081,
                                          remoteAddress: nil)
        let box = LockedValue<HTTPServerResponse?>(nil)
        service.handle(request) { response in box.withLockedValue { $0 = response } }
        guard let response = box.load() else { return Answer(status: -1, headers: [:], body: nil, raw: "") }
        guard case .bytes(let bytes) = response.body else { return Answer(status: response.head.status, headers: response.head.headers, body: nil, raw: "") }
        let raw = String(decoding: bytes, as: UTF8.self)
        return Answer(status: response.head.status, headers: response.head.headers,
                      body: bytes.isEmpty ? nil : try? CosmosValue.parse(bytes), raw: raw)
    }

    func create(_ document: String, pk: String, container: String = "c", upsert: Bool = false) -> Answer {
        var headers = [("x-ms-documentdb-partitionkey", "[\(pk)]")]
        if upsert { headers.append(("x-ms-documentdb-is-upsert", "True")) }
        return send("POST", "/dbs/db/colls/\(container)/docs/", body: document, headers: headers)
    }

    /// A query as the SDK sends it; `pk` nil means cross-partition, `range` targets one partition key range.
    func query(_ text: String, parameters: String = "[]", pk: String? = nil, range: String? = nil, maxItemCount: Int? = nil,
               continuation: String? = nil, container: String = "c") -> Answer {
        var headers = [("x-ms-documentdb-isquery", "true"), ("Content-Type", "application/query+json")]
        if let pk { headers.append(("x-ms-documentdb-partitionkey", "[\(pk)]")) } else {
            headers.append(("x-ms-documentdb-query-enablecrosspartition", "True"))
        }
        if let range { headers.append(("x-ms-documentdb-partitionkeyrangeid", range)) }
        if let maxItemCount { headers.append(("x-ms-max-item-count", String(maxItemCount))) }
        if let continuation { headers.append(("x-ms-continuation", continuation)) }
        let body = CosmosValue.object([("query", .string(text)), ("parameters", (try? CosmosValue.parse(parameters)) ?? .array([]))]).json
        return send("POST", "/dbs/db/colls/\(container)/docs/", body: body, headers: headers)
    }

    /// Every page of a per-range query, following continuations.
    func drain(_ text: String, range: String, maxItemCount: Int, startingAt token: String? = nil) -> [CosmosValue] {
        var all: [CosmosValue] = []
        var continuation = token
        repeat {
            let answer = query(text, range: range, maxItemCount: maxItemCount, continuation: continuation)
            XCTAssertEqual(answer.status, 200, answer.raw)
            all += answer.documents
            continuation = answer.header("x-ms-continuation")
        } while continuation != nil
        return all
    }

    func rangeIDs(container: String = "c") -> [String] {
        let answer = send("GET", "/dbs/db/colls/\(container)/pkranges/")
        guard case .array(let ranges)? = answer.body?["PartitionKeyRanges"] else { return [] }
        return ranges.compactMap { $0["id"]?.stringValue }
    }
}
