/* monitor.c — HTTP monitoring: one GET, one JSON answer, close.
 *
 * THE ONE IDEA
 *   Monitoring is a read-only view of numbers the server already keeps. The HTTP needed to
 *   serve it is the smallest honest subset of HTTP/1.1: read a request line and headers,
 *   answer once with Content-Length and `Connection: close`, and close. No keep-alive, no
 *   bodies, no chunking: curl, browsers, node's http module and Prometheus scrapers all
 *   accept a server that closes after each answer.
 *
 * INTERFACE: see monitor.h.
 *
 * THE REQUEST PARSER (a push parser, like proto.c: any split of the input works)
 *   Bytes are appended to the connection's buffer, capped at LIMIT_MONITOR_REQUEST_BYTES.
 *     1. When the first '\n' arrives, the request line is checked at once:
 *          METHOD SP /target SP HTTP/1.x [CR] LF
 *        garbage -> 400; a method other than GET -> 405 (with `Allow: GET`).
 *     2. When the empty line ending the headers arrives, every header line must have a
 *        ':' (else 400), and the GET is answered.
 *     3. A buffer that fills up before (2) -> 400. A request not complete within
 *        LIMIT_MONITOR_IDLE_NS -> 408. Either way the connection is closed.
 *
 * SLOW CONNECTIONS MUST NOT BLIND /healthz
 *   At most LIMIT_MONITOR_CONNS_COUNT connections wait for their request at once. A new
 *   connection beyond that does not get refused: the OLDEST waiting one is answered 408 and
 *   closed to make room (`waiting` keeps them in accept order). A liveness probe therefore
 *   always gets its answer, however many slow or silent connections someone holds open: it
 *   is the newest, and it would take LIMIT_MONITOR_CONNS_COUNT newer connections before its
 *   request arrives to push it out. The old rule -- refuse the newcomer with 503 -- let 64
 *   idle sockets keep /healthz at 503 indefinitely, and a liveness probe would then restart a
 *   healthy broker. nats-server (Go's net/http) has no connection cap at all; it stayed at
 *   200 while holding 200 slow connections, and so does minijet now. After the answer the
 *   connection leaves `waiting`; the world's lingering close (env_real.c) owns its socket.
 *   The search for the end of the headers resumes where it stopped (`scanned`), so a
 *   request dribbled one byte at a time costs O(n), not O(n^2).
 *
 * WHY NOT THE OBVIOUS WAY
 *   - libmicrohttpd or GLib's GSocketService would bring threads or a second main loop;
 *     the core must stay one state machine that the simulator could drive.
 *   - Keep-alive would save a TCP handshake per scrape; at one scrape per second it is not
 *     worth the request-pipelining states. nats-server (Go's net/http) keeps connections
 *     open; clients do not notice the difference.
 *
 * LIMITATIONS
 *   - No TLS, no /routez /gatewayz /leafz /accountz (minijet has none of those).
 *   - Percent-encoding in the query is not decoded (none of our parameters needs it).
 *   - /varz has no "mem", "cores", "cpu" (the core may not ask the OS; env.h has no such op),
 *     no TLS or write-deadline fields; /subsz has no subscription list (?subs=1).
 */
#include "monitor.h"

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <string.h>

#include "auth.h"
#include "consumer.h"
#include "route.h"
#include "jetstream.h"
#include "jscluster.h"
#include "jsonutil.h"
#include "limits.h"
#include "rng.h"
#include "stream.h"
#include "sublist.h"
#include "version.h"


/* The endpoints, in the order /varz lists their request counts. */
typedef enum { EP_ROOT, EP_VARZ, EP_CONNZ, EP_ROUTEZ, EP_SUBSZ, EP_JSZ, EP_HEALTHZ, EP_COUNT } Endpoint;
static const char *const endpoint_path[EP_COUNT] = {"/", "/varz", "/connz", "/routez", "/subsz", "/jsz",
                                                    "/healthz"};

typedef struct HttpConn {
    Monitor *mon;
    EnvConn id;
    GString *buf;      /* the request so far, at most LIMIT_MONITOR_REQUEST_BYTES */
    size_t scanned;    /* bytes of buf searched for the end of the headers */
    char *target;      /* the request line's target, once the line is in and valid */
    size_t line_end;   /* offset of the request line's '\n' (valid with target) */
    bool answered;     /* a response is queued and the close asked for */
    EnvTimer idle_timer;
    GList waiting_link; /* in Monitor.waiting until answered (data = this HttpConn) */
} HttpConn;

struct Monitor {
    Env *env;
    Server *srv;
    Cluster *cluster; /* NULL without a cluster port */
    JsCluster *jsc;   /* NULL without clustered JetStream */
    JetStream *js;     /* NULL when JetStream is off */
    MonitorOptions opts;
    char *http_host;
    GHashTable *conns; /* EnvConn -> HttpConn*, lookup only (never iterated into an output) */
    GQueue waiting;    /* unanswered HttpConns, oldest first (see SLOW CONNECTIONS) */
    uint64_t requests[EP_COUNT];
    char *not_ready;   /* /healthz's error while the server starts (monitor_set_not_ready) */
};

/* ------------------------------------------------------------------ responses */

