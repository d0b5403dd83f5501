/* stream_int.h — what stream.c and stream_publish.c share; no other file includes it.
 *
 * A Stream is split in two files only to keep each readable in one sitting:
 *   stream_publish.c  the publish path: header checks, dedup, limits, max_age, group commit
 *   stream.c          the rest: open/close/destroy, meta file, update, purge, delete, info
 */
#ifndef MINIJET_STREAM_INT_H
#define MINIJET_STREAM_INT_H

#include "stream.h"

/* One remembered Nats-Msg-Id: one allocation, its queue link and its id inside it. */
typedef struct DedupEntry {
    GList link;       /* in Stream.dedup_order; link.data is the entry */
    uint64_t seq;
    int64_t ts_ns;
    char id[];        /* NUL-terminated; the hash table's key */
} DedupEntry;

/* A publisher waiting for its reply. seq > 0: a PubAck (or a duplicate's) sent once the
 * store says seq is durable; seq == 0: an error reply, waiting only behind earlier acks. */
typedef struct PendingAck {
    char *reply;
    uint64_t seq;
    char *body;
} PendingAck;

struct Stream {
    StreamHost host;          /* copied at open */
    Server *srv;
    Env *env;
    StreamConfig *cfg;
    int64_t created_ns;
    char *dir;                /* <store_dir>/streams/<name> */
    Store *store;
    GPtrArray *subs;          /* ServerInternalSub*, one per subject */
    GHashTable *dedup;        /* msg id -> DedupEntry* (lookup only) */
    GQueue dedup_order;       /* DedupEntry*, oldest first: what expires next */
    char *last_msg_id;        /* Nats-Msg-Id of the last stored message, NULL if it had none */
    bool dedup_loaded;        /* dedup and last_msg_id are kept (false after open: AFTER A RESTART) */
    GQueue pending;           /* PendingAck*, in arrival order */
    EnvTimer age_timer;
    const StreamHooks *hooks; /* the consumer set's table, told of every append and removal */
    void *hooks_ctx;
    bool subscribed;          /* its subjects are in the trie (a replica that does not lead: no) */
    uint64_t accounted_bytes; /* store bytes last reported to host.usage (stream_account) */
    /* replicated streams (stream_publish.c, "replicated streams"); repl == NULL: local */
    const StreamRepl *repl;
    void *repl_ctx;
    uint64_t repl_last_seq;   /* the leader's projection: last seq once proposals apply */
    uint64_t repl_pending;    /* proposed, not yet applied */
    char *repl_last_msg_id;   /* projected Nats-Msg-Id of the last message */
    GHashTable *repl_ids;     /* msg id -> seq of proposals in flight */
    GQueue repl_held;         /* HeldMsg*: publishes waiting for the proposals to drain */
    EnvTimer repl_held_timer;
    bool repl_draining;
    /* refused publishes being counted (stream_publish.c, REFUSED PUBLISHES, COUNTED) */
    GHashTable *refused;      /* reason -> count since the last log line; NULL: none yet */
    EnvTimer refused_timer;   /* 0: no series open, the next refusal is logged at once */
};

/* stream_publish.c */
void stream_on_msg(void *ctx, const ServerMsg *m);   /* the internal subscription's handler */
void stream_dedup_rebuild(Stream *st);                /* once, when first needed: ids of the last window */
void stream_dedup_clear(Stream *st);                  /* forget every id */
void stream_pending_free(PendingAck *p);
void stream_refused_close(Stream *st);                /* stream_close: drop the count */
void stream_enforce_limits(Stream *st);               /* discard:old max_msgs / max_bytes */
void stream_enforce_subject_limit(Stream *st, const char *subject);
void stream_age_tick(void *arg);                      /* expire by max_age, re-arm */
void stream_arm_age_timer(Stream *st);
/* Messages left the store (a limit, an age, a rollup, a purge, a delete): the consumers
 * forget them through the hooks, so a deleted message is in no consumer's pending set. */
void stream_tell_removed(Stream *st);

#endif
