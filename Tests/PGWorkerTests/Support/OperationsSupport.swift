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

/// Runs a program to completion without blocking the cooperative pool; stdout and stderr go to
/// files (a full pipe cannot stall the child).
enum Subprocess {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    timeout: Duration = .seconds(60)) async throws -> Output {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-sub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out"), err = folder.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            exited.yield(process.terminationStatus)
            exited.finish()
        }
        try process.run()
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            kill(pid, SIGKILL)
        }
        var status: Int32 = -1
        for await code in exits { status = code }
        watchdog.cancel()
        return Output(status: status, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// The path of an installed program, or nil.
    static func which(_ name: String) -> String? {
        for folder in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
            let path = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}

/// Headless Chromium, loading pages as a person's browser would.
enum Chromium {
    static var path: String? { Subprocess.which("chromium") }

    private static func arguments(_ extra: [String]) -> [String] {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-chromium-\(UUID().uuidString)").path
        return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile)", "--virtual-time-budget=3000"] + extra
    }

    /// The DOM after the page loaded (and followed redirects), serialized.
    static func dumpDOM(_ url: String) async throws -> String {
        guard let path else { throw XCTSkip("chromium is not installed (scripts/setup installs it)") }
        let output = try await Subprocess.run(path, arguments(["--dump-dom", url]))
        guard output.status == 0 else {
            throw NSError(domain: "chromium", code: Int(output.status), userInfo: [NSLocalizedDescriptionKey: output.stderr])
        }
        return output.stdout
    }

    /// Saves a PNG screenshot of the page.
    static func screenshot(_ url: String, to file: String, width: Int = 1280, height: Int = 900) async throws {
        guard let path else { throw XCTSkip("chromium is not installed (scripts/setup installs it)") }
        let output = try await Subprocess.run(path, arguments(["--screenshot=\(file)", "--window-size=\(width),\(height)", "--hide-scrollbars", url]))
        guard output.status == 0 else {
            throw NSError(domain: "chromium", code: Int(output.status), userInfo: [NSLocalizedDescriptionKey: output.stderr])
        }
    }
}

/// Where SwiftPM put the `pgworker` binary (next to the test bundle).
enum BuiltProducts {
    static var pgworker: String {
        Bundle.main.bundleURL.appendingPathComponent("pgworker").path
    }
}

/// A `pgworker` process started by a test: its stderr lines are collected as they come.
final class CLIProcess: Sendable {
    /// Lines received so far, and the unfinished last one.
    private final class Lines: Sendable {
        let complete = Mutex<[String]>([])
        let partial = Mutex<String>("")
    }

    private let process: Process
    private let lines = Lines()
    private let outputLines = Lines()

    /// Runs `pgworker` (or `executable`) with `arguments`.
    init(_ arguments: [String], executable: String = BuiltProducts.pgworker, environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let errorPipe = Pipe(), outputPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = outputPipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        Self.collect(errorPipe, into: lines)
        Self.collect(outputPipe, into: outputLines)
        try process.run()
    }

    private static func collect(_ pipe: Pipe, into lines: Lines) {
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }
            let complete: [String] = lines.partial.withLock { buffer in
                buffer += String(decoding: data, as: UTF8.self)
                var parts = buffer.components(separatedBy: "\n")
                buffer = parts.removeLast()
                return parts
            }
            lines.complete.withLock { $0.append(contentsOf: complete) }
        }
    }

    /// Every complete stderr line so far.
    var stderrLines: [String] { lines.complete.withLock { $0 } }

    /// Every complete stdout line so far.
    var stdoutLines: [String] { outputLines.complete.withLock { $0 } }

    /// The process id.
    var pid: Int32 { process.processIdentifier }

    /// Waits for a stderr line that satisfies `match`, and returns it.
    func waitForLine(timeout: Duration = .seconds(30), _ match: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = stderrLines.first(where: match) { return line }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("no matching line from pgworker; it wrote:\n" + stderrLines.joined(separator: "\n"))
        throw CancellationError()
    }

    /// Sends SIGTERM and waits (without blocking a thread of the pool) for the exit status.
    /// Foundation notices an exit only once every descendant holding its monitoring socket is gone
    /// (a killed worker's orphaned command keeps it), so a process already gone or a zombie, as
    /// /proc tells, returns -1 at once.
    func terminate(timeout: Duration = .seconds(30)) async -> Int32 {
        if process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            if hasExited { return process.isRunning ? -1 : process.terminationStatus }
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); return -1 }
        return process.terminationStatus
    }

    /// Whether the process is gone or a zombie, according to /proc.
    private var hasExited: Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
