/* route.c — the cluster layer: routes between servers, interest across them.
 *
 * WHAT IT IS
 *   nats-server's route.go in miniature. Servers of a cluster keep one TCP connection per
 *   pair (a full mesh). Over it each tells the other which subjects its *local* clients
 *   want (RS+ / RS-), and forwards a published message to a peer only if that peer said it
 *   wants it (RMSG / HMSG). A message that came from a route goes to local subscribers
 *   only, never on to another route: in a full mesh every server is one hop from every
 *   other, so no loop can form and no message ids or TTLs are needed (spec 2.6).
 *
 * HOW A ROUTE COMES UP (spec 2.1, 2.7)
 *   The dialling side (solicitor) sends CONNECT and its INFO at once; the accepting side
 *   sends its INFO as soon as it accepts. When a side has the other's INFO it checks the
 *   server_id (ours: a route to self, closed; one we already have a route to: a duplicate,
 *   the newer connection is closed), the cluster name (a mismatch is rejected with
 *   nats-server's -ERR), then registers the route and sends one RS+ per local interest.
 *   An acceptor that already has other routes tells them about the newcomer with an INFO
 *   carrying `ip` (gossip); they dial it (an implicit route), so a server given one seed
 *   meets the whole cluster.
 *
 * RETRIES
 *   Configured routes are redialled 1 s (+ up to 100 ms) after a failed dial or a lost
 *   route, forever, unless the URL turned out to be ourselves; a duplicate that lost to an
 *   existing route hands its URL to the winner, which redials it if it is lost later. A
 *   route the peer dialled to us stands for our URL of that peer too (its INFO names its
 *   cluster address): no redial opens a second connection beside it (adopt_peer).
 *   Implicit routes are not retried (nats-server's connect_retries 0): the peer that knows
 *   the URL from its configuration does that.
 *
 * INTEREST BOOKKEEPING (spec 2.3)
 *   `interest` counts local subscriptions (clients' and the server's internal ones) per
 *   subject (plain) and per subject+queue.
 *   Plain: RS+ on 0 -> 1, RS- on 1 -> 0. Queue: every change sends RS+ with the new count
 *   (the weight peers use to pick a member, spec 2.5), RS- at 0. A new route gets the
 *   whole table. A peer's RS+ becomes a ServerRemoteSub in the server's trie; a closing
 *   route drops all of its remote subscriptions at once.
 *
 * Only the global account ($G) exists in minijet: interest and messages for other
 * accounts (a nats-server peer's $SYS traffic) are accepted and ignored.
 */
#include "route.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "errors.h"
#include "jsonutil.h"
#include "limits.h"
#include "route_proto.h"

#define ROUTE_ACCOUNT "$G"
#define ROUTE_VERSION "2.9.10"

typedef struct Route Route;
typedef struct Cluster Cluster;

/* A configured route URL and its dialling state. */
typedef struct Peer {
    Cluster *cl;
    char *url, *host;
    int port;
    bool self;          /* it led back to us: never dialled again */
    Route *route;       /* the route currently standing for this URL, NULL if none */
    EnvTimer retry;
    uint64_t attempts;  /* failed dials in a row */
} Peer;

struct Route {
    Cluster *cl;
    EnvConn id;
    RouteParser parser;
    bool solicited;     /* we dialled it */
    bool registered;    /* INFO checked, in cl->by_id, interest exchanged */
    bool closing;
    Peer *peer;         /* the configured URL it stands for, NULL if none */
    char ip[48];
    int port;
    char *remote_id, *remote_name;
    char **remote_urls; /* the peer's client connect_urls */
    char *remote_host;
    int remote_port;    /* the peer's cluster listen port (from INFO) */
    GHashTable *rsubs;  /* "subject" or "subject queue" -> ServerRemoteSub* */
    EnvTimer ping_timer;
    int pings_out;
    int64_t ping_sent_ns;  /* env_now_ns of our last PING still unanswered; 0 = none */
    int64_t rtt_ns;        /* PING to PONG, the last one measured; 0 = not yet (/routez rtt) */
    int64_t start_ns, last_activity_ns;
    uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
};

struct Cluster {
    Server *srv;
    Env *env;
    ServerHook *check_hook; /* our invariants, inside server_check_invariants */
    char *name;
    bool dynamic_name;
    char *host;
    int port;
    char **urls;          /* the configured route URLs, as given */
    GPtrArray *peers;     /* Peer*, in configuration order */
    int64_t ping_interval_ns;
    int ping_max;
    size_t max_pending;
    GHashTable *routes;   /* EnvConn -> Route* (every route, registered or not) */
    GHashTable *by_id;    /* remote server_id -> registered Route* */
    GHashTable *interest; /* "subject" or "subject queue" -> count (local subs) */
    GHashTable *dialing;  /* server_id -> Route*: implicit dials under way */
    GString *scratch;     /* the RMSG line being built (reused: no allocation per message) */
    bool shutting_down;
    ServerHook *interest_hook; /* our observer on the server's local subscriptions */
    unsigned bug;         /* ClusterBug: only the simulator's --bug route-* sets it */
    bool no_advertise;    /* no connect_urls to our clients or in our route INFO */
};

static guint u64_hash(gconstpointer p) {
    uint64_t v = *(const uint64_t *)p;
    return (guint)(v ^ (v >> 32));
}
static gboolean u64_equal(gconstpointer a, gconstpointer b) {
    return *(const uint64_t *)a == *(const uint64_t *)b;
}

/* ------------------------------------------------------------------ URLs */

