/* test_store.c — the message store (store.h): both backends through the same cases, then
 * the file store's crash, corruption and full-disk behaviour through test_env's disk.
 *
 *   /store/{memory,file}/...   behaviour shared by both backends
 *   /store/file/...            restart, crashes (every TestCrashMode, many seeds), bit flips,
 *                              truncated and missing segments, disk full, failed fsync (EIO,
 *                              ENOSPC), sync interval
 *   /store/perf/...            appends per second on test_env (printed, not asserted); only
 *                              with -m perf, which `make bench` passes
 */
#include <string.h>

#include "crc32c.h"
#include "limits.h"
#include "store_index.h" /* white-box: the tests look at index entries */
#include "test_env.h"

typedef struct {
    TestEnv *te;
    Store *s;
    gboolean file;
    StoreConfig cfg;
} Fx;

static Store *fx_open(Fx *f) {
    if (!f->file) return store_mem_open(&f->te->env, &f->cfg);
    g_autoptr(GError) err = NULL;
    Store *s = store_file_open(&f->te->env, &f->cfg, &err);
    g_assert_no_error(err);
    g_assert_nonnull(s);
    store_check_invariants(s);
    return s;
}

static void fx_setup(Fx *f, gconstpointer data) {
    f->te = test_env_new(1);
    f->file = GPOINTER_TO_INT(data);
    f->cfg = (StoreConfig){.name = "T", .dir = "streams/T", .sync = STORE_SYNC_ALWAYS};
    f->s = fx_open(f);
}

static void fx_teardown(Fx *f, gconstpointer data) {
    if (f->s) {
        store_check_invariants(f->s);
        store_close(f->s);
    }
    test_env_free(f->te);
}

static void fx_reopen_store(TestEnv *te, StoreConfig *cfg, Store **s) {
    store_close(*s);
    g_autoptr(GError) err = NULL;
    *s = store_file_open(&te->env, cfg, &err);
    g_assert_no_error(err);
    store_check_invariants(*s);
}

static void fx_reopen(Fx *f) {
    store_close(f->s);
    f->s = fx_open(f);
}

static uint64_t put(Store *s, const char *subj, const char *data) {
    g_autoptr(GError) err = NULL;
    uint64_t seq = store_append(s, subj, strlen(subj), NULL, 0, data, strlen(data), 1000, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(seq, >, 0);
    return seq;
}

static void assert_msg(Store *s, uint64_t seq, const char *subj, const char *data) {
    g_autoptr(GError) err = NULL;
    g_autoptr(StoreMsg) m = store_load(s, seq, &err);
    g_assert_no_error(err);
    g_assert_nonnull(m);
    g_assert_cmpuint(m->seq, ==, seq);
    g_assert_cmpstr(m->subject, ==, subj);
    g_assert_cmpmem(m->data, m->data_len, data, strlen(data));
}

static uint64_t last_seq_of(Store *s, const char *filter) {
    g_autoptr(GError) err = NULL;
    g_autoptr(StoreMsg) m = store_load_last(s, filter, &err);
    g_assert_no_error(err);
    return m ? m->seq : 0;
}

/* --- shared behaviour --- */

static void test_basic(Fx *f, gconstpointer data) {
    Store *s = f->s;
    g_assert_cmpuint(put(s, "orders.created", "a"), ==, 1);
    g_assert_cmpuint(put(s, "orders.updated", "b"), ==, 2);
    g_assert_cmpuint(put(s, "invoices.x", "c"), ==, 3);
    g_assert_cmpuint(put(s, "orders.created", "d"), ==, 4);
    /* headers survive too */
    g_autoptr(GError) err = NULL;
    const char *hdr = "NATS/1.0\r\nA: b\r\n\r\n";
    uint64_t seq = store_append(s, "h.1", 3, hdr, strlen(hdr), "", 0, 77, &err);
    g_assert_no_error(err);
    g_assert_true(store_flush(s, &err));
    g_assert_cmpuint(store_durable_seq(s), ==, 5);
    {
        g_autoptr(StoreMsg) m = store_load(s, seq, &err);
        g_assert_cmpmem(m->hdr, m->hdr_len, hdr, strlen(hdr));
        g_assert_cmpuint(m->data_len, ==, 0);
        g_assert_cmpint(m->ts_ns, ==, 77);
    }
    assert_msg(s, 1, "orders.created", "a");
    assert_msg(s, 4, "orders.created", "d");
    g_assert_null(store_load(s, 99, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(last_seq_of(s, "orders.created"), ==, 4);
    g_assert_cmpuint(last_seq_of(s, "orders.*"), ==, 4);
    g_assert_cmpuint(last_seq_of(s, "orders.updated"), ==, 2);
    g_assert_cmpuint(last_seq_of(s, "invoices.>"), ==, 3);
    g_assert_cmpuint(last_seq_of(s, "nope"), ==, 0);
    g_assert_cmpuint(last_seq_of(s, NULL), ==, 5);
    g_assert_cmpuint(store_next_seq(s, "orders.*", 2), ==, 2);
    g_assert_cmpuint(store_next_seq(s, "orders.created", 2), ==, 4);
    g_assert_cmpuint(store_next_seq(s, ">", 5), ==, 5);
    g_assert_cmpuint(store_next_seq(s, "orders.>", 5), ==, 0);
    g_assert_cmpuint(store_count(s, "orders.*", 0), ==, 3);
    g_assert_cmpuint(store_count(s, "orders.created", 2), ==, 1);
    g_assert_cmpuint(store_count(s, NULL, 3), ==, 3);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 5);
    g_assert_cmpuint(st.first_seq, ==, 1);
    g_assert_cmpuint(st.last_seq, ==, 5);
    g_assert_cmpuint(st.num_subjects, ==, 4);
    g_assert_cmpuint(st.num_deleted, ==, 0);
    g_assert_cmpint(st.first_ts_ns, ==, 1000);
    g_assert_cmpint(st.last_ts_ns, ==, 77);
    g_assert_cmpuint(st.bytes, ==, store_msg_bytes(s, 14, 0, 1) * 2 + store_msg_bytes(s, 14, 0, 1) +
                                      store_msg_bytes(s, 10, 0, 1) + store_msg_bytes(s, 3, strlen(hdr), 0));
    StoreSubjectInfo si;
    g_assert_true(store_subject_info(s, "orders.created", &si));
    g_assert_cmpuint(si.msgs, ==, 2);
    g_assert_cmpuint(si.first_seq, ==, 1);
    g_assert_cmpuint(si.last_seq, ==, 4);
    g_assert_cmpuint(store_seq_for_time(s, 500), ==, 1);
    store_check_invariants(s);
}

static void count_subject(const char *subject, uint64_t msgs, void *arg) {
    g_string_append_printf(arg, "%s=%" G_GUINT64_FORMAT " ", subject, msgs);
}

static void test_delete(Fx *f, gconstpointer data) {
    Store *s = f->s;
    for (int i = 0; i < 10; i++) put(s, i % 2 ? "b" : "a", "x");
    g_autoptr(GError) err = NULL;
    g_assert_true(store_remove(s, 5, FALSE, &err));
    g_assert_false(store_remove(s, 5, FALSE, &err));
    g_assert_true(store_remove(s, 1, TRUE, &err));
    g_assert_false(store_remove(s, 42, FALSE, &err));
    g_assert_no_error(err);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 8);
    g_assert_cmpuint(st.first_seq, ==, 2);
    g_assert_cmpuint(st.num_deleted, ==, 1);
    g_assert_null(store_load(s, 5, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(store_next_seq(s, "a", 1), ==, 3);
    g_autoptr(GArray) del = g_array_new(FALSE, FALSE, sizeof(guint64));
    store_deleted(s, del);
    g_assert_cmpuint(del->len, ==, 1);
    g_assert_cmpuint(g_array_index(del, guint64, 0), ==, 5);
    g_autoptr(GString) subs = g_string_new("");
    store_subjects(s, NULL, count_subject, subs);
    g_assert_cmpstr(subs->str, ==, "a=3 b=5 ");
    g_assert_true(store_flush(s, &err));
    if (f->file) {
        fx_reopen(f);
        store_state(f->s, &st);
        g_assert_cmpuint(st.msgs, ==, 8);
        g_assert_cmpuint(st.num_deleted, ==, 1);
        g_assert_null(store_load(f->s, 5, &err));
    }
}

static void test_purge(Fx *f, gconstpointer data) {
    Store *s = f->s;
    g_autoptr(GError) err = NULL;
    for (int i = 1; i <= 20; i++) put(s, i % 2 ? "kv.odd" : "kv.even", i % 3 ? "x" : "y");
    StorePurge p = {.filter = "kv.odd", .keep = 2};
    g_assert_cmpuint(store_purge(s, &p, &err), ==, 8);
    g_assert_cmpuint(store_count(s, "kv.odd", 0), ==, 2);
    g_assert_cmpuint(store_next_seq(s, "kv.odd", 0), ==, 17);
    p = (StorePurge){.filter = "kv.*", .seq = 10};
    g_assert_cmpuint(store_purge(s, &p, &err), ==, 4); /* evens 2,4,6,8 */
    g_assert_cmpuint(store_count(s, NULL, 0), ==, 8);
    p = (StorePurge){.keep = 3};
    g_assert_cmpuint(store_purge(s, &p, &err), ==, 5);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 3);
    g_assert_cmpuint(st.first_seq, ==, 18);
    p = (StorePurge){.seq = 20};
    g_assert_cmpuint(store_purge(s, &p, &err), ==, 2);
    p = (StorePurge){0};
    g_assert_cmpuint(store_purge(s, &p, &err), ==, 1);
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 0);
    g_assert_cmpuint(st.first_seq, ==, 21);
    g_assert_cmpuint(st.last_seq, ==, 20);
    g_assert_cmpuint(st.num_subjects, ==, 0);
    g_assert_no_error(err);
    g_assert_true(store_flush(s, &err));
    if (f->file) {
        fx_reopen(f);
        s = f->s;
        store_state(s, &st);
        g_assert_cmpuint(st.msgs, ==, 0);
        g_assert_cmpuint(st.last_seq, ==, 20);
    }
    g_assert_cmpuint(put(s, "kv.new", "z"), ==, 21);
    g_assert_cmpuint(store_compact(s, 100, &err), ==, 1);
    store_state(s, &st);
    g_assert_cmpuint(st.first_seq, ==, 100);
    g_assert_cmpuint(st.last_seq, ==, 99);
    g_assert_cmpuint(put(s, "kv.new", "z"), ==, 100);
    g_assert_true(store_flush(s, &err));
    if (f->file) {
        fx_reopen(f);
        assert_msg(f->s, 100, "kv.new", "z");
        store_state(f->s, &st);
        g_assert_cmpuint(st.msgs, ==, 1);
        g_assert_cmpuint(st.first_seq, ==, 100);
    }
}

static void test_many_subjects(Fx *f, gconstpointer data) {
    Store *s = f->s; /* more subjects than LIMIT_STORE_SUBJECTS_SCAN_COUNT: the scan path */
    for (int i = 0; i < 500; i++) {
        g_autofree char *subj = g_strdup_printf("kv.%c.%d", i % 2 ? 'o' : 'e', i);
        put(s, subj, "v");
    }
    g_assert_cmpuint(store_next_seq(s, "kv.o.*", 1), ==, 2);
    g_assert_cmpuint(store_next_seq(s, "kv.*.7", 1), ==, 8);
    g_assert_cmpuint(store_count(s, "kv.e.>", 0), ==, 250);
    g_assert_cmpuint(last_seq_of(s, "kv.e.*"), ==, 499);
    StorePurge p = {.filter = "kv.o.>"};
    g_autoptr(GError) err = NULL;
    g_assert_cmpuint(store_purge(s, &p, &err), ==, 250);
    g_assert_cmpuint(store_count(s, NULL, 0), ==, 250);
}

/* --- file store: restart, crashes, corruption --- */

static Store *open_file(TestEnv *te, StoreConfig *cfg) {
    g_autoptr(GError) err = NULL;
    Store *s = store_file_open(&te->env, cfg, &err);
    g_assert_no_error(err);
    store_check_invariants(s);
    return s;
}

static char *payload_for(uint64_t round, uint64_t i) {
    return g_strdup_printf("payload-%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT "-%s", round, i,
                           i % 7 == 0 ? "a-longer-tail-to-vary-record-sizes-................" : "");
}

/* Append in flushed batches (each flush acknowledges), then some unflushed appends, crash,
 * reopen. Every acknowledged record must be there byte for byte; anything after is either
 * absent or exactly what was appended. */
static void crash_round(TestCrashMode mode, uint64_t seed) {
    TestEnv *te = test_env_new(seed);
    StoreConfig cfg = {.name = "C", .dir = "C", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 2048};
    Store *s = open_file(te, &cfg);
    GRand *r = g_rand_new_with_seed((guint32)seed);
    uint64_t acked = 0, appended = 0;
    int batches = g_rand_int_range(r, 1, 8);
    for (int b = 0; b < batches; b++) {
        int n = g_rand_int_range(r, 1, 20);
        for (int i = 0; i < n; i++) {
            g_autofree char *p = payload_for(seed, appended + 1);
            g_autofree char *subj = g_strdup_printf("s.%d", i % 3);
            g_assert_cmpuint(store_append(s, subj, strlen(subj), NULL, 0, p, strlen(p), 5, NULL), ==, ++appended);
        }
        if (g_rand_boolean(r)) store_remove(s, appended, FALSE, NULL); /* a delete in the batch */
        g_assert_true(store_flush(s, NULL));
        acked = store_durable_seq(s);
        g_assert_cmpuint(acked, ==, appended);
    }
    GHashTable *deleted = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (uint64_t q = 1; q <= acked; q++)
        if (store_index_get(s, q) == NULL) g_hash_table_add(deleted, GSIZE_TO_POINTER(q));
    int extra = g_rand_int_range(r, 0, 30); /* unacknowledged, maybe partly written */
    for (int i = 0; i < extra; i++) {
        g_autofree char *p = payload_for(seed, appended + 1);
        store_append(s, "s.x", 3, NULL, 0, p, strlen(p), 5, NULL);
        appended++;
    }
    test_env_crash_disk(te, mode);
    store_close(s); /* its fds died in the crash: nothing more reaches the disk */
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    for (uint64_t q = 1; q <= appended; q++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(StoreMsg) m = store_load(s, q, &err);
        g_assert_no_error(err);
        g_autofree char *p = payload_for(seed, q);
        if (q <= acked && !g_hash_table_contains(deleted, GSIZE_TO_POINTER(q))) {
            if (m == NULL) g_error("seed %" G_GUINT64_FORMAT " mode %d: acknowledged seq %" G_GUINT64_FORMAT " lost", seed, mode, q);
        }
        if (m) g_assert_cmpmem(m->data, m->data_len, p, strlen(p));
    }
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.last_seq, >=, acked);
    /* the store keeps working after recovery */
    uint64_t next = store_append(s, "after", 5, NULL, 0, "crash", 5, 9, NULL);
    g_assert_cmpuint(next, ==, st.last_seq + 1);
    g_assert_true(store_flush(s, NULL));
    store_check_invariants(s);
    store_close(s);
    g_hash_table_destroy(deleted);
    g_rand_free(r);
    test_env_free(te);
}

