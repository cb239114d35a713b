import CMmStats

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reads one stats file (v2, or legacy v1) without ever disturbing its writer.
///
/// The file is mapped read-only and stays mapped; metadata is parsed again only when the
/// header's generation changes, so repeated snapshots cost one batched read of the values.
/// Every offset is validated and every load is guarded: a corrupt, truncated or rewritten
/// file produces an `MmStatsError`, never a crash.
///
/// ```swift
/// let reader = try StatsReader(path: path)
/// let snapshot = try reader.snapshot()
/// print(snapshot.value("index.response_ok", dimensions: ["code": "200"]) ?? .uint(0))
/// ```
public final class StatsReader {
    /// The file's path.
    public let path: String
    /// The format version: 1 or 2.
    public let version: Int
    /// The descriptor the reader holds, or -1 when it holds none (`holdsDescriptor: false`).
    private let fd: Int32
    /// The device and inode of the file mapped.
    private let identity: (device: UInt64, inode: UInt64)
    private var base: UnsafeRawPointer
    private var mappedSize: Int
    private var table: MetadataTable?
    private var swapped = false
    /// The writer's names as last read, and the writer they belong to: a writer's names do not
    /// change, so later reads of the header skip them while it is the same writer.
    private var names: (origin: Origin, application: String, model: String)?
    private let registry: PluginRegistry
    /// What one snapshot of this file may cost: memory, time, remappings.
    public var limits: ReaderLimits
    /// Retries of a seqlock read before giving up with `.busy` (`limits.maximumRetries`).
    public var maximumRetries: UInt32 {
        get { limits.maximumRetries }
        set { limits.maximumRetries = newValue }
    }

    /// Opens and maps the file; does not follow a symbolic link. Records in layouts other than
    /// the core's three are read through the layouts `registry` holds (see `StorageLayout`).
    /// `limits` bounds what the file can make the reader spend.
    public convenience init(path: String, registry: PluginRegistry = .shared, limits: ReaderLimits = ReaderLimits())
        throws(MmStatsError)
    {
        try self.init(path: path, registry: registry, limits: limits, holdsDescriptor: true)
    }

