/* sim_jsconsumer.c — the JetStream consumer workload: pull consumers with explicit acks.
 *
 * A js-consumer group shares one durable pull consumer (like a pool of workers). On every
 * connection each member creates the durable ($JS.API.CONSUMER.DURABLE.CREATE; creating the
 * same config again is a no-op), then pulls every 1/rate: PUB $JS.API.CONSUMER.MSG.NEXT.<s>.<d>
 * with its inbox as reply and {"batch":B,"expires":1/rate}. Messages arrive on the inbox with
 * reply subjects "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>"; the
 * member acks each with "+ACK" unless `ack_drop` says to forget it (then the server must
 * redeliver it after ack_wait). Status messages (404, 408, 409) carry no payload: ignored.
 *
 * Recorded per group (SimConsumerLog): first delivery time and delivery count of every
 * stream sequence, and, for deliveries deliberately left unacked, when they were first
 * handed out. The checker (sim_check.c) asks: was every acknowledged publish delivered at
 * least once, at the seq its PubAck named, and was every unacked delivery redelivered?
 * Online, at each delivery: a delivery is a lease for ack_wait, so the same message handed
 * out again before it runs out (to another worker of a work queue, or the same) is a safety
 * violation unless a fault or a stream leader change came after the lease began.
 */
#include <stdlib.h>
#include <string.h>

#include "sim_workload.h"

#define SIM_JS_RETRY_NS (200 * SIM_MS)

SimConsumerLog *sim_consumer_log(SimWorkload *wl, const SimClientGroup *g) {
    for (guint i = 0; i < wl->consumer_logs->len; i++) {
        SimConsumerLog *l = g_ptr_array_index(wl->consumer_logs, i);
        if (l->g == g) return l;
    }
    SimConsumerLog *l = g_new0(SimConsumerLog, 1);
    l->g = g;
    l->recs = g_array_new(FALSE, TRUE, sizeof(SimConsumed));
    g_ptr_array_add(wl->consumer_logs, l);
    return l;
}

static SimConsumed *consumed(SimConsumerLog *l, uint64_t sseq) {
    if (l->recs->len < sseq) g_array_set_size(l->recs, (guint)sseq);
    return &g_array_index(l->recs, SimConsumed, sseq - 1);
}

static void send_create(SimClient *sc) {
    Sim *sim = sc->wl->sim;
    const SimClientGroup *g = sc->g;
    g_autofree char *subject = g_strdup_printf("$JS.API.CONSUMER.DURABLE.CREATE.%s.%s", g->stream, g->name);
    g_autofree char *cfg = g_strdup_printf(
        "{\"stream_name\":\"%s\",\"config\":{\"durable_name\":\"%s\",\"ack_policy\":\"explicit\","
        "\"ack_wait\":%" G_GINT64_FORMAT ",\"deliver_policy\":\"all\",\"filter_subject\":\"%s\",\"max_deliver\":-1}}",
        g->stream, g->name, g->ack_wait_ns, g->subject);
    SimReq *r = g_new0(SimReq, 1);
    r->kind = SIM_REQ_JS_CREATE;
    r->invoke_ns = sim_now(sim);
    r->payload = g_strdup("consumer create");
    r->id = client_request(sc->c, subject, cfg, strlen(cfg));
    g_hash_table_insert(sc->inflight, &r->id, r);
    sim_client_pump(sc);
    sim_log(sim, "cli", "req", "%s creates consumer %s on %s", sc->name, g->name, g->stream);
    sim_after(sim, sc->g->timeout_ns, sim_workload_request_timeout, sc, r->id);
}

static void create_retry(void *ctx, void *a, uint64_t gen) {
    SimClient *sc = a;
    if (gen == sc->generation && sc->ready && !sc->js_ready) send_create(sc);
}

void sim_jsc_connected(SimClient *sc) {
    sc->js_ready = false;
    send_create(sc);
}

/* The create's answer. Anything but silence means the durable exists (an error is logged:
 * e.g. the stream does not exist yet, which the next retry fixes). */
void sim_jsc_created(SimClient *sc, ClientReplyStatus st, const ClientMsg *m) {
    Sim *sim = sc->wl->sim;
    bool error = st == CLIENT_REPLY_OK && m && g_strstr_len((const char *)m->payload, (gssize)m->payload_len, "\"error\"");
    sim_log(sim, "cli", "reply", "%s consumer %s: %s", sc->name, sc->g->name,
            st != CLIENT_REPLY_OK ? "no answer, retrying" : error ? "error, retrying" : "ready");
    if (st == CLIENT_REPLY_OK && !error) {
        sc->js_ready = true;
        SimConsumerLog *log = sim_consumer_log(sc->wl, sc->g);
        if (!log->created_ns) log->created_ns = sim_now(sim);
    }
    else if (st != CLIENT_REPLY_DISCONNECTED) sim_after(sim, SIM_JS_RETRY_NS, create_retry, sc, sc->generation);
}

void sim_jsc_create_timeout(SimClient *sc) {
    if (sc->ready) sim_after(sc->wl->sim, SIM_JS_RETRY_NS, create_retry, sc, sc->generation);
}

