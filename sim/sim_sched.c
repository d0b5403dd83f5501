/* sim_sched.c — the discrete-event scheduler (see sim_sched.h; the PRNG is src/rng.c).
 *
 * ============================================================================================
 * WHY A DISCRETE-EVENT SCHEDULER
 *
 *   A real broker waits: for bytes on a socket, for a timer, for fsync. Waiting on real time
 *   makes a test slow (a 2-minute ping interval takes 2 minutes) and, worse, makes it
 *   unrepeatable: the kernel decides which of two packets arrives first, and it decides
 *   differently every run. A bug that needs one particular interleaving shows up once in a
 *   thousand runs and never when you attach a debugger.
 *
 *   The simulator replaces waiting with a list of things that will happen: "at t=1.250 ms,
 *   deliver these 83 bytes to n1's connection 4", "at t=2 s, fire n1's ping timer". The list
 *   is a binary heap ordered by (time, seq). Running the simulation is a loop: take the
 *   earliest event, set the virtual clock to its time, run it; running it may schedule more
 *   events. Nothing happens between events, so time jumps straight from one to the next: an
 *   idle minute costs nothing, and a busy second costs only the work done in it. This is how
 *   FoundationDB's simulator and TigerBeetle's VOPR run a whole cluster in one thread.
 *
 * HOW DETERMINISM FOLLOWS
 *   Everything that could differ between two runs is pinned down:
 *     - order: ties in time are broken by `seq`, the order in which events were scheduled,
 *       which itself only depends on earlier events. Never on a pointer or a hash order.
 *     - chance: every random choice (a network delay, which unsynced write survives a crash,
 *       which queue member gets a message) is drawn from xoshiro256** streams derived from
 *       the run's one seed. Each part of the world (each node, the network, the workload,
 *       the fault injector) draws from its own stream, so adding a random draw in one part
 *       does not shift the numbers every other part sees.
 *     - time: the only clock is `now_ns`; wall-clock time is measured only for the report.
 *   Same seed + same scenario + same build => the same events in the same order; the trace
 *   hash (sim_trace.c) checks that claim on every run.
 *
 * WHY NOT THE OBVIOUS WAY
 *   A sorted list is O(n) per insert; a timer wheel is faster but needs a fixed tick. A heap
 *   is O(log n), has no tick, and is thirty lines.
 *
 * LIMITATIONS
 *   Events cannot be cancelled; owners re-validate when the event runs (a timer checks it is
 *   still registered, a delivery checks the connection is still open), which costs one
 *   lookup and keeps the heap simple.
 * ============================================================================================
 */
#include "sim_sched.h"

#include <string.h>

/* --- the event heap --- */

static inline bool ev_less(const SimEvent *x, const SimEvent *y) {
    return x->time_ns < y->time_ns || (x->time_ns == y->time_ns && x->seq < y->seq);
}

void sim_sched_init(SimSched *s) {
    memset(s, 0, sizeof *s);
    s->heap = g_array_sized_new(FALSE, FALSE, sizeof(SimEvent), 1024);
    s->next_seq = 1;
}

void sim_sched_clear(SimSched *s) {
    if (s->heap) g_array_free(s->heap, TRUE);
    s->heap = NULL;
}

void sim_sched_at(SimSched *s, int64_t time_ns, SimEventFn fn, void *a, uint64_t b) {
    g_assert(time_ns >= s->now_ns); /* the past is closed */
    SimEvent ev = {time_ns, s->next_seq++, fn, a, b};
    g_array_append_val(s->heap, ev);
    SimEvent *h = (SimEvent *)s->heap->data;
    size_t i = s->heap->len - 1;
    while (i > 0) { /* sift up */
        size_t parent = (i - 1) / 2;
        if (!ev_less(&h[i], &h[parent])) break;
        SimEvent t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

void sim_sched_after(SimSched *s, int64_t delay_ns, SimEventFn fn, void *a, uint64_t b) {
    g_assert(delay_ns >= 0);
    sim_sched_at(s, s->now_ns + delay_ns, fn, a, b);
}

static SimEvent pop_min(SimSched *s) {
    SimEvent *h = (SimEvent *)s->heap->data;
    SimEvent top = h[0];
    size_t n = s->heap->len - 1;
    h[0] = h[n];
    g_array_set_size(s->heap, (guint)n);
    size_t i = 0;
    for (;;) { /* sift down */
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ev_less(&h[l], &h[m])) m = l;
        if (r < n && ev_less(&h[r], &h[m])) m = r;
        if (m == i) break;
        SimEvent t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

bool sim_sched_step(SimSched *s, void *ctx, int64_t limit_ns) {
    if (s->heap->len == 0) return false;
    if (((SimEvent *)s->heap->data)[0].time_ns > limit_ns) return false;
    SimEvent ev = pop_min(s);
    s->now_ns = ev.time_ns;
    s->steps++;
    ev.fn(ctx, ev.a, ev.b);
    return true;
}

size_t sim_sched_pending(const SimSched *s) { return s->heap->len; }