    /// Opens and maps the file. With `holdsDescriptor` false the descriptor is closed once the
    /// file is mapped (the mapping outlives it): the reader costs a mapping, not a descriptor,
    /// and opens the path again (`O_NOFOLLOW`) only to map a file that grew, failing if the
    /// path no longer names the same file. `StatsScanner` keeps its readers this way.
    ///
    /// With `directory` (an open directory's descriptor, and where the file's name starts in
    /// `path`'s UTF-8) the file is opened by its name in that directory, without walking `path`
    /// from the root again; `path` is still the file's path, for messages and for opening it
    /// again.
    init(
        path: String, registry: PluginRegistry, limits: ReaderLimits, holdsDescriptor: Bool,
        directory: (fd: Int32, nameOffset: Int)? = nil
    ) throws(MmStatsError) {
        self.path = path
        self.registry = registry
        self.limits = limits
        let fd: Int32
        // O_NONBLOCK: opening a FIFO planted at the path must not wait for a writer (the
        // descriptor is only used for fstat and mmap, which it does not affect).
        let opening =
            directory.map { directory in
                path.withCString {
                    Sys.openAt(directory.fd, $0 + directory.nameOffset, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
                }
            } ?? Sys.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        switch opening {
        case .success(let opened): fd = opened
        case .failure(let error): throw .system(error, path: path, "cannot open")
        }
        do throws(MmStatsError) {
            let (base, size, identity) = try Self.map(fd, path: path, atLeast: 0)
            self.base = base
            self.mappedSize = size
            self.identity = identity
        } catch {
            Sys.close(fd)
            throw error
        }
        if holdsDescriptor {
            self.fd = fd
        } else {
            Sys.close(fd)
            self.fd = -1
        }
        let region = RegionReader(base: base, size: mappedSize, path: path, swapped: false)
        let first: UInt8
        do throws(MmStatsError) {
            first = try region.withBytes(at: 0, count: 1) { $0[0] }
        } catch {
            Sys.munmap(UnsafeMutableRawPointer(mutating: base), mappedSize)
            if self.fd >= 0 { Sys.close(self.fd) }
            throw error
        }
        switch first {
        case 1: version = 1
        case 2: version = 2
        default:
            Sys.munmap(UnsafeMutableRawPointer(mutating: base), mappedSize)
            if self.fd >= 0 { Sys.close(self.fd) }
            throw MmStatsError(
                .unsupportedVersion, path: path,
                "not an mmstats file (version byte \(first); this reader reads 1 and 2)")
        }
        ReaderTestHooks.afterOpen?(path)
    }

    deinit {
        Sys.munmap(UnsafeMutableRawPointer(mutating: base), mappedSize)
        if fd >= 0 { Sys.close(fd) }
    }

    /// Maps the file at its current size, or at `atLeast` bytes if that is more: a mapping that
    /// replaces one whose offsets were validated must not be smaller (pages past the end of a
    /// shrunk file fault, and the guarded loads report that as truncation).
    private static func map(_ fd: Int32, path: String, atLeast: Int) throws(MmStatsError) -> (
        UnsafeRawPointer, Int, (device: UInt64, inode: UInt64)
    ) {
        guard case .success(let info) = Sys.fstat(fd) else {
            throw MmStatsError(.system, path: path, "cannot stat")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw MmStatsError(.corrupt, path: path, "not a regular file")
        }
        let size = max(Int(info.st_size), atLeast)
        guard size >= 8 else {
            throw MmStatsError(.corrupt, path: path, "the file is \(size) bytes, too small to be a stats file")
        }
        switch Sys.mmap(length: size, protection: PROT_READ, flags: MAP_SHARED, fd: fd) {
        case .success(let pointer):
            return (UnsafeRawPointer(pointer), size, (UInt64(info.st_dev), UInt64(info.st_ino)))
        case .failure(let error): throw .system(error, path: path, "cannot map")
        }
    }

    /// Maps the file again at its current size (at least `atLeast` bytes) and forgets the metadata.
    private func remap(atLeast: Int = 0) throws(MmStatsError) {
        ReaderTestHooks.beforeRemap?(path)
        let (newBase, newSize, _) = try withDescriptor { fd throws(MmStatsError) in
            try Self.map(fd, path: path, atLeast: atLeast)
        }
        Sys.munmap(UnsafeMutableRawPointer(mutating: base), mappedSize)
        base = newBase
        mappedSize = newSize
        table = nil
    }

    /// Runs `body` with a descriptor of the file this reader mapped: the one it holds, else the
    /// path opened again without following a symbolic link and checked to be the same file.
    private func withDescriptor<T>(_ body: (Int32) throws(MmStatsError) -> T) throws(MmStatsError) -> T {
        if fd >= 0 { return try body(fd) }
        let opened: Int32
        switch Sys.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) {
        case .success(let descriptor): opened = descriptor
        case .failure(let error): throw .system(error, path: path, "cannot open the file again to map it")
        }
        defer { Sys.close(opened) }
        guard case .success(let info) = Sys.fstat(opened), UInt64(info.st_dev) == identity.device,
            UInt64(info.st_ino) == identity.inode
        else {
            throw MmStatsError(.truncated, path: path, "the file was replaced at its path after it was opened")
        }
        return try body(opened)
    }

    /// The file's current size.
    private func currentFileSize() throws(MmStatsError) -> Int {
        try withDescriptor { fd throws(MmStatsError) in
            guard case .success(let info) = Sys.fstat(fd) else {
                throw MmStatsError(.system, path: path, "cannot stat")
            }
            return Int(info.st_size)
        }
    }

    /// Parses the metadata now, so that the next snapshot only reads values: a scanner opening
    /// many files does this on several threads (see `StatsScanner`).
    func prepare() throws(MmStatsError) {
        if version == 2 { _ = try currentTable() }
    }

    /// Bytes of metadata the reader holds parsed (0 before its first snapshot), and bytes of
    /// values a snapshot of that metadata holds.
    var parsedMetadataBytes: Int { table?.metadataBytes ?? 0 }
    var parsedValueBytes: Int { (table?.totalWords ?? 0) * 8 }

