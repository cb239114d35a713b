import MmStatsCore
import Processor
import Testing

/// A user's evaluator with the built-in `rate`'s parameter: it must get the same input.
struct EchoDelta: Evaluator {
    var name: String { "echo_delta" }
    var parameters: [EvaluatorParameter] { [.delta] }
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 1, let d = inputs[0].doubleValue else { return nil }
        return .double(d * 1e9 / Double(context.elapsedNanoseconds))
    }
}

/// The engine's compiled plans, per-pass sums, per-file delta memory and compact results
/// (docs/PROCESSOR.md; docs/BENCHMARKS.md, "Processor").
@Suite("Engine plans and per-pass values")
struct EnginePlanTests {
    @Test("a source's per-pass sum is not a destination's: a destination written in the pass is seen at once")
    func destinationWrittenWithinPass() throws {
        // `m` is a metric until entry "m" (the second) has run; afterwards the destination wins,
        // in the same pass for later entries and in later passes for every entry.
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [
                entry("before", "m + 0", type: .integer), entry("m", "x * 10", type: .integer),
                entry("after", "m + 0", type: .integer), entry("raw", "x + 0", type: .integer),
            ], clock: clock)
        let samples = [sample(file(1), "m", .int(1)), sample(file(1), "x", .int(2)), sample(file(2), "x", .int(3))]
        var pass = engine.run(EngineInputs(samples: samples, generation: 1))
        #expect(pass["before"] == .int(1))  // the metric m
        #expect(pass["m"] == .int(50))
        #expect(pass["after"] == .int(50))  // the destination, written earlier in this pass
        #expect(pass["raw"] == .int(5))
        clock.advance(by: second)
        pass = engine.run(
            EngineInputs(
                samples: [sample(file(1), "m", .int(1)), sample(file(1), "x", .int(4)), sample(file(2), "x", .int(3))],
                generation: 1))
        #expect(pass["before"] == .int(50))  // the destination of the previous pass
        #expect(pass["m"] == .int(70))
        #expect(pass["after"] == .int(70))
        #expect(pass["raw"] == .int(7))  // sums are per pass, never stale
    }

    @Test("entries with different intervals share names, each with its own delta memory")
    func intervalsShareNames() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [
                entry("every", "#n", type: .integer), entry("slow", "#n", type: .integer, interval: 2),
                entry("rate", "rate(n)"), entry("slowRate", "rate(n)", interval: 2),
            ], clock: clock)
        func run(_ v: Int64) -> EnginePass {
            let pass = engine.run(
                EngineInputs(
                    samples: [sample(file(1), "n", .int(v), .counter), sample(file(2), "n", .int(v * 2), .counter)],
                    generation: 1))
            clock.advance(by: second)
            return pass
        }
        _ = run(10)  // n = 30 over both files
        var pass = run(20)  // 60
        #expect(pass["every"] == .int(30))
        #expect(pass["slow"] == nil)  // not due: its first run's result (no value) is held
        #expect(pass["rate"] == .double(30))
        pass = run(25)  // 75: slow runs, over 2 s
        #expect(pass["every"] == .int(15))
        #expect(pass["slow"] == .int(45))
        #expect(pass["slowRate"] == .double(22.5))
        pass = run(26)  // 78: slow held
        #expect(pass["every"] == .int(3))
        #expect(pass["slow"] == .int(45))
        pass = run(30)  // 90
        #expect(pass["slow"] == .int(15))
    }

    @Test("a generation change while an entry waits: its memory follows files to their new positions")
    func generationChangeMidInterval() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [
                entry("host", "#n", type: .integer, interval: 2),
                entry("perFile", "#n", type: .integer, scope: .thread, interval: 2),
                entry("perProcess", "#n", type: .integer, scope: .process, interval: 2),
            ], clock: clock)
        let a = file(1, 1)
        let b = file(1, 2)
        let c = file(2, 1)
        func run(_ samples: [EngineSample], _ generation: UInt64) -> EnginePass {
            let pass = engine.run(EngineInputs(samples: samples, generation: generation))
            clock.advance(by: second)
            return pass
        }
        _ = run([sample(a, "n", .int(100), .counter), sample(b, "n", .int(10), .counter)], 1)
        // Not due: b goes away, c appears, a moves to another position (generation 2).
        _ = run([sample(c, "n", .int(1), .counter), sample(a, "n", .int(150), .counter)], 2)
        // Due: b is back (generation 3).
        let pass = run(
            [
                sample(b, "n", .int(12), .counter), sample(c, "n", .int(3), .counter),
                sample(a, "n", .int(160), .counter),
            ], 3)
        // Host: b was remembered (its instance, the host, stayed): 2, c is new: 3, a: 60.
        #expect(pass["host"] == .int(65))
        // Per file: b's instance went away at generation 2, so its memory went with it: 12.
        #expect(pass["perFile", .thread(b)] == .int(12))
        #expect(pass["perFile", .thread(a)] == .int(60))
        #expect(pass["perFile", .thread(c)] == .int(3))
        // Per process: process 1 stayed, so b's value was kept: 60 + 2.
        #expect(pass["perProcess", .process(pid: 1, startTime: 0)] == .int(62))
        #expect(pass["perProcess", .process(pid: 2, startTime: 0)] == .int(3))
    }

    @Test("a file that loses a metric and regains it while the entry waits keeps its remembered value")
    func metricLostAndRegained() throws {
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [entry("d", "#n", type: .integer, interval: 2), entry("every", "#n", type: .integer)],
            clock: clock)
        let a = file(1)
        _ = engine.run(EngineInputs(samples: [sample(a, "n", .int(100), .counter)], generation: 1))
        clock.advance(by: second)
        var pass = engine.run(EngineInputs(samples: [sample(a, "other", .int(1))], generation: 2))
        #expect(pass["every"] == nil)
        clock.advance(by: second)
        pass = engine.run(
            EngineInputs(samples: [sample(a, "other", .int(1)), sample(a, "n", .int(130), .counter)], generation: 3))
        #expect(pass["d"] == .int(30))  // since its run at 100, two seconds ago
        #expect(pass["every"] == .int(130))  // it ran when a had no n: a's n is new, counted from zero
    }

    @Test("reloading with entries reordered keeps their per-file delta memory")
    func reloadKeepsSourceMemory() throws {
        let clock = StatsClock.manual(at: 0)
        let first = [try entry("x", "#n", type: .integer), try entry("y", "#n + #m", type: .integer, scope: .process)]
        var engine = try Engine(entries: first, clock: clock)
        let samples: (Int64) -> [EngineSample] = { v in
            [
                sample(file(1), "n", .int(v), .counter), sample(file(2), "n", .int(2 * v), .counter),
                sample(file(2), "m", .int(v), .counter),
            ]
        }
        _ = engine.run(EngineInputs(samples: samples(10), generation: 1))
        engine = try engine.reloaded(with: [first[1], try entry("z", "#n", type: .integer), first[0]])
        clock.advance(by: second)
        let pass = engine.run(EngineInputs(samples: samples(15), generation: 1))
        #expect(pass["x"] == .int(15))  // afresh it would count from zero: 45
        #expect(pass["y", .process(pid: 2, startTime: 0)] == .int(15))  // afresh: 45
        #expect(pass["y", .process(pid: 1, startTime: 0)] == nil)  // no m there
        #expect(pass["z"] == nil)  // new: first run
    }

    @Test("a user's evaluator with the parameters of rate gets the same delta as rate")
    func userEvaluatorGetsSameInputs() throws {
        let clock = StatsClock.manual(at: 0)
        let compiler = ExpressionCompiler(
            functions: ExpressionFunction.standard + [ExpressionFunction(evaluator: EchoDelta())])
        let entries = try ["rate(n)", "echo_delta(n)", "rate(n) - echo_delta(n)"].enumerated().map { k, text in
            EngineEntry(destinations: ["e\(k)"], type: .float, expression: try compiler.compile(text))
        }
        var engine = try Engine(entries: entries, clock: clock, evaluators: [EchoDelta()])
        _ = engine.run(EngineInputs(samples: [sample(file(1), "n", .int(10), .counter)], generation: 1))
        clock.advance(by: 4 * second)
        let pass = engine.run(EngineInputs(samples: [sample(file(1), "n", .int(30), .counter)], generation: 1))
        #expect(pass["e0"] == .double(5))
        #expect(pass["e1"] == .double(5))
        #expect(pass["e2"] == .double(0))
    }

    @Test("a pass's compact results: results, forEachResult, counts and lookups agree, defaults included")
    func compactResults() throws {
        var engine = try Engine(
            entries: [
                entry("p", "n", type: .integer, scope: .process, defaultValue: 7),
                entry("t", "#n", type: .integer, scope: .thread), entry("h", "n", type: .integer),
            ], clock: .manual(at: 0))
        let pass = engine.run(
            EngineInputs(
                samples: [
                    sample(file(1), "n", .int(1)), sample(file(2), "other", .int(1)), sample(file(2), "n", .int(2)),
                ],
                generation: 1))
        let results = pass.results
        var visited: [EngineResult] = []
        pass.forEachResult { visited.append($0) }
        #expect(visited == results)
        #expect(pass.resultCount == results.count)
        #expect(pass.valueCount == results.filter { $0.value != nil }.count)
        #expect(results.map(\.destination) == ["p", "p", "t", "t", "h"])
        #expect(results[0] == EngineResult(destination: "p", instance: .process(pid: 1, startTime: 0), value: .int(1)))
        #expect(results[2] == EngineResult(destination: "t", instance: .thread(file(1)), value: nil))
        #expect(pass["t", .thread(file(2))] == nil)
        #expect(pass["h"] == .int(3))
        #expect(pass["nothing"] == nil)
        // A pass made from a list behaves the same.
        let copy = EnginePass(elapsed: pass.elapsed, results: results)
        #expect(copy.resultCount == results.count && copy.valueCount == pass.valueCount && copy["h"] == .int(3))
    }

    @Test("a destination read across instances is summed in instance order")
    func destinationAcrossInstances() throws {
        var engine = try Engine(
            entries: [entry("p", "n / 3", scope: .process), entry("total", "p + 0")], clock: .manual(at: 0))
        let pass = engine.run(
            EngineInputs(
                samples: (1...5).map { sample(file(Int64($0)), "n", .int(Int64($0))) }, generation: 1))
        var expected = 0.0
        for k in 1...5 { expected += Double(k) / 3 }
        #expect(pass["total"] == .double(expected))
    }
}

