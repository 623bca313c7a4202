/* remote_write 1.0 decoder: snappy block → hand-written protobuf reader for prometheus.WriteRequest
 * (prompb/remote.proto, types.proto of Prometheus 2.42):
 *
 *   WriteRequest   { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
 *   TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2;
 *                    repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
 *   Label          { string name = 1; string value = 2; }
 *   Sample         { double value = 1; int64 timestamp = 2; }
 *   MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
 *
 * Invariants:
 *  - Pass 1 (load) walks every byte once and checks the wire format: varints of at most 10 bytes,
 *    tags that fit 32 bits with a non-zero field number, lengths inside their enclosing message,
 *    wire types 0/1/2/5 and properly nested groups (3/4) for unknown fields, the declared wire type
 *    for known ones (as gogo-protobuf, which Prometheus uses, demands). Exemplars and histograms
 *    are walked as messages and skipped. Limits are checked here, so pass 2 cannot fail.
 *  - Pass 2 (the iterators) re-walks validated bytes; its bounds checks stay in place anyway.
 *  - Scalar fields repeated inside one message: the last one wins, as protobuf specifies.
 *  - Label names and values are not validated here beyond length (label semantics — charset,
 *    UTF-8, duplicates, sorting — are model_labels_normalize()'s), so a bad series can be rejected
 *    on its own by the caller. */
#include "ingest/remote_write.h"
#include "util/varint.h"

#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };
#define MAX_GROUP_DEPTH 32

typedef struct {
    const uint8_t *base; /* start of the request, for offsets */
    const uint8_t *p, *end;
    vg_error_t *err;
} cur_t;

static size_t off(const cur_t *c, const uint8_t *at) { return (size_t)(at - c->base); }

#define HOT static inline __attribute__((always_inline))
__attribute__((format(printf, 3, 4), cold, noinline)) static int bad(const cur_t *c, const uint8_t *at,
                                                                     const char *fmt, ...);
