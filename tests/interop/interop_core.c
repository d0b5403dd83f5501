/* interop_core.c — core NATS messaging through the real C client (libnats / nats.c 3.4.1).
 *
 * Every test starts a fresh server (minijet or nats-server, see server_ctl.h), drives it with
 * libnats and checks only what the protocol promises, so the suite passes against nats-server
 * 2.9.10 unchanged. Waits are bounded; a failed check marks the test failed and the suite goes
 * on (IOP_CHECK), so one run lists every failure.
 *
 *   MINIJET_TEST_SERVER=nats-server build/tests/interop_core --tap
 */
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "server_ctl.h"

#define WAIT_MS 5000 /* the longest a single expected event may take */
#define QUIET_MS 100 /* how long we wait to be sure that nothing (more) arrives */

#define CHECK_NATS(expr)                                                                             \
    do {                                                                                             \
        natsStatus s_ = (expr);                                                                      \
        IOP_CHECK(s_ == NATS_OK, "%s -> %s (%s)", #expr, natsStatus_GetText(s_), nats_GetLastError(NULL)); \
    } while (0)

/* ---- helpers ---- */

static ServerCtl *start_server(void) {
    return server_ctl_start();
}

/* Finish a test: the server must have survived it. */
static void finish(ServerCtl *srv) {
    if (srv) server_ctl_expect_alive(srv);
    server_ctl_free(srv);
}

static natsOptions *base_opts(ServerCtl *srv) {
    natsOptions *o = NULL;
    if (natsOptions_Create(&o) != NATS_OK) return NULL;
    natsOptions_SetURL(o, server_ctl_url(srv));
    natsOptions_SetTimeout(o, WAIT_MS);
    natsOptions_SetAllowReconnect(o, false);
    return o;
}

/* Connect with default options (no reconnect: a dying server shows up as an error). */
static natsStatus connect_plain(ServerCtl *srv, natsConnection **nc) {
    natsOptions *o = base_opts(srv);
    if (o == NULL) return NATS_NO_MEMORY;
    natsStatus s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

typedef struct {
    GMutex mu;
    GCond cv;
    int count;
} Counter;

static void counter_init(Counter *c) {
    g_mutex_init(&c->mu);
    g_cond_init(&c->cv);
    c->count = 0;
}
static void counter_clear(Counter *c) {
    g_mutex_clear(&c->mu);
    g_cond_clear(&c->cv);
}
static void counter_add(Counter *c, int n) {
    g_mutex_lock(&c->mu);
    c->count += n;
    g_cond_broadcast(&c->cv);
    g_mutex_unlock(&c->mu);
}
static int counter_get(Counter *c) {
    g_mutex_lock(&c->mu);
    int n = c->count;
    g_mutex_unlock(&c->mu);
    return n;
}
/* Wait until count >= n or timeout; returns the count. */
static int counter_wait(Counter *c, int n, int timeout_ms) {
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_mutex_lock(&c->mu);
    while (c->count < n) {
        if (!g_cond_wait_until(&c->cv, &c->mu, end)) break;
    }
    int got = c->count;
    g_mutex_unlock(&c->mu);
    return got;
}

/* Receive the next message on a sync subscription, or NULL after timeout_ms. */
static natsMsg *next_msg(natsSubscription *sub, int timeout_ms, natsStatus *st) {
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, timeout_ms);
    if (st) *st = s;
    return s == NATS_OK ? m : NULL;
}

static gboolean msg_data_is(natsMsg *m, const char *s) {
    return natsMsg_GetDataLength(m) == (int)strlen(s) && memcmp(natsMsg_GetData(m), s, strlen(s)) == 0;
}

/* ---- tests ---- */

static void test_connect(void) {
    ServerCtl *srv = start_server();
    natsConnection *nc = NULL;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &nc));
    IOP_CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED, "status %d", natsConnection_Status(nc));
    char buf[256] = "";
    CHECK_NATS(natsConnection_GetConnectedServerId(nc, buf, sizeof buf));
    IOP_CHECK(buf[0] != '\0', "empty server_id");
    char url[256] = "";
    CHECK_NATS(natsConnection_GetConnectedUrl(nc, url, sizeof url));
    char *port = g_strdup_printf(":%d", server_ctl_port(srv));
    gboolean has_port = strstr(url, port) != NULL;
    g_free(port);
    IOP_CHECK(has_port, "connected url %s", url);
    uint64_t cid = 0;
    CHECK_NATS(natsConnection_GetClientID(nc, &cid));
    IOP_CHECK(cid > 0, "client_id %llu", (unsigned long long)cid);
    IOP_CHECK(natsConnection_GetMaxPayload(nc) == 1048576, "max_payload %lld",
              (long long)natsConnection_GetMaxPayload(nc));
    CHECK_NATS(natsConnection_FlushTimeout(nc, WAIT_MS));
    /* A second and third connection at the same time, with distinct client ids. */
    natsConnection *nc2 = NULL;
    natsStatus s2 = connect_plain(srv, &nc2);
    uint64_t cid2 = 0;
    if (s2 == NATS_OK) natsConnection_GetClientID(nc2, &cid2);
    natsConnection_Destroy(nc2);
    IOP_CHECK(s2 == NATS_OK, "second connection: %s", natsStatus_GetText(s2));
    IOP_CHECK(cid2 != cid, "two connections share client_id %llu", (unsigned long long)cid);
