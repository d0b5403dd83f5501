/* test_server.c — the server core driven through the test environment: no sockets, no
 * sleeps. Each test connects in-memory clients, sends protocol bytes, and reads exactly
 * what the server wrote back. server_check_invariants() runs after every test step. */
#include <string.h>

#include "limits.h"
#include "server.h"
#include "test_env.h"

typedef struct {
    TestEnv *te;
    Server *srv;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data) {
    f->te = test_env_new(42);
    ServerConfig cfg;
    server_config_init(&cfg);
    cfg.max_payload_bytes = 1024; /* small, so limit tests stay small */
    g_autoptr(GError) err = NULL;
    f->srv = server_new(&f->te->env, &cfg, &err);
    g_assert_no_error(err);
    g_assert_nonnull(f->srv);
}

static void fx_teardown(Fixture *f, gconstpointer data) {
    server_check_invariants(f->srv);
    server_free(f->srv);
    test_env_free(f->te);
}

/* Send bytes, let the world run, check invariants, return what the server wrote. */
static char *say(Fixture *f, EnvConn c, const char *bytes) {
    test_env_client_send(f->te, c, bytes);
    test_env_advance(f->te, 0);
    server_check_invariants(f->srv);
    return test_env_client_take(f->te, c);
}

/* A connected client: INFO consumed, CONNECT sent with the given JSON. */
static EnvConn client(Fixture *f, const char *connect_json) {
    EnvConn c = test_env_connect(f->te);
    g_autofree char *info = test_env_client_take(f->te, c);
    g_assert_true(g_str_has_prefix(info, "INFO {"));
    g_autofree char *line = g_strdup_printf("CONNECT %s\r\nPING\r\n", connect_json);
    g_autofree char *out = say(f, c, line);
    g_assert_cmpstr(out, ==, "PONG\r\n");
    return c;
}

#define JS_CONNECT "{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}"

static void test_info(Fixture *f, gconstpointer data) {
    EnvConn c = test_env_connect(f->te);
    g_autofree char *info = test_env_client_take(f->te, c);
    g_assert_true(g_str_has_prefix(info, "INFO {"));
    g_assert_true(g_str_has_suffix(info, "} \r\n"));
    g_assert_nonnull(strstr(info, "\"version\":\"2.9.10\""));
    g_assert_nonnull(strstr(info, "\"headers\":true"));
    g_assert_nonnull(strstr(info, "\"max_payload\":1024"));
    g_assert_nonnull(strstr(info, "\"proto\":1"));
    g_assert_nonnull(strstr(info, "\"client_id\":"));
    /* PING before CONNECT is answered */
    g_autofree char *out = say(f, c, "PING\r\n");
    g_assert_cmpstr(out, ==, "PONG\r\n");
}

static void test_pubsub(Fixture *f, gconstpointer data) {
    EnvConn sub = client(f, JS_CONNECT);
    EnvConn pub = client(f, JS_CONNECT);
    g_free(say(f, sub, "SUB foo 1\r\nSUB foo.* 2\r\nSUB foo.> 3\r\nSUB *.bar 4\r\n"));
    g_autofree char *none = say(f, pub, "PUB foo 5\r\nhello\r\n");
    g_assert_cmpstr(none, ==, "");
    g_autofree char *got = test_env_client_take(f->te, sub);
    g_assert_cmpstr(got, ==, "MSG foo 1 5\r\nhello\r\n");
    g_free(say(f, pub, "PUB foo.bar reply.x 2\r\nhi\r\n"));
    g_autofree char *got2 = test_env_client_take(f->te, sub);
    /* deterministic order: literal-first walk of the trie; check the set, not the order */
    g_assert_nonnull(strstr(got2, "MSG foo.bar 2 reply.x 2\r\nhi\r\n"));
    g_assert_nonnull(strstr(got2, "MSG foo.bar 3 reply.x 2\r\nhi\r\n"));
    g_assert_nonnull(strstr(got2, "MSG foo.bar 4 reply.x 2\r\nhi\r\n"));
    g_assert_null(strstr(got2, " 1 reply"));
    g_free(say(f, pub, "PUB foo.bar.baz 0\r\n\r\n"));
    g_autofree char *got3 = test_env_client_take(f->te, sub);
    g_assert_cmpstr(got3, ==, "MSG foo.bar.baz 3 0\r\n\r\n");
}

