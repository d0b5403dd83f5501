/* stream.h — one stream: its log (a Store), its subjects on the bus, and the publish path.
 *
 * WHAT IT IS
 *   A stream listens on its subjects through the server's internal client, checks every
 *   published message against the stream's rules (expected-* headers, dedup, rollups, size,
 *   limits), appends it to its store and answers the publisher with a PubAck once the record
 *   is durable (group commit: the stream asks its host for a flush at the end of the loop turn,
 *   stream_publish.c sends the PubAcks once the store says durable; the host's half, the
 *   flush list, is in jetstream.c). It enforces max_age with an env timer and answers the
 *   questions the API asks (info, purge, get, delete).
 *
 * LAYERS
 *   A stream knows the server below it and nothing above: not JetStream (its host is a
 *   StreamHost of plain values and two callbacks), not its consumers (they register a
 *   StreamHooks table and hear of every append and removal through it).
 *
 * INTERFACE
 *   stream_open(host, cfg, created_ns, error) open or create the store, subscribe; cfg taken
 *   stream_set_hooks(st, hooks, ctx)          who hears of appends and removals (consumer set)
 *   stream_hooks_ctx(st, hooks)               that ctx, if hooks is the table registered
 *   stream_close(st)                          flush, answer waiting publishers, unsubscribe
 *   stream_destroy(st)                        close and delete its files
 *   stream_save_meta(st, error)               persist config + created (atomic JSON file)
 *   stream_update(st, cfg, error)             new config (already validated/checked); cfg taken
 *   stream_flush(st)                          group commit: one store flush, then the PubAcks
 *   stream_purge / stream_remove_msg          the API's deletions, with sealed/deny checks
 *   stream_build_info(st, b, req)             "config", "created", "state" members
 *   stream_config(st), stream_store(st), stream_name(st)
 *   stream_check_invariants(st)
 *
 * INVARIANTS
 *   - Every waiting PubAck is for a record appended to this stream's store and not yet
 *     known durable; none is sent before store_durable_seq() covers it.
 *   - Every remembered Nats-Msg-Id maps to a seq <= last_seq, stamped within
 *     duplicate_window of the newest one (older ones are forgotten lazily).
 *   - With max_age > 0 and messages stored, the age timer is armed.
 */
#ifndef MINIJET_STREAM_H
#define MINIJET_STREAM_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "server.h"
#include "store.h"
#include "stream_config.h"

typedef struct Stream Stream;

/* What a stream needs from its owner (jetstream.c), copied at open. */
typedef struct StreamHost {
    Server *srv;
    Env *env;
    const char *streams_dir;     /* <store_dir>/streams: the stream's folder goes under it */
    StoreSyncPolicy sync;        /* for streams opened with this host */
    int64_t sync_interval_ns;
    uint64_t segment_bytes;      /* file streams roll segments at this size; 0 = the limit */
    StoreFiles *files;           /* the open-file budget file streams share (store_files.c) */
    const char *domain;          /* the JetStream domain for PubAcks and info; NULL = none */
    /* group commit: flush st after this loop turn (stream_flush); forget it (closing) */
    void (*need_flush)(void *owner, Stream *st);
    void (*forget_flush)(void *owner, Stream *st);
    /* account limits (jetstream.c ACCOUNT LIMITS): the stream's stored bytes changed by
     * delta; may a publish to st be stored now (FALSE: 10023 insufficient resources)? */
    void (*usage)(void *owner, Stream *st, int64_t delta);
    bool (*room)(void *owner, Stream *st);
    void *owner;
} StreamHost;

/* How a stream tells whoever reads it (the consumer set) about its messages. Every member
 * is called synchronously and must not deliver re-entrantly (arm a timer instead). */
typedef struct StreamHooks {
    void (*stored)(void *ctx, uint64_t seq, const char *subject); /* a message was appended */
    bool (*interested)(void *ctx, const char *subject); /* interest retention: keep it at all? */
    void (*removed)(void *ctx);                         /* messages were purged or deleted */
    void (*closed)(void *ctx, bool stream_deleted);     /* the stream closes: let go of it */
    guint (*count)(void *ctx);                          /* StreamInfo's consumer_count */
} StreamHooks;

/* What STREAM.INFO's optional request asks for (spec 3.4). */
typedef struct StreamInfoReq {
    const char *subjects_filter; /* NULL = no per-subject counts */
    bool deleted_details;
    int64_t offset;              /* into the subjects list */
    bool domain;                 /* add the host's "domain" (STREAM.INFO and LIST do, create not) */
} StreamInfoReq;

Stream *stream_open(const StreamHost *host, StreamConfig *cfg, int64_t created_ns, GError **error);
/* Remove a folder and everything below it (a stream's folder), through the env. */
void stream_remove_folder(Env *env, const char *path);
void stream_set_hooks(Stream *st, const StreamHooks *hooks, void *ctx);
void *stream_hooks_ctx(Stream *st, const StreamHooks *hooks);
void stream_close(Stream *st);
void stream_destroy(Stream *st);
bool stream_save_meta(Stream *st, GError **error);
bool stream_update(Stream *st, StreamConfig *cfg, GError **error);
void stream_flush(Stream *st);

