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
 *
 * COSTS
 *   append O(1) amortized; load O(1); delete O(log k + k) worst case for a subject with k
 *   messages (O(1) for its oldest, the usual case: limits drop old data); count for a
 *   literal subject O(log k); a wildcard filter walks the matching subjects (few subjects)
 *   or the entries from the start seq (many subjects), see store_next_seq.
 *   Memory: 24 bytes per seq + 8 per live message + the records (memory backend).
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
    if (sj->head == sj->len) {
        s->subject_by_id->pdata[id] = NULL;
        if (s->last_subject == sj) s->last_subject = NULL;
        g_array_append_val(s->free_ids, id);
        g_hash_table_remove(s->subjects, sj->subject); /* frees sj */
    }
}

static size_t subject_msgs(const StoreSubject *sj) { return sj->len - sj->head; }

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
    s->base = 1;
    s->first_seq = 1;
    s->last_seq = 0;
    s->subjects = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, subject_free);
    s->subject_by_id = g_ptr_array_new();
    s->free_ids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
}

void store_index_clear(Store *s) {
    g_array_free(s->entries, TRUE);
    g_hash_table_destroy(s->subjects);
    g_ptr_array_free(s->subject_by_id, TRUE);
    s->last_subject = NULL;
    g_array_free(s->free_ids, TRUE);
    g_free(s->name);
}

StoreEntry *store_index_get(Store *s, uint64_t seq) {
    if (seq < s->base || seq > s->last_seq || seq < s->first_seq) return NULL;
    StoreEntry *e = &g_array_index(s->entries, StoreEntry, seq - s->base);
    return e->bytes ? e : NULL;
}

const char *store_index_subject(Store *s, uint32_t id) {
    StoreSubject *sj = s->subject_by_id->pdata[id];
    return sj->subject;
}

