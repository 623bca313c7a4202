/* Protobuf decoder of opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest
 * (opentelemetry-proto v1: collector/metrics/v1, metrics/v1, common/v1, resource/v1):
 *
 *   ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
 *   ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
 *   Resource        { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
 *   ScopeMetrics    { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
 *   Metric          { string name = 1; string description = 2; string unit = 3; oneof data { Gauge gauge = 5;
 *                     Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10;
 *                     Summary summary = 11; } repeated KeyValue metadata = 12; }
 *   Gauge / Summary { repeated …DataPoint data_points = 1; }
 *   Sum             { data_points = 1; AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3; }
 *   (Exponential)Histogram { data_points = 1; aggregation_temporality = 2; }
 *   NumberDataPoint { attributes = 7; fixed64 start_time_unix_nano = 2, time_unix_nano = 3;
 *                     oneof value { double as_double = 4; sfixed64 as_int = 6; } exemplars = 5; uint32 flags = 8; }
 *   HistogramDataPoint { attributes = 9; 2, 3 as above; fixed64 count = 4; optional double sum = 5;
 *                     repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; exemplars = 8;
 *                     flags = 10; optional double min = 11, max = 12; }
 *   ExponentialHistogramDataPoint { attributes = 1; time_unix_nano = 3; count = 4; flags = 10; … }
 *   SummaryDataPoint { attributes = 7; 2, 3; fixed64 count = 4; double sum = 5;
 *                     repeated ValueAtQuantile quantile_values = 6 { double quantile = 1; double value = 2; }; flags = 8; }
 *   KeyValue        { string key = 1; AnyValue value = 2; }
 *   AnyValue        { oneof { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
 *                     double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6;
 *                     bytes bytes_value = 7; } }
 *   ArrayValue { repeated AnyValue values = 1; }  KeyValueList { repeated KeyValue values = 1; }
 *
 * Invariants: every read is bounds-checked; wire rules are remote_write.c's (varints of at most 10
 * bytes, tags within 32 bits with a non-zero field number, lengths inside their message, unknown
 * fields skipped by wire type with groups nested at most 32 deep, a known field with another wire type
 * refused) except that repeated scalars are accepted packed and unpacked, as protobuf requires.
 * Repeated fields are counted before they are read, so each array is allocated once, at its size.
 * A scalar or oneof member sent twice takes the last value. */
#include "ingest/otlp_int.h"
#include "util/varint.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };
#define MAX_GROUP_DEPTH 32

typedef struct {
    const uint8_t *base, *p, *end;
} cur_t;

typedef struct {
    const ingest_otlp_limits_t *lim;
    vg_arena_t *arena;
    vg_error_t *err;
    const uint8_t *base;
    size_t n_points, n_messages;
} dec_t;

static size_t off(const dec_t *d, const uint8_t *at) { return (size_t)(at - d->base); }

