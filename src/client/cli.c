/* cli.c — the `minijet` command-line tool (see cli.h; reference in book/appendix-cli.md).
 *
 * HOW IT WORKS
 *   main() hands us a world (an Env plus run/stop for its loop). We parse argv into a command
 *   path ("kv put"), positional arguments and --options, connect with env_conn_connect, and
 *   drive minijet's sans-IO client through kv.h's blocking KvConn. The pump below is the
 *   only place where the loop runs: it queues the client's output, arms a zero-delay "kick"
 *   timer (so the queued bytes are flushed at once instead of after the next epoll wait) and
 *   a deadline timer, and runs the loop until bytes arrive, the connection closes or the
 *   deadline passes. Everything else is straight-line code: request, wait, print.
 *
 * OUTPUT
 *   Human-readable lines and tables on stdout by default; --json prints the JetStream API's
 *   JSON (or one JSON object per line for streams of messages). Failure: one line
 *   "minijet: error: <what>" on stderr and exit status 1; a usage error exits with 2.
 */
#include "cli.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "kv.h"
#include "objstore.h"

typedef struct Cli {
    const CliWorld *w;
    Env *env;
    EnvConn conn;
    KvConn *kc;
    bool closed;
    /* parsed arguments */
    GPtrArray *pos;      /* positional arguments after the command words */
    GHashTable *opts;    /* "--name" -> value ("" for flags); last one wins */
    GPtrArray *headers;  /* every --header K:V, in order */
    bool json;
} Cli;

/* ------------------------------------------------------------------------------------- */
/* the world: connection handlers and the pump                                            */

static void h_accept(void *core, EnvConn conn, const char *ip, int port) {}

static void send_output(Cli *c) {
    if (c->closed) return;
    Client *cl = kv_conn_client(c->kc);
    size_t n;
    const uint8_t *out = client_output(cl, &n);
    if (n == 0) return;
    env_conn_send1(c->env, c->conn, out, n);
    client_output_consume(cl, n);
}

static void h_bytes(void *core, EnvConn conn, const uint8_t *data, size_t len) {
    Cli *c = core;
    g_autoptr(GError) err = NULL;
    if (!client_feed(kv_conn_client(c->kc), data, len, &err)) {
        fprintf(stderr, "minijet: error: %s\n", err->message);
        env_conn_close(c->env, conn);
    }
    send_output(c); /* PONGs and anything callbacks queued */
    c->w->stop(c->env);
}

static void h_closed(void *core, EnvConn conn) {
    Cli *c = core;
    c->closed = true;
    kv_conn_set_closed(c->kc);
    c->w->stop(c->env);
}

static void t_kick(void *arg) {}
static void t_deadline(void *arg) {
    Cli *c = arg;
    c->w->stop(c->env);
}

static gboolean pump(void *world, int64_t wait_ns) {
    Cli *c = world;
    if (c->closed) return FALSE;
    send_output(c);
    EnvTimer kick = env_timer_add(c->env, 0, t_kick, c);
    EnvTimer deadline = env_timer_add(c->env, wait_ns, t_deadline, c);
    c->w->run(c->env);
    env_timer_cancel(c->env, kick);
    env_timer_cancel(c->env, deadline);
    return !c->closed;
}

/* ------------------------------------------------------------------------------------- */
/* arguments and output helpers                                                           */

static const char *opt(Cli *c, const char *name) { return g_hash_table_lookup(c->opts, name); }
static bool flag(Cli *c, const char *name) { return opt(c, name) != NULL; }

static int64_t opt_int(Cli *c, const char *name, int64_t def) {
    const char *v = opt(c, name);
    return v && *v ? g_ascii_strtoll(v, NULL, 10) : def;
}

/* Go-style durations: "500ms", "10s", "5m", "24h", "2d"; a bare number is seconds. -1 = bad. */
static int64_t parse_duration(const char *s) {
    if (!s || !*s) return -1;
    char *end = NULL;
    double v = g_ascii_strtod(s, &end);
    if (end == s || v < 0) return -1;
    static const struct { const char *u; double ns; } units[] = {
        {"", 1e9}, {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
    for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
        if (strcmp(end, units[i].u) == 0) return (int64_t)(v * units[i].ns);
    return -1;
}

static int64_t opt_duration(Cli *c, const char *name, int64_t def) {
    const char *v = opt(c, name);
    return v ? parse_duration(v) : def;
}

static int fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "minijet: error: %s\n", m);
    return 1;
}

static int fail_error(GError *err) { return fail("%s", err ? err->message : "unknown failure"); }

static void print_json_object(JsonObject *o) {
    g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(n, o);
    g_autofree char *s = json_to_string(n, TRUE);
    printf("%s\n", s);
}

static void print_payload(GBytes *b) {
    gsize n;
    const char *d = g_bytes_get_data(b, &n);
    fwrite(d, 1, n, stdout);
    printf("\n");
}

static char *json_escape(const char *s) {
    g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), s);
    return json_to_string(n, FALSE);
}

/* A payload as JSON: a string when it is UTF-8 text, else {"base64": "..."}. */
static char *json_payload(GBytes *b) {
    gsize n;
    const char *d = b ? g_bytes_get_data(b, &n) : (n = 0, "");
    if (g_utf8_validate(d, (gssize)n, NULL) && memchr(d, '\0', n) == NULL) {
        g_autofree char *t = g_strndup(d, n);
        return json_escape(t);
    }
    g_autofree char *b64 = g_base64_encode((const guchar *)d, n);
    return g_strdup_printf("{\"base64\":\"%s\"}", b64);
}

static const char *pos(Cli *c, guint i) { return i < c->pos->len ? c->pos->pdata[i] : NULL; }

/* The header block for --header K:V options, or NULL. */
static GString *header_block(Cli *c) {
    if (c->headers->len == 0) return NULL;
    GString *h = g_string_new("NATS/1.0\r\n");
    for (guint i = 0; i < c->headers->len; i++) {
        const char *kv = c->headers->pdata[i], *colon = strchr(kv, ':');
        if (!colon) continue;
        g_autofree char *k = g_strstrip(g_strndup(kv, (gsize)(colon - kv)));
        g_autofree char *v = g_strstrip(g_strdup(colon + 1));
        g_string_append_printf(h, "%s: %s\r\n", k, v);
    }
    g_string_append(h, "\r\n");
    return h;
}

