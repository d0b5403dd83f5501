/* sim_disk.c — the simulated disk (see sim_disk.h for the interface and invariants).
 *
 * ============================================================================================
 * THE CRASH MODEL
 *
 *   A write() that returned has only reached the kernel's page cache. It reaches the platter
 *   when the kernel gets round to it — in any order, in pieces — or when fsync() forces it.
 *   A power cut keeps whatever had reached the platter and nothing else. Storage engines get
 *   this wrong in three classic ways: acknowledging data before fsync, assuming writes reach
 *   the disk in the order they were issued, and assuming a write is all-or-nothing.
 *
 *   HOW IT WORKS. Each file (inode) holds its current bytes — what reads return — and an
 *   undo log of the writes and truncates made since its last fsync, each with the bytes it
 *   overwrote. fsync clears the log: everything in the file is now durable. At a crash we:
 *     1. undo the log backwards, recovering exactly the durable image;
 *     2. replay the log forwards, keeping each operation with probability keep_p, drawn
 *        from the node's seeded stream (so the kept set is a random *subset*, not a prefix:
 *        the kernel writes back pages in any order);
 *     3. with probability tear_p cut the last kept write short at a random byte (a torn
 *        write: the sector or page it spanned was half written when the power went).
 *   Names behave the same way one level up: creating, renaming and removing entries changes
 *   the visible namespace at once but the durable one only at dir_sync() of the parent
 *   directory; at a crash a random prefix of the unsynced namespace changes survives
 *   (journaling filesystems commit metadata in order, so a prefix, not a subset). A file
 *   whose name did not survive is gone, whatever was fsynced into it.
 *
 *   FAULTS beyond crashes, each injected by the scenario or the swarm: a bit flipped at rest
 *   (the platter rotted: every later read sees it), a bit flipped on the next read (a bad
 *   cable: transient), a latent sector error (reads of a range fail with EIO), a misdirected
 *   write (the next write lands 4 KiB away from where it was aimed), a full disk (ENOSPC),
 *   slow fsync (the caller stalls the node for the latency), and a failed fsync (below).
 *   Always on: a path component longer than 255 bytes is refused (ENAMETOOLONG), as Linux does.
 *
 *   SYNC FAILURES (EIO, ENOSPC). Linux reports a failed writeback once: fsync returns EIO (or
 *   ENOSPC on thin-provisioned, NFS or delayed-allocation filesystems), the pages it could not
 *   write are marked clean, and the NEXT fsync returns success — for data that never reached
 *   the platter (PostgreSQL's "fsyncgate", 2018). We model the worst case of that, which is
 *   also deterministic: none of the file's unsynced writes reached the platter, and the page
 *   cache dropped them too, so reads and a later crash both see the platter (the file as of
 *   its last good fsync); the undo log is cleared, so a retried fsync succeeds and proves
 *   nothing.
 *   A store that retries and acknowledges loses acknowledged messages; the tests catch it.
 *
 * WHO USES IT
 *   The simulator (one disk per node, sim_env.c) and the unit-test world (tests/test_env.c,
 *   one disk per TestEnv, with the prefix crash modes its tests were written for): one model
 *   of a crashable disk, not two.
 *
 *   ONE RULE FOR FAULTS: they are never injected into every replica of the same data at
 *   once. A single node's disk may rot (a lone server cannot survive that, it can only
 *   refuse to serve corrupt data), but in a cluster the fault injector corrupts a minority of
 *   replicas, because losing every copy is data loss no system survives and says nothing
 *   about the system under test. The injector, not this file, enforces the rule.
 *
 * LIMITATIONS
 *   Directories themselves are durable as soon as they are made. The undo log holds a copy
 *   of every overwritten range until fsync, so a file written for a long time without fsync
 *   costs twice its size in memory. Sector granularity is ignored: tears happen at any byte.
 * ============================================================================================
 */
#include "sim_disk.h"

#include <errno.h>
#include <string.h>

#include "env.h"

typedef struct Undo {
    bool truncate;
    uint64_t off;      /* write: where; truncate: the new length */
    uint64_t old_size; /* file size before this operation */
    GBytes *old;       /* bytes this operation overwrote or cut off (from off) */
    GBytes *data;      /* write: the bytes written */
} Undo;

