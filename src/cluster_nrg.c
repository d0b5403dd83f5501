/* cluster_nrg.c — a Raft group driven by the broker: env timers, raft_log, internal messages.
 * See cluster_nrg.h for the interface. Book chapter: book/11-clustering.md.
 *
 * WHY DEFER EVERYTHING TO ONE TIMER
 *   A message arrives inside the server's delivery of some publish; answering it right there
 *   would (a) publish from inside a publish, possibly back into another group's handler,
 *   and (b) cost one fsync per message. Instead the handler only steps the state machine
 *   (pure, cheap) and arms a zero-delay timer; when it fires, after the turn's I/O, one
 *   raft_log_save covers everything the turn brought, and only then do the answers leave.
 *   Proposals work the same way, so a burst of publishes to a stream becomes one append,
 *   one fsync and one AppendEntries per follower.
 *
 * A LEADER SENDS BEFORE IT SYNCS
 *   The Ready contract (raft.h) says: make the batch durable, then send its messages, and
 *   for a follower's answer or a vote that order is the whole point. A leader's appends
 *   promise nothing about its own disk, though: what makes an entry committed is that a
 *   quorum has it durable, and the leader is one member of that quorum like any other
 *   (Ongaro's thesis, 10.2.1: the leader may write its log in parallel with replicating
 *   it). So when the batch is a leader's and changes no term or vote, its messages go out
 *   first, are handed to the kernel at once (env_flush_now), and the leader fsyncs its own
 *   log while the followers receive, write and fsync theirs: the two disk round trips of a
 *   replicated publish overlap instead of following each other.
 *   Why it is still safe: raft.c counts the leader's own entries in the commit quorum as
 *   soon as they are appended (match[self]), so the leader must not step any answer before
 *   its own fsync is done. It cannot: raft_log_save runs here, synchronously, before work()
 *   returns, and answers are stepped only by on_msg in a later loop turn. If the fsync fails
 *   the member stops (failed) and never applies or acknowledges anything; if the power goes
 *   first, the followers may hold an entry the leader lost, which is an uncommitted entry
 *   Raft already handles (a new leader commits it or overwrites it). Nothing else changes:
 *   a follower still answers only after its fsync (the broken variant js-append-before-fsync
 *   does not, and the checkers catch it).
 *
 * LIVENESS AND PROGRESS OF PEERS
 *   "active" (stream info's replicas[].active) is the time since any message from that peer
 *   was stepped. "current" must mean more than "its Raft log matches ours": a follower's
 *   owner may be far behind its log. A replica catching up its store from a peer is held
 *   (nrg_hold): its log is complete, acknowledged and matched, and its store is not. So
 *   every APPEND_RESP a member sends carries, in the otherwise unused commit field, its
 *   APPLIED index: how far its owner's state is whole (0 while held or failed). It is the
 *   index before this batch's applies (answers leave before apply_committed), so it trails
 *   the commit index it follows by one heartbeat at most. The leader keeps the latest per
 *   peer and says "current" when: the peer's log matches through our last index, it was
 *   active within LIMIT_CLUSTER_CURRENT_NS, and it has applied everything we had committed
 *   LIMIT_CLUSTER_APPLIED_TICKS ticks ago (commit_ago, sampled every tick). Once nothing
 *   is being written, that is everything committed: "current" then means its store has
 *   every message, which is what a client reading from that replica expects. Under a steady
 *   load a healthy follower stays current: its applied index is a few milliseconds old,
 *   the sample it is compared with is older.
 */
#include "cluster_nrg.h"

#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "limits.h"
#include "raft.h"
#include "raft_log.h"

