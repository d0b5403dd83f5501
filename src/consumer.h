/* consumer.h — JetStream consumers: a reader's position in a stream, and everything that moves it.
 *
 * WHAT IT IS
 *   A consumer is a cursor over one stream plus a ledger of what it has handed out and not yet
 *   had acknowledged. It delivers either by PUSH (to a deliver_subject, as soon as there is
 *   interest) or by PULL (to the reply subjects of CONSUMER.MSG.NEXT requests, in FIFO order).
 *   It tracks acks, redelivers after ack_wait (or the backoff schedule), gives up after
 *   max_deliver, pauses at max_ack_pending, and tells the stream when a message may go
 *   (interest and workqueue retention). Book: chapter 6 (consumers).
 *
 *   The code is split in seven files:
 *     consumer_config.c  ConsumerConfig: parse (Go's typing rules), defaults, validation, echo
 *     consumer.c         the state machine: start position, delivery, acks, redelivery,
 *                        the num_pending cache, invariants
 *     consumer_pull.c    waiting pull requests, their expiry and statuses, pull inactivity
 *     consumer_push.c    deliver subject interest, idle heartbeats, flow control, rate limit
 *     consumer_set.c     the consumers of one stream: registry, the stream's hooks
 *                        (StreamHooks), retention coupling, create and update
 *     consumer_state.c   their persisted state: a JSON snapshot plus an append-only state
 *                        log per durable consumer (see THE FILES there)
 *     consumer_api.c     the $JS.API.CONSUMER.* endpoints (consumer_api.h), above JetStream
 *
 * INTERFACE
 *   consumer_set_open(st)                  load the stream's persisted consumers and register
 *                                          the set as the stream's StreamHooks (stream.h): from
 *                                          then on the stream tells it of every append and
 *                                          removal, and closes it when the stream closes
 *   consumer_set_of(st)                    the set opened on st
 *   consumer_set_lookup(set, name), consumer_set_list(set), consumer_set_count(set)
 *   consumer_set_delete(set, c)            API delete / inactivity
 *   consumer_numbers(c, &n), consumer_build_info(c, b)   ConsumerInfo
 *   consumer_set_check_invariants(set)     every consumer, the two indexes, the save batch
 *   consumer_set_check_contracts(set)      the same without recounting num_pending (the
 *                                          simulator runs it after every event)
 *
 * INVARIANTS (consumer_check_invariants)
 *   - ack_floor.stream_seq <= delivered.stream_seq and ack_floor.consumer_seq <=
 *     delivered.consumer_seq.
 *   - Every pending (delivered, unacked) entry has ack_floor.stream_seq < sseq <=
 *     delivered.stream_seq, 1 <= deliveries, and dseq <= delivered.consumer_seq.
 *   - A message the stream no longer has (deleted, purged, expired, pushed out by a limit or
 *     a rollup) is in no consumer's pending set: the stream tells the set (StreamHooks
 *     removed) and consumer_on_removed forgets it, as nats-server's decStreamPending does.
 *   - With ack_policy none nothing is pending; with max_ack_pending > 0 at most that many are.
 *   - Every sseq on the redelivery queue is pending and marked queued, and vice versa.
 *   - A pull consumer has at most max_waiting waiting requests, each with batch left > 0;
 *     a push consumer has none.
 *   - The ack timer is armed whenever something is pending and not queued for redelivery.
 */
#ifndef MINIJET_CONSUMER_H
#define MINIJET_CONSUMER_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "server.h"
#include "stream.h"

typedef enum {
    DELIVER_ALL,
    DELIVER_LAST,
    DELIVER_NEW,
    DELIVER_BY_START_SEQUENCE,
    DELIVER_BY_START_TIME,
    DELIVER_LAST_PER_SUBJECT,
} ConsumerDeliverPolicy;

typedef enum { ACK_NONE, ACK_ALL, ACK_EXPLICIT } ConsumerAckPolicy;
typedef enum { REPLAY_INSTANT, REPLAY_ORIGINAL } ConsumerReplayPolicy;