typedef struct Inode {
    uint64_t ino;
    GByteArray *data;
    GPtrArray *undo;   /* of Undo*, since the last fsync */
    bool flip_next_read;
    GArray *bad;       /* pairs of uint64 (off, len): latent sector errors */
} Inode;

typedef enum { NS_CREATE, NS_REMOVE, NS_RENAME } NsKind;
typedef struct NsOp {
    NsKind kind;
    char *path, *path2; /* rename: path -> path2 */
    Inode *inode;
} NsOp;

typedef struct Fd {
    Inode *inode;
    bool writable;
    bool dead; /* the process that opened it died in a crash: every op fails, close frees it */
} Fd;

struct SimDisk {
    Rng *rng;
    GPtrArray *inodes;   /* every inode ever made, in creation order (owns them) */
    uint64_t next_ino;
    GHashTable *names;   /* path -> Inode*: what the process sees */
    GHashTable *dnames;  /* path -> Inode*: what a crash would leave */
    GPtrArray *nslog;    /* of NsOp*: namespace changes not yet made durable */
    GHashTable *dirs;    /* set of directory paths ("." always) */
    GPtrArray *fds;      /* index = fd, NULL when free */
    guint open_fds, max_fds; /* descriptors in use; over max_fds (0 = no limit) open fails: EMFILE */
    uint64_t capacity, used;
    bool full;           /* sim_disk_set_full: every write, extension and creation fails */
    bool misdirect_next;
    uint64_t sync_failures; /* the next this-many fsyncs (of files matching sync_fail_path) fail */
    char *sync_fail_path;   /* NULL = any file */
    int sync_fail_code;     /* G_FILE_ERROR_IO or G_FILE_ERROR_NOSPC */
};

static void undo_free(gpointer p) {
    Undo *u = p;
    if (u->old) g_bytes_unref(u->old);
    if (u->data) g_bytes_unref(u->data);
    g_free(u);
}
static void nsop_free(gpointer p) {
    NsOp *o = p;
    g_free(o->path);
    g_free(o->path2);
    g_free(o);
}
static void inode_free(gpointer p) {
    Inode *i = p;
    g_byte_array_unref(i->data);
    g_ptr_array_unref(i->undo);
    g_array_unref(i->bad);
    g_free(i);
}

SimDisk *sim_disk_new(Rng *rng) {
    SimDisk *d = g_new0(SimDisk, 1);
    d->rng = rng;
    d->inodes = g_ptr_array_new_with_free_func(inode_free);
    d->next_ino = 1;
    d->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->dnames = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->nslog = g_ptr_array_new_with_free_func(nsop_free);
    d->dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_add(d->dirs, g_strdup("."));
    d->fds = g_ptr_array_new_with_free_func(g_free);
    return d;
}

void sim_disk_free(SimDisk *d) {
    if (!d) return;
    g_ptr_array_unref(d->fds);
    g_hash_table_destroy(d->names);
    g_hash_table_destroy(d->dnames);
    g_ptr_array_unref(d->nslog);
    g_hash_table_destroy(d->dirs);
    g_ptr_array_unref(d->inodes);
    g_free(d->sync_fail_path);
    g_free(d);
}

/* "./a//b/" -> "a/b"; "" and "./" -> "." */
static char *norm(const char *path) {
    GString *s = g_string_new(NULL);
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    for (int i = 0; parts[i]; i++) {
        if (parts[i][0] == '\0' || strcmp(parts[i], ".") == 0) continue;
        if (s->len) g_string_append_c(s, '/');
        g_string_append(s, parts[i]);
    }
    if (s->len == 0) g_string_append_c(s, '.');
    return g_string_free(s, FALSE);
}

static char *parent_of(const char *normed) {
    const char *slash = strrchr(normed, '/');
    return slash ? g_strndup(normed, (gsize)(slash - normed)) : g_strdup(".");
}

static gboolean err(GError **error, int code, const char *what, const char *path) {
    g_set_error(error, G_FILE_ERROR, code, "%s %s: %s", what, path,
                code == G_FILE_ERROR_NOENT ? "no such file or directory"
                : code == G_FILE_ERROR_NOSPC ? "no space left on device"
                : code == G_FILE_ERROR_IO ? "input/output error"
                : code == G_FILE_ERROR_BADF ? "bad file descriptor"
                : code == G_FILE_ERROR_NAMETOOLONG ? "file name too long" : "failed");
    return FALSE;
}

