import CoreMetrics
import MmStatsCore
import MmStatsMetricsBackend
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The process's one bootstrapped factory (`MetricsSystem.bootstrap` may run once per
/// process), recording under a temporary root; every test uses labels of its own.
enum Backend {
    static let root: String = temporaryDirectory("mmstats-swift-metrics-tests")

    static let factory: MmStatsMetricsFactory = {
        let factory = MmStatsMetricsFactory(application: "backend-tests", root: root)
        MetricsSystem.bootstrap(factory)
        return factory
    }()

    /// What a reader sees in the factory's file now.
    static func snapshot() throws -> Snapshot {
        let path = try #require(factory.path)
        return try StatsReader(path: path).snapshot()
    }

    /// The metric `name` with exactly `dimensions`, read from the file.
    static func metric(_ name: String, _ dimensions: [String: String] = [:]) throws -> MetricSample {
        try #require(try snapshot().metric(name, dimensions: dimensions), "\(name) \(dimensions) is not in the file")
    }
}

/// Closes the bootstrapped factory (its file is removed) and removes the temporary root after
/// every test of the suite ran.
struct BootstrappedBackend: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        _ = Backend.factory
        defer {
            Backend.factory.close()
            removeTree(Backend.root)
        }
        try await function()
    }
}

extension SuiteTrait where Self == BootstrappedBackend {
    /// The suite's tests record through `MetricsSystem.bootstrap(MmStatsMetricsFactory(…))`.
    static var bootstrappedBackend: Self { Self() }
}

/// The number of values in a histogram or timer sample: the sum of its buckets.
func histogramCount(_ sample: MetricSample) -> UInt64 {
    sample.fields.reduce(0) { count, field in
        guard field.name.hasPrefix("b"), case .uint(let n) = field.value else { return count }
        return count &+ n
    }
}

/// Whether `path` exists.
func exists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

/// A new directory under /tmp.
func temporaryDirectory(_ prefix: String) -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buffer in
        buffer.baseAddress.flatMap { mkdtemp($0) } != nil
    }
    precondition(made, "mkdtemp failed: \(errno)")
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Removes a directory tree (a test's temporary root).
func removeTree(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = "\(path)/\(name)"
            var info = stat()
            if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { removeTree(child) } else { unlink(child) }
        }
        closedir(directory)
    }
    rmdir(path)
}

/// Runs `body(i)` on `count` new threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    var threads: [pthread_t] = []
    for i in 0..<count {
        let job = Unmanaged.passRetained(Job { body(i) }).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { raw in
                if let raw { Unmanaged<Job>.fromOpaque(raw).takeRetainedValue().run() }
                return nil
            }, job)
        precondition(status == 0, "pthread_create failed: \(status)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}
