/// Benchmark rows of time windows and meters.
func windowRows(_ plan: Plan, root: String) -> [Row] {
    []
}
