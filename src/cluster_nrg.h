/* cluster_nrg.h — one Raft group on one server, carried by the server's own message bus.
 *
 * WHAT IT IS
 *   raft.c is a pure state machine; this is the driver that gives it a clock, a disk and a
 *   network, the way the simulator's sim_raft.c does, but inside a broker: ticks come from
 *   an env timer, the log and hard state live under the store directory (raft_log), and
 *   every Raft message is an internal message on the subject
 *
 *       $NRG.<group>.<to>          <to> = the addressed peer's id, 8 hex digits
 *
 *   published with server_publish and received through an internal subscription on this
 *   peer's own subject. So two servers joined by routes exchange Raft traffic like any
 *   other messages (interest for $NRG.<group>.<id> exists only on server <id>), and the unit
 *   tests can join several brokers by bridging their publishes. (nats-server also calls
 *   its groups "NRG"; its subjects and encoding differ: ours is raft_msg.)
 *   Book chapter: book/11-clustering.md.
 *
 * THE READY LOOP
 *   Nothing is processed inside the subscription handler: a received message is decoded and
 *   stepped, a proposal is appended, and one zero-delay env timer (after the loop turn's
 *   I/O) drains raft's Ready: persist and fsync (raft_log_save), THEN publish the messages,
 *   THEN apply the committed entries through the owner's callback. Everything that arrived
 *   in one turn shares one fsync (group commit for Raft), and a vote or an append is never
 *   answered before it is on disk (the Ready contract, raft.h).
 *
 * INTERFACE
 *   nrg_new(srv, cfg, cb, ctx, error)   open (or create) <dir>, recover, start ticking
 *   nrg_free(n)                         stop; nothing is deleted (nrg_destroy deletes)
 *   nrg_propose(n, data, len, error)    leader only; the entry comes back through cb->apply
 *                                       on every member once committed
 *   nrg_campaign(n)                     start an election as soon as a majority of the voters
 *                                       can be reached (a new group's preferred peer)
 *   nrg_stepdown(n, error)              hand leadership to the most caught-up follower
 *   nrg_is_leader(n)                    leader of the current term
 *   nrg_handing_over(n)                 a leader transferring leadership (nrg_stepdown): it
 *                                       takes no proposals until the transfer ends or fails
 *   nrg_ready(n)                        leader AND everything logged before its term began is
 *                                       applied here (only now does its state machine show
 *                                       every committed entry) AND a majority answered it
 *                                       within LIMIT_CLUSTER_CURRENT_NS: only now may it answer
 *   nrg_leader(n)                       the leader this member knows (0: none; a leader cut
 *                                       off from its majority says 0 too)
 *   nrg_self(n), nrg_peers(n), nrg_peer_info(n, peer, &info)
 *   nrg_peer_id(server_name)            a server's peer id (a hash of its name, never 0)
 *
 * CALLBACKS (never called re-entrantly from inside nrg_propose)
 *   apply(ctx, index, data, len)  a committed entry, in index order, on every member
 *   state(ctx)                    role, leader, readiness or handing over changed
 *
 * SYNC POLICY
 *   With sync_interval_ns = 0 (the default) the invariant below holds. A lazy policy writes
 *   entries without fsyncing them (fsync every interval, or never): an append is answered,
 *   and so a publish acknowledged, with the entry only in the page cache of a majority. A
 *   power cut on that majority loses it: what nats-server's default sync_interval (2 min)
 *   allows, and what the simulator's jepsen-7564 shows. The hard state (term, vote) is
 *   always fsynced: a lazy vote could be cast twice.
 *
 * SNAPSHOTS (book 11.10)
 *   After applying, once snapshot_entries entries were applied past the last snapshot or
 *   raft.log holds snapshot_bytes, the driver asks the owner for its state (cb->snapshot)
 *   and compacts the Raft log to the applied index (raft_compact; raft_log_save writes the
 *   snapshot atomically and rewrites the log without what it covers). A follower the leader
 *   can no longer feed from its log receives the snapshot: cb->restore. So does the owner at
 *   boot, with this member's own snapshot, before the entries after it are applied.
 *
 * INVARIANTS
 *   - No Raft message leaves before the state it depends on is fsynced (default policy).
 *   - apply sees every committed index once per process lifetime, in order (after a
 *     restart, from the snapshot on: owners make apply idempotent). Applied entries are
 *     never behind Raft's own applied index except while held.
 *   - The log is compacted only up to what the owner has applied (never while held).
 */
