/* server_ctl.c — see server_ctl.h. */
#include "server_ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 5000
#define STOP_GRACE_MS 3000
#define MAX_SERVERS 64

struct ServerCtl {
    pid_t pid;          /* 0 when not running */
    int port;
    char *url;
    char *store_dir;
    char *log_path;
    char **extra;       /* NULL-terminated copy of the extra args */
    gboolean no_js;     /* a cluster node: no -js -sd */
    char *kind;         /* "minijet" / "nats-server" */
    int cluster_port, monitor_port; /* cluster nodes only */
    int slot;           /* index in g_servers */
};

/* Every running server's pid, for the exit and signal handlers (async-signal-safe reads). */
static volatile pid_t g_pids[MAX_SERVERS];
static ServerCtl *g_servers[MAX_SERVERS];
static gboolean g_handlers_installed;
static char g_last_error[1024];
static char g_root[4096];

gint64 server_ctl_now_ms(void) { return g_get_monotonic_time() / 1000; }

void server_ctl_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

const char *server_ctl_kind(void) {
    const char *k = g_getenv("MINIJET_TEST_SERVER");
    if (k == NULL || *k == '\0') return "minijet";
    return k;
}

static gboolean is_root(const char *dir) {
    char *mk = g_build_filename(dir, "Makefile", NULL);
    char *src = g_build_filename(dir, "src", NULL);
    gboolean ok = g_file_test(mk, G_FILE_TEST_IS_REGULAR) && g_file_test(src, G_FILE_TEST_IS_DIR);
    g_free(mk);
    g_free(src);
    return ok;
}

const char *server_ctl_root(void) {
    if (g_root[0]) return g_root;
    const char *env = g_getenv("MINIJET_ROOT");
    if (env && *env) {
        g_strlcpy(g_root, env, sizeof g_root);
        return g_root;
    }
    char *exe = g_file_read_link("/proc/self/exe", NULL);
    if (exe) {
        /* build/tests/<bin> -> root */
        char *d1 = g_path_get_dirname(exe);
        char *d2 = g_path_get_dirname(d1);
        char *d3 = g_path_get_dirname(d2);
        if (is_root(d3)) g_strlcpy(g_root, d3, sizeof g_root);
        g_free(d1);
        g_free(d2);
        g_free(d3);
        g_free(exe);
        if (g_root[0]) return g_root;
    }
    char *cwd = g_get_current_dir();
    g_strlcpy(g_root, cwd, sizeof g_root);
    g_free(cwd);
    return g_root;
}

static void kill_all_servers_signal_safe(void) {
    for (int i = 0; i < MAX_SERVERS; i++) {
        pid_t p = g_pids[i];
        if (p > 0) {
            kill(-p, SIGKILL); /* its process group: wrappers and their children too */
            kill(p, SIGKILL);
        }
    }
}

static void on_exit_cleanup(void) {
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (g_servers[i] && g_servers[i]->pid > 0) server_ctl_stop(g_servers[i]);
    }
    kill_all_servers_signal_safe();
}

