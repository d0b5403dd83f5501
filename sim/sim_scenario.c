/* sim_scenario.c — scenario files: parse, validate, explain mistakes in one line.
 *
 * GKeyFile does the INI syntax; everything else is checked here: every group and key must be
 * known, every value must parse, every time must fall inside the run, every node named must
 * exist. GKeyFile forgets line numbers after parsing, so we index "[group] key" -> line by
 * scanning the text ourselves; an error then reads
 *     sim/scenarios/bad.ini:14: [faults] f2: unknown action 'crsh'
 * A bad file is a usage error (exit 64), never a crash.
 */
#include "sim_scenario.h"

#include "limits.h"
#include "raft.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SIM_SCENARIO_ERROR (g_quark_from_static_string("sim-scenario"))
#define SIM_MAX_CLIENTS_PER_GROUP 10000

typedef struct Parse {
    const char *path;
    GKeyFile *kf;
    GHashTable *lines; /* "group\nkey" -> line number (GINT_TO_POINTER) */
    SimScenario *sc;
    GError **error;
} Parse;

static void index_lines(Parse *p, const char *text) {
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *group = g_strdup("");
    for (int i = 0; lines[i]; i++) {
        char *l = g_strstrip(lines[i]);
        if (l[0] == '[') {
            char *end = strchr(l, ']');
            if (end) {
                g_free(group);
                group = g_strndup(l + 1, (gsize)(end - l - 1));
            }
        } else if (l[0] && l[0] != '#' && l[0] != ';') {
            char *eq = strchr(l, '=');
            if (!eq) continue;
            g_autofree char *key = g_strstrip(g_strndup(l, (gsize)(eq - l)));
            g_hash_table_insert(p->lines, g_strdup_printf("%s\n%s", group, key), GINT_TO_POINTER(i + 1));
        }
    }
}

static bool bad(Parse *p, const char *group, const char *key, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static bool bad(Parse *p, const char *group, const char *key, const char *fmt, ...) {
    if (p->error != NULL && *p->error) return false; /* keep the first error (error may be NULL) */
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *k = g_strdup_printf("%s\n%s", group, key ? key : "");
    int line = key ? GPOINTER_TO_INT(g_hash_table_lookup(p->lines, k)) : 0;
    g_autofree char *where = line ? g_strdup_printf("%s:%d", p->path, line) : g_strdup(p->path);
    g_set_error(p->error, SIM_SCENARIO_ERROR, 1, "%s: [%s]%s%s: %s", where, group, key ? " " : "",
                key ? key : "", msg);
    return false;
}

/* --- value parsers --- */

static bool parse_duration(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    double v = g_ascii_strtod(s, &end);
    if (end == s || errno || v < 0) return false;
    while (*end == ' ') end++;
    double mul;
    if (strcmp(end, "ns") == 0) mul = 1;
    else if (strcmp(end, "us") == 0) mul = 1e3;
    else if (strcmp(end, "ms") == 0) mul = 1e6;
    else if (strcmp(end, "s") == 0) mul = 1e9;
    else if (strcmp(end, "m") == 0) mul = 60e9;
    else if (strcmp(end, "h") == 0) mul = 3600e9;
    else return false;
    if (v * mul > 1e18) return false;
    *out = (int64_t)(v * mul + 0.5);
    return true;
}

static bool parse_signed_duration(const char *s, int64_t *out) {
    int sign = 1;
    if (*s == '+') s++;
    else if (*s == '-') { sign = -1; s++; }
    if (!parse_duration(s, out)) return false;
    *out *= sign;
    return true;
}

static bool parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = g_ascii_strtod(s, &end);
    if (end == s || errno || v < 0) return false;
    while (*end == ' ') end++;
    double mul = 1;
    if (!*end || strcmp(end, "B") == 0) mul = 1;
    else if (!g_ascii_strcasecmp(end, "K") || !g_ascii_strcasecmp(end, "KB") || !g_ascii_strcasecmp(end, "KiB")) mul = 1024;
    else if (!g_ascii_strcasecmp(end, "M") || !g_ascii_strcasecmp(end, "MB") || !g_ascii_strcasecmp(end, "MiB")) mul = 1024.0 * 1024;
    else if (!g_ascii_strcasecmp(end, "G") || !g_ascii_strcasecmp(end, "GB") || !g_ascii_strcasecmp(end, "GiB")) mul = 1024.0 * 1024 * 1024;
    else return false;
    if (v * mul > 1e15) return false;
    *out = (uint64_t)(v * mul);
    return true;
}

static bool parse_range(const char *s, int64_t *lo, int64_t *hi) {
    const char *dots = strstr(s, "..");
    if (!dots) {
        if (!parse_duration(s, lo)) return false;
        *hi = *lo;
        return true;
    }
    g_autofree char *a = g_strstrip(g_strndup(s, (gsize)(dots - s)));
    g_autofree char *b = g_strstrip(g_strdup(dots + 2));
    return parse_duration(a, lo) && parse_duration(b, hi) && *lo <= *hi;
}

bool sim_parse_sync(const char *s, int64_t *out) {
    if (strcmp(s, "always") == 0) *out = 0;
    else if (strcmp(s, "never") == 0) *out = -1;
    else if (!parse_duration(s, out) || *out <= 0) return false;
    return true;
}

