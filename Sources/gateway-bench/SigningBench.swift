// Signing benchmarks: filled in by the issue that builds the signing part.
func runSigningBench(quick: Bool) throws {}
