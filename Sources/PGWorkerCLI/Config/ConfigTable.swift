import Foundation
import TOMLKit

/// One table of a config file, read key by key; every error names the file, the line and the key.
struct ConfigTable {
    /// The file as the user named it.
    let file: String
    /// Finds the lines of keys in the file.
    let locator: ConfigKeyLocator
    /// The table's key path from the top of the file (empty for the top).
    let path: [String]
    private let table: TOMLTable

    /// The longest interval a key may give: about 31 years.
    static let maximumSeconds: Double = 1_000_000_000

    /// Parses a whole file's text.
    init(file: String, text: String) throws {
        self.file = file
        locator = ConfigKeyLocator(text: text)
        path = []
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            var message = error.description
            if message.hasPrefix("Error ") { message = String(message.dropFirst(6)) }
            throw ConfigFileError(file: file, line: error.source.begin.line, column: error.source.begin.column,
                                  key: nil, message: message)
        }
    }

    private init(parent: ConfigTable, key: String, table: TOMLTable) {
        file = parent.file
        locator = parent.locator
        path = parent.path + [key]
        self.table = table
    }

    /// An error about `key` of this table (or about the table itself when `key` is nil).
    func error(_ key: String?, _ message: String) -> ConfigFileError {
        error(path: key.map { [$0] } ?? [], message)
    }

    /// An error about the key at `keyPath` below this table.
    func error(path keyPath: [String], _ message: String) -> ConfigFileError {
        let fullPath = path + keyPath
        return ConfigFileError(file: file, line: locator.line(of: fullPath), key: fullPath.joined(separator: "."), message: message)
    }

    /// Fails on the first key (in sorted order) that is not in `known`: a misspelt key must not be
    /// silently ignored.
    func rejectUnknownKeys(_ known: [String]) throws {
        for key in table.keys.sorted() where !known.contains(key) {
            let suggestion = known.min { Self.editDistance(key, $0) < Self.editDistance(key, $1) }
                .flatMap { Self.editDistance(key, $0) <= 2 ? "did you mean \($0)? " : nil } ?? ""
            throw error(key, "unknown key (\(suggestion)known here: \(known.joined(separator: ", ")))")
        }
    }

    /// A string.
    func string(_ key: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let string = value.string else { throw error(key, "expected a string, got \(Self.describe(value))") }
        return string
    }

    /// A string that is one of `choices`.
    func choice(_ key: String, from choices: [String]) throws -> String? {
        guard let string = try string(key) else { return nil }
        guard choices.contains(string) else {
            throw error(key, "expected one of \(choices.joined(separator: ", ")), got \(Self.describe(string))")
        }
        return string
    }

    /// true or false.
    func bool(_ key: String) throws -> Bool? {
        guard let value = table[key] else { return nil }
        guard let bool = value.bool else { throw error(key, "expected true or false, got \(Self.describe(value))") }
        return bool
    }

    /// A whole number of at least `minimum`.
    func integer(_ key: String, atLeast minimum: Int) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard let integer = value.int else { throw error(key, "expected a whole number, got \(Self.describe(value))") }
        guard integer >= minimum else { throw error(key, "expected a whole number of at least \(minimum), got \(integer)") }
        return integer
    }

    /// A TCP port, 0...65535 (0 picks a free one).
    func port(_ key: String) throws -> Int? {
        guard let port = try integer(key, atLeast: 0) else { return nil }
        guard port <= 65535 else { throw error(key, "expected a port, 0...65535, got \(port)") }
        return port
    }

    /// A number of seconds, whole or not: positive, or also zero when `allowsZero`.
    func seconds(_ key: String, allowsZero: Bool = false) throws -> Double? {
        guard let value = table[key] else { return nil }
        guard let seconds = value.double ?? value.int.map(Double.init), seconds.isFinite else {
            throw error(key, "expected a number of seconds, got \(Self.describe(value))")
        }
        guard allowsZero ? seconds >= 0 : seconds > 0 else {
            throw error(key, "expected a \(allowsZero ? "non-negative" : "positive") number of seconds, got \(Self.describe(value))")
        }
        // The commands turn seconds into whole milliseconds, which must fit an Int.
        guard seconds <= Self.maximumSeconds else {
            throw error(key, "expected at most \(Int(Self.maximumSeconds)) seconds, got \(Self.describe(value))")
        }
        return seconds
    }

    /// A list of non-empty strings; with `allowsEmpty` false, of at least one.
    func strings(_ key: String, allowsEmpty: Bool = true) throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "expected a list of strings, got \(Self.describe(value))") }
        guard allowsEmpty || !array.isEmpty else { throw error(key, "expected at least one (leave the key out for all)") }
        return try array.map { element in
            guard let string = element.string, !string.isEmpty else {
                throw error(key, "expected a list of non-empty strings, got \(Self.describe(element)) in it")
            }
            return string
        }
    }

    /// A nested table.
    func table(_ key: String) throws -> ConfigTable? {
        guard let value = table[key] else { return nil }
        guard let nested = value.table else { throw error(key, "expected a table, got \(Self.describe(value))") }
        return ConfigTable(parent: self, key: key, table: nested)
    }

    /// A table of named tables (`[tasks.resize]`, `[tasks.mail]`, ...), sorted by name.
    func namedTables(_ key: String) throws -> [(name: String, table: ConfigTable)] {
        guard let outer = try table(key) else { return [] }
        return try outer.table.keys.sorted().map { name in
            guard let inner = try outer.table(name) else { throw outer.error(name, "missing") }
            return (name, inner)
        }
    }

    /// A value as it would be written in the file, for "got ..." in error messages.
    private static func describe(_ value: any TOMLValueConvertible) -> String {
        switch value.type {
        case .string: return String(reflecting: value.string ?? "")
        case .int: return value.int.map(String.init) ?? "a number"
        case .double: return value.double.map { String($0) } ?? "a number"
        case .bool: return value.bool.map(String.init) ?? "a boolean"
        case .table: return "a table"
        case .array: return "a list"
        case .date, .time, .dateTime: return "a date or time"
        }
    }

    /// The Levenshtein distance, to suggest the key a typo meant.
    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
