/* store_index.c — the generic store: the in-memory index every store shares, and store.h's
 * functions written once over it.
 *
 * WHAT IT IS
 *   store.h's functions, written once: sequences, subjects, filters, purge, compact, counts.
 *   They keep the INDEX and call a backend (StoreBackend, store_index.h) only to keep, read
 *   and forget the records themselves. The memory backend (store_mem.c) keeps each record as
 *   a refcounted StoreMsg; the file backend (store_file.c) keeps them in segment files.
 *   "A file store is a memory store's index plus a log on disk."
 *
 * THE INDEX
 *   entries[]   one StoreEntry per seq in [base, last_seq]: timestamp, subject id, accounted
 *               bytes (0 = deleted), locator. Load by seq is one array access: O(1).
 *               Deleted seqs stay as holes until the front passes them; the front is cut off
 *               when it is more than half the array (amortized O(1) per delete).
 *   subjects    subject -> StoreSubject: its live seqs, strictly increasing, in a window
 *               [head, len) of an array (deleting the oldest is head++). Per-subject count,
 *               first and last are O(1); "next at or after seq" is a binary search.
 *   cold        StoreCold summaries of the oldest segments, below `base`, whose entries are
 *               not loaded yet (a file store reopened from its index files): see COLD
 *               SEGMENTS. Each subject also counts its cold messages and their first/last.
 *
 * COSTS
 *   append O(1) amortized; load O(1); delete O(log k + k) worst case for a subject with k
 *   messages (O(1) for its oldest, the usual case: limits drop old data); count for a
 *   literal subject O(log k); a wildcard filter walks the matching subjects (few subjects)
 *   or the entries from the start seq (many subjects), see store_next_seq.
 *   Memory: 24 bytes per loaded seq + 8 per loaded live message + the records (memory
 *   backend); a cold segment costs its summary (~100 bytes + 32 per subject in it).
 *
 * INVARIANTS: see store.h; store_check_invariants asserts them.
 */
#include "store_index.h"

#include <string.h>

#include "limits.h"

/* --- messages --- */

StoreMsg *store_msg_new(uint64_t seq, int64_t ts_ns, const char *subject, size_t subject_len,
                        const void *hdr, size_t hdr_len, const void *data, size_t data_len) {
    /* One allocation: the struct, then subject + NUL, then headers, then payload. */
    StoreMsg *m = g_malloc(sizeof(StoreMsg) + subject_len + 1 + hdr_len + data_len);
    uint8_t *p = (uint8_t *)(m + 1);
    m->refs = 1;
    m->seq = seq;
    m->ts_ns = ts_ns;
    memcpy(p, subject, subject_len);
    p[subject_len] = '\0';
    m->subject = (const char *)p;
    m->subject_len = subject_len;
    p += subject_len + 1;
    if (hdr_len) memcpy(p, hdr, hdr_len);
    m->hdr = hdr_len ? p : NULL;
    m->hdr_len = hdr_len;
    p += hdr_len;
    if (data_len) memcpy(p, data, data_len);
    m->data = p;
    m->data_len = data_len;
    return m;
}

StoreMsg *store_msg_ref(StoreMsg *m) {
    g_assert(m->refs > 0);
    m->refs++;
    return m;
}

void store_msg_unref(StoreMsg *m) {
    if (m == NULL) return;
    g_assert(m->refs > 0);
    if (--m->refs == 0) g_free(m);
}

/* --- subject filters --- */

bool store_filter_matches(const char *f, const char *s) {
    if (f == NULL || *f == '\0') return true;
    for (;;) {
        const char *fe = strchrnul(f, '.'), *se = strchrnul(s, '.');
        size_t fl = (size_t)(fe - f), sl = (size_t)(se - s);
        if (sl == 0) return false;
        if (fl == 1 && *f == '>') return true;
        if (!(fl == 1 && *f == '*') && (fl != sl || memcmp(f, s, fl) != 0)) return false;
        if (*fe == '\0' || *se == '\0') return *fe == '\0' && *se == '\0';
        f = fe + 1;
        s = se + 1;
    }
}

static bool filter_is_all(const char *f) { return f == NULL || *f == '\0' || strcmp(f, ">") == 0; }

static bool filter_is_literal(const char *f) {
    for (const char *t = f;;) {
        const char *e = strchrnul(t, '.');
        if (e - t == 1 && (*t == '*' || *t == '>')) return false;
        if (*e == '\0') return true;
        t = e + 1;
    }
}

/* --- per-subject seq lists --- */

