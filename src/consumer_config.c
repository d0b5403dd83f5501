/* consumer_config.c — a consumer's configuration: parse, default, validate, compare, echo.
 *
 * WHAT IT IS
 *   The ConsumerConfig of CONSUMER.CREATE (spec 3.8), decoded with Go's typing rules (a wrong
 *   type or an unknown enum value is "invalid JSON", 10025), completed with nats-server
 *   2.9.10's defaults (setConsumerConfigDefaults), checked with its rules in its order
 *   (checkConsumerCfg), and written back in the order of its Go struct, omitting what Go's
 *   `omitempty` omits. Pure functions: no server, no store. See consumer.h.
 *
 * WHAT IS ACCEPTED BUT NOT ACTED ON
 *   sample_freq (validated and echoed; no ack sampling advisories), num_replicas (single
 *   server), mem_storage (consumer state is a small JSON file either way), direct.
 */
#include <string.h>

#include "consumer.h"
#include "jsonutil.h"
#include "limits.h"
#include "sublist.h"

static const char *const deliver_names[] = {"all", "last", "new", "by_start_sequence",
                                            "by_start_time", "last_per_subject", NULL};
static const char *const ack_names[] = {"none", "all", "explicit", NULL};
static const char *const replay_names[] = {"instant", "original", NULL};

/* Optional enum member; FALSE on a type error or an unknown value (Go: invalid JSON). */
static bool get_enum(JsonObject *o, const char *name, const char *const *names, int *out) {
    const char *v = NULL;
    if (!jsonu_get_string(o, name, &v)) return false;
    if (v == NULL) return true;
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return true;
        }
    return false;
}

/* Optional string; "" counts as unset. */
static bool get_str(JsonObject *o, const char *name, char **out) {
    const char *v = NULL;
    if (!jsonu_get_string(o, name, &v)) return false;
    if (v != NULL && *v != '\0') *out = g_strdup(v);
    return true;
}

static bool get_u64(JsonObject *o, const char *name, uint64_t *out) {
    int64_t v = 0;
    if (!jsonu_get_int(o, name, &v) || v < 0) return false; /* Go: uint64 rejects negatives */
    *out = (uint64_t)v;
    return true;
}

/* RFC 3339 wall time -> ns since the epoch. */
static bool parse_time(const char *s, int64_t *out) {
    g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(s, NULL);
    if (dt == NULL) return false;
    *out = g_date_time_to_unix(dt) * 1000000000LL + (int64_t)g_date_time_get_microsecond(dt) * 1000;
    /* keep the nanoseconds GDateTime drops: re-read the fraction digits */
    const char *dot = strchr(s, '.');
    if (dot != NULL) {
        int64_t frac = 0, scale = 100000000;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10) frac += (*p - '0') * scale;
        *out = g_date_time_to_unix(dt) * 1000000000LL + frac;
    }
    return true;
}

