import Foundation
import MmStatsCore
import MmStatsTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// docs/FORMAT.md §7 and §8: where files go, what the writer refuses to follow or trust, the
// modes it creates, and how a reader classifies the writer of a file. The tests run as root
// here, so ownership checks against other users are exercised only where a test gives a link
// to another uid (skipped when not root); otherwise they cover modes and links.

// MARK: - Helpers

private struct SecurityIOError: Error, CustomStringConvertible {
    let description: String
}

/// The permission bits of `path` itself (not of a link's target), or nil if it does not exist.
private func permissions(_ path: String) -> mode_t? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return info.st_mode & 0o7777
}

/// Whether `path` exists as a symbolic link (not followed).
private func isSymbolicLink(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
}

/// Whether anything exists at `path`, without following a final symbolic link.
private func exists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

/// Creates a directory with exactly `mode`, whatever the umask.
private func makeDirectory(_ path: String, mode: mode_t = 0o700) throws {
    guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
        throw SecurityIOError(description: "mkdir \(path): errno \(errno)")
    }
    guard chmod(path, mode) == 0 else { throw SecurityIOError(description: "chmod \(path): errno \(errno)") }
}

private func makeSymbolicLink(_ path: String, to target: String) throws {
    guard symlink(target, path) == 0 else { throw SecurityIOError(description: "symlink \(path): errno \(errno)") }
}

private func entries(_ directory: String) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
}

/// Creates a writer with `options` and checks that it is refused with `code`, naming `path`
/// (when given) and mentioning every text of `mentions`.
private func expectRefused(
    _ options: WriterOptions, code: MmStatsError.Code, path: String? = nil, mentions: [String] = [],
    _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    do throws(MmStatsError) {
        let writer = try StatsWriter(options)
        Issue.record("\(label): the writer was created at \(writer.path)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(label): \(error)", sourceLocation: sourceLocation)
        if let path { #expect(error.path == path, "\(label): \(error)", sourceLocation: sourceLocation) }
        for text in mentions {
            #expect(
                error.description.lowercased().contains(text.lowercased()),
                "\(label): '\(error)' should mention '\(text)'", sourceLocation: sourceLocation)
        }
    }
}

/// Writes `bytes` to a new file at `path`.
private func writeFile(_ bytes: [UInt8], to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
    else { throw SecurityIOError(description: "cannot create \(path)") }
}

private func setWord(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64) {
    for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
}

/// Sets the header's closed flag and its pid.
private func markClosedWithPID(_ bytes: inout [UInt8], pid: Int32) {
    setWord(&bytes, at: 64, UInt64(pid))
    bytes[20] |= 1
}

/// A pid no process has: the highest free one below `pid_max`.
private func unusedPID() throws -> Int32 {
    let text = (try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)) ?? "32768"
    let maximum = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 32_768
    for pid in stride(from: maximum - 1, to: 1000, by: -1) where kill(pid, 0) == -1 && errno == ESRCH {
        if !exists("/proc/\(pid)") { return pid }
    }
    throw SecurityIOError(description: "no free pid")
}

/// Flags shared with the FIFO watchdog thread.
private final class SecurityWatchdog: Sendable {
    let done = Atomic<Bool>(false)
    let rescued = Atomic<Bool>(false)
}

/// Where in the tree a hostile directory sits.
enum SecurityLevel: String, Sendable, CaseIterable {
    case root, application, model
}

// MARK: - Tests

