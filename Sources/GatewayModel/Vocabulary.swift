// The product's vocabulary (SPEC §2, §3, §6) as plain values shared by every part.

/// A message's urgency. `immediate` (threat to life) never waits behind routine traffic.
public enum Priority: String, Sendable, CaseIterable, Codable, Comparable {
    case immediate
    case urgent
    case routine

    /// Scheduling rank: lower goes first.
    public var rank: Int {
        switch self {
        case .immediate: return 0
        case .urgent: return 1
        case .routine: return 2
        }
    }

    public init?(rank: Int) {
        guard let p = Priority.allCases.first(where: { $0.rank == rank }) else { return nil }
        self = p
    }

    public static func < (a: Priority, b: Priority) -> Bool { a.rank < b.rank }
}

/// EU classification levels the gateway carries (TRES SECRET UE is never carried).
public enum Classification: String, Sendable, CaseIterable, Codable, Comparable {
    case unclassified = "UNCLASSIFIED"
    case restricted = "RESTREINT UE/EU RESTRICTED"
    case confidential = "CONFIDENTIEL UE/EU CONFIDENTIAL"
    case secret = "SECRET UE/EU SECRET"

    public var level: Int {
        switch self {
        case .unclassified: return 0
        case .restricted: return 1
        case .confidential: return 2
        case .secret: return 3
        }
    }

    public static func < (a: Classification, b: Classification) -> Bool { a.level < b.level }
}

/// The six message types, each with its own body schema.
public enum MessageType: String, Sendable, CaseIterable, Codable {
    case informationRequest = "information-request"
    case informationReply = "information-reply"
    case operationalReport = "operational-report"
    case alert
    case grantApplication = "grant-application"
    case trainingNomination = "training-nomination"
}

/// The state of one delivery (one message to one recipient). SPEC §6.
public enum DeliveryState: String, Sendable, CaseIterable, Codable {
    case queued, sending, deferred, delivered, failed, held, cancelled, expired

    /// No further transition happens from a terminal state.
    public var isTerminal: Bool {
        switch self {
        case .delivered, .cancelled, .expired: return true
        default: return false
        }
    }

    /// The transitions the queue allows; everything else is refused.
    public func canMove(to next: DeliveryState) -> Bool {
        switch (self, next) {
        case (.queued, .sending), (.queued, .held), (.queued, .cancelled), (.queued, .expired): return true
        case (.deferred, .queued), (.deferred, .sending), (.deferred, .held), (.deferred, .cancelled), (.deferred, .expired): return true
        case (.sending, .delivered), (.sending, .deferred), (.sending, .failed), (.sending, .queued), (.sending, .expired): return true
        case (.held, .queued), (.held, .cancelled), (.held, .expired): return true
        case (.failed, .queued), (.failed, .cancelled): return true
        default: return false
        }
    }
}

/// A participant identifier `CC-NAME` (SPEC §2): two upper-case letters (or EU), a dash,
/// an upper-case name.
public enum ParticipantID {
    public static func isValid(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count >= 4, bytes.count <= 64, bytes[2] == UInt8(ascii: "-") else { return false }
        for b in bytes[0..<2] where !(b >= 0x41 && b <= 0x5A) { return false }
        for b in bytes[3...] where !((b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)) { return false }
        return true
    }
}
