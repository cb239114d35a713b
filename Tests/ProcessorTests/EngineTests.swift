import MmStatsCore
import Processor
import Testing

/// A file of process `pid` (start time `start`), thread `tid`.
func file(_ pid: Int64, _ tid: Int64 = 1, start: UInt64 = 0) -> EngineFile {
    EngineFile(path: "/stats/\(pid)-\(start)-\(tid).mmstats", pid: pid, startTime: start, tid: tid)
}

/// A sample with a single `value` field.
func sample(_ f: EngineFile, _ metric: String, _ value: Number, _ kind: EngineSampleKind = .gauge) -> EngineSample {
    EngineSample(file: f, metric: metric, kind: kind, fields: ["value": value])
}

/// An entry compiled from `text`.
func entry(
    _ destination: String, _ text: String, type: EngineValueType = .float, scope: EngineScope = .host,
    operation: EngineOperation = .reCalculate, interval: Double? = nil,
    minimum: Double? = nil, maximum: Double? = nil, defaultValue: Double? = nil
) throws -> EngineEntry {
    EngineEntry(
        destinations: [destination], type: type, expression: try ExpressionCompiler().compile(text),
        interval: interval, minimum: minimum, maximum: maximum, defaultValue: defaultValue,
        scope: scope, operation: operation)
}

let second: UInt64 = 1_000_000_000

@Suite("Engine")
struct EngineTests {
    @Test("no value until two samples, then #x, _DIFFTIME and rate(x) over the monotonic clock")
    func firstPassHasNoSpike() throws {
        let clock = StatsClock.manual(at: 5 * second)
        var engine = try Engine(
            entries: [
                entry("d", "#requests", type: .integer), entry("t", "_DIFFTIME", type: .integer),
                entry("r", "rate(requests)"), entry("ats", "#requests * $HRTIME_SECOND / _DIFFTIME"),
                entry("dd", "delta(requests)", type: .integer),
            ], clock: clock)
        let first = engine.run(
            EngineInputs(samples: [sample(file(1), "requests", .int(1_000_000), .counter)], generation: 1))
        #expect(first.elapsed == nil)
        for name in ["d", "t", "r", "ats", "dd"] { #expect(first[name] == nil) }
        #expect(first.results.count == 5)
        clock.advance(by: 10 * second)
        let next = engine.run(
            EngineInputs(samples: [sample(file(1), "requests", .int(1_000_050), .counter)], generation: 1))
        #expect(next.elapsed == 10 * second)
        #expect(next["d"] == .int(50))
        #expect(next["dd"] == .int(50))
        #expect(next["t"] == .int(10_000_000_000))
        #expect(next["r"] == .double(5))
        #expect(next["ats"] == .double(5))
    }

    @Test("a restarted writer or a counter reset never makes a total go backwards")
    func restartedWriter() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(entries: [entry("d", "#requests", type: .counter)], clock: clock)
        let a = file(1)
        _ = engine.run(
            EngineInputs(
                samples: [
                    sample(a, "requests", .int(100), .counter), sample(file(2), "requests", .int(1000), .counter),
                ],
                generation: 1))
        clock.advance(by: second)
        var pass = engine.run(
            EngineInputs(
                samples: [
                    sample(a, "requests", .int(110), .counter), sample(file(2), "requests", .int(1020), .counter),
                ],
                generation: 1))
        #expect(pass["d"] == .int(30))
        // Process 2 restarts: new pid and start time, its counter starts again at 5.
        clock.advance(by: second)
        pass = engine.run(
            EngineInputs(
                samples: [
                    sample(a, "requests", .int(120), .counter),
                    sample(file(3, start: 9), "requests", .int(5), .counter),
                ], generation: 2))
        #expect(pass["d"] == .int(15))  // 10 from process 1, 5 from the new writer; not 120 + 5 − 1120
        // Process 1's counter resets in place (same file): the delta is its new value.
        clock.advance(by: second)
        pass = engine.run(
            EngineInputs(
                samples: [
                    sample(a, "requests", .int(7), .counter), sample(file(3, start: 9), "requests", .int(8), .counter),
                ],
                generation: 2))
        #expect(pass["d"] == .int(10))  // 7 + 3
    }

