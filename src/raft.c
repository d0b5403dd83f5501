/* raft.c — the Raft consensus algorithm as a pure state machine (contract: raft.h).
 *
 * WHAT IT IS
 *   Ongaro and Ousterhout's Raft ("In Search of an Understandable Consensus Algorithm",
 *   2014; references to "the paper" and its Figure 2 below) plus three things from Ongaro's
 *   thesis that a real deployment needs: pre-vote (§9.6), leadership transfer (§3.10) and
 *   log compaction with InstallSnapshot (§5), and membership changes one server at a time
 *   (§4.1; essay MEMBERSHIP CHANGES below).
 *
 * THE PIECES, in file order
 *   the log in memory      entries snapshot_index+1 .. last, plus the snapshot's (index, term)
 *   output                 emit(), and the Ready batch the caller takes
 *   roles                  become_follower / pre_candidate / candidate / leader
 *   election               campaign(), the vote handler  — essay below, LAB(5)
 *   replication            send_append(), the append handler, the response handler with the
 *                          conflict back-up — essay below, LAB(6)
 *   commit                 maybe_commit() — essay below, LAB(7)
 *   snapshots              raft_compact(), send_snapshot(), the install handler, LAB(8)
 *   membership             the configuration in force, raft_propose_conf() — essay below
 *   step, tick             the dispatcher and the clock
 *
 * LENGTH
 *   About 900 lines, over the house guideline of 600: the roles share one struct and every
 *   handler reads the log, so splitting would trade one long file for many cross-file
 *   statics. A third of it is the essays.
 *
 * TIME
 *   Raft never reads a clock. The caller calls raft_tick() every fixed interval; every
 *   timeout here is a number of ticks. Randomness comes from cfg.random_u64 (the Env).
 */
#include "raft.h"

#include <string.h>

#include "limits.h"