void sim_jsc_fetch_tick(void *ctx, void *a, uint64_t b) {
    SimClient *sc = a;
    Sim *sim = sc->wl->sim;
    int64_t now = sim_now(sim);
    if (now >= (sc->g->stop_ns ? sc->g->stop_ns : sim->sc->duration_ns)) return; /* [client] stop, or the end */
    int64_t every = (int64_t)(1e9 / sc->g->rate_per_s);
    sim_after(sim, every, sim_jsc_fetch_tick, sc, 0);
    if (!sc->ready || !sc->js_ready) return;
    g_autofree char *subject = g_strdup_printf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", sc->g->stream, sc->g->name);
    g_autofree char *inbox = g_strdup_printf("%s.pull", sc->inbox);
    sim_log(sim, "cli", "req", "%s pulls %d from %s", sc->name, sc->g->batch, sc->g->name);
    g_autofree char *req = g_strdup_printf("{\"batch\":%d,\"expires\":%" G_GINT64_FORMAT "}", sc->g->batch, every);
    client_publish(sc->c, subject, inbox, req, strlen(req));
    sim_client_pump(sc);
}

/* "$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<cseq>.<ts>.<pending>" -> dc, sseq */
static bool parse_ack_subject(const char *s, size_t len, uint64_t *dc, uint64_t *sseq) {
    g_autofree char *copy = g_strndup(s, len);
    g_auto(GStrv) t = g_strsplit(copy, ".", -1);
    guint n = g_strv_length(t);
    if (n < 9 || strcmp(t[0], "$JS") != 0 || strcmp(t[1], "ACK") != 0) return false;
    char *e1, *e2;
    *dc = strtoull(t[n - 5], &e1, 10);
    *sseq = strtoull(t[n - 4], &e2, 10);
    return !*e1 && !*e2 && *dc > 0 && *sseq > 0;
}

void sim_jsc_message(SimClient *sc, const ClientMsg *m) {
    SimWorkload *wl = sc->wl;
    Sim *sim = wl->sim;
    if (!m->reply || m->payload_len == 0) return; /* a pull status (404/408/409) */
    uint64_t dc, sseq;
    if (!parse_ack_subject(m->reply, m->reply_len, &dc, &sseq)) {
        sim_workload_violation(wl, false, "%s: consumer message with a bad ack subject '%.*s'", sc->name,
                               (int)m->reply_len, m->reply);
        return;
    }
    int64_t now = sim_now(sim);
    if (!sim_js_payload_known(wl, m->payload, m->payload_len)) {
        sim_workload_violation(wl, false, "%s: consumer %s delivered seq %" G_GUINT64_FORMAT " that no one published",
                               sc->name, sc->g->name, sseq);
        return;
    }
    SimConsumerLog *log = sim_consumer_log(wl, sc->g);
    SimConsumed *c = consumed(log, sseq);
    /* A delivery is a lease for ack_wait: while it runs, nobody else may be handed the same
     * message (a work queue's two workers would both do the job). Only an upheaval since the
     * lease began (up to ack_wait before the last delivery arrived: a partition may have held
     * it up) excuses it: a new stream leader that adopted the consumer as last committed, a
     * restarted or paused node, a jumped clock, a partition or its healing; and a delivery
     * count no higher than one already seen is an old copy (a deposed leader's), not a new
     * lease. Less the network's jitter: a
     * delivery crosses a route and a client link, each way, and may queue behind a batch. */
    int64_t slack = (sim->sc->net.latency_max_ns + MAX(sim->sc->peer.latency_max_ns, sim->sc->net.latency_max_ns)) * 2 +
                    5 * SIM_MS;
    if (c->deliveries > 0 && dc > c->max_dc && wl->last_upheaval_ns < c->last_ns - sc->g->ack_wait_ns &&
        now - c->last_ns < sc->g->ack_wait_ns - slack) {
        const SimClient *prev = g_ptr_array_index(wl->clients, c->last_worker);
        sim_workload_violation(wl, false, "consumer %s handed %s seq %" G_GUINT64_FORMAT " (delivery %" G_GUINT64_FORMAT
                               ") to %s at %.3fs, though %s got it at %.3fs and its ack_wait of %.3fs had not run out, with"
                               " no fault or leader change since that lease began: two workers holding one message",
                               sc->g->name, sc->g->stream, sseq, dc, sc->name, (double)now / 1e9, prev->name,
                               (double)c->last_ns / 1e9, (double)sc->g->ack_wait_ns / 1e9);
    }
    if (c->deliveries == 0) c->first_ns = now;
    c->deliveries++;
    c->last_ns = now;
    c->last_worker = sc->index;
    c->max_dc = MAX(c->max_dc, dc);
    /* remember which publish this seq carried, to compare with its PubAck */
    const char *colon = memchr(m->payload, ':', MIN(m->payload_len, 32));
    c->pub = (uint32_t)strtoul((const char *)m->payload + 1, NULL, 10);
    c->pub_seq = colon ? strtoull(colon + 1, NULL, 10) : 0;
    /* without faults, the server may not hand out again what was acked at once, nor what
     * was left unacked before ack_wait ran out (less the network's jitter) */
    bool calm = wl->last_fault_end_ns == 0;
    if (calm && dc > 1 && c->acked_dc > 0 && dc > c->acked_dc)
        sim_workload_violation(wl, false, "%s: consumer %s redelivered seq %" G_GUINT64_FORMAT " after it was acked",
                               sc->name, sc->g->name, sseq);
    bool drop = rng_chance(&sim->wl_rng, sc->g->ack_drop);
    if (drop) {
        c->unacked_ns = now;
    } else {
        g_autofree char *ack = g_strndup(m->reply, m->reply_len);
        client_publish(sc->c, ack, NULL, "+ACK", 4);
        c->acked = true;
        c->acked_dc = dc;
        c->unacked_ns = 0;
    }
    sim_client_pump(sc);
    sim_log(sim, "cli", "msg", "%s consumer seq %" G_GUINT64_FORMAT " delivery %" G_GUINT64_FORMAT "%s", sc->name, sseq,
            dc, drop ? " (not acked)" : "");
}
