/* test_cluster.c — Raft groups inside brokers (cluster_nrg.c), the meta group and replicated
 * streams (jscluster.c), through the unit tests' world.
 *
 * THE WORLD
 *   N brokers, each on its own TestEnv (own clock, own crashable disk), advanced in lockstep
 *   in small steps. They are joined by a bridge that plays the part of the routes: every
 *   broker has an internal subscription on ">" that republishes each message on every other
 *   live broker (a copy is recognised and not copied again), unless the link is cut.
 *   So Raft traffic, API requests and their replies, and publishes to a stream leader all
 *   travel the way routes will carry them: as ordinary messages.
 */
#include <stdlib.h>
#include <string.h>

#include "jscluster.h"
#include "cluster_nrg.h"
#include "jetstream.h"
#include "jsonutil.h"
#include "limits.h"
#include "server.h"
#include "store.h"
#include "consumer_api.h"
#include "stream_api.h"
#include "test_env.h"
#include "test_wire.h"

#define MAXN 5
#define STEP_NS (5LL * 1000000LL)
#define MS (1000000LL)

typedef struct World World;

typedef struct Node {
    World *w;
    int i;
    char name[8];
    TestEnv *te;
    Server *srv;
    JetStream *js;
    ServerInternalSub *bridge;
    JsCluster *cl;
    EnvConn c;          /* a client connection (cluster tests) */
    int inbox;
    /* for the bare-Raft tests */
    Nrg *nrg;
    GPtrArray *applied; /* char* */
} Node;

struct World {
    int n;
    Node node[MAXN];
    bool cut[MAXN][MAXN];
    const ServerMsg *fwd[64]; /* the copies being delivered (nested) */
    int depth;
    bool with_cluster;
    uint64_t snapshot_entries; /* JsClusterConfig's, for every node (0: the limit) */
    const char *drop_to[MAXN]; /* messages to node j whose subject starts with this are lost */
    int hellos;                /* $JSC.HELLO* messages the bridge has carried */
};

/* ------------------------------------------------------------------ the bridge */

/* Is m the copy the bridge itself is delivering right now? (Handlers that run during the
 * delivery may publish new messages: those must travel on.) */
static bool is_copy(World *w, const ServerMsg *m) {
    for (int k = 0; k < w->depth; k++) {
        const ServerMsg *f = w->fwd[k];
        if (f->subject_len == m->subject_len && memcmp(f->subject, m->subject, m->subject_len) == 0 &&
            f->payload_len == m->payload_len && memcmp(f->payload, m->payload, m->payload_len) == 0 &&
            f->hdr_len == m->hdr_len && (m->hdr_len == 0 || memcmp(f->hdr, m->hdr, m->hdr_len) == 0))
            return true;
    }
    return false;
}

static void bridge_msg(void *ctx, const ServerMsg *m) {
    Node *from = ctx;
    World *w = from->w;
    if (is_copy(w, m)) return;
    g_assert_cmpint(w->depth, <, 64);
    w->fwd[w->depth++] = m;
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    g_autofree char *reply = m->reply_len ? g_strndup(m->reply, m->reply_len) : NULL;
    if (g_str_has_prefix(subject, "$JSC.HELLO")) w->hellos++;
    for (int j = 0; j < w->n; j++) {
        Node *to = &w->node[j];
        if (to == from || to->srv == NULL || w->cut[from->i][j]) continue;
        if (w->drop_to[j] != NULL && g_str_has_prefix(subject, w->drop_to[j])) continue;
        server_publish(to->srv, subject, reply, m->hdr, m->hdr_len, m->payload, m->payload_len);
    }
    w->depth--;
}

static void advance(World *w, int64_t ns) {
    for (int64_t t = 0; t < ns; t += STEP_NS)
        for (int i = 0; i < w->n; i++) test_env_advance(w->node[i].te, STEP_NS);
}

static void partition(World *w, int i, bool cut) {
    for (int j = 0; j < w->n; j++) {
        w->cut[i][j] = w->cut[j][i] = cut;
    }
}

/* ------------------------------------------------------------------ bare Raft groups */

static void nrg_apply(void *ctx, uint64_t index, const uint8_t *data, size_t len) {
    Node *nd = ctx;
    g_ptr_array_add(nd->applied, g_strndup((const char *)data, len));
}

static const NrgCallbacks NRG_CB = {.apply = nrg_apply};

static void node_start_server(Node *nd, bool js) {
    ServerConfig cfg;
    server_config_init(&cfg);
    cfg.server_name = nd->name;
    g_autoptr(GError) err = NULL;
    nd->srv = server_new(&nd->te->env, &cfg, &err);
    g_assert_no_error(err);
    if (js) { /* the broker as main.c composes it: JetStream on the server */
        JetStreamConfig jcfg;
        jetstream_config_init(&jcfg);
        jcfg.store_dir = "js";
        jcfg.clustered = true; /* as main.c with routes: streams are Raft groups' replicas */
        nd->js = jetstream_new(nd->srv, &jcfg, &err);
        g_assert_no_error(err);
        stream_api_register(nd->js);
        consumer_api_register(nd->js);
    }
    nd->bridge = server_subscribe_internal(nd->srv, ">", NULL, bridge_msg, nd);
}

static void nrg_node_start(World *w, int i) {
    Node *nd = &w->node[i];
    node_start_server(nd, false);
    uint32_t peers[MAXN];
    for (int j = 0; j < w->n; j++) peers[j] = nrg_peer_id(w->node[j].name);
    NrgConfig nc = {.group = "T", .dir = "raft/T", .self = peers[i], .peers = peers, .n_peers = (size_t)w->n};
    g_autoptr(GError) err = NULL;
    g_ptr_array_set_size(nd->applied, 0);
    nd->nrg = nrg_new(nd->srv, &nc, &NRG_CB, nd, &err);
    g_assert_no_error(err);
}

static void node_stop(Node *nd) {
    nrg_free(nd->nrg);
    nd->nrg = NULL;
    jscluster_free(nd->cl);
    nd->cl = NULL;
    nd->c = 0;
    jetstream_free(nd->js);
    nd->js = NULL;
    if (nd->srv != NULL) {
        server_unsubscribe_internal(nd->srv, nd->bridge);
        server_free(nd->srv);
    }
    nd->srv = NULL;
}

static World *world_new(int n) {
    World *w = g_new0(World, 1);
    w->n = n;
    for (int i = 0; i < n; i++) {
        Node *nd = &w->node[i];
        nd->w = w;
        nd->i = i;
        g_snprintf(nd->name, sizeof nd->name, "n%d", i + 1);
        nd->te = test_env_new(100 + (uint64_t)i);
        nd->applied = g_ptr_array_new_with_free_func(g_free);
    }
    return w;
}

static void world_free(World *w) {
    for (int i = 0; i < w->n; i++) {
        node_stop(&w->node[i]);
        test_env_free(w->node[i].te);
        g_ptr_array_unref(w->node[i].applied);
    }
    g_free(w);
}

/* The one live leader of the bare group, or -1 (asserts there are never two in one term). */
static int nrg_leader_index(World *w) {
    int leader = -1;
    for (int i = 0; i < w->n; i++) {
        Node *nd = &w->node[i];
        if (nd->nrg == NULL || !nrg_is_leader(nd->nrg)) continue;
        if (leader >= 0) g_assert_cmpuint(nrg_term(nd->nrg), !=, nrg_term(w->node[leader].nrg));
        if (leader < 0 || nrg_term(nd->nrg) > nrg_term(w->node[leader].nrg)) leader = i;
    }
    return leader;
}

static int wait_nrg_leader(World *w, int64_t max_ns) {
    for (int64_t t = 0; t < max_ns; t += 10 * MS) {
        advance(w, 10 * MS);
        int l = nrg_leader_index(w);
        if (l >= 0 && nrg_ready(w->node[l].nrg)) return l;
    }
    return -1;
}

static void propose(World *w, int leader, const char *s) {
    g_autoptr(GError) err = NULL;
    g_assert_true(nrg_propose(w->node[leader].nrg, s, strlen(s), &err));
    g_assert_no_error(err);
}

static void assert_applied(Node *nd, int count, const char *prefix) {
    g_assert_cmpuint(nd->applied->len, ==, (guint)count);
    for (int k = 0; k < count; k++) {
        g_autofree char *want = g_strdup_printf("%s%d", prefix, k);
        g_assert_cmpstr(g_ptr_array_index(nd->applied, k), ==, want);
    }
}

/* Three brokers elect one leader well under a second, commit on all, survive the leader's
 * death (a new leader in < 1 s) and bring the dead one back up to date from its disk and
 * the new leader. */
