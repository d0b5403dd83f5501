/* consumer_state.c — the persisted state of a stream's durable consumers: one snapshot and
 * one state log per consumer, batched saves, and loading them back at start.
 *
 * INTERFACE (consumer_int.h; the set, consumer_set.c, is the only caller)
 *   consumer_states_open(st) / _free(cs)    the folder <stream dir>/consumers
 *   consumer_states_load(cs, set)           every saved consumer, created with its newest state
 *   consumer_states_save_soon(cs, c)        c changed: save it with the next batch
 *   consumer_states_save_now(cs, c, &err)   a new durable: its snapshot at once (FALSE: not
 *                                           on disk, and the create must fail)
 *   consumer_states_forget(cs, c, remove)   c goes away (remove: deleted, so its files too)
 *   consumer_states_flush(cs)               save every dirty consumer now (shutdown)
 *   consumer_states_check(cs)               the save timer runs iff something is dirty
 *
 * THE FILES (two per DURABLE consumer, in <store_dir>/streams/<stream>/consumers/)
 *   <name>.json   the SNAPSHOT, written atomically (env_file_write_atomic: temp file, fsync,
 *                 rename, fsync dir) at creation, on a config change, and when the log is
 *                 full (LIMIT_CONSUMER_STATE_LOG_BYTES):
 *   | member   | what                                                                   |
 *   | name     | the consumer's name                                                    |
 *   | created  | wall-clock ns of creation                                              |
 *   | gen      | the state's generation (absent in old files: 0)                        |
 *   | log      | true when a <name>.state goes with this snapshot (see DAMAGE)          |
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
 *   consumer LIMIT_CONSUMER_SAVE_DELAY_NS later (and at shutdown). A NEW durable is the
 *   exception: it is acknowledged only once its snapshot is on disk (consumer_states_save_now).
 *   WHAT A CRASH LOSES: at most that window of acks and deliveries. Lost acks mean those
 *   messages are delivered again; a lost delivery means it is delivered again as new. Both
 *   are at-least-once, never a loss. On restart, pending messages are redelivered when their
 *   ack_wait (measured from the saved delivery time) runs out.
 *   Ephemeral consumers are not saved: their clients recreate them after a restart anyway.
 *
 * Book: chapter 6 (consumers), "what survives a restart".
 */
#include <string.h>

#include "bytes.h"
#include "consumer_int.h"
#include "crc32c.h"
#include "jsonutil.h"
#include "limits.h"

struct ConsumerStates {
    Stream *st;
    Env *env;
    char *dir;            /* <stream dir>/consumers */
    GHashTable *logs;     /* Consumer* -> StateLog*, durable ones; lookup only, never iterated
                           * for output */
    GPtrArray *dirty;     /* Consumer* to save with the next batch */
    EnvTimer save_timer;
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

static char *path_for(ConsumerStates *cs, const char *name, const char *suffix) {
    g_autofree char *stem = file_stem(name);
    g_autofree char *f = g_strconcat(stem, suffix, NULL);
    return g_build_filename(cs->dir, f, NULL);
}

static char *file_for(ConsumerStates *cs, const char *name) { return path_for(cs, name, ".json"); }
static char *log_for(ConsumerStates *cs, const char *name) { return path_for(cs, name, ".state"); }

static StateLog *state_log(ConsumerStates *cs, Consumer *c) {
    StateLog *lg = g_hash_table_lookup(cs->logs, c);
    if (lg == NULL) {
        lg = g_new0(StateLog, 1);
        lg->fd = -1;
        g_hash_table_insert(cs->logs, c, lg);
    }
    return lg;
}

static void state_log_close(ConsumerStates *cs, StateLog *lg) {
    if (lg->fd >= 0) env_file_close(cs->env, lg->fd);
    lg->fd = -1;
}

static void state_log_drop(ConsumerStates *cs, Consumer *c) {
    StateLog *lg = g_hash_table_lookup(cs->logs, c);
    if (lg == NULL) return;
    state_log_close(cs, lg);
    g_free(lg->config_json);
    g_free(lg);
    g_hash_table_remove(cs->logs, c);
}

static char *config_json(Consumer *c) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    consumer_config_build(consumer_config(c), b);
    return jsonu_builder_to_string(b);
}

/* ------------------------------------------------------------------ saving */

/* The snapshot: empty the log, then write <name>.json atomically with a new gen. Emptying
 * first is what makes a crash in between harmless: the log is empty (snapshot wins) or still
 * holds older gens than the snapshot about to be written (snapshot wins once written; until
 * then the old snapshot and old log are together what the last save left). */
