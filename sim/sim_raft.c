/* sim_raft.c — a Raft group inside the simulator (see sim_raft.h). */
#include "sim_raft.h"

#include <string.h>

#include "raft.h"
#include "raft_checker.h"
#include "raft_log.h"
#include "sim_net.h"
#include "sim_scenario.h"
#include "sim_workload.h"

#define MONITOR_NS (100 * SIM_MS)

typedef struct RNode {
    SimRaft *sr;
    SimNode *node;
    Raft *r;                 /* NULL while crashed */
    RaftLog *log;
    GPtrArray *outbox;       /* of GBytes (4-byte destination index, then the datagram) */
    bool flush_scheduled;
    RaftRole role;           /* as last traced */
    uint64_t term;
} RNode;

/* One client proposal (index in the array = value - 1). */
typedef struct Proposal {
    int64_t invoke_ns, complete_ns; /* complete: first apply anywhere (-1: never) */
    int node;                /* -1: no leader found */
    uint64_t index, term;
} Proposal;

struct SimRaft {
    Sim *sim;
    const SimRaftConfig *cfg;
    int n;
    uint32_t peers[LIMIT_RAFT_PEERS_MAX];
    RNode *nodes;
    RaftChecker *chk;
    Rng rng;              /* clients and the adversary */
    GArray *props;           /* of Proposal */
    /* liveness */
    unsigned conn_set;       /* the connected majority seen last (bit per node), 0: none */
    int64_t leaderless_since;
    bool liveness_reported;
    int64_t worst_leaderless_ns;
    uint64_t commit_at_stop; /* max_commit when the clients stopped */
    bool stop_recorded;
    int64_t adversary_end_ns;
    int leader_victim;       /* the node the last "crash leader" took down (-1: none) */
    /* counts for summary.txt */
    uint64_t elections, msgs_sent, applied_total;
};

/* --- violations: the first safety violation ends the run --- */

static void on_violation(void *ctx, const char *what) {
    SimRaft *sr = ctx;
    sim_workload_violation(sr->sim->wl, false, "raft: %s (t=%.3fs)", what, (double)sim_now(sr->sim) / 1e9);
    sr->sim->stopped = true;
}

/* --- the Ready contract --- */

static void send_now(SimRaft *sr, RNode *rn, GBytes *b) {
    gsize len;
    const uint8_t *p = g_bytes_get_data(b, &len);
    uint32_t to;
    memcpy(&to, p, 4);
    sim_net_peer_send(sr->sim->net, rn->node->index, (int)to, p + 4, len - 4);
    sr->msgs_sent++;
}

static void flush_event(void *ctx, void *a, uint64_t incarnation) {
    RNode *rn = a;
    SimNode *n = rn->node;
    if (!n->up || n->incarnation != incarnation) return; /* crashed meanwhile: never sent */
    if (sim_node_defer(n, flush_event, a, incarnation)) return; /* still in an fsync */
    rn->flush_scheduled = false;
    for (guint i = 0; i < rn->outbox->len; i++) send_now(rn->sr, rn, g_ptr_array_index(rn->outbox, i));
    g_ptr_array_set_size(rn->outbox, 0);
}

static void trace_role(SimRaft *sr, RNode *rn) {
    RaftRole role = raft_role(rn->r);
    uint64_t term = raft_term(rn->r);
    Sim *sim = sr->sim;
    if (role == RAFT_LEADER && (rn->role != RAFT_LEADER || rn->term != term)) {
        sim_log(sim, rn->node->name, "leader", "term %" G_GUINT64_FORMAT, term);
        sr->elections++;
    } else if (role != RAFT_LEADER && rn->role == RAFT_LEADER) {
        sim_log(sim, rn->node->name, "stepdown", "term %" G_GUINT64_FORMAT " -> %s of term %" G_GUINT64_FORMAT,
                rn->term, raft_role_name(role), term);
    }
    rn->role = role;
    rn->term = term;
}

