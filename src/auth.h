/* auth.h — who may connect, and what each connection may publish and subscribe to.
 *
 * WHAT IT IS
 *   nats-server's configuration-file security, the part a course and a laptop need:
 *   one user/password, one token, or a list of users each with publish/subscribe
 *   permissions (allow and deny lists of subject patterns, allow_responses), a
 *   no_auth_user, and the auth timeout. Passwords and tokens may be bcrypt hashes
 *   ($2a$/$2b$...). Pure: no OS calls, so the server core and the unit tests use it alike.
 *   What it does NOT do (TLS, accounts, nkeys, JWTs) is refused at startup by conf.c.
 *
 * INTERFACE
 *   AuthConfig                     what the config file and flags said (conf.c fills it)
 *   auth_config_new / _free, auth_users_new (a list of AuthUser that frees them),
 *   auth_config_merge(dst, over), auth_config_timeout_ns(a)
 *   auth_permissions_new / _free / auth_permissions_normalize
 *   auth_config_validate(a, error) the combinations nats-server refuses (user+token, ...)
 *   auth_config_required(a)        does a client have to authenticate? (INFO auth_required)
 *   auth_check(a, creds, &perms, &user)   the CONNECT check; perms NULL = unrestricted
 *   auth_secret_matches(stored, given)    bcrypt or a constant-time comparison
 *   auth_subject_matches(pattern, subject, len)   one permission pattern against a subject
 *   auth_subject_is_subset(subject, test)         is every match of subject one of test?
 *   AuthClient                     one connection's permissions and its response allowances:
 *     auth_client_new(perms) / _free
 *     auth_client_can_publish(ac, subject, len, now_ns)
 *     auth_client_can_subscribe(ac, subject, len, queue, queue_len)
 *     auth_client_can_receive(ac, subject, len)    the deny filter for wildcard subscriptions
 *     auth_client_note_request(ac, reply, len, now_ns)   a message with a reply was delivered
 *
 * INVARIANTS
 *   - An AuthClient never tracks more than LIMIT_AUTH_REPLIES_COUNT reply subjects.
 *   - auth_check never says yes to a config that requires auth unless a secret matched
 *     (or the connection named no user and no_auth_user names a configured user).
 *
 * Book: chapter 3, "Who may connect, and what they may do".
 */
#ifndef MINIJET_AUTH_H
#define MINIJET_AUTH_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* A publish or subscribe permission. allow == NULL: everything not denied is allowed;
 * an empty allow list (publish only, see normalize) allows nothing. Subscribe entries may
 * name a queue group: "subject queue". */
typedef struct AuthSubjectPerm {
    GPtrArray *allow; /* char*; NULL = no allow list */
    GPtrArray *deny;  /* char*; NULL = nothing denied */
} AuthSubjectPerm;

typedef struct AuthPermissions {
    AuthSubjectPerm publish, subscribe;
    bool responses;               /* allow_responses */
    int64_t responses_max;        /* responses per request; < 0 = unlimited */
    int64_t responses_expires_ns; /* how long after the request; < 0 = forever */
} AuthPermissions;

typedef struct AuthUser {
    char *name;
    char *password;          /* plain or bcrypt */
    AuthPermissions *perms;  /* NULL = the default permissions (or none) */
} AuthUser;

typedef struct AuthConfig {
    char *user, *password;   /* a single user (authorization { user, password }) */
    char *token;             /* authorization { token } */
    GPtrArray *users;        /* AuthUser*; NULL = no users list (an empty list rejects all) */
    AuthPermissions *default_perms; /* authorization { default_permissions } for users */
    char *no_auth_user;      /* top-level no_auth_user */
    int64_t timeout_ns;      /* CONNECT must arrive within this; 0 = LIMIT_AUTH_TIMEOUT_NS */
} AuthConfig;

typedef struct AuthCreds {
    const char *user, *pass, *token; /* from CONNECT; NULL when absent */
} AuthCreds;

AuthConfig *auth_config_new(void);
GPtrArray *auth_users_new(void); /* an empty users list that frees its AuthUser items */
/* Every setting over has replaces dst's (deep copies): flags over the config file. */
void auth_config_merge(AuthConfig *dst, const AuthConfig *over);
int64_t auth_config_timeout_ns(const AuthConfig *a); /* the timeout, or the default */
void auth_config_free(AuthConfig *a);
AuthPermissions *auth_permissions_new(void);
void auth_permissions_free(AuthPermissions *p);
/* nats-server's normalisation: allow_responses without a publish allow list means "publish
 * nothing but responses" (an empty allow list); max 0 -> 1, expires 0 -> 2 minutes. */
void auth_permissions_normalize(AuthPermissions *p);
gboolean auth_config_validate(const AuthConfig *a, GError **error);
bool auth_config_required(const AuthConfig *a);
bool auth_config_has_plain_secret(const AuthConfig *a); /* a password not bcrypt-hashed */
/* Does cr authenticate against a? On TRUE, *perms is the connection's permissions (NULL =
 * unrestricted) and *user the user name it authenticated as (NULL for a token). */
bool auth_check(const AuthConfig *a, const AuthCreds *cr, const AuthPermissions **perms,
                const char **user);
bool auth_secret_matches(const char *stored, const char *given);
bool auth_secret_is_bcrypt(const char *stored);

bool auth_subject_matches(const char *pattern, const char *subject, size_t len);
bool auth_subject_is_subset(const char *subject, const char *test);

typedef struct AuthClient AuthClient;
AuthClient *auth_client_new(const AuthPermissions *perms);
void auth_client_free(AuthClient *ac);
bool auth_client_can_publish(AuthClient *ac, const char *subject, size_t len, int64_t now_ns);
bool auth_client_can_subscribe(AuthClient *ac, const char *subject, size_t len, const char *queue,
                               size_t queue_len);
bool auth_client_can_receive(AuthClient *ac, const char *subject, size_t len);
void auth_client_note_request(AuthClient *ac, const char *reply, size_t len, int64_t now_ns);
size_t auth_client_reply_count(const AuthClient *ac); /* tests */

#define AUTH_ERROR (auth_error_quark())
GQuark auth_error_quark(void);

#endif
