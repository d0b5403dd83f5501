/* store_cold.c — cold segments: the oldest messages of a store counted by summaries, their
 * entries loaded only when a question needs them.
 *
 * WHAT IT IS
 *   The half of the generic store (store_index.c) that keeps COLD segments: a backend that
 *   can describe a segment without listing its messages (the file store, from its index
 *   files) adds it as a summary; this file answers from the summaries, reads inside one
 *   segment without changing the index (COLD READS), changes a segment where it lies, cold
 *   (COLD CHANGES), turns loaded entries back into a summary (COLD AGAIN), and loads entries
 *   when a question needs them (the thaw).
 *
 * INTERFACE
 *   store_index_can_freeze, store_index_freeze, store_index_refreeze, store_index_thaw_from
 *                        for the backends (store_index.h);
 *   store_cold_find, store_cold_read, store_cold_del, store_cold_matching, store_cold_floor,
 *   store_cold_subject_from, store_cold_check, store_cold_free
 *                        for the index (store_index.h, its last section).
 *
 * INVARIANTS (store_cold_check): the cold segments are ordered, every seq in them is below
 *   the loaded entries' base, each counts at least one live message, the first of the oldest
 *   is first_seq, and each subject's cold count is the sum of its shares of the segments.
 */
#include "store_index.h"

#include <string.h>

#include "limits.h"

/* ==========================================================================================
 * COLD SEGMENTS
 *
 * WHY
 *   A restart used to rebuild one entry per live message (24 bytes, plus 8 in its subject's
 *   list) before the stream answered anything: linear in the stream, however little of it
 *   the first questions touch. Most questions need far less. STREAM.INFO wants counts, bytes,
 *   first and last; a consumer's pending count and a KV get want per-subject counts, first
 *   and last; a consumer reading on wants the entries from its position on. So a backend
 *   may add a segment's messages as a SUMMARY only (store_index_freeze; the file store does
 *   it for segments it opens from an index file, INDEX FILES in store_file.c): its first and
 *   last live seq and their timestamps, how many messages, bytes and messages with headers,
 *   and per subject its count, first and last seq. Such a segment is COLD. Its entries are
 *   loaded (THAWED, through the backend's thaw) the first time a question needs them.
 *
 * HOW IT WORKS
 *   Cold segments are a prefix of the stream: every seq in them is below `base`, where the
 *   loaded entries start, and they are ordered oldest first (s->cold). Each subject counts
 *   its cold messages (sj->cold) and knows the first and last of them; those all lie below
 *   its loaded list, so per subject:
 *     count from `from`  = its loaded seqs >= from, plus all its cold ones if from <= cold_first;
 *     next from `from`   = cold_first if from <= cold_first, else a search of its list;
 *     first, last, count = from the summary and the list, no thaw.
 *   Only when `from` falls strictly inside a subject's cold stretch (subject_straddles in store_index.c) does
 *   the answer depend on which cold seqs are where: then store_index_thaw_from(from) loads
 *   every cold segment holding a seq >= from, and the loaded index answers as it always did.
 *   The same for the whole stream: state and counts from the first seq add summaries; a load
 *   or a count inside one segment reads it (COLD READS); a change (a delete, a filtered purge,
 *   the limits) changes its segment where it lies, cold (COLD CHANGES); a FLOOR (purge,
 *   compact, max_age) drops whole cold segments below it by their summaries and cuts the one
 *   it falls in, cold too. What still thaws from a seq is a walk the summaries cannot answer
 *   (LIMITATIONS).
 *   A thaw builds the new entries array once (the thawed segments, the holes between them
 *   and the old entries, copied once), and prepends the thawed seqs to each subject's list in
 *   one pass. The backend must hand back exactly the messages its summary counted; if it
 *   cannot (the index file changed or cannot be read since the open verified it), those
 *   messages are counted as lost (store_damaged) and leave the index, as recovery does with
 *   a damaged record; the backend keeps the file holding them (released_cold, lost: it is
 *   not a deletion), so the next open finds them again. A thaw frees subjects only by such a
 *   loss, so code that holds a StoreSubject across a thaw looks it up again.
 *
 * WHY NOT THE OBVIOUS WAY
 *   Loading per segment independently (entries and subject lists split per segment, any
 *   segment cold or loaded, nats-server's message blocks) would let any question load one
 *   segment instead of every one above it. A change no longer needs it (COLD CHANGES: the
 *   segment changes cold), and keeping the cold segments a prefix leaves every loaded-index
 *   algorithm of store_index.c unchanged; what it would still buy is in LIMITATIONS.
 *
 * COLD READS
 *   A question that only READS inside a cold segment does not thaw: loading a message by seq
 *   (a consumer, DIRECT.GET, a KV get), the next live seq and the count of live seqs from a
 *   seq, for the whole stream or one subject (a consumer's next message and pending count,
 *   store_cold_subject_from), the seq for a time and the next message with headers decode the
 *   segments they look inside into arrays of their own (store_cold_read), kept in a small LRU per store
 *   (Store.reads, at most reads_max, LIMIT_STORE_COLD_READ_SEGMENTS): a consumer reading a
 *   cold stream from its first message decodes each segment once and holds at most that many,
 *   a KV get of an old key decodes one. Nothing in the index changes, so dropping such an
 *   array is free; a change to a cold segment is made in its array too (COLD CHANGES), so
 *   the array stays true, and a thaw takes its entries from it instead of the backend.
 *
 * COLD AGAIN
 *   The loaded entries need not stay loaded. After a flush the file store keeps at most
 *   LIMIT_STORE_LOADED_SEGMENTS sealed segments loaded (store_file.c, refreeze_sealed): the
 *   lowest loaded one, just above the cold prefix, is described again by its index file (read
 *   back if its messages are the ones it lists, else written anew first) and handed to
 *   store_index_refreeze, which checks the summary against the loaded entries it replaces
 *   (counts, bytes, each subject's first seqs) and cuts them off: the entries above move down
 *   in the entries array and the subjects' lists start further on, each keeping its
 *   allocation, which the next segment's entries fill again (giving it back and taking it
 *   anew cost a page fault per 4 KiB, per segment: ~15% more CPU per message, measured); an
 *   idle store gives it back (store_index_shrink, store_file.c IDLE). The segment is then
 *   cold like one the open left cold. So a long stream holds the entries of its newest
 *   segments only, whether it was just written or thawed by a change, and its memory does not
 *   grow with its length (book 5.6, MEMORY).
 *
 * LIMITATIONS
 *   - A thaw loads every cold segment above the seq it needs: a wildcard filter inside a
 *     subject's cold stretch, a subject in a segment of more than
 *     LIMIT_STORE_SUBJECTS_SCAN_COUNT subjects (the cost the open used to pay, paid later).
 *     Changes do not thaw (COLD CHANGES); deleted-details (store_deleted) reads each cold
 *     segment once and a purge that keeps N of the stream reads the one segment its floor
 *     falls in, neither thaws.
 *   - Thawed segments go cold again only from the bottom, after a flush (COLD AGAIN).
 *   - While cold segments exist, the dead front of the loaded entries is not cut off.
 * ========================================================================================== */

