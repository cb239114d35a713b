import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The stats files under a root, read afresh at each request through a `StatsScanner`, which
/// keeps a reader per file between requests (metadata is parsed again only when a file's
/// generation changes; a file replaced at its path is opened afresh). Kept readers hold a
/// mapping each but no descriptor, so many files do not take the descriptors that `accept`
/// needs.
final class ServeCatalog {
    let root: String
    /// At most this many files are read per request (the rest are reported in `errors`).
    static let maximumFiles = 10_000
    private let scanner: StatsScanner

    init(root: String) {
        self.root = root
        self.scanner = StatsScanner(paths: [root])
    }

    /// A snapshot of every readable file, sorted by path, and a message for each problem.
    func snapshots() -> (snapshots: [Snapshot], errors: [String]) {
        var errors: [String] = []
        var files = scanner.files { errors.append($0.description) }
        if files.count > Self.maximumFiles {
            errors.append(
                "mmstats: \(root): \(files.count) stats files; only the first \(Self.maximumFiles) are read")
            files = Array(files.prefix(Self.maximumFiles))
        }
        var snapshots: [Snapshot] = []
        snapshots.reserveCapacity(files.count)
        // A file removed since the directory was listed is left out.
        scanner.forEachSnapshot(of: files, onError: { errors.append($0.description) }) { snapshots.append($0) }
        return (snapshots, errors)
    }
}

/// The endpoints of `mmstats serve` (docs/SERVE.md): `/`, `/metrics`, `/api/files`,
/// `/api/metrics` and `/api/aggregate`. Every other path is 404: nothing maps a URL to a file.
struct ServeAPI {
    let catalog: ServeCatalog

