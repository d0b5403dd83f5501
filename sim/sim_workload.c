/* sim_workload.c — simulated clients driving the broker (see sim_workload.h).
 *
 * Each SimClient wraps one sans-IO Client (src/client/client.c) and one simulated connection. The
 * glue is three lines of plumbing repeated everywhere: bytes from the connection go to
 * client_feed, callbacks record what happened, and client_output goes back to the
 * connection (pump). Behaviour per kind:
 *   publisher   every 1/rate: PUB <subject> "<pub>:<seq>:<t>:" padded to size
 *   subscriber  SUB <subject> [queue]; checks every delivery against the publish log online
 *               (phantom, duplicate, out of order) and records latency
 *   requester   every 1/rate: a request with a timeout; the answer must echo the request
 *   responder   SUB <subject> [queue]; answers each request with its own payload
 * Every client reconnects after a seeded random backoff when its connection breaks, and
 * re-subscribes (the Client does that after INFO). A group with `cycle` drops and re-dials
 * all its members on the same tick: a reconnect storm.
 */
#include "sim_workload.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim_net.h"

static void req_done(SimClient *sc, int64_t invoke, int64_t complete, SimReqResult r) {
    SimReqRec rec = {invoke, complete, r};
    g_array_append_val(sc->req_log, rec);
}

static void req_free(gpointer p) {
    SimReq *r = p;
    g_free(r->payload);
    g_free(r);
}

void sim_workload_violation(SimWorkload *wl, bool liveness, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    SimViolation *v = g_new0(SimViolation, 1);
    v->liveness = liveness;
    v->what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(wl->violations, v);
    if (wl->sim->sc->cluster_bug && !liveness) wl->sim->stopped = true; /* a broken route rule may flood */
    sim_log(wl->sim, "sim", "check", "%s violation: %s", liveness ? "liveness" : "safety", v->what);
}

void sim_workload_note_fault(SimWorkload *wl, int64_t end_ns) {
    wl->last_fault_end_ns = MAX(wl->last_fault_end_ns, end_ns);
}

static size_t bucket_of(SimWorkload *wl, int64_t t) { return (size_t)(t / wl->bucket_ns); }

void sim_workload_count(SimWorkload *wl, GArray *counts, int64_t t) {
    size_t b = bucket_of(wl, t);
    if (b < counts->len) g_array_index(counts, uint64_t, b)++;
}

void sim_workload_sample(SimWorkload *wl, GPtrArray *buckets, int64_t t, int64_t v) {
    size_t b = bucket_of(wl, t);
    if (b < buckets->len) g_array_append_val((GArray *)g_ptr_array_index(buckets, b), v);
}

/* A publish sent or a message received: counted for the run and for the client's node. */
static void count_at_node(SimClient *sc, bool msg, int64_t t) {
    SimWorkload *wl = sc->wl;
    sim_workload_count(wl, msg ? wl->msg_count : wl->pub_count, t);
    sim_workload_count(wl, (msg ? wl->node_msg_count : wl->node_pub_count)[sc->node], t);
}

int64_t sim_client_stop(SimClient *sc) {
    const SimScenario *s = sc->wl->sim->sc;
    return sc->g->stop_ns ? sc->g->stop_ns : s->duration_ns - s->drain_ns;
}

/* --- plumbing --- */

void sim_client_pump(SimClient *sc) {
    size_t n;
    const uint8_t *out = client_output(sc->c, &n);
    if (n == 0) return;
    if (sc->conn) sim_net_client_send(sc->conn, out, n);
    client_output_consume(sc->c, n);
}

static void dial(SimClient *sc);

static void reconnect_event(void *ctx, void *a, uint64_t gen) {
    SimClient *sc = a;
    if (gen != sc->generation) return;
    sc->reconnects++;
    dial(sc);
}

