import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What docs/FORMAT.md and docs/SLURP-JSON.md decide where a reader written from them alone
/// could have hesitated: both readers must print the same bytes, and decide signatures, v1
/// files and odd headers the same way.
@Suite("Both readers follow the spec's precise rules")
struct SpecAgreementTests {
    static let script = PythonReaderTests.script

    /// How a reader took a file: it rejected it, or this metric was unreadable, or it read it.
    enum Outcome: String, CustomStringConvertible {
        case corrupt, unreadable, read
        var description: String { rawValue }
    }

    static func outcome(_ result: ProcessResult, metric: String) throws -> Outcome {
        let files = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        guard result.status == 0, let file = files.first else { return .corrupt }
        let metrics = try #require(file["metrics"] as? [[String: Any]])
        let found = try #require(metrics.first { $0["name"] as? String == metric })
        return found["error"] == nil ? .read : .unreadable
    }

    /// Runs both readers on `paths`; expects the same stdout, byte for byte (unless
    /// `sameBytes` is false: the texts of `error` members are the readers' own).
    @discardableResult
    static func bothReaders(
        _ paths: [String], sameBytes: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (swift: ProcessResult, python: ProcessResult) {
        let swift = try run(Binaries.mmstats, ["slurp", "--json"] + paths)
        let python = try run("/usr/bin/env", ["python3", script, "--json"] + paths)
        if sameBytes {
            #expect(
                swift.stdout == python.stdout, "swift:\n\(swift.stdout)\npython:\n\(python.stdout)",
                sourceLocation: sourceLocation)
        }
        #expect(swift.status == python.status, "\(swift.stderr) / \(python.stderr)", sourceLocation: sourceLocation)
        return (swift, python)
    }

    @Test("numbers print the same bytes in both readers: -0.0, exponents, float32, extremes")
    func numbers() throws {
        let directory = TemporaryDirectory("numbers")
        let writer = try StatsWriter(directory.options())
        let doubles: [Double] = [
            -0.0, 0.0, 0.1, 1e16, 1.5e16, 0.0001, 0.00001, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e15,
            -1e16, 2.0 / 3.0,
            1.2345678901234568e17, 100, .infinity, -.infinity, .nan,
        ]
        for (i, value) in doubles.enumerated() { try writer.doubleGauge("d\(i)").set(value) }
        _ = try writer.record(
            "f32", kind: RawKind(Signature([.float32, .float32, .float32]), ["tenth", "negzero", "big"]),
            initial: [.double(0.1), .double(-0.0), .double(3.4e38)])
        try writer.gauge("min").set(.min)
        try writer.counter("max").increment(by: .max)
        let (swift, _) = try Self.bothReaders([writer.path])
        #expect(swift.stdout.contains("\"value\": -0.0"))
        #expect(swift.stdout.contains("\"value\": 1e-05"))
        #expect(swift.stdout.contains("\"negzero\": -0.0"))
    }

    @Test("strings print the same bytes in both readers: non-ASCII escaped, invalid UTF-8 replaced")
    func strings() throws {
        let directory = TemporaryDirectory("strings")
        var options = directory.options(application: "wéb", model: "Mödel")
        options.fileNameTemplate = "naïve-{PID}.mmstats"
        let writer = try StatsWriter(options)
        _ = try writer.record(
            "text", kind: RawKind(Signature([.string(capacity: 40)]), ["s"]), dimensions: ["ключ": "值 😀"],
            initial: [.string("\u{1B}[31m red \u{202E}evil\u{200B} \u{7F}\t\"q\"\\")])
        // Invalid UTF-8 in a value: each maximal invalid subpart is one U+FFFD, in both readers.
        let invalid = try writer.record("invalid", kind: RawKind(Signature([.string(capacity: 16)]), ["s"]))
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes.replaceSubrange(0..<12, with: [0x61, 0xC3, 0x28, 0x62, 0xE2, 0x82, 0x63, 0xF0, 0x9F, 0x98, 0x64, 0xFF])
        let words = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        invalid.update { w in
            w[0] = words[0]
            w[1] = words[1]
        }
        let (swift, _) = try Self.bothReaders([writer.path])
        #expect(swift.stdout.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F || $0 == 0x0A }, "printable ASCII only")
        #expect(swift.stdout.contains(#"\u007f\t\"q\"\\"#))
        #expect(swift.stdout.contains(#"\u001b[31m red \u202eevil\u200b"#))
        #expect(swift.stdout.contains(#""s": "a\ufffd(b\ufffdc\ufffdd\ufffd""#))
        #expect(swift.stdout.contains(#"\ud83d\ude00"#), "a surrogate pair above U+FFFF")
    }

    /// One metric `m` with this signature, fields and record words (its record at 4096), and a
    /// plain metric `ok` before it.
    static func signatureFile(_ signature: String, _ fields: String, words: Int, in directory: String) throws
        -> String
    {
        let path = directory + "/sig-\(UUID().uuidString.prefix(8)).mmstats"
        var file = CraftedFile(
            entries: [
                .init(name: "ok", signature: "Q", fields: "value", valueOffset: 2048, words: 1),
                .init(name: "m", signature: signature, fields: fields, valueOffset: 4096, words: words),
            ], size: 8192)
        file.patches = [(2048, [7, 0, 0, 0, 0, 0, 0, 0])]
        try file.write(to: path)
        return path
    }

