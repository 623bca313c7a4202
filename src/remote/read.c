/* The remote read protocol of Prometheus 2.42 (prompb/remote.proto, types.proto), both directions in
 * this one file:
 *
 *   ReadRequest         { repeated Query queries = 1; repeated ResponseType accepted_response_types = 2; }
 *   Query               { int64 start_timestamp_ms = 1; int64 end_timestamp_ms = 2;
 *                         repeated LabelMatcher matchers = 3; ReadHints hints = 4; }
 *   LabelMatcher        { Type type = 1 (EQ, NEQ, RE, NRE); string name = 2; string value = 3; }
 *   ReadResponse        { repeated QueryResult results = 1; }
 *   QueryResult         { repeated TimeSeries timeseries = 1; }
 *   TimeSeries          { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Sample              { double value = 1; int64 timestamp = 2; }
 *   ChunkedReadResponse { repeated ChunkedSeries chunked_series = 1; int64 query_index = 2; }
 *   ChunkedSeries       { repeated Label labels = 1; repeated Chunk chunks = 2; }
 *   Chunk               { int64 min_time_ms = 1; int64 max_time_ms = 2; Encoding type = 3 (XOR = 1); bytes data = 4; }
 *
 * The request is decoded here (vigil serving) and encoded (vigil's client, read_client.c); the SAMPLES
 * response is encoded here (serving) and decoded (the client).
 *
 * Invariants of the decoders: every byte is walked once with bounds checked — varints of at most 10
 * bytes, tags with a non-zero field number that fit 32 bits, lengths inside their enclosing message,
 * wire types 0/1/2/5 (groups are refused: proto3 has none), the declared wire type for known fields;
 * accepted_response_types is taken packed or not, as protobuf allows for a repeated enum. Scalars
 * repeated in one message: the last wins. Strings are copied into the caller's arena, so nothing
 * borrows the request.
 *
 * A streamed answer is a sequence of frames: uvarint(message size), CRC32-Castagnoli of the message
 * (4 bytes, big-endian), the ChunkedReadResponse message. */
#include "remote/remote.h"

#include "util/crc32c.h"
#include "util/varint.h"

#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct {
    const uint8_t *base, *p, *end;
    vg_error_t *err;
} cur_t;

__attribute__((format(printf, 3, 4))) static int bad(const cur_t *c, const uint8_t *at, const char *fmt, ...) {
    char msg[VG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    long o = (long)(at - c->base);
    return vg_error_set_pos(c->err, VG_EINVAL, o, o + 1, "protobuf: %s at offset %ld", msg, o);
}

static int rd_varint(cur_t *c, uint64_t *v) {
    *v = 0;
    size_t n = vg_uvarint_get(c->p, c->end, v);
    if (!n) return bad(c, c->p, c->end - c->p < VG_VARINT_MAX ? "truncated varint" : "varint longer than 10 bytes");
    c->p += n;
    return 0;
}

static int rd_tag(cur_t *c, uint32_t *field, int *wt) {
    const uint8_t *at = c->p;
    uint64_t t;
    int rc = rd_varint(c, &t);
    if (rc) return rc;
    if (t > UINT32_MAX) return bad(c, at, "tag %llu out of range", (unsigned long long)t);
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    if (!*field) return bad(c, at, "invalid field number 0");
    if (*wt != WT_VARINT && *wt != WT_I64 && *wt != WT_LEN && *wt != WT_I32)
        return bad(c, at, "invalid wire type %d of field %u", *wt, *field);
    return 0;
}

static int rd_len(cur_t *c, cur_t *sub) {
    const uint8_t *at = c->p;
    uint64_t n;
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

static int skip(cur_t *c, int wt) {
    uint64_t v;
    cur_t sub;
    size_t n = wt == WT_I64 ? 8 : 4;
    switch (wt) {
    case WT_VARINT: return rd_varint(c, &v);
    case WT_LEN: return rd_len(c, &sub);
    default:
        if ((size_t)(c->end - c->p) < n) return bad(c, c->p, "truncated fixed%zu", n * 8);
        c->p += n;
        return 0;
    }
}

static int want(cur_t *c, const uint8_t *at, const char *what, int wt, int w) {
    return wt == w ? 0 : bad(c, at, "%s has wire type %d, want %d", what, wt, w);
}

static int rd_string(cur_t *c, vg_arena_t *a, const char **out) {
    cur_t s = {0};
    int rc = rd_len(c, &s);
    if (rc) return rc;
    *out = vg_arena_strndup(a, (const char *)s.p, (size_t)(s.end - s.p));
    return *out ? 0 : vg_error_set(c->err, VG_ENOMEM, "out of memory");
}

static int rd_matcher(cur_t m, vg_arena_t *a, remote_read_matcher_t *out) {
    *out = (remote_read_matcher_t){REMOTE_MATCH_EQ, "", ""};
    const uint8_t *type_at = m.p;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == 1) {
            uint64_t t;
            if ((rc = want(&m, at, "LabelMatcher.type", wt, WT_VARINT)) || (rc = rd_varint(&m, &t))) return rc;
            out->type = t > REMOTE_MATCH_NRE ? -1 : (int)t;
            type_at = at;
        } else if (f == 2 || f == 3) {
            if ((rc = want(&m, at, f == 2 ? "LabelMatcher.name" : "LabelMatcher.value", wt, WT_LEN)) ||
                (rc = rd_string(&m, a, f == 2 ? &out->name : &out->value)))
                return rc;
        } else if ((rc = skip(&m, wt))) {
            return rc;
        }
    }
    if (out->type < 0) return bad(&m, type_at, "unknown LabelMatcher type");
    return 0;
}

