/* objstore.c — the object store over a stream (see objstore.h).
 *
 * THE WIRE (bucket B, object N, spec §5)
 *   | step          | subject                    | body / headers                              |
 *   |---------------|----------------------------|---------------------------------------------|
 *   | look up N     | STREAM.MSG.GET.OBJ_B       | {"last_by_subj":"$O.B.M.<b64url(N)>"}       |
 *   | chunks        | $O.B.C.<nuid>              | <= max_chunk_size bytes each, in order      |
 *   | meta          | $O.B.M.<b64url(N)>         | JSON below, header Nats-Rollup: sub         |
 *   | old chunks    | STREAM.PURGE.OBJ_B         | {"filter":"$O.B.C.<old nuid>"}              |
 *   Meta JSON, as nats.js writes it:
 *     {"bucket":"B","nuid":"…","size":n,"chunks":n,"name":"N","description":"",
 *      "options":{"max_chunk_size":131072},"mtime":"2026-…Z","digest":"SHA-256=<b64url>",
 *      "deleted":false}
 *   A delete republishes the meta with size 0, chunks 0, digest "" and deleted true, then
 *   purges the chunks.
 *
 * HOW GET PROVES THE DATA GOOD
 *   The meta says how many chunks and bytes there are and their SHA-256. The reader creates a
 *   consumer on the chunk subject; the create reply says how many messages match. Fewer than
 *   `chunks` (a purge, an expired chunk, a lost write) is reported as corrupt at once; then
 *   the bytes are hashed as they arrive and compared at the end. Only a full match returns
 *   data: a caller never sees half an object as if it were whole.
 *
 * LIMITATIONS
 *   - get holds the whole object in memory (the CLI writes it atomically after the check);
 *     nats.js streams it. Fine for the book's sizes; a 1 GiB object needs 1 GiB of RAM.
 *   - No links, no per-object headers written (headers written by nats.js are kept on read).
 */
#include "objstore.h"

#include <string.h>

#include "jsonutil.h"

struct ObjStore {
    KvConn *kc;
    char *bucket, *stream; /* "B", "OBJ_B" */
};

struct ObjWatch {
    ObjStore *os;
    KvConsumer *c;
};

void obj_info_free(ObjInfo *i) {
    if (!i) return;
    g_free(i->bucket);
    g_free(i->name);
    g_free(i->description);
    g_free(i->nuid);
    g_free(i->digest);
    g_free(i->mtime);
    g_free(i->extra_json);
    g_free(i);
}

bool objstore_bucket_valid(const char *name) { return kv_bucket_valid(name); }

char *objstore_name_encode(const char *name) { return kv_b64_encode(name, strlen(name), true); }

static gboolean fail(GError **error, int code, const char *fmt, const char *arg) {
    g_set_error(error, KV_ERROR, code, fmt, arg);
    return FALSE;
}

static ObjStore *store_new(KvConn *kc, const char *bucket) {
    ObjStore *os = g_new0(ObjStore, 1);
    os->kc = kc;
    os->bucket = g_strdup(bucket);
    os->stream = g_strconcat("OBJ_", bucket, NULL);
    return os;
}