/* --- PREALLOCATION (store_file.c): a segment's file is its records, then zeros --- */

static gint64 file_len(TestEnv *te, const char *path) {
    int fd = env_file_open(&te->env, path, ENV_FILE_READ, NULL);
    g_assert_cmpint(fd, >=, 0);
    gint64 n = env_file_size(&te->env, fd, NULL);
    env_file_close(&te->env, fd);
    return n;
}

/* Where the records of a one-segment store end, computed from the newest message: its record
 * (36 + subject + payload bytes) and the LAST record (36) its flush ended with. */
static uint64_t records_end(Store *s, const char *subj, const char *data) {
    StoreState st;
    store_state(s, &st);
    uint64_t off = store_index_get(s, st.last_seq)->loc & 0xFFFFFFFFu;
    return off + 36 + strlen(subj) + strlen(data) + 36;
}

/* (a) A crash leaves the active segment with its zeroed preallocated tail: the reopen finds
 * the end by the records, reports nothing (no warning, nothing damaged or lost), keeps every
 * message and its stored bytes, and the next append goes right after the last record. */
static void test_prealloc_zero_tail(void) {
    TestEnv *te = test_env_new(11);
    StoreConfig cfg = {.name = "P", .dir = "P", .sync = STORE_SYNC_ALWAYS};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 40; i++) {
        g_autofree char *p = payload_for(0, i);
        put(s, "p.q", p);
        if (i % 4 == 0) g_assert_true(store_flush(s, NULL));
    }
    g_autofree char *p40 = payload_for(0, 40);
    uint64_t end = records_end(s, "p.q", p40);
    g_assert_cmpint(file_len(te, "P/0000000001.seg"), >, (gint64)end); /* preallocated */
    g_assert_cmpint(file_len(te, "P/0000000001.seg") % 4096, ==, 0);
    StoreState before;
    store_state(s, &before);
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED); /* nothing unsynced: only the close is lost */
    store_close(s);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_autofree char *log = test_env_take_log(te);
    g_assert_null(strstr(log, "[WRN]"));
    g_assert_null(strstr(log, "[ERR]"));
    g_assert_cmpuint(store_damaged(s), ==, 0);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 40);
    g_assert_cmpuint(st.last_seq, ==, 40);
    g_assert_cmpuint(st.bytes, ==, before.bytes); /* messages are counted, not file lengths */
    for (int i = 1; i <= 40; i++) {
        g_autofree char *p = payload_for(0, i);
        assert_msg(s, i, "p.q", p);
    }
    g_assert_cmpint(file_len(te, "P/0000000001.seg"), >, (gint64)end); /* nothing was cut */
    g_assert_cmpuint(put(s, "p.q", "after"), ==, 41);
    g_assert_cmpuint(store_index_get(s, 41)->loc & 0xFFFFFFFFu, ==, end);
    g_assert_true(store_flush(s, NULL));
    store_check_invariants(s);
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    store_close(s);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_free(log);
    log = test_env_take_log(te);
    g_assert_null(strstr(log, "[WRN]"));
    assert_msg(s, 41, "p.q", "after");
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 41);
    store_close(s);
    test_env_free(te);
}

/* (b) A torn record inside the preallocated area (the start of a record, then zeros) is a
 * torn tail as before: logged and cut off, nothing acknowledged lost, no seq reported lost,
 * and appends continue where the records end. */
static void test_prealloc_torn(void) {
    TestEnv *te = test_env_new(12);
    StoreConfig cfg = {.name = "T", .dir = "T", .sync = STORE_SYNC_ALWAYS};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 10; i++) put(s, "t", "torn-test");
    g_assert_true(store_flush(s, NULL));
    uint64_t end = records_end(s, "t", "torn-test");
    uint64_t last = store_index_get(s, 10)->loc & 0xFFFFFFFFu;
    /* the first 20 bytes of record 10, again at the end: a record whose write was cut */
    int fd = env_file_open(&te->env, "T/0000000001.seg", ENV_FILE_WRITE, NULL);
    uint8_t head[20];
    g_assert_cmpint(env_file_pread(&te->env, fd, head, sizeof head, last, NULL), ==, sizeof head);
    g_assert_cmpint(env_file_pwrite(&te->env, fd, head, sizeof head, end, NULL), ==, sizeof head);
    g_assert_true(env_file_sync(&te->env, fd, NULL));
    env_file_close(&te->env, fd);
    g_assert_cmpint(file_len(te, "T/0000000001.seg"), >, (gint64)(end + sizeof head));
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    store_close(s);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "truncating"));
    g_assert_null(strstr(log, "lost to corruption"));
    g_assert_cmpuint(store_damaged(s), ==, 0);
    g_assert_cmpint(file_len(te, "T/0000000001.seg"), ==, (gint64)end);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 10);
    for (int i = 1; i <= 10; i++) assert_msg(s, i, "t", "torn-test");
    g_assert_cmpuint(put(s, "t", "next"), ==, 11);
    g_assert_cmpuint(store_index_get(s, 11)->loc & 0xFFFFFFFFu, ==, end);
    g_assert_true(store_flush(s, NULL));
    g_assert_cmpint(file_len(te, "T/0000000001.seg"), >, (gint64)end); /* preallocated again */
    store_close(s);
    s = open_file(te, &cfg);
    assert_msg(s, 11, "t", "next");
    store_close(s);
    test_env_free(te);
}

/* (c) Sealed segments and a clean close keep no preallocated bytes: every file ends where its
 * records do (at rest, `du` and the folder's size tell the truth). */
static void test_prealloc_trimmed(void) {
    TestEnv *te = test_env_new(13);
    StoreConfig cfg = {.name = "R", .dir = "R", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 8192};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 300; i++) {
        g_autofree char *p = payload_for(1, i);
        put(s, "r.s", p);
        if (i % 7 == 0) g_assert_true(store_flush(s, NULL));
    }
    g_assert_true(store_flush(s, NULL));
    g_autofree char *p300 = payload_for(1, 300);
    uint64_t end = records_end(s, "r.s", p300);
    uint32_t active_no = (uint32_t)(store_index_get(s, 300)->loc >> 32);
    g_assert_cmpuint(active_no, >, 2);
    g_autofree char *active_path = g_strdup_printf("R/%010u.seg", active_no);
    g_assert_cmpint(file_len(te, active_path), >, (gint64)end);
    /* sealed: each ends with its last record, a LAST or MSG (whose CRC is not 4 zero bytes) */
    for (uint32_t no = 1; no < active_no; no++) {
        g_autofree char *path = g_strdup_printf("R/%010u.seg", no);
        if (!env_path_exists(&te->env, path)) continue;
        gint64 len = file_len(te, path);
        g_assert_cmpint(len, <, 8192);
        int fd = env_file_open(&te->env, path, ENV_FILE_READ, NULL);
        uint8_t tail[4];
        g_assert_cmpint(env_file_pread(&te->env, fd, tail, 4, (uint64_t)len - 4, NULL), ==, 4);
        env_file_close(&te->env, fd);
        g_assert_true(tail[0] | tail[1] | tail[2] | tail[3]);
    }
    store_close(s);
    g_assert_cmpint(file_len(te, active_path), ==, (gint64)end);
    s = open_file(te, &cfg);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 300);
    store_close(s);
    test_env_free(te);
}

static void test_crash(gconstpointer data) {
    TestCrashMode mode = GPOINTER_TO_INT(data);
    const char *only = g_getenv("STORE_SEED");
    if (only) { crash_round(mode, g_ascii_strtoull(only, NULL, 10)); return; }
    for (uint64_t seed = 1; seed <= 200; seed++) crash_round(mode, seed);
}

static void test_bitflip(void) {
    TestEnv *te = test_env_new(7);
    /* a small read cache: record 50 is on disk only (read-cache covers cached records) */
    StoreConfig cfg = {.name = "B", .dir = "B", .sync = STORE_SYNC_ALWAYS, .read_cache_bytes_max = 1024};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 100; i++) {
        g_autofree char *p = payload_for(0, i);
        put(s, "b", p);
    }
    g_assert_true(store_flush(s, NULL));
    /* A flip under a running store: the load reports it, never returns the bad bytes. */
    uint64_t loc50 = store_index_get(s, 50)->loc & 0xFFFFFFFFu;
    test_env_flip_bit(te, "B/0000000001.seg", loc50 + 40, 3);
    g_autoptr(GError) err = NULL;
    g_assert_null(store_load(s, 50, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_IO);
    g_clear_error(&err);
    {
        g_autofree char *p49 = payload_for(0, 49);
        assert_msg(s, 49, "b", p49);
    }
    store_close(s);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "[WRN]"));
    g_assert_nonnull(strstr(log, "checksum mismatch"));
    g_assert_nonnull(strstr(log, "seq 50..50 lost to corruption"));
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 99); /* only the damaged record is gone */
    for (int i = 1; i <= 100; i++) {
        g_autofree char *p = payload_for(0, i);
        if (i == 50) g_assert_null(store_load(s, i, NULL));
        else assert_msg(s, i, "b", p);
    }
    g_assert_cmpuint(put(s, "b", "new"), ==, 101); /* 50 is never handed out again */
    store_close(s);
    test_env_free(te);
}

/* A bit flipped at rest inside one record of a segment with intact records after it, in
 * each field of the record (THE RECORD in store_file.c): after reopening, every other
 * acknowledged record is there byte for byte, the damaged one is absent and reported, and
 * the next append gets a seq above every seq ever acknowledged. Victims: a record in the
 * middle of a segment, the first after a SEGMENT record, the newest of all (only the LAST
 * high-water mark after it tells its seq), and non-message records. */
typedef struct {
    const char *name;
    int64_t victim; /* > 0: that seq; 0: the SEGMENT record of its segment; -1: the last LAST */
    uint32_t at;    /* byte offset inside the victim record (payload: past the header) */
    int bit;
} FlipCase;

/* Remove every index file (NNNNNNNNNN.idx) of a store folder: its next open scans. */
static void drop_indexes(TestEnv *te, const char *dir) {
    g_auto(GStrv) names = env_dir_list(&te->env, dir, NULL);
    for (int i = 0; names && names[i]; i++) {
        if (!g_str_has_suffix(names[i], ".idx")) continue;
        g_autofree char *p = g_strdup_printf("%s/%s", dir, names[i]);
        g_assert_true(env_path_remove(&te->env, p, NULL));
    }
}

/* indexed = FALSE: the index files are removed before the reopen, so recovery scans every
 * segment and must find and report the damage. indexed = TRUE: a damaged sealed segment is
 * replayed from its index (INDEX FILES in store_file.c): the damage is found when the
 * message is loaded (an error, never the altered bytes) and nothing else changes. */
