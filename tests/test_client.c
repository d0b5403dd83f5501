/* test_client.c — the sans-IO client (src/client/client.c): handshake, parsing at every split,
 * encoders, request/reply with the muxed inbox, reconnect behaviour, headers.
 * No server and no environment: the tests play the server by feeding bytes.
 */
#include <string.h>

#include "client/client.h"

typedef struct {
    Client *c;
    GString *log; /* one line per callback */
} Fx;

static void on_connected(void *ctx) { g_string_append(((Fx *)ctx)->log, "connected\n"); }
static void on_msg(void *ctx, const ClientMsg *m) {
    Fx *f = ctx;
    g_string_append_printf(f->log, "msg %.*s sid=%" G_GUINT64_FORMAT " reply=%.*s hdr=%zu payload=%.*s\n",
                           (int)m->subject_len, m->subject, m->sid, (int)m->reply_len,
                           m->reply ? m->reply : "", m->hdr_len, (int)m->payload_len,
                           (const char *)m->payload);
}
static void on_reply(void *ctx, uint64_t id, ClientReplyStatus st, const ClientMsg *m) {
    Fx *f = ctx;
    g_string_append_printf(f->log, "reply %" G_GUINT64_FORMAT " status=%d payload=%.*s\n", id, (int)st,
                           m ? (int)m->payload_len : 0, m ? (const char *)m->payload : "");
}
static void on_error(void *ctx, const char *t) { g_string_append_printf(((Fx *)ctx)->log, "err %s\n", t); }
static void on_pong(void *ctx) { g_string_append(((Fx *)ctx)->log, "pong\n"); }

static const ClientCallbacks cbs = {on_connected, on_msg, on_reply, on_error, on_pong, NULL};

static void fx_setup(Fx *f, gconstpointer unused) {
    ClientOptions o = {.name = "t\"1", .echo = false, .inbox_prefix = "_INBOX.abc"};
    f->c = client_new(&o, &cbs, f);
    f->log = g_string_new(NULL);
}
static void fx_teardown(Fx *f, gconstpointer unused) {
    client_free(f->c);
    g_string_free(f->log, TRUE);
}

static char *take_out(Client *c) {
    size_t n;
    const uint8_t *p = client_output(c, &n);
    char *s = n ? g_strndup((const char *)p, n) : g_strdup("");
    client_output_consume(c, n);
    return s;
}

static void feed(Fx *f, const char *s) {
    g_autoptr(GError) e = NULL;
    g_assert_true(client_feed(f->c, (const uint8_t *)s, strlen(s), &e));
    g_assert_no_error(e);
}

#define INFO "INFO {\"server_id\":\"X\",\"max_payload\":1048576,\"headers\":true}\r\n"

static void connect_fx(Fx *f) {
    feed(f, INFO);
    g_free(take_out(f->c));
    feed(f, "PONG\r\n");
    g_string_truncate(f->log, 0);
}

static void test_handshake(Fx *f, gconstpointer unused) {
    uint64_t sid = client_subscribe(f->c, "a.>", NULL);
    g_assert_cmpuint(sid, ==, 1);
    client_publish(f->c, "early", NULL, "x", 1);
    g_autofree char *before = take_out(f->c);
    g_assert_cmpstr(before, ==, ""); /* nothing may precede CONNECT */
    g_assert_cmpint(client_state(f->c), ==, CLIENT_WAIT_INFO);
    feed(f, INFO);
    g_assert_cmpint(client_state(f->c), ==, CLIENT_WAIT_PONG);
    g_autofree char *out = take_out(f->c);
    g_assert_true(g_str_has_prefix(out, "CONNECT {"));
    g_assert_nonnull(strstr(out, "\"verbose\":false"));
    g_assert_nonnull(strstr(out, "\"pedantic\":false"));
    g_assert_nonnull(strstr(out, "\"headers\":true"));
    g_assert_nonnull(strstr(out, "\"no_responders\":true"));
    g_assert_nonnull(strstr(out, "\"echo\":false"));
    g_assert_nonnull(strstr(out, "\"name\":\"t\\\"1\""));
    g_assert_true(g_str_has_suffix(out, "}\r\nSUB a.> 1\r\nPING\r\nPUB early 1\r\nx\r\n"));
    feed(f, "PONG\r\n");
    g_assert_cmpint(client_state(f->c), ==, CLIENT_CONNECTED);
    g_assert_cmpstr(f->log->str, ==, "connected\n");
}

