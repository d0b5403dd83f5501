/* sim_jscluster.h — clustered JetStream in the simulator: who leads, replicas that must agree,
 * and the queue checker (Jepsen's classes) at the end of a run.
 *
 * WHAT IT IS
 *   With nodes > 1 and JetStream every node runs src/jscluster.c on top of its Server, its
 *   Cluster (routes over the simulated network) and its JetStream; a js-publisher with
 *   `replicas = R` creates an R-replica stream, a Raft group whose logs live on the nodes'
 *   simulated disks (src/cluster_nrg.c). This module watches those streams from outside,
 *   white-box, the way the other checkers read a node's store:
 *
 *   every step   each replica's stream store is compared, byte for byte, with the history
 *                every replica applied so far (seq -> timestamp, subject, headers, payload):
 *                a committed message never changes and never disappears from a replica
 *                that holds later ones. Only new sequences are read, so this is cheap.
 *   every Ready  Raft's five properties on every Raft group (the meta group and each
 *                stream's), through sim/raft_checker.c, the checkers the raft-* scenarios
 *                use: every member's every Ready batch is seen through the groups' observer
 *                hook (cluster_nrg.h NrgObserveFn) — election safety, leader append-only,
 *                log matching, leader completeness, state machine safety (so the committed
 *                Raft logs are byte-identical wherever they are applied). A member that
 *                recovered or installed a snapshot is judged by the snapshot's (index, term).
 *   every step   who leads each stream; the leaderless intervals are the "elections" shaded
 *                on the charts (faults table, kind `election`), per-node PubAck latency is
 *                recorded by the workload.
 *   retention    a work-queue or interest stream (js-publisher `retention =`): every step and
 *                at the end, a message gone from a replica was acked (by a worker; by every
 *                consumer group that existed when it was published); after the faults,
 *                what was acked in time is gone from every caught-up replica and those
 *                replicas hold the same sequences (see "the retention checker" in the .c)
 *   the end      the queue checker (Jepsen's `queue` checker, for a stream): every publish
 *                a js-publisher sent is
 *                  ok          acknowledged and read
 *                  lost        acknowledged, never read                      (safety)
 *                  unknown     timed out / cut off / refused, and never read
 *                  recovered   timed out / cut off / refused, but read
 *                and every message read is something someone sent (unexpected: safety),
 *                read once (duplicated: safety), at the sequence its PubAck named. "Read" is
 *                the stream leader's store at the end plus every consumer delivery. Lost
 *                publishes are split by position among the acknowledged ones (prefix before
 *                the first ok, postfix after the last, middle) and counted per node (what
 *                each replica's own store is missing).
 *
 * INTERFACE
 *   sim_jsc_new(sim) / sim_jsc_free(j)      NULL unless nodes > 1 with JetStream
 *   sim_jsc_step(j)                         after every scheduler step (sim_run)
 *   sim_jsc_fault_target(j, kind, role)     "crash leader" / "partition follower": a node index
 *   sim_jsc_admin(j, kind, node, replicas)  js-scale / js-peer-remove: the operator's request
 *                                           (STREAM.UPDATE / STREAM.PEER.REMOVE of the first
 *                                           js-publisher stream), sent into a live node
 *   sim_jsc_check_end(j)                    the queue checker; violations go to the workload
 *   sim_jsc_summary(j)                      lines for summary.txt (g_free)
 *   sim_jsc_note_ack(j, node, now, lat)     a PubAck, per node of the publisher's connection
 *   sim_jsc_observe(j, nrg, r, rd, phase)   the Raft groups' observer (JsClusterConfig.observe)
 *   sim_jsc_metrics(j)                      per-node PubAck rate and latency rows and the queue
 *                                           checker's classes for the charts (sim_report.c draws
 *                                           failover.png and lost.png from them)
 */
#ifndef MINIJET_SIM_JSCLUSTER_H
#define MINIJET_SIM_JSCLUSTER_H

#include "cluster_nrg.h"
#include "sim_env.h"
#include "sim_scenario.h"

typedef struct SimJsc SimJsc;

SimJsc *sim_jsc_new(Sim *sim);
void sim_jsc_free(SimJsc *j);
void sim_jsc_step(SimJsc *j);
int sim_jsc_fault_target(SimJsc *j, SimFaultKind kind, int role);
void sim_jsc_admin(SimJsc *j, SimFaultKind kind, SimNode *target, int64_t replicas);
void sim_jsc_check_end(SimJsc *j);
char *sim_jsc_summary(SimJsc *j);
/* The node leading the first replicated stream now, or -1. */
int sim_jsc_leader(SimJsc *j);
/* A PubAck arrived at a publisher connected to `node`, `lat_ns` after its publish. */
void sim_jsc_note_ack(SimJsc *j, int node, int64_t now_ns, int64_t lat_ns);
/* The Raft groups' observer (NrgObserveFn; JsClusterConfig.observe, ctx = the SimJsc). */
void sim_jsc_observe(void *ctx, const Nrg *n, const struct Raft *r, const struct RaftReady *rd, NrgObsPhase phase);
/* Per-node metrics rows: ack_per_s_nK, ack_p50_nK_ms, ack_p99_nK_ms (failover.png). */
void sim_jsc_metrics(SimJsc *j);
/* The queue checker's classes summed over the streams (after sim_jsc_check_end): a swarm
 * adds them up over its seeds. */
typedef struct SimJscTotals {
    uint64_t ok, lost, unknown, recovered, unexpected, duplicated;
} SimJscTotals;
void sim_jsc_totals(const SimJsc *j, SimJscTotals *t);

#endif