/* Everything the node has to say: persist (fsync), then send, then apply; check after. */
static void process_ready(SimRaft *sr, RNode *rn) {
    Sim *sim = sr->sim;
    SimNode *n = rn->node;
    while (rn->r && raft_has_ready(rn->r) && !sim->stopped) {
        RaftReady rd;
        raft_ready_take(rn->r, &rd);
        raft_checker_ready(sr->chk, rn->r, &rd);
        GError *error = NULL;
        /* no disk faults in [raft] runs: a failed save is a bug (an internal error, exit 3) */
        if (!raft_log_save(rn->log, &rd, &error)) g_error("%s: raft_log_save: %s", n->name, error->message);
        if (rd.has_snapshot && rd.install_snapshot) {
            raft_checker_restore(sr->chk, raft_id(rn->r), rd.snapshot.data);
            sim_log(sim, n->name, "snapshot", "installed at index %" G_GUINT64_FORMAT, rd.snapshot.index);
        }
        bool wait = n->busy_until_ns > sim_now(sim) || rn->outbox->len > 0; /* the fsync takes time */
        for (size_t i = 0; i < rd.n_msgs; i++) {
            g_autoptr(GBytes) enc = raft_msg_encode(&rd.msgs[i]);
            gsize len;
            const uint8_t *p = g_bytes_get_data(enc, &len);
            uint8_t *buf = g_malloc(len + 4);
            uint32_t to = rd.msgs[i].to - 1;
            memcpy(buf, &to, 4);
            memcpy(buf + 4, p, len);
            GBytes *b = g_bytes_new_take(buf, len + 4);
            if (wait) g_ptr_array_add(rn->outbox, b);
            else {
                send_now(sr, rn, b);
                g_bytes_unref(b);
            }
        }
        if (rn->outbox->len > 0 && !rn->flush_scheduled) {
            rn->flush_scheduled = true;
            sim_at(sim, MAX(n->busy_until_ns, sim_now(sim)), flush_event, rn, n->incarnation);
        }
        for (size_t i = 0; i < rd.n_committed; i++) {
            const RaftEntry *e = &rd.committed[i];
            raft_checker_apply(sr->chk, raft_id(rn->r), e);
            sr->applied_total++;
            uint64_t v = raft_checker_value(e->data);
            if (v >= 1 && v <= sr->props->len) {
                Proposal *pr = &g_array_index(sr->props, Proposal, v - 1);
                if (pr->complete_ns < 0 && pr->index == e->index && pr->term == e->term) pr->complete_ns = sim_now(sim);
            }
        }
        if (rd.n_committed > 0) {
            const RaftEntry *last = &rd.committed[rd.n_committed - 1];
            sim_log(sim, n->name, "commit", "index %" G_GUINT64_FORMAT " term %" G_GUINT64_FORMAT, last->index, last->term);
        }
        raft_ready_clear(&rd);
        uint64_t applied = sr->chk->node[raft_id(rn->r) - 1].applied;
        if (sr->cfg->snapshot_every && applied >= raft_snapshot_index(rn->r) + (uint64_t)sr->cfg->snapshot_every) {
            g_autoptr(GBytes) snap = raft_checker_snapshot(sr->chk, raft_id(rn->r));
            if (!raft_compact(rn->r, applied, snap, &error)) g_error("%s: raft_compact: %s", n->name, error->message);
        }
    }
    if (rn->r && !sim->stopped) {
        raft_checker_node(sr->chk, rn->r);
        trace_role(sr, rn);
    }
}

/* --- inputs: ticks, messages --- */

static void tick_cb(void *arg) {
    RNode *rn = arg;
    SimRaft *sr = rn->sr;
    if (!rn->r || sr->sim->stopped) return;
    raft_tick(rn->r);
    process_ready(sr, rn);
    if (rn->r) env_timer_add(&rn->node->env, sr->cfg->tick_ns, tick_cb, rn);
}

