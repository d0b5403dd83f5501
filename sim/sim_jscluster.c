/* sim_jscluster.c — clustered JetStream seen from outside: replicas compared every step,
 * leaders and elections, the queue checker (see sim_jscluster.h).
 *
 * THE REPLICA CHECK (every step, not sampled)
 *   A replicated stream's store holds only committed entries: the leader and the followers
 *   all apply an entry when Raft commits it (src/jscluster.c stream_apply). So the stores
 *   of caught-up replicas must be byte-identical, and a lagging one a prefix of them. We keep
 *   one history per stream, seq -> the message's canonical bytes (timestamp, subject,
 *   headers, payload), filled by whichever replica applies a seq first; after every step each
 *   live replica's new sequences (beyond a cursor) are read through the Store API and
 *   compared. Any difference is a safety violation at the exact step it appears: a replica
 *   that applied something else at seq N (divergent logs, a committed entry overwritten), or
 *   that has a hole at N below its last seq (a committed message gone from one copy). A
 *   restart rewinds the node's cursor: recovery must rebuild the same bytes.
 *
 * THE QUEUE CHECKER (after the run)
 *   Modelled on Jepsen's `queue` checker as used in its NATS analysis: each publish that
 *   left a js-publisher is one operation with an outcome (ack seq N, timeout, disconnect,
 *   error); the final read is the stream leader's store after the run, plus every message a
 *   consumer was handed. Classes: ok, lost, unknown, recovered, unexpected, duplicated (see
 *   the header). A PubAck is a promise, so lost, unexpected and duplicated are safety
 *   violations; unknown and recovered are what an at-least-once client lives with.
 */
#include "sim_jscluster.h"

#include <stdlib.h>
#include <string.h>

#include "cluster_nrg.h"
#include "jetstream.h"
#include "jscluster.h"
#include "raft.h"
#include "raft_checker.h"
#include "store.h"
#include "stream.h"
#include "sim_workload.h"

#define REPORT_MAX 3 /* examples printed per kind of violation */

typedef struct JscStream {
    char *name;
    int replicas;
    const char *retention;       /* "limits", "workqueue", "interest" (the publisher group's) */
    GPtrArray *hist;             /* GBytes* per seq - 1 (NULL: not seen yet) */
    uint64_t cursor[SIM_MAX_NODES];
    uint64_t incarnation[SIM_MAX_NODES];
    uint64_t diverged, holes;    /* violations reported */
    int leader;                  /* node index, -1: none */
    int64_t leaderless_since;    /* -1: there is a leader */
    bool had_leader;
    uint64_t elections;
    int64_t leaderless_ns;       /* total */
    /* the queue checker's counts */
    uint64_t ok, lost, unknown, recovered, unexpected, duplicated, misplaced;
    uint64_t lost_prefix, lost_middle, lost_postfix;
    uint64_t lost_on[SIM_MAX_NODES];
    bool judged_nodes[SIM_MAX_NODES];
    /* the retention checker's counts (work-queue and interest streams) */
    uint64_t removed, removed_unacked, kept_acked, state_diverged;
    uint64_t released;           /* acked, never read, removed as no consumer wanted it (interest) */
    int read_from;               /* the node whose store was the final read, -1: none */
    GArray *outcomes;            /* Outcome per publish sent, for lost.png */
} JscStream;

/* One publish's class, by the time it was sent (lost.png's timeline). */
typedef enum { Q_OK, Q_RECOVERED, Q_UNKNOWN, Q_LOST_PREFIX, Q_LOST_MIDDLE, Q_LOST_POSTFIX } QClass;
typedef struct Outcome {
    int64_t sent_ns;
    QClass cls;
} Outcome;

static void outcome(JscStream *s, const SimJsRec *r, QClass cls) {
    Outcome o = {r->invoke_ns, cls};
    g_array_append_val(s->outcomes, o);
}

/* One Raft group (the meta group, or a stream's) as sim/raft_checker.c judges it. */
typedef struct JscGroup {
    SimJsc *j;
    char *name;                  /* "_meta_", "S-..." */
    RaftChecker *k;
    uint64_t violations;
} JscGroup;

struct SimJsc {
    Sim *sim;
    GHashTable *group_by_name;   /* name -> JscGroup* (looked up, never iterated) */
    GPtrArray *groups;           /* JscGroup*, in the order they appeared */
    uint64_t raft_batches;       /* Ready batches the checkers saw */
    int64_t bucket_ns;
    GPtrArray *acks[SIM_MAX_NODES]; /* per node, per bucket: GArray of int64 PubAck latencies */
    GPtrArray *streams;          /* JscStream*, in scenario order */
    GArray *victims[2];          /* int: nodes "crash leader" / "crash follower" hit, not restarted yet */
};

static void group_free(gpointer p) {
    JscGroup *g = p;
    raft_checker_free(g->k);
    g_free(g->name);
    g_free(g);
}

static void stream_free(gpointer p) {
    JscStream *s = p;
    g_free(s->name);
    g_ptr_array_unref(s->hist);
    g_array_unref(s->outcomes);
    g_free(s);
}

SimJsc *sim_jsc_new(Sim *sim) {
    const SimScenario *sc = sim->sc;
    if (sim->n_nodes < 2 || !sc->jetstream || sc->raft.enabled) return NULL;
    SimJsc *j = g_new0(SimJsc, 1);
    j->sim = sim;
    for (int r = 0; r < 2; r++) j->victims[r] = g_array_new(FALSE, FALSE, sizeof(int));
    j->bucket_ns = MAX(50 * SIM_MS, sc->duration_ns / 100 / SIM_MS * SIM_MS);
    for (int i = 0; i < sim->n_nodes; i++) {
        j->acks[i] = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
        for (int64_t t = 0; t <= sc->duration_ns; t += j->bucket_ns)
            g_ptr_array_add(j->acks[i], g_array_new(FALSE, FALSE, sizeof(int64_t)));
    }
    j->streams = g_ptr_array_new_with_free_func(stream_free);
    j->group_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    j->groups = g_ptr_array_new_with_free_func(group_free);
    for (guint i = 0; i < sc->groups->len; i++) {
        const SimClientGroup *g = g_ptr_array_index(sc->groups, i);
        if (g->kind != SIM_CLIENT_JS_PUBLISHER) continue;
        bool known = false;
        for (guint k = 0; k < j->streams->len; k++)
            known |= strcmp(((JscStream *)g_ptr_array_index(j->streams, k))->name, g->stream) == 0;
        if (known) continue;
        JscStream *s = g_new0(JscStream, 1);
        s->name = g_strdup(g->stream);
        s->replicas = g->replicas;
        s->retention = g->retention ? g->retention : "limits";
        s->hist = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
        s->leader = -1;
        s->leaderless_since = 0;
        s->read_from = -1;
        s->outcomes = g_array_new(FALSE, FALSE, sizeof(Outcome));
        g_ptr_array_add(j->streams, s);
    }
    return j;
}

