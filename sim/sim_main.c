/* sim_main.c — the minijet-sim command line: run, swarm, replay.
 *
 *   minijet-sim run SCENARIO [--seed N] [--out DIR] [--trace] [--check-every N]
 *       one run; prints "seed=N" first and "trace_hash=<hex>" last; with --out writes
 *       DIR/trace.db, DIR/summary.txt, DIR/latency.png, DIR/throughput.png, DIR/charts.gp,
 *       DIR/scenario.ini and DIR/replay.txt (what `replay` needs)
 *   minijet-sim swarm SCENARIO --seeds A-B [--jobs J]
 *       many seeds, J at a time in forked workers (default 2); a progress line on stderr,
 *       one line per failing seed with the command that replays it, then "swarm: N seeds,
 *       F failing" (tools/book/results.py times it and keeps the totals the book quotes)
 *   minijet-sim replay DIR
 *       rerun a saved run and confirm it produces the same trace hash
 *   minijet-sim list
 *       the scenarios (name and one-line description) and the --bug values
 *   minijet-sim selftest [--tap]
 *       the simulator's own unit tests (scheduler, PRNG, disk crash model, scenario errors)
 *
 *       --bug NAME      breaks something once on purpose (`list` names them): the run must fail
 *       --sync always|never|DURATION  JetStream fsync policy instead of the scenario's: `--sync 2m`
 *                         (ack before fsync, nats-server's default) must lose acked data at a crash
 *       --check-every N overrides the scenario's cadence of the full server_check_invariants (the
 *                       walks; 1 = every step); the contracts run after every step regardless
 * SCENARIO is a path, or a name ("pubsub-basic") under the scenario folder: $MINIJET_SIM_SCENARIOS
 * when set, else sim/scenarios/ beside the binary's build/ folder (found from /proc/self/exe, so
 * a name works from any directory), else ./sim/scenarios/.
 * Exit codes (sim_check.h): 0 ok, 1 safety violation, 2 liveness violation, 3 internal error
 * (an assertion failed: the run aborted), 4 replay hash mismatch, 64 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jscluster.h"
#include "route.h"
#include "sim_check.h"
#include "sim_jscluster.h"
#include "sim_env.h"
#include "sim_raft.h"
#include "sim_report.h"
#include "sim_scenario.h"
#include "sim_selftest.h"
#include "sim_workload.h"

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* For the abort handler: what was running when an assertion fired. */
static Sim *running_sim;
static SimTrace *running_trace;
static const char *running_scenario;

static void on_abort(int sig) {
    if (running_sim) {
        fflush(stdout);
        fprintf(stderr, "minijet-sim: internal error at t=%.6fs, step %" G_GUINT64_FORMAT " (seed %" G_GUINT64_FORMAT
                "): an assertion failed\n  replay: build/minijet-sim run %s --seed %" G_GUINT64_FORMAT " --trace\n",
                (double)sim_now(running_sim) / 1e9, running_sim->sched.steps, running_sim->seed, running_scenario,
                running_sim->seed);
        if (running_trace) {
            char *h = sim_trace_hash_hex(running_trace);
            sim_trace_finish(running_trace, NULL); /* keep the events up to the failure */
            printf("trace_hash=%s\n", h);
            fflush(stdout);
        }
    }
    _exit(SIM_EXIT_INTERNAL);
}

static int usage(const char *msg) {
    if (msg) fprintf(stderr, "minijet-sim: %s\n", msg);
    fprintf(stderr,
            "usage: minijet-sim run SCENARIO [--seed N] [--out DIR] [--trace] [--check-every N] [--bug B] [--sync S]\n"
            "       minijet-sim swarm SCENARIO --seeds A-B [--jobs J]\n"
            "       minijet-sim replay DIR\n"
            "       minijet-sim list                  scenarios and --bug values\n"
            "       minijet-sim selftest [--tap]\n"
            "exit: 0 ok, 1 safety violation, 2 liveness violation, 3 internal error, 4 replay mismatch, 64 usage\n");
    return SIM_EXIT_USAGE;
}

/* The folder of named scenarios (see the header comment). */
static char *scenario_dir(void) {
    const char *env = g_getenv("MINIJET_SIM_SCENARIOS");
    if (env && *env) return g_strdup(env);
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    if (exe) {
        g_autofree char *bin_dir = g_path_get_dirname(exe); /* .../build */
        g_autofree char *rel = g_build_filename(bin_dir, "..", "sim", "scenarios", NULL);
        char *d = g_canonicalize_filename(rel, NULL);
        if (g_file_test(d, G_FILE_TEST_IS_DIR)) return d;
        g_free(d);
    }
    return g_strdup("sim/scenarios");
}

