/* raft_log.c — Raft's log, hard state and snapshot on the environment's disk (raft_log.h
 * draws the three file formats). Only env ops: the same code runs on a real disk, on the
 * unit tests' crashable disk and in the simulator.
 *
 * HOW RECOVERY WORKS
 *   1. raft.snap, if present, must be whole and pass its CRC (it was written atomically).
 *   2. raft.state: take the valid slot with the larger sequence number.
 *   3. raft.log: scan records from offset 0; the first one that is short, oversized, fails
 *      its CRC or breaks index order ends the log. Truncate the file there, fsync, and say so.
 *   4. Reconcile log and snapshot: entries at or before the snapshot are dropped; if the log
 *      holds the snapshot's index with a different term, the entries after it belong to a
 *      history the snapshot replaced, and are dropped too. If anything was dropped, the file
 *      is rewritten (temp file, fsync, rename, dir fsync).
 *
 * WHY THE ORDER IN raft_log_save IS SAFE
 *   Snapshot first (atomic), then the log rewrite that depends on it: a crash between the two
 *   leaves old entries that step 4 of recovery drops. Then the entries, then the hard state,
 *   each fsynced; a crash in the middle leaves a prefix of this Ready durable, and since no
 *   message of this Ready has been sent, nobody relies on the rest (raft_new also adopts the
 *   term of the last entry if the hard state lags it).
 */
#include "raft_log.h"

#include <string.h>

#include "bytes.h"
#include "crc32c.h"
#include "limits.h"

#define REC_HEADER_BYTES 24
#define SLOT_BYTES 32
#define SNAP_HEADER_BYTES 28  /* "RSN1"; "RSN2" adds the configuration after it */
#define LEN_MASK 0x0FFFFFFFu  /* a record's len field: low 28 bits the length, high 4 the type */
#define TYPE_SHIFT 28

struct RaftLog {
    Env *env;
    char *dir, *log_path, *state_path, *snap_path;
    int log_fd, state_fd;
    uint64_t first_index;   /* index of the file's first record (meaningful when n > 0) */
    GArray *offsets;        /* uint64: file offset of record k */
    GArray *terms;          /* uint64: term of record k */
    uint64_t end;           /* bytes of valid records */
    uint64_t state_seq;
    bool lazy;              /* entries are written but not fsynced (raft_log_set_lazy) */
    bool dirty;             /* lazy: written entries not fsynced yet */
};

static uint64_t n_records(const RaftLog *lg) { return lg->offsets->len; }
static uint64_t file_last_index(const RaftLog *lg) { return n_records(lg) ? lg->first_index + n_records(lg) - 1 : 0; }

static gboolean write_all(Env *env, int fd, const void *buf, size_t len, uint64_t off, GError **error) {
    size_t done = 0;
    while (done < len) {
        gssize n = env_file_pwrite(env, fd, (const uint8_t *)buf + done, len - done, off + done, error);
        if (n < 0) return FALSE;
        if (n == 0) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "short write");
            return FALSE;
        }
        done += (size_t)n;
    }
    return TRUE;
}

static GBytes *read_fd_all(Env *env, int fd, GError **error) {
    gint64 size = env_file_size(env, fd, error);
    if (size < 0) return NULL;
    uint8_t *buf = g_malloc(size > 0 ? (gsize)size : 1);
    gint64 got = 0;
    while (got < size) {
        gssize n = env_file_pread(env, fd, buf + got, (size_t)(size - got), (uint64_t)got, error);
        if (n < 0) {
            g_free(buf);
            return NULL;
        }
        if (n == 0) break;
        got += n;
    }
    return g_bytes_new_take(buf, (gsize)got);
}

/* Open (creating if missing) one of our files; a new file's name is made durable at once. */
static int open_file(RaftLog *lg, const char *path, GError **error) {
    gboolean existed = env_path_exists(lg->env, path);
    int fd = env_file_open(lg->env, path, ENV_FILE_WRITE | ENV_FILE_CREATE, error);
    if (fd < 0) return -1;
    if (!existed && !env_dir_sync(lg->env, lg->dir, error)) {
        env_file_close(lg->env, fd);
        return -1;
    }
    return fd;
}

