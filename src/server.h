/* server.h — the broker core: connections, interest, delivery, request/reply, limits.
 *
 * The server is a pure state machine over the environment (env.h): the world calls its
 * entry points (accept, bytes, closed, timers), and it answers by queueing bytes with
 * env_conn_send. It never blocks and never touches the OS.
 *
 * INTERFACE
 *   server_config_init(cfg)              defaults (nats-server's, from limits.h)
 *   server_new(env, cfg, error)          a server; installs itself as env's handlers
 *   server_free(s)
 *   server_stats(s)                      counters for monitoring, tests and the simulator
 *   server_conn_list(s)                  every open connection's numbers, in cid order (/connz)
 *   server_conn_subjects(s, cid)         one connection's subjects, sorted (/connz?subs=1)
 *   server_sublist_stats(s, out)         the subject trie's counters (/subsz)
 *   server_start_ns(s), server_id(s)     wall-clock time of server_new; the INFO server_id
 *   server_check_invariants(s)           asserts the invariants below, then runs every
 *                                        registered check (the layers above: JetStream, with
 *                                        its streams, stores and consumers; the routes; the
 *                                        JetStream cluster)
 *   server_check_contracts(s)            the same chain without the O(size) walks
 *   The hooks a layer above uses (the server never names that layer; it composes over us):
 *   server_subscribe_internal / server_publish / server_publish_to   the internal client
 *   server_observe_subs(s, fn, ctx)      every local subscription added or removed (subject,
 *                                        queue), the existing ones replayed first: what the
 *                                        route layer turns into RS+/RS-
 *   server_watch_interest(s, subj, fn, ctx)  fn(ctx, true/false) when the literal subject
 *                                        gains its first / loses its last matching subscriber
 *   server_has_interest(s, subj)         does anyone listen on subj now?
 *   server_add_check(s, fn, ctx)         run fn(ctx) inside server_check_invariants
 *   server_on_unclaimed(s, fn, ctx)      a routed request nothing here took (a peer's stale
 *                                        view of our interest): JetStream may answer it
 *   server_remove_hook(s, hook)          undo any of the four above
 *   server_info_set_flag(s, name, on)    a boolean in INFO ("jetstream": true)
 *   server_info_set_string(s, name, v)   a string in INFO ("domain": "prod")
 *
 * INVARIANTS
 *   - Every subscription in the trie belongs to exactly one live connection, and every
 *     subscription of a live connection is in the trie.
 *   - A closed connection owns nothing: no subscriptions, no timers.
 *   - No connection has more than max_pending_bytes queued: past that it is closed as a
 *     slow consumer and the others are unaffected.
 */
#ifndef MINIJET_SERVER_H
#define MINIJET_SERVER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "env.h"

typedef struct Server Server;

typedef struct ServerConfig {
    const char *host;          /* advertised in INFO; default "127.0.0.1" */
    int port;                  /* advertised in INFO; default 4222 */
    const char *server_name;   /* default "minijet" */
    size_t max_payload_bytes;  /* default LIMIT_MAX_PAYLOAD_BYTES */
    size_t max_control_line_bytes;
    size_t max_pending_bytes;  /* slow-consumer threshold per connection */
    int max_connections;
    int max_subs_per_conn;     /* 0 = unlimited */
    size_t max_trie_nodes;     /* the subject trie's node cap (LIMIT_SUBLIST_NODES_COUNT) */
    int64_t ping_first_ns;     /* first keep-alive PING after connect */
    int64_t ping_interval_ns;  /* then every ping_interval_ns */
    int ping_max_outstanding;  /* unanswered PINGs before 'Stale Connection' */
    const struct AuthConfig *auth; /* who may connect and do what (auth.h); NULL = anyone,
                                    * anything. Borrowed: must outlive the server. */
} ServerConfig;

typedef struct ServerStats {
    uint64_t conns_accepted;
    uint64_t conns_current;
    uint64_t in_msgs, in_bytes;    /* PUB/HPUB received */
    uint64_t out_msgs, out_bytes;  /* MSG/HMSG sent */
    uint64_t subscriptions;
    uint64_t slow_consumers;
    uint64_t publishers_paused;    /* reads stopped for outbound memory (server.c) */
    uint64_t proto_errors;         /* -ERR sent */
} ServerStats;

/* A message as internal subscribers (JetStream, monitoring) see it. Pointers are valid only
 * during the handler call. hdr_len == 0 means no headers. */
