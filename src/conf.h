/* conf.h — the nats-server configuration file format (the subset minijet reads).
 *
 * WHAT IT IS
 *   A pure parser: text in, settings out. It never opens a file (main.c reads the file and
 *   passes its contents and name), so it is tested with strings and lives in the core.
 *
 * THE FORMAT (as nats-server reads it; what we accept)
 *   # comment            // comment
 *   key: value           key = value           key value        (all three mean the same)
 *   block { key: value ... }     also  block: { ... }  and  block = { ... }
 *   list: [ a, b, c ]            commas or newlines between items
 *   values: "quoted" or 'quoted' strings, bare words (127.0.0.1:4222, nats://h:6222),
 *           integers with size suffixes (1K = 1000, 1KB = 1KiB = 1024, likewise M, G, T),
 *           booleans (true/false, yes/no, on/off, enabled/disabled).
 *   Keys are case-insensitive, later keys override earlier ones.
 *
 * INTERFACE
 *   conf_settings_init(s)                      everything "not set" (-1 / NULL / FALSE)
 *   conf_parse(s, text, filename, &warnings, error)
 *       fills s from text. FALSE + error on a syntax error, a wrong value type or an
 *       invalid value: the message is one line "FILE:LINE: problem". Unknown keys are not
 *       errors (nats-server only warns too): each adds "FILE:LINE: unknown field KEY" to
 *       *warnings (a GPtrArray of strings the caller frees; may be NULL to ignore).
 *   conf_settings_clear(s)                     frees the strings
 *   conf_parse_size("64MB", &bytes)            one value with its suffix (also for flags)
 *
 * INVARIANTS
 *   - Integers never overflow silently: a value past int64 is an error.
 *   - A settings field is either "not set" or holds the last value the file gave it.
 */
#ifndef MINIJET_CONF_H
#define MINIJET_CONF_H

#include <glib.h>
#include <stdint.h>

typedef struct ConfSettings {
    char *host;              /* host / net / listen's host part */
    int port;                /* port / listen's port part; -1 = not set */
    char *server_name;
    int jetstream;           /* -1 not set, 0 disabled, 1 enabled */
    char *store_dir;         /* jetstream { store_dir } or top-level store_dir */
    char *js_domain;         /* jetstream { domain } (kept, not used yet) */
    int64_t js_max_mem_bytes;  /* max_mem / max_memory_store; -1 = not set */
    int64_t js_max_file_bytes; /* max_file / max_file_store; -1 = not set */
    int64_t js_sync_interval_ns; /* jetstream { sync_interval: always | never | 2m };
                                  * 0 = always (fsync before ack), -1 = never,
                                  * CONF_NOT_SET when absent */
    int64_t max_payload_bytes; /* -1 = not set */
    int64_t max_pending_bytes; /* -1 = not set */
    int64_t max_control_line_bytes; /* -1 = not set */
    int max_connections;     /* -1 = not set */
    int max_subs;            /* max_subscriptions per connection; -1 = not set */
    int64_t ping_interval_ns; /* -1 = not set; "2m", "30s" or seconds */
    int ping_max;            /* -1 = not set */
    char *http_host;         /* http: "host:port" */
    int http_port;           /* http_port / monitor_port / http; -1 = not set */
    gboolean debug;          /* debug: true */
    gboolean cluster_set;    /* a cluster {} block was present */
    char *cluster_name;
    char *cluster_host;
    int cluster_port;        /* -1 = not set */
    char **cluster_routes;   /* NULL-terminated; NULL = none */
} ConfSettings;

#define CONF_NOT_SET G_MININT64

void conf_settings_init(ConfSettings *s);
/* "always" -> 0, "never" -> -1, a duration ("2m", "500ms", "10s") -> ns; FALSE if invalid. */
gboolean conf_parse_sync_interval(const char *text, int64_t *out_ns);
void conf_settings_clear(ConfSettings *s);
gboolean conf_parse(ConfSettings *s, const char *text, const char *filename, GPtrArray **warnings,
                    GError **error);
gboolean conf_parse_size(const char *text, int64_t *out);

#define CONF_ERROR (conf_error_quark())
GQuark conf_error_quark(void);
enum { CONF_ERROR_SYNTAX, CONF_ERROR_VALUE };

#endif
