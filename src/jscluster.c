/* jscluster.c — the meta group, placement, replicated streams, and who answers which request.
 * See jscluster.h for the parts and the interface. Book chapter: book/11-clustering.md.
 *
 * THE META LOG (JSON entries, applied in order by every server)
 *   {"op":"stream_add","name","group","peers":[ids],"config":{...},"created":ns,"reply"}
 *   {"op":"stream_update","name","config":{...},"reply"}   with "peers" (and the
 *     stream_add members) when num_replicas changes: config and peer set in one entry (SCALING)
 *   {"op":"stream_del","name","reply"}
 *   {"op":"stream_peers","name","peers":[ids],"reply"}   PEER.REMOVE: the new peer set
 *   stream_add also carries "boot":[ids], the group's first peers (its Raft bootstrap
 *   configuration; "peers" when absent), which PEER.REMOVE never changes.
 *   "reply" is the client's inbox: after applying, the server that should answer does
 *   (stream_del: the meta leader; stream_add / stream_update: the stream's leader, once it
 *   has one, because only it knows the stream's state).
 *
 * A STREAM GROUP'S LOG (binary entries; integers little-endian)
 *   op 1, a publish:   | 1 | seq u64 | ts i64 | subj_len u16 | subj | hdr_len u32 | hdr |
 *                      | payload_len u32 | payload | reply_len u16 | reply |
 *   op 2, an API request applied on every replica (PURGE, MSG.DELETE):
 *                      | 2 | subj_len u16 | subj | reply_len u16 | reply | body_len u32 | body |
 *   The request is the command: each replica runs the same request against the same state,
 *   the leader's reply goes to the client, the others' to nowhere. A purge's body gets
 *   "_mj_upto": the leader's last seq when it proposed (StorePurge.last), so applying the
 *   entry again at restart, over a store that already holds later messages, removes none
 *   of them.
 *   op 3, a consumer's record (created or changed), op 4, its deletion:
 *                      | op | name_len u16 | name | rec_len u32 | rec | n u16 |
 *                      | n x (subj_len u16 | subj | body_len u32 | body) |
 *   rec is {"config","created","state","waiting"} (empty for op 4; "waiting": the pull
 *   requests, see CONSUMERS); the n replies (an ack's empty answer, a create's or delete's
 *   response) are sent by the leader when it applies the entry.
 *   op 5, messages retention removes (interest, work queue):
 *                      | 5 | n u32 | n x seq u64 |
 *   Only the leader has live consumers, so only it can tell that an ack (or a consumer's
 *   deletion, or a publish nobody is interested in) frees a message; it collects those
 *   sequences during a loop turn and proposes them as one entry, and every replica removes
 *   them when it applies it: the replicas' stores stay alike. A removal lost with a leader
 *   is found again by the next one, which sweeps once it has adopted the consumers.
 *
 * CONSUMERS (book 11.6)
 *   A replicated stream's consumers are part of the STREAM's state machine, not a
 *   group of their own: their records travel in the stream's log (ops 3 and 4), every
 *   replica keeps the catalogue (a->consumers), and the stream's leader is the consumers'
 *   leader. It alone holds live Consumer objects: it adopts them from the catalogue when
 *   it becomes ready and releases them when it stops leading. A change to a live consumer
 *   (a delivery, an ack, a redelivery, a new config) marks it dirty; once per loop turn the
 *   leader proposes each dirty consumer's whole record, at most one in flight per consumer,
 *   so the log gets one record per consumer per commit round however fast acks come. What
 *   a new leader can miss is the last uncommitted record: deliveries it will repeat, acks
 *   whose messages it will redeliver -- at-least-once, never a forgotten unacked message.
 *   An ack that asked for a reply (nats.js ackAck) and a create or delete are answered only
 *   once the record that holds them is committed.
 *   Ephemeral consumers travel the same way, so they survive a leader change as durables
 *   do (nats-server 2.9.10 makes them R1 on one server, where they survive a stream
 *   stepdown but not their server's death); their info shows the R1 cluster block nats-server
 *   shows, name and leader. The waiting pull requests travel in the record as well, and
 *   the next leader goes on serving them (consumer_pull.c, "ACROSS A LEADER CHANGE"): a
 *   nats.js consume() loop would wait 30 s and more for missed heartbeats before pulling
 *   again after a 409 Leadership Change, which only requests no record carried get.
 *
 * PEER REMOVAL (book 11.12)
 *   $JS.API.STREAM.PEER.REMOVE.<s> {"peer":"<server>"} is the meta leader's: it replaces
 *   the peer by a live server not in the group, chosen as PLACEMENT chooses, and proposes
 *   a stream_peers entry. No such server (an R3 stream on three): the group shrinks to
 *   two, as nats-server 2.9.10's does (which then answers 503 10075 "peer remap failed"
 *   although the removal goes ahead; minijet answers success).
 *   Applying it, every server updates the assignment; the removed one LEAVES (below); a
 *   new one opens the group as a non-voter (its Raft bootstrap is the group's first peers,
 *   without it); the stream's Raft leader then moves the group's voters to the new set one
 *   change at a time (remove first, its own server last, then add: reconcile()), and the
 *   new server catches up from the log or the snapshot plus a catch-up. A leader that
 *   removed itself hands over once that commits (raft.c).
 *
 * SCALING (book 11.12)
 *   STREAM.UPDATE with another num_replicas: the meta leader computes the new peer set
 *   (scale(): growing adds live servers as PLACEMENT picks them, shrinking keeps the
 *   stream's leader, known from this server's replica or from the leader's announcement,
 *   LEADER ANNOUNCEMENTS) and proposes ONE stream_update entry with the
 *   config and the peers; applying it is PEER REMOVAL's path. What makes it safe and live
 *   (the first two for any shrink by more than one; the others found by the simulator's
 *   failover-scale-random, each a lost acknowledged message or a split brain before):
 *     - a removed server may still be needed: 3 -> 1 removes n2, then n3, and {n1,n3} must
 *       commit with n3's vote. So it does not drop its replica when the entry is applied:
 *       it LEAVES (leave_start), staying a member, and asks the peers every
 *       LIMIT_CLUSTER_LEAVE_POLL_NS whether it may go: yes once the leader has committed a
 *       configuration without it (nrg_voter_removed) AND a majority of the peers has applied
 *       through that configuration with no catch-up in progress (leave_done). Raft cannot
 *       tell it: the leader stops sending to it when the removal enters the log. And a peer
 *       still fetching messages a snapshot covers may need them from this very server; a
 *       majority, not every peer, because a peer that is down may stay down: once a quorum
 *       of the new configuration holds the data, the rest fetch it from them;
 *     - while voters and peers differ, the driver tracks both (track()), and a leader's
 *       quorum check counts the last committed configuration (cluster_nrg.c, has_quorum),
 *       so neither the meta entry nor an appended change makes a healthy leader stop;
 *     - a catch-up asks every tracked member, the leaving ones too (cu_members): the kept
 *       peer of a 3 -> 1 may be behind (a meta leader's stale view of the stream leader), and
 *       a group of one by its peers is not one by its voters; it used to fill the gap as
 *       "lost" at once;
 *     - a server added again after it left has deleted its Raft files, and with them the
 *       terms it voted in. It opens the group JOINING (cluster_nrg.h): no vote until a
 *       leader reaches it (else a stale member still counting it elected itself with its
 *       vote in a term already won), and not a member of its own bootstrap configuration
 *       unless it is one of the group's first peers. A first peer keeps the group's first
 *       configuration: one that learned of a new stream from a meta snapshot, not its
 *       entry, booted without itself and saw the leader's next change as two voters at
 *       once (failover-scale-random seeds 41, 70, 89, once the meta group formed faster);
 *     - a leaving server that restarts from a meta snapshot which no longer names it, but
 *       with the group's files on its disk, reopens the group and goes on leaving: the
 *       others may still need its vote (apply_stream_add).
 *     - a stream leader moves voters only while it hears the meta leader (reconcile): with
 *       an older catalogue it could add a server the newer one dropped, which never joins,
 *       and that pending change would block every later one.
 *   And the rules that make every change FINISH, Raft's own for single-server membership
 *   changes (Ongaro's thesis, ch. 4; raft.c, MEMBERSHIP CHANGES) carried up to the
 *   catalogue; each was a change stuck for good in failover-scale-random:
 *     - ONE CHANGE AT A TIME, computed from the configuration in force. Raft appends a new
 *       configuration only after the last one committed; the catalogue's equivalent is that
 *       a change applies only to the peers it was computed from. The meta leader computes
 *       from what it has APPLIED, which lags its log: requests queued behind a partition
 *       reached it together, and a shrink computed from the peers before a PEER.REMOVE
 *       named a server the removal had just replaced, two changes at once (seeds 157, 269).
 *       So every stream_update and stream_peers carries "from", the peers it started from,
 *       and a server applying it refuses it (all alike: it is the log) when they differ; the
 *       meta leader answers 10051 and the client asks again (entry_base_ok);
 *     - a new configuration takes effect when it is in the log, and a leader counts every
 *       voter its log names from the moment it opens the group: the peers are the target,
 *       the voters decide. A leader restarted with leaving voters in its log used to track
 *       only its peers, never heard the others, never had a quorum, never led (seed 130;
 *       track() in host_stream and stream_state);
 *     - the order of the steps (reconcile): a removal first, which keeps the group small
 *       (its own server's last: Raft's removed leader leads until the configuration without
 *       it commits, then steps down and hands over), and of several removals one after which
 *       the voters left have a live majority (a silent one before a live one: 3 -> 1 with
 *       a voter down, removing the live one first left {leader, down}, which commits
 *       nothing, for good; seeds 131, 343); but an addition first when the voters
 *       left after the removal have no live majority (a remaining one is down: the removal
 *       could never commit, and nothing can follow a pending change), and when the one to
 *       remove is the last voter (an R1 stream moved to another server: Raft cannot remove
 *       its only voter, and the leader retried that forever; seed 269).
 *   Growing, the leader answers first, so the reply lists the peers as they were (nats-server
 *   2.9.10's does); shrinking, after (the kept ones). Consumers need nothing: they live in
 *   the stream's log, and a durable whose num_replicas now exceeds the stream's is adopted
 *   all the same (nats-server keeps its config too).
 *
 * PLACEMENT
 *   The meta leader picks num_replicas peers among the meta group's members that are not
 *   offline (itself included): heard from within LIMIT_CLUSTER_CURRENT_NS, or not heard yet
 *   by a leader elected less than that long ago (nrg_peer_info), fewest streams hosted first,
 *   ties broken by the environment's randomness. More replicas than servers: 10005
 *   "no suitable peers for placement"; enough servers but some silent: 10005
 *   "no suitable peers for placement, peer offline"; more than 5: 10052. The first peer is
 *   the group's preferred leader and campaigns at once, so a new stream has a leader within
 *   one round trip instead of an election timeout.
 */
#include "jscluster.h"

#include <string.h>

#include "bytes.h"
#include "cluster_nrg.h"
#include "consumer.h"
#include "jsapi.h"
#include "jsonutil.h"
#include "limits.h"
#include "store.h"
#include "stream.h"
#include "stream_config.h"
#include "sublist.h"

#define OP_MSG 1
#define OP_API 2
#define OP_CSTATE 3
#define OP_CDEL 4
#define OP_REMOVE 5
#define VOID_REPLY "_MJ.NRG.VOID" /* where a replica's copy of an API reply goes: nobody */

typedef struct Assignment {
    JsCluster *cl;
    char *name, *group;
    uint32_t peers[LIMIT_CLUSTER_REPLICAS_MAX];
    int n_peers;
    uint32_t boot[LIMIT_CLUSTER_REPLICAS_MAX]; /* the group's first peers (see THE META LOG) */
    int n_boot;
    EnvTimer mtimer;        /* stream leader: the Raft voters do not match peers yet */
    StreamConfig *cfg;
    int64_t created_ns;
    /* only where this server is a peer: */
    Nrg *nrg;
    Stream *st;
    bool leading;           /* subscribed to the subjects, taking publishes */
    int64_t handover_ns;    /* when it last saw itself leading and handing over (LATE PUBLISHES) */
    uint32_t led_by;        /* every server: the stream's leader as it last announced itself */
    uint64_t led_term;      /*   (LEADER ANNOUNCEMENTS), in this term of the stream's group */
    char *reply;            /* a create/update waiting for this stream's leader to answer */
    const char *reply_kind; /* "stream_create_response" / "stream_update_response" */
    GPtrArray *raced;       /* creates (char* replies) that lost the race to the one that made it:
                               answered by its leader as creates of an existing stream */
    GTree *consumers;       /* consumer name -> record JSON (char*), as committed: every replica */
    GTree *cdirty;          /* leader: name -> GPtrArray of CReply*, to propose this turn */
    GHashTable *cinflight;  /* leader: name -> records proposed, not yet applied (never iterated) */
    GArray *removals;       /* leader: seqs retention removes, to propose this turn (op 5) */
    EnvTimer ctimer;
    /* catch-up (see SNAPSHOTS AND CATCH-UP) */
    ServerInternalSub *cu_serve_sub, *cu_reply_sub;
    char *cu_reply;         /* _MJ.CUR.<group>.<self>: where our batches come back */
    bool cu_active;         /* fetching what a restored snapshot covers; the group is held */
    uint64_t cu_to, cu_index; /* fetch through seq cu_to; peers must have applied cu_index */
    int cu_peer;            /* index in cu_members() of the one asked last */
    EnvTimer cu_timer;      /* no answer in time: ask the next peer */
    int64_t cu_started_ns;
    uint32_t cu_behind;     /* bit i: peer i answered "cannot help" since our last progress */
    bool lazy;              /* the groups' sync policy is lazy (a power cut may lose everywhere) */
    /* leaving (see SCALING): no longer one of peers, still a member until the leader says */
    ServerInternalSub *lv_serve_sub, *lv_reply_sub;
    bool leaving, left;
    EnvTimer ltimer;
    uint32_t lv_round;      /* the leave poll's round */
    uint64_t lv_removed;    /* the leader's answer: our removal committed at this index (0: not yet) */
    struct {                /* each peer's latest answer (by index in peers) */
        uint32_t round;
        uint64_t applied;
        bool behind;
    } lv_ans[LIMIT_CLUSTER_REPLICAS_MAX];
} Assignment;

/* A reply the leader sends when it applies the entry that carries it. */
typedef struct CReply {
    char *subject;
    GBytes *body;
} CReply;

struct JsCluster {
    Server *srv;
    JetStream *js;
    Env *env;
    char *name, *cluster_name, *dir;
    int size;
    unsigned bug;           /* JsClusterBug: a broken variant for the simulator */
    NrgObserveFn observe;   /* JsClusterConfig.observe: handed to every group */
    void *observe_ctx;
    uint32_t self;
    GHashTable *names;      /* peer id -> server name (char*) */
    Nrg *meta;
    GTree *streams;         /* name -> Assignment*, sorted */
    ServerInternalSub *hello_sub, *hello_answer_sub; /* FORMING THE META GROUP */
    GHashTable *formed;     /* peer ids that announced a formed meta group (a set) */
    bool campaigned;        /* THE FIRST ELECTION: done */
    GQueue parked;          /* Parked*: requests waiting for a meta leader (NO META LEADER YET) */
    EnvTimer park_timer;
    ServerInternalSub *led_sub;     /* $JSC.LEADER: stream leaders announcing themselves */
    EnvTimer hello_timer;
    ServerInternalSub *capture_sub; /* consumer_write: a local API answer, caught */
    char *capture_subject;
    GBytes *captured;
    ServerHook *check_hook; /* our invariants, inside server_check_invariants */
    ServerHook *unclaimed_hook; /* routed publishes nobody here took (LATE PUBLISHES) */
    int64_t handover_ns;        /* the latest of the streams' handover_ns */
    ServerInternalSub *gather_sub;  /* STREAM.LIST / INFO: the stream leaders' answers */
    GHashTable *gathers;            /* id -> Gather*, lookup only */
    uint32_t gather_next;
    uint64_t snapshot_entries, meta_snapshot_entries, snapshot_bytes; /* JsClusterConfig: compaction */
};

static const StreamRepl REPL;
static void reconcile(Assignment *a);
static bool has_peer(const uint32_t *peers, int n, uint32_t id);
static void drop_replica(JsCluster *c, Assignment *a);
static void leave_serve(void *ctx, const ServerMsg *m);
static void leave_stop(JsCluster *c, Assignment *a);
static void leave_start(JsCluster *c, Assignment *a);
static void track(Assignment *a);
static void reply_success(JsCluster *c, const char *reply, const char *kind);

/* The broken variants that live in the Raft driver (cluster_nrg.h). */
static unsigned nrg_bug(const JsCluster *c) {
    return ((c->bug & JSC_BUG_APPEND_BEFORE_FSYNC) ? NRG_BUG_APPEND_BEFORE_FSYNC : 0) |
           ((c->bug & JSC_BUG_VOTE_TRUNCATED) ? NRG_BUG_VOTE_TRUNCATED : 0);
}

/* ------------------------------------------------------------------ small helpers */

static const char *peer_name(JsCluster *c, uint32_t id) {
    const char *n = g_hash_table_lookup(c->names, GUINT_TO_POINTER(id));
    return n != NULL ? n : "?";
}

static bool meta_leader_known(JsCluster *c) { return c->meta != NULL && nrg_leader(c->meta) != 0; }
static bool meta_ready(JsCluster *c) { return c->meta != NULL && nrg_ready(c->meta); }

const char *jscluster_meta_leader(JsCluster *c) {
    return meta_leader_known(c) ? peer_name(c, nrg_leader(c->meta)) : NULL;
}

const char *jscluster_stream_leader(JsCluster *c, const char *stream) {
    Assignment *a = g_tree_lookup(c->streams, stream);
    if (a == NULL || a->nrg == NULL || nrg_leader(a->nrg) == 0) return NULL;
    return peer_name(c, nrg_leader(a->nrg));
}

Stream *jscluster_replica(JsCluster *c, const char *stream) {
    Assignment *a = g_tree_lookup(c->streams, stream);
    return a != NULL && a->nrg != NULL ? a->st : NULL;
}

static void reply_error(JsCluster *c, const ServerMsg *m, const char *kind, MjError err, const char *text) {
    if (m->reply_len == 0) return;
    JsApiReq r = jetstream_api_req(c->js, m, g_strndup(m->reply, m->reply_len));
    jsapi_begin(&r, kind);
    g_autoptr(GError) e = NULL;
    if (text != NULL)
        mj_js_error(&e, err, "%s", text);
    else
        mj_js_error(&e, err, NULL);
    jsapi_error(&r, e);
    g_free(r.reply);
}

static void reply_gerror(JsCluster *c, const char *reply, const char *kind, const GError *e) {
    ServerMsg m = {0};
    JsApiReq r = jetstream_api_req(c->js, &m, g_strdup(reply));
    jsapi_begin(&r, kind);
    jsapi_error(&r, e);
    g_free(r.reply);
}