/* Like Linux file systems, a path component may be at most 255 bytes (NAME_MAX): a longer
 * name is refused when a file is created or renamed to it. */
static gboolean name_too_long(const char *path) {
    for (const char *p = path; *p != '\0';) {
        size_t n = strcspn(p, "/");
        if (n > 255) return TRUE;
        p += n;
        if (*p == '/') p++;
    }
    return FALSE;
}

static void ns_log(SimDisk *d, NsKind k, const char *p, const char *p2, Inode *ino) {
    NsOp *o = g_new0(NsOp, 1);
    o->kind = k;
    o->path = g_strdup(p);
    o->path2 = g_strdup(p2);
    o->inode = ino;
    g_ptr_array_add(d->nslog, o);
}

static void ns_apply(GHashTable *names, const NsOp *o) {
    switch (o->kind) {
    case NS_CREATE: g_hash_table_insert(names, g_strdup(o->path), o->inode); break;
    case NS_REMOVE: g_hash_table_remove(names, o->path); break;
    case NS_RENAME:
        g_hash_table_remove(names, o->path);
        g_hash_table_insert(names, g_strdup(o->path2), o->inode);
        break;
    }
}

static Fd *fd_get(SimDisk *d, int fd) {
    if (fd < 0 || (guint)fd >= d->fds->len) return NULL;
    Fd *f = g_ptr_array_index(d->fds, fd);
    return f && !f->dead ? f : NULL;
}

/* --- data operations, each recorded in the inode's undo log --- */

static void apply_write(Inode *i, uint64_t off, const void *buf, size_t len) {
    if (off + len > i->data->len) {
        guint old = i->data->len;
        g_byte_array_set_size(i->data, (guint)(off + len));
        memset(i->data->data + old, 0, off + len - old);
    }
    memcpy(i->data->data + off, buf, len);
}

static void apply_truncate(Inode *i, uint64_t len) {
    guint old = i->data->len;
    g_byte_array_set_size(i->data, (guint)len);
    if (len > old) memset(i->data->data + old, 0, len - old);
}

static GBytes *slice(Inode *i, uint64_t from, uint64_t to) {
    if (to > i->data->len) to = i->data->len;
    if (from >= to) return NULL;
    return g_bytes_new(i->data->data + from, to - from);
}

static void do_write(SimDisk *d, Inode *i, uint64_t off, const void *buf, size_t len) {
    Undo *u = g_new0(Undo, 1);
    u->off = off;
    u->old_size = i->data->len;
    u->old = slice(i, off, off + len);
    u->data = g_bytes_new(buf, len);
    g_ptr_array_add(i->undo, u);
    uint64_t before = i->data->len;
    apply_write(i, off, buf, len);
    d->used += i->data->len - before;
}

static void do_truncate(SimDisk *d, Inode *i, uint64_t len) {
    Undo *u = g_new0(Undo, 1);
    u->truncate = true;
    u->off = len;
    u->old_size = i->data->len;
    u->old = slice(i, len, i->data->len);
    g_ptr_array_add(i->undo, u);
    d->used = d->used - i->data->len + len;
    apply_truncate(i, len);
}

void sim_disk_set_max_fds(SimDisk *d, guint max) { d->max_fds = max; }
guint sim_disk_open_fds(SimDisk *d) { return d->open_fds; }