static void on_fatal_signal(int sig) {
    kill_all_servers_signal_safe();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_watchdog(int sig) {
    (void)sig;
    static const char msg[] = "\n# server_ctl watchdog: test hung, killing servers and aborting\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    kill_all_servers_signal_safe();
    signal(SIGABRT, SIG_DFL);
    abort();
}

void server_ctl_watchdog(unsigned seconds) {
    signal(SIGALRM, on_watchdog);
    alarm(seconds);
}

static void install_handlers(void) {
    if (g_handlers_installed) return;
    g_handlers_installed = TRUE;
    atexit(on_exit_cleanup);
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
    /* A peer closing a socket must not kill the test process. */
    signal(SIGPIPE, SIG_IGN);
}

static int pick_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static gboolean port_accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return FALSE;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    gboolean ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static char *server_binary(const char *kind) {
    if (strcmp(kind, "nats-server") == 0) {
        const char *b = g_getenv("NATS_SERVER_BIN");
        return g_strdup(b && *b ? b : "nats-server");
    }
    const char *b = g_getenv("MINIJET_SERVER_BIN");
    if (b && *b) return g_strdup(b);
    return g_build_filename(server_ctl_root(), "build", "minijet-server", NULL);
}

char *server_ctl_describe_status(int status) {
    if (status < 0) return g_strdup("not running");
    if (WIFEXITED(status)) return g_strdup_printf("exited with code %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf("killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                               WCOREDUMP(status) ? ", core dumped" : "");
    return g_strdup_printf("status 0x%x", status);
}

static void reap(ServerCtl *s) {
    s->pid = 0;
    g_pids[s->slot] = 0;
}

gboolean server_ctl_alive(ServerCtl *s, int *status_out) {
    if (s == NULL || s->pid <= 0) {
        if (status_out) *status_out = -1;
        return FALSE;
    }
    int st = 0;
    pid_t r = waitpid(s->pid, &st, WNOHANG);
    if (r == 0) return TRUE;
    if (status_out) *status_out = (r == s->pid) ? st : -1;
    reap(s);
    return FALSE;
}

/* Fork/exec the server with the configured port and store; wait until it accepts. */
static gboolean spawn(ServerCtl *s) {
    char *bin = server_binary(s->kind ? s->kind : server_ctl_kind());
    char port_s[16];
    g_snprintf(port_s, sizeof port_s, "%d", s->port);
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, bin);
    const char *base[] = {"-a", "127.0.0.1", "-p", port_s, "-js", "-sd", s->store_dir};
    for (size_t i = 0; i < (s->no_js ? 4 : G_N_ELEMENTS(base)); i++) g_ptr_array_add(argv, (char *)base[i]);
    for (char **e = s->extra; e && *e; e++) g_ptr_array_add(argv, *e);
    g_ptr_array_add(argv, NULL);

    if (strchr(bin, '/') && !g_file_test(bin, G_FILE_TEST_IS_EXECUTABLE)) {
        g_snprintf(g_last_error, sizeof g_last_error, "server binary %s does not exist (run make)", bin);
        g_ptr_array_free(argv, TRUE);
        g_free(bin);
        return FALSE;
    }

    int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        g_snprintf(g_last_error, sizeof g_last_error, "cannot open %s: %s", s->log_path, strerror(errno));
        g_ptr_array_free(argv, TRUE);
        g_free(bin);
        return FALSE;
    }
    char *cmdline = g_strjoinv(" ", (char **)argv->pdata);
    char *banner = g_strdup_printf("=== server_ctl: %s\n", cmdline);
    ssize_t ignored = write(logfd, banner, strlen(banner));
    (void)ignored;
    g_free(banner);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        setpgid(0, 0); /* own process group, so a stop reaches whatever it spawns */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        dup2(logfd, 1);
        dup2(logfd, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        /* Restore default signal dispositions for the server. */
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(((char **)argv->pdata)[0], (char **)argv->pdata);
        static const char msg[] = "server_ctl: exec failed\n";
        ignored = write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    close(logfd);
    if (pid > 0) setpgid(pid, pid); /* also here: no race with the first kill */
    if (pid < 0) {
        g_snprintf(g_last_error, sizeof g_last_error, "fork: %s", strerror(errno));
        g_free(cmdline);
        g_ptr_array_free(argv, TRUE);
        g_free(bin);
        return FALSE;
    }
    s->pid = pid;
    g_pids[s->slot] = pid;

    gint64 deadline = server_ctl_now_ms() + START_TIMEOUT_MS;
    gboolean up = FALSE;
    for (;;) {
        int st;
        if (!server_ctl_alive(s, &st)) {
            char *d = server_ctl_describe_status(st);
            g_snprintf(g_last_error, sizeof g_last_error, "`%s` %s before accepting connections (log: %s)",
                       cmdline, d, s->log_path);
            g_free(d);
            break;
        }
        if (port_accepts(s->port)) {
            up = TRUE;
            break;
        }
        if (server_ctl_now_ms() > deadline) {
            g_snprintf(g_last_error, sizeof g_last_error,
                       "`%s` did not accept connections on port %d within %d ms (log: %s)", cmdline, s->port,
                       START_TIMEOUT_MS, s->log_path);
            server_ctl_stop(s);
            break;
        }
        server_ctl_sleep_ms(10);
    }
    g_free(cmdline);
    g_ptr_array_free(argv, TRUE);
    g_free(bin);
    return up;
}

ServerCtl *server_ctl_start(void) { return server_ctl_start_args(NULL); }

ServerCtl *server_ctl_start_conf(const char *name) {
    g_autofree char *file = g_strdup_printf("%s.conf", name);
    g_autofree char *path = g_build_filename(server_ctl_root(), "tests", "interop", "conf", file, NULL);
    const char *args[] = {"-c", path, NULL};
    return server_ctl_start_args(args);
}

static ServerCtl *start_node(const char *kind, gboolean no_js, int port, const char *const *extra_args);

ServerCtl *server_ctl_start_args(const char *const *extra_args) {
    return start_node(NULL, FALSE, 0, extra_args);
}

