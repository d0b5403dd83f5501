/* errors.h — errors as data: one table (errors.def) gives every error its name, its
 * protocol text or JetStream description, its code and err_code. The server's -ERR lines,
 * the JetStream API's JSON errors and the book's appendix are all generated from it.
 */
#ifndef MINIJET_ERRORS_H
#define MINIJET_ERRORS_H

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

#endif
