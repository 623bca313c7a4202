/* ingest remote_write: the decoder against bytes from an independent protobuf encoder written
 * here (round trip of labels, samples, staleness markers, metadata; exemplars and histograms
 * counted), unknown fields of every wire type at every level, last-one-wins, every truncation,
 * a table of malformed messages with their offsets, and the limits (the decoded-size limit is
 * enforced before anything is allocated). */
#include "ingest/ingest.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pb_testutil.h"
#include <snappy-c.h>

/* Unknown fields of every wire type, including a nested group. */
static void pb_junk(pb_t *b) {
    pb_tag(b, 100, 0);
    pb_varint(b, UINT64_MAX);
    pb_fixed64(b, 101, 0x1122334455667788u);
    pb_str(b, 102, "junk");
    pb_tag(b, 103, 5);
    pb_raw(b, "\1\2\3\4", 4);
    pb_tag(b, 104, 3); /* group 104 { field 1 varint, group 105 { } } */
    pb_tag(b, 1, 0);
    pb_varint(b, 7);
    pb_tag(b, 105, 3);
    pb_tag(b, 105, 4);
    pb_tag(b, 104, 4);
}

static const uint64_t stale_nan = 0x7ff0000000000002u;

/* Builds a WriteRequest: series i has labels __name__=metric_i, job=j, idx=<i>, and i%4+1 samples
 * at t = 1000*k - 5 with value i*k + 0.5 (the last sample of series 3 is a staleness marker); with
 * junk, unknown fields everywhere. */
static pb_t build_request(size_t n_series, bool junk) {
    pb_t req = {0};
    if (junk) {
        pb_junk(&req);
        pb_str(&req, 2, "cortex-source"); /* the reserved field */
    }
    for (size_t i = 0; i < n_series; i++) {
        pb_t ts = {0}, l = {0};
        char name[32], idx[32];
        snprintf(name, sizeof name, "metric_%zu", i);
        snprintf(idx, sizeof idx, "%zu", i);
        const char *kv[][2] = {{"__name__", name}, {"job", "j\xc3\xa9"}, {"idx", idx}};
        for (size_t k = 0; k < 3; k++) {
            if (junk) pb_junk(&l);
            pb_str(&l, 1, kv[k][0]);
            pb_str(&l, 2, kv[k][1]);
            pb_msg(&ts, 1, &l);
            if (junk) pb_junk(&ts);
        }
        for (size_t k = 0; k < i % 4 + 1; k++) {
            pb_t s = {0};
            if (junk) pb_junk(&s);
            if (i == 3 && k == i % 4) pb_fixed64(&s, 1, stale_nan);
            else pb_double(&s, 1, (double)(i * k) + 0.5);
            pb_tag(&s, 2, 0);
            pb_varint(&s, (uint64_t)(int64_t)(1000 * (int64_t)k - 5)); /* negative for k = 0 */
            pb_msg(&ts, 2, &s);
        }
        if (i % 2 == 0) { /* an exemplar: labels {trace_id=abc}, value 1.5, timestamp 7 */
            pb_t ex = {0}, el = {0};
            pb_str(&el, 1, "trace_id");
            pb_str(&el, 2, "abc");
            pb_msg(&ex, 1, &el);
            pb_double(&ex, 2, 1.5);
            pb_tag(&ex, 3, 0);
            pb_varint(&ex, 7);
            pb_msg(&ts, 3, &ex);
        }
        if (i % 3 == 0) { /* a native histogram: count_int = 1, sum = 2.5, schema = 3 (zigzag) */
            pb_t h = {0};
            pb_tag(&h, 1, 0);
            pb_varint(&h, 1);
            pb_double(&h, 3, 2.5);
            pb_tag(&h, 4, 0);
            pb_varint(&h, 6);
            pb_msg(&ts, 4, &h);
        }
        pb_msg(&req, 1, &ts);
    }
    pb_t md = {0};
    pb_tag(&md, 1, 0);
    pb_varint(&md, 1); /* COUNTER */
    pb_str(&md, 2, "metric_0");
    if (junk) pb_junk(&md);
    pb_str(&md, 4, "help text");
    pb_str(&md, 5, "seconds");
    pb_msg(&req, 3, &md);
    return req;
}

