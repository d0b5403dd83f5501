/* route_proto.c — the route protocol parser and encoders (see route_proto.h).
 *
 * HOW IT PARSES
 *   Two states. Gathering a control line: look for '\n' in what was fed; a line split across
 *   feeds is gathered in `buf` (bounded by the control-line limit). A complete line is split
 *   into tokens and dispatched. RMSG/HMSG announce a payload: if all of it (and its CRLF) is
 *   already in the fed slice and the line was not buffered, the callback gets pointers into
 *   the slice (zero copy, the common case on a busy route); otherwise the line is kept at
 *   the start of `buf`, the payload is appended as it arrives, and once complete the line is
 *   parsed again from `buf` so the callback sees the same pointers either way.
 *
 * RMSG ARGUMENTS (nats-server processRoutedMsgArgs, spec 2.4)
 *   3 tokens = account subject size; 4 = with a reply; 5 or more = the third token is '+'
 *   (a reply follows) or '|' (none), the last token is the size and the ones between are
 *   queue names. HMSG has one more token (hdr_size total_size) at the end.
 */
#include "route_proto.h"

#include <string.h>

void route_parser_init(RouteParser *p, const RouteLimits *limits) {
    memset(p, 0, sizeof *p);
    p->limits = *limits;
}

void route_parser_clear(RouteParser *p) {
    g_free(p->buf);
    p->buf = NULL;
    p->buf_len = p->buf_cap = 0;
}

static void buf_append(RouteParser *p, const uint8_t *d, size_t n) {
    if (p->buf_len + n > p->buf_cap) {
        size_t cap = p->buf_cap ? p->buf_cap : 256;
        while (cap < p->buf_len + n) cap *= 2;
        p->buf = g_realloc(p->buf, cap);
        p->buf_cap = cap;
    }
    memcpy(p->buf + p->buf_len, d, n);
    p->buf_len += n;
}

/* Split on runs of spaces and tabs; FALSE if there are more than max tokens. */
static bool split(const char *s, size_t len, RouteStr *tok, size_t max, size_t *n) {
    size_t k = 0, i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i == len) break;
        size_t start = i;
        while (i < len && s[i] != ' ' && s[i] != '\t') i++;
        if (k == max) return false;
        tok[k++] = (RouteStr){s + start, i - start};
    }
    *n = k;
    return true;
}

/* A decimal size; FALSE unless all digits and below 2^40. */
static bool parse_size(RouteStr t, size_t *out) {
    if (t.len == 0 || t.len > 12) return false;
    size_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        if (t.p[i] < '0' || t.p[i] > '9') return false;
        v = v * 10 + (size_t)(t.p[i] - '0');
    }
    *out = v;
    return true;
}

static bool op_is(const char *s, size_t len, const char *name) {
    return strlen(name) == len && g_ascii_strncasecmp(s, name, len) == 0;
}

/* Parse RMSG/HMSG arguments (the line after the op) into m (without payload pointers).
 * Returns MJ_OK and the total bytes (headers + payload) that follow, or an error. */
static MjError parse_msg_args(const RouteParser *p, bool hmsg, const char *args, size_t len,
                              RouteMsg *m, size_t *total) {
    RouteStr tok[LIMIT_ROUTE_MSG_ARGS_COUNT];
    size_t n;
    memset(m, 0, sizeof *m);
    if (!split(args, len, tok, G_N_ELEMENTS(tok), &n)) return MJ_ERR_PROTO_UNKNOWN_OP;
    size_t sizes = hmsg ? 2 : 1; /* trailing size tokens */
    if (n < 2 + sizes) return MJ_ERR_PROTO_UNKNOWN_OP;
    m->account = tok[0];
    m->subject = tok[1];
    size_t rest = n - sizes; /* tokens before the sizes */
    if (rest == 3) {
        m->reply = tok[2];
    } else if (rest > 3) {
        size_t q0;
        if (tok[2].len == 1 && tok[2].p[0] == '+') {
            m->reply = tok[3];
            q0 = 4;
        } else if (tok[2].len == 1 && tok[2].p[0] == '|') {
            q0 = 3;
        } else {
            return MJ_ERR_PROTO_UNKNOWN_OP;
        }
        if (q0 >= rest || rest - q0 > LIMIT_ROUTE_MSG_QUEUES_COUNT) return MJ_ERR_PROTO_UNKNOWN_OP;
        for (size_t i = q0; i < rest; i++) m->queues[m->nq++] = tok[i];
    }
    size_t hdr = 0, tot = 0;
    if (hmsg) {
        if (!parse_size(tok[n - 2], &hdr) || !parse_size(tok[n - 1], &tot) || hdr > tot || hdr == 0)
            return MJ_ERR_PROTO_UNKNOWN_OP;
    } else if (!parse_size(tok[n - 1], &tot)) {
        return MJ_ERR_PROTO_UNKNOWN_OP;
    }
    if (tot > p->limits.max_payload_bytes) return MJ_ERR_PROTO_MAX_PAYLOAD;
    m->hdr_len = hdr;
    m->payload_len = tot - hdr;
    *total = tot;
    return MJ_OK;
}

