/// An erase ("forget"): the content of a document, or of one field, that the eraser could know
/// of is removed from every replica's state, and must never come back.
///
/// An erasure is ordinary synced data: a register in the reserved collection `~erasures`, at
/// document `<length of C>:<C>/<D>` and field `*` (the whole document) or `=<F>` (one field),
/// whose value is the eraser's version vector at the time (`seen`), and whose tag says who erased
/// and when. It travels through the log, gossip, catch-up and compaction like every change, and
/// a later erase of the same path supersedes it (its `seen` covers the earlier one's).
///
/// What an erasure covers at its path (``covers(_:)-(Tag)``):
/// - a register value, set element or counter contribution whose tag the eraser had seen, or
///   whose HLC stamp is not after the erasure's: also writes made concurrently (a peer offline
///   at the time) before the erase, which arrive later, are purged on arrival;
/// - a text character whose ID the eraser had seen: it becomes a tombstone (ID and origins,
///   never its content), so concurrent insertions still find their place.
///
/// Writes after the erase (their stamp is later, as for every node that had received it) are
/// new content and stay. Every replica applies the same rule to the same data, so replicas that
/// hold the same changes hold the same purged state.
public struct Erasure: Hashable, Sendable {
    /// The reserved collection holding erasures (collections starting with `~` are reserved).
    public static let collection: Key = "~erasures"
    static let wholeDocument: Key = "*"

    /// The erased document's collection.
    public var target: Key
    /// The erased document.
    public var document: Key
    /// The erased field, or `nil` for the whole document.
    public var field: Key?
    /// The erase's own event: who (a scoped author of `~erasures`) and when.
    public var tag: Tag
    /// The eraser's version vector when it erased.
    public var seen: VersionVector

    /// Whether an entry with this tag is erased.
    @inline(__always)
    public func covers(_ entry: Tag) -> Bool { entry.stamp <= tag.stamp || seen.contains(entry.dot) }

    /// Whether a text character with this ID is erased.
    @inline(__always)
    public func covers(_ character: Dot) -> Bool { seen.contains(character) }

    /// Whether `name` is reserved for the node's own records (`~…`).
    public static func isReserved(_ name: Key) -> Bool { name.string.utf8.first == UInt8(ascii: "~") }

    /// The `~erasures` document for erasures in `collection`/`document`.
    public static func documentKey(_ collection: Key, _ document: Key) -> Key {
        Key("\(collection.string.utf8.count):\(collection.string)/\(document.string)")
    }

    /// The erased (collection, document) an `~erasures` document key names, or `nil`.
    public static func target(ofDocumentKey key: Key) -> (collection: Key, document: Key)? {
        let bytes = Array(key.string.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon <= 10,
            let n = Int(String(decoding: bytes[..<colon], as: UTF8.self)), String(n) == String(decoding: bytes[..<colon], as: UTF8.self),
            colon + 1 + n < bytes.count, bytes[colon + 1 + n] == UInt8(ascii: "/")
        else { return nil }
        let c = String(decoding: bytes[(colon + 1)..<(colon + 1 + n)], as: UTF8.self)
        let d = String(decoding: bytes[(colon + 2 + n)...], as: UTF8.self)
        return (Key(c), Key(d))
    }

    /// The `~erasures` field name for an erasure of `field` (`nil`: the whole document).
    public static func fieldKey(_ field: Key?) -> Key { field.map { Key("=" + $0.string) } ?? wholeDocument }

    /// The erased field a field name of an `~erasures` document names: `.some(nil)` for the
    /// whole document, `nil` when the name is neither.
    public static func erasedField(ofFieldKey key: Key) -> Key?? {
        if key == wholeDocument { return .some(nil) }
        guard key.string.utf8.first == UInt8(ascii: "=") else { return nil }
        return .some(Key(String(key.string.dropFirst())))
    }

    // MARK: Value

    /// `seen` as the register's value: count, then (replica u64le, counter varint) ascending.
    static func value(of seen: VersionVector) -> Value {
        var w = ByteWriter(capacity: 4 + seen.counters.count * 12)
        let entries = seen.entries
        w.varint(entries.count)
        for e in entries {
            w.u64le(e.replica.rawValue)
            w.varint(e.counter)
        }
        return .bytes(w.bytes)
    }

    /// Decodes a `seen` value; `nil` when it is not one (then the register is not an erasure).
    static func seen(from value: Value) -> VersionVector? {
        guard case .bytes(let b) = value else { return nil }
        var offset = 0
        func varint() -> UInt64? {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while offset < b.count, shift < 64 {
                let byte = b[offset]
                offset += 1
                v |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return v }
                shift += 7
            }
            return nil
        }
        guard let n = varint(), n <= UInt64(b.count) else { return nil }
        var counters: [ReplicaID: UInt64] = [:]
        for _ in 0..<n {
            guard offset + 8 <= b.count else { return nil }
            var raw: UInt64 = 0
            for k in 0..<8 { raw |= UInt64(b[offset + k]) << (8 * UInt64(k)) }
            offset += 8
            guard let c = varint() else { return nil }
            counters[ReplicaID(raw)] = c
        }
        guard offset == b.count else { return nil }
        return VersionVector(counters)
    }
}

