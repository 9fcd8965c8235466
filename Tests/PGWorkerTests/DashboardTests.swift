import Foundation
import Logging
import PGWorker
import PGWorkerDashboard
import PostgresClient
import XCTest

/// The dashboard, served for real and loaded in headless Chromium (pages) or over HTTP (access checks).
final class DashboardTests: XCTestCase {
    /// A dashboard serving `database` on a free loopback port, stopped when the test ends.
    private func serve(_ database: TestDatabase, token: String? = nil) async throws -> String {
        try await serveDashboard(conninfo: database.conninfo) { $0.token = token }.base
    }

    /// Jobs in several states, one with hostile text in its payload and error, and a live worker.
    private func seed(_ app: PostgresConnection) async throws -> (succeeded: Int64, dead: Int64, available: Int64) {
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
        return (succeeded, dead, available)
    }

    func testPagesRenderInChromium() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let ids = try await seed(app)
        // Schedules show when their table exists (another migration may create it with its own columns).
        let hadSchedules = try await app.query("SELECT to_regclass('pgworker.schedules') IS NOT NULL AS present").rows[0].decode("present", as: Bool.self)
        if !hadSchedules {
            try await app.execute("""
                CREATE TABLE pgworker.schedules (name text PRIMARY KEY, cron text, task text);
                INSERT INTO pgworker.schedules VALUES ('nightly-<report>', '0 3 * * *', 'report');
                """)
        }
        let base = try await serve(database)

        let overview = try await Chromium.dumpDOM(base + "/")
        XCTAssertTrue(overview.contains("<h2>Schedules</h2>"), overview)
        if !hadSchedules {
            XCTAssertTrue(overview.contains("<table id=\"schedules\""))
            XCTAssertTrue(overview.contains("nightly-&lt;report&gt;"), "schedule rows, escaped")
        }
        XCTAssertTrue(overview.contains("<table id=\"queues\""), overview)
        XCTAssertTrue(overview.contains("data-queue=\"images\""), overview)
        XCTAssertTrue(overview.contains("data-queue=\"mail\""), overview)
        XCTAssertTrue(overview.contains("host-a:42:beef"), "the worker and its heartbeat are listed")
        XCTAssertTrue(overview.contains("<table id=\"workers\""))

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

        let screenshot = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-dashboard-\(UUID().uuidString).png").path
        try await Chromium.screenshot(base + "/", to: screenshot)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        try? FileManager.default.removeItem(atPath: screenshot)
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG")
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