ConsumerConfig *consumer_config_parse(JsonObject *o, GError **error) {
    g_autoptr(ConsumerConfig) c = g_new0(ConsumerConfig, 1);
    int dp = 0, ap = 0, rp = 0;
    const char *start_time = NULL;
    bool ok = get_str(o, "durable_name", &c->durable_name) && get_str(o, "name", &c->name) &&
              get_str(o, "description", &c->description) &&
              get_enum(o, "deliver_policy", deliver_names, &dp) &&
              get_u64(o, "opt_start_seq", &c->opt_start_seq) &&
              jsonu_get_string(o, "opt_start_time", &start_time) &&
              get_enum(o, "ack_policy", ack_names, &ap) &&
              jsonu_get_int(o, "ack_wait", &c->ack_wait_ns) &&
              jsonu_get_int(o, "max_deliver", &c->max_deliver) &&
              get_str(o, "filter_subject", &c->filter_subject) &&
              get_enum(o, "replay_policy", replay_names, &rp) &&
              get_u64(o, "rate_limit_bps", &c->rate_limit_bps) &&
              get_str(o, "sample_freq", &c->sample_freq) &&
              jsonu_get_int(o, "max_waiting", &c->max_waiting) &&
              jsonu_get_int(o, "max_ack_pending", &c->max_ack_pending) &&
              jsonu_get_int(o, "idle_heartbeat", &c->idle_heartbeat_ns) &&
              jsonu_get_bool(o, "flow_control", &c->flow_control) &&
              jsonu_get_bool(o, "headers_only", &c->headers_only) &&
              jsonu_get_int(o, "max_batch", &c->max_batch) &&
              jsonu_get_int(o, "max_expires", &c->max_expires_ns) &&
              jsonu_get_int(o, "max_bytes", &c->max_bytes) &&
              get_str(o, "deliver_subject", &c->deliver_subject) &&
              get_str(o, "deliver_group", &c->deliver_group) &&
              jsonu_get_int(o, "inactive_threshold", &c->inactive_threshold_ns) &&
              jsonu_get_int(o, "num_replicas", &c->num_replicas) &&
              jsonu_get_bool(o, "mem_storage", &c->mem_storage) &&
              jsonu_get_bool(o, "direct", &c->direct);
    if (ok && start_time != NULL) {
        ok = parse_time(start_time, &c->opt_start_time_ns);
        c->has_opt_start_time = ok;
    }
    JsonNode *bo = json_object_get_member(o, "backoff");
    if (ok && bo != NULL && !JSON_NODE_HOLDS_NULL(bo)) {
        if (!JSON_NODE_HOLDS_ARRAY(bo)) {
            ok = false;
        } else {
            JsonArray *arr = json_node_get_array(bo);
            c->backoff_ns = g_array_new(FALSE, FALSE, sizeof(int64_t));
            for (guint i = 0; ok && i < json_array_get_length(arr); i++) {
                JsonNode *n = json_array_get_element(arr, i);
                if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) ok = false;
                else {
                    int64_t v = json_node_get_int(n);
                    g_array_append_val(c->backoff_ns, v);
                }
            }
        }
    }
    if (!ok) {
        mj_js_error(error, MJ_ERR_JS_INVALID_JSON, NULL);
        return NULL;
    }
    c->deliver_policy = dp;
    c->ack_policy = ap;
    c->replay_policy = rp;
    return g_steal_pointer(&c);
}

static guint n_backoff(const ConsumerConfig *c) { return c->backoff_ns != NULL ? c->backoff_ns->len : 0; }

/* nats-server's isValidName: no whitespace, no '.', '*', '>'. */
static bool name_valid(const char *s) {
    for (; *s != '\0'; s++)
        if (*s == '.' || *s == '*' || *s == '>' || g_ascii_isspace(*s)) return false;
    return true;
}

static bool policy_error(GError **error, const char *fmt, const char *a, const char *b) {
    mj_js_error(error, MJ_ERR_JS_CONSUMER_INVALID_POLICY, fmt, a, b);
    return false;
}

#define FAIL(err) do { mj_js_error(error, MJ_ERR_##err, NULL); return false; } while (0)

