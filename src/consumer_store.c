/* consumer_store.c — the consumers of one stream: registry, the stream's hooks, retention
 * coupling and persistence. See consumer.h.
 *
 * THE FILES (two per DURABLE consumer, in <store_dir>/streams/<stream>/consumers/)
 *   <name>.json   the SNAPSHOT, written atomically (env_file_write_atomic: temp file, fsync,
 *                 rename, fsync dir) at creation, on a config change, and when the log is
 *                 full (LIMIT_CONSUMER_STATE_LOG_BYTES):
 *   | member   | what                                                                   |
 *   | name     | the consumer's name                                                    |
 *   | created  | wall-clock ns of creation                                              |
 *   | gen      | the state's generation (absent in old files: 0)                        |
 *   | config   | the echoed ConsumerConfig (consumer_config_build)                      |
 *   | state    | sseq_next, dseq_next, floor_sseq, floor_dseq, and "pending": one       |
 *   |          | [sseq, dseq, dseq_first, deliveries, delivered_wall_ns] per unacked msg |
 *
 *   <name>.state  the LOG: every other save appends one record, then one fdatasync
 *   | offset | size | field                                                          |
 *   |      0 |    4 | magic 0x53434A4D ("MJCS" on disk), little-endian               |
 *   |      4 |    4 | payload length L                                               |
 *   |      8 |    4 | CRC32C of the payload                                          |
 *   |     12 |    L | {"gen":G,"state":{...}}, the same state object as above        |
 *
 *   LOADING: the snapshot, then the log's LAST intact record (walking from the start, a bad
 *   magic, length or CRC ends the walk: a torn tail). That record's state wins if its gen is
 *   newer than the snapshot's; gens only grow, so an emptied-but-not-yet-durable log or a
 *   snapshot written after the log can never bring back an older state than the other file.
 *
 *   WHY A LOG NOW (it used to be whole files only): a save was temp file + fdatasync + rename
 *   + directory fsync, 4-14 ms on this course's shared disks, about 8 times a second under
 *   a pull consumer at full speed: the event loop stood still ~6% of the time (appendix B).
 *   An append to an existing file needs one fdatasync and no directory update. Rewriting the
 *   snapshot when the log passes its limit is the compaction; there is no other.
 *   SAVES ARE BATCHED: a change marks the consumer dirty and one timer writes every dirty
 *   consumer LIMIT_CONSUMER_SAVE_DELAY_NS later (and at shutdown).
 *   WHAT A CRASH LOSES: at most that window of acks and deliveries. Lost acks mean those
 *   messages are delivered again; a lost delivery means it is delivered again as new. Both
 *   are at-least-once, never a loss. On restart, pending messages are redelivered when their
 *   ack_wait (measured from the saved delivery time) runs out.
 *   Ephemeral consumers are not saved: their clients recreate them after a restart anyway.
 *
 * RETENTION COUPLING
 *   limits     the consumers never remove anything.
 *   workqueue  a message goes as soon as its one consumer acks (or terminates) it.
 *   interest   a message goes once no consumer needs it (consumer_needs: not filtered away,
 *              above the ack floor, and not acked); a new message nobody's filter matches
 *              is not kept at all (stream.c asks consumer_set_interested); deleting a
 *              consumer releases what only it was holding.
 */
#include <string.h>

#include "bytes.h"
#include "consumer_int.h"
#include "crc32c.h"
#include "jsonutil.h"
#include "limits.h"
#include "sublist.h"

struct ConsumerSet {
    Stream *st;
    Env *env;
    char *dir;            /* .../consumers */
    GTree *by_name;       /* char* -> Consumer*, sorted: NAMES/LIST order */
    Sublist *by_filter;   /* Consumer* under its filter subject (">" when unfiltered): who
                           * hears of a new message, see consumer_set_stored */
    GPtrArray *matched;   /* scratch for consumer_set_stored */
    uint64_t stored;      /* appends consumer_set_stored has heard of (consumer.c npc_fresh) */
    GPtrArray *dirty;     /* Consumer* to save */
    EnvTimer save_timer;
    GHashTable *logs;     /* Consumer* -> StateLog*, durable ones; lookup only, never iterated
                           * for output */
};