enum { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

/* What a leader knows about one follower (paper: nextIndex[], matchIndex[]). */
typedef struct Progress {
    uint32_t id;
    uint64_t match, next;
    int state;          /* PROBE: one append per heartbeat until we find where logs agree;
                           REPLICATE: stream entries, next moves as we send;
                           SNAPSHOT: an InstallSnapshot is in flight */
    bool paused;        /* PROBE: an append is out, wait for its answer or the next heartbeat */
    uint64_t pending_snapshot;
    int snapshot_ticks; /* resend the snapshot if unanswered this long */
    bool voted, granted; /* this election: answered, and how */
} Progress;

struct Raft {
    RaftConfig cfg;
    /* membership (see MEMBERSHIP CHANGES): prs[0..n) are the voters of `conf`, in its order */
    RaftPeers conf;             /* the configuration in force: the latest in the log */
    RaftPeers boot_conf;        /* cfg.peers: in force while neither log nor snapshot has one */
    RaftPeers snap_conf;        /* in force at snap_index (n == 0: boot_conf) */
    uint64_t conf_index;        /* index of the CONF entry `conf` came from; 0: none in the log */
    Progress prs[LIMIT_RAFT_PEERS_MAX];
    size_t n;
    RaftRole role;
    uint64_t term;
    uint32_t vote, leader;
    /* the log */
    uint64_t snap_index, snap_term;
    GBytes *snap_data;
    GArray *log;                /* RaftEntry; log[k].index == snap_index + 1 + k */
    uint64_t commit, applied;
    uint64_t unstable_from;     /* first index not yet handed out for persistence */
    /* clocks, in ticks */
    int election_elapsed, heartbeat_elapsed, randomized_timeout;
    uint32_t transfer_to;
    int transfer_elapsed;
    /* output waiting for raft_ready_take */
    GArray *out;                /* RaftMsg */
    RaftHardState saved_hs;     /* what the last Ready said */
    bool snapshot_pending, snapshot_install;
    bool damaged;               /* booted with a damaged log, not repaired yet: no votes */
    bool hold;                  /* raft_hold_campaign: the application is catching up */
};

/* ---------------------------------------------------------------- the log in memory */

uint64_t raft_last_index(const Raft *r) { return r->snap_index + r->log->len; }

static RaftEntry *entry(const Raft *r, uint64_t index) {
    if (index <= r->snap_index || index > raft_last_index(r)) return NULL;
    return &g_array_index(r->log, RaftEntry, index - r->snap_index - 1);
}

uint64_t raft_term_at(const Raft *r, uint64_t index) {
    if (index == r->snap_index) return r->snap_term;
    const RaftEntry *e = entry(r, index);
    return e ? e->term : 0;
}

const RaftEntry *raft_entry_at(const Raft *r, uint64_t index) { return entry(r, index); }

static uint64_t last_term(const Raft *r) { return raft_term_at(r, raft_last_index(r)); }

static void entry_clear(gpointer p) { g_bytes_unref(((RaftEntry *)p)->data); }

static void conf_adopt_entry(Raft *r, const RaftEntry *e);
static void conf_from_log(Raft *r);

static void log_append(Raft *r, uint64_t term, GBytes *data) {
    RaftEntry e = {term, raft_last_index(r) + 1, g_bytes_ref(data), RAFT_ENTRY_NORMAL};
    g_array_append_val(r->log, e);
}

/* Append a CONF entry (or any typed one): a configuration takes effect the moment it is in
 * the log (MEMBERSHIP CHANGES). */
static void log_append_typed(Raft *r, uint64_t term, GBytes *data, RaftEntryType type) {
    log_append(r, term, data);
    RaftEntry *e = entry(r, raft_last_index(r));
    e->type = type;
    conf_adopt_entry(r, e);
}

/* Drop index and everything after it (a conflicting suffix). Never a committed entry. If a
 * configuration went with it, the one before it is in force again. */
static void log_truncate_from(Raft *r, uint64_t index) {
    g_assert(index > r->commit && index > r->snap_index);
    g_array_set_size(r->log, (guint)(index - r->snap_index - 1));
    if (r->unstable_from > index) r->unstable_from = index;
    if (r->conf_index >= index) conf_from_log(r);
}

static Progress *progress(Raft *r, uint32_t id) {
    for (size_t i = 0; i < r->n; i++)
        if (r->prs[i].id == id) return &r->prs[i];
    return NULL;
}

static size_t quorum(const Raft *r) { return r->n / 2 + 1; }

bool raft_is_member(const Raft *r, uint32_t id) { return raft_peers_has(&r->conf, id); }

/* A leader's own match index is its last index, when it is a voter (a leader that removed
 * itself is not: MEMBERSHIP CHANGES). */
static void self_match(Raft *r) {
    Progress *me = progress(r, r->cfg.id);
    if (me) me->match = raft_last_index(r);
}

/* ---------------------------------------------------------------- output */

static RaftMsg *emit(Raft *r, RaftMsgType type, uint32_t to) {
    RaftMsg m = {0};
    m.type = type;
    m.from = r->cfg.id;
    m.to = to;
    m.term = r->term;
    g_array_append_val(r->out, m);
    return &g_array_index(r->out, RaftMsg, r->out->len - 1);
}

static RaftHardState hard_state(const Raft *r) { return (RaftHardState){r->term, r->vote, r->commit}; }

/* Field by field: memcmp would also compare the struct's padding bytes. */
static bool hard_state_changed(const Raft *r) {
    return r->term != r->saved_hs.term || r->vote != r->saved_hs.vote || r->commit != r->saved_hs.commit;
}

bool raft_has_ready(const Raft *r) {
    return r->out->len > 0 || r->snapshot_pending || r->unstable_from <= raft_last_index(r) ||
           r->commit > r->applied || hard_state_changed(r);
}

static RaftEntry *copy_entries(const Raft *r, uint64_t from, uint64_t to, size_t *n_out) {
    *n_out = from <= to ? (size_t)(to - from + 1) : 0;
    if (*n_out == 0) return NULL;
    RaftEntry *v = g_new(RaftEntry, *n_out);
    for (size_t i = 0; i < *n_out; i++) {
        v[i] = *entry(r, from + i);
        g_bytes_ref(v[i].data);
    }
    return v;
}

void raft_ready_take(Raft *r, RaftReady *rd) {
    memset(rd, 0, sizeof *rd);
    if (hard_state_changed(r)) {
        rd->has_hard_state = true;
        rd->hs = hard_state(r);
        r->saved_hs = rd->hs;
    }
    if (r->snapshot_pending) {
        rd->has_snapshot = true;
        rd->install_snapshot = r->snapshot_install;
        rd->snapshot = (RaftSnapshot){r->snap_index, r->snap_term, g_bytes_ref(r->snap_data),
                                      r->snap_conf.n ? r->snap_conf : r->boot_conf};
        r->snapshot_pending = r->snapshot_install = false;
    }
    if (r->unstable_from <= r->snap_index) r->unstable_from = r->snap_index + 1;
    rd->entries = copy_entries(r, r->unstable_from, raft_last_index(r), &rd->n_entries);
    r->unstable_from = raft_last_index(r) + 1;
    rd->n_msgs = r->out->len;
    rd->msgs = (RaftMsg *)(void *)g_array_free(r->out, FALSE);
    r->out = g_array_new(FALSE, TRUE, sizeof(RaftMsg));
    if (r->applied < r->snap_index) r->applied = r->snap_index;
    rd->committed = copy_entries(r, r->applied + 1, r->commit, &rd->n_committed);
    r->applied = r->commit;
}

static void entries_free(RaftEntry *v, size_t n) {
    for (size_t i = 0; i < n; i++) g_bytes_unref(v[i].data);
    g_free(v);
}

void raft_ready_clear(RaftReady *rd) {
    if (rd->snapshot.data) g_bytes_unref(rd->snapshot.data);
    entries_free(rd->entries, rd->n_entries);
    entries_free(rd->committed, rd->n_committed);
    for (size_t i = 0; i < rd->n_msgs; i++) raft_msg_clear(&rd->msgs[i]);
    g_free(rd->msgs);
    memset(rd, 0, sizeof *rd);
}

void raft_boot_clear(RaftBoot *b) {
    if (b->snapshot.data) g_bytes_unref(b->snapshot.data);
    entries_free(b->entries, b->n_entries);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- roles */

static void reset_election_timer(Raft *r) {
    r->election_elapsed = 0;
    int e = r->cfg.election_ticks;
    r->randomized_timeout = e + (int)(r->cfg.random_u64(r->cfg.random_ctx) % (uint64_t)e);
}

static void become_follower(Raft *r, uint64_t term, uint32_t leader) {
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->transfer_to = 0;
    reset_election_timer(r);
}

static void send_append(Raft *r, Progress *pr, bool heartbeat);

static void become_leader(Raft *r) {
    r->role = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->heartbeat_elapsed = 0;
    r->transfer_to = 0;
    for (size_t i = 0; i < r->n; i++) {
        Progress *pr = &r->prs[i];
        pr->match = 0;
        pr->next = raft_last_index(r) + 1;
        pr->state = PR_PROBE;
        pr->paused = false;
    }
    /* A no-op entry of the new term: until an entry of its own term commits, a new leader
     * can commit nothing (see the commit essay), and it may not even know what is committed. */
    if (!(r->cfg.bug & RAFT_BUG_NO_NOOP)) {
        g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
        log_append(r, r->term, empty);
    }
    self_match(r);
    for (size_t i = 0; i < r->n; i++)
        if (r->prs[i].id != r->cfg.id) send_append(r, &r->prs[i], true);
}

static void maybe_commit(Raft *r);
static void leader_commit(Raft *r);

/* ---------------------------------------------------------------- election
 *
 * ELECTION — HOW IT WORKS
 *   Every node starts as a follower and counts ticks since it last heard from a leader (or
 *   granted a vote). When the count passes its randomized timeout — a fresh random number
 *   in [election_ticks, 2*election_ticks) each time — it concludes the leader is gone:
 *     1. PRE-VOTE: it becomes a pre-candidate and asks everyone "would you vote for me in
 *        term+1?", sending its last log index and term. It changes nothing: not its term,
 *        not its vote. A peer says yes only if the candidate's log is at least as
 *        up-to-date as its own AND the peer has not itself heard from a leader within the
 *        minimum election timeout.
 *     2. With a majority of yeses it becomes a candidate for real: term+1, votes for itself
 *        (persisted before the requests leave — the Ready contract), sends RequestVote.
 *     3. A peer grants the vote if it has not voted for someone else in this term and the
 *        candidate's log is at least as up-to-date (paper §5.4.1: compare last terms, then
 *        last indexes). Granting restarts its own election timer.
 *     4. A majority of votes makes a leader; it appends a no-op of its term and starts
 *        heartbeats. Seeing a higher term anywhere makes any node a follower of that term.
 *   The randomization is the whole liveness argument: two candidates that split the vote
 *   will almost surely time out at different moments next time, and the earlier one wins.
 *
 * WHY PRE-VOTE (WHY NOT THE OBVIOUS WAY)
 *   Plain Raft lets any node that stops hearing heartbeats bump its term and campaign. A node
 *   cut off by a partition does exactly that, again and again: its term climbs to 57 while
 *   the healthy majority sits at term 3. When the partition heals its first message carries
 *   term 57, the healthy leader sees a higher term and steps down, and the cluster stalls for
 *   an election it did not need — the rejoining node cannot even win it, its log is behind.
 *   With pre-vote the isolated node never gets a majority of "would you?", so it never bumps
 *   its term, and rejoining is silent: it just receives the leader's next heartbeat. The
 *   "heard from a leader recently" rule also stops a node with a flaky link to the leader
 *   from deposing a leader everyone else can reach.
 *
 * LIMITATIONS
 *   - A leader that loses its majority stays leader (of a term nobody follows) until it
 *     hears a higher term; proposals to it just never commit. etcd's CheckQuorum (step down
 *     after an election timeout without hearing from a majority) is not implemented.
 *   - Real votes have no "leader is alive" check (only pre-votes do): a node that skipped
 *     pre-vote (raft_campaign, TimeoutNow) can depose a live leader — that is the point of
 *     leadership transfer.
 *   - Election time is at least election_ticks and is not bounded above: split votes retry.
 */

static void send_vote_requests(Raft *r, bool pre) {
    for (size_t i = 0; i < r->n; i++) {
        Progress *pr = &r->prs[i];
        pr->voted = pr->granted = false;
    }
    Progress *self = progress(r, r->cfg.id);
    self->voted = self->granted = true;
    for (size_t i = 0; i < r->n; i++) {
        if (r->prs[i].id == r->cfg.id) continue;
        RaftMsg *m = emit(r, pre ? RAFT_MSG_PRE_VOTE : RAFT_MSG_VOTE, r->prs[i].id);
        if (pre) m->term = r->term + 1;
        m->log_term = last_term(r);
        m->index = raft_last_index(r);
    }
}

static void become_candidate(Raft *r) {
    r->role = RAFT_CANDIDATE;
    r->term++;
    r->vote = r->cfg.id;
    r->leader = 0;
    r->transfer_to = 0;
    reset_election_timer(r);
    send_vote_requests(r, false);
    if (quorum(r) == 1) become_leader(r);
}

static void campaign(Raft *r, bool force) {
    if (r->role == RAFT_LEADER || r->damaged || r->hold) return; /* a damaged log may lack what it promised */
    if (!raft_is_member(r, r->cfg.id)) return; /* removed (or not yet added): never a candidate */
    if (!r->cfg.pre_vote || force) {
        become_candidate(r);
        return;
    }
    r->role = RAFT_PRE_CANDIDATE;
    r->leader = 0;
    reset_election_timer(r);
    send_vote_requests(r, true);
    if (quorum(r) == 1) become_candidate(r);
}

void raft_campaign(Raft *r) { campaign(r, true); }

void raft_hold_campaign(Raft *r, bool hold) { r->hold = hold; }

/* The candidate's log is "at least as up-to-date" as ours (paper §5.4.1). */
static bool log_up_to_date(const Raft *r, uint64_t cand_last_term, uint64_t cand_last_index) {
    uint64_t lt = last_term(r);
    return cand_last_term > lt || (cand_last_term == lt && cand_last_index >= raft_last_index(r));
}

/* RequestVote and PreVote receiver. Terms were already reconciled by raft_step: for VOTE,
 * m->term == r->term here; for PRE_VOTE, m->term >= r->term and nothing was changed. */
static void handle_vote_request(Raft *r, const RaftMsg *m) {
    /* LAB(5) begin */
    /* LAB(5) stub: (void)log_up_to_date; */
    bool pre = m->type == RAFT_MSG_PRE_VOTE;
    bool grant;
    if (pre) {
        bool leader_alive = r->role == RAFT_LEADER ||
                            (r->leader != 0 && r->election_elapsed < r->cfg.election_ticks);
        grant = m->term > r->term && !leader_alive && log_up_to_date(r, m->log_term, m->index);
    } else {
        grant = (r->vote == 0 || r->vote == m->from) && log_up_to_date(r, m->log_term, m->index);
        if (grant) {
            r->vote = m->from; /* durable before the reply leaves: the Ready contract */
            reset_election_timer(r);
        }
    }
    RaftMsg *resp = emit(r, pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
    resp->term = pre && grant ? m->term : r->term;
    resp->reject = !grant;
    /* LAB(5) end */
}

static void handle_vote_response(Raft *r, const RaftMsg *m) {
    Progress *pr = progress(r, m->from);
    if (pr == NULL || pr->voted) return; /* not a voter of our configuration; a duplicate */
    pr->voted = true;
    pr->granted = !m->reject;
    size_t yes = 0, no = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->prs[i].voted) continue;
        if (r->prs[i].granted) yes++;
        else no++;
    }
    if (yes >= quorum(r)) {
        if (r->role == RAFT_PRE_CANDIDATE) become_candidate(r);
        else become_leader(r);
    } else if (no >= quorum(r)) {
        become_follower(r, r->term, 0);
    }
}

/* ---------------------------------------------------------------- replication
 *
 * THE CONFLICT BACK-UP — HOW IT WORKS
 *   A leader keeps next[f], the index of the next entry to send follower f, starting at its
 *   own last index + 1. An AppendEntries names the entry just before the batch (prevLogIndex,
 *   prevLogTerm); the follower accepts only if its log has that entry (paper: "If an
 *   existing entry conflicts with a new one ... delete the existing entry and all that
 *   follow it"; "Reply false if log doesn't contain an entry at prevLogIndex whose term
 *   matches prevLogTerm"). On a rejection the paper's leader decrements next by one and tries
 *   again: one round trip per missing or conflicting entry. A follower that was away for 50
 *   uncommitted entries of a dead leader's term costs 50 round trips.
 *   So a rejection carries a hint (paper §5.3, the optimization it sketches):
 *     - the follower's log is too short:  hint_term = 0, hint_index = its last index + 1;
 *     - it has a different term there:    hint_term = that term, hint_index = the first
 *                                          index of that term in its log.
 *   The leader then jumps:
 *     - hint_term == 0:                       next = hint_index;
 *     - it has entries of hint_term too:      next = its last entry of hint_term + 1
 *                                             (both logs agree up to there, by Log Matching);
 *     - it has none of hint_term:             next = hint_index (skip the whole term).
 *   One round trip per conflicting TERM instead of per entry; the backup test (50 stale
 *   entries on each side) converges in a handful of messages.
 *
 * WHY NOT THE OBVIOUS WAY
 *   Binary search or "send the whole log" both work but cost more: the first many round
 *   trips, the second bytes. The term hint is the cheapest that is still one message type.
 *
 * LIMITATIONS
 *   - Stale rejections (an answer to an older probe, reordered by the network) are recognised
 *     by the rejected index and ignored; a stale acceptance only raises match (harmless).
 *   - REPLICATE mode sends optimistically without a window: on a lossy link a lost batch is
 *     noticed at the next heartbeat, whose prevLogIndex the follower lacks.
 */

static void send_snapshot(Raft *r, Progress *pr) {
    RaftMsg *m = emit(r, RAFT_MSG_SNAPSHOT, pr->id);
    m->index = r->snap_index;
    m->log_term = r->snap_term;
    m->snapshot = g_bytes_ref(r->snap_data);
    m->peers = r->snap_conf.n ? r->snap_conf : r->boot_conf;
    pr->state = PR_SNAPSHOT;
    pr->pending_snapshot = r->snap_index;
    pr->snapshot_ticks = 0;
}

/* Send pr what it lacks from next on. A heartbeat is an append too (maybe empty): it carries
 * the commit index and re-probes a follower whose log we guessed wrong. */
static void send_append(Raft *r, Progress *pr, bool heartbeat) {
    if (pr->state == PR_SNAPSHOT) return;
    if (pr->paused && !heartbeat) return;
    uint64_t prev = pr->next - 1;
    if (prev < r->snap_index) { /* what it needs was compacted away */
        send_snapshot(r, pr);
        return;
    }
    uint64_t last = raft_last_index(r);
    uint32_t max = r->cfg.max_append_entries ? r->cfg.max_append_entries : LIMIT_RAFT_MSG_ENTRIES_MAX;
    size_t n = 0, bytes = 0;
    while (pr->next + n <= last && n < max) {
        size_t b = g_bytes_get_size(entry(r, pr->next + n)->data);
        if (n > 0 && bytes + b > LIMIT_RAFT_APPEND_BYTES_MAX) break;
        bytes += b;
        n++;
    }
    if (n == 0 && !heartbeat) return;
    RaftMsg *m = emit(r, RAFT_MSG_APPEND, pr->id);
    m->index = prev;
    m->log_term = raft_term_at(r, prev);
    m->commit = r->commit;
    m->entries = copy_entries(r, pr->next, pr->next + n - 1, &n);
    m->n_entries = (uint32_t)n;
    if (pr->state == PR_REPLICATE) pr->next += n;
    else pr->paused = true;
}

static void broadcast_append(Raft *r, bool heartbeat) {
    for (size_t i = 0; i < r->n; i++) {
        Progress *pr = &r->prs[i];
        if (pr->id == r->cfg.id) continue;
        if (heartbeat) pr->paused = false;
        send_append(r, pr, heartbeat);
    }
}

/* AppendEntries receiver. raft_step made us a follower of m->from in m->term. Entries at or
 * below our commit index are never touched: the early return below skips them, so
 * log_truncate_from never meets a committed entry, whatever a peer sends. */
static gboolean handle_append(Raft *r, const RaftMsg *m, GError **error) {
    /* LAB(6) begin */
    /* LAB(6) stub: (void)m; (void)error; */
    /* LAB(6) stub: return TRUE; */
    RaftMsg *resp = emit(r, RAFT_MSG_APPEND_RESP, m->from);
    if (m->index < r->commit) {
        /* Everything through our commit index is already on the leader's log (Leader
         * Completeness), so an append starting below it is old news: say what we hold. */
        resp->index = r->commit;
        return TRUE;
    }
    uint64_t last = raft_last_index(r);
    if (m->index > last || raft_term_at(r, m->index) != m->log_term) {
        resp->reject = true;
        resp->index = m->index;
        if (m->index > last) {
            resp->hint_index = last + 1;
        } else {
            uint64_t t = raft_term_at(r, m->index), k = m->index;
            while (k - 1 > r->commit && k - 1 > r->snap_index && raft_term_at(r, k - 1) == t) k--;
            resp->hint_term = t;
            resp->hint_index = k;
        }
        return TRUE;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const RaftEntry *e = &m->entries[i];
        if (e->index <= raft_last_index(r)) {
            if (raft_term_at(r, e->index) == e->term) continue; /* already have it */
            log_truncate_from(r, e->index);                     /* a conflicting suffix */
        }
        log_append(r, e->term, e->data);
    }
    uint64_t last_new = m->index + m->n_entries;
    /* "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new
     * entry)": beyond last_new our log may still hold a stale suffix. */
    if (m->commit > r->commit) r->commit = MIN(m->commit, last_new);
    resp->index = last_new;
    return TRUE;
    /* LAB(6) end */
}

static uint64_t last_index_of_term(const Raft *r, uint64_t term, uint64_t below) {
    for (uint64_t k = MIN(below, raft_last_index(r)); k > r->snap_index; k--) {
        uint64_t t = raft_term_at(r, k);
        if (t == term) return k;
        if (t < term) break; /* terms only grow along the log */
    }
    return 0;
}

static void handle_append_response(Raft *r, const RaftMsg *m) {
    Progress *pr = progress(r, m->from);
    if (pr == NULL) return; /* it left the configuration since we asked */
    if (!m->reject) {
        if (m->index > raft_last_index(r)) return; /* impossible for an honest follower */
        if (m->index > pr->match) pr->match = m->index;
        if (pr->next < pr->match + 1) pr->next = pr->match + 1;
        if (pr->state == PR_SNAPSHOT && pr->match >= pr->pending_snapshot) pr->state = PR_PROBE;
        if (pr->state == PR_PROBE) {
            pr->state = PR_REPLICATE;
            pr->next = pr->match + 1;
        }
        pr->paused = false;
        leader_commit(r);
        if (r->role != RAFT_LEADER) return;
        if (r->transfer_to == m->from && pr->match == raft_last_index(r)) {
            emit(r, RAFT_MSG_TIMEOUT_NOW, m->from);
            return;
        }
        send_append(r, pr, false);
        return;
    }
    if (pr->state == PR_SNAPSHOT) return;
    /* "My log ends below what you think I hold": a member whose damaged log or snapshot was
     * cut at recovery (raft_log.h) lost entries it acknowledged. Believe it: a lower match
     * only delays commits, and without this the leader would take every answer of that
     * member for a stale one and never repair it. (A truly stale rejection that lowers it
     * costs one resend.) */
    if (m->hint_term == 0 && m->hint_index > 0 && m->hint_index - 1 < pr->match) pr->match = m->hint_index - 1;
    if (m->index <= pr->match) return; /* stale: we already know it holds more */
    if (pr->state == PR_PROBE && m->index != pr->next - 1) return; /* answers an older probe */
    uint64_t next = m->hint_index;
    if (m->hint_term != 0) {
        uint64_t k = last_index_of_term(r, m->hint_term, m->index);
        if (k != 0) next = k + 1;
    }
    if (next > m->index) next = m->index; /* always move back at least past the rejection */
    if (next < pr->match + 1) next = pr->match + 1;
    pr->next = next;
    pr->state = PR_PROBE;
    pr->paused = false;
    send_append(r, pr, false);
}

/* ---------------------------------------------------------------- commit
 *
 * THE COMMIT RULE — HOW IT WORKS
 *   An entry is committed once the leader that created it has it on a majority: then any
 *   future leader must have it (a voter only votes for logs at least as up-to-date as its
 *   own, and every majority overlaps that one). The leader sorts the match indexes (its own
 *   is its last index), takes the quorum-th largest N — a majority holds everything through
 *   N — and commits N if, and only if, the entry at N is of its CURRENT term (paper §5.4.2:
 *   "Raft never commits log entries from previous terms by counting replicas"). Entries
 *   before N then commit indirectly, by Log Matching.
 *
 * WHY NOT THE OBVIOUS WAY (Figure 8)
 *   "On a majority" is not enough for an entry of an older term. Figure 8 of the paper, as
 *   replayed by tests/test_raft.c (/raft/broken/figure8-scripted) on five servers:
 *     a. S1 leads term 2 and gets entry X (term 2, index 2) onto S2 only; S1 is cut off.
 *     b. S5 is elected for term 3 by S3, S4 and itself, appends Y at index 2, is cut off.
 *     c. S1 is back, elected for term 4 by S2 and S3, and copies X to S3. X is now on S1,
 *        S2, S3: a majority. Counting replicas would commit and apply X now.
 *     d. S1 is cut off before its term-4 entry reaches a majority. S5 can still win term 5:
 *        its last term (3) beats the last term (2) of S3 and S4. It overwrites X with Y on
 *        everyone. A "committed" X is gone: State Machine Safety is violated.
 *   Waiting for an entry of the current term closes the hole: once a term-4 entry is on a
 *   majority, S5's log (last term 3) loses every election that majority votes in.
 *   The `RAFT_BUG_COMMIT_OLD_TERM` variant drops the term check; the checkers catch it.
 *
 * LIMITATIONS
 *   - A new leader commits nothing until its no-op (become_leader) reaches a majority.
 *   - Persistence: this node's own entries count in its match index at once; that is safe
 *     only because the Ready contract persists them before any acknowledgement it could
 *     combine with (and before the leader applies anything).
 */
static int cmp_desc(gconstpointer a, gconstpointer b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void maybe_commit(Raft *r) {
    /* LAB(7) begin */
    /* LAB(7) stub: (void)cmp_desc; (void)r; */
    uint64_t match[LIMIT_RAFT_PEERS_MAX];
    for (size_t i = 0; i < r->n; i++) match[i] = r->prs[i].match;
    qsort(match, r->n, sizeof match[0], cmp_desc);
    uint64_t n = match[quorum(r) - 1]; /* a majority holds everything through n */
    if (n <= r->commit) return;
    if (raft_term_at(r, n) == r->term || (r->cfg.bug & RAFT_BUG_COMMIT_OLD_TERM)) r->commit = n;
    /* LAB(7) end */
}

/* ---------------------------------------------------------------- snapshots
 *
 * A follower too far behind (the entries it needs were compacted into the leader's
 * snapshot) receives the snapshot whole. If its log already has the snapshot's last entry,
 * the snapshot is news only for the commit index: it keeps its log. Otherwise its log is
 * replaced: the snapshot, then nothing (thesis §5.1, InstallSnapshot receiver rules 6-7).
 */
static void handle_snapshot(Raft *r, const RaftMsg *m) {
    /* LAB(8) begin */
    /* LAB(8) stub: (void)r; (void)m; */
    RaftMsg *resp = emit(r, RAFT_MSG_APPEND_RESP, m->from);
    if (m->index <= r->commit) {
        resp->index = r->commit;
        return;
    }
    if (raft_term_at(r, m->index) == m->log_term) {
        r->commit = m->index; /* we have it all: just learn it is committed */
        resp->index = m->index;
        return;
    }
    g_array_set_size(r->log, 0);
    if (r->snap_data) g_bytes_unref(r->snap_data);
    r->snap_index = m->index;
    r->snap_term = m->log_term;
    r->snap_data = g_bytes_ref(m->snapshot);
    r->commit = r->applied = m->index;
    r->unstable_from = m->index + 1;
    r->snapshot_pending = r->snapshot_install = true;
    resp->index = m->index;
    /* LAB(8) end */
}

gboolean raft_compact(Raft *r, uint64_t index, GBytes *data, GError **error) {
    if (index <= r->snap_index || index > r->applied || data == NULL || g_bytes_get_size(data) == 0) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_BAD_ARG,
                    "compact to %" G_GUINT64_FORMAT ": must be in (%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] with data",
                    index, r->snap_index, r->applied);
        return FALSE;
    }
    if (g_bytes_get_size(data) > LIMIT_RAFT_SNAPSHOT_BYTES_MAX) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_TOO_LARGE, "snapshot over the limit");
        return FALSE;
    }
    uint64_t term = raft_term_at(r, index);
    for (uint64_t k = index; k > r->snap_index; k--) { /* the configuration in force at index */
        const RaftEntry *e = entry(r, k);
        if (e->type == RAFT_ENTRY_CONF) {
            bool ok = raft_peers_decode(e->data, &r->snap_conf);
            g_assert(ok);
            break;
        }
    }
    if (r->snap_conf.n == 0) r->snap_conf = r->boot_conf;
    if (r->conf_index <= index) r->conf_index = 0; /* now the snapshot's */
    g_array_remove_range(r->log, 0, (guint)(index - r->snap_index));
    if (r->snap_data) g_bytes_unref(r->snap_data);
    r->snap_index = index;
    r->snap_term = term;
    r->snap_data = g_bytes_ref(data);
    r->snapshot_pending = true;
    r->snapshot_install = false;
    return TRUE;
}

