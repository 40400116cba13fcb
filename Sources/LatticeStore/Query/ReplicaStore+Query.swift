public import LatticeCRDT

extension ReplicaStore {
    /// Tells the query indexes which documents changed, once the change is in the state. The
    /// store calls it after every local commit, remote change, catch-up and rebuild; call it
    /// after anything else that changes documents in place (an erase that purges them).
    /// - Parameter change: what changed.
    func reindex(_ change: IndexChange) { indexes.update(change, in: replica.state) }

    /// Answers a query from the indexes (see ``QueryIndexes/run(_:in:)``).
    /// - Parameter query: the query.
    /// - Returns: the matching document IDs in the query's order.
    /// - Throws: ``QueryError`` for an unknown collection or field.
    public func query(_ query: Query) throws(QueryError) -> [Key] { try indexes.run(query, in: replica.state) }
}
