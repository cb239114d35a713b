import CMmStats

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A read-only view of a mapped stats file, with bounds-checked, fault-guarded loads.
///
/// Every load checks its range against the mapping and runs under the SIGBUS guard, so a
/// file truncated or rewritten under the reader produces an error, never a crash. Layout
/// plugins read records through it. A `RegionReader` is valid only during the call it is
/// handed to: do not keep it (the reader may map the file again afterwards).
public struct RegionReader: @unchecked Sendable {
    // @unchecked: the pointer is only read through the guarded C functions, and the mapping
    // outlives every RegionReader (they are handed out inside `StatsReader` calls only).
    let base: UnsafeRawPointer
    /// Bytes mapped.
    public let size: Int
    /// The file's path, for errors.
    public let path: String
    /// Whether the file is in the other byte order.
    public let swapped: Bool
    /// Bounds on retries of overtaken reads.
    var limits = ReaderLimits()

    /// Copies `count` words at `offset` with relaxed atomic loads.
    public func words(at offset: Int, count: Int) throws(MmStatsError) -> [UInt64] {
        let bytes = count.multipliedReportingOverflow(by: 8)
        guard count >= 0, !bytes.overflow else {
            throw MmStatsError(.corrupt, path: path, "read of \(count) words at offset \(offset) is impossible")
        }
        try checkRange(offset, bytes: bytes.partialValue, what: "read")
        var result = [UInt64](repeating: 0, count: count)
        let status = result.withUnsafeMutableBufferPointer { buffer in
            mmstats_copy_words(buffer.baseAddress, base + offset, count)
        }
        if Int(status) != MMSTATS_READ_OK { throw faulted() }
        return result
    }

    /// Loads one word at `offset` with acquire ordering.
    public func loadAcquiring(at offset: Int) throws(MmStatsError) -> UInt64 {
        try checkRange(offset, bytes: 8, what: "read")
        var value: UInt64 = 0
        if Int(mmstats_load_acquire(base + offset, &value)) != MMSTATS_READ_OK { throw faulted() }
        return value
    }

    /// Copies `count` bytes at `offset` (rounded out to whole words internally).
    func bytes(at offset: Int, count: Int) throws(MmStatsError) -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset >= 0, count <= size, offset <= size - count else {
            throw MmStatsError(
                .corrupt, path: path, "read of \(count) bytes at offset \(offset) is outside the \(size)-byte mapping")
        }
        // Whole words around the bytes; rounding up past the end stays inside the last mapped
        // page (mappings cover whole pages, and bytes past the end of the file read as zero).
        let start = offset & ~7
        let end = (offset + count).aligned(to: 8)
        if start == offset {
            // Aligned (metadata segments are): the words go straight into the result.
            var faulted = false
            let result = [UInt8](unsafeUninitializedCapacity: end - start) { buffer, initialized in
                let status = UnsafeMutableRawPointer(buffer.baseAddress).map { destination in
                    mmstats_copy_words(
                        destination.bindMemory(to: UInt64.self, capacity: (end - start) / 8), base + start,
                        (end - start) / 8)
                }
                faulted = status.map { Int($0) != MMSTATS_READ_OK } ?? true
                initialized = faulted ? 0 : count
            }
            if faulted { throw self.faulted() }
            return result
        }
        var result = [UInt64](repeating: 0, count: (end - start) / 8)
        let status = result.withUnsafeMutableBufferPointer { buffer in
            mmstats_copy_words(buffer.baseAddress, base + start, buffer.count)
        }
        if Int(status) != MMSTATS_READ_OK { throw faulted() }
        let words = result
        return words.withUnsafeBytes { Array($0[(offset - start)..<(offset - start + count)]) }
    }

    /// Copies `count` bytes at `offset` into a temporary buffer and hands them to `body`
    /// (no allocation for small reads: the header on every snapshot).
    func withBytes<T>(at offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> T) throws(MmStatsError) -> T {
        guard count > 0 else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard offset >= 0, count <= size, offset <= size - count else {
            throw MmStatsError(
                .corrupt, path: path, "read of \(count) bytes at offset \(offset) is outside the \(size)-byte mapping")
        }
        // Whole words around the bytes, as in `bytes(at:count:)`.
        let start = offset & ~7
        let end = (offset + count).aligned(to: 8)
        let result = withUnsafeTemporaryAllocation(of: UInt64.self, capacity: (end - start) / 8) {
            buffer -> T? in
            let status = mmstats_copy_words(buffer.baseAddress, base + start, buffer.count)
            guard Int(status) == MMSTATS_READ_OK else { return nil }
            return body(
                UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(offset - start)...].prefix(count)))
        }
        guard let result else { throw faulted() }
        return result
    }

    /// Reads one record of a built-in layout by its read protocol.
    func readRecord(_ descriptor: MetricDescriptor) throws(MmStatsError) -> [UInt64] {
        let plan = try RecordPlan(descriptor, mappedSize: size, headerSize: Format.headerSize, path: path)
        var output = [UInt64](repeating: 0, count: descriptor.signature.words)
        var reference = plan.reference(outputIndex: 0)
        var busy = 0
        let status = output.withUnsafeMutableBufferPointer { buffer in
            mmstats_read_records(
                base, UInt64(Format.Header.flipSequence), swapped ? 1 : 0, &reference, 1, buffer.baseAddress,
                limits.maximumRetries, limits.deadline(), &busy)
        }
        switch Int(status) {
        case MMSTATS_READ_OK: return output
        case MMSTATS_READ_BUSY:
            throw MmStatsError(.busy, path: path, entry: descriptor.displayName, "the record kept changing while read")
        default: throw faulted()
        }
    }

    func checkRange(_ offset: Int, bytes: Int, what: String) throws(MmStatsError) {
        guard offset >= 0, bytes >= 0, offset % 8 == 0, offset <= size - bytes else {
            throw MmStatsError(
                .corrupt, path: path,
                "\(what) of \(bytes) bytes at offset \(offset) is outside the \(size)-byte mapping")
        }
    }

    func faulted() -> MmStatsError {
        MmStatsError(.truncated, path: path, "the file shrank under the reader (\(size) bytes were mapped)")
    }
}

