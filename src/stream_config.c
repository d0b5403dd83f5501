/* stream_config.c — StreamConfig: Go-typed decoding, nats-server 2.9.10's defaults and
 * validation rules, update rules, and the echoed JSON. See stream_config.h.
 *
 * WHERE THE RULES COME FROM
 *   Every default and every error text below was checked against a live nats-server 2.9.10
 *   (spec 3.3). Clients match on err_code, so the codes matter more than the texts, but the
 *   texts are kept verbatim too: users paste them into search engines.
 *
 * ORDER OF CHECKS (first failure wins, as in nats-server's checkStreamCfg)
 *   name -> replicas (at most 5, also on a single server) -> limits normalised -> duplicate window -> discard-new-per-subject
 *   -> subjects (default, duplicates, validity, $JS.API, overlaps) -> rollups vs deny_purge
 *   -> sealed implications -> refused features.
 *
 * REFUSED FEATURES
 *   mirror, sources and republish need machinery minijet does not have (a stream that follows
 *   another one, a second publish path out of the store). Accepting and ignoring them would give
 *   a "mirror" that copies nothing, so they are refused with 10052 and a description naming
 *   minijet. null, and an empty sources list, mean "not asked for", as in Go. template_owner is
 *   refused as nats-server 2.9.10 refuses it: the API cannot create or update a stream owned by
 *   a template (10049 on create, 10052 on update).
 */
#include "stream_config.h"

#include <stdarg.h>
#include <string.h>

#include "jsonutil.h"
#include "limits.h"
#include "sublist.h"

/* ------------------------------------------------------------------ enums */

static const char *const retention_names[] = {"limits", "interest", "workqueue", NULL};
static const char *const discard_names[] = {"old", "new", NULL};
static const char *const storage_names[] = {"file", "memory", NULL};

/* Optional enum member; FALSE on a type error or an unknown value (Go: invalid JSON). */
static bool get_enum(JsonObject *o, const char *name, const char *const *names, int *out) {
    const char *v = NULL;
    if (!jsonu_get_string(o, name, &v)) return false;
    if (v == NULL) return true;
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ parse */

/* Is member `name` given a value (not absent, not null, not an empty array)? */
static bool given(JsonObject *o, const char *name) {
    JsonNode *n = json_object_get_member(o, name);
    if (n == NULL || JSON_NODE_HOLDS_NULL(n)) return false;
    return !JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) > 0;
}

