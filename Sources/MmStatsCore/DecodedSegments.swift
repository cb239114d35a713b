import CMmStats
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The descriptors decoded from metadata segments seen so far, shared by every reader in the
/// process.
///
/// Files written by one program hold the same metadata, byte for byte: the same names,
/// dimensions, signatures and offsets. A first scan of thousands of such files would decode
/// the same descriptors thousands of times. A segment's used bytes (already copied out of the
/// mapping, under the fault guard) are hashed and, on a hit, compared byte for byte with the
/// bytes the kept descriptors were decoded from: only identical bytes share them, so a file
/// that differs by one byte, or that a writer changed after it was decoded, is decoded on its
/// own. Decoding is a function of those bytes and the byte order alone; everything that
/// depends on the file (offsets against its size, the value budget) is still checked for each
/// file by `MetadataTable`. Only segments that decoded without error are kept. Bounded: at
/// most ``maximumSegments`` segments and ``maximumBytes`` bytes of keys; when either is
/// reached the cache starts over.
final class DecodedSegments: Sendable {
    /// One segment's used bytes and what they decode to.
    struct Entry: Sendable {
        let bytes: [UInt8]
        let swapped: Bool
        /// Each descriptor, with why it is unreadable if it is.
        let descriptors: [(MetricDescriptor, String?)]
        /// Components the descriptors charge against `ReaderLimits.maximumComponents`.
        let components: Int
        /// The whole table of a file whose only segment these bytes are, once one was built.
        let plan = PlanSlot()
    }

    /// Where the plan of a one-segment file is kept, next to its decoded segment.
    final class PlanSlot: Sendable {
        private let plan = Mutex<TablePlan?>(nil)

        var current: TablePlan? { plan.withLock { $0 } }

        func set(_ new: TablePlan) { plan.withLock { $0 = new } }
    }

    /// Everything `MetadataTable` derives from one segment's descriptors alone, with what a file
    /// must satisfy for the derivation to hold for it: a table built for one file serves every
    /// file with the same metadata, once these are checked against that file (its size, its
    /// header size and the reader's limits). Only for records in the core's own layouts, whose
    /// checks depend on nothing else.
    struct TablePlan: Sendable {
        let descriptors: [MetricDescriptor]
        let outputIndex: [Int?]
        let errors: [String?]
        let references: [mmstats_record_ref]
        let referenced: [Int]
        let totalWords: Int
        /// The end of the furthest record copy: the file must be at least this large.
        let requiredSize: Int
        /// The start of the nearest record copy: the header must end before it.
        let lowestOffset: Int
        /// Bytes the records occupy together (at most the file's size).
        let storageBytes: Int
        /// Components the descriptors charge.
        let components: Int
        /// The segment's used bytes.
        let metadataBytes: Int

        /// Whether the plan holds for a file of `size` bytes with a `headerSize`-byte header,
        /// read within `limits`.
        func holds(size: Int, headerSize: Int, limits: ReaderLimits) -> Bool {
            size >= requiredSize && headerSize <= lowestOffset && storageBytes <= size
                && components <= limits.maximumComponents && metadataBytes <= limits.maximumMetadataBytes
                && totalWords <= limits.maximumValueBytes / 8
        }
    }

    static let shared = DecodedSegments()
    static let maximumSegments = 256
    static let maximumBytes = 4 << 20

    private let state = Mutex<(segments: [UInt64: Entry], bytes: Int)>(([:], 0))

    /// The descriptors decoded before from exactly these bytes in this byte order, if any.
    func entry(bytes: [UInt8], swapped: Bool) -> Entry? {
        let key = Self.key(bytes, swapped)
        guard let entry = state.withLock({ $0.segments[key] }) else { return nil }
        guard entry.swapped == swapped, entry.bytes.count == bytes.count else { return nil }
        let same = entry.bytes.withUnsafeBytes { kept in
            bytes.withUnsafeBytes { bytes in
                guard let left = kept.baseAddress, let right = bytes.baseAddress else { return true }
                return memcmp(left, right, bytes.count) == 0
            }
        }
        return same ? entry : nil
    }

    /// Keeps `entry` (replacing one whose bytes hash alike).
    func insert(_ entry: Entry) {
        let cost = entry.bytes.count
        guard cost <= Self.maximumBytes / 4 else { return }
        let key = Self.key(entry.bytes, entry.swapped)
        state.withLock { state in
            if state.segments.count >= Self.maximumSegments || state.bytes + cost > Self.maximumBytes {
                state = ([:], 0)
            }
            if let old = state.segments.updateValue(entry, forKey: key) {
                state.bytes -= old.bytes.count
            }
            state.bytes += cost
        }
    }

    /// Forgets every segment (tests).
    func removeAll() {
        state.withLock { $0 = ([:], 0) }
    }

    /// How many segments are kept (tests).
    var count: Int { state.withLock { $0.segments.count } }

    private static func key(_ bytes: [UInt8], _ swapped: Bool) -> UInt64 {
        bytes.withUnsafeBytes { DescriptorShapes.hash($0, swapped ? 1 : 0) }
    }
}