    @Test(
        "signatures: syntax errors reject the file, unknown letters and naming problems only the metric",
        arguments: [
            ("Q", "v", 1, Outcome.read), ("2?", "a,b", 2, .read), ("01Q", "v", 1, .read),
            ("00Q", "v", 1, .corrupt), ("", "v", 1, .corrupt), (" Q", "v", 1, .corrupt),
            ("Q\u{E9}", "a,b", 2, .corrupt), ("Z", "v", 1, .unreadable), ("QZ ", "a", 2, .unreadable),
            ("Q Z", "a", 2, .corrupt), ("65536Q", "v", 1, .corrupt), ("s", "v", 1, .corrupt), ("0s", "v", 1, .corrupt),
            ("3", "v", 1, .corrupt), ("Q", "v", 2, .corrupt), ("2Q", "a", 2, .corrupt), ("Q", "", 1, .unreadable),
            ("2Q", "a,", 2, .unreadable), ("2Q", "a,a", 2, .unreadable), ("Z", "", 1, .unreadable),
            ("Z", "a,b,c", 1, .unreadable), ("3s", "v", 1, .read),
        ] as [(String, String, Int, Outcome)])
    func signatures(_ signature: String, _ fields: String, _ words: Int, _ expected: Outcome) throws {
        let directory = TemporaryDirectory("signatures")
        let path = try Self.signatureFile(signature, fields, words: words, in: directory.path)
        let (swift, python) = try Self.bothReaders([path], sameBytes: false)
        #expect(try Self.outcome(swift, metric: "m") == expected, "swift: \(swift.stderr)")
        #expect(try Self.outcome(python, metric: "m") == expected, "python: \(python.stderr)")
    }

    @Test("an f slot's high 32 bits are ignored; a ? slot is true for any nonzero word")
    func slotHighBits() throws {
        let directory = TemporaryDirectory("slots")
        let path = directory.path + "/slots.mmstats"
        var file = CraftedFile(
            entries: [.init(name: "m", signature: "f?", fields: "f,b", valueOffset: 4096, words: 2)], size: 8192)
        file.patches = [(4096, [0x00, 0x00, 0x80, 0x3F, 0xEF, 0xBE, 0xAD, 0xDE, 0, 0, 0, 0, 0, 0, 0, 0x80])]
        try file.write(to: path)
        let (swift, _) = try Self.bothReaders([path])
        #expect(swift.stdout.contains("\"f\": 1.0"))
        #expect(swift.stdout.contains("\"b\": true"))
    }

    @Test("a header file size larger than the real file is not an error by itself")
    func headerSizeLargerThanFile() throws {
        let directory = TemporaryDirectory("filesize")
        let path = directory.path + "/big.mmstats"
        var file = CraftedFile(
            entries: [.init(name: "m", signature: "Q", fields: "v", valueOffset: 4096, words: 1)], size: 8192)
        file.headerFileSize = 1 << 30
        file.patches = [(4096, [42, 0, 0, 0, 0, 0, 0, 0])]
        try file.write(to: path)
        let (swift, _) = try Self.bothReaders([path])
        #expect(swift.status == 0)
        #expect(swift.stdout.contains("\"value\": 42"))
    }

    @Test("two metrics with the same name and dimensions are both shown, in file order")
    func duplicateIdentities() throws {
        let directory = TemporaryDirectory("duplicates")
        let path = directory.path + "/dup.mmstats"
        var file = CraftedFile(
            entries: [
                .init(name: "same", signature: "Q", fields: "v", valueOffset: 4096, words: 1),
                .init(name: "same", signature: "Q", fields: "v", valueOffset: 4104, words: 1),
            ], size: 8192)
        file.patches = [(4096, [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])]
        try file.write(to: path)
        let (swift, _) = try Self.bothReaders([path])
        let snapshot = try StatsReader(path: path).snapshot()
        #expect(snapshot.metrics.map(\.value) == [.uint(1), .uint(2)])
        #expect(snapshot.value("same") == .uint(1), "lookup by name finds the first")
        #expect(swift.stdout.components(separatedBy: "\"name\": \"same\"").count == 3)
    }

    /// A v1 field: label, type, buffer byte and value bytes.
    static func v1Field(_ label: String, _ type: [UInt8], buffer: UInt8 = 0xFF, _ value: [UInt8]) -> [UInt8] {
        let name = Array(label.utf8)
        return [UInt8(name.count), 0] + name + [UInt8(type.count), 0] + type + [buffer] + value
    }

