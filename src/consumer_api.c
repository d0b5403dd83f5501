/* consumer_api.c — `$JS.API.CONSUMER.*`: create, info, delete, names, list, and MSG.NEXT.
 *
 * THE SUBJECTS (after "$JS.API.CONSUMER.")
 *   CREATE.<s>                       ephemeral (a durable_name in the body -> 10020)
 *   CREATE.<s>.<name>                named: durable if durable_name (= name) is set, else a
 *                                    named ephemeral (inactive_threshold, default 5 s)
 *   CREATE.<s>.<name>.<filter...>    the tail must equal config.filter_subject (10131)
 *   DURABLE.CREATE.<s>.<d>           legacy durable: durable_name required (10018), equal (10017)
 *   INFO.<s>.<c>, DELETE.<s>.<c>     consumer_info_response / consumer_delete_response
 *   NAMES.<s>, LIST.<s>              paged ({"offset":n}), limits 1024 / 256
 *   MSG.NEXT.<s>.<c>                 a pull request: no JSON reply (messages or statuses);
 *                                    unknown stream/consumer -> no reply at all
 *   Anything else: no reply, as nats-server.
 *
 * The order of the create checks is nats-server 2.9.10's jsConsumerCreateRequest: JSON,
 * subject shape, stream name match, path separators, durable rules, filter tail, replicas,
 * stream lookup, then the config itself (consumer_config.c) and the stream's rules
 * (consumer_set.c: max_consumers, workqueue). Errors that are plain text in nats-server
 * (updates) come back as 10012 with that text.
 */
#include <string.h>

#include "consumer_int.h"
#include "jsapi.h"
#include "consumer_api.h"
#include "jsonutil.h"
#include "limits.h"

static ConsumerSet *lookup_set(JsApiReq *r, const char *stream, Stream **out) {
    Stream *st = jetstream_lookup(r->js, stream);
    if (st == NULL) {
        jsapi_error_code(r, MJ_ERR_JS_STREAM_NOT_FOUND);
        return NULL;
    }
    if (out != NULL) *out = st;
    return consumer_set_of(st);
}

/* The members of a ConsumerInfo (after "type"). */
static void build_info(Stream *st, Consumer *c, JsonBuilder *b) {
    jsonu_add_string(b, "stream_name", stream_name(st));
    jsonu_add_string(b, "name", consumer_name(c));
    g_autofree char *created = jsonu_time_format(consumer_created_ns(c));
    jsonu_add_string(b, "created", created);
    json_builder_set_member_name(b, "config");
    consumer_config_build(consumer_config(c), b);
    consumer_build_info(c, b);
    stream_build_cluster_info(st, b, !consumer_is_durable(c)); /* nats-server: ephemerals are R1 */
}

/* ------------------------------------------------------------------ create */

typedef enum { CREATE_NEW, CREATE_LEGACY_EPHEMERAL, CREATE_LEGACY_DURABLE } CreateKind;

