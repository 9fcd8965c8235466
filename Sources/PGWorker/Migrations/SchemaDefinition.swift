/// The current definition of one function or view of the `pgworker` schema, or of its grants:
/// a file of `SQL/functions/`, `SQL/views/` or `SQL/privileges/`.
///
/// Unlike a ``Migration``, a definition is applied on every `pgworker migrate`, after the pending
/// migrations: it is written with `CREATE OR REPLACE`, so applying it again changes nothing, and
/// the file in the tree is always what runs.
public struct SchemaDefinition: Sendable {
    /// What a definition defines.
    public enum Kind: String, Sendable {
        /// A function, with the triggers and grants that belong to it.
        case function
        /// A view.
        case view
        /// Roles' rights on the schema's objects (`SQL/privileges/`), applied after everything else.
        case privilege
    }

    /// Function or view.
    public let kind: Kind
    /// The object's name, which is also the file's name.
    public let name: String
    /// The SQL script.
    public let sql: String
}
