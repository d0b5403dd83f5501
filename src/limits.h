/* limits.h — every limit minijet enforces, in one place.
 *
 * Reaching a limit is an error sent to the client (or a refused connection), never
 * unbounded growth and never a crash. Units come last in names (TigerBeetle style):
 * _bytes, _ns, _count. Where nats-server 2.9.10 has the same limit we use its default,
 * so a client sees the same behaviour against both servers.
 */
#ifndef MINIJET_LIMITS_H
#define MINIJET_LIMITS_H

#include <glib.h>

/* --- protocol --- */
#define LIMIT_MAX_PAYLOAD_BYTES (1024 * 1024)    /* INFO max_payload; nats-server default 1 MiB */
#define LIMIT_MAX_CONTROL_LINE_BYTES 4096        /* nats-server MAX_CONTROL_LINE_SIZE */
#define LIMIT_MAX_CONNECT_JSON_BYTES LIMIT_MAX_CONTROL_LINE_BYTES /* CONNECT is a control line */
#define LIMIT_MAX_SID_BYTES 128                  /* a sid longer than this is a malformed SUB */
/* A subject has no limit of its own, as in nats-server 2.9.10: the control line carrying it
 * bounds it (a 4090-byte subject, or 2000 tokens, is delivered by both servers). minijet
 * used to refuse > 1024 bytes or > 128 tokens, and a nats.js JetStream publish on such a
 * subject waited for a PubAck that never came. The trie recurses once per token, so its
 * depth is bounded by LIMIT_MAX_SUBJECT_TOKENS too (2048 frames, well under 1 MiB of stack). */
#define LIMIT_MAX_SUBJECT_BYTES LIMIT_MAX_CONTROL_LINE_BYTES
#define LIMIT_MAX_SUBJECT_TOKENS ((LIMIT_MAX_SUBJECT_BYTES + 1) / 2) /* "a.a.a...": 2n-1 bytes */

#define LIMIT_JSON_DEPTH_COUNT 10000   /* [ and { nesting in any JSON we parse (Go's maxNestingDepth); */
                                       /* deeper is "invalid JSON" (10025) before json-glib recurses */
#define LIMIT_CONF_DEPTH_COUNT 32      /* nested maps/lists in a config file (recursive parser) */

/* --- connections --- */
#define LIMIT_MAX_CONNECTIONS_COUNT 65536        /* nats-server default max_connections */
#define LIMIT_MAX_SUBS_PER_CONN_COUNT 0          /* 0 = unlimited, as nats-server's default */
#define LIMIT_MAX_PENDING_BYTES (64 * 1024 * 1024) /* outbound buffer per connection (nats-server max_pending) */
#define LIMIT_READ_CHUNK_BYTES (64 * 1024)       /* one read() takes up to this much */
/* back-pressure (server.c, OUTBOUND MEMORY): the broker-wide bound on outbound buffers */
#define LIMIT_OUT_TOTAL_BYTES (256 * 1024 * 1024) /* over this, stop reading publishers */
#define LIMIT_OUT_RESUME_BYTES (128 * 1024 * 1024) /* read them again at or under this */
#define LIMIT_OUT_POLL_NS (10LL * 1000000LL)     /* look again this often while paused */
#define LIMIT_OUT_STALL_NS (2LL * 1000000000LL)  /* no drain this long: cut the largest reader */
#define LIMIT_PING_FIRST_NS (2LL * 1000000000LL) /* first server PING after connect */
#define LIMIT_PING_INTERVAL_NS (120LL * 1000000000LL) /* then every 2 minutes */
#define LIMIT_PING_MAX_OUTSTANDING_COUNT 2       /* unanswered PINGs before 'Stale Connection' */
#define LIMIT_AUTH_TIMEOUT_NS (2LL * 1000000000LL) /* CONNECT must come this soon when auth is on */
/* allow_responses (auth.c): nats-server's defaults and its bound on tracked reply subjects */
#define LIMIT_AUTH_RESPONSES_MAX_COUNT 1                     /* responses per request */
#define LIMIT_AUTH_RESPONSES_EXPIRES_NS (120LL * 1000000000LL) /* 2 minutes after the request */
#define LIMIT_AUTH_REPLIES_COUNT 4096                        /* reply subjects per connection */

