/* test_env.c — the unit tests' world: env.h implemented with manual time, in-memory
 * connections and an in-memory disk that can lose, keep or tear unsynced writes.
 *
 * WHAT IT IS
 *   A third implementation of the environment seam (beside env_real.c and the simulator),
 *   small enough to read in one sitting. Nothing here happens on its own: time moves only in
 *   test_env_advance(), bytes arrive only through test_env_client_send(), the disk fails only
 *   when the test says so. Every choice that looks random comes from the seed.
 *
 * INTERFACE (tests/test_env.h)
 *   time        now_ns starts at 1 s; wall_ns = 2026-01-01T00:00:00Z + now_ns.
 *   timers      kept sorted by (deadline, add order); test_env_advance(te, ns) fires, in that
 *               order, every timer due at or before now+ns, setting now to each deadline as it
 *               fires. A callback may add or cancel timers; one added due within the window
 *               fires in the same advance.
 *   random      xoshiro256** (src/rng.c) seeded with the seed.
 *   turn end    the calls asked for with env_turn_end run inside test_env_advance(): first
 *               (the client actions since the last advance were one turn), and after each
 *               timer that fires. test_env_advance(te, 0) thus ends the current turn.
 *   conns       test_env_connect -> on_accept(id, "127.0.0.1", port); client_send -> on_bytes;
 *               conn_send appends to an output buffer that client_take returns and clears;
 *               conn_pending returns what test_env_set_pending said (default 0: the pretend
 *               kernel takes everything at once).
 *   closing     env_conn_close() marks the conn closed at once (test_env_is_closed is TRUE,
 *               later sends are dropped) and queues on_closed. The queued on_closed calls are
 *               delivered, in close order, at the start of the next test_env_advance() (any ns,
 *               0 included) and at the start of the next client action (connect, send, close).
 *               Never inside env_conn_close itself. test_env_client_close() calls on_closed at
 *               once (the world's side hung up).
 *   log         lines are kept as "[INF] text\n" for test_env_take_log; with TEST_ENV_VERBOSE
 *               set they are also printed to stderr.
 *
 * THE DISK (the part that matters for store tests)
 *   The simulator's crashable disk, sim/sim_disk.c (one model of a disk for both worlds):
 *   reads see the page cache; an fsync makes a file's bytes durable; creating, renaming or
 *   removing a file is durable only after dir_sync of its directory (a segment created and
 *   fsynced whose directory was never fsynced disappears at a crash, as on a real disk).
 *   test_env_crash_disk(mode), a power cut:
 *     LOSE_ALL_UNSYNCED  every file's durable image, nothing unsynced;
 *     KEEP_SOME          per file (in creation order), a seeded random prefix of its unsynced
 *                        writes survives;
 *     TEAR_LAST          like KEEP_SOME, and the last surviving write is cut short.
 *   In every mode unsynced name changes are lost, and every open fd becomes dead (ops on it
 *   fail with G_FILE_ERROR_BADF; closing it is fine), because the process that held it died.
 *   The core under test is then thrown away and reopened on the same TestEnv.
 *   Faults: test_env_flip_bit (rot), test_env_set_disk_full (ENOSPC on writes, extensions and
 *   creations; a failed pwrite writes nothing), test_env_fail_syncs (the next fsyncs fail with
 *   EIO or ENOSPC and lose part of the unsynced writes: fsyncgate, see sim_disk.c).
 *
 * SIMPLIFICATIONS (honest list)
 *   - Directories are durable as soon as they are made; only file entries need dir_sync.
 *   - No latency: the simulator (sim/) models that.
 */
#include "test_env.h"

#include <errno.h>
#include <string.h>

#include "rng.h"
#include "sim_disk.h"

/* g_malloc0(sizeof(T)) rather than g_new0(T, 1): written when -Isrc let src/limits.h shadow
 * <limits.h> (G_MAXSIZE, used inside g_new0, lost ULONG_MAX); the Makefile now uses -iquote. */

