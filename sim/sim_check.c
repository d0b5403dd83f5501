/* sim_check.c — after-the-run checkers (see sim_check.h for the list and exit codes).
 *
 * HOW "LOST" IS DECIDED FOR CORE NATS
 *   Core NATS promises at most once: a message can vanish when a connection breaks, and that
 *   is not a bug. So a missing delivery counts as a violation only when nothing excuses it:
 *   the subscriber was connected (handshake done, so its SUB was processed) at the publish
 *   time t and stayed connected until t + grace, the publisher likewise, and t + grace is
 *   inside the run. Any reset, crash or storm in that window breaks a connection and so
 *   excuses the loss; a slow consumer is cut off (its window ends) and is excused, while
 *   every other subscriber must still get everything — that is what "a slow consumer does
 *   not affect the others" means, stated so a program can check it.
 */
#include "sim_check.h"

#include <string.h>

#include "jetstream.h"
#include "route.h"
#include "sim_jscluster.h"
#include "sim_net.h"
#include "sim_raft.h"
#include "sim_scenario.h"
#include "sim_workload.h"
#include "store.h"
#include "stream.h"
#include "sublist.h"

#define SIM_LOST_REPORT_MAX 3 /* examples printed per subscriber/publisher pair */

const char *sim_exit_name(int code) {
    switch (code) {
    case SIM_EXIT_OK: return "ok";
    case SIM_EXIT_SAFETY: return "safety violation";
    case SIM_EXIT_LIVENESS: return "liveness violation";
    case SIM_EXIT_INTERNAL: return "internal error";
    case SIM_EXIT_NONDETERMINISM: return "nondeterminism";
    case SIM_EXIT_USAGE: return "usage";
    default: return "?";
    }
}

static bool up_during(const SimClient *c, int64_t from, int64_t to) {
    for (guint i = 0; i < c->windows->len; i++) {
        const SimWindow *w = &g_array_index(c->windows, SimWindow, i);
        if (w->from_ns <= from && w->to_ns >= to) return true;
    }
    return false;
}

static bool up_at(const SimClient *c, int64_t t) { return up_during(c, t, t); }

/* The node c was connected to throughout [from, to] (one window), or -1. */
static int node_during(const SimClient *c, int64_t from, int64_t to) {
    for (guint i = 0; i < c->windows->len; i++) {
        const SimWindow *w = &g_array_index(c->windows, SimWindow, i);
        if (w->from_ns <= from && w->to_ns >= to) return w->node;
    }
    return -1;
}

/* Does member c owe publish (t .. t2) of a publisher on node pn? On the same node: if it was
 * connected throughout, as on one server. Across a route: its SUB must have had time to
 * propagate (connected since t - grace on one node) and the two nodes must not have been
 * cut apart meanwhile; a crash on either side ends a window and so excuses the loss. */
static bool owes(const Sim *sim, const SimClient *c, int pn, int64_t t, int64_t t2) {
    int cn = node_during(c, t, t2);
    if (cn < 0) return false;
    if (cn == pn) return true;
    int64_t since = t - sim->sc->grace_ns;
    return node_during(c, since, t2) == cn && !sim_net_cut_during(sim->net, cn, pn, since, t2);
}

static bool seen(const SimClient *c, guint pub, uint64_t seq) {
    const GByteArray *b = g_ptr_array_index(c->seen, pub);
    return seq / 8 < b->len && (b->data[seq / 8] & (1u << (seq % 8)));
}

/* The subscribers that share one delivery obligation: a plain subscriber alone, or every
 * member of a queue group (same group section and queue name). */