/* Re-indent compact JSON the way Go's json.MarshalIndent(v, "", "  ") prints it, so that
 * `curl .../varz` looks the same from both servers. Strings are copied untouched. */
static void json_indent(GString *out, const char *in) {
    int depth = 0;
    bool in_str = false;
    for (const char *p = in; *p; p++) {
        char ch = *p;
        if (in_str) {
            g_string_append_c(out, ch);
            if (ch == '\\' && p[1]) g_string_append_c(out, *++p);
            else if (ch == '"') in_str = false;
            continue;
        }
        switch (ch) {
        case '"':
            in_str = true;
            g_string_append_c(out, ch);
            break;
        case '{':
        case '[':
            g_string_append_c(out, ch);
            if (p[1] == (ch == '{' ? '}' : ']')) { /* empty: {} or [] on one line */
                g_string_append_c(out, *++p);
                break;
            }
            depth++;
            g_string_append_c(out, '\n');
            for (int i = 0; i < depth; i++) g_string_append(out, "  ");
            break;
        case '}':
        case ']':
            depth--;
            g_string_append_c(out, '\n');
            for (int i = 0; i < depth; i++) g_string_append(out, "  ");
            g_string_append_c(out, ch);
            break;
        case ',':
            g_string_append(out, ",\n");
            for (int i = 0; i < depth; i++) g_string_append(out, "  ");
            break;
        case ':':
            g_string_append(out, ": ");
            break;
        default:
            g_string_append_c(out, ch);
        }
    }
}

static const char *status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    default: return "Service Unavailable";
    }
}

/* Queue the one response and ask the world to close after it. */
static void http_respond(HttpConn *hc, int status, const char *content_type, const char *body,
                         size_t body_len) {
    if (hc->answered) return;
    hc->answered = true;
    g_queue_unlink(&hc->mon->waiting, &hc->waiting_link);
    env_timer_cancel(hc->mon->env, hc->idle_timer);
    hc->idle_timer = 0;
    g_autoptr(GString) head = g_string_new(NULL);
    g_string_append_printf(head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                           status, status_text(status), content_type, body_len);
    if (status == 405) g_string_append(head, "Allow: GET\r\n");
    g_string_append(head, "Connection: close\r\n\r\n");
    EnvSlice sl[2] = {{head->str, head->len}, {body, body_len}};
    env_conn_send(hc->mon->env, hc->id, sl, 2);
    env_conn_close(hc->mon->env, hc->id);
}

static void http_error(HttpConn *hc, int status, const char *message) {
    g_autofree char *body = g_strdup_printf("%d %s: %s\n", status, status_text(status), message);
    http_respond(hc, status, "text/plain; charset=utf-8", body, strlen(body));
}

static void http_json(HttpConn *hc, JsonBuilder *b) {
    g_autofree char *compact = jsonu_builder_to_string(b);
    g_autoptr(GString) body = g_string_sized_new(strlen(compact) * 2);
    json_indent(body, compact);
    http_respond(hc, 200, "application/json", body->str, body->len);
}

/* ------------------------------------------------------------------ query parameters */

/* The value of `key` in "a=1&b=2" (g_free it); "" for a bare key; NULL when absent. */
static char *query_get(const char *query, const char *key) {
    size_t klen = strlen(key);
    for (const char *p = query; p != NULL && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= klen && strncmp(p, key, klen) == 0 && (len == klen || p[klen] == '='))
            return len == klen ? g_strdup("") : g_strndup(p + klen + 1, len - klen - 1);
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

/* Go's strconv.ParseBool, as nats-server's decodeBool uses it: absent or "" = false. */
static bool query_bool(const char *query, const char *key, bool *out, GString *err) {
    g_autofree char *v = query_get(query, key);
    *out = false;
    if (v == NULL || *v == 0) return true;
    const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (int i = 0; i < 6; i++) {
        if (strcmp(v, yes[i]) == 0) return (*out = true);
        if (strcmp(v, no[i]) == 0) return true;
    }
    g_string_printf(err, "invalid value %s for %s: want a boolean", v, key);
    return false;
}

/* A non-negative integer; absent or "" leaves *out as is. */
static bool query_int(const char *query, const char *key, int64_t *out, GString *err) {
    g_autofree char *v = query_get(query, key);
    if (v == NULL || *v == 0) return true;
    guint64 n;
    if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT32, &n, NULL)) {
        g_string_printf(err, "invalid value %s for %s: want a number", v, key);
        return false;
    }
    *out = (int64_t)n;
    return true;
}

/* ------------------------------------------------------------------ shared pieces */

/* nats-server's myUptime: "45s", "3m2s", "1h0m5s", "2d1h0m0s", "1y3d..." */
static char *uptime_format(int64_t ns) {
    int64_t secs = ns > 0 ? ns / 1000000000LL : 0, mins = secs / 60, hrs = mins / 60,
            days = hrs / 24, yrs = days / 365;
    if (yrs > 0)
        return g_strdup_printf("%" G_GINT64_FORMAT "y%" G_GINT64_FORMAT "d%" G_GINT64_FORMAT "h%"
                               G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s",
                               yrs, days % 365, hrs % 24, mins % 60, secs % 60);
    if (days > 0)
        return g_strdup_printf("%" G_GINT64_FORMAT "d%" G_GINT64_FORMAT "h%" G_GINT64_FORMAT "m%"
                               G_GINT64_FORMAT "s", days, hrs % 24, mins % 60, secs % 60);
    if (hrs > 0)
        return g_strdup_printf("%" G_GINT64_FORMAT "h%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s",
                               hrs, mins % 60, secs % 60);
    if (mins > 0) return g_strdup_printf("%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s", mins, secs % 60);
    return g_strdup_printf("%" G_GINT64_FORMAT "s", secs);
}

