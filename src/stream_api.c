/* stream_api.c — the JetStream API's stream endpoints: `$JS.API.STREAM.*`, INFO, DIRECT.GET.
 *
 * WHAT IT IS
 *   Clients manage streams with core requests on `$JS.API.*` subjects (spec 3.1). This file
 *   turns each into a call on jetstream.c / stream.c and writes the reply exactly as
 *   nats-server 2.9.10 does, because clients switch on its fields: `type` (nats.js's pager),
 *   `error.err_code` (KV create), `error.description` ("stream not found"), `did_create`,
 *   the paging fields, and `"streams":null` for an empty NAMES page.
 *
 * INTERFACE (stream_api.h)
 *   stream_api_register(js)   put this file's rows into jetstream.c's $JS.API table; the
 *                             replies go through jsapi.c's helpers, as consumer_api.c's do
 *
 * THE SUBJECTS (after "$JS.API.")
 *   INFO                                    account_info_response
 *   STREAM.CREATE|UPDATE|INFO|DELETE|PURGE.<s>   stream_<verb>_response
 *   STREAM.NAMES, STREAM.LIST               paged
 *   STREAM.MSG.GET|DELETE.<s>               stream_msg_get/delete_response
 *   DIRECT.GET.<s>[.<subject...>]           a header-carrying message, not JSON
 *   Anything else, or a wrong number of tokens: no reply (clients time out), as nats-server.
 *
 * ERRORS
 *   Handlers return a GError in the MJ_JS_ERROR domain (code = errors.def row, message = the
 *   exact description); jsapi_error() turns it into {"type","error":{code,err_code,
 *   description}} plus the zero fields some kinds carry (info: total/offset/limit; purge:
 *   purged).
 *
 * Book: chapter 5 (the stream log), section "streams from the outside".
 */
#include "stream_api.h"

#include <string.h>

#include "consumer.h"
#include "jsapi.h"
#include "jsonutil.h"
#include "limits.h"
#include "sublist.h"

/* The body as an object; an empty body gives an empty object when `empty_ok`. Returns NULL
 * after answering 10025 (or 10003 where nats-server says "bad request"). */
static JsonObject *req_body(JsApiReq *r, JsonParser **parser, bool empty_ok, MjError bad) {
    if (r->m->payload_len == 0 && empty_ok) {
        *parser = json_parser_new();
        json_parser_load_from_data(*parser, "{}", 2, NULL);
        return json_node_get_object(json_parser_get_root(*parser));
    }
    JsonObject *o = jsonu_parse_object(r->m->payload, r->m->payload_len, parser);
    if (o == NULL) jsapi_error_code(r, bad);
    return o;
}

static Stream *req_stream(JsApiReq *r, const char *name) {
    Stream *st = jetstream_lookup(r->js, name);
    if (st == NULL) jsapi_error_code(r, MJ_ERR_JS_STREAM_NOT_FOUND);
    return st;
}

/* ------------------------------------------------------------------ account */

/* The account's use. Its "limits" are the account's own (nats-server 2.9.10: -1 for the
 * default account even with max_file_store set; the server's limits are in /jsz). */
