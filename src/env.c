/* env.c — helpers built on the environment seam (env.h) that every world shares:
 * formatted logging, the file wrappers (the one place every file operation of the core
 * passes through: tracing), and whole-file read / atomic write. They only call env->ops, so
 * they behave identically on real disks and on the simulator's faulty ones.
 */
#include "env.h"

#include <stdarg.h>

#include "limits.h"

void env_log(Env *env, EnvLogLevel level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    env->ops->log(env, level, line);
}

/* ------------------------------------------------------------------ the file wrappers */

/* With env->trace_files: one [DBG] line per call, "file: <op> <args> -> <result>". */
#define TRACE(fmt, ...) \
    do { \
        if (env->trace_files) env_log(env, ENV_LOG_DEBUG, "file: " fmt, __VA_ARGS__); \
    } while (0)
static const char *err_text(GError **error) { return error && *error ? (*error)->message : "ok"; }

int env_file_open(Env *env, const char *path, int flags, GError **error) {
    int fd = env->ops->file_open(env, path, flags, error);
    TRACE("open %s flags 0x%x -> %d (%s)", path, flags, fd, err_text(error));
    return fd;
}

gssize env_file_pread(Env *env, int fd, void *buf, size_t len, uint64_t off, GError **error) {
    gssize n = env->ops->file_pread(env, fd, buf, len, off, error);
    TRACE("pread fd %d len %zu off %" G_GUINT64_FORMAT " -> %zd (%s)", fd, len, off, n, err_text(error));
    return n;
}

gssize env_file_pwrite(Env *env, int fd, const void *buf, size_t len, uint64_t off, GError **error) {
    gssize n = env->ops->file_pwrite(env, fd, buf, len, off, error);
    TRACE("pwrite fd %d len %zu off %" G_GUINT64_FORMAT " -> %zd (%s)", fd, len, off, n, err_text(error));
    return n;
}

gboolean env_file_sync(Env *env, int fd, GError **error) {
    gboolean ok = env->ops->file_sync(env, fd, error);
    TRACE("fdatasync fd %d -> %s", fd, err_text(error));
    return ok;
}

gboolean env_file_truncate(Env *env, int fd, uint64_t len, GError **error) {
    gboolean ok = env->ops->file_truncate(env, fd, len, error);
    TRACE("truncate fd %d len %" G_GUINT64_FORMAT " -> %s", fd, len, err_text(error));
    return ok;
}

gboolean env_file_allocate(Env *env, int fd, uint64_t off, uint64_t len, GError **error) {
    gboolean ok = env->ops->file_allocate != NULL ? env->ops->file_allocate(env, fd, off, len, error)
                                                  : (g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                                                                 "this world does not preallocate"), FALSE);
    TRACE("allocate fd %d off %" G_GUINT64_FORMAT " len %" G_GUINT64_FORMAT " -> %s", fd, off, len, err_text(error));
    return ok;
}

gint64 env_file_size(Env *env, int fd, GError **error) {
    gint64 n = env->ops->file_size(env, fd, error);
    TRACE("size fd %d -> %" G_GINT64_FORMAT, fd, n);
    return n;
}

void env_file_close(Env *env, int fd) {
    TRACE("close fd %d%s", fd, "");
    env->ops->file_close(env, fd);
}

gboolean env_path_rename(Env *env, const char *from, const char *to, GError **error) {
    gboolean ok = env->ops->path_rename(env, from, to, error);
    TRACE("rename %s %s -> %s", from, to, err_text(error));
    return ok;
}

gboolean env_path_remove(Env *env, const char *path, GError **error) {
    gboolean ok = env->ops->path_remove(env, path, error);
    TRACE("remove %s -> %s", path, err_text(error));
    return ok;
}

gboolean env_path_exists(Env *env, const char *path) {
    gboolean yes = env->ops->path_exists(env, path);
    TRACE("exists %s -> %s", path, yes ? "yes" : "no");
    return yes;
}

gboolean env_dir_make(Env *env, const char *path, GError **error) {
    gboolean ok = env->ops->dir_make(env, path, error);
    TRACE("mkdir -p %s -> %s", path, err_text(error));
    return ok;
}

gboolean env_dir_sync(Env *env, const char *path, GError **error) {
    gboolean ok = env->ops->dir_sync(env, path, error);
    TRACE("fsync dir %s -> %s", path, err_text(error));
    return ok;
}

char **env_dir_list(Env *env, const char *path, GError **error) {
    char **names = env->ops->dir_list(env, path, error);
    TRACE("list %s -> %u names (%s)", path, names ? g_strv_length(names) : 0, err_text(error));
    return names;
}

/* ------------------------------------------------------------------ whole files */

gboolean env_file_read_all(Env *env, const char *path, GBytes **out, GError **error) {
    int fd = env_file_open(env, path, ENV_FILE_READ, error);
    if (fd < 0) return FALSE;
    gint64 size = env_file_size(env, fd, error);
    if (size < 0) {
        env_file_close(env, fd);
        return FALSE;
    }
    guint8 *buf = g_malloc(size > 0 ? (gsize)size : 1);
    gint64 got = 0;
    while (got < size) {
        gssize n = env_file_pread(env, fd, buf + got, (size_t)(size - got), (uint64_t)got, error);
        if (n < 0) {
            g_free(buf);
            env_file_close(env, fd);
            return FALSE;
        }
        if (n == 0) break; /* shorter than its size said: return what is there */
        got += n;
    }
    env_file_close(env, fd);
    *out = g_bytes_new_take(buf, (gsize)got);
    return TRUE;
}