struct Nrg {
    Server *srv;
    Env *env;
    char *group;
    char *dir;
    Raft *r;
    RaftLog *log;
    uint32_t self;
    uint32_t *peers;
    size_t n_peers;
    int64_t *heard_ns;        /* per peer (index as in peers): last message from it */
    uint64_t *peer_applied;   /* per peer: the applied index its last APPEND_RESP carried */
    uint64_t commit_ago[LIMIT_CLUSTER_APPLIED_TICKS]; /* commit index sampled each tick, newest first */
    NrgCallbacks cb;
    void *ctx;
    ServerInternalSub *sub;
    EnvTimer tick_timer, work_timer, sync_timer;
    int64_t sync_interval_ns; /* NrgConfig.sync_interval_ns */
    unsigned bug;             /* NrgBug */
    NrgObserveFn observe;     /* NrgConfig.observe */
    void *observe_ctx;
    bool damaged;             /* last seen raft_damaged(), for the log line when repaired */
    uint64_t lead_index;      /* leader: the index of its term's first entry (the no-op) */
    int64_t lead_ns;          /* leader: when it became leader (nrg_peer_info's offline) */
    RaftRole last_role;
    uint32_t last_leader;
    bool last_ready;
    bool last_handing_over;
    bool failed;              /* the disk refused a save: this member stops speaking */
    uint64_t saved_term;      /* the term and vote last written (see work) */
    uint32_t saved_vote;
    uint64_t applied;         /* the owner has applied through this index */
    uint64_t boot_last;       /* nrg_boot_last */
    bool held;                /* nrg_hold: applies wait */
    bool campaign;            /* nrg_campaign: waiting for a majority to be reachable */
    GBytes *boot_snapshot;    /* this member's own snapshot, for the owner's first restore */
    uint64_t snapshot_entries, snapshot_bytes;
};

uint32_t nrg_peer_id(const char *server_name) {
    uint32_t h = crc32c(server_name, strlen(server_name));
    return h != 0 ? h : 1;
}

const char *nrg_peer_hex(uint32_t id, char buf[9]) {
    snprintf(buf, 9, "%08x", id);
    return buf;
}