static size_t subj_lower_bound(const StoreSubject *sj, uint64_t seq) {
    size_t lo = sj->head, hi = sj->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sj->seqs[mid] < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static StoreSubject *subject_get(Store *s, const char *subject, size_t len, bool create) {
    /* Runs of one subject are the common case (recovery replays the log in order; publishers
     * repeat subjects): try the last subject found before hashing. Recovery of 1M records on
     * one subject: ~5% of the open (the hash, the copy to NUL-terminate, the strcmp). */
    StoreSubject *last = s->last_subject;
    if (last != NULL && strncmp(last->subject, subject, len) == 0 && last->subject[len] == '\0') return last;
    char stack[256];
    const char *key = subject;
    g_autofree char *heap = NULL;
    if (subject[len] != '\0') { /* not NUL-terminated where the caller's length ends */
        if (len < sizeof stack) {
            memcpy(stack, subject, len);
            stack[len] = '\0';
            key = stack;
        } else {
            key = heap = g_strndup(subject, len);
        }
    }
    StoreSubject *sj = g_hash_table_lookup(s->subjects, key);
    if (sj) s->last_subject = sj;
    if (sj || !create) return sj;
    sj = g_malloc0(sizeof(StoreSubject));
    sj->subject = g_strdup(key);
    if (s->free_ids->len > 0) {
        sj->id = g_array_index(s->free_ids, uint32_t, s->free_ids->len - 1);
        g_array_set_size(s->free_ids, s->free_ids->len - 1);
        s->subject_by_id->pdata[sj->id] = sj;
    } else {
        sj->id = s->subject_by_id->len;
        g_ptr_array_add(s->subject_by_id, sj);
    }
    g_hash_table_insert(s->subjects, sj->subject, sj);
    s->last_subject = sj;
    return sj;
}

static void subject_free(gpointer p) {
    StoreSubject *sj = p;
    g_free(sj->seqs);
    g_free(sj->subject);
    g_free(sj);
}

static void subject_push(StoreSubject *sj, uint64_t seq) {
    if (sj->len == sj->cap) {
        if (sj->head > 0) { /* slide the window down before growing */
            memmove(sj->seqs, sj->seqs + sj->head, (sj->len - sj->head) * sizeof(uint64_t));
            sj->len -= sj->head;
            sj->head = 0;
        }
        if (sj->len == sj->cap) {
            sj->cap = sj->cap ? sj->cap * 2 : 4;
            sj->seqs = g_realloc(sj->seqs, sj->cap * sizeof(uint64_t));
        }
    }
    g_assert(sj->len == sj->head || sj->seqs[sj->len - 1] < seq);
    sj->seqs[sj->len++] = seq;
}

/* A subject with no live message left, loaded or cold, goes (its id is reused). */
static void subject_release(Store *s, StoreSubject *sj) {
    if (sj->head < sj->len || sj->cold > 0) return;
    s->subject_by_id->pdata[sj->id] = NULL;
    if (s->last_subject == sj) s->last_subject = NULL;
    g_array_append_val(s->free_ids, sj->id);
    g_hash_table_remove(s->subjects, sj->subject); /* frees sj */
}

static void subject_drop(Store *s, uint32_t id, uint64_t seq) {
    StoreSubject *sj = s->subject_by_id->pdata[id];
    g_assert(sj != NULL);
    size_t i = subj_lower_bound(sj, seq);
    g_assert(i < sj->len && sj->seqs[i] == seq);
    if (i == sj->head) sj->head++;
    else if (i == sj->len - 1) sj->len--;
    else {
        memmove(sj->seqs + i, sj->seqs + i + 1, (sj->len - i - 1) * sizeof(uint64_t));
        sj->len--;
    }
    subject_release(s, sj);
}

static size_t subject_msgs(const StoreSubject *sj) { return sj->len - sj->head + sj->cold; }
static uint64_t subject_first(const StoreSubject *sj) { return sj->cold ? sj->cold_first : sj->seqs[sj->head]; }
static uint64_t subject_last(const StoreSubject *sj) { return sj->len > sj->head ? sj->seqs[sj->len - 1] : sj->cold_last; }

/* Is the answer for sj from `from` on inside its cold messages (some below from, some not)?
 * Then the cold segments from `from` on must be thawed first; otherwise the summary answers. */
static bool subject_straddles(const StoreSubject *sj, uint64_t from) {
    return sj->cold > 0 && from > sj->cold_first && from <= sj->cold_last;
}

/* Messages of sj with seq >= from, and the first of them (0 = none); sj must not straddle. */
static uint64_t subject_count_from(const StoreSubject *sj, uint64_t from) {
    return sj->len - subj_lower_bound(sj, from) + (sj->cold > 0 && from <= sj->cold_first ? sj->cold : 0);
}
static uint64_t subject_next_from(const StoreSubject *sj, uint64_t from) {
    if (sj->cold > 0 && from <= sj->cold_first) return sj->cold_first;
    size_t i = subj_lower_bound(sj, from);
    return i < sj->len ? sj->seqs[i] : 0;
}

/* A live entry leaves the index: its subject list and the counts (callers clear e->bytes). */
static void entry_gone(Store *s, const StoreEntry *e, uint64_t seq) {
    subject_drop(s, e->subject_id, seq);
    s->msgs--;
    s->bytes -= e->bytes;
    s->hdr_msgs -= e->has_hdr;
}

/* --- the index --- */

static StoreCold *cold_at(const Store *s, guint i) { return s->cold->pdata[i]; }
static uint64_t loaded_msgs(const Store *s) { return s->msgs - s->cold_msgs; }
/* The loaded entry of seq, base <= seq <= last_seq (live or not). */
static StoreEntry *entry_at(Store *s, uint64_t seq) { return &g_array_index(s->entries, StoreEntry, seq - s->base); }

static void cold_free(gpointer p) {
    StoreCold *c = p;
    g_free(c->subjects);
    g_free(c->read);
    g_free(c);
}

void store_index_init(Store *s, Env *env, const char *name, const StoreBackend *be) {
    s->env = env;
    s->name = g_strdup(name ? name : "?");
    s->be = be;
    s->entries = g_array_new(FALSE, FALSE, sizeof(StoreEntry));
    s->cold = g_ptr_array_new_with_free_func(cold_free);
    g_queue_init(&s->reads);
    s->reads_max = LIMIT_STORE_COLD_READ_SEGMENTS;
    s->base = 1;
    s->first_seq = 1;
    s->last_seq = 0;
    s->subjects = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, subject_free);
    s->subject_by_id = g_ptr_array_new();
    s->free_ids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
}

void store_index_clear(Store *s) {
    g_queue_init(&s->reads); /* its links live in the cold segments, freed with them */
    g_array_free(s->entries, TRUE);
    g_ptr_array_free(s->cold, TRUE);
    g_hash_table_destroy(s->subjects);
    g_ptr_array_free(s->subject_by_id, TRUE);
    s->last_subject = NULL;
    g_array_free(s->free_ids, TRUE);
    g_free(s->name);
}

/* first_seq after a change at the front: the oldest cold message, else the first live entry. */
static void first_seq_fix(Store *s) {
    if (s->cold->len > 0) s->first_seq = cold_at(s, 0)->lo;
    else if (s->msgs == 0) s->first_seq = s->last_seq + 1;
    else {
        s->first_seq = MAX(s->first_seq, s->base);
        while (s->first_seq <= s->last_seq && entry_at(s, s->first_seq)->bytes == 0) s->first_seq++;
    }
}

