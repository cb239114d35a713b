/// How a writer names, places and lays out its file.
///
/// ```swift
/// var options = WriterOptions(application: "web", model: "HTTPStats")
/// options.layout = .pageFlip
/// let stats = try StatsWriter(options)
/// ```
public struct WriterOptions: Sendable {
    /// The stats root; nil means `StatsDirectory.defaultRoot()`.
    public var root: String?
    /// The application directory under the root (default: the program name).
    public var application: String
    /// The model directory under the application (one per stats type or library).
    public var model: String
    /// The file name; may use `{CMD}`, `{PID}`, `{TID}`, `{APP}`, `{MODEL}`.
    public var fileNameTemplate: String
    /// The file's layout: `.word` (each record in its kind's layout, or the one `record(…,
    /// layout:)` asks for: `.word` or `.doubleBuffer`) or `.pageFlip` (every record, scalars
    /// too, on two pages, published together by `publish()`; asking for another layout in
    /// such a file is an error).
    public var layout: LayoutID
    /// Create the file 0640 instead of 0600.
    public var groupReadable: Bool
    /// The most the file may grow to; this much address space is reserved up front.
    public var maximumSize: Int
    /// Remove the file when the writer closes.
    public var removeOnClose: Bool
    /// Shards of each thread-safe record (`SharedCounter`, docs/FORMAT.md §11.6), 2 to 4096:
    /// shard 0 takes atomic adds of threads without a shard of their own, and each of the
    /// others belongs to one thread at a time. Default 32.
    public var shards: Int

    /// Options with defaults for everything but the names.
    public init(application: String = ProcessIdentity.command, model: String = "Stats") {
        self.root = nil
        self.application = application
        self.model = model
        self.fileNameTemplate = "{PID}-{TID}.mmstats"
        self.layout = .word
        self.groupReadable = false
        self.maximumSize = 64 << 20
        self.removeOnClose = true
        self.shards = 32
    }
}
