/* client.c — the sans-IO NATS client (see client.h for the interface and invariants).
 *
 * HOW IT WORKS
 *   Input: a push parser with two states, like the server's (proto.c). In OP it waits for a
 *   whole control line ("MSG a.b 3 _INBOX.x 5\r\n"); for MSG/HMSG it remembers the line's
 *   fields as offsets and switches to PAYLOAD until payload + CRLF are buffered. Bytes that
 *   do not yet form a whole operation stay in `in` between feeds, so any split of the input
 *   works; consumed bytes are dropped from the front once at the end of each feed.
 *
 *   Output: one growing buffer. Before the server's INFO arrives nothing may precede CONNECT,
 *   so operations issued in CLIENT_WAIT_INFO are parked in `early` and appended after
 *   CONNECT, the re-sent SUBs and the handshake PING.
 *
 *   Requests use one wildcard subscription "<prefix>.r.*" (the "muxed inbox" of the official
 *   clients); request n is sent with reply subject "<prefix>.r.<n>" and the answer is matched
 *   back by that last token. A 503 status header with no payload means "no responders".
 *
 * LIMITATIONS
 *   No TLS, no auth, no verbose mode (+OK is accepted and ignored), no flow-control of output:
 *   the caller decides how fast output leaves.
 */
#include "client.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "jsonutil.h"
#include "limits.h"
#include "version.h"

/* Server lines are bounded by the server's control-line limit, except MSG lines (subject and
 * reply up to LIMIT_MAX_SUBJECT_BYTES each) and INFO (which grows with connect_urls). */
#define CLIENT_LINE_BYTES_MAX (LIMIT_MAX_CONTROL_LINE_BYTES + 2 * LIMIT_MAX_SUBJECT_BYTES)

typedef struct ClientSub {
    uint64_t sid;
    char *subject;
    char *queue;      /* NULL when none */
    uint64_t max;     /* auto-unsubscribe after this many messages in total; 0 = never */
    uint64_t received;
} ClientSub;

typedef enum { PARSE_OP, PARSE_PAYLOAD } ParseState;

struct Client {
    ClientOptions opts;
    char *name;
    char *inbox_prefix;
    char *user, *pass, *token; /* CONNECT credentials; NULL = none */
    ClientCallbacks cb;
    void *ctx;
    ClientState state;

    GByteArray *in;   /* unparsed input */
    size_t in_pos;    /* first unparsed byte of `in` */
    ParseState parse;
    /* the MSG/HMSG whose payload is awaited: offsets into `in` relative to in_pos' line */
    size_t m_subject_off, m_subject_len, m_reply_off, m_reply_len;
    bool m_has_reply;
    uint64_t m_sid;
    size_t m_hdr_len, m_total_len, m_line_len;

    GByteArray *out;  /* bytes to send */
    size_t out_pos;
    GByteArray *early; /* operations issued before INFO */

    GTree *subs;      /* sid -> ClientSub*, ordered so re-subscribing is deterministic */
    uint64_t next_sid;
    uint64_t mux_sid; /* 0 until the first request */
    GTree *requests;  /* request id -> itself (pending requests, ordered) */
    uint64_t next_request;
    uint64_t next_inbox;
    size_t user_pings; /* PINGs from client_ping awaiting PONG */
    bool handshake_ping;
};

G_DEFINE_QUARK(minijet-client-error-quark, client_error)

static gint u64_cmp(gconstpointer a, gconstpointer b, gpointer unused) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void sub_free(gpointer p) {
    ClientSub *s = p;
    g_free(s->subject);
    g_free(s->queue);
    g_free(s);
}

Client *client_new(const ClientOptions *opts, const ClientCallbacks *cb, void *ctx) {
    g_assert(opts && opts->inbox_prefix && cb);
    Client *c = g_new0(Client, 1);
    c->opts = *opts;
    c->name = g_strdup(opts->name);
    c->inbox_prefix = g_strdup(opts->inbox_prefix);
    c->opts.name = c->name;
    c->opts.inbox_prefix = c->inbox_prefix;
    if (c->opts.max_payload_bytes == 0) c->opts.max_payload_bytes = 1024 * 1024;
    c->cb = *cb;
    c->ctx = ctx;
    c->in = g_byte_array_new();
    c->out = g_byte_array_new();
    c->early = g_byte_array_new();
    c->subs = g_tree_new_full(u64_cmp, NULL, NULL, sub_free);
    c->requests = g_tree_new_full(u64_cmp, NULL, g_free, NULL);
    c->next_sid = 1;
    c->next_request = 1;
    c->next_inbox = 1;
    return c;
}

