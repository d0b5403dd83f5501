/* store_file.c — the file store: a stream is a folder of append-only segment files.
 *
 * WHAT IT IS
 *   The file backend of store.h. The index (which seq lives where, per-subject lists) is the
 *   generic one in store_index.c, kept in memory and rebuilt at open: sealed segments from
 *   their index files (INDEX FILES; left COLD, as summaries whose entries are read on first
 *   use), the active one (and any without a good index file) by scanning its records. This file writes records, reads them back (checking their
 *   checksum every time), and recovers the folder after a crash.
 *
 * INTERFACE
 *   store_file_open(env, cfg, error)   open or create cfg->dir, recover, return the Store;
 *   everything else through store.h. Locator of a message: segment number << 32 | offset.
 *
 * THE FOLDER
 *   <dir>/0000000001.seg, 0000000002.seg, ...   segments, numbered up; the last is active
 *   <dir>/0000000001.idx, ...                   a sealed segment's index (store_segidx.c); the
 *                                               active one's after a clean close
 *   A segment is rolled (a new one started) when the next record would pass
 *   cfg->segment_bytes_max (LIMIT_STORE_SEGMENT_BYTES). A segment all of whose messages are
 *   gone is removed: the oldest segments as soon as they are empty, a middle one only if it
 *   holds no tombstones (they may be the only record of an older deletion).
 *
 * THE RECORD (every integer little-endian; a segment is records back to back)
 *   offset  size  field
 *   ------  ----  ---------------------------------------------------------------------
 *        0     4  magic 0x314A4D52 ("RMJ1" on disk): a record starts here
 *        4     1  kind: 1 MSG, 2 DELETE (tombstone), 3 FLOOR (all seqs < seq are gone),
 *                 4 SEGMENT (first record of every segment), 5 LAST (high-water mark:
 *                 every seq <= seq was assigned; ends every write that holds a MSG)
 *        5     1  flags: bit 0 = erase (DELETE)
 *        6     2  subject length S (0 unless MSG)
 *        8     4  header length H
 *       12     4  payload length D
 *       16     8  seq: MSG its seq; DELETE the deleted seq; FLOOR/SEGMENT the floor;
 *                 LAST the newest MSG seq of its write
 *       24     8  MSG: timestamp ns; SEGMENT: the store's last_seq when it was created
 *       32     S  subject
 *     32+S     H  NATS headers
 *   32+S+H     D  payload
 * 32+S+H+D     4  CRC32C (Castagnoli) of bytes [0, 32+S+H+D)
 *   Record size: 36 + S + H + D bytes. The log is the truth; index files (INDEX FILES) only
 *   save reading it, and any doubt about one falls back to the log.
 *
 * THE HIGH-WATER MARK (LAST)
 *   Sequence numbers are never handed out twice, even when the newest acknowledged record is
 *   the one a bit flip destroyed: every flush that writes a MSG ends its buffer with a LAST
 *   record naming the newest seq in it, in the same pwrite and covered by the same fsync as
 *   the messages. Cost: 36 bytes per group commit (no extra syscall, no extra fsync); with
 *   one 128-byte publish per fsync that is ~20% more bytes, with a full group ~0%. Recovery
 *   raises last_seq to every LAST it reads, so the damaged record's seq stays used (a hole).
 *   A segment's SEGMENT record does the same for the segment before it. Under SYNC_INTERVAL
 *   the LAST records are as unsynced as the messages: a power cut loses both (documented).
 *
 * INVARIANTS (checked by store_check_invariants -> file_check)
 *   - Sum of segment live counts == msgs; every live locator points into a known segment.
 *   - The write buffer starts at the active segment's end on disk (wbuf_off == size), and
 *     every segment's file holds its records: size <= alloc (PREALLOCATION).
 *   - Open segment files never exceed the shared budget (store_files.c): a segment's
 *     descriptor is taken with seg_fd() just before each use and may be closed after.
 *   - The tail cache holds exactly the active segment's bytes [tail_off, wbuf_off), all of
 *     them written successfully; the read-ahead block only bytes read back from disk.
 *   - durable_seq <= last_seq; nothing with seq > durable_seq has been acknowledged.
 *
 * READ CACHE (see the essay above file_load)
 *   The newest flushed bytes of the active segment (up to cfg->read_cache_bytes_max) and one
 *   read-ahead block of any segment stay in memory, so a consumer reading what was just
 *   published, or walking the log in order, does not make one pread per message.
 *
 * LIMITATIONS
 *   - A record served from the read cache is checked against its CRC like any other, but a
 *     bit flip ON DISK under a cached record goes unnoticed until the record leaves the cache
 *     (or the store is reopened: recovery reads the disk).
 *   - erase: the tombstone records the erase, but the record's bytes stay on disk until its
 *     segment is removed (rewriting a record in place could tear it and lose what follows).
 *   - Segments are never compacted (rewritten without their deleted records); a segment
 *     with one live message keeps all its bytes.
 *   - A bit flip at rest loses the record it hit (RECOVERY resynchronises at the next record
 *     that verifies); a bit flip in a DELETE/FLOOR record undoes that deletion.
 */
#include "store_index.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "crc32c.h"
#include "limits.h"
#include "store_segidx.h"

#define REC_MAGIC 0x314A4D52u
#define REC_HDR_BYTES 32
#define REC_CRC_BYTES 4
enum { KIND_MSG = 1, KIND_DELETE = 2, KIND_FLOOR = 3, KIND_SEGMENT = 4, KIND_LAST = 5 };
#define FLAG_ERASE 1

typedef struct Rec {
    int kind, flags;
    uint32_t subject_len, hdr_len, data_len;
    uint64_t seq;
    int64_t ts_ns;
    const uint8_t *subject, *hdr, *data;
    size_t size;
} Rec;

/* Parse the record at p (avail bytes). 1 = ok, 0 = need more bytes (or torn), -1 = bad. */
static int rec_parse(const uint8_t *p, size_t avail, Rec *r, const char **why) {
    if (avail < REC_HDR_BYTES + REC_CRC_BYTES) { *why = "short record header"; return 0; }
    if (get32(p) != REC_MAGIC) { *why = "bad magic"; return -1; }
    r->kind = p[4];
    r->flags = p[5];
    r->subject_len = get16(p + 6);
    r->hdr_len = get32(p + 8);
    r->data_len = get32(p + 12);
    r->seq = get64(p + 16);
    r->ts_ns = (int64_t)get64(p + 24);
    if (r->kind < KIND_MSG || r->kind > KIND_LAST || r->subject_len > LIMIT_MAX_SUBJECT_BYTES ||
        (uint64_t)r->hdr_len + r->data_len > LIMIT_STORE_RECORD_BYTES_MAX) { *why = "bad record header"; return -1; }
    r->size = REC_HDR_BYTES + (size_t)r->subject_len + r->hdr_len + r->data_len + REC_CRC_BYTES;
    if (avail < r->size) { *why = "short record"; return 0; }
    if (crc32c(p, r->size - REC_CRC_BYTES) != get32(p + r->size - REC_CRC_BYTES)) { *why = "checksum mismatch"; return -1; }
    r->subject = p + REC_HDR_BYTES;
    r->hdr = r->subject + r->subject_len;
    r->data = r->hdr + r->hdr_len;
    return 1;
}

static void rec_encode(GByteArray *buf, int kind, int flags, uint64_t seq, int64_t ts_ns,
                       const char *subject, size_t subject_len, const void *hdr, size_t hdr_len,
                       const void *data, size_t data_len) {
    size_t size = REC_HDR_BYTES + subject_len + hdr_len + data_len + REC_CRC_BYTES;
    guint at = buf->len;
    g_byte_array_set_size(buf, at + (guint)size);
    uint8_t *p = buf->data + at;
    put32(p, REC_MAGIC);
    p[4] = (uint8_t)kind;
    p[5] = (uint8_t)flags;
    put16(p + 6, (uint16_t)subject_len);
    put32(p + 8, (uint32_t)hdr_len);
    put32(p + 12, (uint32_t)data_len);
    put64(p + 16, seq);
    put64(p + 24, (uint64_t)ts_ns);
    uint8_t *q = p + REC_HDR_BYTES;
    if (subject_len) memcpy(q, subject, subject_len);
    q += subject_len;
    if (hdr_len) memcpy(q, hdr, hdr_len);
    q += hdr_len;
    if (data_len) memcpy(q, data, data_len);
    put32(p + size - REC_CRC_BYTES, crc32c(p, size - REC_CRC_BYTES));
}

/* --- the backend's state --- */

typedef struct Segment {
    uint32_t no;
    StoreFileSlot slot; /* its descriptor in the shared budget (store_files.c): use seg_fd() */
    Store *store;
    uint64_t size;  /* bytes of records on disk: the log's end (the write buffer comes after) */
    uint64_t alloc; /* the file's length: size + the zeroed preallocated tail (PREALLOCATION) */
    uint64_t live;  /* live messages in this segment */
    uint64_t tombs; /* DELETE/FLOOR records in this segment */
    /* NOTES for its index file (see INDEX FILES), kept from the records as they are written
     * or replayed: */
    uint64_t seg_floor, seg_last; /* its SEGMENT record */
    uint64_t msg_lo, hiwater;     /* first MSG seq; highest MSG or LAST seq (0 = none) */
    int64_t last_ts_ns;           /* timestamp of its newest MSG */
    uint32_t tail_crc;            /* the CRC of its last record on disk */
    GArray *runs;                 /* SegIdxTomb: its DELETE/FLOOR records, runs merged */
    gboolean needs_index;         /* sealed, and no index file describes it yet */
    uint64_t indexed;             /* bytes its newest index file covers (0 = none): CHECKPOINTS */
    gboolean keep;                /* messages of it were lost at a thaw (COLD SEGMENTS): never removed
                                   * as dead, the next open finds them again */
    gboolean was_cold;            /* it has been cold (open or COLD AGAIN): goes cold again on a
                                   * flush only if its index file still lists its live messages */
} Segment;

typedef struct FileStore {
    char *dir;
    StoreSyncPolicy sync;
    int64_t sync_interval_ns;
    uint64_t segment_bytes_max;
    GPtrArray *segs;       /* Segment*, by number; the last is active */
    GByteArray *wbuf;      /* records for the active segment since the last good flush */
    uint64_t wbuf_off;     /* where wbuf goes in the active segment */
    uint64_t wbuf_last_msg; /* seq of the newest MSG in wbuf, 0 = none */
    uint64_t durable_seq;
    gboolean unsynced;     /* written to the active segment but not fsynced */
    uint32_t prealloc_off; /* preallocating segment `prealloc_off` failed: it grows by its writes */
    gboolean dir_dirty;    /* a segment was created since the last dir_sync */
    GError *failed;        /* an fsync failed: the store refuses writes until reopened (FAILED SYNC) */
    EnvTimer timer;
    /* the read cache (see READ CACHE above file_load) */
    GByteArray *tail;      /* active segment bytes [tail_off, wbuf_off), as written */
    uint32_t tail_seg;     /* the segment the tail belongs to (0 = none) */
    uint64_t tail_off;
    uint64_t tail_max;     /* cfg->read_cache_bytes_max */
    uint8_t *ra;           /* read-ahead block: segment ra_seg's bytes [ra_off, ra_off + ra_len) */
    uint32_t ra_seg;       /* 0 = empty */
    uint64_t ra_off;
    size_t ra_len;
    guint index_pending;   /* sealed segments with needs_index set (see INDEX FILES) */
    guint loaded_max;      /* sealed segments whose entries stay loaded (COLD AGAIN) */
    EnvTimer idle_timer;   /* IDLE: armed while the store is used (0 = none) */
    gboolean busy;         /* IDLE: appended to or read since the timer was armed */
    size_t wbuf_peak, tail_peak; /* the most wbuf / tail held since they were last given back */
    StoreFiles *files;     /* the open-file budget (shared by the server's streams) */
} FileStore;

static void write_pending_indexes(Store *s);
static gboolean seg_index_write(Store *s, Segment *g, GError **error);
static void checkpoint_active(Store *s);
static void refreeze_sealed(Store *s, gboolean idle);
static void touch(Store *s);

static FileStore *FS(Store *s) { return s->impl; }
static Segment *active(FileStore *fs) { return fs->segs->pdata[fs->segs->len - 1]; }

static char *seg_path(FileStore *fs, uint32_t no) { return g_strdup_printf("%s/%010u.seg", fs->dir, no); }

