/* test_proto.c — the client protocol parser and encoders (src/proto.c).
 *
 * The central check: every input, valid or not, is fed whole, split at every byte offset,
 * split at every pair of offsets (short inputs) and byte by byte, and every way must produce
 * the same callback log and the same result. Each callback writes one line to the log, so a
 * comparison of two logs is a comparison of everything the server would have seen.
 *
 * Run the throughput measurement with: build/tests/test_proto -m perf -p /proto/perf
 */
#include <stdio.h>
#include <string.h>

#include "limits.h"
#include "proto.h"

static const ProtoLimits default_limits = {
    .max_payload_bytes = LIMIT_MAX_PAYLOAD_BYTES,
    .max_control_line_bytes = LIMIT_MAX_CONTROL_LINE_BYTES,
};

/* --- a recording client of the parser --- */

typedef struct Recorder {
    GString *log;
    int calls;
    int stop_at_call; /* 1-based call that returns false; 0 = never */
    /* the fed slices, for the zero-copy checks */
    const uint8_t *slice;
    size_t slice_len;
    int pubs_in_slice;  /* subject and payload both inside the current slice */
    int pubs_outside;   /* anything else */
} Recorder;

static void log_bytes(GString *s, const void *bytes, size_t n) {
    const uint8_t *b = bytes;
    for (size_t i = 0; i < n; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            g_string_append_c(s, (char)b[i]);
        else
            g_string_append_printf(s, "\\x%02x", b[i]);
    }
}

static void log_opt(GString *s, const char *prefix, const void *bytes, size_t n) {
    g_string_append(s, prefix);
    if (bytes == NULL)
        g_string_append_c(s, '-');
    else
        log_bytes(s, bytes, n);
}

static bool rec_next(Recorder *r) {
    r->calls++;
    return r->stop_at_call == 0 || r->calls != r->stop_at_call;
}

static bool inside(const Recorder *r, const void *ptr, size_t n) {
    const uint8_t *q = ptr;
    return r->slice != NULL && q >= r->slice && q + n <= r->slice + r->slice_len;
}

static bool rec_connect(void *ctx, const char *json, size_t len) {
    Recorder *r = ctx;
    log_opt(r->log, "CONNECT ", json, len);
    g_string_append_c(r->log, '\n');
    return rec_next(r);
}

static bool rec_pub(void *ctx, const ProtoPub *pub) {
    Recorder *r = ctx;
    g_assert_nonnull(pub->subject);
    g_assert_nonnull(pub->payload);
    g_assert_true((pub->hdr == NULL) == (pub->hdr_len == 0));
    if (pub->hdr != NULL)
        g_assert_true(pub->payload == pub->hdr + pub->hdr_len); /* one contiguous body */
    if (!pub->is_hpub)
        g_assert_cmpuint(pub->hdr_len, ==, 0);
    log_opt(r->log, "PUB s=", pub->subject, pub->subject_len);
    log_opt(r->log, " r=", pub->reply, pub->reply_len);
    log_opt(r->log, " h=", pub->hdr, pub->hdr_len);
    log_opt(r->log, " p=", pub->payload, pub->payload_len);
    g_string_append(r->log, pub->is_hpub ? " hpub\n" : "\n");
    if (inside(r, pub->subject, pub->subject_len) && inside(r, pub->payload, pub->payload_len))
        r->pubs_in_slice++;
    else
        r->pubs_outside++;
    return rec_next(r);
}

static bool rec_sub(void *ctx, const ProtoSub *sub) {
    Recorder *r = ctx;
    log_opt(r->log, "SUB s=", sub->subject, sub->subject_len);
    log_opt(r->log, " q=", sub->queue, sub->queue_len);
    log_opt(r->log, " id=", sub->sid, sub->sid_len);
    g_string_append_c(r->log, '\n');
    return rec_next(r);
}

static bool rec_unsub(void *ctx, const ProtoUnsub *unsub) {
    Recorder *r = ctx;
    log_opt(r->log, "UNSUB id=", unsub->sid, unsub->sid_len);
    g_string_append_printf(r->log, " max=%" G_GINT64_FORMAT "\n", unsub->max);
    return rec_next(r);
}

static bool rec_ping(void *ctx) {
    Recorder *r = ctx;
    g_string_append(r->log, "PING\n");
    return rec_next(r);
}

