import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// Every Blob credential is checked: Shared Key, bearer, service SAS and user-delegation SAS; wrong ones get
/// Azure's 403 `AuthenticationFailed` XML.
final class BlobAuthTests: XCTestCase {
    private let wrongKey = AuthCrypto.base64(Array(repeating: 7, count: 64))

    private func putSmall(_ blob: BlobTestClient, _ path: String = "/ctr/dir/a%20b.txt", body: [UInt8] = Array("secret data".utf8)) throws {
        let response = try blob.send("PUT", path, headers: [("x-ms-blob-type", "BlockBlob")], body: body)
        XCTAssertEqual(response.status, 201, blob.text(response))
    }

    func testWrongSharedKeyMissingAuthAndStaleDateAreRefusedInAzuresShape() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let wrong = try blob.send("PUT", "/ctr/x", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-client-request-id", "req-1")],
                                  body: [1], auth: .sharedKeyWith(accountKey: wrongKey))
        XCTAssertEqual(wrong.status, 403)
        XCTAssertEqual(wrong.errorCode, "AuthenticationFailed")
        XCTAssertNotNil(wrong.headers.first(name: "x-ms-request-id"))
        XCTAssertEqual(wrong.headers.first(name: "x-ms-version"), "2026-10-06")
        XCTAssertEqual(wrong.headers.first(name: "x-ms-client-request-id"), "req-1")
        XCTAssertEqual(wrong.headers.first(name: "Content-Type"), "application/xml")
        let text = blob.text(wrong)
        XCTAssertTrue(text.hasPrefix(#"<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>"#), text)
        XCTAssertFalse(text.contains(EmulatorWellKnown.blobAccountKey), "the key never appears")
        XCTAssertFalse(text.contains(wrongKey))
        XCTAssertNil(emulator.blobContent(container: "ctr", blob: "x"))

        let anonymous = try blob.send("GET", "/ctr?restype=container", auth: .none)
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertEqual(anonymous.errorCode, "NoAuthenticationInformation")
        let stale = try blob.send("GET", "/ctr?restype=container", date: UTCDate.nowUnixSeconds() - 3600)
        XCTAssertEqual(stale.errorCode, "AuthenticationFailed")
        let otherAccount = try blob.send("GET", "/ctr?restype=container", headers: [("Authorization", "SharedKey other:AAAA")], auth: .none)
        XCTAssertEqual(otherAccount.errorCode, "AuthenticationFailed")
        XCTAssertEqual(try blob.send("GET", "/ctr?restype=container", headers: [("Authorization", "Basic abc")], auth: .none).errorCode,
                       "AuthenticationFailed")

        // A signature over a different path does not carry over.
        let signer = try StorageSharedKeySigner(accountName: "devstoreaccount1", accountKey: Secret(EmulatorWellKnown.blobAccountKey))
        let date = UTCDate.rfc1123(UTCDate.nowUnixSeconds())
        let headers = [("x-ms-date", date), ("x-ms-version", "2026-10-06")]
        let signedForOther = signer.authorization(method: "GET", url: blob.base + "/other?restype=container", headers: headers)
        let replayed = try blob.client.execute(try HTTPRequest(url: blob.base + "/ctr?restype=container",
                                                                headers: HTTPHeaders(headers + [("Authorization", signedForOther.exposedValue)])), timeout: .seconds(10))
        XCTAssertEqual(replayed.errorCode, "AuthenticationFailed")
        XCTAssertTrue(String(decoding: replayed.body, as: UTF8.self).contains("/devstoreaccount1/devstoreaccount1/ctr"),
                      "the error names the string the server signed")

        // ... but not the credentials a copy request carries in its signed headers.
        let copy = try blob.send("PUT", "/ctr/copy", headers: [
            ("x-ms-blob-type", "BlockBlob"), ("x-ms-copy-source", "http://127.0.0.1:1/devstoreaccount1/ctr/a?sig=SOURCESECRET"),
            ("x-ms-copy-source-authorization", "Bearer TOKENSECRET"),
        ], auth: .sharedKeyWith(accountKey: wrongKey))
        XCTAssertEqual(copy.errorCode, "AuthenticationFailed")
        let copyText = blob.text(copy)
        XCTAssertFalse(copyText.contains("SOURCESECRET") || copyText.contains("TOKENSECRET"), copyText)
        XCTAssertTrue(copyText.contains("x-ms-copy-source-authorization:&lt;redacted&gt;"), copyText)
    }

    func testBearerTokensFromTheEmulatorsIssuer() throws {
        let emulator = try startBlobEmulator(https: true)
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator, secure: true)
        let token = emulator.issueToken(forScope: "https://storage.azure.com/.default").token.exposedValue
        XCTAssertEqual(try blob.send("PUT", "/ctr/t.txt", headers: [("x-ms-blob-type", "BlockBlob")], body: [1], auth: .bearer(token)).status, 201)
        XCTAssertEqual(try blob.send("GET", "/ctr/t.txt", auth: .bearer(token)).body, [1])

        let eventHubsToken = emulator.issueToken(forScope: "https://eventhubs.azure.net//.default").token.exposedValue
        XCTAssertEqual(try blob.send("GET", "/ctr/t.txt", auth: .bearer(eventHubsToken)).errorCode, "AuthenticationFailed")
        var other = EmulatorConfiguration()
        other.key = Secret("another-namespace-key")
        let foreign = EmulatorHTTPContext(configuration: other).issueToken(audience: "https://storage.azure.com/", lifetime: 600)
        XCTAssertEqual(try blob.send("GET", "/ctr/t.txt", auth: .bearer(foreign)).errorCode, "AuthenticationFailed")
        let expired = EmulatorHTTPContext(configuration: emulator.configuration)
            .issueToken(audience: "https://storage.azure.com/", lifetime: 60, now: UTCDate.nowUnixSeconds() - 3600)
        XCTAssertEqual(try blob.send("GET", "/ctr/t.txt", auth: .bearer(expired)).errorCode, "AuthenticationFailed")
    }

