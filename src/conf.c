/* conf.c — the nats-server config format: a tiny recursive-descent parser into a tree of
 * values, then one pass that maps the keys minijet knows onto ConfSettings.
 *
 * WHY TWO STEPS
 *   The syntax (blocks, lists, three kinds of separator, comments, suffixes) and the meaning
 *   (which key goes where, what type it must be) are separate questions with separate error
 *   messages. The tree also remembers every value's line, so a type error names the line.
 *
 * GRAMMAR (informal)
 *   body   := { entry | ',' | ';' }
 *   entry  := key [ ':' | '=' ] value
 *   value  := '{' body '}' | '[' { value | ',' } ']' | quoted | bareword
 *   A bareword ends at whitespace or one of , ; ] }. Comments (# and //) run to the end of
 *   the line, but only where a key or value could start, so nats://host:6222 is a value.
 *
 * VARIABLES (nats-server's): a bareword value `$name` is replaced by the value of the key
 *   `name` defined earlier in the same block or an enclosing one (innermost first), else by
 *   the environment variable `name` parsed as a value ("4222" is a number), else it is an
 *   error. A key used as a variable is not a setting: no "unknown field" for it. A bare
 *   bcrypt hash ($2a$...) is not a variable.
 *
 * Pure: no OS calls (make tidy checks it); the caller reads the file.
 */
#include "conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "sublist.h"

G_DEFINE_QUARK(minijet-conf-error-quark, conf_error)

typedef enum { VAL_STRING, VAL_INT, VAL_BOOL, VAL_MAP, VAL_LIST } ValType;

typedef struct Val Val;
typedef struct Entry {
    char *key; /* lowercased */
    Val *val;
    gboolean used; /* referenced as $key: a variable, not a setting */
    int line, col; /* where the key starts (1-based), for nats-server's "file:line:col: ..." */
} Entry;

struct Val {
    ValType type;
    int line;
    char *str;      /* VAL_STRING; for a bareword of any type, its raw text */
    gboolean bare;  /* came from a bareword (not quoted) */
    int64_t num;    /* VAL_INT, VAL_BOOL */
    GPtrArray *items; /* VAL_MAP: Entry*; VAL_LIST: Val* */
};

static void val_free(Val *v);
static void entry_free(gpointer p) {
    Entry *e = p;
    g_free(e->key);
    val_free(e->val);
    g_free(e);
}
static void val_free_cb(gpointer p) { val_free(p); }
static void val_free(Val *v) {
    if (v == NULL) return;
    g_free(v->str);
    if (v->items) g_ptr_array_free(v->items, TRUE);
    g_free(v);
}

typedef struct Parser {
    const char *p;
    const char *text; /* the whole input: columns are counted from its line starts */
    const char *file;
    int line;
    GError **error;
} Parser;

static gboolean fail(Parser *ps, int line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail(Parser *ps, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(ps->error, CONF_ERROR, CONF_ERROR_SYNTAX, "%s:%d: %s", ps->file, line, msg);
    return FALSE;
}

/* Skip blanks, newlines, comments and the given separators. */
static void skip(Parser *ps, const char *seps) {
    for (;;) {
        char c = *ps->p;
        if (c == '\n') {
            ps->line++;
            ps->p++;
        } else if (c == ' ' || c == '\t' || c == '\r' || (c && strchr(seps, c))) {
            ps->p++;
        } else if (c == '#' || (c == '/' && ps->p[1] == '/')) {
            while (*ps->p && *ps->p != '\n') ps->p++;
        } else {
            return;
        }
    }
}

static void skip_blanks(Parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r') ps->p++;
}

static gboolean is_bare_end(char c) {
    return c == 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' ||
           c == ']' || c == '}';
}

/* Size suffixes as nats-server reads them: K/M/G/T are powers of 1000, KB/KiB/... of 1024. */
static gboolean apply_suffix(const char *suffix, int64_t *num) {
    static const struct { const char *name; int64_t mult; } table[] = {
        {"", 1},
        {"k", 1000LL}, {"kb", 1LL << 10}, {"ki", 1LL << 10}, {"kib", 1LL << 10},
        {"m", 1000000LL}, {"mb", 1LL << 20}, {"mi", 1LL << 20}, {"mib", 1LL << 20},
        {"g", 1000000000LL}, {"gb", 1LL << 30}, {"gi", 1LL << 30}, {"gib", 1LL << 30},
        {"t", 1000000000000LL}, {"tb", 1LL << 40}, {"ti", 1LL << 40}, {"tib", 1LL << 40},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
        if (g_ascii_strcasecmp(suffix, table[i].name) != 0) continue;
        if (*num > G_MAXINT64 / table[i].mult || *num < G_MININT64 / table[i].mult) return FALSE;
        *num *= table[i].mult;
        return TRUE;
    }
    return FALSE;
}

gboolean conf_parse_size(const char *text, int64_t *out) {
    const char *s = text;
    if (*s == '-') s++;
    if (!g_ascii_isdigit(*s)) return FALSE;
    int64_t num = 0;
    for (; g_ascii_isdigit(*s); s++) {
        if (num > (G_MAXINT64 - (*s - '0')) / 10) return FALSE;
        num = num * 10 + (*s - '0');
    }
    if (!apply_suffix(s, &num)) return FALSE;
    *out = text[0] == '-' ? -num : num;
    return TRUE;
}

static Val *val_new(ValType type, int line) {
    Val *v = g_new0(Val, 1);
    v->type = type;
    v->line = line;
    return v;
}

/* A bareword is a boolean, a number (with suffix) or else a string; its text is kept. */
static Val *classify_bare(char *text, int line) {
    static const char *yes[] = {"true", "yes", "on", "enabled", "enable"};
    static const char *no[] = {"false", "no", "off", "disabled", "disable"};
    Val *v = val_new(VAL_STRING, line);
    v->str = text;
    v->bare = TRUE;
    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(text, yes[i]) == 0) v->type = VAL_BOOL, v->num = 1;
        if (g_ascii_strcasecmp(text, no[i]) == 0) v->type = VAL_BOOL, v->num = 0;
    }
    if (v->type == VAL_STRING && conf_parse_size(text, &v->num)) v->type = VAL_INT;
    return v;
}

static char *parse_quoted(Parser *ps) {
    char q = *ps->p++;
    int line = ps->line;
    GString *s = g_string_new(NULL);
    while (*ps->p && *ps->p != q && *ps->p != '\n') {
        if (q == '"' && *ps->p == '\\' && ps->p[1]) {
            ps->p++;
            char c = *ps->p;
            g_string_append_c(s, c == 'n' ? '\n' : c == 't' ? '\t' : c);
        } else {
            g_string_append_c(s, *ps->p);
        }
        ps->p++;
    }
    if (*ps->p != q) {
        g_string_free(s, TRUE);
        fail(ps, line, "unterminated string");
        return NULL;
    }
    ps->p++;
    return g_string_free(s, FALSE);
}

static Val *parse_value(Parser *ps, int depth);
static gboolean parse_body(Parser *ps, Val *map, char close, int depth);