/* "cluster": {"name","leader","replicas":[{"name","current","active","lag","peer"}]} */
static void build_cluster_info(JsCluster *c, Assignment *a, JsonBuilder *b, bool leader_only) {
    json_builder_set_member_name(b, "cluster");
    json_builder_begin_object(b);
    jsonu_add_string(b, "name", c->cluster_name);
    uint32_t leader = a->nrg != NULL ? nrg_leader(a->nrg) : 0;
    if (leader != 0) jsonu_add_string(b, "leader", peer_name(c, leader));
    if (a->n_peers > 1 && !leader_only) {
        json_builder_set_member_name(b, "replicas");
        json_builder_begin_array(b);
        for (int i = 0; i < a->n_peers; i++) {
            if (a->peers[i] == leader) continue;
            NrgPeerInfo pi = {0};
            if (a->nrg != NULL) nrg_peer_info(a->nrg, a->peers[i], &pi); /* held: not current */
            json_builder_begin_object(b);
            jsonu_add_string(b, "name", peer_name(c, a->peers[i]));
            jsonu_add_bool(b, "current", pi.current);
            jsonu_add_int(b, "active", pi.active_ns);
            if (pi.lag > 0) jsonu_add_int(b, "lag", (int64_t)pi.lag);
            char hex[9];
            jsonu_add_string(b, "peer", nrg_peer_hex(a->peers[i], hex));
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
}

/* ------------------------------------------------------------------ stream groups */

static void repl_info(void *ctx, Stream *st, JsonBuilder *b, bool leader_only) {
    Assignment *a = ctx;
    build_cluster_info(a->cl, a, b, leader_only);
}

/* One message as a stream group's OP_MSG entries and catch-up batches carry it: seq (u64),
 * ts (u64), subject (u16 length), header (u32 length), payload (u32 length); rd_msg reads it. */
static void put_msg(GByteArray *out, uint64_t seq, int64_t ts, const ServerMsg *m) {
    uint8_t rec[8 + 8 + 2], l4[4];
    put64(rec, seq);
    put64(rec + 8, (uint64_t)ts);
    put16(rec + 16, (uint16_t)m->subject_len);
    g_byte_array_append(out, rec, sizeof rec);
    g_byte_array_append(out, (const guint8 *)m->subject, (guint)m->subject_len);
    put32(l4, (uint32_t)m->hdr_len);
    g_byte_array_append(out, l4, 4);
    if (m->hdr_len) g_byte_array_append(out, m->hdr, (guint)m->hdr_len);
    put32(l4, (uint32_t)m->payload_len);
    g_byte_array_append(out, l4, 4);
    if (m->payload_len) g_byte_array_append(out, m->payload, (guint)m->payload_len);
}

static bool repl_propose(void *ctx, Stream *st, uint64_t seq, int64_t ts, const ServerMsg *m) {
    Assignment *a = ctx;
    if (a->nrg == NULL || !nrg_ready(a->nrg)) return false;
    g_autoptr(GByteArray) buf = g_byte_array_sized_new((guint)(1 + 8 + 8 + 2 + m->subject_len + 4 + m->hdr_len + 4 +
                                                                m->payload_len + 2 + m->reply_len));
    const uint8_t op = OP_MSG;
    g_byte_array_append(buf, &op, 1);
    put_msg(buf, seq, ts, m);
    uint8_t l2[2];
    put16(l2, (uint16_t)m->reply_len);
    g_byte_array_append(buf, l2, 2);
    if (m->reply_len) g_byte_array_append(buf, (const guint8 *)m->reply, (guint)m->reply_len);
    g_autoptr(GError) err = NULL;
    if (!nrg_propose(a->nrg, buf->data, buf->len, &err)) {
        env_log(a->cl->env, ENV_LOG_WARN, "stream %s: proposal refused: %s", a->name, err->message);
        return false;
    }
    if ((a->cl->bug & JSC_BUG_ACK_BEFORE_COMMIT) && m->reply_len > 0) { /* broken on purpose: no quorum yet */
        g_autofree char *reply = g_strndup(m->reply, m->reply_len);
        g_autofree char *ack = g_strdup_printf("{\"stream\":\"%s\",\"seq\":%" G_GUINT64_FORMAT "}", a->name, seq);
        server_publish(a->cl->srv, reply, NULL, NULL, 0, ack, strlen(ack));
    }
    return true;
}

static void retention_remove(void *ctx, uint64_t seq);
static const StreamRepl REPL = {.propose = repl_propose, .info = repl_info, .remove = retention_remove};

/* Bounds-checked reading of an entry. */
typedef struct Rd {
    const uint8_t *p, *end;
    bool bad;
} Rd;

static const uint8_t *rd_take(Rd *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}
static uint64_t rd64(Rd *r) {
    const uint8_t *q = rd_take(r, 8);
    return q ? get64(q) : 0;
}
static uint32_t rd32(Rd *r) {
    const uint8_t *q = rd_take(r, 4);
    return q ? get32(q) : 0;
}
static uint16_t rd16(Rd *r) {
    const uint8_t *q = rd_take(r, 2);
    return q ? get16(q) : 0;
}
/* What put_msg wrote; false (r->bad) when the bytes end early. */
static bool rd_msg(Rd *r, uint64_t *seq, int64_t *ts, ServerMsg *m) {
    *seq = rd64(r);
    *ts = (int64_t)rd64(r);
    m->subject_len = rd16(r);
    m->subject = (const char *)rd_take(r, m->subject_len);
    m->hdr_len = rd32(r);
    m->hdr = rd_take(r, m->hdr_len);
    m->payload_len = rd32(r);
    m->payload = rd_take(r, m->payload_len);
    return !r->bad;
}

static void send_stream_reply(Assignment *a, const char *reply, const char *kind, bool did_create) {
    JsCluster *c = a->cl;
    ServerMsg m = {0};
    JsApiReq r = jetstream_api_req(c->js, &m, g_strdup(reply));
    jsapi_begin(&r, kind);
    stream_build_info(a->st, r.b, NULL);
    if (did_create) jsonu_add_bool(r.b, "did_create", true);
    jsapi_send(&r, false);
    g_free(r.reply);
}


/* ------------------------------------------------------------------ consumers (see CONSUMERS) */

static void creply_free(CReply *r) {
    g_free(r->subject);
    if (r->body != NULL) g_bytes_unref(r->body);
    g_free(r);
}

static void creplies_free(GPtrArray *a) { g_ptr_array_free(a, TRUE); }

static ConsumerSet *set_of(Assignment *a) { return consumer_set_of(a->st); }

static void consumers_propose(void *arg);

static void arm_consumers(Assignment *a) {
    if (a->ctimer == 0) a->ctimer = env_timer_add(a->cl->env, 0, consumers_propose, a);
}

static void mark_dirty(Assignment *a, const char *name, CReply *r) {
    GPtrArray *replies = g_tree_lookup(a->cdirty, name);
    if (replies == NULL) {
        replies = g_ptr_array_new_with_free_func((GDestroyNotify)creply_free);
        g_tree_insert(a->cdirty, g_strdup(name), replies);
    }
    if (r != NULL) g_ptr_array_add(replies, r);
    arm_consumers(a);
}

static void consumer_changed(void *ctx, Consumer *c) { mark_dirty(ctx, consumer_name(c), NULL); }

static void consumer_ack_reply(void *ctx, Consumer *c, const char *reply) {
    CReply *r = g_new0(CReply, 1);
    r->subject = g_strdup(reply);
    mark_dirty(ctx, consumer_name(c), r);
}

static void retention_remove(void *ctx, uint64_t seq) {
    Assignment *a = ctx;
    if (a->cl->bug & JSC_BUG_REMOVE_LOCALLY) { /* broken on purpose: the followers keep it */
        store_remove(stream_store(a->st), seq, FALSE, NULL);
        return;
    }
    g_array_append_val(a->removals, seq);
    arm_consumers(a);
}

static const ConsumerSetRepl CREPL = {.changed = consumer_changed, .ack_reply = consumer_ack_reply,
                                      .remove = retention_remove};

/* Op 5 with this turn's removals (at most LIMIT_CLUSTER_REMOVALS_COUNT per entry). */
static void propose_removals(Assignment *a) {
    while (a->removals->len > 0) {
        guint n = MIN(a->removals->len, LIMIT_CLUSTER_REMOVALS_COUNT);
        size_t len = 1 + 4 + 8 * (size_t)n;
        g_autofree uint8_t *buf = g_malloc(len);
        buf[0] = OP_REMOVE;
        put32(buf + 1, n);
        for (guint i = 0; i < n; i++) put64(buf + 5 + 8 * i, g_array_index(a->removals, uint64_t, i));
        g_autoptr(GError) err = NULL;
        if (!nrg_propose(a->nrg, buf, len, &err)) break; /* not leader: the next one sweeps */
        g_array_remove_range(a->removals, 0, n);
    }
    g_array_set_size(a->removals, 0);
}

static bool apply_removals(Assignment *a, Rd *r) {
    uint32_t n = rd32(r);
    bool removed = false;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t seq = rd64(r);
        if (!r->bad) removed |= store_remove(stream_store(a->st), seq, FALSE, NULL);
    }
    if (removed) stream_repl_removed(a->st);
    return !r->bad;
}

static char *consumer_record(Consumer *c) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "config");
    consumer_config_build(consumer_config(c), b);
    jsonu_add_int(b, "created", consumer_created_ns(c));
    json_builder_set_member_name(b, "state");
    consumer_build_state(c, b);
    json_builder_set_member_name(b, "waiting");
    consumer_build_waiting(c, b);
    json_builder_end_object(b);
    return jsonu_builder_to_string(b);
}

/* Propose op 3 or 4 for `name` carrying `replies`; FALSE: not leader any more. */
static bool propose_consumer(Assignment *a, uint8_t op, const char *name, const char *rec, GPtrArray *replies) {
    size_t nl = strlen(name), rl = rec != NULL ? strlen(rec) : 0, n = 1 + 2 + nl + 4 + rl + 2;
    guint nr = replies != NULL ? MIN(replies->len, G_MAXUINT16) : 0;
    for (guint i = 0; i < nr; i++) {
        CReply *r = g_ptr_array_index(replies, i);
        n += 2 + strlen(r->subject) + 4 + (r->body != NULL ? g_bytes_get_size(r->body) : 0);
    }
    g_autofree uint8_t *buf = g_malloc(n);
    uint8_t *p = buf;
    *p++ = op;
    put16(p, (uint16_t)nl), p += 2;
    memcpy(p, name, nl), p += nl;
    put32(p, (uint32_t)rl), p += 4;
    if (rl) memcpy(p, rec, rl), p += rl;
    put16(p, (uint16_t)nr), p += 2;
    for (guint i = 0; i < nr; i++) {
        CReply *r = g_ptr_array_index(replies, i);
        size_t sl = strlen(r->subject);
        gsize bl = 0;
        const void *body = r->body != NULL ? g_bytes_get_data(r->body, &bl) : NULL;
        put16(p, (uint16_t)sl), p += 2;
        memcpy(p, r->subject, sl), p += sl;
        put32(p, (uint32_t)bl), p += 4;
        if (bl) memcpy(p, body, bl), p += bl;
    }
    g_autoptr(GError) err = NULL;
    if (!nrg_propose(a->nrg, buf, n, &err)) return false;
    gpointer k = NULL, v = NULL;
    if (!g_hash_table_lookup_extended(a->cinflight, name, &k, &v)) k = g_strdup(name);
    else g_hash_table_steal(a->cinflight, name);
    g_hash_table_insert(a->cinflight, k, GSIZE_TO_POINTER(GPOINTER_TO_SIZE(v) + 1));
    return true;
}

/* Once per turn: each dirty consumer with no record in flight proposes its record. */
static void consumers_propose(void *arg) {
    Assignment *a = arg;
    a->ctimer = 0;
    if (!a->leading) return;
    g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func(g_free);
    for (GTreeNode *node = g_tree_node_first(a->cdirty); node != NULL; node = g_tree_node_next(node)) {
        const char *name = g_tree_node_key(node);
        if (GPOINTER_TO_SIZE(g_hash_table_lookup(a->cinflight, name)) > 0) continue; /* after that one */
        Consumer *c = consumer_set_lookup(set_of(a), name);
        g_autofree char *rec = c != NULL ? consumer_record(c) : NULL;
        /* changed and no longer here: deleted (by the API or its inactivity) */
        if (!propose_consumer(a, c != NULL ? OP_CSTATE : OP_CDEL, name, rec, g_tree_node_value(node))) break;
        g_ptr_array_add(done, g_strdup(name));
    }
    for (guint i = 0; i < done->len; i++) g_tree_remove(a->cdirty, g_ptr_array_index(done, i));
    propose_removals(a); /* after the records that freed them */
}

/* Leadership moved: forget what was dirty or in flight (its clients time out or retry). */
static void consumers_reset(Assignment *a) {
    env_timer_cancel(a->cl->env, a->ctimer);
    a->ctimer = 0;
    g_tree_remove_all(a->cdirty);
    g_hash_table_remove_all(a->cinflight);
    g_array_set_size(a->removals, 0);
}

/* The new leader brings the catalogue to life. */
static void consumers_adopt(Assignment *a) {
    JsCluster *c = a->cl;
    ConsumerSet *set = set_of(a);
    consumer_set_release(set, false);
    for (GTreeNode *node = g_tree_node_first(a->consumers); node != NULL; node = g_tree_node_next(node)) {
        const char *name = g_tree_node_key(node), *rec = g_tree_node_value(node);
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *o = jsonu_parse_object(rec, strlen(rec), &parser);
        JsonNode *cn = o != NULL ? json_object_get_member(o, "config") : NULL;
        JsonNode *sn = o != NULL ? json_object_get_member(o, "state") : NULL;
        int64_t created = 0;
        g_autoptr(GError) err = NULL;
        ConsumerConfig *cfg = cn != NULL && JSON_NODE_HOLDS_OBJECT(cn) && jsonu_get_int(o, "created", &created)
                                  ? consumer_config_parse(json_node_get_object(cn), &err) : NULL;
        /* a durable made R3 keeps its config when its stream is scaled down (nats-server 2.9.10
         * too): its replicas follow the stream's group, whatever its num_replicas says */
        StreamConfig scfg = *stream_config(a->st);
        scfg.num_replicas = LIMIT_CLUSTER_REPLICAS_MAX;
        if (cfg != NULL && !consumer_config_validate(cfg, &scfg, &err))
            g_clear_pointer(&cfg, consumer_config_free);
        if (cfg == NULL) {
            env_log(c->env, ENV_LOG_ERROR, "stream %s: consumer %s not adopted: %s", a->name, name,
                    err != NULL ? err->message : "malformed record");
            continue;
        }
        Consumer *live = consumer_set_adopt(set, name, cfg, created,
                                            sn != NULL && JSON_NODE_HOLDS_OBJECT(sn) ? json_node_get_object(sn) : NULL);
        JsonNode *wn = json_object_get_member(o, "waiting");
        if (wn != NULL && JSON_NODE_HOLDS_ARRAY(wn)) consumer_adopt_waiting(live, json_node_get_array(wn));
    }
    consumer_set_sweep(set); /* what the last leader's lost removals left */
}

static void send_creplies(JsCluster *c, Rd *r, uint16_t n) {
    for (uint16_t i = 0; i < n && !r->bad; i++) {
        uint16_t sl = rd16(r);
        const char *subj = (const char *)rd_take(r, sl);
        uint32_t bl = rd32(r);
        const uint8_t *body = rd_take(r, bl);
        if (r->bad) return;
        g_autofree char *to = g_strndup(subj, sl);
        server_publish(c->srv, to, NULL, NULL, 0, body, bl);
    }
}

/* Ops 3 and 4 on every replica: the catalogue; on the leader also the replies. */
static bool apply_consumer(Assignment *a, uint8_t op, Rd *r, bool leader) {
    uint16_t nl = rd16(r);
    const char *np = (const char *)rd_take(r, nl);
    uint32_t rl = rd32(r);
    const char *rec = (const char *)rd_take(r, rl);
    uint16_t n = rd16(r);
    if (r->bad || nl == 0) return false;
    g_autofree char *name = g_strndup(np, nl);
    if (op == OP_CSTATE) g_tree_replace(a->consumers, g_strdup(name), g_strndup(rec, rl));
    else g_tree_remove(a->consumers, name);
    if (!leader) return true;
    send_creplies(a->cl, r, n);
    gsize inflight = GPOINTER_TO_SIZE(g_hash_table_lookup(a->cinflight, name));
    if (inflight > 1) g_hash_table_insert(a->cinflight, g_strdup(name), GSIZE_TO_POINTER(inflight - 1));
    else g_hash_table_remove(a->cinflight, name);
    if (g_tree_lookup(a->cdirty, name) != NULL) arm_consumers(a);
    return !r->bad;
}

static void on_capture(void *ctx, const ServerMsg *m) {
    JsCluster *c = ctx;
    if (c->captured != NULL) g_bytes_unref(c->captured);
    c->captured = g_bytes_new(m->payload, m->payload_len);
}

static void forward(JsCluster *c, const char *reply, GBytes *body) {
    gsize len;
    const void *p = g_bytes_get_data(body, &len);
    server_publish(c->srv, reply, NULL, NULL, 0, p, len);
}

/* CONSUMER.CREATE / DURABLE.CREATE / DELETE on the stream's leader: the local handler does
 * the work (every check of a single server), its answer is caught, and for a durable it
 * travels in the record's entry, to be sent once that is committed. */
static void consumer_write(JsCluster *c, Assignment *a, const ServerMsg *m, const char *reply, bool del,
                           const char *del_name) {
    ServerMsg local = *m;
    local.reply = c->capture_subject;
    local.reply_len = strlen(c->capture_subject);
    g_clear_pointer(&c->captured, g_bytes_unref);
    jetstream_api_dispatch(c->js, &local);
    g_autoptr(GBytes) answer = g_steal_pointer(&c->captured);
    if (answer == NULL) return;
    gsize len;
    const char *p = g_bytes_get_data(answer, &len);
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(p, len, &parser);
    const char *name = del ? del_name : NULL;
    if (o != NULL && !del) jsonu_get_string(o, "name", &name);
    /* a consumer's create, update or delete marked it dirty (consumer_set.c calls back) */
    bool durable = name != NULL && !json_object_has_member(o, "error") && g_tree_lookup(a->cdirty, name) != NULL;
    if (!durable) return forward(c, reply, answer);
    CReply *r = g_new0(CReply, 1);
    r->subject = g_strdup(reply);
    r->body = g_bytes_ref(answer);
    mark_dirty(a, name, r); /* answered with the record (or the deletion) that holds it */
}