static bool rec_pong(void *ctx) {
    Recorder *r = ctx;
    g_string_append(r->log, "PONG\n");
    return rec_next(r);
}

static const ProtoCallbacks rec_callbacks = {
    .on_connect = rec_connect,
    .on_pub = rec_pub,
    .on_sub = rec_sub,
    .on_unsub = rec_unsub,
    .on_ping = rec_ping,
    .on_pong = rec_pong,
};

/* Feeds input cut at the given offsets (ascending, each <= len) and returns the callback
 * log, with "ERR <name>" appended when a feed failed and "STOP" when a callback stopped.
 * Every slice is a fresh heap copy, so the parser cannot keep a pointer into an old one
 * without valgrind/ASan noticing, and a pointer into the slice proves zero-copy. */
static char *run_cuts(const ProtoLimits *limits, const void *input, size_t len,
                      const size_t *cuts, size_t ncuts, int stop_at_call, Recorder *out) {
    ProtoParser p;
    proto_parser_init(&p, limits);
    Recorder r = {.log = g_string_new(NULL), .stop_at_call = stop_at_call};
    size_t pos = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t cut = i < ncuts ? cuts[i] : len;
        g_assert_cmpuint(cut, >=, pos);
        uint8_t *slice = g_memdup2((const uint8_t *)input + pos, cut - pos + 1);
        r.slice = slice;
        r.slice_len = cut - pos;
        MjError err = proto_parser_feed(&p, slice, cut - pos, &rec_callbacks, &r);
        g_assert_cmpuint(p.buf_cap, <=, limits->max_control_line_bytes +
                                            limits->max_payload_bytes + 2);
        g_free(slice);
        pos = cut;
        if (err != MJ_OK) {
            g_assert_true(p.dead);
            g_string_append_printf(r.log, "ERR %s\n", mj_error_info(err)->name);
            break;
        }
        if (p.dead) {
            g_string_append(r.log, "STOP\n");
            break;
        }
    }
    proto_parser_clear(&p);
    if (out != NULL)
        *out = r;
    return g_string_free(r.log, FALSE);
}

static char *run_whole(const ProtoLimits *limits, const void *input, size_t len) {
    return run_cuts(limits, input, len, NULL, 0, 0, NULL);
}

/* Asserts every way of cutting input gives the log of feeding it whole; returns that log. */
static char *check_all_splits(const ProtoLimits *limits, const void *input, size_t len,
                              int stop_at_call) {
    char *whole = run_cuts(limits, input, len, NULL, 0, stop_at_call, NULL);
    for (size_t k = 0; k <= len; k++) {
        g_autofree char *got = run_cuts(limits, input, len, &k, 1, stop_at_call, NULL);
        if (strcmp(got, whole) != 0)
            g_error("split at %zu of %zu differs:\n--- whole\n%s--- split\n%s", k, len, whole, got);
    }
    if (len <= 256) {
        for (size_t i = 0; i <= len; i++)
            for (size_t j = i; j <= len; j++) {
                size_t cuts[2] = {i, j};
                g_autofree char *got = run_cuts(limits, input, len, cuts, 2, stop_at_call, NULL);
                if (strcmp(got, whole) != 0)
                    g_error("split at %zu,%zu of %zu differs:\n--- whole\n%s--- split\n%s", i, j,
                            len, whole, got);
            }
    }
    size_t *bytes = g_new(size_t, len);
    for (size_t i = 0; i < len; i++)
        bytes[i] = i;
    g_autofree char *by_byte = run_cuts(limits, input, len, bytes, len, stop_at_call, NULL);
    g_free(bytes);
    g_assert_cmpstr(by_byte, ==, whole);
    return whole;
}

/* --- the corpus of valid streams --- */

typedef struct Case {
    const char *input;
    size_t len; /* 0: strlen(input) */
    const char *want;
} Case;

#define BIN(lit) lit, sizeof(lit) - 1

