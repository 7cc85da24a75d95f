import Foundation
import ToolboxCore
import XCTest

@testable import AzureAuth
import AzureAuthVerification

/// Every vector in shared/protocol/http/test_vectors.json and the SAS table of connection-sasl-cbs.md.
final class SigningVectorTests: XCTestCase {
    static let cosmosKey = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
    static let storageKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    private func vectors(_ section: String) throws -> [[String: Any]] {
        let root = try JSONSerialization.jsonObject(with: Data(httpTestVectorsJSON.utf8)) as? [String: Any]
        let list = try XCTUnwrap(root?[section] as? [[String: Any]])
        XCTAssertFalse(list.isEmpty)
        return list
    }

    /// `2030-01-01 01:00:00+00:00` (Python's str(datetime)) as UNIX seconds.
    private func pythonDate(_ text: String) throws -> Int {
        let iso = text.replacingOccurrences(of: " ", with: "T").replacingOccurrences(of: "+00:00", with: "Z")
        return try XCTUnwrap(UTCDate.parseISO8601(iso), text)
    }

    func testCosmosVectors() throws {
        let signer = try CosmosMasterKeySigner(key: Secret(Self.cosmosKey))
        let list = try vectors("cosmos")
        XCTAssertEqual(list.count, 11)
        for vector in list {
            let desc = vector["desc"] as? String ?? "?"
            let verb = try XCTUnwrap(vector["verb"] as? String)
            let type = try XCTUnwrap(vector["resourceType"] as? String)
            let link = try XCTUnwrap(vector["resourceLink"] as? String)
            let date = try XCTUnwrap(vector["x-ms-date"] as? String)
            XCTAssertEqual(
                CosmosMasterKeySigner.stringToSign(verb: verb, resourceType: type, resourceLink: link, date: date),
                vector["string_to_sign"] as? String, desc)
            XCTAssertEqual(
                signer.authorizationToken(verb: verb, resourceType: type, resourceLink: link, date: date).exposedValue,
                vector["token"] as? String, desc)
            XCTAssertEqual(
                signer.authorizationHeader(verb: verb, resourceType: type, resourceLink: link, date: date).exposedValue,
                vector["authorization_header_on_wire"] as? String, desc)
            let wire = try XCTUnwrap(vector["authorization_header_on_wire"] as? String)
            XCTAssertTrue(signer.verify(header: wire, verb: verb, resourceType: type, resourceLink: link, date: date))
            XCTAssertFalse(signer.verify(header: wire, verb: verb, resourceType: type, resourceLink: link + "x",
                date: date), desc)
        }
    }

    func testSharedKeyVectors() throws {
        let list = try vectors("shared_key")
        XCTAssertEqual(list.count, 6)
        for vector in list {
            let desc = vector["desc"] as? String ?? "?"
            let account = try XCTUnwrap(vector["account"] as? String)
            let signer = try StorageSharedKeySigner(accountName: account, accountKey: Secret(Self.storageKey))
            let method = try XCTUnwrap(vector["method"] as? String)
            let url = try XCTUnwrap(vector["url"] as? String)
            let headers = try XCTUnwrap(vector["headers"] as? [String: String]).map { ($0.key, $0.value) }
            XCTAssertEqual(
                signer.stringToSign(method: method, url: url, headers: headers), vector["string_to_sign"] as? String,
                desc)
            XCTAssertEqual(
                signer.authorization(method: method, url: url, headers: headers).exposedValue,
                vector["authorization"] as? String, desc)
        }
    }

    private func builder(_ inputs: [String: Any]) throws -> BlobSASBuilder {
        var sas = BlobSASBuilder(
            accountName: try XCTUnwrap(inputs["account_name"] as? String),
            containerName: try XCTUnwrap(inputs["container_name"] as? String),
            blobName: inputs["blob_name"] as? String,
            permissions: try XCTUnwrap(inputs["permission"] as? String),
            expiry: try pythonDate(try XCTUnwrap(inputs["expiry"] as? String)))
        sas.start = try (inputs["start"] as? String).map(pythonDate)
        sas.signedProtocol = inputs["protocol"] as? String
        sas.contentType = inputs["content_type"] as? String
        return sas
    }

