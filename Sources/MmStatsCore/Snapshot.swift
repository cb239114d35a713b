/// The values of every metric of one file at one moment, with their descriptors.
///
/// ```swift
/// let snapshot = try StatsReader(path: path).snapshot()
/// for metric in snapshot.metrics { print(metric.descriptor.displayName, metric.fields) }
/// snapshot.value("queue.depth")            // .int(3)
/// snapshot.metric("job.time")?.field("sum") // .double(1.5)
/// ```
public struct Snapshot: Sendable {
    /// The file's path.
    public let path: String
    /// 1 or 2.
    public let version: Int
    /// The metadata generation the snapshot was read under (0 for v1).
    public let generation: UInt64
    /// Who wrote the file.
    public let writer: WriterIdentity
    private let storage: Storage

    private enum Storage: Sendable {
        case v2(MetadataTable, [UInt64])
        case samples([MetricSample])
    }

    init(path: String, version: Int, generation: UInt64, writer: WriterIdentity, table: MetadataTable, words: [UInt64])
    {
        self.path = path
        self.version = version
        self.generation = generation
        self.writer = writer
        self.storage = .v2(table, words)
    }

    init(path: String, version: Int, writer: WriterIdentity, samples: [MetricSample]) {
        self.path = path
        self.version = version
        self.generation = 0
        self.writer = writer
        self.storage = .samples(samples)
    }

    /// Number of metrics.
    public var count: Int {
        switch storage {
        case .v2(let table, _): table.descriptors.count
        case .samples(let samples): samples.count
        }
    }

    /// Every metric, in the file's order.
    public var metrics: [MetricSample] { (0..<count).map { sample(at: $0) } }

    /// The metric at `index` in the file's order; `index` must be in `0..<count`, as for an array.
    public func sample(at index: Int) -> MetricSample {
        switch storage {
        case .samples(let samples):
            return samples[index]
        case .v2(let table, let words):
            let descriptor = table.descriptors[index]
            guard let start = table.outputIndex[index] else {
                return MetricSample(descriptor: descriptor, fields: [], error: table.errors[index])
            }
            let signature = descriptor.signature
            let fields = words.withUnsafeBufferPointer { buffer in
                signature.components.enumerated().map { i, component in
                    let slot = start + signature.slotOffsets[i]
                    let value = Self.decode(
                        component, UnsafeBufferPointer(rebasing: buffer[slot..<slot + component.slotWords]),
                        swapped: table.swapped)
                    return (name: descriptor.fieldNames[i], value: value)
                }
            }
            return MetricSample(descriptor: descriptor, fields: fields, error: nil)
        }
    }

    /// Component `component` of the metric at `index`, decoded straight from the snapshot's
    /// words without building a sample (nil when the metric is unreadable or has no such
    /// component). The cheap way to read many values.
    ///
    /// ```swift
    /// for index in 0..<snapshot.count { total += snapshot.value(at: index)?.doubleValue ?? 0 }
    /// ```
    public func value(at index: Int, component: Int = 0) -> Value? {
        guard case .v2(let table, let words) = storage else {
            guard index >= 0, index < count, component >= 0 else { return nil }
            return sample(at: index).fields.dropFirst(component).first?.value
        }
        guard index >= 0, index < table.descriptors.count, let start = table.outputIndex[index] else { return nil }
        let signature = table.descriptors[index].signature
        guard component >= 0, component < signature.components.count else { return nil }
        let type = signature.components[component]
        let slot = start + signature.slotOffsets[component]
        return words.withUnsafeBufferPointer { buffer in
            Self.decode(
                type, UnsafeBufferPointer(rebasing: buffer[slot..<slot + type.slotWords]), swapped: table.swapped)
        }
    }

    /// Decodes a slot read from a file in either byte order (string bytes are in file order already).
    private static func decode(_ type: ComponentType, _ slot: UnsafeBufferPointer<UInt64>, swapped: Bool) -> Value {
        if !swapped { return Value.decode(type, words: slot) }
        if case .string = type { return Value.decode(type, words: slot) }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: slot.count) { temporary in
            for (i, word) in slot.enumerated() { temporary[i] = word.byteSwapped }
            return Value.decode(type, words: UnsafeBufferPointer(temporary))
        }
    }

    /// The metric with this name and exactly these dimensions.
    public func metric(_ name: String, dimensions: [String: String] = [:]) -> MetricSample? {
        let descriptors: [MetricDescriptor]
        switch storage {
        case .v2(let table, _): descriptors = table.descriptors
        case .samples(let samples): descriptors = samples.map(\.descriptor)
        }
        guard let index = descriptors.firstIndex(where: { $0.matches(name: name, dimensions: dimensions) }) else {
            return nil
        }
        return sample(at: index)
    }

    /// The single value of the metric with this name and dimensions (nil for multi-field records).
    public func value(_ name: String, dimensions: [String: String] = [:]) -> Value? {
        metric(name, dimensions: dimensions)?.value
    }
}

/// One metric's descriptor and values in a snapshot.
public struct MetricSample: Sendable {
    /// What the metric is.
    public let descriptor: MetricDescriptor
    /// Every component, by field name, in signature order (empty when `error` is set).
    public let fields: [(name: String, value: Value)]
    /// Why the metric could not be read, if it could not.
    public let error: String?

    /// The value when the record has exactly one component.
    public var value: Value? { fields.count == 1 ? fields[0].value : nil }

    /// The component named `name`.
    public func field(_ name: String) -> Value? { fields.first { $0.name == name }?.value }

    /// The fields the metric's kind exposes at `now` (monotonic nanoseconds; windows depend on
    /// it), or its components when the registry does not know the kind.
    ///
    /// ```swift
    /// snapshot.metric("db.latency")?.exposedFields(in: registry)   // count, sum, mean, p50, …
    /// ```
    public func exposedFields(in registry: PluginRegistry = .shared, now: UInt64? = nil) -> [(
        name: String, value: Value
    )] {
        guard error == nil, let kind = registry.kind(named: descriptor.kind) else { return fields }
        return kind.exposedFields(fields, now: now ?? StatsClock.system.now())
    }
}
