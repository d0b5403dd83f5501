/* test_auth.c — src/auth.c (the permission matcher, secrets, the CONNECT check, one
 * connection's permissions and response allowances) and the server's use of it, driven
 * through the unit-test world: manual time, in-memory clients, exact bytes. */
#include <string.h>

#include "auth.h"
#include "conf.h"
#include "limits.h"
#include "server.h"
#include "test_env.h"

/* Hashes of "admin-s3cret" (cost 6), the same as tests/interop/conf/auth-users.conf. */
#define HASH_2A "$2a$06$zwSjvwRTCkik4mSf2TJpQ.HnV0GGnkZwsWQQuNBpkreUOnjtVorpy"
#define HASH_2B "$2b$06$HsHmOtx.N1iWKqewQnFZiOPNG6sAEEK/K6M1y.JROdDAoX5TPeoy2"

static bool m(const char *pattern, const char *subject) {
    return auth_subject_matches(pattern, subject, strlen(subject));
}

static void test_matcher(void) {
    g_assert_true(m("foo", "foo"));
    g_assert_false(m("foo", "foo.bar"));
    g_assert_false(m("foo.bar", "foo"));
    g_assert_false(m("foo", "fo"));
    g_assert_false(m("fo", "foo"));
    g_assert_true(m("foo.*", "foo.bar"));
    g_assert_false(m("foo.*", "foo.bar.baz"));
    g_assert_false(m("foo.*", "foo"));
    g_assert_true(m("foo.>", "foo.bar"));
    g_assert_true(m("foo.>", "foo.bar.baz"));
    g_assert_false(m("foo.>", "foo"));
    g_assert_true(m(">", "a"));
    g_assert_true(m(">", "a.b.c"));
    g_assert_true(m("*.b.*", "a.b.c"));
    g_assert_false(m("*.b.*", "a.x.c"));
    g_assert_true(m("$JS.API.>", "$JS.API.STREAM.DELETE.X"));
    /* a subscription's own wildcards are plain tokens to the permission patterns */
    g_assert_true(m("foo.*", "foo.*"));
    g_assert_true(m("foo.>", "foo.*"));
    g_assert_false(m("foo.bar", "foo.*"));
    g_assert_false(m("foo.>", ">"));
    g_assert_true(m("foo.*", "foo.>")); /* as nats-server's Sublist.Match: ">" is one token */
    /* not NUL-terminated: only len bytes count */
    g_assert_true(auth_subject_matches("foo.bar", "foo.barXYZ", 7));
}

static void test_subset(void) {
    g_assert_true(auth_subject_is_subset("foo.bar", "foo.*"));
    g_assert_true(auth_subject_is_subset("foo.bar", "foo.>"));
    g_assert_true(auth_subject_is_subset("foo.*", "foo.*"));
    g_assert_true(auth_subject_is_subset("foo.*", "foo.>"));
    g_assert_true(auth_subject_is_subset("foo.*", ">"));
    g_assert_false(auth_subject_is_subset("foo.*", "foo.bar"));
    g_assert_false(auth_subject_is_subset("foo.>", "foo.*"));
    g_assert_false(auth_subject_is_subset("foo.bar", "foo"));
    g_assert_false(auth_subject_is_subset("foo", "foo.bar"));
    g_assert_false(auth_subject_is_subset("foo.bar", "*.baz"));
}

static void test_secrets(void) {
    g_assert_true(auth_secret_matches("pw", "pw"));
    g_assert_false(auth_secret_matches("pw", "pW"));
    g_assert_false(auth_secret_matches("pw", "pw "));
    g_assert_false(auth_secret_matches("pw", "p"));
    g_assert_false(auth_secret_matches("pw", ""));
    g_assert_false(auth_secret_matches("pw", NULL));
    g_assert_true(auth_secret_matches("", NULL));
    g_assert_true(auth_secret_is_bcrypt(HASH_2A));
    g_assert_true(auth_secret_is_bcrypt(HASH_2B));
    g_assert_false(auth_secret_is_bcrypt("$2c$06$abc"));
    g_assert_false(auth_secret_is_bcrypt("$2a$6$abc"));
    g_assert_true(auth_secret_matches(HASH_2A, "admin-s3cret"));
    g_assert_true(auth_secret_matches(HASH_2B, "admin-s3cret"));
    g_assert_false(auth_secret_matches(HASH_2A, "admin-s3cre"));
    g_assert_false(auth_secret_matches(HASH_2A, HASH_2A)); /* the hash is not the password */
    g_assert_false(auth_secret_matches(HASH_2A, ""));
    /* a malformed hash never matches anything (crypt_r answers "*0") */
    g_assert_false(auth_secret_matches("$2a$06$short", "x"));
    g_assert_false(auth_secret_matches("$2a$06$short", ""));
}