static char *resolve(const char *arg) {
    if (g_file_test(arg, G_FILE_TEST_IS_REGULAR)) return g_strdup(arg);
    g_autofree char *dir = scenario_dir();
    g_autofree char *file = g_strdup_printf("%s.ini", arg);
    char *p = g_build_filename(dir, file, NULL);
    if (g_file_test(p, G_FILE_TEST_IS_REGULAR)) return p;
    g_free(p);
    return g_strdup(arg); /* the load reports it missing */
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* minijet-sim list: every scenario with its [run] description, then the --bug values. */
static int cmd_list(int argc, char **argv) {
    (void)argv;
    if (argc != 0) return usage("list takes no arguments");
    g_autofree char *dir = scenario_dir();
    g_autoptr(GError) error = NULL;
    GDir *d = g_dir_open(dir, 0, &error);
    if (!d) {
        fprintf(stderr, "minijet-sim: %s\n", error->message);
        return SIM_EXIT_USAGE;
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (const char *f; (f = g_dir_read_name(d));)
        if (g_str_has_suffix(f, ".ini")) g_ptr_array_add(names, g_strndup(f, strlen(f) - 4));
    g_dir_close(d);
    qsort(names->pdata, names->len, sizeof(char *), cmp_str);
    printf("scenarios (%s; build/minijet-sim run NAME --seed N):\n", dir);
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *path = resolve(name);
        g_autoptr(GError) e = NULL;
        SimScenario *sc = sim_scenario_load(path, &e);
        if (!sc) {
            printf("  %-27s (does not load: %s)\n", name, e->message);
            continue;
        }
        printf("  %-27s %s%s\n", name, sc->raft.enabled ? "[raft] " : "",
               sc->description ? sc->description : "(no description)");
        sim_scenario_free(sc);
    }
    printf("--bug values (the same names as [raft] bug = in a scenario):\n");
    for (const SimBug *b = sim_bugs; b->name; b++) printf("  %-27s %s\n", b->name, b->what);
    return 0;
}

static const SimBug *find_bug(const char *name) {
    for (const SimBug *b = sim_bugs; b->name; b++)
        if (!strcmp(b->name, name)) return b;
    return NULL;
}

static bool parse_u64(const char *s, uint64_t *v) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-') return false;
    *v = x;
    return true;
}

/* One run. out_dir NULL: no files (swarm, determinism checks). */
static uint64_t check_every_override; /* --check-every: 0 = the scenario's value */
static const char *bug_name;          /* --bug: net-drop | net-dup | net-reorder */
static const char *sync_override;     /* --sync: JetStream fsync policy instead of the scenario's */
static const char *scen_arg, *bug_arg; /* the scenario and --bug as given: the replay command */
/* A swarm child's slot in memory shared with the parent: its run's queue-checker totals. */
typedef struct SwarmSlot {
    bool judged; /* a clustered JetStream run: the queue checker ran */
    SimJscTotals q;
} SwarmSlot;
static SwarmSlot *swarm_slot;