static const char *stream =
    "MSG a.b 1 5\r\nhello\r\n"
    "PING\r\n"
    "msg a.c 1 _INBOX.r 0\r\n\r\n"
    "+OK\r\n"
    "HMSG a.d 1 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nhi\r\n"
    "MSG  a.e\t1  3\r\nx\ry\r\n"
    "-ERR 'Slow Consumer'\r\n";
static const char *expect =
    "msg a.b sid=1 reply= hdr=0 payload=hello\n"
    "msg a.c sid=1 reply=_INBOX.r hdr=0 payload=\n"
    "msg a.d sid=1 reply= hdr=18 payload=hi\n"
    "msg a.e sid=1 reply= hdr=0 payload=x\ry\n"
    "err Slow Consumer\n";

/* Every split of the stream into two feeds, and byte-at-a-time, give the same callbacks. */
static void test_every_split(Fx *f, gconstpointer unused) {
    size_t n = strlen(stream);
    for (size_t cut = 0; cut <= n + 1; cut++) {
        Fx g;
        fx_setup(&g, NULL);
        client_subscribe(g.c, "a.>", NULL);
        connect_fx(&g);
        g_autoptr(GError) e = NULL;
        if (cut <= n) {
            g_assert_true(client_feed(g.c, (const uint8_t *)stream, cut, &e));
            g_assert_true(client_feed(g.c, (const uint8_t *)stream + cut, n - cut, &e));
        } else {
            for (size_t i = 0; i < n; i++) g_assert_true(client_feed(g.c, (const uint8_t *)stream + i, 1, &e));
        }
        g_assert_cmpstr(g.log->str, ==, expect);
        g_autofree char *out = take_out(g.c);
        g_assert_cmpstr(out, ==, "PONG\r\n");
        fx_teardown(&g, NULL);
    }
}

static void test_encoders(Fx *f, gconstpointer unused) {
    connect_fx(f);
    uint64_t s1 = client_subscribe(f->c, "x.*", "q");
    uint64_t s2 = client_subscribe(f->c, "y", NULL);
    client_unsubscribe(f->c, s2, 3);
    client_unsubscribe(f->c, s1, 0);
    client_publish(f->c, "x.1", "r.1", "abc", 3);
    client_hpublish(f->c, "x.2", NULL, "NATS/1.0\r\n\r\n", 12, "z", 1);
    client_ping(f->c);
    g_autofree char *out = take_out(f->c);
    g_assert_cmpstr(out, ==,
                    "SUB x.* q 1\r\nSUB y 2\r\nUNSUB 2 3\r\nUNSUB 1\r\n"
                    "PUB x.1 r.1 3\r\nabc\r\nHPUB x.2 12 13\r\nNATS/1.0\r\n\r\nz\r\nPING\r\n");
    feed(f, "PONG\r\n");
    g_assert_cmpstr(f->log->str, ==, "pong\n");
    g_autofree char *inbox = client_inbox_new(f->c);
    g_assert_cmpstr(inbox, ==, "_INBOX.abc.1");
}

static void test_auto_unsub(Fx *f, gconstpointer unused) {
    connect_fx(f);
    uint64_t s = client_subscribe(f->c, "a", NULL);
    client_unsubscribe(f->c, s, 2);
    feed(f, "MSG a 1 1\r\n1\r\nMSG a 1 1\r\n2\r\nMSG a 1 1\r\n3\r\n");
    g_assert_cmpstr(f->log->str, ==, "msg a sid=1 reply= hdr=0 payload=1\nmsg a sid=1 reply= hdr=0 payload=2\n");
}

