/* Decoder of the OTLP/JSON encoding of ExportMetricsServiceRequest (the protobuf JSON mapping with
 * OTLP's rules): field names in lowerCamelCase (the proto names are accepted as well), 64-bit
 * integers as decimal strings (numbers accepted), doubles as numbers or "NaN"/"Infinity"/"-Infinity",
 * enums as numbers (names accepted), bytes as base64, unknown fields ignored. The message layout is
 * otlp_pb.c's.
 *
 * Invariants: the text is parsed whole by jansson first (syntax errors carry jansson's byte offset),
 * then walked once; every value of the wrong JSON type is an error naming its path. Strings kept are
 * copied into the arena, so the input may be freed after the call. */
#include "ingest/otlp_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ingest_otlp_limits_t *lim;
    vg_arena_t *arena;
    vg_error_t *err;
    char path[256];
    size_t plen;
    size_t n_points, n_messages;
} jd_t;

/* Path building: push appends ".name" or "[i]", pop restores. */
static size_t push(jd_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t push(jd_t *d, const char *fmt, ...) {
    size_t saved = d->plen;
    if (d->plen < sizeof d->path - 1) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(d->path + d->plen, sizeof d->path - d->plen, fmt, ap);
        va_end(ap);
        if (n > 0) d->plen += (size_t)n;
        if (d->plen >= sizeof d->path) d->plen = sizeof d->path - 1;
    }
    return saved;
}
static void pop(jd_t *d, size_t saved) {
    d->plen = saved;
    d->path[saved] = 0;
}

__attribute__((format(printf, 3, 4), cold)) static int jbad(jd_t *d, int code, const char *fmt, ...) {
    char msg[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vg_error_set(d->err, code, "json: %s: %s", d->plen ? d->path + (d->path[0] == '.') : "(request)", msg);
}

/* The member `camel` of o, or its proto name `snake`. */
static json_t *jget(json_t *o, const char *camel, const char *snake) {
    json_t *v = json_object_get(o, camel);
    if (!v && snake) v = json_object_get(o, snake);
    return json_is_null(v) ? NULL : v;
}

static int want_obj(jd_t *d, json_t *v) { return json_is_object(v) ? 0 : jbad(d, VG_EINVAL, "expected an object"); }

static int want_arr(jd_t *d, json_t *v) { return json_is_array(v) ? 0 : jbad(d, VG_EINVAL, "expected an array"); }

static int get_str(jd_t *d, json_t *v, ingest_str_t *out) {
    if (!json_is_string(v)) return jbad(d, VG_EINVAL, "expected a string");
    size_t n = json_string_length(v);
    char *s = vg_arena_strndup(d->arena, n ? json_string_value(v) : "", n);
    if (!s) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    *out = (ingest_str_t){s, n};
    return 0;
}

/* 64-bit integers: a decimal string or a JSON integer. */
static int get_int(jd_t *d, json_t *v, bool is_signed, uint64_t *out) {
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (!is_signed && i < 0) return jbad(d, VG_EINVAL, "expected an unsigned integer, got %lld", (long long)i);
        *out = (uint64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double r = json_real_value(v);
        if (r == floor(r) && (is_signed ? (r >= -9223372036854775808.0 && r < 9223372036854775808.0) : (r >= 0 && r < 18446744073709551616.0))) {
            *out = is_signed ? (uint64_t)(int64_t)r : (uint64_t)r;
            return 0;
        }
        return jbad(d, VG_EINVAL, "expected an integer");
    }
    if (!json_is_string(v)) return jbad(d, VG_EINVAL, "expected an integer (a decimal string or a number)");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    char *end = NULL;
    errno = 0;
    bool neg = n && s[0] == '-';
    if (!n || !(s[neg] >= '0' && s[neg] <= '9') || (!is_signed && neg))
        return jbad(d, VG_EINVAL, "expected %s integer string, got \"%.40s\"", is_signed ? "an" : "an unsigned", s);
    if (is_signed) {
        long long x = strtoll(s, &end, 10);
        *out = (uint64_t)(int64_t)x;
    } else {
        *out = (uint64_t)strtoull(s, &end, 10);
    }
    if (errno == ERANGE) return jbad(d, VG_EINVAL, "integer \"%.40s\" out of range", s);
    if (end != s + n) return jbad(d, VG_EINVAL, "expected an integer string, got \"%.40s\"", s);
    return 0;
}

static int get_double(jd_t *d, json_t *v, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "NaN")) return *out = NAN, 0;
        if (!strcmp(s, "Infinity")) return *out = INFINITY, 0;
        if (!strcmp(s, "-Infinity")) return *out = -INFINITY, 0;
        char *end = NULL;
        size_t n = json_string_length(v);
        if (n && strspn(s, "0123456789+-.eE") == n) {
            *out = strtod(s, &end);
            if (end == s + n) return 0;
        }
        return jbad(d, VG_EINVAL, "expected a number, got \"%.40s\"", s);
    }
    return jbad(d, VG_EINVAL, "expected a number");
}

