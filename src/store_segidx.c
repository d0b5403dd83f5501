/* store_segidx.c — the format of a sealed segment's index file (NNNNNNNNNN.idx), see
 * store_segidx.h for the interface and store_file.c (INDEX FILES) for its use.
 *
 * THE FILE (integers little-endian; "varint" = LEB128, 7 bits per byte, low bits first)
 *   offset  size  field
 *   ------  ----  ---------------------------------------------------------------------
 *        0     4  magic 0x31584A4D ("MJX1" on disk)
 *        4     4  version (2; a version-1 file is refused: the segment is scanned and indexed anew)
 *        8     4  segment number
 *       12     8  covered: the segment's size when it was indexed
 *       20     4  tail CRC: the segment's 4 bytes before `covered` (its last record's CRC)
 *       24     8  the SEGMENT record's floor       32  8  and its last_seq
 *       40     8  high-water mark (highest seq of a MSG or LAST record in the segment)
 *       48     8  timestamp of the segment's newest MSG
 *       56     8  tombstone records in the segment
 *       64     8  M: live messages listed
 *       72     4  R: tombstone runs               76  4  S: subjects
 *       80     8  SUMMARY of the listed messages: lowest seq    88  8  highest seq
 *       96     8  the lowest's timestamp                       104  8  the highest's
 *      112     8  their accounted bytes                        120  8  how many carry headers
 *      128     .  R runs:     kind (1), flags (1), lo (varint), hi - lo (varint)
 *              .  S subjects: length (varint), bytes, then the subject's listed messages
 *                   (varint), its first seq (varint), last - first (varint)
 *              .  M messages, each a delta from the one before (the first from zeros):
 *                   seq (varint), timestamp (zigzag varint), offset (varint),
 *                   subject number (varint), accounted bytes << 1 | has headers (varint)
 *      end-4   4  CRC32C of every byte before it
 *   The SUMMARY (header fields 80-127 and the per-subject counts) answers what a stream's
 *   state and its subjects' counts need without the message section: a segment whose
 *   messages nobody asked for stays COLD (store_cold.c, COLD SEGMENTS), its messages never
 *   decoded.
 *   A message costs 5-12 bytes here against its whole record in the segment (36 bytes plus
 *   subject, headers and payload), and no CRC of its payload at start-up.
 */
#include "store_segidx.h"

#include <string.h>

#include "bytes.h"
#include "crc32c.h"
#include "limits.h"

#define SEGIDX_MAGIC 0x31584A4Du
#define SEGIDX_VERSION 2
#define SEGIDX_HDR_BYTES 128

static void put_varint(GByteArray *b, uint64_t v) {
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    g_byte_array_append(b, tmp, (guint)n);
}

static gboolean get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return FALSE;
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return TRUE;
        }
    }
    return FALSE;
}

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

void segidx_init(SegIdx *x) {
    memset(x, 0, sizeof *x);
    x->runs = g_array_new(FALSE, FALSE, sizeof(SegIdxTomb));
    x->subjects = g_ptr_array_new_with_free_func(g_free);
    x->msg_bytes = g_byte_array_new();
    x->subject_msgs = g_array_new(FALSE, TRUE, sizeof(SegIdxSubject));
}

void segidx_clear(SegIdx *x) {
    if (x->runs) g_array_free(x->runs, TRUE);
    if (x->subjects) g_ptr_array_free(x->subjects, TRUE);
    if (x->msg_bytes) g_byte_array_free(x->msg_bytes, TRUE);
    if (x->subject_msgs) g_array_free(x->subject_msgs, TRUE);
    memset(x, 0, sizeof *x);
}

void segidx_add_tomb(SegIdx *x, int kind, int flags, uint64_t lo, uint64_t hi) {
    SegIdxTomb t = {.kind = (uint8_t)kind, .flags = (uint8_t)flags, .lo = lo, .hi = hi};
    g_array_append_val(x->runs, t);
}

