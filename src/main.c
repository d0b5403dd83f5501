/* main.c — the program build/minijet-server: flags, config file, startup, shutdown.
 *
 * WHAT IT DOES
 *   1. reads the flags (nats-server's names where they overlap: -a -p -js -sd -c -m -n -D);
 *   2. reads the config file, if any, with conf.c (flags override the file);
 *   3. builds a ServerConfig, creates the production world (env_real), listens, and hands
 *      the world to server_new, which installs the broker as the world's handlers;
 *   4. with -m / http_port, starts the HTTP monitor (monitor.c) on a second listener;
 *   5. runs the loop until SIGINT/SIGTERM, then frees the server and exits 0.
 *   Any error before the loop starts is one line on stderr and exit code 1.
 *
 * Flags are parsed the way Go's flag package (hence nats-server) reads them: one or two
 * dashes, and the value either as the next argument or after '='.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "env.h"
#include "env_real.h"
#include "limits.h"
#include "monitor.h"
#include "server.h"

#define MINIJET_VERSION "0.1.0"
#define NATS_COMPAT_VERSION "2.9.10"

static const char usage_text[] =
    "Usage: minijet-server [options]\n"
    "\n"
    "Server Options:\n"
    "    -a, --addr, --net <host>         Bind to host address (default: 127.0.0.1)\n"
    "    -p, --port <port>                Use port for clients (default: 4222, 0 or -1: any)\n"
    "    -n, --name, --server_name <name> Server name (default: minijet)\n"
    "    -m, --http_port <port>           HTTP port for monitoring (/varz /connz /subsz /jsz /healthz)\n"
    "    -c, --config <file>              Configuration file (nats-server format)\n"
    "\n"
    "JetStream Options:\n"
    "    -js, --jetstream                 Enable JetStream functionality\n"
    "    -sd, --store_dir <dir>           Set the storage directory\n"
    "        --sync_interval <when>       JetStream fsync policy: always (default: fsync before\n"
    "                                     the PubAck, group commit), never, or a duration like 2m\n"
    "                                     (ack at once, fsync every 2m: nats-server's default)\n"
    "\n"
    "Logging Options:\n"
    "    -D, --debug                      Enable debugging output\n"
    "    -V, --trace, -DV                 Accepted; minijet logs debug output for both\n"
    "\n"
    "Common Options:\n"
    "    -h, --help                       Show this message\n"
    "    -v, --version                    Show version\n";

/* What the command line said; NULL / -1 = not given. */
typedef struct Flags {
    const char *host, *server_name, *config_file, *store_dir, *sync_interval;
    int port, http_port;
    gboolean jetstream, debug;
} Flags;

static Env *g_env;                       /* for the signal handler */
static volatile sig_atomic_t g_signal;   /* which signal stopped us */

static void on_signal(int sig) {
    g_signal = sig;
    if (g_env) env_real_stop(g_env); /* an eventfd write: async-signal-safe */
}

static G_GNUC_NORETURN void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("minijet-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int parse_port(const char *flag, const char *text) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < -1 || v > 65535)
        die("invalid value \"%s\" for flag -%s: a port is 0..65535 (or -1 for any)", text, flag);
    return (int)v;
}