static int bad(const cur_t *c, const uint8_t *at, const char *fmt, ...) {
    char msg[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t o = off(c, at);
    return vg_error_set_pos(c->err, VG_EINVAL, (long)o, (long)o + 1, "protobuf: %s at offset %zu", msg, o);
}

HOT int rd_varint(cur_t *c, uint64_t *v) {
    if (c->p < c->end && *c->p < 0x80) { /* one-byte varints: tags, small lengths */
        *v = *c->p++;
        return 0;
    }
    *v = 0;
    size_t n = vg_uvarint_get(c->p, c->end, v);
    if (!n) return bad(c, c->p, c->end - c->p < VG_VARINT_MAX ? "truncated varint" : "varint longer than 10 bytes");
    c->p += n;
    return 0;
}

HOT int rd_tag(cur_t *c, uint32_t *field, int *wt) {
    const uint8_t *at = c->p;
    uint64_t t = 0;
    *field = 0;
    *wt = 0;
    int rc = rd_varint(c, &t);
    if (rc) return rc;
    if (t > UINT32_MAX) return bad(c, at, "tag %llu out of range", (unsigned long long)t);
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    if (*field == 0) return bad(c, at, "invalid field number 0");
    return 0;
}

/* Reads a length prefix and returns the sub-message's [p, end) (advancing c past it). */
HOT int rd_len(cur_t *c, cur_t *sub) {
    const uint8_t *at = c->p;
    uint64_t n = 0;
    *sub = *c;
    sub->end = sub->p;
    int rc = rd_varint(c, &n);
    if (rc) return rc;
    if (n > (uint64_t)(c->end - c->p))
        return bad(c, at, "length %llu runs past the end of its message (%zu bytes left)", (unsigned long long)n,
                   (size_t)(c->end - c->p));
    *sub = *c;
    sub->end = c->p + n;
    c->p += n;
    return 0;
}

/* Skips the value of a field whose tag (at tag_at) has just been read. */
static int skip_field(cur_t *c, const uint8_t *tag_at, uint32_t field, int wt, int depth) {
    const uint8_t *at = c->p;
    uint64_t v;
    cur_t sub;
    switch (wt) {
    case WT_VARINT: return rd_varint(c, &v);
    case WT_I64:
    case WT_I32: {
        size_t n = wt == WT_I64 ? 8 : 4;
        if ((size_t)(c->end - c->p) < n) return bad(c, at, "truncated fixed%zu", n * 8);
        c->p += n;
        return 0;
    }
    case WT_LEN: return rd_len(c, &sub);
    case WT_SGROUP:
        if (depth >= MAX_GROUP_DEPTH) return bad(c, tag_at, "groups nested deeper than %d", MAX_GROUP_DEPTH);
        for (;;) {
            if (c->p >= c->end) return bad(c, c->p, "unterminated group %u", field);
            const uint8_t *t = c->p;
            uint32_t f;
            int w, rc = rd_tag(c, &f, &w);
            if (rc) return rc;
            if (w == WT_EGROUP) {
                if (f != field) return bad(c, t, "group %u closed by end of group %u", field, f);
                return 0;
            }
            rc = skip_field(c, t, f, w, depth + 1);
            if (rc) return rc;
        }
    case WT_EGROUP: return bad(c, tag_at, "end of group %u without a start", field);
    default: return bad(c, tag_at, "invalid wire type %d of field %u", wt, field);
    }
}

HOT int want_wt(cur_t *c, const uint8_t *at, const char *what, uint32_t field, int wt, int want) {
    if (wt == want) return 0;
    if (wt > WT_I32) return bad(c, at, "invalid wire type %d of field %u", wt, field);
    return bad(c, at, "field %u (%s) has wire type %d, want %d", field, what, wt, want);
}

/* Walks a message whose contents are skipped (exemplars, histograms): fields must be well formed. */
static int check_opaque(cur_t m) {
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if ((rc = skip_field(&m, at, f, wt, 0))) return rc;
    }
    return 0;
}