int sim_disk_open(SimDisk *d, const char *path, int flags, GError **error) {
    g_autofree char *p = norm(path);
    if (d->max_fds > 0 && d->open_fds >= d->max_fds) return err(error, G_FILE_ERROR_MFILE, "open", p), -1;
    Inode *i = g_hash_table_lookup(d->names, p);
    if (!i) {
        if (!(flags & ENV_FILE_CREATE)) return err(error, G_FILE_ERROR_NOENT, "open", p), -1;
        g_autofree char *parent = parent_of(p);
        if (!g_hash_table_contains(d->dirs, parent)) return err(error, G_FILE_ERROR_NOENT, "open", p), -1;
        if (g_hash_table_contains(d->dirs, p)) return err(error, G_FILE_ERROR_ISDIR, "open", p), -1;
        if (name_too_long(p)) return err(error, G_FILE_ERROR_NAMETOOLONG, "open", p), -1;
        if (d->full) return err(error, G_FILE_ERROR_NOSPC, "open", p), -1;
        i = g_new0(Inode, 1);
        i->ino = d->next_ino++;
        i->data = g_byte_array_new();
        i->undo = g_ptr_array_new_with_free_func(undo_free);
        i->bad = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        g_ptr_array_add(d->inodes, i);
        g_hash_table_insert(d->names, g_strdup(p), i);
        ns_log(d, NS_CREATE, p, NULL, i);
    }
    if ((flags & ENV_FILE_TRUNC) && i->data->len > 0) do_truncate(d, i, 0);
    Fd *f = g_new0(Fd, 1);
    d->open_fds++;
    f->inode = i;
    f->writable = (flags & ENV_FILE_WRITE) != 0;
    for (guint k = 0; k < d->fds->len; k++)
        if (g_ptr_array_index(d->fds, k) == NULL) {
            d->fds->pdata[k] = f;
            return (int)k;
        }
    g_ptr_array_add(d->fds, f);
    return (int)d->fds->len - 1;
}

gssize sim_disk_pread(SimDisk *d, int fd, void *buf, size_t len, uint64_t off, GError **error) {
    Fd *f = fd_get(d, fd);
    if (!f) return err(error, G_FILE_ERROR_BADF, "read", "fd"), -1;
    Inode *i = f->inode;
    for (guint k = 0; k + 1 < i->bad->len; k += 2) {
        uint64_t bo = g_array_index(i->bad, uint64_t, k), bl = g_array_index(i->bad, uint64_t, k + 1);
        if (off < bo + bl && bo < off + len) return err(error, G_FILE_ERROR_IO, "read", "latent sector error"), -1;
    }
    if (off >= i->data->len) return 0;
    size_t n = MIN(len, i->data->len - off);
    memcpy(buf, i->data->data + off, n);
    if (i->flip_next_read && n > 0) {
        i->flip_next_read = false;
        uint64_t at = rng_below(d->rng, n);
        ((uint8_t *)buf)[at] ^= (uint8_t)(1u << rng_below(d->rng, 8));
    }
    return (gssize)n;
}

gssize sim_disk_pwrite(SimDisk *d, int fd, const void *buf, size_t len, uint64_t off,
                       GError **error) {
    Fd *f = fd_get(d, fd);
    if (!f || !f->writable) return err(error, G_FILE_ERROR_BADF, "write", "fd"), -1;
    Inode *i = f->inode;
    if (d->misdirect_next) {
        d->misdirect_next = false;
        off += 4096;
    }
    uint64_t grow = off + len > i->data->len ? off + len - i->data->len : 0;
    if (len > 0 && (d->full || (d->capacity && d->used + grow > d->capacity)))
        return err(error, G_FILE_ERROR_NOSPC, "write", "disk"), -1;
    do_write(d, i, off, buf, len);
    return (gssize)len;
}

static const char *name_of(SimDisk *d, Inode *i);
static void undo_to_platter(SimDisk *d, Inode *i, bool prefix, double keep_p, double tear_p,
                            SimDiskCrashReport *rep);

/* A failed fsync (see SYNC FAILURES above): the kernel wrote back some of the dirty pages and
 * dropped the rest, and forgot they were dirty. */
static bool sync_fails(SimDisk *d, Inode *i) {
    if (d->sync_failures == 0) return false;
    if (d->sync_fail_path && !strstr(name_of(d, i), d->sync_fail_path)) return false;
    d->sync_failures--;
    SimDiskCrashReport rep = {0};
    uint64_t before = i->data->len;
    undo_to_platter(d, i, false, 0.0, 0.0, &rep); /* the worst case: none of it was written */
    d->used = d->used - before + i->data->len;
    return true;
}

