/* sim_sched.h — the simulator's heart: one seeded PRNG and a discrete-event scheduler.
 *
 * INTERFACE
 *   Rng (src/rng.h)                             the PRNG every choice of a run is drawn from:
 *                                               rng_derive(parent, label) per node, net, ...
 *   sim_sched_init(s) / sim_sched_clear(s)
 *   sim_sched_at(s, t, fn, a, b)                run fn(ctx, a, b) at virtual time t (>= now)
 *   sim_sched_after(s, dt, fn, a, b)            the same, dt from now
 *   sim_sched_step(s, ctx, limit)               run the next event if its time <= limit
 *
 * INVARIANTS
 *   - Events run in (time, seq) order; seq counts up, so two events at one time run in the
 *     order they were scheduled. Nothing else (no pointer, no hash order) decides the order.
 *   - Virtual time never goes backwards: scheduling into the past is a programmer error.
 *   - Every random choice of a run is drawn from streams derived from the one seed.
 */
#ifndef MINIJET_SIM_SCHED_H
#define MINIJET_SIM_SCHED_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "rng.h"


/* An event: fn(ctx, a, b). `a` is a pointer the callee owns the meaning of (it must stay
 * valid until the event runs), `b` an integer (often an id to re-validate against). */
typedef void (*SimEventFn)(void *ctx, void *a, uint64_t b);

typedef struct SimEvent {
    int64_t time_ns;
    uint64_t seq;
    SimEventFn fn;
    void *a;
    uint64_t b;
} SimEvent;

typedef struct SimSched {
    GArray *heap;     /* of SimEvent, a binary min-heap on (time_ns, seq) */
    uint64_t next_seq;
    int64_t now_ns;   /* virtual time: the time of the event being run */
    uint64_t steps;   /* events run so far */
} SimSched;

void sim_sched_init(SimSched *s);
void sim_sched_clear(SimSched *s);
void sim_sched_at(SimSched *s, int64_t time_ns, SimEventFn fn, void *a, uint64_t b);
void sim_sched_after(SimSched *s, int64_t delay_ns, SimEventFn fn, void *a, uint64_t b);
/* Run the earliest event if its time is <= limit_ns; false when none is due. */
bool sim_sched_step(SimSched *s, void *ctx, int64_t limit_ns);
size_t sim_sched_pending(const SimSched *s);

#define SIM_US ((int64_t)1000)
#define SIM_MS ((int64_t)1000000)
#define SIM_S ((int64_t)1000000000)

#endif
