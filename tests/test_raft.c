/* test_raft.c — Raft: the pure state machine rule by rule, its persistence under crashes,
 * and a deterministic in-test cluster running the MIT 6.5840 test list with its budgets.
 *
 *   /raft/paper/...    one input, the messages out; each test quotes the sentence of the
 *                      Raft paper (Figure 2 or §5) or thesis it checks, as etcd-raft's
 *                      raft_paper_test.go does
 *   /raft/msg/...      the wire format: round trips, every truncation, every bit flip
 *   /raft/log/...      raft_log on tests/test_env's disk: crash with each TestCrashMode, crash
 *                      at every write of a save, torn tails, bit flips, conflicting suffixes
 *   /raft/cluster/...  N Raft nodes, one TestEnv (disk, randomness) per node, a seeded network
 *                      (delay, drop, duplicate, reorder, partition), crash + restart with
 *                      unsynced-write loss; the 6.5840 tests under our names, several seeds
 *                      each; invariant checkers after every step (election safety, leader
 *                      append-only, log matching, leader completeness, state machine safety,
 *                      equal chain hashes of applied entries)
 *   /raft/broken/...   a deliberately broken commit rule, caught by the checkers
 *
 * REPLAYING A FAILURE
 *   A failing cluster test prints its seed and the command that replays exactly that run:
 *     RAFT_SEED=17 build/tests/test_raft -p /raft/cluster/figure8
 *   RAFT_TRACE=1 also prints one line per delivered message.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "raft.h"
#include "raft_checker.h" /* sim/raft_checker.c: the checkers, shared with the simulator */
#include "raft_log.h"
#include "test_env.h"

/* ================================================================ unit-test helpers */

static uint64_t counter_random(void *ctx) {
    uint64_t *s = ctx;
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const uint32_t PEERS[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
/* The configuration the log and message tests record with their snapshots. */
static const RaftPeers LOG_PEERS = {3, {1, 2, 3}};
static uint64_t unit_rng = 1;

static RaftConfig unit_cfg(uint32_t id, size_t n, bool pre_vote) {
    RaftConfig cfg = {0};
    cfg.id = id;
    cfg.peers = PEERS;
    cfg.n_peers = n;
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 1;
    cfg.pre_vote = pre_vote;
    cfg.random_u64 = counter_random;
    cfg.random_ctx = &unit_rng;
    return cfg;
}

static GBytes *bytes_str(const char *s) { return g_bytes_new(s, strlen(s)); }

/* A node whose log holds entries with the given terms (index 1, 2, ...), at hard-state term. */
static Raft *unit_new_with_log(uint32_t id, size_t n, bool pre_vote, const uint64_t *terms, size_t n_terms,
                               uint64_t term) {
    RaftConfig cfg = unit_cfg(id, n, pre_vote);
    RaftBoot boot = {0};
    boot.hs.term = term;
    boot.entries = g_new0(RaftEntry, n_terms ? n_terms : 1);
    boot.n_entries = n_terms;
    for (size_t i = 0; i < n_terms; i++) {
        boot.entries[i].term = terms[i];
        boot.entries[i].index = i + 1;
        char name[24];
        g_snprintf(name, sizeof name, "e%zu", i + 1);
        boot.entries[i].data = g_bytes_new(name, strlen(name));
    }
    GError *error = NULL;
    Raft *r = raft_new(&cfg, &boot, &error);
    g_assert_no_error(error);
    raft_boot_clear(&boot);
    return r;
}

static Raft *unit_new(uint32_t id, size_t n, bool pre_vote) { return unit_new_with_log(id, n, pre_vote, NULL, 0, 0); }

/* Take everything the node has to say; the Ready itself is returned for inspection. */
static RaftReady take(Raft *r) {
    RaftReady rd;
    raft_ready_take(r, &rd);
    return rd;
}

static void drain(Raft *r) {
    while (raft_has_ready(r)) {
        RaftReady rd = take(r);
        raft_ready_clear(&rd);
    }
}

static size_t count_type(const RaftReady *rd, RaftMsgType t) {
    size_t k = 0;
    for (size_t i = 0; i < rd->n_msgs; i++) k += rd->msgs[i].type == t;
    return k;
}

static const RaftMsg *find_msg(const RaftReady *rd, RaftMsgType t, uint32_t to) {
    for (size_t i = 0; i < rd->n_msgs; i++)
        if (rd->msgs[i].type == t && (to == 0 || rd->msgs[i].to == to)) return &rd->msgs[i];
    return NULL;
}

/* find_msg() for a message the test needs: a handler that sent none fails with a message
 * saying so, never with a NULL dereference (a lab starter must fail, not crash). */
static const RaftMsg *need_msg_at(const RaftReady *rd, RaftMsgType t, uint32_t to, const char *file, int line,
                                  const char *func) {
    const RaftMsg *m = find_msg(rd, t, to);
    if (m == NULL) {
        g_autofree char *why = g_strdup_printf("expected a %s message to node %u; the handler sent none",
                                               raft_msg_type_name(t), to);
        g_assertion_message(G_LOG_DOMAIN, file, line, func, why);
    }
    return m;
}
#define need_msg(rd, t, to) need_msg_at((rd), (t), (to), __FILE__, __LINE__, G_STRFUNC)

static RaftMsg mk(RaftMsgType t, uint32_t from, uint32_t to, uint64_t term) {
    RaftMsg m = {0};
    m.type = t;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

static void step_ok(Raft *r, const RaftMsg *m) {
    GError *error = NULL;
    g_assert_true(raft_step(r, m, &error));
    g_assert_no_error(error);
    raft_check_invariants(r);
}

static void tick_n(Raft *r, int n) {
    for (int i = 0; i < n; i++) raft_tick(r);
}

/* Make node 1 of 3 the leader of term 1 with every vote granted. */
static Raft *unit_leader(size_t n) {
    Raft *r = unit_new(1, n, false);
    raft_campaign(r);
    drain(r);
    for (uint32_t p = 2; p <= n; p++) {
        RaftMsg v = mk(RAFT_MSG_VOTE_RESP, p, 1, raft_term(r));
        step_ok(r, &v);
    }
    g_assert_cmpint(raft_role(r), ==, RAFT_LEADER);
    drain(r);
    return r;
}

/* ================================================================ /raft/paper */

/* "If election timeout elapses without receiving AppendEntries RPC from current leader or
 *  granting vote to candidate: convert to candidate" and "On conversion to candidate, start
 *  election: Increment currentTerm, Vote for self, ... Send RequestVote RPCs to all other
 *  servers" (Figure 2, Rules for Servers). */
static void test_paper_follower_campaigns(void) {
    Raft *r = unit_new(1, 3, false);
    tick_n(r, 2 * 10);
    g_assert_cmpint(raft_role(r), ==, RAFT_CANDIDATE);
    g_assert_cmpuint(raft_term(r), ==, 1);
    g_assert_cmpuint(raft_vote(r), ==, 1);
    RaftReady rd = take(r);
    /* The vote for self is in the same batch as the requests: persisted before they leave. */
    g_assert_true(rd.has_hard_state);
    g_assert_cmpuint(rd.hs.vote, ==, 1);
    g_assert_cmpuint(count_type(&rd, RAFT_MSG_VOTE), ==, 2);
    raft_ready_clear(&rd);
    raft_free(r);
}

/* "If votedFor is null or candidateId, and candidate's log is at least as up-to-date as
 *  receiver's log, grant vote" (Figure 2, RequestVote RPC, receiver implementation 2). */
static void test_paper_vote_once_per_term(void) {
    Raft *r = unit_new(1, 3, false);
    RaftMsg v2 = mk(RAFT_MSG_VOTE, 2, 1, 1);
    step_ok(r, &v2);
    RaftReady rd = take(r);
    g_assert_true(rd.has_hard_state);
    g_assert_cmpuint(rd.hs.vote, ==, 2);
    g_assert_false(need_msg(&rd, RAFT_MSG_VOTE_RESP, 2)->reject);
    raft_ready_clear(&rd);
    RaftMsg v3 = mk(RAFT_MSG_VOTE, 3, 1, 1);
    step_ok(r, &v3);
    rd = take(r);
    g_assert_true(need_msg(&rd, RAFT_MSG_VOTE_RESP, 3)->reject); /* already voted for 2 in term 1 */
    raft_ready_clear(&rd);
    step_ok(r, &v2); /* a retransmission from the same candidate: granted again */
    rd = take(r);
    g_assert_false(need_msg(&rd, RAFT_MSG_VOTE_RESP, 2)->reject);
    raft_ready_clear(&rd);
    raft_free(r);
}

/* "Raft determines which of two logs is more up-to-date by comparing the index and term of
 *  the last entries in the logs. If the logs have last entries with different terms, then the
 *  log with the later term is more up-to-date. If the logs end with the same term, then
 *  whichever log is longer is more up-to-date." (§5.4.1) */
static void test_paper_vote_up_to_date(void) {
    static const uint64_t terms[] = {1, 2};
    struct { uint64_t last_term, last_index; bool grant; } cases[] = {
        {1, 5, false}, /* longer but older last term */
        {2, 1, false}, /* same last term, shorter */
        {2, 2, true},  /* equal */
        {2, 3, true},  /* same term, longer */
        {3, 1, true},  /* later term wins however short */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        Raft *r = unit_new_with_log(1, 3, false, terms, 2, 2);
        RaftMsg v = mk(RAFT_MSG_VOTE, 2, 1, 3);
        v.log_term = cases[i].last_term;
        v.index = cases[i].last_index;
        step_ok(r, &v);
        RaftReady rd = take(r);
        g_assert_cmpint(!need_msg(&rd, RAFT_MSG_VOTE_RESP, 2)->reject, ==, cases[i].grant);
        raft_ready_clear(&rd);
        raft_free(r);
    }
}

/* "Reply false if term < currentTerm" (Figure 2, AppendEntries and RequestVote receivers). */
static void test_paper_stale_term_rejected(void) {
    Raft *r = unit_new_with_log(1, 3, false, NULL, 0, 5);
    RaftMsg a = mk(RAFT_MSG_APPEND, 2, 1, 4);
    step_ok(r, &a);
    RaftReady rd = take(r);
    const RaftMsg *resp = find_msg(&rd, RAFT_MSG_APPEND_RESP, 2);
    g_assert_nonnull(resp);
    g_assert_true(resp->reject);
    g_assert_cmpuint(resp->term, ==, 5); /* so the stale leader learns it is stale */
    raft_ready_clear(&rd);
    RaftMsg v = mk(RAFT_MSG_VOTE, 3, 1, 4);
    step_ok(r, &v);
    rd = take(r);
    g_assert_true(need_msg(&rd, RAFT_MSG_VOTE_RESP, 3)->reject);
    raft_ready_clear(&rd);
    g_assert_cmpuint(raft_term(r), ==, 5);
    g_assert_cmpuint(raft_leader(r), ==, 0);
    raft_free(r);
}

/* "If RPC request or response contains term T > currentTerm: set currentTerm = T, convert
 *  to follower" (Figure 2, Rules for Servers, All Servers). */
static void test_paper_higher_term_converts(void) {
    Raft *r = unit_leader(3);
    RaftMsg resp = mk(RAFT_MSG_APPEND_RESP, 2, 1, 7);
    resp.reject = true;
    step_ok(r, &resp);
    g_assert_cmpint(raft_role(r), ==, RAFT_FOLLOWER);
    g_assert_cmpuint(raft_term(r), ==, 7);
    g_assert_cmpuint(raft_vote(r), ==, 0);
    raft_free(r);
}

/* "A candidate wins an election if it receives votes from a majority of the servers in the
 *  full cluster for the same term" ... "it then sends heartbeat messages to all of the other
 *  servers to establish its authority" (§5.2). */
static void test_paper_candidate_wins(void) {
    Raft *r = unit_new(1, 5, false);
    raft_campaign(r);
    drain(r);
    RaftMsg v = mk(RAFT_MSG_VOTE_RESP, 2, 1, 1);
    step_ok(r, &v);
    step_ok(r, &v); /* a duplicate vote counts once */
    g_assert_cmpint(raft_role(r), ==, RAFT_CANDIDATE);
    v.from = 3;
    step_ok(r, &v);
    g_assert_cmpint(raft_role(r), ==, RAFT_LEADER);
    RaftReady rd = take(r);
    g_assert_cmpuint(count_type(&rd, RAFT_MSG_APPEND), ==, 4);
    g_assert_cmpuint(rd.n_entries, ==, 1); /* the no-op of the new term */
    g_assert_cmpuint(rd.entries[0].term, ==, 1);
    raft_ready_clear(&rd);
    raft_free(r);
}

/* "If AppendEntries RPC received from new leader: convert to follower" (Figure 2, Candidates). */
static void test_paper_candidate_steps_down(void) {
    Raft *r = unit_new(1, 3, false);
    raft_campaign(r);
    drain(r);
    RaftMsg a = mk(RAFT_MSG_APPEND, 2, 1, 1);
    step_ok(r, &a);
    g_assert_cmpint(raft_role(r), ==, RAFT_FOLLOWER);
    g_assert_cmpuint(raft_leader(r), ==, 2);
    raft_free(r);
}

/* "Reply false if log doesn't contain an entry at prevLogIndex whose term matches
 *  prevLogTerm" (Figure 2, AppendEntries receiver 2), with the back-up hint of §5.3. */
static void test_paper_append_prev_mismatch(void) {
    static const uint64_t terms[] = {1, 1, 2, 2, 2};
    Raft *r = unit_new_with_log(1, 3, false, terms, 5, 4);
    RaftMsg a = mk(RAFT_MSG_APPEND, 2, 1, 4);
    a.index = 4;
    a.log_term = 3; /* we have term 2 at index 4 */
    step_ok(r, &a);
    RaftReady rd = take(r);
    const RaftMsg *resp = need_msg(&rd, RAFT_MSG_APPEND_RESP, 2);
    g_assert_true(resp->reject);
    g_assert_cmpuint(resp->hint_term, ==, 2);
    g_assert_cmpuint(resp->hint_index, ==, 3); /* first index of term 2 */
    raft_ready_clear(&rd);
    a.index = 9; /* beyond our log */
    step_ok(r, &a);
    rd = take(r);
    resp = need_msg(&rd, RAFT_MSG_APPEND_RESP, 2);
    g_assert_true(resp->reject);
    g_assert_cmpuint(resp->hint_term, ==, 0);
    g_assert_cmpuint(resp->hint_index, ==, 6);
    raft_ready_clear(&rd);
    raft_free(r);
}

/* "If an existing entry conflicts with a new one (same index but different terms), delete
 *  the existing entry and all that follow it" and "Append any new entries not already in
 *  the log" (Figure 2, AppendEntries receiver 3, 4). */
static void test_paper_append_conflict_truncates(void) {
    static const uint64_t terms[] = {1, 1, 2, 2};
    Raft *r = unit_new_with_log(1, 3, false, terms, 4, 3);
    RaftMsg a = mk(RAFT_MSG_APPEND, 2, 1, 3);
    a.index = 2;
    a.log_term = 1;
    a.n_entries = 2;
    a.entries = g_new0(RaftEntry, 2);
    a.entries[0] = (RaftEntry){3, 3, bytes_str("x"), RAFT_ENTRY_NORMAL};
    a.entries[1] = (RaftEntry){3, 4, bytes_str("y"), RAFT_ENTRY_NORMAL};
    step_ok(r, &a);
    g_assert_cmpuint(raft_last_index(r), ==, 4);
    g_assert_cmpuint(raft_term_at(r, 3), ==, 3);
    RaftReady rd = take(r);
    g_assert_cmpuint(rd.n_entries, ==, 2); /* persist from the conflict on */
    g_assert_cmpuint(rd.entries[0].index, ==, 3);
    g_assert_false(need_msg(&rd, RAFT_MSG_APPEND_RESP, 2)->reject);
    g_assert_cmpuint(need_msg(&rd, RAFT_MSG_APPEND_RESP, 2)->index, ==, 4);
    raft_ready_clear(&rd);
    step_ok(r, &a); /* the same append again changes nothing */
    rd = take(r);
    g_assert_cmpuint(rd.n_entries, ==, 0);
    raft_ready_clear(&rd);
    raft_msg_clear(&a);
    raft_free(r);
}

/* "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new
 *  entry)" (Figure 2, AppendEntries receiver 5). */
static void test_paper_follower_commit_min(void) {
    static const uint64_t terms[] = {1, 1, 1, 1, 1};
    Raft *r = unit_new_with_log(1, 3, false, terms, 5, 1);
    RaftMsg a = mk(RAFT_MSG_APPEND, 2, 1, 1);
    a.index = 2;
    a.log_term = 1;
    a.commit = 5; /* our entries 3..5 were not checked by this message */
    step_ok(r, &a);
    g_assert_cmpuint(raft_commit(r), ==, 2);
    RaftReady rd = take(r);
    g_assert_cmpuint(rd.n_committed, ==, 2); /* apply 1 and 2 */
    raft_ready_clear(&rd);
    raft_free(r);
}

/* "Raft never commits log entries from previous terms by counting replicas. Only log entries
 *  from the leader's current term are committed by counting replicas" (§5.4.2). */
static void test_paper_leader_commits_current_term_only(void) {
    static const uint64_t terms[] = {1, 1};
    Raft *r = unit_new_with_log(1, 3, false, terms, 2, 1);
    raft_campaign(r); /* term 2; its no-op goes to index 3 */
    drain(r);
    RaftMsg v = mk(RAFT_MSG_VOTE_RESP, 2, 1, 2);
    step_ok(r, &v);
    g_assert_cmpint(raft_role(r), ==, RAFT_LEADER);
    drain(r);
    RaftMsg ok = mk(RAFT_MSG_APPEND_RESP, 2, 1, 2);
    ok.index = 2; /* follower 2 holds the old entries 1..2: a majority, but of term 1 */
    step_ok(r, &ok);
    g_assert_cmpuint(raft_commit(r), ==, 0);
    ok.index = 3; /* now the term-2 no-op is on a majority: it and everything before commit */
    step_ok(r, &ok);
    g_assert_cmpuint(raft_commit(r), ==, 3);
    raft_free(r);
}

/* "Each server will vote for at most one candidate in a given term" — and persists it first:
 *  "Updated on stable storage before responding to RPCs" (Figure 2, Persistent state). The
 *  Ready puts the hard state and the grant in one batch; the contract orders them. */
static void test_paper_hard_state_before_messages(void) {
    Raft *r = unit_new(2, 3, false);
    RaftMsg v = mk(RAFT_MSG_VOTE, 1, 2, 1);
    step_ok(r, &v);
    RaftReady rd = take(r);
    g_assert_true(rd.has_hard_state);
    g_assert_cmpuint(rd.hs.term, ==, 1);
    g_assert_cmpuint(rd.hs.vote, ==, 1);
    g_assert_cmpuint(rd.n_msgs, ==, 1);
    raft_ready_clear(&rd);
    raft_free(r);
}

/* Pre-vote (thesis §9.6): "a candidate would first ask other servers whether its log was
 *  up-to-date enough to get their vote. Only if the candidate believed it could get votes
 *  from a majority of the cluster would it increment its term and start a normal election."
 *  An isolated node never gets that majority, so its term never climbs. */
static void test_prevote_isolated_term_stable(void) {
    Raft *r = unit_new_with_log(3, 3, true, NULL, 0, 4);
    for (int round = 0; round < 10; round++) {
        tick_n(r, 20);
        drain(r); /* the pre-votes are lost: nobody answers */
    }
    g_assert_cmpuint(raft_term(r), ==, 4);
    g_assert_cmpint(raft_role(r), ==, RAFT_PRE_CANDIDATE);
    raft_free(r);
}

/* "servers ... disregard RequestVote RPCs when they believe a current leader exists": a
 *  follower that heard from its leader within the election timeout refuses a pre-vote. */
static void test_prevote_leader_alive_rejects(void) {
    Raft *r = unit_new(2, 3, true);
    RaftMsg hb = mk(RAFT_MSG_APPEND, 1, 2, 1);
    step_ok(r, &hb);
    drain(r);
    RaftMsg pv = mk(RAFT_MSG_PRE_VOTE, 3, 2, 2);
    step_ok(r, &pv);
    RaftReady rd = take(r);
    g_assert_true(need_msg(&rd, RAFT_MSG_PRE_VOTE_RESP, 3)->reject);
    raft_ready_clear(&rd);
    g_assert_cmpuint(raft_term(r), ==, 1); /* a pre-vote changes nothing */
    tick_n(r, 10);                         /* the leader has been silent a full timeout */
    drain(r);
    if (raft_role(r) == RAFT_FOLLOWER) {
        step_ok(r, &pv);
        rd = take(r);
        g_assert_false(need_msg(&rd, RAFT_MSG_PRE_VOTE_RESP, 3)->reject);
        raft_ready_clear(&rd);
    }
    raft_free(r);
}

/* A pre-candidate with a majority of yeses becomes a real candidate. */
static void test_prevote_then_vote(void) {
    Raft *r = unit_new(1, 3, true);
    tick_n(r, 20);
    g_assert_cmpint(raft_role(r), ==, RAFT_PRE_CANDIDATE);
    RaftReady rd = take(r);
    g_assert_cmpuint(count_type(&rd, RAFT_MSG_PRE_VOTE), ==, 2);
    g_assert_cmpuint(need_msg(&rd, RAFT_MSG_PRE_VOTE, 2)->term, ==, 1);
    g_assert_false(rd.has_hard_state); /* nothing changed */
    raft_ready_clear(&rd);
    RaftMsg yes = mk(RAFT_MSG_PRE_VOTE_RESP, 2, 1, 1);
    step_ok(r, &yes);
    g_assert_cmpint(raft_role(r), ==, RAFT_CANDIDATE);
    g_assert_cmpuint(raft_term(r), ==, 1);
    raft_free(r);
}

/* The leader's side of the back-up: one rejection with a term hint moves next past a whole
 *  term of conflicting entries (§5.3: "the follower can include the term of the conflicting
 *  entry and the first index it stores for that term"). */
static void test_backup_hint_skips_term(void) {
    static const uint64_t terms[] = {1, 1, 1, 4, 4, 4, 4};
    Raft *r = unit_new_with_log(1, 3, false, terms, 7, 4);
    raft_campaign(r); /* term 5, no-op at 8 */
    drain(r);
    RaftMsg v = mk(RAFT_MSG_VOTE_RESP, 2, 1, 5);
    step_ok(r, &v);
    drain(r);
    g_assert_cmpuint(raft_next_of(r, 2), ==, 8); /* the first probe carried the no-op */
    /* follower 2 has 1,1,1,2,2,2,2 (a dead leader's term 2): at index 7 it has term 2 */
    RaftMsg rej = mk(RAFT_MSG_APPEND_RESP, 2, 1, 5);
    rej.reject = true;
    rej.index = 7;
    rej.hint_term = 2;
    rej.hint_index = 4;
    step_ok(r, &rej);
    g_assert_cmpuint(raft_next_of(r, 2), ==, 4); /* leader has no term 2: skip the whole term */
    RaftReady rd = take(r);
    const RaftMsg *a = find_msg(&rd, RAFT_MSG_APPEND, 2);
    g_assert_nonnull(a);
    g_assert_cmpuint(a->index, ==, 3);
    g_assert_cmpuint(a->log_term, ==, 1);
    raft_ready_clear(&rd);
    raft_free(r);
}

/* InstallSnapshot (thesis §5.1): "If existing log entry has same index and term as
 *  snapshot's last included entry, retain log entries following it and reply" / "Discard the
 *  entire log" otherwise, and the application resets its state from the snapshot. */
static void test_snapshot_install(void) {
    static const uint64_t terms[] = {1, 1, 1};
    Raft *r = unit_new_with_log(2, 3, false, terms, 3, 1);
    RaftMsg s = mk(RAFT_MSG_SNAPSHOT, 1, 2, 3);
    s.index = 10;
    s.log_term = 3;
    s.snapshot = bytes_str("state@10");
    step_ok(r, &s);
    RaftReady rd = take(r);
    g_assert_true(rd.has_snapshot && rd.install_snapshot);
    g_assert_cmpuint(rd.snapshot.index, ==, 10);
    g_assert_cmpuint(rd.n_committed, ==, 0);
    g_assert_cmpuint(need_msg(&rd, RAFT_MSG_APPEND_RESP, 1)->index, ==, 10);
    raft_ready_clear(&rd);
    g_assert_cmpuint(raft_last_index(r), ==, 10);
    g_assert_cmpuint(raft_commit(r), ==, 10);
    g_assert_cmpuint(raft_term_at(r, 10), ==, 3);
    /* an older snapshot afterwards is old news */
    s.index = 5;
    step_ok(r, &s);
    rd = take(r);
    g_assert_false(rd.has_snapshot);
    raft_ready_clear(&rd);
    raft_msg_clear(&s);
    raft_free(r);
}

/* A leader whose log was compacted past what a follower needs sends the snapshot. */
static void test_snapshot_leader_sends(void) {
    Raft *r = unit_leader(3);
    for (int i = 0; i < 5; i++) {
        g_autoptr(GBytes) d = bytes_str("cmd");
        g_assert_true(raft_propose(r, d, NULL, NULL));
    }
    drain(r);
    RaftMsg ok = mk(RAFT_MSG_APPEND_RESP, 2, 1, 1);
    ok.index = 6;
    step_ok(r, &ok);
    g_assert_cmpuint(raft_commit(r), ==, 6);
    drain(r); /* applies 1..6 */
    g_autoptr(GBytes) snap = bytes_str("state@6");
    GError *error = NULL;
    g_assert_true(raft_compact(r, 6, snap, &error));
    g_assert_false(raft_compact(r, 7, snap, &error)); /* not applied yet */
    g_assert_error(error, RAFT_ERROR, RAFT_ERROR_BAD_ARG);
    g_clear_error(&error);
    RaftReady rd = take(r);
    g_assert_true(rd.has_snapshot && !rd.install_snapshot);
    raft_ready_clear(&rd);
    /* follower 3 never answered: it is still probed at index 1, which is gone; the next
     * heartbeat becomes an InstallSnapshot */
    raft_tick(r);
    rd = take(r);
    const RaftMsg *s = find_msg(&rd, RAFT_MSG_SNAPSHOT, 3);
    g_assert_nonnull(s);
    g_assert_cmpuint(s->index, ==, 6);
    raft_ready_clear(&rd);
    raft_free(r);
}

/* Leadership transfer (thesis §3.10): "the prior leader ... sends it a TimeoutNow request.
 *  This request has the same effect as the target server's election timer firing". */
static void test_transfer_timeout_now(void) {
    Raft *r = unit_leader(3);
    RaftMsg ok = mk(RAFT_MSG_APPEND_RESP, 2, 1, 1);
    ok.index = 1;
    step_ok(r, &ok);
    drain(r);
    GError *error = NULL;
    g_assert_true(raft_transfer_leadership(r, 2, &error));
    RaftReady rd = take(r);
    g_assert_nonnull(find_msg(&rd, RAFT_MSG_TIMEOUT_NOW, 2));
    raft_ready_clear(&rd);
    g_autoptr(GBytes) d = bytes_str("x");
    g_assert_false(raft_propose(r, d, NULL, &error));
    g_assert_error(error, RAFT_ERROR, RAFT_ERROR_TRANSFERRING);
    g_clear_error(&error);
    raft_free(r);
    /* the target campaigns at once, without pre-vote, even with pre-vote configured */
    Raft *t = unit_new(2, 3, true);
    RaftMsg hb = mk(RAFT_MSG_APPEND, 1, 2, 1);
    step_ok(t, &hb);
    drain(t);
    RaftMsg tn = mk(RAFT_MSG_TIMEOUT_NOW, 1, 2, 1);
    step_ok(t, &tn);
    g_assert_cmpint(raft_role(t), ==, RAFT_CANDIDATE);
    g_assert_cmpuint(raft_term(t), ==, 2);
    raft_free(t);
}

/* Bad input: answers from non-members and misaddressed messages are errors, never crashes.
 * (Requests from a server outside our configuration are taken, thesis §4.1: it may lead a
 * configuration we have not received yet. /raft/membership tests what that allows.) */
static void test_step_unknown_peer(void) {
    Raft *r = unit_new(1, 3, true);
    GError *error = NULL;
    RaftMsg m = mk(RAFT_MSG_VOTE_RESP, 9, 1, 1);
    g_assert_false(raft_step(r, &m, &error));
    g_assert_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER);
    g_clear_error(&error);
    m.type = RAFT_MSG_APPEND_RESP;
    g_assert_false(raft_step(r, &m, &error));
    g_assert_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER);
    g_clear_error(&error);
    m.from = 0;
    m.type = RAFT_MSG_VOTE;
    g_assert_false(raft_step(r, &m, &error));
    g_assert_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER);
    g_clear_error(&error);
    m.type = RAFT_MSG_VOTE;
    m.from = 2;
    m.to = 3;
    g_assert_false(raft_step(r, &m, &error));
    g_assert_error(error, RAFT_ERROR, RAFT_ERROR_UNKNOWN_PEER);
    g_clear_error(&error);
    m.to = 1;
    m.from = 1;
    g_assert_false(raft_step(r, &m, &error));
    g_clear_error(&error);
    g_assert_cmpuint(raft_term(r), ==, 0);
    raft_free(r);
}

