/* sim_env.c — the simulated world's Env and its nodes (see sim_env.h).
 *
 * Every EnvOps function of src/env.h is implemented here for one SimNode:
 *   now_ns / wall_ns      virtual time scaled by the node's drift; clock jumps move wall only
 *   timer_add / _cancel   scheduler events, re-validated by id (cancel = forget the id)
 *   turn_end / _cancel    one event at the current instant, behind those already due then
 *   random_u64            the node's own seeded stream
 *   conn_send / _pending / _close   the simulated network (sim_net.c)
 *   file_* / path_* / dir_*         the node's simulated disk (sim_disk.c); fsync may be slow,
 *                                   which makes the node busy for that long
 *   log                   a trace event of kind "log"
 * While a node is crashed every op is a no-op (the Server is being torn down and nothing it
 * does then may reach the world or the trace).
 */
#include "sim_env.h"

#include <string.h>

#include "consumer_api.h"
#include "jscluster.h"
#include "route.h"
#include "sim_fault.h"
#include "sim_jscluster.h"
#include "sim_net.h"
#include "sim_raft.h"
#include "sim_scenario.h"
#include "sim_workload.h"
#include "stream_api.h"

#define SIM_WALL_EPOCH_NS ((int64_t)1767225600 * SIM_S) /* 2026-01-01T00:00:00Z: a fixed, fake epoch */

typedef struct SimTimer {
    EnvTimer id;
    EnvTimerFn fn;
    void *arg;
} SimTimer;

static SimNode *node_of(Env *env) { return env->world; }

/* --- time --- */

static int64_t op_now_ns(Env *env) {
    SimNode *n = node_of(env);
    int64_t t = sim_now(n->sim);
    return t + (int64_t)((double)t * n->drift_ppm * 1e-6);
}

static int64_t op_wall_ns(Env *env) {
    return SIM_WALL_EPOCH_NS + op_now_ns(env) + node_of(env)->wall_offset_ns;
}

static void timer_event(void *ctx, void *a, uint64_t id) {
    SimNode *n = a;
    SimTimer *t = g_hash_table_lookup(n->timers, &id);
    if (!t) return; /* cancelled, or the node crashed since */
    if (sim_node_defer(n, timer_event, a, id)) return;
    EnvTimerFn fn = t->fn;
    void *arg = t->arg;
    g_hash_table_remove(n->timers, &id);
    sim_log(n->sim, n->name, "timer", "t%" G_GUINT64_FORMAT, id);
    fn(arg);
}

static EnvTimer op_timer_add(Env *env, int64_t delay_ns, EnvTimerFn fn, void *arg) {
    SimNode *n = node_of(env);
    if (!n->up) return 0;
    SimTimer *t = g_new0(SimTimer, 1);
    t->id = ++n->next_timer;
    t->fn = fn;
    t->arg = arg;
    g_hash_table_insert(n->timers, &t->id, t);
    /* the node's clock runs fast or slow: its delay in virtual time is scaled back */
    int64_t d = delay_ns < 0 ? 0 : (int64_t)((double)delay_ns / (1.0 + n->drift_ppm * 1e-6));
    sim_after(n->sim, d, timer_event, n, t->id);
    return t->id;
}

static void op_timer_cancel(Env *env, EnvTimer id) { g_hash_table_remove(node_of(env)->timers, &id); }

/* --- the end of a turn: everything the node receives at one virtual instant is one turn,
 * so the first call asked for schedules one event at the current instant, behind the events
 * already due then (the network's other deliveries and timers of the same instant). --- */

static void turn_event(void *ctx, void *a, uint64_t incarnation) {
    SimNode *n = a;
    if (!n->up || n->incarnation != incarnation) return;
    if (sim_node_defer(n, turn_event, a, incarnation)) return;
    env_turn_queue_run(&n->turn);
}

static void op_turn_end(Env *env, EnvTimerFn fn, void *arg) {
    SimNode *n = node_of(env);
    if (n->up && env_turn_queue_add(&n->turn, fn, arg)) sim_after(n->sim, 0, turn_event, n, n->incarnation);
}