/* A config through the parser, as the program builds it. */
static AuthConfig *conf_auth(const char *text) {
    ConfSettings s;
    conf_settings_init(&s);
    g_autoptr(GError) err = NULL;
    g_assert_true(conf_parse(&s, text, "t.conf", NULL, &err));
    g_assert_no_error(err);
    g_assert_true(auth_config_validate(s.auth, &err));
    AuthConfig *a = g_steal_pointer(&s.auth);
    conf_settings_clear(&s);
    return a;
}

#define USERS_BODY \
    "authorization {\n" \
    "  default_permissions { publish: \"public.>\", subscribe: \"public.>\" }\n" \
    "  users = [\n" \
    "    { user: admin, password: \"" HASH_2A "\", permissions: { publish: \">\", subscribe: \">\" } }\n" \
    "    { user: plain, password: pw }\n" \
    "    { user: svc, password: pw, permissions: { subscribe: [\"svc.>\", \"jobs workers\"], allow_responses: { max: 2, expires: \"1s\" } } }\n" \
    "    { user: lim, password: pw, permissions: {\n" \
    "        publish: { allow: [\"orders.>\"], deny: \"orders.secret\" }\n" \
    "        subscribe: { allow: \"orders.>\", deny: [\"orders.hidden\", \"orders.q grp\"] } } }\n" \
    "  ]\n" \
    "}\n"
static const char USERS_CONF[] = USERS_BODY "no_auth_user: plain\n";

static void test_check(void) {
    AuthConfig *a = conf_auth(USERS_CONF);
    g_assert_true(auth_config_required(a));
    const AuthPermissions *p;
    const char *user;
    AuthCreds cr = {"admin", "admin-s3cret", NULL};
    g_assert_true(auth_check(a, &cr, &p, &user));
    g_assert_cmpstr(user, ==, "admin");
    g_assert_nonnull(p);
    cr = (AuthCreds){"admin", "wrong", NULL};
    g_assert_false(auth_check(a, &cr, &p, &user));
    cr = (AuthCreds){"nobody", "pw", NULL};
    g_assert_false(auth_check(a, &cr, &p, &user));
    /* plain has no permissions of its own: the defaults */
    cr = (AuthCreds){"plain", "pw", NULL};
    g_assert_true(auth_check(a, &cr, &p, &user));
    g_assert_true(p == a->default_perms);
    /* nothing at all: the no_auth_user, with its permissions */
    cr = (AuthCreds){NULL, NULL, NULL};
    g_assert_true(auth_check(a, &cr, &p, &user));
    g_assert_cmpstr(user, ==, "plain");
    /* a password without a user is not anonymous */
    cr = (AuthCreds){NULL, "pw", NULL};
    g_assert_false(auth_check(a, &cr, &p, &user));
    auth_config_free(a);

    a = conf_auth("authorization { token: \"" HASH_2B "\" }");
    cr = (AuthCreds){NULL, NULL, "admin-s3cret"};
    g_assert_true(auth_check(a, &cr, &p, &user));
    g_assert_null(p);
    cr = (AuthCreds){"admin-s3cret", "admin-s3cret", NULL};
    g_assert_false(auth_check(a, &cr, &p, &user));
    auth_config_free(a);

    a = conf_auth("authorization { user: u, password: p, timeout: 0.5 }");
    g_assert_cmpint(a->timeout_ns, ==, 500000000);
    cr = (AuthCreds){"u", "p", NULL};
    g_assert_true(auth_check(a, &cr, &p, &user));
    cr = (AuthCreds){"U", "p", NULL};
    g_assert_false(auth_check(a, &cr, &p, &user));
    cr = (AuthCreds){"u", NULL, NULL};
    g_assert_false(auth_check(a, &cr, &p, &user));
    auth_config_free(a);

    /* an empty users list: nobody gets in */
    a = conf_auth("authorization { users: [] }");
    g_assert_true(auth_config_required(a));
    cr = (AuthCreds){NULL, NULL, NULL};
    g_assert_false(auth_check(a, &cr, &p, &user));
    auth_config_free(a);
    g_assert_false(auth_config_required(NULL));
}