static void connection_lost(SimClient *sc, const char *why) {
    Sim *sim = sc->wl->sim;
    if (sc->ready) {
        g_array_index(sc->windows, SimWindow, sc->windows->len - 1).to_ns = sim_now(sim);
        sc->ready = false;
    }
    sc->conn = NULL;
    client_reset(sc->c); /* fails pending requests (on_reply DISCONNECTED) */
    sc->generation++;
    const SimScenario *s = sim->sc;
    if (sim->n_nodes > 1) { /* a cluster: try the next server of the list, as nats.js does */
        sc->server_pos = (sc->server_pos + 1) % sim->n_nodes;
        sc->node = sc->servers[sc->server_pos];
    }
    int64_t backoff = rng_range(&sim->wl_rng, s->reconnect_min_ns, s->reconnect_max_ns);
    sim_after(sim, backoff, reconnect_event, sc, sc->generation);
}

static void end_open(void *ctx) {}

static void end_bytes(void *ctx, const uint8_t *data, size_t len) {
    SimClient *sc = ctx;
    g_autoptr(GError) error = NULL;
    if (!client_feed(sc->c, data, len, &error)) {
        sim_workload_violation(sc->wl, false, "%s: bad bytes from the server: %s", sc->name, error->message);
        SimConn *c = sc->conn;
        connection_lost(sc, "protocol error");
        sim_net_client_close(c);
        return;
    }
    sim_client_pump(sc);
}

static void end_closed(void *ctx, const char *why) {
    SimClient *sc = ctx;
    if (strcmp(why, "closed by server") == 0) sc->server_closes++;
    connection_lost(sc, why);
}

static const SimConnEnd client_end = {end_open, end_bytes, end_closed};

static void dial(SimClient *sc) {
    Sim *sim = sc->wl->sim;
    sc->conn = sim_net_dial(sim->net, sim->nodes[sc->node], sc->name, &client_end, sc);
    if (sc->g->read_rate_bps) sim_net_set_read_rate(sc->conn, sc->g->read_rate_bps);
}

/* --- callbacks from the Client --- */

static void on_connected(void *ctx) {
    SimClient *sc = ctx;
    Sim *sim = sc->wl->sim;
    sc->ready = true;
    SimWindow w = {sim_now(sim), INT64_MAX, sc->node};
    g_array_append_val(sc->windows, w);
    sim_log(sim, "cli", "ready", "%s on %s", sc->name, sim->nodes[sc->node]->name);
    if (sc->g->kind == SIM_CLIENT_JS_PUBLISHER) sim_js_connected(sc);
    if (sc->g->kind == SIM_CLIENT_JS_CONSUMER) sim_jsc_connected(sc);
}

static void on_error(void *ctx, const char *text) {
    SimClient *sc = ctx;
    sim_log(sc->wl->sim, "cli", "err", "%s -ERR '%s'", sc->name, text);
    if (strstr(text, "Slow Consumer")) sc->slow_cuts++;
}

