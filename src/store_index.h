/* store_index.h — the store's private half: the index every backend shares and the backend
 * vtable. Included only by store_index.c, store_cold.c, store_mem.c and store_file.c; the rest of the broker
 * sees store.h, where a Store is opaque.
 *
 * WHAT IS HERE
 *   StoreEntry    one per seq in [base, last_seq]: locator, timestamp, subject id, bytes
 *   StoreSubject  one subject's live seqs, strictly increasing (and its count in cold segments)
 *   StoreCold     a COLD segment: a summary of its live messages, their entries not loaded
 *   StoreBackend  what a backend does with records: append, load, release, tombstone, flush
 *   struct Store  the index plus the backend's state (impl)
 *   store_index_* the generic index operations the backends call (recovery replays records
 *                 through them; rollback truncates with them)
 *   store_cold_*  what store_cold.c does for store_index.c, and the few index helpers it uses
 *                 (the last section: for those two files only)
 * See store_index.c for the index's layout and costs, store_cold.c for cold segments,
 * store.h for the invariants.
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
    uint64_t *seqs; /* live seqs of the loaded entries, strictly increasing, in seqs[head .. len) */
    size_t head, len, cap;
    uint64_t cold;  /* live messages in cold segments (all of them below seqs[head]) */
    uint64_t cold_first, cold_last; /* the first and last of those (when cold > 0) */
    size_t thaw_add; /* while thawing: seqs the thawed segments add (0 otherwise) */
} StoreSubject;

/* One subject's share of a cold segment. */
typedef struct StoreColdSubject {
    StoreSubject *sj; /* NULL once its last message here left while cold (msgs == 0) */
    uint64_t msgs, first, last;
} StoreColdSubject;

/* A StoreEntry.subject_id a backend's thaw gives a message whose subject has none left in the
 * cold segment (StoreColdSubject.sj NULL): the message left while cold (COLD CHANGES). */
#define STORE_SUBJECT_NONE 0x7FFFFFFFu

/* A COLD segment (store_cold.c, COLD SEGMENTS): its live messages are counted here and in
 * their subjects, their entries are not in memory until a question needs them (thaw). */
typedef struct StoreCold {
    uint32_t tag;             /* the backend's name for it (file: the segment number) */
    uint32_t check;           /* the backend's proof it is unchanged (file: its index file's CRC) */
    uint64_t span_lo, span_hi; /* the seqs the backend's thaw fills: its first and last when it
                               * went cold (lo and hi only move inward from them) */
    uint64_t lo, hi;          /* its first and last live seq */
    int64_t lo_ts_ns, hi_ts_ns;
    uint64_t msgs, bytes, hdr_msgs;
    guint nsubjects;
    StoreColdSubject *subjects; /* in the backend's order (file: the index file's subject numbers) */
    GArray *gone;             /* uint64_t: seqs inside (lo, hi) that left while cold (COLD CHANGES), or NULL */
    StoreEntry *read;         /* its entries [span_lo, span_hi] as they are now, kept for READS
                               * (NULL = not): COLD READS */
    GList link;               /* in Store.reads while `read` is kept */
} StoreCold;

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
    /* COLD SEGMENTS (backends that freeze): fill out[0 .. c->span_hi - c->span_lo] (zeroed:
     * holes) with the entries c held when it went cold, exactly the ones the backend's summary
     * then counted (the index takes away what left since: COLD CHANGES); a subject whose
     * StoreColdSubject.sj is NULL gets STORE_SUBJECT_NONE. FALSE + error: they cannot be read
     * (the index treats them as lost). */
    gboolean (*thaw)(Store *s, const StoreCold *c, StoreEntry *out, GError **error);
    /* A cold segment's messages left the index without being thawed: a floor removed them,
     * or (lost) thaw could not hand them back, and what holds them must stay on disk for the
     * next open to find them again. */
    void (*released_cold)(Store *s, const StoreCold *c, bool lost);
    void (*check)(Store *s);
    uint64_t (*buffer_bytes)(Store *s); /* store_memory's `buffers` (NULL: none) */
    void (*close)(Store *s); /* flush, free the backend's state (not the index) */
} StoreBackend;