/* One durable consumer's files, as this process last wrote them (see THE FILES). */
typedef struct StateLog {
    int fd;            /* <name>.state open for appends; -1 = the next save writes a snapshot */
    uint64_t size;     /* bytes in the log */
    uint64_t gen;      /* generation of the newest state written (snapshot or log) */
    char *config_json; /* the config as the last snapshot has it: a change needs a new one */
} StateLog;

#define LOG_MAGIC 0x53434A4Du
#define LOG_HDR_BYTES 12

Stream *consumer_set_stream(ConsumerSet *set) { return set->st; }
guint consumer_set_count(ConsumerSet *set) { return set != NULL ? (guint)g_tree_nnodes(set->by_name) : 0; }
Consumer *consumer_set_lookup(ConsumerSet *set, const char *name) { return g_tree_lookup(set->by_name, name); }
uint64_t consumer_set_stored_total(ConsumerSet *set) { return set->stored; }

/* The two indexes of the set's consumers: by name, and by filter (the sublist). */
static const char *filter_key(const ConsumerConfig *cfg) {
    return cfg->filter_subject != NULL ? cfg->filter_subject : ">";
}

static void index_add(ConsumerSet *set, Consumer *c) {
    g_tree_insert(set->by_name, (gpointer)consumer_name(c), c);
    bool ok = sublist_insert(set->by_filter, filter_key(consumer_config(c)), NULL, c);
    g_assert_true(ok); /* filters were validated as subscribe subjects */
}

static void index_remove(ConsumerSet *set, Consumer *c) {
    g_tree_remove(set->by_name, consumer_name(c));
    bool ok = sublist_remove(set->by_filter, filter_key(consumer_config(c)), NULL, c);
    g_assert_true(ok);
}

static gboolean collect(gpointer key, gpointer value, gpointer arr) {
    g_ptr_array_add(arr, value);
    return FALSE;
}

GPtrArray *consumer_set_list(ConsumerSet *set) {
    GPtrArray *arr = g_ptr_array_new();
    g_tree_foreach(set->by_name, collect, arr);
    return arr;
}

/* ------------------------------------------------------------------ persistence */

/* FILE NAMES
 *   A consumer's files are named after it: <name>.json, <name>.json.tmp, <name>.state and
 *   <name>.state.bad. A name may be LIMIT_CONSUMER_NAME_BYTES (255) long, as in
 *   nats-server, but a file name may not be longer than LIMIT_FILE_NAME_BYTES (255 on Linux
 *   file systems): "<255 chars>.json.tmp" failed with ENAMETOOLONG and the consumer was
 *   acknowledged but never saved. A name that does not fit with the longest suffix is
 *   stored under "<sha256 of the name>.sha256" instead. That stem cannot be a real name (a
 *   name has no '.'), and the real name is inside the snapshot, which is what loading reads;
 *   the stem is only ever computed from the name, never parsed back. */
#define FILE_SUFFIX_MAX_BYTES (sizeof ".state.bad" - 1)
G_STATIC_ASSERT(sizeof ".json.tmp" - 1 <= FILE_SUFFIX_MAX_BYTES);

static char *file_stem(const char *name) {
    if (strlen(name) + FILE_SUFFIX_MAX_BYTES <= LIMIT_FILE_NAME_BYTES) return g_strdup(name);
    g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, name, -1);
    return g_strconcat(h, ".sha256", NULL);
}

static char *path_for(ConsumerSet *set, const char *name, const char *suffix) {
    g_autofree char *stem = file_stem(name);
    g_autofree char *f = g_strconcat(stem, suffix, NULL);
    return g_build_filename(set->dir, f, NULL);
}

static char *file_for(ConsumerSet *set, const char *name) { return path_for(set, name, ".json"); }
static char *log_for(ConsumerSet *set, const char *name) { return path_for(set, name, ".state"); }

static StateLog *state_log(ConsumerSet *set, Consumer *c) {
    StateLog *lg = g_hash_table_lookup(set->logs, c);
    if (lg == NULL) {
        lg = g_new0(StateLog, 1);
        lg->fd = -1;
        g_hash_table_insert(set->logs, c, lg);
    }
    return lg;
}