    @Test("v1: 's' alone is one byte, the first integer sys.pid names the writer, a lone last byte ends the list")
    func v1Rules() throws {
        let directory = TemporaryDirectory("v1rules")
        let path = directory.path + "/v1.mmstats"
        var bytes: [UInt8] = [1]
        bytes += Self.v1Field("a.char", Array("s".utf8), Array("x".utf8))
        bytes += Self.v1Field("f.sys.pid", Array("d".utf8), [0, 0, 0, 0, 0, 0, 0x14, 0x40])  // 5.0: not an integer
        bytes += Self.v1Field("sys.pid", Array("Q".utf8), [42, 0, 0, 0, 0, 0, 0, 0])
        bytes += Self.v1Field("b.sys.pid", Array("Q".utf8), [43, 0, 0, 0, 0, 0, 0, 0])
        bytes += Self.v1Field("two", Array("H".utf8), buffer: 1, [1, 0, 2, 0])  // copy 1 is written: read copy 0
        bytes += Self.v1Field("bad", Array("4s".utf8), [0x61, 0xFF, 0x62, 0])
        bytes.append(9)  // one byte left: too short for a label length
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (swift, _) = try Self.bothReaders([path])
        #expect(swift.status == 0, "\(swift.stderr)")
        #expect(swift.stdout.contains("\"pid\": 42"))
        #expect(swift.stdout.contains("\"value\": \"x\""))
        #expect(swift.stdout.contains("\"value\": 1\n"))
        #expect(swift.stdout.contains("\"value\": \"a\\ufffdb\""))
    }

    @Test(
        "v1: a bad buffer byte, a type that is not UTF-8 and a string longer than 65,535 bytes reject the file",
        arguments: [
            SpecAgreementTests.v1Field("x", Array("Q".utf8), buffer: 7, [UInt8](repeating: 0, count: 16)),
            SpecAgreementTests.v1Field("x", [0xFF], [0]),
            SpecAgreementTests.v1Field("x", Array("70000s".utf8), [0]),
        ])
    func v1Rejected(_ field: [UInt8]) throws {
        let directory = TemporaryDirectory("v1bad")
        let path = directory.path + "/v1.mmstats"
        try Data([1] + field).write(to: URL(fileURLWithPath: path))
        let (swift, python) = try Self.bothReaders([path])
        #expect(swift.status == 1)
        #expect(python.status == 1)
    }

    @Test("both readers expand directories alike: links, dot names and hard links")
    func directoryExpansion() throws {
        let directory = TemporaryDirectory("expand")
        let writer = try StatsWriter(directory.options())
        try writer.counter("c").increment()
        let folder = (writer.path as NSString).deletingLastPathComponent
        #expect(link(writer.path, folder + "/hard.mmstats") == 0)
        #expect(symlink(writer.path, folder + "/soft.mmstats") == 0)
        try FileManager.default.copyItem(atPath: writer.path, toPath: folder + "/.hidden.mmstats")
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: writer.path, toPath: folder + "/sub/copy.mmstats")
        let (swift, _) = try Self.bothReaders([directory.path, writer.path])
        let files = try #require(try JSONSerialization.jsonObject(with: Data(swift.stdout.utf8)) as? [[String: Any]])
        let paths = files.compactMap { $0["path"] as? String }
        #expect(paths.count == 2, "one of the two hard links, and the copy: \(paths)")
        #expect(paths.contains(folder + "/sub/copy.mmstats"))
    }

    @Test("/proc/PID/stat: a command name with spaces and parentheses does not shift the fields")
    func commandWithParentheses() throws {
        let code =
            "import sys, time\nopen('/proc/self/comm', 'w').write('x) (y z')\nprint('ready', flush=True)\ntime.sleep(30)\n"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", code]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        _ = output.fileHandleForReading.readData(ofLength: 6)
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        #expect(stat.contains("(x) (y z)"))
        let after = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
        #expect(ProcessIdentity.startTime(of: process.processIdentifier) == UInt64(after[19]))
    }

    @Test("a page-flip file holds only page-flip records; a word file refuses them")
    func pageFlipLayoutRule() throws {
        let directory = TemporaryDirectory("layout-rule")
        var options = directory.options(model: "Flip")
        options.layout = .pageFlip
        let flip = try StatsWriter(options)
        #expect(try flip.record("a", kind: RawKind(Signature([.uint64]), ["v"])).descriptor.layout == .pageFlip)
        #expect(
            try flip.record("b", kind: RawKind(Signature([.uint64]), ["v"]), layout: .pageFlip).descriptor.layout
                == .pageFlip)
        for layout in [LayoutID.word, .doubleBuffer] {
            #expect(throws: MmStatsError.self) {
                _ = try flip.record("c", kind: RawKind(Signature([.uint64]), ["v"]), layout: layout)
            }
        }
        let words = try StatsWriter(directory.options(model: "Words"))
        #expect(throws: MmStatsError.self) {
            _ = try words.record("d", kind: RawKind(Signature([.uint64]), ["v"]), layout: .pageFlip)
        }
    }
}

/// A kind with any signature and field names.
struct RawKind: MetricKind {
    let signature: Signature
    let fieldNames: [String]
    var name: String { "raw" }
    var defaultLayout: LayoutID { .word }

    init(_ signature: Signature, _ fieldNames: [String]) {
        self.signature = signature
        self.fieldNames = fieldNames
    }
}