static Val *parse_list(Parser *ps, int depth) {
    Val *v = val_new(VAL_LIST, ps->line);
    v->items = g_ptr_array_new_with_free_func(val_free_cb);
    ps->p++; /* '[' */
    for (;;) {
        skip(ps, ",");
        if (*ps->p == ']') {
            ps->p++;
            return v;
        }
        if (*ps->p == 0) {
            fail(ps, v->line, "list opened here is never closed with ']'");
            val_free(v);
            return NULL;
        }
        Val *item = parse_value(ps, depth + 1);
        if (item == NULL) {
            val_free(v);
            return NULL;
        }
        g_ptr_array_add(v->items, item);
    }
}

static Val *parse_value(Parser *ps, int depth) {
    if (depth > LIMIT_CONF_DEPTH_COUNT) {
        fail(ps, ps->line, "nesting deeper than %d levels", LIMIT_CONF_DEPTH_COUNT);
        return NULL;
    }
    char c = *ps->p;
    int line = ps->line;
    if (c == '{') {
        Val *v = val_new(VAL_MAP, line);
        v->items = g_ptr_array_new_with_free_func(entry_free);
        ps->p++;
        if (!parse_body(ps, v, '}', depth + 1)) {
            val_free(v);
            return NULL;
        }
        return v;
    }
    if (c == '[') return parse_list(ps, depth);
    if (c == '"' || c == '\'') {
        char *s = parse_quoted(ps);
        if (s == NULL) return NULL;
        Val *v = val_new(VAL_STRING, line);
        v->str = s;
        return v;
    }
    if (is_bare_end(c) || c == '#') {
        fail(ps, line, "expected a value");
        return NULL;
    }
    const char *start = ps->p;
    while (!is_bare_end(*ps->p)) ps->p++;
    return classify_bare(g_strndup(start, (gsize)(ps->p - start)), line);
}

/* Entries until `close` ('}' for a block, 0 for the whole file). */
static gboolean parse_body(Parser *ps, Val *map, char close, int depth) {
    int open_line = ps->line;
    for (;;) {
        skip(ps, ",;");
        char c = *ps->p;
        if (c == close) {
            if (c) ps->p++;
            return TRUE;
        }
        if (c == 0) return fail(ps, open_line, "block opened here is never closed with '}'");
        if (c == '}' || c == ']' || c == '{' || c == '[' || c == ':' || c == '=')
            return fail(ps, ps->line, "unexpected '%c'", c);
        int line = ps->line;
        const char *key_at = ps->p, *bol = key_at;
        while (bol > ps->text && bol[-1] != '\n') bol--;
        char *key;
        if (c == '"' || c == '\'') {
            key = parse_quoted(ps);
            if (key == NULL) return FALSE;
        } else {
            const char *start = ps->p;
            while (!is_bare_end(*ps->p) && *ps->p != ':' && *ps->p != '=' && *ps->p != '{' &&
                   *ps->p != '[')
                ps->p++;
            key = g_strndup(start, (gsize)(ps->p - start));
        }
        skip_blanks(ps);
        if (*ps->p == ':' || *ps->p == '=') ps->p++;
        skip_blanks(ps);
        if (*ps->p == '\n' || *ps->p == 0 || *ps->p == '#' || *ps->p == close) {
            fail(ps, line, "key '%s' has no value", key);
            g_free(key);
            return FALSE;
        }
        Val *v = parse_value(ps, depth);
        if (v == NULL) {
            g_free(key);
            return FALSE;
        }
        Entry *e = g_new0(Entry, 1);
        e->line = line;
        e->col = (int)(key_at - bol) + 1;
        e->key = g_ascii_strdown(key, -1);
        g_free(key);
        e->val = v;
        g_ptr_array_add(map->items, e);
        /* After a value: only blanks, a separator, a comment, a newline or the close. */
        skip_blanks(ps);
        c = *ps->p;
        if (!(c == 0 || c == '\n' || c == ',' || c == ';' || c == '#' || c == close ||
              (c == '/' && ps->p[1] == '/')))
            return fail(ps, ps->line, "unexpected text after the value of '%s'", e->key);
    }
}

/* ------------------------------------------------------------------------------------- */
/* variables                                                                              */

static Val *val_copy(const Val *v) {
    Val *c = val_new(v->type, v->line);
    c->str = g_strdup(v->str);
    c->bare = v->bare;
    c->num = v->num;
    if (v->type == VAL_MAP) {
        c->items = g_ptr_array_new_with_free_func(entry_free);
        for (guint i = 0; i < v->items->len; i++) {
            const Entry *e = v->items->pdata[i];
            Entry *d = g_new0(Entry, 1);
            *d = *e;
            d->key = g_strdup(e->key);
            d->val = val_copy(e->val);
            g_ptr_array_add(c->items, d);
        }
    } else if (v->type == VAL_LIST) {
        c->items = g_ptr_array_new_with_free_func(val_free_cb);
        for (guint i = 0; i < v->items->len; i++) g_ptr_array_add(c->items, val_copy(v->items->pdata[i]));
    }
    return c;
}

/* One open block while resolving: its entries before `upto` are defined. */
typedef struct Scope {
    Val *map;
    guint upto;
} Scope;

typedef struct Resolver {
    GArray *scopes; /* Scope, outermost first */
    ConfEnvLookup env;
    const char *file;
    GError **error;
} Resolver;

static Val *lookup_var(Resolver *r, const char *name, int line) {
    g_autofree char *key = g_ascii_strdown(name, -1);
    for (guint s = r->scopes->len; s-- > 0;) {
        const Scope *sc = &g_array_index(r->scopes, Scope, s);
        for (guint i = sc->upto; i-- > 0;) {
            Entry *e = sc->map->items->pdata[i];
            if (strcmp(e->key, key) != 0) continue;
            e->used = TRUE;
            return val_copy(e->val);
        }
    }
    const char *text = r->env != NULL ? r->env(name) : NULL;
    if (text != NULL) { /* parsed as a value, as nats-server does */
        g_autofree char *line_text = g_strdup_printf("v=%s", text);
        g_autoptr(GError) err = NULL;
        Parser ps = {line_text, line_text, r->file, line, &err};
        Val *root = val_new(VAL_MAP, line);
        root->items = g_ptr_array_new_with_free_func(entry_free);
        Val *v = NULL;
        if (parse_body(&ps, root, 0, 0) && root->items->len == 1) {
            Entry *e = root->items->pdata[0];
            v = g_steal_pointer(&e->val);
            v->line = line;
        }
        val_free(root);
        if (v != NULL) return v;
        g_set_error(r->error, CONF_ERROR, CONF_ERROR_VALUE,
                    "%s:%d: variable reference for '%s' on line %d could not be parsed", r->file, line, name, line);
        return NULL;
    }
    g_set_error(r->error, CONF_ERROR, CONF_ERROR_VALUE,
                "%s:%d: variable reference for '%s' on line %d can not be found", r->file, line, name, line);
    return NULL;
}