bool cluster_parse_url(const char *url, char **host, int *port) {
    const char *p = url;
    const char *scheme = strstr(p, "://");
    if (scheme != NULL) {
        size_t n = (size_t)(scheme - p);
        if (!((n == 4 && strncmp(p, "nats", 4) == 0) || (n == 10 && strncmp(p, "nats-route", 10) == 0)))
            return false;
        p = scheme + 3;
    }
    const char *at = strchr(p, '@'); /* user:pass@ is accepted and ignored (no route auth) */
    if (at != NULL) p = at + 1;
    size_t end = strcspn(p, "/");
    g_autofree char *hp = g_strndup(p, end);
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || colon == hp) return false;
    char *e = NULL;
    long v = strtol(colon + 1, &e, 10);
    if (*e != '\0' || v <= 0 || v > 65535) return false;
    g_autofree char *h = g_strndup(hp, (gsize)(colon - hp));
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        char *inner = g_strndup(h + 1, strlen(h) - 2);
        g_free(h);
        h = inner;
    }
    *host = g_steal_pointer(&h);
    *port = (int)v;
    return true;
}

/* ------------------------------------------------------------------ output */

static void route_close(Route *r, const char *reason);

static void route_send(Route *r, const void *data, size_t len) {
    env_conn_send1(r->cl->env, r->id, data, len);
}

static void route_send_gstr(Route *r, const GString *s) { route_send(r, s->str, s->len); }

/* -ERR to the peer, one log line, close. */
static void route_fail(Route *r, const char *text) {
    g_autoptr(GString) line = g_string_new(NULL);
    g_string_printf(line, "-ERR '%s'\r\n", text);
    route_send_gstr(r, line);
    env_log(r->cl->env, ENV_LOG_ERROR, "%s:%d - rid:%" G_GUINT64_FORMAT " - Router Error: %s", r->ip,
            r->port, r->id, text);
    route_close(r, text);
}

/* Our own client URL as peers and clients should dial it. */
static char *own_client_url(Cluster *cl) {
    const ServerConfig *sc = server_config(cl->srv);
    const char *h = sc->host;
    if (h == NULL || *h == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) h = "127.0.0.1";
    return g_strdup_printf("%s:%d", h, sc->port);
}

/* Our route INFO (spec 2.1); `about` = a peer we describe to another one (gossip). */
static char *info_json(Cluster *cl, const Route *about) {
    const ServerConfig *sc = server_config(cl->srv);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    if (about == NULL) {
        jsonu_add_string(b, "server_id", server_id(cl->srv));
        jsonu_add_string(b, "server_name", sc->server_name);
        jsonu_add_string(b, "version", ROUTE_VERSION);
        jsonu_add_int(b, "proto", 2); /* route protocol v2: accounts in RS+ and RMSG */
        jsonu_add_string(b, "go", "minijet (C)");
        jsonu_add_string(b, "host", cl->host);
        jsonu_add_int(b, "port", cl->port);
        jsonu_add_bool(b, "headers", true);
        jsonu_add_int(b, "max_payload", (int64_t)sc->max_payload_bytes);
        jsonu_add_string(b, "cluster", cl->name);
        if (cl->dynamic_name) jsonu_add_bool(b, "cluster_dynamic", true);
        if (server_info_flag(cl->srv, "jetstream")) jsonu_add_bool(b, "jetstream", true);
        if (server_info_string(cl->srv, "domain") != NULL)
            jsonu_add_string(b, "domain", server_info_string(cl->srv, "domain"));
        if (!cl->no_advertise) {
            json_builder_set_member_name(b, "connect_urls");
            json_builder_begin_array(b);
            g_autofree char *own = own_client_url(cl);
            json_builder_add_string_value(b, own);
            json_builder_end_array(b);
        }
    } else {
        jsonu_add_string(b, "server_id", about->remote_id);
        jsonu_add_string(b, "server_name", about->remote_name ? about->remote_name : "");
        jsonu_add_string(b, "version", ROUTE_VERSION);
        jsonu_add_int(b, "proto", 2);
        jsonu_add_string(b, "host", about->remote_host ? about->remote_host : about->ip);
        jsonu_add_int(b, "port", about->remote_port);
        jsonu_add_bool(b, "headers", true);
        jsonu_add_int(b, "max_payload", (int64_t)sc->max_payload_bytes);
        /* where to dial it: the address it came from, with the cluster port it announced */
        g_autofree char *ip = g_strdup_printf("nats-route://%s:%d/", about->ip, about->remote_port);
        jsonu_add_string(b, "ip", ip);
        jsonu_add_string(b, "cluster", cl->name);
        json_builder_set_member_name(b, "connect_urls");
        json_builder_begin_array(b);
        for (char **u = about->remote_urls; u != NULL && *u != NULL; u++) json_builder_add_string_value(b, *u);
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    return jsonu_builder_to_string(b);
}

static void send_info(Route *r, const Route *about) {
    g_autofree char *json = info_json(r->cl, about);
    g_autofree char *line = g_strdup_printf("INFO %s\r\n", json);
    route_send(r, line, strlen(line));
}

static void send_connect(Route *r) {
    Cluster *cl = r->cl;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_bool(b, "echo", true);
    jsonu_add_bool(b, "verbose", false);
    jsonu_add_bool(b, "pedantic", false);
    jsonu_add_bool(b, "tls_required", false);
    jsonu_add_bool(b, "headers", true);
    jsonu_add_string(b, "name", server_id(cl->srv));
    jsonu_add_string(b, "cluster", cl->name);
    if (cl->dynamic_name) jsonu_add_bool(b, "cluster_dynamic", true);
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    g_autofree char *line = g_strdup_printf("CONNECT %s\r\n", json);
    route_send(r, line, strlen(line));
}

/* ------------------------------------------------------------------ client INFO */

static gint str_cmp(gconstpointer a, gconstpointer b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Our client URL first, then every registered peer's (sorted, deduplicated). */
static void update_client_info(Cluster *cl) {
    if (cl->shutting_down) return;
    if (cl->no_advertise) { /* the cluster's name, but no URLs (nats-server's no_advertise) */
        server_set_cluster_info(cl->srv, cl->name, NULL);
        return;
    }
    GPtrArray *urls = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(urls, own_client_url(cl));
    GPtrArray *theirs = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, cl->by_id);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Route *r = v;
        for (char **u = r->remote_urls; u != NULL && *u != NULL; u++) g_ptr_array_add(theirs, *u);
    }
    g_ptr_array_sort(theirs, str_cmp); /* hash order must not reach the output */
    for (guint i = 0; i < theirs->len; i++) {
        const char *u = theirs->pdata[i];
        bool dup = false;
        for (guint j = 0; j < urls->len && !dup; j++) dup = strcmp(urls->pdata[j], u) == 0;
        if (!dup) g_ptr_array_add(urls, g_strdup(u));
    }
    g_ptr_array_free(theirs, TRUE);
    g_ptr_array_add(urls, NULL);
    server_set_cluster_info(cl->srv, cl->name, (const char *const *)urls->pdata);
    g_ptr_array_free(urls, TRUE);
}

