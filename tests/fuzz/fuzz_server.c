/* fuzz_server.c — libFuzzer harness for the whole broker: a real Server with JetStream on
 * the unit tests' world (tests/test_env.h: in-memory disk, virtual time).
 *
 * Per input: a fresh world and server, stream S (subjects s.>, file storage on the in-memory
 * disk) holding 3 messages, and a durable pull consumer d with explicit acks. Two clients
 * are connected: A (subscribed to _INBOX.>) and B (subscribed to >). The first input byte
 * picks the mode:
 *   even  raw protocol: "CONNECT {headers:true}\r\n" + the rest of the input, as A's bytes
 *   odd   API request: the rest of the input is the JSON body of a request from A to one of
 *         the $JS.API subjects below (or an ack on $JS.ACK.S.d.1.1.1.1.0), chosen by byte 0
 * Then virtual time moves forward (past ack_wait, so redelivery runs), a follow-up request
 * exercises the state the input left behind, and every invariant reachable through the
 * public headers is checked: server, JetStream (streams, stores), consumer sets.
 * Everything is freed, so LeakSanitizer sees any leak the input caused.
 * See tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer_api.h"
#include "jetstream.h"
#include "limits.h"
#include "server.h"
#include "stream_api.h"
#include "test_env.h"

#define MS (1000 * 1000LL)
#define CONNECT \
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"

static const char *const api_subjects[] = {
    "$JS.API.STREAM.CREATE.S",
    "$JS.API.STREAM.UPDATE.S",
    "$JS.API.STREAM.PURGE.S",
    "$JS.API.STREAM.MSG.GET.S",
    "$JS.API.STREAM.MSG.DELETE.S",
    "$JS.API.DIRECT.GET.S",
    "$JS.API.CONSUMER.CREATE.S",
    "$JS.API.CONSUMER.CREATE.S.c",
    "$JS.API.CONSUMER.DURABLE.CREATE.S.d",
    "$JS.API.CONSUMER.MSG.NEXT.S.d",
    "$JS.ACK.S.d.1.1.1.1.0",
    "$JS.API.STREAM.INFO.S",
    "$JS.API.CONSUMER.INFO.S.d",
    "$JS.API.STREAM.DELETE.S",
    "$JS.API.CONSUMER.DELETE.S.d",
};
#define N_API (sizeof api_subjects / sizeof api_subjects[0])

/* The whole chain: the server, then (through its check hook) JetStream, every stream, store
 * and consumer. */
static void check(Server *srv) { server_check_invariants(srv); }

static void send_str(TestEnv *te, EnvConn c, const char *s) {
    test_env_client_send(te, c, s);
}

static void pub(TestEnv *te, EnvConn c, const char *subject, const char *reply, const void *body,
                size_t len) {
    char line[256];
    int n = snprintf(line, sizeof line, "PUB %s %s %zu\r\n", subject, reply, len);
    test_env_client_send_len(te, c, line, (size_t)n);
    test_env_client_send_len(te, c, body, len);
    test_env_client_send_len(te, c, "\r\n", 2);
}

static void drain(TestEnv *te, EnvConn a, EnvConn b) {
    if (!test_env_is_closed(te, a)) g_free(test_env_client_take(te, a));
    if (!test_env_is_closed(te, b)) g_free(test_env_client_take(te, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    /* glib's g_log of warnings is noise here; criticals and errors still abort */
    g_setenv("G_MESSAGES_DEBUG", "", TRUE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++;
    size--;

    TestEnv *te = test_env_new(7);
    ServerConfig cfg;
    server_config_init(&cfg);
    cfg.max_payload_bytes = LIMIT_MAX_PAYLOAD_BYTES; /* the default: a 600 KB seed reaches the API */
    JetStreamConfig jcfg;
    jetstream_config_init(&jcfg);
    jcfg.store_dir = "js";
    GError *err = NULL;
    Server *srv = server_new(&te->env, &cfg, &err);
    if (srv == NULL) abort();
    JetStream *js = jetstream_new(srv, &jcfg, &err);
    if (js == NULL) abort();
    stream_api_register(js);
    consumer_api_register(js);

    EnvConn a = test_env_connect(te);
    EnvConn b = test_env_connect(te);
    send_str(te, a, CONNECT "SUB _INBOX.> 1\r\n");
    send_str(te, b, CONNECT "SUB > 1\r\n");
    static const char stream_cfg[] =
        "{\"name\":\"S\",\"subjects\":[\"s.>\"],\"storage\":\"file\",\"max_msgs\":100}";
    pub(te, a, "$JS.API.STREAM.CREATE.S", "_INBOX.c1", stream_cfg, sizeof stream_cfg - 1);
    test_env_advance(te, 1 * MS);
    for (int i = 0; i < 3; i++) pub(te, a, "s.x", "_INBOX.p", "hello", 5);
    static const char cons_cfg[] =
        "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"d\",\"ack_policy\":\"explicit\","
        "\"ack_wait\":1000000000,\"max_deliver\":3}}";
    pub(te, a, "$JS.API.CONSUMER.DURABLE.CREATE.S.d", "_INBOX.c2", cons_cfg, sizeof cons_cfg - 1);
    test_env_advance(te, 1 * MS);
    /* a pending pull request, so acks and redeliveries have somewhere to go */
    pub(te, a, "$JS.API.CONSUMER.MSG.NEXT.S.d", "_INBOX.n1", "{\"batch\":2,\"expires\":5000000000}",
        strlen("{\"batch\":2,\"expires\":5000000000}"));
    test_env_advance(te, 1 * MS);
    check(srv);
    drain(te, a, b);

    if ((mode & 1) == 0) {
        test_env_client_send_len(te, a, CONNECT, strlen(CONNECT));
        if (size > 0) test_env_client_send_len(te, a, data, size);
    } else {
        const char *subj = api_subjects[(mode >> 1) % N_API];
        pub(te, a, subj, "_INBOX.fz", data, size);
    }
    check(srv);
    test_env_advance(te, 10 * MS);
    check(srv);
    test_env_advance(te, 1500 * MS); /* past ack_wait: redelivery */
    check(srv);
    /* follow-ups through the other client: the broker must still serve it */
    if (!test_env_is_closed(te, b)) {
        pub(te, b, "s.y", "_INBOX.p2", "after", 5);
        static const char next[] = "{\"batch\":5,\"no_wait\":true}";
        pub(te, b, "$JS.API.CONSUMER.MSG.NEXT.S.d", "_INBOX.n2", next, sizeof next - 1);
        test_env_advance(te, 10 * MS);
    }
    /* a third client, which sees only its own replies (B's output may hold the input's NULs):
     * the broker must still answer it */
    EnvConn c = test_env_connect(te);
    send_str(te, c, CONNECT "SUB _INBOX.C.> 1\r\n");
    pub(te, c, "$JS.API.STREAM.INFO.S", "_INBOX.C.i", "", 0);
    send_str(te, c, "PING\r\n");
    test_env_advance(te, 10 * MS);
    char *out = test_env_client_take(te, c);
    if (strstr(out, "PONG\r\n") == NULL) {
        fprintf(stderr, "client C got no PONG: %s\n", out);
        abort();
    }
    g_free(out);
    test_env_advance(te, 5000 * MS);
    check(srv);
    drain(te, a, b);

    jetstream_free(js);
    server_free(srv);
    test_env_free(te);
    return 0;
}