static int run_one(const SimScenario *sc, uint64_t seed, const char *out_dir, bool print_trace, bool quiet,
                   char **hash_out) {
    if (!quiet) printf("seed=%" G_GUINT64_FORMAT "\n", seed);
    if (print_trace) sim_trace_print_legend(stdout);
    g_autofree char *db = NULL;
    if (out_dir) {
        if (g_mkdir_with_parents(out_dir, 0755) != 0) {
            fprintf(stderr, "minijet-sim: cannot create %s: %s\n", out_dir, g_strerror(errno));
            return SIM_EXIT_USAGE;
        }
        db = g_build_filename(out_dir, "trace.db", NULL);
    }
    g_autoptr(GError) error = NULL;
    SimTrace *trace = sim_trace_new(db, print_trace, &error);
    if (!trace) {
        fprintf(stderr, "minijet-sim: %s\n", error->message);
        return SIM_EXIT_INTERNAL;
    }
    int64_t t0 = g_get_monotonic_time(); /* wall clock, for summary.txt only */
    double c0 = cpu_seconds();
    running_trace = trace;
    running_scenario = sc->path;
    Sim *sim = sim_new(sc, seed, trace);
    if (check_every_override) sim->check_every = check_every_override;
    sim->bug = bug_name;
    running_sim = sim;
    sim_run(sim);
    sim_workload_finish(sim->wl);
    if (sim->raft) sim_raft_finish(sim->raft);
    int code = sim_check_all(sim);
    double real_s = (double)(g_get_monotonic_time() - t0) / 1e6;
    double cpu_s = cpu_seconds() - c0;
    char *hash = sim_trace_hash_hex(trace);
    SimWorkload *wl = sim->wl;
    SimRunReport r = {.scenario = sc->name, .seed = seed, .code = code, .verdict = sim_exit_name(code), .hash = hash,
                      .events = sim_trace_events(trace), .steps = sim->sched.steps,
                      .invariant_checks = sim->invariant_checks, .sim_ns = sim->end_ns, .real_s = real_s, .cpu_s = cpu_s};
    r.violations = g_ptr_array_new_with_free_func(g_free);
    if (sim->raft) r.extra = sim_raft_summary(sim->raft);
    if (sim->jsc) r.extra = sim_jsc_summary(sim->jsc);
    if (sim->jsc && swarm_slot) {
        swarm_slot->judged = true;
        sim_jsc_totals(sim->jsc, &swarm_slot->q);
    }
    r.raft = sim->raft != NULL;
    for (guint i = 0; i < wl->violations->len; i++) {
        SimViolation *v = g_ptr_array_index(wl->violations, i);
        g_ptr_array_add(r.violations, g_strdup_printf("%s: %s", v->liveness ? "liveness" : "safety", v->what));
    }
    for (guint i = 0; i < wl->clients->len; i++) {
        SimClient *c = g_ptr_array_index(wl->clients, i);
        r.published += c->pubs->len + c->js_log->len;
        for (guint k = 0; k < c->pubs->len; k++) r.pub_unsent += !g_array_index(c->pubs, SimPubRec, k).sent;
        for (guint k = 0; k < c->js_log->len; k++)
            r.pub_unsent += g_array_index(c->js_log, SimJsRec, k).result == SIM_JS_NOT_SENT;
        r.req_ok += c->js_acks;
        r.js_acks += c->js_acks;
        r.delivered += c->delivered;
        r.req_ok += c->req_ok;
        r.req_fail += c->req_fail;
        r.reconnects += c->reconnects;
        r.server_closes += c->server_closes;
    }
    if (out_dir) {
        sim_report_metrics(sim);
        g_autofree char *seed_s = g_strdup_printf("%" G_GUINT64_FORMAT, seed);
        g_autofree char *code_s = g_strdup_printf("%d", code);
        g_autofree char *sim_s = g_strdup_printf("%" G_GINT64_FORMAT, sim->end_ns);
        sim_trace_meta(trace, "seed", seed_s);
        sim_trace_meta(trace, "scenario", sc->name);
        sim_trace_meta(trace, "scenario_path", sc->path);
        sim_trace_meta(trace, "trace_hash", hash);
        sim_trace_meta(trace, "exit_code", code_s);
        sim_trace_meta(trace, "verdict", r.verdict);
        sim_trace_meta(trace, "simulated_ns", sim_s);
    }
    running_sim = NULL;
    running_trace = NULL;
    if (!sim_trace_finish(trace, &error)) {
        fprintf(stderr, "minijet-sim: %s\n", error->message);
        code = SIM_EXIT_INTERNAL;
    }
    if (!quiet) {
        for (guint i = 0; i < r.violations->len && i < 20; i++) printf("violation: %s\n", (char *)g_ptr_array_index(r.violations, i));
        if (r.violations->len > 20) printf("violation: ... %u more (see summary.txt)\n", r.violations->len - 20);
        if (code != SIM_EXIT_OK && scen_arg)
            printf("replay: build/minijet-sim run %s --seed %" G_GUINT64_FORMAT "%s%s%s%s --trace   (or --out DIR:"
                   " trace.db, summary.txt, charts)\n", scen_arg, seed, bug_arg ? " --bug " : "", bug_arg ? bug_arg : "",
                   sync_override ? " --sync " : "", sync_override ? sync_override : "");
        printf("result=%s events=%" G_GUINT64_FORMAT " simulated=%.3fs real=%.3fs cpu=%.3fs events/s=%.0f "
               "sim/real=%.1fx sim/cpu=%.1fx\n",
               r.verdict, r.events, (double)sim->end_ns / 1e9, real_s, cpu_s, real_s > 0 ? (double)r.events / real_s : 0,
               real_s > 0 ? (double)sim->end_ns / 1e9 / real_s : 0, cpu_s > 0 ? (double)sim->end_ns / 1e9 / cpu_s : 0);
    }
    if (out_dir) {
        g_autofree char *scen = g_build_filename(out_dir, "scenario.ini", NULL);
        g_autofree char *rep = g_build_filename(out_dir, "replay.txt", NULL);
        g_autofree char *rtext = g_strdup_printf("seed=%" G_GUINT64_FORMAT "\nscenario=%s\ntrace_hash=%s\n", seed, sc->path, hash);
        if (!g_file_set_contents(scen, sc->text, -1, &error) || !g_file_set_contents(rep, rtext, -1, &error) ||
            !sim_report_summary(out_dir, &r, &error)) {
            fprintf(stderr, "minijet-sim: %s\n", error->message);
            g_clear_error(&error);
        }
        if (sc->raft.enabled ? !sim_report_raft_timeline(out_dir, sc->name, sc->nodes, &error)
                             : !sim_report_charts(out_dir, sc->name, sc->nodes, &error)) {
            fprintf(stderr, "minijet-sim: charts not drawn: %s\n", error->message);
            g_clear_error(&error);
        }
    }
    g_ptr_array_unref(r.violations);
    g_free(r.extra);
    sim_free(sim);
    sim_trace_free(trace);
    if (hash_out) *hash_out = hash;
    else g_free(hash);
    return code;
}