/* When nothing loaded is live, or the dead front grows past half the array, cut it off. */
static void index_trim(Store *s) {
    if (loaded_msgs(s) == 0) {
        g_array_set_size(s->entries, 0);
        s->base = s->last_seq + 1;
        s->first_seq = s->cold->len > 0 ? cold_at(s, 0)->lo : s->last_seq + 1;
        return;
    }
    if (s->cold->len > 0) return; /* the loaded front is not tracked while cold segments lie below it */
    uint64_t dead = s->first_seq - s->base;
    if (dead >= 1024 && dead > s->entries->len / 2) {
        g_array_remove_range(s->entries, 0, (guint)dead);
        s->base = s->first_seq;
    }
}

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
 *   Only when `from` falls strictly inside a subject's cold stretch (subject_straddles) does
 *   the answer depend on which cold seqs are where: then store_index_thaw_from(from) loads
 *   every cold segment holding a seq >= from, and the loaded index answers as it always did.
 *   The same for the whole stream: state and counts from the first seq add summaries; a load,
 *   a delete, a filtered purge, a walk from some seq thaw from that seq. A FLOOR (purge,
 *   compact, the limits) drops whole cold segments below it by their summaries, and thaws
 *   only the one it cuts through.
 *   A thaw builds the new entries array once (the thawed segments, the holes between them
 *   and the old entries, copied once), and prepends the thawed seqs to each subject's list in
 *   one pass. The backend must hand back exactly the messages its summary counted; if it
 *   cannot (the index file changed or cannot be read since the open verified it), those
 *   messages are counted as lost (store_damaged) and leave the index, as recovery does with
 *   a damaged record; the backend keeps the file holding them (released_cold, lost: it is
 *   not a deletion), so the next open finds them again. Subjects are only ever freed by such a loss, so code that holds a
 *   StoreSubject across a thaw looks it up again.
 *
 * WHY NOT THE OBVIOUS WAY
 *   Loading per segment independently (entries and subject lists split per segment, any
 *   segment cold or loaded, nats-server's message blocks) would let a delete of an old
 *   message thaw one segment instead of every one above it. It is the next step; keeping
 *   the cold segments a prefix leaves every loaded-index algorithm of this file unchanged.
 *
 * COLD READS
 *   A question that only READS inside a cold segment does not thaw: loading a message by seq
 *   (a consumer, DIRECT.GET, a KV get), the next live seq and the count of live seqs from a
 *   seq, for the whole stream or one subject (a consumer's next message and pending count,
 *   cold_subject_from), the seq for a time and the next message with headers decode the
 *   segments they look inside into arrays of their own (cold_read), kept in a small LRU per store
 *   (Store.reads, at most reads_max, LIMIT_STORE_COLD_READ_SEGMENTS): a consumer reading a
 *   cold stream from its first message decodes each segment once and holds at most that many,
 *   a KV get of an old key decodes one. Nothing in the index changes, so dropping such an
 *   array is free; a cold segment never changes while cold (every change thaws it first),
 *   so the array stays true, and a thaw takes its entries from it instead of the backend.
 *
 * COLD AGAIN
 *   The loaded entries need not stay loaded. After a flush the file store keeps at most
 *   LIMIT_STORE_LOADED_SEGMENTS sealed segments loaded (store_file.c, refreeze_sealed): the
 *   lowest loaded one, just above the cold prefix, is described again by its index file (read
 *   back if its messages are the ones it lists, else written anew first) and handed to
 *   store_index_refreeze, which checks the summary against the loaded entries it replaces
 *   (counts, bytes, each subject's first seqs) and cuts them off: the entries array and the
 *   subjects' lists are copied smaller, and the segment is cold like one the open left cold.
 *   So a long stream holds the entries of its newest segments only, whether it was just
 *   written or thawed by a change, and its memory does not grow with its length.
 *
 * LIMITATIONS
 *   - A thaw loads every cold segment above the seq it needs: a change (a limit deleting the
 *     oldest message under max_msgs or max_age, a KV put replacing an old revision, a filtered
 *     purge), a wildcard filter inside a subject's cold stretch, a subject in a segment of
 *     more than LIMIT_STORE_SUBJECTS_SCAN_COUNT subjects, store_deleted or a purge that keeps
 *     N load most of the stream (the cost the open used to pay, paid later).
 *   - Thawed segments go cold again only from the bottom, after a flush (COLD AGAIN).
 *   - While cold segments exist, the dead front of the loaded entries is not cut off.
 * ========================================================================================== */

/* The cold segment whose seq range [lo, hi] holds seq (not necessarily live), or NULL. */
static StoreCold *cold_find(const Store *s, uint64_t seq) {
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

/* COLD READS: c's entries [lo, hi] for a read, decoded once and kept (LRU, reads_max). NULL
 * if the backend cannot hand them back: then c was thawed (and its messages lost, logged),
 * c is freed, and the caller asks the loaded index again. */
static const StoreEntry *cold_read(Store *s, StoreCold *c) {
    if (c->read != NULL) {
        g_queue_unlink(&s->reads, &c->link);
        g_queue_push_head_link(&s->reads, &c->link);
        return c->read;
    }
    StoreEntry *e = g_new0(StoreEntry, c->hi - c->lo + 1);
    if (!s->be->thaw(s, c, e, NULL)) {
        g_free(e);
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
            sj->cold_first = G_MAXUINT64;
            sj->cold_last = 0;
        }
    for (guint i = 0; i < s->cold->len; i++)
        for (guint k = 0; k < cold_at(s, i)->nsubjects; k++) {
            const StoreColdSubject *cs = &cold_at(s, i)->subjects[k];
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
            if (sj->cold > 0 || sj->head < sj->len || sj->thaw_add != 0) continue;
            sj->thaw_add = 1; /* marked: listed once */
            g_ptr_array_add(empty, sj);
        }
    }
    for (guint t = 0; t < empty->len; t++) {
        StoreSubject *sj = empty->pdata[t];
        sj->thaw_add = 0;
        subject_release(s, sj);
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
        g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(cold_free);
        g_ptr_array_add(gone, c);
        release_subjects_of(s, gone); /* a subject only its summary named was made for nothing */
        return FALSE;
    }
    for (guint k = 0; k < c->nsubjects; k++) {
        const StoreColdSubject *cs = &c->subjects[k];
        StoreSubject *sj = cs->sj;
        sj->head += cs->msgs;
        size_t keep = sj->len - sj->head; /* the list copied smaller: its memory goes */
        uint64_t *seqs = keep ? g_memdup2(sj->seqs + sj->head, keep * sizeof(uint64_t)) : NULL;
        g_free(sj->seqs);
        sj->seqs = seqs;
        sj->head = 0;
        sj->len = sj->cap = keep;
        if (sj->cold == 0) sj->cold_first = cs->first;
        sj->cold += cs->msgs;
        sj->cold_last = cs->last;
    }
    g_ptr_array_add(s->cold, c);
    s->cold_msgs += c->msgs;
    if (loaded == c->msgs) {
        index_trim(s); /* nothing loaded is live: the array empties */
    } else { /* the entries above c, in an array of their own size */
        guint cut = (guint)(c->hi + 1 - s->base);
        GArray *ne = g_array_sized_new(FALSE, FALSE, sizeof(StoreEntry), s->entries->len - cut);
        g_array_append_vals(ne, s->entries->data + (size_t)cut * sizeof(StoreEntry), s->entries->len - cut);
        g_array_free(s->entries, TRUE);
        s->entries = ne;
        s->base = c->hi + 1;
    }
    first_seq_fix(s);
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
        bool ok = TRUE;
        if (c->read != NULL) memcpy(out, c->read, (c->hi - c->lo + 1) * sizeof(StoreEntry)); /* COLD READS */
        else ok = s->be->thaw(s, c, out, &err);
        cold_read_drop(s, c);
        if (!ok) {
            memset(out, 0, (c->hi - c->lo + 1) * sizeof(StoreEntry));
            s->damaged += c->msgs;
            env_log(s->env, ENV_LOG_ERROR, "store %s: cannot load seq %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
                    " (%s): %" G_GUINT64_FORMAT " message(s) lost until the next open", s->name, c->lo, c->hi,
                    err ? err->message : "?", c->msgs);
        }
        for (guint k = 0; ok && k < c->nsubjects; k++)
            if (c->subjects[k].sj->thaw_add == 0) g_ptr_array_add(touched, c->subjects[k].sj);
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
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(cold_free);
    for (guint j = i; j < n; j++) g_ptr_array_add(gone, cold_at(s, j));
    g_ptr_array_set_free_func(s->cold, NULL);
    g_ptr_array_set_size(s->cold, i);
    g_ptr_array_set_free_func(s->cold, cold_free);
    cold_refresh(s);
    release_subjects_of(s, gone); /* the subjects of lost segments may have nothing left */
    first_seq_fix(s);
    index_trim(s);
}

/* A floor: cold segments wholly below it leave by their summaries; the one it cuts through is
 * thawed (and with it every one above). Returns how many messages left. */
static uint64_t cold_floor(Store *s, uint64_t floor) {
    guint n = 0;
    uint64_t dropped = 0;
    while (n < s->cold->len && cold_at(s, n)->hi < floor) n++;
    if (n == 0) {
        if (s->cold->len > 0 && cold_at(s, 0)->lo < floor) store_index_thaw_from(s, floor);
        return 0;
    }
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(cold_free);
    for (guint j = 0; j < n; j++) {
        StoreCold *c = cold_at(s, j);
        dropped += c->msgs;
        cold_read_drop(s, c);
        cold_uncount(s, c, COLD_FLOORED);
        g_ptr_array_add(gone, c);
    }
    g_ptr_array_set_free_func(s->cold, NULL);
    g_ptr_array_remove_range(s->cold, 0, n);
    g_ptr_array_set_free_func(s->cold, cold_free);
    cold_refresh(s);
    release_subjects_of(s, gone);
    first_seq_fix(s);
    if (s->cold->len > 0 && cold_at(s, 0)->lo < floor) store_index_thaw_from(s, floor);
    return dropped;
}

StoreEntry *store_index_get(Store *s, uint64_t seq) {
    if (seq < s->first_seq || seq > s->last_seq) return NULL;
    if (seq < s->base) { /* a cold seq: COLD READS (a change thaws first: store_index_del) */
        StoreCold *c = cold_find(s, seq);
        if (c == NULL) return NULL; /* between cold segments: deleted */
        const StoreEntry *read = cold_read(s, c);
        if (read != NULL) return read[seq - c->lo].bytes ? (StoreEntry *)&read[seq - c->lo] : NULL;
        if (seq < s->base) return NULL;
    }
    StoreEntry *e = entry_at(s, seq);
    return e->bytes ? e : NULL;
}

const char *store_index_subject(Store *s, uint32_t id) {
    StoreSubject *sj = s->subject_by_id->pdata[id];
    return sj->subject;
}

StoreSubject *store_index_subject_for(Store *s, const char *subject, size_t subject_len, size_t more) {
    StoreSubject *sj = subject_get(s, subject, subject_len, true);
    if (more > sj->cap - sj->len && more <= SIZE_MAX / sizeof(uint64_t) - sj->len) { /* grow once, not by doubling */
        sj->cap = sj->len + more;
        sj->seqs = g_realloc(sj->seqs, sj->cap * sizeof(uint64_t));
    }
    return sj;
}

StoreEntry *store_index_add_to(Store *s, StoreSubject *sj, uint64_t seq, int64_t ts_ns, bool has_hdr,
                               uint32_t bytes, uint64_t loc) {
    g_assert(seq > s->last_seq && bytes > 0);
    if (loaded_msgs(s) == 0) { /* nothing loaded is live: start the array at seq */
        g_array_set_size(s->entries, 0);
        s->base = seq;
        if (s->cold->len == 0) s->first_seq = seq;
    }
    StoreEntry hole = {.ts_ns = ts_ns};
    while (s->base + s->entries->len < seq) g_array_append_val(s->entries, hole);
    subject_push(sj, seq);
    StoreEntry e = {.loc = loc, .ts_ns = ts_ns, .subject_id = sj->id, .has_hdr = has_hdr, .bytes = bytes};
    g_array_append_val(s->entries, e);
    s->last_seq = seq;
    s->last_ts_ns = ts_ns;
    s->msgs++;
    s->bytes += bytes;
    s->hdr_msgs += has_hdr;
    return entry_at(s, seq);
}

StoreEntry *store_index_add(Store *s, uint64_t seq, int64_t ts_ns, const char *subject,
                            size_t subject_len, bool has_hdr, uint32_t bytes, uint64_t loc) {
    return store_index_add_to(s, subject_get(s, subject, subject_len, true), seq, ts_ns, has_hdr, bytes, loc);
}

void store_index_reserve(Store *s, uint64_t n) {
    guint len = s->entries->len;
    if (n == 0 || n > G_MAXUINT - len) return;
    g_array_set_size(s->entries, len + (guint)n); /* grows the allocation once... */
    g_array_set_size(s->entries, len);            /* ...which shrinking keeps (GArray never shrinks it) */
}

void store_index_raise_last(Store *s, uint64_t last) {
    if (last <= s->last_seq) return;
    if (s->msgs == 0) {
        store_index_floor(s, last + 1);
        return;
    }
    if (loaded_msgs(s) == 0) { /* only cold messages: the loaded array stays empty, just above them */
        s->last_seq = last;
        s->base = last + 1;
        return;
    }
    StoreEntry hole = {.ts_ns = s->last_ts_ns};
    while (s->base + s->entries->len <= last) g_array_append_val(s->entries, hole);
    s->last_seq = last;
}

gboolean store_index_del(Store *s, uint64_t seq, StoreEntry *out) {
    if (seq < s->base && seq >= s->first_seq && cold_find(s, seq) != NULL) store_index_thaw_from(s, seq);
    StoreEntry *e = store_index_get(s, seq);
    if (e == NULL) return FALSE;
    *out = *e;
    entry_gone(s, e, seq);
    e->bytes = 0;
    if (seq == s->first_seq) first_seq_fix(s);
    index_trim(s);
    return TRUE;
}

void store_index_truncate(Store *s, uint64_t last) {
    store_index_thaw_from(s, last + 1); /* (a rollback never reaches below what the open found) */
    while (s->last_seq > last) {
        uint64_t seq = s->last_seq;
        if (seq >= s->base && seq - s->base < s->entries->len) {
            StoreEntry *e = entry_at(s, seq);
            if (e->bytes) {
                StoreEntry copy = *e;
                entry_gone(s, e, seq);
                s->be->released(s, seq, &copy);
            }
            g_array_set_size(s->entries, (guint)(seq - s->base));
        }
        s->last_seq--;
    }
    if (s->first_seq > last + 1) s->first_seq = last + 1;
    if (s->base > last + 1) s->base = last + 1;
    if (loaded_msgs(s) > 0) {
        StoreEntry *e = entry_at(s, s->last_seq);
        if (e->bytes) s->last_ts_ns = e->ts_ns;
    } else if (s->cold->len > 0 && cold_at(s, s->cold->len - 1)->hi == s->last_seq) {
        s->last_ts_ns = cold_at(s, s->cold->len - 1)->hi_ts_ns;
    }
    index_trim(s);
}

uint64_t store_index_floor(Store *s, uint64_t floor) {
    uint64_t dropped = cold_floor(s, floor);
    uint64_t end = MIN(floor, s->last_seq + 1);
    for (uint64_t seq = MAX(s->first_seq, s->base); seq < end && loaded_msgs(s) > 0; seq++) {
        StoreEntry *e = entry_at(s, seq);
        if (e->bytes == 0) continue;
        StoreEntry copy = *e;
        entry_gone(s, e, seq);
        e->bytes = 0;
        s->be->released(s, seq, &copy);
        dropped++;
    }
    if (floor > s->last_seq + 1) s->last_seq = floor - 1;
    if (floor > s->first_seq) s->first_seq = floor;
    first_seq_fix(s);
    index_trim(s);
    return dropped;
}

/* --- the generic store --- */

uint64_t store_append(Store *s, const char *subject, size_t subject_len, const void *hdr,
                      size_t hdr_len, const void *data, size_t data_len, int64_t ts_ns,
                      GError **error) {
    if (subject_len == 0 || subject_len > LIMIT_MAX_SUBJECT_BYTES) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "invalid subject length %zu", subject_len);
        return 0;
    }
    if (hdr_len + data_len + subject_len > LIMIT_STORE_RECORD_BYTES_MAX / 2) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "message too large");
        return 0;
    }
    uint64_t seq = s->last_seq + 1;
    uint32_t bytes = (uint32_t)s->be->msg_bytes(subject_len, hdr_len, data_len);
    StoreEntry *e = store_index_add(s, seq, ts_ns, subject, subject_len, hdr_len > 0, bytes, 0);
    if (!s->be->append(s, seq, e, subject, subject_len, hdr, hdr_len, data, data_len, error)) {
        g_assert(s->last_seq < seq); /* the backend rolled back */
        return 0;
    }
    return seq;
}

