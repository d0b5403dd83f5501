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
 *   raft_log_state_bytes(lg)               bytes of log + hard state (the snapshot excluded)
 *   raft_log_close(lg)
 *
 * FILES in dir (all integers little-endian; CRC32C = crc32c())
 *   raft.log    append-only records, one per entry, consecutive indexes:
 *               | 0 len u32 | 4 crc u32 (of bytes 8..end) | 8 term u64 | 16 index u64 | 24 data[len] |
 *   raft.state  two 32-byte slots, written alternately, each fsynced:
 *               | 0 seq u64 | 8 term u64 | 16 commit u64 | 24 vote u32 | 28 crc u32 (of bytes 0..27) |
 *               recovery takes the valid slot with the larger seq, so a torn slot write
 *               leaves the previous hard state intact (TigerBeetle's superblock copies, in small)
 *   raft.snap   | 0 "RSN1" | 4 crc u32 (of bytes 8..end) | 8 term u64 | 16 index u64 |
 *               | 24 len u32 | 28 data[len] |   written atomically (temp, fsync, rename, dir fsync)
 *
 * INVARIANTS
 *   - After raft_log_save returns TRUE everything in the Ready is durable.
 *   - raft.log holds consecutive records; its entries at or before the snapshot index are
 *     dropped when the snapshot is saved (the file is rewritten without them, atomically).
 *   - A record that fails its checksum, its length or index order ends the log: it and all
 *     after it are truncated at recovery, with a [WRN] log line saying how many bytes.
 *
 * LIMITATIONS
 *   - Truncating at the first bad record is right for a torn tail (those writes were never
 *     fsynced, so nobody was told about them) but wrong for a bit flip in the middle of
 *     synced records: acknowledged entries vanish from this replica. Raft stays safe only if
 *     that never happens on a majority at once; protocol-aware recovery (asking peers) is
 *     not implemented. A corrupt snapshot file refuses to open (RAFT_ERROR_CORRUPT).
 */
#ifndef MINIJET_RAFT_LOG_H
#define MINIJET_RAFT_LOG_H

#include <glib.h>

#include "env.h"
#include "raft.h"

typedef struct RaftLog RaftLog;

RaftLog *raft_log_open(Env *env, const char *dir, RaftBoot *boot, GError **error);
gboolean raft_log_save(RaftLog *lg, const RaftReady *rd, GError **error);
uint64_t raft_log_state_bytes(const RaftLog *lg);
void raft_log_close(RaftLog *lg);

#endif