static void check_completeness(SimWorkload *wl) {
    const SimScenario *s = wl->sim->sc;
    int64_t end = s->duration_ns;
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *sub = g_ptr_array_index(wl->clients, i);
        if (sub->g->kind != SIM_CLIENT_SUBSCRIBER || sub->g->expect_slow) continue;
        bool queued = sub->g->queue != NULL;
        if (queued && !(i == 0 || ((SimClient *)g_ptr_array_index(wl->clients, i - 1))->g != sub->g)) continue;
        /* members: sub alone, or the whole group (consecutive in wl->clients) */
        guint first = i, last = i;
        if (queued)
            while (last + 1 < wl->clients->len && ((SimClient *)g_ptr_array_index(wl->clients, last + 1))->g == sub->g) last++;
        for (guint p = 0; p < wl->publishers->len; p++) {
            SimClient *pub = g_ptr_array_index(wl->publishers, p);
            if (!subject_matches_pattern(sub->g->subject, pub->g->subject)) continue;
            uint64_t lost = 0, dups = 0;
            for (guint k = 0; k < pub->pubs->len; k++) {
                const SimPubRec *r = &g_array_index(pub->pubs, SimPubRec, k);
                uint64_t seq = k + 1;
                int64_t t = r->invoke_ns, t2 = t + s->grace_ns;
                int pn = node_during(pub, t, t2);
                if (!r->sent || t2 > end || pn < 0) continue;
                int got = 0;
                bool owed = false, excused = false;
                for (guint m = first; m <= last; m++) {
                    SimClient *c = g_ptr_array_index(wl->clients, m);
                    if (seen(c, p, seq)) got++;
                    if (owes(wl->sim, c, pn, t, t2)) owed = true;
                    else if (up_at(c, t)) excused = true; /* a member dropped: it may have held it */
                }
                if (got > 1) {
                    if (dups++ < SIM_LOST_REPORT_MAX)
                        sim_workload_violation(wl, false, "queue group %s got %s #%" G_GUINT64_FORMAT " %d times",
                                               sub->g->name, pub->name, seq, got);
                }
                if (got == 0 && owed && !excused) {
                    if (lost++ < SIM_LOST_REPORT_MAX)
                        sim_workload_violation(wl, false, "%s never received %s #%" G_GUINT64_FORMAT
                                               " (published at %.3fs; both stayed connected for %.1fs)",
                                               queued ? sub->g->name : sub->name, pub->name, seq,
                                               (double)t / 1e9, (double)s->grace_ns / 1e9);
                }
            }
            if (lost > SIM_LOST_REPORT_MAX)
                sim_workload_violation(wl, false, "%s lost %" G_GUINT64_FORMAT " messages of %s in all",
                                       queued ? sub->g->name : sub->name, lost, pub->name);
        }
    }
}

static void check_slow_consumers(SimWorkload *wl) {
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *c = g_ptr_array_index(wl->clients, i);
        uint64_t cut = c->slow_cuts + c->server_closes;
        if (c->g->expect_slow && cut == 0)
            sim_workload_violation(wl, false, "%s reads slowly but was never cut off as a slow consumer", c->name);
        /* without faults, nothing but slowness justifies the server hanging up on a client */
        if (!c->g->expect_slow && cut > 0 && wl->last_fault_end_ns == 0)
            sim_workload_violation(wl, false, "%s was cut off by the server though it reads at full speed"
                                   " and no fault happened", c->name);
    }
}

static void check_js_liveness(SimWorkload *wl, int64_t quiet, int64_t stop);

static void check_liveness(SimWorkload *wl) {
    Sim *sim = wl->sim;
    const SimScenario *s = sim->sc;
    int64_t quiet = wl->last_fault_end_ns + s->settle_ns;
    int64_t stop = s->duration_ns - s->drain_ns;
    if (quiet >= stop - s->grace_ns) {
        sim_log(sim, "sim", "check", "liveness not judged: faults last until %.3fs, too close to the end",
                (double)wl->last_fault_end_ns / 1e9);
        return;
    }
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *c = g_ptr_array_index(wl->clients, i);
        if (c->g->expect_slow || c->g->cycle_ns > 0) continue;
        if (c->g->start_ns >= stop) continue;
        if (!up_at(c, stop)) {
            sim_workload_violation(wl, true, "%s is not connected at %.3fs, though faults stopped at %.3fs",
                                   c->name, (double)stop / 1e9, (double)wl->last_fault_end_ns / 1e9);
            continue;
        }
        if (c->g->kind == SIM_CLIENT_PUBLISHER) {
            bool any = false;
            for (guint k = 0; k < c->pubs->len && !any; k++) {
                const SimPubRec *r = &g_array_index(c->pubs, SimPubRec, k);
                any = r->sent && r->invoke_ns >= quiet;
            }
            if (!any) sim_workload_violation(wl, true, "%s published nothing after faults stopped", c->name);
        }
        if (c->g->kind == SIM_CLIENT_JS_PUBLISHER || c->g->kind == SIM_CLIENT_JS_CONSUMER) continue; /* judged below */
        if (c->g->kind == SIM_CLIENT_REQUESTER) {
            uint64_t bad = 0, ok = 0;
            for (guint k = 0; k < c->req_log->len; k++) {
                const SimReqRec *r = &g_array_index(c->req_log, SimReqRec, k);
                if (r->invoke_ns < quiet || r->invoke_ns > stop - c->g->timeout_ns) continue;
                if (r->result == SIM_REQ_OK) ok++;
                else bad++;
            }
            if (bad > 0 || ok == 0)
                sim_workload_violation(wl, true, "%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                       " requests failed after faults stopped", c->name, bad, bad + ok);
        }
    }
    check_js_liveness(wl, quiet, stop);
}