static const AuthPermissions *perms_of(AuthConfig *a, const char *user) {
    for (guint i = 0; i < a->users->len; i++) {
        AuthUser *u = a->users->pdata[i];
        if (strcmp(u->name, user) == 0) return u->perms;
    }
    g_assert_not_reached();
}

static bool pub(AuthClient *ac, const char *s, int64_t now) { return auth_client_can_publish(ac, s, strlen(s), now); }
static bool sub(AuthClient *ac, const char *s, const char *q) {
    return auth_client_can_subscribe(ac, s, strlen(s), q, q ? strlen(q) : 0);
}

/* One permission question, asked of the client the case's user gets from USERS_CONF (NULL:
 * the default permissions). Cases of one user run in order on one client: a SUB can change
 * what it may receive later. */
typedef struct {
    const char *user;
    char op;             /* 'p' publish, 's' subscribe (queue may be set), 'r' receive */
    const char *subject, *queue;
    bool allowed;
    const char *why;
} PermCase;

static const PermCase perm_cases[] = {
    {"lim", 'p', "orders.new", NULL, true, "publish allow orders.>"},
    {"lim", 'p', "orders.secret", NULL, false, "publish deny"},
    {"lim", 'p', "other", NULL, false, "not in the allow list"},
    {"lim", 's', "orders.new", NULL, true, "subscribe allow orders.>"},
    {"lim", 's', "orders.hidden", NULL, false, "subscribe deny"},
    {"lim", 's', "other", NULL, false, "not in the allow list"},
    {"lim", 's', "orders.q", NULL, true, "only the queue group grp is denied"},
    {"lim", 's', "orders.q", "grp", false, "deny \"orders.q grp\""},
    {"lim", 's', "orders.q", "other", true, "another group"},
    {"lim", 'r', "orders.hidden", NULL, true, "a literal SUB turns no filter on"},
    {"lim", 's', "orders.*", NULL, true, "a wildcard SUB is allowed ..."},
    {"lim", 'r', "orders.hidden", NULL, false, "... but orders.hidden must not reach it"},
    {"lim", 'r', "orders.other", NULL, true, "what it may see still does"},
    {NULL, 'p', "public.x", NULL, true, "the defaults (public.>) apply without permissions"},
    {NULL, 'p', "private.x", NULL, false, "outside the defaults"},
    {"svc", 's', "svc.a", NULL, true, "subscribe allow svc.>"},
    {"svc", 's', "jobs", "workers", true, "queue-qualified allow: jobs only in group workers"},
    {"svc", 's', "jobs", "others", false, "another group"},
    {"svc", 's', "jobs", NULL, false, "no group"},
};

static void test_client_permissions(void) {
    AuthConfig *a = conf_auth(USERS_CONF);
    AuthClient *ac = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(perm_cases); i++) {
        const PermCase *pc = &perm_cases[i];
        if (i == 0 || g_strcmp0(pc->user, perm_cases[i - 1].user) != 0) {
            if (ac != NULL) auth_client_free(ac);
            ac = auth_client_new(pc->user != NULL ? perms_of(a, pc->user) : a->default_perms);
        }
        bool got = pc->op == 'p'   ? pub(ac, pc->subject, 0)
                   : pc->op == 's' ? sub(ac, pc->subject, pc->queue)
                                   : auth_client_can_receive(ac, pc->subject, strlen(pc->subject));
        if (got != pc->allowed)
            g_error("case %zu: %s %c %s%s%s: %s, want %s (%s)", i, pc->user ? pc->user : "(default)", pc->op,
                    pc->subject, pc->queue ? " " : "", pc->queue ? pc->queue : "", got ? "allowed" : "refused",
                    pc->allowed ? "allowed" : "refused", pc->why);
    }
    auth_client_free(ac);
    auth_config_free(a);
}