static char *compress(const pb_t *b, size_t *n) {
    size_t cap = snappy_max_compressed_length(b->len);
    char *out = malloc(cap);
    assert_non_null(out);
    *n = cap;
    assert_int_equal(snappy_compress((const char *)b->p, b->len, out, n), SNAPPY_OK);
    return out;
}

static bool str_eq(ingest_str_t s, const char *c) { return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0; }

/* Checks everything build_request(n, *) put in. */
static void verify(ingest_rw_reader_t *r, size_t n_series) {
    const ingest_rw_stats_t *st = ingest_rw_reader_stats(r);
    size_t want_samples = 0;
    for (size_t i = 0; i < n_series; i++) want_samples += i % 4 + 1;
    assert_int_equal(st->n_series, n_series);
    assert_int_equal(st->n_samples, want_samples);
    assert_int_equal(st->n_exemplars, (n_series + 1) / 2);
    assert_int_equal(st->n_histograms, (n_series + 2) / 3);
    assert_int_equal(st->n_metadata, 1);
    assert_int_equal(st->max_labels, n_series ? 3 : 0);
    ingest_rw_series_t s;
    size_t i = 0;
    while (ingest_rw_reader_next_series(r, &s)) {
        char name[32], idx[32];
        snprintf(name, sizeof name, "metric_%zu", i);
        snprintf(idx, sizeof idx, "%zu", i);
        assert_int_equal(s.n_labels, 3);
        assert_true(str_eq(s.labels[0].name, "__name__") && str_eq(s.labels[0].value, name));
        assert_true(str_eq(s.labels[1].name, "job") && str_eq(s.labels[1].value, "j\xc3\xa9"));
        assert_true(str_eq(s.labels[2].name, "idx") && str_eq(s.labels[2].value, idx));
        assert_int_equal(s.n_samples, i % 4 + 1);
        assert_int_equal(s.n_exemplars, i % 2 == 0);
        assert_int_equal(s.n_histograms, i % 3 == 0);
        ingest_rw_sample_t smp;
        size_t k = 0;
        while (ingest_rw_series_next_sample(&s, &smp)) {
            assert_int_equal(smp.t_ms, 1000 * (int64_t)k - 5);
            uint64_t bits;
            memcpy(&bits, &smp.v, 8);
            if (i == 3 && k == i % 4) assert_true(bits == stale_nan);
            else assert_true(smp.v == (double)(i * k) + 0.5);
            k++;
        }
        assert_int_equal(k, i % 4 + 1);
        assert_false(ingest_rw_series_next_sample(&s, &smp));
        i++;
    }
    assert_int_equal(i, n_series);
    assert_int_equal(ingest_rw_reader_next_series(r, &s), 0);
    ingest_rw_metadata_t md;
    assert_int_equal(ingest_rw_reader_next_metadata(r, &md), 1);
    assert_int_equal(md.type, 1);
    assert_true(str_eq(md.family, "metric_0") && str_eq(md.help, "help text") && str_eq(md.unit, "seconds"));
    assert_int_equal(ingest_rw_reader_next_metadata(r, &md), 0);
}

static void round_trip(void **state) {
    (void)state;
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    vg_error_t err;
    for (size_t n = 0; n < 40; n += 7) {
        pb_t req = build_request(n, false);
        size_t clen;
        char *body = compress(&req, &clen);
        if (ingest_rw_reader_load(&r, body, clen, &err) != 0) fail_msg("n=%zu: %s", n, err.msg);
        verify(&r, n);
        free(body);
        free(req.p);
    }
    ingest_rw_reader_deinit(&r);
}

/* label_bytes: the adjacent Label fields exactly, equal for equal labels; NULL once other fields come
 * between them. */