static void test_hpub(Fixture *f, gconstpointer data) {
    EnvConn sub = client(f, JS_CONNECT);
    g_free(say(f, sub, "SUB h 9\r\n"));
    /* header length 0 = no headers: delivered as MSG (nats.js js.publish does this) */
    g_autofree char *a = say(f, sub, "HPUB h 0 3\r\nabc\r\n");
    g_assert_cmpstr(a, ==, "MSG h 9 3\r\nabc\r\n");
    g_autofree char *b = say(f, sub, "HPUB h 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nxy\r\n");
    g_assert_cmpstr(b, ==, "HMSG h 9 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nxy\r\n");
}

static void test_hpub_without_headers_closes(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, "{\"verbose\":false,\"pedantic\":false}");
    g_autofree char *out = say(f, c, "HPUB h 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    g_assert_cmpstr(out, ==, ""); /* closed without -ERR, as nats-server */
    g_assert_true(test_env_is_closed(f->te, c));
}

static void test_queue_groups(Fixture *f, gconstpointer data) {
    EnvConn members[4];
    for (int i = 0; i < 4; i++) {
        members[i] = client(f, JS_CONNECT);
        g_free(say(f, members[i], "SUB work workers 1\r\n"));
    }
    EnvConn plain = client(f, JS_CONNECT);
    g_free(say(f, plain, "SUB work 7\r\n"));
    EnvConn pub = client(f, JS_CONNECT);
    for (int i = 0; i < 1000; i++) test_env_client_send(f->te, pub, "PUB work 1\r\nx\r\n");
    test_env_advance(f->te, 0);
    int total = 0;
    for (int i = 0; i < 4; i++) {
        g_autofree char *out = test_env_client_take(f->te, members[i]);
        int n = 0;
        for (const char *p = out; (p = strstr(p, "MSG work 1 1\r\nx\r\n")) != NULL; p++) n++;
        g_assert_cmpint(n, >, 150); /* fair: each of 4 gets ~250 */
        total += n;
    }
    g_assert_cmpint(total, ==, 1000); /* exactly one member per message */
    g_autofree char *p = test_env_client_take(f->te, plain);
    g_assert_cmpuint(strlen(p), ==, 1000 * strlen("MSG work 7 1\r\nx\r\n"));
}

static void test_unsub_max(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, JS_CONNECT);
    g_free(say(f, c, "SUB a 3\r\nUNSUB 3 2\r\n"));
    g_autofree char *out = say(f, c, "PUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPUB a 1\r\n3\r\n");
    g_assert_cmpstr(out, ==, "MSG a 3 1\r\n1\r\nMSG a 3 1\r\n2\r\n");
    /* UNSUB with a max already reached removes at once; unknown sid ignored */
    g_autofree char *out2 = say(f, c, "SUB b 4\r\nPUB b 0\r\n\r\nUNSUB 4 1\r\nUNSUB 99\r\nPUB b 0\r\n\r\n");
    g_assert_cmpstr(out2, ==, "MSG b 4 0\r\n\r\n");
    g_assert_cmpuint(server_stats(f->srv)->subscriptions, ==, 0);
}

static void test_echo_false(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, "{\"verbose\":false,\"pedantic\":false,\"echo\":false}");
    EnvConn d = client(f, JS_CONNECT);
    g_free(say(f, c, "SUB e 1\r\n"));
    g_free(say(f, d, "SUB e 1\r\n"));
    g_autofree char *own = say(f, c, "PUB e 1\r\nx\r\n");
    g_assert_cmpstr(own, ==, "");
    g_autofree char *other = test_env_client_take(f->te, d);
    g_assert_cmpstr(other, ==, "MSG e 1 1\r\nx\r\n");
    /* default echo (omitted in CONNECT) is on */
    EnvConn e = client(f, "{\"verbose\":false,\"pedantic\":false}");
    g_free(say(f, e, "SUB self 1\r\n"));
    g_autofree char *self = say(f, e, "PUB self 1\r\ny\r\n");
    g_assert_cmpstr(self, ==, "MSG self 1 1\r\ny\r\n");
}

