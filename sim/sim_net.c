/* sim_net.c — the simulated network (see sim_net.h for the interface and invariants).
 *
 * ============================================================================================
 * THE NETWORK MODEL
 *
 *   Two kinds of wire, because NATS has two kinds of traffic.
 *
 *   CLIENT CONNECTIONS are TCP: an ordered, reliable byte stream in each direction, until it
 *   breaks. What can go wrong is *when* bytes arrive, not *whether*: they can be late
 *   (latency), trickle (a slow reader, modelled as a bandwidth limit on the direction), stop
 *   for a while (a stall: a full receive window, a GC pause in the client), or the whole
 *   connection can be torn down (a reset). The model keeps TCP's promise exactly:
 *
 *     each direction is a FIFO of chunks, each stamped with an arrival time
 *       transmit_done = max(now, link_free_at) + len / bandwidth     (bandwidth may be inf)
 *       arrival       = max(transmit_done + latency, previous arrival)   <- order preserved
 *     one scheduled event per direction delivers every chunk that has arrived, in order.
 *
 *   Bytes the broker sends in one step are coalesced into one chunk by sim_net_flush(),
 *   called after every step, as env_real flushes once per loop turn. "Pending" — the broker's
 *   slow-consumer measure — is what is queued or in flight beyond the kernel's socket buffer
 *   (kernel_buffer_bytes): a reader that keeps up has nothing pending, a slow one grows it.
 *
 *   PEER LINKS (node to node, for Raft) are datagrams: each message gets its own delay from
 *   the link's distribution, so messages reorder naturally; each may be dropped (drop_p),
 *   duplicated (dup_p, the copy with its own delay) or held for a long time (long_p, the
 *   "reorder" setting of the MIT 6.5840 labrpc network). A partition blocks a direction;
 *   messages in flight when a partition starts are dropped at arrival. Presets:
 *     lan         0.1–0.5 ms, nothing lost
 *     unreliable  0–26 ms, 10% dropped (labrpc's unreliable mode)
 *     reorder     0.1–0.5 ms, 10% held 200 ms–2.2 s (labrpc's long reordering)
 *
 * WHY NOT THE OBVIOUS WAY
 *   Giving every chunk an independent random delay would reorder a TCP stream, which no
 *   real client must survive, so every "bug" it found would be fake. Drops are likewise
 *   impossible inside TCP; a lossy path shows up as latency, then as a reset.
 *
 * LIMITATIONS
 *   No congestion control, no Nagle, no half-closed streams: a close sends everything queued
 *   and then a FIN. A crashed node's connections are reset (a process crash: the kernel
 *   lives on and answers with RST); a silent power-cut of the peer is not modelled.
 * ============================================================================================
 */
#include "sim_net.h"

#include <string.h>

typedef struct Chunk {
    int64_t arrival_ns;
    bool fin;
    size_t len;
    uint8_t data[];
} Chunk;

typedef struct Dir {
    SimConn *conn;
    bool to_server;
    GQueue chunks;        /* of Chunk*, arrival order */
    GByteArray *unflushed;
    int64_t link_free_ns, last_arrival_ns;
    uint64_t rate_bps;    /* bytes per second, 0 = unlimited */
    int64_t stalled_until_ns;
    size_t in_flight;
    bool event_pending, dirty;
    Chunk *held;          /* --bug net-reorder only */
    int held_countdown;
} Dir;

typedef enum { SIDE_NONE, SIDE_OPEN, SIDE_CLOSING, SIDE_CLOSED } Side;

struct SimConn {
    SimNet *net;
    uint64_t id;          /* global, for the trace */
    char *name;           /* the client's name */
    SimNode *node;
    uint64_t incarnation; /* of the node when dialled */
    EnvConn env_id;       /* the node's id for it, 0 before accept */
    Side server, client;
    Dir up, down;         /* up: client -> server, down: server -> client */
    bool read_paused;     /* the server stopped reading (back-pressure): `up` waits */
    const SimConnEnd *end;
    void *ctx;
    SimNode *from;        /* a route: the node that dialled (NULL for a workload client) */
    int64_t accept_ns;    /* when the node accepts: bytes sent before then wait for it */
};

