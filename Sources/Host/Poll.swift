import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `mmstats poll [--interval S] [--count N] [--root PATH] NAME ...`: a `vmstat`-like live view.
enum Poll {
    static let usage = """
        usage: mmstats poll [--interval S] [--count N] [--root PATH] NAME ...
          Prints one row per interval, one column per NAME, over every *.mmstats file under the
          stats root (default: \(StatsDirectory.defaultRoot())). NAME is a metric's name
          (every dimension set is included), its name with dimensions as slurp prints it
          (name{k=v}), or NAME.FIELD for a field the metric's kind exposes (web.latency.p99).
          counter  the change since the previous row, summed over the files (a file that
                   appeared or a counter that went down counts from 0); the first row shows
                   the totals, marked with '*'
          gauge    the current value, summed over the files
          field    count and sum are summed, min is the smallest, any other field the largest
          -        no file has the metric (or field)
          The header is printed again every 20 rows (sooner on a short terminal).
          --interval S   seconds between rows (default 1)
          --count N      stop after N rows (default: until SIGINT or SIGTERM)
          --root PATH    a stats file or directory to search instead of the root (repeatable)
        """

    /// How values of one column from several files or dimension sets combine.
    enum Rule {
        case sum, minimum, maximum

        /// The rule for a field of a kind other than counter and gauge.
        init(field: String) {
            switch field {
            case "count", "sum": self = .sum
            case "min": self = .minimum
            default: self = .maximum
            }
        }
    }

    /// One column's contributions in one row.
    struct Cell {
        /// Sum of the counters' changes (or totals, in the first row).
        var counter: UInt64? = nil
        /// Everything else, combined.
        var value: Value? = nil

        mutating func add(counter amount: UInt64) { counter = (counter ?? 0) &+ amount }

        mutating func add(_ other: Value, _ rule: Rule) {
            value = value.map { Poll.combine($0, other, rule) } ?? other
        }

        /// The cell's text: `-` when nothing matched.
        func text(markCounters: Bool) -> String {
            switch (counter, value) {
            case (nil, nil): return "-"
            case (let counter?, nil): return String(counter) + (markCounters ? "*" : "")
            case (nil, let value?): return Poll.format(value)
            case (let counter?, let value?): return Poll.format(Poll.combine(.uint(counter), value, .sum))
            }
        }
    }

    /// A counter's last value in one file, to compute its change.
    struct CounterKey: Hashable {
        let path: String
        let pid: Int32
        let tid: Int64
        let created: UInt64
        let column: Int
        let metric: String
    }

    static func run(_ arguments: [String]) -> Int32 {
        var interval = 1.0
        var count: Int? = nil
        var paths: [String] = []
        var names: [String] = []
        var index = 0
        func value(_ option: String) -> String? {
            guard index < arguments.count else { return nil }
            index += 1
            return arguments[index - 1]
        }
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            switch argument {
            case "--interval":
                guard let text = value(argument), let seconds = Double(text), seconds.isFinite, seconds >= 0.001,
                    seconds <= 86_400
                else {
                    printError("mmstats poll: --interval takes seconds from 0.001 to 86400\n\(usage)")
                    return 2
                }
                interval = seconds
            case "--count":
                guard let text = value(argument), let rows = Int(text), rows > 0 else {
                    printError("mmstats poll: --count takes a number of rows, at least 1\n\(usage)")
                    return 2
                }
                count = rows
            case "--root":
                guard let path = value(argument) else {
                    printError("mmstats poll: --root takes a path\n\(usage)")
                    return 2
                }
                paths.append(path)
            case "-h", "--help":
                print(usage)
                return 0
            default:
                if argument.hasPrefix("-") {
                    printError("mmstats poll: unknown option '\(argument.terminalSafe)'\n\(usage)")
                    return 2
                }
                names.append(argument)
            }
        }
        guard !names.isEmpty else {
            printError("mmstats poll: name at least one metric\n\(usage)")
            return 2
        }
        if paths.isEmpty { paths = [StatsDirectory.defaultRoot()] }
        // SIGINT and SIGTERM: finish the row being printed and exit (SIGHUP keeps its default).
        SignalWake.install([SIGINT, SIGTERM])

