// NAME
//   PickupProcessor: from the bytes of one spool file to a signed message ready to queue,
//   or a refusal that says what to fix.
//
// DESCRIPTION
//   strict I-JSON → schemas (envelope + type) → sender is the folder's unit → routes and
//   classification ceilings → attachments (size, SHA-256) → expiry → JCS → digest → sign.
//   Pure apart from the signer: no file system, no queue; safe to run on every core.
//
// SECURITY
//   The sender is taken from the folder, never trusted from the file. Only what the
//   schemas allow gets through (the envelope forbids unknown members).

import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel
import GatewayStore

public struct PickupProcessor: Sendable {
    public struct Limits: Sendable {
        public var maxDepth = 64
        public init() {}
    }

    let routes: [String: String]
    let endpoints: [String: GatewayConfig.Endpoint]
    let maxLifetimeMillis: Int64
    private(set) var validator: any MessageValidating
    private(set) var signer: any GatewaySigning
    let gatewayId: String
    /// How far a unit's clock may be ahead of the gateway's for `createdAt`.
    static let clockSkewMillis: Int64 = 5 * 60_000
    let parser: JSONParser

    public init(config: GatewayConfig, validator: any MessageValidating, signer: any GatewaySigning) {
        routes = config.routes
        endpoints = config.endpoints
        maxLifetimeMillis = Int64(config.queue.maxLifetime * 1000)
        self.validator = validator
        self.signer = signer
        gatewayId = config.gatewayId
        parser = JSONParser(limits: .init(maxDepth: 64, maxBytes: max(config.spool.maxFileSize, 1)))
    }

    /// The same processor for one worker thread: validator and signer of its own (see
    /// MessageValidating.replica).
    public func replica() throws -> PickupProcessor {
        var copy = self
        copy.validator = try validator.replica()
        copy.signer = try signer.replica()
        return copy
    }

    /// A message ready for the queue.
    public struct Prepared: Sendable {
        public var message: NewMessage
        /// The signed "accepted" report and its file name.
        public var report: [UInt8]
        public var reportName: String
    }

    /// A refusal the configuration or the clock decided, with the message's digest (see
    /// Refusal.contentDigest).
    static func mayBeQueued(_ refusal: Refusal, _ message: JSON) -> Refusal {
        var r = refusal
        r.contentDigest = (try? message.canonicalBytes()).map(SHA256.hex)
        return r
    }

