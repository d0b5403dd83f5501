/* test_stream.c — streams and the JetStream API, driven like a real client would drive them:
 * in-memory connections send PUB/HPUB with reply subjects and read the MSG/HMSG replies.
 * Time is virtual (test_env_advance), the disk is test_env's crashable one. Invariants of the
 * server and of every stream are checked after each request. */
#include <string.h>

#include "consumer_api.h"
#include "jetstream.h"
#include "stream_api.h"
#include "jsonutil.h"
#include "limits.h"
#include "server.h"
#include "test_env.h"
#include "test_wire.h"

typedef struct {
    TestEnv *te;
    Server *srv;
    JetStream *js;
    ServerConfig cfg;
    JetStreamConfig jcfg;
    EnvConn c;
    int inbox;
} Fx;

#define CONNECT "{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}"

static void fx_check(Fx *f) {
    server_check_invariants(f->srv); /* reaches jetstream_check_invariants through its hook */
}

static void fx_start(Fx *f) {
    g_autoptr(GError) err = NULL;
    f->srv = server_new(&f->te->env, &f->cfg, &err);
    g_assert_no_error(err);
    f->js = jetstream_new(f->srv, &f->jcfg, &err);
    g_assert_no_error(err);
    stream_api_register(f->js);
    consumer_api_register(f->js);
    f->c = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, f->c));
    test_env_client_send(f->te, f->c, "CONNECT " CONNECT "\r\nSUB _INBOX.> 1\r\nPING\r\n");
    test_env_advance(f->te, 0);
    g_autofree char *out = test_env_client_take(f->te, f->c);
    g_assert_cmpstr(out, ==, "PONG\r\n");
}

static void fx_setup(Fx *f, gconstpointer data) {
    f->te = test_env_new(7);
    server_config_init(&f->cfg);
    jetstream_config_init(&f->jcfg);
    f->jcfg.store_dir = "js";
    fx_start(f);
}

static void fx_free_server(Fx *f) {
    jetstream_free(f->js);
    server_free(f->srv);
    f->srv = NULL;
    f->js = NULL;
}

static void fx_stop(Fx *f) {
    fx_check(f);
    fx_free_server(f);
}

static void fx_teardown(Fx *f, gconstpointer data) {
    if (f->srv != NULL) fx_stop(f);
    test_env_free(f->te);
}

static void fx_restart(Fx *f) {
    fx_stop(f);
    fx_start(f);
}

/* Publish (HPUB when hdrs != NULL: "Key: v\r\n" lines) with a fresh reply inbox; let the turn
 * and its timers run; return every message that came back. */
static GArray *send_raw(Fx *f, const char *subject, const char *hdrs, const char *body, bool reply) {
    g_autofree char *inbox = reply ? g_strdup_printf("_INBOX.%d", ++f->inbox) : NULL;
    g_autofree char *line = test_wire_pub(subject, inbox, hdrs, body);
    test_env_client_send(f->te, f->c, line);
    test_env_advance(f->te, 0);
    fx_check(f);
    g_autofree char *out = test_env_client_take(f->te, f->c);
    return test_wire_parse(out);
}

/* A request whose reply is one JSON message (or none: returns NULL). */
static char *req(Fx *f, const char *subject, const char *body) {
    g_autoptr(GArray) msgs = send_raw(f, subject, NULL, body, true);
    if (msgs->len == 0) return NULL;
    g_assert_cmpuint(msgs->len, ==, 1);
    TestMsg *m = &g_array_index(msgs, TestMsg, 0);
    return g_steal_pointer(&m->data);
}

static char *hreq(Fx *f, const char *subject, const char *hdrs, const char *body) {
    g_autoptr(GArray) msgs = send_raw(f, subject, hdrs, body, true);
    if (msgs->len == 0) return NULL;
    g_assert_cmpuint(msgs->len, ==, 1);
    return g_steal_pointer(&g_array_index(msgs, TestMsg, 0).data);
}


/* Create a stream and assert success. */
static void create(Fx *f, const char *name, const char *config_json) {
    g_autofree char *subj = g_strdup_printf("$JS.API.STREAM.CREATE.%s", name);
    g_autofree char *r = req(f, subj, config_json);
    g_assert_nonnull(r);
    if (strstr(r, "\"error\"") != NULL) g_error("create %s failed: %s", name, r);
    TEST_ASSERT_JSON(r, "$.did_create", "true");
}

static void assert_err(const char *r, const char *err_code, const char *description) {
    g_assert_nonnull(r);
    TEST_ASSERT_JSON(r, "$.error.err_code", err_code);
    if (description != NULL) TEST_ASSERT_JSON(r, "$.error.description", description);
}

/* Publish with a reply and return the PubAck text. */
static char *pub(Fx *f, const char *subject, const char *hdrs, const char *body) {
    return hreq(f, subject, hdrs, body);
}

static char *info(Fx *f, const char *name, const char *body) {
    g_autofree char *subj = g_strdup_printf("$JS.API.STREAM.INFO.%s", name);
    return req(f, subj, body);
}

/* ================================================================== create / info */

static void test_create_defaults(Fx *f, gconstpointer d) {
    g_autofree char *r = req(f, "$JS.API.STREAM.CREATE.ORDERS", "{\"name\":\"ORDERS\"}");
    TEST_ASSERT_JSON(r, "$.type", "io.nats.jetstream.api.v1.stream_create_response");
    g_autofree char *cfg = test_json_path(r, "$.config");
    g_assert_cmpstr(cfg, ==,
                    "{\"name\":\"ORDERS\",\"subjects\":[\"ORDERS\"],\"retention\":\"limits\",\"max_consumers\":-1,"
                    "\"max_msgs\":-1,\"max_bytes\":-1,\"max_age\":0,\"max_msgs_per_subject\":-1,\"max_msg_size\":-1,"
                    "\"discard\":\"old\",\"storage\":\"file\",\"num_replicas\":1,\"duplicate_window\":120000000000,"
                    "\"allow_direct\":false,\"mirror_direct\":false,\"sealed\":false,\"deny_delete\":false,"
                    "\"deny_purge\":false,\"allow_rollup_hdrs\":false}");
    TEST_ASSERT_JSON(r, "$.created", "2026-01-01T00:00:01Z");
    g_autofree char *st = test_json_path(r, "$.state");
    g_assert_cmpstr(st, ==,
                    "{\"messages\":0,\"bytes\":0,\"first_seq\":0,\"first_ts\":\"0001-01-01T00:00:00Z\","
                    "\"last_seq\":0,\"last_ts\":\"0001-01-01T00:00:00Z\",\"consumer_count\":0}");
    TEST_ASSERT_JSON(r, "$.did_create", "true");
    /* idempotent: the same config again succeeds and says did_create */
    g_autofree char *again = req(f, "$JS.API.STREAM.CREATE.ORDERS", "{\"name\":\"ORDERS\",\"subjects\":[\"ORDERS\"]}");
    TEST_ASSERT_JSON(again, "$.did_create", "true");
    g_autofree char *diff = req(f, "$JS.API.STREAM.CREATE.ORDERS", "{\"name\":\"ORDERS\",\"max_msgs\":5}");
    assert_err(diff, "10058", "stream name already in use with a different configuration");
    /* defaults echoed: max_age shortens the dedup window, 0 limits become -1, description kept */
    g_autofree char *r2 = req(f, "$JS.API.STREAM.CREATE.B",
                              "{\"name\":\"B\",\"description\":\"d\",\"max_age\":1000000000,\"max_msgs\":0,"
                              "\"storage\":\"memory\",\"no_ack\":true,\"subjects\":[\"b.>\"]}");
    TEST_ASSERT_JSON(r2, "$.config.duplicate_window", "1000000000");
    TEST_ASSERT_JSON(r2, "$.config.max_msgs", "-1");
    TEST_ASSERT_JSON(r2, "$.config.description", "d");
    TEST_ASSERT_JSON(r2, "$.config.no_ack", "true");
    TEST_ASSERT_JSON(r2, "$.config.storage", "memory");
    TEST_ASSERT_JSON(r2, "$.config.subjects[0]", "b.>");
}

/* A create that fails on the disk (full: the segment cannot be made) answers an error and
 * leaves nothing behind: no folder, nothing in STREAM.NAMES, nothing after a restart; the
 * same create works once the disk has room. (Before: an empty streams/<name>/msgs stayed.) */
static void test_create_failure_leaves_nothing(Fx *f, gconstpointer d) {
    test_env_set_disk_full(f->te, TRUE);
    g_autofree char *r = req(f, "$JS.API.STREAM.CREATE.FULL", "{\"name\":\"FULL\",\"subjects\":[\"full.>\"]}");
    g_assert_nonnull(r);
    TEST_ASSERT_JSON(r, "$.error.code", "500");
    g_assert_false(env_path_exists(&f->te->env, "js/streams/FULL"));
    test_env_set_disk_full(f->te, FALSE);
    g_autofree char *names = req(f, "$JS.API.STREAM.NAMES", "");
    TEST_ASSERT_JSON(names, "$.total", "0");
    fx_restart(f);
    g_autofree char *names2 = req(f, "$JS.API.STREAM.NAMES", "");
    TEST_ASSERT_JSON(names2, "$.total", "0");
    create(f, "FULL", "{\"name\":\"FULL\",\"subjects\":[\"full.>\"]}");
    g_assert_true(env_path_exists(&f->te->env, "js/streams/FULL/meta.json"));
}

static void test_info(Fx *f, gconstpointer d) {
    g_autofree char *miss = info(f, "NOPE", "");
    g_assert_cmpstr(miss, ==,
                    "{\"type\":\"io.nats.jetstream.api.v1.stream_info_response\",\"error\":{\"code\":404,"
                    "\"err_code\":10059,\"description\":\"stream not found\"},\"total\":0,\"offset\":0,\"limit\":0}");
    create(f, "S", "{\"name\":\"S\",\"subjects\":[\"s.>\"]}");
    g_free(pub(f, "s.a", NULL, "1"));
    g_free(pub(f, "s.b", NULL, "22"));
    g_free(pub(f, "s.a", NULL, "333"));
    g_autofree char *r = info(f, "S", "");
    TEST_ASSERT_JSON(r, "$.total", "0");
    TEST_ASSERT_JSON(r, "$.limit", "0");
    TEST_ASSERT_JSON(r, "$.state.messages", "3");
    TEST_ASSERT_JSON(r, "$.state.first_seq", "1");
    TEST_ASSERT_JSON(r, "$.state.last_seq", "3");
    TEST_ASSERT_JSON(r, "$.state.num_subjects", "2");
    TEST_ASSERT_JSON(r, "$.state.first_ts", "2026-01-01T00:00:01Z");
    g_autofree char *sf = info(f, "S", "{\"subjects_filter\":\">\"}");
    TEST_ASSERT_JSON(sf, "$.total", "2");
    TEST_ASSERT_JSON(sf, "$.limit", "100000");
    TEST_ASSERT_JSON(sf, "$.state.subjects['s.a']", "2");
    TEST_ASSERT_JSON(sf, "$.state.subjects['s.b']", "1");
    g_autofree char *del = req(f, "$JS.API.STREAM.MSG.DELETE.S", "{\"seq\":2}");
    TEST_ASSERT_JSON(del, "$.success", "true");
    g_autofree char *dd = info(f, "S", "{\"deleted_details\":true}");
    TEST_ASSERT_JSON(dd, "$.state.num_deleted", "1");
    TEST_ASSERT_JSON(dd, "$.state.deleted", "[2]");
    /* account info counts the stream and the API calls */
    g_autofree char *ai = req(f, "$JS.API.INFO", "");
    TEST_ASSERT_JSON(ai, "$.type", "io.nats.jetstream.api.v1.account_info_response");
    TEST_ASSERT_JSON(ai, "$.streams", "1");
    TEST_ASSERT_JSON(ai, "$.limits.max_streams", "-1");
    TEST_ASSERT_JSON(ai, "$.api.errors", "1");
}