/* --bug js-NAME: the JsClusterBug flag (src/jscluster.h), 0 if unknown */
static unsigned js_bug(const char *name) {
    if (!strcmp(name, "ack-before-commit")) return JSC_BUG_ACK_BEFORE_COMMIT;
    if (!strcmp(name, "append-before-fsync")) return JSC_BUG_APPEND_BEFORE_FSYNC;
    if (!strcmp(name, "vote-truncated")) return JSC_BUG_VOTE_TRUNCATED;
    if (!strcmp(name, "remove-locally")) return JSC_BUG_REMOVE_LOCALLY;
    return 0;
}

/* --bug route-NAME: the ClusterBug flag (src/route.h), 0 if unknown */
static unsigned route_bug(const char *name) {
    if (!strcmp(name, "forward-routed")) return CLUSTER_BUG_FORWARD_ROUTED;
    if (!strcmp(name, "no-replay")) return CLUSTER_BUG_NO_REPLAY;
    if (!strcmp(name, "no-unsub")) return CLUSTER_BUG_NO_UNSUB;
    return 0;
}

static int cmd_run(int argc, char **argv) {
    const char *scen = NULL, *out = NULL;
    uint64_t seed = 1;
    bool trace = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (!parse_u64(argv[++i], &seed)) return usage("--seed needs a non-negative integer");
        } else if (!strcmp(argv[i], "--check-every") && i + 1 < argc) {
            if (!parse_u64(argv[++i], &check_every_override) || !check_every_override)
                return usage("--check-every needs a positive integer");
        } else if (!strcmp(argv[i], "--bug") && i + 1 < argc) {
            bug_name = bug_arg = argv[++i];
            if (!find_bug(bug_name)) return usage("--bug: unknown name (minijet-sim list shows them)");
        } else if (!strcmp(argv[i], "--sync") && i + 1 < argc) {
            int64_t ns;
            sync_override = argv[++i];
            if (!sim_parse_sync(sync_override, &ns)) return usage("--sync is always, never or a duration (2m)");
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--trace")) trace = true;
        else if (argv[i][0] == '-' || scen) return usage("unexpected argument");
        else scen = argv[i];
    }
    if (!scen) return usage("run needs a SCENARIO");
    scen_arg = scen;
    g_autofree char *path = resolve(scen);
    g_autoptr(GError) error = NULL;
    SimScenario *sc = sim_scenario_load(path, &error);
    if (!sc) {
        fprintf(stderr, "minijet-sim: %s\n", error->message);
        return SIM_EXIT_USAGE;
    }
    if (sync_override) sim_parse_sync(sync_override, &sc->sync_interval_ns);
    if (bug_name && find_bug(bug_name)->raft) { /* a broken Raft variant: only in a [raft] run */
        if (!sc->raft.enabled) {
            sim_scenario_free(sc);
            return usage("--bug raft-* needs a scenario with a [raft] section");
        }
        sim_parse_raft_bug(bug_name, &sc->raft.bug);
        bug_name = NULL; /* not a network bug */
    }
    if (bug_name && g_str_has_prefix(bug_name, "js-")) { /* broken clustered JetStream: nodes > 1 with JetStream */
        if (sc->nodes < 2 || !sc->jetstream) {
            sim_scenario_free(sc);
            return usage("--bug js-* needs a scenario with nodes > 1 and jetstream (clustered JetStream)");
        }
        sc->jsc_bug = js_bug(bug_name + 3);
        bug_name = NULL; /* not a network bug */
    }
    if (bug_name && g_str_has_prefix(bug_name, "route-")) { /* a broken route rule: only in a cluster */
        if (sc->nodes < 2) {
            sim_scenario_free(sc);
            return usage("--bug route-* needs a scenario with nodes > 1 (a cluster)");
        }
        sc->cluster_bug = route_bug(bug_name + 6);
        bug_name = NULL; /* not a network bug */
    }
    char *hash = NULL;
    int code = run_one(sc, seed, out, trace, false, &hash);
    printf("trace_hash=%s\n", hash);
    g_free(hash);
    sim_scenario_free(sc);
    return code;
}