void sim_jsc_free(SimJsc *j) {
    if (!j) return;
    g_ptr_array_unref(j->streams);
    g_hash_table_destroy(j->group_by_name);
    g_ptr_array_unref(j->groups);
    for (int r = 0; r < 2; r++) g_array_unref(j->victims[r]);
    for (int i = 0; i < SIM_MAX_NODES; i++)
        if (j->acks[i]) g_ptr_array_unref(j->acks[i]);
    g_free(j);
}

/* ts u64 | subject NUL | hdr_len u32 | hdr | payload: what must be equal on every replica */
static GBytes *canonical(const StoreMsg *m) {
    GByteArray *b = g_byte_array_sized_new((guint)(8 + m->subject_len + 1 + 4 + m->hdr_len + m->data_len));
    uint64_t ts = (uint64_t)m->ts_ns;
    uint32_t hl = (uint32_t)m->hdr_len;
    g_byte_array_append(b, (const guint8 *)&ts, 8);
    g_byte_array_append(b, (const guint8 *)m->subject, (guint)m->subject_len + 1);
    g_byte_array_append(b, (const guint8 *)&hl, 4);
    if (m->hdr_len) g_byte_array_append(b, m->hdr, (guint)m->hdr_len);
    g_byte_array_append(b, m->data, (guint)m->data_len);
    return g_byte_array_free_to_bytes(b);
}

static Store *replica_store(SimNode *n, const char *name) {
    if (!n->up || !n->js || !n->jsc) return NULL;
    Stream *st = jscluster_replica(n->jsc, name); /* hosted: repaired if it had to be */
    return st ? stream_store(st) : NULL;
}

/* ------------------------------------------------------------------ the retention checker
 *
 * A work-queue or interest stream removes what its consumers acknowledged: the leader (the
 * only one with live consumers) proposes the removals as one entry (op 5 of the stream's log,
 * src/jscluster.c) and every replica applies it. So a message may vanish from a replica, but
 *   only once acked   work queue: some worker acked it; interest: every consumer group on
 *                     the stream acked it (with no consumer at all, nothing is kept) -- a
 *                     removal of anything else is a safety violation, seen at the step it
 *                     happens (for sequences the replica applies after it) and at the end
 *                     (every sequence every live replica ever held);
 *   and then for sure once faults are over, an ack given well before the workers stopped
 *                     pulling (ack_wait and a second earlier: a lost ack would have brought a
 *                     redelivery) has removed the message on every caught-up replica
 *                     (liveness);
 *   identically       caught-up replicas hold the same sequences, with equal first/last
 *                     seq and message count (safety: the removals diverged).
 * Whether a work queue hands one message to two workers at once is judged as deliveries
 * arrive (sim_jsconsumer.c: a delivery is a lease for ack_wait). */

static bool retains(const JscStream *s) { return strcmp(s->retention, "limits") != 0; }

/* What the consumer groups on s know of seq. For the removal rule: the groups that count
 * (a work queue: all; an interest stream: those that surely existed when it was published,
 * their create answered before the publish left, for it keeps a message only for the
 * consumers it has) and how many of those acked it (ever). For the "acked, so gone" rule:
 * every consumer group of the stream, how many of them hold it acked (their last delivery
 * acked), and the latest such ack. */
typedef struct AckView {
    int groups, acked;
    int all, settled;
    int64_t last_ns;
    const char *by;
} AckView;

static AckView ack_view(SimJsc *j, const JscStream *s, uint64_t seq) {
    SimWorkload *wl = j->sim->wl;
    const SimScenario *sc = j->sim->sc;
    AckView v = {0};
    bool interest = strcmp(s->retention, "interest") == 0;
    int64_t sent_ns = -1; /* "J<pub>:<seq>:<invoke_ns>:..." */
    GBytes *b = seq <= s->hist->len ? g_ptr_array_index(s->hist, seq - 1) : NULL;
    if (b) {
        const char *d = g_bytes_get_data(b, NULL), *p = d + 8 + strlen(d + 8) + 1 + 4;
        const char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (p[0] == 'J' && c2) sent_ns = g_ascii_strtoll(c2 + 1, NULL, 10);
    }
    for (guint i = 0; i < sc->groups->len; i++) {
        const SimClientGroup *g = g_ptr_array_index(sc->groups, i);
        if (g->kind != SIM_CLIENT_JS_CONSUMER || strcmp(g->stream, s->name) != 0) continue;
        const SimConsumerLog *log = NULL;
        for (guint k = 0; k < wl->consumer_logs->len && !log; k++)
            if (((const SimConsumerLog *)g_ptr_array_index(wl->consumer_logs, k))->g == g)
                log = g_ptr_array_index(wl->consumer_logs, k);
        const SimConsumed *c = log && seq <= log->recs->len ? &g_array_index(log->recs, SimConsumed, seq - 1) : NULL;
        bool counts = !interest || (log && log->created_ns && log->created_ns < sent_ns);
        v.all++;
        v.groups += counts;
        v.acked += counts && c && c->acked;
        if (c && c->acked && c->unacked_ns == 0) {
            v.settled++;
            if (c->last_ns > v.last_ns) v.last_ns = c->last_ns, v.by = g->name;
        }
    }
    return v;
}

/* May retention have removed seq? (workqueue: one group's ack; interest: every group's) */
static bool removal_allowed(SimJsc *j, const JscStream *s, uint64_t seq) {
    AckView v = ack_view(j, s, seq);
    return strcmp(s->retention, "workqueue") == 0 ? v.acked > 0 : v.acked == v.groups;
}