/* RS+ / RS- / LS+ / LS- arguments. */
static MjError parse_sub_args(bool leaf, bool add, const char *args, size_t len, RouteSub *s) {
    RouteStr tok[6];
    size_t n;
    memset(s, 0, sizeof *s);
    if (!split(args, len, tok, G_N_ELEMENTS(tok), &n)) return MJ_ERR_PROTO_UNKNOWN_OP;
    size_t o = leaf ? 1 : 0; /* LS+ starts with the origin cluster */
    if (n < o + 2 || n > o + (add ? 4 : 3)) return MJ_ERR_PROTO_UNKNOWN_OP;
    s->account = tok[o];
    s->subject = tok[o + 1];
    if (n >= o + 3) {
        s->queue = tok[o + 2];
        s->weight = 1;
    }
    if (n == o + 4) {
        size_t w;
        if (!parse_size(tok[o + 3], &w) || w == 0 || w > G_MAXUINT32) return MJ_ERR_PROTO_UNKNOWN_OP;
        s->weight = (uint32_t)w;
    }
    return MJ_OK;
}

/* One complete control line (without CR LF). For RMSG/HMSG, *want is set to the bytes that
 * follow (payload + 2) and nothing is called; the caller gathers them and calls
 * deliver_msg. Otherwise the op's callback runs. */
static MjError dispatch_line(RouteParser *p, const char *line, size_t len, const RouteCallbacks *cb,
                             void *ctx, bool *stop, size_t *want, RouteMsg *m) {
    *want = 0;
    size_t i = 0;
    while (i < len && line[i] != ' ' && line[i] != '\t') i++;
    const char *op = line;
    size_t oplen = i;
    const char *args = line + i;
    size_t alen = len - i;
    if (oplen == 0) return len == 0 ? MJ_OK : MJ_ERR_PROTO_UNKNOWN_OP; /* empty lines are harmless */
    if (op_is(op, oplen, "RMSG") || op_is(op, oplen, "HMSG")) {
        size_t total;
        MjError e = parse_msg_args(p, op_is(op, oplen, "HMSG"), args, alen, m, &total);
        if (e != MJ_OK) return e;
        *want = total + 2;
        return MJ_OK;
    }
    bool ok = true;
    if (op_is(op, oplen, "PING")) {
        ok = cb->on_ping(ctx);
    } else if (op_is(op, oplen, "PONG")) {
        ok = cb->on_pong(ctx);
    } else if (op_is(op, oplen, "+OK")) {
    } else if (op_is(op, oplen, "RS+") || op_is(op, oplen, "RS-") || op_is(op, oplen, "LS+") ||
               op_is(op, oplen, "LS-")) {
        RouteSub s;
        bool add = op[2] == '+';
        MjError e = parse_sub_args(op[0] == 'L' || op[0] == 'l', add, args, alen, &s);
        if (e != MJ_OK) return e;
        ok = cb->on_sub(ctx, &s, add);
    } else if (op_is(op, oplen, "INFO") || op_is(op, oplen, "CONNECT") || op_is(op, oplen, "-ERR")) {
        while (alen > 0 && (*args == ' ' || *args == '\t')) args++, alen--;
        while (alen > 0 && (args[alen - 1] == ' ' || args[alen - 1] == '\t')) alen--;
        if (op[0] == '-') ok = cb->on_err(ctx, args, alen);
        else if (op[0] == 'I' || op[0] == 'i') ok = cb->on_info(ctx, args, alen);
        else ok = cb->on_connect(ctx, args, alen);
    } else {
        return MJ_ERR_PROTO_UNKNOWN_OP;
    }
    *stop = !ok;
    return MJ_OK;
}

