import Foundation

/// One JSON object per line on stdout: the CLI's machine-readable contract.
enum JSONOutput {
    /// Prints `object` as one line of JSON with sorted keys. Values: String, Int, Double, Bool, NSNull,
    /// arrays and dictionaries of those.
    static func printLine(_ object: [String: Any]) {
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } catch {
            printError("could not encode JSON output: \(error)")
        }
    }

    /// An error for the person running the command, on stderr as `error: …`.
    static func printError(_ message: String) {
        printHuman("error: \(message)")
    }

    /// A human progress or table line on stderr (stdout stays machine-readable).
    static func printHuman(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Rounds to `places` decimals so JSON stays readable.
    static func rounded(_ value: Double, _ places: Int = 3) -> Double {
        guard value.isFinite else { return 0 }
        let scale = pow(10.0, Double(places))
        return (value * scale).rounded() / scale
    }
}
