/* interop_consumers.c — JetStream consumers through libnats (nats.c 3.4.1): js_Subscribe (push,
 * durable, manual acks), js_PullSubscribe + natsSubscription_Fetch, natsMsg_Ack / AckSync / Nak /
 * InProgress / Term, the delivery count in the message metadata, and the consumer info the
 * server reports afterwards; a JetStream domain through jsOptions.Domain. Every wait is bounded; the suite passes against nats-server 2.9.10
 * (MINIJET_TEST_SERVER=nats-server) and minijet. Checks keep going on failure (IOP_CHECK). */
#include <nats/nats.h>
#include <string.h>

#include "server_ctl.h"

#define WAIT_MS 5000

#define CHECK_NATS(expr)                                                                             \
    do {                                                                                             \
        natsStatus s_ = (expr);                                                                      \
        IOP_CHECK(s_ == NATS_OK, "%s -> %s (%s)", #expr, natsStatus_GetText(s_), nats_GetLastError(NULL)); \
    } while (0)

typedef struct {
    ServerCtl *srv;
    natsConnection *nc;
    jsCtx *js;
} Fx;

/* A server (with tests/interop/conf/<conf>.conf unless conf is NULL), a connection and a
 * JetStream context (through the API prefix of domain unless it is NULL), and a stream. */
static gboolean fx_open_in(Fx *f, const char *conf, const char *domain, const char *stream, const char *subject) {
    memset(f, 0, sizeof *f);
    f->srv = conf != NULL ? server_ctl_start_conf(conf) : server_ctl_start();
    IOP_CHECK(f->srv != NULL, "server did not start: %s", server_ctl_last_error());
    if (f->srv == NULL) return FALSE;
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, server_ctl_url(f->srv));
    natsOptions_SetTimeout(o, WAIT_MS);
    natsOptions_SetAllowReconnect(o, false);
    CHECK_NATS(natsConnection_Connect(&f->nc, o));
    natsOptions_Destroy(o);
    if (f->nc == NULL) return FALSE;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Domain = domain;
    CHECK_NATS(natsConnection_JetStream(&f->js, f->nc, &jo));
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    const char *subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    CHECK_NATS(js_AddStream(&si, f->js, &cfg, NULL, &jerr));
    jsStreamInfo_Destroy(si);
    return f->js != NULL;
done:
    return FALSE;
}

static gboolean fx_open(Fx *f, const char *stream, const char *subject) {
    return fx_open_in(f, NULL, NULL, stream, subject);
}

static void fx_close(Fx *f) {
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->srv) server_ctl_expect_alive(f->srv);
    server_ctl_free(f->srv);
}

static void publish_n(Fx *f, const char *subject, int n) {
    for (int i = 1; i <= n; i++) {
        char data[16];
        g_snprintf(data, sizeof data, "m%d", i);
        jsPubAck *pa = NULL;
        CHECK_NATS(js_Publish(&pa, f->js, subject, data, (int)strlen(data), NULL, NULL));
        jsPubAck_Destroy(pa);
    }
done:;
}

static jsConsumerInfo *info(Fx *f, const char *stream, const char *name) {
    jsConsumerInfo *ci = NULL;
    CHECK_NATS(js_GetConsumerInfo(&ci, f->js, stream, name, NULL, NULL));
done:
    return ci;
}

static uint64_t delivered_count(natsMsg *m) {
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) != NATS_OK) return 0;
    uint64_t n = meta->NumDelivered;
    jsMsgMetaData_Destroy(meta);
    return n;
}

