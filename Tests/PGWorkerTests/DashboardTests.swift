import Foundation
import Logging
import PGWorker
import PGWorkerDashboard
import PQClient
import XCTest

/// The dashboard, served for real and loaded in headless Chromium (pages) or over HTTP (access checks).
final class DashboardTests: XCTestCase {
    /// A dashboard serving `database` on a free loopback port, stopped when the test ends.
    private func serve(_ database: TestDatabase, token: String? = nil) async throws -> String {
        try await serveDashboard(conninfo: database.conninfo) { $0.token = token }.base
    }

    /// Jobs in several states, one with hostile text in its payload and error, and a live worker.
    private func seed(_ app: PQConnection) async throws -> (succeeded: Int64, dead: Int64, available: Int64) {
        let succeeded: Int64 = try await app.query("""
            INSERT INTO pgworker.jobs (task, queue, payload, state, attempts, result, finished_at)
            VALUES ('send_email', 'mail', '{"to": "a@example.com"}', 'succeeded', 1, '{"sent": true}', now()) RETURNING id
            """).rows[0].decode("id")
        let dead: Int64 = try await app.query("""
            INSERT INTO pgworker.jobs (task, queue, payload, state, attempts, max_attempts, last_error, errors, finished_at)
            VALUES ('resize', 'images', '{"image": "<script>alert(1)</script>"}', 'dead', 2, 2, 'disk full <b>now</b>',
                    '[{"attempt": 1, "at": "2026-01-01T00:00:00Z", "error": "timeout talking to S3", "worker": "w1"},
                      {"attempt": 2, "at": "2026-01-01T00:00:05Z", "error": "disk full <b>now</b>", "worker": "w1"}]', now())
            RETURNING id
            """).rows[0].decode("id")
        let available: Int64 = try await app.query("""
            INSERT INTO pgworker.jobs (task, queue, run_at) VALUES ('resize', 'images', now() + interval '1 hour') RETURNING id
            """).rows[0].decode("id")
        try await app.query("SELECT pgworker.register_worker('host-a:42:beef', 'host-a', 42, ARRAY['resize'], NULL, true)")
        // What its heartbeat writes: the claim-turn p99 of its last interval.
        try await app.query("UPDATE pgworker.workers SET claim_turns = 120, claim_turn_p99_ms = 4.2 WHERE id = 'host-a:42:beef'")
        return (succeeded, dead, available)
    }

    /// Schedules as operators write them (one with a long expression and payload, one a worker has
    /// already seen, one disabled, one with hostile text), a paused queue and a capped one.
    private func seedSchedulesAndQueueControls(_ connection: PQConnection) async throws {
        try await connection.execute("""
            SELECT pgworker.schedule('nightly-<report>', '0 3 * * *', 'report', queue => 'reports', timezone => 'Europe/Berlin', backfill => 3);
            SELECT pgworker.schedule('sync-crm', '*/5 * * * *', 'sync_crm', skip_if_busy => true);
            SELECT pgworker.schedule('month-end-invoices-for-every-customer-account-in-every-region',
                '0,5,10,15,20,25,30,35,40,45,50,55 0-6,18-23 1,2,3,4,5,28,29,30,31 1-12 MON-FRI', 'send_invoices',
                payload => jsonb_build_object('regions', to_jsonb(ARRAY['eu-west-1','eu-central-1','us-east-1','us-west-2','ap-southeast-1']),
                                              'template', repeat('invoice-reminder-', 12)),
                queue => 'mail', lock_key => 'invoices');
            SELECT pgworker.schedule('legacy-export', '@hourly', 'export', enabled => false);
            UPDATE pgworker.schedules SET last_tick = date_trunc('minute', now()) - interval '5 minutes',
                                          next_tick = date_trunc('minute', now()) + interval '5 minutes'
            WHERE name = 'sync-crm';
            SELECT pgworker.pause_queue('images');
            SELECT pgworker.set_queue_limit('mail', 2);
            """)
    }