static void api_info(JsApiReq *r) {
    g_autoptr(GPtrArray) all = jetstream_streams(r->js);
    uint64_t total, errors;
    JetStreamUsage u;
    jetstream_usage(r->js, &u);
    jetstream_api_stats(r->js, &total, &errors);
    jsapi_begin(r, "account_info_response");
    jsonu_add_int(r->b, "memory", u.memory);
    jsonu_add_int(r->b, "storage", u.storage);
    int64_t consumers = 0; /* every consumer of every stream, ephemerals too (nats-server) */
    for (guint i = 0; i < all->len; i++) consumers += consumer_set_count(consumer_set_of(all->pdata[i]));
    jsonu_add_int(r->b, "streams", all->len);
    jsonu_add_int(r->b, "consumers", consumers);
    json_builder_set_member_name(r->b, "limits");
    json_builder_begin_object(r->b);
    static const char *const unlimited[] = {"max_memory", "max_storage", "max_streams", "max_consumers",
                                            "max_ack_pending", "memory_max_stream_bytes",
                                            "storage_max_stream_bytes"};
    for (size_t i = 0; i < G_N_ELEMENTS(unlimited); i++) jsonu_add_int(r->b, unlimited[i], -1);
    jsonu_add_bool(r->b, "max_bytes_required", false);
    json_builder_end_object(r->b);
    if (jetstream_domain(r->js) != NULL) jsonu_add_string(r->b, "domain", jetstream_domain(r->js));
    json_builder_set_member_name(r->b, "api");
    json_builder_begin_object(r->b);
    jsonu_add_int(r->b, "total", (int64_t)total);
    jsonu_add_int(r->b, "errors", (int64_t)errors);
    json_builder_end_object(r->b);
    jsapi_send(r, false);
}

/* ------------------------------------------------------------------ create / update */

/* Decode, check the name against the subject, apply defaults and validate. */
static StreamConfig *req_config(JsApiReq *r, const char *name, bool create) {
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = req_body(r, &parser, false, MJ_ERR_JS_INVALID_JSON);
    if (o == NULL) return NULL;
    g_autoptr(GError) e = NULL;
    g_autoptr(StreamConfig) cfg = stream_config_parse(o, &e);
    if (cfg != NULL && strcmp(cfg->name, name) != 0)
        mj_js_error(&e, MJ_ERR_JS_STREAM_NAME_MISMATCH, NULL);
    else if (cfg != NULL && stream_config_validate(cfg, &e) && stream_config_check_template(cfg, create, &e) &&
             cfg->num_replicas > 1 && !jetstream_clustered(r->js))
        mj_js_error(&e, MJ_ERR_JS_REPLICAS_NOT_SUPPORTED, NULL); /* a cluster places replicas (jscluster.c) */
    if (e != NULL) {
        jsapi_error(r, e);
        return NULL;
    }
    return g_steal_pointer(&cfg);
}

static void reply_stream(JsApiReq *r, Stream *st, const StreamInfoReq *ir, bool did_create) {
    stream_build_info(st, r->b, ir);
    if (did_create) jsonu_add_bool(r->b, "did_create", true);
    jsapi_send(r, false);
}

static void api_stream_create(JsApiReq *r, const char *name) {
    jsapi_begin(r, "stream_create_response");
    g_autoptr(StreamConfig) cfg = req_config(r, name, true);
    if (cfg == NULL) return;
    g_autoptr(GError) e = NULL;
    Stream *st = jetstream_lookup(r->js, name);
    if (cfg->sealed) {
        mj_js_error(&e, MJ_ERR_JS_STREAM_INVALID_CONFIG, "stream configuration for create can not be sealed");
    } else if (st != NULL) {
        /* CREATE is idempotent: the same config again is a success, and says did_create. */
        if (!stream_config_equal(stream_config(st), cfg)) mj_js_error(&e, MJ_ERR_JS_STREAM_NAME_EXISTS, NULL);
    } else {
        st = jetstream_add(r->js, g_steal_pointer(&cfg), &e);
        if (st != NULL) stream_action_advisory(st, NULL, "create");
    }
    if (e != NULL) {
        jsapi_error(r, e);
        return;
    }
    reply_stream(r, st, NULL, true);
}

static void api_stream_update(JsApiReq *r, const char *name) {
    jsapi_begin(r, "stream_update_response");
    g_autoptr(StreamConfig) cfg = req_config(r, name, false);
    if (cfg == NULL) return;
    Stream *st = req_stream(r, name);
    if (st == NULL) return;
    g_autoptr(GError) e = NULL;
    if (!stream_config_check_update(stream_config(st), cfg, &e) ||
        !jetstream_check_overlap(r->js, cfg, st, &e) ||
        !jetstream_check_reservation(r->js, cfg, stream_config(st), &e) ||
        !jetstream_update(r->js, st, g_steal_pointer(&cfg), &e)) {
        if (e->domain != MJ_JS_ERROR) { /* meta write failed */
            g_autoptr(GError) e2 = NULL;
            mj_js_error(&e2, MJ_ERR_JS_STREAM_GENERAL, "%s", e->message);
            jsapi_error(r, e2);
        } else {
            jsapi_error(r, e);
        }
        return;
    }
    stream_action_advisory(st, NULL, "modify");
    reply_stream(r, st, NULL, false);
}