/* ---------------------------------------------------------------- membership
 *
 * MEMBERSHIP CHANGES — HOW IT WORKS (thesis §4.1-4.2; etcd and nats-server do the same)
 *   A configuration is the set of voters. It lives in the log: a CONF entry carries a whole
 *   new configuration, and every server uses the LATEST configuration in its log, committed
 *   or not — from the moment the entry is appended, not when it commits. Before any CONF
 *   entry, the snapshot's configuration holds (recorded with it), before any snapshot the
 *   bootstrap one (RaftConfig.peers). A conflicting suffix that is cut off takes its
 *   configuration with it: the one before is in force again.
 *     1. raft_propose_conf(ADD d) on the leader appends C' = C + {d}; the leader now counts
 *        majorities of C' (d starts with match 0 and is caught up by appends, or by a
 *        snapshot once the log was compacted). REMOVE works the same with C' = C - {d}.
 *     2. One change at a time: no new CONF entry until the last one committed, and not
 *        before the leader committed an entry of its own term (its no-op) — see below.
 *     3. A leader that removed itself keeps leading (it replicates, but does not count
 *        itself) until C' commits, then steps down and hands over with TimeoutNow to the
 *        most caught-up voter. A removed follower just stops hearing from the leader; its
 *        campaign goes nowhere (it is no candidate once it has C'; before that pre-vote
 *        fails: the others hear their leader), and the application shuts it down.
 *
 * WHY ONE AT A TIME IS SAFE
 *   Election safety and commitment rest on one fact: any two majorities intersect, so two
 *   leaders of one term, or a commit and a later leader lacking it, would need one server
 *   to vote or acknowledge both ways. During a change some servers use C and some C'; if
 *   C and C' differ by ONE server, every majority of C still meets every majority of C':
 *   with |C| = n and |C'| = n+1, a majority of C has at least floor(n/2)+1 servers and one
 *   of C' at least floor((n+1)/2)+1; together that is at least n+2, more than the n+1
 *   servers there are, so they share one (a removal is the same count, mirrored; for n = 3:
 *   2 of {1,2,3} and 3 of {1,2,3,4}). So whichever configuration a server believes
 *   in, decisions cannot be made twice. Changing two servers at once breaks it: {1,2,3} ->
 *   {1,2,3,4,5}: {1,2} is a majority of the old, {3,4,5} of the new, and they are disjoint —
 *   two leaders in one term. That is why the paper's first design needed joint consensus,
 *   and why everybody since ships this one.
 *   Steps build on each other only if each starts where the last ended: a new CONF entry
 *   waits until the previous one commits (then no server can still decide by the one
 *   before it). And a new leader waits for an entry of its own term to commit (Ongaro,
 *   raft-dev 2015): otherwise an uncommitted C' left by a deposed leader, and a C'' a new
 *   leader appends on top of the committed C, could each differ by one from C but by two
 *   from each other, and a third leader using C' could overwrite C'' after it committed.
 *
 * WHY NOT THE OBVIOUS WAY (a configuration in force when COMMITTED)
 *   Committing C' needs the voters of ... which configuration? If the leader counted C until
 *   C' commits, removing a crashed server from a group that lost its majority could never
 *   commit. And a server would have to look ahead of its log to know whom to listen to.
 *   Taking effect on append keeps the rule local: what is in my log is what I use.
 *
 * LIMITATIONS
 *   - A new server is a voter at once (no learner stage): adding one to a 3-server group
 *     makes 4, whose majority is 3, until it catches up. The application should add a
 *     server only with the others healthy (etcd's learners avoid this).
 *   - A removed server is not told; the application stops it when it sees C' committed.
 */

