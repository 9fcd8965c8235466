import ArgumentParser
import Foundation

/// `pgworker stop-local`: stops the private PostgreSQL that commands start in `./.pgworker` when
/// no database is configured. Its data stays; the next command starts it again.
struct StopLocalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop-local",
        abstract: "Stop the private PostgreSQL in ./.pgworker (its data stays)."
    )

    func run() async throws {
        let cluster = DatabaseOptions.localCluster
        guard FileManager.default.fileExists(atPath: cluster.dataDirectory.path) else {
            print("no private PostgreSQL in \(cluster.directory.standardizedFileURL.path)")
            return
        }
        try await cluster.stop()
        print("stopped the private PostgreSQL in \(cluster.directory.standardizedFileURL.path)")
    }
}