    /// What the overview looks like laid out at `width` pixels: the page's width, and each table's
    /// and each next-tick cell's right edge and height. The page forbids scripts (its CSP header),
    /// so its HTML is measured from a local copy with a measuring script added.
    private func measureOverview(_ base: String, width: Int) async throws -> [String: Any] {
        let page = try await HTTP.request(base + "/")
        XCTAssertEqual(page.status, 200)
        let probe = """
            <script>addEventListener('load', () => {
              const box = e => { const r = e.getBoundingClientRect(); return {right: Math.ceil(r.right), height: Math.ceil(r.height)}; };
              const out = {pageWidth: document.documentElement.scrollWidth, tables: {}, nextTicks: [], clips: []};
              for (const t of document.querySelectorAll('table')) out.tables[t.id] = box(t);
              for (const c of document.querySelectorAll('#schedules td.next .when')) out.nextTicks.push(box(c));
              for (const c of document.querySelectorAll('.clip')) out.clips.push(box(c).right);
              const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
              document.body.appendChild(pre);
            });</script>
            """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-overview-\(UUID().uuidString).html")
        try Data(page.body.replacingOccurrences(of: "</body>", with: probe + "</body>").utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let dom = try await Chromium.dumpDOM(file.absoluteString, width: width)
        let json = try XCTUnwrap(dom.firstMatch(of: /<pre id="probe">([^<]*)<\/pre>/)?.1, dom).description
            .replacingOccurrences(of: "&amp;", with: "&")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    func testPagesRenderInChromium() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let ids = try await seed(app)
        try await seedSchedulesAndQueueControls(app)
        // A worker killed while running a job: nobody has put the job back yet.
        try await app.execute("""
            INSERT INTO pgworker.workers (id, host, pid, tasks, heartbeat_at) VALUES ('gone:1', 'gone', 1, '{resize}', now() - interval '5 minutes');
            INSERT INTO pgworker.jobs (task, queue, state, attempts, locked_by, locked_at) VALUES ('resize', 'images', 'running', 1, 'gone:1', now());
            """)
        let base = try await serve(database)

        let overview = try await Chromium.dumpDOM(base + "/")
        XCTAssertTrue(overview.contains("id=\"silent-workers-warning\">Warning: 1 running job belongs to a worker that stopped heartbeating"),
                      "found by an outside trial: only status said so")
        XCTAssertTrue(overview.contains("<table id=\"schedules\""), overview)
        XCTAssertTrue(overview.contains("nightly-&lt;report&gt;"), "schedule rows, escaped")
        XCTAssertTrue(overview.contains("<table id=\"queues\""), overview)
        XCTAssertTrue(overview.contains("data-queue=\"images\""), overview)
        XCTAssertTrue(overview.contains("data-queue=\"mail\""), overview)
        XCTAssertTrue(overview.contains("host-a:42:beef"), "the worker and its heartbeat are listed")
        XCTAssertTrue(overview.contains("<table id=\"workers\""))
        let workers = try XCTUnwrap(overview.firstMatch(of: /<table id="workers">.*?<\/table>/.dotMatchesNewlines())?.0).description
        XCTAssertTrue(workers.contains("claim p99</th>") && workers.contains(">4.2 ms<"), "the worker's claim-turn p99: \(workers)")
        // The claim's health: dead rows, the oldest open transaction, the slowest claims.
        let health = try XCTUnwrap(overview.firstMatch(of: /<table id="health">.*?<\/table>/.dotMatchesNewlines())?.0).description
        for header in ["Oldest open transaction", "Claim turns, p99 (slowest worker)", "Dead rows in the jobs table", "Claim index"] {
            XCTAssertTrue(health.contains("<th>\(header)</th>"), header)
        }
        XCTAssertTrue(health.contains("4.2 ms over 120 turns (host-a:42:beef)"), health)

        let deadJobs = try await Chromium.dumpDOM(base + "/jobs?state=dead&error=DISK")
        XCTAssertTrue(deadJobs.contains("data-job=\"\(ids.dead)\""), deadJobs)
        XCTAssertFalse(deadJobs.contains("data-job=\"\(ids.succeeded)\""))
        XCTAssertFalse(deadJobs.contains("data-job=\"\(ids.available)\""))
        let byHistory = try await Chromium.dumpDOM(base + "/jobs?error=s3")
        XCTAssertTrue(byHistory.contains("data-job=\"\(ids.dead)\""), "text in an earlier attempt's error matches")
        let byTask = try await Chromium.dumpDOM(base + "/jobs?task=send_email")
        XCTAssertTrue(byTask.contains("data-job=\"\(ids.succeeded)\""))
        XCTAssertFalse(byTask.contains("data-job=\"\(ids.dead)\""))

        let page = try await Chromium.dumpDOM(base + "/jobs/\(ids.dead)")
        XCTAssertTrue(page.contains("timeout talking to S3"), "error history")
        XCTAssertTrue(page.contains("<table id=\"errors\""))
        // Hostile text arrives as text: escaped in the DOM, never as elements.
        XCTAssertTrue(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), page)
        XCTAssertFalse(page.contains("<script>alert(1)"))
        XCTAssertFalse(page.contains("<b>now</b>"))
        XCTAssertTrue(page.contains("href=\"/jobs/\(ids.dead)/retry\""), "a dead job offers retry")
        XCTAssertFalse(page.contains("href=\"/jobs/\(ids.dead)/cancel\""), "a dead job cannot be cancelled")

        let confirm = try await Chromium.dumpDOM(base + "/jobs/\(ids.dead)/delete")
        XCTAssertTrue(confirm.contains("<form method=\"post\" action=\"/jobs/\(ids.dead)/delete\" id=\"confirm\">"), confirm)
        XCTAssertTrue(confirm.contains("name=\"csrf\""))

        // Paused and capped queues say so, and offer their controls.
        let images = try XCTUnwrap(overview.firstMatch(of: /<tr data-queue="images"[^>]*>.*?<\/tr>/.dotMatchesNewlines())?.0).description
        XCTAssertTrue(images.contains("data-paused=\"true\"") && images.contains(">paused<"), images)
        XCTAssertTrue(images.contains("action=\"/queues/resume\"") && !images.contains("action=\"/queues/pause\""), images)
        let mail = try XCTUnwrap(overview.firstMatch(of: /<tr data-queue="mail"[^>]*>.*?<\/tr>/.dotMatchesNewlines())?.0).description
        XCTAssertTrue(mail.contains(">limit 2<") && mail.contains("name=\"max_running\" value=\"2\""), mail)
        XCTAssertTrue(mail.contains("action=\"/queues/pause\"") && !mail.contains("data-paused"), mail)
        XCTAssertTrue(mail.contains("name=\"csrf\""), "every control carries the CSRF field")

        // Schedules: human headers, never the view's column names; the next tick in the
        // schedule's zone and how far off; how overlap and downtime are handled.
        let schedules = try XCTUnwrap(overview.firstMatch(of: /<table id="schedules">.*?<\/table>/.dotMatchesNewlines())?.0).description
        for header in ["Schedule", "Runs at", "Task", "Next tick", "Last tick", "Overlap", "After downtime", "Payload", "State"] {
            XCTAssertTrue(schedules.contains("<th>\(header)</th>"), header)
        }
        for raw in ["next_fire_at", "last_fire_at", "skip_if_busy", "lock_key", "backfill", "updated_at", "timezone"] {
            XCTAssertFalse(schedules.contains(raw), "raw column name \(raw)")
        }
        let sync = try XCTUnwrap(schedules.firstMatch(of: /<tr data-schedule="sync-crm">.*?<\/tr>/)?.0).description
        XCTAssertTrue(sync.contains("UTC, in 4 min") || sync.contains("UTC, in 5 min"), "the worker's next tick, relative: \(sync)")
        XCTAssertTrue(sync.contains("5 min ago") || sync.contains("6 min ago"), sync)
        XCTAssertTrue(sync.contains("skip while busy<code class=\"rel clip\" title=\"lock key cron:sync-crm\">cron:sync-crm</code>"), sync)
        let nightly = try XCTUnwrap(schedules.firstMatch(of: /<tr data-schedule="nightly-&lt;report&gt;">.*?<\/tr>/)?.0).description
        XCTAssertTrue(nightly.contains(" 03:00:00</span><span class=\"rel\">GMT+1, in ") || nightly.contains(" 03:00:00</span><span class=\"rel\">GMT+2, in "),
                      "the next 3 AM in Berlin, computed before any worker saw the schedule: \(nightly)")
        XCTAssertTrue(nightly.contains("run the latest 3 missed"), nightly)
        XCTAssertTrue(schedules.contains("wait for the last<code class=\"rel clip\" title=\"lock key invoices\">invoices</code>"))
        XCTAssertTrue(schedules.contains(">disabled<"))

        // At 1400 px nothing is wider than the window: long expressions, payloads and names are
        // clipped (in full in their title), and every next tick is on screen, its time on one line.
        let layout = try await measureOverview(base, width: 1400)
        XCTAssertLessThanOrEqual(try XCTUnwrap(layout["pageWidth"] as? Int), 1400, "\(layout)")
        let tables = try XCTUnwrap(layout["tables"] as? [String: [String: Int]])
        XCTAssertEqual(Set(tables.keys), ["queues", "workers", "health", "schedules"])
        for (id, box) in tables { XCTAssertLessThanOrEqual(box["right"] ?? .max, 1400 - 24, "table \(id)") }
        let nextTicks = try XCTUnwrap(layout["nextTicks"] as? [[String: Int]])
        XCTAssertEqual(nextTicks.count, 3, "every enabled schedule's next tick")
        for time in nextTicks {
            XCTAssertLessThanOrEqual(time["right"] ?? .max, 1400 - 24)
            XCTAssertLessThan(time["height"] ?? .max, 25, "on one line: \(time)")
        }
        XCTAssertTrue(schedules.contains("title=\"0,5,10,15,20,25,30,35,40,45,50,55 0-6,18-23 1,2,3,4,5,28,29,30,31 1-12 MON-FRI\""))

        // The screenshot, at the width the layout is checked at. PGWORKER_DASHBOARD_SCREENSHOT=PATH keeps it.
        let screenshot = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-dashboard-\(UUID().uuidString).png").path
        try await Chromium.screenshot(base + "/", to: screenshot, width: 1400, height: 900)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        if let keep = ProcessInfo.processInfo.environment["PGWORKER_DASHBOARD_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: screenshot, toPath: keep)
        }
        try? FileManager.default.removeItem(atPath: screenshot)
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG")
        XCTAssertEqual(png[16..<24].reduce(0) { $0 << 8 | Int($1) } >> 32, 1400, "1400 px wide (IHDR)")
        XCTAssertGreaterThan(png.count, 5_000)
    }

