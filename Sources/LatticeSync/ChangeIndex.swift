import LatticeCRDT

/// Which log records hold which dots, so the engine can stream exactly what a peer lacks.
///
/// For each author, the records that carry its dots, keyed by the highest counter of that author
/// in the record's context. A record is missing at a peer whose vector is `v` iff some author's
/// key exceeds `v[author]` (then at least one of its dots is not in `v`). Memory: one entry
/// (16 bytes) per record and author it touches — almost always one.
///
/// The *floor* says what the index cannot serve: dots of `author` up to `floor[author]` may live
/// only in the snapshot, a compacted segment or a catch-up record. A peer whose vector is below
/// the floor for an author it may receive gets a catch-up from state instead.
struct ChangeIndex {
    struct Entry {
        var counter: UInt64
        var sequence: UInt64
    }

    private(set) var byAuthor: [ReplicaID: [Entry]] = [:]
    private var unsorted: Set<ReplicaID> = []
    private(set) var floor: [ReplicaID: UInt64] = [:]
    /// The collection each author writes (single-collection records tell), for selective sync.
    private(set) var collectionOf: [ReplicaID: Key] = [:]
    /// The number of (record, author) entries.
    var entryCount: Int { byAuthor.values.reduce(0) { $0 + $1.count } }

    /// Indexes a forwardable record.
    mutating func add(sequence: UInt64, delta: Delta) {
        add(sequence: sequence, context: delta.context, collections: delta.governedCollections)
    }

    mutating func add(sequence: UInt64, context: CausalContext, collections: Delta.CollectionNames) {
        // An erasure's target is not a collection its author writes in.
        let single: Key? = collections.count == 1 && !collections.viaErasure ? collections.first(where: { _ in true }) : nil
        context.forEachAuthor { author, top in
            if let single, collectionOf[author] == nil { collectionOf[author] = single }
            // In place: copying the list out and back would make every add O(n).
            if let last = byAuthor[author]?.last, last.counter > top { unsorted.insert(author) }
            byAuthor[author, default: []].append(Entry(counter: top, sequence: sequence))
        }
    }

    /// Notes dots that arrived outside indexed records (a catch-up record, the snapshot).
    mutating func raiseFloor(_ context: CausalContext) {
        context.forEachAuthor { author, top in
            if top > floor[author, default: 0] { floor[author] = top }
        }
    }

    /// Notes which collection authors write, from live entries (after a catch-up or at start).
    mutating func learnAuthors(_ state: ReplicaState) {
        for (name, docs) in state.store {
            for doc in docs.values {
                for field in doc.fields.values {
                    field.forEachDot { if collectionOf[$0.replica] == nil { collectionOf[$0.replica] = name } }
                }
            }
        }
    }

    /// Forgets records up to `sequence` (compacted away), raising the floor over their dots.
    mutating func drop(through sequence: UInt64) {
        for (author, list) in byAuthor {
            var kept: [Entry] = []
            var raised = floor[author, default: 0]
            for e in list {
                if e.sequence <= sequence {
                    raised = max(raised, e.counter)
                } else {
                    kept.append(e)
                }
            }
            floor[author] = raised
            byAuthor[author] = kept.isEmpty ? nil : kept
        }
    }

    /// Whether every dot a peer at `vector` lacks, among the authors `wanted` accepts, is in an
    /// indexed record.
    func canServe(_ vector: VersionVector, wanted: (ReplicaID) -> Bool) -> Bool {
        for (author, f) in floor where f > vector[author] && wanted(author) { return false }
        return true
    }

    /// The sequences of records holding a dot beyond `vector`, ascending.
    mutating func missing(from vector: VersionVector, authors wanted: (ReplicaID) -> Bool = { _ in true }) -> [UInt64] {
        var out: [UInt64] = []
        for author in Array(byAuthor.keys) where wanted(author) {
            if unsorted.contains(author) {
                byAuthor[author]?.sort { $0.counter < $1.counter }
                unsorted.remove(author)
            }
            guard let list = byAuthor[author] else { continue }
            let have = vector[author]
            guard let last = list.last, last.counter > have else { continue }
            // First entry with counter > have.
            var lo = 0
            var hi = list.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if list[mid].counter > have { hi = mid } else { lo = mid + 1 }
            }
            for e in list[lo...] { out.append(e.sequence) }
        }
        out.sort()
        var unique: [UInt64] = []
        unique.reserveCapacity(out.count)
        for s in out where unique.last != s { unique.append(s) }
        return unique
    }
}