static void state_log_close(ConsumerSet *set, StateLog *lg) {
    if (lg->fd >= 0) env_file_close(set->env, lg->fd);
    lg->fd = -1;
}

static void state_log_drop(ConsumerSet *set, Consumer *c) {
    StateLog *lg = g_hash_table_lookup(set->logs, c);
    if (lg == NULL) return;
    state_log_close(set, lg);
    g_free(lg->config_json);
    g_free(lg);
    g_hash_table_remove(set->logs, c);
}

static char *config_json(Consumer *c) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    consumer_config_build(consumer_config(c), b);
    return jsonu_builder_to_string(b);
}

/* The snapshot: empty the log, then write <name>.json atomically with a new gen. Emptying
 * first is what makes a crash in between harmless: the log is empty (snapshot wins) or still
 * holds older gens than the snapshot about to be written (snapshot wins once written; until
 * then the old snapshot and old log are together what the last save left). */
static gboolean save_failed(ConsumerSet *set, Consumer *c, StateLog *lg, char *cfg_json, GError *err,
                            GError **error) {
    g_free(cfg_json);
    state_log_close(set, lg); /* try a snapshot again next time */
    env_log(set->env, ENV_LOG_ERROR, "consumer %s > %s: state not saved: %s", stream_name(set->st),
            consumer_name(c), err != NULL ? err->message : "?");
    if (error != NULL)
        mj_js_error(error, MJ_ERR_JS_CONSUMER_STORE_FAILED, "error creating store for consumer: %s",
                    err != NULL ? err->message : "?");
    return FALSE;
}

static gboolean save_snapshot(ConsumerSet *set, Consumer *c, StateLog *lg, char *cfg_json, GError **error) {
    Env *env = set->env;
    g_autoptr(GError) err = NULL;
    g_autofree char *path = file_for(set, consumer_name(c));
    g_autofree char *lpath = log_for(set, consumer_name(c));
    lg->gen++;
    if (!env_dir_make(env, set->dir, &err)) return save_failed(set, c, lg, cfg_json, err, error);
    if (lg->fd >= 0 && !env_file_truncate(env, lg->fd, 0, NULL)) state_log_close(set, lg);
    if (lg->fd < 0) lg->fd = env_file_open(env, lpath, ENV_FILE_WRITE | ENV_FILE_CREATE | ENV_FILE_TRUNC, NULL);
    lg->size = 0; /* if the log could not be opened, every save stays a snapshot (fd -1) */
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "name", consumer_name(c));
    jsonu_add_int(b, "created", consumer_created_ns(c));
    jsonu_add_int(b, "gen", (int64_t)lg->gen);
    jsonu_add_bool(b, "log", lg->fd >= 0); /* a <stem>.state goes with this snapshot */
    json_builder_set_member_name(b, "config");
    consumer_config_build(consumer_config(c), b);
    json_builder_set_member_name(b, "state");
    consumer_build_state(c, b);
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    /* the directory fsync inside also makes a newly created log's name durable */
    if (!env_file_write_atomic(env, path, json, strlen(json), &err))
        return save_failed(set, c, lg, cfg_json, err, error);
    g_free(lg->config_json);
    lg->config_json = cfg_json;
    return TRUE;
}

/* One record at the end of the log and one fdatasync. FALSE: the caller writes a snapshot
 * (which also cuts off whatever part of this record reached the disk). */
static gboolean save_append(ConsumerSet *set, Consumer *c, StateLog *lg) {
    Env *env = set->env;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_int(b, "gen", (int64_t)lg->gen + 1);
    json_builder_set_member_name(b, "state");
    consumer_build_state(c, b);
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    size_t len = strlen(json);
    g_autofree uint8_t *rec = g_malloc(LOG_HDR_BYTES + len);
    put32(rec, LOG_MAGIC);
    put32(rec + 4, (uint32_t)len);
    put32(rec + 8, crc32c(json, len));
    memcpy(rec + LOG_HDR_BYTES, json, len);
    g_autoptr(GError) err = NULL;
    for (size_t done = 0; done < LOG_HDR_BYTES + len;) {
        gssize n = env_file_pwrite(env, lg->fd, rec + done, LOG_HDR_BYTES + len - done, lg->size + done, &err);
        if (n <= 0) goto failed;
        done += (size_t)n;
    }
    if (!env_file_sync(env, lg->fd, &err)) goto failed;
    lg->size += LOG_HDR_BYTES + len;
    lg->gen++;
    return TRUE;
failed:
    env_log(env, ENV_LOG_WARN, "consumer %s > %s: state log append failed (%s); writing a snapshot",
            stream_name(set->st), consumer_name(c), err != NULL ? err->message : "short write");
    state_log_close(set, lg);
    return FALSE;
}

