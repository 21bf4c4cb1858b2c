"""epaxdb: leaderless replicated SQLite ordered by EPaxos*."""