/* ------------------------------------------------------------------ interest out */

/* key: "subject" or "subject queue" (a space cannot occur in either). */
static char *interest_key(const char *subject, const char *queue) {
    return queue ? g_strdup_printf("%s %s", subject, queue) : g_strdup(subject);
}

static void send_interest(Route *r, const char *key, int64_t count) {
    if (count == 0 && (r->cl->bug & CLUSTER_BUG_NO_UNSUB)) return; /* broken on purpose: RS- lost */
    g_autoptr(GString) line = g_string_new(NULL);
    const char *sp = strchr(key, ' ');
    g_autofree char *subject = sp ? g_strndup(key, (gsize)(sp - key)) : g_strdup(key);
    const char *queue = sp ? sp + 1 : NULL;
    if (count > 0)
        route_encode_sub(line, ROUTE_ACCOUNT, subject, queue, (uint32_t)MIN(count, G_MAXUINT32));
    else
        route_encode_unsub(line, ROUTE_ACCOUNT, subject, queue);
    route_send_gstr(r, line);
}

static gint route_by_id(gconstpointer a, gconstpointer b) {
    EnvConn x = (*(Route *const *)a)->id, y = (*(Route *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* Registered routes in rid order (sends happen in a reproducible order). */
static GPtrArray *registered_routes(Cluster *cl) {
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, cl->by_id);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (!((Route *)v)->closing) g_ptr_array_add(out, v);
    g_ptr_array_sort(out, route_by_id);
    return out;
}

/* Our observer on the server's subscriptions (server_observe_subs): a local subscription,
 * a client's or an internal one, came or went. */
static void on_interest(void *ctx, const ServerSubChange *ch) {
    Cluster *cl = ctx;
    const char *queue = ch->queue;
    int delta = ch->added ? 1 : -1;
    char *key = interest_key(ch->subject, queue);
    int64_t count = GPOINTER_TO_SIZE(g_hash_table_lookup(cl->interest, key)) + delta;
    g_assert(count >= 0);
    if (count == 0)
        g_hash_table_remove(cl->interest, key);
    else
        g_hash_table_replace(cl->interest, g_strdup(key), GSIZE_TO_POINTER((gsize)count));
    /* LAB(9) begin */
    /* LAB(9) stub: (void)queue; (void)send_interest; */
    bool announce = queue != NULL || count == 0 || (count == 1 && delta > 0);
    if (announce && g_hash_table_size(cl->by_id) > 0) {
        GPtrArray *rs = registered_routes(cl);
        for (guint i = 0; i < rs->len; i++) send_interest(rs->pdata[i], key, count);
        g_ptr_array_free(rs, TRUE);
    }
    /* LAB(9) end */
    g_free(key);
}

/* A new route gets all local interest, in key order, in one send. */
static void send_all_interest(Route *r) {
    Cluster *cl = r->cl;
    if (cl->bug & CLUSTER_BUG_NO_REPLAY) return; /* broken on purpose: a new route learns nothing */
    /* LAB(9) begin */
    GPtrArray *keys = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, cl->interest);
    while (g_hash_table_iter_next(&it, &k, NULL)) g_ptr_array_add(keys, k);
    g_ptr_array_sort(keys, str_cmp);
    g_autoptr(GString) out = g_string_new(NULL);
    for (guint i = 0; i < keys->len; i++) {
        const char *key = keys->pdata[i];
        int64_t count = GPOINTER_TO_SIZE(g_hash_table_lookup(cl->interest, key));
        const char *sp = strchr(key, ' ');
        g_autofree char *subject = sp ? g_strndup(key, (gsize)(sp - key)) : g_strdup(key);
        route_encode_sub(out, ROUTE_ACCOUNT, subject, sp ? sp + 1 : NULL, (uint32_t)MIN(count, G_MAXUINT32));
    }
    g_ptr_array_free(keys, TRUE);
    if (out->len > 0) route_send_gstr(r, out);
    /* LAB(9) end */
}

/* ------------------------------------------------------------------ messages out */

/* The server's forward callback: one copy of a message for this peer (spec 2.4). */
static void forward_msg(void *peer, const ServerMsg *m, const char *const *queues, size_t nq) {
    Route *r = peer;
    Cluster *cl = r->cl;
    if (r->closing) return;
    GString *hdr = cl->scratch;
    g_string_truncate(hdr, 0);
    route_encode_msg_line(hdr, ROUTE_ACCOUNT, m->subject, m->subject_len, m->reply, m->reply_len, queues,
                          MIN(nq, LIMIT_ROUTE_MSG_QUEUES_COUNT), m->hdr_len, m->payload_len);
    EnvSlice sl[4] = {{hdr->str, hdr->len}, {m->hdr, m->hdr_len}, {m->payload, m->payload_len}, {"\r\n", 2}};
    env_conn_send(cl->env, r->id, sl, 4);
    r->out_msgs++;
    r->out_bytes += m->hdr_len + m->payload_len;
    if (env_conn_pending(cl->env, r->id) > cl->max_pending) {
        env_log(cl->env, ENV_LOG_WARN, "%s:%d - rid:%" G_GUINT64_FORMAT
                " - Slow Consumer Detected: MaxPending of %zu Exceeded", r->ip, r->port, r->id, cl->max_pending);
        route_close(r, "Slow Consumer (Pending Bytes)");
    }
}

/* ------------------------------------------------------------------ route lifecycle */

static void ping_fired(void *arg);
static void dial_peer(Cluster *cl, Peer *p);
static const EnvHandlers route_handlers;

static Route *route_new(Cluster *cl, EnvConn id, const char *ip, int port, bool solicited) {
    Route *r = g_new0(Route, 1);
    r->cl = cl;
    r->id = id;
    r->solicited = solicited;
    g_strlcpy(r->ip, ip, sizeof r->ip);
    r->port = port;
    const ServerConfig *sc = server_config(cl->srv);
    RouteLimits lim = {sc->max_payload_bytes, sc->max_control_line_bytes};
    route_parser_init(&r->parser, &lim);
    r->rsubs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r->start_ns = r->last_activity_ns = env_wall_ns(cl->env);
    g_hash_table_insert(cl->routes, &r->id, r);
    r->ping_timer = env_timer_add(cl->env, LIMIT_ROUTE_PING_FIRST_NS, ping_fired, r);
    return r;
}

static void route_free(Route *r) {
    route_parser_clear(&r->parser);
    g_hash_table_destroy(r->rsubs);
    g_free(r->remote_id);
    g_free(r->remote_name);
    g_free(r->remote_host);
    g_strfreev(r->remote_urls);
    g_free(r);
}

static void redial_fired(void *arg) {
    Peer *p = arg;
    p->retry = 0;
    dial_peer(p->cl, p);
}

/* 1 s plus up to 100 ms of jitter, so two servers dialling each other drift apart. */
static void schedule_redial(Cluster *cl, Peer *p) {
    if (p->self || cl->shutting_down || p->retry != 0 || p->route != NULL) return;
    int64_t jitter = (int64_t)(env_random_u64(cl->env) % 100) * 1000000LL;
    p->retry = env_timer_add(cl->env, LIMIT_ROUTE_CONNECT_RETRY_NS + jitter, redial_fired, p);
}

/* Drop everything learned from this route; the Route is freed in on_closed. */
static void route_close(Route *r, const char *reason) {
    if (r->closing) return;
    Cluster *cl = r->cl;
    r->closing = true;
    env_timer_cancel(cl->env, r->ping_timer);
    r->ping_timer = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, r->rsubs); /* order cannot reach an output */
    while (g_hash_table_iter_next(&it, NULL, &v)) server_remote_sub_remove(cl->srv, v);
    g_hash_table_remove_all(r->rsubs);
    bool was_registered = r->registered;
    if (r->registered) {
        g_hash_table_remove(cl->by_id, r->remote_id);
        r->registered = false;
        env_log(cl->env, ENV_LOG_INFO, "%s:%d - rid:%" G_GUINT64_FORMAT " - Router connection closed: %s",
                r->ip, r->port, r->id, reason);
    } else {
        env_log(cl->env, ENV_LOG_DEBUG, "%s:%d - rid:%" G_GUINT64_FORMAT " - Router connection closed: %s",
                r->ip, r->port, r->id, reason);
    }
    env_conn_close(cl->env, r->id);
    if (was_registered) update_client_info(cl);
}