/* FALSE (and *error, if asked) when nothing could be written. */
static gboolean save(ConsumerSet *set, Consumer *c, GError **error) {
    StateLog *lg = state_log(set, c);
    char *cfg = config_json(c);
    if (lg->fd >= 0 && lg->size < LIMIT_CONSUMER_STATE_LOG_BYTES && lg->config_json != NULL &&
        strcmp(cfg, lg->config_json) == 0 && save_append(set, c, lg)) {
        g_free(cfg);
        return TRUE;
    }
    return save_snapshot(set, c, lg, cfg, error);
}

/* The newest intact record of a state log with a gen above min_gen: its "state" object
 * (owned by *parser), or NULL. *gen is raised to the newest gen seen. *damage (g_free it) is
 * set when records are unreadable, other than a torn last record (see DAMAGE). */
static JsonObject *log_newest_state(ConsumerSet *set, const char *path, uint64_t min_gen, uint64_t *gen,
                                    JsonParser **parser, char **damage) {
    g_autoptr(GBytes) data = NULL;
    g_autoptr(GError) err = NULL;
    if (!env_file_read_all(set->env, path, &data, &err)) {
        *damage = g_strdup_printf("could not be read (%s)", err->message);
        return NULL;
    }
    gsize n;
    const uint8_t *p = g_bytes_get_data(data, &n);
    const uint8_t *last = NULL;
    uint32_t last_len = 0;
    gsize off = 0;
    while (off + LOG_HDR_BYTES <= n) {
        uint32_t len = get32(p + off + 4);
        if (get32(p + off) != LOG_MAGIC || len > n - off - LOG_HDR_BYTES ||
            crc32c(p + off + LOG_HDR_BYTES, len) != get32(p + off + 8))
            break; /* a torn or damaged tail: what follows cannot be trusted */
        last = p + off + LOG_HDR_BYTES;
        last_len = len;
        off += LOG_HDR_BYTES + len;
    }
    /* A crash during an append leaves a short last record: fewer bytes than a header, or a
     * header (right magic) promising more bytes than follow. That is the window a crash may
     * lose by design. Anything else left unread -- a wrong magic, a wrong checksum on a
     * complete record -- is damage. */
    gsize rest = n - off;
    bool torn = rest < LOG_HDR_BYTES ||
                (get32(p + off) == LOG_MAGIC && get32(p + off + 4) > rest - LOG_HDR_BYTES);
    if (rest > 0 && !torn)
        *damage = g_strdup_printf("is damaged at offset %" G_GSIZE_FORMAT " (%" G_GSIZE_FORMAT
                                  " bytes unreadable)", off, rest);
    JsonObject *o = last != NULL ? jsonu_parse_object(last, last_len, parser) : NULL;
    int64_t g = 0;
    JsonNode *sn = o != NULL ? json_object_get_member(o, "state") : NULL;
    if (sn == NULL || !JSON_NODE_HOLDS_OBJECT(sn) || !jsonu_get_int(o, "gen", &g) || g <= 0) return NULL;
    if ((uint64_t)g > *gen) *gen = (uint64_t)g;
    return (uint64_t)g > min_gen ? json_node_get_object(sn) : NULL;
}

/* DAMAGE
 *   The snapshot says whether a log goes with it ("log": true). A log that is missing, or
 *   that has unreadable records, means acks and deliveries saved after the last readable
 *   state are gone: the consumer resumes from that state and will deliver again what was
 *   acknowledged since (at-least-once, never a loss -- but never silent either). Loading
 *   logs an [ERR] naming the file and the position it resumes from, moves the damaged file
 *   aside to <stem>.state.bad (the next save starts a fresh log), and CONSUMER.INFO shows
 *   "state_reset" until the server restarts. A damaged snapshot (<stem>.json) is moved
 *   aside to <stem>.json.bad: the consumer is not loaded, and a client that re-creates it
 *   does not overwrite the evidence. */