static void test_request_reply(Fx *f, gconstpointer unused) {
    connect_fx(f);
    uint64_t r1 = client_request(f->c, "svc", "q", 1);
    uint64_t r2 = client_request(f->c, "none", "", 0);
    uint64_t r3 = client_request(f->c, "slow", "", 0);
    g_autofree char *out = take_out(f->c);
    g_assert_cmpstr(out, ==,
                    "SUB _INBOX.abc.r.* 1\r\nPUB svc _INBOX.abc.r.1 1\r\nq\r\n"
                    "PUB none _INBOX.abc.r.2 0\r\n\r\nPUB slow _INBOX.abc.r.3 0\r\n\r\n");
    g_assert_cmpuint(client_requests_pending(f->c), ==, 3);
    feed(f, "MSG _INBOX.abc.r.1 1 2\r\nok\r\n");
    feed(f, "HMSG _INBOX.abc.r.2 1 28 28\r\nNATS/1.0 503\r\nX: y\r\nZ: w\r\n\r\n\r\n");
    feed(f, "MSG _INBOX.abc.r.1 1 3\r\ndup\r\n"); /* already answered: ignored */
    g_assert_cmpuint(client_requests_pending(f->c), ==, 1);
    g_autofree char *want = g_strdup_printf("reply %" G_GUINT64_FORMAT " status=0 payload=ok\n"
                                            "reply %" G_GUINT64_FORMAT " status=1 payload=\n", r1, r2);
    g_assert_cmpstr(f->log->str, ==, want);
    g_string_truncate(f->log, 0);
    /* the connection breaks: r3 fails, subscriptions come back after the next INFO */
    client_reset(f->c);
    g_autofree char *want3 = g_strdup_printf("reply %" G_GUINT64_FORMAT " status=2 payload=\n", r3);
    g_assert_cmpstr(f->log->str, ==, want3);
    feed(f, INFO);
    g_autofree char *again = take_out(f->c);
    g_assert_nonnull(strstr(again, "SUB _INBOX.abc.r.* 1\r\nPING\r\n"));
}

static void test_bad_input(Fx *f, gconstpointer unused) {
    const char *bad[] = {"BOGUS\r\n", "MSG a\r\n", "MSG a x 1\r\nz\r\n", "MSG a 1 1\r\nzz\r\n",
                         "HMSG a 1 5 3\r\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        Fx g;
        fx_setup(&g, NULL);
        connect_fx(&g);
        g_autoptr(GError) e = NULL;
        g_assert_false(client_feed(g.c, (const uint8_t *)bad[i], strlen(bad[i]), &e));
        g_assert_error(e, CLIENT_ERROR, CLIENT_ERROR_PROTOCOL);
        fx_teardown(&g, NULL);
    }
    /* an endless line is refused, not buffered forever */
    g_autofree char *big = g_strnfill(20000, 'A');
    g_autoptr(GError) e = NULL;
    g_assert_false(client_feed(f->c, (const uint8_t *)big, strlen(big), &e));
}

static void test_headers(Fx *f, gconstpointer unused) {
    const char *h = "NATS/1.0 503 No Responders\r\nNats-Msg-Id: abc\r\nX:  v w \r\n\r\n";
    g_assert_cmpint(client_header_status((const uint8_t *)h, strlen(h)), ==, 503);
    g_assert_cmpint(client_header_status((const uint8_t *)"NATS/1.0\r\n\r\n", 12), ==, 0);
    g_autofree char *id = client_header_get((const uint8_t *)h, strlen(h), "nats-msg-id");
    g_assert_cmpstr(id, ==, "abc");
    g_autofree char *x = client_header_get((const uint8_t *)h, strlen(h), "X");
    g_assert_cmpstr(x, ==, "v w ");
    g_assert_null(client_header_get((const uint8_t *)h, strlen(h), "Nope"));
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fx, NULL, fx_setup, fn, fx_teardown)
    ADD("/client/handshake", test_handshake);
    ADD("/client/parse-every-split", test_every_split);
    ADD("/client/encoders", test_encoders);
    ADD("/client/auto-unsubscribe", test_auto_unsub);
    ADD("/client/request-reply", test_request_reply);
    ADD("/client/bad-input", test_bad_input);
    ADD("/client/headers", test_headers);
    return g_test_run();
}