static void op_turn_end_cancel(Env *env, EnvTimerFn fn, void *arg) { env_turn_queue_cancel(&node_of(env)->turn, fn, arg); }

static uint64_t op_random_u64(Env *env) { return rng_next(&node_of(env)->rng); }

/* --- connections --- */

static SimConn *conn_of(SimNode *n, EnvConn id) {
    return n->up ? g_hash_table_lookup(n->conns, &id) : NULL;
}

/* A route this node dialled: the node is the client end of a SimConn to a peer's cluster
 * listener. Its bytes reach the Cluster's handlers, never re-entrantly. */
typedef struct SimRouteOut {
    SimNode *n;
    EnvConn id;
    uint64_t incarnation;
    EnvHandlers h;
    void *core;
    SimConn *c;      /* NULL once closed by the node */
    bool detached;
} SimRouteOut;

static SimRouteOut *out_of(SimNode *n, EnvConn id) { return n->up ? g_hash_table_lookup(n->out, &id) : NULL; }

static bool out_live(const SimRouteOut *o) { return o->n->up && o->n->incarnation == o->incarnation && !o->detached; }

static void out_open(void *ctx) {}

static void out_bytes(void *ctx, const uint8_t *data, size_t len) {
    SimRouteOut *o = ctx;
    if (out_live(o) && o->h.on_bytes) o->h.on_bytes(o->core, o->id, data, len);
}

static void out_closed(void *ctx, const char *why) {
    SimRouteOut *o = ctx;
    bool live = out_live(o);
    if (live) g_hash_table_remove(o->n->out, &o->id);
    if (live && o->h.on_closed) o->h.on_closed(o->core, o->id);
    g_free(o);
}

static const SimConnEnd route_end = {out_open, out_bytes, out_closed};

static void out_closed_event(void *ctx, void *a, uint64_t b) { out_closed(a, "closed"); }

static void op_conn_send(Env *env, EnvConn id, const EnvSlice *s, size_t k) {
    SimNode *n = node_of(env);
    SimRouteOut *o = out_of(n, id);
    if (o) {
        for (size_t i = 0; i < k && o->c; i++)
            if (s[i].len) sim_net_client_send(o->c, s[i].data, s[i].len);
        return;
    }
    SimConn *c = conn_of(n, id);
    if (c) sim_net_server_send(c, s, k);
}

static size_t op_conn_pending(Env *env, EnvConn id) {
    SimNode *n = node_of(env);
    SimRouteOut *o = out_of(n, id);
    if (o) return o->c ? sim_net_client_pending(o->c) : 0;
    SimConn *c = conn_of(n, id);
    return c ? sim_net_server_pending(c) : 0;
}

static void op_conn_read_pause(Env *env, EnvConn id, bool paused) {
    SimConn *c = conn_of(node_of(env), id);
    if (c) sim_net_server_read_pause(c, paused);
}

static void op_conn_close(Env *env, EnvConn id) {
    SimNode *n = node_of(env);
    SimRouteOut *o = out_of(n, id);
    if (o) {
        if (!o->c) return;
        sim_net_client_close(o->c); /* the net says nothing more to this end: on_closed is ours */
        o->c = NULL;
        sim_after(n->sim, 0, out_closed_event, o, 0);
        return;
    }
    SimConn *c = conn_of(n, id);
    if (c) sim_net_server_close(c);
}

/* Dial host:port where host is a node's name ("n2") and port its cluster port. An unknown
 * address is refused one latency later, like a closed port. */
static EnvConn op_conn_connect(Env *env, const char *host, int port, const EnvHandlers *h, void *core,
                               GError **error) {
    SimNode *n = node_of(env);
    if (!n->up) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "node is down");
        return 0;
    }
    SimNode *to = sim_node_by_name(n->sim, host);
    SimRouteOut *o = g_new0(SimRouteOut, 1);
    o->n = n;
    o->id = ++n->next_conn;
    o->incarnation = n->incarnation;
    o->h = *h;
    o->core = core;
    EnvConn *key = g_new(EnvConn, 1);
    *key = o->id;
    g_hash_table_insert(n->out, key, o);
    if (!to || port != SIM_CLUSTER_PORT) {
        sim_after(n->sim, 1 * SIM_MS, out_closed_event, o, 0);
        return o->id;
    }
    char name[32];
    g_snprintf(name, sizeof name, "route %s>%s", n->name, to->name);
    o->c = sim_net_dial_route(n->sim->net, n, to, name, &route_end, o);
    return o->id;
}

