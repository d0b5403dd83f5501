/* env.c — helpers built on the environment seam (env.h) that every world shares:
 * formatted logging and whole-file read / atomic write. They only call env->ops, so they
 * behave identically on real disks and on the simulator's faulty ones.
 */
#include "env.h"

#include <stdarg.h>

void env_log(Env *env, EnvLogLevel level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    env->ops->log(env, level, line);
}

gboolean env_file_read_all(Env *env, const char *path, GBytes **out, GError **error) {
    int fd = env->ops->file_open(env, path, ENV_FILE_READ, error);
    if (fd < 0) return FALSE;
    gint64 size = env->ops->file_size(env, fd, error);
    if (size < 0) {
        env->ops->file_close(env, fd);
        return FALSE;
    }
    guint8 *buf = g_malloc(size > 0 ? (gsize)size : 1);
    gint64 got = 0;
    while (got < size) {
        gssize n = env->ops->file_pread(env, fd, buf + got, (size_t)(size - got), (uint64_t)got, error);
        if (n < 0) {
            g_free(buf);
            env->ops->file_close(env, fd);
            return FALSE;
        }
        if (n == 0) break; /* shorter than its size said: return what is there */
        got += n;
    }
    env->ops->file_close(env, fd);
    *out = g_bytes_new_take(buf, (gsize)got);
    return TRUE;
}

/* Atomic replace: write "<path>.tmp", fsync it, rename over <path>, fsync the directory.
 * After a crash the file holds either the old or the new contents, never a mix. */
gboolean env_file_write_atomic(Env *env, const char *path, const void *data, size_t len,
                               GError **error) {
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    int fd = env->ops->file_open(env, tmp, ENV_FILE_WRITE | ENV_FILE_CREATE | ENV_FILE_TRUNC, error);
    if (fd < 0) return FALSE;
    size_t done = 0;
    while (done < len) {
        gssize n = env->ops->file_pwrite(env, fd, (const guint8 *)data + done, len - done, done, error);
        if (n <= 0) {
            if (n == 0) g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "short write to %s", tmp);
            env->ops->file_close(env, fd);
            return FALSE;
        }
        done += (size_t)n;
    }
    gboolean ok = env->ops->file_sync(env, fd, error);
    env->ops->file_close(env, fd);
    if (!ok || !env->ops->path_rename(env, tmp, path, error)) return FALSE;
    g_autofree char *dir = g_path_get_dirname(path);
    return env->ops->dir_sync(env, dir, error);
}