/* ================================================================== validation */

typedef struct {
    const char *subject, *body, *err_code, *description;
} BadCase;

static void test_validation(Fx *f, gconstpointer d) {
    create(f, "TAKEN", "{\"name\":\"TAKEN\",\"subjects\":[\"taken.>\"]}");
    static const BadCase cases[] = {
        {"$JS.API.STREAM.CREATE.A", "", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "[1]", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_msgs\":\"x\"}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_msgs\":1.5}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"retention\":\"bogus\"}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":\"a\"}", "10025", "invalid JSON"},
        /* out of range for Go's types: nats-server 2.9.10 answers 10025 for each */
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_bytes\":9223372036854775808}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_msgs\":18446744073709551615}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_msgs\":-9223372036854775809}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_msg_size\":2147483648}", "10025", "invalid JSON"},
        /* a NUL in a name: json-glib would cut it to "A" (nats-server: 10056; see jsonutil.c) */
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\\u0000x\"}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"a\\u0000\"]}", "10025", "invalid JSON"},
        {"$JS.API.STREAM.CREATE.A", "{\"subjects\":[\"a\"]}", "10056", "stream name in subject does not match request"},
        {"$JS.API.STREAM.CREATE.B", "{\"name\":\"A\"}", "10056", NULL},
        {"$JS.API.STREAM.CREATE.H*", "{\"name\":\"H*\"}", "10052", "stream name is required and can not contain '.', '*', '>'"},
        {"$JS.API.STREAM.CREATE.a/b", "{\"name\":\"a/b\"}", "10128", "Stream name can not contain path separators"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"num_replicas\":3}", "10074", "replicas > 1 not supported in non-clustered mode"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"num_replicas\":-1}", "10133", "replicas count cannot be negative"},
        /* nats-server caps replicas at 5 before it asks whether it is clustered */
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"num_replicas\":6}", "10052", "maximum replicas is 5"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"template_owner\":\"T\"}", "10049", "stream not owned by template"},
        {"$JS.API.STREAM.UPDATE.TAKEN", "{\"name\":\"TAKEN\",\"subjects\":[\"taken.>\"],\"template_owner\":\"T\"}", "10052", "stream configuration update can not be owned by a template"},
        /* refused, not ignored: minijet has no mirror, sources or republish (stream_config.c) */
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"mirror\":{\"name\":\"TAKEN\"}}", "10052", "mirror and sources are not supported by minijet"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"sources\":[{\"name\":\"TAKEN\"}]}", "10052", "mirror and sources are not supported by minijet"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"republish\":{\"src\":\">\",\"dest\":\"x.>\"}}", "10052", "republish is not supported by minijet"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"a.*\",\"a.>\"]}", "10052", "subject \"a.*\" overlaps with \"a.>\""},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"a\",\"a\"]}", "10052", "duplicate subjects detected"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"a..b\"]}", "10052", "invalid subject"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"$JS.API.x\"]}", "10052", "subjects overlap with jetstream api"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\"taken.x\"]}", "10065", "subjects overlap with an existing stream"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"subjects\":[\">\"]}", "10065", NULL},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_age\":1000000000,\"duplicate_window\":2000000000}", "10052", "duplicates window can not be larger then max age"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_age\":-1}", "10052", "duplicates window can not be negative"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"allow_rollup_hdrs\":true,\"deny_purge\":true}", "10052", "roll-ups require the purge permission"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"discard_new_per_subject\":true}", "10052", "discard new per subject requires discard new policy to be set"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"discard\":\"new\",\"discard_new_per_subject\":true}", "10052", "discard new per subject requires max msgs per subject > 0"},
        {"$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"sealed\":true}", "10052", "stream configuration for create can not be sealed"},
        {"$JS.API.STREAM.UPDATE.NOPE", "{\"name\":\"NOPE\"}", "10059", "stream not found"},
        {"$JS.API.STREAM.UPDATE.TAKEN", "", "10025", NULL},
        {"$JS.API.STREAM.UPDATE.TAKEN", "{\"name\":\"TAKEN\",\"subjects\":[\"taken.>\"],\"storage\":\"memory\"}", "10052", "stream configuration update can not change storage type"},
        {"$JS.API.STREAM.UPDATE.TAKEN", "{\"name\":\"TAKEN\",\"subjects\":[\"taken.>\"],\"retention\":\"interest\"}", "10052", "stream configuration update can not change retention policy"},
        {"$JS.API.STREAM.DELETE.NOPE", "", "10059", NULL},
        {"$JS.API.STREAM.PURGE.NOPE", "", "10059", NULL},
        {"$JS.API.STREAM.MSG.GET.NOPE", "{\"seq\":1}", "10059", NULL},
        {"$JS.API.STREAM.MSG.GET.TAKEN", "{}", "10003", "bad request"},
        {"$JS.API.STREAM.MSG.GET.TAKEN", "", "10003", "bad request"},
        {"$JS.API.STREAM.MSG.GET.TAKEN", "{\"seq\":1,\"last_by_subj\":\"taken.a\"}", "10003", NULL},
        {"$JS.API.STREAM.MSG.GET.TAKEN", "{\"seq\":1}", "10037", "no message found"},
        {"$JS.API.STREAM.MSG.DELETE.TAKEN", "", "10003", "bad request"},
        {"$JS.API.STREAM.MSG.DELETE.TAKEN", "{\"seq\":9}", "10057", "stream store EOF"},
        {"$JS.API.STREAM.PURGE.TAKEN", "{\"seq\":2,\"keep\":1}", "10003", NULL},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *r = req(f, cases[i].subject, cases[i].body);
        if (r == NULL) g_error("no reply to %s %s", cases[i].subject, cases[i].body);
        g_test_message("%s %s -> %s", cases[i].subject, cases[i].body, r);
        assert_err(r, cases[i].err_code, cases[i].description);
        g_autofree char *type = test_json_path(r, "$.type");
        g_assert_true(g_str_has_prefix(type, "io.nats.jetstream.api.v1.stream_"));
    }
    g_autofree char *pe = req(f, "$JS.API.STREAM.PURGE.NOPE", "");
    TEST_ASSERT_JSON(pe, "$.purged", "0");
    /* nothing was created by any of it */
    g_autofree char *names = req(f, "$JS.API.STREAM.NAMES", "");
    TEST_ASSERT_JSON(names, "$.streams", "[\"TAKEN\"]");
}

/* `[` x 100000 `]` x 100000 overflowed json-glib's recursion (the C stack) and killed the
 * broker; it is "invalid JSON" (10025) like nats-server says. Depth 10000 (Go's limit) is
 * still parsed: an unknown member is ignored. */
static void test_deep_json(Fx *f, gconstpointer d) {
    g_autoptr(GString) deep = g_string_new(NULL);
    for (int i = 0; i < 100000; i++) g_string_append_c(deep, '[');
    for (int i = 0; i < 100000; i++) g_string_append_c(deep, ']');
    g_autofree char *r = req(f, "$JS.API.STREAM.CREATE.A", deep->str);
    assert_err(r, "10025", "invalid JSON");
    g_autoptr(GString) ok = g_string_new("{\"name\":\"A\",\"x\":");
    for (int i = 0; i < LIMIT_JSON_DEPTH_COUNT - 1; i++) g_string_append_c(ok, '[');
    g_string_append(ok, "\"]]]]\\\"[[\"");  /* brackets in a string do not count */
    for (int i = 0; i < LIMIT_JSON_DEPTH_COUNT - 1; i++) g_string_append_c(ok, ']');
    g_string_append_c(ok, '}');
    g_autofree char *r2 = req(f, "$JS.API.STREAM.CREATE.A", ok->str);
    TEST_ASSERT_JSON(r2, "$.config.name", "A");
    g_autoptr(GString) over = g_string_new("{\"name\":\"B\",\"x\":");
    for (int i = 0; i < LIMIT_JSON_DEPTH_COUNT; i++) g_string_append_c(over, '{');
    g_autofree char *r3 = req(f, "$JS.API.STREAM.CREATE.B", over->str);
    assert_err(r3, "10025", "invalid JSON");
    /* the same bound everywhere: a consumer create, and the helpers themselves */
    g_autoptr(GString) cdeep = g_string_new("{\"stream_name\":\"A\",\"config\":");
    for (int i = 0; i < 50000; i++) g_string_append(cdeep, "{\"a\":");
    g_autofree char *r4 = req(f, "$JS.API.CONSUMER.CREATE.A", cdeep->str);
    assert_err(r4, "10025", "invalid JSON");
    g_assert_true(jsonu_text_ok("[\"\\u0001\",-9223372036854775808,1e400,1.5]", 44));
    g_assert_false(jsonu_text_ok("[9223372036854775808]", 21));
}

static void test_no_reply_cases(Fx *f, gconstpointer d) {
    create(f, "S", "{\"name\":\"S\"}");
    /* unknown API subjects and wrong token counts: silence, not 503 */
    g_assert_null(req(f, "$JS.API.STREAM.CREATE.S.extra", "{\"name\":\"S\"}"));
    g_assert_null(req(f, "$JS.API.STREAM.BOGUS", ""));
    g_assert_null(req(f, "$JS.API.STREAM.INFO", ""));
    g_assert_null(req(f, "$JS.API.NOPE.X", ""));
    /* DIRECT.GET without allow_direct, or on no stream: silence */
    g_assert_null(req(f, "$JS.API.DIRECT.GET.S", "{\"seq\":1}"));
    g_assert_null(req(f, "$JS.API.DIRECT.GET.NOPE", "{\"seq\":1}"));
    /* a request without a reply subject changes nothing and answers nothing */
    g_autoptr(GArray) none = send_raw(f, "$JS.API.STREAM.DELETE.S", NULL, "", false);
    g_assert_cmpuint(none->len, ==, 0);
    g_autofree char *r = info(f, "S", "");
    TEST_ASSERT_JSON(r, "$.config.name", "S");
}

