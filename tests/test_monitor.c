/* test_monitor.c — the HTTP monitor (monitor.c) driven with request bytes.
 *
 * Two test worlds: `te` carries the NATS clients of a real Server (JetStream on, test_env's
 * in-memory disk), `http` carries the monitor's HTTP connections. Each test makes some client
 * activity, sends an HTTP request as raw bytes, and checks the status line, the headers, the
 * JSON fields and values, and that the monitor closed the connection after answering.
 */
#include <string.h>

#include "jsonutil.h"
#include "limits.h"
#include "monitor.h"
#include "server.h"
#include "sublist.h"
#include "consumer_api.h"
#include "jetstream.h"
#include "stream_api.h"
#include "test_env.h"

typedef struct {
    TestEnv *te, *http;
    Server *srv;
    JetStream *js;
    Monitor *mon;
} Fx;

#define CONNECT_JSON(name)                                                                      \
    "{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1," \
    "\"name\":\"" name "\",\"lang\":\"c\",\"version\":\"9.9.9\"}"

static void fx_setup(Fx *f, gconstpointer data) {
    f->te = test_env_new(11);
    f->http = test_env_new(12);
    ServerConfig cfg;
    server_config_init(&cfg);
    JetStreamConfig jcfg;
    jetstream_config_init(&jcfg);
    jcfg.store_dir = "js";
    g_autoptr(GError) err = NULL;
    f->srv = server_new(&f->te->env, &cfg, &err);
    g_assert_no_error(err);
    f->js = jetstream_new(f->srv, &jcfg, &err);
    g_assert_no_error(err);
    stream_api_register(f->js);
    consumer_api_register(f->js);
    MonitorOptions opts = {"127.0.0.1", 8222};
    f->mon = monitor_new(&f->http->env, f->srv, f->js, &opts);
    env_set_handlers(&f->http->env, monitor_handlers(), f->mon);
}

static void fx_teardown(Fx *f, gconstpointer data) {
    server_check_invariants(f->srv);
    monitor_free(f->mon);
    jetstream_free(f->js);
    server_free(f->srv);
    test_env_free(f->http);
    test_env_free(f->te);
}

/* A NATS client that has said CONNECT (with `connect_json`) and got its PONG. */
static EnvConn client_open(Fx *f, const char *connect_json) {
    EnvConn c = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, c));
    g_autofree char *line = g_strdup_printf("CONNECT %s\r\nPING\r\n", connect_json);
    test_env_client_send(f->te, c, line);
    test_env_advance(f->te, 0);
    g_autofree char *out = test_env_client_take(f->te, c);
    g_assert_cmpstr(out, ==, "PONG\r\n");
    return c;
}

/* Send raw request bytes on a fresh HTTP connection; return everything answered. */
static char *http_raw(Fx *f, const char *bytes, size_t len, gboolean *closed) {
    EnvConn c = test_env_connect(f->http);
    test_env_client_send_len(f->http, c, bytes, len);
    test_env_advance(f->http, 0);
    *closed = test_env_is_closed(f->http, c);
    char *out = test_env_client_take(f->http, c);
    test_env_client_close(f->http, c);
    return out;
}

/* GET `target`; assert the status, "Connection: close", a matching Content-Length and the
 * close; return the body (g_free it). */
static char *http_get(Fx *f, const char *target, int status, const char *content_type) {
    g_autofree char *req = g_strdup_printf("GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n\r\n", target);
    gboolean closed = FALSE;
    g_autofree char *out = http_raw(f, req, strlen(req), &closed);
    g_assert_true(closed);
    char *sep = strstr(out, "\r\n\r\n");
    g_assert_nonnull(sep);
    *sep = 0;
    const char *body = sep + 4;
    g_autofree char *status_line = g_strdup_printf("HTTP/1.1 %d ", status);
    g_assert_true(g_str_has_prefix(out, status_line));
    g_assert_nonnull(strstr(out, "\r\nConnection: close"));
    g_autofree char *ctype = g_strdup_printf("\r\nContent-Type: %s", content_type);
    g_assert_nonnull(strstr(out, ctype));
    g_autofree char *clen = g_strdup_printf("\r\nContent-Length: %zu", strlen(body));
    g_assert_nonnull(strstr(out, clen));
    return g_strdup(body);
}

