/* jsapi.h — the `$JS.API.>` request handlers: JSON in, JSON out (spec 2, 3.1-3.6).
 *
 * INTERFACE
 *   jsapi_handle(js, msg)   one request, from jetstream.c's internal subscription. Answers
 *                           on msg->reply with one JSON message (DIRECT.GET: headers), or
 *                           not at all for unknown subjects, wrong token counts, requests
 *                           without a reply subject and DIRECT.GET on a stream without
 *                           allow_direct (nats-server does the same; clients time out).
 */
#ifndef MINIJET_JSAPI_H
#define MINIJET_JSAPI_H

#include "jetstream.h"
#include "server.h"

void jsapi_handle(JetStream *js, const ServerMsg *m);

#endif
