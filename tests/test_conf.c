/* test_conf.c — the config parser (src/conf.c): every separator, comment and suffix form,
 * blocks and lists, the seed document's cluster/jetstream example, and one-line errors. */
#include <glib.h>
#include <string.h>

#include "conf.h"

typedef struct {
    ConfSettings s;
    GPtrArray *warnings;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data) {
    conf_settings_init(&f->s);
    f->warnings = NULL;
}

static void fx_teardown(Fixture *f, gconstpointer data) {
    conf_settings_clear(&f->s);
    if (f->warnings) g_ptr_array_free(f->warnings, TRUE);
}

static void parse_ok(Fixture *f, const char *text) {
    g_autoptr(GError) err = NULL;
    gboolean ok = conf_parse(&f->s, text, "t.conf", &f->warnings, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
}

static char *parse_err(const char *text) {
    ConfSettings s;
    conf_settings_init(&s);
    GError *err = NULL;
    g_assert_false(conf_parse(&s, text, "t.conf", NULL, &err));
    g_assert_nonnull(err);
    char *msg = g_strdup(err->message);
    g_error_free(err);
    conf_settings_clear(&s);
    g_assert_null(strchr(msg, '\n')); /* one line */
    return msg;
}

static void test_separators(Fixture *f, gconstpointer data) {
    parse_ok(f, "port: 4333\nhost = 0.0.0.0\nserver_name   n1\n");
    g_assert_cmpint(f->s.port, ==, 4333);
    g_assert_cmpstr(f->s.host, ==, "0.0.0.0");
    g_assert_cmpstr(f->s.server_name, ==, "n1");
}

static void test_comments(Fixture *f, gconstpointer data) {
    parse_ok(f, "# top\n// also\nport: 1 # trailing\nport: 2 // trailing\n\n  # indented\n");
    g_assert_cmpint(f->s.port, ==, 2); /* later keys win */
}

static void test_listen(Fixture *f, gconstpointer data) {
    parse_ok(f, "listen: 127.0.0.1:4555\n");
    g_assert_cmpstr(f->s.host, ==, "127.0.0.1");
    g_assert_cmpint(f->s.port, ==, 4555);
    parse_ok(f, "listen = \":4666\"\n");
    g_assert_cmpstr(f->s.host, ==, "127.0.0.1"); /* no host part: host unchanged */
    g_assert_cmpint(f->s.port, ==, 4666);
    parse_ok(f, "listen: \"[::1]:4777\"\n");
    g_assert_cmpstr(f->s.host, ==, "::1");
}

static void test_sizes(Fixture *f, gconstpointer data) {
    int64_t n;
    g_assert_true(conf_parse_size("1K", &n));
    g_assert_cmpint(n, ==, 1000);
    g_assert_true(conf_parse_size("1KB", &n));
    g_assert_cmpint(n, ==, 1024);
    g_assert_true(conf_parse_size("2mb", &n));
    g_assert_cmpint(n, ==, 2 * 1024 * 1024);
    g_assert_true(conf_parse_size("1G", &n));
    g_assert_cmpint(n, ==, 1000000000);
    g_assert_true(conf_parse_size("1TB", &n));
    g_assert_cmpint(n, ==, 1LL << 40);
    g_assert_false(conf_parse_size("12XB", &n));
    g_assert_false(conf_parse_size("99999999999999999999", &n));
    g_assert_false(conf_parse_size("9000000000000000TB", &n));
    parse_ok(f, "max_payload: 1MB\nmax_connections: 100\nmax_pending = \"64MB\"\n");
    g_assert_cmpint(f->s.max_payload_bytes, ==, 1024 * 1024);
    g_assert_cmpint(f->s.max_connections, ==, 100);
    g_assert_cmpint(f->s.max_pending_bytes, ==, 64 * 1024 * 1024);
}

static void test_jetstream_block(Fixture *f, gconstpointer data) {
    parse_ok(f, "jetstream {\n  store_dir: \"./data\"\n  max_mem: 1G, max_file: 10G\n}\n");
    g_assert_cmpint(f->s.jetstream, ==, 1);
    g_assert_cmpstr(f->s.store_dir, ==, "./data");
    g_assert_cmpint(f->s.js_max_mem_bytes, ==, 1000000000LL);
    g_assert_cmpint(f->s.js_max_file_bytes, ==, 10000000000LL);
}

/* jetstream { domain }: nats-server 2.9.10's refusals, word for word after the position. */
static void test_jetstream_domain(Fixture *f, gconstpointer data) {
    parse_ok(f, "jetstream { domain: prod }\n");
    g_assert_cmpstr(f->s.js_domain, ==, "prod");
    parse_ok(f, "jetstream { domain: \"\" }\n");
    g_assert_null(f->s.js_domain); /* empty: no domain, as nats-server */
    g_autofree char *dot = parse_err("jetstream {\n domain: \"a.b\"\n}\n");
    g_assert_true(g_str_has_suffix(dot, ":2: invalid domain name: may not contain ., * or >"));
    g_autofree char *star = parse_err("jetstream { domain: \"a*\" }\n");
    g_assert_true(g_str_has_suffix(star, "invalid domain name: may not contain ., * or >"));
    g_autofree char *space = parse_err("jetstream { domain: \"a b\" }\n");
    g_assert_true(g_str_has_suffix(space, "invalid domain name: derived \"$JS.a b.API.>\" is not a valid subject"));
}

static void test_jetstream_words(Fixture *f, gconstpointer data) {
    parse_ok(f, "jetstream: enabled\n");
    g_assert_cmpint(f->s.jetstream, ==, 1);
    parse_ok(f, "jetstream = disabled\n");
    g_assert_cmpint(f->s.jetstream, ==, 0);
    parse_ok(f, "jetstream: { enabled: false, store_dir: /tmp/js }\n");
    g_assert_cmpint(f->s.jetstream, ==, 0);
    g_assert_cmpstr(f->s.store_dir, ==, "/tmp/js");
}

/* The seed document's production example, verbatim in shape. */
#define SEED_CLUSTER_CONF(replica_line)                                                        \
    "# nats-cluster.conf - Production clustering\n"                                            \
    "cluster {\n"                                                                             \
    "name: \"nats-cluster\"\n"                                                                \
    "listen: 0.0.0.0:6222\n"                                                                  \
    "routes: [\n"                                                                             \
    "\"nats://nats-1.internal:6222\",\n"                                                      \
    "\"nats://nats-2.internal:6222\",\n"                                                      \
    "\"nats://nats-3.internal:6222\",\n"                                                      \
    "]\n"                                                                                     \
    "}\n"                                                                                     \
    "jetstream {\n"                                                                           \
    "domain: \"prod\"\n"                                                                      \
    "store_dir: \"/data/jetstream\"\n"                                                        \
    "max_memory_store: 128GB\n"                                                               \
    "max_file_store: 1TB\n"                                                                   \
    "# Replication for durability\n" replica_line                                            \
    "max_outstanding_catchup: 33MB\n"                                                         \
    "}\n"                                                                                     \
    "# Monitor all streams\n"                                                                 \
    "monitor_port: 8222\n"

/* The seed document's production example as written: nats-server 2.9.10 refuses it
 * (`nats-cluster.conf:16:1: unknown field "replica_count"`, spec nats-cluster.md 1). */
static void test_seed_cluster_as_written(Fixture *f, gconstpointer data) {
    g_autofree char *msg = parse_err(SEED_CLUSTER_CONF("replica_count: 3\n"));
    g_assert_cmpstr(msg, ==, "t.conf:17:1: unknown field \"replica_count\"");
    g_autofree char *indented = parse_err("jetstream {\n  store_dir: x\n  replica_count: 3\n}\n");
    g_assert_cmpstr(indented, ==, "t.conf:3:3: unknown field \"replica_count\"");
}

/* ... and with replica_count removed, every line is read as nats-server reads it. */
static void test_seed_cluster(Fixture *f, gconstpointer data) {
    parse_ok(f, SEED_CLUSTER_CONF(""));
    g_assert_true(f->s.cluster_block == 1);
    g_assert_cmpstr(f->s.cluster_name, ==, "nats-cluster");
    g_assert_cmpstr(f->s.cluster_host, ==, "0.0.0.0");
    g_assert_cmpint(f->s.cluster_port, ==, 6222);
    g_assert_cmpint(g_strv_length(f->s.cluster_routes), ==, 3);
    g_assert_cmpstr(f->s.cluster_routes[2], ==, "nats://nats-3.internal:6222");
    g_assert_cmpint(f->s.jetstream, ==, 1);
    g_assert_cmpstr(f->s.js_domain, ==, "prod");
    g_assert_cmpstr(f->s.store_dir, ==, "/data/jetstream");
    g_assert_cmpint(f->s.js_max_mem_bytes, ==, 128LL << 30);
    g_assert_cmpint(f->s.js_max_file_bytes, ==, 1LL << 40);
    g_assert_cmpint(f->s.http_port, ==, 8222);
    /* max_outstanding_catchup: accepted by nats-server; minijet keeps it as a warning */
    g_assert_nonnull(f->warnings);
    g_assert_cmpint(f->warnings->len, ==, 1);
    g_assert_cmpstr(f->warnings->pdata[0], ==, "t.conf:17: unknown field jetstream.max_outstanding_catchup");
}

static void test_bare_routes_and_http(Fixture *f, gconstpointer data) {
    parse_ok(f, "cluster {\n routes = [\n  nats://a:6222\n  nats://b:6222 // second\n ]\n}\n"
                "http: 127.0.0.1:8333\n");
    g_assert_cmpint(g_strv_length(f->s.cluster_routes), ==, 2);
    g_assert_cmpstr(f->s.cluster_routes[1], ==, "nats://b:6222");
    g_assert_cmpstr(f->s.http_host, ==, "127.0.0.1");
    g_assert_cmpint(f->s.http_port, ==, 8333);
}

static void test_durations(Fixture *f, gconstpointer data) {
    parse_ok(f, "ping_interval: 2m\n");
    g_assert_cmpint(f->s.ping_interval_ns, ==, 120LL * 1000000000LL);
    parse_ok(f, "ping_interval: \"30s\"\n");
    g_assert_cmpint(f->s.ping_interval_ns, ==, 30LL * 1000000000LL);
    parse_ok(f, "ping_interval: 5\nping_max: 3\n");
    g_assert_cmpint(f->s.ping_interval_ns, ==, 5LL * 1000000000LL);
    g_assert_cmpint(f->s.ping_max, ==, 3);
}

static void test_errors(void) {
    struct { const char *text, *want; } cases[] = {
        {"port: 1\nport: \"abc\"\n", "t.conf:2: 'port' must be a number"},
        {"port: 70000\n", "t.conf:1: 'port' is 70000, outside -1..65535"},
        {"jetstream {\n store_dir: x\n", "t.conf:1: block opened here is never closed with '}'"},
        {"a: [1, 2\n", "t.conf:1: list opened here is never closed with ']'"},
        {"\n\nserver_name: \"oops\n", "t.conf:3: unterminated string"},
        {"port\n", "t.conf:1: key 'port' has no value"},
        {"}\n", "t.conf:1: unexpected '}'"},
        {"port: 1 2\n", "t.conf:1: unexpected text after the value of 'port'"},
        {"max_payload: 12XB\n", "t.conf:1: 'max_payload' must be a number"},
        {"cluster: 5\n", "t.conf:1: 'cluster' must be a block"},
        {"ping_interval: soon\n", "t.conf:1: 'ping_interval' must be a duration like \"2m\""},
        {"port: 1\ntls {\n cert_file: a\n}\n",
         "t.conf:2: tls: TLS is not supported by minijet; refusing to start without it (see the README, \"Security\")"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *msg = parse_err(cases[i].text);
        g_assert_cmpstr(msg, ==, cases[i].want);
    }
}

/* A key nats-server 2.9.10 does not know is refused with its words, at the top level and in
 * cluster {} (checked live: `nats-server -c` exits 1 with `file:line:col: unknown field "k"`);
 * a key it knows that minijet does not use is a warning; route security minijet cannot honour
 * is refused as unsupported. */
static void test_unknown_fields(Fixture *f, gconstpointer data) {
    static const struct { const char *text, *want; } refused[] = {
        {"port: 1\nfoo_bar: 1\n", "t.conf:2:1: unknown field \"foo_bar\""},
        {"cluster {\n  name: x\n  listen: 127.0.0.1:6222\n  bogus: 3\n}\n", "t.conf:4:3: unknown field \"bogus\""},
        {"  replica_count: 3\n", "t.conf:1:3: unknown field \"replica_count\""},
        {"cluster {\n authorization {\n  user: a\n }\n}\n",
         "t.conf:2: cluster.authorization: route authorization is not supported by minijet; refusing to start "
         "without it (see the README, \"Security\")"},
        {"cluster {\n tls {\n  cert_file: a\n }\n}\n",
         "t.conf:2: cluster.tls: TLS is not supported by minijet; refusing to start without it (see the README, "
         "\"Security\")"},
        {"cluster {\n no_advertise: maybe\n}\n", "t.conf:2: 'no_advertise' must be true or false"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autofree char *msg = parse_err(refused[i].text);
        g_assert_cmpstr(msg, ==, refused[i].want);
    }
    parse_ok(f, "LogTime: true\nlame_duck_duration: 30s\nstoredir: /tmp/s\nclient_advertise: \"10.0.0.1:4000\"\n"
                "cluster {\n  net: 127.0.0.1\n  port: 6222\n  connect_retries: 3\n  no_advertise: true\n}\n");
    g_assert_cmpstr(f->s.store_dir, ==, "/tmp/s");
    g_assert_cmpstr(f->s.client_advertise, ==, "10.0.0.1:4000");
    g_assert_cmpstr(f->s.cluster_host, ==, "127.0.0.1");
    g_assert_cmpint(f->s.cluster_no_advertise, ==, 1);
    g_assert_cmpint(f->warnings->len, ==, 3);
    g_assert_cmpstr(f->warnings->pdata[0], ==, "t.conf:1: unknown field logtime");
    g_assert_cmpstr(f->warnings->pdata[2], ==, "t.conf:8: unknown field cluster.connect_retries");
}

/* authorization {}: parsed into f->s.auth, never an ignored "unknown field" (issue 17);
 * the details of users and permissions are tests/test_auth.c's. */
static void test_authorization(Fixture *f, gconstpointer data) {
    parse_ok(f, "authorization {\n"
                "  timeout: 3\n"
                "  users = [\n"
                "    {user: a, password: \"$2a$11$abc\", permissions: {publish: \"x.>\", subscribe: [\"y\", \"z q\"]}}\n"
                "    {username: b, pass: pw}\n"
                "  ]\n"
                "}\n"
                "no_auth_user: b\n");
    g_assert_true(f->warnings == NULL || f->warnings->len == 0); /* nothing "ignored" */
    AuthConfig *a = f->s.auth;
    g_assert_nonnull(a);
    g_assert_cmpint(a->timeout_ns, ==, 3000000000LL);
    g_assert_cmpuint(a->users->len, ==, 2);
    AuthUser *u = a->users->pdata[0];
    g_assert_cmpstr(u->name, ==, "a");
    g_assert_cmpstr(u->password, ==, "$2a$11$abc");
    g_assert_cmpuint(u->perms->publish.allow->len, ==, 1);
    g_assert_null(u->perms->publish.deny);
    g_assert_cmpstr(u->perms->subscribe.allow->pdata[1], ==, "z q");
    g_assert_null(((AuthUser *)a->users->pdata[1])->perms);
    g_assert_cmpstr(a->no_auth_user, ==, "b");
    parse_ok(f, "authorization { token: s3cret }");
    g_assert_cmpstr(f->s.auth->token, ==, "s3cret");
}

static void test_empty(Fixture *f, gconstpointer data) {
    parse_ok(f, "");
    parse_ok(f, "\n# only a comment\n");
    g_assert_cmpint(f->s.port, ==, CONF_NOT_SET);
    g_assert_null(f->s.host);
    g_assert_cmpint(f->s.jetstream, ==, CONF_NOT_SET);
    g_assert_cmpint(f->s.debug, ==, CONF_NOT_SET);
    g_assert_null(f->s.cluster_routes);
    parse_ok(f, "port: -1\nhttp_port: -1"); /* -1 is "any port", a value like any other */
    g_assert_cmpint(f->s.port, ==, -1);
    g_assert_cmpint(f->s.http_port, ==, -1);
}

/* Parse a command line (argv[0] added) into s; the result code. */
static ConfFlagsResult flags(ConfSettings *s, char **msg, const char *line) {
    g_auto(GStrv) words = g_strsplit(line, " ", -1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, "minijet-server");
    for (char **w = words; *w; w++)
        if (**w) g_ptr_array_add(argv, *w);
    GError *err = NULL;
    ConfFlagsResult r = conf_parse_flags(s, (int)argv->len, (char **)argv->pdata, &err);
    g_assert_true((r == CONF_FLAGS_ERROR) == (err != NULL));
    if (msg) *msg = err ? g_strdup(err->message) : NULL;
    if (err) g_error_free(err);
    return r;
}

static void test_flags(void) {
    ConfSettings s;
    conf_settings_init(&s);
    /* one or two dashes, the value next or after '=' */
    g_assert_cmpint(flags(&s, NULL, "-a 0.0.0.0 --port=4333 -js --sd /tmp/d -m -1 -n n1 -D"), ==,
                    CONF_FLAGS_RUN);
    g_assert_cmpstr(s.host, ==, "0.0.0.0");
    g_assert_cmpint(s.port, ==, 4333);
    g_assert_cmpint(s.jetstream, ==, 1);
    g_assert_cmpstr(s.store_dir, ==, "/tmp/d");
    g_assert_cmpint(s.http_port, ==, -1);
    g_assert_cmpstr(s.server_name, ==, "n1");
    g_assert_cmpint(s.debug, ==, 1);
    g_assert_cmpint(s.max_payload_bytes, ==, CONF_NOT_SET); /* untouched */
    g_assert_cmpint(flags(&s, NULL, "--sync_interval 2m -js=false -c x.conf"), ==, CONF_FLAGS_RUN);
    g_assert_cmpint(s.js_sync_interval_ns, ==, 120000000000LL);
    g_assert_cmpint(s.jetstream, ==, 0);
    g_assert_cmpstr(s.config_file, ==, "x.conf");
    g_assert_cmpint(flags(&s, NULL, "-p 1 --help -p bad"), ==, CONF_FLAGS_HELP);
    g_assert_cmpint(flags(&s, NULL, "-v"), ==, CONF_FLAGS_VERSION);
    g_assert_cmpint(flags(&s, NULL, "--no_advertise --client_advertise 10.0.0.1"), ==, CONF_FLAGS_RUN);
    g_assert_cmpint(s.cluster_no_advertise, ==, 1);
    g_assert_cmpstr(s.client_advertise, ==, "10.0.0.1");
    conf_settings_clear(&s);

    static const struct { const char *line, *want; } errors[] = {
        {"-x", "flag provided but not defined: -x (see --help)"},
        {"--cluster_nope=1", "flag provided but not defined: -cluster_nope (see --help)"},
        {"-p", "flag needs an argument: -p"},
        {"-p 70000", "invalid value \"70000\" for flag -p: a port is 0..65535 (or -1 for any)"},
        {"--sync_interval sometimes",
         "invalid --sync_interval \"sometimes\": want always, never or a duration like 2m"},
        {"-js=maybe", "invalid boolean value \"maybe\" for -js"},
        {"4222", "unexpected argument \"4222\" (see --help)"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(errors); i++) {
        g_autofree char *msg = NULL;
        conf_settings_init(&s);
        g_assert_cmpint(flags(&s, &msg, errors[i].line), ==, CONF_FLAGS_ERROR);
        g_assert_cmpstr(msg, ==, errors[i].want);
        conf_settings_clear(&s);
    }
}

/* Flags override the file; what neither sets stays "not set" (main.c keeps the default). */
static void test_merge(void) {
    ConfSettings file, fl;
    conf_settings_init(&file);
    conf_settings_init(&fl);
    g_autoptr(GError) err = NULL;
    g_assert_true(conf_parse(&file, "port: 4000\nhost: 10.0.0.1\ndebug: true\n"
                                    "jetstream { store_dir: /f, max_mem: 1G }\n"
                                    "cluster { routes: [nats://a:6222] }", "t.conf", NULL, &err));
    g_assert_cmpint(flags(&fl, NULL, "-p -1 --store_dir /flag"), ==, CONF_FLAGS_RUN);
    conf_merge(&file, &fl);
    g_assert_cmpint(file.port, ==, -1);                  /* the flag wins, even with -1 */
    g_assert_cmpstr(file.store_dir, ==, "/flag");
    g_assert_cmpstr(file.host, ==, "10.0.0.1");          /* the file's, no flag given */
    g_assert_cmpint(file.debug, ==, 1);
    g_assert_cmpint(file.jetstream, ==, 1);
    g_assert_cmpint(file.js_max_mem_bytes, ==, 1000000000LL);
    g_assert_cmpstr(file.cluster_routes[0], ==, "nats://a:6222");
    g_assert_cmpint(file.max_payload_bytes, ==, CONF_NOT_SET); /* neither: the default stays */
    g_assert_null(file.server_name);
    conf_settings_clear(&fl);
    conf_settings_clear(&file);
}

/* --help is generated from the flag table: every flag appears, help text at one column. */
static void test_usage(void) {
    g_autofree char *u = conf_flags_usage();
    g_assert_true(g_str_has_prefix(u, "Usage: minijet-server [options]\n"));
    g_assert_nonnull(strstr(u, "\n    -a, --addr, --net <host>         Bind to host address"));
    g_assert_nonnull(strstr(u, "\n    -js, --jetstream                 Enable JetStream"));
    g_assert_nonnull(strstr(u, "\n    --sync_interval <when>           JetStream fsync policy"));
    g_assert_nonnull(strstr(u, "\n    -V, --trace, -DV, -VV, -DVV      Accepted"));
    g_assert_nonnull(strstr(u, "\nJetStream Options:\n"));
}

static void test_sync_interval(void) {
    ConfSettings s;
    conf_settings_init(&s);
    g_autoptr(GError) err = NULL;
    g_assert_true(conf_parse(&s, "jetstream { sync_interval: always }", "t.conf", NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(s.js_sync_interval_ns, ==, 0);
    g_assert_true(conf_parse(&s, "jetstream { sync_interval: \"2m\" }", "t.conf", NULL, &err));
    g_assert_cmpint(s.js_sync_interval_ns, ==, 120000000000LL);
    g_assert_true(conf_parse(&s, "jetstream { sync_interval: never }", "t.conf", NULL, &err));
    g_assert_cmpint(s.js_sync_interval_ns, ==, -1);
    int64_t ns = 0;
    g_assert_true(conf_parse_sync_interval("500ms", &ns));
    g_assert_cmpint(ns, ==, 500000000LL);
    g_assert_false(conf_parse_sync_interval("sometimes", &ns));
    g_assert_false(conf_parse_sync_interval("-2m", &ns));
    conf_settings_clear(&s);
}

static const char *fake_env(const char *name) {
    if (strcmp(name, "MJ_TEST_PORT") == 0) return "4999";
    if (strcmp(name, "MJ_TEST_DIR") == 0) return "/tmp/fromenv";
    return NULL;
}

/* $VAR as nats-server: an earlier key of this block or an enclosing one (innermost first),
 * else the environment parsed as a value; a used key is no "unknown field"; a bare bcrypt
 * hash is a string; an unknown name is an error naming it. */
static void test_variables(Fixture *f, gconstpointer data) {
    g_autoptr(GError) err = NULL;
    gboolean ok = conf_parse_env(&f->s,
                                 "foo = 4222\nport: $foo\nlimit = 1MB\nmax_payload: $limit\n"
                                 "jetstream { limit = 2KB\n max_file_store: $limit\n max_mem: $LIMIT\n store_dir: $MJ_TEST_DIR }\n"
                                 "http_port: $MJ_TEST_PORT\n",
                                 "t.conf", fake_env, &f->warnings, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    g_assert_cmpint(f->s.port, ==, 4222);
    g_assert_cmpint(f->s.js_max_file_bytes, ==, 2048);   /* the inner block's own limit */
    g_assert_cmpint(f->s.js_max_mem_bytes, ==, 2048);
    g_assert_cmpstr(f->s.store_dir, ==, "/tmp/fromenv");
    g_assert_cmpint(f->s.http_port, ==, 4999);          /* "4999" from the environment is a number */
    for (guint i = 0; f->warnings != NULL && i < f->warnings->len; i++) /* foo and limit were used */
        g_assert_null(strstr(f->warnings->pdata[i], "foo"));
    ConfSettings s;
    conf_settings_init(&s);
    GError *e2 = NULL;
    g_assert_false(conf_parse_env(&s, "port: $nope\n", "t.conf", fake_env, NULL, &e2));
    g_assert_cmpstr(e2->message, ==, "t.conf:1: variable reference for 'nope' on line 1 can not be found");
    g_error_free(e2);
    conf_settings_clear(&s);
    /* a variable used before it is defined is not found (nats-server reads in order) */
    g_autofree char *late = parse_err("port: $later\nlater = 1\n");
    g_assert_nonnull(strstr(late, "variable reference for 'later'"));
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/conf/variables", test_variables);
    ADD("/conf/separators", test_separators);
    ADD("/conf/comments", test_comments);
    ADD("/conf/listen", test_listen);
    ADD("/conf/sizes", test_sizes);
    ADD("/conf/jetstream-block", test_jetstream_block);
    ADD("/conf/jetstream-domain", test_jetstream_domain);
    ADD("/conf/jetstream-words", test_jetstream_words);
    ADD("/conf/seed-cluster", test_seed_cluster);
    ADD("/conf/seed-cluster-as-written", test_seed_cluster_as_written);
    ADD("/conf/bare-routes-and-http", test_bare_routes_and_http);
    ADD("/conf/durations", test_durations);
    ADD("/conf/empty", test_empty);
    ADD("/conf/authorization", test_authorization);
    g_test_add_func("/conf/errors", test_errors);
    ADD("/conf/unknown-fields", test_unknown_fields);
    g_test_add_func("/conf/sync_interval", test_sync_interval);
    g_test_add_func("/conf/flags", test_flags);
    g_test_add_func("/conf/merge", test_merge);
    g_test_add_func("/conf/usage", test_usage);
    return g_test_run();
}
