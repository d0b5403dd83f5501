/* sim_scenario.h — a scenario file (GKeyFile/INI): the cluster, the workload, the faults.
 *
 * INTERFACE
 *   sim_scenario_load(path, error)            parse and validate a file
 *   sim_scenario_parse(text, len, path, error) the same from memory (replay keeps the text)
 *   sim_scenario_free(sc)
 *   Errors are one line: "FILE:LINE: [group] key: what is wrong" (LINE when known).
 *
 * THE FORMAT (full reference with examples: book/08-simulator.md, sim/scenarios/NAME.ini)
 *   [run]      duration, drain, settle, grace, check_every, description
 *   [cluster]  nodes, jetstream, sync (always|never|DURATION), max_pending, ping_interval,
 *              clock_drift_ppm, snapshot_entries, meta_snapshot_entries (the stream groups and
 *              the meta group compact after this many applied entries; defaults
 *              SIM_SNAPSHOT_ENTRIES and SIM_META_SNAPSHOT_ENTRIES, small so every run compacts)
 *   [net]      latency (min..max), kernel_buffer, peer (lan|unreliable|reorder), peer_latency
 *              (min..max, overrides the preset's delay), reconnect
 *   [disk]     fsync_latency (min..max), capacity, crash_keep, crash_tear
 *   [client.NAME]  type (publisher|subscriber|requester|responder|js-publisher|js-consumer),
 *              count, node, subject, queue, stream, rate, size, start, stop, read_rate,
 *              expect, timeout, cycle, echo, batch, ack_wait, ack_drop (js-consumer),
 *              replicas (js-publisher: the stream's num_replicas; nodes > 1 is clustered JetStream),
 *              retention (js-publisher: limits|workqueue|interest; acked messages leave the
 *              stream, on every replica through the stream's log), stop (a js-consumer's
 *              workers stop pulling then; default: the run's end)
 *   [faults]   any key name = "<time> <action> <args...>", e.g.  f1 = 2s crash n1
 *   [random]   crash, reset, pause, clock_jump, bitflip, partition (events per second), from,
 *              until, peer_loss, peer_dup, peer_reorder (maxima: every peer link draws its
 *              own rate per seed)
 *   [raft]     the section's presence makes the run a Raft cluster (sim_raft.h) instead of
 *              broker nodes with clients: rate, size, tick, election_ticks, heartbeat_ticks,
 *              pre_vote, snapshot_every, max_append, bug, adversary, rounds, leader_within
 *   Durations: 250ms 2s 1m 10us 500ns; sizes: 64 4KiB 1MiB; rates: 1000/s.
 */
#ifndef MINIJET_SIM_SCENARIO_H
#define MINIJET_SIM_SCENARIO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim_net.h"

#define SIM_MAX_NODES 16
#define SIM_SNAPSHOT_ENTRIES 64     /* the stream groups' compaction threshold unless a scenario sets one */
#define SIM_META_SNAPSHOT_ENTRIES 2 /* the meta group's (its log has an entry per stream change) */

typedef enum {
    SIM_CLIENT_PUBLISHER,
    SIM_CLIENT_SUBSCRIBER,
    SIM_CLIENT_REQUESTER,
    SIM_CLIENT_RESPONDER,
    SIM_CLIENT_JS_PUBLISHER, /* publishes to a stream, awaits PubAcks (when streams land) */
    SIM_CLIENT_JS_CONSUMER,  /* pull/push consumer with acks (when consumers land) */
} SimClientKind;

typedef struct SimClientGroup {
    char *name;
    SimClientKind kind;
    int count;
    int node;                /* index, or -1: spread over nodes */
    char *subject;
    char *queue;             /* NULL when none */
    char *stream;            /* js-publisher: the stream (created on connect, subjects = subject) */
    double rate_per_s;       /* publishers, requesters */
    size_t size_bytes;       /* payload size */
    int64_t start_ns, stop_ns; /* stop 0 = duration - drain */
    uint64_t read_rate_bps;  /* 0 = reads as fast as bytes arrive */
    bool expect_slow;        /* the server must cut this client off as a slow consumer */
    int64_t timeout_ns;      /* requesters */
    int64_t cycle_ns;        /* > 0: drop the connection and reconnect every cycle (storms) */
    bool echo;
    int batch;               /* js-consumer: messages per pull request */
    int64_t ack_wait_ns;     /* js-consumer: the consumer's ack_wait */
    double ack_drop;         /* js-consumer: chance to leave a delivery unacked (redelivery) */
    int replicas;            /* js-publisher: the stream's num_replicas (1..5, at most nodes) */
    char *retention;         /* js-publisher: "limits" (NULL: the default), "workqueue", "interest" */
} SimClientGroup;

typedef enum {
    SIM_FAULT_CRASH, SIM_FAULT_RESTART, SIM_FAULT_PAUSE, SIM_FAULT_CLOCK_JUMP,
    SIM_FAULT_RESET_CLIENTS, SIM_FAULT_STALL, SIM_FAULT_PARTITION, SIM_FAULT_HEAL,
    SIM_FAULT_DISK_BITFLIP, SIM_FAULT_DISK_READFLIP, SIM_FAULT_DISK_BAD_SECTOR,
    SIM_FAULT_DISK_MISDIRECT, SIM_FAULT_DISK_FULL, SIM_FAULT_DISK_SLOW,
    SIM_FAULT_DISK_SYNC_EIO, SIM_FAULT_DISK_SYNC_ENOSPC, SIM_FAULT_DISK_TRUNCATE,
    SIM_FAULT_JS_SCALE, SIM_FAULT_JS_PEER_REMOVE, /* an operator's request (clustered JetStream) */
} SimFaultKind;