/* t = tokens after "$JS.API.CONSUMER.", n of them. */
static void api_create(JsApiReq *r, char **t, guint n, const char *subject) {
    jsapi_begin(r, "consumer_create_response");
    CreateKind kind;
    const char *stream, *cname = NULL;
    g_autofree char *filter = NULL;
    if (strcmp(t[0], "DURABLE") == 0) {
        kind = CREATE_LEGACY_DURABLE;
        if (n != 4) return jsapi_error_code(r, MJ_ERR_JS_CONSUMER_DURABLE_NOT_IN_SUBJECT);
        stream = t[2];
        cname = t[3];
    } else if (n == 2) {
        kind = CREATE_LEGACY_EPHEMERAL;
        stream = t[1];
    } else {
        kind = CREATE_NEW;
        stream = t[1];
        cname = t[2];
        if (n > 3) { /* the filter: every token after the name, wildcards included */
            const char *p = subject;
            for (int dots = 0; dots < 6; p++)
                if (*p == '.') dots++;
            filter = g_strdup(p);
        }
    }
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(r->m->payload, r->m->payload_len, &parser);
    const char *req_stream = NULL;
    if (o == NULL || !jsonu_get_string(o, "stream_name", &req_stream))
        return jsapi_error_code(r, MJ_ERR_JS_INVALID_JSON);
    JsonNode *cn = json_object_get_member(o, "config");
    if (cn != NULL && !JSON_NODE_HOLDS_OBJECT(cn) && !JSON_NODE_HOLDS_NULL(cn))
        return jsapi_error_code(r, MJ_ERR_JS_INVALID_JSON);
    g_autoptr(GError) err = NULL;
    g_autoptr(ConsumerConfig) cfg = NULL;
    if (cn != NULL && JSON_NODE_HOLDS_OBJECT(cn)) {
        cfg = consumer_config_parse(json_node_get_object(cn), &err);
        if (cfg == NULL) return jsapi_error(r, err);
    } else {
        cfg = g_new0(ConsumerConfig, 1);
    }
    if (g_strcmp0(req_stream, stream) != 0) return jsapi_error_code(r, MJ_ERR_JS_STREAM_NAME_MISMATCH);
    if (cname != NULL && strpbrk(cname, "\\/") != NULL) return jsapi_error_code(r, MJ_ERR_JS_CONSUMER_NAME_PATH_SEPARATOR);
    if (kind == CREATE_LEGACY_DURABLE) {
        if (cfg->durable_name == NULL) return jsapi_error_code(r, MJ_ERR_JS_CONSUMER_DURABLE_NAME_NOT_SET);
        if (strcmp(cname, cfg->durable_name) != 0) return jsapi_error_code(r, MJ_ERR_JS_CONSUMER_DURABLE_NAME_NOT_MATCH);
    }
    if (kind == CREATE_NEW) {
        if (cfg->durable_name != NULL && strcmp(cname, cfg->durable_name) != 0)
            return jsapi_error_code(r, MJ_ERR_JS_CONSUMER_DURABLE_NAME_NOT_MATCH);
        g_free(cfg->name);
        cfg->name = g_strdup(cname); /* the token wins */
    }
    if (kind == CREATE_LEGACY_EPHEMERAL && cfg->durable_name != NULL)
        return jsapi_error_code(r, MJ_ERR_JS_CONSUMER_EPHEMERAL_WITH_DURABLE);
    if (filter != NULL && g_strcmp0(cfg->filter_subject, filter) != 0)
        return jsapi_error_code(r, MJ_ERR_JS_CONSUMER_CREATE_FILTER_MISMATCH);
    if (cfg->num_replicas > 1 && !jetstream_clustered(r->js)) return jsapi_error_code(r, MJ_ERR_JS_REPLICAS_NOT_SUPPORTED);
    Stream *st = NULL;
    ConsumerSet *set = lookup_set(r, stream, &st);
    if (set == NULL) return;
    Consumer *c = consumer_set_add(set, g_steal_pointer(&cfg), &err);
    if (c == NULL) return jsapi_error(r, err);
    build_info(st, c, r->b);
    jsapi_send(r, false);
}

/* ------------------------------------------------------------------ info, delete */

static Consumer *lookup(JsApiReq *r, const char *stream, const char *name, Stream **st) {
    ConsumerSet *set = lookup_set(r, stream, st);
    if (set == NULL) return NULL;
    Consumer *c = consumer_set_lookup(set, name);
    if (c == NULL) jsapi_error_code(r, MJ_ERR_JS_CONSUMER_NOT_FOUND);
    return c;
}

static void api_info(JsApiReq *r, const char *stream, const char *name) {
    jsapi_begin(r, "consumer_info_response");
    Stream *st;
    Consumer *c = lookup(r, stream, name, &st);
    if (c == NULL) return;
    build_info(st, c, r->b);
    jsapi_send(r, false);
}