/* ================================================================== update / delete */

static void test_update(Fx *f, gconstpointer d) {
    create(f, "U", "{\"name\":\"U\",\"subjects\":[\"u.*\"],\"max_msgs\":10}");
    for (int i = 0; i < 5; i++) g_free(pub(f, "u.x", NULL, "m"));
    g_autofree char *r = req(f, "$JS.API.STREAM.UPDATE.U",
                             "{\"name\":\"U\",\"subjects\":[\"u.*\",\"v\"],\"max_msgs\":3,\"deny_delete\":true,\"description\":\"hi\"}");
    TEST_ASSERT_JSON(r, "$.type", "io.nats.jetstream.api.v1.stream_update_response");
    TEST_ASSERT_JSON(r, "$.did_create", "");
    TEST_ASSERT_JSON(r, "$.config.max_msgs", "3");
    TEST_ASSERT_JSON(r, "$.config.description", "hi");
    TEST_ASSERT_JSON(r, "$.state.messages", "3"); /* the lowered limit applies at once */
    g_autofree char *a = pub(f, "v", NULL, "new subject");
    g_assert_cmpstr(a, ==, "{\"stream\":\"U\", \"seq\":6}");
    g_autofree char *cancel = req(f, "$JS.API.STREAM.UPDATE.U", "{\"name\":\"U\",\"subjects\":[\"u.*\",\"v\"]}");
    assert_err(cancel, "10052", "stream configuration update can not cancel deny message deletes");
    /* sealing forces discard new, deny_delete, deny_purge, no rollups */
    g_autofree char *s = req(f, "$JS.API.STREAM.UPDATE.U", "{\"name\":\"U\",\"subjects\":[\"u.*\",\"v\"],\"deny_delete\":true,\"sealed\":true}");
    TEST_ASSERT_JSON(s, "$.config.sealed", "true");
    TEST_ASSERT_JSON(s, "$.config.discard", "new");
    TEST_ASSERT_JSON(s, "$.config.deny_purge", "true");
    g_autofree char *unseal = req(f, "$JS.API.STREAM.UPDATE.U", "{\"name\":\"U\",\"subjects\":[\"u.*\",\"v\"],\"deny_delete\":true,\"deny_purge\":true}");
    assert_err(unseal, "10052", "stream configuration update can not unseal a sealed stream");
    g_autofree char *p = pub(f, "u.x", NULL, "no");
    assert_err(p, "10109", "invalid operation on sealed stream");
    TEST_ASSERT_JSON(p, "$.stream", "U");
    TEST_ASSERT_JSON(p, "$.seq", ""); /* no "seq" in an error PubAck (see puback_error) */
    g_autofree char *pu = req(f, "$JS.API.STREAM.PURGE.U", "");
    assert_err(pu, "10109", NULL);
    TEST_ASSERT_JSON(pu, "$.purged", "0");
    g_autofree char *md = req(f, "$JS.API.STREAM.MSG.DELETE.U", "{\"seq\":5}");
    assert_err(md, "10109", NULL);
    /* subjects moved: overlap with another stream is refused on update too */
    create(f, "W", "{\"name\":\"W\",\"subjects\":[\"w\"]}");
    g_autofree char *ov = req(f, "$JS.API.STREAM.UPDATE.W", "{\"name\":\"W\",\"subjects\":[\"w\",\"u.q\"]}");
    assert_err(ov, "10065", NULL);
}

static void test_delete(Fx *f, gconstpointer d) {
    create(f, "D", "{\"name\":\"D\",\"subjects\":[\"d\"]}");
    g_free(pub(f, "d", NULL, "x"));
    g_autofree char *r = req(f, "$JS.API.STREAM.DELETE.D", "");
    g_assert_cmpstr(r, ==, "{\"type\":\"io.nats.jetstream.api.v1.stream_delete_response\",\"success\":true}");
    /* its subjects are free again: a publish has no responder now */
    g_autoptr(GArray) none = send_raw(f, "d", NULL, "x", true);
    g_assert_cmpuint(none->len, ==, 1);
    g_assert_nonnull(strstr(g_array_index(none, TestMsg, 0).hdr, "503"));
    create(f, "D", "{\"name\":\"D\",\"subjects\":[\"d\"]}");
    g_autofree char *i = info(f, "D", "");
    TEST_ASSERT_JSON(i, "$.state.last_seq", "0"); /* a new stream, not the old one back */
    fx_restart(f);
    g_autofree char *i2 = info(f, "D", "");
    TEST_ASSERT_JSON(i2, "$.state.last_seq", "0");
}

static void test_names_list(Fx *f, gconstpointer d) {
    g_autofree char *empty = req(f, "$JS.API.STREAM.NAMES", "");
    g_assert_cmpstr(empty, ==, "{\"type\":\"io.nats.jetstream.api.v1.stream_names_response\",\"total\":0,"
                               "\"offset\":0,\"limit\":1024,\"streams\":null}");
    create(f, "C", "{\"name\":\"C\",\"subjects\":[\"c.>\"]}");
    create(f, "A", "{\"name\":\"A\",\"subjects\":[\"a.*\"]}");
    create(f, "B", "{\"name\":\"B\"}");
    g_autofree char *all = req(f, "$JS.API.STREAM.NAMES", "{\"offset\":0}");
    TEST_ASSERT_JSON(all, "$.streams", "[\"A\",\"B\",\"C\"]");
    TEST_ASSERT_JSON(all, "$.total", "3");
    g_autofree char *sub = req(f, "$JS.API.STREAM.NAMES", "{\"subject\":\"c.x.y\"}");
    TEST_ASSERT_JSON(sub, "$.streams", "[\"C\"]");
    g_autofree char *sub2 = req(f, "$JS.API.STREAM.NAMES", "{\"subject\":\"*.q\"}");
    TEST_ASSERT_JSON(sub2, "$.streams", "[\"A\",\"C\"]");
    g_autofree char *none = req(f, "$JS.API.STREAM.NAMES", "{\"subject\":\"zzz\"}");
    TEST_ASSERT_JSON(none, "$.streams", "null");
    g_autofree char *off = req(f, "$JS.API.STREAM.NAMES", "{\"offset\":2}");
    TEST_ASSERT_JSON(off, "$.streams", "[\"C\"]");
    TEST_ASSERT_JSON(off, "$.offset", "2");
    g_autofree char *past = req(f, "$JS.API.STREAM.NAMES", "{\"offset\":9}");
    TEST_ASSERT_JSON(past, "$.offset", "3");
    TEST_ASSERT_JSON(past, "$.streams", "null");
    g_autofree char *list = req(f, "$JS.API.STREAM.LIST", "");
    TEST_ASSERT_JSON(list, "$.type", "io.nats.jetstream.api.v1.stream_list_response");
    TEST_ASSERT_JSON(list, "$.limit", "256");
    TEST_ASSERT_JSON(list, "$.streams[1].config.name", "B");
    TEST_ASSERT_JSON(list, "$.streams[2].state.messages", "0");
    g_autofree char *bad = req(f, "$JS.API.STREAM.LIST", "nope");
    assert_err(bad, "10025", NULL);
}

/* ================================================================== publishing */

static void test_puback(Fx *f, gconstpointer d) {
    create(f, "P", "{\"name\":\"P\",\"subjects\":[\"p.>\"]}");
    g_autofree char *a = pub(f, "p.1", NULL, "hello");
    g_assert_cmpstr(a, ==, "{\"stream\":\"P\", \"seq\":1}");
    g_autofree char *b = pub(f, "p.2", "X: y", "hello");
    g_assert_cmpstr(b, ==, "{\"stream\":\"P\", \"seq\":2}");
    /* no reply subject: stored, nothing sent */
    g_autoptr(GArray) none = send_raw(f, "p.3", NULL, "quiet", false);
    g_assert_cmpuint(none->len, ==, 0);
    /* plain subscribers still get the message, headers verbatim */
    test_env_client_send(f->te, f->c, "SUB p.> 2\r\n");
    g_autoptr(GArray) both = send_raw(f, "p.4", "Nats-Msg-Id: m4", "x", true);
    g_assert_cmpuint(both->len, ==, 2);
    g_autofree char *i = info(f, "P", "");
    TEST_ASSERT_JSON(i, "$.state.messages", "4");
    g_autofree char *g = req(f, "$JS.API.STREAM.MSG.GET.P", "{\"seq\":4}");
    TEST_ASSERT_JSON(g, "$.message.hdrs", "TkFUUy8xLjANCk5hdHMtTXNnLUlkOiBtNA0KDQo="); /* NATS/1.0 + Nats-Msg-Id: m4 */
}

/* GROUP COMMIT: acks for the publishes of one turn come only after the turn's flush. */
static void test_group_commit(Fx *f, gconstpointer d) {
    create(f, "G", "{\"name\":\"G\",\"subjects\":[\"g\"]}");
    GString *burst = g_string_new(NULL);
    for (int i = 0; i < 50; i++) g_string_append_printf(burst, "PUB g _INBOX.g%d 1\r\nx\r\n", i);
    test_env_client_send(f->te, f->c, burst->str);
    g_string_free(burst, TRUE);
    g_autofree char *before = test_env_client_take(f->te, f->c);
    g_assert_cmpstr(before, ==, ""); /* appended, not yet durable: no ack */
    test_env_advance(f->te, 0);       /* the end of the turn: one flush, fifty acks */
    g_autofree char *after = test_env_client_take(f->te, f->c);
    g_autoptr(GArray) acks = test_wire_parse(after);
    g_assert_cmpuint(acks->len, ==, 50);
    g_assert_cmpstr(g_array_index(acks, TestMsg, 49).data, ==, "{\"stream\":\"G\", \"seq\":50}");
    g_assert_cmpstr(g_array_index(acks, TestMsg, 0).subject, ==, "_INBOX.g0");
}