static void state_lost(ConsumerSet *set, Consumer *c, const char *lpath, const char *damage, bool exists) {
    g_autofree char *aside = path_for(set, consumer_name(c), ".state.bad");
    if (exists) env_path_rename(set->env, lpath, aside, NULL);
    c->state_reset = g_strdup_printf("state file %s %s: acks and deliveries saved after its last "
                                     "readable state are lost; resumed at stream sequence %" G_GUINT64_FORMAT
                                     " (ack floor %" G_GUINT64_FORMAT ")%s%s",
                                     lpath, damage, c->sseq_next, c->floor_sseq,
                                     exists ? "; the damaged file is kept as " : "", exists ? aside : "");
    env_log(set->env, ENV_LOG_ERROR, "consumer %s > %s: %s", stream_name(set->st), consumer_name(c),
            c->state_reset);
}

static void save_dirty(ConsumerSet *set) {
    for (guint i = 0; i < set->dirty->len; i++) save(set, g_ptr_array_index(set->dirty, i), NULL);
    g_ptr_array_set_size(set->dirty, 0);
}

static void save_fired(void *arg) {
    ConsumerSet *set = arg;
    set->save_timer = 0;
    save_dirty(set);
}

void consumer_set_save_soon(ConsumerSet *set, Consumer *c) {
    if (!consumer_is_durable(c)) return;
    for (guint i = 0; i < set->dirty->len; i++)
        if (g_ptr_array_index(set->dirty, i) == c) return;
    g_ptr_array_add(set->dirty, c);
    if (set->save_timer == 0) set->save_timer = env_timer_add(set->env, LIMIT_CONSUMER_SAVE_DELAY_NS, save_fired, set);
}

static void load_one(ConsumerSet *set, const char *file) {
    g_autofree char *path = g_build_filename(set->dir, file, NULL);
    g_autoptr(GBytes) data = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = NULL;
    if (env_file_read_all(set->env, path, &data, &err)) {
        gsize len;
        const void *p = g_bytes_get_data(data, &len);
        o = jsonu_parse_object(p, len, &parser);
    }
    const char *name = NULL;
    int64_t created = 0;
    JsonNode *cn = o != NULL ? json_object_get_member(o, "config") : NULL;
    JsonNode *sn = o != NULL ? json_object_get_member(o, "state") : NULL;
    ConsumerConfig *cfg = NULL;
    if (cn != NULL && JSON_NODE_HOLDS_OBJECT(cn) && jsonu_get_string(o, "name", &name) && name != NULL &&
        jsonu_get_int(o, "created", &created))
        cfg = consumer_config_parse(json_node_get_object(cn), &err);
    if (cfg != NULL && !consumer_config_validate(cfg, stream_config(set->st), &err)) g_clear_pointer(&cfg, consumer_config_free);
    if (cfg == NULL || consumer_set_lookup(set, name) != NULL) {
        g_autofree char *aside = g_strconcat(path, ".bad", NULL);
        bool moved = cfg == NULL && env_path_rename(set->env, path, aside, NULL);
        env_log(set->env, ENV_LOG_ERROR, "consumer file %s not loaded%s%s%s%s", path, err != NULL ? ": " : "",
                err != NULL ? err->message : "", moved ? "; kept as " : "", moved ? aside : "");
        if (cfg != NULL) consumer_config_free(cfg);
        return;
    }
    JsonObject *state = sn != NULL && JSON_NODE_HOLDS_OBJECT(sn) ? json_node_get_object(sn) : NULL;
    int64_t snap_gen = 0;
    jsonu_get_int(o, "gen", &snap_gen);
    uint64_t gen = snap_gen > 0 ? (uint64_t)snap_gen : 0;
    g_autofree char *lpath = log_for(set, name);
    g_autoptr(JsonParser) lparser = NULL;
    g_autofree char *damage = NULL;
    bool has_log = false, log_exists = env_path_exists(set->env, lpath);
    jsonu_get_bool(o, "log", &has_log);
    JsonObject *newer = NULL;
    if (log_exists)
        newer = log_newest_state(set, lpath, gen, &gen, &lparser, &damage);
    else if (has_log)
        damage = g_strdup("is missing");
    Consumer *c = consumer_new(set, name, cfg, created, newer != NULL ? newer : state);
    index_add(set, c);
    if (damage != NULL) state_lost(set, c, lpath, damage, log_exists);
    state_log(set, c)->gen = gen; /* fd -1: this process's first save writes a snapshot */
}

