// Local text edits: insert, delete, splice, replace, and turning a register into text.

extension Field {
    /// Adds a text bag to this delta field (joining it with one already there).
    mutating func addText(_ bag: TextSequence) {
        if text == nil { text = bag } else { text?.absorb(bag) }
    }
}

extension Replica {
    /// The text of a field, checking that it is (or can become) text.
    private func textField(_ path: FieldPath) throws(EditError) -> Field? {
        let field = state.field(path)
        try check(path, field, .text)
        return field
    }

    private func outOfRange(_ path: FieldPath, _ length: Int) -> EditError {
        EditError(code: .positionOutOfRange, path: path, existing: .text, attempted: .text, length: length)
    }

    /// The outcome of an in-place text edit.
    private enum TextEdit<R> {
        case done(R)
        case kind(FieldKind)
        case outOfRange(Int)
    }

    /// Edits the text of a field in one access to the store (no copy of the text, three hashed
    /// lookups): `body` gets the storage, unique, and returns nil when the position is invalid.
    private static func editText<R>(_ field: inout Field, _ body: (TextStorage) -> R?) -> TextEdit<R> {
        if let kind = field.kind, kind != .text { return .kind(kind) }
        var t = field.text ?? TextSequence()
        field.text = nil  // the only reference: makeUnique does not copy
        t.makeUnique()
        let result = body(t.storage)
        field.text = t.isEmpty ? nil : t
        guard let result else { return .outOfRange(t.count) }
        return .done(result)
    }

    /// Applies `body` to the text at `path`, mapping refusals to errors and pruning a field the
    /// attempt created empty.
    private mutating func withText<R>(_ path: FieldPath, _ body: (TextStorage) -> R?) throws(EditError) -> R {
        let outcome = Replica.editText(
            &state.store[path.collection, default: [:]][path.document, default: Document()].fields[path.field, default: Field()], body)
        switch outcome {
        case .done(let r):
            return r
        case .kind(let existing):
            throw EditError(code: .kindMismatch, path: path, existing: existing, attempted: .text)
        case .outOfRange(let length):
            if state.store[path.collection]?[path.document]?.fields[path.field]?.isEmpty == true { removeField(path) }
            throw outOfRange(path, length)
        }
    }

    /// Journals a local text edit (while a store's commit journals), merging an insertion at the
    /// place of the deletion just before it into one splice.
    mutating func noteSplice(_ path: FieldPath, _ splice: TextSplice) {
        guard journaling else { return }
        textJournal[path, default: []].mergeAppend(splice)
    }

    /// Inserts `string` at `position` (in Unicode scalars).
    /// - Parameters:
    ///   - path: a text field (created when absent).
    ///   - position: 0 ... the text's length.
    ///   - string: the text to insert (nothing happens when empty).
    ///   - now: wall clock, ms since the epoch.
    ///   - delta: the delta to add this change to.
    /// - Throws: `EditError` `.kindMismatch` for a field of another kind, `.positionOutOfRange`.
    public mutating func insertText(_ path: FieldPath, at position: Int, _ string: String, now: UInt64, into delta: inout Delta) throws(EditError) {
        let scalars = Array(string.unicodeScalars)
        if scalars.isEmpty {
            let length = try textField(path)?.text?.count ?? 0
            guard position >= 0 && position <= length else { throw outOfRange(path, length) }
            return
        }
        // The dots this insertion will get; minted (committed) only if it succeeds.
        let first = nextDot(author(of: path.collection))
        let item = try withText(path) { s -> TextItem? in
            guard position >= 0 && position <= s.visible else { return nil }
            return s.localInsert(scalars, at: position, author: first.replica, first: first.counter)
        }
        let minted = mintRun(scalars.count, now, path.collection)
        assert(minted == first)
        for k in 0..<UInt64(scalars.count) { delta.context.insert(Dot(first.replica, first.counter + k)) }
        delta.withField(path) { f in
            if f.text == nil { f.text = TextSequence.bag(inserting: item) } else { f.text!.appendInsertion(item) }
        }
        noteSplice(path, TextSplice(position: position, deleted: 0, inserted: string))
    }

    /// Deletes `count` characters from `position`.
    /// - Throws: `EditError` `.kindMismatch`, `.positionOutOfRange` when the range passes the end.
    public mutating func deleteText(_ path: FieldPath, at position: Int, count: Int, now: UInt64, into delta: inout Delta) throws(EditError) {
        if count == 0 {
            let length = try textField(path)?.text?.count ?? 0
            guard position >= 0 && position <= length else { throw outOfRange(path, length) }
            return
        }
        let event = Dot(author(of: path.collection), nextDot(author(of: path.collection)).counter)
        let ranges = try withText(path) { s -> [TextRange]? in
            guard position >= 0, count > 0, position <= s.visible, count <= s.visible - position else { return nil }
            s.deleteEvents[event.replica] = max(s.deleteEvents[event.replica] ?? 0, event.counter)
            return s.localDelete(at: position, count: count)
        }
        let minted = mint(now, path.collection)
        assert(minted.dot == event)
        delta.context.insert(event)
        delta.withField(path) { f in
            if f.text == nil { f.text = TextSequence.bag(deleting: ranges, event: event) } else { f.text!.appendDeletion(ranges, event: event) }
        }
        noteSplice(path, TextSplice(position: position, deleted: count, inserted: ""))
    }