/* js_Subscribe: a durable push consumer with manual acks; Ack, AckSync, Nak redelivers. */
static void test_push(void) {
    Fx f;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    jsConsumerInfo *ci = NULL;
    int seen_m2_again = 0, seen_m3 = 0;
    if (!fx_open(&f, "CPUSH", "cpush.>")) goto done;
    publish_n(&f, "cpush.a", 3);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.Durable = "pd";
    so.Config.AckPolicy = js_AckExplicit;
    so.ManualAck = true;
    CHECK_NATS(js_SubscribeSync(&sub, f.js, "cpush.>", NULL, &so, NULL));
    CHECK_NATS(natsSubscription_NextMsg(&m, sub, WAIT_MS));
    IOP_CHECK(strcmp(natsMsg_GetData(m), "m1") == 0, "first is %s", natsMsg_GetData(m));
    CHECK_NATS(natsMsg_Ack(m, NULL));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK_NATS(natsSubscription_NextMsg(&m, sub, WAIT_MS));
    CHECK_NATS(natsMsg_Nak(m, NULL)); /* redelivered at once */
    natsMsg_Destroy(m);
    for (int i = 0; i < 2; i++) {
        m = NULL;
        CHECK_NATS(natsSubscription_NextMsg(&m, sub, WAIT_MS));
        if (strcmp(natsMsg_GetData(m), "m2") == 0) {
            seen_m2_again++;
            IOP_CHECK(delivered_count(m) == 2, "m2 delivered %d times", (int)delivered_count(m));
        }
        if (strcmp(natsMsg_GetData(m), "m3") == 0) seen_m3++;
        CHECK_NATS(natsMsg_AckSync(m, NULL, NULL));
        natsMsg_Destroy(m);
        m = NULL;
    }
    IOP_CHECK(seen_m2_again == 1 && seen_m3 == 1, "after nak: m2 again %d, m3 %d", seen_m2_again, seen_m3);
    ci = info(&f, "CPUSH", "pd");
    IOP_CHECK(ci != NULL, "no consumer info");
    IOP_CHECK(ci->NumAckPending == 0, "num_ack_pending %d", (int)ci->NumAckPending);
    IOP_CHECK(ci->AckFloor.Stream == 3, "ack floor %d", (int)ci->AckFloor.Stream);
    IOP_CHECK(ci->NumRedelivered == 0, "num_redelivered %d", (int)ci->NumRedelivered);
done:
    natsMsg_Destroy(m);
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Destroy(sub);
    fx_close(&f);
}

/* js_PullSubscribe + Fetch: batches, InProgress, Term, Nak, and the redelivery count. */
static void test_pull(void) {
    Fx f;
    natsSubscription *sub = NULL;
    natsMsgList list = {0}, l2 = {0}, l3 = {0};
    jsConsumerInfo *ci = NULL;
    natsStatus s;
    if (!fx_open(&f, "CPULL", "cpull.>")) goto done;
    publish_n(&f, "cpull.a", 5);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = 2000LL * 1000000LL;
    CHECK_NATS(js_PullSubscribe(&sub, f.js, "cpull.>", "pl", NULL, &so, NULL));
    CHECK_NATS(natsSubscription_Fetch(&list, sub, 3, WAIT_MS, NULL));
    IOP_CHECK(list.Count == 3, "fetched %d", list.Count);
    for (int i = 0; i < list.Count; i++) {
        natsMsg *m = list.Msgs[i];
        if (i == 0) CHECK_NATS(natsMsg_Ack(m, NULL));
        if (i == 1) {
            CHECK_NATS(natsMsg_InProgress(m, NULL));
            CHECK_NATS(natsMsg_Term(m, NULL));
        }
        if (i == 2) CHECK_NATS(natsMsg_Nak(m, NULL));
    }
    natsMsgList_Destroy(&list);
    /* m3 (nak'ed), m4, m5: a Fetch may return early with what was there (nats-server processes
     * acks asynchronously), so fetch until three arrived, at most three times */
    int got = 0, m3_dc = 0;
    for (int attempt = 0; attempt < 3 && got < 3; attempt++) {
        CHECK_NATS(natsSubscription_Fetch(&l2, sub, 3 - got, WAIT_MS, NULL));
        for (int i = 0; i < l2.Count; i++) {
            if (strcmp(natsMsg_GetData(l2.Msgs[i]), "m3") == 0) m3_dc = (int)delivered_count(l2.Msgs[i]);
            CHECK_NATS(natsMsg_AckSync(l2.Msgs[i], NULL, NULL));
        }
        got += l2.Count;
        natsMsgList_Destroy(&l2);
    }
    IOP_CHECK(got == 3, "second round fetched %d", got);
    IOP_CHECK(m3_dc == 2, "m3 delivered %d times", m3_dc);
    /* nothing left: Fetch times out */
    s = natsSubscription_Fetch(&l3, sub, 1, 500, NULL);
    IOP_CHECK(s == NATS_TIMEOUT, "empty fetch -> %s", natsStatus_GetText(s));
    ci = info(&f, "CPULL", "pl");
    IOP_CHECK(ci != NULL, "no consumer info");
    IOP_CHECK(ci->NumAckPending == 0, "num_ack_pending %d", (int)ci->NumAckPending);
    IOP_CHECK(ci->NumPending == 0, "num_pending %d", (int)ci->NumPending);
    IOP_CHECK(ci->AckFloor.Stream == 5, "ack floor %d", (int)ci->AckFloor.Stream);
    IOP_CHECK(ci->Delivered.Consumer == 6, "delivered consumer seq %d", (int)ci->Delivered.Consumer);
done:
    natsMsgList_Destroy(&list);
    natsMsgList_Destroy(&l2);
    natsMsgList_Destroy(&l3);
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Destroy(sub);
    fx_close(&f);
}