    func testActionsNeedTheCSRFFieldAndChangeTheJob() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let ids = try await seed(app)
        let base = try await serve(database)

        let confirm = try await HTTP.request(base + "/jobs/\(ids.dead)/retry")
        XCTAssertEqual(confirm.status, 200)
        let csrf = try XCTUnwrap(confirm.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description

        // No field, a wrong one, or another site's Origin: refused, and nothing changes.
        for (form, headers) in [([:], [:]), (["csrf": String(repeating: "0", count: csrf.count)], [:]),
                                (["csrf": csrf], ["Origin": "http://evil.example"])] as [([String: String], [String: String])] {
            let refused = try await HTTP.request(base + "/jobs/\(ids.dead)/retry", method: "POST", headers: headers, form: form)
            XCTAssertEqual(refused.status, 403, "\(form) \(headers)")
            let state = try await app.jobState(ids.dead)
            XCTAssertEqual(state, "dead")
        }

        // What a browser sends from the dashboard's own page: its Origin and the field.
        let retried = try await HTTP.request(base + "/jobs/\(ids.dead)/retry", method: "POST", headers: ["Origin": base], form: ["csrf": csrf])
        XCTAssertEqual(retried.status, 303)
        XCTAssertEqual(retried.headers["location"], "/jobs/\(ids.dead)?done=retry")
        let row = try await app.query(
            "SELECT state, run_at <= now() AS due, max_attempts > attempts AS more FROM pgworker.jobs WHERE id = $1", [ids.dead]).rows[0]
        XCTAssertEqual(try row.decode("state", as: String.self), "retryable")
        XCTAssertTrue(try row.decode("due", as: Bool.self))
        XCTAssertTrue(try row.decode("more", as: Bool.self), "a dead job gets one more attempt")

        let cancelled = try await HTTP.request(base + "/jobs/\(ids.available)/cancel", method: "POST", form: ["csrf": csrf])
        XCTAssertEqual(cancelled.status, 303)
        let cancelledState = try await app.jobState(ids.available)
        XCTAssertEqual(cancelledState, "cancelled")
        // Cancelling it again is a conflict, explained.
        let again = try await HTTP.request(base + "/jobs/\(ids.available)/cancel", method: "POST", form: ["csrf": csrf])
        XCTAssertEqual(again.status, 409)
        XCTAssertTrue(again.body.contains("is cancelled now"), again.body)

        // A running job is never deleted from under its worker.
        try await app.query("UPDATE pgworker.jobs SET state = 'running', locked_by = 'x' WHERE id = $1", [ids.succeeded])
        let busy = try await HTTP.request(base + "/jobs/\(ids.succeeded)/delete", method: "POST", form: ["csrf": csrf])
        XCTAssertEqual(busy.status, 409)
        let deleted = try await HTTP.request(base + "/jobs/\(ids.available)/delete", method: "POST", form: ["csrf": csrf])
        XCTAssertEqual(deleted.status, 303)
        let remaining = try await app.query("SELECT count(*) AS n FROM pgworker.jobs WHERE id = $1", [ids.available]).rows[0].decode("n", as: Int.self)
        XCTAssertEqual(remaining, 0)

        let notFound = try await HTTP.request(base + "/jobs/999999")
        XCTAssertEqual(notFound.status, 404)
    }