static gboolean flip_round(const FlipCase *c, uint64_t seed, gboolean indexed) {
    TestEnv *te = test_env_new(seed);
    StoreConfig cfg = {.name = "X", .dir = "X", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 2048,
                       .read_cache_bytes_max = 512};
    Store *s = open_file(te, &cfg);
    uint64_t acked = 0;
    for (int b = 0; acked < 60; b++) { /* batches of 1..5: several group commits per segment */
        for (int i = 0; i <= b % 5; i++) {
            g_autofree char *p = payload_for(seed, acked + 1);
            put(s, "x.y", p);
            acked++;
        }
        g_assert_true(store_flush(s, NULL));
    }
    g_assert_cmpuint(store_durable_seq(s), ==, acked);
    uint64_t victim = c->victim > 0 ? (uint64_t)c->victim : c->victim == 0 ? 31 : acked;
    uint64_t loc = store_index_get(s, victim)->loc;
    uint32_t seg = (uint32_t)(loc >> 32);
    uint64_t off = loc & 0xFFFFFFFFu;
    if (c->victim == 0) off = 0; /* the SEGMENT record of seq 31's segment */
    if (c->victim == -1) {       /* the LAST after the newest record */
        g_autofree char *p = payload_for(seed, victim);
        off += 36 + 3 + strlen(p);
    }
    store_close(s);
    g_autofree char *path = g_strdup_printf("X/%010u.seg", seg);
    g_autofree char *ipath = g_strdup_printf("X/%010u.idx", seg);
    if (!indexed) drop_indexes(te, "X");
    gboolean under_index = env_path_exists(&te->env, ipath);
    test_env_flip_bit(te, path, off + c->at, c->bit);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_autofree char *log = test_env_take_log(te);
    gboolean msg_hit = c->victim > 0 || c->victim == -2;
    if (under_index) { /* nothing read the damage at open: every message is listed */
        for (uint64_t q = 1; q <= acked; q++) {
            g_autoptr(GError) err = NULL;
            g_autoptr(StoreMsg) m = store_load(s, q, &err);
            if (msg_hit && q == victim) {
                g_assert_null(m);
                g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_IO);
                continue;
            }
            g_assert_no_error(err);
            g_assert_nonnull(m);
            g_autofree char *p = payload_for(seed, q);
            g_assert_cmpmem(m->data, m->data_len, p, strlen(p));
        }
        g_assert_cmpuint(put(s, "x.y", "next"), ==, acked + 1);
        g_assert_true(store_flush(s, NULL));
        store_check_invariants(s);
        store_close(s);
        test_env_free(te);
        return TRUE;
    }
    if (g_test_verbose()) g_test_message("%s: flipped bit %d at %s:%" G_GUINT64_FORMAT "\n%s", c->name, c->bit, path, off + c->at, log);
    for (uint64_t q = 1; q <= acked; q++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(StoreMsg) m = store_load(s, q, &err);
        g_assert_no_error(err);
        if (msg_hit && q == victim) {
            if (m) g_error("%s: the damaged seq %" G_GUINT64_FORMAT " came back", c->name, q);
            continue;
        }
        if (m == NULL) g_error("%s: acknowledged seq %" G_GUINT64_FORMAT " lost\n%s", c->name, q, log);
        g_autofree char *p = payload_for(seed, q);
        g_assert_cmpstr(m->subject, ==, "x.y");
        g_assert_cmpmem(m->data, m->data_len, p, strlen(p));
    }
    g_autofree char *want = g_strdup_printf("seq %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT " lost to corruption", victim, victim);
    if (msg_hit && !strstr(log, want)) g_error("%s: the log does not say '%s':\n%s", c->name, want, log);
    if (!msg_hit) g_assert_nonnull(strstr(log, "[WRN]"));
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.last_seq, >=, acked);
    g_assert_cmpuint(st.msgs, ==, msg_hit ? acked - 1 : acked);
    g_assert_cmpuint(put(s, "x.y", "next"), >, acked);
    g_assert_true(store_flush(s, NULL));
    store_check_invariants(s);
    store_close(s);
    /* and once more: the damage stays skipped, nothing is reported twice as new data */
    s = open_file(te, &cfg);
    g_free(test_env_take_log(te));
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, msg_hit ? acked : acked + 1);
    g_assert_cmpuint(put(s, "x.y", "again"), >, acked + 1);
    store_close(s);
    test_env_free(te);
    return FALSE;
}

static void test_bitflip_middle(void) {
    static const FlipCase cases[] = {
        {"payload", 20, 36 + 3 + 5, 2},
        {"payload-last-byte", 20, 36 + 3 + 12, 7},
        {"magic", 20, 1, 0},
        {"kind", 20, 4, 1},
        {"subject-length", 20, 6, 0},
        {"header-length-high", 20, 11, 7},
        {"data-length-low", 20, 12, 0},
        {"data-length-mid", 20, 13, 3},
        {"data-length-high", 20, 15, 6},
        {"seq-low", 20, 16, 0},
        {"seq-high", 20, 23, 5},
        {"timestamp", 20, 25, 4},
        {"crc", 20, 36 + 3 + 14, 0},
        {"first-of-batch", 16, 12, 1},
        {"newest-payload", -2, 36 + 3 + 5, 2},
        {"newest-length", -2, 13, 0},
        {"newest-seq", -2, 16, 3},
        {"segment-record", 0, 24, 0},
        {"last-marker", -1, 16, 0},
        {"last-marker-length", -1, 14, 2},
    };
    guint under_index = 0;
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        FlipCase c = cases[i];
        uint64_t seed = 100 + i;
        if (c.victim == -2) { /* the newest record itself */
            c.victim = 60;
            /* payload offsets of "newest" are relative to its own payload */
        }
        if (g_test_verbose()) g_test_message("case %s", c.name);
        g_assert_false(flip_round(&c, seed, FALSE));
        under_index += flip_round(&c, seed, TRUE);
    }
    g_assert_cmpuint(under_index, >=, 10); /* most victims lie in sealed, indexed segments */
}

/* A record as store_file.c writes it (THE RECORD), to hide inside a payload. */
static GByteArray *encode_record(int kind, uint64_t seq, const char *subject, const char *data) {
    size_t sl = strlen(subject), dl = strlen(data), size = 36 + sl + dl;
    GByteArray *b = g_byte_array_sized_new((guint)size);
    g_byte_array_set_size(b, (guint)size);
    uint8_t *p = b->data;
    memset(p, 0, size);
    const uint32_t magic = 0x314A4D52u;
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(magic >> (8 * i));
    p[4] = (uint8_t)kind;
    p[6] = (uint8_t)sl;
    for (int i = 0; i < 4; i++) p[12 + i] = (uint8_t)(dl >> (8 * i));
    for (int i = 0; i < 8; i++) p[16 + i] = (uint8_t)(seq >> (8 * i));
    memcpy(p + 32, subject, sl);
    memcpy(p + 32 + sl, data, dl);
    uint32_t crc = crc32c(p, size - 4);
    for (int i = 0; i < 4; i++) p[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    return b;
}

/* Resynchronising must not take a valid record hidden in a payload for the real thing
 * (a message at seq 1000, a deletion of seq 5), and two damaged records close together
 * lose those two only. */
static void test_bitflip_resync(void) {
    for (int variant = 0; variant < 3; variant++) {
        TestEnv *te = test_env_new(200 + variant);
        StoreConfig cfg = {.name = "E", .dir = "E", .sync = STORE_SYNC_ALWAYS, .read_cache_bytes_max = 512};
        Store *s = open_file(te, &cfg);
        g_autoptr(GByteArray) evil = variant == 0 ? encode_record(1, 1000, "evil", "phantom")
                                                  : encode_record(2, 5, "", "");
        for (uint64_t q = 1; q <= 40; q++) {
            g_autofree char *p = payload_for(7, q);
            if (q == 20 && variant < 2) /* a payload that is a whole valid record, then more */
                g_assert_cmpuint(store_append(s, "x.y", 3, NULL, 0, evil->data, evil->len, 1000, NULL), ==, q);
            else
                put(s, "x.y", p);
            if (q % 3 == 0) g_assert_true(store_flush(s, NULL));
        }
        g_assert_true(store_flush(s, NULL));
        uint64_t at20 = store_index_get(s, 20)->loc & 0xFFFFFFFFu, at22 = store_index_get(s, 22)->loc & 0xFFFFFFFFu;
        store_close(s);
        test_env_flip_bit(te, "E/0000000001.seg", at20 + 13, 2); /* record 20's payload length */
        if (variant == 2) test_env_flip_bit(te, "E/0000000001.seg", at22 + 40, 1);
        g_free(test_env_take_log(te));
        s = open_file(te, &cfg);
        g_autofree char *log = test_env_take_log(te);
        if (g_test_verbose()) g_test_message("variant %d\n%s", variant, log);
        for (uint64_t q = 1; q <= 40; q++) {
            g_autoptr(StoreMsg) m = store_load(s, q, NULL);
            if (q == 20 || (variant == 2 && q == 22)) {
                g_assert_null(m);
                continue;
            }
            if (m == NULL) g_error("variant %d: seq %" G_GUINT64_FORMAT " lost\n%s", variant, q, log);
            g_autofree char *p = payload_for(7, q);
            g_assert_cmpmem(m->data, m->data_len, p, strlen(p));
        }
        StoreState st;
        store_state(s, &st);
        g_assert_cmpuint(st.last_seq, ==, 40); /* no phantom seq 1000 */
        g_assert_cmpuint(st.msgs, ==, variant == 2 ? 38 : 39);
        g_assert_nonnull(strstr(log, "seq 20..20 lost to corruption"));
        if (variant == 2) g_assert_nonnull(strstr(log, "seq 22..22 lost to corruption"));
        g_assert_cmpuint(put(s, "x.y", "next"), ==, 41);
        store_close(s);
        test_env_free(te);
    }
}

static void test_truncated_and_missing(void) {
    TestEnv *te = test_env_new(8);
    Env *env = &te->env;
    StoreConfig cfg = {.name = "M", .dir = "M", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 1024};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 100; i++) {
        put(s, "m", "0123456789012345678901234567890123456789");
        g_assert_true(store_flush(s, NULL));
    }
    store_close(s);
    g_auto(GStrv) all = env_dir_list(env, "M", NULL);
    g_autoptr(GPtrArray) segs = g_ptr_array_new(); /* the segments, not their index files */
    for (char **n = all; *n != NULL; n++)
        if (g_str_has_suffix(*n, ".seg")) g_ptr_array_add(segs, *n);
    char **names = (char **)segs->pdata;
    guint nseg = segs->len;
    g_assert_cmpuint(nseg, >=, 5);
    /* cut the last segment mid-record (its last record is the LAST high-water mark of the
     * final write: the torn tail is only that), remove a middle one */
    g_autofree char *lastp = g_strdup_printf("M/%s", names[nseg - 1]);
    int fd = env_file_open(env, lastp, ENV_FILE_WRITE, NULL);
    gint64 size = env_file_size(env, fd, NULL);
    env_file_truncate(env, fd, (uint64_t)size - 5, NULL);
    env_file_sync(env, fd, NULL);
    env_file_close(env, fd);
    g_autofree char *midp = g_strdup_printf("M/%s", names[nseg / 2]);
    g_assert_true(env_path_remove(env, midp, NULL));
    s = open_file(te, &cfg);
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "short record"));
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.last_seq, ==, 100);
    g_assert_cmpuint(st.first_seq, ==, 1);
    g_assert_cmpuint(st.msgs, <, 100);
    g_assert_cmpuint(st.msgs, >=, 80); /* one segment (~6 records) gone */
    g_assert_nonnull(store_index_get(s, 100)); /* the torn marker took no message with it */
    for (uint64_t q = 1; q <= 100; q++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(StoreMsg) m = store_load(s, q, &err);
        g_assert_no_error(err);
        if (m) g_assert_cmpmem(m->data, m->data_len, "0123456789012345678901234567890123456789", 40);
    }
    g_assert_cmpuint(put(s, "m", "again"), ==, 101);
    store_close(s);
    test_env_free(te);
}

static void test_disk_full(void) {
    TestEnv *te = test_env_new(9);
    StoreConfig cfg = {.name = "F", .dir = "F", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 4096};
    Store *s = open_file(te, &cfg);
    for (int i = 0; i < 10; i++) put(s, "f", "acked");
    g_assert_true(store_flush(s, NULL));
    test_env_set_disk_full(te, TRUE);
    store_remove(s, 2, FALSE, NULL);
    put(s, "f", "doomed");
    g_autoptr(GError) err = NULL;
    g_assert_false(store_flush(s, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC);
    g_clear_error(&err);
    store_check_invariants(s);
    g_assert_cmpuint(store_durable_seq(s), ==, 10);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.last_seq, ==, 10); /* rolled back */
    /* appends that need a new segment fail at once */
    uint64_t n = 0;
    for (int i = 0; i < 200 && n == 0; i++) {
        char big[256];
        memset(big, 'z', sizeof big);
        uint64_t seq = store_append(s, "f", 1, NULL, 0, big, sizeof big, 1, &err);
        if (seq == 0) n = 1;
    }
    g_assert_cmpuint(n, ==, 1);
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOSPC);
    g_clear_error(&err);
    store_check_invariants(s);
    test_env_set_disk_full(te, FALSE);
    uint64_t seq = put(s, "f", "later");
    g_assert_true(store_flush(s, NULL));
    assert_msg(s, seq, "f", "later");
    store_close(s);
    s = open_file(te, &cfg);
    for (uint64_t q = 1; q <= 10; q++)
        if (q != 2) assert_msg(s, q, "f", "acked");
    g_assert_null(store_load(s, 2, NULL)); /* the delete was retried and made it */
    assert_msg(s, seq, "f", "later");
    store_close(s);
    test_env_free(te);
}

