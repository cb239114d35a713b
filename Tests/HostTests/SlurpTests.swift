import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

@Suite("mmstats slurp")
struct SlurpTests {
    static let v1Fixture = Binaries.packageRoot + "/../shared/fixtures/v1/queue-v1.mmstats"

    /// Writes a file with one metric of each kind and layout; returns the writers (keep them alive).
    static func makeFiles(in directory: TemporaryDirectory) throws -> [StatsWriter] {
        let web = try StatsWriter(directory.options(application: "web", model: "HTTPStats"))
        try web.counter("index.response", dimensions: ["code": "200"], unit: "requests", help: "OK answers")
            .increment(by: 42)
        try web.gauge("queue.depth").set(-3)
        try web.doubleGauge("cpu.load").set(0.5)
        _ = try web.record(
            "job.time", kind: PairKind(), unit: "s",
            initial: [.uint(3), .double(1.25)])
        var flipOptions = directory.options(application: "web", model: "Flip")
        flipOptions.layout = .pageFlip
        let flip = try StatsWriter(flipOptions)
        try flip.counter("flipped").increment(by: 9)
        flip.publish()
        return [web, flip]
    }

    @Test("JSON output holds every file, writer and metric")
    func json() throws {
        let directory = TemporaryDirectory("slurp-json")
        let writers = try Self.makeFiles(in: directory)
        let result = try run(Binaries.mmstats, ["slurp", "--json", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        let files = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(files.count == 2)
        let web = try #require(files.first { ($0["path"] as? String) == writers[0].path })
        #expect(web["version"] as? Int == 2)
        let writer = try #require(web["writer"] as? [String: Any])
        #expect(writer["pid"] as? Int == Int(getpid()))
        #expect(writer["application"] as? String == "web")
        #expect(writer["model"] as? String == "HTTPStats")
        #expect(writer["state"] as? String == "live")
        let metrics = try #require(web["metrics"] as? [[String: Any]])
        #expect(metrics.map { $0["name"] as? String } == ["index.response", "queue.depth", "cpu.load", "job.time"])
        #expect(metrics[0]["value"] as? Int == 42)
        #expect(metrics[0]["dimensions"] as? [String: String] == ["code": "200"])
        #expect(metrics[0]["kind"] as? String == "counter")
        #expect(metrics[0]["unit"] as? String == "requests")
        #expect(metrics[0]["description"] as? String == "OK answers")
        #expect(metrics[0]["layout"] as? String == "word")
        #expect(metrics[1]["value"] as? Int == -3)
        #expect(metrics[2]["value"] as? Double == 0.5)
        #expect(metrics[3]["value"] == nil)  // two fields: no single value
        #expect(metrics[3]["layout"] as? String == "double-buffer")
        let fields = try #require(metrics[3]["fields"] as? [String: Any])
        #expect(fields["count"] as? Int == 3)
        #expect(fields["sum"] as? Double == 1.25)
        let flip = try #require(files.first { ($0["path"] as? String) == writers[1].path })
        let flipMetrics = try #require(flip["metrics"] as? [[String: Any]])
        #expect(flipMetrics.first?["layout"] as? String == "page-flip")
        #expect(flipMetrics.first?["value"] as? Int == 9)
    }

    @Test("text output aligns names and values, one block per file, v1 included")
    func text() throws {
        let directory = TemporaryDirectory("slurp-text")
        let writers = try Self.makeFiles(in: directory)
        let result = try run(Binaries.mmstats, ["slurp", writers[0].path, Self.v1Fixture])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.first
                == "==> \(writers[0].path) (v2, pid \(getpid()), tid \(writers[0].tidForTest), web/HTTPStats, live) <=="
        )
        #expect(lines.contains("index.response{code=200}  42"))
        #expect(lines.contains("queue.depth               -3"))
        #expect(lines.contains("job.time                  count=3 sum=1.25"))
        #expect(lines.contains("queue.worker.name         worker-7"))
        #expect(lines.contains { $0.hasPrefix("==> \(Self.v1Fixture) (v1, pid 17315") })
    }

    @Test("a bad file is reported on stderr with a non-zero exit, and the good files are still shown")
    func badFile() throws {
        let directory = TemporaryDirectory("slurp-bad")
        let writers = try Self.makeFiles(in: directory)
        let bad = directory.path + "/web/HTTPStats/broken.mmstats"
        try Data([2, 0x4D, 0x4D] + [UInt8](repeating: 0, count: 300)).write(to: URL(fileURLWithPath: bad))
        let result = try run(Binaries.mmstats, ["slurp", "--json", directory.path, directory.path + "/missing"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("mmstats: \(bad): bad magic"))
        #expect(result.stderr.contains("\(directory.path)/missing"))
        let files = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(Set(files.compactMap { $0["path"] as? String }) == Set(writers.map(\.path)))
    }

    @Test("the default directory is $MMSTATS_PATH; unknown options and commands are usage errors")
    func defaultsAndUsage() throws {
        let directory = TemporaryDirectory("slurp-env")
        let writers = try Self.makeFiles(in: directory)
        let result = try run(Binaries.mmstats, ["slurp"], environment: ["MMSTATS_PATH": directory.path])
        #expect(result.status == 0)
        #expect(result.stdout.contains(writers[1].path))
        let option = try run(Binaries.mmstats, ["slurp", "--bogus"])
        #expect(option.status == 2)
        #expect(option.stderr.contains("unknown option '--bogus'"))
        let command = try run(Binaries.mmstats, ["frobnicate"])
        #expect(command.status == 2)
        #expect(command.stderr.contains("unknown command 'frobnicate'"))
    }

    @Test("text output shows control characters from a file as escapes, never raw")
    func controlCharacters() throws {
        let directory = TemporaryDirectory("slurp-escape")
        let writer = try StatsWriter(directory.options(application: "web", model: "Escape"))
        try writer.counter("evil\u{1B}[2Jname", dimensions: ["k": "v\u{7}"]).increment()
        _ = try writer.record("title", kind: TextKind(), initial: [.string("a\u{1B}]0;pwned\u{7}")])
        let result = try run(Binaries.mmstats, ["slurp", writer.path])
        #expect(result.status == 0)
        #expect(!result.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
        #expect(result.stdout.contains("evil\\u{1B}[2Jname{k=v\\u{7}}"))
        #expect(result.stdout.contains("a\\u{1B}]0;pwned\\u{7}"))
    }

    @Test(
        "escapes, bidi overrides and zero-width characters from files and file names are shown escaped on stdout and stderr"
    )
    func hostileText() throws {
        let directory = TemporaryDirectory("slurp-hostile-text")
        let esc = "\u{1B}]0;owned\u{7}\u{1B}[2J"
        // Readable files whose path, names, dimensions, field names and values carry them.
        let writer = try StatsWriter(directory.options(application: "web", model: "M\u{1B}[1m\u{202E}"))
        try writer.counter("evil\(esc)\u{202E}name\u{200B}", dimensions: ["k\u{9B}": "v\u{2066}\u{FEFF}"])
            .increment()
        _ = try writer.record("title", kind: TextKind(), initial: [.string("a\(esc)\u{202E}\u{2028}z")])
        _ = try writer.record("pair", kind: HostileFieldsKind(), initial: [.uint(1), .uint(2)])
        // Unreadable files whose errors quote them: a file name, a v1 label and type, a signature.
        try Data([2] + Array("MMSTATX".utf8) + [UInt8](repeating: 0, count: 4088))
            .write(to: URL(fileURLWithPath: directory.path + "/n\(esc)\u{202E}.mmstats"))
        let label = Array("x\(esc)\u{202E}".utf8)
        let type = Array("Z\(esc)".utf8)
        var v1 = [UInt8(1), UInt8(label.count), 0] + label + [UInt8(type.count), 0] + type + [0xFF]
        v1 += [UInt8](repeating: 0, count: 4096 - v1.count)
        try Data(v1).write(to: URL(fileURLWithPath: directory.path + "/v1label.mmstats"))
        try Data(signatureWithEscape()).write(to: URL(fileURLWithPath: directory.path + "/badsig.mmstats"))

        for arguments in [["slurp", directory.path], ["slurp", "--json", directory.path]] {
            let result = try run(Binaries.mmstats, arguments)
            #expect(result.status == 1, "\(arguments)")
            let streams = arguments.contains("--json") ? [result.stderr] : [result.stdout, result.stderr]
            for text in streams {
                let raw = text.unicodeScalars.filter {
                    $0.value < 0x20 && $0 != "\n" || (0x7F...0x9F).contains($0.value)
                        || [0x200B, 0x202E, 0x2028, 0x2066, 0xFEFF].contains($0.value)
                }
                #expect(raw.isEmpty, "\(arguments): raw \(raw.map { String($0.value, radix: 16) }) in\n\(text)")
            }
            #expect(result.stderr.contains(#"/n\u{1B}]0;owned\u{7}\u{1B}[2J\u{202E}.mmstats: bad magic"#))
            #expect(result.stderr.contains(#"unknown v1 type 'Z\u{1B}]0;owned\u{7}\u{1B}[2J' for 'x\u{1B}"#))
            #expect(result.stderr.contains(#"signature '\u{1B}d'"#))
        }
        let text = try run(Binaries.mmstats, ["slurp", writer.path]).stdout
        #expect(text.contains(#"/web/M\u{1B}[1m\u{202E}/"#))
        #expect(text.contains(#"evil\u{1B}]0;owned\u{7}\u{1B}[2J\u{202E}name\u{200B}{k\u{9B}=v\u{2066}\u{FEFF}}"#))
        #expect(text.contains(#"a\u{1B}]0;owned\u{7}\u{1B}[2J\u{202E}\u{2028}z"#))
        #expect(text.contains(#"c\u{202E}ount=1 s\u{1B}[7mum=2"#))
    }

    /// A v2 file whose one signature is ESC + `d`: the reader's error quotes it.
    func signatureWithEscape() throws -> [UInt8] {
        let directory = TemporaryDirectory("slurp-badsig")
        let writer = try StatsWriter(directory.options())
        _ = try writer.record("job.time", kind: PairKind(), initial: [.uint(1), .double(2)])
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: writer.path)))
        let marker = Array("job.timeQdcount,sum".utf8)
        let at = try #require(
            bytes.indices.first { bytes[$0..<min($0 + marker.count, bytes.count)].elementsEqual(marker) })
        bytes[at + 8] = 0x1B
        return bytes
    }

    @Test("hard links to one file are read and printed once, under the path that comes first")
    func hardLinks() throws {
        let directory = TemporaryDirectory("slurp-links")
        let writers = try Self.makeFiles(in: directory)
        let links = directory.path + "/links"
        #expect(mkdir(links, 0o700) == 0)
        for index in 1...4 { #expect(link(writers[0].path, "\(links)/l\(index).mmstats") == 0) }
        let first = links + "/l1.mmstats"

        let single = try run(Binaries.mmstats, ["slurp", "--json", writers[0].path])
        let linked = try run(Binaries.mmstats, ["slurp", "--json", links])
        #expect(linked.status == 0, "\(linked.stderr)")
        let files = try #require(try JSONSerialization.jsonObject(with: Data(linked.stdout.utf8)) as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == [first])
        // Byte for byte what the file alone prints, under the first link's name.
        #expect(linked.stdout == single.stdout.replacing(writers[0].path, with: first))

        // The whole tree, a file given twice and a directory that holds it: each file once.
        let tree = try run(
            Binaries.mmstats, ["slurp", "--json", writers[1].path, directory.path, writers[1].path, links])
        #expect(tree.status == 0, "\(tree.stderr)")
        let treeFiles = try #require(try JSONSerialization.jsonObject(with: Data(tree.stdout.utf8)) as? [[String: Any]])
        #expect(treeFiles.map { $0["path"] as? String } == [writers[1].path, first])
        let text = try run(Binaries.mmstats, ["slurp", writers[0].path, first, writers[0].path])
        #expect(text.stdout.components(separatedBy: "==> ").count == 2, "\(text.stdout)")
        #expect(text.stdout.hasPrefix("==> \(writers[0].path) "))
    }

    @Test("JSON output of no files is an empty array")
    func emptyJSON() throws {
        let directory = TemporaryDirectory("slurp-empty")
        let result = try run(Binaries.mmstats, ["slurp", "--json", directory.path])
        #expect(result.status == 0)
        #expect(result.stdout == "[]\n")
        #expect(try run(Binaries.mmstats, ["slurp", directory.path]).stdout == "")
    }

    @Test("a file below a path longer than PATH_MAX is an error naming the path, abbreviated; the rest is printed")
    func pathTooLong() throws {
        let directory = TemporaryDirectory("slurp-long")
        defer { _ = try? run("/bin/rm", ["-rf", directory.path]) }
        let fixture = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.v1Fixture)))
        try Data(fixture).write(to: URL(fileURLWithPath: directory.path + "/top.mmstats"))
        // 22 directories of 200 bytes: the bottom is more than 4400 bytes from the top.
        let names = (0..<22).map { String(repeating: Character(UnicodeScalar(UInt8(97 + $0 % 26))), count: 200) }
        try makeTree(directory.path, names, file: "deep.mmstats", contents: fixture)

        let result = try run(Binaries.mmstats, ["slurp", directory.path])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("==> \(directory.path)/top.mmstats (v1"), "\(result.stdout)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.contains("File name too long"), "\(line)")
        #expect(line.hasPrefix("mmstats: \(directory.path)/aaaa"), "\(line)")
        #expect(line.contains("…"), "the path is abbreviated: \(line)")
        #expect(line.count < 1000, "\(line.count) characters")
    }

    @Test("a file or directory whose name is not UTF-8 is an error, not silently skipped")
    func nameNotUTF8() throws {
        let directory = TemporaryDirectory("slurp-utf8")
        let fixture = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.v1Fixture)))
        try Data(fixture).write(to: URL(fileURLWithPath: directory.path + "/good.mmstats"))
        // C paths with a byte that is never UTF-8 (0xFF, 0xFE) in the last component.
        func path(_ name: [UInt8]) -> [CChar] {
            (Array((directory.path + "/").utf8) + name + [0]).map { CChar(bitPattern: $0) }
        }
        let fd = open(path(Array("bad".utf8) + [0xFF] + Array(".mmstats".utf8)), O_CREAT | O_WRONLY, 0o600)
        #expect(fd >= 0)
        close(fd)
        #expect(mkdir(path([UInt8(ascii: "d"), 0xFE]), 0o700) == 0)
        let result = try run(Binaries.mmstats, ["slurp", directory.path])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("==> \(directory.path)/good.mmstats (v1"))
        #expect(
            result.stderr.contains("/bad\u{FFFD}.mmstats: not read: the name is not valid UTF-8"), "\(result.stderr)")
        #expect(result.stderr.contains("/d\u{FFFD}: not searched: the name is not valid UTF-8"), "\(result.stderr)")
    }

    @Test("directories more than 64 levels down are not searched, and that is an error")
    func depthLimit() throws {
        let directory = TemporaryDirectory("slurp-depth")
        defer { _ = try? run("/bin/rm", ["-rf", directory.path]) }
        let fixture = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.v1Fixture)))
        // Files 64 and 65 directories below the argument: the first is found, the second is not.
        let names = (0..<65).map { "d\($0)" }
        try makeTree(directory.path, Array(names[..<64]), file: "at64.mmstats", contents: fixture)
        try makeTree(directory.path, names, file: "at65.mmstats", contents: fixture)
        let at64 = directory.path + "/" + names[..<64].joined(separator: "/") + "/at64.mmstats"
        let result = try run(Binaries.mmstats, ["slurp", "--json", directory.path])
        #expect(result.status == 1)
        let files = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == [at64])
        let skipped = directory.path + "/" + names.joined(separator: "/")
        #expect(result.stderr == "mmstats: \(skipped): not searched: more than 64 levels below the directory given\n")
    }

    @Test("the walk holds one directory open at a time: 60 levels under a limit of 16 descriptors")
    func fewDescriptors() throws {
        let directory = TemporaryDirectory("slurp-fds")
        defer { _ = try? run("/bin/rm", ["-rf", directory.path]) }
        let fixture = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.v1Fixture)))
        let names = (0..<60).map { "d\($0)" }
        try makeTree(directory.path, names, file: "bottom.mmstats", contents: fixture)
        let result = try run(
            "/bin/sh", ["-c", "ulimit -n 16 && exec \"$0\" slurp \"$1\"", Binaries.mmstats, directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("/d59/bottom.mmstats (v1, pid 17315"), "\(result.stdout)")
    }

    @Test("the demo writes, reads back and removes its file")
    func demo() throws {
        let directory = TemporaryDirectory("demo")
        let result = try run(
            Binaries.mmstats, ["demo", "--seconds", "0"], environment: ["MMSTATS_PATH": directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("http.requests{code=200}  1000"))
        #expect(result.stdout.contains("job.time                 count=1000"))
        let left = try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter {
            $0.hasSuffix(".mmstats")
        }
        #expect(left.isEmpty)
    }
}