    func testServiceSASChecksSignatureExpiryPermissionResourceAndProtocol() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        try putSmall(blob)
        let key = emulator.configuration.blobAccountKey
        let now = UTCDate.nowUnixSeconds()
        func sas(_ permissions: String, blobName: String? = "dir/a b.txt", expiry: Int? = nil, start: Int? = nil,
                 signedProtocol: String? = nil) throws -> String {
            var builder = BlobSASBuilder(accountName: "devstoreaccount1", containerName: "ctr", blobName: blobName,
                                         permissions: permissions, expiry: expiry ?? now + 3600, start: start, signedProtocol: signedProtocol)
            builder.version = "2026-10-06"
            return try builder.token(accountKey: key).exposedValue
        }

        let read = try blob.send("GET", "/ctr/dir/a%20b.txt?" + sas("r"), auth: .none)
        XCTAssertEqual(read.status, 200)
        XCTAssertEqual(read.body, Array("secret data".utf8))

        let good = try sas("r")
        let tampered = good.replacingOccurrences(of: "sp=r", with: "sp=rw")
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + tampered, auth: .none).errorCode, "AuthenticationFailed")
        let badSig = good.replacingOccurrences(of: "sig=", with: "sig=AA")
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + badSig, auth: .none).errorCode, "AuthenticationFailed")
        let expired = try blob.send("GET", "/ctr/dir/a%20b.txt?" + sas("r", expiry: now - 60), auth: .none)
        XCTAssertEqual(expired.status, 403)
        XCTAssertEqual(expired.errorCode, "AuthenticationFailed")
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + sas("r", expiry: now + 7200, start: now + 3600), auth: .none).errorCode,
                       "AuthenticationFailed")

        let readOnlyWrite = try blob.send("PUT", "/ctr/dir/a%20b.txt?" + sas("r"), headers: [("x-ms-blob-type", "BlockBlob")], body: [1], auth: .none)
        XCTAssertEqual(readOnlyWrite.status, 403)
        XCTAssertEqual(readOnlyWrite.errorCode, "AuthorizationPermissionMismatch")
        XCTAssertEqual(try blob.send("DELETE", "/ctr/dir/a%20b.txt?" + sas("r"), auth: .none).errorCode, "AuthorizationPermissionMismatch")
        XCTAssertEqual(try blob.send("GET", "/ctr/other.txt?" + sas("r"), auth: .none).errorCode, "AuthenticationFailed",
                       "a blob SAS is signed for one blob")
        XCTAssertEqual(try blob.send("GET", "/ctr?restype=container&comp=list&" + sas("rl"), auth: .none).errorCode,
                       "AuthorizationResourceTypeMismatch", "listing needs a container SAS")
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + sas("r", signedProtocol: "https"), auth: .none).errorCode,
                       "AuthorizationProtocolMismatch")
        var withPolicy = BlobSASBuilder(accountName: "devstoreaccount1", containerName: "ctr", blobName: "dir/a b.txt",
                                        permissions: "r", expiry: now + 3600)
        withPolicy.identifier = "policy1"
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + withPolicy.token(accountKey: key).exposedValue, auth: .none).errorCode,
                       "AuthenticationFailed", "no stored access policies")
        // Create-only may not overwrite.
        XCTAssertEqual(try blob.send("PUT", "/ctr/dir/a%20b.txt?" + sas("c"), headers: [("x-ms-blob-type", "BlockBlob")], body: [1], auth: .none).errorCode,
                       "AuthorizationPermissionMismatch")
        XCTAssertEqual(try blob.send("PUT", "/ctr/new.txt?" + sas("c", blobName: "new.txt"), headers: [("x-ms-blob-type", "BlockBlob")],
                                     body: [1], auth: .none).status, 201)

        let containerSAS = try sas("rwdl", blobName: nil)
        let listed = try blob.send("GET", "/ctr?restype=container&comp=list&" + containerSAS, auth: .none)
        XCTAssertEqual(listed.status, 200)
        XCTAssertTrue(blob.text(listed).contains("<Name>dir/a b.txt</Name>"))
        XCTAssertEqual(try blob.send("PUT", "/ctr/c.txt?" + containerSAS, headers: [("x-ms-blob-type", "BlockBlob")], body: [3], auth: .none).status, 201)
        XCTAssertEqual(try blob.send("DELETE", "/ctr/c.txt?" + containerSAS, auth: .none).status, 202)
        XCTAssertEqual(try blob.send("GET", "/?comp=list&" + containerSAS, auth: .none).errorCode, "AuthorizationResourceTypeMismatch")
        XCTAssertEqual(try blob.send("GET", "/other/dir/a%20b.txt?" + containerSAS, auth: .none).status, 403)
    }

    func testUserDelegationKeyAndUserDelegationSAS() throws {
        let emulator = try startBlobEmulator(https: true)
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator, secure: true)
        try putSmall(blob)
        let token = emulator.issueToken(forScope: "https://storage.azure.com/.default").token.exposedValue
        let now = UTCDate.nowUnixSeconds()
        let keyInfo = "<?xml version='1.0' encoding='utf-8'?>\n<KeyInfo><Start>\(UTCDate.iso8601(now))</Start><Expiry>\(UTCDate.iso8601(now + 3600))</Expiry></KeyInfo>"
        let response = try blob.send("POST", "/?restype=service&comp=userdelegationkey", headers: [("Content-Type", "application/xml")],
                                     body: Array(keyInfo.utf8), auth: .bearer(token))
        XCTAssertEqual(response.status, 200, blob.text(response))
        let xml = blob.text(response)
        func field(_ name: String) -> String {
            xml.components(separatedBy: "<\(name)>").dropFirst().first.map { String($0.prefix { $0 != "<" }) } ?? ""
        }
        XCTAssertEqual(field("SignedTid"), emulator.configuration.tenantID)
        XCTAssertEqual(field("SignedStart"), UTCDate.iso8601(now))
        let key = UserDelegationKey(signedObjectID: field("SignedOid"), signedTenantID: field("SignedTid"), signedStart: field("SignedStart"),
                                    signedExpiry: field("SignedExpiry"), signedService: field("SignedService"),
                                    signedVersion: field("SignedVersion"), value: Secret(field("Value")))
        let builder = BlobSASBuilder(accountName: "devstoreaccount1", containerName: "ctr", blobName: "dir/a b.txt",
                                     permissions: "r", expiry: now + 1800)
        let sas = try builder.token(userDelegationKey: key).exposedValue
        let read = try blob.send("GET", "/ctr/dir/a%20b.txt?" + sas, auth: .none)
        XCTAssertEqual(read.status, 200)
        XCTAssertEqual(read.body, Array("secret data".utf8))

        // The key's fields are signed: a changed skoid or ske, or another key value, fails.
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + sas.replacingOccurrences(of: "skoid=e1a7", with: "skoid=ffff"), auth: .none).errorCode,
                       "AuthenticationFailed")
        var forged = key
        forged.value = Secret(AuthCrypto.base64(Array(repeating: 1, count: 32)))
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + builder.token(userDelegationKey: forged).exposedValue, auth: .none).errorCode,
                       "AuthenticationFailed")
        var expiredKey = key
        expiredKey.signedExpiry = UTCDate.iso8601(now - 10)
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt?" + builder.token(userDelegationKey: expiredKey).exposedValue, auth: .none).errorCode,
                       "AuthenticationFailed")
        var writer = builder
        writer.permissions = "r"
        XCTAssertEqual(try blob.send("PUT", "/ctr/dir/a%20b.txt?" + writer.token(userDelegationKey: key).exposedValue,
                                     headers: [("x-ms-blob-type", "BlockBlob")], body: [1], auth: .none).errorCode, "AuthorizationPermissionMismatch")

        // Get User Delegation Key is bearer-only, and validates its body.
        XCTAssertEqual(try blob.send("POST", "/?restype=service&comp=userdelegationkey", body: Array(keyInfo.utf8)).errorCode, "AuthenticationFailed")
        let tooLong = "<KeyInfo><Expiry>\(UTCDate.iso8601(now + 8 * 86400))</Expiry></KeyInfo>"
        XCTAssertEqual(try blob.send("POST", "/?restype=service&comp=userdelegationkey", body: Array(tooLong.utf8), auth: .bearer(token)).errorCode,
                       "InvalidXmlNodeValue")
        let past = "<KeyInfo><Expiry>\(UTCDate.iso8601(now - 8))</Expiry></KeyInfo>"
        XCTAssertEqual(try blob.send("POST", "/?restype=service&comp=userdelegationkey", body: Array(past.utf8), auth: .bearer(token)).errorCode,
                       "InvalidXmlNodeValue")
        XCTAssertEqual(try blob.send("POST", "/?restype=service&comp=userdelegationkey", body: Array("<Nope/>".utf8), auth: .bearer(token)).status, 400)
    }

    func testHostileSASPathsAndHeadersGetErrorsNotCrashes() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        try putSmall(blob)
        let hostileQueries = [
            "se=99999999999-01-01T00:00:00Z&sp=r&sv=2026-10-06&sr=b&sig=AAAA",
            "se=2030-13-45T99:99:99Z&sp=r&sv=2026-10-06&sr=b&sig=AAAA",
            "se=2030-01-01T00:00:00Z&st=-5-01-01T00:00:00Z&sp=r&sv=2026-10-06&sr=b&sig=AAAA",
            "se=2030-01-01T00:00:00Z&sp=r&sv=2026-10-06&sr=b&skoid=x&sktid=y&skt=99999999999-01-01T00:00:00Z&ske=2030-01-01T00:00:00Z&sks=b&skv=1&sig=AAAA",
            "se=2030-01-01T00:00:00Z&sp=r&sv=2026-10-06&sr=zz&sig=%ZZ%",
            "sig=&sig=&sig=",
        ]
        for query in hostileQueries {
            let response = try blob.send("GET", "/ctr/dir/a%20b.txt?" + query, auth: .none)
            XCTAssertEqual(response.status, 403, query)
            XCTAssertNotNil(response.errorCode, query)
        }
        XCTAssertEqual(try blob.send("GET", "/ctr/%FF%FE").status, 400, "a name that is not UTF-8")
        XCTAssertEqual(try blob.send("GET", "/ctr/" + String(repeating: "n", count: 1100)).errorCode, "InvalidResourceName")
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt", headers: [("If-Modified-Since", "Mon, 99 Foo 99999999999 25:61:61 GMT")]).status, 200)
        XCTAssertEqual(try blob.send("GET", "/ctr?restype=container&comp=list&maxresults=99999999999999999999999").status, 400)
        XCTAssertEqual(try blob.send("GET", "/?comp=list", headers: [("x-ms-date", "Mon, 01 Jan 99999999999 00:00:00 GMT")]).errorCode,
                       "AuthenticationFailed")
        XCTAssertEqual(try blob.send("PUT", "/ctr/b?comp=block&blockid=%%%", body: [1]).status, 400)
        XCTAssertEqual(try blob.send("PUT", "/ctr/b?comp=block&blockid=" + String(repeating: "QUFB", count: 30), body: [1]).status, 400)
        XCTAssertEqual(try blob.send("PATCH", "/ctr/dir/a%20b.txt").errorCode, "UnsupportedHttpVerb")
        XCTAssertEqual(try blob.send("GET", "/ctr?comp=list").errorCode, "InvalidQueryParameterValue", "restype=container is required")
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/a%20b.txt").status, 200, "the emulator still serves")
    }

    func testRefusedAuthenticationAndThrottlingFaultsUseBlobErrors() throws {
        let refusing = try startBlobEmulator { $0.faults.refuseAuthentication = true }
        defer { refusing.stop() }
        let refused = try BlobTestClient(emulator: refusing).send("GET", "/ctr?restype=container")
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(refused.errorCode, "AuthenticationFailed")

        let throttling = try startBlobEmulator { $0.faults.httpThrottleRate = 1 }
        defer { throttling.stop() }
        let busy = try BlobTestClient(emulator: throttling).send("GET", "/ctr?restype=container")
        XCTAssertEqual(busy.status, 503)
        XCTAssertEqual(busy.errorCode, "ServerBusy")
        XCTAssertTrue(String(decoding: busy.body, as: UTF8.self).contains("<Code>ServerBusy</Code>"))
    }
}

