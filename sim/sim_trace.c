/* sim_trace.c — the trace: hash, --trace lines and the SQLite database (see sim_trace.h).
 *
 * Every event becomes one line "time_ns node kind detail". The line feeds a SHA-256 (the
 * trace hash printed at the end of a run), is printed when --trace is on, and becomes a row
 * of the events table. All rows go into one transaction with journaling off: the database is
 * a report written once, not a store that must survive a crash, so we skip what makes
 * SQLite durable and keep what makes it queryable.
 */
#include "sim_trace.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

struct SimTrace {
    GChecksum *hash;
    uint64_t events;
    bool print;
    sqlite3 *db;
    sqlite3_stmt *ins_event, *ins_metric, *ins_op, *ins_fault, *ins_meta;
    GString *line;
};

static const char *schema =
    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
    "PRAGMA page_size=65536; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, time_ns INTEGER, node TEXT, kind TEXT, detail TEXT);"
    "CREATE TABLE ops(id INTEGER PRIMARY KEY, client TEXT, kind TEXT, invoke_ns INTEGER,"
    "                 complete_ns INTEGER, result TEXT, detail TEXT);"
    "CREATE TABLE metrics(time_ns INTEGER, name TEXT, value REAL);"
    "CREATE TABLE faults(start_ns INTEGER, end_ns INTEGER, node TEXT, kind TEXT, detail TEXT);"
    "CREATE TABLE run(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE VIEW events_ms AS SELECT seq, time_ns / 1e6 AS ms, node, kind, detail FROM events;"
    /* Raft runs: "who led term 7?" is  SELECT node FROM leaders WHERE term = 7  */
    "CREATE VIEW leaders AS SELECT seq, time_ns, node, CAST(substr(detail, 6) AS INTEGER) AS term"
    "  FROM events WHERE kind = 'leader';"
    "CREATE VIEW commits AS SELECT seq, time_ns, node, CAST(substr(detail, 7) AS INTEGER) AS idx"
    "  FROM events WHERE kind = 'commit';"
    "BEGIN;";

static bool db_fail(SimTrace *t, GError **error, const char *what) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "trace database: %s: %s", what,
                t->db ? sqlite3_errmsg(t->db) : "no database");
    return false;
}