static void test_no_responders(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, JS_CONNECT);
    g_free(say(f, c, "SUB _INBOX.abc.* 1\r\n"));
    g_autofree char *out = say(f, c, "PUB svc _INBOX.abc.1 2\r\nhi\r\n");
    g_assert_cmpstr(out, ==, "HMSG _INBOX.abc.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
    /* with a responder: request goes through, reply comes back */
    EnvConn r = client(f, JS_CONNECT);
    g_free(say(f, r, "SUB svc 5\r\n"));
    g_free(say(f, c, "PUB svc _INBOX.abc.2 2\r\nhi\r\n"));
    g_autofree char *req = test_env_client_take(f->te, r);
    g_assert_cmpstr(req, ==, "MSG svc 5 _INBOX.abc.2 2\r\nhi\r\n");
    g_free(say(f, r, "PUB _INBOX.abc.2 3\r\nyes\r\n"));
    g_autofree char *rep = test_env_client_take(f->te, c);
    g_assert_cmpstr(rep, ==, "MSG _INBOX.abc.2 1 3\r\nyes\r\n");
    /* without no_responders: silence */
    EnvConn old = client(f, "{\"verbose\":false,\"pedantic\":false,\"headers\":true}");
    g_free(say(f, old, "SUB _INBOX.z.* 1\r\n"));
    g_autofree char *quiet = say(f, old, "PUB nobody _INBOX.z.1 0\r\n\r\n");
    g_assert_cmpstr(quiet, ==, "");
}

static void test_connect_errors(Fixture *f, gconstpointer data) {
    EnvConn bad = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, bad));
    g_autofree char *o1 = say(f, bad, "CONNECT {not json\r\n");
    g_assert_cmpstr(o1, ==, ""); /* closed without -ERR */
    g_assert_true(test_env_is_closed(f->te, bad));

    EnvConn proto2 = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, proto2));
    g_autofree char *o2 = say(f, proto2, "CONNECT {\"protocol\":2}\r\n");
    g_assert_cmpstr(o2, ==, "-ERR 'invalid client protocol'\r\n");
    g_assert_true(test_env_is_closed(f->te, proto2));

    EnvConn nr = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, nr));
    g_autofree char *o3 = say(f, nr, "CONNECT {\"no_responders\":true}\r\n");
    g_assert_cmpstr(o3, ==, "-ERR 'no responders requires headers support'\r\n");
    g_assert_true(test_env_is_closed(f->te, nr));
}

static void test_verbose(Fixture *f, gconstpointer data) {
    EnvConn c = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, c));
    g_autofree char *o = say(f, c, "CONNECT {\"pedantic\":false}\r\nSUB v 1\r\nPUB v 0\r\n\r\nUNSUB 1\r\n");
    g_assert_cmpstr(o, ==, "+OK\r\n+OK\r\n+OK\r\nMSG v 1 0\r\n\r\n+OK\r\n");
}

static void test_errors(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, JS_CONNECT);
    EnvConn other = client(f, JS_CONNECT);
    g_free(say(f, other, "SUB x 1\r\n"));
    /* invalid subject: not fatal */
    g_autofree char *o1 = say(f, c, "SUB a..b 1\r\nPING\r\n");
    g_assert_cmpstr(o1, ==, "-ERR 'Invalid Subject'\r\nPONG\r\n");
    g_assert_false(test_env_is_closed(f->te, c));
    /* payload over max_payload (1024 in this fixture): fatal */
    g_autofree char *o2 = say(f, c, "PUB x 2000\r\n");
    g_assert_cmpstr(o2, ==, "-ERR 'Maximum Payload Violation'\r\n");
    g_assert_true(test_env_is_closed(f->te, c));
    /* unknown operation: fatal */
    EnvConn d = client(f, JS_CONNECT);
    g_autofree char *o3 = say(f, d, "FOO bar\r\n");
    g_assert_cmpstr(o3, ==, "-ERR 'Unknown Protocol Operation'\r\n");
    g_assert_true(test_env_is_closed(f->te, d));
    /* the bystander is not disturbed */
    EnvConn p = client(f, JS_CONNECT);
    g_free(say(f, p, "PUB x 2\r\nok\r\n"));
    g_autofree char *o4 = test_env_client_take(f->te, other);
    g_assert_cmpstr(o4, ==, "MSG x 1 2\r\nok\r\n");
    g_assert_cmpuint(server_stats(f->srv)->conns_current, ==, 2);
}