/* ------------------------------------------------------------------ info / delete / purge */

static void api_stream_info(JsApiReq *r, const char *name) {
    jsapi_begin(r, "stream_info_response");
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = req_body(r, &parser, true, MJ_ERR_JS_INVALID_JSON);
    if (o == NULL) return;
    StreamInfoReq ir = {.domain = true};
    if (!jsonu_get_string(o, "subjects_filter", &ir.subjects_filter) ||
        !jsonu_get_bool(o, "deleted_details", &ir.deleted_details) ||
        !jsonu_get_int(o, "offset", &ir.offset)) {
        jsapi_error_code(r, MJ_ERR_JS_INVALID_JSON);
        return;
    }
    Stream *st = req_stream(r, name);
    if (st == NULL) return;
    if (ir.subjects_filter != NULL && ir.subjects_filter[0] == '\0') ir.subjects_filter = NULL;
    int64_t total = 0;
    if (ir.subjects_filter != NULL) total = stream_subjects_total(st, ir.subjects_filter);
    ir.offset = CLAMP(ir.offset, 0, total);
    jsonu_add_int(r->b, "total", total);
    jsonu_add_int(r->b, "offset", ir.offset);
    jsonu_add_int(r->b, "limit", ir.subjects_filter != NULL ? LIMIT_JS_API_SUBJECTS_PAGE_COUNT : 0);
    reply_stream(r, st, &ir, false);
}

static void api_stream_delete(JsApiReq *r, const char *name) {
    jsapi_begin(r, "stream_delete_response");
    Stream *st = req_stream(r, name);
    if (st == NULL) return;
    /* nats-server stops the consumers first, each with its advisory, then the stream */
    g_autoptr(GPtrArray) cs = consumer_set_list(consumer_set_of(st));
    for (guint i = 0; i < cs->len; i++) stream_action_advisory(st, consumer_name(cs->pdata[i]), "delete");
    stream_action_advisory(st, NULL, "delete");
    jetstream_delete(r->js, st);
    jsonu_add_bool(r->b, "success", true);
    jsapi_send(r, false);
}

static void api_stream_purge(JsApiReq *r, const char *name) {
    jsapi_begin(r, "stream_purge_response");
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = req_body(r, &parser, true, MJ_ERR_JS_INVALID_JSON);
    if (o == NULL) return;
    const char *filter = NULL;
    int64_t seq = 0, keep = 0;
    if (!jsonu_get_string(o, "filter", &filter) || !jsonu_get_int(o, "seq", &seq) ||
        !jsonu_get_int(o, "keep", &keep) || seq < 0 || keep < 0) {
        jsapi_error_code(r, MJ_ERR_JS_INVALID_JSON);
        return;
    }
    Stream *st = req_stream(r, name);
    if (st == NULL) return;
    if ((seq > 0 && keep > 0) ||
        (filter != NULL && filter[0] != '\0' && !subject_valid_subscribe(filter, strlen(filter)))) {
        jsapi_error_code(r, MJ_ERR_JS_BAD_REQUEST);
        return;
    }
    int64_t upto = 0; /* a replicated purge's bound (jscluster.c, op 2): not a client's field */
    jsonu_get_int(o, "_mj_upto", &upto);
    StorePurge req = {.filter = filter, .seq = (uint64_t)seq, .keep = (uint64_t)keep, .last = (uint64_t)MAX(upto, 0)};
    uint64_t purged = 0;
    g_autoptr(GError) e = NULL;
    if (!stream_purge(st, &req, &purged, &e)) {
        jsapi_error(r, e);
        return;
    }
    jsonu_add_bool(r->b, "success", true);
    jsonu_add_int(r->b, "purged", (int64_t)purged);
    jsapi_send(r, false);
}

