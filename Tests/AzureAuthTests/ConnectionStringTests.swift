import ToolboxCore
import XCTest

@testable import AzureAuth

final class ConnectionStringTests: XCTestCase {
    private let secretKey = "dGVzdGtleS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc4OQ=="

    func testEventHubsConnectionStringWithEveryKeyInAnyCase() throws {
        let cs = try MessagingConnectionString(parsing:
            "endpoint=sb://myns.servicebus.windows.net/;SHAREDACCESSKEYNAME=RootManageSharedAccessKey;"
                + "SharedAccessKey=\(secretKey);entitypath=eh1;UseDevelopmentEmulator=FALSE;")
        XCTAssertEqual(cs.host, "myns.servicebus.windows.net")
        XCTAssertNil(cs.port)
        XCTAssertEqual(cs.sharedAccessKeyName, "RootManageSharedAccessKey")
        XCTAssertEqual(cs.sharedAccessKey?.exposedValue, secretKey)
        XCTAssertEqual(cs.entityPath, "eh1")
        XCTAssertFalse(cs.useDevelopmentEmulator)
        XCTAssertEqual(cs.audience(), "sb://myns.servicebus.windows.net/eh1")
        XCTAssertEqual(try cs.sasToken(expiry: 1_700_000_000).exposedValue,
            "SharedAccessSignature sr=sb%3A%2F%2Fmyns.servicebus.windows.net%2Feh1&sig=xw%2BB627%2Fqnnvpa9mLPddv6UOdGkNzF7pvchmcik3G8o%3D&se=1700000000&skn=RootManageSharedAccessKey")
    }

    func testEmulatorConnectionStringKeepsPortInAudience() throws {
        let cs = try MessagingConnectionString(parsing:
            "Endpoint=sb://localhost:5673;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=\(secretKey);"
                + "UseDevelopmentEmulator=true")
        XCTAssertEqual(cs.host, "localhost")
        XCTAssertEqual(cs.port, 5673)
        XCTAssertTrue(cs.useDevelopmentEmulator)
        XCTAssertEqual(cs.audience(entity: "eh1"), "sb://localhost:5673/eh1")
        XCTAssertEqual(try cs.sasToken(entity: "eh1", expiry: 1_700_000_000).exposedValue,
            "SharedAccessSignature sr=sb%3A%2F%2Flocalhost%3A5673%2Feh1&sig=r3rqC1XCu2ZPuPpk8SVDuCyXUzyVgb7jYoql9H9PmqI%3D&se=1700000000&skn=RootManageSharedAccessKey")
    }

    func testSharedAccessSignatureConnectionString() throws {
        let sas = "SharedAccessSignature sr=x&sig=SECRETSIG&se=1&skn=k"
        let cs = try MessagingConnectionString(parsing: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=\(sas)")
        XCTAssertEqual(try cs.sasToken(expiry: 5).exposedValue, sas)
        XCTAssertFalse(cs.description.contains("SECRETSIG"))
    }

    private func assertError(
        _ text: String, _ code: AuthError.Code, naming key: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try MessagingConnectionString(parsing: text), file: file, line: line) { error in
            let authError = error as? AuthError
            XCTAssertEqual(authError?.code, code, file: file, line: line)
            XCTAssertTrue(authError?.message.contains(key) ?? false, "\(error) should name \(key)", file: file,
                line: line)
            XCTAssertFalse("\(error)".contains(secretKey), "error echoes the key", file: file, line: line)
            XCTAssertFalse("\(error)".contains("s3cr3t"), "error echoes a value", file: file, line: line)
        }
    }

