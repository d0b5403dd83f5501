/* jsonutil.c — Go-style typed JSON access over json-glib, and nats-server's time format.
 * See jsonutil.h for the interface and the typing rules.
 */
#include "jsonutil.h"

#include <string.h>

#include "limits.h"

/* WHAT WE CHECK BEFORE json-glib SEES THE TEXT
 *   Three things json-glib gets wrong for us, found in one pass over the bytes:
 *   - depth: json-glib parses recursively, each '[' or '{' costing a few hundred bytes of C
 *     stack, so `[` x 100000 (200 KB, under max_payload) overflowed an 8 MiB stack and
 *     killed the broker. We count brackets outside strings (a string ends at an unescaped
 *     '"'); the pass keeps no stack of its own, so it does not check that '[' closes with
 *     ']' -- the parser does that afterwards, on text known to be shallow. The bound is Go's
 *     encoding/json maxNestingDepth (10000), so what nats-server accepts we accept; 10000
 *     levels take about 2 MiB of json-glib's stack.
 *   - integers out of int64's range: json-glib wraps 9223372036854775808 to INT64_MIN and
 *     18446744073709551615 to -1; Go refuses them ("invalid JSON", 10025), and so do we.
 *     (Go would take a value up to 2^64-1 in a uint64 field such as opt_start_seq; json-glib
 *     cannot hold it, so we refuse it there too.)
 *   - "\u0000" in a string: json-glib ends the C string at the NUL, so {"name":"C\u0000x"}
 *     became the name "C". Go keeps the NUL (and then the name does not match, 10056); we
 *     cannot, so the whole text is refused as invalid JSON. */
static bool number_fits(const uint8_t *p, size_t len) {
    char tok[32];
    bool integer = true;
    if (len >= sizeof tok) len = sizeof tok - 1; /* longer than any int64: fails below */
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '.' || p[i] == 'e' || p[i] == 'E') integer = false;
        tok[i] = (char)p[i];
    }
    tok[len] = 0;
    if (!integer) return true; /* a float; the typed getters refuse it where an int is due */
    return g_ascii_string_to_signed(tok, 10, G_MININT64, G_MAXINT64, NULL, NULL);
}

bool jsonu_text_ok(const void *data, size_t len) {
    const uint8_t *p = data;
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = p[i];
        if (in_string) {
            if (ch == '"') {
                in_string = false;
            } else if (ch == '\\') {
                if (i + 5 < len && memcmp(p + i + 1, "u0000", 5) == 0) return false;
                i++; /* the escaped byte cannot end the string */
            }
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > LIMIT_JSON_DEPTH_COUNT) return false;
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            depth--;
        } else if (ch == '-' || g_ascii_isdigit(ch)) {
            size_t start = i;
            while (i + 1 < len && strchr("+-.eE0123456789", p[i + 1]) != NULL && p[i + 1] != 0) i++;
            if (!number_fits(p + start, i + 1 - start)) return false;
        }
    }
    return true;
}

bool jsonu_load(JsonParser *parser, const void *data, size_t len) {
    if (!jsonu_text_ok(data, len)) return false;
    return json_parser_load_from_data(parser, data, (gssize)len, NULL);
}

JsonObject *jsonu_parse_object(const void *data, size_t len, JsonParser **parser) {
    *parser = json_parser_new();
    if (len == 0) return NULL;
    if (!jsonu_load(*parser, data, len)) return NULL;
    JsonNode *root = json_parser_get_root(*parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) return NULL;
    return json_node_get_object(root);
}

/* The member, or NULL when absent or null. */
static JsonNode *member(JsonObject *o, const char *name) {
    JsonNode *n = json_object_get_member(o, name);
    if (n == NULL || JSON_NODE_HOLDS_NULL(n)) return NULL;
    return n;
}

bool jsonu_has(JsonObject *o, const char *name) { return member(o, name) != NULL; }

bool jsonu_get_int(JsonObject *o, const char *name, int64_t *out) {
    JsonNode *n = member(o, name);
    if (n == NULL) return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) return false;
    *out = json_node_get_int(n);
    return true;
}

bool jsonu_get_bool(JsonObject *o, const char *name, bool *out) {
    JsonNode *n = member(o, name);
    if (n == NULL) return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) return false;
    *out = json_node_get_boolean(n);
    return true;
}

bool jsonu_get_string(JsonObject *o, const char *name, const char **out) {
    JsonNode *n = member(o, name);
    if (n == NULL) return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return false;
    *out = json_node_get_string(n);
    return true;
}