static int peer_index(const Nrg *n, uint32_t id) {
    for (size_t i = 0; i < n->n_peers; i++)
        if (n->peers[i] == id) return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ the Ready loop */

static void send_msg(Nrg *n, const RaftMsg *m) {
    RaftMsg c = *m; /* a shallow copy: only encoded */
    if (c.type == RAFT_MSG_APPEND_RESP) c.commit = n->held || n->failed ? 0 : n->applied; /* PROGRESS OF PEERS */
    g_autoptr(GBytes) enc = raft_msg_encode(&c);
    char hex[9];
    g_autofree char *subject = g_strdup_printf("$NRG.%s.%s", n->group, nrg_peer_hex(m->to, hex));
    gsize len;
    const void *p = g_bytes_get_data(enc, &len);
    server_publish(n->srv, subject, NULL, NULL, 0, p, len);
}

static void note_state(Nrg *n) {
    RaftRole role = raft_role(n->r);
    if (n->damaged && !raft_damaged(n->r)) {
        n->damaged = false;
        env_log(n->env, ENV_LOG_INFO, "raft group %s: damaged log repaired by the leader: this member votes again",
                n->group);
    }
    if (role == RAFT_LEADER && n->last_role != RAFT_LEADER) {
        n->lead_index = raft_last_index(n->r);
        n->lead_ns = env_now_ns(n->env);
        /* A group of one commits on a proposal, not on its election's no-op: make one (an
         * empty entry, which apply skips) so the new leader sees its no-op committed. */
        size_t nv;
        raft_peers(n->r, &nv);
        if (nv == 1) {
            g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
            raft_propose(n->r, empty, NULL, NULL);
        }
    }
    bool ready = nrg_ready(n), handing_over = nrg_handing_over(n);
    uint32_t leader = nrg_leader(n);
    if (role != n->last_role || leader != n->last_leader || ready != n->last_ready ||
        handing_over != n->last_handing_over) {
        if (leader != n->last_leader && leader != 0) {
            char hex[9];
            env_log(n->env, ENV_LOG_INFO, "raft group %s: term %" G_GUINT64_FORMAT " leader %s%s", n->group,
                    raft_term(n->r), nrg_peer_hex(leader, hex), leader == n->self ? " (this server)" : "");
        }
        n->last_role = role;
        n->last_leader = leader;
        n->last_ready = ready;
        n->last_handing_over = handing_over;
        if (n->cb.state != NULL) n->cb.state(n->ctx);
    }
}

/* Apply what Raft has handed out and the owner has not seen: entries stay in Raft's memory
 * until compacted, and compaction never passes n->applied. */
static void apply_committed(Nrg *n) {
    if (n->boot_snapshot != NULL) { /* the first pass: the owner starts from our snapshot */
        g_autoptr(GBytes) snap = g_steal_pointer(&n->boot_snapshot);
        gsize len;
        const uint8_t *p = g_bytes_get_data(snap, &len);
        if (n->cb.restore != NULL) n->cb.restore(n->ctx, p, len);
    }
    /* a leader's snapshot stepped in but not taken yet (its Ready restores it): wait for it */
    while (!n->held && !n->failed && n->applied < raft_applied(n->r) && n->applied >= raft_snapshot_index(n->r)) {
        const RaftEntry *e = raft_entry_at(n->r, n->applied + 1);
        g_assert(e != NULL);
        n->applied++;
        gsize len;
        const uint8_t *p = g_bytes_get_data(e->data, &len);
        if (e->type == RAFT_ENTRY_NORMAL && len > 0 && n->cb.apply != NULL) n->cb.apply(n->ctx, e->index, p, len);
        if (e->type == RAFT_ENTRY_CONF && n->cb.conf != NULL) n->cb.conf(n->ctx);
    }
}

/* Enough applied past the last snapshot (or a large log): compact (see SNAPSHOTS). */
static void maybe_compact(Nrg *n) {
    if (n->held || n->failed || n->cb.snapshot == NULL) return;
    uint64_t since = n->applied - MIN(n->applied, raft_snapshot_index(n->r));
    if (since == 0 || (since < n->snapshot_entries && raft_log_state_bytes(n->log) < n->snapshot_bytes)) return;
    /* All of it runs on the event loop: the owner's snapshot, the snapshot file's write and
     * fsync, the log's rewrite and fsync. Its cost is logged (debug) so it can be measured. */
    int64_t t0 = env_now_ns(n->env);
    g_autoptr(GBytes) data = n->cb.snapshot(n->ctx);
    g_autoptr(GError) err = NULL;
    if (data != NULL && !raft_compact(n->r, n->applied, data, &err)) {
        env_log(n->env, ENV_LOG_WARN, "raft group %s: no snapshot at %" G_GUINT64_FORMAT ": %s", n->group, n->applied,
                err->message);
        return;
    }
    if (data != NULL)
        env_log(n->env, ENV_LOG_DEBUG, "raft group %s: snapshot at %" G_GUINT64_FORMAT " (%zu bytes), log compacted: %.1f ms",
                n->group, n->applied, g_bytes_get_size(data), (double)(env_now_ns(n->env) - t0) / 1e6);
}

static void work(void *arg) {
    Nrg *n = arg;
    n->work_timer = 0;
    if (n->failed) return;
    apply_committed(n); /* the boot snapshot; what waited while held */
    note_state(n); /* a role change without a Ready (rare): still tell the owner */
    while (raft_has_ready(n->r)) {
        RaftReady rd;
        raft_ready_take(n->r, &rd);
        if (n->observe != NULL) n->observe(n->observe_ctx, n, n->r, &rd, NRG_OBS_TAKEN);
        /* Commit is volatile state in Raft (the paper's Figure 2): a restarted member learns
         * it again from the leader. So a hard state whose term and vote did not change is
         * not written: that saves one fsync on every commit, a third of a replicated
         * publish's latency. The commit index reaches the disk with the next term or vote. */
        if (rd.has_hard_state && rd.hs.term == n->saved_term && rd.hs.vote == n->saved_vote)
            rd.has_hard_state = false;
        if (rd.has_hard_state) {
            n->saved_term = rd.hs.term;
            n->saved_vote = rd.hs.vote;
        }
        g_autoptr(GError) err = NULL;
        raft_log_set_lazy(n->log, n->sync_interval_ns != 0 ||
                                      ((n->bug & NRG_BUG_APPEND_BEFORE_FSYNC) && raft_role(n->r) != RAFT_LEADER));
        /* A LEADER SENDS BEFORE IT SYNCS (above): no term or vote to persist, nothing in
         * these messages depends on this member's disk */
        bool early = raft_role(n->r) == RAFT_LEADER && !rd.has_hard_state && !rd.has_snapshot && rd.n_msgs > 0;
        if (early) {
            for (size_t i = 0; i < rd.n_msgs; i++) send_msg(n, &rd.msgs[i]);
            env_flush_now(n->env);
        }
        if ((rd.has_hard_state || rd.has_snapshot || rd.n_entries > 0) && !raft_log_save(n->log, &rd, &err)) {
            /* Without the disk this member must not promise anything: go silent. The others
             * carry on (a majority is enough) and an operator restarts this one. */
            env_log(n->env, ENV_LOG_ERROR, "raft group %s: cannot persist, member stops: %s", n->group,
                    err->message);
            n->failed = true;
            raft_ready_clear(&rd);
            return;
        }
        for (size_t i = 0; i < rd.n_msgs && !early; i++) send_msg(n, &rd.msgs[i]);
        if (rd.has_snapshot && rd.install_snapshot) { /* a leader's: the owner's state is replaced */
            g_clear_pointer(&n->boot_snapshot, g_bytes_unref);
            n->applied = rd.snapshot.index;
            gsize len;
            const uint8_t *p = g_bytes_get_data(rd.snapshot.data, &len);
            env_log(n->env, ENV_LOG_INFO, "raft group %s: installing the leader's snapshot at %" G_GUINT64_FORMAT,
                    n->group, rd.snapshot.index);
            if (n->cb.restore != NULL) n->cb.restore(n->ctx, p, len);
        }
        /* the replicated contract: nothing is applied, so no replicated PubAck is sent,
         * above the commit index (entries a majority holds on disk) */
        for (size_t i = 0; i < rd.n_committed; i++) g_assert_cmpuint(rd.committed[i].index, <=, raft_commit(n->r));
        apply_committed(n);
        if (n->observe != NULL) n->observe(n->observe_ctx, n, n->r, &rd, NRG_OBS_DONE);
        raft_ready_clear(&rd);
        maybe_compact(n);
        note_state(n);
    }
}

static void want_work(Nrg *n) {
    if (n->work_timer == 0 && !n->failed) n->work_timer = env_timer_add(n->env, 0, work, n);
}

/* A lazy policy's fsync, every sync_interval_ns. */
static void sync_tick(void *arg) {
    Nrg *n = arg;
    n->sync_timer = env_timer_add(n->env, n->sync_interval_ns, sync_tick, n);
    g_autoptr(GError) err = NULL;
    if (!n->failed && raft_log_dirty(n->log) && !raft_log_sync(n->log, &err)) {
        env_log(n->env, ENV_LOG_ERROR, "raft group %s: cannot fsync, member stops: %s", n->group, err->message);
        n->failed = true;
    }
}

static void maybe_campaign(Nrg *n);

static void tick(void *arg) {
    Nrg *n = arg;
    maybe_campaign(n);
    n->tick_timer = env_timer_add(n->env, LIMIT_CLUSTER_TICK_NS, tick, n);
    memmove(n->commit_ago + 1, n->commit_ago, sizeof n->commit_ago - sizeof n->commit_ago[0]);
    n->commit_ago[0] = raft_commit(n->r);
    raft_tick(n->r);
    want_work(n);
}

static void on_msg(void *ctx, const ServerMsg *m) {
    Nrg *n = ctx;
    RaftMsg msg;
    g_autoptr(GError) err = NULL;
    if (!raft_msg_decode(m->payload, m->payload_len, &msg, &err)) {
        env_log(n->env, ENV_LOG_WARN, "raft group %s: dropped a malformed message: %s", n->group, err->message);
        return;
    }
    int i = peer_index(n, msg.from);
    if (i >= 0) n->heard_ns[i] = env_now_ns(n->env);
    if (i >= 0 && msg.type == RAFT_MSG_APPEND_RESP && !msg.reject) n->peer_applied[i] = msg.commit;
    if (!raft_step(n->r, &msg, &err))
        env_log(n->env, ENV_LOG_DEBUG, "raft group %s: message refused: %s", n->group, err->message);
    raft_msg_clear(&msg);
    want_work(n);
}

/* ------------------------------------------------------------------ life cycle */

static uint64_t rng(void *ctx) { return env_random_u64(ctx); }

Nrg *nrg_new(Server *srv, const NrgConfig *cfg, const NrgCallbacks *cb, void *ctx, GError **error) {
    Env *env = server_env(srv);
    RaftBoot boot = {0};
    RaftLog *log = raft_log_open(env, cfg->dir, &boot, error);
    if (log == NULL) return NULL;
    /* Under a lazy policy a power cut legitimately leaves holes in the unsynced tail, which
     * look like damage; losing them is that policy's documented price, so do not also stop
     * voting (a cluster-wide power cut would leave nobody to vote). */
    if (boot.damaged && (cfg->sync_interval_ns != 0 || (cfg->bug & NRG_BUG_VOTE_TRUNCATED))) {
        env_log(env, ENV_LOG_WARN, "raft group %s: votes with its damaged log (%s)", cfg->group,
                cfg->sync_interval_ns != 0 ? "lazy sync policy" : "broken on purpose");
        boot.damaged = false;
    }
    /* Under a lazy policy the cluster may have lost entries this member once saw committed
     * (a power cut of a majority): its saved commit index can point past what any leader
     * still has, and a follower never truncates below its commit index, so it would refuse
     * the new leader's log for good (found by jepsen-6888 --sync 2m: a replica stuck behind
     * forever). Commit is volatile in Raft anyway: relearn it from the leader. */
    if (cfg->sync_interval_ns != 0) boot.hs.commit = 0;
    const uint32_t *bp = cfg->boot_peers != NULL ? cfg->boot_peers : cfg->peers;
    size_t bn = cfg->boot_peers != NULL ? cfg->n_boot_peers : cfg->n_peers, k = 0;
    uint32_t others[LIMIT_RAFT_PEERS_MAX];
    bool first = false;
    for (size_t i = 0; i < bn; i++) first |= bp[i] == cfg->self;
    if (cfg->joining && boot.n_entries == 0 && boot.snapshot.index == 0 && first && bn > 1) {
        /* one of the group's first members without its files: one that left and was added
         * again, or one that learned of the group from a meta snapshot instead of its entry.
         * Its first configuration is the group's, as every member's is (without itself, its
         * view would differ from the others' by two voters when the leader's next change
         * arrives), but no vote and no campaign until a leader has reached it: see below. */
        boot.state_lost = true;
    } else if (cfg->joining && boot.n_entries == 0 && boot.snapshot.index == 0) { /* NrgConfig.joining */
        for (size_t i = 0; i < bn && k < LIMIT_RAFT_PEERS_MAX; i++)
            if (bp[i] != cfg->self) others[k++] = bp[i];
        for (size_t i = 0; i < cfg->n_peers && k == 0; i++) /* it was the group's only first peer */
            if (cfg->peers[i] != cfg->self) others[k++] = cfg->peers[i];
        if (k > 0) {
            bp = others, bn = k;
            /* and no vote until a leader has reached it: a server added again after its files
             * were deleted has forgotten the terms it voted in (the hard state Raft must never
             * lose), and a stale member still counting it could win with its vote */
            boot.state_lost = true;
        }
    }
    bool damaged = boot.damaged || boot.state_lost;
    GBytes *boot_snapshot = boot.snapshot.index > 0 ? g_bytes_ref(boot.snapshot.data) : NULL;
    RaftConfig rc = {
        .id = cfg->self,
        .peers = bp,
        .n_peers = bn,
        .election_ticks = LIMIT_CLUSTER_ELECTION_TICKS,
        .heartbeat_ticks = LIMIT_CLUSTER_HEARTBEAT_TICKS,
        .pre_vote = true,
        .random_u64 = rng,
        .random_ctx = env,
    };
    Raft *r = raft_new(&rc, &boot, error);
    raft_boot_clear(&boot);
    if (r == NULL) {
        if (boot_snapshot != NULL) g_bytes_unref(boot_snapshot);
        raft_log_close(log);
        return NULL;
    }
    Nrg *n = g_new0(Nrg, 1);
    n->srv = srv;
    n->env = env;
    n->group = g_strdup(cfg->group);
    n->dir = g_strdup(cfg->dir);
    n->r = r;
    n->log = log;
    n->self = cfg->self;
    n->peers = g_memdup2(cfg->peers, cfg->n_peers * sizeof(uint32_t));
    n->n_peers = cfg->n_peers;
    n->heard_ns = g_new0(int64_t, cfg->n_peers);
    n->peer_applied = g_new0(uint64_t, cfg->n_peers);
    n->cb = *cb;
    n->ctx = ctx;
    n->last_role = raft_role(r);
    n->damaged = damaged;
    n->sync_interval_ns = cfg->sync_interval_ns;
    n->bug = cfg->bug;
    n->observe = cfg->observe;
    n->observe_ctx = cfg->observe_ctx;
    if (n->observe != NULL) n->observe(n->observe_ctx, n, r, NULL, NRG_OBS_OPEN);
    if (n->sync_interval_ns > 0) n->sync_timer = env_timer_add(env, n->sync_interval_ns, sync_tick, n);
    n->saved_term = raft_term(r);
    n->saved_vote = raft_vote(r);
    n->applied = raft_applied(r); /* the snapshot's index: the owner restores it first */
    n->boot_last = raft_last_index(r);
    n->boot_snapshot = boot_snapshot;
    n->snapshot_entries = cfg->snapshot_entries > 0 ? cfg->snapshot_entries : LIMIT_CLUSTER_SNAPSHOT_ENTRIES;
    n->snapshot_bytes = cfg->snapshot_bytes > 0 ? cfg->snapshot_bytes : (uint64_t)LIMIT_CLUSTER_SNAPSHOT_BYTES;
    char hex[9];
    g_autofree char *subject = g_strdup_printf("$NRG.%s.%s", n->group, nrg_peer_hex(n->self, hex));
    n->sub = server_subscribe_internal(srv, subject, NULL, on_msg, n);
    n->tick_timer = env_timer_add(env, LIMIT_CLUSTER_TICK_NS, tick, n);
    want_work(n); /* committed entries from the disk are applied after this returns */
    return n;
}

void nrg_free(Nrg *n) {
    if (n == NULL) return;
    server_unsubscribe_internal(n->srv, n->sub);
    env_timer_cancel(n->env, n->tick_timer);
    env_timer_cancel(n->env, n->work_timer);
    env_timer_cancel(n->env, n->sync_timer);
    raft_free(n->r);
    raft_log_close(n->log);
    if (n->boot_snapshot != NULL) g_bytes_unref(n->boot_snapshot);
    g_free(n->peers);
    g_free(n->heard_ns);
    g_free(n->peer_applied);
    g_free(n->group);
    g_free(n->dir);
    g_free(n);
}

void nrg_destroy(Nrg *n) {
    if (n == NULL) return;
    Env *env = n->env;
    g_autofree char *dir = g_strdup(n->dir);
    nrg_free(n);
    static const char *const files[] = {"raft.log", "raft.log.tmp", "raft.state", "raft.snap", "raft.snap.tmp",
                                        "raft.snap.corrupt"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = g_build_filename(dir, files[i], NULL);
        if (env_path_exists(env, p)) env_path_remove(env, p, NULL);
    }
    env_path_remove(env, dir, NULL);
}

/* ------------------------------------------------------------------ operations */

gboolean nrg_propose(Nrg *n, const void *data, size_t len, GError **error) {
    if (n->failed) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_NOT_LEADER, "raft group %s: member stopped", n->group);
        return FALSE;
    }
    g_autoptr(GBytes) b = g_bytes_new(data, len);
    uint64_t index;
    if (!raft_propose(n->r, b, &index, error)) return FALSE;
    want_work(n);
    return TRUE;
}

