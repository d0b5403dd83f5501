/* sim_jetstream.c — the JetStream workload: publishers that wait for PubAcks.
 *
 * A js-publisher creates its stream on every connection ($JS.API.STREAM.CREATE.<name>;
 * creating an identical stream again is a no-op, as in nats-server), then publishes at its
 * rate with a reply inbox and waits for the PubAck {"stream":..,"seq":N}. Every publish is
 * one SimJsRec: not sent, pending, acked at seq N, error, timed out or cut by a disconnect.
 * Only ACK is a promise; the checker (sim_check.c) holds the server to it after every crash:
 * the message acknowledged at seq N must be in the stream at seq N, byte for byte.
 *
 * Payloads are "J<publisher>:<seq>:<invoke_ns>:" padded with '.' to the configured size, so
 * any stored or delivered copy names exactly which publish it came from.
 */
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "sim_jscluster.h"
#include "sim_workload.h"

#define SIM_JS_RETRY_NS (200 * SIM_MS) /* stream create retry when JetStream did not answer */

char *sim_js_payload(const SimClient *sc, uint64_t seq, size_t *len) {
    const SimJsRec *r = &g_array_index(sc->js_log, SimJsRec, seq - 1);
    char head[64];
    int hl = g_snprintf(head, sizeof head, "J%d:%" G_GUINT64_FORMAT ":%" G_GINT64_FORMAT ":", sc->role_index, seq,
                        r->invoke_ns);
    size_t size = MAX(sc->g->size_bytes, (size_t)hl);
    char *buf = g_malloc(size);
    memcpy(buf, head, (size_t)hl);
    memset(buf + hl, '.', size - (size_t)hl);
    *len = size;
    return buf;
}

bool sim_js_payload_known(SimWorkload *wl, const uint8_t *data, size_t len) {
    char head[64];
    size_t hl = MIN(len, sizeof head - 1);
    memcpy(head, data, hl);
    head[hl] = '\0';
    char *e1, *e2;
    if (head[0] != 'J') return false;
    uint64_t p = strtoull(head + 1, &e1, 10);
    if (*e1 != ':' || p >= wl->js_publishers->len) return false;
    uint64_t seq = strtoull(e1 + 1, &e2, 10);
    const SimClient *pub = g_ptr_array_index(wl->js_publishers, p);
    if (*e2 != ':' || seq < 1 || seq > pub->js_log->len) return false;
    const SimJsRec *r = &g_array_index(pub->js_log, SimJsRec, seq - 1);
    if (r->result == SIM_JS_NOT_SENT) return false;
    size_t want_len;
    g_autofree char *want = sim_js_payload(pub, seq, &want_len);
    return want_len == len && memcmp(want, data, len) == 0;
}

static void send_create(SimClient *sc) {
    Sim *sim = sc->wl->sim;
    g_autofree char *subject = g_strdup_printf("$JS.API.STREAM.CREATE.%s", sc->g->stream);
    g_autofree char *cfg = g_strdup_printf("{\"name\":\"%s\",\"subjects\":[\"%s\"],\"storage\":\"file\","
                                           "\"num_replicas\":%d,\"retention\":\"%s\"}", sc->g->stream, sc->g->subject,
                                           sc->g->replicas, sc->g->retention ? sc->g->retention : "limits");
    SimReq *r = g_new0(SimReq, 1);
    r->kind = SIM_REQ_JS_CREATE;
    r->invoke_ns = sim_now(sim);
    r->payload = g_strdup("stream create");
    r->id = client_request(sc->c, subject, cfg, strlen(cfg));
    g_hash_table_insert(sc->inflight, &r->id, r);
    sim_client_pump(sc);
    sim_log(sim, "cli", "req", "%s creates stream %s", sc->name, sc->g->stream);
    sim_after(sim, sc->g->timeout_ns, sim_workload_request_timeout, sc, r->id);
}

static void create_retry(void *ctx, void *a, uint64_t gen) {
    SimClient *sc = a;
    if (gen == sc->generation && sc->ready && !sc->js_ready) send_create(sc);
}

void sim_js_connected(SimClient *sc) {
    sc->js_ready = false;
    send_create(sc);
}

void sim_js_publish_tick(void *ctx, void *a, uint64_t b) {
    SimClient *sc = a;
    SimWorkload *wl = sc->wl;
    Sim *sim = wl->sim;
    int64_t now = sim_now(sim);
    if (now >= sim_client_stop(sc)) return;
    sim_after(sim, (int64_t)(1e9 / sc->g->rate_per_s), sim_js_publish_tick, sc, 0);
    SimJsRec rec = {now, -1, SIM_JS_NOT_SENT, 0};
    g_array_append_val(sc->js_log, rec);
    uint64_t seq = sc->js_log->len;
    wl->ops++;
    if (!sc->ready || !sc->js_ready) {
        sim_trace_op(sim->trace, sc->name, "js-pub", now, now, sc->ready ? "no-stream" : "disconnected", "");
        return;
    }
    sim_workload_count(wl, wl->pub_count, now); /* the chart's "published": sent ones only */
    size_t len;
    char *payload = sim_js_payload(sc, seq, &len);
    SimReq *r = g_new0(SimReq, 1);
    r->kind = SIM_REQ_JS_PUB;
    r->invoke_ns = now;
    r->pub_seq = seq;
    r->payload = g_strdup_printf("J%d:%" G_GUINT64_FORMAT, sc->role_index, seq);
    r->id = client_request(sc->c, sc->g->subject, payload, len);
    g_free(payload);
    g_array_index(sc->js_log, SimJsRec, seq - 1).result = SIM_JS_PENDING;
    g_hash_table_insert(sc->inflight, &r->id, r);
    sim_client_pump(sc);
    sim_log(sim, "cli", "pub", "%s js #%" G_GUINT64_FORMAT " %s %zuB", sc->name, seq, sc->g->subject, len);
    sim_after(sim, sc->g->timeout_ns, sim_workload_request_timeout, sc, r->id);
}