// MARK: - Reading erasures from a state

extension ReplicaState {
    /// Every erasure this state holds, by target collection and document.
    public var erasures: [Erasure] {
        guard let docs = store[Erasure.collection] else { return [] }
        var out: [Erasure] = []
        for (key, doc) in docs {
            guard let (c, d) = Erasure.target(ofDocumentKey: key) else { continue }
            out += Self.erasures(in: doc, c, d)
        }
        return out.sorted { ($0.tag.stamp, $0.tag.dot) < ($1.tag.stamp, $1.tag.dot) }
    }

    /// The erasures of a document (whole-document ones and those of any of its fields).
    public func erasures(of collection: Key, _ id: Key) -> [Erasure] {
        guard let doc = store[Erasure.collection]?[Erasure.documentKey(collection, id)] else { return [] }
        return Self.erasures(in: doc, collection, id)
    }

    /// The erasures an `~erasures` document holds for `c`/`d` (one per erased field, per sibling).
    public static func erasures(in doc: Document, _ c: Key, _ d: Key) -> [Erasure] {
        var out: [Erasure] = []
        for (name, field) in doc.fields {
            guard let erased = Erasure.erasedField(ofFieldKey: name) else { continue }
            for r in field.registers {
                guard let seen = Erasure.seen(from: r.value) else { continue }
                out.append(Erasure(target: c, document: d, field: erased, tag: r.tag, seen: seen))
            }
        }
        return out
    }

    /// Whether this state holds any erasure (one lookup: the cost of the erase rule on every
    /// change while nothing was ever erased).
    @inline(__always)
    public var hasErasures: Bool { store[Erasure.collection] != nil }

    /// The collections applications see: every collection but the reserved `~` ones, ascending.
    public var applicationCollections: [Key] { store.keys.filter { !Erasure.isReserved($0) }.sorted() }

    /// The number of documents applications see (not counting the reserved collections').
    public var applicationDocumentCount: Int {
        var n = 0
        for (name, docs) in store where !Erasure.isReserved(name) {
            for doc in docs.values where !doc.isBlank { n += 1 }
        }
        return n
    }
}

// MARK: - Purging