/* The entry type rides in the len field's top bits and is folded into the checksum (crc ^
 * type), so a flipped type bit fails the check; a NORMAL entry's record is byte for byte
 * what it was before entries had types, so old logs read back unchanged. */
static size_t encode_record(uint8_t *p, const RaftEntry *e) {
    gsize len;
    const void *d = g_bytes_get_data(e->data, &len);
    put32(p, (uint32_t)len | ((uint32_t)e->type << TYPE_SHIFT));
    put64(p + 8, e->term);
    put64(p + 16, e->index);
    if (len) memcpy(p + REC_HEADER_BYTES, d, len);
    put32(p + 4, crc32c(p + 8, REC_HEADER_BYTES - 8 + len) ^ (uint32_t)e->type);
    return REC_HEADER_BYTES + len;
}

static uint32_t rec_len(const uint8_t *p) { return get32(p) & LEN_MASK; }
static uint32_t rec_type(const uint8_t *p) { return get32(p) >> TYPE_SHIFT; }

static bool rec_crc_ok(const uint8_t *p) {
    return (crc32c(p + 8, REC_HEADER_BYTES - 8 + rec_len(p)) ^ rec_type(p)) == get32(p + 4);
}

/* Scan the log image; fills offsets/terms and end. Returns why it stopped early, or NULL. */
static const char *scan_log(RaftLog *lg, const uint8_t *p, uint64_t size) {
    g_array_set_size(lg->offsets, 0);
    g_array_set_size(lg->terms, 0);
    uint64_t off = 0, prev_term = 0;
    while (off < size) {
        if (size - off < REC_HEADER_BYTES) return "torn record header";
        uint32_t len = rec_len(p + off);
        if (len > LIMIT_RAFT_ENTRY_BYTES_MAX || rec_type(p + off) >= RAFT_ENTRY_TYPE_END) return "record length out of range";
        if (size - off - REC_HEADER_BYTES < len) return "torn record data";
        if (!rec_crc_ok(p + off)) return "checksum mismatch";
        uint64_t term = get64(p + off + 8), index = get64(p + off + 16);
        if (n_records(lg) == 0) lg->first_index = index;
        else if (index != file_last_index(lg) + 1) return "index out of order";
        if (term < prev_term || index == 0 || term == 0) return "term out of order";
        g_array_append_val(lg->offsets, off);
        g_array_append_val(lg->terms, term);
        prev_term = term;
        off += REC_HEADER_BYTES + len;
        lg->end = off;
    }
    return NULL;
}

/* Does an intact record (length in range, checksum good) start anywhere after `from`? Then
 * the bad bytes at `from` are not a torn tail (writes after the last fsync, never promised to
 * anyone) but damage in the middle of synced records: entries this member acknowledged. */
static bool intact_record_after(const uint8_t *p, uint64_t size, uint64_t from) {
    for (uint64_t off = from + 1; off + REC_HEADER_BYTES <= size; off++) {
        uint32_t len = rec_len(p + off);
        if (len > LIMIT_RAFT_ENTRY_BYTES_MAX || rec_type(p + off) >= RAFT_ENTRY_TYPE_END || size - off - REC_HEADER_BYTES < len)
            continue;
        if (get64(p + off + 8) == 0 || get64(p + off + 16) == 0) continue;
        if (rec_crc_ok(p + off)) return true;
    }
    return false;
}