/* ------------------------------------------------------------------ the apply path
 *
 * THE STORE BEHIND THE LOG (what a replicated PubAck waits for; book 11.5)
 *   At the default sync policy a PubAck promises that the message is on the disk of a quorum.
 *   The group's Raft log already makes it so: the leader fsyncs its raft.log before it counts
 *   itself, a follower fsyncs before it answers the append (cluster_nrg.c), and the commit
 *   that applies the entry needs a quorum of both. So the stream's own store on each replica
 *   is a second copy, rebuilt from the log, and its writes are NOT fsynced before the ack
 *   (the store runs STORE_SYNC_REPLICA, store.h): one fsync per PubAck on each node instead
 *   of two, and one less on the ack's path. Measured on this machine with strace during
 *   `minijet-bench jspub-r3` (one publish in flight): before, four fdatasyncs lay on each
 *   ack's path in sequence (the leader's raft.log; the follower's raft.log and then its
 *   store, both before it answered; the leader's store after the commit), two per PubAck per
 *   node; now two (the leader's raft.log, the follower's raft.log), one per PubAck per node,
 *   and those two overlap: the leader sends the append before its own fsync (cluster_nrg.c,
 *   A LEADER SENDS BEFORE IT SYNCS).
 *
 *   Why a power cut cannot lose an acknowledged message:
 *     - everything the store may lose is above its last fsync, and a replica's Raft log holds
 *       every entry above its snapshot, so the log holds all the store may lose, PROVIDED
 *       the log never drops an entry whose store write is not yet fsynced: compaction fsyncs
 *       the store first (stream_snapshot), and a catch-up from peers, which fills the store
 *       with messages no entry holds, fsyncs before it releases the group (cu_finish);
 *     - at restart the store's recovery CUTS its log at the first damaged byte (unsynced
 *       writes lost in any order leave holes, store_file.c RECOVERY), so the store is an
 *       exact prefix of the stream; the group applies every entry above its snapshot again
 *       as the commit index is relearned, and stream_repl_apply skips the seqs the store
 *       kept and appends the rest, with the seqs and timestamps the entries carry;
 *     - a store cut below its snapshot's last seq (damage in synced bytes: a bit flip)
 *       fetches the rest from a peer (SNAPSHOTS AND CATCH-UP), as a damaged store always did.
 *   A whole cluster losing power is the case that needs all three: no peer has a better
 *   store, and each rebuilds from its own log (test /cluster/stream/acked-from-raft-log).
 *
 *   A replayed entry of this server's earlier life (index <= nrg_boot_last) is applied but
 *   not answered: its publisher was answered then, or gave up.
 *
 * WHY NOT THE OBVIOUS WAY (fsync the store too, as a single server does)
 *   It buys nothing: the log is fsynced on a quorum either way, and the store's fsync only
 *   duplicates it at the cost of a disk round trip on the ack's path. What it would buy, a
 *   store that is whole without its log, is what compaction's fsync provides where it matters.
 *
 * LIMITATIONS
 *   - Lazy policies (--sync_interval) keep their own meaning: the log and the store are both
 *     fsynced on the timer, and a power cut of a majority can lose acknowledged messages.
 *   - After a power cut a replica's store is rebuilt from up to a snapshot's worth of
 *     entries (LIMIT_CLUSTER_SNAPSHOT_ENTRIES): restart time, not safety.
 */
static void stream_apply(void *ctx, uint64_t index, const uint8_t *data, size_t len) {
    Assignment *a = ctx;
    JsCluster *c = a->cl;
    Rd r = {data, data + len, false};
    const uint8_t *op = rd_take(&r, 1);
    bool leader = nrg_is_leader(a->nrg);
    bool answer = leader && index > nrg_boot_last(a->nrg); /* not a replay of an earlier life's */
    if (op != NULL && *op == OP_MSG) {
        ServerMsg m = {0};
        uint64_t seq;
        int64_t ts;
        rd_msg(&r, &seq, &ts, &m);
        m.reply_len = rd16(&r);
        m.reply = (const char *)rd_take(&r, m.reply_len);
        if (r.bad) goto bad;
        if (c->bug & JSC_BUG_ACK_BEFORE_COMMIT) m.reply_len = 0; /* broken on purpose: acked at proposal */
        if (!answer) m.reply_len = 0; /* a replay of an earlier life's entry: applied, not answered */
        /* LAB(10) begin */
        /* LAB(10) stub: (void)seq; (void)ts; (void)leader; */
        g_autofree char *ack = stream_repl_apply(a->st, seq, ts, &m, leader);
        if (ack != NULL && m.reply_len > 0) {
            g_autofree char *reply = g_strndup(m.reply, m.reply_len);
            server_publish(c->srv, reply, NULL, NULL, 0, ack, strlen(ack));
        }
        /* LAB(10) end */
        return;
    }
    if (op != NULL && *op == OP_API) {
        ServerMsg m = {0};
        m.subject_len = rd16(&r);
        m.subject = (const char *)rd_take(&r, m.subject_len);
        m.reply_len = rd16(&r);
        m.reply = (const char *)rd_take(&r, m.reply_len);
        m.payload_len = rd32(&r);
        m.payload = rd_take(&r, m.payload_len);
        if (r.bad) goto bad;
        if (!answer) {
            m.reply = VOID_REPLY;
            m.reply_len = strlen(VOID_REPLY);
        }
        jetstream_api_dispatch(c->js, &m);
        return;
    }
    if (op != NULL && (*op == OP_CSTATE || *op == OP_CDEL) && apply_consumer(a, *op, &r, leader)) return;
    if (op != NULL && *op == OP_REMOVE && apply_removals(a, &r)) return;
bad:
    env_log(c->env, ENV_LOG_ERROR, "stream %s: malformed entry %" G_GUINT64_FORMAT " (%zu bytes) ignored", a->name,
            index, len);
}

/* A leader listens to the subjects unless it is handing over; then it notes when. */
static void leader_interest(Assignment *a) {
    bool handing = nrg_handing_over(a->nrg);
    if (handing) a->handover_ns = a->cl->handover_ns = env_now_ns(a->cl->env);
    stream_set_subscribed(a->st, !handing);
}

/* LATE PUBLISHES (book 11.8)
 *   A stepdown's old leader drops its subjects' interest as the hand-over starts (above).
 *   A server that forwarded a publish to it just before it read that RS- sent it to this
 *   server alone: the route brings it here, nothing matches, and nats-server would drop it
 *   (its routes deliver to local subscribers or to nobody), leaving the publisher to wait out
 *   its request timeout. The server hands such a message to its server_on_unclaimed hooks;
 *   this one answers 503 no-responders, as the publisher's own server does when no stream
 *   holds the subject (nats.js retries it, and it is true: nothing stored it), when the
 *   subject is one of a stream this server was handing over less than
 *   LIMIT_CLUSTER_HANDOVER_LATE_NS ago.
 *
 *   Only after a hand-over. The new leader subscribes after winning the election the old
 *   one started with TimeoutNow, after the RS- went out: a forwarding server that sent the
 *   publish to the new leader too (it held both interests) must have read the new leader's
 *   RS+ before the old leader's earlier RS-, a race on top of the race. A deposed leader (a
 *   partition, a pause) is different: the others may have held its stale interest and the
 *   new leader's for a long time, the new leader answers, and a 503 besides would make
 *   nats.js publish again; there the message is dropped silently, as nats-server does. */
static void on_unclaimed(void *ctx, const ServerMsg *m) {
    JsCluster *c = ctx;
    int64_t now = env_now_ns(c->env);
    if (c->handover_ns == 0 || now - c->handover_ns > LIMIT_CLUSTER_HANDOVER_LATE_NS) return; /* the common case */
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    for (GTreeNode *node = g_tree_node_first(c->streams); node != NULL; node = g_tree_node_next(node)) {
        Assignment *a = g_tree_node_value(node);
        if (a->st == NULL || a->handover_ns == 0 || now - a->handover_ns > LIMIT_CLUSTER_HANDOVER_LATE_NS) continue;
        for (char **p = stream_config(a->st)->subjects; p != NULL && *p != NULL; p++) {
            if (!subject_matches_pattern(*p, subject)) continue;
            g_autofree char *reply = g_strndup(m->reply, m->reply_len);
            env_log(c->env, ENV_LOG_DEBUG, "stream %s: a publish on %s came after the hand-over: 503", a->name, subject);
            stream_not_taken(a->st, reply);
            return;
        }
    }
}

/* LEADER ANNOUNCEMENTS. Only a stream's replicas know who leads it; the meta leader needs it
 * to keep the leader when it shrinks the group (scale()), and may host no replica. So a
 * stream leader tells every server when it starts to lead: {"stream","leader","term"} on
 * $JSC.LEADER, kept per stream, the highest term winning. A hint, not the catalogue: a
 * server that missed it (down, cut off) keeps an older one or none, and a shrink then keeps
 * live peers in order, as it did before: the leader hands over, nothing is lost. */
static void announce_leader(Assignment *a) {
    g_autofree char *body = g_strdup_printf("{\"stream\":\"%s\",\"leader\":%u,\"term\":%" G_GUINT64_FORMAT "}",
                                            a->name, a->cl->self, nrg_term(a->nrg));
    server_publish(a->cl->srv, "$JSC.LEADER", NULL, NULL, 0, body, strlen(body));
    a->led_by = a->cl->self;
    a->led_term = nrg_term(a->nrg);
}

static void on_leader(void *ctx, const ServerMsg *m) {
    JsCluster *c = ctx;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    const char *name = NULL;
    int64_t id = 0, term = 0;
    if (o == NULL || !jsonu_get_string(o, "stream", &name) || name == NULL || !jsonu_get_int(o, "leader", &id) ||
        !jsonu_get_int(o, "term", &term))
        return;
    Assignment *a = g_tree_lookup(c->streams, name);
    if (a == NULL || (uint64_t)term < a->led_term) return;
    a->led_by = (uint32_t)id;
    a->led_term = (uint64_t)term;
}

static void stream_state(void *ctx) {
    Assignment *a = ctx;
    track(a);
    bool ready = nrg_ready(a->nrg);
    if (ready && !a->leading) {
        a->leading = true;
        announce_leader(a);
        stream_repl_reset(a->st);
        stream_set_subscribed(a->st, true);
        consumers_reset(a);
        consumers_adopt(a);
        if (a->reply != NULL) {
            send_stream_reply(a, a->reply, a->reply_kind, strcmp(a->reply_kind, "stream_create_response") == 0);
            g_clear_pointer(&a->reply, g_free);
        }
        for (guint i = 0; i < a->raced->len; i++)
            send_stream_reply(a, g_ptr_array_index(a->raced, i), "stream_create_response", false);
        g_ptr_array_set_size(a->raced, 0);
    } else if (!ready && a->leading) {
        a->leading = false;
        stream_set_subscribed(a->st, false);
        stream_repl_reset(a->st);
        consumers_reset(a);
        consumer_set_release(set_of(a), true);
    }
    /* handing over (a stepdown): drop the subjects' interest now, while the cluster is quiet,
     * not after the election: the routes learn it before the new leader subscribes, and the
     * publishers get 503 and retry instead of a publish that reached a server which had just
     * unsubscribed (stream_publish.c, A PUBLISH THE LEADER CAN NO LONGER TAKE; what a route
     * still brings: LATE PUBLISHES). A transfer that fails leaves this server leading: it
     * subscribes again. */
    if (a->leading) leader_interest(a);
    if (!ready && nrg_leader(a->nrg) != 0 && nrg_leader(a->nrg) != a->cl->self) {
        g_clear_pointer(&a->reply, g_free); /* another server leads: it answers */
        g_ptr_array_set_size(a->raced, 0);
    }
    if (ready) reconcile(a); /* a membership change the last leader left unfinished */
}

/* ------------------------------------------------------------------ snapshots and catch-up
 *
 * SNAPSHOTS AND CATCH-UP (book 11.10)
 *   Every group compacts its Raft log once enough is applied (cluster_nrg.c). A stream
 *   group's snapshot is the stream's STATE, as nats-server's is: first and last seq, msgs
 *   and bytes, the deleted ranges between them, the dedup window, and the durable consumers'
 *   catalogue (they live in the group's log). Not the messages: every replica already has
 *   them in its store, and a snapshot is written every few thousand entries.
 *
 *   A replica that restores a snapshot (the leader's, because it was too far behind, or its
 *   own at boot) trims what the snapshot says is gone, and if its store ends before the
 *   snapshot's last seq (it was down; a lazy policy lost the tail; a damaged store was
 *   dropped) it CATCHES UP: the group is held (cluster_nrg.h: entries after the snapshot wait
 *   in the Raft log, this member does not campaign and cannot lead) while it asks a peer
 *
 *       _MJ.CU.<group>.<peer>  {"from","to","index"}   reply to _MJ.CUR.<group>.<self>
 *
 *   for the next batch: | from u64 | through u64 | n u32 | n x (seq u64 | ts i64 |
 *   subj_len u16 | subj | hdr_len u32 | hdr | data_len u32 | data) |: the messages it has in
 *   [from, through], every missing seq in that range deleted there (stored as a gap). At most
 *   LIMIT_CLUSTER_CATCHUP_BATCH_BYTES / _COUNT per batch and one batch in flight: bounded
 *   memory, and the next request goes out only when the last batch is stored (flow control).
 *   A peer answers only if it has applied through the snapshot's index (through 0: "ask
 *   someone else"), from its store up to its last seq, even while it is catching up itself. The state is the store's own last seq, so the
 *   fetch resumes anywhere: after a timeout, with the next peer, after a leader change, after
 *   a restart. When the store reaches the snapshot's last seq, the group is released and the
 *   waiting entries are applied. A held member reports applied index 0 in its append
 *   responses, so the leader shows it as not current until its store is whole and the
 *   waiting entries are applied, whoever feeds it (cluster_nrg.c, PROGRESS OF PEERS).
 *   Under a lazy sync policy a power cut can lose a message everywhere: once every peer has
 *   said it cannot help (or after LIMIT_CLUSTER_CATCHUP_GIVEUP_NS) the fetch gives up, marks
 *   the rest as gaps and says so. With nobody to ask (R1) it gives up at once. At the default
 *   policy it never gives up: a replica waits, held, rather than serve a shorter stream.
 */

static void cu_send(Assignment *a);
static void cu_retry(void *arg) {
    ((Assignment *)arg)->cu_timer = 0;
    cu_send(arg);
}

static void cu_finish(Assignment *a, const char *how) {
    JsCluster *c = a->cl;
    /* what was fetched is below the snapshot: no entry of the Raft log holds it (THE STORE
     * BEHIND THE LOG). A failed fsync fails the store: it refuses writes from now on */
    g_autoptr(GError) err = NULL;
    if (!store_sync(stream_store(a->st), &err))
        env_log(c->env, ENV_LOG_ERROR, "stream %s: cannot fsync what was caught up: %s", a->name, err->message);
    env_timer_cancel(c->env, a->cu_timer);
    a->cu_timer = 0;
    a->cu_active = false;
    env_log(c->env, ENV_LOG_INFO, "stream %s: caught up through seq %" G_GUINT64_FORMAT " (%s) in %.3f s", a->name,
            a->cu_to, how, (double)(env_now_ns(c->env) - a->cu_started_ns) / 1e9);
    nrg_release(a->nrg);
}

/* Whom a catch-up asks: every member this server tracks (track(): the peers, and the voters
 * on their way out, which still hold the messages and stay until the peers have them, see
 * SCALING), itself included. A group of one by its peers may not be one by its voters: a
 * stream scaled to R1 whose kept peer was behind fetches from the ones leaving. */
static const uint32_t *cu_members(Assignment *a, size_t *n) {
    track(a);
    return nrg_peers(a->nrg, n);
}

/* Fill [last + 1, through] with gaps: what nobody has any more. */
static void cu_fill_gaps(Assignment *a, uint64_t through) {
    StoreState s;
    store_state(stream_store(a->st), &s);
    for (uint64_t seq = s.last_seq + 1; seq <= through; seq++)
        if (!stream_repl_put(a->st, seq, 0, NULL)) break;
}

static bool cu_done(Assignment *a) {
    StoreState s;
    store_state(stream_store(a->st), &s);
    return s.last_seq >= a->cu_to;
}

static void cu_timeout(void *arg) {
    Assignment *a = arg;
    JsCluster *c = a->cl;
    a->cu_timer = 0;
    if (!a->cu_active) return;
    size_t nm;
    const uint32_t *m = cu_members(a, &nm);
    bool alone = nm == 1;
    bool all_behind = false;
    for (size_t i = 0, others = 0, behind = 0; i < nm; i++)
        if (m[i] != c->self) {
            others++;
            behind += (a->cu_behind >> i) & 1;
            all_behind = behind == others && i == nm - 1;
        }
    if (alone || (a->lazy && (all_behind || env_now_ns(c->env) - a->cu_started_ns > LIMIT_CLUSTER_CATCHUP_GIVEUP_NS))) {
        StoreState s;
        store_state(stream_store(a->st), &s);
        env_log(c->env, ENV_LOG_ERROR, "stream %s: no peer has seqs %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
                " any more (%s): they are lost", a->name, s.last_seq + 1, a->cu_to,
                alone ? "a replica of one" : "lazy sync policy");
        cu_fill_gaps(a, a->cu_to);
        return cu_finish(a, "with losses");
    }
    a->cu_peer = (a->cu_peer + 1) % (int)nm; /* this one did not answer: the next */
    cu_send(a);
}

/* Ask for the next batch: the leader first, else the peers in turn. */
static void cu_send(Assignment *a) {
    JsCluster *c = a->cl;
    env_timer_cancel(c->env, a->cu_timer);
    a->cu_timer = env_timer_add(c->env, LIMIT_CLUSTER_CATCHUP_TIMEOUT_NS, cu_timeout, a);
    size_t nm;
    const uint32_t *m = cu_members(a, &nm);
    if (nm == 1) return;
    a->cu_peer %= (int)nm;
    if (m[a->cu_peer] == c->self) a->cu_peer = (a->cu_peer + 1) % (int)nm;
    uint32_t to = m[a->cu_peer];
    StoreState s;
    store_state(stream_store(a->st), &s);
    char hex[9];
    g_autofree char *subject = g_strdup_printf("_MJ.CU.%s.%s", a->group, nrg_peer_hex(to, hex));
    g_autofree char *req = g_strdup_printf("{\"from\":%" G_GUINT64_FORMAT ",\"to\":%" G_GUINT64_FORMAT
                                           ",\"index\":%" G_GUINT64_FORMAT "}",
                                           s.last_seq + 1, a->cu_to, a->cu_index);
    server_publish(c->srv, subject, a->cu_reply, NULL, 0, req, strlen(req));
}

/* A peer's request: the messages we have from `from` on, one batch. */
static void cu_serve(void *ctx, const ServerMsg *m) {
    Assignment *a = ctx;
    JsCluster *c = a->cl;
    if (m->reply_len == 0 || a->st == NULL || a->nrg == NULL) return;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    int64_t from = 0, to = 0, index = 0;
    if (o == NULL || !jsonu_get_int(o, "from", &from) || !jsonu_get_int(o, "to", &to) ||
        !jsonu_get_int(o, "index", &index) || from < 1 || to < from)
        return;
    g_autofree char *reply = g_strndup(m->reply, m->reply_len);
    Store *store = stream_store(a->st);
    StoreState s;
    store_state(store, &s);
    GByteArray *out = g_byte_array_new();
    uint8_t head[20];
    uint64_t through = 0;
    uint32_t n = 0;
    g_byte_array_append(out, head, sizeof head);
    /* only a peer that applied what the snapshot covers can answer, from what its store
     * holds: through its last seq the store is whole even while it catches up itself (two
     * held replicas may each have what the other lacks: jepsen-7549-snapshots, seed 7) */
    if (nrg_applied(a->nrg) >= (uint64_t)index && s.last_seq >= (uint64_t)from) {
        through = MIN((uint64_t)to, s.last_seq);
        uint64_t seq = (uint64_t)from;
        while ((seq = store_next_seq(store, NULL, seq)) != 0 && seq <= through) {
            if (n >= LIMIT_CLUSTER_CATCHUP_BATCH_COUNT || out->len >= LIMIT_CLUSTER_CATCHUP_BATCH_BYTES) {
                through = seq - 1;
                break;
            }
            g_autoptr(GError) err = NULL;
            g_autoptr(StoreMsg) sm = store_load(store, seq, &err);
            if (sm == NULL) { /* unreadable here: let another peer answer */
                through = seq - 1;
                break;
            }
            ServerMsg v = {.subject = sm->subject, .subject_len = sm->subject_len, .hdr = sm->hdr,
                           .hdr_len = sm->hdr_len, .payload = sm->data, .payload_len = sm->data_len};
            put_msg(out, sm->seq, sm->ts_ns, &v);
            n++;
            seq++;
        }
        if (through < (uint64_t)from) through = n = 0, g_byte_array_set_size(out, sizeof head);
    }
    put64(out->data, (uint64_t)from);
    put64(out->data + 8, through);
    put32(out->data + 16, n);
    server_publish(c->srv, reply, NULL, NULL, 0, out->data, out->len);
    g_byte_array_unref(out);
}