static void check_delivery(SimClient *sc, const ClientMsg *m) {
    SimWorkload *wl = sc->wl;
    Sim *sim = wl->sim;
    char head[64];
    size_t hl = MIN(m->payload_len, sizeof head - 1);
    memcpy(head, m->payload, hl);
    head[hl] = '\0';
    if (head[0] == 'J') { /* a JetStream publish seen on the bus: it must have been sent */
        if (!sim_js_payload_known(wl, m->payload, m->payload_len)) {
            sim_workload_violation(wl, false, "%s received a message never published: %.*s '%s'", sc->name,
                                   (int)m->subject_len, m->subject, head);
            return;
        }
        const char *c2 = strchr(strchr(head, ':') + 1, ':'); /* known: "J<p>:<seq>:<t>:" */
        int64_t tj = strtoll(c2 + 1, NULL, 10), now = sim_now(sim);
        sc->delivered++;
        count_at_node(sc, true, now);
        sim_workload_sample(wl, wl->lat_buckets, now, now - tj);
        return;
    }
    char *e1, *e2, *e3;
    uint64_t p = strtoull(head, &e1, 10);
    uint64_t seq = *e1 == ':' ? strtoull(e1 + 1, &e2, 10) : 0;
    int64_t t = seq && *e2 == ':' ? strtoll(e2 + 1, &e3, 10) : -1;
    SimClient *pub = p < wl->publishers->len ? g_ptr_array_index(wl->publishers, p) : NULL;
    SimPubRec *rec = pub && seq >= 1 && seq <= pub->pubs->len ? &g_array_index(pub->pubs, SimPubRec, seq - 1) : NULL;
    if (!rec || !rec->sent || rec->invoke_ns != t || m->payload_len != pub->g->size_bytes ||
        m->subject_len != strlen(pub->g->subject) || memcmp(m->subject, pub->g->subject, m->subject_len) != 0) {
        sim_workload_violation(wl, false, "%s received a message never published: %.*s '%s'", sc->name,
                               (int)m->subject_len, m->subject, head);
        return;
    }
    GByteArray *bits = g_ptr_array_index(sc->seen, p);
    if (bits->len < seq / 8 + 1) {
        guint old = bits->len;
        g_byte_array_set_size(bits, (guint)(seq / 8 + 64));
        memset(bits->data + old, 0, bits->len - old);
    }
    uint64_t *last = &g_array_index(sc->last_seq, uint64_t, p);
    if (bits->data[seq / 8] & (1u << (seq % 8)))
        sim_workload_violation(wl, false, "%s received %s #%" G_GUINT64_FORMAT " twice", sc->name, pub->name, seq);
    else if (seq < *last)
        sim_workload_violation(wl, false, "%s received %s #%" G_GUINT64_FORMAT " after #%" G_GUINT64_FORMAT
                               " (order)", sc->name, pub->name, seq, *last);
    bits->data[seq / 8] |= (uint8_t)(1u << (seq % 8));
    if (seq > *last) *last = seq;
    sc->delivered++;
    int64_t now = sim_now(sim);
    SimDetail d = {0}; /* "<sub> got <pub> #<seq> after <n>us", without printf: a hot event */
    sim_detail_str(&d, sc->name);
    sim_detail_str(&d, " got ");
    sim_detail_str(&d, pub->name);
    sim_detail_str(&d, " #");
    sim_detail_u64(&d, seq);
    sim_detail_str(&d, " after ");
    sim_detail_u64(&d, (uint64_t)((now - t) / SIM_US));
    sim_detail_str(&d, "us");
    sim_trace_event_raw(sim->trace, now, "cli", "msg", d.buf, d.len);
    count_at_node(sc, true, now);
    sim_workload_sample(wl, wl->lat_buckets, now, now - t);
}

static void on_msg(void *ctx, const ClientMsg *m) {
    SimClient *sc = ctx;
    if (sc->g->kind == SIM_CLIENT_JS_CONSUMER) {
        sim_jsc_message(sc, m);
        return;
    }
    if (sc->g->kind == SIM_CLIENT_RESPONDER) {
        if (!m->reply) return;
        g_autofree char *reply = g_strndup(m->reply, m->reply_len);
        client_publish(sc->c, reply, NULL, m->payload, m->payload_len);
        sim_log(sc->wl->sim, "cli", "reply", "%s answers %s", sc->name, reply);
        return;
    }
    check_delivery(sc, m);
}