/* Rewrite raft.log keeping only records from..to (inclusive; from > to keeps none). */
static gboolean rewrite_log(RaftLog *lg, uint64_t from, uint64_t to, GError **error) {
    Env *env = lg->env;
    g_autoptr(GBytes) img = read_fd_all(env, lg->log_fd, error);
    if (img == NULL) return FALSE;
    const uint8_t *p = g_bytes_get_data(img, NULL);
    uint64_t start = 0, stop = 0;
    if (from <= to && n_records(lg) > 0) {
        g_assert(from >= lg->first_index && to <= file_last_index(lg));
        start = g_array_index(lg->offsets, uint64_t, from - lg->first_index);
        stop = to == file_last_index(lg) ? lg->end : g_array_index(lg->offsets, uint64_t, to + 1 - lg->first_index);
    }
    g_autofree char *tmp = g_strconcat(lg->log_path, ".tmp", NULL);
    int fd = env_file_open(env, tmp, ENV_FILE_WRITE | ENV_FILE_CREATE | ENV_FILE_TRUNC, error);
    if (fd < 0) return FALSE;
    gboolean ok = write_all(env, fd, p + start, stop - start, 0, error) && env_file_sync(env, fd, error);
    env_file_close(env, fd);
    if (!ok || !env_path_rename(env, tmp, lg->log_path, error) || !env_dir_sync(env, lg->dir, error))
        return FALSE;
    env_file_close(env, lg->log_fd);
    lg->log_fd = env_file_open(env, lg->log_path, ENV_FILE_WRITE, error);
    if (lg->log_fd < 0) return FALSE;
    lg->end = 0;
    const char *why = scan_log(lg, p + start, stop - start);
    g_assert(why == NULL); /* we just wrote records that scanned clean */
    return TRUE;
}

/* Make the file agree with a snapshot (index, term): see HOW RECOVERY WORKS, step 4. */
static gboolean reconcile_with_snapshot(RaftLog *lg, uint64_t index, uint64_t term, GError **error) {
    if (n_records(lg) == 0) return TRUE;
    uint64_t first = lg->first_index, last = file_last_index(lg);
    if (index + 1 == first) return TRUE; /* the log starts right after the snapshot */
    if (index + 1 < first) {
        env_log(lg->env, ENV_LOG_WARN, "raft log %s: gap after snapshot %" G_GUINT64_FORMAT ", dropping %" G_GUINT64_FORMAT " entries",
                lg->log_path, index, n_records(lg));
        return rewrite_log(lg, 1, 0, error);
    }
    if (index <= last && g_array_index(lg->terms, uint64_t, index - first) == term)
        return rewrite_log(lg, index + 1, last, error); /* compaction: keep what follows */
    return rewrite_log(lg, 1, 0, error);                /* another history: keep nothing */
}

static gboolean load_snapshot(RaftLog *lg, RaftSnapshot *snap, bool *lost, GError **error) {
    memset(snap, 0, sizeof *snap);
    if (!env_path_exists(lg->env, lg->snap_path)) return TRUE;
    g_autoptr(GBytes) b = NULL;
    if (!env_file_read_all(lg->env, lg->snap_path, &b, error)) return FALSE;
    gsize size;
    const uint8_t *p = g_bytes_get_data(b, &size);
    /* RSN1: no configuration (the bootstrap one holds); RSN2: n u32 and n ids after the header */
    bool v2 = size >= SNAP_HEADER_BYTES + 4 && memcmp(p, "RSN2", 4) == 0;
    gsize head = SNAP_HEADER_BYTES;
    if (v2) {
        uint32_t n = get32(p + SNAP_HEADER_BYTES);
        snap->peers.n = n <= LIMIT_RAFT_PEERS_MAX ? n : 0;
        head += 4 + 4 * (gsize)snap->peers.n;
        for (uint32_t i = 0; i < snap->peers.n && head <= size; i++) snap->peers.ids[i] = get32(p + SNAP_HEADER_BYTES + 4 + 4 * i);
    }
    if (size < head || (memcmp(p, "RSN1", 4) != 0 && !v2) || (v2 && !raft_peers_valid(&snap->peers)) ||
        get32(p + 24) != size - head || crc32c(p + 8, size - 8) != get32(p + 4) || get64(p + 16) == 0 || size == head) {
        memset(&snap->peers, 0, sizeof snap->peers);
        /* Jepsen NATS #7556. Written atomically, so never torn: rot or a bad disk. Without
         * it the log after it means nothing (it starts past index 1), so both go: the file is
         * kept aside for a post-mortem, and the member boots empty and damaged (no vote until
         * a leader has sent it a snapshot and entries of the current term). */
        env_log(lg->env, ENV_LOG_ERROR, "raft snapshot %s: corrupt (%zu bytes, checksum or header wrong): set aside"
                " as raft.snap.corrupt; this member starts empty and is repaired from its peers", lg->snap_path,
                (size_t)size);
        g_autofree char *aside = g_strconcat(lg->snap_path, ".corrupt", NULL);
        if (!env_path_rename(lg->env, lg->snap_path, aside, error) || !env_dir_sync(lg->env, lg->dir, error))
            return FALSE;
        *lost = true;
        return TRUE;
    }
    snap->term = get64(p + 8);
    snap->index = get64(p + 16);
    snap->data = g_bytes_new(p + head, size - head);
    return TRUE;
}