    func testServiceSASVectors() throws {
        let list = try vectors("service_sas")
        XCTAssertEqual(list.count, 3)
        for vector in list {
            let desc = vector["desc"] as? String ?? "?"
            let sas = try builder(try XCTUnwrap(vector["inputs"] as? [String: Any]))
            XCTAssertEqual(sas.stringToSign(), vector["string_to_sign"] as? String, desc)
            XCTAssertEqual(try sas.token(accountKey: Secret(Self.storageKey)).exposedValue, vector["token"] as? String,
                desc)
        }
    }

    func testUserDelegationSASVectors() throws {
        let list = try vectors("user_delegation_sas")
        XCTAssertEqual(list.count, 2)
        for vector in list {
            let desc = vector["desc"] as? String ?? "?"
            let inputs = try XCTUnwrap(vector["inputs"] as? [String: Any])
            let keyFields = try XCTUnwrap(inputs["user_delegation_key"] as? [String: Any])
            let key = UserDelegationKey(
                signedObjectID: try XCTUnwrap(keyFields["signed_oid"] as? String),
                signedTenantID: try XCTUnwrap(keyFields["signed_tid"] as? String),
                signedStart: try XCTUnwrap(keyFields["signed_start"] as? String),
                signedExpiry: try XCTUnwrap(keyFields["signed_expiry"] as? String),
                signedService: try XCTUnwrap(keyFields["signed_service"] as? String),
                signedVersion: try XCTUnwrap(keyFields["signed_version"] as? String),
                signedDelegatedUserTenantID: keyFields["signed_delegated_user_tid"] as? String,
                value: Secret(try XCTUnwrap(keyFields["value"] as? String)))
            let sas = try builder(inputs)
            XCTAssertEqual(sas.stringToSign(userDelegationKey: key), vector["string_to_sign"] as? String, desc)
            XCTAssertEqual(try sas.token(userDelegationKey: key).exposedValue, vector["token"] as? String, desc)
        }
    }

    /// connection-sasl-cbs.md §3, computed by azure-eventhub/azure-servicebus `generate_sas_token`.
    func testEventHubsServiceBusSASVectors() {
        let key1 = "dGVzdGtleS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc4OQ=="
        let cases: [(String, String, String, Int, String, String, String)] = [
            ("sb://myns.servicebus.windows.net/eh1", "RootManageSharedAccessKey", key1, 1_700_000_000,
             "sb%3A%2F%2Fmyns.servicebus.windows.net%2Feh1\n1700000000",
             "xw+B627/qnnvpa9mLPddv6UOdGkNzF7pvchmcik3G8o=",
             "SharedAccessSignature sr=sb%3A%2F%2Fmyns.servicebus.windows.net%2Feh1&sig=xw%2BB627%2Fqnnvpa9mLPddv6UOdGkNzF7pvchmcik3G8o%3D&se=1700000000&skn=RootManageSharedAccessKey"),
            ("sb://myns.servicebus.windows.net/orders", "send-only", "abc+/=DEF", 1_893_456_000,
             "sb%3A%2F%2Fmyns.servicebus.windows.net%2Forders\n1893456000",
             "KBkK9uf3aW6Nx5rADALi46fjAvchBBvrp3hs/8a422k=",
             "SharedAccessSignature sr=sb%3A%2F%2Fmyns.servicebus.windows.net%2Forders&sig=KBkK9uf3aW6Nx5rADALi46fjAvchBBvrp3hs%2F8a422k%3D&se=1893456000&skn=send-only"),
            ("sb://localhost:5673/eh1", "RootManageSharedAccessKey", key1, 1_700_000_000,
             "sb%3A%2F%2Flocalhost%3A5673%2Feh1\n1700000000",
             "r3rqC1XCu2ZPuPpk8SVDuCyXUzyVgb7jYoql9H9PmqI=",
             "SharedAccessSignature sr=sb%3A%2F%2Flocalhost%3A5673%2Feh1&sig=r3rqC1XCu2ZPuPpk8SVDuCyXUzyVgb7jYoql9H9PmqI%3D&se=1700000000&skn=RootManageSharedAccessKey"),
        ]
        for (audience, name, key, expiry, stringToSign, signature, token) in cases {
            XCTAssertEqual(SharedAccessSignature.stringToSign(audience: audience, expiry: expiry), stringToSign)
            XCTAssertEqual(SharedAccessSignature.signature(audience: audience, key: Secret(key), expiry: expiry),
                signature)
            let built = SharedAccessSignature.token(audience: audience, keyName: name, key: Secret(key), expiry: expiry)
            XCTAssertEqual(built.exposedValue, token)
            XCTAssertTrue(SharedAccessSignature.verify(token, key: Secret(key), now: expiry - 1))
            XCTAssertFalse(SharedAccessSignature.verify(token, key: Secret(key), now: expiry), "expired")
            XCTAssertFalse(SharedAccessSignature.verify(token, key: Secret(key + "x"), now: expiry - 1), "wrong key")
            let parsed = SharedAccessSignature.parse(token)
            XCTAssertEqual(parsed?.resource, audience)
            XCTAssertEqual(parsed?.keyName, name)
            XCTAssertEqual(parsed?.signature, signature)
        }
    }

