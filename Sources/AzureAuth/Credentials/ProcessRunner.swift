import Dispatch
import Foundation
import ToolboxCore

/// What a finished child process printed and how it exited.
struct ProcessOutput: Sendable {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
}

/// Runs a child process without blocking a Dispatch worker: each pipe is drained by a dedicated thread (blocking
/// reads until end of file), exit is observed through the termination handler, and a timer terminates the child
/// (SIGTERM) when the timeout passes. (DispatchIO on the pipes crashed libdispatch intermittently on Linux.)
enum ProcessRunner {
    /// A fresh serial queue per use, never a shared `.concurrent` one: see `LibraryQueues.makeWorkQueue`.
    private static var ioQueue: DispatchQueue { LibraryQueues.makeWorkQueue(label: "AzureAuth.process-io") }

    /// The first executable called `name` in the `PATH` of `environment`.
    static func locate(_ name: String, environment: [String: String]) -> String? {
        let path = environment["PATH"] ?? ""
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func run(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
        timeout: Double, completion: @escaping @Sendable (Result<ProcessOutput, AuthError>) -> Void
    ) {
        let once = CompletionOnce(completion)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        process.standardInput = FileHandle.nullDevice
        let outPipe = Pipe()
        let errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let collected = LockedValue(ProcessOutput(status: -1, stdout: [], stderr: []))
        let group = DispatchGroup()
        group.enter()
        process.terminationHandler = { finished in
            let status = finished.terminationStatus
            collected.withLockedValue { $0.status = status }
            group.leave()
        }
        do {
            try process.run()
        } catch {
            once.complete(.failure(AuthError(.credentialUnavailable, "could not start '\(executable)': \(error)")))
            return
        }
        drain(outPipe, group: group) { bytes in collected.withLockedValue { $0.stdout += bytes } }
        drain(errPipe, group: group) { bytes in collected.withLockedValue { $0.stderr += bytes } }
        group.notify(queue: ioQueue) { once.complete(.success(collected.load())) }
        let handle = ProcessHandle(process)
        ioQueue.asyncAfter(deadline: .now() + timeout) {
            if once.complete(.failure(AuthError(.timedOut, "'\(executable) \(arguments.first ?? "")' did not finish "
                + "within \(timeout) seconds and was terminated")))
            {
                handle.terminate()
            }
        }
    }

    private static func drain(_ pipe: Pipe, group: DispatchGroup, append: @escaping @Sendable ([UInt8]) -> Void) {
        group.enter()
        let handle = PipeHandle(pipe)
        let thread = Thread {
            let data = handle.pipe.fileHandleForReading.readDataToEndOfFile()
            if !data.isEmpty { append(Array(data)) }
            group.leave()
        }
        thread.name = "AzureAuth.process-pipe"
        thread.start()
    }
}

/// Lets the timeout timer terminate the child.
private final class ProcessHandle: @unchecked Sendable {
    // @unchecked Sendable: only `terminate()` is called from another thread, and Foundation's Process guards its
    // own state for that; the reference itself never changes.
    private let process: Process
    init(_ process: Process) { self.process = process }
    func terminate() { if process.isRunning { process.terminate() } }
}

/// Hands a pipe to the thread that drains it.
private final class PipeHandle: @unchecked Sendable {
    // @unchecked Sendable: immutable, and only the one draining thread reads from the pipe.
    let pipe: Pipe
    init(_ pipe: Pipe) { self.pipe = pipe }
}