#define TEST_ENV_START_NS 1000000000LL
#define TEST_ENV_EPOCH_NS (1767225600LL * 1000000000LL) /* 2026-01-01T00:00:00Z */

typedef struct Timer {
    int64_t deadline_ns;
    uint64_t seq; /* add order: ties fire first-added first */
    EnvTimer id;
    EnvTimerFn fn;
    void *arg;
} Timer;

typedef struct World World;

typedef struct Conn {
    EnvConn id;
    const EnvHandlers *h; /* a listener's or a connect's own handlers; NULL = the env's */
    void *core;
    World *peer_w;        /* a linked conn (connect to a listener): the other end */
    EnvConn peer;
    gboolean accept_due; /* the listener side of a link before its on_accept: gets no bytes yet */
    GString *out;
    size_t pending_bytes;
    gboolean closed;    /* either side closed it */
    gboolean notified;  /* on_closed delivered */
    gboolean read_paused; /* env_conn_read_pause: client bytes wait in `held` */
    GString *held;        /* client bytes not delivered yet (paused, or resumed this turn) */
} Conn;

/* A listener made with env_listen (the cluster port): reachable from every TestEnv. */
typedef struct TListener {
    int port;
    const EnvHandlers *h;
    void *core;
    gboolean dead; /* detached */
} TListener;

struct World {
    TestEnv te; /* first: TestEnv* and World* are the same pointer */
    int64_t now_ns;
    Rng rng;            /* random_u64 */
    Rng disk_rng;       /* the disk's choices: independent of how much randomness the core used */
    /* timers */
    GSequence *timers;   /* Timer*, sorted */
    GHashTable *timer_by_id; /* EnvTimer -> GSequenceIter */
    uint64_t timer_seq;
    EnvTurnQueue turn; /* end-of-turn calls: run by test_env_advance */
    /* conns */
    GHashTable *conns; /* EnvConn -> Conn* */
    EnvConn next_conn;
    GQueue close_queue; /* EnvConn (as pointer) awaiting on_closed */
    GQueue accept_queue; /* EnvConn (as pointer) of linked conns awaiting on_accept */
    GQueue resume_queue; /* EnvConn (as pointer) resumed with held bytes to deliver */
    GPtrArray *listeners; /* TListener*, owned */
    /* the client port's accept(), with test_env_fail_accepts: connections wait in a backlog
     * while the port is paused, as in a kernel's listen queue (env.c ACCEPT BACK-OFF) */
    unsigned accept_failures; /* the next accept attempts that fail with EMFILE */
    gboolean accept_paused;
    GQueue backlog;           /* EnvConn (as pointer) connected, not yet accepted */
    EnvAcceptBackoff accept_backoff;
    SimDisk *disk;
    int64_t files_max;  /* what env_files_max reports (test_env_set_files_max) */
    GString *log;
};

static World *W(Env *env) { return (World *)env->world; }

/* --- time and timers --- */

static int64_t op_now_ns(Env *env) { return W(env)->now_ns; }
static int64_t op_wall_ns(Env *env) { return TEST_ENV_EPOCH_NS + W(env)->now_ns; }