/* --- subject trie --- */
#define LIMIT_SUBLIST_CACHE_COUNT 1024           /* cached match results (nats-server slCacheMax) */
/* nodes in one trie (~200 bytes each with its token and table): past it a SUB gets
 * -ERR 'maximum subscriptions exceeded' and every other client is served as before */
#define LIMIT_SUBLIST_NODES_COUNT (1024 * 1024)
#define LIMIT_SUBLIST_DOORKEEPER_BITS 8192       /* cache admission filter (1 KiB); see sublist.c */

/* --- store --- */
/* Roll a segment file at this size. nats-server's block size (defaultLargeBlockSize, 8 MB); it is
 * also the grain of the index's memory: a fresh stream keeps the entries of its active segment
 * only (LIMIT_STORE_LOADED_SEGMENTS), ~32 bytes per message of at most this many bytes of records
 * (128-byte messages: ~48k entries, ~1.5 MB), however long the stream (book 5.6, MEMORY). */
#define LIMIT_STORE_SEGMENT_BYTES (8 * 1024 * 1024)
#define LIMIT_STORE_ACTIVE_INDEX_BYTES (1024 * 1024)     /* a clean close indexes an active segment this big */
#define LIMIT_STORE_ACTIVE_INDEX_SHARE 64                /* ... or 1/64 of a segment, if smaller (tests, sim) */
#define LIMIT_STORE_CHECKPOINTS_PER_SEGMENT 2           /* the active segment's index is rewritten every 1/2 segment written: a crash rescans at most that (each costs fsyncs: per segment, one and the seal) */
#define LIMIT_STORE_WRITE_BUFFER_BYTES (4 * 1024 * 1024) /* an append past this flushes first */
#define LIMIT_STORE_PREALLOC_MIN_BYTES (4 * 1024)        /* a new segment's first preallocation... */
#define LIMIT_STORE_PREALLOC_MAX_BYTES (4 * 1024 * 1024) /* ...doubling up to this step (PREALLOCATION) */
#define LIMIT_STORE_RECORD_BYTES_MAX (64 * 1024 * 1024) /* larger = corrupt length, at recovery */
#define LIMIT_STORE_SYNC_INTERVAL_NS (2LL * 60 * 1000000000LL) /* nats-server sync_interval: 2 min */
#define LIMIT_STORE_SUBJECTS_SCAN_COUNT 64 /* wildcard lookups walk subject lists below this */
#define LIMIT_STORE_COLD_READ_SEGMENTS 2   /* per store: cold segments whose entries a read decoded, kept (COLD READS) */
#define LIMIT_STORE_LOADED_SEGMENTS 0      /* per store: sealed segments whose entries stay loaded; older ones go cold again (COLD AGAIN) */
/* A file store nothing was appended to for this long gives back what only speeds up the next
 * write or read (store_file.c, IDLE): its write buffer, read cache and read-ahead block, its
 * COLD READS arrays, and every sealed segment's entries that can go cold. nats-server 2.9
 * expires a block's cache after 5 s idle (defaultCacheBufferExpiration). */
#define LIMIT_STORE_IDLE_NS (5LL * 1000000000LL)
G_STATIC_ASSERT(LIMIT_MAX_PAYLOAD_BYTES < LIMIT_STORE_RECORD_BYTES_MAX);

/* --- open segment files (src/store_files.c): an LRU shared by every file stream --- */
#define LIMIT_STORE_OPEN_FILES_SHARE 4          /* a quarter of RLIMIT_NOFILE; the rest: clients */
#define LIMIT_STORE_OPEN_FILES_MAX_COUNT 64     /* never more (nats-server: 9 files for 10k streams) */
#define LIMIT_STORE_OPEN_FILES_MIN_COUNT 4      /* never fewer (a store uses 2 at once: index writes) */

/* --- store read cache (src/store_file.c, READ CACHE): what a load finds without a pread --- */
/* newest written bytes kept per file stream: ~7,000 messages of 128 B, a consumer that far behind
 * its publishers reads read-ahead blocks from the page cache instead (was 2 MiB: a fixed cost of
 * every written stream, a third of its RSS growth at 100k messages; book 5.6, MEMORY) */