done:
    natsConnection_Destroy(nc);
    finish(srv);
}

static void test_pubsub(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    natsStatus st;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, sc, "greet.joe"));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));

    CHECK_NATS(natsConnection_PublishString(pc, "greet.joe", "hello"));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL, "no message: %s", natsStatus_GetText(st));
    IOP_CHECK(strcmp(natsMsg_GetSubject(m), "greet.joe") == 0, "subject %s", natsMsg_GetSubject(m));
    IOP_CHECK(msg_data_is(m, "hello"), "data %.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
    IOP_CHECK(natsMsg_GetReply(m) == NULL || natsMsg_GetReply(m)[0] == '\0', "unexpected reply %s",
              natsMsg_GetReply(m));
    natsMsg_Destroy(m);
    m = NULL;

    /* With a reply subject, and an empty payload. */
    CHECK_NATS(natsConnection_PublishRequestString(pc, "greet.joe", "my.reply.subject", "with reply"));
    CHECK_NATS(natsConnection_Publish(pc, "greet.joe", NULL, 0));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL, "no message with reply: %s", natsStatus_GetText(st));
    IOP_CHECK(natsMsg_GetReply(m) && strcmp(natsMsg_GetReply(m), "my.reply.subject") == 0, "reply %s",
              natsMsg_GetReply(m) ? natsMsg_GetReply(m) : "(null)");
    IOP_CHECK(msg_data_is(m, "with reply"), "data");
    natsMsg_Destroy(m);
    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL, "no empty message: %s", natsStatus_GetText(st));
    IOP_CHECK(natsMsg_GetDataLength(m) == 0, "empty payload came back with %d bytes", natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);

    /* A non-matching subject is not delivered. */
    CHECK_NATS(natsConnection_PublishString(pc, "greet.jane", "not for joe"));
    CHECK_NATS(natsConnection_PublishString(pc, "greet", "not for joe"));
    CHECK_NATS(natsConnection_PublishString(pc, "greet.joe.x", "not for joe"));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    m = next_msg(sub, QUIET_MS, &st);
    IOP_CHECK(m == NULL, "non-matching message delivered on %s", natsMsg_GetSubject(m));
done:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

/* Collect the subjects received by a sync subscription after the flushes, joined by ','. */
static char *collect_subjects(natsSubscription *sub) {
    GString *g = g_string_new("");
    natsMsg *m;
    while ((m = next_msg(sub, QUIET_MS, NULL)) != NULL) {
        if (g->len) g_string_append_c(g, ',');
        g_string_append(g, natsMsg_GetSubject(m));
        natsMsg_Destroy(m);
    }
    return g_string_free(g, FALSE);
}

static void test_wildcards(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    enum { N = 6 };
    const char *patterns[N] = {"w.*", "w.>", "w.*.c", "w.a.b", "*.a.*", "w.*.*.>"};
    const char *expected[N] = {
        "w.a,w.b",                             /* w.*     */
        "w.a,w.b,w.a.b,w.a.c,w.a.b.c,w.x.y.z.q", /* w.>     */
        "w.a.c",                               /* w.*.c   */
        "w.a.b",                               /* w.a.b   */
        "w.a.b,w.a.c,v.a.z",                   /* *.a.*   */
        "w.a.b.c,w.x.y.z.q",                   /* w.*.*.> */
    };
    const char *pubs[] = {"w.a", "w", "w.b", "w.a.b", "w.a.c", "w.a.b.c", "v.a.z", "v.b.z", "w.x.y.z.q", "ww.a"};
    natsSubscription *subs[N] = {0};
    char *got = NULL;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    for (int i = 0; i < N; i++) CHECK_NATS(natsConnection_SubscribeSync(&subs[i], sc, patterns[i]));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    for (size_t i = 0; i < G_N_ELEMENTS(pubs); i++) CHECK_NATS(natsConnection_PublishString(pc, pubs[i], pubs[i]));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    for (int i = 0; i < N; i++) {
        got = collect_subjects(subs[i]);
        IOP_CHECK(strcmp(got, expected[i]) == 0, "subscription %s received [%s], expected [%s]", patterns[i], got,
                  expected[i]);
        g_free(got);
        got = NULL;
    }
done:
    g_free(got);
    for (int i = 0; i < N; i++) natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

enum { QMSGS = 1000, QMEMBERS = 3 };
typedef struct {
    Counter *total;
    int member;
    int got;                /* messages this member received (only touched by its callback) */
    unsigned char *seen;    /* shared: times each message index was received by any member */
    GMutex *seen_mu;
    int bad;                /* unparsable payloads */
} QMember;

static void on_queue_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    QMember *q = closure;
    char buf[32] = "";
    int len = natsMsg_GetDataLength(msg);
    if (len > 0 && len < (int)sizeof buf) memcpy(buf, natsMsg_GetData(msg), (size_t)len);
    int idx = atoi(buf);
    g_mutex_lock(q->seen_mu);
    if (len <= 0 || idx < 0 || idx >= QMSGS)
        q->bad++;
    else if (q->seen[idx] < 255)
        q->seen[idx]++;
    q->got++;
    g_mutex_unlock(q->seen_mu);
    natsMsg_Destroy(msg);
    counter_add(q->total, 1);
}

