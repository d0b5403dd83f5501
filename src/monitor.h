/* monitor.h — nats-server's HTTP monitoring endpoints (/varz, /connz, /subsz, /jsz, /healthz).
 *
 * WHAT IT IS
 *   A tiny HTTP/1.1 server over the environment: the world delivers the monitor's own
 *   connections (a second listener, `-m 8222`) to the handlers below, the monitor reads one
 *   GET request, answers it with JSON built from the server's counters, and closes. The JSON
 *   uses nats-server 2.9.10's field names, so `curl localhost:8222/varz` and the tools that
 *   read it (nats-top, Prometheus exporters) see the same shape from both servers.
 *
 * INTERFACE
 *   monitor_new(env, srv, js, opts) a monitor answering from srv's and js's numbers (js NULL
 *                                  when JetStream is off), talking through env
 *   monitor_handlers()             the EnvHandlers to give the listener (core = the Monitor)
 *   monitor_set_http_port(m, p)    the port really bound (for /varz http_port)
 *   monitor_free(m)                cancel timers, forget connections (the world closes them)
 *
 * ENDPOINTS
 *   /           an HTML page of links
 *   /varz       server identity, limits and totals (+ "jetstream" when enabled)
 *   /connz      open client connections in cid order; ?limit=&offset= page, ?subs=1 subjects
 *   /subsz      the subject trie's counters
 *   /jsz        JetStream totals; ?streams=1 (?consumers=1, ?config=1) adds per-stream detail
 *   /healthz    {"status":"ok"}
 *
 * INVARIANTS
 *   - A request holds at most LIMIT_MONITOR_REQUEST_BYTES: past that it gets 400 and a close.
 *   - Every connection gets exactly one response (or none if the peer leaves first) and is
 *     then closed; one that sends no complete request within LIMIT_MONITOR_IDLE_NS gets 408.
 *   - Output never depends on hash order: connections by cid, subjects sorted, streams by name.
 */
#ifndef MINIJET_MONITOR_H
#define MINIJET_MONITOR_H

#include <glib.h>
#include <stdint.h>

#include "env.h"
#include "jetstream.h"
#include "server.h"

typedef struct Monitor Monitor;

typedef struct MonitorOptions {
    const char *http_host;        /* shown as /varz http_host */
    int http_port;                /* shown as /varz http_port (see monitor_set_http_port) */
} MonitorOptions;

Monitor *monitor_new(Env *env, Server *srv, JetStream *js, const MonitorOptions *opts);
/* While the server starts (JetStream restoring, the client port not open yet), /healthz
 * answers 503 {"status":"error","error":why}; NULL = ready (200 {"status":"ok"}). */
void monitor_set_not_ready(Monitor *m, const char *why);
const EnvHandlers *monitor_handlers(void);
void monitor_set_http_port(Monitor *m, int port);
struct Cluster;
void monitor_set_cluster(Monitor *m, struct Cluster *cl); /* /routez and /varz cluster fields */
struct JsCluster;
void monitor_set_jscluster(Monitor *m, struct JsCluster *jc); /* /varz meta, /jsz meta_cluster */
void monitor_free(Monitor *m);

#endif
