/* raft_msg.c — Raft's messages on the wire: encode, decode (reject anything malformed),
 * each checked by a CRC32C (crc32c.c). The format is drawn in raft_msg.h.
 *
 * WHY A CHECKSUM ON A DATAGRAM
 *   TCP's 16-bit checksum misses corruption now and then, and the simulator's network may
 *   hand us any bytes at all in a test. A Raft message that is believed when it is wrong can
 *   break safety (a forged commit index, a wrong prevLogTerm), so every message carries a
 *   CRC32C over all of its bytes and every field is range-checked before Raft sees it.
 */
#include "raft_msg.h"

#include <string.h>

#include "bytes.h"
#include "crc32c.h"
#include "limits.h"

#define HEADER_BYTES 72
#define ENTRY_HEADER_BYTES 24
#define VERSION 2
#define CRC_BYTES 4

G_DEFINE_QUARK(minijet-raft-error-quark, raft_error)

const char *raft_msg_type_name(RaftMsgType t) {
    switch (t) {
    case RAFT_MSG_PRE_VOTE: return "PRE_VOTE";
    case RAFT_MSG_PRE_VOTE_RESP: return "PRE_VOTE_RESP";
    case RAFT_MSG_VOTE: return "VOTE";
    case RAFT_MSG_VOTE_RESP: return "VOTE_RESP";
    case RAFT_MSG_APPEND: return "APPEND";
    case RAFT_MSG_APPEND_RESP: return "APPEND_RESP";
    case RAFT_MSG_SNAPSHOT: return "SNAPSHOT";
    case RAFT_MSG_TIMEOUT_NOW: return "TIMEOUT_NOW";
    default: return "?";
    }
}

bool raft_msg_is_response(RaftMsgType t) {
    return t == RAFT_MSG_PRE_VOTE_RESP || t == RAFT_MSG_VOTE_RESP || t == RAFT_MSG_APPEND_RESP;
}

bool raft_peers_has(const RaftPeers *p, uint32_t id) {
    for (uint32_t i = 0; i < p->n; i++)
        if (p->ids[i] == id) return true;
    return false;
}

bool raft_peers_valid(const RaftPeers *p) {
    if (p->n < 1 || p->n > LIMIT_RAFT_PEERS_MAX) return false;
    for (uint32_t i = 0; i < p->n; i++) {
        if (p->ids[i] == 0) return false;
        for (uint32_t j = 0; j < i; j++)
            if (p->ids[j] == p->ids[i]) return false;
    }
    return true;
}

GBytes *raft_peers_encode(const RaftPeers *p) {
    g_assert(raft_peers_valid(p));
    uint8_t buf[4 * LIMIT_RAFT_PEERS_MAX];
    for (uint32_t i = 0; i < p->n; i++) put32(buf + 4 * i, p->ids[i]);
    return g_bytes_new(buf, 4 * (gsize)p->n);
}

bool raft_peers_decode(GBytes *data, RaftPeers *out) {
    gsize len;
    const uint8_t *d = g_bytes_get_data(data, &len);
    memset(out, 0, sizeof *out);
    if (len % 4 != 0 || len / 4 < 1 || len / 4 > LIMIT_RAFT_PEERS_MAX) return false;
    out->n = (uint32_t)(len / 4);
    for (uint32_t i = 0; i < out->n; i++) out->ids[i] = get32(d + 4 * i);
    return raft_peers_valid(out);
}

void raft_msg_clear(RaftMsg *m) {
    for (uint32_t i = 0; i < m->n_entries; i++)
        if (m->entries[i].data) g_bytes_unref(m->entries[i].data);
    g_free(m->entries);
    if (m->snapshot) g_bytes_unref(m->snapshot);
    memset(m, 0, sizeof *m);
}

GBytes *raft_msg_encode(const RaftMsg *m) {
    g_assert(m->type >= RAFT_MSG_PRE_VOTE && m->type < RAFT_MSG_TYPE_END);
    size_t total = HEADER_BYTES + CRC_BYTES;
    for (uint32_t i = 0; i < m->n_entries; i++)
        total += ENTRY_HEADER_BYTES + g_bytes_get_size(m->entries[i].data);
    size_t snap_bytes = m->snapshot ? g_bytes_get_size(m->snapshot) : 0;
    uint32_t n_peers = m->type == RAFT_MSG_SNAPSHOT ? m->peers.n : 0;
    total += snap_bytes + 4 * (size_t)n_peers;
    uint8_t *buf = g_malloc0(total);
    buf[0] = 'R';
    buf[1] = 'F';
    buf[2] = VERSION;
    buf[3] = (uint8_t)m->type;
    put32(buf + 4, m->from);
    put32(buf + 8, m->to);
    put64(buf + 12, m->term);
    put64(buf + 20, m->log_term);
    put64(buf + 28, m->index);
    put64(buf + 36, m->commit);
    put64(buf + 44, m->hint_term);
    put64(buf + 52, m->hint_index);
    buf[60] = m->reject ? 1 : 0;
    buf[61] = (uint8_t)n_peers;
    put32(buf + 64, m->n_entries);
    put32(buf + 68, (uint32_t)snap_bytes);
    size_t off = HEADER_BYTES;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        gsize len;
        const void *d = g_bytes_get_data(m->entries[i].data, &len);
        put64(buf + off, m->entries[i].term);
        put64(buf + off + 8, m->entries[i].index);
        put32(buf + off + 16, (uint32_t)len);
        buf[off + 20] = (uint8_t)m->entries[i].type;
        if (len) memcpy(buf + off + ENTRY_HEADER_BYTES, d, len);
        off += ENTRY_HEADER_BYTES + len;
    }
    for (uint32_t i = 0; i < n_peers; i++, off += 4) put32(buf + off, m->peers.ids[i]);
    if (snap_bytes) memcpy(buf + off, g_bytes_get_data(m->snapshot, NULL), snap_bytes);
    off += snap_bytes;
    put32(buf + off, crc32c(buf, off));
    return g_bytes_new_take(buf, total);
}