static gboolean save_snapshot(RaftLog *lg, const RaftSnapshot *snap, GError **error) {
    g_assert(raft_peers_valid(&snap->peers));
    gsize len;
    const void *d = g_bytes_get_data(snap->data, &len);
    gsize head = SNAP_HEADER_BYTES + 4 + 4 * (gsize)snap->peers.n;
    g_autofree uint8_t *buf = g_malloc(head + len);
    memcpy(buf, "RSN2", 4);
    put64(buf + 8, snap->term);
    put64(buf + 16, snap->index);
    put32(buf + 24, (uint32_t)len);
    put32(buf + SNAP_HEADER_BYTES, snap->peers.n);
    for (uint32_t i = 0; i < snap->peers.n; i++) put32(buf + SNAP_HEADER_BYTES + 4 + 4 * i, snap->peers.ids[i]);
    if (len) memcpy(buf + head, d, len);
    put32(buf + 4, crc32c(buf + 8, head - 8 + len));
    return env_file_write_atomic(lg->env, lg->snap_path, buf, head + len, error);
}

static bool slot_decode(const uint8_t *p, uint64_t *seq, RaftHardState *hs) {
    if (crc32c(p, SLOT_BYTES - 4) != get32(p + SLOT_BYTES - 4)) return false;
    *seq = get64(p);
    hs->term = get64(p + 8);
    hs->commit = get64(p + 16);
    hs->vote = get32(p + 24);
    return *seq != 0;
}

static gboolean load_state(RaftLog *lg, RaftHardState *hs, bool *lost, GError **error) {
    memset(hs, 0, sizeof *hs);
    g_autoptr(GBytes) b = read_fd_all(lg->env, lg->state_fd, error);
    if (b == NULL) return FALSE;
    gsize size;
    const uint8_t *p = g_bytes_get_data(b, &size);
    lg->state_seq = 0;
    for (int s = 0; s < 2; s++) {
        uint64_t seq;
        RaftHardState h;
        if ((gsize)(s + 1) * SLOT_BYTES <= size && slot_decode(p + s * SLOT_BYTES, &seq, &h) && seq > lg->state_seq) {
            lg->state_seq = seq;
            *hs = h;
        }
    }
    if (lg->state_seq == 0 && size > 0) {
        /* It was written (so this member may have voted) and neither copy reads back: the
         * term and vote are unknown. Starting from term 0 could vote twice in one term. */
        *lost = true;
        env_log(lg->env, ENV_LOG_ERROR, "raft state %s: no valid slot in %zu bytes: term and vote lost; this member"
                " will not vote until a leader of the current term has reached it", lg->state_path, (size_t)size);
    }
    return TRUE;
}

