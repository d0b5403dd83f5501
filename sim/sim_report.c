/* sim_report.c — what a run leaves behind: metrics rows, summary.txt, gnuplot charts.
 *
 * INTERFACE (sim_report.h)
 *   sim_report_metrics(sim)              per-bucket samples into the trace's metrics table:
 *                                        pub_per_s, msg_per_s, req_per_s, lat_p50_ms,
 *                                        lat_p99_ms, lat_max_ms, req_p99_ms; in a cluster
 *                                        also per node: nK.pub_per_s, nK.msg_per_s (by the
 *                                        node the client was on), nK.clients (connected at
 *                                        the bucket's start), nK.reconnects (clients that
 *                                        arrived there from another node)
 *   sim_report_summary(dir, r)           DIR/summary.txt
 *   sim_report_charts(dir, title, nodes, error)   DIR/latency.png, DIR/throughput.png and,
 *                                        with nodes > 1, DIR/cluster.png (per-node
 *                                        throughput above, clients per node and their
 *                                        reconnects below), drawn by gnuplot from SQL
 *                                        queries on DIR/trace.db, fault windows shaded
 *
 * The charts are data from SQL and a script written next to them (DIR/charts.gp), so a
 * reader can re-draw or change them by hand. Wall-clock numbers (real time, events per
 * second) appear only in summary.txt, never in the trace or its hash.
 */
#include "sim_report.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "sim_jscluster.h"
#include "sim_workload.h"