/* Atomic replace: write "<path>.tmp", fsync it, rename over <path>, fsync the directory.
 * After a crash the file holds either the old or the new contents, never a mix. */
gboolean env_file_write_atomic(Env *env, const char *path, const void *data, size_t len,
                               GError **error) {
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    int fd = env_file_open(env, tmp, ENV_FILE_WRITE | ENV_FILE_CREATE | ENV_FILE_TRUNC, error);
    if (fd < 0) return FALSE;
    size_t done = 0;
    while (done < len) {
        gssize n = env_file_pwrite(env, fd, (const guint8 *)data + done, len - done, done, error);
        if (n <= 0) {
            if (n == 0) g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "short write to %s", tmp);
            env_file_close(env, fd);
            return FALSE;
        }
        done += (size_t)n;
    }
    gboolean ok = env_file_sync(env, fd, error);
    env_file_close(env, fd);
    if (!ok || !env_path_rename(env, tmp, path, error)) return FALSE;
    g_autofree char *dir = g_path_get_dirname(path);
    return env_dir_sync(env, dir, error);
}

/* ------------------------------------------------------------------ end-of-turn calls */

typedef struct EnvTurnCall {
    EnvTimerFn fn;
    void *arg;
} EnvTurnCall;

void env_turn_queue_init(EnvTurnQueue *q) {
    q->pending = g_array_new(FALSE, FALSE, sizeof(EnvTurnCall));
    q->running = g_array_new(FALSE, FALSE, sizeof(EnvTurnCall));
}

void env_turn_queue_clear(EnvTurnQueue *q) {
    g_array_set_size(q->pending, 0);
    g_array_set_size(q->running, 0);
}

void env_turn_queue_free(EnvTurnQueue *q) {
    if (q->pending) g_array_free(q->pending, TRUE);
    if (q->running) g_array_free(q->running, TRUE);
    q->pending = q->running = NULL;
}

static gboolean calls_remove(GArray *a, EnvTimerFn fn, void *arg) {
    for (guint i = 0; i < a->len; i++) {
        EnvTurnCall *c = &g_array_index(a, EnvTurnCall, i);
        if (c->fn == fn && c->arg == arg) {
            g_array_remove_index(a, i);
            return TRUE;
        }
    }
    return FALSE;
}

gboolean env_turn_queue_add(EnvTurnQueue *q, EnvTimerFn fn, void *arg) {
    g_assert(fn != NULL);
    for (guint i = 0; i < q->pending->len; i++) {
        EnvTurnCall *c = &g_array_index(q->pending, EnvTurnCall, i);
        if (c->fn == fn && c->arg == arg) return FALSE;
    }
    EnvTurnCall c = {fn, arg};
    g_array_append_val(q->pending, c);
    return q->pending->len == 1;
}

void env_turn_queue_cancel(EnvTurnQueue *q, EnvTimerFn fn, void *arg) {
    calls_remove(q->pending, fn, arg);
    calls_remove(q->running, fn, arg); /* cancelled by an earlier call of the same turn */
}

guint env_turn_queue_run(EnvTurnQueue *q) {
    g_assert(q->running->len == 0); /* never re-entrant */
    GArray *t = q->running;
    q->running = q->pending;
    q->pending = t;
    guint ran = 0;
    while (q->running->len > 0) {
        EnvTurnCall c = g_array_index(q->running, EnvTurnCall, 0);
        g_array_remove_index(q->running, 0);
        c.fn(c.arg);
        ran++;
    }
    return ran;
}

/* ------------------------------------------------------------------ accept back-off */

/* ACCEPT BACK-OFF
 *   When the process runs out of descriptors (EMFILE) or the system does (ENFILE), accept()
 *   fails but the waiting connection stays in the kernel's backlog, so the listening socket
 *   stays readable: a level-triggered loop that just retried would spin at 100% CPU, and one
 *   that logged each failure would fill the disk. nats-server sleeps its accept goroutine
 *   10 ms, doubling to 1 s (ACCEPT_MIN_SLEEP, ACCEPT_MAX_SLEEP), and logs every attempt. We
 *   pause the same way (the limits are LIMIT_ACCEPT_PAUSE_*), but log once per outage: the
 *   first failure says what happened and what the server does about it, the recovery says how
 *   many attempts failed meanwhile. Nothing else changes: connections already accepted keep
 *   being served, and the ones waiting in the backlog are accepted when descriptors free up.
 *   Never fatal: running out of descriptors is load, not a bug. */
int64_t env_accept_backoff_failed(Env *env, EnvAcceptBackoff *b, const char *listener,
                                  const char *why) {
    if (b->failures++ == 0) {
        b->pause_ns = LIMIT_ACCEPT_PAUSE_MIN_NS;
        env_log(env, ENV_LOG_ERROR,
                "Temporary %s Accept Error(%s): pausing accepts, %d ms doubling up to %d ms, until "
                "it recovers (logged once)",
                listener, why, (int)(LIMIT_ACCEPT_PAUSE_MIN_NS / 1000000),
                (int)(LIMIT_ACCEPT_PAUSE_MAX_NS / 1000000));
    }
    int64_t pause = b->pause_ns;
    b->pause_ns = MIN(b->pause_ns * 2, LIMIT_ACCEPT_PAUSE_MAX_NS);
    return pause;
}

void env_accept_backoff_ok(Env *env, EnvAcceptBackoff *b, const char *listener) {
    if (b->failures == 0) return;
    env_log(env, ENV_LOG_INFO, "%s accepts resumed after %" G_GUINT64_FORMAT " failed attempts",
            listener, b->failures);
    b->failures = 0;
    b->pause_ns = 0;
}