StreamConfig *stream_config_parse(JsonObject *o, GError **error) {
    g_autoptr(StreamConfig) c = g_new0(StreamConfig, 1);
    const char *name = NULL, *desc = NULL, *template_owner = NULL;
    int retention = RETENTION_LIMITS, discard = DISCARD_OLD, storage = STORAGE_FILE;
    bool ok = jsonu_get_string(o, "name", &name) && jsonu_get_string(o, "description", &desc) &&
              jsonu_get_string(o, "template_owner", &template_owner) &&
              get_enum(o, "retention", retention_names, &retention) &&
              get_enum(o, "discard", discard_names, &discard) &&
              get_enum(o, "storage", storage_names, &storage) &&
              jsonu_get_int(o, "max_consumers", &c->max_consumers) &&
              jsonu_get_int(o, "max_msgs", &c->max_msgs) &&
              jsonu_get_int(o, "max_bytes", &c->max_bytes) &&
              jsonu_get_int(o, "max_age", &c->max_age_ns) &&
              jsonu_get_int(o, "max_msgs_per_subject", &c->max_msgs_per_subject) &&
              jsonu_get_int(o, "max_msg_size", &c->max_msg_size) &&
              jsonu_get_int(o, "num_replicas", &c->num_replicas) &&
              jsonu_get_int(o, "duplicate_window", &c->duplicate_window_ns) &&
              jsonu_get_bool(o, "no_ack", &c->no_ack) &&
              jsonu_get_bool(o, "allow_direct", &c->allow_direct) &&
              jsonu_get_bool(o, "mirror_direct", &c->mirror_direct) &&
              jsonu_get_bool(o, "discard_new_per_subject", &c->discard_new_per_subject) &&
              jsonu_get_bool(o, "sealed", &c->sealed) &&
              jsonu_get_bool(o, "deny_delete", &c->deny_delete) &&
              jsonu_get_bool(o, "deny_purge", &c->deny_purge) &&
              jsonu_get_bool(o, "allow_rollup_hdrs", &c->allow_rollup_hdrs) &&
              /* Go's StreamConfig.MaxMsgSize is an int32: a larger value is invalid JSON */
              c->max_msg_size >= G_MININT32 && c->max_msg_size <= G_MAXINT32;
    JsonNode *subjects = json_object_get_member(o, "subjects");
    if (ok && subjects != NULL && !JSON_NODE_HOLDS_NULL(subjects)) {
        if (!JSON_NODE_HOLDS_ARRAY(subjects)) {
            ok = false;
        } else {
            JsonArray *a = json_node_get_array(subjects);
            guint n = json_array_get_length(a);
            c->subjects = g_new0(char *, n + 1);
            for (guint i = 0; i < n && ok; i++) {
                JsonNode *e = json_array_get_element(a, i);
                if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
                    ok = false;
                else
                    c->subjects[i] = g_strdup(json_node_get_string(e));
            }
        }
    }
    if (!ok) {
        mj_js_error(error, MJ_ERR_JS_INVALID_JSON, NULL);
        return NULL;
    }
    c->name = g_strdup(name != NULL ? name : "");
    c->description = desc != NULL && desc[0] != '\0' ? g_strdup(desc) : NULL;
    c->retention = (StreamRetention)retention;
    c->discard = (StreamDiscard)discard;
    c->storage = (StreamStorage)storage;
    c->template_owned = template_owner != NULL && template_owner[0] != '\0';
    if (given(o, "mirror") || given(o, "sources"))
        c->unsupported = "mirror and sources are";
    else if (given(o, "republish"))
        c->unsupported = "republish is";
    return g_steal_pointer(&c);
}

/* ------------------------------------------------------------------ validate */

bool stream_name_valid(const char *name, GError **error) {
    if (name[0] == '\0' || strpbrk(name, ".*> \t\r\n\f") != NULL) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG,
                    "stream name is required and can not contain '.', '*', '>'");
        return false;
    }
    if (strlen(name) > LIMIT_STREAM_NAME_BYTES) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG,
                    "stream name is too long, maximum allowed is %d", LIMIT_STREAM_NAME_BYTES);
        return false;
    }
    /* The name becomes a folder name: no path separators (nats-server checks the same). */
    if (strpbrk(name, "/\\") != NULL) {
        mj_js_error(error, MJ_ERR_JS_STREAM_NAME_PATH_SEPARATOR, NULL);
        return false;
    }
    return true;
}

/* 0 means "unlimited" for these limits; the echo says -1. */
static void unlimited_if_zero(int64_t *v) {
    if (*v == 0) *v = -1;
}

static bool validate_subjects(StreamConfig *c, GError **error) {
    if (c->subjects == NULL || c->subjects[0] == NULL) { /* default: the stream's own name */
        g_strfreev(c->subjects);
        c->subjects = g_new0(char *, 2);
        c->subjects[0] = g_strdup(c->name);
    }
    guint n = g_strv_length(c->subjects);
    if (n > LIMIT_STREAM_SUBJECTS_COUNT) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "too many subjects, maximum allowed is %d",
                    LIMIT_STREAM_SUBJECTS_COUNT);
        return false;
    }
    for (guint i = 0; i < n; i++)
        for (guint j = i + 1; j < n; j++)
            if (strcmp(c->subjects[i], c->subjects[j]) == 0) {
                mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "duplicate subjects detected");
                return false;
            }
    for (guint i = 0; i < n; i++) {
        const char *s = c->subjects[i];
        if (!subject_valid_subscribe(s, strlen(s))) {
            mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "invalid subject");
            return false;
        }
        /* Capturing the API's own requests would make the stream unmanageable. (A broader
         * subject such as "$JS.>" is allowed, as nats-server 2.9.10 allows it.) */
        if (subject_pattern_is_subset(s, "$JS.API.>")) {
            mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "subjects overlap with jetstream api");
            return false;
        }
    }
    for (guint i = 0; i < n; i++)
        for (guint j = i + 1; j < n; j++)
            if (subject_patterns_overlap(c->subjects[i], c->subjects[j])) {
                mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "subject \"%s\" overlaps with \"%s\"",
                            c->subjects[i], c->subjects[j]);
                return false;
            }
    return true;
}