    @Test("a gauge's delta is a plain difference and may be negative")
    func gaugeDelta() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(entries: [entry("d", "#open", type: .integer)], clock: clock)
        _ = engine.run(EngineInputs(samples: [sample(file(1), "open", .int(10))], generation: 1))
        clock.advance(by: second)
        let pass = engine.run(EngineInputs(samples: [sample(file(1), "open", .int(4))], generation: 1))
        #expect(pass["d"] == .int(-6))
    }

    @Test("re-calculate computes Σa/Σb; sum computes Σ(a/b)")
    func sumOfRatios() throws {
        var engine = try Engine(
            entries: [entry("re", "a / b"), entry("sum", "a / b", operation: .sum)], clock: .manual(at: 0))
        let samples = [
            sample(file(1), "a", .int(1)), sample(file(1), "b", .int(2)),
            sample(file(2), "a", .int(3)), sample(file(2), "b", .int(4)),
        ]
        let pass = engine.run(EngineInputs(samples: samples, generation: 1))
        #expect(pass["re"] == .double(4.0 / 6.0))
        #expect(pass["sum"] == .double(1.25))
    }

    @Test("re-calculate honours deltas: Σ#a / Σ#b")
    func reCalculateKeepsDeltas() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(entries: [entry("hit", "#hits / #lookups")], clock: clock)
        func inputs(_ h1: Int64, _ l1: Int64, _ h2: Int64, _ l2: Int64) -> EngineInputs {
            EngineInputs(
                samples: [
                    sample(file(1), "hits", .int(h1), .counter), sample(file(1), "lookups", .int(l1), .counter),
                    sample(file(2), "hits", .int(h2), .counter), sample(file(2), "lookups", .int(l2), .counter),
                ], generation: 1)
        }
        #expect(engine.run(inputs(100, 200, 0, 0))["hit"] == nil)
        clock.advance(by: second)
        // Δhits = 10 + 30, Δlookups = 20 + 40: 40 / 60, not the totals' 140 / 260.
        #expect(engine.run(inputs(110, 220, 30, 40))["hit"] == .double(40.0 / 60.0))
    }

    @Test("sum with deltas adds each file's delta; a file new since the first run counts from zero")
    func sumOperationDeltas() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(entries: [entry("d", "#n", type: .integer, operation: .sum)], clock: clock)
        _ = engine.run(EngineInputs(samples: [sample(file(1), "n", .int(1), .counter)], generation: 1))
        clock.advance(by: second)
        var pass = engine.run(
            EngineInputs(
                samples: [sample(file(1), "n", .int(4), .counter), sample(file(2), "n", .int(50), .counter)],
                generation: 2))
        #expect(pass["d"] == .int(53))  // 3 + file 2's 50, counted from 0: it appeared after the first run
        clock.advance(by: second)
        pass = engine.run(
            EngineInputs(
                samples: [sample(file(1), "n", .int(5), .counter), sample(file(2), "n", .int(52), .counter)],
                generation: 2))
        #expect(pass["d"] == .int(3))
    }

    @Test("scopes: thread per file, process per process, host over all, cluster skipped")
    func scopes() throws {
        var engine = try Engine(
            entries: [
                entry("t", "n", type: .integer, scope: .thread), entry("p", "n", type: .integer, scope: .process),
                entry("h", "n", type: .integer, scope: .host), entry("c", "n", type: .integer, scope: .cluster),
            ], clock: .manual(at: 0))
        let (a, b, c) = (file(1, 1), file(1, 2), file(2, 1))
        let pass = engine.run(
            EngineInputs(
                samples: [sample(a, "n", .int(1)), sample(b, "n", .int(2)), sample(c, "n", .int(4))], generation: 1))
        #expect(pass["t", .thread(a)] == .int(1))
        #expect(pass["t", .thread(b)] == .int(2))
        #expect(pass["t", .thread(c)] == .int(4))
        #expect(pass["p", .process(pid: 1, startTime: 0)] == .int(3))
        #expect(pass["p", .process(pid: 2, startTime: 0)] == .int(4))
        #expect(pass["h"] == .int(7))
        #expect(!pass.results.contains { $0.destination == "c" })
        #expect(pass.results.count == 3 + 2 + 1)
    }

    @Test("manifest order is evaluation order; a destination is visible to later entries")
    func destinationsVisible() throws {
        var engine = try Engine(
            entries: [
                entry("per", "n * 2", type: .integer, scope: .process),
                entry("total", "per + 1", type: .integer),
                entry("again", "total * 10", type: .integer, scope: .thread),
            ], clock: .manual(at: 0))
        let pass = engine.run(
            EngineInputs(samples: [sample(file(1), "n", .int(3)), sample(file(2), "n", .int(4))], generation: 1))
        #expect(pass["total"] == .int(15))  // (6 + 8) + 1
        #expect(pass["again", .thread(file(1))] == .int(150))
        #expect(pass.results.map(\.destination) == ["per", "per", "total", "again", "again"])
    }

    @Test("an interval runs the entry only when that long has passed; deltas span the interval")
    func intervals() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(entries: [entry("d", "#n", type: .integer, interval: 10)], clock: clock)
        var values: [Number?] = []
        for (step, n) in [Int64(0), 5, 10, 15, 20].enumerated() {
            if step > 0 { clock.advance(by: 5 * second) }
            values.append(
                engine.run(EngineInputs(samples: [sample(file(1), "n", .int(n), .counter)], generation: 1))["d"])
        }
        // Runs at 0 s (first: no value), held at 5 s, runs at 10 s (Δ 10), held at 15 s, runs at 20 s.
        #expect(values == [nil, nil, .int(10), .int(10), .int(10)])
    }

    @Test("bounds work: out of range is the default, or the bound crossed without one")
    func bounds() throws {
        var engine = try Engine(
            entries: [
                entry("in", "x", minimum: 0, maximum: 100), entry("high", "x * 10", minimum: 0, maximum: 100),
                entry("low", "0 - x", minimum: 0, maximum: 100, defaultValue: 0),
                entry("edge", "x * 2", type: .integer, maximum: 100),
                entry("under", "x - 80", type: .integer, minimum: -10),
                entry("missing", "nothing", minimum: 0, maximum: 100),
            ], clock: .manual(at: 0))
        let pass = engine.run(EngineInputs(samples: [sample(file(1), "x", .int(50))], generation: 1))
        #expect(pass["in"] == .double(50))
        #expect(pass["high"] == .double(100))
        #expect(pass["under"] == .int(-10))
        #expect(pass["missing"] == nil)
        #expect(pass["low"] == .double(0))
        #expect(pass["edge"] == .int(100))
    }

    @Test("a missing input is no value, not zero; the default applies when configured")
    func missingInput() throws {
        var engine = try Engine(
            entries: [
                entry("m", "missing + 1", type: .integer), entry("f", "0 * missing", type: .integer),
                entry("dflt", "missing", type: .integer, defaultValue: 7), entry("field", "x.p99"),
            ], clock: .manual(at: 0))
        let pass = engine.run(EngineInputs(samples: [sample(file(1), "x", .int(1))], generation: 1))
        #expect(pass.results.count == 4)
        #expect(pass["m"] == nil)
        #expect(pass["f"] == nil)
        #expect(pass["dflt"] == .int(7))
        #expect(pass["field"] == nil)
    }

    @Test("the destination type decides the stored type; doubles round half away from zero")
    func storedTypes() throws {
        #expect(EngineValueType.integer.store(.double(2.5)) == .int(3))
        #expect(EngineValueType.counter.store(.double(-2.5)) == .int(-3))
        #expect(EngineValueType.integer.store(.double(2.4)) == .int(2))
        #expect(EngineValueType.integer.store(.double(1e19)) == nil)
        #expect(EngineValueType.float.store(.int(3)) == .double(3))
        var engine = try Engine(
            entries: [entry("i", "x / 4", type: .integer), entry("f", "x", type: .float)], clock: .manual(at: 0))
        let pass = engine.run(EngineInputs(samples: [sample(file(1), "x", .int(10))], generation: 1))
        #expect(pass["i"] == .int(3))
        #expect(pass["f"] == .double(10))
    }

    @Test("regression: a float times a constant, and an integer plus a counter, are exact")
    func oldArithmeticDefects() throws {
        var engine = try Engine(
            entries: [
                entry("pct", "ratio * $PCT_TO_INTPCT_SCALE", type: .float),
                entry("ipct", "ratio * $PCT_TO_INTPCT_SCALE", type: .integer),
                entry("both", "gauge + total", type: .counter),
            ], clock: .manual(at: 0))
        let f = file(1)
        let pass = engine.run(
            EngineInputs(
                samples: [
                    sample(f, "ratio", .double(0.5)), sample(f, "gauge", .int(3)),
                    sample(f, "total", .int(40), .counter),
                ], generation: 1))
        #expect(pass["pct"] == .double(50))
        #expect(pass["ipct"] == .int(50))
        #expect(pass["both"] == .int(43))
    }

    @Test("clock steps: only the monotonic clock counts; a clock going back gives no rate, then recovers")
    func clockSteps() throws {
        let clock = StatsClock.manual(at: 100 * second)
        var engine = try Engine(
            entries: [entry("r", "rate(n)"), entry("t", "_DIFFTIME", type: .integer)], clock: clock)
        let at = { (n: Int64) in EngineInputs(samples: [sample(file(1), "n", .int(n), .counter)], generation: 1) }
        _ = engine.run(at(0))
        clock.advance(by: 2 * second)
        #expect(engine.run(at(20))["r"] == .double(10))
        clock.set(50 * second)  // a misused clock steps back: no rate rather than a negative or a spike
        let back = engine.run(at(30))
        #expect(back["r"] == nil)
        #expect(back["t"] == nil)
        #expect(back.elapsed == nil)
        clock.advance(by: 5 * second)
        #expect(engine.run(at(80))["r"] == .double(10))
    }

    @Test("sum, min, max, avg and count over a glob; exposed fields by name")
    func globsAndFields() throws {
        var engine = try Engine(
            entries: [
                entry("s", "sum(web.*.requests)", type: .integer), entry("lo", "min(web.*.requests)", type: .integer),
                entry("hi", "max(web.*.requests)", type: .integer), entry("avg", "avg(web.*.requests)"),
                entry("n", "count(web.*.requests)", type: .integer), entry("none", "sum(nothing.*)"),
                entry("zero", "count(nothing.*)", type: .integer), entry("p99", "web.latency.p99"),
            ], clock: .manual(at: 0))
        let (a, b) = (file(1), file(2))
        let pass = engine.run(
            EngineInputs(
                samples: [
                    sample(a, "web.get.requests", .int(10)), sample(b, "web.get.requests", .int(5)),
                    sample(a, "web.put.requests", .int(3)), sample(a, "web.put.errors", .int(100)),
                    EngineSample(file: a, metric: "web.latency", fields: ["p99": .double(0.25)]),
                ], generation: 1))
        #expect(pass["s"] == .int(18))
        #expect(pass["lo"] == .int(3))
        #expect(pass["hi"] == .int(15))
        #expect(pass["avg"] == .double(9))
        #expect(pass["n"] == .int(2))
        #expect(pass["none"] == nil)
        #expect(pass["zero"] == .int(0))
        #expect(pass["p99"] == .double(0.25))
    }

    @Test("percentile merges raw buckets across files and processes")
    func percentiles() throws {
        var engine = try Engine(
            entries: [
                entry("p10", "percentile(lat, 0.1)"), entry("p50", "percentile(lat, 0.5)"),
                entry("p100", "percentile(lat, 1)"), entry("bad", "percentile(lat, 2)"),
                entry("p1", "percentile(lat, 0.5)", scope: .process),
            ], clock: .manual(at: 0))
        func histogram(_ f: EngineFile, _ counts: [Int64]) -> EngineSample {
            EngineSample(
                file: f, metric: "lat", fields: [:],
                buckets: zip([1.0, 10, 100], counts).map { EngineBucket(upperBound: $0, count: $1) })
        }
        let pass = engine.run(
            EngineInputs(samples: [histogram(file(1), [2, 0, 0]), histogram(file(2), [0, 7, 1])], generation: 1))
        // Merged: 2 at ≤1, 7 at ≤10, 1 at ≤100; ranks 1, 5 and 10 of 10.
        #expect(pass["p10"] == .double(1))
        #expect(pass["p50"] == .double(10))
        #expect(pass["p100"] == .double(100))
        #expect(pass["bad"] == nil)
        #expect(pass["p1", .process(pid: 1, startTime: 0)] == .double(1))
        // Hostile buckets: counts near Int64.max in two files, NaN and infinite bounds.
        let hostile = engine.run(
            EngineInputs(
                samples: [
                    EngineSample(
                        file: file(1), metric: "lat", fields: [:],
                        buckets: [
                            EngineBucket(upperBound: 5, count: .max), EngineBucket(upperBound: .nan, count: 9),
                            EngineBucket(upperBound: .infinity, count: .max),
                        ]),
                    EngineSample(
                        file: file(2), metric: "lat", fields: [:], buckets: [EngineBucket(upperBound: 5, count: .max)]),
                ], generation: 2))
        #expect(hostile["p50"] == .double(5))
        #expect(hostile["p100"] == nil)
    }

    @Test("names resolve once per input generation, values are read every pass")
    func resolutionIsCached() throws {
        var engine = try Engine(entries: [entry("x", "n", type: .integer)], clock: .manual(at: 0))
        #expect(engine.run(EngineInputs(samples: [sample(file(1), "n", .int(1))], generation: 1))["x"] == .int(1))
        #expect(engine.run(EngineInputs(samples: [sample(file(1), "n", .int(2))], generation: 1))["x"] == .int(2))
        #expect(engine.resolutions == 1)
        let two = [sample(file(1), "n", .int(2)), sample(file(2), "n", .int(5))]
        #expect(engine.run(EngineInputs(samples: two, generation: 2))["x"] == .int(7))
        #expect(engine.resolutions == 2)
    }

    @Test("configuration errors name the entry and the field")
    func errors() throws {
        func message(_ entries: [EngineEntry]) -> String? {
            do {
                _ = try Engine(entries: entries, clock: .manual(at: 0))
                return nil
            } catch { return error.description }
        }
        #expect(
            message([try entry("a", "1"), try entry("b", "2", minimum: 5, maximum: 1)])
                == "entry 2 ('b'): field 'minimum': 5.0 is greater than maximum 1.0")
        #expect(
            message([try entry("a", "1"), try entry("a", "2")])
                == "entry 2 ('a'): field 'destinations': 'a' is already a destination")
        #expect(
            message([try entry("a", "1", interval: -1)])
                == "entry 1 ('a'): field 'interval': -1.0 is not 0 to 1e9 seconds")
        #expect(
            message([try entry("a", "1", defaultValue: .nan)])
                == "entry 1 ('a'): field 'default': nan is not a finite number")
        var none = try entry("a", "1")
        none.destinations = []
        #expect(message([none]) == "entry 1: no destination")
        none.destinations = [""]
        #expect(message([none]) == "entry 1 (''): field 'destinations': empty name")
    }

    @Test("attacker's globs and names: long star runs and NUL bytes end quickly")
    func hostileGlobs() throws {
        let stars = String(repeating: "*a", count: 2_000) + "b"
        var engine = try Engine(
            entries: [
                entry("n", "count(\"\(stars)\")", type: .integer), entry("q", "\"a\\u{1}b\" + 1", type: .integer),
            ],
            clock: .manual(at: 0))
        let long = String(repeating: "a", count: 4_000)
        let pass = engine.run(
            EngineInputs(samples: [sample(file(1), long, .int(1)), sample(file(1), "a\u{1}b", .int(2))], generation: 1))
        #expect(pass["n"] == .int(0))
        #expect(pass["q"] == .int(3))
    }

    @Test("a glob at the expression's length limit against a 65,535-byte name stays within its budget")
    func globBudget() throws {
        let pattern = "*" + String(repeating: "a", count: 32_000) + "b"  // 10⁹ steps without the budget
        var engine = try Engine(entries: [entry("n", "count(\"\(pattern)\")", type: .integer)], clock: .manual(at: 0))
        let name = String(repeating: "a", count: 65_535)
        let pass = engine.run(EngineInputs(samples: [sample(file(1), name, .int(1))], generation: 1))
        #expect(pass["n"] == .int(0))
    }
}