void store_cold_free(gpointer p) {
    StoreCold *c = p;
    if (c->gone) g_array_free(c->gone, TRUE);
    g_free(c->subjects);
    g_free(c->read);
    g_free(c);
}

/* The cold segment whose seq range [lo, hi] holds seq (not necessarily live), or NULL. */
StoreCold *store_cold_find(const Store *s, uint64_t seq) {
    guint lo = 0, hi = s->cold->len;
    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        StoreCold *c = cold_at(s, mid);
        if (seq < c->lo) hi = mid;
        else if (seq > c->hi) lo = mid + 1;
        else return c;
    }
    return NULL;
}

/* c leaves the COLD READS cache (thawed, dropped, or evicted). */
static void cold_read_drop(Store *s, StoreCold *c) {
    if (c->read == NULL) return;
    g_queue_unlink(&s->reads, &c->link);
    g_clear_pointer(&c->read, g_free);
}

/* c's entries over [span_lo, span_hi] as they are now: what the backend hands back, less what
 * left while cold (below lo, above hi, and c->gone: COLD CHANGES), checked against c's summary
 * (counts, bytes, headers, lo and hi live, each subject's count). NULL + error: the backend
 * cannot hand them back, or they do not add up. */
static StoreEntry *cold_decode(Store *s, const StoreCold *c, GError **error) {
    uint64_t span = c->span_hi - c->span_lo + 1;
    StoreEntry *e = g_new0(StoreEntry, span);
    if (!s->be->thaw(s, c, e, error)) {
        g_free(e);
        return NULL;
    }
    memset(e, 0, (c->lo - c->span_lo) * sizeof(StoreEntry));
    memset(e + (c->hi - c->span_lo) + 1, 0, (c->span_hi - c->hi) * sizeof(StoreEntry));
    for (guint k = 0; c->gone != NULL && k < c->gone->len; k++) e[g_array_index(c->gone, uint64_t, k) - c->span_lo].bytes = 0;
    uint64_t n = 0, bytes = 0, hdr = 0;
    g_autoptr(GHashTable) per = g_hash_table_new(g_direct_hash, g_direct_equal); /* subject id -> messages */
    bool ok = e[c->lo - c->span_lo].bytes != 0 && e[c->hi - c->span_lo].bytes != 0;
    for (uint64_t i = c->lo - c->span_lo; ok && i <= c->hi - c->span_lo; i++) {
        if (e[i].bytes == 0) continue;
        ok = e[i].subject_id < s->subject_by_id->len && s->subject_by_id->pdata[e[i].subject_id] != NULL;
        n++;
        bytes += e[i].bytes;
        hdr += e[i].has_hdr;
        gpointer key = GUINT_TO_POINTER(e[i].subject_id);
        g_hash_table_insert(per, key, GSIZE_TO_POINTER(GPOINTER_TO_SIZE(g_hash_table_lookup(per, key)) + 1));
    }
    guint subjects = 0;
    for (guint k = 0; ok && k < c->nsubjects; k++) {
        const StoreColdSubject *cs = &c->subjects[k];
        if (cs->sj == NULL) continue;
        subjects++;
        ok = GPOINTER_TO_SIZE(g_hash_table_lookup(per, GUINT_TO_POINTER(cs->sj->id))) == cs->msgs;
    }
    if (ok && n == c->msgs && bytes == c->bytes && hdr == c->hdr_msgs && subjects == g_hash_table_size(per)) return e;
    g_free(e);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "its entries do not add up to its summary");
    return NULL;
}

