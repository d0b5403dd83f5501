/* server.c — the broker core: connections, interest, delivery, request/reply, limits.
 *
 * WHAT IT IS
 *   The part of nats-server that every client touches: it accepts connections, greets
 *   them with INFO, parses what they send (proto.c), keeps their subscriptions in the
 *   subject trie (sublist.c) and, for every published message, writes a MSG/HMSG to each
 *   interested subscriber and to one member of each interested queue group.
 *   It is a pure state machine over the environment (env.h): it never blocks, never reads
 *   a clock or a socket itself, so the simulator can run it unchanged.
 *
 * INTERFACE (server.h)
 *   server_new / server_free, the EnvHandlers (on_accept, on_bytes, on_closed) it installs,
 *   server_subscribe_internal / server_publish (the in-process client a layer above uses),
 *   the hooks (subscription observers, interest watches, checks), server_stats,
 *   server_check_invariants.
 *
 * LAYERS
 *   The server knows nothing above it. JetStream (jetstream.c) is composed on top by main.c:
 *   it subscribes internally, publishes, watches interest and registers its invariant check
 *   through the hooks below; a route layer will observe subscriptions the same way.
 *
 * INVARIANTS
 *   - A live Sub is in the trie exactly once; a dead Sub (unsubscribed, or its connection
 *     closing) is in no trie and receives nothing. Subs are reference counted so that a
 *     delivery loop can hold them while a handler unsubscribes one (see route()).
 *   - A Conn is freed only in on_closed, which the world never calls re-entrantly, so a
 *     Conn pointer stays valid for the whole of any delivery loop.
 *   - A closing Conn owns no Sub in the trie and no timer.
 *   - Outbound bytes queued for a Conn never exceed max_pending_bytes plus one message:
 *     past it the connection is closed as a slow consumer.
 *
 * Book: chapter 3 (the protocol and the server core).
 */
#include "server.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "auth.h"
#include "errors.h"
#include "jsonutil.h"
#include "limits.h"
#include "proto.h"
#include "rng.h"
#include "sublist.h"
#include "version.h"

#define SERVER_MAX_CALL_DEPTH 8 /* internal handlers publishing from inside handlers */

typedef struct Conn Conn;

typedef struct Sub {
    int refs;      /* 1 for being subscribed, +1 per delivery loop holding it */
    bool dead;     /* unsubscribed: in no trie, receives nothing */
    Conn *conn;    /* owner, NULL for an internal subscription */
    ServerMsgHandler fn; /* internal subscriptions only */
    void *ctx;
    char *subject;
    char *queue;   /* NULL when not in a queue group */
    char *sid;
    size_t sid_len;
    int64_t max;   /* auto-unsubscribe after this many deliveries, -1 = none */
    uint64_t delivered;
    /* remote interest (a peer server's, held by the cluster layer): not delivered here but
     * handed to `forward`, once per message per peer; weight = the peer's queue members */
    ServerForwardFn forward;
    uint32_t weight;
} Sub;

struct ServerRemoteSub {
    Sub sub; /* a remote subscription is a Sub whose ctx is the peer */
};

struct ServerInternalSub {
    Sub sub; /* an internal subscription is just a Sub without a connection */
};

struct Conn {
    Server *srv;
    EnvConn id;
    char peer[64]; /* "ip:port", for log lines */
    ProtoParser parser;
    GHashTable *subs; /* sid -> Sub*, lookup only (never iterated into an output) */
    bool connected;   /* CONNECT received (and, with auth on, accepted) */
    bool closing;
    bool verbose, pedantic, echo, headers, no_responders;
    int64_t protocol; /* CONNECT's; >= 1 gets async INFO when the cluster changes */
    int pings_out;
    EnvTimer ping_timer;
    EnvTimer auth_timer; /* auth on, no CONNECT yet: 'Authentication Timeout' when it fires */
    AuthClient *auth;    /* the permissions of the user it authenticated as; NULL = none */
    char *user;          /* that user's name, for log lines; NULL without one */
    /* for monitoring (/connz): counted where the server-wide stats are */
    char ip[48];
    int port;
    int64_t start_ns, last_activity_ns; /* wall clock; activity = the last read */
    uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
    char *name, *lang, *version; /* from CONNECT, NULL when absent */
    /* back-pressure (see OUTBOUND MEMORY) */
    size_t pending_seen; /* env_conn_pending at our last look: its share of out_sum */
    bool read_paused;    /* in srv->paused: we stopped reading it */
};

struct Server {
    Env *env;
    ServerConfig cfg;
    Sublist *sl;
    GHashTable *conns; /* EnvConn (uint64) -> Conn*, lookup only */
    ServerStats stats;
    char server_id[57];
    int call_depth;
    GPtrArray *internal_subs; /* every live internal Sub, in creation order */
    GPtrArray *observers;     /* ServerHook* (HOOK_SUBS), registration order */
    GPtrArray *checks;        /* ServerHook* (HOOK_CHECK), registration order */
    GPtrArray *unclaimed;     /* ServerHook* (HOOK_UNCLAIMED), registration order */
    GHashTable *watches;      /* literal subject -> GPtrArray of ServerHook* (HOOK_INTEREST) */
    guint n_watches;
    GPtrArray *info_flags;    /* char* names of INFO booleans set true, in the order set */
    GTree *info_strings;      /* name -> value: INFO strings after "cluster", sorted */
    int64_t start_ns;         /* wall clock at server_new, for /varz */
    /* what the cluster layer keeps here (remote interest comes through the trie) */
    uint64_t remote_subs;         /* ServerRemoteSubs in the trie */
    char *cluster_name;           /* client INFO "cluster"; NULL = none */
    char **connect_urls;          /* client INFO "connect_urls"; NULL = none */
    /* back-pressure (see OUTBOUND MEMORY) */
    size_t out_sum;               /* sum of the conns' pending_seen: outbound bytes queued */
    GPtrArray *paused;            /* Conn* we stopped reading, in pause order */
    EnvTimer bp_timer;
    int64_t bp_progress_ns;       /* when out_sum last went down while publishers waited */
    size_t bp_low_sum;            /* the lowest out_sum seen since then */
};

/* ------------------------------------------------------------------ subscriptions */

static void sub_unref(Sub *sub) {
    g_assert(sub->refs > 0);
    if (--sub->refs > 0) return;
    g_assert(sub->dead);
    g_free(sub->subject);
    g_free(sub->queue);
    g_free(sub->sid);
    g_free(sub);
}

static void subs_changed(Server *s, Sub *sub, bool added);

/* Take sub out of the trie; it stays allocated while a delivery loop holds it. */
static void sub_kill(Server *s, Sub *sub) {
    if (sub->dead) return;
    sub->dead = true;
    bool removed = sublist_remove(s->sl, sub->subject, sub->queue, sub);
    g_assert(removed);
    if (sub->forward != NULL)
        s->remote_subs--;
    else
        s->stats.subscriptions--;
    subs_changed(s, sub, false);
    sub_unref(sub);
}

/* ------------------------------------------------------------------ hooks
 *
 * HOW THE LAYERS ABOVE HEAR OF INTEREST
 *   One mechanism: every subscription entering or leaving the trie passes through
 *   subs_changed(), and that is the only place that tells anyone. Two kinds of hook hang
 *   off it, for the two questions the layers above ask:
 *   - an observer (server_observe_subs) hears of every LOCAL subscription, a client's or an
 *     internal one, added or removed, with its subject and queue. The route layer counts
 *     these into RS+/RS- (per subject, queue weights); remote subscriptions are not told,
 *     since a server announces only its own interest (the full-mesh rule, chapter 10).
 *     Registering replays what already exists as additions (JetStream's $JS.API.> made
 *     before the cluster layer, a client subscribed before it), so a late observer starts
 *     from the truth.
 *   - a watch (server_watch_interest) asks one literal subject "does anyone listen?", local
 *     and remote subscribers alike (a push consumer delivers to a peer's subscriber too).
 *
 * HOW INTEREST WATCHES WORK
 *   A watch is a literal subject (a push consumer's deliver subject) and a flag: does anyone
 *   listen? Every subscription entering or leaving the trie is checked against the watches
 *   it could match. A literal subscription can only match a watch on the same subject: one
 *   hash lookup. A wildcard one ("_INBOX.>") may match any watch: a scan of all of them, a
 *   cost paid per SUB/UNSUB of a wildcard, never per message. On an addition the flag turns
 *   true; on a removal the trie is asked again (another subscriber may still match) and the
 *   flag turns false only when nobody is left. nats-server does the same with its
 *   interest-change callbacks on the account's sublist.
 */
typedef enum { HOOK_SUBS, HOOK_INTEREST, HOOK_CHECK, HOOK_UNCLAIMED } HookKind;

struct ServerHook {
    HookKind kind;
    void *fn;
    void *ctx;
    char *subject;  /* HOOK_INTEREST */
    bool interest;  /* HOOK_INTEREST: the last state reported (or read at registration) */
};