static int get_bool(jd_t *d, json_t *v, bool *out) {
    if (!json_is_boolean(v)) return jbad(d, VG_EINVAL, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Base64, standard or URL alphabet, padding optional (as the protobuf JSON mapping accepts). */
static int get_bytes(jd_t *d, json_t *v, ingest_str_t *out) {
    if (!json_is_string(v)) return jbad(d, VG_EINVAL, "expected a base64 string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    while (n && s[n - 1] == '=') n--;
    uint8_t *o = vg_arena_alloc(d->arena, n * 3 / 4 + 1);
    if (!o) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int x = b64val((unsigned char)s[i]);
        if (x < 0) return jbad(d, VG_EINVAL, "invalid base64 character at index %zu", i);
        acc = acc << 6 | (uint32_t)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    if (n % 4 == 1) return jbad(d, VG_EINVAL, "truncated base64");
    *out = (ingest_str_t){(const char *)o, k};
    return 0;
}

static int rd_any(jd_t *d, json_t *v, otlp__any_t *out, size_t depth);

static int rd_kv(jd_t *d, json_t *v, ingest_str_t *key, otlp__any_t *val, size_t depth) {
    int rc = want_obj(d, v);
    if (rc) return rc;
    json_t *k = jget(v, "key", NULL), *x = jget(v, "value", NULL);
    memset(val, 0, sizeof *val);
    *key = (ingest_str_t){"", 0};
    size_t s = push(d, ".key");
    if (k && (rc = get_str(d, k, key))) return rc;
    pop(d, s);
    if (d->lim->max_key_len && key->len > d->lim->max_key_len)
        return jbad(d, VG_ELIMIT, "attribute key of %zu bytes exceeds the limit of %zu", key->len, d->lim->max_key_len);
    s = push(d, ".value");
    if (x && (rc = rd_any(d, x, val, depth))) return rc;
    pop(d, s);
    return 0;
}

static int rd_any(jd_t *d, json_t *v, otlp__any_t *out, size_t depth) {
    memset(out, 0, sizeof *out);
    size_t max_depth = d->lim->max_depth ? d->lim->max_depth : INGEST_OTLP_MAX_DEPTH_HARD;
    if (depth > max_depth) return jbad(d, VG_ELIMIT, "attribute values nested deeper than %zu", max_depth);
    int rc = want_obj(d, v);
    if (rc) return rc;
    /* a oneof: the member present (if several, the one protobuf would keep last is not knowable from
     * JSON; the first found in this order is used) */
    json_t *x;
    size_t s;
    if ((x = jget(v, "stringValue", "string_value"))) {
        s = push(d, ".stringValue");
        out->kind = OTLP_ANY_STR;
        rc = get_str(d, x, &out->s);
    } else if ((x = jget(v, "boolValue", "bool_value"))) {
        s = push(d, ".boolValue");
        out->kind = OTLP_ANY_BOOL;
        rc = get_bool(d, x, &out->b);
    } else if ((x = jget(v, "intValue", "int_value"))) {
        s = push(d, ".intValue");
        out->kind = OTLP_ANY_INT;
        uint64_t u = 0;
        rc = get_int(d, x, true, &u);
        out->i = (int64_t)u;
    } else if ((x = jget(v, "doubleValue", "double_value"))) {
        s = push(d, ".doubleValue");
        out->kind = OTLP_ANY_DOUBLE;
        rc = get_double(d, x, &out->d);
    } else if ((x = jget(v, "bytesValue", "bytes_value"))) {
        s = push(d, ".bytesValue");
        out->kind = OTLP_ANY_BYTES;
        rc = get_bytes(d, x, &out->s);
    } else if ((x = jget(v, "arrayValue", "array_value")) || (x = jget(v, "kvlistValue", "kvlist_value"))) {
        bool arr = jget(v, "arrayValue", "array_value") != NULL;
        s = push(d, arr ? ".arrayValue" : ".kvlistValue");
        out->kind = arr ? OTLP_ANY_ARRAY : OTLP_ANY_KVLIST;
        if ((rc = want_obj(d, x))) return rc;
        json_t *vals = jget(x, "values", NULL);
        size_t n = vals ? json_array_size(vals) : 0;
        if (vals && (rc = want_arr(d, vals))) return rc;
        if (d->lim->max_attrs && n > d->lim->max_attrs)
            return jbad(d, VG_ELIMIT, "an attribute value holds %zu entries, more than the limit of %zu", n, d->lim->max_attrs);
        out->items = vg_arena_calloc(d->arena, n ? n : 1, sizeof *out->items);
        if (!arr) out->keys = vg_arena_calloc(d->arena, n ? n : 1, sizeof *out->keys);
        if (!out->items || (!arr && !out->keys)) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n && !rc; i++) {
            size_t s2 = push(d, ".values[%zu]", i);
            rc = arr ? rd_any(d, json_array_get(vals, i), &out->items[i], depth + 1)
                     : rd_kv(d, json_array_get(vals, i), &out->keys[i], &out->items[i], depth + 1);
            if (!rc) pop(d, s2);
        }
        out->n = n;
    } else {
        return 0; /* an empty AnyValue */
    }
    if (rc) return rc;
    pop(d, s);
    return 0;
}

static int rd_attrs(jd_t *d, json_t *obj, const char *camel, const char *snake, ingest_otlp_attr_t **out, size_t *n_out) {
    json_t *a = jget(obj, camel, snake);
    *out = NULL;
    *n_out = 0;
    if (!a) return 0;
    size_t s = push(d, ".%s", camel);
    int rc = want_arr(d, a);
    if (rc) return rc;
    size_t n = json_array_size(a);
    if (d->lim->max_attrs && n > d->lim->max_attrs)
        return jbad(d, VG_ELIMIT, "%zu attributes, more than the limit of %zu", n, d->lim->max_attrs);
    ingest_otlp_attr_t *v = vg_arena_calloc(d->arena, n ? n : 1, sizeof *v);
    if (!v) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t s2 = push(d, "[%zu]", i);
        otlp__any_t val;
        if ((rc = rd_kv(d, json_array_get(a, i), &v[i].key, &val, 1))) return rc;
        if ((rc = otlp__any_string(d->arena, &val, &v[i].value))) return vg_error_set(d->err, rc, "out of memory");
        if (d->lim->max_value_len && v[i].value.len > d->lim->max_value_len)
            return jbad(d, VG_ELIMIT, "attribute \"%.*s\" has a value of %zu bytes, more than the limit of %zu",
                        (int)(v[i].key.len > 64 ? 64 : v[i].key.len), v[i].key.ptr, v[i].value.len, d->lim->max_value_len);
        pop(d, s2);
    }
    *out = v;
    *n_out = n;
    pop(d, s);
    return 0;
}

/* An optional field read with fn into out: 0 when absent. */
#define OPT(obj, camel, snake, call)                                                                                   \
    do {                                                                                                               \
        json_t *x_ = jget(obj, camel, snake);                                                                          \
        if (x_) {                                                                                                      \
            size_t s_ = push(d, "." camel);                                                                            \
            int rc_ = (call);                                                                                          \
            if (rc_) return rc_;                                                                                       \
            pop(d, s_);                                                                                                \
        }                                                                                                              \
    } while (0)

static int rd_point(jd_t *d, json_t *v, ingest_otlp_type_t type, ingest_otlp_point_t *p) {
    memset(p, 0, sizeof *p);
    int rc = want_obj(d, v);
    if (rc) return rc;
    if (type != INGEST_OTLP_EXP_HISTOGRAM && (rc = rd_attrs(d, v, "attributes", NULL, &p->attrs, &p->n_attrs))) return rc;
    uint64_t u = 0;
    OPT(v, "timeUnixNano", "time_unix_nano", (x_ ? get_int(d, x_, false, &p->time_unix_nano) : 0));
    OPT(v, "startTimeUnixNano", "start_time_unix_nano", get_int(d, x_, false, &u));
    OPT(v, "flags", NULL, get_int(d, x_, false, &u));
    p->flags = (uint32_t)(jget(v, "flags", NULL) ? u : 0);
    if (type == INGEST_OTLP_GAUGE || type == INGEST_OTLP_SUM) {
        OPT(v, "asDouble", "as_double", get_double(d, x_, &p->value));
        if (jget(v, "asInt", "as_int")) {
            OPT(v, "asInt", "as_int", get_int(d, x_, true, &u));
            p->value = (double)(int64_t)u;
        }
        return 0;
    }
    OPT(v, "count", NULL, get_int(d, x_, false, &p->count));
    if (type == INGEST_OTLP_EXP_HISTOGRAM) return 0;
    OPT(v, "sum", NULL, get_double(d, x_, &p->sum));
    p->has_sum = jget(v, "sum", NULL) != NULL;
    if (type == INGEST_OTLP_HISTOGRAM) {
        json_t *bc = jget(v, "bucketCounts", "bucket_counts"), *eb = jget(v, "explicitBounds", "explicit_bounds");
        size_t s = push(d, ".bucketCounts");
        if (bc && (rc = want_arr(d, bc))) return rc;
        p->n_buckets = bc ? json_array_size(bc) : 0;
        if (!(p->bucket_counts = vg_arena_calloc(d->arena, p->n_buckets ? p->n_buckets : 1, sizeof *p->bucket_counts)))
            return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < p->n_buckets; i++) {
            size_t s2 = push(d, "[%zu]", i);
            if ((rc = get_int(d, json_array_get(bc, i), false, &p->bucket_counts[i]))) return rc;
            pop(d, s2);
        }
        pop(d, s);
        s = push(d, ".explicitBounds");
        if (eb && (rc = want_arr(d, eb))) return rc;
        p->n_bounds = eb ? json_array_size(eb) : 0;
        if (!(p->bounds = vg_arena_calloc(d->arena, p->n_bounds ? p->n_bounds : 1, sizeof *p->bounds)))
            return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < p->n_bounds; i++) {
            size_t s2 = push(d, "[%zu]", i);
            if ((rc = get_double(d, json_array_get(eb, i), &p->bounds[i]))) return rc;
            pop(d, s2);
        }
        pop(d, s);
    } else if (type == INGEST_OTLP_SUMMARY) {
        json_t *qv = jget(v, "quantileValues", "quantile_values");
        size_t s = push(d, ".quantileValues");
        if (qv && (rc = want_arr(d, qv))) return rc;
        p->n_quantiles = qv ? json_array_size(qv) : 0;
        if (!(p->quantiles = vg_arena_calloc(d->arena, p->n_quantiles ? p->n_quantiles : 1, sizeof *p->quantiles)))
            return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < p->n_quantiles; i++) {
            size_t s2 = push(d, "[%zu]", i);
            json_t *q = json_array_get(qv, i);
            if ((rc = want_obj(d, q))) return rc;
            OPT(q, "quantile", NULL, get_double(d, x_, &p->quantiles[i].quantile));
            OPT(q, "value", NULL, get_double(d, x_, &p->quantiles[i].value));
            pop(d, s2);
        }
        pop(d, s);
    }
    return 0;
}

