/* sim_disk.h — one node's simulated disk: a page cache that lies until fsync, and faults.
 *
 * INTERFACE (mirrors the file part of EnvOps; errors are GError G_FILE_ERROR_*)
 *   sim_disk_new(rng) / sim_disk_free(d)
 *   sim_disk_open/pread/pwrite/sync/truncate/size/close, sim_disk_rename/remove/exists,
 *   sim_disk_mkdir/dir_sync/dir_list
 *   sim_disk_crash(d, keep_p, tear_p, report)   power cut: what the platter holds survives
 *   faults: sim_disk_flip_bit_at_rest, sim_disk_flip_next_read, sim_disk_add_bad_range,
 *           sim_disk_misdirect_next_write, sim_disk_set_capacity, fsync latency (caller)
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

#include "sim_sched.h"

typedef struct SimDisk SimDisk;

typedef struct SimDiskCrashReport {
    uint64_t writes_unsynced; /* unsynced writes and truncates at the moment of the crash */
    uint64_t writes_kept;     /* of which reached the platter */
    uint64_t writes_torn;     /* of which reached it only partly (0 or 1) */
    uint64_t names_lost;      /* namespace changes (create/rename/remove) undone */
} SimDiskCrashReport;

SimDisk *sim_disk_new(SimRng *rng);
void sim_disk_free(SimDisk *d);

int sim_disk_open(SimDisk *d, const char *path, int flags, GError **error);
gssize sim_disk_pread(SimDisk *d, int fd, void *buf, size_t len, uint64_t off, GError **error);
gssize sim_disk_pwrite(SimDisk *d, int fd, const void *buf, size_t len, uint64_t off,
                       GError **error);
gboolean sim_disk_sync(SimDisk *d, int fd, GError **error);
gboolean sim_disk_truncate(SimDisk *d, int fd, uint64_t len, GError **error);
gint64 sim_disk_size(SimDisk *d, int fd, GError **error);
void sim_disk_close(SimDisk *d, int fd);
gboolean sim_disk_rename(SimDisk *d, const char *from, const char *to, GError **error);
gboolean sim_disk_remove(SimDisk *d, const char *path, GError **error);
gboolean sim_disk_exists(SimDisk *d, const char *path);
gboolean sim_disk_mkdir(SimDisk *d, const char *path, GError **error);
gboolean sim_disk_dir_sync(SimDisk *d, const char *path, GError **error);
char **sim_disk_dir_list(SimDisk *d, const char *path, GError **error);

void sim_disk_crash(SimDisk *d, double keep_p, double tear_p, SimDiskCrashReport *report);

/* Faults. Each returns false when it found nothing to corrupt. */
bool sim_disk_flip_bit_at_rest(SimDisk *d, const char *path, char **where);
bool sim_disk_flip_next_read(SimDisk *d, const char *path);
bool sim_disk_add_bad_range(SimDisk *d, const char *path, uint64_t off, uint64_t len);
void sim_disk_misdirect_next_write(SimDisk *d);
void sim_disk_set_capacity(SimDisk *d, uint64_t bytes); /* 0 = unlimited */
uint64_t sim_disk_used(const SimDisk *d);
char **sim_disk_paths(SimDisk *d);

#endif