static void watch_update(Server *s, ServerHook *h, const Sub *sub, bool added) {
    if (!subject_matches_pattern(sub->subject, h->subject)) return;
    bool now = added || server_has_interest(s, h->subject);
    if (now == h->interest) return;
    h->interest = now;
    ((ServerWatchFn)h->fn)(h->ctx, now);
}

/* Observers hear of local subscriptions (client and internal); watches of every kind,
 * remote ones too (a peer's subscriber is interest: a push consumer delivers to it). */
static void subs_changed(Server *s, Sub *sub, bool added) {
    if (s->observers->len > 0 && sub->forward == NULL) {
        ServerSubChange ch = {sub->subject, sub->queue, added, sub->conn == NULL};
        for (guint i = 0; i < s->observers->len; i++) {
            ServerHook *h = g_ptr_array_index(s->observers, i);
            ((ServerSubObserver)h->fn)(h->ctx, &ch);
        }
    }
    if (s->n_watches == 0) return;
    if (subject_is_literal(sub->subject, strlen(sub->subject))) {
        GPtrArray *list = g_hash_table_lookup(s->watches, sub->subject);
        for (guint i = 0; list != NULL && i < list->len; i++)
            watch_update(s, g_ptr_array_index(list, i), sub, added);
        return;
    }
    /* a wildcard: every watch it may match, in subject order so callbacks fire alike each run */
    g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(s->watches), (GCompareFunc)strcmp);
    for (GList *k = keys; k != NULL; k = k->next) {
        GPtrArray *list = g_hash_table_lookup(s->watches, k->data);
        for (guint i = 0; i < list->len; i++) watch_update(s, g_ptr_array_index(list, i), sub, added);
    }
}

static ServerHook *hook_new(HookKind kind, void *fn, void *ctx) {
    ServerHook *h = g_new0(ServerHook, 1);
    h->kind = kind;
    h->fn = fn;
    h->ctx = ctx;
    return h;
}

static gint conn_by_cid(gconstpointer a, gconstpointer b) {
    EnvConn x = (*(Conn *const *)a)->id, y = (*(Conn *const *)b)->id;
    return x < y ? -1 : x > y;
}

static gint sub_by_sid(gconstpointer a, gconstpointer b) {
    return strcmp((*(Sub *const *)a)->sid, (*(Sub *const *)b)->sid);
}

/* The local subscriptions that exist, as additions: internal ones in creation order, then
 * the clients' by connection id and sid (hash order never reaches an observer). */
static void replay_local_subs(Server *s, ServerHook *h) {
    for (guint i = 0; i < s->internal_subs->len; i++) {
        Sub *sub = &((ServerInternalSub *)g_ptr_array_index(s->internal_subs, i))->sub;
        if (sub->dead) continue;
        ServerSubChange ch = {sub->subject, sub->queue, true, true};
        ((ServerSubObserver)h->fn)(h->ctx, &ch);
    }
    g_autoptr(GPtrArray) conns = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->conns);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (!((Conn *)v)->closing) g_ptr_array_add(conns, v);
    g_ptr_array_sort(conns, conn_by_cid);
    for (guint i = 0; i < conns->len; i++) {
        Conn *c = g_ptr_array_index(conns, i);
        g_autoptr(GPtrArray) subs = g_ptr_array_new();
        g_hash_table_iter_init(&it, c->subs);
        while (g_hash_table_iter_next(&it, NULL, &v))
            if (!((Sub *)v)->dead) g_ptr_array_add(subs, v);
        g_ptr_array_sort(subs, sub_by_sid);
        for (guint j = 0; j < subs->len; j++) {
            Sub *sub = g_ptr_array_index(subs, j);
            ServerSubChange ch = {sub->subject, sub->queue, true, false};
            ((ServerSubObserver)h->fn)(h->ctx, &ch);
        }
    }
}

ServerHook *server_observe_subs(Server *s, ServerSubObserver fn, void *ctx) {
    ServerHook *h = hook_new(HOOK_SUBS, (void *)fn, ctx);
    g_ptr_array_add(s->observers, h);
    replay_local_subs(s, h);
    return h;
}

ServerHook *server_watch_interest(Server *s, const char *subject, ServerWatchFn fn, void *ctx) {
    g_assert(subject_is_literal(subject, strlen(subject)));
    ServerHook *h = hook_new(HOOK_INTEREST, (void *)fn, ctx);
    h->subject = g_strdup(subject);
    h->interest = server_has_interest(s, subject);
    GPtrArray *list = g_hash_table_lookup(s->watches, subject);
    if (list == NULL) {
        list = g_ptr_array_new();
        g_hash_table_insert(s->watches, h->subject, list);
    }
    g_ptr_array_add(list, h);
    s->n_watches++;
    return h;
}

ServerHook *server_add_check(Server *s, ServerCheckFn fn, void *ctx) {
    ServerHook *h = hook_new(HOOK_CHECK, (void *)fn, ctx);
    g_ptr_array_add(s->checks, h);
    return h;
}

ServerHook *server_on_unclaimed(Server *s, ServerMsgHandler fn, void *ctx) {
    ServerHook *h = hook_new(HOOK_UNCLAIMED, (void *)fn, ctx);
    g_ptr_array_add(s->unclaimed, h);
    return h;
}

void server_remove_hook(Server *s, ServerHook *h) {
    if (h == NULL) return;
    if (h->kind == HOOK_SUBS) {
        g_assert(g_ptr_array_remove(s->observers, h));
    } else if (h->kind == HOOK_CHECK) {
        g_assert(g_ptr_array_remove(s->checks, h));
    } else if (h->kind == HOOK_UNCLAIMED) {
        g_assert(g_ptr_array_remove(s->unclaimed, h));
    } else {
        GPtrArray *list = g_hash_table_lookup(s->watches, h->subject);
        g_assert(list != NULL && g_ptr_array_remove(list, h));
        s->n_watches--;
        if (list->len == 0) {
            g_hash_table_remove(s->watches, h->subject);
            g_ptr_array_free(list, TRUE);
        } else {
            /* the key may be this hook's string: re-key on a survivor's */
            gpointer key = NULL;
            g_hash_table_lookup_extended(s->watches, h->subject, &key, NULL);
            if (key == h->subject) {
                ServerHook *first = g_ptr_array_index(list, 0);
                g_hash_table_steal(s->watches, h->subject);
                g_hash_table_insert(s->watches, first->subject, list);
            }
        }
    }
    g_free(h->subject);
    g_free(h);
}

void server_info_set_flag(Server *s, const char *name, bool value) {
    for (guint i = 0; i < s->info_flags->len; i++)
        if (strcmp(g_ptr_array_index(s->info_flags, i), name) == 0) {
            if (!value) g_ptr_array_remove_index(s->info_flags, i);
            return;
        }
    if (value) g_ptr_array_add(s->info_flags, g_strdup(name));
}

static int info_name_cmp(gconstpointer a, gconstpointer b, gpointer unused) { return strcmp(a, b); }

void server_info_set_string(Server *s, const char *name, const char *value) {
    if (value == NULL) g_tree_remove(s->info_strings, name);
    else g_tree_replace(s->info_strings, g_strdup(name), g_strdup(value));
}

const char *server_info_string(Server *s, const char *name) { return g_tree_lookup(s->info_strings, name); }

/* ------------------------------------------------------------------ output */

static void conn_close(Conn *c, const char *reason);

static void conn_send_str(Conn *c, const char *str) {
    env_conn_send1(c->srv->env, c->id, str, strlen(str));
}

/* Send -ERR; close the connection if nats-server does for this error. */
static void conn_send_err(Conn *c, MjError err) {
    const MjErrorInfo *info = mj_error_info(err);
    if (info->fatal == 2) { /* nats-server closes without a word */
        env_log(c->srv->env, ENV_LOG_WARN, "%s - cid:%" G_GUINT64_FORMAT " - %s", c->peer, c->id,
                info->text);
        conn_close(c, info->text);
        return;
    }
    g_autoptr(GString) line = g_string_new(NULL);
    proto_encode_err(line, info->text);
    env_conn_send1(c->srv->env, c->id, line->str, line->len);
    c->srv->stats.proto_errors++;
    env_log(c->srv->env, ENV_LOG_WARN, "%s - cid:%" G_GUINT64_FORMAT " - %s", c->peer, c->id,
            info->text);
    if (info->fatal) conn_close(c, info->text);
}

/* Queue one MSG/HMSG for a connection subscriber. The payload and headers are not copied
 * here: the slices point at the publisher's bytes and the environment copies them once into
 * this connection's outbound buffer. */