@Suite("Engine reload: delta memory when a name's role changes")
struct EngineReloadRoleTests {
    @Test("a name read with # keeps its files' memory when it becomes, or stops being, a destination")
    func roleChangeKeepsFiles() throws {
        // A cluster entry never runs, so its destination `m` still reads the metric m: the
        // remembered files must carry over whichever way the reload goes.
        let reader = try entry("d", "#m", type: .integer)
        let cluster = try entry("m", "1", scope: .cluster)
        for (before, after) in [([reader, cluster], [reader]), ([reader], [reader, cluster])] {
            let clock = StatsClock.manual(at: 0)
            var engine = try Engine(entries: before, clock: clock)
            let inputs: (Int64) -> EngineInputs = { v in
                EngineInputs(
                    samples: [sample(file(1), "m", .int(v), .counter), sample(file(2), "m", .int(2 * v), .counter)],
                    generation: 1)
            }
            _ = engine.run(inputs(100))
            engine = try engine.reloaded(with: after)
            clock.advance(by: second)
            #expect(engine.run(inputs(110))["d"] == .int(30))  // not 330: counted from the remembered 300
        }
    }

    @Test("many samples of one name per file: sums, deltas, destinations and histograms per file, process and host")
    func manySamplesPerFile() throws {
        // 1,000 files (4 per process), 2 samples of `x` and 2 of `lat` each; and one file with 2,000 of `y`.
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [
                entry("t", "#x", type: .integer, scope: .thread), entry("p", "#x", type: .integer, scope: .process),
                entry("h", "x", type: .integer), entry("u", "t * 2", type: .integer, scope: .thread),
                entry("q", "t", type: .integer, scope: .process),
                entry("ps", "#x", type: .integer, scope: .process, operation: .sum),
                entry("pl", "percentile(lat, 1)", scope: .process), entry("tl", "percentile(lat, 0.5)", scope: .thread),
                entry("ys", "y", type: .integer), entry("dys", "#y", type: .integer, scope: .thread),
            ], clock: clock)
        let files = (0..<1000).map { file(Int64($0 / 4), Int64($0 % 4)) }
        let big = file(9999)
        func inputs(_ step: Int64) -> EngineInputs {
            var samples: [EngineSample] = []
            for (i, f) in files.enumerated() {
                for k in Int64(0)..<2 {
                    samples.append(sample(f, "x", .int(Int64(i) * 10 + k + step), .counter))
                    samples.append(
                        EngineSample(
                            file: f, metric: "lat", fields: [:],
                            buckets: [EngineBucket(upperBound: Double(i % 4 + 1), count: 1)]))
                }
            }
            for j in Int64(0)..<2000 { samples.append(sample(big, "y", .int(j + step), .counter)) }
            return EngineInputs(samples: samples, generation: 1)
        }
        _ = engine.run(inputs(0))
        clock.advance(by: second)
        let pass = engine.run(inputs(1))
        var byKey: [String: Number] = [:]
        for result in pass.results {
            if let value = result.value { byKey["\(result.destination) \(result.instance)"] = value }
        }
        for (i, f) in files.enumerated() where i % 97 == 0 {
            #expect(pass["t", .thread(f)] == .int(2))  // both samples grew by 1
            #expect(pass["u", .thread(f)] == .int(4))
            #expect(pass["tl", .thread(f)] == .double(Double(i % 4 + 1)))
        }
        for pid in Int64(0)..<250 where pid % 31 == 0 {
            let process = EngineInstance.process(pid: pid, startTime: 0)
            #expect(pass["p", process] == .int(8))
            #expect(pass["q", process] == .int(8))
            #expect(pass["ps", process] == .int(8))
            #expect(pass["pl", process] == .double(4))
        }
        // Σ over i, k of (10 i + k + 1) = 10 × 2 × 499,500 + 1,000 × (0 + 1) + 2,000.
        #expect(pass["h"] == .int(9_990_000 + 1000 + 2000))
        #expect(pass["ys"] == .int(1_999_000 + 2000))
        #expect(pass["dys", .thread(big)] == .int(2000))
        #expect(byKey.count == 1000 * 3 + 250 * 4 + 1 + 1 + 1)
    }
}