/// One short text.
struct TextKind: MetricKind {
    var name: String { "text" }
    var signature: Signature { Signature([.string(capacity: 32)]) }
    var fieldNames: [String] { ["value"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

/// Creates `names` as nested directories under `top` (relative to each other, so the whole may
/// be longer than PATH_MAX) and a file in the deepest one.
func makeTree(_ top: String, _ names: [String], file: String, contents: [UInt8]) throws {
    struct TreeError: Error { let step: String }
    var fd = open(top, O_RDONLY | O_DIRECTORY)
    guard fd >= 0 else { throw TreeError(step: "open \(top)") }
    defer { close(fd) }
    for name in names {
        guard mkdirat(fd, name, 0o700) == 0 || errno == EEXIST else { throw TreeError(step: "mkdir \(name)") }
        let next = openat(fd, name, O_RDONLY | O_DIRECTORY)
        guard next >= 0 else { throw TreeError(step: "open \(name)") }
        close(fd)
        fd = next
    }
    let out = openat(fd, file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard out >= 0 else { throw TreeError(step: "create \(file)") }
    defer { close(out) }
    guard contents.withUnsafeBytes({ write(out, $0.baseAddress, $0.count) }) == contents.count else {
        throw TreeError(step: "write \(file)")
    }
}

/// Two fields whose names carry a bidi override and an escape sequence.
struct HostileFieldsKind: MetricKind {
    var name: String { "hostile" }
    var signature: Signature { Signature([.uint64, .uint64]) }
    var fieldNames: [String] { ["c\u{202E}ount", "s\u{1B}[7mum"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

/// Count and sum, updated together.
struct PairKind: MetricKind {
    var name: String { "pair" }
    var signature: Signature { Signature([.uint64, .float64]) }
    var fieldNames: [String] { ["count", "sum"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

extension StatsWriter {
    /// The thread id in the file name (tests name files PID-TID).
    var tidForTest: String {
        String(path.split(separator: "/").last?.split(separator: "-").last?.split(separator: ".").first ?? "")
    }
}