void client_free(Client *c) {
    if (!c) return;
    g_byte_array_unref(c->in);
    g_byte_array_unref(c->out);
    g_byte_array_unref(c->early);
    g_tree_destroy(c->subs);
    g_tree_destroy(c->requests);
    g_free(c->name);
    g_free(c->inbox_prefix);
    g_free(c->user);
    g_free(c->pass);
    g_free(c->token);
    g_free(c);
}

ClientState client_state(const Client *c) { return c->state; }

/* --- output --- */

static void out_append(Client *c, const char *s, size_t n) {
    GByteArray *dst = c->state == CLIENT_WAIT_INFO ? c->early : c->out;
    g_byte_array_append(dst, (const guint8 *)s, (guint)n);
}

static void out_printf(Client *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void out_printf(Client *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    out_append(c, s, strlen(s));
}

const uint8_t *client_output(const Client *c, size_t *len) {
    *len = c->out->len - c->out_pos;
    return c->out->data + c->out_pos;
}

void client_output_consume(Client *c, size_t n) {
    g_assert(n <= c->out->len - c->out_pos);
    c->out_pos += n;
    if (c->out_pos == c->out->len) {
        g_byte_array_set_size(c->out, 0);
        c->out_pos = 0;
    } else if (c->out_pos > 65536 && c->out_pos > c->out->len / 2) {
        g_byte_array_remove_range(c->out, 0, (guint)c->out_pos);
        c->out_pos = 0;
    }
}

static void write_sub(Client *c, const ClientSub *s) {
    if (s->queue) out_printf(c, "SUB %s %s %" G_GUINT64_FORMAT "\r\n", s->subject, s->queue, s->sid);
    else out_printf(c, "SUB %s %" G_GUINT64_FORMAT "\r\n", s->subject, s->sid);
    if (s->max > 0)
        out_printf(c, "UNSUB %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\r\n", s->sid,
                   s->max - s->received);
}

static gboolean resub_one(gpointer key, gpointer value, gpointer data) {
    write_sub(data, value);
    return FALSE;
}

/* The server's INFO arrived on a fresh connection: CONNECT, re-subscribe, PING, then what
 * the caller queued meanwhile. */
static void send_handshake(Client *c) {
    c->state = CLIENT_WAIT_PONG;
    GString *j = g_string_new("CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,");
    if (c->name) {
        g_string_append(j, "\"name\":");
        jsonu_append_quoted(j, c->name); /* the one JSON string escaper (jsonutil.h) */
        g_string_append_c(j, ',');
    }
    const char *keys[] = {"user", "pass", "auth_token"};
    const char *vals[] = {c->user, c->pass, c->token};
    for (int i = 0; i < 3; i++) {
        if (vals[i] == NULL) continue;
        g_string_append_printf(j, "\"%s\":", keys[i]);
        jsonu_append_quoted(j, vals[i]);
        g_string_append_c(j, ',');
    }
    g_string_append_printf(j, "\"lang\":\"c-minijet\",\"version\":\"" MINIJET_VERSION "\",\"protocol\":1,"
                              "\"echo\":%s,\"headers\":true,\"no_responders\":true}\r\n",
                           c->opts.echo ? "true" : "false");
    out_append(c, j->str, j->len);
    g_string_free(j, TRUE);
    g_tree_foreach(c->subs, resub_one, c);
    out_append(c, "PING\r\n", 6);
    c->handshake_ping = true;
    g_byte_array_append(c->out, c->early->data, c->early->len);
    g_byte_array_set_size(c->early, 0);
}

void client_set_credentials(Client *c, const char *user, const char *pass, const char *token) {
    g_free(c->user);
    g_free(c->pass);
    g_free(c->token);
    c->user = g_strdup(user);
    c->pass = g_strdup(pass);
    c->token = g_strdup(token);
}

void client_reset(Client *c) {
    c->state = CLIENT_WAIT_INFO;
    g_byte_array_set_size(c->in, 0);
    c->in_pos = 0;
    c->parse = PARSE_OP;
    g_byte_array_set_size(c->out, 0);
    c->out_pos = 0;
    g_byte_array_set_size(c->early, 0);
    c->user_pings = 0;
    c->handshake_ping = false;
    /* Fail pending requests in id order. Collect first: callbacks may issue new requests. */
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    while (g_tree_nnodes(c->requests) > 0) {
        GTreeNode *n = g_tree_node_first(c->requests);
        uint64_t id = *(uint64_t *)g_tree_node_key(n);
        g_array_append_val(ids, id);
        g_tree_remove(c->requests, &id);
    }
    for (guint i = 0; i < ids->len; i++)
        if (c->cb.on_reply)
            c->cb.on_reply(c->ctx, g_array_index(ids, uint64_t, i), CLIENT_REPLY_DISCONNECTED, NULL);
    g_array_free(ids, TRUE);
}

uint64_t client_subscribe(Client *c, const char *subject, const char *queue) {
    ClientSub *s = g_new0(ClientSub, 1);
    s->sid = c->next_sid++;
    s->subject = g_strdup(subject);
    s->queue = g_strdup(queue);
    g_tree_insert(c->subs, &s->sid, s);
    if (c->state != CLIENT_WAIT_INFO) write_sub(c, s); /* else: sent with the handshake */
    return s->sid;
}

void client_unsubscribe(Client *c, uint64_t sid, uint64_t max) {
    ClientSub *s = g_tree_lookup(c->subs, &sid);
    if (!s) return;
    if (max > 0 && max > s->received) {
        s->max = max;
        if (c->state != CLIENT_WAIT_INFO)
            out_printf(c, "UNSUB %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\r\n", sid, max - s->received);
        return;
    }
    if (c->state != CLIENT_WAIT_INFO) out_printf(c, "UNSUB %" G_GUINT64_FORMAT "\r\n", sid);
    g_tree_remove(c->subs, &sid);
}

static void out_u64(Client *c, uint64_t v) {
    char num[24];
    int k = sizeof num;
    do num[--k] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    out_append(c, num + k, sizeof num - (size_t)k);
}

/* PUB/HPUB lines are built by hand: this is the hot path of every publisher. */
void client_hpublish(Client *c, const char *subject, const char *reply, const void *hdr,
                     size_t hdr_len, const void *payload, size_t len) {
    out_append(c, hdr_len > 0 ? "HPUB " : "PUB ", hdr_len > 0 ? 5 : 4);
    out_append(c, subject, strlen(subject));
    out_append(c, " ", 1);
    if (reply) {
        out_append(c, reply, strlen(reply));
        out_append(c, " ", 1);
    }
    if (hdr_len > 0) {
        out_u64(c, hdr_len);
        out_append(c, " ", 1);
    }
    out_u64(c, hdr_len + len);
    out_append(c, "\r\n", 2);
    if (hdr_len > 0) out_append(c, hdr, hdr_len);
    if (len > 0) out_append(c, payload, len);
    out_append(c, "\r\n", 2);
}

void client_publish(Client *c, const char *subject, const char *reply, const void *payload,
                    size_t len) {
    client_hpublish(c, subject, reply, NULL, 0, payload, len);
}

void client_ping(Client *c) {
    out_append(c, "PING\r\n", 6);
    c->user_pings++;
}

char *client_inbox_new(Client *c) {
    return g_strdup_printf("%s.%" G_GUINT64_FORMAT, c->inbox_prefix, c->next_inbox++);
}

uint64_t client_request(Client *c, const char *subject, const void *payload, size_t len) {
    if (c->mux_sid == 0) {
        g_autofree char *pat = g_strdup_printf("%s.r.*", c->inbox_prefix);
        c->mux_sid = client_subscribe(c, pat, NULL);
    }
    uint64_t *id = g_new(uint64_t, 1);
    *id = c->next_request++;
    g_tree_insert(c->requests, id, id);
    g_autofree char *reply = g_strdup_printf("%s.r.%" G_GUINT64_FORMAT, c->inbox_prefix, *id);
    client_publish(c, subject, reply, payload, len);
    return *id;
}

void client_request_cancel(Client *c, uint64_t request_id) {
    g_tree_remove(c->requests, &request_id);
}

size_t client_requests_pending(const Client *c) { return (size_t)g_tree_nnodes(c->requests); }

/* --- headers --- */

int client_header_status(const uint8_t *hdr, size_t len) {
    /* "NATS/1.0 503\r\n..." or "NATS/1.0 503 No Responders\r\n..." */
    if (!hdr || len < 12 || memcmp(hdr, "NATS/1.0 ", 9) != 0) return 0;
    int code = 0;
    size_t i = 9;
    for (; i < len && i < 12; i++) {
        if (hdr[i] < '0' || hdr[i] > '9') return 0;
        code = code * 10 + (hdr[i] - '0');
    }
    return i == 12 ? code : 0;
}

char *client_header_get(const uint8_t *hdr, size_t len, const char *key) {
    if (!hdr) return NULL;
    size_t klen = strlen(key), i = 0;
    while (i < len && hdr[i] != '\n') i++; /* skip the NATS/1.0 line */
    i++;
    while (i < len) {
        size_t e = i;
        while (e < len && hdr[e] != '\n') e++;
        size_t le = (e > i && hdr[e - 1] == '\r') ? e - 1 : e;
        if (le - i > klen && g_ascii_strncasecmp((const char *)hdr + i, key, klen) == 0 &&
            hdr[i + klen] == ':') {
            size_t v = i + klen + 1;
            while (v < le && (hdr[v] == ' ' || hdr[v] == '\t')) v++;
            return g_strndup((const char *)hdr + v, le - v);
        }
        i = e + 1;
    }
    return NULL;
}

/* --- input --- */

static gboolean fail(GError **error, const char *what) {
    g_set_error(error, CLIENT_ERROR, CLIENT_ERROR_PROTOCOL, "protocol error: %s", what);
    return FALSE;
}

/* Split a control line's arguments at runs of blanks. Returns the count (at most max). */
static int split_args(const char *s, size_t len, size_t *off, size_t *alen, int max) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= len) break;
        size_t st = i;
        while (i < len && s[i] != ' ' && s[i] != '\t') i++;
        if (n == max) return max + 1;
        off[n] = st;
        alen[n] = i - st;
        n++;
    }
    return n;
}