/// A validated record location: where each copy lives, checked against the mapping.
struct RecordPlan {
    let layout: LayoutID
    let offset: Int
    let altOffset: Int
    let words: Int

    /// Where the record's first copy starts, and where its last one ends.
    var start: Int { layout == .pageFlip ? min(offset, altOffset) : offset }
    var end: Int {
        switch layout {
        case .doubleBuffer: offset + (1 + 2 * words) * 8
        case .pageFlip: max(offset, altOffset) + words * 8
        default: offset + words * 8
        }
    }

    /// Bytes of the file the record occupies (all copies).
    var storageBytes: Int {
        switch layout {
        case .doubleBuffer: (1 + 2 * words) * 8
        case .pageFlip: 2 * words * 8
        default: words * 8
        }
    }

    init(_ descriptor: MetricDescriptor, mappedSize: Int, headerSize: Int, path: String) throws(MmStatsError) {
        let words = descriptor.signature.words
        // Built only for an error: a first scan plans every record of every file.
        var entry: String { "metric \(descriptor.metricID) (\(descriptor.displayName))" }
        func check(_ offset: Int, _ bytes: Int, _ label: String) throws(MmStatsError) {
            guard offset % 8 == 0 else {
                throw MmStatsError(
                    .corrupt, path: path, entry: entry, "\(label) offset \(offset) is not 8-byte aligned")
            }
            guard offset >= headerSize, offset <= mappedSize - bytes else {
                throw MmStatsError(
                    .corrupt, path: path, entry: entry,
                    "\(label) of \(bytes) bytes at offset \(offset) lies outside the file (size \(mappedSize))")
            }
        }
        switch descriptor.layout {
        case .word:
            try check(descriptor.valueOffset, words * 8, "value")
        case .doubleBuffer:
            try check(descriptor.valueOffset, (1 + 2 * words) * 8, "double-buffer record")
        case .pageFlip:
            try check(descriptor.valueOffset, words * 8, "page 0 value")
            try check(descriptor.altOffset, words * 8, "page 1 value")
        default:
            throw MmStatsError(
                .corrupt, path: path, entry: entry, "unknown layout \(descriptor.layout.rawValue)")
        }
        self.layout = descriptor.layout
        self.offset = descriptor.valueOffset
        self.altOffset = descriptor.altOffset
        self.words = words
    }

    func reference(outputIndex: Int) -> mmstats_record_ref {
        mmstats_record_ref(
            offset: UInt64(offset), alt_offset: UInt64(altOffset), output_index: UInt64(outputIndex),
            words: UInt32(words), layout: UInt32(layout.rawValue))
    }
}