char *jsonu_to_string(JsonNode *node) {
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

/* json-glib's escaping, without building a node and a generator: ", \\, \b \f \n \r \t,
 * other bytes below 0x20 and DEL as \u00XX, everything else (UTF-8 included) as is. One
 * deliberate difference: json-glib 1.6 writes 0x1f raw, which is not valid JSON (RFC 8259
 * section 7); we escape it. A test checks every ASCII byte against json_generator's output. */
void jsonu_append_quoted(GString *out, const char *s) {
    static const char hex[] = "0123456789abcdef";
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\b': g_string_append(out, "\\b"); break;
        case '\f': g_string_append(out, "\\f"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                g_string_append(out, "\\u00");
                g_string_append_c(out, hex[*p >> 4]);
                g_string_append_c(out, hex[*p & 15]);
            } else {
                g_string_append_c(out, (char)*p);
            }
        }
    }
    g_string_append_c(out, '"');
}

/* Formatted directly: with json-glib (a node, a generator, a printf) building PubAcks was
 * ~20% of the server's CPU in jspubasync (appendix B). */
char *jsonu_puback(const char *stream, const char *domain, uint64_t seq, bool duplicate) {
    GString *out = g_string_sized_new(48 + strlen(stream));
    g_string_append(out, "{\"stream\":");
    jsonu_append_quoted(out, stream);
    if (domain != NULL) {
        g_string_append(out, ", \"domain\":");
        jsonu_append_quoted(out, domain);
    }
    g_string_append_printf(out, ", \"seq\":%" G_GUINT64_FORMAT "%s}", seq, duplicate ? ",\"duplicate\": true" : "");
    return g_string_free(out, FALSE);
}

char *jsonu_builder_to_string(JsonBuilder *b) {
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return jsonu_to_string(root);
}

void jsonu_add_int(JsonBuilder *b, const char *name, int64_t v) {
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

void jsonu_add_bool(JsonBuilder *b, const char *name, bool v) {
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, v);
}

void jsonu_add_string(JsonBuilder *b, const char *name, const char *v) {
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v);
}

/* Days since 1970-01-01 -> civil date (Howard Hinnant's algorithm, proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

void jsonu_time_format_buf(int64_t wall_ns, char *buf) {
    if (wall_ns == 0) { /* Go's zero time.Time, which nats-server prints for "never" */
        strcpy(buf, "0001-01-01T00:00:00Z");
        return;
    }
    int64_t secs = wall_ns / 1000000000LL;
    int64_t frac = wall_ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    int n = g_snprintf(buf, JSONU_TIME_MAX, "%04" G_GINT64_FORMAT "-%02u-%02uT%02d:%02d:%02d", y, mo,
                       d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (frac != 0) {
        char digits[16];
        g_snprintf(digits, sizeof digits, "%09" G_GINT64_FORMAT, frac);
        int len = 9;
        while (len > 0 && digits[len - 1] == '0') len--; /* trailing zeros trimmed */
        digits[len] = '\0';
        n += g_snprintf(buf + n, JSONU_TIME_MAX - (size_t)n, ".%s", digits);
    }
    g_snprintf(buf + n, JSONU_TIME_MAX - (size_t)n, "Z");
}

char *jsonu_time_format(int64_t wall_ns) {
    char buf[JSONU_TIME_MAX];
    jsonu_time_format_buf(wall_ns, buf);
    return g_strdup(buf);
}

/* fmtFrac: "." and the digits of frac (prec of them), trailing zeros dropped, nothing if 0. */
static void append_frac(GString *out, uint64_t frac, int prec) {
    char digits[16];
    g_snprintf(digits, sizeof digits, "%0*" G_GUINT64_FORMAT, prec, frac);
    int n = prec;
    while (n > 0 && digits[n - 1] == '0') n--;
    if (n > 0) g_string_append_printf(out, ".%.*s", n, digits);
}

/* Go's rules: under a second, the largest unit of ns, µs, ms with the fraction; from a second
 * on, h, m and s (with the fraction of a second), leading zero units left out. */
char *jsonu_duration_format(int64_t ns) {
    if (ns == 0) return g_strdup("0s");
    GString *out = g_string_new(ns < 0 ? "-" : "");
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (u < 1000) {
        g_string_append_printf(out, "%" G_GUINT64_FORMAT "ns", u);
    } else if (u < 1000000000ULL) {
        bool micro = u < 1000000;
        uint64_t unit = micro ? 1000 : 1000000;
        g_string_append_printf(out, "%" G_GUINT64_FORMAT, u / unit);
        append_frac(out, u % unit, micro ? 3 : 6);
        g_string_append(out, micro ? "\u00b5s" : "ms");
    } else {
        uint64_t secs = u / 1000000000ULL, h = secs / 3600, m = secs / 60 % 60;
        if (h > 0) g_string_append_printf(out, "%" G_GUINT64_FORMAT "h", h);
        if (h > 0 || m > 0) g_string_append_printf(out, "%" G_GUINT64_FORMAT "m", m);
        g_string_append_printf(out, "%" G_GUINT64_FORMAT, secs % 60);
        append_frac(out, u % 1000000000ULL, 9);
        g_string_append(out, "s");
    }
    return g_string_free(out, FALSE);
}