static int rd_query(cur_t m, const remote_read_limits_t *lim, vg_arena_t *a, remote_read_query_t *out) {
    *out = (remote_read_query_t){0};
    /* count the matchers first, so they land in one array */
    size_t n = 0;
    for (cur_t w = m; w.p < w.end;) {
        uint32_t f;
        int wt, rc = rd_tag(&w, &f, &wt);
        if (rc) return rc;
        if (f == 3 && wt == WT_LEN) n++;
        if ((rc = skip(&w, wt))) return rc;
    }
    if (lim && lim->max_matchers && n > lim->max_matchers)
        return vg_error_set(m.err, VG_ELIMIT, "a query has %zu matchers, more than the limit of %zu", n, lim->max_matchers);
    out->matchers = vg_arena_calloc(a, n ? n : 1, sizeof *out->matchers);
    if (!out->matchers) return vg_error_set(m.err, VG_ENOMEM, "out of memory");
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == 1 || f == 2) {
            uint64_t v;
            if ((rc = want(&m, at, f == 1 ? "Query.start_timestamp_ms" : "Query.end_timestamp_ms", wt, WT_VARINT)) ||
                (rc = rd_varint(&m, &v)))
                return rc;
            *(f == 1 ? &out->start_ms : &out->end_ms) = (int64_t)v;
        } else if (f == 3) {
            cur_t sub;
            if ((rc = want(&m, at, "Query.matchers", wt, WT_LEN)) || (rc = rd_len(&m, &sub)) ||
                (rc = rd_matcher(sub, a, &out->matchers[out->n_matchers++])))
                return rc;
        } else if ((rc = skip(&m, wt))) { /* hints = 4 and anything newer */
            return rc;
        }
    }
    return 0;
}