/* ================================================================ /raft/msg */

static void test_msg_roundtrip_and_malformed(void) {
    RaftMsg m = mk(RAFT_MSG_APPEND, 1, 2, 7);
    m.index = 3;
    m.log_term = 6;
    m.commit = 2;
    m.n_entries = 2;
    m.entries = g_new0(RaftEntry, 2);
    m.entries[0] = (RaftEntry){6, 4, bytes_str("hello"), RAFT_ENTRY_NORMAL};
    m.entries[1] = (RaftEntry){7, 5, g_bytes_new(NULL, 0), RAFT_ENTRY_NORMAL};
    GBytes *b = raft_msg_encode(&m);
    gsize len;
    const uint8_t *p = g_bytes_get_data(b, &len);
    RaftMsg d;
    GError *error = NULL;
    g_assert_true(raft_msg_decode(p, len, &d, &error));
    g_assert_no_error(error);
    g_assert_cmpint(d.type, ==, RAFT_MSG_APPEND);
    g_assert_cmpuint(d.term, ==, 7);
    g_assert_cmpuint(d.n_entries, ==, 2);
    g_assert_true(g_bytes_equal(d.entries[0].data, m.entries[0].data));
    raft_msg_clear(&d);
    /* every truncation and every single-bit flip is rejected */
    for (gsize cut = 0; cut < len; cut++) {
        g_assert_false(raft_msg_decode(p, cut, &d, &error));
        g_assert_error(error, RAFT_ERROR, RAFT_ERROR_MALFORMED);
        g_clear_error(&error);
    }
    uint8_t *copy = g_memdup2(p, len);
    for (gsize i = 0; i < len * 8; i++) {
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        g_assert_false(raft_msg_decode(copy, len, &d, &error));
        g_clear_error(&error);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    g_free(copy);
    g_bytes_unref(b);
    raft_msg_clear(&m);
    /* every type round-trips, a snapshot too */
    for (int t = RAFT_MSG_PRE_VOTE; t < RAFT_MSG_TYPE_END; t++) {
        RaftMsg x = mk((RaftMsgType)t, 3, 1, 2);
        x.reject = t % 2 == 0;
        x.hint_term = 1;
        x.hint_index = 9;
        if (t == RAFT_MSG_SNAPSHOT) {
            x.index = 4;
            x.snapshot = bytes_str("snap");
            x.peers = LOG_PEERS;
        }
        GBytes *xb = raft_msg_encode(&x);
        g_assert_true(raft_msg_decode(g_bytes_get_data(xb, NULL), g_bytes_get_size(xb), &d, NULL));
        g_assert_cmpint(d.type, ==, t);
        g_assert_cmpuint(d.peers.n, ==, t == RAFT_MSG_SNAPSHOT ? 3 : 0);
        if (t == RAFT_MSG_SNAPSHOT) g_assert_cmpuint(d.peers.ids[2], ==, 3);
        g_assert_cmpint(d.reject, ==, x.reject);
        g_assert_cmpuint(d.hint_index, ==, 9);
        raft_msg_clear(&d);
        g_bytes_unref(xb);
        raft_msg_clear(&x);
    }
    /* a valid checksum over nonsense fields is still rejected (entries out of order) */
    RaftMsg bad = mk(RAFT_MSG_APPEND, 1, 2, 3);
    bad.index = 1;
    bad.n_entries = 1;
    bad.entries = g_new0(RaftEntry, 1);
    bad.entries[0] = (RaftEntry){3, 7, bytes_str("z"), RAFT_ENTRY_NORMAL};
    GBytes *bb = raft_msg_encode(&bad);
    g_assert_false(raft_msg_decode(g_bytes_get_data(bb, NULL), g_bytes_get_size(bb), &d, &error));
    g_assert_error(error, RAFT_ERROR, RAFT_ERROR_MALFORMED);
    g_clear_error(&error);
    g_bytes_unref(bb);
    raft_msg_clear(&bad);
}

/* ================================================================ /raft/log */

/* A world that dies after `budget` more writes: every pwrite, truncate, fsync, rename and
 * dir fsync spends one; then the call and every later one fail, as if the process had been
 * killed right there. Followed by test_env_crash_disk, this is a power cut at that point. */
typedef struct DyingWorld {
    TestEnv *te;
    int budget;
} DyingWorld;

static EnvOps dying_ops;
static Env *inner(Env *env) { return &((DyingWorld *)env->world)->te->env; }
static gboolean spend(Env *env, GError **error) {
    DyingWorld *w = env->world;
    if (w->budget <= 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "process died");
        return FALSE;
    }
    w->budget--;
    return TRUE;
}
static int64_t d_now(Env *e) { return inner(e)->ops->now_ns(inner(e)); }
static int64_t d_wall(Env *e) { return inner(e)->ops->wall_ns(inner(e)); }
static uint64_t d_random(Env *e) { return inner(e)->ops->random_u64(inner(e)); }
static int d_open(Env *e, const char *p, int f, GError **err) {
    if ((f & (ENV_FILE_CREATE | ENV_FILE_TRUNC)) && !spend(e, err)) return -1;
    return inner(e)->ops->file_open(inner(e), p, f, err);
}
static gssize d_pread(Env *e, int fd, void *b, size_t l, uint64_t o, GError **err) {
    return inner(e)->ops->file_pread(inner(e), fd, b, l, o, err);
}
static gssize d_pwrite(Env *e, int fd, const void *b, size_t l, uint64_t o, GError **err) {
    if (!spend(e, err)) return -1;
    return inner(e)->ops->file_pwrite(inner(e), fd, b, l, o, err);
}
static gboolean d_sync(Env *e, int fd, GError **err) { return spend(e, err) && inner(e)->ops->file_sync(inner(e), fd, err); }
static gboolean d_truncate(Env *e, int fd, uint64_t l, GError **err) {
    return spend(e, err) && inner(e)->ops->file_truncate(inner(e), fd, l, err);
}
static gint64 d_size(Env *e, int fd, GError **err) { return inner(e)->ops->file_size(inner(e), fd, err); }
static void d_close(Env *e, int fd) { inner(e)->ops->file_close(inner(e), fd); }
static gboolean d_rename(Env *e, const char *a, const char *b, GError **err) {
    return spend(e, err) && inner(e)->ops->path_rename(inner(e), a, b, err);
}
static gboolean d_remove(Env *e, const char *p, GError **err) { return spend(e, err) && inner(e)->ops->path_remove(inner(e), p, err); }
static gboolean d_exists(Env *e, const char *p) { return inner(e)->ops->path_exists(inner(e), p); }
static gboolean d_mkdir(Env *e, const char *p, GError **err) { return inner(e)->ops->dir_make(inner(e), p, err); }
static gboolean d_dsync(Env *e, const char *p, GError **err) { return spend(e, err) && inner(e)->ops->dir_sync(inner(e), p, err); }
static char **d_list(Env *e, const char *p, GError **err) { return inner(e)->ops->dir_list(inner(e), p, err); }
static void d_log(Env *e, EnvLogLevel l, const char *line) { inner(e)->ops->log(inner(e), l, line); }