void segidx_add_msg(SegIdx *x, const SegIdxMsg *m) {
    g_assert(m->seq > x->prev.seq && m->off >= x->prev.off);
    put_varint(x->msg_bytes, m->seq - x->prev.seq);
    put_varint(x->msg_bytes, zigzag(m->ts_ns - x->prev.ts_ns));
    put_varint(x->msg_bytes, m->off - x->prev.off);
    put_varint(x->msg_bytes, m->subject);
    put_varint(x->msg_bytes, (uint64_t)m->bytes << 1 | (m->has_hdr ? 1 : 0));
    x->prev = *m;
    x->msgs++;
    if (x->lo == 0) {
        x->lo = m->seq;
        x->lo_ts_ns = m->ts_ns;
    }
    x->hi = m->seq;
    x->hi_ts_ns = m->ts_ns;
    x->bytes += m->bytes;
    x->hdr_msgs += m->has_hdr;
    g_assert(m->subject < x->subjects->len);
    if (x->subject_msgs->len < x->subjects->len) g_array_set_size(x->subject_msgs, x->subjects->len);
    SegIdxSubject *sj = &g_array_index(x->subject_msgs, SegIdxSubject, m->subject);
    if (sj->msgs++ == 0) sj->first = m->seq;
    sj->last = m->seq;
}

void segidx_encode(const SegIdx *x, GByteArray *out) {
    uint8_t h[SEGIDX_HDR_BYTES];
    put32(h, SEGIDX_MAGIC);
    put32(h + 4, SEGIDX_VERSION);
    put32(h + 8, x->seg_no);
    put64(h + 12, x->covered);
    put32(h + 20, x->tail_crc);
    put64(h + 24, x->seg_floor);
    put64(h + 32, x->seg_last);
    put64(h + 40, x->hiwater);
    put64(h + 48, (uint64_t)x->last_ts_ns);
    put64(h + 56, x->tombs);
    put64(h + 64, x->msgs);
    put32(h + 72, x->runs->len);
    put32(h + 76, x->subjects->len);
    put64(h + 80, x->lo);
    put64(h + 88, x->hi);
    put64(h + 96, (uint64_t)x->lo_ts_ns);
    put64(h + 104, (uint64_t)x->hi_ts_ns);
    put64(h + 112, x->bytes);
    put64(h + 120, x->hdr_msgs);
    g_byte_array_append(out, h, sizeof h);
    for (guint i = 0; i < x->runs->len; i++) {
        const SegIdxTomb *t = &g_array_index(x->runs, SegIdxTomb, i);
        uint8_t kf[2] = {t->kind, t->flags};
        g_byte_array_append(out, kf, 2);
        put_varint(out, t->lo);
        put_varint(out, t->hi - t->lo);
    }
    for (guint i = 0; i < x->subjects->len; i++) {
        const char *sj = x->subjects->pdata[i];
        size_t n = strlen(sj);
        put_varint(out, n);
        g_byte_array_append(out, (const guint8 *)sj, (guint)n);
        const SegIdxSubject *c = i < x->subject_msgs->len ? &g_array_index(x->subject_msgs, SegIdxSubject, i) : NULL;
        put_varint(out, c ? c->msgs : 0);
        put_varint(out, c ? c->first : 0);
        put_varint(out, c ? c->last - c->first : 0);
    }
    g_byte_array_append(out, x->msg_bytes->data, x->msg_bytes->len);
    uint8_t crc[4];
    put32(crc, crc32c(out->data, out->len));
    g_byte_array_append(out, crc, 4);
}

static gboolean bad(GError **error, const char *why) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "index file: %s", why);
    return FALSE;
}

gboolean segidx_check_start(const uint8_t *p, size_t have, size_t len, GError **error) {
    if (len < SEGIDX_HDR_BYTES + 4 || have < 8 || get32(p) != SEGIDX_MAGIC) return bad(error, "not an index (bad magic or too short)");
    if (get32(p + 4) != SEGIDX_VERSION) return bad(error, "unknown version");
    return TRUE;
}

static int bad_head(GError **error, const char *why) {
    bad(error, why);
    return -1;
}

/* Parsing a prefix: a field that runs past the bytes we have asks for more (0), not an error. */
#define MORE_OR_BAD(why) \
    do { \
        if (have < len) { \
            segidx_clear(x); \
            return 0; \
        } \
        return bad_head(error, why); \
    } while (0)

