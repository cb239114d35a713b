import Synchronization

/// A counter: one word the writer increments with a relaxed load and store (no locked instruction).
///
/// ```swift
/// let requests = try stats.counter("http.requests")
/// requests.increment()
/// requests.increment(by: 10)
/// ```
///
/// A handle belongs to its writer's thread. It is two words of plain data (no reference), so
/// copying it costs nothing wherever it is kept: a local, a `let` or `var` property. It does
/// not keep its writer alive; keep the writer (or the model holding it) for as long as readers
/// should see the metric. A handle that outlives its writer stays safe: writers never unmap
/// memory a handle can point at (see `StatsWriter`), so its updates go to private memory.
public struct Counter: BitwiseCopyable {
    @usableFromInline let word: UnsafeMutablePointer<Atomic<UInt64>>

    init(_ registration: StatsWriter.Registration) {
        self.word = registration.target ?? registration.shadowWords
    }

    /// Adds `amount` (wrapping at 2^64).
    @inlinable @inline(__always)
    public func increment(by amount: UInt64 = 1) {
        word.pointee.store(word.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// The current count.
    @inlinable
    public var value: UInt64 { word.pointee.load(ordering: .relaxed) }
}

/// An integer gauge: one word the writer sets, adds to or subtracts from.
///
/// ```swift
/// let depth = try stats.gauge("queue.depth")
/// depth.set(42)
/// depth.add(-1)
/// ```
public struct Gauge: BitwiseCopyable {
    @usableFromInline let word: UnsafeMutablePointer<Atomic<UInt64>>

    init(_ registration: StatsWriter.Registration) {
        self.word = registration.target ?? registration.shadowWords
    }

    /// Stores `value`.
    @inlinable @inline(__always)
    public func set(_ value: Int64) {
        word.pointee.store(UInt64(bitPattern: value), ordering: .relaxed)
    }

    /// Adds `delta` (wrapping).
    @inlinable @inline(__always)
    public func add(_ delta: Int64) {
        word.pointee.store(word.pointee.load(ordering: .relaxed) &+ UInt64(bitPattern: delta), ordering: .relaxed)
    }

    /// The current value.
    @inlinable
    public var value: Int64 { Int64(bitPattern: word.pointee.load(ordering: .relaxed)) }
}

/// A floating-point gauge: one word holding a Double's bits.
///
/// ```swift
/// let load = try stats.doubleGauge("cpu.load")
/// load.set(0.75)
/// ```
public struct DoubleGauge: BitwiseCopyable {
    @usableFromInline let word: UnsafeMutablePointer<Atomic<UInt64>>

    init(_ registration: StatsWriter.Registration) {
        self.word = registration.target ?? registration.shadowWords
    }

    /// Stores `value`.
    @inlinable @inline(__always)
    public func set(_ value: Double) {
        word.pointee.store(value.bitPattern, ordering: .relaxed)
    }

    /// Adds `delta`.
    @inlinable @inline(__always)
    public func add(_ delta: Double) {
        set(value + delta)
    }

    /// The current value.
    @inlinable
    public var value: Double { Double(bitPattern: word.pointee.load(ordering: .relaxed)) }
}

/// The words of a record being updated, by component slot.
///
/// ```swift
/// record.update { words in
///     words[0] += 1                 // count
///     words[double: 1] += duration  // sum
/// }
/// ```
public struct RecordWords {
    @usableFromInline let base: UnsafeMutablePointer<UInt64>
    /// Words in the record.
    public let count: Int

    @inlinable init(base: UnsafeMutablePointer<UInt64>, count: Int) {
        self.base = base
        self.count = count
    }

    /// Word `index` as an unsigned integer.
    @inlinable
    public subscript(index: Int) -> UInt64 {
        get {
            precondition(index >= 0 && index < count, "record word index out of range")
            return base[index]
        }
        nonmutating set {
            precondition(index >= 0 && index < count, "record word index out of range")
            base[index] = newValue
        }
    }

    /// Word `index` as a signed integer.
    @inlinable
    public subscript(int index: Int) -> Int64 {
        get { Int64(bitPattern: self[index]) }
        nonmutating set { self[index] = UInt64(bitPattern: newValue) }
    }

    /// Word `index` as a Double.
    @inlinable
    public subscript(double index: Int) -> Double {
        get { Double(bitPattern: self[index]) }
        nonmutating set { self[index] = newValue.bitPattern }
    }
}

/// A record of any signature in any layout; `update` changes it as a whole.
///
/// In the double-buffer layout an update is one sequence-count latch step, so readers see
/// either the old or the new record, never a mix. In the word layout each word is stored on
/// its own. In a page-flip file the update lands in the working page and becomes visible at
/// the writer's next `publish()`.
///
/// ```swift
/// let stats = try writer.record("job.time", kind: MyTimingKind())
/// stats.update { w in w[0] += 1; w[double: 1] += 0.25 }
/// ```
public struct Record: BitwiseCopyable {
    @usableFromInline let shadow: UnsafeMutablePointer<UInt64>
    @usableFromInline let target: UnsafeMutablePointer<Atomic<UInt64>>?
    @usableFromInline let words: Int
    @usableFromInline let isDoubleBuffer: Bool
    // No reference in the handle, so copying it (out of a `var` property, say) retains
    // nothing: the descriptor lives in an anchor that is never freed (see `RecordAnchor`).
    private let anchor: Unmanaged<RecordAnchor>

    /// The record's descriptor.
    public var descriptor: MetricDescriptor { anchor.takeUnretainedValue().descriptor }

    init(_ registration: StatsWriter.Registration) {
        self.shadow = registration.shadow
        self.target = registration.target
        self.words = registration.descriptor.signature.words
        self.isDoubleBuffer = registration.descriptor.layout == .doubleBuffer
        self.anchor = Unmanaged.passUnretained(registration.anchor)
    }

    /// Changes the record in place and publishes it by its layout's write protocol.
    @inlinable
    public func update(_ body: (RecordWords) -> Void) {
        body(RecordWords(base: shadow, count: words))
        commit()
    }

    /// Replaces the record's words.
    @inlinable
    public func store(_ newWords: [UInt64]) {
        precondition(newWords.count == words, "a record of \(words) words needs \(words) words")
        for i in 0..<words { shadow[i] = newWords[i] }
        commit()
    }

    /// Sets the components from typed values (converted to each component's type).
    public func set(_ values: [Value]) {
        let signature = descriptor.signature
        precondition(values.count == signature.components.count, "one value per component")
        for (i, component) in signature.components.enumerated() {
            let slot = UnsafeMutableBufferPointer(
                start: shadow + signature.slotOffsets[i], count: component.slotWords)
            values[i].encode(component, into: slot)
        }
        commit()
    }

    /// The writer's current words of the record.
    public var currentWords: [UInt64] { (0..<words).map { shadow[$0] } }

    @inlinable
    func commit() {
        guard let target else { return }  // page flip: the shadow is the working page
        if isDoubleBuffer {
            // docs/FORMAT.md §5.2: seq odd → write copy 0; seq even → write copy 1.
            let sequence = target.pointee.load(ordering: .relaxed)
            target.pointee.store(sequence &+ 1, ordering: .releasing)
            atomicMemoryFence(ordering: .releasing)
            let copy0 = target + 1
            for i in 0..<words { copy0[i].store(shadow[i], ordering: .relaxed) }
            target.pointee.store(sequence &+ 2, ordering: .releasing)
            atomicMemoryFence(ordering: .releasing)
            let copy1 = target + 1 + words
            for i in 0..<words { copy1[i].store(shadow[i], ordering: .relaxed) }
        } else {
            for i in 0..<words { target[i].store(shadow[i], ordering: .relaxed) }
        }
    }
}

extension StatsWriter.Registration {
    var shadowWords: UnsafeMutablePointer<Atomic<UInt64>> {
        UnsafeMutableRawPointer(shadow).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}

// MARK: - Registration API

extension StatsWriter {
    /// The counter with this name and dimensions, registered on first use.
    public func counter(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> Counter {
        try counter(name, dimensions: Dimension.list(dimensions), unit: unit, help: help)
    }

    /// The counter with this name and dimensions known only at run time, registered on first use.
    ///
    /// ```swift
    /// let ok = try stats.counter("index.response", dimensions: [Dimension("code", code)])
    /// ```
    public func counter(
        _ name: String, dimensions: [Dimension], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> Counter {
        let registration = try registerScalar(name, dimensions, CounterKind(), unit, help)
        return Counter(registration)
    }

    /// The integer gauge with this name and dimensions, registered on first use.
    public func gauge(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> Gauge {
        try gauge(name, dimensions: Dimension.list(dimensions), unit: unit, help: help)
    }

    /// The integer gauge with this name and dimensions known only at run time, registered on first use.
    ///
    /// ```swift
    /// let depth = try stats.gauge("queue.depth", dimensions: [Dimension("queue", queue.name)])
    /// ```
    public func gauge(
        _ name: String, dimensions: [Dimension], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> Gauge {
        let registration = try registerScalar(name, dimensions, GaugeKind.integer, unit, help)
        return Gauge(registration)
    }

    /// The floating-point gauge with this name and dimensions, registered on first use.
    public func doubleGauge(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> DoubleGauge {
        try doubleGauge(name, dimensions: Dimension.list(dimensions), unit: unit, help: help)
    }

    /// The floating-point gauge with this name and dimensions known only at run time,
    /// registered on first use.
    ///
    /// ```swift
    /// let load = try stats.doubleGauge("cpu.load", dimensions: [Dimension("cpu", String(cpu))])
    /// ```
    public func doubleGauge(
        _ name: String, dimensions: [Dimension], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> DoubleGauge {
        let registration = try registerScalar(name, dimensions, GaugeKind.double, unit, help)
        return DoubleGauge(registration)
    }

    /// A record of `kind`, optionally starting from `initial` values (one per component).
    ///
    /// `layout`: in a `.word` file, nil means the kind's default layout, and `.word` or
    /// `.doubleBuffer` may be asked for (`.pageFlip` is refused). In a `.pageFlip` file every
    /// record is a page-flip record: nil and `.pageFlip` mean that, anything else is refused.
    ///
    /// ```swift
    /// let timing = try stats.record("job.time", kind: JobTimeKind(), layout: .doubleBuffer)
    /// ```
    public func record(
        _ name: String, kind: any MetricKind, dimensions: KeyValuePairs<String, String> = [:], unit: String = "",
        help: String = "", layout: LayoutID? = nil, cacheLineAligned: Bool = false, initial: [Value]? = nil
    ) throws(MmStatsError) -> Record {
        try record(
            name, kind: kind, dimensions: Dimension.list(dimensions), unit: unit, help: help, layout: layout,
            cacheLineAligned: cacheLineAligned, initial: initial)
    }

    /// A record of `kind` with dimensions known only at run time (see the other `record`).
    ///
    /// ```swift
    /// let timing = try stats.record("job.time", kind: JobTimeKind(), dimensions: [Dimension("job", job)])
    /// ```
    public func record(
        _ name: String, kind: any MetricKind, dimensions: [Dimension], unit: String = "", help: String = "",
        layout: LayoutID? = nil, cacheLineAligned: Bool = false, initial: [Value]? = nil
    ) throws(MmStatsError) -> Record {
        // A sharded record is a shared counter's (`sharedCounter`): a Record's plain stores to
        // shard 0 would race the other threads' atomic adds there.
        if layout == .sharded || (layout == nil && kind.defaultLayout == .sharded) {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name, "sharded records are made by sharedCounter, not record")
        }
        var initialWords: [UInt64]? = nil
        if let initial {
            let signature = kind.signature
            guard initial.count == signature.components.count else {
                throw MmStatsError(
                    .invalidArgument, path: path, entry: name,
                    "\(initial.count) initial values for \(signature.components.count) components")
            }
            var words = [UInt64](repeating: 0, count: signature.words)
            words.withUnsafeMutableBufferPointer { buffer in
                for (i, component) in signature.components.enumerated() {
                    let start = signature.slotOffsets[i]
                    initial[i].encode(
                        component,
                        into: UnsafeMutableBufferPointer(rebasing: buffer[start..<start + component.slotWords]))
                }
            }
            initialWords = words
        }
        let registration = try register(
            name: name, dimensions: dimensions, kind: kind, unit: unit, help: help, layout: layout,
            cacheLineAligned: cacheLineAligned, initial: initialWords)
        return Record(registration)
    }

    private func registerScalar(
        _ name: String, _ dimensions: [Dimension], _ kind: any MetricKind, _ unit: String, _ help: String
    ) throws(MmStatsError) -> Registration {
        try register(
            name: name, dimensions: dimensions, kind: kind, unit: unit, help: help, layout: nil,
            cacheLineAligned: false)
    }
}

extension Dimension {
    /// The dimensions of a literal, in order.
    static func list(_ pairs: KeyValuePairs<String, String>) -> [Dimension] {
        pairs.map { Dimension($0.key, $0.value) }
    }
}