static gint cmp_i64(gconstpointer a, gconstpointer b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(GArray *a, double q) {
    return (double)g_array_index(a, int64_t, (guint)((double)(a->len - 1) * q + 0.5)) / 1e6;
}

/* A cluster, per node and bucket: what its clients published and received, how many clients
 * it had, and how many arrived after losing their server (the connection windows tell). */
static void cluster_metrics(Sim *sim, double per_s) {
    SimWorkload *wl = sim->wl;
    guint nb = wl->msg_count->len;
    for (int n = 0; n < sim->n_nodes; n++) {
        const char *name = sim->nodes[n]->name;
        g_autofree char *k_pub = g_strdup_printf("%s.pub_per_s", name), *k_msg = g_strdup_printf("%s.msg_per_s", name),
                        *k_cli = g_strdup_printf("%s.clients", name), *k_rec = g_strdup_printf("%s.reconnects", name);
        g_autofree uint64_t *clients = g_new0(uint64_t, nb), *arrivals = g_new0(uint64_t, nb);
        for (guint c = 0; c < wl->clients->len; c++) {
            SimClient *sc = g_ptr_array_index(wl->clients, c);
            for (guint w = 0; w < sc->windows->len; w++) {
                const SimWindow *win = &g_array_index(sc->windows, SimWindow, w);
                if (win->node != n) continue;
                if (w > 0 && (guint)(win->from_ns / wl->bucket_ns) < nb) arrivals[win->from_ns / wl->bucket_ns]++;
                for (guint b = 0; b < nb; b++) { /* connected at the bucket's start */
                    int64_t t = (int64_t)b * wl->bucket_ns;
                    if (win->from_ns <= t && t < win->to_ns) clients[b]++;
                }
            }
        }
        for (guint b = 0; b < nb; b++) {
            int64_t t = (int64_t)b * wl->bucket_ns;
            if (t >= sim->sc->duration_ns) break;
            sim_trace_metric(sim->trace, t, k_pub, (double)g_array_index(wl->node_pub_count[n], uint64_t, b) * per_s);
            sim_trace_metric(sim->trace, t, k_msg, (double)g_array_index(wl->node_msg_count[n], uint64_t, b) * per_s);
            sim_trace_metric(sim->trace, t, k_cli, (double)clients[b]);
            sim_trace_metric(sim->trace, t, k_rec, (double)arrivals[b]);
        }
    }
}

void sim_report_metrics(Sim *sim) {
    SimWorkload *wl = sim->wl;
    sim_jsc_metrics(sim->jsc); /* clustered JetStream: PubAcks per node */
    double per_s = 1e9 / (double)wl->bucket_ns;
    for (guint b = 0; b < wl->lat_buckets->len; b++) {
        int64_t t = (int64_t)b * wl->bucket_ns;
        if (t >= sim->sc->duration_ns) break;
        sim_trace_metric(sim->trace, t, "pub_per_s", (double)g_array_index(wl->pub_count, uint64_t, b) * per_s);
        sim_trace_metric(sim->trace, t, "msg_per_s", (double)g_array_index(wl->msg_count, uint64_t, b) * per_s);
        sim_trace_metric(sim->trace, t, "req_per_s", (double)g_array_index(wl->req_count, uint64_t, b) * per_s);
        GArray *lat = g_ptr_array_index(wl->lat_buckets, b);
        if (lat->len > 0) {
            g_array_sort(lat, cmp_i64);
            sim_trace_metric(sim->trace, t, "lat_p50_ms", pct(lat, 0.50));
            sim_trace_metric(sim->trace, t, "lat_p99_ms", pct(lat, 0.99));
            sim_trace_metric(sim->trace, t, "lat_max_ms", pct(lat, 1.0));
        }
        GArray *rl = g_ptr_array_index(wl->req_lat_buckets, b);
        if (rl->len > 0) {
            g_array_sort(rl, cmp_i64);
            sim_trace_metric(sim->trace, t, "req_p99_ms", pct(rl, 0.99));
        }
    }
    if (sim->n_nodes > 1 && !sim->raft) cluster_metrics(sim, per_s);
}

bool sim_report_summary(const char *dir, const SimRunReport *r, GError **error) {
    GString *s = g_string_new(NULL);
    double sim_s = (double)r->sim_ns / 1e9;
    g_string_append_printf(s, "scenario        %s\n", r->scenario);
    g_string_append_printf(s, "seed            %" G_GUINT64_FORMAT "\n", r->seed);
    g_string_append_printf(s, "result          %s (exit %d)\n", r->verdict, r->code);
    g_string_append_printf(s, "events          %" G_GUINT64_FORMAT " traced, %" G_GUINT64_FORMAT " scheduler steps\n",
                           r->events, r->steps);
    g_string_append_printf(s, "simulated time  %.3f s\n", sim_s);
    g_string_append_printf(s, "real time       %.3f s\n", r->real_s);
    g_string_append_printf(s, "events/s        %.0f (traced events per real second)\n",
                           r->real_s > 0 ? (double)r->events / r->real_s : 0);
    g_string_append_printf(s, "steps/s         %.0f\n", r->real_s > 0 ? (double)r->steps / r->real_s : 0);
    g_string_append_printf(s, "cpu time        %.3f s\n", r->cpu_s);
    g_string_append_printf(s, "sim-to-real     %.1fx (simulated seconds per wall-clock second)\n",
                           r->real_s > 0 ? sim_s / r->real_s : 0);
    g_string_append_printf(s, "sim-to-cpu      %.1fx (the same per CPU second: unaffected by other load)\n",
                           r->cpu_s > 0 ? sim_s / r->cpu_s : 0);
    if (!r->raft) { /* a [raft] run has no broker clients: its counts are in r->extra */
        g_string_append_printf(s, "published       %" G_GUINT64_FORMAT " attempted by publishers, %" G_GUINT64_FORMAT
                               " sent on a live connection, %" G_GUINT64_FORMAT " not sent (client disconnected)\n",
                               r->published, r->published - r->pub_unsent, r->pub_unsent);
        g_string_append_printf(s, "delivered       %" G_GUINT64_FORMAT " messages received by subscribers and consumers\n",
                               r->delivered);
        g_string_append_printf(s, "answered        %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " replies to requests, %"
                               G_GUINT64_FORMAT " PubAcks of JetStream publishes), %" G_GUINT64_FORMAT
                               " requests failed\n", r->req_ok, r->req_ok - r->js_acks, r->js_acks, r->req_fail);
        g_string_append_printf(s, "reconnects      %" G_GUINT64_FORMAT " (clients that dialled again after losing the server)\n",
                               r->reconnects);
        g_string_append_printf(s, "server closes   %" G_GUINT64_FORMAT " (connections the server closed: slow consumers and others)\n",
                               r->server_closes);
    }
    g_string_append_printf(s, "invariant checks %" G_GUINT64_FORMAT "\n", r->invariant_checks);
    if (r->extra) g_string_append(s, r->extra);
    g_string_append_printf(s, "violations      %u\n", r->violations ? r->violations->len : 0);
    for (guint i = 0; r->violations && i < r->violations->len; i++)
        g_string_append_printf(s, "  - %s\n", (const char *)g_ptr_array_index(r->violations, i));
    g_string_append_printf(s, "trace_hash      %s\n", r->hash);
    g_autofree char *path = g_build_filename(dir, "summary.txt", NULL);
    bool ok = g_file_set_contents(path, s->str, (gssize)s->len, error);
    g_string_free(s, TRUE);
    return ok;
}

/* Run a query and write its rows as whitespace-separated columns. */
static bool query_to_file(sqlite3 *db, const char *sql, const char *path, int *rows) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return false;
    FILE *f = fopen(path, "w");
    if (!f) {
        sqlite3_finalize(st);
        return false;
    }
    *rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int n = sqlite3_column_count(st);
        for (int i = 0; i < n; i++) {
            const unsigned char *v = sqlite3_column_text(st, i);
            fprintf(f, "%s%s", i ? " " : "", v ? (const char *)v : "NaN");
        }
        fputc('\n', f);
        (*rows)++;
    }
    fclose(f);
    sqlite3_finalize(st);
    return true;
}

static const char *pivot =
    "SELECT time_ns / 1e9, "
    " max(CASE WHEN name='%s' THEN value END), max(CASE WHEN name='%s' THEN value END),"
    " max(CASE WHEN name='%s' THEN value END), max(CASE WHEN name='%s' THEN value END)"
    " FROM metrics GROUP BY time_ns ORDER BY time_ns;";

/* Does the metrics table hold any sample called name? (gnuplot refuses an all-empty line) */
static bool has_metric(sqlite3 *db, const char *name) {
    sqlite3_stmt *st;
    bool any = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM metrics WHERE name = ? AND value > 0 LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        any = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return any;
}

/* "plot 'FILE' using 1:2 ... title 'T', ..." for the columns that have data */
static void plot_line(GString *s, const char *file, sqlite3 *db, const char *const *names, const char *const *titles,
                      int n, const char *extra) {
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!has_metric(db, names[i])) continue;
        g_string_append_printf(s, "%s'%s' using 1:%d with lines lw %d title '%s'", first ? "plot " : ", ", file, i + 2,
                               i < 2 ? 2 : 1, titles[i]);
        first = false;
    }
    if (!first && extra) g_string_append(s, extra);
    g_string_append(s, first ? "set yrange [0:1]\nplot NaN title 'no data'\n" : "\n");
}