static void on_peer(void *ctx, int from, const uint8_t *data, size_t len) {
    RNode *rn = ctx;
    SimRaft *sr = rn->sr;
    if (!rn->r || sr->sim->stopped) return;
    RaftMsg m;
    GError *error = NULL;
    if (!raft_msg_decode(data, len, &m, &error)) {
        /* peer links never corrupt: a message we encoded must decode */
        sim_workload_violation(sr->sim->wl, false, "raft: codec: a message from n%d did not decode: %s", from + 1,
                               error->message);
        sr->sim->stopped = true;
        g_error_free(error);
        return;
    }
    if (!raft_step(rn->r, &m, &error)) {
        sim_workload_violation(sr->sim->wl, false, "raft: %s refused a message from an honest peer n%d: %s",
                               rn->node->name, from + 1, error->message);
        sr->sim->stopped = true;
        g_error_free(error);
    }
    raft_msg_clear(&m);
    process_ready(sr, rn);
}

static uint64_t node_random(void *ctx) { return env_random_u64(&((SimNode *)ctx)->env); }

bool sim_raft_node_start(SimRaft *sr, SimNode *n) {
    RNode *rn = &sr->nodes[n->index];
    const SimRaftConfig *cfg = sr->cfg;
    RaftBoot boot;
    GError *error = NULL;
    rn->log = raft_log_open(&n->env, "raft", &boot, &error);
    if (rn->log == NULL) { /* a corrupt snapshot file: the node cannot come back (no disk faults here) */
        sim_log(sr->sim, n->name, "restart", "failed: %s", error->message);
        g_error("%s: raft_log_open: %s", n->name, error->message);
    }
    RaftConfig rc = {0};
    rc.id = (uint32_t)n->index + 1;
    rc.peers = sr->peers;
    rc.n_peers = (size_t)sr->n;
    rc.election_ticks = cfg->election_ticks;
    rc.heartbeat_ticks = cfg->heartbeat_ticks;
    rc.pre_vote = cfg->pre_vote;
    rc.max_append_entries = cfg->max_append;
    rc.random_u64 = node_random;
    rc.random_ctx = n;
    rc.bug = cfg->bug;
    raft_checker_restore(sr->chk, rc.id, boot.snapshot.index ? boot.snapshot.data : NULL);
    raft_checker_restarted(sr->chk, rc.id);
    rn->r = raft_new(&rc, &boot, &error);
    if (rn->r == NULL) g_error("%s: raft_new: %s", n->name, error->message);
    sim_log(sr->sim, n->name, "raft", "recovered: term %" G_GUINT64_FORMAT " vote %u commit %" G_GUINT64_FORMAT
            " log %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT " snapshot %" G_GUINT64_FORMAT,
            boot.hs.term, boot.hs.vote, boot.hs.commit, boot.snapshot.index + 1,
            boot.snapshot.index + boot.n_entries, boot.snapshot.index);
    raft_boot_clear(&boot);
    rn->role = RAFT_FOLLOWER;
    rn->term = raft_term(rn->r);
    env_timer_add(&n->env, 1 + (int64_t)(env_random_u64(&n->env) % (uint64_t)cfg->tick_ns), tick_cb, rn);
    process_ready(sr, rn); /* re-apply what the disk says is committed */
    return true;
}

void sim_raft_node_crash(SimRaft *sr, SimNode *n) {
    RNode *rn = &sr->nodes[n->index];
    if (rn->r && rn->role == RAFT_LEADER)
        sim_log(sr->sim, n->name, "stepdown", "term %" G_GUINT64_FORMAT " -> crashed", rn->term);
    raft_free(rn->r);
    raft_log_close(rn->log);
    rn->r = NULL;
    rn->log = NULL;
    rn->role = RAFT_FOLLOWER;
    g_ptr_array_set_size(rn->outbox, 0); /* what waited for an fsync is never sent */
    rn->flush_scheduled = false;
}