/* {"stream":"S","seq":N} -> N; {"error":{...}} -> 0 with *err set (g_free) */
static uint64_t parse_ack(const ClientMsg *m, char **err) {
    g_autoptr(JsonParser) p = json_parser_new();
    *err = NULL;
    if (!json_parser_load_from_data(p, (const char *)m->payload, (gssize)m->payload_len, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        *err = g_strdup("reply is not JSON");
        return 0;
    }
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    if (json_object_has_member(o, "error")) {
        JsonObject *e = json_object_get_object_member(o, "error");
        *err = g_strdup_printf("%" G_GINT64_FORMAT " %s", e ? json_object_get_int_member_with_default(e, "err_code", 0) : 0,
                               e ? json_object_get_string_member_with_default(e, "description", "?") : "?");
        return 0;
    }
    gint64 seq = json_object_get_int_member_with_default(o, "seq", 0);
    if (seq <= 0) *err = g_strdup("PubAck without seq");
    return seq > 0 ? (uint64_t)seq : 0;
}

void sim_js_reply(SimClient *sc, SimReq *r, ClientReplyStatus st, const ClientMsg *m) {
    SimWorkload *wl = sc->wl;
    Sim *sim = wl->sim;
    int64_t now = sim_now(sim);
    g_autofree char *err = NULL;
    uint64_t seq = st == CLIENT_REPLY_OK ? parse_ack(m, &err) : 0;
    if (r->kind == SIM_REQ_JS_CREATE) {
        /* created, or exists already (10058 when configs differ): either way publish; no
         * answer at all means JetStream is not up yet, and in a cluster 10008 means no meta
         * leader yet: ask again shortly */
        bool refused = st == CLIENT_REPLY_OK && err != NULL && seq == 0 &&
                       g_strstr_len((const char *)m->payload, (gssize)m->payload_len, "\"error\"") != NULL &&
                       !g_str_has_prefix(err, "10058 ");
        bool ok = st == CLIENT_REPLY_OK && !refused;
        sim_log(sim, "cli", "reply", "%s stream %s: %s", sc->name, sc->g->stream,
                refused ? err : !ok ? "no answer, retrying" : seq == 0 && err && g_str_has_prefix(err, "10058 ") ? err : "ready");
        if (ok) sc->js_ready = true;
        else if (st != CLIENT_REPLY_DISCONNECTED) sim_after(sim, SIM_JS_RETRY_NS, create_retry, sc, sc->generation);
        return;
    }
    SimJsRec *rec = &g_array_index(sc->js_log, SimJsRec, r->pub_seq - 1);
    rec->complete_ns = now;
    const char *what;
    g_autofree char *detail = NULL;
    if (st == CLIENT_REPLY_DISCONNECTED) {
        rec->result = SIM_JS_DISCONNECTED;
        what = "disconnected";
    } else if (st == CLIENT_REPLY_NO_RESPONDERS) {
        rec->result = SIM_JS_ERROR;
        what = "no-responders";
    } else if (seq == 0) {
        rec->result = SIM_JS_ERROR;
        what = "error";
        detail = g_strdup(err);
    } else {
        rec->result = SIM_JS_ACK;
        rec->stream_seq = seq;
        sc->js_acks++;
        what = "ack";
        detail = g_strdup_printf("seq %" G_GUINT64_FORMAT, seq);
        sim_workload_count(wl, wl->req_count, now);
        sim_workload_sample(wl, wl->req_lat_buckets, now, now - r->invoke_ns);
        sim_jsc_note_ack(sim->jsc, sc->node, now, now - r->invoke_ns); /* per node (clustered JetStream) */
    }
    g_autofree char *text = g_strdup_printf("%s%s%s", r->payload, detail ? " " : "", detail ? detail : "");
    sim_log(sim, "cli", "ack", "%s %s %s", sc->name, what, text);
    sim_trace_op(sim->trace, sc->name, "js-pub", r->invoke_ns, now, what, text);
    wl->ops++;
}

void sim_js_request_timeout(SimClient *sc, SimReq *r) {
    Sim *sim = sc->wl->sim;
    if (r->kind == SIM_REQ_JS_CREATE) {
        sim_log(sim, "cli", "reply", "%s stream %s: create timed out, retrying", sc->name, sc->g->stream);
        if (sc->ready) sim_after(sim, SIM_JS_RETRY_NS, create_retry, sc, sc->generation);
        return;
    }
    SimJsRec *rec = &g_array_index(sc->js_log, SimJsRec, r->pub_seq - 1);
    rec->complete_ns = sim_now(sim);
    rec->result = SIM_JS_TIMEOUT;
    sim_log(sim, "cli", "ack", "%s timeout %s", sc->name, r->payload);
    sim_trace_op(sim->trace, sc->name, "js-pub", r->invoke_ns, rec->complete_ns, "timeout", r->payload);
    sc->wl->ops++;
}
