/* raft_checker.h — Raft's safety checkers and the chain-of-blocks test application, shared by
 * the in-test cluster (tests/test_raft.c), the simulator's Raft workload (sim/sim_raft.c) and
 * the simulator's clustered JetStream runs (sim/sim_jscluster.c: every Raft group of every
 * broker, the meta group and each stream's).
 *
 * WHAT IT IS
 *   One object that watches every node of one Raft group from outside, through raft.h's
 *   introspection and the Ready batches, and reports each broken promise through a callback
 *   (the caller stamps the time and decides what a violation does to the run). It also owns
 *   the test application: each node's state is (applied index, chain hash); applying entry i
 *   sets chain = H(chain, i, term, H(data)). A snapshot is those 16 bytes. If two nodes ever
 *   apply different entries at one index, their chains differ from there on.
 *
 * INTERFACE (ids are Raft ids: 1..n, or the members set with raft_checker_members)
 *   raft_checker_new(n, on_violation, ctx) / raft_checker_free(k)
 *   raft_checker_members(k, ids, names) a group whose Raft ids are not 1..n (a broker's
 *                                       groups: ids are hashes of server names); the names
 *                                       are what violations print
 *   raft_checker_ready(k, r, rd)        a Ready just taken from r, BEFORE persisting it:
 *                                       log matching, leader append-only (no rewrites)
 *   raft_checker_node(k, r)             after r's Ready batches were processed: r's own
 *                                       invariants, election safety, leader append-only,
 *                                       leader completeness
 *   raft_checker_apply(k, id, entry)    the application applies a committed entry:
 *                                       state machine safety and equal chain hashes
 *   raft_checker_restore(k, id, snap)   install a snapshot (NULL: empty state)
 *   raft_checker_restore_at(k, id, index, term)  for an application whose snapshot is not
 *                                       the chain (a stream's): the member's state is now
 *                                       "everything through index", compared with what was
 *                                       applied there by (index, term): a compacted prefix
 *                                       is judged by its snapshot's index and term
 *   raft_checker_snapshot(k, id)        the application's snapshot (16 bytes)
 *   raft_checker_restarted(k, id)       a node came back from a crash (forget its leadership)
 *   raft_checker_value(data)            the first 8 bytes of a command (its value)
 *   k->describe = fn                    how violations name an entry's payload (default:
 *                                       "value N"; a broker's groups name ops and messages)
 *
 * MESSAGES
 *   A violation names the property (with its promise in one line, as Figure 3 of the Raft
 *   paper states it), the members, the index and terms, and what each side holds there,
 *   so that a student can read the failure without the source: e.g.
 *     leader completeness (a leader holds every committed entry) broken: n2 won term 2
 *     without index 172, committed in term 1 (n1 applied it: publish seq 171 'J1:195:..');
 *     n2's log ends at index 171 (term 1)
 *
 * CHECKERS
 *   election safety      a map term -> leader; a second leader for a term is a violation,
 *                        whatever configurations the two used; a new leader must be a
 *                        voter of the configuration in force in its log
 *   membership           every configuration entry persisted anywhere differs from the
 *                        configuration before it by exactly one voter
 *   leader append-only   a leader's last index never shrinks within its term, its entry there
 *                        keeps its term, and its Ready never rewrites an index it had
 *   log matching         every persisted (index, term) is recorded with its data hash and its
 *                        predecessor's term; every copy anywhere must match
 *   leader completeness  a node becoming leader holds every entry anyone has applied
 *   state machine safety the first apply at each index is recorded with its chain hash; every
 *                        later apply anywhere must match
 *   raft_check_invariants each node's own invariants (asserts: an internal error)
 *
 * INVARIANTS
 *   - Maps are looked up, never iterated: nothing depends on hash order or pointers.
 */
#ifndef MINIJET_RAFT_CHECKER_H
#define MINIJET_RAFT_CHECKER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "raft.h"

#define RAFT_CHECKER_MAXN 9

typedef struct RaftCheckerNode {
    uint32_t id;                                  /* Raft id */
    char name[16];                                /* for messages: "n3" */
    uint64_t applied, chain;                      /* the application */
    uint64_t lead_term, lead_last, lead_last_term; /* leader append-only */
    uint64_t taken_term, taken_last; /* the last index a leader handed out for persisting, in that term */
} RaftCheckerNode;

typedef struct RaftCheckerCommit {
    bool set;
    uint64_t term, data_hash, value, chain;
    uint32_t first_node;
    GBytes *data;                                /* the entry first applied here (for messages) */
} RaftCheckerCommit;

typedef void (*RaftCheckerViolationFn)(void *ctx, const char *what);
/* An entry's payload in a few words for a violation message ("publish seq 171 'J1:..'");
 * g_free. Unset: "value N", the chain application's command. */
typedef char *(*RaftCheckerDescribeFn)(GBytes *data /* may be NULL: empty */);

typedef struct RaftChecker {
    int n;
    RaftCheckerNode node[RAFT_CHECKER_MAXN]; /* by id - 1 */
    GHashTable *term_leader;                 /* term -> leader id */
    GArray *commits;                         /* RaftCheckerCommit by index */
    uint64_t max_commit;                     /* highest index anyone applied */
    GHashTable *metas;                       /* (index, term) packed -> EntryMeta* */
    RaftCheckerViolationFn on_violation;
    RaftCheckerDescribeFn describe;
    void *ctx;
    uint64_t violations;
} RaftChecker;

RaftChecker *raft_checker_new(int n, RaftCheckerViolationFn on_violation, void *ctx);
void raft_checker_free(RaftChecker *k);
void raft_checker_members(RaftChecker *k, const uint32_t *ids, const char *const *names);
void raft_checker_ready(RaftChecker *k, const Raft *r, const RaftReady *rd);
void raft_checker_node(RaftChecker *k, const Raft *r);
void raft_checker_apply(RaftChecker *k, uint32_t id, const RaftEntry *e);
void raft_checker_restore(RaftChecker *k, uint32_t id, GBytes *snap);
void raft_checker_restore_at(RaftChecker *k, uint32_t id, uint64_t index, uint64_t term);
GBytes *raft_checker_snapshot(const RaftChecker *k, uint32_t id);
void raft_checker_restarted(RaftChecker *k, uint32_t id);
/* The record of index (NULL if nobody applied it yet). */
const RaftCheckerCommit *raft_checker_commit_at(const RaftChecker *k, uint64_t index);
uint64_t raft_checker_value(GBytes *data);

#endif
