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
 *               SEGMENTS in store_cold.c. Each subject also counts its cold messages and their first/last.
 *
 * COSTS
 *   append O(1) amortized; load O(1); delete O(log k + k) worst case for a subject with k
 *   messages (O(1) for its oldest, the usual case: limits drop old data); count for a
 *   literal subject O(log k); a wildcard filter walks the matching subjects (few subjects)
 *   or the entries from the start seq (many subjects), see store_next_seq. A delete in a cold
 *   segment decodes that segment once (then O(1) while it stays in the read list; COLD
 *   CHANGES in store_cold.c).
 *   Memory: 24 bytes per loaded seq + 8 per loaded live message + the records (memory
 *   backend); a cold segment costs its summary (~100 bytes + 32 per subject in it, + 8 per
 *   message deleted from its middle while cold).
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

size_t store_subject_lower_bound(const StoreSubject *sj, uint64_t seq) {
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
void store_subject_release(Store *s, StoreSubject *sj) {
    if (sj->head < sj->len || sj->cold > 0) return;
    s->subject_by_id->pdata[sj->id] = NULL;
    if (s->last_subject == sj) s->last_subject = NULL;
    g_array_append_val(s->free_ids, sj->id);
    g_hash_table_remove(s->subjects, sj->subject); /* frees sj */
}

static void subject_drop(Store *s, uint32_t id, uint64_t seq) {
    StoreSubject *sj = s->subject_by_id->pdata[id];
    g_assert(sj != NULL);
    size_t i = store_subject_lower_bound(sj, seq);
    g_assert(i < sj->len && sj->seqs[i] == seq);
    if (i == sj->head) sj->head++;
    else if (i == sj->len - 1) sj->len--;
    else {
        memmove(sj->seqs + i, sj->seqs + i + 1, (sj->len - i - 1) * sizeof(uint64_t));
        sj->len--;
    }
    store_subject_release(s, sj);
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
    return sj->len - store_subject_lower_bound(sj, from) + (sj->cold > 0 && from <= sj->cold_first ? sj->cold : 0);
}
uint64_t store_subject_next_from(const StoreSubject *sj, uint64_t from) {
    if (sj->cold > 0 && from <= sj->cold_first) return sj->cold_first;
    size_t i = store_subject_lower_bound(sj, from);
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

void store_index_init(Store *s, Env *env, const char *name, const StoreBackend *be) {
    s->env = env;
    s->name = g_strdup(name ? name : "?");
    s->be = be;
    s->entries = g_array_new(FALSE, FALSE, sizeof(StoreEntry));
    s->cold = g_ptr_array_new_with_free_func(store_cold_free);
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
void store_index_first_fix(Store *s) {
    if (s->cold->len > 0) s->first_seq = cold_at(s, 0)->lo;
    else if (s->msgs == 0) s->first_seq = s->last_seq + 1;
    else {
        s->first_seq = MAX(s->first_seq, s->base);
        while (s->first_seq <= s->last_seq && entry_at(s, s->first_seq)->bytes == 0) s->first_seq++;
    }
}

/* When nothing loaded is live, or the dead front grows past half the array, cut it off. */
void store_index_trim(Store *s) {
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

StoreEntry *store_index_get(Store *s, uint64_t seq) {
    if (seq < s->first_seq || seq > s->last_seq) return NULL;
    if (seq < s->base) { /* a cold seq: COLD READS (a change: store_index_del) */
        StoreCold *c = store_cold_find(s, seq);
        if (c == NULL) return NULL; /* between cold segments: deleted */
        const StoreEntry *read = store_cold_read(s, c);
        if (read != NULL) return read[seq - c->span_lo].bytes ? (StoreEntry *)&read[seq - c->span_lo] : NULL;
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
    if (seq < s->base && seq >= s->first_seq) { /* a cold seq: its segment changes cold (COLD CHANGES) */
        StoreCold *c = store_cold_find(s, seq);
        int r = c != NULL ? store_cold_del(s, c, seq, out) : 0;
        if (r >= 0) return r > 0;
    }
    StoreEntry *e = store_index_get(s, seq);
    if (e == NULL) return FALSE;
    *out = *e;
    entry_gone(s, e, seq);
    e->bytes = 0;
    if (seq == s->first_seq) store_index_first_fix(s);
    store_index_trim(s);
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
    store_index_trim(s);
}

uint64_t store_index_floor(Store *s, uint64_t floor) {
    uint64_t dropped = store_cold_floor(s, floor);
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
    store_index_first_fix(s);
    store_index_trim(s);
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
            uint64_t q = count ? subject_count_from(sj, from) : store_subject_next_from(sj, from);
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
        const StoreEntry *read = store_cold_read(s, c); /* COLD READS: its hi is live, so found */
        if (read == NULL) break; /* the read failed: c was thawed, what is left is loaded */
        for (uint64_t q = from; q <= c->hi; q++)
            if (read[q - c->span_lo].bytes) return q;
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
            if (store_cold_subject_from(s, sj, from, false, &q)) return q;
            store_index_thaw_from(s, from);
            sj = g_hash_table_lookup(s->subjects, filter);
        }
        return sj ? store_subject_next_from(sj, from) : 0;
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
        const StoreEntry *read = store_cold_read(s, c);
        if (read == NULL) return store_next_seq_with_headers(s, from_seq); /* c thawed: ask again */
        for (uint64_t q = MAX(from, c->lo); q <= c->hi; q++)
            if (read[q - c->span_lo].bytes && read[q - c->span_lo].has_hdr) return q;
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
            const StoreEntry *read = store_cold_read(s, c); /* COLD READS */
            if (read == NULL) return store_count(s, filter, from_seq); /* c thawed: ask again */
            for (uint64_t q = from; q <= c->hi; q++) n += read[q - c->span_lo].bytes != 0;
        }
        return n + count_loaded_from(s, from);
    }
    if (!filter_is_literal(filter)) return matching_from(s, filter, from, true);
    StoreSubject *sj = g_hash_table_lookup(s->subjects, filter);
    if (sj != NULL && subject_straddles(sj, from)) {
        uint64_t n;
        if (store_cold_subject_from(s, sj, from, true, &n)) return n;
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

/* The deleted seqs in [first_seq, last_seq]: between and inside the cold segments from their
 * read arrays (COLD READS: each decoded once, nothing thawed), then the loaded holes. */
void store_deleted(Store *s, GArray *out) {
    if (s->msgs == 0) return;
    guint at = out->len;
    uint64_t q = s->first_seq;
    for (guint i = 0; i < s->cold->len; i++) {
        StoreCold *c = cold_at(s, i);
        for (; q < c->lo; q++) g_array_append_val(out, q);
        const StoreEntry *read = store_cold_read(s, c);
        if (read == NULL) { /* c was thawed (its messages lost): ask the loaded index */
            g_array_set_size(out, at);
            store_deleted(s, out);
            return;
        }
        for (; q <= c->hi; q++)
            if (read[q - c->span_lo].bytes == 0) g_array_append_val(out, q);
    }
    for (; q <= s->last_seq; q++)
        if (q < s->base || entry_at(s, q)->bytes == 0) g_array_append_val(out, q);
}

uint64_t store_seq_for_time(Store *s, int64_t ts_ns) {
    if (s->msgs == 0) return 0;
    for (guint i = 0; i < s->cold->len; i++) { /* the first cold segment that reaches ts_ns */
        StoreCold *c = cold_at(s, i);
        if (c->hi_ts_ns < ts_ns) continue;
        if (c->lo_ts_ns >= ts_ns) return c->lo;
        const StoreEntry *read = store_cold_read(s, c); /* COLD READS: its hi reaches ts_ns */
        if (read == NULL) return store_seq_for_time(s, ts_ns); /* c thawed: ask again */
        for (uint64_t q = c->lo; q <= c->hi; q++)
            if (read[q - c->span_lo].bytes && read[q - c->span_lo].ts_ns >= ts_ns) return q;
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

void store_memory(Store *s, StoreMemory *out) {
    memset(out, 0, sizeof *out);
    out->entries = (uint64_t)s->entries->len * sizeof(StoreEntry);
    out->loaded_msgs = loaded_msgs(s);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const StoreSubject *sj = v;
        out->subjects += sizeof *sj + strlen(sj->subject) + 1 + sj->cap * sizeof(uint64_t);
    }
    for (guint i = 0; i < s->cold->len; i++) {
        const StoreCold *c = cold_at(s, i);
        out->cold += sizeof *c + c->nsubjects * sizeof(StoreColdSubject);
        if (c->read != NULL) out->reads += (c->hi - c->lo + 1) * sizeof(StoreEntry);
    }
    out->buffers = s->be->buffer_bytes ? s->be->buffer_bytes(s) : 0;
}

void store_index_shrink(Store *s) {
    GArray *ne = g_array_sized_new(FALSE, FALSE, sizeof(StoreEntry), s->entries->len);
    g_array_append_vals(ne, s->entries->data, s->entries->len);
    g_array_free(s->entries, TRUE);
    s->entries = ne;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        StoreSubject *sj = v;
        size_t keep = sj->len - sj->head;
        if (keep == sj->cap) continue;
        uint64_t *seqs = keep ? g_memdup2(sj->seqs + sj->head, keep * sizeof(uint64_t)) : NULL;
        g_free(sj->seqs);
        sj->seqs = seqs;
        sj->head = 0;
        sj->len = sj->cap = keep;
    }
}

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
        if (req->keep > 0) { /* the keep-th newest live seq <= top is the floor */
            if (s->msgs <= req->keep) return 0;
            uint64_t kept = 0;
            for (uint64_t q = top; loaded_msgs(s) > 0 && q >= MAX(s->first_seq, s->base) && q > 0; q--)
                if (entry_at(s, q)->bytes && ++kept == req->keep) return store_compact(s, q, error);
            for (guint i = s->cold->len; i-- > 0;) { /* then the cold segments, newest first */
                StoreCold *c = cold_at(s, i);
                if (c->lo > top) continue;
                if (c->hi <= top && kept + c->msgs < req->keep) { /* wholly kept: its summary says how many */
                    kept += c->msgs;
                    continue;
                }
                const StoreEntry *read = store_cold_read(s, c); /* the one it falls in (COLD READS) */
                if (read == NULL) return store_purge(s, req, error); /* c was thawed: ask again */
                for (uint64_t q = MIN(c->hi, top); q >= c->lo; q--)
                    if (read[q - c->span_lo].bytes && ++kept == req->keep) return store_compact(s, q, error);
            }
            return 0; /* fewer than keep at or below top */
        }
        uint64_t floor = top + 1;
        if (req->seq > 0 && req->seq < floor) floor = req->seq;
        return store_compact(s, floor, error);
    }
    /* A filtered purge: collect the matching seqs, oldest first, drop the newest `keep`, delete
     * the rest. Cold ones are read from their segments, which stay cold (COLD CHANGES in
     * store_cold.c); with `keep` and no upper bound the count is known from the subjects, so
     * the walk stops at the oldest it deletes (a KV put over its history: one revision). */
    if (req->seq > 0 && req->keep == 0) top = MIN(top, req->seq - 1);
    g_autoptr(GPtrArray) subs = NULL;
    if (filter_is_literal(req->filter)) { /* one subject: a lookup, not a walk of every subject */
        StoreSubject *sj = g_hash_table_lookup(s->subjects, req->filter);
        subs = g_ptr_array_new();
        if (sj != NULL) g_ptr_array_add(subs, sj);
    } else {
        subs = subjects_matching(s, req->filter);
    }
    g_autoptr(GHashTable) match = g_hash_table_new(g_direct_hash, g_direct_equal);
    uint64_t total = 0;
    for (guint i = 0; i < subs->len; i++) {
        g_hash_table_add(match, subs->pdata[i]);
        total += subject_msgs(subs->pdata[i]);
    }
    uint64_t need = 0; /* 0 = unknown: collect them all */
    if (req->keep > 0 && top == s->last_seq) {
        if (total <= req->keep) return 0;
        need = total - req->keep;
    }
    g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    if (!store_cold_matching(s, match, top, need, seqs)) return store_purge(s, req, error); /* a lost read thawed: again */
    guint cold = seqs->len;
    for (guint i = 0; i < subs->len && (need == 0 || seqs->len < need); i++) {
        StoreSubject *sj = subs->pdata[i];
        size_t end = store_subject_lower_bound(sj, top + 1);
        g_array_append_vals(seqs, sj->seqs + sj->head, (guint)(end - sj->head));
    }
    if (subs->len > 1 && seqs->len > cold) g_array_sort(seqs, u64_cmp); /* (the cold ones come sorted) */
    guint n = seqs->len;
    if (need > 0) n = (guint)MIN(need, (uint64_t)n);
    else if (req->keep > 0) n = n > req->keep ? (guint)(n - req->keep) : 0;
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
    uint64_t msgs = s->cold_msgs, bytes = 0, hdr_msgs = 0;
    store_cold_check(s, &bytes, &hdr_msgs); /* the cold segments: store_cold.c */
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
        size_t i = store_subject_lower_bound(sj, q);
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
