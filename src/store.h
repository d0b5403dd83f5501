/* store.h — the message store: the log of one stream, in memory or in files.
 *
 * WHAT IT IS
 *   A store keeps one stream's messages, each numbered by a sequence (1, 2, 3, ...; never
 *   reused once acknowledged), and answers the questions stream.c and consumer.c ask: by
 *   sequence, last by subject, next matching a filter, how many match, what the limits must
 *   drop. It knows nothing of limits, retention or JSON; stream.c decides, the store obeys.
 *
 *   One generic store (store_index.c) owns the in-memory INDEX every store shares:
 *     entries  one per sequence from the first loaded one to the last: timestamp, subject id,
 *              accounted bytes (0 = deleted) and a locator saying where the record lives;
 *     subjects subject -> its ordered list of live sequences (first/last/count per subject,
 *              binary search for "next at or after seq");
 *     cold     the oldest segments of a file store reopened from its index files, as
 *              summaries only (counts, first/last, per subject): their entries are loaded
 *              when a question first needs them (COLD SEGMENTS in store_cold.c).
 *   A BACKEND (the vtable StoreBackend in store_index.h, private to the store's files)
 *   keeps the records themselves:
 *     store_mem_open()   records are StoreMsg in memory (storage: memory), store_mem.c;
 *     store_file_open()  records are in append-only segment files (storage: file),
 *                        see store_file.c for the on-disk format, recovery and group commit.
 *
 * INTERFACE (in brief)
 *   store_append(s, subj, hdr, data, ts)      -> seq (buffered; see DURABILITY)
 *   store_flush(s)                            write buffered records, fsync per policy
 *   store_sync(s)                             write and fsync now, whatever the policy
 *   store_durable_seq(s)                      every seq <= this may be acknowledged
 *   store_load(s, seq)                        -> StoreMsg* (a reference: store_msg_unref)
 *   store_load_last(s, filter)                last message matching a subject or wildcard
 *   store_load_next(s, filter, from_seq)      first message >= from_seq matching filter
 *   store_remove(s, seq, erase)               delete one message (tombstoned on disk)
 *   store_purge(s, &req)                      all / filter / keep N / below seq
 *   store_compact(s, seq)                     remove everything below seq
 *   store_state(s, &st), store_damaged(s), store_count(s, filter, from_seq), store_subject_info(),
 *   store_subjects(s, filter, fn), store_deleted(s, out), store_seq_for_time(s, ts)
 *   store_memory(s, &mem)                     what the index and the buffers hold, by part
 *   store_check_invariants(s), store_close(s)
 *
 * DURABILITY AND GROUP COMMIT (what the stream must do)
 *   store_append only buffers the record and returns its sequence. The stream keeps the
 *   publishers' acks waiting, calls store_flush() once per loop turn (or batch), and then
 *   releases every waiting ack whose seq <= store_durable_seq(). One fsync covers them all.
 *   If store_append or store_flush fails (disk full, I/O error), every message appended since
 *   the last successful flush is rolled back (their seqs will be reused) and the stream must
 *   answer every waiting publisher with seq > store_durable_seq() with an error. Deletes are
 *   never rolled back: they stay buffered and are retried at the next flush.
 *   What each sync policy loses at a power cut is written in store_file.c.
 *
 * INVARIANTS (store_check_invariants)
 *   - first_seq <= last_seq + 1; msgs == live entries; bytes == their sum.
 *   - Every live entry's subject list contains its seq; lists are strictly increasing.
 *   - num_deleted == (last_seq - first_seq + 1) - msgs when msgs > 0.
 *   - durable_seq <= last_seq.
 *   - The backend's own (segment counts, buffer offsets) hold too.
 */
#ifndef MINIJET_STORE_H
#define MINIJET_STORE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"

/* ---------------------------------------------------------------------------------------- */
/* Messages                                                                                  */

/* One stored message, immutable and refcounted (one allocation holding everything), so a
 * consumer, a DIRECT.GET reply and the store can share it. Single-threaded: plain counter. */
typedef struct StoreMsg {
    int refs;
    uint64_t seq;
    int64_t ts_ns;        /* wall-clock nanoseconds, as the stream stamped it */
    const char *subject;  /* NUL-terminated */
    size_t subject_len;
    const uint8_t *hdr;   /* NATS/1.0 header block, NULL when hdr_len == 0 */
    size_t hdr_len;
    const uint8_t *data;  /* payload (never NULL; may be empty) */
    size_t data_len;
} StoreMsg;

StoreMsg *store_msg_new(uint64_t seq, int64_t ts_ns, const char *subject, size_t subject_len,
                        const void *hdr, size_t hdr_len, const void *data, size_t data_len);