static Env dying_env(DyingWorld *w) {
    dying_ops = (EnvOps){.now_ns = d_now, .wall_ns = d_wall, .random_u64 = d_random, .file_open = d_open,
                         .file_pread = d_pread, .file_pwrite = d_pwrite, .file_sync = d_sync,
                         .file_truncate = d_truncate, .file_size = d_size, .file_close = d_close,
                         .path_rename = d_rename, .path_remove = d_remove, .path_exists = d_exists,
                         .dir_make = d_mkdir, .dir_sync = d_dsync, .dir_list = d_list, .log = d_log};
    Env e = {0};
    e.ops = &dying_ops;
    e.world = w;
    return e;
}

/* A Ready made by hand: entries from..to of term `term`, and a hard state. */

static RaftReady mk_ready(uint64_t from, uint64_t to, uint64_t term, uint64_t hs_term, uint32_t vote, uint64_t commit) {
    RaftReady rd = {0};
    rd.n_entries = from <= to ? to - from + 1 : 0;
    rd.entries = g_new0(RaftEntry, rd.n_entries ? rd.n_entries : 1);
    for (size_t i = 0; i < rd.n_entries; i++) {
        char v[32];
        g_snprintf(v, sizeof v, "v%" G_GUINT64_FORMAT "t%" G_GUINT64_FORMAT, from + i, term);
        rd.entries[i] = (RaftEntry){term, from + i, g_bytes_new(v, strlen(v)), RAFT_ENTRY_NORMAL};
    }
    rd.has_hard_state = true;
    rd.hs = (RaftHardState){hs_term, vote, commit};
    return rd;
}

static void save_ok(RaftLog *lg, RaftReady rd) {
    GError *error = NULL;
    g_assert_true(raft_log_save(lg, &rd, &error));
    g_assert_no_error(error);
    raft_ready_clear(&rd);
}

static RaftLog *open_ok(Env *env, RaftBoot *boot) {
    GError *error = NULL;
    RaftLog *lg = raft_log_open(env, "raft", boot, &error);
    g_assert_no_error(error);
    g_assert_nonnull(lg);
    return lg;
}

static void check_boot_entry(const RaftBoot *b, uint64_t index, uint64_t term) {
    g_assert_cmpuint(index, >, b->snapshot.index);
    g_assert_cmpuint(index - b->snapshot.index, <=, b->n_entries);
    const RaftEntry *e = &b->entries[index - b->snapshot.index - 1];
    g_assert_cmpuint(e->index, ==, index);
    g_assert_cmpuint(e->term, ==, term);
    char v[32];
    g_snprintf(v, sizeof v, "v%" G_GUINT64_FORMAT "t%" G_GUINT64_FORMAT, index, term);
    g_autoptr(GBytes) want = g_bytes_new(v, strlen(v));
    g_assert_true(g_bytes_equal(e->data, want));
}

static void test_log_roundtrip_and_conflict(void) {
    TestEnv *te = test_env_new(1);
    RaftBoot boot;
    RaftLog *lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.n_entries, ==, 0);
    save_ok(lg, mk_ready(1, 5, 1, 1, 2, 3));
    save_ok(lg, mk_ready(4, 6, 2, 2, 0, 3)); /* a new leader's entries replace 4..5 */
    raft_log_close(lg);
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.hs.term, ==, 2);
    g_assert_cmpuint(boot.hs.vote, ==, 0);
    g_assert_cmpuint(boot.hs.commit, ==, 3);
    g_assert_cmpuint(boot.n_entries, ==, 6);
    check_boot_entry(&boot, 3, 1);
    check_boot_entry(&boot, 4, 2);
    check_boot_entry(&boot, 6, 2);
    raft_boot_clear(&boot);
    /* compaction: a snapshot at 4 keeps 5..6 and shrinks the file */
    uint64_t before = raft_log_state_bytes(lg);
    RaftReady rd = {0};
    rd.has_snapshot = true;
    rd.snapshot = (RaftSnapshot){4, 2, g_bytes_new("S4", 2), LOG_PEERS};
    save_ok(lg, rd);
    g_assert_cmpuint(raft_log_state_bytes(lg), <, before);
    raft_log_close(lg);
    test_env_crash_disk(te, TEST_CRASH_LOSE_ALL_UNSYNCED);
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.snapshot.index, ==, 4);
    g_assert_cmpuint(boot.n_entries, ==, 2);
    check_boot_entry(&boot, 5, 2);
    raft_boot_clear(&boot);
    /* an installed snapshot of another history (term 3 at 8) drops the whole log */
    rd = (RaftReady){0};
    rd.has_snapshot = rd.install_snapshot = true;
    rd.snapshot = (RaftSnapshot){8, 3, g_bytes_new("S8", 2), LOG_PEERS};
    save_ok(lg, rd);
    save_ok(lg, mk_ready(9, 9, 3, 3, 0, 8));
    raft_log_close(lg);
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.snapshot.index, ==, 8);
    g_assert_cmpuint(boot.n_entries, ==, 1);
    check_boot_entry(&boot, 9, 3);
    raft_boot_clear(&boot);
    raft_log_close(lg);
    test_env_free(te);
}

/* Crash with each TestCrashMode after synced saves plus an unsynced torn append and an
 * unsynced hard-state slot: what was synced is intact, the torn tail is cut and reported. */
static void test_log_crash_modes(void) {
    for (int mode = TEST_CRASH_LOSE_ALL_UNSYNCED; mode <= TEST_CRASH_TEAR_LAST; mode++) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            TestEnv *te = test_env_new(seed);
            RaftBoot boot;
            RaftLog *lg = open_ok(&te->env, &boot);
            save_ok(lg, mk_ready(1, 4, 1, 1, 1, 2));
            save_ok(lg, mk_ready(5, 7, 2, 2, 3, 5));
            raft_log_close(lg);
            /* a dying process's last writes, never fsynced: half a record and a state slot */
            int fd = env_file_open(&te->env, "raft/raft.log", ENV_FILE_WRITE, NULL);
            gint64 size = env_file_size(&te->env, fd, NULL);
            uint8_t junk[40];
            memset(junk, 0x5a, sizeof junk);
            env_file_pwrite(&te->env, fd, junk, 30, (uint64_t)size, NULL);
            env_file_pwrite(&te->env, fd, junk, 40, (uint64_t)size + 30, NULL);
            env_file_close(&te->env, fd);
            fd = env_file_open(&te->env, "raft/raft.state", ENV_FILE_WRITE, NULL);
            /* the next save (seq 3) would write slot 1: the older slot, never the newest */
            env_file_pwrite(&te->env, fd, junk, 32, 32, NULL);
            env_file_close(&te->env, fd);
            test_env_crash_disk(te, (TestCrashMode)mode);
            lg = open_ok(&te->env, &boot);
            g_assert_cmpuint(boot.hs.term, ==, 2);
            g_assert_cmpuint(boot.hs.vote, ==, 3);
            g_assert_cmpuint(boot.hs.commit, ==, 5);
            g_assert_cmpuint(boot.n_entries, ==, 7);
            for (uint64_t i = 1; i <= 7; i++) check_boot_entry(&boot, i, i <= 4 ? 1 : 2);
            raft_boot_clear(&boot);
            raft_log_close(lg);
            g_autofree char *log = test_env_take_log(te);
            if (mode == TEST_CRASH_LOSE_ALL_UNSYNCED) g_assert_null(strstr(log, "truncating")); /* junk all lost */
            test_env_free(te);
        }
    }
}

/* A power cut at every write of a save: after recovery the state is the old one or the new
 * one for each of entries and hard state — never a mix inside one, never garbage. */
static void test_log_crash_at_every_write(void) {
    for (int budget = 0; budget < 40; budget++) {
        for (int mode = TEST_CRASH_LOSE_ALL_UNSYNCED; mode <= TEST_CRASH_TEAR_LAST; mode++) {
            TestEnv *te = test_env_new((uint64_t)(budget * 3 + mode + 1));
            DyingWorld w = {te, 1000};
            Env env = dying_env(&w);
            RaftBoot boot;
            RaftLog *lg = open_ok(&env, &boot);
            save_ok(lg, mk_ready(1, 6, 1, 1, 1, 2));
            w.budget = budget;
            /* the save that dies: a conflicting suffix, a new term, a snapshot */
            RaftReady rd = mk_ready(5, 8, 2, 2, 2, 4);
            rd.has_snapshot = true;
            rd.snapshot = (RaftSnapshot){3, 1, g_bytes_new("S3", 2), LOG_PEERS};
            GError *error = NULL;
            gboolean ok = raft_log_save(lg, &rd, &error);
            g_clear_error(&error);
            raft_ready_clear(&rd);
            raft_log_close(lg);
            test_env_crash_disk(te, (TestCrashMode)mode);
            lg = open_ok(&te->env, &boot);
            if (ok) {
                g_assert_cmpuint(boot.hs.term, ==, 2);
                g_assert_cmpuint(boot.snapshot.index, ==, 3);
            }
            g_assert_true(boot.hs.term == 1 || boot.hs.term == 2);
            g_assert_true(boot.snapshot.index == 0 || boot.snapshot.index == 3);
            /* entries: 1..6 of term 1, possibly with 5.. replaced by term 2, minus the snapshot */
            for (size_t k = 0; k < boot.n_entries; k++) {
                uint64_t i = boot.entries[k].index, t = boot.entries[k].term;
                g_assert_true(t == 1 ? i <= 6 : (t == 2 && i >= 5 && i <= 8));
                check_boot_entry(&boot, i, t);
            }
            g_assert_cmpuint(boot.snapshot.index + boot.n_entries, >=, 4); /* 1..4 were synced */
            Raft *r = NULL;
            RaftConfig cfg = unit_cfg(1, 3, true);
            r = raft_new(&cfg, &boot, &error); /* what we recovered is acceptable to Raft */
            g_assert_no_error(error);
            raft_check_invariants(r);
            raft_free(r);
            raft_boot_clear(&boot);
            raft_log_close(lg);
            test_env_free(te);
        }
    }
}

/* A bit flipped at rest in the middle of the log ends the log there (reported); a flipped
 * hard-state slot falls back to the other slot. */
static void test_log_bitflip(void) {
    TestEnv *te = test_env_new(3);
    RaftBoot boot;
    RaftLog *lg = open_ok(&te->env, &boot);
    save_ok(lg, mk_ready(1, 3, 1, 1, 1, 1));
    save_ok(lg, mk_ready(4, 6, 1, 2, 2, 1)); /* the state file now has seq 1 and seq 2 */
    raft_log_close(lg);
    test_env_flip_bit(te, "raft/raft.log", 3 * 26 + 30, 2); /* inside record 4 */
    test_env_flip_bit(te, "raft/raft.state", 0 * 32 + 9, 0); /* slot 0 holds seq 2 */
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.n_entries, ==, 3);
    g_assert_cmpuint(boot.hs.term, ==, 1); /* the older slot */
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "[WRN] raft log raft/raft.log: checksum mismatch"));
    raft_boot_clear(&boot);
    raft_log_close(lg);
    /* a corrupt snapshot (Jepsen #7556) is set aside with the log that continues it: the
     * member boots empty and damaged, to be repaired by a leader's snapshot */
    lg = open_ok(&te->env, &boot);
    RaftReady rd = {0};
    rd.has_snapshot = true;
    rd.snapshot = (RaftSnapshot){2, 1, g_bytes_new("S2S2S2", 6), LOG_PEERS};
    save_ok(lg, rd);
    raft_boot_clear(&boot);
    raft_log_close(lg);
    test_env_flip_bit(te, "raft/raft.snap", 30, 1);
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.snapshot.index, ==, 0);
    g_assert_cmpuint(boot.n_entries, ==, 0);
    g_assert_true(boot.damaged);
    g_assert_true(env_path_exists(&te->env, "raft/raft.snap.corrupt"));
    g_assert_false(env_path_exists(&te->env, "raft/raft.snap"));
    g_free(log);
    log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "raft snapshot raft/raft.snap: corrupt"));
    raft_boot_clear(&boot);
    raft_log_close(lg);
    test_env_free(te);
}

/* Both hard-state slots unreadable: the term and vote are unknown. The member must not come
 * back as term 0 and vote; it waits until a leader of the current term has reached it, and
 * then takes that leader as its vote for the term (it may have voted in it before). */
static void test_state_lost_does_not_vote(void) {
    TestEnv *te = test_env_new(3);
    RaftBoot boot;
    RaftLog *lg = open_ok(&te->env, &boot);
    save_ok(lg, mk_ready(1, 3, 5, 5, 2, 1));
    raft_log_close(lg);
    test_env_flip_bit(te, "raft/raft.state", 0 * 32 + 9, 0);
    test_env_flip_bit(te, "raft/raft.state", 1 * 32 + 9, 0);
    lg = open_ok(&te->env, &boot);
    g_assert_true(boot.state_lost);
    g_assert_false(boot.damaged);
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "term and vote lost"));
    RaftConfig cfg = unit_cfg(1, 3, true);
    GError *error = NULL;
    Raft *r = raft_new(&cfg, &boot, &error);
    g_assert_no_error(error);
    g_assert_true(raft_damaged(r));
    /* a candidate of term 6 asks: refused, though its log is as long */
    RaftMsg v = {.type = RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 6, .log_term = 5, .index = 3};
    g_assert_true(raft_step(r, &v, &error));
    RaftReady rd;
    raft_ready_take(r, &rd);
    g_assert_cmpuint(rd.n_msgs, ==, 1);
    g_assert_true(rd.msgs[0].reject);
    raft_ready_clear(&rd);
    /* nor does it campaign */
    for (int i = 0; i < 40; i++) raft_tick(r);
    g_assert_cmpint(raft_role(r), ==, RAFT_FOLLOWER);
    raft_free(r);
    raft_boot_clear(&boot);
    raft_log_close(lg);
    test_env_free(te);
}

