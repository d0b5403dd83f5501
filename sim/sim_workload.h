/* sim_workload.h — simulated clients: the project's sans-IO client (src/client/client.h) driven by
 * the scheduler, recording every operation for the checkers.
 *
 * INTERFACE
 *   sim_workload_new(sim) / sim_workload_free(wl)   clients from the scenario's [client.*]
 *   sim_workload_stall(wl, group, duration)         a fault: a group stops reading/writing
 *   sim_workload_finish(wl)                         end of run: close the open records
 *
 * WHAT IS RECORDED (the checkers' input, sim_check.c)
 *   Every publish: publisher, sequence number, invoke time; the payload carries
 *   "<publisher>:<seq>:<invoke_ns>:" so a delivery names exactly what was published.
 *   Every delivery: subscriber, publisher, sequence, time.
 *   Every request: invoke time, complete time, result (ok, timeout, no-responders,
 *   disconnected, bad-reply).
 *   Every connection's ready windows: [handshake done, connection lost).
 *   Slow-consumer cut-offs (-ERR 'Slow Consumer' or a server close while reading slowly).
 *
 * JETSTREAM (tables designed now, filled when streams land)
 *   js-publisher: ops(kind='js-pub', result='ack seq=N' | 'timeout' | 'error ...').
 *   js-consumer:  deliveries with stream sequence and redelivery count; acks as ops.
 *   Checker rules: every acked publish appears in the stream exactly at its acked sequence
 *   after any crash/restart; a consumer sees every acked message at least once; nothing is
 *   delivered that was never published; redelivery only after ack_wait.
 *
 * INVARIANTS
 *   - Every random choice (reconnect backoff, start jitter, inbox names) comes from the
 *     workload's stream; records are kept in arrays indexed by client and sequence, never
 *     keyed by pointer.
 */
#ifndef MINIJET_SIM_WORKLOAD_H
#define MINIJET_SIM_WORKLOAD_H

#include "client/client.h"
#include "sim_env.h"
#include "sim_scenario.h"

typedef struct SimClient SimClient;

/* A request in flight: core request/reply, or a JetStream API call / publish awaiting a PubAck. */
typedef enum { SIM_REQ_CORE, SIM_REQ_JS_CREATE, SIM_REQ_JS_PUB } SimReqKind;
typedef struct SimReq {
    uint64_t id;
    SimReqKind kind;
    int64_t invoke_ns;
    uint64_t pub_seq;       /* SIM_REQ_JS_PUB: index + 1 into the client's js_log */
    char *payload;
} SimReq;

/* One JetStream publish and its outcome (the PubAck table of the checkers). */
typedef enum { SIM_JS_PENDING, SIM_JS_ACK, SIM_JS_ERROR, SIM_JS_TIMEOUT, SIM_JS_DISCONNECTED, SIM_JS_NOT_SENT } SimJsResult;
typedef struct SimJsRec {
    int64_t invoke_ns, complete_ns;
    SimJsResult result;
    uint64_t stream_seq;    /* SIM_JS_ACK: where the server said it stored the message */
} SimJsRec;

typedef struct SimWindow {
    int64_t from_ns, to_ns; /* to_ns = INT64_MAX while still up */
    int node;               /* the node it was connected to */
} SimWindow;

typedef struct SimPubRec {
    int64_t invoke_ns;
    bool sent;              /* false: the client was disconnected, nothing left it */
} SimPubRec;

typedef enum { SIM_REQ_OK, SIM_REQ_TIMEOUT, SIM_REQ_NO_RESPONDERS, SIM_REQ_DISCONNECTED, SIM_REQ_BAD } SimReqResult;
typedef struct SimReqRec {
    int64_t invoke_ns, complete_ns;
    SimReqResult result;
} SimReqRec;

struct SimClient {
    SimWorkload *wl;
    int index;              /* in wl->clients */
    int role_index;         /* publishers: index among publishers (the payload's id) */
    char name[48];
    const SimClientGroup *g;
    int node;               /* the node it is connected (or dialling) to */
    int servers[SIM_MAX_NODES]; /* its server list: home node first, the rest shuffled (nats.js) */
    int server_pos;
    Client *c;
    SimConn *conn;
    uint64_t generation;    /* bumps per connection: stale events recognise themselves */
    bool ready;
    GArray *windows;        /* of SimWindow */
    uint64_t sid;
    /* publisher */
    GArray *pubs;           /* of SimPubRec, index = seq - 1 */
    /* subscriber: per publisher, the highest seq seen and a seen-bitmap */
    GArray *last_seq;       /* uint64 per publisher */
    GPtrArray *seen;        /* GByteArray per publisher (bit per seq) */
    uint64_t delivered;
    uint64_t slow_cuts;     /* -ERR 'Slow Consumer' received */
    uint64_t server_closes; /* the server closed the connection (slow consumer, stale, ...) */
    uint64_t reconnects;
    /* requester */
    GHashTable *inflight;   /* request id -> SimReq*, lookup only */
    GArray *req_log;        /* of SimReqRec, in completion order */
    /* js-publisher */
    bool js_ready;          /* the stream exists (create answered) on this connection */
    GArray *js_log;         /* of SimJsRec, index = own seq - 1 */
    uint64_t js_acks;
    char inbox[96];         /* the client's inbox prefix */
    uint64_t req_ok, req_fail;
};