gboolean sim_disk_sync(SimDisk *d, int fd, GError **error) {
    Fd *f = fd_get(d, fd);
    if (!f) return err(error, G_FILE_ERROR_BADF, "fsync", "fd");
    if (f->inode->undo->len > 0 && sync_fails(d, f->inode))
        return err(error, d->sync_fail_code, "fsync", name_of(d, f->inode));
    g_ptr_array_set_size(f->inode->undo, 0);
    return TRUE;
}

gboolean sim_disk_truncate(SimDisk *d, int fd, uint64_t len, GError **error) {
    Fd *f = fd_get(d, fd);
    if (!f || !f->writable) return err(error, G_FILE_ERROR_BADF, "truncate", "fd");
    if (len > f->inode->data->len && (d->full || (d->capacity && d->used + len - f->inode->data->len > d->capacity)))
        return err(error, G_FILE_ERROR_NOSPC, "truncate", "disk");
    do_truncate(d, f->inode, len);
    return TRUE;
}

gboolean sim_disk_allocate(SimDisk *d, int fd, uint64_t off, uint64_t len, GError **error) {
    Fd *f = fd_get(d, fd);
    if (!f || !f->writable) return err(error, G_FILE_ERROR_BADF, "fallocate", "fd");
    uint64_t end = off + len;
    if (end <= f->inode->data->len) return TRUE;
    if (d->full || (d->capacity && d->used + end - f->inode->data->len > d->capacity))
        return err(error, G_FILE_ERROR_NOSPC, "fallocate", "disk");
    do_truncate(d, f->inode, end); /* the same undo entry as a growing truncate */
    return TRUE;
}

gint64 sim_disk_size(SimDisk *d, int fd, GError **error) {
    Fd *f = fd_get(d, fd);
    if (!f) return err(error, G_FILE_ERROR_BADF, "stat", "fd"), -1;
    return f->inode->data->len;
}

void sim_disk_close(SimDisk *d, int fd) {
    if (fd < 0 || (guint)fd >= d->fds->len || d->fds->pdata[fd] == NULL) return; /* dead ones too */
    g_free(d->fds->pdata[fd]);
    d->fds->pdata[fd] = NULL;
    d->open_fds--;
}

void sim_disk_drop_fds(SimDisk *d) {
    g_ptr_array_set_size(d->fds, 0);
    d->open_fds = 0;
}

/* --- the namespace --- */

gboolean sim_disk_rename(SimDisk *d, const char *from, const char *to, GError **error) {
    g_autofree char *f = norm(from), *t = norm(to);
    Inode *i = g_hash_table_lookup(d->names, f);
    if (!i) return err(error, G_FILE_ERROR_NOENT, "rename", f);
    g_autofree char *parent = parent_of(t);
    if (!g_hash_table_contains(d->dirs, parent)) return err(error, G_FILE_ERROR_NOENT, "rename", t);
    if (name_too_long(t)) return err(error, G_FILE_ERROR_NAMETOOLONG, "rename", t);
    g_hash_table_remove(d->names, f);
    g_hash_table_insert(d->names, g_strdup(t), i);
    ns_log(d, NS_RENAME, f, t, i);
    return TRUE;
}

gboolean sim_disk_remove(SimDisk *d, const char *path, GError **error) {
    g_autofree char *p = norm(path);
    if (g_hash_table_contains(d->names, p)) {
        g_hash_table_remove(d->names, p);
        ns_log(d, NS_REMOVE, p, NULL, NULL);
        return TRUE;
    }
    if (g_hash_table_contains(d->dirs, p) && strcmp(p, ".") != 0) {
        g_auto(GStrv) entries = sim_disk_dir_list(d, p, NULL);
        if (entries && entries[0]) return err(error, G_FILE_ERROR_FAILED, "rmdir (not empty)", p);
        g_hash_table_remove(d->dirs, p);
        return TRUE;
    }
    return err(error, G_FILE_ERROR_NOENT, "remove", p);
}

gboolean sim_disk_exists(SimDisk *d, const char *path) {
    g_autofree char *p = norm(path);
    return g_hash_table_contains(d->names, p) || g_hash_table_contains(d->dirs, p);
}