/* A batch came back: store it, then ask for the next (or finish). */
static void cu_batch(void *ctx, const ServerMsg *m) {
    Assignment *a = ctx;
    JsCluster *c = a->cl;
    if (!a->cu_active || a->st == NULL) return;
    Rd r = {m->payload, m->payload + m->payload_len, false};
    uint64_t from = rd64(&r), through = rd64(&r);
    uint32_t n = rd32(&r);
    StoreState s;
    store_state(stream_store(a->st), &s);
    if (r.bad || from > s.last_seq + 1) return; /* an old batch for a range we do not reach */
    if (through == 0) { /* that peer cannot help: the next one, after a pause */
        size_t nm;
        const uint32_t *mem = cu_members(a, &nm);
        a->cu_behind |= 1u << a->cu_peer;
        uint32_t others = ((1u << nm) - 1);
        for (size_t i = 0; i < nm; i++)
            if (mem[i] == c->self) others &= ~(1u << i);
        if (a->lazy && (a->cu_behind & others) == others) { /* everyone lost them too */
            env_timer_cancel(c->env, a->cu_timer);
            a->cu_timer = env_timer_add(c->env, 0, cu_timeout, a);
            return;
        }
        a->cu_peer = (a->cu_peer + 1) % (int)nm;
        env_timer_cancel(c->env, a->cu_timer);
        a->cu_timer = env_timer_add(c->env, LIMIT_CLUSTER_CATCHUP_TIMEOUT_NS / 5, cu_retry, a);
        return;
    }
    through = MIN(through, a->cu_to);
    a->cu_behind = 0;
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        ServerMsg msg = {0};
        uint64_t seq;
        int64_t ts;
        if (!rd_msg(&r, &seq, &ts, &msg) || seq > through) break;
        store_state(stream_store(a->st), &s);
        if (seq <= s.last_seq) continue;
        cu_fill_gaps(a, seq - 1);
        if (!stream_repl_put(a->st, seq, ts, &msg)) return; /* the timer asks again */
    }
    if (r.bad) {
        env_log(c->env, ENV_LOG_WARN, "stream %s: malformed catch-up batch ignored", a->name);
        return;
    }
    cu_fill_gaps(a, through);
    if (cu_done(a)) return cu_finish(a, "from peers");
    cu_send(a);
}

/* The store must reach seq `to` before the entries after snapshot index `index` apply. */
static void cu_start(Assignment *a, uint64_t to, uint64_t index) {
    JsCluster *c = a->cl;
    StoreState s;
    store_state(stream_store(a->st), &s);
    if (!a->cu_active) {
        a->cu_started_ns = env_now_ns(c->env);
        a->cu_behind = 0;
        uint32_t leader = nrg_leader(a->nrg); /* the leader first: it surely has everything */
        size_t nm;
        const uint32_t *m = cu_members(a, &nm);
        for (size_t i = 0; i < nm; i++)
            if (m[i] == leader) a->cu_peer = (int)i;
    }
    a->cu_active = true;
    a->cu_to = to;
    a->cu_index = index;
    env_log(c->env, ENV_LOG_INFO, "stream %s: the snapshot at %" G_GUINT64_FORMAT " covers seqs through %" G_GUINT64_FORMAT
            ", the store ends at %" G_GUINT64_FORMAT ": catching up from peers", a->name, index, to, s.last_seq);
    size_t nm;
    cu_members(a, &nm);
    if (nm == 1) { /* nobody to ask: see cu_timeout */
        a->cu_timer = env_timer_add(c->env, 0, cu_timeout, a);
        return;
    }
    nrg_hold(a->nrg);
    cu_send(a);
}

static GBytes *stream_snapshot(void *ctx) {
    Assignment *a = ctx;
    if (a->st == NULL || a->cu_active) return NULL;
    /* THE STORE BEHIND THE LOG: the log may drop these entries only once their effects on
     * the store are on the disk */
    g_autoptr(GError) err = NULL;
    if (!store_sync(stream_store(a->st), &err)) {
        env_log(a->cl->env, ENV_LOG_ERROR, "stream %s: cannot fsync the store, the Raft log is not compacted: %s",
                a->name, err->message);
        return NULL;
    }
    StoreState s;
    store_state(stream_store(a->st), &s);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_int(b, "first_seq", (int64_t)s.first_seq);
    jsonu_add_int(b, "last_seq", (int64_t)s.last_seq);
    jsonu_add_int(b, "msgs", (int64_t)s.msgs);
    jsonu_add_int(b, "bytes", (int64_t)s.bytes);
    json_builder_set_member_name(b, "deleted"); /* interior gaps as ranges [a, b] */
    json_builder_begin_array(b);
    g_autoptr(GArray) del = g_array_new(FALSE, FALSE, sizeof(guint64));
    store_deleted(stream_store(a->st), del);
    for (guint i = 0; i < del->len;) {
        guint j = i;
        while (j + 1 < del->len && g_array_index(del, guint64, j + 1) == g_array_index(del, guint64, j) + 1) j++;
        json_builder_begin_array(b);
        json_builder_add_int_value(b, (int64_t)g_array_index(del, guint64, i));
        json_builder_add_int_value(b, (int64_t)g_array_index(del, guint64, j));
        json_builder_end_array(b);
        i = j + 1;
    }
    json_builder_end_array(b);
    stream_repl_snapshot(a->st, b);
    json_builder_set_member_name(b, "consumers");
    json_builder_begin_object(b);
    for (GTreeNode *node = g_tree_node_first(a->consumers); node != NULL; node = g_tree_node_next(node))
        jsonu_add_string(b, g_tree_node_key(node), g_tree_node_value(node));
    json_builder_end_object(b);
    json_builder_end_object(b);
    char *json = jsonu_builder_to_string(b);
    return g_bytes_new_take(json, strlen(json));
}

static void stream_restore(void *ctx, const uint8_t *data, size_t len) {
    Assignment *a = ctx;
    JsCluster *c = a->cl;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(data, len, &parser);
    int64_t first = 0, last = 0;
    JsonNode *dn = o != NULL ? json_object_get_member(o, "deleted") : NULL;
    JsonNode *cn = o != NULL ? json_object_get_member(o, "consumers") : NULL;
    if (o == NULL || !jsonu_get_int(o, "first_seq", &first) || !jsonu_get_int(o, "last_seq", &last) || first < 1 ||
        last < 0 || dn == NULL || !JSON_NODE_HOLDS_ARRAY(dn) || cn == NULL || !JSON_NODE_HOLDS_OBJECT(cn) ||
        a->st == NULL) {
        env_log(c->env, ENV_LOG_ERROR, "stream %s: malformed snapshot (%zu bytes) ignored", a->name, len);
        return;
    }
    g_autoptr(GArray) del = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    JsonArray *da = json_node_get_array(dn);
    for (guint i = 0; i < json_array_get_length(da); i++) {
        JsonNode *e = json_array_get_element(da, i);
        if (!JSON_NODE_HOLDS_ARRAY(e) || json_array_get_length(json_node_get_array(e)) != 2) continue;
        uint64_t x = (uint64_t)json_array_get_int_element(json_node_get_array(e), 0);
        uint64_t y = (uint64_t)json_array_get_int_element(json_node_get_array(e), 1);
        g_array_append_val(del, x);
        g_array_append_val(del, y);
    }
    g_tree_remove_all(a->consumers);
    JsonObject *co = json_node_get_object(cn);
    g_autoptr(GList) names = json_object_get_members(co);
    for (GList *l = names; l != NULL; l = l->next) {
        const char *rec = json_object_get_string_member_with_default(co, l->data, NULL);
        if (rec != NULL) g_tree_insert(a->consumers, g_strdup(l->data), g_strdup(rec));
    }
    stream_repl_restore(a->st, o, (uint64_t)first, del);
    StoreState s;
    store_state(stream_store(a->st), &s);
    if (s.last_seq < (uint64_t)last) cu_start(a, (uint64_t)last, nrg_applied(a->nrg));
    else if (a->cu_active) cu_finish(a, "a newer snapshot needs nothing more");
}

static void stream_conf(void *ctx) { reconcile(ctx); }

static const NrgCallbacks STREAM_CB = {.apply = stream_apply, .state = stream_state, .snapshot = stream_snapshot,
                                       .restore = stream_restore, .conf = stream_conf};

/* This server is one of a's peers: open (or adopt) the local stream and join the group. */
static void host_stream(JsCluster *c, Assignment *a, bool fresh) {
    g_autoptr(GError) err = NULL;
    Stream *st = jetstream_lookup(c->js, a->name);
    if (st != NULL && !stream_config_equal(stream_config(st), a->cfg)) {
        if (!jetstream_update(c->js, st, stream_config_copy(a->cfg), &err))
            env_log(c->env, ENV_LOG_ERROR, "stream %s: cannot take the cluster's config: %s", a->name, err->message);
        g_clear_error(&err);
    }
    if (st == NULL) st = jetstream_add(c->js, stream_config_copy(a->cfg), &err);
    if (st != NULL && store_damaged(stream_store(st)) > 0) {
        /* recovery dropped messages it found corrupt: this copy has holes where committed
         * messages were (Jepsen NATS #7549). Start the store afresh: the group's snapshot, if
         * it has one, makes it fetch what the snapshot covers from its peers (SNAPSHOTS AND
         * CATCH-UP), and the Raft log after it rebuilds the rest. */
        env_log(c->env, ENV_LOG_WARN, "stream %s: %" G_GUINT64_FORMAT " messages lost to corruption in the local store:"
                " rebuilding it from the group's snapshot, its peers and the Raft log", a->name,
                store_damaged(stream_store(st)));
        jetstream_delete(c->js, st);
        st = jetstream_add(c->js, stream_config_copy(a->cfg), &err);
    }
    if (st == NULL) {
        env_log(c->env, ENV_LOG_ERROR, "stream %s: cannot host a replica: %s", a->name, err->message);
        return;
    }
    stream_set_subscribed(st, false);
    a->st = st;
    stream_set_repl(st, &REPL, a);
    consumer_set_release(consumer_set_of(st), false); /* files of an older life: the log decides */
    consumer_set_set_repl(consumer_set_of(st), &CREPL, a);
    g_autofree char *dir = g_build_filename(c->dir, a->group, NULL);
    /* joining an existing group with no files of it (added, or added again after leaving):
     * not one of its first members meanwhile, and no vote (NrgConfig.joining). A first
     * member restarting has its directory, made when it first opened the group. */
    bool joining = !fresh && !env_path_exists(c->env, dir);
    StoreSyncPolicy policy;
    int64_t interval;
    jetstream_sync_policy(c->js, &policy, &interval); /* the stream groups' logs follow the stores' policy */
    NrgConfig nc = {.group = a->group, .dir = dir, .self = c->self, .peers = a->peers, .n_peers = (size_t)a->n_peers,
                    .boot_peers = a->boot, .n_boot_peers = (size_t)a->n_boot, .joining = joining,
                    .sync_interval_ns = interval, .bug = nrg_bug(c), .observe = c->observe, .observe_ctx = c->observe_ctx,
                    .snapshot_entries = c->snapshot_entries, .snapshot_bytes = c->snapshot_bytes};
    a->lazy = interval != 0;
    char hex[9];
    g_autofree char *serve = g_strdup_printf("_MJ.CU.%s.%s", a->group, nrg_peer_hex(c->self, hex));
    a->cu_reply = g_strdup_printf("_MJ.CUR.%s.%s", a->group, hex);
    a->cu_serve_sub = server_subscribe_internal(c->srv, serve, NULL, cu_serve, a);
    a->cu_reply_sub = server_subscribe_internal(c->srv, a->cu_reply, NULL, cu_batch, a);
    g_autofree char *lv = g_strdup_printf("_MJ.LV.%s.%s", a->group, hex);
    a->lv_serve_sub = server_subscribe_internal(c->srv, lv, NULL, leave_serve, a);
    a->nrg = nrg_new(c->srv, &nc, &STREAM_CB, a, &err);
    if (a->nrg == NULL) {
        env_log(c->env, ENV_LOG_ERROR, "stream %s: cannot open its raft group: %s", a->name, err->message);
        consumer_set_set_repl(consumer_set_of(st), NULL, NULL);
        stream_set_repl(st, NULL, NULL);
        a->st = NULL;
        return;
    }
    track(a); /* voters its log names that the peers do not (leaving ones): heard from, counted */
    if ((fresh && a->peers[0] == c->self) || a->n_peers == 1) nrg_campaign(a->nrg);
}

/* ------------------------------------------------------------------ leaving a group (SCALING) */

/* A member's answer to a leaving one's question, "may I go?": {"id":<this server>,
 * "removed":<index>, "applied":<index>, "behind":<bool>}. "removed" (the leader's) is the
 * index of a committed configuration without the asker, 0 while there is none; "applied"
 * and "behind" say whether this replica's store holds everything through it yet (a catch-up
 * fetches the rest from peers, and maybe from the asker: SCALING). */
static void leave_serve(void *ctx, const ServerMsg *m) {
    Assignment *a = ctx;
    guint64 id = 0;
    g_autofree char *body = g_strndup((const char *)m->payload, m->payload_len);
    if (a->nrg == NULL || m->reply_len == 0 || !g_ascii_string_to_unsigned(body, 10, 1, G_MAXUINT32, &id, NULL) ||
        has_peer(a->peers, a->n_peers, (uint32_t)id))
        return;
    /* the configuration's index; one from a snapshot (or the bootstrap) is at most that */
    uint64_t removed = nrg_voter_removed(a->nrg, (uint32_t)id)
                           ? MAX(MAX(nrg_conf_index(a->nrg), nrg_snapshot_index(a->nrg)), 1) : 0;
    g_autofree char *answer = g_strdup_printf("{\"id\":%u,\"removed\":%" G_GUINT64_FORMAT ",\"applied\":%" G_GUINT64_FORMAT
                                              ",\"behind\":%s}", a->cl->self, removed, nrg_applied(a->nrg),
                                              a->cu_active || nrg_held(a->nrg) ? "true" : "false");
    g_autofree char *reply = g_strndup(m->reply, m->reply_len);
    server_publish(a->cl->srv, reply, NULL, NULL, 0, answer, strlen(answer));
}

static void leave_tick(void *arg);

static void leave_answer(void *ctx, const ServerMsg *m) {
    Assignment *a = ctx;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    int64_t id = 0, removed = 0, applied = 0;
    bool behind = true;
    if (!a->leaving || a->left || o == NULL || !jsonu_get_int(o, "id", &id) || !jsonu_get_int(o, "removed", &removed) ||
        !jsonu_get_int(o, "applied", &applied) || !jsonu_get_bool(o, "behind", &behind))
        return;
    if (removed > 0) a->lv_removed = MAX(a->lv_removed, (uint64_t)removed);
    for (int i = 0; i < a->n_peers; i++)
        if (a->peers[i] == (uint32_t)id) {
            a->lv_ans[i].round = a->lv_round;
            a->lv_ans[i].applied = (uint64_t)applied;
            a->lv_ans[i].behind = behind;
        }
}

/* May this leaving server go? Its removal committed, and a majority of the peers (the new
 * configuration) answered in the last round that its store holds everything through that
 * commit, with no catch-up running: from then on nobody needs this replica's vote, and
 * every message it holds is on a quorum of the others, where a peer that is down or behind
 * now fetches it later (its catch-up asks them). Waiting for every peer would keep it
 * forever when one is down for good. */
static bool leave_done(Assignment *a) {
    if (a->lv_removed == 0) return false;
    int whole = 0;
    for (int i = 0; i < a->n_peers; i++)
        whole += a->lv_ans[i].round == a->lv_round && !a->lv_ans[i].behind && a->lv_ans[i].applied >= a->lv_removed;
    return whole > a->n_peers / 2;
}

static void leave_stop(JsCluster *c, Assignment *a) {
    env_timer_cancel(c->env, a->ltimer);
    a->ltimer = 0;
    if (a->lv_reply_sub != NULL) server_unsubscribe_internal(c->srv, a->lv_reply_sub);
    a->lv_reply_sub = NULL;
    a->leaving = a->left = false;
    a->lv_removed = 0;
    memset(a->lv_ans, 0, sizeof a->lv_ans);
}

/* Each round: judge the last round's answers, then ask every peer again. */
static void leave_tick(void *arg) {
    Assignment *a = arg;
    JsCluster *c = a->cl;
    a->ltimer = 0;
    if (leave_done(a)) return drop_replica(c, a);
    a->lv_round++;
    char hex[9], me[12];
    g_snprintf(me, sizeof me, "%u", c->self);
    g_autofree char *reply = g_strdup_printf("_MJ.LVR.%s.%s", a->group, nrg_peer_hex(c->self, hex));
    for (int i = 0; i < a->n_peers; i++) {
        g_autofree char *to = g_strdup_printf("_MJ.LV.%s.%s", a->group, nrg_peer_hex(a->peers[i], hex));
        server_publish(c->srv, to, reply, NULL, 0, me, strlen(me));
    }
    a->ltimer = env_timer_add(c->env, LIMIT_CLUSTER_LEAVE_POLL_NS, leave_tick, a);
}

/* This server is no longer one of a's peers. It stays a member of the group until the
 * leader has committed a configuration without it (it may be needed for that very commit:
 * scaling 3 -> 1 removes two voters one at a time, and the second must vote on the first's
 * removal), asking every LIMIT_CLUSTER_LEAVE_POLL_NS; then it deletes its replica. */
static void leave_start(JsCluster *c, Assignment *a) {
    memset(a->lv_ans, 0, sizeof a->lv_ans); /* indexed as the peers, which just changed */
    if (a->leaving) return;
    a->leaving = true;
    a->left = false;
    a->lv_removed = 0;
    a->lv_round = 1;
    memset(a->lv_ans, 0, sizeof a->lv_ans);
    char hex[9];
    g_autofree char *reply = g_strdup_printf("_MJ.LVR.%s.%s", a->group, nrg_peer_hex(c->self, hex));
    a->lv_reply_sub = server_subscribe_internal(c->srv, reply, NULL, leave_answer, a);
    env_log(c->env, ENV_LOG_INFO, "stream %s: this server was removed from its peers: leaving the group", a->name);
    leave_tick(a);
}

