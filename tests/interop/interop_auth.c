/* interop_auth.c — authentication and permissions through the real C client (libnats), issue 17.
 *
 * Each test starts a fresh server with a config file from tests/interop/conf/ — the same file
 * for minijet and nats-server 2.9.10 — and checks what libnats reports: which credentials
 * connect (NATS_CONNECTION_AUTH_FAILED otherwise), which publishes and subscriptions are
 * refused (the async error handler gets NATS_NOT_PERMITTED and the server's text), what a
 * subscriber receives, and what a responder with allow_responses may answer.
 *
 *   MINIJET_TEST_SERVER=nats-server build/tests/interop_auth --tap
 */
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "server_ctl.h"

#define WAIT_MS 5000
#define QUIET_MS 150

#define CHECK_NATS(expr)                                                                             \
    do {                                                                                             \
        natsStatus s_ = (expr);                                                                      \
        IOP_CHECK(s_ == NATS_OK, "%s -> %s (%s)", #expr, natsStatus_GetText(s_), nats_GetLastError(NULL)); \
    } while (0)

/* What a connection's async error handler saw. */
typedef struct {
    GMutex mu;
    GString *texts; /* one line per error: "<status>: <last error text>" */
    int count;
} Errors;

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
    Errors *e = closure;
    const char *text = NULL;
    natsConnection_GetLastError(nc, &text);
    g_mutex_lock(&e->mu);
    g_string_append_printf(e->texts, "%s: %s\n", natsStatus_GetText(err), text ? text : "");
    e->count++;
    g_mutex_unlock(&e->mu);
}

static Errors *errors_new(void) {
    Errors *e = g_new0(Errors, 1);
    g_mutex_init(&e->mu);
    e->texts = g_string_new(NULL);
    return e;
}

static void errors_free(Errors *e) {
    if (e == NULL) return;
    g_mutex_clear(&e->mu);
    g_string_free(e->texts, TRUE);
    g_free(e);
}

static int errors_wait(Errors *e, int n) {
    gint64 end = server_ctl_now_ms() + WAIT_MS;
    for (;;) {
        g_mutex_lock(&e->mu);
        int c = e->count;
        g_mutex_unlock(&e->mu);
        if (c >= n || server_ctl_now_ms() > end) return c;
        server_ctl_sleep_ms(5);
    }
}

static char *errors_text(Errors *e) {
    g_mutex_lock(&e->mu);
    char *t = g_strdup(e->texts->str);
    g_mutex_unlock(&e->mu);
    return t;
}

/* Connect as user/pass, or with a token when user is NULL (both NULL: no credentials). */
static natsStatus open_conn(ServerCtl *srv, const char *user, const char *pass, const char *token,
                            Errors *errs, natsConnection **nc) {
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s != NATS_OK) return s;
    natsOptions_SetURL(o, server_ctl_url(srv));
    natsOptions_SetTimeout(o, WAIT_MS);
    natsOptions_SetAllowReconnect(o, false);
    if (user) natsOptions_SetUserInfo(o, user, pass);
    if (token) natsOptions_SetToken(o, token);
    if (errs) natsOptions_SetErrorHandler(o, on_error, errs);
    s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

static void finish(ServerCtl *srv) {
    if (srv) server_ctl_expect_alive(srv);
    server_ctl_free(srv);
}

/* Messages a subscription received within QUIET_MS after the last flush, as "subj:data,". */
static char *drain(natsSubscription *sub) {
    GString *out = g_string_new(NULL);
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, QUIET_MS) == NATS_OK) {
        g_string_append_printf(out, "%s:%.*s,", natsMsg_GetSubject(m), natsMsg_GetDataLength(m), natsMsg_GetData(m));
        natsMsg_Destroy(m);
    }
    return g_string_free(out, FALSE);
}

/* ---------------------------------------------------------------- who may connect */

static void test_passwords(void) {
    natsConnection *nc = NULL;
    ServerCtl *srv = server_ctl_start_conf("auth-users");
    IOP_CHECK(srv != NULL, "start: %s", server_ctl_last_error());
    struct { const char *user, *pass; natsStatus want; } cases[] = {
        {"plain", "pw-plain", NATS_OK},
        {"plain", "pw-wrong", NATS_CONNECTION_AUTH_FAILED},
        {"nobody", "pw-plain", NATS_CONNECTION_AUTH_FAILED},
        {"admin", "admin-s3cret", NATS_OK},   /* bcrypt $2a$ */
        {"bcryptb", "admin-s3cret", NATS_OK}, /* bcrypt $2b$ */
        {"admin", "admin-s3cre", NATS_CONNECTION_AUTH_FAILED},
        {NULL, NULL, NATS_CONNECTION_AUTH_FAILED},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        natsStatus s = open_conn(srv, cases[i].user, cases[i].pass, NULL, NULL, &nc);
        IOP_CHECK(s == cases[i].want, "user %s pass %s: %s, want %s (%s)", cases[i].user, cases[i].pass,
                  natsStatus_GetText(s), natsStatus_GetText(cases[i].want), nats_GetLastError(NULL));
        natsConnection_Destroy(nc);
        nc = NULL;
    }
done:
    natsConnection_Destroy(nc);
    finish(srv);
}

