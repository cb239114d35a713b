import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

@Suite("mmstats clean")
struct CleanTests {
    /// A copy of `source` at `path` with header fields patched: `(offset, 8-byte little-endian value)`
    /// (docs/FORMAT.md §2: pid at 64, start time at 80, pid namespace at 104; flags at 20, 4 bytes).
    static func patchedCopy(of source: String, to path: String, _ patches: [(offset: Int, value: UInt64)]) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: source)))
        for patch in patches {
            let size = patch.offset == 20 ? 4 : 8
            for index in 0..<size {
                bytes[patch.offset + index] = UInt8(truncatingIfNeeded: patch.value >> (8 * index))
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// A process that lives until the test kills it.
    static func sleeper() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["60"]
        try process.run()
        return process
    }

    @Test("a live writer process's file is kept, a killed one's removed; --dry-run removes nothing")
    func liveAndKilled() throws {
        let directory = TemporaryDirectory("clean-procs")
        let live = try WriterProcess(mode: "word", root: directory.path, seconds: 30)
        defer { live.kill() }
        let killed = try WriterProcess(mode: "page-flip", root: directory.path, seconds: 30)
        let killedPid = killed.process.processIdentifier
        killed.kill()

        let dry = try run(Binaries.mmstats, ["clean", "--dry-run", directory.path])
        #expect(dry.status == 0, "\(dry.stderr)")
        let livePid = live.process.processIdentifier
        #expect(dry.stdout.contains("would remove \(killed.path) (writer \(killedPid) is gone)\n"), "\(dry.stdout)")
        #expect(dry.stdout.contains("kept \(live.path) (live writer \(livePid))\n"), "\(dry.stdout)")
        #expect(dry.stdout.hasSuffix("1 would be removed, 1 kept\n"), "\(dry.stdout)")
        #expect(Self.exists(killed.path) && Self.exists(live.path), "--dry-run removed a file")

        let result = try run(Binaries.mmstats, ["clean"], environment: ["MMSTATS_PATH": directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("removed \(killed.path) (writer \(killedPid) is gone)\n"), "\(result.stdout)")
        #expect(result.stdout.contains("kept \(live.path) (live writer \(livePid))\n"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("1 removed, 1 kept\n"), "\(result.stdout)")
        #expect(!Self.exists(killed.path))
        #expect(Self.exists(live.path))
        #expect(Self.exists(directory.path + "/torture/page-flip"), "directories are left in place")
    }

    @Test("a pid reused by a live process with another start time is gone; same start time is live")
    func reusedPid() throws {
        let directory = TemporaryDirectory("clean-reused")
        let model = directory.path + "/app/Model"
        let stats = try StatsWriter(directory.options())
        try stats.counter("requests").increment(by: 3)
        let other = try Self.sleeper()
        defer {
            kill(other.processIdentifier, SIGKILL)  // SIGKILL: the test runner's children may block SIGTERM
            other.waitUntilExit()
        }
        let pid = other.processIdentifier
        let start = try #require(ProcessIdentity.startTime(of: pid))
        let reused = model + "/reused.mmstats"
        let same = model + "/same.mmstats"
        let closed = model + "/closed.mmstats"
        let elsewhere = model + "/namespace.mmstats"
        try Self.patchedCopy(of: stats.path, to: reused, [(64, UInt64(pid)), (80, start + 1)])
        try Self.patchedCopy(of: stats.path, to: same, [(64, UInt64(pid)), (80, start)])
        try Self.patchedCopy(of: stats.path, to: closed, [(64, UInt64(pid)), (80, start), (20, 1)])
        try Self.patchedCopy(
            of: stats.path, to: elsewhere,
            [(64, UInt64(pid)), (80, start + 1), (104, ProcessIdentity.pidNamespace + 1)])

        let result = try run(Binaries.mmstats, ["clean", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = Set(result.stdout.split(separator: "\n").map(String.init))
        #expect(lines.contains("removed \(reused) (writer \(pid) is gone: its pid now belongs to another process)"))
        #expect(lines.contains("kept \(same) (live writer \(pid))"))
        #expect(lines.contains("removed \(closed) (writer \(pid) closed the file)"))
        #expect(
            lines.contains(
                "kept \(elsewhere) (writer \(pid) runs in another PID namespace: whether it is gone is unknown)"))
        #expect(lines.contains("kept \(stats.path) (live writer \(getpid()))"))
        #expect(lines.contains("2 removed, 3 kept"), "\(result.stdout)")
        #expect(!Self.exists(reused) && !Self.exists(closed))
        #expect(Self.exists(same) && Self.exists(elsewhere) && Self.exists(stats.path))
    }

    @Test("symbolic links are not followed: neither a link in the root nor one given, and their targets stay")
    func symbolicLinks() throws {
        let directory = TemporaryDirectory("clean-links")
        let outside = TemporaryDirectory("clean-links-outside")
        let dead = try WriterProcess(mode: "word", root: outside.path, seconds: 30)
        dead.kill()
        #expect(symlink(dead.path, directory.path + "/stale.mmstats") == 0)
        #expect(symlink(outside.path + "/torture", directory.path + "/dir") == 0)

        let result = try run(Binaries.mmstats, ["clean", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "0 removed, 0 kept\n", "links in a directory are skipped")
        #expect(Self.exists(dead.path))
        #expect(Self.exists(directory.path + "/stale.mmstats"))

        let given = try run(Binaries.mmstats, ["clean", directory.path + "/stale.mmstats"])
        #expect(given.status == 1)
        #expect(
            given.stdout
                == "kept \(directory.path)/stale.mmstats (not a regular file: not examined)\n"
                + "0 removed, 1 kept (1 of them could not be judged or removed)\n")
        #expect(Self.exists(dead.path))
    }

    @Test("a corrupt file and a file that is not a stats file are kept and reported, with exit status 1")
    func corruptFiles() throws {
        let directory = TemporaryDirectory("clean-corrupt")
        let killed = try WriterProcess(mode: "word", root: directory.path, seconds: 30)
        killed.kill()
        let corrupt = directory.path + "/corrupt.mmstats"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: killed.path)))
        bytes[1] = UInt8(ascii: "X")  // bad magic
        try Data(bytes).write(to: URL(fileURLWithPath: corrupt))
        let text = directory.path + "/notes.mmstats"
        try "not a stats file\n".write(toFile: text, atomically: false, encoding: .utf8)

        let result = try run(Binaries.mmstats, ["clean", directory.path])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("kept \(corrupt) (cannot read: ") && $0.contains("magic") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("kept \(text) (cannot read: ") }, "\(lines)")
        #expect(lines.contains("removed \(killed.path) (writer \(killed.process.processIdentifier) is gone)"))
        #expect(lines.last == "1 removed, 2 kept (2 of them could not be judged or removed)")
        #expect(Self.exists(corrupt) && Self.exists(text))
        #expect(!Self.exists(killed.path))
    }

    @Test("the hidden name a file is moved to before removal never replaces a file that holds it")
    func hiddenNameTaken() throws {
        let directory = TemporaryDirectory("clean-hidden")
        let killed = try WriterProcess(mode: "word", root: directory.path, seconds: 30)
        killed.kill()
        let folder = (killed.path as NSString).deletingLastPathComponent
        // The shell's pid is the pid clean runs with (exec): its first hidden name is taken.
        let script = "printf keep > \"$1/.mmstats-clean-$$-0.tmp\"; exec \"$2\" clean \"$1\""
        let result = try run("/bin/sh", ["-c", script, "sh", folder, Binaries.mmstats])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("removed \(killed.path) "), "\(result.stdout)")
        #expect(!Self.exists(killed.path))
        let hidden = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
            $0.hasPrefix(".mmstats-clean-")
        }
        #expect(hidden.count == 1, "\(hidden)")
        let kept = try String(contentsOfFile: folder + "/" + (hidden.first ?? ""), encoding: .utf8)
        #expect(kept == "keep", "the file at the hidden name was replaced")
    }

    @Test("a missing path is an error on stderr with exit status 1; unknown options are usage errors")
    func errorsAndUsage() throws {
        let directory = TemporaryDirectory("clean-usage")
        let missing = try run(Binaries.mmstats, ["clean", directory.path + "/missing"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("\(directory.path)/missing: cannot open"), "\(missing.stderr)")
        #expect(missing.stdout == "0 removed, 0 kept\n")
        let option = try run(Binaries.mmstats, ["clean", "--force"])
        #expect(option.status == 2)
        #expect(option.stderr.contains("unknown option '--force'"))
    }
}
