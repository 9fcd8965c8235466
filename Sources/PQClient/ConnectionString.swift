import CLibPQ
import Foundation

/// Rewrites libpq connection strings (`postgresql://` URLs or `key=value` strings).
public enum ConnectionString {
    /// The same connection settings, but for another database on the same server, as a
    /// `key=value` string. Settings that come from `PG*` variables or libpq's defaults stay
    /// unstated, so they still apply.
    ///
    /// - Throws: ``PQError`` of kind `usage` when libpq cannot parse `conninfo`.
    public static func replacingDatabase(in conninfo: String, with database: String) throws -> String {
        var message: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &message) else {
            let reason = message.map { String(cString: $0) } ?? "out of memory"
            if let message { PQfreemem(message) }
            throw PQError(kind: .usage, message: "cannot parse the connection string: \(reason)")
        }
        defer { PQconninfoFree(options) }
        var pairs: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if name != "dbname", let value = option.pointee.val {
                pairs.append("\(name)=\(quoted(String(cString: value)))")
            }
            option += 1
        }
        pairs.append("dbname=\(quoted(database))")
        return pairs.joined(separator: " ")
    }

    /// A value in libpq's `key='value'` syntax: single quotes, with `\` and `'` escaped.
    static func quoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