/* Jepsen NATS #7549: a member whose log recovery cut short inside synced records (bit flips in
 * the middle of raft.log: intact records follow the bad one) boots damaged. It neither votes
 * nor campaigns until a leader has brought it up to an entry committed in the leader's own
 * term; a torn tail (the bad record is the last thing in the file) is not damage. */
static void test_log_damaged_middle_vs_torn_tail(void) {
    TestEnv *te = test_env_new(3);
    RaftBoot boot;
    RaftLog *lg = open_ok(&te->env, &boot);
    save_ok(lg, mk_ready(1, 6, 1, 1, 1, 1));
    raft_log_close(lg);
    test_env_flip_bit(te, "raft/raft.log", 1 * 28 + 26, 3); /* inside record 2 of 6 (28 bytes each) */
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.n_entries, ==, 1);
    g_assert_true(boot.damaged);
    g_autofree char *log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "damaged in the middle"));
    raft_boot_clear(&boot);
    save_ok(lg, mk_ready(2, 4, 1, 1, 1, 1)); /* rewritten after the truncation */
    raft_log_close(lg);
    test_env_flip_bit(te, "raft/raft.log", 3 * 28 + 26, 3); /* inside the whole last record: damage */
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.n_entries, ==, 3);
    g_assert_true(boot.damaged);
    g_free(log);
    log = test_env_take_log(te);
    g_assert_nonnull(strstr(log, "a whole last record fails its checksum"));
    raft_boot_clear(&boot);
    save_ok(lg, mk_ready(4, 6, 1, 1, 1, 1));
    raft_log_close(lg);
    /* a torn tail: the file ends inside the last record (the crash cut the write short) */
    int fd = env_file_open(&te->env, "raft/raft.log", ENV_FILE_WRITE, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(env_file_truncate(&te->env, fd, 6 * 28 - 5, NULL));
    env_file_close(&te->env, fd);
    lg = open_ok(&te->env, &boot);
    g_assert_cmpuint(boot.n_entries, ==, 5);
    g_assert_false(boot.damaged);
    raft_boot_clear(&boot);
    raft_log_close(lg);
    test_env_free(te);
}

static void test_damaged_member_does_not_vote(void) {
    static const uint64_t terms[] = {1, 1};
    RaftConfig cfg = unit_cfg(1, 3, true);
    RaftBoot boot = {0};
    boot.hs.term = 1;
    boot.n_entries = 2;
    boot.entries = g_new0(RaftEntry, 2);
    for (size_t i = 0; i < 2; i++) boot.entries[i] = (RaftEntry){terms[i], i + 1, bytes_str("e"), RAFT_ENTRY_NORMAL};
    boot.damaged = true;
    GError *error = NULL;
    Raft *r = raft_new(&cfg, &boot, &error);
    g_assert_no_error(error);
    raft_boot_clear(&boot);
    g_assert_true(raft_damaged(r));
    tick_n(r, 4 * 10); /* never campaigns, not even a pre-vote */
    g_assert_cmpint(raft_role(r), ==, RAFT_FOLLOWER);
    g_assert_cmpuint(raft_term(r), ==, 1);
    raft_campaign(r);
    g_assert_cmpint(raft_role(r), ==, RAFT_FOLLOWER);
    drain(r);
    /* a candidate whose log is as up to date as ours: refused, vote and pre-vote alike */
    RaftMsg pv = mk(RAFT_MSG_PRE_VOTE, 2, 1, 2);
    pv.log_term = 1;
    pv.index = 2;
    step_ok(r, &pv);
    RaftMsg v = mk(RAFT_MSG_VOTE, 2, 1, 2);
    v.log_term = 1;
    v.index = 2;
    step_ok(r, &v);
    RaftReady rd = take(r);
    g_assert_true(need_msg(&rd, RAFT_MSG_PRE_VOTE_RESP, 2)->reject);
    g_assert_true(need_msg(&rd, RAFT_MSG_VOTE_RESP, 2)->reject);
    g_assert_cmpuint(raft_vote(r), ==, 0);
    raft_ready_clear(&rd);
    /* the leader of term 2 (elected without us) appends its no-op, commit still at 2: not
     * repaired yet, its commit is not of its own term */
    RaftMsg a = mk(RAFT_MSG_APPEND, 3, 1, 2);
    a.index = 2;
    a.log_term = 1;
    a.commit = 2;
    a.n_entries = 1;
    a.entries = g_new0(RaftEntry, 1);
    a.entries[0] = (RaftEntry){2, 3, g_bytes_new(NULL, 0), RAFT_ENTRY_NORMAL};
    step_ok(r, &a);
    g_assert_true(raft_damaged(r));
    drain(r);
    /* the no-op committed: everything committed before it is in our log again */
    RaftMsg hb = mk(RAFT_MSG_APPEND, 3, 1, 2);
    hb.index = 3;
    hb.log_term = 2;
    hb.commit = 3;
    step_ok(r, &hb);
    g_assert_false(raft_damaged(r));
    drain(r);
    RaftMsg v3 = mk(RAFT_MSG_VOTE, 2, 1, 3);
    v3.log_term = 2;
    v3.index = 3;
    step_ok(r, &v3);
    rd = take(r);
    g_assert_false(need_msg(&rd, RAFT_MSG_VOTE_RESP, 2)->reject);
    raft_ready_clear(&rd);
    g_bytes_unref(a.entries[0].data);
    g_free(a.entries);
    raft_free(r);
}

/* ================================================================ the cluster harness
 *
 * HOW IT WORKS
 *   N nodes, each a Raft + a RaftLog on its own TestEnv (its own crashable disk and its own
 *   random stream). One event loop in virtual time: every live node ticks every TICK_NS (at
 *   its own phase), and messages in flight are delivered at their due time, ties broken by
 *   send order. After every event the node's Ready is processed exactly as raft.h says
 *   (raft_log_save, then send, then apply) and every checker runs. Nothing reads a clock;
 *   one seed decides every delay, drop, duplicate, election timeout and crash, so a failing
 *   run replays exactly from its seed.
 *
 * THE NETWORK (6.5840's labrpc, datagram style)
 *   reliable: 1-3 ms. unreliable: 10% of messages lost, 0-26 ms delay, 2% duplicated.
 *   long reordering: 2/3 of messages held 200 ms - 2.2 s. A disconnected node's messages,
 *   both ways, are dropped at send and again at delivery; `cut` blocks one direction of one
 *   link (partitions). Messages are encoded and decoded with raft_msg_*: the codec is
 *   exercised by every message, and its bytes are what the budgets count.
 *
 * THE APPLICATION: a chain of blocks. Each node's state is (applied index, chain hash);
 *   applying entry i sets chain = H(chain, i, term, H(data)). A snapshot is those 16 bytes.
 *   If two nodes ever apply different entries at one index, their chains differ from there
 *   on, and the checker sees it at that index.
 */

#define MS 1000000LL
#define SEC 1000000000LL
#define TICK_NS (100 * MS)
#define ELECTION_TICKS 5 /* a randomized 500-1000 ms election timeout */
#define MAXN 9
#define SNAPSHOT_INTERVAL 10
#define MAX_LOG_BYTES 2000 /* 6.5840's MAXLOGSIZE */

typedef struct CNode {
    uint32_t id;
    TestEnv *te;
    RaftLog *log;
    Raft *r;          /* NULL while crashed */
    bool connected;
    RaftCheckerNode *app; /* the application (applied, chain), kept by the checker */
    int64_t next_tick;
} CNode;

typedef struct Flight {
    int64_t at;
    uint64_t seq;
    int from, to;
    GBytes *bytes;
    bool hostile; /* a forged or corrupted copy: must be refused, never believed */
} Flight;

typedef struct Cluster {
    const char *name;
    uint64_t seed, rng;
    int n;
    CNode node[MAXN];
    int64_t now;
    GArray *flights; /* binary heap of Flight by (at, seq) */
    uint64_t flight_seq;
    bool cut[MAXN][MAXN];
    bool unreliable, long_reorder;
    double hostile_p;        /* chance a message also arrives bit-flipped, truncated or forged */
    uint64_t hostile_sent, hostile_refused;
    /* configuration */
    unsigned bug;
    int snapshot_every;
    uint32_t max_append;
    int election_ticks;
    int voters;              /* the bootstrap configuration: n1..n<voters>; the rest join later */
    uint64_t installs;       /* snapshots installed from a leader */
    uint64_t conf_commits, conf_commit_index; /* configuration entries committed, the last */
    /* accounting */
    uint64_t rpcs, bytes, msgs, steps, crashes;
    uint64_t max_log_bytes;
    uint64_t trace_hash;
    bool trace;
    /* checkers (sim/raft_checker.c) */
    RaftChecker *chk;
    int violations;
    GString *first_violation;
    bool failed;
    GString *why;
    uint64_t next_value;
} Cluster;

static uint64_t c_rand(Cluster *c) { return counter_random(&c->rng); }
static uint64_t c_below(Cluster *c, uint64_t n) { return n ? c_rand(c) % n : 0; }
static bool c_chance(Cluster *c, double p) { return (double)(c_rand(c) >> 11) / 9007199254740992.0 < p; }

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c3) {
    uint64_t s = a ^ (b * 0x9E3779B97F4A7C15ull) ^ (c3 * 0xC2B2AE3D27D4EB4Full);
    return counter_random(&s);
}

static void violation(Cluster *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void violation(Cluster *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (c->violations++ == 0)
        g_string_printf(c->first_violation, "t=%.3fs %s", (double)c->now / SEC, s);
}

static void fail(Cluster *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void fail(Cluster *c, const char *fmt, ...) {
    if (c->failed) return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    c->failed = true;
    g_string_printf(c->why, "t=%.3fs %s", (double)c->now / SEC, s);
}

#define TRY(c) \
    do {       \
        if ((c)->failed || (c)->violations) return; \
    } while (0)

/* --- the heap of messages in flight --- */
static bool flight_before(const Flight *a, const Flight *b) { return a->at < b->at || (a->at == b->at && a->seq < b->seq); }

static void heap_push(Cluster *c, Flight f) {
    g_array_append_val(c->flights, f);
    Flight *h = (Flight *)(void *)c->flights->data;
    for (guint i = c->flights->len - 1; i > 0;) {
        guint p = (i - 1) / 2;
        if (!flight_before(&h[i], &h[p])) break;
        Flight t = h[i]; h[i] = h[p]; h[p] = t;
        i = p;
    }
}

static Flight heap_pop(Cluster *c) {
    Flight *h = (Flight *)(void *)c->flights->data;
    Flight top = h[0];
    h[0] = h[c->flights->len - 1];
    g_array_set_size(c->flights, c->flights->len - 1);
    guint n = c->flights->len;
    for (guint i = 0;;) {
        guint l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && flight_before(&h[l], &h[m])) m = l;
        if (r < n && flight_before(&h[r], &h[m])) m = r;
        if (m == i) break;
        Flight t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
    return top;
}

static bool link_up(Cluster *c, int from, int to) {
    return c->node[from].connected && c->node[to].connected && !c->cut[from][to];
}

static void net_send(Cluster *c, int from, const RaftMsg *m) {
    GBytes *b = raft_msg_encode(m);
    int to = (int)m->to - 1;
    c->msgs++;
    if (!raft_msg_is_response(m->type)) c->rpcs++;
    c->bytes += g_bytes_get_size(b);
    if (!link_up(c, from, to) || (c->unreliable && c_chance(c, 0.10))) {
        g_bytes_unref(b);
        return;
    }
    int copies = c->unreliable && c_chance(c, 0.02) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        int64_t delay = c->unreliable ? (int64_t)c_below(c, 27) * MS : (1 + (int64_t)c_below(c, 3)) * MS;
        if (c->long_reorder && c_chance(c, 2.0 / 3.0)) delay = 200 * MS + (int64_t)c_below(c, 2000) * MS;
        Flight f = {c->now + delay, c->flight_seq++, from, to, g_bytes_ref(b), false};
        heap_push(c, f);
    }
    if (c->hostile_p > 0 && c_chance(c, c->hostile_p)) {
        /* Bad input: the same message bit-flipped, truncated, or re-encoded (valid checksum)
         * as an answer from a node id that is not a member, or as a request addressed to
         * another node. Raft must refuse each one. (A request from a non-member is taken:
         * thesis §4.1, see the membership essay in raft.c.) */
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);
        uint8_t *copy = g_memdup2(p, len);
        GBytes *bad = NULL;
        switch (c_below(c, 3)) {
        case 0:
            copy[c_below(c, len)] ^= (uint8_t)(1u << c_below(c, 8));
            bad = g_bytes_new_take(copy, len);
            break;
        case 1:
            bad = g_bytes_new_take(copy, c_below(c, len));
            break;
        default: {
            g_free(copy);
            RaftMsg forged = *m;
            if (raft_msg_is_response(m->type)) forged.from = MAXN + 1 + (uint32_t)c_below(c, 100);
            else forged.to = MAXN + 1 + (uint32_t)c_below(c, 100);
            bad = raft_msg_encode(&forged);
        }
        }
        Flight f = {c->now + (int64_t)c_below(c, 30) * MS, c->flight_seq++, from, to, bad, true};
        heap_push(c, f);
        c->hostile_sent++;
    }
    g_bytes_unref(b);
}

/* The checkers report through here; the checker code and the chain-of-blocks application
 * live in sim/raft_checker.c, shared with the simulator's Raft workload. */
static void on_violation(void *ctx, const char *what) { violation(ctx, "%s", what); }

/* --- driving one node --- */

static void process_ready(Cluster *c, CNode *nd) {
    while (nd->r && raft_has_ready(nd->r)) {
        RaftReady rd;
        raft_ready_take(nd->r, &rd);
        raft_checker_ready(c->chk, nd->r, &rd);
        GError *error = NULL;
        if (!raft_log_save(nd->log, &rd, &error)) g_error("raft_log_save on the test disk: %s", error->message);
        if (rd.has_snapshot && rd.install_snapshot) {
            raft_checker_restore(c->chk, nd->id, rd.snapshot.data);
            c->installs++;
        }
        for (size_t i = 0; i < rd.n_msgs; i++) net_send(c, (int)nd->id - 1, &rd.msgs[i]);
        for (size_t i = 0; i < rd.n_committed; i++) {
            raft_checker_apply(c->chk, nd->id, &rd.committed[i]);
            if (rd.committed[i].type == RAFT_ENTRY_CONF && rd.committed[i].index > c->conf_commit_index) {
                c->conf_commit_index = rd.committed[i].index;
                c->conf_commits++;
            }
        }
        raft_ready_clear(&rd);
        if (c->snapshot_every && nd->app->applied >= raft_snapshot_index(nd->r) + (uint64_t)c->snapshot_every) {
            g_autoptr(GBytes) snap = raft_checker_snapshot(c->chk, nd->id);
            if (!raft_compact(nd->r, nd->app->applied, snap, &error)) g_error("raft_compact: %s", error->message);
        }
    }
    if (nd->r) {
        raft_checker_node(c->chk, nd->r);
        uint64_t lb = raft_log_state_bytes(nd->log);
        if (lb > c->max_log_bytes) c->max_log_bytes = lb;
    }
}

static uint64_t node_random(void *ctx) { return env_random_u64(&((TestEnv *)ctx)->env); }

static void node_start(Cluster *c, CNode *nd) {
    RaftBoot boot;
    GError *error = NULL;
    nd->log = raft_log_open(&nd->te->env, "raft", &boot, &error);
    if (nd->log == NULL) g_error("raft_log_open: %s", error->message);
    RaftConfig cfg = {0};
    cfg.id = nd->id;
    cfg.peers = PEERS;
    cfg.n_peers = (size_t)c->voters;
    cfg.election_ticks = c->election_ticks;
    cfg.heartbeat_ticks = 1;
    cfg.pre_vote = true;
    cfg.max_append_entries = c->max_append;
    cfg.random_u64 = node_random;
    cfg.random_ctx = nd->te;
    cfg.bug = c->bug;
    raft_checker_restore(c->chk, nd->id, boot.snapshot.index ? boot.snapshot.data : NULL);
    nd->r = raft_new(&cfg, &boot, &error);
    if (nd->r == NULL) g_error("raft_new: %s", error->message);
    raft_boot_clear(&boot);
    nd->next_tick = c->now + 1 + (int64_t)c_below(c, TICK_NS);
    raft_checker_restarted(c->chk, nd->id);
    process_ready(c, nd); /* re-apply what the disk says is committed */
}

static void node_crash(Cluster *c, int i) {
    CNode *nd = &c->node[i];
    if (nd->r == NULL) return;
    raft_free(nd->r);
    raft_log_close(nd->log);
    nd->r = NULL;
    nd->log = NULL;
    test_env_crash_disk(nd->te, (TestCrashMode)c_below(c, 3));
    g_free(test_env_take_log(nd->te));
    c->crashes++;
}

