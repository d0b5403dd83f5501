/* sim_report.h — metrics, summary.txt and charts of one run (see sim_report.c). */
#ifndef MINIJET_SIM_REPORT_H
#define MINIJET_SIM_REPORT_H

#include "sim_env.h"

typedef struct SimRunReport {
    const char *scenario;
    uint64_t seed;
    int code;
    const char *verdict;
    char *hash;
    uint64_t events, steps, invariant_checks;
    int64_t sim_ns;
    double real_s;             /* wall clock: report only, never traced or hashed */
    double cpu_s;              /* CPU time of the process over the same span */
    uint64_t published, delivered, req_ok, req_fail, reconnects, server_closes;
    uint64_t pub_unsent;       /* of published: the client was disconnected, nothing was sent */
    uint64_t js_acks;          /* of req_ok: PubAcks of JetStream publishes (the rest are replies) */
    bool raft;                 /* a [raft] run: no broker clients, so no broker rows */
    GPtrArray *violations;     /* of char* ("safety: ..." / "liveness: ...") */
    char *extra;               /* more lines for summary.txt (a [raft] run's counts), or NULL */
} SimRunReport;

void sim_report_metrics(Sim *sim);
bool sim_report_summary(const char *dir, const SimRunReport *r, GError **error);
/* DIR/latency.png, DIR/throughput.png; with nodes > 1 also DIR/cluster.png (per node). */
bool sim_report_charts(const char *dir, const char *title, int nodes, GError **error);
/* A [raft] run: DIR/timeline.png — who led which term, commit index per node, faults shaded. */
bool sim_report_raft_timeline(const char *dir, const char *title, int nodes, GError **error);

#endif
