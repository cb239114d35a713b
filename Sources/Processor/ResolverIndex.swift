/// The names of one input generation, resolved once: sample indices by name, the files and
/// processes present, and every glob of the entries expanded.
struct EngineIndex {
    /// One resolved name: the samples of its metric and the field to read.
    struct Resolution {
        var indices: [Int]
        var field: String
        /// The same indices grouped by file and by process, so that an instance reads only its own.
        var byFile: [EngineFile: [Int]] = [:]
        var byProcess: [ProcessKey: [Int]] = [:]

        init(indices: [Int], field: String, samples: [EngineSample]) {
            self.indices = indices
            self.field = field
            for i in indices {
                let file = samples[i].file
                byFile[file, default: []].append(i)
                byProcess[ProcessKey(pid: file.pid, startTime: file.startTime), default: []].append(i)
            }
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
    /// The files of each process, in order of appearance.
    var filesByProcess: [ProcessKey: [EngineFile]] = [:]
    var resolved: [String: Resolution] = [:]
    var globs: [String: [String]] = [:]

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
        var processSet: Set<ProcessKey> = []
        for (i, sample) in samples.enumerated() {
            byMetric[sample.metric, default: []].append(i)
            let process = ProcessKey(pid: sample.file.pid, startTime: sample.file.startTime)
            if fileSet.insert(sample.file).inserted {
                files.append(sample.file)
                filesByProcess[process, default: []].append(sample.file)
            }
            if processSet.insert(process).inserted { processes.append(process) }
        }
        var names = Set(byMetric.keys)
        for entry in entries { names.formUnion(entry.destinations) }
        let sortedNames = names.sorted()
        func resolve(_ name: String) {
            guard resolved[name] == nil else { return }
            if let indices = byMetric[name] {
                resolved[name] = Resolution(indices: indices, field: "value", samples: samples)
            } else if let dot = name.lastIndex(of: "."), let indices = byMetric[String(name[..<dot])] {
                resolved[name] = Resolution(
                    indices: indices, field: String(name[name.index(after: dot)...]), samples: samples)
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
