/// Benchmark rows of the writer APIs: thread-safe handles, handles kept in every place.
func apiRows(_ plan: Plan, root: String) -> [Row] {
    []
}