    func testMessagingErrorsNameTheKeyWithoutEchoingSecrets() {
        assertError("SharedAccessKeyName=n;SharedAccessKey=\(secretKey)", .missingConnectionStringKey,
            naming: "'Endpoint'")
        assertError("Endpoint=sb://ns/;SharedAccessKeyName=n", .missingConnectionStringKey, naming: "'SharedAccessKey'")
        assertError("Endpoint=sb://ns/;SharedAccessKey=\(secretKey)", .missingConnectionStringKey,
            naming: "'SharedAccessKeyName'")
        assertError("Endpoint=sb://ns/", .missingConnectionStringKey, naming: "SharedAccessSignature")
        assertError("Endpoint=sb://ns/;SharedAccessKeyName=n;SharedAccessKey=\(secretKey);UseDevelopmentEmulator=s3cr3t",
            .invalidConnectionStringValue, naming: "'UseDevelopmentEmulator'")
        assertError("Endpoint=sb://ns:99999/;SharedAccessKeyName=n;SharedAccessKey=\(secretKey)",
            .invalidConnectionStringValue, naming: "'Endpoint'")
        assertError("Endpoint=sb://ns/;SharedAccessKeyName=n;s3cr3tWithoutEquals", .malformedConnectionString,
            naming: "segment 3")
        assertError("Endpoint=sb://ns/;sharedaccesskey=\(secretKey);SharedAccessKey=\(secretKey)",
            .malformedConnectionString, naming: "'SharedAccessKey'")
        assertError("  ", .malformedConnectionString, naming: "empty")
        assertError("", .malformedConnectionString, naming: "'Endpoint=sb://...;SharedAccessKeyName=...;")
    }

