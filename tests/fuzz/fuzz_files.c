/* fuzz_files.c — libFuzzer harness for what the broker reads from files: the configuration
 * file, and the JSON it keeps beside its data (a stream's meta.json, a durable consumer's
 * snapshot <stem>.json and its state log <stem>.state). A student edits these by hand, a
 * crash or a full disk cuts them short, a bit flips: reading them must never crash the
 * broker, and whatever cannot be read is reported and contained (the stream or consumer is
 * not loaded, the rest is served).
 *
 * Per input, byte 0 picks the file (mode % 5) and the rest is its content:
 *   0  configuration text: conf_parse() (the nats-server config format, recursive parser)
 *   1  js/streams/S/meta.json, whole
 *   2  the durable consumer d's snapshot (js/streams/S/consumers/<stem>.json), whole
 *   3  the durable consumer d's state log (<stem>.state, checksummed records of JSON), whole
 *   4  the JSON of one more record at the end of that state log, framed as the store frames
 *      it (magic, length, CRC-32C), so the text reaches the JSON reader past the checksum
 * For modes 1-4: a server with JetStream on the unit tests' world (in-memory disk, virtual
 * time) creates stream S (file storage, 3 messages) and durable pull consumer d with one
 * message acked, and stops; the file is replaced by the input; a new server restores from
 * the disk, every invariant is checked (server, JetStream, streams, stores, consumer sets),
 * a client must still get its PONG and an answer to STREAM.INFO and CONSUMER.INFO (an
 * error is an answer), and everything is freed (LeakSanitizer). See tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "conf.h"
#include "crc32c.h"
#include "consumer_api.h"
#include "jetstream.h"
#include "server.h"
#include "stream_api.h"
#include "test_env.h"

#define MS (1000 * 1000LL)
#define CONNECT \
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"

typedef struct {
    TestEnv *te;
    Server *srv;
    JetStream *js;
    EnvConn c;
} World;

static void pub(World *w, const char *subject, const char *reply, const void *body, size_t len) {
    char line[256];
    int n = snprintf(line, sizeof line, "PUB %s %s %zu\r\n", subject, reply, len);
    test_env_client_send_len(w->te, w->c, line, (size_t)n);
    test_env_client_send_len(w->te, w->c, body, len);
    test_env_client_send_len(w->te, w->c, "\r\n", 2);
}

static void pub_str(World *w, const char *subject, const char *reply, const char *body) {
    pub(w, subject, reply, body, strlen(body));
}

static void start(World *w) {
    ServerConfig cfg;
    server_config_init(&cfg);
    JetStreamConfig jcfg;
    jetstream_config_init(&jcfg);
    jcfg.store_dir = "js";
    GError *err = NULL;
    w->srv = server_new(&w->te->env, &cfg, &err);
    if (w->srv == NULL) abort();
    /* a restore that cannot read a file reports it and serves the rest: never NULL here */
    w->js = jetstream_new(w->srv, &jcfg, &err);
    if (w->js == NULL) {
        fprintf(stderr, "jetstream_new failed: %s\n", err != NULL ? err->message : "?");
        abort();
    }
    stream_api_register(w->js);
    consumer_api_register(w->js);
    w->c = test_env_connect(w->te);
    test_env_client_send(w->te, w->c, CONNECT "SUB _INBOX.> 1\r\n");
    test_env_advance(w->te, 1 * MS);
    server_check_invariants(w->srv);
}

static void stop(World *w) {
    server_check_invariants(w->srv);
    jetstream_free(w->js);
    server_free(w->srv);
    w->js = NULL;
    w->srv = NULL;
}

/* The one file in dir whose name ends with suffix (d is the only consumer). */
static char *find_file(Env *env, const char *dir, const char *suffix) {
    char **names = env_dir_list(env, dir, NULL);
    char *found = NULL;
    for (char **n = names; n != NULL && *n != NULL && found == NULL; n++)
        if (g_str_has_suffix(*n, suffix)) found = g_build_filename(dir, *n, NULL);
    g_strfreev(names);
    if (found == NULL) {
        fprintf(stderr, "no *%s in %s\n", suffix, dir);
        abort();
    }
    return found;
}