static void test_nrg_failover(void) {
    World *w = world_new(3);
    for (int i = 0; i < 3; i++) nrg_node_start(w, i);
    int l = wait_nrg_leader(w, 1500 * MS);
    g_assert_cmpint(l, >=, 0);
    for (int k = 0; k < 10; k++) {
        g_autofree char *s = g_strdup_printf("e%d", k);
        propose(w, l, s);
    }
    advance(w, 100 * MS);
    for (int i = 0; i < 3; i++) assert_applied(&w->node[i], 10, "e");

    /* kill -9 the leader: its unsynced writes are gone, its process state too */
    node_stop(&w->node[l]);
    test_env_crash_disk(w->node[l].te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    int64_t t0 = test_env_now(w->node[(l + 1) % 3].te);
    int l2 = wait_nrg_leader(w, 2000 * MS);
    int64_t took = test_env_now(w->node[(l + 1) % 3].te) - t0;
    g_assert_cmpint(l2, >=, 0);
    g_assert_cmpint(l2, !=, l);
    g_assert_cmpint(took, <, 1000 * MS);
    for (int k = 10; k < 20; k++) {
        g_autofree char *s = g_strdup_printf("e%d", k);
        propose(w, l2, s);
    }
    advance(w, 100 * MS);
    for (int i = 0; i < 3; i++)
        if (i != l) assert_applied(&w->node[i], 20, "e");

    /* restart: the log on disk is replayed, the rest arrives from the leader */
    nrg_node_start(w, l);
    advance(w, 300 * MS);
    for (int i = 0; i < 3; i++) assert_applied(&w->node[i], 20, "e");
    world_free(w);
}

/* A follower cut off past the election timeout, then healed, must not depose the working
 * leader (pre-vote): same leader, same term. A leader cut off loses its place to the
 * majority, which keeps committing; after healing everyone agrees. */
static void test_nrg_partition(void) {
    World *w = world_new(3);
    for (int i = 0; i < 3; i++) nrg_node_start(w, i);
    int l = wait_nrg_leader(w, 1500 * MS);
    g_assert_cmpint(l, >=, 0);
    uint64_t term = nrg_term(w->node[l].nrg);
    int f = (l + 1) % 3;
    partition(w, f, true);
    advance(w, 2000 * MS);
    partition(w, f, false);
    advance(w, 500 * MS);
    g_assert_cmpint(nrg_leader_index(w), ==, l);
    g_assert_cmpuint(nrg_term(w->node[l].nrg), ==, term);

    partition(w, l, true);
    propose(w, l, "lost0"); /* a minority leader: can never commit this */
    int l2 = -1;
    for (int64_t t = 0; t < 2000 * MS && l2 < 0; t += 10 * MS) {
        advance(w, 10 * MS);
        for (int i = 0; i < 3; i++)
            if (i != l && nrg_ready(w->node[i].nrg)) l2 = i;
    }
    g_assert_cmpint(l2, >=, 0);
    propose(w, l2, "e0");
    advance(w, 100 * MS);
    partition(w, l, false);
    advance(w, 500 * MS);
    for (int i = 0; i < 3; i++) assert_applied(&w->node[i], 1, "e");
    world_free(w);
}

/* ------------------------------------------------------------------ clustered JetStream */

#define CONNECT "{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}"

static void js_node_start(World *w, int i) {
    Node *nd = &w->node[i];
    node_start_server(nd, true);
    JsClusterConfig cc = {.server_name = nd->name, .cluster_name = "tc", .size = w->n,
                          .snapshot_entries = w->snapshot_entries, .meta_snapshot_entries = w->snapshot_entries ? 2 : 0};
    g_autoptr(GError) err = NULL;
    nd->cl = jscluster_new(nd->srv, nd->js, &cc, &err);
    g_assert_no_error(err);
    nd->c = test_env_connect(nd->te);
    g_autofree char *sub = g_strdup_printf("CONNECT " CONNECT "\r\nSUB _INBOX.%s.> 1\r\n", nd->name);
    test_env_client_send(nd->te, nd->c, sub);
    test_env_advance(nd->te, 0);
    g_free(test_env_client_take(nd->te, nd->c));
}

static void check_all(World *w) {
    for (int i = 0; i < w->n; i++) {
        Node *nd = &w->node[i];
        if (nd->srv == NULL) continue;
        server_check_invariants(nd->srv); /* the chain: server, JetStream, streams, consumers,
                                           * the JetStream cluster */
    }
}

/* Every reply payload the client on node i has received, in order (an HMSG's headers and
 * body together: status lines stay visible). */
static GPtrArray *take_replies(Node *nd) {
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *raw = test_env_client_take(nd->te, nd->c);
    g_autoptr(GArray) msgs = test_wire_parse(raw);
    for (guint k = 0; k < msgs->len; k++) {
        TestMsg *m = &g_array_index(msgs, TestMsg, k);
        g_ptr_array_add(out, g_strconcat(m->hdr != NULL ? m->hdr : "", m->data, NULL));
    }
    return out;
}

/* Send a request (optionally with one header line) from node i's client; wait up to max_ns
 * of virtual time for the first reply, then 200 ms more to see that no second answer comes.
 * Returns the reply (NULL: none). */
static char *request_h(World *w, int i, const char *subject, const char *hdr, const char *body, int64_t max_ns) {
    Node *nd = &w->node[i];
    g_autofree char *inbox = g_strdup_printf("_INBOX.%s.%d", nd->name, ++nd->inbox);
    g_autofree char *line = test_wire_pub(subject, inbox, hdr, body);
    test_env_client_send(nd->te, nd->c, line);
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    for (int64_t t = 0; t < max_ns && got->len == 0; t += 5 * MS) {
        advance(w, 5 * MS);
        g_autoptr(GPtrArray) r = take_replies(nd);
        for (guint k = 0; k < r->len; k++) g_ptr_array_add(got, g_strdup(g_ptr_array_index(r, k)));
    }
    advance(w, 200 * MS);
    g_autoptr(GPtrArray) late = take_replies(nd);
    g_assert_cmpuint(late->len, ==, 0); /* exactly one server answered */
    check_all(w);
    if (got->len == 0 && g_getenv("CLUSTER_DEBUG") != NULL)
        for (int k = 0; k < w->n; k++) {
            if (w->node[k].te == NULL) continue;
            g_autofree char *log = test_env_take_log(w->node[k].te);
            g_printerr("--- %s (no reply to %s)\n%s", w->node[k].name, subject, log);
        }
    if (got->len == 0) return NULL;
    for (guint k = 0; got->len > 1 && k < got->len; k++) g_printerr("reply %u: %s\n", k, (char *)g_ptr_array_index(got, k));
    g_assert_cmpuint(got->len, ==, 1);
    return g_strdup(g_ptr_array_index(got, 0));
}

static char *request(World *w, int i, const char *subject, const char *body) {
    return request_h(w, i, subject, NULL, body, 2000 * MS);
}

static int node_of(World *w, const char *name) {
    for (int i = 0; i < w->n; i++)
        if (name != NULL && strcmp(w->node[i].name, name) == 0) return i;
    return -1;
}

/* Wait until every live node agrees on one meta leader; its index. */
static int wait_meta(World *w, int64_t max_ns) {
    for (int64_t t = 0; t < max_ns; t += 10 * MS) {
        advance(w, 10 * MS);
        const char *l = NULL;
        bool agree = true;
        for (int i = 0; i < w->n; i++) {
            if (w->node[i].cl == NULL) continue;
            const char *li = jscluster_meta_leader(w->node[i].cl);
            if (li == NULL || (l != NULL && strcmp(l, li) != 0)) agree = false;
            l = li;
        }
        if (agree && l != NULL) {
            advance(w, 100 * MS); /* the new leader's no-op applied: ready to answer */
            return node_of(w, l);
        }
    }
    return -1;
}

static uint64_t stored(World *w, int i, const char *stream) {
    Stream *st = jetstream_lookup(w->node[i].js, stream);
    if (st == NULL) return 0;
    StoreState s;
    store_state(stream_store(st), &s);
    return s.msgs;
}

static World *js_world_snap(int n, uint64_t snapshot_entries) {
    World *w = world_new(n);
    w->snapshot_entries = snapshot_entries;
    for (int i = 0; i < n; i++) js_node_start(w, i);
    int ml = wait_meta(w, 3000 * MS);
    if (ml < 0)
        for (int i = 0; i < n; i++) {
            g_autofree char *log = test_env_take_log(w->node[i].te);
            g_printerr("--- %s\n%s", w->node[i].name, log);
        }
    g_assert_cmpint(ml, >=, 0);
    return w;
}

static World *js_world(int n) { return js_world_snap(n, 0); }

/* The meta group forms from the servers' announcements; exactly one server answers each
 * request; placement honours num_replicas 1-5 with nats-server's errors. */
static void test_meta_create(void) {
    World *w = js_world(3);
    g_autofree char *info = request(w, 1, "$JS.API.INFO", "");
    g_assert_nonnull(info);
    TEST_ASSERT_JSON(info, "$.type", "io.nats.jetstream.api.v1.account_info_response");

    g_autofree char *r5 = request(w, 0, "$JS.API.STREAM.CREATE.F", "{\"name\":\"F\",\"num_replicas\":5}");
    TEST_ASSERT_JSON(r5, "$.error.err_code", "10005");
    TEST_ASSERT_JSON(r5, "$.error.description", "no suitable peers for placement");
    g_autofree char *r6 = request(w, 0, "$JS.API.STREAM.CREATE.F", "{\"name\":\"F\",\"num_replicas\":6}");
    TEST_ASSERT_JSON(r6, "$.error.err_code", "10052");
    TEST_ASSERT_JSON(r6, "$.error.description", "maximum replicas is 5");

    g_autofree char *r3 = request(w, 2, "$JS.API.STREAM.CREATE.ORD",
                                  "{\"name\":\"ORD\",\"subjects\":[\"ord.>\"],\"num_replicas\":3}");
    TEST_ASSERT_JSON(r3, "$.type", "io.nats.jetstream.api.v1.stream_create_response");
    TEST_ASSERT_JSON(r3, "$.did_create", "true");
    TEST_ASSERT_JSON(r3, "$.config.num_replicas", "3");
    TEST_ASSERT_JSON(r3, "$.cluster.name", "tc");
    g_autofree char *leader = test_json_path(r3, "$.cluster.leader");
    g_assert_cmpint(node_of(w, leader), >=, 0);
    TEST_ASSERT_JSON(r3, "$.cluster.replicas[0].current", "true");
    g_autofree char *nrep = test_json_path(r3, "$.cluster.replicas[1].name");
    g_assert_cmpstr(nrep, !=, "");
    g_assert_cmpstr(nrep, !=, leader);
    for (int i = 0; i < 3; i++) g_assert_nonnull(jetstream_lookup(w->node[i].js, "ORD"));

    /* R1: on one server only; the overlap check is cluster-wide */
    g_autofree char *r1 = request(w, 0, "$JS.API.STREAM.CREATE.ONE", "{\"name\":\"ONE\",\"subjects\":[\"one\"]}");
    TEST_ASSERT_JSON(r1, "$.did_create", "true");
    g_autofree char *r1c = test_json_path(r1, "$.cluster.replicas");
    g_assert_cmpstr(r1c, ==, "");
    int hosts = 0;
    for (int i = 0; i < 3; i++) hosts += jetstream_lookup(w->node[i].js, "ONE") != NULL;
    g_assert_cmpint(hosts, ==, 1);
    g_autofree char *ov = request(w, 1, "$JS.API.STREAM.CREATE.OV", "{\"name\":\"OV\",\"subjects\":[\"ord.x\"]}");
    TEST_ASSERT_JSON(ov, "$.error.err_code", "10065");

    /* delete goes through the meta group: gone everywhere */
    g_autofree char *del = request(w, 1, "$JS.API.STREAM.DELETE.ORD", "");
    TEST_ASSERT_JSON(del, "$.success", "true");
    for (int i = 0; i < 3; i++) g_assert_null(jetstream_lookup(w->node[i].js, "ORD"));
    g_autofree char *nf = request(w, 1, "$JS.API.STREAM.INFO.ORD", "");
    TEST_ASSERT_JSON(nf, "$.error.err_code", "10059");
    world_free(w);
}

/* No meta leader (one of three up): 10008, after nats-server's 500 ms delay (jscluster.c,
 * NO META LEADER YET), and exactly one answer. */
static void test_meta_unavailable(void) {
    World *w = js_world(3);
    for (int i = 1; i < 3; i++) node_stop(&w->node[i]);
    advance(w, 1500 * MS);
    int64_t t0 = env_now_ns(&w->node[0].te->env);
    g_autofree char *r = request(w, 0, "$JS.API.STREAM.CREATE.X", "{\"name\":\"X\"}");
    int64_t took = env_now_ns(&w->node[0].te->env) - t0 - 200 * MS; /* request() waits 200 ms past the answer */
    TEST_ASSERT_JSON(r, "$.error.code", "503");
    TEST_ASSERT_JSON(r, "$.error.err_code", "10008");
    TEST_ASSERT_JSON(r, "$.error.description", "JetStream system temporarily unavailable");
    g_assert_cmpint(took, >=, LIMIT_CLUSTER_UNAVAILABLE_DELAY_NS);
    g_assert_cmpint(took, <=, LIMIT_CLUSTER_UNAVAILABLE_DELAY_NS + 10 * MS);
    world_free(w);
}

/* THE FIRST ELECTION (jscluster.c): five servers start one by one, 150 ms apart and not in
 * name order. The meta group forms when the last one is known; its first member campaigns
 * as soon as a majority has formed, so every server knows the leader well inside one
 * election timeout of the last start (it used to wait out an election timeout after
 * forming, and on real servers much longer: the announcements answered each other in a
 * storm). The announcements stay few: each server's own, every tick while it has not
 * formed, and one answer per announcement from each server that hears it. A create sent
 * before the last server starts waits for the leader (NO META LEADER YET) and is answered
 * by it, once, instead of 10008 at once. */
static void test_meta_first_election(void) {
    World *w = world_new(5);
    static const int order[] = {2, 4, 0, 3, 1};
    for (int k = 0; k < 4; k++) {
        js_node_start(w, order[k]);
        advance(w, 150 * MS);
    }
    /* n3 (started first) and n5 ask for the same stream before the cluster can form */
    Node *asker = &w->node[order[0]], *twin = &w->node[order[1]];
    g_autofree char *line = test_wire_pub("$JS.API.STREAM.CREATE.EARLY", "_INBOX.n3.early", NULL,
                                          "{\"name\":\"EARLY\",\"num_replicas\":3}");
    g_autofree char *line2 = test_wire_pub("$JS.API.STREAM.CREATE.EARLY", "_INBOX.n5.early", NULL,
                                           "{\"name\":\"EARLY\",\"num_replicas\":3}");
    test_env_client_send(asker->te, asker->c, line);
    test_env_client_send(twin->te, twin->c, line2);
    advance(w, 100 * MS);
    g_autoptr(GPtrArray) none = take_replies(asker);
    g_autoptr(GPtrArray) none2 = take_replies(twin);
    g_assert_cmpuint(none->len + none2->len, ==, 0); /* no leader yet, and no 10008 before the delay */
    int hellos_before = w->hellos;
    js_node_start(w, order[4]);
    int64_t t0 = env_now_ns(&w->node[0].te->env), took = -1;
    for (int64_t t = 0; t < 1000 * MS && took < 0; t += STEP_NS) {
        advance(w, STEP_NS);
        const char *l = jscluster_meta_leader(w->node[0].cl);
        bool agree = l != NULL;
        for (int i = 1; i < w->n && agree; i++) {
            const char *li = jscluster_meta_leader(w->node[i].cl);
            agree = li != NULL && strcmp(li, l) == 0;
        }
        if (agree) took = env_now_ns(&w->node[0].te->env) - t0;
    }
    g_test_message("meta leader known everywhere %d ms after the last start; %d announcements before it "
                   "started, %d after",
                   (int)(took / MS), hellos_before, w->hellos - hellos_before);
    g_assert_cmpint(took, >=, 0);
    g_assert_cmpint(took, <, LIMIT_CLUSTER_ELECTION_TICKS * LIMIT_CLUSTER_TICK_NS / 2);
    /* 600 ms of four servers: at most one announcement per tick each, plus an answer from
     * each of the others to each announcement */
    g_assert_cmpint(hellos_before, <=, 4 * (600 * MS / LIMIT_CLUSTER_HELLO_NS + 1) * 4);
    /* the last one: its announcement, 4 answers, 5 "formed" */
    g_assert_cmpint(w->hellos - hellos_before, <=, 1 + 4 + 5);
    /* the early creates: each answered by the stream's leader, once (and no 10008 from
     * anyone); the one that lost the race is answered as a create of an existing stream */
    Node *askers[2] = {asker, twin};
    int created = 0;
    for (int k = 0; k < 2; k++) {
        bool answered = false;
        for (int64_t t = 0; t < 1000 * MS && !answered; t += 10 * MS) {
            g_autoptr(GPtrArray) got = take_replies(askers[k]);
            if (got->len == 0) {
                advance(w, 10 * MS);
                continue;
            }
            g_assert_cmpuint(got->len, ==, 1);
            TEST_ASSERT_JSON(g_ptr_array_index(got, 0), "$.config.name", "EARLY");
            created += strstr(g_ptr_array_index(got, 0), "\"did_create\":true") != NULL;
            answered = true;
        }
        g_assert_true(answered);
    }
    g_assert_cmpint(created, ==, 1);
    advance(w, 600 * MS);
    g_autoptr(GPtrArray) late = take_replies(asker);
    g_autoptr(GPtrArray) late2 = take_replies(twin);
    g_assert_cmpuint(late->len + late2->len, ==, 0);
    check_all(w);
    world_free(w);
}

static char *publish(World *w, int i, const char *subject, const char *msg_id, const char *body) {
    g_autofree char *hdr = msg_id != NULL ? g_strdup_printf("Nats-Msg-Id: %s", msg_id) : NULL;
    return request_h(w, i, subject, hdr, body, 2000 * MS);
}

/* R3: only the leader takes publishes, PubAcks after commit, every replica stores every
 * message under the same seq; the leader dies, a new one takes over in < 1 s with the
 * de-dup window intact; the dead one comes back and catches up. */
static void test_stream_failover(void) {
    World *w = js_world(3);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.ORD",
                                  "{\"name\":\"ORD\",\"subjects\":[\"ord.>\"],\"num_replicas\":3,\"duplicate_window\":60000000000}");
    g_autofree char *leader = test_json_path(cr, "$.cluster.leader");
    int l = node_of(w, leader);
    g_assert_cmpint(l, >=, 0);
    int client = (l + 1) % 3;
    for (int k = 1; k <= 20; k++) {
        g_autofree char *id = g_strdup_printf("m%d", k);
        g_autofree char *ack = publish(w, client, "ord.new", id, "x");
        g_assert_nonnull(ack);
        TEST_ASSERT_JSON(ack, "$.stream", "ORD");
        g_autofree char *seq = test_json_path(ack, "$.seq");
        g_assert_cmpint(atoi(seq), ==, k);
    }
    g_autofree char *dup = publish(w, client, "ord.new", "m7", "x");
    TEST_ASSERT_JSON(dup, "$.seq", "7");
    TEST_ASSERT_JSON(dup, "$.duplicate", "true");
    g_autofree char *exp = request_h(w, client, "ord.new", "Nats-Expected-Last-Sequence: 3", "x", 2000 * MS);
    TEST_ASSERT_JSON(exp, "$.error.err_code", "10071");
    advance(w, 100 * MS);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(stored(w, i, "ORD"), ==, 20);
    g_autofree char *si = request(w, client, "$JS.API.STREAM.INFO.ORD", "");
    TEST_ASSERT_JSON(si, "$.state.last_seq", "20");
    TEST_ASSERT_JSON(si, "$.cluster.leader", leader);

    /* kill -9 the leader */
    node_stop(&w->node[l]);
    test_env_crash_disk(w->node[l].te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    int64_t t0 = test_env_now(w->node[client].te);
    g_autofree char *ack = NULL;
    while (ack == NULL && test_env_now(w->node[client].te) - t0 < 3000 * MS) {
        g_free(ack);
        ack = request_h(w, client, "ord.new", "Nats-Msg-Id: m21", "x", 50 * MS);
        if (ack != NULL && strstr(ack, "503") != NULL) g_clear_pointer(&ack, g_free);
    }
    int64_t took = test_env_now(w->node[client].te) - t0;
    g_assert_nonnull(ack);
    TEST_ASSERT_JSON(ack, "$.seq", "21");
    g_assert_cmpint(took, <, 1000 * MS);
    g_test_message("leader kill -> next PubAck: %d ms (virtual)", (int)(took / MS));
    g_autofree char *dup2 = publish(w, client, "ord.new", "m20", "x"); /* the window survived */
    TEST_ASSERT_JSON(dup2, "$.duplicate", "true");
    TEST_ASSERT_JSON(dup2, "$.seq", "20");

    /* the dead leader restarts and catches up from the group's log */
    js_node_start(w, l);
    advance(w, 1000 * MS);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(stored(w, i, "ORD"), ==, 21);
    g_autofree char *si2 = request(w, client, "$JS.API.STREAM.INFO.ORD", "");
    TEST_ASSERT_JSON(si2, "$.cluster.replicas[0].current", "true");
    TEST_ASSERT_JSON(si2, "$.cluster.replicas[1].current", "true");

    /* step down: another replica leads, publishing goes on */
    g_autofree char *before = jscluster_stream_leader(w->node[client].cl, "ORD") ? g_strdup(jscluster_stream_leader(w->node[client].cl, "ORD")) : NULL;
    g_autofree char *sd = request(w, client, "$JS.API.STREAM.LEADER.STEPDOWN.ORD", "");
    TEST_ASSERT_JSON(sd, "$.success", "true");
    advance(w, 500 * MS);
    const char *after = jscluster_stream_leader(w->node[client].cl, "ORD");
    g_assert_nonnull(after);
    g_assert_cmpstr(after, !=, before);
    g_autofree char *ack2 = publish(w, client, "ord.new", NULL, "y");
    TEST_ASSERT_JSON(ack2, "$.seq", "22");

    /* purge runs on every replica */
    g_autofree char *pg = request(w, client, "$JS.API.STREAM.PURGE.ORD", "");
    TEST_ASSERT_JSON(pg, "$.purged", "22");
    advance(w, 100 * MS);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(stored(w, i, "ORD"), ==, 0);
    world_free(w);
}

/* Publishes that arrive together: the leader decides the plain ones against its projection
 * (proposals in flight) and holds the ones that need the real store (expected last sequence
 * per subject) until the proposals drain; acks come back in order, each check exact. */
static void test_stream_pipeline(void) {
    World *w = js_world(3);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.P", "{\"name\":\"P\",\"subjects\":[\"p.>\"],\"num_replicas\":3}");
    g_autofree char *leader = test_json_path(cr, "$.cluster.leader");
    int client = (node_of(w, leader) + 1) % 3;
    Node *nd = &w->node[client];
    GString *burst = g_string_new(NULL);
    for (int k = 0; k < 3; k++) g_string_append_printf(burst, "PUB p.a _INBOX.%s.b%d 1\r\nx\r\n", nd->name, k);
    const char *good = "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 3\r\n\r\n";
    const char *bad = "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 1\r\n\r\n";
    g_string_append_printf(burst, "HPUB p.a _INBOX.%s.b3 %zu %zu\r\n%sy\r\n", nd->name, strlen(good), strlen(good) + 1, good);
    g_string_append_printf(burst, "HPUB p.a _INBOX.%s.b4 %zu %zu\r\n%sz\r\n", nd->name, strlen(bad), strlen(bad) + 1, bad);
    g_string_append_printf(burst, "PUB p.b _INBOX.%s.b5 1\r\nw\r\n", nd->name);
    test_env_client_send(nd->te, nd->c, burst->str);
    g_string_free(burst, TRUE);
    advance(w, 500 * MS);
    g_autoptr(GPtrArray) r = take_replies(nd);
    g_assert_cmpuint(r->len, ==, 6);
    /* the refused one has no "seq" (an error PubAck never carries one: stream_publish.c) */
    static const char *const want_seq[] = {"1", "2", "3", "4", "", "5"};
    for (guint k = 0; k < 6; k++) TEST_ASSERT_JSON(g_ptr_array_index(r, k), "$.seq", want_seq[k]);
    TEST_ASSERT_JSON(g_ptr_array_index(r, 4), "$.error.err_code", "10071");
    check_all(w);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(stored(w, i, "P"), ==, 5);
    world_free(w);
}

/* A burst of `count` publishes from node i's client (ids "<prefix><k>"); advance until all
 * are acknowledged; returns the last seq. */
static uint64_t publish_burst(World *w, int i, const char *prefix, int from, int count) {
    Node *nd = &w->node[i];
    GString *burst = g_string_new(NULL);
    for (int k = from; k < from + count; k++) {
        g_autofree char *hdr = g_strdup_printf("NATS/1.0\r\nNats-Msg-Id: %s%d\r\n\r\n", prefix, k);
        g_string_append_printf(burst, "HPUB big.x _INBOX.%s.p%d %zu %zu\r\n%spayload-%06d\r\n", nd->name, k, strlen(hdr),
                               strlen(hdr) + 14, hdr, k);
    }
    test_env_client_send(nd->te, nd->c, burst->str);
    g_string_free(burst, TRUE);
    uint64_t last = 0;
    int got = 0;
    for (int64_t t = 0; t < 3000 * MS && got < count; t += 20 * MS) {
        advance(w, 20 * MS);
        g_autoptr(GPtrArray) r = take_replies(nd);
        for (guint k = 0; k < r->len; k++) {
            g_autofree char *seq = test_json_path(g_ptr_array_index(r, k), "$.seq");
            g_assert_cmpstr(seq, !=, "");
            last = MAX(last, (uint64_t)g_ascii_strtoull(seq, NULL, 10));
            got++;
        }
    }
    g_assert_cmpint(got, ==, count);
    return last;
}

/* Snapshots (book 11.10): under a long publish run every replica's Raft log stays bounded
 * (compacted every `snap` entries into the stream's state); a follower stopped while the
 * leader compacts past it comes back, receives the snapshot, fetches the messages it lacks
 * from a peer and is current again, with every message and the dedup window. */
static void test_stream_snapshot_catchup(void) {
    const uint64_t snap = 64;
    World *w = js_world_snap(3, snap);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.BIG",
                                  "{\"name\":\"BIG\",\"subjects\":[\"big.>\"],\"num_replicas\":3,\"duplicate_window\":600000000000}");
    g_autofree char *leader = test_json_path(cr, "$.cluster.leader");
    int l = node_of(w, leader);
    g_assert_cmpint(l, >=, 0);
    int client = (l + 1) % 3, victim = (l + 2) % 3;
    uint64_t max_entries = 0, max_bytes = 0, last = 0;
    const int bursts = 30, per = 100;
    for (int b = 0; b < bursts; b++) {
        last = publish_burst(w, client, "a", b * per, per);
        for (int i = 0; i < 3; i++) {
            uint64_t entries, bytes, snapshot;
            g_assert_true(jscluster_raft_log(w->node[i].cl, "BIG", &entries, &bytes, &snapshot));
            max_entries = MAX(max_entries, entries);
            max_bytes = MAX(max_bytes, bytes);
        }
    }
    g_assert_cmpuint(last, ==, (uint64_t)(bursts * per));
    /* compaction runs after each Ready pass: at most one threshold plus one burst in the log */
    g_assert_cmpuint(max_entries, <, snap + per + 8);
    g_test_message("raft log of BIG: at most %" G_GUINT64_FORMAT " entries, %" G_GUINT64_FORMAT " bytes over %d publishes"
                   " (snapshot every %" G_GUINT64_FORMAT ")", max_entries, max_bytes, bursts * per, snap);
    uint64_t me, mb, ms;
    g_assert_true(jscluster_raft_log(w->node[0].cl, NULL, &me, &mb, &ms)); /* the meta group compacts too */
    g_assert_cmpuint(ms, >, 0);

    /* a follower misses 1,000 publishes and the compactions that cover them */
    node_stop(&w->node[victim]);
    test_env_crash_disk(w->node[victim].te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    for (int b = 0; b < 10; b++) last = publish_burst(w, client, "b", b * per, per);
    uint64_t e, by, leader_snap;
    g_assert_true(jscluster_raft_log(w->node[l].cl, "BIG", &e, &by, &leader_snap));
    g_assert_cmpuint(leader_snap, >, (uint64_t)(bursts * per) + 10); /* past what the victim holds */
    js_node_start(w, victim);
    int64_t t0 = test_env_now(w->node[victim].te);
    int64_t took = -1;
    for (int64_t t = 0; t < 3000 * MS && took < 0; t += 10 * MS) {
        advance(w, 10 * MS);
        if (stored(w, victim, "BIG") == last) took = test_env_now(w->node[victim].te) - t0;
    }
    g_assert_cmpint(took, >=, 0);
    g_test_message("restarted follower %" G_GUINT64_FORMAT " messages behind the snapshot: whole again after %d ms (virtual)",
                   (uint64_t)(10 * per), (int)(took / MS));
    g_autofree char *log = test_env_take_log(w->node[victim].te);
    g_assert_nonnull(strstr(log, "installing the leader's snapshot"));
    g_assert_nonnull(strstr(log, "catching up from peers"));
    g_assert_nonnull(strstr(log, "caught up through seq"));
    advance(w, 300 * MS);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(stored(w, i, "BIG"), ==, last);
    g_autofree char *si = request(w, client, "$JS.API.STREAM.INFO.BIG", "");
    TEST_ASSERT_JSON(si, "$.state.last_seq", "4000");
    TEST_ASSERT_JSON(si, "$.cluster.replicas[0].current", "true");
    TEST_ASSERT_JSON(si, "$.cluster.replicas[1].current", "true");
    /* the restarted replica's copy is the same, message by message */
    Stream *a = jetstream_lookup(w->node[l].js, "BIG"), *v = jetstream_lookup(w->node[victim].js, "BIG");
    for (uint64_t seq = 1; seq <= last; seq += 97) {
        g_autoptr(StoreMsg) x = store_load(stream_store(a), seq, NULL);
        g_autoptr(StoreMsg) y = store_load(stream_store(v), seq, NULL);
        g_assert_nonnull(x);
        g_assert_nonnull(y);
        g_assert_cmpmem(x->data, x->data_len, y->data, y->data_len);
        g_assert_cmpint(x->ts_ns, ==, y->ts_ns);
    }
    check_all(w);
    /* the victim leads (the other follower stopped, the leader steps down to it): the dedup
     * window came with the snapshot */
    node_stop(&w->node[client]);
    advance(w, LIMIT_CLUSTER_CURRENT_NS + 200 * MS); /* silent long enough not to be picked */
    g_autofree char *sd = request(w, l, "$JS.API.STREAM.LEADER.STEPDOWN.BIG", "");
    TEST_ASSERT_JSON(sd, "$.success", "true");
    advance(w, 500 * MS);
    g_assert_cmpstr(jscluster_stream_leader(w->node[l].cl, "BIG"), ==, w->node[victim].name);
    g_autofree char *dup = publish(w, l, "big.x", "a17", "again");
    TEST_ASSERT_JSON(dup, "$.duplicate", "true");
    TEST_ASSERT_JSON(dup, "$.seq", "18");
    g_autofree char *dup2 = publish(w, l, "big.x", "b5", "again");
    TEST_ASSERT_JSON(dup2, "$.seq", "3006");
    check_all(w);
    world_free(w);
}

/* Is `name` a current replica of `stream` in node i's stream info (its cluster block)? */
static bool replica_current(World *w, int i, const char *stream, const char *name) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    stream_build_cluster_info(jetstream_lookup(w->node[i].js, stream), b, false);
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    for (int k = 0; k < MAXN; k++) {
        g_autofree char *np = g_strdup_printf("$.cluster.replicas[%d].name", k);
        g_autofree char *cp = g_strdup_printf("$.cluster.replicas[%d].current", k);
        g_autofree char *n = test_json_path(json, np);
        g_autofree char *cur = test_json_path(json, cp);
        if (strcmp(n, name) == 0) return strcmp(cur, "true") == 0;
    }
    return false;
}

