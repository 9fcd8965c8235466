import Hummingbird
import Synchronization

/// A `Host` header value, or an `--allowed-host` entry: a name or IP address and an optional port.
struct HostAuthority: Hashable, Sendable {
    /// Lowercased; an IPv6 address without its brackets.
    let name: String
    /// nil when none was written.
    let port: Int?

    /// Parses `name`, `name:port`, `[v6]` or `[v6]:port`; nil for anything else (user info, paths,
    /// spaces, an empty name, a port beyond 65535).
    init?(_ text: String) {
        let text = text.lowercased()
        var name: Substring, rest: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            name = text[text.index(after: text.startIndex)..<close]
            rest = text[text.index(after: close)...]
            guard !name.isEmpty, name.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            let colon = text.firstIndex(of: ":") ?? text.endIndex
            name = text[..<colon]
            rest = text[colon...]
            guard !name.isEmpty, name.unicodeScalars.allSatisfy(Self.isNameCharacter) else { return nil }
        }
        if rest.isEmpty {
            port = nil
        } else {
            let digits = rest.dropFirst()
            guard rest.first == ":", (1...5).contains(digits.count), digits.allSatisfy({ ("0"..."9").contains($0) }),
                  let port = Int(digits), (0...65535).contains(port) else { return nil }
            self.port = port
        }
        self.name = String(name)
    }

    private static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "0"..."9", ".", "-", "_": true
        default: false
        }
    }
}

/// The `Host` values the dashboard answers to. Anything else is a sign of DNS rebinding (a web
/// page whose name now resolves to this machine, read by the operator's browser) or a
/// misconfigured proxy, and is refused before anything else happens.
///
/// Accepted: `127.0.0.1`, `localhost`, `[::1]` and the bound host, each with the bound port (no
/// port means 80); and each `--allowed-host` entry, `NAME` with any port or `NAME:PORT` exactly.
final class AllowedHosts: Sendable {
    private let localNames: Set<String>
    private let extra: [HostAuthority]
    /// The bound port, known once the server listens (the configuration may say 0).
    private let boundPort: Atomic<Int>

    /// - Throws: ``DashboardConfigurationError`` for an entry that is not `NAME` or `NAME:PORT`.
    init(boundHost: String, port: Int, allowed: [String]) throws {
        var names: Set<String> = ["127.0.0.1", "localhost", "::1"]
        names.insert(HostAuthority(boundHost)?.name ?? boundHost.lowercased())
        localNames = names
        extra = try allowed.map { entry in
            guard let parsed = HostAuthority(entry.trimmingCharacters(in: .whitespaces)) else {
                throw DashboardConfigurationError(description:
                    "the allowed host \"\(entry)\" is not NAME or NAME:PORT (for example dash.example.com or dash.example.com:8443)")
            }
            return parsed
        }
        boundPort = Atomic(port)
    }

    /// Records the port the server really listens on.
    func listening(on port: Int) {
        boundPort.store(port, ordering: .relaxed)
    }

    /// Whether a request whose `Host` (authority) is `host` may be served.
    func allows(_ host: String?) -> Bool {
        guard let host, let authority = HostAuthority(host) else { return false }
        let port = authority.port ?? 80
        if localNames.contains(authority.name) && port == boundPort.load(ordering: .relaxed) { return true }
        return extra.contains { $0.name == authority.name && ($0.port == nil || $0.port == port) }
    }
}

/// Refuses, with 421, every request whose `Host` is not one of ``AllowedHosts`` (or that carries
/// more than one `Host` header). Runs first, before the token check and any database access.
struct HostCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    let hosts: AllowedHosts

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The first Host header is the authority; a second one stays among the header fields.
        let extraHost = request.headers.contains { $0.name.canonicalName == "host" }
        guard !extraHost, hosts.allows(request.head.authority) else {
            return Pages.message(
                title: "Wrong host",
                "This dashboard answers only to its own address. To reach it under another name (through a proxy, say), start it with --allowed-host NAME.",
                status: .misdirectedRequest)
        }
        return try await next(request, context)
    }
}
