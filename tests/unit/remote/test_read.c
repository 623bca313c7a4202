/* remote read codec: ReadRequest encode → decode round trip (queries, every matcher type, packed and
 * unpacked accepted_response_types, hints and unknown fields skipped), every truncation of a valid
 * request refused cleanly, malformed messages with their offsets, the limits, negotiation as
 * Prometheus 2.42 does it, a ReadResponse read back by an independent decoder written here (after
 * snappy), and a streamed frame checked byte by byte (uvarint size, big-endian CRC32C computed here
 * bit by bit, ChunkedReadResponse fields); the client's ReadResponse decoder over what the server side
 * encodes (bit-exact values, the sample and size limits, every truncation). */
#include "remote/remote.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <snappy-c.h>

/* ---- an independent protobuf reader ---- */
typedef struct {
    const uint8_t *p, *end;
} rd_t;

static uint64_t rv(rd_t *r) {
    uint64_t v = 0;
    for (int s = 0; r->p < r->end; s += 7) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return v;
    }
    fail_msg("truncated varint");
    return 0;
}

static rd_t sub(rd_t *r) {
    uint64_t n = rv(r);
    assert_true(n <= (uint64_t)(r->end - r->p));
    rd_t s = {r->p, r->p + n};
    r->p += n;
    return s;
}

static uint32_t crc32c_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffff;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78 : c >> 1;
    }
    return ~c;
}

static remote_read_request_t sample_request(void) {
    static remote_read_matcher_t m1[] = {{REMOTE_MATCH_EQ, "__name__", "up"}, {REMOTE_MATCH_NEQ, "job", ""},
                                         {REMOTE_MATCH_RE, "namespace", "client-.*"}, {REMOTE_MATCH_NRE, "x", "a|b"}};
    static remote_read_matcher_t m2[] = {{REMOTE_MATCH_EQ, "a", "\xc3\xa9\"}"}};
    static remote_read_query_t q[] = {{-5, 1700000000000, m1, 4}, {0, 0, m2, 1}};
    static int acc[] = {REMOTE_READ_STREAMED_XOR_CHUNKS, REMOTE_READ_SAMPLES};
    return (remote_read_request_t){q, 2, acc, 2};
}

static void round_trip(void **state) {
    (void)state;
    remote_read_request_t in = sample_request();
    vg_buf_t pb = VG_BUF_INIT;
    assert_int_equal(remote_read_request_encode(&in, &pb), 0);
    /* an unknown field of every wire type at the top level, hints inside a query: all skipped */
    static const uint8_t extra[] = {0x48, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5d, 1, 2, 3, 4, 0x62, 0x02, 0x08, 0x01};
    vg_buf_append(&pb, extra, sizeof extra);
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    remote_read_request_t out;
    assert_int_equal(remote_read_request_decode_pb(pb.data, pb.len, NULL, &a, &out, &err), 0);
    assert_int_equal(out.n_queries, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(out.queries[i].start_ms, in.queries[i].start_ms);
        assert_int_equal(out.queries[i].end_ms, in.queries[i].end_ms);
        assert_int_equal(out.queries[i].n_matchers, in.queries[i].n_matchers);
        for (size_t k = 0; k < in.queries[i].n_matchers; k++) {
            assert_int_equal(out.queries[i].matchers[k].type, in.queries[i].matchers[k].type);
            assert_string_equal(out.queries[i].matchers[k].name, in.queries[i].matchers[k].name);
            assert_string_equal(out.queries[i].matchers[k].value, in.queries[i].matchers[k].value);
        }
    }
    assert_int_equal(out.n_accepted, 2);
    assert_int_equal(out.accepted[0], REMOTE_READ_STREAMED_XOR_CHUNKS);
    int type;
    assert_int_equal(remote_read_negotiate(&out, &type, &err), 0);
    assert_int_equal(type, REMOTE_READ_STREAMED_XOR_CHUNKS);
    /* snappy framing of the same bytes */
    size_t cap = snappy_max_compressed_length(pb.len), n = cap;
    char *z = malloc(cap);
    assert_int_equal(snappy_compress(pb.data, pb.len, z, &n), SNAPPY_OK);
    assert_int_equal(remote_read_request_decode(z, n, NULL, &a, &out, &err), 0);
    assert_int_equal(out.n_queries, 2);
    remote_read_limits_t lim = {.max_decoded = pb.len - 1};
    assert_int_equal(remote_read_request_decode(z, n, &lim, &a, &out, &err), VG_ETOOLARGE);
    lim = (remote_read_limits_t){.max_queries = 1};
    assert_int_equal(remote_read_request_decode(z, n, &lim, &a, &out, &err), VG_ELIMIT);
    lim = (remote_read_limits_t){.max_matchers = 3};
    assert_int_equal(remote_read_request_decode(z, n, &lim, &a, &out, &err), VG_ELIMIT);
    assert_int_equal(remote_read_request_decode("not snappy", 10, NULL, &a, &out, &err), VG_EINVAL);
    /* every strict prefix either decodes (it ends between fields) or fails with an offset inside it */
    for (size_t cut = 0; cut < pb.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, pb.data, cut);
        int rc = remote_read_request_decode_pb(p, cut, NULL, &a, &out, &err);
        if (rc) {
            assert_int_equal(rc, VG_EINVAL);
            assert_true(err.pos >= 0 && (size_t)err.pos <= cut);
        }
        free(p);
    }
    free(z);
    vg_buf_deinit(&pb);
    vg_arena_deinit(&a);
}