void store_index_drop_reads(Store *s) {
    while (s->reads.length > 0) cold_read_drop(s, g_queue_peek_tail(&s->reads));
}

/* COLD READS: c's entries [span_lo, span_hi] for a read, decoded once and kept (LRU,
 * reads_max). NULL if the backend cannot hand them back: then c was thawed (and its messages
 * lost, logged), c is freed, and the caller asks the loaded index again. */
const StoreEntry *store_cold_read(Store *s, StoreCold *c) {
    if (c->read != NULL) {
        g_queue_unlink(&s->reads, &c->link);
        g_queue_push_head_link(&s->reads, &c->link);
        return c->read;
    }
    StoreEntry *e = cold_decode(s, c, NULL);
    if (e == NULL) {
        store_index_thaw_from(s, c->lo); /* fails the same way: counts the loss, logs it */
        return NULL;
    }
    while (s->reads.length >= MAX(s->reads_max, 1)) cold_read_drop(s, g_queue_peek_tail(&s->reads));
    c->read = e;
    c->link.data = c;
    g_queue_push_head_link(&s->reads, &c->link);
    return e;
}

/* Each subject's first and last cold seq, from the cold segments that remain. */
static void cold_refresh(Store *s) {
    for (guint i = 0; i < s->cold->len; i++)
        for (guint k = 0; k < cold_at(s, i)->nsubjects; k++) {
            StoreSubject *sj = cold_at(s, i)->subjects[k].sj;
            if (sj == NULL) continue;
            sj->cold_first = G_MAXUINT64;
            sj->cold_last = 0;
        }
    for (guint i = 0; i < s->cold->len; i++)
        for (guint k = 0; k < cold_at(s, i)->nsubjects; k++) {
            const StoreColdSubject *cs = &cold_at(s, i)->subjects[k];
            if (cs->sj == NULL) continue;
            cs->sj->cold_first = MIN(cs->sj->cold_first, cs->first);
            cs->sj->cold_last = MAX(cs->sj->cold_last, cs->last);
        }
}

/* How a cold segment's messages leave its summary: THAWED, their entries were loaded (the
 * subject lists take them); FLOORED, a floor below them removed them; LOST, the backend could
 * not hand them back (they leave the index, and the backend keeps what holds them on disk for
 * the next open to find them again). */
typedef enum { COLD_THAWED, COLD_FLOORED, COLD_LOST } ColdExit;

static void cold_uncount(Store *s, const StoreCold *c, ColdExit how) {
    bool thawed = how == COLD_THAWED;
    s->cold_msgs -= c->msgs;
    for (guint k = 0; k < c->nsubjects; k++) {
        StoreSubject *sj = c->subjects[k].sj;
        if (sj == NULL) continue;
        g_assert_cmpuint(sj->cold, >=, c->subjects[k].msgs);
        sj->cold -= c->subjects[k].msgs;
        if (thawed) sj->thaw_add += c->subjects[k].msgs;
    }
    if (thawed) return;
    s->msgs -= c->msgs;
    s->bytes -= c->bytes;
    s->hdr_msgs -= c->hdr_msgs;
    s->be->released_cold(s, c, how == COLD_LOST);
}

/* Free the subjects of the cold segments `gone` (no longer in s->cold) that have nothing
 * left, each once (a subject may be in several), in segment order. */
static void release_subjects_of(Store *s, GPtrArray *gone) {
    g_autoptr(GPtrArray) empty = g_ptr_array_new();
    for (guint j = 0; j < gone->len; j++) {
        const StoreCold *c = gone->pdata[j];
        for (guint k = 0; k < c->nsubjects; k++) {
            StoreSubject *sj = c->subjects[k].sj;
            if (sj == NULL || sj->cold > 0 || sj->head < sj->len || sj->thaw_add != 0) continue;
            sj->thaw_add = 1; /* marked: listed once */
            g_ptr_array_add(empty, sj);
        }
    }
    for (guint t = 0; t < empty->len; t++) {
        StoreSubject *sj = empty->pdata[t];
        sj->thaw_add = 0;
        store_subject_release(s, sj);
    }
}

gboolean store_index_can_freeze(Store *s, uint64_t lo) {
    return s->be->thaw != NULL && loaded_msgs(s) == 0 && lo > s->last_seq;
}

void store_index_freeze(Store *s, StoreCold *c) {
    g_assert(store_index_can_freeze(s, c->lo) && c->msgs > 0 && c->lo <= c->hi);
    g_ptr_array_add(s->cold, c);
    s->msgs += c->msgs;
    s->bytes += c->bytes;
    s->hdr_msgs += c->hdr_msgs;
    s->cold_msgs += c->msgs;
    for (guint k = 0; k < c->nsubjects; k++) {
        StoreSubject *sj = c->subjects[k].sj;
        if (sj->cold == 0) sj->cold_first = c->subjects[k].first;
        sj->cold += c->subjects[k].msgs;
        sj->cold_last = c->subjects[k].last;
    }
    s->last_seq = c->hi;
    s->last_ts_ns = c->hi_ts_ns;
    g_array_set_size(s->entries, 0);
    s->base = s->last_seq + 1;
    s->first_seq = cold_at(s, 0)->lo;
}