static int op_listen(Env *env, const char *host, int port, const EnvHandlers *h, void *core, GError **error) {
    SimNode *n = node_of(env);
    if (n->cl_core) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "listen: a node has one cluster listener");
        return 0;
    }
    n->cl_h = *h;
    n->cl_core = core;
    n->cl_port = port ? port : SIM_CLUSTER_PORT;
    return n->cl_port;
}

static void op_detach(Env *env, void *core) {
    SimNode *n = node_of(env);
    if (n->cl_core == core) n->cl_core = NULL;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, n->out);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((SimRouteOut *)v)->core == core) ((SimRouteOut *)v)->detached = true;
}

bool sim_node_listening(const SimNode *n) { return n->up && n->cl_core != NULL; }

/* --- files: straight to the node's disk; fsync costs time --- */

static gboolean dead(SimNode *n, GError **error) {
    if (n->up) return FALSE;
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "node is down");
    return TRUE;
}

static int op_file_open(Env *env, const char *path, int flags, GError **error) {
    SimNode *n = node_of(env);
    return dead(n, error) ? -1 : sim_disk_open(n->disk, path, flags, error);
}
static gssize op_file_pread(Env *env, int fd, void *buf, size_t len, uint64_t off, GError **error) {
    SimNode *n = node_of(env);
    return dead(n, error) ? -1 : sim_disk_pread(n->disk, fd, buf, len, off, error);
}
static gssize op_file_pwrite(Env *env, int fd, const void *buf, size_t len, uint64_t off,
                             GError **error) {
    SimNode *n = node_of(env);
    return dead(n, error) ? -1 : sim_disk_pwrite(n->disk, fd, buf, len, off, error);
}
static gboolean op_file_sync(Env *env, int fd, GError **error) {
    SimNode *n = node_of(env);
    if (dead(n, error)) return FALSE;
    Sim *sim = n->sim;
    int64_t lat = rng_range(&n->rng, sim->sc->fsync_min_ns, sim->sc->fsync_max_ns) + n->fsync_extra_ns;
    n->busy_until_ns = MAX(n->busy_until_ns, sim_now(sim)) + lat;
    sim_log(sim, n->name, "disk", "fsync fd %d (%" G_GINT64_FORMAT "us)", fd, lat / SIM_US);
    return sim_disk_sync(n->disk, fd, error);
}
static gboolean op_file_truncate(Env *env, int fd, uint64_t len, GError **error) {
    SimNode *n = node_of(env);
    return !dead(n, error) && sim_disk_truncate(n->disk, fd, len, error);
}
static gboolean op_file_allocate(Env *env, int fd, uint64_t off, uint64_t len, GError **error) {
    SimNode *n = node_of(env);
    return !dead(n, error) && sim_disk_allocate(n->disk, fd, off, len, error);
}
static gint64 op_file_size(Env *env, int fd, GError **error) {
    SimNode *n = node_of(env);
    return dead(n, error) ? -1 : sim_disk_size(n->disk, fd, error);
}
static void op_file_close(Env *env, int fd) {
    SimNode *n = node_of(env);
    if (n->up) sim_disk_close(n->disk, fd);
}
static gboolean op_path_rename(Env *env, const char *from, const char *to, GError **error) {
    SimNode *n = node_of(env);
    return !dead(n, error) && sim_disk_rename(n->disk, from, to, error);
}
static gboolean op_path_remove(Env *env, const char *path, GError **error) {
    SimNode *n = node_of(env);
    return !dead(n, error) && sim_disk_remove(n->disk, path, error);
}
static gboolean op_path_exists(Env *env, const char *path) {
    SimNode *n = node_of(env);
    return n->up && sim_disk_exists(n->disk, path);
}
static gboolean op_dir_make(Env *env, const char *path, GError **error) {
    SimNode *n = node_of(env);
    return !dead(n, error) && sim_disk_mkdir(n->disk, path, error);
}
static gboolean op_dir_sync(Env *env, const char *path, GError **error) {
    SimNode *n = node_of(env);
    if (dead(n, error)) return FALSE;
    sim_log(n->sim, n->name, "disk", "fsync dir %s", path);
    return sim_disk_dir_sync(n->disk, path, error);
}
static char **op_dir_list(Env *env, const char *path, GError **error) {
    SimNode *n = node_of(env);
    return dead(n, error) ? NULL : sim_disk_dir_list(n->disk, path, error);
}