static void label_bytes(void **state) {
    (void)state;
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    vg_error_t err;
    pb_t req = build_request(5, false);
    assert_int_equal(ingest_rw_reader_load_pb(&r, req.p, req.len, &err), 0);
    ingest_rw_series_t s;
    for (size_t i = 0; ingest_rw_reader_next_series(&r, &s); i++) {
        assert_non_null(s.label_bytes);
        assert_true(s.label_bytes >= req.p && s.label_bytes + s.label_bytes_len <= req.p + req.len);
        /* three Label messages: tag, length, then name and value fields each */
        size_t want = 0;
        for (size_t k = 0; k < 3; k++)
            want += 2 + (2 + s.labels[k].name.len) + (2 + s.labels[k].value.len);
        assert_int_equal(s.label_bytes_len, want);
        assert_ptr_equal(s.label_bytes + 4, (const uint8_t *)s.labels[0].name.ptr);
        assert_ptr_equal(s.label_bytes + want - s.labels[2].value.len, (const uint8_t *)s.labels[2].value.ptr);
    }
    /* next_series_raw: the same series, labels decoded on demand */
    assert_int_equal(ingest_rw_reader_load_pb(&r, req.p, req.len, &err), 0);
    ingest_rw_reader_t full;
    ingest_rw_reader_init(&full, NULL);
    assert_int_equal(ingest_rw_reader_load_pb(&full, req.p, req.len, &err), 0);
    ingest_rw_series_t f;
    size_t seen = 0;
    while (ingest_rw_reader_next_series_raw(&r, &s)) {
        assert_int_equal(ingest_rw_reader_next_series(&full, &f), 1);
        assert_null(s.labels);
        assert_int_equal(s.n_labels, f.n_labels);
        assert_int_equal(s.n_samples, f.n_samples);
        const ingest_label_t *l = ingest_rw_series_labels(&r, &s);
        assert_ptr_equal(l, s.labels);
        for (size_t k = 0; k < s.n_labels; k++) {
            assert_ptr_equal(l[k].name.ptr, f.labels[k].name.ptr);
            assert_int_equal(l[k].value.len, f.labels[k].value.len);
            assert_ptr_equal(l[k].value.ptr, f.labels[k].value.ptr);
        }
        ingest_rw_sample_t a, b;
        while (ingest_rw_series_next_sample(&s, &a)) {
            assert_true(ingest_rw_series_next_sample(&f, &b));
            assert_int_equal(a.t_ms, b.t_ms);
            assert_memory_equal(&a.v, &b.v, sizeof a.v);
        }
        assert_false(ingest_rw_series_next_sample(&f, &b));
        seen++;
    }
    assert_int_equal(seen, 5);
    ingest_rw_reader_deinit(&full);
    pb_t again = build_request(5, false); /* the same request: the same bytes per series */
    assert_int_equal(again.len, req.len);
    assert_memory_equal(again.p, req.p, req.len);
    free(again.p);
    free(req.p);
    req = build_request(3, true); /* unknown fields between the labels */
    assert_int_equal(ingest_rw_reader_load_pb(&r, req.p, req.len, &err), 0);
    while (ingest_rw_reader_next_series_raw(&r, &s)) { /* decoded at once: no bytes to identify them */
        assert_null(s.label_bytes);
        assert_int_equal(s.label_bytes_len, 0);
        assert_non_null(s.labels);
        assert_int_equal(s.n_labels, 3);
        assert_ptr_equal(ingest_rw_series_labels(&r, &s), s.labels);
    }
    free(req.p);
    ingest_rw_reader_deinit(&r);
}

static void unknown_fields_skipped(void **state) {
    (void)state;
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    vg_error_t err;
    pb_t req = build_request(9, true);
    size_t clen;
    char *body = compress(&req, &clen);
    if (ingest_rw_reader_load(&r, body, clen, &err) != 0) fail_msg("%s", err.msg);
    verify(&r, 9);
    /* the same through load_pb (already decompressed) */
    assert_int_equal(ingest_rw_reader_load_pb(&r, req.p, req.len, &err), 0);
    verify(&r, 9);
    free(body);
    free(req.p);
    ingest_rw_reader_deinit(&r);
}

static void last_one_wins(void **state) {
    (void)state;
    pb_t req = {0}, ts = {0}, l = {0}, s = {0};
    pb_str(&l, 1, "first");
    pb_str(&l, 2, "v1");
    pb_str(&l, 1, "second");
    pb_str(&l, 2, "v2");
    pb_msg(&ts, 1, &l);
    pb_double(&s, 1, 1.0);
    pb_tag(&s, 2, 0);
    pb_varint(&s, 10);
    pb_double(&s, 1, 2.0);
    pb_tag(&s, 2, 0);
    pb_varint(&s, 20);
    pb_msg(&ts, 2, &s);
    pb_msg(&ts, 2, &s); /* an empty Sample: defaults 0, 0 */
    pb_msg(&req, 1, &ts);
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    vg_error_t err;
    assert_int_equal(ingest_rw_reader_load_pb(&r, req.p, req.len, &err), 0);
    ingest_rw_series_t ser;
    assert_int_equal(ingest_rw_reader_next_series(&r, &ser), 1);
    assert_true(str_eq(ser.labels[0].name, "second") && str_eq(ser.labels[0].value, "v2"));
    ingest_rw_sample_t smp;
    assert_true(ingest_rw_series_next_sample(&ser, &smp));
    assert_true(smp.v == 2.0 && smp.t_ms == 20);
    assert_true(ingest_rw_series_next_sample(&ser, &smp));
    assert_true(smp.v == 0.0 && smp.t_ms == 0);
    assert_false(ingest_rw_series_next_sample(&ser, &smp));
    free(req.p);
    ingest_rw_reader_deinit(&r);
}