static int parse_node(Parse *p, const char *s) {
    if (s[0] != 'n') return -1;
    char *end;
    long v = strtol(s + 1, &end, 10);
    if (*end || v < 1 || v > p->sc->nodes) return -1;
    return (int)v - 1;
}

/* --- typed getters: each reports its own error --- */

static char *get_str(Parse *p, const char *g, const char *k) {
    char *v = g_key_file_get_string(p->kf, g, k, NULL);
    if (v) g_strstrip(v);
    return v;
}

static bool get_dur(Parse *p, const char *g, const char *k, int64_t *dst) {
    g_autofree char *v = get_str(p, g, k);
    if (v && !parse_duration(v, dst)) return bad(p, g, k, "'%s' is not a duration (e.g. 250ms, 2s)", v);
    return true;
}
static bool get_size(Parse *p, const char *g, const char *k, uint64_t *dst) {
    g_autofree char *v = get_str(p, g, k);
    if (v && !parse_size(v, dst)) return bad(p, g, k, "'%s' is not a size (e.g. 64, 4KiB, 1MiB)", v);
    return true;
}
static bool get_range(Parse *p, const char *g, const char *k, int64_t *lo, int64_t *hi) {
    g_autofree char *v = get_str(p, g, k);
    if (v && !parse_range(v, lo, hi)) return bad(p, g, k, "'%s' is not a duration range (e.g. 1ms..5ms)", v);
    return true;
}
static bool get_double(Parse *p, const char *g, const char *k, double *dst, double lo, double hi) {
    g_autofree char *v = get_str(p, g, k);
    if (!v) return true;
    char *end;
    double d = g_ascii_strtod(v, &end);
    if (end == v || *end || d < lo || d > hi) return bad(p, g, k, "'%s' is not a number in [%g, %g]", v, lo, hi);
    *dst = d;
    return true;
}
static bool get_int(Parse *p, const char *g, const char *k, int *dst, int lo, int hi) {
    double d = *dst;
    if (!get_double(p, g, k, &d, lo, hi)) return false;
    if (d != (int)d) return bad(p, g, k, "must be a whole number");
    *dst = (int)d;
    return true;
}
static bool get_bool(Parse *p, const char *g, const char *k, bool *dst) {
    g_autofree char *v = get_str(p, g, k);
    if (!v) return true;
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) *dst = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) *dst = false;
    else return bad(p, g, k, "'%s' is not true or false", v);
    return true;
}
/* "1000/s" -> 1000; "10KiB/s" -> 10240 when sized */
static bool get_rate(Parse *p, const char *g, const char *k, double *dst, bool sized) {
    g_autofree char *v = get_str(p, g, k);
    if (!v) return true;
    size_t n = strlen(v);
    if (n < 3 || strcmp(v + n - 2, "/s") != 0) return bad(p, g, k, "'%s' is not a rate (e.g. 1000/s)", v);
    v[n - 2] = '\0';
    uint64_t sz;
    char *end;
    double d = g_ascii_strtod(v, &end);
    if (sized && parse_size(v, &sz)) d = (double)sz;
    else if (end == v || *end || d <= 0 || d > 1e7) return bad(p, g, k, "'%s/s' is not a rate (e.g. 1000/s)", v);
    *dst = d;
    return true;
}

static bool check_keys(Parse *p, const char *g, const char *const *allowed) {
    g_auto(GStrv) keys = g_key_file_get_keys(p->kf, g, NULL, NULL);
    for (int i = 0; keys && keys[i]; i++) {
        bool ok = false;
        for (int a = 0; allowed[a]; a++) ok = ok || strcmp(keys[i], allowed[a]) == 0;
        if (!ok) {
            g_autofree char *list = g_strjoinv(", ", (char **)allowed);
            return bad(p, g, keys[i], "unknown key (known: %s)", list);
        }
    }
    return true;
}

/* --- sections --- */