bool consumer_config_validate(ConsumerConfig *c, const StreamConfig *s, GError **error) {
    bool push = c->deliver_subject != NULL;
    /* setConsumerConfigDefaults */
    if (!push && c->max_waiting == 0) c->max_waiting = LIMIT_CONSUMER_MAX_WAITING_COUNT;
    if (c->ack_wait_ns == 0 && c->ack_policy != ACK_NONE) c->ack_wait_ns = LIMIT_CONSUMER_ACK_WAIT_NS;
    if (c->max_deliver == 0) c->max_deliver = -1;
    if (n_backoff(c) > 0) c->ack_wait_ns = g_array_index(c->backoff_ns, int64_t, 0);
    if (c->ack_policy != ACK_NONE && c->max_ack_pending == 0) c->max_ack_pending = LIMIT_CONSUMER_MAX_ACK_PENDING_COUNT;
    if (c->durable_name == NULL && c->inactive_threshold_ns <= 0)
        c->inactive_threshold_ns = LIMIT_CONSUMER_INACTIVE_THRESHOLD_NS;
    /* checkConsumerCfg, in its order */
    if (c->num_replicas > 0 && c->num_replicas > s->num_replicas) FAIL(JS_CONSUMER_REPLICAS_EXCEED);
    if (c->num_replicas < 0) FAIL(JS_REPLICAS_NEGATIVE);
    if (n_backoff(c) > 0 && c->max_deliver <= (int64_t)n_backoff(c)) FAIL(JS_CONSUMER_MAX_DELIVER_BACKOFF);
    if (c->description != NULL && strlen(c->description) > LIMIT_STREAM_DESCRIPTION_BYTES) {
        mj_js_error(error, MJ_ERR_JS_CONSUMER_DESCRIPTION_TOO_LONG,
                    "consumer description is too long, maximum allowed is %d", LIMIT_STREAM_DESCRIPTION_BYTES);
        return false;
    }
    if (push) {
        const char *d = c->deliver_subject;
        if (!subject_valid_subscribe(d, strlen(d))) FAIL(JS_CONSUMER_INVALID_DELIVER_SUBJECT);
        if (!subject_is_literal(d, strlen(d))) FAIL(JS_CONSUMER_DELIVER_TO_WILDCARDS);
        for (char **ss = s->subjects; *ss != NULL; ss++)
            if (subject_pattern_is_subset(d, *ss)) FAIL(JS_CONSUMER_DELIVER_CYCLE);
        if (c->max_waiting != 0) FAIL(JS_CONSUMER_PUSH_MAX_WAITING);
        if (c->max_ack_pending > 0 && c->ack_policy == ACK_NONE) FAIL(JS_CONSUMER_MAX_PENDING_ACK_POLICY);
        if (c->idle_heartbeat_ns > 0 && c->idle_heartbeat_ns < LIMIT_CONSUMER_HEARTBEAT_MIN_NS)
            FAIL(JS_CONSUMER_SMALL_HEARTBEAT);
    } else {
        if (c->ack_policy == ACK_NONE && s->retention == RETENTION_WORKQUEUE) FAIL(JS_CONSUMER_PULL_REQUIRES_ACK);
        if (c->rate_limit_bps > 0) FAIL(JS_CONSUMER_PULL_WITH_RATE_LIMIT);
        if (c->max_waiting < 0) FAIL(JS_CONSUMER_MAX_WAITING_NEGATIVE);
        if (c->idle_heartbeat_ns > 0) FAIL(JS_CONSUMER_HB_REQUIRES_PUSH);
        if (c->flow_control) FAIL(JS_CONSUMER_FC_REQUIRES_PUSH);
        if (c->max_batch < 0) FAIL(JS_CONSUMER_MAX_REQUEST_BATCH_NEGATIVE);
        if (c->max_expires_ns != 0 && c->max_expires_ns < 1000000) FAIL(JS_CONSUMER_MAX_REQUEST_EXPIRES_SMALL);
    }
    if (c->direct) {
        if (!push) FAIL(JS_CONSUMER_DIRECT_REQUIRES_PUSH);
        if (c->durable_name != NULL) FAIL(JS_CONSUMER_DIRECT_REQUIRES_EPHEMERAL);
    }
    if (c->filter_subject != NULL) {
        const char *f = c->filter_subject;
        bool ok = false, wc = subject_valid_subscribe(f, strlen(f)) && !subject_is_literal(f, strlen(f));
        if (subject_valid_subscribe(f, strlen(f)))
            for (char **ss = s->subjects; *ss != NULL && !ok; ss++)
                ok = subject_pattern_is_subset(f, *ss) || (wc && subject_pattern_is_subset(*ss, f));
        if (!ok) FAIL(JS_CONSUMER_FILTER_NOT_SUBSET);
    }
    const char *bad = "consumer delivery policy is deliver %s, but optional start %s is also set";
    const char *unset = "consumer delivery policy is deliver %s, but optional %s is not set";
    bool seq = c->opt_start_seq > 0, tm = c->has_opt_start_time;
    switch (c->deliver_policy) {
    case DELIVER_ALL:
    case DELIVER_LAST:
    case DELIVER_NEW: {
        const char *dp = c->deliver_policy == DELIVER_ALL ? "all" : c->deliver_policy == DELIVER_LAST ? "last" : "new";
        if (seq) return policy_error(error, bad, dp, "sequence");
        if (tm) return policy_error(error, bad, dp, "time");
        break;
    }
    case DELIVER_LAST_PER_SUBJECT:
        if (seq) return policy_error(error, bad, "last per subject", "sequence");
        if (tm) return policy_error(error, bad, "last per subject", "time");
        if (c->filter_subject == NULL) return policy_error(error, unset, "last per subject", "filter subject");
        break;
    case DELIVER_BY_START_SEQUENCE:
        if (!seq) return policy_error(error, unset, "by start sequence", "start sequence");
        if (tm) return policy_error(error, bad, "by start sequence", "time");
        break;
    case DELIVER_BY_START_TIME:
        if (!tm) return policy_error(error, unset, "by start time", "start time");
        if (seq) return policy_error(error, bad, "by start time", "start sequence");
        break;
    }
    if (c->sample_freq != NULL) {
        g_autofree char *f = g_strdup(c->sample_freq);
        if (g_str_has_suffix(f, "%")) f[strlen(f) - 1] = '\0';
        guint64 v;
        if (!g_ascii_string_to_unsigned(f, 10, 0, G_MAXINT32, &v, NULL)) {
            mj_js_error(error, MJ_ERR_JS_CONSUMER_INVALID_SAMPLING,
                        "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"%s\": invalid syntax", f);
            return false;
        }
    }
    if (c->flow_control && c->idle_heartbeat_ns == 0) FAIL(JS_CONSUMER_FC_NEEDS_HEARTBEATS);
    if (c->durable_name != NULL && c->name != NULL && strcmp(c->name, c->durable_name) != 0)
        FAIL(JS_CONSUMER_DURABLE_NAME_MISMATCH);
    const char *nm = c->durable_name != NULL ? c->durable_name : c->name;
    if (nm != NULL && strlen(nm) > LIMIT_CONSUMER_NAME_BYTES) {
        mj_js_error(error, MJ_ERR_JS_CONSUMER_NAME_TOO_LONG, "consumer name is too long, maximum allowed is %d",
                    LIMIT_CONSUMER_NAME_BYTES);
        return false;
    }
    if (nm != NULL && !name_valid(nm)) FAIL(JS_CONSUMER_BAD_DURABLE_NAME);
    return true;
}

