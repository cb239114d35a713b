import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The single writer of one stats file: registers metrics and hands out handles that update them.
///
/// One `StatsWriter` belongs to one thread (or one owner that serializes its use); its handles
/// update values with plain atomic stores. Use one writer per thread for code that runs on
/// many threads (see `ThreadStats`).
///
/// The writer's mapping is shared with its file: if another process of the same user truncates
/// the file, the writer's next store to a vanished page raises `SIGBUS` and the process dies
/// (as a JVM does when its `hsperfdata` file is truncated). Readers never do this; keep the
/// stats directory private (it is created 0700).
///
/// ```swift
/// let stats = try StatsWriter(WriterOptions(application: "web", model: "Stats"))
/// let ok = try stats.counter("index.response_ok", dimensions: ["code": "200"])
/// ok.increment()
/// ```
public final class StatsWriter {
    /// The file's path.
    public let path: String
    /// The options it was created with.
    public let options: WriterOptions
    let region: WritableRegion
    let shadows = PrivateArena()
    private let directoryFD: Int32
    private let fileName: String
    private var cursor: Int
    private var segmentOffset: Int
    private var segmentCapacity: Int
    private var segmentUsed: Int
    private var generation: UInt64 = 1
    private(set) var descriptors: [MetricDescriptor] = []
    private var registered: [RegistrationKey: Registration] = [:]
    private var flipArenas: [FlipArena] = []
    private var flipSequence: UInt64 = 0
    /// The shard block that sharded (thread-safe) records are allocated in, if any.
    var shardBlock: ShardBlock?
    /// Whether `close()` has run.
    public private(set) var isClosed = false

    /// Creates the file `root/application/model/<template>` and its directories, safely.
    public init(_ options: WriterOptions = WriterOptions()) throws(MmStatsError) {
        guard options.maximumSize >= 4 * Format.pageSize, options.maximumSize % Format.pageSize == 0 else {
            throw MmStatsError(
                .invalidArgument, path: nil,
                "maximumSize \(options.maximumSize) must be a multiple of \(Format.pageSize) of at least \(4 * Format.pageSize)"
            )
        }
        guard options.layout == .word || options.layout == .pageFlip else {
            throw MmStatsError(
                .invalidArgument, path: nil, "a file's layout is .word or .pageFlip, not \(options.layout)")
        }
        let root = options.root ?? StatsDirectory.defaultRoot()
        let tid = ProcessIdentity.currentThreadID
        let name = StatsDirectory.expand(
            template: options.fileNameTemplate, application: options.application, model: options.model, tid: tid)
        let directory = try StatsDirectory.openDirectory(
            root: root, components: [options.application, options.model], create: true)
        let path = "\(root)/\(options.application)/\(options.model)/\(name)"
        let mode: mode_t = options.groupReadable ? 0o640 : 0o600
        // The file is made under a temporary name and linked into place once its header is
        // written, so no reader ever sees a half-made file under the real name. The PID
        // namespace is part of it: writers in two containers sharing the directory can have
        // the same pid and tid.
        let temporary = ".\(name).\(ProcessIdentity.pidNamespace)-\(getpid())-\(tid).tmp"
        let fd: Int32
        do throws(MmStatsError) {
            try StatsDirectory.validateName(name, path: path)
            fd = try Self.createExclusive(directory, temporary, mode: mode, path: path)
        } catch {
            Sys.close(directory)
            throw error
        }
        _ = Sys.fchmod(fd, mode)  // exact mode whatever the umask
        let firstSegment = Format.headerSize
        let initialSize = 4 * Format.pageSize
        do throws(MmStatsError) {
            // The region owns `fd` from here on, also when it throws.
            region = try WritableRegion(path: path, fd: fd, initialSize: initialSize, capacity: options.maximumSize)
        } catch {
            _ = Sys.unlinkAt(directory, temporary)
            Sys.close(directory)
            throw error
        }
        self.path = path
        self.options = options
        self.directoryFD = directory
        self.fileName = name
        self.segmentOffset = firstSegment
        self.segmentCapacity = 2 * Format.pageSize - firstSegment - Format.segmentHeaderSize
        self.segmentUsed = 0
        self.cursor = 2 * Format.pageSize
        writeHeader(tid: tid, firstSegment: firstSegment)
        do throws(MmStatsError) {
            try linkIntoPlace(temporary)
        } catch {
            _ = Sys.unlinkAt(directory, temporary)
            isClosed = true  // deinit must not remove whatever holds the real name
            throw error
        }
    }