static void test_dedup(Fx *f, gconstpointer d) {
    create(f, "DD", "{\"name\":\"DD\",\"subjects\":[\"dd\"],\"duplicate_window\":10000000000}");
    g_autofree char *a = pub(f, "dd", "Nats-Msg-Id: A", "1");
    g_assert_cmpstr(a, ==, "{\"stream\":\"DD\", \"seq\":1}");
    g_autofree char *b = pub(f, "dd", "Nats-Msg-Id: B", "2");
    g_autofree char *dup = pub(f, "dd", "Nats-Msg-Id: A", "1 again");
    g_assert_cmpstr(dup, ==, "{\"stream\":\"DD\", \"seq\":1,\"duplicate\": true}");
    /* case-sensitive key: a different header, not a msg id */
    g_autofree char *lc = pub(f, "dd", "nats-msg-id: A", "3");
    g_assert_cmpstr(lc, ==, "{\"stream\":\"DD\", \"seq\":3}");
    /* dedup survives a restart (rebuilt from the stored messages of the window) */
    fx_restart(f);
    g_autofree char *dup2 = pub(f, "dd", "Nats-Msg-Id: B", "2 again");
    g_assert_cmpstr(dup2, ==, "{\"stream\":\"DD\", \"seq\":2,\"duplicate\": true}");
    /* after the window the id is new again */
    test_env_advance(f->te, 11000000000LL);
    g_autofree char *fresh = pub(f, "dd", "Nats-Msg-Id: A", "1 later");
    g_assert_cmpstr(fresh, ==, "{\"stream\":\"DD\", \"seq\":4}");
}

/* After a restart the dedup window is read when first needed (stream_publish.c, AFTER A
 * RESTART): by an Expected-Last-Msg-Id check, and after id-less appends that the table skipped
 * until then. */
static void test_dedup_lazy(Fx *f, gconstpointer d) {
    create(f, "DL", "{\"name\":\"DL\",\"subjects\":[\"dl\"],\"duplicate_window\":10000000000}");
    g_free(pub(f, "dl", "Nats-Msg-Id: X1", "1"));
    fx_restart(f);
    g_autofree char *e1 = pub(f, "dl", "Nats-Expected-Last-Msg-Id: X1", "2");
    g_assert_cmpstr(e1, ==, "{\"stream\":\"DL\", \"seq\":2}");
    g_free(pub(f, "dl", "Nats-Msg-Id: X3", "3"));
    fx_restart(f);
    g_free(pub(f, "dl", NULL, "4, no id: the table is not kept yet"));
    g_autofree char *e2 = pub(f, "dl", "Nats-Expected-Last-Msg-Id: X3", "5");
    assert_err(e2, "10070", "wrong last msg ID: "); /* the last message (4) has none */
    g_autofree char *dup = pub(f, "dl", "Nats-Msg-Id: X3", "3 again");
    g_assert_cmpstr(dup, ==, "{\"stream\":\"DL\", \"seq\":3,\"duplicate\": true}");
    g_autofree char *x1 = pub(f, "dl", "Nats-Msg-Id: X1", "1 again");
    g_assert_cmpstr(x1, ==, "{\"stream\":\"DL\", \"seq\":1,\"duplicate\": true}");
}

static void test_expected_headers(Fx *f, gconstpointer d) {
    create(f, "E", "{\"name\":\"E\",\"subjects\":[\"e.*\"]}");
    g_autofree char *s1 = pub(f, "e.a", "Nats-Expected-Stream: OTHER", "x");
    g_assert_cmpstr(s1, ==, "{\"error\":{\"code\":400,\"err_code\":10060,\"description\":\"expected stream does not match\"},\"stream\":\"E\"}");
    g_autofree char *s2 = pub(f, "e.a", "Nats-Expected-Stream: E\r\nNats-Msg-Id: one", "x");
    g_assert_cmpstr(s2, ==, "{\"stream\":\"E\", \"seq\":1}");
    g_free(pub(f, "e.b", NULL, "y")); /* seq 2, no msg id */
    g_autofree char *ls = pub(f, "e.a", "Nats-Expected-Last-Sequence: 1", "x");
    assert_err(ls, "10071", "wrong last sequence: 2");
    g_autofree char *ls_ok = pub(f, "e.a", "Nats-Expected-Last-Sequence: 2", "x");
    g_assert_cmpstr(ls_ok, ==, "{\"stream\":\"E\", \"seq\":3}");
    g_autofree char *lss = pub(f, "e.a", "Nats-Expected-Last-Subject-Sequence: 1", "x");
    assert_err(lss, "10071", "wrong last sequence: 3");
    g_autofree char *lss0 = pub(f, "e.c", "Nats-Expected-Last-Subject-Sequence: 0", "x");
    g_assert_cmpstr(lss0, ==, "{\"stream\":\"E\", \"seq\":4}");
    /* the last stored message (seq 4) had no id */
    g_autofree char *lid = pub(f, "e.a", "Nats-Expected-Last-Msg-Id: one", "x");
    assert_err(lid, "10070", "wrong last msg ID: ");
    g_free(pub(f, "e.a", "Nats-Msg-Id: two", "x"));
    g_autofree char *lid_ok = pub(f, "e.a", "Nats-Expected-Last-Msg-Id: two", "x");
    g_assert_cmpstr(lid_ok, ==, "{\"stream\":\"E\", \"seq\":6}");
    /* dedup is checked before the expectations: a retry gets its original ack back */
    g_autofree char *retry = pub(f, "e.a", "Nats-Msg-Id: two\r\nNats-Expected-Last-Sequence: 4", "x");
    g_assert_cmpstr(retry, ==, "{\"stream\":\"E\", \"seq\":5,\"duplicate\": true}");
    /* first occurrence wins */
    g_autofree char *first = pub(f, "e.a", "Nats-Expected-Last-Sequence: 6\r\nNats-Expected-Last-Sequence: 1", "x");
    g_assert_cmpstr(first, ==, "{\"stream\":\"E\", \"seq\":7}");
}

/* Nats-Expected-Last-Sequence compares with the stream's last seq, which outlives the
 * messages: after limit eviction, a delete and a purge the message count is different. */
static void test_expected_last_seq_gaps(Fx *f, gconstpointer d) {
    create(f, "EL", "{\"name\":\"EL\",\"subjects\":[\"el\"],\"max_msgs\":2}");
    for (int i = 0; i < 4; i++) g_free(pub(f, "el", NULL, "x")); /* seqs 1..4, 2 kept */
    g_autofree char *i1 = info(f, "EL", "");
    TEST_ASSERT_JSON(i1, "$.state.messages", "2");
    g_autofree char *cnt = pub(f, "el", "Nats-Expected-Last-Sequence: 2", "x");
    assert_err(cnt, "10071", "wrong last sequence: 4");
    g_autofree char *ok = pub(f, "el", "Nats-Expected-Last-Sequence: 4", "x");
    g_assert_cmpstr(ok, ==, "{\"stream\":\"EL\", \"seq\":5}");
    g_autofree char *del = req(f, "$JS.API.STREAM.MSG.DELETE.EL", "{\"seq\":5}"); /* the last one */
    TEST_ASSERT_JSON(del, "$.success", "true");
    g_autofree char *after_del = pub(f, "el", "Nats-Expected-Last-Sequence: 5", "x");
    g_assert_cmpstr(after_del, ==, "{\"stream\":\"EL\", \"seq\":6}");
    g_autofree char *pu = req(f, "$JS.API.STREAM.PURGE.EL", "");
    TEST_ASSERT_JSON(pu, "$.success", "true");
    g_autofree char *empty = pub(f, "el", "Nats-Expected-Last-Sequence: 0", "x");
    assert_err(empty, "10071", "wrong last sequence: 6");
    g_autofree char *after_purge = pub(f, "el", "Nats-Expected-Last-Sequence: 6", "x");
    g_assert_cmpstr(after_purge, ==, "{\"stream\":\"EL\", \"seq\":7}");
}

static void test_rollup(Fx *f, gconstpointer d) {
    create(f, "NR", "{\"name\":\"NR\",\"subjects\":[\"nr\"]}");
    g_autofree char *no = pub(f, "nr", "Nats-Rollup: sub", "x");
    g_assert_cmpstr(no, ==, "{\"error\":{\"code\":500,\"err_code\":10111,\"description\":\"rollup not permitted\"},\"stream\":\"NR\"}");
    create(f, "R", "{\"name\":\"R\",\"subjects\":[\"r.*\"],\"allow_rollup_hdrs\":true}");
    for (int i = 0; i < 3; i++) g_free(pub(f, "r.a", NULL, "a"));
    for (int i = 0; i < 2; i++) g_free(pub(f, "r.b", NULL, "b"));
    g_autofree char *s = pub(f, "r.a", "Nats-Rollup: sub", "A");
    g_assert_cmpstr(s, ==, "{\"stream\":\"R\", \"seq\":6}");
    g_autofree char *i1 = info(f, "R", "{\"subjects_filter\":\">\"}");
    TEST_ASSERT_JSON(i1, "$.state.subjects['r.a']", "1");
    TEST_ASSERT_JSON(i1, "$.state.subjects['r.b']", "2");
    g_autoptr(GArray) bogus = send_raw(f, "r.a", "Nats-Rollup: bogus", "?", true);
    g_assert_cmpuint(bogus->len, ==, 0); /* nats-server logs it and does not answer */
    g_autofree char *all = pub(f, "r.b", "Nats-Rollup: all", "B");
    g_assert_cmpstr(all, ==, "{\"stream\":\"R\", \"seq\":7}");
    g_autofree char *i2 = info(f, "R", "");
    TEST_ASSERT_JSON(i2, "$.state.messages", "1");
    TEST_ASSERT_JSON(i2, "$.state.first_seq", "7");
}

/* Lines of the log that contain needle. */
static int log_lines_with(const char *log, const char *needle) {
    int n = 0;
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
    for (char **l = lines; *l != NULL; l++)
        if (strstr(*l, needle) != NULL) n++;
    return n;
}

/* A flood of refused publishes (stream_publish.c, REFUSED PUBLISHES, COUNTED): the first is
 * logged at once, the rest are counted per reason and logged once per interval of the env's
 * clock; a quiet interval ends the series. Discard:new limits (10077), the account's storage
 * (10023) and an invalid Nats-Rollup value (no PubAck) are counted; an expected-sequence
 * refusal (10071) is an answer the client asked for, and is not logged. */
