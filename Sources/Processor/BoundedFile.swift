#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reads a whole configuration file of at most `limit` bytes (the manifest, Traffic Server's
/// XML), retrying on EINTR; a failure is a reason for the caller's error type.
enum BoundedFile {
    enum Failure: Error {
        /// Opening or reading failed: the action and the system's message.
        case system(String)
        /// The file has more than the limit.
        case tooLarge(Int)

        var reason: String {
            switch self {
            case .system(let text): text
            case .tooLarge(let limit): "file too large: more than \(limit) bytes"
            }
        }
    }

    static func contents(of path: String, limit: Int) throws(Failure) -> [UInt8] {
        func failure(_ action: String) -> Failure {
            let code = errno
            return .system("\(action): " + (strerror(code).map { String(cString: $0) } ?? "errno \(code)"))
        }
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw failure("cannot open") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read")
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw .tooLarge(limit) }
        }
    }
}
