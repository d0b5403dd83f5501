/* route.h — the cluster layer: routes between servers and interest across them.
 *
 * A Cluster sits beside the server core (server.h) and uses only its generic hooks: an
 * observer on its subscriptions (server_observe_subs, the same hook mechanism a push
 * consumer's interest watch uses: local subscriptions come and go -> RS+/RS- to every peer), remote
 * subscriptions (a peer's RS+ becomes interest in the local trie, so publishes and queue
 * picks see the whole cluster), the forward callback (one RMSG per peer per message) and
 * server_deliver_routed (an RMSG from a peer reaches local subscribers only). Everything
 * it does to the world goes through env.h: its listener (env_listen), its dials
 * (env_conn_connect), its timers and its random numbers. Book: chapter "Routes".
 *
 * INTERFACE
 *   cluster_config_init(cfg)         defaults (nats-server's)
 *   cluster_new(srv, cfg, error)     listen on the cluster port, dial the configured routes
 *   cluster_free(cl)                 close every route; call before server_free
 *   cluster_port(cl)                 the cluster port actually bound
 *   cluster_name(cl)                 the cluster name (configured, or adopted/generated)
 *   cluster_route_list(cl)           the open routes for /routez, in rid order
 *   cluster_local_interest(cl), cluster_route_interest(cl, rid)   interest keys, both sides
 *   cluster_route_count(cl)          registered routes (varz "routes")
 *   cluster_check_invariants(cl)
 *
 * INVARIANTS
 *   - At most one registered route per remote server_id; never one to ourselves.
 *   - Every remote subscription belongs to exactly one registered route and is removed when
 *     that route closes.
 *   - The interest announced to a peer is exactly the local interest: one RS+ per
 *     plain subject while its count is > 0, queue RS+ carrying the current member count.
 *   - A message that arrived on a route is never sent on a route.
 */
#ifndef MINIJET_ROUTE_H
#define MINIJET_ROUTE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "env.h"
#include "server.h"

typedef struct Cluster Cluster;

typedef struct ClusterConfig {
    const char *name;          /* cluster name; NULL = dynamic (adopt a peer's, as nats-server) */
    const char *host;          /* cluster listen host; default "127.0.0.1" */
    int port;                  /* cluster listen port; 0 = any */
    const char *const *routes; /* configured route URLs (nats://h:p, nats-route://h:p), NULL-terminated */
    int64_t ping_interval_ns;  /* route keep-alive; default the server's */
    int ping_max_outstanding;
    size_t max_pending_bytes;  /* a route further behind is closed (slow route) */
    bool no_advertise;         /* nats-server's no_advertise: clients get no connect_urls, and our
                                  route INFO carries none (peers do not list us to their clients) */
    unsigned bug;              /* ClusterBug flags: deliberate breakage for the simulator's
                                  checkers (minijet-sim --bug route-*); 0 in every real use */
} ClusterConfig;

/* Broken variants the simulator's checkers must catch (mutation testing of the checkers). */
typedef enum {
    CLUSTER_BUG_FORWARD_ROUTED = 1u << 0, /* a message from a route also goes out on routes */
    CLUSTER_BUG_NO_REPLAY = 1u << 1,      /* a new route is not told the existing interest */
    CLUSTER_BUG_NO_UNSUB = 1u << 2,       /* the last local unsubscribe sends no RS- */
} ClusterBug;

/* One route as /routez shows it. Strings borrowed until the next event. */
typedef struct ClusterRouteInfo {
    EnvConn rid;
    const char *remote_id, *remote_name, *ip;
    int port;
    bool did_solicit, is_configured;
    int64_t rtt_ns;              /* our last PING's round trip (env_now_ns); 0 = none yet */
    ServerConnActivity activity; /* subscriptions: the interest the peer told us */
} ClusterRouteInfo;

void cluster_config_init(ClusterConfig *cfg);
Cluster *cluster_new(Server *srv, const ClusterConfig *cfg, GError **error);
void cluster_free(Cluster *cl);
int cluster_port(const Cluster *cl);
const char *cluster_name(const Cluster *cl);
const char *cluster_host(const Cluster *cl);
const char *const *cluster_urls(const Cluster *cl); /* the configured route URLs */
guint cluster_route_count(const Cluster *cl);
GArray *cluster_route_list(Cluster *cl);             /* ClusterRouteInfo; g_array_unref */
char **cluster_route_subjects(Cluster *cl, EnvConn rid); /* sorted; g_strfreev; NULL if none */
/* Interest keys ("subject" or "subject queue"), sorted, g_strfreev: what this server announces
 * (its local interest) and what a route's peer announced to it. The simulator's convergence
 * checker compares the two across nodes. */
char **cluster_local_interest(Cluster *cl);
char **cluster_route_interest(Cluster *cl, EnvConn rid);
void cluster_check_invariants(Cluster *cl);

/* Parse "nats://host:port", "nats-route://host:port/" or "host:port". FALSE if malformed. */
bool cluster_parse_url(const char *url, char **host, int *port);

#endif