/* Every prefix of the protobuf bytes and of the snappy body: a clean error or a consistent parse. */
static void truncations(void **state) {
    (void)state;
    pb_t req = build_request(6, true);
    size_t clen;
    char *body = compress(&req, &clen);
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    vg_error_t err;
    size_t ok = 0;
    for (size_t n = 0; n < req.len; n++) {
        uint8_t *cp = malloc(n ? n : 1);
        memcpy(cp, req.p, n);
        int rc = ingest_rw_reader_load_pb(&r, cp, n, &err);
        if (rc == 0) {
            ok++;
            ingest_rw_series_t s;
            ingest_rw_sample_t smp;
            size_t ns = 0, nsmp = 0;
            while (ingest_rw_reader_next_series(&r, &s)) {
                ns++;
                while (ingest_rw_series_next_sample(&s, &smp)) nsmp++;
            }
            assert_int_equal(ns, ingest_rw_reader_stats(&r)->n_series);
            assert_int_equal(nsmp, ingest_rw_reader_stats(&r)->n_samples);
        } else {
            assert_int_equal(rc, VG_EINVAL);
            assert_non_null(strstr(err.msg, "at offset"));
            assert_true(err.pos >= 0 && (size_t)err.pos <= n);
            ingest_rw_series_t s;
            assert_int_equal(ingest_rw_reader_next_series(&r, &s), 0);
        }
        free(cp);
    }
    assert_true(ok > 0 && ok < req.len / 4); /* a few prefixes end on a field boundary */
    for (size_t n = 0; n < clen; n++) {
        char *cp = malloc(n ? n : 1);
        memcpy(cp, body, n);
        int rc = ingest_rw_reader_load(&r, cp, n, &err);
        assert_int_equal(rc, VG_EINVAL);
        assert_non_null(strstr(err.msg, "snappy"));
        free(cp);
    }
    free(body);
    free(req.p);
    ingest_rw_reader_deinit(&r);
}

typedef struct {
    const char *name;
    const char *bytes;
    size_t len;
    int code;
    const char *msg;
} bad_t;

