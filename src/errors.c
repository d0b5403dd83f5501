/* errors.c — the error table, expanded from errors.def. See errors.h. */
#include "errors.h"

#include <stdarg.h>

static const MjErrorInfo error_table[MJ_ERR_COUNT] = {
    [MJ_OK] = {"OK", 0, 0, 0, "ok"},
#define ERRDEF(name, c, ec, f, t) [MJ_ERR_##name] = {#name, c, ec, f, t},
#include "errors.def"
#undef ERRDEF
};

const MjErrorInfo *mj_error_info(MjError err) {
    g_assert(err > MJ_OK && err < MJ_ERR_COUNT);
    return &error_table[err];
}

G_DEFINE_QUARK(mj-js-error-quark, mj_js_error)

void mj_js_error(GError **error, MjError err, const char *fmt, ...) {
    if (fmt == NULL) {
        g_set_error_literal(error, MJ_JS_ERROR, (int)err, mj_error_info(err)->text);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, MJ_JS_ERROR, (int)err, msg);
}