static gint timer_cmp(gconstpointer a, gconstpointer b, gpointer unused) {
    const Timer *x = a, *y = b;
    if (x->deadline_ns != y->deadline_ns) return x->deadline_ns < y->deadline_ns ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static EnvTimer op_timer_add(Env *env, int64_t delay_ns, EnvTimerFn fn, void *arg) {
    World *w = W(env);
    g_assert(fn != NULL);
    Timer *t = g_malloc0(sizeof(Timer));
    t->deadline_ns = w->now_ns + (delay_ns > 0 ? delay_ns : 0);
    t->seq = ++w->timer_seq;
    t->id = t->seq;
    t->fn = fn;
    t->arg = arg;
    GSequenceIter *it = g_sequence_insert_sorted(w->timers, t, timer_cmp, NULL);
    g_hash_table_insert(w->timer_by_id, GSIZE_TO_POINTER(t->id), it);
    return t->id;
}

static void op_timer_cancel(Env *env, EnvTimer id) {
    World *w = W(env);
    GSequenceIter *it = g_hash_table_lookup(w->timer_by_id, GSIZE_TO_POINTER(id));
    if (it == NULL) return; /* already fired or cancelled */
    g_hash_table_remove(w->timer_by_id, GSIZE_TO_POINTER(id));
    g_sequence_remove(it); /* frees the Timer */
}

static void op_turn_end(Env *env, EnvTimerFn fn, void *arg) { env_turn_queue_add(&W(env)->turn, fn, arg); }
static void op_turn_end_cancel(Env *env, EnvTimerFn fn, void *arg) { env_turn_queue_cancel(&W(env)->turn, fn, arg); }

static uint64_t op_random_u64(Env *env) { return rng_next(&W(env)->rng); }

/* --- connections --- */

static Conn *conn_get(World *w, EnvConn c) { return g_hash_table_lookup(w->conns, GSIZE_TO_POINTER(c)); }

/* Whom to tell about conn: its own handlers, or the env's. */
static const EnvHandlers *conn_handlers(World *w, Conn *conn, void **core) {
    if (conn->h != NULL) {
        *core = conn->core;
        return conn->h;
    }
    *core = w->te.env.core;
    return &w->te.env.handlers;
}

static void peer_hung_up(Conn *conn);

static void deliver_closes(World *w) {
    while (!g_queue_is_empty(&w->close_queue)) {
        EnvConn c = GPOINTER_TO_SIZE(g_queue_pop_head(&w->close_queue));
        Conn *conn = conn_get(w, c);
        if (conn == NULL || conn->notified) continue;
        conn->notified = TRUE;
        void *core;
        const EnvHandlers *h = conn_handlers(w, conn, &core);
        if (h->on_closed) h->on_closed(core, c);
    }
}

static void op_conn_send(Env *env, EnvConn c, const EnvSlice *slices, size_t n) {
    Conn *conn = conn_get(W(env), c);
    if (conn == NULL || conn->closed) return;
    for (size_t i = 0; i < n; i++) g_string_append_len(conn->out, slices[i].data, (gssize)slices[i].len);
}

static size_t op_conn_pending(Env *env, EnvConn c) {
    Conn *conn = conn_get(W(env), c);
    return conn ? conn->pending_bytes : 0;
}

/* Paused: client bytes are held. Resumed: the held bytes arrive at the start of the next
 * advance or client action (never inside the core's call), like on_closed. */
static void op_conn_read_pause(Env *env, EnvConn c, bool paused) {
    World *w = W(env);
    Conn *conn = conn_get(w, c);
    if (conn == NULL || conn->closed || conn->read_paused == paused) return;
    conn->read_paused = paused;
    if (!paused && conn->held != NULL && conn->held->len > 0)
        g_queue_push_tail(&w->resume_queue, GSIZE_TO_POINTER(c));
}

static void deliver_resumed(World *w) {
    while (!g_queue_is_empty(&w->resume_queue)) {
        EnvConn c = GPOINTER_TO_SIZE(g_queue_pop_head(&w->resume_queue));
        Conn *conn = conn_get(w, c);
        if (conn == NULL || conn->closed || conn->read_paused || conn->held == NULL || conn->held->len == 0)
            continue;
        g_autoptr(GString) bytes = conn->held;
        conn->held = NULL;
        void *core;
        const EnvHandlers *h = conn_handlers(w, conn, &core);
        if (h->on_bytes) h->on_bytes(core, c, (const uint8_t *)bytes->str, bytes->len);
    }
}

static void op_conn_close(Env *env, EnvConn c) {
    World *w = W(env);
    Conn *conn = conn_get(w, c);
    if (conn == NULL || conn->closed) return;
    conn->closed = TRUE;
    g_queue_push_tail(&w->close_queue, GSIZE_TO_POINTER(c));
    peer_hung_up(conn);
}

/* --- linked connections: env_listen / env_conn_connect between TestEnvs ---
 *
 * Every TestEnv is in one process-wide list, so a core in one can connect to a listener in
 * another (two servers routed to each other in one unit test). A connect makes two Conns,
 * one per side; bytes one side sends wait in its `out` until test_env_pump() hands them to
 * the other side's on_bytes, so nothing is ever delivered re-entrantly. When one side
 * closes, the other is closed by "the network" and gets its on_closed in turn. */
static GPtrArray *all_worlds; /* World*, in creation order */

static void op_detached_accept(void *core, EnvConn id, const char *ip, int port) { (void)core; (void)id; (void)ip; (void)port; }
static void op_detached_bytes(void *core, EnvConn id, const uint8_t *d, size_t n) { (void)core; (void)id; (void)d; (void)n; }
static void op_detached_closed(void *core, EnvConn id) { (void)core; (void)id; }
static const EnvHandlers detached_handlers = {op_detached_accept, op_detached_bytes, op_detached_closed};

static Conn *conn_new(World *w) {
    Conn *c = g_malloc0(sizeof(Conn));
    c->id = w->next_conn++;
    c->out = g_string_new("");
    g_hash_table_insert(w->conns, GSIZE_TO_POINTER(c->id), c);
    return c;
}

static void peer_hung_up(Conn *conn) {
    if (conn->peer_w == NULL) return;
    Conn *other = conn_get(conn->peer_w, conn->peer);
    if (other == NULL || other->closed) return;
    other->closed = TRUE;
    g_queue_push_tail(&conn->peer_w->close_queue, GSIZE_TO_POINTER(other->id));
}

static int op_listen(Env *env, const char *host, int port, const EnvHandlers *h, void *core,
                     GError **error) {
    (void)host;
    World *w = W(env);
    static int next_port = 7000;
    if (port == 0) port = next_port++;
    for (guint i = 0; all_worlds && i < all_worlds->len; i++) {
        World *o = all_worlds->pdata[i];
        for (guint j = 0; j < o->listeners->len; j++) {
            TListener *l = o->listeners->pdata[j];
            if (!l->dead && l->port == port) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "listen on %s:%d: in use", host, port);
                return 0;
            }
        }
    }
    TListener *l = g_malloc0(sizeof(TListener));
    l->port = port;
    l->h = h;
    l->core = core;
    g_ptr_array_add(w->listeners, l);
    return port;
}