/* A failed fdatasync (EIO or ENOSPC) is fatal for the store until it is reopened: the batch is
 * never made durable, nothing after it is accepted, and what was durable survives. The disk
 * drops the batch's pages and forgets they were dirty (fsyncgate), so a store that retried the
 * fsync would see it succeed and acknowledge data that is gone: the reopen below catches it. */
static void test_sync_fails(gconstpointer data) {
    int code = GPOINTER_TO_INT(data);
    TestEnv *te = test_env_new(12);
    StoreConfig cfg = {.name = "Y", .dir = "Y", .sync = STORE_SYNC_ALWAYS};
    Store *s = open_file(te, &cfg);
    for (int i = 0; i < 3; i++) put(s, "y", "acked");
    g_assert_true(store_flush(s, NULL));
    g_assert_cmpuint(store_durable_seq(s), ==, 3);
    g_free(test_env_take_log(te));

    put(s, "y", "doomed");
    put(s, "y", "doomed");
    test_env_fail_syncs(te, ".seg", code, 1);
    g_autoptr(GError) err = NULL;
    g_assert_false(store_flush(s, &err));
    g_assert_error(err, G_FILE_ERROR, code);
    g_clear_error(&err);
    g_assert_cmpuint(store_durable_seq(s), ==, 3); /* the batch is never acknowledged */
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.last_seq, ==, 3);
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "[ERR] store Y: fsync of segment 1 failed"));
    store_check_invariants(s);

    /* failed: no more writes (a second fsync would succeed and prove nothing), reads work */
    g_assert_cmpuint(store_append(s, "y", 1, NULL, 0, "x", 1, 1, &err), ==, 0);
    g_assert_error(err, G_FILE_ERROR, code);
    g_assert_nonnull(strstr(err->message, "writes refused until restart"));
    g_clear_error(&err);
    g_assert_false(store_dirty(s));
    for (uint64_t q = 1; q <= 3; q++) assert_msg(s, q, "y", "acked");
    store_check_invariants(s);

    /* reopened (a restart): what was durable is there, the failed batch is not, writes work */
    store_close(s);
    s = open_file(te, &cfg);
    for (uint64_t q = 1; q <= 3; q++) assert_msg(s, q, "y", "acked");
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 3);
    g_assert_cmpuint(st.last_seq, ==, 3);
    uint64_t seq = put(s, "y", "later");
    g_assert_true(store_flush(s, NULL));
    g_assert_cmpuint(store_durable_seq(s), ==, seq);
    store_close(s);
    s = open_file(te, &cfg);
    assert_msg(s, seq, "y", "later");
    store_close(s);
    test_env_free(te);
}

static void test_segments_removed(void) {
    TestEnv *te = test_env_new(10);
    Env *env = &te->env;
    StoreConfig cfg = {.name = "R", .dir = "R", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 512};
    Store *s = open_file(te, &cfg);
    for (int i = 0; i < 100; i++) put(s, "r", "0123456789");
    g_assert_true(store_flush(s, NULL));
    g_auto(GStrv) before = env_dir_list(env, "R", NULL);
    g_assert_cmpuint(g_strv_length(before), >, 5);
    g_assert_cmpuint(store_compact(s, 95, NULL), ==, 94);
    g_assert_true(store_flush(s, NULL));
    g_auto(GStrv) after = env_dir_list(env, "R", NULL);
    g_assert_cmpuint(g_strv_length(after), <=, 2);
    store_check_invariants(s);
    store_close(s);
    s = open_file(te, &cfg);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 6);
    g_assert_cmpuint(st.first_seq, ==, 95);
    store_close(s);
    test_env_free(te);
}

static void test_sync_interval(void) {
    TestEnv *te = test_env_new(11);
    StoreConfig cfg = {.name = "I", .dir = "I", .sync = STORE_SYNC_INTERVAL, .sync_interval_ns = 1000000};
    Store *s = open_file(te, &cfg);
    put(s, "i", "one");
    g_assert_true(store_flush(s, NULL));
    g_assert_cmpuint(store_durable_seq(s), ==, 1); /* acknowledged after the write */
    test_env_advance(te, 1000000);                 /* the timer's fsync */
    put(s, "i", "two");
    g_assert_true(store_flush(s, NULL));
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED); /* before the next tick */
    store_close(s);
    s = open_file(te, &cfg);
    assert_msg(s, 1, "i", "one");
    g_assert_null(store_load(s, 2, NULL)); /* what SYNC_INTERVAL loses at a power cut */
    store_close(s);
    test_env_free(te);
}


/* --- the read cache (store_file.c, READ CACHE) --- */

static char *sized_payload(uint64_t seq) {
    size_t n = seq == 77 ? 100000 : (size_t)(seq * 37 % 3000); /* 77: bigger than a read-ahead block */
    char *p = g_malloc(n + 1);
    for (size_t i = 0; i < n; i++) p[i] = (char)('a' + (seq + i) % 26);
    p[n] = '\0';
    return p;
}

static void assert_sized(Store *s, uint64_t seq) {
    g_autofree char *p = sized_payload(seq);
    assert_msg(s, seq, "c", p);
}

static uint64_t loc_off(Store *s, uint64_t seq) { return store_index_get(s, seq)->loc & 0xFFFFFFFFu; }

/* Which tier served a record is observable through a bit flip on disk: a cached record still
 * loads, an uncached one reports the corruption. */
static void test_read_cache(void) {
    TestEnv *te = test_env_new(21);
    StoreConfig cfg = {.name = "C", .dir = "C", .sync = STORE_SYNC_ALWAYS, .read_cache_bytes_max = 8192};
    Store *s = open_file(te, &cfg);
    for (uint64_t q = 1; q <= 200; q++) {
        g_autofree char *p = sized_payload(q);
        g_assert_cmpuint(put(s, "c", p), ==, q);
        if (q % 3 == 0) g_assert_true(store_flush(s, NULL));
        store_check_invariants(s);
    }
    assert_sized(s, 200); /* 1. still in the write buffer */
    g_assert_true(store_flush(s, NULL));
    /* every record, in order and backwards: tail, read-ahead (records cut by a block's end),
     * and the record bigger than a block */
    for (uint64_t q = 1; q <= 200; q++) assert_sized(s, q);
    for (uint64_t q = 200; q >= 1; q--) assert_sized(s, q);
    /* eviction: the newest record is served from the tail, an old one from the disk (once
     * the read-ahead block has moved away from it) */
    assert_sized(s, 150);
    test_env_flip_bit(te, "C/0000000001.seg", loc_off(s, 200) + 40, 1);
    test_env_flip_bit(te, "C/0000000001.seg", loc_off(s, 10) + 40, 1);
    assert_sized(s, 200);
    g_autoptr(GError) err = NULL;
    g_assert_null(store_load(s, 10, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_IO);
    g_clear_error(&err);
    assert_sized(s, 11); /* from the read-ahead block read for 10 */
    g_free(test_env_take_log(te));
    /* delete and purge: the index says the seq is gone, whatever the cache holds */
    g_assert_true(store_remove(s, 199, FALSE, NULL));
    g_assert_true(store_remove(s, 12, TRUE, NULL));
    g_assert_null(store_load(s, 199, &err));
    g_assert_no_error(err);
    g_assert_null(store_load(s, 12, &err));
    g_assert_no_error(err);
    StorePurge all = {0};
    g_assert_cmpuint(store_purge(s, &all, NULL), ==, 198);
    g_assert_true(store_flush(s, NULL));
    for (uint64_t q = 1; q <= 200; q++) g_assert_null(store_load(s, q, NULL));
    /* a rolled-back flush (disk full): its records never reach the cache; the reused seq
     * reads back as what was appended the second time */
    test_env_set_disk_full(te, TRUE);
    put(s, "c", "doomed");
    g_assert_false(store_flush(s, NULL));
    test_env_set_disk_full(te, FALSE);
    g_free(test_env_take_log(te));
    g_assert_null(store_load(s, 201, NULL));
    g_assert_cmpuint(put(s, "c", "fresh"), ==, 201);
    assert_msg(s, 201, "c", "fresh");
    g_assert_true(store_flush(s, NULL));
    assert_msg(s, 201, "c", "fresh");
    store_check_invariants(s);
    store_close(s);
    /* the cache does not outlive the process: what a power cut lost is gone after reopen */
    StoreConfig never = {.name = "N", .dir = "N", .sync = STORE_SYNC_NEVER};
    s = open_file(te, &never);
    put(s, "n", "synced");
    store_close(s); /* close fsyncs */
    s = open_file(te, &never);
    put(s, "n", "lost");
    g_assert_true(store_flush(s, NULL)); /* written, not fsynced: in the tail cache */
    assert_msg(s, 2, "n", "lost");
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    store_close(s);
    g_free(test_env_take_log(te));
    s = open_file(te, &never);
    assert_msg(s, 1, "n", "synced");
    g_assert_null(store_load(s, 2, NULL));
    g_assert_cmpuint(put(s, "n", "again"), ==, 2);
    g_assert_true(store_flush(s, NULL));
    assert_msg(s, 2, "n", "again");
    store_close(s);
    test_env_free(te);
}

/* Segments roll under the tail cache, and removed segments take their cached bytes along. */
static void test_read_cache_segments(void) {
    TestEnv *te = test_env_new(22);
    StoreConfig cfg = {.name = "S", .dir = "S", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 2048,
                       .read_cache_bytes_max = 1024};
    Store *s = open_file(te, &cfg);
    for (uint64_t q = 1; q <= 300; q++) {
        g_autofree char *p = g_strdup_printf("message-%" G_GUINT64_FORMAT, q);
        put(s, "s", p);
        g_assert_true(store_flush(s, NULL));
        if (q % 10 == 0) {
            g_autofree char *o = g_strdup_printf("message-%" G_GUINT64_FORMAT, q / 2);
            assert_msg(s, q / 2, "s", o); /* an older segment through read-ahead */
            assert_msg(s, q, "s", p);     /* the tail */
        }
        store_check_invariants(s);
    }
    g_assert_cmpuint(store_compact(s, 290, NULL), ==, 289);
    g_assert_true(store_flush(s, NULL));
    store_check_invariants(s);
    for (uint64_t q = 290; q <= 300; q++) {
        g_autofree char *p = g_strdup_printf("message-%" G_GUINT64_FORMAT, q);
        assert_msg(s, q, "s", p);
    }
    g_assert_null(store_load(s, 150, NULL));
    store_close(s);
    test_env_free(te);
}

/* PREALLOCATION under the read-ahead block: after a restart (the tail cache empty) a read of an
 * old record of the active segment reads a block that runs past the log's end into the
 * preallocated zeros; records written there later, once the small tail cache has let them go,
 * must be read from the disk, not from the block's zeros (they came back as "bad magic"). */
static void test_read_cache_prealloc(void) {
    TestEnv *te = test_env_new(23);
    StoreConfig cfg = {.name = "P", .dir = "P", .sync = STORE_SYNC_ALWAYS, .read_cache_bytes_max = 128};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 10; i++) put(s, "p", "before the restart");
    g_assert_true(store_flush(s, NULL));
    store_close(s); /* (trimmed: the file ends at its records) */
    s = open_file(te, &cfg);
    put(s, "p", "the first after"); /* its flush preallocates zeros after it */
    g_assert_true(store_flush(s, NULL));
    assert_msg(s, 1, "p", "before the restart"); /* a read-ahead block from seq 1, into the zeros */
    for (int i = 12; i <= 40; i++) {
        g_autofree char *p = g_strdup_printf("written over the zeros %d", i);
        put(s, "p", p);
        g_assert_true(store_flush(s, NULL));
    }
    for (uint64_t q = 12; q <= 40; q++) { /* most of them out of the 128-byte tail */
        g_autofree char *p = g_strdup_printf("written over the zeros %d", (int)q);
        assert_msg(s, q, "p", p);
    }
    store_check_invariants(s);
    store_close(s);
    test_env_free(te);
}


/* --- CRC32C: the instruction and the tables agree --- */