static gboolean save_failed(ConsumerStates *cs, Consumer *c, StateLog *lg, char *cfg_json, GError *err,
                            GError **error) {
    g_free(cfg_json);
    state_log_close(cs, lg); /* try a snapshot again next time */
    env_log(cs->env, ENV_LOG_ERROR, "consumer %s > %s: state not saved: %s", stream_name(cs->st),
            consumer_name(c), err != NULL ? err->message : "?");
    if (error != NULL)
        mj_js_error(error, MJ_ERR_JS_CONSUMER_STORE_FAILED, "error creating store for consumer: %s",
                    err != NULL ? err->message : "?");
    return FALSE;
}

static gboolean save_snapshot(ConsumerStates *cs, Consumer *c, StateLog *lg, char *cfg_json, GError **error) {
    Env *env = cs->env;
    g_autoptr(GError) err = NULL;
    g_autofree char *path = file_for(cs, consumer_name(c));
    g_autofree char *lpath = log_for(cs, consumer_name(c));
    lg->gen++;
    if (!env_dir_make(env, cs->dir, &err)) return save_failed(cs, c, lg, cfg_json, err, error);
    if (lg->fd >= 0 && !env_file_truncate(env, lg->fd, 0, NULL)) state_log_close(cs, lg);
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
        return save_failed(cs, c, lg, cfg_json, err, error);
    g_free(lg->config_json);
    lg->config_json = cfg_json;
    return TRUE;
}

/* One record at the end of the log and one fdatasync. FALSE: the caller writes a snapshot
 * (which also cuts off whatever part of this record reached the disk). */
static gboolean save_append(ConsumerStates *cs, Consumer *c, StateLog *lg) {
    Env *env = cs->env;
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
            stream_name(cs->st), consumer_name(c), err != NULL ? err->message : "short write");
    state_log_close(cs, lg);
    return FALSE;
}

/* FALSE (and *error, if asked) when nothing could be written. */
static gboolean save(ConsumerStates *cs, Consumer *c, GError **error) {
    StateLog *lg = state_log(cs, c);
    char *cfg = config_json(c);
    if (lg->fd >= 0 && lg->size < LIMIT_CONSUMER_STATE_LOG_BYTES && lg->config_json != NULL &&
        strcmp(cfg, lg->config_json) == 0 && save_append(cs, c, lg)) {
        g_free(cfg);
        return TRUE;
    }
    return save_snapshot(cs, c, lg, cfg, error);
}

static void save_dirty(ConsumerStates *cs) {
    for (guint i = 0; i < cs->dirty->len; i++) save(cs, g_ptr_array_index(cs->dirty, i), NULL);
    g_ptr_array_set_size(cs->dirty, 0);
}

static void save_fired(void *arg) {
    ConsumerStates *cs = arg;
    cs->save_timer = 0;
    save_dirty(cs);
}

/* ------------------------------------------------------------------ loading */

/* The newest intact record of a state log with a gen above min_gen: its "state" object
 * (owned by *parser), or NULL. *gen is raised to the newest gen seen. *damage (g_free it) is
 * set when records are unreadable, other than a torn last record (see DAMAGE). */