static void test_slow_consumer(Fixture *f, gconstpointer data) {
    EnvConn slow = client(f, JS_CONNECT);
    EnvConn fine = client(f, JS_CONNECT);
    EnvConn pub = client(f, JS_CONNECT);
    g_free(say(f, slow, "SUB s 1\r\n"));
    g_free(say(f, fine, "SUB s 1\r\n"));
    test_env_set_pending(f->te, slow, (size_t)LIMIT_MAX_PENDING_BYTES + 1);
    g_free(say(f, pub, "PUB s 1\r\nz\r\n"));
    g_assert_true(test_env_is_closed(f->te, slow));
    g_assert_false(test_env_is_closed(f->te, fine));
    g_assert_cmpuint(server_stats(f->srv)->slow_consumers, ==, 1);
    g_autofree char *o = test_env_client_take(f->te, fine);
    g_assert_cmpstr(o, ==, "MSG s 1 1\r\nz\r\n");
    g_free(say(f, pub, "PUB s 1\r\nw\r\n"));
    g_autofree char *o2 = test_env_client_take(f->te, fine);
    g_assert_cmpstr(o2, ==, "MSG s 1 1\r\nw\r\n");
}

static void test_stale_connection(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, JS_CONNECT);
    EnvConn good = client(f, JS_CONNECT);
    /* first PING within 2.4 s */
    test_env_advance(f->te, 2400000000LL);
    g_autofree char *p1 = test_env_client_take(f->te, c);
    g_assert_cmpstr(p1, ==, "PING\r\n");
    g_free(say(f, good, "PONG\r\n"));
    g_free(test_env_client_take(f->te, good));
    /* c never answers: second PING after 2 min, then stale */
    for (int i = 0; i < 2; i++) {
        test_env_advance(f->te, 120000000000LL);
        g_free(say(f, good, "PONG\r\n"));
    }
    g_autofree char *p2 = test_env_client_take(f->te, c);
    g_assert_cmpstr(p2, ==, "PING\r\n-ERR 'Stale Connection'\r\n");
    g_assert_true(test_env_is_closed(f->te, c));
    g_assert_false(test_env_is_closed(f->te, good));
}

/* A stream of operations fed one byte at a time gives the same output as fed whole. */
static void test_byte_at_a_time(Fixture *f, gconstpointer data) {
    const char *input = "CONNECT " JS_CONNECT "\r\nSUB a.* q 1\r\nsub a.b 2\n"
                        "HPUB a.b r 12 14\r\nNATS/1.0\r\n\r\nhi\r\npub a.c 3\r\nabc\r\nPING\r\n";
    EnvConn whole = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, whole));
    g_autofree char *expect = say(f, whole, input);
    test_env_client_close(f->te, whole);
    EnvConn c = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, c));
    for (const char *p = input; *p; p++) test_env_client_send_len(f->te, c, p, 1);
    test_env_advance(f->te, 0);
    g_autofree char *got = test_env_client_take(f->te, c);
    g_assert_cmpstr(got, ==, expect);
    /* plain subscriptions first, then one member per queue group */
    g_assert_cmpstr(got, ==, "HMSG a.b 2 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
                             "HMSG a.b 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
                             "MSG a.c 1 3\r\nabc\r\nPONG\r\n");
}

typedef struct {
    Server *srv;
    int calls;
    char last[64];
} Responder;

static void responder_fn(void *ctx, const ServerMsg *m) {
    Responder *r = ctx;
    r->calls++;
    g_snprintf(r->last, sizeof r->last, "%.*s", (int)m->payload_len, (const char *)m->payload);
    if (m->reply != NULL) {
        g_autofree char *reply = g_strndup(m->reply, m->reply_len);
        server_publish(r->srv, reply, NULL, NULL, 0, "pong", 4);
    }
}

