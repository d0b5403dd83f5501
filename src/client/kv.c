/* kv.c — KV buckets over streams, and the blocking connection under them (see kv.h).
 *
 * THE WIRE (bucket B, key K; what nats.js 2.29 sends, spec §4)
 *   | operation       | what goes on the wire                                              |
 *   |-----------------|--------------------------------------------------------------------|
 *   | create bucket   | STREAM.INFO.KV_B; on "stream not found" STREAM.CREATE.KV_B with     |
 *   |                 | subjects ["$KV.B.>"], max_msgs_per_subject = history, discard new, |
 *   |                 | allow_direct, allow_rollup_hdrs, max_age = ttl                     |
 *   | put             | PUB $KV.B.K with a reply; the PubAck's seq is the revision         |
 *   | create key      | header Nats-Expected-Last-Subject-Sequence: 0; on 10071 read the   |
 *   |                 | key: if its last entry is a DEL/PURGE marker, update on top of it  |
 *   | update (CAS)    | header Nats-Expected-Last-Subject-Sequence: <revision>             |
 *   | delete          | empty body, header KV-Operation: DEL                                |
 *   | purge           | empty body, KV-Operation: PURGE + Nats-Rollup: sub                  |
 *   | get             | DIRECT.GET.KV_B.$KV.B.K (or STREAM.MSG.GET last_by_subj)           |
 *   | keys            | ordered consumer, last_per_subject, headers_only, filter $KV.B.>    |
 *   | history         | ordered consumer, deliver all, filter $KV.B.K                      |
 *   | watch           | ordered consumer, last_per_subject / all / new on $KV.B.<pattern>  |
 *
 * HOW THE BLOCKING LAYER WORKS
 *   The client (client.h) only parses and queues bytes. KvConn installs its callbacks, which
 *   copy every reply into `replies` (by request id) and every message into the queue of its
 *   subscription. A blocking call is "start, then pump until the thing is in its table or the
 *   deadline passed". The world's pump is the only place where time passes and bytes move.
 *
 * LIMITATIONS
 *   - The "ordered consumer" here is the simple version: one ephemeral push consumer, no
 *     automatic re-creation on a sequence gap (nats.js re-creates it from the last stream
 *     sequence). Over one TCP connection to one server a gap does not happen; over a lossy
 *     simulated network it would show up as a missing entry, which the checker reports.
 *   - One request at a time per blocking call, except the object store's chunk pipeline.
 */
#include "kv.h"

#include <stdio.h>
#include <string.h>

#include "jsonutil.h"

G_DEFINE_QUARK(minijet-kv-error-quark, kv_error)

/* ------------------------------------------------------------------------------------- */
/* messages                                                                               */

void kv_msg_free(KvMsg *m) {
    if (!m) return;
    g_free(m->subject);
    g_free(m->reply);
    if (m->hdr) g_bytes_unref(m->hdr);
    if (m->data) g_bytes_unref(m->data);
    g_free(m);
}

static KvMsg *msg_copy(const ClientMsg *cm) {
    KvMsg *m = g_new0(KvMsg, 1);
    m->subject = g_strndup(cm->subject, cm->subject_len);
    m->reply = cm->reply ? g_strndup(cm->reply, cm->reply_len) : NULL;
    m->hdr = cm->hdr ? g_bytes_new(cm->hdr, cm->hdr_len) : NULL;
    m->data = g_bytes_new(cm->payload, cm->payload_len);
    return m;
}

char *kv_msg_header(const KvMsg *m, const char *key) {
    if (!m->hdr) return NULL;
    gsize n;
    const uint8_t *h = g_bytes_get_data(m->hdr, &n);
    return client_header_get(h, n, key);
}

int kv_msg_status(const KvMsg *m) {
    if (!m->hdr) return 0;
    gsize n;
    const uint8_t *h = g_bytes_get_data(m->hdr, &n);
    return client_header_status(h, n);
}

/* ------------------------------------------------------------------------------------- */
/* KvConn                                                                                 */

#define REPLY_NO_RESPONDERS ((KvMsg *)GSIZE_TO_POINTER(1)) /* marker in `replies` */
#define REPLY_DENIED ((KvMsg *)GSIZE_TO_POINTER(2))        /* the server refused the request */

struct KvConn {
    Env *env;
    Client *client;
    KvPumpFn pump;
    void *world;
    bool connected, closed;
    GHashTable *replies; /* request id -> KvMsg* (or REPLY_NO_RESPONDERS / REPLY_DENIED); lookup only */
    GHashTable *subs;    /* sid -> GQueue* of KvMsg*; lookup only */
    GHashTable *waiting; /* request id -> its subject: sent, not yet answered nor abandoned */
    uint64_t mux_sid, next_request;
    char *inbox_prefix;
    uint64_t next_inbox;
    uint64_t pongs;
    char *last_error;
    char *version;
    size_t max_payload;
};

static void on_connected(void *ctx) { ((KvConn *)ctx)->connected = true; }

static void on_msg(void *ctx, const ClientMsg *cm) {
    KvConn *kc = ctx;
    if (cm->sid == kc->mux_sid) {
        const char *dot = memrchr(cm->subject, '.', cm->subject_len);
        if (!dot) return;
        g_autofree char *tok = g_strndup(dot + 1, cm->subject_len - (size_t)(dot + 1 - cm->subject));
        uint64_t id = g_ascii_strtoull(tok, NULL, 10);
        if (!g_hash_table_remove(kc->waiting, &id)) return; /* abandoned: drop */
        bool nr = cm->payload_len == 0 && client_header_status(cm->hdr, cm->hdr_len) == 503;
        uint64_t *key = g_new(uint64_t, 1);
        *key = id;
        g_hash_table_replace(kc->replies, key, nr ? REPLY_NO_RESPONDERS : msg_copy(cm));
        return;
    }
    GQueue *q = g_hash_table_lookup(kc->subs, &cm->sid);
    if (q) g_queue_push_tail(q, msg_copy(cm));
}