static JsonObject *log_newest_state(ConsumerStates *cs, const char *path, uint64_t min_gen, uint64_t *gen,
                                    JsonParser **parser, char **damage) {
    g_autoptr(GBytes) data = NULL;
    g_autoptr(GError) err = NULL;
    if (!env_file_read_all(cs->env, path, &data, &err)) {
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
static void state_lost(ConsumerStates *cs, Consumer *c, const char *lpath, const char *damage, bool exists) {
    g_autofree char *aside = path_for(cs, consumer_name(c), ".state.bad");
    if (exists) env_path_rename(cs->env, lpath, aside, NULL);
    c->state_reset = g_strdup_printf("state file %s %s: acks and deliveries saved after its last "
                                     "readable state are lost; resumed at stream sequence %" G_GUINT64_FORMAT
                                     " (ack floor %" G_GUINT64_FORMAT ")%s%s",
                                     lpath, damage, c->sseq_next, c->floor_sseq,
                                     exists ? "; the damaged file is kept as " : "", exists ? aside : "");
    env_log(cs->env, ENV_LOG_ERROR, "consumer %s > %s: %s", stream_name(cs->st), consumer_name(c),
            c->state_reset);
}

/* One <stem>.json (and its log): the consumer with its newest state, or NULL (reported; a
 * damaged snapshot is moved aside, see DAMAGE). `seen` holds the names loaded so far. */
static Consumer *load_one(ConsumerStates *cs, ConsumerSet *set, const char *file, GHashTable *seen) {
    g_autofree char *path = g_build_filename(cs->dir, file, NULL);
    g_autoptr(GBytes) data = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = NULL;
    if (env_file_read_all(cs->env, path, &data, &err)) {
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
    if (cfg != NULL && !consumer_config_validate(cfg, stream_config(cs->st), &err)) g_clear_pointer(&cfg, consumer_config_free);
    if (cfg == NULL || g_hash_table_contains(seen, name)) {
        g_autofree char *aside = g_strconcat(path, ".bad", NULL);
        bool moved = cfg == NULL && env_path_rename(cs->env, path, aside, NULL);
        env_log(cs->env, ENV_LOG_ERROR, "consumer file %s not loaded%s%s%s%s", path, err != NULL ? ": " : "",
                err != NULL ? err->message : "", moved ? "; kept as " : "", moved ? aside : "");
        if (cfg != NULL) consumer_config_free(cfg);
        return NULL;
    }
    JsonObject *state = sn != NULL && JSON_NODE_HOLDS_OBJECT(sn) ? json_node_get_object(sn) : NULL;
    int64_t snap_gen = 0;
    jsonu_get_int(o, "gen", &snap_gen);
    uint64_t gen = snap_gen > 0 ? (uint64_t)snap_gen : 0;
    g_autofree char *lpath = log_for(cs, name);
    g_autoptr(JsonParser) lparser = NULL;
    g_autofree char *damage = NULL;
    bool has_log = false, log_exists = env_path_exists(cs->env, lpath);
    jsonu_get_bool(o, "log", &has_log);
    JsonObject *newer = NULL;
    if (log_exists)
        newer = log_newest_state(cs, lpath, gen, &gen, &lparser, &damage);
    else if (has_log)
        damage = g_strdup("is missing");
    Consumer *c = consumer_new(set, name, cfg, created, newer != NULL ? newer : state);
    g_hash_table_add(seen, g_strdup(name));
    if (damage != NULL) state_lost(cs, c, lpath, damage, log_exists);
    state_log(cs, c)->gen = gen; /* fd -1: this process's first save writes a snapshot */
    return c;
}

/* ------------------------------------------------------------------ the interface */

ConsumerStates *consumer_states_open(Stream *st) {
    ConsumerStates *cs = g_new0(ConsumerStates, 1);
    cs->st = st;
    cs->env = stream_env(st);
    cs->dir = g_build_filename(stream_dir(st), "consumers", NULL);
    cs->logs = g_hash_table_new(g_direct_hash, g_direct_equal);
    cs->dirty = g_ptr_array_new();
    return cs;
}

GPtrArray *consumer_states_load(ConsumerStates *cs, ConsumerSet *set) {
    GPtrArray *out = g_ptr_array_new();
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_auto(GStrv) names = env_path_exists(cs->env, cs->dir) ? env_dir_list(cs->env, cs->dir, NULL) : NULL;
    for (char **n = names; n != NULL && *n != NULL; n++) {
        if (!g_str_has_suffix(*n, ".json")) continue;
        Consumer *c = load_one(cs, set, *n, seen);
        if (c != NULL) g_ptr_array_add(out, c);
    }
    return out;
}

void consumer_states_save_soon(ConsumerStates *cs, Consumer *c) {
    if (!consumer_is_durable(c)) return;
    for (guint i = 0; i < cs->dirty->len; i++)
        if (g_ptr_array_index(cs->dirty, i) == c) return;
    g_ptr_array_add(cs->dirty, c);
    if (cs->save_timer == 0) cs->save_timer = env_timer_add(cs->env, LIMIT_CONSUMER_SAVE_DELAY_NS, save_fired, cs);
}

gboolean consumer_states_save_now(ConsumerStates *cs, Consumer *c, GError **error) {
    return !consumer_is_durable(c) || save(cs, c, error);
}

void consumer_states_forget(ConsumerStates *cs, Consumer *c, bool remove_files) {
    g_ptr_array_remove(cs->dirty, c);
    if (cs->dirty->len == 0) { /* nothing left to save: no timer (consumer_states_check) */
        env_timer_cancel(cs->env, cs->save_timer);
        cs->save_timer = 0;
    }
    state_log_drop(cs, c);
    if (remove_files && consumer_is_durable(c)) {
        g_autofree char *path = file_for(cs, consumer_name(c));
        g_autofree char *lpath = log_for(cs, consumer_name(c));
        env_path_remove(cs->env, lpath, NULL);
        env_path_remove(cs->env, path, NULL);
    }
}

void consumer_states_flush(ConsumerStates *cs) {
    env_timer_cancel(cs->env, cs->save_timer);
    cs->save_timer = 0;
    save_dirty(cs);
}

void consumer_states_free(ConsumerStates *cs) {
    env_timer_cancel(cs->env, cs->save_timer);
    g_assert_cmpuint(g_hash_table_size(cs->logs), ==, 0); /* every consumer was forgotten */
    g_hash_table_destroy(cs->logs);
    g_ptr_array_free(cs->dirty, TRUE);
    g_free(cs->dir);
    g_free(cs);
}

void consumer_states_check(ConsumerStates *cs) {
    g_assert_true((cs->save_timer != 0) == (cs->dirty->len > 0));
    for (guint i = 0; i < cs->dirty->len; i++) g_assert_true(consumer_is_durable(g_ptr_array_index(cs->dirty, i)));
}
