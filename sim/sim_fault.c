/* sim_fault.c — the fault injector (see sim_fault.h).
 *
 * Scheduled faults come from the scenario's [faults] lines; random faults are a Poisson
 * process per kind between [random] from and until, drawn from the run's fault stream, so a
 * swarm of seeds explores a different fault history per seed while any one seed replays its
 * own exactly. Each fault becomes one scheduler event; applying it is a switch below.
 */
#include "sim_fault.h"

#include <string.h>

#include "sim_jscluster.h"
#include "sim_net.h"
#include "sim_raft.h"
#include "sim_scenario.h"
#include "sim_workload.h"

const char *sim_fault_kind_name(SimFaultKind k) {
    static const char *n[] = {"crash", "restart", "pause", "clock-jump", "reset-clients", "stall",
                              "partition", "heal", "disk-bitflip", "disk-readflip", "disk-bad-sector",
                              "disk-misdirect", "disk-full", "disk-slow", "disk-sync-eio", "disk-sync-enospc",
                              "disk-truncate", "js-scale", "js-peer-remove"};
    return n[k];
}

static void fault_event(void *ctx, void *a, uint64_t b) {
    Sim *sim = ctx;
    SimFault *f = a;
    SimNode *n = f->node >= 0 ? sim->nodes[f->node] : NULL;
    if (f->node == SIM_FAULT_NODE_LEADER || f->node == SIM_FAULT_NODE_FOLLOWER) {
        int i = sim->raft ? sim_raft_fault_target(sim->raft, f->kind) : sim_jsc_fault_target(sim->jsc, f->kind, f->node);
        if (i < 0) {
            sim_log(sim, "sim", "fault", "%s: no such node now, nothing done", f->text);
            return;
        }
        n = sim->nodes[i];
        if (f->kind == SIM_FAULT_PARTITION) { /* that node alone on one side */
            g_array_set_size(f->side_a, 0);
            g_array_set_size(f->side_b, 0);
            g_array_append_val(f->side_a, i);
            for (int k = 0; k < sim->n_nodes; k++)
                if (k != i) g_array_append_val(f->side_b, k);
        }
    }
    sim_log(sim, n ? n->name : "sim", "fault", "%s", f->text);
    sim->wl->last_upheaval_ns = sim_now(sim); /* a consumer's state lost, its clock rushed, a delivery held up */
    switch (f->kind) {
    case SIM_FAULT_CRASH: sim_node_crash(n); break;
    case SIM_FAULT_RESTART: sim_node_restart(n); break;
    case SIM_FAULT_PAUSE: sim_node_pause(n, f->duration_ns); break;
    case SIM_FAULT_CLOCK_JUMP: sim_node_clock_jump(n, f->duration_ns); break;
    case SIM_FAULT_RESET_CLIENTS: sim_net_reset_node_clients(sim->net, n, "connection reset (fault)"); break;
    case SIM_FAULT_STALL: sim_workload_stall(sim->wl, f->target, f->duration_ns); break;
    case SIM_FAULT_PARTITION:
        for (guint i = 0; i < f->side_a->len; i++)
            for (guint j = 0; j < f->side_b->len; j++) {
                int x = g_array_index(f->side_a, int, i), y = g_array_index(f->side_b, int, j);
                sim_net_partition(sim->net, x, y, true);
                if (!f->duration_ns) sim_net_partition(sim->net, y, x, true);
            }
        break;
    case SIM_FAULT_HEAL:
        for (int x = 0; x < sim->n_nodes; x++)
            for (int y = 0; y < sim->n_nodes; y++) sim_net_partition(sim->net, x, y, false);
        break;
    case SIM_FAULT_DISK_BITFLIP: {
        g_autofree char *where = NULL;
        bool hit = sim_disk_flip_bit_at_rest(n->disk, f->target, &where); /* up or down: it rots */
        n->corrupted |= hit;
        sim_log(sim, n->name, "disk", "bit flip at rest: %s", hit ? where : "no data to corrupt");
        break;
    }
    case SIM_FAULT_DISK_TRUNCATE: {
        g_autofree char *where = NULL;
        bool hit = sim_disk_truncate_at_rest(n->disk, f->target, &where); /* up or down: the tail is gone */
        n->corrupted |= hit;
        sim_log(sim, n->name, "disk", "truncated at rest: %s", hit ? where : "no synced data to cut");
        break;
    }
    case SIM_FAULT_DISK_READFLIP:
        sim_log(sim, n->name, "disk", "next read flips a bit: %s",
                sim_disk_flip_next_read(n->disk, f->target) ? "armed" : "no data to corrupt");
        break;
    case SIM_FAULT_DISK_BAD_SECTOR:
        sim_log(sim, n->name, "disk", "latent sector error: %s",
                sim_disk_add_bad_range(n->disk, f->target, 0, 4096) ? "first 4 KiB unreadable" : "no data");
        break;
    case SIM_FAULT_DISK_MISDIRECT: sim_disk_misdirect_next_write(n->disk); break;
    case SIM_FAULT_DISK_FULL: sim_disk_set_capacity(n->disk, sim_disk_used(n->disk)); break;
    case SIM_FAULT_DISK_SLOW: n->fsync_extra_ns = f->duration_ns; break;
    case SIM_FAULT_JS_SCALE:
    case SIM_FAULT_JS_PEER_REMOVE: sim_jsc_admin(sim->jsc, f->kind, n, f->duration_ns); break;
    case SIM_FAULT_DISK_SYNC_EIO:
    case SIM_FAULT_DISK_SYNC_ENOSPC: /* the next fsync of a matching file fails (fsyncgate) */
        sim_disk_fail_syncs(n->disk, f->target, f->kind == SIM_FAULT_DISK_SYNC_EIO ? G_FILE_ERROR_IO : G_FILE_ERROR_NOSPC, 1);
        sim_log(sim, n->name, "disk", "next fsync%s%s fails: %s", f->target ? " of " : "", f->target ? f->target : "",
                f->kind == SIM_FAULT_DISK_SYNC_EIO ? "EIO" : "ENOSPC");
        break;
    }
}

