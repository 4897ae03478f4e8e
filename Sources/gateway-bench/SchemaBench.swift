// Schema benchmarks: filled in by the issue that builds the schema part.
func runSchemaBench(quick: Bool) throws {}
