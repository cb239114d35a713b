import MmStatsCore

// The scalar kinds beyond the core's counter and gauge: bool, text and static
// (docs/FORMAT.md §11.1).

/// A flag (`?`, field `value`), one word.
public struct BoolKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `bool`.
    public var name: String { "bool" }
    /// `?`.
    public var signature: Signature { Signature([.bool]) }
    /// `value`.
    public var fieldNames: [String] { ["value"] }
    /// One word.
    public var defaultLayout: LayoutID { .word }
}

/// A short text of at most `capacity` UTF-8 bytes (`Ns`, field `value`), in a double buffer so
/// that readers always see a whole string.
public struct TextKind: MetricKind {
    /// The most bytes the text holds (1 to 65,535).
    public let capacity: Int
    /// A text of at most `capacity` bytes.
    public init(capacity: Int = 64) { self.capacity = capacity }
    /// `text`.
    public var name: String { "text" }
    /// `Ns`.
    public var signature: Signature { Signature([.string(capacity: capacity)]) }
    /// `value`.
    public var fieldNames: [String] { ["value"] }
    /// A whole string at a time.
    public var defaultLayout: LayoutID { .doubleBuffer }
}

/// A value set once, when the metric is registered: a version, a build, a pid, a start time
/// (`q`, `d` or `Ns`, field `value`).
public struct StaticKind: MetricKind {
    /// The value's component.
    public let signature: Signature
    /// An integer (`q`), a double (`d`) or a text of `capacity` bytes (`Ns`).
    public init(_ component: ComponentType) { self.signature = Signature([component]) }
    /// `static`.
    public var name: String { "static" }
    /// `value`.
    public var fieldNames: [String] { ["value"] }
    /// One word (or one string slot), never written again.
    public var defaultLayout: LayoutID { .word }
}

/// A flag handle: stores true or false in one word.
///
/// ```swift
/// let ready = try stats.flag("server.ready")
/// ready.set(true)
/// ```
public struct Flag: BitwiseCopyable {
    @usableFromInline let word: InPlaceWord

    init(_ words: InPlaceWords) { self.word = words.word(0) }

    /// Stores `value`: one store.
    @inlinable @inline(__always)
    public func set(_ value: Bool) {
        word.store(value ? 1 : 0)
    }

    /// The value last set.
    public var value: Bool { word.load() != 0 }
}

/// A text handle: stores a string, cut to the capacity on a UTF-8 character boundary.
///
/// ```swift
/// let state = try stats.text("server.state", capacity: 16)
/// state.set("draining")
/// ```
public struct TextGauge {
    @usableFromInline let record: Record
    /// The most bytes stored.
    public let capacity: Int

    init(_ record: Record, capacity: Int) {
        self.record = record
        self.capacity = capacity
    }

    /// Stores `text`, cut after at most `capacity` bytes without splitting a character's
    /// encoding; readers see the whole new text or the whole old one. Does not allocate.
    public func set(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var length = min(bytes.count, capacity)
            if length < bytes.count {
                while length > 0, bytes[length] & 0xC0 == 0x80 { length -= 1 }  // a continuation byte
            }
            let capacity = self.capacity
            record.update { words in
                for word in 0..<(capacity + 7) / 8 {
                    var value: UInt64 = 0
                    withUnsafeMutableBytes(of: &value) { raw in
                        for i in 0..<8 where word * 8 + i < length { raw[i] = bytes[word * 8 + i] }
                    }
                    words[word] = value
                }
            }
        }
    }

    /// The text last set.
    public var value: String {
        let words = record.currentWords
        let bytes = words.withUnsafeBytes { Array($0.prefix(capacity)) }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

extension StatsWriter {
    /// The flag (`bool`) with this name and dimensions, registered on first use.
    ///
    /// ```swift
    /// try stats.flag("cache.warm").set(true)
    /// ```
    public func flag(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], help: String = ""
    ) throws(MmStatsError) -> Flag {
        let record = try record(name, kind: BoolKind(), dimensions: dimensions, help: help)
        guard let words = record.inPlace else {
            throw MmStatsError(.invalidArgument, path: path, entry: name, "a flag is one word, not a double buffer")
        }
        return Flag(words)
    }

    /// The text with this name and dimensions (at most `capacity` bytes), registered on first use.
    ///
    /// ```swift
    /// try stats.text("server.state").set("starting")
    /// ```
    public func text(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], capacity: Int = 64, help: String = ""
    ) throws(MmStatsError) -> TextGauge {
        let kind = TextKind(capacity: capacity)
        return TextGauge(try record(name, kind: kind, dimensions: dimensions, help: help), capacity: capacity)
    }

    /// Registers a text set once (a version, a build id), visible from the moment the metric is.
    ///
    /// ```swift
    /// try stats.static("app.version", "1.4.2")
    /// ```
    public func `static`(
        _ name: String, _ value: String, dimensions: KeyValuePairs<String, String> = [:], help: String = ""
    ) throws(MmStatsError) {
        let capacity = max(1, min(value.utf8.count, 65_535))
        _ = try record(
            name, kind: StaticKind(.string(capacity: capacity)), dimensions: dimensions, help: help,
            initial: [.string(value)])
    }

    /// Registers an integer set once (a pid, a start time in nanoseconds).
    ///
    /// ```swift
    /// try stats.static("process.pid", Int64(getpid()))
    /// ```
    public func `static`(
        _ name: String, _ value: Int64, dimensions: KeyValuePairs<String, String> = [:], unit: String = "",
        help: String = ""
    ) throws(MmStatsError) {
        _ = try record(
            name, kind: StaticKind(.int64), dimensions: dimensions, unit: unit, help: help, initial: [.int(value)])
    }

    /// Registers an integer set once (`Int` literals land here).
    ///
    /// ```swift
    /// try stats.static("workers", 8)
    /// ```
    public func `static`(
        _ name: String, _ value: Int, dimensions: KeyValuePairs<String, String> = [:], unit: String = "",
        help: String = ""
    ) throws(MmStatsError) {
        try self.static(name, Int64(value), dimensions: dimensions, unit: unit, help: help)
    }

    /// Registers a floating-point value set once.
    ///
    /// ```swift
    /// try stats.static("config.ratio", 0.25)
    /// ```
    public func `static`(
        _ name: String, _ value: Double, dimensions: KeyValuePairs<String, String> = [:], unit: String = "",
        help: String = ""
    ) throws(MmStatsError) {
        _ = try record(
            name, kind: StaticKind(.float64), dimensions: dimensions, unit: unit, help: help,
            initial: [.double(value)])
    }

    /// Registers the facts of this process as static metrics: `process.pid`,
    /// `process.start_time` (nanoseconds since the UNIX epoch, from the file's creation),
    /// and, when given, `app.version` and `app.build`.
    ///
    /// ```swift
    /// try stats.processFacts(version: "1.4.2", build: "a1b2c3d")
    /// ```
    public func processFacts(version: String? = nil, build: String? = nil) throws(MmStatsError) {
        try self.static("process.pid", Int64(ProcessIdentity.currentProcessID))
        try self.static("process.start_time", Int64(clamping: ProcessIdentity.startedNanoseconds), unit: "ns")
        if let version { try self.static("app.version", version) }
        if let build { try self.static("app.build", build) }
    }
}
