import Foundation
import MmStatsCore

/// A private temporary directory (mode 0700) removed when the value goes away.
public final class TemporaryDirectory: @unchecked Sendable {
    /// The directory's path.
    public let path: String

    /// Creates a fresh directory under `/dev/shm` (tmpfs) or the temp dir.
    public init(_ label: String = "test") {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = "\(base)/mmstats-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.path = path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writer options rooted here.
    public func options(application: String = "app", model: String = "Model") -> WriterOptions {
        var options = WriterOptions(application: application, model: model)
        options.root = path
        return options
    }
}

/// Paths of the package's built executables (siblings of the test bundle).
public enum Binaries {
    /// The build products directory.
    public static var directory: String {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Inside an .xctest bundle on some platforms: climb out to the products directory.
        while url.path.contains(".xctest") { url = url.deletingLastPathComponent() }
        return url.path
    }

    /// The `mmstats` host executable.
    public static var mmstats: String { directory + "/mmstats" }
    /// The torture writer.
    public static var testWriter: String { directory + "/mmstats-test-writer" }
    /// The package root (where Package.swift is).
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url = url.deletingLastPathComponent()
            if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }
}

/// The result of a finished child process.
public struct ProcessResult: Sendable {
    /// Exit status.
    public let status: Int32
    /// Everything it printed on stdout.
    public let stdout: String
    /// Everything it printed on stderr.
    public let stderr: String
}

/// Runs a program to completion and captures its output.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
    -> ProcessResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes fully before waiting, so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// A running writer process (`mmstats-test-writer MODE ROOT SECONDS`) and the file it writes.
public final class WriterProcess: @unchecked Sendable {
    /// The child.
    public let process: Process
    /// The stats file it writes.
    public let path: String
    private let output: Pipe

    /// Starts the writer and waits until it has created its file.
    public init(mode: String, root: String, seconds: Double) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.testWriter)
        process.arguments = [mode, root, String(seconds)]
        output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([0x0A]) { break }
            line.append(byte)
        }
        path = String(decoding: line, as: UTF8.self)
        guard path.hasPrefix("/") else { throw WriterProcessError(message: "writer said: \(path)") }
    }

    /// Waits for the writer to finish; returns the rest of its output (`done N`).
    public func finish() -> String {
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: rest, as: UTF8.self)
    }

    /// Kills the writer (SIGKILL) and waits for it.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A writer process that could not start.
public struct WriterProcessError: Error, CustomStringConvertible {
    /// What happened.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// Runs `body(i)` on `count` new threads (not the cooperative pool, since the bodies block)
/// and returns when all have finished.
public func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
}
