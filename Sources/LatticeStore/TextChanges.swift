public import LatticeCRDT

/// What one change did to one text field, as the change feed reports it.
public struct TextChange: Sendable, Equatable {
    /// The text field.
    public var field: Key
    /// The visible edits in order, each against the text the previous one left; nil when this
    /// node no longer knows them (it restarted since, the change is older than the recent ones
    /// kept, or it was too large to keep): re-read the text.
    public var splices: [TextSplice]?
    /// The text's version right after this change (nil with `splices`).
    public var version: String?

    public init(field: Key, splices: [TextSplice]?, version: String?) {
        self.field = field
        self.splices = splices
        self.version = version
    }
}

/// The splices of the most recent text changes, by log sequence, kept in memory only.
///
/// A splice's position only means something against the text as it was just before the change,
/// so it is computed when the change is applied, not when the feed is read. Keeping them in the
/// log would grow every record and every forwarded delta; a follower that missed them (after a
/// restart, or far behind) is told to re-read the text instead, as after a reconnect in Yjs.
struct TextSpliceMemory {
    /// Records kept at most.
    static let maxRecords = 4_096
    /// Inserted bytes kept at most (a change inserting more is not kept).
    static let maxBytes = 8 << 20

    struct Entry {
        var splices: [TextSplice]
        var version: String
    }

    private var bySequence: [UInt64: [FieldPath: Entry]] = [:]
    private var order: [UInt64] = []
    private var head = 0
    private var bytes = 0
    private var sizes: [UInt64: Int] = [:]

    /// Remembers what change `sequence` did to the text fields at `paths` (those without
    /// splices made no visible edit); a too-large change is not kept.
    mutating func record(_ sequence: UInt64, _ paths: [FieldPath], _ splices: [FieldPath: [TextSplice]], state: ReplicaState) {
        guard !paths.isEmpty else { return }
        var size = 0
        var entries: [FieldPath: Entry] = [:]
        for path in paths {
            let list = splices[path] ?? []
            for s in list { size += s.inserted.utf8.count + 24 }
            let version = state.field(path)?.text?.versionToken ?? TextSequence().versionToken
            entries[path] = Entry(splices: list, version: version)
        }
        guard size <= Self.maxBytes / 4 else { return }
        bySequence[sequence] = entries
        sizes[sequence] = size
        order.append(sequence)
        bytes += size
        while order.count - head > Self.maxRecords || bytes > Self.maxBytes {
            let old = order[head]
            head += 1
            bytes -= sizes.removeValue(forKey: old) ?? 0
            bySequence[old] = nil
        }
        if head > 1_024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    /// What change `sequence` did to the text at `path`, if kept.
    func lookup(_ sequence: UInt64, _ path: FieldPath) -> Entry? {
        bySequence[sequence]?[path]
    }

    /// Forgets everything (the state was rebuilt).
    mutating func removeAll() {
        bySequence = [:]
        sizes = [:]
        order = []
        head = 0
        bytes = 0
    }
}

extension Delta {
    /// The fields of this delta that carry text.
    var textPaths: [FieldPath] {
        var out: [FieldPath] = []
        forEachField { path, f in if f.text != nil { out.append(path) } }
        return out
    }
}

extension StateDelta {
    /// The fields of this catch-up that carry text.
    var textPaths: [FieldPath] {
        var out: [FieldPath] = []
        for (collection, docs) in store {
            for (id, doc) in docs {
                for (name, f) in doc.fields where f.text != nil { out.append(FieldPath(collection, id, name)) }
            }
        }
        return out
    }
}