#ifndef MINIJET_CLUSTER_NRG_H
#define MINIJET_CLUSTER_NRG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "server.h"

typedef struct Nrg Nrg;

typedef struct NrgCallbacks {
    void (*apply)(void *ctx, uint64_t index, const uint8_t *data, size_t len);
    void (*state)(void *ctx);
    /* The owner's state after everything applied so far (NULL: no snapshots for this group). */
    GBytes *(*snapshot)(void *ctx);
    /* Replace the owner's state with a snapshot: one a leader sent, or this member's own at
     * boot. The owner may call nrg_hold() from here while it fetches what the snapshot
     * describes but its store lacks. */
    void (*restore)(void *ctx, const uint8_t *data, size_t len);
    /* A membership change committed (optional): the owner may start the next one. */
    void (*conf)(void *ctx);
} NrgCallbacks;

/* An observer outside the broker (the simulator's Raft checkers, sim/sim_jscluster.c) sees
 * every member's Raft state as the Ready loop moves it: OPEN after recovery, TAKEN when a
 * Ready batch is taken (before it is persisted), DONE when it was persisted, sent and
 * applied. It may only read. NULL in every real server. */
typedef enum { NRG_OBS_OPEN, NRG_OBS_TAKEN, NRG_OBS_DONE } NrgObsPhase;
struct Raft;
struct RaftReady;
typedef void (*NrgObserveFn)(void *ctx, const Nrg *n, const struct Raft *r, const struct RaftReady *rd,
                             NrgObsPhase phase);

/* Deliberately broken variants, for the simulator's checkers to catch (never in a real server). */
typedef enum {
    NRG_BUG_NONE = 0,
    NRG_BUG_APPEND_BEFORE_FSYNC = 1 << 0, /* a follower answers an append before its fsync */
    NRG_BUG_VOTE_TRUNCATED = 1 << 1,      /* a member whose log recovery cut short votes anyway */
} NrgBug;

typedef struct NrgConfig {
    const char *group;      /* a subject token: no '.', '*', '>' or blanks */
    const char *dir;        /* env path for raft.log / raft.state / raft.snap */
    uint32_t self;
    const uint32_t *peers;  /* every member, self included */
    size_t n_peers;
    const uint32_t *boot_peers; /* the group's first configuration, for Raft (NULL: peers). A
                                   server added later is not in it: it becomes a voter when
                                   the leader's CONF entry adding it arrives (raft.c) */
    size_t n_boot_peers;
    bool joining;           /* an existing group, not one being created: a member that boots
                               with nothing (no entry, no snapshot: a server added, or removed
                               and added again, its files deleted, or a first member that
                               learned of the group from a meta snapshot) neither votes nor
                               campaigns until a leader has reached it (two such members
                               would elect each other with empty logs). A server added later
                               takes the boot peers WITHOUT itself (it becomes a voter by the
                               leader's CONF entry); one of the group's first members keeps
                               them as they are, as every other member does */
    int64_t sync_interval_ns; /* 0: fsync entries before answering (default); > 0: every interval
                                 (lazy, like the stream store's sync_interval); < 0: never */
    unsigned bug;           /* NrgBug flags; 0 in every real use */
    NrgObserveFn observe;   /* NULL in every real use (see NrgObserveFn) */
    void *observe_ctx;
    uint64_t snapshot_entries; /* compact once this many entries are applied past the last
                                  snapshot; 0 = LIMIT_CLUSTER_SNAPSHOT_ENTRIES */
    uint64_t snapshot_bytes;   /* ... or once raft.log is this large; 0 = LIMIT_CLUSTER_SNAPSHOT_BYTES */
} NrgConfig;

