import Foundation
import Hummingbird
import PGWorker

/// The dashboard's pages: server-rendered HTML with inline CSS, no scripts, nothing loaded from
/// elsewhere (the page works offline and under a strict Content-Security-Policy).
enum Pages {
    /// Sent with every page: no scripts, no outside resources, no framing, forms post here only.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func response(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html.description)))
    }

    /// The largest request body read: the dashboard's forms are a few hundred bytes.
    static let maximumBodyBytes = 64 * 1024

    /// Decodes an `application/x-www-form-urlencoded` body of at most ``maximumBodyBytes``; a
    /// longer one throws `NIOTooManyBytesError` (413).
    static func form<Context: RequestContext>(_ request: Request, context: Context) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: maximumBodyBytes)
        var components = URLComponents()
        components.percentEncodedQuery = String(buffer: body).replacingOccurrences(of: "+", with: "%20")
        var fields: [String: String] = [:]
        for item in components.queryItems ?? [] { fields[item.name] = item.value ?? "" }
        return fields
    }

    // MARK: - Layout

    static func layout(title: String, current: String, _ content: HTML) -> HTML {
        let nav: [HTML] = [("/", "Overview"), ("/jobs", "Jobs")].map { link in
            let marker: HTML = link.0 == current ? " aria-current=\"page\"" : ""
            return "<a href=\"\(link.0)\"\(marker)>\(link.1)</a>"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · pgworker</title>
            <style>\(style)</style></head>
            <body><header><strong>pgworker</strong><nav>\(nav)</nav></header>
            <main>\(content)</main></body></html>
            """
    }

    static let style = HTML(trusted: """
        :root{--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--bg:#f8f9fb;--accent:#2e5aac;--bad:#b42318;--ok:#067647}
        *{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
        header{display:flex;gap:24px;align-items:center;padding:10px 24px;background:#101828;color:#fff}
        header nav a{color:#d0d5dd;margin-right:16px;text-decoration:none}header nav a[aria-current]{color:#fff;font-weight:600}
        main{padding:16px 24px;max-width:1400px}h1{font-size:20px;margin:8px 0 16px}h2{font-size:16px;margin:24px 0 8px}
        table{border-collapse:collapse;background:#fff;border:1px solid var(--line);width:100%}
        th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{background:#f2f4f7;font-weight:600;font-size:12px;text-transform:uppercase;color:var(--muted)}
        td.n{text-align:right;font-variant-numeric:tabular-nums}a{color:var(--accent)}
        .state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#eef2f6}
        .state-dead,.state-cancelled{background:#fee4e2;color:var(--bad)}.state-succeeded{background:#dcfae6;color:var(--ok)}
        .state-running{background:#d1e0ff;color:#1d3a8a}.state-retryable{background:#fef0c7;color:#93370d}
        pre{background:#fff;border:1px solid var(--line);padding:10px;overflow:auto;max-height:400px;white-space:pre-wrap;word-break:break-word}
        form.filters{display:flex;gap:8px;flex-wrap:wrap;align-items:end;margin-bottom:12px}
        label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
        input,select,button{font:inherit;padding:4px 8px}button{cursor:pointer}
        .actions{display:flex;gap:8px;margin:12px 0}.notice{padding:8px 12px;background:#dcfae6;border:1px solid #abefc6;margin-bottom:12px}.warning{padding:8px 12px;background:#fef3f2;border:1px solid #fecdca;margin-bottom:12px}table#health{width:auto;min-width:520px}table#health th{text-transform:none;font-size:inherit;letter-spacing:0;padding-right:32px}
        .error{padding:8px 12px;background:#fee4e2;border:1px solid #fecdca;margin-bottom:12px}
        .muted{color:var(--muted)}dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{color:var(--muted)}dd{margin:0}
        td pre{margin:0;border:0;padding:0;background:none;max-height:none}.stale{color:var(--bad)}a.action{display:inline-block;padding:4px 12px;border:1px solid var(--line);border-radius:6px;background:#fff;text-decoration:none}
        .clip{display:block;max-width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
        #schedules{table-layout:fixed}#schedules td{overflow-wrap:anywhere}#schedules .clip{max-width:100%}#queues th{white-space:nowrap}#queues th,#queues td{padding-left:8px;padding-right:8px}
        code{font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace}.rel{display:block;font-size:12px;color:var(--muted)}.when{white-space:nowrap}
        .badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;white-space:nowrap;background:#eef2f6}
        .badge-paused{background:#fef0c7;color:#93370d}.badge-limit{background:#d1e0ff;color:#1d3a8a}.badge-on{background:#dcfae6;color:var(--ok)}
        tr.paused td{background:#fffcf5}td.status{white-space:nowrap}
        td.controls{white-space:nowrap;padding-top:3px;padding-bottom:3px}td.controls form{display:inline-flex;gap:4px;margin-right:8px}
        td.controls input[name=max_running]{width:6em;padding:2px 6px}td.controls button{padding:2px 10px}
        """)

    static func state(_ state: String) -> HTML {
        "<span class=\"state state-\(state)\">\(state)</span>"
    }

    static func link(_ path: String, _ query: [(String, String?)]) -> String {
        var components = URLComponents()
        components.path = path
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        components.queryItems = items.isEmpty ? nil : items
        // URLComponents leaves "+" alone, but query decoders read it as a space.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.string ?? path
    }

    // MARK: - Pages

    static func login(failed: Bool) -> HTML {
        let message: HTML = failed ? "<p class=\"error\">That token is not right.</p>" : ""
        return layout(title: "Log in", current: "", """
            <h1>Log in</h1>\(message)
            <p>This dashboard requires its access token (<code>--token</code> or <code>PGWORKER_DASHBOARD_TOKEN</code>).</p>
            <form method="post" action="/login"><label>Token <input type="password" name="token" autofocus></label>
            <button type="submit">Log in</button></form>
            """)
    }

    static func overview(queues: [DashboardQueries.QueueSummary], workers: [DashboardQueries.WorkerSummary],
                         health: QueueHealth? = nil, schedules: (now: Date, schedules: [DashboardQueries.ScheduleSummary])?, staleAfterSeconds: Double,
                         csrf: String, notice: String? = nil) -> HTML {
        let states = QueueStatus.countColumns
        let header: [HTML] = states.map { "<th class=\"n\">\($0)</th>" }
        let queueRows: [HTML] = queues.map { queue in
            let cells: [HTML] = states.map { state in
                let count = queue.counts[state] ?? 0
                // Staged jobs are not rows of pgworker.jobs yet: nothing for the job browser to list.
                return count == 0 ? "<td class=\"n muted\">0</td>"
                    : state == QueueStatus.staged ? "<td class=\"n\">\(count)</td>"
                    : "<td class=\"n\"><a href=\"\(link("/jobs", [("queue", queue.queue), ("state", state)]))\">\(count)</a></td>"
            }
            let paused: HTML = queue.paused ? " class=\"paused\" data-paused=\"true\"" : ""
            return """
                <tr data-queue="\(queue.queue)"\(paused)><td><a class="clip name" title="\(queue.queue)" href="\(link("/jobs", [("queue", queue.queue)]))">\(queue.queue)</a></td>\
                <td class="status">\(queueStatus(queue))</td>\(cells)\
                <td class="n">\(queue.succeededLastMinute)</td><td class="n">\(queue.succeededLastHour)</td><td class="n">\(queue.failedLastHour)</td>\
                <td class="controls">\(queueControls(queue, csrf: csrf))</td></tr>
                """
        }
        let queueTable: HTML = queues.isEmpty ? "<p class=\"muted\" id=\"no-queues\">No jobs yet.</p>" : """
            <table id="queues"><thead><tr><th>Queue</th><th>Status</th>\(header)<th class="n">Done / min</th><th class="n">Done / hour</th>\
            <th class="n">Dead / hour</th><th>Control</th></tr></thead>
            <tbody>\(queueRows)</tbody></table>
            """
        let workerRows: [HTML] = workers.map { worker in
            let age = String(format: "%.0f s ago", worker.heartbeatAgeSeconds)
            let ageCell: HTML = worker.heartbeatAgeSeconds > staleAfterSeconds ? "<td class=\"stale\">\(age) (stale)</td>" : "<td>\(age)</td>"
            return """
                <tr><td>\(worker.id)</td><td>\(worker.host)</td><td class="n">\(worker.pid)</td><td>\(worker.tasks)</td>\
                <td>\(worker.queues)</td><td class="n">\(worker.running)</td>\
                <td class="n">\(worker.claimTurnP99Milliseconds.map { QueueHealth.formattedMilliseconds($0) + " ms" } ?? "-")</td>\
                <td>\(worker.startedAt)</td>\(ageCell)</tr>
                """
        }
        let workerTable: HTML = workers.isEmpty ? "<p class=\"muted\" id=\"no-workers\">No workers registered.</p>" : """
            <table id="workers"><thead><tr><th>id</th><th>host</th><th>pid</th><th>tasks</th><th>queues</th><th>running</th>\
            <th title="99th percentile of its claim turns' round trips over its last heartbeat interval">claim p99</th><th>started</th><th>heartbeat</th></tr></thead><tbody>\(workerRows)</tbody></table>
            """
        let scheduleSection: HTML = schedules.map { scheduleTable($0.schedules, now: $0.now) } ?? ""
        let noticeBox: HTML = notice.map { "<p class=\"notice\" id=\"notice\">\($0)</p>" } ?? ""
        return layout(title: "Overview", current: "/", """
            <h1>Queues</h1>\(noticeBox)\(queueTable)
            <h2>Workers</h2>\(workerTable)
            \(health.map(healthSection) ?? "")
            \(scheduleSection)
            """)
    }

    /// The claim's health: what slows claims before it bites (docs/operations.md), with the
    /// warning when a snapshot held open is slowing them.
    private static func healthSection(_ health: QueueHealth) -> HTML {
        let silent = health.runningWithSilentWorker ?? 0
        let snapshot = health.oldestSnapshotSeconds.map { "\(Int($0)) s (\(health.oldestSnapshotHolder ?? "?"))" }
            ?? (health.seesAllSessions ? "none" : "not visible to this role (needs pg_read_all_stats)")
        let claims = health.claimTurnP99Milliseconds.map {
            "\(QueueHealth.formattedMilliseconds($0)) ms over \(health.claimTurns ?? 0) turns (\(health.slowestClaimingWorker ?? "?"))"
        } ?? "no report yet"
        var warnings: [HTML] = []
        if let text = health.warning() { warnings.append("<p class=\"warning\" id=\"health-warning\">Warning: \(text)</p>") }
        if silent > 0 {
            warnings.append("""
                <p class="warning" id="silent-workers-warning">Warning: \(silent) running job\(silent == 1 ? "" : "s") \
                belong\(silent == 1 ? "s" : "") to a worker that stopped heartbeating; a live worker puts them back \
                once their worker counts as stale, and with none they stay running.</p>
                """)
        }
        let warning = HTML.join(warnings)
        return """
            <h2>Health</h2>\(warning)
            <table id="health"><tbody>\
            <tr><th>Oldest open transaction</th><td>\(snapshot)</td></tr>\
            <tr><th>Claim turns, p99 (slowest worker)</th><td>\(claims)</td></tr>\
            <tr><th>Dead rows in the jobs table</th><td class="n">\(health.deadRows)</td></tr>\
            <tr><th>Live rows</th><td class="n">\(health.liveRows)</td></tr>\
            <tr><th>Claim index</th><td class="n">\(health.claimIndexBytes / 1024) kB</td></tr>\
            <tr><th>Running jobs of silent workers</th><td class="n">\(silent)</td></tr>\
            </tbody></table>
            """
    }

    /// A queue's state: paused, capped, both, or neither.
    private static func queueStatus(_ queue: DashboardQueries.QueueSummary) -> HTML {
        var badges: [HTML] = []
        if queue.paused { badges.append("<span class=\"badge badge-paused\">paused</span>") }
        if let limit = queue.maxRunning {
            let running = queue.counts[JobState.running.rawValue] ?? 0
            badges.append("<span class=\"badge badge-limit\" title=\"\(running) of at most \(limit) running\">limit \(limit)</span>")
        }
        return badges.isEmpty ? "<span class=\"muted\">active</span>" : HTML.join(badges, separator: " ")
    }

    /// The overview's per-queue forms: pause or resume, and the limit (empty removes it). POSTs
    /// with the CSRF field; the queue name travels as a form field, never in the path.
    private static func queueControls(_ queue: DashboardQueries.QueueSummary, csrf: String) -> HTML {
        let hidden: HTML = "<input type=\"hidden\" name=\"csrf\" value=\"\(csrf)\"><input type=\"hidden\" name=\"queue\" value=\"\(queue.queue)\">"
        let toggle: HTML = queue.paused
            ? "<form method=\"post\" action=\"/queues/resume\">\(hidden)<button type=\"submit\" class=\"resume\">Resume</button></form>"
            : "<form method=\"post\" action=\"/queues/pause\">\(hidden)<button type=\"submit\" class=\"pause\">Pause</button></form>"
        let current: HTML = queue.maxRunning.map { "\($0)" } ?? ""
        return """
            \(toggle)<form method="post" action="/queues/limit">\(hidden)\
            <input name="max_running" value="\(current)" size="5" inputmode="numeric" pattern="[0-9]*" placeholder="none" \
            aria-label="Most jobs of \(queue.queue) running at once (empty: no limit)" title="Most jobs running at once; empty for no limit">\
            <button type="submit">Set limit</button></form>
            """
    }

    /// The line shown after a queue action redirected back to the overview, from the queue's
    /// state now; nil when that state is not what the action makes (someone changed it since).
    static func queueNotice(_ action: DashboardQueries.QueueAction, queue: String, paused: Bool, limit: Int?) -> String? {
        switch action {
        case .pause: paused ? "Queue \(queue) paused: workers claim none of its jobs; running ones finish." : nil
        case .resume: paused ? nil : "Queue \(queue) resumed."
        case .limit: limit.map { "Queue \(queue) runs at most \($0) jobs at once." } ?? "Queue \(queue) has no limit."
        }
    }

    /// Schedules with human headers: when (cron and zone), what (task, queue), the next and last
    /// tick in the schedule's zone with how far off they are, overlap, catch-up, payload, state.
    private static func scheduleTable(_ schedules: [DashboardQueries.ScheduleSummary], now: Date) -> HTML {
        guard !schedules.isEmpty else { return "<h2>Schedules</h2><p class=\"muted\" id=\"no-schedules\">No schedules.</p>" }
        let rows: [HTML] = schedules.map { schedule in
            let zone = TimeZone(identifier: schedule.timezone)
            var next: HTML
            if !schedule.enabled {
                next = "<span class=\"muted\">disabled</span>"
            } else if let at = schedule.nextFireAt ?? (try? CronSchedule(schedule.cron, timeZone: schedule.timezone))?.nextFire(after: now) {
                let seconds = at.timeIntervalSince(now)
                let relative: HTML = seconds >= -10 ? "in \(duration(max(seconds, 0)))"
                    : "<span class=\"stale\" title=\"no worker has enqueued it: are workers running schedules?\">overdue \(duration(-seconds))</span>"
                next = "<span class=\"when\">\(format(at, in: zone))</span><span class=\"rel\">\(zoneName(at, in: zone)), \(relative)</span>"
            } else {
                next = "<span class=\"stale\">invalid expression</span>"
            }
            let last: HTML = schedule.lastFireAt.map {
                "<span class=\"when\">\(format($0, in: zone))</span><span class=\"rel\">\(zoneName($0, in: zone)), \(duration(now.timeIntervalSince($0))) ago</span>"
            } ?? "<span class=\"muted\">never</span>"
            // As `pgworker cron list` says it: skip a tick while the lock key is busy, or wait on it.
            let key = schedule.lockKey ?? "cron:\(schedule.name)"
            let overlap: HTML = schedule.skipIfBusy || schedule.lockKey != nil
                ? "\(schedule.skipIfBusy ? "skip while busy" : "wait for the last")<code class=\"rel clip\" title=\"lock key \(key)\">\(key)</code>"
                : "<span class=\"muted\">may overlap</span>"
            let catchUp: HTML = schedule.backfill == 0 ? "<span class=\"muted\">skip missed ticks</span>" : "run the latest \(schedule.backfill) missed"
            let state: HTML = schedule.enabled ? "<span class=\"badge badge-on\">enabled</span>" : "<span class=\"badge badge-paused\">disabled</span>"
            return """
                <tr data-schedule="\(schedule.name)"><td><span class="clip name" title="\(schedule.name)">\(schedule.name)</span></td>\
                <td><code class="clip cron" title="\(schedule.cron)">\(schedule.cron)</code><span class="rel">\(schedule.timezone)</span></td>\
                <td><span class="clip" title="\(schedule.task)">\(schedule.task)</span><span class="rel clip" title="\(schedule.queue)">queue \(schedule.queue)</span></td>\
                <td class="next">\(next)</td><td>\(last)</td><td>\(overlap)</td><td>\(catchUp)</td>\
                <td><code class="clip payload" title="\(schedule.payload)">\(schedule.payload)</code></td><td>\(state)</td></tr>
                """
        }
        return """
            <h2>Schedules</h2><table id="schedules"><colgroup><col style="width:13%"><col style="width:12%"><col style="width:11%">\
            <col style="width:14%"><col style="width:13%"><col style="width:11%"><col style="width:9%"><col style="width:11%"><col style="width:6%">\
            </colgroup><thead><tr><th>Schedule</th><th>Runs at</th><th>Task</th>\
            <th>Next tick</th><th>Last tick</th><th>Overlap</th><th>After downtime</th><th>Payload</th><th>State</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
    }

    /// A moment on the wall clock of `zone` (UTC when the zone is unknown), to the second.
    static func format(_ date: Date, in zone: TimeZone?) -> String {
        formatted(date, in: zone, "yyyy-MM-dd HH:mm:ss")
    }

    /// The zone's short name at that moment ("GMT+1", "GMT"), so a wall-clock time says which clock.
    static func zoneName(_ date: Date, in zone: TimeZone?) -> String {
        guard let zone, !["UTC", "Etc/UTC", "GMT", "Etc/GMT"].contains(zone.identifier) else { return "UTC" }
        return formatted(date, in: zone, "zzz")
    }

    private static func formatted(_ date: Date, in zone: TimeZone?, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone ?? TimeZone(identifier: "UTC")
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }

    /// A span of time, roughly: "42 s", "3 min", "2 h 5 min", "3 d 4 h".
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        switch total {
        case ..<60: return "\(total) s"
        case ..<3600: return "\(total / 60) min"
        case ..<86_400: return total % 3600 / 60 == 0 ? "\(total / 3600) h" : "\(total / 3600) h \(total % 3600 / 60) min"
        default: return total % 86_400 / 3600 == 0 ? "\(total / 86_400) d" : "\(total / 86_400) d \(total % 86_400 / 3600) h"
        }
    }

    static func jobs(_ jobs: [DashboardQueries.JobSummary], filter: DashboardQueries.JobFilter, problem: String?) -> HTML {
        let stateOptions: [HTML] = ([""] + JobState.allCases.map(\.rawValue)).map { state in
            let selected: HTML = filter.state == state || (state.isEmpty && filter.state == nil) ? " selected" : ""
            return "<option value=\"\(state)\"\(selected)>\(state.isEmpty ? "any state" : state)</option>"
        }
        let rows: [HTML] = jobs.map { job in
            """
            <tr data-job="\(job.id)"><td class="n"><a href="/jobs/\(job.id)">\(job.id)</a></td><td>\(job.task)</td><td>\(job.queue)</td>\
            <td>\(state(job.state))</td><td class="n">\(job.attempts)/\(job.maxAttempts)</td><td>\(job.runAt)</td>\
            <td class="progress">\(job.progress ?? "")</td><td>\(job.lastError ?? "")</td></tr>
            """
        }
        let problemBox: HTML = problem.map { "<p class=\"error\">\($0)</p>" } ?? ""
        let table: HTML = jobs.isEmpty ? "<p class=\"muted\" id=\"no-jobs\">No jobs match.</p>" : """
            <table id="jobs"><thead><tr><th>id</th><th>task</th><th>queue</th><th>state</th><th>attempts</th><th>run at</th>\
            <th>progress</th><th>last error</th></tr></thead><tbody>\(rows)</tbody></table>
            """
        var older: HTML = ""
        if jobs.count == DashboardQueries.pageSize, let last = jobs.last {
            let href = link("/jobs", [("state", filter.state), ("task", filter.task), ("queue", filter.queue),
                                      ("error", filter.errorText), ("before", String(last.id))])
            older = "<p><a id=\"older\" href=\"\(href)\">Older jobs →</a></p>"
        }
        return layout(title: "Jobs", current: "/jobs", """
            <h1>Jobs</h1>\(problemBox)
            <form class="filters" method="get" action="/jobs">
            <label>State <select name="state">\(stateOptions)</select></label>
            <label>Task <input name="task" value="\(filter.task)"></label>
            <label>Queue <input name="queue" value="\(filter.queue)"></label>
            <label>Error contains <input name="error" value="\(filter.errorText)"></label>
            <button type="submit">Filter</button> <a href="/jobs">clear</a></form>
            \(table)\(older)
            """)
    }

    static func job(_ job: DashboardQueries.JobDetail, csrf: String, notice: String?) -> HTML {
        let summary = job.summary
        let currentState = JobState(rawValue: summary.state)
        let buttons: [HTML] = DashboardQueries.Action.allCases.compactMap { action in
            guard let currentState, action.allowedStates.contains(currentState) else { return nil }
            return "<a class=\"action\" href=\"/jobs/\(summary.id)/\(action.rawValue)\">\(action.rawValue.capitalized)…</a>"
        }
        let errorRows: [HTML] = job.errors.map { error in
            "<tr><td class=\"n\">\(error.attempt)</td><td>\(error.at)</td><td>\(error.worker)</td><td><pre>\(error.error)</pre></td></tr>"
        }
        let errorTable: HTML = job.errors.isEmpty ? "<p class=\"muted\">No failed attempts.</p>" : """
            <table id="errors"><thead><tr><th>attempt</th><th>at</th><th>worker</th><th>error</th></tr></thead><tbody>\(errorRows)</tbody></table>
            """
        let noticeBox: HTML = notice.map { "<p class=\"notice\" id=\"notice\">\($0)</p>" } ?? ""
        let result: HTML = job.result.map { "<pre id=\"result\">\($0)</pre>" } ?? "<p class=\"muted\">No result.</p>"
        return layout(title: "Job \(summary.id)", current: "/jobs", """
            <h1>Job \(summary.id) \(state(summary.state))</h1>\(noticeBox)
            <dl id="job">
            <dt>task</dt><dd>\(summary.task)</dd><dt>queue</dt><dd>\(summary.queue)</dd><dt>priority</dt><dd>\(job.priority)</dd>
            <dt>attempts</dt><dd>\(summary.attempts) of \(summary.maxAttempts)</dd>
            <dt>created</dt><dd>\(job.createdAt)</dd><dt>run at</dt><dd>\(summary.runAt)</dd>
            <dt>last attempt started</dt><dd>\(job.attemptedAt ?? "—")</dd><dt>finished</dt><dd>\(job.finishedAt ?? "—")</dd>
            <dt>locked by</dt><dd>\(job.lockedBy ?? "—")</dd>
            <dt>progress</dt><dd id="progress">\(summary.progress ?? "—")</dd>
            </dl>
            <div class="actions">\(buttons)</div>
            <h2>Payload</h2><pre id="payload">\(job.payload)</pre>
            <h2>Result</h2>\(result)
            <h2>Error history</h2>\(errorTable)
            """)
    }

    /// The confirmation step of an action: a POST form carrying the CSRF secret.
    static func confirm(_ action: DashboardQueries.Action, job: DashboardQueries.JobDetail, csrf: String) -> HTML {
        let summary = job.summary
        let verb = action.rawValue
        return layout(title: "\(verb.capitalized) job \(summary.id)", current: "/jobs", """
            <h1>\(verb.capitalized) job \(summary.id)?</h1>
            <p>Job \(summary.id) (\(summary.task) in queue \(summary.queue)) is \(state(summary.state)).</p>
            <form method="post" action="/jobs/\(summary.id)/\(verb)" id="confirm">
            <input type="hidden" name="csrf" value="\(csrf)">
            <button type="submit">Yes, \(verb) it</button> <a href="/jobs/\(summary.id)">No, go back</a></form>
            """)
    }

    static func tooLarge() -> Response {
        message(title: "Too large", "Requests to this dashboard carry at most \(maximumBodyBytes / 1024) KiB.", status: .contentTooLarge)
    }

    static func message(title: String, _ text: String, status: HTTPResponse.Status) -> Response {
        response(layout(title: title, current: "", "<h1>\(title)</h1><p class=\"error\">\(text)</p>"), status: status)
    }
}