/// A plugin evaluator: the first argument scaled by the second.
struct Scale: Evaluator {
    let name = "scale"
    var parameters: [EvaluatorParameter] { [.value, .value] }
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 2, case .int(let x) = inputs[0], case .int(let k) = inputs[1] else { return nil }
        return .int(x * k + Int64(context.elapsedNanoseconds / 1_000_000_000))
    }
}

@Suite("Engine plugins")
struct EnginePluginTests {
    @Test("a plugin evaluator answers its calls, with the entry's elapsed time")
    func pluginFunction() throws {
        let compiler = ExpressionCompiler(
            functions: ExpressionFunction.standard + [ExpressionFunction(evaluator: Scale())])
        let e = EngineEntry(destinations: ["s"], type: .integer, expression: try compiler.compile("scale(n, 3)"))
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(entries: [e], clock: clock, evaluators: [Scale()])
        let inputs = EngineInputs(samples: [sample(file(1), "n", .int(4))], generation: 1)
        #expect(engine.run(inputs)["s"] == .int(12))
        clock.advance(by: 2 * second)
        #expect(engine.run(inputs)["s"] == .int(14))
        var without = try Engine(entries: [e], clock: clock, evaluators: [])
        #expect(without.run(inputs)["s"] == nil)
    }
}

@Suite("Engine at size")
struct EngineSizeTests {
    @Test("200 processes of 5 threads: per-process sums and deltas read only their own files")
    func manyFiles() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [
                entry("p", "#n", type: .integer, scope: .process, operation: .sum),
                entry("h", "sum(n)", type: .integer),
            ], clock: clock)
        func inputs(_ step: Int64) -> EngineInputs {
            var samples: [EngineSample] = []
            for pid in Int64(1)...200 {
                for tid in Int64(1)...5 {
                    samples.append(sample(file(pid, tid), "n", .int(step * pid * tid), .counter))
                }
            }
            return EngineInputs(samples: samples, generation: 1)
        }
        _ = engine.run(inputs(1))
        clock.advance(by: second)
        let pass = engine.run(inputs(2))
        // Each thread grew by pid × tid: the process's delta is pid × (1 + 2 + 3 + 4 + 5).
        #expect(pass["p", .process(pid: 7, startTime: 0)] == .int(7 * 15))
        #expect(pass["p", .process(pid: 200, startTime: 0)] == .int(200 * 15))
        #expect(pass.results.filter { $0.destination == "p" }.count == 200)
        #expect(pass["h"] == .int(2 * 15 * (200 * 201 / 2)))
    }
}

@Suite("Engine reload")
struct EngineReloadTests {
    @Test("reloading keeps the history of unchanged entries; changed ones start afresh")
    func reloadKeepsHistory() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [entry("kept", "#n", type: .integer), entry("changed", "#n", type: .integer)], clock: clock)
        let at = { (n: Int64) in EngineInputs(samples: [sample(file(1), "n", .int(n), .counter)], generation: 1) }
        _ = engine.run(at(10))
        engine = try engine.reloaded(with: [
            entry("new", "#n * 2", type: .integer), entry("kept", "#n", type: .integer, maximum: 1000),
            entry("changed", "#n + 0", type: .integer),
        ])
        clock.advance(by: second)
        let pass = engine.run(at(15))
        #expect(pass["kept"] == .int(5))
        #expect(pass["changed"] == nil)
        #expect(pass["new"] == nil)
        #expect(pass.elapsed == second)
        #expect(throws: EngineError.self) { try engine.reloaded(with: [entry("a", "1"), entry("a", "2")]) }
    }
}