static int get_temporality(jd_t *d, json_t *v, int *out) {
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "AGGREGATION_TEMPORALITY_UNSPECIFIED")) return *out = 0, 0;
        if (!strcmp(s, "AGGREGATION_TEMPORALITY_DELTA")) return *out = 1, 0;
        if (!strcmp(s, "AGGREGATION_TEMPORALITY_CUMULATIVE")) return *out = 2, 0;
    }
    if (!json_is_integer(v)) return jbad(d, VG_EINVAL, "expected an aggregation temporality (0, 1, 2 or its name)");
    *out = (int)json_integer_value(v);
    return 0;
}

static int rd_metric(jd_t *d, json_t *v, ingest_otlp_metric_t *m) {
    memset(m, 0, sizeof *m);
    m->name = m->unit = (ingest_str_t){"", 0};
    int rc = want_obj(d, v);
    if (rc) return rc;
    OPT(v, "name", NULL, get_str(d, x_, &m->name));
    OPT(v, "unit", NULL, get_str(d, x_, &m->unit));
    if (d->lim->max_key_len && (m->name.len > d->lim->max_key_len || m->unit.len > d->lim->max_key_len))
        return jbad(d, VG_ELIMIT, "metric name or unit longer than the limit of %zu bytes", d->lim->max_key_len);
    static const struct {
        const char *camel, *snake;
        ingest_otlp_type_t type;
    } kinds[] = {{"gauge", NULL, INGEST_OTLP_GAUGE},
                 {"sum", NULL, INGEST_OTLP_SUM},
                 {"histogram", NULL, INGEST_OTLP_HISTOGRAM},
                 {"exponentialHistogram", "exponential_histogram", INGEST_OTLP_EXP_HISTOGRAM},
                 {"summary", NULL, INGEST_OTLP_SUMMARY}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        json_t *x = jget(v, kinds[k].camel, kinds[k].snake);
        if (!x) continue;
        size_t s = push(d, ".%s", kinds[k].camel);
        if ((rc = want_obj(d, x))) return rc;
        m->type = kinds[k].type;
        json_t *dp = jget(x, "dataPoints", "data_points");
        size_t n = dp ? json_array_size(dp) : 0;
        size_t s2 = push(d, ".dataPoints");
        if (dp && (rc = want_arr(d, dp))) return rc;
        if (d->lim->max_points && d->n_points + n > d->lim->max_points)
            return jbad(d, VG_ELIMIT, "request has more than %zu data points", d->lim->max_points);
        d->n_points += n;
        if (!(m->points = vg_arena_calloc(d->arena, n ? n : 1, sizeof *m->points)))
            return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            size_t s3 = push(d, "[%zu]", i);
            if ((rc = rd_point(d, json_array_get(dp, i), m->type, &m->points[i]))) return rc;
            pop(d, s3);
        }
        m->n_points = n;
        pop(d, s2);
        if (m->type == INGEST_OTLP_SUM || m->type == INGEST_OTLP_HISTOGRAM || m->type == INGEST_OTLP_EXP_HISTOGRAM)
            OPT(x, "aggregationTemporality", "aggregation_temporality", get_temporality(d, x_, &m->temporality));
        if (m->type == INGEST_OTLP_SUM) OPT(x, "isMonotonic", "is_monotonic", get_bool(d, x_, &m->monotonic));
        pop(d, s);
        break;
    }
    return 0;
}