/// The emulator's checks accept the exact requests azure-storage-blob 12.31.1 sent (shared/protocol/http
/// transcripts/blob_http_sharedkey.md), evaluated at the time they were recorded.
final class BlobTranscriptAuthTests: XCTestCase {
    private let recorded = UTCDate.parseISO8601("2026-11-25T20:16:35Z") ?? 0

    private func request(_ method: String, _ target: String, _ headers: [(String, String)]) -> EmulatorHTTPRequest {
        EmulatorHTTPRequest(head: HTTPRequestHead(method: method, target: target, headers: HTTPHeaders(headers)), body: [],
                            isSecure: false, localPort: 10000, remoteAddress: nil)
    }

    private func sdkHeaders(_ requestID: String, _ signature: String?) -> [(String, String)] {
        var headers = [("Host", "127.0.0.1:10000"), ("x-ms-version", "2026-10-06"), ("Accept", "application/xml"),
                       ("User-Agent", "azsdk-python-storage-blob/12.31.1 Python/3.11.7 (Linux-6.18.44-fc-v669-x86_64-with-glibc2.36)"),
                       ("x-ms-date", "Wed, 25 Nov 2026 20:16:35 GMT"), ("x-ms-client-request-id", requestID)]
        if let signature { headers.append(("Authorization", "SharedKey devstoreaccount1:\(signature)")) }
        headers.append(("Accept-Encoding", "gzip, deflate"))
        return headers
    }

