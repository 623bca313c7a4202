/* Structured logger; see log.h. */
#include "log.h"

#include "buf.h"
#include "error.h"
#include "json.h"
#include "timeutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static _Atomic int cur_level = VG_LOG_INFO;
static _Atomic int cur_format = VG_LOG_JSON;
static _Atomic int cur_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void vg_log_set_level(vg_log_level_t level) { atomic_store(&cur_level, (int)level); }
void vg_log_set_format(vg_log_format_t format) { atomic_store(&cur_format, (int)format); }
void vg_log_set_fd(int fd) { atomic_store(&cur_fd, fd); }
const char *vg_log_level_name(vg_log_level_t level) { return (unsigned)level <= VG_LOG_OFF ? level_names[level] : "?"; }

vg_log_level_t vg_log_get_level(void) { return (vg_log_level_t)atomic_load(&cur_level); }

/* logfmt value: bare when it has no space, quote or '=', quoted with JSON escapes otherwise. */
static void logfmt_str(vg_buf_t *b, const char *s) {
    size_t n = strlen(s);
    bool plain = n > 0;
    for (size_t i = 0; i < n && plain; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\\') plain = false;
    if (plain) vg_buf_append(b, s, n);
    else vg_json_escape(b, s, n);
}

void vg_log__emit(vg_log_level_t level, const char *logger, const char *msg, ...) {
    if ((int)level < atomic_load(&cur_level)) return;
    vg_buf_t line = VG_BUF_INIT;
    vg_buf_t *out = &line;
    char ts[VG_RFC3339_MAX];
    vg_rfc3339_format(vg_now_ms(), ts);
    bool json = atomic_load(&cur_format) == VG_LOG_JSON;
    va_list ap;
    va_start(ap, msg);
    if (json) {
        vg_json_t j;
        vg_json_init(&j, out);
        vg_json_obj_open(&j);
        vg_json_key(&j, "ts"), vg_json_str(&j, ts);
        vg_json_key(&j, "level"), vg_json_str(&j, level_names[level]);
        vg_json_key(&j, "logger"), vg_json_str(&j, logger);
        vg_json_key(&j, "msg"), vg_json_str(&j, msg);
        for (;;) {
            vg_logf_t f = va_arg(ap, vg_logf_t);
            if (f.kind == VG_LF_END) break;
            vg_json_key(&j, f.key);
            switch (f.kind) {
            case VG_LF_STR: vg_json_str(&j, f.v.s ? f.v.s : ""); break;
            case VG_LF_INT: vg_json_i64(&j, f.v.i); break;
            case VG_LF_FLOAT: vg_json_f64(&j, f.v.f); break;
            case VG_LF_BOOL: vg_json_bool(&j, f.v.i != 0); break;
            default: vg_json_null(&j); break;
            }
        }
        vg_json_obj_close(&j);
    } else {
        vg_buf_printf(out, "ts=%s level=%s logger=", ts, level_names[level]);
        logfmt_str(out, logger);
        vg_buf_puts(out, " msg=");
        logfmt_str(out, msg);
        for (;;) {
            vg_logf_t f = va_arg(ap, vg_logf_t);
            if (f.kind == VG_LF_END) break;
            vg_buf_printf(out, " %s=", f.key);
            char tmp[VG_FLOAT_MAX];
            switch (f.kind) {
            case VG_LF_STR: logfmt_str(out, f.v.s ? f.v.s : ""); break;
            case VG_LF_INT: vg_buf_put_i64(out, f.v.i); break;
            case VG_LF_FLOAT: vg_buf_append(out, tmp, vg_fmt_float(f.v.f, tmp)); break;
            case VG_LF_BOOL: vg_buf_puts(out, f.v.i ? "true" : "false"); break;
            default: break;
            }
        }
    }
    va_end(ap);
    vg_buf_putc(out, '\n');
    if (!out->failed) {
        int fd = atomic_load(&cur_fd);
        size_t off = 0;
        while (off < out->len) {
            ssize_t w = write(fd, out->data + off, out->len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += (size_t)w;
        }
    }
    vg_buf_deinit(out);
}
