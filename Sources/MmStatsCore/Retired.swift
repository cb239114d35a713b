import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What `Record.descriptor` reads: one per registered record, never freed.
///
/// Handles hold no reference (copying one must retain nothing), so they reach their descriptor
/// through an unmanaged pointer to this box; the writer keeps the boxes while it lives and hands
/// them to `Retired` when it goes.
final class RecordAnchor {
    let descriptor: MetricDescriptor
    init(_ descriptor: MetricDescriptor) { self.descriptor = descriptor }
}

/// Memory that handles may point at after their writer is gone, kept for the process's life.
///
/// Handles are plain pointers, so nothing a handle can reach is ever unmapped or freed:
///
/// - the writer's file mapping is replaced, at the same addresses, by private zero-filled
///   memory over the part that was allocated (`retire(region:)`); the rest of the reserved
///   range is unmapped. The file's pages are released; the range costs address space and one
///   kernel mapping, and physical memory only for pages that late handles still write.
/// - the writer's private shadows (anonymous mappings) are told `MADV_DONTNEED`: their physical
///   pages go back to the kernel, the range stays valid and reads as zeros.
/// - `RecordAnchor`s are kept in a list here.
enum Retired {
    private struct Kept: @unchecked Sendable {
        // @unchecked: only appended to under the mutex, never read.
        var anchors: [RecordAnchor] = []
    }
    private static let kept = Mutex(Kept())

    /// Keeps `anchors` alive for the rest of the process.
    static func keep(_ anchors: [RecordAnchor]) {
        guard !anchors.isEmpty else { return }
        let box = Kept(anchors: anchors)
        kept.withLock { $0.anchors += box.anchors }
    }

    /// Replaces `used` bytes at `base` with private zero-filled memory and unmaps the rest of
    /// `capacity`. If the replacement fails, the old mapping stays (still safe, just not freed).
    static func retire(mapping base: UnsafeMutableRawPointer, used: Int, capacity: Int) {
        let kept = min(used.aligned(to: Format.pageSize), capacity)
        if kept > 0 {
            let replaced = mmap(
                base, kept, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0)
            if replaced == MAP_FAILED { return }
        }
        if capacity > kept { Sys.munmap(base + kept, capacity - kept) }
    }

    /// Returns the physical pages of a private block to the kernel; its addresses stay valid.
    static func retire(block: UnsafeMutableRawPointer, size: Int) {
        _ = madvise(block, size, MADV_DONTNEED)
    }
}