static Segment *seg_find(FileStore *fs, uint32_t no) {
    guint lo = 0, hi = fs->segs->len;
    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        Segment *g = fs->segs->pdata[mid];
        if (g->no == no) return g;
        if (g->no < no) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void seg_free(Store *s, Segment *g) {
    store_files_drop(FS(s)->files, &g->slot);
    if (g->runs) g_array_free(g->runs, TRUE);
    g_free(g);
}

static void mark_failed(Store *s, Segment *g, const GError *why);

/* The budget is closing g's descriptor for another file: unsynced writes (sync never or an
 * interval) are fsynced first, so a failed writeback is reported to this store. */
static void seg_before_close(StoreFileSlot *slot) {
    Segment *g = (Segment *)((char *)slot - G_STRUCT_OFFSET(Segment, slot));
    Store *s = g->store;
    FileStore *fs = FS(s);
    if (g != active(fs) || !fs->unsynced || fs->failed) return;
    g_autoptr(GError) err = NULL;
    if (env_file_sync(s->env, slot->fd, &err)) fs->unsynced = FALSE;
    else mark_failed(s, g, err);
}

static Segment *seg_new(Store *s, uint32_t no) {
    Segment *g = g_malloc0(sizeof(Segment));
    g->no = no;
    g->store = s;
    g->slot.fd = -1;
    g->slot.before_close = seg_before_close;
    return g;
}

/* The segment's descriptor, opened through the budget if it was closed (see store_files.c:
 * use it at once, before the next seg_fd). */
static int seg_fd(Store *s, Segment *g, GError **error) {
    FileStore *fs = FS(s);
    if (g->slot.fd >= 0) return store_files_get(fs->files, &g->slot, NULL, 0, error);
    g_autofree char *path = seg_path(fs, g->no);
    return store_files_get(fs->files, &g->slot, path, ENV_FILE_WRITE, error);
}

static char *idx_path(FileStore *fs, uint32_t no) { return g_strdup_printf("%s/%010u.idx", fs->dir, no); }

/* NOTES: what the record r (verified, or just encoded) tells segment g's index file. */
static void seg_note(Segment *g, const Rec *r) {
    switch (r->kind) {
    case KIND_MSG:
        if (g->msg_lo == 0) g->msg_lo = r->seq;
        g->hiwater = MAX(g->hiwater, r->seq);
        g->last_ts_ns = r->ts_ns;
        break;
    case KIND_DELETE:
    case KIND_FLOOR: {
        if (g->runs == NULL) g->runs = g_array_new(FALSE, FALSE, sizeof(SegIdxTomb));
        SegIdxTomb *t = g->runs->len ? &g_array_index(g->runs, SegIdxTomb, g->runs->len - 1) : NULL;
        if (t && t->kind == KIND_FLOOR && r->kind == KIND_FLOOR) { /* the higher floor covers both */
            t->hi = MAX(t->hi, r->seq);
            break;
        }
        if (t && t->kind == KIND_DELETE && r->kind == KIND_DELETE && t->flags == r->flags && t->hi + 1 == r->seq) {
            t->hi = r->seq;
            break;
        }
        SegIdxTomb n = {.kind = (uint8_t)r->kind, .flags = (uint8_t)r->flags, .lo = r->seq, .hi = r->seq};
        g_array_append_val(g->runs, n);
        break;
    }
    case KIND_SEGMENT:
        g->seg_floor = r->seq;
        g->seg_last = (uint64_t)r->ts_ns;
        break;
    case KIND_LAST:
        g->hiwater = MAX(g->hiwater, r->seq);
        break;
    }
    if (r->data != NULL) g->tail_crc = get32(r->data + r->data_len);
}

/* rec_encode into the write buffer of the active segment, and note it. */
static void seg_encode(FileStore *fs, int kind, int flags, uint64_t seq, int64_t ts_ns, const char *subject,
                       size_t subject_len, const void *hdr, size_t hdr_len, const void *data, size_t data_len) {
    rec_encode(fs->wbuf, kind, flags, seq, ts_ns, subject, subject_len, hdr, hdr_len, data, data_len);
    Rec r = {.kind = kind, .flags = flags, .seq = seq, .ts_ns = ts_ns};
    seg_note(fs->segs->pdata[fs->segs->len - 1], &r);
}

/* Start segment `no` with its SEGMENT record in the (empty) write buffer. `last` is the
 * last seq before the record that triggered the roll (already in the index). */
static gboolean seg_create(Store *s, uint32_t no, uint64_t last, GError **error) {
    FileStore *fs = FS(s);
    g_assert(fs->wbuf->len == 0);
    g_autofree char *path = seg_path(fs, no);
    Segment *g = seg_new(s, no);
    if (store_files_get(fs->files, &g->slot, path, ENV_FILE_WRITE | ENV_FILE_CREATE | ENV_FILE_TRUNC, error) < 0) {
        seg_free(s, g);
        return FALSE;
    }
    g_ptr_array_add(fs->segs, g);
    fs->wbuf_off = 0;
    fs->dir_dirty = TRUE;
    seg_encode(fs, KIND_SEGMENT, 0, MIN(s->first_seq, last + 1), (int64_t)last, NULL, 0, NULL, 0, NULL, 0);
    return TRUE;
}

/* Write the buffer with as many pwrites as the kernel needs (usually one). */
static gboolean write_all(Store *s, int fd, const uint8_t *p, size_t n, uint64_t off, GError **error) {
    while (n > 0) {
        gssize w = env_file_pwrite(s->env, fd, p, n, off, error);
        if (w < 0) return FALSE;
        if (w == 0) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "short write");
            return FALSE;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return TRUE;
}

/* ==========================================================================================
 * PREALLOCATION
 *
 * WHY
 *   With SYNC_ALWAYS every PubAck waits for one fdatasync. fdatasync writes the file's dirty
 *   data and, besides, any metadata needed to read that data back. Appending to the end of a
 *   file changes two such things every time: the file's size, and (every few KiB) its block
 *   map. Both live in the inode, so on ext4 each such fdatasync is a data write PLUS a journal
 *   commit of the inode (two ordered writes and cache flushes), not just the data. Writing
 *   inside a file's existing, already-written bytes changes neither: the fdatasync is the data
 *   write alone. Measured on this machine's disk in one sitting: bench/LATEST.md, "disk
 *   ceiling" (fdatasync of a 164-byte write into a preallocated file vs appending one).
 *
 * HOW IT WORKS
 *   Before a flush writes past the end of the segment's file (`alloc`), seg_prealloc extends
 *   the file with env_file_allocate: zeros the store has not written yet, in steps that
 *   double from LIMIT_STORE_PREALLOC_MIN_BYTES (4 KiB: 10,000 quiet streams cost 40 MB, not
 *   10,000 x 4 MiB) up to LIMIT_STORE_PREALLOC_MAX_BYTES, never past the segment's size
 *   limit. So a segment's file is its records (`size`, the log's end) followed by zeros up
 *   to `alloc`; the flush that first writes into a new step pays the metadata once (and the
 *   zeros' own write: env_real.c says why they are written and not merely fallocated).
 *   The logical end is not the file's length any more. Recovery finds it by the records: the
 *   walk stops at the first record that does not verify (RECOVERY), and if every byte from
 *   there to the file's end is zero it is simply the end (no warning, nothing lost, nothing
 *   truncated: appends continue there). Anything else non-zero after it is damage or a torn
 *   record, handled as before (a torn record followed by zeros is a torn tail).
 *   A segment is trimmed back to its records (seg_trim) when it is sealed (roll) and at a
 *   clean close, so that a folder at rest holds no preallocated bytes: `du` tells the truth,
 *   and nothing that counts stored bytes (stream info, max_file_store) ever counted the file
 *   lengths anyway: those count messages (file_msg_bytes).
 *
 * WHY NOT THE OBVIOUS WAY
 *   Preallocating whole 64 MiB segments up front: one segment per stream, 10,000 streams,
 *   640 GB reserved. Or keeping the log's end in a header rewritten at every flush: a second
 *   write (and a torn-header case) per PubAck, which is what we are removing.
 *
 * LIMITATIONS
 *   - A record whose bytes are all zero cannot exist (its magic is not), so a zero tail is
 *     never mistaken for records; but a crash that loses a flush's write keeps its zeros:
 *     like a crash before the write, the unacknowledged records are simply not there.
 *   - After a crash the active segment keeps its preallocated tail (appends go there); a
 *     sealed segment found with one is trimmed at open.
 *   - If env_file_allocate fails (a full disk), the segment grows by its writes as before,
 *     paying the metadata per fdatasync, until the next segment.
 * ========================================================================================== */
static void seg_prealloc(Store *s, Segment *g, int fd, uint64_t end) {
    FileStore *fs = FS(s);
    if (end <= g->alloc || fs->prealloc_off == g->no) return;
    uint64_t step = CLAMP(g->alloc, LIMIT_STORE_PREALLOC_MIN_BYTES, LIMIT_STORE_PREALLOC_MAX_BYTES);
    uint64_t want = MIN((g->alloc + step + 4095) & ~(uint64_t)4095, fs->segment_bytes_max);
    want = MAX(want, end);
    g_autoptr(GError) err = NULL;
    if (env_file_allocate(s->env, fd, g->alloc, want - g->alloc, &err)) {
        g->alloc = want;
        return;
    }
    fs->prealloc_off = g->no;
    env_log(s->env, ENV_LOG_DEBUG, "store %s: cannot preallocate segment %u (%s): it grows by its writes",
            s->name, g->no, err->message);
}

/* Cut segment g's preallocated tail off (sealed, or a clean close). Unsynced: a crash may
 * bring the zeros back, which recovery reads as the end. */
static void seg_trim(Store *s, Segment *g) {
    if (g->alloc <= g->size) return;
    g_autoptr(GError) err = NULL;
    int fd = seg_fd(s, g, &err);
    if (fd < 0 || !env_file_truncate(s->env, fd, g->size, &err)) {
        env_log(s->env, ENV_LOG_WARN, "store %s: cannot trim segment %u to %" G_GUINT64_FORMAT " bytes: %s",
                s->name, g->no, g->size, err->message);
        return;
    }
    g->alloc = g->size;
}

/* The bytes [wbuf_off, wbuf_off + len) of the active segment were just written: keep them
 * at the end of the tail cache, dropping its oldest bytes past tail_max. Dropping happens
 * down to half the limit at once, so each byte is moved (memmove) at most about once:
 * amortised O(1) per byte written, not a memmove of the whole cache on every flush. */
static void tail_wrote(FileStore *fs, uint32_t seg, const uint8_t *p, size_t len) {
    if (fs->tail_max == 0) return;
    if (fs->tail_seg != seg || fs->tail_off + fs->tail->len != fs->wbuf_off) {
        g_byte_array_set_size(fs->tail, 0); /* a new segment: start over */
        fs->tail_seg = seg;
        fs->tail_off = fs->wbuf_off;
    }
    if (len > fs->tail_max) { /* one huge flush: keep only its end */
        g_byte_array_set_size(fs->tail, 0);
        fs->tail_off = fs->wbuf_off + (len - fs->tail_max / 2);
        p += len - fs->tail_max / 2;
        len = fs->tail_max / 2;
    }
    if (fs->tail->len + len > fs->tail_max) {
        guint drop = (guint)(fs->tail->len + len - fs->tail_max / 2);
        drop = MIN(drop, fs->tail->len);
        g_byte_array_remove_range(fs->tail, 0, drop);
        fs->tail_off += drop;
    }
    g_byte_array_append(fs->tail, p, (guint)len);
    fs->tail_peak = MAX(fs->tail_peak, fs->tail->len);
}

static void tail_forget(FileStore *fs) {
    g_byte_array_set_size(fs->tail, 0);
    fs->tail_seg = 0;
    fs->tail_off = 0;
}

/* After a failed write or fsync: forget the messages that were not made durable, keep the
 * deletions (they are retried at the next flush). See DURABILITY in store.h. */
static void rollback(Store *s) {
    FileStore *fs = FS(s);
    Segment *g = active(fs);
    g_autoptr(GError) err = NULL;
    fs->ra_seg = 0; /* the read-ahead block may hold bytes we are about to cut off */
    int fd = fs->failed == NULL ? seg_fd(s, g, &err) : -1;
    if (fs->failed == NULL && (fd < 0 || !env_file_truncate(s->env, fd, fs->wbuf_off, &err)))
        env_log(s->env, ENV_LOG_ERROR, "store %s: cannot truncate segment %u after a failed write: %s",
                s->name, g->no, err->message);
    else if (fs->failed == NULL)
        g->alloc = fs->wbuf_off; /* the preallocated tail went too */
    g_autoptr(GByteArray) keep = g_byte_array_new();
    for (size_t off = 0; off < fs->wbuf->len;) {
        Rec r;
        const char *why;
        int ok = rec_parse(fs->wbuf->data + off, fs->wbuf->len - off, &r, &why);
        g_assert(ok == 1); /* we wrote it ourselves */
        if (r.kind != KIND_MSG && r.kind != KIND_LAST && !(r.kind == KIND_DELETE && r.seq > fs->durable_seq))
            g_byte_array_append(keep, fs->wbuf->data + off, (guint)r.size);
        off += r.size;
    }
    g_byte_array_set_size(fs->wbuf, 0);
    g_byte_array_append(fs->wbuf, keep->data, keep->len);
    fs->wbuf_last_msg = 0;
    g->hiwater = MIN(g->hiwater, fs->durable_seq); /* the NOTES forget the messages too */
    if (g->msg_lo > fs->durable_seq) g->msg_lo = 0;
    store_index_truncate(s, fs->durable_seq);
}

/* ==========================================================================================
 * GROUP COMMIT
 *
 * HOW IT WORKS
 *   store_append encodes the record into one in-memory buffer (wbuf) and returns its seq;
 *   nothing touches the disk. Once per loop turn the stream calls store_flush: one pwrite
 *   of the whole buffer at the end of the active segment, then (SYNC_ALWAYS) one fsync, and,
 *   if a segment was created since, one fsync of the folder so its name survives too. Only
 *   then does durable_seq move, and the stream releases every PubAck with seq <= durable_seq.
 *   A thousand publishes in one turn cost one write and one fsync.
 *
 * WHY NOT THE OBVIOUS WAY
 *   fsync per message caps a disk at its fsync rate (hundreds to a few thousand per second
 *   on SSDs); writing per message costs a syscall per message even without fsync. Acking
 *   before the fsync (what nats-server does by default) is faster still but a power cut
 *   then loses acknowledged messages; that is SYNC_INTERVAL below, chosen knowingly.
 *
 * WHAT EACH POLICY LOSES AT A POWER CUT
 *   SYNC_ALWAYS    nothing acknowledged: an ack is sent only after its record's fsync.
 *                  Unacknowledged appends of the last turn may or may not survive.
 *   SYNC_INTERVAL  up to sync_interval_ns of acknowledged messages (default 2 minutes, as
 *                  nats-server): acks follow the write(), so the records sit in the page
 *                  cache until the timer's fsync. A process crash (not a power cut) loses
 *                  nothing acknowledged: the kernel still has the pages.
 *   SYNC_NEVER     everything since the last close; for tests and benchmarks.
 *   SYNC_REPLICA   everything since the last fsync (a sealed segment, store_sync), alone;
 *                  but this store is a replica's copy of a Raft log that is fsynced before
 *                  every ack, and the log keeps every entry above the last store_sync
 *                  (jscluster.c, THE STORE BEHIND THE LOG): recovery cuts the store at its
 *                  first damage (THE CUT, below) and the log fills in the rest.
 *
 * LIMITATIONS
 *   - The buffer holds at most LIMIT_STORE_WRITE_BUFFER_BYTES: an append past it flushes
 *     (and fsyncs) early, mid-turn. Correct, just a smaller group.
 *   - A failed fsync stops the store's writes until it is reopened: see FAILED SYNC.
 * ==========================================================================================
 *
 * ==========================================================================================
 * FAILED SYNC (EIO or ENOSPC from fdatasync)
 *
 * WHAT WE DO
 *   1. The batch is never acknowledged: durable_seq does not move, the index rolls back to
 *      it, and the stream answers every waiting publisher with a 10077 error.
 *   2. The store is FAILED from then on: appends, deletes and flushes fail at once with the
 *      same error, without touching the file; reads of what was durable still work. The
 *      next open (a server restart) recovers from what is really on the disk.
 *   3. One [ERR] line says so, naming the segment.
 *
 * WHY NOT THE OBVIOUS WAY (retry the fsync)
 *   Linux reports a failed writeback once. The pages it could not write are marked clean,
 *   so the retried fsync has nothing to write and returns 0 — for data that is not on the
 *   disk (PostgreSQL's "fsyncgate", 2018; PostgreSQL now PANICs and recovers from its WAL).
 *   A store that retries and then acknowledges loses acknowledged messages. nats-server
 *   and SQLite also treat a failed sync as fatal for the file. Truncating the batch away
 *   would be one more unsynced write on a file whose state we no longer know, and handing
 *   out its seqs again could give one seq two messages after a crash.
 *
 * LIMITATIONS
 *   - Writes stay refused until a restart; an operator sees the [ERR] and the 10077 errors.
 *   - After the restart, records of the failed batch that did reach the disk (or that the
 *     page cache still holds) reappear: never acknowledged, like the last turn before a
 *     power cut. A batch the cache still holds may vanish at a later power cut, reported
 *     then as damage by recovery.
 *   - A failed pwrite (ENOSPC on a full disk) is different: nothing reached the kernel, so
 *     the store rolls the batch back, truncates, and keeps serving (store.h, DURABILITY).
 * ========================================================================================== */
static gboolean refuse_if_failed(Store *s, GError **error) {
    GError *failed = FS(s)->failed;
    if (failed == NULL) return FALSE;
    g_set_error(error, G_FILE_ERROR, failed->code, "store %s failed (%s): writes refused until restart",
                s->name, failed->message);
    return TRUE;
}

static void mark_failed(Store *s, Segment *g, const GError *why) {
    FileStore *fs = FS(s);
    fs->failed = why != NULL ? g_error_copy(why) : g_error_new_literal(G_FILE_ERROR, G_FILE_ERROR_IO, "fsync failed");
    why = fs->failed;
    env_log(s->env, ENV_LOG_ERROR, "store %s: fsync of segment %u failed: %s; the batch is not acknowledged "
            "and the stream refuses writes until the server restarts (a retried fsync could report success "
            "for data the kernel dropped)", s->name, g->no, why->message);
}

static gboolean flush_buffer(Store *s, gboolean fsync_now, GError **error) {
    FileStore *fs = FS(s);
    Segment *g = active(fs);
    if (refuse_if_failed(s, error)) return FALSE;
    if (fs->wbuf_last_msg != 0) /* the high-water mark goes out with the batch: see THE HIGH-WATER MARK */
        seg_encode(fs, KIND_LAST, 0, fs->wbuf_last_msg, 0, NULL, 0, NULL, 0, NULL, 0);
    if (fs->wbuf->len > 0 || (fsync_now && fs->unsynced)) {
        int fd = seg_fd(s, g, error);
        if (fd < 0) goto failed;
        if (fs->wbuf->len > 0) {
            seg_prealloc(s, g, fd, fs->wbuf_off + fs->wbuf->len);
            if (!write_all(s, fd, fs->wbuf->data, fs->wbuf->len, fs->wbuf_off, error)) goto failed;
            fs->unsynced = TRUE;
        }
        if (fsync_now && fs->unsynced) {
            if (!env_file_sync(s->env, fd, error)) goto sync_failed;
            fs->unsynced = FALSE;
        }
    }
    if (fsync_now && fs->dir_dirty) {
        if (!env_dir_sync(s->env, fs->dir, error)) goto sync_failed;
        fs->dir_dirty = FALSE;
    }
    tail_wrote(fs, g->no, fs->wbuf->data, fs->wbuf->len); /* written (and synced per policy) */
    if (fs->wbuf->len >= REC_CRC_BYTES) g->tail_crc = get32(fs->wbuf->data + fs->wbuf->len - REC_CRC_BYTES);
    g->size = fs->wbuf_off + fs->wbuf->len;
    g->alloc = MAX(g->alloc, g->size);
    fs->wbuf_off = g->size;
    fs->wbuf_peak = MAX(fs->wbuf_peak, fs->wbuf->len);
    g_byte_array_set_size(fs->wbuf, 0);
    if (fs->wbuf_last_msg > fs->durable_seq) fs->durable_seq = fs->wbuf_last_msg;
    fs->wbuf_last_msg = 0;
    return TRUE;
sync_failed:
    mark_failed(s, g, error && *error ? *error : NULL);
failed:
    env_log(s->env, ENV_LOG_ERROR, "store %s: flush of segment %u failed, %" G_GUINT64_FORMAT
            " unacknowledged messages rolled back: %s", s->name, g->no,
            s->last_seq > fs->durable_seq ? s->last_seq - fs->durable_seq : 0,
            error && *error ? (*error)->message : "?");
    rollback(s);
    return FALSE;
}

/* Remove segments whose messages are all gone (see THE FOLDER). Never the active one. */
static void remove_dead_segments(Store *s) {
    FileStore *fs = FS(s);
    for (guint i = 0; i + 1 < fs->segs->len;) {
        Segment *g = fs->segs->pdata[i];
        if (g->live > 0 || g->keep || (i > 0 && g->tombs > 0)) {
            i++;
            continue;
        }
        g_autofree char *path = seg_path(fs, g->no);
        g_autofree char *ipath = idx_path(fs, g->no);
        g_autoptr(GError) err = NULL;
        if (g->needs_index) fs->index_pending--;
        if (env_path_exists(s->env, ipath) && !env_path_remove(s->env, ipath, &err)) { /* the index first: */
            env_log(s->env, ENV_LOG_WARN, "store %s: cannot remove %s: %s", s->name, ipath, err->message);
            g_clear_error(&err); /* a segment without its index is scanned; never the reverse */
        }
        if (!env_path_remove(s->env, path, &err))
            env_log(s->env, ENV_LOG_WARN, "store %s: cannot remove %s: %s", s->name, path, err->message);
        if (fs->ra_seg == g->no) fs->ra_seg = 0;
        if (fs->tail_seg == g->no) tail_forget(fs);
        g_ptr_array_remove_index(fs->segs, i);
        seg_free(s, g);
    }
}

static gboolean flush_and_tidy(Store *s, gboolean fsync_now, GError **error) {
    FileStore *fs = FS(s);
    if (!flush_buffer(s, fsync_now, error)) return FALSE;
    remove_dead_segments(s);
    if (fs->index_pending > 0) write_pending_indexes(s);
    checkpoint_active(s);
    refreeze_sealed(s, FALSE);
    return TRUE;
}

static gboolean file_flush(Store *s, GError **error) { return flush_and_tidy(s, FS(s)->sync == STORE_SYNC_ALWAYS, error); }

/* Sealed segments were fsynced when they sealed (roll, every policy but NEVER): the active
 * one and the folder are what may hold unsynced bytes. */
static gboolean file_sync(Store *s, GError **error) { return flush_and_tidy(s, TRUE, error); }

static void interval_tick(void *arg) {
    Store *s = arg;
    FileStore *fs = FS(s);
    g_autoptr(GError) err = NULL;
    fs->timer = 0;
    if (!flush_buffer(s, TRUE, &err))
        env_log(s->env, ENV_LOG_ERROR, "store %s: interval sync failed: %s", s->name, err->message);
    else
        checkpoint_active(s);
    if (fs->failed == NULL) fs->timer = env_timer_add(s->env, fs->sync_interval_ns, interval_tick, s);
}

/* Flush the active segment, fsync it, and start the next one. */
static gboolean roll(Store *s, GError **error) {
    FileStore *fs = FS(s);
    if (!flush_buffer(s, fs->sync != STORE_SYNC_NEVER, error)) return FALSE;
    seg_trim(s, active(fs)); /* durable once seg_index_write syncs the segment */
    if (!seg_create(s, active(fs)->no + 1, s->last_seq - 1, error)) {
        env_log(s->env, ENV_LOG_ERROR, "store %s: cannot start a new segment: %s", s->name,
                error && *error ? (*error)->message : "?");
        store_index_truncate(s, fs->durable_seq);
        return FALSE;
    }
    Segment *sealed = fs->segs->pdata[fs->segs->len - 2]; /* its index is written at the next flush */
    sealed->needs_index = TRUE;
    fs->index_pending++;
    return TRUE;
}

static gboolean file_append(Store *s, uint64_t seq, StoreEntry *e, const char *subject,
                            size_t subject_len, const void *hdr, size_t hdr_len, const void *data,
                            size_t data_len, GError **error) {
    FileStore *fs = FS(s);
    if (refuse_if_failed(s, error)) {
        store_index_truncate(s, seq - 1); /* take back the entry store_append made */
        return FALSE;
    }
    size_t size = REC_HDR_BYTES + subject_len + hdr_len + data_len + REC_CRC_BYTES;
    int64_t ts = e->ts_ns;
    if (fs->wbuf_off + fs->wbuf->len + size > fs->segment_bytes_max && fs->wbuf_off + fs->wbuf->len > 64) {
        if (!roll(s, error)) return FALSE;
    } else if (fs->wbuf->len + size > LIMIT_STORE_WRITE_BUFFER_BYTES) {
        if (!flush_buffer(s, fs->sync == STORE_SYNC_ALWAYS, error)) return FALSE;
    }
    e = store_index_get(s, seq); /* the entry survived: no rollback happened */
    g_assert(e != NULL);
    Segment *g = active(fs);
    e->loc = ((uint64_t)g->no << 32) | (fs->wbuf_off + fs->wbuf->len);
    seg_encode(fs, KIND_MSG, 0, seq, ts, subject, subject_len, hdr, hdr_len, data, data_len);
    fs->wbuf_last_msg = seq;
    g->live++;
    touch(s);
    return TRUE;
}

/* ==========================================================================================
 * READ CACHE
 *
 * HOW IT WORKS
 *   A load looks for its record in four places, cheapest first:
 *     1. the write buffer (appended, not yet written): a pointer into wbuf;
 *     2. the TAIL: the newest bytes written to the active segment, copied as flush_buffer
 *        writes them (at most read_cache_bytes_max, LIMIT_STORE_READ_CACHE_BYTES): a consumer
 *        keeping up with its publishers finds every record here;
 *     3. the READ-AHEAD block: the last LIMIT_STORE_READ_AHEAD_BYTES read from disk; a
 *        consumer catching up on an old backlog reads in order, so one pread serves the next
 *        few hundred 128-byte records;
 *     4. the disk: one pread of a new read-ahead block starting at the record (a second
 *        pread, into a buffer of its own, for a record bigger than the block).
 *   Wherever the bytes come from, rec_parse checks the magic, the lengths and the CRC32C,
 *   and the record must be the MSG the index expects.
 *
 *   Measured (appendix B, pull consume, 50,000 x 128 B): before the cache, one pread per
 *   delivered message was 19% of the server's samples and file_load 24%.
 *
 * WHY IT IS SAFE
 *   Segments are append-only: bytes at an offset never change while the segment exists,
 *   except when a failed flush truncates the active segment (rollback). The tail only ever
 *   receives bytes AFTER their pwrite (and, with SYNC_ALWAYS, their fsync) succeeded, so it
 *   never holds a record that a rollback took back; rollback empties the read-ahead block in
 *   case it read the bytes being cut off. The read-ahead block keeps only bytes below the
 *   segment's log end (`size`): past it the active segment's file holds preallocated zeros
 *   (PREALLOCATION) that a later write fills, and a block that kept them served those zeros
 *   for the records written there ("bad magic" for a message on disk, once the tail cache had
 *   moved to the next segment). A removed segment takes its cached bytes with it.
 *   Whether a seq is live is the index's business, not the cache's: a deleted or purged
 *   message is never looked up. After a crash the cache is gone with the process, and
 *   recovery rebuilds everything from what is on disk.
 *
 * WHY NOT THE OBVIOUS WAY
 *   A cache of decoded StoreMsg per seq (a hash table) costs an allocation and a table
 *   entry per message and a policy for evicting them; keeping raw segment bytes costs one
 *   memcpy per written byte and makes eviction "drop the oldest bytes".
 *
 * LIMITATIONS
 *   - One read-ahead block per stream: two consumers reading far apart in an old backlog
 *     take turns evicting it (one pread per message each, as before the cache).
 *   - See the LIMITATIONS at the top for disk corruption under cached bytes.
 * ========================================================================================== */
static StoreMsg *file_load(Store *s, uint64_t seq, const StoreEntry *e, GError **error) {
    FileStore *fs = FS(s);
    uint32_t no = (uint32_t)(e->loc >> 32);
    uint64_t off = e->loc & 0xFFFFFFFFu;
    Segment *g = seg_find(fs, no);
    if (g == NULL) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "segment %u of seq %" G_GUINT64_FORMAT " is gone", no, seq);
        return NULL;
    }
    Rec r;
    const char *why = NULL;
    int ok;
    g_autofree uint8_t *big = NULL;
    touch(s);
    if (g == active(fs) && off >= fs->wbuf_off) { /* 1. still in the write buffer */
        ok = rec_parse(fs->wbuf->data + (off - fs->wbuf_off), fs->wbuf->len - (off - fs->wbuf_off), &r, &why);
    } else if (fs->tail_seg == no && off >= fs->tail_off && off < fs->tail_off + fs->tail->len) { /* 2. tail */
        ok = rec_parse(fs->tail->data + (off - fs->tail_off), fs->tail_off + fs->tail->len - off, &r, &why);
    } else {
        ok = 0;
        if (fs->ra_seg == no && off >= fs->ra_off && off < fs->ra_off + fs->ra_len) /* 3. read-ahead */
            ok = rec_parse(fs->ra + (off - fs->ra_off), fs->ra_off + fs->ra_len - off, &r, &why);
        if (ok == 0) { /* 4. not there, or cut by the block's end: read a block at the record */
            if (fs->ra == NULL) fs->ra = g_malloc(LIMIT_STORE_READ_AHEAD_BYTES);
            fs->ra_seg = 0;
            int fd = seg_fd(s, g, error);
            if (fd < 0) return NULL;
            gssize n = env_file_pread(s->env, fd, fs->ra, LIMIT_STORE_READ_AHEAD_BYTES, off, error);
            if (n < 0) return NULL;
            fs->ra_seg = no;
            fs->ra_off = off;
            fs->ra_len = (size_t)MIN((uint64_t)n, g->size > off ? g->size - off : 0); /* never past the log's end */
            ok = rec_parse(fs->ra, fs->ra_len, &r, &why);
            if (ok == 0 && fs->ra_len == LIMIT_STORE_READ_AHEAD_BYTES && r.size > fs->ra_len && why &&
                strcmp(why, "short record") == 0) { /* bigger than a block: a buffer of its own */
                big = g_malloc(r.size);
                n = env_file_pread(s->env, fd, big, r.size, off, error);
                if (n < 0) return NULL;
                ok = rec_parse(big, (size_t)n, &r, &why);
            }
        }
    }
    if (ok != 1 || r.kind != KIND_MSG || r.seq != seq) {
        const char *reason = ok != 1 ? why : "record does not match the index";
        env_log(s->env, ENV_LOG_ERROR, "store %s: seq %" G_GUINT64_FORMAT " in segment %u at %" G_GUINT64_FORMAT ": %s",
                s->name, seq, no, off, reason);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "corrupt record for seq %" G_GUINT64_FORMAT ": %s", seq, reason);
        return NULL;
    }
    return store_msg_new(seq, r.ts_ns, (const char *)r.subject, r.subject_len, r.hdr, r.hdr_len, r.data, r.data_len);
}

