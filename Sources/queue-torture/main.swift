// queue-torture: a writer for the crash test. Enqueues, claims and resolves messages in a
// loop against the queue at argv[1], printing "committed <messageId>" after each durable
// enqueue, until it is killed (the test sends SIGKILL at random moments).
import Foundation
import GatewayModel
import GatewayStore

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
let path = CommandLine.arguments[1]
let prefix = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "m"
let store = try QueueStore(path: path)
let lock = try QueueOwnerLock(queuePath: path)
try store.recoverInterrupted()
var n = 0
while true {
    var batch: [NewMessage] = []
    for _ in 0..<Int.random(in: 1...40) {
        n += 1
        let id = "\(prefix)-\(n)"
        batch.append(NewMessage(
            sender: "PL-KGP", messageId: id, type: "alert", priority: Priority.allCases.randomElement()!,
            classification: .restricted, createdAt: Date().millis, contentDigest: String(repeating: "a", count: 64),
            jws: Array(repeating: 0x41, count: Int.random(in: 100...3000)),
            sourceFile: "\(id).json",
            routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol"), Route(recipient: "EU-FRONTEX", endpoint: "frontex")],
            tracksAcceptedReport: true))
    }
    _ = try store.enqueue(batch)
    say(batch.map { "committed \($0.messageId)" }.joined(separator: "\n"))
    for endpoint in ["europol", "frontex"] {
        let jobs = try store.claimDue(endpoint: endpoint, limit: Int.random(in: 1...30))
        let resolutions = jobs.map { job -> QueueStore.Resolution in
            let attempt = AttemptRecord(startedAt: Date().millis, durationMs: 3, endpoint: endpoint, httpStatus: 200, outcome: "ok", error: nil)
            switch Int.random(in: 0..<4) {
            case 0: return .init(job: job, attempt: attempt, resolution: .deferred(until: Date().millis + 5, reason: "503"))
            case 1: return .init(job: job, attempt: attempt, resolution: .failed(reason: "422"))
            default: return .init(job: job, attempt: attempt, resolution: .delivered(receipt: ReceiptRecord(receivedAt: Date().millis, status: "received", jws: [1, 2, 3]), duplicate: false), report: "{}")
            }
        }
        try store.resolve(resolutions)
    }
    _ = lock
}
