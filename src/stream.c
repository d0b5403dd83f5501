/* stream.c — one stream: lifecycle, the meta file, update, and the API's operations.
 *
 * WHAT IT IS
 *   A Stream owns a Store (store.h: memory or file) and an internal subscription on each of
 *   its subjects. This file opens, updates, closes and destroys streams and answers the API's
 *   questions (purge, delete, info); the publish path (stream_on_msg, dedup, limits, group
 *   commit) is in stream_publish.c. See stream.h for the interface and the invariants.
 *
 * THE FOLDER (file and memory streams alike; memory streams keep only meta.json)
 *   <store_dir>/streams/<name>/meta.json   {"config":{...},"created":<wall ns>}, written
 *                                          atomically (temp, fsync, rename, fsync dir)
 *   <store_dir>/streams/<name>/msgs/       the file store's segments (store_file.c)
 *   A folder without meta.json is a stream whose create or delete was cut short: on start
 *   jetstream.c removes it.
 *
 * Book: chapter 5 (the stream log).
 */
#include "stream_int.h"

#include <string.h>

#include "jsonutil.h"
#include "limits.h"
#include "sublist.h"

/* ------------------------------------------------------------------ lifecycle */

static void subscribe_subjects(Stream *st) {
    st->subscribed = true;
    for (char **s = st->cfg->subjects; *s != NULL; s++) {
        ServerInternalSub *sub = server_subscribe_internal(st->srv, *s, NULL, stream_on_msg, st);
        g_assert(sub != NULL); /* subjects were validated */
        g_ptr_array_add(st->subs, sub);
    }
}

static void unsubscribe_subjects(Stream *st) {
    for (guint i = 0; i < st->subs->len; i++)
        server_unsubscribe_internal(st->srv, g_ptr_array_index(st->subs, i));
    g_ptr_array_set_size(st->subs, 0);
    st->subscribed = false;
}

void stream_set_subscribed(Stream *st, bool on) {
    if (on && !st->subscribed) subscribe_subjects(st);
    if (!on && st->subscribed) unsubscribe_subjects(st);
}

Stream *stream_open(const StreamHost *host, StreamConfig *cfg, int64_t created_ns, GError **error) {
    Env *env = host->env;
    g_autofree char *dir = g_build_filename(host->streams_dir, cfg->name, NULL);
    g_autofree char *msgs = g_build_filename(dir, "msgs", NULL);
    if (!env_dir_make(env, dir, error)) {
        stream_config_free(cfg);
        return NULL;
    }
    StoreConfig sc = {.name = cfg->name, .dir = msgs, .sync = host->sync, .sync_interval_ns = host->sync_interval_ns,
                      .segment_bytes_max = host->segment_bytes, .files = host->files};
    Store *store = cfg->storage == STORAGE_MEMORY ? store_mem_open(env, &sc)
                                                  : store_file_open(env, &sc, error);
    if (store == NULL) {
        stream_config_free(cfg);
        return NULL;
    }
    Stream *st = g_new0(Stream, 1);
    st->host = *host;
    st->srv = host->srv;
    st->env = env;
    st->cfg = cfg;
    st->created_ns = created_ns;
    st->dir = g_steal_pointer(&dir);
    st->store = store;
    st->subs = g_ptr_array_new();
    st->dedup = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&st->dedup_order);
    g_queue_init(&st->pending);
    st->repl_ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_queue_init(&st->repl_held);
    stream_age_tick(st); /* (the dedup window is read when first needed: stream_dedup_rebuild) */ /* expire what aged while we were down, then arm the timer */
    stream_account(st);
    subscribe_subjects(st);
    return st;
}

void stream_set_hooks(Stream *st, const StreamHooks *hooks, void *ctx) {
    g_assert(st->hooks == NULL || hooks == NULL);
    st->hooks = hooks;
    st->hooks_ctx = ctx;
}

void *stream_hooks_ctx(Stream *st, const StreamHooks *hooks) {
    return st->hooks == hooks ? st->hooks_ctx : NULL;
}

/* Tell the readers the stream goes (they save their state, or answer 409 when deleted). */
static void hooks_close(Stream *st, bool deleted) {
    if (st->hooks == NULL) return;
    const StreamHooks *h = st->hooks;
    void *ctx = st->hooks_ctx;
    st->hooks = NULL;
    st->hooks_ctx = NULL;
    h->closed(ctx, deleted);
}