static void file_released(Store *s, uint64_t seq, const StoreEntry *e) {
    Segment *g = seg_find(FS(s), (uint32_t)(e->loc >> 32));
    if (g && g->live > 0) g->live--;
}

static void file_removed(Store *s, uint64_t seq, gboolean erase) {
    FileStore *fs = FS(s);
    if (fs->failed) return; /* nothing can be made durable now: the message is back after a restart */
    seg_encode(fs, KIND_DELETE, erase ? FLAG_ERASE : 0, seq, 0, NULL, 0, NULL, 0, NULL, 0);
    active(fs)->tombs++;
}

static void file_floor(Store *s, uint64_t floor) {
    FileStore *fs = FS(s);
    if (fs->failed) return; /* as file_removed */
    seg_encode(fs, KIND_FLOOR, 0, floor, (int64_t)s->last_seq, NULL, 0, NULL, 0, NULL, 0);
    active(fs)->tombs++;
}

static uint64_t file_durable_seq(Store *s) { return MIN(FS(s)->durable_seq, s->last_seq); }
static gboolean file_dirty(Store *s) { return FS(s)->wbuf->len > 0 && FS(s)->failed == NULL; }

/* nats-server's fileStoreMsgSize: what `bytes` in stream info counts for file streams. */
static uint64_t file_msg_bytes(size_t subject_len, size_t hdr_len, size_t data_len) {
    return 22 + subject_len + hdr_len + data_len + 8 + (hdr_len ? 4 : 0);
}