gboolean store_index_refreeze(Store *s, StoreCold *c) {
    uint64_t loaded = loaded_msgs(s), n = 0, bytes = 0, hdr = 0;
    bool ok = loaded >= c->msgs && c->msgs > 0 && c->lo >= s->base && c->hi <= s->last_seq &&
              (s->cold->len == 0 || cold_at(s, s->cold->len - 1)->hi < c->lo);
    for (uint64_t q = s->base; ok && q <= c->hi; q++) { /* the loaded entries it replaces */
        const StoreEntry *e = entry_at(s, q);
        if (e->bytes == 0) continue;
        ok = n > 0 || q == c->lo;
        n++;
        bytes += e->bytes;
        hdr += e->has_hdr;
    }
    ok = ok && n == c->msgs && bytes == c->bytes && hdr == c->hdr_msgs && entry_at(s, c->hi)->bytes != 0;
    for (guint k = 0; ok && k < c->nsubjects; k++) { /* each subject's first seqs are the segment's */
        const StoreColdSubject *cs = &c->subjects[k];
        const StoreSubject *sj = cs->sj;
        ok = cs->msgs > 0 && sj->len - sj->head >= cs->msgs && sj->seqs[sj->head] == cs->first &&
             sj->seqs[sj->head + cs->msgs - 1] == cs->last &&
             (sj->head + cs->msgs == sj->len || sj->seqs[sj->head + cs->msgs] > c->hi);
    }
    if (!ok) {
        g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(store_cold_free);
        g_ptr_array_add(gone, c);
        release_subjects_of(s, gone); /* a subject only its summary named was made for nothing */
        return FALSE;
    }
    for (guint k = 0; k < c->nsubjects; k++) {
        const StoreColdSubject *cs = &c->subjects[k];
        StoreSubject *sj = cs->sj;
        sj->head += cs->msgs; /* (the list keeps its allocation for the next segment: store_index_shrink) */
        if (sj->cold == 0) sj->cold_first = cs->first;
        sj->cold += cs->msgs;
        sj->cold_last = cs->last;
    }
    g_ptr_array_add(s->cold, c);
    s->cold_msgs += c->msgs;
    if (loaded == c->msgs) {
        store_index_trim(s); /* nothing loaded is live: the array empties */
    } else { /* the entries above c move down; the allocation stays for the next segment's */
        g_array_remove_range(s->entries, 0, (guint)(c->hi + 1 - s->base));
        s->base = c->hi + 1;
    }
    store_index_first_fix(s);
    return TRUE;
}

void store_index_thaw_from(Store *s, uint64_t seq) {
    guint n = s->cold->len, i = n;
    while (i > 0 && cold_at(s, i - 1)->hi >= seq) i--;
    if (i == n) return;
    /* the new entries: [lo, base) from the thawed segments (zeros: holes), then the old ones */
    uint64_t lo = cold_at(s, i)->lo, front = s->base - lo;
    guint old_len = s->entries->len;
    GArray *ne = g_array_sized_new(FALSE, TRUE, sizeof(StoreEntry), (guint)(front + old_len));
    g_array_set_size(ne, (guint)(front + old_len));
    if (old_len > 0) memcpy(ne->data + front * sizeof(StoreEntry), s->entries->data, old_len * sizeof(StoreEntry));
    g_autoptr(GPtrArray) touched = g_ptr_array_new();
    for (guint j = i; j < n; j++) {
        StoreCold *c = cold_at(s, j);
        StoreEntry *out = &g_array_index(ne, StoreEntry, c->lo - lo);
        g_autoptr(GError) err = NULL;
        const StoreEntry *from = c->read != NULL ? c->read : cold_decode(s, c, &err); /* COLD READS, if kept */
        bool ok = from != NULL;
        if (ok) memcpy(out, from + (c->lo - c->span_lo), (c->hi - c->lo + 1) * sizeof(StoreEntry));
        if (from != c->read) g_free((StoreEntry *)from);
        cold_read_drop(s, c);
        if (!ok) {
            s->damaged += c->msgs;
            env_log(s->env, ENV_LOG_ERROR, "store %s: cannot load seq %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                    " (%s): %" G_GUINT64_FORMAT " message(s) lost until the next open", s->name, c->lo, c->hi,
                    err ? err->message : "?", c->msgs);
        }
        for (guint k = 0; ok && k < c->nsubjects; k++)
            if (c->subjects[k].sj != NULL && c->subjects[k].sj->thaw_add == 0) g_ptr_array_add(touched, c->subjects[k].sj);
        cold_uncount(s, c, ok ? COLD_THAWED : COLD_LOST);
    }
    /* holes take the timestamp of the next message, as store_index_add_to gives them */
    int64_t next_ts = old_len > 0 ? g_array_index(s->entries, StoreEntry, 0).ts_ns : s->last_ts_ns;
    for (uint64_t k = front; k-- > 0;) {
        StoreEntry *e = &g_array_index(ne, StoreEntry, k);
        if (e->bytes == 0) e->ts_ns = next_ts;
        else next_ts = e->ts_ns;
    }
    /* each touched subject's list: room for its thawed seqs in front of its loaded ones */
    for (guint t = 0; t < touched->len; t++) {
        StoreSubject *sj = touched->pdata[t];
        size_t keep = sj->len - sj->head, total = sj->thaw_add + keep;
        uint64_t *seqs = g_new(uint64_t, total);
        if (keep > 0) memcpy(seqs + sj->thaw_add, sj->seqs + sj->head, keep * sizeof(uint64_t));
        g_free(sj->seqs);
        sj->seqs = seqs;
        sj->head = 0;
        sj->len = 0; /* the fill cursor below */
        sj->cap = total;
    }
    for (uint64_t k = 0; k < front; k++) {
        const StoreEntry *e = &g_array_index(ne, StoreEntry, k);
        if (e->bytes == 0) continue;
        StoreSubject *sj = s->subject_by_id->pdata[e->subject_id];
        g_assert(sj->len < sj->thaw_add);
        sj->seqs[sj->len++] = lo + k;
    }
    for (guint t = 0; t < touched->len; t++) {
        StoreSubject *sj = touched->pdata[t];
        g_assert_cmpuint(sj->len, ==, sj->thaw_add);
        sj->len = sj->cap;
        sj->thaw_add = 0;
    }
    g_array_free(s->entries, TRUE);
    s->entries = ne;
    s->base = lo;
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(store_cold_free);
    for (guint j = i; j < n; j++) g_ptr_array_add(gone, cold_at(s, j));
    g_ptr_array_set_free_func(s->cold, NULL);
    g_ptr_array_set_size(s->cold, i);
    g_ptr_array_set_free_func(s->cold, store_cold_free);
    cold_refresh(s);
    release_subjects_of(s, gone); /* the subjects of lost segments may have nothing left */
    store_index_first_fix(s);
    store_index_trim(s);
}

