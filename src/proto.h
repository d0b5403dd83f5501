/* proto.h — the NATS client protocol: an incremental, zero-copy push parser and the
 * encoders for what the server writes (INFO, MSG, HMSG, +OK, -ERR, PING, PONG).
 *
 * INTERFACE
 *   proto_parser_init(p, limits)      a fresh parser for one connection
 *   proto_parser_feed(p, data, len, cb, ctx)
 *                                     feed any slice of bytes; complete operations are
 *                                     handed to the callbacks in order. Returns MJ_OK, or
 *                                     the fatal protocol error that stopped parsing (the
 *                                     caller sends -ERR and closes), or MJ_OK after a
 *                                     callback returned false (the caller is closing).
 *                                     After either, the parser is dead: feeding it again
 *                                     is a programmer error (asserted); only clear it.
 *   proto_parser_clear(p)             free what the parser buffered
 *
 * ERRORS (every one fatal; proto.c's header comment lists exactly what triggers each)
 *   MJ_ERR_PROTO_MAX_CONTROL_LINE  line over max_control_line_bytes, not counting \r\n
 *   MJ_ERR_PROTO_MAX_PAYLOAD       PUB/HPUB total over max_payload_bytes
 *   MJ_ERR_PROTO_UNKNOWN_OP        unknown op (client MSG/HMSG included), malformed
 *                                  arguments, HPUB header > total, payload not followed
 *                                  by \r\n. Subjects are not validated here.
 *   proto_encode_*                    encoders (append to a GString or a caller buffer)
 *
 * ZERO-COPY
 *   When a whole operation (control line + payload) lies inside the fed slice, the
 *   callbacks receive pointers into that slice: nothing is copied. Only an operation
 *   split across feeds is gathered into the parser's own buffer, which is bounded by
 *   max_control_line + max_payload + 2. Pointers are valid only during the callback.
 *
 * INVARIANTS
 *   - Splitting the input at any byte offset produces the same callbacks, in order.
 *   - The parser never allocates more than its bound, whatever the input.
 *   - Operation names are case-insensitive; arguments are separated by runs of spaces and
 *     tabs; trailing blanks are ignored; CRLF or a bare LF ends a control line.
 */
#ifndef MINIJET_PROTO_H
#define MINIJET_PROTO_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* A PUB or HPUB. hdr_len == 0 means no headers (HPUB with header length 0 included). */
typedef struct ProtoPub {
    const char *subject;
    size_t subject_len;
    const char *reply; /* NULL when absent */
    size_t reply_len;
    const uint8_t *hdr; /* header block, "NATS/1.0..." through the blank line; NULL if none */
    size_t hdr_len;
    const uint8_t *payload;
    size_t payload_len;
    bool is_hpub; /* sent as HPUB (the server checks the connection negotiated headers) */
} ProtoPub;

typedef struct ProtoSub {
    const char *subject;
    size_t subject_len;
    const char *queue; /* NULL when absent */
    size_t queue_len;
    const char *sid;
    size_t sid_len;
} ProtoSub;

typedef struct ProtoUnsub {
    const char *sid;
    size_t sid_len;
    int64_t max; /* -1 when absent */
} ProtoUnsub;

/* Each callback returns false to stop parsing (the connection is being closed). */
typedef struct ProtoCallbacks {
    bool (*on_connect)(void *ctx, const char *json, size_t len);
    bool (*on_pub)(void *ctx, const ProtoPub *pub);
    bool (*on_sub)(void *ctx, const ProtoSub *sub);
    bool (*on_unsub)(void *ctx, const ProtoUnsub *unsub);
    bool (*on_ping)(void *ctx);
    bool (*on_pong)(void *ctx);
    /* client-sent INFO, +OK and -ERR are accepted and ignored (no callback) */
} ProtoCallbacks;

typedef struct ProtoLimits {
    size_t max_payload_bytes;      /* PUB/HPUB total above this -> MJ_ERR_PROTO_MAX_PAYLOAD */
    size_t max_control_line_bytes; /* longer line -> MJ_ERR_PROTO_MAX_CONTROL_LINE */
} ProtoLimits;

typedef enum {
    PROTO_STATE_OP,      /* gathering a control line */
    PROTO_STATE_PAYLOAD, /* gathering the payload (+ CRLF) of a PUB/HPUB */
} ProtoState;

/* The fields below are private to proto.c; they are in the header only so a parser can live
 * inside a connection struct without an allocation. */
typedef struct ProtoParser {
    ProtoLimits limits;
    ProtoState state;
    bool dead;           /* a fatal error was returned or a callback stopped: feed no more */
    /* Bytes of an operation split across feeds. In PROTO_STATE_OP: the control line so far.
     * In PROTO_STATE_PAYLOAD: subject, reply, then the payload and CRLF gathered so far.
     * Allocated lazily, never larger than max_control_line + max_payload + 2. */
    uint8_t *buf;
    size_t buf_len;
    size_t buf_cap;
    /* the PUB/HPUB whose payload is being gathered (PROTO_STATE_PAYLOAD only): lengths are
     * valid, pointers are NULL and rebuilt from buf on delivery */
    size_t need_bytes;   /* payload bytes + 2 (CRLF) still expected */
    size_t pending_total; /* header + payload bytes announced by the control line */
    bool pending_has_reply;
    ProtoPub pending;
} ProtoParser;

void proto_parser_init(ProtoParser *p, const ProtoLimits *limits);
void proto_parser_clear(ProtoParser *p);
MjError proto_parser_feed(ProtoParser *p, const uint8_t *data, size_t len,
                          const ProtoCallbacks *cb, void *ctx);

/* --- encoders --- */

/* "MSG <subject> <sid> [reply] <len>\r\n" or, when hdr_len > 0,
 * "HMSG <subject> <sid> [reply] <hdr_len> <hdr_len+payload_len>\r\n".
 * Writes into out (which must hold proto_msg_line_max(...) bytes); returns the length. */
size_t proto_msg_line_max(size_t subject_len, size_t sid_len, size_t reply_len);
size_t proto_encode_msg_line(char *out, const char *subject, size_t subject_len, const char *sid,
                             size_t sid_len, const char *reply, size_t reply_len, size_t hdr_len,
                             size_t payload_len);

/* "-ERR '<text>'\r\n" appended to out. */
void proto_encode_err(GString *out, const char *text);

/* Constant lines. */
#define PROTO_PING "PING\r\n"
#define PROTO_PONG "PONG\r\n"
#define PROTO_OK "+OK\r\n"

#endif
