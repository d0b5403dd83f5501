/* env.h — the environment seam: every effect the broker core can have on the world.
 *
 * WHAT IT IS
 *   The broker core (proto, sublist, server, stream, consumer, raft, ...) never calls the
 *   operating system. Every clock read, timer, socket write, file operation, random number
 *   and log line goes through one `Env`: a table of function pointers plus the state of the
 *   world that implements them. Two worlds exist:
 *     - src/env_real.c  the production world: an epoll event loop, nonblocking sockets,
 *                       outbound bytes batched per connection into one contiguous buffer
 *                       and flushed once per loop turn with a single send() (the gathered
 *                       equivalent of writev: one syscall per connection per turn), real
 *                       files and fsync.
 *     - sim/sim_env.c   the test world: virtual time on a discrete-event scheduler, a network
 *                       and a disk that fail on purpose, one seed deciding everything.
 *   A third, tiny one lives in tests/test_env.c for unit tests (manual time, in-memory conns).
 *   This is SQLite's VFS idea and TigerBeetle's "time and IO as interfaces", in C.
 *
 * DIRECTION OF CALLS
 *   world -> core:  the world calls the entry points in `EnvHandlers` (accept, bytes, closed)
 *                   and the timer callbacks the core registered.
 *   core  -> world: the core calls the `EnvOps` below through the env_* inline wrappers.
 *   The core never blocks: a send queues bytes, a timer fires later, a file write returns when
 *   the (real or simulated) kernel has taken it.
 *
 * INVARIANTS
 *   - A connection id is never reused within one Env's lifetime (ids count up from 1).
 *   - After the core calls env_conn_close(c), it receives exactly one on_closed(c) later
 *     (never re-entrantly from inside env_conn_close) and no more on_bytes(c).
 *   - on_closed(c) is delivered exactly once for every accepted c, whoever closed it.
 *   - Timer callbacks never run re-entrantly inside another core call; a cancelled timer
 *     never fires.
 *   - File handles are small integers >= 0; errors come back as GError (G_FILE_ERROR_*),
 *     never as asserts: a full or corrupt disk is bad input, not a programmer error.
 */
#ifndef MINIJET_ENV_H
#define MINIJET_ENV_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Env Env;
typedef uint64_t EnvConn;  /* a client connection, 0 = none */
typedef uint64_t EnvTimer; /* a timer handle, 0 = none */

typedef void (*EnvTimerFn)(void *arg);

/* Log levels, printed like nats-server's: [INF] [WRN] [ERR] [DBG]. */
typedef enum { ENV_LOG_DEBUG, ENV_LOG_INFO, ENV_LOG_WARN, ENV_LOG_ERROR } EnvLogLevel;

/* One slice of an outbound message; the env copies the bytes before env_conn_send returns. */
typedef struct EnvSlice {
    const void *data;
    size_t len;
} EnvSlice;

/* What the world calls in the core. Installed once with env_set_handlers(). */
typedef struct EnvHandlers {
    void (*on_accept)(void *core, EnvConn conn, const char *peer_ip, int peer_port);
    void (*on_bytes)(void *core, EnvConn conn, const uint8_t *data, size_t len);
    void (*on_closed)(void *core, EnvConn conn);
} EnvHandlers;

/* Open flags for files (a subset of POSIX's, named for what they mean). */
enum {
    ENV_FILE_READ = 1 << 0,   /* reading only */
    ENV_FILE_WRITE = 1 << 1,  /* reading and writing */
    ENV_FILE_CREATE = 1 << 2, /* create if missing */
    ENV_FILE_TRUNC = 1 << 3,  /* truncate to 0 on open */
};