/* The subject in `Permissions Violation for <kind> to "<subject>"...`, or NULL. */
static char *denied_subject(const char *text, const char *kind) {
    g_autofree char *prefix = g_strdup_printf("Permissions Violation for %s to \"", kind);
    if (!g_str_has_prefix(text, prefix)) return NULL;
    const char *s = text + strlen(prefix), *end = strchr(s, '"');
    return end != NULL ? g_strndup(s, (gsize)(end - s)) : NULL;
}

/* A request the server will never answer fails now, not at its timeout: nats-server says
 * so with -ERR 'Permissions Violation for Publish to "<its subject>"' (the request was not
 * delivered), or for Subscription to our reply inbox (no reply can reach us). */
static void fail_denied(KvConn *kc, const char *text) {
    g_autofree char *pub = denied_subject(text, "Publish");
    g_autofree char *sub = denied_subject(text, "Subscription");
    g_autofree char *inbox = g_strdup_printf("%s.k.*", kc->inbox_prefix);
    bool all = sub != NULL && strcmp(sub, inbox) == 0;
    if (pub == NULL && !all) return;
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, kc->waiting); /* collected, then failed: order is irrelevant */
    while (g_hash_table_iter_next(&it, &k, &v))
        if (all || strcmp(v, pub) == 0) g_array_append_val(ids, *(uint64_t *)k);
    for (guint i = 0; i < ids->len; i++) {
        uint64_t id = g_array_index(ids, uint64_t, i);
        g_hash_table_remove(kc->waiting, &id);
        uint64_t *key = g_new(uint64_t, 1);
        *key = id;
        g_hash_table_replace(kc->replies, key, REPLY_DENIED);
    }
}

static void on_error(void *ctx, const char *text) {
    KvConn *kc = ctx;
    g_free(kc->last_error);
    kc->last_error = g_strdup(text);
    fail_denied(kc, text);
}

static void on_pong(void *ctx) { ((KvConn *)ctx)->pongs++; }

static void on_info(void *ctx, const char *json, size_t len) {
    KvConn *kc = ctx;
    g_autoptr(JsonParser) p = json_parser_new();
    if (!jsonu_load(p, json, len)) return;
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) return;
    JsonObject *o = json_node_get_object(root);
    if (json_object_has_member(o, "version")) {
        g_free(kc->version);
        kc->version = g_strdup(json_object_get_string_member(o, "version"));
    }
    if (json_object_has_member(o, "max_payload")) {
        gint64 mp = json_object_get_int_member(o, "max_payload");
        if (mp > 0) kc->max_payload = (size_t)mp;
    }
}

static void reply_free(gpointer p) {
    if (p != REPLY_NO_RESPONDERS && p != REPLY_DENIED) kv_msg_free(p);
}

static void queue_free(gpointer p) { g_queue_free_full(p, (GDestroyNotify)kv_msg_free); }

KvConn *kv_conn_new(Env *env, const char *inbox_prefix, KvPumpFn pump, void *world) {
    KvConn *kc = g_new0(KvConn, 1);
    kc->env = env;
    kc->pump = pump;
    kc->world = world;
    kc->max_payload = 1024 * 1024;
    kc->inbox_prefix = g_strdup(inbox_prefix);
    kc->waiting = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    kc->replies = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, reply_free);
    kc->subs = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, queue_free);
    ClientOptions opts = {.name = "minijet", .echo = true, .inbox_prefix = inbox_prefix};
    ClientCallbacks cb = {.on_connected = on_connected, .on_msg = on_msg,
                           .on_error = on_error, .on_pong = on_pong, .on_info = on_info};
    kc->client = client_new(&opts, &cb, kc);
    return kc;
}

void kv_conn_free(KvConn *kc) {
    if (!kc) return;
    client_free(kc->client);
    g_hash_table_destroy(kc->replies);
    g_hash_table_destroy(kc->subs);
    g_hash_table_destroy(kc->waiting);
    g_free(kc->inbox_prefix);
    g_free(kc->last_error);
    g_free(kc->version);
    g_free(kc);
}

Client *kv_conn_client(KvConn *kc) { return kc->client; }
Env *kv_conn_env(KvConn *kc) { return kc->env; }
void kv_conn_set_closed(KvConn *kc) { kc->closed = true; }
size_t kv_conn_max_payload(KvConn *kc) { return kc->max_payload; }
const char *kv_conn_server_version(KvConn *kc) { return kc->version ? kc->version : ""; }
const char *kv_conn_last_error(KvConn *kc) { return kc->last_error; }

/* Pump until done(kc, arg) holds. The one loop every blocking call goes through. */
typedef bool (*DoneFn)(KvConn *kc, const void *arg);

static gboolean wait_for(KvConn *kc, DoneFn done, const void *arg, int64_t timeout_ns,
                         const char *what, GError **error) {
    int64_t start = env_now_ns(kc->env);
    for (;;) {
        if (done(kc, arg)) return TRUE;
        if (kc->closed) {
            g_set_error(error, KV_ERROR, KV_ERROR_DISCONNECTED, "%s: connection closed%s%s", what,
                        kc->last_error ? ": " : "", kc->last_error ? kc->last_error : "");
            return FALSE;
        }
        int64_t waited = env_now_ns(kc->env) - start;
        if (timeout_ns >= 0 && waited >= timeout_ns) {
            g_set_error(error, KV_ERROR, KV_ERROR_TIMEOUT, "%s: timeout", what);
            return FALSE;
        }
        int64_t slice = timeout_ns < 0 ? 1000000000LL : timeout_ns - waited;
        if (!kc->pump(kc->world, slice)) kc->closed = true;
    }
}

static bool is_connected(KvConn *kc, const void *arg) { return kc->connected; }