typedef struct NrgPeerInfo {
    bool current;           /* leader: its log matches ours, it answered lately and it has
                               applied what we had committed a few ticks ago (cluster_nrg.c) */
    int64_t active_ns;      /* since we last heard from it (0 for self) */
    uint64_t lag;           /* leader only: entries its log is behind */
    uint64_t applied;       /* leader only: its last reported applied index (0: held) */
    bool offline;           /* silent for a whole LIMIT_CLUSTER_CURRENT_NS that we listened
                               through (see nrg_peer_info) */
} NrgPeerInfo;

Nrg *nrg_new(Server *srv, const NrgConfig *cfg, const NrgCallbacks *cb, void *ctx, GError **error);
void nrg_free(Nrg *n);
/* Stop and delete the group's files. */
void nrg_destroy(Nrg *n);
gboolean nrg_propose(Nrg *n, const void *data, size_t len, GError **error);
void nrg_campaign(Nrg *n);
gboolean nrg_stepdown(Nrg *n, GError **error);
/* Membership (raft.c, MEMBERSHIP CHANGES): leader only, one voter at a time; the voters in
 * force; and the members this driver tracks (heard from, info, quorum, stepdown target). */
gboolean nrg_change_peer(Nrg *n, bool add, uint32_t peer, GError **error);
const uint32_t *nrg_voters(const Nrg *n, size_t *count);
void nrg_set_peers(Nrg *n, const uint32_t *peers, size_t count);
/* Leader only: peer is no voter in a configuration that has committed (a removed member may
 * delete its replica: no majority will ever need it again). */
bool nrg_voter_removed(const Nrg *n, uint32_t peer);
/* The index of the configuration in force (0: the bootstrap or the snapshot's). */
uint64_t nrg_conf_index(const Nrg *n);
/* This server, or a tracked member heard from within `within` ns. */
bool nrg_heard(const Nrg *n, uint32_t peer, int64_t within);
bool nrg_is_leader(const Nrg *n);
bool nrg_handing_over(const Nrg *n);
bool nrg_ready(const Nrg *n);
uint32_t nrg_leader(const Nrg *n);
uint32_t nrg_self(const Nrg *n);
const uint32_t *nrg_peers(const Nrg *n, size_t *count);
void nrg_peer_info(const Nrg *n, uint32_t peer, NrgPeerInfo *out);
uint64_t nrg_term(const Nrg *n);
/* A Ready pass is scheduled: role or readiness may have changed and the owner is not told yet. */
bool nrg_pending(const Nrg *n);
uint64_t nrg_applied(const Nrg *n);
/* The last index of the log this member booted with. Entries up to it were proposed before
 * this server (re)started: whoever waited for their answers was answered then or gave up, so
 * a leader replaying them (a store rebuilt from the log) applies them without answering. */
uint64_t nrg_boot_last(const Nrg *n);
/* Hold applies (the owner is catching up after a restore): committed entries wait in the
 * Raft log, nothing is compacted, this member does not campaign and is not ready.
 * nrg_release applies what waited. */
void nrg_hold(Nrg *n);
void nrg_release(Nrg *n);
bool nrg_held(const Nrg *n);
uint64_t nrg_snapshot_index(const Nrg *n);
uint64_t nrg_log_entries(const Nrg *n);   /* in the Raft log after the snapshot */
uint64_t nrg_log_bytes(const Nrg *n);     /* raft.log + raft.state on disk */
const char *nrg_group(const Nrg *n);

uint32_t nrg_peer_id(const char *server_name);
/* "%08x" of a peer id into buf[9]. */
const char *nrg_peer_hex(uint32_t id, char buf[9]);

#endif
