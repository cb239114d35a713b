import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reports why metrics are not recorded on standard error: the first `limit` problems, then
/// once that more were left out, so that a program making metrics in a loop cannot flood it.
final class Reporter: Sendable {
    static let limit = 10
    private let reported = Mutex(0)

    func report(_ message: String) {
        let count = reported.withLock { count in
            count += 1
            return count
        }
        if count <= Self.limit {
            Self.emit("mmstats-swift-metrics: \(message)\n")
        } else if count == Self.limit + 1 {
            Self.emit("mmstats-swift-metrics: more problems, not reported\n")
        }
    }

    private static func emit(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
