import Foundation

/// A throw-away CA and a server certificate for 127.0.0.1, ::1 and localhost, made with the `openssl` command at
/// start, so clients can trust the AMQPS listener through the reported CA file.
struct SelfSignedCertificate {
    let directory: String
    var caFile: String { directory + "/ca.pem" }
    var certificateFile: String { directory + "/server.pem" }
    var privateKeyFile: String { directory + "/server.key" }

    static func generate() throws -> SelfSignedCertificate {
        let directory = NSTemporaryDirectory() + "azure-emulator-tls-\(UUID().uuidString.lowercased())"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw EmulatorError(.tlsFailed, "could not create \(directory) for the self-signed certificate: \(error)")
        }
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let extensions = """
            basicConstraints=CA:FALSE
            keyUsage=critical,digitalSignature
            extendedKeyUsage=serverAuth
            subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1

            """
        do {
            try extensions.write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        } catch {
            throw EmulatorError(.tlsFailed, "could not write the certificate extensions file: \(error)")
        }
        try run(["req", "-x509"] + curve + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
                                           "-subj", "/CN=AzureEmulator CA",
                                           "-addext", "basicConstraints=critical,CA:TRUE",
                                           "-addext", "keyUsage=critical,keyCertSign,cRLSign"], in: directory)
        try run(["req"] + curve + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: directory)
        try run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "30", "-extfile", "server.ext", "-out", "server.pem"], in: directory)
        return SelfSignedCertificate(directory: directory)
    }

    private static func run(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw EmulatorError(.tlsFailed, "could not run openssl to make a self-signed certificate (\(error)); install openssl or pass --tls-cert and --tls-key")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw EmulatorError(.tlsFailed, "openssl \(arguments.first ?? "") exited with \(process.terminationStatus); pass --tls-cert and --tls-key instead")
        }
    }
}