int remote_read_request_decode_pb(const void *pb, size_t len, const remote_read_limits_t *lim, vg_arena_t *arena,
                                  remote_read_request_t *out, vg_error_t *err) {
    *out = (remote_read_request_t){0};
    cur_t c = {pb, pb, (const uint8_t *)pb + len, err};
    size_t nq = 0, na = 0;
    for (cur_t w = c; w.p < w.end;) { /* pass 1: counts, and the wire format of the top level */
        const uint8_t *at = w.p;
        uint32_t f;
        int wt, rc = rd_tag(&w, &f, &wt);
        if (rc) return rc;
        if (f == 1 && (rc = want(&w, at, "ReadRequest.queries", wt, WT_LEN))) return rc;
        if (f == 2 && wt != WT_VARINT && wt != WT_LEN)
            return bad(&w, at, "ReadRequest.accepted_response_types has wire type %d, want 0 or 2", wt);
        nq += f == 1;
        na += f == 2 ? (wt == WT_LEN ? (size_t)(w.end - w.p) : 1) : 0; /* packed: at most one per byte */
        if ((rc = skip(&w, wt))) return rc;
    }
    if (lim && lim->max_queries && nq > lim->max_queries)
        return vg_error_set(err, VG_ELIMIT, "the request has %zu queries, more than the limit of %zu", nq, lim->max_queries);
    remote_read_request_t r = {0};
    r.queries = vg_arena_calloc(arena, nq ? nq : 1, sizeof *r.queries);
    r.accepted = vg_arena_calloc(arena, na ? na : 1, sizeof *r.accepted);
    if (!r.queries || !r.accepted) return vg_error_set(err, VG_ENOMEM, "out of memory");
    while (c.p < c.end) {
        uint32_t f;
        int wt, rc = rd_tag(&c, &f, &wt);
        if (rc) return rc;
        cur_t sub;
        uint64_t v;
        if (f == 1) {
            if ((rc = rd_len(&c, &sub)) || (rc = rd_query(sub, lim, arena, &r.queries[r.n_queries++]))) return rc;
        } else if (f == 2 && wt == WT_VARINT) {
            if ((rc = rd_varint(&c, &v))) return rc;
            r.accepted[r.n_accepted++] = v > INT32_MAX ? -1 : (int)v;
        } else if (f == 2) {
            if ((rc = rd_len(&c, &sub))) return rc;
            while (sub.p < sub.end) {
                if ((rc = rd_varint(&sub, &v))) return rc;
                r.accepted[r.n_accepted++] = v > INT32_MAX ? -1 : (int)v;
            }
        } else if ((rc = skip(&c, wt))) {
            return rc;
        }
    }
    *out = r;
    return 0;
}

int remote_read_request_decode(const void *body, size_t len, const remote_read_limits_t *lim, vg_arena_t *arena,
                               remote_read_request_t *out, vg_error_t *err) {
    *out = (remote_read_request_t){0};
    size_t n;
    if (snappy_uncompressed_length(body, len, &n) != SNAPPY_OK)
        return vg_error_set(err, VG_EINVAL, "snappy: the body is not a snappy block");
    /* a snappy element of k bytes expands to at most 64 (a 3-byte copy): a header claiming more is a lie,
     * refused before anything is allocated */
    if (n / 22 > len) return vg_error_set(err, VG_EINVAL, "snappy: corrupt block (claims %zu bytes from %zu)", n, len);
    if (lim && lim->max_decoded && n > lim->max_decoded)
        return vg_error_set(err, VG_ETOOLARGE, "the decompressed request of %zu bytes exceeds the limit of %zu bytes", n,
                            lim->max_decoded);
    char *pb = malloc(n ? n : 1);
    if (!pb) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t got = n;
    int rc = snappy_uncompress(body, len, pb, &got) == SNAPPY_OK && got == n
                 ? remote_read_request_decode_pb(pb, n, lim, arena, out, err)
                 : vg_error_set(err, VG_EINVAL, "snappy: corrupt block");
    free(pb);
    return rc;
}

/* ---- ReadResponse (the client's side of SAMPLES) ------------------------------------------------ */

/* The number of fields `field` with wire type WT_LEN in message m (a first pass, so arrays are sized once). */
static int count_msgs(cur_t m, uint32_t field, size_t *n) {
    *n = 0;
    while (m.p < m.end) {
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == field && wt == WT_LEN) ++*n;
        if ((rc = skip(&m, wt))) return rc;
    }
    return 0;
}

static int rd_label(cur_t m, vg_arena_t *a, model_label_t *out) {
    *out = (model_label_t){"", ""};
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == 1 || f == 2) {
            if ((rc = want(&m, at, f == 1 ? "Label.name" : "Label.value", wt, WT_LEN)) ||
                (rc = rd_string(&m, a, f == 1 ? &out->name : &out->value)))
                return rc;
        } else if ((rc = skip(&m, wt))) {
            return rc;
        }
    }
    return 0;
}