/* GET `target` expecting 200 JSON; return the parsed object (owned by *parser). */
static JsonObject *http_json(Fx *f, const char *target, JsonParser **parser) {
    g_autofree char *body = http_get(f, target, 200, "application/json");
    JsonObject *o = jsonu_parse_object(body, strlen(body), parser);
    g_assert_nonnull(o);
    return o;
}

static gint64 member_int(JsonObject *o, const char *name) {
    g_assert_true(json_object_has_member(o, name));
    JsonNode *n = json_object_get_member(o, name);
    g_assert_cmpint(json_node_get_value_type(n), ==, G_TYPE_INT64);
    return json_node_get_int(n);
}

static const char *member_str(JsonObject *o, const char *name) {
    g_assert_true(json_object_has_member(o, name));
    const char *s = json_object_get_string_member(o, name);
    g_assert_nonnull(s);
    return s;
}

static void assert_rfc3339(const char *s) {
    g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(s, NULL);
    g_assert_nonnull(dt);
    g_assert_true(g_str_has_suffix(s, "Z"));
}

/* Two clients: "pub" publishes 3 x 5 bytes on foo, "sub" subscribes to foo and bar.> */
static void make_activity(Fx *f, EnvConn *pub, EnvConn *sub) {
    *sub = client_open(f, CONNECT_JSON("sub"));
    *pub = client_open(f, CONNECT_JSON("pub"));
    test_env_client_send(f->te, *sub, "SUB foo 1\r\nSUB bar.> 2\r\nPING\r\n");
    test_env_advance(f->te, 0);
    g_free(test_env_client_take(f->te, *sub));
    test_env_client_send(f->te, *pub, "PUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\n");
    test_env_advance(f->te, 0);
    g_free(test_env_client_take(f->te, *sub));
}

static void test_healthz(Fx *f, gconstpointer data) {
    g_autofree char *body = http_get(f, "/healthz", 200, "application/json");
    g_assert_cmpstr(body, ==, "{\"status\":\"ok\"}");
}

/* While the server starts (JetStream restoring, the client port not open: main.c),
 * /healthz is nats-server 2.9.10's 503 with readyForConnections' error; then ok again. */
static void test_healthz_not_ready(Fx *f, gconstpointer data) {
    monitor_set_not_ready(f->mon, "failed to be ready for connections after 1ms: server");
    g_autofree char *body = http_get(f, "/healthz", 503, "application/json");
    g_assert_cmpstr(body, ==, "{\"status\":\"error\",\"error\":\"failed to be ready for connections after 1ms: server\"}");
    monitor_set_not_ready(f->mon, NULL);
    g_autofree char *ok = http_get(f, "/healthz", 200, "application/json");
    g_assert_cmpstr(ok, ==, "{\"status\":\"ok\"}");
}

