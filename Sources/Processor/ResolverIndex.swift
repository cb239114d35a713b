/// The names of one input generation, resolved once: sample indices by name, the files and
/// processes present, and every glob of the entries expanded.
struct EngineIndex {
    /// One resolved name: the samples of its metric and the field to read, with each sample's
    /// file and process as small integers (slots), so that a pass sums values per file,
    /// process and host in flat arrays (`SourceValues`) instead of hashing files.
    final class Resolution {
        /// Its position in `EngineIndex.resolutions`, and where its slots and process slots
        /// start in a pass's `SourceValues`.
        let id: Int
        let slotBase: Int
        let processBase: Int
        /// The samples of the metric, ascending.
        let indices: [Int]
        let field: String
        /// The positions in `EngineIndex.files` of the files holding these samples, ascending.
        var files: [Int] = []
        /// The positions in `EngineIndex.processes` of their processes, ascending.
        var processPositions: [Int] = []
        /// Whether no file holds two of these samples (then each sample is its own file's sum).
        let oneSamplePerFile: Bool
        /// Slots: the distinct files of the samples, in order of first appearance. Per sample
        /// (aligned with `indices`): its slot; per slot: the file's position in `EngineIndex.files`.
        var slotOfSample: [Int] = []
        var slotFiles: [Int] = []
        /// Process slots: the distinct processes, in order of first appearance. Per sample: its
        /// process slot; per process slot: the process's position and its file slots (ascending).
        var processSlotOfSample: [Int] = []
        var slotProcesses: [Int] = []
        var slotsOfProcess: [[Int]] = []
        /// Per slot: its process slot.
        var processSlotOfSlot: [Int] = []
        /// Per position in `files` (ascending): its slot; per position in `processPositions`:
        /// its process slot. Empty when they are in slot order already (the usual case:
        /// samples grouped by file, in file order).
        var slotOfSortedFile: [Int] = []
        var slotOfSortedProcess: [Int] = []
        /// Per slot, when a file holds several samples (`oneSamplePerFile` false): its samples'
        /// indices, ascending, so that a file's or process's samples are found without
        /// scanning every sample of the name (which made a pass quadratic in the files).
        private(set) var samplesOfSlot: [[Int]] = []

        init(
            id: Int, slotBase: Int, processBase: Int, indices: [Int], field: String, fileOfSample: [Int],
            processOfFile: [Int]
        ) {
            self.id = id
            self.slotBase = slotBase
            self.processBase = processBase
            self.indices = indices
            self.field = field
            slotOfSample.reserveCapacity(indices.count)
            processSlotOfSample.reserveCapacity(indices.count)
            // Files and processes usually come in ascending positions: a new one is then past
            // the largest seen, and only out-of-order ones need a table.
            var largestFile = -1
            var largestProcess = -1
            var slotOfFile: [Int: Int]?
            var slotOfProcess: [Int: Int]?
            for i in indices {
                let file = fileOfSample[i]
                var slot = -1
                if let last = slotFiles.last, last == file {
                    slot = slotFiles.count - 1
                } else if file <= largestFile {
                    if slotOfFile == nil {
                        slotOfFile = Dictionary(uniqueKeysWithValues: slotFiles.enumerated().map { ($1, $0) })
                    }
                    slot = slotOfFile?[file] ?? -1
                }
                if slot < 0 {
                    slot = slotFiles.count
                    slotOfFile?[file] = slot
                    largestFile = max(largestFile, file)
                    slotFiles.append(file)
                    let process = processOfFile[file]
                    var processSlot = -1
                    if let last = slotProcesses.last, last == process {
                        processSlot = slotProcesses.count - 1
                    } else if process <= largestProcess {
                        if slotOfProcess == nil {
                            slotOfProcess = Dictionary(
                                uniqueKeysWithValues: slotProcesses.enumerated().map { ($1, $0) })
                        }
                        processSlot = slotOfProcess?[process] ?? -1
                    }
                    if processSlot < 0 {
                        processSlot = slotProcesses.count
                        slotOfProcess?[process] = processSlot
                        largestProcess = max(largestProcess, process)
                        slotProcesses.append(process)
                        slotsOfProcess.append([])
                    }
                    slotsOfProcess[processSlot].append(slot)
                    processSlotOfSlot.append(processSlot)
                }
                slotOfSample.append(slot)
                processSlotOfSample.append(processSlotOfSlot[slot])
            }
            oneSamplePerFile = slotFiles.count == indices.count
            if !oneSamplePerFile {
                samplesOfSlot = Array(repeating: [], count: slotFiles.count)
                for (j, slot) in slotOfSample.enumerated() { samplesOfSlot[slot].append(indices[j]) }
            }
            files = slotFiles.sorted()
            if files != slotFiles {
                slotOfSortedFile = slotFiles.indices.sorted { slotFiles[$0] < slotFiles[$1] }
            }
            processPositions = slotProcesses.sorted()
            if processPositions != slotProcesses {
                slotOfSortedProcess = slotProcesses.indices.sorted { slotProcesses[$0] < slotProcesses[$1] }
            }
        }

