// Schema benchmark: validations per second of a ~2 KB message against the envelope and its
// type's body schema (one compiled MessageValidator, one thread, error collection on, as
// the pickup workers use it). Runs from the package root: schemas/ is found there.
import Foundation
import GatewayJSON
import GatewaySchema

func runSchemaBench(quick: Bool) throws {
    let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    let schemas = root.appendingPathComponent("schemas")
    let validator = try MessageValidator(schemasDirectory: schemas)
    let sample = schemas.appendingPathComponent("examples/valid/alert--wanted-persons.json")
    let bytes = try Data(contentsOf: sample)
    let message = try JSON.parse(bytes)
    guard validator.validate(message).isValid else {
        throw BenchError("\(sample.path) does not validate")
    }
    let iterations = quick ? 5_000 : 100_000
    // Warm up caches and the allocator before timing.
    for _ in 0..<min(1_000, iterations) { _ = validator.validate(message) }
    var valid = 0
    let elapsed = measure {
        for _ in 0..<iterations where validator.validate(message).isValid { valid += 1 }
    }
    guard valid == iterations else { throw BenchError("a validation failed during the run") }
    report("schema_validations_per_s", Double(iterations) / elapsed, "validations/s")
    report("schema_message_bytes", Double(bytes.count), "bytes")
}


