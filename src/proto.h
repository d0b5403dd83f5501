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
 *   proto_parser_clear(p)             free what the parser buffered
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

typedef struct ProtoParser {
    ProtoLimits limits;
    ProtoState state;
    GByteArray *buf;     /* bytes of an operation split across feeds (control line, payload) */
    /* the PUB/HPUB whose payload is being gathered, parsed from its control line */
    size_t ctl_len;      /* length of the control line stored at buf[0..ctl_len) */
    size_t need_bytes;   /* payload bytes + 2 (CRLF) still expected for the pending PUB */
    ProtoPub pending;    /* offsets into buf while gathering; pointers are rebuilt on delivery */
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