/* A CAMPAIGN THAT WAITS FOR ITS VOTERS
 *   A new group's preferred peer campaigns without waiting for an election timeout. But its
 *   vote requests reach only the peers that have opened the group: until a peer's internal
 *   subscription to $NRG.<group>.<id> exists and its route has announced it, a message to it
 *   goes nowhere. A peer that applies the meta entry one heartbeat after the preferred one
 *   (or forms the meta group a moment later) would miss the request, and the group would
 *   wait out an election timeout for a second try. So the campaign starts once the voters
 *   this server can reach, itself included, are a majority: checked now and on every tick,
 *   given up when someone else leads or campaigns first (the election timeout still runs
 *   and elects someone if this never happens). Interest is the only evidence: a client
 *   subscribed to ">" makes every peer look reachable, and the campaign starts at once, as
 *   it used to. */
static void maybe_campaign(Nrg *n) {
    if (!n->campaign) return;
    if (raft_leader(n->r) != 0 || raft_role(n->r) != RAFT_FOLLOWER) {
        n->campaign = false;
        return;
    }
    size_t nv, reach = 0;
    const uint32_t *v = raft_peers(n->r, &nv);
    for (size_t i = 0; i < nv; i++) {
        char hex[9];
        g_autofree char *inbox = g_strdup_printf("$NRG.%s.%s", n->group, nrg_peer_hex(v[i], hex));
        reach += v[i] == n->self || server_has_interest(n->srv, inbox);
    }
    if (reach < nv / 2 + 1) return;
    n->campaign = false;
    raft_campaign(n->r);
    want_work(n);
}

