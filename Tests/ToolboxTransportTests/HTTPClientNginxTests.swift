import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport

/// HTTPClient against a real server nobody here wrote: nginx, over HTTP and HTTPS.
final class HTTPClientNginxTests: XCTestCase {
    private var nginx: NginxFixture!
    private var pki: TestPKI!

    override func setUpWithError() throws {
        pki = try TestPKI.get()
        nginx = try NginxFixture.start(pki: pki)
    }

    override func tearDown() {
        nginx?.stop()
    }

    private func client(trusting ca: String? = nil, serverName: String? = nil) throws -> HTTPClient {
        var configuration = HTTPClientConfiguration()
        configuration.tls.trustRoots = .file(ca ?? pki.caFile)
        configuration.tls.serverNameOverride = serverName
        configuration.maxConnectionsPerEndpoint = 8
        return try HTTPClient(configuration: configuration)
    }

    private func assertReuse(tls: Bool) throws {
        let client = try client()
        defer { try? client.shutdown() }
        for _ in 0..<20 {
            let response = try client.execute(try HTTPRequest(url: nginx.url("/hello.txt", tls: tls)), timeout: .seconds(10))
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.body, Array("hello\n".utf8))
        }
        XCTAssertEqual(client.connectionsOpened, 1)
        let log = nginx.accessLog(waitingFor: 20) { $0.uri == "/hello.txt" }
        XCTAssertEqual(log.count, 20)
        XCTAssertEqual(Set(log.map(\.connection)).count, 1, "nginx saw more than one connection: \(log)")
        XCTAssertEqual(log.map(\.connectionRequests), Array(1...20))
    }

    func testKeepAliveReusesOneConnectionOverHTTP() throws {
        try assertReuse(tls: false)
    }

    func testKeepAliveReusesOneConnectionOverHTTPS() throws {
        try assertReuse(tls: true)
    }

    func testChunkedReply() throws {
        let client = try client()
        defer { try? client.shutdown() }
        for tls in [false, true] {
            let response = try client.execute(try HTTPRequest(url: nginx.url("/chunked.txt", tls: tls)), timeout: .seconds(10))
            XCTAssertEqual(response.status, 200)
            XCTAssertTrue(response.headers.containsToken("chunked", inField: "transfer-encoding"),
                          "nginx's sub_filter should answer chunked: \(response.headers)")
            XCTAssertEqual(String(decoding: response.body, as: UTF8.self),
                           NginxFixture.chunkedSource.replacingOccurrences(of: "MARK", with: "mark"))
        }
        XCTAssertEqual(client.connectionsOpened, 2, "one connection per endpoint, reused after chunked replies")
    }

    func testConnectionCloseOpensANewConnectionEachTime() throws {
        let client = try client()
        defer { try? client.shutdown() }
        for _ in 0..<3 {
            let response = try client.execute(try HTTPRequest(url: nginx.url("/close")), timeout: .seconds(10))
            XCTAssertEqual(response.body, Array("bye\n".utf8))
            XCTAssertFalse(response.head.keepAlive)
        }
        XCTAssertEqual(client.connectionsOpened, 3)
        XCTAssertEqual(Set(nginx.accessLog(waitingFor: 3).map(\.connection)).count, 3)
    }

    func testOneMebibyteBodiesBothWays() throws {
        let client = try client()
        defer { try? client.shutdown() }
        for tls in [false, true] {
            let download = try client.execute(try HTTPRequest(url: nginx.url("/big.bin", tls: tls)), timeout: .seconds(30))
            XCTAssertEqual(download.status, 200)
            XCTAssertTrue(download.body == NginxFixture.bigFile, "downloaded bytes differ")

            let path = "/dav/upload-\(tls).bin"
            let upload = try client.execute(
                try HTTPRequest(method: "PUT", url: nginx.url(path, tls: tls), body: .bytes(NginxFixture.bigFile)),
                timeout: .seconds(30))
            XCTAssertTrue([201, 204].contains(upload.status), "PUT answered \(upload.status)")
            let back = try client.execute(try HTTPRequest(url: nginx.url(path, tls: tls)), timeout: .seconds(30))
            XCTAssertTrue(back.body == NginxFixture.bigFile, "the uploaded file differs from what was sent")
        }
        let uploads = nginx.accessLog(waitingFor: 2) { $0.method == "PUT" }
        XCTAssertEqual(uploads.count, 2)
        XCTAssertTrue(uploads.allSatisfy { $0.requestLength > 1 << 20 })
        XCTAssertEqual(client.connectionsOpened, 2)
    }

    func testStreamedChunkedUploadAndStreamedDownload() throws {
        let client = try client()
        defer { try? client.shutdown() }
        let pieces = LockedValue(Array(stride(from: 0, to: NginxFixture.bigFile.count, by: 100_000).map {
            Array(NginxFixture.bigFile[$0..<min($0 + 100_000, NginxFixture.bigFile.count)])
        }))
        let request = try HTTPRequest(
            method: "PUT", url: nginx.url("/dav/streamed.bin", tls: true),
            body: .stream(contentLength: nil) { deliver in
                let next = pieces.withLockedValue { $0.isEmpty ? nil : $0.removeFirst() }
                DispatchQueue.global().async { deliver(.success(next)) }
            })
        let upload = try client.execute(request, timeout: .seconds(30))
        XCTAssertTrue([201, 204].contains(upload.status), "PUT answered \(upload.status)")

        let received = Received()
        let heads = LockedValue<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedValue<Result<HTTPResponseHead, TransportError>?>(nil)
        client.stream(try HTTPRequest(url: nginx.url("/dav/streamed.bin", tls: true)), deadline: .after(seconds: 30),
                      onHead: { head in heads.withLockedValue { $0.append(head.status) } },
                      onBody: { received.append($0) },
                      completion: { result in
                          outcome.withLockedValue { $0 = result }
                          done.signal()
                      })
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(try outcome.load()?.get().status, 200)
        XCTAssertEqual(heads.load(), [200])
        XCTAssertTrue(received.all == NginxFixture.bigFile, "streamed bytes differ")
    }

    func testUntrustedCAFails() throws {
        let client = try client(trusting: pki.otherCAFile)
        defer { try? client.shutdown() }
        expectTransportError(.untrustedIssuer) {
            _ = try client.execute(try HTTPRequest(url: nginx.url("/hello.txt", tls: true, host: "localhost")), timeout: .seconds(10))
        }
    }

    func testWrongHostNameFails() throws {
        let client = try client(serverName: "wrong.example")
        defer { try? client.shutdown() }
        expectTransportError(.hostNameMismatch) {
            _ = try client.execute(try HTTPRequest(url: nginx.url("/hello.txt", tls: true)), timeout: .seconds(10))
        }
    }

    func testStaleKeepAliveConnectionIsRetriedOnce() throws {
        let client = try client()
        defer { try? client.shutdown() }
        XCTAssertEqual(try client.execute(try HTTPRequest(url: nginx.url("/short")), timeout: .seconds(10)).status, 200)
        // nginx drops the idle connection after its 1 s keepalive_timeout; give it time to do so.
        usleep(2_500_000)
        let response = try client.execute(try HTTPRequest(url: nginx.url("/hello.txt")), timeout: .seconds(10))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(client.connectionsOpened, 2, "the stale connection must be replaced, not reported as an error")
    }

    func testManyConcurrentRequestsShareABoundedSetOfConnections() throws {
        let client = try client()
        defer { try? client.shutdown() }
        let group = DispatchGroup()
        let failures = LockedValue<[String]>([])
        for i in 0..<64 {
            group.enter()
            client.execute(try HTTPRequest(url: nginx.url("/hello.txt", tls: i % 2 == 0)), deadline: .after(seconds: 30)) {
                result in
                if case .failure(let error) = result { failures.withLockedValue { $0.append("\(error)") } }
                if case .success(let response) = result, response.body != Array("hello\n".utf8) {
                    failures.withLockedValue { $0.append("wrong body") }
                }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(failures.load(), [])
        XCTAssertLessThanOrEqual(client.connectionsOpened, 16, "at most 8 per endpoint")
        XCTAssertLessThanOrEqual(Set(nginx.accessLog(waitingFor: 64).map(\.connection)).count, 16)
    }

    /// nginx refuses a 4 MiB upload to a location with `client_max_body_size 1k`: the client returns its `413`
    /// (with nginx's body) instead of a reset, whether nginx lingers (draining the upload) or closes at once
    /// (the kernel resets the connection under the unread upload), for buffered, sized-stream and chunked bodies,
    /// over HTTP and HTTPS. None of those connections is reused.
    func testEarly413DuringLargeUploadIsReturned() throws {
        let client = try client()
        defer { try? client.shutdown() }
        let body: [UInt8] = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0) }
        func streamed(length: Int?) -> HTTPRequestBody {
            let offset = LockedValue(0)
            return .stream(contentLength: length) { deliver in
                let start = offset.withLockedValue { o -> Int in
                    defer { o += 64 << 10 }
                    return o
                }
                deliver(.success(start >= body.count ? nil : Array(body[start..<min(start + (64 << 10), body.count)])))
            }
        }
        var sent = 0
        for tls in [false, true] {
            for path in ["/limited", "/limited-abrupt"] {
                let bodies: [(String, HTTPRequestBody)] = [
                    ("bytes", .bytes(body)), ("sized stream", streamed(length: body.count)),
                    ("chunked stream", streamed(length: nil)),
                ]
                for (kind, requestBody) in bodies {
                    let request = try HTTPRequest(method: "PUT", url: nginx.url(path, tls: tls), body: requestBody)
                    let response = try client.execute(request, timeout: .seconds(30))
                    sent += 1
                    XCTAssertEqual(response.status, 413, "\(kind) to \(path), tls \(tls)")
                    XCTAssertTrue(String(decoding: response.body, as: UTF8.self).contains("413 Request Entity Too Large"),
                                  "\(kind) to \(path), tls \(tls): nginx's body is returned too")
                }
            }
        }
        XCTAssertEqual(client.connectionsOpened, sent, "a connection whose upload was cut short is not reused")
        let refused = nginx.accessLog(waitingFor: sent) { $0.status == 413 }
        XCTAssertEqual(refused.count, sent)
        // The connection that follows works as usual.
        XCTAssertEqual(try client.execute(try HTTPRequest(url: nginx.url("/hello.txt")), timeout: .seconds(10)).status, 200)
    }
}