ObjStore *objstore_open(KvConn *kc, const char *bucket, GError **error) {
    if (!objstore_bucket_valid(bucket))
        return fail(error, KV_ERROR_INVALID, "invalid bucket name: %s", bucket), NULL;
    g_autofree char *api = g_strdup_printf("STREAM.INFO.OBJ_%s", bucket);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    if (!kv_js_api(kc, api, "", &p, &err)) {
        if (g_error_matches(err, KV_ERROR, KV_JS_STREAM_NOT_FOUND))
            return fail(error, KV_ERROR_NOT_FOUND, "object store not found: %s", bucket), NULL;
        g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    return store_new(kc, bucket);
}

ObjStore *objstore_create(KvConn *kc, const char *bucket, const ObjOptions *opts, GError **error) {
    static const ObjOptions defaults = {0};
    if (!opts) opts = &defaults;
    g_autoptr(GError) err = NULL;
    ObjStore *os = objstore_open(kc, bucket, &err);
    if (os || !g_error_matches(err, KV_ERROR, KV_ERROR_NOT_FOUND)) {
        if (!os) g_propagate_error(error, g_steal_pointer(&err));
        return os;
    }
    GString *j = g_string_new(NULL);
    g_string_append_printf(j, "{\"name\":\"OBJ_%s\",\"max_age\":%" G_GINT64_FORMAT ",\"num_replicas\":1,"
                              "\"allow_direct\":true,\"allow_rollup_hdrs\":true,\"discard\":\"new\","
                              "\"storage\":\"%s\",\"subjects\":[\"$O.%s.C.>\",\"$O.%s.M.>\"]",
                           bucket, opts->ttl_ns > 0 ? opts->ttl_ns : 0, opts->memory ? "memory" : "file",
                           bucket, bucket);
    if (opts->max_bytes > 0) g_string_append_printf(j, ",\"max_bytes\":%" G_GINT64_FORMAT, opts->max_bytes);
    if (opts->description && *opts->description) {
        g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), opts->description);
        g_autofree char *s = json_to_string(n, FALSE);
        g_string_append_printf(j, ",\"description\":%s", s);
    }
    g_string_append_c(j, '}');
    g_autofree char *api = g_strdup_printf("STREAM.CREATE.OBJ_%s", bucket);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = kv_js_api(kc, api, j->str, &p, error);
    g_string_free(j, TRUE);
    return o ? store_new(kc, bucket) : NULL;
}

void objstore_free(ObjStore *os) {
    if (!os) return;
    g_free(os->bucket);
    g_free(os->stream);
    g_free(os);
}

/* --- meta JSON ------------------------------------------------------------------------ */

static ObjInfo *info_parse(ObjStore *os, const void *json, size_t len, uint64_t revision,
                           GError **error) {
    g_autoptr(JsonParser) p = json_parser_new();
    JsonNode *root = NULL;
    if (jsonu_load(p, json, len)) root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return fail(error, KV_ERROR_CORRUPT, "object meta in %s is not JSON", os->bucket), NULL;
    JsonObject *o = json_node_get_object(root);
    ObjInfo *i = g_new0(ObjInfo, 1);
    i->bucket = g_strdup(json_object_get_string_member_with_default(o, "bucket", os->bucket));
    i->name = g_strdup(json_object_get_string_member_with_default(o, "name", ""));
    i->description = g_strdup(json_object_get_string_member_with_default(o, "description", ""));
    i->nuid = g_strdup(json_object_get_string_member_with_default(o, "nuid", ""));
    i->digest = g_strdup(json_object_get_string_member_with_default(o, "digest", ""));
    i->mtime = g_strdup(json_object_get_string_member_with_default(o, "mtime", ""));
    i->size = (uint64_t)json_object_get_int_member_with_default(o, "size", 0);
    i->chunks = (uint64_t)json_object_get_int_member_with_default(o, "chunks", 0);
    i->deleted = json_object_get_boolean_member_with_default(o, "deleted", FALSE);
    JsonObject *opt = json_object_get_object_member(o, "options");
    if (opt) i->max_chunk_bytes = (uint64_t)json_object_get_int_member_with_default(opt, "max_chunk_size", 0);
    i->revision = revision;
    /* Keep what nats.js may add (headers, metadata) so `obj info --json` shows it. */
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    bool extra = false;
    for (int k = 0; k < 2; k++) {
        const char *m = k == 0 ? "headers" : "metadata";
        JsonNode *n = json_object_get_member(o, m);
        if (n && !JSON_NODE_HOLDS_NULL(n)) {
            json_builder_set_member_name(b, m);
            json_builder_add_value(b, json_node_copy(n));
            extra = true;
        }
    }
    json_builder_end_object(b);
    if (extra) {
        g_autoptr(JsonNode) r = json_builder_get_root(b);
        i->extra_json = json_to_string(r, FALSE);
    }
    return i;
}