/* --- clients --- */

static bool usable(SimRaft *sr, int i) {
    RNode *rn = &sr->nodes[i];
    return rn->r && rn->node->up && rn->node->busy_until_ns <= sim_now(sr->sim);
}

static GBytes *payload(uint64_t value, size_t size) {
    uint8_t *b = g_malloc0(size);
    memcpy(b, &value, 8);
    for (size_t i = 8; i < size; i++) b[i] = (uint8_t)(value + i);
    return g_bytes_new_take(b, size);
}

/* Propose the next value on node i if it leads; the value is recorded either way. */
static bool propose_on(SimRaft *sr, int i, Proposal *pr, uint64_t value) {
    if (!usable(sr, i) || raft_role(sr->nodes[i].r) != RAFT_LEADER) return false;
    g_autoptr(GBytes) d = payload(value, sr->cfg->size_bytes);
    uint64_t index = 0;
    if (!raft_propose(sr->nodes[i].r, d, &index, NULL)) return false;
    pr->node = i;
    pr->index = index;
    pr->term = raft_term(sr->nodes[i].r);
    sim_log(sr->sim, sr->nodes[i].node->name, "propose", "value %" G_GUINT64_FORMAT " at index %" G_GUINT64_FORMAT
            " term %" G_GUINT64_FORMAT, value, index, pr->term);
    process_ready(sr, &sr->nodes[i]);
    return true;
}

static Proposal *new_proposal(SimRaft *sr, uint64_t *value) {
    Proposal pr = {sim_now(sr->sim), -1, -1, 0, 0};
    g_array_append_val(sr->props, pr);
    *value = sr->props->len;
    return &g_array_index(sr->props, Proposal, sr->props->len - 1);
}

/* A client asks a random node; a follower that knows its leader redirects it once. */
static void client_event(void *ctx, void *a, uint64_t b) {
    Sim *sim = ctx;
    SimRaft *sr = a;
    const SimScenario *sc = sim->sc;
    if (sim_now(sim) >= sc->duration_ns - sc->drain_ns) return;
    uint64_t value;
    Proposal *pr = new_proposal(sr, &value);
    int i = (int)rng_below(&sr->rng, (uint64_t)sr->n);
    if (!propose_on(sr, i, pr, value) && usable(sr, i)) {
        uint32_t l = raft_leader(sr->nodes[i].r);
        if (l >= 1 && (int)l <= sr->n) propose_on(sr, (int)l - 1, pr, value);
    }
    sim_after(sim, (int64_t)(1e9 / sr->cfg->rate_per_s), client_event, sr, 0);
}

/* --- the Figure 8 adversary --- */

