/* auth.c — authentication at CONNECT and permissions at PUB, SUB and delivery.
 *
 * HOW IT WORKS
 *   At CONNECT the server hands auth_check() the credentials the client sent ("user",
 *   "pass", "auth_token"). The order is nats-server's (server/auth.go): with a users list,
 *   a named user (or, when the client named nobody, the no_auth_user) must exist and its
 *   password match; otherwise a configured token must match; otherwise the single
 *   user/password must. A match returns that user's permissions, which the server keeps
 *   in one AuthClient per connection.
 *
 *   Permissions are lists of subject patterns, checked token by token the way nats-server's
 *   own subject trie matches them (Sublist.Match): a pattern "*" matches any one token of
 *   the subject, ">" one or more, anything else only itself. The subject a client
 *   subscribes to may itself contain wildcards; its "*" and ">" are then just tokens, so
 *   SUB foo.* passes allow "foo.*" or "foo.>", but not allow "foo.bar".
 *
 *     publish    allowed if (no allow list or an allow pattern matches) and no deny matches;
 *                if not, allowed anyway when allow_responses is on and the subject is the
 *                reply subject of a request this connection received (at most max
 *                responses, within expires).
 *     subscribe  the same lists; an entry "subject queue" applies to that queue group only.
 *     delivery   a deny rule does not stop SUB foo.* when only foo.secret is denied; as in
 *                nats-server, such a subscription switches on a filter that drops foo.secret
 *                at delivery (auth_client_can_receive).
 *
 * WHY NOT THE OBVIOUS WAY
 *   Comparing secrets with strcmp() leaks, through timing, how many leading bytes were
 *   right. secret_equal() reads every byte of the given secret whatever matched. Stored
 *   secrets should be bcrypt hashes: a stolen config file then gives away no password.
 *   bcrypt is libxcrypt's crypt_r(), deliberately slow (cost 11 is ~0.15 s): this
 *   single-threaded broker stalls for that long on each such CONNECT (nats-server runs it
 *   on the connection's own goroutine). Keep costs low for a classroom.
 *
 * LIMITATIONS
 *   Lists are scanned linearly (configs have a handful of entries; nats-server caches the
 *   answers). Reply subjects tracked for allow_responses are bounded per connection; past
 *   LIMIT_AUTH_REPLIES_COUNT the used and expired ones are dropped, then the oldest.
 */
#include "auth.h"

#include <crypt.h>
#include <string.h>

#include "limits.h"

G_DEFINE_QUARK(minijet-auth-error-quark, auth_error)

/* ------------------------------------------------------------------ configuration */

AuthPermissions *auth_permissions_new(void) {
    AuthPermissions *p = g_new0(AuthPermissions, 1);
    return p;
}

static void subject_perm_clear(AuthSubjectPerm *sp) {
    if (sp->allow) g_ptr_array_unref(sp->allow);
    if (sp->deny) g_ptr_array_unref(sp->deny);
    sp->allow = sp->deny = NULL;
}

void auth_permissions_free(AuthPermissions *p) {
    if (p == NULL) return;
    subject_perm_clear(&p->publish);
    subject_perm_clear(&p->subscribe);
    g_free(p);
}

void auth_permissions_normalize(AuthPermissions *p) {
    if (p == NULL || !p->responses) return;
    if (p->publish.allow == NULL) p->publish.allow = g_ptr_array_new_with_free_func(g_free);
    if (p->responses_max == 0) p->responses_max = LIMIT_AUTH_RESPONSES_MAX_COUNT;
    if (p->responses_expires_ns == 0) p->responses_expires_ns = LIMIT_AUTH_RESPONSES_EXPIRES_NS;
}

static void user_free(gpointer data) {
    AuthUser *u = data;
    g_free(u->name);
    g_free(u->password);
    auth_permissions_free(u->perms);
    g_free(u);
}

AuthConfig *auth_config_new(void) { return g_new0(AuthConfig, 1); }

int64_t auth_config_timeout_ns(const AuthConfig *a) {
    return a != NULL && a->timeout_ns > 0 ? a->timeout_ns : LIMIT_AUTH_TIMEOUT_NS;
}

static GPtrArray *strings_copy(const GPtrArray *a) {
    if (a == NULL) return NULL;
    GPtrArray *c = g_ptr_array_new_full(a->len, g_free);
    for (guint i = 0; i < a->len; i++) g_ptr_array_add(c, g_strdup(a->pdata[i]));
    return c;
}