static void test_token(void) {
    natsConnection *nc = NULL;
    ServerCtl *srv = server_ctl_start_conf("auth-token");
    IOP_CHECK(srv != NULL, "start: %s", server_ctl_last_error());
    CHECK_NATS(open_conn(srv, NULL, NULL, "tok-s3cret", NULL, &nc));
    CHECK_NATS(natsConnection_PublishString(nc, "t", "1"));
    CHECK_NATS(natsConnection_FlushTimeout(nc, WAIT_MS));
    natsConnection_Destroy(nc);
    nc = NULL;
    natsStatus s = open_conn(srv, NULL, NULL, "tok-wrong", NULL, &nc);
    IOP_CHECK(s == NATS_CONNECTION_AUTH_FAILED, "wrong token: %s", natsStatus_GetText(s));
    natsConnection_Destroy(nc);
    nc = NULL;
    s = open_conn(srv, NULL, NULL, NULL, NULL, &nc);
    IOP_CHECK(s == NATS_CONNECTION_AUTH_FAILED, "no token: %s", natsStatus_GetText(s));
done:
    natsConnection_Destroy(nc);
    finish(srv);
}

/* ---------------------------------------------------------------- permissions */

static void test_publish_deny(void) {
    natsConnection *admin = NULL, *lim = NULL;
    natsSubscription *sub = NULL;
    Errors *errs = errors_new();
    g_autofree char *got = NULL, *texts = NULL;
    ServerCtl *srv = server_ctl_start_conf("auth-users");
    IOP_CHECK(srv != NULL, "start: %s", server_ctl_last_error());
    CHECK_NATS(open_conn(srv, "admin", "admin-s3cret", NULL, NULL, &admin));
    CHECK_NATS(open_conn(srv, "limited", "pw-limited", NULL, errs, &lim));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, admin, ">"));
    CHECK_NATS(natsConnection_FlushTimeout(admin, WAIT_MS));
    CHECK_NATS(natsConnection_PublishString(lim, "orders.secret", "no"));
    CHECK_NATS(natsConnection_PublishString(lim, "orders.new", "yes"));
    CHECK_NATS(natsConnection_FlushTimeout(lim, WAIT_MS));
    IOP_CHECK(errors_wait(errs, 1) == 1, "one async error");
    texts = errors_text(errs);
    IOP_CHECK(strstr(texts, "Permissions Violation for Publish to \"orders.secret\"") != NULL, "error: %s", texts);
    CHECK_NATS(natsConnection_FlushTimeout(admin, WAIT_MS));
    got = drain(sub);
    IOP_CHECK(strcmp(got, "orders.new:yes,") == 0, "admin received %s", got);
    IOP_CHECK(!natsConnection_IsClosed(lim), "a permission violation does not close the connection");
done:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(admin);
    natsConnection_Destroy(lim);
    errors_free(errs);
    finish(srv);
}

static void test_subscribe_deny(void) {
    natsConnection *admin = NULL, *lim = NULL;
    natsSubscription *denied = NULL, *wide = NULL;
    Errors *errs = errors_new();
    g_autofree char *got = NULL, *texts = NULL;
    ServerCtl *srv = server_ctl_start_conf("auth-users");
    IOP_CHECK(srv != NULL, "start: %s", server_ctl_last_error());
    CHECK_NATS(open_conn(srv, "limited", "pw-limited", NULL, errs, &lim));
    CHECK_NATS(natsConnection_SubscribeSync(&denied, lim, "orders.hidden"));
    CHECK_NATS(natsConnection_SubscribeSync(&wide, lim, "orders.*"));
    CHECK_NATS(natsConnection_FlushTimeout(lim, WAIT_MS));
    IOP_CHECK(errors_wait(errs, 1) == 1, "one async error");
    texts = errors_text(errs);
    IOP_CHECK(strstr(texts, "Permissions Violation for Subscription to \"orders.hidden\"") != NULL, "error: %s", texts);
    CHECK_NATS(open_conn(srv, "admin", "admin-s3cret", NULL, NULL, &admin));
    CHECK_NATS(natsConnection_PublishString(admin, "orders.hidden", "h"));
    CHECK_NATS(natsConnection_PublishString(admin, "orders.open", "o"));
    CHECK_NATS(natsConnection_FlushTimeout(admin, WAIT_MS));
    CHECK_NATS(natsConnection_FlushTimeout(lim, WAIT_MS));
    got = drain(wide); /* the wildcard SUB does not receive the denied subject */
    IOP_CHECK(strcmp(got, "orders.open:o,") == 0, "limited received %s", got);
done:
    natsSubscription_Destroy(denied);
    natsSubscription_Destroy(wide);
    natsConnection_Destroy(admin);
    natsConnection_Destroy(lim);
    errors_free(errs);
    finish(srv);
}

