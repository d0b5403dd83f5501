/* raft.h — a pure Raft state machine: ticks and messages in, a batch of actions out.
 *
 * WHAT IT IS
 *   One member of one replication group, with no I/O of its own: no clock, no sockets, no
 *   files, no threads. The caller feeds it inputs and, after each, takes a `RaftReady`: the
 *   batch of things the caller must now do. This is etcd-raft's shape (and TigerBeetle's
 *   "a replica driven by tick() and messages"): the same code runs in the broker, in the unit
 *   tests message by message, and in a simulated cluster where one seed decides everything.
 *   Book chapter: book/09-raft.md. Lab markers: LAB(5) vote, LAB(6) append, LAB(7) commit
 *   and persistence rule, LAB(8) snapshot install.
 *
 * INPUTS
 *   raft_tick(r)                        one unit of logical time (the caller picks it; the
 *                                       tests use 100 ms: heartbeat every tick = 10/s)
 *   raft_step(r, msg, error)            a message from a peer (decoded by raft_msg_decode);
 *                                       unknown peers, misaddressed or impossible messages
 *                                       are rejected with a GError; stale terms are answered
 *                                       or ignored as the paper says
 *   raft_propose(r, data, &index, error)  leader only: append a command
 *   raft_compact(r, index, data, error)   the application's snapshot of everything applied
 *                                       through index: the log before it may be discarded
 *   raft_transfer_leadership(r, to, error) leader only: hand over to `to` (TimeoutNow)
 *   raft_propose_conf(r, op, peer, &index, error)  leader only: add or remove ONE voter; the
 *                                       new configuration is in force once appended, one
 *                                       change at a time (raft.c, MEMBERSHIP CHANGES)
 *   raft_campaign(r)                    start an election now, skipping pre-vote
 *   raft_hold_campaign(r, hold)         while held, this member never campaigns (its
 *                                       application is catching up; it still votes)
 *
 * OUTPUT: THE READY CONTRACT
 *   while (raft_has_ready(r)) { raft_ready_take(r, &rd); ... ; raft_ready_clear(&rd); }
 *   and for each batch, IN THIS ORDER:
 *     1. if rd.has_snapshot: persist rd.snapshot (atomically). If rd.install_snapshot, the
 *        application also replaces its state with rd.snapshot.data (a leader sent it);
 *        otherwise it is the application's own compaction being recorded.
 *     2. persist rd.entries: drop any persisted entry with index >= rd.entries[0].index
 *        (a conflicting suffix), then append them.
 *     3. persist rd.hs if rd.has_hard_state (term, vote, commit).
 *     4. make 1-3 DURABLE (fsync). Only then:
 *     5. send rd.msgs. Every message may depend on 1-3: a vote grant promises the vote is
 *        on disk; an append acknowledgement promises the entries are. Sending first and
 *        crashing is how a node votes twice in one term or "forgets" an acknowledged entry.
 *        The one exception: a LEADER's batch that changes no term or vote may be sent
 *        before 1-4 (its appends promise nothing about its own disk; thesis 10.2.1), as
 *        long as no answer is stepped before 4 is done, because the leader's own entries
 *        count towards commit from the moment they are appended (cluster_nrg.c, A LEADER
 *        SENDS BEFORE IT SYNCS).
 *     6. apply rd.committed in order (they are durable here and on a majority). Only
 *        RAFT_ENTRY_NORMAL entries are commands; a committed RAFT_ENTRY_CONF tells the
 *        application a membership change is final (raft_peers_decode reads it).
 *   raft_log_save() (raft_log.h) does 1-4 in one call.
 *
 * INVARIANTS (raft_check_invariants asserts them)
 *   - snapshot_index <= applied <= commit <= last_index; the in-memory log holds exactly
 *     the entries snapshot_index+1 .. last_index, terms non-decreasing, all <= term.
 *   - A leader's own match index is its last index; every follower's match < next.
 *   - leader == self iff role == RAFT_LEADER; the voters' Progress follows the configuration
 *     in force (the latest CONF entry in the log, else the snapshot's, else cfg.peers).
 */
#ifndef MINIJET_RAFT_H
#define MINIJET_RAFT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "raft_msg.h"

typedef struct Raft Raft;

typedef enum { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER } RaftRole;

/* Deliberately broken variants, for showing that the checkers catch them (tests only).
 * Flags; combine with |. */
typedef enum {
    RAFT_BUG_NONE = 0,
    RAFT_BUG_COMMIT_OLD_TERM = 1 << 0, /* commit by counting replicas of an entry of an older term */
    RAFT_BUG_NO_NOOP = 1 << 1,         /* a new leader appends no no-op (6.5840's lab does not):
                                          safe, but it cannot commit until a client writes, and it
                                          widens the window the first bug needs */
} RaftBug;

typedef struct RaftHardState {
    uint64_t term;
    uint32_t vote; /* 0 = none */
    uint64_t commit;
} RaftHardState;