    /// A queue's control row, as the dashboard holds it.
    private func queueControl(_ connection: PQConnection, _ queue: String) async throws -> (paused: Bool, maxRunning: Int?)? {
        guard let row = try await connection.query("SELECT paused, max_running FROM pgworker.queues WHERE queue = $1", [queue]).first else {
            return nil
        }
        return (try row.decode("paused"), try row.decodeIfPresent("max_running"))
    }

    /// A login role with only pgworker_admin: the role the dashboard is meant to run as.
    private func operatorConninfo(_ database: TestDatabase) async throws -> String {
        let role = "dash_ops_\(UInt32.random(in: 0...UInt32.max))"
        let owner = try await database.connect("owner")
        try await owner.execute("CREATE ROLE \(role) LOGIN; SELECT pgworker.grant_admin('\(role)')")
        await owner.close()
        addTeardownBlock {
            let cleanup = try await database.connect("teardown")
            try await cleanup.execute("DROP OWNED BY \(role) CASCADE; DROP ROLE \(role)")
            await cleanup.close()
        }
        return database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(role)")
    }

    func testQueueControlsPauseResumeAndLimit() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        _ = try await seed(app)
        let base = try await serveDashboard(conninfo: try await operatorConninfo(database)).base
        let overview = try await HTTP.request(base + "/")
        XCTAssertEqual(overview.status, 200)
        let csrf = try XCTUnwrap(overview.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
        let initially = try await queueControl(app, "mail")
        XCTAssertNil(initially)

        // Pause, as the overview's button posts it (the browser adds its Origin).
        let paused = try await HTTP.request(base + "/queues/pause", method: "POST", headers: ["Origin": base], form: ["csrf": csrf, "queue": "mail"])
        XCTAssertEqual(paused.status, 303, paused.body)
        XCTAssertEqual(paused.headers["location"], "/?done=pause&queue=mail")
        var control = try await queueControl(app, "mail")
        XCTAssertEqual(control?.paused, true)
        let after = try await HTTP.request(base + "/?done=pause&queue=mail")
        XCTAssertTrue(after.body.contains("<p class=\"notice\" id=\"notice\">Queue mail paused"), after.body)
        XCTAssertTrue(after.body.contains("<tr data-queue=\"mail\" class=\"paused\" data-paused=\"true\">"), after.body)

        // Resume.
        let resumed = try await HTTP.request(base + "/queues/resume", method: "POST", form: ["csrf": csrf, "queue": "mail"])
        XCTAssertEqual(resumed.status, 303)
        control = try await queueControl(app, "mail")
        XCTAssertEqual(control?.paused, false)

        // Set a limit (spaces around it are fine), change it, then remove it with an empty field.
        for (text, expected) in [(" 3 ", 3), ("0", 0)] {
            let limited = try await HTTP.request(base + "/queues/limit", method: "POST", form: ["csrf": csrf, "queue": "mail", "max_running": text])
            XCTAssertEqual(limited.status, 303)
            XCTAssertEqual(limited.headers["location"], "/?done=limit&queue=mail")
            control = try await queueControl(app, "mail")
            XCTAssertEqual(control?.maxRunning, expected)
        }
        let capped = try await HTTP.request(base + "/?done=limit&queue=mail")
        XCTAssertTrue(capped.body.contains(">limit 0<"), capped.body)
        XCTAssertTrue(capped.body.contains("Queue mail runs at most 0 jobs at once."), "the notice reads the database")
        let removed = try await HTTP.request(base + "/queues/limit", method: "POST", form: ["csrf": csrf, "queue": "mail", "max_running": ""])
        XCTAssertEqual(removed.status, 303)
        XCTAssertEqual(removed.headers["location"], "/?done=limit&queue=mail")
        control = try await queueControl(app, "mail")
        XCTAssertEqual(control?.paused, false)
        XCTAssertNil(control?.maxRunning)

        // The notice says what the database holds, not what the link claims.
        let stale = try await HTTP.request(base + "/?done=pause&queue=mail")
        XCTAssertFalse(stale.body.contains("id=\"notice\""), "mail is not paused")
        let invented = try await HTTP.request(base + "/?done=pause&queue=Your%20password%20expired")
        XCTAssertFalse(invented.body.contains("id=\"notice\""), "no such queue")

        // A queue name that is hostile HTML and not a path: bound as a parameter, escaped on the page.
        let odd = "a/<b>x</b> & ?q=1"
        let pausedOdd = try await HTTP.request(base + "/queues/pause", method: "POST", form: ["csrf": csrf, "queue": odd])
        XCTAssertEqual(pausedOdd.status, 303)
        let oddControl = try await queueControl(app, odd)
        XCTAssertEqual(oddControl?.paused, true)
        let location = try XCTUnwrap(pausedOdd.headers["location"])
        let shown = try await HTTP.request(base + location)
        XCTAssertTrue(shown.body.contains("data-queue=\"a/&lt;b&gt;x&lt;/b&gt; &amp; ?q=1\""), shown.body)
        XCTAssertTrue(shown.body.contains("Queue a/&lt;b&gt;x&lt;/b&gt; &amp; ?q=1 paused"), "the notice, escaped")
        XCTAssertFalse(shown.body.contains("<b>x</b>"))
        XCTAssertTrue(shown.body.contains("name=\"queue\" value=\"a/&lt;b&gt;x&lt;/b&gt; &amp; ?q=1\""), "the form posts it back intact")
    }

