// Store benchmarks: filled in by the issue that builds the store part.
func runStoreBench(quick: Bool) throws {}