static void test_responses(void) {
    AuthConfig *a = conf_auth(USERS_CONF);
    const AuthPermissions *p = perms_of(a, "svc");
    g_assert_true(p->responses);
    g_assert_cmpint(p->responses_max, ==, 2);
    g_assert_cmpint(p->responses_expires_ns, ==, 1000000000);
    g_assert_nonnull(p->publish.allow); /* allow_responses alone: publish nothing else */
    g_assert_cmpuint(p->publish.allow->len, ==, 0);
    AuthClient *ac = auth_client_new(p);
    g_assert_false(pub(ac, "_INBOX.a", 0));
    auth_client_note_request(ac, "_INBOX.a", 8, 0);
    g_assert_true(pub(ac, "_INBOX.a", 10));
    g_assert_true(pub(ac, "_INBOX.a", 20));
    g_assert_false(pub(ac, "_INBOX.a", 30)); /* max 2 */
    g_assert_false(pub(ac, "_INBOX.a", 40)); /* and forgotten */
    auth_client_note_request(ac, "_INBOX.b", 8, 0);
    g_assert_false(pub(ac, "_INBOX.b", 1000000001)); /* expired after 1 s */
    g_assert_false(pub(ac, "svc.a", 0));
    /* the tracked replies stay bounded however many requests arrive */
    for (int i = 0; i < 3 * LIMIT_AUTH_REPLIES_COUNT; i++) {
        g_autofree char *r = g_strdup_printf("_INBOX.r%d", i);
        auth_client_note_request(ac, r, strlen(r), i);
    }
    g_assert_cmpuint(auth_client_reply_count(ac), <=, LIMIT_AUTH_REPLIES_COUNT);
    /* the newest request is still answerable */
    g_autofree char *last = g_strdup_printf("_INBOX.r%d", 3 * LIMIT_AUTH_REPLIES_COUNT - 1);
    g_assert_true(pub(ac, last, 3 * LIMIT_AUTH_REPLIES_COUNT));
    auth_client_free(ac);
    auth_config_free(a);

    /* allow_responses: true = nats-server's defaults, 1 response within 2 minutes */
    a = conf_auth("authorization { users: [ {user: r, password: p, permissions: { allow_responses: true }} ] }");
    p = perms_of(a, "r");
    g_assert_cmpint(p->responses_max, ==, LIMIT_AUTH_RESPONSES_MAX_COUNT);
    g_assert_cmpint(p->responses_expires_ns, ==, LIMIT_AUTH_RESPONSES_EXPIRES_NS);
    auth_config_free(a);
}

static char *conf_error(const char *text) {
    ConfSettings s;
    conf_settings_init(&s);
    GError *err = NULL;
    gboolean ok = conf_parse(&s, text, "t.conf", NULL, &err);
    if (ok) ok = auth_config_validate(s.auth, &err);
    g_assert_false(ok);
    g_assert_nonnull(err);
    char *msg = g_strdup(err->message);
    g_error_free(err);
    conf_settings_clear(&s);
    return msg;
}

#define EXPECT_ERR(text, fragment)                                                      \
    do {                                                                                \
        g_autofree char *msg_ = conf_error(text);                                       \
        if (strstr(msg_, fragment) == NULL) g_error("%s: got \"%s\"", fragment, msg_); \
    } while (0)

