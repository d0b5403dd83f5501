/* jetstream.c — the streams of one server: registry, loading at start, group commit.
 * See jetstream.h for the interface and invariants.
 *
 * START-UP
 *   <store_dir>/streams/ holds one folder per stream (see stream.c, THE FOLDER). Each folder
 *   with a readable, valid meta.json is reopened (its store recovers itself); a folder with
 *   no meta.json is the remains of a create or delete cut short and is removed; a folder
 *   whose meta.json is corrupt is left alone and reported, so no data is thrown away
 *   without a human deciding.
 *   nats-server restores JetStream before it opens its client port, with the monitor already
 *   answering (/healthz 503 until then). The program does the same (main.c): with
 *   cfg->restore_later, jetstream_new only lists the folders, and jetstream_restore_step
 *   loads them a time budget at a time from a timer, so the loop keeps answering the
 *   monitor between steps; tests and the simulator load everything in jetstream_new.
 *
 * GROUP COMMIT (the turn half; the stream half is stream_flush in stream_publish.c)
 *   The first stream that appends in a loop turn asks the env to call flush_turn_end at the
 *   end of the turn (env_turn_end, Redis's beforeSleep); every other stream that appends in
 *   the same turn just joins the list. At the end of the turn each listed stream makes one
 *   store flush and releases its PubAcks, before the world sends the turn's output.
 *
 * ACCOUNT LIMITS (max_memory_store / max_file_store; nats-server 2.9.10, checked side by side)
 *   Two rules, per kind of storage:
 *     - a reservation: a stream with max_bytes reserves that much; a create (or an update that
 *       raises max_bytes) whose max_bytes does not fit beside the other reservations is
 *       refused (500, 10047 storage / 10028 memory). A stream without max_bytes reserves
 *       nothing and is refused only when everything is reserved.
 *     - a ceiling on use: every stream reports its stored bytes as they change
 *       (stream_account -> account_usage); while the kind's total is over the limit, a
 *       publish to any stream of that kind is refused (503, 10023 insufficient resources).
 *       As nats-server, the check is "over", not "would be over": the publish that crosses
 *       the limit is stored, the next one is refused, and removals make room again.
 *   Reservations are summed over the streams when asked (a create is rare); use is a running
 *   total, so the publish path pays one comparison.
 *
 * THE SUBJECT INDEX (no two streams overlap)
 *   Every stream's subjects live in a subject trie (sublist.c) with the stream as the item,
 *   so "does this config overlap another stream?" is one trie walk per subject
 *   (sublist_overlaps), not a comparison with every stream's every subject. A create, an
 *   update and each stream loaded at start pay O(subjects x depth): a restart with 10,000
 *   streams checks each once instead of 10,000 x 10,000 / 2 pairs (~100 s before). The
 *   check at start stays: a folder copied in by hand may overlap, and is then not loaded.
 *   Updates go through jetstream_update, which re-indexes the stream's subjects.
 *
 * THE API TABLE
 *   One internal subscription on `$JS.API.>`; each request's subject is split into tokens and
 *   the row with the longest matching prefix answers it (rows come from stream_api.c and
 *   consumer_api.c through jetstream_api_register). No row, a token count out of the row's
 *   range, or no reply subject: no answer at all, as nats-server (clients time out). A reply
 *   sent through jsapi.h's helpers is counted for $JS.API.INFO's "api" numbers.
 *
 * THE DOMAIN (jetstream { domain: X }; nats-server 2.9.10, checked side by side)
 *   A domain names a JetStream so that leafnodes and super-clusters can tell one from another.
 *   Inside one server or cluster it changes only what clients see: INFO and route INFO carry
 *   "domain", so do $JS.API.INFO, STREAM.INFO, every STREAM.LIST entry and every successful
 *   PubAck (not the create/update replies, not consumer info, not an error PubAck), and the
 *   API answers on $JS.<domain>.API.> as well as on $JS.API.> (nats.js's
 *   jetstream({domain}) and libnats's jsOpts.Domain use the first). A request on the domain's
 *   prefix is rewritten to $JS.API.<rest> before anything looks at it, so the cluster's filter,
 *   a stream group's log (jscluster.c, op 2) and the endpoint rows see one form only.
 *
 * Book: chapter 5 (the stream log); the domain in chapter 11.
 */
#include "jetstream.h"

#include <string.h>

#include "consumer.h"
#include "sublist.h"
#include "jsonutil.h"