    /// Replaces `deleting` characters at `position` by `inserting` (one change).
    /// - Throws: `EditError` `.kindMismatch`, `.positionOutOfRange`.
    public mutating func spliceText(
        _ path: FieldPath, at position: Int, deleting: Int, inserting: String, now: UInt64, into delta: inout Delta
    ) throws(EditError) {
        let length = try textField(path)?.text?.count ?? 0
        guard position >= 0, deleting >= 0, position <= length, deleting <= length - position else { throw outOfRange(path, length) }
        try deleteText(path, at: position, count: deleting, now: now, into: &delta)
        try insertText(path, at: position, inserting, now: now, into: &delta)
    }

    /// Applies splices in order, all or nothing: every splice is checked against the text as the
    /// previous ones leave it before anything changes.
    /// - Throws: `EditError` for the first splice that does not fit; then nothing changed.
    public mutating func applySplices(_ path: FieldPath, _ splices: [TextSplice], now: UInt64, into delta: inout Delta) throws(EditError) {
        var length = try textField(path)?.text?.count ?? 0
        for s in splices {
            guard s.position >= 0, s.deleted >= 0, s.position <= length, s.deleted <= length - s.position else { throw outOfRange(path, length) }
            length += s.inserted.unicodeScalars.count - s.deleted
        }
        for s in splices { try spliceText(path, at: s.position, deleting: s.deleted, inserting: s.inserted, now: now, into: &delta) }
    }

    /// Replaces the whole text by `string` (what `put` of a string does to a text field).
    /// - Throws: `EditError.kindMismatch` for a field of another kind.
    public mutating func replaceText(_ path: FieldPath, with string: String, now: UInt64, into delta: inout Delta) throws(EditError) {
        let length = try textField(path)?.text?.count ?? 0
        try spliceText(path, at: 0, deleting: length, inserting: string, now: now, into: &delta)
    }

    /// Turns a register holding a string into a text field with that string, superseding every
    /// register value this replica has seen (a concurrent register write stays visible as a
    /// kind conflict).
    /// - Throws: `EditError.notConvertible` unless the field is a register whose value is a string.
    public mutating func convertToText(_ path: FieldPath, now: UInt64, into delta: inout Delta) throws(EditError) {
        guard let field = state.field(path), field.kind == .register, case .register(.string(let value), _)? = field.value else {
            throw EditError(code: .notConvertible, path: path, existing: state.field(path)?.kind ?? .register, attempted: .text)
        }
        let event = mint(now, path.collection)
        delta.context.insert(event.dot)
        field.forEachDot { delta.context.insert($0) }
        modifyField(path) { f in
            f.registers = []
            f.counters = []
            f.elements = [:]
        }
        delta.withField(path) { $0.registers = [] }
        try insertText(path, at: 0, value, now: now, into: &delta)
    }

    /// Inserts text. - Returns: the delta. - Throws: as `insertText(_:at:_:now:into:)`.
    public mutating func insertText(_ path: FieldPath, at position: Int, _ string: String, now: UInt64) throws(EditError) -> Delta {
        var d = Delta()
        try insertText(path, at: position, string, now: now, into: &d)
        return d
    }

    /// Deletes text. - Returns: the delta. - Throws: as `deleteText(_:at:count:now:into:)`.
    public mutating func deleteText(_ path: FieldPath, at position: Int, count: Int, now: UInt64) throws(EditError) -> Delta {
        var d = Delta()
        try deleteText(path, at: position, count: count, now: now, into: &d)
        return d
    }
}

extension TextSequence {
    /// The version of this text: per author, the highest counter of a character or deletion it
    /// holds. Two replicas with the same version hold the same text.
    public var version: [ReplicaID: UInt64] {
        var v = storage.deleteEvents
        for (i, end) in storage.highest.enumerated() where end > 0 {
            let a = storage.authors[i]
            if end - 1 > v[a] ?? 0 { v[a] = end - 1 }
        }
        for item in storage.pending where item.end - 1 > v[item.id.replica] ?? 0 { v[item.id.replica] = item.end - 1 }
        return v
    }

    /// Calls `body` with the ID of every character held (visible, deleted or waiting).
    public func forEachCharacterDot(_ body: (Dot) -> Void) {
        storage.forEachRun { r in
            let a = storage.authors[Int(r.author)]
            for c in r.counter..<r.end { body(Dot(a, c)) }
        }
        for item in storage.pending { for c in item.id.counter..<item.end { body(Dot(item.id.replica, c)) } }
    }

    /// The version as a short printable token (`v1.` then hex pairs), for APIs.
    public var versionToken: String {
        var out = "v1"
        for (a, c) in version.sorted(by: { $0.key < $1.key }) { out += ".\(a)-\(String(c, radix: 16))" }
        return out
    }
}

extension [TextSplice] {
    /// Appends `splice`, merging an insertion at the place of the deletion just before it.
    mutating func mergeAppend(_ splice: TextSplice) {
        if let k = indices.last, self[k].inserted.isEmpty, self[k].position == splice.position {
            self[k].deleted += splice.deleted
            self[k].inserted = splice.inserted
        } else {
            append(splice)
        }
    }
}