/* Replace every `$name` bareword below v (v itself included, through *slot). */
static gboolean resolve(Resolver *r, Val **slot, int depth) {
    Val *v = *slot;
    /* a bare bcrypt hash ($2a$11$...) is a string, not a variable (nats-server: bcryptPrefix) */
    if (v->type == VAL_STRING && v->bare && v->str[0] == '$' && v->str[1] != '\0' &&
        !g_str_has_prefix(v->str, "$2a$")) {
        Val *value = lookup_var(r, v->str + 1, v->line);
        if (value == NULL) return FALSE;
        val_free(v);
        *slot = value;
        return TRUE;
    }
    if (v->type == VAL_LIST) {
        for (guint i = 0; i < v->items->len; i++)
            if (!resolve(r, (Val **)&v->items->pdata[i], depth + 1)) return FALSE;
    } else if (v->type == VAL_MAP) {
        Scope sc = {v, 0};
        g_array_append_val(r->scopes, sc);
        guint at = r->scopes->len - 1;
        for (guint i = 0; i < v->items->len; i++) {
            g_array_index(r->scopes, Scope, at).upto = i; /* earlier keys only */
            Entry *e = v->items->pdata[i];
            if (!resolve(r, &e->val, depth + 1)) return FALSE;
        }
        g_array_set_size(r->scopes, at);
    }
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* meaning: the keys minijet knows                                                        */

typedef struct Ctx {
    const char *file;
    GPtrArray *warnings;
    GError **error;
} Ctx;

static gboolean bad(Ctx *cx, const Val *v, const char *key, const char *want) {
    g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: '%s' must be %s", cx->file,
                v->line, key, want);
    return FALSE;
}

static void unknown(Ctx *cx, const Entry *e, const char *where) {
    if (cx->warnings && !e->used)
        g_ptr_array_add(cx->warnings, g_strdup_printf("%s:%d: unknown field %s%s%s", cx->file,
                                                      e->val->line, where, where[0] ? "." : "",
                                                      e->key));
}

/* nats-server 2.9.10 refuses any key it does not know, with these words (its
 * unknownConfigFieldErr), at the top level and in the cluster block alike. */
static gboolean unknown_field(Ctx *cx, const Entry *e) {
    g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d:%d: unknown field \"%s\"", cx->file, e->line, e->col,
                e->key);
    return FALSE;
}

static gboolean key_in(const char *key, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strcmp(key, list[i]) == 0) return TRUE;
    return FALSE;
}

static gboolean get_str(Ctx *cx, const Entry *e, char **out) {
    if (e->val->type != VAL_STRING && !e->val->bare) return bad(cx, e->val, e->key, "a string");
    g_free(*out);
    *out = g_strdup(e->val->str);
    return TRUE;
}

static gboolean get_int(Ctx *cx, const Entry *e, int64_t min, int64_t max, int64_t *out) {
    int64_t n;
    if (e->val->type == VAL_INT) n = e->val->num;
    else if (e->val->type == VAL_STRING && conf_parse_size(e->val->str, &n)) ; /* "1MB" quoted */
    else return bad(cx, e->val, e->key, "a number");
    if (n < min || n > max) {
        g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE,
                    "%s:%d: '%s' is %" G_GINT64_FORMAT ", outside %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                    cx->file, e->val->line, e->key, n, min, max);
        return FALSE;
    }
    *out = n;
    return TRUE;
}

/* "host:port", ":port", "port" or a bare number; the host may be [v6]. */
static gboolean get_hostport(Ctx *cx, const Entry *e, char **host, int64_t *port) {
    if (e->val->type == VAL_INT) return get_int(cx, e, -1, 65535, port);
    if (e->val->type != VAL_STRING) return bad(cx, e->val, e->key, "host:port");
    const char *s = e->val->str, *colon = strrchr(s, ':');
    int64_t p;
    if (colon == NULL || !conf_parse_size(colon + 1, &p) || p < -1 || p > 65535)
        return bad(cx, e->val, e->key, "host:port");
    if (colon > s) {
        g_free(*host);
        if (s[0] == '[' && colon[-1] == ']') *host = g_strndup(s + 1, (gsize)(colon - s - 2));
        else *host = g_strndup(s, (gsize)(colon - s));
    }
    *port = p;
    return TRUE;
}

/* Durations: "2m", "30s", "1h", "500ms", or a plain number of seconds. */
static gboolean get_duration(Ctx *cx, const Entry *e, int64_t *out_ns) {
    const Val *v = e->val;
    const char *s = v->str;
    /* A bare 2m was read as the number 2,000,000 (M = mega); its text says minutes. */
    gboolean unit_in_text = v->bare && s && g_ascii_isalpha(s[strlen(s) - 1]);
    if (v->type == VAL_INT && !unit_in_text) {
        if (v->num < 0 || v->num > G_MAXINT64 / 1000000000LL) return bad(cx, v, e->key, "a duration");
        *out_ns = v->num * 1000000000LL;
        return TRUE;
    }
    if (s == NULL) return bad(cx, v, e->key, "a duration like \"2m\"");
    char *end = NULL;
    double n = g_ascii_strtod(s, &end);
    double mult = 0;
    if (end == s || n < 0) mult = 0;
    else if (*end == 0 || strcmp(end, "s") == 0) mult = 1e9;
    else if (strcmp(end, "ms") == 0) mult = 1e6;
    else if (strcmp(end, "m") == 0) mult = 60e9;
    else if (strcmp(end, "h") == 0) mult = 3600e9;
    if (mult == 0 || n * mult > 9e18) return bad(cx, v, e->key, "a duration like \"2m\"");
    *out_ns = (int64_t)(n * mult);
    return TRUE;
}

gboolean conf_parse_sync_interval(const char *text, int64_t *out_ns) {
    if (g_ascii_strcasecmp(text, "always") == 0) {
        *out_ns = 0;
        return TRUE;
    }
    if (g_ascii_strcasecmp(text, "never") == 0) {
        *out_ns = -1;
        return TRUE;
    }
    char *end = NULL;
    double n = g_ascii_strtod(text, &end);
    double mult = 0;
    if (end == text || n <= 0) return FALSE;
    if (strcmp(end, "s") == 0) mult = 1e9;
    else if (strcmp(end, "ms") == 0) mult = 1e6;
    else if (strcmp(end, "m") == 0) mult = 60e9;
    else if (strcmp(end, "h") == 0) mult = 3600e9;
    if (mult == 0 || n * mult > 9e18) return FALSE;
    *out_ns = (int64_t)(n * mult);
    return TRUE;
}

/* The jetstream keys nats-server 2.9.10 accepts (parseJetStream): the ones minijet does not
 * use are warnings ("kept but ignored"); any other key is a fatal unknown field. */
static const char *const js_known[] = {"enabled", "enable", "disabled", "disable", "store", "store_dir",
                                       "storedir", "max_memory_store", "max_mem_store", "max_mem",
                                       "max_file_store", "max_file", "domain", "key", "ek",
                                       "encryption_key", "cipher", "extension_hint", "limits",
                                       "unique_tag", "max_outstanding_catchup", NULL};

