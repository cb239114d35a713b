/// Benchmark rows of the simple kinds: bool, text, moving average.
func kindRows(_ plan: Plan, root: String) -> [Row] {
    []
}