/* ============================================================================================
 * JETSTREAM: NO ACKNOWLEDGED PUBLISH LOST OR ALTERED
 *
 *   A PubAck {"seq": N} is a promise: the message is in the stream at N and survives a
 *   crash. After the run we open the stream on the node (white-box: through the same Store
 *   API the server uses, as its recovery left it) and hold it to every promise:
 *     - every acked message is present at its acked seq, subject and payload byte-exact;
 *     - every stored message is something a js-publisher really sent (no phantoms, no
 *       silently altered bytes), and no publish is stored twice;
 *     - no two acks name the same seq.
 *   A lost ack is excused only on a node whose disk rotted at rest (a lone copy can be
 *   destroyed; the store must then drop it, never serve it altered).
 * ============================================================================================
 */
static void check_jetstream(SimWorkload *wl) {
    Sim *sim = wl->sim;
    for (guint i = 0; i < wl->js_publishers->len; i++) {
        SimClient *pub = g_ptr_array_index(wl->js_publishers, i);
        SimNode *node = sim->nodes[pub->node];
        if (!node->up) {
            sim_workload_violation(wl, true, "%s: node %s is down at the end: its stream cannot be checked",
                                   pub->name, node->name);
            continue;
        }
        JetStream *js = node->js;
        Stream *st = js ? jetstream_lookup(js, pub->g->stream) : NULL;
        Store *store = st ? stream_store(st) : NULL;
        uint64_t lost = 0, excused = 0;
        for (guint k = 0; k < pub->js_log->len; k++) {
            const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, k);
            if (r->result != SIM_JS_ACK) continue;
            g_autoptr(GError) err = NULL;
            StoreMsg *m = store ? store_load(store, r->stream_seq, &err) : NULL;
            size_t len;
            g_autofree char *want = sim_js_payload(pub, k + 1, &len);
            bool same = m && m->data_len == len && memcmp(m->data, want, len) == 0 &&
                        strcmp(m->subject, pub->g->subject) == 0;
            if (!same) {
                /* gone, or its seq now holds another real publish (reused): a loss; anything
                 * else at that seq is data no one wrote: altered */
                bool reused = m && sim_js_payload_known(wl, m->data, m->data_len);
                if (node->corrupted && (!m || reused)) excused++;
                else if (lost++ < SIM_LOST_REPORT_MAX)
                    sim_workload_violation(wl, false, "%s #%u acked at %s seq %" G_GUINT64_FORMAT " (%.3fs) is %s",
                                           pub->name, k + 1, pub->g->stream, r->stream_seq, (double)r->complete_ns / 1e9,
                                           reused ? "lost (its seq now holds another publish)"
                                           : m ? "altered" : err ? err->message : "lost");
            }
            if (m) store_msg_unref(m);
        }
        if (lost > SIM_LOST_REPORT_MAX)
            sim_workload_violation(wl, false, "%s: %" G_GUINT64_FORMAT " acknowledged messages lost or altered in all",
                                   pub->name, lost);
        if (excused)
            sim_log(sim, "sim", "check", "%s: %" G_GUINT64_FORMAT " acked messages lost to disk rot on %s (excused: one copy)",
                    pub->name, excused, node->name);
    }
    /* the stored side: only real publishes, each once; acks name distinct seqs */
    for (guint i = 0; i < wl->js_publishers->len; i++) {
        SimClient *pub = g_ptr_array_index(wl->js_publishers, i);
        SimNode *node = sim->nodes[pub->node];
        bool first_of_stream = true;
        for (guint j = 0; j < i; j++) {
            SimClient *o = g_ptr_array_index(wl->js_publishers, j);
            if (o->node == pub->node && strcmp(o->g->stream, pub->g->stream) == 0) first_of_stream = false;
        }
        if (!first_of_stream || !node->up || !node->js) continue;
        Stream *st = jetstream_lookup(node->js, pub->g->stream);
        if (!st) continue;
        Store *store = stream_store(st);
        GHashTable *stored = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        uint64_t from = 1, bad = 0;
        for (;;) {
            g_autoptr(GError) err = NULL;
            StoreMsg *m = store_load_next(store, NULL, from, &err);
            if (!m) break;
            from = m->seq + 1;
            char head[48];
            size_t hl = MIN(m->data_len, sizeof head - 1);
            memcpy(head, m->data, hl);
            head[hl] = '\0';
            char *colon = strchr(head, ':');
            colon = colon ? strchr(colon + 1, ':') : NULL;
            if (colon) *colon = '\0';
            if (!sim_js_payload_known(wl, m->data, m->data_len)) {
                if (bad++ < SIM_LOST_REPORT_MAX)
                    sim_workload_violation(wl, false, "stream %s seq %" G_GUINT64_FORMAT " holds data no one published ('%s')",
                                           pub->g->stream, m->seq, head);
            } else if (!g_hash_table_add(stored, g_strdup(head)))
                sim_workload_violation(wl, false, "stream %s holds %s twice (again at seq %" G_GUINT64_FORMAT ")",
                                       pub->g->stream, head, m->seq);
            store_msg_unref(m);
        }
        sim_log(sim, "sim", "check", "stream %s on %s: %u messages verified", pub->g->stream, node->name,
                g_hash_table_size(stored));
        g_hash_table_destroy(stored);
    }
    GHashTable *acked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    uint64_t twice = 0;
    for (guint i = 0; i < wl->js_publishers->len; i++) {
        SimClient *pub = g_ptr_array_index(wl->js_publishers, i);
        for (guint k = 0; k < pub->js_log->len; k++) {
            const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, k);
            if (r->result != SIM_JS_ACK) continue;
            char *key = g_strdup_printf("%s@%d/%" G_GUINT64_FORMAT, pub->g->stream, pub->node, r->stream_seq);
            if (!g_hash_table_add(acked, key) && twice++ < SIM_LOST_REPORT_MAX)
                sim_workload_violation(wl, false, "two publishes were both acked at %s (stream@node/seq)", key);
        }
    }
    if (twice > SIM_LOST_REPORT_MAX)
        sim_workload_violation(wl, false, "%" G_GUINT64_FORMAT " sequence numbers were acknowledged twice in all", twice);
    g_hash_table_destroy(acked);
}