static void node_restart(Cluster *c, int i) {
    if (c->node[i].r) return;
    node_start(c, &c->node[i]);
}

static void disconnect_node(Cluster *c, int i) { c->node[i].connected = false; }
static void connect_node(Cluster *c, int i) { c->node[i].connected = true; }

static Cluster *cluster_new(const char *name, uint64_t seed, int n, bool unreliable) {
    g_assert(n <= MAXN);
    Cluster *c = g_malloc0(sizeof *c);
    c->name = name;
    c->seed = seed;
    c->rng = seed * 0x2545F4914F6CDD1Dull + 7;
    c->n = n;
    c->now = 0;
    c->unreliable = unreliable;
    c->election_ticks = ELECTION_TICKS;
    c->voters = n;
    c->flights = g_array_new(FALSE, FALSE, sizeof(Flight));
    c->chk = raft_checker_new(n, on_violation, c);
    c->first_violation = g_string_new("");
    c->why = g_string_new("");
    c->trace = g_getenv("RAFT_TRACE") != NULL;
    c->next_value = 1000 + seed * 100000;
    for (int i = 0; i < n; i++) {
        c->node[i].id = (uint32_t)i + 1;
        c->node[i].te = test_env_new(seed * 1000 + (uint64_t)i + 1);
        c->node[i].connected = true;
        c->node[i].app = &c->chk->node[i];
    }
    return c;
}

/* Nodes are started separately so a test can set the configuration first. */
static void cluster_start(Cluster *c) {
    for (int i = 0; i < c->n; i++) node_start(c, &c->node[i]);
}

static void cluster_free(Cluster *c) {
    for (int i = 0; i < c->n; i++) {
        raft_free(c->node[i].r);
        raft_log_close(c->node[i].log);
        test_env_free(c->node[i].te);
    }
    for (guint i = 0; i < c->flights->len; i++) g_bytes_unref(g_array_index(c->flights, Flight, i).bytes);
    g_array_free(c->flights, TRUE);
    raft_checker_free(c->chk);
    g_string_free(c->first_violation, TRUE);
    g_string_free(c->why, TRUE);
    g_free(c);
}

/* One event: the earliest tick or delivery. FALSE when nothing is due by `until`. */
static bool step_one(Cluster *c, int64_t until) {
    int who = -1;
    int64_t tick_at = G_MAXINT64;
    for (int i = 0; i < c->n; i++)
        if (c->node[i].r && c->node[i].next_tick < tick_at) {
            tick_at = c->node[i].next_tick;
            who = i;
        }
    int64_t msg_at = c->flights->len ? g_array_index(c->flights, Flight, 0).at : G_MAXINT64;
    int64_t at = MIN(tick_at, msg_at);
    if (at > until) return false;
    c->now = at;
    c->steps++;
    if (msg_at <= tick_at) {
        Flight f = heap_pop(c);
        CNode *nd = &c->node[f.to];
        gsize len;
        const uint8_t *p = g_bytes_get_data(f.bytes, &len);
        c->trace_hash = mix3(c->trace_hash, (uint64_t)c->now, ((uint64_t)f.from << 8) | (uint64_t)f.to) ^ len;
        if (nd->r && link_up(c, f.from, f.to)) {
            RaftMsg m;
            GError *error = NULL;
            if (!raft_msg_decode(p, len, &m, &error)) {
                if (f.hostile) c->hostile_refused++;
                else violation(c, "codec: a message we encoded did not decode: %s", error->message);
                g_clear_error(&error);
            } else {
                if (c->trace)
                    g_printerr("%9.3f n%d->n%d %-13s term=%" G_GUINT64_FORMAT " idx=%" G_GUINT64_FORMAT " n=%u%s\n",
                               (double)c->now / SEC, f.from + 1, f.to + 1, raft_msg_type_name(m.type), m.term, m.index,
                               m.n_entries, m.reject ? " reject" : "");
                if (!raft_step(nd->r, &m, &error)) {
                    if (f.hostile) c->hostile_refused++;
                    /* an answer from a server that has left our configuration since we asked */
                    else if (raft_msg_is_response(m.type) && !raft_is_member(nd->r, m.from)) {}
                    else violation(c, "n%u refused a message from an honest peer: %s", nd->id, error->message);
                    g_clear_error(&error);
                } else if (f.hostile) {
                    violation(c, "n%u believed a corrupted or forged message", nd->id);
                }
                raft_msg_clear(&m);
                process_ready(c, nd);
            }
        }
        g_bytes_unref(f.bytes);
    } else {
        CNode *nd = &c->node[who];
        nd->next_tick += TICK_NS;
        raft_tick(nd->r);
        process_ready(c, nd);
    }
    return true;
}

static void run_for(Cluster *c, int64_t ns) {
    int64_t until = c->now + ns;
    while (!c->violations && step_one(c, until)) {}
    if (c->now < until) c->now = until;
}

/* --- 6.5840-style helpers --- */

static int leader_of(Cluster *c) { /* the connected leader of the highest term, or -1 */
    int best = -1;
    for (int i = 0; i < c->n; i++) {
        CNode *nd = &c->node[i];
        if (nd->r && nd->connected && raft_role(nd->r) == RAFT_LEADER &&
            (best < 0 || raft_term(nd->r) > raft_term(c->node[best].r)))
            best = i;
    }
    return best;
}

/* "Exactly one leader among the connected nodes", within 5 s (10 x 500 ms, as 6.5840). */
static int check_one_leader(Cluster *c) {
    for (int iter = 0; iter < 10; iter++) {
        run_for(c, 450 * MS + (int64_t)c_below(c, 100) * MS);
        if (c->violations) return -1;
        uint64_t last_term = 0;
        int count = 0, who = -1;
        for (int i = 0; i < c->n; i++) {
            CNode *nd = &c->node[i];
            if (!nd->r || !nd->connected || raft_role(nd->r) != RAFT_LEADER) continue;
            if (raft_term(nd->r) > last_term) {
                last_term = raft_term(nd->r);
                count = 0;
            }
            if (raft_term(nd->r) == last_term) {
                count++;
                who = i;
            }
        }
        if (count > 1) {
            fail(c, "term %" G_GUINT64_FORMAT " has %d connected leaders", last_term, count);
            return -1;
        }
        if (count == 1) return who;
    }
    fail(c, "expected one leader, got none within 5 s");
    return -1;
}

static uint64_t check_terms(Cluster *c) {
    uint64_t term = 0;
    for (int i = 0; i < c->n; i++) {
        CNode *nd = &c->node[i];
        if (!nd->r || !nd->connected) continue;
        if (term == 0) term = raft_term(nd->r);
        else if (term != raft_term(nd->r)) {
            fail(c, "servers disagree on term");
            return 0;
        }
    }
    return term;
}

static void check_no_leader(Cluster *c) {
    for (int i = 0; i < c->n; i++)
        if (c->node[i].r && c->node[i].connected && raft_role(c->node[i].r) == RAFT_LEADER)
            fail(c, "expected no leader among connected servers, but n%d claims to be leader", i + 1);
}

/* How many nodes have applied index, and the value there. */
static int n_committed(Cluster *c, uint64_t index, uint64_t *value) {
    int count = 0;
    for (int i = 0; i < c->n; i++)
        if (c->node[i].app->applied >= index) count++;
    const RaftCheckerCommit *cr = raft_checker_commit_at(c->chk, index);
    *value = cr ? cr->value : 0;
    return count;
}

static GBytes *value_bytes(uint64_t v, size_t size) {
    uint8_t *b = g_malloc0(MAX(size, 8));
    memcpy(b, &v, 8);
    for (size_t i = 8; i < size; i++) b[i] = (uint8_t)(v + i);
    return g_bytes_new_take(b, MAX(size, 8));
}

/* Start(value) on node i if it is leader: the index, or 0. */
static uint64_t start_on(Cluster *c, int i, uint64_t value, size_t size) {
    CNode *nd = &c->node[i];
    if (!nd->r || raft_role(nd->r) != RAFT_LEADER) return 0;
    g_autoptr(GBytes) d = value_bytes(value, size);
    uint64_t index = 0;
    if (!raft_propose(nd->r, d, &index, NULL)) return 0;
    process_ready(c, nd);
    return index;
}

/* 6.5840's one(): submit value to whichever connected node is leader, wait up to 2 s for
 * `expected` nodes to apply it, retry (if allowed) for up to 10 s. Returns the index. */
static uint64_t one_sized(Cluster *c, uint64_t value, int expected, bool retry, size_t size) {
    int64_t t0 = c->now;
    int starts = 0;
    while (c->now - t0 < 10 * SEC && !c->failed && !c->violations) {
        uint64_t index = 0;
        for (int k = 0; k < c->n && index == 0; k++) {
            int i = (starts + k) % c->n;
            if (c->node[i].r && c->node[i].connected) index = start_on(c, i, value, size);
        }
        starts++;
        if (index != 0) {
            int64_t t1 = c->now;
            while (c->now - t1 < 2 * SEC && !c->violations) {
                uint64_t v;
                int nd = n_committed(c, index, &v);
                if (nd > 0 && nd >= expected && v == value) return index;
                run_for(c, 20 * MS);
            }
            if (!retry) {
                fail(c, "one(%" G_GUINT64_FORMAT ") failed to reach agreement", value);
                return 0;
            }
        } else {
            run_for(c, 50 * MS);
        }
    }
    fail(c, "one(%" G_GUINT64_FORMAT ") failed to reach agreement in 10 s", value);
    return 0;
}

static uint64_t one(Cluster *c, uint64_t value, int expected, bool retry) {
    return one_sized(c, value, expected, retry, 8);
}

static uint64_t fresh(Cluster *c) { return c->next_value++; }

/* Wait for index to be applied on n nodes (6.5840's wait()). */
static uint64_t wait_n(Cluster *c, uint64_t index, int n) {
    for (int64_t to = 10 * MS; to < 4 * SEC; to *= 2) {
        uint64_t v;
        if (n_committed(c, index, &v) >= n) return v;
        run_for(c, to);
    }
    uint64_t v;
    if (n_committed(c, index, &v) < n) fail(c, "only %d of %d applied index %" G_GUINT64_FORMAT, n_committed(c, index, &v), n, index);
    return v;
}

/* ================================================================ the test list (6.5840's, our names)
 * Each scenario takes a started cluster; a failed check or a violated invariant ends it. */

#define DIS(i) disconnect_node(c, (i))
#define CON(i) connect_node(c, (i))

/* 3A: one leader is elected, and stays leader when nothing fails. */
static void sc_initial_election(Cluster *c) {
    check_one_leader(c);
    TRY(c);
    run_for(c, 50 * MS);
    uint64_t term1 = check_terms(c);
    TRY(c);
    if (term1 < 1) fail(c, "term is %" G_GUINT64_FORMAT ", but should be at least 1", term1);
    run_for(c, 2 * SEC); /* no failures: nobody may start a new election */
    uint64_t term2 = check_terms(c);
    if (term1 != term2) fail(c, "term changed from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " with no failures", term1, term2);
    check_one_leader(c);
}

/* 3A: a new leader within 5 s of the old one's disconnection; a rejoining old leader does not
 * disturb; no leader without a majority. */
static void sc_re_election(Cluster *c) {
    int l1 = check_one_leader(c);
    TRY(c);
    DIS(l1);
    int64_t t_fail = c->now;
    while (leader_of(c) < 0 && c->now - t_fail < 5 * SEC) run_for(c, 10 * MS);
    g_test_message("    new leader %.0f ms after the old one was cut off (budget 5000 ms)", (double)(c->now - t_fail) / MS);
    int l = check_one_leader(c);
    TRY(c);
    if (l == l1) fail(c, "the disconnected leader is still the leader");
    CON(l1); /* the old leader rejoins: one leader, no disruption */
    int l2 = check_one_leader(c);
    TRY(c);
    DIS(l2);
    DIS((l2 + 1) % c->n);
    run_for(c, 2 * SEC);
    check_no_leader(c);
    TRY(c);
    CON((l2 + 1) % c->n);
    check_one_leader(c);
    TRY(c);
    CON(l2);
    check_one_leader(c);
}

/* 3A: 7 servers, 10 rounds of 3 random disconnections. */
static void sc_many_elections(Cluster *c) {
    check_one_leader(c);
    for (int iter = 0; iter < 10; iter++) {
        TRY(c);
        int a = (int)c_below(c, (uint64_t)c->n), b = (int)c_below(c, (uint64_t)c->n), d = (int)c_below(c, (uint64_t)c->n);
        DIS(a);
        DIS(b);
        DIS(d);
        check_one_leader(c); /* with at most 3 of 7 gone a majority remains */
        CON(a);
        CON(b);
        CON(d);
    }
    check_one_leader(c);
}

/* 3B: commands commit, in order, on every server. */
static void sc_basic_agree(Cluster *c) {
    uint64_t prev = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t v;
        if (n_committed(c, c->chk->max_commit + 1, &v) > 0) fail(c, "some have committed before Start()");
        uint64_t index = one(c, fresh(c), c->n, false);
        TRY(c);
        if (index <= prev) fail(c, "got index %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT, index, prev);
        prev = index;
    }
}

/* 3B: each command is sent to each follower once: bytes <= servers x payload + 50,000. */
static void sc_rpc_bytes(Cluster *c) {
    one(c, fresh(c), c->n, false);
    TRY(c);
    uint64_t b0 = c->bytes, sent = 0;
    for (int i = 0; i < 10; i++) {
        one_sized(c, fresh(c), c->n, false, 5000);
        TRY(c);
        sent += 5000;
    }
    uint64_t got = c->bytes - b0, budget = (uint64_t)c->n * sent + 50000;
    g_test_message("    rpc bytes: %" G_GUINT64_FORMAT " for %" G_GUINT64_FORMAT " payload bytes (budget %" G_GUINT64_FORMAT ")", got, sent, budget);
    if (got > budget) fail(c, "too many RPC bytes: %" G_GUINT64_FORMAT " > %" G_GUINT64_FORMAT, got, budget);
}

/* 3B: progress with one follower gone; none with both gone. */
static void sc_follower_failure(Cluster *c) {
    one(c, fresh(c), c->n, false);
    int l = check_one_leader(c);
    TRY(c);
    DIS((l + 1) % c->n);
    one(c, fresh(c), c->n - 1, false);
    run_for(c, 1 * SEC);
    one(c, fresh(c), c->n - 1, false);
    int l2 = check_one_leader(c);
    TRY(c);
    DIS((l2 + 1) % c->n);
    DIS((l2 + 2) % c->n);
    uint64_t index = start_on(c, l2, fresh(c), 8);
    if (index == 0) fail(c, "leader rejected Start()");
    run_for(c, 2 * SEC);
    uint64_t v;
    if (n_committed(c, index, &v) > 0) fail(c, "%d committed but no majority", n_committed(c, index, &v));
}

/* 3B: the leader fails; the rest agree; then no majority, no agreement. */
static void sc_leader_failure(Cluster *c) {
    one(c, fresh(c), c->n, false);
    int l1 = check_one_leader(c);
    TRY(c);
    DIS(l1);
    one(c, fresh(c), c->n - 1, false);
    run_for(c, 1 * SEC);
    one(c, fresh(c), c->n - 1, false);
    int l2 = check_one_leader(c);
    TRY(c);
    DIS(l2);
    uint64_t top = c->chk->max_commit;
    for (int i = 0; i < c->n; i++) start_on(c, i, fresh(c), 8);
    run_for(c, 2 * SEC);
    uint64_t v;
    if (n_committed(c, top + 1, &v) > 0) fail(c, "%d committed but no majority", n_committed(c, top + 1, &v));
}

/* 3B: a disconnected follower catches up after it reconnects. */
static void sc_fail_agree(Cluster *c) {
    one(c, fresh(c), c->n, false);
    int l = check_one_leader(c);
    TRY(c);
    DIS((l + 1) % c->n);
    for (int i = 0; i < 4; i++) {
        one(c, fresh(c), c->n - 1, false);
        if (i == 1) run_for(c, 1 * SEC);
        TRY(c);
    }
    CON((l + 1) % c->n);
    one(c, fresh(c), c->n, true);
    run_for(c, 1 * SEC);
    one(c, fresh(c), c->n, true);
}

/* 3B: 5 servers, 3 followers gone: nothing commits; after they return, agreement resumes. */
static void sc_fail_no_agree(Cluster *c) {
    one(c, 10, c->n, false);
    int l = check_one_leader(c);
    TRY(c);
    DIS((l + 1) % c->n);
    DIS((l + 2) % c->n);
    DIS((l + 3) % c->n);
    uint64_t index = start_on(c, l, fresh(c), 8);
    if (index == 0) fail(c, "leader rejected Start()");
    run_for(c, 2 * SEC);
    uint64_t v;
    if (n_committed(c, index, &v) > 0) fail(c, "%d committed but no majority", n_committed(c, index, &v));
    CON((l + 1) % c->n);
    CON((l + 2) % c->n);
    CON((l + 3) % c->n);
    int l2 = check_one_leader(c);
    TRY(c);
    if (start_on(c, l2, fresh(c), 8) == 0) fail(c, "leader2 rejected Start()");
    one(c, fresh(c), c->n, true);
}

/* 3B: five Start()s in one term all commit. */
static void sc_concurrent_starts(Cluster *c) {
    for (int attempt = 0; attempt < 5; attempt++) {
        if (attempt > 0) run_for(c, 3 * SEC);
        int l = check_one_leader(c);
        TRY(c);
        uint64_t term = raft_term(c->node[l].r), idx[5], val[5];
        bool ok = true;
        for (int i = 0; i < 5 && ok; i++) {
            val[i] = fresh(c);
            idx[i] = start_on(c, l, val[i], 8);
            ok = idx[i] != 0;
        }
        if (!ok) continue;
        for (int i = 0; i < 5 && !c->failed; i++) {
            uint64_t v = wait_n(c, idx[i], c->n);
            if (v != val[i] && raft_term(c->node[l].r) == term) fail(c, "value %" G_GUINT64_FORMAT " not at its index", val[i]);
        }
        if (raft_term(c->node[l].r) == term) return;
        c->failed = false; /* the term changed under us: try again, as 6.5840 does */
    }
    fail(c, "term changed too often");
}

/* 3B: a partitioned leader's uncommitted entries are discarded when it rejoins. */
static void sc_rejoin(Cluster *c) {
    one(c, 101, c->n, true);
    int l1 = check_one_leader(c);
    TRY(c);
    DIS(l1);
    start_on(c, l1, 102, 8);
    start_on(c, l1, 103, 8);
    start_on(c, l1, 104, 8);
    one(c, 103, 2, true);
    int l2 = check_one_leader(c);
    TRY(c);
    DIS(l2);
    CON(l1);
    one(c, 104, 2, true);
    CON(l2);
    one(c, 105, c->n, true);
}

/* 3B: leaders back up quickly over incorrect follower logs (50 stale entries per side). */
static void sc_backup(Cluster *c) {
    one(c, fresh(c), c->n, true);
    int l1 = check_one_leader(c);
    TRY(c);
    DIS((l1 + 2) % c->n);
    DIS((l1 + 3) % c->n);
    DIS((l1 + 4) % c->n);
    for (int i = 0; i < 50; i++) start_on(c, l1, fresh(c), 8); /* never committed */
    run_for(c, 500 * MS);
    DIS(l1);
    DIS((l1 + 1) % c->n);
    CON((l1 + 2) % c->n);
    CON((l1 + 3) % c->n);
    CON((l1 + 4) % c->n);
    for (int i = 0; i < 50; i++) {
        one(c, fresh(c), 3, true);
        TRY(c);
    }
    int l2 = check_one_leader(c);
    TRY(c);
    int other = (l1 + 2) % c->n;
    if (l2 == other) other = (l2 + 1) % c->n;
    DIS(other);
    for (int i = 0; i < 50; i++) start_on(c, l2, fresh(c), 8); /* never committed */
    run_for(c, 500 * MS);
    for (int i = 0; i < c->n; i++) DIS(i);
    CON(l1);
    CON((l1 + 1) % c->n);
    CON(other);
    for (int i = 0; i < 50; i++) {
        one(c, fresh(c), 3, true);
        TRY(c);
    }
    for (int i = 0; i < c->n; i++) CON(i);
    one(c, fresh(c), c->n, true);
}

/* 3B: message budgets: <= 30 RPCs to elect, <= 42 for 10 agreements, <= 60 per idle second,
 * and at most 10 heartbeats per second per follower. */
static void sc_count(Cluster *c) {
    check_one_leader(c);
    TRY(c);
    uint64_t elect = c->rpcs;
    if (elect > 30) fail(c, "too many RPCs (%" G_GUINT64_FORMAT ") for initial election", elect);
    TRY(c);
    uint64_t agree = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (attempt > 0) run_for(c, 3 * SEC);
        int l = check_one_leader(c);
        TRY(c);
        uint64_t total1 = c->rpcs, term = raft_term(c->node[l].r);
        uint64_t first = start_on(c, l, fresh(c), 8);
        if (first == 0) continue;
        uint64_t idx[10], val[10];
        bool ok = true;
        for (int i = 0; i < 10 && ok; i++) {
            val[i] = fresh(c);
            idx[i] = start_on(c, l, val[i], 8);
            ok = idx[i] != 0;
        }
        if (!ok) continue;
        for (int i = 0; i < 10; i++) wait_n(c, idx[i], c->n);
        TRY(c);
        if (raft_term(c->node[l].r) != term) continue;
        agree = c->rpcs - total1;
        if (agree > (10 + 1 + 3) * 3) fail(c, "too many RPCs (%" G_GUINT64_FORMAT ") for 10 entries", agree);
        break;
    }
    TRY(c);
    run_for(c, 200 * MS);
    uint64_t r0 = c->rpcs;
    run_for(c, 1 * SEC);
    uint64_t idle = c->rpcs - r0;
    g_test_message("    rpcs: %" G_GUINT64_FORMAT " to elect (budget 30), %" G_GUINT64_FORMAT
                   " for 10 agreements (budget 42), %" G_GUINT64_FORMAT " per idle second (budget 60, "
                   "heartbeats %.1f/s per follower, budget 10)",
                   elect, agree, idle, (double)idle / (c->n - 1));
    if (idle > 3 * 20) fail(c, "too many RPCs (%" G_GUINT64_FORMAT ") for 1 second of idleness", idle);
    if ((double)idle / (c->n - 1) > 10.0) fail(c, "more than 10 heartbeats per second");
}

