/* YAML output (for /api/v1/status/config and `vigil check config`): the decoder's field tables walked
 * the other way. Every key is written, defaults included, in table order; strings are JSON-quoted
 * (valid YAML), secrets are "<secret>", durations and sizes in their shortest exact unit, so decoding
 * the output gives the same configuration (bar secrets) and writing that again gives the same bytes. */
#include "config_int.h"

#include "util/json.h"
#include "util/timeutil.h"

#include <string.h>

static void indent(vg_buf_t *b, int n) {
    for (int i = 0; i < n; i++) vg_buf_putc(b, ' ');
}

static void put_size(vg_buf_t *b, uint64_t v) {
    static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        uint64_t u = 1ull << (10 * (4 - i));
        if (v && v % u == 0) {
            vg_buf_printf(b, "%llu%s", (unsigned long long)(v / u), units[i]);
            return;
        }
    }
    vg_buf_printf(b, "%lluB", (unsigned long long)v);
}

static void write_value(vg_buf_t *b, const config__field_t *f, const char *slot, int ind) {
    char tmp[VG_DURATION_MAX];
    switch (f->type) {
    case F_STR:
    case F_ADDR:
    case F_REGEX:
        if (f->secret) vg_buf_puts(b, "<secret>");
        else vg_json_escape(b, *(char *const *)slot, strlen(*(char *const *)slot));
        break;
    case F_DURATION: vg_duration_format(*(const int64_t *)slot, tmp), vg_buf_puts(b, tmp); break;
    case F_SIZE: put_size(b, *(const uint64_t *)slot); break;
    case F_INT: vg_buf_put_i64(b, *(const int64_t *)slot); break;
    case F_BOOL: vg_buf_puts(b, *(const bool *)slot ? "true" : "false"); break;
    case F_ENUM: vg_buf_puts(b, f->names[*(const int *)slot]); break;
    case F_STRLIST: {
        const config_strlist_t *l = (const config_strlist_t *)slot;
        vg_buf_putc(b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) vg_buf_puts(b, ", ");
            vg_json_escape(b, l->v[i], strlen(l->v[i]));
        }
        vg_buf_putc(b, ']');
        break;
    }
    case F_FLOAT: {
        char tmp2[VG_FLOAT_MAX];
        vg_fmt_float_g(*(const double *)slot, tmp2);
        vg_buf_puts(b, tmp2);
        break;
    }
    case F_MAPOF: {
        const config__anylist_t *l = (const config__anylist_t *)slot;
        if (!l->n) {
            vg_buf_puts(b, "{}");
            break;
        }
        vg_buf_putc(b, '\n');
        for (size_t i = 0; i < l->n; i++) {
            const char *elem = (const char *)l->v + i * f->elem_size;
            const char *name = *(char *const *)(elem + f->key_off);
            indent(b, ind + 2);
            vg_json_escape(b, name, strlen(name));
            vg_buf_puts(b, ":\n");
            config__write_fields(b, f->sub, elem, ind + 4, false);
        }
        return;
    }
    case F_KV:
    case F_LABELS:
    case F_PARAMS:
    case F_VALUES: {
        const config_kv_t *kv = (const config_kv_t *)slot;
        vg_buf_putc(b, '{');
        for (size_t i = 0; i < kv->n; i++) {
            /* params repeat keys: group a key's values into one list */
            bool seen = false;
            bool grouped = f->type == F_PARAMS || f->type == F_VALUES;
            for (size_t k = 0; k < i && grouped; k++) seen |= !strcmp(kv->keys[k], kv->keys[i]);
            if (seen) continue;
            if (i) vg_buf_puts(b, ", ");
            vg_json_escape(b, kv->keys[i], strlen(kv->keys[i]));
            vg_buf_puts(b, ": ");
            if (!grouped) {
                vg_json_escape(b, kv->values[i], strlen(kv->values[i]));
                continue;
            }
            vg_buf_putc(b, '[');
            for (size_t k = i, m = 0; k < kv->n; k++) {
                if (strcmp(kv->keys[k], kv->keys[i])) continue;
                if (m++) vg_buf_puts(b, ", ");
                vg_json_escape(b, kv->values[k], strlen(kv->values[k]));
            }
            vg_buf_putc(b, ']');
        }
        vg_buf_putc(b, '}');
        break;
    }
    case F_STRUCT:
        vg_buf_putc(b, '\n');
        config__write_fields(b, f->sub, slot, ind + 2, false);
        return;
    case F_LIST: {
        const config__anylist_t *l = (const config__anylist_t *)slot;
        if (!l->n) {
            vg_buf_puts(b, "[]");
            break;
        }
        vg_buf_putc(b, '\n');
        for (size_t i = 0; i < l->n; i++) {
            indent(b, ind + 2);
            vg_buf_puts(b, "- ");
            config__write_fields(b, f->sub, (const char *)l->v + i * f->elem_size, ind + 4, true);
        }
        return;
    }
    }
    vg_buf_putc(b, '\n');
}

void config__write_fields(vg_buf_t *b, const config__field_t *fields, const char *base, int ind, bool first_inline) {
    for (const config__field_t *f = fields; f->key; f++) {
        const char *slot = base + f->off;
        if ((f->type == F_STR || f->type == F_ADDR || f->type == F_REGEX) && !*(char *const *)slot) continue;
        if (f->type == F_ENUM && *(const int *)slot < 0) continue; /* unset (auth.anonymous) */
        if (!first_inline) indent(b, ind);
        first_inline = false;
        vg_buf_puts(b, f->key);
        vg_buf_puts(b, ": ");
        write_value(b, f, slot, ind);
    }
}

