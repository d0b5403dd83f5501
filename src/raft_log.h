/* raft_log.h — Raft's persistent state on the environment's disk: the log, the hard state
 * (term, vote, commit) and the latest snapshot. Book chapter: book/09-raft.md.
 *
 * INTERFACE
 *   raft_log_open(env, dir, &boot, error)  recover: read the three files, truncate a torn or
 *                                          corrupt log tail (reported with env_log), and fill
 *                                          `boot` for raft_new(); raft_boot_clear() it after
 *   raft_log_save(lg, &ready, error)       steps 1-4 of the Ready contract (raft.h): snapshot,
 *                                          entries (truncating a conflicting suffix), hard
 *                                          state, all fsynced before it returns
 *   raft_log_set_lazy(lg, lazy)            lazy: entries are written but not fsynced by
 *                                          raft_log_save (a lazy sync policy, or a broken
 *                                          variant); raft_log_sync(lg) fsyncs them,
 *                                          raft_log_dirty(lg) says whether any wait
 *   raft_log_state_bytes(lg)               bytes of log + hard state (the snapshot excluded)
 *   raft_log_close(lg)
 *
 * FILES in dir (all integers little-endian; CRC32C = crc32c())
 *   raft.log    append-only records, one per entry, consecutive indexes:
 *               | 0 len u32 | 4 crc u32 (of bytes 8..end) | 8 term u64 | 16 index u64 | 24 data[len] |
 *               len's top 4 bits are the entry type (RaftEntryType), also XORed into crc; a
 *               NORMAL entry's record is the same as before entry types existed
 *   raft.state  two 32-byte slots, written alternately, each fsynced:
 *               | 0 seq u64 | 8 term u64 | 16 commit u64 | 24 vote u32 | 28 crc u32 (of bytes 0..27) |
 *               recovery takes the valid slot with the larger seq, so a torn slot write
 *               leaves the previous hard state intact (TigerBeetle's superblock copies, in small)
 *   raft.snap   | 0 "RSN2" | 4 crc u32 (of bytes 8..end) | 8 term u64 | 16 index u64 |
 *               | 24 len u32 | 28 n u32 | 32 n voter ids u32 (the configuration at index) |
 *               | data[len] |   written atomically (temp, fsync, rename, dir fsync). An older
 *               "RSN1" file (no n, no ids) still reads: the bootstrap configuration holds
 *
 * INVARIANTS
 *   - After raft_log_save returns TRUE everything in the Ready is durable (not lazy).
 *   - A bad record followed by an intact one is damage, not a torn tail: recovery truncates
 *     there too, and says so in boot->damaged (raft.c then keeps the member from voting
 *     until a leader has repaired it).
 *   - raft.log holds consecutive records; its entries at or before the snapshot index are
 *     dropped when the snapshot is saved (the file is rewritten without them, atomically).
 *   - A record that fails its checksum, its length or index order ends the log: it and all
 *     after it are truncated at recovery, with a [WRN] log line saying how many bytes.
 *
 * LIMITATIONS
 *   - Truncating at the first bad record is right for a torn tail (those writes were never
 *     fsynced, so nobody was told about them) but loses acknowledged entries after a bit flip
 *     in the middle of synced records. Such damage is reported (boot->damaged) and the
 *     member repairs from a leader before it votes again; Raft stays safe while only a
 *     minority is damaged at once. A whole last record (its length fits the file exactly)
 *     that fails its checksum is damage too: a torn write is a prefix and ends inside its
 *     record. A flip in the last record's length field still looks torn.
 *   - A corrupt snapshot (Jepsen NATS #7556) is renamed raft.snap.corrupt; the log after it
 *     is dropped and the member boots empty and damaged: a leader repairs it with its own
 *     snapshot. Both raft.state slots unreadable (though written): boot->state_lost, the
 *     member does not vote until a leader of the current term has reached it (raft.c).
 */
#ifndef MINIJET_RAFT_LOG_H
#define MINIJET_RAFT_LOG_H

#include <glib.h>
#include <stdbool.h>

#include "env.h"
#include "raft.h"

typedef struct RaftLog RaftLog;

RaftLog *raft_log_open(Env *env, const char *dir, RaftBoot *boot, GError **error);
gboolean raft_log_save(RaftLog *lg, const RaftReady *rd, GError **error);
void raft_log_set_lazy(RaftLog *lg, bool lazy);
gboolean raft_log_sync(RaftLog *lg, GError **error);
bool raft_log_dirty(const RaftLog *lg);
uint64_t raft_log_state_bytes(const RaftLog *lg);
void raft_log_close(RaftLog *lg);

#endif