/* A small process limit, so that the stores' open-file budget (a quarter: 16) evicts in
 * scenarios with many segments. */
static int64_t op_files_max(Env *env) { return 64; }

static void op_log(Env *env, EnvLogLevel level, const char *line) {
    SimNode *n = node_of(env);
    if (!n->up) return;
    static const char *tags[] = {"DBG", "INF", "WRN", "ERR"};
    sim_log(n->sim, n->name, "log", "[%s] %s", tags[level], line);
}

static const EnvOps sim_env_ops = {
    .now_ns = op_now_ns,
    .wall_ns = op_wall_ns,
    .timer_add = op_timer_add,
    .timer_cancel = op_timer_cancel,
    .turn_end = op_turn_end,
    .turn_end_cancel = op_turn_end_cancel,
    .random_u64 = op_random_u64,
    .conn_send = op_conn_send,
    .conn_pending = op_conn_pending,
    .conn_close = op_conn_close,
    .conn_read_pause = op_conn_read_pause,
    .conn_connect = op_conn_connect,
    .listen = op_listen,
    .detach = op_detach,
    .file_open = op_file_open,
    .file_pread = op_file_pread,
    .file_pwrite = op_file_pwrite,
    .file_sync = op_file_sync,
    .file_truncate = op_file_truncate,
    .file_allocate = op_file_allocate,
    .file_size = op_file_size,
    .file_close = op_file_close,
    .path_rename = op_path_rename,
    .path_remove = op_path_remove,
    .path_exists = op_path_exists,
    .dir_make = op_dir_make,
    .dir_sync = op_dir_sync,
    .dir_list = op_dir_list,
    .files_max = op_files_max,
    .log = op_log,
};

/* --- the network calling in --- */

EnvConn sim_node_accept(SimNode *n, SimConn *c, int peer_port, bool route) {
    EnvConn id = ++n->next_conn;
    EnvConn *key = g_new(EnvConn, 1);
    *key = id;
    g_hash_table_insert(n->conns, key, c);
    if (route) /* a route's peer address is its dialler's name: implicit routes dial it */
        n->cl_h.on_accept(n->cl_core, id, sim_net_route_from(c)->name, peer_port);
    else
        n->env.handlers.on_accept(n->env.core, id, "10.0.0.2", peer_port);
    return id;
}

/* the handlers a connection's events go to: the cluster listener's for an accepted route */
static const EnvHandlers *handlers_of(SimNode *n, EnvConn id, void **core) {
    SimConn *c = g_hash_table_lookup(n->conns, &id);
    if (c && sim_conn_is_route(c)) {
        *core = n->cl_core;
        return n->cl_core ? &n->cl_h : NULL;
    }
    *core = n->env.core;
    return &n->env.handlers;
}

void sim_node_bytes(SimNode *n, EnvConn id, const uint8_t *data, size_t len) {
    void *core;
    const EnvHandlers *h = handlers_of(n, id, &core);
    if (h) h->on_bytes(core, id, data, len);
}

void sim_node_closed(SimNode *n, EnvConn id) {
    void *core;
    const EnvHandlers *h = handlers_of(n, id, &core);
    g_hash_table_remove(n->conns, &id);
    if (h) h->on_closed(core, id);
}

bool sim_node_defer(SimNode *n, SimEventFn fn, void *a, uint64_t b) {
    if (n->busy_until_ns <= sim_now(n->sim)) return false;
    sim_at(n->sim, n->busy_until_ns, fn, a, b);
    return true;
}

