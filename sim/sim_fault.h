/* sim_fault.h — the fault injector: the scenario's [faults] schedule and [random] faults.
 *
 * INTERFACE
 *   sim_faults_schedule(sim)   put every scheduled fault and every random fault (drawn from
 *                              the fault stream) on the scheduler; record each fault's window
 *                              (crash..restart, partition..heal, pause, stall) in the trace's
 *                              faults table and tell the workload when faults stop.
 *   sim_faults_free(sim)
 *
 * INVARIANTS
 *   - Random disk corruption only ever touches a minority of nodes (for a single node: that
 *     node), so some replica always keeps a good copy; see the crash model in sim_disk.c.
 *   - A random crash is always followed by a restart before the random window closes, so
 *     liveness can be judged after it.
 */
#ifndef MINIJET_SIM_FAULT_H
#define MINIJET_SIM_FAULT_H

#include "sim_env.h"

void sim_faults_schedule(Sim *sim);
void sim_faults_free(Sim *sim);

#endif
