// JWSInspector: the library side of `gatewayctl verify FILE`.
//
// Takes a file's bytes, never throws, and reports everything an operator asks about a
// signed message or receipt: valid or not and why, who signed, whether the chain verified,
// the algorithm, the claimed signing time and the payload. Fields that can be read without
// trusting the JWS (alg, iat, the x5c subject) are reported even when verification fails,
// marked by `isValid == false`: they are claims, not facts.
import Foundation
import GatewayJSON

/// The result of inspecting one JWS file.
public struct JWSInspection: Sendable {
    /// Whether the chain (or key) was checked, and how it went.
    public enum ChainStatus: Sendable, Equatable {
        /// The x5c chain verified against the trust anchors.
        case verified
        /// The chain was refused; the text says why (OpenSSL's reason).
        case failed(String)
        /// Verified with a bare public key; no chain was checked.
        case notChecked
        /// The JWS carries no x5c.
        case absent

        public var text: String {
            switch self {
            case .verified: return "verified"
            case .failed(let why): return "failed: \(why)"
            case .notChecked: return "not checked (verified with a public key)"
            case .absent: return "absent (no x5c)"
            }
        }
    }

    public let isValid: Bool
    /// Why the JWS is invalid; nil when valid.
    public let reason: String?
    public let failure: JWSError.Reason?
    public let serialization: JWS.Serialization?
    /// `alg` as written in the header (also when unsupported).
    public let algorithm: String?
    /// Subject of the x5c leaf (verified only when `chainStatus == .verified`).
    public let signerSubject: String?
    public let signerIssuer: String?
    public let chainStatus: ChainStatus
    /// Why the chain was refused (expired, revoked…), when it was.
    public var chainFailure: ChainVerificationError.Reason? = nil
    /// `sigT` or `iat` from the protected header.
    public let signingTime: Date?
    /// The protected header as decoded.
    public let header: JSON?
    /// The payload bytes as decoded (present even when invalid, if decodable).
    public let payload: [UInt8]?

    /// The payload as strict I-JSON, if it is JSON.
    public var payloadJSON: JSON? { payload.flatMap { try? JSON.parse($0) } }

    /// A JSON summary for `--json` output.
    public var json: JSON {
        var object: [String: JSON] = [
            "valid": .bool(isValid),
            "chainStatus": .string(chainStatus.text),
        ]
        if let reason { object["reason"] = .string(reason) }
        if let failure { object["failure"] = .string(failure.rawValue) }
        if let serialization { object["serialization"] = .string(serialization.rawValue) }
        if let algorithm { object["algorithm"] = .string(algorithm) }
        if let signerSubject { object["signerSubject"] = .string(signerSubject) }
        if let signerIssuer { object["signerIssuer"] = .string(signerIssuer) }
        if let signingTime {
            object["signingTime"] = .string(JWSSigner.rfc3339(Int64(signingTime.timeIntervalSince1970.rounded(.down))))
        }
        if let header { object["header"] = header }
        if let payloadJSON { object["payload"] = payloadJSON } else if let payload {
            object["payloadBase64URL"] = .string(Base64URL.encode(payload))
        }
        return .object(object)
    }
}

/// Inspects JWS files for `gatewayctl verify`.
public enum JWSInspector {
    /// Verifies `bytes` (flattened JSON or compact JWS) and reports the outcome.
    ///
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - trustStore: anchors for the x5c chain (the gateway's own for messages, an
    ///     endpoint's receipt anchors for receipts).
    ///   - key: a public key to verify with instead, for a JWS without x5c. When both are
    ///     given the trust store is used.
    ///   - date: when the chain must be valid (default now; pass the signing time to ask
    ///     "was it valid when signed").
    ///   - usage: what the signing certificate must be allowed to do (default `.signing`).
    ///   - verifier: the algorithm/crit policy.
    public static func inspect(_ bytes: [UInt8], trustStore: TrustStore?, key: PublicKey? = nil, at date: Date = Date(),
                               usage: CertificateUsage = .signing, verifier: JWSVerifier = JWSVerifier()) -> JWSInspection {
        let jws: JWS
        do { jws = try JWS.parse(bytes) } catch {
            return JWSInspection(isValid: false, reason: error.message, failure: error.reason, serialization: nil,
                                 algorithm: nil, signerSubject: nil, signerIssuer: nil, chainStatus: .absent,
                                 signingTime: nil, header: nil, payload: nil)
        }
        // Claims read before verification, for the report.
        let headerJSON = Base64URL.decode(jws.protectedHeaderBase64URL).flatMap { try? JSON.parse($0) }
        let algorithm = headerJSON?["alg"]?.stringValue
        let claimedTime = headerJSON?.objectValue.flatMap { try? JWSVerifier.signingTime($0) }
        var leaf: Certificate?
        if let first = headerJSON?["x5c"]?[0]?.stringValue, let der = Base64URL.decodeStandard(first) {
            leaf = try? Certificate(der: der)
        }
        let hasChain = headerJSON?["x5c"] != nil

        func report(_ valid: Bool, _ error: JWSError?, _ chainStatus: JWSInspection.ChainStatus, _ time: Date?) -> JWSInspection {
            JWSInspection(isValid: valid, reason: error?.message, failure: error?.reason, serialization: jws.serialization,
                          algorithm: algorithm, signerSubject: leaf?.subject, signerIssuer: leaf?.issuer,
                          chainStatus: chainStatus, signingTime: time, header: headerJSON, payload: jws.payload)
        }

        do {
            if let trustStore {
                let verified = try verifier.verify(jws, trustStore: trustStore, at: date, usage: usage)
                return report(true, nil, .verified, verified.signingTime)
            }
            if let key {
                let verified = try verifier.verify(jws, key: key)
                return report(true, nil, hasChain ? .notChecked : .absent, verified.signingTime)
            }
            let error = JWSError(.missingCertificateChain, "no trust anchors or public key given: the signature cannot be checked")
            return report(false, error, hasChain ? .notChecked : .absent, claimedTime)
        } catch {
            let status: JWSInspection.ChainStatus
            if let chainError = error.chainError {
                status = .failed(chainError.description)
                var inspection = report(false, error, status, claimedTime)
                inspection.chainFailure = chainError.reason
                return inspection
            } else {
                // The verifier checks the chain before the signature: a bad signature with a
                // trust store means the chain itself verified.
                status = !hasChain ? .absent : (trustStore != nil && error.reason == .badSignature ? .verified : .notChecked)
            }
            return report(false, error, status, claimedTime)
        }
    }
}