    func testQueueControlsRefuseMissingCSRFAndBadInput() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        _ = try await seed(app)
        try await app.query("SELECT pgworker.set_queue_limit('mail', 4)")
        let base = try await serve(database)
        let page = try await HTTP.request(base + "/")
        let csrf = try XCTUnwrap(page.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
        func unchanged(_ why: String) async throws {
            let mail = try await queueControl(app, "mail")
            XCTAssertEqual(mail?.paused, false, why)
            XCTAssertEqual(mail?.maxRunning, 4, why)
            let images = try await queueControl(app, "images")
            XCTAssertNil(images, why)
        }

        // No CSRF field, a wrong one, or another site's Origin: 403 for every action, nothing changes.
        let wrong = String(repeating: "0", count: csrf.count)
        for action in ["pause", "resume", "limit"] {
            for queue in ["mail", "images"] {
                for (form, headers) in [(["queue": queue, "max_running": "1"], [:]),
                                        (["csrf": wrong, "queue": queue, "max_running": "1"], [:]),
                                        (["csrf": csrf, "queue": queue, "max_running": "1"], ["Origin": "http://evil.example"])]
                        as [([String: String], [String: String])] {
                    let refused = try await HTTP.request(base + "/queues/\(action)", method: "POST", headers: headers, form: form)
                    XCTAssertEqual(refused.status, 403, "\(action) \(form) \(headers)")
                    try await unchanged("\(action) \(form) \(headers)")
                }
            }
        }

        // A limit that is not a whole number from 0 to 2147483647: a clear 400, nothing changes.
        for bad in ["-1", "abc", "2.5", "3.0", "1e3", "0x10", "2147483648", "99999999999999999999", "3; DROP TABLE pgworker.jobs"] {
            let refused = try await HTTP.request(base + "/queues/limit", method: "POST", form: ["csrf": csrf, "queue": "mail", "max_running": bad])
            XCTAssertEqual(refused.status, 400, bad)
            XCTAssertTrue(refused.body.contains("The limit must be a whole number from 0 to 2147483647, or empty for no limit"), refused.body)
            XCTAssertTrue(refused.body.contains("Nothing was changed."))
            try await unchanged(bad)
        }
        // No queue, or a name longer than pgworker.queues accepts: 400.
        for form in [["csrf": csrf], ["csrf": csrf, "queue": ""], ["csrf": csrf, "queue": String(repeating: "q", count: 201)]] {
            let refused = try await HTTP.request(base + "/queues/pause", method: "POST", form: form)
            XCTAssertEqual(refused.status, 400, "\(form["queue"]?.count ?? -1)")
            try await unchanged("queue \(form["queue"]?.count ?? -1)")
        }
        // Only POST changes anything, and only the three actions exist.
        let get = try await HTTP.request(base + "/queues/pause?queue=mail&csrf=\(csrf)")
        XCTAssertNotEqual(get.status, 200)
        XCTAssertNotEqual(get.status, 303)
        let unknown = try await HTTP.request(base + "/queues/drop", method: "POST", form: ["csrf": csrf, "queue": "mail"])
        XCTAssertEqual(unknown.status, 404)
        try await unchanged("GET and unknown actions")
    }

