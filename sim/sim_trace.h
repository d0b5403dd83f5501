/* sim_trace.h — the run's record: every event hashed, optionally printed and stored in SQLite.
 *
 * INTERFACE
 *   sim_trace_new(db_path or NULL, print, error)   db_path: DIR/trace.db (created fresh)
 *   sim_trace_event(t, time_ns, node, kind, fmt, ...)  one event: hashed, printed, stored
 *   sim_trace_metric(t, time_ns, name, value)      a sample for the metrics table (not hashed)
 *   sim_trace_op(t, client, kind, invoke, complete, result, detail)  one workload operation
 *   sim_trace_fault(t, start, end, node, kind, detail)  a fault window (for chart shading)
 *   sim_trace_meta(t, key, value)                  the run table (seed, scenario, hash ...)
 *   sim_trace_hash_hex(t)                          sha256 of every event line so far (g_free)
 *   sim_trace_finish(t) / sim_trace_free(t)        commit the database / free
 *   sim_trace_print_legend(FILE*)                  what the kinds mean (--trace)
 *
 * SCHEMA (trace.db)
 *   events(seq INTEGER PRIMARY KEY, time_ns, node, kind, detail)   one row per event
 *   ops(id, client, kind, invoke_ns, complete_ns, result, detail)   one row per operation
 *   metrics(time_ns, name, value)                                   per-bucket samples
 *   faults(start_ns, end_ns, node, kind, detail)                    fault windows
 *   run(key, value)                                                 seed, scenario, hash ...
 *   view events_ms: events with time in milliseconds, for reading
 *   views leaders(seq, time_ns, node, term), commits(seq, time_ns, node, idx): a [raft] run's
 *   leader and commit events, parsed
 *
 * INVARIANTS
 *   - The hash covers exactly the event lines "time_ns node kind detail\n", in order; nothing
 *     measured in wall-clock time and no pointer value ever enters an event.
 */
#ifndef MINIJET_SIM_TRACE_H
#define MINIJET_SIM_TRACE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct SimTrace SimTrace;

SimTrace *sim_trace_new(const char *db_path, bool print, GError **error);
void sim_trace_event(SimTrace *t, int64_t time_ns, const char *node, const char *kind,
                     const char *fmt, ...) G_GNUC_PRINTF(5, 6);
/* The same with a detail already built: for the hot events (send, recv, pub, msg), where
 * printf's parsing of the format was a fifth of the simulator's own time. */
void sim_trace_event_raw(SimTrace *t, int64_t time_ns, const char *node, const char *kind, const char *detail,
                         size_t len);

/* A small detail builder for sim_trace_event_raw (truncates at its size, never overflows). */
typedef struct SimDetail {
    size_t len;
    char buf[240];
} SimDetail;

static inline void sim_detail_str(SimDetail *d, const char *s) {
    while (*s && d->len < sizeof d->buf) d->buf[d->len++] = *s++;
}
static inline void sim_detail_u64(SimDetail *d, uint64_t v) {
    char num[24];
    int k = sizeof num;
    do num[--k] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    while (k < (int)sizeof num && d->len < sizeof d->buf) d->buf[d->len++] = num[k++];
}

void sim_trace_metric(SimTrace *t, int64_t time_ns, const char *name, double value);
void sim_trace_op(SimTrace *t, const char *client, const char *kind, int64_t invoke_ns,
                  int64_t complete_ns, const char *result, const char *detail);
void sim_trace_fault(SimTrace *t, int64_t start_ns, int64_t end_ns, const char *node,
                     const char *kind, const char *detail);
void sim_trace_meta(SimTrace *t, const char *key, const char *value);
char *sim_trace_hash_hex(SimTrace *t);
uint64_t sim_trace_events(const SimTrace *t);
bool sim_trace_finish(SimTrace *t, GError **error);
void sim_trace_free(SimTrace *t);
void sim_trace_print_legend(FILE *out);

#endif