#define B(s) s, sizeof s - 1
static const bad_t bad_pb[] = {
    {"field 0", B("\x00\x01"), VG_EINVAL, "protobuf: invalid field number 0 at offset 0"},
    {"wire type 6", B("\x0e"), VG_EINVAL, "protobuf: invalid wire type 6 of field 1 at offset 0"},
    {"wire type 7", B("\x0a\x00\x3f"), VG_EINVAL, "protobuf: invalid wire type 7 of field 7 at offset 2"},
    {"truncated tag", B("\x80"), VG_EINVAL, "protobuf: truncated varint at offset 0"},
    {"overlong varint", B("\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), VG_EINVAL,
     "protobuf: varint longer than 10 bytes at offset 1"},
    {"tag above 32 bits", B("\x80\x80\x80\x80\x80\x01"), VG_EINVAL, "protobuf: tag 34359738368 out of range at offset 0"},
    {"length past end", B("\x0a\x05\x0a\x00"), VG_EINVAL,
     "protobuf: length 5 runs past the end of its message (2 bytes left) at offset 1"},
    {"timeseries as varint", B("\x08\x01"), VG_EINVAL,
     "protobuf: field 1 (WriteRequest.timeseries) has wire type 0, want 2 at offset 0"},
    {"metadata as fixed32", B("\x1d\x00\x00\x00\x00"), VG_EINVAL,
     "protobuf: field 3 (WriteRequest.metadata) has wire type 5, want 2 at offset 0"},
    {"labels as varint", B("\x0a\x02\x08\x01"), VG_EINVAL,
     "protobuf: field 1 (TimeSeries.labels) has wire type 0, want 2 at offset 2"},
    {"label name as varint", B("\x0a\x04\x0a\x02\x08\x01"), VG_EINVAL,
     "protobuf: field 1 (Label.name) has wire type 0, want 2 at offset 4"},
    {"sample value as fixed32", B("\x0a\x07\x12\x05\x0d\x00\x00\x00\x00"), VG_EINVAL,
     "protobuf: field 1 (Sample.value) has wire type 5, want 1 at offset 4"},
    {"sample timestamp as fixed64", B("\x0a\x0b\x12\x09\x11\x00\x00\x00\x00\x00\x00\x00\x00"), VG_EINVAL,
     "protobuf: field 2 (Sample.timestamp) has wire type 1, want 0 at offset 4"},
    {"truncated sample value", B("\x0a\x06\x12\x04\x09\x00\x00\x00"), VG_EINVAL,
     "protobuf: truncated fixed64 at offset 5"},
    {"label length past its message", B("\x0a\x03\x0a\x05\x0a\x00\x00\x00\x00"), VG_EINVAL,
     "protobuf: length 5 runs past the end of its message (1 bytes left) at offset 3"},
    {"unterminated group", B("\x2b\x08\x01"), VG_EINVAL, "protobuf: unterminated group 5 at offset 3"},
    {"end group without start", B("\x2c"), VG_EINVAL, "protobuf: end of group 5 without a start at offset 0"},
    {"mismatched group", B("\x2b\x34"), VG_EINVAL, "protobuf: group 5 closed by end of group 6 at offset 1"},
    {"truncated fixed32", B("\x2d\x00\x00"), VG_EINVAL, "protobuf: truncated fixed32 at offset 1"},
    {"bad exemplar inside", B("\x0a\x03\x1a\x01\x0e"), VG_EINVAL, "protobuf: invalid wire type 6 of field 1 at offset 4"},
    {"metadata type as string", B("\x1a\x03\x0a\x01\x41"), VG_EINVAL,
     "protobuf: field 1 (MetricMetadata.type) has wire type 2, want 0 at offset 2"},
};

static void malformed_table(void **state) {
    (void)state;
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    int failures = 0;
    for (size_t i = 0; i < sizeof bad_pb / sizeof bad_pb[0]; i++) {
        const bad_t *c = &bad_pb[i];
        uint8_t *cp = malloc(c->len);
        memcpy(cp, c->bytes, c->len);
        vg_error_t err;
        vg_error_clear(&err);
        int rc = ingest_rw_reader_load_pb(&r, cp, c->len, &err);
        if (rc != c->code || strcmp(err.msg, c->msg) != 0) {
            print_error("%s: rc=%d msg=[%s]\n  want rc=%d msg=[%s]\n", c->name, rc, err.msg, c->code, c->msg);
            failures++;
        }
        /* the same bytes compressed fail the same way */
        pb_t b = {0};
        pb_raw(&b, c->bytes, c->len);
        size_t clen;
        char *body = compress(&b, &clen);
        vg_error_t err2;
        assert_int_equal(ingest_rw_reader_load(&r, body, clen, &err2), c->code);
        assert_string_equal(err2.msg, err.msg);
        free(body);
        free(b.p);
        free(cp);
    }
    /* groups nested too deep */
    pb_t deep = {0};
    for (int d = 0; d < 40; d++) pb_tag(&deep, 9, 3);
    for (int d = 0; d < 40; d++) pb_tag(&deep, 9, 4);
    vg_error_t err;
    assert_int_equal(ingest_rw_reader_load_pb(&r, deep.p, deep.len, &err), VG_EINVAL);
    assert_string_equal(err.msg, "protobuf: groups nested deeper than 32 at offset 32");
    free(deep.p);
    /* garbage that is not snappy */
    assert_int_equal(ingest_rw_reader_load(&r, "\xff\xff\xff\xff\xff\xff", 6, &err), VG_EINVAL);
    assert_int_equal(ingest_rw_reader_load(&r, "", 0, &err), VG_EINVAL);
    assert_int_equal(ingest_rw_reader_load(&r, "\x05\x00", 2, &err), VG_EINVAL); /* claims 5, holds 0 */
    assert_int_equal(failures, 0);
    ingest_rw_reader_deinit(&r);
}

static void limits(void **state) {
    (void)state;
    pb_t req = build_request(10, false);
    size_t clen;
    char *body = compress(&req, &clen);
    vg_error_t err;
    ingest_rw_reader_t r;

    /* decoded size: refused from the header alone, before any buffer exists */
    ingest_rw_reader_init(&r, &(ingest_rw_limits_t){.max_decoded = req.len - 1});
    assert_int_equal(ingest_rw_reader_load(&r, body, clen, &err), VG_ETOOLARGE);
    char want[128];
    snprintf(want, sizeof want, "decoded request of %zu bytes exceeds the limit of %zu bytes", req.len, req.len - 1);
    assert_string_equal(err.msg, want);
    assert_null(r.dbuf);
    ingest_rw_reader_deinit(&r);
    /* a 2 GiB claim in a 6-byte body */
    ingest_rw_reader_init(&r, NULL);
    assert_int_equal(ingest_rw_reader_load(&r, "\x80\x80\x80\x80\x08\x00", 6, &err), VG_ETOOLARGE);
    assert_null(r.dbuf);
    ingest_rw_reader_deinit(&r);

    ingest_rw_reader_init(&r, &(ingest_rw_limits_t){.max_decoded = req.len, .max_series = 9});
    assert_int_equal(ingest_rw_reader_load(&r, body, clen, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "request has more than 9 series"));
    ingest_rw_reader_deinit(&r);

    ingest_rw_reader_init(&r, &(ingest_rw_limits_t){.max_labels = 2});
    assert_int_equal(ingest_rw_reader_load(&r, body, clen, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "series has more than 2 labels"));
    ingest_rw_reader_deinit(&r);

    ingest_rw_reader_init(&r, &(ingest_rw_limits_t){.max_name_len = 7});
    assert_int_equal(ingest_rw_reader_load(&r, body, clen, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "label name of 8 bytes exceeds the limit of 7"));
    ingest_rw_reader_deinit(&r);

    ingest_rw_reader_init(&r, &(ingest_rw_limits_t){.max_value_len = 7});
    assert_int_equal(ingest_rw_reader_load(&r, body, clen, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "label value of 8 bytes exceeds the limit of 7"));
    /* exactly at the limits passes; the reader is reusable after an error */
    r.lim = (ingest_rw_limits_t){.max_decoded = req.len, .max_series = 10, .max_labels = 3, .max_name_len = 8,
                                 .max_value_len = 8};
    assert_int_equal(ingest_rw_reader_load(&r, body, clen, &err), 0);
    verify(&r, 10);
    ingest_rw_reader_deinit(&r);
    free(body);
    free(req.p);
}

/* A request as Prometheus 2.42 sent it (captured from a real server remote-writing its own
 * metrics; see tests/unit/ingest/testdata/README). Skipped when the file is absent. */
static void captured_payload(void **state) {
    (void)state;
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/unit/ingest/testdata/prometheus-2.42.rw", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) skip();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *body = malloc((size_t)n);
    assert_int_equal(fread(body, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    ingest_rw_reader_t r;
    ingest_rw_reader_init(&r, NULL);
    vg_error_t err;
    if (ingest_rw_reader_load(&r, body, (size_t)n, &err) != 0) fail_msg("%s", err.msg);
    const ingest_rw_stats_t *st = ingest_rw_reader_stats(&r);
    assert_true(st->n_series > 10);
    ingest_rw_series_t s;
    size_t up = 0, samples = 0;
    while (ingest_rw_reader_next_series(&r, &s)) {
        bool has_name = false;
        for (size_t i = 0; i < s.n_labels; i++) {
            if (str_eq(s.labels[i].name, "__name__")) has_name = true;
            if (str_eq(s.labels[i].name, "__name__") && str_eq(s.labels[i].value, "up")) up++;
        }
        assert_true(has_name);
        ingest_rw_sample_t smp;
        while (ingest_rw_series_next_sample(&s, &smp)) {
            assert_true(smp.t_ms > 1600000000000); /* real wall-clock milliseconds */
            samples++;
        }
    }
    assert_true(up >= 1);
    assert_int_equal(samples, st->n_samples);
    free(body);
    ingest_rw_reader_deinit(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),      cmocka_unit_test(label_bytes),
        cmocka_unit_test(unknown_fields_skipped),
        cmocka_unit_test(last_one_wins),   cmocka_unit_test(truncations),
        cmocka_unit_test(malformed_table), cmocka_unit_test(limits),
        cmocka_unit_test(captured_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