static int cmd_swarm(int argc, char **argv) {
    const char *scen = NULL, *seeds = NULL;
    uint64_t jobs = 2, a, b;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) seeds = argv[++i];
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
            if (!parse_u64(argv[++i], &jobs) || jobs < 1 || jobs > 64) return usage("--jobs needs 1..64");
        } else if (argv[i][0] == '-' || scen) return usage("unexpected argument");
        else scen = argv[i];
    }
    if (!scen || !seeds) return usage("swarm needs a SCENARIO and --seeds A-B");
    g_auto(GStrv) ab = g_strsplit(seeds, "-", 2);
    if (!parse_u64(ab[0], &a) || !(ab[1] ? parse_u64(ab[1], &b) : (b = a, true)) || b < a)
        return usage("--seeds wants A-B with A <= B");
    g_autofree char *path = resolve(scen);
    g_autoptr(GError) error = NULL;
    SimScenario *sc = sim_scenario_load(path, &error);
    if (!sc) {
        fprintf(stderr, "minijet-sim: %s\n", error->message);
        return SIM_EXIT_USAGE;
    }
    uint64_t total = b - a + 1, done = 0, failing = 0, next = a;
    int worst = SIM_EXIT_OK;
    GHashTable *pids = g_hash_table_new(g_direct_hash, g_direct_equal); /* pid -> seed index */
    uint64_t *seed_of = g_new0(uint64_t, total);
    SwarmSlot *slots = mmap(NULL, total * sizeof *slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) {
        perror("mmap");
        return SIM_EXIT_INTERNAL;
    }
    bool tty = isatty(2);
    int64_t t0 = g_get_monotonic_time();
    fflush(stdout);
    while (done < total) {
        while (next <= b && g_hash_table_size(pids) < jobs) {
            pid_t pid = fork();
            if (pid < 0) {
                perror("fork");
                return SIM_EXIT_INTERNAL;
            }
            if (pid == 0) {
                swarm_slot = &slots[next - a];
                _exit(run_one(sc, next, NULL, false, true, NULL));
            }
            seed_of[next - a] = next;
            g_hash_table_insert(pids, GINT_TO_POINTER(pid), GSIZE_TO_POINTER(next - a));
            next++;
        }
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) break;
        gpointer idx;
        if (!g_hash_table_lookup_extended(pids, GINT_TO_POINTER(pid), NULL, &idx)) continue;
        g_hash_table_remove(pids, GINT_TO_POINTER(pid));
        uint64_t seed = seed_of[GPOINTER_TO_SIZE(idx)];
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : SIM_EXIT_INTERNAL;
        done++;
        if (code != SIM_EXIT_OK) {
            failing++;
            if (worst == SIM_EXIT_OK) worst = code;
            if (tty) fprintf(stderr, "\r\033[K");
            printf("seed=%" G_GUINT64_FORMAT " exit=%d (%s)  replay: build/minijet-sim run %s --seed %" G_GUINT64_FORMAT
                   " --out build/sim/%s-%" G_GUINT64_FORMAT "\n",
                   seed, code, sim_exit_name(code), scen, seed, sc->name, seed);
            fflush(stdout);
        }
        if (tty || done == total || done % 10 == 0)
            fprintf(stderr, "%sswarm %s: %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " seeds, %" G_GUINT64_FORMAT
                    " failing, %.1fs%s", tty ? "\r\033[K" : "", sc->name, done, total, failing,
                    (double)(g_get_monotonic_time() - t0) / 1e6, tty && done < total ? "" : "\n");
    }
    printf("swarm: %" G_GUINT64_FORMAT " seeds, %" G_GUINT64_FORMAT " failing\n", total, failing);
    /* clustered JetStream: the queue checker's classes over every seed (Jepsen's counts) */
    SwarmSlot sum = {0};
    uint64_t judged = 0;
    for (uint64_t i = 0; i < total; i++) {
        if (!slots[i].judged) continue;
        judged++;
        sum.q.ok += slots[i].q.ok;
        sum.q.lost += slots[i].q.lost;
        sum.q.unknown += slots[i].q.unknown;
        sum.q.recovered += slots[i].q.recovered;
        sum.q.unexpected += slots[i].q.unexpected;
        sum.q.duplicated += slots[i].q.duplicated;
    }
    if (judged)
        printf("queue: %" G_GUINT64_FORMAT " runs judged: ok %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT
               ", unexpected %" G_GUINT64_FORMAT ", duplicated %" G_GUINT64_FORMAT ", unknown %" G_GUINT64_FORMAT
               ", recovered %" G_GUINT64_FORMAT "\n", judged, sum.q.ok, sum.q.lost, sum.q.unexpected, sum.q.duplicated,
               sum.q.unknown, sum.q.recovered);
    munmap(slots, total * sizeof *slots);
    g_hash_table_destroy(pids);
    g_free(seed_of);
    sim_scenario_free(sc);
    return worst;
}