void nrg_campaign(Nrg *n) {
    n->campaign = true;
    maybe_campaign(n);
}

gboolean nrg_stepdown(Nrg *n, GError **error) {
    if (raft_role(n->r) != RAFT_LEADER) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_NOT_LEADER, "not leader");
        return FALSE;
    }
    uint32_t best = 0;
    uint64_t best_match = 0;
    int64_t now = env_now_ns(n->env);
    for (size_t i = 0; i < n->n_peers; i++) {
        if (n->peers[i] == n->self || now - n->heard_ns[i] > LIMIT_CLUSTER_CURRENT_NS) continue;
        uint64_t m = raft_match_of(n->r, n->peers[i]);
        if (best == 0 || m > best_match) {
            best = n->peers[i];
            best_match = m;
        }
    }
    if (best == 0) {
        g_set_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER, "no replicas to transfer leadership to");
        return FALSE;
    }
    if (!raft_transfer_leadership(n->r, best, error)) return FALSE;
    want_work(n);
    return TRUE;
}

gboolean nrg_change_peer(Nrg *n, bool add, uint32_t peer, GError **error) {
    if (!raft_propose_conf(n->r, add ? RAFT_CONF_ADD : RAFT_CONF_REMOVE, peer, NULL, error)) return FALSE;
    want_work(n);
    return TRUE;
}