/* Make p the configuration in force: voters keep their Progress, new ones start probing. */
static void set_conf(Raft *r, const RaftPeers *p) {
    Progress old[LIMIT_RAFT_PEERS_MAX];
    size_t old_n = r->n;
    memcpy(old, r->prs, sizeof old);
    memset(r->prs, 0, sizeof r->prs);
    for (uint32_t i = 0; i < p->n; i++) {
        Progress *pr = &r->prs[i];
        pr->id = p->ids[i];
        pr->next = raft_last_index(r) + 1;
        pr->state = PR_PROBE;
        for (size_t j = 0; j < old_n; j++)
            if (old[j].id == pr->id) *pr = old[j];
    }
    r->n = p->n;
    r->conf = *p;
}

/* A CONF entry just entered the log: it is the configuration in force now. */
static void conf_adopt_entry(Raft *r, const RaftEntry *e) {
    if (e->type != RAFT_ENTRY_CONF) return;
    RaftPeers p;
    bool ok = raft_peers_decode(e->data, &p); /* checked by raft_msg_decode, raft_new, propose */
    g_assert(ok);
    set_conf(r, &p);
    r->conf_index = e->index;
}

/* The latest configuration in the log, else the snapshot's, else the bootstrap one. */
static void conf_from_log(Raft *r) {
    for (uint64_t k = raft_last_index(r); k > r->snap_index; k--) {
        const RaftEntry *e = entry(r, k);
        if (e->type == RAFT_ENTRY_CONF) {
            conf_adopt_entry(r, e);
            return;
        }
    }
    set_conf(r, r->snap_conf.n ? &r->snap_conf : &r->boot_conf);
    r->conf_index = 0;
}

