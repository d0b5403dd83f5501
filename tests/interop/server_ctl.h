/* server_ctl.h — start, stop and restart the server under test for the interop suites.
 *
 * MINIJET_TEST_SERVER picks the server: "minijet" (default) runs build/minijet-server from the
 * repository root, "nats-server" runs nats-server from PATH (the 2.9.10 reference). Both get
 *     -a 127.0.0.1 -p <free port> -js -sd <fresh temp dir>
 * and write stdout/stderr to build/test-logs/servers/<kind>-<port>-<test pid>.log.
 *
 * The repository root is $MINIJET_ROOT, else found from the test binary's location
 * (build/tests/<bin> -> ../..), else the current directory (tests/run.sh runs from the root).
 * MINIJET_SERVER_BIN overrides the minijet binary path.
 *
 *   ServerCtl *s = server_ctl_start();   running and accepting connections, or NULL (the reason
 *   server_ctl_start_conf("auth-users")  the same with -c tests/interop/conf/auth-users.conf
 *                                        is in server_ctl_last_error(); the log is kept)
 *   server_ctl_url(s)                    "nats://127.0.0.1:<port>"
 *   server_ctl_restart(s)                stop (SIGTERM) and start again on the same port and store
 *   server_ctl_alive(s)                  is the process still running (not crashed/exited)?
 *   server_ctl_free(s)                   stop, remove the store dir, free
 *
 * Waits are bounded: 5 s for the port to accept connections, 3 s after SIGTERM before SIGKILL.
 * Every server started is killed at exit, on SIGABRT/SIGSEGV/SIGTERM/SIGINT, and (via
 * PR_SET_PDEATHSIG) if the test process dies any other way: no server is left running.
 */
#ifndef MINIJET_SERVER_CTL_H
#define MINIJET_SERVER_CTL_H

#include <glib.h>
#include <sys/types.h>

typedef struct ServerCtl ServerCtl;

/* "minijet" or "nats-server" (from MINIJET_TEST_SERVER). */
const char *server_ctl_kind(void);
/* The repository root (static string). */
const char *server_ctl_root(void);

ServerCtl *server_ctl_start(void);
/* Like server_ctl_start, with extra command-line arguments (NULL-terminated, may be NULL). */
ServerCtl *server_ctl_start_args(const char *const *extra_args);
/* Like server_ctl_start, with the config file tests/interop/conf/<name>.conf ("-c" it): both
 * servers read the very same file. */
ServerCtl *server_ctl_start_conf(const char *name);
/* Stop the process (SIGTERM, then SIGKILL after 3 s). Returns the waitpid status, -1 if it was
 * not running. Port and store are kept for server_ctl_restart / server_ctl_resume. */
int server_ctl_stop(ServerCtl *s);
/* Start again after server_ctl_stop (same port, same store). TRUE when accepting connections. */
gboolean server_ctl_resume(ServerCtl *s);
/* server_ctl_stop + server_ctl_resume. */
gboolean server_ctl_restart(ServerCtl *s);
/* Stop, remove the store dir, free. NULL is fine. */
void server_ctl_free(ServerCtl *s);

/* TRUE when the process is running. When it has exited, *status_out (if given) gets the waitpid
 * status and the exit is remembered (see server_ctl_describe_exit). */
gboolean server_ctl_alive(ServerCtl *s, int *status_out);
/* "exited with code 1" / "killed by signal 11 (Segmentation fault)"; g_free it. */
char *server_ctl_describe_status(int status);

int server_ctl_port(const ServerCtl *s);
pid_t server_ctl_pid(const ServerCtl *s);
const char *server_ctl_url(const ServerCtl *s);       /* nats://127.0.0.1:<port> */
const char *server_ctl_store_dir(const ServerCtl *s);
const char *server_ctl_log_path(const ServerCtl *s);
/* The last lines of the server log (for failure messages); g_free it. */
char *server_ctl_log_tail(const ServerCtl *s, int lines);
/* Why the last start failed (static buffer). */
const char *server_ctl_last_error(void);

/* A cluster of n nodes on loopback without JetStream: each gets -m <port>, --cluster, the same
 * --routes list naming every node, --cluster_name name, -n n<i>. kinds[i] picks each node's
 * server (NULL = MINIJET_TEST_SERVER's). TRUE once every node has n-1 routes (10 s bound). */
gboolean server_ctl_start_cluster(ServerCtl **out, int n, const char *const *kinds, const char *name);
/* Wait until every running node has a route to every other running node. */
gboolean server_ctl_wait_mesh(ServerCtl **nodes, int n, int timeout_ms);
int server_ctl_cluster_port(const ServerCtl *s);
/* GET a monitor endpoint of a cluster node; the body or NULL. g_free it. */
char *server_ctl_monitor_get(const ServerCtl *s, const char *path);
/* kill -9 (no goodbye). Returns the waitpid status. */
int server_ctl_kill(ServerCtl *s);

/* Kill every started server and abort the process after `seconds` (0 = cancel): a safety net
 * against a hung test. */
void server_ctl_watchdog(unsigned seconds);

/* g_test_init with --keep-going added: a failed test does not stop the suite. */
void server_ctl_test_init(int *argc, char ***argv);

/* Helpers shared by the suites. */
gint64 server_ctl_now_ms(void);   /* monotonic milliseconds */
void server_ctl_sleep_ms(int ms);

/* Mark the current GLib test failed (with the exit status and log tail) if the server is no
 * longer running. Returns TRUE when alive. */
gboolean server_ctl_expect_alive(ServerCtl *s);

/* Test-case checks that do not abort the process: on failure the current test is marked failed
 * (g_test_fail_printf, reported in the TAP output) and control jumps to the test's `done:` label,
 * where it cleans up. Every test function using them has a `done:` label. The remaining tests
 * of the suite still run, so one run reports every failure. */
#define IOP_CHECK(cond, ...)                                                                   \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            char *iop_m_ = g_strdup_printf(__VA_ARGS__);                                       \
            g_test_fail_printf("%s:%d: `%s` failed: %s", __FILE__, __LINE__, #cond, iop_m_);   \
            g_free(iop_m_);                                                                    \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)
#define IOP_FAIL(...) IOP_CHECK(0, __VA_ARGS__)

#endif