static void test_internal_subscription(Fixture *f, gconstpointer data) {
    Responder r = {f->srv, 0, ""};
    ServerInternalSub *is = server_subscribe_internal(f->srv, "$SVC.>", NULL, responder_fn, &r);
    g_assert_nonnull(is);
    g_assert_true(server_has_interest(f->srv, "$SVC.ping"));
    g_assert_false(server_has_interest(f->srv, "$OTHER"));
    EnvConn c = client(f, JS_CONNECT);
    g_free(say(f, c, "SUB _INBOX.q.* 1\r\n"));
    g_autofree char *o = say(f, c, "PUB $SVC.ping _INBOX.q.1 4\r\nping\r\n");
    g_assert_cmpstr(o, ==, "MSG _INBOX.q.1 1 4\r\npong\r\n");
    g_assert_cmpint(r.calls, ==, 1);
    g_assert_cmpstr(r.last, ==, "ping");
    server_unsubscribe_internal(f->srv, is);
    g_autofree char *o2 = say(f, c, "PUB $SVC.ping _INBOX.q.2 0\r\n\r\n");
    g_assert_cmpstr(o2, ==, "HMSG _INBOX.q.2 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
}

static void test_client_close_cleans_up(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, JS_CONNECT);
    g_free(say(f, c, "SUB a 1\r\nSUB b q 2\r\nSUB c.> 3\r\n"));
    g_assert_cmpuint(server_stats(f->srv)->subscriptions, ==, 3);
    test_env_client_close(f->te, c);
    test_env_advance(f->te, 0);
    server_check_invariants(f->srv);
    g_assert_cmpuint(server_stats(f->srv)->subscriptions, ==, 0);
    g_assert_cmpuint(server_stats(f->srv)->conns_current, ==, 0);
}

/* Found by tests/fuzz/fuzz_server: "SUB \0\0 sid" passed subject validation (by length) and
 * then failed the trie insert (a C string, ""), an assertion. Now: -ERR 'Invalid Subject'. */
static void test_sub_nul_subject(Fixture *f, gconstpointer data) {
    EnvConn c = test_env_connect(f->te);
    g_free(test_env_client_take(f->te, c));
    static const char in[] = "CONNECT {}\r\nSUB \0\0 .pING\r\nSUB a \0 2\r\nPING\r\n";
    test_env_client_send_len(f->te, c, in, sizeof in - 1);
    test_env_advance(f->te, 0);
    server_check_invariants(f->srv);
    g_autofree char *out = test_env_client_take(f->te, c);
    g_assert_nonnull(strstr(out, "-ERR 'Invalid Subject'"));
    g_assert_nonnull(strstr(out, "PONG\r\n"));
}

/* Long subjects are delivered as nats-server delivers them: 2000 tokens, or a 4090-byte
 * subject whose SUB line is exactly the 4096-byte control line (minijet used to refuse more
 * than 128 tokens or 1024 bytes). One byte more is a control line too long, on both servers. */
static void test_long_subjects(Fixture *f, gconstpointer data) {
    EnvConn sub = client(f, JS_CONNECT);
    EnvConn pub = client(f, JS_CONNECT);
    GString *many = g_string_new("t");
    for (int i = 1; i < 2000; i++) g_string_append(many, ".t");
    g_autofree char *wide = g_strnfill(4090, 'x');
    const char *subjects[] = {many->str, wide};
    for (size_t k = 0; k < G_N_ELEMENTS(subjects); k++) {
        g_autofree char *s = g_strdup_printf("SUB %s %zu\r\nPING\r\n", subjects[k], k + 1);
        g_autofree char *o = say(f, sub, s);
        g_assert_cmpstr(o, ==, "PONG\r\n");
        g_autofree char *p = g_strdup_printf("PUB %s 2\r\nhi\r\nPING\r\n", subjects[k]);
        g_autofree char *po = say(f, pub, p);
        g_assert_cmpstr(po, ==, "PONG\r\n");
        g_autofree char *want = g_strdup_printf("MSG %s %zu 2\r\nhi\r\n", subjects[k], k + 1);
        g_autofree char *got = test_env_client_take(f->te, sub);
        g_assert_cmpstr(got, ==, want);
    }
    /* a wildcard subscription matches deep: "t.>" and "t.*.>" */
    g_autofree char *w = say(f, sub, "SUB t.> 3\r\nSUB t.*.> 4\r\nPING\r\n");
    g_autofree char *p2 = g_strdup_printf("PUB %s 1\r\nx\r\n", many->str);
    g_free(say(f, pub, p2));
    g_autofree char *got2 = test_env_client_take(f->te, sub);
    g_assert_nonnull(strstr(got2, " 1 1\r\nx\r\n"));
    g_assert_nonnull(strstr(got2, " 3 1\r\nx\r\n"));
    g_assert_nonnull(strstr(got2, " 4 1\r\nx\r\n"));
    /* the longest MSG line: a subject and a reply of ~2000 bytes each, a 128-byte sid */
    g_autofree char *half = g_strnfill(2000, 'h');
    g_autofree char *sid = g_strnfill(LIMIT_MAX_SID_BYTES, '9');
    g_autofree char *hs = g_strdup_printf("SUB %s %s\r\nPING\r\n", half, sid);
    g_autofree char *ho = say(f, sub, hs);
    g_assert_cmpstr(ho, ==, "PONG\r\n");
    g_autofree char *hp = g_strdup_printf("PUB %s %s 1\r\nz\r\n", half, wide + 2020);
    g_free(say(f, pub, hp));
    g_autofree char *hwant = g_strdup_printf("MSG %s %s %s 1\r\nz\r\n", half, sid, wide + 2020);
    g_autofree char *hgot = test_env_client_take(f->te, sub);
    g_assert_cmpstr(hgot, ==, hwant);
    g_autofree char *over = g_strdup_printf("SUB %sx 9\r\n", wide);
    g_autofree char *oo = say(f, sub, over);
    g_assert_cmpstr(oo, ==, "-ERR 'maximum control line exceeded'\r\n");
    g_string_free(many, TRUE);
}

