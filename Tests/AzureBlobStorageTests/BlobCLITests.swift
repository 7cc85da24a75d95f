import AzureBlobStorage
import AzureAuth
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import ToolboxTransport
import XCTest

/// `toolbox blob …` and `toolbox bench blob` as a black box: flags, JSON keys, the error line and exit status.
final class BlobCLITests: XCTestCase {
    private func common(_ env: BlobTestEmulator) -> [String] {
        ["--connection-string", env.plainConnectionString, "--container", env.container, "--json", "--no-progress"]
    }

    func testUploadListDownloadSASCopyDelete() throws {
        let env = try BlobTestEmulator()
        let data = testBytes(300_000, seed: 31)
        let source = temporaryPath("cli-source.bin")
        let target = temporaryPath("cli-target.bin")
        defer {
            try? FileManager.default.removeItem(atPath: source)
            try? FileManager.default.removeItem(atPath: target)
        }
        try Data(data).write(to: URL(fileURLWithPath: source))

        let upload = try ToolboxCLI.run(["blob", "upload"] + common(env)
            + ["--name", "cli/a.bin", "--file", source, "--block-size", "65536", "--concurrency", "3"])
        XCTAssertEqual(upload.status, 0, upload.stderr)
        let uploaded = try upload.singleJSONObject()
        for key in ["name", "size", "etag", "seconds", "mb_per_sec"] { XCTAssertNotNil(uploaded[key], key) }
        XCTAssertEqual(uploaded["size"] as? Int, data.count)
        XCTAssertEqual(uploaded["blocks"] as? Int, 5)

        let again = try ToolboxCLI.run(["blob", "upload"] + common(env) + ["--name", "cli/a.bin", "--file", source])
        XCTAssertEqual(again.status, 1)
        let error = try XCTUnwrap(try again.singleJSONObject()["error"] as? [String: Any])
        XCTAssertEqual(error["status"] as? Int, 409)
        XCTAssertEqual(error["code"] as? String, "BlobAlreadyExists")
        XCTAssertNotNil(error["message"] as? String)
        XCTAssertFalse(again.stderr.isEmpty)
        XCTAssertEqual(try ToolboxCLI.run(["blob", "upload"] + common(env)
            + ["--name", "cli/a.bin", "--file", source, "--overwrite"]).status, 0)

        let list = try ToolboxCLI.run(["blob", "list"] + common(env) + ["--prefix", "cli/", "--page-size", "1"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let lines = list.jsonLines
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines.first?["name"] as? String, "cli/a.bin")
        for key in ["name", "size", "etag", "last_modified"] { XCTAssertNotNil(lines.first?[key], key) }
        XCTAssertEqual(lines.last?["count"] as? Int, 1)

        let download = try ToolboxCLI.run(["blob", "download"] + common(env)
            + ["--name", "cli/a.bin", "--file", target, "--concurrency", "4"])
        XCTAssertEqual(download.status, 0, download.stderr)
        let downloaded = try download.singleJSONObject()
        for key in ["name", "size", "sha256", "seconds", "mb_per_sec"] { XCTAssertNotNil(downloaded[key], key) }
        XCTAssertEqual(downloaded["sha256"] as? String, AuthCrypto.hex(AuthCrypto.sha256(data)))
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: target))), data)

        let ranged = try ToolboxCLI.run(["blob", "download"] + common(env)
            + ["--name", "cli/a.bin", "--file", target, "--range", "10-109"])
        XCTAssertEqual(try ranged.singleJSONObject()["size"] as? Int, 100)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: target))), Array(data[10...109]))
        let past = try ToolboxCLI.run(["blob", "download"] + common(env)
            + ["--name", "cli/a.bin", "--file", target, "--range", "900000-900010"])
        XCTAssertEqual(past.status, 1)
        XCTAssertEqual((try past.singleJSONObject()["error"] as? [String: Any])?["status"] as? Int, 416)
        // Hostile ranges: refused with the reason (the full 64-bit span used to trap on END - START + 1).
        for range in ["0-9223372036854775807", "5-2", "abc", "-1-5"] {
            let bad = try ToolboxCLI.run(["blob", "download"] + common(env)
                + ["--name", "cli/a.bin", "--file", target, "--range", range])
            XCTAssertNotEqual(bad.status, 0, range)
            XCTAssertTrue(bad.stderr.contains("--range"), "\(range): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains("toolbox blob download"), "usage of the subcommand: \(bad.stderr)")
        }

        let sas = try ToolboxCLI.run(["blob", "sas"] + common(env)
            + ["--name", "cli/a.bin", "--expiry-seconds", "600", "--permissions", "r"])
        XCTAssertEqual(sas.status, 0, sas.stderr)
        let signed = try sas.singleJSONObject()
        let url = try XCTUnwrap(signed["url"] as? String)
        XCTAssertTrue(url.contains("sp=r") && url.contains("sig="))
        XCTAssertNotNil(signed["expires_on"] as? Int)

        let copy = try ToolboxCLI.run(["blob", "upload-from-url"] + common(env)
            + ["--name", "cli/copy.bin", "--source-url", url])
        XCTAssertEqual(copy.status, 0, copy.stderr)
        let copied = try copy.singleJSONObject()
        XCTAssertEqual(copied["name"] as? String, "cli/copy.bin")
        XCTAssertNotNil(copied["etag"] as? String)

        let delete = try ToolboxCLI.run(["blob", "delete"] + common(env) + ["--name", "cli/copy.bin"])
        XCTAssertEqual(try delete.singleJSONObject()["deleted"] as? Bool, true)
        let missing = try ToolboxCLI.run(["blob", "delete"] + common(env) + ["--name", "cli/copy.bin"])
        XCTAssertEqual(missing.status, 1)
        let missingError = try XCTUnwrap(try missing.singleJSONObject()["error"] as? [String: Any])
        XCTAssertEqual(missingError["status"] as? Int, 404)
        XCTAssertEqual(missingError["code"] as? String, "BlobNotFound")
    }

    func testAccountURLWithCredentialAndUserDelegationSAS() throws {
        let env = try BlobTestEmulator()
        let emulator = env.emulator.emulator
        let environment = [
            "AZURE_TENANT_ID": emulator.configuration.tenantID, "AZURE_CLIENT_ID": emulator.configuration.clientID,
            "AZURE_CLIENT_SECRET": emulator.configuration.clientSecret.exposedValue,
        ]
        let base = ["--account-url", env.tlsEndpoint, "--credential", "client-secret",
                    "--authority-host", emulator.authorityHost ?? "", "--ca-file", env.caFile ?? "",
                    "--container", env.container, "--json"]
        try XCTSkipUnless(try entraTokenEndpointAnswers(env),
                          "this emulator has no Entra ID token endpoint yet (branch eventgrid-entra)")
        let source = temporaryPath("udk.txt")
        defer { try? FileManager.default.removeItem(atPath: source) }
        try Data("udk".utf8).write(to: URL(fileURLWithPath: source))
        let upload = try ToolboxCLI.run(["blob", "upload"] + base + ["--name", "udk.txt", "--file", source],
                                        environment: environment)
        XCTAssertEqual(upload.status, 0, upload.stderr)
        let sas = try ToolboxCLI.run(["blob", "sas"] + base + ["--name", "udk.txt", "--user-delegation"],
                                     environment: environment)
        XCTAssertEqual(sas.status, 0, sas.stderr)
        XCTAssertTrue((try sas.singleJSONObject()["url"] as? String)?.contains("skoid=") ?? false)
    }

    /// Whether the emulator serves `<authority>/<tenant>/oauth2/v2.0/token` (anything but 404).
    private func entraTokenEndpointAnswers(_ env: BlobTestEmulator) throws -> Bool {
        let emulator = env.emulator.emulator
        var configuration = HTTPClientConfiguration()
        configuration.tls.trustRoots = .file(env.caFile ?? "")
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        let url = "\(emulator.authorityHost ?? "")/\(emulator.configuration.tenantID)/oauth2/v2.0/token"
        let response = try client.execute(try HTTPRequest(method: "POST", url: url, body: .bytes([])), timeout: .seconds(10))
        return response.status != 404
    }

    func testValidationAndBench() throws {
        let env = try BlobTestEmulator()
        let neither = try ToolboxCLI.run(["blob", "list", "--container", "ctr1"])
        XCTAssertNotEqual(neither.status, 0)
        let badURL = try ToolboxCLI.run(["blob", "list", "--account-url", "ftp://nowhere", "--container", "ctr1"])
        XCTAssertEqual(badURL.status, 1)
        XCTAssertNotNil(try badURL.singleJSONObject()["error"])

        for operation in ["upload", "download"] {
            let bench = try ToolboxCLI.run(["bench", "blob"] + common(env)
                + ["--operation", operation, "--size", "200000", "--count", "6", "--concurrency", "3"])
            XCTAssertEqual(bench.status, 0, bench.stderr)
            let summary = try bench.singleJSONObject()
            for key in ["operation", "size", "count", "mb_per_sec", "p50_ms", "p99_ms", "errors", "max_rss_mb"] {
                XCTAssertNotNil(summary[key], "\(operation): \(key)")
            }
            XCTAssertEqual(summary["errors"] as? Int, 0)
            XCTAssertEqual(summary["operation"] as? String, operation)
        }
        // --file: uploads stream from the file, downloads to FILE.<n> (removed); the file must hold --size bytes.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data((0..<300_000).map { UInt8($0 % 251) })))
        for operation in ["upload", "download"] {
            let bench = try ToolboxCLI.run(["bench", "blob"] + common(env)
                + ["--operation", operation, "--size", "300000", "--count", "4", "--concurrency", "2", "--file", file,
                   "--warmup", "2"])
            XCTAssertEqual(bench.status, 0, bench.stderr)
            let summary = try bench.singleJSONObject()
            XCTAssertEqual(summary["errors"] as? Int, 0, operation)
            XCTAssertEqual(summary["count"] as? Int, 4, "warm-up transfers are not counted")
            XCTAssertEqual(summary["streamed"] as? Bool, true, operation)
            XCTAssertFalse(FileManager.default.fileExists(atPath: file + ".0"), "downloads are removed")
            XCTAssertFalse(FileManager.default.fileExists(atPath: file + ".warm-0"), "warm-up downloads are removed")
        }
        let negativeWarmup = try ToolboxCLI.run(["bench", "blob"] + common(env)
            + ["--operation", "upload", "--size", "300000", "--file", file, "--warmup", "-1"])
        XCTAssertNotEqual(negativeWarmup.status, 0)
        XCTAssertTrue(negativeWarmup.stderr.contains("--warmup"), negativeWarmup.stderr)
        let wrongSize = try ToolboxCLI.run(["bench", "blob"] + common(env)
            + ["--operation", "upload", "--size", "5", "--file", file])
        XCTAssertNotEqual(wrongSize.status, 0)
        XCTAssertTrue(wrongSize.stderr.contains("--size"), wrongSize.stderr)
        let left = try ToolboxCLI.run(["blob", "list"] + common(env) + ["--prefix", "bench-"])
        XCTAssertEqual(left.jsonLines.last?["count"] as? Int, 0, "bench cleans up after itself")
    }

    /// A server that takes the connection and never answers: `--try-timeout` bounds each attempt, so the command
    /// ends with the error line instead of waiting 4 × 120 s.
    func testSilentServerEndsWithTheTryTimeout() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        XCTAssertTrue(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let silent = try ToolboxCLI.run(["blob", "list", "--container", "ctr1", "--try-timeout", "0.5", "--connection-string",
                                         "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
                                             + "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                                             + "BlobEndpoint=http://127.0.0.1:\(port)/devstoreaccount1;"])
        XCTAssertEqual(silent.status, 1, silent.stderr)
        XCTAssertEqual((try silent.singleJSONObject()["error"] as? [String: Any])?["status"] as? Int, 0)
        XCTAssertTrue(silent.stderr.contains("127.0.0.1:\(port)"), silent.stderr)
        XCTAssertFalse(silent.stderr.contains("Eby8vdM02x") || silent.stdout.contains("Eby8vdM02x"))
        let refused = try ToolboxCLI.run(["blob", "list", "--container", "ctr1", "--try-timeout", "0",
                                          "--connection-string", "UseDevelopmentStorage=true"])
        XCTAssertTrue(refused.stderr.contains("--try-timeout"), refused.stderr)
    }

    /// `blob sas` refuses permission letters a blob SAS cannot carry (it used to sign `sp=q`, a URL the service
    /// refuses later), and `--user-delegation` with an account key says that a token credential is what it needs.
    func testSASRefusesBadPermissionsAndKeyOnlyUserDelegation() throws {
        let env = try BlobTestEmulator()
        for letters in ["q", "", "rr", "r w"] {
            let bad = try ToolboxCLI.run(["blob", "sas"] + common(env) + ["--name", "x.bin", "--permissions", letters])
            XCTAssertEqual(bad.status, 1, letters)
            let error = try XCTUnwrap(try bad.singleJSONObject()["error"] as? [String: Any], letters)
            XCTAssertEqual(error["code"] as? String, "invalidArgument", letters)
            XCTAssertTrue(bad.stderr.contains("permissions"), bad.stderr)
        }
        let good = try ToolboxCLI.run(["blob", "sas"] + common(env) + ["--name", "x.bin", "--permissions", "racwd"])
        XCTAssertEqual(good.status, 0, good.stderr)
        let delegation = try ToolboxCLI.run(["blob", "sas"] + common(env) + ["--name", "x.bin", "--user-delegation"])
        XCTAssertEqual(delegation.status, 1)
        XCTAssertTrue(delegation.stderr.contains("a user delegation SAS needs a token credential"), delegation.stderr)
        XCTAssertFalse(delegation.stdout.contains("AccountKey") || delegation.stderr.contains("AccountKey"))
    }
}