static EnvConn op_conn_connect(Env *env, const char *host, int port, const EnvHandlers *h,
                               void *core, GError **error) {
    (void)host;
    (void)error;
    World *w = W(env);
    Conn *a = conn_new(w);
    a->h = h;
    a->core = core;
    for (guint i = 0; i < all_worlds->len; i++) {
        World *o = all_worlds->pdata[i];
        for (guint j = 0; j < o->listeners->len; j++) {
            TListener *l = o->listeners->pdata[j];
            if (l->dead || l->port != port) continue;
            Conn *b = conn_new(o);
            b->h = l->h;
            b->core = l->core;
            a->peer_w = o;
            a->peer = b->id;
            b->peer_w = w;
            b->peer = a->id;
            b->accept_due = TRUE;
            g_queue_push_tail(&o->accept_queue, GSIZE_TO_POINTER(b->id));
            return a->id;
        }
    }
    a->closed = TRUE; /* refused: on_closed comes later, never re-entrantly */
    g_queue_push_tail(&w->close_queue, GSIZE_TO_POINTER(a->id));
    return a->id;
}

static void op_detach(Env *env, void *core) {
    World *w = W(env);
    for (guint j = 0; j < w->listeners->len; j++) {
        TListener *l = w->listeners->pdata[j];
        if (l->core == core) l->dead = TRUE;
    }
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, w->conns);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Conn *c = v;
        if (c->h != NULL && c->core == core) c->h = &detached_handlers;
    }
}