gboolean store_flush(Store *s, GError **error) { return s->be->flush(s, error); }
gboolean store_sync(Store *s, GError **error) { return s->be->sync(s, error); }
uint64_t store_durable_seq(Store *s) { return s->be->durable_seq(s); }
gboolean store_dirty(Store *s) { return s->be->dirty(s); }
const char *store_kind(Store *s) { return s->be->kind; }

uint64_t store_msg_bytes(Store *s, size_t subject_len, size_t hdr_len, size_t data_len) {
    return s->be->msg_bytes(subject_len, hdr_len, data_len);
}

StoreMsg *store_load(Store *s, uint64_t seq, GError **error) {
    StoreEntry *e = store_index_get(s, seq);
    return e ? s->be->load(s, seq, e, error) : NULL;
}

/* Does entry id match filter? memo caches answers by subject id for one scan. */
static bool id_matches(Store *s, GHashTable *memo, const char *filter, uint32_t id) {
    gpointer v;
    if (g_hash_table_lookup_extended(memo, GUINT_TO_POINTER(id), NULL, &v)) return v != NULL;
    bool m = store_filter_matches(filter, store_index_subject(s, id));
    g_hash_table_insert(memo, GUINT_TO_POINTER(id), m ? GINT_TO_POINTER(1) : NULL);
    return m;
}