static void add_time(JsonBuilder *b, const char *name, int64_t wall_ns) {
    char ts[JSONU_TIME_MAX];
    jsonu_time_format_buf(wall_ns, ts);
    jsonu_add_string(b, name, ts);
}

static void add_double(JsonBuilder *b, const char *name, double v) {
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, v);
}

/* JetStream totals, shared by /varz and /jsz. */
typedef struct JsTotals {
    int64_t streams, consumers;
    uint64_t messages, bytes, api_total, api_errors;
    JetStreamUsage usage; /* memory, storage, reserved_*, the limits (jetstream.c) */
    int64_t ha_assets;
} JsTotals;

static void js_totals(Monitor *m, JsTotals *t) {
    JetStream *js = m->js;
    *t = (JsTotals){0};
    if (js == NULL) return;
    g_autoptr(GPtrArray) streams = jetstream_streams(js);
    for (guint i = 0; i < streams->len; i++) {
        Stream *st = streams->pdata[i];
        StoreState ss;
        store_state(stream_store(st), &ss);
        t->streams++;
        t->consumers += m->jsc != NULL ? jscluster_consumer_count(m->jsc, st) : consumer_set_count(consumer_set_of(st));
        t->messages += ss.msgs;
        t->bytes += ss.bytes;
    }
    jetstream_usage(js, &t->usage);
    jetstream_api_stats(js, &t->api_total, &t->api_errors);
    t->ha_assets = m->jsc != NULL ? jscluster_ha_assets(m->jsc) : 0;
}

/* The meta group's block (nats-server: /varz jetstream.meta, /jsz meta_cluster). */
static void add_meta(Monitor *m, JsonBuilder *b, const char *member) {
    if (m->jsc == NULL) return;
    json_builder_set_member_name(b, member);
    json_builder_begin_object(b);
    jscluster_build_meta(m->jsc, b);
    json_builder_end_object(b);
}

/* JetStreamConfig: {max_memory, max_storage, store_dir, domain (when set)} */
static void add_js_config(Monitor *m, JsonBuilder *b) {
    JetStreamUsage u;
    jetstream_usage(m->js, &u);
    json_builder_set_member_name(b, "config");
    json_builder_begin_object(b);
    jsonu_add_int(b, "max_memory", u.max_memory);
    jsonu_add_int(b, "max_storage", u.max_storage);
    jsonu_add_string(b, "store_dir", jetstream_store_dir(m->js));
    if (jetstream_domain(m->js) != NULL) jsonu_add_string(b, "domain", jetstream_domain(m->js));
    json_builder_end_object(b);
}

/* JetStreamStats's members, into the open object. */
static void add_js_stats(JsonBuilder *b, const JsTotals *t) {
    jsonu_add_int(b, "memory", t->usage.memory);
    jsonu_add_int(b, "storage", t->usage.storage);
    jsonu_add_int(b, "reserved_memory", t->usage.reserved_memory);
    jsonu_add_int(b, "reserved_storage", t->usage.reserved_storage);
    jsonu_add_int(b, "accounts", 1);
    jsonu_add_int(b, "ha_assets", t->ha_assets);
    json_builder_set_member_name(b, "api");
    json_builder_begin_object(b);
    jsonu_add_int(b, "total", (int64_t)t->api_total);
    jsonu_add_int(b, "errors", (int64_t)t->api_errors);
    json_builder_end_object(b);
}

/* ------------------------------------------------------------------ the endpoints */

