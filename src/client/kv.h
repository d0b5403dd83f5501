/* kv.h — a key-value map made of a stream, and the small blocking connection it runs on.
 *
 * WHAT IT IS
 *   NATS has no KV server. A bucket B is the stream KV_B over the subjects "$KV.B.>"; key K is
 *   the subject "$KV.B.K"; a put is a JetStream publish whose stream sequence is the key's
 *   revision; the stream's max_msgs_per_subject is the history kept per key; a delete is an
 *   empty message with the header "KV-Operation: DEL"; a purge is "KV-Operation: PURGE" with
 *   "Nats-Rollup: sub", which makes the server drop every older message of that key. Every
 *   official client implements these conventions itself, and so does this module, on the wire
 *   exactly as nats.js 2.29 does (book chapter 7, "a map made of a log"), so a bucket written
 *   here reads back in nats.js and libnats and the other way round.
 *
 * TWO LAYERS
 *   KvConn   a synchronous connection over the sans-IO client (client.h): request/reply,
 *            subscriptions with a queue of copied messages, JetStream API calls. It does no
 *            IO itself: it calls a pump the world supplies ("send what the client queued,
 *            feed it what arrived, let at most wait_ns pass") until what it waits for arrived
 *            or the deadline passed. The CLI's pump runs the env_real epoll loop; the unit
 *            tests' pump moves bytes between the client and an in-process Server and advances
 *            virtual time. So the bucket logic is sans-IO and runs in any world.
 *            The object store (objstore.h) and the CLI (cli.h) share it.
 *   Kv       the bucket: create/open/status/destroy, put/get/create/update/delete/purge,
 *            keys, history and watch (the last three through an "ordered" push consumer).
 *
 * INTERFACE (KvConn)
 *   kv_conn_new(env, inbox_prefix, pump, world)   a connection; env supplies the clock only
 *   kv_conn_client(kc)                            the sans-IO client the pump feeds
 *   kv_conn_wait_connected(kc, timeout, error)    until the handshake completed
 *   kv_conn_request(kc, subj, hdr, data, ...)     one request, its reply (KvMsg) or an error
 *   kv_conn_request_start / _wait                 the same, pipelined (many in flight)
 *   kv_conn_subscribe / _next / _unsubscribe      a subscription and its queued messages
 *   kv_conn_publish(kc, ...)                      fire and forget
 *   kv_conn_flush(kc, timeout, error)             PING/PONG: the server saw everything before
 *   kv_js_api(kc, "STREAM.INFO.X", json, ...)     a $JS.API call: the reply's JSON object, or
 *                                                 a KV_ERROR carrying the API's err_code
 *   kv_js_publish(kc, subj, hdr, data, ...)       a JetStream publish: the PubAck's seq
 *
 * INTERFACE (Kv)
 *   kv_bucket_valid(name) / kv_key_valid(key)     the rules of nats.js (see kv.c)
 *   kv_create(kc, name, opts, error)              bind, or create KV_<name> as nats.js does
 *   kv_open(kc, name, error)                      bind to an existing bucket
 *   kv_put / kv_create_key / kv_update            -> revision (0 on error)
 *   kv_get(kv, key, revision, error)              the entry (markers included: DEL/PURGE)
 *   kv_delete / kv_purge
 *   kv_keys(kv, error)                            sorted live keys (g_strfreev)
 *   kv_history(kv, key, error)                    every kept entry of a key, oldest first
 *   kv_watch_start / kv_watch_next / kv_watch_stop
 *   kv_status(kv, &status, error), kv_destroy(kv, error)
 *
 * ERRORS
 *   Runtime failures are GErrors in KV_ERROR. For JetStream API and PubAck errors the code is
 *   the server's err_code (10071 wrong last sequence, 10059 stream not found, ...); the
 *   KV_ERROR_* codes below are below 10000 and never collide with them.
 *
 * INVARIANTS
 *   - KvConn never calls the OS; all waiting is a loop over the pump with a deadline.
 *   - A reply is matched to its request id only; late replies to abandoned requests are
 *     dropped by the client. Messages for a subscription stay queued in arrival order.
 */
#ifndef MINIJET_KV_H
#define MINIJET_KV_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "env.h"

#define KV_ERROR (kv_error_quark())
GQuark kv_error_quark(void);
typedef enum {
    KV_ERROR_TIMEOUT = 1,       /* no answer in time */
    KV_ERROR_DISCONNECTED,      /* the connection is gone */
    KV_ERROR_NO_RESPONDERS,     /* 503: e.g. JetStream not enabled, no stream for the subject */
    KV_ERROR_BAD_REPLY,         /* the server's answer could not be understood */
    KV_ERROR_INVALID,           /* bad bucket name, key, or argument */
    KV_ERROR_NOT_FOUND,         /* key / object / bucket not found */
    KV_ERROR_CORRUPT,           /* object data missing or not matching its digest */
    KV_ERROR_SERVER,            /* -ERR from the server */
} KvErrorCode;

