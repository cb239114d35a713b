import CMmStats
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// Thread-safe records: per-thread shards summed by readers (docs/FORMAT.md §11.6).

/// Where a writer allocates sharded records: one block of `shards` equal areas.
///
/// At `offset` two words describe the block (`stride` in bytes, `shards`), then, from
/// `offset + 64`, shard `j` occupies `stride` bytes at `offset + 64 + j * stride`. A record
/// allocated `used` bytes into the block has shard `j` at `offset + 64 + j * stride + used`.
struct ShardBlock {
    /// Bytes of one shard: 64 words, eight cache lines, so two threads never share a line.
    static let stride = 512
    let offset: Int
    let shards: Int
    var used: Int
}

extension StatsWriter {
    /// Allocates a sharded record (shard 0's offset, the block's geometry offset).
    func allocateShardedRecord(name: String, signature: Signature) throws(MmStatsError) -> (Int, Int) {
        guard signature.components.allSatisfy({ $0 == .uint64 || $0 == .int64 }) else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name,
                "a sharded record sums its words, so its components must be Q or q (not '\(signature)')")
        }
        let bytes = signature.words * 8
        guard bytes <= ShardBlock.stride else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name,
                "a sharded record holds at most \(ShardBlock.stride / 8) words (not \(signature.words))")
        }
        guard options.shards >= 2, options.shards <= Int(ShardIndex.limit) else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name,
                "WriterOptions.shards is \(options.shards); it must be 2 to \(ShardIndex.limit)")
        }
        if let block = shardBlock, block.used + bytes <= ShardBlock.stride {
            shardBlock?.used += bytes
            return (block.offset + 64 + block.used, block.offset)
        }
        let offset = try allocate(bytes: 64 + options.shards * ShardBlock.stride, alignment: 64)
        region.word(at: offset).pointee.store(UInt64(ShardBlock.stride), ordering: .relaxed)
        region.word(at: offset + 8).pointee.store(UInt64(options.shards), ordering: .relaxed)
        shardBlock = ShardBlock(offset: offset, shards: options.shards, used: bytes)
        return (offset + 64, offset)
    }

    /// The thread-safe counter with this name and dimensions, registered on first use.
    ///
    /// Register it on the writer's thread; then increment it from any thread or task.
    ///
    /// ```swift
    /// let served = try stats.sharedCounter("http.served")
    /// DispatchQueue.concurrentPerform(iterations: 8) { _ in served.increment() }
    /// ```
    public func sharedCounter(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> SharedCounter {
        try sharedCounter(name, dimensions: Dimension.list(dimensions), unit: unit, help: help)
    }

    /// The thread-safe counter with this name and dimensions known only at run time,
    /// registered on first use.
    ///
    /// ```swift
    /// let served = try stats.sharedCounter("http.served", dimensions: [Dimension("route", route)])
    /// ```
    public func sharedCounter(
        _ name: String, dimensions: [Dimension], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> SharedCounter {
        let registration = try register(
            name: name, dimensions: dimensions, kind: CounterKind(), unit: unit, help: help, layout: .sharded,
            cacheLineAligned: false)
        let descriptor = registration.descriptor
        let shards = region.word(at: descriptor.altOffset + 8).pointee.load(ordering: .relaxed)
        return SharedCounter(
            shard0: region.word(at: descriptor.valueOffset), strideWords: ShardBlock.stride / 8,
            shards: UInt32(shards))
    }
}

/// A counter any thread or task may increment: each thread adds to its own shard with a plain
/// load and store, and readers sum the shards (the `sharded` layout, docs/FORMAT.md §11.6).
///
/// A thread takes a shard index the first time it increments any shared counter and gives it
/// back when it exits; the next thread continues from the count the shard holds, so totals
/// never go backwards. Threads beyond the file's `WriterOptions.shards` - 1 share shard 0 with
/// an atomic add. The handle is plain data: copy it anywhere, send it to any task.
///
/// ```swift
/// let hits = try stats.sharedCounter("cache.hits")
/// await withTaskGroup(of: Void.self) { group in
///     for _ in 0..<8 { group.addTask { hits.increment() } }
/// }
/// ```
public struct SharedCounter: BitwiseCopyable, @unchecked Sendable {
    // @unchecked: the pointer is into shared memory that is never unmapped (see `Retired`);
    // each shard word has one writing thread at a time, shard 0 takes atomic adds only.
    @usableFromInline let shard0: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let strideWords: Int
    @usableFromInline let shards: UInt32

    init(shard0: UnsafeMutablePointer<Atomic<UInt64>>, strideWords: Int, shards: UInt32) {
        self.shard0 = shard0
        self.strideWords = strideWords
        self.shards = shards
    }

    /// Adds `amount` (wrapping at 2^64) from the calling thread.
    @inlinable @inline(__always)
    public func increment(by amount: UInt64 = 1) {
        let shard = mmstats_current_shard()
        // 1 ≤ shard < shards: this thread's own word (0 and UInt32.max wrap above the bound).
        if shard &- 1 < shards &- 1 {
            let word = shard0 + Int(shard) &* strideWords
            word.pointee.store(word.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
        } else {
            incrementWithoutShard(by: amount, shard)
        }
    }

    /// The first increment of a thread (it takes a shard), or one of a thread without a shard.
    @usableFromInline @inline(never)
    func incrementWithoutShard(by amount: UInt64, _ current: UInt32) {
        let shard = current == 0 ? ShardIndex.take() : current
        if shard &- 1 < shards &- 1 {
            let word = shard0 + Int(shard) &* strideWords
            word.pointee.store(word.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
        } else {
            shard0.pointee.wrappingAdd(amount, ordering: .relaxed)
        }
    }

    /// The sum of the shards (what a reader sees), wrapping at 2^64.
    public var value: UInt64 {
        var sum: UInt64 = 0
        for j in 0..<Int(shards) { sum &+= (shard0 + j * strideWords).pointee.load(ordering: .relaxed) }
        return sum
    }
}

/// The process's shard indices: each live thread that used a shared counter holds one.
///
/// The lowest free index is taken first, so a few threads use the first few shards of every
/// file. An index goes back to the pool when its thread exits (a pthread key destructor); the
/// pool's mutex orders the old owner's last store before the new owner's first load.
enum ShardIndex {
    /// Indices are 1 ..< limit.
    static let limit: UInt32 = 4096

    private struct Pool {
        var next: UInt32 = 1
        var free: [UInt32] = []
    }
    private static let pool = Mutex(Pool())

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { value in
            // The thread is exiting: no shard from now on (later increments add atomically).
            mmstats_set_current_shard(UInt32.max)
            ShardIndex.give(UInt32(truncatingIfNeeded: Int(bitPattern: value)))
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// Takes a shard index for the calling thread (UInt32.max when none is left).
    static func take() -> UInt32 {
        let key = key
        let shard = pool.withLock { pool -> UInt32 in
            if let lowest = pool.free.indices.min(by: { pool.free[$0] < pool.free[$1] }) {
                return pool.free.remove(at: lowest)
            }
            guard pool.next < limit else { return UInt32.max }
            defer { pool.next += 1 }
            return pool.next
        }
        mmstats_set_current_shard(shard)
        if shard != UInt32.max {
            pthread_setspecific(key, UnsafeRawPointer(bitPattern: Int(shard)))
        }
        return shard
    }

    private static func give(_ shard: UInt32) {
        guard shard > 0, shard < limit else { return }
        pool.withLock { $0.free.append(shard) }
    }
}

/// Layout 4: a record in `shards` copies, one per thread, that readers sum word by word.
public struct ShardedLayout: StorageLayout {
    /// Creates the layout.
    public init() {}
    /// 4.
    public var id: LayoutID { .sharded }
    /// `sharded`.
    public var name: String { "sharded" }
    /// Shard 0's copy (the other shards are checked when read).
    public func storageBytes(recordWords: Int) -> Int { recordWords * 8 }
    /// Sums every shard's copy word by word, wrapping (docs/FORMAT.md §11.6).
    public func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64] {
        let words = descriptor.signature.words
        // Words are summed in this machine's order (a file of the other order is swapped first).
        func native(_ word: UInt64) -> UInt64 { region.swapped ? word.byteSwapped : word }
        let geometry = try region.words(at: descriptor.altOffset, count: 2)
        let (stride, shards) = (native(geometry[0]), native(geometry[1]))
        func corrupt(_ reason: String) -> MmStatsError {
            MmStatsError(.corrupt, path: region.path, entry: descriptor.displayName, reason)
        }
        guard descriptor.altOffset % 8 == 0 else { throw corrupt("shard geometry offset is not 8-aligned") }
        guard stride % 8 == 0, stride >= UInt64(words * 8), stride <= UInt64(region.size) else {
            throw corrupt("shard stride \(stride) is not a multiple of 8 of at least \(words * 8) bytes")
        }
        guard shards >= 1, shards <= UInt64(ShardIndex.limit) else {
            throw corrupt("\(shards) shards (a file has 1 to \(ShardIndex.limit))")
        }
        let last = UInt64(descriptor.valueOffset) + (shards - 1) * stride + UInt64(words * 8)
        guard last <= UInt64(region.size) else {
            throw corrupt("shard \(shards - 1) ends at \(last), past the file's \(region.size) bytes")
        }
        var sum = [UInt64](repeating: 0, count: words)
        for j in 0..<Int(shards) {
            let copy = try region.words(at: descriptor.valueOffset + j * Int(stride), count: words)
            for i in 0..<words { sum[i] &+= native(copy[i]) }
        }
        return sum.map(native)
    }
}