static void handle_varz(HttpConn *hc) {
    Monitor *m = hc->mon;
    const ServerConfig *cfg = server_config(m->srv);
    const ServerStats *st = server_stats(m->srv);
    int64_t now = env_wall_ns(m->env), start = server_start_ns(m->srv);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b); /* members in nats-server's Varz order */
    jsonu_add_string(b, "server_id", server_id(m->srv));
    jsonu_add_string(b, "server_name", cfg->server_name);
    jsonu_add_string(b, "version", MINIJET_NATS_VERSION); /* the fields we show are its */
    jsonu_add_int(b, "proto", 1);
    jsonu_add_string(b, "go", "minijet (C)");
    jsonu_add_string(b, "host", cfg->host);
    jsonu_add_int(b, "port", cfg->port);
    if (auth_config_required(cfg->auth)) { /* omitted when false, as nats-server does */
        json_builder_set_member_name(b, "auth_required");
        json_builder_add_boolean_value(b, TRUE);
    }
    jsonu_add_int(b, "max_connections", cfg->max_connections);
    jsonu_add_int(b, "ping_interval", cfg->ping_interval_ns); /* Go's Duration: nanoseconds */
    jsonu_add_int(b, "ping_max", cfg->ping_max_outstanding);
    jsonu_add_string(b, "http_host", m->http_host);
    jsonu_add_int(b, "http_port", m->opts.http_port);
    jsonu_add_string(b, "http_base_path", "");
    jsonu_add_int(b, "https_port", 0);
    add_double(b, "auth_timeout", (double)auth_config_timeout_ns(cfg->auth) / 1e9);
    jsonu_add_int(b, "max_control_line", (int64_t)cfg->max_control_line_bytes);
    jsonu_add_int(b, "max_payload", (int64_t)cfg->max_payload_bytes);
    jsonu_add_int(b, "max_pending", (int64_t)cfg->max_pending_bytes);
    json_builder_set_member_name(b, "cluster"); /* nats-server's ClusterOptsVarz, omitempty */
    json_builder_begin_object(b);
    if (m->cluster != NULL) {
        jsonu_add_string(b, "name", cluster_name(m->cluster));
        jsonu_add_string(b, "addr", cluster_host(m->cluster));
        jsonu_add_int(b, "cluster_port", cluster_port(m->cluster));
        add_double(b, "auth_timeout", (double)LIMIT_AUTH_TIMEOUT_NS / 1e9);
        const char *const *urls = cluster_urls(m->cluster);
        if (urls != NULL && urls[0] != NULL) {
            json_builder_set_member_name(b, "urls");
            json_builder_begin_array(b);
            for (; *urls != NULL; urls++) { /* nats-server shows each URL's host:port */
                g_autofree char *h = NULL;
                int p = 0;
                if (cluster_parse_url(*urls, &h, &p)) {
                    g_autofree char *hp = g_strdup_printf("%s:%d", h, p);
                    json_builder_add_string_value(b, hp);
                }
            }
            json_builder_end_array(b);
        }
        add_double(b, "tls_timeout", 2.0); /* nats-server's default TLS handshake timeout; no TLS here */
    }
    json_builder_end_object(b);
    const char *const *curls = server_connect_urls(m->srv);
    if (curls != NULL) { /* nats-server: omitempty */
        json_builder_set_member_name(b, "connect_urls");
        json_builder_begin_array(b);
        for (; *curls != NULL; curls++) json_builder_add_string_value(b, *curls);
        json_builder_end_array(b);
    }
    const char *const none[] = {"gateway", "leaf", "mqtt", "websocket"};
    for (int i = 0; i < 4; i++) { /* present and empty in nats-server without them */
        json_builder_set_member_name(b, none[i]);
        json_builder_begin_object(b);
        json_builder_end_object(b);
    }
    json_builder_set_member_name(b, "jetstream");
    json_builder_begin_object(b);
    if (m->js != NULL) {
        JsTotals t;
        js_totals(m, &t);
        add_js_config(m, b);
        json_builder_set_member_name(b, "stats");
        json_builder_begin_object(b);
        add_js_stats(b, &t);
        json_builder_end_object(b);
        add_meta(m, b, "meta");
    }
    json_builder_end_object(b);
    add_time(b, "start", start);
    add_time(b, "now", now);
    g_autofree char *uptime = uptime_format(now - start);
    jsonu_add_string(b, "uptime", uptime);
    jsonu_add_int(b, "connections", (int64_t)st->conns_current);
    jsonu_add_int(b, "total_connections", (int64_t)st->conns_accepted);
    guint nroutes = m->cluster != NULL ? cluster_route_count(m->cluster) : 0;
    jsonu_add_int(b, "routes", nroutes);
    jsonu_add_int(b, "remotes", nroutes);
    jsonu_add_int(b, "leafnodes", 0);
    jsonu_add_int(b, "in_msgs", (int64_t)st->in_msgs);
    jsonu_add_int(b, "out_msgs", (int64_t)st->out_msgs);
    jsonu_add_int(b, "in_bytes", (int64_t)st->in_bytes);
    jsonu_add_int(b, "out_bytes", (int64_t)st->out_bytes);
    jsonu_add_int(b, "slow_consumers", (int64_t)st->slow_consumers);
    jsonu_add_int(b, "subscriptions", (int64_t)st->subscriptions);
    json_builder_set_member_name(b, "http_req_stats"); /* a Go map: keys sorted, only those asked */
    json_builder_begin_object(b);
    static const Endpoint by_path[EP_COUNT] = {EP_ROOT, EP_CONNZ, EP_HEALTHZ, EP_JSZ, EP_ROUTEZ, EP_SUBSZ, EP_VARZ};
    for (int i = 0; i < EP_COUNT; i++)
        if (m->requests[by_path[i]] > 0)
            jsonu_add_int(b, endpoint_path[by_path[i]], (int64_t)m->requests[by_path[i]]);
    json_builder_end_object(b);
    add_time(b, "config_load_time", start);
    json_builder_end_object(b);
    http_json(hc, b);
}

/* The members /connz and /routez share (nats-server's ConnInfo and RouteInfo), in their
 * order: start, last_activity, rtt (routez: rtt_ns >= 0; connz passes -1), uptime, idle, the pending bytes (pending_member: connz says
 * pending_bytes, routez pending_size), then the counters and the subscription count. */