static void test_crc32c(void) {
    g_assert_cmpuint(crc32c("123456789", 9), ==, 0xE3069283u); /* the standard check value */
    g_assert_cmpuint(crc32c_sw("123456789", 9), ==, 0xE3069283u);
    g_assert_cmpuint(crc32c("", 0), ==, 0);
    GRand *r = g_rand_new_with_seed(42);
    uint8_t buf[4096 + 16];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)g_rand_int(r);
    for (size_t off = 0; off < 16; off++)           /* every alignment */
        for (size_t n = 0; n + off <= sizeof buf; n += (n < 64 ? 1 : 61)) /* every short length */
            g_assert_cmpuint(crc32c(buf + off, n), ==, crc32c_sw(buf + off, n));
    for (size_t cut = 0; cut <= sizeof buf; cut += 97) /* in two pieces (an index file read in chunks) */
        g_assert_cmpuint(crc32c_extend(crc32c(buf, cut), buf + cut, sizeof buf - cut), ==, crc32c(buf, sizeof buf));
    g_test_message("crc32c: %s", crc32c_hw_available() ? "SSE4.2 instruction" : "tables only");
    g_rand_free(r);
}

/* Recovery reads a segment through a 4 MiB window (store_file.c, RECOVER_WINDOW_BYTES):
 * records straddling a window edge, one bigger than the window, and a bit flip and a torn
 * tail past the first window must recover exactly as with the whole segment in memory. */
static void test_recover_window(void) {
    TestEnv *te = test_env_new(21);
    StoreConfig cfg = {.name = "W", .dir = "W", .sync = STORE_SYNC_ALWAYS,
                       .segment_bytes_max = 64 * 1024 * 1024}; /* one segment of several windows */
    Store *s = open_file(te, &cfg);
    const size_t small = 30000, big = 5 * 1024 * 1024;
    g_autofree char *payload = g_malloc(big);
    memset(payload, 'w', big);
    const int n = 300, big_seq = 150, victim = 201;
    uint64_t off = 36, victim_off = 0; /* the SEGMENT record, then MSG + LAST per flush */
    for (int seq = 1; seq <= n; seq++) {
        size_t len = seq == big_seq ? big : small;
        if (seq == victim) victim_off = off;
        g_assert_cmpuint(store_append(s, "win", 3, NULL, 0, payload, len, seq, NULL), ==, (uint64_t)seq);
        g_assert_true(store_flush(s, NULL));
        off += 36 + 3 + len + 36;
    }
    store_close(s);
    /* the clean close indexed the active segment; this test is about the scan (as after a
     * crash), so the index goes */
    g_assert_true(env_path_remove(&te->env, "W/0000000001.idx", NULL));
    g_assert_cmpuint(victim_off, >, 2 * 4 * 1024 * 1024);
    test_env_flip_bit(te, "W/0000000001.seg", victim_off + 36 + 3 + 100, 2);
    test_env_flip_bit(te, "W/0000000001.seg", off - 36 + 20, 1); /* the newest LAST: a damaged tail */
    s = open_file(te, &cfg);
    g_assert_cmpuint(store_count(s, NULL, 0), ==, (uint64_t)n - 1);
    for (uint64_t seq = 1; seq <= (uint64_t)n; seq++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(StoreMsg) m = store_load(s, seq, &err);
        if (seq == victim) {
            g_assert_null(m);
            continue;
        }
        g_assert_nonnull(m);
        g_assert_cmpuint(m->data_len, ==, seq == (uint64_t)big_seq ? big : small);
    }
    store_check_invariants(s);
    store_close(s);
    test_env_free(te);
}

/* MEMORY (book 5.6): what a file store holds while written is bounded by its active segment,
 * whatever its length (COLD AGAIN keeps no sealed segment loaded, LIMIT_STORE_LOADED_SEGMENTS);
 * a sealed segment a delete thawed stays loaded while the store is written (no thaw and
 * refreeze per change); after LIMIT_STORE_IDLE_NS without use the buffers, the COLD READS
 * arrays and every sealed segment's entries are given back (IDLE, store_file.c), and the
 * store answers and takes writes as before. */
static void test_memory_idle(void) {
    TestEnv *te = test_env_new(41);
    StoreConfig cfg = {.name = "M", .dir = "M", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 4096};
    Store *s = open_file(te, &cfg);
    char p[101];
    memset(p, 'm', 100);
    p[100] = '\0';
    const uint64_t n = 2000, per_segment = 4096 / (36 + 3 + 100) + 1; /* records of one segment, at most */
    for (uint64_t q = 1; q <= n; q++) {
        put(s, q % 2 ? "m.a" : "m.b", p);
        if (q % 10 == 0) { /* after every flush, all along the way */
            g_assert_true(store_flush(s, NULL));
            StoreMemory m;
            store_memory(s, &m);
            g_assert_cmpuint(m.loaded_msgs, <=, per_segment);
            g_assert_cmpuint(m.entries, <=, per_segment * sizeof(StoreEntry));
            g_assert_cmpuint(m.subjects, <=, 2 * (sizeof(StoreSubject) + 4 + 2 * per_segment * sizeof(uint64_t)));
        }
    }
    store_check_invariants(s);
    StoreMemory m;
    store_memory(s, &m);
    g_assert_cmpuint(m.buffers, >, 0);
    g_assert_cmpuint(s->cold->len, >=, 50);
    g_assert_cmpuint(m.cold, <=, s->cold->len * (sizeof(StoreCold) + 2 * sizeof(StoreColdSubject)));
    assert_msg(s, 1, "m.a", p); /* COLD READS: an array of its own */
    store_memory(s, &m);
    g_assert_cmpuint(m.reads, >, 0);
    /* a delete in the newest sealed segment (it stays cold: COLD CHANGES), then a question
     * that thaws from inside the cold stretches: written on, that segment stays loaded (its index would need a
     * rewrite), the ones below it go cold again */
    uint64_t victim = ((StoreCold *)s->cold->pdata[s->cold->len - 1])->lo;
    g_assert_true(store_remove(s, victim, FALSE, NULL));
    g_assert_cmpuint(store_next_seq(s, "m.*", victim - 100), ==, victim - 100); /* a wildcard inside both cold stretches */
    for (int i = 0; i < 3; i++) {
        put(s, "m.a", p);
        g_assert_true(store_flush(s, NULL));
    }
    store_memory(s, &m);
    g_assert_cmpuint(m.loaded_msgs, >, per_segment);
    /* busy: the timer finds it used and waits again */
    test_env_advance(te, LIMIT_STORE_IDLE_NS / 2);
    put(s, "m.b", p);
    g_assert_true(store_flush(s, NULL));
    test_env_advance(te, LIMIT_STORE_IDLE_NS / 2 + 1);
    store_memory(s, &m);
    g_assert_cmpuint(m.buffers, >, 0);
    g_assert_cmpuint(m.loaded_msgs, >, per_segment);
    /* idle: everything but the summaries and the active segment's entries goes */
    test_env_advance(te, 2 * LIMIT_STORE_IDLE_NS + 1);
    store_memory(s, &m);
    g_assert_cmpuint(m.buffers, ==, 0);
    g_assert_cmpuint(m.reads, ==, 0);
    g_assert_cmpuint(m.loaded_msgs, <=, per_segment);
    store_check_invariants(s);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, n + 4 - 1);
    g_assert_null(store_load(s, victim, NULL));
    assert_msg(s, victim + 1, (victim + 1) % 2 ? "m.a" : "m.b", p);
    assert_msg(s, n, "m.b", p);
    g_assert_cmpuint(put(s, "m.a", p), ==, n + 5);
    g_assert_true(store_flush(s, NULL));
    store_close(s);
    s = open_file(te, &cfg); /* the rewritten index of the changed segment agrees with the log */
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, n + 5 - 1);
    g_assert_null(store_load(s, victim, NULL));
    g_assert_cmpuint(store_count(s, "m.a", 0), ==, n / 2 + 4 - (victim % 2));
    store_close(s);
    test_env_free(te);
}

/* --- numbers --- */

/* --- index files (INDEX FILES in store_file.c) --- */

static bool fp_bytes = true; /* fingerprints count bytes (a memory and a file store count them differently) */

static void fp_subject(const char *subject, uint64_t msgs, void *arg) {
    g_string_append_printf(arg, "%s=%" G_GUINT64_FORMAT " ", subject, msgs);
}

static void fp_name(const char *subject, uint64_t msgs, void *arg) { g_ptr_array_add(arg, g_strdup(subject)); }

/* The questions a stream asks its store (counts and next matches from several seqs, per
 * subject, per wildcard; last by subject; by time), before any message is loaded: a store
 * opened with cold segments answers them from summaries, thawing only where it must. */
static void fp_questions(Store *s, GString *out, const StoreState *st) {
    g_autoptr(GPtrArray) filters = g_ptr_array_new_with_free_func(g_free);
    store_subjects(s, NULL, fp_name, filters);
    guint literal = filters->len;
    for (guint i = 0; i < literal; i++) {
        const char *dot = strchr(filters->pdata[i], '.');
        g_autofree char *tok = dot ? g_strndup(filters->pdata[i], (gsize)(dot - (char *)filters->pdata[i])) : NULL;
        if (tok == NULL) continue;
        g_ptr_array_add(filters, g_strdup_printf("%s.*", tok));
        g_ptr_array_add(filters, g_strdup_printf("%s.>", tok));
    }
    g_ptr_array_add(filters, g_strdup("none.*"));
    g_ptr_array_add(filters, NULL);
    uint64_t span = st->last_seq >= st->first_seq ? st->last_seq - st->first_seq : 0;
    uint64_t from[] = {0, st->first_seq, st->first_seq + span / 3, st->first_seq + 2 * span / 3, st->last_seq,
                       st->last_seq + 1};
    for (guint i = 0; i < literal; i++) {
        StoreSubjectInfo si;
        g_assert_true(store_subject_info(s, filters->pdata[i], &si));
        g_string_append_printf(out, "%s:%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT " ",
                               (char *)filters->pdata[i], si.msgs, si.first_seq, si.last_seq);
    }
    int64_t times[] = {0, 120, 150, 200, 400};
    for (guint t = 0; t < G_N_ELEMENTS(times); t++)
        g_string_append_printf(out, "t%" G_GINT64_FORMAT "=%" G_GUINT64_FORMAT " ", times[t], store_seq_for_time(s, times[t]));
    for (guint i = 0; i < filters->len; i++) {
        const char *f = filters->pdata[i];
        g_string_append_printf(out, "\n%s:", f ? f : "(all)");
        for (guint k = 0; k < G_N_ELEMENTS(from); k++)
            g_string_append_printf(out, " %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT, store_count(s, f, from[k]),
                                   store_next_seq(s, f, from[k]));
    }
    for (guint k = 0; k < G_N_ELEMENTS(from); k++)
        g_string_append_printf(out, " h%" G_GUINT64_FORMAT, store_next_seq_with_headers(s, from[k]));
    for (guint i = 0; i < filters->len; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(StoreMsg) m = store_load_last(s, filters->pdata[i], &err);
        g_assert_no_error(err);
        g_string_append_printf(out, " last=%" G_GUINT64_FORMAT, m ? m->seq : 0);
    }
    g_string_append_c(out, '\n');
}

/* What a reader asks before reading messages (state, subjects, fp_questions), appended to out. */
static void fp_summary(Store *s, GString *out, StoreState *st_out) {
    StoreState st;
    store_state(s, &st);
    g_string_append_printf(out, "msgs=%" G_GUINT64_FORMAT " bytes=%" G_GUINT64_FORMAT " first=%" G_GUINT64_FORMAT
                           " last=%" G_GUINT64_FORMAT " first_ts=%" G_GINT64_FORMAT " deleted=%" G_GUINT64_FORMAT
                           " subjects=%" G_GUINT64_FORMAT "\n", st.msgs, fp_bytes ? st.bytes : 0, st.first_seq, st.last_seq,
                           st.first_ts_ns, st.num_deleted, st.num_subjects);
    store_subjects(s, NULL, fp_subject, out);
    g_string_append_c(out, '\n');
    fp_questions(s, out, &st);
    *st_out = st;
}

/* Everything a reader can ask a store, as one string: two stores that answer alike print alike. */
static char *fingerprint(Store *s) {
    GString *out = g_string_new(NULL);
    StoreState st;
    fp_summary(s, out, &st);
    for (uint64_t q = st.first_seq; q <= st.last_seq; q++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(StoreMsg) m = store_load(s, q, &err);
        g_assert_no_error(err);
        if (m == NULL) continue;
        g_string_append_printf(out, "%" G_GUINT64_FORMAT " %" G_GINT64_FORMAT " %s h%zu %.*s\n", q, m->ts_ns,
                               m->subject, m->hdr_len, (int)m->data_len, (const char *)m->data);
    }
    g_string_append_printf(out, "next-with-headers=%" G_GUINT64_FORMAT " for-time=%" G_GUINT64_FORMAT "\ndeleted:",
                           store_next_seq_with_headers(s, 1), store_seq_for_time(s, 150));
    g_autoptr(GArray) deleted = g_array_new(FALSE, FALSE, sizeof(guint64));
    store_deleted(s, deleted);
    for (guint i = 0; i < deleted->len; i++) g_string_append_printf(out, " %" G_GUINT64_FORMAT, g_array_index(deleted, guint64, i));
    g_string_append_c(out, '\n');
    return g_string_free(out, FALSE);
}

/* Random appends (several subjects, some with headers), deletes, filtered purges and
 * compacts over small segments, some crashed (every TestCrashMode): the store opened from its
 * index files must answer exactly like the same folder scanned without them. */