/* --- process lifecycle --- */

/* nodes > 1 is always one cluster: every node is given the same list of every node's
 * cluster URL, itself included (the shared-list configuration nats-server accepts). */
static struct Cluster *node_cluster_new(SimNode *n, GError **error) {
    Sim *sim = n->sim;
    char **urls = g_new0(char *, (gsize)sim->n_nodes + 1);
    for (int i = 0; i < sim->n_nodes; i++)
        urls[i] = g_strdup_printf("nats-route://%s:%d", sim->nodes[i]->name, SIM_CLUSTER_PORT);
    ClusterConfig cc;
    cluster_config_init(&cc);
    cc.name = "sim";
    cc.host = n->name;
    cc.port = SIM_CLUSTER_PORT;
    cc.routes = (const char *const *)urls;
    if (sim->sc->ping_interval_ns) cc.ping_interval_ns = sim->sc->ping_interval_ns;
    cc.bug = sim->sc->cluster_bug;
    struct Cluster *cl = cluster_new(n->server, &cc, error);
    g_strfreev(urls);
    return cl;
}

static bool node_start(SimNode *n) {
    g_autoptr(GError) error = NULL;
    n->up = true;
    n->busy_until_ns = 0;
    if (n->sim->raft) return sim_raft_node_start(n->sim->raft, n);
    /* the broker as main.c composes it: the server, then JetStream on it */
    n->server = server_new(&n->env, &n->cfg, &error);
    if (n->server && n->jetstream && (n->js = jetstream_new(n->server, &n->js_cfg, &error)) != NULL) {
        stream_api_register(n->js);
        consumer_api_register(n->js);
    }
    /* then, with nodes > 1, the cluster layer on the same server */
    if (n->server && (!n->jetstream || n->js) && n->sim->n_nodes > 1) n->cluster = node_cluster_new(n, &error);
    /* and with JetStream, clustered JetStream: the meta group is every node (main.c: the
     * routes list, this one included) */
    if (n->cluster && n->js) {
        JsClusterConfig jcc = {.server_name = n->name, .cluster_name = "sim", .size = n->sim->n_nodes,
                               .bug = n->sim->sc->jsc_bug, .observe = n->sim->jsc ? sim_jsc_observe : NULL,
                               .observe_ctx = n->sim->jsc,
                               .snapshot_entries = (uint64_t)n->sim->sc->snapshot_entries,
                               .meta_snapshot_entries = (uint64_t)n->sim->sc->meta_snapshot_entries};
        n->jsc = jscluster_new(n->server, n->js, &jcc, &error);
    }
    if (!n->server || (n->jetstream && !n->js) || (n->sim->n_nodes > 1 && !n->cluster) ||
        (n->cluster && n->js && !n->jsc)) {
        sim_log(n->sim, n->name, "restart", "failed: %s", error ? error->message : "?");
        cluster_free(n->cluster);
        n->cluster = NULL;
        jetstream_free(n->js);
        n->js = NULL;
        server_free(n->server);
        n->server = NULL;
        n->up = false;
        return false;
    }
    return true;
}