/* What one durable consumer group received, per stream sequence (index = sseq - 1). */
typedef struct SimConsumed {
    uint32_t deliveries;    /* how many times any member received it */
    uint32_t pub;           /* the js-publisher and its seq this sseq carried (first seen) */
    uint64_t pub_seq;
    uint64_t max_dc;        /* highest delivery count the server stamped */
    uint64_t acked_dc;      /* the delivery we acked (0: never acked) */
    bool acked;
    int64_t first_ns, last_ns;
    int64_t unacked_ns;     /* the current unacked delivery's time (0: acked or none) */
    int last_worker;        /* the client (wl->clients index) that got the last delivery */
} SimConsumed;

typedef struct SimConsumerLog {
    const SimClientGroup *g;
    GArray *recs;           /* of SimConsumed */
    int64_t created_ns;     /* when a member first heard the durable was created (0: not yet) */
} SimConsumerLog;

typedef struct SimViolation {
    bool liveness;          /* false: safety */
    char *what;
} SimViolation;

struct SimWorkload {
    Sim *sim;
    GPtrArray *clients;     /* of SimClient*, in scenario order */
    GPtrArray *publishers;  /* the subset, by role_index */
    GPtrArray *js_publishers; /* js-publishers, by role_index (payloads start with 'J') */
    GPtrArray *consumer_logs; /* of SimConsumerLog*, one per js-consumer group */
    GPtrArray *violations;  /* of SimViolation* */
    int64_t bucket_ns;      /* metrics resolution */
    GPtrArray *lat_buckets; /* GArray of int64 delivery latencies per bucket */
    GArray *pub_count, *msg_count, *req_count; /* uint64 per bucket */
    /* the same per node, by the node the client was on (a cluster's per-node chart) */
    GArray *node_pub_count[SIM_MAX_NODES], *node_msg_count[SIM_MAX_NODES];
    GPtrArray *req_lat_buckets;
    int64_t last_fault_end_ns; /* for liveness: faults stop after this */
    int64_t last_upheaval_ns; /* the latest fault or stream leader change (or a moment with two leaders):
                               * what may make a server hand out a delivery again early (-1: none) */
    uint64_t ops;
};

SimWorkload *sim_workload_new(Sim *sim);
void sim_workload_free(SimWorkload *wl);
void sim_workload_stall(SimWorkload *wl, const char *group, int64_t duration_ns);
void sim_workload_finish(SimWorkload *wl);
void sim_workload_violation(SimWorkload *wl, bool liveness, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void sim_workload_note_fault(SimWorkload *wl, int64_t end_ns);

/* sim_jetstream.c: the js-publisher's behaviour, called by the workload */
void sim_js_connected(SimClient *sc);
void sim_js_publish_tick(void *ctx, void *a, uint64_t b);
void sim_js_reply(SimClient *sc, SimReq *r, ClientReplyStatus st, const ClientMsg *m);
void sim_js_request_timeout(SimClient *sc, SimReq *r);
char *sim_js_payload(const SimClient *sc, uint64_t seq, size_t *len);
/* Was this exact payload sent by a js-publisher? (parses "J<pub>:<seq>:<t>:") */
bool sim_js_payload_known(SimWorkload *wl, const uint8_t *data, size_t len);
void sim_workload_request_timeout(void *ctx, void *a, uint64_t id);
/* sim_jsconsumer.c: the js-consumer's behaviour */
SimConsumerLog *sim_consumer_log(SimWorkload *wl, const SimClientGroup *g);
void sim_jsc_connected(SimClient *sc);
void sim_jsc_created(SimClient *sc, ClientReplyStatus st, const ClientMsg *m);
void sim_jsc_create_timeout(SimClient *sc);
void sim_jsc_fetch_tick(void *ctx, void *a, uint64_t b);
void sim_jsc_message(SimClient *sc, const ClientMsg *m);
/* shared plumbing */
void sim_client_pump(SimClient *sc);
int64_t sim_client_stop(SimClient *sc);
void sim_workload_count(SimWorkload *wl, GArray *counts, int64_t t);
void sim_workload_sample(SimWorkload *wl, GPtrArray *buckets, int64_t t, int64_t v);

#endif