    /// The device and inode of the file this reader opened: tools that act on a file by name
    /// compare it with what the name holds now.
    ///
    /// ```swift
    /// let reader = try StatsReader(path: path)
    /// if let id = reader.fileID { print(id.device, id.inode) }
    /// ```
    public var fileID: (device: UInt64, inode: UInt64)? { identity }

    var region: RegionReader {
        RegionReader(base: base, size: mappedSize, path: path, swapped: swapped, limits: limits)
    }

    /// The metrics' descriptors as of the last snapshot (or now, if none was taken).
    public var descriptors: [MetricDescriptor] {
        get throws(MmStatsError) { try snapshot().metrics.map(\.descriptor) }
    }

    /// Reads every metric's current value: one consistent record per metric, and all
    /// page-flip metrics of the file from one published instant.
    public func snapshot() throws(MmStatsError) -> Snapshot {
        if version == 1 { return try V1File.snapshot(region, path: path, limits: limits) }
        do throws(MmStatsError) {
            return try snapshotV2()
        } catch  where error.code == .truncated {
            // The file may have been replaced or shrunk: map it again once and retry.
            try remap()
            return try snapshotV2()
        }
    }

    private func snapshotV2() throws(MmStatsError) -> Snapshot {
        let table = try currentTable()
        // The header (with the closed flag) before the values: a snapshot that says "closed"
        // holds the values the writer published before it closed.
        let header = try readHeader()
        var words = [UInt64](repeating: 0, count: table.totalWords)
        var busy = 0
        let deadline = limits.deadline()
        let status = words.withUnsafeMutableBufferPointer { buffer in
            table.references.withUnsafeBufferPointer { references in
                mmstats_read_records(
                    base, UInt64(Format.Header.flipSequence), swapped ? 1 : 0, references.baseAddress,
                    references.count, buffer.baseAddress, limits.maximumRetries, deadline, &busy)
            }
        }
        switch Int(status) {
        case MMSTATS_READ_OK:
            for (index, layout) in table.custom {
                let descriptor = table.descriptors[index]
                // Plugin layouts (a sharded record visits every shard) share the read's time bound.
                if deadline != 0, mmstats_monotonic_ns() > deadline {
                    throw MmStatsError(
                        .busy, path: path, entry: descriptor.displayName,
                        "reading the file's records took longer than \(limits.readTimeout)")
                }
                let record = try layout.read(descriptor, from: region)
                guard record.count == descriptor.signature.words, let start = table.outputIndex[index] else {
                    throw MmStatsError(
                        .corrupt, path: path, entry: descriptor.displayName,
                        "layout \(layout.name) returned \(record.count) words for a \(descriptor.signature.words)-word record"
                    )
                }
                words.replaceSubrange(start..<start + record.count, with: record)
            }
        case MMSTATS_READ_BUSY:
            let entry =
                busy < table.referenced.count ? table.descriptors[table.referenced[busy]].displayName : "page flip"
            throw MmStatsError(
                .busy, path: path, entry: entry,
                "the writer kept overtaking the read for \(limits.readTimeout) or \(limits.maximumRetries) retries")
        default:
            self.table = nil
            throw region.faulted()
        }
        ReaderTestHooks.afterValues?(path)
        guard header.origin == table.origin, try originUnchanged(table.origin) else {
            // Another writer's file was written over this one while we read: the values may
            // belong to it. `snapshot()` maps the file again and reads it afresh.
            self.table = nil
            throw MmStatsError(.truncated, path: path, "the file was rewritten by another writer under the reader")
        }
        return Snapshot(
            path: path, version: 2, generation: table.generation, writer: header.identity, table: table, words: words)
    }

    /// Whether the header still names the writer `origin` (the words that identify it, read at once).
    private func originUnchanged(_ origin: Origin) throws(MmStatsError) -> Bool {
        return try region.withBytes(at: 0, count: Format.Header.created + 8) { raw in
            let view = ByteView(bytes: raw, swapped: origin.swapped)
            return view.u32(Format.Header.byteOrderMark) == Format.byteOrderMark
                && Int(view.u16(Format.Header.headerSize)) == origin.headerSize
                && view.u64(Format.Header.firstSegment) == UInt64(origin.firstSegment)
                && Int32(truncatingIfNeeded: view.u64(Format.Header.pid)) == origin.pid
                && Int64(bitPattern: view.u64(Format.Header.tid)) == origin.tid
                && view.u64(Format.Header.startTime) == origin.startTime
                && view.u64(Format.Header.created) == origin.created
        }
    }

