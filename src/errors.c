/* errors.c — the error table, expanded from errors.def. See errors.h. */
#include "errors.h"

#include <glib.h>

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
