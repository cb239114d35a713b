/// The names of one input generation, resolved once: sample indices by name, the files and
/// processes present, and every glob of the entries expanded.
struct EngineIndex {
    /// One resolved name: the samples of its metric and the field to read. A class: it is
    /// read once per name per evaluation, and a reference is one retain, not one per array.
    final class Resolution {
        var indices: [Int]
        var field: String
        /// The same indices grouped by file and by process, so that an instance reads only its own.
        var byFile: [EngineFile: [Int]] = [:]
        var byProcess: [ProcessKey: [Int]] = [:]
        /// The positions in `EngineIndex.files` of the files holding these samples, ascending.
        var files: [Int] = []
        /// Whether no file holds two of these samples (then each sample is its own file's sum).
        var oneSamplePerFile: Bool

        init(indices: [Int], field: String, samples: [EngineSample], fileOfSample: [Int]) {
            self.indices = indices
            self.field = field
            for i in indices {
                let file = samples[i].file
                byFile[file, default: []].append(i)
                byProcess[ProcessKey(pid: file.pid, startTime: file.startTime), default: []].append(i)
                files.append(fileOfSample[i])
            }
            files = EngineIndex.sortedUnique(files)
            oneSamplePerFile = files.count == indices.count
        }

        /// The indices of the samples within `instance`.
        func indices(in instance: EngineInstance) -> [Int] {
            switch instance {
            case .host: indices
            case .process(let pid, let start): byProcess[ProcessKey(pid: pid, startTime: start)] ?? []
            case .thread(let file): byFile[file] ?? []
            }
        }
    }

    /// A process: its pid and start time.
    struct ProcessKey: Hashable {
        var pid: Int64
        var startTime: UInt64
    }

    var generation: UInt64 = 0
    var sampleCount = 0
    var files: [EngineFile] = []
    var processes: [ProcessKey] = []
    var fileSet: Set<EngineFile> = []
    /// Per sample: its file's position in `files`.
    var fileOfSample: [Int] = []
    /// The files of each process, in order of appearance.
    var filesByProcess: [ProcessKey: [EngineFile]] = [:]
    var resolved: [String: Resolution] = [:]
    var globs: [String: [String]] = [:]
    /// Positions in `files` and in `processes`.
    var filePosition: [EngineFile: Int] = [:]
    var processPosition: [ProcessKey: Int] = [:]
    /// Per file (in `files` order): its process's position in `processes`.
    var processOfFile: [Int] = []
    /// Per entry: the positions in `files` (ascending) of the files holding a sample of a name
    /// it reads, when the entry has no value wherever it reads no sample (`readsOnlySamples`):
    /// elsewhere it need not be evaluated. Nil: it may have a value anywhere (a constant, a
    /// destination, `_DIFFTIME`, `count`, a plugin's function), so it is evaluated everywhere.
    var entryFiles: [[Int]?] = []
    /// Per entry with `entryFiles`: the processes (positions in `processes`, ascending) of those files.
    var entryProcesses: [[Int]] = []

    init() {}

    /// The files within `instance`.
    func files(in instance: EngineInstance) -> [EngineFile] {
        switch instance {
        case .host: files
        case .process(let pid, let start): filesByProcess[ProcessKey(pid: pid, startTime: start)] ?? []
        case .thread(let file): fileSet.contains(file) ? [file] : []
        }
    }