static void adversary_event(void *ctx, void *a, uint64_t b) {
    Sim *sim = ctx;
    SimRaft *sr = a;
    int round = (int)(b >> 1), phase = (int)(b & 1);
    if (sim->stopped) return;
    if (phase == 1) { /* propose on every leader, then cut the round short */
        for (int i = 0; i < sr->n; i++) {
            if (!usable(sr, i) || raft_role(sr->nodes[i].r) != RAFT_LEADER) continue;
            uint64_t value;
            Proposal *pr = new_proposal(sr, &value);
            propose_on(sr, i, pr, value);
        }
        sim_after(sim, (int64_t)rng_below(&sr->rng, 20) * SIM_MS, adversary_event, sr, (uint64_t)(round + 1) << 1);
        return;
    }
    if (round >= sr->cfg->rounds) {
        for (int x = 0; x < sr->n; x++)
            for (int y = 0; y < sr->n; y++) sim_net_partition(sim->net, x, y, false);
        sr->adversary_end_ns = sim_now(sim);
        sim_log(sim, "sim", "fault", "figure8 adversary: %d rounds done, network healed", round);
        return;
    }
    bool in[LIMIT_RAFT_PEERS_MAX] = {false};
    int size = 2 + (int)rng_below(&sr->rng, 2);
    for (int k = 0; k < size; k++) in[rng_below(&sr->rng, (uint64_t)sr->n)] = true;
    for (int x = 0; x < sr->n; x++)
        for (int y = 0; y < sr->n; y++) sim_net_partition(sim->net, x, y, !(in[x] && in[y]));
    int cand = (int)rng_below(&sr->rng, (uint64_t)sr->n);
    SimDetail d = {0};
    sim_detail_str(&d, "figure8 round ");
    sim_detail_u64(&d, (uint64_t)round + 1);
    sim_detail_str(&d, ": group");
    for (int i = 0; i < sr->n; i++)
        if (in[i]) {
            sim_detail_str(&d, " ");
            sim_detail_str(&d, sr->nodes[i].node->name);
        }
    bool campaign = in[cand] && usable(sr, cand);
    if (campaign) {
        sim_detail_str(&d, "; ");
        sim_detail_str(&d, sr->nodes[cand].node->name);
        sim_detail_str(&d, " campaigns");
    }
    sim_trace_event_raw(sim->trace, sim_now(sim), "sim", "fault", d.buf, d.len);
    if (campaign) {
        raft_campaign(sr->nodes[cand].r);
        process_ready(sr, &sr->nodes[cand]);
    }
    sim_after(sim, (int64_t)rng_below(&sr->rng, 30) * SIM_MS, adversary_event, sr, ((uint64_t)round << 1) | 1);
}

/* --- liveness: a leader within leader_within once a majority is connected --- */

static unsigned connected_majority(SimRaft *sr) {
    unsigned best = 0;
    int best_size = 0, quorum = sr->n / 2 + 1;
    for (unsigned set = 1; set < (1u << sr->n); set++) {
        int size = __builtin_popcount(set);
        if (size < quorum || size <= best_size) continue;
        bool ok = true;
        for (int x = 0; x < sr->n && ok; x++) {
            if (!(set & (1u << x))) continue;
            ok = usable(sr, x);
            for (int y = 0; y < sr->n && ok; y++)
                if (x != y && (set & (1u << y)) && sim_net_blocked(sr->sim->net, x, y)) ok = false;
        }
        if (ok) {
            best = set;
            best_size = size;
        }
    }
    return best;
}

static void monitor_event(void *ctx, void *a, uint64_t b) {
    Sim *sim = ctx;
    SimRaft *sr = a;
    const SimScenario *sc = sim->sc;
    int64_t now = sim_now(sim);
    if (sim->stopped) return;
    if (!sr->stop_recorded && now >= sc->duration_ns - sc->drain_ns) {
        sr->commit_at_stop = sr->chk->max_commit;
        sr->stop_recorded = true;
    }
    unsigned set = connected_majority(sr);
    bool leader = false;
    for (int i = 0; i < sr->n; i++)
        if ((set & (1u << i)) && raft_role(sr->nodes[i].r) == RAFT_LEADER) leader = true;
    if (set == 0 || leader || set != sr->conn_set) {
        /* a leaderless stretch of one connected majority ends (or a new one starts) */
        sr->leaderless_since = set != 0 && !leader ? now : -1;
    } else if (sr->leaderless_since >= 0) {
        sr->worst_leaderless_ns = MAX(sr->worst_leaderless_ns, now - sr->leaderless_since);
        if (now - sr->leaderless_since > sr->cfg->leader_within_ns && !sr->liveness_reported) {
            GString *names = g_string_new(NULL);
            for (int i = 0; i < sr->n; i++)
                if (set & (1u << i)) g_string_append_printf(names, "%sn%d", names->len ? "," : "", i + 1);
            sim_workload_violation(sim->wl, true, "raft: no leader within %.1fs though %s were up and connected since %.3fs",
                                   (double)sr->cfg->leader_within_ns / 1e9, names->str,
                                   (double)sr->leaderless_since / 1e9);
            g_string_free(names, TRUE);
            sr->liveness_reported = true;
        }
    }
    sr->conn_set = set;
    sim_after(sim, MONITOR_NS, monitor_event, sr, 0);
}

