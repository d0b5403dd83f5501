/* interop_proto.c — the client protocol on the wire, through raw TCP sockets (no client library).
 *
 * Each test starts a fresh server (minijet or nats-server, see server_ctl.h), writes protocol bytes
 * and reads what comes back, checking the behaviours of spec §1 that nats-server 2.9.10 shows and
 * minijet must share (docs: /work/shared/spec/nats-wire-and-jetstream-api.md §1). Where the spec
 * allows a difference (one or two spaces in MSG lines, the order of deliveries to several
 * subscriptions, whether a fatal close is preceded by an -ERR the spec does not name) the checks
 * allow it; nothing else.
 *
 *   MINIJET_TEST_SERVER=nats-server build/tests/interop_proto --tap
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_ctl.h"

#define WAIT_MS 3000  /* the longest one expected reply may take */
#define QUIET_MS 150  /* how long we listen to be sure nothing more comes */

/* The CONNECT of a modern client (what nats.js and nats.c send, minus names). */
#define CONNECT_HDRS "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n"

/* ---- a raw connection and its reader ---- */

typedef struct {
    int fd;
    GString *in;       /* bytes received and not consumed yet */
    gboolean closed;   /* the server closed (EOF or reset) */
    gboolean auto_pong;/* answer and hide the server's keep-alive PINGs */
} Raw;

static Raw *raw_connect(ServerCtl *srv) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)server_ctl_port(srv));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Raw *r = g_new0(Raw, 1);
    r->fd = fd;
    r->in = g_string_new("");
    r->auto_pong = TRUE;
    return r;
}

static void raw_free(Raw *r) {
    if (r == NULL) return;
    if (r->fd >= 0) close(r->fd);
    g_string_free(r->in, TRUE);
    g_free(r);
}

static gboolean raw_send_len(Raw *r, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return FALSE;
        p += n;
        len -= (size_t)n;
    }
    return TRUE;
}
static gboolean raw_send(Raw *r, const char *s) { return raw_send_len(r, s, strlen(s)); }

/* Read more bytes until `deadline_ms`. FALSE on timeout or close (r->closed tells which). */
static gboolean raw_fill(Raw *r, gint64 deadline_ms) {
    if (r->closed) return FALSE;
    for (;;) {
        gint64 left = deadline_ms - server_ctl_now_ms();
        if (left < 0) left = 0;
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return FALSE;
        char buf[65536];
        ssize_t n = recv(r->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            r->closed = TRUE;
            return FALSE;
        }
        g_string_append_len(r->in, buf, n);
        return TRUE;
    }
}

/* Collapse the one-or-two-space separators of a server control line into one space (2.9.10
 * writes `MSG <subj> <sid>  <size>` for some messages; spec §1.1). Longer runs are left alone. */
static char *normalize_line(const char *s, size_t len) {
    GString *g = g_string_new("");
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' && i + 1 < len && s[i + 1] == ' ' && !(i + 2 < len && s[i + 2] == ' ')) {
            g_string_append_c(g, ' ');
            i++;
            continue;
        }
        g_string_append_c(g, s[i]);
    }
    return g_string_free(g, FALSE);
}

/* One operation from the server, as text: the (normalized) control line without CRLF, and for
 * MSG/HMSG "\r\n" + the payload bytes (their trailing CRLF checked and removed). NULL on timeout or
 * close; on a framing error `*err` says what was wrong. */
static char *raw_next_op(Raw *r, int timeout_ms, char **err) {
    gint64 deadline = server_ctl_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(r->in->str, '\n', r->in->len);
        if (nl == NULL) {
            if (!raw_fill(r, deadline)) return NULL;
            continue;
        }
        size_t linelen = (size_t)(nl - r->in->str);
        if (linelen == 0 || r->in->str[linelen - 1] != '\r') {
            if (err) *err = g_strdup_printf("server line not ended by CRLF: %.*s", (int)linelen, r->in->str);
            return NULL;
        }
        char *line = normalize_line(r->in->str, linelen - 1);
        size_t consumed = linelen + 1;
        gboolean is_msg = g_str_has_prefix(line, "MSG ");
        gboolean is_hmsg = g_str_has_prefix(line, "HMSG ");
        if (!is_msg && !is_hmsg) {
            g_string_erase(r->in, 0, (gssize)consumed);
            if (r->auto_pong && strcmp(line, "PING") == 0) {
                g_free(line);
                raw_send(r, "PONG\r\n");
                continue;
            }
            return line;
        }
        char **tok = g_strsplit(line, " ", -1);
        guint nt = g_strv_length(tok);
        long size = nt >= 2 ? strtol(tok[nt - 1], NULL, 10) : -1;
        g_strfreev(tok);
        if (size < 0) {
            if (err) *err = g_strdup_printf("bad size in %s", line);
            g_free(line);
            return NULL;
        }
        while (r->in->len < consumed + (size_t)size + 2) {
            if (!raw_fill(r, deadline)) {
                if (err)
                    *err = g_strdup_printf("payload of `%s` incomplete (%zu of %ld bytes)%s", line,
                                           r->in->len - consumed, size, r->closed ? ", connection closed" : "");
                g_free(line);
                return NULL;
            }
        }
        const char *pl = r->in->str + consumed;
        if (pl[size] != '\r' || pl[size + 1] != '\n') {
            if (err) *err = g_strdup_printf("payload of `%s` not followed by CRLF", line);
            g_free(line);
            return NULL;
        }
        GString *op = g_string_new(line);
        g_string_append(op, "\r\n");
        g_string_append_len(op, pl, size);
        g_string_erase(r->in, 0, (gssize)(consumed + (size_t)size + 2));
        g_free(line);
        return g_string_free(op, FALSE);
    }
}

/* For messages: make CR/LF visible. */
static char *show(const char *s) {
    if (s == NULL) return g_strdup("(nothing)");
    GString *g = g_string_new("");
    for (const char *p = s; *p; p++) {
        if (*p == '\r') g_string_append(g, "\\r");
        else if (*p == '\n') g_string_append(g, "\\n");
        else if ((unsigned char)*p < 32) g_string_append_printf(g, "\\x%02x", (unsigned char)*p);
        else g_string_append_c(g, *p);
        if (g->len > 300) {
            g_string_append(g, "...");
            break;
        }
    }
    return g_string_free(g, FALSE);
}

