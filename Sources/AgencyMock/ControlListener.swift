// ControlListener: the plain-HTTP control API on 127.0.0.1, for tests, benchmarks and the
// demo: switch faults at run time, read what each agency received, counters, reset.
// JSON in, JSON out; bad input is a 400 problem document naming the member.
import Foundation
import GatewayJSON
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

enum ControlListener {
    static func application(
        state: MockState, agencies: [String], port: Int, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/faults") { _, _ in response(.json(state.faultsJSON)) }
        router.post("/faults") { request, _ in
            response(await setFaults(request, state: state))
        }
        router.delete("/faults") { request, _ in
            let agency = request.uri.queryParameters["agency"].map(String.init)
            if let agency, agency != MockState.allAgencies, !state.knows(agency: agency) {
                return response(unknownAgency(agency, agencies))
            }
            state.clearFaults(agency)
            return response(.json(state.faultsJSON))
        }
        router.get("/received") { request, _ in
            guard let agency = request.uri.queryParameters["agency"].map(String.init) else {
                return response(.problem(400, title: "Missing Agency", detail: "use /received?agency=EU-...", reason: "agency"))
            }
            guard state.knows(agency: agency) else { return response(unknownAgency(agency, agencies)) }
            return response(.json(state.receivedJSON(agency: agency)))
        }
        router.get("/stats") { _, _ in response(.json(state.statsJSON)) }
        router.post("/reset") { _, _ in
            state.reset()
            return response(.json(["reset": true]))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "agency-mock-control"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// `POST /faults {"agency": "EU-EUROPOL" | "*", ...}`: replaces that key's fault set.
    static func setFaults(_ request: Request, state: MockState) async -> Reply {
        let parsed: JSON
        do {
            let body = try await request.body.collect(upTo: 64 * 1024)
            parsed = try JSON.parse(Array(buffer: body))
        } catch {
            return .problem(400, title: "Bad Fault Request", detail: "the body must be a JSON object: \(error)", reason: "json")
        }
        guard case .object(let members) = parsed else {
            return .problem(400, title: "Bad Fault Request", detail: "the body must be a JSON object", reason: "json")
        }
        let agency: String
        switch members["agency"] {
        case nil: agency = MockState.allAgencies
        case .string(let name)?: agency = name
        default: return .problem(400, title: "Bad Fault Request", detail: "agency must be a string", reason: "agency")
        }
        guard agency == MockState.allAgencies || state.knows(agency: agency) else {
            return .problem(404, title: "Unknown Agency", detail: "no agency \(agency) is served here", reason: "agency")
        }
        let faults: Faults
        do { faults = try Faults(json: members) } catch {
            return .problem(400, title: "Bad Fault Request", detail: error.description, reason: "faults")
        }
        state.setFaults(faults, for: agency)
        return .json(state.faultsJSON)
    }

    static func unknownAgency(_ agency: String, _ agencies: [String]) -> Reply {
        .problem(404, title: "Unknown Agency",
                 detail: "no agency \(agency) is served here (serving \(agencies.joined(separator: ", ")))", reason: "agency")
    }

    static func response(_ reply: Reply) -> Response { AgencyListener.response(reply) }
}