static void add_activity(JsonBuilder *b, int64_t now, const ServerConnActivity *a, const char *pending_member,
                         int64_t rtt_ns) {
    add_time(b, "start", a->start_ns);
    add_time(b, "last_activity", a->last_activity_ns);
    if (rtt_ns >= 0) {
        /* nats-server's getRTT: between 1 µs and 1 ms truncated to whole µs ("456µs"), else
         * to the ns ("1.234567ms"); "0s" until the first PONG */
        if (rtt_ns > 1000 && rtt_ns < 1000000) rtt_ns -= rtt_ns % 1000;
        g_autofree char *rtt = jsonu_duration_format(rtt_ns);
        jsonu_add_string(b, "rtt", rtt);
    }
    g_autofree char *uptime = uptime_format(now - a->start_ns);
    g_autofree char *idle = uptime_format(now - a->last_activity_ns);
    jsonu_add_string(b, "uptime", uptime);
    jsonu_add_string(b, "idle", idle);
    jsonu_add_int(b, pending_member, (int64_t)a->pending_bytes);
    jsonu_add_int(b, "in_msgs", (int64_t)a->in_msgs);
    jsonu_add_int(b, "out_msgs", (int64_t)a->out_msgs);
    jsonu_add_int(b, "in_bytes", (int64_t)a->in_bytes);
    jsonu_add_int(b, "out_bytes", (int64_t)a->out_bytes);
    jsonu_add_int(b, "subscriptions", a->subscriptions);
}

/* ?subs=1: "subscriptions_list", the subjects (NULL: none). */
static void add_subjects(JsonBuilder *b, char **subjects) {
    json_builder_set_member_name(b, "subscriptions_list");
    json_builder_begin_array(b);
    for (char **s = subjects; s != NULL && *s != NULL; s++) json_builder_add_string_value(b, *s);
    json_builder_end_array(b);
}