static void unpacked_and_negotiation(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    remote_read_request_t out;
    int type;
    static const uint8_t unpacked[] = {0x10, 0x07, 0x10, 0x01}; /* types 7 (unknown), then 1 */
    assert_int_equal(remote_read_request_decode_pb(unpacked, sizeof unpacked, NULL, &a, &out, &err), 0);
    assert_int_equal(out.n_accepted, 2);
    assert_int_equal(remote_read_negotiate(&out, &type, &err), 0);
    assert_int_equal(type, REMOTE_READ_STREAMED_XOR_CHUNKS);
    static const uint8_t only_unknown[] = {0x12, 0x01, 0x05};
    assert_int_equal(remote_read_request_decode_pb(only_unknown, sizeof only_unknown, NULL, &a, &out, &err), 0);
    assert_int_equal(remote_read_negotiate(&out, &type, &err), VG_EINVAL);
    assert_int_equal(remote_read_request_decode_pb("", 0, NULL, &a, &out, &err), 0);
    assert_int_equal(remote_read_negotiate(&out, &type, &err), 0);
    assert_int_equal(type, REMOTE_READ_SAMPLES);
    vg_arena_deinit(&a);
}

static void malformed(void **state) {
    (void)state;
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        long pos;
    } cases[] = {
        {"field number 0", "\x00\x01", 2, 0},
        {"group wire type", "\x0b", 1, 0},
        {"length past the end", "\x0a\x05\x08", 3, 1},
        {"queries as varint", "\x08\x01", 2, 0},
        {"matcher type 9", "\x0a\x04\x1a\x02\x08\x09", 6, 4},
        {"matcher name as varint", "\x0a\x04\x1a\x02\x10\x01", 6, 4},
        {"varint of 11 bytes", "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, 1},
        {"truncated fixed64", "\x19\x01\x02", 3, 1},
    };
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_error_t err;
        remote_read_request_t out;
        int rc = remote_read_request_decode_pb(cases[i].bytes, cases[i].len, NULL, &a, &out, &err);
        if (rc != VG_EINVAL || err.pos != cases[i].pos)
            fail_msg("%s: rc %d pos %ld (%s), want pos %ld", cases[i].name, rc, err.pos, err.msg, cases[i].pos);
        assert_non_null(strstr(err.msg, "protobuf: "));
    }
    vg_arena_deinit(&a);
}