/* OUTBOUND MEMORY (server.c): subscribers holding more than LIMIT_OUT_TOTAL_BYTES between
 * them make the broker stop reading the publisher; it reads again once they drain to
 * LIMIT_OUT_RESUME_BYTES, and the publisher's bytes sent meanwhile arrive then, in order.
 * Readers that never drain are cut, largest first, one per LIMIT_OUT_STALL_NS. */
static void test_backpressure(Fixture *f, gconstpointer data) {
    enum { N = 5 };
    const size_t held = 60 * 1024 * 1024; /* each under max_pending; 5 together over the total */
    G_STATIC_ASSERT(N * 60LL * 1024 * 1024 > LIMIT_OUT_TOTAL_BYTES);
    EnvConn sub[N];
    for (int i = 0; i < N; i++) {
        sub[i] = client(f, JS_CONNECT);
        g_free(say(f, sub[i], "SUB big 1\r\n"));
    }
    EnvConn pub = client(f, JS_CONNECT);
    for (int i = 0; i < N; i++) test_env_set_pending(f->te, sub[i], held);
    g_free(say(f, pub, "PUB big 1\r\n1\r\n"));
    g_assert_true(test_env_is_read_paused(f->te, pub));
    g_assert_cmpuint(server_stats(f->srv)->publishers_paused, ==, 1);
    for (int i = 0; i < N; i++) g_free(test_env_client_take(f->te, sub[i]));
    /* what it sends now waits */
    g_free(say(f, pub, "PUB big 1\r\n2\r\nPING\r\n"));
    test_env_advance(f->te, 5 * LIMIT_OUT_POLL_NS);
    g_autofree char *none = test_env_client_take(f->te, sub[0]);
    g_assert_cmpstr(none, ==, "");
    g_assert_true(test_env_is_read_paused(f->te, pub));
    /* three drain: 2 x 60 MiB <= the resume mark */
    for (int i = 0; i < 3; i++) test_env_set_pending(f->te, sub[i], 0);
    test_env_advance(f->te, LIMIT_OUT_POLL_NS);
    g_assert_false(test_env_is_read_paused(f->te, pub));
    test_env_advance(f->te, 0); /* the held bytes arrive */
    g_autofree char *two = test_env_client_take(f->te, sub[0]);
    g_assert_cmpstr(two, ==, "MSG big 1 1\r\n2\r\n");
    g_autofree char *pong = test_env_client_take(f->te, pub);
    g_assert_cmpstr(pong, ==, "PONG\r\n");
    /* nobody drains: after LIMIT_OUT_STALL_NS the largest goes (ties: the oldest), until the
     * total is back under the resume mark */
    for (int i = 0; i < N; i++) test_env_set_pending(f->te, sub[i], held + (size_t)(i == 3));
    g_free(say(f, pub, "PUB big 1\r\n3\r\n"));
    g_assert_true(test_env_is_read_paused(f->te, pub));
    test_env_advance(f->te, LIMIT_OUT_STALL_NS - LIMIT_OUT_POLL_NS);
    for (int i = 0; i < N; i++) g_assert_false(test_env_is_closed(f->te, sub[i]));
    test_env_advance(f->te, 2 * LIMIT_OUT_POLL_NS);
    g_assert_true(test_env_is_closed(f->te, sub[3])); /* the largest */
    g_assert_false(test_env_is_closed(f->te, sub[0]));
    g_assert_true(test_env_is_read_paused(f->te, pub)); /* 4 x 60 MiB: still over the mark */
    test_env_advance(f->te, 2 * LIMIT_OUT_STALL_NS + 4 * LIMIT_OUT_POLL_NS);
    g_assert_true(test_env_is_closed(f->te, sub[0])); /* then the oldest of the equal ones */
    g_assert_true(test_env_is_closed(f->te, sub[1]));
    g_assert_false(test_env_is_closed(f->te, sub[2])); /* 2 x 60 MiB: resumed */
    g_assert_false(test_env_is_read_paused(f->te, pub));
    g_assert_cmpuint(server_stats(f->srv)->slow_consumers, ==, 3);
    g_autofree char *log = test_env_take_log(f->te);
    g_assert_nonnull(strstr(log, "pausing fast publishers"));
    g_assert_nonnull(strstr(log, "Slow Consumer Detected: holds"));
}