const uint32_t *nrg_voters(const Nrg *n, size_t *count) { return raft_peers(n->r, count); }

void nrg_set_peers(Nrg *n, const uint32_t *peers, size_t count) {
    int64_t *heard = g_new0(int64_t, count);
    uint64_t *applied = g_new0(uint64_t, count);
    for (size_t i = 0; i < count; i++) {
        int j = peer_index(n, peers[i]);
        if (j >= 0) heard[i] = n->heard_ns[j], applied[i] = n->peer_applied[j];
    }
    g_free(n->heard_ns);
    g_free(n->peer_applied);
    n->peer_applied = applied;
    g_free(n->peers);
    n->heard_ns = heard;
    n->peers = g_memdup2(peers, count * sizeof(uint32_t));
    n->n_peers = count;
    want_work(n);
}

bool nrg_heard(const Nrg *n, uint32_t peer, int64_t within) {
    int i = peer_index(n, peer);
    return peer == n->self || (i >= 0 && n->heard_ns[i] > 0 && env_now_ns(n->env) - n->heard_ns[i] <= within);
}

/* A leader that has not heard from a majority lately may already be deposed: it must not
 * answer as leader (raft.c has no check-quorum step-down; this is its read-side half). The
 * majority is of the voters in force, not of the members tracked: while a group grows or
 * shrinks (jscluster.c, SCALING) the two differ, and only the voters decide. */
