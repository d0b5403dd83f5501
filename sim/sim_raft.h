/* sim_raft.h — a Raft group inside the simulator: the [raft] workload.
 *
 * WHAT IT IS
 *   Each simulated node hosts one member of one Raft group (src/raft.c) instead of a broker
 *   Server: its RaftLog lives on the node's simulated disk (fsync costs time, a crash loses
 *   unsynced writes, a restart runs raft_log_open's real recovery), it ticks on its own
 *   clock through env timers (a paused node does not tick), and its messages are encoded
 *   with raft_msg_encode and travel over the peer links (sim_net_peer_send: delay, loss,
 *   duplication, long holds, partitions). The Ready contract is followed to the letter:
 *   persist, fsync, and only when the fsync is over send the batch's messages; apply.
 *   The application is the chain of blocks (sim/raft_checker.c). Clients propose at
 *   [raft] rate to whichever node they find leading.
 *
 * CHECKERS (sim/raft_checker.c, the same code tests/test_raft.c uses), after every step
 *   safety    election safety, leader append-only, log matching, leader completeness,
 *             state machine safety with equal chain hashes; the run stops at the first
 *             violation (exit 1)
 *   liveness  a leader within [raft] leader_within (5 s) once a majority of nodes is up,
 *             unpaused and fully connected; after the faults stop (+ settle), proposals
 *             commit and every up node applies everything committed before the drain (exit 2)
 *
 * TRACE (events, hashed): leader (detail "term T"), stepdown, commit ("index I term T"),
 *   propose, and the adversary's rounds as fault events. Views in trace.db: leaders(time_ns,
 *   node, term), commits(time_ns, node, idx). Client proposals are rows of ops.
 *
 * THE FIGURE 8 ADVERSARY ([raft] adversary = figure8, from book section 9.4): each round
 *   connects a random group of 1-3 nodes (every other link is cut), makes a random member
 *   campaign, lets 0-29 ms pass, proposes on every leader, and cuts the round after 0-19 ms,
 *   so entries reach random minorities. After `rounds` rounds the network heals.
 */
#ifndef MINIJET_SIM_RAFT_H
#define MINIJET_SIM_RAFT_H

#include "sim_env.h"
#include "sim_scenario.h"

SimRaft *sim_raft_new(Sim *sim);
void sim_raft_free(SimRaft *sr);
bool sim_raft_node_start(SimRaft *sr, SimNode *n);  /* boot or restart: recover from disk */
void sim_raft_node_crash(SimRaft *sr, SimNode *n);  /* before the disk's power cut */
void sim_raft_schedule(SimRaft *sr);                /* clients, adversary, liveness monitor */
void sim_raft_check_end(SimRaft *sr);               /* after the run: the liveness checks */
void sim_raft_finish(SimRaft *sr);                  /* ops rows for the proposals */
char *sim_raft_summary(const SimRaft *sr);          /* lines for summary.txt */
/* The node a "crash/pause/restart leader" fault means now (-1: none): the up leader of the
 * highest term, or for a restart the node the last "crash leader" took down. */
int sim_raft_fault_target(SimRaft *sr, SimFaultKind kind);

#endif
