/* test_route.c — the route protocol parser (every split point) and interest exchange
 * between two or three servers routed to each other inside the unit-test world
 * (tests/test_env.c links listeners across TestEnvs; test_env_pump moves the bytes). */
#include <string.h>

#include "limits.h"
#include "route.h"
#include "route_proto.h"
#include "server.h"
#include "test_env.h"

/* ------------------------------------------------------------------ parser */

/* Every callback appends one line describing what it saw. */
static void put_str(GString *t, const char *name, RouteStr s) {
    if (s.p != NULL) g_string_append_printf(t, " %s=%.*s", name, (int)s.len, s.p);
}
static bool t_info(void *ctx, const char *j, size_t n) {
    g_string_append_printf(ctx, "INFO %.*s\n", (int)n, j);
    return true;
}
static bool t_connect(void *ctx, const char *j, size_t n) {
    g_string_append_printf(ctx, "CONNECT %.*s\n", (int)n, j);
    return true;
}
static bool t_ping(void *ctx) {
    g_string_append(ctx, "PING\n");
    return true;
}
static bool t_pong(void *ctx) {
    g_string_append(ctx, "PONG\n");
    return true;
}
static bool t_sub(void *ctx, const RouteSub *s, bool add) {
    GString *t = ctx;
    g_string_append(t, add ? "SUB" : "UNSUB");
    put_str(t, "acc", s->account);
    put_str(t, "subj", s->subject);
    put_str(t, "q", s->queue);
    if (s->queue.p && add) g_string_append_printf(t, " w=%u", s->weight);
    g_string_append_c(t, '\n');
    return true;
}
static bool t_msg(void *ctx, const RouteMsg *m) {
    GString *t = ctx;
    g_string_append(t, "MSG");
    put_str(t, "acc", m->account);
    put_str(t, "subj", m->subject);
    put_str(t, "reply", m->reply);
    for (size_t i = 0; i < m->nq; i++) put_str(t, "q", m->queues[i]);
    g_string_append_printf(t, " hdr=%.*s payload=%.*s\n", (int)m->hdr_len, m->hdr ? (const char *)m->hdr : "",
                           (int)m->payload_len, (const char *)m->payload);
    return true;
}
static bool t_err(void *ctx, const char *text, size_t n) {
    g_string_append_printf(ctx, "ERR %.*s\n", (int)n, text);
    return true;
}
static const RouteCallbacks tcb = {t_info, t_connect, t_ping, t_pong, t_sub, t_msg, t_err};

/* The captured forms of spec 2.3-2.4, plus LS+, +OK, mixed case and tabs. */
static const char stream[] =
    "INFO {\"server_id\":\"NB\",\"cluster\":\"tc\"}\r\n"
    "CONNECT {\"name\":\"NA\"}\r\n"
    "PING\r\nPONG\r\n+OK\r\n"
    "RS+ $G foo.>\r\nRS+ $G q.x grp 1\r\nRS+ $G q.x grp 2\r\nRS+ $G svc\r\n"
    "RS- $G foo.>\r\nRS- $G q.x grp\r\n"
    "LS+ leafc $G leaf.sub\r\n"
    "RMSG $G foo.bar 5\r\nhello\r\n"
    "RMSG $G foo.bar reply.to 2\r\nhi\r\n"
    "HMSG $G foo.bar 20 23\r\nNATS/1.0\r\nX-K: v\r\n\r\nhdr\r\n"
    "HMSG $G foo.bar r.2 20 29\r\nNATS/1.0\r\nX-K: v\r\n\r\nhdr+reply\r\n"
    "RMSG $G q.x | grp 4\r\nqmsg\r\n"
    "RMSG $G q.x + r.3 grp 10\r\nqmsg-reply\r\n"
    "RMSG $G q.y | g1 g2 0\r\n\r\n"
    "rmsg\t$G  q.z   3\r\nabc\r\n"
    "HMSG $G q.x + r.4 g1 g2 12 14\r\nNATS/1.0\r\n\r\nok\r\n"
    "-ERR 'Unknown Protocol Operation'\r\n";