/* ------------------------------------------------------------------ names / list */

typedef struct Page {
    int64_t offset;
    const char *subject; /* NULL = every stream */
} Page;

/* p->subject points into *parser. */
static bool req_page(JsApiReq *r, Page *p, JsonParser **parser) {
    *p = (Page){0};
    JsonObject *o = NULL;
    if (r->m->payload_len > 0) {
        o = jsonu_parse_object(r->m->payload, r->m->payload_len, parser);
        if (o == NULL || !jsonu_get_int(o, "offset", &p->offset) || !jsonu_get_string(o, "subject", &p->subject)) {
            jsapi_error_code(r, MJ_ERR_JS_INVALID_JSON);
            return false;
        }
        if (p->subject != NULL && p->subject[0] == '\0') p->subject = NULL;
    }
    return true;
}

static bool stream_has_subject(Stream *st, const char *filter) {
    if (filter == NULL) return true;
    for (char **s = stream_config(st)->subjects; *s != NULL; s++)
        if (subject_patterns_overlap(*s, filter)) return true;
    return false;
}

static void api_stream_page(JsApiReq *r, bool list) {
    jsapi_begin(r, list ? "stream_list_response" : "stream_names_response");
    Page p;
    g_autoptr(JsonParser) parser = NULL;
    if (!req_page(r, &p, &parser)) return;
    g_autoptr(GPtrArray) all = jetstream_streams(r->js);
    g_autoptr(GPtrArray) match = g_ptr_array_new();
    for (guint i = 0; i < all->len; i++)
        if (stream_has_subject(g_ptr_array_index(all, i), p.subject)) g_ptr_array_add(match, g_ptr_array_index(all, i));
    int64_t limit = list ? LIMIT_JS_API_LIST_PAGE_COUNT : LIMIT_JS_API_NAMES_PAGE_COUNT;
    int64_t total = match->len, offset = CLAMP(p.offset, 0, total);
    int64_t end = MIN(total, offset + limit);
    jsonu_add_int(r->b, "total", total);
    jsonu_add_int(r->b, "offset", offset);
    jsonu_add_int(r->b, "limit", limit);
    json_builder_set_member_name(r->b, "streams");
    if (offset >= end && !list) {
        json_builder_add_null_value(r->b); /* nats-server's nil slice; nats.js expects it */
    } else {
        json_builder_begin_array(r->b);
        for (int64_t i = offset; i < end; i++) {
            Stream *st = g_ptr_array_index(match, (guint)i);
            if (list) {
                json_builder_begin_object(r->b);
                stream_build_info(st, r->b, &(StreamInfoReq){.domain = true});
                json_builder_end_object(r->b);
            } else {
                json_builder_add_string_value(r->b, stream_name(st));
            }
        }
        json_builder_end_array(r->b);
    }
    jsapi_send(r, false);
}

/* ------------------------------------------------------------------ messages */

typedef struct GetReq {
    int64_t seq;
    const char *last_by_subj;
    const char *next_by_subj;
} GetReq;

/* FALSE when the request is not exactly one of the three forms. */
static bool get_req_parse(JsonObject *o, GetReq *g) {
    *g = (GetReq){0};
    if (!jsonu_get_int(o, "seq", &g->seq) || !jsonu_get_string(o, "last_by_subj", &g->last_by_subj) ||
        !jsonu_get_string(o, "next_by_subj", &g->next_by_subj))
        return false;
    if (g->last_by_subj != NULL && g->last_by_subj[0] == '\0') g->last_by_subj = NULL;
    if (g->next_by_subj != NULL && g->next_by_subj[0] == '\0') g->next_by_subj = NULL;
    if (g->seq < 0 || (g->last_by_subj != NULL && (g->seq > 0 || g->next_by_subj != NULL))) return false;
    return g->seq > 0 || g->last_by_subj != NULL || g->next_by_subj != NULL;
}

