extension TextSequence {
    /// Turns every character whose counter is at most `limit(author)` into a tombstone: its ID
    /// and origins stay (concurrent insertions still find their place), its content goes, from
    /// the integrated runs and from the bag alike. No deletion event is minted: every replica
    /// applies the same erasure to the same characters.
    /// - Parameter limit: per author, the highest erased counter (0: none).
    /// - Returns: whether any content was removed.
    mutating func eraseContent(upTo limit: (ReplicaID) -> UInt64) -> Bool {
        var ranges: [TextRange] = []
        let authors = storage.authors
        storage.forEachRun { r in
            guard !r.deleted else { return }
            let a = authors[Int(r.author)]
            let l = limit(a)
            guard l >= r.counter else { return }
            ranges.append(TextRange(author: a, start: r.counter, length: min(r.end - 1, l) - r.counter + 1))
        }
        let bagHit = storage.pending.contains { $0.content != nil && limit($0.id.replica) >= $0.id.counter }
        guard !ranges.isEmpty || bagHit else { return false }
        makeUnique()
        let s = storage
        var none: [TextSplice]?
        for r in ranges { s.deleteRange(r, splices: &none) }
        if bagHit {
            var items: [TextItem] = []
            items.reserveCapacity(s.pending.count + 1)
            for item in s.pending {
                let l = limit(item.id.replica)
                if item.content != nil && l >= item.id.counter {
                    items += TextStorage.cut(item, [(item.id.counter, min(item.end, l + 1))])
                } else {
                    items.append(item)
                }
            }
            s.pending = items
            s.bagNormalized = false
            s.normalizeBag()
        }
        if s.runCount > 0 { s.compactContent() }
        return true
    }
}