static const char expected[] =
    "INFO {\"server_id\":\"NB\",\"cluster\":\"tc\"}\n"
    "CONNECT {\"name\":\"NA\"}\n"
    "PING\nPONG\n"
    "SUB acc=$G subj=foo.>\nSUB acc=$G subj=q.x q=grp w=1\nSUB acc=$G subj=q.x q=grp w=2\nSUB acc=$G subj=svc\n"
    "UNSUB acc=$G subj=foo.>\nUNSUB acc=$G subj=q.x q=grp\n"
    "SUB acc=$G subj=leaf.sub\n"
    "MSG acc=$G subj=foo.bar hdr= payload=hello\n"
    "MSG acc=$G subj=foo.bar reply=reply.to hdr= payload=hi\n"
    "MSG acc=$G subj=foo.bar hdr=NATS/1.0\r\nX-K: v\r\n\r\n payload=hdr\n"
    "MSG acc=$G subj=foo.bar reply=r.2 hdr=NATS/1.0\r\nX-K: v\r\n\r\n payload=hdr+reply\n"
    "MSG acc=$G subj=q.x q=grp hdr= payload=qmsg\n"
    "MSG acc=$G subj=q.x reply=r.3 q=grp hdr= payload=qmsg-reply\n"
    "MSG acc=$G subj=q.y q=g1 q=g2 hdr= payload=\n"
    "MSG acc=$G subj=q.z hdr= payload=abc\n"
    "MSG acc=$G subj=q.x reply=r.4 q=g1 q=g2 hdr=NATS/1.0\r\n\r\n payload=ok\n"
    "ERR 'Unknown Protocol Operation'\n";

static RouteLimits test_limits(void) {
    return (RouteLimits){.max_payload_bytes = 1024, .max_control_line_bytes = LIMIT_MAX_CONTROL_LINE_BYTES};
}

/* Feed `data` cut at the given points; return the transcript and the final error. */
static char *parse_cuts(const char *data, size_t len, const size_t *cuts, size_t ncuts, MjError *err) {
    RouteParser p;
    RouteLimits lim = test_limits();
    route_parser_init(&p, &lim);
    GString *t = g_string_new(NULL);
    size_t from = 0;
    *err = MJ_OK;
    for (size_t i = 0; i <= ncuts && *err == MJ_OK && !p.dead; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        *err = route_parser_feed(&p, (const uint8_t *)data + from, to - from, &tcb, t);
        from = to;
    }
    route_parser_clear(&p);
    return g_string_free(t, FALSE);
}

static void test_parse_whole(void) {
    MjError err;
    g_autofree char *t = parse_cuts(stream, strlen(stream), NULL, 0, &err);
    g_assert_cmpint(err, ==, MJ_OK);
    g_assert_cmpstr(t, ==, expected);
}

/* The same transcript wherever the input is cut: every single split point, and byte by byte. */
static void test_parse_every_split(void) {
    size_t len = strlen(stream);
    for (size_t cut = 1; cut < len; cut++) {
        MjError err;
        g_autofree char *t = parse_cuts(stream, len, &cut, 1, &err);
        g_assert_cmpint(err, ==, MJ_OK);
        if (strcmp(t, expected) != 0) g_error("split at %zu:\n%s", cut, t);
    }
    size_t *every = g_new(size_t, len - 1);
    for (size_t i = 0; i < len - 1; i++) every[i] = i + 1;
    MjError err;
    g_autofree char *t = parse_cuts(stream, len, every, len - 1, &err);
    g_free(every);
    g_assert_cmpint(err, ==, MJ_OK);
    g_assert_cmpstr(t, ==, expected);
}

static MjError parse_one(const char *data) {
    MjError err;
    g_autofree char *t = parse_cuts(data, strlen(data), NULL, 0, &err);
    return err;
}