/* [raft] runs: "crash leader" hits whoever leads when the fault fires; "restart leader"
 * restarts the node the last "crash leader" hit; "pause leader" pauses the current leader. */
#define SIM_FAULT_NODE_LEADER (-2)
/* clustered JetStream runs (nodes > 1, jetstream): "leader" is the first js-publisher stream's
 * leader when the fault fires, "follower" a live node hosting one of its other replicas;
 * crash, restart, pause, clock-jump and partition ("partition leader": the leader alone on
 * one side) take them. */
#define SIM_FAULT_NODE_FOLLOWER (-3)

typedef struct SimFault {
    int64_t at_ns;
    SimFaultKind kind;
    int node;                /* target node index (-1: none; SIM_FAULT_NODE_LEADER) */
    GArray *side_a, *side_b; /* partition: node indexes of each side (int) */
    char *target;            /* stall: client group; disk faults: path or NULL */
    int64_t duration_ns;     /* pause, stall, disk-slow: how long; clock-jump: delta; js-scale:
                                the num_replicas asked for */
    char *text;              /* the line as written, for the trace */
} SimFault;

typedef struct SimRandomFaults {
    double crash_per_s, reset_per_s, pause_per_s, clock_jump_per_s, bitflip_per_s;
    double partition_per_s;  /* isolate a node or split into halves; healed 200 ms - 3 s later */
    double peer_loss_max, peer_dup_max; /* swarm: each link's loss/dup drawn in [0, max] per seed */
    double peer_reorder_max; /* swarm: each link's chance of a 200 ms - 2.2 s hold, in [0, max] */
    int64_t from_ns, until_ns;
} SimRandomFaults;

/* [raft]: a Raft group on the nodes (sim_raft.c). */
typedef struct SimRaftConfig {
    bool enabled;
    double rate_per_s;       /* client proposals per second (0: none) */
    size_t size_bytes;       /* proposal payload (>= 8: the first 8 bytes are its value) */
    int64_t tick_ns;         /* raft_tick period on each node's clock */
    int election_ticks, heartbeat_ticks;
    bool pre_vote;
    int snapshot_every;      /* compact after this many applied entries (0: never) */
    uint32_t max_append;     /* entries per AppendEntries (0: the default batch) */
    unsigned bug;            /* RaftBug flags: a deliberately broken variant */
    bool figure8;            /* adversary = figure8: section 9.4's adversary drives the net */
    int rounds;              /* adversary rounds */
    int64_t adversary_from_ns;
    int64_t leader_within_ns; /* liveness: a leader within this once a majority is connected */
} SimRaftConfig;

struct SimScenario {
    char *path, *name, *description, *text;
    int64_t duration_ns, drain_ns, settle_ns, grace_ns;
    uint64_t check_every;
    int nodes;
    unsigned cluster_bug; /* --bug route-*: ClusterBug flags (src/route.h); never from a file */
    unsigned jsc_bug;     /* --bug js-*: JsClusterBug flags (src/jscluster.h); never from a file */
    bool jetstream;
    int64_t sync_interval_ns; /* ServerConfig.sync_interval_ns: 0 always, > 0 every N ns, < 0 never */
    size_t max_pending_bytes;
    uint64_t segment_bytes;   /* [disk] segment_bytes: JetStreamConfig.segment_bytes (0 = the limit) */
    int64_t ping_interval_ns;
    double clock_drift_ppm;
    int snapshot_entries;      /* [cluster] snapshot_entries */
    int meta_snapshot_entries; /* [cluster] meta_snapshot_entries */
    SimNetConfig net;
    SimLink peer;
    int64_t reconnect_min_ns, reconnect_max_ns;
    int64_t fsync_min_ns, fsync_max_ns;
    uint64_t disk_capacity_bytes;
    double crash_keep_p, crash_tear_p;
    GPtrArray *groups;       /* of SimClientGroup* */
    GPtrArray *faults;       /* of SimFault*, sorted by time (stable) */
    SimRandomFaults random;
    SimRaftConfig raft;
};

SimScenario *sim_scenario_load(const char *path, GError **error);
SimScenario *sim_scenario_parse(const char *text, size_t len, const char *path, GError **error);
void sim_scenario_free(SimScenario *sc);
const char *sim_client_kind_name(SimClientKind k);
/* "always" -> 0, "never" -> -1, "2m" -> 120e9: ServerConfig.sync_interval_ns */
bool sim_parse_sync(const char *s, int64_t *out);
const char *sim_fault_kind_name(SimFaultKind k);
/* The deliberate bugs (--bug NAME, [raft] bug = NAME): one name each, listed by `minijet-sim list`. */
typedef struct {
    const char *name;
    bool raft; /* a Raft bug: [raft] runs only */
    const char *what;
} SimBug;
extern const SimBug sim_bugs[]; /* ends with a NULL name */


/* "raft-commit-old-term", "raft-no-noop", "none" (or joined by ',') -> RaftBug flags */
bool sim_parse_raft_bug(const char *s, unsigned *out);

#endif