/* When the store becomes empty, or the dead front grows past half the array, cut it off. */
static void index_trim(Store *s) {
    if (s->msgs == 0) {
        g_array_set_size(s->entries, 0);
        s->base = s->last_seq + 1;
        s->first_seq = s->last_seq + 1;
        return;
    }
    uint64_t dead = s->first_seq - s->base;
    if (dead >= 1024 && dead > s->entries->len / 2) {
        g_array_remove_range(s->entries, 0, (guint)dead);
        s->base = s->first_seq;
    }
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
    if (s->msgs == 0) { /* empty: start the array at seq */
        g_array_set_size(s->entries, 0);
        s->base = seq;
        s->first_seq = seq;
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
    return &g_array_index(s->entries, StoreEntry, seq - s->base);
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

gboolean store_index_del(Store *s, uint64_t seq, StoreEntry *out) {
    StoreEntry *e = store_index_get(s, seq);
    if (e == NULL) return FALSE;
    *out = *e;
    entry_gone(s, e, seq);
    e->bytes = 0;
    if (seq == s->first_seq) {
        while (s->first_seq <= s->last_seq &&
               g_array_index(s->entries, StoreEntry, s->first_seq - s->base).bytes == 0)
            s->first_seq++;
    }
    index_trim(s);
    return TRUE;
}

void store_index_truncate(Store *s, uint64_t last) {
    while (s->last_seq > last) {
        uint64_t seq = s->last_seq;
        if (seq >= s->base && seq - s->base < s->entries->len) {
            StoreEntry *e = &g_array_index(s->entries, StoreEntry, seq - s->base);
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
    if (s->msgs > 0) {
        StoreEntry *e = store_index_get(s, s->last_seq);
        s->last_ts_ns = e ? e->ts_ns : s->last_ts_ns;
    }
    index_trim(s);
}

uint64_t store_index_floor(Store *s, uint64_t floor) {
    uint64_t dropped = 0;
    uint64_t end = MIN(floor, s->last_seq + 1);
    for (uint64_t seq = s->first_seq; seq < end && s->msgs > 0; seq++) {
        StoreEntry *e = &g_array_index(s->entries, StoreEntry, seq - s->base);
        if (e->bytes == 0) continue;
        StoreEntry copy = *e;
        entry_gone(s, e, seq);
        e->bytes = 0;
        s->be->released(s, seq, &copy);
        dropped++;
    }
    if (floor > s->last_seq + 1) s->last_seq = floor - 1;
    if (floor > s->first_seq) s->first_seq = floor;
    while (s->msgs > 0 && s->first_seq <= s->last_seq &&
           g_array_index(s->entries, StoreEntry, s->first_seq - s->base).bytes == 0)
        s->first_seq++;
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

/* Finding the next match for a wildcard: with few subjects, binary-search each matching
 * subject's list and take the smallest; with many, walk the entries from from_seq (the walk
 * stops at the first match, so a consumer on a busy filter pays little per message). */
uint64_t store_next_seq(Store *s, const char *filter, uint64_t from_seq) {
    uint64_t from = MAX(from_seq, s->first_seq);
    if (s->msgs == 0 || from > s->last_seq) return 0;
    if (filter_is_all(filter)) {
        for (uint64_t q = from; q <= s->last_seq; q++)
            if (g_array_index(s->entries, StoreEntry, q - s->base).bytes) return q;
        return 0;
    }
    if (filter_is_literal(filter)) {
        StoreSubject *sj = g_hash_table_lookup(s->subjects, filter);
        if (sj == NULL) return 0;
        size_t i = subj_lower_bound(sj, from);
        return i < sj->len ? sj->seqs[i] : 0;
    }
    if (g_hash_table_size(s->subjects) <= LIMIT_STORE_SUBJECTS_SCAN_COUNT) {
        uint64_t best = 0;
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, s->subjects);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            StoreSubject *sj = v;
            if (!store_filter_matches(filter, sj->subject)) continue;
            size_t i = subj_lower_bound(sj, from);
            if (i < sj->len && (best == 0 || sj->seqs[i] < best)) best = sj->seqs[i];
        }
        return best;
    }
    g_autoptr(GHashTable) memo = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (uint64_t q = from; q <= s->last_seq; q++) {
        StoreEntry *e = &g_array_index(s->entries, StoreEntry, q - s->base);
        if (e->bytes && id_matches(s, memo, filter, e->subject_id)) return q;
    }
    return 0;
}

uint64_t store_next_seq_with_headers(Store *s, uint64_t from_seq) {
    if (s->hdr_msgs == 0) return 0; /* the usual stream: no headers, no walk (restart: dedup) */
    for (uint64_t q = MAX(from_seq, s->first_seq); s->msgs > 0 && q <= s->last_seq; q++) {
        const StoreEntry *e = &g_array_index(s->entries, StoreEntry, q - s->base);
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
        return sj ? sj->seqs[sj->len - 1] : 0;
    }
    g_autoptr(GHashTable) memo = g_hash_table_new(g_direct_hash, g_direct_equal);
    bool all = filter_is_all(filter);
    for (uint64_t q = s->last_seq; q >= s->first_seq && q > 0; q--) {
        StoreEntry *e = &g_array_index(s->entries, StoreEntry, q - s->base);
        if (e->bytes && (all || id_matches(s, memo, filter, e->subject_id))) return q;
    }
    return 0;
}

StoreMsg *store_load_last(Store *s, const char *filter, GError **error) {
    uint64_t seq = last_seq_matching(s, filter);
    return seq ? store_load(s, seq, error) : NULL;
}

uint64_t store_count(Store *s, const char *filter, uint64_t from_seq) {
    uint64_t from = MAX(from_seq, s->first_seq);
    if (s->msgs == 0 || from > s->last_seq) return 0;
    if (filter_is_all(filter)) {
        if (from == s->first_seq) return s->msgs;
        uint64_t deleted = s->last_seq - s->first_seq + 1 - s->msgs;
        if (deleted == 0) return s->last_seq - from + 1;
        uint64_t n = 0; /* count the shorter side */
        if (from - s->first_seq < s->last_seq - from) {
            for (uint64_t q = s->first_seq; q < from; q++) n += g_array_index(s->entries, StoreEntry, q - s->base).bytes != 0;
            return s->msgs - n;
        }
        for (uint64_t q = from; q <= s->last_seq; q++) n += g_array_index(s->entries, StoreEntry, q - s->base).bytes != 0;
        return n;
    }
    if (filter_is_literal(filter)) {
        StoreSubject *sj = g_hash_table_lookup(s->subjects, filter);
        return sj ? sj->len - subj_lower_bound(sj, from) : 0;
    }
    uint64_t n = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        StoreSubject *sj = v;
        if (store_filter_matches(filter, sj->subject)) n += sj->len - subj_lower_bound(sj, from);
    }
    return n;
}

gboolean store_subject_info(Store *s, const char *subject, StoreSubjectInfo *out) {
    StoreSubject *sj = g_hash_table_lookup(s->subjects, subject);
    if (sj == NULL) return FALSE;
    out->msgs = subject_msgs(sj);
    out->first_seq = sj->seqs[sj->head];
    out->last_seq = sj->seqs[sj->len - 1];
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
    for (uint64_t q = s->first_seq; q <= s->last_seq; q++) {
        if (g_array_index(s->entries, StoreEntry, q - s->base).bytes == 0) {
            guint64 v = q;
            g_array_append_val(out, v);
        }
    }
}

uint64_t store_seq_for_time(Store *s, int64_t ts_ns) {
    if (s->msgs == 0) return 0;
    uint64_t lo = s->first_seq, hi = s->last_seq + 1; /* timestamps never decrease with seq */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (g_array_index(s->entries, StoreEntry, mid - s->base).ts_ns < ts_ns) lo = mid + 1;
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
        out->first_ts_ns = store_index_get(s, s->first_seq)->ts_ns;
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
            uint64_t kept = 0, q = top; /* find the keep-th newest live seq */
            for (; q >= s->first_seq; q--)
                if (g_array_index(s->entries, StoreEntry, q - s->base).bytes && ++kept == req->keep) break;
            return store_compact(s, q, error);
        }
        uint64_t floor = top + 1;
        if (req->seq > 0 && req->seq < floor) floor = req->seq;
        return store_compact(s, floor, error);
    }
    /* A filtered purge: collect the matching seqs, drop the newest `keep`, delete the rest. */
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
    g_assert_cmpuint(s->base, <=, s->first_seq);
    g_assert_cmpuint(s->base + s->entries->len, ==, s->msgs ? s->last_seq + 1 : s->base);
    uint64_t msgs = 0, bytes = 0, hdr_msgs = 0;
    for (uint64_t q = s->first_seq; s->msgs && q <= s->last_seq; q++) {
        StoreEntry *e = &g_array_index(s->entries, StoreEntry, q - s->base);
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
        g_assert_cmpuint(sj->head, <, sj->len);
        g_assert(s->subject_by_id->pdata[sj->id] == sj);
        for (size_t i = sj->head + 1; i < sj->len; i++) g_assert_cmpuint(sj->seqs[i - 1], <, sj->seqs[i]);
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
