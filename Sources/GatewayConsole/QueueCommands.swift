// gatewayctl queue list | show | stats

import ArgumentParser
import Foundation
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Inspect the queue.",
        subcommands: [QueueList.self, QueueShow.self, QueueStatsCommand.self])
}

struct QueueList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List deliveries (one line per message and recipient), newest first.",
        discussion: "Example: gatewayctl queue list --state deferred,failed --recipient EU-EUROPOL --older-than 1h")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filter: FilterOptions

    @Option(help: "Lines per page.") var limit = 50
    @Option(help: "Page number, from 1.") var page = 1
    @Option(help: "Order: newest, oldest or priority.") var sort = "newest"

    func validate() throws {
        guard DeliverySort(rawValue: sort) != nil else { throw ValidationError("--sort must be newest, oldest or priority") }
        guard limit >= 1 && limit <= 10_000 else { throw ValidationError("--limit must be from 1 to 10000") }
        guard page >= 1 && page <= 1_000_000_000 else { throw ValidationError("--page must be from 1 to 1000000000") }
    }

    func run() throws {
        let (_, store) = try global.openQueue()
        let f = try filter.filter(ids: [])
        let rows = try store.list(f, sort: DeliverySort(rawValue: sort)!, limit: limit, offset: (page - 1) * limit)
        if global.json {
            Console.json(.array(rows.map(\.json)))
            return
        }
        if rows.isEmpty {
            Console.out(page == 1 ? "no deliveries match" : "no deliveries on page \(page)")
            return
        }
        let now = Date().millis
        Console.table(["DELIVERY", "MESSAGE", "SENDER", "RECIPIENT", "STATE", "PRIORITY", "TYPE", "AGE", "TRIES", "REASON"], rows.map { d in
            ["#\(d.deliveryId)", d.messageId, d.sender, d.recipient, d.state.rawValue, d.priority.rawValue, d.type,
             Console.age(now - d.acceptedAt), "\(d.attempts)", d.reason ?? ""]
        })
        if rows.count == limit { Console.out("(page \(page); next: --page \(page + 1))") }
    }
}

