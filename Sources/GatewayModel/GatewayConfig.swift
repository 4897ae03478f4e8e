// The gateway's configuration (gateway.yml), typed. Loaded and checked by ConfigLoader;
// every relative path is already resolved against the config file's folder.

import Foundation

public struct GatewayConfig: Sendable {
    public var file: String
    /// This gateway as a participant, e.g. PL-GW.
    public var gatewayId: String
    /// The units behind this gateway: one spool folder each.
    public var units: [String]

    public struct Spool: Sendable, Equatable {
        public var directory: String
        public var maxFileSize: Int
        public var rescanInterval: Double
        /// Pickup workers (parse, validate, sign); default: the number of cores plus one.
        public var workers: Int
        /// Messages per durable commit at most.
        public var batchSize: Int
    }
    public var spool: Spool

    public struct Queue: Sendable {
        public var path: String
        /// Delivered, cancelled and expired messages are pruned after this many seconds.
        public var retention: Double
        /// A message not delivered within this many seconds of acceptance expires.
        public var maxLifetime: Double
        /// Seconds between signed audit checkpoints.
        public var checkpointInterval: Double
        /// Pending deliveries above which pickup pauses (backpressure).
        public var maxPending: Int
        /// Free disk bytes below which pickup pauses.
        public var minFreeDisk: Int
        /// Free file entries (inodes) below which pickup pauses: a file system can run out
        /// of them with bytes to spare (every report and refusal is a file).
        public var minFreeInodes: Int = 10_000
    }
    public var queue: Queue

    public struct Signing: Sendable, Equatable {
        public var algorithm: String
        public var key: String
        public var chain: String
        /// Anchors the gateway's own signatures chain to (gatewayctl verify, audit
        /// checkpoints across key rotation). Optional: without it, the signing
        /// certificate's own key is used.
        public var trustAnchors: String?
        /// CRLs (PEM, one or more per file) for the chain under `trustAnchors`: the daemon
        /// refuses a revoked signing certificate, gatewayctl a revoked signer.
        public var crl: String? = nil
    }
    public var signing: Signing

    public struct TLS: Sendable, Equatable {
        public var clientKey: String
        public var clientCertificate: String
    }
    public var tls: TLS

    public struct Retry: Sendable {
        public var initialBackoff: Double
        public var maxBackoff: Double
        public var multiplier: Double
        /// Fraction of each backoff randomised (0 … 1).
        public var jitter: Double
    }
    public var retry: Retry

    public struct Endpoint: Sendable {
        public var name: String
        public var url: String
        /// CA bundle the endpoint's server certificate must chain to.
        public var ca: String
        /// Optional pinned server public key, curl's "sha256//BASE64" form.
        public var pinnedKey: String?
        public var classificationCeiling: Classification
        public var requireReceipt: Bool
        /// Anchors the endpoint's receipt signatures must chain to.
        public var receiptTrustAnchors: String?
        public var concurrency: Int
        /// Requests per second at most (nil: unlimited).
        public var rateLimit: Double?
        public var connectTimeout: Double
        public var timeout: Double
        public var proxy: String?
        public var breakerFailureThreshold: Int
        public var breakerOpenFor: Double
        /// Offer HTTP/2 to this endpoint (true) or speak HTTP/1.1 only (false). Unset: offered
        /// where the libcurl in use handles it (8.14.1 or later; Debian 12's own 7.88 ends
        /// every HTTP/2 request with a RST_STREAM, which servers with rapid-reset protection
        /// answer with GOAWAY; see docs/transport.md).
        public var http2: Bool? = nil
        /// CRLs (PEM file, one per CA) that the server's TLS chain and the receipt signer's
        /// chain are checked against; the TLS check needs one for every CA of the chain.
        public var crl: String? = nil
        /// The receipt signer's certificate subject (RFC 2253, as `gatewayctl verify` prints
        /// it): receipts signed by any other certificate under the anchors are refused.
        public var receiptSigner: String? = nil
    }
    public var endpoints: [String: Endpoint]
    /// Recipient participant → endpoint name.
    public var routes: [String: String]

    /// Days before expiry at which certificates are warned about.
    public var certificateWarningDays: Int

    public var logLevel: String

    /// Known recipients, sorted (for "known: ..." in errors).
    public var knownRecipients: [String] { routes.keys.sorted() }

    /// The keys a reload does not apply (they are read once, at start) whose value differs
    /// in `next`: each needs a restart, and a reload says so rather than pass over them.
    public func restartOnlyChanges(in next: GatewayConfig) -> [String] {
        var keys: [String] = []
        if gatewayId != next.gatewayId { keys.append("gateway.id") }
        if Set(units) != Set(next.units) { keys.append("gateway.units") }
        if spool != next.spool { keys.append("spool") }
        if queue.path != next.queue.path { keys.append("queue.path") }
        if queue.checkpointInterval != next.queue.checkpointInterval { keys.append("queue.checkpointInterval") }
        // signing.trustAnchors and signing.crl are applied to the running certificate's
        // revocation check; the identity itself (key, chain, algorithm) only by a restart.
        if signing.algorithm != next.signing.algorithm || signing.key != next.signing.key || signing.chain != next.signing.chain {
            keys.append("signing")
        }
        if tls != next.tls { keys.append("tls") }
        if certificateWarningDays != next.certificateWarningDays { keys.append("certificates.warnDays") }
        if logLevel != next.logLevel { keys.append("log.level") }
        return keys
    }
}