static void hook_stored(void *ctx, uint64_t seq, const char *subject) { consumer_set_stored(ctx, seq, subject); }
static bool hook_interested(void *ctx, const char *subject) { return consumer_set_interested(ctx, subject); }
static void hook_removed(void *ctx) { consumer_set_removed(ctx); }
static void hook_closed(void *ctx, bool deleted) { consumer_set_close(ctx, deleted); }
static guint hook_count(void *ctx) { return consumer_set_count(ctx); }

/* The table the set registers with its stream (stream.h): how the stream reaches us. */
static const StreamHooks set_hooks = {hook_stored, hook_interested, hook_removed, hook_closed, hook_count};

ConsumerSet *consumer_set_of(Stream *st) {
    ConsumerSet *set = stream_hooks_ctx(st, &set_hooks);
    g_assert(set != NULL);
    return set;
}

ConsumerSet *consumer_set_open(Stream *st) {
    ConsumerSet *set = g_new0(ConsumerSet, 1);
    set->st = st;
    set->env = stream_env(st);
    set->dir = g_build_filename(stream_dir(st), "consumers", NULL);
    set->by_name = g_tree_new((GCompareFunc)strcmp);
    set->by_filter = sublist_new();
    set->matched = g_ptr_array_new();
    set->dirty = g_ptr_array_new();
    set->logs = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_auto(GStrv) names = env_path_exists(set->env, set->dir)
                              ? env_dir_list(set->env, set->dir, NULL) : NULL;
    for (char **n = names; n != NULL && *n != NULL; n++)
        if (g_str_has_suffix(*n, ".json")) load_one(set, *n);
    stream_set_hooks(st, &set_hooks, set);
    return set;
}

void consumer_set_close(ConsumerSet *set, bool stream_deleted) {
    if (set == NULL) return;
    env_timer_cancel(set->env, set->save_timer);
    if (!stream_deleted) save_dirty(set);
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    g_tree_destroy(set->by_name);
    sublist_free(set->by_filter);
    g_ptr_array_free(set->matched, TRUE);
    for (guint i = 0; i < all->len; i++) {
        state_log_drop(set, g_ptr_array_index(all, i));
        consumer_free(g_ptr_array_index(all, i), stream_deleted);
    }
    g_assert_cmpuint(g_hash_table_size(set->logs), ==, 0);
    g_hash_table_destroy(set->logs);
    g_ptr_array_free(set->dirty, TRUE);
    g_free(set->dir);
    g_free(set);
}

/* ------------------------------------------------------------------ the stream's hooks */

static int by_name_cmp(gconstpointer a, gconstpointer b) {
    return strcmp(consumer_name(*(Consumer *const *)a), consumer_name(*(Consumer *const *)b));
}

/* A subject with a '*' or '>' token (core NATS lets a non-pedantic client publish one) is
 * matched token by token by the sublist but as a literal by consumer_filter_matches: such a
 * message goes the old way, through every consumer, so both agree. */
static void match_all(ConsumerSet *set, const char *subject) {
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    for (guint i = 0; i < all->len; i++)
        if (consumer_filter_matches(g_ptr_array_index(all, i), subject)) g_ptr_array_add(set->matched, g_ptr_array_index(all, i));
}

/* The consumers whose filter matches `subject`, into set->matched, in name order. */
static void matching(ConsumerSet *set, const char *subject) {
    g_ptr_array_set_size(set->matched, 0);
    size_t len = strlen(subject);
    if (!subject_is_literal(subject, len)) {
        match_all(set, subject);
        return;
    }
    const SublistResult *r = sublist_match(set->by_filter, subject, len);
    for (guint i = 0; i < r->plain->len; i++) g_ptr_array_add(set->matched, g_ptr_array_index(r->plain, i));
    /* the trie's order is deterministic but not the name order the tree walk had; the kicks
     * (and so which consumer delivers first) keep that order */
    if (set->matched->len > 1) g_ptr_array_sort(set->matched, by_name_cmp);
}