@Suite("Security", .serialized)
struct SecurityTests {
    @Test("a symbolic link planted at the file's path is not followed", arguments: [true, false])
    func plantedFileLink(targetExists: Bool) throws {
        let directory = TemporaryDirectory("sec-file-link")
        var options = directory.options()
        options.fileNameTemplate = "fixed.mmstats"
        // Let a first writer create the tree, then plant the link where the next file will go.
        var setup = options
        setup.fileNameTemplate = "setup.mmstats"
        try StatsWriter(setup).close()
        let planted = "\(directory.path)/app/Model/fixed.mmstats"
        let victim = directory.path + (targetExists ? "/victim.txt" : "/created-through-the-link")
        let content = Array("precious data\n".utf8)
        if targetExists { try writeFile(content, to: victim) }
        try makeSymbolicLink(planted, to: victim)

        expectRefused(options, code: .unsafePath, path: planted, mentions: ["link"], "planted link")

        #expect(isSymbolicLink(planted), "the planted link is left alone")
        if targetExists {
            #expect(FileManager.default.contents(atPath: victim).map(Array.init) == content)
            #expect(permissions(victim) == 0o600)
        } else {
            #expect(!exists(victim), "nothing was created through the dangling link")
        }
    }

    @Test("a symbolic link planted as the application or model directory is refused", arguments: ["app", "Model"])
    func plantedDirectoryLink(level: String) throws {
        let directory = TemporaryDirectory("sec-dir-link")
        let elsewhere = directory.path + "/elsewhere"
        try makeDirectory(elsewhere)
        let link: String
        if level == "app" {
            link = directory.path + "/app"
        } else {
            try makeDirectory(directory.path + "/app")
            link = directory.path + "/app/Model"
        }
        try makeSymbolicLink(link, to: elsewhere)
        var options = directory.options()
        options.fileNameTemplate = "fixed.mmstats"
        expectRefused(options, code: .unsafePath, path: link, mentions: ["symbolic link"], "\(level) link")
        #expect(entries(elsewhere).isEmpty, "created through the link: \(entries(elsewhere))")
        #expect(isSymbolicLink(link))
    }

    @Test("a stats root that is a symbolic link is refused", arguments: [true, false])
    func rootLink(targetExists: Bool) throws {
        let directory = TemporaryDirectory("sec-root-link")
        let real = directory.path + "/real-root"
        if targetExists { try makeDirectory(real) }
        let link = directory.path + "/root-link"
        try makeSymbolicLink(link, to: real)
        var options = directory.options()
        options.root = link
        expectRefused(options, code: .unsafePath, path: link, mentions: ["symbolic link"], "root link")
        if targetExists {
            #expect(entries(real).isEmpty, "created through the link: \(entries(real))")
        } else {
            #expect(!exists(real), "the link's target was created")
        }
    }

