import Foundation
import ToolboxAMQPBroker
import ToolboxCore
import XCTest

@testable import ToolboxAMQP

/// Our broker role against a third-party client: Qpid Proton (Debian's python3-qpid-proton, C core).
final class ProtonInteropTests: XCTestCase {
    /// Sends 200 messages (one of 1 MiB, crossing many frames) through our broker and reads them back.
    static let script = #"""
import json, sys
try:
    from proton import Message
    from proton.utils import BlockingConnection
except ImportError as error:
    print("python3-qpid-proton is missing (apt-get install -y python3-qpid-proton): %s" % error, file=sys.stderr)
    sys.exit(3)
url, count = sys.argv[1], int(sys.argv[2])
connection = BlockingConnection(url, timeout=30, allowed_mechs="PLAIN", max_frame_size=4096)
sender = connection.create_sender("q")
big = "x" * (1024 * 1024)
for i in range(count):
    sender.send(Message(id="id-%d" % i, body=(big if i == 7 else "message %d" % i)))
receiver = connection.create_receiver("q", credit=count)
received = []
for i in range(count):
    message = receiver.receive(timeout=30)
    received.append({"id": message.id, "size": len(message.body)})
    receiver.accept()
receiver.close()
sender.close()
connection.close()
print(json.dumps(received))
"""#

    func testProtonClientAgainstOurBroker() throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            XCTFail("\(python) is missing: apt-get install -y python3 python3-qpid-proton")
            return
        }
        let broker = MiniBroker()
        let listener = try AMQPListener(server: broker.configuration(password: "pw"),
                                        configuration: AMQPConnectionConfiguration(idleTimeout: .seconds(10))) { _ in }
        defer { listener.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", Self.script, "amqp://user:pw@127.0.0.1:\(listener.port)", "200"]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            XCTFail("proton client failed (\(process.terminationStatus)): \(String(decoding: stderr, as: UTF8.self))")
            return
        }
        let received = try XCTUnwrap(try JSONSerialization.jsonObject(with: stdout) as? [[String: Any]])
        XCTAssertEqual(received.count, 200)
        XCTAssertEqual(received.compactMap { $0["id"] as? String }, (0..<200).map { "id-\($0)" })
        XCTAssertEqual(received[7]["size"] as? Int, 1024 * 1024)
        XCTAssertEqual(broker.received.load().count, 200)
    }
}