/* When does the fault at index i of the (sorted) schedule stop hurting? */
static int64_t window_end(Sim *sim, GPtrArray *all, guint i) {
    const SimFault *f = g_ptr_array_index(all, i);
    SimFaultKind until = f->kind == SIM_FAULT_CRASH ? SIM_FAULT_RESTART
                         : f->kind == SIM_FAULT_PARTITION ? SIM_FAULT_HEAL : f->kind;
    switch (f->kind) {
    case SIM_FAULT_CRASH:
    case SIM_FAULT_PARTITION:
        for (guint k = i + 1; k < all->len; k++) {
            const SimFault *g = g_ptr_array_index(all, k);
            if (g->kind == until && (until == SIM_FAULT_HEAL || g->node == f->node)) return g->at_ns;
        }
        return sim->sc->duration_ns;
    case SIM_FAULT_PAUSE:
    case SIM_FAULT_STALL: return f->at_ns + f->duration_ns;
    case SIM_FAULT_RESET_CLIENTS: return f->at_ns + sim->sc->reconnect_max_ns;
    case SIM_FAULT_DISK_SLOW: return f->duration_ns ? sim->sc->duration_ns : f->at_ns;
    default: return f->at_ns;
    }
}

static void fault_free(gpointer q) {
    SimFault *f = q;
    if (f->side_a) g_array_unref(f->side_a);
    if (f->side_b) g_array_unref(f->side_b);
    g_free(f->text);
    g_free(f);
}

static SimFault *new_fault(Sim *sim, int64_t at, SimFaultKind kind, int node, int64_t dur) {
    SimFault *f = g_new0(SimFault, 1);
    f->at_ns = at;
    f->kind = kind;
    f->node = node;
    f->duration_ns = dur;
    g_autofree char *t = g_strdup_printf("%.3fs", (double)at / 1e9);
    if (kind == SIM_FAULT_PAUSE || kind == SIM_FAULT_CLOCK_JUMP)
        f->text = g_strdup_printf("%s %s n%d %+.3fs (random)", t, sim_fault_kind_name(kind), node + 1, (double)dur / 1e9);
    else if (node < 0)
        f->text = g_strdup_printf("%s %s (random)", t, sim_fault_kind_name(kind));
    else
        f->text = g_strdup_printf("%s %s n%d (random)", t, sim_fault_kind_name(kind), node + 1);
    g_ptr_array_add(sim->owned_faults, f);
    return f;
}

/* ln(x) for x in (0, 1], with IEEE arithmetic only: libm's log() may differ in the last bit
 * between C libraries, and a different gap would change the whole run on another machine.
 * x = m * 2^e with m in [0.5, 1); ln m = 2 atanh((m-1)/(m+1)), a fast-converging series. */
