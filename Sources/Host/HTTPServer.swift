import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An HTTP request as `HTTPServer` hands it to its handler: only GET and HEAD ever reach it.
struct HTTPRequest {
    /// `GET` or `HEAD`.
    var method: String
    /// The path, percent-decoded (valid UTF-8, no control characters).
    var path: String
    /// The query's parameters in order, percent-decoded, `+` as a space.
    var query: [(name: String, value: String)]
}

/// A response; the server adds `Content-Length`, `Connection` and, for HEAD, drops the body.
struct HTTPResponse {
    var status: Int
    var contentType: String
    var body: [UInt8]
    var headers: [(String, String)] = []

    init(status: Int, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    init(status: Int, contentType: String = "text/plain; charset=utf-8", text: String) {
        self.init(status: status, contentType: contentType, body: Array(text.utf8))
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}

/// A small HTTP/1.1 server on non-blocking sockets and one `poll` loop: every connection has
/// its own buffers, limits and deadlines, so a slow or stuck client never holds up another.
///
/// It answers GET and HEAD without bodies, with keep-alive and pipelining, and never maps a
/// path to a file: the handler sees decoded paths and answers from fixed endpoints.
final class HTTPServer {
    struct Limits {
        /// The request line and headers together, in bytes (more: 431).
        var maximumHeaderBytes = 16 * 1024
        /// Seconds from a request's first byte to the end of its headers (then 408, closed).
        var headerTimeout = 5.0
        /// Seconds a kept-alive connection may stay idle between requests.
        var idleTimeout = 30.0
        /// Seconds a response may wait for the client to read any more of it (whatever the client
        /// sends meanwhile), then the connection is closed.
        var writeTimeout = 30.0
        /// Connections open at once; more are answered 503 and closed.
        var maximumConnections = 256
        /// Unsent response bytes at which a connection stops reading further (pipelined) requests.
        var maximumPendingOutput = 4 << 20
    }

    private final class Connection {
        let fd: Int32
        var input: [UInt8] = []
        var output: [UInt8] = []
        var sent = 0
        /// Close once `output` is sent.
        var closing = false
        /// The response is sent and the sending side shut down: what the client still sends is
        /// read and discarded for a moment, so that closing does not reset the connection
        /// before the client has read the response (a lingering close).
        var draining = false
        var drained = 0
        /// How much of `input` is known to hold no end of the headers (minus the 2 bytes a
        /// terminator split across reads may have started with): each byte is scanned once.
        var scanned = 0
        /// When the current request's first byte came (monotonic ns), if one is partly read.
        var requestStarted: UInt64?
        /// The last time anything was read or written.
        var lastActivity: UInt64
        /// The last time `output` went from empty to pending or any of it was sent: the write
        /// timeout runs from here, whatever the client sends meanwhile.
        var lastWrite: UInt64
        /// Requests answered so far: until the first, the header timeout runs from the accept.
        var answered = 0
        /// A complete request waits in `input` that was not answered yet: a connection gets one
        /// request answered per turn of the loop, so that a client pipelining many requests
        /// takes its turn with the others instead of holding them up. Such a connection is not
        /// read from until its backlog is answered.
        var backlog = false

        init(fd: Int32, now: UInt64) {
            self.fd = fd
            lastActivity = now
            lastWrite = now
        }

        var hasOutput: Bool { sent < output.count }
    }

    let address: ListenAddress
    let limits: Limits
    private let listener: Int32
    private var connections: [Int32: Connection] = [:]
    private let handler: (HTTPRequest) -> HTTPResponse
    /// A descriptor (`/dev/null`) held in reserve: when `accept` fails for want of descriptors
    /// (EMFILE, ENFILE), it is closed to accept the waiting connection, answer it 503 and close
    /// it, then opened again, so the listener does not stay readable and the loop never spins.
    private var spare: Int32
    /// When `accept` fails in a way the spare cannot help, the listener is not polled again
    /// before this time (monotonic ns): a short back-off instead of a busy loop.
    private var acceptPausedUntil: UInt64 = 0

    /// Binds and listens; the error's reason names the address and the cause
    /// (`cannot listen on 127.0.0.1:9464: Address already in use`).
    init(
        address: ListenAddress, limits: Limits = Limits(), handler: @escaping (HTTPRequest) -> HTTPResponse
    ) throws(MmStatsError) {
        self.limits = limits
        self.handler = handler
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        func failure(_ action: String) -> MmStatsError {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            return MmStatsError(.system, path: nil, "cannot \(action) \(address.hostAndPort): \(reason)")
        }
        guard fd >= 0 else { throw failure("create a socket for") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var bound = address
        if address.isIPv6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            var storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = address.port.bigEndian
            _ = address.host.withCString { inet_pton(AF_INET6, $0, &storage.sin6_addr) }
            let status = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
            guard status == 0 else { throw failure("listen on") }
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            _ = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            bound.port = UInt16(bigEndian: storage.sin6_port)
        } else {
            var storage = sockaddr_in()
            storage.sin_family = sa_family_t(AF_INET)
            storage.sin_port = address.port.bigEndian
            _ = address.host.withCString { inet_pton(AF_INET, $0, &storage.sin_addr) }
            let status = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard status == 0 else { throw failure("listen on") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            bound.port = UInt16(bigEndian: storage.sin_port)
        }
        guard listen(fd, SOMAXCONN) == 0 else { throw failure("listen on") }
        listener = fd
        self.address = bound
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        for connection in connections.values { close(connection.fd) }
        close(listener)
        if spare >= 0 { close(spare) }
    }

    /// Monotonic nanoseconds.
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Serves for at most `milliseconds` (less when a deadline comes first, or `wake`, a
    /// descriptor such as a signal's self-pipe, becomes readable): one `poll`, then whatever is
    /// ready is accepted, read, answered and written. `wake` is only watched, never read.
    func serve(milliseconds: Int32, wake: Int32 = -1) {
        let now = Self.now()
        var timeout = Int64(milliseconds)
        let accepting = now >= acceptPausedUntil
        if !accepting { timeout = min(timeout, Int64((acceptPausedUntil - now) / 1_000_000) + 1) }
        var fds = [pollfd(fd: listener, events: accepting ? Int16(POLLIN) : 0, revents: 0)]
        // Connections with a request waiting get their next one answered after this poll,
        // which then does not wait.
        let waiting = connections.values.filter { $0.backlog }.map(\.fd)
        if !waiting.isEmpty { timeout = 0 }
        for connection in connections.values {
            var events = Int16(0)
            if connection.draining { events = Int16(POLLIN) }
            if connection.hasOutput { events |= Int16(POLLOUT) }
            if !connection.closing && !connection.backlog
                && connection.output.count - connection.sent < limits.maximumPendingOutput
            {
                events |= Int16(POLLIN)
            }
            fds.append(pollfd(fd: connection.fd, events: events, revents: 0))
            let remaining = (Int64(clamping: deadline(of: connection)) - Int64(clamping: now)) / 1_000_000 + 1
            timeout = max(0, min(timeout, remaining))
        }
        let connectionCount = fds.count - 1
        if wake >= 0 { fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
        let count = poll(&fds, nfds_t(fds.count), Int32(timeout))
        if count > 0 {
            for entry in fds[1..<(1 + connectionCount)] where entry.revents != 0 {
                guard let connection = connections[entry.fd] else { continue }
                if connection.draining {
                    drain(connection)
                    continue
                }
                if entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 && !connection.closing {
                    read(connection)
                }
                if connections[entry.fd] != nil && connection.hasOutput { write(connection) }
                if connections[entry.fd] != nil && entry.revents & Int16(POLLERR | POLLNVAL) != 0 {
                    drop(connection)
                }
            }
            if fds[0].revents & Int16(POLLIN) != 0 { acceptAll() }
        }
        for fd in waiting {
            guard let connection = connections[fd], connection.backlog, !connection.closing,
                connection.output.count - connection.sent < limits.maximumPendingOutput
            else { continue }
            process(connection)
            if connections[fd] != nil && connection.hasOutput { write(connection) }
        }
        expire(now: Self.now())
    }

    /// When `connection` times out: with a response pending, the write deadline (reset only by
    /// progress in sending it); else its request's header deadline, else idle.
    private func deadline(of connection: Connection) -> UInt64 {
        if connection.draining { return connection.lastActivity + 2_000_000_000 }
        if connection.hasOutput { return connection.lastWrite + UInt64(limits.writeTimeout * 1e9) }
        if let started = connection.requestStarted { return started + UInt64(limits.headerTimeout * 1e9) }
        if connection.answered == 0 { return connection.lastActivity + UInt64(limits.headerTimeout * 1e9) }
        return connection.lastActivity + UInt64(limits.idleTimeout * 1e9)
    }

    private func expire(now: UInt64) {
        for connection in Array(connections.values) where deadline(of: connection) <= now {
            if connection.requestStarted != nil && !connection.hasOutput && !connection.closing && !connection.draining
            {
                // Half a request, then nothing: tell the client why, once, then close.
                connection.requestStarted = nil
                respond(connection, HTTPResponse(status: 408, text: "request timeout\n"), head: false, close: true)
                connection.lastActivity = now
                write(connection)
            } else {
                drop(connection)
            }
        }
    }

    private func acceptAll() {
        while true {
            let fd = acceptOne()
            guard fd >= 0 else {
                switch errno {
                case EAGAIN, EWOULDBLOCK: return  // none left
                case EINTR, ECONNABORTED: continue  // a connection reset before it was accepted
                case EMFILE, ENFILE:
                    // Out of descriptors: use the spare one to take the connection off the queue.
                    if spare >= 0 {
                        close(spare)
                        let refused = acceptOne()
                        let reason = errno
                        if refused >= 0 { Self.refuse(refused) }
                        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
                        if spare >= 0 && (refused >= 0 || reason == ECONNABORTED || reason == EINTR) { continue }
                        if spare >= 0 && (reason == EAGAIN || reason == EWOULDBLOCK) { return }
                    }
                    // No spare (or it did not help): leave the listener alone for a moment.
                    acceptPausedUntil = Self.now() + 100_000_000
                    return
                default:
                    // ENOBUFS, ENOMEM and the like: try again shortly, without spinning.
                    acceptPausedUntil = Self.now() + 100_000_000
                    return
                }
            }
            guard connections.count < limits.maximumConnections else {
                Self.refuse(fd)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            connections[fd] = Connection(fd: fd, now: Self.now())
        }
    }

    /// The next waiting connection, non-blocking and close-on-exec; -1 and `errno` if none.
    private func acceptOne() -> Int32 {
        let fd = accept(listener, nil, nil)
        if fd >= 0 {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return fd
    }

    /// Over the cap or out of descriptors: a best-effort 503, then closed at once.
    private static func refuse(_ fd: Int32) {
        let text = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    private func drop(_ connection: Connection) {
        connections[connection.fd] = nil
        close(connection.fd)
    }

    private func read(_ connection: Connection) {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                if connection.input.isEmpty && connection.requestStarted == nil {
                    connection.requestStarted = Self.now()
                }
                connection.input.append(contentsOf: chunk[0..<count])
                connection.lastActivity = Self.now()
                process(connection)
                if connection.closing || connection.backlog || connection.input.count > limits.maximumHeaderBytes {
                    break
                }
                if connection.output.count - connection.sent >= limits.maximumPendingOutput { break }
                continue
            }
            if count == 0 {
                // The client is done sending: answer what is complete, then close.
                if connection.hasOutput {
                    connection.closing = true
                } else {
                    drop(connection)
                }
                return
            }
            if errno == EINTR { continue }
            if errno != EAGAIN && errno != EWOULDBLOCK { drop(connection) }
            return
        }
    }

    /// Reads and discards what a closing client still sends; closes at its end, after 1 MiB,
    /// or (in `expire`) after 2 s.
    private func drain(_ connection: Connection) {
        var scratch = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = scratch.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                connection.drained += count
                if connection.drained > 1 << 20 { return drop(connection) }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            return drop(connection)
        }
    }

    private func write(_ connection: Connection) {
        while connection.hasOutput {
            let count = connection.output.withUnsafeBytes {
                send(
                    connection.fd, $0.baseAddress.map { $0 + connection.sent }, $0.count - connection.sent,
                    Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                connection.sent += count
                connection.lastActivity = Self.now()
                connection.lastWrite = connection.lastActivity
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            drop(connection)
            return
        }
        connection.output.removeAll(keepingCapacity: true)
        connection.sent = 0
        if connection.closing {
            // Half-close, so the client reads the whole response before the connection goes.
            shutdown(connection.fd, Int32(SHUT_WR))
            connection.draining = true
            connection.lastActivity = Self.now()
            drain(connection)
        } else if !connection.input.isEmpty {
            // Pipelined requests held back while the output was full: answered from the next
            // turn on, one per turn like any other backlog.
            connection.backlog = true
        }
    }

    /// Answers the first complete request in the input buffer, if there is one; a further
    /// complete request is left for the next turn (`backlog`).
    private func process(_ connection: Connection) {
        connection.backlog = false
        var answered = 0
        while !connection.closing && connection.output.count - connection.sent < limits.maximumPendingOutput {
            guard let end = Self.headerEnd(connection.input, from: connection.scanned) else {
                connection.scanned = connection.input.count
                if connection.input.count > limits.maximumHeaderBytes {
                    connection.input.removeAll()
                    respond(
                        connection, HTTPResponse(status: 431, text: "request line and headers too large\n"),
                        head: false, close: true)
                }
                return
            }
            guard end.headerBytes <= limits.maximumHeaderBytes else {
                connection.input.removeAll()
                respond(
                    connection, HTTPResponse(status: 431, text: "request line and headers too large\n"), head: false,
                    close: true)
                return
            }
            if answered == 1 {
                connection.backlog = true
                return
            }
            answered += 1
            let head = Array(connection.input[0..<end.headerBytes])
            connection.input.removeFirst(end.consumed)
            connection.scanned = 0
            connection.requestStarted = connection.input.isEmpty ? nil : Self.now()
            let parsed = HTTPParser.parse(head)
            switch parsed {
            case .failure(let error):
                respond(connection, error.response, head: false, close: true)
            case .success(let request):
                let response: HTTPResponse
                if request.method != "GET" && request.method != "HEAD" {
                    response = HTTPResponse(
                        status: 405, contentType: "text/plain; charset=utf-8",
                        body: Array("method not allowed\n".utf8), headers: [("Allow", "GET, HEAD")])
                    // A body is never read: closing is the only way not to take it for a request.
                    respond(connection, response, head: false, close: !request.keepAlive || request.hasBody)
                } else if request.hasBody {
                    response = HTTPResponse(status: 413, text: "requests have no body here\n")
                    respond(connection, response, head: false, close: true)
                } else {
                    switch HTTPParser.target(request.target) {
                    case .failure(let error):
                        respond(connection, error.response, head: false, close: !request.keepAlive)
                    case .success(let (path, query)):
                        let answer = handler(HTTPRequest(method: request.method, path: path, query: query))
                        respond(connection, answer, head: request.method == "HEAD", close: !request.keepAlive)
                    }
                }
            }
        }
    }

    /// Where the headers end: the bytes up to and including the blank line (CRLF CRLF, or a
    /// bare LF LF), and the count of bytes to remove (the same: no bodies are read). `scanned`:
    /// the bytes an earlier call found no end in; the search resumes 2 bytes before them, where
    /// the end's LF (CR) LF may have begun.
    static func headerEnd(_ input: [UInt8], from scanned: Int = 0) -> (headerBytes: Int, consumed: Int)? {
        var index = max(0, scanned - 2)
        while index < input.count {
            if input[index] == 0x0A {
                if index + 1 < input.count && input[index + 1] == 0x0A { return (index + 2, index + 2) }
                if index + 2 < input.count && input[index + 1] == 0x0D && input[index + 2] == 0x0A {
                    return (index + 3, index + 3)
                }
            }
            index += 1
        }
        return nil
    }

    private func respond(_ connection: Connection, _ response: HTTPResponse, head: Bool, close: Bool) {
        connection.answered += 1
        if !connection.hasOutput { connection.lastWrite = Self.now() }
        var text = "HTTP/1.1 \(response.status) \(HTTPResponse.reason(response.status))\r\n"
        text += "Content-Type: \(response.contentType)\r\n"
        text += "Content-Length: \(response.body.count)\r\n"
        text += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
        text += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n"
        connection.output.append(contentsOf: text.utf8)
        if !head { connection.output.append(contentsOf: response.body) }
        if close {
            connection.closing = true
            connection.input.removeAll()
            connection.scanned = 0
            connection.requestStarted = nil
        }
    }
}

/// The request line and headers, strictly: anything unexpected is a 4xx, never a crash.
enum HTTPParser {
    struct Head {
        var method: String
        var target: String
        var keepAlive: Bool
        var hasBody: Bool
    }

    private static let tokenCharacters = Set(
        "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    static func bad(_ text: String) -> HTTPResponse { HTTPResponse(status: 400, text: text + "\n") }

    static func parse(_ bytes: [UInt8]) -> Result<Head, HTTPResponseError> {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            var line = bytes[start..<index]
            if line.last == 0x0D { line = line.dropLast() }
            lines.append(line)
            start = index + 1
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else { return .failure(bad("empty request")) }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(tokenCharacters.contains),
            !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return .failure(bad("malformed request line")) }
        let method = String(decoding: parts[0], as: UTF8.self)
        let version = String(decoding: parts[2], as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            guard version.hasPrefix("HTTP/"), version.count == 8 else {
                return .failure(bad("malformed request line"))
            }
            return .failure(.init(HTTPResponse(status: 505, text: "only HTTP/1.0 and HTTP/1.1\n")))
        }
        var keepAlive = minor == 1
        var hasBody = false
        var hosts = 0
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A) else { return .failure(bad("malformed header line")) }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(tokenCharacters.contains) else {
                return .failure(bad("malformed header name"))
            }
            let rawValue = line[(colon + 1)...]
            guard rawValue.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .failure(bad("control character in a header value"))
            }
            let lowerName = String(decoding: name, as: UTF8.self).lowercased()
            let value = String(decoding: rawValue, as: UTF8.self).trimmingSpaces.lowercased()
            switch lowerName {
            case "host": hosts += 1
            case "connection":
                let options = value.split(separator: ",").map { String($0).trimmingSpaces }
                if options.contains("close") {
                    keepAlive = false
                } else if options.contains("keep-alive") {
                    keepAlive = true
                }
            case "content-length":
                guard !value.isEmpty, value.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    return .failure(bad("malformed Content-Length"))
                }
                if value.contains(where: { $0 != "0" }) { hasBody = true }
            case "transfer-encoding": hasBody = true
            default: break
            }
        }
        if minor == 1 && hosts != 1 { return .failure(bad("HTTP/1.1 needs exactly one Host header")) }
        return .success(
            Head(
                method: method, target: String(decoding: parts[1], as: UTF8.self), keepAlive: keepAlive,
                hasBody: hasBody)
        )
    }

    /// The decoded path and query of an origin-form target (`/path?query`); anything else
    /// (an absolute URI, `*`, bad percent-encoding, a path that is not UTF-8 or holds a control
    /// character) is 400.
    static func target(_ target: String) -> Result<(String, [(name: String, value: String)]), HTTPResponseError> {
        guard target.hasPrefix("/") else { return .failure(bad("only origin-form targets (/path) are served")) }
        let pieces = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let rawPath = pieces[0]
        guard !rawPath.contains("#"), let path = decode(rawPath, plusIsSpace: false) else {
            return .failure(bad("malformed path"))
        }
        var query: [(name: String, value: String)] = []
        if pieces.count == 2 && !pieces[1].isEmpty {
            for pair in pieces[1].split(separator: "&", omittingEmptySubsequences: true) {
                let nameValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = decode(nameValue[0], plusIsSpace: true),
                    let value = nameValue.count == 2 ? decode(nameValue[1], plusIsSpace: true) : ""
                else { return .failure(bad("malformed query")) }
                query.append((name, value))
            }
        }
        return .success((path, query))
    }

    /// Strict percent-decoding: `%` must be followed by two hex digits, the result must be
    /// UTF-8 (an overlong form such as `%c0%ae` is not) without control characters (NUL).
    static func decode(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x41...0x46: byte - 0x41 + 10
            case 0x61...0x66: byte - 0x61 + 10
            default: nil
            }
        }
        while index < utf8.count {
            let byte = utf8[index]
            if byte == 0x25 {
                guard index + 2 < utf8.count, let high = hex(utf8[index + 1]), let low = hex(utf8[index + 2]) else {
                    return nil
                }
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(plusIsSpace && byte == 0x2B ? 0x20 : byte)
                index += 1
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self),
            !decoded.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return nil }
        return decoded
    }
}

/// A response for a request that could not be parsed.
struct HTTPResponseError: Error {
    var response: HTTPResponse
    init(_ response: HTTPResponse) { self.response = response }
}

extension Result where Failure == HTTPResponseError {
    static func failure(_ response: HTTPResponse) -> Self { .failure(HTTPResponseError(response)) }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
            let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return String(scalars[first...last])
    }
}