gboolean kv_conn_wait_connected(KvConn *kc, int64_t timeout_ns, GError **error) {
    return wait_for(kc, is_connected, NULL, timeout_ns, "connect", error);
}

/* Requests use our own muxed inbox "<prefix>.k.*" rather than client_request(): JetStream
 * publishes need headers (expected sequences, KV-Operation), and the client's request form
 * has none. Request n replies to "<prefix>.k.<n>"; on_msg files the answer under n. */
uint64_t kv_conn_request_start(KvConn *kc, const char *subject, const void *hdr, size_t hdr_len,
                               const void *data, size_t len) {
    if (kc->mux_sid == 0) {
        g_autofree char *pat = g_strdup_printf("%s.k.*", kc->inbox_prefix);
        kc->mux_sid = client_subscribe(kc->client, pat, NULL);
    }
    uint64_t id = ++kc->next_request;
    g_autofree char *reply = g_strdup_printf("%s.k.%" G_GUINT64_FORMAT, kc->inbox_prefix, id);
    client_hpublish(kc->client, subject, reply, hdr, hdr_len, data, len);
    uint64_t *key = g_new(uint64_t, 1);
    *key = id;
    g_hash_table_insert(kc->waiting, key, g_strdup(subject));
    return id;
}

static bool has_reply(KvConn *kc, const void *arg) {
    return g_hash_table_contains(kc->replies, arg);
}

KvMsg *kv_conn_request_wait(KvConn *kc, uint64_t id, int64_t timeout_ns, GError **error) {
    if (!wait_for(kc, has_reply, &id, timeout_ns, "request", error)) {
        g_hash_table_remove(kc->waiting, &id);
        return NULL;
    }
    gpointer key, value;
    g_hash_table_steal_extended(kc->replies, &id, &key, &value);
    g_free(key);
    if (value == REPLY_NO_RESPONDERS) {
        g_set_error(error, KV_ERROR, KV_ERROR_NO_RESPONDERS, "no responders");
        return NULL;
    }
    if (value == REPLY_DENIED) {
        g_set_error(error, KV_ERROR, KV_ERROR_SERVER, "%s", kc->last_error ? kc->last_error : "permission denied");
        return NULL;
    }
    return value;
}

void kv_conn_request_cancel(KvConn *kc, uint64_t id) {
    g_hash_table_remove(kc->waiting, &id);
    g_hash_table_remove(kc->replies, &id);
}

KvMsg *kv_conn_request(KvConn *kc, const char *subject, const void *hdr, size_t hdr_len,
                       const void *data, size_t len, int64_t timeout_ns, GError **error) {
    uint64_t id = kv_conn_request_start(kc, subject, hdr, hdr_len, data, len);
    return kv_conn_request_wait(kc, id, timeout_ns, error);
}

uint64_t kv_conn_subscribe(KvConn *kc, const char *subject, const char *queue) {
    uint64_t sid = client_subscribe(kc->client, subject, queue);
    uint64_t *key = g_new(uint64_t, 1);
    *key = sid;
    g_hash_table_insert(kc->subs, key, g_queue_new());
    return sid;
}

static bool has_msg(KvConn *kc, const void *arg) {
    GQueue *q = g_hash_table_lookup(kc->subs, arg);
    return q == NULL || !g_queue_is_empty(q);
}

KvMsg *kv_conn_next(KvConn *kc, uint64_t sid, int64_t timeout_ns, GError **error) {
    if (!wait_for(kc, has_msg, &sid, timeout_ns, "next message", error)) return NULL;
    GQueue *q = g_hash_table_lookup(kc->subs, &sid);
    g_assert(q != NULL); /* the caller owns sid and has not unsubscribed it */
    return g_queue_pop_head(q);
}

void kv_conn_unsubscribe(KvConn *kc, uint64_t sid) {
    client_unsubscribe(kc->client, sid, 0);
    g_hash_table_remove(kc->subs, &sid);
}

void kv_conn_publish(KvConn *kc, const char *subject, const char *reply, const void *hdr,
                     size_t hdr_len, const void *data, size_t len) {
    client_hpublish(kc->client, subject, reply, hdr, hdr_len, data, len);
}

static bool pong_seen(KvConn *kc, const void *arg) { return kc->pongs >= *(const uint64_t *)arg; }

gboolean kv_conn_flush(KvConn *kc, int64_t timeout_ns, GError **error) {
    uint64_t want = kc->pongs + 1;
    client_ping(kc->client);
    return wait_for(kc, pong_seen, &want, timeout_ns, "flush", error);
}

char *kv_conn_inbox(KvConn *kc) {
    return g_strdup_printf("%s.i%" G_GUINT64_FORMAT, kc->inbox_prefix, ++kc->next_inbox);
}

/* ------------------------------------------------------------------------------------- */
/* JetStream calls                                                                        */

/* Parse a reply body as a JSON object; an "error" member becomes a KV_ERROR whose code is
 * the API's err_code and whose message is its description, verbatim. */
static JsonObject *reply_object(const KvMsg *m, JsonParser **parser, GError **error) {
    gsize n;
    const char *body = g_bytes_get_data(m->data, &n);
    *parser = json_parser_new();
    JsonNode *root = NULL;
    if (n > 0 && jsonu_load(*parser, body, n))
        root = json_parser_get_root(*parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_clear_object(parser);
        int st = kv_msg_status(m);
        g_set_error(error, KV_ERROR, KV_ERROR_BAD_REPLY, "unexpected reply%s%d", st ? ": status " : "",
                    st);
        return NULL;
    }
    JsonObject *o = json_node_get_object(root);
    JsonNode *en = json_object_get_member(o, "error");
    if (en && JSON_NODE_HOLDS_OBJECT(en)) {
        JsonObject *e = json_node_get_object(en);
        gint64 code = json_object_get_int_member_with_default(e, "err_code", 0);
        const char *desc = json_object_get_string_member_with_default(e, "description", "error");
        g_set_error(error, KV_ERROR, code > 0 ? (int)code : KV_ERROR_SERVER, "%s", desc);
        g_clear_object(parser);
        return NULL;
    }
    return o;
}