static void test_queue_groups(void) {
    ServerCtl *srv = start_server();
    natsConnection *pc = NULL, *mc[QMEMBERS] = {0}, *plainc = NULL;
    natsSubscription *qs[QMEMBERS] = {0}, *plain = NULL;
    Counter total;
    counter_init(&total);
    GMutex seen_mu;
    g_mutex_init(&seen_mu);
    unsigned char seen[QMSGS] = {0};
    QMember mem[QMEMBERS];
    memset(mem, 0, sizeof mem);
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &pc));
    CHECK_NATS(connect_plain(srv, &plainc));
    for (int i = 0; i < QMEMBERS; i++) {
        mem[i] = (QMember){.total = &total, .member = i, .seen = seen, .seen_mu = &seen_mu};
        CHECK_NATS(connect_plain(srv, &mc[i]));
        CHECK_NATS(natsConnection_QueueSubscribe(&qs[i], mc[i], "jobs.new", "workers", on_queue_msg, &mem[i]));
        CHECK_NATS(natsConnection_FlushTimeout(mc[i], WAIT_MS));
    }
    CHECK_NATS(natsConnection_SubscribeSync(&plain, plainc, "jobs.new"));
    CHECK_NATS(natsConnection_FlushTimeout(plainc, WAIT_MS));

    for (int i = 0; i < QMSGS; i++) {
        char buf[16];
        g_snprintf(buf, sizeof buf, "%d", i);
        CHECK_NATS(natsConnection_PublishString(pc, "jobs.new", buf));
    }
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    int got = counter_wait(&total, QMSGS, 10000);
    IOP_CHECK(got >= QMSGS, "queue members received %d of %d messages", got, QMSGS);
    /* Everything the server sent is in by now; make sure no duplicates trail behind. */
    for (int i = 0; i < QMEMBERS; i++) CHECK_NATS(natsConnection_FlushTimeout(mc[i], WAIT_MS));
    server_ctl_sleep_ms(20);
    IOP_CHECK(counter_get(&total) == QMSGS, "queue members received %d messages in total, expected exactly %d",
              counter_get(&total), QMSGS);
    g_mutex_lock(&seen_mu);
    int missing = 0, dup = 0, bad = 0;
    for (int i = 0; i < QMSGS; i++) {
        if (seen[i] == 0) missing++;
        if (seen[i] > 1) dup++;
    }
    for (int i = 0; i < QMEMBERS; i++) bad += mem[i].bad;
    int per[QMEMBERS];
    for (int i = 0; i < QMEMBERS; i++) per[i] = mem[i].got;
    g_mutex_unlock(&seen_mu);
    IOP_CHECK(missing == 0 && dup == 0 && bad == 0, "%d messages never delivered, %d delivered to several members, %d bad",
              missing, dup, bad);
    for (int i = 0; i < QMEMBERS; i++)
        IOP_CHECK(per[i] > 0, "queue member %d received nothing (split %d/%d/%d)", i, per[0], per[1], per[2]);
    if (g_test_verbose()) g_test_message("queue split: %d/%d/%d", per[0], per[1], per[2]);

    /* The plain subscriber on the same subject gets every message, in order. */
    for (int i = 0; i < QMSGS; i++) {
        natsStatus st;
        natsMsg *m = next_msg(plain, WAIT_MS, &st);
        IOP_CHECK(m != NULL, "plain subscriber: message %d missing (%s)", i, natsStatus_GetText(st));
        char buf[16];
        g_snprintf(buf, sizeof buf, "%d", i);
        gboolean ok = msg_data_is(m, buf);
        natsMsg_Destroy(m);
        IOP_CHECK(ok, "plain subscriber: message %d out of order", i);
    }
done:
    for (int i = 0; i < QMEMBERS; i++) {
        if (qs[i]) natsSubscription_Unsubscribe(qs[i]);
        natsSubscription_Destroy(qs[i]);
        natsConnection_Destroy(mc[i]);
    }
    natsSubscription_Destroy(plain);
    natsConnection_Destroy(plainc);
    natsConnection_Destroy(pc);
    counter_clear(&total);
    g_mutex_clear(&seen_mu);
    finish(srv);
}

static void test_auto_unsubscribe(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL, *reply = NULL;
    natsStatus st;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, sc, "limited"));
    CHECK_NATS(natsSubscription_AutoUnsubscribe(sub, 3));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    for (int i = 0; i < 5; i++) CHECK_NATS(natsConnection_PublishString(pc, "limited", "x"));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    for (int i = 0; i < 3; i++) {
        m = next_msg(sub, WAIT_MS, &st);
        IOP_CHECK(m != NULL, "message %d of 3 missing: %s", i + 1, natsStatus_GetText(st));
        natsMsg_Destroy(m);
        m = NULL;
    }
    m = next_msg(sub, QUIET_MS, &st);
    IOP_CHECK(m == NULL, "a 4th message was delivered after AutoUnsubscribe(3)");
    IOP_CHECK(st == NATS_MAX_DELIVERED_MSGS || st == NATS_INVALID_SUBSCRIPTION, "4th NextMsg: %s",
              natsStatus_GetText(st));
    /* The server dropped the interest: a request to the subject now has no responders. */
    st = natsConnection_RequestString(&reply, pc, "limited", "anyone?", WAIT_MS);
    IOP_CHECK(st == NATS_NO_RESPONDERS, "request after the max was reached: %s (expected no responders)",
              natsStatus_GetText(st));