static void test_refused_log(Fx *f, gconstpointer d) {
    const int64_t S = 1000000000LL;
    g_assert_cmpint(LIMIT_STREAM_REFUSED_LOG_NS, ==, 10 * S); /* the lines below say "10 s" */
    create(f, "LN", "{\"name\":\"LN\",\"subjects\":[\"ln.*\"],\"max_msgs\":2,\"discard\":\"new\"}");
    g_free(pub(f, "ln.a", NULL, "x"));
    g_free(pub(f, "ln.a", NULL, "x"));
    g_free(test_env_take_log(f->te));
    /* 1000 refused in one second, half of them without a reply subject (no one else is told) */
    g_autoptr(GString) flood = g_string_new(NULL);
    for (int i = 0; i < 500; i++) g_string_append_printf(flood, "PUB ln.a _INBOX.f%d 1\r\nx\r\nPUB ln.b 1\r\ny\r\n", i);
    test_env_client_send(f->te, f->c, flood->str);
    test_env_advance(f->te, 1 * S);
    fx_check(f);
    g_autofree char *acks = test_env_client_take(f->te, f->c);
    g_assert_cmpint(log_lines_with(acks, "\"err_code\":10077"), ==, 500);
    g_autofree char *l1 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l1, "refused"), ==, 1);
    g_assert_cmpint(log_lines_with(l1, "[WRN] stream LN: publish to ln.a refused: maximum messages exceeded (10077) "
                                       "(more refusals are counted and logged every 10 s)"), ==, 1);
    test_env_advance(f->te, 9 * S); /* the interval ends */
    g_autofree char *l2 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l2, "refused"), ==, 1);
    g_assert_cmpint(log_lines_with(l2, "[WRN] stream LN: 999 more publishes refused in the last 10 s: "
                                       "maximum messages exceeded (10077) x 999"), ==, 1);
    /* still refused during the next interval: one more line with that interval's count */
    for (int i = 0; i < 7; i++) g_free(pub(f, "ln.c", NULL, "z"));
    g_autofree char *expect = hreq(f, "ln.c", "Nats-Expected-Last-Sequence: 1", "w");
    g_assert_nonnull(strstr(expect, "10071"));
    test_env_advance(f->te, 10 * S);
    g_autofree char *l3 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l3, "refused"), ==, 1);
    g_assert_cmpint(log_lines_with(l3, "stream LN: 7 more publishes refused in the last 10 s: "
                                       "maximum messages exceeded (10077) x 7"), ==, 1);
    /* a quiet interval ends the series: nothing logged, and the next refusal is logged at once */
    test_env_advance(f->te, 10 * S);
    g_autofree char *l4 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l4, "refused"), ==, 0);
    g_free(pub(f, "ln.d", NULL, "z"));
    g_autofree char *l5 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l5, "stream LN: publish to ln.d refused: maximum messages exceeded (10077)"), ==, 1);

    /* two reasons in one series, on another stream: its own series, the reasons sorted */
    create(f, "RM", "{\"name\":\"RM\",\"subjects\":[\"rm\"],\"allow_rollup_hdrs\":true,\"max_msgs\":1,\"discard\":\"new\"}");
    g_autoptr(GArray) bogus = send_raw(f, "rm", "Nats-Rollup: bogus", "?", true);
    g_assert_cmpuint(bogus->len, ==, 0); /* no PubAck, as nats-server */
    g_autofree char *l6 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l6, "stream RM: publish to rm refused: rollup value invalid: bogus"), ==, 1);
    for (int i = 0; i < 2; i++) g_array_unref(send_raw(f, "rm", "Nats-Rollup: bogus", "?", true));
    g_free(pub(f, "rm", NULL, "fits"));
    for (int i = 0; i < 3; i++) g_free(pub(f, "rm", NULL, "full"));
    test_env_advance(f->te, 10 * S);
    g_autofree char *l7 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l7, "stream RM: 5 more publishes refused in the last 10 s: "
                                       "maximum messages exceeded (10077) x 3, rollup value invalid x 2"), ==, 1);
    g_assert_cmpint(log_lines_with(l7, "stream LN"), ==, 0); /* LN had no more: its series ends quietly */
    g_assert_cmpint(log_lines_with(l7, "refused"), ==, 1);

    /* the account's storage (10023) */
    fx_stop(f);
    f->jcfg.max_storage_bytes = 300;
    fx_start(f);
    g_free(test_env_take_log(f->te));
    create(f, "U", "{\"name\":\"U\",\"subjects\":[\"u\"]}");
    int refused = 0;
    for (int i = 0; i < 40; i++) {
        g_autofree char *a = pub(f, "u", NULL, "0123456789012345678901234567890123456789");
        if (strstr(a, "\"err_code\":10023") != NULL) refused++;
    }
    g_assert_cmpint(refused, >, 30);
    test_env_advance(f->te, 10 * S);
    g_autofree char *l8 = test_env_take_log(f->te);
    g_assert_cmpint(log_lines_with(l8, "stream U: publish to u refused: insufficient resources (10023)"), ==, 1);
    g_autofree char *summary = g_strdup_printf("stream U: %d more publishes refused in the last 10 s: "
                                               "insufficient resources (10023) x %d", refused - 1, refused - 1);
    g_assert_cmpint(log_lines_with(l8, summary), ==, 1);
    g_assert_cmpint(log_lines_with(l8, "refused"), ==, 2);
}

/* max_file_store / max_memory_store (jetstream.c, ACCOUNT LIMITS): max_bytes reservations
 * must fit (10047 file, 10028 memory); streams without max_bytes store until the kind's
 * total is over the limit, then 10023 until something is removed; the totals survive a
 * restart (use is rebuilt as the streams load). */
static void test_account_limits(Fx *f, gconstpointer d) {
    fx_stop(f);
    f->jcfg.max_storage_bytes = 1000;
    f->jcfg.max_memory_bytes = 500;
    fx_start(f);
    g_autofree char *r1 = req(f, "$JS.API.STREAM.CREATE.R1", "{\"name\":\"R1\",\"subjects\":[\"r1\"],\"max_bytes\":1001}");
    assert_err(r1, "10047", "insufficient storage resources available");
    create(f, "R1", "{\"name\":\"R1\",\"subjects\":[\"r1\"],\"max_bytes\":600}");
    g_autofree char *r2 = req(f, "$JS.API.STREAM.CREATE.R2", "{\"name\":\"R2\",\"subjects\":[\"r2\"],\"max_bytes\":401}");
    assert_err(r2, "10047", NULL);
    g_autofree char *m1 = req(f, "$JS.API.STREAM.CREATE.M1", "{\"name\":\"M1\",\"subjects\":[\"m1\"],\"storage\":\"memory\",\"max_bytes\":501}");
    assert_err(m1, "10028", "insufficient memory resources available");
    g_autofree char *u1 = req(f, "$JS.API.STREAM.UPDATE.R1", "{\"name\":\"R1\",\"subjects\":[\"r1\"],\"max_bytes\":1000}");
    TEST_ASSERT_JSON(u1, "$.config.max_bytes", "1000");
    g_autofree char *u2 = req(f, "$JS.API.STREAM.UPDATE.R1", "{\"name\":\"R1\",\"subjects\":[\"r1\"],\"max_bytes\":300}");
    TEST_ASSERT_JSON(u2, "$.config.max_bytes", "300");
    create(f, "U", "{\"name\":\"U\",\"subjects\":[\"u\"]}"); /* no max_bytes: the total bounds it */
    int stored = 0;
    char body[101];
    memset(body, 'x', 100);
    body[100] = '\0';
    for (int i = 0; i < 20; i++) {
        g_autofree char *a = pub(f, "u", NULL, body);
        if (strstr(a, "\"error\"") != NULL) {
            g_assert_cmpstr(a, ==, "{\"error\":{\"code\":503,\"err_code\":10023,\"description\":\"insufficient resources\"},\"stream\":\"U\"}");
            break;
        }
        stored++;
    }
    /* the publish that crossed 1000 bytes was stored, the next one was refused */
    g_autofree char *ai = req(f, "$JS.API.INFO", "");
    g_autofree char *used_s = test_json_path(ai, "$.storage");
    int64_t used = g_ascii_strtoll(used_s, NULL, 10), per = used / MAX(stored, 1);
    g_assert_cmpint(stored, >, 1);
    g_assert_cmpint(used, >, 1000);
    g_assert_cmpint(used - per, <=, 1000);
    TEST_ASSERT_JSON(ai, "$.limits.max_storage", "-1");
    /* R1 (max_bytes) is refused too: the file total is over */
    g_autofree char *a2 = pub(f, "r1", NULL, "y");
    assert_err(a2, "10023", NULL);
    fx_restart(f); /* the use is rebuilt from the stores */
    g_autofree char *a3 = pub(f, "u", NULL, body);
    assert_err(a3, "10023", NULL);
    g_autofree char *del = req(f, "$JS.API.STREAM.MSG.DELETE.U", "{\"seq\":1}");
    TEST_ASSERT_JSON(del, "$.success", "true");
    g_autofree char *a4 = pub(f, "u", NULL, body); /* under the limit: room again */
    g_autofree char *want_seq = g_strdup_printf("%d", stored + 1);
    TEST_ASSERT_JSON(a4, "$.seq", want_seq);
}

/* restore_later (main.c's start-up): jetstream_new loads nothing, each restore step loads
 * at least one stream within its budget, and the last step says done. */
static void test_restore_in_steps(Fx *f, gconstpointer d) {
    create(f, "S1", "{\"name\":\"S1\",\"subjects\":[\"s1\"]}");
    create(f, "S2", "{\"name\":\"S2\",\"subjects\":[\"s2\"]}");
    create(f, "S3", "{\"name\":\"S3\",\"subjects\":[\"s3\"]}");
    fx_stop(f);
    f->jcfg.restore_later = true;
    fx_start(f);
    g_autofree char *n0 = req(f, "$JS.API.STREAM.NAMES", "");
    TEST_ASSERT_JSON(n0, "$.total", "0");
    g_assert_false(jetstream_restore_step(f->js, 0)); /* budget 0: one stream */
    g_assert_nonnull(jetstream_lookup(f->js, "S1"));
    g_assert_null(jetstream_lookup(f->js, "S2"));
    g_assert_false(jetstream_restore_step(f->js, 0));
    g_assert_true(jetstream_restore_step(f->js, 0));
    g_assert_true(jetstream_restore_step(f->js, 0)); /* done stays done */
    g_autofree char *n1 = req(f, "$JS.API.STREAM.NAMES", "");
    TEST_ASSERT_JSON(n1, "$.total", "3");
}

/* A config as a client would send it, parsed and validated (jetstream_add takes it). */
static StreamConfig *parse_config(const char *json) {
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(json, strlen(json), &parser);
    g_autoptr(GError) err = NULL;
    StreamConfig *cfg = o != NULL ? stream_config_parse(o, &err) : NULL;
    g_assert_no_error(err);
    g_assert_true(cfg != NULL && stream_config_validate(cfg, &err));
    return cfg;
}

/* Many streams (issue 15): the overlap check is a walk of the subject index, so creating
 * them and loading them again at a restart costs O(streams), not O(streams^2) (before: ~100 s
 * for a 10,000-stream restart of the real server; bench/scaling.sh measures 10,000 there, the
 * test world's disk lists a folder in time linear in all its files, so 2,000 here). The index
 * follows creates, updates and deletes, and a folder whose subjects overlap a stream loaded
 * before it is not loaded. */
