/// One row of a query result, with values in PostgreSQL's text format.
public struct PQRow: Sendable {
    /// The columns of the result this row belongs to.
    public let columns: PQColumns
    /// The raw values, `nil` for SQL NULL, in column order.
    public let values: [String?]

    /// The raw text of a column, `nil` for SQL NULL.
    public subscript(_ name: String) -> String? {
        guard let index = columns.index(of: name) else { return nil }
        return values[index]
    }

    /// Decodes a non-null column.
    public func decode<T: PQDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try decode(column: try columns.position(of: name), as: type)
    }

    /// Decodes a column that may be null.
    public func decodeIfPresent<T: PQDecodable>(_ name: String, as type: T.Type = T.self) throws -> T? {
        try decodeIfPresent(column: try columns.position(of: name), as: type)
    }

    /// Decodes a non-null column by position. Inlinable, so callers in other modules get code
    /// specialized for `T` (the hot path decodes every claimed job's columns this way).
    @inlinable
    public func decode<T: PQDecodable>(column index: Int, as type: T.Type = T.self) throws -> T {
        guard let value = try decodeIfPresent(column: index, as: type) else {
            throw PQError(kind: .decoding, message: "column \"\(columns.names[index])\" is NULL, expected \(T.self)")
        }
        return value
    }

    /// Decodes a column that may be null, by position.
    @inlinable
    public func decodeIfPresent<T: PQDecodable>(column index: Int, as type: T.Type = T.self) throws -> T? {
        guard let text = values[index] else { return nil }
        guard let value = T(postgresText: text) else {
            throw PQError(kind: .decoding, message: "column \"\(columns.names[index])\" value \"\(text.prefix(60))\" is not a valid \(T.self)")
        }
        return value
    }
}

/// The column names of a result, shared by all its rows.
public final class PQColumns: Sendable {
    /// Column names in order.
    public let names: [String]
    private let positions: [String: Int]

    init(names: [String]) {
        self.names = names
        var positions: [String: Int] = [:]
        for (index, name) in names.enumerated() where positions[name] == nil {
            positions[name] = index
        }
        self.positions = positions
    }

    /// The position of the first column with this name.
    public func index(of name: String) -> Int? { positions[name] }

    /// The position of the first column with this name; throws a usage error naming the columns
    /// there are when there is none.
    public func position(of name: String) throws -> Int {
        guard let index = positions[name] else {
            throw PQError(kind: .usage, message: "no column \"\(name)\" in result (columns: \(names.joined(separator: ", ")))")
        }
        return index
    }
}

/// The rows and row count of one executed statement.
public struct PQResult: Sendable {
    /// The rows returned, if any.
    public let rows: [PQRow]
    /// Rows affected by INSERT, UPDATE, DELETE and similar commands (`PQcmdTuples`), else 0.
    public let affectedRows: Int

    /// The first row, if there is one.
    public var first: PQRow? { rows.first }
}
