import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster in a folder of its own, started with `initdb` and `pg_ctl` and
/// reached over a Unix socket in that folder, so a first run needs no database set-up.
///
/// PostgreSQL refuses to run as root; when this process is root, the cluster's files belong to
/// the `postgres` user and its programs run through `runuser`.
public struct LocalPostgres: Sendable {
    /// The folder holding `data/` (the cluster), `run/` (the socket) and `postgres.log`.
    public let directory: URL
    /// The port number, which names the socket file (`.s.PGSQL.PORT`).
    public let port: Int
    /// Extra server settings passed as `-c name=value` when the cluster starts.
    public let settings: [String: String]

    /// A cluster in `directory`.
    public init(directory: URL, port: Int = 5432, settings: [String: String] = [:]) {
        self.directory = directory.standardizedFileURL
        self.port = port
        self.settings = settings
    }

    /// The data folder (`initdb`'s), inside ``directory``.
    public var dataDirectory: URL { directory.appendingPathComponent("data") }
    var socketDirectory: URL { directory.appendingPathComponent("run") }
    var logFile: URL { directory.appendingPathComponent("postgres.log") }

    /// The libpq connection string for the cluster's `postgres` database.
    public var conninfo: String {
        "host='\(socketDirectory.path)' port=\(port) dbname=postgres user=postgres"
    }

    /// Creates the cluster if needed and starts it unless it is already running.
    /// Returns the connection string.
    @discardableResult
    public func start() async throws -> String {
        let binaries = try Self.binaryDirectory()
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: socketDirectory, withIntermediateDirectories: true)
        let asRoot = geteuid() == 0
        if asRoot {
            try await run(["/bin/chown", "-R", "postgres:postgres", directory.path], asPostgres: false)
        }
        if !fileManager.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            try await run([binaries + "/initdb", "-D", dataDirectory.path, "-U", "postgres", "--auth=trust",
                           "-E", "UTF8", "--no-sync", "--no-instructions"], asPostgres: asRoot)
        }
        if try await !isRunning(binaries) {
            var options = "-c listen_addresses='' -k '\(socketDirectory.path)' -p \(port)"
            for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
                options += " -c \(name)=\(value)"
            }
            try await run([binaries + "/pg_ctl", "start", "-w", "-t", "60", "-D", dataDirectory.path,
                           "-l", logFile.path, "-o", options], asPostgres: asRoot)
        }
        return conninfo
    }

    /// Restarts the running cluster (fast shutdown: sessions are disconnected). For fault tests.
    public func restart() async throws {
        let binaries = try Self.binaryDirectory()
        try await run([binaries + "/pg_ctl", "restart", "-w", "-t", "60", "-m", "fast", "-D", dataDirectory.path,
                       "-l", logFile.path], asPostgres: geteuid() == 0)
    }

    /// Stops the cluster (fast shutdown) if it is running.
    public func stop() async throws {
        let binaries = try Self.binaryDirectory()
        if try await isRunning(binaries) {
            try await run([binaries + "/pg_ctl", "stop", "-w", "-m", "fast", "-D", dataDirectory.path],
                          asPostgres: geteuid() == 0)
        }
    }

    private func isRunning(_ binaries: String) async throws -> Bool {
        guard FileManager.default.fileExists(atPath: dataDirectory.path) else { return false }
        let outcome = try await ChildProcess(
            arguments: Self.command([binaries + "/pg_ctl", "status", "-D", dataDirectory.path], asPostgres: geteuid() == 0),
            environment: ProcessInfo.processInfo.environment, input: [], stdoutLimit: 4096, stderrLimit: 4096,
            killGracePeriod: .seconds(1)
        ).run()
        return outcome.exitStatus == 0
    }

    private func run(_ arguments: [String], asPostgres: Bool) async throws {
        let outcome = try await ChildProcess(
            arguments: Self.command(arguments, asPostgres: asPostgres),
            environment: ProcessInfo.processInfo.environment, input: [], stdoutLimit: 65_536, stderrLimit: 65_536,
            killGracePeriod: .seconds(5)
        ).run()
        guard outcome.exitStatus == 0 else {
            let output = sanitizedText(outcome.stderrTail + outcome.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
            throw LocalPostgresError(message: "\(URL(fileURLWithPath: arguments[0]).lastPathComponent) failed: \(output.replacingOccurrences(of: "\n", with: " "))")
        }
    }

    private static func command(_ arguments: [String], asPostgres: Bool) -> [String] {
        asPostgres ? ["/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments
    }

    /// Where `initdb` and `pg_ctl` are: `$PGWORKER_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/*/bin`, else a folder on `PATH`.
    static func binaryDirectory() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let configured = environment["PGWORKER_PG_BIN"], !configured.isEmpty { return configured }
        let fileManager = FileManager.default
        let versions = (try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        if let newest = versions.compactMap(Int.init).sorted().last {
            return "/usr/lib/postgresql/\(newest)/bin"
        }
        for folder in (environment["PATH"] ?? "").split(separator: ":") where fileManager.isExecutableFile(atPath: "\(folder)/initdb") {
            return String(folder)
        }
        throw LocalPostgresError(message: "PostgreSQL server programs (initdb, pg_ctl) not found; install PostgreSQL (Debian: apt-get install postgresql) or set DATABASE_URL")
    }
}

/// Why the private cluster could not start.
public struct LocalPostgresError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    public var description: String { message }
}