void stream_close(Stream *st) {
    if (st == NULL) return;
    hooks_close(st, false); /* saves their state; nothing after a destroy */
    unsubscribe_subjects(st);
    stream_flush(st); /* the last group: answer everyone still waiting */
    st->host.forget_flush(st->host.owner, st);
    env_timer_cancel(st->env, st->age_timer);
    env_timer_cancel(st->env, st->repl_held_timer);
    stream_refused_close(st);
    stream_repl_reset(st); /* frees held publishes */
    g_hash_table_destroy(st->repl_ids);
    g_free(st->repl_last_msg_id);
    store_close(st->store);
    if (st->host.usage != NULL && st->accounted_bytes > 0)
        st->host.usage(st->host.owner, st, -(int64_t)st->accounted_bytes);
    stream_dedup_clear(st);
    g_hash_table_destroy(st->dedup);
    g_queue_clear_full(&st->pending, (GDestroyNotify)stream_pending_free);
    g_ptr_array_free(st->subs, TRUE);
    g_free(st->last_msg_id);
    g_free(st->dir);
    stream_config_free(st->cfg);
    g_free(st);
}

/* Remove a folder and everything below it, through the env. */
void stream_remove_folder(Env *env, const char *path) {
    g_auto(GStrv) names = env_dir_list(env, path, NULL);
    for (char **n = names; n != NULL && *n != NULL; n++) {
        g_autofree char *child = g_build_filename(path, *n, NULL);
        if (!env_path_remove(env, child, NULL)) stream_remove_folder(env, child);
    }
    g_autoptr(GError) err = NULL;
    if (!env_path_remove(env, path, &err))
        env_log(env, ENV_LOG_WARN, "could not remove %s: %s", path, err->message);
}

/* Delete meta.json first (and make that durable): after a crash mid-way the folder has no
 * meta and is swept on start, so a deleted stream never comes back half-alive. */
void stream_destroy(Stream *st) {
    Env *env = st->env;
    g_autofree char *dir = g_strdup(st->dir);
    g_autofree char *meta = g_build_filename(dir, "meta.json", NULL);
    env_path_remove(env, meta, NULL);
    env_dir_sync(env, dir, NULL);
    hooks_close(st, true); /* waiting pulls get 409 Consumer Deleted */
    stream_close(st);
    stream_remove_folder(env, dir);
}

bool stream_save_meta(Stream *st, GError **error) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "config");
    stream_config_build(st->cfg, b);
    jsonu_add_int(b, "created", st->created_ns);
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    g_autofree char *meta = g_build_filename(st->dir, "meta.json", NULL);
    return env_file_write_atomic(st->env, meta, json, strlen(json), error);
}

static void collect_subject(const char *subject, uint64_t msgs, void *arg) {
    g_ptr_array_add(arg, g_strdup(subject));
}

/* A lowered limit applies at once, as nats-server does: the stream is trimmed now. */
bool stream_update(Stream *st, StreamConfig *cfg, GError **error) {
    StreamConfig *old = st->cfg;
    st->cfg = cfg;
    if (!stream_save_meta(st, error)) {
        st->cfg = old;
        stream_config_free(cfg);
        return false;
    }
    bool resubscribe = st->subscribed &&
                       !g_strv_equal((const char *const *)old->subjects, (const char *const *)cfg->subjects);
    if (resubscribe) unsubscribe_subjects(st);
    StoreState before, after;
    store_state(st->store, &before);
    if (cfg->max_msgs_per_subject > 0 &&
        (old->max_msgs_per_subject <= 0 || cfg->max_msgs_per_subject < old->max_msgs_per_subject)) {
        g_autoptr(GPtrArray) subjects = g_ptr_array_new_with_free_func(g_free);
        store_subjects(st->store, NULL, collect_subject, subjects);
        for (guint i = 0; i < subjects->len; i++) stream_enforce_subject_limit(st, g_ptr_array_index(subjects, i));
    }
    stream_enforce_limits(st);
    env_timer_cancel(st->env, st->age_timer);
    st->age_timer = 0;
    if (cfg->max_age_ns > 0) stream_age_tick(st); /* tells the consumers itself */
    store_state(st->store, &after);
    if (after.msgs < before.msgs) stream_tell_removed(st); /* lowered limits */
    stream_config_free(old);
    if (resubscribe) subscribe_subjects(st);
    stream_need_flush(st);
    return true;
}

/* ------------------------------------------------------------------ the API's operations */

bool stream_purge(Stream *st, const StorePurge *req, uint64_t *purged, GError **error) {
    *purged = 0;
    if (st->cfg->sealed) {
        mj_js_error(error, MJ_ERR_JS_STREAM_SEALED, NULL);
        return false;
    }
    if (st->cfg->deny_purge) {
        mj_js_error(error, MJ_ERR_JS_STREAM_PURGE_DENIED, NULL);
        return false;
    }
    g_autoptr(GError) err = NULL;
    *purged = store_purge(st->store, req, &err);
    if (err != NULL) {
        mj_js_error(error, MJ_ERR_JS_STREAM_GENERAL, "%s", err->message);
        return false;
    }
    stream_tell_removed(st);
    stream_need_flush(st);
    return true;
}

