import ArgumentParser
import Foundation
import ToolboxCore

/// `--ca-file`: the CA certificates every command that connects over TLS may be told to trust (an emulator's
/// `ca_file`, a private CA).
struct CAFileOption: ParsableArguments {
    @Option(help: "PEM file of CA certificates to trust instead of the system store (e.g. the emulator's ca_file).")
    var caFile: String?

    /// `--ca-file`, checked to name a readable file; nil when it was not given.
    func readable() throws(ToolboxError) -> String? { try Self.readable(caFile) }

    /// `path`, checked to name a readable file; nil stays nil.
    static func readable(_ path: String?) throws(ToolboxError) -> String? {
        if let path, !FileManager.default.isReadableFile(atPath: path) {
            throw ToolboxError(.invalidArgument, "--ca-file '\(path)' is not a readable file")
        }
        return path
    }
}