    /// Indexes `samples` and resolves every name and glob the entries refer to.
    init(samples: [EngineSample], generation: UInt64, entries: [EngineEntry]) {
        self.generation = generation
        sampleCount = samples.count
        var byMetric: [String: [Int]] = [:]
        fileOfSample.reserveCapacity(samples.count)
        for (i, sample) in samples.enumerated() {
            byMetric[sample.metric, default: []].append(i)
            if let position = filePosition[sample.file] {
                fileOfSample.append(position)
                continue
            }
            let process = ProcessKey(pid: sample.file.pid, startTime: sample.file.startTime)
            fileOfSample.append(files.count)
            filePosition[sample.file] = files.count
            fileSet.insert(sample.file)
            files.append(sample.file)
            filesByProcess[process, default: []].append(sample.file)
            if let position = processPosition[process] {
                processOfFile.append(position)
            } else {
                processPosition[process] = processes.count
                processOfFile.append(processes.count)
                processes.append(process)
            }
        }
        var names = Set(byMetric.keys)
        for entry in entries { names.formUnion(entry.destinations) }
        let sortedNames = names.sorted()
        func resolve(_ name: String) {
            guard resolved[name] == nil else { return }
            if let indices = byMetric[name] {
                resolved[name] = Resolution(
                    indices: indices, field: "value", samples: samples, fileOfSample: fileOfSample)
            } else if let dot = name.lastIndex(of: "."), let indices = byMetric[String(name[..<dot])] {
                resolved[name] = Resolution(
                    indices: indices, field: String(name[name.index(after: dot)...]), samples: samples,
                    fileOfSample: fileOfSample)
            }
        }
        for entry in entries {
            for reference in entry.expression.references {
                switch reference.kind {
                case .metric, .delta: resolve(reference.name)
                case .elapsed: break
                case .glob:
                    guard globs[reference.name] == nil else { continue }
                    let pattern = Array(reference.name.unicodeScalars)
                    let matching = sortedNames.filter { Self.matches(Array($0.unicodeScalars), pattern) }
                    globs[reference.name] = matching
                    for name in matching { resolve(name) }
                }
            }
        }
        let destinations = Set(entries.flatMap(\.destinations))
        for entry in entries {
            var reads: [String] = []
            guard readsOnlySamples(entry.expression.root, destinations: destinations, reads: &reads) else {
                entryFiles.append(nil)
                entryProcesses.append([])
                continue
            }
            var positions: [Int] = []
            for name in reads { positions += resolved[name]?.files ?? [] }
            positions = Self.sortedUnique(positions)
            entryFiles.append(positions)
            entryProcesses.append(Self.sortedUnique(positions.map { processOfFile[$0] }))
        }
    }

    /// Whether `node` has no value at an instance where none of the names it reads has a
    /// sample (every answer of the resolver there is nil), collecting those names in `reads`.
    /// A destination, a constant, `_NAME`, `count` and functions other than the resolver's
    /// may have a value anywhere.
    func readsOnlySamples(_ node: ExpressionNode, destinations: Set<String>, reads: inout [String]) -> Bool {
        switch node {
        case .number, .constant, .elapsed: return false
        case .metric(let name), .delta(let name):
            reads.append(name)
            return !destinations.contains(name)
        case .negate(let x): return readsOnlySamples(x, destinations: destinations, reads: &reads)
        case .binary(_, let a, let b):
            // No value if either operand has none.
            let left = readsOnlySamples(a, destinations: destinations, reads: &reads)
            let right = readsOnlySamples(b, destinations: destinations, reads: &reads)
            return left || right
        case .call(let function, let arguments):
            // No value if any value argument has none (the call is not made).
            var strict = false
            for argument in arguments {
                switch argument {
                case .value(let x): if readsOnlySamples(x, destinations: destinations, reads: &reads) { strict = true }
                case .metric(let name): reads.append(name)
                case .glob(let glob): reads += globs[glob] ?? []
                }
            }
            switch (function, arguments.first) {
            case ("rate", .metric(let name)?), ("delta", .metric(let name)?):
                if !destinations.contains(name) { strict = true }
            case ("percentile", .metric?):
                strict = true  // reads samples only
            case ("sum", .glob(let glob)?), ("min", .glob(let glob)?), ("max", .glob(let glob)?),
                ("avg", .glob(let glob)?):
                if !(globs[glob] ?? []).contains(where: { destinations.contains($0) }) { strict = true }
            default: break
            }
            return strict
        }
    }

    /// `values` sorted, without repeats.
    static func sortedUnique(_ values: [Int]) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values.sorted() where result.last != value { result.append(value) }
        return result
    }

    /// Whether the ascending `values` hold `value` (binary search).
    static func contains(_ values: [Int], _ value: Int) -> Bool {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low < values.count && values[low] == value
    }

    /// The most steps one glob match may take: a hostile pattern (`*a*a*…b`) against a long
    /// name costs name × pattern steps; past this budget the name does not match.
    static let matchBudget = 1 << 20

    /// Whether `name` matches `pattern` (`*` any run, `?` one character); iterative, at most
    /// `matchBudget` steps.
    static func matches(_ name: [Unicode.Scalar], _ pattern: [Unicode.Scalar]) -> Bool {
        var n = 0
        var p = 0
        var star: Int?
        var resume = 0
        var steps = 0
        while n < name.count {
            steps += 1
            if steps > matchBudget { return false }
            if p < pattern.count, pattern[p] == "?" || pattern[p] == name[n] {
                n += 1
                p += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                resume = n
                p += 1
            } else if let s = star {
                p = s + 1
                resume += 1
                n = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