static bool parse_client(Parse *p, const char *group) {
    static const char *const keys[] = {"type", "count", "node", "subject", "queue", "stream", "rate", "size", "start",
                                       "stop", "read_rate", "expect", "timeout", "cycle", "echo", "batch", "ack_wait",
                                       "ack_drop", "replicas", "retention", NULL};
    if (!check_keys(p, group, keys)) return false;
    SimClientGroup *g = g_new0(SimClientGroup, 1);
    g_ptr_array_add(p->sc->groups, g);
    g->name = g_strdup(group + strlen("client."));
    g->count = 1;
    g->node = -1;
    g->size_bytes = 64;
    g->timeout_ns = SIM_S;
    static const char *const kinds[] = {"publisher", "subscriber", "requester", "responder",
                                        "js-publisher", "js-consumer", NULL};
    g_autofree char *type = get_str(p, group, "type");
    if (!type) return bad(p, group, NULL, "missing key 'type'");
    int kind = -1;
    for (int i = 0; kinds[i]; i++) if (!strcmp(type, kinds[i])) kind = i;
    if (kind < 0) return bad(p, group, "type", "unknown client type '%s' (publisher, subscriber, requester, responder)", type);
    if ((kind == SIM_CLIENT_JS_PUBLISHER || kind == SIM_CLIENT_JS_CONSUMER) && !p->sc->jetstream)
        return bad(p, group, "type", "a %s needs [cluster] jetstream = true", type);
    g->kind = (SimClientKind)kind;
    g->subject = get_str(p, group, "subject");
    if (!g->subject || !g->subject[0]) return bad(p, group, "subject", "a subject is required");
    g->stream = get_str(p, group, "stream");
    if ((kind == SIM_CLIENT_JS_PUBLISHER || kind == SIM_CLIENT_JS_CONSUMER) && (!g->stream || !g->stream[0] || strpbrk(g->stream, ".*> \t")))
        return bad(p, group, "stream", "a %s needs a stream name (letters, digits, - and _)", type);
    g->batch = 10;
    g->ack_wait_ns = 2 * SIM_S;
    if (kind == SIM_CLIENT_JS_CONSUMER) g->rate_per_s = 20;
    if (kind == SIM_CLIENT_JS_CONSUMER && strpbrk(g->name, ".*> \t"))
        return bad(p, group, NULL, "a js-consumer group's name is its durable name: no '.', '*', '>' or blanks");
    if (!get_int(p, group, "batch", &g->batch, 1, 1000) || !get_dur(p, group, "ack_wait", &g->ack_wait_ns) ||
        !get_double(p, group, "ack_drop", &g->ack_drop, 0, 1))
        return false;
    if (g->ack_wait_ns < 100 * SIM_MS) return bad(p, group, "ack_wait", "must be at least 100ms");
    g->replicas = 1;
    if (!get_int(p, group, "replicas", &g->replicas, 1, 5)) return false;
    if (g->replicas > p->sc->nodes)
        return bad(p, group, "replicas", "%d replicas need at least %d nodes (there are %d)", g->replicas, g->replicas,
                   p->sc->nodes);
    g->retention = get_str(p, group, "retention");
    if (g->retention && (g->kind != SIM_CLIENT_JS_PUBLISHER || (strcmp(g->retention, "limits") != 0 &&
                         strcmp(g->retention, "workqueue") != 0 && strcmp(g->retention, "interest") != 0)))
        return bad(p, group, "retention", "a js-publisher's stream retention: limits, workqueue or interest");
    g->queue = get_str(p, group, "queue");
    if (g->queue && !g->queue[0]) g_clear_pointer(&g->queue, g_free);
    g_autofree char *node = get_str(p, group, "node");
    if (node && strcmp(node, "any") != 0 && (g->node = parse_node(p, node)) < 0)
        return bad(p, group, "node", "no node '%s' (nodes are n1..n%d)", node, p->sc->nodes);
    uint64_t size = g->size_bytes, rr = 0;
    double rate = g->rate_per_s;
    if (!get_int(p, group, "count", &g->count, 1, SIM_MAX_CLIENTS_PER_GROUP) || !get_size(p, group, "size", &size) ||
        !get_rate(p, group, "rate", &rate, false) || !get_dur(p, group, "start", &g->start_ns) ||
        !get_dur(p, group, "stop", &g->stop_ns) || !get_dur(p, group, "timeout", &g->timeout_ns) ||
        !get_dur(p, group, "cycle", &g->cycle_ns) || !get_bool(p, group, "echo", &g->echo))
        return false;
    double rrd = 0;
    if (!get_rate(p, group, "read_rate", &rrd, true)) return false;
    rr = (uint64_t)rrd;
    g->size_bytes = size;
    g->rate_per_s = rate;
    g->read_rate_bps = rr;
    if (size > 1024 * 1024) return bad(p, group, "size", "larger than max_payload (1MiB)");
    if ((g->kind == SIM_CLIENT_PUBLISHER || g->kind == SIM_CLIENT_REQUESTER || g->kind == SIM_CLIENT_JS_PUBLISHER) &&
        rate <= 0)
        return bad(p, group, "rate", "a %s needs a rate (e.g. rate = 100/s)", type);
    if (g->start_ns >= p->sc->duration_ns) return bad(p, group, "start", "starts after the run ends");
    if (g->stop_ns && (g->stop_ns <= g->start_ns || g->stop_ns > p->sc->duration_ns))
        return bad(p, group, "stop", "must fall after start and inside the run");
    if (g->timeout_ns <= 0) return bad(p, group, "timeout", "must be positive");
    g_autofree char *expect = get_str(p, group, "expect");
    if (expect) {
        if (strcmp(expect, "slow") != 0) return bad(p, group, "expect", "'%s': the only expectation is 'slow'", expect);
        g->expect_slow = true;
    }
    return true;
}