/* ------------------------------------------------------------------ route handshake */

static bool name_conflict(Route *r, const char *theirs, bool their_dynamic) {
    Cluster *cl = r->cl;
    if (theirs == NULL || strcmp(theirs, cl->name) == 0) return false;
    if (cl->dynamic_name && (!their_dynamic || strcmp(cl->name, theirs) < 0)) {
        /* ours was never configured: take theirs (nats-server's rule) */
        env_log(cl->env, ENV_LOG_INFO, "Cluster name updated to %s", theirs);
        g_free(cl->name);
        cl->name = g_strdup(theirs);
        cl->dynamic_name = their_dynamic;
        update_client_info(cl);
        return false;
    }
    g_autofree char *text =
        g_strdup_printf("Rejecting connection, cluster name \"%s\" does not match \"%s\"", theirs, cl->name);
    route_fail(r, text);
    return true;
}

static JsonObject *parse_object(JsonParser *parser, const char *json, size_t len) {
    JsonNode *root = NULL;
    if (!json_parser_load_from_data(parser, json, (gssize)len, NULL) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return NULL;
    return json_node_get_object(root);
}

static bool on_connect(void *ctx, const char *json, size_t len) {
    Route *r = ctx;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_object(parser, json, len);
    if (o == NULL) {
        route_fail(r, "Unknown Protocol Operation");
        return false;
    }
    const char *s = NULL;
    if (jsonu_get_string(o, "lang", &s) && s != NULL && *s != '\0') { /* a client on the route port */
        route_fail(r, "attempted to connect to route port");
        return false;
    }
    const char *cluster = NULL;
    jsonu_get_string(o, "cluster", &cluster);
    bool dyn = false;
    jsonu_get_bool(o, "cluster_dynamic", &dyn);
    if (name_conflict(r, cluster != NULL ? cluster : "", dyn)) return false;
    const char *name = NULL;
    if (jsonu_get_string(o, "name", &name) && name != NULL && strcmp(name, server_id(r->cl->srv)) == 0) {
        route_close(r, "Duplicate Route"); /* we dialled ourselves: this is the accepting end */
        return false;
    }
    return true;
}

static char **string_array(JsonObject *o, const char *member) {
    if (!json_object_has_member(o, member)) return NULL;
    JsonNode *n = json_object_get_member(o, member);
    if (!JSON_NODE_HOLDS_ARRAY(n)) return NULL;
    JsonArray *a = json_node_get_array(n);
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
            g_ptr_array_add(out, g_strdup(json_node_get_string(e)));
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

/* An INFO about another server on an established route (gossip): dial it unless we know it. */
static void implicit_route(Cluster *cl, JsonObject *o, const char *id) {
    if (strcmp(id, server_id(cl->srv)) == 0 || g_hash_table_contains(cl->by_id, id) ||
        g_hash_table_contains(cl->dialing, id))
        return;
    const char *ip = NULL;
    g_autofree char *host = NULL;
    int port = 0;
    if (!jsonu_get_string(o, "ip", &ip) || ip == NULL || !cluster_parse_url(ip, &host, &port)) return;
    for (guint i = 0; i < cl->peers->len; i++) { /* a configured route dials it already */
        Peer *p = cl->peers->pdata[i];
        if (p->port == port && g_ascii_strcasecmp(p->host, host) == 0) return;
    }
    g_autoptr(GError) err = NULL;
    EnvConn c = env_conn_connect(cl->env, host, port, &route_handlers, cl, &err);
    if (c == 0) {
        env_log(cl->env, ENV_LOG_ERROR, "Error trying to connect to route: %s", err->message);
        return;
    }
    env_log(cl->env, ENV_LOG_DEBUG, "Trying to connect to implicit route on %s:%d", host, port);
    Route *r = route_new(cl, c, host, port, true);
    g_hash_table_insert(cl->dialing, g_strdup(id), r);
    send_connect(r);
    send_info(r, NULL);
}

/* A route the peer dialled may stand for one of our configured URLs: its INFO names the
 * cluster address it listens on. If that URL is idle (its first dial failed and a redial is
 * pending), the route now stands for it and the redial is cancelled. Without this the redial
 * a second later opens a second connection to the same server, and the rule for two
 * connections at once (keep the one the smaller server_id dialled) may close the first,
 * which has been carrying traffic for a second: what was in flight on it is lost (seen as a
 * JetStream API request with no answer just after a cluster started). */
static void adopt_peer(Cluster *cl, Route *r) {
    if (r->remote_host == NULL || r->remote_port <= 0) return;
    for (guint i = 0; i < cl->peers->len; i++) {
        Peer *p = cl->peers->pdata[i];
        if (p->route != NULL || p->self || p->port != r->remote_port || strcmp(p->host, r->remote_host) != 0)
            continue;
        if (p->retry != 0) env_timer_cancel(cl->env, p->retry);
        p->retry = 0;
        p->route = r;
        r->peer = p;
        return;
    }
}

static void dialing_forget(Cluster *cl, Route *r) {
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, cl->dialing);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (v == r) g_hash_table_iter_remove(&it);
}

static bool on_info(void *ctx, const char *json, size_t len) {
    Route *r = ctx;
    Cluster *cl = r->cl;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_object(parser, json, len);
    const char *id = NULL;
    if (o == NULL || !jsonu_get_string(o, "server_id", &id) || id == NULL || *id == '\0') {
        route_fail(r, "Unknown Protocol Operation");
        return false;
    }
    if (r->remote_id != NULL) { /* an INFO on an established route */
        if (strcmp(id, r->remote_id) != 0) {
            implicit_route(cl, o, id);
        } else {
            char **urls = string_array(o, "connect_urls");
            if (urls != NULL) {
                g_strfreev(r->remote_urls);
                r->remote_urls = urls;
                if (r->registered) update_client_info(cl);
            }
        }
        return true;
    }
    if (strcmp(id, server_id(cl->srv)) == 0) { /* a route to ourselves (spec 1) */
        if (r->peer != NULL) {
            r->peer->self = true;
            env_log(cl->env, ENV_LOG_DEBUG, "Detected route to self, ignoring \"%s\"", r->peer->url);
        }
        route_close(r, "Duplicate Route");
        return false;
    }
    const char *cluster = NULL;
    jsonu_get_string(o, "cluster", &cluster);
    bool dyn = false;
    jsonu_get_bool(o, "cluster_dynamic", &dyn);
    if (cluster != NULL && *cluster != '\0' && name_conflict(r, cluster, dyn)) return false;
    r->remote_id = g_strdup(id);
    const char *s = NULL;
    if (jsonu_get_string(o, "server_name", &s) && s != NULL) r->remote_name = g_strdup(s);
    if (jsonu_get_string(o, "host", &s) && s != NULL) r->remote_host = g_strdup(s);
    int64_t port = 0;
    if (jsonu_get_int(o, "port", &port)) r->remote_port = (int)port;
    r->remote_urls = string_array(o, "connect_urls");
    dialing_forget(cl, r);
    Route *existing = g_hash_table_lookup(cl->by_id, id);
    if (existing != NULL && existing->solicited != r->solicited &&
        (strcmp(server_id(cl->srv), id) < 0) == r->solicited) {
        /* Both sides dialled at once: each holds one connection it dialled and one it
         * accepted, and "keep the first" could keep a different one on each side (both then
         * die as duplicates: found by the simulator). Both sides keep the connection dialled
         * by the server with the smaller server_id; here that is the new one. */
        if (existing->peer != NULL && r->peer == NULL) {
            r->peer = existing->peer;
            r->peer->route = r;
            existing->peer = NULL;
        }
        route_close(existing, "Duplicate Route");
        existing = NULL;
    }
    if (existing != NULL) { /* a duplicate: keep the one registered (spec 2.7), close this one */
        if (r->solicited) existing->solicited = true;
        if (r->peer != NULL) {
            if (existing->peer == NULL) {
                existing->peer = r->peer;
                r->peer->route = existing;
            } else {
                r->peer->route = NULL; /* another URL for the same server: idle */
            }
            r->peer = NULL;
        }
        route_close(r, "Duplicate Route");
        return false;
    }
    if (!r->solicited && r->remote_name != NULL &&
        strcmp(r->remote_name, server_config(cl->srv)->server_name) == 0) {
        env_log(cl->env, ENV_LOG_ERROR, "%s:%d - rid:%" G_GUINT64_FORMAT " - Remote server has a duplicate name: \"%s\"",
                r->ip, r->port, r->id, r->remote_name);
        route_close(r, "Duplicate Server Name");
        return false;
    }
    if (g_hash_table_size(cl->by_id) >= LIMIT_ROUTES_COUNT) {
        route_close(r, "Too Many Routes");
        return false;
    }
    r->registered = true;
    g_hash_table_insert(cl->by_id, r->remote_id, r);
    if (r->peer == NULL) adopt_peer(cl, r);
    if (r->peer != NULL) r->peer->attempts = 0;
    env_log(cl->env, ENV_LOG_INFO, "%s:%d - rid:%" G_GUINT64_FORMAT " - Route connection created (%s, %s)",
            r->ip, r->port, r->id, r->remote_name ? r->remote_name : "?", r->solicited ? "solicited" : "accepted");
    send_all_interest(r);
    if (!r->solicited) { /* gossip: tell the others about the newcomer (spec 2.6) */
        GPtrArray *rs = registered_routes(cl);
        for (guint i = 0; i < rs->len; i++)
            if (rs->pdata[i] != r) send_info(rs->pdata[i], r);
        g_ptr_array_free(rs, TRUE);
    }
    update_client_info(cl);
    return true;
}

/* ------------------------------------------------------------------ route input */

static bool on_ping(void *ctx) {
    Route *r = ctx;
    route_send(r, "PONG\r\n", 6);
    return true;
}

/* The PONG to our PING: the round trip, as nats-server measures it (its rttStart). A PONG
 * with no PING of ours outstanding measures nothing. */
static bool on_pong(void *ctx) {
    Route *r = ctx;
    r->pings_out = 0;
    if (r->ping_sent_ns != 0) {
        r->rtt_ns = MAX(env_now_ns(r->cl->env) - r->ping_sent_ns, 1); /* 0 means "not measured" */
        r->ping_sent_ns = 0;
    }
    return true;
}

static bool on_err(void *ctx, const char *text, size_t len) {
    Route *r = ctx;
    env_log(r->cl->env, ENV_LOG_ERROR, "%s:%d - rid:%" G_GUINT64_FORMAT " - Router Error %.*s", r->ip, r->port,
            r->id, (int)len, text);
    route_close(r, "Remote Error");
    return false;
}

static bool is_global(const RouteStr *acc) { return acc->len == 2 && memcmp(acc->p, ROUTE_ACCOUNT, 2) == 0; }

static bool on_sub(void *ctx, const RouteSub *s, bool add) {
    Route *r = ctx;
    Cluster *cl = r->cl;
    if (!r->registered) {
        route_fail(r, "Unknown Protocol Operation"); /* interest before INFO */
        return false;
    }
    if (!is_global(&s->account)) return true; /* another account ($SYS from nats-server) */
    /* LAB(9) begin */
    /* LAB(9) stub: (void)cl; (void)add; (void)forward_msg; */
    g_autofree char *subject = g_strndup(s->subject.p, s->subject.len);
    g_autofree char *queue = s->queue.p ? g_strndup(s->queue.p, s->queue.len) : NULL;
    g_autofree char *key = interest_key(subject, queue);
    ServerRemoteSub *rs = g_hash_table_lookup(r->rsubs, key);
    if (add) {
        if (rs != NULL) {
            if (queue != NULL) server_remote_sub_set_weight(rs, s->weight);
            return true;
        }
        rs = server_remote_sub_add(cl->srv, forward_msg, r, subject, queue, s->weight);
        if (rs == NULL) { /* a subject our trie refuses: ignore it, as a bad SUB is not fatal */
            env_log(cl->env, ENV_LOG_WARN, "%s:%d - rid:%" G_GUINT64_FORMAT " - ignoring invalid interest \"%s\"",
                    r->ip, r->port, r->id, key);
            return true;
        }
        g_hash_table_insert(r->rsubs, g_steal_pointer(&key), rs);
    } else if (rs != NULL) {
        server_remote_sub_remove(cl->srv, rs);
        g_hash_table_remove(r->rsubs, key);
    }
    /* LAB(9) end */
    return true;
}

static bool on_msg(void *ctx, const RouteMsg *m) {
    Route *r = ctx;
    Cluster *cl = r->cl;
    if (!r->registered) {
        route_fail(r, "Unknown Protocol Operation");
        return false;
    }
    r->in_msgs++;
    r->in_bytes += m->hdr_len + m->payload_len;
    if (!is_global(&m->account)) return true;
    if ((cl->bug & CLUSTER_BUG_FORWARD_ROUTED) && m->nq == 0) { /* broken on purpose: routed on */
        g_autofree char *subject = g_strndup(m->subject.p, m->subject.len);
        g_autofree char *reply = m->reply.p ? g_strndup(m->reply.p, m->reply.len) : NULL;
        server_publish(cl->srv, subject, reply, m->hdr, m->hdr_len, m->payload, m->payload_len);
        return !r->closing;
    }
    /* LAB(9) begin */
    /* queue names as C strings for the server (they are short; bounded by the line) */
    char qbuf[LIMIT_MAX_CONTROL_LINE_BYTES + LIMIT_ROUTE_MSG_QUEUES_COUNT];
    const char *queues[LIMIT_ROUTE_MSG_QUEUES_COUNT];
    size_t off = 0;
    for (size_t i = 0; i < m->nq; i++) {
        memcpy(qbuf + off, m->queues[i].p, m->queues[i].len);
        qbuf[off + m->queues[i].len] = '\0';
        queues[i] = qbuf + off;
        off += m->queues[i].len + 1;
    }
    ServerMsg sm = {m->subject.p, m->subject.len, m->reply.p, m->reply.p ? m->reply.len : 0,
                    m->hdr, m->hdr_len, m->payload, m->payload_len, 0};
    server_deliver_routed(cl->srv, &sm, queues, m->nq);
    /* LAB(9) end */
    return !r->closing;
}

static const RouteCallbacks route_callbacks = {
    .on_info = on_info,
    .on_connect = on_connect,
    .on_ping = on_ping,
    .on_pong = on_pong,
    .on_sub = on_sub,
    .on_msg = on_msg,
    .on_err = on_err,
};

static void ping_fired(void *arg) {
    Route *r = arg;
    Cluster *cl = r->cl;
    r->ping_timer = 0;
    if (r->closing) return;
    if (r->pings_out >= cl->ping_max) {
        route_fail(r, "Stale Connection");
        return;
    }
    r->pings_out++;
    if (r->ping_sent_ns == 0) r->ping_sent_ns = env_now_ns(cl->env); /* an unanswered one keeps its start */
    route_send(r, "PING\r\n", 6);
    r->ping_timer = env_timer_add(cl->env, cl->ping_interval_ns, ping_fired, r);
}

/* ------------------------------------------------------------------ world handlers */

static void h_accept(void *core, EnvConn id, const char *ip, int port) {
    Cluster *cl = core;
    Route *r = route_new(cl, id, ip, port, false);
    env_log(cl->env, ENV_LOG_DEBUG, "%s:%d - rid:%" G_GUINT64_FORMAT " - Route connection accepted", ip, port, id);
    send_info(r, NULL);
}

static void h_bytes(void *core, EnvConn id, const uint8_t *data, size_t len) {
    Cluster *cl = core;
    Route *r = g_hash_table_lookup(cl->routes, &id);
    if (r == NULL || r->closing) return;
    r->last_activity_ns = env_wall_ns(cl->env);
    MjError err = route_parser_feed(&r->parser, data, len, &route_callbacks, r);
    if (err != MJ_OK && !r->closing) route_fail(r, mj_error_info(err)->text);
}

static void h_closed(void *core, EnvConn id) {
    Cluster *cl = core;
    Route *r = g_hash_table_lookup(cl->routes, &id);
    if (r == NULL) return;
    if (!r->closing) route_close(r, r->registered ? "Client Closed" : "Connection Refused or Closed");
    dialing_forget(cl, r);
    g_hash_table_remove(cl->routes, &id);
    Peer *p = r->peer;
    if (p != NULL) {
        p->route = NULL;
        if (!p->self && r->remote_id == NULL) { /* the dial failed */
            p->attempts++;
            if (p->attempts == 1 || p->attempts % 3600 == 0)
                env_log(cl->env, ENV_LOG_ERROR, "Error trying to connect to route (attempt %" G_GUINT64_FORMAT
                        "): %s:%d unreachable", p->attempts, p->host, p->port);
        }
        schedule_redial(cl, p);
    }
    route_free(r);
}

static const EnvHandlers route_handlers = {h_accept, h_bytes, h_closed};

/* ------------------------------------------------------------------ dialling */

static void dial_peer(Cluster *cl, Peer *p) {
    if (p->self || p->route != NULL || cl->shutting_down) return;
    g_autoptr(GError) err = NULL;
    EnvConn c = env_conn_connect(cl->env, p->host, p->port, &route_handlers, cl, &err);
    if (c == 0) {
        p->attempts++;
        if (p->attempts == 1 || p->attempts % 3600 == 0)
            env_log(cl->env, ENV_LOG_ERROR, "Error trying to connect to route (attempt %" G_GUINT64_FORMAT "): %s",
                    p->attempts, err->message);
        schedule_redial(cl, p);
        return;
    }
    env_log(cl->env, ENV_LOG_DEBUG, "Trying to connect to route on %s:%d", p->host, p->port);
    Route *r = route_new(cl, c, p->host, p->port, true);
    r->peer = p;
    p->route = r;
    send_connect(r);
    send_info(r, NULL);
}

/* ------------------------------------------------------------------ lifecycle */

void cluster_config_init(ClusterConfig *cfg) {
    *cfg = (ClusterConfig){
        .host = "127.0.0.1",
        .port = 0,
        .ping_interval_ns = LIMIT_PING_INTERVAL_NS,
        .ping_max_outstanding = LIMIT_PING_MAX_OUTSTANDING_COUNT,
        .max_pending_bytes = LIMIT_ROUTE_MAX_PENDING_BYTES,
    };
}

static void check_hook(void *ctx, bool full) { cluster_check_invariants(ctx); }

Cluster *cluster_new(Server *srv, const ClusterConfig *cfg, GError **error) {
    Cluster *cl = g_new0(Cluster, 1);
    cl->srv = srv;
    cl->env = server_env(srv);
    cl->host = g_strdup(cfg->host ? cfg->host : "127.0.0.1");
    if (cfg->name != NULL && *cfg->name != '\0') {
        cl->name = g_strdup(cfg->name);
    } else { /* nats-server: a random name, given up for any peer's */
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        char n[23];
        for (int i = 0; i < 22; i++) n[i] = alphabet[env_random_u64(cl->env) % 36];
        n[22] = '\0';
        cl->name = g_strdup(n);
        cl->dynamic_name = true;
    }
    cl->ping_interval_ns = cfg->ping_interval_ns;
    cl->ping_max = cfg->ping_max_outstanding;
    cl->max_pending = cfg->max_pending_bytes;
    cl->bug = cfg->bug;
    cl->no_advertise = cfg->no_advertise;
    cl->routes = g_hash_table_new(u64_hash, u64_equal);
    cl->by_id = g_hash_table_new(g_str_hash, g_str_equal);
    cl->interest = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    cl->dialing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    cl->scratch = g_string_sized_new(256);
    cl->peers = g_ptr_array_new();
    cl->urls = g_strdupv((char **)cfg->routes);
    for (const char *const *u = cfg->routes; u != NULL && *u != NULL; u++) {
        Peer *p = g_new0(Peer, 1);
        p->cl = cl;
        p->url = g_strdup(*u);
        if (!cluster_parse_url(*u, &p->host, &p->port)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "error parsing route url [\"%s\"]: want nats-route://host:port", *u);
            g_free(p->url);
            g_free(p);
            cluster_free(cl);
            return NULL;
        }
        g_ptr_array_add(cl->peers, p);
    }
    cl->port = env_listen(cl->env, cl->host, cfg->port, &route_handlers, cl, error);
    if (cl->port == 0) {
        cluster_free(cl);
        return NULL;
    }
    cl->interest_hook = server_observe_subs(srv, on_interest, cl); /* replays what exists */
    cl->check_hook = server_add_check(srv, check_hook, cl);
    update_client_info(cl);
    env_log(cl->env, ENV_LOG_INFO, "Cluster name is %s", cl->name);
    env_log(cl->env, ENV_LOG_INFO, "Listening for route connections on %s:%d", cl->host, cl->port);
    for (guint i = 0; i < cl->peers->len; i++) dial_peer(cl, cl->peers->pdata[i]);
    return cl;
}