/* ConsumerConfig as spec 3.8 has it. Strings are NULL when unset (an empty string from the
 * client counts as unset: nats.js sends "name":""). Durations in nanoseconds. */
typedef struct ConsumerConfig {
    char *durable_name;
    char *name;
    char *description;
    ConsumerDeliverPolicy deliver_policy;
    uint64_t opt_start_seq;
    bool has_opt_start_time;
    int64_t opt_start_time_ns;   /* wall clock */
    ConsumerAckPolicy ack_policy;
    int64_t ack_wait_ns;         /* default 30 s when ack != none */
    int64_t max_deliver;         /* -1 = unlimited */
    GArray *backoff_ns;          /* int64_t; NULL or empty = none */
    char *filter_subject;
    ConsumerReplayPolicy replay_policy;
    uint64_t rate_limit_bps;     /* bits per second, push only; 0 = unlimited */
    char *sample_freq;           /* accepted, validated and echoed; sampling is not done */
    int64_t max_waiting;         /* pull: default 512 */
    int64_t max_ack_pending;     /* default 1000 when ack != none; -1 = unlimited */
    int64_t idle_heartbeat_ns;   /* push */
    bool flow_control;           /* push; needs idle_heartbeat */
    bool headers_only;
    int64_t max_batch;           /* pull request limits; 0 = none */
    int64_t max_expires_ns;
    int64_t max_bytes;
    char *deliver_subject;       /* set = push consumer */
    char *deliver_group;
    int64_t inactive_threshold_ns; /* ephemerals: default 5 s */
    int64_t num_replicas;
    bool mem_storage;
    bool direct;
} ConsumerConfig;

typedef struct Consumer Consumer;
typedef struct ConsumerSet ConsumerSet;

/* ---- consumer_config.c ---- */
/* Parse the "config" object of a create request (10025 on a Go type error). */
ConsumerConfig *consumer_config_parse(JsonObject *o, GError **error);
/* nats-server 2.9.10's setConsumerConfigDefaults + checkConsumerCfg against the stream. */
bool consumer_config_validate(ConsumerConfig *cfg, const StreamConfig *scfg, GError **error);
/* What an update may not change (10012 "<field> can not be updated"). */
bool consumer_config_check_update(const ConsumerConfig *old, const ConsumerConfig *upd, GError **error);
void consumer_config_build(const ConsumerConfig *cfg, JsonBuilder *b);
bool consumer_config_equal(const ConsumerConfig *a, const ConsumerConfig *b);
ConsumerConfig *consumer_config_copy(const ConsumerConfig *cfg);
void consumer_config_free(ConsumerConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ConsumerConfig, consumer_config_free)
/* Durations as Go prints them ("3s", "1.5s", "250ms"): the 409 MaxRequestExpires text. */
char *consumer_go_duration(int64_t ns);

/* ---- consumer_set.c: the set, which registers itself as the stream's hooks ---- */
ConsumerSet *consumer_set_open(Stream *st);
/* The set consumer_set_open registered on st. */
ConsumerSet *consumer_set_of(Stream *st);
guint consumer_set_count(ConsumerSet *set);
Consumer *consumer_set_lookup(ConsumerSet *set, const char *name);
/* Consumers sorted by name (NAMES/LIST order); g_ptr_array_unref it. */
GPtrArray *consumer_set_list(ConsumerSet *set);
void consumer_set_check_invariants(ConsumerSet *set);
void consumer_set_check_contracts(ConsumerSet *set); /* no num_pending recount */

/* Replication (jscluster.c; see consumer_store.c "replication"): a replicated stream's
 * durables live on its leader, their state in the stream's Raft log. */
typedef struct ConsumerSetRepl {
    void (*changed)(void *ctx, Consumer *c);                      /* a durable's state, config, or
                                                                   * deletion (c is still valid) */
    void (*ack_reply)(void *ctx, Consumer *c, const char *reply); /* answer once replicated */
    void (*remove)(void *ctx, uint64_t seq); /* retention wants seq gone: through the log */
} ConsumerSetRepl;
void consumer_set_set_repl(ConsumerSet *set, const ConsumerSetRepl *r, void *ctx);
/* A consumer the cluster knows (cfg taken, validated): live on this server from now on. */
Consumer *consumer_set_adopt(ConsumerSet *set, const char *name, ConsumerConfig *cfg, int64_t created_ns,
                             JsonObject *state);