/* 3C: state survives crashes of everyone, of the leader, of followers. */
static void sc_persist1(Cluster *c) {
    one(c, 11, c->n, true);
    TRY(c);
    for (int i = 0; i < c->n; i++) node_crash(c, i);
    for (int i = 0; i < c->n; i++) node_restart(c, i);
    one(c, 12, c->n, true);
    int l1 = check_one_leader(c);
    TRY(c);
    node_crash(c, l1);
    node_restart(c, l1);
    one(c, 13, c->n, true);
    int l2 = check_one_leader(c);
    TRY(c);
    node_crash(c, l2);
    one(c, 14, c->n - 1, true);
    node_restart(c, l2);
    wait_n(c, 4, c->n);
    int i3 = (check_one_leader(c) + 1) % c->n;
    TRY(c);
    node_crash(c, i3);
    one(c, 15, c->n - 1, true);
    node_restart(c, i3);
    one(c, 16, c->n, true);
}

/* 3C: 5 servers, rounds of crashes of minorities and majorities. */
static void sc_persist2(Cluster *c) {
    for (int iters = 0; iters < 5; iters++) {
        one(c, fresh(c), 5, true);
        int l1 = check_one_leader(c);
        TRY(c);
        DIS((l1 + 1) % 5);
        DIS((l1 + 2) % 5);
        one(c, fresh(c), 3, true);
        TRY(c);
        DIS(l1);
        DIS((l1 + 3) % 5);
        DIS((l1 + 4) % 5);
        node_crash(c, (l1 + 1) % 5);
        node_crash(c, (l1 + 2) % 5);
        node_restart(c, (l1 + 1) % 5);
        node_restart(c, (l1 + 2) % 5);
        CON((l1 + 1) % 5);
        CON((l1 + 2) % 5);
        run_for(c, 1 * SEC);
        node_crash(c, (l1 + 3) % 5);
        node_restart(c, (l1 + 3) % 5);
        CON((l1 + 3) % 5);
        one(c, fresh(c), 3, true);
        TRY(c);
        CON((l1 + 4) % 5);
        CON(l1);
    }
    one(c, 1000, 5, true);
}

/* 3C: a partitioned leader and a follower crash; the log survives. */
static void sc_persist3(Cluster *c) {
    one(c, 101, 3, false);
    int l = check_one_leader(c);
    TRY(c);
    DIS((l + 2) % 3);
    one(c, 102, 2, false);
    TRY(c);
    node_crash(c, l);
    node_crash(c, (l + 1) % 3);
    CON((l + 2) % 3);
    node_restart(c, l);
    one(c, 103, 2, true);
    node_restart(c, (l + 1) % 3);
    one(c, 104, 3, true);
}

/* 3C: Figure 8 — leaders crash right after appending; the commit rule must hold. */
static void figure8_common(Cluster *c, int iters, bool unreliable) {
    one(c, fresh(c), 1, true);
    int nup = c->n;
    bool up[MAXN];
    for (int i = 0; i < c->n; i++) up[i] = true;
    for (int iter = 0; iter < iters && !c->failed && !c->violations; iter++) {
        if (unreliable && iter == 200) c->long_reorder = true;
        int leader = -1;
        for (int i = 0; i < c->n; i++)
            if (up[i] && start_on(c, i, fresh(c), 8) != 0) leader = i;
        run_for(c, c_chance(c, 0.1) ? (int64_t)c_below(c, 500) * MS : (int64_t)c_below(c, 13) * MS);
        if (leader != -1 && (!unreliable || c_chance(c, 0.5))) {
            if (unreliable) DIS(leader);
            else node_crash(c, leader);
            up[leader] = false;
            nup--;
        }
        if (nup < 3) {
            int s = (int)c_below(c, (uint64_t)c->n);
            if (!up[s]) {
                if (unreliable) CON(s);
                else node_restart(c, s);
                up[s] = true;
                nup++;
            }
        }
    }
    TRY(c);
    for (int i = 0; i < c->n; i++) {
        node_restart(c, i);
        CON(i);
    }
    c->unreliable = c->long_reorder = false;
    one(c, fresh(c), c->n, true);
}
static void sc_figure8(Cluster *c) { figure8_common(c, 1000, false); }
static void sc_figure8_unreliable(Cluster *c) { figure8_common(c, 1000, true); }

/* 3C: agreement despite 10% loss, 0-26 ms delays and duplicates. */
static void sc_unreliable_agree(Cluster *c) {
    for (int iter = 1; iter < 50; iter++) {
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < c->n; i++) start_on(c, i, fresh(c), 8);
        one(c, fresh(c), 1, true);
        TRY(c);
    }
    c->unreliable = false;
    one(c, 100, c->n, true);
}

/* 3C: three clients propose continuously while servers crash, restart, disconnect; every
 * value a client saw committed is in the final log (and every checker holds throughout).
 * What clients saw is also checked for real-time order (linearizability of the log): if
 * operation A was seen committed before operation B was invoked, A's index is smaller. */
typedef struct ClientOp {
    uint64_t value, index;
    int64_t invoke_ns, complete_ns;
} ClientOp;

static void churn(Cluster *c) {
    GArray *seen = g_array_new(FALSE, FALSE, sizeof(ClientOp)), *pending = g_array_new(FALSE, FALSE, sizeof(ClientOp));
    for (int iter = 0; iter < 20 && !c->violations; iter++) {
        if (c_chance(c, 0.2)) DIS((int)c_below(c, (uint64_t)c->n));
        if (c_chance(c, 0.5)) {
            int i = (int)c_below(c, (uint64_t)c->n);
            node_restart(c, i);
            CON(i);
        }
        if (c_chance(c, 0.2)) {
            int i = (int)c_below(c, (uint64_t)c->n);
            node_crash(c, i);
        }
        /* 700 ms of client traffic: each 10 ms, each of 3 clients tries a random server */
        for (int slice = 0; slice < 70 && !c->violations; slice++) {
            for (int client = 0; client < 3; client++) {
                int i = (int)c_below(c, (uint64_t)c->n);
                if (!c->node[i].r || !c->node[i].connected) continue;
                ClientOp op = {fresh(c), 0, c->now, 0};
                op.index = start_on(c, i, op.value, 8);
                if (op.index) g_array_append_val(pending, op);
            }
            run_for(c, 10 * MS);
            for (guint k = 0; k < pending->len;) {
                ClientOp *op = &g_array_index(pending, ClientOp, k);
                uint64_t v;
                if (n_committed(c, op->index, &v) > 0) {
                    if (v == op->value) {
                        op->complete_ns = c->now;
                        g_array_append_val(seen, *op);
                    }
                    g_array_remove_index_fast(pending, k);
                } else {
                    k++;
                }
            }
        }
    }
    c->unreliable = false;
    for (int i = 0; i < c->n; i++) {
        node_restart(c, i);
        CON(i);
    }
    run_for(c, 1 * SEC);
    uint64_t last = one(c, fresh(c), c->n, true);
    for (guint k = 0; k < seen->len && !c->failed; k++) {
        const ClientOp *op = &g_array_index(seen, ClientOp, k);
        uint64_t v;
        wait_n(c, op->index, c->n);
        n_committed(c, op->index, &v);
        if (v != op->value) fail(c, "a value a client saw committed is gone");
    }
    for (guint x = 0; x < seen->len && !c->failed; x++)
        for (guint y = 0; y < seen->len; y++) {
            const ClientOp *a = &g_array_index(seen, ClientOp, x), *b = &g_array_index(seen, ClientOp, y);
            if (a->complete_ns < b->invoke_ns && a->index >= b->index) {
                fail(c, "real-time order: value %" G_GUINT64_FORMAT " (index %" G_GUINT64_FORMAT ") completed before value %"
                        G_GUINT64_FORMAT " was invoked, but got index %" G_GUINT64_FORMAT, a->value, a->index, b->value, b->index);
                break;
            }
        }
    /* No minimum count: some seeds keep a majority down for most of the run (seed 530 of
     * unreliable-churn commits nothing until the end). Liveness is the one() above. */
    g_test_message("    churn: %u client values seen committed, in real-time order; last index %" G_GUINT64_FORMAT
                   ", %" G_GUINT64_FORMAT " crashes", seen->len, last, c->crashes);
    g_array_free(seen, TRUE);
    g_array_free(pending, TRUE);
}
static void sc_reliable_churn(Cluster *c) { churn(c); }
static void sc_unreliable_churn(Cluster *c) { churn(c); }

/* 3D: snapshots every 10 applied entries; logs stay under 2,000 bytes; a victim that was
 * disconnected or crashed catches up, by InstallSnapshot when it is far enough behind. */
static void snap_common(Cluster *c, bool disconnect, bool crash) {
    one(c, fresh(c), c->n, true);
    int l1 = check_one_leader(c);
    TRY(c);
    for (int i = 0; i < 30; i++) {
        int victim = (l1 + 1) % c->n, sender = l1;
        if (i % 3 == 1) {
            sender = (l1 + 1) % c->n;
            victim = l1;
        }
        if (disconnect) {
            DIS(victim);
            one(c, fresh(c), c->n - 1, true);
        }
        if (crash) {
            node_crash(c, victim);
            one(c, fresh(c), c->n - 1, true);
        }
        TRY(c);
        int nn = SNAPSHOT_INTERVAL / 2 + (int)c_below(c, SNAPSHOT_INTERVAL);
        for (int k = 0; k < nn; k++) start_on(c, sender, fresh(c), 8);
        one(c, fresh(c), c->n - 1, true);
        TRY(c);
        if (c->max_log_bytes > MAX_LOG_BYTES) {
            fail(c, "log size too large: %" G_GUINT64_FORMAT " bytes", c->max_log_bytes);
            return;
        }
        if (disconnect) {
            CON(victim);
            one(c, fresh(c), c->n, true);
            l1 = check_one_leader(c);
        }
        if (crash) {
            node_restart(c, victim);
            one(c, fresh(c), c->n, true);
            l1 = check_one_leader(c);
        }
        TRY(c);
    }
    g_test_message("    largest log + hard state: %" G_GUINT64_FORMAT " bytes (budget %d)", c->max_log_bytes, MAX_LOG_BYTES);
}
static void sc_snapshot_basic(Cluster *c) { snap_common(c, false, false); }
static void sc_snapshot_install(Cluster *c) { snap_common(c, true, false); }
static void sc_snapshot_install_unreliable(Cluster *c) { snap_common(c, true, false); }
static void sc_snapshot_install_crash(Cluster *c) { snap_common(c, false, true); }
static void sc_snapshot_install_uncrash(Cluster *c) { snap_common(c, false, true); }

