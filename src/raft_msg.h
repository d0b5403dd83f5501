/* raft_msg.h — what Raft peers say to each other, and its wire format.
 *
 * WHAT IT IS
 *   The plain-data types shared by the Raft state machine (raft.h), its persistence
 *   (raft_log.h) and whoever carries messages between nodes (the cluster layer, the tests'
 *   harness, the simulator): a log entry, a snapshot, a message; and a compact binary
 *   encoding of a message with a CRC32C, so a truncated, padded or bit-flipped datagram is
 *   rejected with a GError instead of being believed. Book chapter: book/09-raft.md.
 *
 * INTERFACE
 *   raft_msg_encode(msg)            -> GBytes, the datagram to send
 *   raft_msg_decode(data, len, out, error)  -> FALSE + GError on any malformed input
 *   raft_msg_clear(msg)             release what a decoded (or built) message owns
 *   raft_msg_type_name(type)        "APPEND", "VOTE_RESP", ... for traces and tests
 *   raft_msg_is_response(type)      responses are not counted as RPCs
 *
 * THE WIRE FORMAT (all integers little-endian)
 *   | offset | bytes | field                                                        |
 *   |--------|-------|--------------------------------------------------------------|
 *   | 0      | 2     | magic 'R' 'F'                                                |
 *   | 2      | 1     | version (1)                                                  |
 *   | 3      | 1     | type (RaftMsgType)                                           |
 *   | 4      | 4     | from (node id)                                               |
 *   | 8      | 4     | to (node id)                                                 |
 *   | 12     | 8     | term                                                         |
 *   | 20     | 8     | log_term                                                     |
 *   | 28     | 8     | index                                                        |
 *   | 36     | 8     | commit                                                       |
 *   | 44     | 8     | hint_term                                                    |
 *   | 52     | 8     | hint_index                                                   |
 *   | 60     | 1     | flags: bit 0 = reject; other bits must be 0                  |
 *   | 61     | 1     | SNAPSHOT: voters in the snapshot's configuration (else 0)    |
 *   | 62     | 2     | zero                                                         |
 *   | 64     | 4     | n_entries (APPEND only, else 0)                              |
 *   | 68     | 4     | snapshot bytes (SNAPSHOT only, else 0)                       |
 *   | 72     | ...   | n_entries x { term u64, index u64, len u32, type u8, zero 3, |
 *   |        |       |               data[len] }                                    |
 *   |        | ...   | SNAPSHOT: the configuration's voter ids, u32 each            |
 *   |        | ...   | snapshot data                                                |
 *   | end-4  | 4     | CRC32C of every byte before it                               |
 *   Version 2 (this one) added the entry type and the snapshot's configuration (membership
 *   changes); a version 1 datagram is refused like any other malformed one.
 *
 * INVARIANTS
 *   - A decoded APPEND's entries have consecutive indexes starting at index + 1 and terms
 *     that never decrease (a leader's log is sorted by term); anything else is rejected.
 *   - Every entry's data is non-NULL (an empty GBytes for the leader's no-op).
 *   - A RAFT_ENTRY_CONF entry's data is a valid configuration (raft_peers_decode), and so is
 *     a SNAPSHOT's: 1 .. LIMIT_RAFT_PEERS_MAX distinct, non-zero voter ids.
 */
#ifndef MINIJET_RAFT_MSG_H
#define MINIJET_RAFT_MSG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "limits.h"

typedef enum {
    RAFT_MSG_PRE_VOTE = 1,  /* "would you vote for me in term T?" (changes nothing) */
    RAFT_MSG_PRE_VOTE_RESP,
    RAFT_MSG_VOTE,          /* RequestVote */
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_APPEND,        /* AppendEntries (also the heartbeat) */
    RAFT_MSG_APPEND_RESP,   /* also answers SNAPSHOT */
    RAFT_MSG_SNAPSHOT,      /* InstallSnapshot, whole snapshot in one message */
    RAFT_MSG_TIMEOUT_NOW,   /* leadership transfer: "start an election now" */
    RAFT_MSG_TYPE_END
} RaftMsgType;

/* What an entry is. Only NORMAL entries are the application's commands; a CONF entry is
 * Raft's own: a new configuration (raft.c, MEMBERSHIP CHANGES), which the application sees
 * committed but does not apply as a command. */
