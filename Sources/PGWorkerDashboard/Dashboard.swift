import Foundation
import Hummingbird
import Logging
import PGWorker
import ServiceLifecycle

/// How the dashboard listens and who may use it.
public struct DashboardConfiguration: Sendable {
    /// The address to bind. Anything but a loopback address requires ``token``.
    public var host: String = "127.0.0.1"
    /// The port; 0 picks a free one (reported to `onListening`).
    public var port: Int = 8080
    /// The access token checked on every request; required unless bound to loopback.
    public var token: String?
    /// How many wrong tokens a client, and all clients together, may send before they must wait.
    public var loginLimits = LoginLimits()
    /// More names the dashboard answers to, as `NAME` (any port) or `NAME:PORT`: the name a
    /// reverse proxy forwards, say. Without them it answers only to `127.0.0.1`, `localhost`,
    /// `[::1]` and ``host``, with its port; any other `Host` header gets 421 (DNS rebinding).
    public var allowedHosts: [String] = []
    /// A worker whose heartbeat is older than this is shown as stale.
    public var staleAfter: Duration = .seconds(30)

    /// The shortest token accepted (`openssl rand -hex 16` makes one of this length).
    public static let minimumTokenLength = 32

    /// The defaults: 127.0.0.1:8080, no token.
    public init() {}

    /// Whether ``host`` is a loopback address, reachable from this machine only.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Checks the configuration without starting anything (``Dashboard/init`` checks it too), so
    /// a command can refuse bad options before it connects to the database.
    /// - Throws: ``DashboardConfigurationError`` saying what is wrong.
    public func validate() throws {
        _ = try validated()
    }

    /// The checked configuration's host allowlist.
    func validated() throws -> AllowedHosts {
        if !isLoopback && (token ?? "").isEmpty {
            throw DashboardConfigurationError(description:
                "the dashboard binds \(host), beyond this machine: give it a token with --token or PGWORKER_DASHBOARD_TOKEN")
        }
        if let token, !token.isEmpty, token.count < Self.minimumTokenLength {
            throw DashboardConfigurationError(description:
                "the dashboard token has \(token.count) characters; it must have at least \(Self.minimumTokenLength) (openssl rand -hex 16 makes one)")
        }
        return try AllowedHosts(boundHost: host, port: port, allowed: allowedHosts)
    }
}

/// Why the dashboard refuses to start.
public struct DashboardConfigurationError: Error, CustomStringConvertible {
    /// What is wrong.
    public var description: String
}

/// The web dashboard: queues with counts by state and throughput, a job browser with filters,
/// a job page (payload, result, error history, timings) with retry / cancel / delete, pause /
/// resume and a running-jobs limit per queue, schedules with their next tick, and workers with
/// their heartbeats.
///
/// A swift-service-lifecycle `Service` built on Hummingbird; run it in a `ServiceGroup`.
public struct Dashboard: Service {
    private let application: Application<RouterResponder<DashboardRequestContext>>
    private let database: DashboardDatabase

    /// - Parameters:
    ///   - conninfo: the database.
    ///   - onListening: called with the bound port once the server accepts connections.
    /// - Throws: ``DashboardConfigurationError`` when bound beyond loopback without a token, when
    ///   the token is shorter than ``DashboardConfiguration/minimumTokenLength``, or when an allowed
    ///   host is not `NAME` or `NAME:PORT`.
    public init(conninfo: String, configuration: DashboardConfiguration = DashboardConfiguration(),
                logger: Logger = Logger(label: "pgworker.dashboard"),
                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        let hosts = try configuration.validated()
        let database = DashboardDatabase(conninfo: conninfo)
        let access = DashboardAccess(token: configuration.token)
        let router = Router(context: DashboardRequestContext.self)
        router.add(middleware: HostCheckMiddleware(hosts: hosts))
        router.add(middleware: BodyLimitMiddleware())
        router.add(middleware: TokenMiddleware(access: access, limiter: LoginLimiter(limits: configuration.loginLimits), logger: logger))
        DashboardRoutes(queries: DashboardQueries(database: database), access: access,
                        staleAfterSeconds: Double(configuration.staleAfter.components.seconds), logger: logger).add(to: router)
        self.database = database
        application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "pgworker-dashboard"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                hosts.listening(on: port)
                await onListening(port)
            },
            logger: logger)
    }

    /// Serves until cancelled or until graceful shutdown.
    public func run() async throws {
        try await application.run()
        await database.close()
    }
}

/// The dashboard's routes.
struct DashboardRoutes: Sendable {
    let queries: DashboardQueries
    let access: DashboardAccess
    let staleAfterSeconds: Double
    let logger: Logger