    private static func createExclusive(_ directory: Int32, _ name: String, mode: mode_t, path: String)
        throws(MmStatsError) -> Int32
    {
        for attempt in 0..<2 {
            switch Sys.openAt(directory, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode) {
            case .success(let fd): return fd
            case .failure(let error) where error == .exists && attempt == 0:
                // A temporary file left by a creation that died (this pid and tid): remove it.
                // unlinkat removes a link itself, never its target.
                _ = Sys.unlinkAt(directory, name)
            case .failure(let error): throw MmStatsError.system(error, path: path, "cannot create the file")
            }
        }
        throw MmStatsError(.system, path: path, "cannot create the file")
    }

    /// Links the finished file under its real name. A file already there is replaced only if it
    /// is known to be stale: a regular v2 stats file of this user whose writer is dead,
    /// restarted or closed. A link, another user's file, a live writer's file, a writer in
    /// another PID namespace, and a file that cannot be read (no descriptor left, not a stats
    /// file) are refused with an error that says why.
    private func linkIntoPlace(_ temporary: String) throws(MmStatsError) {
        for attempt in 0..<2 {
            switch Sys.linkAt(directoryFD, temporary, fileName) {
            case .success:
                _ = Sys.unlinkAt(directoryFD, temporary)
                return
            case .failure(let error) where error == .exists && attempt == 0:
                try removeStaleFile()
            case .failure(let error):
                throw MmStatsError.system(error, path: path, "cannot create the file")
            }
        }
        throw MmStatsError(.system, path: path, "cannot create the file: its name keeps being taken")
    }

    private func removeStaleFile() throws(MmStatsError) {
        guard case .success(let info) = Sys.lstatAt(directoryFD, fileName) else { return }  // gone meanwhile
        guard info.st_mode & S_IFMT == S_IFREG, info.st_uid == getuid() else {
            throw MmStatsError(
                .unsafePath, path: path, "something other than a stats file of this user is there (a planted link?)")
        }
        // Only what is known to be stale is replaced: when the file cannot be read (no
        // descriptor left, say) or is not a v2 stats file, nobody can tell, so refuse.
        let writer: WriterIdentity
        do throws(MmStatsError) {
            let reader = try StatsReader(path: path)
            guard reader.version == 2 else {
                throw MmStatsError(.corrupt, path: path, "it is a v1 file, whose writer cannot be identified")
            }
            guard let id = reader.fileID, id.device == UInt64(info.st_dev), id.inode == UInt64(info.st_ino) else {
                throw MmStatsError(.truncated, path: path, "it was replaced while being checked")
            }
            writer = try reader.readHeader().identity
        } catch {
            throw MmStatsError(
                error.code == .system ? .system : .invalidArgument, path: path,
                "a file already has this name and cannot be checked, so it is not replaced (\(error.reason))")
        }
        let state = writer.state
        guard state.isStale || state == .closed else {
            let who =
                state == .unknown
                ? "a writer in another PID namespace (pid \(writer.pid) there), whose state cannot be known here,"
                : "a live writer (pid \(writer.pid))"
            throw MmStatsError(
                .invalidArgument, path: path,
                "\(who) already uses this file name; give each writer its own name (a template with {PID} and"
                    + " {TID}, another application or model, or another root)")
        }
        // Remove that very file, not one that took its name meanwhile.
        guard case .success(let again) = Sys.lstatAt(directoryFD, fileName) else { return }
        guard again.st_dev == info.st_dev, again.st_ino == info.st_ino else {
            throw MmStatsError(.invalidArgument, path: path, "the file at this name changed while it was checked")
        }
        if case .failure(let error) = Sys.unlinkAt(directoryFD, fileName), error != .noEntry {
            throw MmStatsError.system(error, path: path, "cannot remove the stale file")
        }
    }