/* ---------------------------------------------------------------- request / reply */

static void respond_twice(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
    const char *reply = natsMsg_GetReply(m);
    if (reply) {
        natsConnection_PublishString(nc, reply, "r1");
        natsConnection_PublishString(nc, reply, "r2");
    }
    natsMsg_Destroy(m);
}

static void test_responses(void) {
    natsConnection *admin = NULL, *resp = NULL;
    natsSubscription *svc = NULL, *inbox = NULL;
    natsMsg *reply = NULL;
    Errors *errs = errors_new();
    g_autofree char *got = NULL, *texts = NULL;
    ServerCtl *srv = server_ctl_start_conf("auth-users");
    IOP_CHECK(srv != NULL, "start: %s", server_ctl_last_error());
    CHECK_NATS(open_conn(srv, "responder", "pw-responder", NULL, errs, &resp));
    CHECK_NATS(natsConnection_Subscribe(&svc, resp, "svc.two", respond_twice, NULL));
    CHECK_NATS(natsConnection_FlushTimeout(resp, WAIT_MS));
    CHECK_NATS(open_conn(srv, "admin", "admin-s3cret", NULL, NULL, &admin));
    /* a request gets its (first) response */
    CHECK_NATS(natsConnection_RequestString(&reply, admin, "svc.two", "q", WAIT_MS));
    IOP_CHECK(strcmp(natsMsg_GetData(reply), "r1") == 0, "reply %s", natsMsg_GetData(reply));
    /* with our own inbox we see that only one response of two got through (allow_responses: true) */
    CHECK_NATS(natsConnection_SubscribeSync(&inbox, admin, "_INBOX.mine"));
    CHECK_NATS(natsConnection_FlushTimeout(admin, WAIT_MS));
    CHECK_NATS(natsConnection_PublishRequestString(admin, "svc.two", "_INBOX.mine", "q"));
    CHECK_NATS(natsConnection_FlushTimeout(admin, WAIT_MS));
    IOP_CHECK(errors_wait(errs, 2) == 2, "the second response of each request is refused");
    CHECK_NATS(natsConnection_FlushTimeout(resp, WAIT_MS));
    CHECK_NATS(natsConnection_FlushTimeout(admin, WAIT_MS));
    got = drain(inbox);
    IOP_CHECK(strcmp(got, "_INBOX.mine:r1,") == 0, "inbox received %s", got);
    /* and nothing but responses */
    CHECK_NATS(natsConnection_PublishString(resp, "svc.two", "x"));
    CHECK_NATS(natsConnection_FlushTimeout(resp, WAIT_MS));
    IOP_CHECK(errors_wait(errs, 3) == 3, "publish outside responses is refused");
    texts = errors_text(errs);
    IOP_CHECK(strstr(texts, "Permissions Violation for Publish to \"svc.two\"") != NULL, "errors: %s", texts);
done:
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(svc);
    natsSubscription_Destroy(inbox);
    natsConnection_Destroy(admin);
    natsConnection_Destroy(resp);
    errors_free(errs);
    finish(srv);
}

int main(int argc, char **argv) {
    server_ctl_test_init(&argc, &argv);
    server_ctl_watchdog(55); /* the whole suite stays under a minute */
    g_test_add_func("/interop/auth/passwords", test_passwords);
    g_test_add_func("/interop/auth/token", test_token);
    g_test_add_func("/interop/auth/publish_deny", test_publish_deny);
    g_test_add_func("/interop/auth/subscribe_deny", test_subscribe_deny);
    g_test_add_func("/interop/auth/responses", test_responses);
    int rc = g_test_run();
    nats_CloseAndWait(2000);
    return rc;
}