/* A cluster's chart, cluster.png: above, per node, what the scenario measured there: the
 * core-NATS messages its clients received (solid) and published (dashed), and, in a
 * clustered-JetStream run, the PubAcks its publishers got (thick, dash-dot), each family drawn
 * only when the run has any; below, per node, the clients connected (steps) and the clients
 * that arrived from another node (impulses: a lost server or a roaming client). Fault windows
 * are shaded across both, so a crash shows as its node's lines falling to zero and the
 * others taking its clients. */
static int64_t scalar_i64(sqlite3 *db, const char *sql);

static bool cluster_chart(GString *s, sqlite3 *db, const char *dir, const char *title, int nodes) {
    bool core = scalar_i64(db, "SELECT count(*) FROM metrics WHERE (name LIKE 'n%.msg_per_s' OR name LIKE "
                               "'n%.pub_per_s') AND value > 0") > 0;
    bool acks = scalar_i64(db, "SELECT count(*) FROM metrics WHERE name LIKE 'ack_per_s_n%'") > 0;
    const char *what = core && acks ? "received (solid), published (dashed) and PubAcks (dash-dot) by the clients of each node"
                       : acks      ? "PubAcks received by the publishers connected to each node"
                                   : "received (solid) and published (dashed) by the clients of each node";
    g_string_append_printf(s,
        "set terminal pngcairo size 900,640 font ',10' noenhanced\n"
        "set output 'cluster.png'\nset multiplot title '%s: per node (shaded: fault windows)'\n"
        "set key outside right top vertical Left reverse samplen 2\nset yrange [0:*]\nset lmargin 10\nset rmargin 22\n"
        "set origin 0, 0.48\nset size 1, 0.46\nset xlabel ''\nset ylabel '%s per second'\n"
        "set title '%s'\n",
        title, acks && !core ? "PubAcks" : "messages", what);
    GString *top = g_string_new(NULL), *bottom = g_string_new(NULL);
    for (int n = 1; n <= nodes; n++) {
        g_autofree char *sql = g_strdup_printf(
            "SELECT time_ns / 1e9, max(CASE WHEN name='n%d.msg_per_s' THEN value END),"
            " max(CASE WHEN name='n%d.pub_per_s' THEN value END), max(CASE WHEN name='n%d.clients' THEN value END),"
            " max(CASE WHEN name='n%d.reconnects' THEN value END) FROM metrics"
            " WHERE name LIKE 'n%d.%%' GROUP BY time_ns ORDER BY time_ns;", n, n, n, n, n);
        g_autofree char *name = g_strdup_printf("cluster-n%d.dat", n);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        int rows = 0;
        if (!query_to_file(db, sql, path, &rows)) return false;
        if (rows == 0) continue;
        if (core)
            g_string_append_printf(top, "%s'%s' using 1:2 with lines lw 2 lc %d title 'n%d received', "
                                        "'' using 1:3 with lines lw 1 dt 2 lc %d title 'n%d published'",
                                   top->len ? ", " : "plot ", name, n, n, n, n);
        g_autofree char *ack_name = g_strdup_printf("ack_per_s_n%d", n);
        if (acks && has_metric(db, ack_name)) {
            g_autofree char *ack_sql = g_strdup_printf(
                "SELECT time_ns / 1e9, value FROM metrics WHERE name = '%s' ORDER BY time_ns;", ack_name);
            g_autofree char *ack_file = g_strdup_printf("cluster-acks-n%d.dat", n);
            g_autofree char *ack_path = g_build_filename(dir, ack_file, NULL);
            int ack_rows = 0;
            if (!query_to_file(db, ack_sql, ack_path, &ack_rows)) return false;
            g_string_append_printf(top, "%s'%s' using 1:2 with lines lw 2 dt %s lc %d title 'n%d PubAcks'",
                                   top->len ? ", " : "plot ", ack_file, core ? "4" : "1", n, n);
        }
        g_string_append_printf(bottom, "%s'%s' using 1:4 with steps lw 2 lc %d title 'n%d clients', "
                                       "'' using 1:($5 > 0 ? $5 : NaN) with impulses lw 5 lc %d title 'n%d arrivals'",
                               bottom->len ? ", " : "plot ", name, n, n, n, n);
    }
    g_string_append(s, top->len ? top->str : "plot NaN title 'no data'");
    g_string_append(s, "\nset origin 0, 0.02\nset size 1, 0.46\nset xlabel 'simulated time (s)'\n"
                       "set ylabel 'clients'\nset yrange [0:*]\n"
                       "set title 'clients connected (steps); arrivals from another node (bars)'\n");
    g_string_append(s, bottom->len ? bottom->str : "plot NaN title 'no data'");
    g_string_append(s, "\nunset multiplot\n");
    g_string_free(top, TRUE);
    g_string_free(bottom, TRUE);
    return true;
}

/* The queue checker's verdict, lost.png (clustered JetStream; sim_jscluster.c writes the
 * queue_* metrics): above, every publish at the time it was sent, on the row of its class,
 * with the fault windows shaded, so a loss shows where in the history it happened; below left,
 * how many publishes fell in each class (Jepsen's queue checker: ok, lost split prefix /
 * middle / postfix, unknown, recovered, and the reads no publish explains: unexpected,
 * duplicated); below right, per node, the acknowledged publishes its own replica misses. */
