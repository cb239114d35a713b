import Metrics
import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reads the stats files a manifest's sources select and turns them into the engine's
/// samples, through a `StatsScanner` that keeps one reader per file between passes (metadata
/// is parsed again only when a file's generation changes; a file replaced at the same path is
/// opened afresh; kept readers hold no descriptor).
final class SampleCollector {
    /// Directories and files to read (a manifest's `roots`, else the stats root).
    let paths: [String]
    let sources: Manifest.Sources
    /// Files never read (the processor's own results file).
    var excluded: Set<String> = []
    private let scanner: StatsScanner

    init(paths: [String], sources: Manifest.Sources) {
        self.paths = paths
        self.sources = sources
        self.scanner = StatsScanner(paths: paths)
    }

    /// The files under `paths` that the sources' `files` globs select (all when there are none):
    /// a glob matches a file's path relative to one of `paths`, or its absolute path; `*` and `?`
    /// do not cross a `/`.
    func files(onError: (String) -> Void) -> [String] {
        let all = scanner.files(onError: { onError($0.description) })
        guard !sources.files.isEmpty else { return all.filter { !excluded.contains($0) } }
        let roots = paths.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        return all.filter { path in
            guard !excluded.contains(path) else { return false }
            var candidates = [path]
            for root in roots where path.hasPrefix(root) { candidates.append(String(path.dropFirst(root.count))) }
            return sources.files.contains { glob in
                candidates.contains { fnmatch(glob, $0, FNM_PATHNAME) == 0 }
            }
        }
    }

    /// Every metric of every selected file as the engine's samples (exposed fields at `now`,
    /// counters, histogram buckets), and a generation that changes when a file appears, goes
    /// away, is replaced or changes its own generation.
    func collect(onError: (String) -> Void) -> EngineInputs {
        var samples: [EngineSample] = []
        var hasher = Hasher()
        // Only the selected files are read (a file removed since the listing is left out, not an
        // error); many new ones are opened on several threads.
        scanner.forEachSnapshot(of: files(onError: onError), onError: { onError($0.description) }) { snapshot in
            let path = snapshot.path
            let writer = snapshot.writer
            if !sources.applications.isEmpty && !sources.applications.contains(writer.application) { return }
            if !sources.models.isEmpty && !sources.models.contains(writer.model) { return }
            hasher.combine(path)
            hasher.combine(snapshot.generation)
            hasher.combine(writer.pid)
            hasher.combine(writer.startTime)
            let file = EngineFile(path: path, pid: Int64(writer.pid), startTime: writer.startTime, tid: writer.tid)
            for sample in snapshot.metrics where sample.error == nil {
                var fields: [String: Number] = [:]
                for (name, value) in sample.exposedFields(in: .shared) {
                    if let number = Self.number(value) { fields[name] = number }
                }
                let kind = sample.descriptor.kind
                samples.append(
                    EngineSample(
                        file: file, metric: sample.descriptor.name,
                        kind: kind == "counter" || kind == "derived-counter" ? .counter : .gauge,
                        fields: fields, buckets: kind == "histogram" || kind == "timer" ? Self.buckets(sample) : nil))
            }
        }
        hasher.combine(samples.count)
        return EngineInputs(samples: samples, generation: UInt64(bitPattern: Int64(hasher.finalize())))
    }

    static func number(_ value: Value) -> Number? {
        switch value {
        case .int(let v): .int(v)
        case .uint(let v): v <= UInt64(Int64.max) ? .int(Int64(v)) : .double(Double(v))
        case .double(let v): v.isFinite ? .double(v) : nil
        case .bool(let v): .int(v ? 1 : 0)
        case .string: nil
        }
    }

    /// A histogram's nonzero buckets, each with its largest value (in the histogram's unit).
    static func buckets(_ sample: MetricSample) -> [EngineBucket] {
        // One pass over the fields (a histogram has 2,368 buckets: looking each up by name
        // would be quadratic).
        var resolution = 1.0
        var counts: [(index: Int, count: UInt64)] = []
        for (name, value) in sample.fields {
            if name == "resolution" {
                resolution = value.doubleValue ?? 1
            } else if name.utf8.first == UInt8(ascii: "b"), case .uint(let count) = value, count > 0,
                let index = Int(name.dropFirst()), index >= 0, index < HistogramScheme.bucketCount
            {
                counts.append((index, count))
            }
        }
        return counts.sorted { $0.index < $1.index }.map { bucket in
            let largest = HistogramScheme.lowerBound(bucket.index) + (HistogramScheme.width(bucket.index) - 1)
            return EngineBucket(upperBound: Double(largest) * resolution, count: Int64(clamping: bucket.count))
        }
    }
}