static gint id_cmp(gconstpointer a, gconstpointer b) {
    EnvConn x = GPOINTER_TO_SIZE(*(gpointer const *)a), y = GPOINTER_TO_SIZE(*(gpointer const *)b);
    return x < y ? -1 : x > y;
}

/* One round: accepts, closes, then the bytes waiting on every linked conn (worlds in
 * creation order, conns in id order). Returns whether anything happened. */
static gboolean pump_once(void) {
    gboolean moved = FALSE;
    for (guint i = 0; i < all_worlds->len; i++) {
        World *w = all_worlds->pdata[i];
        while (!g_queue_is_empty(&w->accept_queue)) {
            EnvConn id = GPOINTER_TO_SIZE(g_queue_pop_head(&w->accept_queue));
            Conn *c = conn_get(w, id);
            moved = TRUE;
            if (c == NULL) continue;
            c->accept_due = FALSE;
            if (c->closed) continue;
            void *core;
            const EnvHandlers *h = conn_handlers(w, c, &core);
            h->on_accept(core, id, "127.0.0.1", 50000 + (int)(id % 10000));
        }
        if (!g_queue_is_empty(&w->close_queue)) moved = TRUE;
        deliver_closes(w);
        GPtrArray *ids = g_ptr_array_new();
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, w->conns);
        while (g_hash_table_iter_next(&it, &k, &v))
            if (((Conn *)v)->peer_w != NULL && ((Conn *)v)->out->len > 0) g_ptr_array_add(ids, k);
        g_ptr_array_sort(ids, id_cmp);
        for (guint j = 0; j < ids->len; j++) {
            Conn *c = conn_get(w, GPOINTER_TO_SIZE(ids->pdata[j]));
            if (c == NULL || c->out->len == 0) continue;
            Conn *peer = conn_get(c->peer_w, c->peer);
            if (peer != NULL && peer->accept_due) continue; /* next round, after its on_accept */
            GString *bytes = c->out;
            c->out = g_string_new("");
            Conn *o = conn_get(c->peer_w, c->peer);
            moved = TRUE;
            if (o != NULL && !o->closed && !o->notified) {
                void *core;
                const EnvHandlers *h = conn_handlers(c->peer_w, o, &core);
                h->on_bytes(core, o->id, (const uint8_t *)bytes->str, bytes->len);
            }
            g_string_free(bytes, TRUE);
        }
        g_ptr_array_free(ids, TRUE);
    }
    return moved;
}

void test_env_pump(void) {
    for (int round = 0; round < 100000 && all_worlds != NULL && pump_once(); round++) {
    }
}

/* --- the disk: the simulator's (sim/sim_disk.c) --- */

static int op_file_open(Env *env, const char *path, int flags, GError **error) {
    return sim_disk_open(W(env)->disk, path, flags, error);
}
static gssize op_file_pread(Env *env, int fd, void *buf, size_t len, uint64_t off, GError **error) {
    return sim_disk_pread(W(env)->disk, fd, buf, len, off, error);
}
static gssize op_file_pwrite(Env *env, int fd, const void *buf, size_t len, uint64_t off, GError **error) {
    return sim_disk_pwrite(W(env)->disk, fd, buf, len, off, error);
}
static gboolean op_file_sync(Env *env, int fd, GError **error) { return sim_disk_sync(W(env)->disk, fd, error); }
static gboolean op_file_truncate(Env *env, int fd, uint64_t len, GError **error) {
    return sim_disk_truncate(W(env)->disk, fd, len, error);
}
static gboolean op_file_allocate(Env *env, int fd, uint64_t off, uint64_t len, GError **error) {
    return sim_disk_allocate(W(env)->disk, fd, off, len, error);
}
static gint64 op_file_size(Env *env, int fd, GError **error) { return sim_disk_size(W(env)->disk, fd, error); }
static void op_file_close(Env *env, int fd) { sim_disk_close(W(env)->disk, fd); }
static gboolean op_path_rename(Env *env, const char *from, const char *to, GError **error) {
    return sim_disk_rename(W(env)->disk, from, to, error);
}
static gboolean op_path_remove(Env *env, const char *path, GError **error) {
    return sim_disk_remove(W(env)->disk, path, error);
}
static gboolean op_path_exists(Env *env, const char *path) { return sim_disk_exists(W(env)->disk, path); }
static gboolean op_dir_make(Env *env, const char *path, GError **error) { return sim_disk_mkdir(W(env)->disk, path, error); }
static gboolean op_dir_sync(Env *env, const char *path, GError **error) {
    return sim_disk_dir_sync(W(env)->disk, path, error);
}
static char **op_dir_list(Env *env, const char *path, GError **error) {
    return sim_disk_dir_list(W(env)->disk, path, error);
}

