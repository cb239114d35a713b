import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Signals received and not handled yet: bit 0 stop (SIGINT, SIGTERM), bit 1 reload (SIGHUP).
/// Set by the handler (an atomic OR is async-signal-safe).
let pendingSignals = Atomic<UInt32>(0)

/// The self-pipe `SignalWake.sleep(until:)` polls and the signal handler writes to (-1: none yet).
struct WakePipe: AtomicRepresentable {
    var read: Int32
    var write: Int32

    typealias AtomicRepresentation = UInt64.AtomicRepresentation

    static func encodeAtomicRepresentation(_ value: WakePipe) -> AtomicRepresentation {
        UInt64.encodeAtomicRepresentation(
            UInt64(UInt32(bitPattern: value.read)) << 32 | UInt64(UInt32(bitPattern: value.write)))
    }

    static func decodeAtomicRepresentation(_ storage: consuming AtomicRepresentation) -> WakePipe {
        let bits = UInt64.decodeAtomicRepresentation(storage)
        return WakePipe(
            read: Int32(bitPattern: UInt32(bits >> 32)), write: Int32(bitPattern: UInt32(truncatingIfNeeded: bits)))
    }
}

let wakePipe = Atomic<WakePipe>(WakePipe(read: -1, write: -1))

/// The signals a long-running command (`run`, `serve`, `poll`) stops or reloads on, and a sleep
/// that such a signal ends at once.
///
/// The handler sets a bit in ``pendingSignals`` and writes a byte to a pipe that
/// ``sleep(until:)`` polls (the self-pipe), so a signal that arrives between the check of the
/// bits and the wait still ends the wait at once; a bare `clock_nanosleep` would sleep the
/// whole interval then.
///
/// ```swift
/// SignalWake.install([SIGINT, SIGTERM])
/// while !SignalWake.stopRequested {
///     work()
///     SignalWake.sleep(until: SignalWake.now() + 1_000_000_000)
/// }
/// ```
enum SignalWake {
    /// The bit of SIGINT and SIGTERM.
    static let stop: UInt32 = 1
    /// The bit of SIGHUP.
    static let reload: UInt32 = 2

    /// The signals received since the last call (bits ``stop`` and ``reload``), cleared.
    static func take() -> UInt32 { pendingSignals.exchange(0, ordering: .acquiringAndReleasing) }

    /// Whether SIGINT or SIGTERM has been received (and not taken).
    static var stopRequested: Bool { pendingSignals.load(ordering: .acquiring) & stop != 0 }

    /// Monotonic nanoseconds (CLOCK_MONOTONIC, as `StatsClock.system`).
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Sleeps until the monotonic time `deadline` (never less), or until a signal arrives.
    static func sleep(until deadline: UInt64) {
        let wake = wakePipe.load(ordering: .relaxed)
        while pendingSignals.load(ordering: .acquiring) == 0 {
            let now = now()
            guard now < deadline else { return }
            let milliseconds = Int32(min((deadline - now + 999_999) / 1_000_000, UInt64(Int32.max)))
            guard wake.read >= 0 else {
                // No pipe (could not be made): wait in short steps so a signal waits at most one.
                _ = poll(nil, 0, min(milliseconds, 100))
                continue
            }
            var descriptor = pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, milliseconds) > 0 { drain(wake.read) }
        }
    }

    /// The self-pipe's read end (-1 before ``install(_:)`` or if it could not be made), for a
    /// loop that polls other descriptors too: readable once a signal came. Empty it with
    /// ``drainWake()`` before taking the signals.
    static var wakeDescriptor: Int32 { wakePipe.load(ordering: .acquiring).read }

    /// Empties the self-pipe.
    static func drainWake() {
        let fd = wakeDescriptor
        if fd >= 0 { drain(fd) }
    }

    /// Empties the self-pipe (non-blocking): one wake per signal is enough.
    private static func drain(_ fd: Int32) {
        var bytes = [UInt8](repeating: 0, count: 64)
        while bytes.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Handles `signals` (SIGHUP sets ``reload``, any other ``stop``) and unblocks them; makes
    /// the self-pipe on first use.
    static func install(_ signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]) {
        _ = pendingSignals.load(ordering: .relaxed)  // initialized before any handler can run
        if wakePipe.load(ordering: .relaxed).read < 0 {
            var fds: [Int32] = [-1, -1]
            if pipe(&fds) == 0 {
                for fd in fds {
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                }
                wakePipe.store(WakePipe(read: fds[0], write: fds[1]), ordering: .releasing)
            }
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            pendingSignals.bitwiseOr(signal == SIGHUP ? 2 : 1, ordering: .releasing)  // reload : stop
            // Then wake the sleep (write is async-signal-safe; a full pipe already wakes it).
            let fd = wakePipe.load(ordering: .acquiring).write
            if fd >= 0 {
                let saved = errno
                var byte: UInt8 = 1
                _ = write(fd, &byte, 1)
                errno = saved
            }
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a blocking call returns at once
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signal in signals {
            sigaction(signal, &action, nil)
            sigaddset(&unblock, signal)
        }
        // A parent may start us with them blocked (test runners do): they must reach us.
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
    }
}
