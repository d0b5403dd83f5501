/* sim_selftest.c — `minijet-sim selftest`: unit tests of the simulator's own parts
 * (GLib testing, TAP with --tap): the scheduler's order, the PRNG streams, the disk's crash
 * model and faults, the scenario parser's errors. The world is only as trustworthy as these:
 * a disk model that kept fsynced data "by accident" would make every store look correct.
 */
#include <string.h>

#include "env.h"
#include "sim_disk.h"
#include "raft_checker.h"
#include "sim_env.h"
#include "sim_net.h"
#include "sim_scenario.h"
#include "sim_sched.h"
#include "sim_selftest.h"

/* --- scheduler --- */

static void record(void *ctx, void *a, uint64_t b) {
    GString *s = ctx;
    g_string_append_printf(s, "%s%" G_GUINT64_FORMAT, s->len ? "," : "", b);
}

static void test_sched_order(void) {
    SimSched s;
    sim_sched_init(&s);
    GString *out = g_string_new(NULL);
    sim_sched_at(&s, 30, record, NULL, 1);
    sim_sched_at(&s, 10, record, NULL, 2);
    sim_sched_at(&s, 30, record, NULL, 3); /* same time as 1: after it (scheduled later) */
    sim_sched_at(&s, 20, record, NULL, 4);
    sim_sched_at(&s, 10, record, NULL, 5);
    while (sim_sched_step(&s, out, 25)) {}
    g_assert_cmpstr(out->str, ==, "2,5,4");
    g_assert_cmpint(s.now_ns, ==, 20);
    while (sim_sched_step(&s, out, INT64_MAX)) {}
    g_assert_cmpstr(out->str, ==, "2,5,4,1,3");
    g_string_free(out, TRUE);
    sim_sched_clear(&s);
}

static void test_rng_streams(void) {
    Rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) g_assert_cmpuint(rng_next(&a), ==, rng_next(&b));
    Rng root;
    rng_seed(&root, 7);
    Rng n1 = rng_derive(&root, "n1"), n1b = rng_derive(&root, "n1"), n2 = rng_derive(&root, "n2");
    uint64_t x = rng_next(&n1);
    g_assert_cmpuint(x, ==, rng_next(&n1b));
    g_assert_cmpuint(x, !=, rng_next(&n2));
    for (int i = 0; i < 1000; i++) {
        int64_t v = rng_range(&a, -3, 3);
        g_assert_cmpint(v, >=, -3);
        g_assert_cmpint(v, <=, 3);
        double d = rng_double(&a);
        g_assert_cmpfloat(d, >=, 0);
        g_assert_cmpfloat(d, <, 1);
    }
}

/* --- disk --- */

static char *read_all(SimDisk *d, const char *path) {
    int fd = sim_disk_open(d, path, ENV_FILE_READ, NULL);
    if (fd < 0) return NULL;
    gint64 n = sim_disk_size(d, fd, NULL);
    char *buf = g_malloc0((gsize)n + 1);
    g_assert_cmpint(sim_disk_pread(d, fd, buf, (size_t)n, 0, NULL), ==, n);
    sim_disk_close(d, fd);
    return buf;
}