    func testStorageConnectionStringWithEveryKey() throws {
        let key = SigningVectorTests.storageKey
        let cs = try StorageConnectionString(parsing:
            "defaultendpointsprotocol=http;ACCOUNTNAME=myaccount;AccountKey=\(key);EndpointSuffix=core.chinacloudapi.cn")
        XCTAssertEqual(cs.accountName, "myaccount")
        XCTAssertEqual(cs.blobEndpoint, "http://myaccount.blob.core.chinacloudapi.cn")
        XCTAssertEqual(cs.endpointSuffix, "core.chinacloudapi.cn")
        XCTAssertEqual(try cs.sharedKeySigner().accountName, "myaccount")

        let explicit = try StorageConnectionString(parsing:
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;AccountName=devstoreaccount1;AccountKey=\(key)")
        XCTAssertEqual(explicit.blobEndpoint, "http://127.0.0.1:10000/devstoreaccount1")

        let sasOnly = try StorageConnectionString(parsing:
            "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=?sv=2026-10-06&sig=SECRETSIG")
        XCTAssertEqual(sasOnly.sharedAccessSignature?.exposedValue, "sv=2026-10-06&sig=SECRETSIG")
        XCTAssertNil(sasOnly.accountName)
        XCTAssertThrowsError(try sasOnly.sharedKeySigner())
        XCTAssertFalse(sasOnly.description.contains("SECRETSIG"))

        let dev = try StorageConnectionString(parsing: "UseDevelopmentStorage=true")
        XCTAssertEqual(dev.accountName, "devstoreaccount1")
        XCTAssertEqual(dev.accountKey?.exposedValue, key)
        XCTAssertEqual(dev.blobEndpoint, "http://127.0.0.1:10000/devstoreaccount1")
        XCTAssertTrue(dev.useDevelopmentStorage)
        XCTAssertFalse(dev.description.contains(key))
    }

    func testStorageErrors() {
        let cases: [(String, AuthError.Code, String)] = [
            ("AccountName=a", .missingConnectionStringKey, "'AccountKey'"),
            ("AccountKey=\(SigningVectorTests.storageKey)", .missingConnectionStringKey, "'AccountName'"),
            ("AccountName=a;AccountKey=s3cr3t!!", .invalidKey, "'AccountKey'"),
            ("DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey=\(SigningVectorTests.storageKey)",
             .invalidConnectionStringValue, "'DefaultEndpointsProtocol'"),
            ("UseDevelopmentStorage=yes", .invalidConnectionStringValue, "'UseDevelopmentStorage'"),
            ("SharedAccessSignature=sv=1&sig=s3cr3t", .missingConnectionStringKey, "'BlobEndpoint'"),
            // An empty one shows a storage connection string's shape, not another service's.
            (" ", .malformedConnectionString, "'DefaultEndpointsProtocol=https;AccountName=...;AccountKey=..."),
        ]
        for (text, code, key) in cases {
            XCTAssertThrowsError(try StorageConnectionString(parsing: text), text) { error in
                XCTAssertEqual((error as? AuthError)?.code, code, text)
                XCTAssertTrue("\(error)".contains(key), "\(error) should name \(key)")
                XCTAssertFalse("\(error)".contains("s3cr3t"))
                XCTAssertFalse("\(error)".contains(SigningVectorTests.storageKey))
            }
        }
    }

    func testDescriptionsRedactSecrets() throws {
        let cs = try MessagingConnectionString(parsing:
            "Endpoint=sb://ns/;SharedAccessKeyName=n;SharedAccessKey=\(secretKey)")
        for text in [cs.description, "\(cs)", String(reflecting: cs), dumpText(cs)] {
            XCTAssertFalse(text.contains(secretKey), text)
        }
        let signer = try CosmosMasterKeySigner(key: Secret(SigningVectorTests.cosmosKey))
        XCTAssertFalse(dumpText(signer).contains("C2y6"))
        let storage = try StorageSharedKeySigner(accountName: "a", accountKey: Secret(SigningVectorTests.storageKey))
        XCTAssertFalse(dumpText(storage).contains("Eby8"))
        XCTAssertFalse("\(storage)".contains("Eby8"))
    }
}

/// What `dump` prints, which walks stored properties through reflection.
func dumpText<T>(_ value: T) -> String {
    var text = ""
    dump(value, to: &text)
    return text
}

final class SASTokenProviderTests: XCTestCase {
    func testKeyBasedTokensLastOneHourAndVerify() throws {
        let key = "dGVzdGtleS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc4OQ=="
        let cs = try MessagingConnectionString(parsing:
            "Endpoint=sb://localhost:5673/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=\(key)")
        let clock = TestClock(1_700_000_000 - 3600)
        let provider = try SASTokenProvider(connectionString: cs, clock: clock.function)
        let (token, expiresOn) = try provider.token(forAudience: cs.audience(entity: "eh1"))
        XCTAssertEqual(expiresOn, 1_700_000_000)
        XCTAssertEqual(token.exposedValue,
            "SharedAccessSignature sr=sb%3A%2F%2Flocalhost%3A5673%2Feh1&sig=r3rqC1XCu2ZPuPpk8SVDuCyXUzyVgb7jYoql9H9PmqI%3D&se=1700000000&skn=RootManageSharedAccessKey")
        XCTAssertEqual(provider.refreshTime(forExpiry: expiresOn), 1_700_000_000 - 360)
        XCTAssertFalse("\(provider)".contains(key))
    }

    func testFixedSignatureIsReturnedUntilItExpires() throws {
        let sas = "SharedAccessSignature sr=sb%3A%2F%2Fns%2Feh&sig=abc%3D&se=1800000000&skn=p"
        let cs = try MessagingConnectionString(parsing: "Endpoint=sb://ns/;SharedAccessSignature=\(sas)")
        let clock = TestClock(1_799_999_000)
        let provider = try SASTokenProvider(connectionString: cs, clock: clock.function)
        XCTAssertEqual(try provider.token(forAudience: "ignored").expiresOn, 1_800_000_000)
        XCTAssertEqual(try provider.token(forAudience: "ignored").token.exposedValue, sas)
        clock.advance(1000)
        XCTAssertThrowsError(try provider.token(forAudience: "x")) {
            XCTAssertEqual(($0 as? AuthError)?.code, .authenticationFailed)
            XCTAssertFalse("\($0)".contains("abc%3D"))
        }
        let broken = try MessagingConnectionString(parsing: "Endpoint=sb://ns/;SharedAccessSignature=garbage")
        XCTAssertThrowsError(try SASTokenProvider(connectionString: broken)) {
            XCTAssertEqual(($0 as? AuthError)?.code, .invalidConnectionStringValue)
        }
    }
}
