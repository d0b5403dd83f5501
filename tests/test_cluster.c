/* test_cluster.c — Raft groups inside brokers (cluster_nrg.c), the meta group and replicated
 * streams (cluster.c), through the unit tests' world.
 *
 * THE WORLD
 *   N brokers, each on its own TestEnv (own clock, own crashable disk), advanced in lockstep
 *   in small steps. They are joined by a bridge that plays the part of the routes: every
 *   broker has an internal subscription on ">" that republishes each message on every other
 *   live broker (a flag stops the copy from being copied again), unless the link is cut.
 *   So Raft traffic, API requests and their replies, and publishes to a stream leader all
 *   travel the way routes will carry them: as ordinary messages.
 */
#include <string.h>

#include "cluster_nrg.h"
#include "jetstream.h"
#include "jsonutil.h"
#include "limits.h"
#include "server.h"
#include "test_env.h"

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
    ServerInternalSub *bridge;
    /* for the bare-Raft tests */
    Nrg *nrg;
    GPtrArray *applied; /* char* */
} Node;

struct World {
    int n;
    Node node[MAXN];
    bool cut[MAXN][MAXN];
    bool bridging;
    bool with_cluster;
};

/* ------------------------------------------------------------------ the bridge */

static void bridge_msg(void *ctx, const ServerMsg *m) {
    Node *from = ctx;
    World *w = from->w;
    if (w->bridging) return; /* a copy we are delivering: do not copy it again */
    w->bridging = true;
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    g_autofree char *reply = m->reply_len ? g_strndup(m->reply, m->reply_len) : NULL;
    for (int j = 0; j < w->n; j++) {
        Node *to = &w->node[j];
        if (to == from || to->srv == NULL || w->cut[from->i][j]) continue;
        server_publish(to->srv, subject, reply, m->hdr, m->hdr_len, m->payload, m->payload_len);
    }
    w->bridging = false;
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
    cfg.jetstream = js;
    cfg.store_dir = "js";
    g_autoptr(GError) err = NULL;
    nd->srv = server_new(&nd->te->env, &cfg, &err);
    g_assert_no_error(err);
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

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cluster/nrg/failover", test_nrg_failover);
    g_test_add_func("/cluster/nrg/partition", test_nrg_partition);
    return g_test_run();
}
