/// Why a local edit was refused.
public struct EditError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kinds of refusal (a struct code, so new codes do not break callers' `switch`).
    public struct Code: Hashable, Sendable {
        let raw: UInt8
        /// The edit's kind differs from the field's kind (fixed by its first write).
        public static let kindMismatch = Code(raw: 1)
        /// A counter increment would take the counter's value past the Int64 range.
        public static let overflow = Code(raw: 2)
        /// A text position or range lies outside the text.
        public static let positionOutOfRange = Code(raw: 3)
        /// The field cannot become text (it is not a register holding a string).
        public static let notConvertible = Code(raw: 4)
    }

    /// What went wrong.
    public var code: Code
    /// The field concerned.
    public var path: FieldPath
    /// The field's kind.
    public var existing: FieldKind
    /// The kind the edit needs.
    public var attempted: FieldKind
    /// For a position out of range: the text's length in Unicode scalars.
    public var length: Int = 0

    /// One line that says what happened and what to do.
    public var description: String {
        if code == .positionOutOfRange {
            return "text \(path) has \(length) characters (Unicode scalars): the edit's position or range lies outside 0...\(length); nothing was changed"
        }
        if code == .notConvertible {
            return "field \(path) is a \(existing.rawValue) not holding a string: only a register with a string value can become text"
        }
        if code == .overflow {
            return "counter \(path) would pass the range of a 64-bit integer (±9,223,372,036,854,775,807); the increment was not made"
        }
        return "field \(path) is a \(existing.rawValue), not a \(attempted.rawValue): "
            + "edit it as a \(existing.rawValue), or write it under another field name"
    }
}
