/* errors.h — errors as data: one table (errors.def) gives every error its name, its
 * protocol text or JetStream description, its code and err_code. The server's -ERR lines,
 * the JetStream API's JSON errors and the book's appendix are all generated from it.
 */
#ifndef MINIJET_ERRORS_H
#define MINIJET_ERRORS_H

#include <glib.h>
#include <stdbool.h>

typedef enum {
    MJ_OK = 0,
#define ERRDEF(name, code, err_code, fatal, text) MJ_ERR_##name,
#include "errors.def"
#undef ERRDEF
    MJ_ERR_COUNT
} MjError;

typedef struct MjErrorInfo {
    const char *name;  /* e.g. "PROTO_MAX_PAYLOAD" */
    int code;          /* JetStream HTTP-like code, 0 for protocol errors */
    int err_code;      /* JetStream err_code, 0 for protocol errors */
    int fatal;         /* 0: -ERR and go on; 1: -ERR then close; 2: close without -ERR */
    const char *text;  /* -ERR text or JSON description */
} MjErrorInfo;

/* The row for err (asserts err is a real error). */
const MjErrorInfo *mj_error_info(MjError err);

/* The GError domain of the JetStream API's errors: code = an MjError (a row above), message
 * = the description the client sees (the row's text, or a more precise one). */
#define MJ_JS_ERROR (mj_js_error_quark())
GQuark mj_js_error_quark(void);
/* Set *error to row `err`; fmt NULL = the row's own text. */
void mj_js_error(GError **error, MjError err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

#endif