static void test_many_streams(Fx *f, gconstpointer d) {
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        g_autofree char *json = g_strdup_printf("{\"name\":\"S%05d\",\"subjects\":[\"s.%d.>\",\"t.%d\"]}", i, i, i);
        g_autoptr(GError) err = NULL;
        g_assert_nonnull(jetstream_add(f->js, parse_config(json), &err));
    }
    g_free(pub(f, "s.17.x", NULL, "kept"));
    fx_restart(f);
    g_autofree char *names = req(f, "$JS.API.STREAM.NAMES", "");
    g_autofree char *n_s = g_strdup_printf("%d", N);
    TEST_ASSERT_JSON(names, "$.total", n_s);
    g_autofree char *i17 = info(f, "S00017", "");
    TEST_ASSERT_JSON(i17, "$.state.messages", "1");
    /* overlaps found through the index: literal, '*' and '>' on either side */
    static const char *taken[] = {"s.5.a", "s.*.b.c", "s.>", "t.1999", "t.*", "*.42", ">"};
    for (guint i = 0; i < G_N_ELEMENTS(taken); i++) {
        g_autofree char *json = g_strdup_printf("{\"name\":\"X\",\"subjects\":[\"%s\"]}", taken[i]);
        g_autofree char *r = req(f, "$JS.API.STREAM.CREATE.X", json);
        assert_err(r, "10065", "subjects overlap with an existing stream");
    }
    create(f, "FREE", "{\"name\":\"FREE\",\"subjects\":[\"s\",\"t.2000\",\"u.*\"]}");
    /* an update re-indexes: S00001's old subjects are free afterwards, its new ones taken */
    g_autofree char *up = req(f, "$JS.API.STREAM.UPDATE.S00001", "{\"name\":\"S00001\",\"subjects\":[\"v.1\"]}");
    TEST_ASSERT_JSON(up, "$.config.subjects[0]", "v.1");
    create(f, "OLD1", "{\"name\":\"OLD1\",\"subjects\":[\"s.1.x\",\"t.1\"]}");
    g_autofree char *r1 = req(f, "$JS.API.STREAM.CREATE.Y", "{\"name\":\"Y\",\"subjects\":[\"v.*\"]}");
    assert_err(r1, "10065", NULL);
    /* a delete frees its subjects */
    g_autofree char *del = req(f, "$JS.API.STREAM.DELETE.S00002", "");
    TEST_ASSERT_JSON(del, "$.success", "true");
    create(f, "NEW2", "{\"name\":\"NEW2\",\"subjects\":[\"s.2.>\"]}");
    /* a folder changed by hand to overlap a stream loaded before it stays on disk, unloaded */
    g_autofree char *meta = g_build_filename("js", "streams", "S01999", "meta.json", NULL);
    g_autoptr(GBytes) data = NULL;
    g_assert_true(env_file_read_all(&f->te->env, meta, &data, NULL));
    g_autoptr(GString) text = g_string_new_len(g_bytes_get_data(data, NULL), (gssize)g_bytes_get_size(data));
    g_assert_cmpuint(g_string_replace(text, "\"t.1999\"", "\"t.1998\"", 1), ==, 1);
    fx_stop(f);
    g_assert_true(env_file_write_atomic(&f->te->env, meta, text->str, text->len, NULL));
    fx_start(f);
    g_assert_null(jetstream_lookup(f->js, "S01999"));
    g_assert_true(env_path_exists(&f->te->env, meta));
    g_autofree char *n2 = req(f, "$JS.API.STREAM.NAMES", "");
    g_autofree char *n2_s = g_strdup_printf("%d", N + 1); /* - S00002 - S01999 + FREE, OLD1, NEW2 */
    TEST_ASSERT_JSON(n2, "$.total", n2_s);
}

static void test_limits(Fx *f, gconstpointer d) {
    /* discard old: the oldest go */
    create(f, "LO", "{\"name\":\"LO\",\"subjects\":[\"lo\"],\"max_msgs\":3}");
    for (int i = 0; i < 5; i++) g_free(pub(f, "lo", NULL, "x"));
    g_autofree char *i1 = info(f, "LO", "");
    TEST_ASSERT_JSON(i1, "$.state.messages", "3");
    TEST_ASSERT_JSON(i1, "$.state.first_seq", "3");
    /* discard new: the publish is refused */
    create(f, "LN", "{\"name\":\"LN\",\"subjects\":[\"ln.*\"],\"max_msgs\":2,\"discard\":\"new\"}");
    g_free(pub(f, "ln.a", NULL, "x"));
    g_free(pub(f, "ln.a", NULL, "x"));
    g_autofree char *full = pub(f, "ln.a", NULL, "x");
    g_assert_cmpstr(full, ==, "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":\"maximum messages exceeded\"},\"stream\":\"LN\"}");
    /* max_bytes, discard new */
    create(f, "LB", "{\"name\":\"LB\",\"subjects\":[\"lb\"],\"max_bytes\":100,\"discard\":\"new\"}");
    g_autofree char *ok = pub(f, "lb", NULL, "small");
    g_assert_cmpstr(ok, ==, "{\"stream\":\"LB\", \"seq\":1}");
    g_autofree char *big = pub(f, "lb", NULL, "0123456789012345678901234567890123456789012345678901234567890123456789");
    assert_err(big, "10077", "maximum bytes exceeded");
    /* max_bytes, discard old: evicts until it fits */
    create(f, "LBO", "{\"name\":\"LBO\",\"subjects\":[\"lbo\"],\"max_bytes\":120}");
    for (int i = 0; i < 10; i++) g_free(pub(f, "lbo", NULL, "0123456789"));
    g_autofree char *i2 = info(f, "LBO", "");
    g_autofree char *bytes = test_json_path(i2, "$.state.bytes");
    g_assert_cmpint(g_ascii_strtoll(bytes, NULL, 10), <=, 120);
    TEST_ASSERT_JSON(i2, "$.state.last_seq", "10");
    /* per subject: always the oldest on that subject, even with discard new */
    create(f, "PS", "{\"name\":\"PS\",\"subjects\":[\"ps.*\"],\"max_msgs_per_subject\":2,\"max_msgs\":3,\"discard\":\"new\"}");
    g_free(pub(f, "ps.a", NULL, "1"));
    g_free(pub(f, "ps.a", NULL, "2"));
    g_free(pub(f, "ps.b", NULL, "3"));
    g_autofree char *evict = pub(f, "ps.a", NULL, "4"); /* at its subject's limit: allowed */
    g_assert_cmpstr(evict, ==, "{\"stream\":\"PS\", \"seq\":4}");
    g_autofree char *i3 = info(f, "PS", "{\"subjects_filter\":\"ps.a\"}");
    TEST_ASSERT_JSON(i3, "$.state.subjects['ps.a']", "2");
    TEST_ASSERT_JSON(i3, "$.state.first_seq", "2");
    g_autofree char *refused = pub(f, "ps.c", NULL, "5");
    assert_err(refused, "10077", "maximum messages exceeded");
    /* discard_new_per_subject */
    create(f, "DN", "{\"name\":\"DN\",\"subjects\":[\"dn\"],\"max_msgs_per_subject\":1,\"discard\":\"new\",\"discard_new_per_subject\":true}");
    g_free(pub(f, "dn", NULL, "1"));
    g_autofree char *dn = pub(f, "dn", NULL, "2");
    assert_err(dn, "10077", "maximum messages per subject exceeded");
    /* max_msg_size counts headers + payload */
    create(f, "MS", "{\"name\":\"MS\",\"subjects\":[\"ms\"],\"max_msg_size\":20}");
    g_autofree char *fits = pub(f, "ms", NULL, "01234567890123456789");
    g_assert_cmpstr(fits, ==, "{\"stream\":\"MS\", \"seq\":1}");
    g_autofree char *over = pub(f, "ms", "A: b", "0123");
    g_assert_cmpstr(over, ==, "{\"error\":{\"code\":400,\"err_code\":10054,\"description\":\"message size exceeds maximum allowed\"},\"stream\":\"MS\"}");
}

static void test_max_age(Fx *f, gconstpointer d) {
    create(f, "AGE", "{\"name\":\"AGE\",\"subjects\":[\"age\"],\"max_age\":2000000000}");
    g_free(pub(f, "age", NULL, "old"));
    test_env_advance(f->te, 1000000000);
    g_free(pub(f, "age", NULL, "young"));
    test_env_advance(f->te, 1100000000); /* the first is 2.1 s old */
    g_autofree char *i1 = info(f, "AGE", "");
    TEST_ASSERT_JSON(i1, "$.state.messages", "1");
    TEST_ASSERT_JSON(i1, "$.state.first_seq", "2");
    test_env_advance(f->te, 1000000000);
    g_autofree char *i2 = info(f, "AGE", "");
    TEST_ASSERT_JSON(i2, "$.state.messages", "0");
    TEST_ASSERT_JSON(i2, "$.state.first_seq", "3");
    TEST_ASSERT_JSON(i2, "$.state.last_seq", "2");
    /* messages that aged while the server was down are gone at start */
    g_free(pub(f, "age", NULL, "again"));
    fx_stop(f);
    test_env_advance(f->te, 5000000000LL);
    fx_start(f);
    g_autofree char *i3 = info(f, "AGE", "");
    TEST_ASSERT_JSON(i3, "$.state.messages", "0");
    TEST_ASSERT_JSON(i3, "$.state.last_seq", "3");
}

static void test_interest_no_consumers(Fx *f, gconstpointer d) {
    create(f, "I", "{\"name\":\"I\",\"subjects\":[\"i\"],\"retention\":\"interest\"}");
    g_autofree char *a = pub(f, "i", NULL, "x");
    g_assert_cmpstr(a, ==, "{\"stream\":\"I\", \"seq\":1}");
    g_autofree char *b = pub(f, "i", NULL, "x");
    g_assert_cmpstr(b, ==, "{\"stream\":\"I\", \"seq\":2}");
    g_autofree char *i = info(f, "I", "");
    TEST_ASSERT_JSON(i, "$.config.retention", "interest");
    TEST_ASSERT_JSON(i, "$.state.messages", "0");
    TEST_ASSERT_JSON(i, "$.state.last_seq", "2");
    create(f, "WQ", "{\"name\":\"WQ\",\"subjects\":[\"wq\"],\"retention\":\"workqueue\"}");
    g_free(pub(f, "wq", NULL, "x"));
    g_autofree char *w = info(f, "WQ", "");
    TEST_ASSERT_JSON(w, "$.state.messages", "1");
}

/* ================================================================== purge / get / delete */

