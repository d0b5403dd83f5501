/* interop_kv.c — KV buckets through the real C client (libnats 3.4.1: js_CreateKeyValue and
 * kvStore_*), plus cross-client checks with the minijet CLI (build/minijet) on the same bucket.
 *
 * KV is a client convention over streams (spec §4): libnats sends STREAM.CREATE with
 * deny_delete, gets through DIRECT.GET, creates with Nats-Expected-Last-Subject-Sequence: 0,
 * and reads keys/history/watch through ordered push consumers. Every check must hold against
 * nats-server 2.9.10 unchanged. Waits are bounded; IOP_CHECK marks a failure and goes on.
 *
 *   MINIJET_TEST_SERVER=nats-server build/tests/interop_kv --tap
 */
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "server_ctl.h"

#define WAIT_MS 5000

#define CHECK_NATS(expr)                                                                             \
    do {                                                                                             \
        natsStatus s_ = (expr);                                                                      \
        IOP_CHECK(s_ == NATS_OK, "%s -> %s (%s)", #expr, natsStatus_GetText(s_), nats_GetLastError(NULL)); \
    } while (0)

/* One test's world: a fresh server, a connection, a JetStream context, a bucket. */
typedef struct Fix {
    ServerCtl *srv;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
} Fix;

static natsStatus fix_open(Fix *f, const char *bucket, int history, int64_t ttl_ns) {
    memset(f, 0, sizeof *f);
    f->srv = server_ctl_start();
    if (!f->srv) return NATS_ERR;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, server_ctl_url(f->srv));
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, WAIT_MS);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsConnection_Connect(&f->nc, o);
    natsOptions_Destroy(o);
    jsOptions jo;
    if (s == NATS_OK) s = jsOptions_Init(&jo);
    jo.Wait = WAIT_MS;
    if (s == NATS_OK) s = natsConnection_JetStream(&f->js, f->nc, &jo);
    if (s == NATS_OK && bucket) {
        kvConfig cfg;
        kvConfig_Init(&cfg);
        cfg.Bucket = bucket;
        cfg.History = (uint8_t)history;
        cfg.TTL = ttl_ns;
        s = js_CreateKeyValue(&f->kv, f->js, &cfg);
    }
    return s;
}

static void fix_close(Fix *f) {
    kvStore_Destroy(f->kv);
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->srv) server_ctl_expect_alive(f->srv);
    server_ctl_free(f->srv);
}

/* Run build/minijet --server <url> args...; returns the exit status, stdout in *out. */
static int cli(Fix *f, char **out, const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5) {
    g_autofree char *bin = g_build_filename(server_ctl_root(), "build", "minijet", NULL);
    const char *argv[] = {bin, "--server", server_ctl_url(f->srv), a1, a2, a3, a4, a5, NULL};
    int status = -1;
    g_autofree char *err = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, &err, &status, NULL))
        return -1;
    if (status != 0 && err) g_test_message("minijet %s %s: %s", a1, a2 ? a2 : "", err);
    return g_spawn_check_wait_status(status, NULL) ? 0 : 1;
}

/* ---- tests ---- */

static void test_put_get(void) {
    Fix f;
    kvEntry *e = NULL;
    uint64_t r1 = 0, r2 = 0;
    CHECK_NATS(fix_open(&f, "b1", 3, 0));
    CHECK_NATS(kvStore_PutString(&r1, f.kv, "a.b", "one"));
    CHECK_NATS(kvStore_PutString(&r2, f.kv, "a.b", "two"));
    IOP_CHECK(r2 > r1, "revisions grow: %llu then %llu", (unsigned long long)r1, (unsigned long long)r2);
    CHECK_NATS(kvStore_Get(&e, f.kv, "a.b"));
    IOP_CHECK(strcmp(kvEntry_ValueString(e), "two") == 0, "value %s", kvEntry_ValueString(e));
    IOP_CHECK(kvEntry_Revision(e) == r2, "revision");
    IOP_CHECK(kvEntry_Operation(e) == kvOp_Put, "operation");
    kvEntry_Destroy(e);
    e = NULL;
    CHECK_NATS(kvStore_GetRevision(&e, f.kv, "a.b", r1));
    IOP_CHECK(strcmp(kvEntry_ValueString(e), "one") == 0, "old revision %s", kvEntry_ValueString(e));
    kvEntry_Destroy(e);
    e = NULL;
    natsStatus s = kvStore_Get(&e, f.kv, "missing");
    IOP_CHECK(s == NATS_NOT_FOUND, "missing key -> %s", natsStatus_GetText(s));
done:
    kvEntry_Destroy(e);
    fix_close(&f);
}