typedef struct PeerMsg {
    int from, to;
    size_t len;
    uint8_t data[];
} PeerMsg;

struct SimNet {
    Sim *sim;
    SimNetConfig cfg;
    GPtrArray *conns;     /* every connection of the run, in dial order (owns them) */
    GPtrArray *dirty;     /* Dir* with unflushed bytes, in the order they became dirty */
    uint64_t next_id;
    uint64_t down_chunks; /* chunks delivered to clients: --bug picks its victim by count */
    SimLink *links;       /* n_nodes * n_nodes */
    SimPeerFn *peer_fn;
    void **peer_ctx;
    GArray *cuts;         /* SimCut: every partition of a directed link, for the checkers */
};

typedef struct SimCut {
    int from, to;
    int64_t start_ns, end_ns; /* end INT64_MAX while cut */
} SimCut;

static void conn_free(gpointer p) {
    SimConn *c = p;
    Dir *d[2] = {&c->up, &c->down};
    for (int i = 0; i < 2; i++) {
        g_queue_clear_full(&d[i]->chunks, g_free);
        g_byte_array_unref(d[i]->unflushed);
        g_free(d[i]->held);
    }
    g_free(c->name);
    g_free(c);
}

SimNet *sim_net_new(Sim *sim, const SimNetConfig *cfg) {
    SimNet *net = g_new0(SimNet, 1);
    net->sim = sim;
    net->cfg = *cfg;
    net->conns = g_ptr_array_new_with_free_func(conn_free);
    net->dirty = g_ptr_array_new();
    int n = sim->n_nodes;
    net->links = g_new0(SimLink, (gsize)(n * n > 0 ? n * n : 1));
    SimLink lan;
    sim_net_link_preset("lan", &lan);
    for (int i = 0; i < n * n; i++) net->links[i] = lan;
    net->peer_fn = g_new0(SimPeerFn, (gsize)(n > 0 ? n : 1));
    net->peer_ctx = g_new0(void *, (gsize)(n > 0 ? n : 1));
    net->cuts = g_array_new(FALSE, FALSE, sizeof(SimCut));
    return net;
}

void sim_net_free(SimNet *net) {
    if (!net) return;
    g_ptr_array_unref(net->conns);
    g_ptr_array_unref(net->dirty);
    g_free(net->links);
    g_free(net->peer_fn);
    g_free(net->peer_ctx);
    g_array_unref(net->cuts);
    g_free(net);
}

uint64_t sim_conn_id(const SimConn *c) { return c->id; }
SimNode *sim_conn_node(const SimConn *c) { return c->node; }
bool sim_conn_is_route(const SimConn *c) { return c->from != NULL; }
SimNode *sim_net_route_from(const SimConn *c) { return c->from; }

static int64_t latency(SimNet *net) {
    return rng_range(&net->sim->net_rng, net->cfg.latency_min_ns, net->cfg.latency_max_ns);
}

/* --- per-direction delivery --- */

static void dir_event(void *ctx, void *a, uint64_t b);

static void dir_schedule(Dir *d) {
    if (d->event_pending || g_queue_is_empty(&d->chunks)) return;
    Chunk *head = g_queue_peek_head(&d->chunks);
    d->event_pending = true;
    Sim *sim = d->conn->net->sim;
    sim_at(sim, MAX(head->arrival_ns, sim_now(sim)), dir_event, d, 0);
}

static void dir_drop_all(Dir *d) {
    g_queue_clear_full(&d->chunks, g_free);
    g_queue_init(&d->chunks);
    g_byte_array_set_size(d->unflushed, 0);
    d->in_flight = 0;
}