/* PURGE; returns FALSE with a JetStream error (sealed, deny_purge, store failure). */
bool stream_purge(Stream *st, const StorePurge *req, uint64_t *purged, GError **error);
/* MSG.DELETE; FALSE with a JetStream error (sealed, deny_delete, no such message). */
bool stream_remove_msg(Stream *st, uint64_t seq, bool erase, GError **error);

void stream_build_info(Stream *st, JsonBuilder *b, const StreamInfoReq *req);
/* Subjects matching filter (STREAM.INFO "total" with a subjects_filter). */
int64_t stream_subjects_total(Stream *st, const char *filter);
const StreamConfig *stream_config(Stream *st);
Store *stream_store(Stream *st);
const char *stream_name(Stream *st);
Server *stream_server(Stream *st);
Env *stream_env(Stream *st);
const char *stream_domain(Stream *st); /* the JetStream domain, NULL = none */
/* Publish nats-server's action advisory for st (consumer NULL) or one of its consumers;
 * action "create", "modify" (streams only) or "delete". */
void stream_action_advisory(Stream *st, const char *consumer, const char *action);
const char *stream_dir(Stream *st);     /* <streams_dir>/<name> */
void stream_need_flush(Stream *st);     /* group commit: records or removals to make durable */
/* Report the store's byte count to the host's account if it changed since the last report
 * (called after every change: need_flush, flush, open, close). */
void stream_account(Stream *st);
int64_t stream_created_ns(Stream *st);
void stream_check_invariants(Stream *st);  /* the store walked, then the contracts */
void stream_check_contracts(Stream *st);   /* no store walk: O(waiting acks + dedup) */
/* The oldest waiting PubAck could go now (its record is durable): a flush must be on its way
 * (jetstream_check_contracts asserts it, so no acknowledged publish waits forever). */
bool stream_ack_ready(Stream *st);

/* --- replication (the cluster layer, jscluster.c; see stream_publish.c "replicated streams") ---
 * A replicated stream's leader decides each publish and assigns its seq, then calls
 * propose (FALSE: not leader any more, the publish gets no reply); every replica applies
 * the committed entry with stream_repl_apply, which returns the PubAck body for the leader
 * to send (NULL: nothing to send; g_free it). info adds the "cluster" member to its info. */
typedef struct StreamRepl {
    bool (*propose)(void *ctx, Stream *st, uint64_t seq, int64_t ts, const ServerMsg *m);
    void (*info)(void *ctx, Stream *st, JsonBuilder *b, bool leader_only);
    void (*remove)(void *ctx, uint64_t seq); /* interest retention drops seq: through the log */
} StreamRepl;
void stream_set_repl(Stream *st, const StreamRepl *r, void *ctx); /* r NULL: local again */
/* The "cluster" member (a replicated stream's, and its consumers', which share its group);
 * leader_only: name and leader, no replicas (an ephemeral consumer: nats-server's are R1). */
void stream_build_cluster_info(Stream *st, JsonBuilder *b, bool leader_only);
void stream_repl_reset(Stream *st);      /* leadership changed: forget the projection and held publishes */
uint64_t stream_repl_pending(Stream *st);
/* The leader's projection: the last seq once everything proposed is applied. */
uint64_t stream_repl_last_seq(Stream *st);
char *stream_repl_apply(Stream *st, uint64_t seq, int64_t ts, const ServerMsg *m, bool leader);
/* A committed retention removal (jscluster.c op 5) took messages from the store: the live
 * consumers forget them, and the removals are flushed. */
void stream_repl_removed(Stream *st);
/* Snapshots and catch-up (jscluster.c, book 11.10). The stream's part of a snapshot: its
 * state and the dedup window, as members of the open object b; restore the dedup window
 * from such an object and make the store agree with the snapshot's first seq and deleted
 * ranges (GArray of uint64 pairs [a, b]) as far as it reaches. */
void stream_repl_snapshot(Stream *st, JsonBuilder *b);
void stream_repl_restore(Stream *st, JsonObject *o, uint64_t first_seq, const GArray *deleted);
/* Catch-up: store seq (the next one: last_seq + 1) with message m, or, m NULL, as deleted
 * at the source (a gap). FALSE: not the next seq, or the store refused. */
bool stream_repl_put(Stream *st, uint64_t seq, int64_t ts, const ServerMsg *m);
/* Subscribe to (or leave) the stream's subjects: only a replicated stream's leader listens. */
void stream_set_subscribed(Stream *st, bool on);
/* 503 no-responders to reply (NULL: nothing): a publish this replica did not take, nothing
 * stored (stream_publish.c, A PUBLISH THE LEADER CAN NO LONGER TAKE). */
void stream_not_taken(Stream *st, const char *reply);

/* Header lookup as nats-server does it: the first line whose key is exactly `key`
 * (case-sensitive) at the start of a line; value with surrounding blanks trimmed.
 * Returns NULL when absent; *len is the value's length. */
const char *stream_header_get(const uint8_t *hdr, size_t hdr_len, const char *key, size_t *len);

#endif