static void file_check(Store *s) {
    FileStore *fs = FS(s);
    uint64_t live = 0;
    for (guint i = 0; i < fs->segs->len; i++) {
        Segment *g = fs->segs->pdata[i];
        if (i > 0) g_assert_cmpuint(((Segment *)fs->segs->pdata[i - 1])->no, <, g->no);
        live += g->live;
    }
    g_assert_cmpuint(live, ==, s->msgs);
    g_assert_cmpuint(store_files_open_count(fs->files), <=, store_files_max(fs->files));
    g_assert_cmpuint(fs->wbuf_off, ==, active(fs)->size);
    for (guint i = 0; i < fs->segs->len; i++)
        g_assert_cmpuint(((Segment *)fs->segs->pdata[i])->size, <=, ((Segment *)fs->segs->pdata[i])->alloc);
    g_assert_cmpuint(fs->tail->len, <=, fs->tail_max);
    if (fs->tail_seg == active(fs)->no) g_assert_cmpuint(fs->tail_off + fs->tail->len, ==, fs->wbuf_off);
    if (fs->tail_seg != 0) g_assert_nonnull(seg_find(fs, fs->tail_seg));
    if (fs->ra_seg != 0) g_assert_nonnull(seg_find(fs, fs->ra_seg));
    for (uint64_t q = MAX(s->first_seq, s->base); s->msgs > s->cold_msgs && q <= s->last_seq; q++) {
        StoreEntry *e = store_index_get(s, q); /* loaded: no thaw */
        if (e) g_assert_nonnull(seg_find(fs, (uint32_t)(e->loc >> 32)));
    }
    for (guint i = 0; i < s->cold->len; i++) {
        const StoreCold *c = s->cold->pdata[i];
        Segment *g = seg_find(fs, c->tag);
        g_assert_nonnull(g);
        g_assert_cmpuint(g->live, >=, c->msgs);
    }
}

static void file_close(Store *s) {
    FileStore *fs = FS(s);
    g_autoptr(GError) err = NULL;
    env_timer_cancel(s->env, fs->timer);
    env_timer_cancel(s->env, fs->idle_timer);
    bool flushed = fs->segs->len > 0 && fs->failed == NULL && flush_buffer(s, TRUE, &err);
    if (fs->segs->len > 0 && fs->failed == NULL && !flushed)
        env_log(s->env, ENV_LOG_ERROR, "store %s: final flush failed: %s", s->name, err->message);
    if (fs->index_pending > 0) write_pending_indexes(s);
    /* the active segment too, if scanning it would cost more than the index (INDEX FILES) */
    Segment *g = flushed ? active(fs) : NULL;
    g_autoptr(GError) ierr = NULL;
    if (g != NULL && fs->failed == NULL && g->alloc > g->size) { /* PREALLOCATION: the folder at rest holds records only */
        seg_trim(s, g);
        int fd = seg_fd(s, g, &ierr);
        if (fd < 0 || !env_file_sync(s->env, fd, &ierr)) {
            env_log(s->env, ENV_LOG_WARN, "store %s: cannot sync the trim of segment %u: %s", s->name, g->no,
                    ierr->message);
            g_clear_error(&ierr);
        }
    }
    if (g != NULL && fs->failed == NULL && fs->wbuf->len == 0 && g->indexed != g->size &&
        g->size >= MIN(LIMIT_STORE_ACTIVE_INDEX_BYTES, fs->segment_bytes_max / LIMIT_STORE_ACTIVE_INDEX_SHARE) &&
        !seg_index_write(s, g, &ierr))
        env_log(s->env, ENV_LOG_WARN, "store %s: cannot write the index of segment %u: %s", s->name, g->no,
                ierr->message);
    for (guint i = 0; i < fs->segs->len; i++) seg_free(s, fs->segs->pdata[i]);
    g_ptr_array_free(fs->segs, TRUE);
    store_files_unref(fs->files);
    g_byte_array_free(fs->wbuf, TRUE);
    g_byte_array_free(fs->tail, TRUE);
    g_free(fs->ra);
    g_free(fs->dir);
    if (fs->failed) g_error_free(fs->failed);
    g_free(fs);
}

/* ==========================================================================================
 * IDLE
 *
 * WHY
 *   A stream that is being written keeps what makes the next write and read cheap: the write
 *   buffer (as big as the biggest batch so far), the read cache (the newest
 *   LIMIT_STORE_READ_CACHE_BYTES written), a read-ahead block, the COLD READS arrays, and the
 *   entries of its active segment. Most streams of a server are idle most of the time, and
 *   none of that is needed to answer the next question, only to answer it faster.
 *
 * HOW IT WORKS
 *   Every append and load marks the store busy and, if no idle timer is armed, arms one
 *   (LIMIT_STORE_IDLE_NS, through the env seam). When it fires: busy since it was armed, it is
 *   armed again; not, the store is IDLE: the write buffer (if empty), the read cache and the
 *   read-ahead block are freed (not emptied: their allocations go), the COLD READS arrays are
 *   dropped, and every sealed segment goes cold (refreeze_sealed, idle: also one a delete
 *   changed, its index rewritten), and no timer is armed again until the next use. An idle
 *   store holds its summaries, the active segment's entries and nothing else.
 *
 * WHY NOT THE OBVIOUS WAY
 *   Shrinking the buffers after every flush: the next batch regrows them (a realloc and page
 *   faults per turn, on the publish path). One timer per store at all times: 10,000 quiet
 *   streams would wake the loop for nothing; here an idle store has no timer.
 *
 * LIMITATIONS
 *   - With SYNC_INTERVAL, sealed segments go cold only once nothing is unsynced (the
 *     interval's sync): an index never describes bytes the disk may lose.
 *   - The active segment's entries stay loaded (up to a segment: LIMIT_STORE_SEGMENT_BYTES).
 * ========================================================================================== */
static void idle_tick(void *arg) {
    Store *s = arg;
    FileStore *fs = FS(s);
    fs->idle_timer = 0;
    if (fs->busy) {
        touch(s);
        return;
    }
    if (fs->wbuf->len == 0) {
        g_byte_array_unref(fs->wbuf);
        fs->wbuf = g_byte_array_new();
        fs->wbuf_peak = 0;
    }
    tail_forget(fs);
    g_byte_array_unref(fs->tail);
    fs->tail = g_byte_array_new();
    fs->tail_peak = 0;
    g_clear_pointer(&fs->ra, g_free);
    fs->ra_seg = 0;
    store_index_drop_reads(s);
    refreeze_sealed(s, TRUE);
    store_index_shrink(s);
}

/* IDLE: the store is used now; the timer (armed if it was not) finds it busy. */
static void touch(Store *s) {
    FileStore *fs = FS(s);
    if (fs->idle_timer != 0) {
        fs->busy = TRUE;
        return;
    }
    fs->busy = FALSE;
    fs->idle_timer = env_timer_add(s->env, LIMIT_STORE_IDLE_NS, idle_tick, s);
}

static uint64_t file_buffer_bytes(Store *s) {
    FileStore *fs = FS(s);
    return MAX(fs->wbuf_peak, fs->wbuf->len) + fs->tail_peak + (fs->ra ? LIMIT_STORE_READ_AHEAD_BYTES : 0);
}

static gboolean file_thaw(Store *s, const StoreCold *c, StoreEntry *out, GError **error);

/* A cold segment's messages left without being thawed (a floor below them, or lost). */
static void file_released_cold(Store *s, const StoreCold *c, bool lost) {
    Segment *g = seg_find(FS(s), c->tag);
    if (g == NULL) return;
    g->live -= MIN(g->live, c->msgs);
    g->keep |= lost; /* a thaw that failed (an unreadable or changed index) is no deletion */
}

static const StoreBackend file_backend = {
    .kind = "file",
    .append = file_append,
    .load = file_load,
    .released = file_released,
    .removed = file_removed,
    .floor = file_floor,
    .flush = file_flush,
    .sync = file_sync,
    .durable_seq = file_durable_seq,
    .dirty = file_dirty,
    .msg_bytes = file_msg_bytes,
    .thaw = file_thaw,
    .released_cold = file_released_cold,
    .check = file_check,
    .buffer_bytes = file_buffer_bytes,
    .close = file_close,
};

/* Extend last_seq to `last` without a message (the seqs between become holes). */
static void raise_last_seq(Store *s, uint64_t last) { store_index_raise_last(s, last); }

/* Recovery reads a segment through a window: bytes [base, base + len) of the file, in a
 * buffer reused for every segment of the open. Reading a whole 64 MiB segment into a fresh
 * buffer cost more than the CRCs: the kernel's copy page-faulted in every new page (1M x
 * 128 B records, warm page cache: ~800 ms to open, two thirds of it those faults). */
#define RECOVER_WINDOW_BYTES (4 * 1024 * 1024)
typedef struct Window {
    uint8_t *buf;
    size_t cap;
    uint64_t base, len;
} Window;

/* Fill the window from file offset `off`: at least `need` bytes (fewer only at end of file),
 * `need` = G_MAXUINT64 for everything up to *size (the damaged path: resync wants the rest of
 * the segment in one buffer). A short read means the file ended early: *size shrinks to it.
 * FALSE = read error. */