static void removal_ok(SimJsc *j, JscStream *s, SimNode *n, uint64_t seq) {
    if (removal_allowed(j, s, seq) || s->removed_unacked++ >= REPORT_MAX) return;
    GBytes *want = g_ptr_array_index(s->hist, seq - 1);
    const char *wd = g_bytes_get_data(want, NULL), *sub = wd + 8, *payload = sub + strlen(sub) + 1 + 4;
    AckView v = ack_view(j, s, seq);
    sim_workload_violation(j->sim->wl, false, "stream %s (%s retention): seq %" G_GUINT64_FORMAT " ('%.12s') is gone from"
                           " %s, but %s: retention removed a message its consumers still need", s->name, s->retention,
                           seq, payload, n->name, v.acked == 0 ? "no consumer acked it"
                           : "not every consumer group acked it");
}

static void check_replica(SimJsc *j, JscStream *s, SimNode *n) {
    Sim *sim = j->sim;
    SimWorkload *wl = sim->wl;
    int i = n->index;
    if (s->incarnation[i] != n->incarnation) { /* restarted: recovery must rebuild the same bytes */
        s->incarnation[i] = n->incarnation;
        s->cursor[i] = 0;
    }
    Store *store = replica_store(n, s->name);
    if (!store) return;
    StoreState stt;
    store_state(store, &stt);
    for (uint64_t seq = s->cursor[i] + 1; seq <= stt.last_seq; seq++) {
        g_autoptr(GError) err = NULL;
        StoreMsg *m = store_load(store, seq, &err);
        GBytes *want = seq <= s->hist->len ? g_ptr_array_index(s->hist, seq - 1) : NULL;
        if (!m) {
            if (want && retains(s)) { /* removed by retention: only what the consumers acked */
                removal_ok(j, s, n, seq);
                continue;
            }
            if (want && s->holes++ < REPORT_MAX)
                sim_workload_violation(wl, false, "stream %s: %s has no seq %" G_GUINT64_FORMAT " (%s) though it holds"
                                       " seq %" G_GUINT64_FORMAT ": a committed message vanished from one replica",
                                       s->name, n->name, seq, err ? err->message : "missing", stt.last_seq);
            continue;
        }
        GBytes *got = canonical(m);
        store_msg_unref(m);
        if (!want) {
            if (s->hist->len < seq) g_ptr_array_set_size(s->hist, (guint)seq);
            g_ptr_array_index(s->hist, seq - 1) = got;
            continue;
        }
        if (!g_bytes_equal(want, got) && s->diverged++ < REPORT_MAX) {
            gsize wl_len, gl_len;
            const char *wd = g_bytes_get_data(want, &wl_len), *gd = g_bytes_get_data(got, &gl_len);
            const char *wsub = wd + 8, *gsub = gd + 8;
            const char *wp = wsub + strlen(wsub) + 1 + 4, *gp = gsub + strlen(gsub) + 1 + 4;
            sim_workload_violation(wl, false, "stream %s: committed seq %" G_GUINT64_FORMAT " changed: %s holds"
                                   " '%.20s' there, '%.20s' was applied there before (replicas diverge, or a committed"
                                   " entry was overwritten)", s->name, seq, n->name, gp, wp);
        }
        g_bytes_unref(got);
    }
    s->cursor[i] = MAX(s->cursor[i], stt.last_seq);
}

/* Who leads: a node that says it does (with a quorum behind it: jscluster_stream_leader is
 * NULL on a leader cut off from its majority). Two at once would be split brain. */
static int find_leader(SimJsc *j, JscStream *s, int *count) {
    Sim *sim = j->sim;
    int leader = -1;
    *count = 0;
    for (int i = 0; i < sim->n_nodes; i++) {
        SimNode *n = sim->nodes[i];
        if (!n->up || !n->jsc) continue;
        const char *l = jscluster_stream_leader(n->jsc, s->name);
        if (l && strcmp(l, n->name) == 0) {
            if (leader < 0) leader = i;
            (*count)++;
        }
    }
    return leader;
}

/* A leader change: log it; the leaderless interval before a new leader (not the first one,
 * at the stream's creation) is an election, shaded on the charts. */
static void track_leader(SimJsc *j, JscStream *s) {
    Sim *sim = j->sim;
    int count;
    int leader = find_leader(j, s, &count);
    if (count > 1) sim->wl->last_upheaval_ns = sim_now(sim); /* a stale leader still serving its side */
    if (leader == s->leader) return;
    int64_t now = sim_now(sim);
    if (leader < 0) {
        s->leaderless_since = now;
        sim_log(sim, "sim", "leader", "stream %s: no leader (%s stopped leading)", s->name, sim->nodes[s->leader]->name);
    } else {
        if (s->had_leader) {
            s->elections++;
            if (s->leaderless_since >= 0) {
                s->leaderless_ns += now - s->leaderless_since;
                sim_trace_fault(sim->trace, s->leaderless_since, now, sim->nodes[leader]->name, "election", s->name);
            }
        }
        s->had_leader = true;
        s->leaderless_since = -1;
        sim_log(sim, "sim", "leader", "stream %s: %s leads", s->name, sim->nodes[leader]->name);
    }
    s->leader = leader;
    sim->wl->last_upheaval_ns = sim_now(sim); /* a new leader adopts the consumers as last committed */
}

void sim_jsc_step(SimJsc *j) {
    if (!j) return;
    Sim *sim = j->sim;
    for (guint k = 0; k < j->streams->len; k++) {
        JscStream *s = g_ptr_array_index(j->streams, k);
        for (int i = 0; i < sim->n_nodes; i++) check_replica(j, s, sim->nodes[i]);
        track_leader(j, s);
    }
}

void sim_jsc_note_ack(SimJsc *j, int node, int64_t now_ns, int64_t lat_ns) {
    if (!j || node < 0 || node >= j->sim->n_nodes) return;
    guint b = (guint)(now_ns / j->bucket_ns);
    if (b < j->acks[node]->len) g_array_append_val((GArray *)g_ptr_array_index(j->acks[node], b), lat_ns);
}

