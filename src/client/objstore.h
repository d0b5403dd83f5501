/* objstore.h — an object store made of a stream: big blobs as chunks plus one meta record.
 *
 * WHAT IT IS
 *   Bucket B is the stream OBJ_B over "$O.B.C.>" (chunks) and "$O.B.M.>" (meta). Putting
 *   object N publishes its bytes in chunks of at most 128 KiB to "$O.B.C.<nuid>" (a fresh
 *   random id per version), then one JSON meta record to "$O.B.M.<base64url(N)>" with
 *   "Nats-Rollup: sub", so only the newest meta of a name is kept; the old version's chunks
 *   are purged afterwards. The meta carries size, chunk count and "SHA-256=<base64url>" of
 *   the whole object, so a reader can tell a complete object from a damaged one. Same wire
 *   as nats.js 2.29 `js.views.os()` (spec §5): either side reads what the other wrote.
 *   Runs on the blocking connection of kv.h (sans-IO underneath). Book chapter 7.
 *
 * INTERFACE
 *   objstore_create(kc, bucket, opts, error)  bind, or create OBJ_<bucket> as nats.js does
 *   objstore_open(kc, bucket, error)          bind to an existing store
 *   objstore_put(os, meta, reader, ctx, error)  stream an object in from a reader -> its info
 *   objstore_put_bytes(os, meta, bytes, error)
 *   objstore_get(os, name, &info, error)      the whole object, verified (size and digest);
 *                                             KV_ERROR_CORRUPT when chunks are missing or the
 *                                             digest differs: damaged data is never returned
 *   objstore_info(os, name, error)            the meta (KV_ERROR_NOT_FOUND if absent/deleted)
 *   objstore_list(os, error)                  live objects, by name
 *   objstore_delete(os, name, error)          a "deleted" meta, then purge the chunks
 *   objstore_watch_start/_next/_stop          meta changes (deletions included)
 *   objstore_destroy(os, error)               delete the stream
 */
#ifndef MINIJET_OBJSTORE_H
#define MINIJET_OBJSTORE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "kv.h"

#define OBJSTORE_CHUNK_BYTES (128 * 1024) /* nats.js default max_chunk_size */
#define OBJSTORE_INFLIGHT_COUNT 32        /* chunk publishes awaiting their PubAck */

typedef struct ObjStore ObjStore;

typedef struct ObjOptions {
    const char *description;
    int64_t ttl_ns;     /* max_age; 0 = forever */
    int64_t max_bytes;  /* 0 = unlimited */
    bool memory;        /* storage "memory" instead of "file" */
} ObjOptions;

typedef struct ObjMeta {
    const char *name;
    const char *description; /* may be NULL */
    size_t max_chunk_bytes;  /* 0 = OBJSTORE_CHUNK_BYTES (capped at the server's max_payload) */
} ObjMeta;

typedef struct ObjInfo {
    char *bucket, *name, *description, *nuid, *digest, *mtime;
    uint64_t size, chunks, revision, max_chunk_bytes;
    bool deleted;
    char *extra_json; /* "headers"/"metadata" members as nats.js wrote them, or NULL */
} ObjInfo;
void obj_info_free(ObjInfo *i);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ObjInfo, obj_info_free)

/* Fill buf with up to len bytes; 0 = end of the object, -1 = error (set). */
typedef gssize (*ObjReadFn)(void *ctx, uint8_t *buf, size_t len, GError **error);

bool objstore_bucket_valid(const char *name);
ObjStore *objstore_create(KvConn *kc, const char *bucket, const ObjOptions *opts, GError **error);
ObjStore *objstore_open(KvConn *kc, const char *bucket, GError **error);
void objstore_free(ObjStore *os);

ObjInfo *objstore_put(ObjStore *os, const ObjMeta *meta, ObjReadFn reader, void *ctx, GError **error);
ObjInfo *objstore_put_bytes(ObjStore *os, const ObjMeta *meta, GBytes *data, GError **error);
GBytes *objstore_get(ObjStore *os, const char *name, ObjInfo **info, GError **error);
ObjInfo *objstore_info(ObjStore *os, const char *name, GError **error);
GPtrArray *objstore_list(ObjStore *os, GError **error); /* of ObjInfo*, sorted by name */
gboolean objstore_delete(ObjStore *os, const char *name, GError **error);
gboolean objstore_destroy(ObjStore *os, GError **error);

typedef struct ObjWatch ObjWatch;
/* history: start with the current meta of every object; else only changes from now on. */
ObjWatch *objstore_watch_start(ObjStore *os, bool history, GError **error);
ObjInfo *objstore_watch_next(ObjWatch *w, int64_t timeout_ns, GError **error);
void objstore_watch_stop(ObjWatch *w);

/* The meta subject's last token: the name, base64 URL-safe with '=' padding. */
char *objstore_name_encode(const char *name);

#endif