static void assignment_free(Assignment *a) {
    consumers_reset(a);
    leave_stop(a->cl, a);
    if (a->lv_serve_sub != NULL) server_unsubscribe_internal(a->cl->srv, a->lv_serve_sub);
    env_timer_cancel(a->cl->env, a->cu_timer);
    env_timer_cancel(a->cl->env, a->mtimer);
    if (a->cu_serve_sub != NULL) server_unsubscribe_internal(a->cl->srv, a->cu_serve_sub);
    if (a->cu_reply_sub != NULL) server_unsubscribe_internal(a->cl->srv, a->cu_reply_sub);
    g_free(a->cu_reply);
    if (a->st != NULL) {
        consumer_set_release(consumer_set_of(a->st), false);
        consumer_set_set_repl(consumer_set_of(a->st), NULL, NULL);
        stream_set_repl(a->st, NULL, NULL);
    }
    g_tree_destroy(a->consumers);
    g_tree_destroy(a->cdirty);
    g_hash_table_destroy(a->cinflight);
    g_array_free(a->removals, TRUE);
    nrg_free(a->nrg);
    stream_config_free(a->cfg);
    g_free(a->name);
    g_free(a->group);
    g_free(a->reply);
    g_ptr_array_unref(a->raced);
    g_free(a);
}

/* ------------------------------------------------------------------ the meta log */

static void add_peers(JsonBuilder *b, const char *member, const uint32_t *peers, int n) {
    json_builder_set_member_name(b, member);
    json_builder_begin_array(b);
    for (int i = 0; i < n; i++) json_builder_add_int_value(b, peers[i]);
    json_builder_end_array(b);
}

/* A meta entry. `base`, for a change to an existing stream: the assignment it was computed
 * from, whose peers go in as "from" (ONE CHANGE AT A TIME). */
static char *meta_entry(const char *op, Assignment *a, const Assignment *base, const StreamConfig *cfg,
                        const char *name, const char *reply) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "op", op);
    jsonu_add_string(b, "name", name);
    if (base != NULL) add_peers(b, "from", base->peers, base->n_peers);
    if (a != NULL) {
        jsonu_add_string(b, "group", a->group);
        jsonu_add_int(b, "created", a->created_ns);
        add_peers(b, "peers", a->peers, a->n_peers);
        add_peers(b, "boot", a->boot, a->n_boot);
    }
    if (cfg != NULL) {
        json_builder_set_member_name(b, "config");
        stream_config_build(cfg, b);
    }
    if (reply != NULL) jsonu_add_string(b, "reply", reply);
    json_builder_end_object(b);
    return jsonu_builder_to_string(b);
}

static StreamConfig *entry_config(JsonObject *o) {
    JsonNode *n = json_object_get_member(o, "config");
    if (n == NULL || !JSON_NODE_HOLDS_OBJECT(n)) return NULL;
    g_autoptr(GError) err = NULL;
    StreamConfig *cfg = stream_config_parse(json_node_get_object(n), &err);
    if (cfg != NULL && !stream_config_validate(cfg, &err)) g_clear_pointer(&cfg, stream_config_free);
    return cfg;
}

static int name_cmp(gconstpointer a, gconstpointer b, gpointer unused) { return strcmp(a, b); }

static int read_peers(JsonNode *pn, uint32_t *out) {
    JsonArray *pa = json_node_get_array(pn);
    int n = 0;
    for (guint i = 0; i < json_array_get_length(pa) && n < LIMIT_CLUSTER_REPLICAS_MAX; i++)
        out[n++] = (uint32_t)json_array_get_int_element(pa, i);
    return n;
}

static bool has_peer(const uint32_t *peers, int n, uint32_t id) {
    for (int i = 0; i < n; i++)
        if (peers[i] == id) return true;
    return false;
}

/* This server is no longer one of a's peers: leave the group and delete the replica (the
 * Raft files and the stream's directory). The assignment stays: the stream lives on. */
static void drop_replica(JsCluster *c, Assignment *a) {
    Stream *st = a->st;
    consumers_reset(a);
    env_timer_cancel(c->env, a->cu_timer);
    env_timer_cancel(c->env, a->mtimer);
    a->cu_timer = a->mtimer = 0;
    if (a->cu_serve_sub != NULL) server_unsubscribe_internal(c->srv, a->cu_serve_sub);
    if (a->cu_reply_sub != NULL) server_unsubscribe_internal(c->srv, a->cu_reply_sub);
    if (a->lv_serve_sub != NULL) server_unsubscribe_internal(c->srv, a->lv_serve_sub);
    a->cu_serve_sub = a->cu_reply_sub = a->lv_serve_sub = NULL;
    leave_stop(c, a);
    g_clear_pointer(&a->cu_reply, g_free);
    a->cu_active = false;
    if (st != NULL) {
        stream_set_subscribed(st, false);
        consumer_set_set_repl(consumer_set_of(st), NULL, NULL);
        stream_set_repl(st, NULL, NULL);
    }
    a->st = NULL;
    a->leading = false;
    g_clear_pointer(&a->reply, g_free);
    g_ptr_array_set_size(a->raced, 0);
    nrg_destroy(g_steal_pointer(&a->nrg));
    if (st != NULL) jetstream_delete(c->js, st);
    env_log(c->env, ENV_LOG_INFO, "stream %s: this server left the group: replica deleted", a->name);
}

/* The stream's Raft leader moves the group's voters toward a->peers, one change at a time
 * (raft.c): removals first, this server's own last, then additions, except that it adds
 * first when a removal could not commit (see SCALING, "the order of the steps"). A change
 * Raft refuses for now (one pending, or no commit in this term yet) is retried every 100 ms. */
static void reconcile_tick(void *arg) {
    Assignment *a = arg;
    a->mtimer = 0;
    reconcile(a);
}

/* The members the driver tracks (heard from, info, quorum): the peers, then the voters not
 * among them (leaving: still needed until their removal commits). */
static void track(Assignment *a) {
    size_t nv, nt;
    const uint32_t *v = nrg_voters(a->nrg, &nv);
    const uint32_t *t = nrg_peers(a->nrg, &nt);
    uint32_t want[LIMIT_CLUSTER_PEERS_MAX + LIMIT_CLUSTER_REPLICAS_MAX];
    size_t n = 0;
    for (int i = 0; i < a->n_peers; i++) want[n++] = a->peers[i];
    for (size_t i = 0; i < nv; i++)
        if (!has_peer(a->peers, a->n_peers, v[i])) want[n++] = v[i];
    if (a->leaving && !has_peer((const uint32_t *)want, (int)n, a->cl->self)) want[n++] = a->cl->self;
    if (n != nt || memcmp(want, t, n * sizeof *want) != 0) nrg_set_peers(a->nrg, want, n);
}

/* Would the voters v without `without` have a live majority (each heard from within
 * LIMIT_CLUSTER_LIVE_NS: a few heartbeats, so a server that just died counts as down)? */
static bool live_majority(Assignment *a, const uint32_t *v, size_t nv, uint32_t without) {
    size_t n = 0, live = 0;
    for (size_t i = 0; i < nv; i++)
        if (v[i] != without) n++, live += nrg_heard(a->nrg, v[i], LIMIT_CLUSTER_LIVE_NS);
    return live > n / 2;
}

static void reconcile(Assignment *a) {
    JsCluster *c = a->cl;
    if (a->nrg == NULL) return;
    track(a);
    if (!nrg_is_leader(a->nrg)) return;
    size_t nv;
    const uint32_t *v = nrg_voters(a->nrg, &nv);
    uint32_t remove = 0, add = 0;
    bool remove_live = false; /* the voters left after removing `remove` have a live majority */
    /* which voter to remove first, best first: another server whose removal leaves a live
     * majority; another server; its own (last). Scaling {n1,n2,n5} to {n1} with n2 silent
     * (a voter that never opened the group), removing n5 first left {n1,n2}, which could
     * commit nothing more, and every later change waited behind it (failover-scale-random
     * seeds 131, 343); removing n2 first leaves {n1,n5}, live */
    int best = -1;
    for (size_t i = 0; i < nv; i++) {
        if (has_peer(a->peers, a->n_peers, v[i])) continue;
        bool live = live_majority(a, v, nv, v[i]);
        int rank = 2 * (v[i] != c->self) + live;
        if (rank > best) best = rank, remove = v[i], remove_live = live;
    }
    for (int i = 0; i < a->n_peers; i++) {
        bool voter = false;
        for (size_t j = 0; j < nv; j++) voter |= v[j] == a->peers[i];
        if (!voter && add == 0) add = a->peers[i];
    }
    /* removing first keeps the group small, unless the configuration after the removal has
     * no live majority (it could not commit: a remaining voter is down), or the one to remove
     * is the last voter (an R1 stream moved to another server; failover-scale-random seed
     * 269): then add first */
    if (remove != 0 && add != 0 && ((remove == c->self && nv == 1) || !remove_live)) remove = 0;
    if (remove == c->self && nv == 1) return;
    if (remove == 0 && add == 0) return;
    /* only while this server hears the meta group's leader: one restarted or cut off may
     * hold an older catalogue, and adding a server a newer one no longer names (so it never
     * joins) leaves a change pending that can never commit, and no other can follow
     * (failover-scale-random seed 293) */
    g_autoptr(GError) err = NULL;
    if (!meta_leader_known(c))
        ;
    else if (nrg_change_peer(a->nrg, remove == 0, remove != 0 ? remove : add, &err))
        env_log(c->env, ENV_LOG_INFO, "stream %s: %s peer %s", a->name, remove != 0 ? "removing" : "adding",
                peer_name(c, remove != 0 ? remove : add));
    if (a->mtimer == 0) a->mtimer = env_timer_add(c->env, 100 * 1000000LL, reconcile_tick, a);
}

/* A new peer set (PEER.REMOVE, a scaling update): a new peer joins the group, a removed one
 * leaves it (leave_start), the stream's leader moves the voters (reconcile). */
static void set_stream_peers(JsCluster *c, Assignment *a, const uint32_t *peers, int n) {
    bool was = a->nrg != NULL, mine = has_peer(peers, n, c->self);
    memcpy(a->peers, peers, (size_t)n * sizeof *peers);
    a->n_peers = n;
    if (!was && mine) return host_stream(c, a, false);
    if (!was) return;
    if (mine) leave_stop(c, a);
    else leave_start(c, a);
    reconcile(a);
}

/* The "peers" of a meta entry, when it has them and they differ from a's (0: keep a's). */
static int entry_peers(JsonObject *o, const Assignment *a, uint32_t *peers) {
    JsonNode *pn = json_object_get_member(o, "peers");
    int n = pn != NULL && JSON_NODE_HOLDS_ARRAY(pn) ? read_peers(pn, peers) : 0;
    if (n == a->n_peers && memcmp(peers, a->peers, (size_t)n * sizeof *peers) == 0) return 0;
    return n;
}

/* ONE CHANGE AT A TIME (see SCALING): an entry computed from peers the stream no longer has
 * (another change was committed between the meta leader's look and this entry) is refused on
 * every server alike, and the meta leader answers it. Entries without "from" (a snapshot's,
 * a log written before it existed) apply as they are. */
static bool entry_base_ok(JsCluster *c, JsonObject *o, const Assignment *a, const char *reply, const char *kind) {
    JsonNode *fn = json_object_get_member(o, "from");
    if (fn == NULL || !JSON_NODE_HOLDS_ARRAY(fn)) return true;
    uint32_t from[LIMIT_CLUSTER_REPLICAS_MAX];
    int n = read_peers(fn, from);
    if (n == a->n_peers && memcmp(from, a->peers, (size_t)n * sizeof *from) == 0) return true;
    env_log(c->env, ENV_LOG_INFO, "stream %s: a change computed from older peers is not applied (another change came"
            " first)", a->name);
    if (reply != NULL && meta_ready(c)) {
        g_autoptr(GError) e = NULL;
        mj_js_error(&e, MJ_ERR_JS_STREAM_GENERAL, "the stream's peers changed while this request waited: retry");
        reply_gerror(c, reply, kind, e);
    }
    return false;
}

static void apply_stream_peers(JsCluster *c, JsonObject *o, const char *name, const char *reply) {
    Assignment *a = g_tree_lookup(c->streams, name);
    if (a == NULL || !entry_base_ok(c, o, a, reply, "stream_remove_peer_response")) return;
    uint32_t peers[LIMIT_CLUSTER_REPLICAS_MAX];
    int n = entry_peers(o, a, peers);
    if (n > 0) set_stream_peers(c, a, peers, n);
    if (reply != NULL && meta_ready(c)) reply_success(c, reply, "stream_remove_peer_response");
}

/* A create that reached the meta leader before the one that made the stream was applied (two
 * clients, or one asking again: NO META LEADER YET re-files waiting creates together) lost the
 * race here, on every server alike. It is answered as a create of an existing stream is
 * (api_create): a different config by the meta leader (10058), the same one by the stream's
 * leader, now or once it leads. It used to get no answer at all. */
static void create_raced(JsCluster *c, Assignment *a, const StreamConfig *cfg, const char *reply) {
    const char *kind = "stream_create_response";
    if (!stream_config_equal(a->cfg, cfg)) {
        if (!meta_ready(c)) return;
        g_autoptr(GError) e = NULL;
        mj_js_error(&e, MJ_ERR_JS_STREAM_NAME_EXISTS, NULL);
        reply_gerror(c, reply, kind, e);
    } else if (a->st != NULL && a->leading && nrg_ready(a->nrg)) {
        send_stream_reply(a, reply, kind, false);
    } else if (a->nrg != NULL && (nrg_leader(a->nrg) == 0 || nrg_leader(a->nrg) == c->self)) {
        g_ptr_array_add(a->raced, g_strdup(reply)); /* stream_state answers when it leads */
    }
}

static void apply_stream_add(JsCluster *c, JsonObject *o, const char *name, const char *reply, bool replay) {
    const char *group = NULL;
    int64_t created = 0;
    JsonNode *pn = json_object_get_member(o, "peers");
    StreamConfig *cfg = entry_config(o);
    if (!jsonu_get_string(o, "group", &group) || group == NULL || !jsonu_get_int(o, "created", &created) ||
        pn == NULL || !JSON_NODE_HOLDS_ARRAY(pn) || cfg == NULL) {
        stream_config_free(cfg);
        env_log(c->env, ENV_LOG_ERROR, "meta: malformed stream_add for %s ignored", name);
        return;
    }
    Assignment *won = g_tree_lookup(c->streams, name);
    if (won != NULL) { /* two creates raced: the first one won */
        if (reply != NULL && !replay) create_raced(c, won, cfg, reply);
        stream_config_free(cfg);
        return;
    }
    Assignment *a = g_new0(Assignment, 1);
    a->cl = c;
    a->name = g_strdup(name);
    a->group = g_strdup(group);
    a->cfg = cfg;
    a->created_ns = created;
    a->consumers = g_tree_new_full(name_cmp, NULL, g_free, g_free);
    a->cdirty = g_tree_new_full(name_cmp, NULL, g_free, (GDestroyNotify)creplies_free);
    a->cinflight = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    a->removals = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    a->raced = g_ptr_array_new_with_free_func(g_free);
    a->n_peers = read_peers(pn, a->peers);
    bool mine = false;
    for (int i = 0; i < a->n_peers; i++) mine |= a->peers[i] == c->self;
    JsonNode *bn = json_object_get_member(o, "boot");
    a->n_boot = bn != NULL && JSON_NODE_HOLDS_ARRAY(bn) ? read_peers(bn, a->boot) : 0;
    if (a->n_boot == 0) {
        memcpy(a->boot, a->peers, sizeof a->boot);
        a->n_boot = a->n_peers;
    }
    g_tree_insert(c->streams, a->name, a);
    if (!mine) {
        /* not a peer, but its group's files are here: it was leaving when it stopped (a
         * catalogue restored from a meta snapshot says so), and may still be a voter the
         * others need: it rejoins to finish leaving (SCALING) */
        g_autofree char *dir = g_build_filename(c->dir, a->group, NULL);
        if (env_path_exists(c->env, dir)) {
            host_stream(c, a, false);
            if (a->nrg != NULL) leave_start(c, a);
        }
        return;
    }
    if (reply != NULL && !replay) {
        a->reply = g_strdup(reply);
        a->reply_kind = "stream_create_response";
    }
    host_stream(c, a, reply != NULL);
}

static void update_replica(JsCluster *c, Assignment *a, const char *reply);

static void apply_stream_update(JsCluster *c, JsonObject *o, const char *name, const char *reply) {
    Assignment *a = g_tree_lookup(c->streams, name);
    if (a == NULL || !entry_base_ok(c, o, a, reply, "stream_update_response")) return;
    StreamConfig *cfg = entry_config(o);
    if (cfg == NULL) return;
    stream_config_free(a->cfg);
    a->cfg = cfg;
    /* num_replicas changed: the new peer set (SCALING). The leader's answer lists the peers a
     * growing group had (the new ones are still joining) and those a shrinking group keeps,
     * as nats-server 2.9.10's does. */
    uint32_t peers[LIMIT_CLUSTER_REPLICAS_MAX];
    int n = entry_peers(o, a, peers);
    bool grow = n > a->n_peers;
    if (n > 0 && !grow) set_stream_peers(c, a, peers, n);
    if (a->st != NULL) update_replica(c, a, reply);
    if (n > 0 && grow) set_stream_peers(c, a, peers, n);
}

/* Take a's new config on this server's replica; the leader answers the update. */
static void update_replica(JsCluster *c, Assignment *a, const char *reply) {
    StreamConfig *cfg = a->cfg;
    const char *name = a->name;
    g_autoptr(GError) err = NULL;
    if (!jetstream_update(c->js, a->st, stream_config_copy(cfg), &err)) {
        env_log(c->env, ENV_LOG_ERROR, "stream %s: update not applied here: %s", name, err->message);
        if (reply != NULL && nrg_ready(a->nrg)) {
            g_autoptr(GError) e2 = NULL;
            mj_js_error(&e2, MJ_ERR_JS_STREAM_GENERAL, "%s", err->message);
            reply_gerror(c, reply, "stream_update_response", e2);
        }
        return;
    }
    if (a->leading) leader_interest(a); /* stream_update resubscribes only if subscribed */
    if (reply != NULL && nrg_ready(a->nrg)) send_stream_reply(a, reply, "stream_update_response", false);
}

static void apply_stream_del(JsCluster *c, const char *name, const char *reply) {
    Assignment *a = g_tree_lookup(c->streams, name);
    if (a == NULL) return;
    g_tree_steal(c->streams, name);
    Stream *st = a->st;
    Nrg *nrg = g_steal_pointer(&a->nrg);
    if (st != NULL) {
        consumers_reset(a);
        consumer_set_set_repl(consumer_set_of(st), NULL, NULL);
        stream_set_repl(st, NULL, NULL);
    }
    a->st = NULL;
    nrg_destroy(nrg);
    if (st != NULL) jetstream_delete(c->js, st);
    assignment_free(a);
    if (reply != NULL && meta_ready(c)) {
        ServerMsg m = {0};
        JsApiReq r = jetstream_api_req(c->js, &m, g_strdup(reply));
        jsapi_begin(&r, "stream_delete_response");
        jsonu_add_bool(r.b, "success", true);
        jsapi_send(&r, false);
        g_free(r.reply);
    }
}

