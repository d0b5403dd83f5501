/* jetstream.c — the streams of one server: registry, loading at start, group commit.
 * See jetstream.h for the interface and invariants.
 *
 * START-UP
 *   <store_dir>/streams/ holds one folder per stream (see stream.c, THE FOLDER). Each folder
 *   with a readable, valid meta.json is reopened (its store recovers itself); a folder with
 *   no meta.json is the remains of a create or delete cut short and is removed; a folder
 *   whose meta.json is corrupt is left alone and reported, so no data is thrown away
 *   without a human deciding.
 *
 * GROUP COMMIT (the turn half; the stream half is stream_flush in stream_publish.c)
 *   The first stream that appends in a loop turn asks the env to call flush_turn_end at the
 *   end of the turn (env_turn_end, Redis's beforeSleep); every other stream that appends in
 *   the same turn just joins the list. At the end of the turn each listed stream makes one
 *   store flush and releases its PubAcks, before the world sends the turn's output.
 *
 * Book: chapter 5 (the stream log).
 */
#include "jetstream.h"

#include <string.h>

#include "jsapi.h"
#include "sublist.h"
#include "jsonutil.h"

struct JetStream {
    Server *srv;
    Env *env;
    char *streams_dir;
    StoreSyncPolicy sync;
    int64_t sync_interval_ns;
    GTree *streams;            /* name -> Stream*, sorted: NAMES/LIST order */
    ServerInternalSub *api_sub;
    uint64_t api_total, api_errors;
    GPtrArray *flush_list;     /* Stream* waiting for the end of the turn (group commit) */
    JetStreamApiFilter api_filter; /* the cluster layer's say over each request (NULL: none) */
    void *api_filter_ctx;
    bool clustered;
};

void jetstream_set_api_filter(JetStream *js, JetStreamApiFilter fn, void *ctx) {
    js->api_filter = fn;
    js->api_filter_ctx = ctx;
}

void jetstream_set_clustered(JetStream *js, bool on) { js->clustered = on; }
bool jetstream_clustered(JetStream *js) { return js->clustered; }

Server *jetstream_server(JetStream *js) { return js->srv; }
Env *jetstream_env(JetStream *js) { return js->env; }
const char *jetstream_streams_dir(JetStream *js) { return js->streams_dir; }

void jetstream_set_sync(JetStream *js, StoreSyncPolicy policy, int64_t interval_ns) {
    js->sync = policy;
    js->sync_interval_ns = interval_ns;
}

void jetstream_sync_policy(JetStream *js, StoreSyncPolicy *policy, int64_t *interval_ns) {
    *policy = js->sync;
    *interval_ns = js->sync_interval_ns;
}

void jetstream_count_api(JetStream *js, bool error) {
    js->api_total++;
    if (error) js->api_errors++;
}

void jetstream_api_stats(JetStream *js, uint64_t *total, uint64_t *errors) {
    *total = js->api_total;
    *errors = js->api_errors;
}

/* ------------------------------------------------------------------ group commit */

static void flush_turn_end(void *arg) {
    JetStream *js = arg;
    /* Take the list: a stream whose records are still not durable re-adds itself. */
    GPtrArray *list = js->flush_list;
    js->flush_list = g_ptr_array_new();
    for (guint i = 0; i < list->len; i++) stream_flush(g_ptr_array_index(list, i));
    g_ptr_array_free(list, TRUE);
}

void jetstream_need_flush(JetStream *js, Stream *st) {
    for (guint i = 0; i < js->flush_list->len; i++)
        if (g_ptr_array_index(js->flush_list, i) == st) return;
    g_ptr_array_add(js->flush_list, st);
    env_turn_end(js->env, flush_turn_end, js); /* once per turn: asking again is a no-op */
}

void jetstream_forget_flush(JetStream *js, Stream *st) {
    g_ptr_array_remove(js->flush_list, st);
    if (js->flush_list->len == 0) env_turn_end_cancel(js->env, flush_turn_end, js);
}

