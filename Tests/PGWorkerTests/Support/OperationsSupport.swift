import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Metrics
import Prometheus
import Synchronization
import XCTest

/// The Prometheus registry every swift-metrics metric of the test process lands in.
/// swift-metrics can be bootstrapped once per process, so all tests share it: assert on
/// metrics whose labels (task, queue) only your test uses. The engine's label cap
/// (`MetricLabelCap.shared`) is process-wide as well: only the first 100 task names and queue names
/// that in-process workers and samplers report get series of their own, so a test that needs
/// many names runs `pgworker` as a process of its own (see MetricLabelCapTests).
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// The value of one sample in Prometheus text format, e.g.
    /// `value(in: text, "pgworker_jobs_started_total", ["task": "t", "queue": "q"])`.
    /// Labels not given are not checked. `nil` when no line matches.
    static func value(in text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let metric = series.split(separator: "{", maxSplits: 1)
            guard metric.first.map(String.init) == name else { continue }
            let labelText = metric.count > 1 ? String(metric[1].dropLast()) : ""
            if labels.allSatisfy({ labelText.contains("\($0.key)=\"\($0.value)\"") }) {
                return Double(line[line.index(after: space)...])
            }
        }
        return nil
    }
}

/// An HTTP response as the tests see it.
struct HTTPReply: Sendable {
    var status: Int
    var headers: [String: String]
    var body: String
}

/// A small HTTP client over URLSession that does not follow redirects, so tests see them.
enum HTTP {
    private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpShouldSetCookies = false
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    static func request(_ url: String, method: String = "GET", headers: [String: String] = [:], form: [String: String]? = nil) async throws -> HTTPReply {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let form {
            var components = URLComponents()
            components.queryItems = form.map { URLQueryItem(name: $0.key, value: $0.value) }
            request.httpBody = Data((components.percentEncodedQuery ?? "").utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var replyHeaders: [String: String] = [:]
        for (name, value) in http.allHeaderFields { replyHeaders[String(describing: name).lowercased()] = String(describing: value) }
        return HTTPReply(status: http.statusCode, headers: replyHeaders, body: String(decoding: data, as: UTF8.self))
    }
}


/// Headless Chromium, loading pages as a person's browser would.
enum Chromium {
    static var path: String? { installedProgram("chromium") }

    private static func arguments(_ extra: [String]) -> [String] {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-chromium-\(UUID().uuidString)").path
        return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile)", "--virtual-time-budget=3000"] + extra
    }

    /// The DOM after the page loaded (and followed redirects, and ran its scripts), serialized;
    /// laid out in a window of `width` × `height` pixels.
    static func dumpDOM(_ url: String, width: Int = 1280, height: Int = 900) async throws -> String {
        guard let path else { throw XCTSkip("chromium is not installed (scripts/setup installs it)") }
        let output = try await runProcess(path, arguments(["--dump-dom", "--window-size=\(width),\(height)", url]))
        guard output.status == 0 else {
            throw NSError(domain: "chromium", code: Int(output.status), userInfo: [NSLocalizedDescriptionKey: output.stderr])
        }
        return output.stdout
    }

    /// Saves a PNG screenshot of the page.
    static func screenshot(_ url: String, to file: String, width: Int = 1280, height: Int = 900) async throws {
        guard let path else { throw XCTSkip("chromium is not installed (scripts/setup installs it)") }
        let output = try await runProcess(path, arguments(["--screenshot=\(file)", "--window-size=\(width),\(height)", "--hide-scrollbars", url]))
        guard output.status == 0 else {
            throw NSError(domain: "chromium", code: Int(output.status), userInfo: [NSLocalizedDescriptionKey: output.stderr])
        }
    }
}