static void on_reply(void *ctx, uint64_t id, ClientReplyStatus st, const ClientMsg *m) {
    SimClient *sc = ctx;
    SimWorkload *wl = sc->wl;
    Sim *sim = wl->sim;
    SimReq *r = g_hash_table_lookup(sc->inflight, &id);
    if (!r) return;
    if (r->kind == SIM_REQ_JS_CREATE && sc->g->kind == SIM_CLIENT_JS_CONSUMER) {
        sim_jsc_created(sc, st, m);
        g_hash_table_remove(sc->inflight, &id);
        return;
    }
    if (r->kind != SIM_REQ_CORE) {
        sim_js_reply(sc, r, st, m);
        g_hash_table_remove(sc->inflight, &id);
        return;
    }
    const char *result = st == CLIENT_REPLY_OK ? "ok" : st == CLIENT_REPLY_NO_RESPONDERS ? "no-responders" : "disconnected";
    if (st == CLIENT_REPLY_OK &&
        (m->payload_len != strlen(r->payload) || memcmp(m->payload, r->payload, m->payload_len) != 0)) {
        result = "bad-reply";
        sim_workload_violation(wl, false, "%s request %s got someone else's answer", sc->name, r->payload);
    }
    int64_t now = sim_now(sim);
    req_done(sc, r->invoke_ns, now,
             strcmp(result, "bad-reply") == 0 ? SIM_REQ_BAD : st == CLIENT_REPLY_OK ? SIM_REQ_OK
             : st == CLIENT_REPLY_NO_RESPONDERS ? SIM_REQ_NO_RESPONDERS : SIM_REQ_DISCONNECTED);
    if (st == CLIENT_REPLY_OK) {
        sc->req_ok++;
        sim_workload_count(wl, wl->req_count, now); /* the chart's "replies": answered ones only */
        sim_workload_sample(wl, wl->req_lat_buckets, now, now - r->invoke_ns);
    } else
        sc->req_fail++;
    sim_log(sim, "cli", "reply", "%s %s %s", sc->name, r->payload, result);
    sim_trace_op(sim->trace, sc->name, "req", r->invoke_ns, now, result, r->payload);
    wl->ops++;
    g_hash_table_remove(sc->inflight, &id);
}

static const ClientCallbacks client_cbs = {
    .on_connected = on_connected, .on_msg = on_msg, .on_reply = on_reply, .on_error = on_error,
};

/* --- periodic behaviour --- */

static void publish_tick(void *ctx, void *a, uint64_t b) {
    SimClient *sc = a;
    Sim *sim = sc->wl->sim;
    int64_t now = sim_now(sim);
    if (now >= sim_client_stop(sc)) return;
    sim_after(sim, (int64_t)(1e9 / sc->g->rate_per_s), publish_tick, sc, 0);
    SimPubRec rec = {now, sc->ready};
    g_array_append_val(sc->pubs, rec);
    uint64_t seq = sc->pubs->len;
    sc->wl->ops++;
    if (!sc->ready) {
        sim_trace_op(sim->trace, sc->name, "pub", now, now, "disconnected", "");
        return;
    }
    count_at_node(sc, false, now); /* the chart's "published": sent ones only */
    char head[64];
    int hl = g_snprintf(head, sizeof head, "%d:%" G_GUINT64_FORMAT ":%" G_GINT64_FORMAT ":", sc->role_index, seq, now);
    size_t size = MAX(sc->g->size_bytes, (size_t)hl);
    char *buf = g_malloc(size);
    memcpy(buf, head, (size_t)hl);
    memset(buf + hl, '.', size - (size_t)hl);
    client_publish(sc->c, sc->g->subject, NULL, buf, size);
    g_free(buf);
    sim_client_pump(sc);
    SimDetail d = {0}; /* "<pub> #<seq> <subject> <size>B" */
    sim_detail_str(&d, sc->name);
    sim_detail_str(&d, " #");
    sim_detail_u64(&d, seq);
    sim_detail_str(&d, " ");
    sim_detail_str(&d, sc->g->subject);
    sim_detail_str(&d, " ");
    sim_detail_u64(&d, size);
    sim_detail_str(&d, "B");
    sim_trace_event_raw(sim->trace, now, "cli", "pub", d.buf, d.len);
    sim_trace_op(sim->trace, sc->name, "pub", now, now, "sent", head);
}

