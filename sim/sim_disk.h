/* sim_disk.h — the in-memory crashable disk: a page cache that lies until fsync, and faults.
 * One per simulated node (sim_env.c) and one per unit-test world (tests/test_env.c).
 *
 * INTERFACE (mirrors the file part of EnvOps; errors are GError G_FILE_ERROR_*)
 *   sim_disk_new(rng) / sim_disk_free(d)
 *   sim_disk_open/pread/pwrite/sync/truncate/allocate/size/close, sim_disk_rename/remove/exists,
 *   sim_disk_mkdir/dir_sync/dir_list
 *   sim_disk_crash(d, keep_p, tear_p, report)   power cut: what the platter holds survives
 *   sim_disk_crash_prefix(d, mode, report)      the unit-test world's power cuts
 *   faults: sim_disk_flip_bit_at_rest, sim_disk_flip_bit, sim_disk_flip_next_read,
 *           sim_disk_add_bad_range, sim_disk_misdirect_next_write, sim_disk_set_capacity,
 *           sim_disk_set_full, sim_disk_fail_syncs (EIO/ENOSPC), fsync latency (caller)
 *   sim_disk_paths(d)                           every file path, sorted (for fault targets)
 *
 * INVARIANTS
 *   - What a process reads is what it last wrote (the cache is coherent) unless a read or
 *     at-rest fault was injected.
 *   - After sim_disk_sync(f) returns TRUE, a crash cannot lose or change f's bytes; after
 *     sim_disk_dir_sync(dir), a crash cannot undo the creations, renames and removals of
 *     entries in dir made before it.
 *   - File descriptors are small integers >= 0, reused lowest-first like POSIX's.
 */
#ifndef MINIJET_SIM_DISK_H
#define MINIJET_SIM_DISK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "rng.h"

typedef struct SimDisk SimDisk;

typedef struct SimDiskCrashReport {
    uint64_t writes_unsynced; /* unsynced writes and truncates at the moment of the crash */
    uint64_t writes_kept;     /* of which reached the platter */
    uint64_t writes_torn;     /* of which reached it only partly (0 or 1) */
    uint64_t names_lost;      /* namespace changes (create/rename/remove) undone */
} SimDiskCrashReport;

SimDisk *sim_disk_new(Rng *rng);
void sim_disk_free(SimDisk *d);

int sim_disk_open(SimDisk *d, const char *path, int flags, GError **error);
gssize sim_disk_pread(SimDisk *d, int fd, void *buf, size_t len, uint64_t off, GError **error);
gssize sim_disk_pwrite(SimDisk *d, int fd, const void *buf, size_t len, uint64_t off,
                       GError **error);
gboolean sim_disk_sync(SimDisk *d, int fd, GError **error);
gboolean sim_disk_truncate(SimDisk *d, int fd, uint64_t len, GError **error);
/* Preallocate (env.h file_allocate): the file grows to off + len with zeros if shorter, an
 * unsynced change like a write (a crash may undo it); ENOSPC past the capacity. */
gboolean sim_disk_allocate(SimDisk *d, int fd, uint64_t off, uint64_t len, GError **error);
gint64 sim_disk_size(SimDisk *d, int fd, GError **error);
void sim_disk_close(SimDisk *d, int fd);
gboolean sim_disk_rename(SimDisk *d, const char *from, const char *to, GError **error);
gboolean sim_disk_remove(SimDisk *d, const char *path, GError **error);
gboolean sim_disk_exists(SimDisk *d, const char *path);
gboolean sim_disk_mkdir(SimDisk *d, const char *path, GError **error);
gboolean sim_disk_dir_sync(SimDisk *d, const char *path, GError **error);
char **sim_disk_dir_list(SimDisk *d, const char *path, GError **error);

/* A power cut (every open descriptor dies: ops on it fail with BADF, closing it is fine).
 * The simulator's model: each unsynced write survives with keep_p, in any order, the last
 * kept one torn with tear_p; a random prefix of the unsynced name changes survives. */
void sim_disk_crash(SimDisk *d, double keep_p, double tear_p, SimDiskCrashReport *report);
/* The unit-test world's models: per file a random prefix of its unsynced writes survives
 * (none with LOSE_ALL; the last one cut short with TEAR_PREFIX); no unsynced name change does. */
typedef enum { SIM_DISK_LOSE_ALL, SIM_DISK_KEEP_PREFIX, SIM_DISK_TEAR_PREFIX } SimDiskPrefixMode;
void sim_disk_crash_prefix(SimDisk *d, SimDiskPrefixMode mode, SimDiskCrashReport *report);
/* A process's open-file limit: opens past max (0 = none) fail with G_FILE_ERROR_MFILE. */
void sim_disk_set_max_fds(SimDisk *d, guint max);
guint sim_disk_open_fds(SimDisk *d);
/* Forget every descriptor (the simulator frees a crashed node's without closing them). */
void sim_disk_drop_fds(SimDisk *d);

/* Faults. Each returns false when it found nothing to corrupt. */
bool sim_disk_flip_bit_at_rest(SimDisk *d, const char *path, char **where);
/* Cut a durable file (no unsynced writes) at a random length below its size (a lost tail:
 * a bad block map, a misbehaving controller); *where says which file and where. */
bool sim_disk_truncate_at_rest(SimDisk *d, const char *path, char **where);
bool sim_disk_flip_next_read(SimDisk *d, const char *path);
bool sim_disk_add_bad_range(SimDisk *d, const char *path, uint64_t off, uint64_t len);
void sim_disk_misdirect_next_write(SimDisk *d);
void sim_disk_set_capacity(SimDisk *d, uint64_t bytes); /* 0 = unlimited */
void sim_disk_set_full(SimDisk *d, bool full); /* writes, extensions, creations: ENOSPC */
/* The next `count` fsyncs of a file whose path contains `path` (NULL = any file) with unsynced
 * writes fail with `code` (G_FILE_ERROR_IO or G_FILE_ERROR_NOSPC), losing part of them: see
 * SYNC FAILURES in sim_disk.c. */
void sim_disk_fail_syncs(SimDisk *d, const char *path, int code, uint64_t count);
/* Flip bit `bit` of durable byte `off` of path; false when there is no such byte. */
bool sim_disk_flip_bit(SimDisk *d, const char *path, uint64_t off, int bit);
uint64_t sim_disk_used(const SimDisk *d);
char **sim_disk_paths(SimDisk *d);

#endif