typedef struct ServerMsg {
    const char *subject;
    size_t subject_len;
    const char *reply; /* NULL when none */
    size_t reply_len;
    const uint8_t *hdr;
    size_t hdr_len;
    const uint8_t *payload;
    size_t payload_len;
    EnvConn from;      /* the publishing client connection, 0 for internal publishes */
} ServerMsg;

/* What monitoring shows of any connection, a client's (/connz) or a route's (/routez):
 * nats-server's ConnInfo and RouteInfo share these members. */
typedef struct ServerConnActivity {
    int64_t start_ns;           /* wall clock at accept (or dial) */
    int64_t last_activity_ns;   /* wall clock of the last bytes read from it */
    uint64_t in_msgs, in_bytes;   /* messages it sent us (headers + payload bytes) */
    uint64_t out_msgs, out_bytes; /* messages we sent it */
    size_t pending_bytes;       /* queued, not yet taken by the kernel */
    uint32_t subscriptions;
} ServerConnActivity;

/* One open client connection as monitoring sees it (nats-server's ConnInfo). Strings are
 * borrowed from the connection: valid until the next event the world delivers. */
typedef struct ServerConnInfo {
    EnvConn cid;
    const char *ip;
    int port;
    ServerConnActivity activity;       /* in: PUB/HPUB it sent; out: MSG/HMSG it was sent */
    const char *name, *lang, *version; /* from CONNECT; NULL when not given */
} ServerConnInfo;

struct SublistStats; /* sublist.h */

typedef void (*ServerMsgHandler)(void *ctx, const ServerMsg *msg);
typedef struct ServerInternalSub ServerInternalSub;

void server_config_init(ServerConfig *cfg);
Server *server_new(Env *env, const ServerConfig *cfg, GError **error);
void server_free(Server *s);
const ServerStats *server_stats(const Server *s);
/* Everything, with every walk of every structure (tests; the simulator every check_every
 * steps). The contracts alone, without O(size) walks (the trie's cache re-matched, a store's
 * index, num_pending recounted): cheap enough for the simulator after every event. */
void server_check_invariants(Server *s);
void server_check_contracts(Server *s);
Env *server_env(Server *s);
const ServerConfig *server_config(const Server *s);
int64_t server_start_ns(const Server *s);
const char *server_id(const Server *s); /* the INFO server_id, "N" + 55 base32 characters */
/* Open connections (not those closing) sorted by cid; g_array_unref it. */
GArray *server_conn_list(Server *s);
/* The subjects cid subscribes to, sorted; NULL when no such connection. g_strfreev it. */
char **server_conn_subjects(Server *s, EnvConn cid);
void server_sublist_stats(const Server *s, struct SublistStats *out);

/* --- the internal client: how JetStream and other in-process services use the bus ---
 *
 * An internal subscription sits in the same trie as client subscriptions (so it counts as
 * interest: no 503 for requests it answers) but calls a function instead of writing MSG
 * bytes. The handler may publish (re-entrancy is allowed and bounded by the call depth
 * limit) but must not free the subscription it is running in; unsubscribe it later. */
ServerInternalSub *server_subscribe_internal(Server *s, const char *subject, const char *queue,
                                             ServerMsgHandler fn, void *ctx);
void server_unsubscribe_internal(Server *s, ServerInternalSub *sub);
/* Publish as the server itself: routed exactly like a client PUB/HPUB (no 503 replies). */
void server_publish(Server *s, const char *subject, const char *reply, const void *hdr,
                    size_t hdr_len, const void *payload, size_t payload_len);
/* Publish to the subscribers of deliver_subject, who see `subject` on the MSG line: how
 * JetStream consumers deliver a stored message (original subject) to a deliver subject. */
void server_publish_to(Server *s, const char *deliver_subject, const char *subject,
                       const char *reply, const void *hdr, size_t hdr_len, const void *payload,
                       size_t payload_len);
/* Is any subscription (client, internal or remote) interested in this literal subject? */
bool server_has_interest(Server *s, const char *subject);
/* May an internal publisher (a push consumer) send on subject now? No while the broker's
 * outbound memory is over its limit or a subscribed connection is over half its
 * max_pending (server.c, OUTBOUND MEMORY): wait and ask again. */
bool server_can_send(Server *s, const char *subject);