static gboolean window_fill(Store *s, int fd, Window *w, uint64_t off, uint64_t need, uint64_t *size,
                            GError **error) {
    uint64_t want = MIN(*size - off, MAX(need == G_MAXUINT64 ? *size - off : need, RECOVER_WINDOW_BYTES));
    if (want > w->cap) {
        g_free(w->buf);
        w->cap = (size_t)want;
        w->buf = g_malloc(w->cap);
    }
    uint64_t got = 0;
    while (got < want) {
        gssize r = env_file_pread(s->env, fd, w->buf + got, (size_t)(want - got), off + got, error);
        if (r < 0) return FALSE;
        if (r == 0) break;
        got += (uint64_t)r;
    }
    w->base = off;
    w->len = got;
    if (got < want) *size = off + got;
    return TRUE;
}

/* A run of verified records from a candidate offset (see RESYNCHRONISING in RECOVERY). */
typedef struct Chain {
    uint64_t end;  /* where the walk stopped */
    gboolean full; /* it stopped at the end of the segment or a short (torn) record there */
    uint64_t hi;   /* the highest MSG seq in it, 0 = none */
    uint64_t lo;   /* the lowest seq it claims as new: its first MSG seq, or first LAST seq + 1 */
} Chain;

/* Walk verified records from `p`. SEGMENT records belong at offset 0 only. */
static Chain chain_walk(const uint8_t *buf, uint64_t size, uint64_t p) {
    Chain c = {0, FALSE, 0, G_MAXUINT64};
    for (;;) {
        Rec r;
        const char *why;
        int ok = p < size ? rec_parse(buf + p, size - p, &r, &why) : 0;
        if (ok != 1 || r.kind == KIND_SEGMENT) {
            c.end = p;
            c.full = ok == 0;
            return c;
        }
        if (r.kind == KIND_MSG) c.hi = MAX(c.hi, r.seq);
        if (c.lo == G_MAXUINT64 && (r.kind == KIND_MSG || r.kind == KIND_LAST))
            c.lo = r.kind == KIND_MSG ? r.seq : r.seq + 1;
        p += r.size;
    }
}

/* The record at `bad` is damaged: where do intact records resume? Returns the offset of the
 * next trustworthy record, or `size` if there is none (a torn or damaged tail). `last_seq`:
 * the newest seq recovered so far. A candidate is an offset where a record verifies, is not
 * a SEGMENT, and (if a MSG) has a seq above last_seq. The first candidate whose chain runs
 * to the end of the segment wins, unless an earlier candidate's chain broke early (a second
 * damaged record, or an embedded record inside a payload) and is credible: it holds a MSG,
 * and its seqs all lie below what the full chain claims. Then the earlier one wins and the
 * caller resynchronises again where it broke. */
static uint64_t resync(const uint8_t *buf, uint64_t size, uint64_t bad, uint64_t last_seq) {
    uint64_t first = size, skip_at = 0, skip_end = 0;
    Chain fc = {0};
    int walks = 0;
    for (uint64_t p = bad + 1; p + REC_HDR_BYTES + REC_CRC_BYTES <= size; p++) {
        if (p == skip_at && p < skip_end) { /* the next record of a chain already walked */
            skip_at += REC_HDR_BYTES + (uint64_t)get16(buf + p + 6) + get32(buf + p + 8) +
                       get32(buf + p + 12) + REC_CRC_BYTES;
            continue;
        }
        if (get32(buf + p) != REC_MAGIC) continue;
        Rec r;
        const char *why;
        if (rec_parse(buf + p, size - p, &r, &why) != 1 || r.kind == KIND_SEGMENT) continue;
        if (r.kind == KIND_MSG && r.seq <= last_seq) continue; /* seqs only grow */
        Chain c = chain_walk(buf, size, p);
        if (c.full) {
            if (first == size) return p;
            return fc.hi != 0 && fc.hi < c.lo ? first : p;
        }
        if (first == size) {
            first = p;
            fc = c;
        }
        skip_at = p + r.size; /* do not walk this chain's records again */
        skip_end = c.end;
        if (++walks >= 64) break; /* pathological: many broken chains; take the first */
    }
    return first;
}

/* Log what a damaged stretch cost in seqs: [from, to], or that no message seq was in it. */
static void report_lost(Store *s, uint64_t from, uint64_t to) {
    s->damaged += to >= from ? to - from + 1 : 0;
    if (to >= from)
        env_log(s->env, ENV_LOG_ERROR, "store %s: seq %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                " lost to corruption (%" G_GUINT64_FORMAT " message(s); the stream keeps them as deleted)",
                s->name, from, to, to - from + 1);
    else
        env_log(s->env, ENV_LOG_ERROR, "store %s: the damaged bytes held no message (a deletion, floor or "
                "marker record: a message deleted there may be back)", s->name);
}

/* ==========================================================================================
 * RECOVERY
 *
 * HOW IT WORKS (recover -> recover_segment -> read_record / replay_record / recover_damage)
 *   recover() lists the folder and takes the *.seg files in number order; recover_segment()
 *   reads each (through a window, read_record(); the whole rest of the segment once damage
 *   is found) and walks its records from offset 0. Every record's header must be sane and
 *   its CRC32C must match; replay_record() replays each good record into the index: MSG adds, DELETE removes, FLOOR and
 *   SEGMENT drop everything below their floor (SEGMENT also restores last_seq, so a purged,
 *   empty stream still knows its next seq), LAST raises last_seq (THE HIGH-WATER MARK).
 *   At a bad or incomplete record recover_damage() RESYNCHRONISES (resync): its length fields may be the
 *   damaged bytes, so we scan forward byte by byte for the next offset where a record
 *   verifies — magic, known kind (not SEGMENT, which only starts a segment), lengths within
 *   the limits, a MSG seq above every seq recovered so far, and its CRC32C — and from which
 *   verified records follow one another to the end of the segment (or to a torn end).
 *     - Nothing verifies after it: a TORN TAIL. Log what we drop and truncate the file
 *       there. After a crash this is the common case and loses only unacknowledged records,
 *       because acknowledged ones were fsynced before their ack.
 *     - Something does: CORRUPTION IN THE MIDDLE. Skip only the damaged bytes (they stay on
 *       disk, reported again at every open), keep everything after, and log as [ERR] the
 *       seq range the damage held ("seq A..B lost to corruption"): from the seq after the
 *       last good one to the seq before the next MSG (or up to the next LAST/SEGMENT mark).
 *   A bit flip thus costs the one record it hit, even when it hit a length field; the LAST
 *   records keep that record's seq used, so it is never handed out again.
 *   Why the chain condition: a payload may hold a whole valid record (say, a segment file
 *   published as a message); such an embedded record is followed by the rest of the payload,
 *   not by a verified record. A candidate whose chain breaks early is kept only as the
 *   fallback if no candidate before the break reaches further (two damaged records close
 *   together: the loop resynchronises again at the second).
 *
 * WHY NOT THE OBVIOUS WAY
 *   Trusting an index alone would make open fast but makes it a second truth to keep
 *   consistent with the log under crashes; rebuilding the index from the log is always
 *   right. So the scan stays the reference, and the index files of sealed segments (INDEX
 *   FILES, above) only replace it where they provably describe the same bytes: a segment
 *   without one, or with a damaged or stale one, is walked here. (A segment is read through
 *   one reused 4 MiB window, a pread per 4 MiB, not one per record; a fresh buffer per
 *   segment cost more in page faults than the CRCs did: 1M records opened in 0.5 s instead
 *   of 2.1 s.) A segment whose index file matches is replayed from it and walked only past
 *   the bytes it covers.
 *
 * LIMITATIONS
 *   - Seqs lost to damage become holes (counted as deleted), reported in the log.
 *   - A damaged DELETE or FLOOR record brings the messages it removed back (reported:
 *     "the damaged bytes held no message ... may be back").
 *   - The damaged bytes are never rewritten or cut out of a middle segment (rewriting in
 *     place could tear what follows); the segment goes when its messages do.
 *   - The scan after damage is byte by byte (a 4-byte magic compare per offset, a CRC only
 *     where the magic and lengths fit): linear in the segment, paid only when damaged.
 *   - Under SYNC_INTERVAL a power cut can leave holes where unsynced writes were lost with
 *     later writes kept; recovery keeps those later records and reports the holes as
 *     corruption. If the newest writes (and their LAST records) are lost, acknowledged seqs
 *     are handed out again: that policy's documented trade-off.
 *   - A missing segment file is indistinguishable from a removed one: its seqs are holes.
 *
 * THE CUT (STORE_SYNC_REPLICA)
 *   A replica's store is a copy of its Raft group's log, fsynced only at compaction, so
 *   after a power cut its unsynced tail comes back with holes wherever the kernel had not
 *   written a page yet. Skipping the damage would keep later records above a hole; the group
 *   then could not append the missing seqs in order. So under SYNC_REPLICA the first damaged
 *   byte ENDS the log, as in the Raft log's own recovery: the segment is truncated there
 *   (fsynced), every later segment is removed (folder fsynced), and nothing is reported as
 *   lost (store_damaged stays 0): the store is an exact prefix of the stream, and the group
 *   replays its log above it. Damage in synced bytes (a bit flip) is cut the same way; what
 *   the log no longer holds then comes from a peer (jscluster.c, SNAPSHOTS AND CATCH-UP).
 * ========================================================================================== */
/* What recovery carries from one segment to the next. */
typedef struct Recovery {
    Window w;                /* the read window, reused for every segment */
    bool cut;                /* STORE_SYNC_REPLICA: damage ended the log; later segments go */
    uint64_t lost_from;      /* a damaged stretch was skipped: seqs from here on may be lost (0 = none) */
    uint64_t scanned;        /* segment bytes read so far, for the index reserve estimate */
    uint64_t entries_before; /* index entries before recovery began */
    uint64_t prealloc_end;   /* the segment just walked ended in zeros up to here (0 = it did not) */
} Recovery;

enum { READ_BAD = -1, READ_SHORT = 0, READ_OK = 1, READ_END = 2, READ_ERROR = 3 };

/* RECORD: parse the record at `off` of the segment, sliding the window when the record runs
 * past it. READ_OK (r filled), READ_BAD / READ_SHORT (damage or a torn end; *why says
 * which), READ_END (the file turned out shorter: *size shrank), READ_ERROR (logged). */
static int read_record(Store *s, int fd, const char *path, Window *w, uint64_t off, uint64_t *size, Rec *r,
                       const char **why) {
    for (;;) {
        if (off >= *size) return READ_END;
        uint64_t avail = off >= w->base && off < w->base + w->len ? w->base + w->len - off : 0;
        int ok = rec_parse(w->buf + (off - w->base), avail, r, why);
        if (ok != 0 || w->base + w->len >= *size) return ok;
        /* the record runs past the window: slide it to start at the record */
        g_autoptr(GError) err = NULL;
        uint64_t need = avail >= REC_HDR_BYTES + REC_CRC_BYTES ? r->size : REC_HDR_BYTES + REC_CRC_BYTES;
        if (!window_fill(s, fd, w, off, need, size, &err)) {
            env_log(s->env, ENV_LOG_ERROR, "store %s: cannot read %s at offset %" G_GUINT64_FORMAT
                    ", ignoring the rest of it: %s", s->name, path, off, err->message);
            return READ_ERROR;
        }
    }
}

/* RECORD: replay one verified record of segment g into the index (see RECOVERY: MSG adds,
 * DELETE removes, FLOOR and SEGMENT drop what is below their floor, LAST raises last_seq),
 * and close a damaged stretch's report once a record shows where its seqs end. TRUE when
 * it added a message. */
static gboolean replay_record(Store *s, Recovery *rc, Segment *g, const Rec *r, uint64_t off, const char *path) {
    seg_note(g, r); /* what the segment holds, for its index file (INDEX FILES) */
    /* LAB(3) begin */
    /* LAB(3) stub: (void)s; (void)rc; (void)g; (void)r; (void)off; (void)path; (void)raise_last_seq; (void)report_lost; return FALSE; */
    gboolean added = FALSE;
    StoreEntry gone;
    switch (r->kind) {
    case KIND_MSG:
        if (r->seq <= s->last_seq) {
            env_log(s->env, ENV_LOG_WARN, "store %s: %s: seq %" G_GUINT64_FORMAT " out of order, ignored",
                    s->name, path, r->seq);
            break;
        }
        store_index_add(s, r->seq, r->ts_ns, (const char *)r->subject, r->subject_len, r->hdr_len > 0,
                        (uint32_t)file_msg_bytes(r->subject_len, r->hdr_len, r->data_len),
                        ((uint64_t)g->no << 32) | off);
        g->live++;
        added = TRUE;
        break;
    case KIND_DELETE:
        if (store_index_del(s, r->seq, &gone)) file_released(s, r->seq, &gone);
        g->tombs++;
        break;
    case KIND_FLOOR:
        raise_last_seq(s, r->seq - 1);
        store_index_floor(s, r->seq);
        g->tombs++;
        break;
    case KIND_SEGMENT:
        raise_last_seq(s, (uint64_t)r->ts_ns);
        store_index_floor(s, r->seq);
        break;
    case KIND_LAST:
        raise_last_seq(s, r->seq);
        break;
    }
    if (rc->lost_from != 0 && r->kind == KIND_MSG) { /* the first seq after the damage */
        report_lost(s, rc->lost_from, r->seq - 1);
        rc->lost_from = 0;
    } else if (rc->lost_from != 0 && r->kind != KIND_DELETE && s->last_seq >= rc->lost_from) {
        report_lost(s, rc->lost_from, s->last_seq); /* a high-water mark covers the damage */
        rc->lost_from = 0;
    }
    return added;
    /* LAB(3) end */
}