/* Why the last read gave nothing. */
static char *why_nothing(Raw *r, char *err) {
    if (err) return err;
    return g_strdup(r->closed ? "the server closed the connection" : "timed out");
}

/* Expect exactly these ops, in order (NULL-terminated). FALSE with *why on the first difference. */
static gboolean raw_expect_ops(Raw *r, char **why, ...) {
    va_list ap;
    va_start(ap, why);
    const char *want;
    gboolean ok = TRUE;
    while (ok && (want = va_arg(ap, const char *)) != NULL) {
        char *err = NULL;
        char *got = raw_next_op(r, WAIT_MS, &err);
        if (got == NULL) {
            char *w = show(want), *e = why_nothing(r, err);
            *why = g_strdup_printf("expected `%s`, got nothing: %s", w, e);
            g_free(w);
            g_free(e);
            ok = FALSE;
        } else if (strcmp(got, want) != 0) {
            char *w = show(want), *g = show(got);
            *why = g_strdup_printf("expected `%s`, got `%s`", w, g);
            g_free(w);
            g_free(g);
            ok = FALSE;
        }
        g_free(got);
    }
    va_end(ap);
    return ok;
}

/* All ops up to and including the next PONG (which is not included). NULL (and *why) if the
 * PONG does not come. */
static GPtrArray *raw_ops_until_pong(Raw *r, char **why) {
    GPtrArray *ops = g_ptr_array_new_with_free_func(g_free);
    for (;;) {
        char *err = NULL;
        char *op = raw_next_op(r, WAIT_MS, &err);
        if (op == NULL) {
            char *e = why_nothing(r, err);
            GString *g = g_string_new("");
            for (guint i = 0; i < ops->len; i++) {
                char *s = show(ops->pdata[i]);
                g_string_append_printf(g, "%s`%s`", i ? ", " : "", s);
                g_free(s);
            }
            *why = g_strdup_printf("no PONG (%s); received before: [%s]", e, g->str);
            g_string_free(g, TRUE);
            g_free(e);
            g_ptr_array_free(ops, TRUE);
            return NULL;
        }
        if (strcmp(op, "PONG") == 0) {
            g_free(op);
            return ops;
        }
        g_ptr_array_add(ops, op);
    }
}

static char *ops_show(GPtrArray *ops) {
    GString *g = g_string_new("[");
    for (guint i = 0; ops && i < ops->len; i++) {
        char *s = show(ops->pdata[i]);
        g_string_append_printf(g, "%s`%s`", i ? ", " : "", s);
        g_free(s);
    }
    g_string_append(g, "]");
    return g_string_free(g, FALSE);
}