static bool lost_chart(GString *s, sqlite3 *db, const char *dir, const char *title) {
    if (scalar_i64(db, "SELECT count(*) FROM metrics WHERE name = 'queue_count_ok'") == 0) return true;
    g_autofree char *ops = g_build_filename(dir, "lost-ops.dat", NULL);
    g_autofree char *classes = g_build_filename(dir, "lost-classes.dat", NULL);
    g_autofree char *per_node = g_build_filename(dir, "lost-nodes.dat", NULL);
    int rows_ops = 0, rows_cls = 0, rows_nodes = 0;
    if (!query_to_file(db, "SELECT time_ns / 1e9, value FROM metrics WHERE name = 'queue_class' ORDER BY time_ns", ops,
                       &rows_ops) ||
        /* x, count, label: the classes in the checker's order */
        !query_to_file(db, "SELECT CASE name WHEN 'queue_count_ok' THEN 0 WHEN 'queue_count_lost_prefix' THEN 1"
                           " WHEN 'queue_count_lost_middle' THEN 2 WHEN 'queue_count_lost_postfix' THEN 3"
                           " WHEN 'queue_count_unknown' THEN 4 WHEN 'queue_count_recovered' THEN 5"
                           " WHEN 'queue_count_unexpected' THEN 6 ELSE 7 END AS x, value, '\"' || replace(substr(name, 13), '_', ' ') || '\"'"
                           " FROM metrics WHERE name LIKE 'queue_count_%' ORDER BY x", classes, &rows_cls) ||
        !query_to_file(db, "SELECT CAST(substr(name, 16) AS INTEGER), value, substr(name, 15) FROM metrics"
                           " WHERE name LIKE 'queue_lost_on_n%' ORDER BY 1", per_node, &rows_nodes))
        return false;
    int64_t lost = scalar_i64(db, "SELECT sum(value) FROM metrics WHERE name IN ('queue_count_lost_prefix',"
                                  " 'queue_count_lost_middle', 'queue_count_lost_postfix')");
    g_string_append_printf(s,
        "set terminal pngcairo size 900,680 font ',10' noenhanced\n"
        "set output 'lost.png'\nset multiplot title '%s: the queue checker (%" G_GINT64_FORMAT " acknowledged publishes lost)'\n"
        "set key outside right top vertical Left reverse samplen 1\nset lmargin 12\nset rmargin 16\n"
        "set origin 0, 0.46\nset size 1, 0.5\nset title 'each publish at the time it was sent, by its class (shaded: faults)'\n"
        "set xlabel 'simulated time (s)'\nset ylabel ''\nset yrange [5.6:-0.6]\nset offsets 0, 0, 0, 0\n"
        "set ytics ('ok' 0, 'recovered' 1, 'unknown' 2, 'lost prefix' 3, 'lost middle' 4, 'lost postfix' 5)\n",
        title, lost);
    static const char *const colour[] = {"#2ca02c", "#1f77b4", "#7f7f7f", "#d62728", "#b10026", "#ff7f0e"};
    if (rows_ops == 0) g_string_append(s, "plot NaN title 'no publishes'\n");
    else {
        g_string_append(s, "plot ");
        for (int c = 0; c < 6; c++)
            g_string_append_printf(s, "%s'lost-ops.dat' using 1:($2 == %d ? $2 : NaN) with points pt 7 ps %s lc rgb '%s' notitle",
                                   c ? ", " : "", c, c >= 3 ? "0.6" : "0.3", colour[c]);
        g_string_append(s, "\n");
    }
    /* the bars: no fault shading, no fault labels */
    g_string_append(s, "unset object\nunset label\nunset arrow\nset grid ytics\nunset xtics\nset xtics nomirror\n"
                       "set key off\nset style fill solid 0.8 noborder\nset boxwidth 0.7\nset yrange [0:*]\n"
                       "set offsets 0, 0, graph 0.15, 0\nset ytics autofreq\nset xlabel ''\nset rmargin 2\n"
                       "set origin 0, 0\nset size 0.62, 0.46\nset title 'publishes (reads) per class'\nset ylabel 'count'\n"
                       "set xrange [-0.6:7.6]\nset xtics rotate by 30 right font ',9'\n");
    g_string_append(s, rows_cls == 0 ? "plot NaN title 'no data'\n"
                       : "plot 'lost-classes.dat' using 1:2:($1 == 0 ? 0x2ca02c : $1 <= 3 ? 0xd62728 : $1 <= 5 ? 0x7f7f7f"
                         " : 0x9467bd):xtic(3) with boxes lc rgb variable, '' using 1:2:(sprintf('%d', $2)) with labels"
                         " offset 0,0.7 font ',9'\n");
    g_string_append(s, "set origin 0.62, 0\nset size 0.38, 0.46\nset title 'acknowledged, missing per replica'\n"
                       "set xrange [*:*]\nset autoscale x\nset offsets 0.6, 0.6, graph 0.15, 0\nset xtics norotate font ',10'\n"
                       "set ylabel ''\n");
    g_string_append(s, rows_nodes == 0 ? "plot NaN title 'no replica'\n"
                       : "plot 'lost-nodes.dat' using 1:2:xtic(3) with boxes lc rgb '#d62728', '' using 1:2:(sprintf('%d', $2))"
                         " with labels offset 0,0.7 font ',9'\n");
    g_string_append(s, "unset multiplot\n");
    return true;
}