/* A JetStream domain (jetstream { domain: "prod" }) through jsOptions.Domain: the API on
 * $JS.prod.API, the domain in the PubAck and the account info, a pull consumer acked. */
static void test_domain(void) {
    Fx f;
    natsSubscription *sub = NULL;
    natsMsgList list = {0};
    jsPubAck *pa = NULL;
    jsAccountInfo *ai = NULL;
    jsConsumerInfo *ci = NULL;
    if (!fx_open_in(&f, "js-domain", "prod", "CDOM", "cdom.>")) goto done;
    CHECK_NATS(js_Publish(&pa, f.js, "cdom.a", "m1", 2, NULL, NULL));
    if (pa == NULL) goto done;
    IOP_CHECK(pa->Domain != NULL && strcmp(pa->Domain, "prod") == 0, "PubAck domain %s", pa->Domain);
    IOP_CHECK(strcmp(pa->Stream, "CDOM") == 0 && pa->Sequence == 1, "PubAck %s %d", pa->Stream, (int)pa->Sequence);
    CHECK_NATS(js_GetAccountInfo(&ai, f.js, NULL, NULL));
    IOP_CHECK(ai != NULL && ai->Domain != NULL && strcmp(ai->Domain, "prod") == 0, "account domain");
    IOP_CHECK(ai != NULL && ai->Streams == 1, "streams %d", ai ? (int)ai->Streams : -1);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    CHECK_NATS(js_PullSubscribe(&sub, f.js, "cdom.>", "dd", NULL, &so, NULL));
    CHECK_NATS(natsSubscription_Fetch(&list, sub, 1, WAIT_MS, NULL));
    IOP_CHECK(list.Count == 1, "fetched %d", list.Count);
    if (list.Count == 1) CHECK_NATS(natsMsg_AckSync(list.Msgs[0], NULL, NULL));
    ci = info(&f, "CDOM", "dd");
    IOP_CHECK(ci != NULL && ci->AckFloor.Stream == 1, "ack floor %d", ci ? (int)ci->AckFloor.Stream : -1);
done:
    natsMsgList_Destroy(&list);
    jsPubAck_Destroy(pa);
    jsAccountInfo_Destroy(ai);
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Destroy(sub);
    fx_close(&f);
}

int main(int argc, char **argv) {
    server_ctl_test_init(&argc, &argv);
    server_ctl_watchdog(55);
    g_test_add_func("/interop/consumers/push", test_push);
    g_test_add_func("/interop/consumers/pull", test_pull);
    g_test_add_func("/interop/consumers/domain", test_domain);
    int rc = g_test_run();
    nats_CloseAndWait(2000);
    return rc;
}