void cluster_free(Cluster *cl) {
    if (cl == NULL) return;
    cl->shutting_down = true;
    server_remove_hook(cl->srv, cl->check_hook);
    server_remove_hook(cl->srv, cl->interest_hook);
    GPtrArray *all = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, cl->routes);
    while (g_hash_table_iter_next(&it, NULL, &v)) g_ptr_array_add(all, v);
    g_ptr_array_sort(all, route_by_id);
    for (guint i = 0; i < all->len; i++) {
        Route *r = all->pdata[i];
        route_close(r, "Server Shutdown");
        route_free(r);
    }
    g_ptr_array_free(all, TRUE);
    env_detach(cl->env, cl); /* no on_closed for the routes just freed */
    for (guint i = 0; i < cl->peers->len; i++) {
        Peer *p = cl->peers->pdata[i];
        env_timer_cancel(cl->env, p->retry);
        g_free(p->url);
        g_free(p->host);
        g_free(p);
    }
    g_ptr_array_free(cl->peers, TRUE);
    g_hash_table_destroy(cl->routes);
    g_hash_table_destroy(cl->by_id);
    g_hash_table_destroy(cl->interest);
    g_hash_table_destroy(cl->dialing);
    g_string_free(cl->scratch, TRUE);
    g_strfreev(cl->urls);
    g_free(cl->name);
    g_free(cl->host);
    g_free(cl);
}

