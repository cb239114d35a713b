import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing
import Windows

/// `mmstats serve` as a child process, listening on a port of its choice.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    private let err = Pipe()
    private var stderrText = ""
    /// The port it printed on stderr.
    private(set) var port: UInt16 = 0

    /// `mmstats serve --listen 127.0.0.1:0 ARGUMENTS`, or `EXECUTABLE COMMAND…` when given
    /// (`mmstats` by default; an executable that `exec`s `mmstats` keeps its process id).
    init(_ arguments: [String], executable: String = Binaries.mmstats, command: [String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = command ?? (["serve", "--listen", "127.0.0.1:0"] + arguments)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // "mmstats serve: listening on http://127.0.0.1:PORT"
        while port == 0 {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            stderrText += String(decoding: chunk, as: UTF8.self)
            if let range = stderrText.range(of: "listening on http://127.0.0.1:") {
                let digits = stderrText[range.upperBound...].prefix { $0.isNumber }
                if stderrText[range.upperBound...].dropFirst(digits.count).first == "\n" {
                    port = UInt16(digits) ?? 0
                }
            }
        }
    }

    /// Sends `signal`, waits for the exit; returns the status and everything on stderr.
    func stop(_ signal: Int32 = SIGTERM) -> (status: Int32, stderr: String) {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        stderrText += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, stderrText)
    }
}

/// A response as a raw client reads it.
struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: String
}