typedef struct RaftConfig {
    uint32_t id;             /* this node, >= 1 */
    const uint32_t *peers;   /* the bootstrap voters; distinct, >= 1 (the log's and the
                                snapshot's configurations override it). A server being
                                added starts without itself here: it becomes a voter when
                                the CONF entry adding it reaches its log */
    size_t n_peers;          /* 1 .. LIMIT_RAFT_PEERS_MAX */
    int election_ticks;      /* election timeout is random in [election_ticks, 2*election_ticks) */
    int heartbeat_ticks;     /* leader heartbeat period, < election_ticks */
    bool pre_vote;           /* ask before campaigning (see the election essay in raft.c) */
    uint32_t max_append_entries; /* entries per AppendEntries; 0 = LIMIT_RAFT_MSG_ENTRIES_MAX */
    uint64_t (*random_u64)(void *ctx); /* the environment's randomness (env_random_u64) */
    void *random_ctx;
    unsigned bug;            /* RaftBug flags; 0 in every real use */
} RaftConfig;

/* What a restarting node read from its disk (raft_log_open fills it in). */
typedef struct RaftBoot {
    RaftHardState hs;
    RaftSnapshot snapshot;   /* index 0: none */
    RaftEntry *entries;      /* snapshot.index+1 .. , consecutive */
    size_t n_entries;
    bool damaged;            /* recovery cut the log short inside synced records (raft_log.h):
                                entries this member acknowledged may be gone, so it neither
                                votes nor campaigns until a leader has repaired it */
    bool state_lost;         /* the hard state was written once but no copy of it is readable
                                now: the term and vote are unknown, so, like `damaged`, no
                                vote until a leader of the current term has repaired it */
} RaftBoot;
void raft_boot_clear(RaftBoot *b);

typedef struct RaftReady {
    bool has_hard_state;
    RaftHardState hs;
    bool has_snapshot, install_snapshot;
    RaftSnapshot snapshot;   /* data is a reference: raft_ready_clear drops it */
    RaftEntry *entries;      /* to persist */
    size_t n_entries;
    RaftMsg *msgs;           /* to send, after persisting */
    size_t n_msgs;
    RaftEntry *committed;    /* to apply, after persisting */
    size_t n_committed;
} RaftReady;

Raft *raft_new(const RaftConfig *cfg, const RaftBoot *boot, GError **error);
void raft_free(Raft *r);

void raft_tick(Raft *r);
gboolean raft_step(Raft *r, const RaftMsg *m, GError **error);
gboolean raft_propose(Raft *r, GBytes *data, uint64_t *index_out, GError **error);
gboolean raft_compact(Raft *r, uint64_t index, GBytes *snapshot_data, GError **error);
gboolean raft_transfer_leadership(Raft *r, uint32_t to, GError **error);
typedef enum { RAFT_CONF_ADD, RAFT_CONF_REMOVE } RaftConfChange;
gboolean raft_propose_conf(Raft *r, RaftConfChange op, uint32_t peer, uint64_t *index_out, GError **error);
void raft_campaign(Raft *r);
/* hold: never campaign (the application's state is not whole yet: it is catching up). */
void raft_hold_campaign(Raft *r, bool hold);

bool raft_has_ready(const Raft *r);
void raft_ready_take(Raft *r, RaftReady *out);
void raft_ready_clear(RaftReady *rd);

/* Introspection, for the application, tests and checkers. */
uint32_t raft_id(const Raft *r);
RaftRole raft_role(const Raft *r);
const char *raft_role_name(RaftRole role);
uint64_t raft_term(const Raft *r);
uint32_t raft_vote(const Raft *r);
uint32_t raft_leader(const Raft *r);      /* 0 = unknown */
uint64_t raft_commit(const Raft *r);
uint64_t raft_applied(const Raft *r);
uint64_t raft_last_index(const Raft *r);
uint64_t raft_snapshot_index(const Raft *r);
uint64_t raft_term_at(const Raft *r, uint64_t index); /* 0 when not known (compacted, or past the end) */
const RaftEntry *raft_entry_at(const Raft *r, uint64_t index); /* NULL when not in memory */
uint64_t raft_match_of(const Raft *r, uint32_t peer);  /* leader only: what it knows peer holds */
bool raft_damaged(const Raft *r);          /* booted damaged and not repaired yet (RaftBoot) */
uint32_t raft_transfer_target(const Raft *r); /* leader handing over: to whom (0: not handing over) */
uint64_t raft_next_of(const Raft *r, uint32_t peer);
/* The configuration in force (its voters), whether id is one of them, and the index of the
 * CONF entry it came from (0: the snapshot's or the bootstrap one; > commit: not final). */
const uint32_t *raft_peers(const Raft *r, size_t *n);
bool raft_is_member(const Raft *r, uint32_t id);
uint64_t raft_conf_index(const Raft *r);
/* The configuration in force right after index (FALSE: index is compacted or past the end). */
bool raft_conf_at(const Raft *r, uint64_t index, RaftPeers *out);
void raft_check_invariants(const Raft *r);

#endif
