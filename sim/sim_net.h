/* sim_net.h — the simulated network: client byte streams and node-to-node message links.
 *
 * INTERFACE
 *   sim_net_new(sim, cfg) / sim_net_free(net)
 *   client connections (ordered byte streams):
 *     sim_net_dial(net, node, name, end, ctx)  connect a client to a node; after one latency
 *                                              the node accepts (or the client is refused)
 *     sim_net_client_send / sim_net_client_close
 *     sim_net_server_send / sim_net_server_pending / sim_net_server_close (the Env side)
 *     sim_net_flush(net)                        ship what each connection queued this step
 *     faults: sim_net_reset, sim_net_node_down, sim_net_set_read_rate, sim_net_stall
 *   peer links (messages between nodes, for replication):
 *     sim_net_peer_handler(net, node, fn, ctx), sim_net_peer_send(net, from, to, data, len)
 *     sim_net_link_set(net, from, to, link), sim_net_partition(net, from, to, blocked)
 *     sim_net_link_preset(name, link)           "lan", "unreliable", "reorder"
 *
 * INVARIANTS
 *   - A connection delivers each direction's bytes in order, exactly once, with no gaps,
 *     until it is closed or reset; after a reset neither side receives another byte.
 *   - The node side of a connection sees on_closed exactly once (unless the node crashed).
 *   - Peer messages are independent datagrams: they may be delayed, lost, duplicated and
 *     reordered, never corrupted, and never delivered across a partition.
 */
#ifndef MINIJET_SIM_NET_H
#define MINIJET_SIM_NET_H

#include "sim_env.h"

typedef struct SimNetConfig {
    int64_t latency_min_ns, latency_max_ns; /* one-way, client links */
    uint64_t kernel_buffer_bytes;           /* what the kernel takes before "pending" grows */
} SimNetConfig;

/* What a client end hears from its connection. */
typedef struct SimConnEnd {
    void (*on_open)(void *ctx);                              /* the node accepted */
    void (*on_bytes)(void *ctx, const uint8_t *data, size_t len);
    void (*on_closed)(void *ctx, const char *why);           /* refused, closed or reset */
} SimConnEnd;

/* A node-to-node link, one direction. */
typedef struct SimLink {
    int64_t latency_min_ns, latency_max_ns;
    double drop_p, dup_p;
    double long_p;                           /* chance a message is held a long time */
    int64_t long_min_ns, long_max_ns;
    bool blocked;                            /* partitioned */
} SimLink;

typedef void (*SimPeerFn)(void *ctx, int from, const uint8_t *data, size_t len);

SimNet *sim_net_new(Sim *sim, const SimNetConfig *cfg);
void sim_net_free(SimNet *net);

SimConn *sim_net_dial(SimNet *net, SimNode *node, const char *name, const SimConnEnd *end,
                      void *ctx);
/* A route: node `from` dials node `to`'s cluster listener; `end` is the dialler's side
 * (sim_env.c hands it to the dialling node's Env). Partitions between the two nodes hold
 * its bytes (TCP retransmitting) until they heal. */
SimConn *sim_net_dial_route(SimNet *net, SimNode *from, SimNode *to, const char *name, const SimConnEnd *end,
                            void *ctx);
size_t sim_net_client_pending(SimConn *c);
void sim_net_client_send(SimConn *c, const void *data, size_t len);
void sim_net_client_close(SimConn *c);
uint64_t sim_conn_id(const SimConn *c);
SimNode *sim_conn_node(const SimConn *c);
bool sim_conn_is_route(const SimConn *c);
SimNode *sim_net_route_from(const SimConn *c); /* the dialling node of a route, else NULL */

void sim_net_server_send(SimConn *c, const EnvSlice *slices, size_t n);
size_t sim_net_server_pending(SimConn *c);
/* Stop (or resume) delivering the client's bytes to the server: env_conn_read_pause. */
void sim_net_server_read_pause(SimConn *c, bool paused);
void sim_net_server_close(SimConn *c);
void sim_net_flush(SimNet *net);

void sim_net_reset(SimConn *c, const char *why);
void sim_net_reset_node_clients(SimNet *net, SimNode *node, const char *why);
void sim_net_node_down(SimNet *net, SimNode *node);
void sim_net_set_read_rate(SimConn *c, uint64_t bytes_per_s); /* 0 = unlimited */
void sim_net_stall(SimConn *c, int64_t duration_ns);

void sim_net_peer_handler(SimNet *net, int node, SimPeerFn fn, void *ctx);
void sim_net_peer_send(SimNet *net, int from, int to, const void *data, size_t len);
void sim_net_link_set(SimNet *net, int from, int to, const SimLink *link);
void sim_net_partition(SimNet *net, int from, int to, bool blocked);
bool sim_net_blocked(const SimNet *net, int from, int to);
/* Was the link between nodes a and b cut (either direction) at any time in [from, to]? */
bool sim_net_cut_during(const SimNet *net, int a, int b, int64_t from_ns, int64_t to_ns);
bool sim_net_link_preset(const char *name, SimLink *out);

#endif