int cluster_port(const Cluster *cl) { return cl->port; }
const char *cluster_name(const Cluster *cl) { return cl->name; }
const char *cluster_host(const Cluster *cl) { return cl->host; }
const char *const *cluster_urls(const Cluster *cl) { return (const char *const *)cl->urls; }
guint cluster_route_count(const Cluster *cl) { return g_hash_table_size(cl->by_id); }

GArray *cluster_route_list(Cluster *cl) {
    GPtrArray *rs = registered_routes(cl);
    GArray *out = g_array_sized_new(FALSE, FALSE, sizeof(ClusterRouteInfo), rs->len);
    for (guint i = 0; i < rs->len; i++) {
        Route *r = rs->pdata[i];
        ClusterRouteInfo ri = {
            .rid = r->id, .remote_id = r->remote_id, .remote_name = r->remote_name, .ip = r->ip,
            .port = r->port, .did_solicit = r->solicited, .is_configured = r->peer != NULL, .rtt_ns = r->rtt_ns,
            .activity = {.start_ns = r->start_ns, .last_activity_ns = r->last_activity_ns,
                         .in_msgs = r->in_msgs, .in_bytes = r->in_bytes,
                         .out_msgs = r->out_msgs, .out_bytes = r->out_bytes,
                         .pending_bytes = env_conn_pending(cl->env, r->id),
                         .subscriptions = g_hash_table_size(r->rsubs)},
        };
        g_array_append_val(out, ri);
    }
    g_ptr_array_free(rs, TRUE);
    return out;
}

