/* main.c — the program build/minijet-server: settings, startup, shutdown.
 *
 * WHAT IT DOES
 *   1. reads the settings (conf.c): the flags (nats-server's names where they overlap:
 *      -a -p -js -sd -c -m -n -D) and the config file named by -c, into two ConfSettings,
 *      then one merge: flags override the file, the file overrides the defaults
 *      (server_config_init); "not set" is CONF_NOT_SET / NULL everywhere (conf.h);
 *   2. builds the ServerConfig and JetStreamConfig from them, creates the production world
 *      (env_real), binds the client port (no listen yet), and composes the broker layer on
 *      layer: server_new (which installs itself as the world's handlers), then with -js
 *      jetstream_new on that server and the $JS.API endpoint rows;
 *   3. with -m / http_port, starts the HTTP monitor (monitor.c) on a second listener, before
 *      JetStream restores (nats-server's order: /healthz answers 503 meanwhile); the streams
 *      are then restored from a timer (restore_tick), and finish_startup starts the cluster,
 *      opens the client port and logs "Server is ready";
 *   4. runs the loop until SIGINT/SIGTERM, then frees JetStream, the server, and exits 0.
 *   Any error before the loop starts is one line on stderr and exit code 1.
 *
 * A new option is a ConfSettings field and its rows in conf.c (the field table, the config
 * key, the flag), plus one line in config_from_settings() below.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "env.h"
#include "env_real.h"
#include "limits.h"
#include "consumer_api.h"
#include "jetstream.h"
#include "monitor.h"
#include "jscluster.h"
#include "route.h"
#include "server.h"
#include "stream_api.h"
#include "version.h"

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

/* The settings over the defaults: each setting the file or a flag gave replaces its default. */
/* "host" or "host:port" (port 1..65535; 0 when absent), as nats-server's client_advertise. */
static bool parse_advertise(const char *text, char **host, int *port) {
    const char *colon = strrchr(text, ':');
    *port = 0;
    if (colon != NULL) {
        char *end = NULL;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0' || p < 1 || p > 65535) return false;
        *port = (int)p;
    }
    size_t n = colon ? (size_t)(colon - text) : strlen(text);
    if (n == 0) return false;
    *host = g_strndup(text, n);
    return true;
}

static void config_from_settings(ServerConfig *cfg, JetStreamConfig *jcfg, const ConfSettings *s) {
    if (s->host) cfg->host = s->host;
    if (conf_is_set(s->port)) cfg->port = (int)s->port;
    if (s->server_name) cfg->server_name = s->server_name;
    if (s->store_dir) jcfg->store_dir = s->store_dir;
    if (conf_is_set(s->js_sync_interval_ns)) jcfg->sync_interval_ns = s->js_sync_interval_ns;
    jcfg->domain = s->js_domain;
    if (conf_is_set(s->max_payload_bytes)) cfg->max_payload_bytes = (size_t)s->max_payload_bytes;
    if (conf_is_set(s->max_pending_bytes)) cfg->max_pending_bytes = (size_t)s->max_pending_bytes;
    if (conf_is_set(s->max_control_line_bytes))
        cfg->max_control_line_bytes = (size_t)s->max_control_line_bytes;
    if (conf_is_set(s->max_connections)) cfg->max_connections = (int)s->max_connections;
    if (conf_is_set(s->max_subs)) cfg->max_subs_per_conn = (int)s->max_subs;
    if (conf_is_set(s->ping_interval_ns)) cfg->ping_interval_ns = s->ping_interval_ns;
    if (conf_is_set(s->ping_max)) cfg->ping_max_outstanding = (int)s->ping_max;
    cfg->auth = s->auth; /* NULL: no authorization; borrowed, lives as long as s */
}

/* What start-up builds after the loop has begun: JetStream's streams are restored from a
 * timer, a budget at a time, so the monitor answers between steps; then the cluster, the
 * client port and "Server is ready" (nats-server's order: monitor, JetStream, routes,
 * clients). A failure there stops the loop with exit code 1. */
typedef struct Startup {
    Env *env;
    const ServerConfig *cfg;
    const ClusterConfig *ccfg;
    bool clustered;
    const char *listen_host; /* where clients connect (cfg->host may be client_advertise's) */
    int listen_port;
    Server *server;
    JetStream *js;
    Monitor *monitor;
    Cluster *cluster;
    JsCluster *jscluster;
    int exit_code;
} Startup;