/* The err_codes clients key off (spec §2.2). */
#define KV_JS_WRONG_LAST_SEQUENCE 10071
#define KV_JS_STREAM_NOT_FOUND 10059
#define KV_JS_NO_MESSAGE_FOUND 10037

/* ------------------------------------------------------------------------------------- */
/* KvConn: a blocking connection over the sans-IO client                                  */

typedef struct KvConn KvConn;

/* A copied message. hdr is NULL when the message had none. */
typedef struct KvMsg {
    char *subject;
    char *reply; /* NULL when none */
    GBytes *hdr;
    GBytes *data;
} KvMsg;
void kv_msg_free(KvMsg *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KvMsg, kv_msg_free)
/* A header of m (g_free it), NULL when absent. Status code of a status message (0 if none). */
char *kv_msg_header(const KvMsg *m, const char *key);
int kv_msg_status(const KvMsg *m);

/* Make progress for at most wait_ns of the world's time: hand the client's output to the
 * connection, feed it what arrived (client_feed), return as soon as something was fed or the
 * wait is over. FALSE when the connection is closed for good. */
typedef gboolean (*KvPumpFn)(void *world, int64_t wait_ns);

KvConn *kv_conn_new(Env *env, const char *inbox_prefix, KvPumpFn pump, void *world);
void kv_conn_free(KvConn *kc);
Client *kv_conn_client(KvConn *kc);
Env *kv_conn_env(KvConn *kc);
/* The pump tells the connection that the transport closed. */
void kv_conn_set_closed(KvConn *kc);
gboolean kv_conn_wait_connected(KvConn *kc, int64_t timeout_ns, GError **error);
/* The server's INFO "max_payload" (1 MiB until INFO arrives) and "version". */
size_t kv_conn_max_payload(KvConn *kc);
const char *kv_conn_server_version(KvConn *kc);
/* The last -ERR text, NULL if none. */
const char *kv_conn_last_error(KvConn *kc);

uint64_t kv_conn_request_start(KvConn *kc, const char *subject, const void *hdr, size_t hdr_len,
                               const void *data, size_t len);
KvMsg *kv_conn_request_wait(KvConn *kc, uint64_t id, int64_t timeout_ns, GError **error);
/* Give up on a started request: its reply, now or later, is dropped. */
void kv_conn_request_cancel(KvConn *kc, uint64_t id);
KvMsg *kv_conn_request(KvConn *kc, const char *subject, const void *hdr, size_t hdr_len,
                       const void *data, size_t len, int64_t timeout_ns, GError **error);
/* Returns the sid. Messages queue until taken with kv_conn_next. */
uint64_t kv_conn_subscribe(KvConn *kc, const char *subject, const char *queue);
/* The next message of sid, waiting at most timeout_ns (< 0: forever). NULL + KV_ERROR_TIMEOUT
 * when nothing came. */
KvMsg *kv_conn_next(KvConn *kc, uint64_t sid, int64_t timeout_ns, GError **error);
void kv_conn_unsubscribe(KvConn *kc, uint64_t sid);
void kv_conn_publish(KvConn *kc, const char *subject, const char *reply, const void *hdr,
                     size_t hdr_len, const void *data, size_t len);
gboolean kv_conn_flush(KvConn *kc, int64_t timeout_ns, GError **error);
char *kv_conn_inbox(KvConn *kc);

/* $JS.API.<api> with a JSON body ("" for none): the reply object, or NULL with the error.
 * The returned object is owned by *parser (g_object_unref it). */
JsonObject *kv_js_api(KvConn *kc, const char *api, const char *json, JsonParser **parser,
                      GError **error);
/* A JetStream publish (hdr may be NULL): the stored sequence, or 0 with the error. */
uint64_t kv_js_publish(KvConn *kc, const char *subject, const void *hdr, size_t hdr_len,
                       const void *data, size_t len, GError **error);

/* The seq of a PubAck reply (from kv_conn_request_wait), or 0 with the server's error. */
uint64_t kv_js_puback(const KvMsg *m, GError **error);

/* How long one request may take (nats.js's default JetStream timeout is 5 s). */
#define KV_TIMEOUT_NS (5LL * 1000000000LL)

/* ------------------------------------------------------------------------------------- */
/* ordered consumers: what keys, history, watch and the object store read through          */

typedef struct KvConsumer KvConsumer;
typedef enum { KV_DELIVER_ALL, KV_DELIVER_LAST_PER_SUBJECT, KV_DELIVER_NEW } KvDeliver;
/* Where a delivered message sits, from its $JS.ACK reply subject. */
typedef struct KvMsgMeta {
    uint64_t stream_seq, consumer_seq, pending;
    int64_t time_ns; /* stored time, Unix ns */
} KvMsgMeta;