/* Found by fuzz_server: a queue name holding a form feed (or another byte the trie rejects
 * but the parser does not split on) used to abort the broker in on_sub. */
static void test_sub_bad_queue(Fixture *f, gconstpointer data) {
    EnvConn c = client(f, JS_CONNECT);
    EnvConn d = client(f, JS_CONNECT);
    g_free(say(f, d, "SUB ok 1\r\n"));
    g_autofree char *out = say(f, c, "SUB a q\f 1\r\nSUB b \r 2\r\nPING\r\n");
    g_assert_nonnull(strstr(out, "-ERR 'Invalid Subject'"));
    g_assert_true(g_str_has_suffix(out, "PONG\r\n"));
    g_assert_false(test_env_is_closed(f->te, c));
    g_assert_cmpuint(server_stats(f->srv)->subscriptions, ==, 1);
    g_free(say(f, c, "PUB ok 2\r\nhi\r\n"));
    g_autofree char *got = test_env_client_take(f->te, d);
    g_assert_cmpstr(got, ==, "MSG ok 1 2\r\nhi\r\n");
}

/* Out of descriptors (EMFILE): the port backs off (10 ms doubling, env.c ACCEPT BACK-OFF),
 * logs once for the whole outage and once when it recovers; the waiting connection is then
 * accepted with the bytes it sent meanwhile, and the clients already connected were served
 * all along. (Before: one log line per 100 ms attempt, forever.) */
static void test_accept_backoff(Fixture *f, gconstpointer data) {
    EnvConn old = client(f, JS_CONNECT);
    g_free(test_env_take_log(f->te));
    test_env_fail_accepts(f->te, 6);
    EnvConn c = test_env_connect(f->te);
    g_assert_false(test_env_is_accepted(f->te, c));
    test_env_client_send(f->te, c, "CONNECT {}\r\nPING\r\n"); /* waits in the backlog */
    g_autofree char *out = say(f, old, "PING\r\n"); /* the others are served meanwhile */
    g_assert_cmpstr(out, ==, "PONG\r\n");
    /* pauses 10, 20, 40, 80, 160 ms: after 300 ms still waiting (the 6th failed at 310 ms) */
    test_env_advance(f->te, 300 * 1000000LL);
    g_assert_false(test_env_is_accepted(f->te, c));
    test_env_advance(f->te, 20 * 1000000LL);
    g_assert_false(test_env_is_accepted(f->te, c));
    test_env_advance(f->te, 320 * 1000000LL); /* the 7th attempt, 320 ms after the 6th */
    g_assert_true(test_env_is_accepted(f->te, c));
    test_env_advance(f->te, 0);
    g_autofree char *got = test_env_client_take(f->te, c);
    g_assert_true(g_str_has_prefix(got, "INFO {"));
    g_assert_true(g_str_has_suffix(got, "PONG\r\n"));
    g_autofree char *log = test_env_take_log(f->te);
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
    guint errors = 0, resumed = 0;
    for (char **l = lines; *l != NULL; l++) {
        if (strstr(*l, "Accept Error") != NULL) errors++;
        if (strstr(*l, "accepts resumed after 6 failed attempts") != NULL) resumed++;
    }
    g_assert_cmpuint(errors, ==, 1);
    g_assert_cmpuint(resumed, ==, 1);
    g_assert_nonnull(strstr(log, "Too many open files"));
    /* a second outage starts again at 10 ms and is logged again, once */
    test_env_fail_accepts(f->te, 1);
    EnvConn d = test_env_connect(f->te);
    g_assert_false(test_env_is_accepted(f->te, d));
    test_env_advance(f->te, 10 * 1000000LL);
    g_assert_true(test_env_is_accepted(f->te, d));
    g_autofree char *log2 = test_env_take_log(f->te);
    g_assert_nonnull(strstr(log2, "Accept Error"));
    g_assert_nonnull(strstr(log2, "accepts resumed after 1 failed attempts"));
}