bool stream_remove_msg(Stream *st, uint64_t seq, bool erase, GError **error) {
    if (st->cfg->sealed) {
        mj_js_error(error, MJ_ERR_JS_STREAM_SEALED, NULL);
        return false;
    }
    if (st->cfg->deny_delete) {
        mj_js_error(error, MJ_ERR_JS_STREAM_MSG_DELETE_FAILED, "message delete not permitted");
        return false;
    }
    StoreState s;
    store_state(st->store, &s);
    g_autoptr(GError) err = NULL;
    if (seq > s.last_seq) { /* beyond the end: the store's EOF */
        mj_js_error(error, MJ_ERR_JS_STREAM_MSG_DELETE_FAILED, "stream store EOF");
        return false;
    }
    if (!store_remove(st->store, seq, erase, &err)) {
        if (err != NULL) /* an I/O failure */
            mj_js_error(error, MJ_ERR_JS_STREAM_MSG_DELETE_FAILED, "%s", err->message);
        else if (seq >= s.first_seq) /* a gap inside the stream: nats-server says 10043 */
            mj_js_error(error, MJ_ERR_JS_SEQUENCE_NOT_FOUND, "sequence %" G_GUINT64_FORMAT " not found", seq);
        else
            mj_js_error(error, MJ_ERR_JS_STREAM_MSG_DELETE_FAILED, "no message found");
        return false;
    }
    stream_tell_removed(st);
    stream_need_flush(st);
    return true;
}

typedef struct SubjectsCtx {
    JsonBuilder *b;
    int64_t index, from, to;
} SubjectsCtx;

static void add_subject_count(const char *subject, uint64_t msgs, void *arg) {
    SubjectsCtx *c = arg;
    if (c->index >= c->from && c->index < c->to) jsonu_add_int(c->b, subject, (int64_t)msgs);
    c->index++;
}

static void count_subject(const char *subject, uint64_t msgs, void *arg) { (*(int64_t *)arg)++; }

/* The members of a StreamInfo: "config", "created", "state" (spec 3.4). With a subjects
 * filter, the caller has already written "total","offset","limit" from stream_subjects_total. */
void stream_build_info(Stream *st, JsonBuilder *b, const StreamInfoReq *req) {
    json_builder_set_member_name(b, "config");
    stream_config_build(st->cfg, b);
    g_autofree char *created = jsonu_time_format(st->created_ns);
    jsonu_add_string(b, "created", created);
    StoreState s;
    store_state(st->store, &s);
    json_builder_set_member_name(b, "state");
    json_builder_begin_object(b);
    jsonu_add_int(b, "messages", (int64_t)s.msgs);
    jsonu_add_int(b, "bytes", (int64_t)s.bytes);
    /* A stream that never stored anything says 0, not 1 (nats-server). */
    jsonu_add_int(b, "first_seq", s.last_seq == 0 ? 0 : (int64_t)s.first_seq);
    char ts[JSONU_TIME_MAX];
    jsonu_time_format_buf(s.msgs > 0 ? s.first_ts_ns : 0, ts);
    jsonu_add_string(b, "first_ts", ts);
    jsonu_add_int(b, "last_seq", (int64_t)s.last_seq);
    jsonu_time_format_buf(s.last_ts_ns, ts);
    jsonu_add_string(b, "last_ts", ts);
    if (s.num_subjects > 0) jsonu_add_int(b, "num_subjects", (int64_t)s.num_subjects);
    if (req != NULL && req->subjects_filter != NULL && s.num_subjects > 0) {
        SubjectsCtx c = {b, 0, req->offset, req->offset + LIMIT_JS_API_SUBJECTS_PAGE_COUNT};
        json_builder_set_member_name(b, "subjects");
        json_builder_begin_object(b);
        store_subjects(st->store, req->subjects_filter, add_subject_count, &c);
        json_builder_end_object(b);
    }
    if (s.num_deleted > 0) jsonu_add_int(b, "num_deleted", (int64_t)s.num_deleted);
    if (req != NULL && req->deleted_details && s.num_deleted > 0) {
        g_autoptr(GArray) del = g_array_new(FALSE, FALSE, sizeof(guint64));
        store_deleted(st->store, del);
        json_builder_set_member_name(b, "deleted");
        json_builder_begin_array(b);
        for (guint i = 0; i < del->len; i++) json_builder_add_int_value(b, (int64_t)g_array_index(del, guint64, i));
        json_builder_end_array(b);
    }
    jsonu_add_int(b, "consumer_count", st->hooks != NULL ? st->hooks->count(st->hooks_ctx) : 0);
    json_builder_end_object(b);
    if (req != NULL && req->domain && st->host.domain != NULL) jsonu_add_string(b, "domain", st->host.domain);
    stream_build_cluster_info(st, b, false);
}