void sim_workload_request_timeout(void *ctx, void *a, uint64_t id) {
    SimClient *sc = a;
    SimReq *r = g_hash_table_lookup(sc->inflight, &id);
    if (!r) return;
    Sim *sim = sc->wl->sim;
    client_request_cancel(sc->c, id);
    if (r->kind == SIM_REQ_JS_CREATE && sc->g->kind == SIM_CLIENT_JS_CONSUMER) {
        sim_jsc_create_timeout(sc);
        g_hash_table_remove(sc->inflight, &id);
        return;
    }
    if (r->kind != SIM_REQ_CORE) {
        sim_js_request_timeout(sc, r);
        g_hash_table_remove(sc->inflight, &id);
        return;
    }
    sc->req_fail++;
    req_done(sc, r->invoke_ns, sim_now(sim), SIM_REQ_TIMEOUT);
    sim_log(sim, "cli", "reply", "%s %s timeout", sc->name, r->payload);
    sim_trace_op(sim->trace, sc->name, "req", r->invoke_ns, sim_now(sim), "timeout", r->payload);
    sc->wl->ops++;
    g_hash_table_remove(sc->inflight, &id);
}

static void request_tick(void *ctx, void *a, uint64_t n) {
    SimClient *sc = a;
    Sim *sim = sc->wl->sim;
    int64_t now = sim_now(sim);
    if (now >= sim_client_stop(sc)) return;
    sim_after(sim, (int64_t)(1e9 / sc->g->rate_per_s), request_tick, sc, n + 1);
    g_autofree char *payload = g_strdup_printf("%s:%" G_GUINT64_FORMAT, sc->name, n);
    if (!sc->ready) {
        req_done(sc, now, now, SIM_REQ_DISCONNECTED);
        sim_trace_op(sim->trace, sc->name, "req", now, now, "disconnected", payload);
        sc->wl->ops++;
        return;
    }
    SimReq *r = g_new0(SimReq, 1);
    r->id = client_request(sc->c, sc->g->subject, payload, strlen(payload));
    r->invoke_ns = now;
    r->payload = g_steal_pointer(&payload);
    g_hash_table_insert(sc->inflight, &r->id, r);
    sim_client_pump(sc);
    sim_log(sim, "cli", "req", "%s %s -> %s", sc->name, r->payload, sc->g->subject);
    sim_after(sim, sc->g->timeout_ns, sim_workload_request_timeout, sc, r->id);
}

static void cycle_tick(void *ctx, void *a, uint64_t b) {
    SimClient *sc = a;
    Sim *sim = sc->wl->sim;
    if (sim_now(sim) + sc->g->cycle_ns < sim->sc->duration_ns)
        sim_after(sim, sc->g->cycle_ns, cycle_tick, sc, 0);
    if (!sc->conn) return;
    SimConn *c = sc->conn;
    sim_log(sim, "cli", "close", "%s drops its connection (storm)", sc->name);
    connection_lost(sc, "storm");
    sim_net_client_close(c);
}

static void start_event(void *ctx, void *a, uint64_t b) {
    SimClient *sc = a;
    Sim *sim = sc->wl->sim;
    dial(sc);
    int64_t now = sim_now(sim);
    /* first operation once the handshake has had time; later ones at the configured rate */
    int64_t first = now + 50 * SIM_MS;
    if (sc->g->kind == SIM_CLIENT_PUBLISHER) sim_at(sim, first, publish_tick, sc, 0);
    if (sc->g->kind == SIM_CLIENT_REQUESTER) sim_at(sim, first, request_tick, sc, 1);
    if (sc->g->kind == SIM_CLIENT_JS_PUBLISHER) sim_at(sim, first, sim_js_publish_tick, sc, 0);
    if (sc->g->kind == SIM_CLIENT_JS_CONSUMER) sim_at(sim, first, sim_jsc_fetch_tick, sc, 0);
    if (sc->g->cycle_ns > 0) {
        int64_t t = (now / sc->g->cycle_ns + 1) * sc->g->cycle_ns; /* aligned: all at once */
        sim_at(sim, t, cycle_tick, sc, 0);
    }
}

/* --- setup --- */