/* The subject trie has a node cap (limits.h, LIMIT_SUBLIST_NODES_COUNT; 64 here): a SUB
 * that would pass it gets -ERR 'maximum subscriptions exceeded', stays open, and everyone
 * else is served; an UNSUB makes room again. */
static void test_trie_node_cap(Fixture *f, gconstpointer data) {
    server_free(f->srv);
    ServerConfig cfg;
    server_config_init(&cfg);
    cfg.max_trie_nodes = 64;
    g_autoptr(GError) err = NULL;
    f->srv = server_new(&f->te->env, &cfg, &err);
    g_assert_no_error(err);
    EnvConn hog = client(f, JS_CONNECT);
    EnvConn other = client(f, JS_CONNECT);
    g_autofree char *deep = g_strdup("t");
    for (int i = 0; i < 59; i++) { /* 60 tokens: 60 nodes */
        char *d = g_strdup_printf("%s.%d", deep, i);
        g_free(deep);
        deep = d;
    }
    g_autofree char *sub1 = g_strdup_printf("SUB %s 1\r\nPING\r\n", deep);
    g_autofree char *o1 = say(f, hog, sub1);
    g_assert_cmpstr(o1, ==, "PONG\r\n");
    g_autofree char *o2 = say(f, hog, "SUB x.y.z.w.v 2\r\nPING\r\n"); /* 5 more: 65 > 64 */
    g_assert_cmpstr(o2, ==, "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n");
    g_assert_false(test_env_is_closed(f->te, hog));
    g_autofree char *o3 = say(f, other, "SUB t.0 9\r\nPUB t.0 2\r\nhi\r\nPING\r\n"); /* its nodes exist: fits */
    g_assert_cmpstr(o3, ==, "MSG t.0 9 2\r\nhi\r\nPONG\r\n");
    g_autofree char *log = test_env_take_log(f->te);
    g_assert_nonnull(strstr(log, "the subject trie is at its limit of 64 nodes"));
    g_autofree char *o4 = say(f, hog, "UNSUB 1\r\nSUB x.y.z.w.v 2\r\nPING\r\n");
    g_assert_cmpstr(o4, ==, "PONG\r\n");
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/server/trie-node-cap", test_trie_node_cap);
    ADD("/server/accept_backoff", test_accept_backoff);
    ADD("/server/long-subjects", test_long_subjects);
    ADD("/server/backpressure", test_backpressure);
    ADD("/server/info", test_info);
    ADD("/server/sub_nul_subject", test_sub_nul_subject);
    ADD("/server/sub_bad_queue", test_sub_bad_queue);
    ADD("/server/pubsub_wildcards", test_pubsub);
    ADD("/server/hpub", test_hpub);
    ADD("/server/hpub_without_headers_closes", test_hpub_without_headers_closes);
    ADD("/server/queue_groups", test_queue_groups);
    ADD("/server/unsub_max", test_unsub_max);
    ADD("/server/echo_false", test_echo_false);
    ADD("/server/no_responders", test_no_responders);
    ADD("/server/connect_errors", test_connect_errors);
    ADD("/server/verbose", test_verbose);
    ADD("/server/errors", test_errors);
    ADD("/server/slow_consumer", test_slow_consumer);
    ADD("/server/stale_connection", test_stale_connection);
    ADD("/server/byte_at_a_time", test_byte_at_a_time);
    ADD("/server/internal_subscription", test_internal_subscription);
    ADD("/server/client_close_cleans_up", test_client_close_cleans_up);
    return g_test_run();
}