bool consumer_config_check_update(const ConsumerConfig *a, const ConsumerConfig *b, GError **error) {
    const char *what = NULL;
    if (a->deliver_policy != b->deliver_policy) what = "deliver policy can not be updated";
    else if (a->opt_start_seq != b->opt_start_seq) what = "start sequence can not be updated";
    else if (a->has_opt_start_time != b->has_opt_start_time || a->opt_start_time_ns != b->opt_start_time_ns)
        what = "start time can not be updated";
    else if (a->ack_policy != b->ack_policy) what = "ack policy can not be updated";
    else if (a->replay_policy != b->replay_policy) what = "replay policy can not be updated";
    else if (a->idle_heartbeat_ns != b->idle_heartbeat_ns) what = "heart beats can not be updated";
    else if (a->flow_control != b->flow_control) what = "flow control can not be updated";
    else if (a->max_waiting != b->max_waiting) what = "max waiting can not be updated";
    else if ((a->deliver_subject == NULL) != (b->deliver_subject == NULL))
        what = a->deliver_subject == NULL ? "can not update pull consumer to push based"
                                          : "can not update push consumer to pull based";
    if (what != NULL) {
        mj_js_error(error, MJ_ERR_JS_CONSUMER_CREATE, "%s", what);
        return false;
    }
    return true;
}

static void add_str(JsonBuilder *b, const char *name, const char *v) {
    if (v != NULL) jsonu_add_string(b, name, v);
}

static void add_nz(JsonBuilder *b, const char *name, int64_t v) {
    if (v != 0) jsonu_add_int(b, name, v);
}

static void add_true(JsonBuilder *b, const char *name, bool v) {
    if (v) jsonu_add_bool(b, name, true);
}

/* The Go struct's field order; omitempty fields only when set (spec 3.8). */
void consumer_config_build(const ConsumerConfig *c, JsonBuilder *b) {
    json_builder_begin_object(b);
    add_str(b, "durable_name", c->durable_name);
    add_str(b, "name", c->name);
    add_str(b, "description", c->description);
    jsonu_add_string(b, "deliver_policy", deliver_names[c->deliver_policy]);
    add_nz(b, "opt_start_seq", (int64_t)c->opt_start_seq);
    if (c->has_opt_start_time) {
        g_autofree char *t = jsonu_time_format(c->opt_start_time_ns);
        jsonu_add_string(b, "opt_start_time", t);
    }
    jsonu_add_string(b, "ack_policy", ack_names[c->ack_policy]);
    add_nz(b, "ack_wait", c->ack_wait_ns);
    add_nz(b, "max_deliver", c->max_deliver);
    if (n_backoff(c) > 0) {
        json_builder_set_member_name(b, "backoff");
        json_builder_begin_array(b);
        for (guint i = 0; i < n_backoff(c); i++) json_builder_add_int_value(b, g_array_index(c->backoff_ns, int64_t, i));
        json_builder_end_array(b);
    }
    add_str(b, "filter_subject", c->filter_subject);
    jsonu_add_string(b, "replay_policy", replay_names[c->replay_policy]);
    add_nz(b, "rate_limit_bps", (int64_t)c->rate_limit_bps);
    add_str(b, "sample_freq", c->sample_freq);
    add_nz(b, "max_waiting", c->max_waiting);
    add_nz(b, "max_ack_pending", c->max_ack_pending);
    add_nz(b, "idle_heartbeat", c->idle_heartbeat_ns);
    add_true(b, "flow_control", c->flow_control);
    add_true(b, "headers_only", c->headers_only);
    add_nz(b, "max_batch", c->max_batch);
    add_nz(b, "max_expires", c->max_expires_ns);
    add_nz(b, "max_bytes", c->max_bytes);
    add_str(b, "deliver_subject", c->deliver_subject);
    add_str(b, "deliver_group", c->deliver_group);
    add_nz(b, "inactive_threshold", c->inactive_threshold_ns);
    jsonu_add_int(b, "num_replicas", c->num_replicas);
    add_true(b, "mem_storage", c->mem_storage);
    add_true(b, "direct", c->direct);
    json_builder_end_object(b);
}