/* COLD READS for one subject whose cold stretch `from` falls inside (subject_straddles): the
 * next of its seqs >= from (count = FALSE) or how many there are (count = TRUE), from the
 * cold segments' summaries and the read array of the one segment `from` cuts, plus its loaded
 * list. FALSE: not answered (a segment with too many subjects to look sj up in, or a read that
 * failed and thawed: sj may be gone); the caller thaws from `from` and asks the loaded index. */
static bool cold_subject_from(Store *s, StoreSubject *sj, uint64_t from, bool count, uint64_t *out) {
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
        const StoreEntry *read = cold_read(s, c);
        if (read == NULL) return false;
        for (uint64_t q = MAX(from, first); q <= last; q++) {
            const StoreEntry *e = &read[q - c->lo];
            if (e->bytes == 0 || e->subject_id != sj->id) continue;
            if (!count) {
                *out = q; /* (found: its last is >= from) */
                return true;
            }
            n++;
        }
    }
    *out = count ? n + (sj->len - subj_lower_bound(sj, from)) : subject_next_from(sj, from);
    return true;
}

/* Over every subject a wildcard filter matches, from its loaded list and cold summary: the
 * smallest seq >= from (count = FALSE) or how many seqs >= from (count = TRUE). Only when
 * `from` falls strictly inside a matching subject's cold stretch do the summaries not
 * answer: then one thaw from `from` (after it no subject straddles) and the walk again. */
