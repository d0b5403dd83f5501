/* store_index.h — the store's private half: the index every backend shares and the backend
 * vtable. Included only by store_index.c, store_mem.c and store_file.c; the rest of the broker
 * sees store.h, where a Store is opaque.
 *
 * WHAT IS HERE
 *   StoreEntry    one per seq in [base, last_seq]: locator, timestamp, subject id, bytes
 *   StoreSubject  one subject's live seqs, strictly increasing
 *   StoreBackend  what a backend does with records: append, load, release, tombstone, flush
 *   struct Store  the index plus the backend's state (impl)
 *   store_index_* the generic index operations the backends call (recovery replays records
 *                 through them; rollback truncates with them)
 * See store_index.c for the index's layout and costs, store.h for the invariants.
 */
#ifndef MINIJET_STORE_INDEX_H
#define MINIJET_STORE_INDEX_H

#include "store.h"

/* One index entry per seq in [base, last_seq]. bytes == 0 marks a deleted seq. */
typedef struct StoreEntry {
    uint64_t loc;        /* backend's locator: a StoreMsg* (memory), segment<<32|offset (file) */
    int64_t ts_ns;
    uint32_t subject_id : 31; /* index into Store.subject_by_id */
    uint32_t has_hdr : 1;     /* the message carries headers (restart reads only these: dedup) */
    uint32_t bytes;           /* accounted bytes, 0 = deleted */
} StoreEntry;

typedef struct StoreSubject {
    char *subject;
    uint32_t id;
    uint64_t *seqs; /* live seqs, strictly increasing, in seqs[head .. len) */
    size_t head, len, cap;
} StoreSubject;

typedef struct StoreBackend {
    const char *kind;
    /* Persist a new message (already in the index as entry e with seq); set e->loc. */
    gboolean (*append)(Store *s, uint64_t seq, StoreEntry *e, const char *subject,
                       size_t subject_len, const void *hdr, size_t hdr_len, const void *data,
                       size_t data_len, GError **error);
    StoreMsg *(*load)(Store *s, uint64_t seq, const StoreEntry *e, GError **error);
    /* Seq left the index (delete, purge, compact, rollback): release its storage. */
    void (*released)(Store *s, uint64_t seq, const StoreEntry *e);
    /* Record durably (at the next flush) that seq was deleted. */
    void (*removed)(Store *s, uint64_t seq, gboolean erase);
    /* Record durably that every seq < floor is gone (compact / purge all). */
    void (*floor)(Store *s, uint64_t floor);
    gboolean (*flush)(Store *s, GError **error);
    gboolean (*sync)(Store *s, GError **error); /* flush and fsync now, whatever the policy */
    uint64_t (*durable_seq)(Store *s);
    gboolean (*dirty)(Store *s);
    uint64_t (*msg_bytes)(size_t subject_len, size_t hdr_len, size_t data_len);
    void (*check)(Store *s);
    void (*close)(Store *s); /* flush, free the backend's state (not the index) */
} StoreBackend;

struct Store {
    Env *env;
    char *name;
    const StoreBackend *be;
    void *impl;               /* the backend's state */
    GArray *entries;          /* StoreEntry; entries[i] is seq base + i */
    uint64_t base;
    uint64_t first_seq, last_seq;
    uint64_t msgs, bytes;
    int64_t last_ts_ns;       /* timestamp of the newest message ever appended */
    GHashTable *subjects;     /* char* -> StoreSubject* */
    GPtrArray *subject_by_id; /* StoreSubject* or NULL (free id) */
    GArray *free_ids;         /* uint32_t */
    StoreSubject *last_subject; /* the subject subject_get found last (NULL once freed) */
    uint64_t damaged;         /* seqs recovery found corrupt and dropped (store_damaged) */
    uint64_t hdr_msgs;        /* live messages with headers (none: the dedup rebuild walks nothing) */
};

/* One file in a StoreFiles pool (store_files.c): embedded in whatever owns the file. */
typedef struct StoreFileSlot {
    int fd;     /* -1 = closed */
    GList link; /* in the pool's LRU while open */
    void (*before_close)(struct StoreFileSlot *slot); /* eviction is about to close it */
} StoreFileSlot;
/* The slot's fd, opened with flags (path unused when it is open) if closed, evicting the least
 * recently used file when the pool is full. Valid until the next store_files_get on the pool. */
int store_files_get(StoreFiles *p, StoreFileSlot *slot, const char *path, int flags, GError **error);
void store_files_drop(StoreFiles *p, StoreFileSlot *slot);

/* The generic index operations the backends use (store_index.c). */
void store_index_init(Store *s, Env *env, const char *name, const StoreBackend *be);
void store_index_clear(Store *s);
/* Add a live entry for seq (>= last_seq + 1; a gap becomes deleted seqs). */
StoreEntry *store_index_add(Store *s, uint64_t seq, int64_t ts_ns, const char *subject,
                            size_t subject_len, bool has_hdr, uint32_t bytes, uint64_t loc);
/* The same in two steps, for a bulk load (an index file's replay): the subject, created if new,
 * with room for `more` seqs in its list (grown once instead of doubling), then the entry. */
StoreSubject *store_index_subject_for(Store *s, const char *subject, size_t subject_len, size_t more);
StoreEntry *store_index_add_to(Store *s, StoreSubject *sj, uint64_t seq, int64_t ts_ns, bool has_hdr,
                               uint32_t bytes, uint64_t loc);
/* Make room for n more entries (no effect on the index; saves regrowing during a bulk load). */
void store_index_reserve(Store *s, uint64_t n);
/* Remove seq from the index; copies its entry to *out. FALSE if not live. */
gboolean store_index_del(Store *s, uint64_t seq, StoreEntry *out);
/* Drop the newest messages until last_seq == last (failed-flush rollback); each dropped live
 * entry goes to be->released. */
void store_index_truncate(Store *s, uint64_t last);
/* Everything below floor is gone: live entries go to be->released; first_seq moves (and
 * last_seq, if floor > last_seq + 1). Returns how many live messages were dropped. */
uint64_t store_index_floor(Store *s, uint64_t floor);
StoreEntry *store_index_get(Store *s, uint64_t seq); /* NULL if deleted/out of range */
const char *store_index_subject(Store *s, uint32_t id);

#endif
