// The baselines: a plain store to memory, and an atomic add (what a thread-safe counter costs
// at least).
import Synchronization

/// The word the atomic-add rows add to.
final class AtomicWord: Sendable {
    let value = Atomic<UInt64>(0)
}

func baselineRows(_ bench: Bench) {
    let buffer = UnsafeMutablePointer<UInt64>.allocate(capacity: 2)
    buffer.initialize(repeating: 0, count: 2)
    let plain = SingleThreaded(buffer)
    bench.measure(
        "plain store (baseline)", .baseline, threadSafe: false, why: "a plain store from two threads is a data race"
    ) { n in
        let words = plain.value
        for i in 0..<n { words[i & opaqueMask] = UInt64(truncatingIfNeeded: i) }
        return words[0]
    }
    let word = AtomicWord()
    bench.measure("Atomic<UInt64>.wrappingAdd(1, ordering: .relaxed)", .counter) { n in
        for _ in 0..<n { word.value.wrappingAdd(1, ordering: .relaxed) }
        return word.value.load(ordering: .relaxed)
    }
}