/* "current" means the replica's store is whole (cluster_nrg.c, PROGRESS OF PEERS): a
 * follower restarted behind the leader's snapshot catches up from the OTHER follower (the
 * leader never sees its catch-up requests), so its Raft log matches the leader's long before
 * its store does. At every step the leader shows it current only once it has every message. */
static void test_stream_current_means_whole(void) {
    World *w = js_world_snap(3, 64);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.BIG", "{\"name\":\"BIG\",\"subjects\":[\"big.>\"],\"num_replicas\":3}");
    int l = node_of(w, test_json_path(cr, "$.cluster.leader"));
    g_assert_cmpint(l, >=, 0);
    int client = (l + 1) % 3, victim = (l + 2) % 3;
    uint64_t last = 0;
    for (int b = 0; b < 3; b++) last = publish_burst(w, client, "a", b * 100, 100);
    node_stop(&w->node[victim]);
    for (int b = 0; b < 10; b++) last = publish_burst(w, client, "b", b * 100, 100);
    advance(w, 500 * MS);
    g_assert_false(replica_current(w, l, "BIG", w->node[victim].name));
    w->drop_to[l] = "_MJ.CU."; /* the leader never hears a catch-up request */
    js_node_start(w, victim);
    int64_t t0 = test_env_now(w->node[victim].te), took = -1;
    for (int64_t t = 0; t < 5000 * MS && took < 0; t += STEP_NS) {
        advance(w, STEP_NS);
        if (!replica_current(w, l, "BIG", w->node[victim].name)) continue;
        took = test_env_now(w->node[victim].te) - t0;
        g_assert_cmpuint(stored(w, victim, "BIG"), ==, last);
    }
    g_assert_cmpint(took, >=, LIMIT_CLUSTER_CATCHUP_TIMEOUT_NS); /* the leader did not answer */
    g_test_message("restarted follower current after %d ms (virtual), its store whole", (int)(took / MS));
    g_autofree char *log = test_env_take_log(w->node[victim].te);
    g_assert_nonnull(strstr(log, "installing the leader's snapshot"));
    g_assert_nonnull(strstr(log, "caught up through seq"));
    check_all(w);
    world_free(w);
}