static bool parse_fault(Parse *p, const char *key) {
    g_autofree char *line = get_str(p, "faults", key);
    g_auto(GStrv) w = g_strsplit_set(line, " \t", -1);
    GPtrArray *words = g_ptr_array_new();
    for (int i = 0; w[i]; i++) if (w[i][0]) g_ptr_array_add(words, w[i]);
    guint n = words->len;
    g_ptr_array_add(words, NULL);
    g_autofree char **a = (char **)g_ptr_array_free(words, FALSE);
    if (n < 2) return bad(p, "faults", key, "expected '<time> <action> <args>', e.g. '2s crash n1'");
    SimFault *f = g_new0(SimFault, 1);
    g_ptr_array_add(p->sc->faults, f);
    f->text = g_strdup(line);
    f->node = -1;
    bool js_cluster = p->sc->nodes > 1 && p->sc->jetstream && !p->sc->raft.enabled;
    if (!parse_duration(a[0], &f->at_ns)) return bad(p, "faults", key, "'%s' is not a time (e.g. 2s)", a[0]);
    if (f->at_ns > p->sc->duration_ns) return bad(p, "faults", key, "at %s is after the run ends", a[0]);
    static const struct { const char *name; SimFaultKind kind; int args; const char *usage; } acts[] = {
        {"crash", SIM_FAULT_CRASH, 1, "crash NODE"},
        {"restart", SIM_FAULT_RESTART, 1, "restart NODE"},
        {"pause", SIM_FAULT_PAUSE, 2, "pause NODE DURATION"},
        {"clock-jump", SIM_FAULT_CLOCK_JUMP, 2, "clock-jump NODE +5s|-5s"},
        {"reset-clients", SIM_FAULT_RESET_CLIENTS, 1, "reset-clients NODE"},
        {"stall", SIM_FAULT_STALL, 2, "stall CLIENT-GROUP DURATION"},
        {"partition", SIM_FAULT_PARTITION, 1, "partition n1|n2,n3 (or n1>n2, one way)"},
        {"heal", SIM_FAULT_HEAL, 0, "heal"},
        {"disk-bitflip", SIM_FAULT_DISK_BITFLIP, -1, "disk-bitflip NODE [PATH]"},
        {"disk-readflip", SIM_FAULT_DISK_READFLIP, -1, "disk-readflip NODE [PATH]"},
        {"disk-bad-sector", SIM_FAULT_DISK_BAD_SECTOR, -1, "disk-bad-sector NODE [PATH]"},
        {"disk-misdirect", SIM_FAULT_DISK_MISDIRECT, 1, "disk-misdirect NODE"},
        {"disk-full", SIM_FAULT_DISK_FULL, 1, "disk-full NODE"},
        {"disk-slow", SIM_FAULT_DISK_SLOW, 2, "disk-slow NODE EXTRA-FSYNC-LATENCY"},
        {"disk-sync-eio", SIM_FAULT_DISK_SYNC_EIO, -1, "disk-sync-eio NODE [PATH]"},
        {"disk-sync-enospc", SIM_FAULT_DISK_SYNC_ENOSPC, -1, "disk-sync-enospc NODE [PATH]"},
        {"disk-truncate", SIM_FAULT_DISK_TRUNCATE, -1, "disk-truncate NODE [PATH]"},
        {"js-scale", SIM_FAULT_JS_SCALE, 1, "js-scale REPLICAS"},
        {"js-peer-remove", SIM_FAULT_JS_PEER_REMOVE, 1, "js-peer-remove leader|follower|NODE"},
    };
    int k = -1;
    for (guint i = 0; i < G_N_ELEMENTS(acts); i++) if (!strcmp(a[1], acts[i].name)) k = (int)i;
    if (k < 0) return bad(p, "faults", key, "unknown action '%s' (crash, restart, pause, clock-jump, reset-clients, "
                                           "stall, partition, heal, disk-bitflip, disk-readflip, disk-bad-sector, "
                                           "disk-misdirect, disk-full, disk-slow, disk-sync-eio, disk-sync-enospc, "
                                           "disk-truncate, js-scale, js-peer-remove)", a[1]);
    f->kind = acts[k].kind;
    guint args = n - 2;
    bool optional_path = acts[k].args < 0;
    if (optional_path ? (args < 1 || args > 2) : args != (guint)acts[k].args)
        return bad(p, "faults", key, "usage: <time> %s", acts[k].usage);
    if (f->kind == SIM_FAULT_STALL) {
        bool found = false;
        for (guint i = 0; i < p->sc->groups->len; i++)
            found = found || !strcmp(((SimClientGroup *)g_ptr_array_index(p->sc->groups, i))->name, a[2]);
        if (!found) return bad(p, "faults", key, "no client group '%s' (a [client.%s] section)", a[2], a[2]);
        f->target = g_strdup(a[2]);
        if (!parse_duration(a[3], &f->duration_ns)) return bad(p, "faults", key, "'%s' is not a duration", a[3]);
        return true;
    }
    if (f->kind == SIM_FAULT_PARTITION) {
        f->side_a = g_array_new(FALSE, FALSE, sizeof(int));
        f->side_b = g_array_new(FALSE, FALSE, sizeof(int));
        if (js_cluster && (!strcmp(a[2], "leader") || !strcmp(a[2], "follower"))) {
            f->node = !strcmp(a[2], "leader") ? SIM_FAULT_NODE_LEADER : SIM_FAULT_NODE_FOLLOWER; /* sides at fire time */
            return true;
        }
        bool oneway = strchr(a[2], '>') != NULL;
        g_auto(GStrv) sides = g_strsplit_set(a[2], oneway ? ">" : "|", -1);
        if (g_strv_length(sides) != 2) return bad(p, "faults", key, "usage: <time> %s", acts[k].usage);
        for (int s = 0; s < 2; s++) {
            g_auto(GStrv) names = g_strsplit(sides[s], ",", -1);
            for (int i = 0; names[i]; i++) {
                int nd = parse_node(p, names[i]);
                if (nd < 0) return bad(p, "faults", key, "no node '%s' (nodes are n1..n%d)", names[i], p->sc->nodes);
                g_array_append_val(s ? f->side_b : f->side_a, nd);
            }
        }
        f->duration_ns = oneway; /* 1: one way only */
        return true;
    }
    if (f->kind == SIM_FAULT_HEAL) return true;
    if ((f->kind == SIM_FAULT_JS_SCALE || f->kind == SIM_FAULT_JS_PEER_REMOVE) && !js_cluster)
        return bad(p, "faults", key, "%s needs clustered JetStream ([cluster] nodes > 1, jetstream = true)", a[1]);
    if (f->kind == SIM_FAULT_JS_SCALE) {
        char *end = NULL;
        long r = strtol(a[2], &end, 10);
        if (*end != '\0' || r < 1 || r > p->sc->nodes)
            return bad(p, "faults", key, "'%s' is not a replica count (1..%d)", a[2], p->sc->nodes);
        f->duration_ns = r;
        return true;
    }
    if (f->kind == SIM_FAULT_JS_PEER_REMOVE && (!strcmp(a[2], "leader") || !strcmp(a[2], "follower"))) {
        f->node = !strcmp(a[2], "leader") ? SIM_FAULT_NODE_LEADER : SIM_FAULT_NODE_FOLLOWER; /* at fire time */
        return true;
    }
    if (((p->sc->raft.enabled && !strcmp(a[2], "leader")) ||
         (js_cluster && (!strcmp(a[2], "leader") || !strcmp(a[2], "follower")))) &&
        (f->kind == SIM_FAULT_CRASH || f->kind == SIM_FAULT_RESTART || f->kind == SIM_FAULT_PAUSE ||
         (js_cluster && f->kind == SIM_FAULT_CLOCK_JUMP))) {
        /* resolved when the fault fires (sim_raft_fault_target, sim_jsc_fault_target) */
        f->node = !strcmp(a[2], "leader") ? SIM_FAULT_NODE_LEADER : SIM_FAULT_NODE_FOLLOWER;
        if (f->kind == SIM_FAULT_PAUSE && !parse_duration(a[3], &f->duration_ns))
            return bad(p, "faults", key, "'%s' is not a duration", a[3]);
        if (f->kind == SIM_FAULT_CLOCK_JUMP && !parse_signed_duration(a[3], &f->duration_ns))
            return bad(p, "faults", key, "'%s' is not +DURATION or -DURATION", a[3]);
        return true;
    }
    if (js_cluster && (!strcmp(a[2], "leader") || !strcmp(a[2], "follower")) && optional_path) {
        f->node = !strcmp(a[2], "leader") ? SIM_FAULT_NODE_LEADER : SIM_FAULT_NODE_FOLLOWER; /* a disk fault */
        if (args == 2) f->target = g_strdup(a[3]);
        return true;
    }
    if ((f->node = parse_node(p, a[2])) < 0)
        return bad(p, "faults", key, "no node '%s' (nodes are n1..n%d)", a[2], p->sc->nodes);
    if (f->kind == SIM_FAULT_PAUSE || f->kind == SIM_FAULT_DISK_SLOW) {
        if (!parse_duration(a[3], &f->duration_ns)) return bad(p, "faults", key, "'%s' is not a duration", a[3]);
    } else if (f->kind == SIM_FAULT_CLOCK_JUMP) {
        if (!parse_signed_duration(a[3], &f->duration_ns)) return bad(p, "faults", key, "'%s' is not +DURATION or -DURATION", a[3]);
    } else if (optional_path && args == 2)
        f->target = g_strdup(a[3]);
    return true;
}