/* ============================================================================================
 * CONSUMERS: AT LEAST ONCE, AT THE RIGHT SEQUENCE
 *
 *   For a durable pull consumer with explicit acks: every publish acknowledged at seq N on
 *   its stream must reach the group at least once, carrying the message acked at N (on an
 *   interest stream: every one published after the group's create was answered). If the
 *   group has already received something later than N, skipping N is a safety violation
 *   (the consumer moved past it); if not, the consumer merely fell behind: liveness. A
 *   delivery we deliberately left unacked must come back (after ack_wait). The online
 *   checks in sim_jsconsumer.c add: never redelivered after an ack or before ack_wait (in
 *   runs without faults), nothing delivered that no one published.
 * ============================================================================================
 */
static void check_consumers(SimWorkload *wl) {
    Sim *sim = wl->sim;
    const SimScenario *s = sim->sc;
    int64_t stop = s->duration_ns - s->drain_ns;
    for (guint i = 0; i < wl->consumer_logs->len; i++) {
        SimConsumerLog *log = g_ptr_array_index(wl->consumer_logs, i);
        const SimClientGroup *g = log->g;
        uint64_t max_seen = 0, skipped = 0, behind = 0, wrong = 0, unredelivered = 0;
        for (guint k = 0; k < log->recs->len; k++)
            if (g_array_index(log->recs, SimConsumed, k).deliveries) max_seen = k + 1;
        for (guint p = 0; p < wl->js_publishers->len; p++) {
            SimClient *pub = g_ptr_array_index(wl->js_publishers, p);
            if (strcmp(pub->g->stream, g->stream) != 0 || !subject_matches_pattern(g->subject, pub->g->subject)) continue;
            bool rotten = sim->nodes[pub->node]->corrupted;
            /* an interest stream keeps a message only for the consumers it has when it is stored */
            bool interest = pub->g->retention && strcmp(pub->g->retention, "interest") == 0;
            for (guint k = 0; k < pub->js_log->len; k++) {
                const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, k);
                if (r->result != SIM_JS_ACK || r->complete_ns > stop - s->grace_ns) continue;
                if (interest && (!log->created_ns || log->created_ns >= r->invoke_ns)) continue;
                uint64_t seq = r->stream_seq;
                const SimConsumed *c = seq <= log->recs->len ? &g_array_index(log->recs, SimConsumed, seq - 1) : NULL;
                if (!c || c->deliveries == 0) {
                    if (rotten) continue;
                    if (max_seen > seq) {
                        if (skipped++ < SIM_LOST_REPORT_MAX)
                            sim_workload_violation(wl, false, "consumer %s skipped %s seq %" G_GUINT64_FORMAT
                                                   " (acked to %s #%u), though it received seq %" G_GUINT64_FORMAT,
                                                   g->name, g->stream, seq, pub->name, k + 1, max_seen);
                    } else if (behind++ == 0)
                        sim_workload_violation(wl, true, "consumer %s never reached %s seq %" G_GUINT64_FORMAT
                                               " (acked at %.3fs)", g->name, g->stream, seq, (double)r->complete_ns / 1e9);
                } else if ((c->pub != (uint32_t)pub->role_index || c->pub_seq != k + 1) && !rotten &&
                           wrong++ < SIM_LOST_REPORT_MAX)
                    sim_workload_violation(wl, false, "consumer %s got J%u:%" G_GUINT64_FORMAT " at %s seq %" G_GUINT64_FORMAT
                                           ", which was acked to %s #%u", g->name, c->pub, c->pub_seq, g->stream, seq,
                                           pub->name, k + 1);
            }
        }
        for (guint k = 0; k < log->recs->len; k++) {
            const SimConsumed *c = &g_array_index(log->recs, SimConsumed, k);
            /* never acked, and its last delivery (left unacked) was not followed by another */
            if (!c->acked && c->unacked_ns && c->unacked_ns + g->ack_wait_ns + s->grace_ns < (g->stop_ns ? g->stop_ns : s->duration_ns) &&
                unredelivered++ < SIM_LOST_REPORT_MAX)
                sim_workload_violation(wl, true, "consumer %s: seq %u left unacked at %.3fs was never delivered again"
                                       " (redelivery after ack_wait expected)", g->name, k + 1, (double)c->unacked_ns / 1e9);
        }
        if (skipped > SIM_LOST_REPORT_MAX)
            sim_workload_violation(wl, false, "consumer %s skipped %" G_GUINT64_FORMAT " acked messages in all", g->name, skipped);
        uint64_t total = 0, redelivered = 0;
        for (guint k = 0; k < log->recs->len; k++) {
            const SimConsumed *c = &g_array_index(log->recs, SimConsumed, k);
            total += c->deliveries > 0;
            redelivered += c->deliveries > 1;
        }
        sim_log(sim, "sim", "check", "consumer %s: %" G_GUINT64_FORMAT " sequences received, %" G_GUINT64_FORMAT
                " more than once", g->name, total, redelivered);
    }
}