static int64_t op_files_max(Env *env) { return W(env)->files_max; }

static void op_log(Env *env, EnvLogLevel level, const char *line) {
    static const char *tags[] = {"[DBG]", "[INF]", "[WRN]", "[ERR]"};
    World *w = W(env);
    g_string_append_printf(w->log, "%s %s\n", tags[level], line);
    if (g_getenv("TEST_ENV_VERBOSE")) g_printerr("%s %s\n", tags[level], line);
}

static const EnvOps test_env_ops = {
    .now_ns = op_now_ns,
    .wall_ns = op_wall_ns,
    .timer_add = op_timer_add,
    .timer_cancel = op_timer_cancel,
    .turn_end = op_turn_end,
    .turn_end_cancel = op_turn_end_cancel,
    .random_u64 = op_random_u64,
    .conn_send = op_conn_send,
    .conn_pending = op_conn_pending,
    .conn_close = op_conn_close,
    .conn_read_pause = op_conn_read_pause,
    .conn_connect = op_conn_connect,
    .listen = op_listen,
    .detach = op_detach,
    .file_open = op_file_open,
    .file_pread = op_file_pread,
    .file_pwrite = op_file_pwrite,
    .file_sync = op_file_sync,
    .file_truncate = op_file_truncate,
    .file_allocate = op_file_allocate,
    .file_size = op_file_size,
    .file_close = op_file_close,
    .path_rename = op_path_rename,
    .path_remove = op_path_remove,
    .path_exists = op_path_exists,
    .dir_make = op_dir_make,
    .dir_sync = op_dir_sync,
    .dir_list = op_dir_list,
    .files_max = op_files_max,
    .log = op_log,
};

/* --- the test's side --- */

static void conn_free(gpointer p) {
    Conn *c = p;
    g_string_free(c->out, TRUE);
    if (c->held != NULL) g_string_free(c->held, TRUE);
    g_free(c);
}

void test_env_set_files_max(TestEnv *te, int64_t max, gboolean enforce) {
    World *w = (World *)te;
    w->files_max = max;
    sim_disk_set_max_fds(w->disk, enforce ? (guint)max : 0);
}

guint test_env_open_files(TestEnv *te) { return sim_disk_open_fds(((World *)te)->disk); }

TestEnv *test_env_new(uint64_t seed) {
    World *w = g_malloc0(sizeof(World));
    w->te.env.ops = &test_env_ops;
    w->te.env.world = w;
    w->now_ns = TEST_ENV_START_NS;
    w->files_max = TEST_ENV_FILES_MAX;
    rng_seed(&w->rng, seed);
    rng_seed(&w->disk_rng, seed ^ 0xC3A5C85C97CB3127ULL);
    w->timers = g_sequence_new(g_free);
    w->timer_by_id = g_hash_table_new(g_direct_hash, g_direct_equal);
    env_turn_queue_init(&w->turn);
    w->conns = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, conn_free);
    w->next_conn = 1;
    g_queue_init(&w->close_queue);
    g_queue_init(&w->accept_queue);
    g_queue_init(&w->backlog);
    w->listeners = g_ptr_array_new_with_free_func(g_free);
    if (all_worlds == NULL) all_worlds = g_ptr_array_new();
    g_ptr_array_add(all_worlds, w);
    w->disk = sim_disk_new(&w->disk_rng);
    w->log = g_string_new("");
    return &w->te;
}