/* The append handler (LAB(6)) stores entries as the paper has them, (term, command); their
 * type travels beside them. Mark the CONF ones it appended, in order: each takes effect. */
static void conf_after_append(Raft *r, const RaftMsg *m) {
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const RaftEntry *src = &m->entries[i];
        RaftEntry *e = entry(r, src->index);
        if (src->type == RAFT_ENTRY_NORMAL || e == NULL || e->term != src->term || e->type == src->type) continue;
        e->type = src->type;
        if (src->index > r->conf_index) conf_adopt_entry(r, e);
    }
}

/* The install handler (LAB(8)) replaced the log with m's snapshot: adopt its configuration. */
static void conf_after_snapshot(Raft *r, const RaftMsg *m) {
    if (r->snap_index != m->index || r->snap_term != m->log_term) return;
    if (m->peers.n > 0) r->snap_conf = m->peers;
    conf_from_log(r);
}

/* Commit what a majority holds; a leader that is no longer a voter leaves once its removal
 * committed, handing over to the voter that has everything. */
static void leader_commit(Raft *r) {
    maybe_commit(r);
    if (r->role != RAFT_LEADER || raft_is_member(r, r->cfg.id) || r->commit < r->conf_index) return;
    uint32_t best = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->prs[i].match == raft_last_index(r)) best = r->prs[i].id;
    become_follower(r, r->term, 0);
    if (best) emit(r, RAFT_MSG_TIMEOUT_NOW, best);
}