extension Field {
    /// Removes what `erasures` cover: entries (`keepScopeMarks`: a delta keeps an emptied set
    /// element's name only when no erasure covers it), and text characters' content.
    /// - Returns: whether anything changed.
    @discardableResult
    mutating func purge(_ erasures: [Erasure], inDelta: Bool, context: CausalContext? = nil) -> Bool {
        var changed = false
        if registers.contains(where: { r in erasures.contains { $0.covers(r.tag) } }) {
            registers.removeAll { r in erasures.contains { $0.covers(r.tag) } }
            changed = true
        }
        if counters.contains(where: { r in erasures.contains { $0.covers(r.tag) } }) {
            counters.removeAll { r in erasures.contains { $0.covers(r.tag) } }
            changed = true
        }
        if !elements.isEmpty {
            for (element, tags) in elements {
                let kept = tags.filter { t in !erasures.contains { $0.covers(t) } }
                if kept.count != tags.count {
                    changed = true
                    elements[element] = kept.isEmpty ? nil : kept
                } else if kept.isEmpty, inDelta, let context,
                    erasures.contains(where: { e in context.replicas.allSatisfy { context.maxCounter(of: $0) <= e.seen[$0] } })
                {
                    // A removal's scope mark names the element's value: dropped when the whole
                    // change came before the erase.
                    elements[element] = nil
                    changed = true
                }
            }
        }
        if var t = text, t.eraseContent(upTo: { author in erasures.reduce(0) { max($0, $1.seen[author]) } }) {
            text = t
            changed = true
        }
        return changed
    }
}

extension ReplicaState {
    /// The erasures that apply to a field of a document.
    @inline(__always)
    static func applicable(_ all: [Erasure], field: Key) -> [Erasure] {
        all.filter { $0.field == nil || $0.field == field }
    }

    /// Purges one document by its erasures (all of them, or those given).
    /// - Returns: whether anything was removed.
    @discardableResult
    mutating func enforceErasures(_ collection: Key, _ id: Key, _ given: [Erasure]? = nil) -> Bool {
        let all = given ?? erasures(of: collection, id)
        guard !all.isEmpty, let doc = store[collection]?[id] else { return false }
        var fields = doc.fields
        var changed = false
        for (name, var field) in doc.fields {
            let es = Self.applicable(all, field: name)
            guard !es.isEmpty, field.purge(es, inDelta: false) else { continue }
            changed = true
            fields[name] = field.isEmpty ? nil : field
        }
        guard changed else { return false }
        if fields.isEmpty {
            store[collection]?[id] = nil
            if store[collection]?.isEmpty == true { store[collection] = nil }
        } else {
            store[collection]?[id] = Document(fields: fields)
        }
        return true
    }

    /// Purges every document that an erasure names (after joining a state or a catch-up, and
    /// on a snapshot being rewritten). O(erasures × their documents).
    public mutating func enforceAllErasures() {
        guard hasErasures else { return }
        purge(by: erasures)
    }

    /// Purges what `erasures` cover (from another state: a snapshot being rewritten holds the
    /// content but not necessarily the erasures), without adding them.
    /// - Returns: whether anything was removed.
    @discardableResult
    public mutating func purge(by erasures: [Erasure]) -> Bool {
        var byDocument: [FieldPath: [Erasure]] = [:]
        for e in erasures { byDocument[FieldPath(e.target, e.document, ""), default: []].append(e) }
        var changed = false
        for (path, es) in byDocument where enforceErasures(path.collection, path.document, es) { changed = true }
        return changed
    }

    /// After `delta` was joined: purges the fields it touched that an erasure covers, and the
    /// targets of erasures it carried.
    mutating func enforceErasures(after delta: Delta) {
        var docs: [FieldPath: Bool] = [:]
        delta.forEachField { path, _ in
            if path.collection == Erasure.collection {
                if let (c, d) = Erasure.target(ofDocumentKey: path.document) { docs[FieldPath(c, d, ""), default: true] = true }
            } else {
                docs[FieldPath(path.collection, path.document, ""), default: true] = true
            }
        }
        for path in docs.keys { enforceErasures(path.collection, path.document) }
    }

    /// `delta` without what this state's erasures cover (what is logged and forwarded instead
    /// of a change that still carries erased content), or `nil` when it carries none.
    public func strippingErased(_ delta: Delta) -> Delta? {
        guard hasErasures else { return nil }
        var out = delta
        var changed = false
        delta.forEachField { path, field in
            guard path.collection != Erasure.collection else { return }
            let es = Self.applicable(erasures(of: path.collection, path.document), field: path.field)
            guard !es.isEmpty else { return }
            var f = field
            if f.purge(es, inDelta: true, context: delta.context) {
                changed = true
                out.withField(path) { $0 = f }
            }
        }
        return changed ? out : nil
    }

