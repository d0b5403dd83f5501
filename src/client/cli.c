/* cli.c — the `minijet` command-line tool (see cli.h; reference in book/C-cli.md).
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
 * THE COMMAND TABLE
 *   Every command is one row of `commands` (near the end): its words ("kv" "put"), its
 *   arguments, its help and options (the --help text), and the function that runs it.
 *   cli_main looks the command up in the table, checks the arguments and options against
 *   the row before it connects (a missing argument, an option the command does not take or
 *   a number that is not one is a usage error, exit 2), then calls the row's function.
 *
 * OUTPUT
 *   Human-readable lines and tables on stdout by default; --json prints the JetStream API's
 *   JSON (or one JSON object per line for streams of messages). Failure: one line
 *   "minijet: error: <what>" on stderr and exit status 1; a usage error exits with 2.
 *   Every JSON the tool writes — requests to the server and --json output — is built with
 *   json-glib's JsonBuilder, never pasted together with printf: a user's argument can only
 *   ever become a JSON string or a number we parsed, not JSON syntax.
 */
#include "cli.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "jsonutil.h"
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

/* A whole decimal integer (optionally negative), nothing else: "12" yes; "12x", "", "1,2" no. */
static bool parse_int(const char *s, int64_t *out) {
    return s && g_ascii_string_to_signed(s, 10, G_MININT64, G_MAXINT64, out, NULL);
}

/* The value kinds of --options; cli_main checks every value before a command runs, so the
 * getters below only ever see well-formed text. Options not listed take a string. */
typedef enum { OPT_STRING, OPT_FLAG, OPT_INT, OPT_DURATION } OptKind;
static const struct { const char *name; OptKind kind; } option_kinds[] = {
    {"--json", OPT_FLAG},          {"--help", OPT_FLAG},           {"--no-ack", OPT_FLAG},
    {"--updates-only", OPT_FLAG},  {"--all", OPT_FLAG},            {"--allow-rollup", OPT_FLAG},
    {"--allow-direct", OPT_FLAG},  {"--verbose", OPT_FLAG},
    {"--count", OPT_INT},          {"--keep", OPT_INT},            {"--seq", OPT_INT},
    {"--max-msgs", OPT_INT},       {"--max-bytes", OPT_INT},       {"--max-msgs-per-subject", OPT_INT},
    {"--max-msg-size", OPT_INT},   {"--max-deliver", OPT_INT},     {"--history", OPT_INT},
    {"--revision", OPT_INT},
    {"--timeout", OPT_DURATION},   {"--ttl", OPT_DURATION},        {"--max-age", OPT_DURATION},
    {"--ack-wait", OPT_DURATION},
};

static OptKind option_kind(const char *name) {
    for (size_t i = 0; i < G_N_ELEMENTS(option_kinds); i++)
        if (strcmp(name, option_kinds[i].name) == 0) return option_kinds[i].kind;
    return OPT_STRING;
}