static void dir_enqueue(Dir *d, const uint8_t *data, size_t len, bool fin) {
    SimNet *net = d->conn->net;
    int64_t now = sim_now(net->sim);
    int64_t start = MAX(now, d->link_free_ns);
    if (!d->to_server) start = MAX(start, d->conn->node->busy_until_ns); /* sent after a stall */
    int64_t tx = d->rate_bps ? (int64_t)((double)len * 1e9 / (double)d->rate_bps) : 0;
    d->link_free_ns = start + tx;
    int64_t arrival = MAX(d->link_free_ns + latency(net), d->last_arrival_ns);
    if (d->to_server) arrival = MAX(arrival, d->conn->accept_ns); /* a route speaks first: after the accept */
    d->last_arrival_ns = arrival;
    Chunk *ch = g_malloc(sizeof(Chunk) + len);
    ch->arrival_ns = arrival;
    ch->fin = fin;
    ch->len = len;
    if (len) memcpy(ch->data, data, len);
    g_queue_push_tail(&d->chunks, ch);
    d->in_flight += len;
    dir_schedule(d);
}

/* "c<id> <name><sep><len>B": the commonest events of a run, built without printf */
static void trace_bytes(SimConn *c, const char *node, const char *kind, const char *sep, size_t len) {
    SimDetail d = {0};
    sim_detail_str(&d, "c");
    sim_detail_u64(&d, c->id);
    sim_detail_str(&d, " ");
    sim_detail_str(&d, c->name);
    sim_detail_str(&d, sep);
    sim_detail_u64(&d, len);
    sim_detail_str(&d, "B");
    Sim *sim = c->net->sim;
    sim_trace_event_raw(sim->trace, sim_now(sim), node, kind, d.buf, d.len);
}

static void dir_flush(Dir *d) {
    d->dirty = false;
    if (d->unflushed->len == 0) return;
    SimConn *c = d->conn;
    const char *cli = c->from ? c->from->name : "cli";
    trace_bytes(c, d->to_server ? cli : c->node->name, "send", d->to_server ? " -> " : " <- ", d->unflushed->len);
    dir_enqueue(d, d->unflushed->data, d->unflushed->len, false);
    g_byte_array_set_size(d->unflushed, 0);
}

void sim_net_flush(SimNet *net) {
    for (guint i = 0; i < net->dirty->len; i++) dir_flush(g_ptr_array_index(net->dirty, i));
    g_ptr_array_set_size(net->dirty, 0);
}

static void dir_queue(Dir *d, const void *data, size_t len) {
    g_byte_array_append(d->unflushed, data, (guint)len);
    if (!d->dirty) {
        d->dirty = true;
        g_ptr_array_add(d->conn->net->dirty, d);
    }
}

static void server_notify_closed(void *ctx, void *a, uint64_t b) {
    SimConn *c = a;
    if (c->server == SIDE_CLOSED || c->incarnation != c->node->incarnation || !c->node->up) return;
    if (sim_node_defer(c->node, server_notify_closed, a, b)) return;
    c->server = SIDE_CLOSED;
    sim_node_closed(c->node, c->env_id);
}

static void client_notify_closed(SimConn *c, const char *why) {
    if (c->client == SIDE_CLOSED) return;
    c->client = SIDE_CLOSED;
    sim_log(c->net->sim, "cli", "close", "c%" G_GUINT64_FORMAT " %s %s", c->id, c->name, why);
    if (c->end->on_closed) c->end->on_closed(c->ctx, why);
}

/* --bug: break TCP's promise once, on purpose, to show the checkers notice (mutation
 * testing of the checkers themselves). The 1000th chunk delivered to any client is dropped
 * (net-drop), delivered twice (net-dup) or swapped with the next one (net-reorder).
 * Returns true when the chunk was swallowed. */
static bool deliberate_bug(SimConn *c, Dir *d, Chunk **chp) {
    SimNet *net = c->net;
    const char *bug = net->sim->bug;
    if (!bug || ++net->down_chunks != 1000) return false;
    Chunk *ch = *chp;
    sim_log(net->sim, "sim", "fault", "deliberate bug %s on c%" G_GUINT64_FORMAT " %s (%zuB)", bug, c->id, c->name, ch->len);
    if (strcmp(bug, "net-drop") == 0) return true;
    if (strcmp(bug, "net-dup") == 0) {
        c->end->on_bytes(c->ctx, ch->data, ch->len);
        return false;
    }
    if (strcmp(bug, "net-reorder") == 0) { /* hold it back behind the next 5 chunks */
        d->held = ch;
        d->held_countdown = 5;
        *chp = NULL;
        return true;
    }
    return false;
}