static AuthPermissions *perms_copy(const AuthPermissions *p) {
    if (p == NULL) return NULL;
    AuthPermissions *c = g_new(AuthPermissions, 1);
    *c = *p;
    c->publish.allow = strings_copy(p->publish.allow);
    c->publish.deny = strings_copy(p->publish.deny);
    c->subscribe.allow = strings_copy(p->subscribe.allow);
    c->subscribe.deny = strings_copy(p->subscribe.deny);
    return c;
}

static void replace_str(char **dst, const char *v) {
    if (v == NULL) return;
    g_free(*dst);
    *dst = g_strdup(v);
}

void auth_config_merge(AuthConfig *dst, const AuthConfig *over) {
    replace_str(&dst->user, over->user);
    replace_str(&dst->password, over->password);
    replace_str(&dst->token, over->token);
    replace_str(&dst->no_auth_user, over->no_auth_user);
    if (over->timeout_ns > 0) dst->timeout_ns = over->timeout_ns;
    if (over->default_perms) {
        auth_permissions_free(dst->default_perms);
        dst->default_perms = perms_copy(over->default_perms);
    }
    if (over->users) {
        if (dst->users) g_ptr_array_free(dst->users, TRUE);
        dst->users = auth_users_new();
        for (guint i = 0; i < over->users->len; i++) {
            const AuthUser *u = over->users->pdata[i];
            AuthUser *c = g_new0(AuthUser, 1);
            c->name = g_strdup(u->name);
            c->password = g_strdup(u->password);
            c->perms = perms_copy(u->perms);
            g_ptr_array_add(dst->users, c);
        }
    }
}

void auth_config_free(AuthConfig *a) {
    if (a == NULL) return;
    g_free(a->user);
    g_free(a->password);
    g_free(a->token);
    if (a->users) g_ptr_array_free(a->users, TRUE);
    auth_permissions_free(a->default_perms);
    g_free(a->no_auth_user);
    g_free(a);
}

GPtrArray *auth_users_new(void) { return g_ptr_array_new_with_free_func(user_free); }

static bool nonempty(const char *s) { return s != NULL && s[0] != 0; }

bool auth_config_required(const AuthConfig *a) {
    return a != NULL && (a->users != NULL || nonempty(a->user) || nonempty(a->token));
}

bool auth_config_has_plain_secret(const AuthConfig *a) {
    if (a == NULL) return false;
    bool plain = nonempty(a->password) && !auth_secret_is_bcrypt(a->password);
    for (guint i = 0; a->users && i < a->users->len; i++) {
        const AuthUser *u = a->users->pdata[i];
        plain |= nonempty(u->password) && !auth_secret_is_bcrypt(u->password);
    }
    return plain;
}