/* Only a leader that is not handing over takes proposals (entries or membership changes). */
static bool may_propose(Raft *r, GError **error) {
    if (r->role != RAFT_LEADER) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_NOT_LEADER, "not the leader (leader is %u)", r->leader);
        return false;
    }
    if (r->transfer_to != 0) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_TRANSFERRING, "leadership is being transferred");
        return false;
    }
    return true;
}

/* The leader appends an entry of its term, counts itself, sends it, and commits what it can
 * (a group of one commits at once). */
static void leader_append(Raft *r, GBytes *data, RaftEntryType type, uint64_t *index_out) {
    log_append_typed(r, r->term, data, type);
    self_match(r);
    if (index_out) *index_out = raft_last_index(r);
    broadcast_append(r, false);
    leader_commit(r);
}

gboolean raft_propose_conf(Raft *r, RaftConfChange op, uint32_t peer, uint64_t *index_out, GError **error) {
    if (!may_propose(r, error)) return FALSE;
    if (r->conf_index > r->commit || raft_term_at(r, r->commit) != r->term) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_CONF_PENDING,
                    r->conf_index > r->commit ? "a membership change is not committed yet"
                                              : "the leader has not committed an entry of its term yet");
        return FALSE;
    }
    RaftPeers next = r->conf;
    bool has = raft_peers_has(&next, peer);
    if (peer == 0 || (op == RAFT_CONF_ADD) == has || (op == RAFT_CONF_ADD && next.n == LIMIT_RAFT_PEERS_MAX) ||
        (op == RAFT_CONF_REMOVE && next.n == 1)) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER, "cannot %s %u (%u voters)",
                    op == RAFT_CONF_ADD ? "add" : "remove", peer, next.n);
        return FALSE;
    }
    if (op == RAFT_CONF_ADD) {
        next.ids[next.n++] = peer;
    } else {
        uint32_t k = 0;
        for (uint32_t i = 0; i < next.n; i++)
            if (next.ids[i] != peer) next.ids[k++] = next.ids[i];
        next.n = k;
    }
    g_autoptr(GBytes) data = raft_peers_encode(&next);
    leader_append(r, data, RAFT_ENTRY_CONF, index_out);
    return TRUE;
}

/* ---------------------------------------------------------------- proposals, transfer */

gboolean raft_propose(Raft *r, GBytes *data, uint64_t *index_out, GError **error) {
    if (!may_propose(r, error)) return FALSE;
    if (g_bytes_get_size(data) > LIMIT_RAFT_ENTRY_BYTES_MAX) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_TOO_LARGE, "proposal over the limit");
        return FALSE;
    }
    leader_append(r, data, RAFT_ENTRY_NORMAL, index_out);
    return TRUE;
}