JsonObject *kv_js_api(KvConn *kc, const char *api, const char *json, JsonParser **parser,
                      GError **error) {
    g_autofree char *subject = g_strconcat("$JS.API.", api, NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(KvMsg) m = kv_conn_request(kc, subject, NULL, 0, json, json ? strlen(json) : 0,
                                         KV_TIMEOUT_NS, &err);
    if (!m) {
        if (g_error_matches(err, KV_ERROR, KV_ERROR_NO_RESPONDERS))
            g_set_error(error, KV_ERROR, KV_ERROR_NO_RESPONDERS, "jetstream not enabled");
        else g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    return reply_object(m, parser, error);
}

/* The PubAck: {"stream":"KV_B", "seq":7} or {"error":{...},"stream":..,"seq":0}. */
uint64_t kv_js_puback(const KvMsg *m, GError **error) {
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = reply_object(m, &p, error);
    if (!o) return 0;
    gint64 seq = json_object_get_int_member_with_default(o, "seq", 0);
    if (seq <= 0) {
        g_set_error(error, KV_ERROR, KV_ERROR_BAD_REPLY, "publish acknowledgement without a sequence");
        return 0;
    }
    return (uint64_t)seq;
}

uint64_t kv_js_publish(KvConn *kc, const char *subject, const void *hdr, size_t hdr_len,
                       const void *data, size_t len, GError **error) {
    g_autoptr(GError) err = NULL;
    g_autoptr(KvMsg) m = kv_conn_request(kc, subject, hdr, hdr_len, data, len, KV_TIMEOUT_NS, &err);
    if (!m) {
        if (g_error_matches(err, KV_ERROR, KV_ERROR_NO_RESPONDERS))
            g_set_error(error, KV_ERROR, KV_ERROR_NO_RESPONDERS, "no stream stores %s", subject);
        else g_propagate_error(error, g_steal_pointer(&err));
        return 0;
    }
    return kv_js_puback(m, error);
}

/* ------------------------------------------------------------------------------------- */
/* ordered consumers                                                                      */

struct KvConsumer {
    KvConn *kc;
    char *stream, *name, *inbox;
    uint64_t sid, initial_pending;
};

static void json_str(GString *s, const char *v) {
    g_string_append_c(s, '"');
    for (const char *p = v; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') g_string_append_printf(s, "\\%c", ch);
        else if (ch < 0x20) g_string_append_printf(s, "\\u%04x", ch);
        else g_string_append_c(s, (char)ch);
    }
    g_string_append_c(s, '"');
}

/* The config an ordered consumer of the official clients uses (spec §3.13), minus the
 * re-creation: ack none, one delivery, flow control and a 5 s heartbeat, memory storage. */
KvConsumer *kv_consumer_start(KvConn *kc, const char *stream, const char *filter,
                              KvDeliver deliver, bool headers_only, GError **error) {
    static const char *policy[] = {"all", "last_per_subject", "new"};
    KvConsumer *c = g_new0(KvConsumer, 1);
    c->kc = kc;
    c->stream = g_strdup(stream);
    c->inbox = kv_conn_inbox(kc);
    c->sid = kv_conn_subscribe(kc, c->inbox, NULL);
    GString *j = g_string_new("{\"stream_name\":");
    json_str(j, stream);
    g_string_append(j, ",\"config\":{\"deliver_subject\":");
    json_str(j, c->inbox);
    g_string_append_printf(j, ",\"deliver_policy\":\"%s\",\"ack_policy\":\"none\","
                              "\"max_deliver\":1,\"replay_policy\":\"instant\",\"filter_subject\":",
                           policy[deliver]);
    json_str(j, filter);
    g_string_append_printf(j, ",\"flow_control\":true,\"idle_heartbeat\":5000000000,"
                              "\"mem_storage\":true,\"num_replicas\":1%s}}",
                           headers_only ? ",\"headers_only\":true" : "");
    g_autofree char *api = g_strconcat("CONSUMER.CREATE.", stream, NULL);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = kv_js_api(kc, api, j->str, &p, error);
    g_string_free(j, TRUE);
    if (!o) {
        kv_conn_unsubscribe(kc, c->sid);
        c->sid = 0;
        kv_consumer_stop(c);
        return NULL;
    }
    c->name = g_strdup(json_object_get_string_member_with_default(o, "name", ""));
    c->initial_pending = (uint64_t)json_object_get_int_member_with_default(o, "num_pending", 0);
    return c;
}

uint64_t kv_consumer_initial_pending(const KvConsumer *c) { return c->initial_pending; }

/* "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>" (9 tokens), or the
 * 12-token form with domain and account hash in front and a random token at the end. */
static bool parse_ack(const char *reply, KvMsgMeta *meta) {
    if (!reply || !g_str_has_prefix(reply, "$JS.ACK.")) return false;
    g_auto(GStrv) t = g_strsplit(reply, ".", -1);
    guint n = g_strv_length(t), base;
    if (n == 9) base = 4;
    else if (n >= 12) base = 6;
    else return false;
    meta->stream_seq = g_ascii_strtoull(t[base + 1], NULL, 10);
    meta->consumer_seq = g_ascii_strtoull(t[base + 2], NULL, 10);
    meta->time_ns = g_ascii_strtoll(t[base + 3], NULL, 10);
    meta->pending = g_ascii_strtoull(t[base + 4], NULL, 10);
    return true;
}

KvMsg *kv_consumer_next(KvConsumer *c, int64_t timeout_ns, KvMsgMeta *meta, GError **error) {
    int64_t start = env_now_ns(c->kc->env);
    for (;;) {
        int64_t left = timeout_ns < 0 ? -1 : timeout_ns - (env_now_ns(c->kc->env) - start);
        if (timeout_ns >= 0 && left < 0) left = 0;
        KvMsg *m = kv_conn_next(c->kc, c->sid, left, error);
        if (!m) return NULL;
        if (kv_msg_status(m) == 100) {
            /* Flow control asks for an empty reply; a heartbeat during a stall names the
             * flow-control subject still owed. Either way: answer and keep waiting. */
            g_autofree char *stalled = kv_msg_header(m, "Nats-Consumer-Stalled");
            if (m->reply) kv_conn_publish(c->kc, m->reply, NULL, NULL, 0, NULL, 0);
            if (stalled) kv_conn_publish(c->kc, stalled, NULL, NULL, 0, NULL, 0);
            kv_msg_free(m);
            continue;
        }
        KvMsgMeta mm = {0};
        if (!parse_ack(m->reply, &mm)) {
            g_set_error(error, KV_ERROR, KV_ERROR_BAD_REPLY, "delivered message without an ack subject");
            kv_msg_free(m);
            return NULL;
        }
        if (meta) *meta = mm;
        return m;
    }
}

void kv_consumer_stop(KvConsumer *c) {
    if (!c) return;
    if (c->sid) kv_conn_unsubscribe(c->kc, c->sid);
    if (c->name && *c->name && !c->kc->closed) {
        /* Best effort: an ephemeral would also go away by itself after inactive_threshold. */
        g_autofree char *api = g_strdup_printf("CONSUMER.DELETE.%s.%s", c->stream, c->name);
        g_autoptr(JsonParser) p = NULL;
        g_autoptr(GError) err = NULL;
        kv_js_api(c->kc, api, "", &p, &err);
    }
    g_free(c->stream);
    g_free(c->name);
    g_free(c->inbox);
    g_free(c);
}

/* ------------------------------------------------------------------------------------- */
/* encodings shared with objstore.c and cli.c                                             */

char *kv_b64_encode(const void *data, size_t len, bool url) {
    char *s = g_base64_encode(data, len);
    if (url)
        for (char *p = s; *p; p++) {
            if (*p == '+') *p = '-';
            else if (*p == '/') *p = '_';
        }
    return s;
}

GBytes *kv_b64_decode(const char *text) {
    GString *s = g_string_new(NULL);
    for (const char *p = text; *p; p++) {
        char ch = *p == '-' ? '+' : *p == '_' ? '/' : *p;
        if (!g_ascii_isalnum(ch) && ch != '+' && ch != '/' && ch != '=') {
            g_string_free(s, TRUE);
            return NULL;
        }
        g_string_append_c(s, ch);
    }
    while (s->len % 4) g_string_append_c(s, '=');
    gsize n = 0;
    guchar *d = g_base64_decode(s->str, &n);
    g_string_free(s, TRUE);
    return g_bytes_new_take(d, n);
}

char *kv_time_format(int64_t wall_ns) {
    int64_t sec = wall_ns / 1000000000LL, frac = wall_ns % 1000000000LL;
    if (frac < 0) frac += 1000000000LL, sec--;
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(sec);
    if (!dt) return g_strdup("0001-01-01T00:00:00Z");
    g_autofree char *base = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
    if (frac == 0) return g_strconcat(base, "Z", NULL);
    char digits[16];
    g_snprintf(digits, sizeof digits, "%09" G_GINT64_FORMAT, frac);
    for (int i = 8; i > 0 && digits[i] == '0'; i--) digits[i] = '\0';
    return g_strdup_printf("%s.%sZ", base, digits);
}

bool kv_time_parse(const char *text, int64_t *wall_ns) {
    int y, mo, d, h, mi, s, used = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6)
        return false;
    int64_t frac = 0;
    const char *p = text + used;
    if (*p == '.') {
        int digits = 0;
        for (p++; g_ascii_isdigit(*p); p++, digits++)
            if (digits < 9) frac = frac * 10 + (*p - '0');
        for (; digits < 9; digits++) frac *= 10;
    }
    g_autoptr(GDateTime) dt = g_date_time_new_utc(y, mo, d, h, mi, s);
    if (!dt) return false;
    *wall_ns = g_date_time_to_unix(dt) * 1000000000LL + frac;
    return true;
}

/* ------------------------------------------------------------------------------------- */
/* the bucket                                                                             */

struct Kv {
    KvConn *kc;
    char *bucket, *stream, *prefix; /* "B", "KV_B", "$KV.B." */
    bool direct;                    /* the stream allows DIRECT.GET */
};

void kv_entry_free(KvEntry *e) {
    if (!e) return;
    g_free(e->bucket);
    g_free(e->key);
    if (e->value) g_bytes_unref(e->value);
    g_free(e);
}

const char *kv_op_name(KvOp op) { return op == KV_OP_DEL ? "DEL" : op == KV_OP_PURGE ? "PURGE" : "PUT"; }

static bool word_char(char ch) { return g_ascii_isalnum(ch) || ch == '_'; }

/* nats.js: ^[-\w]+$ (nats.c: alphanumerics, '_' and '-': the same set). */
bool kv_bucket_valid(const char *name) {
    if (!name || !*name) return false;
    for (const char *p = name; *p; p++)
        if (!word_char(*p) && *p != '-') return false;
    return true;
}

/* nats.js: ^[-/=.\w]+$ with no leading or trailing '.'; like nats.c we also refuse an empty
 * token ("a..b"), which no server accepts as a subject. With `pattern`, tokens may be "*",
 * and the last one ">". */
static bool key_check(const char *key, bool pattern) {
    if (!key || !*key || key[0] == '.' || key[strlen(key) - 1] == '.' || strstr(key, ".."))
        return false;
    for (const char *p = key; *p; p++) {
        if (word_char(*p) || *p == '-' || *p == '/' || *p == '=' || *p == '.') continue;
        bool alone = (p == key || p[-1] == '.') && (p[1] == '\0' || p[1] == '.');
        if (pattern && *p == '*' && alone) continue;
        if (pattern && *p == '>' && alone && p[1] == '\0') continue;
        return false;
    }
    return true;
}
bool kv_key_valid(const char *key) { return key_check(key, false); }
bool kv_key_pattern_valid(const char *key) { return key_check(key, true); }

const char *kv_bucket(const Kv *kv) { return kv->bucket; }

static Kv *kv_from_info(KvConn *kc, const char *bucket, JsonObject *info) {
    Kv *kv = g_new0(Kv, 1);
    kv->kc = kc;
    kv->bucket = g_strdup(bucket);
    kv->stream = g_strconcat("KV_", bucket, NULL);
    kv->prefix = g_strdup_printf("$KV.%s.", bucket);
    JsonObject *cfg = json_object_get_object_member(info, "config");
    kv->direct = cfg && json_object_get_boolean_member_with_default(cfg, "allow_direct", FALSE);
    return kv;
}

static gboolean invalid(GError **error, const char *what, const char *value) {
    g_set_error(error, KV_ERROR, KV_ERROR_INVALID, "invalid %s: %s", what, value ? value : "(none)");
    return FALSE;
}

Kv *kv_open(KvConn *kc, const char *bucket, GError **error) {
    if (!kv_bucket_valid(bucket)) return invalid(error, "bucket name", bucket), NULL;
    g_autofree char *api = g_strdup_printf("STREAM.INFO.KV_%s", bucket);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o = kv_js_api(kc, api, "", &p, &err);
    if (!o) {
        if (g_error_matches(err, KV_ERROR, KV_JS_STREAM_NOT_FOUND))
            g_set_error(error, KV_ERROR, KV_ERROR_NOT_FOUND, "bucket not found: %s", bucket);
        else g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    return kv_from_info(kc, bucket, o);
}

/* As nats.js: look the stream up first, create it only on "stream not found", and use an
 * existing stream as it is. */
Kv *kv_create(KvConn *kc, const char *bucket, const KvOptions *opts, GError **error) {
    static const KvOptions defaults = {0};
    if (!opts) opts = &defaults;
    if (!kv_bucket_valid(bucket)) return invalid(error, "bucket name", bucket), NULL;
    int64_t history = opts->history ? opts->history : 1;
    if (history < 1 || history > 64) {
        g_set_error(error, KV_ERROR, KV_ERROR_INVALID, "history must be between 1 and 64");
        return NULL;
    }
    g_autoptr(GError) err = NULL;
    Kv *kv = kv_open(kc, bucket, &err);
    if (kv || !g_error_matches(err, KV_ERROR, KV_ERROR_NOT_FOUND)) {
        if (!kv) g_propagate_error(error, g_steal_pointer(&err));
        return kv;
    }
    GString *j = g_string_new(NULL);
    g_string_append_printf(j, "{\"name\":\"KV_%s\",\"retention\":\"limits\",\"max_msgs_per_subject\":%"
                              G_GINT64_FORMAT ",\"max_bytes\":%" G_GINT64_FORMAT
                              ",\"max_msg_size\":%" G_GINT64_FORMAT ",\"storage\":\"%s\","
                              "\"subjects\":[\"$KV.%s.>\"],\"discard\":\"new\",\"allow_direct\":true,"
                              "\"num_replicas\":1,\"allow_rollup_hdrs\":true",
                           bucket, history, opts->max_bytes ? opts->max_bytes : -1,
                           opts->max_value_bytes ? opts->max_value_bytes : -1,
                           opts->memory ? "memory" : "file", bucket);
    if (opts->ttl_ns > 0) g_string_append_printf(j, ",\"max_age\":%" G_GINT64_FORMAT, opts->ttl_ns);
    if (opts->description && *opts->description) {
        g_string_append(j, ",\"description\":");
        json_str(j, opts->description);
    }
    g_string_append_c(j, '}');
    g_autofree char *api = g_strdup_printf("STREAM.CREATE.KV_%s", bucket);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = kv_js_api(kc, api, j->str, &p, error);
    g_string_free(j, TRUE);
    return o ? kv_from_info(kc, bucket, o) : NULL;
}

void kv_free(Kv *kv) {
    if (!kv) return;
    g_free(kv->bucket);
    g_free(kv->stream);
    g_free(kv->prefix);
    g_free(kv);
}

static uint64_t put_with(Kv *kv, const char *key, const char *hdr, const void *value, size_t len,
                         GError **error) {
    if (!kv_key_valid(key)) return invalid(error, "key", key), 0;
    g_autofree char *subject = g_strconcat(kv->prefix, key, NULL);
    return kv_js_publish(kv->kc, subject, hdr, hdr ? strlen(hdr) : 0, value, len, error);
}

uint64_t kv_put(Kv *kv, const char *key, const void *value, size_t len, GError **error) {
    return put_with(kv, key, NULL, value, len, error);
}

uint64_t kv_update(Kv *kv, const char *key, const void *value, size_t len, uint64_t last_revision,
                   GError **error) {
    g_autofree char *hdr = g_strdup_printf(
        "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: %" G_GUINT64_FORMAT "\r\n\r\n", last_revision);
    return put_with(kv, key, hdr, value, len, error);
}

/* Create = "update expecting no message on the subject" (revision 0). A key whose newest
 * entry is a delete or purge marker counts as absent: retry on top of the marker. */
uint64_t kv_create_key(Kv *kv, const char *key, const void *value, size_t len, GError **error) {
    g_autoptr(GError) first = NULL;
    uint64_t rev = kv_update(kv, key, value, len, 0, &first);
    if (rev || !g_error_matches(first, KV_ERROR, KV_JS_WRONG_LAST_SEQUENCE)) {
        if (!rev) g_propagate_error(error, g_steal_pointer(&first));
        return rev;
    }
    g_autoptr(KvEntry) e = kv_get(kv, key, 0, NULL);
    if (e && e->op != KV_OP_PUT) return kv_update(kv, key, value, len, e->revision, error);
    g_set_error(error, KV_ERROR, KV_JS_WRONG_LAST_SEQUENCE, "key exists");
    return 0;
}

static gboolean mark(Kv *kv, const char *key, KvOp op, GError **error) {
    const char *hdr = op == KV_OP_DEL ? "NATS/1.0\r\nKV-Operation: DEL\r\n\r\n"
                                      : "NATS/1.0\r\nKV-Operation: PURGE\r\nNats-Rollup: sub\r\n\r\n";
    return put_with(kv, key, hdr, NULL, 0, error) != 0;
}
gboolean kv_delete(Kv *kv, const char *key, GError **error) { return mark(kv, key, KV_OP_DEL, error); }
gboolean kv_purge(Kv *kv, const char *key, GError **error) { return mark(kv, key, KV_OP_PURGE, error); }

static KvOp op_from(const char *v) {
    if (v && strcmp(v, "DEL") == 0) return KV_OP_DEL;
    if (v && strcmp(v, "PURGE") == 0) return KV_OP_PURGE;
    return KV_OP_PUT;
}

static KvEntry *entry_new(Kv *kv, const char *subject, GBytes *hdr, GBytes *value) {
    KvEntry *e = g_new0(KvEntry, 1);
    e->bucket = g_strdup(kv->bucket);
    e->key = g_strdup(g_str_has_prefix(subject, kv->prefix) ? subject + strlen(kv->prefix) : subject);
    e->value = value ? g_bytes_ref(value) : g_bytes_new(NULL, 0);
    if (hdr) {
        gsize n;
        const uint8_t *h = g_bytes_get_data(hdr, &n);
        g_autofree char *op = client_header_get(h, n, "KV-Operation");
        e->op = op_from(op);
    }
    return e;
}

static KvEntry *not_found(Kv *kv, const char *key, GError **error) {
    g_set_error(error, KV_ERROR, KV_ERROR_NOT_FOUND, "key not found: %s", key);
    return NULL;
}

/* DIRECT.GET answers with the stored headers plus Nats-Subject/-Sequence/-Time-Stamp. */
static KvEntry *get_direct(Kv *kv, const char *key, uint64_t revision, GError **error) {
    g_autofree char *subject = g_strconcat(kv->prefix, key, NULL);
    g_autofree char *api = revision ? g_strdup_printf("$JS.API.DIRECT.GET.%s", kv->stream)
                                    : g_strdup_printf("$JS.API.DIRECT.GET.%s.%s", kv->stream, subject);
    g_autofree char *body = revision ? g_strdup_printf("{\"seq\":%" G_GUINT64_FORMAT "}", revision)
                                     : g_strdup("");
    g_autoptr(KvMsg) m = kv_conn_request(kv->kc, api, NULL, 0, body, strlen(body), KV_TIMEOUT_NS, error);
    if (!m) return NULL;
    int st = kv_msg_status(m);
    if (st == 404) return not_found(kv, key, error);
    if (st != 0) {
        g_set_error(error, KV_ERROR, KV_ERROR_BAD_REPLY, "direct get: status %d", st);
        return NULL;
    }
    g_autofree char *subj = kv_msg_header(m, "Nats-Subject");
    g_autofree char *seq = kv_msg_header(m, "Nats-Sequence");
    g_autofree char *ts = kv_msg_header(m, "Nats-Time-Stamp");
    if (!subj || !seq) {
        g_set_error(error, KV_ERROR, KV_ERROR_BAD_REPLY, "direct get: reply without Nats-Subject");
        return NULL;
    }
    if (strcmp(subj, subject) != 0) return not_found(kv, key, error); /* that seq is another key */
    KvEntry *e = entry_new(kv, subj, m->hdr, m->data);
    e->revision = g_ascii_strtoull(seq, NULL, 10);
    kv_time_parse(ts, &e->created_ns);
    return e;
}

/* STREAM.MSG.GET answers with JSON: {"message":{"subject","seq","hdrs"(b64),"data"(b64),"time"}}. */
static KvEntry *get_msg(Kv *kv, const char *key, uint64_t revision, GError **error) {
    g_autofree char *subject = g_strconcat(kv->prefix, key, NULL);
    g_autofree char *api = g_strdup_printf("STREAM.MSG.GET.%s", kv->stream);
    g_autofree char *body = revision ? g_strdup_printf("{\"seq\":%" G_GUINT64_FORMAT "}", revision)
                                     : g_strdup_printf("{\"last_by_subj\":\"%s\"}", subject);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o = kv_js_api(kv->kc, api, body, &p, &err);
    if (!o) {
        if (g_error_matches(err, KV_ERROR, KV_JS_NO_MESSAGE_FOUND)) return not_found(kv, key, error);
        g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    JsonObject *msg = json_object_get_object_member(o, "message");
    const char *subj = msg ? json_object_get_string_member_with_default(msg, "subject", "") : "";
    if (strcmp(subj, subject) != 0) return not_found(kv, key, error);
    const char *hdrs = json_object_get_string_member_with_default(msg, "hdrs", NULL);
    const char *data = json_object_get_string_member_with_default(msg, "data", "");
    g_autoptr(GBytes) h = hdrs ? kv_b64_decode(hdrs) : NULL;
    g_autoptr(GBytes) d = kv_b64_decode(data);
    KvEntry *e = entry_new(kv, subj, h, d);
    e->revision = (uint64_t)json_object_get_int_member_with_default(msg, "seq", 0);
    kv_time_parse(json_object_get_string_member_with_default(msg, "time", NULL), &e->created_ns);
    return e;
}

KvEntry *kv_get(Kv *kv, const char *key, uint64_t revision, GError **error) {
    if (!kv_key_valid(key)) return invalid(error, "key", key), NULL;
    return kv->direct ? get_direct(kv, key, revision, error) : get_msg(kv, key, revision, error);
}

static KvEntry *entry_from_delivery(Kv *kv, const KvMsg *m, const KvMsgMeta *meta) {
    KvEntry *e = entry_new(kv, m->subject, m->hdr, m->data);
    e->revision = meta->stream_seq;
    e->created_ns = meta->time_ns;
    e->delta = meta->pending;
    return e;
}

/* Read every message a fresh consumer has pending at creation, as entries. */
static GPtrArray *read_all(Kv *kv, const char *filter, KvDeliver deliver, bool headers_only,
                           GError **error) {
    KvConsumer *c = kv_consumer_start(kv->kc, kv->stream, filter, deliver, headers_only, error);
    if (!c) return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)kv_entry_free);
    uint64_t pending = kv_consumer_initial_pending(c);
    while (pending > 0) {
        KvMsgMeta meta;
        g_autoptr(KvMsg) m = kv_consumer_next(c, KV_TIMEOUT_NS, &meta, error);
        if (!m) {
            g_ptr_array_free(out, TRUE);
            kv_consumer_stop(c);
            return NULL;
        }
        g_ptr_array_add(out, entry_from_delivery(kv, m, &meta));
        pending = meta.pending;
    }
    kv_consumer_stop(c);
    return out;
}

static gint cmp_str(gconstpointer a, gconstpointer b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **kv_keys(Kv *kv, GError **error) {
    g_autofree char *filter = g_strconcat(kv->prefix, ">", NULL);
    GPtrArray *entries = read_all(kv, filter, KV_DELIVER_LAST_PER_SUBJECT, true, error);
    if (!entries) return NULL;
    GPtrArray *keys = g_ptr_array_new();
    for (guint i = 0; i < entries->len; i++) {
        KvEntry *e = entries->pdata[i];
        if (e->op == KV_OP_PUT) g_ptr_array_add(keys, g_strdup(e->key));
    }
    g_ptr_array_free(entries, TRUE);
    g_ptr_array_sort(keys, cmp_str);
    g_ptr_array_add(keys, NULL);
    return (char **)g_ptr_array_free(keys, FALSE);
}

GPtrArray *kv_history(Kv *kv, const char *key, GError **error) {
    if (!kv_key_valid(key)) return invalid(error, "key", key), NULL;
    g_autofree char *filter = g_strconcat(kv->prefix, key, NULL);
    return read_all(kv, filter, KV_DELIVER_ALL, false, error);
}

gboolean kv_status(Kv *kv, KvStatus *st, GError **error) {
    g_autofree char *api = g_strdup_printf("STREAM.INFO.%s", kv->stream);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = kv_js_api(kv->kc, api, "", &p, error);
    if (!o) return FALSE;
    JsonObject *cfg = json_object_get_object_member(o, "config");
    JsonObject *state = json_object_get_object_member(o, "state");
    if (!cfg || !state) {
        g_set_error(error, KV_ERROR, KV_ERROR_BAD_REPLY, "stream info without config or state");
        return FALSE;
    }
    st->values = (uint64_t)json_object_get_int_member_with_default(state, "messages", 0);
    st->bytes = (uint64_t)json_object_get_int_member_with_default(state, "bytes", 0);
    st->history = json_object_get_int_member_with_default(cfg, "max_msgs_per_subject", 1);
    st->ttl_ns = json_object_get_int_member_with_default(cfg, "max_age", 0);
    st->direct = json_object_get_boolean_member_with_default(cfg, "allow_direct", FALSE);
    return TRUE;
}

gboolean kv_destroy(Kv *kv, GError **error) {
    g_autofree char *api = g_strdup_printf("STREAM.DELETE.%s", kv->stream);
    g_autoptr(JsonParser) p = NULL;
    return kv_js_api(kv->kc, api, "", &p, error) != NULL;
}

/* ------------------------------------------------------------------------------------- */
/* watch                                                                                  */

struct KvWatch {
    Kv *kv;
    KvConsumer *c;
    bool initialized;
};

KvWatch *kv_watch_start(Kv *kv, const char *key, KvWatchMode mode, GError **error) {
    if (!key) key = ">";
    if (!kv_key_pattern_valid(key)) return invalid(error, "key", key), NULL;
    g_autofree char *filter = g_strconcat(kv->prefix, key, NULL);
    KvDeliver d = mode == KV_WATCH_ALL_HISTORY ? KV_DELIVER_ALL
                  : mode == KV_WATCH_UPDATES_ONLY ? KV_DELIVER_NEW : KV_DELIVER_LAST_PER_SUBJECT;
    KvConsumer *c = kv_consumer_start(kv->kc, kv->stream, filter, d, false, error);
    if (!c) return NULL;
    KvWatch *w = g_new0(KvWatch, 1);
    w->kv = kv;
    w->c = c;
    w->initialized = kv_consumer_initial_pending(c) == 0;
    return w;
}

KvEntry *kv_watch_next(KvWatch *w, int64_t timeout_ns, GError **error) {
    KvMsgMeta meta;
    g_autoptr(KvMsg) m = kv_consumer_next(w->c, timeout_ns, &meta, error);
    if (!m) return NULL;
    if (meta.pending == 0) w->initialized = true;
    return entry_from_delivery(w->kv, m, &meta);
}

bool kv_watch_initialized(const KvWatch *w) { return w->initialized; }

void kv_watch_stop(KvWatch *w) {
    if (!w) return;
    kv_consumer_stop(w->c);
    g_free(w);
}