static gint cmp_str(gconstpointer a, gconstpointer b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The ops until PONG, sorted (for deliveries to several subscriptions, whose order is free),
 * joined by " | ", or NULL with *why. */
static char *raw_sorted_until_pong(Raw *r, char **why) {
    GPtrArray *ops = raw_ops_until_pong(r, why);
    if (ops == NULL) return NULL;
    g_ptr_array_sort(ops, cmp_str);
    GString *g = g_string_new("");
    for (guint i = 0; i < ops->len; i++) g_string_append_printf(g, "%s%s", i ? " | " : "", (char *)ops->pdata[i]);
    g_ptr_array_free(ops, TRUE);
    return g_string_free(g, FALSE);
}

/* Expect the server to close the connection within WAIT_MS. Before it, only `-ERR <err_text>`
 * (exactly, if err_text is given: it must come) or, if err_text is NULL, any -ERR lines (the spec
 * names none) may arrive. */
static gboolean raw_expect_error_close(Raw *r, const char *err_text, char **why) {
    gboolean saw_err = FALSE;
    GString *seen = g_string_new("");
    gboolean ok = FALSE;
    for (;;) {
        char *err = NULL;
        char *op = raw_next_op(r, WAIT_MS, &err);
        if (op == NULL) {
            if (r->closed && (err_text == NULL || saw_err)) {
                ok = TRUE;
            } else if (r->closed) {
                *why = g_strdup_printf("closed without `-ERR %s` (received: [%s])", err_text, seen->str);
            } else {
                char *e = why_nothing(r, err);
                *why = g_strdup_printf("connection not closed (%s); received: [%s]", e, seen->str);
                g_free(e);
            }
            break;
        }
        char *s = show(op);
        g_string_append_printf(seen, "%s`%s`", seen->len ? ", " : "", s);
        g_free(s);
        if (err_text && !saw_err && g_str_has_prefix(op, "-ERR ") && strcmp(op + 5, err_text) == 0) {
            saw_err = TRUE;
        } else if (err_text == NULL && g_str_has_prefix(op, "-ERR ")) {
            /* fine */
        } else {
            *why = g_strdup_printf("expected %s%s then close, received: [%s]", err_text ? "-ERR " : "an optional -ERR",
                                   err_text ? err_text : "", seen->str);
            g_free(op);
            break;
        }
        g_free(op);
    }
    g_string_free(seen, TRUE);
    return ok;
}

/* Read INFO, send `connect` (a full line) and PING, expect PONG with nothing before it. */
static gboolean raw_handshake(Raw *r, const char *connect, char **why) {
    char *err = NULL;
    char *info = raw_next_op(r, WAIT_MS, &err);
    if (info == NULL || !g_str_has_prefix(info, "INFO ")) {
        char *e = info ? show(info) : why_nothing(r, err);
        *why = g_strdup_printf("no INFO first: %s", e);
        g_free(e);
        g_free(info);
        return FALSE;
    }
    g_free(info);
    if (!raw_send(r, connect) || !raw_send(r, "PING\r\n")) {
        *why = g_strdup("send failed");
        return FALSE;
    }
    return raw_expect_ops(r, why, "PONG", NULL);
}

/* Read the INFO line a fresh connection starts with. */
static gboolean raw_skip_info(Raw *r, char **why) {
    char *err = NULL;
    char *info = raw_next_op(r, WAIT_MS, &err);
    gboolean ok = info != NULL && g_str_has_prefix(info, "INFO ");
    if (!ok) {
        char *e = info ? show(info) : why_nothing(r, err);
        *why = g_strdup_printf("no INFO first: %s", e);
        g_free(e);
    } else {
        g_free(err);
    }
    g_free(info);
    return ok;
}

/* A connected, handshaken client with the modern CONNECT. */
static Raw *raw_client(ServerCtl *srv, const char *connect, char **why) {
    Raw *r = raw_connect(srv);
    if (r == NULL) {
        *why = g_strdup_printf("cannot connect to port %d", server_ctl_port(srv));
        return NULL;
    }
    if (!raw_handshake(r, connect ? connect : CONNECT_HDRS, why)) {
        raw_free(r);
        return NULL;
    }
    return r;
}

/* ---- fixture: a server and up to three raw clients, freed at `done:` ---- */

typedef struct {
    ServerCtl *srv;
    Raw *a, *b, *c;
    char *why;
} T;

static gboolean t_start(T *t) {
    memset(t, 0, sizeof *t);
    t->srv = server_ctl_start();
    if (t->srv == NULL)
        g_test_fail_printf("cannot start the %s server: %s", server_ctl_kind(), server_ctl_last_error());
    return t->srv != NULL;
}

static void t_finish(T *t) {
    raw_free(t->a);
    raw_free(t->b);
    raw_free(t->c);
    g_free(t->why);
    if (t->srv) server_ctl_expect_alive(t->srv);
    server_ctl_free(t->srv);
}

#define START(t)                                                                                   \
    T t;                                                                                           \
    if (!t_start(&t)) goto done
#define CLIENT(t, field, connect)                                                                  \
    do {                                                                                           \
        g_free((t).why);                                                                           \
        (t).why = NULL;                                                                            \
        (t).field = raw_client((t).srv, (connect), &(t).why);                                      \
        IOP_CHECK((t).field != NULL, "client " #field ": %s", (t).why);                          \
    } while (0)
#define SEND(r, s) IOP_CHECK(raw_send((r), (s)), "send to " #r " failed")
#define EXPECT(t, r, ...) IOP_CHECK(raw_expect_ops((r), &(t).why, __VA_ARGS__, NULL), "%s", (t).why)
#define EXPECT_CLOSE(t, r, errtext) IOP_CHECK(raw_expect_error_close((r), (errtext), &(t).why), "%s", (t).why)

/* ---- tests ---- */

static void test_info_first(void) {
    char *info = NULL, *err = NULL;
    JsonParser *jp = NULL;
    START(t);
    t.a = raw_connect(t.srv);
    IOP_CHECK(t.a != NULL, "connect");
    info = raw_next_op(t.a, WAIT_MS, &err);
    IOP_CHECK(info != NULL, "no INFO: %s", err ? err : (t.a->closed ? "closed" : "timeout"));
    IOP_CHECK(g_str_has_prefix(info, "INFO "), "first line is not INFO: %s", info);
    jp = json_parser_new();
    GError *jerr = NULL;
    gboolean parsed = json_parser_load_from_data(jp, info + 5, -1, &jerr);
    IOP_CHECK(parsed, "INFO JSON does not parse: %s", jerr ? jerr->message : "?");
    JsonNode *root = json_parser_get_root(jp);
    IOP_CHECK(root && JSON_NODE_HOLDS_OBJECT(root), "INFO body is not an object");
    JsonObject *o = json_node_get_object(root);
    IOP_CHECK(json_object_has_member(o, "server_id") && json_object_get_string_member(o, "server_id") &&
                  *json_object_get_string_member(o, "server_id"),
              "no server_id");
    IOP_CHECK(json_object_has_member(o, "version") &&
                  g_str_has_prefix(json_object_get_string_member(o, "version"), "2.9"),
              "version %s", json_object_has_member(o, "version") ? json_object_get_string_member(o, "version") : "-");
    IOP_CHECK(json_object_has_member(o, "proto") && json_object_get_int_member(o, "proto") == 1, "proto");
    IOP_CHECK(json_object_has_member(o, "headers") && json_object_get_boolean_member(o, "headers"), "headers");
    IOP_CHECK(json_object_has_member(o, "max_payload") && json_object_get_int_member(o, "max_payload") == 1048576,
              "max_payload");
    IOP_CHECK(json_object_has_member(o, "client_id") && json_object_get_int_member(o, "client_id") > 0, "client_id");
    /* And only INFO: nothing else until the client speaks. */
    g_free(info);
    info = raw_next_op(t.a, QUIET_MS, &err);
    IOP_CHECK(info == NULL && !t.a->closed, "after INFO, unprompted: %s", info ? info : "close");
done:
    if (jp) g_object_unref(jp);
    g_free(info);
    g_free(err);
    t_finish(&t);
}

#define RAW(t, field)                                                                              \
    do {                                                                                           \
        (t).field = raw_connect((t).srv);                                                          \
        IOP_CHECK((t).field != NULL, "cannot connect to port %d", server_ctl_port((t).srv));      \
        IOP_CHECK(raw_skip_info((t).field, &(t).why), "%s", (t).why);                             \
    } while (0)

static void test_ping_before_connect(void) {
    START(t);
    RAW(t, a);
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.a, "PING\r\nPING\r\n");
    EXPECT(t, t.a, "PONG", "PONG");
    /* CONNECT afterwards still works. */
    SEND(t.a, CONNECT_HDRS "PING\r\n");
    EXPECT(t, t.a, "PONG");
done:
    t_finish(&t);
}

/* Before CONNECT the client is verbose and pedantic (nats-server's defaults): a SUB and a
 * PUB are answered +OK, a PUB to a wildcard subject gets -ERR and the connection stays. */
static void test_verbose_before_connect(void) {
    START(t);
    RAW(t, a);
    SEND(t.a, "SUB foo 1\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "PUB foo 2\r\nhi\r\n");
    EXPECT(t, t.a, "+OK", "MSG foo 1 2\r\nhi");
    SEND(t.a, "PUB foo.* 2\r\nhi\r\nPING\r\n");
    EXPECT(t, t.a, "-ERR 'Invalid Publish Subject'", "+OK", "PONG");
done:
    t_finish(&t);
}

static void test_case_insensitive(void) {
    char *got = NULL;
    START(t);
    RAW(t, a);
    SEND(t.a, "connect {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n");
    SEND(t.a, "ping\r\nPiNg\r\n");
    EXPECT(t, t.a, "PONG", "PONG");
    SEND(t.a, "sub low.case 1\r\npub low.case 2\r\nhi\r\nSuB low.case 2\r\nPuB low.case 2\r\nho\r\n"
              "unsub 2\r\nPub low.case 2\r\nhu\r\nhpub low.case 12 14\r\nNATS/1.0\r\n\r\nhh\r\nping\r\n");
    EXPECT(t, t.a, "MSG low.case 1 2\r\nhi");
    got = raw_sorted_until_pong(t.a, &t.why);
    IOP_CHECK(got != NULL, "%s", t.why);
    IOP_CHECK(strcmp(got, "HMSG low.case 1 12 14\r\nNATS/1.0\r\n\r\nhh | MSG low.case 1 2\r\nho | "
                            "MSG low.case 1 2\r\nhu | MSG low.case 2 2\r\nho") == 0,
              "received: %s", got);
done:
    g_free(got);
    t_finish(&t);
}

static void test_bare_lf(void) {
    START(t);
    RAW(t, a);
    SEND(t.a, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\n");
    SEND(t.a, "PING\n");
    EXPECT(t, t.a, "PONG");
    /* Control lines ended by LF alone; a payload is still followed by CRLF. */
    SEND(t.a, "SUB lf 1\nPUB lf 5\nhello\r\nHPUB lf 12 14\nNATS/1.0\r\n\r\nhi\r\nPING\n");
    EXPECT(t, t.a, "MSG lf 1 5\r\nhello", "HMSG lf 1 12 14\r\nNATS/1.0\r\n\r\nhi", "PONG");
done:
    t_finish(&t);
}

static void test_whitespace(void) {
    START(t);
    CLIENT(t, a, NULL);
    /* nats.c sends `SUB <subj>  <sid>` and `UNSUB <sid> `; tabs and runs of blanks separate too. */
    SEND(t.a, "SUB ws.a  1\r\nSUB\tws.b\t\t2\r\nSUB ws.c   3  \r\nPUB  ws.a   2\r\naa\r\nPUB\tws.b\t2\r\nbb\r\n"
              "PUB ws.c 2 \r\ncc\r\nPING\r\n");
    EXPECT(t, t.a, "MSG ws.a 1 2\r\naa", "MSG ws.b 2 2\r\nbb", "MSG ws.c 3 2\r\ncc", "PONG");
    SEND(t.a, "UNSUB 1 \r\nUNSUB\t2\t\r\nPUB ws.a 2\r\nxx\r\nPUB ws.b 2\r\nxx\r\nPUB ws.c r  2\r\nyy\r\nPING\r\n");
    EXPECT(t, t.a, "MSG ws.c 3 r 2\r\nyy", "PONG");
    /* A queue group with several blanks. */
    SEND(t.a, "SUB ws.q \t grp  4 \r\nPUB ws.q 1\r\nq\r\nPING\r\n");
    EXPECT(t, t.a, "MSG ws.q 4 1\r\nq", "PONG");
done:
    t_finish(&t);
}

static void test_pub_sub_basic(void) {
    START(t);
    CLIENT(t, a, NULL);
    CLIENT(t, b, NULL);
    SEND(t.a, "SUB basic.x 17\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.b, "PUB basic.x 5\r\nhello\r\nPUB basic.x my.reply 3\r\nabc\r\nPUB basic.x 0\r\n\r\nPUB basic.y 1\r\nn\r\n"
              "PUB basic.x 4\r\n\r\n\r\n\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "MSG basic.x 17 5\r\nhello", "MSG basic.x 17 my.reply 3\r\nabc", "MSG basic.x 17 0\r\n",
           "MSG basic.x 17 4\r\n\r\n\r\n", "PONG");
done:
    t_finish(&t);
}

static void test_hpub_zero_header_is_msg(void) {
    START(t);
    CLIENT(t, a, NULL);
    /* nats.js js.publish() without headers: `HPUB <subj> <reply> 0 <n>`. */
    SEND(t.a, "SUB h0 1\r\nHPUB h0 reply.to 0 5\r\nhello\r\nHPUB h0 0 0\r\n\r\nPING\r\n");
    EXPECT(t, t.a, "MSG h0 1 reply.to 5\r\nhello", "MSG h0 1 0\r\n", "PONG");
done:
    t_finish(&t);
}

static void test_hpub_hmsg_exact(void) {
    START(t);
    CLIENT(t, a, NULL);
    CLIENT(t, b, NULL);
    SEND(t.a, "SUB hm.* 3\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    const char *hdr = "NATS/1.0\r\nA: 1\r\nMulti: x\r\nMulti: y\r\nmixed-Case: Value With  Spaces\r\n\r\n";
    char *line = g_strdup_printf("HPUB hm.one rep.ly %zu %zu\r\n%spayload\r\n", strlen(hdr), strlen(hdr) + 7, hdr);
    SEND(t.b, line);
    g_free(line);
    /* Headers only, and a header block the server must not interpret (forwarded verbatim). */
    SEND(t.b, "HPUB hm.two 21 21\r\nNATS/1.0\r\nOnly: h\r\n\r\n\r\n");
    SEND(t.b, "HPUB hm.three 12 14\r\nXXXX/1.0\r\n\r\nhi\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    char *want = g_strdup_printf("HMSG hm.one 3 rep.ly %zu %zu\r\n%spayload", strlen(hdr), strlen(hdr) + 7, hdr);
    SEND(t.a, "PING\r\n");
    gboolean ok = raw_expect_ops(t.a, &t.why, want, "HMSG hm.two 3 21 21\r\nNATS/1.0\r\nOnly: h\r\n\r\n",
                                 "HMSG hm.three 3 12 14\r\nXXXX/1.0\r\n\r\nhi", "PONG", NULL);
    g_free(want);
    IOP_CHECK(ok, "%s", t.why);
done:
    t_finish(&t);
}

static void test_verbose(void) {
    START(t);
    RAW(t, a);
    SEND(t.a, "CONNECT {\"verbose\":true,\"pedantic\":false,\"headers\":true}\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "SUB v 1\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "UNSUB 1\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "PUB v 1\r\nx\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "HPUB v 12 13\r\nNATS/1.0\r\n\r\nx\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "PONG");
done:
    t_finish(&t);
}

/* CONNECT with nothing in it: verbose, pedantic and echo default to true (spec §1.3). */
static void test_connect_defaults(void) {
    GPtrArray *ops = NULL;
    char *s = NULL;
    START(t);
    RAW(t, a);
    SEND(t.a, "CONNECT {}\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "SUB me 1\r\n");
    EXPECT(t, t.a, "+OK");
    SEND(t.a, "PUB me 4\r\nself\r\nPING\r\n");
    ops = raw_ops_until_pong(t.a, &t.why);
    IOP_CHECK(ops != NULL, "%s", t.why);
    s = ops_show(ops);
    /* +OK for the PUB and the echoed MSG, in either order. */
    IOP_CHECK(ops->len == 2, "after PUB: %s", s);
    gboolean a_ok = strcmp(ops->pdata[0], "+OK") == 0 && strcmp(ops->pdata[1], "MSG me 1 4\r\nself") == 0;
    gboolean b_ok = strcmp(ops->pdata[1], "+OK") == 0 && strcmp(ops->pdata[0], "MSG me 1 4\r\nself") == 0;
    IOP_CHECK(a_ok || b_ok, "after PUB (echo on by default): %s", s);
done:
    g_free(s);
    if (ops) g_ptr_array_free(ops, TRUE);
    t_finish(&t);
}

static void test_echo_false(void) {
    START(t);
    CLIENT(t, a, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"echo\":false}\r\n");
    CLIENT(t, b, NULL);
    SEND(t.a, "SUB e 1\r\nPUB e 4\r\nmine\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.b, "PUB e 6\r\ntheirs\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "MSG e 1 6\r\ntheirs", "PONG");
done:
    t_finish(&t);
}

static void test_no_responders_exact(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "SUB _INBOX.abc.* 9\r\nPUB nobody.here _INBOX.abc.1 0\r\n\r\nPING\r\n");
    EXPECT(t, t.a, "HMSG _INBOX.abc.1 9 16 16\r\nNATS/1.0 503\r\n\r\n", "PONG");
    /* With HPUB too, and on a plain reply subscription. */
    SEND(t.a, "SUB my.reply 10\r\nHPUB nobody.there my.reply 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n");
    EXPECT(t, t.a, "HMSG my.reply 10 16 16\r\nNATS/1.0 503\r\n\r\n", "PONG");
    /* A subscriber somewhere (another connection) means no 503. */
    CLIENT(t, b, NULL);
    SEND(t.b, "SUB some.body 1\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "PUB some.body _INBOX.abc.2 1\r\nx\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.b, "PING\r\n");
    EXPECT(t, t.b, "MSG some.body 1 _INBOX.abc.2 1\r\nx", "PONG");
    /* Without a reply subject there is nothing to answer. */
    SEND(t.a, "PUB nobody.here 1\r\nx\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
done:
    t_finish(&t);
}

static void test_no_responders_needs_opt_in(void) {
    START(t);
    /* headers but no no_responders: no 503, the request just goes nowhere. */
    CLIENT(t, a, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n");
    SEND(t.a, "SUB r.* 1\r\nPUB nobody r.1 0\r\n\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    CLIENT(t, b, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
    SEND(t.b, "SUB r.* 1\r\nPUB nobody r.1 0\r\n\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
done:
    t_finish(&t);
}

static void test_err_unknown_op(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "FOO bar\r\n");
    EXPECT_CLOSE(t, t.a, "'Unknown Protocol Operation'");
    /* Before CONNECT too. */
    RAW(t, b);
    SEND(t.b, "XYZ\r\n");
    EXPECT_CLOSE(t, t.b, "'Unknown Protocol Operation'");
done:
    t_finish(&t);
}

static void test_err_client_sends_msg(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "MSG foo 1 2\r\nhi\r\n");
    EXPECT_CLOSE(t, t.a, "'Unknown Protocol Operation'");
done:
    t_finish(&t);
}

static void test_client_info_ok_ignored(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "INFO {\"server_id\":\"fake\"}\r\n+OK\r\nPONG\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.a, "SUB still.ok 1\r\nPUB still.ok 1\r\nx\r\nPING\r\n");
    EXPECT(t, t.a, "MSG still.ok 1 1\r\nx", "PONG");
done:
    t_finish(&t);
}

static void test_err_max_payload(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "PUB big 1048577\r\n");
    EXPECT_CLOSE(t, t.a, "'Maximum Payload Violation'");
    CLIENT(t, b, NULL);
    SEND(t.b, "HPUB big 12 1048577\r\n");
    EXPECT_CLOSE(t, t.b, "'Maximum Payload Violation'");
done:
    t_finish(&t);
}

static void test_max_payload_exact_ok(void) {
    char *buf = NULL;
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "SUB big 1\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    size_t n = 1048576;
    buf = g_malloc(n + 64);
    int hl = g_snprintf(buf, 64, "PUB big %zu\r\n", n);
    memset(buf + hl, 'z', n);
    memcpy(buf + hl + n, "\r\nPING\r\n", 8);
    IOP_CHECK(raw_send_len(t.a, buf, (size_t)hl + n + 8), "send");
    char *err = NULL;
    char *op = raw_next_op(t.a, WAIT_MS, &err);
    IOP_CHECK(op != NULL, "max_payload message not delivered: %s", why_nothing(t.a, err));
    gboolean ok = g_str_has_prefix(op, "MSG big 1 1048576\r\n") && strlen(op) == strlen("MSG big 1 1048576\r\n") + n;
    for (size_t i = strlen("MSG big 1 1048576\r\n"); ok && op[i]; i++) ok = op[i] == 'z';
    g_free(op);
    IOP_CHECK(ok, "max_payload message altered");
    EXPECT(t, t.a, "PONG");
done:
    g_free(buf);
    t_finish(&t);
}

/* Control line over 4096 bytes. nats-server counts the arguments after the operation name, so
 * the exact boundary differs by a few bytes between implementations; we stay clear of it. */
static void test_err_control_line(void) {
    char *line = NULL;
    START(t);
    CLIENT(t, a, NULL);
    GString *g = g_string_new("PUB ctl.x ");
    for (int i = 0; i < 5000; i++) g_string_append_c(g, 'r');
    g_string_append(g, " 1\r\nx\r\n");
    line = g_string_free(g, FALSE);
    SEND(t.a, line);
    EXPECT_CLOSE(t, t.a, "'maximum control line exceeded'");
    g_free(line);
    /* A subject that long in SUB. */
    CLIENT(t, b, NULL);
    g = g_string_new("SUB ");
    for (int i = 0; i < 5000; i++) g_string_append_c(g, 's');
    g_string_append(g, " 1\r\n");
    line = g_string_free(g, FALSE);
    SEND(t.b, line);
    EXPECT_CLOSE(t, t.b, "'maximum control line exceeded'");
    g_free(line);
    /* And one that never ends: the server must not wait for the newline. */
    CLIENT(t, c, NULL);
    g = g_string_new("PUB ctl.y ");
    for (int i = 0; i < 8192; i++) g_string_append_c(g, 'r');
    line = g_string_free(g, FALSE);
    SEND(t.c, line);
    EXPECT_CLOSE(t, t.c, "'maximum control line exceeded'");
done:
    g_free(line);
    t_finish(&t);
}

static void test_long_control_line_ok(void) {
    char *line = NULL, *want = NULL;
    START(t);
    CLIENT(t, a, NULL);
    /* A 4000-byte control line (a long reply subject: reply subjects are not validated). */
    GString *reply = g_string_new("");
    while (reply->len < 3980) g_string_append(reply, "_r.");
    g_string_append(reply, "end");
    line = g_strdup_printf("SUB long.ok 1\r\nPUB long.ok %s 2\r\nok\r\nPING\r\n", reply->str);
    want = g_strdup_printf("MSG long.ok 1 %s 2\r\nok", reply->str);
    g_string_free(reply, TRUE);
    SEND(t.a, line);
    EXPECT(t, t.a, want, "PONG");
done:
    g_free(line);
    g_free(want);
    t_finish(&t);
}

static void test_err_invalid_subject(void) {
    START(t);
    CLIENT(t, a, NULL);
    const char *bad[] = {"a..b", ".a", "a.", "foo.>.bar", ">.x"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *line = g_strdup_printf("SUB %s %zu\r\nPING\r\n", bad[i], i + 1);
        gboolean sent = raw_send(t.a, line);
        g_free(line);
        IOP_CHECK(sent, "send");
        IOP_CHECK(raw_expect_ops(t.a, &t.why, "-ERR 'Invalid Subject'", "PONG", NULL), "SUB %s: %s", bad[i], t.why);
    }
    /* Not fatal: the connection works, the bad subscriptions do not exist. */
    SEND(t.a, "SUB good.subject 99\r\nPUB good.subject 2\r\nok\r\nPUB a..b 1\r\nx\r\nPING\r\n");
    EXPECT(t, t.a, "MSG good.subject 99 2\r\nok", "PONG");
done:
    t_finish(&t);
}

static void test_err_invalid_protocol(void) {
    START(t);
    RAW(t, a);
    SEND(t.a, "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":2}\r\n");
    EXPECT_CLOSE(t, t.a, "'invalid client protocol'");
done:
    t_finish(&t);
}

static void test_err_no_responders_without_headers(void) {
    START(t);
    RAW(t, a);
    SEND(t.a, "CONNECT {\"verbose\":false,\"pedantic\":false,\"no_responders\":true}\r\n");
    EXPECT_CLOSE(t, t.a, "'no responders requires headers support'");
    RAW(t, b);
    SEND(t.b, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false,\"no_responders\":true}\r\n");
    EXPECT_CLOSE(t, t.b, "'no responders requires headers support'");
done:
    t_finish(&t);
}

static void test_hpub_without_headers_closes(void) {
    START(t);
    CLIENT(t, a, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
    SEND(t.a, "SUB x 1\r\nHPUB x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    EXPECT_CLOSE(t, t.a, NULL);
    /* headers omitted means false. */
    CLIENT(t, b, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false}\r\n");
    SEND(t.b, "HPUB x 0 2\r\nhi\r\n");
    EXPECT_CLOSE(t, t.b, NULL);
done:
    t_finish(&t);
}

static void test_err_payload_not_crlf(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "PUB x 2\r\nhiXX\r\n");
    EXPECT_CLOSE(t, t.a, "'Unknown Protocol Operation'");
    CLIENT(t, b, NULL);
    SEND(t.b, "PUB x 2\r\nhi\n");
    EXPECT_CLOSE(t, t.b, "'Unknown Protocol Operation'");
    CLIENT(t, c, NULL);
    SEND(t.c, "HPUB x 12 14\r\nNATS/1.0\r\n\r\nhi!!");
    EXPECT_CLOSE(t, t.c, "'Unknown Protocol Operation'");
done:
    t_finish(&t);
}

static void test_malformed_args_close(void) {
    const char *cases[] = {
        "PUB x\r\n",               /* no size */
        "PUB x abc\r\nab\r\n",     /* size not a number */
        "SUB x\r\n",               /* no sid */
        "HPUB x 5 2\r\nhi\r\n",    /* header longer than the total */
        "HPUB x 2\r\nhi\r\n",      /* one size only */
    };
    START(t);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        raw_free(t.a);
        t.a = NULL;
        CLIENT(t, a, NULL);
        SEND(t.a, cases[i]);
        char *c = show(cases[i]);
        gboolean ok = raw_expect_error_close(t.a, NULL, &t.why);
        IOP_CHECK(ok, "after `%s`: %s", c, t.why);
        g_free(c);
    }
done:
    t_finish(&t);
}

static void test_tiny_writes(void) {
    START(t);
    RAW(t, a);
    const char *script = CONNECT_HDRS
        "SUB tiny.* 1\r\nPUB tiny.a reply 5\r\nhello\r\nHPUB tiny.b 20 23\r\nNATS/1.0\r\nKey: v\r\n\r\nabc\r\n"
        "UNSUB 1 \r\nPUB tiny.c 1\r\nz\r\nPING\r\n";
    for (const char *p = script; *p; p++) {
        IOP_CHECK(raw_send_len(t.a, p, 1), "send");
        if ((p - script) % 4 == 0) server_ctl_sleep_ms(1);
    }
    EXPECT(t, t.a, "MSG tiny.a 1 reply 5\r\nhello", "HMSG tiny.b 1 20 23\r\nNATS/1.0\r\nKey: v\r\n\r\nabc", "PONG");
done:
    t_finish(&t);
}

static void test_bad_client_isolated(void) {
    START(t);
    CLIENT(t, a, NULL);   /* the good subscriber */
    CLIENT(t, b, NULL);   /* the misbehaving one */
    CLIENT(t, c, NULL);   /* a good publisher */
    SEND(t.a, "SUB iso 1\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.b, "SUB bad.interest 1\r\nPUB iso 6\r\nbefore\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    /* Half an operation, then garbage. */
    SEND(t.b, "PUB iso 10\r\nabc");
    server_ctl_sleep_ms(20);
    SEND(t.b, "defghijXYZW\r\n");
    EXPECT_CLOSE(t, t.b, "'Unknown Protocol Operation'");
    SEND(t.c, "PUB iso 5\r\nafter\r\nPING\r\n");
    EXPECT(t, t.c, "PONG");
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "MSG iso 1 6\r\nbefore", "MSG iso 1 5\r\nafter", "PONG");
    /* The closed client's subscription is gone: a request to it has no responders. */
    SEND(t.c, "SUB inbox.c 1\r\nPUB bad.interest inbox.c 0\r\n\r\nPING\r\n");
    EXPECT(t, t.c, "HMSG inbox.c 1 16 16\r\nNATS/1.0 503\r\n\r\n", "PONG");
done:
    t_finish(&t);
}

static void test_unsub_max(void) {
    START(t);
    CLIENT(t, a, NULL);
    CLIENT(t, b, NULL);
    SEND(t.a, "SUB m 1\r\nUNSUB 1 3\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.b, "PUB m 1\r\n1\r\nPUB m 1\r\n2\r\nPUB m 1\r\n3\r\nPUB m 1\r\n4\r\nPUB m 1\r\n5\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "MSG m 1 1\r\n1", "MSG m 1 1\r\n2", "MSG m 1 1\r\n3", "PONG");
    /* The max counts deliveries made before the UNSUB: reached already -> removed at once. */
    SEND(t.a, "SUB n 2\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.b, "PUB n 1\r\na\r\nPUB n 1\r\nb\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "UNSUB 2 2\r\nPING\r\n");
    EXPECT(t, t.a, "MSG n 2 1\r\na", "MSG n 2 1\r\nb", "PONG");
    SEND(t.b, "PUB n 1\r\nc\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "PONG");
    /* Partly consumed: 1 delivered, max 2 -> one more. */
    SEND(t.a, "SUB p 3\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.b, "PUB p 1\r\na\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "UNSUB 3 2\r\nPING\r\n");
    EXPECT(t, t.a, "MSG p 3 1\r\na", "PONG");
    SEND(t.b, "PUB p 1\r\nb\r\nPUB p 1\r\nc\r\nPING\r\n");
    EXPECT(t, t.b, "PONG");
    SEND(t.a, "PING\r\n");
    EXPECT(t, t.a, "MSG p 3 1\r\nb", "PONG");
    /* Unknown sids are ignored. */
    SEND(t.a, "UNSUB 12345\r\nUNSUB 777 5\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
done:
    t_finish(&t);
}

static void test_repeated_sid_ignored(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "SUB rep 1\r\nSUB rep 1\r\nPUB rep 1\r\nx\r\nPING\r\n");
    EXPECT(t, t.a, "MSG rep 1 1\r\nx", "PONG");
    SEND(t.a, "UNSUB 1\r\nPUB rep 1\r\ny\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
done:
    t_finish(&t);
}

static void test_wildcards_raw(void) {
    char *got = NULL;
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "SUB a.* 1\r\nSUB a.> 2\r\nSUB *.b 3\r\nSUB > 4\r\nSUB a.b.c 5\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    SEND(t.a, "PUB a.b 1\r\nx\r\nPING\r\n");
    got = raw_sorted_until_pong(t.a, &t.why);
    IOP_CHECK(got, "%s", t.why);
    IOP_CHECK(strcmp(got, "MSG a.b 1 1\r\nx | MSG a.b 2 1\r\nx | MSG a.b 3 1\r\nx | MSG a.b 4 1\r\nx") == 0,
              "a.b delivered as: %s", got);
    g_free(got);
    SEND(t.a, "PUB a.b.c 1\r\ny\r\nPING\r\n");
    got = raw_sorted_until_pong(t.a, &t.why);
    IOP_CHECK(got, "%s", t.why);
    IOP_CHECK(strcmp(got, "MSG a.b.c 2 1\r\ny | MSG a.b.c 4 1\r\ny | MSG a.b.c 5 1\r\ny") == 0,
              "a.b.c delivered as: %s", got);
    g_free(got);
    SEND(t.a, "PUB a 1\r\nz\r\nPING\r\n");
    got = raw_sorted_until_pong(t.a, &t.why);
    IOP_CHECK(got, "%s", t.why);
    IOP_CHECK(strcmp(got, "MSG a 4 1\r\nz") == 0, "a delivered as: %s", got);
done:
    g_free(got);
    t_finish(&t);
}

/* `fo*` and `a>` are literal characters, not wildcards; `*`/`>` tokens in a publish subject are
 * routed as literal tokens (non-pedantic; nats.js relies on it for consumer-create subjects). */
static void test_literal_wildcard_chars(void) {
    char *got = NULL;
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "SUB lit.fo* 1\r\nSUB lit.a> 2\r\nPUB lit.fo* 1\r\na\r\nPUB lit.foo 1\r\nb\r\nPUB lit.a> 1\r\nc\r\n"
              "PUB lit.ab 1\r\nd\r\nPING\r\n");
    EXPECT(t, t.a, "MSG lit.fo* 1 1\r\na", "MSG lit.a> 2 1\r\nc", "PONG");
    SEND(t.a, "SUB pw.* 3\r\nSUB pw.b 4\r\nSUB pw.> 5\r\nPUB pw.* 1\r\nx\r\nPING\r\n");
    got = raw_sorted_until_pong(t.a, &t.why);
    IOP_CHECK(got, "%s", t.why);
    IOP_CHECK(strcmp(got, "MSG pw.* 3 1\r\nx | MSG pw.* 5 1\r\nx") == 0, "publish to pw.* delivered as: %s", got);
    g_free(got);
    SEND(t.a, "PUB pw.> 1\r\ny\r\nPING\r\n");
    got = raw_sorted_until_pong(t.a, &t.why);
    IOP_CHECK(got, "%s", t.why);
    IOP_CHECK(strcmp(got, "MSG pw.> 3 1\r\ny | MSG pw.> 5 1\r\ny") == 0, "publish to pw.> delivered as: %s", got);
done:
    g_free(got);
    t_finish(&t);
}

static void test_queue_group_raw(void) {
    START(t);
    CLIENT(t, a, NULL);
    SEND(t.a, "SUB qg workers 1\r\nSUB qg workers 2\r\nSUB qg others 3\r\nSUB qg 4\r\nPING\r\n");
    EXPECT(t, t.a, "PONG");
    int per_sid[5] = {0};
    for (int i = 0; i < 50; i++) {
        SEND(t.a, "PUB qg 1\r\nq\r\nPING\r\n");
        GPtrArray *ops = raw_ops_until_pong(t.a, &t.why);
        IOP_CHECK(ops != NULL, "%s", t.why);
        int w = 0, o = 0, p = 0;
        for (guint k = 0; k < ops->len; k++) {
            const char *op = ops->pdata[k];
            if (strcmp(op, "MSG qg 1 1\r\nq") == 0) { w++; per_sid[1]++; }
            else if (strcmp(op, "MSG qg 2 1\r\nq") == 0) { w++; per_sid[2]++; }
            else if (strcmp(op, "MSG qg 3 1\r\nq") == 0) o++;
            else if (strcmp(op, "MSG qg 4 1\r\nq") == 0) p++;
        }
        char *s = ops_show(ops);
        gboolean ok = w == 1 && o == 1 && p == 1 && ops->len == 3;
        g_ptr_array_free(ops, TRUE);
        IOP_CHECK(ok, "one publish delivered as %s (want one of sid 1/2, sid 3, sid 4)", s);
        g_free(s);
    }
    IOP_CHECK(per_sid[1] > 0 && per_sid[2] > 0, "queue split over 50 messages: %d/%d", per_sid[1], per_sid[2]);
done:
    t_finish(&t);
}

int main(int argc, char **argv) {
    server_ctl_test_init(&argc, &argv);
    server_ctl_watchdog(55);
    g_test_add_func("/interop/proto/info-first", test_info_first);
    g_test_add_func("/interop/proto/ping-before-connect", test_ping_before_connect);
    g_test_add_func("/interop/proto/verbose-before-connect", test_verbose_before_connect);
    g_test_add_func("/interop/proto/case-insensitive", test_case_insensitive);
    g_test_add_func("/interop/proto/bare-lf", test_bare_lf);
    g_test_add_func("/interop/proto/whitespace", test_whitespace);
    g_test_add_func("/interop/proto/pub-sub", test_pub_sub_basic);
    g_test_add_func("/interop/proto/hpub-zero-header-is-msg", test_hpub_zero_header_is_msg);
    g_test_add_func("/interop/proto/hpub-hmsg-exact", test_hpub_hmsg_exact);
    g_test_add_func("/interop/proto/verbose", test_verbose);
    g_test_add_func("/interop/proto/connect-defaults", test_connect_defaults);
    g_test_add_func("/interop/proto/echo-false", test_echo_false);
    g_test_add_func("/interop/proto/no-responders", test_no_responders_exact);
    g_test_add_func("/interop/proto/no-responders-opt-in", test_no_responders_needs_opt_in);
    g_test_add_func("/interop/proto/unsub-max", test_unsub_max);
    g_test_add_func("/interop/proto/repeated-sid", test_repeated_sid_ignored);
    g_test_add_func("/interop/proto/wildcards", test_wildcards_raw);
    g_test_add_func("/interop/proto/literal-wildcard-chars", test_literal_wildcard_chars);
    g_test_add_func("/interop/proto/queue-group", test_queue_group_raw);
    g_test_add_func("/interop/proto/client-info-ok-ignored", test_client_info_ok_ignored);
    g_test_add_func("/interop/proto/max-payload-exact-ok", test_max_payload_exact_ok);
    g_test_add_func("/interop/proto/long-control-line-ok", test_long_control_line_ok);
    g_test_add_func("/interop/proto/tiny-writes", test_tiny_writes);
    g_test_add_func("/interop/proto/err-unknown-op", test_err_unknown_op);
    g_test_add_func("/interop/proto/err-client-msg", test_err_client_sends_msg);
    g_test_add_func("/interop/proto/err-max-payload", test_err_max_payload);
    g_test_add_func("/interop/proto/err-control-line", test_err_control_line);
    g_test_add_func("/interop/proto/err-invalid-subject", test_err_invalid_subject);
    g_test_add_func("/interop/proto/err-invalid-protocol", test_err_invalid_protocol);
    g_test_add_func("/interop/proto/err-no-responders-without-headers", test_err_no_responders_without_headers);
    g_test_add_func("/interop/proto/err-hpub-without-headers", test_hpub_without_headers_closes);
    g_test_add_func("/interop/proto/err-payload-not-crlf", test_err_payload_not_crlf);
    g_test_add_func("/interop/proto/err-malformed-args", test_malformed_args_close);
    g_test_add_func("/interop/proto/bad-client-isolated", test_bad_client_isolated);
    return g_test_run();
}