/* nats-server 2.9.10's words; an empty domain is no domain. */
static gboolean get_domain(Ctx *cx, const Entry *e, char **out) {
    if (!get_str(cx, e, out)) return FALSE;
    const char *d = *out;
    if (d[0] == '\0') {
        g_clear_pointer(out, g_free);
    } else if (strpbrk(d, ".*>") != NULL) {
        g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: invalid domain name: may not contain ., * or >",
                    cx->file, e->val->line);
        return FALSE;
    } else if (strpbrk(d, " \t\r\n\f\v") != NULL) { /* the derived subject would not parse */
        g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE,
                    "%s:%d: invalid domain name: derived \"$JS.%s.API.>\" is not a valid subject", cx->file,
                    e->val->line, d);
        return FALSE;
    }
    return TRUE;
}

static gboolean apply_jetstream(Ctx *cx, ConfSettings *s, const Entry *top) {
    const Val *v = top->val;
    if (v->type == VAL_BOOL) {
        s->jetstream = v->num;
        return TRUE;
    }
    if (v->type != VAL_MAP) return bad(cx, v, "jetstream", "enabled, disabled or a block");
    s->jetstream = 1;
    for (guint i = 0; i < v->items->len; i++) {
        const Entry *e = v->items->pdata[i];
        gboolean ok = TRUE;
        if (!strcmp(e->key, "store_dir") || !strcmp(e->key, "store")) ok = get_str(cx, e, &s->store_dir);
        else if (!strcmp(e->key, "domain")) ok = get_domain(cx, e, &s->js_domain);
        else if (!strcmp(e->key, "max_mem") || !strcmp(e->key, "max_memory_store") || !strcmp(e->key, "max_mem_store"))
            ok = get_int(cx, e, -1, G_MAXINT64, &s->js_max_mem_bytes);
        else if (!strcmp(e->key, "max_file") || !strcmp(e->key, "max_file_store"))
            ok = get_int(cx, e, -1, G_MAXINT64, &s->js_max_file_bytes);
        else if (!strcmp(e->key, "sync_interval") || !strcmp(e->key, "sync")) {
            if (e->val->str != NULL && conf_parse_sync_interval(e->val->str, &s->js_sync_interval_ns))
                ok = TRUE;
            else
                ok = get_duration(cx, e, &s->js_sync_interval_ns);
        } else if (!strcmp(e->key, "enabled")) {
            if (e->val->type != VAL_BOOL) return bad(cx, e->val, e->key, "true or false");
            s->jetstream = e->val->num;
        } else if (e->used) {
            /* a variable (conf.c VARIABLES), not a setting */
        } else if (!key_in(e->key, js_known)) {
            /* e.g. the seed's replica_count (spec nats-cluster.md 1) */
            return unknown_field(cx, e);
        } else unknown(cx, e, "jetstream");
        if (!ok) return FALSE;
    }
    return TRUE;
}

static gboolean unsupported(Ctx *cx, const Entry *e, const char *where, const char *what);

static gboolean apply_cluster(Ctx *cx, ConfSettings *s, const Entry *top) {
    const Val *v = top->val;
    if (v->type != VAL_MAP) return bad(cx, v, "cluster", "a block");
    s->cluster_block = 1;
    for (guint i = 0; i < v->items->len; i++) {
        const Entry *e = v->items->pdata[i];
        gboolean ok = TRUE;
        if (!strcmp(e->key, "name")) ok = get_str(cx, e, &s->cluster_name);
        else if (!strcmp(e->key, "listen")) ok = get_hostport(cx, e, &s->cluster_host, &s->cluster_port);
        else if (!strcmp(e->key, "host") || !strcmp(e->key, "net")) ok = get_str(cx, e, &s->cluster_host);
        else if (!strcmp(e->key, "no_advertise")) {
            if (e->val->type != VAL_BOOL) return bad(cx, e->val, e->key, "true or false");
            s->cluster_no_advertise = e->val->num;
        } else if (!strcmp(e->key, "authorization") || !strcmp(e->key, "permissions") || !strcmp(e->key, "tls"))
            /* route security: ignoring it would open the cluster, so refuse to start */
            ok = unsupported(cx, e, "cluster", strcmp(e->key, "tls") ? "route authorization" : "TLS");
        else if (!strcmp(e->key, "port")) ok = get_int(cx, e, -1, 65535, &s->cluster_port);
        else if (!strcmp(e->key, "routes")) {
            if (e->val->type != VAL_LIST) return bad(cx, e->val, e->key, "a list of URLs");
            GPtrArray *urls = g_ptr_array_new();
            for (guint j = 0; j < e->val->items->len; j++) {
                const Val *u = e->val->items->pdata[j];
                if (u->type != VAL_STRING) {
                    g_ptr_array_free(urls, TRUE);
                    return bad(cx, u, "routes", "a list of URLs");
                }
                g_ptr_array_add(urls, g_strdup(u->str));
            }
            g_ptr_array_add(urls, NULL);
            g_strfreev(s->cluster_routes);
            s->cluster_routes = (char **)g_ptr_array_free(urls, FALSE);
        } else if (key_in(e->key, (const char *const[]){"cluster_advertise", "advertise", "connect_retries", NULL}))
            unknown(cx, e, "cluster"); /* nats-server's, not used by minijet: a warning */
        else if (!e->used)
            return unknown_field(cx, e);
        if (!ok) return FALSE;
    }
    return TRUE;
}

/* --- security: authorization {} (auth.h), and the blocks minijet refuses ---------------- */

static gboolean get_string_strict(Ctx *cx, const Entry *e, char **out) {
    if (e->val->type == VAL_MAP || e->val->type == VAL_LIST) return bad(cx, e->val, e->key, "a string");
    return get_str(cx, e, out);
}

/* A permission subject: valid for SUB, or "subject queue" (nats-server's checkPermSubjectArray). */
static gboolean perm_subject_ok(const char *s) {
    g_auto(GStrv) parts = g_strsplit_set(s, " \t", -1);
    int n = 0;
    const char *subj = NULL;
    for (int i = 0; parts[i]; i++)
        if (parts[i][0]) {
            if (n == 0) subj = parts[i];
            n++;
        }
    return n >= 1 && n <= 2 && subject_valid_subscribe(subj, strlen(subj));
}

/* "subject" or [ "a", "b" ] into a list of subjects. */
static gboolean get_subjects(Ctx *cx, const Val *v, const char *key, GPtrArray **out) {
    GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
    if (v->type == VAL_LIST) {
        for (guint i = 0; i < v->items->len; i++) {
            const Val *item = v->items->pdata[i];
            if (item->str == NULL || item->type == VAL_MAP || item->type == VAL_LIST) {
                g_ptr_array_free(list, TRUE);
                return bad(cx, item, key, "a subject or a list of subjects");
            }
            g_ptr_array_add(list, g_strdup(item->str));
        }
    } else if (v->str != NULL) {
        g_ptr_array_add(list, g_strdup(v->str));
    } else {
        g_ptr_array_free(list, TRUE);
        return bad(cx, v, key, "a subject or a list of subjects");
    }
    for (guint i = 0; i < list->len; i++) {
        if (!perm_subject_ok(list->pdata[i])) {
            g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: subject \"%s\" is not a valid subject",
                        cx->file, v->line, (const char *)list->pdata[i]);
            g_ptr_array_free(list, TRUE);
            return FALSE;
        }
    }
    if (*out) g_ptr_array_unref(*out);
    *out = list;
    return TRUE;
}

