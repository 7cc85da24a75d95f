import Foundation

/// Runs the `toolbox` executable that `swift build --build-tests` puts next to the test bundle, for the black-box
/// CLI tests of every test target (the CLI's flags, JSON keys and exit statuses are a public interface).
public enum ToolboxCLI {
    /// The tests cannot run as set up (the executable is missing) or the output is not what a CLI test expects.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// What one run printed and how it exited.
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String

        /// The stdout lines that parse as JSON objects, in order.
        public var jsonLines: [[String: Any]] {
            stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }

        /// Stdout as exactly one line holding one JSON object (what `--json` promises), or a `Failure` saying why not.
        public func singleJSONObject() throws -> [String: Any] {
            let lines = stdout.split(separator: "\n")
            guard lines.count == 1,
                  let object = try? JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
            else {
                throw Failure("expected exactly one JSON object line on stdout (exit status \(status)); stdout: "
                    + "\(stdout)\nstderr: \(stderr)")
            }
            return object
        }
    }

    /// The path of the built `toolbox`: `TOOLBOX_CLI_EXECUTABLE` when set (to run another build's CLI, for example
    /// the plain build's from the ThreadSanitizer pass), else beside the test executable, or one folder up (bundle
    /// layouts).
    public static func executablePath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["TOOLBOX_CLI_EXECUTABLE"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw Failure("TOOLBOX_CLI_EXECUTABLE=\(path) is not an executable file")
            }
            return path
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if directory.lastPathComponent == "MacOS" {  // xctest bundle layout on macOS: Foo.xctest/Contents/MacOS
            directory = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        }
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("toolbox").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Failure("no toolbox executable next to the tests in \(directory.path): build it first with "
            + "`swift build --build-tests`")
    }

    /// Runs `toolbox arguments…` to completion. Stdout and stderr are drained concurrently, so a chatty stderr
    /// cannot fill its pipe and stall the child. `environment` entries are added to this process's environment.
    ///
    /// A child killed by a signal, or one that printed a ThreadSanitizer report (exit status 66 under
    /// scripts/test.sh's TSan pass), throws a `Failure` that carries its whole stderr. No CLI test expects a crash,
    /// and a test that checks only the exit status would otherwise fail without the report.
    ///
    /// With `timeLimit`, a child still running after that many seconds is terminated and the call throws a
    /// `Failure` saying so (a command that should end but loops must fail its test, not hang it).
    public static func run(_ arguments: [String], environment: [String: String] = [:],
                           timeLimit: Double? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executablePath())
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let expired = LockedFlag()
        let watchdog = DispatchWorkItem {
            expired.set()
            process.terminate()
        }
        if let timeLimit { DispatchQueue.global().asyncAfter(deadline: .now() + timeLimit, execute: watchdog) }
        let stderrData = DrainedPipe(err.fileHandleForReading)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = stderrData.wait()
        process.waitUntilExit()
        watchdog.cancel()
        if expired.isSet {
            throw Failure("`toolbox \(commandWords(arguments))` did not end within \(timeLimit ?? 0) s; its stderr:\n"
                + String(decoding: stderr.prefix(4096), as: UTF8.self))
        }
        let output = Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                            stderr: String(decoding: stderr, as: UTF8.self))
        let signalled = process.terminationReason == .uncaughtSignal
        if signalled || output.stderr.contains("ThreadSanitizer") {
            throw Failure("`toolbox \(commandWords(arguments))` "
                + (signalled ? "was killed by signal \(output.status)" : "exited \(output.status) with a sanitizer report")
                + "; its stderr:\n\(output.stderr)\nits stdout:\n\(output.stdout)")
        }
        return output
    }

    /// The subcommand words that lead `arguments` (`cosmos read`), never an option's value, which may be a key.
    static func commandWords(_ arguments: [String]) -> String {
        arguments.prefix { word in
            !word.isEmpty && word.allSatisfy { $0.isASCII && ($0.isLowercase || $0 == "-") } && !word.hasPrefix("-")
        }.joined(separator: " ")
    }
}

/// Reads a pipe to its end on a background thread.
private final class DrainedPipe: @unchecked Sendable {
    // @unchecked Sendable: `data` is written once by the reading thread before `done` is signalled and read only
    // after waiting on `done`; the semaphore orders the two.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

/// A flag set from one thread and read from another.
private final class LockedFlag: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value = false

    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
