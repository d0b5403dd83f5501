/* store_files.c — the open-file budget every file store of a server shares: an LRU of open
 * segment files.
 *
 * WHAT IT IS
 *   A stream's segments are opened when they are used (an append, a load, a recovery walk),
 *   not when the stream opens, and stay open while the budget allows. When a store needs a
 *   file and the budget is spent, the least recently used open segment of ANY stream is
 *   closed (after an fsync if it holds unsynced writes). 10,000 streams therefore need a
 *   few dozen descriptors, not 10,000: a process limit of 1,024 leaves the rest for clients.
 *
 * INTERFACE (store.h for the pool, store_index.h for the slots)
 *   store_files_new(env, max)     max = 0: derived from the process limit (store_files_budget)
 *   store_files_budget(env)       clamp(RLIMIT_NOFILE / LIMIT_STORE_OPEN_FILES_SHARE,
 *                                 LIMIT_STORE_OPEN_FILES_MIN_COUNT, ..._MAX_COUNT)
 *   store_files_get(p, slot, path, flags, error)   the slot's fd, opened (evicting) if need be
 *   store_files_drop(p, slot)     close the slot's fd (segment removed or store closed)
 *   store_files_open_count(p)
 *   The fd returned is valid until the next store_files_get on the same pool: use it at
 *   once, never keep it across another get (that get may close it).
 *
 * HOW IT WORKS
 *   A GQueue of the slots with an open fd, most recently used first; each slot embeds its
 *   own GList link, so a touch (unlink, push to the head) is O(1) and allocates nothing.
 *   Eviction takes the tail. A slot's before_close hook runs first: the file store fsyncs a
 *   segment with unsynced writes there (sync never / interval: the kernel would keep the
 *   pages anyway; doing it before the close keeps a failed writeback reported to the store
 *   that wrote it, not lost with the descriptor).
 *
 * LIMITATIONS
 *   - One pool per server (jetstream.c); a store opened without one (unit tests) makes a
 *     private pool with the same budget.
 *   - Consumer state logs and Raft logs keep their own descriptors, outside this budget.
 */
#include "store_index.h"

#include "limits.h"

struct StoreFiles {
    Env *env;
    guint max;
    GQueue lru; /* StoreFileSlot*, most recently used at the head */
    int refs;
};

guint store_files_budget(Env *env) {
    int64_t nofile = env_files_max(env);
    if (nofile <= 0) return LIMIT_STORE_OPEN_FILES_MAX_COUNT;
    int64_t share = nofile / LIMIT_STORE_OPEN_FILES_SHARE;
    return (guint)CLAMP(share, LIMIT_STORE_OPEN_FILES_MIN_COUNT, LIMIT_STORE_OPEN_FILES_MAX_COUNT);
}

StoreFiles *store_files_new(Env *env, guint max) {
    StoreFiles *p = g_new0(StoreFiles, 1);
    p->env = env;
    p->max = max > 0 ? max : store_files_budget(env);
    p->refs = 1;
    g_queue_init(&p->lru);
    return p;
}

StoreFiles *store_files_ref(StoreFiles *p) {
    p->refs++;
    return p;
}

void store_files_unref(StoreFiles *p) {
    if (p == NULL || --p->refs > 0) return;
    g_assert(p->lru.length == 0); /* every store closed its files */
    g_free(p);
}

guint store_files_open_count(StoreFiles *p) { return p->lru.length; }
guint store_files_max(StoreFiles *p) { return p->max; }

void store_files_drop(StoreFiles *p, StoreFileSlot *slot) {
    if (slot->fd < 0) return;
    g_queue_unlink(&p->lru, &slot->link);
    env_file_close(p->env, slot->fd);
    slot->fd = -1;
}

int store_files_get(StoreFiles *p, StoreFileSlot *slot, const char *path, int flags, GError **error) {
    if (slot->fd >= 0) {
        if (p->lru.head != &slot->link) { /* touch */
            g_queue_unlink(&p->lru, &slot->link);
            g_queue_push_head_link(&p->lru, &slot->link);
        }
        return slot->fd;
    }
    while (p->lru.length >= p->max) {
        StoreFileSlot *old = p->lru.tail->data;
        if (old->before_close) old->before_close(old);
        store_files_drop(p, old);
    }
    int fd = env_file_open(p->env, path, flags, error);
    if (fd < 0) return -1;
    slot->fd = fd;
    slot->link = (GList){.data = slot};
    g_queue_push_head_link(&p->lru, &slot->link);
    return fd;
}