gboolean raft_transfer_leadership(Raft *r, uint32_t to, GError **error) {
    if (r->role != RAFT_LEADER) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_NOT_LEADER, "not the leader");
        return FALSE;
    }
    Progress *pr = progress(r, to);
    if (pr == NULL || to == r->cfg.id) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER, "cannot transfer to %u", to);
        return FALSE;
    }
    /* Stop taking proposals so the target can catch up, then tell it to campaign at once. */
    r->transfer_to = to;
    r->transfer_elapsed = 0;
    if (pr->match == raft_last_index(r)) emit(r, RAFT_MSG_TIMEOUT_NOW, to);
    else send_append(r, pr, true);
    return TRUE;
}

/* ---------------------------------------------------------------- step, tick */

gboolean raft_step(Raft *r, const RaftMsg *m, GError **error) {
    /* Requests are taken from any server (thesis §4.1: a server added by an entry we have not
     * received yet may already lead, and must be able to bring us that entry); answers only
     * from voters of our configuration: nothing else was asked. */
    bool member = progress(r, m->from) != NULL;
    if (m->to != r->cfg.id || m->from == r->cfg.id || m->from == 0 || (!member && raft_msg_is_response(m->type))) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER, "message %u->%u is not for member %u of this group",
                    m->from, m->to, r->cfg.id);
        return FALSE;
    }
    if (m->type < RAFT_MSG_PRE_VOTE || m->type >= RAFT_MSG_TYPE_END || m->term == 0) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_MALFORMED, "bad message type or term");
        return FALSE;
    }
    /* 1. Reconcile terms (paper: "If RPC request or response contains term T > currentTerm:
     *    set currentTerm = T, convert to follower"), except for pre-votes, which change
     *    nothing, and granted pre-vote answers, which carry the term we only asked about. */
    if (m->term > r->term) {
        bool keep = m->type == RAFT_MSG_PRE_VOTE || (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject);
        if (!keep) {
            bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT;
            become_follower(r, m->term, from_leader ? m->from : 0);
        }
    } else if (m->term < r->term) {
        /* A stale sender. Tell requesters our term so they step down; ignore old answers. */
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT) {
            RaftMsg *resp = emit(r, RAFT_MSG_APPEND_RESP, m->from);
            resp->reject = true;
            resp->index = m->index;
        } else if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE) {
            RaftMsg *resp = emit(r, m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PRE_VOTE_RESP, m->from);
            resp->reject = true;
        }
        return TRUE;
    }
    /* 2. Dispatch. */
    switch (m->type) {
    case RAFT_MSG_PRE_VOTE:
    case RAFT_MSG_VOTE:
        if (r->damaged) { /* see DAMAGED LOGS below: no vote until repaired */
            RaftMsg *resp = emit(r, m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PRE_VOTE_RESP, m->from);
            resp->term = r->term;
            resp->reject = true;
            break;
        }
        handle_vote_request(r, m);
        break;
    case RAFT_MSG_PRE_VOTE_RESP:
        /* a yes carries the term we asked about; a no carries the voter's own term */
        if (r->role == RAFT_PRE_CANDIDATE && (m->term == r->term + 1 || (m->reject && m->term == r->term)))
            handle_vote_response(r, m);
        break;
    case RAFT_MSG_VOTE_RESP:
        if (r->role == RAFT_CANDIDATE) handle_vote_response(r, m);
        break;
    case RAFT_MSG_APPEND:
    case RAFT_MSG_SNAPSHOT:
        if (r->role == RAFT_LEADER) { /* two leaders in one term: only a forged message */
            g_set_error(error, RAFT_ERROR, RAFT_ERROR_MALFORMED, "append from %u while leading term %" G_GUINT64_FORMAT,
                        m->from, r->term);
            return FALSE;
        }
        /* "If AppendEntries RPC received from new leader: convert to follower" */
        if (r->role != RAFT_FOLLOWER) become_follower(r, r->term, m->from);
        r->leader = m->from;
        r->election_elapsed = 0;
        if (m->type == RAFT_MSG_SNAPSHOT) {
            handle_snapshot(r, m);
            conf_after_snapshot(r, m);
        } else {
            if (!handle_append(r, m, error)) return FALSE;
            conf_after_append(r, m);
        }
        /* DAMAGED LOGS (Jepsen NATS #7549). A member whose log recovery cut short inside
         * synced records may have lost entries it acknowledged, i.e. entries a majority
         * counted it for. If it voted with the shorter log, a candidate lacking those
         * entries could win with its vote, and committed entries would be overwritten. So
         * a damaged member neither votes nor campaigns (the others still form a majority
         * when only a minority is damaged) until a leader has brought it up to an entry the
         * leader committed in its own term: everything committed before that is then in
         * its log again (Leader Completeness), and it is a whole member once more. */
        if (r->damaged && r->commit >= m->commit && m->commit > 0 && raft_term_at(r, r->commit) == m->term) {
            r->damaged = false;
            /* A member that lost its hard state may have voted in this term before: take
             * the leader as its vote, so it can never grant a second one in this term (the
             * leader already holds a majority here, so this vote changes nothing else). */
            if (r->vote == 0) r->vote = m->from;
        }
        break;
    case RAFT_MSG_APPEND_RESP:
        if (r->role == RAFT_LEADER) handle_append_response(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        if (r->role != RAFT_LEADER) campaign(r, true);
        break;
    default:
        break;
    }
    return TRUE;
}

void raft_tick(Raft *r) {
    if (r->role != RAFT_LEADER) {
        if (++r->election_elapsed >= r->randomized_timeout) campaign(r, false);
        return;
    }
    if (r->transfer_to != 0 && ++r->transfer_elapsed >= r->cfg.election_ticks) r->transfer_to = 0; /* give up */
    for (size_t i = 0; i < r->n; i++) {
        Progress *pr = &r->prs[i];
        if (pr->state == PR_SNAPSHOT && ++pr->snapshot_ticks >= r->cfg.election_ticks) {
            pr->state = PR_PROBE; /* the snapshot or its answer was lost: try again */
            pr->next = pr->match + 1;
        }
    }
    if (++r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        broadcast_append(r, true);
    }
}

/* ---------------------------------------------------------------- life cycle */