void test_env_free(TestEnv *te) {
    if (te == NULL) return;
    World *w = (World *)te;
    g_sequence_free(w->timers);
    g_hash_table_destroy(w->timer_by_id);
    env_turn_queue_free(&w->turn);
    g_hash_table_destroy(w->conns);
    g_queue_clear(&w->close_queue);
    g_queue_clear(&w->accept_queue);
    g_queue_clear(&w->backlog);
    g_ptr_array_free(w->listeners, TRUE);
    g_ptr_array_remove(all_worlds, w);
    if (all_worlds->len == 0) {
        g_ptr_array_free(all_worlds, TRUE);
        all_worlds = NULL;
    }
    sim_disk_free(w->disk);
    g_string_free(w->log, TRUE);
    g_free(w);
}

/* The end of a turn: the calls the core asked for with env_turn_end, and any they ask for
 * in turn (each round is a turn of its own; bounded so a call that always re-asks fails). */
static void end_turn(World *w) {
    for (int rounds = 0; !env_turn_queue_empty(&w->turn); rounds++) {
        g_assert_cmpint(rounds, <, 1000);
        env_turn_queue_run(&w->turn);
        deliver_closes(w);
    }
}

void test_env_advance(TestEnv *te, int64_t ns) {
    World *w = (World *)te;
    g_assert_cmpint(ns, >=, 0);
    int64_t target = w->now_ns + ns;
    deliver_closes(w);
    deliver_resumed(w);
    end_turn(w); /* the client actions since the last advance were one turn */
    for (;;) {
        GSequenceIter *first = g_sequence_get_begin_iter(w->timers);
        if (g_sequence_iter_is_end(first)) break;
        Timer *t = g_sequence_get(first);
        if (t->deadline_ns > target) break;
        Timer fire = *t;
        g_hash_table_remove(w->timer_by_id, GSIZE_TO_POINTER(t->id));
        g_sequence_remove(first);
        if (fire.deadline_ns > w->now_ns) w->now_ns = fire.deadline_ns;
        fire.fn(fire.arg);
        deliver_closes(w);
        end_turn(w);
    }
    w->now_ns = target;
}

int64_t test_env_now(TestEnv *te) { return ((World *)te)->now_ns; }

/* Accept what waits in the backlog, in order, until an injected failure pauses the port. */
static void accept_backlog(void *arg) {
    World *w = arg;
    Env *env = &w->te.env;
    w->accept_paused = FALSE;
    while (!g_queue_is_empty(&w->backlog)) {
        if (w->accept_failures > 0) {
            w->accept_failures--;
            int64_t pause = env_accept_backoff_failed(env, &w->accept_backoff, "Client",
                                                      g_strerror(EMFILE));
            w->accept_paused = TRUE;
            env_timer_add(env, pause, accept_backlog, w);
            return;
        }
        env_accept_backoff_ok(env, &w->accept_backoff, "Client");
        EnvConn id = GPOINTER_TO_SIZE(g_queue_pop_head(&w->backlog));
        Conn *c = conn_get(w, id);
        if (c == NULL) continue;
        c->accept_due = FALSE;
        if (env->handlers.on_accept)
            env->handlers.on_accept(env->core, id, "127.0.0.1", 40000 + (int)(id % 20000));
        if (c->held != NULL && c->held->len > 0) g_queue_push_tail(&w->resume_queue, GSIZE_TO_POINTER(id));
    }
}

EnvConn test_env_connect(TestEnv *te) {
    World *w = (World *)te;
    deliver_closes(w);
    Conn *c = conn_new(w);
    c->accept_due = TRUE; /* until accept_backlog takes it: bytes sent meanwhile are held */
    g_queue_push_tail(&w->backlog, GSIZE_TO_POINTER(c->id));
    if (!w->accept_paused) accept_backlog(w);
    return c->id;
}