static const Case valid_cases[] = {
    {"PUB foo 5\r\nhello\r\n", 0, "PUB s=foo r=- h=- p=hello\n"},
    {"PUB foo bar 5\r\nhello\r\n", 0, "PUB s=foo r=bar h=- p=hello\n"},
    {"PUB foo 0\r\n\r\n", 0, "PUB s=foo r=- h=- p=\n"},
    {"pub foo.* 3\r\na>b\r\n", 0, "PUB s=foo.* r=- h=- p=a>b\n"},
    {"PUB a 8\r\nx\r\nPUB\r\n\r\n", 0, "PUB s=a r=- h=- p=x\\x0d\\x0aPUB\\x0d\\x0a\n"},
    {BIN("PUB a 3\r\n\0\n\0\r\n"), "PUB s=a r=- h=- p=\\x00\\x0a\\x00\n"},
    {"HPUB foo _INBOX.1 0 5\r\nhello\r\n", 0, "PUB s=foo r=_INBOX.1 h=- p=hello hpub\n"},
    {"HPUB foo 0 0\r\n\r\n", 0, "PUB s=foo r=- h=- p= hpub\n"},
    {"HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n", 0,
     "PUB s=foo r=- h=NATS/1.0\\x0d\\x0a\\x0d\\x0a p=hello hpub\n"},
    {"hpub foo r 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", 0,
     "PUB s=foo r=r h=NATS/1.0 503\\x0d\\x0a\\x0d\\x0a p= hpub\n"},
    {"SUB foo 1\r\n", 0, "SUB s=foo q=- id=1\n"},
    {"SUB foo workers 2\r\n", 0, "SUB s=foo q=workers id=2\n"},
    {"SUB foo  1\r\n", 0, "SUB s=foo q=- id=1\n"}, /* nats.c: two spaces, empty queue */
    {"sub\tfoo.>\t\tq \t 3 \t\r\n", 0, "SUB s=foo.> q=q id=3\n"},
    {"UNSUB 3 \r\n", 0, "UNSUB id=3 max=-1\n"}, /* nats.c: trailing space */
    {"UNSUB 3 3\r\n", 0, "UNSUB id=3 max=3\n"},
    {"unsub 4 0\r\n", 0, "UNSUB id=4 max=0\n"},
    {"UNSUB 5 many\r\n", 0, "UNSUB id=5 max=-1\n"}, /* nats-server: unparsable max = none */
    {"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n", 0,
     "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\n"},
    {"connect   {\"a\": \"b c\"}  \r\n", 0, "CONNECT {\"a\": \"b c\"}\n"},
    {"CONNECT\r\n", 0, "CONNECT \n"}, /* the server rejects the empty JSON */
    {"PING\r\nPONG\r\nping\r\npong\r\nPiNg\r\n", 0, "PING\nPONG\nPING\nPONG\nPING\n"},
    {"PING \r\nPONG\t\r\n", 0, "PING\nPONG\n"},
    {"PING\nPUB a 2\nhi\r\nSUB a 1\nUNSUB 1\n", 0,
     "PING\nPUB s=a r=- h=- p=hi\nSUB s=a q=- id=1\nUNSUB id=1 max=-1\n"},
    {"INFO {\"x\":1}\r\n+OK\r\n-ERR 'whatever'\r\n+ok\r\ninfo\r\nPING\r\n", 0, "PING\n"},
    /* what nats.c sends on connect and for a subscribe/publish/unsubscribe */
    {"CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"cclient\","
     "\"lang\":\"C\",\"version\":\"3.4.1\",\"protocol\":1,\"echo\":true,\"headers\":true,"
     "\"no_responders\":true}\r\nPING\r\nSUB foo  1\r\nPUB foo 5\r\nhello\r\nUNSUB 1 \r\n",
     0,
     "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"cclient\","
     "\"lang\":\"C\",\"version\":\"3.4.1\",\"protocol\":1,\"echo\":true,\"headers\":true,"
     "\"no_responders\":true}\nPING\nSUB s=foo q=- id=1\nPUB s=foo r=- h=- p=hello\n"
     "UNSUB id=1 max=-1\n"},
    /* what nats.js sends for js.publish() without headers and a max:3 subscription */
    {"SUB _INBOX.abc.* 1\r\nHPUB orders _INBOX.abc.x 0 4\r\n{\"a\"\r\nSUB x 3\r\nUNSUB 3 3\r\n", 0,
     "SUB s=_INBOX.abc.* q=- id=1\nPUB s=orders r=_INBOX.abc.x h=- p={\"a\" hpub\n"
     "SUB s=x q=- id=3\nUNSUB id=3 max=3\n"},
};

static size_t case_len(const Case *c) {
    return c->len ? c->len : strlen(c->input);
}