char **cluster_route_subjects(Cluster *cl, EnvConn rid) {
    Route *r = g_hash_table_lookup(cl->routes, &rid);
    if (r == NULL) return NULL;
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, r->rsubs);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        const char *sp = strchr(k, ' ');
        g_ptr_array_add(out, sp ? g_strndup(k, (gsize)(sp - (const char *)k)) : g_strdup(k));
    }
    g_ptr_array_sort(out, str_cmp);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

static char **sorted_keys(GHashTable *t) {
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, t);
    while (g_hash_table_iter_next(&it, &k, NULL)) g_ptr_array_add(out, g_strdup(k));
    g_ptr_array_sort(out, str_cmp);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

char **cluster_local_interest(Cluster *cl) { return sorted_keys(cl->interest); }

char **cluster_route_interest(Cluster *cl, EnvConn rid) {
    Route *r = g_hash_table_lookup(cl->routes, &rid);
    return r ? sorted_keys(r->rsubs) : NULL;
}

void cluster_check_invariants(Cluster *cl) {
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, cl->by_id);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Route *r = v;
        g_assert_true(r->registered && !r->closing);
        g_assert_cmpstr(k, ==, r->remote_id);
        g_assert_cmpstr(r->remote_id, !=, server_id(cl->srv));
        g_assert_true(g_hash_table_lookup(cl->routes, &r->id) == r);
    }
    g_hash_table_iter_init(&it, cl->routes);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Route *r = v;
        if (r->closing) g_assert_cmpuint(g_hash_table_size(r->rsubs), ==, 0);
        if (!r->registered) g_assert_cmpuint(g_hash_table_size(r->rsubs), ==, 0);
        if (r->peer != NULL) g_assert_true(r->peer->route == r);
    }
    g_hash_table_iter_init(&it, cl->interest);
    while (g_hash_table_iter_next(&it, NULL, &v)) g_assert_cmpuint(GPOINTER_TO_SIZE(v), >, 0);
}