/* ==========================================================================================
 * COLD CHANGES
 *
 * WHY
 *   A change to an old message used to thaw every cold segment from its seq up: a limit
 *   deleting the oldest message (max_msgs, max_bytes), a KV put replacing an old revision (a
 *   purge of its subject that keeps the history), a delete by seq, a floor inside a segment
 *   (max_age, a purge up to a seq). The first such change after a restart loaded most of the
 *   stream, the cost the open no longer paid. nats-server loads each message block on its own.
 *
 * HOW IT WORKS
 *   A cold segment c changes where it is, cold. The change reads c's entries the way a read
 *   does (store_cold_read, one segment decoded into its COLD READS array), takes the message
 *   out of that array (bytes = 0) and out of c's summary and the counts above it:
 *     - c's msgs, bytes, messages with headers; the store's totals; the subject's cold count;
 *     - the subject's share of c (its count; its first or last, found in the array by a walk
 *       from the removed seq to its next or previous message of that subject); at zero, the
 *       share lets go of the subject (sj = NULL), which goes if nothing else holds it;
 *     - c's lo or hi if the removed seq was one of them (the next or previous live seq in the
 *       array), else the seq joins c->gone: removed from the middle;
 *     - the subject's first and last cold seq, if the removed seq was one of them: c's share
 *       if any is left, else the nearest segment above (or below) that holds the subject;
 *     - c itself if that was its last message (it leaves s->cold; its file stays the
 *       backend's business, as for a loaded segment whose last message goes).
 *   A floor inside c (store_cold_floor, after dropping the whole segments below it) does the
 *   same for every live seq of c below the floor in one walk, then finds the new lo and each
 *   cut subject's new first in a second one: two walks of c, whatever the number removed.
 *   A filtered purge (a KV put over its history, max_msgs_per_subject) collects the matching
 *   cold seqs from the segments that hold a matching subject, oldest first, and stops when
 *   it has as many as it will delete (store_cold_matching): one revision to drop reads one
 *   segment. Every other segment, cold or loaded, is untouched.
 *
 * WHY IT STAYS TRUE: WHAT THE BACKEND'S THAW HANDS BACK
 *   The backend still describes c as it was when it went cold (the file store: the very index
 *   file the open verified, its CRC in c->check; nothing is rewritten). A thaw or a read asks
 *   the backend for the entries over c's SPAN [span_lo, span_hi], the lo and hi it had when it
 *   went cold, and takes away what left since: everything below lo, above hi, and the seqs in
 *   c->gone (cold_decode). It then checks the result against c's summary as it is now:
 *   count, bytes, headers, lo and hi live, each subject's count. So lo, hi and gone are the
 *   whole memory of what changed; a floor costs nothing in gone (lo moves), and a limit
 *   taking the oldest message one at a time costs nothing either.
 *
 * AND AFTER A CRASH OR A RESTART
 *   Every change is also recorded durably as before: store_remove writes a DELETE tombstone,
 *   a floor a FLOOR record, into the active segment, flushed with the next flush. The next open
 *   makes c cold from the same index file (the summary of c when it was written) and then
 *   replays the tombstones of the later segments, in log order, each through the same cold
 *   change: lo, hi, gone and the summary come out as they were. A tombstone lost in a crash
 *   (never flushed) brings its message back, exactly as for a loaded message. An index file
 *   written later for the same segment (COLD AGAIN after a thaw, a checkpoint) lists only its
 *   live messages; the tombstones then find nothing to remove, as before.
 *
 * COSTS
 *   A change decodes its segment once (kept in the COLD READS list: the next change to the same
 *   segment, the usual case for limits, decodes nothing); a removal in the middle keeps 8 bytes
 *   in c->gone until the segment thaws or leaves. A subject's new cold first or last, when c
 *   has none of it left, walks the subject lists of the segments above or below until one
 *   holds it.
 *
 * LIMITATIONS
 *   - A wildcard filter from a seq inside a subject's cold stretch, and a subject looked up
 *     in a segment of more than LIMIT_STORE_SUBJECTS_SCAN_COUNT subjects, still thaw from
 *     their seq (COLD SEGMENTS, LIMITATIONS).
 *   - c->gone grows with removals from the middle of a cold segment (a purge of one subject
 *     out of many): one seq each, bounded by the segment's messages.
 * ========================================================================================== */