        let headers = names.map(\.terminalSafe)
        var widths = headers.map(\.count)
        var previous: [CounterKey: UInt64] = [:]
        var reported: Set<String> = []
        let onTerminal = isatty(1) == 1
        let step = UInt64(interval * 1e9)
        let start = SignalWake.now()
        var tick: UInt64 = 0
        var row = 0
        var rowsSinceHeader = 0
        // Keeps a reader per file between rows (metadata parsed again only when it changes).
        let scanner = StatsScanner(paths: paths)
        while !SignalWake.stopRequested {
            let cells = sample(names, scanner: scanner, previous: &previous, reported: &reported)
            let texts = cells.map { $0.text(markCounters: row == 0) }
            var widened = row == 0
            for (column, text) in texts.enumerated() where text.count > widths[column] {
                widths[column] = text.count
                widened = true
            }
            if widened || rowsSinceHeader >= headerEvery(onTerminal: onTerminal) {
                print(line(headers, widths))
                rowsSinceHeader = 0
            }
            print(line(texts, widths))
            rowsSinceHeader += 1
            row += 1
            fflush(nil)
            if let count, row >= count { break }
            // The next multiple of the interval after now: a slow row skips ticks, never drifts.
            let elapsed = SignalWake.now() &- start
            tick = max(tick + 1, elapsed / step + 1)
            SignalWake.sleep(until: start &+ tick &* step)
        }
        return 0
    }

    /// Reads every file once, through `scanner` (which keeps the readers between rows), and adds
    /// each column's matches; remembers the counters for the next row. Problems are reported on
    /// stderr once each; a file that vanished is skipped.
    static func sample(
        _ names: [String], scanner: StatsScanner, previous: inout [CounterKey: UInt64], reported: inout Set<String>
    ) -> [Cell] {
        func report(_ error: MmStatsError) {
            if reported.insert(error.description).inserted { printError(error.description) }
        }
        var cells = Array(repeating: Cell(), count: names.count)
        var counters: [CounterKey: UInt64] = [:]
        let now = StatsClock.system.now()
        let files = scanner.files(onError: report)
        let onError = { (error: MmStatsError) in
            var info = stat()
            if let path = error.path, lstat(path, &info) != 0 { return }  // removed meanwhile
            report(error)
        }
        // A file removed meanwhile is left out; many new files are opened on several threads.
        scanner.forEachSnapshot(of: files, onError: onError) { snapshot in
            let file = snapshot.path
            let metrics = snapshot.metrics.filter { $0.error == nil }
            let writer = snapshot.writer
            for (column, name) in names.enumerated() {
                for (sample, field) in matches(name, in: metrics) {
                    let fields =
                        Slurp.knownKind(sample) != nil ? sample.exposedFields(in: .shared, now: now) : sample.fields
                    let chosen =
                        field.map { field in fields.first { $0.name == field } }
                        ?? (fields.count == 1 ? fields.first : nil)
                    guard let chosen else { continue }
                    switch (sample.descriptor.kind, chosen.value) {
                    case ("counter", .uint(let total)):
                        let key = CounterKey(
                            path: file, pid: writer.pid, tid: writer.tid, created: writer.created, column: column,
                            metric: sample.descriptor.displayName)
                        counters[key] = total
                        // Counted from 0: a new file, the first row, a counter that went down.
                        let before = previous[key] ?? 0
                        cells[column].add(counter: total >= before ? total - before : total)
                    case ("gauge", let value):
                        cells[column].add(value, .sum)
                    case (_, let value):
                        cells[column].add(value, field.map(Rule.init(field:)) ?? .maximum)
                    }
                }
            }
        }
        previous = counters
        return cells
    }

    /// The metrics `name` selects, and the field it names (nil: the metric's one field). A
    /// metric whose name (or name with dimensions) is `name` wins; otherwise the text after
    /// the last `.` is a field of the metrics named by what comes before it.
    static func matches(_ name: String, in metrics: [MetricSample]) -> [(MetricSample, String?)] {
        func named(_ name: Substring) -> [MetricSample] {
            metrics.filter { $0.descriptor.name == name || $0.descriptor.displayName == name }
        }
        let whole = named(name[...])
        if !whole.isEmpty { return whole.map { ($0, nil) } }
        guard let dot = name.lastIndex(of: ".") else { return [] }
        let field = String(name[name.index(after: dot)...])
        return named(name[..<dot]).map { ($0, field) }
    }

    /// `a` and `b` combined by `rule`: integers stay integers (wrapping, as counters do),
    /// anything with a double is a double, booleans are or-ed (and-ed for a minimum); a text
    /// keeps the first one.
    static func combine(_ a: Value, _ b: Value, _ rule: Rule) -> Value {
        switch (a, b) {
        case (.uint(let x), .uint(let y)):
            switch rule {
            case .sum: return .uint(x &+ y)
            case .minimum: return .uint(min(x, y))
            case .maximum: return .uint(max(x, y))
            }
        case (.string, _), (_, .string): return a
        case (.bool(let x), .bool(let y)): return .bool(rule == .minimum ? x && y : x || y)
        case (.double, _), (_, .double): break
        default:
            if let x = a.intValue, let y = b.intValue {
                switch rule {
                case .sum: return .int(x &+ y)
                case .minimum: return .int(min(x, y))
                case .maximum: return .int(max(x, y))
                }
            }
        }
        let x = a.doubleValue ?? 0
        let y = b.doubleValue ?? 0
        switch rule {
        case .sum: return .double(x + y)
        case .minimum: return .double(min(x, y))
        case .maximum: return .double(max(x, y))
        }
    }

    /// A value as a cell: integers in decimal, doubles rounded to 3 decimals (a whole number
    /// without a decimal point), text made safe for a terminal.
    static func format(_ value: Value) -> String {
        guard case .double(let x) = value else { return value.description.terminalSafe }
        guard x.isFinite else { return x.description }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return ((x * 1000).rounded() / 1000).description
    }

    /// The cells right-aligned in their columns, two spaces apart.
    static func line(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: "  ")
    }

    /// Rows between headers: 20, or fewer when the terminal is too short to show a header, 20
    /// rows and the line the cursor waits on (`lines - 2` rows on a terminal of `lines` lines).
    static func headerEvery(onTerminal: Bool) -> Int {
        var size = winsize()
        guard onTerminal, ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 3 else { return 20 }
        return min(20, Int(size.ws_row) - 2)
    }
}
