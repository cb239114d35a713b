import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// Whether this process may make PID namespaces (root, with `unshare` installed).
private let canUnshare: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    return (try? run("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "/bin/true"]).status) == 0
}()

@Suite("Writers in PID namespaces")
struct NamespaceTests {
    /// Starts `mmstats demo` as pid 1 of a new PID namespace (a container sharing the stats root).
    private static func demoInContainer(root: String, seconds: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["--pid", "--fork", "--mount-proc", Binaries.mmstats, "demo", "--seconds", "\(seconds)"]
        process.environment = ProcessInfo.processInfo.environment.merging(["MMSTATS_PATH": root]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test(
        "two containers' writers with the same pid: the second is refused, the first keeps its file",
        .enabled(if: canUnshare, "needs root and unshare"))
    func sameNameAcrossNamespaces() throws {
        let directory = TemporaryDirectory("pidns")
        let folder = directory.path + "/mmstats-demo/DemoStats"
        let first = try Self.demoInContainer(root: directory.path, seconds: 4)
        defer { first.waitUntilExit() }
        var files: [String] = []
        for _ in 0..<300 where files.isEmpty {
            files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
                $0.hasSuffix(".mmstats")
            }
            usleep(10_000)
        }
        #expect(files == ["1-1.mmstats"], "the first writer is pid 1, tid 1 in its namespace")
        let path = folder + "/1-1.mmstats"
        let inode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)

        // Seen from here (another namespace), its state is unknown, not dead or restarted.
        let slurp = try run(Binaries.mmstats, ["slurp", "--json", directory.path])
        let parsed = try JSONSerialization.jsonObject(with: Data(slurp.stdout.utf8)) as? [[String: Any]]
        let writer = try #require(parsed?.first?["writer"] as? [String: Any])
        #expect(writer["state"] as? String == "unknown")
        #expect(writer["pid"] as? Int == 1)

        // A second container's writer wants the same name: refused, with the reason.
        let second = Process()
        second.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        second.arguments = ["--pid", "--fork", "--mount-proc", Binaries.mmstats, "demo", "--seconds", "1"]
        second.environment = ProcessInfo.processInfo.environment.merging(["MMSTATS_PATH": directory.path]) { $1 }
        let errors = Pipe()
        second.standardError = errors
        second.standardOutput = FileHandle.nullDevice
        try second.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        #expect(second.terminationStatus != 0)
        #expect(message.contains("another PID namespace"), "\(message)")
        let after = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
        #expect(after == inode, "the first writer's file is still at its name")

        // The first writer finishes and removes its own file.
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
