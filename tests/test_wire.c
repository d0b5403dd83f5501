/* test_wire.c — the unit tests' client-side wire and JSON helpers (see test_wire.h). */
#include "test_wire.h"

#include <json-glib/json-glib.h>
#include <string.h>

char *test_wire_pub(const char *subject, const char *reply, const char *hdrs, const char *body) {
    g_autofree char *to = reply != NULL ? g_strconcat(" ", reply, NULL) : g_strdup("");
    if (hdrs == NULL) return g_strdup_printf("PUB %s%s %zu\r\n%s\r\n", subject, to, strlen(body), body);
    g_autofree char *h = g_strdup_printf("NATS/1.0\r\n%s\r\n\r\n", hdrs);
    return g_strdup_printf("HPUB %s%s %zu %zu\r\n%s%s\r\n", subject, to, strlen(h), strlen(h) + strlen(body), h,
                           body);
}

static void msg_clear(TestMsg *m) {
    g_free(m->subject);
    g_free(m->reply);
    g_free(m->hdr);
    g_free(m->data);
}

GArray *test_wire_parse(const char *out) {
    GArray *msgs = g_array_new(FALSE, TRUE, sizeof(TestMsg));
    g_array_set_clear_func(msgs, (GDestroyNotify)msg_clear);
    const char *p = out;
    while (*p != '\0') {
        const char *eol = strstr(p, "\r\n");
        g_assert_nonnull(eol);
        g_autofree char *line = g_strndup(p, (gsize)(eol - p));
        g_auto(GStrv) t = g_strsplit(line, " ", -1);
        guint n = g_strv_length(t);
        TestMsg m = {0};
        p = eol + 2;
        if (strcmp(t[0], "MSG") == 0) {
            size_t len = (size_t)g_ascii_strtoull(t[n - 1], NULL, 10);
            m.subject = g_strdup(t[1]);
            m.reply = n == 5 ? g_strdup(t[3]) : NULL;
            m.data = g_strndup(p, len);
            p += len + 2;
        } else if (strcmp(t[0], "HMSG") == 0) {
            size_t hl = (size_t)g_ascii_strtoull(t[n - 2], NULL, 10);
            size_t tl = (size_t)g_ascii_strtoull(t[n - 1], NULL, 10);
            m.subject = g_strdup(t[1]);
            m.reply = n == 6 ? g_strdup(t[3]) : NULL;
            m.hdr = g_strndup(p, hl);
            m.data = g_strndup(p + hl, tl - hl);
            p += tl + 2;
        } else {
            continue; /* PING, +OK, ... */
        }
        g_array_append_val(msgs, m);
    }
    return msgs;
}

char *test_json_path(const char *json, const char *path) {
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    g_autoptr(JsonNode) res = json_path_query(path, json_parser_get_root(p), NULL);
    JsonArray *a = json_node_get_array(res);
    if (json_array_get_length(a) == 0) return g_strdup("");
    JsonNode *n = json_array_get_element(a, 0);
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
        return g_strdup(json_node_get_string(n));
    g_autoptr(JsonGenerator) g = json_generator_new();
    json_generator_set_root(g, n);
    return json_generator_to_data(g, NULL);
}