static uint64_t matching_from(Store *s, const char *filter, uint64_t from, bool count) {
    for (int pass = 0;; pass++) {
        uint64_t r = 0;
        bool straddles = false;
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, s->subjects);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            StoreSubject *sj = v;
            if (!store_filter_matches(filter, sj->subject)) continue;
            if ((straddles = subject_straddles(sj, from))) break;
            uint64_t q = count ? subject_count_from(sj, from) : subject_next_from(sj, from);
            if (count) r += q;
            else if (q != 0 && (r == 0 || q < r)) r = q;
        }
        if (!straddles) return r;
        g_assert_cmpint(pass, ==, 0);
        store_index_thaw_from(s, from);
    }
}

/* The first live seq >= from (from >= first_seq): a cold segment's first if one starts
 * there or later (no thaw); inside one, thaw from `from` and walk the loaded entries. */
static uint64_t next_any(Store *s, uint64_t from) {
    for (guint i = 0; i < s->cold->len; i++) {
        StoreCold *c = cold_at(s, i);
        if (c->hi < from) continue;
        if (c->lo >= from) return c->lo;
        const StoreEntry *read = cold_read(s, c); /* COLD READS: its hi is live, so found */
        if (read == NULL) break; /* the read failed: c was thawed, what is left is loaded */
        for (uint64_t q = from; q <= c->hi; q++)
            if (read[q - c->lo].bytes) return q;
    }
    for (uint64_t q = MAX(from, s->base); loaded_msgs(s) > 0 && q <= s->last_seq; q++)
        if (entry_at(s, q)->bytes) return q;
    return 0;
}

/* Finding the next match for a wildcard: with few subjects, binary-search each matching
 * subject's list and take the smallest; with many, walk the entries from from_seq (the walk
 * stops at the first match, so a consumer on a busy filter pays little per message). Per
 * subject the cold summary answers unless `from` falls inside its cold stretch (COLD
 * SEGMENTS): then one thaw, and the question is asked again. */
uint64_t store_next_seq(Store *s, const char *filter, uint64_t from_seq) {
    uint64_t from = MAX(from_seq, s->first_seq);
    if (s->msgs == 0 || from > s->last_seq) return 0;
    if (filter_is_all(filter)) return next_any(s, from);
    if (filter_is_literal(filter)) {
        StoreSubject *sj = g_hash_table_lookup(s->subjects, filter);
        uint64_t q;
        if (sj != NULL && subject_straddles(sj, from)) {
            if (cold_subject_from(s, sj, from, false, &q)) return q;
            store_index_thaw_from(s, from);
            sj = g_hash_table_lookup(s->subjects, filter);
        }
        return sj ? subject_next_from(sj, from) : 0;
    }
    if (g_hash_table_size(s->subjects) <= LIMIT_STORE_SUBJECTS_SCAN_COUNT) return matching_from(s, filter, from, false);
    store_index_thaw_from(s, from);
    g_autoptr(GHashTable) memo = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (uint64_t q = MAX(from, s->base); loaded_msgs(s) > 0 && q <= s->last_seq; q++) {
        StoreEntry *e = entry_at(s, q);
        if (e->bytes && id_matches(s, memo, filter, e->subject_id)) return q;
    }
    return 0;
}

uint64_t store_next_seq_with_headers(Store *s, uint64_t from_seq) {
    if (s->hdr_msgs == 0) return 0; /* the usual stream: no headers, no walk (restart: dedup) */
    uint64_t from = MAX(from_seq, s->first_seq);
    for (guint i = 0; i < s->cold->len; i++) { /* the cold segments that may hold one: COLD READS */
        StoreCold *c = cold_at(s, i);
        if (c->hi < from || c->hdr_msgs == 0) continue;
        const StoreEntry *read = cold_read(s, c);
        if (read == NULL) return store_next_seq_with_headers(s, from_seq); /* c thawed: ask again */
        for (uint64_t q = MAX(from, c->lo); q <= c->hi; q++)
            if (read[q - c->lo].bytes && read[q - c->lo].has_hdr) return q;
    }
    for (uint64_t q = MAX(from, s->base); loaded_msgs(s) > 0 && q <= s->last_seq; q++) {
        const StoreEntry *e = entry_at(s, q);
        if (e->bytes && e->has_hdr) return q;
    }
    return 0;
}

StoreMsg *store_load_next(Store *s, const char *filter, uint64_t from_seq, GError **error) {
    uint64_t seq = store_next_seq(s, filter, from_seq);
    return seq ? store_load(s, seq, error) : NULL;
}

static uint64_t last_seq_matching(Store *s, const char *filter) {
    if (s->msgs == 0) return 0;
    if (!filter_is_all(filter) && filter_is_literal(filter)) {
        StoreSubject *sj = g_hash_table_lookup(s->subjects, filter);
        return sj ? subject_last(sj) : 0;
    }
    g_autoptr(GHashTable) memo = g_hash_table_new(g_direct_hash, g_direct_equal);
    bool all = filter_is_all(filter);
    for (uint64_t q = s->last_seq; loaded_msgs(s) > 0 && q >= MAX(s->first_seq, s->base) && q > 0; q--) {
        StoreEntry *e = entry_at(s, q);
        if (e->bytes && (all || id_matches(s, memo, filter, e->subject_id))) return q;
    }
    if (s->cold->len == 0) return 0;
    if (all) return cold_at(s, s->cold->len - 1)->hi;
    uint64_t best = 0; /* nothing loaded matches: the newest cold match, from the summaries */
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        StoreSubject *sj = v;
        if (sj->cold > 0 && sj->cold_last > best && store_filter_matches(filter, sj->subject)) best = sj->cold_last;
    }
    return best;
}

StoreMsg *store_load_last(Store *s, const char *filter, GError **error) {
    uint64_t seq = last_seq_matching(s, filter);
    return seq ? store_load(s, seq, error) : NULL;
}

