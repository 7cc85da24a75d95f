import Dispatch
import Foundation
import ToolboxTransport
import XCTest

/// A process that exits while Dispatch threads are still freeing OpenSSL objects must exit cleanly.
///
/// This is the interleaving that made the ThreadSanitizer-built `toolbox` exit 66 in CI. The CLI returned from
/// `main` while a pool's asynchronous shutdown was freeing its `SSL_CTX` on a Dispatch thread. OpenSSL's `atexit`
/// cleanup had already freed its locks, so the free crashed (SEGV in `CRYPTO_THREAD_unlock`). The test runs its
/// own test executable as a child (the process has to exit, and XCTest's cannot). The child frees TLS contexts on
/// other threads in a loop and calls `exit(0)` while they run. When OpenSSL registers its exit handler, a
/// ThreadSanitizer build of the child crashes nearly every time and a plain build now and then.
final class OpenSSLExitTests: XCTestCase {
    private static let childVariable = "TOOLBOX_OPENSSL_EXIT_CHILD"
    private static let childMarker = "openssl-exit-child: exiting while contexts are freed"
    private static let testName = "ToolboxTransportTests.OpenSSLExitTests/testExitWhileDispatchThreadsFreeTLSContexts"

    func testExitWhileDispatchThreadsFreeTLSContexts() throws {
        if ProcessInfo.processInfo.environment[Self.childVariable] == "1" { Self.freeContextsAndExit() }
        let executable = try Self.testExecutable()
        var environment = ProcessInfo.processInfo.environment
        environment[Self.childVariable] = "1"
        for run in 1...2 {
            let child = runCommand(executable, [Self.testName], environment: environment)
            // Without the marker the child did not reach the interleaving (the filter ran nothing), and its exit
            // status would prove nothing.
            XCTAssertTrue(child.output.contains(Self.childMarker), "run \(run): the child did not run: \(child.output)")
            XCTAssertEqual(child.status, 0, "run \(run): the child crashed while exiting: \(child.output)")
        }
    }

    /// The child: threads create and free client contexts (system trust store, as a pool's connector
    /// holds) without pause; once each has freed one, the main thread exits with them still running.
    private static func freeContextsAndExit() -> Never {
        let threads = 4
        let started = DispatchSemaphore(value: 0)
        // Threads of their own: Dispatch runs only as many never-ending work items at once as there are cores.
        for _ in 0..<threads {
            Thread.detachNewThread {
                var first = true
                while true {
                    // Fails (and is dropped) once OpenSSL is shutting down; the free is what matters.
                    _ = try? TLSContext(client: TLSClientConfiguration())
                    if first {
                        first = false
                        started.signal()
                    }
                }
            }
        }
        for _ in 0..<threads { started.wait() }
        FileHandle.standardOutput.write(Data((childMarker + "\n").utf8))
        exit(0)
    }

    /// This test executable (XCTest's runner on Linux, a bundle's host elsewhere).
    private static func testExecutable() throws -> String {
        let path = CommandLine.arguments[0]
        guard path.hasPrefix("/"), FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("the test executable '\(path)' cannot be run again as a child on this platform")
        }
        return path
    }
}