static void dir_event(void *ctx, void *a, uint64_t b) {
    Dir *d = a;
    SimConn *c = d->conn;
    Sim *sim = c->net->sim;
    d->event_pending = false;
    int64_t now = sim_now(sim);
    if (g_queue_is_empty(&d->chunks)) return;
    if (d->stalled_until_ns > now) {
        d->event_pending = true;
        sim_at(sim, d->stalled_until_ns, dir_event, d, 0);
        return;
    }
    if (d->to_server) {
        if (c->server == SIDE_NONE && c->client != SIDE_CLOSED) {
            /* not accepted yet: the node was busy (an fsync, a pause) when the accept was due,
             * so the accept waits; the bytes the dialler sent first (a route's CONNECT and
             * INFO) wait behind it instead of being lost (found by clustered JetStream runs:
             * a restarted node's route saw RS+ before INFO, "Unknown Protocol Operation") */
            d->event_pending = true;
            sim_at(sim, MAX(now + SIM_US, c->node->busy_until_ns), dir_event, d, 0);
            return;
        }
        if (c->server != SIDE_OPEN && c->server != SIDE_CLOSING) { dir_drop_all(d); return; }
        if (c->read_paused) return; /* the chunks wait; sim_net_server_read_pause reschedules */
        if (sim_node_defer(c->node, dir_event, d, 0)) { d->event_pending = true; return; }
    } else if (c->from && sim_node_defer(c->from, dir_event, d, 0)) {
        d->event_pending = true;
        return;
    }
    if (c->from) { /* a route across a partition: TCP retransmits until the cut heals */
        int x = c->from->index, y = c->node->index;
        if (d->to_server ? sim_net_blocked(c->net, x, y) : sim_net_blocked(c->net, y, x)) {
            d->event_pending = true;
            sim_at(sim, now + 100 * SIM_MS, dir_event, d, 0);
            return;
        }
    }
    while (!g_queue_is_empty(&d->chunks)) {
        if (d->to_server && c->read_paused) return; /* paused by the bytes just delivered */
        Chunk *ch = g_queue_peek_head(&d->chunks);
        if (ch->arrival_ns > now) break;
        g_queue_pop_head(&d->chunks);
        d->in_flight -= ch->len;
        if (d->to_server) {
            if (ch->fin) {
                if (c->server == SIDE_OPEN) {
                    c->server = SIDE_CLOSING;
                    sim_log(sim, c->node->name, "close", "c%" G_GUINT64_FORMAT " %s by client", c->id, c->name);
                    server_notify_closed(sim, c, 0);
                }
            } else if (c->server == SIDE_OPEN) {
                trace_bytes(c, c->node->name, "recv", " ", ch->len);
                sim_node_bytes(c->node, c->env_id, ch->data, ch->len);
            }
        } else if (c->client == SIDE_OPEN) {
            if (ch->fin) client_notify_closed(c, "closed by server");
            else if (c->from || !deliberate_bug(c, d, &ch)) {
                trace_bytes(c, c->from ? c->from->name : "cli", "recv", " ", ch->len);
                c->end->on_bytes(c->ctx, ch->data, ch->len);
                if (d->held && --d->held_countdown == 0 && c->client == SIDE_OPEN) {
                    c->end->on_bytes(c->ctx, d->held->data, d->held->len);
                    g_clear_pointer(&d->held, g_free);
                }
            }
        }
        g_free(ch);
        if (d->conn->server == SIDE_CLOSED && d->to_server) { dir_drop_all(d); return; }
    }
    dir_schedule(d);
}

/* --- connection lifecycle --- */