static int rd_sample(cur_t m, int64_t *t, double *v) {
    *t = 0;
    *v = 0;
    while (m.p < m.end) {
        const uint8_t *at = m.p;
        uint32_t f;
        int wt, rc = rd_tag(&m, &f, &wt);
        if (rc) return rc;
        if (f == 1) {
            if ((rc = want(&m, at, "Sample.value", wt, WT_I64))) return rc;
            if (m.end - m.p < 8) return bad(&m, m.p, "truncated fixed64");
            uint64_t bits = 0;
            for (int i = 7; i >= 0; i--) bits = bits << 8 | m.p[i];
            memcpy(v, &bits, sizeof *v);
            m.p += 8;
        } else if (f == 2) {
            uint64_t u;
            if ((rc = want(&m, at, "Sample.timestamp", wt, WT_VARINT)) || (rc = rd_varint(&m, &u))) return rc;
            *t = (int64_t)u;
        } else if ((rc = skip(&m, wt))) {
            return rc;
        }
    }
    return 0;
}

static int rd_timeseries(cur_t m, int64_t *left, vg_arena_t *a, remote_read_series_t *out) {
    size_t nl, ns;
    int rc = count_msgs(m, 1, &nl);
    if (rc || (rc = count_msgs(m, 2, &ns))) return rc;
    if (*left >= 0 && (int64_t)ns > *left) return VG_ELIMIT;
    if (*left >= 0) *left -= (int64_t)ns;
    model_label_t *ls = vg_arena_calloc(a, nl ? nl : 1, sizeof *ls);
    int64_t *t = vg_arena_alloc(a, (ns ? ns : 1) * sizeof *t);
    double *v = vg_arena_alloc(a, (ns ? ns : 1) * sizeof *v);
    if (!ls || !t || !v) return vg_error_set(m.err, VG_ENOMEM, "out of memory");
    size_t il = 0, is = 0;
    while (m.p < m.end) {
        uint32_t f;
        int wt;
        cur_t sub = {0};
        if ((rc = rd_tag(&m, &f, &wt))) return rc;
        if (f == 1 && wt == WT_LEN) {
            if ((rc = rd_len(&m, &sub)) || (rc = rd_label(sub, a, &ls[il++]))) return rc;
        } else if (f == 2 && wt == WT_LEN) {
            if ((rc = rd_len(&m, &sub)) || (rc = rd_sample(sub, &t[is], &v[is]))) return rc;
            is++;
        } else if ((rc = skip(&m, wt))) {
            return rc;
        }
    }
    model_labels_sort(ls, nl);
    *out = (remote_read_series_t){ls, nl, t, v, ns};
    return 0;
}

int remote_read_response_decode_pb(const void *pb, size_t len, int64_t max_samples, vg_arena_t *arena,
                                   remote_read_result_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    cur_t c = {pb, pb, (const uint8_t *)pb + len, err};
    size_t nr;
    int rc = count_msgs(c, 1, &nr);
    if (rc) return rc;
    remote_read_result_t *res = vg_arena_calloc(arena, nr ? nr : 1, sizeof *res);
    if (!res) return vg_error_set(err, VG_ENOMEM, "out of memory");
    int64_t left = max_samples;
    size_t k = 0;
    while (c.p < c.end) {
        uint32_t f;
        int wt;
        cur_t qr = {0};
        if ((rc = rd_tag(&c, &f, &wt))) return rc;
        if (f != 1 || wt != WT_LEN) {
            if ((rc = skip(&c, wt))) return rc;
            continue;
        }
        if ((rc = rd_len(&c, &qr))) return rc;
        size_t ns;
        if ((rc = count_msgs(qr, 1, &ns))) return rc;
        remote_read_series_t *ss = vg_arena_calloc(arena, ns ? ns : 1, sizeof *ss);
        if (!ss) return vg_error_set(err, VG_ENOMEM, "out of memory");
        size_t i = 0;
        while (qr.p < qr.end) {
            cur_t ts = {0};
            if ((rc = rd_tag(&qr, &f, &wt))) return rc;
            if (f == 1 && wt == WT_LEN) {
                if ((rc = rd_len(&qr, &ts)) || (rc = rd_timeseries(ts, &left, arena, &ss[i]))) {
                    if (rc == VG_ELIMIT)
                        rc = vg_error_set(err, VG_ELIMIT, "the answer holds more than %lld samples", (long long)max_samples);
                    return rc;
                }
                i++;
            } else if ((rc = skip(&qr, wt))) {
                return rc;
            }
        }
        res[k++] = (remote_read_result_t){ss, ns};
    }
    *out = res;
    *n_out = k;
    return 0;
}