    // MARK: Header and metadata

    struct Header {
        var swapped: Bool
        var headerSize: Int
        var generation: UInt64
        var fileSize: Int
        var firstSegment: Int
        var identity: WriterIdentity

        /// Which writer's file this is. Metadata parsed for one file is reused only for the same
        /// file: a file rewritten in place by another writer can have the same generation.
        var origin: Origin {
            Origin(
                pid: identity.pid, tid: identity.tid, startTime: identity.startTime, created: identity.created,
                swapped: swapped, headerSize: headerSize, firstSegment: firstSegment)
        }
    }

    struct Origin: Equatable {
        var pid: Int32
        var tid: Int64
        var startTime: UInt64
        var created: UInt64
        var swapped: Bool
        var headerSize: Int
        var firstSegment: Int
    }

    func readHeader() throws(MmStatsError) -> Header {
        guard mappedSize >= Format.headerSize else {
            throw MmStatsError(
                .corrupt, path: path,
                "the file is \(mappedSize) bytes, smaller than the \(Format.headerSize)-byte header")
        }
        // The fields before the names, then the names unless they were read for this writer.
        let parsed = try region.withBytes(at: 0, count: Format.Header.application) {
            raw -> Result<Header, MmStatsError> in
            guard raw[0] == Format.version else {
                return .failure(MmStatsError(.unsupportedVersion, path: path, "version byte \(raw[0]), expected 2"))
            }
            guard raw[1..<8].elementsEqual(Format.magic) else {
                return .failure(
                    MmStatsError(.corrupt, path: path, "bad magic (expected MMSTATS after the version byte)"))
            }
            let native = raw.loadUnaligned(fromByteOffset: Format.Header.byteOrderMark, as: UInt32.self)
            let swapped: Bool
            if native == Format.byteOrderMark {
                swapped = false
            } else if native == Format.byteOrderMark.byteSwapped {
                swapped = true
            } else {
                return .failure(
                    MmStatsError(.corrupt, path: path, "bad byte order mark 0x\(String(native, radix: 16))"))
            }
            let view = ByteView(bytes: raw, swapped: swapped)
            let headerSize = Int(view.u16(Format.Header.headerSize))
            guard headerSize >= Format.headerSize, headerSize <= mappedSize else {
                return .failure(
                    MmStatsError(
                        .corrupt, path: path,
                        "header size \(headerSize) is not between 256 and the file size \(mappedSize)"))
            }
            let fileSize = view.u64(Format.Header.fileSize)
            let firstSegment = view.u64(Format.Header.firstSegment)
            let identity = WriterIdentity(
                pid: Int32(truncatingIfNeeded: view.u64(Format.Header.pid)),
                tid: Int64(bitPattern: view.u64(Format.Header.tid)),
                startTime: view.u64(Format.Header.startTime), application: "", model: "",
                created: view.u64(Format.Header.created),
                lastUpdate: view.u64(Format.Header.lastUpdate),
                closed: view.u32(Format.Header.flags) & Format.closedFlag != 0,
                // Reserved (0) before minor version 1, so older files read as "not recorded".
                pidNamespace: view.u64(Format.Header.pidNamespace))
            return .success(
                Header(
                    swapped: swapped, headerSize: headerSize, generation: view.u64(Format.Header.generation),
                    fileSize: fileSize > UInt64(Int.max) ? Int.max : Int(fileSize),
                    firstSegment: firstSegment > UInt64(Int.max) ? Int.max : Int(firstSegment), identity: identity))
        }
        var header = try parsed.get()
        let origin = header.origin
        if let names, names.origin == origin {
            header.identity.application = names.application
            header.identity.model = names.model
            return header
        }
        let read = try region.withBytes(at: Format.Header.application, count: 2 * Format.Header.nameCapacity) { raw in
            func name(_ offset: Int) -> String {
                let field = raw[offset..<offset + Format.Header.nameCapacity]
                let end = field.firstIndex(of: 0) ?? field.endIndex
                return String(decoding: raw[offset..<end], as: UTF8.self)
            }
            return (application: name(0), model: name(Format.Header.nameCapacity))
        }
        names = (origin, read.application, read.model)
        header.identity.application = read.application
        header.identity.model = read.model
        return header
    }

