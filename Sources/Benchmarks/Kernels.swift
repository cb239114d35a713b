// The timed loops. Each is @inline(never) and takes its handle as a parameter, so the loop
// body is exactly what a caller in another module gets after cross-module inlining.
import MmStatsCore
import Synchronization

// MARK: mmstats handles

@inline(never)
func incrementCounter(_ counter: Counter, times n: Int) -> UInt64 {
    for _ in 0..<n { counter.increment() }
    return counter.value
}

@inline(never)
func setGauge(_ gauge: Gauge, times n: Int) -> UInt64 {
    for i in 0..<n { gauge.set(Int64(i)) }
    return UInt64(bitPattern: gauge.value)
}

@inline(never)
func setDoubleGauge(_ gauge: DoubleGauge, times n: Int) -> UInt64 {
    for i in 0..<n { gauge.set(Double(i)) }
    return gauge.value.bitPattern
}

@inline(never)
func updateRecord(_ record: Record, times n: Int) -> UInt64 {
    for i in 0..<n {
        let v = UInt64(truncatingIfNeeded: i)
        record.update { w in
            w[0] &+= 1
            w[1] &+= v
            w[2] = v
            w[3] = v ^ 0xFF
        }
    }
    return record.currentWords[0]
}

@inline(never)
func publishRepeatedly(_ writer: StatsWriter, times n: Int) -> UInt64 {
    for _ in 0..<n { writer.publish() }
    return UInt64(n)
}

// MARK: Baselines on plain private memory

/// `words[i & opaqueMask] += 1`: a load, an add and a store to memory every iteration.
@inline(never)
func incrementPlain(_ words: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    for i in 0..<n { words[i & mask] &+= 1 }
    return words[0]
}

@inline(never)
func storePlain(_ words: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    for i in 0..<n { words[i & mask] = UInt64(truncatingIfNeeded: i) }
    return words[0]
}

@inline(never)
func storePlainDouble(_ words: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    for i in 0..<n { words[i & mask] = Double(i).bitPattern }
    return words[0]
}

/// The same four-word change as `updateRecord`, in place, with plain stores.
@inline(never)
func updatePlainQuad(_ words: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    for i in 0..<n {
        let v = UInt64(truncatingIfNeeded: i)
        let w = words + 4 * (i & mask)
        w[0] &+= 1
        w[1] &+= v
        w[2] = v
        w[3] = v ^ 0xFF
    }
    return words[0]
}

/// Copies `count` words with memcpy, then stores a sequence word: the least a publish can do.
@inline(never)
func copyPlain(
    from source: UnsafeMutablePointer<UInt64>, to destination: UnsafeMutablePointer<UInt64>, count: Int, times n: Int
) -> UInt64 {
    for i in 0..<n {
        destination.update(from: source, count: count)
        destination[count] = UInt64(truncatingIfNeeded: i)
    }
    return destination[count]
}

/// Holds an atomic word on the heap (Atomic is not copyable).
final class AtomicWord: Sendable {
    let value = Atomic<UInt64>(0)
}

@inline(never)
func atomicAdd(_ word: AtomicWord, times n: Int) -> UInt64 {
    for _ in 0..<n { word.value.wrappingAdd(1, ordering: .relaxed) }
    return word.value.load(ordering: .relaxed)
}