/* Every deliberate bug, by the one name the INI (`[raft] bug =`) and the flag (`--bug`) share. */
const SimBug sim_bugs[] = {
    {"net-drop", false, "the network drops the 1,000th chunk to a client (TCP never does): checkers must fail"},
    {"net-dup", false, "the network delivers the 1,000th chunk to a client twice: checkers must fail"},
    {"net-reorder", false, "the network holds the 1,000th chunk back behind the next five: checkers must fail"},
    {"raft-commit-old-term", true, "Raft commits an old-term entry by counting replicas (Figure 8): [raft] runs only"},
    {"raft-no-noop", true, "a new Raft leader appends no no-op entry of its term: [raft] runs only"},
    {"route-forward-routed", false, "a message from a route also goes out on routes (duplicates): clusters only"},
    {"route-no-replay", false, "a new route is not told the existing interest: clusters only"},
    {"route-no-unsub", false, "the last local unsubscribe sends no RS- (stale interest): clusters only"},
    {"js-ack-before-commit", false, "a stream leader sends the PubAck when it proposes, before a quorum has it: clustered JetStream only"},
    {"js-remove-locally", false, "a stream leader removes an acked work-queue/interest message from its own store, not"
                                 " through the log: clustered JetStream only"},
    {"js-append-before-fsync", false, "a Raft follower answers an append before its fsync: clustered JetStream only"},
    {"js-vote-truncated", false, "a member whose Raft log was cut short by damage votes anyway: clustered JetStream only"},
    {NULL, false, NULL},
};