void test_env_fail_accepts(TestEnv *te, unsigned count) { ((World *)te)->accept_failures = count; }

gboolean test_env_is_accepted(TestEnv *te, EnvConn c) {
    Conn *conn = conn_get((World *)te, c);
    return conn != NULL && !conn->accept_due;
}

void test_env_client_send_len(TestEnv *te, EnvConn c, const void *bytes, size_t len) {
    World *w = (World *)te;
    deliver_closes(w);
    deliver_resumed(w);
    Conn *conn = conn_get(w, c);
    if (conn == NULL || conn->closed) return;
    if (conn->read_paused || conn->accept_due || (conn->held != NULL && conn->held->len > 0)) { /* keep the order */
        if (conn->held == NULL) conn->held = g_string_new(NULL);
        g_string_append_len(conn->held, bytes, (gssize)len);
        return;
    }
    if (te->env.handlers.on_bytes) te->env.handlers.on_bytes(te->env.core, c, bytes, len);
}

gboolean test_env_is_read_paused(TestEnv *te, EnvConn c) {
    Conn *conn = conn_get((World *)te, c);
    return conn != NULL && conn->read_paused;
}

void test_env_client_send(TestEnv *te, EnvConn c, const char *bytes) {
    test_env_client_send_len(te, c, bytes, strlen(bytes));
}

char *test_env_client_take(TestEnv *te, EnvConn c) {
    Conn *conn = conn_get((World *)te, c);
    if (conn == NULL) return g_strdup("");
    char *s = g_strndup(conn->out->str, conn->out->len);
    g_string_truncate(conn->out, 0);
    return s;
}

void test_env_client_close(TestEnv *te, EnvConn c) {
    World *w = (World *)te;
    deliver_closes(w);
    Conn *conn = conn_get(w, c);
    if (conn == NULL || conn->notified) return;
    conn->closed = TRUE;
    conn->notified = TRUE;
    if (g_queue_remove(&w->backlog, GSIZE_TO_POINTER(c))) return; /* never accepted: no on_closed */
    peer_hung_up(conn);
    void *core;
    const EnvHandlers *h = conn_handlers(w, conn, &core);
    if (h->on_closed) h->on_closed(core, c);
}

gboolean test_env_is_closed(TestEnv *te, EnvConn c) {
    Conn *conn = conn_get((World *)te, c);
    return conn == NULL || conn->closed;
}

void test_env_set_pending(TestEnv *te, EnvConn c, size_t bytes) {
    Conn *conn = conn_get((World *)te, c);
    if (conn) conn->pending_bytes = bytes;
}

/* A power cut. See THE DISK above. */
void test_env_crash_disk(TestEnv *te, TestCrashMode mode) {
    static const SimDiskPrefixMode how[] = {
        [TEST_CRASH_LOSE_ALL_UNSYNCED] = SIM_DISK_LOSE_ALL,
        [TEST_CRASH_KEEP_SOME] = SIM_DISK_KEEP_PREFIX,
        [TEST_CRASH_TEAR_LAST] = SIM_DISK_TEAR_PREFIX,
    };
    SimDiskCrashReport report;
    sim_disk_crash_prefix(((World *)te)->disk, how[mode], &report);
}

void test_env_flip_bit(TestEnv *te, const char *path, uint64_t offset, int bit) {
    g_assert_true(sim_disk_flip_bit(((World *)te)->disk, path, offset, bit));
}

void test_env_set_disk_full(TestEnv *te, gboolean full) { sim_disk_set_full(((World *)te)->disk, full); }

void test_env_fail_syncs(TestEnv *te, const char *path, int code, unsigned count) {
    sim_disk_fail_syncs(((World *)te)->disk, path, code, count);
}

char *test_env_take_log(TestEnv *te) {
    World *w = (World *)te;
    char *s = g_strndup(w->log->str, w->log->len);
    g_string_truncate(w->log, 0);
    return s;
}