static gboolean save_state(RaftLog *lg, const RaftHardState *hs, GError **error) {
    uint8_t slot[SLOT_BYTES] = {0};
    uint64_t seq = lg->state_seq + 1;
    put64(slot, seq);
    put64(slot + 8, hs->term);
    put64(slot + 16, hs->commit);
    put32(slot + 24, hs->vote);
    put32(slot + SLOT_BYTES - 4, crc32c(slot, SLOT_BYTES - 4));
    if (!write_all(lg->env, lg->state_fd, slot, SLOT_BYTES, (seq % 2) * SLOT_BYTES, error) ||
        !env_file_sync(lg->env, lg->state_fd, error))
        return FALSE;
    lg->state_seq = seq;
    return TRUE;
}

RaftLog *raft_log_open(Env *env, const char *dir, RaftBoot *boot, GError **error) {
    memset(boot, 0, sizeof *boot);
    if (!env_dir_make(env, dir, error)) return NULL;
    RaftLog *lg = g_malloc0(sizeof *lg);
    lg->env = env;
    lg->dir = g_strdup(dir);
    lg->log_path = g_build_filename(dir, "raft.log", NULL);
    lg->state_path = g_build_filename(dir, "raft.state", NULL);
    lg->snap_path = g_build_filename(dir, "raft.snap", NULL);
    lg->offsets = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    lg->terms = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    lg->log_fd = lg->state_fd = -1;
    bool snap_lost = false;
    if (!load_snapshot(lg, &boot->snapshot, &snap_lost, error)) goto fail;
    if ((lg->state_fd = open_file(lg, lg->state_path, error)) < 0) goto fail;
    if (!load_state(lg, &boot->hs, &boot->state_lost, error)) goto fail;
    if ((lg->log_fd = open_file(lg, lg->log_path, error)) < 0) goto fail;
    {
        g_autoptr(GBytes) img = read_fd_all(env, lg->log_fd, error);
        if (img == NULL) goto fail;
        gsize size;
        const uint8_t *p = g_bytes_get_data(img, &size);
        const char *why = scan_log(lg, p, size);
        /* a whole last record (its length fits the file) that fails its checksum is not a
         * torn write either: a torn write is a prefix, cut inside the record */
        bool whole_bad_tail = why != NULL && strcmp(why, "checksum mismatch") == 0 &&
                              size - lg->end >= REC_HEADER_BYTES &&
                              size - lg->end == REC_HEADER_BYTES + (uint64_t)rec_len(p + lg->end);
        if (why && (whole_bad_tail || intact_record_after(p, size, lg->end))) {
            boot->damaged = true;
            env_log(env, ENV_LOG_ERROR, "raft log %s: damaged %s at offset %" G_GUINT64_FORMAT
                    ": entries acknowledged before may be lost; this member will not vote until repaired by a leader",
                    lg->log_path, whole_bad_tail ? "(a whole last record fails its checksum)" : "in the middle (intact records follow)",
                    lg->end);
        }
        if (why) {
            env_log(env, ENV_LOG_WARN, "raft log %s: %s at offset %" G_GUINT64_FORMAT ", truncating %" G_GUINT64_FORMAT " bytes",
                    lg->log_path, why, lg->end, (uint64_t)size - lg->end);
            if (!env_file_truncate(env, lg->log_fd, lg->end, error) || !env_file_sync(env, lg->log_fd, error))
                goto fail;
        }
    }
    if (n_records(lg) > 0 && (snap_lost || (boot->snapshot.index == 0 && lg->first_index > 1))) {
        /* entries that continue a snapshot we do not have: useless, and acknowledged ones may
         * be among what is lost */
        env_log(env, ENV_LOG_ERROR, "raft log %s: starts at %" G_GUINT64_FORMAT " without its snapshot: dropped;"
                " this member will not vote until repaired by a leader", lg->log_path, lg->first_index);
        if (!rewrite_log(lg, 1, 0, error)) goto fail;
        snap_lost = true;
    }
    if (snap_lost) boot->damaged = true;
    if (!reconcile_with_snapshot(lg, boot->snapshot.index, boot->snapshot.term, error)) goto fail;
    if (n_records(lg) > 0) {
        g_autoptr(GBytes) img = read_fd_all(env, lg->log_fd, error);
        if (img == NULL) goto fail;
        const uint8_t *p = g_bytes_get_data(img, NULL);
        boot->n_entries = n_records(lg);
        boot->entries = g_new0(RaftEntry, boot->n_entries);
        for (size_t k = 0; k < boot->n_entries; k++) {
            uint64_t off = g_array_index(lg->offsets, uint64_t, k);
            boot->entries[k].term = get64(p + off + 8);
            boot->entries[k].index = get64(p + off + 16);
            boot->entries[k].data = g_bytes_new(p + off + REC_HEADER_BYTES, rec_len(p + off));
            boot->entries[k].type = (RaftEntryType)rec_type(p + off);
        }
    }
    return lg;
fail:
    raft_boot_clear(boot);
    raft_log_close(lg);
    return NULL;
}

