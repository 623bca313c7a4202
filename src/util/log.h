/* The structured logger: one line per event, JSON (`{"ts":…,"level":…,"logger":…,"msg":…,fields}`)
 * or logfmt, written with a single write(2) so lines from concurrent threads never interleave.
 *
 *   vg_log_info("http", "listening", VG_LS("addr", addr), VG_LI("threads", 4));
 *
 * Level and format are process-wide atomics, changeable at run time (config reload). */
#ifndef VG_UTIL_LOG_H
#define VG_UTIL_LOG_H

#include <stdint.h>

typedef enum { VG_LOG_DEBUG, VG_LOG_INFO, VG_LOG_WARN, VG_LOG_ERROR, VG_LOG_OFF } vg_log_level_t;
typedef enum { VG_LOG_JSON, VG_LOG_LOGFMT } vg_log_format_t;

typedef enum { VG_LF_END, VG_LF_STR, VG_LF_INT, VG_LF_FLOAT, VG_LF_BOOL } vg_logf_kind_t;

/* One field of a log line; strings are borrowed for the duration of the call. */
typedef struct vg_logf {
    const char *key;
    vg_logf_kind_t kind;
    union {
        const char *s;
        int64_t i;
        double f;
    } v;
} vg_logf_t;

#define VG_LS(k, val) ((vg_logf_t){.key = (k), .kind = VG_LF_STR, .v.s = (val)})
#define VG_LI(k, val) ((vg_logf_t){.key = (k), .kind = VG_LF_INT, .v.i = (int64_t)(val)})
#define VG_LF(k, val) ((vg_logf_t){.key = (k), .kind = VG_LF_FLOAT, .v.f = (double)(val)})
#define VG_LB(k, val) ((vg_logf_t){.key = (k), .kind = VG_LF_BOOL, .v.i = !!(val)})
#define VG_LEND ((vg_logf_t){.key = 0, .kind = VG_LF_END})

void vg_log_set_level(vg_log_level_t level);
void vg_log_set_format(vg_log_format_t format);
/* Where lines go (default 2 = stderr). */
void vg_log_set_fd(int fd);
vg_log_level_t vg_log_get_level(void);
/* "debug", "info", "warn", "error". */
const char *vg_log_level_name(vg_log_level_t level);

/* Emits one line; the variadic part is a list of vg_logf_t terminated by VG_LEND (the macros add it). */
void vg_log__emit(vg_log_level_t level, const char *logger, const char *msg, ...);

#define vg_log_debug(logger, ...) vg_log__emit(VG_LOG_DEBUG, logger, __VA_ARGS__, VG_LEND)
#define vg_log_info(logger, ...) vg_log__emit(VG_LOG_INFO, logger, __VA_ARGS__, VG_LEND)
#define vg_log_warn(logger, ...) vg_log__emit(VG_LOG_WARN, logger, __VA_ARGS__, VG_LEND)
#define vg_log_error(logger, ...) vg_log__emit(VG_LOG_ERROR, logger, __VA_ARGS__, VG_LEND)

#endif