/* publish: "subj" | [subjs] | { allow: ..., deny: ... } */
static gboolean get_subject_perm(Ctx *cx, const Entry *e, AuthSubjectPerm *sp) {
    const Val *v = e->val;
    if (v->type != VAL_MAP) return get_subjects(cx, v, e->key, &sp->allow);
    for (guint i = 0; i < v->items->len; i++) {
        const Entry *x = v->items->pdata[i];
        gboolean ok;
        if (!strcmp(x->key, "allow")) ok = get_subjects(cx, x->val, x->key, &sp->allow);
        else if (!strcmp(x->key, "deny")) ok = get_subjects(cx, x->val, x->key, &sp->deny);
        else {
            g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE,
                        "%s:%d: Unknown field name \"%s\" parsing subject permissions, only 'allow' or 'deny' are permitted",
                        cx->file, x->val->line, x->key);
            return FALSE;
        }
        if (!ok) return FALSE;
    }
    return TRUE;
}

static gboolean get_allow_responses(Ctx *cx, const Entry *e, AuthPermissions *p) {
    const Val *v = e->val;
    if (v->type == VAL_BOOL) {
        p->responses = v->num != 0;
        return TRUE;
    }
    if (v->type != VAL_MAP) return bad(cx, v, e->key, "true, false or { max, expires }");
    p->responses = true;
    for (guint i = 0; i < v->items->len; i++) {
        const Entry *x = v->items->pdata[i];
        gboolean ok;
        if (!strcmp(x->key, "max") || !strcmp(x->key, "max_msgs") || !strcmp(x->key, "max_messages") ||
            !strcmp(x->key, "max_responses"))
            ok = get_int(cx, x, -1, G_MAXINT32, &p->responses_max);
        else if (!strcmp(x->key, "expires") || !strcmp(x->key, "expiration") || !strcmp(x->key, "ttl"))
            ok = get_duration(cx, x, &p->responses_expires_ns);
        else {
            g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: Unknown field \"%s\" parsing permissions",
                        cx->file, x->val->line, x->key);
            return FALSE;
        }
        if (!ok) return FALSE;
    }
    return TRUE;
}

static gboolean get_permissions(Ctx *cx, const Entry *e, AuthPermissions **out) {
    const Val *v = e->val;
    if (v->type != VAL_MAP) return bad(cx, v, e->key, "a block { publish, subscribe, allow_responses }");
    AuthPermissions *p = auth_permissions_new();
    for (guint i = 0; i < v->items->len; i++) {
        const Entry *x = v->items->pdata[i];
        gboolean ok;
        const char *k = x->key;
        if (!strcmp(k, "pub") || !strcmp(k, "publish") || !strcmp(k, "import")) ok = get_subject_perm(cx, x, &p->publish);
        else if (!strcmp(k, "sub") || !strcmp(k, "subscribe") || !strcmp(k, "export"))
            ok = get_subject_perm(cx, x, &p->subscribe);
        else if (!strcmp(k, "allow_responses") || !strcmp(k, "publish_allow_responses"))
            ok = get_allow_responses(cx, x, p);
        else {
            g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: Unknown field \"%s\" parsing permissions",
                        cx->file, x->val->line, k);
            ok = FALSE;
        }
        if (!ok) {
            auth_permissions_free(p);
            return FALSE;
        }
    }
    auth_permissions_normalize(p);
    auth_permissions_free(*out);
    *out = p;
    return TRUE;
}

static gboolean unsupported(Ctx *cx, const Entry *e, const char *where, const char *what) {
    g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE,
                "%s:%d: %s%s%s: %s is not supported by minijet; refusing to start without it "
                "(see the README, \"Security\")",
                cx->file, e->val->line, where, where[0] ? "." : "", e->key, what);
    return FALSE;
}

static gboolean get_users(Ctx *cx, const Entry *e, AuthConfig *a) {
    const Val *v = e->val;
    if (v->type != VAL_LIST) return bad(cx, v, e->key, "a list of { user, password, permissions }");
    GPtrArray *users = auth_users_new();
    for (guint i = 0; i < v->items->len; i++) {
        const Val *uv = v->items->pdata[i];
        if (uv->type != VAL_MAP) {
            g_ptr_array_free(users, TRUE);
            return bad(cx, uv, "users", "a list of { user, password, permissions }");
        }
        AuthUser *u = g_new0(AuthUser, 1);
        g_ptr_array_add(users, u);
        for (guint j = 0; j < uv->items->len; j++) {
            const Entry *x = uv->items->pdata[j];
            const char *k = x->key;
            gboolean ok;
            if (!strcmp(k, "user") || !strcmp(k, "username")) ok = get_string_strict(cx, x, &u->name);
            else if (!strcmp(k, "pass") || !strcmp(k, "password")) ok = get_string_strict(cx, x, &u->password);
            else if (!strcmp(k, "permission") || !strcmp(k, "permissions") || !strcmp(k, "authorization"))
                ok = get_permissions(cx, x, &u->perms);
            else if (!strcmp(k, "nkey")) ok = unsupported(cx, x, "users", "an nkey user");
            else if (!strcmp(k, "allowed_connection_types") || !strcmp(k, "connection_types") || !strcmp(k, "clients"))
                ok = unsupported(cx, x, "users", "restricting connection types");
            else if (!strcmp(k, "account")) ok = unsupported(cx, x, "users", "accounts");
            else {
                g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: unknown field \"%s\" in a user entry",
                            cx->file, x->val->line, k);
                ok = FALSE;
            }
            if (!ok) {
                g_ptr_array_free(users, TRUE);
                return FALSE;
            }
        }
        if (u->name == NULL) {
            g_ptr_array_free(users, TRUE);
            g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: User entry requires a user",
                        cx->file, uv->line);
            return FALSE;
        }
    }
    if (a->users) g_ptr_array_free(a->users, TRUE);
    a->users = users;
    return TRUE;
}

static AuthConfig *auth_of(ConfSettings *s) {
    if (s->auth == NULL) s->auth = auth_config_new();
    return s->auth;
}

static gboolean apply_authorization(Ctx *cx, ConfSettings *s, const Entry *top) {
    const Val *v = top->val;
    if (v->type != VAL_MAP) return bad(cx, v, "authorization", "a block");
    AuthConfig *a = auth_of(s);
    for (guint i = 0; i < v->items->len; i++) {
        const Entry *e = v->items->pdata[i];
        const char *k = e->key;
        gboolean ok;
        if (!strcmp(k, "user") || !strcmp(k, "username")) ok = get_string_strict(cx, e, &a->user);
        else if (!strcmp(k, "pass") || !strcmp(k, "password")) ok = get_string_strict(cx, e, &a->password);
        else if (!strcmp(k, "token")) ok = get_string_strict(cx, e, &a->token);
        else if (!strcmp(k, "timeout")) {
            /* seconds, possibly fractional ("0.5" is a bareword string to the tree) */
            char *end = NULL;
            double secs = e->val->type == VAL_INT ? (double)e->val->num
                          : e->val->str ? g_ascii_strtod(e->val->str, &end) : -1;
            if (e->val->type != VAL_INT && (end == NULL || *end != 0)) secs = -1;
            if (!(secs > 0 && secs < 86400)) return bad(cx, e->val, k, "a number of seconds (0 < t < 86400)");
            a->timeout_ns = (int64_t)(secs * 1e9);
            ok = TRUE;
        } else if (!strcmp(k, "users")) ok = get_users(cx, e, a);
        else if (!strcmp(k, "default_permission") || !strcmp(k, "default_permissions") || !strcmp(k, "permissions"))
            ok = get_permissions(cx, e, &a->default_perms);
        else if (!strcmp(k, "nkeys") || !strcmp(k, "auth_callout")) ok = unsupported(cx, e, "authorization", k);
        else {
            g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: unknown field authorization.%s",
                        cx->file, e->val->line, k);
            ok = FALSE;
        }
        if (!ok) return FALSE;
    }
    if ((a->user || a->password) && a->token) {
        g_set_error(cx->error, CONF_ERROR, CONF_ERROR_VALUE, "%s:%d: Cannot have a user/pass and token",
                    cx->file, v->line);
        return FALSE;
    }
    return TRUE;
}