    func testRecordedSharedKeyAndServiceSASRequestsVerify() {
        let authorizer = BlobAuthorizer(context: EmulatorHTTPContext(configuration: EmulatorConfiguration()))
        func verdict(_ request: EmulatorHTTPRequest, _ operation: BlobOperation, blob: String?) -> Result<BlobCredentialKind, BlobError> {
            authorizer.authorize(request, operation: operation, container: "ctr1", blob: blob, now: recorded) { true }
        }
        var upload = sdkHeaders("1cce3050-e90d-11f1-947b-02fc00000001", "JmUeMEe6XdNrebpVGl9pdDjfZ9mZFbwMEEqBF42+nt8=")
        upload += [("Content-Length", "170"), ("x-ms-blob-type", "BlockBlob"), ("Content-Type", "application/octet-stream")]
        XCTAssertEqual(try verdict(request("PUT", "/devstoreaccount1/ctr1/dir/small%20file.txt", upload), .putBlob, blob: "dir/small file.txt").get(),
                       .sharedKey)
        let list = request("GET", "/devstoreaccount1/ctr1?restype=container&comp=list&prefix=dir/",
                           sdkHeaders("1cd516fe-e90d-11f1-947b-02fc00000001", "wNKktSwMgHKmuApLlkNDNpW6P42dKjKmboaCMjM1nOI="))
        XCTAssertEqual(try verdict(list, .listBlobs, blob: nil).get(), .sharedKey)
        let page = request("GET", "/devstoreaccount1/ctr1?restype=container&comp=list&marker=dir/small%20file.txt&maxresults=1",
                           sdkHeaders("1cd67b02-e90d-11f1-947b-02fc00000001", "yV/vqFbe8Na9mBk7jq+mvNaU8RyMaKamsGfJeEUbQps="))
        XCTAssertEqual(try verdict(page, .listBlobs, blob: nil).get(), .sharedKey)
        // One header changed after signing: refused.
        var tampered = sdkHeaders("1cd516fe-e90d-11f1-947b-02fc00000001", "wNKktSwMgHKmuApLlkNDNpW6P42dKjKmboaCMjM1nOI=")
        tampered[1] = ("x-ms-version", "2025-01-05")
        XCTAssertEqual(verdict(request("GET", "/devstoreaccount1/ctr1?restype=container&comp=list&prefix=dir/", tampered), .listBlobs,
                               blob: nil).failureCode, "AuthenticationFailed")

        let sas = request("GET", "/devstoreaccount1/ctr1/dir/small%20file.txt?se=2026-11-25T21:16:35Z&sp=r&sv=2026-10-06&sr=b&sig=mChnwEG7bniWWG6x7CYcaSiR4V1zVkcyKqMObrsLqfM%3D",
                          sdkHeaders("1cd7eba4-e90d-11f1-947b-02fc00000001", nil) + [("x-ms-range", "bytes=0-33554431")])
        XCTAssertEqual(try verdict(sas, .getBlob, blob: "dir/small file.txt").get(), .serviceSAS)
        XCTAssertEqual(verdict(sas, .getBlob, blob: "dir/other.txt").failureCode, "AuthenticationFailed")
        let later = authorizer.authorize(sas, operation: .getBlob, container: "ctr1", blob: "dir/small file.txt", now: recorded + 7200) { true }
        XCTAssertEqual(later.failureCode, "AuthenticationFailed", "expired an hour after it was recorded")
    }
}

extension Result where Failure == BlobError {
    var failureCode: String? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
