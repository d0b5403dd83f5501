/* jsapi.h — the `$JS.API.>` request handlers: JSON in, JSON out (spec 2, 3.1-3.6).
 *
 * INTERFACE
 *   jsapi_handle(js, msg)   one request, from jetstream.c's internal subscription. Answers
 *                           on msg->reply with one JSON message (DIRECT.GET: headers), or
 *                           not at all for unknown subjects, wrong token counts, requests
 *                           without a reply subject and DIRECT.GET on a stream without
 *                           allow_direct (nats-server does the same; clients time out).
 *
 *   The reply helpers, shared with consumer_api.c (one way to answer any $JS.API request):
 *   jsapi_begin(r, kind)    start the reply object with "type": "io.nats...v1.<kind>"
 *   jsapi_send(r, error)    close it, publish it on r->reply, count it (error or not)
 *   jsapi_error(r, e)       add {"error":{code,err_code,description}} (from an MJ_JS_ERROR
 *                           GError) plus the zero fields some kinds carry, and send
 *   jsapi_error_code(r, err)   the same for a bare errors.def row
 */
#ifndef MINIJET_JSAPI_H
#define MINIJET_JSAPI_H

#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "errors.h"
#include "jetstream.h"
#include "server.h"

/* One $JS.API request being answered. */
typedef struct JsApiReq {
    JetStream *js;
    const ServerMsg *m;
    char *reply;      /* the reply subject, NUL-terminated */
    const char *kind; /* "stream_info_response", ... */
    JsonBuilder *b;   /* the reply object, "type" already written; NULL when not begun */
} JsApiReq;

void jsapi_handle(JetStream *js, const ServerMsg *m);

void jsapi_begin(JsApiReq *r, const char *kind);
void jsapi_send(JsApiReq *r, bool error);
void jsapi_error(JsApiReq *r, const GError *e);
void jsapi_error_code(JsApiReq *r, MjError err);

#endif