/* Let go of every consumer, nothing deleted (leadership moved: the waiting pulls no record
 * carried get 409 Leadership Change when leadership_change, else nothing). */
void consumer_set_release(ConsumerSet *set, bool leadership_change);
/* Retention after a leader change: every message the live consumers no longer need goes
 * (through the repl's remove). Interest: nobody needs it; workqueue: a consumer's filter
 * matches it and that consumer is done with it. Limits: nothing. */
void consumer_set_sweep(ConsumerSet *set);

/* ---- consumer.c ---- */
typedef struct ConsumerNumbers {
    uint64_t delivered_consumer_seq, delivered_stream_seq;
    uint64_t ack_floor_consumer_seq, ack_floor_stream_seq;
    int64_t last_delivered_ns, last_ack_ns; /* wall clock, 0 = never */
    uint64_t num_ack_pending, num_redelivered, num_waiting, num_pending;
    bool push_bound;
} ConsumerNumbers;

/* Create (config validated, name decided; cfg taken). state_json: persisted state or NULL. */
Consumer *consumer_new(ConsumerSet *set, const char *name, ConsumerConfig *cfg, int64_t created_ns,
                       JsonObject *state);
/* Stop everything and free. deleted: waiting pulls get 409 Consumer Deleted. */
void consumer_free(Consumer *c, bool deleted);
/* Apply an allowed update (already checked); cfg taken. */
void consumer_update(Consumer *c, ConsumerConfig *cfg);
const char *consumer_name(Consumer *c);
const ConsumerConfig *consumer_config(Consumer *c);
int64_t consumer_created_ns(Consumer *c);
bool consumer_is_durable(Consumer *c);
void consumer_numbers(Consumer *c, ConsumerNumbers *n);
/* "delivered", "ack_floor", num_* and push_bound members of a ConsumerInfo. */
void consumer_build_info(Consumer *c, JsonBuilder *b);
/* The persisted "state" object. */
void consumer_build_state(Consumer *c, JsonBuilder *b);
/* The waiting pull requests as a JSON array, for a replicated record; and a new leader
 * taking them over from one (consumer_pull.c, "ACROSS A LEADER CHANGE"). */
void consumer_build_waiting(Consumer *c, JsonBuilder *b);
void consumer_adopt_waiting(Consumer *c, JsonArray *w);
/* A CONSUMER.MSG.NEXT request (or the rest of a +NXT ack). */
void consumer_pull_request(Consumer *c, const char *reply, const uint8_t *body, size_t len);
/* The stream has a new message that c's filter matches (called through the set). */
void consumer_on_stored(Consumer *c, uint64_t seq);
/* Messages were removed from the stream: forget what is gone. */
void consumer_on_removed(Consumer *c);
/* Does the consumer still need seq (interest retention)? */
bool consumer_needs(Consumer *c, uint64_t seq, const char *subject);
bool consumer_filter_matches(Consumer *c, const char *subject);
void consumer_check_invariants(Consumer *c);
void consumer_check_contracts(Consumer *c); /* all but the num_pending recount */

/* For consumer.c <-> consumer_set.c only. */
Stream *consumer_set_stream(ConsumerSet *set);
void consumer_set_msg_acked(ConsumerSet *set, uint64_t seq);   /* retention: maybe remove */
void consumer_set_save_soon(ConsumerSet *set, Consumer *c);    /* state changed */
void consumer_set_waiting_changed(ConsumerSet *set, Consumer *c); /* replicated: pulls came or went */
void consumer_set_delete(ConsumerSet *set, Consumer *c);       /* API delete / inactivity */
void consumer_set_ack_reply(ConsumerSet *set, Consumer *c, const char *reply); /* an ack's reply */
void consumer_release(Consumer *c, bool leadership_change);    /* free, not deleted */

#endif