done:
    natsMsg_Destroy(m);
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

static void test_unsubscribe(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsSubscription *sub = NULL, *other = NULL;
    natsMsg *m = NULL;
    natsStatus st;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, sc, "unsub.me"));
    CHECK_NATS(natsConnection_SubscribeSync(&other, sc, "unsub.*"));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    CHECK_NATS(natsSubscription_Unsubscribe(sub));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    CHECK_NATS(natsConnection_PublishString(pc, "unsub.me", "after"));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    m = next_msg(other, WAIT_MS, &st);
    IOP_CHECK(m != NULL, "the remaining subscription got nothing: %s", natsStatus_GetText(st));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK_NATS(natsSubscription_Unsubscribe(other));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    st = natsConnection_RequestString(&m, pc, "unsub.me", "anyone?", WAIT_MS);
    IOP_CHECK(st == NATS_NO_RESPONDERS, "request after both unsubscribed: %s (expected no responders)",
              natsStatus_GetText(st));
done:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(other);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

static void on_echo_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    const char *reply = natsMsg_GetReply(msg);
    if (reply) {
        GString *g = g_string_new("re:");
        g_string_append_len(g, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
        natsConnection_Publish(nc, reply, g->str, (int)g->len);
        g_string_free(g, TRUE);
    }
    natsMsg_Destroy(msg);
}

static void test_request_reply(void) {
    ServerCtl *srv = start_server();
    natsConnection *rc = NULL, *qc = NULL;
    natsSubscription *svc = NULL;
    natsMsg *m = NULL;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &rc));
    CHECK_NATS(connect_plain(srv, &qc));
    CHECK_NATS(natsConnection_Subscribe(&svc, rc, "svc.echo", on_echo_request, NULL));
    CHECK_NATS(natsConnection_FlushTimeout(rc, WAIT_MS));
    for (int i = 0; i < 100; i++) {
        char q[32], want[40];
        g_snprintf(q, sizeof q, "ping-%d", i);
        g_snprintf(want, sizeof want, "re:ping-%d", i);
        CHECK_NATS(natsConnection_RequestString(&m, qc, "svc.echo", q, WAIT_MS));
        IOP_CHECK(msg_data_is(m, want), "request %d: reply %.*s", i, natsMsg_GetDataLength(m), natsMsg_GetData(m));
        natsMsg_Destroy(m);
        m = NULL;
    }
    /* The responder may live on the requester's own connection too. */
    natsConnection_Destroy(rc);
    rc = NULL;
    natsSubscription_Destroy(svc);
    svc = NULL;
    CHECK_NATS(natsConnection_Subscribe(&svc, qc, "svc.echo", on_echo_request, NULL));
    CHECK_NATS(natsConnection_RequestString(&m, qc, "svc.echo", "self", WAIT_MS));
    IOP_CHECK(msg_data_is(m, "re:self"), "self request: reply %.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
done:
    natsMsg_Destroy(m);
    if (svc) natsSubscription_Unsubscribe(svc);
    natsSubscription_Destroy(svc);
    natsConnection_Destroy(rc);
    natsConnection_Destroy(qc);
    finish(srv);
}

static void test_no_responders(void) {
    ServerCtl *srv = start_server();
    natsConnection *nc = NULL;
    natsMsg *m = NULL;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &nc));
    for (int i = 0; i < 3; i++) {
        gint64 t0 = server_ctl_now_ms();
        natsStatus st = natsConnection_RequestString(&m, nc, "nobody.home", "hello?", WAIT_MS);
        gint64 took = server_ctl_now_ms() - t0;
        IOP_CHECK(st == NATS_NO_RESPONDERS, "request %d: %s, expected NATS_NO_RESPONDERS", i, natsStatus_GetText(st));
        IOP_CHECK(took < WAIT_MS / 2, "no-responders answer took %lld ms", (long long)took);
    }
    /* The connection is still fine afterwards. */
    CHECK_NATS(natsConnection_FlushTimeout(nc, WAIT_MS));
done:
    natsMsg_Destroy(m);
    natsConnection_Destroy(nc);
    finish(srv);
}

static gboolean header_values_are(natsMsg *m, const char *key, const char *const *want, int n, char **why) {
    const char **vals = NULL;
    int count = 0;
    natsStatus st = natsMsgHeader_Values(m, key, &vals, &count);
    if (st != NATS_OK) {
        *why = g_strdup_printf("Values(%s): %s", key, natsStatus_GetText(st));
        return FALSE;
    }
    gboolean ok = count == n;
    for (int i = 0; ok && i < n; i++) ok = strcmp(vals[i], want[i]) == 0;
    if (!ok) {
        GString *g = g_string_new("");
        for (int i = 0; i < count; i++) g_string_append_printf(g, "%s[%s]", i ? "," : "", vals[i]);
        *why = g_strdup_printf("header %s has %d values: %s", key, count, g->str);
        g_string_free(g, TRUE);
    }
    free((void *)vals);
    return ok;
}

