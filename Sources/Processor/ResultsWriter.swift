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
    /// How many times the file was started afresh (the record limit, a type change).
    public private(set) var restarts = 0

    private let options: WriterOptions
    private let maximumRecords: Int
    private var writer: StatsWriter
    private var records: [Key: Slot] = [:]
    /// The keys written by the previous pass with a value: only these need clearing.
    private var lastPresent: Set<Key> = []
    /// Each recorded destination's type (its records' kind).
    private var types: [String: EngineValueType] = [:]
    /// Keys the writer refused a record for, with the reason (at most `maximumRecords`).
    private var refusals: [Key: String] = [:]
    /// The problems reported by the previous pass (by identity): each is reported once while it lasts.
    private var reported: Set<String> = []

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
    /// Returns the problems first seen this pass, each reported once while it lasts: more
    /// results in one pass than `maximumRecords` (the first ones are kept), and a record the
    /// writer refused (that destination and instance are left out; the others are written).
    /// A destination whose type changed since it was recorded (a manifest reload) starts the
    /// file afresh, so that its records have the new kind.
    ///
    /// ```swift
    /// for problem in try results.publish(engine.run(inputs), entries: engine.entries) { print(problem) }
    /// ```
    @discardableResult
    public func publish(_ pass: EnginePass, entries: [EngineEntry]) throws(MmStatsError) -> [String] {
        var describe: [String: EngineEntry] = [:]
        for entry in entries {
            for name in entry.destinations where describe[name] == nil { describe[name] = entry }
        }
        let results = pass.results  // built once (`EnginePass` stores its results compactly)
        var problems: [String: String] = [:]  // by identity (a cap, or a refused key)
        // A destination recorded with another type (a reload changed it): its records cannot
        // change kind in place, and a second record of the same name would shadow the first.
        if types.contains(where: { name, type in describe[name].map { $0.type != type } ?? false }) {
            try restart()
        }
        let passKeys = Set(results.map { Key(destination: $0.destination, instance: $0.instance) })
        if passKeys.count > maximumRecords {
            problems["cap"] =
                "\(writer.path): more than \(maximumRecords) results in one pass; only the first \(maximumRecords) are recorded"
        }
        if records.count + passKeys.subtracting(records.keys).count > maximumRecords, records.count > 0,
            passKeys.count <= maximumRecords
        {
            try restart()  // only when this pass fits in a fresh file: else it would restart every pass
        }
        var present: Set<Key> = []
        for result in results {
            let key = Key(destination: result.destination, instance: result.instance)
            let entry = describe[result.destination]
            let type = entry?.type ?? .float
            if let refused = refusals[key] {
                problems["key:" + refused] = refused
                continue
            }
            guard records.count < maximumRecords || records[key] != nil else { continue }
            let slot: Slot
            do {
                slot = try self.slot(for: key, type: type, entry: entry)
            } catch {
                // Left out from now on (until the file restarts); the other results are written.
                let message = error.description
                if refusals.count < maximumRecords { refusals[key] = message }
                problems["key:" + message] = message
                continue
            }
            if let value = result.value, let stored = Self.stored(value, slot.type) {
                slot.record.set([stored, .bool(true)])
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
        let new = problems.filter { !reported.contains($0.key) }.sorted { $0.key < $1.key }.map(\.value)
        reported = Set(problems.keys)
        return new
    }

    /// Closes the file (removing it when the options say so).
    ///
    /// ```swift
    /// results.close()
    /// ```
    public func close() { writer.close() }

    private func restart() throws(MmStatsError) {
        restarts += 1
        writer.close()
        records = [:]
        types = [:]
        lastPresent = []
        refusals = [:]
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
        types[key.destination] = type
        return slot
    }

    private static func zero(_ type: EngineValueType) -> Value {
        type == .float ? .double(0) : .int(0)
    }

    /// The value as the record's type stores it (docs/PROCESSOR.md "Stored types"): a double in an
    /// integer record is rounded, halves away from zero; outside Int64's range, or not
    /// finite, it is no value (nil), never a made-up zero.
    static func stored(_ value: Number, _ type: EngineValueType) -> Value? {
        switch (type, value) {
        case (.float, _): .double(value.doubleValue)
        case (_, .int(let i)): .int(i)
        case (_, .double(let d)): Int64(exactly: d.rounded(.toNearestOrAwayFromZero)).map { .int($0) }
        }
    }
}
