/* consumer_int.h — the inside of a Consumer, shared by consumer.c (cursor, acks, redelivery),
 * consumer_pull.c (waiting pull requests), consumer_push.c (deliver subject, heartbeats,
 * flow control, rate limit), consumer_set.c (the stream's consumers) and consumer_state.c
 * (their files). Nothing outside src/consumer*.c includes this.
 */
#ifndef MINIJET_CONSUMER_INT_H
#define MINIJET_CONSUMER_INT_H

#include "consumer.h"

/* One delivered, unacknowledged message (ack explicit / all). */
typedef struct Pending {
    uint64_t sseq;           /* stream sequence (the key) */
    uint64_t dseq;           /* consumer sequence of the latest delivery */
    uint64_t dseq_first;     /* consumer sequence of the first delivery (the ack floor's) */
    uint64_t deliveries;     /* deliveries so far, >= 1 */
    int64_t deadline_ns;     /* monotonic: redeliver when this passes */
    int64_t delivered_wall_ns; /* wall clock of the latest delivery (persisted) */
    bool queued;             /* on the redelivery queue */
} Pending;

typedef struct PullRequest PullRequest;

struct Consumer {
    ConsumerSet *set;
    Stream *st;
    Server *srv;
    Env *env;
    char *name;
    ConsumerConfig *cfg;
    int64_t created_ns;
    bool deleted;
    char *state_reset;            /* why saved progress was lost at load (consumer_state.c
                                   * load_one), shown in CONSUMER.INFO; NULL = none */

    /* the cursor and the ledger (consumer.c) */
    uint64_t sseq_next, dseq_next;
    uint64_t floor_sseq, floor_dseq;
    GTree *pending;               /* uint64_t* sseq -> Pending*, sorted */
    int64_t pending_over_max;     /* an update lowered max_ack_pending below what was pending:
                                   * that many may stay pending until acks bring it down */
    GQueue redeliver_queue;       /* sseqs (GSIZE_TO_POINTER) to redeliver, in order */
    uint64_t num_redelivered;     /* pending entries with deliveries > 1 */
    GHashTable *gave_up;          /* sseqs (GSIZE_TO_POINTER) dropped at max_deliver and not
                                   * acked since: still in num_redelivered (consumer.c, MAX
                                   * DELIVER); NULL until the first */
    GArray *last_per_subject_seqs; /* deliver_policy last_per_subject: seqs still to send
                                    * first, or NULL */
    guint last_per_subject_pos;
    uint64_t last_per_subject_resume; /* then continue from here */
    uint64_t num_pending_cache;   /* cached num_pending ... */
    uint64_t num_pending_cache_msgs;   /* ... counted when the store held this many messages */
    uint64_t num_pending_cache_stored; /* ... and the set had heard of this many appends */
    bool num_pending_cache_valid;
    int64_t last_delivered_wall_ns, last_ack_wall_ns;
    uint64_t delivered_msgs;
    int64_t replay_last_ts, replay_last_sent; /* replay_policy original */
    ServerInternalSub *ack_sub;
    EnvTimer kick_timer, ack_timer, replay_timer;
    int64_t ack_timer_at;

    /* pull (consumer_pull.c) */
    GQueue waiting;               /* PullRequest*, FIFO */
    EnvTimer pull_timer;          /* earliest expiry or heartbeat */
    int64_t pull_timer_at;
    int64_t last_request_ns;      /* inactivity of pull consumers */

    /* push (consumer_push.c) */
    bool bound;                   /* someone listens on deliver_subject (kept by the watch) */
    ServerHook *interest;         /* the server's watch on deliver_subject */
    int64_t unbound_since_ns;
    EnvTimer unbound_timer;       /* inactive_threshold after the last subscriber left */
    EnvTimer hb_timer, rate_timer, room_timer; /* room_timer: held back by a slow reader (consumer_push.c) */
    int64_t rate_next_ns;         /* rate_limit_bps: earliest next send */
    uint64_t fc_bytes;            /* bytes since the last flow-control reply */
    uint64_t fc_window;
    char *fc_subject;             /* outstanding FC request's reply subject, or NULL */
    uint64_t fc_sent_bytes;       /* fc_bytes when that request was sent */
    ServerInternalSub *fc_sub;

    /* inactivity (both) */
    EnvTimer inactive_timer;
};

/* consumer_set.c: create, or update an existing one (cfg taken); NULL + error. */
Consumer *consumer_set_add(ConsumerSet *set, ConsumerConfig *cfg, GError **error);
/* consumer_set.c: how many appends the set has heard of, ever (see num_pending_cache_fresh). */
uint64_t consumer_set_stored_total(ConsumerSet *set);

/* consumer_state.c: the durable consumers' files of one stream (the set's; see there) */
typedef struct ConsumerStates ConsumerStates;
ConsumerStates *consumer_states_open(Stream *st);
GPtrArray *consumer_states_load(ConsumerStates *cs, ConsumerSet *set); /* g_ptr_array_unref */
void consumer_states_save_soon(ConsumerStates *cs, Consumer *c);
gboolean consumer_states_save_now(ConsumerStates *cs, Consumer *c, GError **error);
void consumer_states_forget(ConsumerStates *cs, Consumer *c, bool remove_files);
void consumer_states_flush(ConsumerStates *cs);
void consumer_states_free(ConsumerStates *cs);
void consumer_states_check(ConsumerStates *cs);

/* consumer.c */
int64_t consumer_now(Consumer *c);
void consumer_kick(Consumer *c);
void consumer_deliver(Consumer *c);
uint64_t consumer_num_pending(Consumer *c);
void consumer_update_floor(Consumer *c);
void consumer_arm_ack_timer(Consumer *c);
size_t consumer_msg_size(Consumer *c, const StoreMsg *m);

/* consumer_pull.c */
void consumer_pull_init(Consumer *c);
void consumer_pull_stop(Consumer *c, const char *why); /* why: the waiting pulls' status, or NULL */
void consumer_pull_reconfigured(Consumer *c);
bool consumer_pull_has_waiting(Consumer *c);
/* The reply subject of the request that takes a message of `size` bytes, or NULL. */
const char *consumer_pull_target(Consumer *c, size_t size);
void consumer_pull_sent(Consumer *c);          /* after sending to the target */
void consumer_pull_end_of_stream(Consumer *c, bool stalled);
void consumer_pull_expire(Consumer *c);
uint64_t consumer_pull_num_waiting(Consumer *c);
void consumer_pull_release(Consumer *c);       /* leadership moved: see ACROSS A LEADER CHANGE */
void consumer_pull_check(Consumer *c);

/* consumer_push.c */
void consumer_push_init(Consumer *c);
void consumer_push_stop(Consumer *c);
void consumer_push_reconfigured(Consumer *c, const ConsumerConfig *old);
bool consumer_push_ready(Consumer *c);         /* may a push delivery happen now? */
bool consumer_push_bound(Consumer *c);
void consumer_push_sent(Consumer *c, size_t bytes);
void consumer_push_check(Consumer *c);

#endif