static guint index_files(TestEnv *te, const char *dir) {
    g_auto(GStrv) names = env_dir_list(&te->env, dir, NULL);
    guint n = 0;
    for (int i = 0; names && names[i]; i++) n += g_str_has_suffix(names[i], ".idx");
    return n;
}

/* A clean close indexes the active segment too: the next open reads no record of it. Records
 * written after that (messages, a deletion of an indexed message) are past the index's end and
 * are scanned after a crash, in log order: the result equals the scan of the whole folder. */
static void test_index_active(void) {
    TestEnv *te = test_env_new(33);
    StoreConfig cfg = {.name = "A", .dir = "A", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 64 * 1024};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 100; i++) put(s, i % 2 ? "a.odd" : "a.even", "0123456789012345678901234567890123456789");
    g_assert_true(store_flush(s, NULL));
    store_close(s);
    g_assert_true(env_path_exists(&te->env, "A/0000000001.idx")); /* the only, active, segment */
    /* rot inside an indexed record is not read at open (INDEX FILES, LIMITATIONS): proof that
     * the open did not scan the segment; the message reads back as an error, not as bytes */
    const uint64_t rot = 36 + 32 + 5 + 10; /* message 1's payload, after the SEGMENT record */
    test_env_flip_bit(te, "A/0000000001.seg", rot, 4);
    s = open_file(te, &cfg);
    g_assert_cmpuint(store_count(s, NULL, 0), ==, 100);
    g_autoptr(GError) rot_err = NULL;
    g_assert_null(store_load(s, 1, &rot_err));
    g_assert_nonnull(rot_err);
    store_close(s);
    test_env_flip_bit(te, "A/0000000001.seg", rot, 4); /* healed */
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_assert_true(store_remove(s, 50, FALSE, NULL)); /* a tombstone past the index's end */
    for (int i = 0; i < 10; i++) put(s, "a.new", "after the index");
    g_assert_true(store_flush(s, NULL));
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED); /* no clean close: the index stays a prefix */
    store_close(s);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_autofree char *log = test_env_take_log(te);
    if (strstr(log, "scanning") != NULL) g_error("the prefix index was refused:\n%s", log);
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 109);
    g_assert_cmpuint(st.last_seq, ==, 110);
    g_assert_null(store_index_get(s, 50));
    g_autofree char *a = fingerprint(s);
    store_close(s);
    drop_indexes(te, "A");
    s = open_file(te, &cfg); /* scanned */
    g_autofree char *b = fingerprint(s);
    store_close(s);
    g_assert_cmpstr(a, ==, b);
    test_env_free(te);
}

/* CHECKPOINTS: while the active segment grows, its index is rewritten every quarter segment,
 * so a crash (no clean close) rescans only what was written since the last one. Rot in a
 * record the checkpoint covers goes unread at open (the proof that it was not scanned); the
 * answers equal the scan of the whole folder; a damaged checkpoint falls back to the scan. */
static void test_index_checkpoint(void) {
    TestEnv *te = test_env_new(34);
    StoreConfig cfg = {.name = "C", .dir = "C", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 32 * 1024};
    Store *s = open_file(te, &cfg);
    for (int i = 1; i <= 300; i++) { /* ~24 KiB in one segment, flushed every 10: one checkpoint or more */
        put(s, i % 3 ? "c.a" : "c.b", "0123456789012345678901234567890123456789");
        if (i % 10 == 0) g_assert_true(store_flush(s, NULL));
        if (i == 120) g_assert_true(store_remove(s, 7, FALSE, NULL)); /* a tombstone the checkpoint holds */
    }
    g_assert_true(store_flush(s, NULL));
    g_assert_true(env_path_exists(&te->env, "C/0000000001.idx")); /* written while open: a checkpoint */
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    store_close(s);
    const uint64_t rot = 36 + 32 + 3 + 10; /* message 1's payload, after the SEGMENT record */
    test_env_flip_bit(te, "C/0000000001.seg", rot, 2);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_autofree char *log = test_env_take_log(te);
    if (strstr(log, "scanning") != NULL || strstr(log, "damaged") != NULL)
        g_error("the checkpoint was not used:\n%s", log);
    g_assert_cmpuint(store_count(s, NULL, 0), ==, 299); /* 300 less the deleted 7: rot unseen */
    g_assert_null(store_index_get(s, 7));
    g_autoptr(GError) rot_err = NULL;
    g_assert_null(store_load(s, 1, &rot_err));
    g_assert_nonnull(rot_err);
    store_close(s);
    test_env_flip_bit(te, "C/0000000001.seg", rot, 2); /* healed */
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED); /* (the close above indexed nothing new) */
    s = open_file(te, &cfg);
    g_autofree char *a = fingerprint(s);
    store_close(s);
    /* a damaged checkpoint: refused with a warning, the segment scanned, the same answers */
    gint64 isize = 0;
    {
        g_autoptr(GBytes) b = NULL;
        g_assert_true(env_file_read_all(&te->env, "C/0000000001.idx", &b, NULL));
        isize = (gint64)g_bytes_get_size(b);
    }
    test_env_flip_bit(te, "C/0000000001.idx", (uint64_t)isize / 2, 0);
    g_free(test_env_take_log(te));
    s = open_file(te, &cfg);
    g_autofree char *log2 = test_env_take_log(te);
    g_assert_nonnull(strstr(log2, "scanning the segment"));
    g_autofree char *b = fingerprint(s);
    store_close(s);
    g_assert_cmpstr(a, ==, b);
    drop_indexes(te, "C");
    s = open_file(te, &cfg); /* scanned, no index at all */
    g_autofree char *c = fingerprint(s);
    store_close(s);
    g_assert_cmpstr(a, ==, c);
    test_env_free(te);
}

static guint index_cold_opens; /* rounds whose open from index files left segments cold */
static guint index_cold_changes; /* changes to cold segments compared with a scan and an index open */

/* A copy of folder `from` in a new folder (returned): its segments, and its index files too if
 * with_idx. */
static char *copy_store_dir(TestEnv *te, const char *from_dir, guint *copies, bool with_idx) {
    char *dir = g_strdup_printf("%s-copy%u", from_dir, (*copies)++);
    g_assert_true(env_dir_make(&te->env, dir, NULL));
    g_auto(GStrv) names = env_dir_list(&te->env, from_dir, NULL);
    for (int i = 0; names && names[i]; i++) {
        if (!g_str_has_suffix(names[i], ".seg") && !(with_idx && g_str_has_suffix(names[i], ".idx"))) continue;
        g_autofree char *from = g_strdup_printf("%s/%s", from_dir, names[i]);
        g_autofree char *to = g_strdup_printf("%s/%s", dir, names[i]);
        g_autoptr(GBytes) b = NULL;
        g_assert_true(env_file_read_all(&te->env, from, &b, NULL));
        g_assert_true(env_file_write_atomic(&te->env, to, g_bytes_get_data(b, NULL), g_bytes_get_size(b), NULL));
    }
    return dir;
}

/* The cold pass makes every change to its file store s and to a memory store m beside it (the
 * model: the same generic index, never cold), and both must answer alike. */
static gboolean both_remove(Store *s, Store *m, uint64_t seq, gboolean erase) {
    gboolean a = store_remove(s, seq, erase, NULL);
    if (m) g_assert_cmpint(store_remove(m, seq, erase, NULL), ==, a);
    return a;
}
static void both_purge(Store *s, Store *m, const StorePurge *req) {
    uint64_t a = store_purge(s, req, NULL);
    if (m) g_assert_cmpuint(store_purge(m, req, NULL), ==, a);
}
static void both_compact(Store *s, Store *m, uint64_t seq) {
    uint64_t a = store_compact(s, seq, NULL);
    if (m) g_assert_cmpuint(store_compact(m, seq, NULL), ==, a);
}

/* COLD CHANGES (store_cold.c): after a change made while s had cold segments, flushed, s must
 * answer (everything, every message read) exactly like a scan of a copy of its segments, and
 * like an open of a copy with its index files (the cold segments as their files describe them
 * when they went cold, the tombstones replayed over them: the recovery story), and, bytes
 * aside, like the model m that made the same changes without ever being cold. */
static void changed_vs_scan(TestEnv *te, StoreConfig *cfg, Store *s, Store *m, guint *copies, uint64_t seed,
                            const char *what) {
    g_assert_true(store_flush(s, NULL));
    store_check_invariants(s);
    g_autofree char *got = fingerprint(s);
    store_check_invariants(s);
    for (int with_idx = 0; with_idx < 2; with_idx++) {
        StoreConfig ocfg = *cfg;
        g_autofree char *dir = copy_store_dir(te, cfg->dir, copies, with_idx);
        ocfg.dir = dir;
        Store *o = open_file(te, &ocfg);
        g_autofree char *want = fingerprint(o);
        store_check_invariants(o);
        store_close(o);
        if (strcmp(got, want) != 0)
            g_error("seed %" G_GUINT64_FORMAT " copy %u: after %s on cold segments the store differs from %s\n--- store\n%s--- %s\n%s",
                    seed, *copies, what, with_idx ? "an open from its index files" : "a scan", got,
                    with_idx ? "index open" : "scan", want);
    }
    fp_bytes = false;
    g_autofree char *mine = fingerprint(s), *model = fingerprint(m);
    fp_bytes = true;
    if (strcmp(mine, model) != 0)
        g_error("seed %" G_GUINT64_FORMAT ": after %s on cold segments the store differs from the model\n--- store\n%s--- model\n%s",
                seed, what, mine, model);
    index_cold_changes++;
}

/* Reopen *s from its index files and compare what it answers before reading any message with
 * a scan of a copy of its segments (no index files): mid-history, with cold segments. */
static void reopen_vs_scan(TestEnv *te, StoreConfig *cfg, Store **s, guint *copies, uint64_t seed) {
    store_close(*s);
    g_autofree char *dir = copy_store_dir(te, cfg->dir, copies, false);
    StoreConfig scfg = *cfg;
    scfg.dir = dir;
    Store *scan = open_file(te, &scfg);
    g_autoptr(GString) want = g_string_new(NULL);
    StoreState st;
    fp_summary(scan, want, &st);
    store_close(scan);
    *s = open_file(te, cfg);
    index_cold_opens += (*s)->cold->len > 0;
    g_autoptr(GString) got = g_string_new(NULL);
    fp_summary(*s, got, &st);
    if (strcmp(got->str, want->str) != 0)
        g_error("seed %" G_GUINT64_FORMAT " reopen %u: cold answers differ from the scan's\n--- index\n%s--- scan\n%s", seed,
                *copies, got->str, want->str);
    store_check_invariants(*s);
}

/* crash: 0 = a clean close, else TestCrashMode + 1 (with sync never: unsynced writes at risk) */
/* cold: also reopen every ~10 operations and compare the cold store's answers with a scan's
 * then (reopen_vs_scan), checking the invariants after every operation. */
