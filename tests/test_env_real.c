/* test_env_real.c — the production world (src/env_real.c) against real sockets and files.
 *
 * An echo core stands in for the broker: it echoes every byte, answers "bye" with "ok\n"
 * and closes. The loop runs on a second thread; the test thread is a plain blocking client.
 * This is the one suite that must touch the real OS (and so waits on real time, briefly).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "env_real.h"

typedef struct {
    Env *env;
    GThread *loop;
    int port;
    gint accepted, closed, bytes; /* atomics: written by the loop thread */
} Fixture;

static void echo_accept(void *core, EnvConn c, const char *ip, int port) {
    Fixture *f = core;
    g_assert_cmpstr(ip, ==, "127.0.0.1");
    g_assert_cmpint(port, >, 0);
    g_atomic_int_inc(&f->accepted);
}

static void echo_bytes(void *core, EnvConn c, const uint8_t *data, size_t len) {
    Fixture *f = core;
    g_atomic_int_add(&f->bytes, (gint)len);
    if (len >= 3 && memcmp(data, "bye", 3) == 0) {
        env_conn_send1(f->env, c, "ok\n", 3);
        env_conn_close(f->env, c);
        env_conn_send1(f->env, c, "late", 4); /* a no-op on a closed conn */
        g_assert_cmpuint(env_conn_pending(f->env, c), ==, 0);
        return;
    }
    EnvSlice s[2] = {{data, len / 2}, {data + len / 2, len - len / 2}};
    env_conn_send(f->env, c, s, 2);
}

static void echo_closed(void *core, EnvConn c) {
    Fixture *f = core;
    g_atomic_int_inc(&f->closed);
}

static gpointer loop_thread(gpointer data) {
    Fixture *f = data;
    env_real_run(f->env);
    return NULL;
}

static void fx_setup(Fixture *f, gconstpointer data) {
    memset(f, 0, sizeof *f);
    f->env = env_real_new();
    static const EnvHandlers h = {echo_accept, echo_bytes, echo_closed};
    env_set_handlers(f->env, &h, f);
    g_autoptr(GError) err = NULL;
    g_assert_true(env_real_listen(f->env, "127.0.0.1", 0, &err));
    g_assert_no_error(err);
    f->port = env_real_port(f->env);
    g_assert_cmpint(f->port, >, 0);
    f->loop = g_thread_new("loop", loop_thread, f);
}

static void fx_teardown(Fixture *f, gconstpointer data) {
    env_real_stop(f->env);
    g_thread_join(f->loop);
    env_real_free(f->env);
}

static int client_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
    struct timeval tv = {.tv_sec = 5}; /* a hung test fails instead of hanging */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        g_assert_cmpint(n, >, 0);
        p += n;
        len -= (size_t)n;
    }
}