/* --- lifecycle --- */

static void blob_free(gpointer p) { g_bytes_unref(p); }

SimRaft *sim_raft_new(Sim *sim) {
    SimRaft *sr = g_new0(SimRaft, 1);
    sr->sim = sim;
    sr->cfg = &sim->sc->raft;
    sr->n = sim->n_nodes;
    g_assert(sr->n >= 1 && sr->n <= LIMIT_RAFT_PEERS_MAX && sr->n <= RAFT_CHECKER_MAXN);
    for (int i = 0; i < sr->n; i++) sr->peers[i] = (uint32_t)i + 1;
    sr->nodes = g_new0(RNode, (gsize)sr->n);
    sr->chk = raft_checker_new(sr->n, on_violation, sr);
    sr->rng = rng_derive(&sim->root, "raft");
    sr->props = g_array_new(FALSE, FALSE, sizeof(Proposal));
    sr->leaderless_since = -1;
    sr->leader_victim = -1;
    for (int i = 0; i < sr->n; i++) {
        RNode *rn = &sr->nodes[i];
        rn->sr = sr;
        rn->node = sim->nodes[i];
        rn->outbox = g_ptr_array_new_with_free_func(blob_free);
        sim_net_peer_handler(sim->net, i, on_peer, rn);
    }
    return sr;
}

void sim_raft_schedule(SimRaft *sr) {
    Sim *sim = sr->sim;
    if (sr->cfg->rate_per_s > 0)
        sim_at(sim, (int64_t)rng_below(&sr->rng, (uint64_t)(1e9 / sr->cfg->rate_per_s)) + 1, client_event, sr, 0);
    if (sr->cfg->figure8) sim_at(sim, sr->cfg->adversary_from_ns, adversary_event, sr, 0);
    sim_at(sim, MONITOR_NS, monitor_event, sr, 0);
}