/* A new message: only the consumers whose filter matches hear of it, found through the
 * sublist, so the cost no longer grows with consumers that do not care. Non-matching
 * consumers keep their num_pending cache through set->stored (consumer.c npc_fresh).
 * jsconsumers publishes/s, N idle consumers whose filters do not match, one run each:
 *   before (walk every consumer): 1: 272k  100: 63k  1000: 20k
 *   after  (sublist match):       1: 126k  100: 132k  1000: 133k  (flat; a busier machine)
 *   nats-server 2.9.10 is flat at ~63k (bench/LATEST.md). */
void consumer_set_stored(ConsumerSet *set, uint64_t seq, const char *subject) {
    if (set == NULL) return;
    set->stored++;
    matching(set, subject);
    for (guint i = 0; i < set->matched->len; i++) consumer_on_stored(g_ptr_array_index(set->matched, i), seq);
}

bool consumer_set_interested(ConsumerSet *set, const char *subject) {
    if (set == NULL) return false;
    matching(set, subject);
    return set->matched->len > 0;
}

static gboolean each_removed(gpointer key, gpointer value, gpointer data) {
    consumer_on_removed(value);
    return FALSE;
}

void consumer_set_removed(ConsumerSet *set) {
    if (set != NULL) g_tree_foreach(set->by_name, each_removed, NULL);
}

static gboolean any_needs(gpointer key, gpointer value, gpointer data) {
    gpointer *a = data;
    if (consumer_needs(value, *(uint64_t *)a[0], a[1])) a[2] = value;
    return a[2] != NULL;
}

static bool needed(ConsumerSet *set, uint64_t seq, const char *subject) {
    gpointer a[3] = {&seq, (gpointer)subject, NULL};
    g_tree_foreach(set->by_name, any_needs, a);
    return a[2] != NULL;
}

void consumer_set_msg_acked(ConsumerSet *set, uint64_t seq) {
    StreamRetention r = stream_config(set->st)->retention;
    if (r == RETENTION_LIMITS) return;
    Store *store = stream_store(set->st);
    if (r == RETENTION_INTEREST) {
        g_autoptr(StoreMsg) m = store_load(store, seq, NULL);
        if (m == NULL || needed(set, seq, m->subject)) return;
    }
    if (store_remove(store, seq, FALSE, NULL)) stream_need_flush(set->st);
}

/* Interest retention after a consumer left: release what nobody needs any more. */
static void release_unneeded(ConsumerSet *set) {
    if (stream_config(set->st)->retention != RETENTION_INTEREST) return;
    Store *store = stream_store(set->st);
    bool removed = false;
    for (uint64_t seq = store_next_seq(store, NULL, 0); seq != 0; seq = store_next_seq(store, NULL, seq + 1)) {
        g_autoptr(StoreMsg) m = store_load(store, seq, NULL);
        if (m != NULL && !needed(set, seq, m->subject)) removed |= store_remove(store, seq, FALSE, NULL);
    }
    if (removed) stream_need_flush(set->st);
}

void consumer_set_delete(ConsumerSet *set, Consumer *c) {
    index_remove(set, c);
    g_ptr_array_remove(set->dirty, c);
    state_log_drop(set, c);
    if (consumer_is_durable(c)) {
        g_autofree char *path = file_for(set, consumer_name(c));
        g_autofree char *lpath = log_for(set, consumer_name(c));
        env_path_remove(set->env, lpath, NULL);
        env_path_remove(set->env, path, NULL);
    }
    consumer_free(c, true);
    release_unneeded(set);
}

/* ------------------------------------------------------------------ create / update */

static gboolean wq_conflict(gpointer key, gpointer value, gpointer data) {
    gpointer *a = data;
    const char *f = consumer_config(value)->filter_subject;
    const char *mine = a[0];
    if (f == NULL || subject_patterns_overlap(f, mine)) a[1] = value;
    return a[1] != NULL;
}