static char *info_json(const ObjInfo *i) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "bucket");
    json_builder_add_string_value(b, i->bucket);
    json_builder_set_member_name(b, "nuid");
    json_builder_add_string_value(b, i->nuid);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, (gint64)i->size);
    json_builder_set_member_name(b, "chunks");
    json_builder_add_int_value(b, (gint64)i->chunks);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, i->name);
    json_builder_set_member_name(b, "description");
    json_builder_add_string_value(b, i->description ? i->description : "");
    json_builder_set_member_name(b, "options");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "max_chunk_size");
    json_builder_add_int_value(b, (gint64)i->max_chunk_bytes);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "mtime");
    json_builder_add_string_value(b, i->mtime);
    json_builder_set_member_name(b, "digest");
    json_builder_add_string_value(b, i->digest);
    json_builder_set_member_name(b, "deleted");
    json_builder_add_boolean_value(b, i->deleted);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

/* mtime as nats.js writes it (JavaScript's toISOString: milliseconds, Z). */
static char *mtime_now(Env *env) {
    int64_t ns = env_wall_ns(env);
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(ns / 1000000000LL);
    g_autofree char *base = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
    return g_strdup_printf("%s.%03dZ", base, (int)((ns / 1000000) % 1000));
}

/* A nuid-like id: 22 base-62 characters from the world's random numbers. */
static char *new_nuid(Env *env) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char *s = g_malloc(23);
    for (int i = 0; i < 22; i++) s[i] = digits[env_random_u64(env) % 62];
    s[22] = '\0';
    return s;
}

static gboolean purge_subject(ObjStore *os, const char *subject, GError **error) {
    g_autofree char *api = g_strdup_printf("STREAM.PURGE.%s", os->stream);
    g_autofree char *body = g_strdup_printf("{\"filter\":\"%s\"}", subject);
    g_autoptr(JsonParser) p = NULL;
    return kv_js_api(os->kc, api, body, &p, error) != NULL;
}

/* --- info, put -------------------------------------------------------------------------- */