static gboolean bad(GError **error, const char *why) {
    g_set_error(error, RAFT_ERROR, RAFT_ERROR_MALFORMED, "raft message rejected: %s", why);
    return FALSE;
}

/* Every check that can fail on network input returns a GError; none asserts. On failure
 * *out is left cleared. */
gboolean raft_msg_decode(const uint8_t *p, size_t len, RaftMsg *out, GError **error) {
    memset(out, 0, sizeof *out);
    if (len < HEADER_BYTES + CRC_BYTES) return bad(error, "shorter than a header");
    if (len > LIMIT_RAFT_MSG_BYTES_MAX) return bad(error, "longer than the limit");
    if (crc32c(p, len - CRC_BYTES) != get32(p + len - CRC_BYTES)) return bad(error, "checksum mismatch");
    if (p[0] != 'R' || p[1] != 'F') return bad(error, "bad magic");
    if (p[2] != VERSION) return bad(error, "unknown version");
    if (p[3] < RAFT_MSG_PRE_VOTE || p[3] >= RAFT_MSG_TYPE_END) return bad(error, "unknown type");
    if ((p[60] & ~1u) || p[62] || p[63]) return bad(error, "unknown flags");
    RaftMsg m = {0};
    m.type = (RaftMsgType)p[3];
    m.from = get32(p + 4);
    m.to = get32(p + 8);
    m.term = get64(p + 12);
    m.log_term = get64(p + 20);
    m.index = get64(p + 28);
    m.commit = get64(p + 36);
    m.hint_term = get64(p + 44);
    m.hint_index = get64(p + 52);
    m.reject = p[60] & 1;
    uint32_t n = get32(p + 64);
    uint32_t snap_bytes = get32(p + 68);
    if (n > 0 && m.type != RAFT_MSG_APPEND) return bad(error, "entries on a message that carries none");
    if (n > LIMIT_RAFT_MSG_ENTRIES_MAX) return bad(error, "too many entries");
    if (snap_bytes > 0 && m.type != RAFT_MSG_SNAPSHOT) return bad(error, "snapshot on a message that carries none");
    if (m.type == RAFT_MSG_SNAPSHOT && (snap_bytes == 0 || m.index == 0)) return bad(error, "empty snapshot");
    uint32_t n_peers = p[61];
    if (n_peers > 0 && m.type != RAFT_MSG_SNAPSHOT) return bad(error, "a configuration on a message that carries none");
    if (m.type == RAFT_MSG_SNAPSHOT && (n_peers < 1 || n_peers > LIMIT_RAFT_PEERS_MAX))
        return bad(error, "snapshot without a valid configuration");
    if (m.index > G_MAXUINT64 - LIMIT_RAFT_MSG_ENTRIES_MAX) return bad(error, "index out of range");
    size_t body_end = len - CRC_BYTES, off = HEADER_BYTES;
    if (n > 0) m.entries = g_new0(RaftEntry, n);
    m.n_entries = n;
    uint64_t prev_term = m.log_term;
    for (uint32_t i = 0; i < n; i++) {
        if (body_end - off < ENTRY_HEADER_BYTES) {
            raft_msg_clear(&m);
            return bad(error, "truncated entry header");
        }
        RaftEntry *e = &m.entries[i];
        e->term = get64(p + off);
        e->index = get64(p + off + 8);
        uint32_t elen = get32(p + off + 16);
        uint8_t type = p[off + 20];
        bool pad = p[off + 21] || p[off + 22] || p[off + 23];
        off += ENTRY_HEADER_BYTES;
        const char *why = NULL;
        if (type >= RAFT_ENTRY_TYPE_END || pad) why = "unknown entry type";
        else if (elen > LIMIT_RAFT_ENTRY_BYTES_MAX) why = "entry over the size limit";
        else if (elen > body_end - off) why = "truncated entry data";
        else if (e->index != m.index + 1 + i) why = "entry indexes not consecutive";
        else if (e->term < prev_term || e->term > m.term || e->term == 0) why = "entry term out of order";
        if (why) {
            m.n_entries = i; /* data of entries before i is set; clear frees those */
            raft_msg_clear(&m);
            return bad(error, why);
        }
        e->data = g_bytes_new(p + off, elen);
        e->type = (RaftEntryType)type;
        off += elen;
        prev_term = e->term;
        RaftPeers conf;
        if (e->type == RAFT_ENTRY_CONF && !raft_peers_decode(e->data, &conf)) {
            m.n_entries = i + 1;
            raft_msg_clear(&m);
            return bad(error, "configuration entry malformed");
        }
    }
    if (4 * (size_t)n_peers > body_end - off) {
        raft_msg_clear(&m);
        return bad(error, "truncated configuration");
    }
    m.peers.n = n_peers;
    for (uint32_t i = 0; i < n_peers; i++, off += 4) m.peers.ids[i] = get32(p + off);
    if (n_peers > 0 && !raft_peers_valid(&m.peers)) {
        raft_msg_clear(&m);
        return bad(error, "snapshot configuration malformed");
    }
    if (snap_bytes > body_end - off) {
        raft_msg_clear(&m);
        return bad(error, "truncated snapshot");
    }
    if (snap_bytes) m.snapshot = g_bytes_new(p + off, snap_bytes);
    off += snap_bytes;
    if (off != body_end) {
        raft_msg_clear(&m);
        return bad(error, "trailing bytes");
    }
    *out = m;
    return TRUE;
}