static bool parse_u64(const char *s, size_t len, uint64_t *v) {
    if (len == 0 || len > 19) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return true;
}

static void handle_info(Client *c, const char *json, size_t len) {
    g_autoptr(JsonParser) p = json_parser_new();
    if (jsonu_load(p, json, len)) {
        JsonNode *root = json_parser_get_root(p);
        if (root && JSON_NODE_HOLDS_OBJECT(root)) {
            JsonObject *o = json_node_get_object(root);
            if (json_object_has_member(o, "max_payload")) {
                gint64 mp = json_object_get_int_member(o, "max_payload");
                if (mp > 0) c->opts.max_payload_bytes = (size_t)mp;
            }
        }
    }
    if (c->cb.on_info) c->cb.on_info(c->ctx, json, len);
    if (c->state == CLIENT_WAIT_INFO) send_handshake(c);
}

static void handle_pong(Client *c) {
    if (c->handshake_ping) {
        c->handshake_ping = false;
        c->state = CLIENT_CONNECTED;
        if (c->cb.on_connected) c->cb.on_connected(c->ctx);
    } else if (c->user_pings > 0) {
        c->user_pings--;
        if (c->cb.on_pong) c->cb.on_pong(c->ctx);
    }
}

static void deliver(Client *c, const uint8_t *line, const uint8_t *body) {
    ClientMsg m = {
        .subject = (const char *)line + c->m_subject_off,
        .subject_len = c->m_subject_len,
        .sid = c->m_sid,
        .reply = c->m_has_reply ? (const char *)line + c->m_reply_off : NULL,
        .reply_len = c->m_has_reply ? c->m_reply_len : 0,
        .hdr = c->m_hdr_len ? body : NULL,
        .hdr_len = c->m_hdr_len,
        .payload = body + c->m_hdr_len,
        .payload_len = c->m_total_len - c->m_hdr_len,
    };
    if (c->mux_sid != 0 && m.sid == c->mux_sid) {
        const char *dot = memrchr(m.subject, '.', m.subject_len);
        uint64_t id;
        if (!dot || !parse_u64(dot + 1, m.subject_len - (size_t)(dot + 1 - m.subject), &id)) return;
        if (!g_tree_lookup(c->requests, &id)) return; /* late answer to a cancelled request */
        g_tree_remove(c->requests, &id);
        bool nr = m.payload_len == 0 && client_header_status(m.hdr, m.hdr_len) == 503;
        if (c->cb.on_reply)
            c->cb.on_reply(c->ctx, id, nr ? CLIENT_REPLY_NO_RESPONDERS : CLIENT_REPLY_OK, nr ? NULL : &m);
        return;
    }
    ClientSub *s = g_tree_lookup(c->subs, &m.sid);
    if (!s) return; /* in flight when we unsubscribed */
    s->received++;
    bool last = s->max > 0 && s->received >= s->max;
    if (c->cb.on_msg) c->cb.on_msg(c->ctx, &m);
    if (last) g_tree_remove(c->subs, &m.sid);
}