static void test_create_update(void) {
    Fix f;
    uint64_t r = 0, r2 = 0;
    CHECK_NATS(fix_open(&f, "b2", 1, 0));
    CHECK_NATS(kvStore_CreateString(&r, f.kv, "k", "v1"));
    natsStatus s = kvStore_CreateString(&r2, f.kv, "k", "v2");
    IOP_CHECK(s != NATS_OK, "create on a live key must fail");
    CHECK_NATS(kvStore_UpdateString(&r2, f.kv, "k", "v2", r));
    s = kvStore_UpdateString(NULL, f.kv, "k", "v3", r);
    IOP_CHECK(s != NATS_OK, "update with a stale revision must fail");
    CHECK_NATS(kvStore_Delete(f.kv, "k"));
    CHECK_NATS(kvStore_CreateString(&r, f.kv, "k", "after delete")); /* on top of the DEL marker */
done:
    fix_close(&f);
}

static void test_delete_purge(void) {
    Fix f;
    kvEntry *e = NULL;
    kvEntryList h = {0};
    CHECK_NATS(fix_open(&f, "b3", 5, 0));
    CHECK_NATS(kvStore_PutString(NULL, f.kv, "d", "1"));
    CHECK_NATS(kvStore_PutString(NULL, f.kv, "d", "2"));
    CHECK_NATS(kvStore_Delete(f.kv, "d"));
    natsStatus s = kvStore_Get(&e, f.kv, "d");
    IOP_CHECK(s == NATS_NOT_FOUND, "deleted key -> %s", natsStatus_GetText(s));
    CHECK_NATS(kvStore_History(&h, f.kv, "d", NULL));
    IOP_CHECK(h.Count == 3, "history of d has %d entries", h.Count);
    IOP_CHECK(kvEntry_Operation(h.Entries[2]) == kvOp_Delete, "last is a delete");
    kvEntryList_Destroy(&h);
    CHECK_NATS(kvStore_Purge(f.kv, "d", NULL));
    CHECK_NATS(kvStore_History(&h, f.kv, "d", NULL));
    IOP_CHECK(h.Count == 1 && kvEntry_Operation(h.Entries[0]) == kvOp_Purge, "after purge: %d entries", h.Count);
done:
    kvEntryList_Destroy(&h);
    kvEntry_Destroy(e);
    fix_close(&f);
}

static void test_keys_history(void) {
    Fix f;
    kvKeysList keys = {0};
    kvEntryList h = {0};
    CHECK_NATS(fix_open(&f, "b4", 2, 0));
    const char *names[] = {"x", "y.z", "w/1", "gone"};
    for (int i = 0; i < 4; i++) CHECK_NATS(kvStore_PutString(NULL, f.kv, names[i], names[i]));
    CHECK_NATS(kvStore_Delete(f.kv, "gone"));
    CHECK_NATS(kvStore_Keys(&keys, f.kv, NULL));
    IOP_CHECK(keys.Count == 3, "keys: %d", keys.Count);
    for (int i = 0; i < 3; i++) CHECK_NATS(kvStore_PutString(NULL, f.kv, "x", i == 2 ? "last" : "mid"));
    CHECK_NATS(kvStore_History(&h, f.kv, "x", NULL));
    IOP_CHECK(h.Count == 2, "history 2 keeps 2 revisions, got %d", h.Count);
    IOP_CHECK(strcmp(kvEntry_ValueString(h.Entries[1]), "last") == 0, "newest last");
done:
    kvKeysList_Destroy(&keys);
    kvEntryList_Destroy(&h);
    fix_close(&f);
}

static void test_watch(void) {
    Fix f;
    kvWatcher *w = NULL;
    kvEntry *e = NULL;
    CHECK_NATS(fix_open(&f, "b5", 1, 0));
    CHECK_NATS(kvStore_PutString(NULL, f.kv, "s.1", "a"));
    CHECK_NATS(kvStore_Watch(&w, f.kv, "s.*", NULL));
    CHECK_NATS(kvWatcher_Next(&e, w, WAIT_MS));
    IOP_CHECK(e && strcmp(kvEntry_Key(e), "s.1") == 0, "initial value");
    kvEntry_Destroy(e);
    e = NULL;
    CHECK_NATS(kvWatcher_Next(&e, w, WAIT_MS));
    IOP_CHECK(e == NULL, "the 'initialized' marker (a NULL entry) follows the initial values");
    CHECK_NATS(kvStore_PutString(NULL, f.kv, "s.2", "b"));
    CHECK_NATS(kvStore_PutString(NULL, f.kv, "other", "ignored"));
    CHECK_NATS(kvStore_Delete(f.kv, "s.1"));
    CHECK_NATS(kvWatcher_Next(&e, w, WAIT_MS));
    IOP_CHECK(e && strcmp(kvEntry_Key(e), "s.2") == 0 && kvEntry_Operation(e) == kvOp_Put, "put s.2");
    kvEntry_Destroy(e);
    e = NULL;
    CHECK_NATS(kvWatcher_Next(&e, w, WAIT_MS));
    IOP_CHECK(e && strcmp(kvEntry_Key(e), "s.1") == 0 && kvEntry_Operation(e) == kvOp_Delete, "delete s.1");
done:
    kvEntry_Destroy(e);
    kvWatcher_Destroy(w);
    fix_close(&f);
}

