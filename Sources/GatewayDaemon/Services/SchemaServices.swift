// Where the schemas are at run time, and the validator adapter.
//
// The schemas are data shipped with the gateway (schemas/ in the source tree). Search
// order: $GATEWAY_SCHEMAS; <prefix>/share/gateway/schemas beside the executable's bin/;
// schemas/ in a folder above the executable (a source checkout's .build/...).

import Foundation
import GatewayJSON
import GatewayModel
import GatewaySchema

public enum SchemaServices {
    public static func schemasDirectory() throws -> URL {
        let fm = FileManager.default
        func has(_ url: URL) -> Bool { fm.fileExists(atPath: url.appendingPathComponent("envelope.schema.json").path) }
        if let env = ProcessInfo.processInfo.environment["GATEWAY_SCHEMAS"], !env.isEmpty {
            let url = URL(fileURLWithPath: env)
            guard has(url) else { throw SchemaLocationError(description: "GATEWAY_SCHEMAS=\(env) holds no envelope.schema.json") }
            return url
        }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let share = exe.deletingLastPathComponent().appendingPathComponent("share/gateway/schemas")
        if has(share) { return share }
        var dir = exe
        for _ in 0..<8 {
            let candidate = dir.appendingPathComponent("schemas")
            if has(candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        let cwd = URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("schemas")
        if has(cwd) { return cwd }
        throw SchemaLocationError(description: "cannot find the schemas (envelope.schema.json): set GATEWAY_SCHEMAS to the schemas folder")
    }

    public static func validator() throws -> SchemaMessageValidator {
        let dir = try schemasDirectory()
        do {
            return SchemaMessageValidator(validator: try MessageValidator(schemasDirectory: dir))
        } catch {
            throw SchemaLocationError(description: "schemas in \(dir.path): \(error)")
        }
    }
}

public struct SchemaLocationError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// The daemon's MessageValidating seam over the 2020-12 validator.
public struct SchemaMessageValidator: MessageValidating {
    public let validator: MessageValidator

    public init(validator: MessageValidator) { self.validator = validator }

    public func validate(message: JSON) -> [ValidationProblem] {
        validator.validate(message).errors.map {
            ValidationProblem(instanceLocation: $0.instanceLocation, keywordLocation: $0.keywordLocation, message: $0.description,
                              absoluteKeywordLocation: $0.absoluteKeywordLocation)
        }
    }

    /// The envelope compiled again from the loaded schemas: a graph of its own.
    public func replica() throws -> any MessageValidating {
        SchemaMessageValidator(validator: try MessageValidator(registry: validator.registry, options: validator.options))
    }
}

/// The configuration as gatewayd and gatewayctl load it: the loader's own checks plus
/// schemas/config.schema.json.
public enum GatewayConfiguration {
    /// - Parameter validator: the schemas already loaded (the daemon loads them once for the
    ///   configuration and the pickup); nil loads them here.
    public static func load(path: String, checkFiles: Bool = true, validator: SchemaMessageValidator? = nil) throws -> GatewayConfig {
        let schema: Schema?
        do {
            schema = try (validator ?? SchemaServices.validator()).validator.schema(named: "config")
        } catch {
            schema = nil  // no schemas installed: the loader's own checks still apply
        }
        return try ConfigLoader.load(path: path, checkFiles: checkFiles, schema: schema.map { s in
            { @Sendable document in s.validate(document).errors.map { ($0.instanceLocation, $0.message) } }
        })
    }
}
