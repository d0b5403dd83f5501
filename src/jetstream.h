/* jetstream.h — JetStream for one server: the streams, their folder, the API table and
 * subscription, and group commit at the end of each loop turn.
 *
 * WHAT IT IS
 *   The owner of every Stream (and, through each stream, its ConsumerSet). It loads the
 *   streams found in the store directory at start, answers `$JS.API.>` through one
 *   registration table (the endpoint files add their rows: stream_api.c, consumer_api.c),
 *   keeps the registry sorted by name (NAMES and LIST page through it in that order), and
 *   runs group commit: streams that appended during a loop turn ask for a flush, and one
 *   env_turn_end call flushes them all at the turn's end.
 *
 * LAYERS
 *   JetStream sits on the server (server.h) and the server does not know it: main.c (and the
 *   simulator, the tests, the fuzzers) compose
 *       srv = server_new(env, &scfg, &err);
 *       js  = jetstream_new(srv, &jcfg, &err);
 *       stream_api_register(js); consumer_api_register(js);
 *       ...
 *       jetstream_free(js); server_free(srv);
 *   jetstream_new sets INFO's "jetstream" flag and registers its invariant chain with
 *   server_add_check, so server_check_invariants reaches every stream, store and consumer.
 *
 * INTERFACE
 *   jetstream_config_init(cfg)                defaults: store_dir "./data", sync always
 *   jetstream_new(srv, cfg, error)            load every stream, subscribe to $JS.API.>
 *                                             (and $JS.<domain>.API.> with a domain)
 *   jetstream_free(js)                        flush, answer waiting publishers, close streams
 *   jetstream_api_register(js, rows, n)       add endpoint rows (jsapi.h) to the $JS.API table
 *   jetstream_set_sync(js, policy, interval)  how records become durable before the ack
 *   jetstream_lookup / jetstream_streams      by name / all, sorted by name
 *   jetstream_add / jetstream_delete          create (with the cross-stream overlap check)
 *   jetstream_update(js, st, cfg, error)      stream_update, and the subject index follows
 *   jetstream_check_overlap(js, cfg, except)  10065 if cfg's subjects meet another stream's
 *   jetstream_set_api_filter / _set_clustered the cluster layer's hooks (jscluster.c)
 *   jetstream_check_invariants(js)            every stream, store and consumer (also run by
 *                                             server_check_invariants)
 *
 * INVARIANTS
 *   - No two streams have overlapping subjects.
 *   - A stream is in the flush list at most once, and only while it is registered; the
 *     end-of-turn flush is asked for whenever the list is non-empty.
 */
#ifndef MINIJET_JETSTREAM_H
#define MINIJET_JETSTREAM_H

#include <glib.h>

#include "jsapi.h"
#include "server.h"
#include "store.h"
#include "stream.h"

typedef struct JetStream JetStream;

typedef struct JetStreamConfig {
    const char *store_dir;     /* the store directory (env paths); default "./data" */
    int64_t sync_interval_ns;  /* durability: 0 = ack after fsync (group commit, default);
                                * > 0 = ack after write, fsync every N ns (nats-server's
                                * sync_interval); < 0 = never fsync (tests, benchmarks) */
    uint64_t segment_bytes;    /* roll file streams' segments at this size; 0 = the limit
                                * (the simulator makes it small to seal segments often) */
    int64_t max_memory_bytes;  /* max_memory_store: memory streams' total; -1 = no limit */
    int64_t max_storage_bytes; /* max_file_store: file streams' total; -1 = no limit */
    bool restore_later;        /* jetstream_new loads no stream: jetstream_restore_step does */
    const char *domain;        /* jetstream { domain }: NULL = none (jetstream.c, THE DOMAIN) */
    bool clustered;            /* every stream is a replica of a Raft group (jscluster.c): at
                                * the default policy its store is STORE_SYNC_REPLICA, the
                                * group's log being the durable record (THE STORE BEHIND THE LOG) */
} JetStreamConfig;

void jetstream_config_init(JetStreamConfig *cfg);

/* With cfg->restore_later: load the streams found at start, as many as fit in budget_ns
 * (at least one) per call; TRUE when every stream is loaded (jetstream.c, START-UP). */