#define LIMIT_STORE_READ_CACHE_BYTES (1024 * 1024)
#define LIMIT_STORE_READ_AHEAD_BYTES (64 * 1024)  /* one pread on a cache miss reads this much */
G_STATIC_ASSERT(LIMIT_STORE_READ_AHEAD_BYTES <= LIMIT_STORE_READ_CACHE_BYTES);
G_STATIC_ASSERT(LIMIT_STORE_READ_CACHE_BYTES <= LIMIT_STORE_SEGMENT_BYTES);
G_STATIC_ASSERT(LIMIT_STORE_WRITE_BUFFER_BYTES <= LIMIT_STORE_SEGMENT_BYTES);

/* --- the allocator (main.c) --- */
/* Allocations at least this big get their own mapping, returned to the system when freed.
 * glibc's default (128 KiB) is raised after every such free up to the size freed (up to 32 MiB),
 * so the index's big arrays (the entries of a segment, copied when it goes cold; an index file
 * being written or read back) then came from the heap and stayed resident as free holes when
 * freed: measured, 6 MB of 9.8 MB of heap free but resident after 1M messages. Fixed here, the
 * dynamic raise is off. */
#define LIMIT_MALLOC_MMAP_THRESHOLD_BYTES (128 * 1024)

G_STATIC_ASSERT(LIMIT_MAX_PAYLOAD_BYTES < LIMIT_MAX_PENDING_BYTES);
G_STATIC_ASSERT(LIMIT_OUT_RESUME_BYTES < LIMIT_OUT_TOTAL_BYTES);
G_STATIC_ASSERT(LIMIT_MAX_PENDING_BYTES < LIMIT_OUT_TOTAL_BYTES);
G_STATIC_ASSERT(LIMIT_MAX_SUBJECT_BYTES <= LIMIT_MAX_CONTROL_LINE_BYTES);
G_STATIC_ASSERT(LIMIT_READ_CHUNK_BYTES >= LIMIT_MAX_CONTROL_LINE_BYTES);

/* --- env_real: the production event loop (src/env_real.c) --- */
#define LIMIT_ROUTE_MSG_QUEUES_COUNT 32           /* queue names one RMSG may carry */
#define LIMIT_ROUTE_MSG_ARGS_COUNT (LIMIT_ROUTE_MSG_QUEUES_COUNT + 6) /* tokens of an RMSG/HMSG line */
#define LIMIT_ROUTE_CONNECT_RETRY_NS (1LL * 1000000000LL) /* configured routes: redial every 1 s (nats-server) */
#define LIMIT_ROUTE_PING_FIRST_NS (1LL * 1000000000LL)    /* first PING on a route (firstPingInterval) */
#define LIMIT_ROUTE_MAX_PENDING_BYTES LIMIT_MAX_PENDING_BYTES /* a route that falls this far behind is closed */
#define LIMIT_ROUTES_COUNT 64                     /* peers one server keeps routes to */
#define LIMIT_LISTEN_BACKLOG_COUNT 1024          /* listen() backlog: connection storms queue here */
#define LIMIT_EPOLL_EVENTS_COUNT 256             /* ready sockets taken per epoll_wait */
/* out of descriptors (EMFILE/ENFILE): stop accepting this long, doubling (env.c ACCEPT
 * BACK-OFF); nats-server's ACCEPT_MIN_SLEEP and ACCEPT_MAX_SLEEP */
#define LIMIT_ACCEPT_PAUSE_MIN_NS (10LL * 1000000LL)
#define LIMIT_ACCEPT_PAUSE_MAX_NS (1000LL * 1000000LL)
#define LIMIT_ACCEPTS_PER_TURN_COUNT 64          /* new connections accepted per turn (fairness) */
#define LIMIT_READS_PER_TURN_COUNT 16            /* read() calls per connection per turn (fairness) */
#define LIMIT_OUT_INITIAL_BYTES (16 * 1024)      /* first outbound buffer of a connection */
#define LIMIT_OUT_KEEP_BYTES (1024 * 1024)       /* a drained buffer larger than this is shrunk */
#define LIMIT_FLUSH_EARLY_BYTES (256 * 1024)     /* queued past this, write now, not at turn end */
/* lingering close (env_real.c): after the core closes, drain the peer's input so that no
 * reset destroys the last answer; stop at the peer's EOF or at the first of these */