bool stream_config_validate(StreamConfig *c, GError **error) {
    if (!stream_name_valid(c->name, error)) return false;
    if (c->description != NULL && strlen(c->description) > LIMIT_STREAM_DESCRIPTION_BYTES) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG,
                    "stream description is too long, maximum allowed is %d",
                    LIMIT_STREAM_DESCRIPTION_BYTES);
        return false;
    }
    if (c->num_replicas < 0) {
        mj_js_error(error, MJ_ERR_JS_REPLICAS_NEGATIVE, NULL);
        return false;
    }
    if (c->num_replicas == 0) c->num_replicas = 1;
    if (c->num_replicas > LIMIT_CLUSTER_REPLICAS_MAX) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "maximum replicas is %d", LIMIT_CLUSTER_REPLICAS_MAX);
        return false;
    }
    unlimited_if_zero(&c->max_consumers);
    unlimited_if_zero(&c->max_msgs);
    unlimited_if_zero(&c->max_bytes);
    unlimited_if_zero(&c->max_msgs_per_subject);
    unlimited_if_zero(&c->max_msg_size);
    /* The duplicate window defaults to 2 minutes, or to max_age when that is shorter; it can
     * never outlive the messages it points at. */
    if (c->duplicate_window_ns == 0) {
        if (c->max_age_ns != 0 && c->max_age_ns < LIMIT_STREAM_DUPLICATE_WINDOW_NS)
            c->duplicate_window_ns = c->max_age_ns;
        else
            c->duplicate_window_ns = LIMIT_STREAM_DUPLICATE_WINDOW_NS;
    }
    if (c->max_age_ns > 0 && c->max_age_ns < LIMIT_STREAM_MIN_WINDOW_NS) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "max age needs to be >= 100ms");
        return false;
    }
    if (c->duplicate_window_ns < 0) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "duplicates window can not be negative");
        return false;
    }
    if (c->max_age_ns > 0 && c->duplicate_window_ns > c->max_age_ns) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG,
                    "duplicates window can not be larger then max age");
        return false;
    }
    if (c->duplicate_window_ns > 0 && c->duplicate_window_ns < LIMIT_STREAM_MIN_WINDOW_NS) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "duplicates window needs to be >= 100ms");
        return false;
    }
    if (c->max_age_ns < 0) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "max age needs to be >= 0");
        return false;
    }
    if (c->discard_new_per_subject) {
        if (c->discard != DISCARD_NEW) {
            mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG,
                        "discard new per subject requires discard new policy to be set");
            return false;
        }
        if (c->max_msgs_per_subject <= 0) {
            mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG,
                        "discard new per subject requires max msgs per subject > 0");
            return false;
        }
    }
    if (!validate_subjects(c, error)) return false;
    if (c->allow_rollup_hdrs && c->deny_purge) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "roll-ups require the purge permission");
        return false;
    }
    if (c->sealed) { /* a sealed stream is frozen: nothing in, nothing out, nothing ages out */
        c->max_age_ns = 0;
        c->discard = DISCARD_NEW;
        c->deny_delete = true;
        c->deny_purge = true;
        c->allow_rollup_hdrs = false;
    }
    if (c->unsupported != NULL) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "%s not supported by minijet", c->unsupported);
        return false;
    }
    return true;
}

/* template_owner: nats-server's API refuses it (templates own streams, the API cannot). */
bool stream_config_check_template(const StreamConfig *c, bool create, GError **error) {
    if (!c->template_owned) return true;
    if (create)
        mj_js_error(error, MJ_ERR_JS_STREAM_NOT_OWNED, NULL);
    else
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "stream configuration update can not be owned by a template");
    return false;
}