static JsonObject *api(Cli *c, const char *subject, const char *body, JsonParser **p, GError **error) {
    return kv_js_api(c->kc, subject, body ? body : "", p, error);
}

static void print_msg(Cli *c, const KvMsg *m, uint64_t n) {
    if (c->json) {
        g_autofree char *subj = json_escape(m->subject);
        g_autofree char *data = json_payload(m->data);
        g_autofree char *reply = m->reply ? json_escape(m->reply) : g_strdup("null");
        g_autofree char *hdr = NULL;
        if (m->hdr) {
            g_autofree char *t = g_strndup(g_bytes_get_data(m->hdr, NULL), g_bytes_get_size(m->hdr));
            hdr = json_escape(t);
        }
        printf("{\"subject\":%s,\"reply\":%s,\"headers\":%s,\"data\":%s}\n", subj, reply,
               hdr ? hdr : "null", data);
    } else {
        printf("[#%" G_GUINT64_FORMAT "] Received on \"%s\"%s%s\n", n, m->subject,
               m->reply ? " with reply " : "", m->reply ? m->reply : "");
        if (m->hdr) {
            g_autofree char *t = g_strndup(g_bytes_get_data(m->hdr, NULL), g_bytes_get_size(m->hdr));
            g_auto(GStrv) lines = g_strsplit(t, "\r\n", -1);
            for (int i = 1; lines[i] && *lines[i]; i++) printf("%s\n", lines[i]);
        }
        print_payload(m->data);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------- */
/* core messaging: pub, sub, req, reply, server ping                                       */

static int cmd_pub(Cli *c) {
    const char *subj = pos(c, 0), *body = pos(c, 1) ? pos(c, 1) : "";
    if (!subj) return fail("pub needs a subject");
    int64_t count = opt_int(c, "--count", 1);
    g_autoptr(GString) h = header_block(c);
    for (int64_t i = 0; i < count; i++)
        kv_conn_publish(c->kc, subj, NULL, h ? h->str : NULL, h ? h->len : 0, body, strlen(body));
    g_autoptr(GError) err = NULL;
    if (!kv_conn_flush(c->kc, KV_TIMEOUT_NS, &err)) return fail_error(err);
    if (kv_conn_last_error(c->kc)) return fail("server: %s", kv_conn_last_error(c->kc));
    if (c->json) printf("{\"subject\":\"%s\",\"count\":%" G_GINT64_FORMAT "}\n", subj, count);
    else printf("Published %" G_GINT64_FORMAT " message%s to \"%s\"\n", count, count == 1 ? "" : "s", subj);
    return 0;
}

static int cmd_sub(Cli *c) {
    const char *subj = pos(c, 0);
    if (!subj) return fail("sub needs a subject");
    int64_t count = opt_int(c, "--count", 0), timeout = opt_duration(c, "--timeout", -1);
    uint64_t sid = kv_conn_subscribe(c->kc, subj, opt(c, "--queue"));
    g_autoptr(GError) err = NULL;
    if (!kv_conn_flush(c->kc, KV_TIMEOUT_NS, &err)) return fail_error(err);
    if (!c->json) fprintf(stderr, "Subscribing on \"%s\"\n", subj);
    for (uint64_t n = 1; count == 0 || (int64_t)n <= count; n++) {
        g_autoptr(KvMsg) m = kv_conn_next(c->kc, sid, timeout, &err);
        if (!m) return g_error_matches(err, KV_ERROR, KV_ERROR_TIMEOUT) && count == 0 ? 0 : fail_error(err);
        print_msg(c, m, n);
    }
    return 0;
}

static int cmd_req(Cli *c) {
    const char *subj = pos(c, 0), *body = pos(c, 1) ? pos(c, 1) : "";
    if (!subj) return fail("req needs a subject");
    g_autoptr(GString) h = header_block(c);
    g_autoptr(GError) err = NULL;
    g_autoptr(KvMsg) m = kv_conn_request(c->kc, subj, h ? h->str : NULL, h ? h->len : 0, body,
                                         strlen(body), opt_duration(c, "--timeout", 2000000000LL), &err);
    if (!m) return fail("request to %s: %s", subj, err->message);
    print_msg(c, m, 1);
    return 0;
}

static int cmd_reply(Cli *c) {
    const char *subj = pos(c, 0), *body = pos(c, 1);
    if (!subj) return fail("reply needs a subject");
    int64_t count = opt_int(c, "--count", 0);
    uint64_t sid = kv_conn_subscribe(c->kc, subj, opt(c, "--queue"));
    g_autoptr(GError) err = NULL;
    if (!kv_conn_flush(c->kc, KV_TIMEOUT_NS, &err)) return fail_error(err);
    if (!c->json) fprintf(stderr, "Replying on \"%s\"\n", subj);
    for (uint64_t n = 1; count == 0 || (int64_t)n <= count; n++) {
        g_autoptr(KvMsg) m = kv_conn_next(c->kc, sid, -1, &err);
        if (!m) return fail_error(err);
        print_msg(c, m, n);
        if (!m->reply) continue;
        if (body) kv_conn_publish(c->kc, m->reply, NULL, NULL, 0, body, strlen(body));
        else { /* echo */
            gsize len;
            const void *d = g_bytes_get_data(m->data, &len);
            kv_conn_publish(c->kc, m->reply, NULL, NULL, 0, d, len);
        }
    }
    return kv_conn_flush(c->kc, KV_TIMEOUT_NS, &err) ? 0 : fail_error(err);
}

static int cmd_server_ping(Cli *c) {
    int64_t count = opt_int(c, "--count", 1);
    for (int64_t i = 0; i < count; i++) {
        int64_t t0 = env_now_ns(c->env);
        g_autoptr(GError) err = NULL;
        if (!kv_conn_flush(c->kc, KV_TIMEOUT_NS, &err)) return fail_error(err);
        double ms = (double)(env_now_ns(c->env) - t0) / 1e6;
        if (c->json) printf("{\"version\":\"%s\",\"rtt_ms\":%.3f}\n", kv_conn_server_version(c->kc), ms);
        else printf("server %s: PONG in %.3f ms\n", kv_conn_server_version(c->kc), ms);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------- */
/* streams and consumers: thin wrappers over $JS.API                                       */

static void add_list(GString *j, const char *name, const char *csv) {
    g_string_append_printf(j, ",\"%s\":[", name);
    g_auto(GStrv) parts = g_strsplit(csv, ",", -1);
    for (int i = 0; parts[i]; i++) {
        g_autofree char *e = json_escape(g_strstrip(parts[i]));
        g_string_append_printf(j, "%s%s", i ? "," : "", e);
    }
    g_string_append_c(j, ']');
}

static void add_str_opt(Cli *c, GString *j, const char *json_name, const char *opt_name) {
    const char *v = opt(c, opt_name);
    if (!v) return;
    g_autofree char *e = json_escape(v);
    g_string_append_printf(j, ",\"%s\":%s", json_name, e);
}

static void add_int_opt(Cli *c, GString *j, const char *json_name, const char *opt_name, bool duration) {
    const char *v = opt(c, opt_name);
    if (!v) return;
    int64_t n = duration ? parse_duration(v) : g_ascii_strtoll(v, NULL, 10);
    g_string_append_printf(j, ",\"%s\":%" G_GINT64_FORMAT, json_name, n);
}

static const char *obj_str(JsonObject *o, const char *m) {
    return o ? json_object_get_string_member_with_default(o, m, "") : "";
}
static gint64 obj_int(JsonObject *o, const char *m) {
    return o ? json_object_get_int_member_with_default(o, m, 0) : 0;
}

static void print_stream_info(JsonObject *o) {
    JsonObject *cfg = json_object_get_object_member(o, "config");
    JsonObject *st = json_object_get_object_member(o, "state");
    printf("Stream %s\n", obj_str(cfg, "name"));
    JsonArray *subs = cfg ? json_object_get_array_member(cfg, "subjects") : NULL;
    printf("  subjects:   ");
    for (guint i = 0; subs && i < json_array_get_length(subs); i++)
        printf("%s%s", i ? ", " : "", json_array_get_string_element(subs, i));
    printf("\n  storage:    %s, retention %s, discard %s\n", obj_str(cfg, "storage"),
           obj_str(cfg, "retention"), obj_str(cfg, "discard"));
    printf("  limits:     max_msgs %" G_GINT64_FORMAT ", max_bytes %" G_GINT64_FORMAT
           ", max_age %" G_GINT64_FORMAT " ns, per subject %" G_GINT64_FORMAT "\n",
           obj_int(cfg, "max_msgs"), obj_int(cfg, "max_bytes"), obj_int(cfg, "max_age"),
           obj_int(cfg, "max_msgs_per_subject"));
    printf("  messages:   %" G_GINT64_FORMAT " (%" G_GINT64_FORMAT " bytes), first seq %" G_GINT64_FORMAT
           ", last seq %" G_GINT64_FORMAT ", consumers %" G_GINT64_FORMAT "\n",
           obj_int(st, "messages"), obj_int(st, "bytes"), obj_int(st, "first_seq"), obj_int(st, "last_seq"),
           obj_int(st, "consumer_count"));
}

static int cmd_stream(Cli *c, const char *verb) {
    const char *name = pos(c, 0);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o = NULL;
    if (strcmp(verb, "ls") == 0) {
        o = api(c, "STREAM.LIST", "{\"offset\":0}", &p, &err);
        if (!o) return fail_error(err);
        if (c->json) return print_json_object(o), 0;
        JsonArray *a = json_object_get_array_member(o, "streams");
        printf("%-24s %-30s %10s %12s\n", "Name", "Subjects", "Messages", "Bytes"); /* numbers last */
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            JsonObject *s = json_array_get_object_element(a, i);
            JsonObject *cfg = json_object_get_object_member(s, "config");
            JsonObject *st = json_object_get_object_member(s, "state");
            JsonArray *subs = json_object_get_array_member(cfg, "subjects");
            g_autoptr(GString) sj = g_string_new(NULL);
            for (guint k = 0; subs && k < json_array_get_length(subs); k++)
                g_string_append_printf(sj, "%s%s", k ? "," : "", json_array_get_string_element(subs, k));
            printf("%-24s %-30s %10" G_GINT64_FORMAT " %12" G_GINT64_FORMAT "\n", obj_str(cfg, "name"),
                   sj->str, obj_int(st, "messages"), obj_int(st, "bytes"));
        }
        return 0;
    }
    if (!name) return fail("stream %s needs a stream name", verb);
    g_autofree char *subj = NULL;
    if (strcmp(verb, "add") == 0) {
        GString *j = g_string_new(NULL);
        const char *raw = opt(c, "--config");
        if (raw) g_string_assign(j, raw);
        else {
            g_autofree char *en = json_escape(name);
            g_string_append_printf(j, "{\"name\":%s", en);
            add_list(j, "subjects", opt(c, "--subjects") ? opt(c, "--subjects") : name);
            add_str_opt(c, j, "storage", "--storage");
            add_str_opt(c, j, "retention", "--retention");
            add_str_opt(c, j, "discard", "--discard");
            add_int_opt(c, j, "max_msgs", "--max-msgs", false);
            add_int_opt(c, j, "max_bytes", "--max-bytes", false);
            add_int_opt(c, j, "max_age", "--max-age", true);
            add_int_opt(c, j, "max_msgs_per_subject", "--max-msgs-per-subject", false);
            add_int_opt(c, j, "max_msg_size", "--max-msg-size", false);
            if (flag(c, "--allow-rollup")) g_string_append(j, ",\"allow_rollup_hdrs\":true");
            if (flag(c, "--allow-direct")) g_string_append(j, ",\"allow_direct\":true");
            g_string_append_c(j, '}');
        }
        subj = g_strdup_printf("STREAM.CREATE.%s", name);
        o = api(c, subj, j->str, &p, &err);
        g_string_free(j, TRUE);
    } else if (strcmp(verb, "info") == 0) {
        subj = g_strdup_printf("STREAM.INFO.%s", name);
        o = api(c, subj, "", &p, &err);
    } else if (strcmp(verb, "rm") == 0) {
        subj = g_strdup_printf("STREAM.DELETE.%s", name);
        o = api(c, subj, "", &p, &err);
        if (o && !c->json) return printf("Deleted stream %s\n", name), 0;
    } else if (strcmp(verb, "purge") == 0) {
        GString *j = g_string_new("{");
        if (opt(c, "--subject")) {
            g_autofree char *e = json_escape(opt(c, "--subject"));
            g_string_append_printf(j, "\"filter\":%s", e);
        }
        if (opt(c, "--keep"))
            g_string_append_printf(j, "%s\"keep\":%" G_GINT64_FORMAT, j->len > 1 ? "," : "", opt_int(c, "--keep", 0));
        if (opt(c, "--seq"))
            g_string_append_printf(j, "%s\"seq\":%" G_GINT64_FORMAT, j->len > 1 ? "," : "", opt_int(c, "--seq", 0));
        g_string_append_c(j, '}');
        subj = g_strdup_printf("STREAM.PURGE.%s", name);
        o = api(c, subj, j->str, &p, &err);
        g_string_free(j, TRUE);
        if (o && !c->json) return printf("Purged %" G_GINT64_FORMAT " messages from %s\n", obj_int(o, "purged"), name), 0;
    } else if (strcmp(verb, "get") == 0) {
        g_autofree char *body = NULL;
        if (opt(c, "--last-for")) {
            g_autofree char *e = json_escape(opt(c, "--last-for"));
            body = g_strdup_printf("{\"last_by_subj\":%s}", e);
        } else if (pos(c, 1)) {
            body = g_strdup_printf("{\"seq\":%s}", pos(c, 1));
        } else return fail("stream get needs a sequence or --last-for SUBJECT");
        subj = g_strdup_printf("STREAM.MSG.GET.%s", name);
        o = api(c, subj, body, &p, &err);
        if (o && !c->json) {
            JsonObject *m = json_object_get_object_member(o, "message");
            printf("Item: %s#%" G_GINT64_FORMAT " received %s on subject %s\n", name, obj_int(m, "seq"),
                   obj_str(m, "time"), obj_str(m, "subject"));
            const char *hdrs = json_object_get_string_member_with_default(m, "hdrs", NULL);
            if (hdrs) {
                g_autoptr(GBytes) h = kv_b64_decode(hdrs);
                g_autofree char *t = g_strndup(g_bytes_get_data(h, NULL), g_bytes_get_size(h));
                g_auto(GStrv) lines = g_strsplit(t, "\r\n", -1);
                for (int i = 1; lines[i] && *lines[i]; i++) printf("%s\n", lines[i]);
            }
            g_autoptr(GBytes) d = kv_b64_decode(obj_str(m, "data"));
            print_payload(d);
            return 0;
        }
    } else {
        return fail("unknown command: stream %s", verb);
    }
    if (!o) return fail_error(err);
    if (c->json) print_json_object(o);
    else print_stream_info(o);
    return 0;
}

static void print_consumer_info(JsonObject *o) {
    JsonObject *cfg = json_object_get_object_member(o, "config");
    printf("Consumer %s on stream %s\n", obj_str(o, "name"), obj_str(o, "stream_name"));
    printf("  mode:       %s, ack %s, deliver %s%s%s\n",
           json_object_has_member(cfg, "deliver_subject") ? "push" : "pull", obj_str(cfg, "ack_policy"),
           obj_str(cfg, "deliver_policy"), *obj_str(cfg, "filter_subject") ? ", filter " : "",
           obj_str(cfg, "filter_subject"));
    printf("  pending:    %" G_GINT64_FORMAT " unprocessed, %" G_GINT64_FORMAT " awaiting ack, %"
           G_GINT64_FORMAT " redelivered, %" G_GINT64_FORMAT " waiting pulls\n",
           obj_int(o, "num_pending"), obj_int(o, "num_ack_pending"), obj_int(o, "num_redelivered"),
           obj_int(o, "num_waiting"));
}

static int consumer_next(Cli *c, const char *stream, const char *name) {
    int64_t count = opt_int(c, "--count", 1), timeout = opt_duration(c, "--timeout", 5000000000LL);
    g_autofree char *inbox = kv_conn_inbox(c->kc);
    uint64_t sid = kv_conn_subscribe(c->kc, inbox, NULL);
    g_autofree char *subj = g_strdup_printf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, name);
    g_autofree char *body = g_strdup_printf("{\"batch\":%" G_GINT64_FORMAT ",\"expires\":%" G_GINT64_FORMAT "}",
                                            count, timeout);
    kv_conn_publish(c->kc, subj, inbox, NULL, 0, body, strlen(body));
    for (int64_t n = 1; n <= count; n++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(KvMsg) m = kv_conn_next(c->kc, sid, timeout + 1000000000LL, &err);
        if (!m) return fail_error(err);
        int st = kv_msg_status(m);
        if (st == 404 || st == 408) return n > 1 ? 0 : fail("no messages (status %d)", st);
        if (st == 409) return fail("pull refused: %.*s", (int)g_bytes_get_size(m->hdr) - 4,
                                   (const char *)g_bytes_get_data(m->hdr, NULL));
        if (st != 0) { n--; continue; } /* heartbeats */
        print_msg(c, m, (uint64_t)n);
        if (m->reply && !flag(c, "--no-ack")) {
            g_autoptr(KvMsg) ack = kv_conn_request(c->kc, m->reply, NULL, 0, "+ACK", 4, KV_TIMEOUT_NS, &err);
            if (!ack) return fail("ack: %s", err->message);
        }
    }
    return 0;
}

static int cmd_consumer(Cli *c, const char *verb) {
    const char *stream = pos(c, 0), *name = pos(c, 1);
    if (!stream) return fail("consumer %s needs a stream name", verb);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *subj = NULL;
    JsonObject *o = NULL;
    if (strcmp(verb, "ls") == 0) {
        subj = g_strdup_printf("CONSUMER.LIST.%s", stream);
        o = api(c, subj, "{\"offset\":0}", &p, &err);
        if (!o) return fail_error(err);
        if (c->json) return print_json_object(o), 0;
        JsonArray *a = json_object_get_array_member(o, "consumers");
        printf("%-24s %-5s %-9s %10s %12s\n", "Name", "Mode", "Ack", "Pending", "Ack pending");
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            JsonObject *ci = json_array_get_object_element(a, i);
            JsonObject *cfg = json_object_get_object_member(ci, "config");
            printf("%-24s %-5s %-9s %10" G_GINT64_FORMAT " %12" G_GINT64_FORMAT "\n", obj_str(ci, "name"),
                   json_object_has_member(cfg, "deliver_subject") ? "push" : "pull", obj_str(cfg, "ack_policy"),
                   obj_int(ci, "num_pending"), obj_int(ci, "num_ack_pending"));
        }
        return 0;
    }
    if (!name) return fail("consumer %s needs a stream and a consumer name", verb);
    if (strcmp(verb, "add") == 0) {
        GString *j = g_string_new(NULL);
        g_autofree char *es = json_escape(stream), *en = json_escape(name);
        g_string_append_printf(j, "{\"stream_name\":%s,\"config\":{\"durable_name\":%s", es, en);
        g_string_append_printf(j, ",\"ack_policy\":\"%s\",\"deliver_policy\":\"%s\"",
                               opt(c, "--ack") ? opt(c, "--ack") : "explicit",
                               opt(c, "--deliver") ? opt(c, "--deliver") : "all");
        add_str_opt(c, j, "filter_subject", "--filter");
        add_str_opt(c, j, "deliver_subject", "--target");
        add_int_opt(c, j, "max_deliver", "--max-deliver", false);
        add_int_opt(c, j, "ack_wait", "--ack-wait", true);
        g_string_append(j, "}}");
        subj = g_strdup_printf("CONSUMER.DURABLE.CREATE.%s.%s", stream, name);
        o = api(c, subj, j->str, &p, &err);
        g_string_free(j, TRUE);
    } else if (strcmp(verb, "info") == 0) {
        subj = g_strdup_printf("CONSUMER.INFO.%s.%s", stream, name);
        o = api(c, subj, "", &p, &err);
    } else if (strcmp(verb, "rm") == 0) {
        subj = g_strdup_printf("CONSUMER.DELETE.%s.%s", stream, name);
        o = api(c, subj, "", &p, &err);
        if (o && !c->json) return printf("Deleted consumer %s > %s\n", stream, name), 0;
    } else if (strcmp(verb, "next") == 0) {
        return consumer_next(c, stream, name);
    } else {
        return fail("unknown command: consumer %s", verb);
    }
    if (!o) return fail_error(err);
    if (c->json) print_json_object(o);
    else print_consumer_info(o);
    return 0;
}

/* ------------------------------------------------------------------------------------- */
/* kv                                                                                     */

static void print_entry(Cli *c, const KvEntry *e) {
    g_autofree char *when = kv_time_format(e->created_ns);
    if (c->json) {
        g_autofree char *k = json_escape(e->key), *v = json_payload(e->value);
        printf("{\"bucket\":\"%s\",\"key\":%s,\"revision\":%" G_GUINT64_FORMAT ",\"created\":\"%s\","
               "\"operation\":\"%s\",\"delta\":%" G_GUINT64_FORMAT ",\"value\":%s}\n",
               e->bucket, k, e->revision, when, kv_op_name(e->op), e->delta, v);
    } else if (e->op != KV_OP_PUT) {
        printf("[%s] %s %s.%s (revision %" G_GUINT64_FORMAT ")\n", when, kv_op_name(e->op), e->bucket,
               e->key, e->revision);
    } else {
        gsize n;
        const char *d = g_bytes_get_data(e->value, &n);
        printf("[%s] PUT %s.%s (revision %" G_GUINT64_FORMAT "): %.*s\n", when, e->bucket, e->key,
               e->revision, (int)n, d);
    }
    fflush(stdout);
}

static int cmd_kv(Cli *c, const char *verb) {
    const char *bucket = pos(c, 0), *key = pos(c, 1);
    if (!bucket) return fail("kv %s needs a bucket name", verb);
    g_autoptr(GError) err = NULL;
    Kv *kv = NULL;
    int rc = 0;
    if (strcmp(verb, "add") == 0) {
        KvOptions o = {.history = opt_int(c, "--history", 1), .ttl_ns = opt_duration(c, "--ttl", 0),
                       .max_bytes = opt_int(c, "--max-bytes", 0),
                       .memory = g_strcmp0(opt(c, "--storage"), "memory") == 0,
                       .description = opt(c, "--description")};
        if (o.ttl_ns < 0) return fail("bad --ttl duration: %s", opt(c, "--ttl"));
        kv = kv_create(c->kc, bucket, &o, &err);
    } else {
        kv = kv_open(c->kc, bucket, &err);
    }
    if (!kv) return fail_error(err);
    bool needs_key = strcmp(verb, "add") && strcmp(verb, "keys") && strcmp(verb, "watch") &&
                     strcmp(verb, "info") && strcmp(verb, "rm");
    if (needs_key && !key) {
        kv_free(kv);
        return fail("kv %s needs a bucket and a key", verb);
    }
    if (strcmp(verb, "add") == 0 || strcmp(verb, "info") == 0) {
        KvStatus st;
        if (!kv_status(kv, &st, &err)) rc = fail_error(err);
        else if (c->json)
            printf("{\"bucket\":\"%s\",\"values\":%" G_GUINT64_FORMAT ",\"bytes\":%" G_GUINT64_FORMAT
                   ",\"history\":%" G_GINT64_FORMAT ",\"ttl\":%" G_GINT64_FORMAT "}\n",
                   bucket, st.values, st.bytes, st.history, st.ttl_ns);
        else
            printf("Bucket %s: %" G_GUINT64_FORMAT " values, %" G_GUINT64_FORMAT " bytes, history %"
                   G_GINT64_FORMAT ", ttl %" G_GINT64_FORMAT " ns\n", bucket, st.values, st.bytes, st.history, st.ttl_ns);
    } else if (strcmp(verb, "put") == 0 || strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0) {
        const char *v = pos(c, 2) ? pos(c, 2) : "";
        uint64_t rev = verb[0] == 'p' ? kv_put(kv, key, v, strlen(v), &err)
                       : verb[0] == 'c' ? kv_create_key(kv, key, v, strlen(v), &err)
                       : kv_update(kv, key, v, strlen(v), (uint64_t)opt_int(c, "--revision", 0), &err);
        if (!rev) rc = fail_error(err);
        else if (c->json) printf("{\"revision\":%" G_GUINT64_FORMAT "}\n", rev);
        else printf("%s\n", v);
    } else if (strcmp(verb, "get") == 0) {
        g_autoptr(KvEntry) e = kv_get(kv, key, (uint64_t)opt_int(c, "--revision", 0), &err);
        if (!e) rc = fail_error(err);
        else if (e->op != KV_OP_PUT && !c->json) rc = fail("key not found: %s (%s at revision %" G_GUINT64_FORMAT ")", key,
                                                       e->op == KV_OP_DEL ? "deleted" : "purged", e->revision);
        else if (c->json || flag(c, "--verbose")) print_entry(c, e);
        else print_payload(e->value);
    } else if (strcmp(verb, "del") == 0 || strcmp(verb, "purge") == 0) {
        gboolean ok = verb[0] == 'd' ? kv_delete(kv, key, &err) : kv_purge(kv, key, &err);
        if (!ok) rc = fail_error(err);
        else if (!c->json) printf("%s %s > %s\n", verb[0] == 'd' ? "Deleted" : "Purged", bucket, key);
    } else if (strcmp(verb, "keys") == 0) {
        g_auto(GStrv) keys = kv_keys(kv, &err);
        if (!keys) rc = fail_error(err);
        else if (c->json) {
            printf("[");
            for (int i = 0; keys[i]; i++) {
                g_autofree char *k = json_escape(keys[i]);
                printf("%s%s", i ? "," : "", k);
            }
            printf("]\n");
        } else {
            for (int i = 0; keys[i]; i++) printf("%s\n", keys[i]);
            if (!keys[0]) fprintf(stderr, "no keys found in bucket %s\n", bucket);
        }
    } else if (strcmp(verb, "history") == 0) {
        GPtrArray *h = kv_history(kv, key, &err);
        if (!h) rc = fail_error(err);
        else if (h->len == 0) rc = fail("key not found: %s", key);
        else
            for (guint i = 0; i < h->len; i++) print_entry(c, h->pdata[i]);
        if (h) g_ptr_array_free(h, TRUE);
    } else if (strcmp(verb, "watch") == 0) {
        KvWatchMode mode = flag(c, "--updates-only") ? KV_WATCH_UPDATES_ONLY
                           : flag(c, "--all")        ? KV_WATCH_ALL_HISTORY : KV_WATCH_LAST_VALUES;
        KvWatch *w = kv_watch_start(kv, key, mode, &err);
        int64_t count = opt_int(c, "--count", 0), timeout = opt_duration(c, "--timeout", -1);
        if (!w) rc = fail_error(err);
        for (int64_t n = 0; w && (count == 0 || n < count); n++) {
            g_autoptr(KvEntry) e = kv_watch_next(w, timeout, &err);
            if (!e) {
                if (!g_error_matches(err, KV_ERROR, KV_ERROR_TIMEOUT)) rc = fail_error(err);
                break;
            }
            print_entry(c, e);
        }
        kv_watch_stop(w);
    } else if (strcmp(verb, "rm") == 0) {
        if (!kv_destroy(kv, &err)) rc = fail_error(err);
        else if (!c->json) printf("Deleted bucket %s\n", bucket);
    } else {
        rc = fail("unknown command: kv %s", verb);
    }
    kv_free(kv);
    return rc;
}

/* ------------------------------------------------------------------------------------- */
/* obj                                                                                    */

typedef struct FileReader {
    Env *env;
    int fd;
    uint64_t off;
} FileReader;

static gssize file_read(void *ctx, uint8_t *buf, size_t len, GError **error) {
    FileReader *r = ctx;
    gssize n = r->env->ops->file_pread(r->env, r->fd, buf, len, r->off, error);
    if (n > 0) r->off += (uint64_t)n;
    return n;
}

static void print_obj_info(Cli *c, const ObjInfo *i) {
    if (c->json) {
        g_autofree char *n = json_escape(i->name), *d = json_escape(i->description ? i->description : "");
        printf("{\"bucket\":\"%s\",\"name\":%s,\"description\":%s,\"size\":%" G_GUINT64_FORMAT
               ",\"chunks\":%" G_GUINT64_FORMAT ",\"nuid\":\"%s\",\"digest\":\"%s\",\"mtime\":\"%s\","
               "\"revision\":%" G_GUINT64_FORMAT ",\"deleted\":%s%s%s}\n",
               i->bucket, n, d, i->size, i->chunks, i->nuid, i->digest, i->mtime, i->revision,
               i->deleted ? "true" : "false", i->extra_json ? ",\"extra\":" : "", i->extra_json ? i->extra_json : "");
    } else {
        printf("Object %s in bucket %s\n  size:     %" G_GUINT64_FORMAT " bytes in %" G_GUINT64_FORMAT
               " chunks\n  modified: %s\n  digest:   %s\n  revision: %" G_GUINT64_FORMAT "\n",
               i->name, i->bucket, i->size, i->chunks, i->mtime, i->digest, i->revision);
        if (i->description && *i->description) printf("  description: %s\n", i->description);
    }
}

static int cmd_obj(Cli *c, const char *verb) {
    const char *bucket = pos(c, 0), *name = pos(c, 1);
    if (!bucket) return fail("obj %s needs a bucket name", verb);
    g_autoptr(GError) err = NULL;
    ObjStore *os;
    if (strcmp(verb, "add") == 0) {
        ObjOptions o = {.ttl_ns = opt_duration(c, "--ttl", 0), .max_bytes = opt_int(c, "--max-bytes", 0),
                        .memory = g_strcmp0(opt(c, "--storage"), "memory") == 0,
                        .description = opt(c, "--description")};
        if (o.ttl_ns < 0) return fail("bad --ttl duration: %s", opt(c, "--ttl"));
        os = objstore_create(c->kc, bucket, &o, &err);
        if (os && !c->json) printf("Object store %s ready\n", bucket);
        else if (os) printf("{\"bucket\":\"%s\"}\n", bucket);
    } else {
        os = objstore_open(c->kc, bucket, &err);
    }
    if (!os) return fail_error(err);
    int rc = 0;
    if (strcmp(verb, "add") == 0) {
    } else if (strcmp(verb, "ls") == 0) {
        GPtrArray *l = objstore_list(os, &err);
        if (!l) rc = fail_error(err);
        else if (c->json) {
            for (guint i = 0; i < l->len; i++) print_obj_info(c, l->pdata[i]);
        } else {
            printf("%-32s %12s %s\n", "Name", "Size", "Modified");
            for (guint i = 0; i < l->len; i++) {
                ObjInfo *oi = l->pdata[i];
                printf("%-32s %12" G_GUINT64_FORMAT " %s\n", oi->name, oi->size, oi->mtime);
            }
        }
        if (l) g_ptr_array_free(l, TRUE);
    } else if (!name) {
        rc = fail("obj %s needs a bucket and %s", verb, strcmp(verb, "put") == 0 ? "a file" : "an object name");
    } else if (strcmp(verb, "put") == 0) {
        Env *env = c->env;
        FileReader r = {env, env->ops->file_open(env, name, ENV_FILE_READ, &err), 0};
        if (r.fd < 0) rc = fail_error(err);
        else {
            g_autofree char *base = g_path_get_basename(name);
            ObjMeta m = {.name = opt(c, "--name") ? opt(c, "--name") : base, .description = opt(c, "--description")};
            g_autoptr(ObjInfo) i = objstore_put(os, &m, file_read, &r, &err);
            env->ops->file_close(env, r.fd);
            if (!i) rc = fail_error(err);
            else print_obj_info(c, i);
        }
    } else if (strcmp(verb, "get") == 0) {
        g_autoptr(ObjInfo) i = NULL;
        g_autoptr(GBytes) d = objstore_get(os, name, &i, &err);
        const char *out = opt(c, "--output");
        if (!d) rc = fail_error(err);
        else if (!out || strcmp(out, "-") == 0) fwrite(g_bytes_get_data(d, NULL), 1, g_bytes_get_size(d), stdout);
        else if (!env_file_write_atomic(c->env, out, g_bytes_get_data(d, NULL), g_bytes_get_size(d), &err))
            rc = fail_error(err);
        else if (!c->json) fprintf(stderr, "Wrote %zu bytes to %s\n", g_bytes_get_size(d), out);
    } else if (strcmp(verb, "info") == 0) {
        g_autoptr(ObjInfo) i = objstore_info(os, name, &err);
        if (!i) rc = fail_error(err);
        else print_obj_info(c, i);
    } else if (strcmp(verb, "rm") == 0) {
        if (!objstore_delete(os, name, &err)) rc = fail_error(err);
        else if (!c->json) printf("Deleted %s > %s\n", bucket, name);
    } else {
        rc = fail("unknown command: obj %s", verb);
    }
    objstore_free(os);
    return rc;
}

/* ------------------------------------------------------------------------------------- */
/* commands, help, main                                                                   */

typedef struct Command {
    const char *group, *verb; /* verb NULL for one-word commands */
    const char *args, *help, *options;
} Command;

static const Command commands[] = {
    {"pub", NULL, "SUBJECT [BODY]", "publish a message", "--count N, --header K:V (repeatable)"},
    {"sub", NULL, "SUBJECT", "print messages as they arrive", "--queue GROUP, --count N, --timeout DUR"},
    {"req", NULL, "SUBJECT [BODY]", "send a request, print the reply", "--header K:V, --timeout DUR (2s)"},
    {"reply", NULL, "SUBJECT [BODY]", "answer requests with BODY (echo without)", "--queue GROUP, --count N"},
    {"server", "ping", "", "round trip to the server", "--count N"},
    {"stream", "add", "NAME", "create a stream",
     "--subjects a,b --storage file|memory --retention limits|interest|workqueue --discard old|new "
     "--max-msgs N --max-bytes N --max-age DUR --max-msgs-per-subject N --max-msg-size N "
     "--allow-rollup --allow-direct --config JSON"},
    {"stream", "ls", "", "list streams", ""},
    {"stream", "info", "NAME", "show a stream's config and state", ""},
    {"stream", "rm", "NAME", "delete a stream", ""},
    {"stream", "purge", "NAME", "remove messages", "--subject FILTER, --keep N, --seq N"},
    {"stream", "get", "NAME [SEQ]", "show one stored message", "--last-for SUBJECT"},
    {"consumer", "add", "STREAM NAME", "create a durable consumer (pull unless --target)",
     "--filter SUBJECT --ack explicit|all|none --deliver all|last|new|last_per_subject "
     "--target DELIVER_SUBJECT --max-deliver N --ack-wait DUR"},
    {"consumer", "ls", "STREAM", "list consumers", ""},
    {"consumer", "info", "STREAM NAME", "show a consumer", ""},
    {"consumer", "rm", "STREAM NAME", "delete a consumer", ""},
    {"consumer", "next", "STREAM NAME", "pull messages (and ack them)", "--count N, --timeout DUR, --no-ack"},
    {"kv", "add", "BUCKET", "create a bucket (or bind to it)",
     "--history N (1), --ttl DUR, --max-bytes N, --storage file|memory, --description TEXT"},
    {"kv", "put", "BUCKET KEY [VALUE]", "store a value; prints it", ""},
    {"kv", "create", "BUCKET KEY [VALUE]", "store only if the key is absent or deleted", ""},
    {"kv", "update", "BUCKET KEY [VALUE]", "store only if the key is at --revision", "--revision N"},
    {"kv", "get", "BUCKET KEY", "print a value", "--revision N, --verbose"},
    {"kv", "del", "BUCKET KEY", "delete a key (keeps history)", ""},
    {"kv", "purge", "BUCKET KEY", "delete a key and its history", ""},
    {"kv", "keys", "BUCKET", "list the live keys", ""},
    {"kv", "history", "BUCKET KEY", "every kept revision of a key", ""},
    {"kv", "watch", "BUCKET [KEY-PATTERN]", "print changes as they happen",
     "--all (every kept revision first), --updates-only, --count N, --timeout DUR"},
    {"kv", "info", "BUCKET", "values, bytes, history and ttl", ""},
    {"kv", "rm", "BUCKET", "delete the bucket", ""},
    {"obj", "add", "BUCKET", "create an object store (or bind to it)",
     "--ttl DUR, --max-bytes N, --storage file|memory, --description TEXT"},
    {"obj", "put", "BUCKET FILE", "upload a file", "--name NAME (default: the file's name), --description TEXT"},
    {"obj", "get", "BUCKET NAME", "download an object, verified", "--output FILE (default: stdout)"},
    {"obj", "ls", "BUCKET", "list objects", ""},
    {"obj", "info", "BUCKET NAME", "show an object's meta", ""},
    {"obj", "rm", "BUCKET NAME", "delete an object", ""},
};

static void usage_all(FILE *f) {
    fprintf(f, "usage: minijet [--server URL] [--json] COMMAND [ARGS] [OPTIONS]\n\n"
               "  --server URL   nats://host:port (default $NATS_URL, else nats://127.0.0.1:4222)\n"
               "  --json         JSON output for scripts\n"
               "  --help         help for any command, e.g. minijet kv put --help\n\ncommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        const Command *k = &commands[i];
        g_autofree char *name = g_strdup_printf("%s%s%s %s", k->group, k->verb ? " " : "", k->verb ? k->verb : "", k->args);
        fprintf(f, "  %-36s %s\n", name, k->help);
    }
}

static void usage_one(FILE *f, const Command *k) {
    fprintf(f, "usage: minijet %s%s%s %s%s\n  %s\n", k->group, k->verb ? " " : "", k->verb ? k->verb : "",
            k->args, *k->options ? " [OPTIONS]" : "", k->help);
    if (*k->options) fprintf(f, "options: %s\n", k->options);
    fprintf(f, "global: --server URL, --json\n");
}

/* Options that take no value. Every other --option takes the next argument (or =value). */
static bool is_flag(const char *name) {
    static const char *flags[] = {"--json", "--help", "--no-ack", "--updates-only", "--all",
                                  "--allow-rollup", "--allow-direct", "--verbose"};
    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++)
        if (strcmp(name, flags[i]) == 0) return true;
    return false;
}

