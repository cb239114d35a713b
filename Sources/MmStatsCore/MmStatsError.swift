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
        /// Reading the file would take more memory or work than the reader's `ReaderLimits` allow.
        case overLimit
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

    /// `mmstats: PATH: ENTRY: REASON`, safe to print on a terminal and at most a few lines long.
    ///
    /// Path, entry and reason may quote bytes from a file or a file name: control, format and
    /// other invisible characters in them are shown as `\u{…}` escapes (`String.terminalSafe`).
    /// A path longer than 512 characters, or an entry or reason longer than 1024, is shortened
    /// in the middle: `/dev/shm/aaaa…[4410 characters in all]…/deep.mmstats`.
    /// The ``path``, ``entry`` and ``reason`` properties keep the raw, whole text.
    public var description: String { "mmstats: " + detail }

    /// `PATH: ENTRY: REASON`: the ``description`` without its `mmstats: ` prefix, for a message
    /// that has its own prefix (`m.json:2:15: plugins: ./libApdex.so: no such file: …`).
    ///
    /// ```swift
    /// MmStatsError(.system, path: "/x.so", "no such file").detail  // "/x.so: no such file"
    /// ```
    public var detail: String {
        var parts: [String] = []
        if let path { parts.append(Self.abbreviated(path.terminalSafe, limit: 512)) }
        if let entry { parts.append(Self.abbreviated(entry.terminalSafe, limit: 1024)) }
        parts.append(Self.abbreviated(reason.terminalSafe, limit: 1024))
        return parts.joined(separator: ": ")
    }

    /// `text` if it has at most `limit` characters, else its first third and last two thirds
    /// around a note of its length.
    static func abbreviated(_ text: String, limit: Int) -> String {
        let count = text.count
        guard count > limit else { return text }
        return "\(text.prefix(limit / 3))…[\(count) characters in all]…\(text.suffix(limit * 2 / 3))"
    }
}

#if canImport(Glibc)
    import Glibc
    let ENOSPC_CODE = ENOSPC
#elseif canImport(Musl)
    import Musl
    let ENOSPC_CODE = ENOSPC
#endif