void sim_node_crash(SimNode *n) {
    if (!n->up) return;
    Sim *sim = n->sim;
    sim_log(sim, n->name, "crash", "incarnation %" G_GUINT64_FORMAT, n->incarnation);
    if (sim->raft) sim_raft_node_crash(sim->raft, n); /* memory is lost; the disk keeps what it keeps */
    n->up = false; /* from here every env op is a no-op */
    n->incarnation++;
    n->crashes++;
    sim_net_node_down(sim->net, n);
    GList *outs = g_hash_table_get_values(n->out); /* its dialled routes die with it */
    g_hash_table_remove_all(n->out);
    for (GList *l = outs; l; l = l->next) {
        SimRouteOut *o = l->data;
        if (o->c) sim_net_reset(o->c, "node crashed"); /* out_closed frees o */
        else o->detached = true;                        /* a close already queued frees it */
    }
    g_list_free(outs);
    JsCluster *jsc = n->jsc;
    n->jsc = NULL;
    jscluster_free(jsc);
    struct Cluster *cl = n->cluster;
    n->cluster = NULL;
    cluster_free(cl);
    n->cl_core = NULL;
    Server *s = n->server;
    JetStream *js = n->js;
    n->server = NULL;
    n->js = NULL;
    jetstream_free(js);
    server_free(s);
    g_hash_table_remove_all(n->timers);
    env_turn_queue_clear(&n->turn);
    g_hash_table_remove_all(n->conns);
    n->busy_until_ns = 0;
    SimDiskCrashReport r;
    sim_disk_crash(n->disk, sim->sc->crash_keep_p, sim->sc->crash_tear_p, &r);
    sim_disk_drop_fds(n->disk); /* the freed Server closed nothing: the node was already down */
    sim_log(sim, n->name, "disk", "power cut: %" G_GUINT64_FORMAT " unsynced writes, %" G_GUINT64_FORMAT
            " kept, %" G_GUINT64_FORMAT " torn, %" G_GUINT64_FORMAT " name changes lost",
            r.writes_unsynced, r.writes_kept, r.writes_torn, r.names_lost);
}

void sim_node_restart(SimNode *n) {
    if (n->up) return;
    sim_log(n->sim, n->name, "restart", "incarnation %" G_GUINT64_FORMAT, n->incarnation);
    n->restarts++;
    node_start(n);
}

void sim_node_pause(SimNode *n, int64_t duration_ns) {
    n->busy_until_ns = MAX(n->busy_until_ns, sim_now(n->sim)) + duration_ns;
}

void sim_node_clock_jump(SimNode *n, int64_t delta_ns) { n->wall_offset_ns += delta_ns; }

SimNode *sim_node_by_name(Sim *sim, const char *name) {
    for (int i = 0; i < sim->n_nodes; i++)
        if (strcmp(sim->nodes[i]->name, name) == 0) return sim->nodes[i];
    return NULL;
}

/* --- the world --- */


Sim *sim_new(const SimScenario *sc, uint64_t seed, SimTrace *trace) {
    Sim *sim = g_new0(Sim, 1);
    sim->seed = seed;
    sim->sc = sc;
    sim->trace = trace;
    rng_seed(&sim->root, seed);
    sim->net_rng = rng_derive(&sim->root, "net");
    sim->fault_rng = rng_derive(&sim->root, "faults");
    sim->wl_rng = rng_derive(&sim->root, "workload");
    sim_sched_init(&sim->sched);
    sim->end_ns = sc->duration_ns;
    sim->check_every = sc->check_every ? sc->check_every : 1;
    sim->n_nodes = sc->nodes;
    sim->nodes = g_new0(SimNode *, (gsize)sc->nodes);
    for (int i = 0; i < sc->nodes; i++) {
        SimNode *n = g_new0(SimNode, 1);
        n->sim = sim;
        n->index = i;
        g_snprintf(n->name, sizeof n->name, "n%d", i + 1);
        n->rng = rng_derive(&sim->root, n->name);
        n->env.ops = &sim_env_ops;
        n->env.world = n;
        n->disk = sim_disk_new(&n->rng);
        sim_disk_set_capacity(n->disk, sc->disk_capacity_bytes);
        n->timers = g_hash_table_new_full(u64_hash, u64_equal, NULL, g_free);
        env_turn_queue_init(&n->turn);
        n->conns = g_hash_table_new_full(u64_hash, u64_equal, g_free, NULL);
        n->out = g_hash_table_new_full(u64_hash, u64_equal, g_free, NULL);
        n->drift_ppm = sc->clock_drift_ppm == 0 ? 0
                       : (rng_double(&n->rng) * 2 - 1) * sc->clock_drift_ppm;
        server_config_init(&n->cfg);
        n->cfg.server_name = n->name;
        n->jetstream = sc->jetstream;
        jetstream_config_init(&n->js_cfg);
        n->js_cfg.store_dir = "data";
        n->js_cfg.sync_interval_ns = sc->sync_interval_ns;
        n->js_cfg.segment_bytes = sc->segment_bytes;
        n->js_cfg.clustered = sc->nodes > 1; /* as main.c: a cluster's streams are Raft groups' replicas */
        if (sc->max_pending_bytes) n->cfg.max_pending_bytes = sc->max_pending_bytes;
        if (sc->ping_interval_ns) n->cfg.ping_interval_ns = sc->ping_interval_ns;
        sim->nodes[i] = n;
    }
    sim->net = sim_net_new(sim, &sc->net);
    for (int a = 0; a < sc->nodes; a++)
        for (int b = 0; b < sc->nodes; b++) {
            SimLink l = sc->peer; /* swarm ranges: each link its own loss and duplication */
            if (sc->random.peer_loss_max > 0) l.drop_p = rng_double(&sim->fault_rng) * sc->random.peer_loss_max;
            if (sc->random.peer_dup_max > 0) l.dup_p = rng_double(&sim->fault_rng) * sc->random.peer_dup_max;
            if (sc->random.peer_reorder_max > 0) {
                l.long_p = rng_double(&sim->fault_rng) * sc->random.peer_reorder_max;
                l.long_min_ns = 200 * SIM_MS;
                l.long_max_ns = 2200 * SIM_MS;
            }
            sim_net_link_set(sim->net, a, b, &l);
        }
    sim_log(sim, "sim", "start", "seed %" G_GUINT64_FORMAT " scenario %s nodes %d", seed, sc->name, sc->nodes);
    if (sc->raft.enabled) sim->raft = sim_raft_new(sim);
    sim->jsc = sim_jsc_new(sim); /* before the nodes start: it watches their Raft groups from the first */
    for (int i = 0; i < sc->nodes; i++) {
        SimNode *n = sim->nodes[i];
        sim_log(sim, n->name, "restart", "boot, clock drift %.1f ppm", n->drift_ppm);
        node_start(n);
    }
    sim->wl = sim_workload_new(sim);
    sim_faults_schedule(sim);
    if (sim->raft) sim_raft_schedule(sim->raft); /* clients, the adversary, the liveness monitor */
    return sim;
}