void stream_build_cluster_info(Stream *st, JsonBuilder *b, bool leader_only) {
    if (st->repl != NULL && st->repl->info != NULL) st->repl->info(st->repl_ctx, st, b, leader_only);
}

int64_t stream_subjects_total(Stream *st, const char *filter) {
    int64_t n = 0;
    store_subjects(st->store, filter, count_subject, &n);
    return n;
}

const StreamConfig *stream_config(Stream *st) { return st->cfg; }
Store *stream_store(Stream *st) { return st->store; }
const char *stream_name(Stream *st) { return st->cfg->name; }
Server *stream_server(Stream *st) { return st->srv; }
Env *stream_env(Stream *st) { return st->env; }
const char *stream_domain(Stream *st) { return st->host.domain; }
const char *stream_dir(Stream *st) { return st->dir; }

/* The stream and consumer action advisories nats-server 2.9.10 publishes (JSStreamAction-
 * and JSConsumerActionAdvisory): $JS.EVENT.ADVISORY.STREAM.<CREATED|UPDATED|DELETED>.<stream>
 * and $JS.EVENT.ADVISORY.CONSUMER.<CREATED|DELETED>.<stream>.<consumer>, action "create",
 * "modify" or "delete". A server with nobody subscribed drops them at the sublist. */
void stream_action_advisory(Stream *st, const char *consumer, const char *action) {
    const char *what = strcmp(action, "create") == 0 ? "CREATED" : strcmp(action, "delete") == 0 ? "DELETED" : "UPDATED";
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "type", consumer != NULL ? "io.nats.jetstream.advisory.v1.consumer_action"
                                                 : "io.nats.jetstream.advisory.v1.stream_action");
    char id[24];
    g_snprintf(id, sizeof id, "%016" G_GINT64_MODIFIER "x", env_random_u64(st->env));
    jsonu_add_string(b, "id", id);
    g_autofree char *ts = jsonu_time_format(env_wall_ns(st->env));
    jsonu_add_string(b, "timestamp", ts);
    jsonu_add_string(b, "stream", st->cfg->name);
    if (consumer != NULL) jsonu_add_string(b, "consumer", consumer);
    jsonu_add_string(b, "action", action);
    if (st->host.domain != NULL) jsonu_add_string(b, "domain", st->host.domain);
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    g_autofree char *subject = consumer != NULL
        ? g_strdup_printf("$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", what, st->cfg->name, consumer)
        : g_strdup_printf("$JS.EVENT.ADVISORY.STREAM.%s.%s", what, st->cfg->name);
    server_publish(st->srv, subject, NULL, NULL, 0, json, strlen(json));
}
void stream_need_flush(Stream *st) {
    stream_account(st);
    st->host.need_flush(st->host.owner, st);
}

void stream_account(Stream *st) {
    StoreState s;
    store_state(st->store, &s);
    if (s.bytes == st->accounted_bytes) return;
    int64_t delta = (int64_t)s.bytes - (int64_t)st->accounted_bytes;
    st->accounted_bytes = s.bytes;
    if (st->host.usage != NULL) st->host.usage(st->host.owner, st, delta);
}
int64_t stream_created_ns(Stream *st) { return st->created_ns; }

void stream_check_invariants(Stream *st) {
    store_check_invariants(st->store);
    stream_check_contracts(st);
}

void stream_check_contracts(Stream *st) {
    StoreState s;
    store_state(st->store, &s);
    uint64_t durable = store_durable_seq(st->store);
    for (GList *l = st->pending.head; l != NULL; l = l->next) {
        PendingAck *p = l->data;
        g_assert_cmpuint(p->seq, <=, s.last_seq);
    }
    g_assert_cmpuint(durable, <=, s.last_seq);
    for (GList *l = st->dedup_order.head; l != NULL; l = l->next) {
        DedupEntry *d = l->data;
        g_assert_cmpuint(d->seq, <=, s.last_seq);
    }
    if (st->cfg->max_age_ns > 0 && s.msgs > 0) g_assert_cmpuint(st->age_timer, !=, 0);
    if (st->cfg->max_msgs > 0 && st->cfg->discard == DISCARD_OLD)
        g_assert_cmpuint(s.msgs, <=, (uint64_t)st->cfg->max_msgs);
    g_assert_cmpuint(st->subs->len, ==, st->subscribed ? g_strv_length(st->cfg->subjects) : 0);
    g_assert_cmpuint(st->repl_pending, <=, st->repl_last_seq);
}