/* Every byte of p[0, n) is zero: a preallocated tail (PREALLOCATION). */
static gboolean zeros_to_end(const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != 0) return FALSE;
    return TRUE;
}

/* DAMAGE: the record at *off is bad or incomplete (`why`). If every byte from there to the
 * file's end is zero, it is the preallocated tail: the records end there (FALSE, *size = *off,
 * nothing logged above debug, nothing truncated). Otherwise resynchronise: if intact records
 * follow, skip only the damaged bytes (*off moves to the next one; TRUE: keep walking) and
 * remember that seqs may be lost; if none do, it is a torn tail: truncate the file there,
 * fsync the truncation, *size = *off (FALSE: the segment ends). FALSE too on a read error. */
static gboolean recover_damage(Store *s, Recovery *rc, int fd, const char *path, uint64_t *off, uint64_t *size,
                               const char *why, uint64_t last_good) {
    Window *w = &rc->w;
    if (FS(s)->sync == STORE_SYNC_REPLICA) { /* THE CUT (below): the Raft log has the rest */
        env_log(s->env, ENV_LOG_WARN, "store %s: %s: %s at offset %" G_GUINT64_FORMAT ", the log ends here (after seq %"
                G_GUINT64_FORMAT "): a replica's store, what followed comes back from its Raft log or its peers",
                s->name, path, why, *off, s->last_seq);
        g_autoptr(GError) terr = NULL;
        if (!env_file_truncate(s->env, fd, *off, &terr) || !env_file_sync(s->env, fd, &terr))
            env_log(s->env, ENV_LOG_ERROR, "store %s: cannot truncate %s: %s", s->name, path, terr->message);
        *size = *off;
        rc->cut = true;
        return FALSE;
    }
    if (w->base + w->len < *size) { /* resync wants every byte from here to the end of the segment */
        g_autoptr(GError) err = NULL;
        if (!window_fill(s, fd, w, *off, G_MAXUINT64, size, &err)) {
            env_log(s->env, ENV_LOG_ERROR, "store %s: cannot read %s at offset %" G_GUINT64_FORMAT
                    ", ignoring the rest of it: %s", s->name, path, *off, err->message);
            return FALSE;
        }
    }
    if (zeros_to_end(w->buf + (*off - w->base), w->len - (*off - w->base))) { /* PREALLOCATION: the end */
        env_log(s->env, ENV_LOG_DEBUG, "store %s: %s: records end at offset %" G_GUINT64_FORMAT
                ", %" G_GUINT64_FORMAT " preallocated bytes after", s->name, path, *off, *size - *off);
        rc->prealloc_end = *size;
        *size = *off;
        return FALSE;
    }
    uint64_t next = w->base + resync(w->buf, w->len, *off - w->base, s->last_seq);
    if (next < *size) { /* corruption in the middle: skip the damaged bytes only */
        env_log(s->env, ENV_LOG_WARN, "store %s: %s: %s at offset %" G_GUINT64_FORMAT
                ", skipping %" G_GUINT64_FORMAT " damaged bytes (intact records resume at offset %"
                G_GUINT64_FORMAT ", after seq %" G_GUINT64_FORMAT ")",
                s->name, path, why, *off, next - *off, next, s->last_seq);
        if (rc->lost_from == 0) rc->lost_from = s->last_seq + 1;
        *off = next;
        return TRUE;
    }
    env_log(s->env, ENV_LOG_WARN, "store %s: %s: %s at offset %" G_GUINT64_FORMAT
            ", truncating %" G_GUINT64_FORMAT " bytes (records after seq %" G_GUINT64_FORMAT " in this segment are lost)",
            s->name, path, why, *off, *size - *off, last_good);
    g_autoptr(GError) terr = NULL;
    if (!env_file_truncate(s->env, fd, *off, &terr) || !env_file_sync(s->env, fd, &terr))
        env_log(s->env, ENV_LOG_ERROR, "store %s: cannot truncate %s: %s", s->name, path, terr->message);
    *size = *off;
    return FALSE;
}

/* ==========================================================================================
 * INDEX FILES (NNNNNNNNNN.idx next to NNNNNNNNNN.seg; the format is in store_segidx.c)
 *
 * WHY
 *   Replaying every record at open costs time in proportion to the stream: reading and
 *   CRC-checking 1M x 128 B messages took ~0.5 s, 5M ~2.5 s. Most of a long stream lives in
 *   SEALED segments (not the active one), and a sealed segment never changes again: its bytes
 *   are fixed, and whatever later happens to its messages (a delete, a purge) is written as a
 *   record in a later segment. So what recovery learns from a sealed segment can be written
 *   down once, small, and replayed instead of the segment.
 *
 * HOW IT WORKS
 *   While records are written or replayed, each segment keeps NOTES (seg_note): its SEGMENT
 *   record, its high-water mark, the timestamp of its newest message, the CRC of its last
 *   record, and its tombstones as runs (a DELETE of first_seq per publish under max_msgs is
 *   one run per segment; consecutive FLOORs keep only the highest). When the segment seals
 *   (roll), it is marked needs_index; the next successful flush, after its bytes are on the
 *   disk, writes the index (write_pending_indexes, one env_file_write_atomic: temp file,
 *   fsync, rename, fsync of the folder): the notes, plus the segment's LIVE messages taken
 *   from the in-memory index (seq, timestamp, offset, subject, accounted bytes, has
 *   headers). Once per 64 MiB sealed, not per message: off the publish path.
 *   At open (seg_index_replay), a segment whose index file verifies (magic, version, CRC32C
 *   of the whole file) and still matches the segment (same number, the segment at least
 *   `covered` bytes long, and the CRC of its last record where the index says) is replayed
 *   from the index: SEGMENT, the tombstone runs, the live messages, the high-water mark, in
 *   that order, through the same replay_record / store_index_add as the scan. COLD: when
 *   nothing loaded is live yet (so the oldest segments, usually all of them after a clean
 *   stop), the messages are not replayed at all: seg_index_freeze hands the store the index's
 *   SUMMARY (counts, bytes, first/last seq and time, per subject its count, first and last)
 *   and file_thaw decodes the message section the first time a question needs its entries
 *   (store_cold.c, COLD SEGMENTS); after a flush the lowest of more than
 *   LIMIT_STORE_LOADED_SEGMENTS loaded sealed segments goes cold again (refreeze_sealed). If the segment
 *   is longer than `covered`, the walk goes on from there. The dedup window, per-subject
 *   lists and every count are rebuilt from this index like from the scan; payloads are read
 *   only when asked for (the dedup rebuild reads the headers of the last two minutes).
 *   Any doubt falls back to the scan: no index, a damaged one (logged [WRN]), a stale one (the
 *   segment is shorter or its tail differs), and a scanned sealed segment gets a fresh index
 *   at the end of the open. The ACTIVE segment is indexed too at a clean close (file_close),
 *   when it holds at least LIMIT_STORE_ACTIVE_INDEX_BYTES (or 1/LIMIT_STORE_ACTIVE_INDEX_SHARE
 *   of a segment: the tests' and the simulator's small segments), and CHECKPOINTED while it
 *   grows (checkpoint_active): after a flush that leaves 1/LIMIT_STORE_CHECKPOINTS_PER_SEGMENT
 *   of a segment written since its last index, and nothing unsynced (sync always; with an
 *   interval, the interval's sync; never an extra fsync), the index is rewritten whole (at half
 *   a segment: the encoding is off the publish path, once per half segment, the same
 *   work as a clean close's index of the segment; each index file costs its fsyncs, so not more
 *   often). After a clean restart the open reads only index files; after a crash
 *   (kill -9, power cut) it scans the active segment from where its last index ends: at most
 *   half a segment, whatever the stream's size. That index stays true while the segment grows: the bytes it
 *   covers never change (appends go after them; a failed flush truncates to the end of the
 *   last good flush, which is at or past them; recovery cuts only a torn tail past them), and
 *   whatever happened after it (messages, deletions of its messages) is in the records past
 *   `covered`, replayed after it in log order. When the segment is sealed, its index is
 *   rewritten whole. So the work of an open is the index files (5-12 bytes per message, no
 *   CRC per message) plus at most the records written since the last clean close.
 *
 * WHY THE REORDERING IS SAFE
 *   The index lists tombstones before messages, not interleaved as in the log, and omits
 *   messages deleted before it was written. Replay still lands in the same state: a tombstone
 *   of this segment removes either a message of an earlier segment (order does not matter)
 *   or one of this segment (then that message is not listed: nothing to remove); a FLOOR of
 *   this segment is below every message it lists (a listed message survived it, so its seq
 *   is above it). Deletes after the index was written are records of later segments, or of
 *   this one past `covered` (an active segment's index), which replay after it.
 *
 * WHY NOT THE OBVIOUS WAY
 *   One snapshot of the whole index per stream, rewritten at shutdown: it is stale after
 *   every crash (then the whole log is scanned again) and rewriting it costs the whole
 *   index each time. Per-segment files are written once and are never stale while the
 *   segment exists; a crash costs only the scan of the active segment.
 *
 * LIMITATIONS
 *   - A bit flip in an indexed segment is not seen at open (recovery does not read it): the
 *     message is found damaged when loaded (an error, never the bad bytes; the read cache
 *     essay says the same of cached records), where the scan would have reported it lost.
 *   - An open still reads every index file whole to check its CRC32C (which covers the
 *     message section a cold segment does not decode): ~5-12 bytes per message from the page
 *     cache, through one 64 KiB buffer (seg_index_head), no entry and no allocation per file.
 *     An index replayed eagerly (a segment after a scanned one, or after a tombstone whose cold
 *     segment could not be read and was thawed as lost) costs an entry per message as before.
 *     Tombstones of older messages no longer thaw anything: they change the cold segments they
 *     fall in (store_cold.c, COLD CHANGES), at the open as later.
 *   - A cold segment's index file is read again at its thaw and must be the very file the
 *     open verified (its CRC); if it is not, its messages are counted lost until the next
 *     open, which scans the segment (the file is removed).
 *   - A segment's notes keep its tombstone runs in memory until its index is written.
 * ========================================================================================== */
static gboolean seg_index_write(Store *s, Segment *g, GError **error) {
    FileStore *fs = FS(s);
    if (g->msg_lo != 0) store_index_thaw_from(s, MAX(g->msg_lo, s->first_seq)); /* its messages, if cold */
    SegIdx x;
    segidx_init(&x);
    uint64_t x_covered = g->size;
    x.seg_no = g->no;
    x.covered = x_covered;
    x.tail_crc = g->tail_crc;
    x.seg_floor = g->seg_floor;
    x.seg_last = g->seg_last;
    x.hiwater = g->hiwater;
    x.last_ts_ns = g->last_ts_ns;
    x.tombs = g->tombs;
    if (g->runs) g_array_append_vals(x.runs, g->runs->data, g->runs->len);
    g_autoptr(GHashTable) local = g_hash_table_new(g_direct_hash, g_direct_equal); /* subject id -> number + 1 */
    uint32_t last_id = G_MAXUINT32, last_local = 0;
    uint64_t lo = MAX(g->msg_lo, s->first_seq), hi = MIN(g->hiwater, s->last_seq);
    for (uint64_t q = lo; g->msg_lo != 0 && s->msgs > 0 && q <= hi; q++) {
        const StoreEntry *e = store_index_get(s, q);
        if (e == NULL || (uint32_t)(e->loc >> 32) != g->no) continue;
        if (e->subject_id != last_id) {
            guint n = GPOINTER_TO_UINT(g_hash_table_lookup(local, GUINT_TO_POINTER(e->subject_id)));
            if (n == 0) {
                g_ptr_array_add(x.subjects, g_strdup(store_index_subject(s, e->subject_id)));
                n = x.subjects->len;
                g_hash_table_insert(local, GUINT_TO_POINTER(e->subject_id), GUINT_TO_POINTER(n));
            }
            last_id = e->subject_id;
            last_local = n - 1;
        }
        SegIdxMsg m = {.seq = q, .ts_ns = e->ts_ns, .off = (uint32_t)(e->loc & 0xFFFFFFFFu),
                       .subject = last_local, .bytes = e->bytes, .has_hdr = e->has_hdr};
        segidx_add_msg(&x, &m);
    }
    g_autoptr(GByteArray) out = g_byte_array_new();
    segidx_encode(&x, out);
    segidx_clear(&x);
    g_autofree char *path = idx_path(fs, g->no);
    /* The index must never describe bytes the disk may still lose: the segment's own, and
     * the tombstones in the active segment whose deletions it already leaves out (with sync
     * never or an interval, once per sealed segment). */
    if (g != active(fs)) { /* the active one: below, with the failed-fsync rule */
        int fd = seg_fd(s, g, error);
        if (fd < 0 || !env_file_sync(s->env, fd, error)) return FALSE;
    }
    if (fs->unsynced) {
        int fd = seg_fd(s, active(fs), error);
        if (fd < 0 || !env_file_sync(s->env, fd, error)) {
            mark_failed(s, active(fs), error && *error ? *error : NULL);
            return FALSE;
        }
        fs->unsynced = FALSE;
    }
    if (!env_file_write_atomic(s->env, path, out->data, out->len, error)) return FALSE;
    g->indexed = x_covered;
    return TRUE;
}

static void write_pending_indexes(Store *s) {
    FileStore *fs = FS(s);
    for (guint i = 0; i + 1 < fs->segs->len && fs->index_pending > 0 && fs->failed == NULL; i++) {
        Segment *g = fs->segs->pdata[i];
        if (!g->needs_index) continue;
        g_autoptr(GError) err = NULL;
        if (!seg_index_write(s, g, &err)) /* not retried: the segment is scanned at the next open */
            env_log(s->env, ENV_LOG_WARN, "store %s: cannot write the index of segment %u: %s", s->name, g->no,
                    err->message);
        g->needs_index = FALSE;
        fs->index_pending--;
        if (g->runs) g_clear_pointer(&g->runs, g_array_unref);
    }
}