bool sim_report_charts(const char *dir, const char *title, int nodes, GError **error) {
    g_autofree char *dbpath = g_build_filename(dir, "trace.db", NULL);
    sqlite3 *db;
    if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "open %s: %s", dbpath, sqlite3_errmsg(db));
        sqlite3_close(db);
        return false;
    }
    g_autofree char *lat = g_build_filename(dir, "latency.dat", NULL);
    g_autofree char *thr = g_build_filename(dir, "throughput.dat", NULL);
    static const char *const lat_names[] = {"lat_p50_ms", "lat_p99_ms", "lat_max_ms", "req_p99_ms"};
    static const char *const lat_titles[] = {"delivery p50", "delivery p99", "delivery max", "request/PubAck p99"};
    static const char *const thr_names[] = {"pub_per_s", "msg_per_s", "req_per_s"};
    static const char *const thr_titles[] = {"published (sent on a live connection)", "delivered", "replies / PubAcks"};
    g_autofree char *q1 = g_strdup_printf(pivot, "lat_p50_ms", "lat_p99_ms", "lat_max_ms", "req_p99_ms");
    g_autofree char *q2 = g_strdup_printf(pivot, "pub_per_s", "msg_per_s", "req_per_s", "none");
    int r1 = 0, r2 = 0;
    bool ok = query_to_file(db, q1, lat, &r1) && query_to_file(db, q2, thr, &r2);
    double end_s = (double)scalar_i64(db, "SELECT max(time_ns) FROM metrics") / 1e9;
    /* fault windows: a shaded band per window, a dashed line per instant fault */
    GString *shade = g_string_new(NULL);
    sqlite3_stmt *st;
    /* a fault aimed at a role ("crash leader") names the node it hit: the node of the `fault`
     * event logged when it fired */
    GString *elections = g_string_new(NULL); /* drawn over the fault bands: a crash window starts one */
    if (ok && sqlite3_prepare_v2(db, "SELECT start_ns / 1e9, end_ns / 1e9, CASE WHEN node IN ('leader', 'follower') THEN"
                                     " coalesce((SELECT e.node FROM events e WHERE e.kind = 'fault' AND e.time_ns = f.start_ns"
                                     " AND e.node LIKE 'n%' ORDER BY e.seq LIMIT 1) || CASE WHEN kind = 'restart' THEN '' ELSE"
                                     " ' (' || node || ')' END, node) ELSE node END,"
                                     " kind, detail FROM faults f ORDER BY start_ns",
                                 -1, &st, NULL) == SQLITE_OK) {
        int k = 1, level = 0;
        double last_at[4] = {-1e9, -1e9, -1e9, -1e9};
        while (sqlite3_step(st) == SQLITE_ROW) {
            double a = sqlite3_column_double(st, 0), b = sqlite3_column_double(st, 1);
            const char *node = (const char *)sqlite3_column_text(st, 2), *kind = (const char *)sqlite3_column_text(st, 3);
            bool election = strcmp(kind, "election") == 0; /* a leaderless interval: blue */
            if (b > a && election)
                g_string_append_printf(elections, "set object %d rect from %.6f, graph 0 to %.6f, graph 1 "
                                       "fc rgb '#6baed6' fs transparent solid 0.45 noborder behind\n", 1000 + k++, a, b);
            else if (b > a)
                g_string_append_printf(shade, "set object %d rect from %.6f, graph 0 to %.6f, graph 1 "
                                       "fc rgb '#f4c7c3' fs solid 0.5 noborder behind\n", k++, a, b);
            else
                g_string_append_printf(shade, "set arrow from %.6f, graph 0 to %.6f, graph 0.76 nohead back lc rgb '#cc0000' dt 2\n", a, a);
            /* an instant (a restart) is a dashed line that stops below the labels' four heights,
             * so it never strikes through a label that started earlier (n1 read as h1) */
            /* labels on four heights, each used again only right of where its last label ends
             * (a label's width estimated from its length: about 6 px a character at this font,
             * the x axis ~800 px for at most 1.1x the run), so labels never print on top of each
             * other; a crowded run leaves some faults unlabelled (their band or line stays) */
            /* a node's fault names the node; a network fault ("sim") its groups, from the
             * detail "2s partition n1,n2|n3" */
            const char *detail = (const char *)sqlite3_column_text(st, 4);
            const char *groups = detail && strcmp(node, "sim") == 0 ? strstr(detail, "partition ") : NULL;
            g_autofree char *label = election ? g_strdup_printf("%s elected after %.0f ms", node, (b - a) * 1e3)
                                     : strcmp(node, "sim") != 0 ? g_strdup_printf("%s %s", kind, node)
                                     : groups ? g_strdup(groups) : g_strdup(kind);
            double width = ((double)strlen(label) + 1.5) * 6.0 / 800.0 * (end_s > 0 ? end_s * 1.1 : 10.0);
            level = -1;
            for (int h = 0; h < 4 && level < 0; h++)
                if (a >= last_at[h]) level = h;
            if (level >= 0) {
                last_at[level] = a + width;
                g_string_append_printf(shade, "set label '%s' at %.6f, graph %.2f offset 0.4,0 front font ',8' tc rgb '%s'\n",
                                       label, a, 0.97 - 0.06 * level, election ? "#08519c" : "#990000");
            }
        }
        sqlite3_finalize(st);
    }
    g_string_append(shade, elections->str);
    g_string_free(elections, TRUE);
    if (!ok) {
        sqlite3_close(db);
        g_string_free(shade, TRUE);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot query %s", dbpath);
        return false;
    }
    g_autofree char *gp = g_build_filename(dir, "charts.gp", NULL);
    GString *s = g_string_new(NULL);
    g_string_append_printf(s,
        "# charts.gp — written by minijet-sim; run `gnuplot charts.gp` in this directory to redraw.\n"
        "set terminal pngcairo size 900,420 font ',10' noenhanced\n"
        "set grid\nset key below\nset xlabel 'simulated time (s)'\n"
        /* headroom above the data for the fault labels (four heights from the top) */
        "set offsets 0, 0, graph 0.3, 0\n%s"
        "set output 'latency.png'\nset title '%s: latency (shaded: fault windows)'\n"
        "set ylabel 'ms'\n",
        shade->str, title);
    /* an outage has no latency samples, so the lines just stop: mark the intervals inside the
     * run where nothing was delivered, so the cost of a failure is visible on this chart too */
    g_autofree char *gaps = g_build_filename(dir, "gaps.dat", NULL);
    int ngaps = 0;
    query_to_file(db, "SELECT time_ns / 1e9 FROM metrics WHERE name = 'msg_per_s' AND value = 0"
                      " AND time_ns > (SELECT min(time_ns) FROM metrics WHERE name = 'lat_p50_ms')"
                      " AND time_ns < (SELECT max(time_ns) FROM metrics WHERE name = 'lat_p50_ms') ORDER BY time_ns;",
                  gaps, &ngaps);
    plot_line(s, "latency.dat", db, lat_names, lat_titles, r1 > 0 ? 4 : 0,
              ngaps > 0 ? ", 'gaps.dat' using 1:(0) with points pt 2 ps 1.1 lc rgb '#cc0000' "
                          "title 'nothing delivered in this interval (outage)'" : NULL);
    g_string_append_printf(s, "set output 'throughput.png'\nset title '%s: throughput (shaded: fault windows)'\n"
                              "set ylabel 'per second'\nset yrange [*:*]\n", title);
    plot_line(s, "throughput.dat", db, thr_names, thr_titles, r2 > 0 ? 3 : 0, NULL);
    /* clustered JetStream: what a failover costs, per node of the publishers' connections */
    int js_nodes = 0;
    for (int i = 1; i <= 16; i++) {
        char name[32];
        g_snprintf(name, sizeof name, "ack_per_s_n%d", i);
        if (has_metric(db, name)) js_nodes = i;
    }
    if (js_nodes > 0) {
        GString *q = g_string_new("SELECT time_ns / 1e9");
        static const char *const cols[][2] = {{"ack_p99_n", "_ms"}, {"ack_per_s_n", ""}, {"ack_p50_n", "_ms"}};
        for (int kind = 0; kind < 3; kind++)
            for (int i = 1; i <= js_nodes; i++)
                g_string_append_printf(q, ", max(CASE WHEN name='%s%d%s' THEN value END)", cols[kind][0], i, cols[kind][1]);
        g_string_append(q, " FROM metrics WHERE name LIKE 'ack_%' GROUP BY time_ns ORDER BY time_ns;");
        g_autofree char *fo = g_build_filename(dir, "failover.dat", NULL);
        int rows = 0;
        query_to_file(db, q->str, fo, &rows);
        g_string_free(q, TRUE);
        /* the bands get legend entries of their own (an empty series drawn as a filled box) */
        static const char legend[] = ", NaN with boxes fs solid 0.5 noborder fc rgb '#f4c7c3' title 'fault window',"
                                     " NaN with boxes fs transparent solid 0.45 noborder fc rgb '#6baed6' title 'no stream leader (election)'";
        g_string_append_printf(s, "set terminal pngcairo size 900,680 font ',10' noenhanced\n"
                                  "set output 'failover.png'\nset multiplot layout 2,1 title '%s: PubAcks by the node"
                                  " each publisher was connected to'\nset title 'PubAck latency: p99 (solid), p50 (dashed)'\n"
                                  "set ylabel 'ms'\nset yrange [0:*]\nplot ", title);
        for (int i = 1; i <= js_nodes; i++)
            g_string_append_printf(s, "%s'failover.dat' using 1:%d with linespoints pt 7 ps 0.4 lc %d title 'n%d p99', "
                                      "'' using 1:%d with lines dt 2 lc %d title 'n%d p50'", i > 1 ? ", " : "",
                                   1 + i, i, i, 1 + 2 * js_nodes + i, i, i);
        g_string_append_printf(s, "%s\nset title 'PubAcks per second'\nset ylabel 'per second'\nplot ", legend);
        for (int i = 1; i <= js_nodes; i++)
            g_string_append_printf(s, "%s'failover.dat' using 1:%d with lines lw 2 lc %d title 'n%d'", i > 1 ? ", " : "",
                                   1 + js_nodes + i, i, i);
        g_string_append_printf(s, "%s\nunset multiplot\n", legend);
    }
    if (nodes > 1 && (!cluster_chart(s, db, dir, title, nodes) || !lost_chart(s, db, dir, title))) {
        sqlite3_close(db);
        g_string_free(shade, TRUE);
        g_string_free(s, TRUE);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot query %s", dbpath);
        return false;
    }
    sqlite3_close(db);
    g_string_free(shade, TRUE);
    ok = g_file_set_contents(gp, s->str, (gssize)s->len, error);
    g_string_free(s, TRUE);
    if (!ok) return false;
    const char *argv[] = {"gnuplot", "charts.gp", NULL};
    int status = 0;
    g_autofree char *err = NULL;
    if (!g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                      &err, &status, error))
        return false;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "gnuplot failed: %s", err ? err : "");
        return false;
    }
    return true;
}