    func testCryptoPrimitivesAgainstKnownAnswers() {
        // RFC 4231 test case 2 and the FIPS 180-2 "abc" digest.
        XCTAssertEqual(
            AuthCrypto.hex(AuthCrypto.hmacSHA256(key: Array("Jefe".utf8), message: "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(AuthCrypto.sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(AuthCrypto.hex(AuthCrypto.hmacSHA256(key: [], message: "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        XCTAssertEqual(AuthCrypto.base64(Array("hello".utf8)), "aGVsbG8=")
        XCTAssertEqual(AuthCrypto.base64Decode("aGVsbG8="), Array("hello".utf8))
        XCTAssertNil(AuthCrypto.base64Decode("not base64!"))
        XCTAssertEqual(AuthCrypto.randomBytes(16).count, 16)
    }

    func testDateFormats() {
        XCTAssertEqual(UTCDate.rfc1123(1_893_456_000), "Tue, 01 Jan 2030 00:00:00 GMT")
        XCTAssertEqual(UTCDate.iso8601(1_893_459_600), "2030-01-01T01:00:00Z")
        XCTAssertEqual(UTCDate.parseISO8601("2030-01-01T01:00:00Z"), 1_893_459_600)
        XCTAssertNil(UTCDate.parseISO8601("2030-01-01 01:00:00"))
    }

    func testInvalidKeysAreTypedErrors() {
        XCTAssertThrowsError(try CosmosMasterKeySigner(key: Secret("%%%"))) {
            XCTAssertEqual(($0 as? AuthError)?.code, .invalidKey)
        }
        XCTAssertThrowsError(try StorageSharedKeySigner(accountName: "a", accountKey: Secret("%%%"))) {
            XCTAssertEqual(($0 as? AuthError)?.code, .invalidKey)
        }
    }
}

final class BlobSASVerifierTests: XCTestCase {
    let key = Secret(SigningVectorTests.storageKey)
    let udKey = Secret("KugMq8jkzpwcio5Mh0uPo344VYA6fS0eaGVxJO8oxXk=")
    let beforeExpiry = 1_893_456_600  // 2030-01-01T00:10:00Z

    /// The SDK's own tokens from test_vectors.json verify; tampered, expired or early ones do not.
    func testVectorsVerifyAndTamperingIsCaught() {
        let service = "se=2030-01-01T01%3A00%3A00Z&sp=r&sv=2026-10-06&sr=b&sig=fO92DvhOczgmvIIQ51s/wZwgHwiANyHxObHm6QH5Uio%3D"
        XCTAssertEqual(BlobSASVerifier.verify(query: service, accountName: "devstoreaccount1", containerName: "ctr1",
            blobName: "dir/small file.txt", accountKey: key, now: beforeExpiry), .valid)
        XCTAssertEqual(BlobSASVerifier.verify(query: service.replacingOccurrences(of: "sp=r", with: "sp=rw"),
            accountName: "devstoreaccount1", containerName: "ctr1", blobName: "dir/small file.txt", accountKey: key,
            now: beforeExpiry), .signatureMismatch)
        XCTAssertEqual(BlobSASVerifier.verify(query: service, accountName: "devstoreaccount1", containerName: "ctr1",
            blobName: "other.txt", accountKey: key, now: beforeExpiry), .signatureMismatch)
        XCTAssertEqual(BlobSASVerifier.verify(query: service, accountName: "devstoreaccount1", containerName: "ctr1",
            blobName: "dir/small file.txt", accountKey: key, now: 1_893_459_600), .expired)

        let withStart = "st=2030-01-01T00%3A00%3A00Z&se=2030-01-01T01%3A00%3A00Z&sp=rcw&spr=https&sv=2026-10-06&sr=b&rsct=text/plain&sig=d3seak2hYetqsTuojMUSYcce3WJCMuq/rOY64BCrIQI%3D"
        XCTAssertEqual(BlobSASVerifier.verify(query: withStart, accountName: "devstoreaccount1", containerName: "ctr1",
            blobName: "reports/r1.txt", accountKey: key, now: beforeExpiry), .valid)
        XCTAssertEqual(BlobSASVerifier.verify(query: withStart, accountName: "devstoreaccount1", containerName: "ctr1",
            blobName: "reports/r1.txt", accountKey: key, now: 1_893_455_000), .notYetValid)

        let container = "se=2030-01-01T01%3A00%3A00Z&sp=rl&sv=2026-10-06&sr=c&sig=Pp1xBHUlmlUfh/IWVT2KjYtnZmFTTwDY2KPYc3Eqqk8%3D"
        XCTAssertEqual(BlobSASVerifier.verify(query: container, accountName: "devstoreaccount1", containerName: "ctr1",
            blobName: nil, accountKey: key, now: beforeExpiry), .valid)

        let delegated = "st=2030-01-01T00%3A00%3A00Z&se=2030-01-01T01%3A00%3A00Z&sp=r&spr=https&sv=2026-10-06&sr=b&skoid=11111111-2222-3333-4444-555555555555&sktid=66666666-7777-8888-9999-000000000000&skt=2030-01-01T00%3A00%3A00Z&ske=2030-01-02T00%3A00%3A00Z&sks=b&skv=2026-10-06&sig=XsunFWDQ5j/2x1GsM/aQuygtubHlS6EpGJaAcfPF5cE%3D"
        XCTAssertEqual(BlobSASVerifier.verify(query: delegated, accountName: "devstoreaccount1", containerName: "tbctr",
            blobName: "reports/r1.txt", accountKey: key, userDelegationKeyValue: udKey, now: beforeExpiry), .valid)
        XCTAssertEqual(BlobSASVerifier.verify(query: delegated, accountName: "devstoreaccount1", containerName: "tbctr",
            blobName: "reports/r1.txt", accountKey: key, userDelegationKeyValue: key, now: beforeExpiry),
            .signatureMismatch)
        XCTAssertEqual(BlobSASVerifier.verify(query: "sp=r", accountName: "a", containerName: "c", blobName: nil,
            accountKey: key, now: 0), .malformed("a SAS needs sig, se, sp, sv and sr"))
    }
}

final class CosmosResourcePathTests: XCTestCase {
    /// The table in shared/protocol/http/cosmos.md §2.1.
    func testPathsMapToSignedResources() throws {
        let cases: [(String, String, String)] = [
            ("/", "", ""),
            ("/dbs", "dbs", ""),
            ("/dbs/testdb/", "dbs", "dbs/testdb"),
            ("/dbs/testdb/colls/", "colls", "dbs/testdb"),
            ("/dbs/testdb/colls/testcoll/pkranges/", "pkranges", "dbs/testdb/colls/testcoll"),
            ("/dbs/testdb/colls/testcoll/docs/", "docs", "dbs/testdb/colls/testcoll"),
            ("/dbs/testdb/colls/testcoll/docs/item%201/", "docs", "dbs/testdb/colls/testcoll/docs/item 1"),
            ("/dbs/testdb/colls/testcoll/docs/item%201?x=1", "docs", "dbs/testdb/colls/testcoll/docs/item 1"),
        ]
        for (path, type, link) in cases {
            let resource = CosmosResourcePath.resource(forPath: path)
            XCTAssertEqual(resource.type, type, path)
            XCTAssertEqual(resource.link, link, path)
        }
        let signer = try CosmosMasterKeySigner(key: Secret(SigningVectorTests.cosmosKey))
        XCTAssertEqual(
            signer.authorizationHeader(verb: "GET", path: "/dbs/testdb/colls/testcoll/docs/item%201/",
                                       date: "Tue, 01 Jan 2030 00:00:00 GMT").exposedValue,
            "type%3Dmaster%26ver%3D1.0%26sig%3DjrwWSgRYp%2BLy5ZHnExJ3PhDr92jzXJk0r7bhoCmXOn4%3D")
        XCTAssertEqual(CosmosResourcePath.aadAuthorizationHeader(token: Secret("eyJ.a.b")).exposedValue,
            "type=aad&ver=1.0&sig=eyJ.a.b")
    }
}