/* OUTBOUND MEMORY: BACK-PRESSURE ON PUBLISHERS
 *   Each connection's outbound buffer is capped (max_pending, 64 MiB: past it the reader is
 *   a slow consumer and is cut), but a cap per connection is no cap per broker: sixteen
 *   subscribers that never read grew the broker to 1.23 GB, and the publisher was never
 *   slowed. nats-server stalls a fast producer's read loop while a consumer's buffer is
 *   over its limit. minijet does it broker-wide, through the environment:
 *     - out_sum tracks the bytes queued for all client connections (each conn's last seen
 *       env_conn_pending; refreshed exactly on every tick below);
 *     - when a connection's input has been processed and out_sum is over
 *       LIMIT_OUT_TOTAL_BYTES, we stop reading it (env_conn_read_pause): its next bytes wait
 *       in the kernel, TCP's window fills, and the publisher's own writes block;
 *     - every LIMIT_OUT_POLL_NS the tick recomputes out_sum; once it is at most
 *       LIMIT_OUT_RESUME_BYTES every paused connection is read again, in pause order;
 *     - readers that never read would keep publishers paused for ever, so while out_sum is
 *       over the limit and has not gone down for LIMIT_OUT_STALL_NS, the connection holding
 *       the most is cut as a slow consumer (nats-server cuts such a reader at its write
 *       deadline, 2 s by default).
 *   The bound: LIMIT_OUT_TOTAL_BYTES plus what one read (LIMIT_READ_CHUNK_BYTES) fans out
 *   to, per connection processed in the same loop turn. */
static void out_account(Server *s, Conn *c, size_t pending) {
    s->out_sum = s->out_sum - c->pending_seen + pending;
    c->pending_seen = pending;
}

static void bp_tick(void *arg);

static void bp_resume_all(Server *s) {
    for (guint i = 0; i < s->paused->len; i++) {
        Conn *c = g_ptr_array_index(s->paused, i);
        c->read_paused = false;
        env_conn_read_pause(s->env, c->id, false);
    }
    g_ptr_array_set_size(s->paused, 0);
}

static void bp_pause(Server *s, Conn *c) {
    if (c->read_paused || c->closing) return;
    c->read_paused = true;
    g_ptr_array_add(s->paused, c);
    s->stats.publishers_paused++;
    env_conn_read_pause(s->env, c->id, true);
    if (s->bp_timer == 0) {
        env_log(s->env, ENV_LOG_WARN, "Outbound memory %zu bytes over %d: pausing fast publishers",
                s->out_sum, LIMIT_OUT_TOTAL_BYTES);
        s->bp_progress_ns = env_now_ns(s->env);
        s->bp_low_sum = s->out_sum;
        s->bp_timer = env_timer_add(s->env, LIMIT_OUT_POLL_NS, bp_tick, s);
    }
}

static void conn_close(Conn *c, const char *reason);

static void bp_tick(void *arg) {
    Server *s = arg;
    s->bp_timer = 0;
    Conn *largest = NULL;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->conns); /* a sum and a max with a tie rule: order-free */
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Conn *c = v;
        if (c->closing) continue;
        out_account(s, c, env_conn_pending(s->env, c->id));
        if (largest == NULL || c->pending_seen > largest->pending_seen ||
            (c->pending_seen == largest->pending_seen && c->id < largest->id))
            largest = c;
    }
    if (s->out_sum <= LIMIT_OUT_RESUME_BYTES) {
        env_log(s->env, ENV_LOG_INFO, "Outbound memory %zu bytes: resuming %u paused publishers",
                s->out_sum, s->paused->len);
        bp_resume_all(s);
        return;
    }
    int64_t now = env_now_ns(s->env);
    if (s->out_sum < s->bp_low_sum) {
        s->bp_low_sum = s->out_sum;
        s->bp_progress_ns = now;
    } else if (now - s->bp_progress_ns >= LIMIT_OUT_STALL_NS && largest != NULL && largest->pending_seen > 0) {
        s->stats.slow_consumers++;
        env_log(s->env, ENV_LOG_WARN, "%s - cid:%" G_GUINT64_FORMAT " - Slow Consumer Detected: "
                "holds %zu of %zu outbound bytes (over %d) and nothing drained for %lld ms",
                largest->peer, largest->id, largest->pending_seen, s->out_sum, LIMIT_OUT_TOTAL_BYTES,
                (long long)(LIMIT_OUT_STALL_NS / 1000000));
        conn_close(largest, "Slow Consumer (Outbound Memory)");
        s->bp_progress_ns = now;
        s->bp_low_sum = s->out_sum;
    }
    if (s->paused->len > 0) s->bp_timer = env_timer_add(s->env, LIMIT_OUT_POLL_NS, bp_tick, s);
}

static void deliver_to_conn(Server *s, Sub *sub, const ServerMsg *m) {
    Conn *c = sub->conn;
    if (c->closing) return;
    /* a subject and a reply may each be as long as a control line (limits.h), and an
     * internal publisher's (JetStream's) are not bounded by a client's line */
    char line[5 + LIMIT_MAX_SUBJECT_BYTES + 1 + LIMIT_MAX_SID_BYTES + 1 + LIMIT_MAX_SUBJECT_BYTES + 64];
    g_assert(proto_msg_line_max(m->subject_len, sub->sid_len, m->reply_len) <= sizeof line);
    size_t n = proto_encode_msg_line(line, m->subject, m->subject_len, sub->sid, sub->sid_len,
                                     m->reply, m->reply_len, m->hdr_len, m->payload_len);
    EnvSlice sl[4] = {{line, n}, {m->hdr, m->hdr_len}, {m->payload, m->payload_len}, {"\r\n", 2}};
    env_conn_send(s->env, c->id, sl, 4);
    s->stats.out_msgs++;
    s->stats.out_bytes += m->hdr_len + m->payload_len;
    c->out_msgs++;
    c->out_bytes += m->hdr_len + m->payload_len;
    out_account(s, c, env_conn_pending(s->env, c->id));
    if (c->pending_seen > s->cfg.max_pending_bytes) {
        s->stats.slow_consumers++;
        env_log(s->env, ENV_LOG_WARN, "%s - cid:%" G_GUINT64_FORMAT
                " - Slow Consumer Detected: MaxPending of %zu Exceeded",
                c->peer, c->id, s->cfg.max_pending_bytes);
        conn_close(c, "Slow Consumer (Pending Bytes)");
    }
}

static void deliver(Server *s, Sub *sub, const ServerMsg *m) {
    if (sub->dead) return;
    AuthClient *ac = sub->conn != NULL ? sub->conn->auth : NULL;
    /* a wildcard SUB wider than a deny rule: the denied subjects are filtered here */
    if (ac != NULL && !auth_client_can_receive(ac, m->subject, m->subject_len)) return;
    sub->delivered++;
    /* allow_responses: the receiver may now publish (once, by default) to the reply subject */
    if (ac != NULL && m->reply_len > 0) auth_client_note_request(ac, m->reply, m->reply_len, env_now_ns(s->env));
    if (sub->conn != NULL)
        deliver_to_conn(s, sub, m);
    else if (s->call_depth < SERVER_MAX_CALL_DEPTH) {
        s->call_depth++;
        sub->fn(sub->ctx, m);
        s->call_depth--;
    } else
        env_log(s->env, ENV_LOG_ERROR, "internal delivery on %.*s dropped: call depth %d",
                (int)m->subject_len, m->subject, s->call_depth);
    if (sub->max > 0 && sub->delivered >= (uint64_t)sub->max && !sub->dead) {
        if (sub->conn != NULL) g_hash_table_remove(sub->conn->subs, sub->sid);
        sub_kill(s, sub);
    }
}

/* ------------------------------------------------------------------ routing
 *
 * HOW IT WORKS
 *   route() asks the trie for every subscription matching the subject (a cached hash
 *   lookup for hot subjects), then delivers: one copy per plain subscription, and for
 *   each queue group one member chosen uniformly at random (randomness from the
 *   environment, so the simulator replays the choice).
 *
 * WHY COLLECT FIRST
 *   Delivering can change the trie under our feet: an auto-unsubscribe reaching its max,
 *   a slow consumer being closed, or an internal handler (JetStream) subscribing or
 *   unsubscribing. The trie's result is only valid until the next change, so we first
 *   copy the targets into a small array and take a reference on each; a target killed
 *   meanwhile is skipped. For the common 1:1 case that is one pointer copy.
 */
#define ROUTE_STACK_TARGETS 32

/* A member counts `weight` times: 1 for a local one, the member count a peer announced for
 * a remote one (spec 2.5: no local preference). Without remote members this is a uniform
 * pick from a random start, skipping an echo=false publisher's own members. With them, a
 * weighted draw over the members left. */