#define LIMIT_LINGER_NS (2LL * 1000000000LL)     /* at most this long (nginx: 5 s per read) */
#define LIMIT_LINGER_BYTES (4 * 1024 * 1024)     /* input dropped before giving up */
#define LIMIT_LINGER_OUT_BYTES (4 * 1024 * 1024) /* unsent answer kept; more (a slow consumer's */
                                                 /* backlog) is dropped at the close */

G_STATIC_ASSERT(LIMIT_OUT_INITIAL_BYTES <= LIMIT_OUT_KEEP_BYTES);
G_STATIC_ASSERT(LIMIT_ACCEPT_PAUSE_MIN_NS > 0 && LIMIT_ACCEPT_PAUSE_MIN_NS <= LIMIT_ACCEPT_PAUSE_MAX_NS);
G_STATIC_ASSERT(LIMIT_FLUSH_EARLY_BYTES < LIMIT_MAX_PENDING_BYTES);

/* --- streams and the JetStream API (src/stream*.c, src/jetstream.c, src/jsapi.c) --- */
#define LIMIT_STREAM_NAME_BYTES 255              /* a stream name is also a folder name */
#define LIMIT_STREAM_DESCRIPTION_BYTES 4096      /* nats-server JSMaxDescriptionLen */
#define LIMIT_STREAM_SUBJECTS_COUNT 1024         /* subjects in one stream config */
#define LIMIT_STREAM_DUPLICATE_WINDOW_NS (120LL * 1000000000LL) /* default dedup window: 2 min */
#define LIMIT_STREAM_MIN_WINDOW_NS (100LL * 1000000LL) /* max_age and the dedup window: >= 100 ms when set */
#define LIMIT_STREAM_HEADER_BYTES 65535          /* a stored message's header block (10097) */
#define LIMIT_STREAM_MSG_ID_BYTES 1024           /* a Nats-Msg-Id longer than this is not remembered */
#define LIMIT_STREAM_AGE_TIMER_MIN_NS (1000000LL) /* max_age sweeps are at least 1 ms apart */
#define LIMIT_STREAM_REFUSED_LOG_NS (10LL * 1000000000LL) /* refused publishes: one log line per 10 s, counted */
#define LIMIT_JS_RESTORE_STEP_NS (20LL * 1000000LL) /* start-up: streams loaded per loop turn, the monitor answering between */
#define LIMIT_JS_API_NAMES_PAGE_COUNT 1024       /* STREAM.NAMES page ("limit") */
#define LIMIT_JS_API_LIST_PAGE_COUNT 256         /* STREAM.LIST page ("limit") */
#define LIMIT_JS_API_SUBJECTS_PAGE_COUNT 100000  /* STREAM.INFO subjects_filter page */

G_STATIC_ASSERT(LIMIT_STREAM_NAME_BYTES < LIMIT_MAX_SUBJECT_BYTES);
G_STATIC_ASSERT(LIMIT_STREAM_MSG_ID_BYTES <= LIMIT_STREAM_HEADER_BYTES);

/* --- raft (src/raft*.c): one replication group --- */
#define LIMIT_RAFT_PEERS_MAX 9                   /* voters in one group (odd sizes make sense) */
#define LIMIT_RAFT_ENTRY_BYTES_MAX (LIMIT_MAX_PAYLOAD_BYTES + 64 * 1024) /* one proposal */
#define LIMIT_RAFT_MSG_ENTRIES_MAX 1024          /* entries in one AppendEntries */
#define LIMIT_RAFT_APPEND_BYTES_MAX (4 * 1024 * 1024) /* entry bytes in one AppendEntries */
#define LIMIT_RAFT_SNAPSHOT_BYTES_MAX (64 * 1024 * 1024) /* one snapshot (sent whole) */
#define LIMIT_RAFT_MSG_BYTES_MAX (LIMIT_RAFT_SNAPSHOT_BYTES_MAX + 4096) /* one datagram */