static void test_varz(Fx *f, gconstpointer data) {
    EnvConn pub, sub;
    make_activity(f, &pub, &sub);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = http_json(f, "/varz", &p);
    g_assert_cmpstr(member_str(o, "server_id"), ==, server_id(f->srv));
    g_assert_cmpstr(member_str(o, "server_name"), ==, "minijet");
    g_assert_cmpstr(member_str(o, "version"), ==, "2.9.10");
    g_assert_cmpint(member_int(o, "proto"), ==, 1);
    g_assert_cmpint(member_int(o, "port"), ==, 4222);
    g_assert_cmpint(member_int(o, "http_port"), ==, 8222);
    g_assert_cmpint(member_int(o, "max_payload"), ==, LIMIT_MAX_PAYLOAD_BYTES);
    g_assert_cmpint(member_int(o, "max_control_line"), ==, LIMIT_MAX_CONTROL_LINE_BYTES);
    g_assert_cmpint(member_int(o, "max_connections"), ==, LIMIT_MAX_CONNECTIONS_COUNT);
    g_assert_cmpint(member_int(o, "ping_interval"), ==, LIMIT_PING_INTERVAL_NS);
    g_assert_cmpint(member_int(o, "ping_max"), ==, LIMIT_PING_MAX_OUTSTANDING_COUNT);
    g_assert_cmpint(member_int(o, "connections"), ==, 2);
    g_assert_cmpint(member_int(o, "total_connections"), ==, 2);
    g_assert_cmpint(member_int(o, "in_msgs"), ==, 3);
    g_assert_cmpint(member_int(o, "in_bytes"), ==, 15);
    g_assert_cmpint(member_int(o, "out_msgs"), ==, 3);
    g_assert_cmpint(member_int(o, "out_bytes"), ==, 15);
    g_assert_cmpint(member_int(o, "slow_consumers"), ==, 0);
    /* the client's two, plus JetStream's internal $JS.API.> */
    g_assert_cmpint(member_int(o, "subscriptions"), ==, (gint64)server_stats(f->srv)->subscriptions);
    g_assert_cmpint(member_int(o, "subscriptions"), >=, 2);
    assert_rfc3339(member_str(o, "start"));
    assert_rfc3339(member_str(o, "now"));
    g_assert_cmpstr(member_str(o, "uptime"), ==, "0s");
    JsonObject *js = json_object_get_object_member(o, "jetstream");
    g_assert_nonnull(json_object_get_object_member(js, "config"));
    JsonObject *stats = json_object_get_object_member(js, "stats");
    g_assert_nonnull(json_object_get_object_member(stats, "api"));
    JsonObject *req = json_object_get_object_member(o, "http_req_stats");
    g_assert_cmpint(member_int(req, "/varz"), ==, 1);
    /* a client leaving shows at once */
    test_env_client_close(f->te, pub);
    g_autoptr(JsonParser) p2 = NULL;
    o = http_json(f, "/varz", &p2);
    g_assert_cmpint(member_int(o, "connections"), ==, 1);
    g_assert_cmpint(member_int(o, "total_connections"), ==, 2);
    g_assert_cmpint(member_int(json_object_get_object_member(o, "http_req_stats"), "/varz"), ==, 2);
}

static void test_uptime(Fx *f, gconstpointer data) {
    test_env_advance(f->http, 3723LL * 1000000000LL); /* the monitor's clock: 1h2m3s later */
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = http_json(f, "/varz", &p);
    g_assert_cmpstr(member_str(o, "uptime"), ==, "1h2m3s");
}