static void test_valid_corpus(void) {
    GString *all_in = g_string_new(NULL), *all_want = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(valid_cases); i++) {
        const Case *c = &valid_cases[i];
        g_autofree char *log = check_all_splits(&default_limits, c->input, case_len(c), 0);
        g_assert_cmpstr(log, ==, c->want);
        g_string_append_len(all_in, c->input, (gssize)case_len(c));
        g_string_append(all_want, c->want);
    }
    /* the whole corpus pipelined in one stream */
    g_autofree char *log = check_all_splits(&default_limits, all_in->str, all_in->len, 0);
    g_assert_cmpstr(log, ==, all_want->str);
    g_string_free(all_in, TRUE);
    g_string_free(all_want, TRUE);
}

/* --- errors --- */

static const Case error_cases[] = {
    {"FOO\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {" PING\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"PINGX\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"PUBLISH a 1\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"MSG foo 1 5\r\nhello\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"HMSG foo 1 0 5\r\nhello\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"PING\r\nBAD\r\nPING\r\n", 0, "PING\nERR PROTO_UNKNOWN_OP\n"},
    {"PUB foo\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"PUB\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"PUB foo bar baz 5\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"PUB foo x\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"PUB foo -1\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"PUB foo 5x\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"PUB foo 1234567890\r\n", 0, "ERR PROTO_BAD_ARGS\n"}, /* > 9 digits, as nats-server */
    {"HPUB foo 5\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"HPUB foo r a b c\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"HPUB foo x 5\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"HPUB foo 6 5\r\nhello\r\n", 0, "ERR PROTO_BAD_ARGS\n"}, /* header > total */
    {"PUB foo 1048577\r\n", 0, "ERR PROTO_MAX_PAYLOAD\n"},
    {"HPUB foo bar 1 1048577\r\n", 0, "ERR PROTO_MAX_PAYLOAD\n"},
    {"HPUB foo 2000000 1048577\r\n", 0, "ERR PROTO_BAD_ARGS\n"}, /* nats-server checks hdr first */
    {"PUB foo 5\r\nhelloXX", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"PUB foo 5\r\nhello\nPING\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"PUB foo 5\r\nhello\r\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"PUB foo 3\r\nhello\r\n", 0, "ERR PROTO_UNKNOWN_OP\n"},
    {"PUB a 1\r\nx\r\nPUB b 1\r\nxy\r\n", 0, "PUB s=a r=- h=- p=x\nERR PROTO_UNKNOWN_OP\n"},
    {"SUB foo\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"SUB a b c d\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"SUB\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"UNSUB\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"UNSUB  \r\n", 0, "ERR PROTO_BAD_ARGS\n"},
    {"UNSUB 1 2 3\r\n", 0, "ERR PROTO_BAD_ARGS\n"},
};

static void test_errors(void) {
    for (size_t i = 0; i < G_N_ELEMENTS(error_cases); i++) {
        const Case *c = &error_cases[i];
        g_autofree char *log = check_all_splits(&default_limits, c->input, case_len(c), 0);
        if (strcmp(log, c->want) != 0)
            g_error("case %zu %s: got\n%s", i, c->input, log);
    }
}

static void test_sid_too_long(void) {
    g_autofree char *sid = g_strnfill(LIMIT_MAX_SID_BYTES, '7');
    g_autofree char *ok = g_strdup_printf("SUB foo %s\r\n", sid);
    g_autofree char *bad = g_strdup_printf("SUB foo q %s7\r\n", sid);
    g_autofree char *want = g_strdup_printf("SUB s=foo q=- id=%s\n", sid);
    g_autofree char *got_ok = run_whole(&default_limits, ok, strlen(ok));
    g_autofree char *got_bad = run_whole(&default_limits, bad, strlen(bad));
    g_assert_cmpstr(got_ok, ==, want);
    g_assert_cmpstr(got_bad, ==, "ERR PROTO_BAD_ARGS\n");
}

/* A small max_payload, to check the boundary exactly. */
static void test_max_payload_boundary(void) {
    ProtoLimits small = {.max_payload_bytes = 10, .max_control_line_bytes = 64};
    const char *ok = "PUB a 10\r\n0123456789\r\nHPUB a 4 10\r\nNATS012345\r\n";
    g_autofree char *got_ok = check_all_splits(&small, ok, strlen(ok), 0);
    g_assert_cmpstr(got_ok, ==, "PUB s=a r=- h=- p=0123456789\nPUB s=a r=- h=NATS p=012345 hpub\n");
    const char *bad = "PUB a 11\r\n01234567890\r\n";
    g_autofree char *got_bad = check_all_splits(&small, bad, strlen(bad), 0);
    g_assert_cmpstr(got_bad, ==, "ERR PROTO_MAX_PAYLOAD\n");
}

/* Lines of exactly the maximum length pass, one byte more fails, CRLF or bare LF. */
static void test_max_control_line_boundary(void) {
    size_t max = LIMIT_MAX_CONTROL_LINE_BYTES;
    /* "SUB " + subject + " 1" = max */
    g_autofree char *subject = g_strnfill(max - 6, 's');
    g_autofree char *longer = g_strnfill(max - 5, 's');
    const char *ends[] = {"\r\n", "\n"};
    for (size_t e = 0; e < G_N_ELEMENTS(ends); e++) {
        g_autofree char *ok = g_strdup_printf("SUB %s 1%s", subject, ends[e]);
        g_assert_cmpuint(strlen(ok), ==, max + strlen(ends[e]));
        g_autofree char *want = g_strdup_printf("SUB s=%s q=- id=1\n", subject);
        g_autofree char *got = check_all_splits(&default_limits, ok, strlen(ok), 0);
        g_assert_cmpstr(got, ==, want);

        g_autofree char *bad = g_strdup_printf("SUB %s 1%s", longer, ends[e]);
        g_autofree char *got_bad = check_all_splits(&default_limits, bad, strlen(bad), 0);
        g_assert_cmpstr(got_bad, ==, "ERR PROTO_MAX_CONTROL_LINE\n");
    }
}

/* A client that never sends a newline: the parser fails once the line cannot fit and never
 * buffers more than one control line. */
static void test_huge_line_bounded(void) {
    size_t huge = 8 * 1024 * 1024;
    uint8_t *data = g_malloc(huge);
    memset(data, 'x', huge);

    /* one big read: fails at once, nothing is buffered at all */
    ProtoParser p;
    Recorder r = {.log = g_string_new(NULL)};
    proto_parser_init(&p, &default_limits);
    g_assert_cmpint(proto_parser_feed(&p, data, huge, &rec_callbacks, &r), ==,
                    MJ_ERR_PROTO_MAX_CONTROL_LINE);
    g_assert_cmpuint(p.buf_cap, ==, 0);
    proto_parser_clear(&p);

    /* byte by byte: the byte that makes the pending line unable to end within the limit
     * (max content + '\r' already pending, and it is not '\n') is the failing one */
    proto_parser_init(&p, &default_limits);
    size_t fed = 0;
    MjError err = MJ_OK;
    while (err == MJ_OK && fed < huge)
        err = proto_parser_feed(&p, data + fed++, 1, &rec_callbacks, &r);
    g_assert_cmpint(err, ==, MJ_ERR_PROTO_MAX_CONTROL_LINE);
    g_assert_cmpuint(fed, ==, LIMIT_MAX_CONTROL_LINE_BYTES + 2);
    g_assert_cmpuint(p.buf_cap, <=, LIMIT_MAX_CONTROL_LINE_BYTES + 2);
    proto_parser_clear(&p);

    /* a PUB whose line is fine but whose payload never ends is bounded by max_payload */
    proto_parser_init(&p, &default_limits);
    const char *line = "PUB big 1048576\r\n";
    g_assert_cmpint(proto_parser_feed(&p, (const uint8_t *)line, strlen(line), &rec_callbacks, &r),
                    ==, MJ_OK);
    for (size_t off = 0; off < LIMIT_MAX_PAYLOAD_BYTES; off += 4096)
        g_assert_cmpint(proto_parser_feed(&p, data, 4096, &rec_callbacks, &r), ==, MJ_OK);
    g_assert_cmpuint(p.buf_cap, <=,
                     LIMIT_MAX_CONTROL_LINE_BYTES + LIMIT_MAX_PAYLOAD_BYTES + 2);
    g_assert_cmpint(proto_parser_feed(&p, data, 2, &rec_callbacks, &r), ==,
                    MJ_ERR_PROTO_UNKNOWN_OP); /* "xx" where CRLF belongs */
    g_assert_cmpuint(r.calls, ==, 0);
    proto_parser_clear(&p);
    g_string_free(r.log, TRUE);
    g_free(data);
}

/* A max-size message split in every way that matters, and the buffer shrinks afterwards. */
static void test_large_payload_split(void) {
    size_t n = LIMIT_MAX_PAYLOAD_BYTES;
    GString *in = g_string_new(NULL);
    g_string_append_printf(in, "PUB big reply %zu\r\n", n);
    for (size_t i = 0; i < n; i++)
        g_string_append_c(in, (char)('a' + i % 26));
    g_string_append(in, "\r\nPING\r\n");

    size_t cuts_list[][3] = {{5, 6, 7}, {20, 21, 22}, {100, 4096, 65536}, {30, n, n + 21}};
    g_autofree char *whole = run_whole(&default_limits, in->str, in->len);
    g_assert_true(g_str_has_prefix(whole, "PUB s=big r=reply h=- p=abcdefghijklmnopqrstuvwxyzabc"));
    g_assert_true(g_str_has_suffix(whole, "PING\n"));
    for (size_t i = 0; i < G_N_ELEMENTS(cuts_list); i++) {
        g_autofree char *got = run_cuts(&default_limits, in->str, in->len, cuts_list[i], 3, 0, NULL);
        g_assert_cmpstr(got, ==, whole);
    }
    /* every 64 KiB read, as the real event loop does */
    GArray *cuts = g_array_new(FALSE, FALSE, sizeof(size_t));
    for (size_t c = LIMIT_READ_CHUNK_BYTES; c < in->len; c += LIMIT_READ_CHUNK_BYTES)
        g_array_append_val(cuts, c);
    g_autofree char *got =
        run_cuts(&default_limits, in->str, in->len, (size_t *)cuts->data, cuts->len, 0, NULL);
    g_assert_cmpstr(got, ==, whole);
    g_array_free(cuts, TRUE);

    /* after delivery the big gathering buffer is given back */
    ProtoParser p;
    Recorder r = {.log = g_string_new(NULL)};
    proto_parser_init(&p, &default_limits);
    g_assert_cmpint(proto_parser_feed(&p, (uint8_t *)in->str, 1000, &rec_callbacks, &r), ==, MJ_OK);
    g_assert_cmpuint(p.buf_cap, >, n);
    g_assert_cmpint(proto_parser_feed(&p, (uint8_t *)in->str + 1000, in->len - 1000,
                                      &rec_callbacks, &r), ==, MJ_OK);
    g_assert_cmpuint(r.calls, ==, 2);
    g_assert_cmpuint(p.buf_cap, <=, LIMIT_MAX_CONTROL_LINE_BYTES + 2);
    proto_parser_clear(&p);
    g_string_free(r.log, TRUE);
    g_string_free(in, TRUE);
}

/* --- zero-copy --- */

static void test_zero_copy(void) {
    const char *in = "SUB a 1\r\nPUB foo bar 5\r\nhello\r\nHPUB x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
    size_t len = strlen(in);
    Recorder r;
    g_autofree char *log = run_cuts(&default_limits, in, len, NULL, 0, 0, &r);
    g_assert_cmpint(r.pubs_in_slice, ==, 2);
    g_assert_cmpint(r.pubs_outside, ==, 0);

    /* cut inside the second PUB's payload: that one is gathered, the first is not */
    size_t cut = strlen("SUB a 1\r\nPUB foo bar 5\r\nhello\r\nHPUB x 12 14\r\nNATS");
    g_autofree char *log2 = run_cuts(&default_limits, in, len, &cut, 1, 0, &r);
    g_assert_cmpstr(log2, ==, log);
    g_assert_cmpint(r.pubs_in_slice, ==, 1);
    g_assert_cmpint(r.pubs_outside, ==, 1);
}

/* --- stopping --- */

static void test_callback_stops(void) {
    const char *in = "PING\r\nPUB a 1\r\nx\r\nPING\r\nPING\r\n";
    for (int stop = 1; stop <= 3; stop++) {
        g_autofree char *log = check_all_splits(&default_limits, in, strlen(in), stop);
        const char *want[] = {NULL, "PING\nSTOP\n", "PING\nPUB s=a r=- h=- p=x\nSTOP\n",
                              "PING\nPUB s=a r=- h=- p=x\nPING\nSTOP\n"};
        g_assert_cmpstr(log, ==, want[stop]);
    }
    /* the stop is reported as MJ_OK */
    ProtoParser p;
    Recorder r = {.log = g_string_new(NULL), .stop_at_call = 1};
    proto_parser_init(&p, &default_limits);
    g_assert_cmpint(proto_parser_feed(&p, (const uint8_t *)in, strlen(in), &rec_callbacks, &r), ==,
                    MJ_OK);
    g_assert_cmpint(r.calls, ==, 1);
    g_assert_true(p.dead);
    proto_parser_clear(&p);
    g_string_free(r.log, TRUE);
}

/* Feeding a dead parser is a programmer error and aborts. */
static void test_feed_after_error_aborts(void) {
    if (g_test_subprocess()) {
        ProtoParser p;
        Recorder r = {.log = g_string_new(NULL)};
        proto_parser_init(&p, &default_limits);
        proto_parser_feed(&p, (const uint8_t *)"BAD\r\n", 5, &rec_callbacks, &r);
        proto_parser_feed(&p, (const uint8_t *)"PING\r\n", 6, &rec_callbacks, &r);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
}

static void test_null_callbacks_ignore(void) {
    ProtoCallbacks none = {0};
    ProtoParser p;
    proto_parser_init(&p, &default_limits);
    const char *in = "CONNECT {}\r\nPING\r\nPUB a 1\r\nx\r\nSUB a 1\r\nUNSUB 1\r\nPONG\r\n";
    g_assert_cmpint(proto_parser_feed(&p, (const uint8_t *)in, strlen(in), &none, NULL), ==, MJ_OK);
    proto_parser_clear(&p);
}

/* --- encoders --- */

static char *msg_line(const char *subject, const char *sid, const char *reply, size_t hdr_len,
                      size_t payload_len) {
    size_t max = proto_msg_line_max(strlen(subject), strlen(sid), reply ? strlen(reply) : 0);
    char *out = g_malloc(max + 1);
    size_t n = proto_encode_msg_line(out, subject, strlen(subject), sid, strlen(sid), reply,
                                     reply ? strlen(reply) : 0, hdr_len, payload_len);
    g_assert_cmpuint(n, <=, max);
    out[n] = '\0';
    return out;
}

static void test_encode_msg_line(void) {
    struct {
        const char *subject, *sid, *reply;
        size_t hdr, payload;
        const char *want;
    } cases[] = {
        {"foo", "1", NULL, 0, 5, "MSG foo 1 5\r\n"},
        {"foo", "1", "bar", 0, 5, "MSG foo 1 bar 5\r\n"},
        {"foo", "1", "", 0, 5, "MSG foo 1 5\r\n"},
        {"a", "99", NULL, 0, 0, "MSG a 99 0\r\n"},
        {"foo", "1", "bar", 12, 5, "HMSG foo 1 bar 12 17\r\n"},
        {"_INBOX.x.y", "7", NULL, 16, 0, "HMSG _INBOX.x.y 7 16 16\r\n"},
        {"s", "1", NULL, 0, 1048576, "MSG s 1 1048576\r\n"},
        {"s", "1", NULL, 0, SIZE_MAX, "MSG s 1 18446744073709551615\r\n"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *got =
            msg_line(cases[i].subject, cases[i].sid, cases[i].reply, cases[i].hdr, cases[i].payload);
        g_assert_cmpstr(got, ==, cases[i].want);
    }
    /* the integer formatting against printf, over every small number and around every
     * power of ten */
    for (uint64_t v = 0; v < 20000; v++) {
        g_autofree char *got = msg_line("a", "1", NULL, 0, v);
        g_autofree char *want = g_strdup_printf("MSG a 1 %" G_GUINT64_FORMAT "\r\n", v);
        g_assert_cmpstr(got, ==, want);
    }
    for (uint64_t p10 = 10; p10 <= 1000000000000000000ULL; p10 *= 10) {
        for (uint64_t v = p10 - 2; v <= p10 + 2; v++) {
            g_autofree char *got = msg_line("a", "1", "r", 1, v - 1);
            g_autofree char *want =
                g_strdup_printf("HMSG a 1 r 1 %" G_GUINT64_FORMAT "\r\n", v);
            g_assert_cmpstr(got, ==, want);
        }
    }
}

static void test_encode_err(void) {
    GString *s = g_string_new("PONG\r\n");
    proto_encode_err(s, mj_error_info(MJ_ERR_PROTO_UNKNOWN_OP)->text);
    g_assert_cmpstr(s->str, ==, "PONG\r\n-ERR 'Unknown Protocol Operation'\r\n");
    g_string_truncate(s, 0);
    proto_encode_err(s, mj_error_info(MJ_ERR_PROTO_MAX_CONTROL_LINE)->text);
    g_assert_cmpstr(s->str, ==, "-ERR 'maximum control line exceeded'\r\n");
    g_string_free(s, TRUE);
    g_assert_cmpstr(PROTO_PING, ==, "PING\r\n");
    g_assert_cmpstr(PROTO_PONG, ==, "PONG\r\n");
    g_assert_cmpstr(PROTO_OK, ==, "+OK\r\n");
}

/* --- throughput (only with -m perf) --- */

static bool count_pub(void *ctx, const ProtoPub *pub) {
    (*(uint64_t *)ctx) += pub->payload_len;
    return true;
}

static void test_perf(void) {
    if (!g_test_perf()) {
        g_test_skip("run with -m perf");
        return;
    }
    /* 16-byte publishes, pipelined, fed in 64 KiB reads as the event loop does */
    const char *op = "PUB foo.bar 16\r\n0123456789abcdef\r\n";
    size_t op_len = strlen(op);
    size_t ops = 4 * 1024 * 1024;
    GString *in = g_string_sized_new(ops * op_len);
    for (size_t i = 0; i < ops; i++)
        g_string_append_len(in, op, (gssize)op_len);
    ProtoCallbacks cb = {.on_pub = count_pub};
    uint64_t bytes = 0;
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        ProtoParser p;
        proto_parser_init(&p, &default_limits);
        g_test_timer_start();
        for (size_t off = 0; off < in->len; off += LIMIT_READ_CHUNK_BYTES) {
            size_t n = MIN(LIMIT_READ_CHUNK_BYTES, in->len - off);
            g_assert_cmpint(proto_parser_feed(&p, (uint8_t *)in->str + off, n, &cb, &bytes), ==,
                            MJ_OK);
        }
        double s = g_test_timer_elapsed();
        best = MIN(best, s);
        proto_parser_clear(&p);
    }
    g_assert_cmpuint(bytes, ==, 5ULL * ops * 16);
    g_test_message("parse: %.1f ns/op, %.1f M msgs/s (16-byte PUB, 64 KiB reads)",
                   best * 1e9 / (double)ops, (double)ops / best / 1e6);
    g_string_free(in, TRUE);

    char line[128];
    size_t total = 0;
    g_test_timer_start();
    for (size_t i = 0; i < ops; i++)
        total += proto_encode_msg_line(line, "foo.bar", 7, "1", 1, NULL, 0, 0, 16 + (i & 7));
    double s = g_test_timer_elapsed();
    g_assert_cmpuint(total, >, 0);
    g_test_message("encode MSG line: %.1f ns/op", s * 1e9 / (double)ops);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/proto/parse/valid-corpus-every-split", test_valid_corpus);
    g_test_add_func("/proto/parse/errors-every-split", test_errors);
    g_test_add_func("/proto/parse/sid-too-long", test_sid_too_long);
    g_test_add_func("/proto/parse/max-payload-boundary", test_max_payload_boundary);
    g_test_add_func("/proto/parse/max-control-line-boundary", test_max_control_line_boundary);
    g_test_add_func("/proto/parse/huge-line-bounded", test_huge_line_bounded);
    g_test_add_func("/proto/parse/large-payload-split", test_large_payload_split);
    g_test_add_func("/proto/parse/zero-copy", test_zero_copy);
    g_test_add_func("/proto/parse/callback-stops", test_callback_stops);
    g_test_add_func("/proto/parse/feed-after-error-aborts", test_feed_after_error_aborts);
    g_test_add_func("/proto/parse/null-callbacks", test_null_callbacks_ignore);
    g_test_add_func("/proto/encode/msg-line", test_encode_msg_line);
    g_test_add_func("/proto/encode/err", test_encode_err);
    g_test_add_func("/proto/perf", test_perf);
    return g_test_run();
}