    public func process(unit: String, file: String, bytes: [UInt8], now: Int64) -> Result<Prepared, Refusal> {
        // 1. Strict I-JSON.
        let message: JSON
        do {
            message = try parser.parse(bytes)
        } catch {
            return .failure(Refusal(.json, [.init("", "not valid I-JSON: \(error.detail)", line: error.line, column: error.column)]))
        }
        let messageId = message["messageId"]?.stringValue
        guard case .object = message else {
            return .failure(Refusal(.schema, "the document must be a JSON object (a message envelope), not \(message.typeName)"))
        }
        // 2. Schemas.
        let problems = validator.validate(message: message)
        if !problems.isEmpty {
            return .failure(Refusal(.schema, problems.prefix(100).map { .init($0.instanceLocation, $0.message, keywordLocation: $0.keywordLocation, absoluteKeywordLocation: $0.absoluteKeywordLocation) },
                                    messageId: messageId))
        }
        // The schema guarantees these members and their forms.
        guard let messageId, let sender = message["sender"]?.stringValue, let type = message["type"]?.stringValue,
              let priority = message["priority"]?.stringValue.flatMap(Priority.init(rawValue:)),
              let classification = message["classification"]?.stringValue.flatMap(Classification.init(rawValue:)),
              let recipients = message["recipients"]?.arrayValue?.compactMap(\.stringValue), !recipients.isEmpty,
              let createdText = message["createdAt"]?.stringValue, let createdAt = RFC3339.millis(createdText)
        else {
            return .failure(Refusal(.schema, "the envelope lacks messageId, sender, type, priority, classification, recipients or createdAt",
                                    messageId: messageId))
        }
        // 3. The folder is the unit's identity.
        guard sender == unit else {
            return .failure(Refusal(.sender, "sender \"\(sender)\" does not match the folder it was dropped in (\(unit)); a unit may only send as itself",
                                    at: "/sender", messageId: messageId))
        }
        // 4. Routes and ceilings.
        var routed: [Route] = []
        var routing: [Refusal.Item] = []
        for (i, recipient) in recipients.enumerated() {
            // Not back to its sender, nor to this gateway: that would send it out of the
            // country to come back (inbound to units is not built).
            if recipient == sender || recipient == gatewayId {
                routing.append(.init("/recipients/\(i)", "\"\(recipient)\" is \(recipient == sender ? "the sender itself" : "this gateway"): a message goes to another participant"))
                continue
            }
            guard let endpointName = routes[recipient], let endpoint = endpoints[endpointName] else {
                routing.append(.init("/recipients/\(i)", "\"\(recipient)\" is not a known participant (known: \(routes.keys.sorted().joined(separator: ", ")))"))
                continue
            }
            if classification > endpoint.classificationCeiling {
                routing.append(.init("/classification", "\(classification.rawValue) is above the ceiling of the route to \(recipient) (endpoint \(endpointName) is accredited up to \(endpoint.classificationCeiling.rawValue))"))
                continue
            }
            routed.append(Route(recipient: recipient, endpoint: endpointName))
        }
        if !routing.isEmpty { return .failure(Self.mayBeQueued(Refusal(.routing, routing, messageId: messageId), message)) }
        // 5. Attachments: the declared size and digest must match the content.
        if let attachments = message["attachments"]?.arrayValue {
            var bad: [Refusal.Item] = []
            for (i, a) in attachments.enumerated() {
                guard let content = a["content"]?.stringValue, let decoded = Base64URL.decodeStandard(content) else {
                    bad.append(.init("/attachments/\(i)/content", "content is not valid base64"))
                    continue
                }
                if let size = a["size"]?.intValue, size != decoded.count {
                    bad.append(.init("/attachments/\(i)/size", "declared size \(size) bytes, content is \(decoded.count) bytes"))
                }
                if let digest = a["sha256"]?.stringValue {
                    let actual = SHA256.hex(decoded)
                    if digest.lowercased() != actual {
                        bad.append(.init("/attachments/\(i)/sha256", "declared SHA-256 \(digest) does not match the content's \(actual)"))
                    }
                }
            }
            if !bad.isEmpty { return .failure(Refusal(.attachment, bad, messageId: messageId)) }
        }
        // 6. Times: created not in the future (five minutes for clocks that differ), and the
        // message's own expiry after its creation and not past; capped by the configured
        // maximum lifetime.
        if createdAt > now + Self.clockSkewMillis {
            return .failure(Self.mayBeQueued(Refusal(.expiry, "createdAt \(createdText) is more than five minutes ahead of the gateway's clock (\(RFC3339.format(millis: now))): check the unit's clock",
                                                     at: "/createdAt", messageId: messageId), message))
        }
        var expiresAt = now + maxLifetimeMillis
        if let text = message["expiresAt"]?.stringValue, let own = RFC3339.millis(text) {
            if own <= now {
                return .failure(Self.mayBeQueued(Refusal(.expiry, "the message expired at \(text), before it was picked up", at: "/expiresAt", messageId: messageId), message))
            }
            if own <= createdAt {
                return .failure(Self.mayBeQueued(Refusal(.expiry, "expiresAt \(text) is not after createdAt \(createdText)", at: "/expiresAt", messageId: messageId), message))
            }
            expiresAt = min(expiresAt, own)
        }
        // 7. Canonical form, digest, signature.
        let canonical: [UInt8]
        do {
            canonical = try message.canonicalBytes()
        } catch {
            return .failure(Refusal(.json, "cannot canonicalise: \(error)", messageId: messageId))
        }
        let digest = SHA256.hex(canonical)
        let jws: [UInt8]
        do {
            jws = try signer.sign(payload: canonical)
        } catch {
            return .failure(Refusal(.signing, "the gateway could not sign the message (\(error)); the file stays in the outbox and is tried again",
                                    messageId: messageId))
        }
        let report = ReportWriter.acceptedCanonical(gatewayId: gatewayId, messageId: messageId, sender: sender, file: file, digest: digest,
                                                    at: now, recipients: routed.map(\.recipient), expiresAt: expiresAt)
        // The accepted report is signed here, on the worker, not on the committer's path.
        let signedReport: [UInt8]
        do {
            signedReport = try signer.sign(payload: report)
        } catch {
            return .failure(Refusal(.signing, "the gateway could not sign the accepted report (\(error)); the file stays in the outbox and is tried again", messageId: messageId))
        }
        return .success(Prepared(message: NewMessage(
            sender: sender, messageId: messageId, type: type, priority: priority, classification: classification,
            subject: message["subject"]?.stringValue, caseReference: message["caseReference"]?.stringValue,
            createdAt: createdAt, expiresAt: expiresAt, contentDigest: digest, jws: jws, sourceFile: file,
            routes: routed, acceptedAt: now, tracksAcceptedReport: true),
            report: signedReport, reportName: ReportWriter.name(file: file, kind: "accepted", recipient: nil)))
    }
}