    func testTokenIsCheckedOnEveryRequest() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let ids = try await seed(app)
        let token = "s3cret-token-0123456789abcdef-xyz"
        let base = try await serve(database, token: token)

        for path in ["/", "/jobs", "/jobs/\(ids.dead)", "/jobs/\(ids.dead)/delete"] {
            let refused = try await HTTP.request(base + path)
            XCTAssertEqual(refused.status, 401, path)
            XCTAssertTrue(refused.body.contains("name=\"token\""), "a login form")
            XCTAssertFalse(refused.body.contains("resize"), "nothing leaks")
        }
        let wrong = try await HTTP.request(base + "/", headers: ["Authorization": "Bearer nope"])
        XCTAssertEqual(wrong.status, 401)
        let bearer = try await HTTP.request(base + "/", headers: ["Authorization": "Bearer \(token)"])
        XCTAssertEqual(bearer.status, 200)

        // ?token= sets the cookie and redirects to the page without the token in the URL.
        let viaQuery = try await HTTP.request(base + "/jobs?token=\(token)")
        XCTAssertEqual(viaQuery.status, 303)
        XCTAssertEqual(viaQuery.headers["location"], "/jobs")
        let cookie = try XCTUnwrap(viaQuery.headers["set-cookie"])
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        let cookieValue = String(cookie.split(separator: ";")[0])
        let withCookie = try await HTTP.request(base + "/jobs", headers: ["Cookie": cookieValue])
        XCTAssertEqual(withCookie.status, 200)