    @Test(
        "a stats root below another user's symbolic link in a sticky directory is refused; nothing is made there",
        .enabled(if: getuid() == 0, "needs root to give a link to another user"),
        arguments: [uid_t(0), 65534], [false, true])
    func plantedParentLink(stickyOwner: uid_t, rootExists: Bool) throws {
        let directory = TemporaryDirectory("sec-planted-parent")
        let shared = directory.path + "/shared"
        try makeDirectory(shared, mode: 0o1777)
        #expect(chown(shared, stickyOwner, stickyOwner) == 0)
        let victim = directory.path + "/victim"
        try makeDirectory(victim)
        if rootExists { try makeDirectory(victim + "/stats") }
        if rootExists { try makeDirectory(victim + "/stats/root") }
        let planted = shared + "/planted"
        try makeSymbolicLink(planted, to: victim)
        #expect(lchown(planted, 65534, 65534) == 0)
        var options = directory.options()
        options.root = planted + "/stats/root"
        expectRefused(
            options, code: .unsafePath, mentions: ["symbolic link", "uid 65534"], "sticky dir of uid \(stickyOwner)")
        #expect(
            entries(victim + (rootExists ? "/stats/root" : "")).isEmpty, "created through the link: \(entries(victim))")
        // A link of this user's that leads through the planted one is refused as well.
        let mine = directory.path + "/mine"
        try makeSymbolicLink(mine, to: "shared/planted/stats")
        options.root = mine + "/root"
        expectRefused(options, code: .unsafePath, mentions: ["uid 65534"], "own link through the planted one")
        #expect(
            entries(victim + (rootExists ? "/stats/root" : "")).isEmpty, "created through the link: \(entries(victim))")
    }

    @Test("symbolic links of this user above the root are followed; missing parents are created 0700 one by one")
    func ownParentLinks() throws {
        let directory = TemporaryDirectory("sec-own-link")
        let real = directory.path + "/real"
        try makeDirectory(real)
        try makeSymbolicLink(directory.path + "/absolute", to: real)
        try makeSymbolicLink(directory.path + "/relative", to: "./absolute/../real/")
        var options = directory.options()
        options.root = directory.path + "/relative/new/er/root"
        let writer = try StatsWriter(options)
        #expect(writer.path.hasPrefix(options.root ?? ""))
        for created in ["/new", "/new/er", "/new/er/root"] {
            let mode = permissions(real + created)
            #expect(mode == 0o700, "\(created): \(mode.map { String($0, radix: 8) } ?? "missing")")
        }
        #expect(
            exists(real + "/new/er/root/app/Model/" + (writer.path.split(separator: "/").last.map(String.init) ?? "")))
        #expect(isSymbolicLink(directory.path + "/relative") && isSymbolicLink(directory.path + "/absolute"))
        // A relative root, from the working directory up through "..".
        let up = FileManager.default.currentDirectoryPath.split(separator: "/").map { _ in ".." }
        options.root = (up + [String(directory.path.dropFirst()), "relative", "rel-root"]).joined(separator: "/")
        let relative = try StatsWriter(options)
        #expect(relative.path.hasPrefix(options.root ?? ""))
        #expect(permissions(real + "/rel-root") == 0o700)
        // Links that lead to each other are refused, not followed forever.
        try makeSymbolicLink(directory.path + "/loop-a", to: "loop-b")
        try makeSymbolicLink(directory.path + "/loop-b", to: "loop-a")
        options.root = directory.path + "/loop-a/root"
        expectRefused(options, code: .unsafePath, mentions: ["symbolic links"], "a loop of links")
    }

    @Test(
        "a directory writable by group or others is refused",
        arguments: SecurityLevel.allCases, [mode_t(0o777), 0o775, 0o770, 0o722, 0o1777])
    func openDirectory(level: SecurityLevel, mode: mode_t) throws {
        let directory = TemporaryDirectory("sec-mode")
        let root = directory.path + "/root"
        try makeDirectory(root, mode: level == .root ? mode : 0o700)
        if level != .root { try makeDirectory(root + "/app", mode: level == .application ? mode : 0o700) }
        if level == .model { try makeDirectory(root + "/app/Model", mode: mode) }
        let hostile = [SecurityLevel.root: root, .application: root + "/app", .model: root + "/app/Model"][level]
        var options = directory.options()
        options.root = root
        options.fileNameTemplate = "fixed.mmstats"
        expectRefused(
            options, code: .unsafePath, path: hostile, mentions: ["mode \(String(mode & 0o7777, radix: 8))"],
            "\(level) with mode \(String(mode, radix: 8))")
        #expect(!exists(root + "/app/Model/fixed.mmstats"))
        if level == .root { #expect(!exists(root + "/app"), "created a directory inside a refused root") }
        if level == .application { #expect(!exists(root + "/app/Model"), "created a directory inside a refused one") }
        #expect(permissions(hostile ?? root) == mode, "the refused directory's mode was changed")
    }

    @Test("directories closed to group and others are accepted", arguments: [mode_t(0o755), 0o750, 0o700, 0o500])
    func closedDirectory(mode: mode_t) throws {
        let directory = TemporaryDirectory("sec-mode-ok")
        let root = directory.path + "/root"
        try makeDirectory(root)
        try makeDirectory(root + "/app", mode: mode)  // root bypasses 0500's missing write bit
        var options = directory.options()
        options.root = root
        let writer = try StatsWriter(options)
        #expect(exists(writer.path))
        #expect(permissions(root + "/app") == mode)
    }

    @Test(
        "created directories are 0700 and files 0600 (0640 when group-readable), whatever the umask",
        arguments: [(false, mode_t?.none), (true, nil), (false, 0o077), (true, 0o077), (true, 0o027), (false, 0o002)])
    func createdModes(groupReadable: Bool, mask: mode_t?) throws {
        let directory = TemporaryDirectory("sec-created")
        var options = directory.options(application: "web", model: "HTTP")
        options.root = directory.path + "/fresh/root"  // neither exists yet
        options.groupReadable = groupReadable
        let writer: StatsWriter
        if let mask {
            // umask is process-wide: keep the window as small as possible.
            let previous = umask(mask)
            defer { umask(previous) }
            writer = try StatsWriter(options)
        } else {
            writer = try StatsWriter(options)
        }
        for created in ["/fresh", "/fresh/root", "/fresh/root/web", "/fresh/root/web/HTTP"] {
            let mode = permissions(directory.path + created)
            #expect(mode == 0o700, "\(created): \(mode.map { String($0, radix: 8) } ?? "missing")")
        }
        let expected: mode_t = groupReadable ? 0o640 : 0o600
        let actual = permissions(writer.path)
        #expect(actual == expected, "file mode \(actual.map { String($0, radix: 8) } ?? "missing")")
        #expect(!isSymbolicLink(writer.path))
    }

    @Test("the reader does not follow a symbolic link to a stats file")
    func readerRefusesLink() throws {
        let directory = TemporaryDirectory("sec-reader-link")
        let writer = try StatsWriter(directory.options())
        try writer.counter("hits").increment(by: 3)
        let link = directory.path + "/link.mmstats"
        try makeSymbolicLink(link, to: writer.path)
        do throws(MmStatsError) {
            _ = try StatsReader(path: link).snapshot()
            Issue.record("the reader followed the link")
        } catch {
            #expect(error.code == .unsafePath, "\(error)")
            #expect(error.path == link)
            #expect(error.description.contains("symbolic link"), "\(error)")
        }
        // The file itself reads.
        #expect(try StatsReader(path: writer.path).snapshot().value("hits") == .uint(3))
    }

    @Test("the reader refuses a directory, a device and a FIFO, without blocking")
    func readerRefusesNonFiles() throws {
        let directory = TemporaryDirectory("sec-reader-kinds")
        let fifo = directory.path + "/pipe.mmstats"
        #expect(mkfifo(fifo, 0o600) == 0)
        let watchdog = SecurityWatchdog()
        // If the reader blocks opening the FIFO (waiting for a writer), open it for writing
        // after a while so the test ends, and record that it had to.
        let thread = Thread {
            for _ in 0..<500 where !watchdog.done.load(ordering: .acquiring) { usleep(20_000) }
            guard !watchdog.done.load(ordering: .acquiring) else { return }
            watchdog.rescued.store(true, ordering: .releasing)
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        thread.start()
        defer { watchdog.done.store(true, ordering: .releasing) }
        for path in [directory.path, "/dev/null", fifo] {
            do throws(MmStatsError) {
                _ = try StatsReader(path: path).snapshot()
                Issue.record("\(path) was read as a stats file")
            } catch {
                #expect(error.path == path, "\(error)")
                #expect(error.code == .corrupt, "\(error)")
                #expect(error.description.contains("not a regular file"), "\(error)")
            }
        }
        watchdog.done.store(true, ordering: .releasing)
        let rescued = watchdog.rescued.load(ordering: .acquiring)
        #expect(!rescued, "StatsReader blocked opening a FIFO")
    }

    @Test("file name templates expand {CMD}, {PID}, {TID}, {APP} and {MODEL}")
    func templateExpansion() throws {
        let directory = TemporaryDirectory("sec-template")
        var options = directory.options(application: "tapp", model: "tmodel")
        options.fileNameTemplate = "{CMD}~{PID}~{TID}~{APP}~{MODEL}~{PID}.mmstats"
        let tid = ProcessIdentity.currentThreadID
        let writer = try StatsWriter(options)
        let command = ProcessIdentity.command
        #expect(!command.isEmpty && command != "unknown")
        let name = "\(command)~\(getpid())~\(tid)~tapp~tmodel~\(getpid()).mmstats"
        #expect(writer.path == "\(directory.path)/tapp/tmodel/\(name)")
        #expect(exists(writer.path))
        let identity = try StatsReader(path: writer.path).snapshot().writer
        #expect(identity.pid == getpid())
        #expect(identity.tid == tid)
        #expect(identity.application == "tapp" && identity.model == "tmodel")

        // The default template.
        let plain = try StatsWriter(directory.options(application: "tapp", model: "plain"))
        #expect(plain.path == "\(directory.path)/tapp/plain/\(getpid())-\(ProcessIdentity.currentThreadID).mmstats")
        #expect(
            StatsDirectory.expand(template: "{APP}.{MODEL}.{X}", application: "a", model: "m", tid: 7) == "a.m.{X}")
    }

    @Test(
        "a file name or directory that is not a single path component is refused",
        arguments: ["../x", "a/b", "..", ".", "", "{APP}/x", "/abs", "x\u{0}y", "{MODEL}/../../x"])
    func escapingTemplate(template: String) throws {
        let directory = TemporaryDirectory("sec-escape")
        var options = directory.options()
        options.fileNameTemplate = template
        expectRefused(options, code: .invalidArgument, "template '\(template)'")
        for leaked in ["/x", "/app/x", "/app/b", "/app/Model/x", "/abs"] {
            #expect(!exists(directory.path + leaked), "\(template) created \(leaked)")
        }
        #expect(entries(directory.path + "/app/Model").isEmpty)
    }

    @Test(
        "an application or model name that is not a single path component is refused",
        arguments: [("../escape", "Model"), ("app", "a/b"), ("", "Model"), ("app", ".."), (".", "Model")])
    func escapingDirectories(application: String, model: String) throws {
        let directory = TemporaryDirectory("sec-escape-dir")
        var options = directory.options(application: application, model: model)
        options.fileNameTemplate = "fixed.mmstats"
        expectRefused(options, code: .invalidArgument, "\(application)/\(model)")
        #expect(!exists(directory.path + "/../escape"))
        #expect(!exists(directory.path + "/fixed.mmstats"))
    }

    @Test("close removes the file; with removeOnClose = false it stays and reads as closed")
    func closing() throws {
        let directory = TemporaryDirectory("sec-close")
        let writer = try StatsWriter(directory.options())
        try writer.counter("hits").increment(by: 2)
        let reader = try StatsReader(path: writer.path)
        #expect(try reader.snapshot().writer.state == .live)
        writer.close()
        writer.close()  // twice is harmless
        #expect(writer.isClosed)
        #expect(!exists(writer.path), "the file outlived close()")
        // A reader that had it open still sees the final values, marked closed.
        let last = try reader.snapshot()
        #expect(last.writer.state == .closed)
        #expect(last.value("hits") == .uint(2))

        var keep = directory.options(model: "Kept")
        keep.removeOnClose = false
        let kept = try StatsWriter(keep)
        try kept.counter("hits").increment(by: 5)
        kept.close()
        #expect(exists(kept.path))
        let snapshot = try StatsReader(path: kept.path).snapshot()
        #expect(snapshot.writer.closed)
        #expect(snapshot.writer.state == .closed)
        #expect(!snapshot.writer.state.isStale)
        #expect(snapshot.value("hits") == .uint(5))

        // A writer that goes away without close() removes its file too.
        var path = ""
        do {
            let transient = try StatsWriter(directory.options(model: "Transient"))
            path = transient.path
            #expect(exists(path))
        }
        #expect(!path.isEmpty && !exists(path), "the file outlived its writer")
    }

    @Test("the header's pid and start time classify the writer as live, dead or restarted")
    func writerState() throws {
        let directory = TemporaryDirectory("sec-state")
        var options = directory.options()
        options.removeOnClose = false
        let writer = try StatsWriter(options)
        try writer.counter("hits").increment()
        let original = try #require(FileManager.default.contents(atPath: writer.path).map(Array.init))
        let dead = try unusedPID()
        let cases: [(String, (inout [UInt8]) -> Void, WriterState)] = [
            ("unchanged", { _ in }, .live),
            ("a pid no process has", { setWord(&$0, at: 64, UInt64(dead)) }, .dead),
            ("pid 2^64-1", { setWord(&$0, at: 64, UInt64.max) }, .dead),
            ("pid 0", { setWord(&$0, at: 64, 0) }, .dead),
            ("a live pid with another start time", { setWord(&$0, at: 80, ProcessIdentity.startTime + 1) }, .restarted),
            ("the closed flag on a dead pid", { markClosedWithPID(&$0, pid: dead) }, .closed),
        ]
        #expect(ProcessIdentity.startTime != 0)
        for (index, (label, patch, expected)) in cases.enumerated() {
            var bytes = original
            patch(&bytes)
            let path = directory.path + "/state-\(index).mmstats"
            try writeFile(bytes, to: path)
            let snapshot = try StatsReader(path: path).snapshot()
            #expect(snapshot.writer.state == expected, "\(label): \(snapshot.writer)")
            #expect(snapshot.writer.state.isStale == (expected == .dead || expected == .restarted), "\(label)")
            #expect(snapshot.value("hits") == .uint(1), "\(label)")
        }
        writer.close()
    }

    @Test(
        "terminalSafe escapes controls, format characters, separators and invisibles, and keeps other text",
        arguments: [
            ("\u{1B}[2J", #"\u{1B}[2J"#), ("a\nb\t", #"a\u{A}b\u{9}"#), ("\u{0}\u{7F}", #"\u{0}\u{7F}"#),
            ("\u{9B}31m", #"\u{9B}31m"#), ("\u{85}", #"\u{85}"#),
            ("abc\u{202E}fed", #"abc\u{202E}fed"#),
            ("\u{202A}\u{202B}\u{202C}\u{202D}", #"\u{202A}\u{202B}\u{202C}\u{202D}"#),
            ("\u{2066}\u{2067}\u{2068}\u{2069}", #"\u{2066}\u{2067}\u{2068}\u{2069}"#),
            ("\u{200E}\u{200F}\u{61C}", #"\u{200E}\u{200F}\u{61C}"#),
            ("a\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}b", #"a\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}b"#),
            ("soft\u{AD}hyphen", #"soft\u{AD}hyphen"#), ("\u{E0041}", #"\u{E0041}"#),
            ("\u{2028}\u{2029}", #"\u{2028}\u{2029}"#), ("\u{3164}\u{115F}", #"\u{3164}\u{115F}"#),
            ("\u{FFFE}\u{10FFFF}", #"\u{FFFE}\u{10FFFF}"#),
            ("plain.name{code=200} 42", "plain.name{code=200} 42"), ("café Größe 日本 ✓ 👍🏽 ❤️", "café Größe 日本 ✓ 👍🏽 ❤️"),
            (#"already \u{1B}"#, #"already \u{1B}"#), ("", ""),
        ])
    func terminalSafe(text: String, expected: String) {
        #expect(text.terminalSafe == expected)
    }

    @Test("an error's description escapes what it quotes; its properties keep the raw text")
    func errorDescriptionIsTerminalSafe() {
        let error = MmStatsError(
            .corrupt, path: "/tmp/a\u{1B}[2J.mmstats", entry: "metric \u{202E}x", "label 'y\u{9B}\u{7}'")
        #expect(error.description == #"mmstats: /tmp/a\u{1B}[2J.mmstats: metric \u{202E}x: label 'y\u{9B}\u{7}'"#)
        #expect(error.path == "/tmp/a\u{1B}[2J.mmstats")
        #expect(error.entry == "metric \u{202E}x")
        #expect(error.reason == "label 'y\u{9B}\u{7}'")
        let long = "/tmp/" + String(repeating: "a", count: 3000) + "/z.mmstats"
        let shortened = MmStatsError(.system, path: long, "cannot list: File name too long").description
        #expect(shortened.hasPrefix("mmstats: /tmp/aaa"))
        #expect(shortened.contains("…[3015 characters in all]…"))
        #expect(shortened.hasSuffix("aaa/z.mmstats: cannot list: File name too long"))
        #expect(shortened.count < 600)
    }
}