static void test_headers(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *out = NULL, *m = NULL;
    char *why = NULL;
    natsStatus st;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, sc, "hdrs"));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));

    CHECK_NATS(natsMsg_Create(&out, "hdrs", "hdrs.reply", "body", 4));
    CHECK_NATS(natsMsgHeader_Set(out, "X-Single", "one value"));
    CHECK_NATS(natsMsgHeader_Add(out, "X-Multi", "first"));
    CHECK_NATS(natsMsgHeader_Add(out, "X-Multi", "second"));
    CHECK_NATS(natsMsgHeader_Add(out, "X-Multi", "third: with colon"));
    CHECK_NATS(natsMsgHeader_Set(out, "X-Replaced", "old"));
    CHECK_NATS(natsMsgHeader_Set(out, "X-Replaced", "new"));
    CHECK_NATS(natsConnection_PublishMsg(pc, out));
    natsMsg_Destroy(out);
    out = NULL;
    /* Headers and no payload. */
    CHECK_NATS(natsMsg_Create(&out, "hdrs", NULL, NULL, 0));
    CHECK_NATS(natsMsgHeader_Set(out, "Only", "headers"));
    CHECK_NATS(natsConnection_PublishMsg(pc, out));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));

    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL, "no message: %s", natsStatus_GetText(st));
    IOP_CHECK(msg_data_is(m, "body"), "payload %.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
    IOP_CHECK(natsMsg_GetReply(m) && strcmp(natsMsg_GetReply(m), "hdrs.reply") == 0, "reply subject lost");
    const char *v = NULL;
    CHECK_NATS(natsMsgHeader_Get(m, "X-Single", &v));
    IOP_CHECK(strcmp(v, "one value") == 0, "X-Single=%s", v);
    CHECK_NATS(natsMsgHeader_Get(m, "X-Replaced", &v));
    IOP_CHECK(strcmp(v, "new") == 0, "X-Replaced=%s", v);
    const char *multi[] = {"first", "second", "third: with colon"};
    IOP_CHECK(header_values_are(m, "X-Multi", multi, 3, &why), "%s", why);
    const char *replaced[] = {"new"};
    IOP_CHECK(header_values_are(m, "X-Replaced", replaced, 1, &why), "%s", why);
    st = natsMsgHeader_Get(m, "X-Absent", &v);
    IOP_CHECK(st == NATS_NOT_FOUND, "absent header: %s", natsStatus_GetText(st));
    const char **keys = NULL;
    int nkeys = 0;
    CHECK_NATS(natsMsgHeader_Keys(m, &keys, &nkeys));
    free((void *)keys);
    IOP_CHECK(nkeys == 3, "%d header keys, expected 3", nkeys);
    natsMsg_Destroy(m);

    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL, "no headers-only message: %s", natsStatus_GetText(st));
    IOP_CHECK(natsMsg_GetDataLength(m) == 0, "payload of %d bytes", natsMsg_GetDataLength(m));
    CHECK_NATS(natsMsgHeader_Get(m, "Only", &v));
    IOP_CHECK(strcmp(v, "headers") == 0, "Only=%s", v);
done:
    g_free(why);
    natsMsg_Destroy(out);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

static char *pattern_bytes(size_t n, guint32 seed) {
    char *b = g_malloc(n);
    GRand *r = g_rand_new_with_seed(seed);
    for (size_t i = 0; i < n; i++) b[i] = (char)g_rand_int_range(r, 0, 256);
    g_rand_free(r);
    return b;
}

/* Publish `n` bytes and expect them back byte-exact. */
static gboolean round_trip(natsConnection *pc, natsSubscription *sub, const char *subj, size_t n, char **why) {
    char *data = pattern_bytes(n, (guint32)n);
    natsMsg *m = NULL;
    natsStatus st = natsConnection_Publish(pc, subj, data, (int)n);
    if (st == NATS_OK) st = natsConnection_FlushTimeout(pc, WAIT_MS);
    if (st != NATS_OK) {
        *why = g_strdup_printf("publishing %zu bytes: %s (%s)", n, natsStatus_GetText(st), nats_GetLastError(NULL));
        g_free(data);
        return FALSE;
    }
    m = next_msg(sub, WAIT_MS, &st);
    gboolean ok = FALSE;
    if (m == NULL)
        *why = g_strdup_printf("%zu-byte message not received: %s", n, natsStatus_GetText(st));
    else if ((size_t)natsMsg_GetDataLength(m) != n)
        *why = g_strdup_printf("sent %zu bytes, received %d", n, natsMsg_GetDataLength(m));
    else if (memcmp(natsMsg_GetData(m), data, n) != 0)
        *why = g_strdup_printf("%zu-byte payload came back altered", n);
    else
        ok = TRUE;
    natsMsg_Destroy(m);
    g_free(data);
    return ok;
}