typedef struct EnvOps {
    /* --- time --- */
    int64_t (*now_ns)(Env *env);  /* monotonic nanoseconds, for timers and ages */
    int64_t (*wall_ns)(Env *env); /* Unix epoch nanoseconds, for message timestamps */

    /* --- timers: fn(arg) runs once, delay_ns from now, from the loop, never re-entrantly --- */
    EnvTimer (*timer_add)(Env *env, int64_t delay_ns, EnvTimerFn fn, void *arg);
    void (*timer_cancel)(Env *env, EnvTimer timer);

    /* --- the end of the loop turn (Redis's beforeSleep) ---
     * Run fn(arg) once at the end of the current loop turn: after the world has handed the
     * core everything due in this turn (bytes, accepts, closes, timers), before it sends the
     * turn's output and sleeps. Asking again for the same fn and arg before it ran is a no-op;
     * a call asked for while the turn's calls run waits for the next turn. What a "turn" is
     * belongs to the world: one epoll_wait batch (env_real.c), everything a node receives at
     * one virtual instant (sim/), each test_env_advance step (tests/test_env.c). Group commit
     * uses it: one store flush per turn, however many publishes the turn carried. */
    void (*turn_end)(Env *env, EnvTimerFn fn, void *arg);
    void (*turn_end_cancel)(Env *env, EnvTimerFn fn, void *arg); /* no-op if not asked for */

    /* --- randomness --- */
    uint64_t (*random_u64)(Env *env);

    /* --- connections --- */
    /* Queue the concatenation of the slices for conn. The bytes are copied; they leave the
     * process when the world flushes (once per loop turn). Sending on a closed conn is a no-op. */
    void (*conn_send)(Env *env, EnvConn conn, const EnvSlice *slices, size_t n);
    /* Bytes queued for conn and not yet taken by the kernel: the slow-consumer measure. */
    size_t (*conn_pending)(Env *env, EnvConn conn);
    /* Hand every connection's queued bytes to the kernel now instead of at the end of the
     * turn: the core is about to block (an fsync) and what it already queued may travel
     * meanwhile (cluster_nrg.c, A LEADER SENDS BEFORE IT SYNCS). A hint, never needed for
     * correctness: NULL in a world whose turn takes no time (the simulator, the unit tests). */
    void (*flush_now)(Env *env);
    /* Stop (paused = true) or resume taking input from conn: while paused no on_bytes(conn)
     * arrives and the peer's bytes wait in the kernel (then TCP's window stops the peer).
     * Output still flows. The core's back-pressure on fast publishers (server.c). */
    void (*conn_read_pause)(Env *env, EnvConn conn, bool paused);
    /* Flush what is queued, then close. on_closed follows later. The close lingers: the
     * world half-closes, then drops the peer's input until its EOF or a short bound, so that
     * no TCP reset destroys the last answer (an -ERR, an HTTP 400) before the peer reads it
     * (env_real.c, LINGERING CLOSE). For the core the conn is gone either way. */
    void (*conn_close)(Env *env, EnvConn conn);
    /* Open an outbound TCP connection (the CLI's link to a server; cluster routes).
     * Returns its id at once, before the handshake completes: bytes sent meanwhile are queued.
     * The peer's bytes and the close then arrive through `h`/`core` (NULL h = the env's own
     * handlers), like accepted connections but with no on_accept. A refused or failed
     * connect is reported as on_closed, never re-entrantly. Returns 0 with `error` set only
     * when the attempt cannot even start (unresolvable host, out of fds). A world that cannot
     * make connections leaves this NULL; env_conn_connect() then fails with
     * G_FILE_ERROR_NOSYS. */
    EnvConn (*conn_connect)(Env *env, const char *host, int port, const EnvHandlers *h,
                            void *core, GError **error);
    /* A second kind of listener (the cluster port): its connections are reported to `h` and
     * `core`, not to the env's handlers. Port 0 = any; returns the port bound, 0 with `error`
     * set on failure. NULL in a world without listeners of its own (G_FILE_ERROR_NOSYS). */
    int (*listen)(Env *env, const char *host, int port, const EnvHandlers *h, void *core,
                  GError **error);
    /* `core` is going away: close the listeners made for it and deliver nothing more to it
     * (its connections still close; their on_closed is swallowed). */
    void (*detach)(Env *env, void *core);

    /* --- files (paths are relative to the world's root, e.g. the store directory) --- */
    int (*file_open)(Env *env, const char *path, int flags, GError **error);
    gssize (*file_pread)(Env *env, int fd, void *buf, size_t len, uint64_t off, GError **error);
    gssize (*file_pwrite)(Env *env, int fd, const void *buf, size_t len, uint64_t off,
                          GError **error);
    gboolean (*file_sync)(Env *env, int fd, GError **error);
    gboolean (*file_truncate)(Env *env, int fd, uint64_t len, GError **error);
    /* Preallocate: afterwards the file is at least off + len bytes long, the bytes
     * [off, off + len) not written before read as zeros, and writing over them neither needs
     * new space nor changes the file's size, so an fdatasync after such a write flushes data
     * only, not the inode (store_file.c, PREALLOCATION). Never shrinks the file. A world may
     * make the size durable only at the next fsync, like any write. */
    gboolean (*file_allocate)(Env *env, int fd, uint64_t off, uint64_t len, GError **error);
    gint64 (*file_size)(Env *env, int fd, GError **error);
    void (*file_close)(Env *env, int fd);
    gboolean (*path_rename)(Env *env, const char *from, const char *to, GError **error);
    gboolean (*path_remove)(Env *env, const char *path, GError **error); /* file or empty dir */
    gboolean (*path_exists)(Env *env, const char *path);
    gboolean (*dir_make)(Env *env, const char *path, GError **error); /* mkdir -p */
    gboolean (*dir_sync)(Env *env, const char *path, GError **error); /* fsync a directory */
    /* Sorted list of entry names (not paths) in a directory; NULL-terminated, g_strfreev it. */
    char **(*dir_list)(Env *env, const char *path, GError **error);

    /* The process's open-file limit (soft RLIMIT_NOFILE); 0 or NULL = unknown. */
    int64_t (*files_max)(Env *env);

    /* --- logging --- */
    void (*log)(Env *env, EnvLogLevel level, const char *line);
} EnvOps;