static gint cmp_i64(gconstpointer a, gconstpointer b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void queue_metrics(SimJsc *j);

void sim_jsc_metrics(SimJsc *j) {
    if (!j) return;
    Sim *sim = j->sim;
    double per_s = 1e9 / (double)j->bucket_ns;
    queue_metrics(j);
    for (int i = 0; i < sim->n_nodes; i++) {
        char name[40];
        for (guint b = 0; b < j->acks[i]->len; b++) {
            int64_t t = (int64_t)b * j->bucket_ns;
            if (t >= sim->sc->duration_ns) break;
            GArray *a = g_ptr_array_index(j->acks[i], b);
            g_snprintf(name, sizeof name, "ack_per_s_n%d", i + 1);
            sim_trace_metric(sim->trace, t, name, (double)a->len * per_s);
            if (a->len == 0) continue;
            g_array_sort(a, cmp_i64);
            g_snprintf(name, sizeof name, "ack_p50_n%d_ms", i + 1);
            sim_trace_metric(sim->trace, t, name, (double)g_array_index(a, int64_t, (a->len - 1) / 2) / 1e6);
            g_snprintf(name, sizeof name, "ack_p99_n%d_ms", i + 1);
            sim_trace_metric(sim->trace, t, name,
                             (double)g_array_index(a, int64_t, (guint)((double)(a->len - 1) * 0.99 + 0.5)) / 1e6);
        }
    }
}

/* The queue checker's verdict as metrics rows for lost.png (sim_report.c): queue_class per
 * publish at the time it was sent (value: its QClass, the chart's row), queue_count_<class>
 * and queue_lost_on_nK (acknowledged publishes missing from node K's replica) at time 0. */
static void queue_metrics(SimJsc *j) {
    Sim *sim = j->sim;
    static const char *const names[] = {"ok", "recovered", "unknown", "lost_prefix", "lost_middle", "lost_postfix",
                                        "unexpected", "duplicated"};
    uint64_t count[G_N_ELEMENTS(names)] = {0}, lost_on[SIM_MAX_NODES] = {0};
    bool judged[SIM_MAX_NODES] = {false};
    for (guint k = 0; k < j->streams->len; k++) {
        JscStream *s = g_ptr_array_index(j->streams, k);
        for (guint i = 0; i < s->outcomes->len; i++) {
            const Outcome *o = &g_array_index(s->outcomes, Outcome, i);
            sim_trace_metric(sim->trace, o->sent_ns, "queue_class", (double)o->cls);
            count[o->cls]++;
        }
        count[6] += s->unexpected;
        count[7] += s->duplicated;
        for (int i = 0; i < sim->n_nodes; i++) {
            lost_on[i] += s->lost_on[i];
            judged[i] |= s->judged_nodes[i];
        }
    }
    char name[40];
    for (guint c = 0; c < G_N_ELEMENTS(names); c++) {
        g_snprintf(name, sizeof name, "queue_count_%s", names[c]);
        sim_trace_metric(sim->trace, 0, name, (double)count[c]);
    }
    for (int i = 0; i < sim->n_nodes; i++)
        if (judged[i]) {
            g_snprintf(name, sizeof name, "queue_lost_on_n%d", i + 1);
            sim_trace_metric(sim->trace, 0, name, (double)lost_on[i]);
        }
}

void sim_jsc_totals(const SimJsc *j, SimJscTotals *t) {
    *t = (SimJscTotals){0};
    for (guint k = 0; j && k < j->streams->len; k++) {
        const JscStream *s = g_ptr_array_index(j->streams, k);
        t->ok += s->ok + s->released;
        t->lost += s->lost;
        t->unknown += s->unknown;
        t->recovered += s->recovered;
        t->unexpected += s->unexpected;
        t->duplicated += s->duplicated;
    }
}

int sim_jsc_leader(SimJsc *j) {
    if (!j || j->streams->len == 0) return -1;
    return ((JscStream *)g_ptr_array_index(j->streams, 0))->leader;
}

/* "crash leader" hits whoever leads the first stream now, "crash follower" a live node with a
 * replica that does not lead; "restart leader" / "restart follower" restart the most recent
 * such victim not restarted yet (a stack per role). */
int sim_jsc_fault_target(SimJsc *j, SimFaultKind kind, int role) {
    if (!j || j->streams->len == 0) return -1;
    GArray *v = j->victims[role == SIM_FAULT_NODE_LEADER ? 0 : 1];
    if (kind == SIM_FAULT_RESTART) {
        if (v->len == 0) return -1;
        int n = g_array_index(v, int, v->len - 1);
        g_array_set_size(v, v->len - 1);
        return n;
    }
    Sim *sim = j->sim;
    JscStream *s = g_ptr_array_index(j->streams, 0);
    int count, leader = find_leader(j, s, &count), pick = -1;
    if (role == SIM_FAULT_NODE_LEADER) pick = leader;
    else /* a follower: the first live node hosting a replica that does not lead */
        for (int i = 0; i < sim->n_nodes && pick < 0; i++)
            if (i != leader && replica_store(sim->nodes[i], s->name)) pick = i;
    if (kind == SIM_FAULT_CRASH && pick >= 0) g_array_append_val(v, pick);
    return pick;
}

/* An operator's request, as a client would send it, published into the first live node that
 * is not paused (its reply goes nowhere: the checkers judge what follows, not the answer).
 * js-scale: STREAM.UPDATE of the first js-publisher stream with the publishers' config and
 * another num_replicas; js-peer-remove: STREAM.PEER.REMOVE of `target`. */
void sim_jsc_admin(SimJsc *j, SimFaultKind kind, SimNode *target, int64_t replicas) {
    Sim *sim = j != NULL ? j->sim : NULL;
    const SimClientGroup *g = NULL;
    for (guint i = 0; sim != NULL && i < sim->sc->groups->len && g == NULL; i++) {
        const SimClientGroup *x = g_ptr_array_index(sim->sc->groups, i);
        if (x->kind == SIM_CLIENT_JS_PUBLISHER) g = x;
    }
    SimNode *via = NULL;
    for (int i = 0; g != NULL && i < sim->n_nodes && via == NULL; i++) {
        SimNode *n = sim->nodes[i];
        if (n->up && n->server != NULL && n->busy_until_ns <= sim_now(sim)) via = n;
    }
    if (via == NULL || (kind == SIM_FAULT_JS_PEER_REMOVE && target == NULL)) {
        if (sim != NULL) sim_log(sim, "sim", "fault", "%s: nobody to ask or remove, nothing done", sim_fault_kind_name(kind));
        return;
    }
    g_autofree char *subject = NULL, *body = NULL;
    if (kind == SIM_FAULT_JS_SCALE) {
        subject = g_strdup_printf("$JS.API.STREAM.UPDATE.%s", g->stream);
        body = g_strdup_printf("{\"name\":\"%s\",\"subjects\":[\"%s\"],\"storage\":\"file\",\"num_replicas\":%d,"
                               "\"retention\":\"%s\"}", g->stream, g->subject, (int)replicas,
                               g->retention ? g->retention : "limits");
    } else {
        subject = g_strdup_printf("$JS.API.STREAM.PEER.REMOVE.%s", g->stream);
        body = g_strdup_printf("{\"peer\":\"%s\"}", target->name);
    }
    sim_log(sim, via->name, "admin", "%s %s", subject, body);
    server_publish(via->server, subject, "_SIM.ADMIN", NULL, 0, body, strlen(body));
}

/* ------------------------------------------------------------------ Raft's five properties */

static void on_raft_violation(void *ctx, const char *what) {
    JscGroup *g = ctx;
    SimWorkload *wl = g->j->sim->wl;
    if (g->violations++ < REPORT_MAX && wl)
        sim_workload_violation(wl, false, "raft group %s: %s (t=%.3fs)", g->name, what, (double)sim_now(g->j->sim) / 1e9);
    else if (g->violations == REPORT_MAX + 1 && wl)
        sim_workload_violation(wl, false, "raft group %s: more Raft violations (the rest are counted in summary.txt)", g->name);
}

/* An entry of a broker's Raft group in words, for the Raft checkers' messages: the meta
 * group's JSON, or a stream group's binary ops (src/jscluster.c, "A STREAM GROUP'S LOG"). */
static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static char *describe_entry(GBytes *data) {
    gsize len = 0;
    const uint8_t *p = data ? g_bytes_get_data(data, &len) : NULL;
    if (len == 0) return g_strdup("an empty entry: a new leader's no-op");
    if (p[0] == '{') return g_strdup_printf("meta entry %.*s%s", (int)MIN(len, 60), (const char *)p, len > 60 ? "..." : "");
    if (p[0] == 1 && len >= 19) { /* | 1 | seq | ts | subj_len u16 | subj | hdr_len u32 | hdr | len u32 | payload | */
        size_t sl = le(p + 17, 2), at = 19 + sl;
        if (at + 4 <= len) at += 4 + le(p + at, 4);
        size_t pl = at + 4 <= len ? MIN(le(p + at, 4), len - at - 4) : 0;
        return g_strdup_printf("publish of seq %" G_GUINT64_FORMAT " on %.*s: '%.*s%s'", le(p + 1, 8),
                               (int)MIN(sl, len - 19), (const char *)p + 19, (int)MIN(pl, 16), (const char *)p + at + 4,
                               pl > 16 ? "..." : "");
    }
    if (p[0] == 2 && len >= 3)
        return g_strdup_printf("API request %.*s", (int)MIN(le(p + 1, 2), len - 3), (const char *)p + 3);
    if ((p[0] == 3 || p[0] == 4) && len >= 3)
        return g_strdup_printf("consumer %.*s %s", (int)MIN(le(p + 1, 2), len - 3), (const char *)p + 3,
                               p[0] == 3 ? "record" : "deleted");
    if (p[0] == 5 && len >= 13)
        return g_strdup_printf("retention removes %" G_GUINT64_FORMAT " message(s), from seq %" G_GUINT64_FORMAT,
                               le(p + 1, 4), le(p + 5, 8));
    return g_strdup_printf("%zu bytes, op %u", (size_t)len, p[0]);
}

/* The group a member belongs to, made at its first member's first sight: its possible
 * members are every node of the simulation (PEER.REMOVE and scaling move a group onto
 * servers it did not start on), named after the simulator's nodes (a peer id is a hash of a
 * server name). */
static JscGroup *group_of(SimJsc *j, const Nrg *n) {
    JscGroup *g = g_hash_table_lookup(j->group_by_name, nrg_group(n));
    if (g) return g;
    size_t np = (size_t)j->sim->n_nodes;
    g_assert(np >= 1 && np <= RAFT_CHECKER_MAXN);
    const char *names[RAFT_CHECKER_MAXN];
    uint32_t peers[RAFT_CHECKER_MAXN];
    for (size_t p = 0; p < np; p++) {
        names[p] = j->sim->nodes[p]->name;
        peers[p] = nrg_peer_id(names[p]);
    }
    g = g_new0(JscGroup, 1);
    g->j = j;
    g->name = g_strdup(nrg_group(n));
    g->k = raft_checker_new((int)np, on_raft_violation, g);
    g->k->describe = describe_entry;
    raft_checker_members(g->k, peers, names);
    g_hash_table_insert(j->group_by_name, g->name, g);
    g_ptr_array_add(j->groups, g);
    return g;
}

/* NrgObserveFn: every Ready batch of every member of every group (the meta group and each
 * stream's), so every state anyone could see is judged: log matching and leader append-only
 * on the batch before it is persisted; state machine safety on each applied entry (the first
 * member to apply an index records its term, data hash and chain hash; every other apply,
 * a restarted member's replay included, must match, so the committed logs are byte-identical
 * wherever they are applied); election safety, leader append-only and leader completeness on
 * the member's state after the batch. A member that recovered or installed a snapshot stands
 * at the snapshot's (index, term), compared with what was applied there: a compacted prefix
 * is judged by its last entry. */
void sim_jsc_observe(void *ctx, const Nrg *n, const Raft *r, const RaftReady *rd, NrgObsPhase phase) {
    SimJsc *j = ctx;
    JscGroup *g = group_of(j, n);
    uint32_t id = raft_id(r);
    j->raft_batches++;
    switch (phase) {
    case NRG_OBS_OPEN: /* a (re)started member: no leadership, and the state it recovered */
        raft_checker_restarted(g->k, id);
        raft_checker_restore_at(g->k, id, raft_applied(r), raft_term_at(r, raft_applied(r)));
        break;
    case NRG_OBS_TAKEN:
        raft_checker_ready(g->k, r, rd);
        break;
    case NRG_OBS_DONE:
        if (rd->has_snapshot && rd->install_snapshot)
            raft_checker_restore_at(g->k, id, rd->snapshot.index, rd->snapshot.term);
        for (size_t i = 0; i < rd->n_committed; i++) raft_checker_apply(g->k, id, &rd->committed[i]);
        raft_checker_node(g->k, r);
        break;
    }
}

/* ------------------------------------------------------------------ the queue checker */

/* "J<pub>:<seq>:..." -> the js-publisher and its seq, if the bytes are exactly that publish */
static bool identify(SimWorkload *wl, const uint8_t *data, size_t len, guint *pub, uint64_t *seq) {
    if (!sim_js_payload_known(wl, data, len)) return false;
    char head[48];
    size_t hl = MIN(len, sizeof head - 1);
    memcpy(head, data, hl);
    head[hl] = '\0';
    char *e;
    *pub = (guint)strtoul(head + 1, &e, 10);
    *seq = strtoull(e + 1, NULL, 10);
    return true;
}

/* The end of a retention run: every live replica's removals were acked ones; once faults
 * are over, what was acked in time is gone from every caught-up replica, and those replicas
 * hold the same sequences as the final read (`from`). */
static bool has_seq(Store *st, uint64_t seq) { return store_next_seq(st, NULL, seq) == seq; }

static void judge_retention(SimJsc *j, JscStream *s, int from) {
    Sim *sim = j->sim;
    SimWorkload *wl = sim->wl;
    const SimScenario *sc = sim->sc;
    Store *lead = replica_store(sim->nodes[from], s->name);
    StoreState ls;
    store_state(lead, &ls);
    int64_t pulls_end = sc->duration_ns;
    for (guint i = 0; i < sc->groups->len; i++) {
        const SimClientGroup *g = g_ptr_array_index(sc->groups, i);
        if (g->kind == SIM_CLIENT_JS_CONSUMER && strcmp(g->stream, s->name) == 0 && g->stop_ns)
            pulls_end = MIN(pulls_end, g->stop_ns);
    }
    bool quiet = wl->last_fault_end_ns + sc->settle_ns < sc->duration_ns - sc->grace_ns;
    for (uint64_t seq = 1; seq <= s->hist->len && seq <= ls.last_seq; seq++)
        if (g_ptr_array_index(s->hist, seq - 1) && !has_seq(lead, seq)) s->removed++;
    for (int i = 0; i < sim->n_nodes; i++) {
        Store *st = replica_store(sim->nodes[i], s->name);
        if (!st) continue;
        StoreState o;
        store_state(st, &o);
        /* nothing unacked removed, anywhere */
        for (uint64_t seq = 1; seq <= s->hist->len && seq <= o.last_seq; seq++) {
            if (!g_ptr_array_index(s->hist, seq - 1)) continue;
            if (!has_seq(st, seq)) removal_ok(j, s, sim->nodes[i], seq);
        }
        if (!quiet || o.last_seq != ls.last_seq) continue; /* lagging replicas: the caught-up check's */
        /* what was acked in time is gone; the same sequences as the final read */
        for (uint64_t seq = store_next_seq(st, NULL, 1); seq != 0; seq = store_next_seq(st, NULL, seq + 1)) {
            AckView v = ack_view(j, s, seq);
            bool done = strcmp(s->retention, "workqueue") == 0 ? v.settled > 0 : v.all > 0 && v.settled == v.all;
            if (done && v.last_ns + sc->net.latency_max_ns + 2 * SIM_S < pulls_end && s->kept_acked++ < REPORT_MAX)
                sim_workload_violation(wl, true, "stream %s (%s retention): seq %" G_GUINT64_FORMAT " is still on %s at the"
                                       " end, though consumer %s acked it at %.3fs and faults stopped at %.3fs",
                                       s->name, s->retention, seq, sim->nodes[i]->name, v.by, (double)v.last_ns / 1e9,
                                       (double)wl->last_fault_end_ns / 1e9);
        }
        if (i == from) continue;
        uint64_t a = store_next_seq(lead, NULL, 1), b = store_next_seq(st, NULL, 1);
        while ((a || b) && a == b) a = store_next_seq(lead, NULL, a + 1), b = store_next_seq(st, NULL, b + 1);
        if ((a || b || o.msgs != ls.msgs || o.first_seq != ls.first_seq) && s->state_diverged++ < REPORT_MAX) {
            uint64_t seq = a && (!b || a < b) ? a : b;
            sim_workload_violation(wl, false, "stream %s (%s retention): replicas %s and %s are both at seq %" G_GUINT64_FORMAT
                                   " but hold different messages: seq %" G_GUINT64_FORMAT " is on %s only (%s: first %"
                                   G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " msgs; %s: first %" G_GUINT64_FORMAT ", %"
                                   G_GUINT64_FORMAT " msgs): a removal applied on one and not the other",
                                   s->name, s->retention, sim->nodes[from]->name, sim->nodes[i]->name, ls.last_seq, seq,
                                   seq == a ? sim->nodes[from]->name : sim->nodes[i]->name, sim->nodes[from]->name,
                                   ls.first_seq, ls.msgs, sim->nodes[i]->name, o.first_seq, o.msgs);
        }
    }
}

typedef struct Read {
    uint64_t at;      /* the stream seq it was read at (first) */
    uint32_t times;   /* how often it was stored */
} Read;

static void judge_stream(SimJsc *j, JscStream *s) {
    Sim *sim = j->sim;
    SimWorkload *wl = sim->wl;
    const SimScenario *sc = sim->sc;
    /* the final read: the leader's store; with no leader, the fullest live replica */
    int from = s->leader;
    if (from < 0) {
        int64_t quiet = wl->last_fault_end_ns + sc->settle_ns;
        if (quiet < sc->duration_ns - sc->grace_ns)
            sim_workload_violation(wl, true, "stream %s has no leader at the end, though faults stopped at %.3fs",
                                   s->name, (double)wl->last_fault_end_ns / 1e9);
        uint64_t best = 0;
        for (int i = 0; i < sim->n_nodes; i++) {
            Store *st = replica_store(sim->nodes[i], s->name);
            if (!st) continue;
            StoreState stt;
            store_state(st, &stt);
            if (from < 0 || stt.msgs > best) from = i, best = stt.msgs;
        }
    }
    s->read_from = from;
    Store *store = from >= 0 ? replica_store(sim->nodes[from], s->name) : NULL;
    if (!store) { /* forgotten (Jepsen NATS #6888), or every replica down */
        uint64_t acked = 0;
        for (guint p = 0; p < wl->js_publishers->len; p++) {
            SimClient *pub = g_ptr_array_index(wl->js_publishers, p);
            for (guint k = 0; k < pub->js_log->len && strcmp(pub->g->stream, s->name) == 0; k++)
                acked += g_array_index(pub->js_log, SimJsRec, k).result == SIM_JS_ACK;
        }
        int up = 0;
        for (int i = 0; i < sim->n_nodes; i++) up += sim->nodes[i]->up;
        if (acked > 0 && up * 2 > sim->n_nodes)
            sim_workload_violation(wl, false, "stream %s is forgotten: no live node hosts it at the end, %"
                                   G_GUINT64_FORMAT " acknowledged publishes with it", s->name, acked);
        else
            sim_workload_violation(wl, true, "stream %s: no live replica to read at the end", s->name);
        s->lost = acked;
        return;
    }
    /* every live replica caught up once faults are over (a replica stuck on its own, split
     * brain, or never repaired would stay behind) */
    int64_t quiet = wl->last_fault_end_ns + sc->settle_ns;
    if (s->leader >= 0 && quiet < sc->duration_ns - sc->grace_ns) {
        StoreState lead;
        store_state(store, &lead);
        for (int i = 0; i < sim->n_nodes; i++) {
            Store *st = replica_store(sim->nodes[i], s->name);
            if (!st || i == from) continue;
            StoreState o;
            store_state(st, &o);
            if (o.last_seq != lead.last_seq)
                sim_workload_violation(wl, true, "stream %s: replica %s is at seq %" G_GUINT64_FORMAT ", the leader %s"
                                       " at %" G_GUINT64_FORMAT ", after faults stopped at %.3fs", s->name,
                                       sim->nodes[i]->name, o.last_seq, sim->nodes[from]->name, lead.last_seq,
                                       (double)wl->last_fault_end_ns / 1e9);
        }
    }
    if (retains(s)) judge_retention(j, s, from);
    /* read[pub][seq-1] */
    GPtrArray *reads = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
    for (guint p = 0; p < wl->js_publishers->len; p++) {
        SimClient *pub = g_ptr_array_index(wl->js_publishers, p);
        GArray *a = g_array_new(FALSE, TRUE, sizeof(Read));
        g_array_set_size(a, pub->js_log->len);
        g_ptr_array_add(reads, a);
    }
    uint64_t from_seq = 1;
    for (;;) {
        g_autoptr(GError) err = NULL;
        StoreMsg *m = store_load_next(store, NULL, from_seq, &err);
        if (!m) break;
        from_seq = m->seq + 1;
        guint p;
        uint64_t q;
        if (!identify(wl, m->data, m->data_len, &p, &q)) {
            if (s->unexpected++ < REPORT_MAX)
                sim_workload_violation(wl, false, "stream %s: unexpected: seq %" G_GUINT64_FORMAT " on %s holds '%.16s',"
                                       " which no one sent", s->name, m->seq, sim->nodes[from]->name, (const char *)m->data);
        } else {
            Read *r = &g_array_index((GArray *)g_ptr_array_index(reads, p), Read, q - 1);
            if (r->times++ == 0) r->at = m->seq;
            else if (s->duplicated++ < REPORT_MAX)
                sim_workload_violation(wl, false, "stream %s: duplicated: J%u:%" G_GUINT64_FORMAT " stored at seq %"
                                       G_GUINT64_FORMAT " and again at %" G_GUINT64_FORMAT, s->name, p, q, r->at, m->seq);
        }
        store_msg_unref(m);
    }
    /* consumers' deliveries are reads too */
    for (guint i = 0; i < wl->consumer_logs->len; i++) {
        SimConsumerLog *log = g_ptr_array_index(wl->consumer_logs, i);
        if (strcmp(log->g->stream, s->name) != 0) continue;
        for (guint k = 0; k < log->recs->len; k++) {
            const SimConsumed *c = &g_array_index(log->recs, SimConsumed, k);
            if (!c->deliveries || c->pub >= reads->len) continue;
            GArray *a = g_ptr_array_index(reads, c->pub);
            if (c->pub_seq < 1 || c->pub_seq > a->len) continue;
            Read *r = &g_array_index(a, Read, c->pub_seq - 1);
            if (r->times == 0) r->at = k + 1, r->times = 1;
        }
    }
    /* every publish: ok / lost / unknown / recovered; lost by position among the acked */
    for (guint p = 0; p < wl->js_publishers->len; p++) {
        SimClient *pub = g_ptr_array_index(wl->js_publishers, p);
        if (strcmp(pub->g->stream, s->name) != 0) continue;
        GArray *a = g_ptr_array_index(reads, p);
        guint first_ok = G_MAXUINT, last_ok = 0;
        for (guint k = 0; k < pub->js_log->len; k++) {
            const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, k);
            if (r->result == SIM_JS_ACK && g_array_index(a, Read, k).times) {
                first_ok = MIN(first_ok, k);
                last_ok = k;
            }
        }
        for (guint k = 0; k < pub->js_log->len; k++) {
            const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, k);
            const Read *rd = &g_array_index(a, Read, k);
            if (r->result == SIM_JS_NOT_SENT) continue;
            if (r->result != SIM_JS_ACK) {
                if (rd->times) s->recovered++;
                else s->unknown++;
                outcome(s, r, rd->times ? Q_RECOVERED : Q_UNKNOWN);
                continue;
            }
            if (rd->times) {
                s->ok++;
                outcome(s, r, Q_OK);
                if (rd->at != r->stream_seq && s->misplaced++ < REPORT_MAX)
                    sim_workload_violation(wl, false, "stream %s: %s #%u acked at seq %" G_GUINT64_FORMAT " was read at"
                                           " seq %" G_GUINT64_FORMAT, s->name, pub->name, k + 1, r->stream_seq, rd->at);
                continue;
            }
            if (retains(s) && removal_allowed(j, s, r->stream_seq)) { /* an interest stream with no consumer yet */
                s->released++;
                outcome(s, r, Q_OK);
                continue;
            }
            QClass cls = k < first_ok ? Q_LOST_PREFIX : k > last_ok ? Q_LOST_POSTFIX : Q_LOST_MIDDLE;
            s->lost_prefix += cls == Q_LOST_PREFIX;
            s->lost_middle += cls == Q_LOST_MIDDLE;
            s->lost_postfix += cls == Q_LOST_POSTFIX;
            outcome(s, r, cls);
            if (s->lost++ < REPORT_MAX)
                sim_workload_violation(wl, false, "stream %s: lost: %s #%u was acked at seq %" G_GUINT64_FORMAT
                                       " (%.3fs) and is not in %s's stream, nor was it ever consumed", s->name, pub->name,
                                       k + 1, r->stream_seq, (double)r->complete_ns / 1e9, sim->nodes[from]->name);
        }
    }
    if (s->lost > REPORT_MAX)
        sim_workload_violation(wl, false, "stream %s: %" G_GUINT64_FORMAT " acknowledged publishes lost in all", s->name, s->lost);
    /* per node: what each live replica's own store is missing of the acknowledged */
    for (int i = 0; i < sim->n_nodes; i++) {
        Store *st = replica_store(sim->nodes[i], s->name);
        if (!st) continue;
        s->judged_nodes[i] = true;
        for (guint p = 0; p < wl->js_publishers->len; p++) {
            SimClient *pub = g_ptr_array_index(wl->js_publishers, p);
            if (strcmp(pub->g->stream, s->name) != 0) continue;
            for (guint k = 0; k < pub->js_log->len; k++) {
                const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, k);
                if (r->result != SIM_JS_ACK || (retains(s) && removal_allowed(j, s, r->stream_seq))) continue;
                StoreMsg *m = store_load(st, r->stream_seq, NULL);
                size_t len;
                g_autofree char *want = sim_js_payload(pub, k + 1, &len);
                if (!m || m->data_len != len || memcmp(m->data, want, len) != 0) s->lost_on[i]++;
                if (m) store_msg_unref(m);
            }
        }
    }
    g_ptr_array_unref(reads);
    if (s->leaderless_since >= 0 && s->had_leader) s->leaderless_ns += sim_now(sim) - s->leaderless_since;
    sim_log(sim, "sim", "check", "queue %s (read on %s): ok %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT
            ", unknown %" G_GUINT64_FORMAT ", recovered %" G_GUINT64_FORMAT ", unexpected %" G_GUINT64_FORMAT
            ", duplicated %" G_GUINT64_FORMAT, s->name, sim->nodes[from]->name, s->ok, s->lost, s->unknown,
            s->recovered, s->unexpected, s->duplicated);
}