static void test_connz(Fx *f, gconstpointer data) {
    EnvConn pub, sub;
    make_activity(f, &pub, &sub);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = http_json(f, "/connz", &p);
    g_assert_cmpstr(member_str(o, "server_id"), ==, server_id(f->srv));
    g_assert_cmpint(member_int(o, "num_connections"), ==, 2);
    g_assert_cmpint(member_int(o, "total"), ==, 2);
    g_assert_cmpint(member_int(o, "offset"), ==, 0);
    g_assert_cmpint(member_int(o, "limit"), ==, LIMIT_MONITOR_CONNZ_PAGE_COUNT);
    JsonArray *conns = json_object_get_array_member(o, "connections");
    g_assert_cmpuint(json_array_get_length(conns), ==, 2);
    JsonObject *a = json_array_get_object_element(conns, 0), *b = json_array_get_object_element(conns, 1);
    g_assert_cmpint(member_int(a, "cid"), ==, (gint64)sub); /* cid order */
    g_assert_cmpint(member_int(b, "cid"), ==, (gint64)pub);
    g_assert_cmpstr(member_str(a, "name"), ==, "sub");
    g_assert_cmpstr(member_str(a, "lang"), ==, "c");
    g_assert_cmpstr(member_str(a, "version"), ==, "9.9.9");
    g_assert_cmpstr(member_str(a, "ip"), ==, "127.0.0.1");
    g_assert_cmpint(member_int(a, "port"), >, 0);
    g_assert_cmpint(member_int(a, "subscriptions"), ==, 2);
    g_assert_cmpint(member_int(a, "out_msgs"), ==, 3);
    g_assert_cmpint(member_int(a, "out_bytes"), ==, 15);
    g_assert_cmpint(member_int(a, "in_msgs"), ==, 0);
    g_assert_cmpint(member_int(b, "in_msgs"), ==, 3);
    g_assert_cmpint(member_int(b, "in_bytes"), ==, 15);
    g_assert_cmpint(member_int(b, "out_msgs"), ==, 0);
    g_assert_cmpint(member_int(b, "subscriptions"), ==, 0);
    g_assert_cmpint(member_int(b, "pending_bytes"), ==, 0);
    assert_rfc3339(member_str(a, "start"));
    assert_rfc3339(member_str(a, "last_activity"));
    g_assert_false(json_object_has_member(a, "subscriptions_list"));

    /* ?subs=1: the subjects, sorted */
    g_autoptr(JsonParser) p2 = NULL;
    o = http_json(f, "/connz?subs=1", &p2);
    a = json_array_get_object_element(json_object_get_array_member(o, "connections"), 0);
    JsonArray *subjects = json_object_get_array_member(a, "subscriptions_list");
    g_assert_cmpuint(json_array_get_length(subjects), ==, 2);
    g_assert_cmpstr(json_array_get_string_element(subjects, 0), ==, "bar.>");
    g_assert_cmpstr(json_array_get_string_element(subjects, 1), ==, "foo");

    /* paging */
    g_autoptr(JsonParser) p3 = NULL;
    o = http_json(f, "/connz?offset=1&limit=1", &p3);
    g_assert_cmpint(member_int(o, "num_connections"), ==, 1);
    g_assert_cmpint(member_int(o, "total"), ==, 2);
    g_assert_cmpint(member_int(o, "offset"), ==, 1);
    g_assert_cmpint(member_int(o, "limit"), ==, 1);
    conns = json_object_get_array_member(o, "connections");
    g_assert_cmpint(member_int(json_array_get_object_element(conns, 0), "cid"), ==, (gint64)pub);
    g_autoptr(JsonParser) p4 = NULL;
    o = http_json(f, "/connz?offset=5", &p4);
    g_assert_cmpint(member_int(o, "num_connections"), ==, 0);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "connections")), ==, 0);

    /* bad parameters are the client's error */
    g_autofree char *e1 = http_get(f, "/connz?limit=abc", 400, "text/plain; charset=utf-8");
    g_autofree char *e2 = http_get(f, "/connz?subs=maybe", 400, "text/plain; charset=utf-8");
}

static void test_subsz(Fx *f, gconstpointer data) {
    EnvConn pub, sub;
    make_activity(f, &pub, &sub);
    SublistStats ss;
    server_sublist_stats(f->srv, &ss);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = http_json(f, "/subsz", &p);
    g_assert_cmpint(member_int(o, "num_subscriptions"), ==, (gint64)ss.count);
    g_assert_cmpint(member_int(o, "num_inserts"), ==, (gint64)ss.inserts);
    g_assert_cmpint(member_int(o, "num_removes"), ==, 0);
    g_assert_cmpint(member_int(o, "num_matches"), >=, 3);
    g_assert_cmpint(member_int(o, "num_cache"), >=, 1);
    g_assert_cmpint(member_int(o, "max_fanout"), ==, 1);
    g_assert_true(json_object_has_member(o, "cache_hit_rate"));
    g_assert_true(json_object_has_member(o, "avg_fanout"));
    /* three PUBs on one subject: the first misses the cache, the other two hit */
    g_assert_cmpfloat(json_object_get_double_member(o, "cache_hit_rate"), >, 0.0);
}

/* A request/reply to the JetStream API; returns the reply's payload. */
static char *js_request(Fx *f, EnvConn c, const char *subject, const char *body) {
    g_autofree char *pub = g_strdup_printf("PUB %s _INBOX.r %zu\r\n%s\r\n", subject, strlen(body), body);
    test_env_client_send(f->te, c, pub);
    test_env_advance(f->te, 0);
    test_env_advance(f->te, 0);
    return test_env_client_take(f->te, c);
}