bool stream_config_check_update(const StreamConfig *old, StreamConfig *upd, GError **error) {
    const char *why = NULL;
    if (strcmp(old->name, upd->name) != 0)
        why = "stream configuration name must match original";
    else if (old->max_consumers != upd->max_consumers)
        why = "stream configuration update can not change MaxConsumers";
    else if (old->storage != upd->storage)
        why = "stream configuration update can not change storage type";
    else if (old->retention != upd->retention)
        why = "stream configuration update can not change retention policy";
    else if (old->sealed && !upd->sealed)
        why = "stream configuration update can not unseal a sealed stream";
    else if (old->deny_delete && !upd->deny_delete)
        why = "stream configuration update can not cancel deny message deletes";
    else if (old->deny_purge && !upd->deny_purge)
        why = "stream configuration update can not cancel deny purge";
    if (why != NULL) {
        mj_js_error(error, MJ_ERR_JS_STREAM_INVALID_CONFIG, "%s", why);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ echo */

/* Key order follows nats-server's Go struct, so a diff against its replies is quiet. */
void stream_config_build(const StreamConfig *c, JsonBuilder *b) {
    json_builder_begin_object(b);
    jsonu_add_string(b, "name", c->name);
    if (c->description != NULL) jsonu_add_string(b, "description", c->description);
    json_builder_set_member_name(b, "subjects");
    json_builder_begin_array(b);
    for (char **s = c->subjects; s != NULL && *s != NULL; s++) json_builder_add_string_value(b, *s);
    json_builder_end_array(b);
    jsonu_add_string(b, "retention", retention_names[c->retention]);
    jsonu_add_int(b, "max_consumers", c->max_consumers);
    jsonu_add_int(b, "max_msgs", c->max_msgs);
    jsonu_add_int(b, "max_bytes", c->max_bytes);
    jsonu_add_int(b, "max_age", c->max_age_ns);
    jsonu_add_int(b, "max_msgs_per_subject", c->max_msgs_per_subject);
    jsonu_add_int(b, "max_msg_size", c->max_msg_size);
    jsonu_add_string(b, "discard", discard_names[c->discard]);
    jsonu_add_string(b, "storage", storage_names[c->storage]);
    jsonu_add_int(b, "num_replicas", c->num_replicas);
    if (c->no_ack) jsonu_add_bool(b, "no_ack", true);
    jsonu_add_int(b, "duplicate_window", c->duplicate_window_ns);
    jsonu_add_bool(b, "allow_direct", c->allow_direct);
    jsonu_add_bool(b, "mirror_direct", c->mirror_direct);
    if (c->discard_new_per_subject) jsonu_add_bool(b, "discard_new_per_subject", true);
    jsonu_add_bool(b, "sealed", c->sealed);
    jsonu_add_bool(b, "deny_delete", c->deny_delete);
    jsonu_add_bool(b, "deny_purge", c->deny_purge);
    jsonu_add_bool(b, "allow_rollup_hdrs", c->allow_rollup_hdrs);
    json_builder_end_object(b);
}

static char *config_json(const StreamConfig *c) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    stream_config_build(c, b);
    return jsonu_builder_to_string(b);
}

bool stream_config_equal(const StreamConfig *a, const StreamConfig *b) {
    g_autofree char *ja = config_json(a);
    g_autofree char *jb = config_json(b);
    return strcmp(ja, jb) == 0;
}

StreamConfig *stream_config_copy(const StreamConfig *c) {
    StreamConfig *n = g_new(StreamConfig, 1);
    *n = *c;
    n->name = g_strdup(c->name);
    n->description = g_strdup(c->description);
    n->subjects = g_strdupv(c->subjects);
    return n;
}

void stream_config_free(StreamConfig *c) {
    if (c == NULL) return;
    g_free(c->name);
    g_free(c->description);
    g_strfreev(c->subjects);
    g_free(c);
}