/* 3D: everyone crashes after snapshots; the index never goes backwards. */
static void sc_snapshot_all_crash(Cluster *c) {
    one(c, fresh(c), c->n, true);
    for (int i = 0; i < 5; i++) {
        int nn = SNAPSHOT_INTERVAL / 2 + (int)c_below(c, SNAPSHOT_INTERVAL);
        for (int k = 0; k < nn; k++) one(c, fresh(c), c->n, true);
        uint64_t index1 = one(c, fresh(c), c->n, true);
        TRY(c);
        for (int k = 0; k < c->n; k++) node_crash(c, k);
        for (int k = 0; k < c->n; k++) node_restart(c, k);
        uint64_t index2 = one(c, fresh(c), c->n, true);
        TRY(c);
        if (index2 < index1 + 1) fail(c, "index decreased from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, index1, index2);
    }
}

/* 3D: a restarted server initializes from its snapshot (and its log after it). */
static void sc_snapshot_init(Cluster *c) {
    one(c, fresh(c), c->n, true);
    for (int i = 0; i < SNAPSHOT_INTERVAL + 1; i++) one(c, fresh(c), c->n, true);
    TRY(c);
    for (int k = 0; k < c->n; k++) node_crash(c, k);
    for (int k = 0; k < c->n; k++) node_restart(c, k);
    one(c, fresh(c), c->n, true);
    for (int k = 0; k < c->n; k++) node_crash(c, k);
    for (int k = 0; k < c->n; k++) node_restart(c, k);
    one(c, fresh(c), c->n, true);
    for (int k = 0; k < c->n; k++)
        if (raft_snapshot_index(c->node[k].r) == 0) fail(c, "n%d never took a snapshot", k + 1);
}

/* A swarm of random partitions: every 50-300 ms each directed link is cut with 30%
 * probability; every 10 ms every leader gets a proposal. */
static void sc_partition_swarm(Cluster *c) {
    for (int round = 0; round < 150 && !c->violations; round++) {
        for (int a = 0; a < c->n; a++)
            for (int b = 0; b < c->n; b++) c->cut[a][b] = a != b && c_chance(c, 0.3);
        int64_t len = 50 * MS + (int64_t)c_below(c, 250) * MS;
        for (int64_t t = 0; t < len && !c->violations; t += 10 * MS) {
            for (int i = 0; i < c->n; i++) start_on(c, i, fresh(c), 8);
            run_for(c, 10 * MS);
        }
    }
    TRY(c);
    memset(c->cut, 0, sizeof c->cut);
    c->unreliable = false;
    check_one_leader(c); /* liveness: a leader within 5 s once the network heals */
    one(c, fresh(c), c->n, true);
}

/* Bad input under faults: 5% of messages also arrive bit-flipped, truncated or forged
 * from a non-member, during the partition swarm. Every one must be refused. */
static void sc_bad_input(Cluster *c) {
    c->hostile_p = 0.05;
    sc_partition_swarm(c);
    TRY(c);
    run_for(c, 1 * SEC); /* let the last hostile copies land */
    if (c->hostile_sent == 0 || c->hostile_refused == 0) fail(c, "no bad input was delivered");
    g_test_message("    bad input: %" G_GUINT64_FORMAT " hostile copies sent, %" G_GUINT64_FORMAT " refused (the rest fell to partitions)", c->hostile_sent, c->hostile_refused);
}

/* An adversary in the shape of Figure 8: each round connects a random group of 2-3 servers (every other link is cut), makes a random
 * member campaign, lets it propose, and cuts the round short after 0-20 ms, so entries
 * reach random minorities. One entry per AppendEntries. Ends with everyone connected. */
static void sc_figure8_adversary(Cluster *c) {
    for (int round = 0; round < 1000 && !c->violations; round++) {
        bool in[MAXN] = {false};
        int size = 2 + (int)c_below(c, 2);
        for (int k = 0; k < size; k++) in[c_below(c, (uint64_t)c->n)] = true;
        for (int a = 0; a < c->n; a++)
            for (int b = 0; b < c->n; b++) c->cut[a][b] = !(in[a] && in[b]);
        int cand = (int)c_below(c, (uint64_t)c->n);
        if (in[cand] && c->node[cand].r) {
            raft_campaign(c->node[cand].r);
            process_ready(c, &c->node[cand]);
        }
        run_for(c, (int64_t)c_below(c, 30) * MS);
        for (int i = 0; i < c->n; i++) start_on(c, i, fresh(c), 8);
        run_for(c, (int64_t)c_below(c, 20) * MS);
    }
    TRY(c);
    memset(c->cut, 0, sizeof c->cut);
    one(c, fresh(c), c->n, true);
}

/* Extra: leadership transfer hands over within an election timeout, nothing lost. */
static void sc_transfer(Cluster *c) {
    for (int i = 0; i < 5; i++) {
        one(c, fresh(c), c->n, true);
        int l = check_one_leader(c);
        TRY(c);
        int to = (l + 1 + (int)c_below(c, (uint64_t)c->n - 1)) % c->n;
        GError *error = NULL;
        if (!raft_transfer_leadership(c->node[l].r, (uint32_t)to + 1, &error)) {
            fail(c, "transfer: %s", error->message);
            g_clear_error(&error);
            return;
        }
        process_ready(c, &c->node[l]);
        run_for(c, 500 * MS);
        if (leader_of(c) != to) fail(c, "leadership went to n%d, not n%d", leader_of(c) + 1, to + 1);
    }
    one(c, fresh(c), c->n, true);
}

/* ================================================================ membership changes
 * One voter added or removed at a time (raft.c, MEMBERSHIP CHANGES), through the same
 * simulated network and disks, with every checker on (sim/raft_checker.c also checks that
 * each configuration entry changes one voter, and that a leader is a voter of its own). */

static size_t n_voters(const CNode *nd) {
    size_t n;
    raft_peers(nd->r, &n);
    return n;
}

/* Propose op(peer) on whichever connected node leads, retrying through elections and
 * pending changes, until the entry is committed (some node applied it in the term it was
 * proposed). */
static void conf_change(Cluster *c, RaftConfChange op, uint32_t peer) {
    int64_t t0 = c->now;
    while (c->now - t0 < 10 * SEC && !c->failed && !c->violations) {
        int l = leader_of(c);
        uint64_t index = 0;
        if (l < 0 || !raft_propose_conf(c->node[l].r, op, peer, &index, NULL)) {
            run_for(c, 50 * MS);
            continue;
        }
        uint64_t term = raft_term(c->node[l].r);
        process_ready(c, &c->node[l]);
        for (int64_t t1 = c->now; c->now - t1 < 2 * SEC && !c->violations; run_for(c, 20 * MS)) {
            const RaftCheckerCommit *cr = raft_checker_commit_at(c->chk, index);
            if (cr != NULL && cr->term == term) return;
            if (cr != NULL) break; /* another entry won that index: propose again */
        }
    }
    fail(c, "%s n%u was not committed within 10 s", op == RAFT_CONF_ADD ? "adding" : "removing", peer);
}

/* Every live node that is a voter has this many voters, and `gone` is not one of them. */
static void check_voters(Cluster *c, size_t want, int gone) {
    for (int i = 0; i < c->n; i++) {
        CNode *nd = &c->node[i];
        if (!nd->r || i == gone || !raft_is_member(nd->r, nd->id)) continue;
        if (n_voters(nd) != want || (gone >= 0 && raft_is_member(nd->r, (uint32_t)gone + 1)))
            fail(c, "n%d has %zu voters (want %zu, without n%d)", i + 1, n_voters(nd), want, gone + 1);
    }
}

/* Remove a follower of three; it keeps running and must not disturb the two. */
static void sc_member_remove_follower(Cluster *c) {
    one(c, fresh(c), 3, true);
    int l = check_one_leader(c);
    TRY(c);
    int f = (l + 1 + (int)c_below(c, 2)) % 3, other = 3 - l - f;
    conf_change(c, RAFT_CONF_REMOVE, (uint32_t)f + 1);
    TRY(c);
    uint64_t term = raft_term(c->node[l].r);
    run_for(c, 3 * SEC); /* several election timeouts of the removed one */
    uint64_t idx = one(c, fresh(c), 2, true);
    TRY(c);
    if (leader_of(c) != l || raft_term(c->node[l].r) != term)
        fail(c, "removing n%d disturbed the leader n%d (term %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT ")", f + 1, l + 1,
             term, raft_term(c->node[leader_of(c)].r));
    if (c->node[f].app->applied >= idx) fail(c, "the removed n%d still applies new entries", f + 1);
    if (raft_role(c->node[f].r) != RAFT_FOLLOWER) fail(c, "the removed n%d campaigns", f + 1);
    check_voters(c, 2, f);
    TRY(c);
    /* the configuration survives a restart: the remaining follower reboots from its log */
    node_crash(c, other);
    node_restart(c, other);
    one(c, fresh(c), 2, true);
    check_voters(c, 2, f);
    /* two voters: both are needed now */
    DIS(other);
    uint64_t index = start_on(c, l, fresh(c), 8);
    run_for(c, 2 * SEC);
    uint64_t v;
    if (index == 0 || n_committed(c, index, &v) > 0) fail(c, "committed without a majority of the two voters");
    CON(other);
    one(c, fresh(c), 2, true);
}

/* Remove the leader: it steps down once its removal commits, a voter takes over, and the
 * old leader stays quiet. */
static void sc_member_remove_leader(Cluster *c) {
    one(c, fresh(c), 3, true);
    int l = check_one_leader(c);
    TRY(c);
    conf_change(c, RAFT_CONF_REMOVE, (uint32_t)l + 1);
    TRY(c);
    run_for(c, 1 * SEC);
    int nl = check_one_leader(c);
    TRY(c);
    if (nl == l) {
        fail(c, "the removed leader n%d still leads", l + 1);
        return;
    }
    uint64_t term = raft_term(c->node[nl].r);
    uint64_t idx = one(c, fresh(c), 2, true);
    run_for(c, 3 * SEC);
    TRY(c);
    if (leader_of(c) != nl || raft_term(c->node[nl].r) != term) fail(c, "the removed n%d disturbed the new leader", l + 1);
    if (c->node[l].app->applied >= idx) fail(c, "the removed n%d still applies new entries", l + 1);
    check_voters(c, 2, l);
    one(c, fresh(c), 2, true);
}

/* Add n4 to n1-n3 after 30 entries; with snapshots on, they were compacted away and n4
 * catches up from a snapshot, else from the log. Then n4 counts in every majority. */
static void sc_member_add(Cluster *c) {
    for (int i = 0; i < 30; i++) one(c, fresh(c), 3, true);
    TRY(c);
    if (raft_is_member(c->node[3].r, 4) || raft_role(c->node[3].r) != RAFT_FOLLOWER) fail(c, "n4 votes before it is added");
    conf_change(c, RAFT_CONF_ADD, 4);
    uint64_t idx = one(c, fresh(c), 4, true);
    TRY(c);
    if (c->node[3].app->applied < idx) fail(c, "n4 did not catch up");
    if (c->snapshot_every > 0 && c->installs == 0) fail(c, "n4 caught up without the snapshot it needed");
    check_voters(c, 4, -1);
    /* its configuration survives its restart */
    node_crash(c, 3);
    node_restart(c, 3);
    one(c, fresh(c), 4, true);
    check_voters(c, 4, -1);
    TRY(c);
    /* four voters: three are a majority, two are not */
    int l = check_one_leader(c);
    TRY(c);
    int a = (l + 1) % 4, b = (l + 2) % 4;
    DIS(a);
    one(c, fresh(c), 3, true);
    DIS(b);
    uint64_t index = start_on(c, leader_of(c) >= 0 ? leader_of(c) : l, fresh(c), 8);
    run_for(c, 2 * SEC);
    uint64_t v;
    if (index != 0 && n_committed(c, index, &v) > 0) fail(c, "two of four voters committed");
    CON(a);
    CON(b);
    one(c, fresh(c), 4, true);
}

/* Membership changes under partitions, crashes and a lossy network: n1-n3 start as voters,
 * n4-n5 as spares; every 300 ms the first leader found is asked to add a spare or remove a
 * voter (2-5 voters). Every checker runs at every step; at the end the network heals, everyone
 * restarts, and the configuration the leader has commits new entries on all its voters. */
static void sc_member_churn(Cluster *c) {
    for (int round = 0; round < 100 && !c->violations; round++) {
        for (int a = 0; a < c->n; a++)
            for (int b = 0; b < c->n; b++) c->cut[a][b] = a != b && c_chance(c, 0.15);
        for (int i = 0; i < c->n; i++) /* a crashed node is back after ~2 rounds */
            if (!c->node[i].r && c_chance(c, 0.5)) node_restart(c, i);
        if (c_chance(c, 0.1)) node_crash(c, (int)c_below(c, (uint64_t)c->n));
        bool changed = false;
        for (int64_t t = 0; t < 300 * MS && !c->violations; t += 20 * MS) {
            int l = leader_of(c);
            if (l >= 0 && !changed) {
                Raft *r = c->node[l].r;
                size_t nv = n_voters(&c->node[l]);
                uint32_t peer = (uint32_t)c_below(c, (uint64_t)c->n) + 1;
                bool member = raft_is_member(r, peer);
                if (((member && nv > 2) || (!member && nv < 5)) &&
                    raft_propose_conf(r, member ? RAFT_CONF_REMOVE : RAFT_CONF_ADD, peer, NULL, NULL)) {
                    process_ready(c, &c->node[l]);
                    changed = true;
                }
            }
            for (int i = 0; i < c->n; i++) start_on(c, i, fresh(c), 8);
            run_for(c, 20 * MS);
        }
    }
    TRY(c);
    memset(c->cut, 0, sizeof c->cut);
    c->unreliable = false;
    for (int i = 0; i < c->n; i++) node_restart(c, i);
    int l = check_one_leader(c);
    TRY(c);
    run_for(c, 2 * SEC); /* the last change commits, a removed leader hands over */
    l = leader_of(c);
    if (l < 0) l = check_one_leader(c);
    TRY(c);
    one(c, fresh(c), (int)n_voters(&c->node[l]), true);
    if (c->conf_commits < 10) fail(c, "only %" G_GUINT64_FORMAT " membership changes committed", c->conf_commits);
    g_test_message("    %" G_GUINT64_FORMAT " membership changes committed, %zu voters at the end", c->conf_commits,
                   n_voters(&c->node[l]));
}

/* ================================================================ /raft/broken: Figure 8, scripted */

#define STEP_UNTIL(c, cond, max_ns)                               \
    do {                                                          \
        int64_t end_ = (c)->now + (max_ns);                       \
        while (!(cond) && !(c)->violations && step_one((c), end_)) {} \
    } while (0)

static void describe(Cluster *c, GString *out, const char *what) {
    g_string_append_printf(out, "%s\n", what);
    for (int i = 0; i < c->n; i++) {
        CNode *nd = &c->node[i];
        g_string_append_printf(out, "    S%d %-9s term %" G_GUINT64_FORMAT "  log [", i + 1,
                               nd->r ? raft_role_name(raft_role(nd->r)) : "down", nd->r ? raft_term(nd->r) : 0);
        for (uint64_t k = 1; nd->r && k <= raft_last_index(nd->r); k++) {
            const RaftEntry *e = raft_entry_at(nd->r, k);
            uint64_t v = e ? raft_checker_value(e->data) : 0;
            g_string_append_printf(out, "%s%" G_GUINT64_FORMAT "%s", k > 1 ? " " : "", raft_term_at(nd->r, k),
                                   v == 0xA ? "X" : v == 0xB ? "Y" : "");
        }
        g_string_append_printf(out, "]  commit %" G_GUINT64_FORMAT "  applied %" G_GUINT64_FORMAT "%s\n",
                               nd->r ? raft_commit(nd->r) : 0, nd->app->applied, nd->connected ? "" : "  (cut off)");
    }
}

static void cut_pair(Cluster *c, int a, int b, bool blocked) { c->cut[a][b] = c->cut[b][a] = blocked; }

/* The paper's Figure 8 on five servers, driven message by message. Entry values: X = 0xA
 * (term 1, created by S1), Y = 0xB (term 2, created by S5). Returns the number of violations;
 * `out` gets the transcript the book prints. */
