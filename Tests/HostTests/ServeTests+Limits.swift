import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// The CPU time (user + system, in seconds) `pid` has used so far, from `/proc/PID/stat`.
private func cpuSeconds(_ pid: Int32) throws -> Double {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // After "PID (COMM) ": state is field 3, utime field 14, stime field 15.
    let fields = try #require(stat.range(of: ") ").map { stat[$0.upperBound...].split(separator: " ") })
    let ticks = try #require(Double(fields[11])) + #require(Double(fields[12]))
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Seconds on the monotonic clock.
private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Waits (at most 20 s) until the peer of `client` has closed or reset the connection,
/// without reading anything from it; true if it did.
private func waitForPeerClose(_ client: RawClient, meanwhile: () -> Void = {}) -> Bool {
    let pollReadHangUp = Int16(0x2000)  // POLLRDHUP: the peer shut down its sending side
    for _ in 0..<100 {
        var entry = pollfd(fd: client.fd, events: pollReadHangUp, revents: 0)
        _ = poll(&entry, 1, 200)
        if entry.revents & (pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0 { return true }
        meanwhile()
    }
    return false
}

extension ServeTests {
    @Test(
        "out of descriptors: waiting connections are answered 503 and closed, the loop does not spin; service resumes")
    func outOfDescriptors() throws {
        let dir = TemporaryDirectory("serve-emfile")
        try StatsWriter(dir.options(application: "web", model: "Front")).counter("jobs").increment(by: 3)
        // The server may open 32 descriptors; long timeouts keep the idle connections open.
        let server = try ServeProcess(
            [], executable: "/bin/sh",
            command: [
                "-c", #"ulimit -n 32 && exec "$0" "$@""#, Binaries.mmstats, "serve", "--listen", "127.0.0.1:0",
                "--root", dir.path, "--header-timeout", "600", "--idle-timeout", "600",
            ])
        try #require(server.port != 0)
        let pid = server.process.processIdentifier
        var clients: [RawClient] = []
        for _ in 0..<60 { clients.append(try RawClient(port: server.port)) }
        // Every connection is either held (it gets an answer to a request) or answered 503 at
        // once: the last one is past the limit.
        let refused = try #require(clients.last)
        #expect(refused.response()?.status == 503)
        #expect(refused.isClosed())

        // At the limit, with connections open and nothing to do: the loop sleeps in poll.
        let cpuBefore = try cpuSeconds(pid)
        let wallBefore = monotonicSeconds()
        usleep(2_000_000)
        let cpu = try cpuSeconds(pid) - cpuBefore
        let wall = monotonicSeconds() - wallBefore
        #expect(cpu < wall / 10, "the server used \(cpu) s of CPU in \(wall) s while out of descriptors")

        // A new connection while at the limit: 503 too.
        #expect(try get(server.port, "/metrics")?.status == 503)
        // Once the held connections go, the server answers again.
        clients.removeAll()
        var answered = false
        for _ in 0..<100 where !answered {
            answered = try get(server.port, "/metrics")?.status == 200
            if !answered { usleep(50_000) }  // until the server has seen the closes
        }
        #expect(answered)
        let (status, stderr) = server.stop()
        #expect(status == 0, "\(stderr)")
    }

    @Test("a body is never taken for a request: 405 and 413 close the connection, the body is not answered")
    func requestBodies() throws {
        let dir = TemporaryDirectory("serve-bodies")
        try StatsWriter(dir.options(application: "web", model: "Front")).counter("jobs").increment(by: 3)
        let server = try ServeProcess(["--root", dir.path])
        let smuggled = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"
        for (method, status) in [("POST", 405), ("PUT", 405), ("GET", 413), ("HEAD", 413)] {
            let client = try RawClient(port: server.port)
            client.send(
                "\(method) /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n" + smuggled)
            let response = try #require(client.response(), "\(method)")
            #expect(response.status == status, "\(method)")
            #expect(response.headers["connection"] == "close", "\(method)")
            #expect(client.isClosed(), "\(method): the body got no response of its own")
        }
        let chunked = try RawClient(port: server.port)
        chunked.send(
            "POST /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n22\r\n\(smuggled)\r\n0\r\n\r\n")
        #expect(chunked.response()?.status == 405)
        #expect(chunked.isClosed())
        // Without a body a 405 keeps the connection.
        let plain = try RawClient(port: server.port)
        plain.send("DELETE /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        let refused = try #require(plain.response())
        #expect(refused.status == 405 && refused.headers["connection"] == "keep-alive")
        #expect(refused.headers["allow"] == "GET, HEAD")
        plain.send(smuggled)
        #expect(plain.response()?.status == 200)
        #expect(server.stop().status == 0)
    }

    @Test("a request sent a byte at a time (its end split across reads) is answered")
    func byteByByte() throws {
        let dir = TemporaryDirectory("serve-bytes")
        try StatsWriter(dir.options(application: "web", model: "Front")).counter("jobs").increment(by: 3)
        let server = try ServeProcess(["--root", dir.path])
        let client = try RawClient(port: server.port)
        var one: Int32 = 1
        setsockopt(client.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        for request in ["GET /api/files HTTP/1.1\r\nHost: t\r\n\r\n", "GET /api/files HTTP/1.1\nHost: t\n\n"] {
            for byte in request.utf8 {
                client.send([byte])
                usleep(1000)
            }
            let response = try #require(client.response(), "\(request.debugDescription)")
            #expect(response.status == 200, "\(request.debugDescription)")
        }
        #expect(server.stop().status == 0)
    }

    @Test(
        "a client that never reads its responses is closed after --write-timeout, whatever it sends; others are served")
    func writeStall() throws {
        let dir = TemporaryDirectory("serve-write-stall")
        let writer = try StatsWriter(dir.options(application: "web", model: "Front"))
        for index in 0..<2000 { try writer.counter("counter\(index)", help: "counter number \(index)").increment() }
        let server = try ServeProcess(
            ["--root", dir.path, "--write-timeout", "0.5", "--header-timeout", "1", "--idle-timeout", "600"])
        let metrics = try #require(try get(server.port, "/metrics"))
        #expect(metrics.status == 200)

        // A small receive buffer, set before connecting, then responses asked for and never
        // read, while the client keeps sending (half a request, a byte at a time, more often
        // than the timeouts): what it sends never keeps the connection open. 1 MiB: the
        // server's socket buffer (which grows to 4 MiB with Linux's default tcp_wmem) takes it
        // all, the half request is timed out. 6 MiB: more than that buffer holds, less than
        // the 4 MiB of pending output at which the server stops reading the connection: the
        // write timeout. 17 MiB: reading stops, the write timeout.
        for megabytes in [1, 6, 17] {
            let stalled = try RawClient(port: 0, connect: false)
            var size: Int32 = 4096
            setsockopt(stalled.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            try stalled.connect(port: server.port)
            let requests = (megabytes << 20) / metrics.body.utf8.count + 1
            stalled.send(String(repeating: "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", count: requests))
            stalled.send("GET /metrics HTTP/1.1\r\n")
            var served = 0
            let closed = waitForPeerClose(stalled) {
                stalled.send("X")
                if served < 3, (try? get(server.port, "/api/files"))?.status == 200 { served += 1 }
            }
            #expect(closed, "\(megabytes) MiB: the stalled connection was closed")
            #expect(served > 0, "\(megabytes) MiB: others were served meanwhile")
        }
        let (status, stderr) = server.stop()
        #expect(status == 0, "\(stderr)")
    }

    @Test("/metrics: whole binary64 values below 1e15 as integers, others shortest round-trip, +Inf, -Inf, NaN")
    func doubles() throws {
        let dir = TemporaryDirectory("serve-doubles")
        let writer = try StatsWriter(dir.options(application: "web", model: "Front"))
        let values: [(String, Double, String)] = [
            ("whole", 4, "4"), ("half", 0.5, "0.5"), ("negative", -2.25, "-2.25"),
            ("large", 999_999_999_999_999, "999999999999999"),
            ("huge", 1e15, "1000000000000000.0"), ("huger", 1e16, "1e+16"), ("tiny", 1e-7, "1e-07"),
            ("zero", -0.0, "0"), ("up", .infinity, "+Inf"),
            ("down", -.infinity, "-Inf"), ("undefined", .nan, "NaN"),
        ]
        for (name, value, _) in values { try writer.doubleGauge(name).set(value) }
        let server = try ServeProcess(["--root", dir.path])
        let body = try #require(try get(server.port, "/metrics")).body
        let lines = Set(body.split(separator: "\n").map(String.init))
        let labels = fileLabels(writer, model: "Front")
        for (name, _, text) in values {
            #expect(lines.contains("\(name){\(labels)} \(text)"), "\(name): \(body)")
        }
        if let check = try promtool(body) { #expect(check.accepted, "promtool check metrics: \(check.output)") }
        #expect(server.stop().status == 0)
    }

    @Test(
        "/api/aggregate: non-finite values are skipped; a sum past binary64 is \"inf\", still JSON; /api/metrics?name= is 400"
    )
    func aggregateOverflow() throws {
        let dir = TemporaryDirectory("serve-overflow")
        let writer = try StatsWriter(dir.options(application: "web", model: "Front"))
        try writer.doubleGauge("big", dimensions: ["n": "1"]).set(1e308)
        try writer.doubleGauge("big", dimensions: ["n": "2"]).set(1e308)
        try writer.doubleGauge("big", dimensions: ["n": "3"]).set(.infinity)
        try writer.doubleGauge("odd").set(.nan)
        let server = try ServeProcess(["--root", dir.path])

        let big = try #require(try get(server.port, "/api/aggregate?name=big"))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(big.body.utf8)) as? [String: Any])
        #expect(parsed["count"] as? Int == 2, "the infinite value is skipped: \(big.body)")
        #expect(parsed["sum"] as? String == "inf")
        #expect(parsed["avg"] as? Double == 1e308 && parsed["max"] as? Double == 1e308)
        let odd = try #require(try get(server.port, "/api/aggregate?name=odd"))
        let oddParsed = try #require(try JSONSerialization.jsonObject(with: Data(odd.body.utf8)) as? [String: Any])
        #expect(oddParsed["count"] as? Int == 0 && oddParsed["sum"] as? Double == 0 && oddParsed["avg"] is NSNull)
        // /api/metrics shows the values themselves, non-finite ones as strings.
        let listed = try #require(try get(server.port, "/api/metrics"))
        let metrics = try #require(
            (try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any])?["metrics"]
                as? [[String: Any]])
        let exposed = metrics.compactMap { ($0["exposed"] as? [String: Any])?["value"] }
        #expect(exposed.compactMap { $0 as? String }.sorted() == ["inf", "nan"], "\(listed.body)")

        let empty = try #require(try get(server.port, "/api/metrics?name="))
        #expect(empty.status == 400 && json(empty)["error"] as? String == "parameter 'name' is empty")
        let named = json(try get(server.port, "/api/metrics?name=odd"))["metrics"] as? [Any]
        #expect(named?.count == 1)
        #expect(server.stop().status == 0)
    }
}

extension ServeTests {
    /// Responses already received by `client` (read into its buffer, or waiting in its
    /// socket), counted without waiting.
    private static func responsesWaiting(_ client: RawClient) -> Int {
        var bytes = client.buffer
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        let marker = Array("HTTP/1.1 200".utf8)
        guard bytes.count >= marker.count else { return 0 }
        return (0...(bytes.count - marker.count)).count {
            bytes[$0] == marker[0] && Array(bytes[$0..<$0 + marker.count]) == marker
        }
    }

    @Test("a client pipelining many requests takes turns with the others: one answered per turn")
    func pipelinedFairness() throws {
        let dir = TemporaryDirectory("serve-fair")
        var writers: [StatsWriter] = []
        for index in 0..<40 {
            let stats = try StatsWriter(dir.options(application: "web", model: "M\(index)"))
            for metric in 0..<20 { try stats.counter("jobs\(metric)").increment(by: UInt64(index + 1)) }
            writers.append(stats)
        }
        let server = try ServeProcess(["--root", dir.path])
        let greedy = try RawClient(port: server.port)
        let requests = 400
        let request = "GET /api/aggregate?name=jobs7 HTTP/1.1\r\nHost: t\r\n\r\n"
        #expect(greedy.send(String(repeating: request, count: requests)))
        // Its first answer: the server is working through its queue.
        let first = try #require(greedy.response())
        #expect(first.status == 200)
        #expect(json(first)["sum"] as? Int == (1...40).reduce(0, +))
        // Another client's one request is answered while most of the queue still waits.
        let other = try RawClient(port: server.port)
        other.send("GET /api/files HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(other.response()?.status == 200)
        let answeredMeanwhile = Self.responsesWaiting(greedy)
        #expect(answeredMeanwhile < requests / 2, "\(answeredMeanwhile) of the greedy client's requests came first")
        // And the greedy client still gets every answer.
        var received = 1 + answeredMeanwhile
        while received < requests, let response = greedy.response() {
            #expect(response.status == 200)
            received += 1
        }
        #expect(received == requests)
        #expect(server.stop().status == 0)
        for writer in writers { writer.close() }
    }
}