    private func currentTable() throws(MmStatsError) -> MetadataTable {
        if let table {
            // The common case: one acquire load. A file rewritten in place with the same
            // generation is caught by the header check after the values (`snapshotV2`).
            let word = try region.loadAcquiring(at: Format.Header.generation)
            if (table.swapped ? word.byteSwapped : word) == table.generation { return table }
        }
        var header = try readHeader()
        swapped = header.swapped
        // Acquire the generation before the metadata it covers.
        let generationWord = try region.loadAcquiring(at: Format.Header.generation)
        header.generation = header.swapped ? generationWord.byteSwapped : generationWord
        if let table, table.generation == header.generation, table.origin == header.origin { return table }
        var remaps = 0
        let table = try MetadataTable(parsing: region, header: header, registry: registry, limits: limits) {
            () throws(MmStatsError) -> RegionReader? in
            // Something lies past the mapping: if the writer has grown the file since we
            // mapped it, map it again and go on (values never move, so nothing parsed so far
            // changes); otherwise the caller reports the offset as outside the file. The new
            // mapping is never smaller than the old one, whatever the file's size is by then:
            // everything validated so far stays inside it.
            guard remaps < self.limits.maximumRemaps, try self.currentFileSize() > self.mappedSize else { return nil }
            remaps += 1
            let before = self.mappedSize
            try self.remap(atLeast: before)
            return self.mappedSize > before ? self.region : nil
        }
        self.table = table
        return table
    }
}

/// Descriptors of one generation of a file, with the validated plan to read their values.
final class MetadataTable: Sendable {
    let generation: UInt64
    let origin: StatsReader.Origin
    let swapped: Bool
    let descriptors: [MetricDescriptor]
    /// Per descriptor: the index of its first output word, or nil with `errors` set.
    let outputIndex: [Int?]
    let errors: [String?]
    let references: [mmstats_record_ref]
    /// For each reference, its descriptor's index.
    let referenced: [Int]
    /// Records in plugin layouts: descriptor index and the layout that reads it.
    let custom: [(Int, any StorageLayout)]
    let totalWords: Int
    /// Bytes of metadata the table was parsed from (what holding it costs, roughly).
    let metadataBytes: Int