struct QueueShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one message: envelope, state per recipient, attempts, receipts, audit trail.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message id (as the unit gave it), or #ROW.") var id: String
    @Option(help: "The sending unit, when several units used the same message id.") var sender: String?
    @Flag(help: "Also print the signed message's payload.") var payload = false

    func run() throws {
        let (_, store) = try global.openQueue()
        let found: MessageDetail?
        do {
            found = try store.message(id, sender: sender)
        } catch {
            Console.error("\(error)")
            throw ExitCode(1)
        }
        guard let m = found else {
            Console.error("no message \(id)\(sender.map { " from \($0)" } ?? "") in the queue (it may have been pruned after its retention; see gatewayctl audit tail)")
            throw ExitCode(1)
        }
        let payloadJSON = Self.payload(of: m.jws)
        if global.json {
            var doc: [String: JSON] = [
                "row": .number(Double(m.rowId)), "messageId": .string(m.messageId), "sender": .string(m.sender), "type": .string(m.type),
                "priority": .string(m.priority.rawValue), "classification": .string(m.classification),
                "subject": m.subject.map(JSON.string) ?? .null, "caseReference": m.caseReference.map(JSON.string) ?? .null,
                "createdAt": .string(RFC3339.format(millis: m.createdAt)), "acceptedAt": .string(RFC3339.format(millis: m.acceptedAt)),
                "expiresAt": m.expiresAt.map { .string(RFC3339.format(millis: $0)) } ?? .null, "digest": .string(m.contentDigest),
                "file": m.sourceFile.map(JSON.string) ?? .null,
                "deliveries": .array(m.deliveries.map { d in
                    var j = d.summary.json.objectValue!
                    j["attempts"] = .array(d.attempts.map { a in
                        ["startedAt": .string(RFC3339.format(millis: a.startedAt)), "durationMs": .number(Double(a.durationMs)),
                         "endpoint": .string(a.endpoint), "httpStatus": a.httpStatus.map { .number(Double($0)) } ?? .null,
                         "outcome": .string(a.outcome), "error": a.error.map(JSON.string) ?? .null]
                    })
                    j["receipt"] = d.receipt.map { r in
                        ["receivedAt": .string(RFC3339.format(millis: r.receivedAt)), "status": r.status.map(JSON.string) ?? .null,
                         "jws": .string(String(decoding: r.jws, as: UTF8.self))]
                    } ?? .null
                    return .object(j)
                }),
                "audit": .array(m.audit.map(\.json)),
            ]
            if payload { doc["payload"] = payloadJSON ?? .null }
            Console.json(.object(doc))
            return
        }
        Console.out("message     \(m.messageId)")
        Console.out("sender      \(m.sender)")
        Console.out("type        \(m.type)")
        Console.out("priority    \(m.priority.rawValue)")
        Console.out("class.      \(m.classification)")
        if let s = m.subject { Console.out("subject     \(s)") }
        if let c = m.caseReference { Console.out("case        \(c)") }
        Console.out("created     \(Console.time(m.createdAt))")
        Console.out("accepted    \(Console.time(m.acceptedAt))")
        Console.out("expires     \(Console.time(m.expiresAt))")
        Console.out("digest      sha256:\(m.contentDigest)")
        if let f = m.sourceFile { Console.out("file        \(f)") }
        for d in m.deliveries {
            let s = d.summary
            Console.out("")
            Console.out("→ \(s.recipient) via \(s.endpoint): \(s.state.rawValue) (delivery #\(s.deliveryId), \(s.attempts) attempt\(s.attempts == 1 ? "" : "s"))\(s.reason.map { ": \($0)" } ?? "")")
            if let next = s.nextAttemptAt, s.state == .deferred { Console.out("  next attempt \(Console.time(next))") }
            for a in d.attempts {
                Console.out("  attempt \(Console.time(a.startedAt))  \(a.durationMs) ms  \(a.httpStatus.map { "HTTP \($0)" } ?? "no response")  \(a.outcome)\(a.error.map { ": \($0)" } ?? "")")
            }
            if let r = d.receipt {
                Console.out("  receipt received \(Console.time(r.receivedAt)), status \(r.status ?? "-") (\(r.jws.count) bytes, verified at delivery)")
            }
        }
        Console.out("")
        Console.out("audit trail")
        for record in m.audit { Console.out("  " + record.line) }
        if payload, let payloadJSON {
            Console.out("")
            Console.out("payload (as signed)")
            Console.out(payloadJSON.prettyString())
        }
    }

    /// The payload of a flattened-JSON JWS.
    static func payload(of jws: [UInt8]) -> JSON? {
        guard let outer = try? JSON.parse(jws), let p = outer["payload"]?.stringValue, let bytes = Base64URL.decode(p) else { return nil }
        return try? JSON.parse(bytes)
    }
}

