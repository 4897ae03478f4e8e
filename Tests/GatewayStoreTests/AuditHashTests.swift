import Foundation
@testable import GatewayStore
import Testing

@Suite("audit chain hash")
struct AuditHashTests {
    @Test("the direct JCS writer gives the same hash as the JSON value it stands for")
    func sameAsReference() {
        let texts: [String?] = [nil, "", "PL-KGP", "a \"quoted\" \\ path\n\t\u{01}", "Zürich 東京 🚓", "\u{E000}\u{10000}", #"{"kind":"accepted","n":1}"#]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            func pick() -> String? { texts.randomElement(using: &generator)! }
            let seq = Int64.random(in: 1...9_007_199_254_740_991, using: &generator)
            let at = Int64.random(in: 0...4_102_444_800_000, using: &generator)
            let event = pick() ?? "accepted", actor = pick() ?? "gatewayd", details = pick() ?? "{}", prev = pick() ?? AuditChain.genesis
            let (sender, messageId, recipient) = (pick(), pick(), pick())
            #expect(AuditChain.hash(seq: seq, at: at, event: event, actor: actor, sender: sender, messageId: messageId,
                                    recipient: recipient, details: details, prevHash: prev)
                    == AuditChain.referenceHash(seq: seq, at: at, event: event, actor: actor, sender: sender, messageId: messageId,
                                                recipient: recipient, details: details, prevHash: prev))
        }
    }
}