void sim_run(Sim *sim) {
    uint64_t k = 0;
    while (!sim->stopped && sim_sched_step(&sim->sched, sim, sim->end_ns)) {
        sim_net_flush(sim->net);
        sim_jsc_step(sim->jsc); /* every step: replicas hold the same committed bytes */
        /* the whole chain after every event: the server, JetStream with every stream, store
         * and consumer, the routes, the JetStream cluster (server_check_contracts: every
         * contract, no O(size) walk);
         * every check_every steps the walks too (the trie's cache re-matched, each store's
         * index, num_pending recounted) */
        bool full = ++k % sim->check_every == 0;
        for (int i = 0; i < sim->n_nodes; i++)
            if (sim->nodes[i]->up && sim->nodes[i]->server) {
                if (full) server_check_invariants(sim->nodes[i]->server);
                else server_check_contracts(sim->nodes[i]->server);
                sim->invariant_checks++;
            }
    }
    if (sim->sched.now_ns < sim->end_ns) sim->sched.now_ns = sim->end_ns;
    sim_log(sim, "sim", "end", "%" G_GUINT64_FORMAT " steps", sim->sched.steps);
}

void sim_free(Sim *sim) {
    if (!sim) return;
    sim_jsc_free(sim->jsc);
    sim_workload_free(sim->wl);
    sim_faults_free(sim);
    sim_raft_free(sim->raft);
    for (int i = 0; i < sim->n_nodes; i++) {
        SimNode *n = sim->nodes[i];
        n->up = false;
        jscluster_free(n->jsc);
        cluster_free(n->cluster);
        jetstream_free(n->js);
        server_free(n->server);
        g_hash_table_destroy(n->timers);
        env_turn_queue_free(&n->turn);
        g_hash_table_destroy(n->conns);
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, n->out); /* routes still open at the end */
        while (g_hash_table_iter_next(&it, NULL, &v)) g_free(v);
        g_hash_table_destroy(n->out);
        sim_disk_free(n->disk);
        g_free(n);
    }
    g_free(sim->nodes);
    sim_net_free(sim->net);
    sim_sched_clear(&sim->sched);
    g_free(sim);
}