static Sub *pick_queue_member(Server *s, GPtrArray *members, Conn *from, bool local_only) {
    guint n = members->len;
    uint64_t total = 0;
    bool remote = false;
    for (guint i = 0; i < n; i++) {
        Sub *m = g_ptr_array_index(members, i);
        remote |= m->forward != NULL;
    }
    if (!remote) {
        guint start = n > 1 ? (guint)(env_random_u64(s->env) % n) : 0;
        for (guint i = 0; i < n; i++) {
            Sub *m = g_ptr_array_index(members, (start + i) % n);
            if (from != NULL && m->conn == from && !from->echo) continue;
            return m;
        }
        return NULL;
    }
    for (guint i = 0; i < n; i++) {
        Sub *m = g_ptr_array_index(members, i);
        if ((from != NULL && m->conn == from && !from->echo) || (local_only && m->forward != NULL)) continue;
        total += m->forward != NULL ? m->weight : 1;
    }
    if (total == 0) return NULL;
    uint64_t r = env_random_u64(s->env) % total;
    for (guint i = 0; i < n; i++) {
        Sub *m = g_ptr_array_index(members, i);
        if ((from != NULL && m->conn == from && !from->echo) || (local_only && m->forward != NULL)) continue;
        uint64_t w = m->forward != NULL ? m->weight : 1;
        if (r < w) return m;
        r -= w;
    }
    return NULL;
}

/* Remote targets of one message, gathered so that each peer gets at most one copy naming
 * every queue group chosen on it. */
typedef struct Forward {
    Sub *first;              /* the peer's first target: its forward fn and ctx */
    const char *queues[ROUTE_STACK_TARGETS];
    size_t nq;
} Forward;

static void forward_all(Sub **targets, size_t k, const ServerMsg *m) {
    Forward fw[8];
    size_t nfw = 0;
    for (size_t i = 0; i < k; i++) {
        Sub *t = targets[i];
        if (t->forward == NULL || t->dead) continue;
        size_t j = 0;
        while (j < nfw && fw[j].first->ctx != t->ctx) j++;
        if (j == nfw) {
            if (nfw == G_N_ELEMENTS(fw)) { /* many peers: flush the batch, start another */
                for (size_t x = 0; x < nfw; x++) fw[x].first->forward(fw[x].first->ctx, m, fw[x].queues, fw[x].nq);
                nfw = j = 0;
            }
            fw[nfw++] = (Forward){.first = t};
        }
        if (t->queue != NULL && fw[j].nq < G_N_ELEMENTS(fw[j].queues)) fw[j].queues[fw[j].nq++] = t->queue;
    }
    for (size_t x = 0; x < nfw; x++) fw[x].first->forward(fw[x].first->ctx, m, fw[x].queues, fw[x].nq);
}

/* Returns the number of subscriptions the message was delivered to. Subscribers are found
 * by `match` (normally m->subject; JetStream delivery matches a consumer's deliver subject
 * while the MSG line shows the stored message's subject). */
static bool queue_named(const SublistQueue *q, const char *const *queues, size_t nq) {
    for (size_t i = 0; i < nq; i++)
        if (strcmp(q->name, queues[i]) == 0) return true;
    return false;
}

/* `routed` = the message came from a peer server (server_deliver_routed): it goes to local
 * subscribers only, and to the queue groups the peer named in `queues` (spec 2.4, 2.6). */
static size_t route_match(Server *s, Conn *from, const char *match, size_t match_len, const ServerMsg *m,
                          bool routed, const char *const *queues, size_t nq) {
    const SublistResult *r = sublist_match(s->sl, match, match_len);
    size_t n = r->plain->len + r->queues->len;
    if (n == 0) return 0;
    Sub *stack[ROUTE_STACK_TARGETS];
    Sub **targets = n <= ROUTE_STACK_TARGETS ? stack : g_new(Sub *, n);
    size_t k = 0, remote = 0;
    for (guint i = 0; i < r->plain->len; i++) {
        Sub *sub = g_ptr_array_index(r->plain, i);
        if (from != NULL && sub->conn == from && !from->echo) continue;
        if (routed && sub->forward != NULL) continue;
        targets[k++] = sub;
    }
    for (guint i = 0; i < r->queues->len; i++) {
        const SublistQueue *q = g_ptr_array_index(r->queues, i);
        if (routed && !queue_named(q, queues, nq)) continue;
        Sub *sub = pick_queue_member(s, q->items, from, routed);
        if (sub != NULL) targets[k++] = sub;
    }
    remote = 0;
    for (size_t i = 0; i < k; i++) {
        targets[i]->refs++;
        remote += targets[i]->forward != NULL;
    }
    for (size_t i = 0; i < k; i++)
        if (targets[i]->forward == NULL) deliver(s, targets[i], m);
    if (remote > 0 && (match_len != m->subject_len || memcmp(match, m->subject, match_len) != 0)) {
        /* Delivered on another subject than its own (a JetStream push consumer's deliver
         * subject): the peer must match on `match` but show m->subject. As nats-server does,
         * the routed copy carries "<reply>@<match>" as its reply (server_deliver_routed
         * splits it again). */
        g_autofree char *reply = g_strdup_printf("%.*s@%.*s", (int)m->reply_len, m->reply ? m->reply : "",
                                                 (int)match_len, match);
        ServerMsg fm = *m;
        fm.reply = reply;
        fm.reply_len = strlen(reply);
        forward_all(targets, k, &fm);
    } else if (remote > 0) {
        forward_all(targets, k, m);
    }
    for (size_t i = 0; i < k; i++) sub_unref(targets[i]);
    if (targets != stack) g_free(targets);
    return k;
}

static size_t route_on(Server *s, Conn *from, const char *match, size_t match_len, const ServerMsg *m) {
    return route_match(s, from, match, match_len, m, false, NULL, 0);
}

static size_t route(Server *s, Conn *from, const ServerMsg *m) {
    return route_on(s, from, m->subject, m->subject_len, m);
}

/* A request nobody can answer: tell the requester at once with a 503 status on its reply
 * subject, delivered only to the requester's own subscriptions (spec 1.9). */
static void send_no_responders(Server *s, Conn *from, const ServerMsg *m) {
    static const char status[] = "NATS/1.0 503\r\n\r\n";
    const SublistResult *r = sublist_match(s->sl, m->reply, m->reply_len);
    ServerMsg nr = {.subject = m->reply, .subject_len = m->reply_len, .hdr = (const uint8_t *)status,
                    .hdr_len = sizeof status - 1, .payload = (const uint8_t *)"", .payload_len = 0};
    for (guint i = 0; i < r->plain->len; i++) {
        Sub *sub = g_ptr_array_index(r->plain, i);
        if (sub->conn == from) {
            deliver_to_conn(s, sub, &nr);
            return;
        }
    }
}

/* ------------------------------------------------------------------ protocol callbacks */

/* Keep a CONNECT string member for monitoring; absent or not a string = keep what we had. */
static void connect_keep_string(JsonObject *o, const char *member, char **field) {
    const char *v = NULL;
    if (!jsonu_get_string(o, member, &v) || v == NULL) return;
    g_free(*field);
    *field = g_strdup(v);
}

/* ------------------------------------------------------------------ authorization
 * (auth.c decides; here: when to ask, and the answers nats-server gives) */

static bool auth_on(const Server *s) { return auth_config_required(s->cfg.auth); }

/* With auth on and no accepted CONNECT yet. */
static bool awaiting_auth(Conn *c) { return !c->connected && auth_on(c->srv); }

static bool auth_violation(Conn *c, const char *user);
static bool connect_accept(Conn *c, const AuthPermissions *perms, const char *user);

/* Any operation but CONNECT before an accepted CONNECT, with auth on, is an 'Authorization
 * Violation' (nats-server's parser) unless a no_auth_user is configured: then the connection
 * becomes that user, so a telnet demo can start with SUB. FALSE: the connection is closing. */
static bool auth_gate(Conn *c) {
    if (!awaiting_auth(c)) return true;
    const AuthCreds none = {NULL, NULL, NULL};
    const AuthPermissions *perms = NULL;
    const char *user = NULL;
    const AuthConfig *a = c->srv->cfg.auth;
    if (a->no_auth_user == NULL || !auth_check(a, &none, &perms, &user)) return auth_violation(c, NULL);
    c->connected = connect_accept(c, perms, user);
    return true;
}

static bool auth_violation(Conn *c, const char *user) {
    const AuthConfig *a = c->srv->cfg.auth;
    if (a->users != NULL)
        env_log(c->srv->env, ENV_LOG_ERROR, "%s - cid:%" G_GUINT64_FORMAT " - authentication error - User \"%s\"",
                c->peer, c->id, user ? user : "");
    else
        env_log(c->srv->env, ENV_LOG_ERROR, "%s - cid:%" G_GUINT64_FORMAT " - authentication error", c->peer, c->id);
    g_autoptr(GString) line = g_string_new(NULL); /* logged above: not through conn_send_err */
    proto_encode_err(line, mj_error_info(MJ_ERR_PROTO_AUTH_VIOLATION)->text);
    env_conn_send1(c->srv->env, c->id, line->str, line->len);
    c->srv->stats.proto_errors++;
    conn_close(c, "Authentication Failure");
    return false;
}