static bool has_quorum(const Nrg *n) {
    size_t nv, heard = 0;
    const uint32_t *v = raft_peers(n->r, &nv);
    RaftPeers committed; /* during a change, the last committed configuration: a voter just
                            added has not answered yet, and the leader was not deposed by it */
    if (raft_conf_index(n->r) > raft_commit(n->r) && raft_conf_at(n->r, raft_commit(n->r), &committed)) {
        v = committed.ids;
        nv = committed.n;
    }
    for (size_t k = 0; k < nv; k++) heard += nrg_heard(n, v[k], LIMIT_CLUSTER_CURRENT_NS);
    return heard > nv / 2;
}

uint64_t nrg_conf_index(const Nrg *n) { return raft_conf_index(n->r); }

bool nrg_voter_removed(const Nrg *n, uint32_t peer) {
    return raft_role(n->r) == RAFT_LEADER && raft_conf_index(n->r) <= raft_commit(n->r) && !raft_is_member(n->r, peer);
}

bool nrg_is_leader(const Nrg *n) { return raft_role(n->r) == RAFT_LEADER; }
bool nrg_handing_over(const Nrg *n) { return raft_transfer_target(n->r) != 0; }
bool nrg_ready(const Nrg *n) {
    return raft_role(n->r) == RAFT_LEADER && !n->held && n->lead_index > 0 && n->applied >= n->lead_index &&
           has_quorum(n);
}
uint32_t nrg_leader(const Nrg *n) {
    uint32_t l = raft_leader(n->r);
    return l == n->self && !has_quorum(n) ? 0 : l;
}
uint32_t nrg_self(const Nrg *n) { return n->self; }
uint64_t nrg_term(const Nrg *n) { return raft_term(n->r); }
bool nrg_pending(const Nrg *n) { return n->work_timer != 0; }
uint64_t nrg_applied(const Nrg *n) { return n->applied; }
uint64_t nrg_boot_last(const Nrg *n) { return n->boot_last; }
bool nrg_held(const Nrg *n) { return n->held; }
uint64_t nrg_snapshot_index(const Nrg *n) { return raft_snapshot_index(n->r); }
uint64_t nrg_log_entries(const Nrg *n) { return raft_last_index(n->r) - raft_snapshot_index(n->r); }
uint64_t nrg_log_bytes(const Nrg *n) { return raft_log_state_bytes(n->log); }