static void startup_failed(Startup *st, const char *what, const GError *err) {
    env_log(st->env, ENV_LOG_ERROR, "%s: %s", what, err != NULL ? err->message : "unknown");
    st->exit_code = 1;
    env_real_stop(st->env);
}

static void finish_startup(Startup *st) {
    Env *env = st->env;
    g_autoptr(GError) err = NULL;
    if (st->clustered) {
        st->cluster = cluster_new(st->server, st->ccfg, &err);
        if (st->cluster == NULL) return startup_failed(st, "Error starting cluster", err);
        if (st->monitor) monitor_set_cluster(st->monitor, st->cluster);
    }
    /* Clustered JetStream: the meta group is every server on the routes list (spec 1: list
     * them all, this one included). */
    if (st->clustered && st->js != NULL) {
        JsClusterConfig jcc = {.server_name = st->cfg->server_name, .cluster_name = cluster_name(st->cluster),
                               .size = (int)g_strv_length((char **)st->ccfg->routes)};
        st->jscluster = jscluster_new(st->server, st->js, &jcc, &err);
        if (st->jscluster == NULL) return startup_failed(st, "Error starting JetStream cluster", err);
        if (st->monitor) monitor_set_jscluster(st->monitor, st->jscluster);
        env_log(env, ENV_LOG_INFO, "JetStream cluster: %d servers, waiting for the meta group", jcc.size);
    }
    if (!env_real_listen_start(env, &err)) return startup_failed(st, "Error listening on port", err);
    env_log(env, ENV_LOG_INFO, "Listening for client connections on %s:%d", st->listen_host, st->listen_port);
    if (st->monitor) monitor_set_not_ready(st->monitor, NULL);
    env_log(env, ENV_LOG_INFO, "Server is ready");
}

static void restore_tick(void *arg) {
    Startup *st = arg;
    if (!jetstream_restore_step(st->js, LIMIT_JS_RESTORE_STEP_NS)) {
        env_timer_add(st->env, 0, restore_tick, st); /* the monitor gets its turn first */
        return;
    }
    finish_startup(st);
}