/* ------------------------------------------------------------------ registry */

Stream *jetstream_lookup(JetStream *js, const char *name) { return g_tree_lookup(js->streams, name); }

static gboolean collect(gpointer key, gpointer value, gpointer arr) {
    g_ptr_array_add(arr, value);
    return FALSE;
}

GPtrArray *jetstream_streams(JetStream *js) {
    GPtrArray *arr = g_ptr_array_new();
    g_tree_foreach(js->streams, collect, arr);
    return arr;
}

bool jetstream_check_overlap(JetStream *js, const StreamConfig *cfg, Stream *except, GError **error) {
    g_autoptr(GPtrArray) all = jetstream_streams(js);
    for (guint i = 0; i < all->len; i++) {
        Stream *other = g_ptr_array_index(all, i);
        if (other == except) continue;
        for (char **a = cfg->subjects; *a != NULL; a++)
            for (char **b = stream_config(other)->subjects; *b != NULL; b++)
                if (subject_patterns_overlap(*a, *b)) {
                    mj_js_error(error, MJ_ERR_JS_STREAM_SUBJECT_OVERLAP, NULL);
                    return false;
                }
    }
    return true;
}

Stream *jetstream_add(JetStream *js, StreamConfig *cfg, GError **error) {
    if (!jetstream_check_overlap(js, cfg, NULL, error)) {
        stream_config_free(cfg);
        return NULL;
    }
    g_autoptr(GError) err = NULL;
    Stream *st = stream_open(js, cfg, env_wall_ns(js->env), &err);
    if (st == NULL || !stream_save_meta(st, &err)) {
        if (st != NULL) stream_destroy(st);
        mj_js_error(error, MJ_ERR_JS_STREAM_GENERAL, "%s", err->message);
        return NULL;
    }
    g_tree_insert(js->streams, g_strdup(stream_name(st)), st);
    return st;
}

void jetstream_delete(JetStream *js, Stream *st) {
    g_tree_remove(js->streams, stream_name(st));
    stream_destroy(st);
}

/* ------------------------------------------------------------------ loading */

static Stream *load_stream(JetStream *js, const char *name) {
    Env *env = js->env;
    g_autofree char *dir = g_build_filename(js->streams_dir, name, NULL);
    g_autofree char *meta = g_build_filename(dir, "meta.json", NULL);
    if (!env_path_exists(env, meta)) {
        env_log(env, ENV_LOG_WARN, "JetStream: removing %s: no meta.json (create or delete cut short)", dir);
        g_auto(GStrv) names = env_dir_list(env, dir, NULL);
        g_autofree char *msgs = g_build_filename(dir, "msgs", NULL);
        g_auto(GStrv) segs = env_dir_list(env, msgs, NULL);
        for (char **n = segs; n != NULL && *n != NULL; n++) {
            g_autofree char *p = g_build_filename(msgs, *n, NULL);
            env_path_remove(env, p, NULL);
        }
        for (char **n = names; n != NULL && *n != NULL; n++) {
            g_autofree char *p = g_build_filename(dir, *n, NULL);
            env_path_remove(env, p, NULL);
        }
        env_path_remove(env, dir, NULL);
        return NULL;
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) data = NULL;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = NULL, *co = NULL;
    StreamConfig *cfg = NULL;
    int64_t created = 0;
    if (env_file_read_all(env, meta, &data, &err)) {
        gsize len;
        const void *p = g_bytes_get_data(data, &len);
        o = jsonu_parse_object(p, len, &parser);
    }
    JsonNode *cn = o != NULL ? json_object_get_member(o, "config") : NULL;
    if (cn != NULL && JSON_NODE_HOLDS_OBJECT(cn)) co = json_node_get_object(cn);
    if (co != NULL && jsonu_get_int(o, "created", &created)) cfg = stream_config_parse(co, &err);
    if (cfg != NULL && (!stream_config_validate(cfg, &err) || strcmp(cfg->name, name) != 0)) {
        stream_config_free(cfg);
        cfg = NULL;
    }
    if (cfg == NULL) {
        env_log(env, ENV_LOG_ERROR, "JetStream: stream %s not loaded: bad %s%s%s", name, meta,
                err != NULL ? ": " : "", err != NULL ? err->message : "");
        return NULL;
    }
    Stream *st = stream_open(js, cfg, created, &err);
    if (st == NULL) {
        env_log(env, ENV_LOG_ERROR, "JetStream: stream %s not loaded: %s", name, err->message);
        return NULL;
    }
    StoreState s;
    store_state(stream_store(st), &s);
    env_log(env, ENV_LOG_INFO, "  Restored %" G_GUINT64_FORMAT " messages for stream '%s'", s.msgs, name);
    return st;
}

