import Metrics
import MmStatsCore

/// A simulated order service: orders arrive, wait for a database connection, are processed
/// and answered; every step is recorded in ``OrderStats``. Time is simulated in milliseconds
/// and advanced by the caller, so the numbers do not depend on how busy the machine is.
struct Simulation {
    /// Connections the pool starts with, and the most it opens.
    static let minimumOpen = 4
    static let maximumOpen = 24

    private struct Order {
        var arrivedMs: Int
        var serviceMs: Int
        var finishesMs = 0
    }

    private let stats: OrderStats
    private var random: SplitMix64
    private var waiting: [Order] = []
    private var busy: [Order] = []
    private var open = Simulation.minimumOpen
    private var quietMs = 0

    init(stats: OrderStats, seed: UInt64) {
        self.stats = stats
        self.random = SplitMix64(seed: seed)
    }

    /// Advances the service by `stepMs` milliseconds, ending at `nowMs`.
    mutating func step(to nowMs: Int, stepMs: Int) {
        // About 200 orders a second.
        for _ in 0..<Int.random(in: 0...(stepMs * 2 / 5), using: &random) {
            stats.received.increment()
            // Most orders take 5 to 40 ms; one in a hundred hits a slow query.
            let slow = Int.random(in: 0..<100, using: &random) == 0
            let serviceMs = slow ? Int.random(in: 150...400, using: &random) : Int.random(in: 5...40, using: &random)
            waiting.append(Order(arrivedMs: nowMs, serviceMs: serviceMs))
        }
        // Answer the orders whose work is done.
        busy.removeAll { order in
            guard order.finishesMs <= nowMs else { return false }
            stats.latency.record(.milliseconds(order.finishesMs - order.arrivedMs))
            stats.completed.increment()
            if Int.random(in: 0..<50, using: &random) == 0 { stats.failed.increment() }  // 2 % declined
            return true
        }
        // Idle connections take waiting orders, oldest first.
        while busy.count < open, !waiting.isEmpty {
            var order = waiting.removeFirst()
            order.finishesMs = nowMs + order.serviceMs
            busy.append(order)
        }
        // The pool opens a connection while orders wait, and closes one after 200 ms with
        // more than four idle.
        if !waiting.isEmpty && open < Simulation.maximumOpen { open += 1 }
        quietMs = open - busy.count > 4 ? quietMs + stepMs : 0
        if quietMs >= 200 && open > Simulation.minimumOpen {
            open -= 1
            quietMs = 0
        }
        stats.inFlight.set(Int64(busy.count + waiting.count))
        stats.pool.set([.uint(UInt64(open)), .uint(UInt64(open - busy.count)), .uint(UInt64(waiting.count))])
    }
}

/// A small seeded generator, so that every run simulates the same orders.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
