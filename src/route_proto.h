/* route_proto.h — the route protocol (server <-> server): an incremental parser and the
 * encoders for what one server writes to another (spec nats-cluster.md 2.1-2.4).
 *
 * INTERFACE
 *   route_parser_init(p, limits)       a fresh parser for one route connection
 *   route_parser_feed(p, data, len, cb, ctx)
 *                                      feed any slice; complete operations go to the callbacks
 *                                      in order. Returns MJ_OK, or the fatal error that stopped
 *                                      parsing (the caller sends -ERR, logs once and closes);
 *                                      MJ_OK also when a callback returned false (closing).
 *                                      After either the parser is dead: only clear it.
 *   route_parser_clear(p)
 *   route_encode_sub / route_encode_unsub / route_encode_msg_line   what we send
 *
 * OPERATIONS (names case-insensitive, arguments split on runs of spaces and tabs)
 *   INFO {json}  CONNECT {json}  PING  PONG  +OK  -ERR 'text'
 *   RS+ <acc> <subject> [<queue> [<weight>]]   RS- <acc> <subject> [<queue>]
 *   LS+ <origin> <acc> <subject> [...]         LS- <origin> <acc> <subject> [...] (leafnode
 *                                               interest: same as RS+/RS- for us)
 *   RMSG <acc> <subject> [<reply>] <size>
 *   RMSG <acc> <subject> | <queue>... <size>          RMSG <acc> <subject> + <reply> <queue>... <size>
 *   HMSG as RMSG with <hdr_size> <total_size> in place of <size>.
 *
 * ERRORS (all fatal)
 *   MJ_ERR_PROTO_MAX_CONTROL_LINE  a control line longer than max_control_line_bytes
 *   MJ_ERR_PROTO_MAX_PAYLOAD       a message larger than max_payload_bytes
 *   MJ_ERR_PROTO_UNKNOWN_OP        unknown op, malformed arguments, a payload not followed
 *                                  by CRLF, HMSG header size > total
 *
 * INVARIANTS
 *   - Splitting the input at any byte offset produces the same callbacks, in order.
 *   - The parser buffers at most max_control_line + max_payload + 2 bytes; a whole operation
 *     inside one fed slice is handed over without copying.
 */
#ifndef MINIJET_ROUTE_PROTO_H
#define MINIJET_ROUTE_PROTO_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "limits.h"

typedef struct RouteStr {
    const char *p; /* NULL when absent */
    size_t len;
} RouteStr;

typedef struct RouteSub {
    RouteStr account, subject, queue; /* queue.p NULL for plain interest */
    uint32_t weight;                  /* RS+ with a queue: members on the sender (>= 1) */
} RouteSub;

typedef struct RouteMsg {
    RouteStr account, subject, reply; /* reply.p NULL when none */
    RouteStr queues[LIMIT_ROUTE_MSG_QUEUES_COUNT];
    size_t nq;
    const uint8_t *hdr; /* NULL, hdr_len 0 for RMSG */
    size_t hdr_len;
    const uint8_t *payload;
    size_t payload_len;
} RouteMsg;

/* Each returns false to stop parsing (the connection is being closed). */
typedef struct RouteCallbacks {
    bool (*on_info)(void *ctx, const char *json, size_t len);
    bool (*on_connect)(void *ctx, const char *json, size_t len);
    bool (*on_ping)(void *ctx);
    bool (*on_pong)(void *ctx);
    bool (*on_sub)(void *ctx, const RouteSub *sub, bool add); /* RS+/LS+ add, RS-/LS- remove */
    bool (*on_msg)(void *ctx, const RouteMsg *msg);
    bool (*on_err)(void *ctx, const char *text, size_t len); /* -ERR from the peer */
} RouteCallbacks;

typedef struct RouteLimits {
    size_t max_payload_bytes;
    size_t max_control_line_bytes;
} RouteLimits;

/* Private to route_proto.c; here so a parser can live inside a connection struct. */
typedef struct RouteParser {
    RouteLimits limits;
    bool in_payload; /* gathering a message's payload; buf starts with its control line */
    bool dead;
    uint8_t *buf;
    size_t buf_len, buf_cap;
    size_t line_len;   /* in_payload: the control line's length at the start of buf */
    size_t need_bytes; /* in_payload: payload bytes + CRLF still expected */
} RouteParser;

void route_parser_init(RouteParser *p, const RouteLimits *limits);
void route_parser_clear(RouteParser *p);
MjError route_parser_feed(RouteParser *p, const uint8_t *data, size_t len, const RouteCallbacks *cb,
                          void *ctx);

/* "RS+ <acc> <subject>[ <queue> <weight>]\r\n" / "RS- <acc> <subject>[ <queue>]\r\n" */
void route_encode_sub(GString *out, const char *account, const char *subject, const char *queue,
                      uint32_t weight);
void route_encode_unsub(GString *out, const char *account, const char *subject, const char *queue);
/* The RMSG/HMSG control line for a message (CRLF included); the caller sends hdr, payload
 * and CRLF after it. queues/nq as chosen for this peer. */
void route_encode_msg_line(GString *out, const char *account, const char *subject, size_t subject_len,
                           const char *reply, size_t reply_len, const char *const *queues, size_t nq,
                           size_t hdr_len, size_t payload_len);

#endif
