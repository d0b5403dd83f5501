/* sim_env.h — the simulated world: nodes, each with its own Env, clock, disk and Server.
 *
 * WHAT IT IS
 *   The second implementation of src/env.h. A `Sim` is one run: the scheduler and virtual
 *   time (sim_sched.h), the network (sim_net.h), the trace (sim_trace.h), the workload
 *   (sim_workload.h) and N broker nodes. Each `SimNode` owns an `Env` whose ops are
 *   implemented here on top of the simulated network and disk, and a `Server` created with
 *   server_new(&node->env, ...) exactly as main.c creates one on the real world.
 *
 * INTERFACE
 *   sim_new(scenario, seed, trace) / sim_free(sim)
 *   sim_run(sim)                      run until the scenario's end; returns false if an
 *                                     internal invariant failed (the run is aborted)
 *   sim_now(sim), sim_at(sim, t, fn, a, b), sim_after(sim, dt, fn, a, b)
 *   sim_node_by_name(sim, "n1")
 *   sim_node_crash / sim_node_restart / sim_node_pause / sim_node_clock_jump
 *   sim_node_defer(node, fn, a, b)    re-run an event when the node is no longer busy
 *   sim_node_accept / sim_node_bytes / sim_node_closed  the network calling into a node
 *   sim_log(sim, node, kind, fmt, ...) a trace event stamped with the current time
 *
 * INVARIANTS
 *   - A crashed node runs nothing: its timers are forgotten, its connections are reset, its
 *     Server is freed while every env op is a no-op, and its disk loses unsynced writes.
 *   - A node's monotonic clock never goes backwards (drift scales it, a clock jump moves
 *     only the wall clock, as NTP stepping does).
 *   - A busy node (paused, or stalled in a slow fsync) receives nothing until it is free;
 *     deferred events keep their relative order.
 *   - The whole invariant chain (server, JetStream, streams, stores, consumers) runs on every
 *     live node after every step: server_check_contracts(), and server_check_invariants()
 *     (the same with every O(size) walk) every check_every steps.
 *   - In a [raft] run a node hosts a Raft member (sim_raft.c) instead of a Server: boot,
 *     crash and restart start, drop and recover it (from the same simulated disk).
 */
#ifndef MINIJET_SIM_ENV_H
#define MINIJET_SIM_ENV_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "env.h"
#include "jetstream.h"
#include "server.h"
#include "sim_disk.h"
#include "sim_sched.h"
#include "sim_trace.h"

typedef struct Sim Sim;
typedef struct SimNode SimNode;
typedef struct SimNet SimNet;
typedef struct SimConn SimConn;
typedef struct SimScenario SimScenario;
typedef struct SimWorkload SimWorkload;
typedef struct SimRaft SimRaft;

struct SimNode {
    Sim *sim;
    int index;            /* 0-based; the name is "n<index+1>" */
    char name[8];
    Env env;
    Rng rng;           /* this node's stream: env_random_u64, disk crash choices */
    SimDisk *disk;
    Server *server;       /* NULL while crashed */
    JetStream *js;        /* on server; NULL while crashed or without [cluster] jetstream */
    ServerConfig cfg;
    JetStreamConfig js_cfg;
    struct JsCluster *jsc; /* nodes > 1 with JetStream: clustered JetStream (src/jscluster.c) */
    bool jetstream;       /* compose JetStream on the server at every start */
    bool up;
    uint64_t incarnation; /* bumps at every crash: stale timers recognise themselves */
    double drift_ppm;     /* this node's clock runs (1 + drift_ppm/1e6) times real speed */
    int64_t wall_offset_ns; /* clock jumps accumulate here */
    int64_t busy_until_ns;
    int64_t fsync_extra_ns; /* the disk-slow fault adds this to every fsync */
    GHashTable *timers;   /* EnvTimer -> SimTimer*, lookup only */
    EnvTurnQueue turn;    /* env_turn_end calls waiting for the end of this instant's turn */
    uint64_t next_timer;
    uint64_t next_conn;   /* EnvConn ids count up from 1 for the node's lifetime */
    GHashTable *conns;    /* EnvConn -> SimConn*, lookup only */
    uint64_t crashes, restarts;
    bool corrupted;       /* a fault rotted data at rest on this disk: its lone copy may be gone */
    /* clustering (nodes > 1): the broker's Cluster, its listener and its outbound routes */
    struct Cluster *cluster;
    EnvHandlers cl_h;
    void *cl_core;        /* NULL: no cluster listener */
    int cl_port;
    GHashTable *out;      /* EnvConn -> SimRouteOut*: routes this node dialled */
};

struct Sim {
    uint64_t seed;
    const SimScenario *sc;
    Rng root;          /* never drawn from directly: streams are derived from it */
    Rng net_rng, fault_rng, wl_rng;
    SimSched sched;
    SimTrace *trace;
    SimNode **nodes;
    int n_nodes;
    SimNet *net;
    SimWorkload *wl;
    int64_t end_ns;
    uint64_t check_every;
    uint64_t invariant_checks;
    bool stopped;
    GPtrArray *owned_faults; /* random faults generated for this run (SimFault*) */
    const char *bug;         /* --bug: a deliberate transport bug the checkers must catch */
    SimRaft *raft;           /* a [raft] run: a Raft group instead of a Server on each node */
    struct SimJsc *jsc;      /* clustered JetStream: replicas compared every step (sim_jscluster.c) */
};

Sim *sim_new(const SimScenario *sc, uint64_t seed, SimTrace *trace);
void sim_free(Sim *sim);
void sim_run(Sim *sim);

static inline int64_t sim_now(const Sim *sim) { return sim->sched.now_ns; }
static inline void sim_at(Sim *sim, int64_t t, SimEventFn fn, void *a, uint64_t b) {
    sim_sched_at(&sim->sched, t, fn, a, b);
}
static inline void sim_after(Sim *sim, int64_t dt, SimEventFn fn, void *a, uint64_t b) {
    sim_sched_after(&sim->sched, dt, fn, a, b);
}
#define sim_log(sim, node, kind, ...) \
    sim_trace_event((sim)->trace, sim_now(sim), (node), (kind), __VA_ARGS__)

SimNode *sim_node_by_name(Sim *sim, const char *name);
void sim_node_crash(SimNode *n);
void sim_node_restart(SimNode *n);
void sim_node_pause(SimNode *n, int64_t duration_ns);
void sim_node_clock_jump(SimNode *n, int64_t delta_ns);
bool sim_node_defer(SimNode *n, SimEventFn fn, void *a, uint64_t b);

/* The network calling into a node (only when the node is up and not busy). */
EnvConn sim_node_accept(SimNode *n, SimConn *c, int peer_port, bool route);
bool sim_node_listening(const SimNode *n); /* its cluster listener is open */
#define SIM_CLUSTER_PORT 6222              /* every node's cluster port (host = its name) */
void sim_node_bytes(SimNode *n, EnvConn id, const uint8_t *data, size_t len);
void sim_node_closed(SimNode *n, EnvConn id);

#endif