/* One control line (without CRLF). Returns FALSE on a protocol error. */
static gboolean handle_line(Client *c, const char *l, size_t len, GError **error) {
    size_t oplen = 0;
    while (oplen < len && l[oplen] != ' ' && l[oplen] != '\t') oplen++;
    const char *args = l + oplen;
    size_t alen = len - oplen;
#define OP_IS(s) (oplen == sizeof(s) - 1 && g_ascii_strncasecmp(l, s, oplen) == 0)
    if (OP_IS("MSG") || OP_IS("HMSG")) {
        bool h = OP_IS("HMSG");
        size_t off[6], al[6];
        int n = split_args(args, alen, off, al, 5);
        int want = h ? 4 : 3;
        if (n != want && n != want + 1) return fail(error, "bad MSG arguments");
        c->m_has_reply = n == want + 1;
        c->m_subject_off = oplen + off[0];
        c->m_subject_len = al[0];
        if (!parse_u64(args + off[1], al[1], &c->m_sid)) return fail(error, "bad sid");
        if (c->m_has_reply) {
            c->m_reply_off = oplen + off[2];
            c->m_reply_len = al[2];
        }
        int k = c->m_has_reply ? 3 : 2;
        uint64_t hl = 0, tl;
        if (h) {
            if (!parse_u64(args + off[k], al[k], &hl)) return fail(error, "bad header size");
            k++;
        }
        if (!parse_u64(args + off[k], al[k], &tl)) return fail(error, "bad size");
        if (hl > tl || tl > c->opts.max_payload_bytes + 65536) return fail(error, "bad size");
        c->m_hdr_len = (size_t)hl;
        c->m_total_len = (size_t)tl;
        c->parse = PARSE_PAYLOAD;
        return TRUE;
    }
    if (OP_IS("PING")) {
        out_append(c, "PONG\r\n", 6);
        return TRUE;
    }
    if (OP_IS("PONG")) {
        handle_pong(c);
        return TRUE;
    }
    if (OP_IS("+OK")) return TRUE;
    if (OP_IS("INFO")) {
        while (alen > 0 && (*args == ' ' || *args == '\t')) args++, alen--;
        handle_info(c, args, alen);
        return TRUE;
    }
    if (OP_IS("-ERR")) {
        while (alen > 0 && (*args == ' ' || *args == '\t')) args++, alen--;
        while (alen > 0 && (args[alen - 1] == ' ' || args[alen - 1] == '\t')) alen--;
        if (alen >= 2 && args[0] == '\'' && args[alen - 1] == '\'') args++, alen -= 2;
        g_autofree char *text = g_strndup(args, alen);
        if (c->cb.on_error) c->cb.on_error(c->ctx, text);
        return TRUE;
    }
#undef OP_IS
    return fail(error, "unknown operation");
}