G_STATIC_ASSERT(LIMIT_RAFT_ENTRY_BYTES_MAX <= LIMIT_RAFT_APPEND_BYTES_MAX);
/* --- the cluster (cluster_*.c): Raft groups inside the broker ---
 * One tick is 50 ms; a follower that hears nothing for 6-12 ticks (300-600 ms) starts a
 * pre-vote. nats-server 2.9.10 waits 4-9 s (spec 6.3); pre-vote keeps a stalled follower
 * from deposing a working leader, so the short timeout costs only an election after a
 * real leader death. */
#define LIMIT_CLUSTER_TICK_NS (50LL * 1000000LL)
#define LIMIT_CLUSTER_ELECTION_TICKS 6
#define LIMIT_CLUSTER_HEARTBEAT_TICKS 1
#define LIMIT_CLUSTER_CURRENT_NS (2LL * LIMIT_CLUSTER_ELECTION_TICKS * LIMIT_CLUSTER_TICK_NS) /* "current" replica */
/* A stream leader that handed leadership over answers 503 to publishes a route still brings
 * it for this long after it last saw itself handing over (jscluster.c, LATE PUBLISHES): a
 * forwarding server reads the unsubscribe within milliseconds unless it is stalled. */
#define LIMIT_CLUSTER_HANDOVER_LATE_NS (2LL * LIMIT_CLUSTER_ELECTION_TICKS * LIMIT_CLUSTER_TICK_NS)
#define LIMIT_CLUSTER_LIVE_NS (3LL * LIMIT_CLUSTER_TICK_NS) /* a voter silent this long counts as down when a
                                                           * leader orders a membership change */
#define LIMIT_CLUSTER_APPLIED_TICKS 3 /* "current": it applied what was committed this many ticks ago */
#define LIMIT_CLUSTER_HELLO_NS (100LL * 1000000LL)  /* peer announcements while the meta group forms */
#define LIMIT_CLUSTER_UNAVAILABLE_DELAY_NS (500LL * 1000000LL) /* no meta leader: 10008 after this (nats-server) */
#define LIMIT_CLUSTER_PARKED_COUNT 1024 /* requests waiting for a meta leader; more: 10008 at once */
#define LIMIT_CLUSTER_PEERS_MAX LIMIT_RAFT_PEERS_MAX   /* JetStream servers in one cluster */
#define LIMIT_CLUSTER_REPLICAS_MAX 5                   /* num_replicas (nats-server: "maximum replicas is 5") */
#define LIMIT_CLUSTER_HELD_PUBLISHES_COUNT 10000       /* publishes a stream leader holds while proposals drain */
#define LIMIT_CLUSTER_GATHER_NS (2000LL * 1000000LL)   /* STREAM.LIST / INFO: wait this long for stream leaders */
#define LIMIT_CLUSTER_REMOVALS_COUNT 8192               /* retention removals in one log entry (64 KiB) */
#define LIMIT_CLUSTER_GATHERS_COUNT 64                 /* such requests in flight at once (more: 10008) */
#define LIMIT_CLUSTER_LEAVE_POLL_NS (250LL * 1000000LL) /* a removed replica asks this often whether it may go */
/* Raft log compaction (cluster_nrg.c): snapshot once this many entries were applied past the
 * last one, or the log file is this large (the simulator and tests set far smaller ones). */
#define LIMIT_CLUSTER_SNAPSHOT_ENTRIES 8192
#define LIMIT_CLUSTER_SNAPSHOT_BYTES (64LL * 1024 * 1024)
/* Stream catch-up (jscluster.c): one batch per request, the next asked when it is stored. */
#define LIMIT_CLUSTER_CATCHUP_BATCH_BYTES (1024 * 1024)
#define LIMIT_CLUSTER_CATCHUP_BATCH_COUNT 1024
#define LIMIT_CLUSTER_CATCHUP_TIMEOUT_NS (500LL * 1000000LL) /* unanswered: ask the next peer */
#define LIMIT_CLUSTER_CATCHUP_GIVEUP_NS (10LL * 1000000000LL) /* lazy sync only: nobody has them */
G_STATIC_ASSERT(LIMIT_CLUSTER_CATCHUP_BATCH_BYTES + LIMIT_RAFT_ENTRY_BYTES_MAX < LIMIT_RAFT_MSG_BYTES_MAX);