/* CHECKPOINTS: the active segment's index, rewritten once another 1/LIMIT_STORE_CHECKPOINTS_PER_SEGMENT
 * of a segment has been written since the last one, after a flush that left nothing unsynced
 * (a checkpoint never adds an fsync the sync policy did not ask for: with an interval it
 * waits for the interval's sync, with sync never there is none, and a crash scans). */
static void checkpoint_active(Store *s) {
    FileStore *fs = FS(s);
    Segment *g = active(fs);
    if (fs->failed != NULL || fs->wbuf->len > 0 || fs->unsynced ||
        g->size - MIN(g->indexed, g->size) < fs->segment_bytes_max / LIMIT_STORE_CHECKPOINTS_PER_SEGMENT)
        return;
    g_autoptr(GError) err = NULL;
    if (!seg_index_write(s, g, &err)) {
        env_log(s->env, ENV_LOG_WARN, "store %s: cannot checkpoint the index of segment %u: %s", s->name, g->no,
                err->message);
        g->indexed = g->size; /* tried: the next attempt after as many bytes again */
    }
}

/* Replay the listed messages of an index one by one into the loaded index (not cold). */
static void seg_index_replay_msgs(Store *s, Recovery *rc, Segment *g, SegIdx *x, const uint64_t *per_subject,
                                  const char *ipath) {
    store_index_reserve(s, x->msgs);
    /* Each subject looked up once, its list grown once to what this segment adds (not a hash
     * lookup and a doubling per message); no deletes run below, so the pointers hold. */
    g_autofree StoreSubject **subject = g_new0(StoreSubject *, x->subjects->len + 1);
    for (guint i = 0; i < x->subjects->len; i++) {
        const char *name = x->subjects->pdata[i];
        if (per_subject[i] > 0) subject[i] = store_index_subject_for(s, name, strlen(name), per_subject[i]);
    }
    SegIdxMsg m;
    gboolean bad = FALSE;
    while (segidx_next_msg(x, &m, &bad)) {
        if (m.seq <= s->last_seq) {
            env_log(s->env, ENV_LOG_WARN, "store %s: %s: seq %" G_GUINT64_FORMAT " out of order, ignored", s->name,
                    ipath, m.seq);
            continue;
        }
        if (rc->lost_from != 0) { /* as replay_record: the first seq after damage closes its report */
            report_lost(s, rc->lost_from, m.seq - 1);
            rc->lost_from = 0;
        }
        store_index_add_to(s, subject[m.subject], m.seq, m.ts_ns, m.has_hdr, m.bytes, ((uint64_t)g->no << 32) | m.off);
        g->live++;
        Rec r = {.kind = KIND_MSG, .seq = m.seq, .ts_ns = m.ts_ns};
        seg_note(g, &r);
    }
}

/* INDEX HEAD: index file `path`'s header, summary, runs and subjects, its CRC32C checked
 * through one small buffer, its message section never held: a cold segment does not need it,
 * and reading a whole file into one allocation left its size in the allocator's heap after
 * the open (~3 MB of RSS per stream: the biggest index file). *check = the file's CRC. */
#define INDEX_READ_BYTES (64 * 1024)
static gboolean seg_index_head(Store *s, const char *path, SegIdx *x, uint32_t *check, GError **error) {
    segidx_init(x);
    int fd = env_file_open(s->env, path, ENV_FILE_READ, error);
    if (fd < 0) return FALSE;
    gint64 fsize = env_file_size(s->env, fd, error);
    size_t len = fsize > 0 ? (size_t)fsize : 0, have = MIN(len, (size_t)INDEX_READ_BYTES);
    g_autofree uint8_t *buf = g_malloc(INDEX_READ_BYTES);
    g_autofree uint8_t *head = NULL;
    gboolean ok = fsize >= 0;
    if (ok && (env_file_pread(s->env, fd, buf, have, 0, error) != (gssize)have || !segidx_check_start(buf, have, len, error)))
        ok = FALSE;
    uint32_t crc = 0;
    for (size_t off = 0; ok && off < len - 4;) { /* the CRC of [0, len - 4), a buffer at a time */
        size_t n = MIN((size_t)INDEX_READ_BYTES, len - 4 - off);
        ok = env_file_pread(s->env, fd, buf, n, off, error) == (gssize)n;
        crc = crc32c_extend(crc, buf, n);
        off += n;
    }
    if (ok && (env_file_pread(s->env, fd, buf, 4, len - 4, error) != 4 || get32(buf) != crc)) {
        if (error && *error == NULL) g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "index file: checksum mismatch");
        ok = FALSE;
    }
    *check = crc;
    for (int r = 0; ok && r == 0;) { /* the head, from a prefix that grows until it holds it */
        head = g_realloc(head, have);
        if (env_file_pread(s->env, fd, head, have, 0, error) != (gssize)have) ok = FALSE;
        else if ((r = segidx_decode_head(head, have, len, x, error)) < 0) ok = FALSE;
        else if (r == 0) have = MIN(len, have * 2);
    }
    env_file_close(s->env, fd);
    if (ok) x->cur = x->end = NULL; /* (the message section is not here: no walk) */
    else if (error && *error == NULL) g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "index file: short read");
    return ok;
}

/* Check the message section of x whole (a copy of the cursor walks it) and count each
 * subject's messages into per_subject. NULL = it is well formed, else why not. */
static const char *seg_index_walk(const SegIdx *x, uint64_t *per_subject) {
    SegIdx walk = *x;
    SegIdxMsg m;
    gboolean bad = FALSE;
    uint64_t n = 0;
    while (segidx_next_msg(&walk, &m, &bad)) {
        n++;
        per_subject[m.subject]++;
    }
    return bad || n != x->msgs ? "its message list is malformed" : NULL;
}

/* The whole index file again, for a replay message by message: it must be the file whose head
 * was read (its CRC `check`); x is decoded anew from it, its messages walked (seg_index_walk).
 * NULL = ready to replay, else why not (x then holds nothing to replay). */
static const char *seg_index_msgs(Store *s, const char *ipath, uint32_t check, SegIdx *x, GBytes **bytes,
                                  uint64_t *per_subject) {
    g_autoptr(GError) err = NULL;
    segidx_clear(x);
    gsize len = 0;
    if (!env_file_read_all(s->env, ipath, bytes, &err)) {
        segidx_init(x);
        return "it cannot be read again";
    }
    const uint8_t *p = g_bytes_get_data(*bytes, &len);
    if (!segidx_decode(p, len, x, &err) || get32(p + len - REC_CRC_BYTES) != check) return "it changed while read";
    return seg_index_walk(x, per_subject);
}

/* COLD: add the listed messages of segment g as a cold segment (store_cold.c, COLD
 * SEGMENTS) from the index's summary: nothing of the message section is decoded now.
 * `check` is the index file's CRC, which file_thaw finds again before it trusts the file. */
static StoreCold *seg_cold_new(Store *s, Segment *g, const SegIdx *x, uint32_t check) {
    StoreCold *c = g_new0(StoreCold, 1);
    c->tag = g->no;
    c->check = check;
    c->span_lo = c->lo = x->lo;
    c->span_hi = c->hi = x->hi;
    c->lo_ts_ns = x->lo_ts_ns;
    c->hi_ts_ns = x->hi_ts_ns;
    c->msgs = x->msgs;
    c->bytes = x->bytes;
    c->hdr_msgs = x->hdr_msgs;
    c->nsubjects = x->subjects->len;
    c->subjects = g_new0(StoreColdSubject, c->nsubjects);
    for (guint i = 0; i < x->subjects->len; i++) {
        const char *name = x->subjects->pdata[i];
        const SegIdxSubject *sum = &g_array_index(x->subject_msgs, SegIdxSubject, i);
        c->subjects[i] = (StoreColdSubject){.sj = store_index_subject_for(s, name, strlen(name), 0),
                                            .msgs = sum->msgs, .first = sum->first, .last = sum->last};
    }
    return c;
}

static void seg_index_freeze(Store *s, Segment *g, const SegIdx *x, uint32_t check) {
    store_index_freeze(s, seg_cold_new(s, g, x, check));
    g->was_cold = TRUE;
    g->live += x->msgs;
    Rec r = {.kind = KIND_MSG, .seq = x->lo, .ts_ns = x->lo_ts_ns}; /* the NOTES, as the replay of each would */
    seg_note(g, &r);
    r = (Rec){.kind = KIND_MSG, .seq = x->hi, .ts_ns = x->hi_ts_ns};
    seg_note(g, &r);
}

/* THAW (the backend's half of store_index_thaw_from): read segment c->tag's index file again,
 * require the very file the open verified (its CRC), and fill out[] with its listed messages,
 * checking them against the file's own summary, the one the store counted when c went cold
 * (what left since, the store takes away: COLD CHANGES in store_cold.c). */
static gboolean file_thaw(Store *s, const StoreCold *c, StoreEntry *out, GError **error) {
    FileStore *fs = FS(s);
    g_autofree char *ipath = idx_path(fs, c->tag);
    g_autoptr(GBytes) bytes = NULL;
    if (!env_file_read_all(s->env, ipath, &bytes, error)) return FALSE;
    gsize len = 0;
    const uint8_t *p = g_bytes_get_data(bytes, &len);
    SegIdx x;
    if (!segidx_decode(p, len, &x, error)) {
        segidx_clear(&x);
        return FALSE;
    }
    const char *why = NULL;
    if (x.seg_no != c->tag || get32(p + len - 4) != c->check || x.lo != c->span_lo || x.hi != c->span_hi ||
        x.subjects->len != c->nsubjects)
        why = "it is not the file the open read";
    const SegIdxSubject *sum = why == NULL ? (const SegIdxSubject *)x.subject_msgs->data : NULL;
    g_autofree uint64_t *per_subject = g_new0(uint64_t, c->nsubjects + 1);
    g_autofree uint64_t *last = g_new0(uint64_t, c->nsubjects + 1); /* per subject its last seq so far */
    uint64_t n = 0, nbytes = 0, hdr = 0;
    SegIdxMsg m;
    gboolean bad = FALSE;
    while (why == NULL && segidx_next_msg(&x, &m, &bad)) {
        if (m.seq < x.lo || m.seq > x.hi) {
            bad = TRUE;
            break;
        }
        const StoreSubject *sj = c->subjects[m.subject].sj; /* NULL: none of it left while cold */
        out[m.seq - x.lo] = (StoreEntry){.loc = ((uint64_t)c->tag << 32) | m.off, .ts_ns = m.ts_ns,
                                         .subject_id = sj ? sj->id : STORE_SUBJECT_NONE, .has_hdr = m.has_hdr,
                                         .bytes = m.bytes};
        if ((n == 0 && (m.seq != x.lo || m.ts_ns != x.lo_ts_ns)) ||
            (per_subject[m.subject] == 0 && m.seq != sum[m.subject].first))
            bad = TRUE;
        n++;
        nbytes += m.bytes;
        hdr += m.has_hdr;
        per_subject[m.subject]++;
        last[m.subject] = m.seq;
        if (m.seq == x.hi && m.ts_ns != x.hi_ts_ns) bad = TRUE;
    }
    for (guint k = 0; why == NULL && k < c->nsubjects; k++)
        if (per_subject[k] != sum[k].msgs || last[k] != sum[k].last) bad = TRUE;
    if (why == NULL && !bad && n > 0 && out[x.hi - x.lo].bytes == 0) bad = TRUE; /* the last listed is hi */
    if (why == NULL && (bad || n != x.msgs || nbytes != x.bytes || hdr != x.hdr_msgs))
        why = "its messages do not match its summary";
    segidx_clear(&x);
    if (why == NULL) return TRUE;
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", ipath, why);
    g_autoptr(GError) rerr = NULL; /* the next open scans the segment instead */
    if (!env_path_remove(s->env, ipath, &rerr))
        env_log(s->env, ENV_LOG_WARN, "store %s: cannot remove %s: %s", s->name, ipath, rerr->message);
    return FALSE;
}

/* COLD AGAIN (store_cold.c): sealed segment g, the lowest loaded one, goes cold: its index
 * file is read back (written anew first if messages it lists were deleted since, keeping its
 * tombstone runs, when `rewrite`) and its summary replaces its loaded entries. FALSE = it
 * stays loaded. */
static gboolean refreeze_one(Store *s, Segment *g, gboolean rewrite) {
    FileStore *fs = FS(s);
    g_autofree char *ipath = idx_path(fs, g->no);
    g_autoptr(GError) err = NULL;
    for (int pass = 0; pass < 2; pass++) {
        SegIdx x;
        uint32_t check = 0;
        if (!seg_index_head(s, ipath, &x, &check, &err) || x.seg_no != g->no || x.covered != g->size) {
            segidx_clear(&x);
            return FALSE;
        }
        if (x.msgs == g->live) { /* it lists exactly the live ones: deletions only ever remove */
            StoreCold *c = x.msgs > 0 ? seg_cold_new(s, g, &x, check) : NULL;
            segidx_clear(&x);
            gboolean frozen = c != NULL && store_index_refreeze(s, c);
            g->was_cold |= frozen;
            return frozen;
        }
        if (pass > 0 || g->runs != NULL || !rewrite) {
            segidx_clear(&x);
            return FALSE;
        }
        g->runs = x.runs; /* its tombstones, for the new file */
        x.runs = NULL;
        segidx_clear(&x);
        gboolean ok = seg_index_write(s, g, &err);
        g_clear_pointer(&g->runs, g_array_unref);
        if (!ok) {
            env_log(s->env, ENV_LOG_WARN, "store %s: cannot write the index of segment %u: %s", s->name, g->no,
                    err->message);
            return FALSE;
        }
    }
    return FALSE;
}

