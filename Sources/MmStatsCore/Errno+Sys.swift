#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An `errno` value with its message, as returned by the syscall layer.
public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    /// The raw `errno` code.
    public let code: Int32

    /// Wraps a raw `errno` code.
    public init(_ code: Int32) { self.code = code }

    /// The current thread's `errno`.
    static var current: Errno { Errno(errno) }

    /// The C library's message for the code, for example `No such file or directory`.
    public var description: String { String(cString: strerror(code)) }

    static let noEntry = Errno(ENOENT)
    static let exists = Errno(EEXIST)
    static let loop = Errno(ELOOP)
    static let interrupted = Errno(EINTR)
}

/// Every syscall the library makes, in one place: retried on EINTR, returning `Result`.
enum Sys {
    @inline(__always)
    private static func retrying<T>(_ call: () -> T, failed: (T) -> Bool) -> Result<T, Errno> {
        while true {
            let result = call()
            if !failed(result) { return .success(result) }
            let error = Errno.current
            if error != .interrupted { return .failure(error) }
        }
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Result<Int32, Errno> {
        retrying({ Glibc.open(path, flags | O_CLOEXEC, mode) }, failed: { $0 < 0 })
    }

    static func openAt(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t = 0) -> Result<Int32, Errno> {
        retrying({ Glibc.openat(directory, name, flags | O_CLOEXEC, mode) }, failed: { $0 < 0 })
    }

    static func openAt(_ directory: Int32, _ name: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t = 0)
        -> Result<Int32, Errno>
    {
        retrying({ Glibc.openat(directory, name, flags | O_CLOEXEC, mode) }, failed: { $0 < 0 })
    }

    static func mkdirAt(_ directory: Int32, _ name: String, _ mode: mode_t) -> Result<Void, Errno> {
        retrying({ Glibc.mkdirat(directory, name, mode) }, failed: { $0 != 0 }).map { _ in () }
    }

    static func unlinkAt(_ directory: Int32, _ name: String) -> Result<Void, Errno> {
        retrying({ Glibc.unlinkat(directory, name, 0) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// Links `name` to the file `existing` in the same directory; never follows a link at `name`
    /// and fails with EEXIST if anything is there.
    static func linkAt(_ directory: Int32, _ existing: String, _ name: String) -> Result<Void, Errno> {
        retrying({ Glibc.linkat(directory, existing, directory, name, 0) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// `fstatat` without following a final symbolic link.
    static func lstatAt(_ directory: Int32, _ name: String) -> Result<stat, Errno> {
        var info = stat()
        return retrying({ Glibc.fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) }, failed: { $0 != 0 })
            .map { _ in info }
    }

    /// The target of the symbolic link `name` in `directory`.
    static func readLinkAt(_ directory: Int32, _ name: String) -> Result<String, Errno> {
        let capacity = Int(PATH_MAX) + 1
        var buffer = [CChar](repeating: 0, count: capacity)
        let count = retrying({ Glibc.readlinkat(directory, name, &buffer, capacity) }, failed: { $0 < 0 })
        return count.flatMap { length in
            // A target that fills the buffer may have been cut short.
            guard length < capacity else { return .failure(Errno(ENAMETOOLONG)) }
            // Not UTF-8: no String names it, so it cannot be followed by name.
            let bytes = buffer[..<length].map { UInt8(bitPattern: $0) }
            guard let target = String(validating: bytes, as: UTF8.self) else { return .failure(Errno(EILSEQ)) }
            return .success(target)
        }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)  // never retried: the descriptor is gone even on EINTR
    }

    static func fstat(_ fd: Int32) -> Result<stat, Errno> {
        var info = stat()
        return retrying({ Glibc.fstat(fd, &info) }, failed: { $0 != 0 }).map { _ in info }
    }

    static func lstat(_ path: String) -> Result<stat, Errno> {
        var info = stat()
        return retrying({ Glibc.lstat(path, &info) }, failed: { $0 != 0 }).map { _ in info }
    }

    static func ftruncate(_ fd: Int32, _ size: Int) -> Result<Void, Errno> {
        retrying({ Glibc.ftruncate(fd, off_t(size)) }, failed: { $0 != 0 }).map { _ in () }
    }

    /// Reserves the range so that a full disk is reported now, not as SIGBUS on first touch.
    static func fallocate(_ fd: Int32, offset: Int, length: Int) -> Result<Void, Errno> {
        while true {
            let code = posix_fallocate(fd, off_t(offset), off_t(length))
            if code == 0 { return .success(()) }
            if code == EINTR { continue }
            // Filesystems without fallocate: fall back to the sparse extension ftruncate made.
            if code == EOPNOTSUPP { return .success(()) }
            return .failure(Errno(code))
        }
    }

    static func mmap(length: Int, protection: Int32, flags: Int32, fd: Int32) -> Result<UnsafeMutableRawPointer, Errno>
    {
        guard let pointer = Glibc.mmap(nil, length, protection, flags, fd, 0), pointer != MAP_FAILED else {
            return .failure(.current)
        }
        return .success(pointer)
    }

    static func munmap(_ pointer: UnsafeMutableRawPointer, _ length: Int) {
        _ = Glibc.munmap(pointer, length)
    }

    static func fchmod(_ fd: Int32, _ mode: mode_t) -> Result<Void, Errno> {
        retrying({ Glibc.fchmod(fd, mode) }, failed: { $0 != 0 }).map { _ in () }
    }

    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
        retrying({ Glibc.read(fd, buffer.baseAddress, buffer.count) }, failed: { $0 < 0 })
    }

    /// Reads a whole small file (for `/proc`), nil when it cannot be opened or read.
    static func readSmallFile(_ path: String, limit: Int = 4096) -> [UInt8]? {
        guard case .success(let fd) = open(path, O_RDONLY) else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let result = bytes.withUnsafeMutableBytes { buffer in
                read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            }
            guard case .success(let count) = result else { return nil }
            if count == 0 { break }
            total += count
        }
        return Array(bytes[..<total])
    }
}