/* "none", "raft-commit-old-term", "raft-no-noop", or several joined by ',' -> RaftBug flags */
bool sim_parse_raft_bug(const char *s, unsigned *out) {
    g_auto(GStrv) names = g_strsplit(s, ",", -1);
    unsigned bug = 0;
    for (int i = 0; names[i]; i++) {
        const char *w = g_strstrip(names[i]);
        if (!strcmp(w, "none")) continue;
        else if (!strcmp(w, "raft-commit-old-term")) bug |= RAFT_BUG_COMMIT_OLD_TERM;
        else if (!strcmp(w, "raft-no-noop")) bug |= RAFT_BUG_NO_NOOP;
        else return false;
    }
    *out = bug;
    return true;
}

/* [raft]: the run is a Raft group on the nodes; its clients are the section's `rate`. */
static bool parse_raft(Parse *p) {
    static const char *const keys[] = {"rate", "size", "tick", "election_ticks", "heartbeat_ticks", "pre_vote",
                                       "snapshot_every", "max_append", "bug", "adversary", "rounds", "from",
                                       "leader_within", NULL};
    const char *g = "raft";
    SimRaftConfig *r = &p->sc->raft;
    r->enabled = true;
    r->size_bytes = 16;
    r->tick_ns = 100 * SIM_MS;
    r->election_ticks = 5;
    r->heartbeat_ticks = 1;
    r->pre_vote = true;
    r->rounds = 1000;
    r->leader_within_ns = 5 * SIM_S;
    if (!check_keys(p, g, keys)) return false;
    uint64_t size = r->size_bytes;
    int max_append = 0;
    if (!get_rate(p, g, "rate", &r->rate_per_s, false) || !get_size(p, g, "size", &size) ||
        !get_dur(p, g, "tick", &r->tick_ns) || !get_int(p, g, "election_ticks", &r->election_ticks, 2, 1000) ||
        !get_int(p, g, "heartbeat_ticks", &r->heartbeat_ticks, 1, 999) || !get_bool(p, g, "pre_vote", &r->pre_vote) ||
        !get_int(p, g, "snapshot_every", &r->snapshot_every, 0, 1000000) ||
        !get_int(p, g, "max_append", &max_append, 0, LIMIT_RAFT_MSG_ENTRIES_MAX) ||
        !get_int(p, g, "rounds", &r->rounds, 1, 1000000) || !get_dur(p, g, "from", &r->adversary_from_ns) ||
        !get_dur(p, g, "leader_within", &r->leader_within_ns))
        return false;
    r->max_append = (uint32_t)max_append;
    if (size < 8 || size > 64 * 1024) return bad(p, g, "size", "must be 8 bytes .. 64KiB (the first 8 bytes are the value)");
    r->size_bytes = size;
    if (r->tick_ns < SIM_MS) return bad(p, g, "tick", "must be at least 1ms");
    if (r->heartbeat_ticks >= r->election_ticks) return bad(p, g, "heartbeat_ticks", "must be below election_ticks");
    if (r->leader_within_ns < r->tick_ns * r->election_ticks * 2)
        return bad(p, g, "leader_within", "must be at least two election timeouts (2 x tick x election_ticks)");
    g_autofree char *bug = get_str(p, g, "bug");
    if (bug && !sim_parse_raft_bug(bug, &r->bug)) return bad(p, g, "bug", "'%s' is not none, raft-commit-old-term or raft-no-noop", bug);
    g_autofree char *adv = get_str(p, g, "adversary");
    if (adv && strcmp(adv, "none") && strcmp(adv, "figure8")) return bad(p, g, "adversary", "'%s' is not none or figure8", adv);
    r->figure8 = adv && !strcmp(adv, "figure8");
    if (r->adversary_from_ns >= p->sc->duration_ns) return bad(p, g, "from", "starts after the run ends");
    if (p->sc->nodes < 1 || p->sc->nodes > LIMIT_RAFT_PEERS_MAX)
        return bad(p, "cluster", "nodes", "a Raft group has 1..%d nodes", LIMIT_RAFT_PEERS_MAX);
    if (p->sc->jetstream) return bad(p, "cluster", "jetstream", "a [raft] run has no broker: leave jetstream off");
    return true;
}

static gint fault_cmp(gconstpointer a, gconstpointer b) {
    const SimFault *x = *(SimFault *const *)a, *y = *(SimFault *const *)b;
    return x->at_ns < y->at_ns ? -1 : x->at_ns > y->at_ns;
}

static void fault_free(gpointer q) {
    SimFault *f = q;
    if (f->side_a) g_array_unref(f->side_a);
    if (f->side_b) g_array_unref(f->side_b);
    g_free(f->target);
    g_free(f->text);
    g_free(f);
}

static void group_free(gpointer q) {
    SimClientGroup *g = q;
    g_free(g->name);
    g_free(g->subject);
    g_free(g->queue);
    g_free(g->stream);
    g_free(g->retention);
    g_free(g);
}