/* c's position in s->cold. */
static guint cold_index(const Store *s, const StoreCold *c) {
    guint lo = 0, hi = s->cold->len;
    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        if (cold_at(s, mid)->lo < c->lo) lo = mid + 1;
        else hi = mid;
    }
    g_assert(lo < s->cold->len && cold_at(s, lo) == c);
    return lo;
}

/* sj's share of c, or NULL. */
static StoreColdSubject *cold_share(StoreCold *c, const StoreSubject *sj) {
    for (guint k = 0; k < c->nsubjects; k++)
        if (c->subjects[k].sj == sj) return &c->subjects[k];
    return NULL;
}

/* Live entry e of c (sj's share cs) leaves c's summary and the counts above it. */
static void cold_count_out(Store *s, StoreCold *c, StoreColdSubject *cs, const StoreEntry *e) {
    g_assert(cs->msgs > 0 && cs->sj->cold > 0 && c->msgs > 0);
    c->msgs--;
    c->bytes -= e->bytes;
    c->hdr_msgs -= e->has_hdr;
    s->msgs--;
    s->bytes -= e->bytes;
    s->hdr_msgs -= e->has_hdr;
    s->cold_msgs--;
    cs->msgs--;
    cs->sj->cold--;
}

/* sj's first and last cold seq after its message q of segment i left (sj->cold > 0). */
static void cold_subject_bounds(Store *s, StoreSubject *sj, guint i, uint64_t q) {
    if (q != sj->cold_first && q != sj->cold_last) return;
    const StoreColdSubject *cs = cold_share(cold_at(s, i), sj);
    if (q == sj->cold_first) {
        if (cs != NULL) sj->cold_first = cs->first;
        for (guint j = i + 1; cs == NULL && j < s->cold->len; j++)
            if ((cs = cold_share(cold_at(s, j), sj)) != NULL) sj->cold_first = cs->first;
    } else if (q == sj->cold_last) {
        if (cs != NULL) sj->cold_last = cs->last;
        for (guint j = i; cs == NULL && j-- > 0;)
            if ((cs = cold_share(cold_at(s, j), sj)) != NULL) sj->cold_last = cs->last;
    }
    g_assert(cs != NULL);
}

int store_cold_del(Store *s, StoreCold *c, uint64_t q, StoreEntry *out) {
    if (store_cold_read(s, c) == NULL) return -1;
    StoreEntry *read = c->read, *e = &read[q - c->span_lo];
    if (e->bytes == 0) return 0;
    *out = *e;
    StoreSubject *sj = s->subject_by_id->pdata[e->subject_id];
    StoreColdSubject *cs = cold_share(c, sj);
    cold_count_out(s, c, cs, e);
    e->bytes = 0;
    guint i = cold_index(s, c);
    if (c->msgs > 0) {
        if (q == c->lo) {
            while (read[c->lo - c->span_lo].bytes == 0) c->lo++;
            c->lo_ts_ns = read[c->lo - c->span_lo].ts_ns;
        } else if (q == c->hi) {
            while (read[c->hi - c->span_lo].bytes == 0) c->hi--;
            c->hi_ts_ns = read[c->hi - c->span_lo].ts_ns;
        } else {
            if (c->gone == NULL) c->gone = g_array_new(FALSE, FALSE, sizeof(uint64_t));
            g_array_append_val(c->gone, q);
        }
    }
    if (cs->msgs == 0) {
        cs->sj = NULL;
    } else if (q == cs->first) {
        do cs->first++; while (read[cs->first - c->span_lo].bytes == 0 || read[cs->first - c->span_lo].subject_id != sj->id);
    } else if (q == cs->last) {
        do cs->last--; while (read[cs->last - c->span_lo].bytes == 0 || read[cs->last - c->span_lo].subject_id != sj->id);
    }
    if (sj->cold > 0) cold_subject_bounds(s, sj, i, q);
    if (c->msgs == 0) { /* its last message: it leaves */
        cold_read_drop(s, c);
        g_ptr_array_remove_index(s->cold, i); /* frees c */
    }
    store_subject_release(s, sj);
    store_index_first_fix(s);
    store_index_trim(s);
    return 1;
}

/* A floor inside the oldest cold segment c (c->lo < floor <= c->hi): its live seqs below the
 * floor leave (each through be->released), c stays cold (COLD CHANGES). FALSE: c could not be
 * read (it was thawed: the loaded floor does the rest). */