static void meta_apply(void *ctx, uint64_t index, const uint8_t *data, size_t len) {
    JsCluster *c = ctx;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(data, len, &parser);
    const char *op = NULL, *name = NULL, *reply = NULL;
    if (o == NULL || !jsonu_get_string(o, "op", &op) || op == NULL || !jsonu_get_string(o, "name", &name) ||
        name == NULL || !jsonu_get_string(o, "reply", &reply)) {
        env_log(c->env, ENV_LOG_ERROR, "meta: malformed entry %" G_GUINT64_FORMAT " ignored", index);
        return;
    }
    /* an entry of this server's earlier life, replayed at boot: its requester was answered
     * then (or gave up); a whole cluster restarting must not answer it again */
    bool replay = index <= nrg_boot_last(c->meta);
    if (strcmp(op, "stream_add") == 0) apply_stream_add(c, o, name, reply, replay);
    else if (strcmp(op, "stream_update") == 0) apply_stream_update(c, o, name, replay ? NULL : reply);
    else if (strcmp(op, "stream_del") == 0) apply_stream_del(c, name, replay ? NULL : reply);
    else if (strcmp(op, "stream_peers") == 0) apply_stream_peers(c, o, name, replay ? NULL : reply);
    else env_log(c->env, ENV_LOG_ERROR, "meta: unknown op %s ignored", op);
}

static bool meta_settled(JsCluster *c);
static void unpark(JsCluster *c);

static void meta_state(void *ctx) {
    JsCluster *c = ctx;
    if (meta_settled(c) && !g_queue_is_empty(&c->parked)) unpark(c); /* NO META LEADER YET */
}

/* The meta group's snapshot is the catalogue: {"streams":[stream_add entries, by name]}. */
static GBytes *meta_snapshot(void *ctx) {
    JsCluster *c = ctx;
    GString *out = g_string_new("{\"streams\":[");
    for (GTreeNode *node = g_tree_node_first(c->streams); node != NULL; node = g_tree_node_next(node)) {
        Assignment *a = g_tree_node_value(node);
        g_autofree char *e = meta_entry("stream_add", a, NULL, a->cfg, a->name, NULL);
        if (node != g_tree_node_first(c->streams)) g_string_append_c(out, ',');
        g_string_append(out, e);
    }
    g_string_append(out, "]}");
    gsize len = out->len;
    return g_bytes_new_take(g_string_free(out, FALSE), len);
}

/* Make the catalogue the snapshot's: add what is missing, update what changed, delete what
 * it no longer has. */
static void meta_restore(void *ctx, const uint8_t *data, size_t len) {
    JsCluster *c = ctx;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(data, len, &parser);
    JsonNode *sn = o != NULL ? json_object_get_member(o, "streams") : NULL;
    if (sn == NULL || !JSON_NODE_HOLDS_ARRAY(sn)) {
        env_log(c->env, ENV_LOG_ERROR, "meta: malformed snapshot (%zu bytes) ignored", len);
        return;
    }
    JsonArray *sa = json_node_get_array(sn);
    g_autoptr(GHashTable) keep = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < json_array_get_length(sa); i++) {
        JsonNode *e = json_array_get_element(sa, i);
        const char *name = NULL;
        if (!JSON_NODE_HOLDS_OBJECT(e) || !jsonu_get_string(json_node_get_object(e), "name", &name) || name == NULL)
            continue;
        JsonObject *eo = json_node_get_object(e);
        g_hash_table_add(keep, (gpointer)name);
        Assignment *a = g_tree_lookup(c->streams, name);
        if (a == NULL) {
            apply_stream_add(c, eo, name, NULL, true);
            continue;
        }
        g_autoptr(StreamConfig) cfg = entry_config(eo);
        if (cfg != NULL && !stream_config_equal(a->cfg, cfg)) apply_stream_update(c, eo, name, NULL);
        apply_stream_peers(c, eo, name, NULL);
    }
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
    for (GTreeNode *node = g_tree_node_first(c->streams); node != NULL; node = g_tree_node_next(node))
        if (!g_hash_table_contains(keep, g_tree_node_key(node))) g_ptr_array_add(gone, g_strdup(g_tree_node_key(node)));
    for (guint i = 0; i < gone->len; i++) apply_stream_del(c, g_ptr_array_index(gone, i), NULL);
}

static const NrgCallbacks META_CB = {
    .apply = meta_apply, .state = meta_state, .snapshot = meta_snapshot, .restore = meta_restore};

static bool meta_propose(JsCluster *c, const char *entry, const ServerMsg *m, const char *kind) {
    g_autoptr(GError) err = NULL;
    if (nrg_propose(c->meta, entry, strlen(entry), &err)) return true;
    reply_error(c, m, kind, MJ_ERR_JS_UNAVAILABLE, NULL);
    return false;
}

/* ------------------------------------------------------------------ the API (meta leader) */

static int hosted_count(JsCluster *c, uint32_t peer) {
    int n = 0;
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    GTreeNode *node = g_tree_node_first(c->streams);
    for (; node != NULL; node = g_tree_node_next(node)) {
        Assignment *a = g_tree_node_value(node);
        for (int i = 0; i < a->n_peers; i++) n += a->peers[i] == peer;
    }
    return n;
}

static bool peer_live(JsCluster *c, uint32_t peer) {
    NrgPeerInfo pi;
    nrg_peer_info(c->meta, peer, &pi);
    return peer == c->self || !pi.offline;
}

/* The live members in PLACEMENT's order (spec 6.1, simplified): fewest hosted streams first.
 * Returns how many. */
static int candidates(JsCluster *c, uint32_t *live) {
    size_t n;
    const uint32_t *members = nrg_peers(c->meta, &n);
    int load[LIMIT_CLUSTER_PEERS_MAX];
    uint64_t tie[LIMIT_CLUSTER_PEERS_MAX];
    int nl = 0;
    for (size_t i = 0; i < n; i++) {
        if (!peer_live(c, members[i])) continue;
        live[nl] = members[i];
        load[nl] = hosted_count(c, members[i]);
        tie[nl] = env_random_u64(c->env);
        nl++;
    }
    for (int i = 1; i < nl; i++) /* insertion sort by (load, tie) */
        for (int j = i; j > 0 && (load[j] < load[j - 1] || (load[j] == load[j - 1] && tie[j] < tie[j - 1])); j--) {
            uint32_t t = live[j]; live[j] = live[j - 1]; live[j - 1] = t;
            int l = load[j]; load[j] = load[j - 1]; load[j - 1] = l;
            uint64_t x = tie[j]; tie[j] = tie[j - 1]; tie[j - 1] = x;
        }
    return nl;
}

/* Pick r peers, not one of `except` (the group's own when it grows): more than the
 * members, 10005; enough members but too few of them live, 10005 "peer offline". */
static bool place(JsCluster *c, int r, const uint32_t *except, int n_except, uint32_t *out, GError **error) {
    size_t n;
    nrg_peers(c->meta, &n);
    if ((size_t)(r + n_except) > n) {
        mj_js_error(error, MJ_ERR_JS_NO_SUITABLE_PEERS, NULL);
        return false;
    }
    uint32_t live[LIMIT_CLUSTER_PEERS_MAX];
    int nl = candidates(c, live), k = 0;
    for (int i = 0; i < nl && k < r; i++)
        if (!has_peer(except, n_except, live[i])) out[k++] = live[i];
    if (k < r) {
        mj_js_error(error, MJ_ERR_JS_NO_SUITABLE_PEERS, "no suitable peers for placement, peer offline");
        return false;
    }
    return true;
}

static bool overlaps(JsCluster *c, const StreamConfig *cfg, const char *except) {
    for (GTreeNode *node = g_tree_node_first(c->streams); node != NULL; node = g_tree_node_next(node)) {
        Assignment *a = g_tree_node_value(node);
        if (except != NULL && strcmp(a->name, except) == 0) continue;
        for (char **x = cfg->subjects; *x != NULL; x++)
            for (char **y = a->cfg->subjects; *y != NULL; y++)
                if (subject_patterns_overlap(*x, *y)) return true;
    }
    return false;
}

/* Decode and validate a create/update body; answers the error itself. */
static StreamConfig *req_config(JsCluster *c, const ServerMsg *m, const char *name, const char *kind) {
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    if (o == NULL) {
        reply_error(c, m, kind, MJ_ERR_JS_INVALID_JSON, NULL);
        return NULL;
    }
    g_autoptr(GError) e = NULL;
    g_autoptr(StreamConfig) cfg = stream_config_parse(o, &e);
    if (cfg != NULL && strcmp(cfg->name, name) != 0)
        mj_js_error(&e, MJ_ERR_JS_STREAM_NAME_MISMATCH, NULL);
    else if (cfg != NULL && stream_config_validate(cfg, &e))
        stream_config_check_template(cfg, strcmp(kind, "stream_create_response") == 0, &e);
    if (e != NULL) {
        JsApiReq r = jetstream_api_req(c->js, m, g_strndup(m->reply, m->reply_len));
        jsapi_begin(&r, kind);
        jsapi_error(&r, e);
        g_free(r.reply);
        return NULL;
    }
    return g_steal_pointer(&cfg);
}

static void api_create(JsCluster *c, const ServerMsg *m, const char *name, const char *reply) {
    const char *kind = "stream_create_response";
    g_autoptr(StreamConfig) cfg = req_config(c, m, name, kind);
    if (cfg == NULL) return;
    Assignment *old = g_tree_lookup(c->streams, name);
    if (cfg->sealed) {
        reply_error(c, m, kind, MJ_ERR_JS_STREAM_INVALID_CONFIG, "stream configuration for create can not be sealed");
        return;
    }
    if (old != NULL) {
        if (!stream_config_equal(old->cfg, cfg)) return reply_error(c, m, kind, MJ_ERR_JS_STREAM_NAME_EXISTS, NULL);
        /* CREATE is idempotent: the stream's leader answers with its info (create_existing
         * when that is another server) */
        if (old->st != NULL && old->leading) return send_stream_reply(old, reply, kind, true);
        return;
    }
    if (overlaps(c, cfg, NULL)) return reply_error(c, m, kind, MJ_ERR_JS_STREAM_SUBJECT_OVERLAP, NULL);
    Assignment a = {.n_peers = (int)cfg->num_replicas, .created_ns = env_wall_ns(c->env)};
    g_autoptr(GError) e = NULL;
    if (!place(c, a.n_peers, NULL, 0, a.peers, &e)) {
        JsApiReq r = jetstream_api_req(c->js, m, g_strdup(reply));
        jsapi_begin(&r, kind);
        jsapi_error(&r, e);
        g_free(r.reply);
        return;
    }
    static const char az[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char group[11] = "S-";
    for (int i = 2; i < 10; i++) group[i] = az[env_random_u64(c->env) % (sizeof az - 1)];
    a.group = group;
    g_autofree char *entry = meta_entry("stream_add", &a, NULL, cfg, name, reply);
    meta_propose(c, entry, m, kind);
}

/* A CREATE of a stream that exists with the same config is idempotent, and only the stream's
 * leader knows its state: when another server leads the meta group, the stream's leader
 * answers it (a bad or different config is the meta leader's to refuse). */
static void create_existing(JsCluster *c, const ServerMsg *m, const char *name, const char *reply) {
    Assignment *a = g_tree_lookup(c->streams, name);
    if (a == NULL || a->st == NULL || !a->leading || !nrg_ready(a->nrg)) return;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    if (o == NULL) return;
    g_autoptr(StreamConfig) cfg = stream_config_parse(o, NULL);
    if (cfg != NULL && strcmp(cfg->name, name) == 0 && stream_config_validate(cfg, NULL) &&
        stream_config_equal(a->cfg, cfg))
        send_stream_reply(a, reply, "stream_create_response", true);
}

/* SCALING (book 11.12): the peer set for r replicas. Growing keeps every peer and adds live
 * servers as PLACEMENT picks them (10005 when there are too few); shrinking keeps the
 * stream's leader (as this server's replica knows it, else as the leader announced itself:
 * LEADER ANNOUNCEMENTS), then live peers, in order. */
static bool scale(JsCluster *c, const Assignment *a, int r, Assignment *next, GError **error) {
    next->n_peers = 0;
    if (r > a->n_peers) {
        if (!place(c, r - a->n_peers, a->peers, a->n_peers, next->peers + a->n_peers, error)) return false;
        memcpy(next->peers, a->peers, (size_t)a->n_peers * sizeof *a->peers);
        next->n_peers = r;
        return true;
    }
    uint32_t leader = a->nrg != NULL && nrg_leader(a->nrg) != 0 ? nrg_leader(a->nrg) : a->led_by;
    if (has_peer(a->peers, a->n_peers, leader) && peer_live(c, leader)) next->peers[next->n_peers++] = leader;
    for (int pass = 0; pass < 2; pass++) /* live ones first */
        for (int i = 0; i < a->n_peers && next->n_peers < r; i++)
            if (!has_peer(next->peers, next->n_peers, a->peers[i]) && peer_live(c, a->peers[i]) == (pass == 0))
                next->peers[next->n_peers++] = a->peers[i];
    return true;
}

static void api_update(JsCluster *c, const ServerMsg *m, const char *name, const char *reply) {
    const char *kind = "stream_update_response";
    g_autoptr(StreamConfig) cfg = req_config(c, m, name, kind);
    if (cfg == NULL) return;
    Assignment *a = g_tree_lookup(c->streams, name);
    if (a == NULL) return reply_error(c, m, kind, MJ_ERR_JS_STREAM_NOT_FOUND, NULL);
    g_autoptr(GError) e = NULL;
    Assignment next = *a;
    if (!stream_config_check_update(a->cfg, cfg, &e))
        ;
    else if (overlaps(c, cfg, name))
        mj_js_error(&e, MJ_ERR_JS_STREAM_SUBJECT_OVERLAP, NULL);
    else if (cfg->num_replicas != a->cfg->num_replicas)
        scale(c, a, (int)cfg->num_replicas, &next, &e);
    if (e != NULL) {
        reply_gerror(c, reply, kind, e);
        return;
    }
    g_autofree char *entry = meta_entry("stream_update", next.n_peers != a->n_peers ? &next : NULL, a, cfg, name, reply);
    meta_propose(c, entry, m, kind);
}

static void api_delete(JsCluster *c, const ServerMsg *m, const char *name, const char *reply) {
    if (g_tree_lookup(c->streams, name) == NULL)
        return reply_error(c, m, "stream_delete_response", MJ_ERR_JS_STREAM_NOT_FOUND, NULL);
    g_autofree char *entry = meta_entry("stream_del", NULL, NULL, NULL, name, reply);
    meta_propose(c, entry, m, "stream_delete_response");
}

static void reply_success(JsCluster *c, const char *reply, const char *kind) {
    ServerMsg m = {0};
    JsApiReq r = jetstream_api_req(c->js, &m, g_strdup(reply));
    jsapi_begin(&r, kind);
    jsonu_add_bool(r.b, "success", true);
    jsapi_send(&r, false);
    g_free(r.reply);
}

static void stepdown(JsCluster *c, Nrg *nrg, const ServerMsg *m, const char *reply, const char *kind) {
    g_autoptr(GError) e = NULL;
    if (nrg_stepdown(nrg, &e)) return reply_success(c, reply, kind);
    reply_error(c, m, kind, MJ_ERR_JS_STREAM_GENERAL, e->message);
}

/* STREAM.PEER.REMOVE.<s> {"peer":"<server name>"} on the meta leader (see PEER REMOVAL):
 * nats-server's answers for a body without a peer (10003) and for a server that is not a
 * member (10040); for a member, the new peer set goes through the meta log and the answer
 * (success) when it is applied. */
static void peer_remove(JsCluster *c, Assignment *a, const ServerMsg *m, const char *kind) {
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    const char *peer = NULL;
    if (o == NULL || !jsonu_get_string(o, "peer", &peer) || peer == NULL || peer[0] == '\0')
        return reply_error(c, m, kind, MJ_ERR_JS_BAD_REQUEST, NULL);
    int gone = -1;
    for (int i = 0; i < a->n_peers; i++)
        if (g_strcmp0(peer_name(c, a->peers[i]), peer) == 0) gone = i;
    if (gone < 0) return reply_error(c, m, kind, MJ_ERR_JS_PEER_NOT_MEMBER, NULL);
    /* the replacement: the first live server PLACEMENT would pick that is not in the group */
    uint32_t replacement = 0;
    if (!place(c, 1, a->peers, a->n_peers, &replacement, NULL)) replacement = 0;
    /* None: the group shrinks. (nats-server 2.9.10 shrinks it too, but answers 503 10075
     * "peer remap failed" most of the time, measured live: minijet says what happened.) */
    Assignment next = *a;
    next.n_peers = 0;
    for (int i = 0; i < a->n_peers; i++)
        if (i != gone) next.peers[next.n_peers++] = a->peers[i];
    if (replacement != 0) next.peers[next.n_peers++] = replacement;
    if (next.n_peers == 0) return reply_error(c, m, kind, MJ_ERR_JS_STREAM_GENERAL, "cannot remove the only peer");
    g_autofree char *reply = g_strndup(m->reply, m->reply_len);
    g_autofree char *entry = meta_entry("stream_peers", &next, a, NULL, a->name, reply);
    meta_propose(c, entry, m, kind);
}

/* Propose an API request as a stream entry (PURGE, MSG.DELETE): every replica runs it. */
static void propose_api(JsCluster *c, Assignment *a, const ServerMsg *m, const char *kind, bool purge) {
    /* A purge is bounded by what precedes it in the log (THE STORE BEHIND THE LOG: an entry
     * may be applied again at restart, over a store that already holds later messages) */
    g_autofree char *bounded = NULL;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = purge ? (m->payload_len > 0 ? jsonu_parse_object(m->payload, m->payload_len, &parser) : NULL) : NULL;
    if (purge && (o != NULL || m->payload_len == 0) && a->st != NULL) {
        g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(root, o != NULL ? json_object_ref(o) : json_object_new());
        json_object_set_int_member(json_node_get_object(root), "_mj_upto", (gint64)stream_repl_last_seq(a->st));
        bounded = jsonu_to_string(root);
    }
    ServerMsg copy = *m;
    if (bounded != NULL) {
        copy.payload = (const uint8_t *)bounded;
        copy.payload_len = strlen(bounded);
        m = &copy;
    }
    size_t n = 1 + 2 + m->subject_len + 2 + m->reply_len + 4 + m->payload_len;
    g_autofree uint8_t *buf = g_malloc(n);
    uint8_t *p = buf;
    *p++ = OP_API;
    put16(p, (uint16_t)m->subject_len), p += 2;
    memcpy(p, m->subject, m->subject_len), p += m->subject_len;
    put16(p, (uint16_t)m->reply_len), p += 2;
    memcpy(p, m->reply, m->reply_len), p += m->reply_len;
    put32(p, (uint32_t)m->payload_len), p += 4;
    if (m->payload_len) memcpy(p, m->payload, m->payload_len);
    g_autoptr(GError) err = NULL;
    if (!nrg_propose(a->nrg, buf, n, &err)) reply_error(c, m, kind, MJ_ERR_JS_UNAVAILABLE, NULL);
}


/* ------------------------------------------------------------------ the catalogue's answers
 *
 * NAMES, LIST and INFO are the meta leader's, about every stream in the catalogue, wherever
 * it lives. NAMES needs only the catalogue. LIST and INFO need each stream's state, which
 * only its leader knows: the meta leader asks each one (an internal STREAM.INFO request
 * whose reply comes back to _MJ.SI.<self>.<id>.<index>) and answers when all have replied or
 * LIMIT_CLUSTER_GATHER_NS has passed; LIST names the silent ones in "missing", as
 * nats-server does, and INFO counts what it got. */

typedef struct Gather {
    JsCluster *cl;
    uint32_t id;
    bool list;
    char *reply;
    GPtrArray *names;  /* char*, the streams asked, in order */
    GPtrArray *infos;  /* JsonNode* per name (the reply's object), NULL until it answers */
    guint waiting;
    int64_t total, offset;
    GBytes *account;   /* INFO: the local answer, to be given the cluster-wide numbers */
    EnvTimer timer;
} Gather;

static void gather_free(Gather *g) {
    env_timer_cancel(g->cl->env, g->timer);
    g_free(g->reply);
    g_ptr_array_free(g->names, TRUE);
    for (guint i = 0; i < g->infos->len; i++)
        if (g_ptr_array_index(g->infos, i) != NULL) json_node_unref(g_ptr_array_index(g->infos, i));
    g_ptr_array_free(g->infos, TRUE);
    if (g->account != NULL) g_bytes_unref(g->account);
    g_free(g);
}

static bool subjects_overlap(const StreamConfig *cfg, const char *filter) {
    if (filter == NULL) return true;
    for (char **x = cfg->subjects; *x != NULL; x++)
        if (subject_patterns_overlap(*x, filter)) return true;
    return false;
}

static void publish_json(JsCluster *c, const char *to, JsonBuilder *b) {
    g_autofree char *json = jsonu_builder_to_string(b);
    server_publish(c->srv, to, NULL, NULL, 0, json, strlen(json));
}

static void gather_finish(Gather *g) {
    JsCluster *c = g->cl;
    g_hash_table_steal(c->gathers, GUINT_TO_POINTER(g->id));
    g_autoptr(JsonBuilder) b = json_builder_new();
    if (g->list) {
        json_builder_begin_object(b);
        jsonu_add_string(b, "type", "io.nats.jetstream.api.v1.stream_list_response");
        jsonu_add_int(b, "total", g->total);
        jsonu_add_int(b, "offset", g->offset);
        jsonu_add_int(b, "limit", LIMIT_JS_API_LIST_PAGE_COUNT);
        json_builder_set_member_name(b, "streams");
        json_builder_begin_array(b);
        for (guint i = 0; i < g->infos->len; i++)
            if (g_ptr_array_index(g->infos, i) != NULL) json_builder_add_value(b, json_node_ref(g_ptr_array_index(g->infos, i)));
        json_builder_end_array(b);
        if (g->waiting > 0) {
            json_builder_set_member_name(b, "missing");
            json_builder_begin_array(b);
            for (guint i = 0; i < g->infos->len; i++)
                if (g_ptr_array_index(g->infos, i) == NULL) json_builder_add_string_value(b, g_ptr_array_index(g->names, i));
            json_builder_end_array(b);
        }
        json_builder_end_object(b);
        publish_json(c, g->reply, b);
    } else {
        int64_t memory = 0, storage = 0, consumers = 0;
        for (guint i = 0; i < g->infos->len; i++) {
            JsonNode *n = g_ptr_array_index(g->infos, i);
            if (n == NULL) continue;
            JsonObject *o = json_node_get_object(n);
            JsonObject *state = json_object_get_object_member(o, "state");
            JsonObject *cfg = json_object_get_object_member(o, "config");
            if (state == NULL || cfg == NULL) continue;
            int64_t bytes = json_object_get_int_member_with_default(state, "bytes", 0);
            if (g_strcmp0(json_object_get_string_member_with_default(cfg, "storage", "file"), "memory") == 0)
                memory += bytes;
            else
                storage += bytes;
            consumers += json_object_get_int_member_with_default(state, "consumer_count", 0);
        }
        gsize len;
        const char *p = g_bytes_get_data(g->account, &len);
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *o = jsonu_parse_object(p, len, &parser);
        if (o != NULL) {
            json_object_set_int_member(o, "memory", memory);
            json_object_set_int_member(o, "storage", storage);
            json_object_set_int_member(o, "streams", g_tree_nnodes(c->streams));
            json_object_set_int_member(o, "consumers", consumers);
            g_autoptr(JsonGenerator) gen = json_generator_new();
            json_generator_set_root(gen, json_parser_get_root(parser));
            g_autofree char *json = json_generator_to_data(gen, NULL);
            server_publish(c->srv, g->reply, NULL, NULL, 0, json, strlen(json));
        }
    }
    gather_free(g);
}

static void gather_timeout(void *arg) {
    Gather *g = arg;
    g->timer = 0;
    gather_finish(g);
}

static void on_gather(void *ctx, const ServerMsg *m) {
    JsCluster *c = ctx;
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    g_auto(GStrv) t = g_strsplit(subject, ".", -1);
    if (g_strv_length(t) != 5) return;
    guint64 id = 0, idx = 0;
    if (!g_ascii_string_to_unsigned(t[3], 10, 0, G_MAXUINT32, &id, NULL) ||
        !g_ascii_string_to_unsigned(t[4], 10, 0, G_MAXUINT32, &idx, NULL))
        return;
    Gather *g = g_hash_table_lookup(c->gathers, GUINT_TO_POINTER((guint)id));
    if (g == NULL || idx >= g->infos->len || g_ptr_array_index(g->infos, idx) != NULL) return;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    if (o == NULL || json_object_has_member(o, "error")) return; /* not the leader's: wait for it */
    json_object_remove_member(o, "type");
    json_object_remove_member(o, "domain"); /* nats-server 2.9.10's clustered LIST has none */
    g_ptr_array_index(g->infos, idx) = json_node_copy(json_parser_get_root(parser));
    if (--g->waiting == 0) gather_finish(g);
}

/* Ask every stream in names for its info; answer when they have (or time is up). */
static void gather_start(JsCluster *c, const ServerMsg *m, const char *reply, bool list, GPtrArray *names,
                         int64_t total, int64_t offset) {
    if (g_hash_table_size(c->gathers) >= LIMIT_CLUSTER_GATHERS_COUNT) {
        g_ptr_array_free(names, TRUE);
        return reply_error(c, m, list ? "stream_list_response" : "account_info_response", MJ_ERR_JS_UNAVAILABLE, NULL);
    }
    Gather *g = g_new0(Gather, 1);
    g->cl = c;
    g->id = ++c->gather_next;
    g->list = list;
    g->reply = g_strdup(reply);
    g->names = names;
    g->infos = g_ptr_array_new();
    g_ptr_array_set_size(g->infos, names->len);
    g->waiting = names->len;
    g->total = total;
    g->offset = offset;
    if (!list) { /* the account's own answer, for everything but the numbers */
        ServerMsg local = *m;
        local.reply = c->capture_subject;
        local.reply_len = strlen(c->capture_subject);
        g_clear_pointer(&c->captured, g_bytes_unref);
        jetstream_api_dispatch(c->js, &local);
        g->account = g_steal_pointer(&c->captured);
        if (g->account == NULL) {
            gather_free(g);
            return;
        }
    }
    g_hash_table_insert(c->gathers, GUINT_TO_POINTER(g->id), g);
    if (g->waiting == 0) return gather_finish(g);
    g->timer = env_timer_add(c->env, LIMIT_CLUSTER_GATHER_NS, gather_timeout, g);
    uint32_t id = g->id;
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *subj = g_strdup_printf("$JS.API.STREAM.INFO.%s", (char *)g_ptr_array_index(names, i));
        g_autofree char *to = g_strdup_printf("_MJ.SI.%08x.%u.%u", c->self, id, i);
        server_publish(c->srv, subj, to, NULL, 0, NULL, 0);
        if (g_hash_table_lookup(c->gathers, GUINT_TO_POINTER(id)) == NULL) return; /* all answered at once */
    }
}