struct Env {
    const EnvOps *ops;
    EnvHandlers handlers; /* set by the core with env_set_handlers() */
    void *core;           /* first argument of every handler */
    void *world;          /* the implementation's own state */
    bool trace_files;     /* log every env_file_* / env_path_* / env_dir_* call at [DBG] */
};

static inline void env_set_handlers(Env *env, const EnvHandlers *h, void *core) {
    env->handlers = *h;
    env->core = core;
}

static inline int64_t env_now_ns(Env *env) { return env->ops->now_ns(env); }
static inline int64_t env_wall_ns(Env *env) { return env->ops->wall_ns(env); }
static inline EnvTimer env_timer_add(Env *env, int64_t delay_ns, EnvTimerFn fn, void *arg) {
    return env->ops->timer_add(env, delay_ns, fn, arg);
}
static inline void env_timer_cancel(Env *env, EnvTimer t) {
    if (t != 0) env->ops->timer_cancel(env, t);
}
static inline void env_flush_now(Env *env) {
    if (env->ops->flush_now != NULL) env->ops->flush_now(env);
}
static inline void env_turn_end(Env *env, EnvTimerFn fn, void *arg) { env->ops->turn_end(env, fn, arg); }
static inline void env_turn_end_cancel(Env *env, EnvTimerFn fn, void *arg) {
    env->ops->turn_end_cancel(env, fn, arg);
}
static inline uint64_t env_random_u64(Env *env) { return env->ops->random_u64(env); }
static inline void env_conn_send(Env *env, EnvConn c, const EnvSlice *s, size_t n) {
    env->ops->conn_send(env, c, s, n);
}
static inline void env_conn_send1(Env *env, EnvConn c, const void *data, size_t len) {
    EnvSlice s = {data, len};
    env->ops->conn_send(env, c, &s, 1);
}
static inline size_t env_conn_pending(Env *env, EnvConn c) { return env->ops->conn_pending(env, c); }
static inline void env_conn_close(Env *env, EnvConn c) { env->ops->conn_close(env, c); }
static inline void env_conn_read_pause(Env *env, EnvConn c, bool paused) {
    env->ops->conn_read_pause(env, c, paused);
}
static inline EnvConn env_conn_connect(Env *env, const char *host, int port, const EnvHandlers *h,
                                       void *core, GError **error) {
    if (env->ops->conn_connect == NULL) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                    "connect to %s:%d: this world makes no outbound connections", host, port);
        return 0;
    }
    return env->ops->conn_connect(env, host, port, h, core, error);
}
static inline int env_listen(Env *env, const char *host, int port, const EnvHandlers *h, void *core,
                             GError **error) {
    if (env->ops->listen == NULL) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                    "listen on %s:%d: this world has no extra listeners", host, port);
        return 0;
    }
    return env->ops->listen(env, host, port, h, core, error);
}
static inline void env_detach(Env *env, void *core) {
    if (env->ops->detach != NULL) env->ops->detach(env, core);
}