static ServerCtl *start_node(const char *kind, gboolean no_js, int port, const char *const *extra_args) {
    install_handlers();
    int slot = -1;
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (g_servers[i] == NULL) {
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        g_snprintf(g_last_error, sizeof g_last_error, "too many servers (%d)", MAX_SERVERS);
        return NULL;
    }
    ServerCtl *s = g_new0(ServerCtl, 1);
    s->slot = slot;
    g_servers[slot] = s;
    s->port = port > 0 ? port : pick_free_port();
    s->kind = g_strdup(kind ? kind : server_ctl_kind());
    s->no_js = no_js;
    GError *err = NULL;
    s->store_dir = g_dir_make_tmp("minijet-interop-XXXXXX", &err);
    if (s->store_dir == NULL) {
        g_snprintf(g_last_error, sizeof g_last_error, "mkdtemp: %s", err->message);
        g_error_free(err);
        server_ctl_free(s);
        return NULL;
    }
    s->url = g_strdup_printf("nats://127.0.0.1:%d", s->port);
    char *logdir = g_build_filename(server_ctl_root(), "build", "test-logs", "servers", NULL);
    g_mkdir_with_parents(logdir, 0755);
    char *name = g_strdup_printf("%s-%d-%d.log", s->kind, s->port, (int)getpid());
    s->log_path = g_build_filename(logdir, name, NULL);
    g_free(name);
    g_free(logdir);
    if (extra_args) s->extra = g_strdupv((char **)extra_args);
    if (!spawn(s)) {
        server_ctl_free(s);
        return NULL;
    }
    return s;
}

int server_ctl_stop(ServerCtl *s) {
    if (s == NULL || s->pid <= 0) return -1;
    int st = -1;
    if (!server_ctl_alive(s, &st)) return st;
    pid_t pid = s->pid;
    kill(pid, SIGTERM);
    gint64 deadline = server_ctl_now_ms() + STOP_GRACE_MS;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0) {
            st = -1;
            break;
        }
        if (server_ctl_now_ms() > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            if (waitpid(pid, &st, 0) != pid) st = -1;
            break;
        }
        server_ctl_sleep_ms(5);
    }
    kill(-pid, SIGKILL); /* anything left in its process group */
    reap(s);
    return st;
}

gboolean server_ctl_resume(ServerCtl *s) {
    if (s == NULL) return FALSE;
    if (s->pid > 0 && server_ctl_alive(s, NULL)) return TRUE;
    return spawn(s);
}