    /// Parses the metadata; `grow` maps a file that grew since `region` was mapped (nil if it did not).
    init(
        parsing initialRegion: RegionReader, header: StatsReader.Header, registry: PluginRegistry,
        limits: ReaderLimits, grow: () throws(MmStatsError) -> RegionReader?
    ) throws(MmStatsError) {
        var region = initialRegion
        let path = region.path
        /// Makes sure `end` is mapped if the file is that large now.
        func reach(_ end: Int) throws(MmStatsError) {
            while end > region.size, let bigger = try grow() { region = bigger }
        }
        var descriptors: [MetricDescriptor] = []
        var unreadables: [String?] = []
        var metadataBytes = 0
        var components = 0
        /// Where to keep this table for other files, when its only segment was decoded before.
        var planSlot: DecodedSegments.PlanSlot?
        var segment = header.firstSegment
        var segmentIndex = 0
        guard segment != 0 else {
            throw MmStatsError(.corrupt, path: path, "the first segment offset is 0 (every v2 file has a segment)")
        }
        while segment != 0 {
            // Built only for an error.
            var where_: String { "metadata segment \(segmentIndex) at offset \(segment)" }
            let segmentEnd = segment.addingReportingOverflow(Format.segmentHeaderSize)
            if !segmentEnd.overflow { try reach(segmentEnd.partialValue) }
            guard segment % 8 == 0, segment >= header.headerSize, !segmentEnd.overflow,
                segmentEnd.partialValue <= region.size
            else {
                throw MmStatsError(
                    .corrupt, path: path, entry: where_,
                    "lies outside the file or is misaligned (file size \(region.size))")
            }
            let fixed = try region.withBytes(at: segment, count: Format.segmentHeaderSize) { raw in
                (
                    magic: raw.prefix(4).elementsEqual(Format.segmentMagic),
                    capacity: ByteView(bytes: raw, swapped: header.swapped).u64(Format.Segment.capacity)
                )
            }
            guard fixed.magic else {
                throw MmStatsError(.corrupt, path: path, entry: where_, "bad segment magic")
            }
            let capacity = fixed.capacity
            // `next` before `used`: once a segment is linked to the next one the writer never
            // appends to it again, so the `used` read after seeing the link is final.
            let nextWord = try region.loadAcquiring(at: segment + Format.Segment.next)
            let nextOffset = header.swapped ? nextWord.byteSwapped : nextWord
            let usedWord = try region.loadAcquiring(at: segment + Format.Segment.used)
            let used = header.swapped ? usedWord.byteSwapped : usedWord
            let start = segmentEnd.partialValue
            if capacity <= UInt64(Int.max - start) { try reach(start + Int(capacity)) }
            // The mapping only grows, so `start` (checked above) is still inside it.
            guard region.size >= start, capacity <= UInt64(region.size - start) else {
                throw MmStatsError(
                    .corrupt, path: path, entry: where_,
                    "capacity \(capacity) runs past the end of the file (size \(region.size))")
            }
            guard used <= capacity, used % 8 == 0 else {
                throw MmStatsError(
                    .corrupt, path: path, entry: where_,
                    "used bytes \(used) exceed capacity \(capacity) or are misaligned")
            }
            metadataBytes += Int(used)
            guard metadataBytes <= limits.maximumMetadataBytes else {
                throw MmStatsError(
                    .overLimit, path: path, entry: where_,
                    "more than \(limits.maximumMetadataBytes) bytes of metadata (ReaderLimits.maximumMetadataBytes)")
            }
            let entries = try region.bytes(at: start, count: Int(used))
            // The same bytes decoded before (in this file or another): share those descriptors,
            // if their components fit in what is left of this file's budget (else decode, which
            // reports the overrun). Offsets are still checked against this file below.
            let decoded: [(MetricDescriptor, String?)]
            if let cached = DecodedSegments.shared.entry(bytes: entries, swapped: header.swapped),
                cached.components <= limits.maximumComponents - components
            {
                if segmentIndex == 0 && nextOffset == 0 {
                    // The file's only segment: the table of another file with these bytes
                    // serves, if it holds for this file; otherwise it is built below, and kept.
                    if let plan = cached.plan.current,
                        plan.holds(size: region.size, headerSize: header.headerSize, limits: limits)
                    {
                        self.generation = header.generation
                        self.origin = header.origin
                        self.swapped = header.swapped
                        self.descriptors = plan.descriptors
                        self.outputIndex = plan.outputIndex
                        self.errors = plan.errors
                        self.references = plan.references
                        self.referenced = plan.referenced
                        self.custom = []
                        self.totalWords = plan.totalWords
                        self.metadataBytes = plan.metadataBytes
                        return
                    }
                    planSlot = cached.plan
                }
                components += cached.components
                decoded = cached.descriptors
            } else {
                decoded = try Self.decode(
                    entries, start: start, swapped: header.swapped, first: descriptors.count,
                    components: &components, limits: limits, path: path)
            }
            for (descriptor, unreadable) in decoded {
                descriptors.append(descriptor)
                unreadables.append(unreadable)
            }
            guard nextOffset == 0 || nextOffset > UInt64(segment) else {
                throw MmStatsError(
                    .corrupt, path: path, entry: where_,
                    "next segment \(nextOffset) does not come after this one (a loop)")
            }
            segment = nextOffset > UInt64(Int.max) ? Int.max : Int(nextOffset)
            segmentIndex += 1
        }
        var outputIndex: [Int?] = []
        var errors: [String?] = []
        var references: [mmstats_record_ref] = []
        var referenced: [Int] = []
        var custom: [(Int, any StorageLayout)] = []
        var total = 0
        var storageBytes = 0
        // What a plan of this table needs: the furthest and nearest record copies checked.
        var requiredSize = 0
        var lowestOffset = Int.max
        outputIndex.reserveCapacity(descriptors.count)
        errors.reserveCapacity(descriptors.count)
        /// The snapshot's words grow by `words`: within the value budget?
        func budget(_ words: Int, _ index: Int, _ descriptor: MetricDescriptor) throws(MmStatsError) {
            guard words <= (limits.maximumValueBytes / 8) - total else {
                throw MmStatsError(
                    .overLimit, path: path, entry: "metric \(index) (\(descriptor.displayName))",
                    "the file's records hold more than \(limits.maximumValueBytes) bytes of values"
                        + " (ReaderLimits.maximumValueBytes)")
            }
        }
        for (index, descriptor) in descriptors.enumerated() {
            guard [LayoutID.word, .doubleBuffer, .pageFlip].contains(descriptor.layout) else {
                guard unreadables[index] == nil, let layout = registry.layout(descriptor.layout) else {
                    // An unknown layout makes this metric unreadable, not the file.
                    outputIndex.append(nil)
                    errors.append(unreadables[index] ?? "unknown layout \(descriptor.layout.rawValue)")
                    continue
                }
                // A plugin's layout: its record must lie in the file; it is read through the plugin.
                let bytes = layout.storageBytes(recordWords: descriptor.signature.words)
                let end = descriptor.valueOffset.addingReportingOverflow(bytes)
                if !end.overflow { try reach(end.partialValue) }
                guard descriptor.valueOffset % 8 == 0, descriptor.valueOffset >= header.headerSize, !end.overflow,
                    end.partialValue <= region.size
                else {
                    throw MmStatsError(
                        .corrupt, path: path, entry: "metric \(index) (\(descriptor.displayName))",
                        "\(layout.name) record of \(bytes) bytes at offset \(descriptor.valueOffset) lies outside the file"
                            + " (size \(region.size))")
                }
                try budget(descriptor.signature.words, index, descriptor)
                var claimed = max(bytes, descriptor.signature.words * 8)
                if descriptor.layout == .sharded {
                    // Its other shards lie past shard 0's copy: map the file up to the last one (the
                    // writer may have grown it since), and charge every copy, which a read visits.
                    // A geometry that is not valid charges shard 0 only; reading reports it.
                    let recordBytes = descriptor.signature.words * 8
                    let geometryEnd = descriptor.altOffset.addingReportingOverflow(16)
                    if descriptor.altOffset % 8 == 0, !geometryEnd.overflow {
                        try reach(geometryEnd.partialValue)
                        if geometryEnd.partialValue <= region.size,
                            let geometry = try? region.words(at: descriptor.altOffset, count: 2)
                        {
                            let stride = header.swapped ? geometry[0].byteSwapped : geometry[0]
                            let shards = header.swapped ? geometry[1].byteSwapped : geometry[1]
                            if stride % 8 == 0, stride >= UInt64(recordBytes), stride <= UInt64(Int.max / 8192),
                                shards >= 1, shards <= UInt64(ShardIndex.limit)
                            {
                                let last = descriptor.valueOffset.addingReportingOverflow(
                                    (Int(shards) - 1) * Int(stride) + recordBytes)
                                if !last.overflow { try reach(last.partialValue) }
                                claimed = Int(shards) * recordBytes
                            }
                        }
                    }
                }
                custom.append((index, layout))
                storageBytes += claimed
                outputIndex.append(total)
                errors.append(nil)
                total += descriptor.signature.words
                continue
            }
            let recordEnd = max(descriptor.valueOffset, descriptor.altOffset)
                .addingReportingOverflow((1 + 2 * descriptor.signature.words) * 8)
            if !recordEnd.overflow { try reach(recordEnd.partialValue) }
            let plan = try RecordPlan(descriptor, mappedSize: region.size, headerSize: header.headerSize, path: path)
            requiredSize = max(requiredSize, plan.end)
            lowestOffset = min(lowestOffset, plan.start)
            if let unreadable = unreadables[index] {
                outputIndex.append(nil)
                errors.append(unreadable)
                continue
            }
            try budget(plan.words, index, descriptor)
            storageBytes += plan.storageBytes
            guard storageBytes <= region.size else { break }  // reported below, before any allocation
            references.append(plan.reference(outputIndex: total))
            referenced.append(index)
            outputIndex.append(total)
            errors.append(nil)
            total += plan.words
        }
        // Records of a conforming writer never overlap, so together they fit in the file; a
        // crafted file whose descriptors all point at one record would otherwise make every
        // snapshot allocate far more than the file holds.
        guard storageBytes <= region.size else {
            throw MmStatsError(
                .corrupt, path: path,
                "its records claim \(storageBytes) bytes, more than the file's \(region.size) (records overlap)")
        }
        self.generation = header.generation
        self.origin = header.origin
        self.swapped = header.swapped
        self.descriptors = descriptors
        self.outputIndex = outputIndex
        self.errors = errors
        self.references = references
        self.referenced = referenced
        self.custom = custom
        self.totalWords = total
        self.metadataBytes = metadataBytes
        // Only records of the core's layouts: a plugin's layout (or one unknown until a plugin
        // registers it) is looked up in the reader's registry, which another file's reader
        // may not share.
        if let planSlot, descriptors.allSatisfy({ [LayoutID.word, .doubleBuffer, .pageFlip].contains($0.layout) }) {
            planSlot.set(
                DecodedSegments.TablePlan(
                    descriptors: descriptors, outputIndex: outputIndex, errors: errors, references: references,
                    referenced: referenced, totalWords: total, requiredSize: requiredSize, lowestOffset: lowestOffset,
                    storageBytes: storageBytes, components: components, metadataBytes: metadataBytes))
        }
    }