__attribute__((format(printf, 3, 4), cold)) static int bad(dec_t *d, const uint8_t *at, const char *fmt, ...) {
    char msg[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t o = off(d, at);
    return vg_error_set_pos(d->err, VG_EINVAL, (long)o, (long)o + 1, "protobuf: %s at offset %zu", msg, o);
}

__attribute__((format(printf, 3, 4), cold)) static int over(dec_t *d, const uint8_t *at, const char *fmt, ...) {
    char msg[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t o = off(d, at);
    return vg_error_set_pos(d->err, VG_ELIMIT, (long)o, (long)o + 1, "%s (offset %zu)", msg, o);
}

static int rd_varint(dec_t *d, cur_t *c, uint64_t *v) {
    *v = 0;
    size_t n = vg_uvarint_get(c->p, c->end, v);
    if (!n) return bad(d, c->p, c->end - c->p < VG_VARINT_MAX ? "truncated varint" : "varint longer than 10 bytes");
    c->p += n;
    return 0;
}

static int rd_tag(dec_t *d, cur_t *c, uint32_t *field, int *wt) {
    const uint8_t *at = c->p;
    uint64_t t;
    int rc = rd_varint(d, c, &t);
    if (rc) return rc;
    if (t > UINT32_MAX) return bad(d, at, "tag %llu out of range", (unsigned long long)t);
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    if (!*field) return bad(d, at, "invalid field number 0");
    return 0;
}

static int rd_len(dec_t *d, cur_t *c, cur_t *sub) {
    const uint8_t *at = c->p;
    uint64_t n;
    int rc = rd_varint(d, c, &n);
    if (rc) return rc;
    if (n > (uint64_t)(c->end - c->p))
        return bad(d, at, "length %llu runs past the end of its message (%zu bytes left)", (unsigned long long)n,
                   (size_t)(c->end - c->p));
    *sub = (cur_t){c->base, c->p, c->p + n};
    c->p += n;
    return 0;
}

static int rd_fixed64(dec_t *d, cur_t *c, uint64_t *v) {
    *v = 0;
    if (c->end - c->p < 8) return bad(d, c->p, "truncated fixed64");
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | c->p[i];
    *v = x;
    c->p += 8;
    return 0;
}

static int rd_double(dec_t *d, cur_t *c, double *v) {
    uint64_t bits;
    int rc = rd_fixed64(d, c, &bits);
    if (!rc) memcpy(v, &bits, sizeof bits);
    return rc;
}

static int skip_field(dec_t *d, cur_t *c, const uint8_t *tag_at, uint32_t field, int wt, int depth) {
    uint64_t v;
    cur_t sub;
    switch (wt) {
    case WT_VARINT: return rd_varint(d, c, &v);
    case WT_I64: return rd_fixed64(d, c, &v);
    case WT_I32:
        if (c->end - c->p < 4) return bad(d, c->p, "truncated fixed32");
        c->p += 4;
        return 0;
    case WT_LEN: return rd_len(d, c, &sub);
    case WT_SGROUP:
        if (depth >= MAX_GROUP_DEPTH) return bad(d, tag_at, "groups nested deeper than %d", MAX_GROUP_DEPTH);
        for (;;) {
            if (c->p >= c->end) return bad(d, c->p, "unterminated group %u", field);
            const uint8_t *t = c->p;
            uint32_t f;
            int w, rc = rd_tag(d, c, &f, &w);
            if (rc) return rc;
            if (w == WT_EGROUP) return f == field ? 0 : bad(d, t, "group %u closed by end of group %u", field, f);
            if ((rc = skip_field(d, c, t, f, w, depth + 1))) return rc;
        }
    case WT_EGROUP: return bad(d, tag_at, "end of group %u without a start", field);
    default: return bad(d, tag_at, "invalid wire type %d of field %u", wt, field);
    }
}

static int want(dec_t *d, const uint8_t *at, const char *what, uint32_t field, int wt, int wt_want) {
    if (wt == wt_want) return 0;
    if (wt > WT_I32) return bad(d, at, "invalid wire type %d of field %u", wt, field);
    return bad(d, at, "field %u (%s) has wire type %d, want %d", field, what, wt, wt_want);
}

/* Walks a message whose content is not used (scopes, exemplars, metadata): well formed or an error. */
static int check_opaque(dec_t *d, cur_t m) {
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(d, &m, &f, &wt);
        if (rc || (rc = skip_field(d, &m, at, f, wt, 0))) return rc;
    }
    return 0;
}

/* How many times the length-delimited field `field` occurs in m (other fields skipped, errors
 * left to the real read). */
static size_t count_len(dec_t *d, cur_t m, uint32_t field) {
    size_t n = 0;
    vg_error_t scratch, *saved = d->err;
    d->err = &scratch;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt;
        if (rd_tag(d, &m, &f, &wt) || skip_field(d, &m, at, f, wt, 0)) break;
        if (f == field && wt == WT_LEN) n++;
    }
    d->err = saved;
    return n;
}