static char *config_json(const ConsumerConfig *c) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    consumer_config_build(c, b);
    return jsonu_builder_to_string(b);
}

bool consumer_config_equal(const ConsumerConfig *a, const ConsumerConfig *b) {
    g_autofree char *ja = config_json(a);
    g_autofree char *jb = config_json(b);
    return strcmp(ja, jb) == 0;
}

ConsumerConfig *consumer_config_copy(const ConsumerConfig *c) {
    ConsumerConfig *n = g_memdup2(c, sizeof *c);
    n->durable_name = g_strdup(c->durable_name);
    n->name = g_strdup(c->name);
    n->description = g_strdup(c->description);
    n->filter_subject = g_strdup(c->filter_subject);
    n->sample_freq = g_strdup(c->sample_freq);
    n->deliver_subject = g_strdup(c->deliver_subject);
    n->deliver_group = g_strdup(c->deliver_group);
    if (c->backoff_ns != NULL) {
        n->backoff_ns = g_array_new(FALSE, FALSE, sizeof(int64_t));
        g_array_append_vals(n->backoff_ns, c->backoff_ns->data, c->backoff_ns->len);
    }
    return n;
}

void consumer_config_free(ConsumerConfig *c) {
    if (c == NULL) return;
    g_free(c->durable_name);
    g_free(c->name);
    g_free(c->description);
    g_free(c->filter_subject);
    g_free(c->sample_freq);
    g_free(c->deliver_subject);
    g_free(c->deliver_group);
    if (c->backoff_ns != NULL) g_array_free(c->backoff_ns, TRUE);
    g_free(c);
}

/* Go's time.Duration.String() for the values a config holds: "3s", "1.5s", "250ms", "1m0s". */
char *consumer_go_duration(int64_t ns) {
    if (ns == 0) return g_strdup("0s");
    GString *s = g_string_new(NULL);
    if (ns < 0) {
        g_string_append_c(s, '-');
        ns = -ns;
    }
    if (ns < 1000000000LL) { /* below a second: ms, µs or ns with a fraction */
        const char *unit = "ns";
        int64_t div = 1;
        if (ns >= 1000000) unit = "ms", div = 1000000;
        else if (ns >= 1000) unit = "\xc2\xb5s", div = 1000;
        g_string_append_printf(s, "%" G_GINT64_FORMAT, ns / div);
        int64_t frac = ns % div;
        if (frac > 0) {
            char buf[16];
            int width = div == 1000000 ? 6 : 3;
            g_snprintf(buf, sizeof buf, "%0*" G_GINT64_FORMAT, width, frac);
            for (int i = (int)strlen(buf) - 1; i >= 0 && buf[i] == '0'; i--) buf[i] = '\0';
            g_string_append_printf(s, ".%s", buf);
        }
        g_string_append(s, unit);
        return g_string_free(s, FALSE);
    }
    int64_t h = ns / 3600000000000LL, m = ns / 60000000000LL % 60, sec = ns / 1000000000LL % 60;
    int64_t frac = ns % 1000000000LL;
    if (h > 0) g_string_append_printf(s, "%" G_GINT64_FORMAT "h", h);
    if (h > 0 || m > 0) g_string_append_printf(s, "%" G_GINT64_FORMAT "m", m);
    g_string_append_printf(s, "%" G_GINT64_FORMAT, sec);
    if (frac > 0) {
        char buf[16];
        g_snprintf(buf, sizeof buf, "%09" G_GINT64_FORMAT, frac);
        for (int i = 8; i >= 0 && buf[i] == '0'; i--) buf[i] = '\0';
        g_string_append_printf(s, ".%s", buf);
    }
    g_string_append_c(s, 's');
    return g_string_free(s, FALSE);
}