/* STREAM.NAMES / LIST / INFO on the meta leader. */
static void answer_catalogue(JsCluster *c, const ServerMsg *m, const char *reply, const char *what) {
    if (strcmp(what, "INFO") == 0) {
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        for (GTreeNode *n = g_tree_node_first(c->streams); n != NULL; n = g_tree_node_next(n))
            g_ptr_array_add(names, g_strdup(g_tree_node_key(n)));
        return gather_start(c, m, reply, false, names, 0, 0);
    }
    bool list = strcmp(what, "LIST") == 0;
    const char *kind = list ? "stream_list_response" : "stream_names_response";
    int64_t offset = 0;
    const char *filter = NULL;
    g_autoptr(JsonParser) parser = NULL;
    if (m->payload_len > 0) {
        JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
        if (o == NULL || !jsonu_get_int(o, "offset", &offset) || !jsonu_get_string(o, "subject", &filter))
            return reply_error(c, m, kind, MJ_ERR_JS_INVALID_JSON, NULL);
        if (filter != NULL && filter[0] == '\0') filter = NULL;
    }
    g_autoptr(GPtrArray) match = g_ptr_array_new();
    for (GTreeNode *n = g_tree_node_first(c->streams); n != NULL; n = g_tree_node_next(n)) {
        Assignment *a = g_tree_node_value(n);
        if (subjects_overlap(a->cfg, filter)) g_ptr_array_add(match, a->name);
    }
    int64_t limit = list ? LIMIT_JS_API_LIST_PAGE_COUNT : LIMIT_JS_API_NAMES_PAGE_COUNT;
    int64_t total = match->len, off = CLAMP(offset, 0, total), end = MIN(total, off + limit);
    if (list) {
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        for (int64_t i = off; i < end; i++) g_ptr_array_add(names, g_strdup(g_ptr_array_index(match, (guint)i)));
        return gather_start(c, m, reply, true, names, total, off);
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "type", "io.nats.jetstream.api.v1.stream_names_response");
    jsonu_add_int(b, "total", total);
    jsonu_add_int(b, "offset", off);
    jsonu_add_int(b, "limit", limit);
    json_builder_set_member_name(b, "streams");
    if (off >= end) {
        json_builder_add_null_value(b); /* nats-server's nil slice; nats.js expects it */
    } else {
        json_builder_begin_array(b);
        for (int64_t i = off; i < end; i++) json_builder_add_string_value(b, g_ptr_array_index(match, (guint)i));
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    publish_json(c, reply, b);
}

/* The stream a request is about: STREAM.<verb>.<s>, STREAM.MSG.<verb>.<s>, DIRECT.GET.<s>...,
 * STREAM.LEADER.STEPDOWN.<s>, CONSUMER.<verb>.<s>..., CONSUMER.DURABLE.CREATE.<s>.<c>,
 * CONSUMER.MSG.NEXT.<s>.<c>, CONSUMER.LEADER.STEPDOWN.<s>.<c>. */
static const char *stream_of(char **t, guint n) {
    if (n >= 3 && strcmp(t[0], "STREAM") == 0) {
        if ((strcmp(t[1], "MSG") == 0 || strcmp(t[1], "LEADER") == 0 || strcmp(t[1], "PEER") == 0) && n >= 4) return t[3];
        return t[2];
    }
    if (n >= 3 && strcmp(t[0], "DIRECT") == 0) return t[2];
    if (n >= 3 && strcmp(t[0], "CONSUMER") == 0) {
        if ((strcmp(t[1], "DURABLE") == 0 || strcmp(t[1], "MSG") == 0 || strcmp(t[1], "LEADER") == 0) && n >= 4)
            return t[3];
        return t[2];
    }
    return NULL;
}

static const char *kind_of(char **t, guint n) {
    if (n >= 2 && strcmp(t[0], "STREAM") == 0) {
        if (strcmp(t[1], "INFO") == 0) return "stream_info_response";
        if (strcmp(t[1], "PURGE") == 0) return "stream_purge_response";
        if (strcmp(t[1], "NAMES") == 0) return "stream_names_response";
        if (strcmp(t[1], "LIST") == 0) return "stream_list_response";
        if (strcmp(t[1], "MSG") == 0 && n >= 3 && strcmp(t[2], "GET") == 0) return "stream_msg_get_response";
        if (strcmp(t[1], "MSG") == 0) return "stream_msg_delete_response";
        if (strcmp(t[1], "LEADER") == 0) return "stream_leader_stepdown_response";
        if (strcmp(t[1], "PEER") == 0) return "stream_remove_peer_response";
    }
    if (n >= 2 && strcmp(t[0], "CONSUMER") == 0) {
        if (strcmp(t[1], "INFO") == 0) return "consumer_info_response";
        if (strcmp(t[1], "NAMES") == 0) return "consumer_names_response";
        if (strcmp(t[1], "LIST") == 0) return "consumer_list_response";
        if (strcmp(t[1], "DELETE") == 0) return "consumer_delete_response";
        if (strcmp(t[1], "LEADER") == 0) return "consumer_leader_stepdown_response";
        return "consumer_create_response";
    }
    return "account_info_response";
}

/* NO META LEADER YET (book 11.3)
 *   A catalogue request (or one about a stream this server does not know) that arrives while
 *   this server knows no meta leader waits here, up to LIMIT_CLUSTER_UNAVAILABLE_DELAY_NS,
 *   instead of being answered 10008 at once; nats-server 2.9.10 delays that answer by the
 *   same 500 ms (spec nats-cluster.md 6.3). When a meta leader becomes known (on the leader
 *   itself: once it is ready), every waiting request is filtered again as if it had just
 *   arrived: the leader answers it and everyone else stays silent. Only a request still
 *   without a leader at its deadline gets 10008.
 *   WHY: every server receives every request and the first answer wins. While a cluster
 *   starts, the meta leader is elected by a majority while the others have not formed the
 *   group or heard the leader yet; answering 10008 at once, they beat the leader's answer,
 *   and a client that saw $JS.API.INFO succeed got 10008 for its next STREAM.CREATE. A
 *   request that reached the leader-to-be a moment before its election is answered too,
 *   instead of timing out. */
typedef struct Parked {
    ServerMsg m; /* its strings and bytes below, owned */
    char *subject, *reply;
    GBytes *hdr, *payload;
    const char *kind;  /* of its answer, for the 10008 */
    int64_t deadline_ns;
} Parked;

static bool api_filter(void *ctx, const ServerMsg *m);

static void parked_free(Parked *p) {
    g_free(p->subject);
    g_free(p->reply);
    g_bytes_unref(p->hdr);
    g_bytes_unref(p->payload);
    g_free(p);
}

/* A meta leader this server can count on: another server it heard lead, or itself, ready. */
static bool meta_settled(JsCluster *c) {
    return meta_leader_known(c) && (nrg_leader(c->meta) != c->self || meta_ready(c));
}

static void park_tick(void *arg);

static void park_arm(JsCluster *c) {
    env_timer_cancel(c->env, c->park_timer);
    c->park_timer = 0;
    Parked *first = g_queue_peek_head(&c->parked);
    if (first != NULL)
        c->park_timer = env_timer_add(c->env, MAX(0, first->deadline_ns - env_now_ns(c->env)), park_tick, c);
}

/* Filter the waiting requests again (a meta leader is known) or answer the overdue ones. */
static void unpark(JsCluster *c) {
    int64_t now = env_now_ns(c->env);
    bool settled = meta_settled(c);
    while (!g_queue_is_empty(&c->parked)) {
        Parked *p = g_queue_peek_head(&c->parked);
        if (!settled && p->deadline_ns > now) break; /* deadlines are in arrival order */
        g_queue_pop_head(&c->parked);
        if (settled) {
            if (!api_filter(c, &p->m)) jetstream_api_dispatch(c->js, &p->m);
        } else {
            reply_error(c, &p->m, p->kind, MJ_ERR_JS_UNAVAILABLE, NULL);
        }
        parked_free(p);
    }
    park_arm(c);
}

static void park_tick(void *arg) {
    JsCluster *c = arg;
    c->park_timer = 0;
    unpark(c);
}

/* Keep a request until a meta leader is known; a full queue answers 10008 at once. */
static void park(JsCluster *c, const ServerMsg *m, const char *kind) {
    if (g_queue_get_length(&c->parked) >= LIMIT_CLUSTER_PARKED_COUNT) {
        reply_error(c, m, kind, MJ_ERR_JS_UNAVAILABLE, NULL);
        return;
    }
    Parked *p = g_new0(Parked, 1);
    p->subject = g_strndup(m->subject, m->subject_len);
    p->reply = g_strndup(m->reply, m->reply_len);
    p->hdr = g_bytes_new(m->hdr, m->hdr_len);
    p->payload = g_bytes_new(m->payload, m->payload_len);
    p->kind = kind;
    p->deadline_ns = env_now_ns(c->env) + LIMIT_CLUSTER_UNAVAILABLE_DELAY_NS;
    p->m = *m;
    p->m.subject = p->subject;
    p->m.reply = p->reply;
    p->m.hdr = m->hdr_len > 0 ? g_bytes_get_data(p->hdr, NULL) : NULL;
    p->m.payload = g_bytes_get_data(p->payload, NULL);
    g_queue_push_tail(&c->parked, p);
    if (c->park_timer == 0) park_arm(c);
}

/* TRUE: handled here (answered or deliberately silent); FALSE: jsapi answers locally. */
static bool api_filter(void *ctx, const ServerMsg *m) {
    JsCluster *c = ctx;
    if (m->reply_len == 0) return true;
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    g_autofree char *reply = g_strndup(m->reply, m->reply_len);
    g_auto(GStrv) t = g_strsplit(subject + strlen("$JS.API."), ".", -1);
    guint n = g_strv_length(t);
    bool meta_leader = meta_ready(c);
    bool no_meta = !meta_leader_known(c);
    const char *kind = kind_of(t, n);

    if (n == 3 && strcmp(t[0], "META") == 0 && strcmp(t[1], "LEADER") == 0 && strcmp(t[2], "STEPDOWN") == 0) {
        if (meta_leader) stepdown(c, c->meta, m, reply, "meta_leader_stepdown_response");
        return true;
    }
    bool catalogue = (n == 1 && strcmp(t[0], "INFO") == 0) ||
                     (n == 2 && strcmp(t[0], "STREAM") == 0 && (strcmp(t[1], "NAMES") == 0 || strcmp(t[1], "LIST") == 0));
    bool shape = n == 3 && strcmp(t[0], "STREAM") == 0 &&
                 (strcmp(t[1], "CREATE") == 0 || strcmp(t[1], "UPDATE") == 0 || strcmp(t[1], "DELETE") == 0);
    if (catalogue || shape) {
        if (!meta_settled(c)) {
            park(c, m, shape ? (strcmp(t[1], "CREATE") == 0   ? "stream_create_response"
                                : strcmp(t[1], "UPDATE") == 0 ? "stream_update_response"
                                                              : "stream_delete_response")
                             : kind);
            return true;
        }
        if (!meta_leader) {
            if (shape && strcmp(t[1], "CREATE") == 0) create_existing(c, m, t[2], reply);
            return true;
        }
        if (catalogue) {
            answer_catalogue(c, m, reply, n == 1 ? "INFO" : t[1]);
            return true;
        }
        if (strcmp(t[1], "CREATE") == 0) api_create(c, m, t[2], reply);
        else if (strcmp(t[1], "UPDATE") == 0) api_update(c, m, t[2], reply);
        else api_delete(c, m, t[2], reply);
        return true;
    }
    const char *stream = stream_of(t, n);
    if (stream == NULL) return !meta_leader; /* unknown requests: one answer at most */
    Assignment *a = g_tree_lookup(c->streams, stream);
    if (a == NULL) {
        if (no_meta) park(c, m, kind);
        else if (meta_leader && strcmp(t[0], "DIRECT") != 0)
            reply_error(c, m, kind, MJ_ERR_JS_STREAM_NOT_FOUND, NULL);
        return true;
    }
    if (n == 4 && strcmp(t[0], "STREAM") == 0 && strcmp(t[1], "PEER") == 0 && strcmp(t[2], "REMOVE") == 0) {
        if (meta_leader) peer_remove(c, a, m, kind);
        return true;
    }
    /* its leader answers; `leading` lags a deposition until the group's next Ready pass (a
     * stale leader woken from a pause steps down inside a message handler): ask Raft too */
    if (a->nrg == NULL || !a->leading || !nrg_ready(a->nrg)) return true;
    if (strcmp(t[0], "STREAM") == 0 && strcmp(t[1], "LEADER") == 0) {
        stepdown(c, a->nrg, m, reply, kind);
        return true;
    }
    if (strcmp(t[0], "CONSUMER") == 0 && strcmp(t[1], "LEADER") == 0) { /* the stream's group moves */
        if (n != 5 || consumer_set_lookup(set_of(a), t[4]) == NULL)
            reply_error(c, m, kind, MJ_ERR_JS_CONSUMER_NOT_FOUND, NULL);
        else if (a->n_peers == 1)
            reply_success(c, reply, kind); /* nats-server: success, and nothing can move */
        else
            stepdown(c, a->nrg, m, reply, kind);
        return true;
    }
    if (strcmp(t[0], "CONSUMER") == 0 &&
        (strcmp(t[1], "CREATE") == 0 || strcmp(t[1], "DURABLE") == 0 || (strcmp(t[1], "DELETE") == 0 && n == 4))) {
        bool del = strcmp(t[1], "DELETE") == 0;
        consumer_write(c, a, m, reply, del, del ? t[3] : NULL);
        return true;
    }
    if (strcmp(t[0], "STREAM") == 0 &&
        (strcmp(t[1], "PURGE") == 0 || (strcmp(t[1], "MSG") == 0 && n == 4 && strcmp(t[2], "DELETE") == 0))) {
        propose_api(c, a, m, kind, strcmp(t[1], "PURGE") == 0);
        return true;
    }
    return false; /* INFO, MSG.GET, DIRECT.GET, CONSUMER.*: the leader's local answer */
}

/* ------------------------------------------------------------------ peers and the meta group */

static void start_meta(JsCluster *c, const uint32_t *peers, size_t n) {
    g_autofree char *dir = g_build_filename(c->dir, "_meta_", NULL);
    /* the catalogue is small and changes rarely: always fsynced, whatever the streams' policy */
    NrgConfig nc = {.group = "_meta_", .dir = dir, .self = c->self, .peers = peers, .n_peers = n, .bug = nrg_bug(c),
                    .observe = c->observe, .observe_ctx = c->observe_ctx,
                    .snapshot_entries = c->meta_snapshot_entries, .snapshot_bytes = c->snapshot_bytes};
    g_autoptr(GError) err = NULL;
    c->meta = nrg_new(c->srv, &nc, &META_CB, c, &err);
    if (c->meta == NULL) {
        env_log(c->env, ENV_LOG_ERROR, "JetStream cluster: cannot open the meta group: %s", err->message);
        return;
    }
    env_log(c->env, ENV_LOG_INFO, "JetStream cluster: meta group of %zu servers", n);
}

/* FORMING THE META GROUP (book 11.3)
 *   A fresh server knows the routes list, not the servers' names, so it announces itself:
 *   {"name","id","formed"} on $JSC.HELLO, every LIMIT_CLUSTER_HELLO_NS until it has formed
 *   the group and once when it does. A server that hears an announcement from a server new
 *   to it, or from one that has not formed yet, answers that server alone, on
 *   $JSC.HELLO.<its id>; an answer is never answered. The first announcements leave before
 *   the routes are up and reach nobody; the tick repeats them, and whichever side of a new
 *   route announces first is answered, so each pair knows the other one tick after its
 *   route is up.
 *   WHY NOT THE OBVIOUS WAY: answering every announcement with an announcement to all is a
 *   storm. Two servers that have not formed answer each other's answers for ever, and each
 *   answer goes to every server, each of which answers again: on five real servers
 *   megabytes of hellos queued on the routes, every event loop spent its time parsing them,
 *   Raft's ticks came every 0.3-0.7 s instead of every 50 ms, and vote requests waited
 *   behind the hellos. That was the first meta election's 0.3-5 s on five servers.
 *
 * THE FIRST ELECTION
 *   A fresh meta group (term 0, nothing in its log) would wait for an election timeout, and
 *   the vote requests of a server that formed first reach nobody: the others have no Raft
 *   group yet, so no subscription for them. But a "formed" announcement tells us the sender
 *   has subscribed its Raft inbox, and its route carried that subscription before the
 *   announcement (one ordered connection). So the group's first member (the lowest id, the
 *   same on every server) campaigns at once when it knows a majority of the members, itself
 *   included, has formed: its vote requests reach a majority, and the group has a leader one
 *   vote round (a term-and-vote fsync on each side) later. If that vote is lost the others'
 *   election timeouts still elect someone, as before; nothing here touches safety, which is
 *   Raft's at any moment a campaign starts. */
static void send_hello(JsCluster *c, uint32_t to) {
    g_autofree char *hello = g_strdup_printf("{\"name\":\"%s\",\"id\":%u,\"formed\":%s}", c->name, c->self,
                                             c->meta != NULL ? "true" : "false");
    char hex[9];
    g_autofree char *subject = to == 0 ? g_strdup("$JSC.HELLO") : g_strdup_printf("$JSC.HELLO.%s", nrg_peer_hex(to, hex));
    server_publish(c->srv, subject, NULL, NULL, 0, hello, strlen(hello));
}

static gint id_cmp(gconstpointer a, gconstpointer b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* THE FIRST ELECTION (above): the first member of a fresh meta group campaigns once a
 * majority of the members has formed. */
static void first_campaign(JsCluster *c) {
    if (c->meta == NULL || c->campaigned || nrg_term(c->meta) != 0 || nrg_leader(c->meta) != 0) return;
    size_t n;
    const uint32_t *peers = nrg_peers(c->meta, &n);
    uint32_t first = c->self;
    size_t formed = 0;
    for (size_t i = 0; i < n; i++) {
        first = MIN(first, peers[i]);
        formed += peers[i] == c->self || g_hash_table_contains(c->formed, GUINT_TO_POINTER(peers[i]));
    }
    if (first != c->self || formed < n / 2 + 1) return;
    c->campaigned = true;
    env_log(c->env, ENV_LOG_DEBUG, "JetStream cluster: %zu of %zu servers formed the meta group: campaigning", formed, n);
    nrg_campaign(c->meta);
}

/* Enough servers known: the meta group is the sorted set of the first `size` ids. */
static void try_form(JsCluster *c) {
    if (c->meta != NULL || (int)g_hash_table_size(c->names) < c->size) return;
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, c->names);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        uint32_t id = GPOINTER_TO_UINT(k);
        g_array_append_val(ids, id);
    }
    g_array_sort(ids, id_cmp);
    g_array_set_size(ids, (guint)c->size);
    bool in = false;
    for (guint i = 0; i < ids->len; i++) in |= g_array_index(ids, uint32_t, i) == c->self;
    if (!in) {
        env_log(c->env, ENV_LOG_ERROR, "JetStream cluster: more servers than the routes list; this one is left out");
        return;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "peers");
    json_builder_begin_array(b);
    for (guint i = 0; i < ids->len; i++) {
        uint32_t id = g_array_index(ids, uint32_t, i);
        json_builder_begin_object(b);
        jsonu_add_string(b, "name", peer_name(c, id));
        jsonu_add_int(b, "id", id);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    g_autofree char *path = g_build_filename(c->dir, "meta.json", NULL);
    g_autoptr(GError) err = NULL;
    if (!env_file_write_atomic(c->env, path, json, strlen(json), &err)) {
        env_log(c->env, ENV_LOG_ERROR, "JetStream cluster: cannot write %s: %s", path, err->message);
        return;
    }
    start_meta(c, (const uint32_t *)(void *)ids->data, ids->len);
    send_hello(c, 0); /* tell the others we formed (after start_meta subscribed our Raft inbox) */
    first_campaign(c);
}

/* An announcement: to all ($JSC.HELLO) or an answer to ours ($JSC.HELLO.<our id>). */
static void on_hello(void *ctx, const ServerMsg *m) {
    JsCluster *c = ctx;
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(m->payload, m->payload_len, &parser);
    const char *name = NULL;
    int64_t id = 0;
    bool formed = false;
    if (o == NULL || !jsonu_get_string(o, "name", &name) || name == NULL || !jsonu_get_int(o, "id", &id) ||
        !jsonu_get_bool(o, "formed", &formed) || (uint32_t)id != nrg_peer_id(name) || (uint32_t)id == c->self)
        return;
    bool is_new = !g_hash_table_contains(c->names, GUINT_TO_POINTER((uint32_t)id));
    if (is_new) {
        g_hash_table_insert(c->names, GUINT_TO_POINTER((uint32_t)id), g_strdup(name));
        env_log(c->env, ENV_LOG_INFO, "JetStream cluster: peer %s", name);
    }
    if (formed) g_hash_table_add(c->formed, GUINT_TO_POINTER((uint32_t)id));
    if (m->subject_len == strlen("$JSC.HELLO") && (is_new || !formed)) send_hello(c, (uint32_t)id);
    try_form(c);
    first_campaign(c);
}

static void hello_tick(void *arg) {
    JsCluster *c = arg;
    c->hello_timer = 0;
    if (c->meta != NULL) return;
    send_hello(c, 0);
    c->hello_timer = env_timer_add(c->env, LIMIT_CLUSTER_HELLO_NS, hello_tick, c);
}

/* A restart: the meta group's members and their names come from meta.json. */
static bool load_meta(JsCluster *c, GError **error) {
    g_autofree char *path = g_build_filename(c->dir, "meta.json", NULL);
    if (!env_path_exists(c->env, path)) return true;
    g_autoptr(GBytes) data = NULL;
    if (!env_file_read_all(c->env, path, &data, error)) return false;
    gsize len;
    const void *p = g_bytes_get_data(data, &len);
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(p, len, &parser);
    JsonNode *pn = o != NULL ? json_object_get_member(o, "peers") : NULL;
    if (pn == NULL || !JSON_NODE_HOLDS_ARRAY(pn)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a cluster membership file", path);
        return false;
    }
    JsonArray *pa = json_node_get_array(pn);
    uint32_t ids[LIMIT_CLUSTER_PEERS_MAX];
    size_t n = 0;
    for (guint i = 0; i < json_array_get_length(pa) && n < LIMIT_CLUSTER_PEERS_MAX; i++) {
        JsonNode *e = json_array_get_element(pa, i);
        const char *name = NULL;
        int64_t id = 0;
        if (!JSON_NODE_HOLDS_OBJECT(e) || !jsonu_get_string(json_node_get_object(e), "name", &name) || name == NULL ||
            !jsonu_get_int(json_node_get_object(e), "id", &id))
            continue;
        ids[n++] = (uint32_t)id;
        g_hash_table_replace(c->names, GUINT_TO_POINTER((uint32_t)id), g_strdup(name));
    }
    start_meta(c, ids, n);
    return true;
}

/* ------------------------------------------------------------------ life cycle */

static void check_hook(void *ctx, bool full) { jscluster_check_invariants(ctx); }

JsCluster *jscluster_new(Server *srv, JetStream *js, const JsClusterConfig *cfg, GError **error) {
    Env *env = server_env(srv);
    if (cfg->server_name == NULL || cfg->server_name[0] == '\0') {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "jetstream cluster requires `server_name` to be set");
        return NULL;
    }
    g_autofree char *dir = g_build_filename(jetstream_store_dir(js), "cluster", NULL);
    if (!env_dir_make(env, dir, error)) return NULL;
    JsCluster *c = g_new0(JsCluster, 1);
    c->srv = srv;
    c->js = js;
    c->env = env;
    c->name = g_strdup(cfg->server_name);
    c->cluster_name = g_strdup(cfg->cluster_name != NULL ? cfg->cluster_name : "minijet");
    c->dir = g_steal_pointer(&dir);
    c->size = CLAMP(cfg->size, 1, LIMIT_CLUSTER_PEERS_MAX);
    c->bug = cfg->bug;
    c->observe = cfg->observe;
    c->observe_ctx = cfg->observe_ctx;
    c->snapshot_entries = cfg->snapshot_entries;
    c->meta_snapshot_entries = cfg->meta_snapshot_entries;
    c->snapshot_bytes = cfg->snapshot_bytes;
    c->self = nrg_peer_id(c->name);
    c->names = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    g_hash_table_insert(c->names, GUINT_TO_POINTER(c->self), g_strdup(c->name));
    c->streams = g_tree_new((GCompareFunc)strcmp);
    jetstream_set_clustered(js, true);
    jetstream_set_api_filter(js, api_filter, c);
    /* Streams on disk wait, silent, until the meta log says this server hosts them. */
    g_autoptr(GPtrArray) local = jetstream_streams(js);
    for (guint i = 0; i < local->len; i++) stream_set_subscribed(g_ptr_array_index(local, i), false);
    c->hello_sub = server_subscribe_internal(srv, "$JSC.HELLO", NULL, on_hello, c);
    char hex[9];
    g_autofree char *answers = g_strdup_printf("$JSC.HELLO.%s", nrg_peer_hex(c->self, hex));
    c->hello_answer_sub = server_subscribe_internal(srv, answers, NULL, on_hello, c);
    c->formed = g_hash_table_new(g_direct_hash, g_direct_equal);
    c->led_sub = server_subscribe_internal(srv, "$JSC.LEADER", NULL, on_leader, c);
    c->capture_subject = g_strdup_printf("_MJ.CAP.%08x", c->self);
    c->capture_sub = server_subscribe_internal(srv, c->capture_subject, NULL, on_capture, c);
    c->check_hook = server_add_check(srv, check_hook, c); /* after JetStream's: the chain's order */
    c->unclaimed_hook = server_on_unclaimed(srv, on_unclaimed, c);
    c->gathers = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)gather_free);
    g_autofree char *gather_subject = g_strdup_printf("_MJ.SI.%08x.>", c->self);
    c->gather_sub = server_subscribe_internal(srv, gather_subject, NULL, on_gather, c);
    g_autoptr(GError) err = NULL;
    if (!load_meta(c, &err)) {
        env_log(env, ENV_LOG_ERROR, "JetStream cluster: %s", err->message);
        jscluster_free(c);
        g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    try_form(c); /* a cluster of one */
    if (c->meta == NULL) c->hello_timer = env_timer_add(env, 0, hello_tick, c);
    return c;
}