static StoreMsg *get_msg(Stream *st, const GetReq *g) {
    Store *s = stream_store(st);
    if (g->last_by_subj != NULL) return store_load_last(s, g->last_by_subj, NULL);
    if (g->next_by_subj != NULL) return store_load_next(s, g->next_by_subj, (uint64_t)MAX(g->seq, 1), NULL);
    return store_load(s, (uint64_t)g->seq, NULL);
}

static void api_msg_get(JsApiReq *r, const char *name) {
    jsapi_begin(r, "stream_msg_get_response");
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = req_body(r, &parser, false, MJ_ERR_JS_BAD_REQUEST);
    if (o == NULL) return;
    Stream *st = req_stream(r, name);
    if (st == NULL) return;
    GetReq g;
    if (!get_req_parse(o, &g)) {
        jsapi_error_code(r, MJ_ERR_JS_BAD_REQUEST);
        return;
    }
    g_autoptr(StoreMsg) msg = get_msg(st, &g);
    if (msg == NULL) {
        jsapi_error_code(r, MJ_ERR_JS_NO_MESSAGE_FOUND);
        return;
    }
    json_builder_set_member_name(r->b, "message");
    json_builder_begin_object(r->b);
    jsonu_add_string(r->b, "subject", msg->subject);
    jsonu_add_int(r->b, "seq", (int64_t)msg->seq);
    if (msg->hdr_len > 0) {
        g_autofree char *h = g_base64_encode(msg->hdr, msg->hdr_len);
        jsonu_add_string(r->b, "hdrs", h);
    }
    if (msg->data_len > 0) {
        g_autofree char *d = g_base64_encode(msg->data, msg->data_len);
        jsonu_add_string(r->b, "data", d);
    }
    g_autofree char *t = jsonu_time_format(msg->ts_ns);
    jsonu_add_string(r->b, "time", t);
    json_builder_end_object(r->b);
    jsapi_send(r, false);
}

static void api_msg_delete(JsApiReq *r, const char *name) {
    jsapi_begin(r, "stream_msg_delete_response");
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = req_body(r, &parser, false, MJ_ERR_JS_BAD_REQUEST);
    if (o == NULL) return;
    Stream *st = req_stream(r, name);
    if (st == NULL) return;
    int64_t seq = 0;
    bool no_erase = false;
    if (!jsonu_get_int(o, "seq", &seq) || !jsonu_get_bool(o, "no_erase", &no_erase) || seq <= 0) {
        jsapi_error_code(r, MJ_ERR_JS_BAD_REQUEST);
        return;
    }
    g_autoptr(GError) e = NULL;
    if (!stream_remove_msg(st, (uint64_t)seq, !no_erase, &e)) {
        jsapi_error(r, e);
        return;
    }
    jsonu_add_bool(r->b, "success", true);
    jsapi_send(r, false);
}

/* ------------------------------------------------------------------ direct get (spec 3.6) */

static void direct_status(JsApiReq *r, const char *status) {
    g_autofree char *hdr = g_strdup_printf("NATS/1.0 %s\r\n\r\n", status);
    jsapi_send_raw(r, hdr, strlen(hdr), "", 0);
}

/* The stored headers first, then ours: clients take the last value of each key. */
static void direct_reply(JsApiReq *r, Stream *st, StoreMsg *msg) {
    g_autoptr(GString) h = g_string_new(NULL);
    if (msg->hdr_len >= 4 && memcmp(msg->hdr + msg->hdr_len - 4, "\r\n\r\n", 4) == 0)
        g_string_append_len(h, (const char *)msg->hdr, (gssize)msg->hdr_len - 2);
    else
        g_string_append(h, "NATS/1.0\r\n");
    char ts[JSONU_TIME_MAX];
    jsonu_time_format_buf(msg->ts_ns, ts);
    g_string_append_printf(h, "Nats-Stream: %s\r\nNats-Subject: %s\r\nNats-Sequence: %" G_GUINT64_FORMAT
                           "\r\nNats-Time-Stamp: %s\r\n\r\n", stream_name(st), msg->subject, msg->seq, ts);
    jsapi_send_raw(r, h->str, h->len, msg->data, msg->data_len);
}