gboolean sim_disk_mkdir(SimDisk *d, const char *path, GError **error) {
    g_autofree char *p = norm(path);
    if (g_hash_table_contains(d->names, p)) return err(error, G_FILE_ERROR_EXIST, "mkdir", p);
    for (char *s = p; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (g_hash_table_contains(d->names, p)) return err(error, G_FILE_ERROR_NOTDIR, "mkdir", p);
        g_hash_table_add(d->dirs, g_strdup(p));
        *s = '/';
    }
    g_hash_table_add(d->dirs, g_strdup(p));
    return TRUE;
}

static bool op_in_dir(const NsOp *o, const char *dir) {
    g_autofree char *a = parent_of(o->path);
    if (strcmp(a, dir) == 0) return true;
    if (!o->path2) return false;
    g_autofree char *b = parent_of(o->path2);
    return strcmp(b, dir) == 0;
}

gboolean sim_disk_dir_sync(SimDisk *d, const char *path, GError **error) {
    g_autofree char *p = norm(path);
    if (!g_hash_table_contains(d->dirs, p)) return err(error, G_FILE_ERROR_NOENT, "fsync dir", p);
    for (guint k = 0; k < d->nslog->len;) {
        NsOp *o = g_ptr_array_index(d->nslog, k);
        if (op_in_dir(o, p)) {
            ns_apply(d->dnames, o);
            g_ptr_array_remove_index(d->nslog, k); /* keeps order */
        } else
            k++;
    }
    return TRUE;
}

static gint cmp_str(gconstpointer a, gconstpointer b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hash-table keys in sorted order: the order of a string-keyed table depends on its
 * insertion history, never on pointers, but sorting makes listings obviously stable. */
static GPtrArray *sorted_keys(GHashTable *h) {
    GPtrArray *a = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, h);
    while (g_hash_table_iter_next(&it, &k, NULL)) g_ptr_array_add(a, k);
    g_ptr_array_sort(a, cmp_str);
    return a;
}

char **sim_disk_dir_list(SimDisk *d, const char *path, GError **error) {
    g_autofree char *p = norm(path);
    if (!g_hash_table_contains(d->dirs, p)) return err(error, G_FILE_ERROR_NOENT, "list", p), NULL;
    /* one pass without allocating per key (a 10,000-stream store lists its folders once per
     * stream), then the children sorted: the listing does not depend on the tables' order */
    GPtrArray *out = g_ptr_array_new();
    GHashTable *srcs[2] = {d->names, d->dirs};
    bool top = strcmp(p, ".") == 0;
    size_t plen = strlen(p);
    for (int s = 0; s < 2; s++) {
        GHashTableIter it;
        gpointer k;
        g_hash_table_iter_init(&it, srcs[s]);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
            const char *key = k, *base = strrchr(key, '/');
            if (strcmp(key, ".") == 0) continue;
            bool child = top ? base == NULL
                             : base != NULL && (size_t)(base - key) == plen && strncmp(key, p, plen) == 0;
            if (child) g_ptr_array_add(out, g_strdup(base ? base + 1 : key));
        }
    }
    g_ptr_array_sort(out, cmp_str);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

