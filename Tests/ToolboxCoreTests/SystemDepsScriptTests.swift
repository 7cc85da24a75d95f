import Foundation
import XCTest

/// Issue 13 item 3: `bash scripts/test.sh` on a fresh machine stopped with "missing python3-qpid-proton". It now
/// installs the packages itself when something is missing and it runs as root or with passwordless sudo: one
/// `apt-get update`, then the same list `.ci/run` installs (both source `scripts/system-deps.sh`). These run the
/// script's functions against a fake `apt-get`, `sudo` and `id` that record what they were asked.
final class SystemDepsScriptTests: XCTestCase {
    private static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Runs `body` in bash after sourcing the script, with fakes first on PATH; returns status, output and the
    /// fakes' call log.
    private func run(_ body: String, uid: Int, sudo: Bool) throws -> (status: Int32, output: String, calls: [String]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("deps-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("calls").path
        func fake(_ name: String, _ script: String) throws {
            let path = directory.appendingPathComponent(name).path
            try ("#!/bin/bash\n" + script).write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
        try fake("fake-apt-get", "echo \"apt-get DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*\" >> \(log)\n")
        try fake("id", "echo \(uid)\n")
        try fake("service", "echo \"service $*\" >> \(log)\n")
        if sudo { try fake("fake-sudo", "echo \"sudo $1\" >> \(log)\nshift\n[ \"$1\" = true ] && exit 0\nexec \"$@\"\n") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "set -euo pipefail; source scripts/system-deps.sh; " + body]
        process.currentDirectoryURL = URL(fileURLWithPath: Self.root)
        process.environment = [
            "PATH": "\(directory.path):/usr/bin:/bin", "TOOLBOX_APT_GET": "fake-apt-get",
            "TOOLBOX_SUDO": sudo ? "fake-sudo" : "no-such-sudo", "CALLS": log,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let calls = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        return (process.terminationStatus, output, calls)
    }

    private var packages: String {
        "libssl-dev pkg-config nginx-light rabbitmq-server curl openssl python3 python3-venv python3-qpid-proton "
            + "ca-certificates spin gcc tinyproxy"
    }

    func testRootUpdatesOnceThenInstallsTheSharedList() throws {
        let result = try run("toolbox_apt_install", uid: 0, sudo: false)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.calls.filter { $0.hasPrefix("apt-get") }, [
            "apt-get DEBIAN_FRONTEND=noninteractive update -qq",
            "apt-get DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends \(packages)",
        ])
    }

    func testANonRootUserWithPasswordlessSudoInstallsThroughSudo() throws {
        let result = try run("toolbox_apt_install", uid: 1000, sudo: true)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.calls.first, "sudo -n")
        XCTAssertEqual(result.calls.filter { $0.hasPrefix("apt-get") }.count, 2)
        XCTAssertEqual(result.calls.filter { $0.hasPrefix("apt-get") }.first,
                       "apt-get DEBIAN_FRONTEND=noninteractive update -qq")
    }

    func testWithoutRootOrSudoItExplainsAndInstallsNothing() throws {
        // Pretend one package is missing.
        let result = try run("toolbox_missing_packages() { echo python3-qpid-proton; }; toolbox_ensure_system_deps test",
                             uid: 1000, sudo: false)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.calls.isEmpty, "\(result.calls)")
        XCTAssertTrue(result.output.contains("missing python3-qpid-proton"), result.output)
        XCTAssertTrue(result.output.contains("apt-get install -y \(packages)"), result.output)
    }

    func testEnsureInstallsOnlyWhenSomethingIsMissing() throws {
        let nothingMissing = try run("toolbox_missing_packages() { echo; }; toolbox_ensure_system_deps test",
                                     uid: 0, sudo: false)
        XCTAssertEqual(nothingMissing.status, 0, nothingMissing.output)
        XCTAssertTrue(nothingMissing.calls.isEmpty, "\(nothingMissing.calls)")
        // Missing until apt-get has run (the fakes' call log is empty until then).
        let body = """
            toolbox_missing_packages() { [ -s "$CALLS" ] && echo || echo nginx-light; }
            toolbox_ensure_system_deps test
            """
        let installed = try run(body, uid: 0, sudo: false)
        XCTAssertEqual(installed.status, 0, installed.output)
        XCTAssertEqual(installed.calls.filter { $0.hasPrefix("apt-get") }.count, 2, "\(installed.calls)")
    }

    func testCIAndTheTestCommandShareTheList() throws {
        for script in [".ci/run", "scripts/test.sh"] {
            let text = try String(contentsOfFile: Self.root + "/" + script, encoding: .utf8)
            XCTAssertTrue(text.contains("source scripts/system-deps.sh"), "\(script) does not use the shared list")
            XCTAssertFalse(text.contains("apt-get install -y -qq"), "\(script) keeps a list of its own")
        }
    }
}
