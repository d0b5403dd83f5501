/* raft_checker.c — Raft's checkers and the chain-of-blocks application (see raft_checker.h).
 * Moved out of tests/test_raft.c so the in-test cluster and the simulator judge runs with
 * the same code. */
#include "raft_checker.h"

#include <stdarg.h>
#include <string.h>

#include "rng.h"

typedef struct EntryMeta {
    uint64_t data_hash, prev_term;
    uint32_t first_node;   /* who persisted it first */
    GBytes *data;
} EntryMeta;

static void meta_free(gpointer p) {
    EntryMeta *m = p;
    if (m->data) g_bytes_unref(m->data);
    g_free(m);
}

/* What the entry is, for a message (k->describe, or the chain application's value). */
static char *describe(const RaftChecker *k, GBytes *data) {
    if (k->describe) return k->describe(data);
    if (data == NULL) return g_strdup("an empty entry");
    return g_strdup_printf("the client's value %" G_GUINT64_FORMAT, raft_checker_value(data));
}


static uint64_t hash_bytes(GBytes *b) {
    gsize len;
    const uint8_t *p = g_bytes_get_data(b, &len);
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (gsize i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c3) {
    uint64_t s = a ^ (b * 0x9E3779B97F4A7C15ull) ^ (c3 * 0xC2B2AE3D27D4EB4Full);
    return rng_splitmix64(&s);
}

uint64_t raft_checker_value(GBytes *data) {
    gsize len;
    const uint8_t *p = g_bytes_get_data(data, &len);
    uint64_t v = 0;
    if (len >= 8) memcpy(&v, p, 8);
    return v;
}

static void violation(RaftChecker *k, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void violation(RaftChecker *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    k->violations++;
    if (k->on_violation) k->on_violation(k->ctx, s);
}

RaftChecker *raft_checker_new(int n, RaftCheckerViolationFn on_violation, void *ctx) {
    g_assert(n >= 1 && n <= RAFT_CHECKER_MAXN);
    RaftChecker *k = g_new0(RaftChecker, 1);
    k->n = n;
    for (int i = 0; i < n; i++) {
        k->node[i].id = (uint32_t)i + 1;
        g_snprintf(k->node[i].name, sizeof k->node[i].name, "n%d", i + 1);
    }
    k->term_leader = g_hash_table_new(g_direct_hash, g_direct_equal);
    k->commits = g_array_new(FALSE, TRUE, sizeof(RaftCheckerCommit));
    k->metas = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, meta_free);
    k->on_violation = on_violation;
    k->ctx = ctx;
    return k;
}

void raft_checker_free(RaftChecker *k) {
    if (!k) return;
    g_hash_table_destroy(k->term_leader);
    for (guint i = 0; i < k->commits->len; i++) {
        GBytes *d = g_array_index(k->commits, RaftCheckerCommit, i).data;
        if (d) g_bytes_unref(d);
    }
    g_array_free(k->commits, TRUE);
    g_hash_table_destroy(k->metas);
    g_free(k);
}

void raft_checker_members(RaftChecker *k, const uint32_t *ids, const char *const *names) {
    for (int i = 0; i < k->n; i++) {
        k->node[i].id = ids[i];
        g_strlcpy(k->node[i].name, names[i], sizeof k->node[i].name);
    }
}

/* The record of member id (a handful of members: a scan). */
static RaftCheckerNode *member(RaftChecker *k, uint32_t id) {
    for (int i = 0; i < k->n; i++)
        if (k->node[i].id == id) return &k->node[i];
    g_error("raft checker: %u is not a member", id);
}

static const char *name_of(RaftChecker *k, uint32_t id) { return member(k, id)->name; }

static RaftCheckerCommit *commit_rec(RaftChecker *k, uint64_t index) {
    if (index >= k->commits->len) g_array_set_size(k->commits, (guint)index + 1);
    return &g_array_index(k->commits, RaftCheckerCommit, index);
}

const RaftCheckerCommit *raft_checker_commit_at(const RaftChecker *k, uint64_t index) {
    if (index >= k->commits->len) return NULL;
    const RaftCheckerCommit *cr = &g_array_index(k->commits, RaftCheckerCommit, index);
    return cr->set ? cr : NULL;
}

/* --- the application: a chain of blocks --- */

GBytes *raft_checker_snapshot(const RaftChecker *k, uint32_t id) {
    const RaftCheckerNode *nd = member((RaftChecker *)k, id);
    uint8_t b[16];
    memcpy(b, &nd->applied, 8);
    memcpy(b + 8, &nd->chain, 8);
    return g_bytes_new(b, 16);
}

void raft_checker_restore(RaftChecker *k, uint32_t id, GBytes *snap) {
    RaftCheckerNode *nd = member(k, id);
    if (snap == NULL || g_bytes_get_size(snap) != 16) {
        nd->applied = nd->chain = 0;
        return;
    }
    const uint8_t *p = g_bytes_get_data(snap, NULL);
    memcpy(&nd->applied, p, 8);
    memcpy(&nd->chain, p + 8, 8);
    RaftCheckerCommit *cr = commit_rec(k, nd->applied);
    if (cr->set && cr->chain != nd->chain)
        violation(k, "state machine safety (every member applies the same entries in the same order) broken: %s installed"
                     " a snapshot through index %" G_GUINT64_FORMAT " whose history differs from what %s applied up to there"
                     " (chain hashes differ)", nd->name, nd->applied, name_of(k, cr->first_node));
}

/* The application's snapshot is its own (a stream's messages), not the chain: the member now
 * stands where the first member to apply `index` stood, provided the snapshot's term is the
 * term committed there. Everything before it was compared when it was applied. */
void raft_checker_restore_at(RaftChecker *k, uint32_t id, uint64_t index, uint64_t term) {
    RaftCheckerNode *nd = member(k, id);
    nd->applied = index;
    nd->chain = 0;
    if (index == 0) return;
    RaftCheckerCommit *cr = commit_rec(k, index);
    if (!cr->set)
        violation(k, "state machine safety (a snapshot holds only committed entries) broken: %s holds a snapshot through"
                     " index %" G_GUINT64_FORMAT " (term %" G_GUINT64_FORMAT "), but no member has applied index %"
                     G_GUINT64_FORMAT, nd->name, index, term, index);
    else if (cr->term != term) {
        g_autofree char *what = describe(k, cr->data);
        violation(k, "state machine safety (every member applies the same entry at each index) broken at index %"
                     G_GUINT64_FORMAT ": %s holds a snapshot through it whose last entry is of term %" G_GUINT64_FORMAT
                     ", but %s applied an entry of term %" G_GUINT64_FORMAT " there (%s)",
                  index, nd->name, term, name_of(k, cr->first_node), cr->term, what);
    }
    else
        nd->chain = cr->chain;
}

void raft_checker_apply(RaftChecker *k, uint32_t id, const RaftEntry *e) {
    RaftCheckerNode *nd = member(k, id);
    if (e->index != nd->applied + 1) {
        violation(k, "state machine safety (committed entries are applied in order, none skipped) broken: %s applied"
                     " index %" G_GUINT64_FORMAT " right after index %" G_GUINT64_FORMAT, nd->name, e->index, nd->applied);
        return;
    }
    uint64_t dh = hash_bytes(e->data);
    nd->chain = mix3(nd->chain, e->index * 1000003 + e->term, dh);
    nd->applied = e->index;
    RaftCheckerCommit *cr = commit_rec(k, e->index);
    if (!cr->set) {
        *cr = (RaftCheckerCommit){true, e->term, dh, raft_checker_value(e->data), nd->chain, id, g_bytes_ref(e->data)};
        if (e->index > k->max_commit) k->max_commit = e->index;
    } else if (cr->term != e->term || cr->data_hash != dh) {
        g_autofree char *mine = describe(k, e->data), *theirs = describe(k, cr->data);
        violation(k, "state machine safety (every member applies the same entry at each index) broken at index %"
                     G_GUINT64_FORMAT ": %s applied an entry of term %" G_GUINT64_FORMAT " (%s), but %s had applied one of"
                     " term %" G_GUINT64_FORMAT " (%s)", e->index, nd->name, e->term, mine, name_of(k, cr->first_node),
                  cr->term, theirs);
    } else if (cr->chain != nd->chain) {
        violation(k, "state machine safety (every member applies the same entries in the same order) broken before"
                     " index %" G_GUINT64_FORMAT ": %s and %s applied the same entry there, but their histories up to it"
                     " differ (chain hashes differ: an earlier index was applied differently)", e->index, nd->name,
                  name_of(k, cr->first_node));
    }
}

void raft_checker_restarted(RaftChecker *k, uint32_t id) { member(k, id)->lead_term = member(k, id)->taken_term = 0; }

/* --- the checkers --- */

static gpointer meta_key(uint64_t index, uint64_t term) { return GSIZE_TO_POINTER((index << 24) ^ term); }

/* Log Matching, checked as entries are persisted: an entry (index, term) is created once, by
 * the leader of that term, with one command after one predecessor term; every copy anywhere
 * must agree. By induction, equal (index, term) means equal prefixes. */
void raft_checker_ready(RaftChecker *k, const Raft *r, const RaftReady *rd) {
    RaftCheckerNode *nd = member(k, raft_id(r));
    for (size_t i = 0; i < rd->n_entries; i++) {
        const RaftEntry *e = &rd->entries[i];
        uint64_t prev = i > 0 ? rd->entries[i - 1].term : raft_term_at(r, e->index - 1);
        uint64_t dh = hash_bytes(e->data) ^ (uint64_t)e->type;
        EntryMeta *m = g_hash_table_lookup(k->metas, meta_key(e->index, e->term));
        if (m == NULL) {
            m = g_new(EntryMeta, 1);
            *m = (EntryMeta){dh, prev, nd->id, g_bytes_ref(e->data)};
            g_hash_table_insert(k->metas, meta_key(e->index, e->term), m);
        } else if (m->data_hash != dh) {
            g_autofree char *mine = describe(k, e->data), *theirs = describe(k, m->data);
            violation(k, "log matching (an index and a term name one entry, wherever it is stored) broken at index %"
                         G_GUINT64_FORMAT ", term %" G_GUINT64_FORMAT ": %s persisted %s there, %s had persisted %s",
                      e->index, e->term, nd->name, mine, name_of(k, m->first_node), theirs);
        } else if (m->prev_term != prev) {
            violation(k, "log matching (two logs that hold the same entry hold the same entries before it) broken at index %"
                         G_GUINT64_FORMAT ", term %" G_GUINT64_FORMAT ": %s has an entry of term %" G_GUINT64_FORMAT
                         " at index %" G_GUINT64_FORMAT " before it, %s had one of term %" G_GUINT64_FORMAT,
                      e->index, e->term, nd->name, prev, e->index - 1, name_of(k, m->first_node), m->prev_term);
        }
    }
    /* One server at a time: every configuration entry differs from the configuration in
     * force before it by exactly one voter (the overlap argument in raft.c rests on it). */
    for (size_t i = 0; i < rd->n_entries; i++) {
        const RaftEntry *e = &rd->entries[i];
        RaftPeers before, after;
        if (e->type != RAFT_ENTRY_CONF || !raft_conf_at(r, e->index - 1, &before)) continue;
        if (!raft_peers_decode(e->data, &after)) {
            violation(k, "membership: %s holds a malformed configuration at %" G_GUINT64_FORMAT, nd->name, e->index);
            continue;
        }
        uint32_t common = 0;
        for (uint32_t j = 0; j < after.n; j++) common += raft_peers_has(&before, after.ids[j]);
        if (before.n + after.n - 2 * common != 1)
            violation(k, "membership: %s's configuration at %" G_GUINT64_FORMAT " (%u voters) changes %u voters at once",
                      nd->name, e->index, after.n, before.n + after.n - 2 * common);
    }
    /* compared with what it handed out before, not with its log at the last batch's end: an
     * owner may propose from inside an apply (a stream leader's next membership change when
     * the last one commits), and that entry is the next batch's */
    if (raft_role(r) == RAFT_LEADER && nd->taken_term == raft_term(r) && rd->n_entries > 0 &&
        rd->entries[0].index <= nd->taken_last)
        violation(k, "leader append-only (a leader never overwrites or deletes entries in its log) broken: %s, leading"
                     " term %" G_GUINT64_FORMAT " with a log through index %" G_GUINT64_FORMAT ", wrote index %"
                     G_GUINT64_FORMAT " again", nd->name, raft_term(r), nd->taken_last, rd->entries[0].index);
    if (raft_role(r) == RAFT_LEADER && rd->n_entries > 0) {
        nd->taken_term = raft_term(r);
        nd->taken_last = rd->entries[rd->n_entries - 1].index;
    }
}

void raft_checker_node(RaftChecker *k, const Raft *r) {
    uint32_t id = raft_id(r);
    RaftCheckerNode *nd = member(k, id);
    raft_check_invariants(r);
    if (raft_role(r) != RAFT_LEADER) return;
    uint64_t term = raft_term(r), last = raft_last_index(r);
    gpointer who = g_hash_table_lookup(k->term_leader, GSIZE_TO_POINTER(term));
    if (who == NULL) g_hash_table_insert(k->term_leader, GSIZE_TO_POINTER(term), GUINT_TO_POINTER(id));
    else if (GPOINTER_TO_UINT(who) != id)
        violation(k, "election safety (at most one leader per term) broken: %s and %s both lead term %" G_GUINT64_FORMAT,
                  name_of(k, GPOINTER_TO_UINT(who)), nd->name, term);
    if (nd->lead_term == term) {
        if (last < nd->lead_last || (nd->lead_last > raft_snapshot_index(r) && raft_term_at(r, nd->lead_last) != nd->lead_last_term))
            violation(k, "leader append-only (a leader never overwrites or deletes entries in its log) broken: %s, leading"
                         " term %" G_GUINT64_FORMAT ", had index %" G_GUINT64_FORMAT " (term %" G_GUINT64_FORMAT ") and now"
                         " its log ends at %" G_GUINT64_FORMAT, nd->name, term, nd->lead_last, nd->lead_last_term, last);
    } else {
        /* a new leader: it was elected by a majority of ITS configuration, so it is a voter
         * of it (one per term across configurations: the term map above) */
        if (!raft_is_member(r, id))
            violation(k, "election safety: %s leads term %" G_GUINT64_FORMAT " without being a voter of its configuration",
                      nd->name, term);
        /* Leader Completeness — it holds every entry anyone has applied */
        nd->lead_term = term;
        uint64_t si = raft_snapshot_index(r); /* the compacted prefix: judged by its last (index, term) */
        const RaftCheckerCommit *sc = si > 0 ? raft_checker_commit_at(k, si) : NULL;
        if (sc != NULL && sc->term != raft_term_at(r, si))
            violation(k, "leader completeness (a leader holds every committed entry) broken: %s won term %" G_GUINT64_FORMAT
                         " with a snapshot through index %" G_GUINT64_FORMAT " of term %" G_GUINT64_FORMAT ", but index %"
                         G_GUINT64_FORMAT " was committed in term %" G_GUINT64_FORMAT " (%s applied it)", nd->name, term, si,
                      raft_term_at(r, si), si, sc->term, name_of(k, sc->first_node));
        for (uint64_t i = si + 1; i <= k->max_commit; i++) {
            RaftCheckerCommit *cr = commit_rec(k, i);
            if (cr->set && raft_term_at(r, i) != cr->term) {
                g_autofree char *what = describe(k, cr->data);
                g_autofree char *has = i <= last ? g_strdup_printf("holds an entry of term %" G_GUINT64_FORMAT " there",
                                                                   raft_term_at(r, i))
                                                 : g_strdup_printf("has no entry there");
                violation(k, "leader completeness (a leader holds every committed entry) broken: %s won term %"
                             G_GUINT64_FORMAT " without index %" G_GUINT64_FORMAT ", committed in term %" G_GUINT64_FORMAT
                             " (%s applied it: %s); %s %s, its log ends at index %" G_GUINT64_FORMAT " (term %"
                             G_GUINT64_FORMAT ")", nd->name, term, i, cr->term, name_of(k, cr->first_node), what, nd->name,
                          has, last, raft_term_at(r, last));
                break;
            }
        }
    }
    nd->lead_last = last;
    nd->lead_last_term = raft_term_at(r, last);
}