static bool cold_cut(Store *s, StoreCold *c, uint64_t floor, uint64_t *dropped) {
    if (store_cold_read(s, c) == NULL) return false;
    StoreEntry *read = c->read;
    g_autoptr(GHashTable) share = g_hash_table_new(g_direct_hash, g_direct_equal); /* subject id -> its share */
    for (guint k = 0; k < c->nsubjects; k++)
        if (c->subjects[k].sj != NULL) g_hash_table_insert(share, GUINT_TO_POINTER(c->subjects[k].sj->id), &c->subjects[k]);
    g_autoptr(GPtrArray) emptied = g_ptr_array_new();
    guint cut = 0; /* shares that keep messages but lost their first */
    for (uint64_t q = c->lo; q < floor; q++) {
        StoreEntry *e = &read[q - c->span_lo];
        if (e->bytes == 0) continue;
        StoreColdSubject *cs = g_hash_table_lookup(share, GUINT_TO_POINTER(e->subject_id));
        StoreEntry copy = *e;
        if (cs->first == q) cut++;
        cold_count_out(s, c, cs, e);
        e->bytes = 0;
        if (cs->msgs == 0) {
            cut--;
            g_ptr_array_add(emptied, cs->sj);
            g_hash_table_remove(share, GUINT_TO_POINTER(e->subject_id));
            cs->sj = NULL;
        }
        s->be->released(s, q, &copy);
        (*dropped)++;
    }
    g_assert(c->msgs > 0); /* its hi is live, at or above the floor */
    c->lo = floor;
    while (read[c->lo - c->span_lo].bytes == 0) c->lo++;
    c->lo_ts_ns = read[c->lo - c->span_lo].ts_ns;
    for (uint64_t q = c->lo; cut > 0 && q <= c->hi; q++) { /* the cut shares' new first */
        const StoreEntry *e = &read[q - c->span_lo];
        StoreColdSubject *cs = e->bytes ? g_hash_table_lookup(share, GUINT_TO_POINTER(e->subject_id)) : NULL;
        if (cs == NULL || cs->first >= floor) continue;
        cs->first = q;
        cut--;
    }
    g_assert_cmpuint(cut, ==, 0);
    if (c->gone != NULL) { /* what lo passed is gone anyway */
        guint w = 0;
        for (guint k = 0; k < c->gone->len; k++)
            if (g_array_index(c->gone, uint64_t, k) > c->lo) g_array_index(c->gone, uint64_t, w++) = g_array_index(c->gone, uint64_t, k);
        g_array_set_size(c->gone, w);
    }
    cold_refresh(s);
    for (guint t = 0; t < emptied->len; t++) store_subject_release(s, emptied->pdata[t]);
    return true;
}

/* A floor: cold segments wholly below it leave by their summaries; the one it cuts through
 * stays cold, cut (COLD CHANGES). Returns how many messages left. */
uint64_t store_cold_floor(Store *s, uint64_t floor) {
    guint n = 0;
    uint64_t dropped = 0;
    while (n < s->cold->len && cold_at(s, n)->hi < floor) n++;
    if (n == 0) {
        if (s->cold->len > 0 && cold_at(s, 0)->lo < floor) cold_cut(s, cold_at(s, 0), floor, &dropped);
        store_index_first_fix(s);
        return dropped;
    }
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(store_cold_free);
    for (guint j = 0; j < n; j++) {
        StoreCold *c = cold_at(s, j);
        dropped += c->msgs;
        cold_read_drop(s, c);
        cold_uncount(s, c, COLD_FLOORED);
        g_ptr_array_add(gone, c);
    }
    g_ptr_array_set_free_func(s->cold, NULL);
    g_ptr_array_remove_range(s->cold, 0, n);
    g_ptr_array_set_free_func(s->cold, store_cold_free);
    cold_refresh(s);
    release_subjects_of(s, gone);
    store_index_first_fix(s);
    if (s->cold->len > 0 && cold_at(s, 0)->lo < floor) cold_cut(s, cold_at(s, 0), floor, &dropped);
    store_index_first_fix(s);
    return dropped;
}

bool store_cold_matching(Store *s, GHashTable *match, uint64_t top, uint64_t max, GArray *seqs) {
    uint64_t from = G_MAXUINT64; /* the oldest cold message of a matching subject */
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, match);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (((StoreSubject *)k)->cold > 0) from = MIN(from, ((StoreSubject *)k)->cold_first);
    guint i = 0;
    while (i < s->cold->len && cold_at(s, i)->hi < from) i++;
    for (; i < s->cold->len && cold_at(s, i)->lo <= top; i++) {
        StoreCold *c = cold_at(s, i);
        uint64_t lo = G_MAXUINT64, hi = 0; /* the matching shares' stretch */
        for (guint j = 0; j < c->nsubjects; j++) {
            const StoreColdSubject *cs = &c->subjects[j];
            if (cs->sj == NULL || !g_hash_table_contains(match, cs->sj)) continue;
            lo = MIN(lo, cs->first);
            hi = MAX(hi, cs->last);
        }
        if (lo > hi || lo > top) continue;
        const StoreEntry *read = store_cold_read(s, c);
        if (read == NULL) return false;
        for (uint64_t q = lo; q <= MIN(hi, top); q++) {
            const StoreEntry *e = &read[q - c->span_lo];
            if (e->bytes == 0 || !g_hash_table_contains(match, s->subject_by_id->pdata[e->subject_id])) continue;
            g_array_append_val(seqs, q);
            if (max > 0 && seqs->len >= max) return true;
        }
    }
    return true;
}