static void auth_timer_fired(void *arg) {
    Conn *c = arg;
    c->auth_timer = 0;
    if (c->closing || c->connected) return;
    conn_send_err(c, MJ_ERR_PROTO_AUTH_TIMEOUT);
}

/* -ERR 'Permissions Violation for Publish to "x"' (or Subscription to "x" [using queue "q"]);
 * the connection stays open. `what` is "Publish" or "Subscription". */
static void permission_violation(Conn *c, const char *what, const char *subject, size_t subject_len,
                                 const char *queue, size_t queue_len, const char *sid, size_t sid_len) {
    g_autoptr(GString) text = g_string_new(mj_error_info(MJ_ERR_PROTO_PERMISSIONS_VIOLATION)->text);
    g_string_append_printf(text, " for %s to \"%.*s\"", what, (int)subject_len, subject);
    if (queue != NULL) g_string_append_printf(text, " using queue \"%.*s\"", (int)queue_len, queue);
    g_autoptr(GString) line = g_string_new(NULL);
    proto_encode_err(line, text->str);
    env_conn_send1(c->srv->env, c->id, line->str, line->len);
    c->srv->stats.proto_errors++;
    g_autoptr(GString) log = g_string_new(NULL);
    g_string_append_printf(log, "%s Violation - User \"%s\", Subject \"%.*s\"", what[0] == 'P' ? "Publish" : "Subscription",
                           c->user ? c->user : "", (int)subject_len, subject);
    if (queue != NULL) g_string_append_printf(log, ", Queue: \"%.*s\"", (int)queue_len, queue);
    if (sid != NULL) g_string_append_printf(log, ", SID %.*s", (int)sid_len, sid);
    env_log(c->srv->env, ENV_LOG_ERROR, "%s - cid:%" G_GUINT64_FORMAT " - %s", c->peer, c->id, log->str);
}

/* CONNECT with auth on: check the credentials; on success take the user's permissions. */
static bool connect_authenticate(Conn *c, JsonObject *o) {
    AuthCreds cr = {NULL, NULL, NULL};
    jsonu_get_string(o, "user", &cr.user);
    jsonu_get_string(o, "pass", &cr.pass);
    jsonu_get_string(o, "auth_token", &cr.token);
    const AuthPermissions *perms = NULL;
    const char *user = NULL;
    if (!auth_check(c->srv->cfg.auth, &cr, &perms, &user)) return auth_violation(c, cr.user);
    return connect_accept(c, perms, user);
}

static bool connect_accept(Conn *c, const AuthPermissions *perms, const char *user) {
    env_timer_cancel(c->srv->env, c->auth_timer);
    c->auth_timer = 0;
    g_free(c->user);
    c->user = g_strdup(user);
    auth_client_free(c->auth);
    c->auth = perms != NULL ? auth_client_new(perms) : NULL;
    return true;
}

static bool on_connect(void *ctx, const char *json, size_t len) {
    Conn *c = ctx;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root = NULL;
    if (!jsonu_load(parser, json, len) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        /* nats-server closes on bad CONNECT JSON without an -ERR (spec 1.3) */
        env_log(c->srv->env, ENV_LOG_WARN, "%s - cid:%" G_GUINT64_FORMAT " - bad CONNECT JSON",
                c->peer, c->id);
        conn_close(c, "bad CONNECT");
        return false;
    }
    JsonObject *o = json_node_get_object(root);
    c->verbose = json_object_get_boolean_member_with_default(o, "verbose", TRUE);
    c->pedantic = json_object_get_boolean_member_with_default(o, "pedantic", TRUE);
    c->echo = json_object_get_boolean_member_with_default(o, "echo", TRUE);
    c->headers = json_object_get_boolean_member_with_default(o, "headers", FALSE);
    c->no_responders = json_object_get_boolean_member_with_default(o, "no_responders", FALSE);
    connect_keep_string(o, "name", &c->name); /* shown by /connz */
    connect_keep_string(o, "lang", &c->lang);
    connect_keep_string(o, "version", &c->version);
    if (auth_on(c->srv) && !connect_authenticate(c, o)) return false;
    gint64 protocol = json_object_get_int_member_with_default(o, "protocol", 0);
    c->protocol = protocol;
    if (protocol > 1) {
        conn_send_err(c, MJ_ERR_PROTO_INVALID_PROTOCOL);
        return false;
    }
    if (c->no_responders && !c->headers) {
        conn_send_err(c, MJ_ERR_PROTO_NO_RESP_HEADERS);
        return false;
    }
    c->connected = true;
    if (c->verbose) conn_send_str(c, PROTO_OK);
    return true;
}

static bool on_pub(void *ctx, const ProtoPub *p) {
    Conn *c = ctx;
    Server *s = c->srv;
    if (!auth_gate(c)) return false;
    if (p->is_hpub && !c->headers) {
        /* HPUB without negotiated headers: nats-server closes without -ERR (spec 1.4) */
        conn_close(c, "HPUB without headers support");
        return false;
    }
    if (c->pedantic && !subject_is_literal(p->subject, p->subject_len))
        conn_send_err(c, MJ_ERR_PROTO_INVALID_PUB_SUBJECT); /* not fatal: still routed */
    s->stats.in_msgs++;
    s->stats.in_bytes += p->hdr_len + p->payload_len;
    c->in_msgs++;
    c->in_bytes += p->hdr_len + p->payload_len;
    if (c->auth != NULL && !auth_client_can_publish(c->auth, p->subject, p->subject_len, env_now_ns(s->env))) {
        permission_violation(c, "Publish", p->subject, p->subject_len, NULL, 0, NULL, 0);
        return !c->closing; /* no +OK, nothing routed */
    }
    if (c->verbose) conn_send_str(c, PROTO_OK);
    ServerMsg m = {p->subject, p->subject_len, p->reply, p->reply_len,
                   p->hdr, p->hdr_len, p->payload, p->payload_len, c->id};
    size_t delivered = route(s, c, &m);
    if (delivered == 0 && p->reply_len > 0 && c->headers && c->no_responders && !c->closing)
        send_no_responders(s, c, &m);
    return !c->closing;
}

static bool on_sub(void *ctx, const ProtoSub *p) {
    Conn *c = ctx;
    Server *s = c->srv;
    if (!auth_gate(c)) return false;
    /* the trie takes C strings: a NUL inside the subject or queue would cut it short */
    if (!subject_valid_subscribe(p->subject, p->subject_len) || memchr(p->subject, '\0', p->subject_len) != NULL ||
        (p->queue != NULL && memchr(p->queue, '\0', p->queue_len) != NULL)) {
        conn_send_err(c, MJ_ERR_PROTO_INVALID_SUBJECT);
        return !c->closing;
    }
    if (c->auth != NULL && !auth_client_can_subscribe(c->auth, p->subject, p->subject_len, p->queue, p->queue_len)) {
        permission_violation(c, "Subscription", p->subject, p->subject_len, p->queue, p->queue_len, p->sid, p->sid_len);
        return !c->closing;
    }
    g_autofree char *sid = g_strndup(p->sid, p->sid_len);
    if (g_hash_table_contains(c->subs, sid)) { /* a repeated sid is ignored (spec 1.5) */
        if (c->verbose) conn_send_str(c, PROTO_OK);
        return true;
    }
    if (s->cfg.max_subs_per_conn > 0 && g_hash_table_size(c->subs) >= (guint)s->cfg.max_subs_per_conn) {
        conn_send_err(c, MJ_ERR_PROTO_MAX_SUBSCRIPTIONS);
        return !c->closing;
    }
    Sub *sub = g_new0(Sub, 1);
    sub->refs = 1;
    sub->conn = c;
    sub->subject = g_strndup(p->subject, p->subject_len);
    sub->queue = p->queue != NULL ? g_strndup(p->queue, p->queue_len) : NULL;
    sub->sid = g_steal_pointer(&sid);
    sub->sid_len = p->sid_len;
    sub->max = -1;
    if (!sublist_insert(s->sl, sub->subject, sub->queue, sub)) {
        /* the trie has the last word on what is valid (e.g. a queue name holding a form
         * feed, which the parser does not split on): bad input, not a programmer error;
         * or it is full (limits.h, LIMIT_SUBLIST_NODES_COUNT) */
        bool full = sublist_full(s->sl, sub->subject);
        sub->dead = true;
        sub_unref(sub);
        if (full)
            env_log(s->env, ENV_LOG_WARN, "%s - cid:%" G_GUINT64_FORMAT " - subscription refused: the "
                    "subject trie is at its limit of %zu nodes", c->peer, c->id, s->cfg.max_trie_nodes);
        conn_send_err(c, full ? MJ_ERR_PROTO_MAX_SUBSCRIPTIONS : MJ_ERR_PROTO_INVALID_SUBJECT);
        return !c->closing;
    }
    g_hash_table_insert(c->subs, sub->sid, sub);
    s->stats.subscriptions++;
    subs_changed(s, sub, true);
    if (c->verbose) conn_send_str(c, PROTO_OK);
    return true;
}

