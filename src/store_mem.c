/* store_mem.c — the memory backend of the store (storage: memory).
 *
 * WHAT IT IS
 *   The smallest StoreBackend (store_index.h): a record is a refcounted StoreMsg and its
 *   locator is the pointer. Nothing is durable: durable_seq is always last_seq, flush has
 *   nothing to do, and a restart loses every message (the stream's config survives in its
 *   meta.json). The index, filters, purge and counts are the generic ones in store_index.c.
 *
 * INTERFACE
 *   store_mem_open(env, cfg)   a new, empty store; everything else through store.h.
 */
#include "store_index.h"

/* --- the memory backend: a record is a StoreMsg, its locator the pointer --- */

static gboolean mem_append(Store *s, uint64_t seq, StoreEntry *e, const char *subject,
                           size_t subject_len, const void *hdr, size_t hdr_len, const void *data,
                           size_t data_len, GError **error) {
    StoreMsg *m = store_msg_new(seq, e->ts_ns, subject, subject_len, hdr, hdr_len, data, data_len);
    e->loc = (uint64_t)(uintptr_t)m;
    return TRUE;
}

static StoreMsg *mem_load(Store *s, uint64_t seq, const StoreEntry *e, GError **error) {
    return store_msg_ref((StoreMsg *)(uintptr_t)e->loc);
}

static void mem_released(Store *s, uint64_t seq, const StoreEntry *e) {
    store_msg_unref((StoreMsg *)(uintptr_t)e->loc);
}

static void mem_removed(Store *s, uint64_t seq, gboolean erase) {}
static void mem_floor(Store *s, uint64_t floor) {}
static gboolean mem_flush(Store *s, GError **error) { return TRUE; }
static uint64_t mem_durable_seq(Store *s) { return s->last_seq; }
static gboolean mem_dirty(Store *s) { return FALSE; }

/* nats-server's memStoreMsgSize: what `bytes` in stream info counts for memory streams. */
static uint64_t mem_msg_bytes(size_t subject_len, size_t hdr_len, size_t data_len) {
    return subject_len + hdr_len + data_len + 16;
}

static void mem_close(Store *s) {
    for (uint64_t q = s->first_seq; s->msgs && q <= s->last_seq; q++) {
        StoreEntry *e = store_index_get(s, q);
        if (e) mem_released(s, q, e);
    }
}

static const StoreBackend mem_backend = {
    .kind = "memory",
    .append = mem_append,
    .load = mem_load,
    .released = mem_released,
    .removed = mem_removed,
    .floor = mem_floor,
    .flush = mem_flush,
    .sync = mem_flush,
    .durable_seq = mem_durable_seq,
    .dirty = mem_dirty,
    .msg_bytes = mem_msg_bytes,
    .check = NULL,
    .close = mem_close,
};

Store *store_mem_open(Env *env, const StoreConfig *cfg) {
    Store *s = g_malloc0(sizeof(Store));
    store_index_init(s, env, cfg ? cfg->name : NULL, &mem_backend);
    return s;
}