static void test_config_errors(void) {
    /* security minijet does not implement: refuse to start */
    EXPECT_ERR("tls { cert_file: a.pem }", "t.conf:1: tls: TLS is not supported by minijet");
    EXPECT_ERR("port: 1\naccounts { A: {} }", "t.conf:2: accounts: accounts is not supported");
    EXPECT_ERR("operator: op.jwt", "operator mode");
    EXPECT_ERR("resolver: MEMORY", "account resolver");
    EXPECT_ERR("system_account: SYS", "system account");
    EXPECT_ERR("authorization { users: [ { nkey: UABC } ] }", "users.nkey: an nkey user is not supported");
    EXPECT_ERR("authorization { users: [ { user: a, password: b, allowed_connection_types: [STANDARD] } ] }",
               "not supported");
    /* nats-server's own refusals */
    EXPECT_ERR("authorization { user: a, password: b, token: c }", "Cannot have a user/pass and token");
    EXPECT_ERR("authorization { user: a, password: b, users: [ {user: c, password: d} ] }",
               "Can not have a single user/pass and a users array");
    EXPECT_ERR("authorization { token: t, users: [ {user: c, password: d} ] }",
               "Can not have a token and a users array");
    EXPECT_ERR("authorization { users: [ {user: c, password: d}, {user: c, password: e} ] }",
               "Duplicate user \"c\" detected");
    EXPECT_ERR("authorization { users: [ {password: d} ] }", "User entry requires a user");
    EXPECT_ERR("authorization { token: t }\nno_auth_user: x", "no_auth_user: \"x\" present, but users are not defined");
    EXPECT_ERR("authorization { users: [ {user: c, password: d} ] }\nno_auth_user: x", "not present as user");
    EXPECT_ERR("authorization { usr: a }", "unknown field authorization.usr");
    EXPECT_ERR("authorization { users: [ {user: c, permissions: { publsh: a }} ] }", "Unknown field \"publsh\"");
    EXPECT_ERR("authorization { users: [ {user: c, permissions: { publish: { alow: a } }} ] }",
               "only 'allow' or 'deny' are permitted");
    EXPECT_ERR("authorization { users: [ {user: c, permissions: { publish: \"foo..bar\" }} ] }",
               "subject \"foo..bar\" is not a valid subject");
    EXPECT_ERR("authorization { users: [ {user: c, permissions: { allow_responses: { max: x } }} ] }", "'max' must be");
    EXPECT_ERR("authorization { timeout: -1 }", "'timeout' must be");
    EXPECT_ERR("authorization { password: p }", "a password needs a user");
    EXPECT_ERR("authorization: yes", "'authorization' must be a block");
}

/* --user/--pass/--auth fill the same settings; conf_merge lays them over the file's block. */
static void test_flags_merge(void) {
    ConfSettings file, flags;
    conf_settings_init(&file);
    conf_settings_init(&flags);
    g_autoptr(GError) err = NULL;
    g_assert_true(conf_parse(&file, "authorization { user: u, password: p, timeout: 3 }", "t.conf", NULL, &err));
    char *argv[] = {"minijet-server", "--pass", "flagpw", "-p", "0", NULL};
    g_assert_cmpint(conf_parse_flags(&flags, 5, argv, &err), ==, CONF_FLAGS_RUN);
    g_assert_no_error(err);
    conf_merge(&file, &flags);
    conf_settings_clear(&flags); /* the merge copied what it took */
    g_assert_cmpstr(file.auth->user, ==, "u");
    g_assert_cmpstr(file.auth->password, ==, "flagpw");
    g_assert_cmpint(auth_config_timeout_ns(file.auth), ==, 3000000000LL);
    const AuthPermissions *p;
    const char *user;
    AuthCreds cr = {"u", "flagpw", NULL};
    g_assert_true(auth_check(file.auth, &cr, &p, &user));
    conf_settings_clear(&file);
    /* a token flag alone turns auth on; the default timeout applies */
    char *argv2[] = {"minijet-server", "--auth", "t1", NULL};
    g_assert_cmpint(conf_parse_flags(&flags, 3, argv2, &err), ==, CONF_FLAGS_RUN);
    g_assert_true(auth_config_required(flags.auth));
    g_assert_cmpint(auth_config_timeout_ns(flags.auth), ==, LIMIT_AUTH_TIMEOUT_NS);
    conf_settings_clear(&flags);
    /* TLS flags are refused, not ignored */
    char *argv3[] = {"minijet-server", "--tlscert", "c.pem", NULL};
    g_assert_cmpint(conf_parse_flags(&flags, 3, argv3, &err), ==, CONF_FLAGS_ERROR);
    g_assert_nonnull(strstr(err->message, "TLS is not supported"));
    conf_settings_clear(&flags);
}

/* ------------------------------------------------------------------ the server */

typedef struct {
    TestEnv *te;
    Server *srv;
    AuthConfig *auth;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data) {
    f->te = test_env_new(7);
    f->auth = conf_auth(data ? data : USERS_BODY);
    ServerConfig cfg;
    server_config_init(&cfg);
    cfg.auth = f->auth;
    g_autoptr(GError) err = NULL;
    f->srv = server_new(&f->te->env, &cfg, &err);
    g_assert_no_error(err);
}

static void fx_teardown(Fixture *f, gconstpointer data) {
    server_check_invariants(f->srv);
    server_free(f->srv);
    auth_config_free(f->auth);
    test_env_free(f->te);
}

