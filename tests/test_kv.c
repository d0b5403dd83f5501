/* test_kv.c — kv.c and objstore.c against the real broker core, inside the unit tests' world.
 *
 * The fixture runs a real Server with JetStream (memory disk, manual time) in tests/test_env.c
 * and wires minijet's sans-IO client to one of its connections through kv.h's pump: the pump
 * hands the client's output to the server, feeds the server's output back, and when nothing
 * is in flight advances virtual time by a millisecond. No sockets, no sleeping: a TTL of one
 * second passes in microseconds of real time.
 *
 * Note: test_env_client_take returns text, so values here are text (no NUL bytes).
 */
#include <string.h>

#include "client/kv.h"
#include "client/objstore.h"
#include "server.h"
#include "consumer_api.h"
#include "jetstream.h"
#include "stream_api.h"
#include "test_env.h"

typedef struct Fx {
    TestEnv *te;
    Server *srv;
    JetStream *js;
    EnvConn conn;
    KvConn *kc;
} Fx;

#define MS (1000000LL)

static gboolean fx_pump(void *world, int64_t wait_ns) {
    Fx *f = world;
    Client *cl = kv_conn_client(f->kc);
    size_t n;
    const uint8_t *out = client_output(cl, &n);
    if (n > 0) {
        test_env_client_send_len(f->te, f->conn, out, n);
        client_output_consume(cl, n);
    }
    test_env_advance(f->te, 0);
    g_autofree char *in = test_env_client_take(f->te, f->conn);
    if (*in) {
        g_autoptr(GError) err = NULL;
        gboolean ok = client_feed(cl, (const uint8_t *)in, strlen(in), &err);
        g_assert_no_error(err);
        return ok;
    }
    if (test_env_is_closed(f->te, f->conn)) return FALSE;
    test_env_advance(f->te, MIN(wait_ns, MS));
    return TRUE;
}

static void fx_setup(Fx *f, gconstpointer data) {
    f->te = test_env_new(11);
    ServerConfig cfg;
    server_config_init(&cfg);
    JetStreamConfig jcfg;
    jetstream_config_init(&jcfg);
    jcfg.store_dir = "js";
    g_autoptr(GError) err = NULL;
    f->srv = server_new(&f->te->env, &cfg, &err);
    g_assert_no_error(err);
    f->js = jetstream_new(f->srv, &jcfg, &err);
    g_assert_no_error(err);
    stream_api_register(f->js);
    consumer_api_register(f->js);
    f->conn = test_env_connect(f->te);
    f->kc = kv_conn_new(&f->te->env, "_INBOX.test", fx_pump, f);
    g_assert_true(kv_conn_wait_connected(f->kc, KV_TIMEOUT_NS, &err));
    g_assert_no_error(err);
}

static void fx_teardown(Fx *f, gconstpointer data) {
    server_check_invariants(f->srv);
    kv_conn_free(f->kc);
    jetstream_free(f->js);
    server_free(f->srv);
    test_env_free(f->te);
}

static Kv *bucket(Fx *f, const char *name, int history, int64_t ttl_ns) {
    KvOptions o = {.history = history, .ttl_ns = ttl_ns};
    g_autoptr(GError) err = NULL;
    Kv *kv = kv_create(f->kc, name, &o, &err);
    g_assert_no_error(err);
    g_assert_nonnull(kv);
    return kv;
}

static void assert_value(Kv *kv, const char *key, const char *want) {
    g_autoptr(GError) err = NULL;
    g_autoptr(KvEntry) e = kv_get(kv, key, 0, &err);
    g_assert_no_error(err);
    g_assert_cmpint(e->op, ==, KV_OP_PUT);
    g_assert_cmpmem(g_bytes_get_data(e->value, NULL), g_bytes_get_size(e->value), want, strlen(want));
}

/* ---- pure helpers ---- */

static void test_names(void) {
    g_assert_true(kv_bucket_valid("sessions"));
    g_assert_true(kv_bucket_valid("a-b_C9"));
    g_assert_false(kv_bucket_valid("a.b"));
    g_assert_false(kv_bucket_valid(""));
    g_assert_false(kv_bucket_valid("a b"));
    g_assert_true(kv_key_valid("session.user123"));
    g_assert_true(kv_key_valid("a/b=c-d_e"));
    g_assert_false(kv_key_valid("session:user123")); /* the seed's key */
    g_assert_false(kv_key_valid(".a"));
    g_assert_false(kv_key_valid("a."));
    g_assert_false(kv_key_valid("a..b"));
    g_assert_false(kv_key_valid("a*"));
    g_assert_false(kv_key_valid(""));
    g_assert_true(kv_key_pattern_valid("a.*"));
    g_assert_true(kv_key_pattern_valid(">"));
    g_assert_true(kv_key_pattern_valid("a.*.c.>"));
    g_assert_false(kv_key_pattern_valid("a.>.c"));
    g_assert_false(kv_key_pattern_valid("a*"));
}