/* A publish that reaches the leader while it hands leadership over (a stepdown) cannot be
 * proposed: it gets 503 no-responders at once (stream_publish.c, A PUBLISH THE LEADER CAN
 * NO LONGER TAKE), not silence that costs the publisher its request timeout, and it is not
 * stored: the same id published again to the new leader is new, not a duplicate. */
static void test_stream_stepdown_answers_publishes(void) {
    World *w = js_world_snap(3, 0);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.BIG", "{\"name\":\"BIG\",\"subjects\":[\"big.>\"],\"num_replicas\":3}");
    int l = node_of(w, test_json_path(cr, "$.cluster.leader"));
    g_assert_cmpint(l, >=, 0);
    g_autofree char *first = publish(w, l, "big.x", "a", "one");
    TEST_ASSERT_JSON(first, "$.seq", "1");
    Node *nd = &w->node[l];
    g_autofree char *sd_inbox = g_strdup_printf("_INBOX.%s.sd", nd->name);
    g_autofree char *pub_inbox = g_strdup_printf("_INBOX.%s.pub", nd->name);
    g_autofree char *sd = test_wire_pub("$JS.API.STREAM.LEADER.STEPDOWN.BIG", sd_inbox, NULL, "");
    g_autofree char *pub = test_wire_pub("big.x", pub_inbox, "Nats-Msg-Id: b", "two");
    g_autofree char *both = g_strconcat(sd, pub, NULL);
    test_env_client_send(nd->te, nd->c, both); /* one read: the publish lands mid-transfer */
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    for (int64_t t = 0; t < 20 * MS; t += STEP_NS) {
        advance(w, STEP_NS);
        g_autoptr(GPtrArray) r = take_replies(nd);
        for (guint k = 0; k < r->len; k++) g_ptr_array_add(got, g_strdup(g_ptr_array_index(r, k)));
    }
    bool stepped = false, told = false;
    for (guint k = 0; k < got->len; k++) {
        const char *r = g_ptr_array_index(got, k);
        g_test_message("reply: %s", r);
        stepped |= strstr(r, "\"success\":true") != NULL;
        told |= g_str_has_prefix(r, "NATS/1.0 503");
        g_assert_null(strstr(r, "\"seq\"")); /* no PubAck for it from anyone */
    }
    g_assert_true(stepped);
    g_assert_true(told);
    advance(w, 500 * MS);
    int l2 = node_of(w, jscluster_stream_leader(w->node[l].cl, "BIG"));
    g_assert_cmpint(l2, >=, 0);
    g_assert_cmpint(l2, !=, l);
    g_autofree char *again = publish(w, l, "big.x", "b", "two");
    TEST_ASSERT_JSON(again, "$.seq", "2");
    g_assert_null(strstr(again, "duplicate"));
    check_all(w);
    world_free(w);
}

