/* Lab 7, handout solution: maybe_commit() as a careful student writes it from
 * labs/7-raft-persistence/README.md alone ("What to implement" and the hints). labs-check
 * grades it in a fresh starter: it must score 100. */

/* LAB(7) solution: src/raft.c */
    uint64_t match[LIMIT_RAFT_PEERS_MAX];
    for (size_t i = 0; i < r->n; i++)      /* every peer's match; the leader's own is its last index */
        match[i] = r->prs[i].id == r->cfg.id ? raft_last_index(r) : r->prs[i].match;
    qsort(match, r->n, sizeof match[0], cmp_desc);
    uint64_t n = match[quorum(r) - 1];     /* the largest index a quorum holds */
    bool current = raft_term_at(r, n) == r->term;
    if (n > r->commit && (current || (r->cfg.bug & RAFT_BUG_COMMIT_OLD_TERM)))
        r->commit = n;
/* LAB(7) solution end */