int remote_read_response_decode(const void *body, size_t len, size_t max_decoded, int64_t max_samples,
                                vg_arena_t *arena, remote_read_result_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    size_t n;
    if (snappy_uncompressed_length(body, len, &n) != SNAPPY_OK)
        return vg_error_set(err, VG_EINVAL, "snappy: the body is not a snappy block");
    if (n / 22 > len) return vg_error_set(err, VG_EINVAL, "snappy: corrupt block (claims %zu bytes from %zu)", n, len);
    if (max_decoded && n > max_decoded)
        return vg_error_set(err, VG_ETOOLARGE, "the decompressed answer of %zu bytes exceeds the limit of %zu bytes", n,
                            max_decoded);
    char *pb = malloc(n ? n : 1);
    if (!pb) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t got = n;
    int rc = snappy_uncompress(body, len, pb, &got) == SNAPPY_OK && got == n
                 ? remote_read_response_decode_pb(pb, n, max_samples, arena, out, n_out, err)
                 : vg_error_set(err, VG_EINVAL, "snappy: corrupt block");
    free(pb);
    return rc;
}

int remote_read_negotiate(const remote_read_request_t *r, int *type, vg_error_t *err) {
    *type = REMOTE_READ_SAMPLES;
    if (!r->n_accepted) return 0;
    for (size_t i = 0; i < r->n_accepted; i++)
        if (r->accepted[i] == REMOTE_READ_SAMPLES || r->accepted[i] == REMOTE_READ_STREAMED_XOR_CHUNKS) {
            *type = r->accepted[i];
            return 0;
        }
    return vg_error_set(err, VG_EINVAL, "server does not support any of the requested response types: %d", r->accepted[0]);
}

/* ---- encoding ----------------------------------------------------------------------------------- */

static void put_varint(vg_buf_t *b, uint64_t v) {
    uint8_t t[VG_VARINT_MAX];
    vg_buf_append(b, t, vg_uvarint_put(t, v));
}

static void put_tag(vg_buf_t *b, uint32_t field, int wt) { put_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }

static void put_bytes(vg_buf_t *b, uint32_t field, const void *p, size_t n) {
    put_tag(b, field, WT_LEN);
    put_varint(b, n);
    vg_buf_append(b, p, n);
}

static void put_str(vg_buf_t *b, uint32_t field, const char *s) { put_bytes(b, field, s, strlen(s)); }

/* int64 fields are varints of the two's complement; zero is left out as proto3 does. */
static void put_i64(vg_buf_t *b, uint32_t field, int64_t v) {
    if (!v) return;
    put_tag(b, field, WT_VARINT);
    put_varint(b, (uint64_t)v);
}

static void put_double(vg_buf_t *b, uint32_t field, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (!bits) return;
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(bits >> (8 * i));
    put_tag(b, field, WT_I64);
    vg_buf_append(b, le, 8);
}

/* A sub-message: its bytes go to a scratch buffer first (its length prefix comes before it). */
static void put_msg(vg_buf_t *b, uint32_t field, vg_buf_t *sub) {
    if (sub->failed) b->failed = true;
    else put_bytes(b, field, sub->data ? sub->data : "", sub->len);
    vg_buf_reset(sub);
}

static void put_labels(vg_buf_t *b, const model_label_t *ls, size_t n, vg_buf_t *scratch) {
    for (size_t i = 0; i < n; i++) {
        put_str(scratch, 1, ls[i].name);
        put_str(scratch, 2, ls[i].value);
        put_msg(b, 1, scratch);
    }
}

