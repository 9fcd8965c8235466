import Foundation
import Hummingbird
import Logging

/// Who may use the dashboard, and proof that a form was posted from the dashboard's own page.
///
/// - **Token.** When a token is configured, every request must carry it: an
///   `Authorization: Bearer TOKEN` header, the `pgworker_dashboard` cookie the login form sets, or
///   `?token=TOKEN` (which sets the cookie and redirects to the same page without it). Otherwise
///   the answer is 401 with a login form.
/// - **CSRF.** Every POST must carry the hidden `csrf` field the dashboard's own forms include:
///   a random secret made per process that another site cannot read. A POST whose `Origin` header
///   names another host is refused as well.
struct DashboardAccess: Sendable {
    /// The token; `nil` means none is required (loopback only).
    let token: String?
    /// The per-process CSRF secret (hex).
    let csrfSecret: String

    static let cookieName = "pgworker_dashboard"

    init(token: String?) {
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        csrfSecret = Self.randomHex(bytes: 32)
    }

    /// Whether the request carries the token (always true when none is configured).
    func isAuthorized(_ request: Request) -> Bool {
        guard let token else { return true }
        if let header = request.headers[.authorization], header.hasPrefix("Bearer "),
           Self.constantTimeEquals(String(header.dropFirst("Bearer ".count)), token) {
            return true
        }
        if let cookie = request.cookies[Self.cookieName]?.value,
           Self.constantTimeEquals(cookie, Self.hex(token)) {
            return true
        }
        return false
    }

    /// Whether a submitted form's `csrf` field is this process's secret.
    func isValidCSRF(_ submitted: String?) -> Bool {
        guard let submitted else { return false }
        return Self.constantTimeEquals(submitted, csrfSecret)
    }

    /// Whether the request's `Origin` (when a browser sent one) is the dashboard's own host.
    func isSameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin] else { return true }
        guard let host = request.head.authority else { return false }
        guard let originHost = URLComponents(string: origin).map({ components -> String in
            let port = components.port.map { ":\($0)" } ?? ""
            return (components.host ?? "") + port
        }) else { return false }
        return originHost.lowercased() == host.lowercased()
    }

    /// The `Set-Cookie` value that removes the login cookie.
    static let logoutCookie = "\(cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"

    /// The `Set-Cookie` value that logs a browser in.
    func loginCookie() -> String? {
        guard let token else { return nil }
        return "\(Self.cookieName)=\(Self.hex(token)); Path=/; HttpOnly; SameSite=Strict"
    }

    /// The token as a cookie-safe value.
    static func hex(_ text: String) -> String {
        text.utf8.map { String(format: "%02x", $0) }.joined()
    }

    /// Compares without an early exit, so timing does not reveal how much matched.
    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8), right = Array(rhs.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// Enforces ``DashboardAccess``'s token on every request, within ``LoginLimits``: a request that
/// offers a token (header, cookie, `?token=` or the login form) takes an attempt from its
/// client's bucket first, and gets 429 with `Retry-After` when none is left, right token or not
/// (else the limit would tell a right guess from a wrong one).
struct TokenMiddleware: RouterMiddleware {
    typealias Context = DashboardRequestContext
    let access: DashboardAccess
    let limiter: LoginLimiter
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = access.token else { return try await next(request, context) }
        let offeredInQuery = request.uri.queryParameters.get("token")
        let isLogin = request.method == .post && request.uri.path == "/login"
        let hasCookie = request.cookies[DashboardAccess.cookieName] != nil
        guard offeredInQuery != nil || isLogin || hasCookie || request.headers[.authorization] != nil else {
            return Pages.response(Pages.login(failed: false), status: .unauthorized)
        }
        let client = context.clientAddress
        if let wait = limiter.attempt(client: client) {
            var response = Pages.message(title: "Too many attempts",
                                         "Too many wrong tokens from this address. Try again in \(wait) s.", status: .tooManyRequests)
            response.headers[.retryAfter] = String(wait)
            return response
        }
        // ?token=... logs in: set the cookie and redirect to the same page without the token.
        if let offeredInQuery, DashboardAccess.constantTimeEquals(offeredInQuery, token) {
            limiter.succeeded(client: client)
            // Only a local path: "//host" would send the browser elsewhere.
            let path = request.uri.path.hasPrefix("/") && !request.uri.path.hasPrefix("//") ? request.uri.path : "/"
            return loggedIn(redirectingTo: path)
        }
        if access.isAuthorized(request) {
            limiter.succeeded(client: client)
            return try await next(request, context)
        }
        if isLogin, let offered = try await Pages.form(request, context: context)["token"],
           DashboardAccess.constantTimeEquals(offered, token) {
            limiter.succeeded(client: client)
            return loggedIn(redirectingTo: "/")
        }
        logger.warning("refused a wrong dashboard token", metadata: ["client": "\(client)"])
        var response = Pages.response(Pages.login(failed: isLogin || offeredInQuery != nil), status: .unauthorized)
        // A stale cookie (the token changed) would count against the client on every page: drop it.
        if hasCookie { response.headers[.setCookie] = DashboardAccess.logoutCookie }
        return response
    }

    /// Sets the login cookie and redirects to `path`.
    private func loggedIn(redirectingTo path: String) -> Response {
        var response = Response.redirect(to: path, type: .normal)
        if let cookie = access.loginCookie() { response.headers[.setCookie] = cookie }
        return response
    }
}
