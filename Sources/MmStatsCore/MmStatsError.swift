/// An error that names the file, the entry when there is one, and the reason.
///
/// ```swift
/// do { _ = try StatsReader(path: path) } catch { print(error) }
/// // mmstats: /dev/shm/mmstats-0/web/Stats/12-12.mmstats: metadata entry 7 points past the end of the file (offset 9000, size 8192)
/// ```
public struct MmStatsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, broadly; tests and callers switch on it.
    public enum Code: String, Sendable {
        /// The file is not a stats file or is corrupt.
        case corrupt
        /// The file is a stats file of a version this reader does not read.
        case unsupportedVersion
        /// The file changed size or content under the reader in a way it could not follow.
        case truncated
        /// A record kept changing for longer than the reader's retry budget.
        case busy
        /// A path is unsafe: a symbolic link, or a directory owned by someone else or open to others.
        case unsafePath
        /// A syscall failed.
        case system
        /// The caller passed something invalid (a name, a signature, a template).
        case invalidArgument
        /// The file has no room left and cannot grow further.
        case full
    }

    /// The category of the failure.
    public let code: Code
    /// The file or directory concerned, if any.
    public let path: String?
    /// The entry concerned (a metric, a descriptor index, a field), if any.
    public let entry: String?
    /// What happened, with the numbers that matter.
    public let reason: String

    /// Creates an error.
    public init(_ code: Code, path: String?, entry: String? = nil, _ reason: String) {
        self.code = code
        self.path = path
        self.entry = entry
        self.reason = reason
    }

    static func system(_ errno: Errno, path: String?, _ action: String) -> MmStatsError {
        let code: Code = errno == .loop ? .unsafePath : (errno.code == ENOSPC_CODE ? .full : .system)
        let reason = errno == .loop ? "\(action): refusing to follow a symbolic link" : "\(action): \(errno)"
        return MmStatsError(code, path: path, reason)
    }

    /// `mmstats: PATH: ENTRY: REASON`, safe to print on a terminal.
    ///
    /// Path, entry and reason may quote bytes from a file or a file name: control, format and
    /// other invisible characters in them are shown as `\u{…}` escapes (`String.terminalSafe`).
    /// The ``path``, ``entry`` and ``reason`` properties keep the raw text.
    public var description: String {
        var parts = ["mmstats"]
        if let path { parts.append(path.terminalSafe) }
        if let entry { parts.append(entry.terminalSafe) }
        parts.append(reason.terminalSafe)
        return parts.joined(separator: ": ")
    }
}

#if canImport(Glibc)
    import Glibc
    let ENOSPC_CODE = ENOSPC
#elseif canImport(Musl)
    import Musl
    let ENOSPC_CODE = ENOSPC
#endif