/* Top-level keys that configure security minijet does not implement (nats-server's names
 * and aliases, opts.go processConfigFileLine). */
static const struct { const char *key, *what; } refused_top[] = {
    {"tls", "TLS"},
    {"ocsp", "TLS"},
    {"accounts", "accounts"},
    {"system_account", "a system account"},
    {"system", "a system account"},
    {"operator", "operator mode (JWT)"},
    {"operators", "operator mode (JWT)"},
    {"root", "operator mode (JWT)"},
    {"roots", "operator mode (JWT)"},
    {"root_operator", "operator mode (JWT)"},
    {"root_operators", "operator mode (JWT)"},
    {"trusted", "trusted operator keys"},
    {"trusted_keys", "trusted operator keys"},
    {"resolver", "an account resolver"},
    {"account_resolver", "an account resolver"},
    {"accounts_resolver", "an account resolver"},
    {"resolver_tls", "an account resolver"},
    {"resolver_preload", "an account resolver"},
    {"resolver_pinned_accounts", "an account resolver"},
    {"nkeys", "nkey authentication"},
};

/* The other top-level keys nats-server 2.9.10 accepts that minijet does not use: a warning
 * ("unknown field ... (ignored)") and the server starts. Any key in neither list, nor known
 * below, is refused as nats-server refuses it. (nkeys is not one of its top-level keys, but
 * refusing it as unsupported says more than "unknown field".) */
static const char *const ignored_top[] = {
    "trace", "trace_verbose", "logtime", "mappings", "maps", "disable_sublist_cache", "no_sublist_cache",
    "https", "https_port", "http_base_path", "gateway", "leaf", "leafnodes", "logfile", "log_file",
    "logfile_size_limit", "log_size_limit", "syslog", "remote_syslog", "pidfile", "pid_file", "ports_file_dir",
    "prof_port", "max_traced_msg_len", "max_sub_tokens", "max_subscription_tokens", "allow_non_tls",
    "write_deadline", "lame_duck_duration", "lame_duck_grace_period", "no_system_account", "no_system",
    "no_sys_acc", "no_header_support", "connect_error_reports", "reconnect_error_reports", "websocket", "ws",
    "mqtt", "server_tags", "default_js_domain", NULL};

static gboolean apply_top(Ctx *cx, ConfSettings *s, const Entry *e) {
    const char *k = e->key;
    if (!strcmp(k, "listen")) return get_hostport(cx, e, &s->host, &s->port);
    if (!strcmp(k, "port")) return get_int(cx, e, -1, 65535, &s->port);
    if (!strcmp(k, "host") || !strcmp(k, "net") || !strcmp(k, "addr")) return get_str(cx, e, &s->host);
    if (!strcmp(k, "server_name")) return get_str(cx, e, &s->server_name);
    if (!strcmp(k, "jetstream")) return apply_jetstream(cx, s, e);
    if (!strcmp(k, "store_dir") || !strcmp(k, "storedir")) return get_str(cx, e, &s->store_dir);
    if (!strcmp(k, "client_advertise")) return get_string_strict(cx, e, &s->client_advertise);
    if (!strcmp(k, "max_payload")) return get_int(cx, e, 1, G_MAXINT32, &s->max_payload_bytes);
    if (!strcmp(k, "max_pending")) return get_int(cx, e, 1, G_MAXINT64, &s->max_pending_bytes);
    if (!strcmp(k, "max_control_line"))
        return get_int(cx, e, 1, G_MAXINT32, &s->max_control_line_bytes);
    if (!strcmp(k, "max_connections") || !strcmp(k, "max_conn"))
        return get_int(cx, e, 0, G_MAXINT32, &s->max_connections);
    if (!strcmp(k, "max_subscriptions") || !strcmp(k, "max_subs"))
        return get_int(cx, e, 0, G_MAXINT32, &s->max_subs);
    if (!strcmp(k, "ping_interval")) return get_duration(cx, e, &s->ping_interval_ns);
    if (!strcmp(k, "ping_max")) return get_int(cx, e, 1, G_MAXINT32, &s->ping_max);
    /* monitor_port is not nats-server's name, but the seed document uses it. */
    if (!strcmp(k, "http_port") || !strcmp(k, "monitor_port"))
        return get_int(cx, e, -1, 65535, &s->http_port);
    if (!strcmp(k, "http")) return get_hostport(cx, e, &s->http_host, &s->http_port);
    if (!strcmp(k, "debug")) {
        if (e->val->type != VAL_BOOL) return bad(cx, e->val, k, "true or false");
        s->debug = e->val->num;
        return TRUE;
    }
    if (!strcmp(k, "cluster")) return apply_cluster(cx, s, e);
    if (!strcmp(k, "include")) return bad(cx, e->val, k, "absent: include is not supported yet");
    if (!strcmp(k, "authorization")) return apply_authorization(cx, s, e);
    if (!strcmp(k, "no_auth_user")) return get_string_strict(cx, e, &auth_of(s)->no_auth_user);
    for (size_t i = 0; i < G_N_ELEMENTS(refused_top); i++)
        if (!strcmp(k, refused_top[i].key)) return unsupported(cx, e, "", refused_top[i].what);
    if (e->used) return TRUE; /* a variable, not a setting (nats-server: IsUsedVariable) */
    if (!key_in(k, ignored_top)) return unknown_field(cx, e);
    unknown(cx, e, "");
    return TRUE;
}

/* --- The settings as data: one row per field. init, clear and merge walk this table, so
 * they cannot forget a field (the assertion below counts the rows against the struct). --- */