    static let prometheusType = "text/plain; version=0.0.4; charset=utf-8"
    static let jsonType = "application/json"

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        switch request.path {
        case "/": return dashboard()
        case "/index": return noQuery(request) ?? index()
        case "/metrics": return noQuery(request) ?? metrics()
        case "/api/files": return noQuery(request) ?? files()
        case "/api/metrics": return metricList(request)
        case "/api/aggregate": return aggregate(request)
        default:
            return request.path.hasPrefix("/api/")
                ? Self.error(404, "no such endpoint") : HTTPResponse(status: 404, text: "not found\n")
        }
    }

    /// 400 when a request that takes no parameters has some.
    private func noQuery(_ request: HTTPRequest) -> HTTPResponse? {
        guard let first = request.query.first else { return nil }
        let message = "unknown parameter '\(first.name)'"
        return request.path.hasPrefix("/api/")
            ? Self.error(400, message) : HTTPResponse(status: 400, text: message + "\n")
    }

    static func json(_ status: Int, _ value: JSON) -> HTTPResponse {
        var output = ""
        value.render(into: &output)
        output += "\n"
        return HTTPResponse(status: status, contentType: jsonType, body: Array(output.utf8))
    }

    static func error(_ status: Int, _ message: String) -> HTTPResponse {
        json(status, .object([("error", .string(message))]))
    }

    /// The live dashboard (its query string is read by the page's script).
    private func dashboard() -> HTTPResponse {
        HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: Array(DashboardPage.html.utf8))
    }

    private func index() -> HTTPResponse {
        let html = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>mmstats</title></head>
            <body><h1>mmstats serve</h1>
            <ul>
            <li><a href="/metrics">/metrics</a>: every metric, Prometheus text format 0.0.4</li>
            <li><a href="/api/files">/api/files</a>: the stats files</li>
            <li><a href="/api/metrics">/api/metrics</a>: every metric and its exposed fields (JSON)</li>
            <li>/api/aggregate?name=NAME&amp;field=FIELD: sum, avg, min, max and count over every file</li>
            </ul></body></html>

            """
        return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: Array(html.utf8))
    }

    private func metrics() -> HTTPResponse {
        let (snapshots, _) = catalog.snapshots()
        let now = StatsClock.system.now()
        var text = PrometheusText()
        for snapshot in snapshots { text.add(snapshot, now: now) }
        return HTTPResponse(status: 200, contentType: Self.prometheusType, body: Array(text.render().utf8))
    }

    private static func errorsJSON(_ errors: [String]) -> JSON { .array(errors.map { .string($0) }) }

    private func files() -> HTTPResponse {
        let (snapshots, errors) = catalog.snapshots()
        let files: [JSON] = snapshots.map { snapshot in
            let writer = snapshot.writer
            return .object([
                ("path", .string(snapshot.path)), ("version", .int(Int64(snapshot.version))),
                ("application", .string(writer.application)), ("model", .string(writer.model)),
                ("pid", .int(Int64(writer.pid))), ("tid", .int(writer.tid)), ("start_time", .uint(writer.startTime)),
                ("state", .string(writer.state.rawValue)), ("generation", .uint(snapshot.generation)),
                ("metrics", .int(Int64(snapshot.count))),
            ])
        }
        return Self.json(200, .object([("files", .array(files)), ("errors", Self.errorsJSON(errors))]))
    }

    /// Parameters by name; 400 for an unknown or repeated one.
    private func parameters(_ request: HTTPRequest, allowed: Set<String>) -> Result<[String: String], HTTPResponseError>
    {
        var result: [String: String] = [:]
        for (name, value) in request.query {
            guard allowed.contains(name) else { return .failure(Self.error(400, "unknown parameter '\(name)'")) }
            guard result[name] == nil else { return .failure(Self.error(400, "parameter '\(name)' given twice")) }
            result[name] = value
        }
        return .success(result)
    }

    private func metricList(_ request: HTTPRequest) -> HTTPResponse {
        let parameters: [String: String]
        switch self.parameters(request, allowed: ["name"]) {
        case .success(let found): parameters = found
        case .failure(let error): return error.response
        }
        if parameters["name"]?.isEmpty == true { return Self.error(400, "parameter 'name' is empty") }
        let (snapshots, errors) = catalog.snapshots()
        let now = StatsClock.system.now()
        var metrics: [JSON] = []
        for snapshot in snapshots {
            for sample in snapshot.metrics {
                let d = sample.descriptor
                if let name = parameters["name"], d.name != name { continue }
                var members: [(String, JSON)] = [
                    ("file", .string(snapshot.path)), ("name", .string(d.name)),
                    ("dimensions", .object(d.dimensions.map { ($0.key, .string($0.value)) })),
                    ("kind", .string(d.kind)), ("unit", .string(d.unit)), ("description", .string(d.help)),
                ]
                if let error = sample.error {
                    members.append(("error", .string(error)))
                } else {
                    let exposed = sample.exposedFields(in: .shared, now: now)
                    members.append(("exposed", .object(exposed.map { ($0.name, JSON($0.value)) })))
                }
                metrics.append(.object(members))
            }
        }
        return Self.json(200, .object([("metrics", .array(metrics)), ("errors", Self.errorsJSON(errors))]))
    }

    private func aggregate(_ request: HTTPRequest) -> HTTPResponse {
        let parameters: [String: String]
        switch self.parameters(request, allowed: ["name", "field"]) {
        case .success(let found): parameters = found
        case .failure(let error): return error.response
        }
        guard let name = parameters["name"], !name.isEmpty else {
            return Self.error(400, "parameter 'name' is required")
        }
        let field = parameters["field"] ?? "value"
        guard !field.isEmpty else { return Self.error(400, "parameter 'field' is empty") }
        let (snapshots, errors) = catalog.snapshots()
        let now = StatsClock.system.now()
        var values: [Double] = []
        var files = 0
        for snapshot in snapshots {
            var found = false
            for sample in snapshot.metrics where sample.error == nil && sample.descriptor.name == name {
                guard let value = sample.exposedFields(in: .shared, now: now).first(where: { $0.name == field })?.value
                else { continue }
                let number: Double
                switch value {
                case .int(let v): number = Double(v)
                case .uint(let v): number = Double(v)
                case .double(let v): number = v
                case .bool(let v): number = v ? 1 : 0
                case .string: continue
                }
                guard number.isFinite else { continue }
                values.append(number)
                found = true
            }
            if found { files += 1 }
        }
        // Finite values can still add up past the largest binary64 (the sum is then "inf"); the
        // average is taken without the sum then, so that it stays finite.
        let sum = values.reduce(0, +)
        let count = Double(values.count)
        let average = sum.isFinite ? sum / count : values.reduce(0) { $0 + $1 / count }
        func number(_ value: Double?) -> JSON { value.map { JSON(.double($0)) } ?? .null }
        return Self.json(
            200,
            .object([
                ("name", .string(name)), ("field", .string(field)), ("count", .int(Int64(values.count))),
                ("files", .int(Int64(files))), ("sum", JSON(.double(sum))),
                ("avg", number(values.isEmpty ? nil : average)),
                ("min", number(values.min())), ("max", number(values.max())),
                ("errors", Self.errorsJSON(errors)),
            ]))
    }
}