static void fill(Fx *f) {
    create(f, "M", "{\"name\":\"M\",\"subjects\":[\"m.>\"],\"allow_direct\":true}");
    const char *subjects[] = {"m.a", "m.b", "m.a", "m.c.x", "m.b", "m.a"};
    for (int i = 0; i < 6; i++) {
        g_autofree char *body = g_strdup_printf("v%d", i + 1);
        g_free(pub(f, subjects[i], i == 5 ? "K: v" : NULL, body));
    }
}

static void test_purge(Fx *f, gconstpointer d) {
    fill(f);
    g_autofree char *keep = req(f, "$JS.API.STREAM.PURGE.M", "{\"filter\":\"m.a\",\"keep\":1}");
    g_assert_cmpstr(keep, ==, "{\"type\":\"io.nats.jetstream.api.v1.stream_purge_response\",\"success\":true,\"purged\":2}");
    g_autofree char *seq = req(f, "$JS.API.STREAM.PURGE.M", "{\"seq\":3}");
    TEST_ASSERT_JSON(seq, "$.purged", "1"); /* m.b seq 2 */
    g_autofree char *filt = req(f, "$JS.API.STREAM.PURGE.M", "{\"filter\":\"m.*.x\"}");
    TEST_ASSERT_JSON(filt, "$.purged", "1");
    g_autofree char *all = req(f, "$JS.API.STREAM.PURGE.M", "{}");
    TEST_ASSERT_JSON(all, "$.purged", "2");
    g_autofree char *i = info(f, "M", "");
    TEST_ASSERT_JSON(i, "$.state.messages", "0");
    TEST_ASSERT_JSON(i, "$.state.first_seq", "7");
    TEST_ASSERT_JSON(i, "$.state.last_seq", "6");
    create(f, "NP", "{\"name\":\"NP\",\"subjects\":[\"np\"],\"deny_purge\":true}");
    g_autofree char *denied = req(f, "$JS.API.STREAM.PURGE.NP", "");
    assert_err(denied, "10110", "stream purge not permitted");
}

static void test_msg_get_delete(Fx *f, gconstpointer d) {
    fill(f);
    g_autofree char *g1 = req(f, "$JS.API.STREAM.MSG.GET.M", "{\"seq\":2}");
    g_assert_cmpstr(g1, ==, "{\"type\":\"io.nats.jetstream.api.v1.stream_msg_get_response\",\"message\":"
                            "{\"subject\":\"m.b\",\"seq\":2,\"data\":\"djI=\",\"time\":\"2026-01-01T00:00:01Z\"}}");
    g_autofree char *last = req(f, "$JS.API.STREAM.MSG.GET.M", "{\"last_by_subj\":\"m.b\"}");
    TEST_ASSERT_JSON(last, "$.message.seq", "5");
    g_autofree char *wild = req(f, "$JS.API.STREAM.MSG.GET.M", "{\"last_by_subj\":\"m.>\"}");
    TEST_ASSERT_JSON(wild, "$.message.seq", "6");
    TEST_ASSERT_JSON(wild, "$.message.hdrs", "TkFUUy8xLjANCks6IHYNCg0K");
    g_autofree char *next = req(f, "$JS.API.STREAM.MSG.GET.M", "{\"next_by_subj\":\"m.a\",\"seq\":2}");
    TEST_ASSERT_JSON(next, "$.message.seq", "3");
    g_autofree char *miss = req(f, "$JS.API.STREAM.MSG.GET.M", "{\"last_by_subj\":\"m.zz\"}");
    assert_err(miss, "10037", NULL);
    g_autofree char *d1 = req(f, "$JS.API.STREAM.MSG.DELETE.M", "{\"seq\":2,\"no_erase\":true}");
    g_assert_cmpstr(d1, ==, "{\"type\":\"io.nats.jetstream.api.v1.stream_msg_delete_response\",\"success\":true}");
    g_autofree char *d2 = req(f, "$JS.API.STREAM.MSG.DELETE.M", "{\"seq\":2}");
    assert_err(d2, "10043", "sequence 2 not found"); /* a gap inside the stream */
    g_autofree char *d3 = req(f, "$JS.API.STREAM.MSG.DELETE.M", "{\"seq\":1}");
    TEST_ASSERT_JSON(d3, "$.success", "true");
    g_autofree char *d4 = req(f, "$JS.API.STREAM.MSG.DELETE.M", "{\"seq\":1}");
    assert_err(d4, "10057", "no message found"); /* below the first sequence */
    g_autofree char *gone = req(f, "$JS.API.STREAM.MSG.GET.M", "{\"seq\":2}");
    assert_err(gone, "10037", "no message found");
    create(f, "ND", "{\"name\":\"ND\",\"subjects\":[\"nd\"],\"deny_delete\":true}");
    g_free(pub(f, "nd", NULL, "x"));
    g_autofree char *denied = req(f, "$JS.API.STREAM.MSG.DELETE.ND", "{\"seq\":1}");
    assert_err(denied, "10057", "message delete not permitted");
}