SimTrace *sim_trace_new(const char *db_path, bool print, GError **error) {
    SimTrace *t = g_new0(SimTrace, 1);
    t->hash = g_checksum_new(G_CHECKSUM_SHA256);
    t->print = print;
    t->line = g_string_sized_new(256);
    if (db_path) {
        remove(db_path);
        if (sqlite3_open(db_path, &t->db) != SQLITE_OK ||
            sqlite3_exec(t->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(t->db, "INSERT INTO events VALUES(NULL,?,?,?,?)", -1, &t->ins_event, NULL) ||
            sqlite3_prepare_v2(t->db, "INSERT INTO metrics VALUES(?,?,?)", -1, &t->ins_metric, NULL) ||
            sqlite3_prepare_v2(t->db, "INSERT INTO ops VALUES(NULL,?,?,?,?,?,?)", -1, &t->ins_op, NULL) ||
            sqlite3_prepare_v2(t->db, "INSERT INTO faults VALUES(?,?,?,?,?)", -1, &t->ins_fault, NULL) ||
            sqlite3_prepare_v2(t->db, "INSERT OR REPLACE INTO run VALUES(?,?)", -1, &t->ins_meta, NULL)) {
            db_fail(t, error, db_path);
            sim_trace_free(t);
            return NULL;
        }
    }
    return t;
}

static void emit(SimTrace *t, int64_t time_ns, const char *node, const char *kind, size_t detail_at);

static void line_head(SimTrace *t, int64_t time_ns, const char *node, const char *kind);

void sim_trace_event_raw(SimTrace *t, int64_t time_ns, const char *node, const char *kind, const char *detail,
                         size_t len) {
    line_head(t, time_ns, node, kind);
    size_t detail_at = t->line->len;
    g_string_append_len(t->line, detail, (gssize)len);
    emit(t, time_ns, node, kind, detail_at);
}

void sim_trace_event(SimTrace *t, int64_t time_ns, const char *node, const char *kind,
                     const char *fmt, ...) {
    va_list ap;
    line_head(t, time_ns, node, kind);
    size_t detail_at = t->line->len;
    va_start(ap, fmt);
    g_string_append_vprintf(t->line, fmt, ap);
    va_end(ap);
    emit(t, time_ns, node, kind, detail_at);
}

static void line_head(SimTrace *t, int64_t time_ns, const char *node, const char *kind) {
    GString *l = t->line;
    /* the fixed part by hand: this runs for every event, and printf is most of its cost */
    char num[24];
    int k = sizeof num;
    uint64_t v = (uint64_t)time_ns;
    do num[--k] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    g_string_truncate(l, 0);
    g_string_append_len(l, num + k, (gssize)(sizeof num - (size_t)k));
    g_string_append_c(l, ' ');
    g_string_append(l, node);
    g_string_append_c(l, ' ');
    g_string_append(l, kind);
    g_string_append_c(l, ' ');
}

/* Hash, print and store the line built in t->line (its detail starts at detail_at). */
static void emit(SimTrace *t, int64_t time_ns, const char *node, const char *kind, size_t detail_at) {
    GString *l = t->line;
    g_string_append_c(l, '\n');
    g_checksum_update(t->hash, (const guchar *)l->str, (gssize)l->len);
    t->events++;
    if (t->print)
        printf("%12.6f  %-4s %-8s %.*s\n", (double)time_ns / 1e9, node, kind,
               (int)(l->len - detail_at - 1), l->str + detail_at);
    if (t->db) {
        sqlite3_bind_int64(t->ins_event, 1, time_ns);
        sqlite3_bind_text(t->ins_event, 2, node, -1, SQLITE_STATIC);
        sqlite3_bind_text(t->ins_event, 3, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(t->ins_event, 4, l->str + detail_at, (int)(l->len - detail_at - 1), SQLITE_STATIC);
        sqlite3_step(t->ins_event);
        sqlite3_reset(t->ins_event);
    }
}

void sim_trace_metric(SimTrace *t, int64_t time_ns, const char *name, double value) {
    if (!t->db) return;
    sqlite3_bind_int64(t->ins_metric, 1, time_ns);
    sqlite3_bind_text(t->ins_metric, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_double(t->ins_metric, 3, value);
    sqlite3_step(t->ins_metric);
    sqlite3_reset(t->ins_metric);
}

void sim_trace_op(SimTrace *t, const char *client, const char *kind, int64_t invoke_ns,
                  int64_t complete_ns, const char *result, const char *detail) {
    if (!t->db) return;
    sqlite3_stmt *s = t->ins_op;
    sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, invoke_ns);
    if (complete_ns >= 0) sqlite3_bind_int64(s, 4, complete_ns);
    else sqlite3_bind_null(s, 4);
    sqlite3_bind_text(s, 5, result, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, detail, -1, SQLITE_STATIC);
    sqlite3_step(s);
    sqlite3_reset(s);
}

void sim_trace_fault(SimTrace *t, int64_t start_ns, int64_t end_ns, const char *node,
                     const char *kind, const char *detail) {
    if (!t->db) return;
    sqlite3_stmt *s = t->ins_fault;
    sqlite3_bind_int64(s, 1, start_ns);
    sqlite3_bind_int64(s, 2, end_ns);
    sqlite3_bind_text(s, 3, node, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, detail, -1, SQLITE_STATIC);
    sqlite3_step(s);
    sqlite3_reset(s);
}

void sim_trace_meta(SimTrace *t, const char *key, const char *value) {
    if (!t->db) return;
    sqlite3_bind_text(t->ins_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(t->ins_meta, 2, value, -1, SQLITE_STATIC);
    sqlite3_step(t->ins_meta);
    sqlite3_reset(t->ins_meta);
}

char *sim_trace_hash_hex(SimTrace *t) {
    GChecksum *copy = g_checksum_copy(t->hash);
    char *hex = g_strdup(g_checksum_get_string(copy));
    g_checksum_free(copy);
    return hex;
}

uint64_t sim_trace_events(const SimTrace *t) { return t->events; }

bool sim_trace_finish(SimTrace *t, GError **error) {
    if (!t->db) return true;
    if (sqlite3_exec(t->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(t, error, "commit");
    return true;
}

void sim_trace_free(SimTrace *t) {
    if (!t) return;
    sqlite3_finalize(t->ins_event);
    sqlite3_finalize(t->ins_metric);
    sqlite3_finalize(t->ins_op);
    sqlite3_finalize(t->ins_fault);
    sqlite3_finalize(t->ins_meta);
    if (t->db) sqlite3_close(t->db);
    g_checksum_free(t->hash);
    g_string_free(t->line, TRUE);
    g_free(t);
}

void sim_trace_print_legend(FILE *out) {
    fprintf(out,
            "# legend: time(s)  node  kind  detail\n"
            "#   node   n1..nN a broker node; cli the client side (the client's name is in the detail);\n"
            "#          sim the simulator itself\n"
            "#   kinds  connect accept refuse  a client dials, the node accepts / nobody listens\n"
            "#          send recv            bytes queued on / delivered from a connection (cN = its id)\n"
            "#          close reset          an orderly close / a connection torn down by a fault\n"
            "#          ready err            a client's handshake completed / it got -ERR\n"
            "#          timer                a node timer fired\n"
            "#          pub msg req reply ack  workload operations, deliveries, answers, PubAcks\n"
            "#          fault crash restart  injected faults and process lifecycle\n"
            "#          disk                 fsync, crash effects on the simulated disk, bit flips\n"
            "#          log                  a line the broker logged through env_log\n"
            "#          peer                 a message on a node-to-node link\n"
            "#          leader stepdown      a Raft node won a term / stopped leading ([raft] runs)\n"
            "#          commit propose raft  a node applied up to an index; a client proposal; recovery\n"
            "#          start end check      the run's first and last events, checker verdicts\n");
}
