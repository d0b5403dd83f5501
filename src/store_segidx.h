/* store_segidx.h — a sealed segment's index file: what recovery needs from a segment, without
 * its payloads. Private to the file store (store_file.c writes and replays it; see INDEX
 * FILES there for when and why). This file only knows the format.
 *
 * INTERFACE
 *   segidx_init / segidx_clear    a SegIdx being built (header fields, runs, subjects, msgs)
 *   segidx_add_msg / add_tomb     append a live message / a tombstone run, in replay order
 *   segidx_encode(x, out)         the file's bytes, CRC32C last
 *   segidx_decode_head(p, have..)  the same from a prefix, CRC checked by the caller in pieces
 *   segidx_decode(p, len, x, e)   verify magic, version, lengths and CRC, parse the header,
 *                                 the summary, runs and subjects; the messages are walked
 *                                 with segidx_next_msg (no array of them is built), or not at
 *                                 all while the segment stays cold (store_cold.c)
 */
#ifndef MINIJET_STORE_SEGIDX_H
#define MINIJET_STORE_SEGIDX_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct SegIdxMsg {
    uint64_t seq;
    int64_t ts_ns;
    uint32_t off;     /* the record's offset in the segment */
    uint32_t subject; /* index into SegIdx.subjects */
    uint32_t bytes;   /* accounted bytes (file_msg_bytes) */
    bool has_hdr;
} SegIdxMsg;

/* A run of tombstone records with consecutive seqs (a FLOOR is a run of one). */
typedef struct SegIdxTomb {
    uint8_t kind, flags; /* the record kind and flags, as in store_file.c */
    uint64_t lo, hi;     /* seqs lo..hi, one record each */
} SegIdxTomb;

/* One subject's share of the listed messages (the SUMMARY, format version 2). */
typedef struct SegIdxSubject {
    uint64_t msgs, first, last;
} SegIdxSubject;

typedef struct SegIdx {
    uint32_t seg_no;
    uint64_t covered;    /* the segment's size when indexed: the index describes [0, covered) */
    uint32_t tail_crc;   /* the last 4 bytes before `covered` (the CRC of its last record) */
    uint64_t seg_floor;  /* the SEGMENT record: floor and last_seq (0, 0 if it was damaged) */
    uint64_t seg_last;
    uint64_t hiwater;    /* highest seq a MSG or LAST record of the segment names */
    int64_t last_ts_ns;  /* timestamp of its newest MSG */
    uint64_t tombs;      /* tombstone records in the segment */
    uint64_t msgs;       /* live messages listed */
    /* the SUMMARY of the listed messages (kept by segidx_add_msg, checked by segidx_decode): */
    uint64_t lo, hi;          /* lowest and highest listed seq (0, 0 if none) */
    int64_t lo_ts_ns, hi_ts_ns; /* their timestamps */
    uint64_t bytes;           /* sum of their accounted bytes */
    uint64_t hdr_msgs;        /* how many carry headers */
    GArray *subject_msgs;     /* SegIdxSubject per entry of subjects */
    GArray *runs;        /* SegIdxTomb, in log order */
    GPtrArray *subjects; /* char*, owned */
    /* encoding state / decoding cursor */
    GByteArray *msg_bytes;      /* encode: the message section so far */
    const uint8_t *cur, *end;   /* decode: the message section */
    SegIdxMsg prev;
} SegIdx;

void segidx_init(SegIdx *x);
void segidx_clear(SegIdx *x);
void segidx_add_tomb(SegIdx *x, int kind, int flags, uint64_t lo, uint64_t hi);
void segidx_add_msg(SegIdx *x, const SegIdxMsg *m);
void segidx_encode(const SegIdx *x, GByteArray *out);
/* The buffer must outlive the message walk. FALSE + error: not an index, or damaged (or an
 * older version: the caller scans the segment and writes a new one). The summary is checked
 * against itself (counts add up, seqs within lo..hi); the messages only by the CRC. */
gboolean segidx_decode(const uint8_t *p, size_t len, SegIdx *x, GError **error);
/* The magic and version in the first `have` bytes of a file of `len` (FALSE + error: not an
 * index this build reads). */
gboolean segidx_check_start(const uint8_t *p, size_t have, size_t len, GError **error);
/* Without the CRC (the caller computed it over the file in pieces): the same check, then the
 * header, summary, runs and subjects from the first `have` bytes. 1 = parsed; 0 = they run
 * past `have`: call again with more bytes; -1 = damaged (error set). x is initialised either
 * way (segidx_clear it). */
int segidx_decode_head(const uint8_t *p, size_t have, size_t len, SegIdx *x, GError **error);
/* The next message, TRUE; FALSE at the end (or if the section is malformed: *bad set). */
gboolean segidx_next_msg(SegIdx *x, SegIdxMsg *m, gboolean *bad);

#endif