int main(int argc, char **argv) {
    /* Big allocations always mapped on their own, so freeing one gives it back (limits.h). */
    mallopt(M_MMAP_THRESHOLD, LIMIT_MALLOC_MMAP_THRESHOLD_BYTES);
    /* --- the settings: defaults <- config file <- flags --- */
    ConfSettings conf, flags;
    conf_settings_init(&conf);
    conf_settings_init(&flags);
    g_autoptr(GPtrArray) warnings = NULL;
    {
        g_autoptr(GError) err = NULL;
        switch (conf_parse_flags(&flags, argc, argv, &err)) {
        case CONF_FLAGS_ERROR: die("%s", err->message);
        case CONF_FLAGS_HELP: {
            g_autofree char *usage = conf_flags_usage();
            fputs(usage, stdout);
            return 0;
        }
        case CONF_FLAGS_VERSION:
            printf("minijet-server version " MINIJET_VERSION
                   " (NATS protocol compatible with nats-server " MINIJET_NATS_VERSION ")\n");
            return 0;
        case CONF_FLAGS_RUN: break;
        }
        if (flags.config_file) {
            g_autofree char *text = NULL;
            if (!g_file_get_contents(flags.config_file, &text, NULL, &err)) die("%s", err->message);
            if (!conf_parse_env(&conf, text, flags.config_file, g_getenv, &warnings, &err))
                die("%s", err->message);
        }
        conf_merge(&conf, &flags); /* flags override the file */
        conf_settings_clear(&flags);
    }
    {
        g_autoptr(GError) err = NULL;
        if (!auth_config_validate(conf.auth, &err))
            die("%s: %s", conf.config_file ? conf.config_file : "flags", err->message);
    }
    ServerConfig cfg;
    JetStreamConfig jcfg;
    server_config_init(&cfg);                 /* the defaults */
    jetstream_config_init(&jcfg);
    config_from_settings(&cfg, &jcfg, &conf); /* the file and the flags over them */
    bool jetstream = conf.jetstream == 1;
    gboolean debug = conf.debug == 1;
    /* JetStream's account limits (jetstream.c, ACCOUNT LIMITS); -1 = none given */
    if (conf_is_set(conf.js_max_mem_bytes)) jcfg.max_memory_bytes = conf.js_max_mem_bytes;
    if (conf_is_set(conf.js_max_file_bytes)) jcfg.max_storage_bytes = conf.js_max_file_bytes;

    /* client_advertise "host[:port]": checked now, applied once the real port is known */
    g_autofree char *adv_host = NULL;
    int adv_port = 0;
    if (conf.client_advertise != NULL && !parse_advertise(conf.client_advertise, &adv_host, &adv_port))
        die("Error setting server INFO with ClientAdvertise value of %s, err=want host[:port]", conf.client_advertise);

    /* --- the cluster: cluster { name listen routes } / --cluster --routes --cluster_name --- */
    ClusterConfig ccfg;
    cluster_config_init(&ccfg);
    /* as nats-server: cluster port 0 = no cluster, -1 = any free port */
    bool clustered = conf_is_set(conf.cluster_port) && conf.cluster_port != 0;
    if (conf.cluster_host) ccfg.host = conf.cluster_host;
    ccfg.name = conf.cluster_name;
    ccfg.routes = (const char *const *)conf.cluster_routes;
    ccfg.port = clustered && conf.cluster_port > 0 ? (int)conf.cluster_port : 0;
    ccfg.ping_interval_ns = cfg.ping_interval_ns;
    ccfg.ping_max_outstanding = cfg.ping_max_outstanding;
    ccfg.no_advertise = conf.cluster_no_advertise == 1;
    bool have_routes = ccfg.routes != NULL && ccfg.routes[0] != NULL;
    if (!clustered && have_routes)
        die("routes are configured but no cluster port: add --cluster nats://host:port or cluster { listen }");
    if (clustered && jetstream) { /* nats-server's start-up checks (spec 1) */
        if (conf.server_name == NULL) die("jetstream cluster requires `server_name` to be set");
        if (!have_routes)
            die("Can't start JetStream: JetStream cluster requires configured routes or solicited "
                "leafnode for the system account");
    }

    if (cfg.max_payload_bytes > cfg.max_pending_bytes)
        die("%s: max_payload (%zu) cannot be higher than max_pending (%zu)",
            conf.config_file ? conf.config_file : "flags", cfg.max_payload_bytes,
            cfg.max_pending_bytes);

    /* --- the world --- */
    Env *env = env_real_new();
    env_real_set_debug(env, debug);
    env_log(env, ENV_LOG_INFO, "Starting minijet-server");
    env_log(env, ENV_LOG_INFO, "  Version:  " MINIJET_VERSION " (nats-server " MINIJET_NATS_VERSION
                               " compatible)");
    env_log(env, ENV_LOG_INFO, "  Name:     %s", cfg.server_name);
    if (conf.config_file) env_log(env, ENV_LOG_INFO, "Using configuration file: %s", conf.config_file);
    if (auth_config_has_plain_secret(cfg.auth))
        env_log(env, ENV_LOG_WARN, "Plaintext passwords detected, use bcrypt");
    for (guint i = 0; warnings && i < warnings->len; i++)
        env_log(env, ENV_LOG_WARN, "%s (ignored)", (const char *)warnings->pdata[i]);
    if (jetstream) {
        env_log(env, ENV_LOG_INFO, "Starting JetStream");
        env_log(env, ENV_LOG_INFO, "  Store Directory: \"%s\"", jcfg.store_dir);
        if (jcfg.sync_interval_ns == 0)
            env_log(env, ENV_LOG_INFO, "  Sync:            always (fsync before PubAck, group commit)");
        else if (jcfg.sync_interval_ns < 0)
            env_log(env, ENV_LOG_WARN, "  Sync:            never (a power cut loses acknowledged messages)");
        else
            env_log(env, ENV_LOG_INFO, "  Sync:            every %.3gs (a power cut loses up to that much)",
                    (double)jcfg.sync_interval_ns / 1e9);
        if (jcfg.max_memory_bytes >= 0)
            env_log(env, ENV_LOG_INFO, "  Max Memory:      %" G_GINT64_FORMAT " bytes", jcfg.max_memory_bytes);
        if (jcfg.max_storage_bytes >= 0)
            env_log(env, ENV_LOG_INFO, "  Max Storage:     %" G_GINT64_FORMAT " bytes", jcfg.max_storage_bytes);
    }

    g_autoptr(GError) err = NULL;
    int want_port = cfg.port < 0 ? 0 : cfg.port;
    /* The client port is bound now (its number goes into INFO) but listens only once
     * JetStream is restored (finish_startup), as nats-server: until then connects are refused. */
    if (!env_real_bind(env, cfg.host, want_port, &err)) {
        env_log(env, ENV_LOG_ERROR, "Error listening on port: %s", err->message);
        env_real_free(env);
        conf_settings_clear(&conf);
        return 1;
    }
    cfg.port = env_real_port(env); /* INFO must advertise the port we really got */
    const char *listen_host = cfg.host;
    int listen_port = cfg.port;
    if (adv_host != NULL) { /* client_advertise: INFO and connect_urls name this instead */
        cfg.host = adv_host;
        if (adv_port > 0) cfg.port = adv_port;
    }

    /* --- the broker, layer on layer: the server, then JetStream on it (server.h, jetstream.h) */
    Startup st = {.env = env, .cfg = &cfg, .ccfg = &ccfg, .clustered = clustered, .listen_host = listen_host,
                  .listen_port = listen_port};
    Server *server = server_new(env, &cfg, &err);
    JetStream *js = NULL;
    jcfg.restore_later = true; /* restore_tick loads the streams, the monitor answering meanwhile */
    jcfg.clustered = clustered; /* every stream a replica of a Raft group (jscluster_new below) */
    if (server != NULL && jetstream && (js = jetstream_new(server, &jcfg, &err)) != NULL) {
        stream_api_register(js);   /* $JS.API.INFO, STREAM.*, DIRECT.GET */
        consumer_api_register(js); /* $JS.API.CONSUMER.* */
    }
    if (server == NULL || (jetstream && js == NULL)) {
        env_log(env, ENV_LOG_ERROR, "Error starting server: %s", err ? err->message : "unknown");
        server_free(server);
        env_real_free(env);
        conf_settings_clear(&conf);
        return 1;
    }
    st.server = server;
    st.js = js;
    /* The monitor: a second listener whose connections go to monitor.c, not to the server.
     * nats-server starts it before restoring JetStream, so that /healthz can say the server
     * is not ready yet; so do we. http_port -1 = any port. */
    if (conf_is_set(conf.http_port)) {
        int http_port = (int)conf.http_port;
        const char *http_host = conf.http_host ? conf.http_host : listen_host; /* http: host:port */
        MonitorOptions mopts = {http_host, http_port};
        st.monitor = monitor_new(env, server, js, &mopts);
        int bound = env_real_listen_handlers(env, http_host, http_port < 0 ? 0 : http_port,
                                             monitor_handlers(), st.monitor, &err);
        if (bound == 0) {
            env_log(env, ENV_LOG_ERROR, "Error listening on monitor port: %s", err->message);
            monitor_free(st.monitor);
            jetstream_free(js);
            server_free(server);
            env_real_free(env);
            conf_settings_clear(&conf);
            return 1;
        }
        monitor_set_http_port(st.monitor, bound);
        /* nats-server's readyForConnections error while its listeners are not open */
        monitor_set_not_ready(st.monitor, clustered ? "failed to be ready for connections after 1ms: server, route"
                                                    : "failed to be ready for connections after 1ms: server");
        env_log(env, ENV_LOG_INFO, "Starting http monitor on %s:%d", http_host, bound);
    }
    if (js != NULL)
        env_timer_add(env, 0, restore_tick, &st); /* then finish_startup */
    else
        finish_startup(&st);

    g_env = env;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    env_real_run(env);
    Monitor *monitor = st.monitor;
    Cluster *cluster = st.cluster;
    JsCluster *jscluster = st.jscluster;

    if (g_signal)
        env_log(env, ENV_LOG_DEBUG, "Trapped \"%s\" signal",
                g_signal == SIGINT ? "interrupt" : "terminated");
    env_log(env, ENV_LOG_INFO, "Initiating Shutdown...");
    monitor_free(monitor);
    jscluster_free(jscluster);
    cluster_free(cluster);
    jetstream_free(js); /* first: its last PubAcks still reach the clients' buffers */
    server_free(server);
    env_log(env, ENV_LOG_INFO, "Server Exiting..");
    g_env = NULL;
    env_real_free(env);
    conf_settings_clear(&conf);
    return st.exit_code;
}