        // The login form.
        let badLogin = try await HTTP.request(base + "/login", method: "POST", form: ["token": "guess"])
        XCTAssertEqual(badLogin.status, 401)
        let login = try await HTTP.request(base + "/login", method: "POST", form: ["token": token])
        XCTAssertEqual(login.status, 303)
        XCTAssertEqual(login.headers["set-cookie"]?.split(separator: ";").first.map(String.init), cookieValue)

        // Actions need the token too, even with a valid CSRF field.
        let page = try await HTTP.request(base + "/jobs/\(ids.dead)/delete", headers: ["Cookie": cookieValue])
        let csrf = try XCTUnwrap(page.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1).description
        let anonymous = try await HTTP.request(base + "/jobs/\(ids.dead)/delete", method: "POST", form: ["csrf": csrf])
        XCTAssertEqual(anonymous.status, 401)
        let stillThere = try await app.jobState(ids.dead)
        XCTAssertEqual(stillThere, "dead")
        let anonymousPause = try await HTTP.request(base + "/queues/pause", method: "POST", form: ["csrf": csrf, "queue": "images"])
        XCTAssertEqual(anonymousPause.status, 401)
        let notPaused = try await app.query("SELECT count(*) AS n FROM pgworker.queues WHERE paused").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(notPaused, 0, "a queue action needs the token too")
        let pause = try await HTTP.request(base + "/queues/pause", method: "POST", headers: ["Cookie": cookieValue], form: ["csrf": csrf, "queue": "images"])
        XCTAssertEqual(pause.status, 303)

        // In a real browser: the token link logs in and shows the page.
        let dom = try await Chromium.dumpDOM(base + "/?token=\(token)")
        XCTAssertTrue(dom.contains("<table id=\"queues\""), dom)
    }

    func testBindingBeyondLoopbackRequiresAToken() throws {
        var configuration = DashboardConfiguration()
        configuration.host = "0.0.0.0"
        XCTAssertThrowsError(try Dashboard(conninfo: "", configuration: configuration)) { error in
            XCTAssertTrue("\(error)".contains("token"), "\(error)")
        }
        configuration.token = String(repeating: "t", count: DashboardConfiguration.minimumTokenLength)
        XCTAssertNoThrow(try Dashboard(conninfo: "", configuration: configuration))
    }
}