/* ============================================================================================
 * THE RAFT TIMELINE (DIR/timeline.png, drawn from DIR/trace.db by DIR/timeline.gp)
 *   top:    one row per node; a thick bar while the node believed it led, from its `leader`
 *           event to its next `stepdown` (a crash ends it too), labelled with the term; red
 *           bars on a row: the node was down (crash..restart); orange: paused
 *   bottom: each node's applied (commit) index over time, from the `commit` events
 *   both:   network faults (partitions, the Figure 8 adversary) shaded across the run
 * ============================================================================================
 */
static int64_t scalar_i64(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

/* Add a 5th column to timeline-leaders.dat: where the term's label goes on its node's row
 * (+0.3 above the bar, -0.3 below), or 0 for no label when both places are taken by a
 * label too close in time (a label is about end_s / 25 wide): labels never overwrite. */
static bool place_term_labels(const char *path, double end_s) {
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL)) return false;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    GString *out = g_string_new(NULL);
    double last[65][2];
    for (int i = 0; i < 65; i++) last[i][0] = last[i][1] = -1e9;
    for (int i = 0; lines[i]; i++) {
        if (!*lines[i]) continue;
        double a = 0, b = 0;
        int row = 0, term = 0;
        if (sscanf(lines[i], "%lf %lf %d %d", &a, &b, &row, &term) != 4 || row < 0 || row > 64) continue;
        double off = 0;
        for (int h = 0; h < 2 && off == 0; h++)
            if (a - last[row][h] >= end_s / 25) {
                last[row][h] = a;
                off = h == 0 ? 0.3 : -0.3;
            }
        g_string_append_printf(out, "%s %.1f\n", lines[i], off);
    }
    bool ok = g_file_set_contents(path, out->str, (gssize)out->len, NULL);
    g_string_free(out, TRUE);
    return ok;
}

