/* interop_cluster.c — a three-server cluster driven by the real C client (libnats / nats.c).
 *
 * The twin of tests/interop/js/cluster.test.mjs: three minijet servers, or three nats-server
 * 2.9.10 servers (MINIJET_TEST_SERVER), routed into one cluster by one shared --routes list.
 * Checks what clients see: delivery across servers (plain and wildcard), a queue group over
 * the three servers getting each message exactly once, request/reply and the 503 no-responders
 * status across servers, and a client whose server is killed with -9 reconnecting to a survivor
 * (learned from INFO's connect_urls) and working on. Interest travels asynchronously: tests
 * wait for it on /routez?subs=1, with bounds.
 *
 *   MINIJET_TEST_SERVER=nats-server build/tests/interop_cluster --tap
 */
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "server_ctl.h"

#define WAIT_MS 5000
#define QUIET_MS 150
#define N 3

#define CHECK_NATS(expr)                                                                             \
    do {                                                                                             \
        natsStatus s_ = (expr);                                                                      \
        IOP_CHECK(s_ == NATS_OK, "%s -> %s (%s)", #expr, natsStatus_GetText(s_), nats_GetLastError(NULL)); \
    } while (0)

static ServerCtl *nodes[N];

static natsStatus connect_to(ServerCtl *srv, natsConnection **nc, bool reconnect) {
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s != NATS_OK) return s;
    natsOptions_SetURL(o, server_ctl_url(srv));
    natsOptions_SetTimeout(o, WAIT_MS);
    natsOptions_SetAllowReconnect(o, reconnect);
    if (reconnect) {
        natsOptions_SetMaxReconnect(o, -1);
        natsOptions_SetReconnectWait(o, 100);
    }
    s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

/* Wait until `srv` lists `subject` on at least `routes` of its routes (/routez?subs=1). */
static gboolean wait_interest(ServerCtl *srv, const char *subject, int routes) {
    g_autofree char *quoted = g_strdup_printf("\"%s\"", subject);
    /* Go's JSON writes '>' as \u003e (nats-server); minijet writes it plainly */
    g_auto(GStrv) parts = g_strsplit(quoted, ">", -1);
    g_autofree char *go_quoted = g_strjoinv("\\u003e", parts);
    gint64 deadline = server_ctl_now_ms() + WAIT_MS;
    for (;;) {
        g_autofree char *body = server_ctl_monitor_get(srv, "/routez?subs=1");
        int n = 0;
        for (const char *p = body; p != NULL && (p = strstr(p, quoted)) != NULL; p++) n++;
        if (strcmp(quoted, go_quoted) != 0)
            for (const char *p = body; p != NULL && (p = strstr(p, go_quoted)) != NULL; p++) n++;
        if (n >= routes) return TRUE;
        if (server_ctl_now_ms() > deadline) return FALSE;
        server_ctl_sleep_ms(20);
    }
}

typedef struct {
    GMutex mu;
    int count;
    int seen[1000];
    int dups;
} Tally;

static void on_tally(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    Tally *t = closure;
    int i = atoi(natsMsg_GetData(msg));
    g_mutex_lock(&t->mu);
    t->count++;
    if (i >= 0 && i < 1000) {
        if (t->seen[i]++) t->dups++;
    }
    g_mutex_unlock(&t->mu);
    natsMsg_Destroy(msg);
}

static int tally_count(Tally *t) {
    g_mutex_lock(&t->mu);
    int c = t->count;
    g_mutex_unlock(&t->mu);
    return c;
}

static void test_pub_sub_across(void) {
    natsConnection *a = NULL, *b = NULL;
    natsSubscription *sub = NULL, *wild = NULL;
    natsMsg *m = NULL;
    CHECK_NATS(connect_to(nodes[0], &a, false));
    CHECK_NATS(connect_to(nodes[1], &b, false));
    CHECK_NATS(natsConnection_SubscribeSync(&sub, a, "c.plain"));
    CHECK_NATS(natsConnection_SubscribeSync(&wild, a, "c.>"));
    CHECK_NATS(natsConnection_Flush(a));
    IOP_CHECK(wait_interest(nodes[1], "c.plain", 1), "interest reached n2");
    IOP_CHECK(wait_interest(nodes[1], "c.>", 1), "wildcard interest reached n2");
    CHECK_NATS(natsConnection_PublishString(b, "c.plain", "hello"));
    CHECK_NATS(natsConnection_Flush(b));
    CHECK_NATS(natsSubscription_NextMsg(&m, sub, WAIT_MS));
    IOP_CHECK(strcmp(natsMsg_GetData(m), "hello") == 0, "payload %s", natsMsg_GetData(m));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK_NATS(natsSubscription_NextMsg(&m, wild, WAIT_MS));
    natsMsg_Destroy(m);
    m = NULL;
    IOP_CHECK(natsSubscription_NextMsg(&m, sub, QUIET_MS) == NATS_TIMEOUT, "exactly once");
done:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(wild);
    natsConnection_Destroy(a);
    natsConnection_Destroy(b);
}

static void test_queue_group_exactly_once(void) {
    natsConnection *nc[N] = {0};
    natsSubscription *qs[N] = {0};
    Tally t[N];
    memset(t, 0, sizeof t);
    for (int i = 0; i < N; i++) g_mutex_init(&t[i].mu);
    const int total = 300;
    for (int i = 0; i < N; i++) {
        CHECK_NATS(connect_to(nodes[i], &nc[i], false));
        CHECK_NATS(natsConnection_QueueSubscribe(&qs[i], nc[i], "c.q", "workers", on_tally, &t[i]));
        CHECK_NATS(natsConnection_Flush(nc[i]));
    }
    for (int i = 0; i < N; i++) IOP_CHECK(wait_interest(nodes[i], "c.q", N - 1), "queue interest on n%d", i + 1);
    for (int k = 0; k < total; k++) {
        char buf[16];
        g_snprintf(buf, sizeof buf, "%d", k);
        CHECK_NATS(natsConnection_PublishString(nc[k % N], "c.q", buf));
    }
    for (int i = 0; i < N; i++) CHECK_NATS(natsConnection_Flush(nc[i]));
    gint64 deadline = server_ctl_now_ms() + WAIT_MS;
    while (tally_count(&t[0]) + tally_count(&t[1]) + tally_count(&t[2]) < total && server_ctl_now_ms() < deadline)
        server_ctl_sleep_ms(20);
    server_ctl_sleep_ms(QUIET_MS);
    int sum = 0;
    for (int i = 0; i < N; i++) sum += tally_count(&t[i]);
    IOP_CHECK(sum == total, "delivered %d of %d (%d/%d/%d)", sum, total, t[0].count, t[1].count, t[2].count);
    for (int k = 0; k < total; k++) {
        int times = t[0].seen[k] + t[1].seen[k] + t[2].seen[k];
        IOP_CHECK(times == 1, "message %d delivered %d times", k, times);
    }
    for (int i = 0; i < N; i++) IOP_CHECK(t[i].count > 40, "member on n%d got %d", i + 1, t[i].count);
done:
    for (int i = 0; i < N; i++) {
        natsSubscription_Destroy(qs[i]);
        natsConnection_Destroy(nc[i]);
        g_mutex_clear(&t[i].mu);
    }
}

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    char buf[256];
    g_snprintf(buf, sizeof buf, "pong:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), buf);
    natsMsg_Destroy(msg);
}

static void test_request_reply_and_503_across(void) {
    natsConnection *svc = NULL, *cl = NULL;
    natsSubscription *sub = NULL;
    natsMsg *r = NULL;
    CHECK_NATS(connect_to(nodes[0], &svc, false));
    CHECK_NATS(natsConnection_Subscribe(&sub, svc, "c.svc", on_echo, NULL));
    CHECK_NATS(natsConnection_Flush(svc));
    IOP_CHECK(wait_interest(nodes[2], "c.svc", 1), "service interest on n3");
    CHECK_NATS(connect_to(nodes[2], &cl, false));
    CHECK_NATS(natsConnection_RequestString(&r, cl, "c.svc", "ping", WAIT_MS));
    IOP_CHECK(strcmp(natsMsg_GetData(r), "pong:ping") == 0, "reply %s", natsMsg_GetData(r));
    natsMsg_Destroy(r);
    r = NULL;
    gint64 t0 = server_ctl_now_ms();
    natsStatus s = natsConnection_RequestString(&r, cl, "c.nobody", "x", WAIT_MS);
    IOP_CHECK(s == NATS_NO_RESPONDERS, "no responders anywhere: %s", natsStatus_GetText(s));
    IOP_CHECK(server_ctl_now_ms() - t0 < 2000, "503 at once");
done:
    natsMsg_Destroy(r);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(svc);
    natsConnection_Destroy(cl);
}

typedef struct {
    GMutex mu;
    int reconnects;
} Events;

static void on_reconnected(natsConnection *nc, void *closure) {
    Events *e = closure;
    g_mutex_lock(&e->mu);
    e->reconnects++;
    g_mutex_unlock(&e->mu);
}

/* Last: it kills node 1. */
static void test_failover_after_kill9(void) {
    natsConnection *nc = NULL, *watch = NULL;
    natsSubscription *own = NULL, *other = NULL;
    natsOptions *o = NULL;
    natsMsg *m = NULL;
    Events ev = {0};
    g_mutex_init(&ev.mu);
    CHECK_NATS(natsOptions_Create(&o));
    natsOptions_SetURL(o, server_ctl_url(nodes[0])); /* only n1: the others come from INFO */
    natsOptions_SetTimeout(o, WAIT_MS);
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, 100);
    natsOptions_SetReconnectedCB(o, on_reconnected, &ev);
    CHECK_NATS(natsConnection_Connect(&nc, o));
    CHECK_NATS(connect_to(nodes[1], &watch, false));
    CHECK_NATS(natsConnection_SubscribeSync(&other, watch, "c.fo"));
    CHECK_NATS(natsConnection_Flush(watch));
    CHECK_NATS(natsConnection_SubscribeSync(&own, nc, "c.fo"));
    CHECK_NATS(natsConnection_Flush(nc));
    IOP_CHECK(wait_interest(nodes[0], "c.fo", 1), "n1 knows n2's interest");
    server_ctl_kill(nodes[0]);
    gint64 deadline = server_ctl_now_ms() + 10000;
    for (;;) {
        g_mutex_lock(&ev.mu);
        int r = ev.reconnects;
        g_mutex_unlock(&ev.mu);
        if (r > 0) break;
        IOP_CHECK(server_ctl_now_ms() < deadline, "no reconnect within 10 s");
        server_ctl_sleep_ms(20);
    }
    /* its subscription was re-sent; once the other survivor knows, publish */
    char url[256] = "";
    CHECK_NATS(natsConnection_GetConnectedUrl(nc, url, sizeof url));
    ServerCtl *now = strstr(url, server_ctl_url(nodes[1]) + 7) ? nodes[1] : nodes[2];
    ServerCtl *peer = now == nodes[1] ? nodes[2] : nodes[1];
    IOP_CHECK(wait_interest(peer, "c.fo", 1), "resubscribed interest reached the other survivor");
    CHECK_NATS(natsConnection_PublishString(nc, "c.fo", "after"));
    CHECK_NATS(natsConnection_Flush(nc));
    CHECK_NATS(natsSubscription_NextMsg(&m, own, WAIT_MS));
    IOP_CHECK(strcmp(natsMsg_GetData(m), "after") == 0, "own %s", natsMsg_GetData(m));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK_NATS(natsSubscription_NextMsg(&m, other, WAIT_MS));
    IOP_CHECK(strcmp(natsMsg_GetData(m), "after") == 0, "watcher %s", natsMsg_GetData(m));
done:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(own);
    natsSubscription_Destroy(other);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(watch);
    natsOptions_Destroy(o);
    g_mutex_clear(&ev.mu);
}

int main(int argc, char **argv) {
    server_ctl_test_init(&argc, &argv);
    server_ctl_watchdog(120);
    nats_Open(-1);
    if (!server_ctl_start_cluster(nodes, N, NULL, "tc")) {
        printf("Bail out! %s\n", server_ctl_last_error());
        return 1;
    }
    g_test_add_func("/cluster/pub-sub-across", test_pub_sub_across);
    g_test_add_func("/cluster/queue-group-exactly-once", test_queue_group_exactly_once);
    g_test_add_func("/cluster/request-reply-and-503-across", test_request_reply_and_503_across);
    g_test_add_func("/cluster/failover-after-kill9", test_failover_after_kill9);
    int rc = g_test_run();
    for (int i = 0; i < N; i++) server_ctl_free(nodes[i]);
    nats_Close();
    return rc;
}