static void api_delete(JsApiReq *r, const char *stream, const char *name) {
    jsapi_begin(r, "consumer_delete_response");
    Stream *st;
    Consumer *c = lookup(r, stream, name, &st);
    if (c == NULL) return;
    consumer_set_delete(consumer_set_of(st), c);
    jsonu_add_bool(r->b, "success", true);
    jsapi_send(r, false);
}

/* ------------------------------------------------------------------ names, list */

static void api_page(JsApiReq *r, const char *stream, bool list) {
    jsapi_begin(r, list ? "consumer_list_response" : "consumer_names_response");
    int64_t offset = 0;
    if (r->m->payload_len > 0) {
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *o = jsonu_parse_object(r->m->payload, r->m->payload_len, &parser);
        if (o == NULL || !jsonu_get_int(o, "offset", &offset)) return jsapi_error_code(r, MJ_ERR_JS_INVALID_JSON);
    }
    Stream *st = NULL;
    ConsumerSet *set = lookup_set(r, stream, &st);
    if (set == NULL) return;
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    int64_t limit = list ? LIMIT_CONSUMER_LIST_PAGE_COUNT : LIMIT_CONSUMER_NAMES_PAGE_COUNT;
    int64_t total = all->len, off = CLAMP(offset, 0, total), end = MIN(total, off + limit);
    jsonu_add_int(r->b, "total", total);
    jsonu_add_int(r->b, "offset", off);
    jsonu_add_int(r->b, "limit", limit);
    json_builder_set_member_name(r->b, "consumers");
    json_builder_begin_array(r->b);
    for (int64_t i = off; i < end; i++) {
        Consumer *c = g_ptr_array_index(all, (guint)i);
        if (list) {
            json_builder_begin_object(r->b);
            build_info(st, c, r->b);
            json_builder_end_object(r->b);
        } else {
            json_builder_add_string_value(r->b, consumer_name(c));
        }
    }
    json_builder_end_array(r->b);
    jsapi_send(r, false);
}

/* ------------------------------------------------------------------ the table's rows
 * t = the tokens after "$JS.API.", so t[0] is "CONSUMER" and the verb is t[1]. */

static void ep_create(JsApiReq *r, char **t, guint n) { api_create(r, t + 1, n - 1, r->subject); }
static void ep_info(JsApiReq *r, char **t, guint n) { api_info(r, t[2], t[3]); }
static void ep_delete(JsApiReq *r, char **t, guint n) { api_delete(r, t[2], t[3]); }
static void ep_names(JsApiReq *r, char **t, guint n) { api_page(r, t[2], false); }
static void ep_list(JsApiReq *r, char **t, guint n) { api_page(r, t[2], true); }

/* A pull request: no JSON reply (messages or statuses); unknown stream/consumer: silence. */
static void ep_msg_next(JsApiReq *r, char **t, guint n) {
    Stream *st = jetstream_lookup(r->js, t[3]);
    Consumer *c = st != NULL ? consumer_set_lookup(consumer_set_of(st), t[4]) : NULL;
    if (c != NULL) consumer_pull_request(c, r->reply, r->m->payload, r->m->payload_len);
}

static const JsApiEndpoint endpoints[] = {
    {"CONSUMER.CREATE", 3, 0, true, ep_create},
    {"CONSUMER.DURABLE.CREATE", 4, 0, true, ep_create},
    {"CONSUMER.INFO", 4, 4, true, ep_info},
    {"CONSUMER.DELETE", 4, 4, true, ep_delete},
    {"CONSUMER.NAMES", 3, 3, true, ep_names},
    {"CONSUMER.LIST", 3, 3, true, ep_list},
    {"CONSUMER.MSG.NEXT", 5, 5, true, ep_msg_next},
};

void consumer_api_register(JetStream *js) { jetstream_api_register(js, endpoints, G_N_ELEMENTS(endpoints)); }
