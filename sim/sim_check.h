/* sim_check.h — the checkers that judge a run, and the exit codes that report the verdict.
 *
 * INTERFACE
 *   sim_check_all(sim)   run every after-the-run checker (the online ones already ran
 *                        during the run, inside the workload); returns the exit code
 *
 * CHECKERS (core NATS; JetStream rules are listed in sim_workload.h and join when streams land)
 *   safety    nothing delivered that was never published            (online, sim_workload.c)
 *             per publisher, a subscriber sees increasing sequences  (online)
 *             no duplicates on a plain subscription                  (online)
 *             a queue group receives each message at most once       (here)
 *             a message published while publisher and subscriber were both connected and
 *             stayed connected for `grace` afterwards is delivered   (here)
 *             clients marked `expect = slow` are cut off as slow consumers, and nobody else is
 *             requests are answered with their own payload           (online)
 *             the invariant chain after every step: server_check_contracts (sim_env.c; aborts),
 *             server_check_invariants with the walks every check_every steps
 *   liveness  once faults stop (last fault window + settle): every client is connected at the
 *             end, every publisher publishes, every request succeeds
 */
#ifndef MINIJET_SIM_CHECK_H
#define MINIJET_SIM_CHECK_H

#include "sim_env.h"

enum {
    SIM_EXIT_OK = 0,          /* every checker holds */
    SIM_EXIT_SAFETY = 1,      /* something happened that must never happen */
    SIM_EXIT_LIVENESS = 2,    /* something that must happen did not, after faults stopped */
    SIM_EXIT_INTERNAL = 3,    /* an assertion or invariant failed inside minijet or the sim */
    SIM_EXIT_NONDETERMINISM = 4, /* replay produced a different trace hash */
    SIM_EXIT_USAGE = 64,      /* bad command line or scenario file (EX_USAGE) */
};

int sim_check_all(Sim *sim);
const char *sim_exit_name(int code);

#endif
