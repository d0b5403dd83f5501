/* stream_config.h — a stream's configuration: parse, default, validate, compare, echo.
 *
 * WHAT IT IS
 *   The StreamConfig that STREAM.CREATE / STREAM.UPDATE carry (spec 3.3), decoded with Go's
 *   typing rules, completed with nats-server 2.9.10's defaults, checked with its rules, and
 *   written back as the `config` object of every stream reply (and of the persisted meta
 *   file). Pure functions: no I/O, no server, no store.
 *
 * INTERFACE
 *   stream_config_parse(obj, error)         JSON object -> config (10025 on a type error)
 *   stream_config_validate(cfg, error)      defaults + single-config rules (10052, ...)
 *   stream_config_check_update(old, new, e) what UPDATE may not change (10052)
 *   stream_config_check_template(cfg, create, e)  template_owner refused (10049 / 10052)
 *   stream_config_build(cfg, builder)       the echoed JSON object, every key of spec 3.3
 *   stream_config_equal(a, b)               same echoed JSON (CREATE idempotence)
 *   stream_config_copy / stream_config_free
 *   stream_name_valid(name, error)          nats-server's stream-name rules
 *   MJ_JS_ERROR, mj_js_error(...)           a GError carrying an MjError code and the exact
 *                                           description the client must see
 *
 * INVARIANTS (after a successful validate)
 *   - subjects is non-empty, each valid, no two equal or overlapping, none under $JS.API.>.
 *   - every "unlimited" limit is -1 (0 is normalised), duplicate_window_ns > 0 and, when
 *     max_age_ns > 0, duplicate_window_ns <= max_age_ns.
 *   - sealed implies discard new, deny_delete, deny_purge and no rollups.
 *   - 1 <= num_replicas <= 5; no mirror, sources or republish was asked for (refused).
 */
#ifndef MINIJET_STREAM_CONFIG_H
#define MINIJET_STREAM_CONFIG_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "errors.h"

typedef enum { RETENTION_LIMITS, RETENTION_INTEREST, RETENTION_WORKQUEUE } StreamRetention;
typedef enum { DISCARD_OLD, DISCARD_NEW } StreamDiscard;
typedef enum { STORAGE_FILE, STORAGE_MEMORY } StreamStorage;

typedef struct StreamConfig {
    char *name;
    char *description;            /* NULL when unset (then not echoed) */
    char **subjects;              /* NULL-terminated; NULL before validate = default [name] */
    StreamRetention retention;
    int64_t max_consumers;        /* -1 = unlimited */
    int64_t max_msgs;
    int64_t max_bytes;
    int64_t max_age_ns;           /* 0 = unlimited */
    int64_t max_msgs_per_subject;
    int64_t max_msg_size;         /* bytes of headers + payload; -1 = unlimited */
    StreamDiscard discard;
    StreamStorage storage;
    int64_t num_replicas;
    bool no_ack;
    int64_t duplicate_window_ns;
    bool allow_direct;
    bool mirror_direct;
    bool discard_new_per_subject;
    bool sealed;
    bool deny_delete;
    bool deny_purge;
    bool allow_rollup_hdrs;
    /* Requested but refused (see REFUSED FEATURES in stream_config.c); never stored. */
    bool template_owned;          /* template_owner set: nats-server refuses it on the API */
    const char *unsupported;      /* "mirror and sources are" / "republish is" when asked for */
} StreamConfig;

StreamConfig *stream_config_parse(JsonObject *o, GError **error);
bool stream_config_validate(StreamConfig *cfg, GError **error);
bool stream_config_check_update(const StreamConfig *old, StreamConfig *upd, GError **error);
bool stream_config_check_template(const StreamConfig *cfg, bool create, GError **error);
void stream_config_build(const StreamConfig *cfg, JsonBuilder *b);
bool stream_config_equal(const StreamConfig *a, const StreamConfig *b);
StreamConfig *stream_config_copy(const StreamConfig *cfg);
void stream_config_free(StreamConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StreamConfig, stream_config_free)

bool stream_name_valid(const char *name, GError **error);

#endif