/* An ephemeral push consumer (ack none, memory) on stream with the filter and policy. */
KvConsumer *kv_consumer_start(KvConn *kc, const char *stream, const char *filter,
                              KvDeliver deliver, bool headers_only, GError **error);
/* Messages matching when it was created (create reply num_pending). */
uint64_t kv_consumer_initial_pending(const KvConsumer *c);
/* The next data message (heartbeats and flow control are handled inside). */
KvMsg *kv_consumer_next(KvConsumer *c, int64_t timeout_ns, KvMsgMeta *meta, GError **error);
void kv_consumer_stop(KvConsumer *c); /* deletes the consumer, frees */

/* ------------------------------------------------------------------------------------- */
/* the bucket                                                                             */

typedef struct Kv Kv;

typedef struct KvOptions {
    int64_t history;        /* revisions kept per key, 1..64; 0 = 1 */
    int64_t ttl_ns;         /* max_age; 0 = forever */
    int64_t max_bytes;      /* 0 = unlimited */
    int64_t max_value_bytes; /* 0 = unlimited */
    bool memory;            /* storage "memory" instead of "file" */
    const char *description;
} KvOptions;

typedef enum { KV_OP_PUT, KV_OP_DEL, KV_OP_PURGE } KvOp;

typedef struct KvEntry {
    char *bucket, *key;
    GBytes *value;
    uint64_t revision;
    int64_t created_ns; /* Unix ns */
    uint64_t delta;     /* newer entries after this one (watch/history), 0 for get */
    KvOp op;
} KvEntry;
void kv_entry_free(KvEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KvEntry, kv_entry_free)
const char *kv_op_name(KvOp op); /* "PUT", "DEL", "PURGE" as nats.js names them */

typedef struct KvStatus {
    uint64_t values, bytes;
    int64_t history, ttl_ns;
    bool direct;
} KvStatus;

bool kv_bucket_valid(const char *name);
bool kv_key_valid(const char *key);
/* Watch patterns may also hold "*" and ">" tokens. */
bool kv_key_pattern_valid(const char *key);

Kv *kv_create(KvConn *kc, const char *bucket, const KvOptions *opts, GError **error);
Kv *kv_open(KvConn *kc, const char *bucket, GError **error);
void kv_free(Kv *kv);
const char *kv_bucket(const Kv *kv);

uint64_t kv_put(Kv *kv, const char *key, const void *value, size_t len, GError **error);
uint64_t kv_create_key(Kv *kv, const char *key, const void *value, size_t len, GError **error);
uint64_t kv_update(Kv *kv, const char *key, const void *value, size_t len, uint64_t last_revision,
                   GError **error);
/* revision 0 = the newest. A key that was never written: NULL + KV_ERROR_NOT_FOUND. A deleted
 * or purged key returns its marker entry (op DEL/PURGE), as nats.js does. */
KvEntry *kv_get(Kv *kv, const char *key, uint64_t revision, GError **error);
gboolean kv_delete(Kv *kv, const char *key, GError **error);
gboolean kv_purge(Kv *kv, const char *key, GError **error);
char **kv_keys(Kv *kv, GError **error);
GPtrArray *kv_history(Kv *kv, const char *key, GError **error); /* of KvEntry* */
gboolean kv_status(Kv *kv, KvStatus *st, GError **error);
gboolean kv_destroy(Kv *kv, GError **error);

typedef struct KvWatch KvWatch;
typedef enum { KV_WATCH_LAST_VALUES, KV_WATCH_ALL_HISTORY, KV_WATCH_UPDATES_ONLY } KvWatchMode;
/* key may be a pattern ("a.*", ">"); NULL = every key. */
KvWatch *kv_watch_start(Kv *kv, const char *key, KvWatchMode mode, GError **error);
/* Next entry (deletes and purges included), NULL + KV_ERROR_TIMEOUT when none came. */
KvEntry *kv_watch_next(KvWatch *w, int64_t timeout_ns, GError **error);
/* TRUE once every entry that existed at start has been returned. */
bool kv_watch_initialized(const KvWatch *w);
void kv_watch_stop(KvWatch *w);

/* Helpers shared with objstore.c and cli.c. */
char *kv_b64_encode(const void *data, size_t len, bool url); /* padded; url: -_ alphabet */
GBytes *kv_b64_decode(const char *text);                     /* either alphabet; NULL if bad */
char *kv_time_format(int64_t wall_ns);                       /* RFC 3339, ns, trailing 0s cut */
bool kv_time_parse(const char *text, int64_t *wall_ns);

#endif