/// A small HTTP client over a plain socket, to send exactly the bytes a test wants.
final class RawClient {
    let fd: Int32
    /// Received and not yet taken by `response(head:)`.
    private(set) var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port`; reads wait at most 20 s (a hung server fails the test
    /// instead of hanging it).
    /// With `connect` false, `connect(port:)` connects later (socket options set between).
    init(port: UInt16, connect: Bool = true) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if connect {
            do {
                try self.connect(port: port)
            } catch {
                close(fd)
                throw error
            }
        }
    }

    /// Connects to 127.0.0.1:`port`.
    func connect(port: UInt16) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    /// Sends every byte; false when the server has closed the connection.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress.map { $0 + sent }, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// More bytes into the buffer; false at the end of the stream, a reset or a timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    /// The next response (a HEAD response has no body), or nil if the connection ended first.
    func response(head: Bool = false) -> RawResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        var end: Int?
        while end == nil {
            if buffer.count >= 4 {
                end = (0...(buffer.count - 4)).first { Array(buffer[$0..<$0 + 4]) == separator }
            }
            if end == nil && !fill() { return nil }
        }
        guard let end else { return nil }
        let headText = String(decoding: buffer[0..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        while buffer.count < length {
            if !fill() { return nil }
        }
        let body = String(decoding: buffer[0..<length], as: UTF8.self)
        buffer.removeFirst(length)
        return RawResponse(status: status, headers: headers, body: body)
    }

    /// True when the server closed the connection (or reset it) with nothing more to read.
    func isClosed() -> Bool { buffer.isEmpty && !fill() }
}

/// One request on a new connection.
func get(_ port: UInt16, _ target: String, method: String = "GET") throws -> RawResponse? {
    let client = try RawClient(port: port)
    client.send("\(method) \(target) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    return client.response(head: method == "HEAD")
}

/// The parsed JSON body of a response.
func json(_ response: RawResponse?) -> [String: Any] {
    guard let body = response?.body else { return [:] }
    return (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
}

/// `promtool check metrics` on `text`: whether it accepts it and what it said; nil when
/// promtool is not installed.
func promtool(_ text: String) throws -> (accepted: Bool, output: String)? {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    guard
        let path = (directories + ["/usr/bin"]).map({ $0 + "/promtool" }).first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        })
    else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = ["check", "metrics"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = output
    try process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let result = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus == 0, result)
}

/// The labels `/metrics` gives every series of a writer's file (its name is `PID-TID.mmstats`).
func fileLabels(_ writer: StatsWriter, model: String) -> String {
    let name = URL(fileURLWithPath: writer.path).deletingPathExtension().lastPathComponent
    let parts = name.split(separator: "-")
    return #"application="web",model="\#(model)",pid="\#(parts.first ?? "")",tid="\#(parts.last ?? "")""#
}

@Suite("mmstats serve", .serialized)
struct ServeTests {
    @Test("serves 300 files with RLIMIT_NOFILE 64: the files take no descriptors, connections are still accepted")
    func manyFilesFewDescriptors() throws {
        let dir = TemporaryDirectory("serve-fds")
        let writer = try StatsWriter(dir.options(application: "web", model: "Front"))
        try writer.counter("jobs").increment(by: 3)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: writer.path)))
        let model = dir.path + "/web/Front"
        for index in 0..<300 {
            let path = model + "/copy-\(index).mmstats"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
        }
        let server = try ServeProcess(
            [], executable: "/bin/sh",
            command: [
                "-c", #"ulimit -n 64 && exec "$0" serve --listen 127.0.0.1:0 --root "$1""#, Binaries.mmstats, dir.path,
            ])
        #expect(server.port != 0)
        // Each request reads every file; the readers kept between requests hold no descriptor.
        for _ in 0..<3 {
            let body = json(try get(server.port, "/api/files"))
            #expect((body["files"] as? [Any])?.count == 301)
            #expect((body["errors"] as? [Any])?.isEmpty == true, "\(body["errors"] ?? "")")
        }
        // 40 connections open at once still fit in the 64 descriptors.
        let clients = try (0..<40).map { _ in try RawClient(port: server.port) }
        for client in clients {
            client.send("GET /api/files HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        }
        for client in clients { #expect(client.response(head: false)?.status == 200) }
        let (status, stderr) = server.stop()
        #expect(status == 0, "\(stderr)")
    }

    @Test(
        "/metrics: counters, gauges, histograms with cumulative buckets, families grouped across files; promtool accepts it"
    )
    func metrics() throws {
        let dir = TemporaryDirectory("serve-metrics")
        let first = try StatsWriter(dir.options(application: "web", model: "Front"))
        let second = try StatsWriter(dir.options(application: "web", model: "Back"))
        let jobs = try first.counter("jobs", help: "jobs done")
        jobs.increment(by: 42)
        try second.counter("jobs", help: "jobs done").increment(by: 8)
        try first.gauge("queue.depth").set(-5)
        let sizes = try first.histogram("sizes", unit: "B")
        for value in [1, 1, 5, 200] { sizes.record(value) }
        try first.counter("requests", dimensions: ["path": #"a"b\c"#, "pid": "7", "httpCode": "200"]).increment()
        // Every other kind: its fields, with names promtool accepts.
        try first.meter("arrivals").mark()
        try first.movingAverage("recent", window: 10).add(4)
        try first.window("queue.wait", unit: "s").record(0.5)
        try first.text("state").set("draining\n\"now\"")
        try first.flag("ready").set(true)

        let server = try ServeProcess(["--root", dir.path])
        #expect(server.port != 0)
        let response = try #require(try get(server.port, "/metrics"))
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let body = response.body
        let pid = getpid()
        let front = fileLabels(first, model: "Front")
        let back = fileLabels(second, model: "Back")
        let lines = Set(body.split(separator: "\n").map(String.init))
        #expect(lines.contains("jobs_total{\(front)} 42"), "\(body)")
        #expect(lines.contains("jobs_total{\(back)} 8"))
        #expect(body.components(separatedBy: "# TYPE jobs_total counter\n").count == 2, "one family, never split")
        #expect(lines.contains("# HELP jobs_total jobs done"))
        let jobLines = body.split(separator: "\n").enumerated().filter { $0.element.hasPrefix("jobs_total") }.map(
            \.offset)
        #expect(jobLines.count == 2 && jobLines[1] == jobLines[0] + 1, "the family's samples are together")
        #expect(lines.contains("# TYPE queue_depth gauge"))
        #expect(lines.contains("queue_depth{\(front)} -5"))
        #expect(lines.contains("# TYPE sizes histogram"))
        #expect(lines.contains(#"sizes_bucket{\#(front),le="1"} 2"#), "\(body)")
        #expect(lines.contains(#"sizes_bucket{\#(front),le="5"} 3"#))
        #expect(lines.contains(#"sizes_bucket{\#(front),le="201"} 4"#), "200 is in the bucket [200, 201]")
        #expect(lines.contains(#"sizes_bucket{\#(front),le="+Inf"} 4"#))
        #expect(lines.contains("sizes_sum{\(front)} 207"))
        #expect(lines.contains("sizes_count{\(front)} 4"))
        // Dimensions: escaped values, camelCase names in snake case, a file label's name exported_.
        let request = try #require(lines.first { $0.hasPrefix("requests_total{") })
        #expect(request.contains(#"path="a\"b\\c""#), "\(request)")
        #expect(request.contains(#"exported_pid="7""#) && request.contains(#"pid="\#(pid)""#))
        #expect(request.contains(#"http_code="200""#))
        #expect(lines.contains("arrivals_total{\(front)} 1"))
        #expect(lines.contains("# TYPE arrivals_m1_rate gauge"))
        #expect(lines.contains("# TYPE recent summary") && lines.contains("recent_count{\(front)} 1"))
        #expect(lines.contains("recent_sum{\(front)} 4") && lines.contains("recent_mean{\(front)} 4"))
        #expect(lines.contains("queue_wait_count_value{\(front)} 1"), "no gauge ends in _count")
        #expect(lines.contains("queue_wait_sum_value{\(front)} 0.5"))
        #expect(lines.contains(#"state_info{\#(front),value="draining\n\"now\""} 1"#), "\(body)")
        #expect(lines.contains("ready{\(front)} 1"))

        if let check = try promtool(body) {
            #expect(check.accepted, "promtool check metrics: \(check.output)")
        } else {
            print("serve: /usr/bin/promtool is missing; the exposition was not checked by it")
        }

        // Fresh per scrape.
        jobs.increment(by: 1)
        let again = try #require(try get(server.port, "/metrics"))
        #expect(again.body.contains("jobs_total{\(front)} 43\n"))

        let (status, stderr) = server.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("mmstats serve: listening on http://127.0.0.1:"))
    }

    @Test("JSON API: files, metrics, aggregates; bad queries are 400 with a JSON error")
    func api() throws {
        let dir = TemporaryDirectory("serve-api")
        let first = try StatsWriter(dir.options(application: "web", model: "Front"))
        let second = try StatsWriter(dir.options(application: "web", model: "Back"))
        try first.counter("jobs").increment(by: 42)
        try second.counter("jobs").increment(by: 8)
        let sizes = try first.histogram("sizes")
        for value in [1, 1, 5, 200] { sizes.record(value) }
        let server = try ServeProcess(["--root", dir.path])

        let files = try #require(json(try get(server.port, "/api/files"))["files"] as? [[String: Any]])
        #expect(files.count == 2)
        #expect(Set(files.compactMap { $0["model"] as? String }) == ["Front", "Back"])
        #expect(files.allSatisfy { $0["pid"] as? Int == Int(getpid()) && $0["state"] as? String == "live" })
        #expect(files.first { $0["model"] as? String == "Front" }?["metrics"] as? Int == 2)

        let metrics = try #require(json(try get(server.port, "/api/metrics?name=jobs"))["metrics"] as? [[String: Any]])
        #expect(metrics.count == 2)
        #expect(Set(metrics.compactMap { ($0["exposed"] as? [String: Any])?["value"] as? Int }) == [42, 8])
        let all = try #require(json(try get(server.port, "/api/metrics"))["metrics"] as? [[String: Any]])
        let histogram = try #require(all.first { $0["name"] as? String == "sizes" })
        #expect((histogram["exposed"] as? [String: Any])?["count"] as? Int == 4)
        #expect(histogram["kind"] as? String == "histogram")

        let sum = json(try get(server.port, "/api/aggregate?name=jobs"))
        #expect(sum["count"] as? Int == 2 && sum["files"] as? Int == 2)
        #expect(sum["sum"] as? Double == 50 && sum["avg"] as? Double == 25)
        #expect(sum["min"] as? Double == 8 && sum["max"] as? Double == 42)
        let count = json(try get(server.port, "/api/aggregate?name=sizes&field=count"))
        #expect(count["sum"] as? Double == 4)
        let none = json(try get(server.port, "/api/aggregate?name=nothing"))
        #expect(none["count"] as? Int == 0 && none["avg"] is NSNull)

        for bad in [
            "/api/aggregate", "/api/aggregate?name=", "/api/aggregate?name=jobs&bogus=1",
            "/api/aggregate?name=a&name=b", "/api/metrics?x=1", "/api/aggregate?name=%zz", "/api/files?x",
            "/api/aggregate?name=jobs&field=", "/api/metrics?name=jobs&name=jobs",
        ] {
            let response = try #require(try get(server.port, bad))
            #expect(response.status == 400, "\(bad)")
            if bad != "/api/aggregate?name=%zz" {
                #expect(json(response)["error"] is String, "\(bad): \(response.body)")
            }
        }
        let missing = try #require(try get(server.port, "/api/nothing"))
        #expect(missing.status == 404 && json(missing)["error"] is String)
        let index = try #require(try get(server.port, "/"))
        #expect(index.status == 200 && index.body.contains("/metrics"))
        #expect(server.stop().status == 0)
    }

    @Test("hostile clients: traversal in every encoding, oversized and malformed requests; HEAD; keep-alive")
    func hostile() throws {
        let dir = TemporaryDirectory("serve-hostile")
        let stats = try StatsWriter(dir.options(application: "web", model: "Front"))
        try stats.counter("jobs").increment(by: 3)
        try write("secret-file-content", to: dir.path + "/secret.txt")
        let server = try ServeProcess(["--root", dir.path])
        let port = server.port

        let traversals = [
            "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/%252e%252e%252fetc%252fpasswd", "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "/%c0%af",
            #"/..\..\etc\passwd"#, "/metrics%00", "/metrics%00.txt", "/%00", "/secret.txt", "/web/Front",
            "//etc/passwd", "/./metrics", "/metrics/", "/metrics/../secret.txt", "/api/../secret.txt",
            "/%2fetc%2fpasswd", "/%", "/%g0", "/%2", "/api/files/..%2f..%2fsecret.txt",
            "http://127.0.0.1/etc/passwd", "http://127.0.0.1/metrics", "file:///etc/passwd", "*", "../secret.txt",
            "/%e0%80%ae", "/%ed%a0%80", "/metrics#x",
        ]
        for target in traversals {
            let response = try #require(try get(port, target), "\(target)")
            #expect([400, 404].contains(response.status), "\(target): \(response.status)")
            #expect(!response.body.contains("root:") && !response.body.contains("secret-file-content"))
        }

        // Oversized request line, oversized headers: 431, and the response is readable.
        let longLine = try RawClient(port: port)
        longLine.send("GET /" + String(repeating: "a", count: 20_000) + " HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(longLine.response()?.status == 431)
        let longHeaders = try RawClient(port: port)
        var headers = "GET /metrics HTTP/1.1\r\nHost: t\r\n"
        for i in 0..<200 { headers += "X-Filler-\(i): " + String(repeating: "b", count: 100) + "\r\n" }
        longHeaders.send(headers + "\r\n")
        #expect(longHeaders.response()?.status == 431)
        #expect(longHeaders.isClosed())

        let malformed: [(String, Int)] = [
            ("GARBAGE\r\n\r\n", 400), ("GET /metrics\r\n\r\n", 400), ("GET /metrics HTTP/9.9\r\nHost: t\r\n\r\n", 505),
            ("GET  /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 400), ("GET /metrics HTTP/1.1\r\n\r\n", 400),
            ("GET /metrics HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n", 400),
            ("GET /metrics HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", 400),
            ("GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 413),
            ("GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
            ("GET /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413),
            ("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 405),
            ("DELETE /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 405), ("\u{1}\u{2}\u{7f} \u{80} x\r\n\r\n", 400),
            ("GET /m\u{e9}trics HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        ]
        for (request, expected) in malformed {
            let client = try RawClient(port: port)
            client.send(request)
            let response = client.response()
            #expect(
                response?.status == expected, "\(request.debugDescription): \(String(describing: response?.status))")
        }
        let binary = try RawClient(port: port)
        binary.send((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) } + [13, 10, 13, 10])
        #expect(binary.response().map { $0.status >= 400 && $0.status < 500 } ?? binary.isClosed())

        // HEAD: the headers of GET, no body; then keep-alive: the next request on the same connection.
        let keepAlive = try RawClient(port: port)
        keepAlive.send("HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try #require(keepAlive.response(head: true))
        #expect(head.status == 200 && Int(head.headers["content-length"] ?? "") ?? 0 > 0)
        #expect(head.headers["connection"] == "keep-alive")
        keepAlive.send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try #require(keepAlive.response())
        #expect(first.status == 200 && first.body.contains("jobs_total{"), "no HEAD body was sent before it")
        #expect(String(first.body.utf8.count) == head.headers["content-length"])
        keepAlive.send("GET /api/files HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let second = try #require(keepAlive.response())
        #expect(second.status == 200 && second.headers["connection"] == "close")
        #expect(keepAlive.isClosed(), "Connection: close is honoured")
        // Pipelined: two requests in one write, two responses in order.
        let pipelined = try RawClient(port: port)
        pipelined.send("GET /api/files HTTP/1.1\r\nHost: t\r\n\r\nGET /nothing HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(pipelined.response()?.status == 200)
        #expect(pipelined.response()?.status == 404)
        // HTTP/1.0: closed after the response unless asked to keep it.
        let old = try RawClient(port: port)
        old.send("GET /metrics HTTP/1.0\r\n\r\n")
        #expect(old.response()?.status == 200)
        #expect(old.isClosed())

        // Still serving after all of it.
        #expect(try get(port, "/metrics")?.status == 200)
        let (status, stderr) = server.stop()
        #expect(status == 0, "\(stderr)")
    }

    @Test("a client that stalls mid-request holds up nobody; one that never finishes gets 408")
    func stalledClients() throws {
        let dir = TemporaryDirectory("serve-stall")
        try StatsWriter(dir.options(application: "web", model: "Front")).counter("jobs").increment(by: 3)
        // A long header timeout: the stalled client is still open when the others are done.
        let server = try ServeProcess(["--root", dir.path, "--header-timeout", "600"])
        let stalled = try RawClient(port: server.port)
        stalled.send("GET /api/files HTTP/1.1\r\nHost: t\r\n")
        for _ in 0..<5 {
            #expect(try get(server.port, "/metrics")?.status == 200)
            #expect(try get(server.port, "/api/files")?.status == 200)
        }
        stalled.send("\r\n")
        #expect(stalled.response()?.status == 200, "the stalled client was kept, and answered once complete")
        #expect(server.stop().status == 0)

        let strict = try ServeProcess(["--root", dir.path, "--header-timeout", "0.3"])
        let slow = try RawClient(port: strict.port)
        slow.send("GET /metrics HTTP/1.1\r\nHo")
        #expect(slow.response()?.status == 408)
        #expect(slow.isClosed())
        let silent = try RawClient(port: strict.port)
        #expect(silent.isClosed(), "a connection that never sends anything is closed too")
        #expect(try get(strict.port, "/metrics")?.status == 200)
        #expect(strict.stop(SIGINT).status == 0)
    }

    @Test("300 simultaneous connections: at most 256 served at once, the rest refused with 503; service goes on")
    func manyConnections() throws {
        let dir = TemporaryDirectory("serve-many")
        try StatsWriter(dir.options(application: "web", model: "Front")).counter("jobs").increment(by: 3)
        let server = try ServeProcess(["--root", dir.path])
        var clients: [RawClient] = []
        for _ in 0..<300 { clients.append(try RawClient(port: server.port)) }
        var served = 0
        var refused = 0
        for client in clients {
            client.send("GET /api/files HTTP/1.1\r\nHost: t\r\n\r\n")
        }
        for client in clients {
            switch client.response()?.status {
            case 200: served += 1
            case 503, nil: refused += 1
            case let other: Issue.record("unexpected status \(String(describing: other))")
            }
        }
        #expect(served + refused == 300)
        #expect(served <= 256 && served >= 200, "served \(served), refused \(refused)")
        #expect(refused >= 44)
        clients.removeAll()
        var answered = false
        for _ in 0..<100 where !answered {
            answered = try get(server.port, "/metrics")?.status == 200
            if !answered { usleep(50_000) }  // until the server has seen the closes
        }
        #expect(answered)
        #expect(server.stop().status == 0)
    }

    @Test("--manifest: the processor runs in-process and its derived metrics appear on /metrics")
    func manifest() throws {
        let dir = TemporaryDirectory("serve-manifest")
        let stats = try StatsWriter(dir.options(application: "web", model: "Front"))
        try stats.counter("jobs").increment(by: 100)
        let manifest = dir.path + "/m.json"
        try write(
            #"{ "sources": { "applications": ["web"] }, "entries": [ { "destination": "double_jobs", "type": "integer", "expression": "jobs * 2", "description": "twice the jobs" }, { "destination": "all_jobs", "type": "counter", "expression": "jobs" } ] }"#,
            to: manifest)
        let server = try ServeProcess(["--root", dir.path, "--manifest", manifest, "--interval", "0.1"])
        var body = ""
        for _ in 0..<100 {
            body = try get(server.port, "/metrics")?.body ?? ""
            if body.contains("double_jobs{") && body.contains("all_jobs_total{") { break }
            usleep(50_000)
        }
        let lines = body.split(separator: "\n").map(String.init)
        let derived = try #require(lines.first { $0.hasPrefix("double_jobs{") }, "\(body)")
        #expect(derived.hasSuffix("} 200"))
        #expect(
            derived.contains(#"application="mmstats",model="processor",pid="\#(server.process.processIdentifier)""#))
        #expect(lines.contains("# TYPE double_jobs gauge") && lines.contains("# HELP double_jobs twice the jobs"))
        #expect(lines.contains { $0.hasPrefix("all_jobs_total{") && $0.hasSuffix("} 100") })
        #expect(lines.contains { $0.hasPrefix("jobs_total{") && $0.hasSuffix("} 100") }, "beside the raw metrics")
        if let check = try promtool(body) { #expect(check.accepted, "\(check.output)") }
        let aggregate = json(try get(server.port, "/api/aggregate?name=double_jobs"))
        #expect(aggregate["sum"] as? Double == 200)
        let (status, stderr) = server.stop()
        #expect(status == 0, "\(stderr)")
        let results = (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/mmstats/processor")) ?? []
        #expect(results.isEmpty, "the results file is removed at the end: \(results)")
    }

    @Test("a port that is taken: the address and the reason on one line, status 1")
    func portTaken() throws {
        let dir = TemporaryDirectory("serve-port-taken")
        let first = try ServeProcess(["--root", dir.path])
        try #require(first.port != 0)
        defer { _ = first.stop() }
        let second = try run(Binaries.mmstats, ["serve", "--root", dir.path, "--listen", "127.0.0.1:\(first.port)"])
        #expect(second.status == 1)
        #expect(
            second.stderr == "mmstats serve: cannot listen on 127.0.0.1:\(first.port): Address already in use\n",
            "\(second.stderr)")
    }

    @Test("bad options: a clear message and status 2")
    func options() throws {
        for arguments in [
            ["--listen", "nowhere"], ["--listen", "127.0.0.1:99999"], ["--listen", "[::1]"], ["--bogus", "1"],
            ["--max-connections", "0"], ["--root"], ["--write-timeout", "0"], ["--write-timeout", "x"],
        ] {
            let result = try run(Binaries.mmstats, ["serve"] + arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains("mmstats serve:"), "\(result.stderr)")
        }
    }
}