/* An ephemeral's name: 8 random alphanumerics, from the environment's randomness. */
static char *random_name(ConsumerSet *set) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (;;) {
        char n[9];
        uint64_t r = env_random_u64(set->env);
        for (int i = 0; i < 8; i++, r /= 62) n[i] = digits[r % 62];
        n[8] = '\0';
        if (consumer_set_lookup(set, n) == NULL) return g_strdup(n);
    }
}

Consumer *consumer_set_add(ConsumerSet *set, ConsumerConfig *cfg_in, GError **error) {
    g_autoptr(ConsumerConfig) cfg = cfg_in;
    const StreamConfig *scfg = stream_config(set->st);
    if (!consumer_config_validate(cfg, scfg, error)) return NULL;
    const char *name = cfg->durable_name != NULL ? cfg->durable_name : cfg->name;
    Consumer *old = name != NULL ? consumer_set_lookup(set, name) : NULL;
    if (old != NULL) {
        if (consumer_config_equal(consumer_config(old), cfg)) return old;
        if (!consumer_config_check_update(consumer_config(old), cfg, error)) return NULL;
        if (cfg->backoff_ns != NULL && cfg->backoff_ns->len > 0 && cfg->max_deliver <= (int64_t)cfg->backoff_ns->len) {
            mj_js_error(error, MJ_ERR_JS_CONSUMER_MAX_DELIVER_BACKOFF, NULL);
            return NULL;
        }
        index_remove(set, old); /* the filter may change */
        consumer_update(old, g_steal_pointer(&cfg));
        index_add(set, old);
        return old;
    }
    if (scfg->max_consumers > 0 && (int64_t)consumer_set_count(set) >= scfg->max_consumers) {
        mj_js_error(error, MJ_ERR_JS_MAXIMUM_CONSUMERS, NULL);
        return NULL;
    }
    if (scfg->retention == RETENTION_WORKQUEUE && !cfg->direct) {
        if (cfg->ack_policy != ACK_EXPLICIT) {
            mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_REQUIRES_EXPLICIT_ACK, NULL);
            return NULL;
        }
        if (consumer_set_count(set) > 0) {
            if (cfg->filter_subject == NULL) {
                mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_MULTIPLE_UNFILTERED, NULL);
                return NULL;
            }
            gpointer a[2] = {cfg->filter_subject, NULL};
            g_tree_foreach(set->by_name, wq_conflict, a);
            if (a[1] != NULL) {
                mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_NOT_UNIQUE, NULL);
                return NULL;
            }
        }
        if (cfg->deliver_policy != DELIVER_ALL) {
            mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_NOT_DELIVER_ALL, NULL);
            return NULL;
        }
    }
    g_autofree char *gen = NULL;
    if (name == NULL) {
        gen = random_name(set);
        cfg->name = g_strdup(gen);
        name = gen;
    }
    g_autofree char *nm = g_strdup(name);
    Consumer *c = consumer_new(set, nm, g_steal_pointer(&cfg), env_wall_ns(set->env), NULL);
    index_add(set, c);
    /* A durable is acknowledged only once it is on disk; if it cannot be written (disk full,
     * a name the file system refuses) the reply is the error and nothing of it remains. */
    if (consumer_is_durable(c) && !save(set, c, error)) {
        consumer_set_delete(set, c);
        return NULL;
    }
    return c;
}

void consumer_set_check_invariants(ConsumerSet *set) {
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    StreamRetention r = stream_config(set->st)->retention;
    for (guint i = 0; i < all->len; i++) {
        Consumer *c = g_ptr_array_index(all, i);
        consumer_check_invariants(c);
        if (r == RETENTION_WORKQUEUE) { /* no two consumers may see the same subject */
            for (guint j = i + 1; j < all->len; j++) {
                const char *a = consumer_config(c)->filter_subject;
                const char *b = consumer_config(g_ptr_array_index(all, j))->filter_subject;
                g_assert_true(a != NULL && b != NULL && !subject_patterns_overlap(a, b));
            }
        }
    }
    for (guint i = 0; i < set->dirty->len; i++) g_assert_true(consumer_is_durable(g_ptr_array_index(set->dirty, i)));
    g_assert_cmpuint(sublist_count(set->by_filter), ==, all->len); /* both indexes hold every consumer */
    g_assert_true((set->save_timer != 0) || set->dirty->len == 0);
}
