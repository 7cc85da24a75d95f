import Foundation
import XCTest

/// The emulator is a test server that may run at its descriptor limit: its own work (accepting, socket closes,
/// connection opens and closes) stays off the concurrent `defaultCallbackQueue`, whose root queue libdispatch's
/// worker-pool monitor inspects (architecture.md, "No library work on a .concurrent queue"). Only a public
/// parameter's default (the caller's completion queue) may name it.
final class EmulatorQueueTests: XCTestCase {
    func testTheEmulatorAndTheAMQPListenerPutNoWorkOfTheirOwnOnTheDefaultCallbackQueue() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        var offenders: [String] = []
        var scanned = 0
        for directory in ["Sources/AzureEmulator", "Sources/ToolboxAMQPBroker"] {
            let url = root.appendingPathComponent(directory)
            let enumerator = try XCTUnwrap(FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil))
            for case let file as URL in enumerator where file.pathExtension == "swift" {
                scanned += 1
                let text = try String(contentsOf: file, encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = line.trimmingCharacters(in: .whitespaces)
                    guard !code.hasPrefix("//"), code.contains("defaultCallbackQueue") else { continue }
                    if code.contains("DispatchQueue = LibraryQueues.defaultCallbackQueue") { continue }  // a public default
                    offenders.append("\(file.lastPathComponent):\(number + 1): \(code)")
                }
            }
        }
        XCTAssertGreaterThan(scanned, 50, "the Sources tree was not found under \(root.path)")
        XCTAssertEqual(offenders, [], "emulator work on the concurrent default callback queue (use LibraryQueues.makeWorkQueue)")
    }
}