/* A publish a route brings to node i although nothing there subscribes to its subject: its
 * sender forwarded it on interest node i had just dropped. The world's bridge (a ">"
 * subscription on every node) stands in for routes and would take it, so it is lifted for the
 * delivery: node i then has what a real server has, no subscription matching the subject.
 * The replies node i's client got. */
static GPtrArray *late_routed(World *w, int i, const char *subject, const char *reply, const char *hdr, const char *body) {
    Node *nd = &w->node[i];
    server_unsubscribe_internal(nd->srv, nd->bridge);
    g_autofree char *h = hdr != NULL ? g_strdup_printf("NATS/1.0\r\n%s\r\n\r\n", hdr) : NULL;
    ServerMsg m = {.subject = subject, .subject_len = strlen(subject), .reply = reply, .reply_len = strlen(reply),
                   .hdr = (const uint8_t *)h, .hdr_len = h != NULL ? strlen(h) : 0,
                   .payload = (const uint8_t *)body, .payload_len = strlen(body)};
    g_assert_cmpuint(server_deliver_routed(nd->srv, &m, NULL, 0), ==, 0);
    nd->bridge = server_subscribe_internal(nd->srv, ">", NULL, bridge_msg, nd);
    return take_replies(nd);
}

/* LATE PUBLISHES (jscluster.c): during a stepdown the old leader drops its subjects'
 * interest; a publish another server forwarded to it just before it read that unsubscribe
 * arrives at a server where nothing matches. nats-server drops it and its publisher waits
 * out its request timeout (bench/failover.mjs: 2 of 50 stepdowns); minijet's old leader
 * answers 503 no-responders, so the publisher retries at once, and nothing was stored: the
 * same id published again is new. Only the server that was handing over answers, only for
 * its stream's subjects and only for LIMIT_CLUSTER_HANDOVER_LATE_NS; anything else is
 * dropped as nats-server drops it. */
static void test_stream_stepdown_answers_late_routed(void) {
    World *w = js_world_snap(3, 0);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.LATE", "{\"name\":\"LATE\",\"subjects\":[\"late.>\"],\"num_replicas\":3}");
    int l = node_of(w, test_json_path(cr, "$.cluster.leader"));
    g_assert_cmpint(l, >=, 0);
    int f = (l + 1) % 3; /* a follower: never led the stream */
    g_autofree char *first = publish(w, f, "late.x", "a", "one");
    TEST_ASSERT_JSON(first, "$.seq", "1");
    Node *nd = &w->node[l];
    g_autofree char *late_inbox = g_strdup_printf("_INBOX.%s.late", nd->name);
    g_autofree char *f_inbox = g_strdup_printf("_INBOX.%s.late", w->node[f].name);
    /* not handing anything over: a follower and the leader drop what nothing here matches */
    g_autoptr(GPtrArray) none = late_routed(w, f, "late.x", f_inbox, "Nats-Msg-Id: b", "two");
    g_assert_cmpuint(none->len, ==, 0);
    g_autofree char *sd_inbox = g_strdup_printf("_INBOX.%s.sd", nd->name);
    g_autofree char *sd = test_wire_pub("$JS.API.STREAM.LEADER.STEPDOWN.LATE", sd_inbox, NULL, "");
    test_env_client_send(nd->te, nd->c, sd);
    test_env_advance(nd->te, 0); /* its Ready pass: the hand-over starts, the subjects go */
    g_autoptr(GPtrArray) sdr = take_replies(nd);
    g_assert_cmpuint(sdr->len, ==, 1);
    g_assert_nonnull(strstr(g_ptr_array_index(sdr, 0), "\"success\":true"));
    /* the race: a publish forwarded on the interest it just dropped */
    g_autoptr(GPtrArray) told = late_routed(w, l, "late.x", late_inbox, "Nats-Msg-Id: b", "two");
    g_assert_cmpuint(told->len, ==, 1);
    g_assert_true(g_str_has_prefix(g_ptr_array_index(told, 0), "NATS/1.0 503"));
    /* not one of its stream's subjects: dropped, as nats-server drops it */
    g_autoptr(GPtrArray) other = late_routed(w, l, "elsewhere.x", late_inbox, NULL, "three");
    g_assert_cmpuint(other->len, ==, 0);
    advance(w, 500 * MS);
    int l2 = node_of(w, jscluster_stream_leader(w->node[l].cl, "LATE"));
    g_assert_cmpint(l2, >=, 0);
    g_assert_cmpint(l2, !=, l);
    /* long after the hand-over: a late publish is dropped again (the window is over) */
    advance(w, LIMIT_CLUSTER_HANDOVER_LATE_NS);
    g_autoptr(GPtrArray) after = late_routed(w, l, "late.x", late_inbox, "Nats-Msg-Id: c", "four");
    g_assert_cmpuint(after->len, ==, 0);
    /* nothing was stored for the answered one: the same id is new at the new leader */
    g_autofree char *again = publish(w, f, "late.x", "b", "two");
    TEST_ASSERT_JSON(again, "$.seq", "2");
    g_assert_null(strstr(again, "duplicate"));
    check_all(w);
    world_free(w);
}

/* What a crashed node's disk holds of a stream's store: open the folder directly, as a
 * restart would (a replica's store: STORE_SYNC_REPLICA, cut at damage). */
static void store_on_disk(World *w, int i, const char *stream, StoreState *out) {
    g_autofree char *dir = g_strdup_printf("js/streams/%s/msgs", stream);
    StoreConfig sc = {.name = stream, .dir = dir, .sync = STORE_SYNC_REPLICA};
    g_autoptr(GError) err = NULL;
    Store *s = store_file_open(&w->node[i].te->env, &sc, &err);
    g_assert_no_error(err);
    store_state(s, out);
    store_close(s);
}

/* Power loss on every node, then every node restarts; wait for a stream leader. */
static void power_loss_all(World *w, const char *stream, StoreState *before) {
    for (int i = 0; i < w->n; i++) { /* the power goes first: no clean close fsyncs anything */
        test_env_crash_disk(w->node[i].te, TEST_CRASH_LOSE_ALL_UNSYNCED);
        node_stop(&w->node[i]);
        store_on_disk(w, i, stream, &before[i]);
    }
    for (int i = 0; i < w->n; i++) js_node_start(w, i);
    g_assert_cmpint(wait_meta(w, 3000 * MS), >=, 0);
    for (int64_t t = 0; t < 3000 * MS && jscluster_stream_leader(w->node[0].cl, stream) == NULL; t += 10 * MS)
        advance(w, 10 * MS);
    g_assert_nonnull(jscluster_stream_leader(w->node[0].cl, stream));
    advance(w, 300 * MS);
}

/* THE STORE BEHIND THE LOG (jscluster.c): at the default policy a replica's store write is
 * not fsynced before the PubAck; the group's Raft log is (on a quorum). A power cut of the
 * whole cluster (every unsynced write lost on every node) takes the acked messages out of
 * every store, and each store gets them back from its own Raft log: same seqs, same bytes. */
static void test_stream_acked_from_raft_log(void) {
    World *w = js_world(3);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.DUR",
                                  "{\"name\":\"DUR\",\"subjects\":[\"dur.>\"],\"num_replicas\":3}");
    TEST_ASSERT_JSON(cr, "$.config.num_replicas", "3");
    const int n = 10;
    for (int k = 1; k <= n; k++) {
        g_autofree char *body = g_strdup_printf("acked-%d", k);
        g_autofree char *ack = publish(w, k % 3, "dur.x", NULL, body);
        char want[16];
        g_snprintf(want, sizeof want, "%d", k);
        TEST_ASSERT_JSON(ack, "$.seq", want);
    }
    StoreState lost[MAXN];
    power_loss_all(w, "DUR", lost);
    for (int i = 0; i < 3; i++) /* the store writes were not fsynced: the cut took them */
        g_assert_cmpuint(lost[i].msgs, <, (uint64_t)n);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(stored(w, i, "DUR"), ==, (uint64_t)n);
        Stream *st = jetstream_lookup(w->node[i].js, "DUR");
        for (int k = 1; k <= n; k++) {
            g_autoptr(StoreMsg) m = store_load(stream_store(st), (uint64_t)k, NULL);
            g_assert_nonnull(m);
            g_autofree char *body = g_strdup_printf("acked-%d", k);
            g_assert_cmpmem(m->data, m->data_len, body, strlen(body));
        }
        g_autofree char *log = test_env_take_log(w->node[i].te);
        g_assert_null(strstr(log, "catching up from peers")); /* the Raft log alone */
    }
    g_autofree char *next = publish(w, 0, "dur.x", NULL, "after");
    TEST_ASSERT_JSON(next, "$.seq", "11");
    check_all(w);
    world_free(w);
}

/* Compaction drops Raft log entries only after their store writes are fsynced: after a
 * power cut of the whole cluster every store still holds what its snapshot covers (or no
 * replica could serve a catch-up and the stream would stay held), and the Raft log the rest. */