typedef enum { RAFT_ENTRY_NORMAL = 0, RAFT_ENTRY_CONF = 1, RAFT_ENTRY_TYPE_END } RaftEntryType;

typedef struct RaftEntry {
    uint64_t term, index;
    GBytes *data;       /* never NULL; empty for a leader's no-op; CONF: raft_peers_encode */
    RaftEntryType type; /* 0 = NORMAL, so {term, index, data} is a command */
} RaftEntry;

/* A configuration: the voters of a group. n == 0 only in a RaftSnapshot written before
 * configurations were recorded (raft.snap "RSN1"): then the bootstrap configuration holds. */
typedef struct RaftPeers {
    uint32_t n;
    uint32_t ids[LIMIT_RAFT_PEERS_MAX];
} RaftPeers;

typedef struct RaftSnapshot {
    uint64_t index, term; /* the last entry the snapshot covers; 0/0 = no snapshot */
    GBytes *data;         /* the application's state; NULL when index == 0 */
    RaftPeers peers;      /* the configuration in force at index */
} RaftSnapshot;

typedef struct RaftMsg {
    RaftMsgType type;
    uint32_t from, to;
    uint64_t term;       /* the sender's term (PRE_VOTE: the term it would campaign in) */
    uint64_t log_term;   /* VOTE, PRE_VOTE: last log term; APPEND: prevLogTerm; SNAPSHOT: its term */
    uint64_t index;      /* VOTE, PRE_VOTE: last log index; APPEND: prevLogIndex;
                            APPEND_RESP: match index (accept) or the rejected prevLogIndex;
                            SNAPSHOT: its last index */
    uint64_t commit;     /* APPEND: leaderCommit; APPEND_RESP: raft.c leaves it 0, the broker
                            puts the sender's applied index there (cluster_nrg.c) */
    bool reject;         /* responses: FALSE = granted / accepted */
    uint64_t hint_term;  /* APPEND_RESP reject: term of the follower's entry at index (0: none) */
    uint64_t hint_index; /* APPEND_RESP reject: first index of hint_term, or last index + 1 */
    RaftEntry *entries;  /* APPEND: owned (g_free; each data unref'd by raft_msg_clear) */
    uint32_t n_entries;
    GBytes *snapshot;    /* SNAPSHOT: owned */
    RaftPeers peers;     /* SNAPSHOT: the configuration in force at its index */
} RaftMsg;

GBytes *raft_msg_encode(const RaftMsg *m);
gboolean raft_msg_decode(const uint8_t *data, size_t len, RaftMsg *out, GError **error);
void raft_msg_clear(RaftMsg *m);
const char *raft_msg_type_name(RaftMsgType t);
bool raft_msg_is_response(RaftMsgType t);
/* A configuration as a CONF entry's data: n x u32 little-endian ids. decode checks it:
 * 1 .. LIMIT_RAFT_PEERS_MAX ids, none 0, no two equal. */
GBytes *raft_peers_encode(const RaftPeers *p);
bool raft_peers_decode(GBytes *data, RaftPeers *out);
bool raft_peers_valid(const RaftPeers *p);
bool raft_peers_has(const RaftPeers *p, uint32_t id);

/* Errors from decoding, stepping and persistence. */
#define RAFT_ERROR (raft_error_quark())
GQuark raft_error_quark(void);
typedef enum {
    RAFT_ERROR_MALFORMED,    /* a message or record that does not parse or fails its checksum */
    RAFT_ERROR_UNKNOWN_PEER, /* from/to is not a member of this group */
    RAFT_ERROR_NOT_LEADER,   /* a proposal or transfer on a node that is not the leader */
    RAFT_ERROR_TRANSFERRING, /* a proposal while leadership is being handed over */
    RAFT_ERROR_TOO_LARGE,    /* a proposal or snapshot over its limit */
    RAFT_ERROR_BAD_ARG,      /* e.g. compacting past the applied index */
    RAFT_ERROR_CORRUPT,      /* persisted state that cannot be trusted */
    RAFT_ERROR_CONF_PENDING, /* a membership change while another is not committed yet */
} RaftErrorCode;

#endif