static void test_parse_errors(void) {
    g_assert_cmpint(parse_one("HELLO WORLD\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP);
    g_assert_cmpint(parse_one("PUB foo 1\r\nx\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP);     /* a client op */
    g_assert_cmpint(parse_one("RMSG $G foo\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP);        /* no size */
    g_assert_cmpint(parse_one("RMSG $G foo x\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP);      /* bad size */
    g_assert_cmpint(parse_one("RMSG $G foo ? g 1\r\nx\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP); /* not + or | */
    g_assert_cmpint(parse_one("RMSG $G foo + r 1\r\nx\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP); /* + without queue */
    g_assert_cmpint(parse_one("RMSG $G foo 3\r\nabcde\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP); /* no CRLF after */
    g_assert_cmpint(parse_one("HMSG $G foo 9 5\r\nabcde\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP); /* hdr > total */
    g_assert_cmpint(parse_one("RMSG $G foo 2000\r\n"), ==, MJ_ERR_PROTO_MAX_PAYLOAD);
    g_assert_cmpint(parse_one("RS+ $G\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP);
    g_assert_cmpint(parse_one("RS+ $G foo q 0\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP);       /* weight 0 */
    g_assert_cmpint(parse_one("RS- $G foo q 1\r\n"), ==, MJ_ERR_PROTO_UNKNOWN_OP);       /* RS- has no weight */
    g_autofree char *longline = g_strnfill(LIMIT_MAX_CONTROL_LINE_BYTES + 10, 'A');
    g_assert_cmpint(parse_one(longline), ==, MJ_ERR_PROTO_MAX_CONTROL_LINE); /* even without its newline */
    /* too many queue names */
    g_autoptr(GString) many = g_string_new("RMSG $G foo |");
    for (int i = 0; i < LIMIT_ROUTE_MSG_QUEUES_COUNT + 1; i++) g_string_append(many, " q");
    g_string_append(many, " 1\r\nx\r\n");
    g_assert_cmpint(parse_one(many->str), ==, MJ_ERR_PROTO_UNKNOWN_OP);
}

static void test_encode(void) {
    g_autoptr(GString) s = g_string_new(NULL);
    route_encode_sub(s, "$G", "foo.>", NULL, 0);
    route_encode_sub(s, "$G", "q.x", "grp", 2);
    route_encode_unsub(s, "$G", "q.x", "grp");
    route_encode_unsub(s, "$G", "foo.>", NULL);
    const char *qs[] = {"g1", "g2"};
    route_encode_msg_line(s, "$G", "a.b", 3, NULL, 0, NULL, 0, 0, 5);
    route_encode_msg_line(s, "$G", "a.b", 3, "r", 1, NULL, 0, 0, 5);
    route_encode_msg_line(s, "$G", "a.b", 3, NULL, 0, qs, 2, 0, 5);
    route_encode_msg_line(s, "$G", "a.b", 3, "r", 1, qs, 1, 10, 5);
    g_assert_cmpstr(s->str, ==,
                    "RS+ $G foo.>\r\nRS+ $G q.x grp 2\r\nRS- $G q.x grp\r\nRS- $G foo.>\r\n"
                    "RMSG $G a.b 5\r\nRMSG $G a.b r 5\r\nRMSG $G a.b | g1 g2 5\r\nHMSG $G a.b + r g1 10 15\r\n");
}

/* ------------------------------------------------------------------ servers in one world */

#define NODES 3

typedef struct {
    TestEnv *te[NODES];
    Server *srv[NODES];
    Cluster *cl[NODES];
    int n;
} World3;

/* n servers; node i listens on cluster port 7100+i and is given `routes` (NULL = none). */
static void w_start(World3 *w, int n, const char *const *routes_for[NODES]) {
    memset(w, 0, sizeof *w);
    w->n = n;
    for (int i = 0; i < n; i++) {
        w->te[i] = test_env_new(100 + (uint64_t)i);
        ServerConfig cfg;
        server_config_init(&cfg);
        cfg.port = 4300 + i;
        static const char *const names[NODES] = {"n1", "n2", "n3"};
        cfg.server_name = names[i];
        g_autoptr(GError) err = NULL;
        w->srv[i] = server_new(&w->te[i]->env, &cfg, &err);
        g_assert_no_error(err);
        ClusterConfig cc;
        cluster_config_init(&cc);
        cc.name = "tc";
        cc.port = 7100 + i;
        cc.routes = routes_for ? routes_for[i] : NULL;
        w->cl[i] = cluster_new(w->srv[i], &cc, &err);
        g_assert_no_error(err);
    }
}

/* Let bytes flow and time pass (every world's clock moves together). */
static void w_run(World3 *w, int64_t ns) {
    int64_t step = 10 * 1000000LL;
    for (int64_t t = 0; t <= ns; t += step) {
        test_env_pump();
        for (int i = 0; i < w->n; i++) test_env_advance(w->te[i], t == 0 ? 0 : step);
        test_env_pump();
    }
    for (int i = 0; i < w->n; i++) {
        if (w->srv[i] == NULL) continue;
        server_check_invariants(w->srv[i]); /* and the routes' (cluster_check_invariants) */
    }
}

static void w_stop(World3 *w) {
    for (int i = 0; i < w->n; i++) {
        cluster_free(w->cl[i]);
        server_free(w->srv[i]);
    }
    test_env_pump();
    for (int i = 0; i < w->n; i++) test_env_free(w->te[i]);
}

static EnvConn w_client(World3 *w, int i) {
    EnvConn c = test_env_connect(w->te[i]);
    g_free(test_env_client_take(w->te[i], c));
    test_env_client_send(w->te[i], c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n");
    return c;
}

static char *w_take(World3 *w, int i, EnvConn c) { return test_env_client_take(w->te[i], c); }

static const char *const seed_routes[] = {"nats://127.0.0.1:7100", "nats-route://127.0.0.1:7101/",
                                          "127.0.0.1:7102", NULL};

static void test_mesh_from_shared_list(void) {
    /* one list naming every node, self included, given to all three */
    const char *const *routes[NODES] = {seed_routes, seed_routes, seed_routes};
    World3 w;
    w_start(&w, 3, routes);
    w_run(&w, 3000 * 1000000LL);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(cluster_route_count(w.cl[i]), ==, 2);
    /* a subscriber on n1, publishers on n2 and n3: one copy each */
    EnvConn sub = w_client(&w, 0);
    test_env_client_send(w.te[0], sub, "SUB foo.* 1\r\n");
    w_run(&w, 0);
    EnvConn p2 = w_client(&w, 1), p3 = w_client(&w, 2);
    test_env_client_send(w.te[1], p2, "PUB foo.a 2\r\nhi\r\n");
    test_env_client_send(w.te[2], p3, "PUB foo.b reply.x 3\r\nyou\r\n");
    w_run(&w, 0);
    g_autofree char *got = w_take(&w, 0, sub);
    g_assert_cmpstr(got, ==, "MSG foo.a 1 2\r\nhi\r\nMSG foo.b 1 reply.x 3\r\nyou\r\n");
    /* a self-route and duplicates never spin: ten more seconds change nothing */
    w_run(&w, 10000 * 1000000LL);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(cluster_route_count(w.cl[i]), ==, 2);
    w_stop(&w);
}

static void test_implicit_routes_from_one_seed(void) {
    /* n2 and n3 know only n1: gossip makes n2 and n3 meet */
    static const char *const to_n1[] = {"nats://127.0.0.1:7100", NULL};
    const char *const *routes[NODES] = {NULL, to_n1, to_n1};
    World3 w;
    w_start(&w, 3, routes);
    w_run(&w, 2000 * 1000000LL);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(cluster_route_count(w.cl[i]), ==, 2);
    w_stop(&w);
}

static void test_interest_exchange_and_queue_weights(void) {
    static const char *const to_n1[] = {"nats://127.0.0.1:7100", NULL};
    const char *const *routes[NODES] = {NULL, to_n1, NULL};
    World3 w;
    w_start(&w, 2, routes);
    w_run(&w, 100 * 1000000LL);
    g_assert_cmpuint(cluster_route_count(w.cl[0]), ==, 1);
    /* two plain subs on one subject are one RS+; queue members carry their count */
    EnvConn a = w_client(&w, 1), b = w_client(&w, 1);
    test_env_client_send(w.te[1], a, "SUB s 1\r\nSUB q.x grp 2\r\n");
    test_env_client_send(w.te[1], b, "SUB s 1\r\nSUB q.x grp 2\r\n");
    w_run(&w, 0);
    g_autoptr(GArray) rl = cluster_route_list(w.cl[0]);
    g_assert_cmpuint(rl->len, ==, 1);
    g_assert_cmpuint(g_array_index(rl, ClusterRouteInfo, 0).activity.subscriptions, ==, 2);
    g_assert_true(server_has_interest(w.srv[0], "s"));
    /* a publisher on n1: each q.x message goes to exactly one member, all on n2 */
    EnvConn p = w_client(&w, 0);
    for (int i = 0; i < 20; i++) test_env_client_send(w.te[0], p, "PUB q.x 1\r\nm\r\n");
    w_run(&w, 0);
    g_autofree char *ga = w_take(&w, 1, a), *gb = w_take(&w, 1, b);
    int na = 0, nb = 0;
    for (const char *s = ga; (s = strstr(s, "MSG q.x")) != NULL; s++) na++;
    for (const char *s = gb; (s = strstr(s, "MSG q.x")) != NULL; s++) nb++;
    g_assert_cmpint(na + nb, ==, 20);
    g_assert_cmpint(na, >, 0);
    g_assert_cmpint(nb, >, 0);
    /* one sub left: still interest; none left: RS- reaches n1 */
    test_env_client_send(w.te[1], a, "UNSUB 1\r\n");
    w_run(&w, 0);
    g_assert_true(server_has_interest(w.srv[0], "s"));
    test_env_client_close(w.te[1], b);
    w_run(&w, 0);
    g_autoptr(GArray) rl2 = cluster_route_list(w.cl[0]);
    g_assert_cmpuint(g_array_index(rl2, ClusterRouteInfo, 0).activity.subscriptions, ==, 1); /* a's queue sub */
    g_assert_false(server_has_interest(w.srv[0], "s"));
    /* a request with no responder anywhere gets 503 at once; with the remote one, no 503 */
    EnvConn r = w_client(&w, 0);
    test_env_client_send(w.te[0], r,
                         "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"
                         "SUB inbox.1 9\r\nPUB nobody inbox.1 0\r\n\r\nPUB q.x inbox.1 0\r\n\r\n");
    w_run(&w, 0);
    g_autofree char *rr = w_take(&w, 0, r);
    g_assert_nonnull(strstr(rr, "HMSG inbox.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"));
    g_assert_null(strstr(strstr(rr, "503") + 3, "503"));
    w_stop(&w);
}

/* Queue weights (spec 2.5): a peer announces each queue group with its member count, on
 * every change, and the publishing server draws a member with the remote group counting as
 * that many members, so a message goes where the members are (no local preference). One
 * member on n1, three on n2: n2 gets about three quarters of n1's publishes; after two of
 * n2's members leave (RS+ with weight 1) about half. Seeded: the counts are exact per seed,
 * the bounds are wide enough for any fair draw. */
static int count_msgs(const char *s, const char *what) {
    int n = 0;
    for (; s != NULL && (s = strstr(s, what)) != NULL; s++) n++;
    return n;
}

static void test_queue_weights_follow_members(void) {
    static const char *const to_n1[] = {"nats://127.0.0.1:7100", NULL};
    const char *const *routes[NODES] = {NULL, to_n1, NULL};
    World3 w;
    w_start(&w, 2, routes);
    w_run(&w, 100 * 1000000LL);
    g_assert_cmpuint(cluster_route_count(w.cl[0]), ==, 1);
    EnvConn local = w_client(&w, 0);
    test_env_client_send(w.te[0], local, "SUB jobs grp 1\r\n");
    EnvConn far[3];
    for (int i = 0; i < 3; i++) {
        far[i] = w_client(&w, 1);
        test_env_client_send(w.te[1], far[i], "SUB jobs grp 1\r\n");
    }
    w_run(&w, 0);
    EnvConn p = w_client(&w, 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 400; i++) test_env_client_send(w.te[0], p, "PUB jobs 1\r\nm\r\n");
        w_run(&w, 0);
        g_autofree char *gl = w_take(&w, 0, local);
        int nl = count_msgs(gl, "MSG jobs"), nf = 0;
        for (int i = 0; i < 3; i++) {
            g_autofree char *g = w_take(&w, 1, far[i]);
            nf += count_msgs(g, "MSG jobs");
        }
        g_test_message("round %d: n1's member got %d, n2's members %d", round, nl, nf);
        g_assert_cmpint(nl + nf, ==, 400); /* each message exactly once */
        if (round == 0) { /* weight 3 against 1: 300 expected */
            if (nf < 240 || nf > 360)
                g_test_fail_printf("n2's three members got %d of 400 (expected about 300: the queue RS+ must carry "
                                   "the member count, and n1 must use it as the weight)", nf);
            test_env_client_send(w.te[1], far[1], "UNSUB 1\r\n");
            test_env_client_close(w.te[1], far[2]);
            w_run(&w, 0);
        } else if (nf < 140 || nf > 260) { /* weight 1 against 1: 200 expected */
            g_test_fail_printf("after two of n2's members left, they got %d of 400 (expected about 200: every change "
                               "of a queue group's count is announced, and a repeated RS+ updates the weight)", nf);
        }
    }
    w_stop(&w);
}

static void test_route_close_drops_interest(void) {
    static const char *const to_n1[] = {"nats://127.0.0.1:7100", NULL};
    const char *const *routes[NODES] = {NULL, to_n1, NULL};
    World3 w;
    w_start(&w, 2, routes);
    w_run(&w, 100 * 1000000LL);
    EnvConn a = w_client(&w, 1);
    test_env_client_send(w.te[1], a, "SUB x 1\r\n");
    w_run(&w, 0);
    g_assert_true(server_has_interest(w.srv[0], "x"));
    /* n2 goes away: n1 forgets its interest at once; n2's configured route redials it later */
    cluster_free(w.cl[1]);
    w.cl[1] = NULL;
    test_env_pump();
    g_assert_false(server_has_interest(w.srv[0], "x"));
    g_assert_cmpuint(cluster_route_count(w.cl[0]), ==, 0);
    /* a new cluster layer on n2 comes back and re-announces */
    ClusterConfig cc;
    cluster_config_init(&cc);
    cc.name = "tc";
    cc.port = 7101;
    cc.routes = to_n1;
    g_autoptr(GError) err = NULL;
    /* the new layer's observer is told of the subscription that already exists (the server
     * replays it at registration), and of new ones as they come */
    w.cl[1] = cluster_new(w.srv[1], &cc, &err);
    g_assert_no_error(err);
    EnvConn b = w_client(&w, 1);
    test_env_client_send(w.te[1], b, "SUB y 1\r\n");
    w_run(&w, 100 * 1000000LL);
    g_assert_cmpuint(cluster_route_count(w.cl[0]), ==, 1);
    g_assert_true(server_has_interest(w.srv[0], "x"));
    g_assert_true(server_has_interest(w.srv[0], "y"));
    w_stop(&w);
}

/* Both servers dial each other at the same moment (each has the other in `routes`), so each
 * holds two connections to the other: one it dialled, one it accepted. Which INFO arrives
 * first differs between the two sides, so a rule like "keep the first registered" can keep a
 * different connection on each side; each side then closes the other's choice as a
 * duplicate and the pair has no route at all until the redial (found by the simulator).
 * The rule: keep the connection dialled by the server with the smaller server_id, whatever
 * the arrival order; both sides compute the same answer. Here the other side is played by
 * hand (a fake peer in a second test world) so the test chooses its server_id and the order
 * in which the two INFOs reach n1. */
typedef struct {
    EnvConn accepted;  /* the connection n1 dialled, as the fake peer accepted it */
    EnvConn closed[4]; /* connections n1 closed, in order */
    int n_closed;
} FakePeer;

static void fp_accept(void *core, EnvConn id, const char *ip, int port) { ((FakePeer *)core)->accepted = id; }
static void fp_bytes(void *core, EnvConn id, const uint8_t *d, size_t n) {}
static void fp_closed(void *core, EnvConn id) {
    FakePeer *fp = core;
    if (fp->n_closed < 4) fp->closed[fp->n_closed++] = id;
}
static const EnvHandlers fake_peer_handlers = {fp_accept, fp_bytes, fp_closed};

/* n1 (server and cluster layer, cluster port 7100) in one test world, configured to dial a
 * fake peer that listens on 7101 in another; fp_world_free takes both down. */
typedef struct FpWorld {
    TestEnv *te, *fte;
    Server *srv;
    Cluster *cl;
    FakePeer fp;
} FpWorld;

static void fp_world_start(FpWorld *w) {
    memset(w, 0, sizeof *w);
    w->te = test_env_new(100);
    w->fte = test_env_new(101);
    ServerConfig cfg;
    server_config_init(&cfg);
    cfg.port = 4300;
    cfg.server_name = "n1";
    g_autoptr(GError) err = NULL;
    w->srv = server_new(&w->te->env, &cfg, &err);
    g_assert_no_error(err);
    g_assert_cmpint(env_listen(&w->fte->env, "127.0.0.1", 7101, &fake_peer_handlers, &w->fp, &err), ==, 7101);
    static const char *const to_peer[] = {"nats://127.0.0.1:7101", NULL};
    ClusterConfig cc;
    cluster_config_init(&cc);
    cc.name = "tc";
    cc.port = 7100;
    cc.routes = to_peer;
    w->cl = cluster_new(w->srv, &cc, &err); /* n1 dials the peer */
    g_assert_no_error(err);
}

static void fp_world_free(FpWorld *w) {
    cluster_check_invariants(w->cl);
    cluster_free(w->cl);
    server_free(w->srv);
    test_env_pump();
    test_env_free(w->fte);
    test_env_free(w->te);
}

static void crossed_dials(bool peer_id_smaller, bool dialled_info_first) {
    FpWorld w;
    fp_world_start(&w); /* n1 dials the peer: connection D */
    TestEnv *te = w.te, *fte = w.fte;
    Server *srv = w.srv;
    Cluster *cl = w.cl;
    g_autoptr(GError) err = NULL;
    EnvConn a = env_conn_connect(&fte->env, "127.0.0.1", 7100, &fake_peer_handlers, &w.fp, &err); /* A */
    g_assert_cmpuint(a, !=, 0);
    test_env_pump(); /* both accepts happen; n1's CONNECT and INFO reach the peer */
    EnvConn d = w.fp.accepted;
    g_assert_cmpuint(d, !=, 0);
    g_assert_cmpint(w.fp.n_closed, ==, 0);
    const char *id = peer_id_smaller ? "AAAAPEER" : "ZZZZPEER";
    g_assert_cmpint(strcmp(id, server_id(srv)) < 0, ==, peer_id_smaller);
    g_autofree char *info = g_strdup_printf("INFO {\"server_id\":\"%s\",\"server_name\":\"peer\",\"cluster\":\"tc\","
                                            "\"host\":\"127.0.0.1\",\"port\":7101}\r\n", id);
    g_autofree char *connect = g_strdup_printf("CONNECT {\"name\":\"%s\",\"cluster\":\"tc\"}\r\n", id);
    for (int k = 0; k < 2; k++) { /* the two INFOs, one after the other, in the order asked */
        bool on_dialled = (k == 0) == dialled_info_first;
        if (on_dialled) { /* n1 dialled D: the peer, accepting, answers with its INFO */
            env_conn_send1(&fte->env, d, info, strlen(info));
        } else { /* the peer dialled A: CONNECT, then INFO */
            env_conn_send1(&fte->env, a, connect, strlen(connect));
            env_conn_send1(&fte->env, a, info, strlen(info));
        }
        test_env_pump();
        test_env_advance(te, 0);
        test_env_pump();
        g_assert_cmpuint(cluster_route_count(cl), ==, 1);
    }
    /* n1 closed exactly one connection: the one NOT dialled by the smaller server_id */
    g_assert_cmpint(w.fp.n_closed, ==, 1);
    EnvConn kept = peer_id_smaller ? a : d;
    EnvConn dropped = kept == a ? d : a;
    g_assert_cmpuint(w.fp.closed[0], ==, dropped);
    g_autoptr(GArray) rl = cluster_route_list(cl);
    g_assert_cmpuint(rl->len, ==, 1);
    /* and the route n1 kept is that connection: the dialled one has the peer's port */
    g_assert_cmpint(g_array_index(rl, ClusterRouteInfo, 0).port == 7101, ==, !peer_id_smaller);
    fp_world_free(&w);
}

/* /routez "rtt": from our PING to the peer's PONG on the env clock (the fake peer answers
 * 1.234567 ms late); nothing measured before the first PONG, and a PONG we did not ask for
 * measures nothing. */
static void test_route_rtt(void) {
    FpWorld w;
    fp_world_start(&w);
    TestEnv *te = w.te, *fte = w.fte;
    Cluster *cl = w.cl;
    test_env_pump();
    EnvConn d = w.fp.accepted;
    const char *info = "INFO {\"server_id\":\"PEER\",\"server_name\":\"peer\",\"cluster\":\"tc\","
                       "\"host\":\"127.0.0.1\",\"port\":7101}\r\n";
    env_conn_send1(&fte->env, d, info, strlen(info));
    test_env_pump();
    test_env_advance(te, 0);
    g_assert_cmpuint(cluster_route_count(cl), ==, 1);
    env_conn_send1(&fte->env, d, "PONG\r\n", 6); /* unasked: no measurement */
    test_env_pump();
    g_autoptr(GArray) before = cluster_route_list(cl);
    g_assert_cmpint(g_array_index(before, ClusterRouteInfo, 0).rtt_ns, ==, 0);
    test_env_advance(te, LIMIT_ROUTE_PING_FIRST_NS); /* n1's first PING goes out */
    test_env_pump();
    test_env_advance(te, 1234567);
    env_conn_send1(&fte->env, d, "PONG\r\n", 6);
    test_env_pump();
    test_env_advance(te, 0);
    g_autoptr(GArray) after = cluster_route_list(cl);
    g_assert_cmpint(g_array_index(after, ClusterRouteInfo, 0).rtt_ns, ==, 1234567);
    fp_world_free(&w);
}

static void test_simultaneous_dials_keep_one(void) {
    for (int smaller = 0; smaller < 2; smaller++)
        for (int first = 0; first < 2; first++) crossed_dials(smaller, first);
}

/* A route whose peer stops reading is closed as a slow consumer (memory stays bounded); the
 * configured side redials within a second and replays its interest: the partition heals. */
static void test_slow_route_closed_then_heals(void) {
    static const char *const to_n1[] = {"nats://127.0.0.1:7100", NULL};
    const char *const *routes[NODES] = {NULL, to_n1, NULL};
    World3 w;
    w_start(&w, 2, routes);
    w_run(&w, 100 * 1000000LL);
    EnvConn sub = w_client(&w, 1);
    test_env_client_send(w.te[1], sub, "SUB x 1\r\n");
    w_run(&w, 0);
    g_autoptr(GArray) rl = cluster_route_list(w.cl[0]);
    g_assert_cmpuint(rl->len, ==, 1);
    test_env_set_pending(w.te[0], g_array_index(rl, ClusterRouteInfo, 0).rid, LIMIT_ROUTE_MAX_PENDING_BYTES + 1);
    EnvConn pub = w_client(&w, 0);
    test_env_client_send(w.te[0], pub, "PUB x 2\r\nhi\r\n");
    test_env_advance(w.te[0], 0);
    g_assert_cmpuint(cluster_route_count(w.cl[0]), ==, 0); /* closed at once */
    g_assert_false(server_has_interest(w.srv[0], "x"));    /* and its interest with it */
    g_autofree char *log = test_env_take_log(w.te[0]);
    g_assert_nonnull(strstr(log, "Slow Consumer Detected"));
    w_run(&w, 1500 * 1000000LL); /* n2 redials its configured route */
    g_assert_cmpuint(cluster_route_count(w.cl[0]), ==, 1);
    g_assert_true(server_has_interest(w.srv[0], "x"));
    test_env_client_send(w.te[0], pub, "PUB x 5\r\nagain\r\n");
    w_run(&w, 0);
    g_autofree char *got = w_take(&w, 1, sub);
    /* the protocol-1 client saw the cluster shrink and grow (async INFO), then the message */
    const char *gone = strstr(got, "\"connect_urls\":[\"127.0.0.1:4301\"]}");
    g_assert_nonnull(gone);
    g_assert_nonnull(strstr(gone, "\"connect_urls\":[\"127.0.0.1:4301\",\"127.0.0.1:4300\"]}"));
    g_assert_true(g_str_has_suffix(got, "\r\nMSG x 1 5\r\nagain\r\n"));
    w_stop(&w);
}

/* n1 dials n2 before n2 listens (the dial fails, a redial is due in a second); n2 then dials
 * n1. The route n2 dialled stands for n1's configured URL too: n1 must not redial it. A
 * redial would open a second connection, and the rule for two at once could close the first,
 * losing what was in flight on it (a JetStream API request just after start went
 * unanswered). One connection, never replaced. */
static void test_peer_dialled_first_is_kept(void) {
    static const char *const to_n1[] = {"nats://127.0.0.1:7100", NULL};
    static const char *const to_n2[] = {"nats://127.0.0.1:7101", NULL};
    const char *const *routes[NODES] = {to_n2, to_n1, NULL};
    World3 w;
    w_start(&w, 2, routes);
    w_run(&w, 200 * 1000000LL);
    g_autoptr(GArray) first = cluster_route_list(w.cl[0]);
    g_assert_cmpuint(first->len, ==, 1);
    w_run(&w, 5000 * 1000000LL);
    g_autoptr(GArray) later = cluster_route_list(w.cl[0]);
    g_assert_cmpuint(later->len, ==, 1);
    g_assert_cmpuint(g_array_index(later, ClusterRouteInfo, 0).rid, ==, g_array_index(first, ClusterRouteInfo, 0).rid);
    for (int i = 0; i < 2; i++) {
        g_autofree char *log = test_env_take_log(w.te[i]);
        g_assert_null(strstr(log, "Duplicate Route"));
    }
    w_stop(&w);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/route/parse/whole", test_parse_whole);
    g_test_add_func("/route/parse/every-split", test_parse_every_split);
    g_test_add_func("/route/parse/errors", test_parse_errors);
    g_test_add_func("/route/encode", test_encode);
    g_test_add_func("/route/cluster/mesh-from-shared-list", test_mesh_from_shared_list);
    g_test_add_func("/route/cluster/implicit-routes", test_implicit_routes_from_one_seed);
    g_test_add_func("/route/cluster/interest-and-queue-weights", test_interest_exchange_and_queue_weights);
    g_test_add_func("/route/cluster/queue-weights", test_queue_weights_follow_members);
    g_test_add_func("/route/cluster/close-drops-interest", test_route_close_drops_interest);
    g_test_add_func("/route/cluster/slow-route-closed-then-heals", test_slow_route_closed_then_heals);
    g_test_add_func("/route/cluster/simultaneous-dials-keep-one", test_simultaneous_dials_keep_one);
    g_test_add_func("/route/cluster/rtt", test_route_rtt);
    g_test_add_func("/route/cluster/peer-dialled-first-is-kept", test_peer_dialled_first_is_kept);
    return g_test_run();
}