/* Live seqs >= from in the loaded entries: the shorter side of from is walked. */
static uint64_t count_loaded_from(Store *s, uint64_t from) {
    uint64_t loaded = loaded_msgs(s), q0 = MAX(from, s->base), n = 0;
    if (loaded == 0 || q0 > s->last_seq) return 0;
    if (q0 - s->base < s->last_seq - q0) {
        for (uint64_t q = s->base; q < q0; q++) n += entry_at(s, q)->bytes != 0;
        return loaded - n;
    }
    for (uint64_t q = q0; q <= s->last_seq; q++) n += entry_at(s, q)->bytes != 0;
    return n;
}

uint64_t store_count(Store *s, const char *filter, uint64_t from_seq) {
    uint64_t from = MAX(from_seq, s->first_seq);
    if (s->msgs == 0 || from > s->last_seq) return 0;
    if (filter_is_all(filter)) {
        if (from == s->first_seq) return s->msgs;
        uint64_t deleted = s->last_seq - s->first_seq + 1 - s->msgs;
        if (deleted == 0) return s->last_seq - from + 1;
        uint64_t n = 0;
        for (guint i = 0; i < s->cold->len; i++) { /* whole cold segments from `from` on, and the one cut */
            StoreCold *c = cold_at(s, i);
            if (c->hi < from) continue;
            if (c->lo >= from) {
                n += c->msgs;
                continue;
            }
            const StoreEntry *read = cold_read(s, c); /* COLD READS */
            if (read == NULL) return store_count(s, filter, from_seq); /* c thawed: ask again */
            for (uint64_t q = from; q <= c->hi; q++) n += read[q - c->lo].bytes != 0;
        }
        return n + count_loaded_from(s, from);
    }
    if (!filter_is_literal(filter)) return matching_from(s, filter, from, true);
    StoreSubject *sj = g_hash_table_lookup(s->subjects, filter);
    if (sj != NULL && subject_straddles(sj, from)) {
        uint64_t n;
        if (cold_subject_from(s, sj, from, true, &n)) return n;
        store_index_thaw_from(s, from);
        sj = g_hash_table_lookup(s->subjects, filter); /* a lost thaw may have freed it */
    }
    return sj ? subject_count_from(sj, from) : 0;
}

gboolean store_subject_info(Store *s, const char *subject, StoreSubjectInfo *out) {
    StoreSubject *sj = g_hash_table_lookup(s->subjects, subject);
    if (sj == NULL) return FALSE;
    out->msgs = subject_msgs(sj);
    out->first_seq = subject_first(sj);
    out->last_seq = subject_last(sj);
    return TRUE;
}

static gint subject_cmp(gconstpointer a, gconstpointer b) {
    return strcmp((*(StoreSubject *const *)a)->subject, (*(StoreSubject *const *)b)->subject);
}

/* Matching subjects, sorted (hash order must never reach an output). */
static GPtrArray *subjects_matching(Store *s, const char *filter) {
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (store_filter_matches(filter, ((StoreSubject *)v)->subject)) g_ptr_array_add(out, v);
    g_ptr_array_sort(out, subject_cmp);
    return out;
}

void store_subjects(Store *s, const char *filter,
                    void (*fn)(const char *subject, uint64_t msgs, void *arg), void *arg) {
    g_autoptr(GPtrArray) subs = subjects_matching(s, filter);
    for (guint i = 0; i < subs->len; i++) {
        StoreSubject *sj = subs->pdata[i];
        fn(sj->subject, subject_msgs(sj), arg);
    }
}

void store_deleted(Store *s, GArray *out) {
    if (s->msgs == 0) return;
    store_index_thaw_from(s, 0);
    for (uint64_t q = s->first_seq; q <= s->last_seq; q++) {
        if (q < s->base || entry_at(s, q)->bytes == 0) {
            guint64 v = q;
            g_array_append_val(out, v);
        }
    }
}

uint64_t store_seq_for_time(Store *s, int64_t ts_ns) {
    if (s->msgs == 0) return 0;
    for (guint i = 0; i < s->cold->len; i++) { /* the first cold segment that reaches ts_ns */
        StoreCold *c = cold_at(s, i);
        if (c->hi_ts_ns < ts_ns) continue;
        if (c->lo_ts_ns >= ts_ns) return c->lo;
        const StoreEntry *read = cold_read(s, c); /* COLD READS: its hi reaches ts_ns */
        if (read == NULL) return store_seq_for_time(s, ts_ns); /* c thawed: ask again */
        for (uint64_t q = c->lo; q <= c->hi; q++)
            if (read[q - c->lo].bytes && read[q - c->lo].ts_ns >= ts_ns) return q;
    }
    uint64_t lo = MAX(s->first_seq, s->base), hi = s->last_seq + 1; /* timestamps never decrease with seq */
    while (loaded_msgs(s) > 0 && lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (entry_at(s, mid)->ts_ns < ts_ns) lo = mid + 1;
        else hi = mid;
    }
    return store_next_seq(s, NULL, lo);
}

uint64_t store_damaged(const Store *s) { return s->damaged; }

void store_state(Store *s, StoreState *out) {
    memset(out, 0, sizeof *out);
    out->msgs = s->msgs;
    out->bytes = s->bytes;
    out->first_seq = s->first_seq;
    out->last_seq = s->last_seq;
    out->last_ts_ns = s->last_seq > 0 ? s->last_ts_ns : 0;
    out->num_subjects = g_hash_table_size(s->subjects);
    if (s->msgs > 0) {
        out->first_ts_ns = s->cold->len > 0 ? cold_at(s, 0)->lo_ts_ns : entry_at(s, s->first_seq)->ts_ns;
        out->num_deleted = s->last_seq - s->first_seq + 1 - s->msgs;
    }
}

gboolean store_remove(Store *s, uint64_t seq, gboolean erase, GError **error) {
    StoreEntry e;
    if (!store_index_del(s, seq, &e)) return FALSE;
    s->be->released(s, seq, &e);
    s->be->removed(s, seq, erase);
    return TRUE;
}

uint64_t store_compact(Store *s, uint64_t seq, GError **error) {
    if (seq <= s->first_seq && seq <= s->last_seq + 1) return 0;
    uint64_t n = store_index_floor(s, seq);
    s->be->floor(s, s->first_seq);
    return n;
}