static void test_stream_compaction_syncs_store(void) {
    World *w = js_world_snap(3, 64);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.BIG",
                                  "{\"name\":\"BIG\",\"subjects\":[\"big.>\"],\"num_replicas\":3}");
    g_autofree char *leader = test_json_path(cr, "$.cluster.leader");
    int l = node_of(w, leader);
    g_assert_cmpint(l, >=, 0);
    uint64_t last = 0;
    for (int b = 0; b < 5; b++) last = publish_burst(w, (l + 1) % 3, "c", b * 100, 100);
    last = publish_burst(w, (l + 1) % 3, "d", 0, 10); /* fewer than a snapshot's worth after it */
    g_assert_cmpuint(last, ==, 510);
    for (int i = 0; i < 3; i++) {
        uint64_t entries, bytes, snapshot;
        g_assert_true(jscluster_raft_log(w->node[i].cl, "BIG", &entries, &bytes, &snapshot));
        g_assert_cmpuint(snapshot, >, 64); /* compacted at least once */
    }
    StoreState lost[MAXN];
    power_loss_all(w, "BIG", lost);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(lost[i].msgs, >=, 64); /* fsynced by a compaction */
        g_assert_cmpuint(lost[i].msgs, <, last);  /* the rest was not */
        g_assert_cmpuint(stored(w, i, "BIG"), ==, last);
        g_autofree char *log = test_env_take_log(w->node[i].te);
        g_assert_null(strstr(log, "catching up from peers"));
    }
    check_all(w);
    world_free(w);
}

/* A purge travels in the log as its request (op 2) and is applied again when a replica
 * restarts and replays its log over a store that already holds what came after it: bounded
 * by the leader's last seq when it proposed, it removes nothing newer (before the bound, a
 * rolling restart emptied every replica: acknowledged messages lost). */
static void test_stream_purge_replay(void) {
    World *w = js_world(3);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.PR", "{\"name\":\"PR\",\"subjects\":[\"pr.>\"],\"num_replicas\":3}");
    TEST_ASSERT_JSON(cr, "$.config.name", "PR");
    for (int k = 0; k < 5; k++) g_free(publish(w, k % 3, "pr.a", NULL, "a"));
    g_autofree char *pg = request(w, 0, "$JS.API.STREAM.PURGE.PR", "");
    TEST_ASSERT_JSON(pg, "$.purged", "5");
    for (int k = 0; k < 3; k++) g_free(publish(w, k % 3, "pr.b", NULL, "b"));
    g_autofree char *pk = request(w, 1, "$JS.API.STREAM.PURGE.PR", "{\"keep\":2}");
    TEST_ASSERT_JSON(pk, "$.purged", "1");
    g_autofree char *pf = request(w, 2, "$JS.API.STREAM.PURGE.PR", "{\"filter\":\"pr.b\",\"keep\":1}");
    TEST_ASSERT_JSON(pf, "$.purged", "1");
    for (int k = 0; k < 2; k++) g_free(publish(w, k % 3, "pr.b", NULL, "c"));
    advance(w, 300 * MS);
    for (int i = 0; i < 3; i++) g_assert_cmpuint(stored(w, i, "PR"), ==, 3); /* seqs 8, 9, 10 */
    for (int i = 0; i < 3; i++) { /* a rolling restart: each replica replays its whole log */
        node_stop(&w->node[i]);
        js_node_start(w, i);
        advance(w, 1500 * MS);
        for (int j = 0; j < 3; j++) g_assert_cmpuint(stored(w, j, "PR"), ==, 3);
    }
    g_autofree char *si = request(w, 0, "$JS.API.STREAM.INFO.PR", "");
    TEST_ASSERT_JSON(si, "$.state.first_seq", "8");
    TEST_ASSERT_JSON(si, "$.state.last_seq", "10");
    check_all(w);
    world_free(w);
}

/* The meta leader steps down: another server leads the catalogue, creates still work. */
static void test_meta_stepdown(void) {
    World *w = js_world(3);
    int l = wait_meta(w, 100 * MS);
    g_autofree char *sd = request(w, 0, "$JS.API.META.LEADER.STEPDOWN", "");
    TEST_ASSERT_JSON(sd, "$.success", "true");
    int l2 = wait_meta(w, 2000 * MS);
    g_assert_cmpint(l2, >=, 0);
    g_assert_cmpint(l2, !=, l);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.S", "{\"name\":\"S\",\"num_replicas\":3}");
    TEST_ASSERT_JSON(cr, "$.did_create", "true");
    world_free(w);
}

/* Placement counts a member offline only after a whole LIMIT_CLUSTER_CURRENT_NS of silence
 * that the meta leader listened through. A leader elected moments ago has not yet heard a
 * member's answer to its first appends: it places on it (a PEER.REMOVE right after an
 * election shrank the group instead of replacing the peer, because the busy fourth server
 * had not answered yet). A leader that has listened longer refuses: 10005 "peer offline". */
static void test_meta_placement_liveness(void) {
    World *w = js_world(4);
    int l = wait_meta(w, 100 * MS);
    int p = (l + 1) % 4; /* silent from now on: the next leader never hears it */
    partition(w, p, true);
    advance(w, 1000 * MS);
    int q = (l + 2) % 4; /* a client on a connected node */
    g_autofree char *sd = request(w, q, "$JS.API.META.LEADER.STEPDOWN", "");
    TEST_ASSERT_JSON(sd, "$.success", "true");
    const char *l2 = NULL;
    for (int64_t t = 0; t < 3000 * MS && l2 == NULL; t += 10 * MS) {
        advance(w, 10 * MS);
        const char *seen = NULL;
        bool agree = true;
        for (int i = 0; i < w->n; i++) {
            if (i == p) continue;
            const char *li = jscluster_meta_leader(w->node[i].cl);
            agree &= li != NULL && strcmp(li, w->node[l].name) != 0 && (seen == NULL || strcmp(seen, li) == 0);
            seen = li;
        }
        if (agree) l2 = seen;
    }
    g_assert_nonnull(l2);
    advance(w, 100 * MS); /* its no-op applied */

    g_autofree char *fresh = request(w, q, "$JS.API.STREAM.CREATE.FRESH", "{\"name\":\"FRESH\",\"num_replicas\":4}");
    TEST_ASSERT_JSON(fresh, "$.did_create", "true");

    advance(w, 1000 * MS); /* now it has listened for a whole window: p is offline */
    g_autofree char *late = request(w, q, "$JS.API.STREAM.CREATE.LATE", "{\"name\":\"LATE\",\"num_replicas\":4}");
    TEST_ASSERT_JSON(late, "$.error.err_code", "10005");
    TEST_ASSERT_JSON(late, "$.error.description", "no suitable peers for placement, peer offline");

    partition(w, p, false); /* back: it hosts its replica of FRESH */
    for (int64_t t = 0; t < 3000 * MS && jetstream_lookup(w->node[p].js, "FRESH") == NULL; t += 10 * MS)
        advance(w, 10 * MS);
    g_assert_nonnull(jetstream_lookup(w->node[p].js, "FRESH"));
    world_free(w);
}

/* The pull watchers of test_consumer_pull_across_leader_change: one more connection on every
 * node, subscribed to _INBOX.pull.> (the world's bridge copies a message as published, not a
 * consumer's delivery, so the one on the delivering node sees it). */
static void watch_pulls(World *w, EnvConn *pc) {
    for (int i = 0; i < w->n; i++) {
        pc[i] = test_env_connect(w->node[i].te);
        test_env_client_send(w->node[i].te, pc[i], "CONNECT " CONNECT "\r\nSUB _INBOX.pull.> 9\r\n");
        test_env_advance(w->node[i].te, 0);
        g_free(test_env_client_take(w->node[i].te, pc[i]));
    }
}

/* What the pull watchers of the live nodes received within ms of virtual time, '|'-joined. */
static char *collect(World *w, const EnvConn *pc, int64_t ms) {
    GString *all = g_string_new(NULL);
    for (int64_t t = 0; t < ms; t += 5) {
        advance(w, 5 * MS);
        for (int i = 0; i < w->n; i++) {
            if (w->node[i].srv == NULL) continue;
            g_autofree char *raw = test_env_client_take(w->node[i].te, pc[i]);
            g_autoptr(GArray) msgs = test_wire_parse(raw);
            for (guint k = 0; k < msgs->len; k++) {
                TestMsg *m = &g_array_index(msgs, TestMsg, k);
                g_string_append_printf(all, "%s%s|", m->hdr != NULL ? m->hdr : "", m->data);
            }
        }
    }
    return g_string_free(all, FALSE);
}

/* A pull request waiting on a replicated stream's leader outlives the leader: it travels in
 * the consumer's record, and the next leader (after a stepdown, after a kill) serves it and
 * sends its heartbeats; no 409 Leadership Change, which would leave nats.js's consume()
 * waiting for missed heartbeats. Its deadline comes along: it still ends with a 408. */
static void test_consumer_pull_across_leader_change(void) {
    World *w = js_world(3);
    EnvConn pc[MAXN];
    watch_pulls(w, pc);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.W", "{\"name\":\"W\",\"subjects\":[\"w.>\"],\"num_replicas\":3}");
    g_autofree char *leader = test_json_path(cr, "$.cluster.leader");
    int l = node_of(w, leader);
    g_assert_cmpint(l, >=, 0);
    g_autofree char *cc = request(w, 0, "$JS.API.CONSUMER.DURABLE.CREATE.W.D",
                                  "{\"stream_name\":\"W\",\"config\":{\"durable_name\":\"D\",\"ack_policy\":\"none\"}}");
    TEST_ASSERT_JSON(cc, "$.name", "D");
    /* batch 2, 10 s, a heartbeat every 2 s */
    g_autofree char *next = test_wire_pub("$JS.API.CONSUMER.MSG.NEXT.W.D", "_INBOX.pull.1", NULL,
                                          "{\"batch\":2,\"expires\":10000000000,\"idle_heartbeat\":2000000000}");
    test_env_client_send(w->node[l].te, pc[l], next);
    g_autofree char *quiet = collect(w, pc, 300);
    g_assert_cmpstr(quiet, ==, "");

    g_autofree char *sd = request(w, 0, "$JS.API.STREAM.LEADER.STEPDOWN.W", "");
    TEST_ASSERT_JSON(sd, "$.success", "true");
    g_autofree char *moved = collect(w, pc, 2500); /* the new leader heartbeats it */
    g_assert_null(strstr(moved, "409"));
    g_assert_nonnull(strstr(moved, "100 Idle Heartbeat"));
    int l2 = node_of(w, jscluster_stream_leader(w->node[0].cl, "W"));
    g_assert_cmpint(l2, >=, 0);
    g_assert_cmpint(l2, !=, l);
    g_autofree char *a1 = publish(w, (l2 + 1) % 3, "w.x", NULL, "first");
    TEST_ASSERT_JSON(a1, "$.seq", "1");
    g_autofree char *got1 = collect(w, pc, 100);
    g_assert_cmpstr(got1, ==, "first|");

    /* kill -9 of that leader: the request, one message left, goes on on the next one */
    node_stop(&w->node[l2]);
    int pub = (l2 + 1) % 3;
    g_autofree char *a2 = NULL;
    for (int k = 0; k < 60 && a2 == NULL; k++) {
        a2 = request_h(w, pub, "w.x", "Nats-Msg-Id: second", "second", 50 * MS);
        if (a2 != NULL && strstr(a2, "\"seq\"") == NULL) g_clear_pointer(&a2, g_free);
    }
    TEST_ASSERT_JSON(a2, "$.seq", "2");
    g_autofree char *got2 = collect(w, pc, 100);
    g_assert_cmpstr(got2, ==, "NATS/1.0\r\nNats-Msg-Id: second\r\n\r\nsecond|"); /* once, nothing else */

    /* a new request with its deadline: across a stepdown it ends with 408 when it asked to */
    int l3 = node_of(w, jscluster_stream_leader(w->node[pub].cl, "W"));
    g_assert_cmpint(l3, >=, 0);
    g_autofree char *next2 = test_wire_pub("$JS.API.CONSUMER.MSG.NEXT.W.D", "_INBOX.pull.2", NULL,
                                           "{\"batch\":5,\"expires\":3000000000}");
    test_env_client_send(w->node[l3].te, pc[l3], next2);
    advance(w, 300 * MS);
    g_autofree char *sd2 = request(w, pub, "$JS.API.STREAM.LEADER.STEPDOWN.W", "");
    TEST_ASSERT_JSON(sd2, "$.success", "true");
    g_autofree char *early = collect(w, pc, 1000);
    g_assert_cmpstr(early, ==, "");
    g_assert_cmpint(node_of(w, jscluster_stream_leader(w->node[pub].cl, "W")), !=, l3);
    g_autofree char *end = collect(w, pc, 2000);
    g_assert_nonnull(strstr(end, "408 Request Timeout"));
    g_assert_nonnull(strstr(end, "Nats-Pending-Messages: 5"));
    check_all(w);
    world_free(w);
}