/* --- hooks for the cluster layer (route.c); the server itself knows nothing of routes ---
 *
 * Local interest: the route layer registers an observer with server_observe_subs (below,
 * the same hooks a push consumer's watch uses). Internal subscriptions are local interest,
 * so JetStream's $JS.API.>, a stream leader's subjects and the Raft groups' $NRG inboxes are
 * interest that routes announce, as nats-server's internal clients are.
 * Remote subscriptions: a peer server's interest, in the same trie as local interest, so
 * queue groups pick among local and remote members (a remote one counts `weight` times)
 * and a request with remote interest gets no 503. A message matching any of a peer's
 * remote subscriptions is handed to `fn` exactly once, with the names of the queue groups
 * whose chosen member is on that peer (nq = 0: plain interest only).
 * server_deliver_routed: a message that came from a peer; delivered to local subscribers
 * only (never forwarded again), and to the queue groups named in `queues`; one that
 * nobody here took goes to the server_on_unclaimed hooks (below). */
typedef void (*ServerForwardFn)(void *peer, const ServerMsg *msg, const char *const *queues, size_t nq);
typedef struct ServerRemoteSub ServerRemoteSub;
ServerRemoteSub *server_remote_sub_add(Server *s, ServerForwardFn fn, void *peer, const char *subject,
                                       const char *queue, uint32_t weight); /* NULL: bad subject */
void server_remote_sub_set_weight(ServerRemoteSub *rs, uint32_t weight);
void server_remote_sub_remove(Server *s, ServerRemoteSub *rs);
size_t server_deliver_routed(Server *s, const ServerMsg *msg, const char *const *queues, size_t nq);
/* The client INFO's "cluster" and "connect_urls" (NULL = leave out); when they change,
 * clients that sent "protocol":1 get a fresh INFO at once. */
void server_set_cluster_info(Server *s, const char *cluster_name, const char *const *connect_urls);
const char *const *server_connect_urls(const Server *s); /* NULL when not in a cluster */

/* --- hooks: how the layers above follow the server ---
 *
 * One mechanism for interest (server.c, "HOW THE LAYERS ABOVE HEAR OF INTEREST"): every
 * subscription entering or leaving the trie passes one point, which tells the observers (every
 * local change, with subject and queue: the route layer) and then the watches (one literal
 * subject, yes or no: a push consumer). Callbacks run synchronously, inside whatever changed
 * the subscription (a SUB, an UNSUB, a connection closing, an internal subscribe), possibly in
 * the middle of a delivery. They must not publish, subscribe or add/remove hooks; a callback
 * that wants to deliver arms a zero-delay env timer and acts there (writing to a connection
 * the layer owns itself, as a route's RS+, never re-enters the server and may happen at
 * once). Hooks fire in registration order. */
typedef struct ServerHook ServerHook;

/* One local subscription (a client's or an internal one) entering or leaving the trie. An
 * observer is first told of every local subscription that already exists (added = true). */
typedef struct ServerSubChange {
    const char *subject;
    const char *queue; /* NULL when not in a queue group */
    bool added;        /* false: removed */
    bool internal;     /* an internal subscription (no connection) */
} ServerSubChange;
typedef void (*ServerSubObserver)(void *ctx, const ServerSubChange *change);
ServerHook *server_observe_subs(Server *s, ServerSubObserver fn, void *ctx);

/* Interest in one literal subject: fn(ctx, true) when its first matching subscriber arrives,
 * fn(ctx, false) when its last one leaves (plain and queue subscribers, local and remote). Not called at
 * registration: ask server_has_interest for the starting state. */
typedef void (*ServerWatchFn)(void *ctx, bool interest);
ServerHook *server_watch_interest(Server *s, const char *subject, ServerWatchFn fn, void *ctx);

/* A check server_check_invariants runs after its own (JetStream registers its chain, the routes
 * and the JetStream cluster theirs); full is false for server_check_contracts. */
typedef void (*ServerCheckFn)(void *ctx, bool full);
ServerHook *server_add_check(Server *s, ServerCheckFn fn, void *ctx);

/* A message a peer routed here that matched no local subscription and carries a reply: the
 * peer forwarded it on interest we had already dropped (our RS- crossed it on the wire).
 * nats-server drops it silently, and so does the server; fn may answer it (it runs after the
 * delivery, so it may publish): jscluster.c answers 503 for a stream it just handed over. */
ServerHook *server_on_unclaimed(Server *s, ServerMsgHandler fn, void *ctx);

void server_remove_hook(Server *s, ServerHook *hook); /* NULL is a no-op */

/* A boolean member of the INFO line, e.g. ("jetstream", true) once JetStream runs. */
void server_info_set_flag(Server *s, const char *name, bool value);
bool server_info_flag(Server *s, const char *name);
/* A string member of the INFO line after "cluster", e.g. ("domain", "prod") for a JetStream
 * domain; NULL removes it. server_info_string: the value, or NULL. */
void server_info_set_string(Server *s, const char *name, const char *value);
const char *server_info_string(Server *s, const char *name);

#endif