static void test_encodings(void) {
    g_autofree char *a = objstore_name_encode("dir/blob.bin");
    g_assert_cmpstr(a, ==, "ZGlyL2Jsb2IuYmlu"); /* spec §5 */
    g_autofree char *b = objstore_name_encode("nope");
    g_assert_cmpstr(b, ==, "bm9wZQ==");
    g_autofree char *c = kv_b64_encode("\xfb\xff", 2, true);
    g_assert_cmpstr(c, ==, "-_8=");
    g_autoptr(GBytes) d = kv_b64_decode("-_8");
    g_assert_cmpmem(g_bytes_get_data(d, NULL), g_bytes_get_size(d), "\xfb\xff", 2);
    g_assert_null(kv_b64_decode("a$b"));
    int64_t ns = 0;
    g_assert_true(kv_time_parse("2026-11-26T12:41:02.87809042Z", &ns));
    g_autofree char *t = kv_time_format(ns);
    g_assert_cmpstr(t, ==, "2026-11-26T12:41:02.87809042Z");
    g_autofree char *z = kv_time_format(1000000000LL);
    g_assert_cmpstr(z, ==, "1970-01-01T00:00:01Z");
}

/* ---- against the broker ---- */

static void test_put_get(Fx *f, gconstpointer data) {
    Kv *kv = bucket(f, "b", 3, 0);
    g_autoptr(GError) err = NULL;
    uint64_t r1 = kv_put(kv, "k", "one", 3, &err);
    g_assert_no_error(err);
    uint64_t r2 = kv_put(kv, "k", "two", 3, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(r2, >, r1);
    assert_value(kv, "k", "two");
    g_autoptr(KvEntry) old = kv_get(kv, "k", r1, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(old->revision, ==, r1);
    g_autoptr(KvEntry) none = kv_get(kv, "nope", 0, &err);
    g_assert_error(err, KV_ERROR, KV_ERROR_NOT_FOUND);
    g_clear_error(&err);
    g_assert_null(kv_get(kv, "bad:key", 0, &err));
    g_assert_error(err, KV_ERROR, KV_ERROR_INVALID);
    kv_free(kv);
}

static void test_create_update_delete(Fx *f, gconstpointer data) {
    Kv *kv = bucket(f, "b", 5, 0);
    g_autoptr(GError) err = NULL;
    uint64_t r = kv_create_key(kv, "k", "v1", 2, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(kv_create_key(kv, "k", "v2", 2, &err), ==, 0);
    g_assert_error(err, KV_ERROR, KV_JS_WRONG_LAST_SEQUENCE);
    g_clear_error(&err);
    uint64_t r2 = kv_update(kv, "k", "v2", 2, r, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(kv_update(kv, "k", "v3", 2, r, &err), ==, 0); /* stale: CAS refuses */
    g_assert_error(err, KV_ERROR, KV_JS_WRONG_LAST_SEQUENCE);
    g_clear_error(&err);
    g_assert_true(kv_delete(kv, "k", &err));
    g_autoptr(KvEntry) e = kv_get(kv, "k", 0, &err);
    g_assert_no_error(err);
    g_assert_cmpint(e->op, ==, KV_OP_DEL);
    g_assert_cmpuint(e->revision, >, r2);
    g_assert_cmpuint(kv_create_key(kv, "k", "v4", 2, &err), >, e->revision); /* over the marker */
    g_assert_no_error(err);
    assert_value(kv, "k", "v4");
    g_autoptr(GPtrArray) h = kv_history(kv, "k", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(h->len, ==, 4); /* v1, v2, DEL, v4 */
    g_assert_true(kv_purge(kv, "k", &err));
    g_autoptr(GPtrArray) h2 = kv_history(kv, "k", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(h2->len, ==, 1);
    g_assert_cmpint(((KvEntry *)h2->pdata[0])->op, ==, KV_OP_PURGE);
    kv_free(kv);
}

static void test_keys_watch(Fx *f, gconstpointer data) {
    Kv *kv = bucket(f, "b", 1, 0);
    g_autoptr(GError) err = NULL;
    const char *names[] = {"z", "a.b", "m", "gone"};
    for (int i = 0; i < 4; i++) g_assert_cmpuint(kv_put(kv, names[i], "x", 1, &err), >, 0);
    g_assert_true(kv_delete(kv, "gone", &err));
    g_auto(GStrv) keys = kv_keys(kv, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(g_strv_length(keys), ==, 3);
    g_assert_cmpstr(keys[0], ==, "a.b");
    g_assert_cmpstr(keys[2], ==, "z");
    KvWatch *w = kv_watch_start(kv, NULL, KV_WATCH_LAST_VALUES, &err);
    g_assert_no_error(err);
    int seen = 0;
    while (!kv_watch_initialized(w)) {
        g_autoptr(KvEntry) e = kv_watch_next(w, KV_TIMEOUT_NS, &err);
        g_assert_no_error(err);
        seen++;
    }
    g_assert_cmpint(seen, ==, 4); /* three values and the delete marker */
    g_assert_true(kv_delete(kv, "m", &err));
    g_autoptr(KvEntry) e = kv_watch_next(w, KV_TIMEOUT_NS, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(e->key, ==, "m");
    g_assert_cmpint(e->op, ==, KV_OP_DEL);
    g_autoptr(KvEntry) none = kv_watch_next(w, 100 * MS, &err);
    g_assert_error(err, KV_ERROR, KV_ERROR_TIMEOUT);
    kv_watch_stop(w);
    kv_free(kv);
}

/* max_age as the TTL, on virtual time: nothing expires early, everything expires late. */
static void test_ttl(Fx *f, gconstpointer data) {
    Kv *kv = bucket(f, "ttl", 1, 1000 * MS);
    g_autoptr(GError) err = NULL;
    g_assert_cmpuint(kv_put(kv, "t", "v", 1, &err), >, 0);
    test_env_advance(f->te, 500 * MS);
    assert_value(kv, "t", "v");
    test_env_advance(f->te, 2000 * MS);
    g_autoptr(KvEntry) e = kv_get(kv, "t", 0, &err);
    g_assert_error(err, KV_ERROR, KV_ERROR_NOT_FOUND);
    KvStatus st;
    g_clear_error(&err);
    g_assert_true(kv_status(kv, &st, &err));
    g_assert_cmpuint(st.values, ==, 0);
    g_assert_cmpint(st.ttl_ns, ==, 1000 * MS);
    kv_free(kv);
}

static void test_bucket_errors(Fx *f, gconstpointer data) {
    g_autoptr(GError) err = NULL;
    g_assert_null(kv_open(f->kc, "missing", &err));
    g_assert_error(err, KV_ERROR, KV_ERROR_NOT_FOUND);
    g_clear_error(&err);
    g_assert_null(kv_create(f->kc, "bad.name", NULL, &err));
    g_assert_error(err, KV_ERROR, KV_ERROR_INVALID);
    g_clear_error(&err);
    Kv *kv = bucket(f, "d", 1, 0);
    g_assert_true(kv_destroy(kv, &err));
    g_assert_no_error(err);
    kv_free(kv);
    g_assert_null(kv_open(f->kc, "d", &err));
    g_assert_error(err, KV_ERROR, KV_ERROR_NOT_FOUND);
}

static void test_objects(Fx *f, gconstpointer unused) {
    g_autoptr(GError) err = NULL;
    ObjStore *os = objstore_create(f->kc, "files", NULL, &err);
    g_assert_no_error(err);
    GString *text = g_string_new(NULL);
    for (int i = 0; text->len < 300 * 1024; i++) g_string_append_printf(text, "line %d\n", i);
    g_autoptr(GBytes) data = g_bytes_new(text->str, text->len);
    ObjMeta meta = {.name = "dir/report.txt", .description = "three chunks"};
    g_autoptr(ObjInfo) info = objstore_put_bytes(os, &meta, data, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(info->chunks, ==, 3);
    g_assert_cmpuint(info->size, ==, text->len);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, (const guchar *)text->str, (gssize)text->len);
    guint8 raw[32];
    gsize n = sizeof raw;
    g_checksum_get_digest(sum, raw, &n);
    g_autofree char *b64 = kv_b64_encode(raw, n, true);
    g_autofree char *want = g_strconcat("SHA-256=", b64, NULL);
    g_assert_cmpstr(info->digest, ==, want);
    g_autoptr(GBytes) back = objstore_get(os, "dir/report.txt", NULL, &err);
    g_assert_no_error(err);
    g_assert_true(g_bytes_equal(back, data));
    g_autoptr(GPtrArray) l = objstore_list(os, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(l->len, ==, 1);
    /* Damage it: purge the chunks behind the meta's back. get must say corrupt, not return. */
    g_autofree char *body = g_strdup_printf("{\"filter\":\"$O.files.C.%s\",\"keep\":1}", info->nuid);
    g_autoptr(JsonParser) p = NULL;
    g_assert_nonnull(kv_js_api(f->kc, "STREAM.PURGE.OBJ_files", body, &p, &err));
    g_assert_no_error(err);
    g_autoptr(GBytes) bad = objstore_get(os, "dir/report.txt", NULL, &err);
    g_assert_null(bad);
    g_assert_error(err, KV_ERROR, KV_ERROR_CORRUPT);
    g_clear_error(&err);
    g_assert_true(objstore_delete(os, "dir/report.txt", &err));
    g_assert_null(objstore_info(os, "dir/report.txt", &err));
    g_assert_error(err, KV_ERROR, KV_ERROR_NOT_FOUND);
    g_string_free(text, TRUE);
    objstore_free(os);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kv/names", test_names);
    g_test_add_func("/kv/encodings", test_encodings);
#define T(name, fn) g_test_add("/kv/" name, Fx, NULL, fx_setup, fn, fx_teardown)
    T("put-get", test_put_get);
    T("create-update-delete", test_create_update_delete);
    T("keys-watch", test_keys_watch);
    T("ttl-virtual-time", test_ttl);
    T("bucket-errors", test_bucket_errors);
    T("objects", test_objects);
    return g_test_run();
}