bool sim_report_raft_timeline(const char *dir, const char *title, int nodes, GError **error) {
    g_autofree char *dbpath = g_build_filename(dir, "trace.db", NULL);
    sqlite3 *db;
    if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "open %s: %s", dbpath, sqlite3_errmsg(db));
        sqlite3_close(db);
        return false;
    }
    double end_s = (double)scalar_i64(db, "SELECT max(time_ns) FROM events") / 1e9;
    int64_t n_leaders = scalar_i64(db, "SELECT count(*) FROM leaders");
    int64_t max_idx = scalar_i64(db, "SELECT max(idx) FROM commits");
    int rows = 0;
    bool ok = true;
    /* leadership bars: start, end, row, term */
    g_autofree char *lead_sql = g_strdup_printf(
        "SELECT l.time_ns / 1e9, coalesce((SELECT min(s.time_ns) FROM events s WHERE s.kind = 'stepdown'"
        " AND s.node = l.node AND s.seq > l.seq), %" G_GINT64_FORMAT ") / 1e9, CAST(substr(l.node, 2) AS INTEGER), l.term"
        " FROM leaders l ORDER BY l.seq", (int64_t)(end_s * 1e9));
    g_autofree char *lead = g_build_filename(dir, "timeline-leaders.dat", NULL);
    ok = ok && query_to_file(db, lead_sql, lead, &rows);
    int lead_rows = rows;
    if (ok) ok = place_term_labels(lead, end_s);
    /* node down / paused windows on their rows */
    g_autofree char *down = g_build_filename(dir, "timeline-down.dat", NULL);
    g_autofree char *down_sql = g_strdup_printf(
        "SELECT c.time_ns / 1e9, coalesce((SELECT min(r.time_ns) FROM events r WHERE r.kind = 'restart'"
        " AND r.node = c.node AND r.seq > c.seq), %" G_GINT64_FORMAT ") / 1e9, CAST(substr(c.node, 2) AS INTEGER), 1"
        " FROM events c WHERE c.kind = 'crash'"
        " UNION ALL SELECT start_ns / 1e9, end_ns / 1e9, CAST(substr(node, 2) AS INTEGER), 2 FROM faults"
        " WHERE kind = 'pause' AND node LIKE 'n%%' AND end_ns > start_ns ORDER BY 1", (int64_t)(end_s * 1e9));
    ok = ok && query_to_file(db, down_sql, down, &rows);
    int down_rows = rows;
    /* commit index per node: one file per node */
    int commit_rows[64] = {0};
    for (int i = 1; i <= nodes && i < 64 && ok; i++) {
        g_autofree char *sql = g_strdup_printf("SELECT time_ns / 1e9, idx FROM commits WHERE node = 'n%d' ORDER BY seq", i);
        g_autofree char *name = g_strdup_printf("timeline-commit-n%d.dat", i);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        ok = query_to_file(db, sql, path, &commit_rows[i]);
    }
    /* network faults shaded over both panels; labels only when few */
    GString *shade = g_string_new(NULL);
    sqlite3_stmt *st;
    int64_t n_net = scalar_i64(db, "SELECT count(*) FROM faults WHERE kind IN ('partition', 'adversary')");
    if (ok && sqlite3_prepare_v2(db, "SELECT start_ns / 1e9, end_ns / 1e9, kind, detail FROM faults"
                                     " WHERE kind IN ('partition', 'adversary', 'clock-jump') ORDER BY start_ns",
                                 -1, &st, NULL) == SQLITE_OK) {
        int k = 1, level = 0;
        double last_at[4] = {-1e9, -1e9, -1e9, -1e9};
        while (sqlite3_step(st) == SQLITE_ROW) {
            double a = sqlite3_column_double(st, 0), b = sqlite3_column_double(st, 1);
            const char *kind = (const char *)sqlite3_column_text(st, 2);
            if (b > a) {
                g_string_append_printf(shade, "set object %d rect from %.6f, graph 0 to %.6f, graph 1 "
                                              "fc rgb '%s' fs solid 0.35 noborder behind\n",
                                       k++, a, b, strcmp(kind, "adversary") ? "#f4c7c3" : "#fde9b6");
                /* two label heights, each reused only when its last label is far enough away */
                level = -1;
                for (int h = 0; h < 2 && level < 0; h++)
                    if (a - last_at[h] >= end_s / 10) level = h;
                if (n_net <= 8 && level >= 0) {
                    last_at[level] = a;
                    g_string_append_printf(shade, "set label '%s' at %.6f, graph %.2f font ',8' tc rgb '#990000'\n",
                                           strcmp(kind, "adversary") ? "partition" : "Figure 8 adversary", a,
                                           1.03 + 0.05 * level);
                }
            } else
                g_string_append_printf(shade, "set arrow from %.6f, graph 0 to %.6f, graph 1 nohead lc rgb '#cc0000' dt 3\n",
                                       a, a);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    if (!ok) {
        g_string_free(shade, TRUE);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot query %s", dbpath);
        return false;
    }
    GString *s = g_string_new(NULL);
    g_string_append_printf(s,
        "# timeline.gp — written by minijet-sim; run `gnuplot timeline.gp` in this directory to redraw.\n"
        "set terminal pngcairo size 1000,640 font ',10' noenhanced\n"
        "set output 'timeline.png'\n"
        "set multiplot title '%s: Raft timeline (%" G_GINT64_FORMAT " elections won; a bar: a leader, labelled with its term; shaded: network faults)'\n"
        "set xrange [0:%.3f]\nset grid xtics\n%s"
        "set lmargin 10\nset rmargin 12\n"
        /* top: leadership */
        "set origin 0, 0.5\nset size 1, 0.46\nset tmargin 1.5\nset bmargin 1\n"
        "set yrange [0.4:%d.6]\nset ytics (",
        title, n_leaders, end_s, shade->str, nodes);
    for (int i = 1; i <= nodes; i++) g_string_append_printf(s, "%s'n%d' %d", i > 1 ? ", " : "", i, i);
    /* one colour for every leadership bar, so the legend's swatch is the bars' colour (a
     * colour per term cannot have one legend entry; the term is the bar's label) */
    g_string_append(s, ")\nset format x ''\nset ylabel 'leader'\nset key outside right top samplen 1\n");
    GString *plot = g_string_new("plot ");
    bool any = false;
    if (down_rows > 0) {
        /* one series per colour, so each legend entry shows the colour of its bars */
        g_string_append(plot, "'timeline-down.dat' using (($1+$2)/2):($4 == 1 ? $3 : NaN):(($2-$1)/2):(0.12) "
                              "with boxxyerror fs solid 0.9 noborder lc rgb '#d62728' title 'down', "
                              "'' using (($1+$2)/2):($4 == 1 ? NaN : $3):(($2-$1)/2):(0.12) "
                              "with boxxyerror fs solid 0.9 noborder lc rgb '#ff7f0e' title 'paused'");
        any = true;
    }
    if (lead_rows > 0) {
        g_string_append_printf(plot, "%s'timeline-leaders.dat' using 1:3:($2-$1):(0) with vectors nohead lw 9 "
                                     "lc rgb '#2ca02c' title 'leading'",
                               any ? ", " : "");
        if (n_leaders <= 40)
            /* above or below the bar, or not at all: place_term_labels() chose */
            g_string_append(plot, ", '' using 1:($3 + $5):($5 == 0 ? '' : sprintf('%d', $4)) "
                                  "with labels left font ',8' notitle");
        any = true;
    }
    g_string_append(s, any ? plot->str : "plot NaN title 'no leader'");
    g_string_append(s, "\n");
    g_string_free(plot, TRUE);
    /* bottom: commit index per node */
    g_string_append_printf(s,
        "set origin 0, 0.02\nset size 1, 0.5\nset tmargin 0.5\nset bmargin 3.5\n"
        "set format x '%%g'\nset xlabel 'simulated time (s)'\nset ylabel 'commit index'\n"
        "set yrange [0:%" G_GINT64_FORMAT "]\nset ytics autofreq\nunset label\nset key outside right top\n",
        max_idx > 0 ? max_idx + max_idx / 20 + 1 : 1);
    bool first = true;
    for (int i = 1; i <= nodes && i < 64; i++) {
        if (commit_rows[i] == 0) continue;
        g_string_append_printf(s, "%s'timeline-commit-n%d.dat' using 1:2 with steps lw %d dt %d title 'n%d'",
                               first ? "plot " : ", ", i, 2, i <= 5 ? i : 1, i);
        first = false;
    }
    g_string_append(s, first ? "plot NaN title 'nothing committed'\n" : "\n");
    g_string_append(s, "unset multiplot\n");
    g_string_free(shade, TRUE);
    g_autofree char *gp = g_build_filename(dir, "timeline.gp", NULL);
    ok = g_file_set_contents(gp, s->str, (gssize)s->len, error);
    g_string_free(s, TRUE);
    if (!ok) return false;
    const char *argv[] = {"gnuplot", "timeline.gp", NULL};
    int status = 0;
    g_autofree char *err = NULL;
    if (!g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
                      &status, error))
        return false;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "gnuplot failed: %s", err ? err : "");
        return false;
    }
    return true;
}