SimWorkload *sim_workload_new(Sim *sim) {
    const SimScenario *s = sim->sc;
    SimWorkload *wl = g_new0(SimWorkload, 1);
    wl->last_upheaval_ns = -1;
    wl->sim = sim;
    wl->clients = g_ptr_array_new();
    wl->publishers = g_ptr_array_new();
    wl->js_publishers = g_ptr_array_new();
    wl->consumer_logs = g_ptr_array_new();
    wl->violations = g_ptr_array_new();
    wl->bucket_ns = MAX(10 * SIM_MS, s->duration_ns / 200 / SIM_MS * SIM_MS);
    size_t nb = (size_t)(s->duration_ns / wl->bucket_ns) + 1;
    wl->lat_buckets = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
    wl->req_lat_buckets = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
    for (size_t i = 0; i < nb; i++) {
        g_ptr_array_add(wl->lat_buckets, g_array_new(FALSE, FALSE, sizeof(int64_t)));
        g_ptr_array_add(wl->req_lat_buckets, g_array_new(FALSE, FALSE, sizeof(int64_t)));
    }
    GArray **counts[3] = {&wl->pub_count, &wl->msg_count, &wl->req_count};
    for (int i = 0; i < 3; i++) {
        *counts[i] = g_array_new(FALSE, TRUE, sizeof(uint64_t));
        g_array_set_size(*counts[i], (guint)nb);
    }
    for (int n = 0; n < SIM_MAX_NODES; n++) {
        wl->node_pub_count[n] = g_array_new(FALSE, TRUE, sizeof(uint64_t));
        g_array_set_size(wl->node_pub_count[n], n < sim->n_nodes ? (guint)nb : 0);
        wl->node_msg_count[n] = g_array_new(FALSE, TRUE, sizeof(uint64_t));
        g_array_set_size(wl->node_msg_count[n], n < sim->n_nodes ? (guint)nb : 0);
    }
    for (guint gi = 0; gi < s->groups->len; gi++) {
        const SimClientGroup *g = g_ptr_array_index(s->groups, gi);
        for (int k = 0; k < g->count; k++) {
            SimClient *sc = g_new0(SimClient, 1);
            sc->wl = wl;
            sc->g = g;
            sc->index = (int)wl->clients->len;
            g_snprintf(sc->name, sizeof sc->name, "%s%d", g->name, k + 1);
            sc->node = g->node >= 0 ? g->node : k % sim->n_nodes;
            int rest[SIM_MAX_NODES], nr = 0; /* the others, shuffled from the workload's stream */
            for (int x = 0; x < sim->n_nodes; x++)
                if (x != sc->node) rest[nr++] = x;
            for (int x = nr - 1; x > 0; x--) {
                int y = (int)rng_below(&sim->wl_rng, (uint64_t)x + 1), t = rest[x];
                rest[x] = rest[y];
                rest[y] = t;
            }
            sc->servers[0] = sc->node;
            for (int x = 0; x < nr; x++) sc->servers[x + 1] = rest[x];
            sc->windows = g_array_new(FALSE, FALSE, sizeof(SimWindow));
            sc->pubs = g_array_new(FALSE, FALSE, sizeof(SimPubRec));
            sc->last_seq = g_array_new(FALSE, TRUE, sizeof(uint64_t));
            sc->seen = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
            sc->inflight = g_hash_table_new_full(u64_hash, u64_equal, NULL, req_free);
            sc->req_log = g_array_new(FALSE, FALSE, sizeof(SimReqRec));
            sc->js_log = g_array_new(FALSE, FALSE, sizeof(SimJsRec));
            g_autofree char *prefix = g_strdup_printf("_INBOX.%s.%08" G_GINT64_MODIFIER "x", sc->name,
                                                      rng_next(&sim->wl_rng) & 0xffffffffu);
            ClientOptions o = {.name = sc->name, .echo = g->echo, .inbox_prefix = prefix};
            sc->c = client_new(&o, &client_cbs, sc);
            g_strlcpy(sc->inbox, prefix, sizeof sc->inbox);
            if (g->kind == SIM_CLIENT_JS_CONSUMER) {
                g_autofree char *pull = g_strdup_printf("%s.pull", prefix);
                sc->sid = client_subscribe(sc->c, pull, NULL);
            }
            if (g->kind == SIM_CLIENT_SUBSCRIBER || g->kind == SIM_CLIENT_RESPONDER)
                sc->sid = client_subscribe(sc->c, g->subject, g->queue);
            if (g->kind == SIM_CLIENT_PUBLISHER) {
                sc->role_index = (int)wl->publishers->len;
                g_ptr_array_add(wl->publishers, sc);
            }
            if (g->kind == SIM_CLIENT_JS_PUBLISHER) {
                sc->role_index = (int)wl->js_publishers->len;
                g_ptr_array_add(wl->js_publishers, sc);
            }
            g_ptr_array_add(wl->clients, sc);
            int64_t jitter = rng_range(&sim->wl_rng, 0, 10 * SIM_MS);
            sim_at(sim, g->start_ns + jitter, start_event, sc, 0);
        }
    }
    /* subscribers track every publisher */
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *sc = g_ptr_array_index(wl->clients, i);
        g_array_set_size(sc->last_seq, wl->publishers->len);
        for (guint p = 0; p < wl->publishers->len; p++) g_ptr_array_add(sc->seen, g_byte_array_new());
    }
    return wl;
}

