/* jetstream.h — JetStream for one server: the streams, their folder, the API subscription,
 * and group commit at the end of each loop turn.
 *
 * WHAT IT IS
 *   The owner of every Stream. It loads the streams found in the store directory at start,
 *   answers `$JS.API.>` (through jsapi.c), keeps the registry sorted by name (NAMES and LIST
 *   page through it in that order), and runs group commit: streams that appended during a
 *   loop turn ask for a flush, and one env_turn_end call flushes them all at the turn's end.
 *
 * INTERFACE
 *   jetstream_new(srv, store_dir, error)      load every stream, subscribe to $JS.API.>
 *   jetstream_free(js)                        flush, answer waiting publishers, close streams
 *   jetstream_set_sync(js, policy, interval)  how records become durable before the ack
 *   jetstream_lookup / jetstream_streams      by name / all, sorted by name
 *   jetstream_add / jetstream_delete          create (with the cross-stream overlap check)
 *   jetstream_check_overlap(js, cfg, except)  10065 if cfg's subjects meet another stream's
 *   jetstream_need_flush / _forget_flush      group commit (called by stream.c)
 *   jetstream_set_api_filter / _set_clustered the cluster layer's hooks (jscluster.c)
 *   jetstream_check_invariants(js)
 *
 * INVARIANTS
 *   - No two streams have overlapping subjects.
 *   - A stream is in the flush list at most once, and only while it is registered; the
 *     end-of-turn flush is asked for whenever the list is non-empty.
 */
#ifndef MINIJET_JETSTREAM_H
#define MINIJET_JETSTREAM_H

#include <glib.h>

#include "server.h"
#include "store.h"
#include "stream.h"

JetStream *jetstream_new(Server *srv, const char *store_dir, GError **error);
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
bool jetstream_check_overlap(JetStream *js, const StreamConfig *cfg, Stream *except, GError **error);

void jetstream_need_flush(JetStream *js, Stream *st);
void jetstream_forget_flush(JetStream *js, Stream *st);

Server *jetstream_server(JetStream *js);
Env *jetstream_env(JetStream *js);
const char *jetstream_streams_dir(JetStream *js);
/* API counters for $JS.API.INFO's "api" object. */
void jetstream_count_api(JetStream *js, bool error);
void jetstream_api_stats(JetStream *js, uint64_t *total, uint64_t *errors);

/* The cluster layer (jscluster.c) sees every $JS.API request first: returning TRUE means it
 * answered (or decided this server stays silent); FALSE lets jsapi answer locally. */
typedef bool (*JetStreamApiFilter)(void *ctx, const ServerMsg *m);
void jetstream_set_api_filter(JetStream *js, JetStreamApiFilter fn, void *ctx);
/* In a cluster, num_replicas > 1 is the cluster's to place, not an error (10074). */
void jetstream_set_clustered(JetStream *js, bool on);
bool jetstream_clustered(JetStream *js);

void jetstream_check_invariants(JetStream *js);

#endif