        /// The slot of the file at position `file` of the index, if it holds one of these samples.
        func slot(ofFile file: Int) -> Int? {
            guard let k = EngineIndex.position(of: file, in: files) else { return nil }
            return slotOfSortedFile.isEmpty ? k : slotOfSortedFile[k]
        }

        /// The process slot of the process at position `process` of the index.
        func slot(ofProcess process: Int) -> Int? {
            guard let k = EngineIndex.position(of: process, in: processPositions) else { return nil }
            return slotOfSortedProcess.isEmpty ? k : slotOfSortedProcess[k]
        }

        /// The slots within an instance, ascending.
        func slots(at place: EnginePlace) -> [Int] {
            switch place {
            case .host: return Array(slotFiles.indices)
            case .process(let p): return slot(ofProcess: p).map { slotsOfProcess[$0] } ?? []
            case .file(let f): return slot(ofFile: f).map { [$0] } ?? []
            }
        }

        /// The indices of the samples within an instance, in sample order; linear in those
        /// samples (n log n for a process whose files hold several), not in all of the name's.
        func indices(at place: EnginePlace) -> [Int] {
            switch place {
            case .host: return indices
            case .process(let p):
                guard let wanted = slot(ofProcess: p) else { return [] }
                // With one sample per file, slot k is sample k: the slots, ascending, are in sample order.
                if oneSamplePerFile { return slotsOfProcess[wanted].map { indices[$0] } }
                if slotsOfProcess[wanted].count == 1 { return samplesOfSlot[slotsOfProcess[wanted][0]] }
                return slotsOfProcess[wanted].flatMap { samplesOfSlot[$0] }.sorted()
            case .file(let f):
                guard let wanted = slot(ofFile: f) else { return [] }
                return oneSamplePerFile ? [indices[wanted]] : samplesOfSlot[wanted]
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
    /// Per sample: its file's position in `files`.
    var fileOfSample: [Int] = []
    /// The files (positions) of each process (position), ascending.
    var filesOfProcess: [[Int]] = []
    var resolved: [String: Resolution] = [:]
    /// Every resolution, by id, and the number of their slots and process slots.
    var resolutions: [Resolution] = []
    var slotCount = 0
    var processSlotCount = 0
    /// Per engine name (`Engine.names`): its resolution, if it has samples.
    var resolutionOfName: [Resolution?] = []
    var globs: [String: [String]] = [:]
    /// Positions in `files` and in `processes`.
    var filePosition: [EngineFile: Int] = [:]
    var processPosition: [ProcessKey: Int] = [:]
    /// Per file (in `files` order): its process's position in `processes`.
    var processOfFile: [Int] = []
    /// Per entry: the positions in `files` (ascending) of the files holding a sample of a name
    /// it reads, when the entry has no value wherever it reads no sample (`Engine.readsOnlySamples`):
    /// elsewhere it need not be evaluated. Nil: it may have a value anywhere (a constant, a
    /// destination, `_DIFFTIME`, `count`, a plugin's function), so it is evaluated everywhere.
    var entryFiles: [[Int]?] = []
    /// Per entry with `entryFiles`: the processes (positions in `processes`, ascending) of those files.
    var entryProcesses: [[Int]] = []

    init() {}

    /// The instance at a place of this index.
    func instance(at place: EnginePlace) -> EngineInstance {
        switch place {
        case .host: .host
        case .process(let p): .process(pid: processes[p].pid, startTime: processes[p].startTime)
        case .file(let f): .thread(files[f])
        }
    }

    /// Indexes `samples` and resolves every name and glob the entries refer to (`names`:
    /// the engine's metric and delta names; `reads`: what each entry reads, see `EntryReads`).
    init(
        samples: [EngineSample], generation: UInt64, names: [String], globPatterns: [String: [String]],
        reads: [EntryReads]
    ) {
        self.generation = generation
        sampleCount = samples.count
        var byMetric: [String: [Int]] = [:]
        fileOfSample.reserveCapacity(samples.count)
        for (i, sample) in samples.enumerated() {
            byMetric[sample.metric, default: []].append(i)
            // Samples usually come grouped by file: compare with the previous one before hashing.
            if i > 0, let last = fileOfSample.last, samples[i - 1].file == sample.file {
                fileOfSample.append(last)
                continue
            }
            if let position = filePosition[sample.file] {
                fileOfSample.append(position)
                continue
            }
            let process = ProcessKey(pid: sample.file.pid, startTime: sample.file.startTime)
            fileOfSample.append(files.count)
            filePosition[sample.file] = files.count
            if let position = processPosition[process] {
                processOfFile.append(position)
                filesOfProcess[position].append(files.count)
            } else {
                processPosition[process] = processes.count
                processOfFile.append(processes.count)
                filesOfProcess.append([files.count])
                processes.append(process)
            }
            files.append(sample.file)
        }
        func resolve(_ name: String) -> Resolution? {
            if let known = resolved[name] { return known }
            let resolution: Resolution
            if let indices = byMetric[name] {
                resolution = Resolution(
                    id: resolutions.count, slotBase: slotCount, processBase: processSlotCount, indices: indices,
                    field: "value", fileOfSample: fileOfSample, processOfFile: processOfFile)
            } else if let dot = name.lastIndex(of: "."), let indices = byMetric[String(name[..<dot])] {
                resolution = Resolution(
                    id: resolutions.count, slotBase: slotCount, processBase: processSlotCount, indices: indices,
                    field: String(name[name.index(after: dot)...]), fileOfSample: fileOfSample,
                    processOfFile: processOfFile)
            } else {
                return nil
            }
            resolved[name] = resolution
            resolutions.append(resolution)
            slotCount += resolution.slotFiles.count
            processSlotCount += resolution.slotProcesses.count
            return resolution
        }
        resolutionOfName = names.map { resolve($0) }
        if !globPatterns.isEmpty {
            // Metric names are matched here; the destinations a glob matches do not change
            // (`globPatterns` holds them, sorted). The union, sorted, is the expansion.
            let metrics = byMetric.keys.map { ($0, Array($0.unicodeScalars)) }
            for (glob, destinations) in globPatterns {
                let pattern = Array(glob.unicodeScalars)
                var matching = Set(destinations)
                for (name, scalars) in metrics where Self.matches(scalars, pattern) { matching.insert(name) }
                let sorted = matching.sorted()
                globs[glob] = sorted
                for name in sorted { _ = resolve(name) }
            }
        }
        entryFiles.reserveCapacity(reads.count)
        entryProcesses.reserveCapacity(reads.count)
        for entry in reads {
            guard entry.strict else {
                entryFiles.append(nil)
                entryProcesses.append([])
                continue
            }
            // Usually one name, or names held by the same files (`a / b` of one service):
            // then the entry's files are that resolution's, shared, not a new list.
            var first: Resolution?
            var others: [Resolution] = []
            func add(_ resolution: Resolution) {
                guard let known = first else {
                    first = resolution
                    return
                }
                if known !== resolution, known.files != resolution.files,
                    !others.contains(where: { $0 === resolution })
                {
                    others.append(resolution)
                }
            }
            for id in entry.names {
                if let resolution = resolutionOfName[id] { add(resolution) }
            }
            for glob in entry.globs {
                for name in globs[glob] ?? [] {
                    if let resolution = resolved[name] { add(resolution) }
                }
            }
            if let first, others.isEmpty {
                entryFiles.append(first.files)
                entryProcesses.append(first.processPositions)
            } else {
                var positions: [Int] = first?.files ?? []
                for resolution in others { positions += resolution.files }
                positions = Self.sortedUnique(positions)
                entryFiles.append(positions)
                entryProcesses.append(Self.sortedUnique(positions.map { processOfFile[$0] }))
            }
        }
    }

    /// What one entry reads, fixed for the engine's life: the names and globs, and whether it
    /// has no value wherever none of them has a sample (`strict`; see `Engine.entryReads`).
    struct EntryReads {
        var strict: Bool
        var names: [Int]
        var globs: [String]
    }

    /// `values` sorted, without repeats.
    static func sortedUnique(_ values: [Int]) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values.sorted() where result.last != value { result.append(value) }
        return result
    }

    /// The position of `value` in the ascending `values` (binary search).
    static func position(of value: Int, in values: [Int]) -> Int? {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low < values.count && values[low] == value ? low : nil
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