static int figure8_scripted(unsigned bug, GString *out, GString *first) {
    Cluster *c = cluster_new("figure8-scripted", 8, 5, false);
    c->bug = bug;
    c->election_ticks = 1000; /* no spontaneous elections: the script decides who campaigns */
    c->max_append = 1;        /* one entry per AppendEntries, so the timing below is exact */
    cluster_start(c);
    CNode *S[6] = {NULL, &c->node[0], &c->node[1], &c->node[2], &c->node[3], &c->node[4]};
    /* (a) S1 leads term 1; the no-op commits everywhere. S1 then gets X onto S2 only. */
    raft_campaign(S[1]->r);
    process_ready(c, S[1]);
    run_for(c, 500 * MS);
    for (int k = 3; k <= 5; k++) cut_pair(c, 0, k - 1, true);
    start_on(c, 0, 0xA, 8);
    run_for(c, 300 * MS);
    g_assert_cmpuint(raft_term_at(S[2]->r, 2), ==, 1);
    describe(c, out, "(a) S1 leads term 1 and replicates X (index 2) to S2 only");
    /* (b) S1 and S2 cut off; S5 elected for term 2 by S3, S4; Y appended on S5 alone. */
    DIS(0);
    DIS(1);
    for (int k = 3; k <= 5; k++) cut_pair(c, 0, k - 1, false);
    raft_campaign(S[5]->r);
    process_ready(c, S[5]);
    STEP_UNTIL(c, raft_role(S[5]->r) == RAFT_LEADER, 1 * SEC);
    g_assert_cmpint(raft_role(S[5]->r), ==, RAFT_LEADER);
    DIS(4); /* before its no-op reaches anyone */
    DIS(3); /* S4 sits out (c) */
    start_on(c, 4, 0xB, 8);
    run_for(c, 100 * MS);
    describe(c, out, "(b) S5 is elected for term 2 by S3, S4, S5; its no-op and Y stay on S5");
    /* (c) S1, S2 reconnect to S3 (S4, S5 stay away). S1 learns term 2, is elected for term 3 by S2 and S3, gets
     *     its no-op onto S2 and then X onto S3: X is on a majority (S1, S2, S3). */
    CON(0);
    CON(1);
    run_for(c, 300 * MS);
    g_assert_cmpint(raft_role(S[1]->r), !=, RAFT_LEADER);
    raft_campaign(S[1]->r);
    process_ready(c, S[1]);
    STEP_UNTIL(c, raft_role(S[1]->r) == RAFT_LEADER, 1 * SEC);
    g_assert_cmpint(raft_role(S[1]->r), ==, RAFT_LEADER);
    cut_pair(c, 0, 2, true);
    run_for(c, 300 * MS);
    g_assert_cmpuint(raft_match_of(S[1]->r, 2), ==, 3);
    cut_pair(c, 0, 2, false);
    STEP_UNTIL(c, raft_match_of(S[1]->r, 3) >= 2, 2 * SEC);
    g_assert_cmpuint(raft_match_of(S[1]->r, 3), ==, 2);
    DIS(0); /* before its term-3 no-op reaches S3 */
    describe(c, out, bug ? "(c) S1 leads term 3; X reaches S3, a majority: the BROKEN rule commits and applies X"
                         : "(c) S1 leads term 3; X reaches S3, a majority, but X is of term 1: not committed");
    /* (d) S5 returns, learns term 3 from S3, is elected for term 4 by S3 and S4 (its last
     *     term 2 beats their last term 1), and overwrites index 2 everywhere it reaches. */
    DIS(1);
    CON(3);
    CON(4);
    run_for(c, 300 * MS);
    if (!c->violations) {
        raft_campaign(S[5]->r);
        process_ready(c, S[5]);
        STEP_UNTIL(c, raft_role(S[5]->r) == RAFT_LEADER, 1 * SEC);
        run_for(c, 1 * SEC);
    }
    describe(c, out, "(d) S5 is elected for term 4 by S3, S4 and overwrites index 2 with its own term-2 entry");
    if (!c->violations) { /* everyone back: the cluster converges and makes progress */
        for (int i = 0; i < 5; i++) CON(i);
        one(c, fresh(c), 5, true);
        if (c->failed) g_printerr("%s\n%s\n", out->str, c->why->str);
        g_assert_false(c->failed);
        describe(c, out, "(e) all reconnected: everyone converges on S5's log");
    }
    int v = c->violations;
    g_string_assign(first, c->first_violation->str);
    cluster_free(c);
    return v;
}

static void test_broken_figure8_scripted(void) {
    g_autoptr(GString) out = g_string_new(""), first = g_string_new("");
    int v = figure8_scripted(RAFT_BUG_NONE, out, first);
    if (g_test_verbose()) g_printerr("--- correct commit rule ---\n%s", out->str);
    g_assert_cmpint(v, ==, 0);
    g_string_truncate(out, 0);
    v = figure8_scripted(RAFT_BUG_COMMIT_OLD_TERM, out, first);
    if (g_test_verbose()) g_printerr("--- RAFT_BUG_COMMIT_OLD_TERM ---\n%s  caught: %s\n", out->str, first->str);
    g_assert_cmpint(v, >, 0); /* the checkers catch the broken rule */
    g_assert_true(strstr(first->str, "leader completeness") || strstr(first->str, "state machine safety"));
    g_test_message("broken commit rule caught: %s", first->str);
}

/* ================================================================ the runner */

typedef struct Scenario {
    const char *name;
    int n;
    bool unreliable;
    int snapshot_every;
    int seeds;
    void (*fn)(Cluster *c);
    unsigned bug;
    uint32_t max_append; /* 0: the default batch */
    int voters;          /* 0: all n; else n1..n<voters> start as the configuration */
} Scenario;

static const Scenario SCENARIOS[] = {
    {"initial-election", 3, false, 0, 10, sc_initial_election, 0, 0, 0},
    {"re-election", 3, false, 0, 10, sc_re_election, 0, 0, 0},
    {"many-elections", 7, false, 0, 10, sc_many_elections, 0, 0, 0},
    {"basic-agree", 3, false, 0, 10, sc_basic_agree, 0, 0, 0},
    {"rpc-bytes", 3, false, 0, 10, sc_rpc_bytes, 0, 0, 0},
    {"follower-failure", 3, false, 0, 10, sc_follower_failure, 0, 0, 0},
    {"leader-failure", 3, false, 0, 10, sc_leader_failure, 0, 0, 0},
    {"fail-agree", 3, false, 0, 10, sc_fail_agree, 0, 0, 0},
    {"fail-no-agree", 5, false, 0, 10, sc_fail_no_agree, 0, 0, 0},
    {"concurrent-starts", 3, false, 0, 10, sc_concurrent_starts, 0, 0, 0},
    {"rejoin", 3, false, 0, 10, sc_rejoin, 0, 0, 0},
    {"backup", 5, false, 0, 10, sc_backup, 0, 0, 0},
    {"count", 3, false, 0, 10, sc_count, 0, 0, 0},
    {"persist1", 3, false, 0, 10, sc_persist1, 0, 0, 0},
    {"persist2", 5, false, 0, 10, sc_persist2, 0, 0, 0},
    {"persist3", 3, false, 0, 10, sc_persist3, 0, 0, 0},
    {"figure8", 5, false, 0, 10, sc_figure8, 0, 0, 0},
    {"unreliable-agree", 5, true, 0, 10, sc_unreliable_agree, 0, 0, 0},
    {"figure8-unreliable", 5, true, 0, 10, sc_figure8_unreliable, 0, 0, 0},
    {"reliable-churn", 5, false, 0, 10, sc_reliable_churn, 0, 0, 0},
    {"unreliable-churn", 5, true, 0, 10, sc_unreliable_churn, 0, 0, 0},
    {"snapshot-basic", 3, false, SNAPSHOT_INTERVAL, 10, sc_snapshot_basic, 0, 0, 0},
    {"snapshot-install", 3, false, SNAPSHOT_INTERVAL, 10, sc_snapshot_install, 0, 0, 0},
    {"snapshot-install-unreliable", 3, true, SNAPSHOT_INTERVAL, 10, sc_snapshot_install_unreliable, 0, 0, 0},
    {"snapshot-install-crash", 3, false, SNAPSHOT_INTERVAL, 10, sc_snapshot_install_crash, 0, 0, 0},
    {"snapshot-install-uncrash", 3, true, SNAPSHOT_INTERVAL, 10, sc_snapshot_install_uncrash, 0, 0, 0},
    {"snapshot-all-crash", 3, false, SNAPSHOT_INTERVAL, 10, sc_snapshot_all_crash, 0, 0, 0},
    {"snapshot-init", 3, false, SNAPSHOT_INTERVAL, 10, sc_snapshot_init, 0, 0, 0},
    {"transfer", 5, false, 0, 10, sc_transfer, 0, 0, 0},
    {"partition-swarm", 5, true, 0, 10, sc_partition_swarm, 0, 0, 0},
    {"figure8-adversary", 5, false, 0, 20, sc_figure8_adversary, 0, 1, 0},
    {"bad-input", 5, true, 0, 10, sc_bad_input, 0, 0, 0},
    {"partition-swarm-one-entry", 5, true, 0, 10, sc_partition_swarm, 0, 1, 0},
    {"member-remove-follower", 3, false, 0, 10, sc_member_remove_follower, 0, 0, 0},
    {"member-remove-leader", 3, false, 0, 10, sc_member_remove_leader, 0, 0, 0},
    {"member-add-log", 4, false, 0, 10, sc_member_add, 0, 0, 3},
    {"member-add-snapshot", 4, false, SNAPSHOT_INTERVAL, 10, sc_member_add, 0, 0, 3},
    {"member-churn", 5, true, SNAPSHOT_INTERVAL, 20, sc_member_churn, 0, 0, 3},
};

static double total_sim_s, total_real_s; /* for the simulated-to-real ratio */

/* Run one scenario on one seed: 0 passed, 1 a check failed, 2 an invariant was violated
 * (its description into `why` when given). */
static int run_one(const Scenario *s, uint64_t seed, gboolean report, GString *why) {
    g_autofree char *path = g_strdup_printf("/raft/cluster/%s", s->name);
    Cluster *c = cluster_new(s->name, seed, s->n, s->unreliable);
    c->snapshot_every = s->snapshot_every;
    c->bug = s->bug;
    c->max_append = s->max_append;
    if (s->voters) c->voters = s->voters;
    gint64 t0 = g_get_monotonic_time(); /* tests may read the real clock: to report speed */
    cluster_start(c);
    s->fn(c);
    double real_s = (double)(g_get_monotonic_time() - t0) / 1e6;
    total_sim_s += (double)c->now / SEC;
    total_real_s += real_s;
    gboolean ok = !c->violations && !c->failed;
    int result = c->violations ? 2 : c->failed ? 1 : 0;
    if (why) g_string_assign(why, c->violations ? c->first_violation->str : c->why->str);
    if (report && !ok) {
        g_test_fail_printf("%s seed=%" G_GUINT64_FORMAT ": %s: %s\n  replay: RAFT_SEED=%" G_GUINT64_FORMAT
                           " build/tests/test_raft -p %s",
                           s->name, seed, c->violations ? "invariant violated" : "check failed",
                           c->violations ? c->first_violation->str : c->why->str, seed, path);
    } else if (report) {
        g_test_message("  ... Passed -- seed=%-3" G_GUINT64_FORMAT " %6.1fs simulated %5.2fs real  peers %d  rpcs %6" G_GUINT64_FORMAT
                       "  bytes %8" G_GUINT64_FORMAT "  commits %4" G_GUINT64_FORMAT "  steps %7" G_GUINT64_FORMAT,
                       seed, (double)c->now / SEC, real_s, s->n, c->rpcs, c->bytes, c->chk->max_commit, c->steps);
    }
    cluster_free(c);
    return result;
}

static void test_cluster(gconstpointer data) {
    const Scenario *s = data;
    const char *one_seed = g_getenv("RAFT_SEED");
    if (one_seed) {
        run_one(s, g_ascii_strtoull(one_seed, NULL, 10), TRUE, NULL);
        return;
    }
    int seeds = g_getenv("RAFT_SEEDS") ? atoi(g_getenv("RAFT_SEEDS")) : s->seeds; /* a bigger swarm */
    total_sim_s = total_real_s = 0;
    for (int k = 0; k < seeds; k++) run_one(s, (uint64_t)k + 1, TRUE, NULL);
    g_test_message("%s: %d seeds, %.1f s simulated in %.3f s real (%.0fx)", s->name, seeds, total_sim_s, total_real_s,
                   total_real_s > 0 ? total_sim_s / total_real_s : 0.0);
}

/* The same seed replays the same run: equal trace hashes. */
static void test_cluster_determinism(void) {
    uint64_t h[2], steps[2];
    for (int k = 0; k < 2; k++) {
        Cluster *c = cluster_new("determinism", 42, 5, true);
        cluster_start(c);
        figure8_common(c, 200, true);
        g_assert_false(c->failed);
        g_assert_cmpint(c->violations, ==, 0);
        h[k] = c->trace_hash;
        steps[k] = c->steps;
        cluster_free(c);
    }
    g_assert_cmpuint(h[0], ==, h[1]);
    g_assert_cmpuint(steps[0], ==, steps[1]);
}

/* The broken commit rule under the Figure-8 adversary: the checkers catch it on some
 * seeds (and the correct rule passes the same seeds: /raft/cluster/figure8-adversary).
 * Random crash loops (/raft/cluster/figure8) almost never hit the window, because this
 * leader sends entries the moment they are proposed, together with its no-op. */
static void test_broken_figure8_random(void) {
    static const Scenario broken = {"figure8-adversary-broken", 5, false, 0, 10, sc_figure8_adversary,
                                    RAFT_BUG_COMMIT_OLD_TERM, 1, 0};
    int caught = 0, seeds = g_getenv("RAFT_BROKEN_SEEDS") ? atoi(g_getenv("RAFT_BROKEN_SEEDS")) : 100;
    g_autoptr(GString) why = g_string_new("");
    for (int k = 1; k <= seeds; k++) {
        if (run_one(&broken, (uint64_t)k, FALSE, why) == 2) {
            if (caught++ == 0) g_test_message("first caught: seed=%d %s", k, why->str);
        }
    }
    g_test_message("broken commit rule: caught on %d of %d adversary seeds", caught, seeds);
    g_assert_cmpint(caught, >, 0);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/raft/paper/follower-campaigns", test_paper_follower_campaigns);
    g_test_add_func("/raft/paper/vote-once-per-term", test_paper_vote_once_per_term);
    g_test_add_func("/raft/paper/vote-up-to-date", test_paper_vote_up_to_date);
    g_test_add_func("/raft/paper/stale-term-rejected", test_paper_stale_term_rejected);
    g_test_add_func("/raft/paper/higher-term-converts", test_paper_higher_term_converts);
    g_test_add_func("/raft/paper/candidate-wins", test_paper_candidate_wins);
    g_test_add_func("/raft/paper/candidate-steps-down", test_paper_candidate_steps_down);
    g_test_add_func("/raft/paper/append-prev-mismatch", test_paper_append_prev_mismatch);
    g_test_add_func("/raft/paper/append-conflict-truncates", test_paper_append_conflict_truncates);
    g_test_add_func("/raft/paper/follower-commit-min", test_paper_follower_commit_min);
    g_test_add_func("/raft/paper/leader-commits-current-term-only", test_paper_leader_commits_current_term_only);
    g_test_add_func("/raft/paper/hard-state-before-messages", test_paper_hard_state_before_messages);
    g_test_add_func("/raft/paper/prevote-isolated-term-stable", test_prevote_isolated_term_stable);
    g_test_add_func("/raft/paper/prevote-leader-alive-rejects", test_prevote_leader_alive_rejects);
    g_test_add_func("/raft/paper/prevote-then-vote", test_prevote_then_vote);
    g_test_add_func("/raft/paper/backup-hint-skips-term", test_backup_hint_skips_term);
    g_test_add_func("/raft/paper/snapshot-install", test_snapshot_install);
    g_test_add_func("/raft/paper/snapshot-leader-sends", test_snapshot_leader_sends);
    g_test_add_func("/raft/paper/transfer-timeout-now", test_transfer_timeout_now);
    g_test_add_func("/raft/paper/unknown-peer", test_step_unknown_peer);
    g_test_add_func("/raft/msg/roundtrip-and-malformed", test_msg_roundtrip_and_malformed);
    g_test_add_func("/raft/log/roundtrip-and-conflict", test_log_roundtrip_and_conflict);
    g_test_add_func("/raft/log/crash-modes", test_log_crash_modes);
    g_test_add_func("/raft/log/crash-at-every-write", test_log_crash_at_every_write);
    g_test_add_func("/raft/log/bitflip", test_log_bitflip);
    g_test_add_func("/raft/log/damaged-middle-vs-torn-tail", test_log_damaged_middle_vs_torn_tail);
    g_test_add_func("/raft/log/damaged-member-does-not-vote", test_damaged_member_does_not_vote);
    g_test_add_func("/raft/log/state-lost-does-not-vote", test_state_lost_does_not_vote);
    for (size_t i = 0; i < G_N_ELEMENTS(SCENARIOS); i++) {
        g_autofree char *path = g_strdup_printf("/raft/cluster/%s", SCENARIOS[i].name);
        g_test_add_data_func(path, &SCENARIOS[i], test_cluster);
    }
    g_test_add_func("/raft/cluster/determinism", test_cluster_determinism);
    g_test_add_func("/raft/broken/figure8-scripted", test_broken_figure8_scripted);
    g_test_add_func("/raft/broken/figure8-random", test_broken_figure8_random);
    return g_test_run();
}