gboolean auth_config_validate(const AuthConfig *a, GError **error) {
    if (a == NULL) return TRUE;
    if ((nonempty(a->user) || nonempty(a->password)) && nonempty(a->token)) {
        g_set_error(error, AUTH_ERROR, 0, "Cannot have a user/pass and token");
        return FALSE;
    }
    if (nonempty(a->password) && !nonempty(a->user)) {
        /* nats-server would run open here (no user = no auth): refuse instead */
        g_set_error(error, AUTH_ERROR, 0, "a password needs a user (authorization { user, password })");
        return FALSE;
    }
    if (a->users != NULL) {
        if (nonempty(a->user)) {
            g_set_error(error, AUTH_ERROR, 0, "Can not have a single user/pass and a users array");
            return FALSE;
        }
        if (nonempty(a->token)) {
            g_set_error(error, AUTH_ERROR, 0, "Can not have a token and a users array");
            return FALSE;
        }
        for (guint i = 0; i < a->users->len; i++) {
            const AuthUser *u = a->users->pdata[i];
            if (!nonempty(u->name)) {
                g_set_error(error, AUTH_ERROR, 0, "User entry requires a user");
                return FALSE;
            }
            for (guint j = 0; j < i; j++) {
                if (strcmp(((const AuthUser *)a->users->pdata[j])->name, u->name) == 0) {
                    g_set_error(error, AUTH_ERROR, 0, "Duplicate user \"%s\" detected", u->name);
                    return FALSE;
                }
            }
        }
    }
    if (nonempty(a->no_auth_user)) {
        if (a->users == NULL) {
            g_set_error(error, AUTH_ERROR, 0, "no_auth_user: \"%s\" present, but users are not defined",
                        a->no_auth_user);
            return FALSE;
        }
        bool found = false;
        for (guint i = 0; i < a->users->len; i++)
            found |= strcmp(((const AuthUser *)a->users->pdata[i])->name, a->no_auth_user) == 0;
        if (!found) {
            g_set_error(error, AUTH_ERROR, 0,
                        "no_auth_user: \"%s\" not present as user in authorization block or account configuration",
                        a->no_auth_user);
            return FALSE;
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------ secrets */

/* Equal strings? Reads all of `given` whatever matched, so the time taken says nothing
 * about how long a prefix was right (only, at most, how long the given secret was). */
static bool secret_equal(const char *stored, const char *given) {
    size_t ls = strlen(stored), lg = strlen(given);
    unsigned diff = (unsigned)(ls != lg);
    for (size_t i = 0; i < lg; i++) diff |= (unsigned)((unsigned char)given[i] ^ (unsigned char)(i < ls ? stored[i] : 0));
    return diff == 0;
}

/* nats-server's test: ^\$2[abxy]\$\d{2}\$ */
bool auth_secret_is_bcrypt(const char *s) {
    return s[0] == '$' && s[1] == '2' && s[2] && strchr("abxy", s[2]) && s[3] == '$' &&
           g_ascii_isdigit(s[4]) && g_ascii_isdigit(s[5]) && s[6] == '$';
}

bool auth_secret_matches(const char *stored, const char *given) {
    if (stored == NULL) return false;
    if (given == NULL) given = "";
    if (!auth_secret_is_bcrypt(stored)) return secret_equal(stored, given);
    /* crypt_r hashes `given` with the salt and cost inside `stored`; equal output = match.
     * It returns NULL or a "*0"-style failure token on a malformed hash: never equal. */
    struct crypt_data *cd = g_new0(struct crypt_data, 1);
    const char *out = crypt_r(given, stored, cd);
    bool ok = out != NULL && out[0] == '$' && secret_equal(stored, out);
    g_free(cd);
    return ok;
}

/* ------------------------------------------------------------------ authentication */

static const AuthUser *find_user(const AuthConfig *a, const char *name) {
    for (guint i = 0; i < a->users->len; i++) {
        const AuthUser *u = a->users->pdata[i];
        if (strcmp(u->name, name) == 0) return u;
    }
    return NULL;
}

bool auth_check(const AuthConfig *a, const AuthCreds *cr, const AuthPermissions **perms,
                const char **user) {
    *perms = NULL;
    *user = NULL;
    if (!auth_config_required(a)) return true;
    if (a->users != NULL && a->users->len > 0) {
        const char *name = cr->user;
        bool anonymous = !nonempty(cr->user) && !nonempty(cr->pass) && !nonempty(cr->token);
        if (anonymous && nonempty(a->no_auth_user)) {
            /* The connection named nobody: it is the no_auth_user, without a password. */
            const AuthUser *u = find_user(a, a->no_auth_user);
            if (u == NULL) return false;
            *perms = u->perms ? u->perms : a->default_perms;
            *user = u->name;
            return true;
        }
        if (nonempty(name)) {
            const AuthUser *u = find_user(a, name);
            if (u == NULL) return false;
            if (!auth_secret_matches(u->password, cr->pass)) return false;
            *perms = u->perms ? u->perms : a->default_perms;
            *user = u->name;
            return true;
        }
    }
    if (nonempty(a->token)) return auth_secret_matches(a->token, cr->token);
    if (nonempty(a->user)) {
        bool name_ok = secret_equal(a->user, cr->user ? cr->user : "");
        bool pass_ok = auth_secret_matches(a->password ? a->password : "", cr->pass);
        if (name_ok && pass_ok) *user = a->user;
        return name_ok && pass_ok;
    }
    return false;
}

/* ------------------------------------------------------------------ subjects
 *
 * Tokens are the pieces between dots. next_token() walks a (pointer, length) subject: it
 * yields "" for an empty piece, and false once the last piece was taken. */

static bool next_token(const char *s, size_t len, size_t *pos, const char **tok, size_t *tok_len) {
    if (*pos > len) return false;
    size_t end = *pos;
    while (end < len && s[end] != '.') end++;
    *tok = s + *pos;
    *tok_len = end - *pos;
    *pos = end + 1;
    return true;
}

static bool tok_is(const char *t, size_t n, char c) { return n == 1 && t[0] == c; }

static bool pattern_matches(const char *pattern, size_t plen, const char *subject, size_t len) {
    size_t pp = 0, sp = 0, ptl, stl;
    const char *pt, *st;
    while (next_token(pattern, plen, &pp, &pt, &ptl)) {
        if (tok_is(pt, ptl, '>')) return next_token(subject, len, &sp, &st, &stl);
        if (!next_token(subject, len, &sp, &st, &stl)) return false;
        if (tok_is(pt, ptl, '*')) continue;
        if (ptl != stl || memcmp(pt, st, ptl) != 0) return false;
    }
    return sp > len; /* every subject token was matched */
}

bool auth_subject_matches(const char *pattern, const char *subject, size_t len) {
    return pattern_matches(pattern, strlen(pattern), subject, len);
}

/* nats-server's isSubsetMatch: is every subject `subject` matches also matched by `test`?
 * foo.bar and foo.* are subsets of foo.*, foo.> and >; foo.* is not a subset of foo.bar. */
bool auth_subject_is_subset(const char *subject, const char *test) {
    size_t tp = 0, sp = 0, tl = strlen(test), sl = strlen(subject), t2l, t1l;
    const char *t2, *t1;
    while (next_token(test, tl, &tp, &t2, &t2l)) {
        if (!next_token(subject, sl, &sp, &t1, &t1l)) return false;
        if (t2l == 0) return false;
        if (tok_is(t2, t2l, '>')) return true;
        if (t1l == 0 || tok_is(t1, t1l, '>')) return false;
        if (tok_is(t1, t1l, '*')) {
            if (!tok_is(t2, t2l, '*')) return false;
            continue;
        }
        if (!tok_is(t2, t2l, '*') && (t1l != t2l || memcmp(t1, t2, t1l) != 0)) return false;
    }
    return sp > sl; /* same number of tokens */
}

/* A subscribe entry "subject" or "subject queue": the subject's length and the queue. */
static size_t entry_split(const char *entry, const char **queue) {
    size_t n = strcspn(entry, " \t");
    const char *q = entry + n;
    while (*q == ' ' || *q == '\t') q++;
    *queue = *q ? q : NULL;
    return n;
}

/* nats-server's queueMatches: the queue is one of the entries' queues, literally or as a
 * subset of a wildcard queue name. */
static bool queue_in(GPtrArray *queues, const char *queue, size_t queue_len) {
    g_autofree char *q = g_strndup(queue, queue_len);
    for (guint i = 0; i < queues->len; i++) {
        const char *qn = queues->pdata[i];
        bool wild = strchr(qn, '*') != NULL || strchr(qn, '>') != NULL;
        if (strcmp(q, qn) == 0 || (wild && auth_subject_is_subset(q, qn))) return true;
    }
    return false;
}

/* Match a list: how many plain entries matched, and the queues of the queue entries that did. */
static size_t list_match(GPtrArray *list, const char *subject, size_t len, GPtrArray *queues) {
    size_t plain = 0;
    for (guint i = 0; i < list->len; i++) {
        const char *e = list->pdata[i], *q;
        size_t n = entry_split(e, &q);
        if (!pattern_matches(e, n, subject, len)) continue;
        if (q == NULL) plain++;
        else if (queues) g_ptr_array_add(queues, (gpointer)q);
    }
    return plain;
}

/* ------------------------------------------------------------------ per connection */

typedef struct Reply {
    int64_t since_ns;  /* when the request carrying it was delivered */
    int64_t sent;      /* responses published to it so far */
    uint64_t order;    /* insertion order, for evicting the oldest */
} Reply;

struct AuthClient {
    const AuthPermissions *perms;
    GHashTable *replies;  /* reply subject -> Reply*; only with allow_responses */
    uint64_t next_order;
    bool deny_filter;     /* a wildcard SUB overlaps a deny entry: filter deliveries */
};

AuthClient *auth_client_new(const AuthPermissions *perms) {
    g_assert(perms != NULL);
    AuthClient *ac = g_new0(AuthClient, 1);
    ac->perms = perms;
    if (perms->responses) ac->replies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return ac;
}

void auth_client_free(AuthClient *ac) {
    if (ac == NULL) return;
    if (ac->replies) g_hash_table_destroy(ac->replies);
    g_free(ac);
}

size_t auth_client_reply_count(const AuthClient *ac) {
    return ac->replies ? g_hash_table_size(ac->replies) : 0;
}

static bool reply_spent(const AuthPermissions *p, const Reply *r, int64_t now_ns) {
    return (p->responses_max > 0 && r->sent >= p->responses_max) ||
           (p->responses_expires_ns > 0 && now_ns - r->since_ns > p->responses_expires_ns);
}

bool auth_client_can_publish(AuthClient *ac, const char *subject, size_t len, int64_t now_ns) {
    const AuthPermissions *p = ac->perms;
    bool allowed = true;
    if (p->publish.allow) allowed = list_match(p->publish.allow, subject, len, NULL) > 0;
    if (allowed && p->publish.deny) allowed = list_match(p->publish.deny, subject, len, NULL) == 0;
    if (allowed || ac->replies == NULL) return allowed;
    /* allow_responses: a reply subject of a request we delivered, within max and expires */
    g_autofree char *key = g_strndup(subject, len);
    Reply *r = g_hash_table_lookup(ac->replies, key);
    if (r == NULL) return false;
    r->sent++;
    if ((p->responses_max > 0 && r->sent > p->responses_max) ||
        (p->responses_expires_ns > 0 && now_ns - r->since_ns > p->responses_expires_ns)) {
        g_hash_table_remove(ac->replies, key);
        return false;
    }
    return true;
}

bool auth_client_can_subscribe(AuthClient *ac, const char *subject, size_t len, const char *queue,
                               size_t queue_len) {
    const AuthPermissions *p = ac->perms;
    bool allowed = true;
    g_autoptr(GPtrArray) queues = g_ptr_array_new();
    if (p->subscribe.allow && p->subscribe.allow->len > 0) {
        allowed = list_match(p->subscribe.allow, subject, len, queues) > 0;
        if (queue != NULL && queues->len > 0) allowed = queue_in(queues, queue, queue_len);
    }
    if (allowed && p->subscribe.deny && p->subscribe.deny->len > 0) {
        g_ptr_array_set_size(queues, 0);
        allowed = list_match(p->subscribe.deny, subject, len, queues) == 0;
        if (queue != NULL && queues->len > 0) allowed = !queue_in(queues, queue, queue_len);
        /* SUB foo.* with foo.secret denied is allowed, but foo.secret must not be delivered */
        if (allowed && !ac->deny_filter && (memchr(subject, '*', len) || memchr(subject, '>', len))) {
            g_autofree char *s = g_strndup(subject, len);
            for (guint i = 0; i < p->subscribe.deny->len && !ac->deny_filter; i++)
                ac->deny_filter = auth_subject_is_subset(p->subscribe.deny->pdata[i], s);
        }
    }
    return allowed;
}

bool auth_client_can_receive(AuthClient *ac, const char *subject, size_t len) {
    if (!ac->deny_filter) return true;
    return list_match(ac->perms->subscribe.deny, subject, len, NULL) == 0;
}

static gint reply_by_order(gconstpointer a, gconstpointer b) {
    uint64_t x = (*(Reply *const *)a)->order, y = (*(Reply *const *)b)->order;
    return x < y ? -1 : x > y;
}

/* Keep at most LIMIT_AUTH_REPLIES_COUNT: drop spent ones first (nats-server's prune), then
 * the oldest half of what is left. */
static void replies_prune(AuthClient *ac, int64_t now_ns) {
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, ac->replies);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (reply_spent(ac->perms, v, now_ns)) g_hash_table_iter_remove(&it);
    if (g_hash_table_size(ac->replies) <= LIMIT_AUTH_REPLIES_COUNT) return;
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    g_hash_table_iter_init(&it, ac->replies);
    while (g_hash_table_iter_next(&it, NULL, &v)) g_ptr_array_add(all, v);
    g_ptr_array_sort(all, reply_by_order);
    uint64_t cut = ((Reply *)all->pdata[all->len / 2])->order;
    g_hash_table_iter_init(&it, ac->replies);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((Reply *)v)->order < cut) g_hash_table_iter_remove(&it);
}

void auth_client_note_request(AuthClient *ac, const char *reply, size_t len, int64_t now_ns) {
    if (ac->replies == NULL || len == 0) return;
    Reply *r = g_new0(Reply, 1);
    r->since_ns = now_ns;
    r->order = ac->next_order++;
    g_hash_table_replace(ac->replies, g_strndup(reply, len), r);
    if (g_hash_table_size(ac->replies) > LIMIT_AUTH_REPLIES_COUNT) replies_prune(ac, now_ns);
    g_assert(g_hash_table_size(ac->replies) <= LIMIT_AUTH_REPLIES_COUNT);
}