static char *say(Fixture *f, EnvConn c, const char *bytes) {
    test_env_client_send(f->te, c, bytes);
    test_env_advance(f->te, 0);
    server_check_invariants(f->srv);
    return test_env_client_take(f->te, c);
}

static EnvConn fresh(Fixture *f) {
    EnvConn c = test_env_connect(f->te);
    g_autofree char *info = test_env_client_take(f->te, c);
    bool advertised = strstr(info, "\"headers\":true,\"auth_required\":true,") != NULL;
    g_assert_true(advertised == (f->auth->no_auth_user == NULL)); /* as nats-server's INFO */
    return c;
}

static EnvConn login(Fixture *f, const char *user, const char *pass) {
    EnvConn c = fresh(f);
    g_autofree char *line = g_strdup_printf("CONNECT {\"verbose\":false,\"user\":\"%s\",\"pass\":\"%s\"}\r\nPING\r\n", user, pass);
    g_autofree char *out = say(f, c, line);
    g_assert_cmpstr(out, ==, "PONG\r\n");
    return c;
}

static void test_server_connect(Fixture *f, gconstpointer data) {
    EnvConn c = fresh(f);
    g_autofree char *out = say(f, c, "CONNECT {\"verbose\":true,\"user\":\"admin\",\"pass\":\"nope\"}\r\n");
    g_assert_cmpstr(out, ==, "-ERR 'Authorization Violation'\r\n");
    g_assert_true(test_env_is_closed(f->te, c));
    /* anything before CONNECT is a violation too (no_auth_user is not set here) */
    const char *firsts[] = {"PING\r\n", "SUB x 1\r\n", "PUB x 0\r\n\r\n", "GARBAGE\r\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(firsts); i++) {
        c = fresh(f);
        g_autofree char *o = say(f, c, firsts[i]);
        g_assert_cmpstr(o, ==, "-ERR 'Authorization Violation'\r\n");
        g_assert_true(test_env_is_closed(f->te, c));
    }
    c = fresh(f);
    g_autofree char *ok = say(f, c, "CONNECT {\"verbose\":true,\"user\":\"admin\",\"pass\":\"admin-s3cret\"}\r\n");
    g_assert_cmpstr(ok, ==, "+OK\r\n");
    g_assert_false(test_env_is_closed(f->te, c));
}

static void test_server_timeout(Fixture *f, gconstpointer data) {
    EnvConn c = fresh(f);
    test_env_advance(f->te, LIMIT_AUTH_TIMEOUT_NS - 1);
    g_assert_false(test_env_is_closed(f->te, c));
    test_env_advance(f->te, 1);
    g_autofree char *out = test_env_client_take(f->te, c);
    g_assert_cmpstr(out, ==, "-ERR 'Authentication Timeout'\r\n");
    g_assert_true(test_env_is_closed(f->te, c));
    /* a CONNECT in time stops the timer */
    EnvConn ok = login(f, "plain", "pw");
    test_env_advance(f->te, 2 * LIMIT_AUTH_TIMEOUT_NS);
    g_assert_false(test_env_is_closed(f->te, ok));
}

static void test_server_permissions(Fixture *f, gconstpointer data) {
    EnvConn admin = login(f, "admin", "admin-s3cret");
    EnvConn lim = login(f, "lim", "pw");
    g_autofree char *o1 = say(f, admin, "SUB orders.> 1\r\nPING\r\n");
    g_assert_cmpstr(o1, ==, "PONG\r\n");
    g_autofree char *o2 = say(f, lim, "PUB orders.secret 1\r\nx\r\nPUB orders.new 1\r\ny\r\nPING\r\n");
    g_assert_cmpstr(o2, ==, "-ERR 'Permissions Violation for Publish to \"orders.secret\"'\r\nPONG\r\n");
    g_autofree char *o3 = test_env_client_take(f->te, admin);
    g_assert_cmpstr(o3, ==, "MSG orders.new 1 1\r\ny\r\n");
    g_autofree char *o4 = say(f, lim, "SUB orders.hidden 1\r\nSUB orders.q grp 2\r\nSUB orders.* 3\r\nPING\r\n");
    g_assert_cmpstr(o4, ==, "-ERR 'Permissions Violation for Subscription to \"orders.hidden\"'\r\n"
                            "-ERR 'Permissions Violation for Subscription to \"orders.q\" using queue \"grp\"'\r\n"
                            "PONG\r\n");
    g_assert_false(test_env_is_closed(f->te, lim));
    g_autofree char *o5 = say(f, admin, "PUB orders.hidden 1\r\nh\r\nPUB orders.seen 1\r\ns\r\nPING\r\n");
    g_autofree char *o6 = test_env_client_take(f->te, lim);
    g_assert_cmpstr(o6, ==, "MSG orders.seen 3 1\r\ns\r\n"); /* orders.hidden filtered */
}