/* /connz: nats-server's Connz, open client connections sorted by cid (its default sort). */
static void handle_connz(HttpConn *hc, const char *query) {
    Monitor *m = hc->mon;
    g_autoptr(GString) err = g_string_new(NULL);
    int64_t offset = 0, limit = LIMIT_MONITOR_CONNZ_PAGE_COUNT;
    bool subs = false;
    g_autofree char *subs_value = query_get(query, "subs");
    if (!query_int(query, "offset", &offset, err) || !query_int(query, "limit", &limit, err) ||
        (g_strcmp0(subs_value, "detail") != 0 && !query_bool(query, "subs", &subs, err))) {
        http_error(hc, 400, err->str);
        return;
    }
    if (g_strcmp0(subs_value, "detail") == 0) subs = true; /* we list subjects only */
    if (limit <= 0) limit = LIMIT_MONITOR_CONNZ_PAGE_COUNT; /* nats-server: 0 = the default */
    int64_t now = env_wall_ns(m->env);
    g_autoptr(GArray) conns = server_conn_list(m->srv);
    int64_t total = conns->len, first = MIN(offset, total), last = MIN(first + limit, total);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "server_id", server_id(m->srv));
    add_time(b, "now", now);
    jsonu_add_int(b, "num_connections", last - first);
    jsonu_add_int(b, "total", total);
    jsonu_add_int(b, "offset", offset);
    jsonu_add_int(b, "limit", limit);
    json_builder_set_member_name(b, "connections");
    json_builder_begin_array(b);
    for (int64_t i = first; i < last; i++) {
        const ServerConnInfo *ci = &g_array_index(conns, ServerConnInfo, i);
        json_builder_begin_object(b);
        jsonu_add_int(b, "cid", (int64_t)ci->cid);
        jsonu_add_string(b, "kind", "Client");
        jsonu_add_string(b, "type", "nats");
        jsonu_add_string(b, "ip", ci->ip);
        jsonu_add_int(b, "port", ci->port);
        add_activity(b, now, &ci->activity, "pending_bytes", -1);
        if (ci->name != NULL && *ci->name) jsonu_add_string(b, "name", ci->name); /* omitempty */
        if (ci->lang != NULL && *ci->lang) jsonu_add_string(b, "lang", ci->lang);
        if (ci->version != NULL && *ci->version) jsonu_add_string(b, "version", ci->version);
        if (subs && ci->activity.subscriptions > 0) {
            g_auto(GStrv) subjects = server_conn_subjects(m->srv, ci->cid);
            add_subjects(b, subjects);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    http_json(hc, b);
}

/* /routez: nats-server's Routez; ?subs=1 adds each route's subscriptions_list. */
static void handle_routez(HttpConn *hc, const char *query) {
    Monitor *m = hc->mon;
    g_autoptr(GString) err = g_string_new(NULL);
    bool subs = false;
    g_autofree char *subs_value = query_get(query, "subs");
    if (g_strcmp0(subs_value, "detail") != 0 && !query_bool(query, "subs", &subs, err)) {
        http_error(hc, 400, err->str);
        return;
    }
    if (g_strcmp0(subs_value, "detail") == 0) subs = true;
    int64_t now = env_wall_ns(m->env);
    g_autoptr(GArray) routes = m->cluster != NULL ? cluster_route_list(m->cluster)
                                                  : g_array_new(FALSE, FALSE, sizeof(ClusterRouteInfo));
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "server_id", server_id(m->srv));
    add_time(b, "now", now);
    jsonu_add_int(b, "num_routes", routes->len);
    json_builder_set_member_name(b, "routes");
    json_builder_begin_array(b);
    for (guint i = 0; i < routes->len; i++) {
        const ClusterRouteInfo *ri = &g_array_index(routes, ClusterRouteInfo, i);
        json_builder_begin_object(b);
        jsonu_add_int(b, "rid", (int64_t)ri->rid);
        jsonu_add_string(b, "remote_id", ri->remote_id);
        jsonu_add_bool(b, "did_solicit", ri->did_solicit);
        jsonu_add_bool(b, "is_configured", ri->is_configured);
        jsonu_add_string(b, "ip", ri->ip);
        jsonu_add_int(b, "port", ri->port);
        add_activity(b, now, &ri->activity, "pending_size", ri->rtt_ns); /* nats-server's name here */
        if (subs && ri->activity.subscriptions > 0) {
            g_auto(GStrv) subjects = cluster_route_subjects(m->cluster, ri->rid);
            add_subjects(b, subjects);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    http_json(hc, b);
}

/* /subsz: nats-server's SublistStats (without ?subs=1 it shows only these, not Subsz's id,
 * time and paging). */
static void handle_subsz(HttpConn *hc) {
    Monitor *m = hc->mon;
    SublistStats ss;
    server_sublist_stats(m->srv, &ss);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_int(b, "num_subscriptions", (int64_t)ss.count);
    jsonu_add_int(b, "num_cache", (int64_t)ss.cache_count);
    jsonu_add_int(b, "num_inserts", (int64_t)ss.inserts);
    jsonu_add_int(b, "num_removes", (int64_t)ss.removes);
    jsonu_add_int(b, "num_matches", (int64_t)ss.matches);
    add_double(b, "cache_hit_rate", ss.matches > 0 ? (double)ss.cache_hits / (double)ss.matches : 0.0);
    jsonu_add_int(b, "max_fanout", (int64_t)ss.max_fanout);
    add_double(b, "avg_fanout", ss.avg_fanout);
    json_builder_end_object(b);
    http_json(hc, b);
}

/* One stream of /jsz?streams=1: name, created and state as STREAM.INFO has them (built by
 * stream.c, then copied member by member), "config" only with ?config=1, and with
 * ?consumers=1 its consumers, as nats-server's StreamDetail. */
static void add_stream_detail(JsonBuilder *b, Stream *st, bool consumers, bool config) {
    g_autoptr(JsonBuilder) info = json_builder_new();
    json_builder_begin_object(info);
    stream_build_info(st, info, NULL); /* config, created, state */
    json_builder_end_object(info);
    g_autoptr(JsonNode) root = json_builder_get_root(info);
    JsonObject *io = json_node_get_object(root);
    json_builder_begin_object(b);
    jsonu_add_string(b, "name", stream_name(st));
    const char *const members[] = {"created", "config", "cluster", "state"}; /* nats-server's order */
    for (int i = 0; i < 4; i++) {
        if ((!config && strcmp(members[i], "config") == 0) || !json_object_has_member(io, members[i])) continue;
        json_builder_set_member_name(b, members[i]);
        json_builder_add_value(b, json_node_copy(json_object_get_member(io, members[i])));
    }
    if (consumers && consumer_set_count(consumer_set_of(st)) > 0) {
        g_autoptr(GPtrArray) list = consumer_set_list(consumer_set_of(st));
        json_builder_set_member_name(b, "consumer_detail");
        json_builder_begin_array(b);
        for (guint i = 0; i < list->len; i++) {
            Consumer *c = list->pdata[i];
            json_builder_begin_object(b);
            jsonu_add_string(b, "stream_name", stream_name(st));
            jsonu_add_string(b, "name", consumer_name(c));
            add_time(b, "created", consumer_created_ns(c));
            if (config) {
                json_builder_set_member_name(b, "config");
                consumer_config_build(consumer_config(c), b);
            }
            consumer_build_info(c, b);
            stream_build_cluster_info(st, b, !consumer_is_durable(c)); /* nats-server: ephemerals are R1 */
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
}

/* /jsz: nats-server's JSInfo for the one account minijet has ("$G"). */
static void handle_jsz(HttpConn *hc, const char *query) {
    Monitor *m = hc->mon;
    g_autoptr(GString) err = g_string_new(NULL);
    bool streams = false, consumers = false, accounts = false, config = false;
    if (!query_bool(query, "streams", &streams, err) ||
        !query_bool(query, "consumers", &consumers, err) ||
        !query_bool(query, "config", &config, err) ||
        !query_bool(query, "accounts", &accounts, err)) {
        http_error(hc, 400, err->str);
        return;
    }
    streams |= consumers; /* as nats-server: consumer detail implies stream detail */
    JetStream *js = m->js;
    JsTotals t;
    js_totals(m, &t);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "server_id", server_id(m->srv));
    add_time(b, "now", env_wall_ns(m->env));
    if (js == NULL) jsonu_add_bool(b, "disabled", true);
    add_js_config(m, b);
    add_js_stats(b, &t);
    jsonu_add_int(b, "streams", t.streams);
    jsonu_add_int(b, "consumers", t.consumers);
    jsonu_add_int(b, "messages", (int64_t)t.messages);
    jsonu_add_int(b, "bytes", (int64_t)t.bytes);
    add_meta(m, b, "meta_cluster");
    if (js != NULL && (streams || accounts)) {
        json_builder_set_member_name(b, "account_details");
        json_builder_begin_array(b);
        json_builder_begin_object(b);
        jsonu_add_string(b, "name", "$G");
        jsonu_add_string(b, "id", "$G");
        add_js_stats(b, &t);
        if (streams && t.streams > 0) {
            g_autoptr(GPtrArray) list = jetstream_streams(js); /* sorted by name */
            json_builder_set_member_name(b, "stream_detail");
            json_builder_begin_array(b);
            for (guint i = 0; i < list->len; i++) add_stream_detail(b, list->pdata[i], consumers, config);
            json_builder_end_array(b);
        }
        json_builder_end_object(b);
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    http_json(hc, b);
}

/* nats-server 2.9.10 starts its monitor before restoring JetStream and its client port
 * after; until then /healthz is 503 with readyForConnections' error, compact as "ok". */
static void handle_healthz(HttpConn *hc) {
    Monitor *m = hc->mon;
    if (m->not_ready != NULL) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        jsonu_add_string(b, "status", "error");
        jsonu_add_string(b, "error", m->not_ready);
        json_builder_end_object(b);
        g_autofree char *body = jsonu_builder_to_string(b);
        http_respond(hc, 503, "application/json", body, strlen(body));
        return;
    }
    static const char body[] = "{\"status\":\"ok\"}"; /* nats-server prints this one compact */
    http_respond(hc, 200, "application/json", body, sizeof body - 1);
}

void monitor_set_not_ready(Monitor *m, const char *why) {
    g_free(m->not_ready);
    m->not_ready = g_strdup(why);
}

static void handle_root(HttpConn *hc) {
    g_autoptr(GString) body = g_string_new(
        "<html lang=\"en\">\n<head><title>minijet monitoring</title></head>\n<body>\n"
        "<h1>minijet</h1>\n<p>nats-server " MINIJET_NATS_VERSION " monitoring endpoints:</p>\n");
    for (int i = EP_VARZ; i < EP_COUNT; i++)
        g_string_append_printf(body, "<a href=\".%s\">%s</a><br/>\n", endpoint_path[i], endpoint_path[i]);
    g_string_append(body, "</body>\n</html>\n");
    http_respond(hc, 200, "text/html; charset=utf-8", body->str, body->len);
}

/* Answer a checked GET for `target` ("/path?query"). */
static void http_dispatch(HttpConn *hc, const char *target) {
    g_autofree char *path = g_strdup(target);
    char *q = strchr(path, '?');
    const char *query = "";
    if (q != NULL) {
        *q = 0;
        query = q + 1;
    }
    Endpoint ep = EP_COUNT;
    for (int i = 0; i < EP_COUNT; i++)
        if (strcmp(path, endpoint_path[i]) == 0) ep = (Endpoint)i;
    if (ep == EP_COUNT && strcmp(path, "/subscriptionsz") == 0) ep = EP_SUBSZ; /* nats-server's alias */
    if (ep == EP_COUNT) {
        http_respond(hc, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
        return;
    }
    hc->mon->requests[ep]++;
    switch (ep) {
    case EP_ROOT: handle_root(hc); break;
    case EP_VARZ: handle_varz(hc); break;
    case EP_CONNZ: handle_connz(hc, query); break;
    case EP_ROUTEZ: handle_routez(hc, query); break;
    case EP_SUBSZ: handle_subsz(hc); break;
    case EP_JSZ: handle_jsz(hc, query); break;
    case EP_HEALTHZ: handle_healthz(hc); break;
    case EP_COUNT: g_assert_not_reached();
    }
}

/* ------------------------------------------------------------------ the request parser */

static bool is_tchar(char ch) { /* RFC 9110 token characters */
    return g_ascii_isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Check "METHOD SP /target SP HTTP/1.x" (line without its CR LF). 0 = fine, else the status
 * to answer. On success *target is the target (g_free it). */
static int request_line_check(const char *line, size_t len, char **target) {
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line) return 400;
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar(*p)) return 400;
    const char *t = sp1 + 1, *end = line + len;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (sp2 == NULL || sp2 == t || *t != '/') return 400;
    for (const char *p = t; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) return 400;
    size_t vlen = (size_t)(end - sp2 - 1);
    if (vlen != 8 || (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
        return 400;
    if (sp1 - line != 3 || memcmp(line, "GET", 3) != 0) return 405;
    *target = g_strndup(t, (size_t)(sp2 - t));
    return 0;
}

/* Every header line (between the request line and the blank line) has a name and a ':'. */
static bool headers_check(const char *start, const char *end) {
    while (start < end) {
        const char *nl = memchr(start, '\n', (size_t)(end - start));
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - start);
        if (len > 0 && start[len - 1] == '\r') len--;
        if (len > 0) {
            const char *colon = memchr(start, ':', len);
            if (colon == NULL || colon == start) return false;
            for (const char *p = start; p < colon; p++)
                if (!is_tchar(*p)) return false;
        }
        start = nl ? nl + 1 : end;
    }
    return true;
}

/* Look at what has arrived: answer as soon as the request is complete or wrong. */
static void http_parse(HttpConn *hc) {
    const char *buf = hc->buf->str;
    size_t len = hc->buf->len;
    if (hc->target == NULL) { /* step 1, once: the request line */
        const char *eol = memchr(buf + hc->scanned, '\n', len - hc->scanned);
        if (eol == NULL) {
            hc->scanned = len;
            if (len >= LIMIT_MONITOR_REQUEST_BYTES) http_error(hc, 400, "request line too long");
            return;
        }
        size_t line_len = (size_t)(eol - buf);
        if (line_len > 0 && buf[line_len - 1] == '\r') line_len--;
        int status = request_line_check(buf, line_len, &hc->target);
        if (status != 0) {
            http_error(hc, status, status == 405 ? "only GET is served" : "malformed request line");
            return;
        }
        hc->line_end = (size_t)(eol - buf);
        hc->scanned = hc->line_end;
    }
    const char *nl = buf + hc->line_end;
    /* The headers end at an empty line: "\n\r\n" or "\n\n". Resume the search where the last
     * call stopped (minus the 2 bytes a terminator may straddle). */
    for (size_t i = hc->scanned; i < len; i++) {
        if (buf[i] != '\n') continue;
        bool blank = (i + 1 < len && buf[i + 1] == '\n') ||
                     (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n');
        if (!blank) continue;
        if (!headers_check(nl + 1, buf + i + 1)) {
            http_error(hc, 400, "malformed header line");
            return;
        }
        http_dispatch(hc, hc->target);
        return;
    }
    hc->scanned = MAX(hc->line_end, len >= 2 ? len - 2 : 0);
    if (len >= LIMIT_MONITOR_REQUEST_BYTES) http_error(hc, 400, "request headers too large");
}

/* ------------------------------------------------------------------ the world's handlers */

static void http_conn_free(gpointer p) {
    HttpConn *hc = p;
    if (!hc->answered) g_queue_unlink(&hc->mon->waiting, &hc->waiting_link);
    env_timer_cancel(hc->mon->env, hc->idle_timer);
    g_string_free(hc->buf, TRUE);
    g_free(hc->target);
    g_free(hc);
}

static void idle_timer_fired(void *arg) {
    HttpConn *hc = arg;
    hc->idle_timer = 0;
    http_error(hc, 408, "no complete request in time");
}

static void mon_on_accept(void *core, EnvConn id, const char *peer_ip, int peer_port) {
    Monitor *m = core;
    HttpConn *hc = g_new0(HttpConn, 1);
    hc->mon = m;
    hc->id = id;
    hc->buf = g_string_new(NULL);
    hc->waiting_link.data = hc;
    g_hash_table_insert(m->conns, &hc->id, hc);
    g_queue_push_tail_link(&m->waiting, &hc->waiting_link);
    if (m->waiting.length > LIMIT_MONITOR_CONNS_COUNT) /* make room: the oldest goes */
        http_error(m->waiting.head->data, 408, "evicted by newer connections");
    hc->idle_timer = env_timer_add(m->env, LIMIT_MONITOR_IDLE_NS, idle_timer_fired, hc);
}

static void mon_on_bytes(void *core, EnvConn id, const uint8_t *data, size_t len) {
    Monitor *m = core;
    HttpConn *hc = g_hash_table_lookup(m->conns, &id);
    if (hc == NULL || hc->answered) return; /* after the answer, input is ignored */
    size_t room = LIMIT_MONITOR_REQUEST_BYTES - hc->buf->len;
    g_string_append_len(hc->buf, (const char *)data, (gssize)MIN(len, room));
    http_parse(hc);
    if (!hc->answered && len > room) http_error(hc, 400, "request too large");
}

static void mon_on_closed(void *core, EnvConn id) {
    Monitor *m = core;
    g_hash_table_remove(m->conns, &id); /* frees it */
}

static const EnvHandlers monitor_env_handlers = {mon_on_accept, mon_on_bytes, mon_on_closed};

const EnvHandlers *monitor_handlers(void) { return &monitor_env_handlers; }

/* ------------------------------------------------------------------ lifecycle */


Monitor *monitor_new(Env *env, Server *srv, JetStream *js, const MonitorOptions *opts) {
    Monitor *m = g_new0(Monitor, 1);
    m->env = env;
    m->srv = srv;
    m->js = js;
    m->opts = *opts;
    m->http_host = g_strdup(opts->http_host ? opts->http_host : "127.0.0.1");
    m->opts.http_host = m->http_host;
    m->conns = g_hash_table_new_full(u64_hash, u64_equal, NULL, http_conn_free);
    return m;
}

void monitor_set_cluster(Monitor *m, Cluster *cl) { m->cluster = cl; }
void monitor_set_jscluster(Monitor *m, JsCluster *jc) { m->jsc = jc; }

void monitor_set_http_port(Monitor *m, int port) { m->opts.http_port = port; }

void monitor_free(Monitor *m) {
    if (m == NULL) return;
    g_hash_table_destroy(m->conns); /* cancels the idle timers */
    g_free(m->http_host);
    g_free(m->not_ready);
    g_free(m);
}