gboolean server_ctl_restart(ServerCtl *s) {
    server_ctl_stop(s);
    return server_ctl_resume(s);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void server_ctl_free(ServerCtl *s) {
    if (s == NULL) return;
    server_ctl_stop(s);
    if (s->store_dir) nftw(s->store_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    g_servers[s->slot] = NULL;
    g_pids[s->slot] = 0;
    g_free(s->url);
    g_free(s->store_dir);
    g_free(s->log_path);
    g_strfreev(s->extra);
    g_free(s->kind);
    g_free(s);
}

/* ---- clusters ---- */

int server_ctl_kill(ServerCtl *s) {
    if (s == NULL || s->pid <= 0) return -1;
    kill(-s->pid, SIGKILL);
    kill(s->pid, SIGKILL);
    int st = -1;
    waitpid(s->pid, &st, 0);
    reap(s);
    return st;
}

int server_ctl_cluster_port(const ServerCtl *s) { return s->cluster_port; }

/* A tiny HTTP/1.0 GET on the node's monitor port; the body, or NULL. g_free it. */
char *server_ctl_monitor_get(const ServerCtl *s, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->monitor_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return NULL;
    }
    char *req = g_strdup_printf("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    ssize_t w = write(fd, req, strlen(req));
    g_free(req);
    GString *out = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    while (w > 0 && (n = read(fd, buf, sizeof buf)) > 0) g_string_append_len(out, buf, n);
    close(fd);
    const char *body = strstr(out->str, "\r\n\r\n");
    char *res = body ? g_strdup(body + 4) : NULL;
    g_string_free(out, TRUE);
    return res;
}

/* How many routes the node reports on /routez (-1 if it does not answer). */
static int num_routes(const ServerCtl *s) {
    char *body = server_ctl_monitor_get(s, "/routez");
    if (body == NULL) return -1;
    const char *p = strstr(body, "\"num_routes\":");
    int n = p ? atoi(p + strlen("\"num_routes\":")) : -1;
    g_free(body);
    return n;
}

gboolean server_ctl_wait_mesh(ServerCtl **nodes, int n, int timeout_ms) {
    gint64 deadline = server_ctl_now_ms() + timeout_ms;
    for (;;) {
        int live = 0, ok = 0;
        for (int i = 0; i < n; i++) live += nodes[i] && nodes[i]->pid > 0;
        for (int i = 0; i < n; i++)
            if (nodes[i] && nodes[i]->pid > 0 && num_routes(nodes[i]) == live - 1) ok++;
        if (ok == live) return TRUE;
        if (server_ctl_now_ms() > deadline) return FALSE;
        server_ctl_sleep_ms(50);
    }
}

gboolean server_ctl_start_cluster(ServerCtl **out, int n, const char *const *kinds, const char *name) {
    int cports[16], mports[16], ports[16];
    g_assert(n <= 16);
    for (int i = 0; i < n; i++) {
        ports[i] = pick_free_port();
        cports[i] = pick_free_port();
        mports[i] = pick_free_port();
        out[i] = NULL;
    }
    GString *routes = g_string_new(NULL);
    for (int i = 0; i < n; i++) g_string_append_printf(routes, "%snats://127.0.0.1:%d", i ? "," : "", cports[i]);
    gboolean ok = TRUE;
    for (int i = 0; i < n && ok; i++) {
        char m[16], c[64], nm[16];
        g_snprintf(m, sizeof m, "%d", mports[i]);
        g_snprintf(c, sizeof c, "nats://127.0.0.1:%d", cports[i]);
        g_snprintf(nm, sizeof nm, "n%d", i + 1);
        const char *args[] = {"-m", m, "--cluster", c, "--routes", routes->str, "--cluster_name", name, "-n", nm, NULL};
        out[i] = start_node(kinds ? kinds[i] : NULL, TRUE, ports[i], args);
        if (out[i] == NULL) ok = FALSE;
        else {
            out[i]->cluster_port = cports[i];
            out[i]->monitor_port = mports[i];
        }
    }
    g_string_free(routes, TRUE);
    if (ok && !server_ctl_wait_mesh(out, n, 10000)) {
        g_snprintf(g_last_error, sizeof g_last_error, "no full mesh of %d nodes within 10 s", n);
        ok = FALSE;
    }
    if (!ok)
        for (int i = 0; i < n; i++) {
            server_ctl_free(out[i]);
            out[i] = NULL;
        }
    return ok;
}

int server_ctl_port(const ServerCtl *s) { return s->port; }
pid_t server_ctl_pid(const ServerCtl *s) { return s->pid; }
const char *server_ctl_url(const ServerCtl *s) { return s->url; }
const char *server_ctl_store_dir(const ServerCtl *s) { return s->store_dir; }
const char *server_ctl_log_path(const ServerCtl *s) { return s->log_path; }
const char *server_ctl_last_error(void) { return g_last_error; }

char *server_ctl_log_tail(const ServerCtl *s, int lines) {
    char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(s->log_path, &data, &len, NULL)) return g_strdup("(no log)");
    const char *p = data + len;
    int n = 0;
    while (p > data) {
        p--;
        if (*p == '\n' && p != data + len - 1 && ++n >= lines) {
            p++;
            break;
        }
    }
    char *out = g_strdup(p);
    g_free(data);
    return out;
}

gboolean server_ctl_expect_alive(ServerCtl *s) {
    int st = -1;
    if (s == NULL) return FALSE;
    if (server_ctl_alive(s, &st)) return TRUE;
    char *d = server_ctl_describe_status(st);
    char *tail = server_ctl_log_tail(s, 15);
    /* The failure line stays one line (TAP); the log tail goes out as comment lines. */
    g_test_message("the %s server log %s ends with:", server_ctl_kind(), s->log_path);
    char **lines = g_strsplit(tail, "\n", -1);
    for (char **l = lines; *l; l++)
        if (**l) g_test_message("  %s", *l);
    g_strfreev(lines);
    g_test_fail_printf("the %s server is no longer running: %s (log: %s)", server_ctl_kind(), d, s->log_path);
    g_free(d);
    g_free(tail);
    return FALSE;
}

void server_ctl_test_init(int *argc, char ***argv) {
    /* argv must outlive g_test_run: keep it in a static array. */
    static char *args[256];
    int n = 0;
    for (int i = 0; i < *argc && n < 254; i++) args[n++] = (*argv)[i];
    args[n++] = (char *)"--keep-going";
    args[n] = NULL;
    *argc = n;
    *argv = args;
    g_test_init(argc, argv, NULL);
}
