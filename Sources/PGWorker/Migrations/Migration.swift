/// One versioned SQL migration from the `SQL/` folder.
public struct Migration: Sendable {
    /// The number the file name starts with; migrations apply in this order.
    public let version: Int
    /// The rest of the file name, for messages.
    public let name: String
    /// The SQL script.
    public let sql: String

    /// The newest schema version this build of pgworker knows.
    public static var latestVersion: Int { all.map(\.version).max() ?? 0 }
}