static void accept_event(void *ctx, void *a, uint64_t b) {
    SimConn *c = a;
    Sim *sim = c->net->sim;
    if (c->client == SIDE_CLOSED) return; /* the client gave up meanwhile */
    if (c->from && (sim_net_blocked(c->net, c->from->index, c->node->index) ||
                    sim_net_blocked(c->net, c->node->index, c->from->index))) {
        sim_log(sim, c->node->name, "refuse", "c%" G_GUINT64_FORMAT " %s: partitioned", c->id, c->name);
        client_notify_closed(c, "no route to host");
        return;
    }
    if (!c->node->up || (c->from && !sim_node_listening(c->node))) {
        sim_log(sim, c->node->name, "refuse", "c%" G_GUINT64_FORMAT " %s: node down", c->id, c->name);
        client_notify_closed(c, "connection refused");
        return;
    }
    if (sim_node_defer(c->node, accept_event, a, b)) return;
    c->incarnation = c->node->incarnation;
    c->server = SIDE_OPEN;
    c->env_id = sim_node_accept(c->node, c, (int)(40000 + c->id % 20000), c->from != NULL);
    sim_log(sim, c->node->name, "accept", "c%" G_GUINT64_FORMAT " %s as cid %" G_GUINT64_FORMAT, c->id,
            c->name, c->env_id);
    if (c->end->on_open) c->end->on_open(c->ctx);
}

SimConn *sim_net_dial(SimNet *net, SimNode *node, const char *name, const SimConnEnd *end,
                      void *ctx) {
    SimConn *c = g_new0(SimConn, 1);
    c->net = net;
    c->id = ++net->next_id;
    c->name = g_strdup(name);
    c->node = node;
    c->client = SIDE_OPEN;
    c->end = end;
    c->ctx = ctx;
    Dir *d[2] = {&c->up, &c->down};
    for (int i = 0; i < 2; i++) {
        d[i]->conn = c;
        d[i]->to_server = i == 0;
        g_queue_init(&d[i]->chunks);
        d[i]->unflushed = g_byte_array_new();
    }
    g_ptr_array_add(net->conns, c);
    sim_log(net->sim, "cli", "connect", "c%" G_GUINT64_FORMAT " %s -> %s", c->id, name, node->name);
    c->accept_ns = sim_now(net->sim) + latency(net);
    sim_at(net->sim, c->accept_ns, accept_event, c, 0);
    return c;
}

SimConn *sim_net_dial_route(SimNet *net, SimNode *from, SimNode *to, const char *name, const SimConnEnd *end,
                            void *ctx) {
    SimConn *c = sim_net_dial(net, to, name, end, ctx);
    c->from = from;
    return c;
}

size_t sim_net_client_pending(SimConn *c) {
    size_t q = c->up.unflushed->len + c->up.in_flight;
    return q > c->net->cfg.kernel_buffer_bytes ? q - c->net->cfg.kernel_buffer_bytes : 0;
}

void sim_net_client_send(SimConn *c, const void *data, size_t len) {
    if (c->client != SIDE_OPEN || len == 0) return;
    dir_queue(&c->up, data, len);
}

void sim_net_client_close(SimConn *c) {
    if (c->client != SIDE_OPEN) return;
    dir_flush(&c->up);
    c->client = SIDE_CLOSED;
    sim_log(c->net->sim, "cli", "close", "c%" G_GUINT64_FORMAT " %s by client", c->id, c->name);
    dir_enqueue(&c->up, NULL, 0, true);
}

void sim_net_server_send(SimConn *c, const EnvSlice *s, size_t n) {
    if (c->server != SIDE_OPEN) return;
    for (size_t i = 0; i < n; i++)
        if (s[i].len) dir_queue(&c->down, s[i].data, s[i].len);
}

void sim_net_server_read_pause(SimConn *c, bool paused) {
    if (c->read_paused == paused) return;
    c->read_paused = paused;
    if (!paused) dir_schedule(&c->up);
}

size_t sim_net_server_pending(SimConn *c) {
    size_t q = c->down.unflushed->len + c->down.in_flight;
    return q > c->net->cfg.kernel_buffer_bytes ? q - c->net->cfg.kernel_buffer_bytes : 0;
}

/* A closing server's socket delivers what the kernel already holds (kernel_buffer_bytes)
 * and then the FIN; bytes still in the broker's own buffer beyond that die with it. */
