import Foundation
import ToolboxCore

/// One JSON object per line on stdout: the CLI's machine-readable contract.
enum JSONOutput {
    /// An output line JSON cannot carry (a non-finite number, a type JSON lacks).
    struct Unencodable: Error, CustomStringConvertible {
        var description: String { "a value JSON cannot carry (a number that is not finite, or a type JSON lacks)" }
    }

    /// How many lines could not be printed. A command that lost one of its lines has failed whatever it returns:
    /// main.swift then exits with `outputFailureStatus`.
    static let unprintedLines = LockedValue(0)

    /// The exit status of a command that could not print its output (EX_SOFTWARE).
    static let outputFailureStatus: Int32 = 70

    /// Prints `object` as one line of JSON with sorted keys. Values: String, Int, Double, Bool, NSNull,
    /// arrays and dictionaries of those.
    static func printLine(_ object: [String: Any]) {
        do {
            // Checked first: on Darwin an unencodable value (inf, nan) raises an exception instead of throwing.
            guard JSONSerialization.isValidJSONObject(object) else { throw Unencodable() }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } catch {
            unprintedLines.withLockedValue { $0 += 1 }
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
        let scaled = value * scale
        // Past 2^53 a Double has no fraction left to round (and scaling 1e308 would overflow to inf).
        guard scaled.isFinite, abs(scaled) < 9e15 else { return value }
        return scaled.rounded() / scale
    }
}
