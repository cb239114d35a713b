import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

/// Timers: the four ways to record, on a manual clock.
@Suite("Timer")
struct HistogramTimerTests {
    struct Failure: Error {}

    @Test("time { } records the clock's advance and returns the closure's result, also when it throws")
    func time() throws {
        let directory = TemporaryDirectory("timer-time")
        let stats = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 1_000)
        let timer = try stats.timer("t", clock: clock)
        let result = timer.time { () -> String in
            clock.advance(by: 1_500)
            return "done"
        }
        #expect(result == "done")
        #expect(throws: Failure.self) {
            try timer.time { () throws(Failure) in
                clock.advance(by: 70)
                throw Failure()
            }
        }
        let values = timer.histogram.values
        #expect(values.count == 2)
        #expect(values.minimum == 70 && values.maximum == 1_500 && values.sum == 1_570)
        let snapshot = try StatsReader(path: stats.path).snapshot()
        let sample = try #require(snapshot.metric("t"))
        #expect(sample.descriptor.kind == "timer")
        #expect(sample.descriptor.unit == "ns")
    }

    @Test("start() and stop() record the time between; a clock that went back records 0")
    func stopwatch() throws {
        let directory = TemporaryDirectory("timer-watch")
        let stats = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 5_000)
        let timer = try stats.timer("t", clock: clock)
        let watch = timer.start()
        clock.advance(by: 2_000)
        #expect(watch.stop() == 2_000)
        let back = timer.start()
        clock.set(10)
        #expect(back.stop() == 0)
        let values = timer.histogram.values
        #expect(values.count == 2 && values.maximum == 2_000 && values.minimum == 0)
    }

    @Test("durations: truncated to nanoseconds, negative as 0, long ones exact, huge ones clamped")
    func durations() throws {
        let directory = TemporaryDirectory("timer-durations")
        let stats = try StatsWriter(directory.options())
        var made = 0
        func recorded(_ duration: Duration) throws -> UInt64 {
            made += 1
            let timer = try stats.timer("d\(made)")
            timer.record(duration)
            return timer.histogram.values.maximum
        }
        #expect(try recorded(.nanoseconds(1_234)) == 1_234)
        #expect(try recorded(.microseconds(3)) == 3_000)
        #expect(try recorded(.nanoseconds(1) + .nanoseconds(1) / 2) == 1, "sub-nanoseconds are dropped")
        #expect(try recorded(.zero - .nanoseconds(5)) == 0)
        #expect(try recorded(.seconds(3_600)) == 3_600_000_000_000, "past 9.2 s: the 128-bit path")
        #expect(try recorded(.seconds(3_600) + .nanoseconds(7)) == 3_600_000_000_007)
        #expect(try recorded(.seconds(-3_600)) == 0)
        #expect(try recorded(.seconds(Int64.max)) == UInt64.max)
        #expect(try recorded(.seconds(18_446_744_073) + .nanoseconds(709_551_615)) == UInt64.max)
        #expect(try recorded(.seconds(18_446_744_073) + .nanoseconds(709_551_614)) == UInt64.max - 1)
        let timer = try stats.timer("n")
        timer.record(nanoseconds: 42)
        #expect(timer.histogram.values.buckets[42] == 1)
    }
}