static void api_msg(void *ctx, const ServerMsg *m) {
    JetStream *js = ctx;
    if (js->api_filter != NULL && js->api_filter(js->api_filter_ctx, m)) return;
    jsapi_handle(js, m);
}

static int name_cmp(gconstpointer a, gconstpointer b, gpointer unused) { return strcmp(a, b); }

JetStream *jetstream_new(Server *srv, const char *store_dir, GError **error) {
    Env *env = server_env(srv);
    g_autofree char *streams_dir = g_build_filename(store_dir, "streams", NULL);
    if (!env_dir_make(env, streams_dir, error)) return NULL;
    JetStream *js = g_new0(JetStream, 1);
    js->srv = srv;
    js->env = env;
    js->streams_dir = g_steal_pointer(&streams_dir);
    int64_t interval = server_config(srv)->sync_interval_ns;
    js->sync = interval == 0 ? STORE_SYNC_ALWAYS : interval > 0 ? STORE_SYNC_INTERVAL : STORE_SYNC_NEVER;
    js->sync_interval_ns = MAX(interval, 0);
    js->streams = g_tree_new_full(name_cmp, NULL, g_free, NULL); /* own keys: configs change */
    js->flush_list = g_ptr_array_new();
    g_auto(GStrv) names = env_dir_list(env, js->streams_dir, NULL);
    for (char **n = names; n != NULL && *n != NULL; n++) {
        Stream *st = load_stream(js, *n);
        if (st == NULL) continue;
        if (!jetstream_check_overlap(js, stream_config(st), NULL, NULL)) {
            env_log(env, ENV_LOG_ERROR, "JetStream: stream %s not loaded: subjects overlap", *n);
            stream_close(st);
            continue;
        }
        g_tree_insert(js->streams, g_strdup(stream_name(st)), st);
    }
    js->api_sub = server_subscribe_internal(srv, "$JS.API.>", NULL, api_msg, js);
    return js;
}

void jetstream_free(JetStream *js) {
    if (js == NULL) return;
    server_unsubscribe_internal(js->srv, js->api_sub);
    g_autoptr(GPtrArray) all = jetstream_streams(js);
    g_tree_destroy(js->streams);
    for (guint i = 0; i < all->len; i++) stream_close(g_ptr_array_index(all, i));
    env_turn_end_cancel(js->env, flush_turn_end, js);
    g_ptr_array_free(js->flush_list, TRUE);
    g_free(js->streams_dir);
    g_free(js);
}

void jetstream_check_invariants(JetStream *js) {
    g_autoptr(GPtrArray) all = jetstream_streams(js);
    for (guint i = 0; i < all->len; i++) {
        Stream *st = g_ptr_array_index(all, i);
        stream_check_invariants(st);
        g_assert_true(jetstream_check_overlap(js, stream_config(st), st, NULL));
    }
    for (guint i = 0; i < js->flush_list->len; i++) { /* waiting to flush: a live stream, once */
        Stream *st = g_ptr_array_index(js->flush_list, i);
        g_assert_true(jetstream_lookup(js, stream_name(st)) == st);
        guint first;
        g_assert_true(g_ptr_array_find(js->flush_list, st, &first) && first == i);
    }
}