static void parse_flags(int argc, char **argv, Flags *f) {
    *f = (Flags){.port = -2, .http_port = -2}; /* -2 = not given (-1 means "any port") */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == 0) die("unexpected argument \"%s\" (see --help)", arg);
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        g_autofree char *key = NULL;
        const char *value = NULL, *eq = strchr(name, '=');
        key = eq ? g_strndup(name, (gsize)(eq - name)) : g_strdup(name);
        if (eq) value = eq + 1;
        gboolean takes_value = FALSE;
        const char *const valued[] = {"a", "addr", "net", "p", "port", "n", "name", "server_name",
                                      "m", "http_port", "c", "config", "sd", "store_dir",
                                      "sync_interval", NULL};
        for (int k = 0; valued[k]; k++) takes_value |= strcmp(key, valued[k]) == 0;
        if (takes_value && value == NULL) {
            if (i + 1 >= argc) die("flag needs an argument: -%s", key);
            value = argv[++i];
        }
        if (!strcmp(key, "h") || !strcmp(key, "help")) {
            fputs(usage_text, stdout);
            exit(0);
        } else if (!strcmp(key, "v") || !strcmp(key, "version")) {
            printf("minijet-server version " MINIJET_VERSION
                   " (NATS protocol compatible with nats-server " NATS_COMPAT_VERSION ")\n");
            exit(0);
        } else if (!strcmp(key, "a") || !strcmp(key, "addr") || !strcmp(key, "net")) {
            f->host = value;
        } else if (!strcmp(key, "p") || !strcmp(key, "port")) {
            f->port = parse_port(key, value);
        } else if (!strcmp(key, "n") || !strcmp(key, "name") || !strcmp(key, "server_name")) {
            f->server_name = value;
        } else if (!strcmp(key, "m") || !strcmp(key, "http_port")) {
            f->http_port = parse_port(key, value);
        } else if (!strcmp(key, "c") || !strcmp(key, "config")) {
            f->config_file = value;
        } else if (!strcmp(key, "sd") || !strcmp(key, "store_dir")) {
            f->store_dir = value;
        } else if (!strcmp(key, "sync_interval")) {
            f->sync_interval = value;
        } else if (!strcmp(key, "js") || !strcmp(key, "jetstream")) {
            f->jetstream = TRUE;
        } else if (!strcmp(key, "D") || !strcmp(key, "debug") || !strcmp(key, "V") ||
                   !strcmp(key, "trace") || !strcmp(key, "DV") || !strcmp(key, "VV") ||
                   !strcmp(key, "DVV")) {
            f->debug = TRUE;
        } else {
            die("flag provided but not defined: -%s (see --help)", key);
        }
    }
}