struct JetStream {
    Server *srv;
    Env *env;
    char *store_dir;
    char *streams_dir;
    StreamHost host;           /* what every stream gets: env, folder, sync, group commit */
    GArray *api;               /* JsApiEndpoint rows (jetstream_api_register) */
    ServerHook *check_hook;    /* our invariant chain, inside server_check_invariants */
    StoreSyncPolicy sync;
    int64_t sync_interval_ns;
    GTree *streams;            /* name -> Stream*, sorted: NAMES/LIST order */
    Sublist *subjects;         /* every stream's subjects -> Stream* (THE SUBJECT INDEX) */
    ServerInternalSub *api_sub;
    ServerInternalSub *domain_sub; /* $JS.<domain>.API.> (THE DOMAIN); NULL without one */
    char *domain;
    size_t domain_prefix_len;  /* strlen("$JS.<domain>.API.") */
    JsApiCounters api_counts;
    GPtrArray *flush_list;     /* Stream* waiting for the end of the turn (group commit) */
    int64_t used[2];           /* stored bytes of memory [0] and file [1] streams */
    int64_t max[2];            /* max_memory_store, max_file_store; -1 = none */
    JetStreamApiFilter api_filter; /* the cluster layer's say over each request (NULL: none) */
    void *api_filter_ctx;
    bool clustered;
    char **restore_names;      /* folders found at start, loaded from restore_next on */
    guint restore_next;
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
const char *jetstream_store_dir(JetStream *js) { return js->store_dir; }
const char *jetstream_domain(JetStream *js) { return js->domain; }

bool jetstream_domain_valid(const char *d) {
    if (d == NULL || d[0] == '\0') return false;
    for (const char *p = d; *p != '\0'; p++)
        if (*p == '.' || *p == '*' || *p == '>' || g_ascii_isspace(*p)) return false;
    return true;
}

void jetstream_config_init(JetStreamConfig *cfg) {
    *cfg = (JetStreamConfig){.store_dir = "./data", .sync_interval_ns = 0, .max_memory_bytes = -1,
                             .max_storage_bytes = -1};
}

/* ------------------------------------------------------------------ account limits */

static int kind_of(const StreamConfig *cfg) { return cfg->storage == STORAGE_MEMORY ? 0 : 1; }

static void account_usage(void *owner, Stream *st, int64_t delta) {
    JetStream *js = owner;
    int k = kind_of(stream_config(st));
    js->used[k] += delta;
    g_assert_cmpint(js->used[k], >=, 0);
}

static bool account_room(void *owner, Stream *st) {
    JetStream *js = owner;
    int k = kind_of(stream_config(st));
    return js->max[k] < 0 || js->used[k] <= js->max[k];
}

static int64_t reserved(JetStream *js, int kind, const Stream *except) {
    g_autoptr(GPtrArray) all = jetstream_streams(js);
    int64_t sum = 0;
    for (guint i = 0; i < all->len; i++) {
        const StreamConfig *c = stream_config(g_ptr_array_index(all, i));
        if (g_ptr_array_index(all, i) != except && kind_of(c) == kind && c->max_bytes > 0) sum += c->max_bytes;
    }
    return sum;
}

void jetstream_usage(JetStream *js, JetStreamUsage *out) {
    *out = (JetStreamUsage){.memory = js->used[0], .storage = js->used[1],
                            .reserved_memory = reserved(js, 0, NULL), .reserved_storage = reserved(js, 1, NULL),
                            .max_memory = js->max[0], .max_storage = js->max[1]};
}

bool jetstream_check_reservation(JetStream *js, const StreamConfig *cfg, const StreamConfig *old,
                                 GError **error) {
    int k = kind_of(cfg);
    if (js->max[k] < 0) return true;
    int64_t want = MAX(cfg->max_bytes, 0), had = old != NULL ? MAX(old->max_bytes, 0) : 0;
    if (old != NULL && want <= had) return true; /* lowering or keeping a reservation */
    /* a create without max_bytes counts 1 byte, as nats-server's checkBytesLimits */
    int64_t add = old != NULL ? want - had : MAX(want, 1);
    Stream *self = old != NULL ? jetstream_lookup(js, old->name) : NULL;
    int64_t others = reserved(js, k, NULL) - (self != NULL ? had : 0);
    if (others + had + add <= js->max[k]) return true;
    mj_js_error(error, k == 0 ? MJ_ERR_JS_MEMORY_RESOURCES_EXCEEDED : MJ_ERR_JS_STORAGE_RESOURCES_EXCEEDED, NULL);
    return false;
}

void jetstream_set_sync(JetStream *js, StoreSyncPolicy policy, int64_t interval_ns) {
    js->sync = policy;
    js->sync_interval_ns = interval_ns;
    js->host.sync = policy;
    js->host.sync_interval_ns = interval_ns;
}

void jetstream_sync_policy(JetStream *js, StoreSyncPolicy *policy, int64_t *interval_ns) {
    *policy = js->sync;
    *interval_ns = js->sync_interval_ns;
}

void jetstream_api_stats(JetStream *js, uint64_t *total, uint64_t *errors) {
    *total = js->api_counts.total;
    *errors = js->api_counts.errors;
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

static void need_flush(void *owner, Stream *st) {
    JetStream *js = owner;
    for (guint i = 0; i < js->flush_list->len; i++)
        if (g_ptr_array_index(js->flush_list, i) == st) return;
    g_ptr_array_add(js->flush_list, st);
    env_turn_end(js->env, flush_turn_end, js); /* once per turn: asking again is a no-op */
}

static void forget_flush(void *owner, Stream *st) {
    JetStream *js = owner;
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
    for (char **a = cfg->subjects; *a != NULL; a++)
        if (sublist_overlaps(js->subjects, *a, except)) {
            mj_js_error(error, MJ_ERR_JS_STREAM_SUBJECT_OVERLAP, NULL);
            return false;
        }
    return true;
}

static void index_subjects(JetStream *js, Stream *st, char **subjects, bool add) {
    for (char **s = subjects; *s != NULL; s++) {
        bool done = add ? sublist_insert(js->subjects, *s, NULL, st) : sublist_remove(js->subjects, *s, NULL, st);
        g_assert_true(done); /* validated subjects, no node cap (jetstream_new) */
    }
}

static void registry_add(JetStream *js, Stream *st) {
    g_tree_insert(js->streams, g_strdup(stream_name(st)), st);
    index_subjects(js, st, stream_config(st)->subjects, true);
}

bool jetstream_update(JetStream *js, Stream *st, StreamConfig *cfg, GError **error) {
    g_auto(GStrv) old = g_strdupv(stream_config(st)->subjects);
    if (!stream_update(st, cfg, error)) return false;
    index_subjects(js, st, old, false);
    index_subjects(js, st, stream_config(st)->subjects, true);
    return true;
}

Stream *jetstream_add(JetStream *js, StreamConfig *cfg, GError **error) {
    if (!jetstream_check_overlap(js, cfg, NULL, error) || !jetstream_check_reservation(js, cfg, NULL, error)) {
        stream_config_free(cfg);
        return NULL;
    }
    g_autoptr(GError) err = NULL;
    /* A create that fails (disk full, out of descriptors) leaves no folder behind; a folder
     * that was there before (a stream not loaded at start) is not ours to remove. */
    g_autofree char *dir = g_build_filename(js->streams_dir, cfg->name, NULL);
    bool fresh = !env_path_exists(js->env, dir);
    Stream *st = stream_open(&js->host, cfg, env_wall_ns(js->env), &err);
    if (st == NULL || !stream_save_meta(st, &err)) {
        if (st != NULL) stream_destroy(st); /* removes the folder */
        else if (fresh) stream_remove_folder(js->env, dir);
        mj_js_error(error, MJ_ERR_JS_STREAM_GENERAL, "%s", err->message);
        return NULL;
    }
    consumer_set_open(st);
    registry_add(js, st);
    return st;
}

void jetstream_delete(JetStream *js, Stream *st) {
    index_subjects(js, st, stream_config(st)->subjects, false);
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
        stream_remove_folder(env, dir);
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
    Stream *st = stream_open(&js->host, cfg, created, &err);
    if (st == NULL) {
        env_log(env, ENV_LOG_ERROR, "JetStream: stream %s not loaded: %s", name, err->message);
        return NULL;
    }
    consumer_set_open(st); /* its durable consumers come back with it */
    StoreState s;
    store_state(stream_store(st), &s);
    env_log(env, ENV_LOG_INFO, "  Restored %" G_GUINT64_FORMAT " messages for stream '%s'", s.msgs, name);
    return st;
}

/* ------------------------------------------------------------------ the API table */

void jetstream_api_register(JetStream *js, const JsApiEndpoint *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (guint j = 0; j < js->api->len; j++)
            g_assert_cmpstr(g_array_index(js->api, JsApiEndpoint, j).prefix, !=, rows[i].prefix);
        g_assert(rows[i].max_tokens == 0 || rows[i].max_tokens >= rows[i].min_tokens);
        g_array_append_val(js->api, rows[i]);
    }
}

/* The row whose prefix is the longest run of leading tokens of t; its token count in *k. */
static const JsApiEndpoint *api_lookup(JetStream *js, char **t, guint n) {
    const JsApiEndpoint *best = NULL;
    guint best_k = 0;
    for (guint i = 0; i < js->api->len; i++) {
        const JsApiEndpoint *e = &g_array_index(js->api, JsApiEndpoint, i);
        const char *p = e->prefix;
        guint k = 0;
        for (; k < n; k++) {
            size_t len = strlen(t[k]);
            if (strncmp(p, t[k], len) != 0 || (p[len] != '\0' && p[len] != '.')) break;
            p += len;
            if (*p == '\0') { k++; break; }
            p++;
        }
        if (*p == '\0' && k > best_k) {
            best = e;
            best_k = k;
        }
    }
    return best;
}

void jetstream_api_dispatch(JetStream *js, const ServerMsg *m) {
    if (m->reply_len == 0) return; /* nobody to answer */
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    g_auto(GStrv) t = g_strsplit(subject + strlen("$JS.API."), ".", -1);
    guint n = g_strv_length(t);
    const JsApiEndpoint *e = api_lookup(js, t, n);
    if (e == NULL || n < e->min_tokens || (e->max_tokens != 0 && n > e->max_tokens)) return;
    if (e->no_empty_tokens)
        for (guint i = 0; i < n; i++)
            if (t[i][0] == '\0') return; /* not a subject nats-server answers */
    JsApiReq r = jetstream_api_req(js, m, g_strndup(m->reply, m->reply_len));
    r.subject = subject;
    e->fn(&r, t, n);
    if (r.b != NULL) g_object_unref(r.b); /* a handler that did not answer */
    g_free(r.reply);
}

JsApiReq jetstream_api_req(JetStream *js, const ServerMsg *m, char *reply) {
    return (JsApiReq){.js = js, .srv = js->srv, .counters = &js->api_counts, .m = m, .reply = reply};
}

static void api_msg(void *ctx, const ServerMsg *m) {
    JetStream *js = ctx;
    if (js->api_filter != NULL && js->api_filter(js->api_filter_ctx, m)) return; /* the cluster's say */
    jetstream_api_dispatch(js, m);
}

/* $JS.<domain>.API.<rest>: answered as $JS.API.<rest> (THE DOMAIN). */
static void domain_api_msg(void *ctx, const ServerMsg *m) {
    JetStream *js = ctx;
    if (m->subject_len <= js->domain_prefix_len) return;
    g_autofree char *subject = g_strdup_printf("$JS.API.%.*s", (int)(m->subject_len - js->domain_prefix_len),
                                               m->subject + js->domain_prefix_len);
    ServerMsg local = *m;
    local.subject = subject;
    local.subject_len = strlen(subject);
    api_msg(js, &local);
}

static void check_hook(void *ctx, bool full) {
    if (full) jetstream_check_invariants(ctx);
    else jetstream_check_contracts(ctx);
}

bool jetstream_restore_step(JetStream *js, int64_t budget_ns) {
    Env *env = js->env;
    int64_t start = env_now_ns(env);
    while (js->restore_names != NULL && js->restore_names[js->restore_next] != NULL) {
        const char *name = js->restore_names[js->restore_next++];
        Stream *st = load_stream(js, name);
        if (st != NULL && !jetstream_check_overlap(js, stream_config(st), NULL, NULL)) {
            env_log(env, ENV_LOG_ERROR, "JetStream: stream %s not loaded: subjects overlap", name);
            stream_close(st);
        } else if (st != NULL) {
            registry_add(js, st);
        }
        if (env_now_ns(env) - start >= budget_ns) break;
    }
    if (js->restore_names != NULL && js->restore_names[js->restore_next] != NULL) return false;
    g_clear_pointer(&js->restore_names, g_strfreev);
    return true;
}

static int name_cmp(gconstpointer a, gconstpointer b, gpointer unused) { return strcmp(a, b); }

JetStream *jetstream_new(Server *srv, const JetStreamConfig *cfg, GError **error) {
    Env *env = server_env(srv);
    g_autofree char *streams_dir = g_build_filename(cfg->store_dir, "streams", NULL);
    if (!env_dir_make(env, streams_dir, error)) return NULL;
    JetStream *js = g_new0(JetStream, 1);
    js->srv = srv;
    js->env = env;
    js->store_dir = g_strdup(cfg->store_dir);
    js->streams_dir = g_steal_pointer(&streams_dir);
    js->api = g_array_new(FALSE, FALSE, sizeof(JsApiEndpoint));
    if (cfg->domain != NULL) {
        g_assert(jetstream_domain_valid(cfg->domain)); /* the configuration checked it */
        js->domain = g_strdup(cfg->domain);
    }
    int64_t interval = cfg->sync_interval_ns;
    js->host = (StreamHost){.srv = srv, .env = env, .streams_dir = js->streams_dir, .segment_bytes = cfg->segment_bytes,
                            .files = store_files_new(env, 0), /* one open-file budget for every stream */
                            .need_flush = need_flush, .forget_flush = forget_flush,
                            .usage = account_usage, .room = account_room, .owner = js,
                            .domain = js->domain};
    js->max[0] = cfg->max_memory_bytes;
    js->max[1] = cfg->max_storage_bytes;
    StoreSyncPolicy always = cfg->clustered ? STORE_SYNC_REPLICA : STORE_SYNC_ALWAYS; /* jscluster.c, THE STORE BEHIND THE LOG */
    jetstream_set_sync(js, interval == 0 ? always : interval > 0 ? STORE_SYNC_INTERVAL : STORE_SYNC_NEVER, MAX(interval, 0));
    js->streams = g_tree_new_full(name_cmp, NULL, g_free, NULL); /* own keys: configs change */
    js->subjects = sublist_new();
    sublist_set_nodes_max(js->subjects, G_MAXSIZE); /* bounded by the configs it indexes */
    js->flush_list = g_ptr_array_new();
    js->restore_names = env_dir_list(env, js->streams_dir, NULL);
    if (!cfg->restore_later) jetstream_restore_step(js, G_MAXINT64);
    js->api_sub = server_subscribe_internal(srv, "$JS.API.>", NULL, api_msg, js);
    if (js->domain != NULL) {
        g_autofree char *sub = g_strdup_printf("$JS.%s.API.>", js->domain);
        js->domain_prefix_len = strlen(sub) - 1;
        js->domain_sub = server_subscribe_internal(srv, sub, NULL, domain_api_msg, js);
        server_info_set_string(srv, "domain", js->domain);
    }
    js->check_hook = server_add_check(srv, check_hook, js);
    server_info_set_flag(srv, "jetstream", true);
    return js;
}

void jetstream_free(JetStream *js) {
    if (js == NULL) return;
    server_info_set_flag(js->srv, "jetstream", false);
    server_remove_hook(js->srv, js->check_hook);
    server_unsubscribe_internal(js->srv, js->api_sub);
    if (js->domain_sub != NULL) server_unsubscribe_internal(js->srv, js->domain_sub);
    server_info_set_string(js->srv, "domain", NULL);
    g_autoptr(GPtrArray) all = jetstream_streams(js);
    g_tree_destroy(js->streams);
    sublist_free(js->subjects);
    for (guint i = 0; i < all->len; i++) stream_close(g_ptr_array_index(all, i));
    store_files_unref(js->host.files);
    env_turn_end_cancel(js->env, flush_turn_end, js);
    g_ptr_array_free(js->flush_list, TRUE);
    g_array_free(js->api, TRUE);
    g_strfreev(js->restore_names);
    g_free(js->store_dir);
    g_free(js->streams_dir);
    g_free(js->domain);
    g_free(js);
}

static void check(JetStream *js, bool full) {
    g_autoptr(GPtrArray) all = jetstream_streams(js);
    g_assert_cmpint(js->used[0], >=, 0);
    g_assert_cmpint(js->used[1], >=, 0);
    size_t subjects = 0;
    for (guint i = 0; i < all->len; i++) {
        Stream *st = g_ptr_array_index(all, i);
        subjects += g_strv_length(stream_config(st)->subjects);
        if (full) {
            stream_check_invariants(st); /* and its store, walked */
            consumer_set_check_invariants(consumer_set_of(st));
        } else {
            stream_check_contracts(st);
            consumer_set_check_contracts(consumer_set_of(st));
        }
        g_assert_true(jetstream_check_overlap(js, stream_config(st), st, NULL));
        /* an acknowledgement that may go is never left waiting without a flush to send it */
        if (stream_ack_ready(st)) g_assert_true(g_ptr_array_find(js->flush_list, st, NULL));
    }
    g_assert_cmpuint(sublist_count(js->subjects), ==, subjects); /* the index holds every subject */
    for (guint i = 0; i < js->flush_list->len; i++) { /* waiting to flush: a live stream, once */
        Stream *st = g_ptr_array_index(js->flush_list, i);
        g_assert_true(jetstream_lookup(js, stream_name(st)) == st);
        guint first;
        g_assert_true(g_ptr_array_find(js->flush_list, st, &first) && first == i);
    }
}

void jetstream_check_invariants(JetStream *js) { check(js, true); }
void jetstream_check_contracts(JetStream *js) { check(js, false); }