void nrg_hold(Nrg *n) {
    if (n->held) return;
    n->held = true;
    raft_hold_campaign(n->r, true);
    if (raft_role(n->r) == RAFT_LEADER) nrg_stepdown(n, NULL); /* it cannot serve: let another lead */
    want_work(n);
}

void nrg_release(Nrg *n) {
    if (!n->held) return;
    n->held = false;
    raft_hold_campaign(n->r, false);
    want_work(n);
}
const char *nrg_group(const Nrg *n) { return n->group; }

const uint32_t *nrg_peers(const Nrg *n, size_t *count) {
    *count = n->n_peers;
    return n->peers;
}

void nrg_peer_info(const Nrg *n, uint32_t peer, NrgPeerInfo *out) {
    memset(out, 0, sizeof *out);
    int i = peer_index(n, peer);
    if (i < 0) return;
    if (peer == n->self) {
        out->current = true;
        return;
    }
    int64_t now = env_now_ns(n->env);
    out->active_ns = n->heard_ns[i] > 0 ? now - n->heard_ns[i] : now;
    out->offline = out->active_ns > LIMIT_CLUSTER_CURRENT_NS;
    if (raft_role(n->r) == RAFT_LEADER) {
        uint64_t last = raft_last_index(n->r), match = raft_match_of(n->r, peer);
        out->lag = last > match ? last - match : 0;
        out->applied = n->peer_applied[i];
        out->current = out->lag == 0 && out->active_ns <= LIMIT_CLUSTER_CURRENT_NS &&
                       out->applied >= n->commit_ago[LIMIT_CLUSTER_APPLIED_TICKS - 1]; /* PROGRESS OF PEERS */
        /* Silence is evidence only if we were listening. A follower hears from the leader
         * alone, so a leader elected moments ago has not yet had a member's answer to its
         * first appends (a busy server's can take a few hundred ms): until it has led for a
         * whole window, unheard is "not known", not "offline". Placing on such a member is
         * what nats-server does too (it marks a peer offline only once it misses its
         * updates); calling it offline shrank a PEER.REMOVE's group instead of replacing. */
        out->offline = out->offline && now - n->lead_ns > LIMIT_CLUSTER_CURRENT_NS;
    }
}