bool jetstream_restore_step(JetStream *js, int64_t budget_ns);

/* The account's storage (jetstream.c, ACCOUNT LIMITS), per kind (memory, file). */
typedef struct JetStreamUsage {
    int64_t memory, storage;                   /* bytes stored now */
    int64_t reserved_memory, reserved_storage; /* the sum of the streams' max_bytes */
    int64_t max_memory, max_storage;           /* the limits; -1 = none */
} JetStreamUsage;
void jetstream_usage(JetStream *js, JetStreamUsage *out);
/* May a stream with cfg be created (old == NULL) or updated from old? Its max_bytes must fit
 * beside the other streams' reservations: else 10028 (memory) or 10047 (file). */
bool jetstream_check_reservation(JetStream *js, const StreamConfig *cfg, const StreamConfig *old,
                                 GError **error);
JetStream *jetstream_new(Server *srv, const JetStreamConfig *cfg, GError **error);
void jetstream_free(JetStream *js);
/* STORE_SYNC_ALWAYS (default: ack after fsync), STORE_SYNC_INTERVAL (ack after write,
 * fsync every interval_ns), STORE_SYNC_NEVER (tests, benchmarks). Applies to streams
 * opened afterwards. */
void jetstream_set_sync(JetStream *js, StoreSyncPolicy policy, int64_t interval_ns);
void jetstream_sync_policy(JetStream *js, StoreSyncPolicy *policy, int64_t *interval_ns);

Stream *jetstream_lookup(JetStream *js, const char *name);
/* Every stream sorted by name; g_ptr_array_unref it. */
GPtrArray *jetstream_streams(JetStream *js);
/* Create a stream from a validated config (taken). */
Stream *jetstream_add(JetStream *js, StreamConfig *cfg, GError **error);
void jetstream_delete(JetStream *js, Stream *st);
/* stream_update (cfg taken) and re-index the stream's subjects for the overlap check. */
bool jetstream_update(JetStream *js, Stream *st, StreamConfig *cfg, GError **error);
bool jetstream_check_overlap(JetStream *js, const StreamConfig *cfg, Stream *except, GError **error);

/* Add endpoint rows (static storage) to the $JS.API table; a prefix registered twice is a
 * programmer error. */
void jetstream_api_register(JetStream *js, const JsApiEndpoint *rows, size_t n);
/* Answer one $JS.API request through the table here, past the cluster's filter (jscluster.c
 * runs a replicated request on every replica this way). */
void jetstream_api_dispatch(JetStream *js, const ServerMsg *m);
/* A request to answer with jsapi.h's helpers, counted in $JS.API.INFO's numbers; reply taken. */
JsApiReq jetstream_api_req(JetStream *js, const ServerMsg *m, char *reply);

Server *jetstream_server(JetStream *js);
Env *jetstream_env(JetStream *js);
const char *jetstream_streams_dir(JetStream *js);
const char *jetstream_store_dir(JetStream *js);
/* The JetStream domain, or NULL. */
const char *jetstream_domain(JetStream *js);
/* Is d a domain nats-server accepts (not empty; no '.', '*', '>' or white space)? */
bool jetstream_domain_valid(const char *d);
/* API counters for $JS.API.INFO's "api" object. */
void jetstream_api_stats(JetStream *js, uint64_t *total, uint64_t *errors);

/* The cluster layer (jscluster.c) sees every $JS.API request first: returning TRUE means it
 * answered (or decided this server stays silent); FALSE lets jsapi answer locally. */
typedef bool (*JetStreamApiFilter)(void *ctx, const ServerMsg *m);
void jetstream_set_api_filter(JetStream *js, JetStreamApiFilter fn, void *ctx);
/* In a cluster, num_replicas > 1 is the cluster's to place, not an error (10074). */
void jetstream_set_clustered(JetStream *js, bool on);
bool jetstream_clustered(JetStream *js);

void jetstream_check_invariants(JetStream *js);
/* The same without walking stores or recounting num_pending (server_check_contracts). */
void jetstream_check_contracts(JetStream *js);

#endif