static int create_synced(SimDisk *d, const char *path, const char *text) {
    int fd = sim_disk_open(d, path, ENV_FILE_WRITE | ENV_FILE_CREATE, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(sim_disk_pwrite(d, fd, text, strlen(text), 0, NULL), ==, (gssize)strlen(text));
    g_assert_true(sim_disk_sync(d, fd, NULL));
    g_assert_true(sim_disk_dir_sync(d, ".", NULL));
    return fd;
}

static void test_disk_fsync_survives(void) {
    for (uint64_t seed = 1; seed <= 50; seed++) {
        Rng r;
        rng_seed(&r, seed);
        SimDisk *d = sim_disk_new(&r);
        int fd = create_synced(d, "log", "durable|");
        g_assert_cmpint(sim_disk_pwrite(d, fd, "lost?", 5, 8, NULL), ==, 5);
        g_autofree char *before = read_all(d, "log");
        g_assert_cmpstr(before, ==, "durable|lost?"); /* the cache is coherent */
        SimDiskCrashReport rep;
        sim_disk_crash(d, 0.5, 0.5, &rep);
        g_assert_cmpuint(rep.writes_unsynced, ==, 1);
        g_autofree char *after = read_all(d, "log");
        g_assert_true(g_str_has_prefix(after, "durable|")); /* fsynced bytes always survive */
        g_assert_true(strlen(after) == 8 || g_str_has_prefix("durable|lost?", after)); /* lost, torn or kept */
        sim_disk_free(d);
    }
}

static void test_disk_crash_explores(void) {
    /* over many seeds the crash keeps all, none and a torn part of unsynced writes */
    bool all = false, none = false, torn = false;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        Rng r;
        rng_seed(&r, seed);
        SimDisk *d = sim_disk_new(&r);
        int fd = create_synced(d, "f", "");
        sim_disk_pwrite(d, fd, "aaaa", 4, 0, NULL);
        sim_disk_pwrite(d, fd, "bbbb", 4, 4, NULL);
        SimDiskCrashReport rep;
        sim_disk_crash(d, 0.5, 0.5, &rep);
        g_autofree char *s = read_all(d, "f");
        all |= strcmp(s, "aaaabbbb") == 0;
        none |= s[0] == '\0';
        torn |= rep.writes_torn > 0;
        sim_disk_free(d);
    }
    g_assert_true(all && none && torn);
}

static void test_disk_names_need_dir_sync(void) {
    Rng r;
    rng_seed(&r, 3);
    int lost = 0;
    for (int i = 0; i < 50; i++) {
        SimDisk *d = sim_disk_new(&r);
        int fd = sim_disk_open(d, "new", ENV_FILE_WRITE | ENV_FILE_CREATE, NULL);
        sim_disk_pwrite(d, fd, "x", 1, 0, NULL);
        sim_disk_sync(d, fd, NULL); /* data synced, name not */
        SimDiskCrashReport rep;
        sim_disk_crash(d, 1, 0, &rep);
        lost += !sim_disk_exists(d, "new");
        sim_disk_free(d);
    }
    g_assert_cmpint(lost, >, 0); /* without dir_sync the name may vanish */
    SimDisk *d = sim_disk_new(&r);
    g_assert_true(sim_disk_mkdir(d, "a/b", NULL));
    int fd = sim_disk_open(d, "a/b/tmp", ENV_FILE_WRITE | ENV_FILE_CREATE, NULL);
    sim_disk_pwrite(d, fd, "v2", 2, 0, NULL);
    sim_disk_sync(d, fd, NULL);
    g_assert_true(sim_disk_rename(d, "a/b/tmp", "a/b/cfg", NULL));
    g_assert_true(sim_disk_dir_sync(d, "a/b", NULL));
    SimDiskCrashReport rep;
    sim_disk_crash(d, 0, 0, &rep);
    g_autofree char *v = read_all(d, "a/b/cfg");
    g_assert_cmpstr(v, ==, "v2");
    g_assert_false(sim_disk_exists(d, "a/b/tmp"));
    g_auto(GStrv) ls = sim_disk_dir_list(d, "a", NULL);
    g_assert_cmpstr(ls[0], ==, "b");
    g_assert_null(ls[1]);
    sim_disk_free(d);
}

static void test_disk_faults(void) {
    Rng r;
    rng_seed(&r, 9);
    SimDisk *d = sim_disk_new(&r);
    int fd = create_synced(d, "seg", "0123456789");
    g_autofree char *where = NULL;
    g_assert_true(sim_disk_flip_bit_at_rest(d, "seg", &where));
    g_autofree char *s = read_all(d, "seg");
    g_assert_cmpstr(s, !=, "0123456789");
    SimDiskCrashReport rep;
    sim_disk_crash(d, 1, 0, &rep);
    g_autofree char *s2 = read_all(d, "seg");
    g_assert_cmpstr(s2, ==, s); /* rot is at rest: it survives a restart */
    fd = sim_disk_open(d, "seg", ENV_FILE_WRITE, NULL);
    g_assert_true(sim_disk_add_bad_range(d, "seg", 2, 1));
    char buf[4];
    g_autoptr(GError) e = NULL;
    g_assert_cmpint(sim_disk_pread(d, fd, buf, 4, 0, &e), ==, -1);
    g_assert_error(e, G_FILE_ERROR, G_FILE_ERROR_IO);
    g_clear_error(&e);
    g_assert_cmpint(sim_disk_pread(d, fd, buf, 2, 5, NULL), ==, 2);
    sim_disk_set_capacity(d, sim_disk_used(d));
    g_assert_cmpint(sim_disk_pwrite(d, fd, "more", 4, 10, &e), ==, -1);
    g_assert_error(e, G_FILE_ERROR, G_FILE_ERROR_NOSPC);
    g_assert_cmpint(sim_disk_pwrite(d, fd, "ok", 2, 0, NULL), ==, 2); /* overwrite needs no space */
    sim_disk_free(d);
}