static bool parse_all(Parse *p) {
    SimScenario *sc = p->sc;
    g_auto(GStrv) groups = g_key_file_get_groups(p->kf, NULL);
    static const char *const run_keys[] = {"duration", "drain", "settle", "grace", "check_every", "description", NULL};
    static const char *const cluster_keys[] = {"nodes", "jetstream", "sync", "max_pending", "ping_interval",
                                               "clock_drift_ppm", "snapshot_entries", "meta_snapshot_entries", NULL};
    static const char *const net_keys[] = {"latency", "kernel_buffer", "peer", "peer_latency", "reconnect", NULL};
    static const char *const disk_keys[] = {"fsync_latency", "capacity", "crash_keep", "crash_tear", "segment_bytes", NULL};
    static const char *const random_keys[] = {"crash", "reset", "pause", "clock_jump", "bitflip", "partition", "from",
                                              "until", "peer_loss", "peer_dup", "peer_reorder", NULL};
    for (int i = 0; groups[i]; i++) {
        const char *g = groups[i];
        if (strcmp(g, "run") && strcmp(g, "cluster") && strcmp(g, "net") && strcmp(g, "disk") &&
            strcmp(g, "faults") && strcmp(g, "random") && strcmp(g, "raft") && !g_str_has_prefix(g, "client."))
            return bad(p, g, NULL, "unknown section (run, cluster, net, disk, client.NAME, faults, random, raft)");
    }
    if (!check_keys(p, "run", run_keys) || !check_keys(p, "cluster", cluster_keys) ||
        !check_keys(p, "net", net_keys) || !check_keys(p, "disk", disk_keys) || !check_keys(p, "random", random_keys))
        return false;
    if (!g_key_file_has_key(p->kf, "run", "duration", NULL)) return bad(p, "run", NULL, "missing key 'duration'");
    uint64_t check_every = 1, mp = 0, kb = sc->net.kernel_buffer_bytes, cap = 0;
    double every = 1;
    if (!get_dur(p, "run", "duration", &sc->duration_ns) || !get_dur(p, "run", "drain", &sc->drain_ns) ||
        !get_dur(p, "run", "settle", &sc->settle_ns) || !get_dur(p, "run", "grace", &sc->grace_ns) ||
        !get_double(p, "run", "check_every", &every, 1, 1e9))
        return false;
    check_every = (uint64_t)every;
    sc->check_every = check_every;
    sc->description = get_str(p, "run", "description");
    if (sc->duration_ns <= 0) return bad(p, "run", "duration", "must be positive");
    if (sc->drain_ns >= sc->duration_ns) return bad(p, "run", "drain", "must be shorter than the run");
    if (!get_int(p, "cluster", "nodes", &sc->nodes, 1, SIM_MAX_NODES) || !get_bool(p, "cluster", "jetstream", &sc->jetstream) ||
        !get_size(p, "cluster", "max_pending", &mp) || !get_dur(p, "cluster", "ping_interval", &sc->ping_interval_ns) ||
        !get_double(p, "cluster", "clock_drift_ppm", &sc->clock_drift_ppm, 0, 1e5) ||
        !get_int(p, "cluster", "snapshot_entries", &sc->snapshot_entries, 1, 1 << 30) ||
        !get_int(p, "cluster", "meta_snapshot_entries", &sc->meta_snapshot_entries, 1, 1 << 30))
        return false;
    sc->max_pending_bytes = mp;
    g_autofree char *sync = get_str(p, "cluster", "sync");
    if (sync && !sim_parse_sync(sync, &sc->sync_interval_ns))
        return bad(p, "cluster", "sync", "'%s' is not always, never or a duration (nats-server's sync_interval)", sync);
    if (!get_range(p, "net", "latency", &sc->net.latency_min_ns, &sc->net.latency_max_ns) ||
        !get_size(p, "net", "kernel_buffer", &kb) ||
        !get_range(p, "net", "reconnect", &sc->reconnect_min_ns, &sc->reconnect_max_ns))
        return false;
    sc->net.kernel_buffer_bytes = kb;
    g_autofree char *peer = get_str(p, "net", "peer");
    if (peer && !sim_net_link_preset(peer, &sc->peer)) return bad(p, "net", "peer", "'%s' is not lan, unreliable or reorder", peer);
    if (!get_range(p, "net", "peer_latency", &sc->peer.latency_min_ns, &sc->peer.latency_max_ns)) return false;
    if (!get_range(p, "disk", "fsync_latency", &sc->fsync_min_ns, &sc->fsync_max_ns) ||
        !get_size(p, "disk", "capacity", &cap) || !get_size(p, "disk", "segment_bytes", &sc->segment_bytes) || !get_double(p, "disk", "crash_keep", &sc->crash_keep_p, 0, 1) ||
        !get_double(p, "disk", "crash_tear", &sc->crash_tear_p, 0, 1))
        return false;
    sc->disk_capacity_bytes = cap;
    SimRandomFaults *r = &sc->random;
    r->until_ns = sc->duration_ns - sc->drain_ns;
    if (!get_rate(p, "random", "crash", &r->crash_per_s, false) || !get_rate(p, "random", "reset", &r->reset_per_s, false) ||
        !get_rate(p, "random", "pause", &r->pause_per_s, false) || !get_rate(p, "random", "clock_jump", &r->clock_jump_per_s, false) ||
        !get_rate(p, "random", "bitflip", &r->bitflip_per_s, false) || !get_dur(p, "random", "from", &r->from_ns) ||
        !get_dur(p, "random", "until", &r->until_ns) || !get_double(p, "random", "peer_loss", &r->peer_loss_max, 0, 1) ||
        !get_double(p, "random", "peer_dup", &r->peer_dup_max, 0, 1) ||
        !get_rate(p, "random", "partition", &r->partition_per_s, false) ||
        !get_double(p, "random", "peer_reorder", &r->peer_reorder_max, 0, 1))
        return false;
    if (r->until_ns > sc->duration_ns || r->from_ns > r->until_ns)
        return bad(p, "random", "until", "the random-fault window must lie inside the run");
    if (g_key_file_has_group(p->kf, "raft") && !parse_raft(p)) return false;
    for (int i = 0; groups[i]; i++) {
        if (!g_str_has_prefix(groups[i], "client.")) continue;
        if (sc->raft.enabled) return bad(p, groups[i], NULL, "a [raft] run has no broker clients (its clients are [raft] rate)");
        if (!parse_client(p, groups[i])) return false;
    }
    g_auto(GStrv) fkeys = g_key_file_get_keys(p->kf, "faults", NULL, NULL);
    for (int i = 0; fkeys && fkeys[i]; i++)
        if (!parse_fault(p, fkeys[i])) return false;
    g_ptr_array_sort(sc->faults, fault_cmp); /* g_ptr_array_sort is a stable merge sort */
    /* nodes > 1 is one cluster (every node routes to every other); with JetStream it is
     * clustered JetStream: one meta group of every node, a Raft group per replicated stream */
    if (sc->groups->len == 0 && !sc->raft.enabled)
        return bad(p, "run", NULL, "no clients: add a [client.NAME] section (or a [raft] section)");
    return true;
}