static guint index_round(uint64_t seed, int crash, bool cold) {
    TestEnv *te = test_env_new(seed);
    StoreConfig cfg = {.name = "I", .dir = "I", .sync = crash ? STORE_SYNC_NEVER : STORE_SYNC_ALWAYS,
                       .segment_bytes_max = 1024, .cold_reads_max = cold ? 1 : 0, /* cold: the tiniest COLD READS */
                       .loaded_max = cold ? 1 : 0}; /* ... and COLD AGAIN down to one loaded sealed segment */
    Store *s = open_file(te, &cfg);
    Store *m = cold ? store_mem_open(&te->env, &cfg) : NULL; /* the model: the same changes, never cold */
    GRand *r = g_rand_new_with_seed((guint32)seed);
    int ops = g_rand_int_range(r, 20, 400);
    int64_t ts = 100;
    guint copies = 0;
    for (int i = 0; i < ops; i++) {
        if (cold) store_check_invariants(s);
        if (cold && g_rand_int_range(r, 0, 10) == 0) {
            reopen_vs_scan(te, &cfg, &s, &copies, seed);
            continue;
        }
        if (cold && s->cold->len > 0 && g_rand_int_range(r, 0, 4) == 0) { /* COLD CHANGES, as the stream makes them */
            StoreState st;
            store_state(s, &st);
            int kind = g_rand_int_range(r, 0, 5);
            const char *what = "a delete";
            if (kind == 0) { /* limits: max_msgs drops the oldest */
                what = "max_msgs";
                for (int k = g_rand_int_range(r, 1, 4); k > 0 && store_count(s, NULL, 0) > 1; k--) {
                    store_state(s, &st);
                    g_assert_true(both_remove(s, m, st.first_seq, FALSE));
                }
            } else if (kind == 1) { /* a KV put over its history: max_msgs_per_subject */
                what = "a purge keeping the history";
                g_autofree char *f = g_strdup_printf("i.%d", g_rand_int_range(r, 0, 5));
                StorePurge req = {.filter = f, .keep = (uint64_t)g_rand_int_range(r, 1, 4)};
                both_purge(s, m, &req);
            } else if (kind == 2) { /* max_age: a floor, inside the oldest cold segment or past it */
                what = "a floor";
                const StoreCold *c0 = s->cold->pdata[0];
                both_compact(s, m, c0->lo + (uint64_t)g_rand_int_range(r, 1, (gint32)(c0->hi - c0->lo + 3)));
            } else if (kind == 3) { /* a purge that keeps the newest N of the stream */
                what = "a purge keeping N";
                StorePurge req = {.keep = (uint64_t)g_rand_int_range(r, 1, (gint32)st.msgs + 2)};
                if (g_rand_boolean(r)) { /* at a cold segment's edge: it is kept whole, or just not */
                    const StoreCold *ck = s->cold->pdata[g_rand_int_range(r, 0, (gint32)s->cold->len)];
                    req.keep = MAX(store_count(s, NULL, ck->lo) + (uint64_t)g_rand_int_range(r, 0, 2), 1);
                }
                both_purge(s, m, &req);
            } else { /* a delete by seq, or a wildcard purge up to a seq */
                if (g_rand_boolean(r)) {
                    both_remove(s, m, st.first_seq + (uint64_t)g_rand_int_range(r, 0, (gint32)(st.last_seq - st.first_seq + 1)),
                                 FALSE);
                } else {
                    what = "a purge up to a seq";
                    StorePurge req = {.filter = "i.*", .seq = st.first_seq + (uint64_t)g_rand_int_range(r, 0, 8)};
                    both_purge(s, m, &req);
                }
            }
            changed_vs_scan(te, &cfg, s, m, &copies, seed, what);
            continue;
        }
        int what = g_rand_int_range(r, 0, 100);
        StoreState st;
        store_state(s, &st);
        if (what < 75) {
            g_autofree char *subj = g_strdup_printf("i.%d", g_rand_int_range(r, 0, 5));
            g_autofree char *p = payload_for(seed, (uint64_t)i);
            const char *hdr = g_rand_boolean(r) ? "NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n" : NULL;
            ts += g_rand_int_range(r, 0, 3);
            uint64_t seq = store_append(s, subj, strlen(subj), hdr, hdr ? strlen(hdr) : 0, p, strlen(p), ts, NULL);
            g_assert_cmpuint(seq, >, 0);
            if (m) g_assert_cmpuint(store_append(m, subj, strlen(subj), hdr, hdr ? strlen(hdr) : 0, p, strlen(p), ts, NULL), ==, seq);
        } else if (what < 88 && st.msgs > 0) {
            both_remove(s, m, st.first_seq + (uint64_t)g_rand_int_range(r, 0, (gint32)(st.last_seq - st.first_seq + 1)),
                         g_rand_boolean(r));
        } else if (what < 92) {
            g_autofree char *f = g_strdup_printf("i.%d", g_rand_int_range(r, 0, 5));
            StorePurge req = {.filter = f, .keep = (uint64_t)g_rand_int_range(r, 0, 3)};
            both_purge(s, m, &req);
        } else if (what < 96) {
            both_compact(s, m, st.first_seq + (uint64_t)g_rand_int_range(r, 0, 6));
        } else if (what < 97) {
            both_compact(s, m, st.last_seq + (uint64_t)g_rand_int_range(r, 1, 4)); /* jump ahead */
        } else {
            fx_reopen_store(te, &cfg, &s);
        }
        if (g_rand_int_range(r, 0, 4) == 0) g_assert_true(store_flush(s, NULL));
    }
    g_assert_true(store_flush(s, NULL));
    if (crash) {
        store_append(s, "i.z", 3, NULL, 0, "unacked", 7, ts, NULL);
        test_env_crash_disk(te, (TestCrashMode)(crash - 1));
    }
    store_close(s);
    store_close(m);
    g_free(test_env_take_log(te));
    guint indexed = index_files(te, "I");
    s = open_file(te, &cfg); /* from the index files */
    g_autofree char *log = test_env_take_log(te);
    if (strstr(log, "scanning the segment")) g_error("seed %" G_GUINT64_FORMAT ": an index was refused:\n%s", seed, log);
    index_cold_opens += s->cold->len > 0; /* segments the open left cold (COLD SEGMENTS) */
    store_check_invariants(s);
    g_autofree char *a = fingerprint(s);
    store_check_invariants(s);
    store_close(s);
    drop_indexes(te, "I");
    s = open_file(te, &cfg); /* scanned */
    g_autofree char *b = fingerprint(s);
    if (strcmp(a, b) != 0) g_error("seed %" G_GUINT64_FORMAT " crash %d: index and scan differ\n--- index\n%s--- scan\n%s", seed, crash, a, b);
    g_assert_cmpuint(put(s, "i.after", "x"), >, 0);
    store_close(s);
    g_rand_free(r);
    test_env_free(te);
    return indexed;
}

static void test_index_vs_scan(void) {
    const char *only = g_getenv("STORE_SEED");
    if (only) { index_round(g_ascii_strtoull(only, NULL, 10), 0, g_getenv("STORE_COLD") != NULL); return; }
    guint indexed = 0;
    index_cold_opens = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) indexed += index_round(seed, (int)(seed % 4), false);
    g_assert_cmpuint(indexed, >, 1000); /* the rounds did open from index files */
    g_assert_cmpuint(index_cold_opens, >, 25); /* ... and answered from cold segments (COLD SEGMENTS) */
    /* COLD SEGMENTS mid-history: reopened every ~10 operations, answers compared with a scan's */
    index_cold_opens = index_cold_changes = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) index_round(seed, (int)(seed % 4), true);
    g_test_message("cold opens compared with a scan: %u; changes to cold segments compared: %u", index_cold_opens,
                   index_cold_changes);
    g_assert_cmpuint(index_cold_opens, >, 300);
    g_assert_cmpuint(index_cold_changes, >, 300);
}

/* COLD SEGMENTS (store_cold.c): an open from index files loads no entry; counts, subjects and
 * first/last come from the summaries; a load decodes one segment and thaws nothing; deletes,
 * a KV-style purge and compacts change their segments cold (COLD CHANGES), and a reopen
 * replays them to the same answers; an index file that changed after the
 * open is refused at the thaw (its messages lost, logged), and the next open scans them back. */
static void test_index_cold(void) {
    TestEnv *te = test_env_new(35);
    StoreConfig cfg = {.name = "K", .dir = "K", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 4096};
    Store *s = open_file(te, &cfg);
    const char *subj[] = {"k.a", "k.b", "k.c"};
    for (int i = 1; i <= 300; i++) {
        g_autofree char *p = payload_for(35, (uint64_t)i);
        put(s, subj[i % 3 == 0 ? 2 : i % 2], p);
        if (i % 10 == 0) g_assert_true(store_flush(s, NULL));
    }
    g_assert_true(store_flush(s, NULL));
    /* COLD AGAIN: while written, all but the newest LIMIT_STORE_LOADED_SEGMENTS sealed segments went cold */
    g_assert_cmpuint(s->cold->len, >=, 2);
    g_assert_cmpuint(s->cold_msgs, >, 100);
    store_check_invariants(s);
    store_close(s);
    s = open_file(te, &cfg);
    guint cold = s->cold->len;
    g_assert_cmpuint(cold, >=, 5);
    g_assert_cmpuint(s->entries->len, ==, 0); /* nothing loaded */
    StoreState st;
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, 300);
    g_assert_cmpuint(st.num_subjects, ==, 3);
    StoreSubjectInfo si;
    g_assert_true(store_subject_info(s, "k.c", &si));
    g_assert_cmpuint(si.msgs, ==, 100);
    g_assert_cmpuint(si.first_seq, ==, 3);
    g_assert_cmpuint(si.last_seq, ==, 300);
    g_assert_cmpuint(store_count(s, "k.a", 0), ==, 100);
    g_assert_cmpuint(store_count(s, "k.*", 1), ==, 300);
    g_assert_cmpuint(store_next_seq(s, "k.c", 1), ==, 3);
    g_assert_cmpuint(s->cold->len, ==, cold); /* all from the summaries */
    g_autofree char *p300 = payload_for(35, 300);
    assert_msg(s, 300, "k.c", p300); /* COLD READS: its segment decoded for the read, nothing thawed */
    g_assert_cmpuint(s->cold->len, ==, cold);
    g_assert_cmpuint(s->reads.length, ==, 1);
    for (uint64_t q = 1; q <= 300; q++) { /* readers from the start: every segment read, two kept */
        const char *sq = subj[q % 3 == 0 ? 2 : q % 2];
        g_autofree char *p = payload_for(35, q);
        assert_msg(s, q, sq, p);
        g_assert_cmpuint(store_next_seq(s, NULL, q), ==, q);
        g_assert_cmpuint(store_count(s, NULL, q), ==, 301 - q);
        uint64_t left = 0; /* a consumer filtered on q's subject, at q */
        for (uint64_t r = q; r <= 300; r++) left += strcmp(subj[r % 3 == 0 ? 2 : r % 2], sq) == 0;
        g_assert_cmpuint(store_next_seq(s, sq, q), ==, q);
        g_assert_cmpuint(store_count(s, sq, q), ==, left);
    }
    g_assert_cmpuint(store_seq_for_time(s, 1000), ==, 1);
    g_assert_cmpuint(store_seq_for_time(s, 1001), ==, 0);
    g_assert_cmpuint(s->cold->len, ==, cold);
    g_assert_cmpuint(s->reads.length, ==, LIMIT_STORE_COLD_READ_SEGMENTS);
    g_assert_cmpuint(s->entries->len, ==, 0);
    store_check_invariants(s);
    /* COLD CHANGES: a change reads its segment and leaves it cold; nothing thaws */
    g_assert_true(store_remove(s, 299, FALSE, NULL)); /* in the newest segment */
    g_assert_true(store_remove(s, 1, FALSE, NULL));   /* the oldest message (max_msgs) */
    g_assert_true(store_remove(s, 5, FALSE, NULL));   /* the middle of the oldest segment */
    g_assert_false(store_remove(s, 5, FALSE, NULL));
    g_assert_cmpuint(s->cold->len, ==, cold);
    g_assert_cmpuint(s->entries->len, ==, 0);
    store_check_invariants(s);
    g_assert_cmpuint(store_count(s, NULL, 1), ==, 297);
    g_assert_cmpuint(store_count(s, NULL, 3), ==, 296);
    g_assert_null(store_index_get(s, 5));
    store_state(s, &st);
    g_assert_cmpuint(st.first_seq, ==, 2);
    StorePurge kv = {.filter = "k.c", .keep = 99}; /* a KV put over its history: k.c's oldest, 3 */
    g_assert_cmpuint(store_purge(s, &kv, NULL), ==, 1);
    g_assert_true(store_subject_info(s, "k.c", &si));
    g_assert_cmpuint(si.msgs, ==, 99);
    g_assert_cmpuint(si.first_seq, ==, 6);
    g_assert_cmpuint(s->cold->len, ==, cold);
    g_assert_cmpuint(s->entries->len, ==, 0);
    store_check_invariants(s);
    const StoreCold *c1 = s->cold->pdata[1];
    uint64_t floor = c1->hi + 1, below = ((StoreCold *)s->cold->pdata[0])->msgs + c1->msgs; /* two cold segments */
    g_assert_cmpuint(store_compact(s, floor, NULL), ==, below);
    g_assert_cmpuint(s->cold->len, ==, cold - 2);
    const StoreCold *c2 = s->cold->pdata[0]; /* a floor through the middle of the oldest (max_age) */
    uint64_t floor2 = (c2->lo + c2->hi) / 2 + 1, before = store_count(s, NULL, 0), cut = store_count(s, NULL, 0) - store_count(s, NULL, floor2);
    g_assert_cmpuint(store_compact(s, floor2, NULL), ==, cut);
    g_assert_cmpuint(store_count(s, NULL, 0), ==, before - cut);
    g_assert_cmpuint(s->cold->len, ==, cold - 2);
    g_assert_cmpuint(s->entries->len, ==, 0);
    store_check_invariants(s);
    store_state(s, &st);
    g_assert_cmpuint(st.first_seq, ==, floor2);
    uint64_t kept = st.msgs;
    g_autofree char *changed = fingerprint(s); /* and the next open agrees (the tombstones replayed cold) */
    g_assert_true(store_flush(s, NULL));
    store_close(s);
    s = open_file(te, &cfg);
    g_assert_cmpuint(s->cold->len, ==, cold - 2);
    g_assert_cmpuint(s->entries->len, ==, 0);
    g_autofree char *reopened = fingerprint(s);
    g_assert_cmpstr(changed, ==, reopened);
    store_check_invariants(s);
    store_close(s);
    /* the index of a cold segment changes after the open: the thaw refuses it */
    s = open_file(te, &cfg);
    const StoreCold *c = NULL;
    for (guint i = 0; c == NULL && i < s->cold->len; i++) /* one no read has decoded yet (the open's cut did one) */
        if (((StoreCold *)s->cold->pdata[i])->read == NULL) c = s->cold->pdata[i];
    g_assert_nonnull(c);
    uint64_t lost = c->msgs, lo = c->lo;
    g_autofree char *ipath = g_strdup_printf("K/%010u.idx", c->tag);
    test_env_flip_bit(te, ipath, 140, 1);
    g_free(test_env_take_log(te));
    g_autoptr(GError) err = NULL;
    g_autoptr(StoreMsg) m = store_load(s, lo, &err);
    g_assert_null(m);
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "[ERR]"));
    g_assert_cmpuint(store_damaged(s), ==, lost);
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, kept - lost);
    store_check_invariants(s);
    put(s, "k.a", "after"); /* a flush after the loss must not take the segment file with it */
    g_assert_true(store_flush(s, NULL));
    store_check_invariants(s);
    store_close(s);
    s = open_file(te, &cfg); /* the bad index was removed: the segment is scanned, nothing lost */
    store_state(s, &st);
    g_assert_cmpuint(st.msgs, ==, kept + 1);
    g_assert_cmpuint(store_damaged(s), ==, 0);
    g_autofree char *a = fingerprint(s);
    store_close(s);
    drop_indexes(te, "K");
    s = open_file(te, &cfg); /* all scanned */
    g_autofree char *b = fingerprint(s);
    store_close(s);
    g_assert_cmpstr(a, ==, b);
    test_env_free(te);
}

