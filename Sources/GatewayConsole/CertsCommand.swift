// gatewayctl certs: expiry of every certificate the configuration names; a warning under
// 30 days (certificates.warnDays), exit 1 when any is expired or within the warning.

import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel

struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Show the expiry of every configured certificate; warn under certificates.warnDays (default 30).")
    @OptionGroup var global: GlobalOptions

    struct Row {
        var use: String
        var file: String
        var subject: String
        var notAfter: Date
        var days: Int
    }

    func run() throws {
        let config = try global.loadConfig()
        var files: [(String, String)] = [("signing", config.signing.chain), ("tls client", config.tls.clientCertificate)]
        if let a = config.signing.trustAnchors { files.append(("signing anchors", a)) }
        for (name, e) in config.endpoints.sorted(by: { $0.key < $1.key }) {
            files.append(("\(name) server CA", e.ca))
            if let r = e.receiptTrustAnchors { files.append(("\(name) receipt anchors", r)) }
        }
        var rows: [Row] = []
        var problems: [String] = []
        for (use, file) in files {
            do {
                for cert in try Certificate.load(path: file) {
                    rows.append(Row(use: use, file: file, subject: cert.subject, notAfter: cert.notAfter, days: cert.daysUntilExpiry()))
                }
            } catch {
                problems.append("\(use): \(file): \(error)")
            }
        }
        let warn = config.certificateWarningDays
        let bad = rows.filter { $0.days < warn }
        if global.json {
            Console.json([
                "warnDays": .number(Double(warn)),
                "certificates": .array(rows.map { r in
                    ["use": .string(r.use), "file": .string(r.file), "subject": .string(r.subject),
                     "notAfter": .string(RFC3339.format(millis: Int64(r.notAfter.timeIntervalSince1970 * 1000))), "daysLeft": .number(Double(r.days)),
                     "status": .string(r.days < 0 ? "expired" : r.days < warn ? "expiring" : "ok")]
                }),
                "problems": .array(problems.map { .string($0) }),
            ])
        } else {
            Console.table(["USE", "SUBJECT", "EXPIRES", "DAYS", "STATUS"], rows.map { r in
                [r.use, r.subject, RFC3339.format(millis: Int64(r.notAfter.timeIntervalSince1970 * 1000)).prefix(10).description, "\(r.days)",
                 r.days < 0 ? "EXPIRED" : r.days < warn ? "WARNING: expires in \(r.days) days" : "ok"]
            })
            for p in problems { Console.error(p) }
            if !bad.isEmpty { Console.error("\(bad.count) certificate\(bad.count == 1 ? "" : "s") expired or expiring within \(warn) days: renew them (see certs/README.md)") }
        }
        if !bad.isEmpty || !problems.isEmpty { throw ExitCode(1) }
    }
}
