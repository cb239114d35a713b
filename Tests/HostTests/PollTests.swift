import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

@Suite("mmstats poll")
struct PollTests {
    /// A running `mmstats poll` whose rows the test reads one at a time.
    final class PollProcess {
        let process = Process()
        private let output = Pipe()
        private let errors = Pipe()

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: Binaries.mmstats)
            process.arguments = ["poll"] + arguments
            process.standardOutput = output
            process.standardError = errors
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        /// The next line of stdout, without its newline; nil at the end.
        func line() -> String? {
            var bytes = Data()
            while true {
                let byte = output.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
                if byte == Data([0x0A]) { return String(decoding: bytes, as: UTF8.self) }
                bytes.append(byte)
            }
        }

        /// Waits for the exit; returns the status, the rest of stdout and all of stderr.
        func finish() -> (status: Int32, stdout: String, stderr: String) {
            let rest = output.fileHandleForReading.readDataToEndOfFile()
            let stderr = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (
                process.terminationStatus, String(decoding: rest, as: UTF8.self),
                String(decoding: stderr, as: UTF8.self)
            )
        }
    }

    /// The cells of a row or header.
    static func cells(_ line: String?) -> [String] { (line ?? "").split(separator: " ").map(String.init) }

    /// Two writers, each with a counter, a gauge and a histogram.
    static func makeWriters(in directory: TemporaryDirectory) throws -> (StatsWriter, StatsWriter) {
        let a = try StatsWriter(directory.options(application: "web", model: "A"))
        try a.counter("web.requests").increment(by: 100)
        try a.gauge("queue.depth").set(7)
        let latencyA = try a.histogram("web.latency")
        for _ in 0..<3 { latencyA.record(100) }
        let b = try StatsWriter(directory.options(application: "web", model: "B"))
        try b.counter("web.requests").increment(by: 10)
        try b.gauge("queue.depth").set(-2)
        let latencyB = try b.histogram("web.latency")
        for _ in 0..<3 { latencyB.record(50) }
        return (a, b)
    }

    @Test("a header and --count rows: counter totals then changes, gauge sums, histogram fields, '-' when missing")
    func rows() throws {
        let directory = TemporaryDirectory("poll-rows")
        let writers = try Self.makeWriters(in: directory)
        defer { withExtendedLifetime(writers) {} }
        let names = [
            "web.requests", "queue.depth", "web.latency.p99", "web.latency.count", "web.latency.min", "no.such",
        ]
        let result = try run(
            Binaries.mmstats, ["poll", "--count", "3", "--interval", "0.2", "--root", directory.path] + names)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        #expect(!result.stdout.contains("\u{1B}"), "no escape codes when stdout is a pipe")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 5 && lines.last == "", "a header, 3 rows: \(result.stdout)")
        #expect(Self.cells(lines[0]) == names)
        #expect(Self.cells(lines[1]) == ["110*", "5", "100", "6", "50", "-"], "\(result.stdout)")
        #expect(Self.cells(lines[2]) == ["0", "5", "100", "6", "50", "-"], "\(result.stdout)")
        #expect(Self.cells(lines[3]) == ["0", "5", "100", "6", "50", "-"], "\(result.stdout)")
        // Right-aligned under the names: every line ends where the header does.
        #expect(lines[1...3].allSatisfy { $0.count == lines[0].count }, "\(result.stdout)")
        #expect(lines[2].hasSuffix("  -") && lines[2].hasPrefix("           0  "), "\(lines[2])")
    }

    @Test("counters show each interval's change: a new file counts from 0, a vanished file adds nothing")
    func changes() throws {
        let directory = TemporaryDirectory("poll-changes")
        var (a, b): (StatsWriter, StatsWriter?) = try Self.makeWriters(in: directory)
        let requests = try a.counter("web.requests")
        let depth = try a.gauge("queue.depth")
        // Each change is made right after a row is read, well within the next interval.
        let poll = try PollProcess(
            ["--count", "3", "--interval", "0.5", "--root", directory.path, "web.requests", "queue.depth"])
        #expect(Self.cells(poll.line()) == ["web.requests", "queue.depth"])
        #expect(Self.cells(poll.line()) == ["110*", "5"])
        requests.increment(by: 5)
        depth.set(9)
        b?.close()  // its file is removed: its 10 requests are not subtracted
        b = nil
        let late = try StatsWriter(directory.options(application: "web", model: "Late"))
        try late.counter("web.requests").increment(by: 3)
        #expect(Self.cells(poll.line()) == ["8", "9"], "5 more in A, 3 in the new file")
        requests.increment(by: 7)
        #expect(Self.cells(poll.line()) == ["7", "9"])
        let end = poll.finish()
        #expect(end.status == 0, "\(end.stderr)")
        #expect(end.stdout.isEmpty)
        withExtendedLifetime(late) {}
    }

    @Test("without --count it runs until SIGINT or SIGTERM, then exits 0", arguments: [SIGINT, SIGTERM])
    func signals(_ signal: Int32) throws {
        let directory = TemporaryDirectory("poll-signal")
        let writers = try Self.makeWriters(in: directory)
        defer { withExtendedLifetime(writers) {} }
        let poll = try PollProcess(["--interval", "0.1", "--root", directory.path, "queue.depth"])
        #expect(poll.line() == "queue.depth")
        #expect(poll.line() == "          5")
        #expect(poll.line() == "          5")
        kill(poll.process.processIdentifier, signal)
        let end = poll.finish()
        #expect(end.status == 0, "\(end.stderr)")
        #expect(poll.process.terminationReason == .exit)
    }

    @Test("a long interval: SIGINT or SIGTERM sent just as the wait begins ends it at once (the self-pipe)")
    func signalEndsALongWait() throws {
        let directory = TemporaryDirectory("poll-signal-wait")
        let writers = try Self.makeWriters(in: directory)
        defer { withExtendedLifetime(writers) {} }
        for round in 0..<10 {
            // 600 s between rows: an exit seen after a signal was caused by it, not by the clock.
            let poll = try PollProcess(["--interval", "600", "--root", directory.path, "queue.depth"])
            // A missed signal would wait 600 s: kill the process well before, so the test fails instead of hanging.
            let process = poll.process
            let watchdog = DispatchWorkItem { kill(process.processIdentifier, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
            defer { watchdog.cancel() }
            #expect(poll.line() == "queue.depth")
            #expect(poll.line() == "          5")
            // Right after the row is printed: when the process is about to wait.
            kill(poll.process.processIdentifier, round % 2 == 0 ? SIGINT : SIGTERM)
            let end = poll.finish()
            #expect(end.status == 0, "round \(round): \(end.stderr)")
            #expect(poll.process.terminationReason == .exit, "round \(round)")
        }
    }

    @Test("the header is printed again after every 20 rows when stdout is not a terminal")
    func headerRepeats() throws {
        let directory = TemporaryDirectory("poll-header")
        let writers = try Self.makeWriters(in: directory)
        defer { withExtendedLifetime(writers) {} }
        let result = try run(
            Binaries.mmstats, ["poll", "--count", "25", "--interval", "0.001", "--root", directory.path, "queue.depth"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 27)
        #expect(lines.indices.filter { lines[$0] == "queue.depth" } == [0, 21])
    }

    @Test(
        "on a terminal of 8 lines the header comes every 6 rows, still without escape codes",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func shortTerminal() throws {
        let directory = TemporaryDirectory("poll-tty")
        let writers = try Self.makeWriters(in: directory)
        defer { withExtendedLifetime(writers) {} }
        // script(1) gives poll a pseudo-terminal; stty sets its height.
        let command =
            "stty rows 8 && exec '\(Binaries.mmstats)' poll --count 14 --interval 0.001 --root '\(directory.path)' queue.depth"
        let result = try run("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(whereSeparator: \.isNewline).map(String.init)  // a terminal's "\r\n"
        #expect(lines.count == 17, "\(result.stdout) \(result.stderr)")
        #expect(lines.indices.filter { lines[$0] == "queue.depth" } == [0, 7, 14], "\(lines)")
        #expect(!result.stdout.contains("\u{1B}"))
    }

    @Test("usage errors: no name, a bad interval or count, an unknown option")
    func usage() throws {
        for arguments in [
            ["poll"], ["poll", "--interval", "0", "x"], ["poll", "--interval", "soon", "x"],
            ["poll", "--count", "0", "x"],
            ["poll", "--frequency", "2", "x"],
        ] {
            let result = try run(Binaries.mmstats, arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains("usage: mmstats poll"), "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
    }
}
