/* jscluster.h — clustered JetStream: the meta group and replicated streams.
 *
 * WHAT IT IS
 *   The layer above JetStream (jetstream.h) that turns N brokers with JetStream into one
 *   service. It never changes how a single broker works; it registers hooks instead:
 *   an API filter (jetstream_set_api_filter: it decides which server answers each $JS.API
 *   request, and handles the ones that change the cluster's shape) and, per replicated
 *   stream, a StreamRepl (stream.h: the leader proposes each publish, every replica applies
 *   it once committed). The Raft groups are cluster_nrg.h's, carried as internal messages,
 *   so routes carry them like any other traffic. Book chapter: book/11-clustering.md.
 *
 * THE PARTS
 *   peers       every JetStream server announces itself on $JSC.HELLO ({"name","id",
 *               "formed"}) until the meta group exists, and is answered on $JSC.HELLO.<id>;
 *               when `size` servers are known (the routes list, this one included) the
 *               sorted set becomes the meta group, written to <store_dir>/cluster/meta.json
 *               so a restart needs no announcements. The first member campaigns as soon as a
 *               majority has formed (jscluster.c, FORMING THE META GROUP, THE FIRST ELECTION);
 *               requests that need the meta leader wait for one up to 500 ms (NO META
 *               LEADER YET).
 *   meta group  "_meta_": its log is the cluster's catalogue: stream_add (config, Raft group
 *               name, peers), stream_update, stream_del. Every server applies it; a server
 *               named in a stream's peers opens the stream and joins its group.
 *   stream group "S-<random>": a stream with R replicas is a Raft group of R peers; see
 *               stream_publish.c "replicated streams" for the publish path.
 *
 * WHO ANSWERS (spec nats-cluster.md 4.1)
 *   INFO, STREAM.CREATE/UPDATE/DELETE/NAMES/LIST, META.LEADER.STEPDOWN: the meta leader;
 *   everything about one stream (INFO, MSG.GET, PURGE, publishes, CONSUMER.*): that
 *   stream's leader. Others stay silent. A server that knows there is no meta leader
 *   answers 10008 (503, "JetStream system temporarily unavailable").
 *
 * INTERFACE
 *   jscluster_new(srv, js, cfg, error)    after jetstream_new; takes over the local streams
 *   jscluster_free(c)                     before jetstream_free
 *   jscluster_meta_leader(c)              the meta leader's server name, NULL when none known
 *   jscluster_stream_leader(c, name)      a stream's leader's name, NULL when none / unknown
 *   jscluster_replica(c, name)            this server's replica of a stream, once the meta log
 *                                         said it hosts it (a local stream loaded from disk
 *                                         before that is silent and may still be repaired)
 *   jscluster_build_meta(c, b), jscluster_ha_assets(c), jscluster_consumer_count(c, st)
 *                                         what /varz and /jsz show: the meta group's block,
 *                                         Raft groups here, consumers hosted per stream
 *   jscluster_check_invariants(c)
 *
 * SNAPSHOTS AND CATCH-UP (jscluster.c, book 11.11)
 *   Every group compacts its Raft log (cluster_nrg.h SNAPSHOTS): the meta group's snapshot
 *   is the catalogue, a stream group's the stream's state (sequences, deleted ranges, dedup
 *   window, the durable consumers). A replica whose store ends before a restored snapshot's
 *   last seq fetches the rest from a peer, in bounded batches, before it applies anything
 *   after the snapshot.
 *
 * DAMAGE (Jepsen NATS #7549, #7556)
 *   A replica whose stream store lost messages to corruption at recovery (holes where a
 *   committed message was) drops the store and rebuilds it: from its peers up to its
 *   group's snapshot, from its Raft log after it. A replica whose Raft log, snapshot or hard
 *   state was damaged does not vote until a leader has repaired it (raft.c, raft_log.h).
 *
 * LIMITATIONS (this version)
 *   A consumer leads only on its stream's leader; num_replicas cannot change after create
 *   (STREAM.PEER.REMOVE replaces a peer, or shrinks the group when no server is free: see
 *   PEER REMOVAL in jscluster.c). A server added back after its removal starts from the
 *   group's first configuration, which may name it: until the leader's entries reach it, it
 *   may believe itself a voter (its empty log wins no election while the others hear a leader).
 */
#ifndef MINIJET_JSCLUSTER_H
#define MINIJET_JSCLUSTER_H

#include <glib.h>
#include <stdbool.h>

#include "cluster_nrg.h"
#include "jetstream.h"
#include "server.h"

typedef struct JsCluster JsCluster;

/* Deliberately broken variants, for the simulator's checkers to catch (never set in a real
 * server; `minijet-sim run ... --bug js-ack-before-commit`). */
typedef enum {
    JSC_BUG_NONE = 0,
    JSC_BUG_ACK_BEFORE_COMMIT = 1 << 0, /* the leader sends the PubAck when it proposes, not at commit */
    JSC_BUG_APPEND_BEFORE_FSYNC = 1 << 1, /* a follower answers an append before its fsync (NRG_BUG_*) */
    JSC_BUG_VOTE_TRUNCATED = 1 << 2,    /* a member whose Raft log recovery cut short votes anyway */
    JSC_BUG_REMOVE_LOCALLY = 1 << 3,    /* retention removes on the leader only, not through the log (op 5) */
} JsClusterBug;

typedef struct JsClusterConfig {
    const char *server_name;   /* required, unique in the cluster */
    const char *cluster_name;  /* "cluster" in info replies */
    int size;                  /* JetStream servers in the cluster (>= 1) */
    unsigned bug;              /* JsClusterBug flags; 0 in every real use */
    NrgObserveFn observe;      /* every Raft group's observer (cluster_nrg.h); NULL in every real use */
    void *observe_ctx;
    uint64_t snapshot_entries; /* the stream groups compact after this many entries (0: the limit) */
    uint64_t meta_snapshot_entries; /* the meta group (0: the limit) */
    uint64_t snapshot_bytes;   /* ... or this large a log (0: the limit) */
} JsClusterConfig;

JsCluster *jscluster_new(Server *srv, JetStream *js, const JsClusterConfig *cfg, GError **error);
void jscluster_free(JsCluster *c);
const char *jscluster_meta_leader(JsCluster *c);
const char *jscluster_stream_leader(JsCluster *c, const char *stream);
Stream *jscluster_replica(JsCluster *c, const char *stream);
/* The meta group as nats-server 2.9.10's /varz "meta" and /jsz "meta_cluster" show it:
 * {"name","leader","peer","replicas" (on the meta leader only),"cluster_size"}; adds the
 * members to the open object b. */
void jscluster_build_meta(JsCluster *c, JsonBuilder *b);
/* Raft groups this server is a member of (the meta group included): /jsz "ha_assets". */
int64_t jscluster_ha_assets(JsCluster *c);
/* Consumers of st hosted here: the leader's live ones, a follower's replicated ones. */
guint jscluster_consumer_count(JsCluster *c, Stream *st);
/* The Raft log of a stream's group here (stream NULL: the meta group's): entries after the
 * snapshot, bytes of raft.log + raft.state, the snapshot's index. FALSE: no such group here. */
bool jscluster_raft_log(JsCluster *c, const char *stream, uint64_t *entries, uint64_t *bytes, uint64_t *snapshot);
void jscluster_check_invariants(JsCluster *c);

#endif