static void api_direct_get(JsApiReq *r, const char *name, const char *subject) {
    Stream *st = jetstream_lookup(r->js, name);
    if (st == NULL || !stream_config(st)->allow_direct) return; /* not registered: silence */
    GetReq g = {0};
    if (subject != NULL) {
        if (r->m->payload_len > 0) return direct_status(r, "408 Bad Request");
        g.last_by_subj = subject;
    } else {
        if (r->m->payload_len == 0) return direct_status(r, "408 Empty Request");
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *o = jsonu_parse_object(r->m->payload, r->m->payload_len, &parser);
        if (o == NULL) return direct_status(r, "408 Malformed Request");
        if (!get_req_parse(o, &g)) return direct_status(r, "408 Bad Request");
        g_autoptr(StoreMsg) msg = get_msg(st, &g);
        if (msg == NULL) return direct_status(r, "404 Message Not Found");
        return direct_reply(r, st, msg);
    }
    g_autoptr(StoreMsg) msg = get_msg(st, &g);
    if (msg == NULL) return direct_status(r, "404 Message Not Found");
    direct_reply(r, st, msg);
}

/* ------------------------------------------------------------------ the table's rows */

static void ep_info(JsApiReq *r, char **t, guint n) { api_info(r); }
static void ep_names(JsApiReq *r, char **t, guint n) { api_stream_page(r, false); }
static void ep_list(JsApiReq *r, char **t, guint n) { api_stream_page(r, true); }
static void ep_create(JsApiReq *r, char **t, guint n) { api_stream_create(r, t[2]); }
static void ep_update(JsApiReq *r, char **t, guint n) { api_stream_update(r, t[2]); }
static void ep_stream_info(JsApiReq *r, char **t, guint n) { api_stream_info(r, t[2]); }
static void ep_delete(JsApiReq *r, char **t, guint n) { api_stream_delete(r, t[2]); }
static void ep_purge(JsApiReq *r, char **t, guint n) { api_stream_purge(r, t[2]); }
static void ep_msg_get(JsApiReq *r, char **t, guint n) { api_msg_get(r, t[3]); }
static void ep_msg_delete(JsApiReq *r, char **t, guint n) { api_msg_delete(r, t[3]); }

/* DIRECT.GET.<s> or DIRECT.GET.<s>.<subject tokens...> */
static void ep_direct_get(JsApiReq *r, char **t, guint n) {
    const char *tail = n > 3 ? r->subject + strlen("$JS.API.DIRECT.GET.") + strlen(t[2]) + 1 : NULL;
    api_direct_get(r, t[2], tail);
}

static const JsApiEndpoint endpoints[] = {
    {"INFO", 1, 1, false, ep_info},
    {"STREAM.NAMES", 2, 2, false, ep_names},
    {"STREAM.LIST", 2, 2, false, ep_list},
    {"STREAM.CREATE", 3, 3, false, ep_create},
    {"STREAM.UPDATE", 3, 3, false, ep_update},
    {"STREAM.INFO", 3, 3, false, ep_stream_info},
    {"STREAM.DELETE", 3, 3, false, ep_delete},
    {"STREAM.PURGE", 3, 3, false, ep_purge},
    {"STREAM.MSG.GET", 4, 4, false, ep_msg_get},
    {"STREAM.MSG.DELETE", 4, 4, false, ep_msg_delete},
    {"DIRECT.GET", 3, 0, false, ep_direct_get},
};

void stream_api_register(JetStream *js) { jetstream_api_register(js, endpoints, G_N_ELEMENTS(endpoints)); }