char **sim_disk_paths(SimDisk *d) {
    g_autoptr(GPtrArray) keys = sorted_keys(d->names);
    GPtrArray *out = g_ptr_array_new();
    for (guint k = 0; k < keys->len; k++) g_ptr_array_add(out, g_strdup(g_ptr_array_index(keys, k)));
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

/* --- the crash --- */

/* Put inode i back to its durable image, then replay what reached the platter of its unsynced
 * log: each operation with probability keep_p (any order: prefix false), or a random prefix
 * of the log (prefix true); with probability tear_p the last kept write is cut short. The log
 * is then empty: what survived simply is what is on the platter. */
static void undo_to_platter(SimDisk *d, Inode *i, bool prefix, double keep_p, double tear_p,
                            SimDiskCrashReport *rep) {
    GPtrArray *log = i->undo;
    if (log->len == 0) return;
    rep->writes_unsynced += log->len;
    for (guint k = log->len; k-- > 0;) { /* 1. back to the durable image */
        Undo *u = g_ptr_array_index(log, k);
        apply_truncate(i, u->old_size);
        if (u->old) apply_write(i, u->off, g_bytes_get_data(u->old, NULL), g_bytes_get_size(u->old));
    }
    gboolean *keep = g_new0(gboolean, log->len);
    gint last = -1;
    guint prefix_len = prefix ? (guint)rng_below(d->rng, log->len + 1) : 0;
    for (guint k = 0; k < log->len; k++) /* 2. the part the kernel had written back */
        if ((keep[k] = prefix ? k < prefix_len : rng_chance(d->rng, keep_p))) last = (gint)k;
    for (guint k = 0; k < log->len; k++) {
        if (!keep[k]) continue;
        Undo *u = g_ptr_array_index(log, k);
        rep->writes_kept++;
        if (u->truncate) {
            apply_truncate(i, u->off);
            continue;
        }
        gsize len;
        const uint8_t *data = g_bytes_get_data(u->data, &len);
        if ((gint)k == last && len > 1 && rng_chance(d->rng, tear_p)) { /* 3. torn */
            len = 1 + rng_below(d->rng, len - 1);
            rep->writes_torn++;
        }
        apply_write(i, u->off, data, len);
    }
    g_free(keep);
    g_ptr_array_set_size(log, 0);
}

static void crash(SimDisk *d, bool prefix, double keep_p, double tear_p, bool names_prefix,
                  SimDiskCrashReport *rep) {
    memset(rep, 0, sizeof *rep);
    for (guint k = 0; k < d->fds->len; k++) { /* the process is gone: its descriptors are dead */
        Fd *f = g_ptr_array_index(d->fds, k);
        if (f) f->dead = true;
    }
    d->misdirect_next = false;
    for (guint n = 0; n < d->inodes->len; n++) /* creation order: deterministic */
        undo_to_platter(d, g_ptr_array_index(d->inodes, n), prefix, keep_p, tear_p, rep);
    /* names: the durable namespace plus (names_prefix) a random prefix of the unsynced changes */
    guint survive = names_prefix && d->nslog->len ? (guint)rng_below(d->rng, d->nslog->len + 1) : 0;
    for (guint k = 0; k < survive; k++) ns_apply(d->dnames, g_ptr_array_index(d->nslog, k));
    rep->names_lost = d->nslog->len - survive;
    g_ptr_array_set_size(d->nslog, 0);
    g_hash_table_remove_all(d->names);
    g_autoptr(GPtrArray) keys = sorted_keys(d->dnames);
    for (guint k = 0; k < keys->len; k++) {
        const char *key = g_ptr_array_index(keys, k);
        g_hash_table_insert(d->names, g_strdup(key), g_hash_table_lookup(d->dnames, key));
    }
    d->used = 0;
    for (guint n = 0; n < d->inodes->len; n++) d->used += ((Inode *)g_ptr_array_index(d->inodes, n))->data->len;
}

void sim_disk_crash(SimDisk *d, double keep_p, double tear_p, SimDiskCrashReport *rep) {
    crash(d, false, keep_p, tear_p, true, rep);
}

void sim_disk_crash_prefix(SimDisk *d, SimDiskPrefixMode mode, SimDiskCrashReport *rep) {
    if (mode == SIM_DISK_LOSE_ALL) crash(d, false, 0.0, 0.0, false, rep);
    else crash(d, true, 0.0, mode == SIM_DISK_TEAR_PREFIX ? 1.0 : 0.0, false, rep);
}

/* --- faults --- */

static void rot(Inode *i, uint64_t off, uint8_t mask);

/* A fault's target: the file at `path`, else a random non-empty file whose path contains
 * `path` (e.g. ".seg"), or any non-empty file when path is NULL. */
/* A fault's path: a substring of the file's path, or a glob when it has a '*' ("data/cluster/S-*x/raft.log"). */
static bool matches(const char *name, const char *path) {
    if (!path) return true;
    return strchr(path, '*') ? g_pattern_match_simple(path, name) : strstr(name, path) != NULL;
}

static Inode *pick(SimDisk *d, const char *path) {
    if (path) {
        g_autofree char *p = norm(path);
        Inode *exact = g_hash_table_lookup(d->names, p);
        if (exact) return exact;
    }
    g_auto(GStrv) paths = sim_disk_paths(d);
    guint n = g_strv_length(paths), eligible = 0;
    for (guint k = 0; k < n; k++)
        if (((Inode *)g_hash_table_lookup(d->names, paths[k]))->data->len > 0 && matches(paths[k], path))
            eligible++;
    if (eligible == 0) return NULL;
    guint want = (guint)rng_below(d->rng, eligible);
    for (guint k = 0; k < n; k++) {
        Inode *i = g_hash_table_lookup(d->names, paths[k]);
        if (i->data->len > 0 && matches(paths[k], path) && want-- == 0) return i;
    }
    return NULL;
}

static const char *name_of(SimDisk *d, Inode *i) {
    g_auto(GStrv) paths = sim_disk_paths(d);
    static char buf[256];
    buf[0] = '\0';
    for (int k = 0; paths[k]; k++)
        if (g_hash_table_lookup(d->names, paths[k]) == i) {
            g_strlcpy(buf, paths[k], sizeof buf);
            break;
        }
    return buf;
}

bool sim_disk_flip_bit_at_rest(SimDisk *d, const char *path, char **where) {
    Inode *i = pick(d, path);
    if (!i || i->data->len == 0) return false;
    uint64_t off = rng_below(d->rng, i->data->len);
    uint8_t mask = (uint8_t)(1u << rng_below(d->rng, 8));
    rot(i, off, mask);
    if (where) *where = g_strdup_printf("%s ino %" G_GUINT64_FORMAT " offset %" G_GUINT64_FORMAT " mask 0x%02x", name_of(d, i), i->ino, off, mask);
    return true;
}

bool sim_disk_truncate_at_rest(SimDisk *d, const char *path, char **where) {
    Inode *i = pick(d, path);
    if (!i || i->data->len == 0 || i->undo->len > 0) return false;
    uint64_t old = i->data->len, len = rng_below(d->rng, old);
    apply_truncate(i, len);
    d->used -= old - len;
    if (where) *where = g_strdup_printf("%s ino %" G_GUINT64_FORMAT " from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " bytes",
                                        name_of(d, i), i->ino, old, len);
    return true;
}

bool sim_disk_flip_next_read(SimDisk *d, const char *path) {
    Inode *i = pick(d, path);
    if (!i) return false;
    i->flip_next_read = true;
    return true;
}

bool sim_disk_add_bad_range(SimDisk *d, const char *path, uint64_t off, uint64_t len) {
    Inode *i = pick(d, path);
    if (!i) return false;
    g_array_append_val(i->bad, off);
    g_array_append_val(i->bad, len);
    return true;
}

void sim_disk_misdirect_next_write(SimDisk *d) { d->misdirect_next = true; }
void sim_disk_set_capacity(SimDisk *d, uint64_t bytes) { d->capacity = bytes; }
uint64_t sim_disk_used(const SimDisk *d) { return d->used; }

void sim_disk_set_full(SimDisk *d, bool full) { d->full = full; }

void sim_disk_fail_syncs(SimDisk *d, const char *path, int code, uint64_t count) {
    g_assert(code == G_FILE_ERROR_IO || code == G_FILE_ERROR_NOSPC);
    g_free(d->sync_fail_path);
    d->sync_fail_path = path ? g_strdup(path) : NULL;
    d->sync_fail_code = code;
    d->sync_failures = count;
}

/* Flip one bit of a durable byte (the platter rotted): reads see it, and so does a crash. */
static void rot(Inode *i, uint64_t off, uint8_t mask) {
    i->data->data[off] ^= mask;
    for (guint k = 0; k < i->undo->len; k++) { /* the durable image lives in the undo log too */
        Undo *u = g_ptr_array_index(i->undo, k);
        gsize n;
        if (!u->old) continue;
        const uint8_t *old = g_bytes_get_data(u->old, &n);
        if (off >= u->off && off < u->off + n) {
            uint8_t *copy = g_memdup2(old, n);
            copy[off - u->off] ^= mask;
            g_bytes_unref(u->old);
            u->old = g_bytes_new_take(copy, n);
        }
    }
}

bool sim_disk_flip_bit(SimDisk *d, const char *path, uint64_t off, int bit) {
    g_autofree char *p = norm(path);
    Inode *i = g_hash_table_lookup(d->names, p);
    if (!i) i = g_hash_table_lookup(d->dnames, p);
    if (!i || off >= i->data->len || bit < 0 || bit > 7) return false;
    rot(i, off, (uint8_t)(1u << bit));
    return true;
}
