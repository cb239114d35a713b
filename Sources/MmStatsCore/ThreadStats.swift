#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One writer per thread, created on first use and closed (its file removed) when the thread exits.
///
/// Code that runs on many threads records into its own thread's file, so no two threads ever
/// share a cache line or need a locked instruction; readers sum the threads' files.
///
/// ```swift
/// let stats = try ThreadStats.writer(WriterOptions(application: "web", model: "Stats"))
/// try stats.counter("jobs.done").increment()
/// ```
public enum ThreadStats {
    private final class Box {
        var writers: [String: StatsWriter] = [:]
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            let box = Unmanaged<Box>.fromOpaque(pointer).takeRetainedValue()
            for writer in box.writers.values { writer.close() }
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// The calling thread's writer for `options.application` and `options.model` (and root).
    ///
    /// Not for async code: a task may resume on another thread after an `await`, and two
    /// tasks would then share one single-owner writer. The writer is cached per thread under
    /// its root, application and model; the other options of later calls are ignored.
    @available(*, noasync, message: "a task can change threads at an await; give each task its own StatsWriter")
    public static func writer(_ options: WriterOptions = WriterOptions()) throws(MmStatsError) -> StatsWriter {
        let box: Box
        if let existing = pthread_getspecific(key) {
            box = Unmanaged<Box>.fromOpaque(existing).takeUnretainedValue()
        } else {
            box = Box()
            pthread_setspecific(key, Unmanaged.passRetained(box).toOpaque())
        }
        let name = "\(options.root ?? "")\u{0}\(options.application)\u{0}\(options.model)"
        if let writer = box.writers[name] { return writer }
        let writer = try StatsWriter(options)
        box.writers[name] = writer
        return writer
    }
}