/* The newest meta of name, deleted or not; NULL + KV_ERROR_NOT_FOUND when never written. */
static ObjInfo *raw_info(ObjStore *os, const char *name, GError **error) {
    if (!name || !*name) return fail(error, KV_ERROR_INVALID, "%sname cannot be empty", ""), NULL;
    g_autofree char *enc = objstore_name_encode(name);
    g_autofree char *api = g_strdup_printf("STREAM.MSG.GET.%s", os->stream);
    g_autofree char *body = g_strdup_printf("{\"last_by_subj\":\"$O.%s.M.%s\"}", os->bucket, enc);
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o = kv_js_api(os->kc, api, body, &p, &err);
    if (!o) {
        if (g_error_matches(err, KV_ERROR, KV_JS_NO_MESSAGE_FOUND))
            return fail(error, KV_ERROR_NOT_FOUND, "object not found: %s", name), NULL;
        g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    JsonObject *msg = json_object_get_object_member(o, "message");
    const char *data = msg ? json_object_get_string_member_with_default(msg, "data", "") : "";
    g_autoptr(GBytes) d = kv_b64_decode(data);
    if (!d) return fail(error, KV_ERROR_BAD_REPLY, "bad message data for %s", name), NULL;
    gsize n;
    const void *json = g_bytes_get_data(d, &n);
    return info_parse(os, json, n, (uint64_t)json_object_get_int_member_with_default(msg, "seq", 0), error);
}

ObjInfo *objstore_info(ObjStore *os, const char *name, GError **error) {
    ObjInfo *i = raw_info(os, name, error);
    if (i && i->deleted) {
        obj_info_free(i);
        return fail(error, KV_ERROR_NOT_FOUND, "object not found: %s", name), NULL;
    }
    return i;
}

static char *digest_text(GChecksum *sum) {
    guint8 raw[32];
    gsize n = sizeof raw;
    g_checksum_get_digest(sum, raw, &n);
    g_autofree char *b64 = kv_b64_encode(raw, n, true);
    return g_strconcat("SHA-256=", b64, NULL);
}

ObjInfo *objstore_put(ObjStore *os, const ObjMeta *meta, ObjReadFn reader, void *ctx, GError **error) {
    g_autoptr(GError) err = NULL;
    g_autoptr(ObjInfo) old = raw_info(os, meta->name, &err);
    if (!old && !g_error_matches(err, KV_ERROR, KV_ERROR_NOT_FOUND)) {
        g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    Env *env = kv_conn_env(os->kc);
    size_t chunk = meta->max_chunk_bytes ? meta->max_chunk_bytes : OBJSTORE_CHUNK_BYTES;
    if (chunk > kv_conn_max_payload(os->kc)) chunk = kv_conn_max_payload(os->kc);
    ObjInfo *info = g_new0(ObjInfo, 1);
    info->bucket = g_strdup(os->bucket);
    info->name = g_strdup(meta->name);
    info->description = g_strdup(meta->description ? meta->description : "");
    info->nuid = new_nuid(env);
    info->max_chunk_bytes = chunk;
    g_autofree char *chunk_subj = g_strdup_printf("$O.%s.C.%s", os->bucket, info->nuid);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(chunk);
    GQueue inflight = G_QUEUE_INIT; /* request ids, oldest first */
    gboolean ok = TRUE;
    for (;;) {
        /* Fill a whole chunk (a reader may return less than asked). */
        size_t have = 0;
        while (ok && have < chunk) {
            gssize n = reader(ctx, buf + have, chunk - have, error);
            if (n < 0) ok = FALSE;
            if (n <= 0) break;
            have += (size_t)n;
        }
        if (!ok) break;
        if (have > 0) {
            g_checksum_update(sum, buf, have);
            info->size += have;
            info->chunks++;
            uint64_t id = kv_conn_request_start(os->kc, chunk_subj, NULL, 0, buf, have);
            g_queue_push_tail(&inflight, GSIZE_TO_POINTER((gsize)id));
        }
        /* Keep at most OBJSTORE_INFLIGHT_COUNT unacknowledged; at the end, wait for all. */
        while (ok && (g_queue_get_length(&inflight) >= OBJSTORE_INFLIGHT_COUNT ||
                      (have < chunk && !g_queue_is_empty(&inflight)))) {
            uint64_t id = GPOINTER_TO_SIZE(g_queue_pop_head(&inflight));
            g_autoptr(GError) cerr = NULL;
            g_autoptr(KvMsg) m = kv_conn_request_wait(os->kc, id, KV_TIMEOUT_NS, &cerr);
            if (!m || !kv_js_puback(m, &cerr)) {
                g_set_error(error, KV_ERROR, cerr->code, "storing a chunk of %s: %s", meta->name,
                            cerr->message);
                ok = FALSE;
            }
        }
        if (!ok || have < chunk) break;
    }
    while (!g_queue_is_empty(&inflight)) /* after a failure: late acks are dropped */
        kv_conn_request_cancel(os->kc, GPOINTER_TO_SIZE(g_queue_pop_head(&inflight)));
    if (ok) {
        info->digest = digest_text(sum);
        info->mtime = mtime_now(env);
        g_autofree char *json = info_json(info);
        g_autofree char *enc = objstore_name_encode(meta->name);
        g_autofree char *meta_subj = g_strdup_printf("$O.%s.M.%s", os->bucket, enc);
        static const char rollup[] = "NATS/1.0\r\nNats-Rollup: sub\r\n\r\n";
        info->revision = kv_js_publish(os->kc, meta_subj, rollup, strlen(rollup), json, strlen(json), error);
        ok = info->revision != 0;
    }
    if (!ok) {
        purge_subject(os, chunk_subj, NULL); /* remove the partial chunks, as nats.js does */
        obj_info_free(info);
        return NULL;
    }
    if (old && *old->nuid) { /* the new version is live; the old chunks are garbage now */
        g_autofree char *old_subj = g_strdup_printf("$O.%s.C.%s", os->bucket, old->nuid);
        purge_subject(os, old_subj, NULL);
    }
    return info;
}

typedef struct BytesReader {
    const uint8_t *data;
    size_t len, off;
} BytesReader;

static gssize bytes_read(void *ctx, uint8_t *buf, size_t len, GError **error) {
    BytesReader *r = ctx;
    size_t n = MIN(len, r->len - r->off);
    memcpy(buf, r->data + r->off, n);
    r->off += n;
    return (gssize)n;
}

ObjInfo *objstore_put_bytes(ObjStore *os, const ObjMeta *meta, GBytes *data, GError **error) {
    BytesReader r = {0};
    gsize n = 0;
    r.data = data ? g_bytes_get_data(data, &n) : NULL;
    r.len = n;
    return objstore_put(os, meta, bytes_read, &r, error);
}

/* --- get ------------------------------------------------------------------------------- */

/* nats.js accepts the digest as base64 (either alphabet) or hex. */
static GBytes *digest_bytes(const char *digest) {
    if (!g_str_has_prefix(digest, "SHA-256=")) return NULL;
    const char *v = digest + 8;
    if (strlen(v) == 64) {
        guint8 raw[32];
        bool hex = true;
        for (int i = 0; i < 32 && hex; i++) {
            int hi = g_ascii_xdigit_value(v[2 * i]), lo = g_ascii_xdigit_value(v[2 * i + 1]);
            if (hi < 0 || lo < 0) hex = false;
            else raw[i] = (guint8)(hi * 16 + lo);
        }
        if (hex) return g_bytes_new(raw, sizeof raw);
    }
    return kv_b64_decode(v);
}

static GBytes *corrupt(GError **error, const char *name, const char *why) {
    g_set_error(error, KV_ERROR, KV_ERROR_CORRUPT, "object %s is corrupt: %s", name, why);
    return NULL;
}

GBytes *objstore_get(ObjStore *os, const char *name, ObjInfo **info_out, GError **error) {
    g_autoptr(ObjInfo) info = objstore_info(os, name, error);
    if (!info) return NULL;
    g_autoptr(GBytes) want = digest_bytes(info->digest);
    if (!want || g_bytes_get_size(want) != 32) return corrupt(error, name, "unknown digest");
    GByteArray *out = g_byte_array_new();
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    if (info->chunks > 0) {
        g_autofree char *subj = g_strdup_printf("$O.%s.C.%s", os->bucket, info->nuid);
        KvConsumer *c = kv_consumer_start(os->kc, os->stream, subj, KV_DELIVER_ALL, false, error);
        if (!c) {
            g_byte_array_unref(out);
            return NULL;
        }
        uint64_t have = kv_consumer_initial_pending(c), got = 0;
        const char *why = have < info->chunks ? "chunks are missing" : NULL;
        while (!why && got < info->chunks) {
            KvMsgMeta meta;
            g_autoptr(KvMsg) m = kv_consumer_next(c, KV_TIMEOUT_NS, &meta, error);
            if (!m) {
                kv_consumer_stop(c);
                g_byte_array_unref(out);
                return NULL;
            }
            gsize n;
            const guint8 *d = g_bytes_get_data(m->data, &n);
            g_checksum_update(sum, d, n);
            g_byte_array_append(out, d, (guint)n);
            got++;
            if (out->len > info->size) why = "more data than its size";
            else if (got < info->chunks && meta.pending == 0) why = "chunks are missing";
        }
        kv_consumer_stop(c);
        if (why) {
            g_byte_array_unref(out);
            return corrupt(error, name, why);
        }
    }
    guint8 raw[32];
    gsize n = sizeof raw;
    g_checksum_get_digest(sum, raw, &n);
    if (out->len != info->size || memcmp(raw, g_bytes_get_data(want, NULL), 32) != 0) {
        g_byte_array_unref(out);
        return corrupt(error, name, out->len != info->size ? "size does not match" : "digests do not match");
    }
    if (info_out) *info_out = g_steal_pointer(&info);
    return g_byte_array_free_to_bytes(out);
}

/* --- list, delete, watch, destroy ---------------------------------------------------------- */

static gint cmp_name(gconstpointer a, gconstpointer b) {
    const ObjInfo *x = *(ObjInfo *const *)a, *y = *(ObjInfo *const *)b;
    return strcmp(x->name, y->name);
}

ObjWatch *objstore_watch_start(ObjStore *os, bool history, GError **error) {
    g_autofree char *filter = g_strdup_printf("$O.%s.M.>", os->bucket);
    KvConsumer *c = kv_consumer_start(os->kc, os->stream, filter,
                                      history ? KV_DELIVER_LAST_PER_SUBJECT : KV_DELIVER_NEW, false, error);
    if (!c) return NULL;
    ObjWatch *w = g_new0(ObjWatch, 1);
    w->os = os;
    w->c = c;
    return w;
}

static ObjInfo *watch_next_meta(ObjWatch *w, int64_t timeout_ns, KvMsgMeta *meta, GError **error) {
    g_autoptr(KvMsg) m = kv_consumer_next(w->c, timeout_ns, meta, error);
    if (!m) return NULL;
    gsize n;
    const void *d = g_bytes_get_data(m->data, &n);
    return info_parse(w->os, d, n, meta->stream_seq, error);
}

ObjInfo *objstore_watch_next(ObjWatch *w, int64_t timeout_ns, GError **error) {
    KvMsgMeta meta;
    return watch_next_meta(w, timeout_ns, &meta, error);
}

void objstore_watch_stop(ObjWatch *w) {
    if (!w) return;
    kv_consumer_stop(w->c);
    g_free(w);
}

GPtrArray *objstore_list(ObjStore *os, GError **error) {
    ObjWatch *w = objstore_watch_start(os, true, error);
    if (!w) return NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)obj_info_free);
    uint64_t pending = kv_consumer_initial_pending(w->c);
    while (pending > 0) {
        KvMsgMeta meta;
        ObjInfo *i = watch_next_meta(w, KV_TIMEOUT_NS, &meta, error);
        if (!i) {
            g_ptr_array_free(out, TRUE);
            objstore_watch_stop(w);
            return NULL;
        }
        pending = meta.pending;
        if (i->deleted) obj_info_free(i);
        else g_ptr_array_add(out, i);
    }
    objstore_watch_stop(w);
    g_ptr_array_sort(out, cmp_name);
    return out;
}