    /// A catch-up without what this state's erasures cover, or `nil` when it carries none.
    public func strippingErased(_ catchUp: StateDelta) -> StateDelta? {
        guard hasErasures || catchUp.store[Erasure.collection] != nil else { return nil }
        // The catch-up's own erasures count too: it may carry both an erase and what it erased.
        let carried = catchUp.store[Erasure.collection] ?? [:]
        var store = catchUp.store
        var changed = false
        for (collection, docs) in catchUp.store where collection != Erasure.collection {
            for (id, doc) in docs {
                var all = erasures(of: collection, id)
                if let doc = carried[Erasure.documentKey(collection, id)] { all += Self.erasures(in: doc, collection, id) }
                guard !all.isEmpty else { continue }
                var fields = doc.fields
                for (name, var field) in doc.fields {
                    let es = Self.applicable(all, field: name)
                    guard !es.isEmpty, field.purge(es, inDelta: false) else { continue }
                    changed = true
                    fields[name] = field.isEmpty ? nil : field
                }
                store[collection]?[id] = fields.isEmpty ? nil : Document(fields: fields)
            }
            if store[collection]?.isEmpty == true { store[collection] = nil }
        }
        return changed ? StateDelta(context: catchUp.context, store: store, references: catchUp.references) : nil
    }
}

// MARK: - Sync rules

extension Delta {
    /// The collections whose sync rule governs this change: the collections it touches, where an
    /// erasure counts as its target collection (a peer that may not write `memories` may not erase
    /// it either, and an erasure of a collection kept from a peer is kept from it too). The
    /// reserved `~erasures` collection itself is never named, unless an erasure's document key
    /// names no target (it then follows the rule of `~erasures`).
    public var governedCollections: CollectionNames {
        let names = collectionNames
        guard names.contains(where: { $0 == Erasure.collection }) else { return names }
        var out: [Key] = []
        for c in names where c != Erasure.collection { out.append(c) }
        for key in store[Erasure.collection]?.keys.sorted() ?? [] {
            let target = Erasure.target(ofDocumentKey: key)?.collection ?? Erasure.collection
            if !out.contains(target) { out.append(target) }
        }
        return CollectionNames(erasureTargets: out)
    }
}

// MARK: - Erasing

extension Replica {
    /// Erases a document (`field` nil) or one field: the content this replica knows of, and
    /// whatever a peer later brings that was written before this moment, is purged here and on
    /// every replica the erasure reaches. The delta carries only the erasure.
    /// - Parameters:
    ///   - collection: the document's collection (not a reserved `~` one).
    ///   - id: the document.
    ///   - field: the field, or `nil` for the whole document.
    ///   - now: wall clock, ms since the epoch.
    ///   - delta: the delta to add the erasure to.
    public mutating func erase(_ collection: Key, _ id: Key, field: Key? = nil, now: UInt64, into delta: inout Delta) {
        let path = FieldPath(Erasure.collection, Erasure.documentKey(collection, id), Erasure.fieldKey(field))
        // A later erase of the same path supersedes the earlier ones: it covers what they did.
        var seen = state.versionVector
        for e in state.erasures(of: collection, id) where e.field == field {
            for (r, c) in e.seen.counters where c > seen[r] { seen[r] = c }
        }
        let tag = mint(now, path.collection)
        var old = Field()
        if let f = state.store[path.collection]?[path.document]?.fields[path.field] { old = f }
        old.forEachDot { delta.context.insert($0) }
        delta.context.insert(tag.dot)
        var written = Field()
        written.registers = [RegisterEntry(tag: tag, value: Erasure.value(of: seen))]
        state.store[path.collection, default: [:]][path.document, default: Document()].fields[path.field] = written
        delta.withField(path) { $0 = written }
        state.enforceErasures(collection, id)
    }
}