/* Does this command group take a verb ("kv put") or not ("pub")? */
static bool has_verbs(const char *group) {
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].group, group) == 0) return commands[i].verb != NULL;
    return true; /* unknown: reported later */
}

static bool parse_server(const char *url, char **host, int *port) {
    const char *p = url;
    if (g_str_has_prefix(p, "nats://")) p += 7;
    const char *colon = strrchr(p, ':');
    *host = colon ? g_strndup(p, (gsize)(colon - p)) : g_strdup(p);
    *port = colon ? atoi(colon + 1) : 4222;
    if (**host == '\0') {
        g_free(*host);
        *host = g_strdup("127.0.0.1");
    }
    return *port > 0 && *port < 65536;
}

int cli_main(const CliWorld *world, int argc, char **argv) {
    Cli c = {.w = world, .env = world->env};
    g_autofree char *host = NULL;
    g_autoptr(GError) err = NULL;
    int port, rc;
    c.pos = g_ptr_array_new();
    c.opts = g_hash_table_new(g_str_hash, g_str_equal);
    c.headers = g_ptr_array_new();
    GPtrArray *words = g_ptr_array_new();
    g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (g_str_has_prefix(a, "--") && strlen(a) > 2) {
            const char *eq = strchr(a, '=');
            char *name = eq ? g_strndup(a, (gsize)(eq - a)) : g_strdup(a);
            g_ptr_array_add(owned, name);
            const char *value = "";
            if (eq) value = eq + 1;
            else if (!is_flag(name)) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "minijet: error: %s needs a value\n", name);
                    return 2;
                }
                value = argv[++i];
            }
            if (strcmp(name, "--header") == 0) g_ptr_array_add(c.headers, (gpointer)value);
            g_hash_table_insert(c.opts, name, (gpointer)value);
        } else if (c.pos->len == 0 && (words->len == 0 || (words->len == 1 && has_verbs(words->pdata[0])))) {
            g_ptr_array_add(words, (gpointer)a);
        } else {
            g_ptr_array_add(c.pos, (gpointer)a);
        }
    }
    c.json = flag(&c, "--json");
    const char *group = words->len > 0 ? words->pdata[0] : NULL;
    const char *verb = words->len > 1 ? words->pdata[1] : NULL;
    const Command *cmd = NULL;
    for (size_t i = 0; group && i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].group, group) == 0 &&
            (commands[i].verb == NULL || (verb && strcmp(commands[i].verb, verb) == 0)))
            cmd = &commands[i];
    if (!group || (flag(&c, "--help") && !cmd)) {
        bool asked = flag(&c, "--help");
        usage_all(asked ? stdout : stderr);
        rc = asked ? 0 : 2;
        goto out;
    }
    if (!cmd) {
        fprintf(stderr, "minijet: error: unknown command: %s%s%s (try --help)\n", group, verb ? " " : "", verb ? verb : "");
        rc = 2;
        goto out;
    }
    if (flag(&c, "--help")) {
        usage_one(stdout, cmd);
        rc = 0;
        goto out;
    }
    if (cmd->verb == NULL && verb) g_ptr_array_insert(c.pos, 0, (gpointer)verb); /* "pub subj" */

    /* connect */
    const char *url = opt(&c, "--server");
    if (!url) url = world->default_server ? world->default_server : "nats://127.0.0.1:4222";
    if (!parse_server(url, &host, &port)) {
        rc = fail("bad server URL: %s", url);
        goto out;
    }
    static const EnvHandlers handlers = {.on_accept = h_accept, .on_bytes = h_bytes, .on_closed = h_closed};
    env_set_handlers(c.env, &handlers, &c);
    char prefix[32] = "_INBOX.";
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 7; i < 29; i++) prefix[i] = alnum[env_random_u64(c.env) % 62];
    prefix[29] = '\0';
    c.kc = kv_conn_new(c.env, prefix, pump, &c);
    c.conn = env_conn_connect(c.env, host, port, NULL, NULL, &err);
    if (!c.conn || !kv_conn_wait_connected(c.kc, KV_TIMEOUT_NS, &err)) {
        rc = fail("cannot connect to %s:%d: %s", host, port, err ? err->message : "closed");
        goto out;
    }
    if (strcmp(group, "pub") == 0) rc = cmd_pub(&c);
    else if (strcmp(group, "sub") == 0) rc = cmd_sub(&c);
    else if (strcmp(group, "req") == 0) rc = cmd_req(&c);
    else if (strcmp(group, "reply") == 0) rc = cmd_reply(&c);
    else if (strcmp(group, "server") == 0) rc = cmd_server_ping(&c);
    else if (strcmp(group, "stream") == 0) rc = cmd_stream(&c, verb);
    else if (strcmp(group, "consumer") == 0) rc = cmd_consumer(&c, verb);
    else if (strcmp(group, "kv") == 0) rc = cmd_kv(&c, verb);
    else rc = cmd_obj(&c, verb);
    /* Let what we queued last (acks, replies) leave before the process ends. */
    if (!c.closed) kv_conn_flush(c.kc, KV_TIMEOUT_NS, NULL);
out:
    fflush(stdout);
    if (c.conn && !c.closed) env_conn_close(c.env, c.conn);
    kv_conn_free(c.kc);
    g_ptr_array_free(words, TRUE);
    g_ptr_array_free(c.pos, TRUE);
    g_ptr_array_free(c.headers, TRUE);
    g_hash_table_destroy(c.opts);
    return rc;
}