static void samples_response(void **state) {
    (void)state;
    model_label_t l1[] = {{"__name__", "up"}, {"job", "a"}};
    int64_t t1[] = {1000, 2000, -3};
    union { uint64_t u; double d; } stale = {.u = UINT64_C(0x7ff0000000000002)};
    double v1[] = {1.5, 0, stale.d};
    remote_read_series_t s[] = {{l1, 2, t1, v1, 3}, {l1, 1, NULL, NULL, 0}};
    remote_read_response_t r;
    remote_read_response_init(&r);
    assert_int_equal(remote_read_response_query(&r, s, 2), 0);
    assert_int_equal(remote_read_response_query(&r, NULL, 0), 0);
    vg_buf_t z = VG_BUF_INIT;
    assert_int_equal(remote_read_response_finish(&r, &z), 0);
    remote_read_response_deinit(&r);
    size_t n;
    assert_int_equal(snappy_uncompressed_length(z.data, z.len, &n), SNAPPY_OK);
    uint8_t *pb = malloc(n);
    assert_int_equal(snappy_uncompress(z.data, z.len, (char *)pb, &n), SNAPPY_OK);
    rd_t top = {pb, pb + n};
    size_t results = 0, series = 0, samples = 0, labels = 0;
    while (top.p < top.end) {
        assert_int_equal(rv(&top), 1 << 3 | 2); /* results */
        rd_t qr = sub(&top);
        results++;
        while (qr.p < qr.end) {
            assert_int_equal(rv(&qr), 1 << 3 | 2); /* timeseries */
            rd_t ts = sub(&qr);
            series++;
            while (ts.p < ts.end) {
                uint64_t tag = rv(&ts);
                rd_t m = sub(&ts);
                if (tag == (1 << 3 | 2)) {
                    labels++;
                    continue;
                }
                assert_int_equal(tag, 2 << 3 | 2);
                double v = 0;
                int64_t t = 0;
                while (m.p < m.end) {
                    uint64_t f = rv(&m);
                    if (f == (1 << 3 | 1)) {
                        uint64_t bits = 0;
                        for (int i = 7; i >= 0; i--) bits = bits << 8 | m.p[i];
                        memcpy(&v, &bits, 8);
                        m.p += 8;
                    } else {
                        assert_int_equal(f, 2 << 3 | 0);
                        t = (int64_t)rv(&m);
                    }
                }
                assert_int_equal(t, t1[samples]);
                assert_memory_equal(&v, &v1[samples], 8); /* bit-exact, staleness marker included */
                samples++;
            }
        }
    }
    assert_int_equal(results, 2);
    assert_int_equal(series, 2);
    assert_int_equal(labels, 3);
    assert_int_equal(samples, 3);
    free(pb);
    vg_buf_deinit(&z);
}

static void frame(void **state) {
    (void)state;
    model_label_t l[] = {{"__name__", "up"}};
    static const uint8_t c1[] = {0x00, 0x01, 0xaa}, c2[] = {0x00, 0x02, 0xbb, 0xcc};
    remote_read_chunk_t cs[] = {{1000, 2000, c1, sizeof c1}, {3000, 4000, c2, sizeof c2}};
    const remote_read_chunk_t *chunks[] = {cs};
    size_t nc[] = {2};
    remote_read_series_t s[] = {{l, 1, NULL, NULL, 0}};
    vg_buf_t out = VG_BUF_INIT;
    assert_int_equal(remote_read_frame(&out, 3, s, chunks, nc, 1), 0);
    size_t first = out.len;
    assert_int_equal(remote_read_frame(&out, 0, s, chunks, nc, 1), 0);
    rd_t f = {(const uint8_t *)out.data, (const uint8_t *)out.data + first};
    uint64_t size = rv(&f);
    assert_int_equal(size, (uint64_t)(f.end - f.p - 4));
    uint32_t crc = (uint32_t)f.p[0] << 24 | (uint32_t)f.p[1] << 16 | (uint32_t)f.p[2] << 8 | f.p[3];
    f.p += 4;
    assert_int_equal(crc, crc32c_bitwise(f.p, size));
    size_t n_chunks = 0;
    int64_t qi = -1;
    while (f.p < f.end) {
        uint64_t tag = rv(&f);
        if (tag == (2 << 3 | 0)) {
            qi = (int64_t)rv(&f);
            continue;
        }
        assert_int_equal(tag, 1 << 3 | 2);
        rd_t cser = sub(&f);
        while (cser.p < cser.end) {
            uint64_t t2 = rv(&cser);
            rd_t m = sub(&cser);
            if (t2 != (2 << 3 | 2)) continue;
            int64_t mint = 0, maxt = 0, type = 0;
            rd_t data = {0};
            while (m.p < m.end) {
                uint64_t ft = rv(&m);
                if (ft == (4 << 3 | 2)) data = sub(&m);
                else if (ft == (1 << 3)) mint = (int64_t)rv(&m);
                else if (ft == (2 << 3)) maxt = (int64_t)rv(&m);
                else if (ft == (3 << 3)) type = (int64_t)rv(&m);
                else fail_msg("unexpected tag %llu", (unsigned long long)ft);
            }
            assert_int_equal(type, 1);
            assert_int_equal(mint, cs[n_chunks].min_t);
            assert_int_equal(maxt, cs[n_chunks].max_t);
            assert_int_equal(data.end - data.p, cs[n_chunks].len);
            assert_memory_equal(data.p, cs[n_chunks].data, cs[n_chunks].len);
            n_chunks++;
        }
    }
    assert_int_equal(qi, 3);
    assert_int_equal(n_chunks, 2);
    /* the second frame: query_index 0 is left out, as proto3 writes a zero */
    assert_true(out.len - first < first);
    vg_buf_deinit(&out);
}