static int count_message(jd_t *d) {
    if (d->lim->max_messages && d->n_messages >= d->lim->max_messages)
        return jbad(d, VG_ELIMIT, "request has more than %zu resource, scope and metric messages", d->lim->max_messages);
    d->n_messages++;
    return 0;
}

static int rd_resource_metrics(jd_t *d, json_t *v, ingest_otlp_resource_t *res) {
    memset(res, 0, sizeof *res);
    int rc = want_obj(d, v);
    if (rc) return rc;
    json_t *r = jget(v, "resource", NULL);
    if (r) {
        size_t s = push(d, ".resource");
        if ((rc = want_obj(d, r)) || (rc = rd_attrs(d, r, "attributes", NULL, &res->attrs, &res->n_attrs))) return rc;
        pop(d, s);
    }
    json_t *sm = jget(v, "scopeMetrics", "scope_metrics");
    if (!sm) return 0;
    size_t s = push(d, ".scopeMetrics");
    if ((rc = want_arr(d, sm))) return rc;
    size_t cap = 0;
    for (size_t i = 0; i < json_array_size(sm); i++) {
        json_t *ms = json_is_object(json_array_get(sm, i)) ? jget(json_array_get(sm, i), "metrics", NULL) : NULL;
        cap += json_is_array(ms) ? json_array_size(ms) : 0;
    }
    if (d->lim->max_messages && cap > d->lim->max_messages)
        return jbad(d, VG_ELIMIT, "request has more than %zu resource, scope and metric messages", d->lim->max_messages);
    if (!(res->metrics = vg_arena_calloc(d->arena, cap ? cap : 1, sizeof *res->metrics)))
        return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(sm); i++) {
        size_t s2 = push(d, "[%zu]", i);
        json_t *sc = json_array_get(sm, i);
        if ((rc = want_obj(d, sc)) || (rc = count_message(d))) return rc;
        json_t *scope = jget(sc, "scope", NULL);
        if (scope) { /* not translated; its attributes are limited and must be well formed */
            size_t s3 = push(d, ".scope");
            ingest_otlp_attr_t *tmp;
            size_t n;
            if ((rc = want_obj(d, scope)) || (rc = rd_attrs(d, scope, "attributes", NULL, &tmp, &n))) return rc;
            pop(d, s3);
        }
        json_t *ms = jget(sc, "metrics", NULL);
        if (ms) {
            size_t s3 = push(d, ".metrics");
            if ((rc = want_arr(d, ms))) return rc;
            for (size_t k = 0; k < json_array_size(ms); k++) {
                size_t s4 = push(d, "[%zu]", k);
                if ((rc = count_message(d))) return rc;
                if (res->n_metrics >= cap) return jbad(d, VG_EINVAL, "inconsistent metrics");
                if ((rc = rd_metric(d, json_array_get(ms, k), &res->metrics[res->n_metrics]))) return rc;
                res->n_metrics++;
                pop(d, s4);
            }
            pop(d, s3);
        }
        pop(d, s2);
    }
    pop(d, s);
    return 0;
}