/* ------------------------------------------------------------------ scaling (book 11.12) */

static int hosts(World *w, const char *stream) {
    int n = 0;
    for (int i = 0; i < w->n; i++) n += w->node[i].js != NULL && jetstream_lookup(w->node[i].js, stream) != NULL;
    return n;
}

static char *update_replicas(World *w, int i, int r) {
    g_autofree char *body = g_strdup_printf("{\"name\":\"SC\",\"subjects\":[\"sc.>\"],\"num_replicas\":%d}", r);
    return request(w, i, "$JS.API.STREAM.UPDATE.SC", body);
}

/* Until r servers hold a replica, the info lists r-1 current replicas and each holds `msgs`
 * messages; the info's leader. */
static char *wait_scaled(World *w, int client, int r, uint64_t msgs) {
    for (int k = 0; k < 60; k++) {
        advance(w, 50 * MS);
        if (hosts(w, "SC") != r) continue;
        g_autofree char *si = request(w, client, "$JS.API.STREAM.INFO.SC", "");
        if (si == NULL) continue;
        int listed = 0, current = 0;
        for (const char *p = si; (p = strstr(p, "\"peer\":")) != NULL; p++) listed++;
        for (const char *p = si; (p = strstr(p, "\"current\":true")) != NULL; p++) current++;
        bool ok = listed == r - 1 && current == r - 1;
        for (int i = 0; i < w->n && ok; i++)
            if (jetstream_lookup(w->node[i].js, "SC") != NULL) ok = stored(w, i, "SC") == msgs;
        if (ok) return test_json_path(si, "$.cluster.leader");
    }
    g_assert_not_reached();
}

/* The next message of durable D (ack none), asked on the stream leader's server (the bridge
 * carries publishes, not a consumer's deliveries to a remote inbox). */
static char *next_of_d(World *w, int client) {
    int l = -1;
    for (int i = 0; i < w->n && l < 0; i++)
        if (w->node[i].cl != NULL) l = node_of(w, jscluster_stream_leader(w->node[i].cl, "SC"));
    g_assert_cmpint(l, >=, 0);
    return request(w, l, "$JS.API.CONSUMER.MSG.NEXT.SC.D", "{\"batch\":1,\"no_wait\":true}");
}

/* num_replicas changes through STREAM.UPDATE: 1 -> 3 adds two servers as PLACEMENT picks
 * them, which catch up; 3 -> 1 keeps the leader and the others delete their replicas once
 * their removal committed (the second removal needs the third server's vote); 5 replicas
 * on three servers: 10005 and nothing changes. A durable consumer keeps its place
 * throughout, and every message is on every replica. */
static void test_stream_scale(void) {
    World *w = js_world(3);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.SC", "{\"name\":\"SC\",\"subjects\":[\"sc.>\"]}");
    TEST_ASSERT_JSON(cr, "$.did_create", "true");
    g_assert_cmpint(hosts(w, "SC"), ==, 1);
    g_autofree char *cc = request(w, 1, "$JS.API.CONSUMER.DURABLE.CREATE.SC.D",
                                  "{\"stream_name\":\"SC\",\"config\":{\"durable_name\":\"D\",\"ack_policy\":\"none\"}}");
    TEST_ASSERT_JSON(cc, "$.name", "D");
    uint64_t n = 0;
    for (; n < 10; n++) {
        g_autofree char *body = g_strdup_printf("m%d", (int)n + 1);
        g_autofree char *ack = publish(w, 2, "sc.x", NULL, body);
        g_assert_nonnull(ack);
    }
    g_autofree char *m1 = next_of_d(w, 0);
    g_assert_nonnull(strstr(m1, "m1"));

    /* 1 -> 3 */
    g_autofree char *up = update_replicas(w, 1, 3);
    TEST_ASSERT_JSON(up, "$.type", "io.nats.jetstream.api.v1.stream_update_response");
    TEST_ASSERT_JSON(up, "$.config.num_replicas", "3");
    g_autofree char *l3 = wait_scaled(w, 0, 3, n);
    for (; n < 20; n++) {
        g_autofree char *body = g_strdup_printf("m%d", (int)n + 1);
        g_autofree char *ack = publish(w, 0, "sc.x", NULL, body);
        g_autofree char *seq = g_strdup_printf("%d", (int)n + 1);
        TEST_ASSERT_JSON(ack, "$.seq", seq);
    }
    g_free(wait_scaled(w, 1, 3, n));
    g_autofree char *m2 = next_of_d(w, 2);
    g_assert_nonnull(strstr(m2, "m2"));

    /* too many: nothing changes */
    g_autofree char *r5 = update_replicas(w, 0, 5);
    TEST_ASSERT_JSON(r5, "$.error.err_code", "10005");
    TEST_ASSERT_JSON(r5, "$.error.description", "no suitable peers for placement");
    g_autofree char *r6 = update_replicas(w, 0, 6);
    TEST_ASSERT_JSON(r6, "$.error.err_code", "10052");

    /* move the leader off the first peer, then 3 -> 1: the leader stays */
    g_autofree char *sd = request(w, 0, "$JS.API.STREAM.LEADER.STEPDOWN.SC", "");
    TEST_ASSERT_JSON(sd, "$.success", "true");
    g_autofree char *leader = NULL;
    for (int k = 0; k < 40 && leader == NULL; k++) {
        advance(w, 50 * MS);
        const char *l = jscluster_stream_leader(w->node[node_of(w, l3)].cl, "SC");
        if (l != NULL && strcmp(l, l3) != 0) leader = g_strdup(l);
    }
    g_assert_nonnull(leader);
    g_autofree char *down = update_replicas(w, 2, 1);
    TEST_ASSERT_JSON(down, "$.config.num_replicas", "1");
    TEST_ASSERT_JSON(down, "$.cluster.leader", leader);
    g_autofree char *l1 = wait_scaled(w, 0, 1, n);
    g_assert_cmpstr(l1, ==, leader);
    g_assert_nonnull(jetstream_lookup(w->node[node_of(w, leader)].js, "SC"));
    g_autofree char *m3 = next_of_d(w, 1);
    g_assert_nonnull(strstr(m3, "m3"));
    g_autofree char *ack = publish(w, 1, "sc.x", NULL, "m21");
    TEST_ASSERT_JSON(ack, "$.seq", "21");
    n++;

    /* PEER.REMOVE of an R1 stream's one server moves it: the leader, the last voter, adds
     * the replacement before it removes itself (removing first, it was stuck for good:
     * failover-scale-random seed 269) */
    g_autofree char *pr_body = g_strdup_printf("{\"peer\":\"%s\"}", leader);
    g_autofree char *pr = request(w, 0, "$JS.API.STREAM.PEER.REMOVE.SC", pr_body);
    TEST_ASSERT_JSON(pr, "$.success", "true");
    g_autofree char *moved = NULL;
    for (int k = 0; k < 60 && moved == NULL; k++) {
        advance(w, 50 * MS);
        if (jetstream_lookup(w->node[node_of(w, leader)].js, "SC") != NULL) continue;
        g_autofree char *l = wait_scaled(w, 0, 1, n);
        if (strcmp(l, leader) != 0) moved = g_strdup(l);
    }
    g_assert_nonnull(moved);
    g_autofree char *ack2 = publish(w, 2, "sc.x", NULL, "m22");
    TEST_ASSERT_JSON(ack2, "$.seq", "22");
    n++;

    /* and back to 3: the servers that left rejoin from nothing */
    g_autofree char *again = update_replicas(w, 0, 3);
    TEST_ASSERT_JSON(again, "$.config.num_replicas", "3");
    g_free(wait_scaled(w, 2, 3, n));
    g_autofree char *m4 = next_of_d(w, 0);
    g_assert_nonnull(strstr(m4, "m4"));
    check_all(w);
    world_free(w);
}

/* Two changes the meta leader computed from the same peers, proposed in one turn: the first
 * applies, the second is refused on every server (its base is gone) and answered with an
 * error, instead of a shrink from a peer set that no longer exists (seeds 157 and 269 of
 * failover-scale-random: an R3 -> R1 computed from the peers before a PEER.REMOVE). */