int segidx_decode_head(const uint8_t *p, size_t have, size_t len, SegIdx *x, GError **error) {
    segidx_init(x);
    if (!segidx_check_start(p, have, len, error)) return -1;
    if (have < SEGIDX_HDR_BYTES) MORE_OR_BAD("truncated header");
    x->seg_no = get32(p + 8);
    x->covered = get64(p + 12);
    x->tail_crc = get32(p + 20);
    x->seg_floor = get64(p + 24);
    x->seg_last = get64(p + 32);
    x->hiwater = get64(p + 40);
    x->last_ts_ns = (int64_t)get64(p + 48);
    x->tombs = get64(p + 56);
    x->msgs = get64(p + 64);
    x->lo = get64(p + 80);
    x->hi = get64(p + 88);
    x->lo_ts_ns = (int64_t)get64(p + 96);
    x->hi_ts_ns = (int64_t)get64(p + 104);
    x->bytes = get64(p + 112);
    x->hdr_msgs = get64(p + 120);
    uint32_t nruns = get32(p + 72), nsubj = get32(p + 76);
    const uint8_t *q = p + SEGIDX_HDR_BYTES, *end = p + MIN(have, len - 4);
    for (uint32_t i = 0; i < nruns; i++) {
        uint64_t lo, n;
        if (end - q < 2) MORE_OR_BAD("truncated runs");
        int kind = q[0], flags = q[1];
        q += 2;
        if (!get_varint(&q, end, &lo) || !get_varint(&q, end, &n)) MORE_OR_BAD("bad run");
        if (lo + n < lo) return bad_head(error, "bad run");
        segidx_add_tomb(x, kind, flags, lo, lo + n);
    }
    for (uint32_t i = 0; i < nsubj; i++) {
        uint64_t n;
        if (!get_varint(&q, end, &n) || n > (uint64_t)(end - q)) MORE_OR_BAD("bad subject");
        if (n == 0 || n > LIMIT_MAX_SUBJECT_BYTES) return bad_head(error, "bad subject");
        g_ptr_array_add(x->subjects, g_strndup((const char *)q, (gsize)n));
        q += n;
        SegIdxSubject c;
        uint64_t span;
        if (!get_varint(&q, end, &c.msgs) || !get_varint(&q, end, &c.first) || !get_varint(&q, end, &span))
            MORE_OR_BAD("bad subject summary");
        if (c.first + span < c.first) return bad_head(error, "bad subject summary");
        c.last = c.first + span;
        g_array_append_val(x->subject_msgs, c);
    }
    /* the summary must add up (the messages themselves are checked when decoded) */
    uint64_t sum = 0;
    for (guint i = 0; i < x->subject_msgs->len; i++) {
        const SegIdxSubject *c = &g_array_index(x->subject_msgs, SegIdxSubject, i);
        if (c->msgs == 0 || c->first < x->lo || c->last > x->hi || c->first > c->last || c->msgs > c->last - c->first + 1)
            return bad_head(error, "subject summary outside the listed seqs");
        sum += c->msgs;
    }
    if (sum != x->msgs || (x->msgs > 0) != (x->lo > 0) || x->lo > x->hi || x->hdr_msgs > x->msgs ||
        (x->msgs > 0 && x->msgs > x->hi - x->lo + 1))
        return bad_head(error, "summary does not add up");
    x->cur = q;
    x->end = end;
    return 1;
}

gboolean segidx_decode(const uint8_t *p, size_t len, SegIdx *x, GError **error) {
    if (!segidx_check_start(p, len, len, error) || crc32c(p, len - 4) != get32(p + len - 4)) {
        segidx_init(x);
        return error && *error ? FALSE : bad(error, "checksum mismatch");
    }
    return segidx_decode_head(p, len, len, x, error) == 1;
}

gboolean segidx_next_msg(SegIdx *x, SegIdxMsg *m, gboolean *bad_out) {
    *bad_out = FALSE;
    if (x->cur >= x->end) return FALSE;
    uint64_t dseq, zts, doff, subj, bh;
    if (!get_varint(&x->cur, x->end, &dseq) || !get_varint(&x->cur, x->end, &zts) ||
        !get_varint(&x->cur, x->end, &doff) || !get_varint(&x->cur, x->end, &subj) ||
        !get_varint(&x->cur, x->end, &bh) || dseq == 0 || subj >= x->subjects->len ||
        x->prev.off + doff > G_MAXUINT32 || (bh >> 1) == 0 || (bh >> 1) > G_MAXUINT32) {
        *bad_out = TRUE;
        return FALSE;
    }
    m->seq = x->prev.seq + dseq;
    m->ts_ns = x->prev.ts_ns + unzigzag(zts);
    m->off = (uint32_t)(x->prev.off + doff);
    m->subject = (uint32_t)subj;
    m->bytes = (uint32_t)(bh >> 1);
    m->has_hdr = bh & 1;
    x->prev = *m;
    return TRUE;
}