struct QueueStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Counts by state and endpoint, pending age histogram per endpoint (as qshape), breakers.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let (config, store) = try global.openQueue()
        let now = Date().millis
        let stats = try store.stats(now: now)
        let daemon = DaemonState.read(store: store, queuePath: config.queue.path)
        let states: [DeliveryState] = [.queued, .sending, .deferred, .held, .failed, .delivered, .cancelled, .expired]
        let buckets = QueueStats.bucketMinutes.map { "\($0)m" } + ["more"]
        if global.json {
            Console.json([
                "generatedAt": .string(RFC3339.format(millis: now)), "messages": .number(Double(stats.messages)),
                "gatewayd": daemon.json,
                "totals": .object(Dictionary(uniqueKeysWithValues: states.map { ($0.rawValue, JSON.number(Double(stats.totals[$0] ?? 0))) })),
                "bucketsMinutes": .array(QueueStats.bucketMinutes.map { .number(Double($0)) }),
                "endpoints": .array(stats.endpoints.map { e in
                    [
                        "endpoint": .string(e.endpoint),
                        "counts": .object(Dictionary(uniqueKeysWithValues: states.map { ($0.rawValue, JSON.number(Double(e.counts[$0] ?? 0))) })),
                        "pendingByAge": .array(e.ageHistogram.map { .number(Double($0)) }),
                        "oldestPendingAgeSeconds": e.oldestPendingAt.map { .number(Double((now - $0) / 1000)) } ?? .null,
                        "breaker": e.breaker.map(JSON.string) ?? .null,
                        "consecutiveFailures": e.consecutiveFailures.map { .number(Double($0)) } ?? .null,
                    ]
                }),
            ])
            return
        }
        Console.out(daemon.text)
        Console.out("")
        Console.out("deliveries by state (\(stats.messages) messages)")
        Console.table(["ENDPOINT"] + states.map { $0.rawValue.uppercased() } + ["OLDEST", "BREAKER"],
                      stats.endpoints.map { e in
                          [e.endpoint] + states.map { "\(e.counts[$0] ?? 0)" }
                              + [e.oldestPendingAt.map { Console.age(now - $0) } ?? "-", e.breaker.map { "\($0)\(e.consecutiveFailures.map { " (\($0) fails)" } ?? "")" } ?? "-"]
                      } + [["TOTAL"] + states.map { "\(stats.totals[$0] ?? 0)" } + ["", ""]])
        Console.out("")
        Console.out("pending deliveries by age (queued, sending, deferred, held), minutes")
        Console.table(["ENDPOINT", "T"] + buckets, stats.endpoints.map { e in
            [e.endpoint, "\(e.ageHistogram.reduce(0, +))"] + e.ageHistogram.map { "\($0)" }
        })
    }
}

/// Whether gatewayd runs on this queue (the process holding its lock) and whether its
/// pickup takes files, as gatewayd last wrote it to the queue (Gateway.pickupStateSetting).
struct DaemonState {
    let holder: QueueOwnerLock.Holder
    let pickup: JSON?

    static func read(store: QueueStore, queuePath: String) -> DaemonState {
        // Absent (a gatewayd older than this setting) or not a JSON object: said as not
        // written. (The queue was just read for the counts: a read error here is not expected,
        // and it too only leaves this line without the pickup state.)
        let text = try? store.setting(Gateway.pickupStateSetting)
        return DaemonState(holder: QueueOwnerLock.holder(queuePath: queuePath),
                           pickup: text.flatMap { $0 }.flatMap { try? JSON.parse(Array($0.utf8)) })
    }

    /// The pickup state written by the running gatewayd (not one a stopped one left).
    private var current: JSON? {
        guard case .running(let pid, let written) = holder, let pickup,
              pickup["pid"]?.doubleValue == Double(pid) || pickup["pid"]?.doubleValue == written.map(Double.init) else { return nil }
        return pickup
    }

    var text: String {
        switch holder {
        case .notRunning:
            return "gatewayd      not running (no process holds the queue's lock)"
        case .unknown(let why):
            return "gatewayd      unknown (\(why))"
        case .running(let pid, _):
            guard let state = current, let name = state["state"]?.stringValue else {
                return "gatewayd      running (pid \(pid)); pickup state not written yet"
            }
            let since = state["since"]?.stringValue.map { " since \($0)" } ?? ""
            if name == "paused" {
                return "gatewayd      running (pid \(pid)); pickup PAUSED\(since): \(state["reason"]?.stringValue ?? "no reason given")"
            }
            return "gatewayd      running (pid \(pid)); pickup \(name)\(since)"
        }
    }

    var json: JSON {
        var members: [String: JSON]
        switch holder {
        case .notRunning: members = ["running": false, "pid": .null]
        case .unknown(let why): members = ["running": .null, "pid": .null, "unknown": .string(why)]
        case .running(let pid, _): members = ["running": true, "pid": .number(Double(pid))]
        }
        let state = current
        members["pickup"] = state?["state"] ?? .null
        members["since"] = state?["since"] ?? .null
        members["reason"] = state?["reason"] ?? .null
        return .object(members)
    }
}
