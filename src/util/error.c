/* The error table's lookups and the vg_error_t setters. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int code, status;
    const char *name, *type, *desc;
} entry_t;

static const entry_t table[] = {
#define VG__ERR_ROW(name, value, status, type, desc) {value, status, #name, type, desc},
    VG_ERRORS(VG__ERR_ROW)
#undef VG__ERR_ROW
};

static const entry_t *lookup(int code) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code) return &table[i];
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == VG_EINTERNAL) return &table[i];
    return &table[0];
}

const char *vg_error_str(int code) { return lookup(code)->desc; }
int vg_error_http_status(int code) { return lookup(code)->status; }
const char *vg_error_type(int code) { return lookup(code)->type; }

void vg_error_clear(vg_error_t *err) {
    if (!err) return;
    err->code = VG_OK;
    err->pos = err->end = -1;
    err->line = err->col = 0;
    err->src_file = NULL;
    err->src_line = 0;
    err->msg[0] = '\0';
}

__attribute__((format(printf, 3, 0))) static void vset(vg_error_t *err, int code, const char *fmt, va_list ap) {
    err->code = code;
    err->src_file = NULL;
    err->src_line = 0;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (n >= (int)sizeof err->msg) memcpy(err->msg + sizeof err->msg - 4, "...", 4);
}

int vg_error_set(vg_error_t *err, int code, const char *fmt, ...) {
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    err->pos = err->end = -1;
    err->line = err->col = 0;
    return code;
}

int vg_error_set_pos(vg_error_t *err, int code, long pos, long end, const char *fmt, ...) {
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    err->pos = pos;
    err->end = end;
    err->line = err->col = 0;
    return code;
}

int vg_error_corrupt(vg_error_t *err, const char *src_file, int src_line, const char *fmt, ...) {
    if (!err) return VG_ECORRUPT;
    va_list ap;
    va_start(ap, fmt);
    vset(err, VG_ECORRUPT, fmt, ap);
    va_end(ap);
    err->pos = err->end = -1;
    err->line = err->col = 0;
    err->src_file = src_file;
    err->src_line = src_line;
    return VG_ECORRUPT;
}

int vg_error_prefix(vg_error_t *err, const char *fmt, ...) {
    if (!err) return VG_OK;
    char pre[VG_ERROR_MSG_MAX], old[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    int n = snprintf(err->msg, sizeof err->msg, "%s: %s", pre, old);
    if (n >= (int)sizeof err->msg) memcpy(err->msg + sizeof err->msg - 4, "...", 4);
    return err->code;
}