void sim_jsc_check_end(SimJsc *j) {
    if (!j) return;
    sim_jsc_step(j); /* the last state, checked like every other */
    for (guint k = 0; k < j->streams->len; k++) judge_stream(j, g_ptr_array_index(j->streams, k));
}

char *sim_jsc_summary(SimJsc *j) {
    if (!j) return NULL;
    Sim *sim = j->sim;
    GString *g = g_string_new(NULL);
    uint64_t raft_violations = 0;
    for (guint k = 0; k < j->groups->len; k++)
        raft_violations += ((JscGroup *)g_ptr_array_index(j->groups, k))->violations;
    g_string_append_printf(g, "raft checkers: %u groups (the meta group and the streams'), %" G_GUINT64_FORMAT
                           " Ready batches judged, %" G_GUINT64_FORMAT " violations\n",
                           j->groups->len, j->raft_batches, raft_violations);
    for (guint k = 0; k < j->streams->len; k++) {
        JscStream *s = g_ptr_array_index(j->streams, k);
        g_string_append_printf(g, "queue %-9s R%d, read on %s: ok %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT
                               " (prefix %" G_GUINT64_FORMAT ", middle %" G_GUINT64_FORMAT ", postfix %" G_GUINT64_FORMAT
                               "), unknown %" G_GUINT64_FORMAT ", recovered %" G_GUINT64_FORMAT ", unexpected %"
                               G_GUINT64_FORMAT ", duplicated %" G_GUINT64_FORMAT "\n",
                               s->name, s->replicas, s->read_from >= 0 ? sim->nodes[s->read_from]->name : "-", s->ok,
                               s->lost, s->lost_prefix, s->lost_middle, s->lost_postfix, s->unknown, s->recovered,
                               s->unexpected, s->duplicated);
        g_string_append(g, "  acked missing per replica:");
        for (int i = 0; i < sim->n_nodes; i++)
            if (s->judged_nodes[i]) g_string_append_printf(g, " %s %" G_GUINT64_FORMAT, sim->nodes[i]->name, s->lost_on[i]);
        g_string_append_printf(g, "\n  leader changes %" G_GUINT64_FORMAT ", %.3f s without a leader; replicas compared"
                               " every step: %" G_GUINT64_FORMAT " divergences, %" G_GUINT64_FORMAT " holes\n",
                               s->elections, (double)s->leaderless_ns / 1e9, s->diverged, s->holes);
        if (retains(s))
            g_string_append_printf(g, "  %s retention: %" G_GUINT64_FORMAT " messages removed on the final read's replica;"
                                   " released unread (no consumer then) %" G_GUINT64_FORMAT ", removed unacked %"
                                   G_GUINT64_FORMAT ", acked but kept %" G_GUINT64_FORMAT ", replicas' sequences differ %"
                                   G_GUINT64_FORMAT "\n", s->retention, s->removed, s->released, s->removed_unacked,
                                   s->kept_acked, s->state_diverged);
    }
    return g_string_free(g, FALSE);
}