static bool on_unsub(void *ctx, const ProtoUnsub *p) {
    Conn *c = ctx;
    if (!auth_gate(c)) return false;
    g_autofree char *sid = g_strndup(p->sid, p->sid_len);
    Sub *sub = g_hash_table_lookup(c->subs, sid);
    if (sub != NULL) { /* an unknown sid is ignored */
        if (p->max > 0 && sub->delivered < (uint64_t)p->max) {
            sub->max = p->max;
        } else {
            g_hash_table_remove(c->subs, sid);
            sub_kill(c->srv, sub);
        }
    }
    if (c->verbose) conn_send_str(c, PROTO_OK);
    return true;
}

static bool on_ping(void *ctx) {
    if (!auth_gate(ctx)) return false;
    conn_send_str(ctx, PROTO_PONG);
    return true;
}

static bool on_pong(void *ctx) {
    Conn *c = ctx;
    if (!auth_gate(c)) return false;
    c->pings_out = 0;
    return true;
}

static const ProtoCallbacks proto_callbacks = {
    .on_connect = on_connect,
    .on_pub = on_pub,
    .on_sub = on_sub,
    .on_unsub = on_unsub,
    .on_ping = on_ping,
    .on_pong = on_pong,
};

/* ------------------------------------------------------------------ keep-alive */

/* Every ping interval: if the client left too many PINGs unanswered it is gone (a dead
 * peer whose TCP connection never said so); otherwise ask again. */
static void ping_timer_fired(void *arg) {
    Conn *c = arg;
    Server *s = c->srv;
    c->ping_timer = 0;
    if (c->closing) return;
    if (c->pings_out >= s->cfg.ping_max_outstanding) {
        conn_send_err(c, MJ_ERR_PROTO_STALE_CONNECTION);
        return;
    }
    c->pings_out++;
    conn_send_str(c, PROTO_PING);
    c->ping_timer = env_timer_add(s->env, s->cfg.ping_interval_ns, ping_timer_fired, c);
}

/* ------------------------------------------------------------------ connections */

bool server_info_flag(Server *s, const char *name) {
    for (guint i = 0; i < s->info_flags->len; i++)
        if (strcmp(g_ptr_array_index(s->info_flags, i), name) == 0) return true;
    return false;
}

static void send_info(Conn *c) {
    Server *s = c->srv;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "server_id");
    json_builder_add_string_value(b, s->server_id);
    json_builder_set_member_name(b, "server_name");
    json_builder_add_string_value(b, s->cfg.server_name);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, MINIJET_NATS_VERSION); /* clients gate features on it */
    json_builder_set_member_name(b, "proto");
    json_builder_add_int_value(b, 1);
    json_builder_set_member_name(b, "go");
    json_builder_add_string_value(b, "minijet (C)");
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, s->cfg.host);
    json_builder_set_member_name(b, "port");
    json_builder_add_int_value(b, s->cfg.port);
    json_builder_set_member_name(b, "headers");
    json_builder_add_boolean_value(b, TRUE);
    /* Clients then send their credentials in CONNECT. With a no_auth_user nats-server leaves
     * it out (a client that sends nothing is that user), though the rules still apply. */
    if (auth_on(s) && s->cfg.auth->no_auth_user == NULL) {
        json_builder_set_member_name(b, "auth_required");
        json_builder_add_boolean_value(b, TRUE);
    }
    json_builder_set_member_name(b, "max_payload");
    json_builder_add_int_value(b, (gint64)s->cfg.max_payload_bytes);
    /* "jetstream" is always there (false until a layer above sets it), others when set */
    json_builder_set_member_name(b, "jetstream");
    json_builder_add_boolean_value(b, server_info_flag(s, "jetstream"));
    for (guint i = 0; i < s->info_flags->len; i++) {
        if (strcmp(g_ptr_array_index(s->info_flags, i), "jetstream") == 0) continue;
        json_builder_set_member_name(b, g_ptr_array_index(s->info_flags, i));
        json_builder_add_boolean_value(b, TRUE);
    }
    json_builder_set_member_name(b, "client_id");
    json_builder_add_int_value(b, (gint64)c->id);
    json_builder_set_member_name(b, "client_ip");
    g_autofree char *ip = g_strndup(c->peer, strcspn(c->peer, ":"));
    json_builder_add_string_value(b, ip);
    if (s->cluster_name != NULL) {
        json_builder_set_member_name(b, "cluster");
        json_builder_add_string_value(b, s->cluster_name);
    }
    for (GTreeNode *n = g_tree_node_first(s->info_strings); n != NULL; n = g_tree_node_next(n)) {
        json_builder_set_member_name(b, g_tree_node_key(n));
        json_builder_add_string_value(b, g_tree_node_value(n));
    }
    if (s->connect_urls != NULL) {
        json_builder_set_member_name(b, "connect_urls");
        json_builder_begin_array(b);
        for (char **u = s->connect_urls; *u != NULL; u++) json_builder_add_string_value(b, *u);
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    g_autofree char *json = json_generator_to_data(gen, NULL);
    g_autofree char *line = g_strdup_printf("INFO %s \r\n", json);
    conn_send_str(c, line);
}

static void on_accept(void *core, EnvConn id, const char *peer_ip, int peer_port) {
    Server *s = core;
    Conn *c = g_new0(Conn, 1);
    c->srv = s;
    c->id = id;
    g_snprintf(c->peer, sizeof c->peer, "%s:%d", peer_ip, peer_port);
    g_strlcpy(c->ip, peer_ip, sizeof c->ip);
    c->port = peer_port;
    c->start_ns = c->last_activity_ns = env_wall_ns(s->env);
    ProtoLimits lim = {s->cfg.max_payload_bytes, s->cfg.max_control_line_bytes};
    proto_parser_init(&c->parser, &lim);
    c->subs = g_hash_table_new(g_str_hash, g_str_equal);
    /* Until CONNECT says otherwise (nats-server's defaults for a client that never sends it:
     * a PUB or SUB before CONNECT is answered +OK, a wildcard PUB refused). */
    c->verbose = c->pedantic = c->echo = true;
    g_hash_table_insert(s->conns, &c->id, c);
    s->stats.conns_accepted++;
    s->stats.conns_current++;
    if (s->stats.conns_current > (uint64_t)s->cfg.max_connections) {
        conn_send_err(c, MJ_ERR_PROTO_MAX_CONNECTIONS);
        return;
    }
    env_log(s->env, ENV_LOG_DEBUG, "%s - cid:%" G_GUINT64_FORMAT " - Client connection created",
            c->peer, id);
    send_info(c);
    if (auth_on(s)) c->auth_timer = env_timer_add(s->env, auth_config_timeout_ns(s->cfg.auth), auth_timer_fired, c);
    /* First PING after ping_first_ns with up to 20% jitter, as nats-server does. */
    int64_t jitter = s->cfg.ping_first_ns / 5;
    int64_t delay = s->cfg.ping_first_ns + (jitter > 0 ? (int64_t)(env_random_u64(s->env) % (uint64_t)jitter) : 0);
    c->ping_timer = env_timer_add(s->env, delay, ping_timer_fired, c);
}

static void on_bytes(void *core, EnvConn id, const uint8_t *data, size_t len) {
    Server *s = core;
    Conn *c = g_hash_table_lookup(s->conns, &id);
    if (c == NULL || c->closing) return;
    c->last_activity_ns = env_wall_ns(s->env);
    MjError err = proto_parser_feed(&c->parser, data, len, &proto_callbacks, c);
    if (err != MJ_OK && !c->closing && awaiting_auth(c)) auth_violation(c, NULL); /* as nats-server */
    else if (err != MJ_OK && !c->closing) conn_send_err(c, err);
    if (s->out_sum > LIMIT_OUT_TOTAL_BYTES) bp_pause(s, c); /* OUTBOUND MEMORY */
}

static void conn_free(Conn *c) {
    proto_parser_clear(&c->parser);
    g_hash_table_destroy(c->subs);
    g_free(c->name);
    g_free(c->lang);
    g_free(c->version);
    g_free(c->user);
    auth_client_free(c->auth);
    g_free(c);
}

/* Start closing: drop interest and timers now (so nothing more is routed here), ask the
 * world to flush and close; the Conn itself is freed in on_closed. */