static void fuzz_conf(const uint8_t *data, size_t size) {
    char *text = g_strndup((const char *)data, size); /* the text ends at a NUL, as read by main.c */
    ConfSettings s;
    conf_settings_init(&s);
    GPtrArray *warnings = NULL;
    GError *err = NULL;
    conf_parse(&s, text, "fuzz.conf", &warnings, &err);
    g_clear_error(&err);
    if (warnings != NULL) g_ptr_array_unref(warnings);
    conf_settings_clear(&s);
    g_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    g_setenv("G_MESSAGES_DEBUG", "", TRUE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0] % 5;
    data++;
    size--;
    if (mode == 0) {
        fuzz_conf(data, size);
        return 0;
    }

    World w = {.te = test_env_new(7)};
    start(&w);
    pub_str(&w, "$JS.API.STREAM.CREATE.S", "_INBOX.c1",
            "{\"name\":\"S\",\"subjects\":[\"s.>\"],\"storage\":\"file\",\"max_msgs\":100}");
    test_env_advance(w.te, 1 * MS);
    for (int i = 0; i < 3; i++) pub_str(&w, "s.x", "_INBOX.p", "hello");
    pub_str(&w, "$JS.API.CONSUMER.DURABLE.CREATE.S.d", "_INBOX.c2",
            "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"d\",\"ack_policy\":\"explicit\"}}");
    test_env_advance(w.te, 1 * MS);
    pub_str(&w, "$JS.API.CONSUMER.MSG.NEXT.S.d", "_INBOX.n1", "{\"batch\":1,\"no_wait\":true}");
    test_env_advance(w.te, 1 * MS);
    pub_str(&w, "$JS.ACK.S.d.1.1.1.1.0", "", "+ACK"); /* so the state log has a record */
    test_env_advance(w.te, 1 * MS);
    g_free(test_env_client_take(w.te, w.c));
    stop(&w);

    Env *env = &w.te->env;
    char *path = mode == 1   ? g_strdup("js/streams/S/meta.json")
                 : mode == 2 ? find_file(env, "js/streams/S/consumers", ".json")
                 /* modes 3 and 4 */
                             : find_file(env, "js/streams/S/consumers", ".state");
    GByteArray *content = g_byte_array_new();
    if (mode == 4) { /* the log as it is, plus a record (consumer_state.c's layout) */
        GBytes *old = NULL;
        if (!env_file_read_all(env, path, &old, NULL)) abort();
        gsize n;
        const uint8_t *p = g_bytes_get_data(old, &n);
        g_byte_array_append(content, p, (guint)n);
        g_bytes_unref(old);
        uint8_t hdr[12];
        put32(hdr, 0x53434A4Du);
        put32(hdr + 4, (uint32_t)size);
        put32(hdr + 8, crc32c(data, size));
        g_byte_array_append(content, hdr, sizeof hdr);
    }
    g_byte_array_append(content, data, (guint)size);
    GError *err = NULL;
    if (!env_file_write_atomic(env, path, content->data, content->len, &err)) {
        fprintf(stderr, "cannot replace %s: %s\n", path, err->message);
        abort();
    }
    g_byte_array_unref(content);
    g_free(path);

    start(&w);
    pub_str(&w, "$JS.API.STREAM.INFO.S", "_INBOX.i1", "");
    pub_str(&w, "$JS.API.CONSUMER.INFO.S.d", "_INBOX.i2", "");
    pub_str(&w, "s.y", "_INBOX.p2", "after");
    pub_str(&w, "$JS.API.CONSUMER.MSG.NEXT.S.d", "_INBOX.n2", "{\"batch\":5,\"no_wait\":true}");
    test_env_client_send(w.te, w.c, "PING\r\n");
    test_env_advance(w.te, 10 * MS);
    server_check_invariants(w.srv);
    char *out = test_env_client_take(w.te, w.c);
    if (strstr(out, "PONG\r\n") == NULL || strstr(out, "_INBOX.i1") == NULL || strstr(out, "_INBOX.i2") == NULL) {
        fprintf(stderr, "the restored server stopped answering: %s\n", out);
        abort();
    }
    g_free(out);
    test_env_advance(w.te, 5000 * MS);
    stop(&w);
    g_free(test_env_take_log(w.te));
    test_env_free(w.te);
    return 0;
}