static gint u64_cmp(gconstpointer a, gconstpointer b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t store_purge(Store *s, const StorePurge *req, GError **error) {
    if (s->msgs == 0) return 0;
    uint64_t top = req->last > 0 ? MIN(req->last, s->last_seq) : s->last_seq; /* the newest seq considered */
    if (filter_is_all(req->filter)) {
        if (req->keep > 0) {
            if (s->msgs <= req->keep) return 0;
            store_index_thaw_from(s, 0); /* (not from the summaries yet: COLD SEGMENTS, LIMITATIONS) */
            uint64_t kept = 0, q = top; /* find the keep-th newest live seq */
            for (; q >= s->first_seq; q--)
                if (entry_at(s, q)->bytes && ++kept == req->keep) break;
            return store_compact(s, q, error);
        }
        uint64_t floor = top + 1;
        if (req->seq > 0 && req->seq < floor) floor = req->seq;
        return store_compact(s, floor, error);
    }
    /* A filtered purge: collect the matching seqs, drop the newest `keep`, delete the rest
     * (the matching subjects' cold messages are thawed first: they are deleted one by one). */
    uint64_t cold_from = G_MAXUINT64;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const StoreSubject *sj = v;
        if (sj->cold > 0 && store_filter_matches(req->filter, sj->subject)) cold_from = MIN(cold_from, sj->cold_first);
    }
    store_index_thaw_from(s, cold_from);
    g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    g_autoptr(GPtrArray) subs = subjects_matching(s, req->filter);
    for (guint i = 0; i < subs->len; i++) {
        StoreSubject *sj = subs->pdata[i];
        size_t end = subj_lower_bound(sj, top + 1);
        if (req->seq > 0 && req->keep == 0) end = MIN(end, subj_lower_bound(sj, req->seq));
        g_array_append_vals(seqs, sj->seqs + sj->head, (guint)(end - sj->head));
    }
    if (subs->len > 1) g_array_sort(seqs, u64_cmp);
    guint n = seqs->len;
    if (req->keep > 0) n = n > req->keep ? (guint)(n - req->keep) : 0;
    for (guint i = 0; i < n; i++) store_remove(s, g_array_index(seqs, uint64_t, i), FALSE, error);
    return n;
}

void store_check_invariants(Store *s) {
    g_assert_cmpuint(s->first_seq, <=, s->last_seq + 1);
    uint64_t loaded = loaded_msgs(s);
    if (loaded == 0) {
        g_assert_cmpuint(s->entries->len, ==, 0);
        g_assert_cmpuint(s->base, ==, s->last_seq + 1);
    } else {
        g_assert_cmpuint(s->base + s->entries->len, ==, s->last_seq + 1);
    }
    uint64_t msgs = 0, bytes = 0, hdr_msgs = 0;
    /* the cold segments: ordered, below base, counted in their subjects (COLD SEGMENTS) */
    g_autoptr(GHashTable) cold_of = g_hash_table_new(g_direct_hash, g_direct_equal); /* sj -> cold msgs */
    for (guint i = 0; i < s->cold->len; i++) {
        const StoreCold *c = cold_at(s, i);
        g_assert_cmpuint(c->lo, <=, c->hi);
        g_assert_cmpuint(c->hi, <, s->base);
        g_assert_cmpuint(c->msgs, >, 0);
        g_assert_cmpuint(c->msgs, <=, c->hi - c->lo + 1);
        if (i > 0) g_assert_cmpuint(cold_at(s, i - 1)->hi, <, c->lo);
        else g_assert_cmpuint(s->first_seq, ==, c->lo);
        uint64_t in_subjects = 0;
        for (guint k = 0; k < c->nsubjects; k++) {
            const StoreColdSubject *cs = &c->subjects[k];
            g_assert(s->subject_by_id->pdata[cs->sj->id] == cs->sj);
            g_assert(cs->first >= c->lo && cs->last <= c->hi && cs->first <= cs->last);
            g_assert(cs->sj->cold_first <= cs->first && cs->sj->cold_last >= cs->last);
            gpointer v = g_hash_table_lookup(cold_of, cs->sj);
            g_hash_table_insert(cold_of, cs->sj, GSIZE_TO_POINTER(GPOINTER_TO_SIZE(v) + cs->msgs));
            in_subjects += cs->msgs;
        }
        g_assert_cmpuint(in_subjects, ==, c->msgs);
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
    if (s->cold->len == 0) g_assert_cmpuint(s->base, <=, s->first_seq);
    for (uint64_t q = MAX(s->first_seq, s->base); loaded && q <= s->last_seq; q++) {
        StoreEntry *e = entry_at(s, q);
        if (e->bytes == 0) continue;
        if (msgs == 0) g_assert_cmpuint(q, ==, s->first_seq);
        msgs++;
        bytes += e->bytes;
        hdr_msgs += e->has_hdr;
        StoreSubject *sj = s->subject_by_id->pdata[e->subject_id];
        g_assert_nonnull(sj);
        size_t i = subj_lower_bound(sj, q);
        g_assert(i < sj->len && sj->seqs[i] == q);
    }
    g_assert_cmpuint(msgs, ==, s->msgs);
    g_assert_cmpuint(bytes, ==, s->bytes);
    g_assert_cmpuint(hdr_msgs, ==, s->hdr_msgs);
    uint64_t in_lists = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        StoreSubject *sj = v;
        g_assert(sj->head < sj->len || sj->cold > 0);
        g_assert_cmpuint(sj->cold, ==, GPOINTER_TO_SIZE(g_hash_table_lookup(cold_of, sj)));
        g_assert_cmpuint(sj->thaw_add, ==, 0);
        g_assert(s->subject_by_id->pdata[sj->id] == sj);
        for (size_t i = sj->head + 1; i < sj->len; i++) g_assert_cmpuint(sj->seqs[i - 1], <, sj->seqs[i]);
        if (sj->cold > 0 && sj->head < sj->len) g_assert_cmpuint(sj->cold_last, <, sj->seqs[sj->head]);
        in_lists += subject_msgs(sj);
    }
    g_assert_cmpuint(in_lists, ==, s->msgs);
    g_assert_cmpuint(s->be->durable_seq(s), <=, s->last_seq);
    if (s->be->check) s->be->check(s);
}

void store_close(Store *s) {
    if (s == NULL) return;
    s->be->close(s);
    store_index_clear(s);
    g_free(s);
}