StoreMsg *store_msg_ref(StoreMsg *m);
void store_msg_unref(StoreMsg *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreMsg, store_msg_unref)

/* ---------------------------------------------------------------------------------------- */
/* Configuration and state                                                                   */

typedef enum {
    STORE_SYNC_ALWAYS,   /* fsync before acknowledging (group commit: one fsync per flush) */
    STORE_SYNC_INTERVAL, /* acknowledge after write(); fsync every sync_interval_ns */
    STORE_SYNC_NEVER,    /* acknowledge after write(); fsync only at close (tests, bench) */
    STORE_SYNC_REPLICA,  /* a replicated stream's store at the default policy: its Raft log is
                          * the durable record (jscluster.c, THE STORE BEHIND THE LOG). Writes
                          * are not fsynced per flush; a segment is fsynced when it seals and
                          * at store_sync(); recovery CUTS the log at the first damaged byte
                          * (what follows is replayed from the Raft log) instead of skipping it */
} StoreSyncPolicy;

/* The open-file budget file stores share (store_files.c): one per server. */
typedef struct StoreFiles StoreFiles;
/* max = 0: derived from the process's open-file limit (store_files_budget). */
StoreFiles *store_files_new(Env *env, guint max);
StoreFiles *store_files_ref(StoreFiles *p);
void store_files_unref(StoreFiles *p); /* every store using it must be closed first */
guint store_files_budget(Env *env);
guint store_files_open_count(StoreFiles *p);
guint store_files_max(StoreFiles *p);

typedef struct StoreConfig {
    const char *name;          /* the stream's name, for log lines */
    const char *dir;           /* file store: the stream's folder (created if missing) */
    StoreSyncPolicy sync;
    int64_t sync_interval_ns;  /* STORE_SYNC_INTERVAL; 0 = LIMIT_STORE_SYNC_INTERVAL_NS */
    uint64_t segment_bytes_max; /* file store: roll segments at this size; 0 = the limit */
    uint64_t read_cache_bytes_max; /* file store: newest bytes kept for reads; 0 = the limit */
    StoreFiles *files;         /* file store: the shared open-file budget; NULL = a private one */
    guint cold_reads_max;      /* file store: cold segments whose entries are kept for reads (COLD
                                * READS in store_cold.c); 0 = LIMIT_STORE_COLD_READ_SEGMENTS */
    guint loaded_max;          /* file store: sealed segments whose entries stay loaded (COLD AGAIN
                                * in store_cold.c); 0 = LIMIT_STORE_LOADED_SEGMENTS */
} StoreConfig;

typedef struct StoreState {
    uint64_t msgs;
    uint64_t bytes;        /* nats-server's accounting (see store_msg_bytes) */
    uint64_t first_seq;    /* lowest live seq; last_seq + 1 when empty */
    uint64_t last_seq;     /* highest seq ever assigned (survives purges) */
    int64_t first_ts_ns;   /* 0 when empty */
    int64_t last_ts_ns;    /* timestamp of last_seq's message if live, else 0 */
    uint64_t num_deleted;  /* gaps between first_seq and last_seq */
    uint64_t num_subjects; /* distinct subjects with live messages */
} StoreState;

typedef struct StoreSubjectInfo {
    uint64_t msgs;
    uint64_t first_seq;
    uint64_t last_seq;
} StoreSubjectInfo;

/* Purge request, as $JS.API.STREAM.PURGE has it. All zero/NULL = purge everything.
 *   filter  only subjects matching this (literal or wildcard); NULL/"" = all
 *   seq     only messages with seq < this (nats-server: "up to, not including")
 *   keep    keep the newest `keep` matching messages
 * seq and keep together are refused by the stream layer; here keep wins. */
typedef struct StorePurge {
    const char *filter;
    uint64_t seq;
    uint64_t keep;
    uint64_t last;  /* only messages with seq <= last (0 = no bound): a replicated purge applied
                     * again from the Raft log leaves newer messages alone (jscluster.c, op 2) */
} StorePurge;

/* ---------------------------------------------------------------------------------------- */
/* The store                                                                                 */

typedef struct Store Store;

Store *store_mem_open(Env *env, const StoreConfig *cfg);
/* Opens (or creates) cfg->dir and recovers it. Corrupt or torn data is truncated and
 * reported with env_log(WARN); NULL + error only when the folder itself is unusable. */
Store *store_file_open(Env *env, const StoreConfig *cfg, GError **error);
/* Flushes (and fsyncs unless SYNC_NEVER... and even then), closes files, frees memory.
 * Outstanding StoreMsg references stay valid. */