static void conn_close(Conn *c, const char *reason) {
    if (c->closing) return;
    Server *s = c->srv;
    c->closing = true;
    env_log(s->env, ENV_LOG_DEBUG, "%s - cid:%" G_GUINT64_FORMAT " - Client connection closed: %s",
            c->peer, c->id, reason);
    /* in sid order: observers (a route's RS-) see the same sequence every run */
    GPtrArray *subs = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, c->subs);
    while (g_hash_table_iter_next(&it, NULL, &v)) g_ptr_array_add(subs, v);
    g_ptr_array_sort(subs, sub_by_sid);
    g_hash_table_steal_all(c->subs);
    for (guint i = 0; i < subs->len; i++) sub_kill(s, g_ptr_array_index(subs, i));
    g_ptr_array_free(subs, TRUE);
    env_timer_cancel(s->env, c->ping_timer);
    c->ping_timer = 0;
    env_timer_cancel(s->env, c->auth_timer);
    c->auth_timer = 0;
    env_conn_close(s->env, c->id);
}

static void on_closed(void *core, EnvConn id) {
    Server *s = core;
    Conn *c = g_hash_table_lookup(s->conns, &id);
    if (c == NULL) return;
    if (!c->closing) {
        conn_close(c, "Client Closed");
    }
    if (c->read_paused) g_ptr_array_remove(s->paused, c);
    out_account(s, c, 0);
    g_hash_table_remove(s->conns, &id);
    s->stats.conns_current--;
    conn_free(c);
}

static const EnvHandlers server_handlers = {on_accept, on_bytes, on_closed};

/* After server_free the world may still deliver a late on_closed (or, in the simulator, a
 * connection racing a crash): these make such callbacks harmless. A late accept is closed. */
static void detached_accept(void *core, EnvConn id, const char *ip, int port) { (void)core; (void)ip; (void)port; (void)id; }
static void detached_bytes(void *core, EnvConn id, const uint8_t *d, size_t n) { (void)core; (void)id; (void)d; (void)n; }
static void detached_closed(void *core, EnvConn id) { (void)core; (void)id; }
static const EnvHandlers detached_handlers = {detached_accept, detached_bytes, detached_closed};

/* ------------------------------------------------------------------ internal client */

ServerInternalSub *server_subscribe_internal(Server *s, const char *subject, const char *queue,
                                             ServerMsgHandler fn, void *ctx) {
    if (!subject_valid_subscribe(subject, strlen(subject))) return NULL;
    ServerInternalSub *is = g_new0(ServerInternalSub, 1);
    Sub *sub = &is->sub;
    sub->refs = 1;
    sub->fn = fn;
    sub->ctx = ctx;
    sub->subject = g_strdup(subject);
    sub->queue = g_strdup(queue);
    sub->sid = g_strdup("internal");
    sub->sid_len = strlen(sub->sid);
    sub->max = -1;
    bool ok = sublist_insert(s->sl, sub->subject, sub->queue, sub);
    g_assert(ok);
    s->stats.subscriptions++;
    g_ptr_array_add(s->internal_subs, is);
    subs_changed(s, sub, true);
    return is;
}

void server_unsubscribe_internal(Server *s, ServerInternalSub *is) {
    if (is == NULL) return;
    g_ptr_array_remove(s->internal_subs, is);
    sub_kill(s, &is->sub);
}

void server_publish(Server *s, const char *subject, const char *reply, const void *hdr,
                    size_t hdr_len, const void *payload, size_t payload_len) {
    ServerMsg m = {subject, strlen(subject), reply, reply != NULL ? strlen(reply) : 0,
                   hdr, hdr_len, payload, payload_len, 0};
    route(s, NULL, &m);
}

void server_publish_to(Server *s, const char *deliver_subject, const char *subject,
                       const char *reply, const void *hdr, size_t hdr_len, const void *payload,
                       size_t payload_len) {
    ServerMsg m = {subject, strlen(subject), reply, reply != NULL ? strlen(reply) : 0,
                   hdr, hdr_len, payload, payload_len, 0};
    route_on(s, NULL, deliver_subject, strlen(deliver_subject), &m);
}

bool server_has_interest(Server *s, const char *subject) {
    const SublistResult *r = sublist_match(s->sl, subject, strlen(subject));
    return r->plain->len + r->queues->len > 0;
}

static bool sub_has_room(Server *s, const Sub *sub) {
    if (sub->conn == NULL || sub->conn->closing) return true;
    return env_conn_pending(s->env, sub->conn->id) <= s->cfg.max_pending_bytes / 2;
}

/* OUTBOUND MEMORY for internal publishers: a client publisher is paused when the broker's
 * outbound bytes are over LIMIT_OUT_TOTAL_BYTES; an internal one (a push consumer) cannot be
 * paused from outside, so it asks first and waits while the answer is no. No also while a
 * subscribed connection holds more than half its max_pending: delivering on would cut that
 * slow reader (a slow consumer, at max_pending) instead of letting it catch up. */
bool server_can_send(Server *s, const char *subject) {
    if (s->out_sum > LIMIT_OUT_TOTAL_BYTES) return false;
    const SublistResult *r = sublist_match(s->sl, subject, strlen(subject));
    for (guint i = 0; i < r->plain->len; i++)
        if (!sub_has_room(s, r->plain->pdata[i])) return false;
    for (guint q = 0; q < r->queues->len; q++) {
        const SublistQueue *sq = r->queues->pdata[q];
        for (guint i = 0; i < sq->items->len; i++) /* the pick is made later: all must have room */
            if (!sub_has_room(s, sq->items->pdata[i])) return false;
    }
    return true;
}

/* ------------------------------------------------------------------ cluster hooks
 *
 * The server knows nothing of routes. A cluster layer (route.c) hears of local interest
 * through an observer (server_observe_subs, above), mirrors each peer's interest into the
 * trie as remote subscriptions (so queue picks and no-responders see the whole cluster),
 * is handed one copy of each message per peer to forward, and injects what peers send with
 * server_deliver_routed. */

ServerRemoteSub *server_remote_sub_add(Server *s, ServerForwardFn fn, void *peer, const char *subject,
                                       const char *queue, uint32_t weight) {
    if (!subject_valid_subscribe(subject, strlen(subject))) return NULL;
    ServerRemoteSub *rs = g_new0(ServerRemoteSub, 1);
    Sub *sub = &rs->sub;
    sub->refs = 1;
    sub->forward = fn;
    sub->ctx = peer;
    sub->subject = g_strdup(subject);
    sub->queue = g_strdup(queue);
    sub->weight = weight > 0 ? weight : 1;
    sub->max = -1;
    if (!sublist_insert(s->sl, sub->subject, sub->queue, sub)) {
        sub->dead = true;
        sub_unref(sub);
        return NULL;
    }
    s->remote_subs++;
    subs_changed(s, sub, true);
    return rs;
}

void server_remote_sub_set_weight(ServerRemoteSub *rs, uint32_t weight) {
    rs->sub.weight = weight > 0 ? weight : 1;
}

void server_remote_sub_remove(Server *s, ServerRemoteSub *rs) {
    if (rs != NULL) sub_kill(s, &rs->sub);
}

size_t server_deliver_routed(Server *s, const ServerMsg *m, const char *const *queues, size_t nq) {
    const char *at = m->reply_len > 0 ? memrchr(m->reply, '@', m->reply_len) : NULL;
    if (at != NULL && at + 1 < m->reply + m->reply_len) { /* "<reply>@<deliver subject>" (route_match) */
        ServerMsg dm = *m;
        dm.reply_len = (size_t)(at - m->reply);
        if (dm.reply_len == 0) dm.reply = NULL;
        size_t dlen = m->reply_len - dm.reply_len - 1;
        return route_match(s, NULL, at + 1, dlen, &dm, true, queues, nq);
    }
    size_t n = route_match(s, NULL, m->subject, m->subject_len, m, true, queues, nq);
    /* the peer's view of our interest was stale: tell the layers above (server_on_unclaimed) */
    for (guint i = 0; n == 0 && m->reply_len > 0 && i < s->unclaimed->len; i++) {
        ServerHook *h = g_ptr_array_index(s->unclaimed, i);
        ((ServerMsgHandler)h->fn)(h->ctx, m);
    }
    return n;
}

/* Changed cluster facts: later INFOs carry them, and clients that said "protocol":1 in
 * CONNECT get a fresh INFO now (spec 3: how nats.js learns the other servers). */
void server_set_cluster_info(Server *s, const char *cluster_name, const char *const *connect_urls) {
    bool same = g_strcmp0(s->cluster_name, cluster_name) == 0 &&
                (s->connect_urls == NULL) == (connect_urls == NULL) &&
                (connect_urls == NULL || g_strv_equal((const char *const *)s->connect_urls, connect_urls));
    if (same) return;
    g_free(s->cluster_name);
    g_strfreev(s->connect_urls);
    s->cluster_name = g_strdup(cluster_name);
    s->connect_urls = g_strdupv((char **)connect_urls);
    GPtrArray *to = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->conns);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Conn *c = v;
        if (c->connected && !c->closing && c->protocol >= 1) g_ptr_array_add(to, c);
    }
    g_ptr_array_sort(to, conn_by_cid); /* one INFO each: order only matters for replay */
    for (guint i = 0; i < to->len; i++) send_info(to->pdata[i]);
    g_ptr_array_free(to, TRUE);
}