void jscluster_free(JsCluster *c) {
    if (c == NULL) return;
    jetstream_set_api_filter(c->js, NULL, NULL);
    server_remove_hook(c->srv, c->check_hook);
    server_remove_hook(c->srv, c->unclaimed_hook);
    server_unsubscribe_internal(c->srv, c->hello_sub);
    server_unsubscribe_internal(c->srv, c->hello_answer_sub);
    env_timer_cancel(c->env, c->park_timer);
    g_queue_clear_full(&c->parked, (GDestroyNotify)parked_free);
    g_hash_table_destroy(c->formed);
    server_unsubscribe_internal(c->srv, c->led_sub);
    server_unsubscribe_internal(c->srv, c->capture_sub);
    server_unsubscribe_internal(c->srv, c->gather_sub);
    g_hash_table_destroy(c->gathers);
    g_free(c->capture_subject);
    if (c->captured != NULL) g_bytes_unref(c->captured);
    env_timer_cancel(c->env, c->hello_timer);
    nrg_free(c->meta);
    for (GTreeNode *node = g_tree_node_first(c->streams); node != NULL; node = g_tree_node_next(node))
        assignment_free(g_tree_node_value(node));
    g_tree_destroy(c->streams);
    g_hash_table_destroy(c->names);
    g_free(c->name);
    g_free(c->cluster_name);
    g_free(c->dir);
    g_free(c);
}

/* ------------------------------------------------------------------ what the monitor shows */

void jscluster_build_meta(JsCluster *c, JsonBuilder *b) {
    jsonu_add_string(b, "name", c->cluster_name);
    uint32_t leader = meta_leader_known(c) ? nrg_leader(c->meta) : 0;
    char hex[9];
    if (leader != 0) {
        jsonu_add_string(b, "leader", peer_name(c, leader));
        jsonu_add_string(b, "peer", nrg_peer_hex(leader, hex));
    }
    if (c->meta != NULL && nrg_is_leader(c->meta)) {
        size_t n;
        const uint32_t *peers = nrg_peers(c->meta, &n);
        json_builder_set_member_name(b, "replicas");
        json_builder_begin_array(b);
        for (size_t i = 0; i < n; i++) {
            if (peers[i] == c->self) continue;
            NrgPeerInfo pi = {0};
            nrg_peer_info(c->meta, peers[i], &pi);
            json_builder_begin_object(b);
            jsonu_add_string(b, "name", peer_name(c, peers[i]));
            jsonu_add_bool(b, "current", pi.current);
            jsonu_add_int(b, "active", pi.active_ns);
            jsonu_add_string(b, "peer", nrg_peer_hex(peers[i], hex));
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    jsonu_add_int(b, "cluster_size", c->size);
}

int64_t jscluster_ha_assets(JsCluster *c) {
    int64_t n = c->meta != NULL;
    for (GTreeNode *node = g_tree_node_first(c->streams); node != NULL; node = g_tree_node_next(node))
        n += ((Assignment *)g_tree_node_value(node))->nrg != NULL;
    return n;
}

guint jscluster_consumer_count(JsCluster *c, Stream *st) {
    Assignment *a = g_tree_lookup(c->streams, stream_name(st));
    if (a == NULL || a->st != st || a->leading) return consumer_set_count(consumer_set_of(st));
    return (guint)g_tree_nnodes(a->consumers);
}

bool jscluster_raft_log(JsCluster *c, const char *stream, uint64_t *entries, uint64_t *bytes, uint64_t *snapshot) {
    Assignment *a = stream != NULL ? g_tree_lookup(c->streams, stream) : NULL;
    Nrg *n = stream == NULL ? c->meta : a != NULL ? a->nrg : NULL;
    if (n == NULL) return false;
    *entries = nrg_log_entries(n);
    *bytes = nrg_log_bytes(n);
    *snapshot = nrg_snapshot_index(n);
    return true;
}

void jscluster_check_invariants(JsCluster *c) {
    for (GTreeNode *node = g_tree_node_first(c->streams); node != NULL; node = g_tree_node_next(node)) {
        Assignment *a = g_tree_node_value(node);
        g_assert_cmpint(a->n_peers, >=, 1);
        g_assert_true((a->st != NULL) == (a->nrg != NULL));
        if (a->st != NULL) g_assert_true(jetstream_lookup(c->js, a->name) == a->st);
        /* a deposed leader learns it in a message handler; its owner is told (and stops
         * leading) in the Ready pass already scheduled then (found by the simulator:
         * failover-pause, a stale leader woken up) */
        if (a->leading) g_assert_true(nrg_is_leader(a->nrg) || nrg_pending(a->nrg));
    }
}