    /// Whether the name still holds this writer's own file (another writer may have replaced it).
    private var nameHoldsOwnFile: Bool {
        guard case .success(let mine) = Sys.fstat(region.fd),
            case .success(let there) = Sys.lstatAt(directoryFD, fileName)
        else { return false }
        return mine.st_dev == there.st_dev && mine.st_ino == there.st_ino
    }

    deinit {
        close()
        Sys.close(directoryFD)
        // Handles hold no reference to the writer: what they point at is never freed (the
        // region and the shadows are retired, not unmapped; see `Retired`).
        Retired.keep(registered.values.map(\.anchor))
    }

    private func writeHeader(tid: Int64, firstSegment: Int) {
        var header = [UInt8](repeating: 0, count: Format.headerSize)
        header[0] = Format.version
        header.replaceSubrange(1..<8, with: Format.magic)
        header.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: Format.byteOrderMark, toByteOffset: Format.Header.byteOrderMark, as: UInt32.self)
            raw.storeBytes(of: UInt16(Format.headerSize), toByteOffset: Format.Header.headerSize, as: UInt16.self)
            raw.storeBytes(of: Format.minorVersion, toByteOffset: Format.Header.minorVersion, as: UInt16.self)
            raw.storeBytes(of: UInt32(options.layout.rawValue), toByteOffset: Format.Header.layout, as: UInt32.self)
            raw.storeBytes(of: UInt64(region.size), toByteOffset: Format.Header.fileSize, as: UInt64.self)
            raw.storeBytes(of: UInt64(firstSegment), toByteOffset: Format.Header.firstSegment, as: UInt64.self)
            raw.storeBytes(of: UInt64(getpid()), toByteOffset: Format.Header.pid, as: UInt64.self)
            raw.storeBytes(of: UInt64(bitPattern: tid), toByteOffset: Format.Header.tid, as: UInt64.self)
            raw.storeBytes(of: ProcessIdentity.startTime, toByteOffset: Format.Header.startTime, as: UInt64.self)
            let now = ProcessIdentity.now()
            raw.storeBytes(of: now, toByteOffset: Format.Header.created, as: UInt64.self)
            raw.storeBytes(of: now, toByteOffset: Format.Header.lastUpdate, as: UInt64.self)
            raw.storeBytes(
                of: ProcessIdentity.pidNamespace, toByteOffset: Format.Header.pidNamespace, as: UInt64.self)
        }
        for (text, offset) in [(options.application, Format.Header.application), (options.model, Format.Header.model)] {
            let utf8 = Array(text.utf8.prefix(Format.Header.nameCapacity))
            header.replaceSubrange(offset..<offset + utf8.count, with: utf8)
        }
        region.write(header, at: 0)
        var segment = [UInt8](repeating: 0, count: Format.segmentHeaderSize)
        segment.replaceSubrange(0..<4, with: Format.segmentMagic)
        segment.withUnsafeMutableBytes {
            $0.storeBytes(of: UInt64(segmentCapacity), toByteOffset: Format.Segment.capacity, as: UInt64.self)
        }
        region.write(segment, at: firstSegment)
        region.word(at: Format.Header.generation).pointee.store(generation, ordering: .releasing)
    }

    /// Marks the file closed and, unless told otherwise, removes it. Handles stay safe to use
    /// (their updates go to memory no reader will see), also after the writer is gone: its
    /// mapping is then replaced by private memory, never unmapped (docs/FORMAT.md §11.6).
    public func close() {
        guard !isClosed else { return }
        publish()  // a page-flip file's final values are what readers see after close
        isClosed = true
        let flags = region.load32(at: Format.Header.flags)
        region.store32(flags | Format.closedFlag, at: Format.Header.flags)
        // Only our own inode: the name may hold another writer's file by now (one that judged
        // ours stale, or a writer of another PID namespace).
        if options.removeOnClose && nameHoldsOwnFile { _ = Sys.unlinkAt(directoryFD, fileName) }
    }
}

