import AzureBlobStorage
import XCTest

/// `BlobNames.safe` against outputs produced by running the Python toolbox's `blobify_filename`
/// (aio-azure-clients-toolbox 1.5.0, Python 3.11) on the same inputs.
final class SafeBlobNameTests: XCTestCase {
    // (input, blobify_filename(input), blobify_filename(input, quoting=True))
    static let pythonTable: [(String, String, String)] = [
        ("report.pdf", "report.pdf", "report.pdf"),
        ("  spaced name.txt  ", "spaced name.txt", "spaced%20name.txt"),
        (".hidden", "hidden", "hidden"),
        ("trailing.", "trailing", "trailing"),
        ("..both..", ".both.", ".both."),
        (".", "", ""),
        ("", "", ""),
        ("   ", "", ""),
        ("~tilde#hash\\back.txt", "tildehashback.txt", "tildehashback.txt"),
        ("dir/sub/file.csv", "dir/sub/file.csv", "dir/sub/file.csv"),
        ("a+b=c&d;e,f'(g)!*.txt", "a+b=c&d;e,f'(g)!*.txt", "a%2Bb%3Dc%26d%3Be%2Cf%27%28g%29%21%2A.txt"),
        ("q?hash.txt", "q?hash.txt", "q%3Fhash.txt"),
        ("percent%20literal.txt", "percent%20literal.txt", "percent%2520literal.txt"),
        ("\u{fc}mlaut caf\u{e9}.txt", "\u{fc}mlaut caf\u{e9}.txt", "%C3%BCmlaut%20caf%C3%A9.txt"),
        ("\u{65e5}\u{672c}\u{8a9e}\u{30d5}\u{30a1}\u{30a4}\u{30eb}.txt",
         "\u{65e5}\u{672c}\u{8a9e}\u{30d5}\u{30a1}\u{30a4}\u{30eb}.txt",
         "%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB.txt"),
        ("emoji \u{1f600}.png", "emoji \u{1f600}.png", "emoji%20%F0%9F%98%80.png"),
        ("\u{9}\u{a}tabbed\u{d}\u{a}", "tabbed", "tabbed"),
        ("\u{a0}nbsp\u{3000}", "nbsp", "nbsp"),
        ("\u{200b}zero-width", "\u{200b}zero-width", "%E2%80%8Bzero-width"),
        ("\u{1c}fs\u{1f}", "fs", "fs"),
        ("~.dot.~", "dot", "dot"),
        ("#.#", "", ""),
        (".~.", "", ""),
        ("/leading/slash/", "/leading/slash/", "/leading/slash/"),
        ("name with spaces & symbols!.txt", "name with spaces & symbols!.txt",
         "name%20with%20spaces%20%26%20symbols%21.txt"),
        ("back\\slash\\path", "backslashpath", "backslashpath"),
        ("x.", "x", "x"),
        ("x..", "x.", "x."),
        ("\u{85}next line\u{2028}", "next line", "next%20line"),
    ]

    func testMatchesPythonBlobifyFilename() {
        for (input, plain, quoted) in Self.pythonTable {
            XCTAssertEqual(BlobNames.safe(input), plain, "input \(input.debugDescription)")
            XCTAssertEqual(BlobNames.safe(input, quoting: true), quoted, "quoted input \(input.debugDescription)")
            XCTAssertEqual(BlobContainer.safeBlobName(input), plain)
        }
    }

    func testLongNamesAreCutAt1024CodePointsLikePython() {
        // Python: len(blobify_filename("a" * 1030)) == 1024; for "é" * 1030 the plain result is 1024 "é" and the
        // quoted one is cut after 1024 ASCII characters, ending "%C3%A9%C3%" (an escape split in two).
        XCTAssertEqual(BlobNames.safe(String(repeating: "a", count: 1030)), String(repeating: "a", count: 1024))
        XCTAssertEqual(BlobNames.safe(String(repeating: "a", count: 1030), quoting: true).count, 1024)
        let accents = String(repeating: "\u{e9}", count: 1030)
        XCTAssertEqual(BlobNames.safe(accents), String(repeating: "\u{e9}", count: 1024))
        let quoted = BlobNames.safe(accents, quoting: true)
        XCTAssertEqual(quoted.count, 1024)
        XCTAssertTrue(quoted.hasSuffix("%C3%A9%C3%"), quoted.suffix(12).description)
    }
}