gboolean client_feed(Client *c, const uint8_t *data, size_t len, GError **error) {
    g_byte_array_append(c->in, data, (guint)len);
    gboolean ok = TRUE;
    for (;;) {
        const uint8_t *base = c->in->data + c->in_pos;
        size_t avail = c->in->len - c->in_pos;
        if (c->parse == PARSE_OP) {
            const uint8_t *nl = memchr(base, '\n', avail);
            if (!nl) {
                if (avail > CLIENT_LINE_BYTES_MAX) ok = fail(error, "control line too long");
                break;
            }
            size_t ll = (size_t)(nl - base);
            if (ll > CLIENT_LINE_BYTES_MAX) { ok = fail(error, "control line too long"); break; }
            size_t l2 = ll > 0 && base[ll - 1] == '\r' ? ll - 1 : ll;
            c->m_line_len = ll + 1;
            if (!handle_line(c, (const char *)base, l2, error)) { ok = FALSE; break; }
            if (c->parse == PARSE_OP) c->in_pos += ll + 1;
        } else {
            size_t need = c->m_line_len + c->m_total_len + 2;
            if (avail < need) break;
            const uint8_t *body = base + c->m_line_len;
            if (body[c->m_total_len] != '\r' || body[c->m_total_len + 1] != '\n') {
                ok = fail(error, "message not followed by CRLF");
                break;
            }
            c->parse = PARSE_OP;
            c->in_pos += need;
            deliver(c, base, body);
        }
    }
    if (c->in_pos == c->in->len) {
        g_byte_array_set_size(c->in, 0);
        c->in_pos = 0;
    } else if (c->in_pos > 0) {
        g_byte_array_remove_range(c->in, 0, (guint)c->in_pos);
        c->in_pos = 0;
    }
    return ok;
}
