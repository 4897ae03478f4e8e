// NAME
//   ConfigLoader: reads gateway.yml, checks every key, and refuses to produce a config that
//   is half right.
//
// DIAGNOSTICS
//   Every problem found (not just the first) as "FILE:LINE: key.path: what is wrong".
//
// SECURITY
//   There is no switch to turn TLS verification off: endpoint URLs must be https, and each
//   endpoint needs a CA. Private key files readable by group or others are refused.

import Foundation
import GatewayJSON

public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public struct Problem: Sendable, CustomStringConvertible {
        public var key: String
        public var line: Int?
        public var message: String
        public var description: String { "\(key.isEmpty ? "(top level)" : key): \(message)" }
    }
    public var file: String
    public var problems: [Problem]

    public var description: String {
        problems.map { p in "\(file)\(p.line.map { ":\($0)" } ?? ""): \(p.description)" }.joined(separator: "\n")
    }
}

public enum ConfigLoader {
    /// Loads and checks `path`. `checkFiles: false` skips the existence and permission
    /// checks of key and certificate files (for validating a config on another machine).
    /// - Parameter schema: checks the document against schemas/config.schema.json and
    ///   returns (JSON Pointer, message) per problem; problems at a key the loader already
    ///   explained are not repeated.
    public static func load(path: String, checkFiles: Bool = true,
                            schema: (@Sendable (JSON) -> [(pointer: String, message: String)])? = nil) throws(ConfigError) -> GatewayConfig {
        let url = URL(fileURLWithPath: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, problems: [.init(key: "", line: nil, message: "cannot read the file (does it exist, is it readable?)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, problems: [.init(key: "", line: nil, message: "the file is not UTF-8")])
        }
        let document: YAMLDocument
        do {
            document = try YAMLDocument(text: text)
        } catch {
            throw ConfigError(file: path, problems: [.init(key: "", line: error.line, message: error.message)])
        }
        var reader = ConfigReader(document: document, base: url.deletingLastPathComponent().path)
        var config = reader.read(file: path)
        if let schema {
            let explained = Set(reader.problems.map(\.key))
            for (pointer, message) in schema(document.value) {
                let key = (JSONPointer.tokens(pointer) ?? []).joined(separator: ".")
                guard !explained.contains(where: { $0 == key || $0.hasPrefix(key + ".") || key.hasPrefix($0 + ".") }) else { continue }
                reader.problem(JSONPointer.tokens(pointer) ?? [], "does not match the configuration schema: \(message)")
            }
            if !reader.problems.isEmpty { config = nil }
        }
        if checkFiles, let config { reader.checkFiles(config) }
        guard reader.problems.isEmpty, let config else {
            throw ConfigError(file: path, problems: reader.problems)
        }
        return config
    }

    /// Whether a private key file is readable by group or others (refused), with the fix.
    public static func keyPermissionProblem(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return "cannot read \(path): \(String(cString: strerror(errno)))" }
        if st.st_mode & 0o077 != 0 {
            return "private key \(path) is readable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
        }
        return nil
    }
}

/// Walks the document with the key path at hand, collecting problems.
struct ConfigReader {
    let document: YAMLDocument
    let base: String
    var problems: [ConfigError.Problem] = []

    init(document: YAMLDocument, base: String) {
        self.document = document
        self.base = base
    }

    mutating func problem(_ key: [String], _ message: String) {
        let pointer = key.isEmpty ? "" : "/" + key.map(JSONPointer.escape).joined(separator: "/")
        var line = document.lines[pointer]
        var k = key
        while line == nil && !k.isEmpty {
            k.removeLast()
            line = document.lines[k.isEmpty ? "" : "/" + k.map(JSONPointer.escape).joined(separator: "/")]
        }
        problems.append(.init(key: key.joined(separator: "."), line: line, message: message))
    }

    func value(_ key: [String]) -> JSON? {
        var current = document.value
        for k in key {
            guard let next = current[k] else { return nil }
            current = next
        }
        return current
    }