gboolean objstore_delete(ObjStore *os, const char *name, GError **error) {
    g_autoptr(ObjInfo) info = objstore_info(os, name, error);
    if (!info) return FALSE;
    g_autofree char *old_nuid = g_strdup(info->nuid);
    info->size = info->chunks = 0;
    g_free(info->digest);
    info->digest = g_strdup("");
    info->deleted = true;
    g_free(info->mtime);
    info->mtime = mtime_now(kv_conn_env(os->kc));
    g_autofree char *json = info_json(info);
    g_autofree char *enc = objstore_name_encode(name);
    g_autofree char *meta_subj = g_strdup_printf("$O.%s.M.%s", os->bucket, enc);
    static const char rollup[] = "NATS/1.0\r\nNats-Rollup: sub\r\n\r\n";
    if (!kv_js_publish(os->kc, meta_subj, rollup, strlen(rollup), json, strlen(json), error)) return FALSE;
    g_autofree char *chunks = g_strdup_printf("$O.%s.C.%s", os->bucket, old_nuid);
    return purge_subject(os, chunks, error);
}

gboolean objstore_destroy(ObjStore *os, GError **error) {
    g_autofree char *api = g_strdup_printf("STREAM.DELETE.%s", os->stream);
    g_autoptr(JsonParser) p = NULL;
    return kv_js_api(os->kc, api, "", &p, error) != NULL;
}
