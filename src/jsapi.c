/* jsapi.c — the reply helpers of the JetStream API (see jsapi.h).
 *
 * Every $JS.API reply is one message on the request's reply subject: a JSON object whose
 * "type" names the response kind, exactly as nats-server 2.9.10 writes it, because clients
 * switch on its fields (`type` for nats.js's pager, `error.err_code` for KV create,
 * `error.description` for "stream not found").
 *
 * ERRORS
 *   Endpoints return a GError in the MJ_JS_ERROR domain (code = errors.def row, message = the
 *   exact description); jsapi_error() turns it into {"type","error":{code,err_code,
 *   description}} plus the zero fields some kinds carry (info: total/offset/limit; purge:
 *   purged).
 *
 * Book: chapter 5 (the stream log), section "streams from the outside".
 */
#include "jsapi.h"

#include <string.h>

#include "jsonutil.h"

#define TYPE_PREFIX "io.nats.jetstream.api.v1."


void jsapi_begin(JsApiReq *r, const char *kind) {
    r->kind = kind;
    r->b = json_builder_new();
    json_builder_begin_object(r->b);
    g_autofree char *type = g_strconcat(TYPE_PREFIX, kind, NULL);
    jsonu_add_string(r->b, "type", type);
}

void jsapi_send(JsApiReq *r, bool error) {
    json_builder_end_object(r->b);
    g_autofree char *json = jsonu_builder_to_string(r->b);
    g_clear_object(&r->b);
    jsapi_send_raw(r, NULL, 0, json, strlen(json));
    r->error = error;
    if (error && r->counters != NULL) r->counters->errors++;
}

void jsapi_send_raw(JsApiReq *r, const char *hdr, size_t hdr_len, const void *data, size_t len) {
    g_assert(!r->answered);
    r->answered = true;
    if (r->counters != NULL) r->counters->total++;
    server_publish(r->srv, r->reply, NULL, hdr, hdr_len, data, len);
}

void jsapi_error(JsApiReq *r, const GError *e) {
    g_assert(e->domain == MJ_JS_ERROR);
    const MjErrorInfo *info = mj_error_info((MjError)e->code);
    json_builder_set_member_name(r->b, "error");
    json_builder_begin_object(r->b);
    jsonu_add_int(r->b, "code", info->code);
    jsonu_add_int(r->b, "err_code", info->err_code);
    jsonu_add_string(r->b, "description", e->message);
    json_builder_end_object(r->b);
    if (strcmp(r->kind, "stream_info_response") == 0) {
        jsonu_add_int(r->b, "total", 0);
        jsonu_add_int(r->b, "offset", 0);
        jsonu_add_int(r->b, "limit", 0);
    } else if (strcmp(r->kind, "stream_purge_response") == 0) {
        jsonu_add_int(r->b, "purged", 0);
    }
    jsapi_send(r, true);
}

void jsapi_error_code(JsApiReq *r, MjError err) {
    g_autoptr(GError) e = NULL;
    mj_js_error(&e, err, NULL);
    jsapi_error(r, e);
}