static void test_max_payload(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsSubscription *sub = NULL;
    char *big = NULL, *why = NULL;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    int64_t maxp = natsConnection_GetMaxPayload(pc);
    IOP_CHECK(maxp == 1048576, "server max_payload %lld, expected 1048576", (long long)maxp);
    CHECK_NATS(natsConnection_SubscribeSync(&sub, sc, "big"));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    big = g_malloc0((size_t)maxp + 1);
    natsStatus st = natsConnection_Publish(pc, "big", big, (int)maxp + 1);
    IOP_CHECK(st == NATS_MAX_PAYLOAD, "publishing max_payload+1 bytes: %s, expected NATS_MAX_PAYLOAD",
              natsStatus_GetText(st));
    /* Refused on the client side: the connection is intact and exactly max_payload passes. */
    IOP_CHECK(natsConnection_Status(pc) == NATS_CONN_STATUS_CONNECTED, "connection status %d",
              natsConnection_Status(pc));
    IOP_CHECK(round_trip(pc, sub, "big", (size_t)maxp, &why), "%s", why);
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
done:
    g_free(big);
    g_free(why);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

static void test_large_payload(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsSubscription *sub = NULL;
    char *why = NULL;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, sc, "large"));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    IOP_CHECK(round_trip(pc, sub, "large", 1048576 - 1, &why), "%s", why);
    /* A few in a row, of different sizes around buffer boundaries. */
    size_t sizes[] = {65535, 65536, 65537, 300000, 1048576 - 1};
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) IOP_CHECK(round_trip(pc, sub, "large", sizes[i], &why), "%s", why);
done:
    g_free(why);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

static void test_no_echo(void) {
    ServerCtl *srv = start_server();
    natsConnection *quiet = NULL, *loud = NULL;
    natsSubscription *qsub = NULL, *lsub = NULL;
    natsOptions *o = NULL;
    natsMsg *m = NULL;
    natsStatus st;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    o = base_opts(srv);
    IOP_CHECK(o != NULL, "options");
    CHECK_NATS(natsOptions_SetNoEcho(o, true));
    CHECK_NATS(natsConnection_Connect(&quiet, o));
    CHECK_NATS(connect_plain(srv, &loud));
    CHECK_NATS(natsConnection_SubscribeSync(&qsub, quiet, "echo.test"));
    CHECK_NATS(natsConnection_SubscribeSync(&lsub, loud, "echo.test"));
    CHECK_NATS(natsConnection_FlushTimeout(quiet, WAIT_MS));
    CHECK_NATS(natsConnection_FlushTimeout(loud, WAIT_MS));

    /* quiet publishes: loud receives it, quiet does not. */
    CHECK_NATS(natsConnection_PublishString(quiet, "echo.test", "from-quiet"));
    CHECK_NATS(natsConnection_FlushTimeout(quiet, WAIT_MS));
    m = next_msg(lsub, WAIT_MS, &st);
    IOP_CHECK(m != NULL && msg_data_is(m, "from-quiet"), "the other connection did not get the message: %s",
              natsStatus_GetText(st));
    natsMsg_Destroy(m);
    m = NULL;
    /* loud publishes: both receive it (echo is on for loud, and quiet still hears others). */
    CHECK_NATS(natsConnection_PublishString(loud, "echo.test", "from-loud"));
    CHECK_NATS(natsConnection_FlushTimeout(loud, WAIT_MS));
    CHECK_NATS(natsConnection_FlushTimeout(quiet, WAIT_MS));
    m = next_msg(qsub, WAIT_MS, &st);
    IOP_CHECK(m != NULL, "no-echo connection missed a message from another connection: %s", natsStatus_GetText(st));
    IOP_CHECK(msg_data_is(m, "from-loud"), "no-echo connection received its own message (%.*s)",
              natsMsg_GetDataLength(m), natsMsg_GetData(m));
    natsMsg_Destroy(m);
    m = next_msg(lsub, WAIT_MS, &st);
    IOP_CHECK(m != NULL && msg_data_is(m, "from-loud"), "echo connection did not get its own message: %s",
              natsStatus_GetText(st));
    natsMsg_Destroy(m);
    m = next_msg(qsub, QUIET_MS, &st);
    IOP_CHECK(m == NULL, "no-echo connection received an extra message");
done:
    natsMsg_Destroy(m);
    natsOptions_Destroy(o);
    natsSubscription_Destroy(qsub);
    natsSubscription_Destroy(lsub);
    natsConnection_Destroy(quiet);
    natsConnection_Destroy(loud);
    finish(srv);
}

static void on_conn_event(natsConnection *nc, void *closure) { counter_add(closure, 1); }