static void dir_keep_kernel_part(Dir *d) {
    size_t keep = d->conn->net->cfg.kernel_buffer_bytes, kept = 0;
    bool full = false;
    GQueue survivors = G_QUEUE_INIT;
    int64_t last = sim_now(d->conn->net->sim);
    while (!g_queue_is_empty(&d->chunks)) {
        Chunk *ch = g_queue_pop_head(&d->chunks);
        if (!full && kept + ch->len <= keep) { /* a prefix: the stream has no holes */
            kept += ch->len;
            last = ch->arrival_ns;
            g_queue_push_tail(&survivors, ch);
        } else {
            full = true;
            d->in_flight -= ch->len;
            g_free(ch);
        }
    }
    d->chunks = survivors;
    d->last_arrival_ns = last;
    d->link_free_ns = MIN(d->link_free_ns, last);
}

void sim_net_server_close(SimConn *c) {
    if (c->server != SIDE_OPEN) return;
    c->server = SIDE_CLOSING;
    dir_flush(&c->down);
    dir_keep_kernel_part(&c->down);
    dir_enqueue(&c->down, NULL, 0, true);
    /* on_closed comes later, never from inside env_conn_close */
    sim_after(c->net->sim, 0, server_notify_closed, c, 0);
}

void sim_net_reset(SimConn *c, const char *why) {
    if (c->client == SIDE_CLOSED && (c->server == SIDE_CLOSED || c->server == SIDE_NONE)) return;
    sim_log(c->net->sim, c->node->name, "reset", "c%" G_GUINT64_FORMAT " %s: %s", c->id, c->name, why);
    dir_drop_all(&c->up);
    dir_drop_all(&c->down);
    if (c->server == SIDE_OPEN || c->server == SIDE_CLOSING) {
        c->server = SIDE_CLOSING;
        sim_after(c->net->sim, 0, server_notify_closed, c, 0);
    }
    client_notify_closed(c, why);
}

void sim_net_reset_node_clients(SimNet *net, SimNode *node, const char *why) {
    for (guint i = 0; i < net->conns->len; i++) {
        SimConn *c = g_ptr_array_index(net->conns, i);
        if (c->node == node && c->client == SIDE_OPEN) sim_net_reset(c, why);
    }
}

static void crashed_peer_event(void *ctx, void *a, uint64_t b) {
    client_notify_closed(a, "connection reset (node crashed)");
}

/* The node's process died: its side vanishes without callbacks (the Server is being freed),
 * the kernel answers the client with a reset one latency later. */
void sim_net_node_down(SimNet *net, SimNode *node) {
    for (guint i = 0; i < net->conns->len; i++) {
        SimConn *c = g_ptr_array_index(net->conns, i);
        if (c->node != node) continue;
        bool was = c->server == SIDE_OPEN || c->server == SIDE_CLOSING;
        if (c->server != SIDE_NONE) c->server = SIDE_CLOSED;
        dir_drop_all(&c->up);
        dir_drop_all(&c->down);
        if (was && c->client == SIDE_OPEN) sim_after(net->sim, latency(net), crashed_peer_event, c, 0);
    }
}

void sim_net_set_read_rate(SimConn *c, uint64_t bytes_per_s) { c->down.rate_bps = bytes_per_s; }

void sim_net_stall(SimConn *c, int64_t duration_ns) {
    int64_t until = sim_now(c->net->sim) + duration_ns;
    c->up.stalled_until_ns = MAX(c->up.stalled_until_ns, until);
    c->down.stalled_until_ns = MAX(c->down.stalled_until_ns, until);
}

/* --- peer links --- */

bool sim_net_link_preset(const char *name, SimLink *l) {
    memset(l, 0, sizeof *l);
    if (strcmp(name, "lan") == 0) {
        l->latency_min_ns = 100 * SIM_US;
        l->latency_max_ns = 500 * SIM_US;
    } else if (strcmp(name, "unreliable") == 0) {
        l->latency_max_ns = 26 * SIM_MS;
        l->drop_p = 0.10;
    } else if (strcmp(name, "reorder") == 0) {
        l->latency_min_ns = 100 * SIM_US;
        l->latency_max_ns = 500 * SIM_US;
        l->long_p = 0.10;
        l->long_min_ns = 200 * SIM_MS;
        l->long_max_ns = 2200 * SIM_MS;
    } else
        return false;
    return true;
}

