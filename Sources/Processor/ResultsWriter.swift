import MmStatsCore

/// Writes each pass's results into the processor's own stats file, where `mmstats slurp`,
/// the Python reader and another processor read them like any writer's metrics.
///
/// Each destination and instance is one `derived` (or `derived-counter`) record named after
/// the destination: the host result without dimensions, a process's with `pid` and
/// `start_time`, a thread's (one file's) with `pid`, `tid` and `file`. A destination with no
/// value this pass has `present` 0 (never a zero value); so has an instance that went away.
///
/// ```swift
/// let results = try ResultsWriter(WriterOptions(application: "mmstats", model: "processor"))
/// let pass = engine.run(inputs)
/// try results.publish(pass, entries: engine.entries)
/// ```
public final class ResultsWriter {
    /// The most records one file holds before it is started afresh with only the current
    /// instances (records of instances that went away cannot be removed from a file).
    public static let defaultMaximumRecords = 100_000

    /// The stats file's path.
    public var path: String { writer.path }
    /// The records in the file (current and gone instances).
    public var recordCount: Int { records.count }

    private let options: WriterOptions
    private let maximumRecords: Int
    private var writer: StatsWriter
    private var records: [Key: Slot] = [:]
    /// The keys written by the previous pass with a value: only these need clearing.
    private var lastPresent: Set<Key> = []

    private struct Key: Hashable {
        var destination: String
        var instance: EngineInstance
    }

    private struct Slot {
        var record: Record
        var type: EngineValueType
    }

    /// Creates the results file (`StatsWriter` with these options).
    ///
    /// ```swift
    /// var options = WriterOptions(application: "mmstats", model: "processor")
    /// options.root = "/tmp/stats"
    /// let results = try ResultsWriter(options)
    /// ```
    public init(_ options: WriterOptions, maximumRecords: Int = ResultsWriter.defaultMaximumRecords)
        throws(MmStatsError)
    {
        self.options = options
        self.maximumRecords = max(1, maximumRecords)
        writer = try StatsWriter(options)
    }

    /// Stores a pass's results: each (destination, instance) gets its value and `present` 1, or
    /// `present` 0 when it has none; records the pass did not mention are marked absent.
    /// Publishes once at the end (one generation change when records were added).
    ///
    /// ```swift
    /// try results.publish(engine.run(inputs), entries: engine.entries)
    /// ```
    public func publish(_ pass: EnginePass, entries: [EngineEntry]) throws(MmStatsError) {
        var describe: [String: EngineEntry] = [:]
        for entry in entries {
            for name in entry.destinations where describe[name] == nil { describe[name] = entry }
        }
        let results = pass.results  // built once (`EnginePass` stores its results compactly)
        let newKeys = Set(results.map { Key(destination: $0.destination, instance: $0.instance) })
            .subtracting(records.keys)
        if records.count + newKeys.count > maximumRecords, records.count > 0 {
            try restart()
        }
        var present: Set<Key> = []
        for result in results {
            let key = Key(destination: result.destination, instance: result.instance)
            let entry = describe[result.destination]
            let type = entry?.type ?? .float
            guard records.count < maximumRecords || records[key] != nil else { continue }
            let slot = try slot(for: key, type: type, entry: entry)
            if let value = result.value {
                slot.record.set([Self.stored(value, slot.type), .bool(true)])
                present.insert(key)
            } else {
                slot.record.set([Self.zero(slot.type), .bool(false)])
            }
        }
        for key in lastPresent.subtracting(present) {
            if let slot = records[key] { slot.record.set([Self.zero(slot.type), .bool(false)]) }
        }
        lastPresent = present
        writer.publish()
    }

    /// Closes the file (removing it when the options say so).
    ///
    /// ```swift
    /// results.close()
    /// ```
    public func close() { writer.close() }

    private func restart() throws(MmStatsError) {
        writer.close()
        records = [:]
        lastPresent = []
        writer = try StatsWriter(options)
    }

    private func slot(for key: Key, type: EngineValueType, entry: EngineEntry?) throws(MmStatsError) -> Slot {
        if let slot = records[key] { return slot }
        let dimensions: KeyValuePairs<String, String>
        switch key.instance {
        case .host: dimensions = [:]
        case .process(let pid, let start): dimensions = ["pid": "\(pid)", "start_time": "\(start)"]
        case .thread(let file): dimensions = ["pid": "\(file.pid)", "tid": "\(file.tid)", "file": file.path]
        }
        let record = try writer.record(
            key.destination, kind: DerivedKind.for(type), dimensions: dimensions, unit: entry?.unit ?? "",
            help: entry?.help ?? "", initial: [Self.zero(type), .bool(false)])
        let slot = Slot(record: record, type: type)
        records[key] = slot
        return slot
    }

    private static func zero(_ type: EngineValueType) -> Value {
        type == .float ? .double(0) : .int(0)
    }

    private static func stored(_ value: Number, _ type: EngineValueType) -> Value {
        switch (type, value) {
        case (.float, _): .double(value.doubleValue)
        case (_, .int(let i)): .int(i)
        case (_, .double(let d)): .int(Int64(exactly: d.rounded(.toNearestOrAwayFromZero)) ?? 0)
        }
    }
}