struct Store {
    Env *env;
    char *name;
    const StoreBackend *be;
    void *impl;               /* the backend's state */
    GArray *entries;          /* StoreEntry; entries[i] is seq base + i (every seq >= base: below
                               * it, only cold segments' messages are live) */
    GPtrArray *cold;          /* StoreCold*, oldest first, every seq in them < base */
    uint64_t cold_msgs;       /* their live messages (included in msgs, bytes, hdr_msgs) */
    GQueue reads;             /* cold segments whose entries are kept for reads, newest use first */
    guint reads_max;          /* at most this many (COLD READS) */
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

/* The generic index operations the backends use (store_index.c; the cold ones store_cold.c). */
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
/* COLD SEGMENTS. May a cold segment whose first live seq is lo be added now? (Nothing loaded
 * is live, lo is above last_seq.) */
gboolean store_index_can_freeze(Store *s, uint64_t lo);
/* Add c (taken; its subjects made with store_index_subject_for) as the newest cold segment:
 * the counts, last_seq and last_ts_ns move as if its messages had been added one by one. */
void store_index_freeze(Store *s, StoreCold *c);
/* COLD AGAIN: c (taken, its subjects made with store_index_subject_for) describes exactly the
 * live entries at the bottom of the loaded index, every live seq <= c->hi: they leave it and c
 * becomes the newest cold segment. FALSE (c freed, nothing changed) if they do not match. */
gboolean store_index_refreeze(Store *s, StoreCold *c);
/* COLD READS: drop every kept read array (an idle store gives them back). */
void store_index_drop_reads(Store *s);
/* The entries array and every subject's list reallocated to what they hold: the room kept
 * for the next segment's entries (COLD AGAIN) given back (an idle store). */
void store_index_shrink(Store *s);
/* Load the entries of every cold segment holding a seq >= seq (see COLD SEGMENTS). */
void store_index_thaw_from(Store *s, uint64_t seq);
/* Raise last_seq to `last` without a message (the seqs between become deleted). */
void store_index_raise_last(Store *s, uint64_t last);
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

/* --- between the two halves of the generic store: store_index.c and store_cold.c only --- */

static inline StoreCold *cold_at(const Store *s, guint i) { return s->cold->pdata[i]; }
static inline uint64_t loaded_msgs(const Store *s) { return s->msgs - s->cold_msgs; }
/* The loaded entry of seq, base <= seq <= last_seq (live or not). */
static inline StoreEntry *entry_at(Store *s, uint64_t seq) { return &g_array_index(s->entries, StoreEntry, seq - s->base); }

/* --- store_cold.c --- */
void store_cold_free(gpointer c);
/* The cold segment whose seq range [lo, hi] holds seq (not necessarily live), or NULL. */
StoreCold *store_cold_find(const Store *s, uint64_t seq);
/* COLD READS: c's entries [span_lo, span_hi] (read[q - c->span_lo] is seq q's), decoded once
 * and kept. NULL: the backend could not hand them back, c was thawed (its messages lost) and
 * freed; ask the loaded index again. */
const StoreEntry *store_cold_read(Store *s, StoreCold *c);
/* COLD CHANGES: live seq q of cold segment c leaves the index (*out = its entry), c stays cold.
 * 1 = removed, 0 = not live, -1 = c could not be read (it was thawed: ask the loaded index). */
int store_cold_del(Store *s, StoreCold *c, uint64_t q, StoreEntry *out);
/* COLD CHANGES: up to `max` (0 = all) seqs <= `top` of the cold messages whose subjects `match`
 * (a subject id -> TRUE table), oldest first, appended to seqs. FALSE: a segment could not be
 * read (it was thawed, the caller asks the loaded index). */
bool store_cold_matching(Store *s, GHashTable *match, uint64_t top, uint64_t max, GArray *seqs);
/* A floor over the cold segments; returns how many cold messages left. */
uint64_t store_cold_floor(Store *s, uint64_t floor);
/* COLD READS for one subject that straddles `from`: its next seq >= from, or its count. */
bool store_cold_subject_from(Store *s, StoreSubject *sj, uint64_t from, bool count, uint64_t *out);
/* store_check_invariants' half for the cold segments: asserts theirs, adds their bytes and
 * messages with headers to *bytes and *hdr_msgs. */
void store_cold_check(Store *s, uint64_t *bytes, uint64_t *hdr_msgs);

/* --- store_index.c --- */
size_t store_subject_lower_bound(const StoreSubject *sj, uint64_t seq);
uint64_t store_subject_next_from(const StoreSubject *sj, uint64_t from);
/* A subject with no live message left, loaded or cold, goes (its id is reused). */
void store_subject_release(Store *s, StoreSubject *sj);
/* first_seq after a change at the front. */
void store_index_first_fix(Store *s);
/* When nothing loaded is live, or the dead front grows past half the array, cut it off. */
void store_index_trim(Store *s);

#endif
