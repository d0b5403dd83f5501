/* jsapi.h — one $JS.API request and its reply: the helpers every endpoint answers with.
 *
 * WHAT IT IS
 *   JetStream's API is core request/reply on `$JS.API.>` (spec 2, 3.1-3.6). jetstream.c
 *   subscribes once and dispatches each request through one registration table to the
 *   endpoint files (stream_api.c: INFO, STREAM.*, DIRECT.GET; consumer_api.c: CONSUMER.*).
 *   Both answer through the helpers below, which sit under both so neither calls the other.
 *
 * INTERFACE
 *   jsapi_begin(r, kind)       start the reply object with "type": "io.nats...v1.<kind>"
 *   jsapi_send(r, error)       close it, publish it on r->reply, count it (error or not)
 *   jsapi_error(r, e)          add {"error":{code,err_code,description}} (from an MJ_JS_ERROR
 *                              GError) plus the zero fields some kinds carry, and send
 *   jsapi_error_code(r, err)   the same for a bare errors.def row
 *   jsapi_send_raw(r, ...)     a reply that is not JSON (DIRECT.GET: headers and a payload)
 *
 * INVARIANTS
 *   - A request gets at most one reply: r->answered turns true once and nothing is sent after.
 */
#ifndef MINIJET_JSAPI_H
#define MINIJET_JSAPI_H

#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "errors.h"
#include "server.h"

typedef struct JetStream JetStream; /* jetstream.h, above this file */

/* $JS.API.INFO's "api" numbers: replies sent, and how many were errors. */
typedef struct JsApiCounters {
    uint64_t total, errors;
} JsApiCounters;

/* One $JS.API request being answered (jetstream_api_req makes one). */
typedef struct JsApiReq {
    JetStream *js;
    Server *srv;
    JsApiCounters *counters; /* counted here when a reply goes out; NULL: not counted */
    const ServerMsg *m;
    const char *subject; /* the request subject, NUL-terminated */
    char *reply;      /* the reply subject, NUL-terminated */
    const char *kind; /* "stream_info_response", ... */
    JsonBuilder *b;   /* the reply object, "type" already written; NULL when not begun */
    bool answered, error; /* a reply went out (and was an error) */
} JsApiReq;

/* An endpoint: t = the subject's tokens after "$JS.API.", n of them. */
typedef void (*JsApiHandler)(JsApiReq *r, char **t, guint n);

/* One row of the registration table (jetstream_api_register). */
typedef struct JsApiEndpoint {
    const char *prefix;   /* leading tokens after "$JS.API.", e.g. "STREAM.MSG.GET" */
    guint min_tokens;     /* the subject's tokens after "$JS.API.", prefix included */
    guint max_tokens;     /* 0 = no upper bound */
    bool no_empty_tokens; /* a subject with an empty token gets no reply (CONSUMER.*) */
    JsApiHandler fn;
} JsApiEndpoint;

void jsapi_begin(JsApiReq *r, const char *kind);
void jsapi_send(JsApiReq *r, bool error);
void jsapi_error(JsApiReq *r, const GError *e);
void jsapi_error_code(JsApiReq *r, MjError err);
void jsapi_send_raw(JsApiReq *r, const char *hdr, size_t hdr_len, const void *data, size_t len);

#endif