const char *const *server_connect_urls(const Server *s) { return (const char *const *)s->connect_urls; }

/* ------------------------------------------------------------------ lifecycle */

void server_config_init(ServerConfig *cfg) {
    *cfg = (ServerConfig){
        .host = "127.0.0.1",
        .port = 4222,
        .server_name = "minijet",
        .max_payload_bytes = LIMIT_MAX_PAYLOAD_BYTES,
        .max_control_line_bytes = LIMIT_MAX_CONTROL_LINE_BYTES,
        .max_pending_bytes = LIMIT_MAX_PENDING_BYTES,
        .max_connections = LIMIT_MAX_CONNECTIONS_COUNT,
        .max_subs_per_conn = LIMIT_MAX_SUBS_PER_CONN_COUNT,
        .max_trie_nodes = LIMIT_SUBLIST_NODES_COUNT,
        .ping_first_ns = LIMIT_PING_FIRST_NS,
        .ping_interval_ns = LIMIT_PING_INTERVAL_NS,
        .ping_max_outstanding = LIMIT_PING_MAX_OUTSTANDING_COUNT,
    };
}


Server *server_new(Env *env, const ServerConfig *cfg, GError **error) {
    if (cfg->max_payload_bytes == 0 || cfg->max_payload_bytes > LIMIT_MAX_PENDING_BYTES) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "max_payload must be between 1 and %d bytes", LIMIT_MAX_PENDING_BYTES);
        return NULL;
    }
    Server *s = g_new0(Server, 1);
    s->env = env;
    s->cfg = *cfg;
    s->sl = sublist_new();
    sublist_set_nodes_max(s->sl, s->cfg.max_trie_nodes);
    s->conns = g_hash_table_new(u64_hash, u64_equal);
    s->paused = g_ptr_array_new();
    s->internal_subs = g_ptr_array_new();
    s->observers = g_ptr_array_new();
    s->checks = g_ptr_array_new();
    s->unclaimed = g_ptr_array_new();
    s->watches = g_hash_table_new(g_str_hash, g_str_equal);
    s->info_flags = g_ptr_array_new_with_free_func(g_free);
    s->info_strings = g_tree_new_full(info_name_cmp, NULL, g_free, g_free);
    s->start_ns = env_wall_ns(env);
    /* A server id like nats-server's: 'N' and 55 base32 characters, from the env's random. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    s->server_id[0] = 'N';
    for (int i = 1; i < 56; i++) s->server_id[i] = alphabet[env_random_u64(env) % 32];
    s->server_id[56] = '\0';
    env_set_handlers(env, &server_handlers, s);
    return s;
}

void server_free(Server *s) {
    if (s == NULL) return;
    /* The layers above are gone first (jetstream_free before server_free: their last PubAcks
     * still reach the clients' buffers) and took their hooks with them. */
    g_assert_cmpuint(s->observers->len + s->checks->len + s->unclaimed->len + s->n_watches, ==, 0);
    /* Close what is still open; the world delivers no more callbacks after this. */
    GHashTableIter it;
    gpointer v;
    GPtrArray *conns = g_ptr_array_new();
    g_hash_table_iter_init(&it, s->conns);
    while (g_hash_table_iter_next(&it, NULL, &v)) g_ptr_array_add(conns, v);
    for (guint i = 0; i < conns->len; i++) {
        Conn *c = g_ptr_array_index(conns, i);
        conn_close(c, "Server Shutdown");
        conn_free(c);
    }
    g_ptr_array_free(conns, TRUE);
    env_timer_cancel(s->env, s->bp_timer);
    g_ptr_array_free(s->paused, TRUE);
    while (s->internal_subs->len > 0)
        server_unsubscribe_internal(s, g_ptr_array_index(s->internal_subs, 0));
    g_ptr_array_free(s->internal_subs, TRUE);
    g_ptr_array_free(s->observers, TRUE);
    g_ptr_array_free(s->checks, TRUE);
    g_ptr_array_free(s->unclaimed, TRUE);
    g_hash_table_destroy(s->watches);
    g_ptr_array_free(s->info_flags, TRUE);
    g_tree_destroy(s->info_strings);
    g_hash_table_destroy(s->conns);
    g_assert(s->remote_subs == 0); /* the cluster layer is freed first */
    sublist_free(s->sl);
    g_free(s->cluster_name);
    g_strfreev(s->connect_urls);
    env_set_handlers(s->env, &detached_handlers, NULL);
    g_free(s);
}

const ServerStats *server_stats(const Server *s) { return &s->stats; }
Env *server_env(Server *s) { return s->env; }
const ServerConfig *server_config(const Server *s) { return &s->cfg; }
int64_t server_start_ns(const Server *s) { return s->start_ns; }
const char *server_id(const Server *s) { return s->server_id; }
void server_sublist_stats(const Server *s, SublistStats *out) { sublist_stats(s->sl, out); }

/* ------------------------------------------------------------------ monitoring */

static gint conn_info_by_cid(gconstpointer a, gconstpointer b) {
    EnvConn x = ((const ServerConnInfo *)a)->cid, y = ((const ServerConnInfo *)b)->cid;
    return x < y ? -1 : x > y;
}

GArray *server_conn_list(Server *s) {
    GArray *out = g_array_sized_new(FALSE, FALSE, sizeof(ServerConnInfo), g_hash_table_size(s->conns));
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->conns);
    while (g_hash_table_iter_next(&it, NULL, &v)) { /* sorted below: hash order never shows */
        Conn *c = v;
        if (c->closing) continue;
        ServerConnInfo ci = {
            .cid = c->id, .ip = c->ip, .port = c->port,
            .activity = {.start_ns = c->start_ns, .last_activity_ns = c->last_activity_ns,
                         .in_msgs = c->in_msgs, .in_bytes = c->in_bytes,
                         .out_msgs = c->out_msgs, .out_bytes = c->out_bytes,
                         .pending_bytes = env_conn_pending(s->env, c->id),
                         .subscriptions = g_hash_table_size(c->subs)},
            .name = c->name, .lang = c->lang, .version = c->version,
        };
        g_array_append_val(out, ci);
    }
    g_array_sort(out, conn_info_by_cid);
    return out;
}

static gint str_indirect_cmp(gconstpointer a, gconstpointer b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **server_conn_subjects(Server *s, EnvConn cid) {
    Conn *c = g_hash_table_lookup(s->conns, &cid);
    if (c == NULL) return NULL;
    GPtrArray *subjects = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, c->subs);
    while (g_hash_table_iter_next(&it, NULL, &v))
        g_ptr_array_add(subjects, g_strdup(((Sub *)v)->subject));
    g_ptr_array_sort(subjects, str_indirect_cmp); /* equal subjects print alike: order is total */
    g_ptr_array_add(subjects, NULL);
    return (char **)g_ptr_array_free(subjects, FALSE);
}

static void check(Server *s, bool full) {
    uint64_t subs = s->internal_subs->len;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->conns);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Conn *c = v;
        if (c->closing) {
            g_assert_cmpuint(g_hash_table_size(c->subs), ==, 0);
            g_assert_cmpuint(c->ping_timer, ==, 0);
            g_assert_cmpuint(c->auth_timer, ==, 0);
        }
        subs += g_hash_table_size(c->subs);
    }
    g_assert_cmpuint(subs, ==, s->stats.subscriptions);
    g_assert_cmpuint(sublist_count(s->sl), ==, s->stats.subscriptions + s->remote_subs);
    g_assert_cmpuint(g_hash_table_size(s->conns), ==, s->stats.conns_current);
    if (full) sublist_check_invariants(s->sl); /* re-matches every cached subject */
    /* every watch reports the trie's truth (a missed notification would show here) */
    GHashTableIter wi;
    gpointer wk, wv;
    guint watches = 0;
    g_hash_table_iter_init(&wi, s->watches);
    while (g_hash_table_iter_next(&wi, &wk, &wv)) {
        GPtrArray *list = wv;
        g_assert_cmpuint(list->len, >, 0);
        for (guint i = 0; i < list->len; i++) {
            ServerHook *h = g_ptr_array_index(list, i);
            g_assert_cmpstr(h->subject, ==, wk);
            g_assert_true(h->interest == server_has_interest(s, h->subject));
            watches++;
        }
    }
    g_assert_cmpuint(watches, ==, s->n_watches);
    /* then the layers above, in registration order */
    for (guint i = 0; i < s->checks->len; i++) {
        ServerHook *h = g_ptr_array_index(s->checks, i);
        ((ServerCheckFn)h->fn)(h->ctx, full);
    }
}

void server_check_invariants(Server *s) { check(s, true); }
void server_check_contracts(Server *s) { check(s, false); }