static int64_t opt_int(Cli *c, const char *name, int64_t def) {
    int64_t n;
    return parse_int(opt(c, name), &n) ? n : def;
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

/* --- JSON out: a JsonBuilder per object. jb_begin() ... jb_end() gives the text;
 * jb_print() prints it as one line of --json output. */
static JsonBuilder *jb_begin(void) {
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    return b;
}

static char *jb_end(JsonBuilder *b) {
    json_builder_end_object(b);
    char *s = jsonu_builder_to_string(b);
    g_object_unref(b);
    return s;
}

static void jb_print(JsonBuilder *b) {
    g_autofree char *s = jb_end(b);
    printf("%s\n", s);
}

/* A payload as JSON: a string when it is UTF-8 text, else {"base64": "..."}. */
static void json_add_payload(JsonBuilder *b, const char *name, GBytes *data) {
    gsize n = 0;
    const char *d = data ? g_bytes_get_data(data, &n) : "";
    if (d == NULL) d = "";
    json_builder_set_member_name(b, name);
    if (g_utf8_validate(d, (gssize)n, NULL) && memchr(d, '\0', n) == NULL) {
        g_autofree char *t = g_strndup(d, n);
        json_builder_add_string_value(b, t);
    } else {
        g_autofree char *b64 = g_base64_encode((const guchar *)d, n);
        json_builder_begin_object(b);
        jsonu_add_string(b, "base64", b64);
        json_builder_end_object(b);
    }
}

/* A string member, or null when v is NULL. */
static void json_add_string_or_null(JsonBuilder *b, const char *name, const char *v) {
    json_builder_set_member_name(b, name);
    if (v) json_builder_add_string_value(b, v);
    else json_builder_add_null_value(b);
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

/* A $JS.API request whose body is the builder's object (consumed). */
static JsonObject *api_json(Cli *c, const char *subject, JsonBuilder *body, JsonParser **p, GError **error) {
    g_autofree char *text = jb_end(body);
    return api(c, subject, text, p, error);
}

static void print_msg(Cli *c, const KvMsg *m, uint64_t n) {
    if (c->json) {
        JsonBuilder *b = jb_begin();
        jsonu_add_string(b, "subject", m->subject);
        json_add_string_or_null(b, "reply", m->reply);
        g_autofree char *hdr =
            m->hdr ? g_strndup(g_bytes_get_data(m->hdr, NULL), g_bytes_get_size(m->hdr)) : NULL;
        json_add_string_or_null(b, "headers", hdr);
        json_add_payload(b, "data", m->data);
        jb_print(b);
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
    int64_t count = opt_int(c, "--count", 1);
    g_autoptr(GString) h = header_block(c);
    for (int64_t i = 0; i < count; i++)
        kv_conn_publish(c->kc, subj, NULL, h ? h->str : NULL, h ? h->len : 0, body, strlen(body));
    g_autoptr(GError) err = NULL;
    if (!kv_conn_flush(c->kc, KV_TIMEOUT_NS, &err)) return fail_error(err);
    if (kv_conn_last_error(c->kc)) return fail("server: %s", kv_conn_last_error(c->kc));
    if (c->json) {
        JsonBuilder *b = jb_begin();
        jsonu_add_string(b, "subject", subj);
        jsonu_add_int(b, "count", count);
        jb_print(b);
    }
    else printf("Published %" G_GINT64_FORMAT " message%s to \"%s\"\n", count, count == 1 ? "" : "s", subj);
    return 0;
}

static int cmd_sub(Cli *c) {
    const char *subj = pos(c, 0);
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
        if (c->json) {
            JsonBuilder *b = jb_begin();
            jsonu_add_string(b, "version", kv_conn_server_version(c->kc));
            jsonu_add_int(b, "rtt_us", (int64_t)(ms * 1000)); /* an integer: JSON doubles print 17 digits */
            jb_print(b);
        } else printf("server %s: PONG in %.3f ms\n", kv_conn_server_version(c->kc), ms);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------- */
/* streams and consumers: thin wrappers over $JS.API                                       */

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "minijet: error: %s\n", m);
    return 2;
}

/* A stream or consumer name becomes one token of an API subject ("STREAM.INFO.<name>"), so
 * it may not hold what would change the subject: '.', '*', '>', white space or control
 * characters (nats-server refuses such names too). */
static bool api_name_valid(const char *name) {
    if (!name || !*name) return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '.' || *p == '*' || *p == '>') return false;
    return true;
}

/* Member `name` = the option's value, when the option was given. */
static void add_str_opt(Cli *c, JsonBuilder *b, const char *json_name, const char *opt_name) {
    const char *v = opt(c, opt_name);
    if (v) jsonu_add_string(b, json_name, v);
}

/* Member `name` = the option's integer or duration (ns); cli_main has checked the text. */
static void add_int_opt(Cli *c, JsonBuilder *b, const char *json_name, const char *opt_name) {
    const char *v = opt(c, opt_name);
    if (!v) return;
    jsonu_add_int(b, json_name, option_kind(opt_name) == OPT_DURATION ? parse_duration(v)
                                                                       : opt_int(c, opt_name, 0));
}

static const char *obj_str(JsonObject *o, const char *m) {
    return o ? json_object_get_string_member_with_default(o, m, "") : "";
}
static gint64 obj_int(JsonObject *o, const char *m) {
    return o ? json_object_get_int_member_with_default(o, m, 0) : 0;
}

/* ------------------------------------------------------------------------------------- */
/* streams: thin wrappers over $JS.API                                                     */

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

/* The answer of a stream request: printed as JSON or as stream info. */
static int stream_answer(Cli *c, JsonObject *o, GError *err) {
    if (!o) return fail_error(err);
    if (c->json) print_json_object(o);
    else print_stream_info(o);
    return 0;
}

static int cmd_stream_ls(Cli *c) {
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonBuilder *q = jb_begin();
    jsonu_add_int(q, "offset", 0);
    JsonObject *o = api_json(c, "STREAM.LIST", q, &p, &err);
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

static int cmd_stream_add(Cli *c) {
    const char *name = pos(c, 0), *raw = opt(c, "--config");
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *subj = g_strdup_printf("STREAM.CREATE.%s", name);
    JsonObject *o;
    if (raw) { /* the whole config, as the user wrote it: it must at least be a JSON object */
        g_autoptr(JsonParser) check = NULL;
        if (!jsonu_parse_object(raw, strlen(raw), &check)) return usage_error("--config is not a JSON object");
        o = api(c, subj, raw, &p, &err);
    } else {
        JsonBuilder *b = jb_begin();
        jsonu_add_string(b, "name", name);
        json_builder_set_member_name(b, "subjects");
        json_builder_begin_array(b);
        g_auto(GStrv) parts = g_strsplit(opt(c, "--subjects") ? opt(c, "--subjects") : name, ",", -1);
        for (int i = 0; parts[i]; i++) json_builder_add_string_value(b, g_strstrip(parts[i]));
        json_builder_end_array(b);
        add_str_opt(c, b, "storage", "--storage");
        add_str_opt(c, b, "retention", "--retention");
        add_str_opt(c, b, "discard", "--discard");
        add_int_opt(c, b, "max_msgs", "--max-msgs");
        add_int_opt(c, b, "max_bytes", "--max-bytes");
        add_int_opt(c, b, "max_age", "--max-age");
        add_int_opt(c, b, "max_msgs_per_subject", "--max-msgs-per-subject");
        add_int_opt(c, b, "max_msg_size", "--max-msg-size");
        if (flag(c, "--allow-rollup")) jsonu_add_bool(b, "allow_rollup_hdrs", true);
        if (flag(c, "--allow-direct")) jsonu_add_bool(b, "allow_direct", true);
        o = api_json(c, subj, b, &p, &err);
    }
    return stream_answer(c, o, err);
}

static int cmd_stream_info(Cli *c) {
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *subj = g_strdup_printf("STREAM.INFO.%s", pos(c, 0));
    JsonObject *o = api(c, subj, "", &p, &err);
    return stream_answer(c, o, err);
}

static int cmd_stream_rm(Cli *c) {
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *subj = g_strdup_printf("STREAM.DELETE.%s", pos(c, 0));
    JsonObject *o = api(c, subj, "", &p, &err);
    if (o && !c->json) return printf("Deleted stream %s\n", pos(c, 0)), 0;
    return stream_answer(c, o, err);
}

static int cmd_stream_purge(Cli *c) {
    const char *name = pos(c, 0);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonBuilder *b = jb_begin();
    add_str_opt(c, b, "filter", "--subject");
    add_int_opt(c, b, "keep", "--keep");
    add_int_opt(c, b, "seq", "--seq");
    g_autofree char *subj = g_strdup_printf("STREAM.PURGE.%s", name);
    JsonObject *o = api_json(c, subj, b, &p, &err);
    if (o && !c->json) return printf("Purged %" G_GINT64_FORMAT " messages from %s\n", obj_int(o, "purged"), name), 0;
    return stream_answer(c, o, err);
}

static int cmd_stream_get(Cli *c) {
    const char *name = pos(c, 0), *seq_text = pos(c, 1);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonBuilder *b = jb_begin();
    int64_t seq;
    if (opt(c, "--last-for")) {
        jsonu_add_string(b, "last_by_subj", opt(c, "--last-for"));
    } else if (parse_int(seq_text, &seq) && seq > 0) {
        jsonu_add_int(b, "seq", seq);
    } else {
        g_object_unref(b);
        if (seq_text) return usage_error("stream get: SEQ must be a sequence number (1, 2, ...), not \"%s\"", seq_text);
        return usage_error("stream get needs a sequence or --last-for SUBJECT");
    }
    g_autofree char *subj = g_strdup_printf("STREAM.MSG.GET.%s", name);
    JsonObject *o = api_json(c, subj, b, &p, &err);
    if (!o) return fail_error(err);
    if (c->json) return print_json_object(o), 0;
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

/* ------------------------------------------------------------------------------------- */
/* consumers                                                                              */

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

static int consumer_answer(Cli *c, JsonObject *o, GError *err) {
    if (!o) return fail_error(err);
    if (c->json) print_json_object(o);
    else print_consumer_info(o);
    return 0;
}

static int cmd_consumer_ls(Cli *c) {
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *subj = g_strdup_printf("CONSUMER.LIST.%s", pos(c, 0));
    JsonBuilder *q = jb_begin();
    jsonu_add_int(q, "offset", 0);
    JsonObject *o = api_json(c, subj, q, &p, &err);
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

static int cmd_consumer_add(Cli *c) {
    const char *stream = pos(c, 0), *name = pos(c, 1);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonBuilder *b = jb_begin();
    jsonu_add_string(b, "stream_name", stream);
    json_builder_set_member_name(b, "config");
    json_builder_begin_object(b);
    jsonu_add_string(b, "durable_name", name);
    jsonu_add_string(b, "ack_policy", opt(c, "--ack") ? opt(c, "--ack") : "explicit");
    jsonu_add_string(b, "deliver_policy", opt(c, "--deliver") ? opt(c, "--deliver") : "all");
    add_str_opt(c, b, "filter_subject", "--filter");
    add_str_opt(c, b, "deliver_subject", "--target");
    add_int_opt(c, b, "max_deliver", "--max-deliver");
    add_int_opt(c, b, "ack_wait", "--ack-wait");
    json_builder_end_object(b);
    g_autofree char *subj = g_strdup_printf("CONSUMER.DURABLE.CREATE.%s.%s", stream, name);
    JsonObject *o = api_json(c, subj, b, &p, &err);
    return consumer_answer(c, o, err);
}

static int cmd_consumer_info(Cli *c) {
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *subj = g_strdup_printf("CONSUMER.INFO.%s.%s", pos(c, 0), pos(c, 1));
    JsonObject *o = api(c, subj, "", &p, &err);
    return consumer_answer(c, o, err);
}

static int cmd_consumer_rm(Cli *c) {
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *subj = g_strdup_printf("CONSUMER.DELETE.%s.%s", pos(c, 0), pos(c, 1));
    JsonObject *o = api(c, subj, "", &p, &err);
    if (o && !c->json) return printf("Deleted consumer %s > %s\n", pos(c, 0), pos(c, 1)), 0;
    return consumer_answer(c, o, err);
}

static int cmd_consumer_next(Cli *c) {
    const char *stream = pos(c, 0), *name = pos(c, 1);
    int64_t count = opt_int(c, "--count", 1), timeout = opt_duration(c, "--timeout", 5000000000LL);
    g_autofree char *inbox = kv_conn_inbox(c->kc);
    uint64_t sid = kv_conn_subscribe(c->kc, inbox, NULL);
    g_autofree char *subj = g_strdup_printf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, name);
    JsonBuilder *b = jb_begin();
    jsonu_add_int(b, "batch", count);
    jsonu_add_int(b, "expires", timeout);
    g_autofree char *body = jb_end(b);
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

/* ------------------------------------------------------------------------------------- */
/* kv: every command binds to the bucket first (kv_with_bucket), then does its one thing   */

static void print_entry(Cli *c, const KvEntry *e) {
    g_autofree char *when = kv_time_format(e->created_ns);
    if (c->json) {
        JsonBuilder *b = jb_begin();
        jsonu_add_string(b, "bucket", e->bucket);
        jsonu_add_string(b, "key", e->key);
        jsonu_add_int(b, "revision", (int64_t)e->revision);
        jsonu_add_string(b, "created", when);
        jsonu_add_string(b, "operation", kv_op_name(e->op));
        jsonu_add_int(b, "delta", (int64_t)e->delta);
        json_add_payload(b, "value", e->value);
        jb_print(b);
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

typedef int (*KvCmdFn)(Cli *c, Kv *kv, const char *bucket, const char *key);

/* Bind to the bucket (create it for "kv add"), run fn, unbind. */
static int kv_with_bucket(Cli *c, bool create, KvCmdFn fn) {
    g_autoptr(GError) err = NULL;
    Kv *kv;
    if (create) {
        KvOptions o = {.history = opt_int(c, "--history", 1), .ttl_ns = opt_duration(c, "--ttl", 0),
                       .max_bytes = opt_int(c, "--max-bytes", 0),
                       .memory = g_strcmp0(opt(c, "--storage"), "memory") == 0,
                       .description = opt(c, "--description")};
        kv = kv_create(c->kc, pos(c, 0), &o, &err);
    } else {
        kv = kv_open(c->kc, pos(c, 0), &err);
    }
    if (!kv) return fail_error(err);
    int rc = fn(c, kv, pos(c, 0), pos(c, 1));
    kv_free(kv);
    return rc;
}

static int kv_status_print(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    KvStatus st;
    if (!kv_status(kv, &st, &err)) return fail_error(err);
    if (c->json) {
        JsonBuilder *b = jb_begin();
        jsonu_add_string(b, "bucket", bucket);
        jsonu_add_int(b, "values", (int64_t)st.values);
        jsonu_add_int(b, "bytes", (int64_t)st.bytes);
        jsonu_add_int(b, "history", st.history);
        jsonu_add_int(b, "ttl", st.ttl_ns);
        jb_print(b);
    } else {
        printf("Bucket %s: %" G_GUINT64_FORMAT " values, %" G_GUINT64_FORMAT " bytes, history %"
               G_GINT64_FORMAT ", ttl %" G_GINT64_FORMAT " ns\n", bucket, st.values, st.bytes, st.history, st.ttl_ns);
    }
    return 0;
}

/* put, create and update: store VALUE; print it (or {"revision": N}). */
static int kv_store_done(Cli *c, uint64_t rev, const char *value, GError *err) {
    if (!rev) return fail_error(err);
    if (c->json) {
        JsonBuilder *b = jb_begin();
        jsonu_add_int(b, "revision", (int64_t)rev);
        jb_print(b);
    } else {
        printf("%s\n", value);
    }
    return 0;
}

static int kv_do_put(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    const char *v = pos(c, 2) ? pos(c, 2) : "";
    uint64_t rev = kv_put(kv, key, v, strlen(v), &err); /* before err is read */
    return kv_store_done(c, rev, v, err);
}

static int kv_do_create(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    const char *v = pos(c, 2) ? pos(c, 2) : "";
    uint64_t rev = kv_create_key(kv, key, v, strlen(v), &err); /* before err is read */
    return kv_store_done(c, rev, v, err);
}

static int kv_do_update(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    const char *v = pos(c, 2) ? pos(c, 2) : "";
    uint64_t rev = kv_update(kv, key, v, strlen(v), (uint64_t)opt_int(c, "--revision", 0), &err);
    return kv_store_done(c, rev, v, err);
}

static int kv_do_get(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    g_autoptr(KvEntry) e = kv_get(kv, key, (uint64_t)opt_int(c, "--revision", 0), &err);
    if (!e) return fail_error(err);
    if (e->op != KV_OP_PUT && !c->json)
        return fail("key not found: %s (%s at revision %" G_GUINT64_FORMAT ")", key,
                    e->op == KV_OP_DEL ? "deleted" : "purged", e->revision);
    if (c->json || flag(c, "--verbose")) print_entry(c, e);
    else print_payload(e->value);
    return 0;
}

static int kv_do_del(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    if (!kv_delete(kv, key, &err)) return fail_error(err);
    if (!c->json) printf("Deleted %s > %s\n", bucket, key);
    return 0;
}

static int kv_do_purge(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    if (!kv_purge(kv, key, &err)) return fail_error(err);
    if (!c->json) printf("Purged %s > %s\n", bucket, key);
    return 0;
}

static int kv_do_keys(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) keys = kv_keys(kv, &err);
    if (!keys) return fail_error(err);
    if (c->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_array(b);
        for (int i = 0; keys[i]; i++) json_builder_add_string_value(b, keys[i]);
        json_builder_end_array(b);
        g_autofree char *t = jsonu_builder_to_string(b);
        printf("%s\n", t);
    } else {
        for (int i = 0; keys[i]; i++) printf("%s\n", keys[i]);
        if (!keys[0]) fprintf(stderr, "no keys found in bucket %s\n", bucket);
    }
    return 0;
}

static int kv_do_history(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) h = kv_history(kv, key, &err);
    if (!h) return fail_error(err);
    if (h->len == 0) return fail("key not found: %s", key);
    for (guint i = 0; i < h->len; i++) print_entry(c, h->pdata[i]);
    return 0;
}

static int kv_do_watch(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    KvWatchMode mode = flag(c, "--updates-only") ? KV_WATCH_UPDATES_ONLY
                       : flag(c, "--all")        ? KV_WATCH_ALL_HISTORY : KV_WATCH_LAST_VALUES;
    KvWatch *w = kv_watch_start(kv, key, mode, &err);
    if (!w) return fail_error(err);
    int64_t count = opt_int(c, "--count", 0), timeout = opt_duration(c, "--timeout", -1);
    int rc = 0;
    for (int64_t n = 0; count == 0 || n < count; n++) {
        g_autoptr(KvEntry) e = kv_watch_next(w, timeout, &err);
        if (!e) {
            if (!g_error_matches(err, KV_ERROR, KV_ERROR_TIMEOUT)) rc = fail_error(err);
            break;
        }
        print_entry(c, e);
    }
    kv_watch_stop(w);
    return rc;
}

static int kv_do_rm(Cli *c, Kv *kv, const char *bucket, const char *key) {
    g_autoptr(GError) err = NULL;
    if (!kv_destroy(kv, &err)) return fail_error(err);
    if (!c->json) printf("Deleted bucket %s\n", bucket);
    return 0;
}

static int cmd_kv_add(Cli *c) { return kv_with_bucket(c, true, kv_status_print); }
static int cmd_kv_info(Cli *c) { return kv_with_bucket(c, false, kv_status_print); }
static int cmd_kv_put(Cli *c) { return kv_with_bucket(c, false, kv_do_put); }
static int cmd_kv_create(Cli *c) { return kv_with_bucket(c, false, kv_do_create); }
static int cmd_kv_update(Cli *c) { return kv_with_bucket(c, false, kv_do_update); }
static int cmd_kv_get(Cli *c) { return kv_with_bucket(c, false, kv_do_get); }
static int cmd_kv_del(Cli *c) { return kv_with_bucket(c, false, kv_do_del); }
static int cmd_kv_purge(Cli *c) { return kv_with_bucket(c, false, kv_do_purge); }
static int cmd_kv_keys(Cli *c) { return kv_with_bucket(c, false, kv_do_keys); }
static int cmd_kv_history(Cli *c) { return kv_with_bucket(c, false, kv_do_history); }
static int cmd_kv_watch(Cli *c) { return kv_with_bucket(c, false, kv_do_watch); }
static int cmd_kv_rm(Cli *c) { return kv_with_bucket(c, false, kv_do_rm); }

/* ------------------------------------------------------------------------------------- */
/* obj: like kv, bind to the store (obj_with_store), then one thing                         */

typedef struct FileReader {
    Env *env;
    int fd;
    uint64_t off;
} FileReader;

static gssize file_read(void *ctx, uint8_t *buf, size_t len, GError **error) {
    FileReader *r = ctx;
    gssize n = env_file_pread(r->env, r->fd, buf, len, r->off, error);
    if (n > 0) r->off += (uint64_t)n;
    return n;
}

static void print_obj_info(Cli *c, const ObjInfo *i) {
    if (c->json) {
        JsonBuilder *b = jb_begin();
        jsonu_add_string(b, "bucket", i->bucket);
        jsonu_add_string(b, "name", i->name);
        jsonu_add_string(b, "description", i->description ? i->description : "");
        jsonu_add_int(b, "size", (int64_t)i->size);
        jsonu_add_int(b, "chunks", (int64_t)i->chunks);
        jsonu_add_string(b, "nuid", i->nuid);
        jsonu_add_string(b, "digest", i->digest);
        jsonu_add_string(b, "mtime", i->mtime);
        jsonu_add_int(b, "revision", (int64_t)i->revision);
        jsonu_add_bool(b, "deleted", i->deleted);
        if (i->extra_json) { /* headers/metadata as nats.js wrote them: a parsed object */
            g_autoptr(JsonNode) extra = json_from_string(i->extra_json, NULL);
            if (extra) {
                json_builder_set_member_name(b, "extra");
                json_builder_add_value(b, g_steal_pointer(&extra));
            }
        }
        jb_print(b);
    } else {
        printf("Object %s in bucket %s\n  size:     %" G_GUINT64_FORMAT " bytes in %" G_GUINT64_FORMAT
               " chunks\n  modified: %s\n  digest:   %s\n  revision: %" G_GUINT64_FORMAT "\n",
               i->name, i->bucket, i->size, i->chunks, i->mtime, i->digest, i->revision);
        if (i->description && *i->description) printf("  description: %s\n", i->description);
    }
}

typedef int (*ObjCmdFn)(Cli *c, ObjStore *os, const char *bucket, const char *name);

static int obj_with_store(Cli *c, ObjCmdFn fn) {
    g_autoptr(GError) err = NULL;
    ObjStore *os = objstore_open(c->kc, pos(c, 0), &err);
    if (!os) return fail_error(err);
    int rc = fn(c, os, pos(c, 0), pos(c, 1));
    objstore_free(os);
    return rc;
}

static int cmd_obj_add(Cli *c) {
    const char *bucket = pos(c, 0);
    g_autoptr(GError) err = NULL;
    ObjOptions o = {.ttl_ns = opt_duration(c, "--ttl", 0), .max_bytes = opt_int(c, "--max-bytes", 0),
                    .memory = g_strcmp0(opt(c, "--storage"), "memory") == 0,
                    .description = opt(c, "--description")};
    ObjStore *os = objstore_create(c->kc, bucket, &o, &err);
    if (!os) return fail_error(err);
    if (c->json) {
        JsonBuilder *b = jb_begin();
        jsonu_add_string(b, "bucket", bucket);
        jb_print(b);
    } else {
        printf("Object store %s ready\n", bucket);
    }
    objstore_free(os);
    return 0;
}

static int obj_do_ls(Cli *c, ObjStore *os, const char *bucket, const char *name) {
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) l = objstore_list(os, &err);
    if (!l) return fail_error(err);
    if (c->json) {
        for (guint i = 0; i < l->len; i++) print_obj_info(c, l->pdata[i]);
        return 0;
    }
    printf("%-32s %12s %s\n", "Name", "Size", "Modified");
    for (guint i = 0; i < l->len; i++) {
        ObjInfo *oi = l->pdata[i];
        printf("%-32s %12" G_GUINT64_FORMAT " %s\n", oi->name, oi->size, oi->mtime);
    }
    return 0;
}

static int obj_do_put(Cli *c, ObjStore *os, const char *bucket, const char *file) {
    g_autoptr(GError) err = NULL;
    Env *env = c->env;
    FileReader r = {env, env_file_open(env, file, ENV_FILE_READ, &err), 0};
    if (r.fd < 0) return fail_error(err);
    g_autofree char *base = g_path_get_basename(file);
    ObjMeta m = {.name = opt(c, "--name") ? opt(c, "--name") : base, .description = opt(c, "--description")};
    g_autoptr(ObjInfo) i = objstore_put(os, &m, file_read, &r, &err);
    env_file_close(env, r.fd);
    if (!i) return fail_error(err);
    print_obj_info(c, i);
    return 0;
}

static int obj_do_get(Cli *c, ObjStore *os, const char *bucket, const char *name) {
    g_autoptr(GError) err = NULL;
    g_autoptr(ObjInfo) i = NULL;
    g_autoptr(GBytes) d = objstore_get(os, name, &i, &err);
    const char *out = opt(c, "--output");
    if (!d) return fail_error(err);
    if (!out || strcmp(out, "-") == 0) {
        fwrite(g_bytes_get_data(d, NULL), 1, g_bytes_get_size(d), stdout);
        return 0;
    }
    if (!env_file_write_atomic(c->env, out, g_bytes_get_data(d, NULL), g_bytes_get_size(d), &err))
        return fail_error(err);
    if (!c->json) fprintf(stderr, "Wrote %zu bytes to %s\n", g_bytes_get_size(d), out);
    return 0;
}

static int obj_do_info(Cli *c, ObjStore *os, const char *bucket, const char *name) {
    g_autoptr(GError) err = NULL;
    g_autoptr(ObjInfo) i = objstore_info(os, name, &err);
    if (!i) return fail_error(err);
    print_obj_info(c, i);
    return 0;
}

static int obj_do_rm(Cli *c, ObjStore *os, const char *bucket, const char *name) {
    g_autoptr(GError) err = NULL;
    if (!objstore_delete(os, name, &err)) return fail_error(err);
    if (!c->json) printf("Deleted %s > %s\n", bucket, name);
    return 0;
}

static int cmd_obj_ls(Cli *c) { return obj_with_store(c, obj_do_ls); }
static int cmd_obj_put(Cli *c) { return obj_with_store(c, obj_do_put); }
static int cmd_obj_get(Cli *c) { return obj_with_store(c, obj_do_get); }
static int cmd_obj_info(Cli *c) { return obj_with_store(c, obj_do_info); }
static int cmd_obj_rm(Cli *c) { return obj_with_store(c, obj_do_rm); }

/* ------------------------------------------------------------------------------------- */
/* the command table, help, main                                                          */

typedef struct Command {
    const char *group, *verb; /* verb NULL for one-word commands */
    const char *args;         /* required words, then [optional] ones */
    const char *help;
    const char *options;      /* the options it takes, as --help shows them */
    int (*run)(Cli *c);
    bool api_names;           /* its first arguments are stream/consumer names */
} Command;

static const Command commands[] = {
    {"pub", NULL, "SUBJECT [BODY]", "publish a message", "--count N, --header K:V (repeatable)", cmd_pub, false},
    {"sub", NULL, "SUBJECT", "print messages as they arrive", "--queue GROUP, --count N, --timeout DUR", cmd_sub, false},
    {"req", NULL, "SUBJECT [BODY]", "send a request, print the reply", "--header K:V, --timeout DUR (2s)", cmd_req, false},
    {"reply", NULL, "SUBJECT [BODY]", "answer requests with BODY (echo without)", "--queue GROUP, --count N", cmd_reply, false},
    {"server", "ping", "", "round trip to the server", "--count N", cmd_server_ping, false},
    {"stream", "add", "NAME", "create a stream",
     "--subjects a,b --storage file|memory --retention limits|interest|workqueue --discard old|new "
     "--max-msgs N --max-bytes N --max-age DUR --max-msgs-per-subject N --max-msg-size N "
     "--allow-rollup --allow-direct --config JSON", cmd_stream_add, true},
    {"stream", "ls", "", "list streams", "", cmd_stream_ls, false},
    {"stream", "info", "NAME", "show a stream's config and state", "", cmd_stream_info, true},
    {"stream", "rm", "NAME", "delete a stream", "", cmd_stream_rm, true},
    {"stream", "purge", "NAME", "remove messages", "--subject FILTER, --keep N, --seq N", cmd_stream_purge, true},
    {"stream", "get", "NAME [SEQ]", "show one stored message", "--last-for SUBJECT", cmd_stream_get, true},
    {"consumer", "add", "STREAM NAME", "create a durable consumer (pull unless --target)",
     "--filter SUBJECT --ack explicit|all|none --deliver all|last|new|last_per_subject "
     "--target DELIVER_SUBJECT --max-deliver N --ack-wait DUR", cmd_consumer_add, true},
    {"consumer", "ls", "STREAM", "list consumers", "", cmd_consumer_ls, true},
    {"consumer", "info", "STREAM NAME", "show a consumer", "", cmd_consumer_info, true},
    {"consumer", "rm", "STREAM NAME", "delete a consumer", "", cmd_consumer_rm, true},
    {"consumer", "next", "STREAM NAME", "pull messages (and ack them)", "--count N, --timeout DUR, --no-ack",
     cmd_consumer_next, true},
    {"kv", "add", "BUCKET", "create a bucket (or bind to it)",
     "--history N (1), --ttl DUR, --max-bytes N, --storage file|memory, --description TEXT", cmd_kv_add, false},
    {"kv", "put", "BUCKET KEY [VALUE]", "store a value; prints it", "", cmd_kv_put, false},
    {"kv", "create", "BUCKET KEY [VALUE]", "store only if the key is absent or deleted", "", cmd_kv_create, false},
    {"kv", "update", "BUCKET KEY [VALUE]", "store only if the key is at --revision", "--revision N", cmd_kv_update, false},
    {"kv", "get", "BUCKET KEY", "print a value", "--revision N, --verbose", cmd_kv_get, false},
    {"kv", "del", "BUCKET KEY", "delete a key (keeps history)", "", cmd_kv_del, false},
    {"kv", "purge", "BUCKET KEY", "delete a key and its history", "", cmd_kv_purge, false},
    {"kv", "keys", "BUCKET", "list the live keys", "", cmd_kv_keys, false},
    {"kv", "history", "BUCKET KEY", "every kept revision of a key", "", cmd_kv_history, false},
    {"kv", "watch", "BUCKET [KEY-PATTERN]", "print changes as they happen",
     "--all (every kept revision first), --updates-only, --count N, --timeout DUR", cmd_kv_watch, false},
    {"kv", "info", "BUCKET", "values, bytes, history and ttl", "", cmd_kv_info, false},
    {"kv", "rm", "BUCKET", "delete the bucket", "", cmd_kv_rm, false},
    {"obj", "add", "BUCKET", "create an object store (or bind to it)",
     "--ttl DUR, --max-bytes N, --storage file|memory, --description TEXT", cmd_obj_add, false},
    {"obj", "put", "BUCKET FILE", "upload a file", "--name NAME (default: the file's name), --description TEXT",
     cmd_obj_put, false},
    {"obj", "get", "BUCKET NAME", "download an object, verified", "--output FILE (default: stdout)", cmd_obj_get, false},
    {"obj", "ls", "BUCKET", "list objects", "", cmd_obj_ls, false},
    {"obj", "info", "BUCKET NAME", "show an object's meta", "", cmd_obj_info, false},
    {"obj", "rm", "BUCKET NAME", "delete an object", "", cmd_obj_rm, false},
};

static const char global_options[] = "--server URL, --user U, --password P, --pass P, --token T, --json, --help";

static void usage_all(FILE *f) {
    fprintf(f, "usage: minijet [--server URL] [--json] COMMAND [ARGS] [OPTIONS]\n\n"
               "  --server URL   nats://host:port (default $NATS_URL, else nats://127.0.0.1:4222);\n"
               "                 nats://user:password@host:port or nats://token@host:port log in\n"
               "  --user U --password P, --token T   credentials (override the URL's)\n"
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
    fprintf(f, "global: %s\n", global_options);
}

/* Does `list` (an options help text) name option `name` as a whole word? */
static bool names_option(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = strstr(list, name); p; p = strstr(p + 1, name)) {
        char after = p[n];
        if ((p == list || p[-1] == ' ') && !(g_ascii_isalnum(after) || after == '-' || after == '_')) return true;
    }
    return false;
}

/* How many of the row's argument words are required (those not in [brackets]). */
static guint required_args(const Command *k) {
    g_auto(GStrv) words = g_strsplit(k->args, " ", -1);
    guint n = 0;
    for (char **w = words; *w; w++) n += **w && **w != '[';
    return n;
}

/* Everything that can be checked before connecting: the arguments the row requires, that
 * each option is one the command takes, and that numbers and durations are well formed.
 * Returns 0 or a usage error (2, one line printed). */
static int check_usage(Cli *c, const Command *k) {
    g_autofree char *name = g_strdup_printf("%s%s%s", k->group, k->verb ? " " : "", k->verb ? k->verb : "");
    guint need = required_args(k);
    if (c->pos->len < need) return usage_error("%s needs %s (try --help)", name, k->args);
    for (guint i = 0; k->api_names && i < need; i++)
        if (!api_name_valid(pos(c, i)))
            return usage_error("%s: invalid name \"%s\": no '.', '*', '>' or white space", name, pos(c, i));
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, c->opts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const char *o = key, *v = value;
        if (!names_option(k->options, o) && !names_option(global_options, o))
            return usage_error("%s does not take %s (try minijet %s --help)", name, o, name);
        int64_t n;
        if (option_kind(o) == OPT_INT && !parse_int(v, &n))
            return usage_error("%s wants an integer, not \"%s\"", o, v);
        if (option_kind(o) == OPT_DURATION && parse_duration(v) < 0)
            return usage_error("%s wants a duration like 500ms, 10s or 5m, not \"%s\"", o, v);
    }
    return 0;
}

/* Does this command group take a verb ("kv put") or not ("pub")? */
static bool has_verbs(const char *group) {
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].group, group) == 0) return commands[i].verb != NULL;
    return true; /* unknown: reported later */
}

