/* Small helpers every Grafana file shares: error values, JSON field access and (de)serialisation,
 * the identifier checks that keep user input out of URLs, tenant-derived names and random uids. No
 * I/O. */
#include "grafana/grafana_int.h"

#include "util/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void grafana__err_clear(grafana_err_t *err) {
    if (!err) return;
    vg_error_clear(&err->err);
    err->http_status = 0;
    err->reason[0] = '\0';
}

int grafana__err_set(grafana_err_t *err, int code, const char *fmt, ...) {
    if (!err) return code;
    grafana__err_clear(err);
    char msg[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vg_error_set(&err->err, code, "%s", msg);
}

int64_t grafana__jint(const json_t *obj, const char *key) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_real(v)) return (int64_t)json_real_value(v);
    return 0;
}

const char *grafana__jstr(const json_t *obj, const char *key) {
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int grafana__dump(const json_t *j, char **out) {
    *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    return *out ? 0 : VG_ENOMEM;
}

int grafana__parse(const char *text, size_t len, json_t **out, vg_error_t *err) {
    *out = NULL;
    if (!text) return vg_error_set(err, VG_EINVAL, "missing JSON body");
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) return vg_error_set(err, VG_EINVAL, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    *out = j;
    return 0;
}

bool grafana__charset_ok(const char *s, size_t max, bool dot) {
    if (!s) return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_' || (dot && ch == '.');
        if (!ok || n >= max) return false;
    }
    return n > 0;
}

bool grafana__ident_ok(const char *s) { return grafana__charset_ok(s, 64, true) && strcmp(s, ".") && strcmp(s, ".."); }
bool grafana__uid_ok(const char *s) { return grafana__charset_ok(s, 40, false); }

int grafana__check_tenant(const char *tenant, grafana_err_t *err) {
    if (grafana__ident_ok(tenant)) return 0;
    return grafana__err_set(err, VG_EINVAL, "grafana: invalid tenant id (want 1-64 of [A-Za-z0-9._-])");
}

void grafana__org_name(const char *tenant, char out[GRAFANA__NAME_MAX]) {
    snprintf(out, GRAFANA__NAME_MAX, "vigil-%s", tenant);
}

void grafana__sa_name(const char *tenant, char out[GRAFANA__NAME_MAX]) {
    snprintf(out, GRAFANA__NAME_MAX, "metrics-%s", tenant);
}

static _Thread_local uint64_t rng_state;

uint64_t grafana__rand64(void) {
    if (!rng_state) rng_state = vg_mono_ns() ^ ((uint64_t)(uintptr_t)&rng_state << 17) ^ (uint64_t)time(NULL);
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

void grafana__random_uid(char *out, size_t n) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) out[i] = hex[grafana__rand64() & 15];
    out[n] = '\0';
}