int remote_read_request_encode(const remote_read_request_t *r, vg_buf_t *out) {
    vg_buf_t q = VG_BUF_INIT, m = VG_BUF_INIT;
    for (size_t i = 0; i < r->n_queries; i++) {
        const remote_read_query_t *qq = &r->queries[i];
        put_i64(&q, 1, qq->start_ms);
        put_i64(&q, 2, qq->end_ms);
        for (size_t k = 0; k < qq->n_matchers; k++) {
            put_i64(&m, 1, qq->matchers[k].type);
            put_str(&m, 2, qq->matchers[k].name);
            put_str(&m, 3, qq->matchers[k].value);
            put_msg(&q, 3, &m);
        }
        put_msg(out, 1, &q);
    }
    if (r->n_accepted) { /* packed, as gogo-protobuf writes a proto3 repeated enum */
        for (size_t i = 0; i < r->n_accepted; i++) put_varint(&m, (uint64_t)(int64_t)r->accepted[i]);
        put_msg(out, 2, &m);
    }
    vg_buf_deinit(&q);
    vg_buf_deinit(&m);
    return out->failed ? VG_ENOMEM : 0;
}

void remote_read_response_init(remote_read_response_t *r) { r->pb = (vg_buf_t)VG_BUF_INIT; }

void remote_read_response_deinit(remote_read_response_t *r) { vg_buf_deinit(&r->pb); }

int remote_read_response_query(remote_read_response_t *r, const remote_read_series_t *series, size_t n) {
    vg_buf_t qr = VG_BUF_INIT, ts = VG_BUF_INIT, s = VG_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        put_labels(&ts, series[i].labels, series[i].n_labels, &s);
        for (size_t k = 0; k < series[i].n_samples; k++) {
            put_double(&s, 1, series[i].v[k]);
            put_i64(&s, 2, series[i].t[k]);
            put_msg(&ts, 2, &s);
        }
        put_msg(&qr, 1, &ts);
    }
    put_msg(&r->pb, 1, &qr);
    vg_buf_deinit(&qr);
    vg_buf_deinit(&ts);
    vg_buf_deinit(&s);
    return r->pb.failed ? VG_ENOMEM : 0;
}

int remote_read_response_finish(remote_read_response_t *r, vg_buf_t *out) {
    if (r->pb.failed) return VG_ENOMEM;
    size_t cap = snappy_max_compressed_length(r->pb.len);
    if (vg_buf_reserve(out, cap)) return VG_ENOMEM;
    size_t n = cap;
    if (snappy_compress(r->pb.data ? r->pb.data : "", r->pb.len, out->data + out->len, &n) != SNAPPY_OK) return VG_ENOMEM;
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

int remote_read_frame(vg_buf_t *out, int64_t query_index, const remote_read_series_t *series,
                      const remote_read_chunk_t *const *chunks, const size_t *n_chunks, size_t n_series) {
    vg_buf_t msg = VG_BUF_INIT, cs = VG_BUF_INIT, s = VG_BUF_INIT;
    for (size_t i = 0; i < n_series; i++) {
        put_labels(&cs, series[i].labels, series[i].n_labels, &s);
        for (size_t k = 0; k < n_chunks[i]; k++) {
            const remote_read_chunk_t *c = &chunks[i][k];
            put_i64(&s, 1, c->min_t);
            put_i64(&s, 2, c->max_t);
            put_i64(&s, 3, 1); /* XOR */
            put_bytes(&s, 4, c->data, c->len);
            put_msg(&cs, 2, &s);
        }
        put_msg(&msg, 1, &cs);
    }
    put_i64(&msg, 2, query_index);
    int rc = msg.failed || cs.failed || s.failed ? VG_ENOMEM : 0;
    if (!rc) {
        uint32_t crc = vg_crc32c(msg.data ? msg.data : "", msg.len);
        uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
        put_varint(out, msg.len);
        vg_buf_append(out, be, 4);
        vg_buf_append(out, msg.data ? msg.data : "", msg.len);
        rc = out->failed ? VG_ENOMEM : 0;
    }
    vg_buf_deinit(&msg);
    vg_buf_deinit(&cs);
    vg_buf_deinit(&s);
    return rc;
}