static int cmd_replay(int argc, char **argv) {
    if (argc != 1) return usage("replay needs one DIR");
    g_autofree char *rp = g_build_filename(argv[0], "replay.txt", NULL);
    g_autofree char *sp = g_build_filename(argv[0], "scenario.ini", NULL);
    g_autofree char *rtext = NULL, *stext = NULL;
    gsize slen;
    if (!g_file_get_contents(rp, &rtext, NULL, NULL) || !g_file_get_contents(sp, &stext, &slen, NULL)) {
        fprintf(stderr, "minijet-sim: %s is not a run directory (no replay.txt / scenario.ini)\n", argv[0]);
        return SIM_EXIT_USAGE;
    }
    uint64_t seed = 0;
    g_autofree char *scen = NULL, *want = NULL;
    g_auto(GStrv) lines = g_strsplit(rtext, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        if (g_str_has_prefix(lines[i], "seed=")) parse_u64(lines[i] + 5, &seed);
        else if (g_str_has_prefix(lines[i], "scenario=")) scen = g_strdup(lines[i] + 9);
        else if (g_str_has_prefix(lines[i], "trace_hash=")) want = g_strdup(lines[i] + 11);
    }
    if (!scen || !want) {
        fprintf(stderr, "minijet-sim: %s: missing scenario= or trace_hash=\n", rp);
        return SIM_EXIT_USAGE;
    }
    g_autoptr(GError) error = NULL;
    SimScenario *sc = sim_scenario_parse(stext, slen, scen, &error); /* the saved text, the original name */
    if (!sc) {
        fprintf(stderr, "minijet-sim: %s\n", error->message);
        return SIM_EXIT_USAGE;
    }
    char *hash = NULL;
    int code = run_one(sc, seed, NULL, false, false, &hash);
    bool same = strcmp(hash, want) == 0;
    printf("replay: %s (recorded %s)\n", same ? "same trace hash" : "DIFFERENT trace hash", want);
    printf("trace_hash=%s\n", hash);
    g_free(hash);
    sim_scenario_free(sc);
    return same ? code : SIM_EXIT_NONDETERMINISM;
}

int main(int argc, char **argv) {
    signal(SIGABRT, on_abort);
    if (argc < 2) return usage(NULL);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "swarm")) return cmd_swarm(argc - 2, argv + 2);
    if (!strcmp(argv[1], "replay")) return cmd_replay(argc - 2, argv + 2);
    if (!strcmp(argv[1], "list")) return cmd_list(argc - 2, argv + 2);
    if (!strcmp(argv[1], "selftest")) {
        signal(SIGABRT, SIG_DFL); /* a failed test is a failed test, not a run's internal error */
        argv[1] = argv[0];
        return sim_selftest(argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(NULL);
        return 0;
    }
    return usage("unknown command");
}