static void test_stream_one_change_at_a_time(void) {
    World *w = js_world(3);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.SC", "{\"name\":\"SC\",\"subjects\":[\"sc.>\"]}");
    TEST_ASSERT_JSON(cr, "$.did_create", "true");
    int m = node_of(w, jscluster_meta_leader(w->node[0].cl));
    g_assert_cmpint(m, >=, 0);
    Node *nd = &w->node[m];
    g_autofree char *u3 = test_wire_pub("$JS.API.STREAM.UPDATE.SC", "_INBOX.x.1", NULL,
                                        "{\"name\":\"SC\",\"subjects\":[\"sc.>\"],\"num_replicas\":3}");
    g_autofree char *u2 = test_wire_pub("$JS.API.STREAM.UPDATE.SC", "_INBOX.x.2", NULL,
                                        "{\"name\":\"SC\",\"subjects\":[\"sc.>\"],\"num_replicas\":2}");
    g_autofree char *both = g_strconcat("SUB _INBOX.x.* 9\r\n", u3, u2, NULL);
    test_env_client_send(nd->te, nd->c, both);
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    for (int k = 0; k < 200 && got->len < 2; k++) {
        advance(w, 10 * MS);
        g_autoptr(GPtrArray) r = take_replies(nd);
        for (guint j = 0; j < r->len; j++) g_ptr_array_add(got, g_strdup(g_ptr_array_index(r, j)));
    }
    g_assert_cmpuint(got->len, ==, 2);
    int ok = -1, refused = -1;
    for (int j = 0; j < 2; j++) {
        const char *r = g_ptr_array_index(got, j);
        if (strstr(r, "\"error\"") != NULL) refused = j;
        else ok = j;
    }
    g_assert_cmpint(ok, >=, 0);
    g_assert_cmpint(refused, >=, 0);
    TEST_ASSERT_JSON(g_ptr_array_index(got, ok), "$.config.num_replicas", "3");
    TEST_ASSERT_JSON(g_ptr_array_index(got, refused), "$.error.err_code", "10051");
    g_free(wait_scaled(w, 0, 3, 0));
    for (int i = 0; i < 3; i++) {
        Stream *st = jetstream_lookup(w->node[i].js, "SC");
        g_assert_nonnull(st);
        g_assert_cmpint(stream_config(st)->num_replicas, ==, 3);
    }
    check_all(w);
    world_free(w);
}

/* A server removed from a group leaves once a majority of the new peers holds everything
 * through its removal, even while another peer is down (before: it waited for every peer);
 * the peer that was down catches up when it is back. */
static void test_stream_leave_with_a_peer_down(void) {
    World *w = js_world(4);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.SC",
                                  "{\"name\":\"SC\",\"subjects\":[\"sc.>\"],\"num_replicas\":3}");
    g_autofree char *leader = test_json_path(cr, "$.cluster.leader");
    int l = node_of(w, leader), outside = -1, down = -1, gone = -1;
    g_assert_cmpint(l, >=, 0);
    for (int i = 0; i < 4; i++) {
        if (i == l) continue;
        if (jetstream_lookup(w->node[i].js, "SC") == NULL) outside = i;
        else if (down < 0) down = i;
        else gone = i;
    }
    g_assert_cmpint(outside, >=, 0);
    g_assert_cmpint(gone, >=, 0);
    for (int k = 0; k < 10; k++) g_free(publish(w, l, "sc.x", NULL, "a"));
    node_stop(&w->node[down]);
    advance(w, 200 * MS); /* down for a few heartbeats */
    g_autofree char *body = g_strdup_printf("{\"peer\":\"%s\"}", w->node[gone].name);
    g_autofree char *pr = NULL;
    for (int k = 0; k < 20 && (pr == NULL || strstr(pr, "\"success\":true") == NULL); k++) {
        g_free(pr);
        pr = request(w, l, "$JS.API.STREAM.PEER.REMOVE.SC", body);
    }
    TEST_ASSERT_JSON(pr, "$.success", "true");
    for (int k = 0; k < 10; k++) g_free(publish(w, l, "sc.x", NULL, "b"));
    for (int k = 0; k < 60 && jetstream_lookup(w->node[gone].js, "SC") != NULL; k++) advance(w, 50 * MS);
    if (g_getenv("CLUSTER_DEBUG") != NULL)
        for (int k = 0; k < w->n; k++) {
            if (w->node[k].srv == NULL) continue;
            g_autofree char *log = test_env_take_log(w->node[k].te);
            g_printerr("--- %s\n%s", w->node[k].name, log);
        }
    g_assert_null(jetstream_lookup(w->node[gone].js, "SC"));
    g_assert_cmpuint(stored(w, outside, "SC"), ==, 20);
    js_node_start(w, down);
    for (int k = 0; k < 60 && stored(w, down, "SC") != 20; k++) advance(w, 50 * MS);
    g_assert_cmpuint(stored(w, down, "SC"), ==, 20);
    check_all(w);
    world_free(w);
}

/* A shrink to R1 with a follower down removes the down voter first: removing the live one
 * first left {leader, down}, which could commit nothing (failover-scale-random seeds 131,
 * 343). Each follower down in turn: one of the two is second in the voters' order. */
static void shrink_with_a_follower_down(int which) {
    World *w = js_world(5);
    g_autofree char *cr = request(w, 0, "$JS.API.STREAM.CREATE.SD",
                                  "{\"name\":\"SD\",\"subjects\":[\"sd.>\"],\"num_replicas\":3}");
    g_autofree char *leader = test_json_path(cr, "$.cluster.leader");
    int l = node_of(w, leader), f[2] = {-1, -1}, nf = 0;
    g_assert_cmpint(l, >=, 0);
    for (int i = 0; i < 5; i++)
        if (i != l && jetstream_lookup(w->node[i].js, "SD") != NULL) f[nf++] = i;
    g_assert_cmpint(nf, ==, 2);
    int down = f[which], other = f[1 - which];
    for (int k = 0; k < 10; k++) g_free(publish(w, l, "sd.x", NULL, "a"));
    node_stop(&w->node[down]);
    advance(w, 200 * MS); /* down for a few heartbeats */
    g_autofree char *ur = NULL;
    for (int k = 0; k < 20 && (ur == NULL || strstr(ur, "\"error\"") != NULL); k++) {
        g_free(ur);
        ur = request(w, l, "$JS.API.STREAM.UPDATE.SD",
                     "{\"name\":\"SD\",\"subjects\":[\"sd.>\"],\"num_replicas\":1}");
    }
    TEST_ASSERT_JSON(ur, "$.config.num_replicas", "1");
    for (int k = 0; k < 80 && jetstream_lookup(w->node[other].js, "SD") != NULL; k++) advance(w, 50 * MS);
    g_assert_null(jetstream_lookup(w->node[other].js, "SD"));
    g_autofree char *pa = publish(w, l, "sd.x", NULL, "b");
    TEST_ASSERT_JSON(pa, "$.seq", "11");
    world_free(w);
}

static void test_stream_shrink_with_a_follower_down(void) {
    shrink_with_a_follower_down(0);
    shrink_with_a_follower_down(1);
}

/* A shrink keeps the stream's leader when the meta leader hosts no replica of it: the
 * leader announced itself (LEADER ANNOUNCEMENTS); before, the meta leader kept the first live
 * peer, and the leader handed over to it. */
static void test_stream_shrink_keeps_leader(void) {
    World *w = js_world(4);
    int m = node_of(w, jscluster_meta_leader(w->node[0].cl));
    g_assert_cmpint(m, >=, 0);
    char name[8] = "";
    for (int k = 1; k <= 4 && name[0] == '\0'; k++) {
        char subj[64], body[128];
        g_snprintf(name, sizeof name, "H%d", k);
        g_snprintf(subj, sizeof subj, "$JS.API.STREAM.CREATE.%s", name);
        g_snprintf(body, sizeof body, "{\"name\":\"%s\",\"subjects\":[\"h%d.>\"],\"num_replicas\":2}", name, k);
        g_autofree char *cr = request(w, 0, subj, body);
        TEST_ASSERT_JSON(cr, "$.did_create", "true");
        if (jetstream_lookup(w->node[m].js, name) != NULL) name[0] = '\0';
    }
    g_assert_cmpstr(name, !=, "");
    int r = -1;
    for (int i = 0; i < 4 && r < 0; i++)
        if (jetstream_lookup(w->node[i].js, name) != NULL) r = i;
    g_autofree char *before = g_strdup(jscluster_stream_leader(w->node[r].cl, name));
    g_autofree char *sd_subj = g_strdup_printf("$JS.API.STREAM.LEADER.STEPDOWN.%s", name);
    g_autofree char *sd = request(w, 0, sd_subj, "");
    TEST_ASSERT_JSON(sd, "$.success", "true");
    g_autofree char *leader = NULL;
    for (int k = 0; k < 40 && leader == NULL; k++) {
        advance(w, 50 * MS);
        const char *l = jscluster_stream_leader(w->node[r].cl, name);
        if (l != NULL && strcmp(l, before) != 0) leader = g_strdup(l);
    }
    g_assert_nonnull(leader);
    g_autofree char *up_subj = g_strdup_printf("$JS.API.STREAM.UPDATE.%s", name);
    g_autofree char *up_body = g_strdup_printf("{\"name\":\"%s\",\"subjects\":[\"h%c.>\"],\"num_replicas\":1}", name,
                                               name[1]);
    g_autofree char *down = request(w, m, up_subj, up_body);
    TEST_ASSERT_JSON(down, "$.config.num_replicas", "1");
    TEST_ASSERT_JSON(down, "$.cluster.leader", leader);
    for (int k = 0; k < 40 && hosts(w, name) != 1; k++) advance(w, 50 * MS);
    g_assert_cmpint(hosts(w, name), ==, 1);
    g_assert_nonnull(jetstream_lookup(w->node[node_of(w, leader)].js, name));
    check_all(w);
    world_free(w);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cluster/nrg/failover", test_nrg_failover);
    g_test_add_func("/cluster/nrg/partition", test_nrg_partition);
    g_test_add_func("/cluster/meta/create", test_meta_create);
    g_test_add_func("/cluster/meta/unavailable", test_meta_unavailable);
    g_test_add_func("/cluster/meta/first-election", test_meta_first_election);
    g_test_add_func("/cluster/meta/stepdown", test_meta_stepdown);
    g_test_add_func("/cluster/meta/placement-liveness", test_meta_placement_liveness);
    g_test_add_func("/cluster/stream/failover", test_stream_failover);
    g_test_add_func("/cluster/stream/pipeline", test_stream_pipeline);
    g_test_add_func("/cluster/stream/snapshot-catchup", test_stream_snapshot_catchup);
    g_test_add_func("/cluster/stream/current-means-whole", test_stream_current_means_whole);
    g_test_add_func("/cluster/stream/stepdown-answers-publishes", test_stream_stepdown_answers_publishes);
    g_test_add_func("/cluster/stream/stepdown-answers-late-routed", test_stream_stepdown_answers_late_routed);
    g_test_add_func("/cluster/stream/acked-from-raft-log", test_stream_acked_from_raft_log);
    g_test_add_func("/cluster/stream/compaction-syncs-store", test_stream_compaction_syncs_store);
    g_test_add_func("/cluster/stream/purge-replay", test_stream_purge_replay);
    g_test_add_func("/cluster/consumer/pull-across-leader-change", test_consumer_pull_across_leader_change);
    g_test_add_func("/cluster/stream/scale", test_stream_scale);
    g_test_add_func("/cluster/stream/one-change-at-a-time", test_stream_one_change_at_a_time);
    g_test_add_func("/cluster/stream/leave-with-a-peer-down", test_stream_leave_with_a_peer_down);
    g_test_add_func("/cluster/stream/shrink-with-a-follower-down", test_stream_shrink_with_a_follower_down);
    g_test_add_func("/cluster/stream/shrink-keeps-leader", test_stream_shrink_keeps_leader);
    return g_test_run();
}
