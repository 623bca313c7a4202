/* The one error table of vigil: every internal error code, its name, its HTTP status and the
 * Prometheus API `errorType` it maps to.
 *
 * Convention (DESIGN.md): functions return int — 0 ok, >0 a documented count, <0 a VG_E* code — and
 * put user-facing detail (message + position) into a caller-provided vg_error_t. The HTTP layer turns a
 * code into a status and errorType through vg_error_http_status()/vg_error_type() and nowhere else. */
#ifndef VG_UTIL_ERROR_H
#define VG_UTIL_ERROR_H

#include <stddef.h>

/* X(name, value, http_status, api_error_type, description) */
#define VG_ERRORS(X)                                                                    \
    X(VG_OK, 0, 200, "", "ok")                                                          \
    X(VG_EINVAL, -1, 400, "bad_data", "invalid argument")                               \
    X(VG_ENOMEM, -2, 500, "internal", "out of memory")                                  \
    X(VG_EIO, -3, 500, "internal", "i/o error")                                         \
    X(VG_ENOTFOUND, -4, 404, "not_found", "not found")                                  \
    X(VG_EMETHOD, -5, 405, "bad_data", "method not allowed")                            \
    X(VG_ETOOLARGE, -6, 413, "bad_data", "request too large")                           \
    X(VG_ELIMIT, -7, 422, "execution", "limit exceeded")                                \
    X(VG_EEXEC, -8, 422, "execution", "execution error")                                \
    X(VG_ETIMEOUT, -9, 503, "timeout", "timed out")                                     \
    X(VG_ECANCELED, -10, 503, "canceled", "canceled")                                   \
    X(VG_EUNAVAIL, -11, 503, "unavailable", "unavailable")                              \
    X(VG_EINTERNAL, -12, 500, "internal", "internal error")                             \
    X(VG_ECORRUPT, -13, 500, "internal", "corrupt data")                                \
    X(VG_EAUTH, -14, 401, "unauthorized", "unauthorized")                               \
    X(VG_EFORBIDDEN, -15, 403, "forbidden", "forbidden")                                \
    X(VG_ERATELIMIT, -16, 429, "too_many_requests", "rate limited")                     \
    X(VG_ECONFIG, -17, 400, "bad_data", "invalid configuration")                        \
    X(VG_EEXIST, -18, 409, "bad_data", "already exists")                                \
    X(VG_EUPSTREAM, -19, 502, "unavailable", "upstream error")                          \
    X(VG_EUNSUPPORTED, -20, 501, "internal", "not supported")                           \
    X(VG_EMEDIATYPE, -21, 415, "bad_data", "unsupported media type")

enum {
#define VG__ERR_ENUM(name, value, status, type, desc) name = value,
    VG_ERRORS(VG__ERR_ENUM)
#undef VG__ERR_ENUM
};

/* Message capacity of vg_error_t; longer messages are truncated with "...". */
#define VG_ERROR_MSG_MAX 512

/* User-facing detail of an error. pos/end are byte offsets into the input being parsed (or -1);
 * line/col are 1-based positions in a file (or 0). src_file/src_line name the line of vigil's source
 * that detected corrupt data (VG_CORRUPT), or NULL/0. */
typedef struct vg_error {
    int code;
    long pos, end;
    int line, col;
    const char *src_file;
    int src_line;
    char msg[VG_ERROR_MSG_MAX];
} vg_error_t;

/* Resets err to "no error". */
void vg_error_clear(vg_error_t *err);

/* Sets code and a printf-style message; returns code so callers can `return vg_error_set(...)`.
 * err may be NULL (the code is still returned). */
int vg_error_set(vg_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, recording a byte range [pos, end) of the input. */
int vg_error_set_pos(vg_error_t *err, int code, long pos, long end, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Corrupt bytes from disk or network: sets VG_ECORRUPT with the message and records the source line
 * that noticed (as SQLite's SQLITE_CORRUPT_BKPT does), so a report points at the check that failed.
 * The message should say where (file, offset) and what was expected versus found. Returns
 * VG_ECORRUPT. */
#define VG_CORRUPT(err, ...) vg_error_corrupt((err), __FILE__, __LINE__, __VA_ARGS__)
int vg_error_corrupt(vg_error_t *err, const char *src_file, int src_line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "<prefix>: " to err's message, keeping its code, position and source line — for a caller
 * that knows the context (file, offset) of an error a callee described. Returns err->code (VG_OK if
 * err is NULL). */
int vg_error_prefix(vg_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A code's description, HTTP status and Prometheus errorType.
 * Unknown codes map to VG_EINTERNAL's values. Returned strings are static. */
const char *vg_error_str(int code);
int vg_error_http_status(int code);
const char *vg_error_type(int code);

#endif
