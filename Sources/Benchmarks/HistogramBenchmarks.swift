/// Benchmark rows of histograms and timers.
func histogramRows(_ plan: Plan, root: String) -> [Row] {
    []
}