/* COLD READS for one subject whose cold stretch `from` falls inside (subject_straddles): the
 * next of its seqs >= from (count = FALSE) or how many there are (count = TRUE), from the
 * cold segments' summaries and the read array of the one segment `from` cuts, plus its loaded
 * list. FALSE: not answered (a segment with too many subjects to look sj up in, or a read that
 * failed and thawed: sj may be gone); the caller thaws from `from` and asks the loaded index. */
bool store_cold_subject_from(Store *s, StoreSubject *sj, uint64_t from, bool count, uint64_t *out) {
    uint64_t n = 0;
    for (guint i = 0; i < s->cold->len; i++) {
        StoreCold *c = cold_at(s, i);
        if (c->hi < from) continue;
        if (c->nsubjects > LIMIT_STORE_SUBJECTS_SCAN_COUNT) return false;
        const StoreColdSubject *cs = NULL;
        for (guint k = 0; k < c->nsubjects && cs == NULL; k++)
            if (c->subjects[k].sj == sj) cs = &c->subjects[k];
        if (cs == NULL || cs->last < from) continue;
        if (cs->first >= from) {
            if (!count) {
                *out = cs->first;
                return true;
            }
            n += cs->msgs;
            continue;
        }
        uint64_t first = cs->first, last = cs->last;
        const StoreEntry *read = store_cold_read(s, c);
        if (read == NULL) return false;
        for (uint64_t q = MAX(from, first); q <= last; q++) {
            const StoreEntry *e = &read[q - c->span_lo];
            if (e->bytes == 0 || e->subject_id != sj->id) continue;
            if (!count) {
                *out = q; /* (found: its last is >= from) */
                return true;
            }
            n++;
        }
    }
    *out = count ? n + (sj->len - store_subject_lower_bound(sj, from)) : store_subject_next_from(sj, from);
    return true;
}

void store_cold_check(Store *s, uint64_t *bytes_out, uint64_t *hdr_out) {
    uint64_t msgs = 0, bytes = 0, hdr_msgs = 0;
    g_autoptr(GHashTable) cold_of = g_hash_table_new(g_direct_hash, g_direct_equal); /* sj -> cold msgs */
    g_autoptr(GHashTable) first_of = g_hash_table_new(g_direct_hash, g_direct_equal); /* sj -> its first share's first */
    for (guint i = 0; i < s->cold->len; i++) {
        const StoreCold *c = cold_at(s, i);
        g_assert_cmpuint(c->lo, <=, c->hi);
        g_assert(c->span_lo <= c->lo && c->hi <= c->span_hi);
        g_assert_cmpuint(c->hi, <, s->base);
        g_assert_cmpuint(c->msgs, >, 0);
        g_assert_cmpuint(c->msgs, <=, c->hi - c->lo + 1);
        if (i > 0) g_assert_cmpuint(cold_at(s, i - 1)->hi, <, c->lo);
        else g_assert_cmpuint(s->first_seq, ==, c->lo);
        uint64_t in_subjects = 0;
        for (guint k = 0; k < c->nsubjects; k++) {
            const StoreColdSubject *cs = &c->subjects[k];
            g_assert((cs->sj == NULL) == (cs->msgs == 0));
            if (cs->sj == NULL) continue;
            g_assert(s->subject_by_id->pdata[cs->sj->id] == cs->sj);
            g_assert(cs->first >= c->lo && cs->last <= c->hi && cs->first <= cs->last);
            g_assert(cs->sj->cold_first <= cs->first && cs->sj->cold_last >= cs->last);
            if (!g_hash_table_contains(first_of, cs->sj)) {
                g_assert_cmpuint(cs->sj->cold_first, ==, cs->first); /* its first share: exact */
                g_hash_table_insert(first_of, cs->sj, NULL);
            }
            gpointer v = g_hash_table_lookup(cold_of, cs->sj);
            g_hash_table_insert(cold_of, cs->sj, GSIZE_TO_POINTER(GPOINTER_TO_SIZE(v) + cs->msgs));
            in_subjects += cs->msgs;
        }
        g_assert_cmpuint(in_subjects, ==, c->msgs);
        if (c->read != NULL) g_assert(c->read[c->lo - c->span_lo].bytes != 0 && c->read[c->hi - c->span_lo].bytes != 0);
        msgs += c->msgs;
        bytes += c->bytes;
        hdr_msgs += c->hdr_msgs;
    }
    g_assert_cmpuint(msgs, ==, s->cold_msgs);
    guint reads = 0; /* COLD READS: the LRU holds exactly the cold segments with entries kept */
    for (guint i = 0; i < s->cold->len; i++) reads += cold_at(s, i)->read != NULL;
    g_assert_cmpuint(reads, ==, s->reads.length);
    g_assert_cmpuint(reads, <=, MAX(s->reads_max, 1));
    for (GList *l = s->reads.head; l != NULL; l = l->next) g_assert_nonnull(((StoreCold *)l->data)->read);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const StoreSubject *sj = v;
        g_assert_cmpuint(sj->cold, ==, GPOINTER_TO_SIZE(g_hash_table_lookup(cold_of, sj)));
    }
    *bytes_out += bytes;
    *hdr_out += hdr_msgs;
}