/* Label: name = 1, value = 2 (strings; the last occurrence wins). */
HOT int rd_label(cur_t m, ingest_label_t *out) {
    out->name.ptr = out->value.ptr = "";
    out->name.len = out->value.len = 0;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == 1 || f == 2) {
            if ((rc = want_wt(&m, at, f == 1 ? "Label.name" : "Label.value", f, wt, WT_LEN))) return rc;
            cur_t s;
            if ((rc = rd_len(&m, &s))) return rc;
            ingest_str_t *dst = f == 1 ? &out->name : &out->value;
            dst->ptr = (const char *)s.p;
            dst->len = (size_t)(s.end - s.p);
        } else if ((rc = skip_field(&m, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

/* Sample: value = 1 (double), timestamp = 2 (int64 varint, two's complement). */
HOT int rd_sample(cur_t m, ingest_rw_sample_t *out) {
    out->t_ms = 0;
    out->v = 0;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == 1) {
            if ((rc = want_wt(&m, at, "Sample.value", f, wt, WT_I64))) return rc;
            if (m.end - m.p < 8) return bad(&m, m.p, "truncated fixed64");
            uint64_t bits = 0;
            for (int i = 7; i >= 0; i--) bits = bits << 8 | m.p[i]; /* little endian on the wire */
            memcpy(&out->v, &bits, sizeof bits);
            m.p += 8;
        } else if (f == 2) {
            if ((rc = want_wt(&m, at, "Sample.timestamp", f, wt, WT_VARINT))) return rc;
            uint64_t u;
            if ((rc = rd_varint(&m, &u))) return rc;
            out->t_ms = (int64_t)u;
        } else if ((rc = skip_field(&m, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

/* One pass over a TimeSeries: labels into `labels` (when not NULL, up to cap), counts into out.
 * With lim (pass 1) samples, exemplars and histograms are checked too. */
static int rd_series(cur_t m, const ingest_rw_limits_t *lim, ingest_label_t *labels, size_t cap,
                     ingest_rw_series_t *out) {
    const bool validate = lim != NULL; /* pass 1; pass 2 only counts what pass 1 checked */
    memset(out, 0, sizeof *out);
    out->cur = out->msg = m.p;
    out->end = m.end;
    const uint8_t *lb = NULL, *le = NULL; /* the Label fields' bytes, while they are adjacent */
    bool adjacent = true;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f < 1 || f > 4) {
            if ((rc = skip_field(&m, at, f, wt, 0))) return rc;
            continue;
        }
        static const char *const names[] = {"", "TimeSeries.labels", "TimeSeries.samples", "TimeSeries.exemplars",
                                            "TimeSeries.histograms"};
        if ((rc = want_wt(&m, at, names[f], f, wt, WT_LEN))) return rc;
        cur_t s;
        if ((rc = rd_len(&m, &s))) return rc;
        if (f == 1) {
            if (!lb) lb = at;
            else if (le != at) adjacent = false;
            le = m.p;
            if (!lim && !labels) { /* pass 2 without labels: checked by pass 1, only counted */
                out->n_labels++;
                continue;
            }
            ingest_label_t l;
            if ((rc = rd_label(s, &l))) return rc;
            if (lim) {
                if (lim->max_labels && out->n_labels >= lim->max_labels)
                    return vg_error_set_pos(m.err, VG_ELIMIT, (long)off(&m, at), (long)off(&m, at) + 1,
                                            "series has more than %zu labels (offset %zu)", lim->max_labels,
                                            off(&m, at));
                if (lim->max_name_len && l.name.len > lim->max_name_len)
                    return vg_error_set_pos(m.err, VG_ELIMIT, (long)off(&m, at), (long)off(&m, at) + 1,
                                            "label name of %zu bytes exceeds the limit of %zu (offset %zu)",
                                            l.name.len, lim->max_name_len, off(&m, at));
                if (lim->max_value_len && l.value.len > lim->max_value_len)
                    return vg_error_set_pos(m.err, VG_ELIMIT, (long)off(&m, at), (long)off(&m, at) + 1,
                                            "label value of %zu bytes exceeds the limit of %zu (offset %zu)",
                                            l.value.len, lim->max_value_len, off(&m, at));
            }
            if (labels && out->n_labels < cap) labels[out->n_labels] = l;
            out->n_labels++;
        } else if (f == 2) {
            ingest_rw_sample_t smp;
            if (validate && (rc = rd_sample(s, &smp))) return rc;
            out->n_samples++;
        } else {
            if (validate && (rc = check_opaque(s))) return rc;
            if (f == 3) out->n_exemplars++;
            else out->n_histograms++;
        }
    }
    if (lb && adjacent) {
        out->label_bytes = lb;
        out->label_bytes_len = (size_t)(le - lb);
    }
    return 0;
}

/* MetricMetadata: type = 1 (enum), metric_family_name = 2, help = 4, unit = 5. */
static int rd_metadata(cur_t m, ingest_rw_metadata_t *out) {
    memset(out, 0, sizeof *out);
    out->family.ptr = out->help.ptr = out->unit.ptr = "";
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == 1) {
            if ((rc = want_wt(&m, at, "MetricMetadata.type", f, wt, WT_VARINT))) return rc;
            uint64_t u;
            if ((rc = rd_varint(&m, &u))) return rc;
            out->type = (int)(int32_t)(uint32_t)u; /* enums are int32 on the wire */
        } else if (f == 2 || f == 4 || f == 5) {
            if ((rc = want_wt(&m, at, "MetricMetadata string", f, wt, WT_LEN))) return rc;
            cur_t s;
            if ((rc = rd_len(&m, &s))) return rc;
            ingest_str_t *dst = f == 2 ? &out->family : f == 4 ? &out->help : &out->unit;
            dst->ptr = (const char *)s.p;
            dst->len = (size_t)(s.end - s.p);
        } else if ((rc = skip_field(&m, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

/* Pass 1: validates the whole request and fills r->stats. */
static int check_request(ingest_rw_reader_t *r, vg_error_t *err) {
    cur_t c = {r->data, r->data, r->data + r->len, err};
    memset(&r->stats, 0, sizeof r->stats);
    while (c.p < c.end) {
        const uint8_t *at = c.p;
        uint32_t f;
        int wt, rc = rd_tag(&c, &f, &wt);
        if (rc) return rc;
        if (f == 1 || f == 3) {
            if ((rc = want_wt(&c, at, f == 1 ? "WriteRequest.timeseries" : "WriteRequest.metadata", f, wt, WT_LEN)))
                return rc;
            cur_t s;
            if ((rc = rd_len(&c, &s))) return rc;
            if (f == 1) {
                if (r->lim.max_series && r->stats.n_series >= r->lim.max_series)
                    return vg_error_set_pos(err, VG_ELIMIT, (long)off(&c, at), (long)off(&c, at) + 1,
                                            "request has more than %zu series (offset %zu)", r->lim.max_series,
                                            off(&c, at));
                ingest_rw_series_t ser;
                if ((rc = rd_series(s, &r->lim, NULL, 0, &ser))) return rc;
                r->stats.n_series++;
                r->stats.n_samples += ser.n_samples;
                r->stats.n_exemplars += ser.n_exemplars;
                r->stats.n_histograms += ser.n_histograms;
                if (ser.n_labels > r->stats.max_labels) r->stats.max_labels = ser.n_labels;
            } else {
                ingest_rw_metadata_t md;
                if ((rc = rd_metadata(s, &md))) return rc;
                r->stats.n_metadata++;
            }
        } else if ((rc = skip_field(&c, at, f, wt, 0))) {
            return rc;
        }
    }
    return 0;
}

void ingest_rw_reader_init(ingest_rw_reader_t *r, const ingest_rw_limits_t *lim) {
    memset(r, 0, sizeof *r);
    r->lim = lim ? *lim : INGEST_RW_LIMITS_DEFAULT;
}

void ingest_rw_reader_deinit(ingest_rw_reader_t *r) {
    free(r->dbuf);
    free(r->labels);
    memset(r, 0, sizeof *r);
}

static void unload(ingest_rw_reader_t *r) {
    r->loaded = false;
    r->data = NULL;
    r->len = 0;
    r->series_pos = r->meta_pos = 0;
    memset(&r->stats, 0, sizeof r->stats);
}

int ingest_rw_reader_load_pb(ingest_rw_reader_t *r, const void *pb, size_t len, vg_error_t *err) {
    unload(r);
    r->data = pb ? pb : (const uint8_t *)"";
    r->len = pb ? len : 0;
    int rc = check_request(r, err);
    if (rc) {
        unload(r);
        return rc;
    }
    if (r->stats.max_labels > r->labels_cap) {
        ingest_label_t *l = realloc(r->labels, r->stats.max_labels * sizeof *l);
        if (!l) {
            unload(r);
            return vg_error_set(err, VG_ENOMEM, "out of memory for %zu labels", r->stats.max_labels);
        }
        r->labels = l;
        r->labels_cap = r->stats.max_labels;
    }
    r->loaded = true;
    return 0;
}

int ingest_rw_reader_load(ingest_rw_reader_t *r, const void *body, size_t len, vg_error_t *err) {
    unload(r);
    size_t ulen;
    if (!body || len == 0 || snappy_uncompressed_length(body, len, &ulen) != SNAPPY_OK)
        return vg_error_set_pos(err, VG_EINVAL, 0, 1, "snappy: corrupt input (bad length header)");
    if (r->lim.max_decoded && ulen > r->lim.max_decoded)
        return vg_error_set(err, VG_ETOOLARGE, "decoded request of %zu bytes exceeds the limit of %zu bytes", ulen,
                            r->lim.max_decoded);
    if (ulen > r->dcap) {
        uint8_t *b = malloc(ulen);
        if (!b) return vg_error_set(err, VG_ENOMEM, "out of memory for a %zu-byte request", ulen);
        free(r->dbuf);
        r->dbuf = b;
        r->dcap = ulen;
    }
    size_t out = ulen;
    if (ulen && (snappy_uncompress(body, len, (char *)r->dbuf, &out) != SNAPPY_OK || out != ulen))
        return vg_error_set(err, VG_EINVAL, "snappy: corrupt input");
    if (!ulen && snappy_validate_compressed_buffer(body, len) != SNAPPY_OK)
        return vg_error_set(err, VG_EINVAL, "snappy: corrupt input");
    return ingest_rw_reader_load_pb(r, ulen ? r->dbuf : NULL, ulen, err);
}

const ingest_rw_stats_t *ingest_rw_reader_stats(const ingest_rw_reader_t *r) { return &r->stats; }

/* Moves c just past the next length-delimited field number `field` (skipping any other field) and
 * gives its bytes in *out; false at the end (or on bytes load() would have rejected). */
static bool next_len_field(cur_t *c, uint32_t field, cur_t *out) {
    while (c->p < c->end) {
        const uint8_t *at = c->p;
        uint32_t f;
        int wt;
        if (rd_tag(c, &f, &wt)) return false;
        if (f == field && wt == WT_LEN) return rd_len(c, out) == 0;
        if (skip_field(c, at, f, wt, 0)) return false;
    }
    return false;
}

static int next_series(ingest_rw_reader_t *r, ingest_rw_series_t *out, bool raw) {
    if (!r->loaded) return 0;
    cur_t c = {r->data, r->data + r->series_pos, r->data + r->len, NULL}, s;
    if (next_len_field(&c, 1, &s)) {
        r->series_pos = (size_t)(c.p - r->data);
        if (raw && !rd_series(s, NULL, NULL, 0, out) && (out->label_bytes || !out->n_labels)) return 1;
        if (!rd_series(s, NULL, r->labels, r->labels_cap, out)) {
            out->labels = r->labels;
            return 1;
        }
    }
    r->series_pos = r->len;
    return 0;
}

int ingest_rw_reader_next_series(ingest_rw_reader_t *r, ingest_rw_series_t *out) { return next_series(r, out, false); }

int ingest_rw_reader_next_series_raw(ingest_rw_reader_t *r, ingest_rw_series_t *out) { return next_series(r, out, true); }

const ingest_label_t *ingest_rw_series_labels(ingest_rw_reader_t *r, ingest_rw_series_t *s) {
    ingest_rw_series_t again; /* the message was checked by pass 1: this cannot fail */
    cur_t m = {r->data, s->msg, s->end, NULL};
    if (!s->msg || rd_series(m, NULL, r->labels, r->labels_cap, &again)) return s->labels;
    return s->labels = r->labels;
}

bool ingest_rw_series_next_sample(ingest_rw_series_t *s, ingest_rw_sample_t *out) {
    cur_t c = {s->cur, s->cur, s->end, NULL}, m;
    if (next_len_field(&c, 2, &m) && !rd_sample(m, out)) {
        s->cur = c.p;
        return true;
    }
    s->cur = s->end;
    return false;
}

int ingest_rw_reader_next_metadata(ingest_rw_reader_t *r, ingest_rw_metadata_t *out) {
    if (!r->loaded) return 0;
    cur_t c = {r->data, r->data + r->meta_pos, r->data + r->len, NULL}, s;
    if (next_len_field(&c, 3, &s)) {
        r->meta_pos = (size_t)(c.p - r->data);
        if (!rd_metadata(s, out)) return 1;
    }
    r->meta_pos = r->len;
    return 0;
}