/* --- files: every file operation of the core goes through these wrappers (src/env.c), never
 * through env->ops directly (`make tidy` checks), so tracing lives in one place: with
 * env->trace_files set, each call and its result is logged at [DBG]. Fault injection lives
 * one level down, in the worlds (the unit-test world's and the simulator's disk). --- */
int env_file_open(Env *env, const char *path, int flags, GError **error);
gssize env_file_pread(Env *env, int fd, void *buf, size_t len, uint64_t off, GError **error);
gssize env_file_pwrite(Env *env, int fd, const void *buf, size_t len, uint64_t off, GError **error);
gboolean env_file_sync(Env *env, int fd, GError **error);
gboolean env_file_truncate(Env *env, int fd, uint64_t len, GError **error);
gboolean env_file_allocate(Env *env, int fd, uint64_t off, uint64_t len, GError **error);
gint64 env_file_size(Env *env, int fd, GError **error);
void env_file_close(Env *env, int fd);
gboolean env_path_rename(Env *env, const char *from, const char *to, GError **error);
gboolean env_path_remove(Env *env, const char *path, GError **error);
gboolean env_path_exists(Env *env, const char *path);
gboolean env_dir_make(Env *env, const char *path, GError **error);
gboolean env_dir_sync(Env *env, const char *path, GError **error);
char **env_dir_list(Env *env, const char *path, GError **error);

static inline int64_t env_files_max(Env *env) { return env->ops->files_max ? env->ops->files_max(env) : 0; }

/* Formatted logging through the seam: env_log(env, ENV_LOG_INFO, "Listening on %s", x). */
void env_log(Env *env, EnvLogLevel level, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Read a whole small file / write one atomically (temp file, fsync, rename, fsync dir).
 * Both go through the ops above, so they work in every world. */
gboolean env_file_read_all(Env *env, const char *path, GBytes **out, GError **error);
gboolean env_file_write_atomic(Env *env, const char *path, const void *data, size_t len,
                               GError **error);

/* For world implementations with listeners: what to do when accept() fails for want of
 * resources (EMFILE, ENFILE, ENOBUFS, ENOMEM), see env.c ACCEPT BACK-OFF. The world stops
 * accepting on that listener, asks env_accept_backoff_failed how long to wait, arms a timer
 * (env_timer_add) and retries when it fires; env_accept_backoff_ok after each success. The
 * first failure of an outage is logged, the rest are counted; the recovery is logged once. */
typedef struct EnvAcceptBackoff {
    int64_t pause_ns;  /* the pause after the next failure; 0 = accepting normally */
    uint64_t failures; /* failed accepts in the current outage */
} EnvAcceptBackoff;
int64_t env_accept_backoff_failed(Env *env, EnvAcceptBackoff *b, const char *listener,
                                  const char *why);
void env_accept_backoff_ok(Env *env, EnvAcceptBackoff *b, const char *listener);

/* For world implementations: the end-of-turn calls a world owes the core (see turn_end).
 * env_turn_queue_add returns TRUE when the queue was empty (a world that schedules its turn
 * end as an event arms it then); env_turn_queue_run runs the calls pending when it starts,
 * in the order they were asked for, and returns how many ran. */
typedef struct EnvTurnQueue {
    GArray *pending; /* EnvTurnCall, asked for and not yet run */
    GArray *running; /* the calls env_turn_queue_run is working through */
} EnvTurnQueue;
void env_turn_queue_init(EnvTurnQueue *q);
void env_turn_queue_clear(EnvTurnQueue *q); /* forget every call (a crash), free nothing else */
void env_turn_queue_free(EnvTurnQueue *q);
gboolean env_turn_queue_add(EnvTurnQueue *q, EnvTimerFn fn, void *arg);
void env_turn_queue_cancel(EnvTurnQueue *q, EnvTimerFn fn, void *arg);
guint env_turn_queue_run(EnvTurnQueue *q);
static inline gboolean env_turn_queue_empty(const EnvTurnQueue *q) { return q->pending->len == 0; }

#endif
