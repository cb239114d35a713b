/// Whether a file's writer is still running (docs/FORMAT.md §8).
public enum WriterState: String, Sendable {
    /// The writer process is running.
    case live
    /// The pid now belongs to another process: the writer is gone.
    case restarted
    /// No process has the pid.
    case dead
    /// The writer closed the file.
    case closed
    /// The writer ran in another PID namespace (another container): its pid cannot be looked
    /// up here, so whether it still runs is unknown. Such a file is never treated as stale.
    case unknown

    /// Stale files (dead or restarted writers) may be removed.
    public var isStale: Bool { self == .dead || self == .restarted }
}

/// Who wrote a file, from its header.
public struct WriterIdentity: Equatable, Sendable {
    /// Writer process id.
    public var pid: Int32
    /// Writer thread id.
    public var tid: Int64
    /// Writer process start time, clock ticks since boot (0 when unknown, as in v1 files).
    public var startTime: UInt64
    /// Application name.
    public var application: String
    /// Model name.
    public var model: String
    /// Nanoseconds since the UNIX epoch at creation.
    public var created: UInt64
    /// Nanoseconds since the UNIX epoch of the last metadata change or publish.
    public var lastUpdate: UInt64
    /// Whether the writer set the closed flag.
    public var closed: Bool
    /// The writer's PID namespace (the inode of its `/proc/self/ns/pid`); 0 when the file does
    /// not say (minor version 0, v1 files).
    public var pidNamespace: UInt64 = 0

    /// The writer's state now, looked up in `/proc` (docs/FORMAT.md §8).
    public var state: WriterState {
        if closed { return .closed }
        // Another namespace's pid names some other process here, or none.
        if pidNamespace != 0 && pidNamespace != ProcessIdentity.pidNamespace { return .unknown }
        guard let start = ProcessIdentity.startTime(of: pid) else { return .dead }
        if startTime != 0 && start != startTime { return .restarted }
        return .live
    }
}