/* GKeyFile's parse errors carry no line number: find the first line it would refuse. */
static int first_bad_line(const char *text) {
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        char *l = g_strstrip(lines[i]);
        if (!l[0] || l[0] == '#' || l[0] == ';') continue;
        if (l[0] == '[' ? l[strlen(l) - 1] != ']' : strchr(l, '=') == NULL) return i + 1;
        if (!g_utf8_validate(l, -1, NULL)) return i + 1;
    }
    return 1;
}

SimScenario *sim_scenario_parse(const char *text, size_t len, const char *path, GError **error) {
    SimScenario *sc = g_new0(SimScenario, 1);
    sc->path = g_strdup(path);
    g_autofree char *base = g_path_get_basename(path);
    if (g_str_has_suffix(base, ".ini")) base[strlen(base) - 4] = '\0';
    sc->name = g_strdup(base);
    sc->text = g_strndup(text, len);
    /* defaults: a quiet LAN, a fast SSD, a forgiving run */
    sc->drain_ns = SIM_S;
    sc->settle_ns = SIM_S;
    sc->grace_ns = 2 * SIM_S;
    sc->nodes = 1;
    sc->snapshot_entries = SIM_SNAPSHOT_ENTRIES;
    sc->meta_snapshot_entries = SIM_META_SNAPSHOT_ENTRIES;
    sc->net.latency_min_ns = 100 * SIM_US;
    sc->net.latency_max_ns = 500 * SIM_US;
    sc->net.kernel_buffer_bytes = 64 * 1024;
    sim_net_link_preset("lan", &sc->peer);
    sc->reconnect_min_ns = 100 * SIM_MS;
    sc->reconnect_max_ns = 500 * SIM_MS;
    sc->fsync_min_ns = 50 * SIM_US;
    sc->fsync_max_ns = 500 * SIM_US;
    sc->crash_keep_p = 0.5;
    sc->crash_tear_p = 0.5;
    sc->groups = g_ptr_array_new_with_free_func(group_free);
    sc->faults = g_ptr_array_new_with_free_func(fault_free);
    Parse p = {path, g_key_file_new(), g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL), sc, error};
    GError *kerr = NULL;
    bool ok;
    if (!g_key_file_load_from_data(p.kf, sc->text, len, G_KEY_FILE_NONE, &kerr)) {
        g_set_error(error, SIM_SCENARIO_ERROR, 1, "%s:%d: %s", path, first_bad_line(sc->text), kerr->message);
        g_error_free(kerr);
        ok = false;
    } else {
        index_lines(&p, sc->text);
        ok = parse_all(&p);
    }
    g_key_file_free(p.kf);
    g_hash_table_destroy(p.lines);
    if (!ok) {
        if (error && !*error) g_set_error(error, SIM_SCENARIO_ERROR, 1, "%s: invalid scenario", path);
        sim_scenario_free(sc);
        return NULL;
    }
    return sc;
}

SimScenario *sim_scenario_load(const char *path, GError **error) {
    g_autofree char *text = NULL;
    gsize len;
    GError *e = NULL;
    if (!g_file_get_contents(path, &text, &len, &e)) {
        g_set_error(error, SIM_SCENARIO_ERROR, 1, "%s: %s", path, e->message);
        g_error_free(e);
        return NULL;
    }
    return sim_scenario_parse(text, len, path, error);
}

void sim_scenario_free(SimScenario *sc) {
    if (!sc) return;
    g_ptr_array_unref(sc->groups);
    g_ptr_array_unref(sc->faults);
    g_free(sc->path);
    g_free(sc->name);
    g_free(sc->description);
    g_free(sc->text);
    g_free(sc);
}

const char *sim_client_kind_name(SimClientKind k) {
    static const char *n[] = {"publisher", "subscriber", "requester", "responder", "js-publisher", "js-consumer"};
    return n[k];
}