    /// Decodes one segment's used bytes (`entries`, from offset `start`; its first descriptor is
    /// the file's `first`), charging their components to `components`, and keeps the result in
    /// `DecodedSegments` when every descriptor decoded.
    private static func decode(
        _ entries: [UInt8], start: Int, swapped: Bool, first: Int, components: inout Int, limits: ReaderLimits,
        path: String
    ) throws(MmStatsError) -> [(MetricDescriptor, String?)] {
        let before = components
        var charged = components
        let parsed = entries.withUnsafeBytes { raw -> Result<[(MetricDescriptor, String?)], MmStatsError> in
            let view = ByteView(bytes: raw, swapped: swapped)
            var cursor = 0
            var found: [(MetricDescriptor, String?)] = []
            while cursor < raw.count {
                let entry = "metadata entry \(first + found.count) (offset \(start + cursor))"
                do throws(DescriptorError) {
                    let (descriptor, size, unreadable) = try MetricDescriptor.decode(
                        view, at: cursor, available: raw.count - cursor,
                        components: limits.maximumComponents - charged)
                    // Every descriptor counts, unreadable ones too: each costs memory.
                    charged += max(1, descriptor.signature.components.count)
                    found.append((descriptor, unreadable))
                    cursor += size
                } catch  where error.overLimit {
                    return .failure(
                        MmStatsError(
                            .overLimit, path: path, entry: entry,
                            "the file's records have more than \(limits.maximumComponents) components"
                                + " (ReaderLimits.maximumComponents)"))
                } catch {
                    return .failure(MmStatsError(.corrupt, path: path, entry: entry, error.reason))
                }
            }
            return .success(found)
        }
        let decoded = try parsed.get()
        components = charged
        DecodedSegments.shared.insert(
            DecodedSegments.Entry(bytes: entries, swapped: swapped, descriptors: decoded, components: charged - before))
        return decoded
    }
}

extension mmstats_record_ref: @unchecked @retroactive Sendable {}

/// Points in a read where tests change the file, to make races deterministic. Set only by
/// tests (through `@testable import`), before any reader runs; nil otherwise.
enum ReaderTestHooks {
    /// Runs when a reader has mapped its file, before it reads more than the version byte (on
    /// the scanner's read-ahead threads too).
    nonisolated(unsafe) static var afterOpen: ((String) -> Void)?
    /// Runs just before the reader maps a file again, between its two looks at the file's size.
    nonisolated(unsafe) static var beforeRemap: ((String) -> Void)?
    /// Runs after a snapshot has copied the values, before it checks the header again.
    nonisolated(unsafe) static var afterValues: ((String) -> Void)?
}