static double det_ln(double x) {
    int e = 0;
    while (x < 0.5) {
        x *= 2;
        e--;
    }
    double z = (x - 1) / (x + 1), z2 = z * z, term = z, sum = 0;
    for (int k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2 * sum + e * 0.69314718055994530942;
}

static void random_faults(Sim *sim, GPtrArray *out) {
    const SimRandomFaults *r = &sim->sc->random;
    Rng *rng = &sim->fault_rng;
    const double rates[] = {r->crash_per_s, r->reset_per_s, r->pause_per_s, r->clock_jump_per_s, r->bitflip_per_s};
    const SimFaultKind kinds[] = {SIM_FAULT_CRASH, SIM_FAULT_RESET_CLIENTS, SIM_FAULT_PAUSE,
                                  SIM_FAULT_CLOCK_JUMP, SIM_FAULT_DISK_BITFLIP};
    /* the corruptible minority: one node alone, else fewer than half */
    int corruptible = sim->n_nodes == 1 ? 1 : (sim->n_nodes - 1) / 2;
    int64_t *down_until = g_new0(int64_t, (gsize)sim->n_nodes);
    for (guint k = 0; k < G_N_ELEMENTS(rates); k++) {
        if (rates[k] <= 0) continue;
        int64_t t = r->from_ns;
        for (;;) {
            double u = rng_double(rng);
            t += (int64_t)(-det_ln(1.0 - u) / rates[k] * 1e9); /* exponential gaps: Poisson */
            if (t >= r->until_ns) break;
            int node = kinds[k] == SIM_FAULT_DISK_BITFLIP ? (int)rng_below(rng, (uint64_t)MAX(corruptible, 1))
                                                          : (int)rng_below(rng, (uint64_t)sim->n_nodes);
            int64_t dur = 0;
            if (kinds[k] == SIM_FAULT_PAUSE) dur = rng_range(rng, 50 * SIM_MS, SIM_S);
            if (kinds[k] == SIM_FAULT_CLOCK_JUMP) dur = rng_range(rng, -10 * SIM_S, 10 * SIM_S);
            if (kinds[k] == SIM_FAULT_DISK_BITFLIP && sim->n_nodes == 2) node = 0;
            if (kinds[k] == SIM_FAULT_CRASH) {
                if (t < down_until[node]) continue; /* already down */
                int64_t back = MIN(t + rng_range(rng, 200 * SIM_MS, 2 * SIM_S), r->until_ns);
                down_until[node] = back;
                g_ptr_array_add(out, new_fault(sim, t, SIM_FAULT_CRASH, node, 0));
                g_ptr_array_add(out, new_fault(sim, back, SIM_FAULT_RESTART, node, 0));
                continue;
            }
            g_ptr_array_add(out, new_fault(sim, t, kinds[k], node, dur));
        }
    }
    g_free(down_until);
    /* partitions, one at a time: isolate one node or split into halves; heal 200 ms - 3 s later */
    if (r->partition_per_s > 0 && sim->n_nodes > 1) {
        int64_t t = r->from_ns;
        for (;;) {
            double u = rng_double(rng);
            t += (int64_t)(-det_ln(1.0 - u) / r->partition_per_s * 1e9);
            if (t >= r->until_ns) break;
            int n = sim->n_nodes;
            int *perm = g_new(int, (gsize)n);
            for (int i = 0; i < n; i++) perm[i] = i;
            for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
                int j = (int)rng_below(rng, (uint64_t)i + 1), x = perm[i];
                perm[i] = perm[j];
                perm[j] = x;
            }
            int cut = rng_chance(rng, 0.5) ? 1 : n / 2; /* isolate one, or halves */
            SimFault *f = new_fault(sim, t, SIM_FAULT_PARTITION, -1, 0);
            f->side_a = g_array_new(FALSE, FALSE, sizeof(int));
            f->side_b = g_array_new(FALSE, FALSE, sizeof(int));
            bool in_a[64] = {false};
            for (int i = 0; i < cut; i++) in_a[perm[i]] = true;
            GString *txt = g_string_new(NULL);
            g_string_printf(txt, "%.3fs partition ", (double)t / 1e9);
            for (int side = 0; side < 2; side++) {
                bool first = true;
                for (int i = 0; i < n; i++) {
                    if (in_a[i] != (side == 0)) continue;
                    g_array_append_val(side ? f->side_b : f->side_a, i);
                    g_string_append_printf(txt, "%sn%d", first ? (side ? "|" : "") : ",", i + 1);
                    first = false;
                }
            }
            g_string_append(txt, " (random)");
            g_free(f->text);
            f->text = g_string_free(txt, FALSE);
            g_free(perm);
            g_ptr_array_add(out, f);
            int64_t back = MIN(t + rng_range(rng, 200 * SIM_MS, 3 * SIM_S), r->until_ns);
            g_ptr_array_add(out, new_fault(sim, back, SIM_FAULT_HEAL, -1, 0));
            t = back;
        }
    }
}

static gint fault_cmp(gconstpointer a, gconstpointer b) {
    const SimFault *x = *(SimFault *const *)a, *y = *(SimFault *const *)b;
    return x->at_ns < y->at_ns ? -1 : x->at_ns > y->at_ns;
}

void sim_faults_schedule(Sim *sim) {
    sim->owned_faults = g_ptr_array_new_with_free_func(fault_free);
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    for (guint i = 0; i < sim->sc->faults->len; i++) g_ptr_array_add(all, g_ptr_array_index(sim->sc->faults, i));
    random_faults(sim, all);
    g_ptr_array_sort(all, fault_cmp); /* stable: equal times keep file order, then random order */
    for (guint i = 0; i < all->len; i++) {
        SimFault *f = g_ptr_array_index(all, i);
        int64_t end = window_end(sim, all, i);
        g_autofree char *node = f->node >= 0 ? g_strdup_printf("n%d", f->node + 1)
                                : f->node == SIM_FAULT_NODE_LEADER ? g_strdup("leader")
                                : f->node == SIM_FAULT_NODE_FOLLOWER ? g_strdup("follower") : g_strdup("sim");
        sim_trace_fault(sim->trace, f->at_ns, end, node, sim_fault_kind_name(f->kind), f->text);
        sim_workload_note_fault(sim->wl, end);
        sim_at(sim, f->at_ns, fault_event, f, 0);
    }
}

void sim_faults_free(Sim *sim) {
    if (sim->owned_faults) g_ptr_array_unref(sim->owned_faults);
    sim->owned_faults = NULL;
}
