// gatewayctl verify FILE: a signed message, receipt or report — signer, chain, algorithm,
// signing time; exit 0 valid, 1 invalid.
//
// Evidence outlives certificates: a report signed last year must verify after the signing
// certificate expired. The chain is checked as of now; when it fails only because a
// certificate has expired since, it is checked again as of the time the signature claims
// (iat/sigT), and the output says so (--strict-time refuses instead).
//
// A good signature over a payload that breaks its contract is not good evidence: the
// payload is checked against its schema too (a receipt's against receipt.schema.json, a
// report's against report.schema.json, a message's against the envelope and its type's).

import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewaySchema

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a signed message, receipt or report (JWS, flattened JSON or compact).",
        discussion: """
            Trust anchors: --anchors FILE, or the gateway's signing.trustAnchors from the configuration;
            with --endpoint NAME, that endpoint's receiptTrustAnchors (for an agency's receipt).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "PEM file of trust anchors.") var anchors: String?
    @Option(help: "PEM file of CRLs for --anchors (every CA of the chain); without it revocation is not checked, and the output says so.") var crl: String?
    @Option(help: "Verify against this endpoint's receipt anchors (from the configuration).") var endpoint: String?
    @Flag(help: "Print the payload.") var payload = false
    @Option(help: "Check the chain as of this time instead of now (RFC 3339 or a date), e.g. for an audit.") var at: String?
    @Flag(name: .customLong("strict-time"), help: "Refuse a signature whose certificate has expired since, instead of checking it as of its signing time.")
    var strictTime = false
    @Argument(help: "Signed files.") var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one file") }
        if crl != nil && anchors == nil { throw ValidationError("--crl goes with --anchors (the configuration names its own CRLs)") }
        if anchors != nil && endpoint != nil { throw ValidationError("give --anchors or --endpoint, not both") }
        if let at { _ = try FilterOptions.time(at, option: "--at") }
    }

    /// The anchors, and the CRLs that go with them (the configuration's).
    func anchorsPath() throws -> (anchors: String, crl: String?)? {
        if let anchors { return (anchors, crl) }
        // The configuration as every command finds it (--config, GATEWAY_CONFIG, then the
        // default file): --endpoint needs it, and fails saying so without one; without
        // --endpoint a missing default file means no anchors (the chain is not checked).
        let named = global.configNamed
        guard named || endpoint != nil || FileManager.default.fileExists(atPath: global.configPath) else { return nil }
        let config: GatewayConfig
        if named || endpoint != nil {
            config = try global.loadConfig()
        } else {
            // The default file, which this user may not be able to read (an auditor): the
            // signature is still checked, and the output says the chain was not.
            do { config = try GatewayConfiguration.load(path: global.configPath) } catch {
                Console.error("note: \(global.configPath) could not be used (\(error)); give --anchors or --config to check the chain")
                return nil
            }
        }
        if let endpoint {
            guard let e = config.endpoints[endpoint] else {
                Console.error("no endpoint \(endpoint) in \(config.file) (endpoints: \(config.endpoints.keys.sorted().joined(separator: ", ")))")
                throw ExitCode(1)
            }
            return e.receiptTrustAnchors.map { ($0, e.crl) }
        }
        return config.signing.trustAnchors.map { ($0, config.signing.crl) }
    }

    func run() throws {
        var trust: TrustStore? = nil
        var revocationChecked = false
        if let (path, crl) = try anchorsPath() {
            revocationChecked = crl != nil
            do { trust = try TrustStore.load(anchorsPath: path, crlPaths: crl.map { [$0] } ?? []) } catch {
                Console.error("trust anchors \(path)\(crl.map { " with CRLs \($0)" } ?? ""): \(error)")
                throw ExitCode(1)
            }
        }
        let schemas: Result<MessageValidator, any Error> = Result { try SchemaServices.validator().validator }
        let now = try at.map { Date(timeIntervalSince1970: Double(try FilterOptions.time($0, option: "--at")) / 1000) } ?? Date()
        var allValid = true
        var results: [JSON] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                Console.error("cannot read \(file)")
                allValid = false
                continue
            }
            var inspection = JWSInspector.inspect([UInt8](data), trustStore: trust, at: now)
            // A certificate that has expired since: checked as of the claimed signing time.
            var asOfSigning: Date? = nil
            if !strictTime, inspection.chainFailure == .expired, let signed = inspection.signingTime, signed < now {
                let then = JWSInspector.inspect([UInt8](data), trustStore: trust, at: signed)
                if then.isValid {
                    inspection = then
                    asOfSigning = signed
                }
            }
            let conformance = inspection.payloadJSON.map { Self.conformance(of: $0, schemas: schemas) }
            // Without anchors the signature is checked with the x5c leaf's key only: say so.
            let valid = inspection.isValid && (trust != nil || inspection.chainStatus == .verified) && conformance?.fails != true
            allValid = allValid && valid
            if global.json {
                var j = inspection.json.objectValue ?? [:]
                j["file"] = .string(file)
                j["valid"] = .bool(valid)
                if trust != nil { j["revocationChecked"] = .bool(revocationChecked) }
                if let asOfSigning { j["chainCheckedAt"] = .string(RFC3339.format(millis: Int64(asOfSigning.timeIntervalSince1970 * 1000))) }
                if let conformance {
                    j["schema"] = conformance.schema.map { .string($0) } ?? .null
                    j["schemaErrors"] = conformance.errors.map { .array($0.map { .string($0) }) } ?? .null
                }
                results.append(.object(j))
                continue
            }
            Console.out("\(file): \(valid ? "VALID" : "INVALID")\(inspection.reason.map { " — \($0)" } ?? "")")
            if let alg = inspection.algorithm { Console.out("  algorithm     \(alg)") }
            if let s = inspection.signerSubject { Console.out("  signer        \(s)") }
            if let i = inspection.signerIssuer { Console.out("  issuer        \(i)") }
            Console.out("  chain         \(trust == nil ? "not checked: no trust anchors (give --anchors or --config)" : inspection.chainStatus.text)"
                        + (asOfSigning != nil ? " as of its signing time (a certificate has expired since; --strict-time refuses it)" : ""))
            if trust != nil { Console.out("  revocation    \(revocationChecked ? "checked against the CRLs" : "not checked: no CRLs (give --crl, or signing.crl / the endpoint's crl in the configuration)")") }
            if let t = inspection.signingTime { Console.out("  signed at     \(RFC3339.format(millis: Int64(t.timeIntervalSince1970 * 1000)))") }
            if let p = inspection.payloadJSON {
                let summary = ["kind", "type", "messageId", "receiptFor", "sender", "recipient", "status"].compactMap { k in
                    p[k]?.stringValue.map { "\(k)=\($0)" }
                }
                if !summary.isEmpty { Console.out("  payload       \(summary.joined(separator: " "))") }
                if let conformance { Console.out("  schema        \(conformance.text)") }
                for problem in conformance?.errors?.prefix(5) ?? [] { Console.out("    \(problem)") }
                if payload { Console.out(p.prettyString()) }
            }
        }
        if global.json { Console.json(results.count == 1 ? results[0] : .array(results)) }
        if !allValid { throw ExitCode(1) }
    }

    /// What the payload is checked against and what breaks it: nil errors when it was not
    /// checked (a payload of no known kind, or no schemas found).
    struct Conformance {
        var schema: String?
        /// nil: not checked.
        var errors: [String]?
        var text: String
        /// The schemas could not be loaded: a payload of a known kind is then not taken as
        /// conforming (fail closed).
        var unavailable = false

        var fails: Bool { unavailable || errors?.isEmpty == false }
    }

    /// A receipt (receiptFor), a report (kind), a message (messageId), or a receipt again
    /// for a payload with a receipt's other members (digest, status): one that drops the
    /// member its kind is told by is checked against the nearest schema, and fails it. A
    /// payload with none of them (an audit checkpoint, another party's JWS) is not checked.
    static func conformance(of payload: JSON, schemas: Result<MessageValidator, any Error>) -> Conformance {
        let name: String
        if payload["receiptFor"] != nil { name = "receipt" } else if payload["kind"] != nil { name = "report" }
        else if payload["messageId"] != nil { name = "envelope" }
        else if payload["digest"] != nil || payload["status"] != nil || payload["receivedAt"] != nil { name = "receipt" }
        else { return Conformance(schema: nil, errors: nil, text: "not checked: not a message, receipt or report") }
        let file = "\(name).schema.json"
        do {
            let validator = try schemas.get()
            let result = name == "envelope" ? validator.validate(payload) : try validator.schema(named: name).validate(payload)
            let errors = result.errors.map { Printable.line($0.description, limit: 300) }
            return Conformance(schema: file, errors: errors,
                               text: errors.isEmpty ? "follows \(file)" : "does not follow \(file) (\(errors.count) problem\(errors.count == 1 ? "" : "s"))")
        } catch {
            return Conformance(schema: file, errors: nil, text: "cannot be checked against \(file): \(Printable.line("\(error)", limit: 300))",
                               unavailable: true)
        }
    }
}
