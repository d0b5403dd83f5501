/* jsonutil.h — small helpers for the JetStream API's JSON and time formats.
 *
 * WHAT IT IS
 *   The JetStream API speaks JSON decoded the way Go decodes it: a field with the wrong type
 *   is an error ("invalid JSON", err_code 10025), an unknown field is ignored, `null` is the
 *   same as absent. json-glib parses and generates; these helpers add the Go typing rules
 *   and nats-server's time format on top.
 *
 * INTERFACE
 *   jsonu_parse_object(data, len, &parser)   the request body as an object, or NULL
 *   jsonu_load(parser, data, len)             json_parser_load_from_data, after bounding the
 *                                             nesting depth (LIMIT_JSON_DEPTH_COUNT), int64
 *                                             overflow and NUL escapes first: every
 *                                             JSON from a client or a file goes through here
 *   jsonu_get_int / _bool / _string           typed optional members (Go rules, see below)
 *   jsonu_to_string(node)                     compact JSON text (g_free it)
 *   jsonu_builder_to_string(builder)          the same for a finished JsonBuilder
 *   jsonu_append_quoted(gstring, s)           s as a JSON string, json-glib's escaping
 *   jsonu_puback(stream, domain, seq, dup)    a PubAck body, formatted without json-glib
 *                                             (domain NULL: none)
 *   jsonu_time_format(wall_ns)                RFC 3339 UTC, up to 9 fractional digits,
 *                                             trailing zeros trimmed; 0 = 0001-01-01T00:00:00Z
 *   jsonu_duration_format(ns)                 Go's time.Duration.String(): "0s", "750ns",
 *                                             "456µs", "1.234567ms", "2.5s", "1h0m3s"
 *
 * TYPE RULES (what Go's encoding/json does for the fields we read)
 *   - integers must be JSON integers (1.5 or "1" are errors), booleans must be true/false,
 *     strings must be strings; a member holding null counts as absent.
 *   - each getter returns FALSE on a type error and leaves *out untouched when the member is
 *     absent (so callers preload defaults).
 */
#ifndef MINIJET_JSONUTIL_H
#define MINIJET_JSONUTIL_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Parse data as a JSON object. Returns the object (owned by *parser, which the caller
 * unrefs) or NULL when data is empty, not JSON, or not an object. */
JsonObject *jsonu_parse_object(const void *data, size_t len, JsonParser **parser);
/* May json-glib parse data? FALSE when it nests deeper than LIMIT_JSON_DEPTH_COUNT, holds an
 * integer outside int64, or a "\u0000" in a string (see jsonutil.c for why). */
bool jsonu_text_ok(const void *data, size_t len);
/* Load data into parser unless jsonu_text_ok refuses it; FALSE = not loaded. */
bool jsonu_load(JsonParser *parser, const void *data, size_t len);

bool jsonu_get_int(JsonObject *o, const char *name, int64_t *out);
bool jsonu_get_bool(JsonObject *o, const char *name, bool *out);
/* *out points into the object (valid while the parser lives). */
bool jsonu_get_string(JsonObject *o, const char *name, const char **out);
/* Is the member present and not null? */
bool jsonu_has(JsonObject *o, const char *name);

char *jsonu_to_string(JsonNode *node);
/* Append s as a JSON string (quotes included), escaped exactly as json-glib escapes it. */
void jsonu_append_quoted(GString *out, const char *s);
/* A PubAck as nats-server 2.9.10 writes it: {"stream":"S", "seq":N} (and ,"duplicate": true). */
char *jsonu_puback(const char *stream, const char *domain, uint64_t seq, bool duplicate);
char *jsonu_builder_to_string(JsonBuilder *b);

/* Builder shorthands: set member `name` to a value. */
void jsonu_add_int(JsonBuilder *b, const char *name, int64_t v);
void jsonu_add_bool(JsonBuilder *b, const char *name, bool v);
void jsonu_add_string(JsonBuilder *b, const char *name, const char *v);

/* RFC 3339 as nats-server (Go's time.RFC3339Nano in UTC) writes it. g_free the result. */
char *jsonu_time_format(int64_t wall_ns);
/* Go's time.Duration.String() (the monitor's "rtt"); g_free it. */
char *jsonu_duration_format(int64_t ns);
/* Format into a caller buffer of at least JSONU_TIME_MAX bytes. */
#define JSONU_TIME_MAX 40
void jsonu_time_format_buf(int64_t wall_ns, char *buf);

#endif