/* Whatever the faults, a JetStream publisher that made a fair number of attempts got some of
 * them acknowledged: a broker that never answers loses nothing acked, so the queue checker
 * alone would pass it (and a scenario whose faults last to the end is not judged above). */
static void check_js_served(SimWorkload *wl) {
    for (guint i = 0; i < wl->js_publishers->len; i++) {
        SimClient *pub = g_ptr_array_index(wl->js_publishers, i);
        uint64_t ok = 0;
        for (guint k = 0; k < pub->js_log->len; k++) ok += g_array_index(pub->js_log, SimJsRec, k).result == SIM_JS_ACK;
        if (ok == 0 && pub->js_log->len >= 10)
            sim_workload_violation(wl, true, "%s: none of %u publishes was acknowledged in the whole run", pub->name,
                                   pub->js_log->len);
    }
}

/* Once faults stopped and the cluster settled (quiet), every publish a publisher makes is
 * acknowledged: none sent from one timeout after quiet fails (one sent earlier may have met
 * the last election), and at least one sent after quiet got its PubAck. The failures'
 * window can be a few milliseconds when the faults end late; the acknowledged one is looked
 * for from quiet on, or a publisher whose rhythm missed that short window would be judged
 * on nothing ("0 of 0", failover-scale-random seed 224). */