/* COLD AGAIN: after a flush that left nothing unsynced (an index must never describe bytes
 * the disk may lose), keep at most loaded_max sealed segments loaded (none when idle).
 * A segment that was cold before, was thawed since and lost messages while cold would need its
 * index rewritten (fsyncs), and the next question its summary cannot answer would thaw it
 * again: while the store is written, such a segment stays loaded (and, the cold segments
 * being a prefix, the ones above it too); the IDLE timer rewrites and freezes it. A segment leaving the loaded window for the first time
 * is rewritten if needed (once in its life). */
static void refreeze_sealed(Store *s, gboolean idle) {
    FileStore *fs = FS(s);
    guint keep = idle ? 0 : fs->loaded_max;
    if (fs->failed != NULL || fs->wbuf->len > 0 || fs->unsynced || fs->segs->len - 1 <= keep) return;
    for (;;) {
        guint loaded = 0, c = 0;
        Segment *lowest = NULL;
        for (guint i = 0; i + 1 < fs->segs->len; i++) { /* segments and cold segments, both by number */
            Segment *g = fs->segs->pdata[i];
            while (c < s->cold->len && ((StoreCold *)s->cold->pdata[c])->tag < g->no) c++;
            bool cold = c < s->cold->len && ((StoreCold *)s->cold->pdata[c])->tag == g->no;
            if (g->live == 0 || cold) continue;
            loaded++;
            if (lowest == NULL) lowest = g;
        }
        if (loaded <= keep || lowest->needs_index || lowest->indexed != lowest->size ||
            !refreeze_one(s, lowest, idle || !lowest->was_cold))
            return; /* (the lowest must go first: the cold segments are a prefix) */
    }
}

/* Replay segment g from its index file if one matches it (see INDEX FILES). Returns the
 * bytes of the segment it covered (the walk resumes there), 0 = no usable index. Its
 * messages become a cold segment (COLD, above) when nothing loaded is live yet. */
static uint64_t seg_index_replay(Store *s, Recovery *rc, Segment *g, uint64_t size, const char *path) {
    FileStore *fs = FS(s);
    g_autofree char *ipath = idx_path(fs, g->no);
    if (!env_path_exists(s->env, ipath)) return 0;
    g_autoptr(GBytes) bytes = NULL; /* the whole file, for an index replayed message by message */
    g_autoptr(GError) err = NULL;
    SegIdx x;
    const char *stale = NULL;
    uint32_t check = 0;
    if (!seg_index_head(s, ipath, &x, &check, &err)) {
        env_log(s->env, ENV_LOG_WARN, "store %s: %s: %s, scanning the segment", s->name, ipath, err->message);
        segidx_clear(&x);
        return 0;
    }
    uint8_t crc[REC_CRC_BYTES];
    if (x.seg_no != g->no) stale = "it names another segment";
    else if (x.covered > size || x.covered < REC_HDR_BYTES + REC_CRC_BYTES) stale = "the segment is shorter";
    else if (env_file_pread(s->env, seg_fd(s, g, NULL), crc, sizeof crc, x.covered - REC_CRC_BYTES, NULL) != (gssize)sizeof crc ||
             get32(crc) != x.tail_crc)
        stale = "the segment's last record differs";
    /* a cold candidate's messages are not decoded at all; any other's are checked whole before
     * any is replayed */
    gboolean cold = stale == NULL && x.msgs > 0 && rc->lost_from == 0 && store_index_can_freeze(s, x.lo);
    g_autofree uint64_t *per_subject = g_new0(uint64_t, x.subjects->len + 1); /* messages per subject */
    if (stale == NULL && !cold) stale = seg_index_msgs(s, ipath, check, &x, &bytes, per_subject);
    if (stale != NULL) {
        env_log(s->env, ENV_LOG_WARN, "store %s: %s does not match %s (%s), scanning the segment", s->name, ipath,
                path, stale);
        segidx_clear(&x);
        return 0;
    }
    Rec r = {.kind = KIND_SEGMENT, .seq = x.seg_floor, .ts_ns = (int64_t)x.seg_last};
    if (x.seg_floor != 0 || x.seg_last != 0) replay_record(s, rc, g, &r, 0, path);
    for (guint i = 0; i < x.runs->len; i++) {
        const SegIdxTomb *t = &g_array_index(x.runs, SegIdxTomb, i);
        r = (Rec){.kind = t->kind, .flags = t->flags};
        for (uint64_t q = t->kind == KIND_FLOOR ? t->hi : t->lo; q <= t->hi; q++) {
            r.seq = q;
            replay_record(s, rc, g, &r, 0, path);
        }
    }
    if (cold && store_index_can_freeze(s, x.lo)) {
        seg_index_freeze(s, g, &x, check);
    } else {
        if (cold && (stale = seg_index_msgs(s, ipath, check, &x, &bytes, per_subject)) != NULL) { /* a tombstone's lost read thawed what came before */
            env_log(s->env, ENV_LOG_WARN, "store %s: %s does not match %s (%s), scanning the segment", s->name, ipath,
                    path, stale);
            if (g->runs) g_array_set_size(g->runs, 0); /* the scan notes them again (replaying them twice is harmless) */
            g->tombs = 0;
            segidx_clear(&x);
            return 0;
        }
        seg_index_replay_msgs(s, rc, g, &x, per_subject, ipath);
    }
    if (x.last_ts_ns != 0) s->last_ts_ns = x.last_ts_ns; /* the newest message, even if deleted since */
    r = (Rec){.kind = KIND_LAST, .seq = x.hiwater};
    if (x.hiwater != 0) replay_record(s, rc, g, &r, 0, path);
    g->tombs = x.tombs; /* merged runs replayed fewer records than the segment holds */
    g->last_ts_ns = x.last_ts_ns;
    g->tail_crc = x.tail_crc;
    uint64_t covered = x.covered;
    segidx_clear(&x);
    return covered;
}

/* SEGMENT: open segment `no`, add it to fs->segs, and walk its records from offset 0:
 * replay each good one, resynchronise past damage, cut a torn tail. An unreadable file is
 * logged and skipped (its seqs become holes). */
static void recover_segment(Store *s, Recovery *rc, unsigned no) {
    FileStore *fs = FS(s);
    g_autofree char *path = seg_path(fs, no);
    g_autoptr(GError) err = NULL;
    Segment *g = seg_new(s, no);
    int fd = seg_fd(s, g, &err);
    gint64 fsize = fd >= 0 ? env_file_size(s->env, fd, &err) : -1;
    uint64_t size = fsize > 0 ? (uint64_t)fsize : 0;
    if (fsize < 0) {
        env_log(s->env, ENV_LOG_ERROR, "store %s: cannot read %s, skipping it: %s", s->name, path, err->message);
        seg_free(s, g);
        return;
    }
    g_ptr_array_add(fs->segs, g);
    uint64_t msgs_before = s->msgs;
    uint64_t from = seg_index_replay(s, rc, g, size, path); /* INDEX FILES: 0 = scan it all */
    g->needs_index = from != size;
    g->indexed = from;
    rc->w.base = rc->w.len = 0;
    if (from < size && (fd = seg_fd(s, g, &err)) < 0) { /* the walk below uses it: no other file opens meanwhile */
        env_log(s->env, ENV_LOG_ERROR, "store %s: cannot reopen %s: %s", s->name, path, err->message);
        size = from;
    }
    if (from < size && !window_fill(s, fd, &rc->w, from, 0, &size, &err)) {
        env_log(s->env, ENV_LOG_ERROR, "store %s: cannot read %s, skipping the rest of it: %s", s->name, path,
                err->message);
        size = from;
    }
    /* Grow the index once per segment, by what the segments so far say it will hold,
     * instead of doubling (and copying) it as it fills; never more than a segment of
     * smallest records could need. */
    if (from == 0 && rc->scanned > 0 && s->entries->len > rc->entries_before)
        store_index_reserve(s, size / MAX(rc->scanned / (s->entries->len - rc->entries_before),
                                          REC_HDR_BYTES + REC_CRC_BYTES) + 1);
    /* LAB(3) begin */
    /* LAB(3) stub: (void)read_record; (void)recover_damage; */
    uint64_t off = from, last_good = s->last_seq;
    while (off < size) {
        Rec r;
        const char *why = NULL;
        int ok = read_record(s, fd, path, &rc->w, off, &size, &r, &why);
        if (ok == READ_END || ok == READ_ERROR) break;
        if (ok != READ_OK) {
            if (!recover_damage(s, rc, fd, path, &off, &size, why, last_good)) break;
            continue;
        }
        if (replay_record(s, rc, g, &r, off, path)) last_good = r.seq;
        off += r.size;
    }
    /* LAB(3) end */
    g->size = size;
    g->alloc = MAX(size, rc->prealloc_end); /* PREALLOCATION: the zeros after the records */
    rc->prealloc_end = 0;
    if (from != 0 && from == size) g->needs_index = FALSE; /* its index covers every record */
    rc->scanned += size;
    env_log(s->env, ENV_LOG_DEBUG, "store %s: %s: %" G_GUINT64_FORMAT " bytes, %" G_GINT64_FORMAT " messages",
            s->name, path, size, (gint64)(s->msgs - msgs_before));
}

/* The folder: every NNNNNNNNNN.seg in number order (dir_list sorts; the names are fixed
 * width), anything else ignored. */
static void recover(Store *s) {
    FileStore *fs = FS(s);
    g_autoptr(GError) lerr = NULL;
    g_auto(GStrv) names = env_dir_list(s->env, fs->dir, &lerr);
    if (names == NULL) {
        env_log(s->env, ENV_LOG_ERROR, "store %s: cannot list %s: %s", s->name, fs->dir, lerr->message);
        return;
    }
    Recovery rc = {.entries_before = s->entries->len};
    for (int i = 0; names[i]; i++) {
        unsigned no;
        char tail[8];
        if (sscanf(names[i], "%10u.%3s", &no, tail) != 2 || strcmp(tail, "seg") != 0 || strlen(names[i]) != 14) continue;
        if (rc.cut) { /* after THE CUT: this segment continues a log that ended before it */
            g_autofree char *path = seg_path(fs, no);
            g_autofree char *ipath = idx_path(fs, no);
            env_log(s->env, ENV_LOG_WARN, "store %s: %s follows the cut: removed", s->name, path);
            if (env_path_exists(s->env, ipath)) env_path_remove(s->env, ipath, NULL);
            if (!env_path_remove(s->env, path, &lerr) || !env_dir_sync(s->env, fs->dir, &lerr)) {
                env_log(s->env, ENV_LOG_ERROR, "store %s: cannot remove %s: %s", s->name, path, lerr->message);
                g_clear_error(&lerr);
            }
            continue;
        }
        recover_segment(s, &rc, no);
    }
    g_free(rc.w.buf);
    if (rc.lost_from != 0) report_lost(s, rc.lost_from, s->last_seq);
    for (guint i = 0; i < fs->segs->len; i++) { /* sealed segments without a (good) index get one */
        Segment *g = fs->segs->pdata[i];
        if (i + 1 < fs->segs->len) seg_trim(s, g); /* sealed, but a crash kept its zeros (PREALLOCATION) */
        if (i + 1 == fs->segs->len) g->needs_index = FALSE; /* the active one: indexed at a clean close */
        else if (g->needs_index) fs->index_pending++;
        else if (g->runs) g_clear_pointer(&g->runs, g_array_unref);
    }
}

Store *store_file_open(Env *env, const StoreConfig *cfg, GError **error) {
    g_return_val_if_fail(cfg != NULL && cfg->dir != NULL, NULL);
    if (!env_dir_make(env, cfg->dir, error)) return NULL;
    Store *s = g_malloc0(sizeof(Store));
    store_index_init(s, env, cfg->name, &file_backend);
    FileStore *fs = g_malloc0(sizeof(FileStore));
    s->impl = fs;
    fs->dir = g_strdup(cfg->dir);
    fs->sync = cfg->sync;
    fs->sync_interval_ns = cfg->sync_interval_ns > 0 ? cfg->sync_interval_ns : LIMIT_STORE_SYNC_INTERVAL_NS;
    fs->segment_bytes_max = cfg->segment_bytes_max > 0 ? cfg->segment_bytes_max : LIMIT_STORE_SEGMENT_BYTES;
    fs->segs = g_ptr_array_new();
    fs->files = cfg->files ? store_files_ref(cfg->files) : store_files_new(env, 0);
    fs->wbuf = g_byte_array_new();
    fs->tail = g_byte_array_new();
    fs->tail_max = cfg->read_cache_bytes_max > 0 ? cfg->read_cache_bytes_max : LIMIT_STORE_READ_CACHE_BYTES;
    s->reads_max = cfg->cold_reads_max > 0 ? cfg->cold_reads_max : LIMIT_STORE_COLD_READ_SEGMENTS;
    fs->loaded_max = cfg->loaded_max > 0 ? cfg->loaded_max : LIMIT_STORE_LOADED_SEGMENTS;
    recover(s);
    fs->durable_seq = s->last_seq;
    if (fs->segs->len == 0) {
        if (!seg_create(s, 1, s->last_seq, error) || !flush_buffer(s, TRUE, error)) {
            store_close(s);
            return NULL;
        }
    } else {
        fs->wbuf_off = active(fs)->size;
        if (fs->wbuf_off == 0) seg_encode(fs, KIND_SEGMENT, 0, s->first_seq, (int64_t)s->last_seq, NULL, 0, NULL, 0, NULL, 0);
    }
    remove_dead_segments(s);
    write_pending_indexes(s);
    if (fs->sync == STORE_SYNC_INTERVAL) fs->timer = env_timer_add(env, fs->sync_interval_ns, interval_tick, s);
    return s;
}