/* --- scenarios: bad input is an error with file, line and key --- */

static void test_scenario_errors(void) {
    static const struct { const char *text, *want; } cases[] = {
        {"[run]\nduration = 5s\nbogus = 1\n", "x.ini:3: [run] bogus: unknown key"},
        {"[run]\nduration = 5x\n", "x.ini:2: [run] duration: '5x' is not a duration"},
        {"[run]\nduration = 5s\n[client.p]\ntype = publisher\nsubject = a\n", "x.ini: [client.p] rate: a publisher needs a rate"},
        {"[run]\nduration = 5s\n[client.p]\ntype = subscriber\nsubject = a\n[faults]\nx = 6s crash n1\n",
         "x.ini:7: [faults] x: at 6s is after the run ends"},
        {"[run]\nduration = 5s\n[cluster]\nnodes = 2\n[client.p]\ntype = subscriber\nsubject = a\nnode = n3\n",
         "x.ini:8: [client.p] node: no node 'n3'"},
        {"[run]\nduration = 5s\n[cluster]\nnodes = 2\njetstream = true\n[client.p]\ntype = js-publisher\nstream = S\n"
         "subject = a\nrate = 1/s\nreplicas = 3\n", "x.ini:11: [client.p] replicas: 3 replicas need at least 3 nodes"},
        {"[nope]\n", "x.ini: [nope]: unknown section"},
        {"not ini\n", "x.ini:1: "},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) e = NULL;
        SimScenario *sc = sim_scenario_parse(cases[i].text, strlen(cases[i].text), "x.ini", &e);
        g_assert_null(sc);
        g_assert_nonnull(e);
        if (!g_str_has_prefix(e->message, cases[i].want)) g_error("case %u: got '%s'", i, e->message);
        g_assert_null(strchr(e->message, '\n'));
    }
    const char *good = "[run]\nduration = 2s\n[client.s]\ntype = subscriber\nsubject = a.>\n";
    SimScenario *sc = sim_scenario_parse(good, strlen(good), "sim/scenarios/good.ini", NULL);
    g_assert_nonnull(sc);
    g_assert_cmpstr(sc->name, ==, "good");
    g_assert_cmpint(sc->duration_ns, ==, 2 * SIM_S);
    sim_scenario_free(sc);
}

/* --- peer links: loss, duplication, reordering, partitions (for Raft, later) --- */

typedef struct {
    int got[3];
    int reordered;
    uint64_t last[3];
} PeerCount;

static void on_peer(void *ctx, int from, const uint8_t *data, size_t len) {
    PeerCount *pc = ctx;
    uint64_t n;
    g_assert_cmpuint(len, ==, sizeof n);
    memcpy(&n, data, sizeof n);
    if (n < pc->last[from]) pc->reordered++;
    pc->last[from] = n;
    pc->got[from]++;
}

static void send_burst(void *ctx, void *a, uint64_t from) {
    Sim *sim = ctx;
    for (uint64_t n = 1; n <= 1000; n++) sim_net_peer_send(sim->net, (int)from, 2, &n, sizeof n);
}

/* raft_checker with a broker's member ids (hashes, not 1..n) and a compacted prefix: a member
 * that stands at a snapshot is judged by the snapshot's (index, term) against what was applied
 * there; a wrong term, or an index nobody applied, is a state machine safety violation. */
static int checker_violations;
static void count_violation(void *ctx, const char *what) { checker_violations++; }

