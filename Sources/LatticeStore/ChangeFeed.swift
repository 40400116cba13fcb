public import LatticeCRDT

/// One durable log record as an application sees it: which documents and fields it touched.
/// The change feed (`GET /v1/changes`, `/v1/events`) is the log read from a cursor.
public struct ChangeEntry: Sendable, Equatable {
    /// How the change reached this node.
    public enum Origin: String, Sendable {
        /// Made on this node.
        case local
        /// Received from a peer.
        case remote
        /// A state catch-up or an import: documents with new entries are listed, but removals it
        /// carried are not itemised — re-read the listed collections.
        case catchUp = "catch-up"
    }

    /// One document a change touched.
    public struct DocumentChange: Sendable, Equatable {
        public var collection: Key
        public var id: Key
        /// The fields the change wrote or removed, sorted.
        public var fields: [Key]
        /// `true` when the change only removed entries (a delete or a field removal).
        public var removal: Bool
        /// What the change did to each text field it touched, by field name.
        public var texts: [TextChange]
        /// `true` when the change erased the document (`fields` empty) or the listed fields
        /// (`lattice forget`, retention): their content is gone from this node.
        public var erased: Bool

        public init(collection: Key, id: Key, fields: [Key], removal: Bool, texts: [TextChange] = [], erased: Bool = false) {
            self.collection = collection
            self.id = id
            self.fields = fields
            self.removal = removal
            self.texts = texts
            self.erased = erased
        }
    }

    /// The log sequence: the feed's cursor (resume after it).
    public var sequence: UInt64
    public var origin: Origin
    /// The replica whose edit this is, when the record shows it (remote removals do not).
    public var author: ReplicaID?
    /// The newest HLC time of the change's entries (nil for removals).
    public var stamp: Timestamp?
    /// Touched documents, by collection then ID.
    public var documents: [DocumentChange]
}

/// A page of the change feed.
public struct ChangePage: Sendable, Equatable {
    /// The changes after the cursor asked for, oldest first.
    public var changes: [ChangeEntry]
    /// The cursor to ask with next (the last change's sequence, or the one given).
    public var next: UInt64
    /// Whether more durable changes follow `next` now.
    public var more: Bool
}

/// The change feed asked for changes that compaction removed: the application re-reads the
/// documents and follows from ``resume``.
public struct ChangeCursorExpired: Error, Sendable, Equatable {
    /// The oldest change still in the log is `oldest`; a cursor below `oldest - 1` is gone.
    public var oldest: UInt64
    /// Where to resume after re-reading every document: the newest durable change.
    public var resume: UInt64
}

extension ReplicaStore {
    /// The newest change an application may see: changes are listed once durable.
    public var feedCursor: UInt64 { durableSequence }

    /// Durable changes after `cursor`, at most `limit`, oldest first. Only the log's records are
    /// read (O(records returned) after seeking to the segment).
    /// - Throws: ``ChangeCursorExpired`` when records after `cursor` were compacted away, or
    ///   when the next record marks a catch-up too large to log (held in a snapshot);
    ///   a ``ReplicaStoreError`` for a record that does not decode; `StoreError` for I/O.
    public func changes(after cursor: UInt64, limit: Int) throws -> ChangePage {
        let durable = durableSequence
        guard cursor < durable else { return ChangePage(changes: [], next: max(cursor, 0), more: false) }
        let first = store.log.firstSequence
        if cursor + 1 < first { throw ChangeCursorExpired(oldest: first, resume: durable) }
        var out: [ChangeEntry] = []
        let wanted = max(1, limit)
        let dir = store.directory
        do {
            try store.log.forEachRecord(from: cursor + 1) { seq, type, payload in
                let record = try Self.decodeRecord(seq, type, Array(payload), dir)
                if case .catchUpInSnapshot = record {
                    // What it changed is only in a snapshot: like a compacted cursor, re-read.
                    if out.isEmpty { throw ChangeCursorExpired(oldest: seq + 1, resume: durable) }
                    return false
                }
                out.append(changeEntry(seq, type, record))
                return out.count < wanted
            }
        } catch let e as StoreError where e.code == .notFound {
            throw ChangeCursorExpired(oldest: store.log.firstSequence, resume: durable)
        }
        let next = out.last?.sequence ?? cursor
        // `more` only after progress: a log that reports more durable than it can read (after
        // a failed segment rotation) must not make readers spin.
        return ChangePage(changes: out, next: next, more: !out.isEmpty && next < durableSequence)
    }

    func changeEntry(_ seq: UInt64, _ type: UInt8, _ record: Record) -> ChangeEntry {
        let delta = record.inspection
        let origin: ChangeEntry.Origin = type == Self.localRecord ? .local : type == Self.remoteRecord ? .remote : .catchUp
        var author: ReplicaID? = origin == .local ? replica.id : nil
        var newest: Timestamp?
        var documents: [ChangeEntry.DocumentChange] = []
        for collection in delta.store.keys.sorted() {
            guard let docs = delta.store[collection] else { continue }
            for id in docs.keys.sorted() {
                guard let doc = docs[id] else { continue }
                if collection == Erasure.collection {
                    // An erase is reported as what it erased, never as the node's own record.
                    guard let target = Erasure.target(ofDocumentKey: id) else { continue }
                    var whole = false
                    var fields: [Key] = []
                    for (name, f) in doc.fields {
                        f.forEachTag { tag in
                            if newest.map({ tag.stamp > $0 }) ?? true { newest = tag.stamp }
                            if author == nil, origin == .remote { author = ReplicaID.node(ofScoped: tag.dot.replica, in: collection) }
                        }
                        switch Erasure.erasedField(ofFieldKey: name) {
                        case .some(.none): whole = true
                        case .some(.some(let field)): fields.append(field)
                        case .none: continue
                        }
                    }
                    documents.append(.init(collection: target.collection, id: target.document, fields: whole ? [] : fields.sorted(), removal: true, erased: true))
                    continue
                }
                var entries = 0
                var texts: [TextChange] = []
                for name in doc.fields.keys.sorted() where doc.fields[name]?.text != nil {
                    texts.append(textChange(seq, FieldPath(collection, id, name)))
                }
                for f in doc.fields.values {
                    entries += f.entryCount
                    f.forEachTag { tag in
                        if newest.map({ tag.stamp > $0 }) ?? true { newest = tag.stamp }
                        if author == nil, origin == .remote { author = ReplicaID.node(ofScoped: tag.dot.replica, in: collection) }
                    }
                }
                documents.append(.init(collection: collection, id: id, fields: doc.fields.keys.sorted(), removal: entries == 0 && texts.isEmpty, texts: texts))
            }
        }
        if delta.store[Erasure.collection] != nil {
            documents.sort { $0.collection != $1.collection ? $0.collection < $1.collection : $0.id < $1.id }
        }
        return ChangeEntry(sequence: seq, origin: origin, author: author, stamp: newest, documents: documents)
    }
}