static void test_jsz(Fx *f, gconstpointer data) {
    EnvConn c = client_open(f, CONNECT_JSON("js"));
    test_env_client_send(f->te, c, "SUB _INBOX.> 1\r\n");
    g_autofree char *r1 = js_request(f, c, "$JS.API.STREAM.CREATE.ORDERS",
                                     "{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"],\"storage\":\"memory\"}");
    g_assert_nonnull(strstr(r1, "\"ORDERS\""));
    g_autofree char *r2 = js_request(f, c, "orders.new", "one");
    g_autofree char *r3 = js_request(f, c, "orders.new", "two");
    g_assert_nonnull(strstr(r3, "\"seq\":2"));
    g_autofree char *r4 = js_request(f, c, "$JS.API.CONSUMER.CREATE.ORDERS.C1",
                                     "{\"stream_name\":\"ORDERS\",\"config\":{\"durable_name\":\"C1\",\"ack_policy\":\"explicit\"}}");
    g_assert_nonnull(strstr(r4, "\"C1\""));

    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = http_json(f, "/jsz", &p);
    g_assert_cmpint(member_int(o, "streams"), ==, 1);
    g_assert_cmpint(member_int(o, "consumers"), ==, 1);
    g_assert_cmpint(member_int(o, "messages"), ==, 2);
    g_assert_cmpint(member_int(o, "bytes"), >, 0);
    g_assert_cmpint(member_int(o, "memory"), ==, member_int(o, "bytes"));
    g_assert_cmpint(member_int(o, "storage"), ==, 0);
    JsonObject *api = json_object_get_object_member(o, "api");
    g_assert_cmpint(member_int(api, "total"), ==, 2);
    g_assert_cmpint(member_int(api, "errors"), ==, 0);
    g_assert_cmpstr(member_str(json_object_get_object_member(o, "config"), "store_dir"), ==, "js");
    g_assert_false(json_object_has_member(o, "account_details"));

    g_autoptr(JsonParser) p2 = NULL;
    o = http_json(f, "/jsz?consumers=true", &p2);
    JsonObject *acc = json_array_get_object_element(json_object_get_array_member(o, "account_details"), 0);
    g_assert_cmpstr(member_str(acc, "name"), ==, "$G");
    JsonObject *sd = json_array_get_object_element(json_object_get_array_member(acc, "stream_detail"), 0);
    g_assert_cmpstr(member_str(sd, "name"), ==, "ORDERS");
    g_assert_cmpint(member_int(json_object_get_object_member(sd, "state"), "messages"), ==, 2);
    JsonObject *cd = json_array_get_object_element(json_object_get_array_member(sd, "consumer_detail"), 0);
    g_assert_cmpstr(member_str(cd, "name"), ==, "C1");
    g_assert_cmpint(member_int(cd, "num_pending"), ==, 2);
}