static void check_js_liveness(SimWorkload *wl, int64_t quiet, int64_t stop) {
    for (guint i = 0; i < wl->js_publishers->len; i++) {
        SimClient *pub = g_ptr_array_index(wl->js_publishers, i);
        uint64_t ok = 0, bad = 0;
        for (guint k = 0; k < pub->js_log->len; k++) {
            const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, k);
            if (r->invoke_ns < quiet || r->invoke_ns > stop - pub->g->timeout_ns) continue;
            if (r->result == SIM_JS_ACK) ok++;
            else if (r->invoke_ns >= quiet + pub->g->timeout_ns) bad++;
        }
        if (quiet + 2 * pub->g->timeout_ns >= stop) continue; /* no window left to judge in */
        if (bad > 0 || ok == 0)
            sim_workload_violation(wl, true, "%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                   " publishes not acknowledged after faults stopped", pub->name, bad, bad + ok);
    }
}

/* ============================================================================================
 * CLUSTERS: INTEREST CONVERGES
 *
 *   Once faults have stopped and the cluster has settled, every node must know exactly the
 *   interest of every other node it can reach: for each pair of live, connected nodes X and
 *   Y, X has one route to Y, and the interest Y announced on it (route-learned, the RS+ that
 *   X holds) equals Y's local interest. A forgotten RS-, an RS+ never replayed on a new
 *   route or interest left behind by a dead route all show up here as a set difference.
 * ============================================================================================
 */
static void check_convergence(SimWorkload *wl) {
    Sim *sim = wl->sim;
    const SimScenario *s = sim->sc;
    if (sim->n_nodes < 2 || sim->raft || sim->stopped) return;
    int64_t quiet = wl->last_fault_end_ns + s->settle_ns;
    if (quiet >= s->duration_ns) {
        sim_log(sim, "sim", "check", "convergence not judged: faults last until %.3fs", (double)wl->last_fault_end_ns / 1e9);
        return;
    }
    int judged = 0;
    for (int x = 0; x < sim->n_nodes; x++) {
        SimNode *nx = sim->nodes[x];
        if (!nx->up || !nx->cluster) continue;
        GArray *routes = cluster_route_list(nx->cluster);
        for (int y = 0; y < sim->n_nodes; y++) {
            SimNode *ny = sim->nodes[y];
            if (y == x || !ny->up || !ny->cluster || sim_net_cut_during(sim->net, x, y, quiet, s->duration_ns)) continue;
            const ClusterRouteInfo *ri = NULL;
            for (guint k = 0; k < routes->len; k++)
                if (!g_strcmp0(g_array_index(routes, ClusterRouteInfo, k).remote_name, ny->name))
                    ri = &g_array_index(routes, ClusterRouteInfo, k);
            if (!ri) {
                sim_workload_violation(wl, true, "%s has no route to %s after the cluster settled", nx->name, ny->name);
                continue;
            }
            g_auto(GStrv) learned = cluster_route_interest(nx->cluster, ri->rid);
            g_auto(GStrv) local = cluster_local_interest(ny->cluster);
            judged++;
            for (char **l = local; *l; l++)
                if (!g_strv_contains((const char *const *)learned, *l))
                    sim_workload_violation(wl, false, "interest did not converge: %s has '%s' but %s never learned it",
                                           ny->name, *l, nx->name);
            for (char **l = learned; *l; l++)
                if (!g_strv_contains((const char *const *)local, *l))
                    sim_workload_violation(wl, false, "interest did not converge: %s still holds '%s' from %s,"
                                           " which has no such subscription", nx->name, *l, ny->name);
        }
        g_array_unref(routes);
    }
    sim_log(sim, "sim", "check", "convergence: %d node pairs compared", judged);
}

int sim_check_all(Sim *sim) {
    SimWorkload *wl = sim->wl;
    if (sim->jsc) sim_jsc_check_end(sim->jsc); /* clustered: the queue checker over the replicas */
    else check_jetstream(wl);                  /* one node: its own store */
    check_consumers(wl);
    check_completeness(wl);
    check_convergence(wl);
    check_js_served(wl);
    check_slow_consumers(wl);
    check_liveness(wl);
    if (sim->raft) sim_raft_check_end(sim->raft);
    int code = SIM_EXIT_OK;
    for (guint i = 0; i < wl->violations->len; i++) {
        SimViolation *v = g_ptr_array_index(wl->violations, i);
        if (!v->liveness) code = SIM_EXIT_SAFETY;
        else if (code == SIM_EXIT_OK) code = SIM_EXIT_LIVENESS;
    }
    sim_log(sim, "sim", "check", "verdict %s: %u violations", sim_exit_name(code), wl->violations->len);
    return code;
}