void sim_raft_check_end(SimRaft *sr) {
    Sim *sim = sr->sim;
    const SimScenario *sc = sim->sc;
    if (sim->stopped) return; /* a safety violation ended the run: nothing more to judge */
    if (sr->cfg->figure8) {
        int64_t from = sr->cfg->adversary_from_ns, end = sr->adversary_end_ns ? sr->adversary_end_ns : sc->duration_ns;
        sim_trace_fault(sim->trace, from, end, "sim", "adversary", "figure8 adversary");
        sim_workload_note_fault(sim->wl, end);
    }
    int64_t quiet = sim->wl->last_fault_end_ns + sc->settle_ns;
    int64_t stop = sc->duration_ns - sc->drain_ns;
    if (quiet >= stop - sc->grace_ns) {
        sim_log(sim, "sim", "check", "raft liveness after faults not judged: faults last until %.3fs",
                (double)sim->wl->last_fault_end_ns / 1e9);
        return;
    }
    /* proposals made in the quiet time commit */
    uint64_t made = 0, done = 0;
    for (guint k = 0; k < sr->props->len; k++) {
        const Proposal *pr = &g_array_index(sr->props, Proposal, k);
        if (pr->invoke_ns < quiet || pr->invoke_ns > stop - sc->grace_ns) continue;
        made++;
        done += pr->complete_ns >= 0;
    }
    if (made == 0)
        sim_log(sim, "sim", "check", "raft: no proposal between %.3fs and %.3fs to judge", (double)quiet / 1e9,
                (double)(stop - sc->grace_ns) / 1e9);
    else if (done == 0)
        sim_workload_violation(sim->wl, true, "raft: none of %" G_GUINT64_FORMAT " proposals after %.3fs (faults over) committed",
                               made, (double)quiet / 1e9);
    /* every up node applies what was committed before the drain */
    uint64_t want = sr->stop_recorded ? sr->commit_at_stop : sr->chk->max_commit;
    for (int i = 0; i < sr->n; i++) {
        if (!sr->nodes[i].r) continue;
        uint64_t applied = sr->chk->node[i].applied;
        if (applied < want)
            sim_workload_violation(sim->wl, true, "raft: n%d applied only %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                   " committed entries by the end", i + 1, applied, want);
    }
}

void sim_raft_finish(SimRaft *sr) {
    SimTrace *t = sr->sim->trace;
    for (guint k = 0; k < sr->props->len; k++) {
        const Proposal *pr = &g_array_index(sr->props, Proposal, k);
        const RaftCheckerCommit *cr = pr->node >= 0 ? raft_checker_commit_at(sr->chk, pr->index) : NULL;
        const char *result = pr->node < 0 ? "no-leader"
                             : pr->complete_ns >= 0 ? "committed"
                             : cr ? "superseded" : "pending";
        g_autofree char *detail = g_strdup_printf("value %u index %" G_GUINT64_FORMAT " term %" G_GUINT64_FORMAT " on n%d",
                                                  k + 1, pr->index, pr->term, pr->node + 1);
        sim_trace_op(t, "client", "propose", pr->invoke_ns, pr->complete_ns, result, detail);
    }
}

char *sim_raft_summary(const SimRaft *sr) {
    uint64_t committed = 0, superseded = 0, no_leader = 0;
    for (guint k = 0; k < sr->props->len; k++) {
        const Proposal *pr = &g_array_index(sr->props, Proposal, k);
        if (pr->node < 0) no_leader++;
        else if (pr->complete_ns >= 0) committed++;
        else if (raft_checker_commit_at(sr->chk, pr->index)) superseded++;
    }
    uint64_t max_term = 0;
    for (int i = 0; i < sr->n; i++)
        if (sr->nodes[i].r) max_term = MAX(max_term, raft_term(sr->nodes[i].r));
    return g_strdup_printf("raft            %d nodes, %" G_GUINT64_FORMAT " elections won, highest term %" G_GUINT64_FORMAT
                           ", %" G_GUINT64_FORMAT " messages sent\n"
                           "raft log        %" G_GUINT64_FORMAT " entries committed, %" G_GUINT64_FORMAT " applies\n"
                           "proposals       %u: %" G_GUINT64_FORMAT " committed, %" G_GUINT64_FORMAT " superseded, %" G_GUINT64_FORMAT
                           " found no leader\n"
                           "leaderless     longest %.3f s with a connected majority (budget %.1f s)\n",
                           sr->n, sr->elections, max_term, sr->msgs_sent, sr->chk->max_commit, sr->applied_total,
                           sr->props->len, committed, superseded, no_leader, (double)sr->worst_leaderless_ns / 1e9,
                           (double)sr->cfg->leader_within_ns / 1e9);
}

int sim_raft_fault_target(SimRaft *sr, SimFaultKind kind) {
    if (kind == SIM_FAULT_RESTART) {
        int v = sr->leader_victim;
        sr->leader_victim = -1;
        return v;
    }
    int best = -1;
    for (int i = 0; i < sr->n; i++) {
        Raft *r = sr->nodes[i].r;
        if (r && raft_role(r) == RAFT_LEADER && (best < 0 || raft_term(r) > raft_term(sr->nodes[best].r))) best = i;
    }
    if (kind == SIM_FAULT_CRASH && best >= 0) sr->leader_victim = best;
    return best;
}

void sim_raft_free(SimRaft *sr) {
    if (!sr) return;
    for (int i = 0; i < sr->n; i++) {
        RNode *rn = &sr->nodes[i];
        raft_free(rn->r);
        raft_log_close(rn->log);
        g_ptr_array_unref(rn->outbox);
    }
    g_free(sr->nodes);
    raft_checker_free(sr->chk);
    g_array_free(sr->props, TRUE);
    g_free(sr);
}