void sim_net_link_set(SimNet *net, int from, int to, const SimLink *link) {
    net->links[from * net->sim->n_nodes + to] = *link;
}

void sim_net_partition(SimNet *net, int from, int to, bool blocked) {
    SimLink *l = &net->links[from * net->sim->n_nodes + to];
    int64_t now = sim_now(net->sim);
    if (blocked && !l->blocked) {
        SimCut cut = {from, to, now, INT64_MAX};
        g_array_append_val(net->cuts, cut);
    } else if (!blocked && l->blocked) {
        for (guint i = net->cuts->len; i-- > 0;) {
            SimCut *c = &g_array_index(net->cuts, SimCut, i);
            if (c->from == from && c->to == to && c->end_ns == INT64_MAX) {
                c->end_ns = now;
                break;
            }
        }
    }
    l->blocked = blocked;
}

bool sim_net_cut_during(const SimNet *net, int a, int b, int64_t from_ns, int64_t to_ns) {
    for (guint i = 0; i < net->cuts->len; i++) {
        const SimCut *c = &g_array_index(net->cuts, SimCut, i);
        if (((c->from == a && c->to == b) || (c->from == b && c->to == a)) && c->start_ns <= to_ns &&
            c->end_ns >= from_ns)
            return true;
    }
    return false;
}

bool sim_net_blocked(const SimNet *net, int from, int to) {
    return net->links[from * net->sim->n_nodes + to].blocked;
}

void sim_net_peer_handler(SimNet *net, int node, SimPeerFn fn, void *ctx) {
    net->peer_fn[node] = fn;
    net->peer_ctx[node] = ctx;
}

static void peer_deliver(void *ctx, void *a, uint64_t b) {
    PeerMsg *m = a;
    SimNet *net = ctx == NULL ? NULL : ((Sim *)ctx)->net;
    Sim *sim = ctx;
    SimNode *to = sim->nodes[m->to];
    if (net->links[m->from * sim->n_nodes + m->to].blocked || !to->up) {
        sim_log(sim, to->name, "peer", "drop n%d->n%d %zuB (partition or down)", m->from + 1, m->to + 1, m->len);
        g_free(m);
        return;
    }
    if (sim_node_defer(to, peer_deliver, a, b)) return;
    sim_log(sim, to->name, "peer", "recv n%d->n%d %zuB", m->from + 1, m->to + 1, m->len);
    if (net->peer_fn[m->to]) net->peer_fn[m->to](net->peer_ctx[m->to], m->from, m->data, m->len);
    g_free(m);
}

void sim_net_peer_send(SimNet *net, int from, int to, const void *data, size_t len) {
    Sim *sim = net->sim;
    SimLink *l = &net->links[from * sim->n_nodes + to];
    Rng *r = &sim->net_rng;
    if (l->blocked || rng_chance(r, l->drop_p)) {
        sim_log(sim, sim->nodes[from]->name, "peer", "lost n%d->n%d %zuB", from + 1, to + 1, len);
        return;
    }
    int copies = rng_chance(r, l->dup_p) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        int64_t delay = rng_range(r, l->latency_min_ns, l->latency_max_ns);
        if (rng_chance(r, l->long_p)) delay += rng_range(r, l->long_min_ns, l->long_max_ns);
        PeerMsg *m = g_malloc(sizeof(PeerMsg) + len);
        m->from = from;
        m->to = to;
        m->len = len;
        memcpy(m->data, data, len);
        sim_log(sim, sim->nodes[from]->name, "peer", "send n%d->n%d %zuB%s", from + 1, to + 1, len,
                k ? " (duplicate)" : "");
        sim_after(sim, delay, peer_deliver, m, 0);
    }
}