static void test_index_and_errors(Fx *f, gconstpointer data) {
    g_autofree char *index = http_get(f, "/", 200, "text/html; charset=utf-8");
    g_assert_nonnull(strstr(index, "href=\"./varz\""));
    g_autofree char *nf = http_get(f, "/nope", 404, "text/plain; charset=utf-8");
    g_autofree char *nf2 = http_get(f, "/varz/", 404, "text/plain; charset=utf-8");

    gboolean closed = FALSE;
    const char post[] = "POST /varz HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    g_autofree char *out = http_raw(f, post, sizeof post - 1, &closed);
    g_assert_true(g_str_has_prefix(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
    g_assert_nonnull(strstr(out, "\r\nAllow: GET\r\n"));
    g_assert_true(closed);
}

/* Garbage of every kind: 400 and a close, never a crash or a hang. */
static void test_garbage(Fx *f, gconstpointer data) {
    const char *const bad[] = {
        "hello world\r\n\r\n",           /* no target, no version */
        "GET varz HTTP/1.1\r\n\r\n",     /* target without '/' */
        "GET /varz HTTP/2.0\r\n\r\n",    /* unknown version */
        "GET /varz\r\n\r\n",             /* HTTP/0.9 */
        "GET  /varz HTTP/1.1\r\n\r\n",   /* two spaces */
        "G(T /varz HTTP/1.1\r\n\r\n",    /* not a token */
        "GET /varz HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /varz HTTP/1.1\r\n: empty name\r\n\r\n",
        "\r\n\r\n",
        "\x16\x03\x01\x02\x10\x01\x11\x01\xfc\x03\x03\n", /* TLS-like binary */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        gboolean closed = FALSE;
        g_autofree char *out = http_raw(f, bad[i], strlen(bad[i]), &closed);
        if (!g_str_has_prefix(out, "HTTP/1.1 400 Bad Request\r\n")) g_error("case %zu: got %s", i, out);
        g_assert_true(closed);
    }
    /* a binary request line with a NUL inside */
    gboolean closed = FALSE;
    const char nul[] = "GET /va\0z HTTP/1.1\r\n\r\n";
    g_autofree char *out = http_raw(f, nul, sizeof nul - 1, &closed);
    g_assert_true(g_str_has_prefix(out, "HTTP/1.1 400 "));
    g_assert_true(closed);
}

static void test_oversized(Fx *f, gconstpointer data) {
    /* a request line that never ends */
    g_autofree char *line = g_strnfill(LIMIT_MONITOR_REQUEST_BYTES + 100, 'A');
    gboolean closed = FALSE;
    g_autofree char *out = http_raw(f, line, strlen(line), &closed);
    g_assert_true(g_str_has_prefix(out, "HTTP/1.1 400 "));
    g_assert_true(closed);
    /* endless headers, sent in small pieces: memory stays bounded, the answer is 400 */
    EnvConn c = test_env_connect(f->http);
    test_env_client_send(f->http, c, "GET /varz HTTP/1.1\r\n");
    for (int i = 0; i < 1000 && !test_env_is_closed(f->http, c); i++)
        test_env_client_send(f->http, c, "X-Padding: 0123456789abcdef0123456789abcdef\r\n");
    g_assert_true(test_env_is_closed(f->http, c));
    g_autofree char *out2 = test_env_client_take(f->http, c);
    g_assert_true(g_str_has_prefix(out2, "HTTP/1.1 400 "));
    test_env_client_close(f->http, c);
}

/* The push parser: a request split at every byte offset, and dribbled one byte at a time,
 * gets the same answer as in one piece. */
static void test_split(Fx *f, gconstpointer data) {
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    size_t len = sizeof req - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        EnvConn c = test_env_connect(f->http);
        test_env_client_send_len(f->http, c, req, cut);
        g_assert_false(cut < len && test_env_is_closed(f->http, c));
        test_env_client_send_len(f->http, c, req + cut, len - cut);
        g_assert_true(test_env_is_closed(f->http, c));
        g_autofree char *out = test_env_client_take(f->http, c);
        g_assert_true(g_str_has_prefix(out, "HTTP/1.1 200 OK\r\n"));
        g_assert_true(g_str_has_suffix(out, "\r\n\r\n{\"status\":\"ok\"}"));
        test_env_client_close(f->http, c);
    }
    EnvConn c = test_env_connect(f->http);
    for (size_t i = 0; i < len; i++) test_env_client_send_len(f->http, c, req + i, 1);
    g_autofree char *out = test_env_client_take(f->http, c);
    g_assert_true(g_str_has_prefix(out, "HTTP/1.1 200 OK\r\n"));
    /* bare-LF line endings and HTTP/1.0 are fine too */
    gboolean closed = FALSE;
    const char lf[] = "GET /healthz HTTP/1.0\n\n";
    g_autofree char *out2 = http_raw(f, lf, sizeof lf - 1, &closed);
    g_assert_true(g_str_has_prefix(out2, "HTTP/1.1 200 OK\r\n"));
    /* bytes after the answer are ignored */
    test_env_client_send(f->http, c, "GET /varz HTTP/1.1\r\n\r\n");
    g_autofree char *more = test_env_client_take(f->http, c);
    g_assert_cmpstr(more, ==, "");
    test_env_client_close(f->http, c);
}

/* A connection that never completes its request is answered 408 and closed. */
static void test_idle(Fx *f, gconstpointer data) {
    EnvConn c = test_env_connect(f->http);
    test_env_client_send(f->http, c, "GET /varz HTTP/1.1\r\n");
    test_env_advance(f->http, LIMIT_MONITOR_IDLE_NS - 1);
    g_assert_false(test_env_is_closed(f->http, c));
    test_env_advance(f->http, 1);
    g_assert_true(test_env_is_closed(f->http, c));
    g_autofree char *out = test_env_client_take(f->http, c);
    g_assert_true(g_str_has_prefix(out, "HTTP/1.1 408 "));
    test_env_client_close(f->http, c);
}

/* Past LIMIT_MONITOR_CONNS_COUNT connections waiting for their request, each newcomer
 * evicts the oldest (408): held-open slow connections cannot keep /healthz from answering
 * (they used to: 64 of them made every new connection a 503). */
static void test_too_many(Fx *f, gconstpointer data) {
    enum { EXTRA = 20 };
    EnvConn open[LIMIT_MONITOR_CONNS_COUNT + EXTRA];
    for (int i = 0; i < LIMIT_MONITOR_CONNS_COUNT + EXTRA; i++) {
        open[i] = test_env_connect(f->http);
        test_env_client_send(f->http, open[i], "GET /varz HTTP/1.1\r\nX-Slow: "); /* dribbling */
        test_env_advance(f->http, 1000);
    }
    for (int i = 0; i < LIMIT_MONITOR_CONNS_COUNT + EXTRA; i++) {
        g_autofree char *out = test_env_client_take(f->http, open[i]);
        if (i < EXTRA) { /* the oldest, one per newcomer */
            g_assert_true(test_env_is_closed(f->http, open[i]));
            g_assert_true(g_str_has_prefix(out, "HTTP/1.1 408 "));
        } else {
            g_assert_false(test_env_is_closed(f->http, open[i]));
            g_assert_cmpstr(out, ==, "");
        }
    }
    for (int round = 0; round < 3; round++) { /* a liveness probe, again and again */
        g_autofree char *body = http_get(f, "/healthz", 200, "application/json");
    }
    /* the first probe evicted one more and, answered, left its slot free for the next two;
     * the rest still wait and can finish */
    EnvConn last = open[LIMIT_MONITOR_CONNS_COUNT + EXTRA - 1];
    test_env_client_send(f->http, last, "1\r\n\r\n");
    g_autofree char *out = test_env_client_take(f->http, last);
    g_assert_true(g_str_has_prefix(out, "HTTP/1.1 200 "));
    g_assert_true(test_env_is_closed(f->http, open[EXTRA]));
    g_assert_false(test_env_is_closed(f->http, open[EXTRA + 1]));
    for (int i = 0; i < LIMIT_MONITOR_CONNS_COUNT + EXTRA; i++) test_env_client_close(f->http, open[i]);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fx, NULL, fx_setup, fn, fx_teardown)
    ADD("/monitor/healthz", test_healthz);
    ADD("/monitor/healthz-not-ready", test_healthz_not_ready);
    ADD("/monitor/varz", test_varz);
    ADD("/monitor/varz-uptime", test_uptime);
    ADD("/monitor/connz", test_connz);
    ADD("/monitor/subsz", test_subsz);
    ADD("/monitor/jsz", test_jsz);
    ADD("/monitor/index-404-405", test_index_and_errors);
    ADD("/monitor/garbage-400", test_garbage);
    ADD("/monitor/oversized-400", test_oversized);
    ADD("/monitor/split-anywhere", test_split);
    ADD("/monitor/idle-408", test_idle);
    ADD("/monitor/too-many-evicts-oldest", test_too_many);
    return g_test_run();
}