Raft *raft_new(const RaftConfig *cfg, const RaftBoot *boot, GError **error) {
    g_assert(cfg->id >= 1 && cfg->n_peers >= 1 && cfg->n_peers <= LIMIT_RAFT_PEERS_MAX);
    g_assert(cfg->election_ticks > cfg->heartbeat_ticks && cfg->heartbeat_ticks >= 1);
    g_assert(cfg->random_u64 != NULL);
    Raft *r = g_malloc0(sizeof *r);
    r->cfg = *cfg;
    r->boot_conf.n = (uint32_t)cfg->n_peers;
    memcpy(r->boot_conf.ids, cfg->peers, sizeof(uint32_t) * cfg->n_peers);
    g_assert(raft_peers_valid(&r->boot_conf)); /* without cfg->id: joining (a voter once added) */
    r->cfg.peers = r->boot_conf.ids;
    r->log = g_array_new(FALSE, TRUE, sizeof(RaftEntry));
    g_array_set_clear_func(r->log, entry_clear);
    set_conf(r, &r->boot_conf);
    r->out = g_array_new(FALSE, TRUE, sizeof(RaftMsg));
    if (boot) {
        /* Check what the disk gave us: it is input, not a promise. */
        const char *why = NULL;
        if (boot->snapshot.index > 0 && (boot->snapshot.data == NULL || boot->snapshot.term == 0))
            why = "snapshot without data or term";
        uint64_t prev_term = boot->snapshot.term;
        for (size_t i = 0; i < boot->n_entries && !why; i++) {
            const RaftEntry *e = &boot->entries[i];
            if (e->index != boot->snapshot.index + 1 + i) why = "entries not consecutive after the snapshot";
            else if (e->term < prev_term) why = "entry terms decrease";
            else if (e->type >= RAFT_ENTRY_TYPE_END) why = "unknown entry type";
            RaftPeers p;
            if (!why && e->type == RAFT_ENTRY_CONF && !raft_peers_decode(e->data, &p)) why = "bad configuration entry";
            prev_term = e->term;
        }
        if (boot->snapshot.peers.n > 0 && !raft_peers_valid(&boot->snapshot.peers)) why = "bad snapshot configuration";
        if (why) {
            g_set_error(error, RAFT_ERROR, RAFT_ERROR_CORRUPT, "raft state rejected: %s", why);
            raft_free(r);
            return NULL;
        }
        r->snap_index = boot->snapshot.index;
        r->snap_term = boot->snapshot.term;
        r->snap_data = boot->snapshot.data ? g_bytes_ref(boot->snapshot.data) : NULL;
        r->snap_conf = boot->snapshot.peers;
        for (size_t i = 0; i < boot->n_entries; i++) {
            log_append(r, boot->entries[i].term, boot->entries[i].data);
            entry(r, raft_last_index(r))->type = boot->entries[i].type;
        }
        conf_from_log(r);
        r->term = boot->hs.term;
        r->vote = boot->hs.vote;
        if (last_term(r) > r->term) { /* entries made durable before the term was: adopt it */
            r->term = last_term(r);
            r->vote = 0;
        }
        r->commit = MAX(boot->hs.commit, r->snap_index);
        if (r->commit > raft_last_index(r)) r->commit = raft_last_index(r);
    }
    r->applied = r->snap_index;
    r->unstable_from = raft_last_index(r) + 1;
    r->saved_hs = hard_state(r);
    r->role = RAFT_FOLLOWER;
    /* alone, there is nobody to repair it (a member joining, not in its configuration, has) */
    r->damaged = boot != NULL && (boot->damaged || boot->state_lost) && (r->n > 1 || !raft_is_member(r, r->cfg.id));
    reset_election_timer(r);
    return r;
}

void raft_free(Raft *r) {
    if (r == NULL) return;
    g_array_free(r->log, TRUE);
    for (guint i = 0; i < r->out->len; i++) raft_msg_clear(&g_array_index(r->out, RaftMsg, i));
    g_array_free(r->out, TRUE);
    if (r->snap_data) g_bytes_unref(r->snap_data);
    g_free(r);
}

/* ---------------------------------------------------------------- introspection */

uint32_t raft_id(const Raft *r) { return r->cfg.id; }
RaftRole raft_role(const Raft *r) { return r->role; }
uint64_t raft_term(const Raft *r) { return r->term; }
uint32_t raft_vote(const Raft *r) { return r->vote; }
uint32_t raft_leader(const Raft *r) { return r->leader; }
uint64_t raft_commit(const Raft *r) { return r->commit; }
uint64_t raft_applied(const Raft *r) { return r->applied; }
uint64_t raft_snapshot_index(const Raft *r) { return r->snap_index; }
uint64_t raft_conf_index(const Raft *r) { return r->conf_index; }

const uint32_t *raft_peers(const Raft *r, size_t *n) {
    *n = r->conf.n;
    return r->conf.ids;
}

bool raft_conf_at(const Raft *r, uint64_t index, RaftPeers *out) {
    if (index < r->snap_index || index > raft_last_index(r)) return false;
    for (uint64_t k = index; k > r->snap_index; k--) {
        const RaftEntry *e = entry(r, k);
        if (e->type == RAFT_ENTRY_CONF) return raft_peers_decode(e->data, out);
    }
    *out = r->snap_conf.n ? r->snap_conf : r->boot_conf;
    return true;
}

bool raft_damaged(const Raft *r) { return r->damaged; }
uint32_t raft_transfer_target(const Raft *r) { return r->role == RAFT_LEADER ? r->transfer_to : 0; }

uint64_t raft_match_of(const Raft *r, uint32_t peer) {
    Progress *pr = progress((Raft *)r, peer);
    return pr && r->role == RAFT_LEADER ? pr->match : 0;
}

uint64_t raft_next_of(const Raft *r, uint32_t peer) {
    Progress *pr = progress((Raft *)r, peer);
    return pr && r->role == RAFT_LEADER ? pr->next : 0;
}

const char *raft_role_name(RaftRole role) {
    static const char *names[] = {"follower", "pre-candidate", "candidate", "leader"};
    return names[role];
}

void raft_check_invariants(const Raft *r) {
    uint64_t last = raft_last_index(r);
    g_assert_cmpuint(r->snap_index, <=, r->commit);
    g_assert_cmpuint(r->commit, <=, last);
    g_assert_cmpuint(r->applied, <=, r->commit);
    g_assert(r->snap_index == 0 || r->snap_data != NULL);
    if (r->log->len > 0) {
        const RaftEntry *first = &g_array_index(r->log, RaftEntry, 0);
        g_assert_cmpuint(first->index, ==, r->snap_index + 1);
        g_assert_cmpuint(first->term, >=, r->snap_term);
        g_assert_cmpuint(last_term(r), <=, r->term);
    }
    g_assert((r->leader == r->cfg.id) == (r->role == RAFT_LEADER));
    g_assert(raft_peers_valid(&r->conf) && r->n == r->conf.n);
    for (size_t i = 0; i < r->n; i++) g_assert_cmpuint(r->prs[i].id, ==, r->conf.ids[i]);
    g_assert(r->conf_index == 0 || (r->conf_index > r->snap_index && entry(r, r->conf_index)->type == RAFT_ENTRY_CONF));
    if (r->role == RAFT_LEADER) {
        const Progress *me = progress((Raft *)r, r->cfg.id);
        g_assert(me == NULL || me->match == last);
        for (size_t i = 0; i < r->n; i++) {
            g_assert_cmpuint(r->prs[i].match, <=, last);
            if (r->prs[i].id != r->cfg.id) g_assert_cmpuint(r->prs[i].match, <, r->prs[i].next);
        }
    }
}