typedef enum { FIELD_NUM, FIELD_STR, FIELD_STRV, FIELD_AUTH } FieldKind;
typedef struct ConfField {
    FieldKind kind;
    size_t offset;
} ConfField;
#define NUM(f) {FIELD_NUM, offsetof(ConfSettings, f)}
#define STR(f) {FIELD_STR, offsetof(ConfSettings, f)}
#define STRV(f) {FIELD_STRV, offsetof(ConfSettings, f)}
static const ConfField conf_fields[] = {
    STR(config_file),        STR(host),
    NUM(port),               STR(server_name),
    NUM(jetstream),          STR(store_dir),
    STR(js_domain),          NUM(js_max_mem_bytes),
    NUM(js_max_file_bytes),  NUM(js_sync_interval_ns),
    NUM(max_payload_bytes),  NUM(max_pending_bytes),
    NUM(max_control_line_bytes), NUM(max_connections),
    NUM(max_subs),           NUM(ping_interval_ns),
    NUM(ping_max),           STR(http_host),
    NUM(http_port),          NUM(debug),
    NUM(cluster_block),      STR(cluster_name),
    STR(cluster_host),       NUM(cluster_port),
    STRV(cluster_routes),    NUM(cluster_no_advertise),
    STR(client_advertise),   {FIELD_AUTH, offsetof(ConfSettings, auth)},
};
#undef NUM
#undef STR
#undef STRV
/* Every field is 8 bytes (int64_t or a pointer), so the struct is exactly one row per field. */
_Static_assert(sizeof(int64_t) == sizeof(char *), "fields are 8 bytes");
_Static_assert(G_N_ELEMENTS(conf_fields) * sizeof(int64_t) == sizeof(ConfSettings),
               "a ConfSettings field has no row in conf_fields");

#define FIELD(s, f, type) ((type *)((char *)(s) + (f)->offset))

void conf_settings_init(ConfSettings *s) {
    for (size_t i = 0; i < G_N_ELEMENTS(conf_fields); i++) {
        const ConfField *f = &conf_fields[i];
        if (f->kind == FIELD_NUM) *FIELD(s, f, int64_t) = CONF_NOT_SET;
        else *FIELD(s, f, void *) = NULL;
    }
}

void conf_settings_clear(ConfSettings *s) {
    for (size_t i = 0; i < G_N_ELEMENTS(conf_fields); i++) {
        const ConfField *f = &conf_fields[i];
        if (f->kind == FIELD_STR) g_free(*FIELD(s, f, char *));
        else if (f->kind == FIELD_STRV) g_strfreev(*FIELD(s, f, char **));
        else if (f->kind == FIELD_AUTH) auth_config_free(*FIELD(s, f, AuthConfig *));
    }
    conf_settings_init(s);
}

void conf_merge(ConfSettings *dst, const ConfSettings *over) {
    for (size_t i = 0; i < G_N_ELEMENTS(conf_fields); i++) {
        const ConfField *f = &conf_fields[i];
        if (f->kind == FIELD_NUM) {
            int64_t v = *FIELD(over, f, const int64_t);
            if (conf_is_set(v)) *FIELD(dst, f, int64_t) = v;
        } else if (f->kind == FIELD_STR) {
            const char *v = *FIELD(over, f, char *const);
            if (v == NULL) continue;
            g_free(*FIELD(dst, f, char *));
            *FIELD(dst, f, char *) = g_strdup(v);
        } else if (f->kind == FIELD_AUTH) { /* what over's authorization sets replaces dst's */
            const AuthConfig *v = *FIELD(over, f, AuthConfig *const);
            if (v == NULL) continue;
            AuthConfig **d = FIELD(dst, f, AuthConfig *);
            if (*d == NULL) *d = auth_config_new();
            auth_config_merge(*d, v);
        } else {
            char **v = *FIELD(over, f, char **const);
            if (v == NULL) continue;
            g_strfreev(*FIELD(dst, f, char **));
            *FIELD(dst, f, char **) = g_strdupv(v);
        }
    }
}

gboolean conf_parse(ConfSettings *s, const char *text, const char *filename, GPtrArray **warnings,
                    GError **error) {
    return conf_parse_env(s, text, filename, NULL, warnings, error);
}

gboolean conf_parse_env(ConfSettings *s, const char *text, const char *filename, ConfEnvLookup env,
                        GPtrArray **warnings, GError **error) {
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (filename == NULL) filename = "config";
    Parser ps = {text, text, filename, 1, error};
    Val *root = val_new(VAL_MAP, 1);
    root->items = g_ptr_array_new_with_free_func(entry_free);
    gboolean ok = parse_body(&ps, root, 0, 0);
    if (ok) {
        Resolver r = {g_array_new(FALSE, FALSE, sizeof(Scope)), env, filename, error};
        ok = resolve(&r, &root, 0);
        g_array_free(r.scopes, TRUE);
    }
    if (ok) {
        Ctx cx = {filename, NULL, error};
        if (warnings) {
            if (*warnings == NULL) *warnings = g_ptr_array_new_with_free_func(g_free);
            cx.warnings = *warnings;
        }
        for (guint i = 0; ok && i < root->items->len; i++) ok = apply_top(&cx, s, root->items->pdata[i]);
    }
    val_free(root);
    return ok;
}

/* --- The command line: nats-server's flag names, read the way Go's flag package reads them
 * (one or two dashes; the value next or after '='). One row per flag, and the --help text is
 * generated from the same rows, so the two cannot drift apart. A flag sets the same
 * ConfSettings field as its config key; conf_merge then lays the flags over the file. --- */
typedef enum { FLAG_STR, FLAG_PORT, FLAG_ON, FLAG_SYNC, FLAG_URL, FLAG_LIST, FLAG_AUTH, FLAG_HELP,
               FLAG_VERSION } FlagKind;
typedef struct ConfFlag {
    const char *group; /* a --help heading, or NULL: same group as the row before */
    const char *names; /* space-separated, short ones first: "a addr net" */
    const char *arg;   /* "<host>" for a flag that takes a value; NULL for a switch */
    FlagKind kind;
    size_t offset;     /* the ConfSettings field it sets (HELP and VERSION set none) */
    const char *help;  /* '\n' starts a continuation line */
} ConfFlag;

#define AT(f) offsetof(ConfSettings, f)
static const ConfFlag conf_flags[] = {
    {"Server Options", "a addr net", "<host>", FLAG_STR, AT(host),
     "Bind to host address (default: 127.0.0.1)"},
    {NULL, "p port", "<port>", FLAG_PORT, AT(port),
     "Use port for clients (default: 4222, 0 or -1: any)"},
    {NULL, "n name server_name", "<name>", FLAG_STR, AT(server_name),
     "Server name (default: minijet)"},
    {NULL, "m http_port", "<port>", FLAG_PORT, AT(http_port),
     "HTTP port for monitoring (/varz /connz /subsz /jsz /healthz)"},
    {NULL, "client_advertise", "<string>", FLAG_STR, AT(client_advertise),
     "Client URL to advertise to other servers (host[:port])"},
    {NULL, "c config", "<file>", FLAG_STR, AT(config_file),
     "Configuration file (nats-server format); flags override it"},
    {"Cluster Options", "routes", "<rurl-1, rurl-2>", FLAG_LIST, AT(cluster_routes),
     "Routes to solicit and connect: nats://host:port or\nnats-route://host:port (may name this server)"},
    {NULL, "cluster", "<cluster-url>", FLAG_URL, AT(cluster_host),
     "Cluster URL for solicited routes (nats://host:port)"},
    {NULL, "cluster_name", "<string>", FLAG_STR, AT(cluster_name),
     "Cluster Name, if not set one will be dynamically generated"},
    {NULL, "no_advertise", NULL, FLAG_ON, AT(cluster_no_advertise),
     "Do not advertise known cluster IPs to clients (no\nconnect_urls in INFO, none sent to the other servers)"},
    {"Authorization Options", "user", "<user>", FLAG_AUTH, offsetof(AuthConfig, user),
     "User required for connections"},
    {NULL, "pass", "<password>", FLAG_AUTH, offsetof(AuthConfig, password),
     "Password required for connections"},
    {NULL, "auth", "<token>", FLAG_AUTH, offsetof(AuthConfig, token),
     "Authorization token required for connections\n"
     "(users and permissions: the config file's authorization\n"
     "block; TLS is not supported)"},
    {"JetStream Options", "js jetstream", NULL, FLAG_ON, AT(jetstream),
     "Enable JetStream functionality"},
    {NULL, "sd store_dir", "<dir>", FLAG_STR, AT(store_dir), "Set the storage directory"},
    {NULL, "sync_interval", "<when>", FLAG_SYNC, AT(js_sync_interval_ns),
     "JetStream fsync policy: always (default: fsync before\n"
     "the PubAck, group commit), never, or a duration like 2m\n"
     "(ack at once, fsync every 2m: nats-server's default)"},
    {"Logging Options", "D debug", NULL, FLAG_ON, AT(debug), "Enable debugging output"},
    {NULL, "V trace DV VV DVV", NULL, FLAG_ON, AT(debug),
     "Accepted; minijet logs debug output for all of them"},
    {"Common Options", "h help", NULL, FLAG_HELP, 0, "Show this message"},
    {NULL, "v version", NULL, FLAG_VERSION, 0, "Show version"},
};
#undef AT