static void test_reconnect(void) {
    ServerCtl *srv = start_server();
    natsConnection *nc = NULL, *other = NULL;
    natsSubscription *sub = NULL;
    natsOptions *o = NULL;
    natsMsg *m = NULL;
    natsStatus st;
    Counter disc, reco;
    counter_init(&disc);
    counter_init(&reco);
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    o = base_opts(srv);
    IOP_CHECK(o != NULL, "options");
    CHECK_NATS(natsOptions_SetAllowReconnect(o, true));
    CHECK_NATS(natsOptions_SetMaxReconnect(o, 1000));
    CHECK_NATS(natsOptions_SetReconnectWait(o, 20));
    CHECK_NATS(natsOptions_SetReconnectJitter(o, 0, 0));
    CHECK_NATS(natsOptions_SetDisconnectedCB(o, on_conn_event, &disc));
    CHECK_NATS(natsOptions_SetReconnectedCB(o, on_conn_event, &reco));
    CHECK_NATS(natsConnection_Connect(&nc, o));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, nc, "rc.subject"));
    CHECK_NATS(natsConnection_PublishString(nc, "rc.subject", "before"));
    CHECK_NATS(natsConnection_FlushTimeout(nc, WAIT_MS));
    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL && msg_data_is(m, "before"), "before restart: %s", natsStatus_GetText(st));
    natsMsg_Destroy(m);
    m = NULL;

    IOP_CHECK(server_ctl_restart(srv), "restart failed: %s", server_ctl_last_error());
    IOP_CHECK(counter_wait(&reco, 1, 10000) >= 1, "reconnected callback not fired within 10 s (disconnected: %d)",
              counter_get(&disc));
    IOP_CHECK(counter_get(&disc) >= 1, "disconnected callback not fired");
    IOP_CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED, "status %d", natsConnection_Status(nc));

    /* The subscription was re-established, publishing works again. */
    CHECK_NATS(natsConnection_PublishString(nc, "rc.subject", "after"));
    CHECK_NATS(natsConnection_FlushTimeout(nc, WAIT_MS));
    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL && msg_data_is(m, "after"), "after restart (own publish): %s", natsStatus_GetText(st));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK_NATS(connect_plain(srv, &other));
    CHECK_NATS(natsConnection_PublishString(other, "rc.subject", "from-other"));
    CHECK_NATS(natsConnection_FlushTimeout(other, WAIT_MS));
    m = next_msg(sub, WAIT_MS, &st);
    IOP_CHECK(m != NULL && msg_data_is(m, "from-other"), "after restart (another connection): %s",
              natsStatus_GetText(st));
done:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(other);
    natsOptions_Destroy(o);
    counter_clear(&disc);
    counter_clear(&reco);
    finish(srv);
}

static void test_flush_ping(void) {
    ServerCtl *srv = start_server();
    natsConnection *nc = NULL;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &nc));
    gint64 t0 = server_ctl_now_ms();
    for (int i = 0; i < 200; i++) CHECK_NATS(natsConnection_FlushTimeout(nc, WAIT_MS));
    gint64 took = server_ctl_now_ms() - t0;
    IOP_CHECK(took < 4000, "200 flushes took %lld ms", (long long)took);
    int64_t rtt = -1;
    CHECK_NATS(natsConnection_GetRTT(nc, &rtt));
    IOP_CHECK(rtt >= 0 && rtt < 1000000000LL, "rtt %lld ns", (long long)rtt);
    /* A flush after a burst of publishes with no subscribers. */
    for (int i = 0; i < 1000; i++) CHECK_NATS(natsConnection_PublishString(nc, "nobody.listens", "x"));
    CHECK_NATS(natsConnection_FlushTimeout(nc, WAIT_MS));
done:
    natsConnection_Destroy(nc);
    finish(srv);
}

enum { MANY_SUBS = 10000, FAN_SUBS = 1000 };
typedef struct {
    Counter total;
    int hits[MANY_SUBS];
    int wrong_subject;
    int fan_hits;
    GMutex mu;
} ManyCtx;
static ManyCtx *g_many;

static void on_many(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    int idx = GPOINTER_TO_INT(closure);
    char want[32];
    g_snprintf(want, sizeof want, "many.%d", idx);
    g_mutex_lock(&g_many->mu);
    g_many->hits[idx]++;
    if (strcmp(natsMsg_GetSubject(msg), want) != 0) g_many->wrong_subject++;
    g_mutex_unlock(&g_many->mu);
    natsMsg_Destroy(msg);
    counter_add(&g_many->total, 1);
}

static void on_fan(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    g_mutex_lock(&g_many->mu);
    g_many->fan_hits++;
    g_mutex_unlock(&g_many->mu);
    natsMsg_Destroy(msg);
    counter_add(&g_many->total, 1);
}