static void test_raft_checker_snapshot_at(void) {
    static const uint32_t ids[] = {0x9a3f0001, 0x11, 0xdeadbeef};
    static const char *const names[] = {"n1", "n2", "n3"};
    RaftChecker *k = raft_checker_new(3, count_violation, NULL);
    raft_checker_members(k, ids, names);
    checker_violations = 0;
    for (uint64_t i = 1; i <= 5; i++) { /* n1 applies 1..5 (terms 1,1,2,2,2) */
        GBytes *d = g_bytes_new(&i, sizeof i);
        RaftEntry e = {i <= 2 ? 1 : 2, i, d, RAFT_ENTRY_NORMAL};
        raft_checker_apply(k, ids[0], &e);
        g_bytes_unref(d);
    }
    g_assert_cmpint(checker_violations, ==, 0);
    raft_checker_restore_at(k, ids[1], 4, 2); /* n2 installs a snapshot through 4 (term 2): fine */
    g_assert_cmpint(checker_violations, ==, 0);
    uint64_t five = 5;
    GBytes *d = g_bytes_new(&five, sizeof five);
    RaftEntry e5 = {2, 5, d, RAFT_ENTRY_NORMAL};
    raft_checker_apply(k, ids[1], &e5); /* and applies 5 after it: the same chain as n1's */
    g_assert_cmpint(checker_violations, ==, 0);
    raft_checker_restore_at(k, ids[2], 4, 1); /* n3: a snapshot through 4 of term 1 */
    g_assert_cmpint(checker_violations, ==, 1);
    raft_checker_restore_at(k, ids[2], 9, 2); /* through 9, which nobody applied */
    g_assert_cmpint(checker_violations, ==, 2);
    raft_checker_restore_at(k, ids[2], 0, 0); /* an empty member: nothing to compare */
    GBytes *other = g_bytes_new("x", 1);
    RaftEntry e1 = {1, 1, other, RAFT_ENTRY_NORMAL};
    raft_checker_apply(k, ids[2], &e1); /* a different payload at index 1 */
    g_assert_cmpint(checker_violations, ==, 3);
    g_bytes_unref(other);
    g_bytes_unref(d);
    raft_checker_free(k);
}

static void test_peer_links(void) {
    const char *text = "[run]\nduration = 5s\n[cluster]\nnodes = 1\n[net]\npeer = unreliable\n"
                       "[client.s]\ntype = subscriber\nsubject = x\n";
    SimScenario *sc = sim_scenario_parse(text, strlen(text), "peer.ini", NULL);
    g_assert_nonnull(sc);
    /* three nodes for the network model under test (set after parsing: the links are what
     * is tested, the nodes' clusters form meanwhile and do not use peer links) */
    sc->nodes = 3;
    SimTrace *trace = sim_trace_new(NULL, false, NULL);
    Sim *sim = sim_new(sc, 1, trace);
    PeerCount pc = {0};
    sim_net_peer_handler(sim->net, 2, on_peer, &pc);
    sim_net_partition(sim->net, 1, 2, true); /* n2 -> n3 blocked, one way */
    sim_at(sim, SIM_S, send_burst, NULL, 0);
    sim_at(sim, SIM_S, send_burst, NULL, 1);
    sim_run(sim);
    g_assert_cmpint(pc.got[1], ==, 0);                          /* the partition held */
    g_assert_cmpint(pc.got[0], >, 820);                         /* about 10% lost ... */
    g_assert_cmpint(pc.got[0], <, 960);
    g_assert_cmpint(pc.reordered, >, 0);                        /* ... and reordered */
    sim_free(sim);
    sim_trace_free(trace);
    sim_scenario_free(sc);
}

int sim_selftest(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sim/sched/order", test_sched_order);
    g_test_add_func("/sim/rng/streams", test_rng_streams);
    g_test_add_func("/sim/disk/fsync-survives-crash", test_disk_fsync_survives);
    g_test_add_func("/sim/disk/crash-explores-subsets-and-tears", test_disk_crash_explores);
    g_test_add_func("/sim/disk/names-need-dir-sync", test_disk_names_need_dir_sync);
    g_test_add_func("/sim/disk/faults", test_disk_faults);
    g_test_add_func("/sim/scenario/errors", test_scenario_errors);
    g_test_add_func("/sim/net/peer-links", test_peer_links);
    g_test_add_func("/sim/raft-checker/snapshot-at", test_raft_checker_snapshot_at);
    return g_test_run();
}