int ingest_otlp_decode_json(const void *text, size_t len, const ingest_otlp_limits_t *lim, vg_arena_t *arena,
                            ingest_otlp_request_t **out, vg_error_t *err) {
    *out = NULL;
    static const ingest_otlp_limits_t none = {0};
    jd_t d = {.lim = lim ? lim : &none, .arena = arena, .err = err};
    json_error_t je;
    json_t *root = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root)
        return vg_error_set_pos(err, VG_EINVAL, (long)je.position, (long)je.position + 1,
                                "json: %s at offset %d (line %d, column %d)", je.text, je.position, je.line, je.column);
    int rc = 0;
    ingest_otlp_request_t *req = vg_arena_calloc(arena, 1, sizeof *req);
    if (!req) {
        rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = want_obj(&d, root))) goto done;
    json_t *rm = jget(root, "resourceMetrics", "resource_metrics");
    if (rm) {
        size_t s = push(&d, "resourceMetrics");
        if ((rc = want_arr(&d, rm))) goto done;
        size_t n = json_array_size(rm);
        if (d.lim->max_messages && n > d.lim->max_messages) {
            rc = jbad(&d, VG_ELIMIT, "request has more than %zu resource, scope and metric messages", d.lim->max_messages);
            goto done;
        }
        if (!(req->resources = vg_arena_calloc(arena, n ? n : 1, sizeof *req->resources))) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            size_t s2 = push(&d, "[%zu]", i);
            if ((rc = count_message(&d)) || (rc = rd_resource_metrics(&d, json_array_get(rm, i), &req->resources[i]))) goto done;
            req->n_resources++;
            pop(&d, s2);
        }
        pop(&d, s);
    }
    req->n_points = d.n_points;
    *out = req;
done:
    json_decref(root);
    return rc;
}