    mutating func object(_ key: [String], allowed: Set<String>, required: Bool = true) -> [String: JSON]? {
        guard let v = value(key) else {
            if required { problem(key, "missing (required)") }
            return nil
        }
        guard let members = v.objectValue else {
            problem(key, "must be a mapping, got \(v.typeName)")
            return nil
        }
        for name in members.keys.sorted() where !allowed.isEmpty && !allowed.contains(name) {
            problem(key + [name], "unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
        return members
    }

    mutating func string(_ key: [String], default fallback: String? = nil) -> String? {
        guard let v = value(key) else {
            if fallback == nil { problem(key, "missing (required)") }
            return fallback
        }
        guard let s = v.stringValue, !s.isEmpty else {
            problem(key, "must be a non-empty string")
            return fallback
        }
        return s
    }

    mutating func optionalString(_ key: [String]) -> String? {
        guard let v = value(key), !v.isNull else { return nil }
        guard let s = v.stringValue, !s.isEmpty else {
            problem(key, "must be a non-empty string")
            return nil
        }
        return s
    }

    mutating func path(_ key: [String], default fallback: String? = nil) -> String? {
        guard let s = string(key, default: fallback) else { return nil }
        return resolve(s)
    }

    func resolve(_ s: String) -> String {
        s.hasPrefix("/") ? s : URL(fileURLWithPath: base).appendingPathComponent(s).standardized.path
    }

    /// The longest duration taken (100 years): times are kept as milliseconds in 64 bits,
    /// and "keep forever" written as a huge number must not overflow one.
    static let maxDuration: Double = 100 * 365.25 * 86_400

    mutating func duration(_ key: [String], default fallback: Double) -> Double {
        guard let v = value(key) else { return fallback }
        var seconds: Double? = nil
        if let d = v.doubleValue, d >= 0 { seconds = d }
        if let s = v.stringValue, let d = Quantity.seconds(s) { seconds = d }
        guard let seconds else {
            problem(key, "must be a duration such as 500ms, 5s, 10m, 2h or 30d")
            return fallback
        }
        guard seconds <= Self.maxDuration else {
            problem(key, "must be at most 100 years (36525d)")
            return fallback
        }
        return seconds
    }

    mutating func size(_ key: [String], default fallback: Int) -> Int {
        guard let v = value(key) else { return fallback }
        if let i = v.intValue, i >= 0 { return i }
        if let s = v.stringValue, let b = Quantity.bytes(s) { return b }
        problem(key, "must be a size such as 50MB, 1GiB or a number of bytes")
        return fallback
    }

    mutating func int(_ key: [String], default fallback: Int, range: ClosedRange<Int>) -> Int {
        guard let v = value(key) else { return fallback }
        guard let i = v.intValue, range.contains(i) else {
            problem(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return fallback
        }
        return i
    }

    mutating func number(_ key: [String], default fallback: Double, range: ClosedRange<Double>) -> Double {
        guard let v = value(key) else { return fallback }
        guard let d = v.doubleValue, range.contains(d) else {
            problem(key, "must be a number from \(range.lowerBound) to \(range.upperBound)")
            return fallback
        }
        return d
    }

    mutating func bool(_ key: [String], default fallback: Bool) -> Bool {
        optionalBool(key) ?? fallback
    }

    mutating func optionalBool(_ key: [String]) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else {
            problem(key, "must be true or false")
            return nil
        }
        return b
    }

    mutating func read(file: String) -> GatewayConfig? {
        _ = object([], allowed: ["gateway", "spool", "queue", "signing", "tls", "retry", "endpoints", "routes", "certificates", "log"])
        _ = object(["gateway"], allowed: ["id", "units"])
        let gatewayId = string(["gateway", "id"]) ?? ""
        if !gatewayId.isEmpty && !ParticipantID.isValid(gatewayId) {
            problem(["gateway", "id"], "\"\(gatewayId)\" is not a participant id such as PL-GW (CC-NAME, upper case)")
        }
        var units: [String] = []
        if let list = value(["gateway", "units"])?.arrayValue, !list.isEmpty {
            for (i, u) in list.enumerated() {
                guard let s = u.stringValue, ParticipantID.isValid(s) else {
                    problem(["gateway", "units", "\(i)"], "must be a participant id such as PL-KGP")
                    continue
                }
                if units.contains(s) { problem(["gateway", "units", "\(i)"], "\(s) is listed twice") }
                units.append(s)
            }
        } else {
            problem(["gateway", "units"], "must list at least one unit behind this gateway")
        }

        _ = object(["spool"], allowed: ["directory", "maxFileSize", "rescanInterval", "workers", "batchSize"])
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let spool = GatewayConfig.Spool(
            directory: path(["spool", "directory"]) ?? "",
            maxFileSize: size(["spool", "maxFileSize"], default: 50_000_000),
            rescanInterval: duration(["spool", "rescanInterval"], default: 5),
            // One more than the cores: a worker runs while another waits for the disk
            // (measured: ≈ +5 % pickup throughput on 2 cores).
            workers: int(["spool", "workers"], default: cores + 1, range: 1...64),
            batchSize: int(["spool", "batchSize"], default: 500, range: 1...10_000))

        _ = object(["queue"], allowed: ["path", "retention", "maxLifetime", "checkpointInterval", "maxPending", "minFreeDisk", "minFreeInodes"])
        let queue = GatewayConfig.Queue(
            path: path(["queue", "path"]) ?? "",
            retention: duration(["queue", "retention"], default: 30 * 86_400),
            maxLifetime: duration(["queue", "maxLifetime"], default: 7 * 86_400),
            checkpointInterval: duration(["queue", "checkpointInterval"], default: 60),
            maxPending: int(["queue", "maxPending"], default: 5_000_000, range: 1...1_000_000_000),
            minFreeDisk: size(["queue", "minFreeDisk"], default: 100_000_000),
            minFreeInodes: int(["queue", "minFreeInodes"], default: 10_000, range: 0...1_000_000_000))

        _ = object(["signing"], allowed: ["algorithm", "key", "chain", "trustAnchors", "crl"])
        let algorithm = string(["signing", "algorithm"], default: "ES256") ?? "ES256"
        if !["ES256", "ES384", "PS256", "EdDSA"].contains(algorithm) {
            problem(["signing", "algorithm"], "\"\(algorithm)\" is not supported (ES256, ES384, PS256, EdDSA)")
        }
        var signing = GatewayConfig.Signing(algorithm: algorithm, key: path(["signing", "key"]) ?? "", chain: path(["signing", "chain"]) ?? "",
                                            trustAnchors: value(["signing", "trustAnchors"]) == nil ? nil : path(["signing", "trustAnchors"]))
        if value(["signing", "crl"]) != nil {
            signing.crl = path(["signing", "crl"])
            if signing.trustAnchors == nil { problem(["signing", "crl"], "needs signing.trustAnchors (revocation is checked on the chain to them)") }
        }

        _ = object(["tls"], allowed: ["clientKey", "clientCertificate"])
        let tls = GatewayConfig.TLS(clientKey: path(["tls", "clientKey"]) ?? "", clientCertificate: path(["tls", "clientCertificate"]) ?? "")

        _ = object(["retry"], allowed: ["initialBackoff", "maxBackoff", "multiplier", "jitter"], required: false)
        let retry = GatewayConfig.Retry(
            initialBackoff: duration(["retry", "initialBackoff"], default: 1),
            maxBackoff: duration(["retry", "maxBackoff"], default: 600),
            multiplier: number(["retry", "multiplier"], default: 2, range: 1...10),
            jitter: number(["retry", "jitter"], default: 0.2, range: 0...1))
        if retry.maxBackoff < retry.initialBackoff {
            problem(["retry", "maxBackoff"], "must not be shorter than retry.initialBackoff")
        }

        var endpoints: [String: GatewayConfig.Endpoint] = [:]
        let endpointKeys: Set<String> = ["url", "ca", "crl", "receiptSigner", "pinnedKey", "classificationCeiling", "requireReceipt", "receiptTrustAnchors",
                                         "concurrency", "rateLimit", "connectTimeout", "timeout", "proxy", "breaker", "verifyTLS", "insecure", "http2"]
        if let list = object(["endpoints"], allowed: []) {
            if list.isEmpty { problem(["endpoints"], "must define at least one endpoint") }
            for name in list.keys.sorted() {
                let key = ["endpoints", name]
                guard object(key, allowed: endpointKeys) != nil else { continue }
                if value(key + ["verifyTLS"]) != nil || value(key + ["insecure"]) != nil {
                    problem(key + [value(key + ["insecure"]) != nil ? "insecure" : "verifyTLS"],
                            "TLS verification cannot be switched off for an endpoint; give its CA in \"ca\" instead")
                }
                let url = string(key + ["url"]) ?? ""
                if !url.isEmpty, !(url.lowercased().hasPrefix("https://") && URL(string: url)?.host != nil) {
                    problem(key + ["url"], "\"\(url)\" must be an https:// URL (plain HTTP is never used for delivery)")
                }
                let ceilingText = string(key + ["classificationCeiling"]) ?? ""
                let ceiling = Classification(rawValue: ceilingText)
                if ceiling == nil && !ceilingText.isEmpty {
                    problem(key + ["classificationCeiling"], "\"\(ceilingText)\" is not a classification (\(Classification.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                _ = object(key + ["breaker"], allowed: ["failureThreshold", "openFor"], required: false)
                let rate = value(key + ["rateLimit"]).map { _ in number(key + ["rateLimit"], default: 0, range: 0.001...1_000_000) }
                let requireReceipt = bool(key + ["requireReceipt"], default: true)
                let anchors = value(key + ["receiptTrustAnchors"]) == nil ? nil : path(key + ["receiptTrustAnchors"])
                if requireReceipt && anchors == nil {
                    problem(key + ["receiptTrustAnchors"], "required when requireReceipt is true (the anchors the receipts must chain to)")
                }
                endpoints[name] = GatewayConfig.Endpoint(
                    name: name, url: url, ca: path(key + ["ca"]) ?? "", pinnedKey: optionalString(key + ["pinnedKey"]),
                    classificationCeiling: ceiling ?? .unclassified, requireReceipt: requireReceipt, receiptTrustAnchors: anchors,
                    concurrency: int(key + ["concurrency"], default: 8, range: 1...1_024), rateLimit: rate,
                    connectTimeout: duration(key + ["connectTimeout"], default: 5), timeout: duration(key + ["timeout"], default: 30),
                    proxy: optionalString(key + ["proxy"]),
                    breakerFailureThreshold: int(key + ["breaker", "failureThreshold"], default: 5, range: 1...1_000),
                    breakerOpenFor: duration(key + ["breaker", "openFor"], default: 30),
                    http2: optionalBool(key + ["http2"]),
                    crl: value(key + ["crl"]) == nil ? nil : path(key + ["crl"]),
                    receiptSigner: optionalString(key + ["receiptSigner"]))
                if let pin = endpoints[name]?.pinnedKey, !pin.split(separator: ";", omittingEmptySubsequences: false).allSatisfy({ one in
                    // sha256// and the base64 of 32 bytes: 43 characters and one '='.
                    one.hasPrefix("sha256//") && Data(base64Encoded: String(one.dropFirst(8)))?.count == 32
                }) {
                    problem(key + ["pinnedKey"], "must be curl's form sha256//BASE64 (the SHA-256 of the server's public key), several joined by ';'")
                }
            }
        }

        var routes: [String: String] = [:]
        if let list = object(["routes"], allowed: []) {
            if list.isEmpty { problem(["routes"], "must route at least one recipient") }
            for (recipient, target) in list.sorted(by: { $0.key < $1.key }) {
                if !ParticipantID.isValid(recipient) {
                    problem(["routes", recipient], "\"\(recipient)\" is not a participant id such as EU-EUROPOL")
                }
                if units.contains(recipient) || recipient == gatewayId {
                    // It would send a message for home out of the country (inbound to units is not built).
                    problem(["routes", recipient], "\"\(recipient)\" is \(recipient == gatewayId ? "this gateway" : "a unit of this gateway"): routes lead to other participants")
                }
                guard let endpoint = target.stringValue else {
                    problem(["routes", recipient], "must name an endpoint")
                    continue
                }
                if endpoints[endpoint] == nil && !endpoints.isEmpty {
                    problem(["routes", recipient], "names endpoint \"\(endpoint)\", which is not defined (defined: \(endpoints.keys.sorted().joined(separator: ", ")))")
                }
                routes[recipient] = endpoint
            }
        }

        _ = object(["certificates"], allowed: ["warnDays"], required: false)
        _ = object(["log"], allowed: ["level"], required: false)
        let level = string(["log", "level"], default: "info") ?? "info"
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) {
            problem(["log", "level"], "must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard problems.isEmpty else { return nil }
        return GatewayConfig(
            file: file, gatewayId: gatewayId, units: units, spool: spool, queue: queue, signing: signing, tls: tls, retry: retry,
            endpoints: endpoints, routes: routes,
            certificateWarningDays: int(["certificates", "warnDays"], default: 30, range: 0...3650), logLevel: level)
    }

    /// Files the config names must exist; private keys must not be readable by others.
    mutating func checkFiles(_ config: GatewayConfig) {
        func exists(_ key: [String], _ path: String) {
            if !FileManager.default.fileExists(atPath: path) { problem(key, "file \(path) does not exist") }
        }
        func privateKey(_ key: [String], _ path: String) {
            guard FileManager.default.fileExists(atPath: path) else { return exists(key, path) }
            if let p = ConfigLoader.keyPermissionProblem(path) { problem(key, p) }
        }
        privateKey(["signing", "key"], config.signing.key)
        exists(["signing", "chain"], config.signing.chain)
        if let anchors = config.signing.trustAnchors { exists(["signing", "trustAnchors"], anchors) }
        if let crl = config.signing.crl { exists(["signing", "crl"], crl) }
        privateKey(["tls", "clientKey"], config.tls.clientKey)
        exists(["tls", "clientCertificate"], config.tls.clientCertificate)
        for (name, e) in config.endpoints.sorted(by: { $0.key < $1.key }) {
            exists(["endpoints", name, "ca"], e.ca)
            if let a = e.receiptTrustAnchors { exists(["endpoints", name, "receiptTrustAnchors"], a) }
            if let c = e.crl { exists(["endpoints", name, "crl"], c) }
        }
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: config.spool.directory, isDirectory: &isDir) || !isDir.boolValue {
            problem(["spool", "directory"], "folder \(config.spool.directory) does not exist")
        }
        let queueDir = URL(fileURLWithPath: config.queue.path).deletingLastPathComponent().path
        if !FileManager.default.fileExists(atPath: queueDir, isDirectory: &isDir) || !isDir.boolValue {
            problem(["queue", "path"], "folder \(queueDir) does not exist")
        }
    }
}
