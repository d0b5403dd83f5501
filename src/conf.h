/* conf.h — minijet-server's settings: the nats-server configuration file format (the subset
 * minijet reads) and the command line, merged one way.
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
 *   conf_settings_init(s)                      every setting "not set" (see below)
 *   conf_parse(s, text, filename, &warnings, error)
 *   conf_parse_env(s, text, filename, getenv_fn, &warnings, error)  the same, with $VARs
 *                                              that no key defines read from getenv_fn
 *       fills s from text. FALSE + error on a syntax error, a wrong value type or an
 *       invalid value: the message is one line "FILE:LINE: problem". Unknown keys are not
 *       errors (nats-server only warns too): each adds "FILE:LINE: unknown field KEY" to
 *       *warnings (a GPtrArray of strings the caller frees; may be NULL to ignore).
 *       Security is the exception: an unknown key inside authorization {} is an error (as in
 *       nats-server), and a security block minijet does not implement (tls, accounts,
 *       operator, resolver, ...) is an error too: running without it would be running open.
 *   conf_parse_flags(s, argc, argv, error)     the command line into the same settings
 *       (nats-server's flag names; Go's flag syntax: -x or --x, value next or after '=');
 *       returns CONF_FLAGS_RUN, _HELP or _VERSION, or CONF_FLAGS_ERROR + a one-line error
 *   conf_flags_usage()                         the --help text, generated from the flag table
 *                                              (g_free it)
 *   conf_merge(dst, over)                      every setting over has set replaces dst's
 *   conf_settings_clear(s)                     frees the strings
 *   conf_parse_size("64MB", &bytes)            one value with its suffix (also for flags)
 *
 * ONE MERGE, ONE "NOT SET"
 *   The file and the flags fill two ConfSettings; conf_merge(&file, &flags) lays the flags
 *   over the file, and main.c lays the result over the defaults (server_config_init), so
 *   flags override the file, which overrides the defaults. "Not set" has one spelling per
 *   type: a number or switch (every one is int64_t) holds CONF_NOT_SET, a string or list is
 *   NULL. -1 is a value like any other (port -1 means "any port", sync_interval -1 "never").
 *   init, clear and merge walk one table of the fields (conf.c, conf_fields), so a new
 *   setting is a field here plus a row there (a static assertion catches a missing row),
 *   plus a key in apply_*() and, if it has one, a flag row in conf_flags.
 *
 * INVARIANTS
 *   - Integers never overflow silently: a value past int64 is an error.
 *   - A settings field is either "not set" or holds the last value its source gave it.
 */
#ifndef MINIJET_CONF_H
#define MINIJET_CONF_H

#include <glib.h>
#include <stdint.h>

#include "auth.h"

#define CONF_NOT_SET G_MININT64
#define conf_is_set(v) ((v) != CONF_NOT_SET)

typedef struct ConfSettings {
    char *config_file;       /* -c (a flag only: the file cannot name itself) */
    char *host;              /* host / net / listen's host part; -a */
    int64_t port;            /* port / listen's port part; -p; -1 = any port */
    char *server_name;       /* server_name; -n */
    int64_t jetstream;       /* 0 disabled, 1 enabled; -js */
    char *store_dir;         /* jetstream { store_dir } or top-level store_dir; -sd */
    char *js_domain;         /* jetstream { domain }; NULL = none ("" is none) */
    int64_t js_max_mem_bytes;  /* max_mem / max_memory_store */
    int64_t js_max_file_bytes; /* max_file / max_file_store */
    int64_t js_sync_interval_ns; /* jetstream { sync_interval: always | never | 2m }; --sync_interval;
                                  * 0 = always (fsync before ack), -1 = never */
    int64_t max_payload_bytes;
    int64_t max_pending_bytes;
    int64_t max_control_line_bytes;
    int64_t max_connections;
    int64_t max_subs;        /* max_subscriptions per connection */
    int64_t ping_interval_ns; /* "2m", "30s" or seconds */
    int64_t ping_max;
    char *http_host;         /* http: "host:port" */
    int64_t http_port;       /* http_port / monitor_port / http; -m; -1 = any port */
    int64_t debug;           /* debug: true; -D (and -V, -DV: minijet has one debug level) */
    int64_t cluster_block;   /* 1: a cluster {} block was present */
    char *cluster_name;
    char *cluster_host;
    int64_t cluster_port;
    char **cluster_routes;   /* NULL-terminated */
    int64_t cluster_no_advertise; /* cluster { no_advertise }; --no_advertise: no connect_urls */
    char *client_advertise;  /* client_advertise; --client_advertise: "host[:port]" in INFO */
    AuthConfig *auth;        /* authorization {}, no_auth_user; --user --pass --auth */
} ConfSettings;

void conf_settings_init(ConfSettings *s);
void conf_settings_clear(ConfSettings *s);
void conf_merge(ConfSettings *dst, const ConfSettings *over);
/* "always" -> 0, "never" -> -1, a duration ("2m", "500ms", "10s") -> ns; FALSE if invalid. */
gboolean conf_parse_sync_interval(const char *text, int64_t *out_ns);
/* Where a `$NAME` that no earlier key defines is looked up (main.c: the process
 * environment); NULL: nowhere. */
typedef const char *(*ConfEnvLookup)(const char *name);
gboolean conf_parse_env(ConfSettings *s, const char *text, const char *filename, ConfEnvLookup env,
                        GPtrArray **warnings, GError **error);
gboolean conf_parse(ConfSettings *s, const char *text, const char *filename, GPtrArray **warnings,
                    GError **error);
gboolean conf_parse_size(const char *text, int64_t *out);

typedef enum { CONF_FLAGS_ERROR, CONF_FLAGS_RUN, CONF_FLAGS_HELP, CONF_FLAGS_VERSION } ConfFlagsResult;
ConfFlagsResult conf_parse_flags(ConfSettings *s, int argc, char **argv, GError **error);
char *conf_flags_usage(void); /* g_free it */

#define CONF_ERROR (conf_error_quark())
GQuark conf_error_quark(void);
enum { CONF_ERROR_SYNTAX, CONF_ERROR_VALUE, CONF_ERROR_FLAG };

#endif
