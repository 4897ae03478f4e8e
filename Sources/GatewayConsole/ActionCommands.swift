// gatewayctl hold | release | retry | cancel | requeue: by message id, or by filter with a
// count shown and a confirmation (--yes for scripts). Every change is audited with the
// operator's name.

import ArgumentParser
import Foundation
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore

/// What every action command does, parameterised by the action.
struct ActionRunner {
    var action: OperatorAction
    var global: GlobalOptions
    var filter: FilterOptions
    var ids: [String]
    var yes: Bool
    var reason: String?

    func run() throws {
        let (config, store) = try global.openQueue(write: true)
        var f = try filter.filter(ids: ids)
        if f.isEmpty {
            Console.error("give message ids or a filter (for everything: --state \(action.from.map(\.rawValue).joined(separator: " ")))")
            throw ExitCode.validationFailure
        }
        // A message id is unique per sender only: one that several units used must be
        // narrowed (--sender, or the #DELIVERY number), not acted on for all of them.
        if f.senders.isEmpty {
            let ambiguous = try store.senders(of: f.messageIds).filter { $0.value.count > 1 }
            if let (id, senders) = ambiguous.min(by: { $0.key < $1.key }) {
                Console.error("message id \(id) is used by several units (\(senders.joined(separator: ", "))): add --sender, or give #DELIVERY numbers (gatewayctl queue list)")
                throw ExitCode(1)
            }
        }
        // What is counted and confirmed is what is changed: nothing accepted meanwhile.
        f.upToDeliveryId = try store.highestDeliveryId()
        // Back to the queue on the routes gatewayd applied last (those it sends on), else on
        // the file's (gatewayd has not run on this queue).
        let applied = try Gateway.appliedRoutes(in: store)
        let inForce = applied ?? config.routes
        let routes = action.to == .queued ? inForce : nil
        if routes != nil, let applied, applied != config.routes {
            Console.error("warning: the routes in \(config.file) are not those gatewayd applied last (not reloaded yet?): deliveries go back on gatewayd's routes; reload gatewayd (SIGHUP) to apply the file's")
        } else if routes != nil, applied == nil, let fingerprint = try store.setting("routing"), fingerprint != Gateway.routingFingerprint(config) {
            // A gatewayd older than the kept routes ran on this queue: its routes are not known here.
            Console.error("warning: the routes in \(config.file) are not those gatewayd applied last (not reloaded yet?); deliveries go back on the file's routes: reload gatewayd (SIGHUP) so that it sends on them too")
        }
        let known = inForce.keys.sorted().joined(separator: ", ")
        let preview = try store.count(action, filter: f, routes: routes)
        if preview.changed == 0 {
            let message = preview.unrouted > 0
                ? "nothing to \(action.rawValue): \(preview.unrouted) matching deliver\(preview.unrouted == 1 ? "y has" : "ies have") no route in force (routes: \(known))"
                : "nothing to \(action.rawValue): \(preview.skipped) matching deliver\(preview.skipped == 1 ? "y is" : "ies are") not \(action.from.map(\.rawValue).joined(separator: " or "))"
            if global.json {
                Console.json(["changed": 0, "skipped": .number(Double(preview.skipped)), "unrouted": .number(Double(preview.unrouted))])
            } else {
                Console.out(message)
            }
            throw ExitCode(1)
        }
        let byFilter = ids.isEmpty || preview.changed > ids.count
        if byFilter && !yes {
            Console.out("\(action.rawValue): \(preview.changed) deliver\(preview.changed == 1 ? "y" : "ies") match\(preview.skipped > 0 ? " (\(preview.skipped) more match but are in other states)" : "")")
            guard isatty(0) != 0 else {
                Console.error("not a terminal: re-run with --yes to \(action.rawValue) them")
                throw ExitCode(1)
            }
            FileHandle.standardOutput.write(Data("proceed? [y/N] ".utf8))
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                Console.out("nothing changed")
                throw ExitCode(1)
            }
        }
        let isCancel = action == .cancel
        let gatewayId = config.gatewayId
        // Back to the queue on the routes in force (a route moved or removed since the deliveries waited).
        let result = try store.apply(action, filter: f, actor: Operator.name, reason: reason, routes: routes) { change in
            guard isCancel else { return nil }
            // As the daemon's delivery reports (schemas/report.schema.json), named after the unit's file.
            let body: JSON = ["kind": "cancelled", "messageId": .string(change.messageId), "sender": .string(change.sender),
                              "recipient": .string(change.recipient), "endpoint": .string(change.endpoint),
                              "file": .string(change.sourceFile ?? "\(change.messageId).json"), "gateway": .string(gatewayId),
                              "digest": .string(change.contentDigest), "at": .string(RFC3339.format(millis: Date().millis)),
                              "reason": .string(String(change.reason.prefix(2000)))]
            return try? body.canonicalString()
        }
        if global.json {
            Console.json(["action": .string(action.rawValue), "changed": .number(Double(result.changed)), "skipped": .number(Double(result.skipped)),
                          "unrouted": .number(Double(result.unrouted)), "operator": .string(Operator.name)])
        } else {
            Console.out("\(action.rawValue): \(result.changed) deliver\(result.changed == 1 ? "y" : "ies") changed\(result.skipped > 0 ? ", \(result.skipped) left as they were" : "") (audited as \(Operator.name))")
            if result.unrouted > 0 {
                Console.out("\(result.unrouted) of them for recipients without a route in force (routes: \(known)): cancel them, or add the route and reload")
            }
        }
    }
}

/// The options every action command takes.
struct ActionOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filter: FilterOptions
    @Argument(help: "Message ids, or #DELIVERY numbers.") var ids: [String] = []
    @Flag(help: "Do not ask for confirmation.") var yes = false
    @Option(help: "Why (kept in the audit log; told to the unit on cancel).") var reason: String?

    func run(_ action: OperatorAction) throws {
        // gatewayd releases its own holds by this prefix: an operator's reason must not look like one.
        if let reason, reason.hasPrefix(QueueStore.gatewayHoldPrefix) {
            throw ValidationError("--reason must not start with \"\(QueueStore.gatewayHoldPrefix)\" (the gateway's own holds are marked so)")
        }
        try ActionRunner(action: action, global: global, filter: filter, ids: ids, yes: yes, reason: reason).run()
    }
}

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hold", abstract: "Hold queued or deferred deliveries (they are not sent until released).")
    @OptionGroup var options: ActionOptions
    func run() throws { try options.run(.hold) }
}

struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Release held deliveries back to the queue.")
    @OptionGroup var options: ActionOptions
    func run() throws { try options.run(.release) }
}

struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retry", abstract: "Retry deferred deliveries now instead of at their next attempt time.")
    @OptionGroup var options: ActionOptions
    func run() throws { try options.run(.retry) }
}

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel deliveries that are not delivered yet (the unit gets a report).")
    @OptionGroup var options: ActionOptions
    func run() throws { try options.run(.cancel) }
}

struct RequeueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue", abstract: "Put failed deliveries back in the queue.",
        discussion: "Example: gatewayctl requeue --recipient EU-FRONTEX --since 2026-11-28 --until 2026-11-29 --yes")
    @OptionGroup var options: ActionOptions
    func run() throws { try options.run(.requeue) }
}