static void test_direct_get(Fx *f, gconstpointer d) {
    fill(f);
    g_autoptr(GArray) a = send_raw(f, "$JS.API.DIRECT.GET.M", NULL, "{\"seq\":6}", true);
    g_assert_cmpuint(a->len, ==, 1);
    TestMsg *m = &g_array_index(a, TestMsg, 0);
    g_assert_cmpstr(m->hdr, ==, "NATS/1.0\r\nK: v\r\nNats-Stream: M\r\nNats-Subject: m.a\r\nNats-Sequence: 6\r\n"
                                "Nats-Time-Stamp: 2026-01-01T00:00:01Z\r\n\r\n");
    g_assert_cmpstr(m->data, ==, "v6");
    g_autoptr(GArray) b = send_raw(f, "$JS.API.DIRECT.GET.M.m.b", NULL, "", true);
    g_assert_cmpstr(g_array_index(b, TestMsg, 0).hdr, ==, "NATS/1.0\r\nNats-Stream: M\r\nNats-Subject: m.b\r\n"
                                                      "Nats-Sequence: 5\r\nNats-Time-Stamp: 2026-01-01T00:00:01Z\r\n\r\n");
    g_autoptr(GArray) w = send_raw(f, "$JS.API.DIRECT.GET.M.m.c.>", NULL, "", true);
    g_assert_nonnull(strstr(g_array_index(w, TestMsg, 0).hdr, "Nats-Sequence: 4\r\n"));
    struct {
        const char *subject, *body, *status;
    } errs[] = {
        {"$JS.API.DIRECT.GET.M", "{\"seq\":99}", "NATS/1.0 404 Message Not Found\r\n\r\n"},
        {"$JS.API.DIRECT.GET.M", "", "NATS/1.0 408 Empty Request\r\n\r\n"},
        {"$JS.API.DIRECT.GET.M", "{nope", "NATS/1.0 408 Malformed Request\r\n\r\n"},
        {"$JS.API.DIRECT.GET.M", "{\"seq\":1,\"last_by_subj\":\"m.a\"}", "NATS/1.0 408 Bad Request\r\n\r\n"},
        {"$JS.API.DIRECT.GET.M.m.a", "{\"seq\":1}", "NATS/1.0 408 Bad Request\r\n\r\n"},
        {"$JS.API.DIRECT.GET.M.m.none", "", "NATS/1.0 404 Message Not Found\r\n\r\n"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(errs); i++) {
        g_autoptr(GArray) e = send_raw(f, errs[i].subject, NULL, errs[i].body, true);
        g_assert_cmpuint(e->len, ==, 1);
        g_assert_cmpstr(g_array_index(e, TestMsg, 0).hdr, ==, errs[i].status);
        g_assert_cmpstr(g_array_index(e, TestMsg, 0).data, ==, "");
    }
}

/* ================================================================== durability */

static void test_restart(Fx *f, gconstpointer d) {
    create(f, "F", "{\"name\":\"F\",\"subjects\":[\"f.>\"],\"max_msgs_per_subject\":5,\"description\":\"file\"}");
    create(f, "MEM", "{\"name\":\"MEM\",\"subjects\":[\"mem\"],\"storage\":\"memory\"}");
    for (int i = 0; i < 20; i++) {
        g_autofree char *subj = g_strdup_printf("f.%d", i % 3);
        g_autofree char *body = g_strdup_printf("payload %d", i);
        g_free(pub(f, subj, i % 2 ? "H: 1" : NULL, body));
    }
    g_free(pub(f, "mem", NULL, "volatile"));
    g_autofree char *del = req(f, "$JS.API.STREAM.MSG.DELETE.F", "{\"seq\":20}");
    TEST_ASSERT_JSON(del, "$.success", "true");
    g_autofree char *before = info(f, "F", "{\"subjects_filter\":\">\",\"deleted_details\":true}");
    fx_stop(f);
    test_env_advance(f->te, 3600LL * 1000000000LL); /* down for an hour: nothing may expire */
    fx_start(f);
    g_autofree char *after = info(f, "F", "{\"subjects_filter\":\">\",\"deleted_details\":true}");
    g_assert_cmpstr(after, ==, before);
    g_autofree char *g = req(f, "$JS.API.STREAM.MSG.GET.F", "{\"seq\":18}");
    TEST_ASSERT_JSON(g, "$.message.hdrs", "TkFUUy8xLjANCkg6IDENCg0K");
    TEST_ASSERT_JSON(g, "$.message.data", "cGF5bG9hZCAxNw=="); /* "payload 17" */
    g_autofree char *mi = info(f, "MEM", "");
    TEST_ASSERT_JSON(mi, "$.config.storage", "memory"); /* the config survives, the messages do not */
    TEST_ASSERT_JSON(mi, "$.state.messages", "0");
    g_autofree char *next = pub(f, "f.0", NULL, "after restart");
    g_assert_cmpstr(next, ==, "{\"stream\":\"F\", \"seq\":21}");
}

static void test_crash_keeps_acked(Fx *f, gconstpointer d) {
    create(f, "C", "{\"name\":\"C\",\"subjects\":[\"c\"]}");
    for (int i = 0; i < 30; i++) g_free(pub(f, "c", NULL, "acked"));
    /* a burst read in one turn, cut by the power before the turn ends: never acked */
    test_env_client_send(f->te, f->c, "PUB c _INBOX.x 5\r\nlost?\r\nPUB c _INBOX.y 5\r\nlost?\r\n");
    g_autofree char *noack = test_env_client_take(f->te, f->c);
    g_assert_cmpstr(noack, ==, "");
    test_env_crash_disk(f->te, TEST_CRASH_TEAR_LAST);
    fx_free_server(f); /* the process died; its last flush fails on dead files */
    g_free(test_env_take_log(f->te));
    fx_start(f);
    g_autofree char *i = info(f, "C", "");
    g_autofree char *last = test_json_path(i, "$.state.last_seq");
    g_assert_cmpint(g_ascii_strtoll(last, NULL, 10), >=, 30);
    for (int s = 1; s <= 30; s++) {
        g_autofree char *body = g_strdup_printf("{\"seq\":%d}", s);
        g_autofree char *g = req(f, "$JS.API.STREAM.MSG.GET.C", body);
        TEST_ASSERT_JSON(g, "$.message.data", "YWNrZWQ=");
    }
}

/* A failed fdatasync (EIO, then ENOSPC) is never acknowledged: every publisher of the batch
 * gets a 10077 error, later publishes are refused until the restart, and after
 * the restart the acked messages are there and publishing works again. See FAILED SYNC in
 * src/store_file.c. */
static void test_sync_fails(Fx *f, gconstpointer d) {
    create(f, "SF", "{\"name\":\"SF\",\"subjects\":[\"sf\"]}");
    for (int i = 0; i < 3; i++) g_free(pub(f, "sf", NULL, "acked"));
    static const int codes[] = {G_FILE_ERROR_IO, G_FILE_ERROR_NOSPC};
    uint64_t acked = 3;
    for (guint k = 0; k < G_N_ELEMENTS(codes); k++) {
        test_env_fail_syncs(f->te, ".seg", codes[k], 1);
        test_env_client_send(f->te, f->c, "PUB sf _INBOX.a 1\r\na\r\nPUB sf _INBOX.b 1\r\nb\r\n");
        test_env_advance(f->te, 0);
        fx_check(f);
        g_autofree char *out = test_env_client_take(f->te, f->c);
        g_autoptr(GArray) acks = test_wire_parse(out);
        g_assert_cmpuint(acks->len, ==, 2);
        for (guint i = 0; i < acks->len; i++) {
            const char *a = g_array_index(acks, TestMsg, i).data;
            assert_err(a, "10077", NULL); /* never a success for the failed batch */
        }
        g_autofree char *log = test_env_take_log(f->te);
        g_assert_nonnull(strstr(log, "the batch is not acknowledged"));
        g_autofree char *refused = pub(f, "sf", NULL, "refused"); /* fenced until restart */
        assert_err(refused, "10077", NULL);
        g_autofree char *i1 = info(f, "SF", "");
        g_autofree char *want = g_strdup_printf("%" G_GUINT64_FORMAT, acked);
        TEST_ASSERT_JSON(i1, "$.state.last_seq", want);
        fx_restart(f);
        g_free(test_env_take_log(f->te));
        for (uint64_t s = 1; s <= acked; s++) {
            g_autofree char *body = g_strdup_printf("{\"seq\":%" G_GUINT64_FORMAT "}", s);
            g_autofree char *g = req(f, "$JS.API.STREAM.MSG.GET.SF", body);
            TEST_ASSERT_JSON(g, "$.message.data", "YWNrZWQ=");
        }
        g_autofree char *i2 = info(f, "SF", "");
        TEST_ASSERT_JSON(i2, "$.state.last_seq", want);
        g_autofree char *again = pub(f, "sf", NULL, "acked"); /* writes work again */
        g_autofree char *want_ack = g_strdup_printf("{\"stream\":\"SF\", \"seq\":%" G_GUINT64_FORMAT "}", ++acked);
        g_assert_cmpstr(again, ==, want_ack);
    }
}

static void test_sync_interval(Fx *f, gconstpointer d) {
    /* sync_interval: acks follow the write, fsync comes on the interval timer */
    fx_stop(f);
    f->jcfg.sync_interval_ns = 1000000000LL;
    fx_start(f);
    create(f, "SI", "{\"name\":\"SI\",\"subjects\":[\"si\"]}");
    g_autofree char *a = pub(f, "si", NULL, "x");
    g_assert_cmpstr(a, ==, "{\"stream\":\"SI\", \"seq\":1}");
    test_env_advance(f->te, 1100000000LL); /* the interval fsync */
    g_free(pub(f, "si", NULL, "maybe lost"));
    test_env_crash_disk(f->te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    fx_free_server(f);
    g_free(test_env_take_log(f->te));
    fx_start(f);
    g_autofree char *i = info(f, "SI", "");
    TEST_ASSERT_JSON(i, "$.state.last_seq", "1"); /* the acked-but-unsynced second one is gone */
}

static void test_json_time(Fx *f, gconstpointer d) {
    g_autofree char *t = jsonu_time_format(1764160862878090420LL);
    g_assert_cmpstr(t, ==, "2025-11-26T12:41:02.87809042Z");
    g_autofree char *z = jsonu_time_format(0);
    g_assert_cmpstr(z, ==, "0001-01-01T00:00:00Z");
    g_autofree char *s = jsonu_time_format(1000000000LL);
    g_assert_cmpstr(s, ==, "1970-01-01T00:00:01Z");
}

/* Go's time.Duration.String(), which the monitor's "rtt" uses (nats-server's format). */
static void test_json_duration(Fx *f, gconstpointer d) {
    static const struct { int64_t ns; const char *s; } cases[] = {
        {0, "0s"}, {1, "1ns"}, {999, "999ns"}, {1000, "1\u00b5s"}, {456000, "456\u00b5s"},
        {1500, "1.5\u00b5s"}, {1000000, "1ms"}, {1234567, "1.234567ms"}, {1200000, "1.2ms"},
        {999999999, "999.999999ms"}, {1000000000, "1s"}, {2500000000LL, "2.5s"},
        {61000000000LL, "1m1s"}, {3600000000000LL, "1h0m0s"}, {3723000000001LL, "1h2m3.000000001s"},
        {-1500000, "-1.5ms"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *s = jsonu_duration_format(cases[i].ns);
        g_assert_cmpstr(s, ==, cases[i].s);
    }
}

/* The PubAck formatter (jsonu_puback): byte for byte what nats-server sends, and its string
 * escaping byte for byte what json-glib's generator writes, for every ASCII byte. */
static char *glib_quoted(const char *s) {
    g_autoptr(JsonNode) n = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(n, s);
    return jsonu_to_string(n);
}

static void test_puback_format(Fx *f, gconstpointer d) {
    g_autofree char *a = jsonu_puback("ORDERS", NULL, 42, false);
    g_assert_cmpstr(a, ==, "{\"stream\":\"ORDERS\", \"seq\":42}");
    g_autofree char *b = jsonu_puback("ORDERS", NULL, 18446744073709551615ULL, true);
    g_assert_cmpstr(b, ==, "{\"stream\":\"ORDERS\", \"seq\":18446744073709551615,\"duplicate\": true}");
    /* with a domain (nats-server 2.9.10: {"stream":"S", "domain":"prod", "seq":3}) */
    g_autofree char *dm = jsonu_puback("S", "prod", 3, true);
    g_assert_cmpstr(dm, ==, "{\"stream\":\"S\", \"domain\":\"prod\", \"seq\":3,\"duplicate\": true}");
    g_autofree char *c = jsonu_puback("we\"ird\\na\tme\x01\x1f-str\xc3\xb6m", NULL, 1, false);
    g_assert_cmpstr(c, ==, "{\"stream\":\"we\\\"ird\\\\na\\tme\\u0001\\u001f-str\xc3\xb6m\", \"seq\":1}");
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(c, strlen(c), &parser);
    g_assert_nonnull(o);
    g_assert_cmpstr(json_object_get_string_member(o, "stream"), ==, "we\"ird\\na\tme\x01\x1f-str\xc3\xb6m");
    for (int ch = 1; ch < 128; ch++) {
        char in[4] = {'x', (char)ch, 'y', 0};
        g_autoptr(GString) mine = g_string_new(NULL);
        jsonu_append_quoted(mine, in);
        g_autofree char *theirs = ch == 0x1f ? g_strdup("\"x\\u001fy\"") /* json-glib: raw, invalid */
                                             : glib_quoted(in);
        g_assert_cmpstr(mine->str, ==, theirs);
    }
    g_autoptr(GString) u = g_string_new(NULL);
    jsonu_append_quoted(u, "\xe2\x82\xac \xf0\x9f\x98\x80");
    g_autofree char *ut = glib_quoted("\xe2\x82\xac \xf0\x9f\x98\x80");
    g_assert_cmpstr(u->str, ==, ut);
}

/* Found by tests/fuzz/fuzz_server: a PUB without headers looked its headers up in (NULL, 0),
 * pointer arithmetic and memchr on NULL (UBSan). Absent headers are simply absent. */
static void test_header_get_no_headers(Fx *f, gconstpointer d) {
    size_t len = 99;
    g_assert_null(stream_header_get(NULL, 0, "Nats-Msg-Id", &len));
    g_assert_cmpuint(len, ==, 99);
    const uint8_t h[] = "NATS/1.0\r\nNats-Msg-Id: 7\r\n\r\n";
    g_assert_null(stream_header_get(h, 0, "Nats-Msg-Id", &len));
    const char *v = stream_header_get(h, sizeof h - 1, "Nats-Msg-Id", &len);
    g_assert_nonnull(v);
    g_assert_cmpuint(len, ==, 1);
    g_assert_cmpint(v[0], ==, '7');
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
#define T(path, fn) g_test_add("/stream/" path, Fx, NULL, fx_setup, fn, fx_teardown)
    T("time-format", test_json_time);
    T("duration-format", test_json_duration);
    T("restore-in-steps", test_restore_in_steps);
    T("many-streams", test_many_streams);
    T("account-limits", test_account_limits);
    T("create-failure-leaves-nothing", test_create_failure_leaves_nothing);
    T("create-defaults", test_create_defaults);
    T("info", test_info);
    T("validation", test_validation);
    T("deep-json", test_deep_json);
    T("no-reply", test_no_reply_cases);
    T("update", test_update);
    T("delete", test_delete);
    T("names-list", test_names_list);
    T("puback", test_puback);
    T("puback-format", test_puback_format);
    T("group-commit", test_group_commit);
    T("dedup", test_dedup);
    T("dedup-lazy", test_dedup_lazy);
    T("expected-headers", test_expected_headers);
    T("expected-last-seq-gaps", test_expected_last_seq_gaps);
    T("rollup", test_rollup);
    T("limits", test_limits);
    T("refused-log", test_refused_log);
    T("max-age", test_max_age);
    T("interest-no-consumers", test_interest_no_consumers);
    T("purge", test_purge);
    T("msg-get-delete", test_msg_get_delete);
    T("direct-get", test_direct_get);
    T("restart", test_restart);
    T("crash-keeps-acked", test_crash_keeps_acked);
    T("sync-fails", test_sync_fails);
    T("sync-interval", test_sync_interval);
    T("header-get-no-headers", test_header_get_no_headers);
    return g_test_run();
}