G_STATIC_ASSERT(LIMIT_RAFT_APPEND_BYTES_MAX < LIMIT_RAFT_MSG_BYTES_MAX);

/* --- consumers (src/consumer*.c); defaults are nats-server 2.9.10's --- */
#define LIMIT_CONSUMER_NAME_BYTES 255            /* nats-server JSMaxNameLen */
#define LIMIT_FILE_NAME_BYTES 255                /* NAME_MAX of Linux file systems: a longer */
                                                 /* consumer file name is a hash (consumer_state.c) */
#define LIMIT_CONSUMER_ACK_WAIT_NS (30LL * 1000000000LL) /* default ack_wait (JsAckWaitDefault) */
#define LIMIT_CONSUMER_MAX_ACK_PENDING_COUNT 1000 /* default max_ack_pending (JsDefaultMaxAckPending) */
#define LIMIT_CONSUMER_MAX_WAITING_COUNT 512     /* default max_waiting of a pull consumer */
#define LIMIT_CONSUMER_WAITING_CARRIED_COUNT 64  /* waiting pulls a replicated consumer's record
                                                  * carries to the next leader (the rest: 409) */
#define LIMIT_CONSUMER_INACTIVE_THRESHOLD_NS (5LL * 1000000000LL) /* ephemerals' default */
#define LIMIT_CONSUMER_HEARTBEAT_MIN_NS (100LL * 1000000LL) /* push idle_heartbeat >= 100 ms */
#define LIMIT_CONSUMER_DELIVER_BATCH_COUNT 1024  /* messages one delivery pass sends, then yields */
#define LIMIT_CONSUMER_ROOM_RETRY_NS (10LL * 1000000LL) /* a push consumer held back by a slow reader looks again */
#define LIMIT_CONSUMER_SAVE_DELAY_NS (100LL * 1000000LL)   /* state changes are written this late */
#define LIMIT_CONSUMER_STATE_LOG_BYTES (1024 * 1024) /* a state log past this becomes a new snapshot */
#define LIMIT_CONSUMER_FC_WINDOW_BYTES (2 * 1024 * 1024)   /* flow control: first window */
#define LIMIT_CONSUMER_FC_WINDOW_MAX_BYTES (32 * 1024 * 1024) /* flow control: largest window */
#define LIMIT_CONSUMER_PENDING_SAVED_COUNT 100000 /* pending entries a state file may hold */
#define LIMIT_CONSUMER_LIST_PAGE_COUNT 256       /* CONSUMER.LIST page ("limit") */
#define LIMIT_CONSUMER_NAMES_PAGE_COUNT 1024     /* CONSUMER.NAMES page ("limit") */

G_STATIC_ASSERT(LIMIT_CONSUMER_NAME_BYTES < LIMIT_MAX_SUBJECT_BYTES);
G_STATIC_ASSERT(LIMIT_CONSUMER_FC_WINDOW_BYTES <= LIMIT_CONSUMER_FC_WINDOW_MAX_BYTES);
G_STATIC_ASSERT(LIMIT_CONSUMER_FC_WINDOW_MAX_BYTES < LIMIT_MAX_PENDING_BYTES);

/* --- monitor: the HTTP monitoring endpoints (src/monitor.c) --- */
#define LIMIT_MONITOR_REQUEST_BYTES 8192         /* request line + headers; more = 400 and close */
#define LIMIT_MONITOR_CONNS_COUNT 256            /* waiting for a request; more = the oldest gets 408 */
#define LIMIT_MONITOR_IDLE_NS (5LL * 1000000000LL) /* a request must be complete within this */
#define LIMIT_MONITOR_CONNZ_PAGE_COUNT 1024      /* /connz default limit (nats-server DefaultConnListSize) */

G_STATIC_ASSERT(LIMIT_MONITOR_REQUEST_BYTES <= LIMIT_READ_CHUNK_BYTES);

#endif