/* nats://[user:password@ | token@]host:port; *user, *pass, *token get the credentials. */
static bool parse_server(const char *url, char **host, int *port, char **user, char **pass, char **token) {
    const char *p = url;
    if (g_str_has_prefix(p, "nats://")) p += 7;
    const char *at = strrchr(p, '@');
    if (at) {
        g_autofree char *cred = g_uri_unescape_segment(p, at, NULL);
        if (cred == NULL) return false;
        char *colon = strchr(cred, ':');
        if (colon) {
            *user = g_strndup(cred, (gsize)(colon - cred));
            *pass = g_strdup(colon + 1);
        } else {
            *token = g_strdup(cred);
        }
        p = at + 1;
    }
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
    g_autofree char *host = NULL, *user = NULL, *pass = NULL, *token = NULL;
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
            else if (option_kind(name) != OPT_FLAG) {
                if (i + 1 >= argc) {
                    rc = usage_error("%s needs a value", name);
                    goto out;
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
        rc = usage_error("unknown command: %s%s%s (try --help)", group, verb ? " " : "", verb ? verb : "");
        goto out;
    }
    if (flag(&c, "--help")) {
        usage_one(stdout, cmd);
        rc = 0;
        goto out;
    }
    if (cmd->verb == NULL && verb) g_ptr_array_insert(c.pos, 0, (gpointer)verb); /* "pub subj" */
    if ((rc = check_usage(&c, cmd)) != 0) goto out;

    /* connect */
    const char *url = opt(&c, "--server");
    if (!url) url = world->default_server ? world->default_server : "nats://127.0.0.1:4222";
    if (!parse_server(url, &host, &port, &user, &pass, &token)) {
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
    const char *o_user = opt(&c, "--user"), *o_pass = opt(&c, "--password"), *o_token = opt(&c, "--token");
    if (!o_pass) o_pass = opt(&c, "--pass");
    client_set_credentials(kv_conn_client(c.kc), o_user ? o_user : user, o_pass ? o_pass : pass,
                           o_token ? o_token : token);
    c.conn = env_conn_connect(c.env, host, port, NULL, NULL, &err);
    if (!c.conn || !kv_conn_wait_connected(c.kc, KV_TIMEOUT_NS, &err)) {
        rc = fail("cannot connect to %s:%d: %s", host, port, err ? err->message : "closed");
        goto out;
    }
    rc = cmd->run(&c);
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