static const ConfFlag *flag_find(const char *key) {
    for (size_t i = 0; i < G_N_ELEMENTS(conf_flags); i++) {
        g_auto(GStrv) names = g_strsplit(conf_flags[i].names, " ", -1);
        for (char **n = names; *n; n++)
            if (strcmp(*n, key) == 0) return &conf_flags[i];
    }
    return NULL;
}

static ConfFlagsResult flag_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static ConfFlagsResult flag_error(GError **error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, CONF_ERROR, CONF_ERROR_FLAG, msg);
    return CONF_FLAGS_ERROR;
}

ConfFlagsResult conf_parse_flags(ConfSettings *s, int argc, char **argv, GError **error) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == 0)
            return flag_error(error, "unexpected argument \"%s\" (see --help)", arg);
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '='), *value = eq ? eq + 1 : NULL;
        g_autofree char *key = eq ? g_strndup(name, (gsize)(eq - name)) : g_strdup(name);
        const ConfFlag *f = flag_find(key);
        if (f == NULL && g_str_has_prefix(key, "tls"))
            return flag_error(error, "-%s: TLS is not supported by minijet; refusing to start without it", key);
        if (f == NULL) return flag_error(error, "flag provided but not defined: -%s (see --help)", key);
        if (f->arg != NULL && value == NULL) {
            if (i + 1 >= argc) return flag_error(error, "flag needs an argument: -%s", key);
            value = argv[++i];
        }
        int64_t *num = (int64_t *)((char *)s + f->offset);
        char **str = (char **)((char *)s + f->offset);
        int64_t n;
        switch (f->kind) {
        case FLAG_HELP: return CONF_FLAGS_HELP;
        case FLAG_VERSION: return CONF_FLAGS_VERSION;
        case FLAG_STR:
            g_free(*str);
            *str = g_strdup(value);
            break;
        case FLAG_PORT: {
            char *end = NULL;
            errno = 0;
            long v = strtol(value, &end, 10);
            if (errno || end == value || *end || v < -1 || v > 65535)
                return flag_error(error, "invalid value \"%s\" for flag -%s: a port is 0..65535 "
                                  "(or -1 for any)", value, key);
            *num = v;
            break;
        }
        case FLAG_ON: /* a switch; Go also takes -js=true / -js=false */
            if (value == NULL || !strcmp(value, "true") || !strcmp(value, "1")) *num = 1;
            else if (!strcmp(value, "false") || !strcmp(value, "0")) *num = 0;
            else return flag_error(error, "invalid boolean value \"%s\" for -%s", value, key);
            break;
        case FLAG_URL: { /* --cluster nats://host:port: the cluster block's listen */
            const char *hp = strstr(value, "://") ? strstr(value, "://") + 3 : value;
            const char *colon = strrchr(hp, ':');
            char *end = NULL;
            long v = colon ? strtol(colon + 1, &end, 10) : -2;
            if (colon == NULL || colon == hp || (*end != '\0' && *end != '/') || v < -1 || v > 65535)
                return flag_error(error, "invalid value \"%s\" for flag -%s: want nats://host:port",
                                  value, key);
            g_free(*str);
            *str = g_strndup(hp, (gsize)(colon - hp));
            s->cluster_port = v;
            break;
        }
        case FLAG_LIST: { /* comma-separated, blanks around entries dropped */
            char ***list = (char ***)((char *)s + f->offset);
            g_strfreev(*list);
            *list = g_strsplit(value, ",", -1);
            for (char **e = *list; *e; e++) g_strstrip(*e);
            break;
        }
        case FLAG_AUTH: { /* offset is into the AuthConfig: --user, --pass, --auth */
            if (s->auth == NULL) s->auth = auth_config_new();
            char **field = (char **)((char *)s->auth + f->offset);
            g_free(*field);
            *field = g_strdup(value);
            break;
        }
        case FLAG_SYNC:
            if (!conf_parse_sync_interval(value, &n))
                return flag_error(error, "invalid --%s \"%s\": want always, never or a duration "
                                  "like 2m", key, value);
            *num = n;
            break;
        }
    }
    return CONF_FLAGS_RUN;
}

/* How --help spells a name: -a, -js, -DV (short or all capitals) but --addr, --net. */
static const char *flag_dashes(const char *name) {
    gboolean caps = TRUE;
    for (const char *c = name; *c; c++) caps &= g_ascii_isupper(*c);
    return strlen(name) <= 2 || caps ? "-" : "--";
}

char *conf_flags_usage(void) {
    enum { HELP_COLUMN = 37 };
    GString *out = g_string_new("Usage: minijet-server [options]\n");
    for (size_t i = 0; i < G_N_ELEMENTS(conf_flags); i++) {
        const ConfFlag *f = &conf_flags[i];
        if (f->group) g_string_append_printf(out, "\n%s:\n", f->group);
        gsize start = out->len;
        g_string_append(out, "    ");
        g_auto(GStrv) names = g_strsplit(f->names, " ", -1);
        for (char **n = names; *n; n++)
            g_string_append_printf(out, "%s%s%s", n == names ? "" : ", ", flag_dashes(*n), *n);
        if (f->arg) g_string_append_printf(out, " %s", f->arg);
        g_auto(GStrv) lines = g_strsplit(f->help, "\n", -1);
        for (char **l = lines; *l; l++) {
            gsize col = out->len - start;
            if (l != lines) {
                g_string_append_c(out, '\n');
                start = out->len;
                col = 0;
            }
            do g_string_append_c(out, ' '); while (++col < HELP_COLUMN);
            g_string_append(out, *l);
        }
        g_string_append_c(out, '\n');
    }
    return g_string_free(out, FALSE);
}