MjError route_parser_feed(RouteParser *p, const uint8_t *data, size_t len, const RouteCallbacks *cb,
                          void *ctx) {
    g_assert(!p->dead);
    size_t pos = 0;
    bool stop = false;
    MjError err = MJ_OK;
    while (pos < len && !stop && err == MJ_OK) {
        if (p->in_payload) {
            size_t take = MIN(p->need_bytes, len - pos);
            buf_append(p, data + pos, take);
            pos += take;
            p->need_bytes -= take;
            if (p->need_bytes > 0) break;
            RouteMsg m;
            size_t want;
            err = dispatch_line(p, (const char *)p->buf, p->line_len, cb, ctx, &stop, &want, &m);
            g_assert(err == MJ_OK && want + p->line_len == p->buf_len); /* parsed before */
            const uint8_t *body = p->buf + p->line_len;
            if (body[want - 2] != '\r' || body[want - 1] != '\n') {
                err = MJ_ERR_PROTO_UNKNOWN_OP;
                break;
            }
            m.hdr = m.hdr_len ? body : NULL;
            m.payload = body + m.hdr_len;
            stop = !cb->on_msg(ctx, &m);
            p->in_payload = false;
            p->buf_len = 0;
            continue;
        }
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        size_t avail = nl ? (size_t)(nl - (data + pos)) : len - pos;
        if (p->buf_len + avail > p->limits.max_control_line_bytes + 1) {
            err = MJ_ERR_PROTO_MAX_CONTROL_LINE;
            break;
        }
        if (nl == NULL) {
            buf_append(p, data + pos, avail);
            pos = len;
            break;
        }
        const char *line;
        size_t line_len;
        bool buffered = p->buf_len > 0;
        if (buffered) {
            buf_append(p, data + pos, avail);
            line = (const char *)p->buf;
            line_len = p->buf_len;
        } else {
            line = (const char *)data + pos;
            line_len = avail;
        }
        pos += avail + 1;
        if (line_len > 0 && line[line_len - 1] == '\r') line_len--;
        if (line_len > p->limits.max_control_line_bytes) {
            err = MJ_ERR_PROTO_MAX_CONTROL_LINE;
            break;
        }
        RouteMsg m;
        size_t want;
        err = dispatch_line(p, line, line_len, cb, ctx, &stop, &want, &m);
        if (err != MJ_OK || stop) break;
        if (want == 0) {
            p->buf_len = 0;
            continue;
        }
        if (!buffered && len - pos >= want) { /* the whole message is here: no copy */
            const uint8_t *body = data + pos;
            if (body[want - 2] != '\r' || body[want - 1] != '\n') {
                err = MJ_ERR_PROTO_UNKNOWN_OP;
                break;
            }
            m.hdr = m.hdr_len ? body : NULL;
            m.payload = body + m.hdr_len;
            pos += want;
            stop = !cb->on_msg(ctx, &m);
            continue;
        }
        if (!buffered) buf_append(p, (const uint8_t *)line, line_len);
        else p->buf_len = line_len; /* drop the CR: the line is what dispatch_line reads */
        p->line_len = line_len;
        p->need_bytes = want;
        p->in_payload = true;
    }
    if (err != MJ_OK || stop) p->dead = true;
    return err;
}

/* ------------------------------------------------------------------ encoders */

void route_encode_sub(GString *out, const char *account, const char *subject, const char *queue,
                      uint32_t weight) {
    if (queue != NULL)
        g_string_append_printf(out, "RS+ %s %s %s %u\r\n", account, subject, queue, weight);
    else
        g_string_append_printf(out, "RS+ %s %s\r\n", account, subject);
}

void route_encode_unsub(GString *out, const char *account, const char *subject, const char *queue) {
    if (queue != NULL)
        g_string_append_printf(out, "RS- %s %s %s\r\n", account, subject, queue);
    else
        g_string_append_printf(out, "RS- %s %s\r\n", account, subject);
}

/* Decimal digits of v appended to out (the hot path: no printf per message). */
static void append_size(GString *out, size_t v) {
    char buf[24];
    int n = 0;
    do {
        buf[sizeof buf - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    g_string_append_len(out, buf + sizeof buf - n, n);
}

void route_encode_msg_line(GString *out, const char *account, const char *subject, size_t subject_len,
                           const char *reply, size_t reply_len, const char *const *queues, size_t nq,
                           size_t hdr_len, size_t payload_len) {
    g_string_append_len(out, hdr_len > 0 ? "HMSG " : "RMSG ", 5);
    g_string_append(out, account);
    g_string_append_c(out, ' ');
    g_string_append_len(out, subject, (gssize)subject_len);
    if (nq > 0) {
        if (reply_len > 0) {
            g_string_append_len(out, " + ", 3);
            g_string_append_len(out, reply, (gssize)reply_len);
        } else {
            g_string_append_len(out, " |", 2);
        }
        for (size_t i = 0; i < nq; i++) {
            g_string_append_c(out, ' ');
            g_string_append(out, queues[i]);
        }
    } else if (reply_len > 0) {
        g_string_append_c(out, ' ');
        g_string_append_len(out, reply, (gssize)reply_len);
    }
    g_string_append_c(out, ' ');
    if (hdr_len > 0) {
        append_size(out, hdr_len);
        g_string_append_c(out, ' ');
    }
    append_size(out, hdr_len + payload_len);
    g_string_append_len(out, "\r\n", 2);
}