static void *alloc_n(dec_t *d, size_t n, size_t size) {
    void *p = vg_arena_calloc(d->arena, n ? n : 1, size);
    if (!p) vg_error_set(d->err, VG_ENOMEM, "out of memory");
    return p;
}

static int rd_any(dec_t *d, cur_t m, otlp__any_t *out, int depth);

/* KeyValue into key/value tree. */
static int rd_kv(dec_t *d, cur_t m, ingest_str_t *key, otlp__any_t *val, int depth) {
    *key = (ingest_str_t){"", 0};
    memset(val, 0, sizeof *val);
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(d, &m, &f, &wt);
        if (rc) return rc;
        if (f == 1 || f == 2) {
            if ((rc = want(d, at, f == 1 ? "KeyValue.key" : "KeyValue.value", f, wt, WT_LEN))) return rc;
            cur_t s;
            if ((rc = rd_len(d, &m, &s))) return rc;
            if (f == 1) *key = (ingest_str_t){(const char *)s.p, (size_t)(s.end - s.p)};
            else if ((rc = rd_any(d, s, val, depth))) return rc;
        } else if ((rc = skip_field(d, &m, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

static int rd_any(dec_t *d, cur_t m, otlp__any_t *out, int depth) {
    memset(out, 0, sizeof *out);
    size_t max_depth = d->lim->max_depth ? d->lim->max_depth : INGEST_OTLP_MAX_DEPTH_HARD;
    if ((size_t)depth > max_depth) return over(d, m.p, "attribute values nested deeper than %zu", max_depth);
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(d, &m, &f, &wt);
        if (rc) return rc;
        uint64_t u;
        cur_t s;
        switch (f) {
        case 1:
        case 7:
            if ((rc = want(d, at, f == 1 ? "AnyValue.string_value" : "AnyValue.bytes_value", f, wt, WT_LEN)) ||
                (rc = rd_len(d, &m, &s)))
                return rc;
            memset(out, 0, sizeof *out);
            out->kind = f == 1 ? OTLP_ANY_STR : OTLP_ANY_BYTES;
            out->s = (ingest_str_t){(const char *)s.p, (size_t)(s.end - s.p)};
            break;
        case 2:
        case 3:
            if ((rc = want(d, at, f == 2 ? "AnyValue.bool_value" : "AnyValue.int_value", f, wt, WT_VARINT)) ||
                (rc = rd_varint(d, &m, &u)))
                return rc;
            memset(out, 0, sizeof *out);
            out->kind = f == 2 ? OTLP_ANY_BOOL : OTLP_ANY_INT;
            out->b = u != 0;
            out->i = (int64_t)u;
            break;
        case 4:
            if ((rc = want(d, at, "AnyValue.double_value", f, wt, WT_I64))) return rc;
            memset(out, 0, sizeof *out);
            out->kind = OTLP_ANY_DOUBLE;
            if ((rc = rd_double(d, &m, &out->d))) return rc;
            break;
        case 5:
        case 6: {
            if ((rc = want(d, at, f == 5 ? "AnyValue.array_value" : "AnyValue.kvlist_value", f, wt, WT_LEN)) ||
                (rc = rd_len(d, &m, &s)))
                return rc;
            memset(out, 0, sizeof *out);
            out->kind = f == 5 ? OTLP_ANY_ARRAY : OTLP_ANY_KVLIST;
            size_t n = count_len(d, s, 1);
            if (d->lim->max_attrs && n > d->lim->max_attrs)
                return over(d, at, "an attribute value holds %zu entries, more than the limit of %zu", n, d->lim->max_attrs);
            if (!(out->items = alloc_n(d, n, sizeof *out->items))) return VG_ENOMEM;
            if (f == 6 && !(out->keys = alloc_n(d, n, sizeof *out->keys))) return VG_ENOMEM;
            while (s.p < s.end) {
                const uint8_t *at2 = s.p;
                uint32_t f2;
                int wt2;
                if ((rc = rd_tag(d, &s, &f2, &wt2))) return rc;
                if (f2 != 1) {
                    if ((rc = skip_field(d, &s, at2, f2, wt2, 0))) return rc;
                    continue;
                }
                cur_t e;
                if ((rc = want(d, at2, f == 5 ? "ArrayValue.values" : "KeyValueList.values", f2, wt2, WT_LEN)) ||
                    (rc = rd_len(d, &s, &e)))
                    return rc;
                if (out->n >= n) return bad(d, at2, "inconsistent repeated field"); /* cannot happen: counted */
                rc = f == 5 ? rd_any(d, e, &out->items[out->n], depth + 1)
                            : rd_kv(d, e, &out->keys[out->n], &out->items[out->n], depth + 1);
                if (rc) return rc;
                out->n++;
            }
            break;
        }
        default:
            if ((rc = skip_field(d, &m, at, f, wt, 0))) return rc;
        }
    }
    return 0;
}

/* Reads the KeyValue at m (one element of an attributes field) into a. */
static int rd_attr(dec_t *d, cur_t m, const uint8_t *at, ingest_otlp_attr_t *a) {
    otlp__any_t v;
    int rc = rd_kv(d, m, &a->key, &v, 1);
    if (rc) return rc;
    if (d->lim->max_key_len && a->key.len > d->lim->max_key_len)
        return over(d, at, "attribute key of %zu bytes exceeds the limit of %zu", a->key.len, d->lim->max_key_len);
    if ((rc = otlp__any_string(d->arena, &v, &a->value))) return vg_error_set(d->err, rc, "out of memory");
    if (d->lim->max_value_len && a->value.len > d->lim->max_value_len)
        return over(d, at, "attribute \"%.*s\" has a value of %zu bytes, more than the limit of %zu",
                    (int)(a->key.len > 64 ? 64 : a->key.len), a->key.ptr, a->value.len, d->lim->max_value_len);
    return 0;
}

/* Allocates *out for the `field` attributes of message m (counted first). */
static int alloc_attrs(dec_t *d, cur_t m, uint32_t field, const uint8_t *at, ingest_otlp_attr_t **out, size_t *n) {
    size_t cnt = count_len(d, m, field);
    *n = 0;
    if (d->lim->max_attrs && cnt > d->lim->max_attrs)
        return over(d, at, "%zu attributes, more than the limit of %zu", cnt, d->lim->max_attrs);
    return (*out = alloc_n(d, cnt, sizeof **out)) ? 0 : VG_ENOMEM;
}

static int add_attr(dec_t *d, cur_t *m, const uint8_t *at, int wt, uint32_t f, ingest_otlp_attr_t *attrs, size_t *n) {
    cur_t s;
    int rc = want(d, at, "attributes", f, wt, WT_LEN);
    if (rc || (rc = rd_len(d, m, &s)) || (rc = rd_attr(d, s, at, &attrs[*n]))) return rc;
    (*n)++;
    return 0;
}

/* A repeated fixed64/double field, packed (LEN) or one value (I64): appends to *vals (arena array of
 * cap *cap, counted in pass 0 by the caller). */
static int rd_rep64(dec_t *d, cur_t *m, const uint8_t *at, const char *what, uint32_t f, int wt, uint64_t *vals,
                    size_t cap, size_t *n) {
    if (wt == WT_I64) {
        uint64_t v;
        int rc = rd_fixed64(d, m, &v);
        if (rc) return rc;
        if (*n < cap) vals[*n] = v;
        (*n)++;
        return 0;
    }
    int rc = want(d, at, what, f, wt, WT_LEN);
    cur_t s;
    if (rc || (rc = rd_len(d, m, &s))) return rc;
    if ((s.end - s.p) % 8) return bad(d, s.p, "packed %s of %zu bytes, not a multiple of 8", what, (size_t)(s.end - s.p));
    while (s.p < s.end) {
        uint64_t v;
        rd_fixed64(d, &s, &v);
        if (*n < cap) vals[*n] = v;
        (*n)++;
    }
    return 0;
}

/* Number of values of a repeated 64-bit field in m, packed or not. */
static size_t count_rep64(dec_t *d, cur_t m, uint32_t field) {
    size_t n = 0;
    vg_error_t scratch, *saved = d->err;
    d->err = &scratch;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt;
        if (rd_tag(d, &m, &f, &wt)) break;
        if (f == field && wt == WT_LEN) {
            cur_t s;
            if (rd_len(d, &m, &s)) break;
            n += (size_t)(s.end - s.p) / 8;
            continue;
        }
        if (f == field && wt == WT_I64) n++;
        if (skip_field(d, &m, at, f, wt, 0)) break;
    }
    d->err = saved;
    return n;
}

static int rd_point(dec_t *d, cur_t m, ingest_otlp_type_t type, ingest_otlp_point_t *p, const uint8_t *at) {
    memset(p, 0, sizeof *p);
    /* field numbers by type: attributes, flags */
    uint32_t f_attrs = type == INGEST_OTLP_HISTOGRAM ? 9 : type == INGEST_OTLP_EXP_HISTOGRAM ? 1 : 7;
    uint32_t f_flags = type == INGEST_OTLP_HISTOGRAM || type == INGEST_OTLP_EXP_HISTOGRAM ? 10 : 8;
    int rc = 0;
    if (type != INGEST_OTLP_EXP_HISTOGRAM && (rc = alloc_attrs(d, m, f_attrs, at, &p->attrs, &p->n_attrs))) return rc;
    size_t cap_b = 0, cap_e = 0, cap_q = 0;
    if (type == INGEST_OTLP_HISTOGRAM) {
        cap_b = count_rep64(d, m, 6);
        cap_e = count_rep64(d, m, 7);
        if (!(p->bucket_counts = alloc_n(d, cap_b, sizeof *p->bucket_counts)) || !(p->bounds = alloc_n(d, cap_e, sizeof *p->bounds)))
            return VG_ENOMEM;
    } else if (type == INGEST_OTLP_SUMMARY) {
        cap_q = count_len(d, m, 6);
        if (!(p->quantiles = alloc_n(d, cap_q, sizeof *p->quantiles))) return VG_ENOMEM;
    }
    while (m.p < m.end) {
        const uint8_t *fat = m.p;
        uint32_t f;
        int wt;
        if ((rc = rd_tag(d, &m, &f, &wt))) return rc;
        uint64_t u;
        if (f == f_attrs && type != INGEST_OTLP_EXP_HISTOGRAM) {
            if ((rc = add_attr(d, &m, fat, wt, f, p->attrs, &p->n_attrs))) return rc;
        } else if (f == 3) {
            if ((rc = want(d, fat, "time_unix_nano", f, wt, WT_I64)) || (rc = rd_fixed64(d, &m, &p->time_unix_nano)))
                return rc;
        } else if (f == f_flags) {
            if ((rc = want(d, fat, "flags", f, wt, WT_VARINT)) || (rc = rd_varint(d, &m, &u))) return rc;
            p->flags = (uint32_t)u;
        } else if (f == 2 && type != INGEST_OTLP_EXP_HISTOGRAM) {
            if ((rc = want(d, fat, "start_time_unix_nano", f, wt, WT_I64)) || (rc = rd_fixed64(d, &m, &u))) return rc;
        } else if ((type == INGEST_OTLP_GAUGE || type == INGEST_OTLP_SUM) && (f == 4 || f == 6)) {
            if ((rc = want(d, fat, f == 4 ? "NumberDataPoint.as_double" : "NumberDataPoint.as_int", f, wt, WT_I64)) ||
                (rc = rd_fixed64(d, &m, &u)))
                return rc;
            if (f == 4) memcpy(&p->value, &u, sizeof u);
            else p->value = (double)(int64_t)u;
        } else if (type != INGEST_OTLP_GAUGE && type != INGEST_OTLP_SUM && f == 4) {
            if ((rc = want(d, fat, "count", f, wt, WT_I64)) || (rc = rd_fixed64(d, &m, &p->count))) return rc;
        } else if ((type == INGEST_OTLP_HISTOGRAM || type == INGEST_OTLP_SUMMARY) && f == 5) {
            if ((rc = want(d, fat, "sum", f, wt, WT_I64)) || (rc = rd_double(d, &m, &p->sum))) return rc;
            p->has_sum = true;
        } else if (type == INGEST_OTLP_HISTOGRAM && f == 6) {
            if ((rc = rd_rep64(d, &m, fat, "HistogramDataPoint.bucket_counts", f, wt, p->bucket_counts, cap_b, &p->n_buckets)))
                return rc;
        } else if (type == INGEST_OTLP_HISTOGRAM && f == 7) {
            if ((rc = rd_rep64(d, &m, fat, "HistogramDataPoint.explicit_bounds", f, wt, (uint64_t *)(void *)p->bounds, cap_e,
                               &p->n_bounds)))
                return rc;
        } else if (type == INGEST_OTLP_SUMMARY && f == 6) {
            cur_t s;
            if ((rc = want(d, fat, "SummaryDataPoint.quantile_values", f, wt, WT_LEN)) || (rc = rd_len(d, &m, &s))) return rc;
            ingest_otlp_quantile_t q = {0, 0};
            while (s.p < s.end) {
                const uint8_t *qat = s.p;
                uint32_t qf;
                int qwt;
                if ((rc = rd_tag(d, &s, &qf, &qwt))) return rc;
                if (qf == 1 || qf == 2) {
                    if ((rc = want(d, qat, "ValueAtQuantile", qf, qwt, WT_I64)) ||
                        (rc = rd_double(d, &s, qf == 1 ? &q.quantile : &q.value)))
                        return rc;
                } else if ((rc = skip_field(d, &s, qat, qf, qwt, 0))) {
                    return rc;
                }
            }
            if (p->n_quantiles < cap_q) p->quantiles[p->n_quantiles++] = q;
        } else if (wt == WT_LEN && ((type == INGEST_OTLP_GAUGE || type == INGEST_OTLP_SUM) ? f == 5 : f == 8)) {
            cur_t s; /* exemplars: checked, not kept */
            if ((rc = rd_len(d, &m, &s)) || (rc = check_opaque(d, s))) return rc;
        } else if ((rc = skip_field(d, &m, fat, f, wt, 0))) {
            return rc;
        }
    }
    if (p->n_buckets > cap_b) p->n_buckets = cap_b;
    if (p->n_bounds > cap_e) p->n_bounds = cap_e;
    return 0;
}

/* Gauge, Sum, Histogram, ExponentialHistogram or Summary into m. */
static int rd_data(dec_t *d, cur_t s, ingest_otlp_metric_t *m) {
    size_t n = count_len(d, s, 1);
    if (d->lim->max_points && n > d->lim->max_points - (d->n_points < d->lim->max_points ? d->n_points : d->lim->max_points))
        return over(d, s.p, "request has more than %zu data points", d->lim->max_points);
    d->n_points += n;
    m->n_points = 0;
    m->temporality = 0;
    m->monotonic = false;
    if (!(m->points = alloc_n(d, n, sizeof *m->points))) return VG_ENOMEM;
    while (s.p < s.end) {
        const uint8_t *at = s.p;
        uint32_t f;
        int wt, rc = rd_tag(d, &s, &f, &wt);
        if (rc) return rc;
        uint64_t u;
        cur_t e;
        if (f == 1) {
            if ((rc = want(d, at, "data_points", f, wt, WT_LEN)) || (rc = rd_len(d, &s, &e))) return rc;
            if (m->n_points >= n) return bad(d, at, "inconsistent repeated field");
            if ((rc = rd_point(d, e, m->type, &m->points[m->n_points], at))) return rc;
            m->n_points++;
        } else if (f == 2 && m->type != INGEST_OTLP_GAUGE && m->type != INGEST_OTLP_SUMMARY) {
            if ((rc = want(d, at, "aggregation_temporality", f, wt, WT_VARINT)) || (rc = rd_varint(d, &s, &u))) return rc;
            m->temporality = (int)(int32_t)(uint32_t)u;
        } else if (f == 3 && m->type == INGEST_OTLP_SUM) {
            if ((rc = want(d, at, "Sum.is_monotonic", f, wt, WT_VARINT)) || (rc = rd_varint(d, &s, &u))) return rc;
            m->monotonic = u != 0;
        } else if ((rc = skip_field(d, &s, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

static int count_message(dec_t *d, const uint8_t *at, const char *what) {
    if (d->lim->max_messages && d->n_messages >= d->lim->max_messages)
        return over(d, at, "request has more than %zu resource, scope and metric messages (at a %s)", d->lim->max_messages,
                    what);
    d->n_messages++;
    return 0;
}

static int rd_metric(dec_t *d, cur_t m, ingest_otlp_metric_t *out) {
    memset(out, 0, sizeof *out);
    out->name = out->unit = (ingest_str_t){"", 0};
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(d, &m, &f, &wt);
        if (rc) return rc;
        cur_t s;
        if (f == 1 || f == 3) {
            if ((rc = want(d, at, f == 1 ? "Metric.name" : "Metric.unit", f, wt, WT_LEN)) || (rc = rd_len(d, &m, &s))) return rc;
            ingest_str_t v = {(const char *)s.p, (size_t)(s.end - s.p)};
            if (d->lim->max_key_len && v.len > d->lim->max_key_len)
                return over(d, at, "metric %s of %zu bytes exceeds the limit of %zu", f == 1 ? "name" : "unit", v.len,
                            d->lim->max_key_len);
            if (f == 1) out->name = v;
            else out->unit = v;
        } else if (f == 5 || f == 7 || f == 9 || f == 10 || f == 11) {
            static const char *const names[] = {[5] = "Metric.gauge", [7] = "Metric.sum", [9] = "Metric.histogram",
                                                [10] = "Metric.exponential_histogram", [11] = "Metric.summary"};
            if ((rc = want(d, at, names[f], f, wt, WT_LEN)) || (rc = rd_len(d, &m, &s))) return rc;
            out->type = f == 5 ? INGEST_OTLP_GAUGE : f == 7 ? INGEST_OTLP_SUM : f == 9 ? INGEST_OTLP_HISTOGRAM
                      : f == 10 ? INGEST_OTLP_EXP_HISTOGRAM : INGEST_OTLP_SUMMARY;
            if ((rc = rd_data(d, s, out))) return rc;
        } else if (f == 12 && wt == WT_LEN) {
            if ((rc = rd_len(d, &m, &s)) || (rc = check_opaque(d, s))) return rc;
        } else if ((rc = skip_field(d, &m, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

/* ScopeMetrics: its metrics appended to res->metrics (sized by the caller). */
static int rd_scope(dec_t *d, cur_t m, ingest_otlp_resource_t *res, size_t cap) {
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(d, &m, &f, &wt);
        if (rc) return rc;
        cur_t s;
        if (f == 1 || f == 2) {
            if ((rc = want(d, at, f == 1 ? "ScopeMetrics.scope" : "ScopeMetrics.metrics", f, wt, WT_LEN)) ||
                (rc = rd_len(d, &m, &s)))
                return rc;
            if (f == 1) {
                ingest_otlp_attr_t *tmp; /* the scope is not translated, but its attributes are limited */
                size_t n;
                if ((rc = alloc_attrs(d, s, 3, at, &tmp, &n)) || (rc = check_opaque(d, s))) return rc;
                continue;
            }
            if ((rc = count_message(d, at, "Metric"))) return rc;
            if (res->n_metrics >= cap) return bad(d, at, "inconsistent repeated field");
            if ((rc = rd_metric(d, s, &res->metrics[res->n_metrics]))) return rc;
            res->n_metrics++;
        } else if ((rc = skip_field(d, &m, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

static int rd_resource_metrics(dec_t *d, cur_t m, ingest_otlp_resource_t *res) {
    memset(res, 0, sizeof *res);
    /* metrics of every scope, counted up front */
    size_t cap = 0;
    {
        cur_t c = m;
        vg_error_t scratch, *saved = d->err;
        d->err = &scratch;
        while (c.p < c.end) {
            const uint8_t *at = c.p;
            uint32_t f;
            int wt;
            if (rd_tag(d, &c, &f, &wt)) break;
            if (f == 2 && wt == WT_LEN) {
                cur_t s;
                if (rd_len(d, &c, &s)) break;
                cap += count_len(d, s, 2);
            } else if (skip_field(d, &c, at, f, wt, 0)) {
                break;
            }
        }
        d->err = saved;
    }
    if (d->lim->max_messages && cap > d->lim->max_messages)
        return over(d, m.p, "request has more than %zu resource, scope and metric messages", d->lim->max_messages);
    if (!(res->metrics = alloc_n(d, cap, sizeof *res->metrics))) return VG_ENOMEM;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(d, &m, &f, &wt);
        if (rc) return rc;
        cur_t s;
        if (f == 1 || f == 2) {
            if ((rc = want(d, at, f == 1 ? "ResourceMetrics.resource" : "ResourceMetrics.scope_metrics", f, wt, WT_LEN)) ||
                (rc = rd_len(d, &m, &s)))
                return rc;
            if (f == 2) {
                if ((rc = count_message(d, at, "ScopeMetrics")) || (rc = rd_scope(d, s, res, cap))) return rc;
                continue;
            }
            if ((rc = alloc_attrs(d, s, 1, at, &res->attrs, &res->n_attrs))) return rc;
            while (s.p < s.end) { /* Resource */
                const uint8_t *rat = s.p;
                uint32_t rf;
                int rwt;
                if ((rc = rd_tag(d, &s, &rf, &rwt))) return rc;
                if (rf == 1) {
                    if ((rc = add_attr(d, &s, rat, rwt, rf, res->attrs, &res->n_attrs))) return rc;
                } else if ((rc = skip_field(d, &s, rat, rf, rwt, 0))) {
                    return rc;
                }
            }
        } else if ((rc = skip_field(d, &m, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

int ingest_otlp_decode_pb(const void *pb, size_t len, const ingest_otlp_limits_t *lim, vg_arena_t *arena,
                          ingest_otlp_request_t **out, vg_error_t *err) {
    *out = NULL;
    static const ingest_otlp_limits_t none = {0};
    const uint8_t *b = pb ? pb : (const uint8_t *)"";
    if (!pb) len = 0;
    dec_t d = {.lim = lim ? lim : &none, .arena = arena, .err = err, .base = b};
    cur_t c = {b, b, b + len};
    ingest_otlp_request_t *req = vg_arena_calloc(arena, 1, sizeof *req);
    if (!req) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t n = count_len(&d, c, 1);
    if (d.lim->max_messages && n > d.lim->max_messages)
        return over(&d, b, "request has more than %zu resource, scope and metric messages", d.lim->max_messages);
    if (!(req->resources = alloc_n(&d, n, sizeof *req->resources))) return VG_ENOMEM;
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t f;
        int wt, rc = rd_tag(&d, &c, &f, &wt);
        if (rc) return rc;
        if (f == 1) {
            cur_t s;
            if ((rc = want(&d, at, "ExportMetricsServiceRequest.resource_metrics", f, wt, WT_LEN)) || (rc = rd_len(&d, &c, &s)) ||
                (rc = count_message(&d, at, "ResourceMetrics")))
                return rc;
            if (req->n_resources >= n) return bad(&d, at, "inconsistent repeated field");
            if ((rc = rd_resource_metrics(&d, s, &req->resources[req->n_resources]))) return rc;
            req->n_resources++;
        } else if ((rc = skip_field(&d, &c, at, f, wt, 0))) {
            return rc;
        }
    }
    req->n_points = d.n_points;
    *out = req;
    return 0;
}