static void read_exact(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        g_assert_cmpint(n, >, 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Wait (bounded) for a counter the loop thread bumps. */
static void wait_for(gint *counter, gint value) {
    for (int i = 0; i < 500 && g_atomic_int_get(counter) < value; i++) g_usleep(2000);
    g_assert_cmpint(g_atomic_int_get(counter), ==, value);
}

static void test_echo(Fixture *f, gconstpointer data) {
    int fd = client_connect(f->port);
    write_all(fd, "hello", 5);
    char buf[6] = {0};
    read_exact(fd, buf, 5);
    g_assert_cmpstr(buf, ==, "hello");
    wait_for(&f->accepted, 1);
    close(fd);
    wait_for(&f->closed, 1); /* peer hang-up -> exactly one on_closed */
}

/* 8 MiB through a socket whose buffers are far smaller: partial writes, EPOLLOUT, early
 * flushes and reads of several chunks per turn all happen. The reader runs while we write. */
typedef struct {
    int fd;
    size_t len;
    guint8 *got;
} Reader;

static gpointer reader_thread(gpointer data) {
    Reader *r = data;
    read_exact(r->fd, r->got, r->len);
    return NULL;
}

static void test_bulk(Fixture *f, gconstpointer data) {
    size_t len = 8u << 20;
    g_autofree guint8 *sent = g_malloc(len);
    for (size_t i = 0; i < len; i++) sent[i] = (guint8)(i * 7 + (i >> 13));
    int fd = client_connect(f->port);
    Reader r = {fd, len, g_malloc(len)};
    GThread *t = g_thread_new("reader", reader_thread, &r);
    write_all(fd, sent, len);
    g_thread_join(t);
    g_assert_true(memcmp(sent, r.got, len) == 0);
    g_free(r.got);
    close(fd);
    wait_for(&f->closed, 1);
    const EnvRealStats *st = env_real_stats(f->env);
    g_assert_cmpuint(st->bytes_out, ==, len);
}

static void test_close_by_core(Fixture *f, gconstpointer data) {
    int fd = client_connect(f->port);
    write_all(fd, "bye", 3);
    char buf[8] = {0};
    read_exact(fd, buf, 3);
    g_assert_cmpstr(buf, ==, "ok\n"); /* flushed before the close */
    g_assert_cmpint(read(fd, buf, sizeof buf), ==, 0); /* then EOF */
    wait_for(&f->closed, 1);
    close(fd);
    g_usleep(20000);
    g_assert_cmpint(g_atomic_int_get(&f->closed), ==, 1); /* still exactly once */
}

/* Lingering close: after the core's close the client may still be writing (a 1 MiB request
 * the server refused after its first bytes). The world drains that input instead of letting
 * the kernel answer it with a reset, so every write succeeds and the client reads the
 * answer, then a clean EOF. Before, the second write failed with ECONNRESET/EPIPE and a
 * client like Node's net.Socket lost the answer with it. */
static void test_lingering_close(Fixture *f, gconstpointer data) {
    int fd = client_connect(f->port);
    write_all(fd, "bye", 3);
    char buf[8] = {0};
    read_exact(fd, buf, 3);
    g_assert_cmpstr(buf, ==, "ok\n");
    wait_for(&f->closed, 1); /* the core is done with it */
    g_autofree char *junk = g_malloc0(1 << 20);
    size_t sent = 0;
    while (sent < (1 << 20)) {
        ssize_t n = send(fd, junk + sent, (1 << 20) - sent, MSG_NOSIGNAL);
        if (n < 0) g_error("write after the server's close: %s", g_strerror(errno));
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    g_assert_cmpint(read(fd, buf, sizeof buf), ==, 0); /* EOF, not a reset */
    close(fd);
    g_assert_cmpint(g_atomic_int_get(&f->bytes), ==, 3); /* the core saw none of the junk */
    g_assert_cmpuint(env_real_stats(f->env)->lingers, ==, 1);
}

static void test_many_conns(Fixture *f, gconstpointer data) {
    enum { N = 50 };
    int fds[N];
    for (int i = 0; i < N; i++) fds[i] = client_connect(f->port);
    for (int i = 0; i < N; i++) {
        char msg[16], back[16] = {0};
        int n = g_snprintf(msg, sizeof msg, "m%d", i);
        write_all(fds[i], msg, (size_t)n);
        read_exact(fds[i], back, (size_t)n);
        g_assert_cmpstr(back, ==, msg);
    }
    wait_for(&f->accepted, N);
    for (int i = 0; i < N; i++) close(fds[i]);
    wait_for(&f->closed, N);
}

/* --- timers: run the loop on this thread, the last timer stops it --- */

typedef struct {
    Env *env;
    GString *order;
    int64_t start_ns;
} TimerCtx;

typedef struct {
    TimerCtx *ctx;
    char name;
    int64_t due_ns;
} TimerArg;

static void timer_fired(void *arg) {
    TimerArg *a = arg;
    g_string_append_c(a->ctx->order, a->name);
    g_assert_cmpint(env_now_ns(a->ctx->env), >=, a->due_ns); /* never early */
    if (a->name == 'z') env_real_stop(a->ctx->env);
}

static void nop_accept(void *core, EnvConn c, const char *ip, int port) {}
static void nop_bytes(void *core, EnvConn c, const uint8_t *d, size_t n) {}
static void nop_closed(void *core, EnvConn c) {}

static void test_timers(void) {
    Env *env = env_real_new();
    static const EnvHandlers h = {nop_accept, nop_bytes, nop_closed};
    env_set_handlers(env, &h, NULL);
    TimerCtx ctx = {env, g_string_new(NULL), env_now_ns(env)};
    struct { char name; int delay_ms; } plan[] = {
        {'d', 30}, {'a', 10}, {'c', 20}, {'b', 10}, {'x', 15}, {'e', 0}, {'z', 40},
    };
    TimerArg args[G_N_ELEMENTS(plan)];
    EnvTimer ids[G_N_ELEMENTS(plan)];
    for (size_t i = 0; i < G_N_ELEMENTS(plan); i++) {
        int64_t delay = plan[i].delay_ms * 1000000LL;
        args[i] = (TimerArg){&ctx, plan[i].name, env_now_ns(env) + delay};
        ids[i] = env_timer_add(env, delay, timer_fired, &args[i]);
        g_assert_cmpuint(ids[i], !=, 0);
    }
    env_timer_cancel(env, ids[4]); /* 'x' never fires */
    env_timer_cancel(env, 0);      /* cancelling "none" is harmless */
    env_real_run(env);
    g_assert_cmpstr(ctx.order->str, ==, "eabcdz"); /* by deadline, ties in add order */
    env_timer_cancel(env, ids[0]); /* cancelling a fired timer is harmless */
    g_assert_cmpuint(env_real_stats(env)->timers_fired, ==, 6);
    g_string_free(ctx.order, TRUE);
    env_real_free(env);
}

/* Thousands of cancelled timers (re-armed keep-alives) must not pile up forever. */
static void count_fire(void *arg) { (*(int *)arg)++; }
static void stop_env(void *arg) { env_real_stop(arg); }

static void test_timer_churn(void) {
    Env *env = env_real_new();
    static const EnvHandlers h = {nop_accept, nop_bytes, nop_closed};
    env_set_handlers(env, &h, NULL);
    int fired = 0;
    EnvTimer t = 0;
    for (int i = 0; i < 100000; i++) {
        env_timer_cancel(env, t);
        t = env_timer_add(env, 3600LL * 1000000000LL, count_fire, &fired);
    }
    env_timer_add(env, 1000000, stop_env, env);
    env_real_run(env);
    g_assert_cmpint(fired, ==, 0);
    env_real_free(env);
}

/* --- files --- */

static void test_files(void) {
    Env *env = env_real_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *root = g_dir_make_tmp("minijet-env-real-XXXXXX", &err);
    g_assert_no_error(err);
    g_autofree char *dir = g_build_filename(root, "a", "b", NULL);
    g_assert_true(env_dir_make(env, dir, &err));
    g_assert_true(env_dir_make(env, dir, &err)); /* mkdir -p: existing is fine */
    g_assert_no_error(err);

    g_autofree char *path = g_build_filename(dir, "seg.log", NULL);
    int fd = env_file_open(env, path, ENV_FILE_WRITE | ENV_FILE_CREATE, &err);
    g_assert_no_error(err);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(env_file_pwrite(env, fd, "hello world", 11, 0, &err), ==, 11);
    g_assert_cmpint(env_file_pwrite(env, fd, "W", 1, 6, &err), ==, 1);
    g_assert_true(env_file_sync(env, fd, &err));
    g_assert_cmpint(env_file_size(env, fd, &err), ==, 11);
    char buf[16] = {0};
    g_assert_cmpint(env_file_pread(env, fd, buf, sizeof buf, 0, &err), ==, 11);
    g_assert_cmpstr(buf, ==, "hello World");
    g_assert_true(env_file_truncate(env, fd, 5, &err));
    g_assert_cmpint(env_file_size(env, fd, &err), ==, 5);
    /* preallocation: zeros past the end, what is there untouched, never shrinking */
    g_assert_true(env_file_allocate(env, fd, 3, 200000, &err));
    g_assert_no_error(err);
    g_assert_cmpint(env_file_size(env, fd, &err), ==, 200003);
    g_autofree uint8_t *big = g_malloc(200003);
    g_assert_cmpint(env_file_pread(env, fd, big, 200003, 0, &err), ==, 200003);
    g_assert_cmpmem(big, 5, "hello", 5);
    for (int i = 5; i < 200003; i++) g_assert_cmpint(big[i], ==, 0);
    g_assert_true(env_file_allocate(env, fd, 0, 10, &err));
    g_assert_cmpint(env_file_size(env, fd, &err), ==, 200003);
    g_assert_cmpint(env_file_pwrite(env, fd, "X", 1, 100000, &err), ==, 1);
    g_assert_cmpint(env_file_size(env, fd, &err), ==, 200003); /* a write inside: no growth */
    env_file_close(env, fd);
    g_assert_no_error(err);

    g_autofree char *meta = g_build_filename(dir, "meta.json", NULL);
    g_assert_true(env_file_write_atomic(env, meta, "{\"v\":1}", 7, &err));
    g_assert_true(env_file_write_atomic(env, meta, "{\"v\":22}", 8, &err));
    g_assert_no_error(err);
    GBytes *got = NULL;
    g_assert_true(env_file_read_all(env, meta, &got, &err));
    g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), "{\"v\":22}", 8);
    g_bytes_unref(got);

    g_autofree char *moved = g_build_filename(dir, "b.log", NULL);
    g_assert_true(env_path_rename(env, path, moved, &err));
    g_assert_false(env_path_exists(env, path));
    g_assert_true(env_path_exists(env, moved));
    g_assert_true(env_dir_sync(env, dir, &err));
    char **names = env_dir_list(env, dir, &err);
    g_assert_no_error(err);
    g_autofree char *joined = g_strjoinv(",", names);
    g_assert_cmpstr(joined, ==, "b.log,meta.json"); /* sorted; no .tmp left behind */
    g_strfreev(names);

    /* errors are GErrors naming the path, never asserts */
    g_autofree char *missing = g_build_filename(root, "nope", "x", NULL);
    g_assert_cmpint(env_file_open(env, missing, ENV_FILE_READ, &err), <, 0);
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_assert_nonnull(strstr(err->message, missing));
    g_clear_error(&err);
    g_assert_null(env_dir_list(env, missing, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_clear_error(&err);

    g_assert_true(env_path_remove(env, moved, &err));
    g_assert_true(env_path_remove(env, meta, &err));
    g_assert_true(env_path_remove(env, dir, &err)); /* an empty directory */
    g_autofree char *parent = g_build_filename(root, "a", NULL);
    g_assert_true(env_path_remove(env, parent, &err));
    g_assert_true(env_path_remove(env, root, &err));
    g_assert_no_error(err);
    g_assert_false(env_path_remove(env, root, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    env_real_free(env);
}

static void test_clock_and_random(void) {
    Env *env = env_real_new();
    int64_t a = env_now_ns(env), b = env_now_ns(env);
    g_assert_cmpint(b, >=, a);
    g_assert_cmpint(env_wall_ns(env), >, 1600000000LL * 1000000000LL); /* after 2020 */
    uint64_t r1 = env_random_u64(env), r2 = env_random_u64(env);
    g_assert_cmpuint(r1, !=, r2);
    env_real_free(env);
}

/* Out of descriptors: accept() fails with EMFILE while clients wait in the backlog. The loop
 * must neither spin nor die: it pauses the port (env.c ACCEPT BACK-OFF), logs once, and
 * accepts every waiting client once descriptors are free again. Run in a subprocess with a
 * low RLIMIT_NOFILE, so filling the descriptor table harms nobody else. */
static void test_accept_emfile(void) {
    if (g_test_subprocess()) {
        struct rlimit rl = {.rlim_cur = 128, .rlim_max = 128};
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = MIN(rl.rlim_max, 128);
        g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &rl), ==, 0);
        Fixture fx, *f = &fx;
        fx_setup(f, NULL);
        int socks[3];
        for (int i = 0; i < 3; i++) socks[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        GArray *fill = g_array_new(FALSE, FALSE, sizeof(int));
        for (int fd; (fd = dup(0)) >= 0;) g_array_append_val(fill, fd);
        g_assert_cmpint(errno, ==, EMFILE);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        for (int i = 0; i < 3; i++) /* completes into the kernel's backlog: no accept needed */
            g_assert_cmpint(connect(socks[i], (struct sockaddr *)&sa, sizeof sa), ==, 0);
        g_usleep(300 * 1000); /* ~5 failed attempts (10, 20, 40, 80, 160 ms pauses) */
        g_assert_cmpint(g_atomic_int_get(&f->accepted), ==, 0);
        for (guint i = 0; i < fill->len; i++) close(g_array_index(fill, int, i));
        g_array_free(fill, TRUE);
        for (int i = 0; i < 300 && g_atomic_int_get(&f->accepted) < 3; i++) g_usleep(10 * 1000);
        g_assert_cmpint(g_atomic_int_get(&f->accepted), ==, 3);
        write_all(socks[2], "ping", 4); /* served as usual */
        char buf[5] = {0};
        struct timeval tv = {.tv_sec = 5};
        setsockopt(socks[2], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        read_exact(socks[2], buf, 4);
        g_assert_cmpstr(buf, ==, "ping");
        for (int i = 0; i < 3; i++) close(socks[i]);
        fx_teardown(f, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 20 * 1000000, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("*[ERR] Temporary Client Accept Error(Too many open files)*"
                              "*[INF] Client accepts resumed after * failed attempts*");
    g_test_trap_assert_stderr_unmatched("*Accept Error*Accept Error*"); /* logged once */
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/env_real/echo", test_echo);
    ADD("/env_real/bulk-8MiB", test_bulk);
    ADD("/env_real/close-by-core", test_close_by_core);
    ADD("/env_real/lingering-close", test_lingering_close);
    ADD("/env_real/many-conns", test_many_conns);
    g_test_add_func("/env_real/timers-order-cancel", test_timers);
    g_test_add_func("/env_real/timers-churn", test_timer_churn);
    g_test_add_func("/env_real/files", test_files);
    g_test_add_func("/env_real/accept-emfile", test_accept_emfile);
    g_test_add_func("/env_real/clock-random", test_clock_and_random);
    return g_test_run();
}