static void test_server_responses(Fixture *f, gconstpointer data) {
    EnvConn svc = login(f, "svc", "pw");
    EnvConn req = login(f, "admin", "admin-s3cret");
    g_autofree char *o1 = say(f, svc, "SUB svc.echo 1\r\nPING\r\n");
    g_assert_cmpstr(o1, ==, "PONG\r\n");
    g_autofree char *o2 = say(f, req, "SUB _INBOX.1 1\r\nPUB svc.echo _INBOX.1 1\r\nq\r\nPING\r\n");
    g_assert_cmpstr(o2, ==, "PONG\r\n");
    g_autofree char *o3 = test_env_client_take(f->te, svc);
    g_assert_cmpstr(o3, ==, "MSG svc.echo 1 _INBOX.1 1\r\nq\r\n");
    g_autofree char *o4 = say(f, svc, "PUB _INBOX.1 1\r\na\r\nPUB _INBOX.1 1\r\nb\r\nPUB _INBOX.1 1\r\nc\r\nPING\r\n");
    g_assert_cmpstr(o4, ==, "-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\nPONG\r\n");
    g_autofree char *o5 = test_env_client_take(f->te, req);
    g_assert_cmpstr(o5, ==, "MSG _INBOX.1 1 1\r\na\r\nMSG _INBOX.1 1 1\r\nb\r\n");
    /* expires: 1s on the world's clock */
    g_autofree char *o6 = say(f, req, "PUB svc.echo _INBOX.1 1\r\nq\r\nPING\r\n");
    g_autofree char *o7 = test_env_client_take(f->te, svc);
    g_assert_cmpstr(o7, ==, "MSG svc.echo 1 _INBOX.1 1\r\nq\r\n");
    test_env_advance(f->te, 1000000001);
    g_autofree char *o8 = say(f, svc, "PUB _INBOX.1 4\r\nlate\r\nPING\r\n");
    g_assert_nonnull(strstr(o8, "-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\n"));
}

static void test_server_no_auth_user(Fixture *f, gconstpointer data) {
    /* no CONNECT at all: the first SUB makes the connection the no_auth_user (plain), still
     * verbose as every client is before CONNECT (nats-server 2.9.10 answers exactly this) */
    EnvConn c = fresh(f);
    g_autofree char *o1 = say(f, c, "SUB public.x 1\r\nSUB private.x 2\r\nPING\r\n");
    g_assert_cmpstr(o1, ==, "+OK\r\n-ERR 'Permissions Violation for Subscription to \"private.x\"'\r\nPONG\r\n");
    EnvConn d = fresh(f);
    g_autofree char *o2 = say(f, d, "CONNECT {\"verbose\":false}\r\nPUB public.x 2\r\nhi\r\nPING\r\n");
    g_assert_cmpstr(o2, ==, "PONG\r\n");
    g_autofree char *o3 = test_env_client_take(f->te, c);
    g_assert_cmpstr(o3, ==, "MSG public.x 1 2\r\nhi\r\n");
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/auth/matcher", test_matcher);
    g_test_add_func("/auth/subset", test_subset);
    g_test_add_func("/auth/secrets", test_secrets);
    g_test_add_func("/auth/check", test_check);
    g_test_add_func("/auth/client_permissions", test_client_permissions);
    g_test_add_func("/auth/responses", test_responses);
    g_test_add_func("/auth/config_errors", test_config_errors);
    g_test_add_func("/auth/flags_merge", test_flags_merge);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/auth/server/connect", test_server_connect);
    ADD("/auth/server/timeout", test_server_timeout);
    ADD("/auth/server/permissions", test_server_permissions);
    ADD("/auth/server/responses", test_server_responses);
    g_test_add("/auth/server/no_auth_user", Fixture, USERS_CONF, fx_setup, test_server_no_auth_user, fx_teardown);
    return g_test_run();
}