int main(int argc, char **argv) {
    Flags flags;
    parse_flags(argc, argv, &flags);

    /* --- the config file, then the flags over it --- */
    ConfSettings conf;
    conf_settings_init(&conf);
    g_autoptr(GPtrArray) warnings = NULL;
    if (flags.config_file) {
        g_autofree char *text = NULL;
        g_autoptr(GError) err = NULL;
        if (!g_file_get_contents(flags.config_file, &text, NULL, &err)) die("%s", err->message);
        if (!conf_parse(&conf, text, flags.config_file, &warnings, &err)) die("%s", err->message);
    }

    ServerConfig cfg;
    server_config_init(&cfg);
    if (conf.host) cfg.host = conf.host;
    if (conf.port != -1) cfg.port = conf.port;
    if (conf.server_name) cfg.server_name = conf.server_name;
    if (conf.jetstream != -1) cfg.jetstream = conf.jetstream == 1;
    if (conf.store_dir) cfg.store_dir = conf.store_dir;
    if (conf.max_payload_bytes != -1) cfg.max_payload_bytes = (size_t)conf.max_payload_bytes;
    if (conf.max_pending_bytes != -1) cfg.max_pending_bytes = (size_t)conf.max_pending_bytes;
    if (conf.max_control_line_bytes != -1)
        cfg.max_control_line_bytes = (size_t)conf.max_control_line_bytes;
    if (conf.max_connections != -1) cfg.max_connections = conf.max_connections;
    if (conf.max_subs != -1) cfg.max_subs_per_conn = conf.max_subs;
    if (conf.ping_interval_ns != -1) cfg.ping_interval_ns = conf.ping_interval_ns;
    if (conf.ping_max != -1) cfg.ping_max_outstanding = conf.ping_max;
    int http_port = conf.http_port;

    if (flags.host) cfg.host = flags.host;
    if (flags.port != -2) cfg.port = flags.port;
    if (flags.server_name) cfg.server_name = flags.server_name;
    if (flags.jetstream) cfg.jetstream = true;
    if (flags.store_dir) cfg.store_dir = flags.store_dir;
    if (conf.js_sync_interval_ns != CONF_NOT_SET) cfg.sync_interval_ns = conf.js_sync_interval_ns;
    if (flags.sync_interval && !conf_parse_sync_interval(flags.sync_interval, &cfg.sync_interval_ns))
        die("invalid --sync_interval \"%s\": want always, never or a duration like 2m",
            flags.sync_interval);
    if (flags.http_port != -2) http_port = flags.http_port;
    gboolean debug = flags.debug || conf.debug;

    if (cfg.max_payload_bytes > cfg.max_pending_bytes)
        die("%s: max_payload (%zu) cannot be higher than max_pending (%zu)",
            flags.config_file ? flags.config_file : "flags", cfg.max_payload_bytes,
            cfg.max_pending_bytes);

    /* --- the world --- */
    Env *env = env_real_new();
    env_real_set_debug(env, debug);
    env_log(env, ENV_LOG_INFO, "Starting minijet-server");
    env_log(env, ENV_LOG_INFO, "  Version:  " MINIJET_VERSION " (nats-server " NATS_COMPAT_VERSION
                               " compatible)");
    env_log(env, ENV_LOG_INFO, "  Name:     %s", cfg.server_name);
    if (flags.config_file) env_log(env, ENV_LOG_INFO, "Using configuration file: %s", flags.config_file);
    for (guint i = 0; warnings && i < warnings->len; i++)
        env_log(env, ENV_LOG_WARN, "%s (ignored)", (const char *)warnings->pdata[i]);
    if (conf.cluster_set)
        env_log(env, ENV_LOG_WARN, "Clustering is not yet supported: the cluster block (name %s, "
                                   "%u routes) is kept but ignored",
                conf.cluster_name ? conf.cluster_name : "unset",
                conf.cluster_routes ? g_strv_length(conf.cluster_routes) : 0);
    if (cfg.jetstream) {
        env_log(env, ENV_LOG_INFO, "Starting JetStream");
        env_log(env, ENV_LOG_INFO, "  Store Directory: \"%s\"", cfg.store_dir);
        if (cfg.sync_interval_ns == 0)
            env_log(env, ENV_LOG_INFO, "  Sync:            always (fsync before PubAck, group commit)");
        else if (cfg.sync_interval_ns < 0)
            env_log(env, ENV_LOG_WARN, "  Sync:            never (a power cut loses acknowledged messages)");
        else
            env_log(env, ENV_LOG_INFO, "  Sync:            every %.3gs (a power cut loses up to that much)",
                    (double)cfg.sync_interval_ns / 1e9);
        if (conf.js_max_mem_bytes != -1 || conf.js_max_file_bytes != -1)
            env_log(env, ENV_LOG_INFO, "  Max Memory: %" G_GINT64_FORMAT ", Max Storage: %" G_GINT64_FORMAT
                                       " (not enforced yet)",
                    conf.js_max_mem_bytes, conf.js_max_file_bytes);
    }

    g_autoptr(GError) err = NULL;
    int want_port = cfg.port < 0 ? 0 : cfg.port;
    if (!env_real_listen(env, cfg.host, want_port, &err)) {
        env_log(env, ENV_LOG_ERROR, "Error listening on port: %s", err->message);
        env_real_free(env);
        conf_settings_clear(&conf);
        return 1;
    }
    cfg.port = env_real_port(env); /* INFO must advertise the port we really got */

    Server *server = server_new(env, &cfg, &err);
    if (server == NULL) {
        env_log(env, ENV_LOG_ERROR, "Error starting server: %s", err ? err->message : "unknown");
        env_real_free(env);
        conf_settings_clear(&conf);
        return 1;
    }
    /* The monitor: a second listener whose connections go to monitor.c, not to the server.
     * nats-server logs this line before the client one; so do we. http_port -1 = any port. */
    Monitor *monitor = NULL;
    if (http_port != -1) {
        const char *http_host = conf.http_host ? conf.http_host : cfg.host; /* http: host:port */
        MonitorOptions mopts = {http_host, http_port, conf.js_max_mem_bytes, conf.js_max_file_bytes};
        monitor = monitor_new(env, server, &mopts);
        int bound = env_real_listen_handlers(env, http_host, http_port < 0 ? 0 : http_port,
                                             monitor_handlers(), monitor, &err);
        if (bound == 0) {
            env_log(env, ENV_LOG_ERROR, "Error listening on monitor port: %s", err->message);
            monitor_free(monitor);
            server_free(server);
            env_real_free(env);
            conf_settings_clear(&conf);
            return 1;
        }
        monitor_set_http_port(monitor, bound);
        env_log(env, ENV_LOG_INFO, "Starting http monitor on %s:%d", http_host, bound);
    }
    env_log(env, ENV_LOG_INFO, "Listening for client connections on %s:%d", cfg.host, cfg.port);
    env_log(env, ENV_LOG_INFO, "Server is ready");

    g_env = env;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    env_real_run(env);

    if (g_signal)
        env_log(env, ENV_LOG_DEBUG, "Trapped \"%s\" signal",
                g_signal == SIGINT ? "interrupt" : "terminated");
    env_log(env, ENV_LOG_INFO, "Initiating Shutdown...");
    monitor_free(monitor);
    server_free(server);
    env_log(env, ENV_LOG_INFO, "Server Exiting..");
    g_env = NULL;
    env_real_free(env);
    conf_settings_clear(&conf);
    return 0;
}