static void test_status_ttl_destroy(void) {
    Fix f;
    kvStatus *st = NULL;
    kvEntry *e = NULL;
    CHECK_NATS(fix_open(&f, "ttl", 4, 1000LL * 1000000LL));
    CHECK_NATS(kvStore_PutString(NULL, f.kv, "t", "short"));
    CHECK_NATS(kvStore_Status(&st, f.kv));
    IOP_CHECK(kvStatus_Values(st) == 1, "values");
    IOP_CHECK(kvStatus_History(st) == 4, "history %lld", (long long)kvStatus_History(st));
    IOP_CHECK(kvStatus_TTL(st) == 1000LL * 1000000LL, "ttl %lld", (long long)kvStatus_TTL(st));
    natsStatus s = NATS_OK;
    gint64 deadline = server_ctl_now_ms() + 6000;
    while (server_ctl_now_ms() < deadline) {
        s = kvStore_Get(&e, f.kv, "t");
        kvEntry_Destroy(e);
        e = NULL;
        if (s == NATS_NOT_FOUND) break;
        server_ctl_sleep_ms(200);
    }
    IOP_CHECK(s == NATS_NOT_FOUND, "value still there after its 1 s ttl: %s", natsStatus_GetText(s));
    CHECK_NATS(js_DeleteKeyValue(f.js, "ttl"));
    kvStore *again = NULL;
    s = js_KeyValue(&again, f.js, "ttl");
    kvStore_Destroy(again);
    IOP_CHECK(s != NATS_OK, "bind to a destroyed bucket must fail");
done:
    kvStatus_Destroy(st);
    fix_close(&f);
}

static void test_bad_input(void) {
    Fix f;
    CHECK_NATS(fix_open(&f, "b6", 1, 0));
    natsStatus s = kvStore_PutString(NULL, f.kv, "session:1", "x");
    IOP_CHECK(s == NATS_INVALID_ARG, "':' in a key -> %s", natsStatus_GetText(s));
    s = kvStore_PutString(NULL, f.kv, "a..b", "x");
    IOP_CHECK(s == NATS_INVALID_ARG, "empty token -> %s", natsStatus_GetText(s));
    kvStore *kv = NULL;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = "bad.name";
    s = js_CreateKeyValue(&kv, f.js, &cfg);
    kvStore_Destroy(kv);
    IOP_CHECK(s == NATS_INVALID_ARG, "bad bucket -> %s", natsStatus_GetText(s));
done:
    fix_close(&f);
}

/* The minijet CLI and libnats on one bucket, both ways. */
static void test_cross_cli(void) {
    Fix f;
    kvEntry *e = NULL;
    char *out = NULL;
    CHECK_NATS(fix_open(&f, NULL, 0, 0));
    IOP_CHECK(cli(&f, NULL, "kv", "add", "shared", "--history", "3") == 0, "kv add");
    IOP_CHECK(cli(&f, NULL, "kv", "put", "shared", "from.cli", "hello C") == 0, "kv put");
    CHECK_NATS(js_KeyValue(&f.kv, f.js, "shared"));
    CHECK_NATS(kvStore_Get(&e, f.kv, "from.cli"));
    IOP_CHECK(strcmp(kvEntry_ValueString(e), "hello C") == 0, "libnats reads the CLI's value");
    CHECK_NATS(kvStore_PutString(NULL, f.kv, "from.libnats", "hello CLI"));
    IOP_CHECK(cli(&f, &out, "kv", "get", "shared", "from.libnats", NULL) == 0, "kv get");
    IOP_CHECK(out && strcmp(out, "hello CLI\n") == 0, "CLI reads libnats' value: %s", out);
    g_free(out);
    out = NULL;
    CHECK_NATS(kvStore_Delete(f.kv, "from.cli"));
    IOP_CHECK(cli(&f, &out, "kv", "keys", "shared", NULL, NULL) == 0, "kv keys");
    IOP_CHECK(out && strcmp(out, "from.libnats\n") == 0, "keys: %s", out);
done:
    g_free(out);
    kvEntry_Destroy(e);
    fix_close(&f);
}

int main(int argc, char **argv) {
    server_ctl_test_init(&argc, &argv);
    server_ctl_watchdog(110);
    g_test_add_func("/interop/kv/put-get", test_put_get);
    g_test_add_func("/interop/kv/create-update", test_create_update);
    g_test_add_func("/interop/kv/delete-purge", test_delete_purge);
    g_test_add_func("/interop/kv/keys-history", test_keys_history);
    g_test_add_func("/interop/kv/watch", test_watch);
    g_test_add_func("/interop/kv/status-ttl-destroy", test_status_ttl_destroy);
    g_test_add_func("/interop/kv/bad-input", test_bad_input);
    g_test_add_func("/interop/kv/cross-cli", test_cross_cli);
    int rc = g_test_run();
    nats_CloseAndWait(2000);
    return rc;
}