/* A damaged, stale, foreign or missing index is never trusted: the segment is scanned (and
 * the log says why), the store answers as a scan would, and the index is written anew. */
static void test_index_damaged(void) {
    for (int variant = 0; variant < 4; variant++) {
        TestEnv *te = test_env_new(40 + (uint64_t)variant);
        Env *env = &te->env;
        StoreConfig cfg = {.name = "D", .dir = "D", .sync = STORE_SYNC_ALWAYS, .segment_bytes_max = 1024};
        Store *s = open_file(te, &cfg);
        for (int i = 1; i <= 100; i++) {
            g_autofree char *p = payload_for(1, (uint64_t)i);
            put(s, i % 2 ? "d.odd" : "d.even", p);
            if (i % 10 == 0) store_remove(s, (uint64_t)i - 3, FALSE, NULL);
            g_assert_true(store_flush(s, NULL));
        }
        g_autofree char *want = fingerprint(s);
        store_close(s);
        g_assert_true(env_path_exists(env, "D/0000000002.idx"));
        const char *expect = NULL;
        if (variant == 0) { /* a bit flip in the index */
            test_env_flip_bit(te, "D/0000000002.idx", 90, 3);
            expect = "checksum mismatch";
        } else if (variant == 1) { /* stale: the segment is shorter than the index says */
            int fd = env_file_open(env, "D/0000000002.seg", ENV_FILE_WRITE, NULL);
            gint64 size = env_file_size(env, fd, NULL);
            env_file_truncate(env, fd, (uint64_t)size - 1, NULL);
            env_file_close(env, fd);
            expect = "the segment is shorter";
        } else if (variant == 2) { /* another segment's index under this name */
            g_autoptr(GBytes) b = NULL;
            g_assert_true(env_file_read_all(env, "D/0000000003.idx", &b, NULL));
            gsize n;
            const void *d = g_bytes_get_data(b, &n);
            g_assert_true(env_file_write_atomic(env, "D/0000000002.idx", d, n, NULL));
            expect = "names another segment";
        } else { /* missing */
            g_assert_true(env_path_remove(env, "D/0000000002.idx", NULL));
        }
        g_free(test_env_take_log(te));
        s = open_file(te, &cfg);
        g_autofree char *log = test_env_take_log(te);
        if (expect && !strstr(log, expect)) g_error("variant %d: the log does not say '%s':\n%s", variant, expect, log);
        g_autofree char *got = fingerprint(s);
        if (variant != 1) g_assert_cmpstr(got, ==, want); /* variant 1 cut a record: the scan drops it */
        store_close(s);
        g_assert_true(env_path_exists(env, "D/0000000002.idx")); /* written anew after the scan */
        s = open_file(te, &cfg);
        g_autofree char *log2 = test_env_take_log(te);
        g_assert_null(strstr(log2, "scanning"));
        g_autofree char *again = fingerprint(s);
        g_assert_cmpstr(again, ==, got);
        store_close(s);
        test_env_free(te);
    }
}

/* 200 file stores, 5+ segments each, share one open-file budget in a world whose process
 * limit is 32 descriptors, enforced (EMFILE past it): every store works, reopens and serves
 * every message, and never more than the budget (a quarter of the limit) is open. */
static void test_open_files_budget(void) {
    TestEnv *te = test_env_new(77);
    test_env_set_files_max(te, 32, TRUE);
    StoreFiles *files = store_files_new(&te->env, 0);
    g_assert_cmpuint(store_files_max(files), ==, 8);
    enum { N = 200, MSGS = 30 };
    Store **st = g_new0(Store *, N);
    char names[N][16];
    StoreConfig cfg[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            g_snprintf(names[i], sizeof names[i], "S/%03d", i);
            cfg[i] = (StoreConfig){.name = names[i], .dir = names[i], .sync = i % 2 ? STORE_SYNC_ALWAYS : STORE_SYNC_NEVER,
                                   .segment_bytes_max = 256, .read_cache_bytes_max = 64, .files = files};
            st[i] = open_file(te, &cfg[i]);
            g_assert_cmpuint(test_env_open_files(te), <=, 8);
        }
        for (int m = 0; m < MSGS; m++)
            for (int i = 0; i < N; i++) {
                if (round == 0) {
                    g_autofree char *p = g_strdup_printf("%d-%d", i, m);
                    put(st[i], "f", p);
                }
                if (m % 7 == 0) g_assert_true(store_flush(st[i], NULL));
                g_assert_cmpuint(test_env_open_files(te), <=, 8);
            }
        for (int i = 0; i < N; i++) {
            g_assert_true(store_flush(st[i], NULL));
            StoreState ss;
            store_state(st[i], &ss);
            g_assert_cmpuint(ss.msgs, ==, MSGS);
            for (int m = 0; m < MSGS; m++) {
                g_autofree char *p = g_strdup_printf("%d-%d", i, m);
                assert_msg(st[i], (uint64_t)m + 1, "f", p);
            }
            store_check_invariants(st[i]);
        }
        g_assert_cmpuint(test_env_open_files(te), <=, 8);
        for (int i = 0; i < N; i++) store_close(st[i]);
        g_assert_cmpuint(test_env_open_files(te), ==, 0);
    }
    g_autofree char *log = test_env_take_log(te);
    g_assert_null(strstr(log, "[ERR]"));
    g_assert_null(strstr(log, "[WRN]"));
    store_files_unref(files);
    g_free(st);
    test_env_free(te);
}

static void test_perf(gconstpointer data) {
    StoreSyncPolicy sync = GPOINTER_TO_INT(data);
    TestEnv *te = test_env_new(12);
    StoreConfig cfg = {.name = "P", .dir = "P", .sync = sync};
    Store *s = open_file(te, &cfg);
    char payload[128];
    memset(payload, 'p', sizeof payload);
    const int n = 200000, batch = 100;
    gint64 t0 = g_get_monotonic_time();
    for (int i = 0; i < n; i++) {
        store_append(s, "bench.subject", 13, NULL, 0, payload, sizeof payload, i, NULL);
        if (i % batch == batch - 1) g_assert_true(store_flush(s, NULL));
    }
    gint64 t1 = g_get_monotonic_time();
    store_close(s);
    gint64 t2 = g_get_monotonic_time();
    s = open_file(te, &cfg);
    gint64 t3 = g_get_monotonic_time();
    g_assert_cmpuint(store_count(s, NULL, 0), ==, (uint64_t)n);
    g_test_message("file store on test_env, sync %s: %d appends of 128 B in batches of %d: %.0f appends/s; "
                   "reopen (scan + CRC of %.1f MB): %.1f ms",
                   sync == STORE_SYNC_ALWAYS ? "always" : "never", n, batch, n / ((t1 - t0) / 1e6),
                   n * (36.0 + 13 + 128) / 1e6, (t3 - t2) / 1e3);
    store_close(s);
    test_env_free(te);
}

/* The index remembers which messages have headers (the dedup rebuild at stream open reads
 * only those), in both backends and across a file store's reopen. */
static void test_next_with_headers(Fx *f, gconstpointer data) {
    const char *hdr = "NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n";
    put(f->s, "a", "1");
    uint64_t h2 = store_append(f->s, "a", 1, hdr, strlen(hdr), "2", 1, 1000, NULL);
    put(f->s, "a", "3");
    uint64_t h4 = store_append(f->s, "b", 1, hdr, strlen(hdr), "4", 1, 1000, NULL);
    put(f->s, "a", "5");
    for (int round = 0; round < 2; round++) {
        g_assert_cmpuint(store_next_seq_with_headers(f->s, 0), ==, h2);
        g_assert_cmpuint(store_next_seq_with_headers(f->s, h2 + 1), ==, h4);
        g_assert_cmpuint(store_next_seq_with_headers(f->s, h4 + 1), ==, 0);
        if (f->file) fx_reopen(f);
    }
    g_assert_true(store_remove(f->s, h2, FALSE, NULL));
    g_assert_cmpuint(store_next_seq_with_headers(f->s, 0), ==, h4);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    const char *kinds[] = {"memory", "file"};
    for (int k = 0; k < 2; k++) {
        gconstpointer d = GINT_TO_POINTER(k);
        g_autofree char *p1 = g_strdup_printf("/store/%s/basic", kinds[k]);
        g_autofree char *p2 = g_strdup_printf("/store/%s/delete", kinds[k]);
        g_autofree char *p3 = g_strdup_printf("/store/%s/purge", kinds[k]);
        g_autofree char *p4 = g_strdup_printf("/store/%s/many-subjects", kinds[k]);
        g_test_add(p1, Fx, d, fx_setup, test_basic, fx_teardown);
        g_test_add(p2, Fx, d, fx_setup, test_delete, fx_teardown);
        g_test_add(p3, Fx, d, fx_setup, test_purge, fx_teardown);
        g_test_add(p4, Fx, d, fx_setup, test_many_subjects, fx_teardown);
        g_autofree char *p5 = g_strdup_printf("/store/%s/next-with-headers", kinds[k]);
        g_test_add(p5, Fx, d, fx_setup, test_next_with_headers, fx_teardown);
    }
    g_test_add_data_func("/store/file/crash/lose-all-unsynced", GINT_TO_POINTER(TEST_CRASH_LOSE_ALL_UNSYNCED), test_crash);
    g_test_add_data_func("/store/file/sync-fails/eio", GINT_TO_POINTER(G_FILE_ERROR_IO), test_sync_fails);
    g_test_add_data_func("/store/file/sync-fails/enospc", GINT_TO_POINTER(G_FILE_ERROR_NOSPC), test_sync_fails);
    g_test_add_data_func("/store/file/crash/keep-some", GINT_TO_POINTER(TEST_CRASH_KEEP_SOME), test_crash);
    g_test_add_data_func("/store/file/crash/tear-last", GINT_TO_POINTER(TEST_CRASH_TEAR_LAST), test_crash);
    g_test_add_func("/store/file/prealloc/zero-tail", test_prealloc_zero_tail);
    g_test_add_func("/store/file/prealloc/torn", test_prealloc_torn);
    g_test_add_func("/store/file/prealloc/trimmed", test_prealloc_trimmed);
    g_test_add_func("/store/file/bitflip", test_bitflip);
    g_test_add_func("/store/file/bitflip-middle", test_bitflip_middle);
    g_test_add_func("/store/file/bitflip-resync", test_bitflip_resync);
    g_test_add_func("/store/file/truncated-and-missing", test_truncated_and_missing);
    g_test_add_func("/store/file/disk-full", test_disk_full);
    g_test_add_func("/store/file/segments-removed", test_segments_removed);
    g_test_add_func("/store/file/sync-interval", test_sync_interval);
    g_test_add_func("/store/crc32c", test_crc32c);
    g_test_add_func("/store/file/read-cache", test_read_cache);
    g_test_add_func("/store/file/read-cache-segments", test_read_cache_segments);
    g_test_add_func("/store/file/read-cache-prealloc", test_read_cache_prealloc);
    g_test_add_func("/store/file/recover-window", test_recover_window);
    g_test_add_func("/store/file/index/vs-scan", test_index_vs_scan);
    g_test_add_func("/store/file/index/active", test_index_active);
    g_test_add_func("/store/file/index/checkpoint", test_index_checkpoint);
    g_test_add_func("/store/file/index/damaged", test_index_damaged);
    g_test_add_func("/store/file/index/cold", test_index_cold);
    g_test_add_func("/store/file/memory/idle", test_memory_idle);
    g_test_add_func("/store/file/open-files-budget", test_open_files_budget);
    if (g_test_perf()) { /* timing runs, not tests: `make bench` runs them (-m perf) */
        g_test_add_data_func("/store/perf/sync-never", GINT_TO_POINTER(STORE_SYNC_NEVER), test_perf);
        g_test_add_data_func("/store/perf/sync-always", GINT_TO_POINTER(STORE_SYNC_ALWAYS), test_perf);
    }
    return g_test_run();
}
