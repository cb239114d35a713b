import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The writer's mapping of its file: all raw pointers of the write side live here.
///
/// The whole maximum size is mapped once, so growing the file (`ftruncate` + `fallocate`)
/// never moves the mapping and handles keep valid pointers. Pages past the file's current
/// size are never touched.
final class WritableRegion {
    let path: String
    let fd: Int32
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var size: Int

    /// Takes ownership of `fd`: it is closed when the region goes away, or now if this throws.
    init(path: String, fd: Int32, initialSize: Int, capacity: Int) throws(MmStatsError) {
        self.path = path
        self.fd = fd
        self.capacity = capacity
        self.size = 0
        switch Sys.mmap(length: capacity, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: fd) {
        case .success(let pointer): base = pointer
        case .failure(let error):
            Sys.close(fd)
            throw .system(error, path: path, "cannot map the file")
        }
        // Every property is set: if growing fails, `deinit` unmaps and closes (exactly once).
        try grow(to: initialSize)
    }

    deinit {
        // Never unmapped: handles may still point into it (see `Retired`).
        Retired.retire(mapping: base, used: size, capacity: capacity)
        Sys.close(fd)
    }

    /// Extends the file to at least `minimum` bytes (page multiple), reserving the space.
    ///
    /// The file grows to twice its size when that is more, so that adding metrics one by one
    /// costs few syscalls; when the filesystem has no room for the doubled size (ENOSPC, or
    /// EFBIG past a file size limit) but has for what is needed, it grows by what is needed.
    func grow(to minimum: Int) throws(MmStatsError) {
        guard minimum > size else { return }
        guard minimum <= capacity else {
            throw MmStatsError(
                .full, path: path, "the file needs \(minimum) bytes but its maximum size is \(capacity) bytes")
        }
        let needed = min(minimum.aligned(to: Format.pageSize), capacity)
        let doubled = min(max(minimum, size * 2).aligned(to: Format.pageSize), capacity)
        if doubled > needed, case .failure(let error) = extend(to: doubled),
            error.code != ENOSPC && error.code != EFBIG
        {
            throw .system(error, path: path, "cannot grow the file from \(size) to \(doubled) bytes")
        }
        if size < needed, case .failure(let error) = extend(to: needed) {
            throw .system(error, path: path, "cannot grow the file from \(size) to \(needed) bytes")
        }
    }

    /// Sets the file's size to `target` and reserves its blocks; on failure the file keeps
    /// its size.
    private func extend(to target: Int) -> Result<Void, Errno> {
        if case .failure(let error) = Sys.ftruncate(fd, target) { return .failure(error) }
        if case .failure(let error) = Sys.fallocate(fd, offset: size, length: target - size) {
            _ = Sys.ftruncate(fd, size)
            return .failure(error)
        }
        size = target
        if target >= Format.headerSize {
            word(at: Format.Header.fileSize).pointee.store(UInt64(target), ordering: .releasing)
        }
        return .success(())
    }

    @inline(__always)
    func word(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// Plain-stores bytes that no reader can see yet (before they are published).
    func write(_ bytes: [UInt8], at offset: Int) {
        precondition(offset >= 0 && offset + bytes.count <= size, "write past the end of the region")
        bytes.withUnsafeBytes { source in
            guard let start = source.baseAddress else { return }
            (base + offset).copyMemory(from: start, byteCount: source.count)
        }
    }

    func store32(_ value: UInt32, at offset: Int) {
        (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.store(value, ordering: .releasing)
    }

    func load32(at offset: Int) -> UInt32 {
        (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .relaxed)
    }
}

/// Private memory (never shared) in stable, zeroed blocks: shadows of records for the writer.
///
/// Blocks are anonymous mappings that are never unmapped: handles may outlive the arena, so
/// when it goes its blocks only give their pages back (`Retired.retire(block:size:)`).
final class PrivateArena {
    private var blocks: [(pointer: UnsafeMutableRawPointer, size: Int)] = []
    private var current: UnsafeMutableRawPointer?
    private var used = 0
    private var capacity = 0

    deinit {
        for block in blocks { Retired.retire(block: block.pointer, size: block.size) }
    }

    /// Zeroed words that stay where they are for the arena's lifetime.
    func allocate(words: Int, alignment: Int = 8) -> UnsafeMutablePointer<UInt64> {
        let bytes = max(words, 1) * 8
        var offset = used.aligned(to: alignment)
        let block: UnsafeMutableRawPointer
        if let current, offset + bytes <= capacity {
            block = current
        } else {
            // Blocks start half a page in: the file allocates records from page boundaries in
            // the same order, so shadows at the same offsets within a page would alias their
            // records (a load from the shadow waits on the store to the record: "4K aliasing").
            let skew = Format.pageSize / 2
            let size = max(bytes + skew, 16 * 1024).aligned(to: Format.pageSize)
            // Zero-filled and page-aligned; if the kernel refuses, the heap (never freed either).
            if case .success(let pointer) = Sys.mmap(
                length: size, protection: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS, fd: -1)
            {
                block = pointer
            } else {
                block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
                block.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            }
            blocks.append((block, size))
            current = block
            capacity = size
            offset = skew
        }
        used = offset + bytes
        return (block + offset).bindMemory(to: UInt64.self, capacity: max(words, 1))
    }
}