void sim_workload_stall(SimWorkload *wl, const char *group, int64_t duration_ns) {
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *sc = g_ptr_array_index(wl->clients, i);
        if (strcmp(sc->g->name, group) == 0 && sc->conn) sim_net_stall(sc->conn, duration_ns);
    }
}

static gint req_cmp(gconstpointer a, gconstpointer b) {
    uint64_t x = (*(SimReq *const *)a)->id, y = (*(SimReq *const *)b)->id;
    return x < y ? -1 : x > y;
}

void sim_workload_finish(SimWorkload *wl) {
    /* requests still in flight at the end were never answered: record them, in id order */
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *sc = g_ptr_array_index(wl->clients, i);
        g_autoptr(GPtrArray) reqs = g_ptr_array_new();
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, sc->inflight);
        while (g_hash_table_iter_next(&it, NULL, &v)) g_ptr_array_add(reqs, v);
        g_ptr_array_sort(reqs, req_cmp);
        for (guint k = 0; k < reqs->len; k++) {
            SimReq *r = g_ptr_array_index(reqs, k);
            sim_trace_op(wl->sim->trace, sc->name, "req", r->invoke_ns, -1, "pending", r->payload);
        }
    }
}

void sim_workload_free(SimWorkload *wl) {
    if (!wl) return;
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *sc = g_ptr_array_index(wl->clients, i);
        client_free(sc->c);
        g_array_unref(sc->windows);
        g_array_unref(sc->pubs);
        g_array_unref(sc->last_seq);
        g_ptr_array_unref(sc->seen);
        g_hash_table_destroy(sc->inflight);
        g_array_unref(sc->req_log);
        g_array_unref(sc->js_log);
        g_free(sc);
    }
    for (guint i = 0; i < wl->violations->len; i++) {
        SimViolation *v = g_ptr_array_index(wl->violations, i);
        g_free(v->what);
        g_free(v);
    }
    g_ptr_array_unref(wl->violations);
    g_ptr_array_unref(wl->clients);
    g_ptr_array_unref(wl->publishers);
    g_ptr_array_unref(wl->js_publishers);
    for (guint i = 0; i < wl->consumer_logs->len; i++) {
        SimConsumerLog *l = g_ptr_array_index(wl->consumer_logs, i);
        g_array_unref(l->recs);
        g_free(l);
    }
    g_ptr_array_unref(wl->consumer_logs);
    g_ptr_array_unref(wl->lat_buckets);
    g_ptr_array_unref(wl->req_lat_buckets);
    g_array_unref(wl->pub_count);
    g_array_unref(wl->msg_count);
    g_array_unref(wl->req_count);
    for (int n = 0; n < SIM_MAX_NODES; n++) {
        g_array_unref(wl->node_pub_count[n]);
        g_array_unref(wl->node_msg_count[n]);
    }
    g_free(wl);
}