void store_close(Store *s);

/* Append a message stamped ts_ns; returns its seq (last_seq + 1), or 0 with error. */
uint64_t store_append(Store *s, const char *subject, size_t subject_len, const void *hdr,
                      size_t hdr_len, const void *data, size_t data_len, int64_t ts_ns,
                      GError **error);
/* Write what is buffered, fsync per the policy. FALSE = rolled back, see DURABILITY. */
gboolean store_flush(Store *s, GError **error);
/* Write what is buffered and fsync everything written so far, whatever the policy (a
 * replicated stream's group calls it before compacting its Raft log past what it wrote). */
gboolean store_sync(Store *s, GError **error);
uint64_t store_durable_seq(Store *s);
/* TRUE when appends or deletes wait for store_flush. */
gboolean store_dirty(Store *s);

/* Loads return a new reference (store_msg_unref it), or NULL: not found (no error set) or
 * unreadable / failed its checksum (error set: never returns corrupted data). */
StoreMsg *store_load(Store *s, uint64_t seq, GError **error);
StoreMsg *store_load_last(Store *s, const char *filter, GError **error);
StoreMsg *store_load_next(Store *s, const char *filter, uint64_t from_seq, GError **error);
/* The seq store_load_next would return, without reading the record; 0 = none. */
uint64_t store_next_seq(Store *s, const char *filter, uint64_t from_seq);
/* The next live seq >= from_seq whose message has headers, from the index alone; 0 = none. */
uint64_t store_next_seq_with_headers(Store *s, uint64_t from_seq);

/* Delete one message. FALSE without error: no such message. erase: also scrub its bytes
 * (memory: the store's copy; file: see LIMITATIONS in store_file.c). */
gboolean store_remove(Store *s, uint64_t seq, gboolean erase, GError **error);
/* Returns how many messages were purged; error only for I/O failures. */
uint64_t store_purge(Store *s, const StorePurge *req, GError **error);
/* Remove every message with seq < seq. If seq > last_seq + 1 the stream jumps ahead:
 * last_seq becomes seq - 1 (nats-server's Compact). Returns how many were removed. */
uint64_t store_compact(Store *s, uint64_t seq, GError **error);

void store_state(Store *s, StoreState *out);
/* Seqs this store's recovery found corrupt and dropped (they read as deleted); 0 = intact. */
uint64_t store_damaged(const Store *s);
/* Messages matching filter (NULL/"" = all) with seq >= from_seq: a consumer's pending count. */
uint64_t store_count(Store *s, const char *filter, uint64_t from_seq);
/* For one literal subject; FALSE when it has no messages. */
gboolean store_subject_info(Store *s, const char *subject, StoreSubjectInfo *out);
/* Calls fn for every subject matching filter (NULL/"" = all), in sorted subject order. */
void store_subjects(Store *s, const char *filter,
                    void (*fn)(const char *subject, uint64_t msgs, void *arg), void *arg);
/* Appends the deleted seqs between first_seq and last_seq to out (a GArray of guint64). */
void store_deleted(Store *s, GArray *out);
/* First live seq whose timestamp is >= ts_ns (DeliverByStartTime); 0 = none. */
uint64_t store_seq_for_time(Store *s, int64_t ts_ns);
/* The accounted size of a message, for max_bytes decisions before appending. */
uint64_t store_msg_bytes(Store *s, size_t subject_len, size_t hdr_len, size_t data_len);
/* "memory" or "file". */
const char *store_kind(Store *s);

/* The memory a store holds besides the records themselves, by part (bytes; allocator overhead
 * not counted). A file store's bound while written: its active segment's entries and lists,
 * the buffers, and a summary per cold segment; after LIMIT_STORE_IDLE_NS idle, the buffers and
 * COLD READS are 0 (store_file.c, IDLE). */
typedef struct StoreMemory {
    uint64_t entries;       /* loaded StoreEntry array (its length, not the allocation's) */
    uint64_t loaded_msgs;   /* live messages among them */
    uint64_t subjects;      /* subjects: their names, structs and seq lists (capacity) */
    uint64_t cold;          /* cold segments' summaries */
    uint64_t reads;         /* COLD READS: entry arrays kept for reads */
    uint64_t buffers;       /* the backend's: write buffer, read cache, read-ahead (the most
                             * each held since it was last given back: its allocation is at
                             * least that) */
} StoreMemory;
void store_memory(Store *s, StoreMemory *out);

void store_check_invariants(Store *s);

/* Subject filter matching (tokens, '*', '>'); NULL or "" matches everything. */
bool store_filter_matches(const char *filter, const char *subject);

#endif