/* A ReadResponse built by the server side decoded by the client side: results in order, labels sorted
 * (given unsorted), samples bit-exact (NaN payloads, negative and zero timestamps, -0.0), the sample
 * limit exact at the bound, max_decoded, and every truncation of the protobuf refused or read without
 * a fault. */
static void response_decode(void **state) {
    (void)state;
    model_label_t l1[] = {{"__name__", "up"}, {"job", "a"}}, l2[] = {{"__name__", "x"}};
    int64_t t1[] = {-1000, 0, 5}, t2[] = {1700000000000};
    double stale, v1[3] = {1.5, -0.0, 0}, v2[] = {INFINITY};
    uint64_t stale_bits = 0x7ff0000000000002ull;
    memcpy(&stale, &stale_bits, sizeof stale);
    v1[2] = stale;
    remote_read_series_t s1[] = {{l1, 2, t1, v1, 3}, {l2, 1, t2, v2, 1}};
    remote_read_response_t r;
    remote_read_response_init(&r);
    assert_int_equal(remote_read_response_query(&r, s1, 2), 0);
    assert_int_equal(remote_read_response_query(&r, NULL, 0), 0);
    vg_buf_t z = VG_BUF_INIT;
    assert_int_equal(remote_read_response_finish(&r, &z), 0);
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err = {0};
    remote_read_result_t *res;
    size_t n;
    assert_int_equal(remote_read_response_decode(z.data, z.len, 0, -1, &a, &res, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(res[0].n_series, 2);
    assert_int_equal(res[1].n_series, 0);
    const remote_read_series_t *g = &res[0].series[0];
    assert_int_equal(g->n_labels, 2);
    assert_string_equal(g->labels[0].name, "__name__");
    assert_string_equal(g->labels[1].value, "a");
    assert_int_equal(g->n_samples, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(g->t[i], t1[i]);
        assert_memory_equal(&g->v[i], &v1[i], sizeof(double));
    }
    assert_int_equal(res[0].series[1].t[0], 1700000000000);
    assert_true(isinf(res[0].series[1].v[0]));
    /* the sample limit: 4 samples fit in 4, not in 3 */
    assert_int_equal(remote_read_response_decode(z.data, z.len, 0, 4, &a, &res, &n, &err), 0);
    assert_int_equal(remote_read_response_decode(z.data, z.len, 0, 3, &a, &res, &n, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "more than 3 samples"));
    assert_int_equal(remote_read_response_decode(z.data, z.len, 8, -1, &a, &res, &n, &err), VG_ETOOLARGE);
    assert_int_equal(remote_read_response_decode("\xff\xff\xff\xff\x0f", 5, 0, -1, &a, &res, &n, &err), VG_EINVAL);
    /* every prefix of the protobuf: a clean answer or a clean error */
    for (size_t cut = 0; cut < r.pb.len; cut++) {
        int rc = remote_read_response_decode_pb(r.pb.data, cut, -1, &a, &res, &n, &err);
        assert_true(rc == 0 || rc == VG_EINVAL);
    }
    vg_arena_deinit(&a);
    vg_buf_deinit(&z);
    remote_read_response_deinit(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),       cmocka_unit_test(unpacked_and_negotiation), cmocka_unit_test(malformed),
        cmocka_unit_test(samples_response), cmocka_unit_test(frame),       cmocka_unit_test(response_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