gboolean raft_log_save(RaftLog *lg, const RaftReady *rd, GError **error) {
    Env *env = lg->env;
    if (rd->has_snapshot) {
        if (!save_snapshot(lg, &rd->snapshot, error)) return FALSE;
        if (!reconcile_with_snapshot(lg, rd->snapshot.index, rd->snapshot.term, error)) return FALSE;
    }
    if (rd->n_entries > 0) {
        uint64_t first = rd->entries[0].index;
        if (n_records(lg) > 0 && first <= file_last_index(lg)) { /* a conflicting suffix */
            g_assert(first >= lg->first_index);
            guint k = (guint)(first - lg->first_index);
            lg->end = g_array_index(lg->offsets, uint64_t, k);
            g_array_set_size(lg->offsets, k);
            g_array_set_size(lg->terms, k);
            if (!env_file_truncate(env, lg->log_fd, lg->end, error)) return FALSE;
        }
        if (n_records(lg) == 0) lg->first_index = first;
        g_assert(first == file_last_index(lg) + 1 || n_records(lg) == 0);
        size_t total = 0;
        for (size_t i = 0; i < rd->n_entries; i++) total += REC_HEADER_BYTES + g_bytes_get_size(rd->entries[i].data);
        g_autofree uint8_t *buf = g_malloc(total);
        size_t off = 0;
        for (size_t i = 0; i < rd->n_entries; i++) {
            uint64_t at = lg->end + off;
            g_array_append_val(lg->offsets, at);
            g_array_append_val(lg->terms, rd->entries[i].term);
            off += encode_record(buf + off, &rd->entries[i]);
        }
        if (!write_all(env, lg->log_fd, buf, total, lg->end, error)) return FALSE;
        lg->end += total;
        if (lg->lazy) lg->dirty = true;
        else if (!raft_log_sync(lg, error)) return FALSE;
    }
    if (rd->has_hard_state && !save_state(lg, &rd->hs, error)) return FALSE;
    return TRUE;
}

void raft_log_set_lazy(RaftLog *lg, bool lazy) { lg->lazy = lazy; }

gboolean raft_log_sync(RaftLog *lg, GError **error) {
    if (!env_file_sync(lg->env, lg->log_fd, error)) return FALSE;
    lg->dirty = false;
    return TRUE;
}

bool raft_log_dirty(const RaftLog *lg) { return lg->dirty; }

uint64_t raft_log_state_bytes(const RaftLog *lg) { return lg->end + 2 * SLOT_BYTES; }

void raft_log_close(RaftLog *lg) {
    if (lg == NULL) return;
    if (lg->log_fd >= 0) env_file_close(lg->env, lg->log_fd);
    if (lg->state_fd >= 0) env_file_close(lg->env, lg->state_fd);
    g_array_free(lg->offsets, TRUE);
    g_array_free(lg->terms, TRUE);
    g_free(lg->dir);
    g_free(lg->log_path);
    g_free(lg->state_path);
    g_free(lg->snap_path);
    g_free(lg);
}
