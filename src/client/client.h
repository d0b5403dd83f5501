/* client.h — a small sans-IO NATS client: bytes in, bytes out, callbacks for what happened.
 *
 * WHAT IT IS
 *   The project's own client, used by the simulator's workloads, the CLI and the labs. It
 *   owns no socket, no clock and no thread: the caller feeds it the bytes the server sent
 *   (client_feed) and ships the bytes it wants to send (client_output / client_output_consume).
 *   Because it never does IO it runs unchanged inside the deterministic simulator, where the
 *   "socket" is a simulated byte stream, and in a real program around a real socket.
 *
 * INTERFACE
 *   client_new(opts, cb, ctx)          a client in state CLIENT_WAIT_INFO
 *   client_feed(c, data, len, error)   parse server bytes (any split); callbacks run in order;
 *                                      FALSE on a protocol error (caller drops the connection)
 *   client_output(c, &len)             bytes waiting to be sent; client_output_consume(c, n)
 *   client_set_credentials(c, user, pass, token)   sent in CONNECT (NULL = none)
 *   client_reset(c)                    the connection broke: forget the stream state, keep
 *                                      subscriptions (re-sent after the next INFO) and fail
 *                                      pending requests with CLIENT_REPLY_DISCONNECTED
 *   client_subscribe / client_unsubscribe / client_publish / client_hpublish / client_ping
 *   client_request(c, subject, payload, len) -> request id; the answer arrives in on_reply
 *   client_request_cancel(c, id)       the caller's timeout fired: forget the request
 *   client_inbox_new(c)                a fresh "_INBOX.<prefix>.<n>" subject (g_free it)
 *   client_header_status(hdr, len)     the status code of a "NATS/1.0 503" header block, 0 if none
 *   client_header_get(hdr, len, key)   a header value (g_free it), NULL when absent
 *
 * HANDSHAKE
 *   server: INFO {...}        client: CONNECT {...} PING   (plus SUBs of live subscriptions)
 *   server: PONG              -> state CLIENT_CONNECTED, on_connected()
 *   Operations issued before that are buffered in the output and flow right after CONNECT,
 *   which is also what real clients do while reconnecting.
 *
 * INVARIANTS
 *   - Splitting the server's bytes at any offset gives the same callbacks in the same order.
 *   - Subscription ids count up from 1 and are never reused by one client.
 *   - The client never buffers more than max_control_line + max_payload + 2 bytes of input.
 *   - No OS calls, no randomness: the inbox prefix comes from the caller.
 *   - Callbacks may subscribe, publish, request and ping, but must not call client_feed,
 *     client_reset or client_free on the same client (the parser is mid-buffer).
 */
#ifndef MINIJET_CLIENT_H
#define MINIJET_CLIENT_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Client Client;

typedef enum {
    CLIENT_WAIT_INFO,    /* connected at the byte level, waiting for the server's INFO */
    CLIENT_WAIT_PONG,    /* CONNECT + PING sent, waiting for the PONG that confirms them */
    CLIENT_CONNECTED,    /* handshake done */
} ClientState;

typedef struct ClientOptions {
    const char *name;          /* CONNECT "name"; may be NULL */
    bool echo;                 /* CONNECT "echo": receive own publishes */
    const char *inbox_prefix;  /* e.g. "_INBOX.k3J9"; caller-supplied randomness; required */
    size_t max_payload_bytes;  /* input bound before INFO says otherwise; 0 = 1 MiB */
} ClientOptions;

/* A delivered message. Pointers are valid only during the callback. */
typedef struct ClientMsg {
    const char *subject;
    size_t subject_len;
    uint64_t sid;
    const char *reply; /* NULL when none */
    size_t reply_len;
    const uint8_t *hdr; /* NULL when none (MSG); the raw block for HMSG */
    size_t hdr_len;
    const uint8_t *payload;
    size_t payload_len;
} ClientMsg;

typedef enum {
    CLIENT_REPLY_OK,            /* a response message arrived */
    CLIENT_REPLY_NO_RESPONDERS, /* the server answered 503: nobody subscribes to the subject */
    CLIENT_REPLY_DISCONNECTED,  /* the connection broke before an answer */
} ClientReplyStatus;

typedef struct ClientCallbacks {
    void (*on_connected)(void *ctx);                       /* handshake completed */
    void (*on_msg)(void *ctx, const ClientMsg *msg);       /* MSG/HMSG for a subscription */
    void (*on_reply)(void *ctx, uint64_t request_id, ClientReplyStatus status,
                     const ClientMsg *msg);                /* msg NULL unless status OK */
    void (*on_error)(void *ctx, const char *text);         /* -ERR '<text>' */
    void (*on_pong)(void *ctx);                            /* PONG to a client_ping */
    void (*on_info)(void *ctx, const char *json, size_t len); /* every INFO (optional) */
} ClientCallbacks;

Client *client_new(const ClientOptions *opts, const ClientCallbacks *cb, void *ctx);
void client_free(Client *c);
ClientState client_state(const Client *c);
/* Credentials for the next CONNECT: "user"/"pass" and/or "auth_token" (NULL = leave out). */
void client_set_credentials(Client *c, const char *user, const char *pass, const char *token);

gboolean client_feed(Client *c, const uint8_t *data, size_t len, GError **error);
const uint8_t *client_output(const Client *c, size_t *len);
void client_output_consume(Client *c, size_t n);
void client_reset(Client *c);

/* Returns the new subscription id (>= 1). queue may be NULL. */
uint64_t client_subscribe(Client *c, const char *subject, const char *queue);
/* max > 0: auto-unsubscribe after max messages in total; 0: now. */
void client_unsubscribe(Client *c, uint64_t sid, uint64_t max);
void client_publish(Client *c, const char *subject, const char *reply, const void *payload,
                    size_t len);
void client_hpublish(Client *c, const char *subject, const char *reply, const void *hdr,
                     size_t hdr_len, const void *payload, size_t len);
void client_ping(Client *c);

uint64_t client_request(Client *c, const char *subject, const void *payload, size_t len);
void client_request_cancel(Client *c, uint64_t request_id);
size_t client_requests_pending(const Client *c);
char *client_inbox_new(Client *c);

int client_header_status(const uint8_t *hdr, size_t len);
char *client_header_get(const uint8_t *hdr, size_t len, const char *key);

/* The error domain of client_feed. */
#define CLIENT_ERROR (client_error_quark())
GQuark client_error_quark(void);
typedef enum { CLIENT_ERROR_PROTOCOL } ClientErrorCode;

#endif