// MARK: - Allocation and metadata

extension StatsWriter {
    struct RegistrationKey: Hashable {
        let name: String
        let dimensions: [Dimension]
    }

    /// Where a registered record lives, for building handles.
    struct Registration {
        let descriptor: MetricDescriptor
        /// The writer's copy of the current record.
        let shadow: UnsafeMutablePointer<UInt64>
        /// Layout 1: the record; layout 2: the seq word; layout 3: nil (the shadow is the working page).
        let target: UnsafeMutablePointer<Atomic<UInt64>>?
        /// What `Record.descriptor` reads; never freed.
        let anchor: RecordAnchor
    }

    /// A pair of equal areas of the file (page 0 and page 1) and the private working copy.
    struct FlipArena {
        let page0: Int
        let page1: Int
        let capacity: Int
        let working: UnsafeMutablePointer<UInt64>
        var used: Int
    }

    func allocate(bytes: Int, alignment: Int) throws(MmStatsError) -> Int {
        let offset = cursor.aligned(to: alignment)
        try region.grow(to: offset + bytes)
        cursor = offset + bytes
        return offset
    }

    /// Registers a metric (or returns the existing registration of the same name and dimensions).
    func register(
        name: String, dimensions: [Dimension], kind: any MetricKind, unit: String, help: String,
        layout requested: LayoutID?, cacheLineAligned: Bool, initial: [UInt64]? = nil
    ) throws(MmStatsError) -> Registration {
        if isClosed {
            throw MmStatsError(.invalidArgument, path: path, entry: name, "the writer is closed")
        }
        // One rule (docs/FORMAT.md §5.3): every record of a page-flip file is a page-flip record,
        // published by `publish()`; an explicit request for another layout there is refused, as
        // a page-flip request in a word file is.
        if options.layout == .pageFlip, let requested, requested != .pageFlip {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name,
                "a page-flip file holds only page-flip records (\(requested) was requested)")
        }
        let layout = options.layout == .pageFlip ? .pageFlip : requested ?? kind.defaultLayout
        let key = RegistrationKey(name: name, dimensions: dimensions)
        if let existing = registered[key] {
            // Same kind, signature and layout, or a handle would write the wrong words (a
            // counter handle over a double buffer's sequence word, say).
            let d = existing.descriptor
            guard d.kind == kind.name, d.signature == kind.signature, d.layout == layout else {
                throw MmStatsError(
                    .invalidArgument, path: path, entry: d.displayName,
                    "already registered as a \(d.kind) with signature '\(d.signature)' in the \(d.layout) layout")
            }
            return existing
        }
        try validate(name: name, dimensions: dimensions, kind: kind, unit: unit, help: help)
        guard layout == .word || layout == .doubleBuffer || layout == .pageFlip || layout == .sharded else {
            throw MmStatsError(.invalidArgument, path: path, entry: name, "the writer cannot write layout \(layout)")
        }
        if layout == .pageFlip && options.layout != .pageFlip {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name, "page-flip records need a file created with layout .pageFlip"
            )
        }
        let words = kind.signature.words
        let alignment = cacheLineAligned ? 64 : 8
        let shadow: UnsafeMutablePointer<UInt64>
        var target: UnsafeMutablePointer<Atomic<UInt64>>? = nil
        var valueOffset = 0
        var altOffset = 0
        switch layout {
        case .pageFlip:
            (valueOffset, altOffset, shadow) = try allocateFlipRecord(words: words, alignment: alignment)
        case .sharded:
            (valueOffset, altOffset) = try allocateShardedRecord(name: name, signature: kind.signature)
            target = region.word(at: valueOffset)
            shadow = shadows.allocate(words: words)
        case .doubleBuffer:
            valueOffset = try allocate(bytes: (1 + 2 * words) * 8, alignment: alignment)
            target = region.word(at: valueOffset)
            shadow = shadows.allocate(words: words)
        default:
            valueOffset = try allocate(bytes: words * 8, alignment: alignment)
            target = region.word(at: valueOffset)
            shadow = shadows.allocate(words: words)
        }
        let descriptor = MetricDescriptor(
            name: name, dimensions: dimensions, kind: kind.name, unit: unit, help: help, signature: kind.signature,
            fieldNames: kind.fieldNames, layout: layout, flags: cacheLineAligned ? Format.cacheLineFlag : 0,
            valueOffset: valueOffset, altOffset: altOffset, metricID: descriptors.count)
        let registration = Registration(
            descriptor: descriptor, shadow: shadow, target: target, anchor: RecordAnchor(descriptor))
        if let initial { initialize(registration, words: initial) }
        try publishDescriptor(descriptor)
        registered[key] = registration
        return registration
    }

    private func validate(
        name: String, dimensions: [Dimension], kind: any MetricKind, unit: String, help: String
    ) throws(MmStatsError) {
        func fail(_ reason: String) -> MmStatsError { MmStatsError(.invalidArgument, path: path, entry: name, reason) }
        if name.isEmpty { throw fail("a metric needs a name") }
        for (label, text) in [("name", name), ("kind", kind.name), ("unit", unit), ("description", help)]
        where text.utf8.count > 65_535 {
            throw fail("the \(label) is \(text.utf8.count) bytes; the limit is 65535")
        }
        // The record must be one every reader can decode (docs/FORMAT.md §4.1 and §6).
        let signature = kind.signature
        if signature.components.isEmpty { throw fail("kind '\(kind.name)' has no components") }
        for case .string(let capacity) in signature.components where capacity < 1 || capacity > 65_535 {
            throw fail("kind '\(kind.name)' has a \(capacity)-byte string; strings hold 1 to 65535 bytes")
        }
        guard (try? Signature(signature.description)) == signature, signature.description.utf8.count <= 65_535 else {
            throw fail(
                "kind '\(kind.name)' has a signature readers cannot parse ('\(signature.description.prefix(40))')")
        }
        if kind.fieldNames.count != signature.components.count {
            throw fail(
                "kind '\(kind.name)' names \(kind.fieldNames.count) fields for \(signature.components.count) components"
            )
        }
        if kind.fieldNames.contains(where: { $0.isEmpty || $0.contains(",") }) {
            throw fail("field names must be non-empty and contain no ','")
        }
        if Set(kind.fieldNames).count != kind.fieldNames.count {
            throw fail("kind '\(kind.name)' repeats a field name")
        }
        if kind.fieldNames.joined(separator: ",").utf8.count > 65_535 {
            throw fail("kind '\(kind.name)' has more than 65535 bytes of field names")
        }
        if Set(dimensions.map(\.key)).count != dimensions.count { throw fail("a dimension key is repeated") }
        if dimensions.contains(where: { $0.key.utf8.count > 65_535 || $0.value.utf8.count > 65_535 }) {
            throw fail("a dimension key or value is longer than 65535 bytes")
        }
    }

    private func allocateFlipRecord(words: Int, alignment: Int) throws(MmStatsError) -> (
        Int, Int, UnsafeMutablePointer<UInt64>
    ) {
        let bytes = words * 8
        if let last = flipArenas.indices.last,
            flipArenas[last].used.aligned(to: alignment) + bytes <= flipArenas[last].capacity
        {
            let offset = flipArenas[last].used.aligned(to: alignment)
            flipArenas[last].used = offset + bytes
            let arena = flipArenas[last]
            return (arena.page0 + offset, arena.page1 + offset, arena.working + offset / 8)
        }
        let capacity = max(bytes, 2 * Format.pageSize).aligned(to: 64)
        let page0 = try allocate(bytes: capacity, alignment: 64)
        let page1 = try allocate(bytes: capacity, alignment: 64)
        let working = shadows.allocate(words: capacity / 8, alignment: 64)
        flipArenas.append(FlipArena(page0: page0, page1: page1, capacity: capacity, working: working, used: bytes))
        return (page0, page1, working)
    }

    private func publishDescriptor(_ descriptor: MetricDescriptor) throws(MmStatsError) {
        let bytes = descriptor.encoded()
        if segmentUsed + bytes.count > segmentCapacity {
            let capacity = max(bytes.count, 4 * Format.pageSize - Format.segmentHeaderSize)
            let offset = try allocate(bytes: Format.segmentHeaderSize + capacity, alignment: 8)
            var header = [UInt8](repeating: 0, count: Format.segmentHeaderSize)
            header.replaceSubrange(0..<4, with: Format.segmentMagic)
            header.withUnsafeMutableBytes {
                $0.storeBytes(of: UInt64(capacity), toByteOffset: Format.Segment.capacity, as: UInt64.self)
            }
            region.write(header, at: offset)
            region.word(at: segmentOffset + Format.Segment.next).pointee.store(UInt64(offset), ordering: .releasing)
            segmentOffset = offset
            segmentCapacity = capacity
            segmentUsed = 0
        }
        region.write(bytes, at: segmentOffset + Format.segmentHeaderSize + segmentUsed)
        segmentUsed += bytes.count
        region.word(at: segmentOffset + Format.Segment.used).pointee.store(UInt64(segmentUsed), ordering: .releasing)
        descriptors.append(descriptor)
        region.word(at: Format.Header.metricCount).pointee.store(UInt64(descriptors.count), ordering: .relaxed)
        touch()
        generation += 1
        region.word(at: Format.Header.generation).pointee.store(generation, ordering: .releasing)
    }

    private func touch() {
        region.word(at: Format.Header.lastUpdate).pointee.store(ProcessIdentity.now(), ordering: .relaxed)
    }

    /// Writes a record's initial words to every copy (before its descriptor is published).
    func initialize(_ registration: Registration, words: [UInt64]) {
        let descriptor = registration.descriptor
        for (i, word) in words.enumerated() { registration.shadow[i] = word }
        let count = descriptor.signature.words
        switch descriptor.layout {
        case .pageFlip:
            for i in 0..<count {
                region.word(at: descriptor.valueOffset + 8 * i).pointee.store(words[i], ordering: .relaxed)
                region.word(at: descriptor.altOffset + 8 * i).pointee.store(words[i], ordering: .relaxed)
            }
        case .doubleBuffer:
            for i in 0..<count {
                region.word(at: descriptor.valueOffset + 8 * (1 + i)).pointee.store(words[i], ordering: .relaxed)
                region.word(at: descriptor.valueOffset + 8 * (1 + count + i)).pointee.store(
                    words[i], ordering: .relaxed)
            }
        default:
            for i in 0..<count {
                region.word(at: descriptor.valueOffset + 8 * i).pointee.store(words[i], ordering: .relaxed)
            }
        }
    }
}

// MARK: - Page flip

extension StatsWriter {
    /// Publishes every page-flip record of the file at once: readers see all of them from this
    /// instant until the next `publish()`. Does nothing for files of layout `.word`.
    ///
    /// ```swift
    /// requests.increment(); bytes.add(512)
    /// stats.publish()   // readers see both changes together
    /// ```
    public func publish() {
        guard !flipArenas.isEmpty else { return }
        let next = flipSequence &+ 1
        atomicMemoryFence(ordering: .releasing)
        for arena in flipArenas {
            let page = region.word(at: (next & 1) == 0 ? arena.page0 : arena.page1)
            for i in 0..<(arena.used / 8) {
                page[i].store(arena.working[i], ordering: .relaxed)
            }
        }
        flipSequence = next
        region.word(at: Format.Header.flipSequence).pointee.store(next, ordering: .releasing)
        touch()
    }
}