    func add(to router: Router<DashboardRequestContext>) {
        router.get("/") { request, _ in
            try await guarded {
                // After a queue action: what the database now says about that queue (so a crafted
                // link cannot put words on the page).
                let parameters = request.uri.queryParameters
                var notice: String?
                if let action = parameters.get("done").flatMap(DashboardQueries.QueueAction.init(rawValue:)),
                   let queue = try? DashboardQueries.validatedQueue(parameters.get("queue")),
                   let control = try await queries.queueControl(queue) {
                    notice = Pages.queueNotice(action, queue: queue, paused: control.paused, limit: control.maxRunning)
                }
                return Pages.response(Pages.overview(
                    queues: try await queries.queues(), workers: try await queries.workers(),
                    health: try await queries.health(), schedules: try await queries.schedules(), staleAfterSeconds: staleAfterSeconds,
                    csrf: access.csrfSecret, notice: notice))
            }
        }
        // Pause, resume, limit: a POST from the overview's forms, with the CSRF field, the queue
        // and (limit) the cap; redirects back to the overview.
        router.post("/queues/:action") { request, context in
            try await guarded {
                guard let action = context.parameters.get("action").flatMap(DashboardQueries.QueueAction.init(rawValue:)) else {
                    return Pages.message(title: "Not found", "No such action.", status: .notFound)
                }
                let form = try await Pages.form(request, context: context)
                guard access.isSameOrigin(request), access.isValidCSRF(form["csrf"]) else {
                    logger.warning("refused a dashboard queue action without a valid CSRF token", metadata: ["action": "\(action.rawValue)"])
                    return Pages.message(title: "Refused", "This form is stale or did not come from this dashboard. Reload the overview and try again.", status: .forbidden)
                }
                let queue: String
                var limit: Int32?
                do throws(DashboardQueries.InvalidInput) {
                    queue = try DashboardQueries.validatedQueue(form["queue"])
                    if action == .limit { limit = try DashboardQueries.validatedLimit(form["max_running"]) }
                } catch {
                    return Pages.message(title: "Not done", error.message, status: .badRequest)
                }
                try await queries.perform(action, queue: queue, limit: limit)
                logger.notice("dashboard queue action", metadata: [
                    "queue": "\(queue)", "action": "\(action.rawValue)", "limit": "\(limit.map(String.init) ?? "none")"])
                return Response.redirect(to: Pages.link("/", [("done", action.rawValue), ("queue", queue)]), type: .normal)
            }
        }
        router.post("/login") { _, _ in Response.redirect(to: "/", type: .normal) }
        router.get("/jobs") { request, _ in
            try await guarded {
                let query = request.uri.queryParameters
                func value(_ name: String) -> String? {
                    guard let text = query.get(name)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
                    return text
                }
                var filter = DashboardQueries.JobFilter(
                    state: value("state"), task: value("task"), queue: value("queue"), errorText: value("error"))
                var problem: String?
                if let state = filter.state, JobState(rawValue: state) == nil {
                    problem = "Unknown state \"\(state)\"; showing every state."
                    filter.state = nil
                }
                if let before = value("before") {
                    if let id = Int64(before) { filter.before = id } else { problem = "\"before\" must be a job id." }
                }
                return Pages.response(Pages.jobs(try await queries.jobs(filter), filter: filter, problem: problem))
            }
        }
        router.get("/jobs/:id") { request, context in
            try await guarded {
                guard let id = context.parameters.get("id", as: Int64.self) else {
                    return Pages.message(title: "Not found", "Job ids are numbers.", status: .notFound)
                }
                guard let job = try await queries.job(id) else {
                    return Pages.message(title: "Not found", "There is no job \(id).", status: .notFound)
                }
                let notice = request.uri.queryParameters.get("done")
                    .flatMap(DashboardQueries.Action.init(rawValue:)).map { "Job \(id) \($0.done)." }
                return Pages.response(Pages.job(job, csrf: access.csrfSecret, notice: notice))
            }
        }
        router.get("/jobs/:id/:action") { _, context in
            try await guarded {
                guard let id = context.parameters.get("id", as: Int64.self),
                      let action = context.parameters.get("action").flatMap(DashboardQueries.Action.init(rawValue:)) else {
                    return Pages.message(title: "Not found", "No such page.", status: .notFound)
                }
                guard let job = try await queries.job(id) else {
                    return Pages.message(title: "Not found", "There is no job \(id).", status: .notFound)
                }
                return Pages.response(Pages.confirm(action, job: job, csrf: access.csrfSecret))
            }
        }
        router.post("/jobs/:id/:action") { request, context in
            try await guarded {
                guard let id = context.parameters.get("id", as: Int64.self),
                      let action = context.parameters.get("action").flatMap(DashboardQueries.Action.init(rawValue:)) else {
                    return Pages.message(title: "Not found", "No such action.", status: .notFound)
                }
                let form = try await Pages.form(request, context: context)
                guard access.isSameOrigin(request), access.isValidCSRF(form["csrf"]) else {
                    logger.warning("refused a dashboard action without a valid CSRF token", metadata: ["job": "\(id)", "action": "\(action.rawValue)"])
                    return Pages.message(title: "Refused", "This form is stale or did not come from this dashboard. Reload the job page and try again.", status: .forbidden)
                }
                guard try await queries.perform(action, on: id) else {
                    let state = try await queries.job(id)?.summary.state
                    let why = state.map { "Job \(id) is \($0) now, so it cannot be \(action.done)." } ?? "There is no job \(id)."
                    return Pages.message(title: "Not done", why, status: .conflict)
                }
                logger.notice("dashboard action", metadata: ["job": "\(id)", "action": "\(action.rawValue)"])
                return action == .delete
                    ? Response.redirect(to: "/jobs", type: .normal)
                    : Response.redirect(to: "/jobs/\(id)?done=\(action.rawValue)", type: .normal)
            }
        }
    }

    /// Turns a database failure into a readable 503 page instead of a bare 500. An error that
    /// carries its own status (a body over the limit is 413) keeps it.
    private func guarded(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            logger.error("dashboard request failed", metadata: ["error": "\(error)"])
            return Pages.message(title: "Database unavailable", "\(error)", status: .serviceUnavailable)
        }
    }
}
