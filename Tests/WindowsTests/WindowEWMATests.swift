import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing
import Windows

@Suite("Window EWMAs")
struct WindowEWMATests {
    static let second = WindowTests.second

    @Test("a constant rate gives exactly that rate; idle intervals decay it by (1 - alpha)^k")
    func closedForm() throws {
        let directory = TemporaryDirectory("ewma")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 1_000 * Self.second)
        let window = try writer.window("jobs", length: .seconds(20), granularity: .seconds(1), clock: clock)
        // 5 values of 2.0 in each of 30 intervals (more than the 21 slots: old ones are reused).
        for _ in 0..<30 {
            for _ in 0..<5 { window.record(2.0) }
            clock.advance(by: Self.second)
        }
        var fields = try WindowTests.exposed(writer, "jobs", now: clock.now())
        #expect(fields["ewma_rate"] == .double(5), "a constant 5 events per second")
        #expect(fields["ewma_mean"] == .double(2))
        // k idle intervals: the rate decays as 5 (1 - alpha)^k, alpha = 1 - exp(-1/20).
        let alpha = 1 - exp(-(1.0 / 20.0))
        for k in [1, 4, 10] {
            fields = try WindowTests.exposed(writer, "jobs", now: clock.now() + UInt64(k) * Self.second)
            let expected = 5 * pow(1 - alpha, Double(k))
            let rate = try #require(fields["ewma_rate"]?.doubleValue)
            #expect(abs(rate - expected) <= expected * 1e-12, "after \(k) idle intervals: \(rate) vs \(expected)")
            #expect(fields["ewma_mean"] == .double(2), "intervals without values do not move the mean's average")
        }
    }

    @Test("the EWMA of the mean follows a step with the time constant of the window's length")
    func step() throws {
        let directory = TemporaryDirectory("ewma-step")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let window = try writer.window("latency", length: .seconds(10), granularity: .seconds(1), clock: clock)
        window.record(1.0)
        clock.advance(by: Self.second)
        for _ in 0..<3 {
            window.record(11.0)
            clock.advance(by: Self.second)
        }
        // Intervals 0 … 3 are complete: means 1, 11, 11, 11.
        let alpha = 1 - exp(-(1.0 / 10.0))
        var expected = 1.0
        for _ in 0..<3 { expected = expected + alpha * (11 - expected) }
        let fields = try WindowTests.exposed(writer, "latency", now: clock.now())
        #expect(fields["ewma_mean"] == .double(expected))
        #expect(fields["ewma_rate"] == .double(1), "one value per second throughout")
    }
}