static void test_many_subscriptions(void) {
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsOptions *o = NULL;
    natsSubscription **subs = g_new0(natsSubscription *, MANY_SUBS + FAN_SUBS);
    ManyCtx *ctx = g_new0(ManyCtx, 1);
    g_many = ctx;
    counter_init(&ctx->total);
    g_mutex_init(&ctx->mu);
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    o = base_opts(srv);
    IOP_CHECK(o != NULL, "options");
    /* One delivery pool instead of a thread per subscription. */
    CHECK_NATS(natsOptions_UseGlobalMessageDelivery(o, true));
    CHECK_NATS(natsConnection_Connect(&sc, o));
    CHECK_NATS(connect_plain(srv, &pc));
    for (int i = 0; i < MANY_SUBS; i++) {
        char subj[32];
        g_snprintf(subj, sizeof subj, "many.%d", i);
        CHECK_NATS(natsConnection_Subscribe(&subs[i], sc, subj, on_many, GINT_TO_POINTER(i)));
    }
    for (int i = 0; i < FAN_SUBS; i++) CHECK_NATS(natsConnection_Subscribe(&subs[MANY_SUBS + i], sc, "fan.out", on_fan, NULL));
    CHECK_NATS(natsConnection_FlushTimeout(sc, 10000));

    for (int i = 0; i < MANY_SUBS; i++) {
        char subj[32];
        g_snprintf(subj, sizeof subj, "many.%d", i);
        CHECK_NATS(natsConnection_PublishString(pc, subj, "x"));
    }
    CHECK_NATS(natsConnection_PublishString(pc, "fan.out", "to all"));
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    int want = MANY_SUBS + FAN_SUBS;
    int got = counter_wait(&ctx->total, want, 15000);
    IOP_CHECK(got >= want, "received %d of %d deliveries", got, want);
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    server_ctl_sleep_ms(20);
    g_mutex_lock(&ctx->mu);
    int missing = 0, extra = 0, wrong = ctx->wrong_subject, fan = ctx->fan_hits;
    for (int i = 0; i < MANY_SUBS; i++) {
        if (ctx->hits[i] == 0) missing++;
        if (ctx->hits[i] > 1) extra++;
    }
    g_mutex_unlock(&ctx->mu);
    IOP_CHECK(missing == 0 && extra == 0 && wrong == 0,
              "of %d subscriptions: %d got nothing, %d got duplicates, %d got a wrong subject", MANY_SUBS, missing,
              extra, wrong);
    IOP_CHECK(fan == FAN_SUBS, "one publish to %d subscriptions on one subject: %d deliveries", FAN_SUBS, fan);
done:
    natsConnection_Destroy(pc);
    /* Closing the connection closes its subscriptions. */
    if (sc) natsConnection_Close(sc);
    for (int i = 0; i < MANY_SUBS + FAN_SUBS; i++) natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(sc);
    natsOptions_Destroy(o);
    g_free(subs);
    counter_clear(&ctx->total);
    g_mutex_clear(&ctx->mu);
    g_free(ctx);
    g_many = NULL;
    finish(srv);
}

static void test_ordering(void) {
    enum { N = 10000 };
    ServerCtl *srv = start_server();
    natsConnection *sc = NULL, *pc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    natsStatus st;
    IOP_CHECK(srv != NULL, "cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    CHECK_NATS(connect_plain(srv, &sc));
    CHECK_NATS(connect_plain(srv, &pc));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, sc, "ordered.>"));
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    for (int i = 0; i < N; i++) {
        char buf[16];
        g_snprintf(buf, sizeof buf, "%d", i);
        /* Alternate subjects and sizes: the order holds across both. */
        CHECK_NATS(natsConnection_PublishString(pc, (i % 2) ? "ordered.odd" : "ordered.even", buf));
    }
    CHECK_NATS(natsConnection_FlushTimeout(pc, WAIT_MS));
    for (int i = 0; i < N; i++) {
        char buf[16];
        g_snprintf(buf, sizeof buf, "%d", i);
        m = next_msg(sub, WAIT_MS, &st);
        IOP_CHECK(m != NULL, "message %d of %d missing: %s", i, N, natsStatus_GetText(st));
        IOP_CHECK(msg_data_is(m, buf), "position %d holds message %.*s", i, natsMsg_GetDataLength(m),
                  natsMsg_GetData(m));
        natsMsg_Destroy(m);
        m = NULL;
    }
    CHECK_NATS(natsConnection_FlushTimeout(sc, WAIT_MS));
    m = next_msg(sub, QUIET_MS, &st);
    IOP_CHECK(m == NULL, "an extra message after %d", N);
done:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(sc);
    natsConnection_Destroy(pc);
    finish(srv);
}

int main(int argc, char **argv) {
    server_ctl_test_init(&argc, &argv);
    server_ctl_watchdog(55); /* the whole suite stays under a minute */
    g_test_add_func("/interop/core/connect", test_connect);
    g_test_add_func("/interop/core/pubsub", test_pubsub);
    g_test_add_func("/interop/core/wildcards", test_wildcards);
    g_test_add_func("/interop/core/queue-groups", test_queue_groups);
    g_test_add_func("/interop/core/auto-unsubscribe", test_auto_unsubscribe);
    g_test_add_func("/interop/core/unsubscribe", test_unsubscribe);
    g_test_add_func("/interop/core/request-reply", test_request_reply);
    g_test_add_func("/interop/core/no-responders", test_no_responders);
    g_test_add_func("/interop/core/headers", test_headers);
    g_test_add_func("/interop/core/max-payload", test_max_payload);
    g_test_add_func("/interop/core/large-payload", test_large_payload);
    g_test_add_func("/interop/core/no-echo", test_no_echo);
    g_test_add_func("/interop/core/reconnect", test_reconnect);
    g_test_add_func("/interop/core/flush-ping", test_flush_ping);
    g_test_add_func("/interop/core/many-subscriptions", test_many_subscriptions);
    g_test_add_func("/interop/core/ordering", test_ordering);
    int rc = g_test_run();
    nats_CloseAndWait(2000);
    return rc;
}
