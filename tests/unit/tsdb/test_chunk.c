/* XOR chunks: encode->decode identity on 10^6 random series with adversarial values and timestamps,
 * bit-exact NaN payloads, resume-from-bytes, and no crash on truncated or bit-flipped chunks. */
#include "tsdb/chunkenc.h"
#include "util/error.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double u2f(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static uint64_t f2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static const uint64_t adversarial[] = {
    0x7ff0000000000002ull, /* staleness marker */
    0x7ff8000000000000ull, /* canonical NaN */
    0xfff8000000000001ull, /* negative NaN with payload */
    0x7ff0000000000001ull, /* signalling NaN */
    0x7fffffffffffffffull,
    0x7ff0000000000000ull, /* +Inf */
    0xfff0000000000000ull, /* -Inf */
    0x8000000000000000ull, /* -0 */
    0x0000000000000000ull,
    0x0000000000000001ull, /* smallest denormal */
    0x800fffffffffffffull, /* negative denormal */
    0x7fefffffffffffffull, /* DBL_MAX */
    0x0010000000000000ull, /* DBL_MIN */
};
#define N_ADV (sizeof adversarial / sizeof adversarial[0])

/* Fills t[] (strictly increasing) and v[] for one random series of n samples. */
static void gen_series(int64_t *t, uint64_t *v, size_t n) {
    unsigned tmode = (unsigned)(rnd() % 6), vmode = (unsigned)(rnd() % 7);
    int64_t ts = (int64_t)(rnd() % 4 == 0 ? (int64_t)(rnd() >> 2) - (INT64_C(1) << 61) : 1700000000000 + (int64_t)(rnd() % 100000000));
    double acc = (double)(rnd() % 1000);
    for (size_t i = 0; i < n; i++) {
        t[i] = ts;
        int64_t step;
        switch (tmode) {
        case 0: step = 15000; break;                                          /* regular */
        case 1: step = 15000 + (int64_t)(rnd() % 41) - 20; break;             /* jitter */
        case 2: step = rnd() % 10 == 0 ? 15000 * (int64_t)(rnd() % 1000 + 1) : 15000; break; /* gaps */
        case 3: step = (int64_t)(rnd() % (UINT64_C(1) << (rnd() % 40))) + 1; break;            /* wild */
        case 4: step = 1; break;
        default: step = (int64_t)(rnd() % ((UINT64_C(1) << 56))) + 1; break; /* huge jumps */
        }
        if (ts > INT64_MAX - step) step = 1; /* stay increasing; wrap not allowed */
        ts += step;
        switch (vmode) {
        case 0: v[i] = rnd(); break;                                 /* random bits incl. NaNs */
        case 1: v[i] = adversarial[rnd() % N_ADV]; break;
        case 2: acc += (double)(rnd() % 100); v[i] = f2u(acc); break; /* counter */
        case 3: v[i] = f2u(round((double)(int64_t)(rnd() % 10000) / 100.0 * 100) / 100); break; /* 2 decimals */
        case 4: v[i] = f2u(42.0); break;                              /* constant */
        case 5: v[i] = rnd() % 5 == 0 ? adversarial[rnd() % N_ADV] : f2u(acc += 0.1); break;
        default: v[i] = f2u(u2f(rnd()) * 0 + (double)(rnd() % 3) * DBL_MIN); break;
        }
    }
}

static void roundtrip_million(void **state) {
    (void)state;
    int64_t t[TSDB_CHUNK_MAX_SAMPLES];
    uint64_t v[TSDB_CHUNK_MAX_SAMPLES];
    size_t total = 0, n_dense = 0;
    tsdb_xor_enc_t e;
    for (size_t s = 0; s < 1000000; s++) {
        /* mostly short series to keep the test fast; every 50th is full */
        size_t n = s % 50 == 0 ? TSDB_CHUNK_MAX_SAMPLES : 1 + rnd() % 8;
        gen_series(t, v, n);
        tsdb_xor_enc_init(&e);
        for (size_t i = 0; i < n; i++) assert_int_equal(tsdb_xor_enc_append(&e, t[i], u2f(v[i])), 0);
        tsdb_xor_iter_t it;
        tsdb_xor_iter_init(&it, e.buf, tsdb_xor_enc_len(&e));
        size_t i = 0;
        while (tsdb_xor_iter_next(&it)) {
            if (i >= n || it.t != t[i] || it.v != v[i])
                fail_msg("series %zu sample %zu: got (%lld, %016llx) want (%lld, %016llx)", s, i, (long long)it.t,
                         (unsigned long long)it.v, (long long)t[i], (unsigned long long)v[i]);
            i++;
        }
        assert_int_equal(it.err, 0);
        assert_int_equal(i, n);
        total += n;
        /* the dense re-encoding (where the values allow it) decodes to the same bits */
        uint8_t dense[TSDB_CHUNK_MAX_BYTES];
        size_t dl = tsdb_dense_encode(t, v, n, dense, sizeof dense);
        if (dl) {
            int64_t t2[TSDB_CHUNK_MAX_SAMPLES];
            uint64_t v2[TSDB_CHUNK_MAX_SAMPLES];
            assert_int_equal(tsdb_dense_decode(dense, dl, t2, v2), (int)n);
            for (size_t k = 0; k < n; k++)
                if (t2[k] != t[k] || v2[k] != v[k])
                    fail_msg("dense series %zu sample %zu: got (%lld, %016llx) want (%lld, %016llx)", s, k,
                             (long long)t2[k], (unsigned long long)v2[k], (long long)t[k], (unsigned long long)v[k]);
            n_dense++;
        }
        tsdb_xor_enc_deinit(&e);
    }
    assert_true(total > 3000000);
    assert_true(n_dense > 100000);
}

static void dense_decimals_and_rejections(void **state) {
    (void)state;
    int64_t t[5] = {1000, 2000, 3000, 4000, 5001};
    uint64_t v[5];
    double vals[5] = {0.1, 0.2, 0.3, 1e13, -7.25};
    for (int i = 0; i < 5; i++) v[i] = f2u(vals[i]);
    uint8_t buf[TSDB_CHUNK_MAX_BYTES];
    size_t dl = tsdb_dense_encode(t, v, 5, buf, sizeof buf);
    assert_true(dl > 0);
    int64_t t2[TSDB_CHUNK_MAX_SAMPLES];
    uint64_t v2[TSDB_CHUNK_MAX_SAMPLES];
    assert_int_equal(tsdb_dense_decode(buf, dl, t2, v2), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t2[i], t[i]);
        assert_int_equal(v2[i], v[i]);
    }
    /* no dense form for NaN (staleness), Inf, -0 */
    uint64_t bad[] = {TSDB_STALE_NAN_BITS, 0x7ff0000000000000ull, 0x8000000000000000ull};
    for (int i = 0; i < 3; i++) {
        v[2] = bad[i];
        assert_int_equal(tsdb_dense_encode(t, v, 5, buf, sizeof buf), 0);
    }
    /* too small an output buffer: 0, never an overflow */
    v[2] = f2u(3.0);
    assert_int_equal(tsdb_dense_encode(t, v, 5, buf, 3), 0);
    /* every truncation and random bytes: a clean error */
    dl = tsdb_dense_encode(t, v, 5, buf, sizeof buf);
    for (size_t cut = 0; cut < dl; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, buf, cut);
        assert_int_equal(tsdb_dense_decode(p, cut, t2, v2), VG_ECORRUPT);
        free(p);
    }
    for (int r = 0; r < 50000; r++) {
        size_t len = rnd() % 40;
        uint8_t p[40];
        for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rnd();
        if (len) p[0] = (uint8_t)(1 + p[0] % 120);
        tsdb_dense_decode(p, len, t2, v2);
    }
}

static void stale_marker_bit_exact(void **state) {
    (void)state;
    tsdb_xor_enc_t e;
    tsdb_xor_enc_init(&e);
    uint64_t vals[] = {f2u(1.5), TSDB_STALE_NAN_BITS, f2u(1.5), TSDB_STALE_NAN_BITS, 0x7ff8000000000000ull};
    for (int i = 0; i < 5; i++) tsdb_xor_enc_append(&e, 1000 * i, u2f(vals[i]));
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, e.buf, tsdb_xor_enc_len(&e));
    for (int i = 0; i < 5; i++) {
        assert_true(tsdb_xor_iter_next(&it));
        assert_int_equal(it.v, vals[i]);
    }
    assert_false(tsdb_xor_iter_next(&it));
    tsdb_xor_enc_deinit(&e);
}

static void resume_matches_straight_encoding(void **state) {
    (void)state;
    int64_t t[TSDB_CHUNK_MAX_SAMPLES];
    uint64_t v[TSDB_CHUNK_MAX_SAMPLES];
    for (int round = 0; round < 2000; round++) {
        size_t n = 2 + rnd() % (TSDB_CHUNK_MAX_SAMPLES - 1), cut = rnd() % n;
        gen_series(t, v, n);
        tsdb_xor_enc_t a, b, c;
        tsdb_xor_enc_init(&a);
        tsdb_xor_enc_init(&b);
        for (size_t i = 0; i < n; i++) tsdb_xor_enc_append(&a, t[i], u2f(v[i]));
        for (size_t i = 0; i < cut; i++) tsdb_xor_enc_append(&b, t[i], u2f(v[i]));
        assert_int_equal(tsdb_xor_enc_resume(&c, b.buf, tsdb_xor_enc_len(&b)), 0);
        for (size_t i = cut; i < n; i++) tsdb_xor_enc_append(&c, t[i], u2f(v[i]));
        assert_int_equal(tsdb_xor_enc_len(&a), tsdb_xor_enc_len(&c));
        assert_memory_equal(a.buf, c.buf, tsdb_xor_enc_len(&a));
        tsdb_xor_enc_deinit(&a);
        tsdb_xor_enc_deinit(&b);
        tsdb_xor_enc_deinit(&c);
    }
}

static void corrupt_input_never_crashes(void **state) {
    (void)state;
    int64_t t[TSDB_CHUNK_MAX_SAMPLES];
    uint64_t v[TSDB_CHUNK_MAX_SAMPLES];
    for (int round = 0; round < 150; round++) {
        size_t n = 1 + rnd() % TSDB_CHUNK_MAX_SAMPLES;
        gen_series(t, v, n);
        tsdb_xor_enc_t e;
        tsdb_xor_enc_init(&e);
        for (size_t i = 0; i < n; i++) tsdb_xor_enc_append(&e, t[i], u2f(v[i]));
        size_t len = tsdb_xor_enc_len(&e);
        /* every truncation: exact copy in a tight buffer so ASan sees any overread */
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *p = malloc(cut ? cut : 1);
            memcpy(p, e.buf, cut);
            tsdb_xor_iter_t it;
            tsdb_xor_iter_init(&it, p, cut);
            size_t got = 0;
            while (tsdb_xor_iter_next(&it)) got++;
            assert_true(got <= n);
            if (cut < len && got == n && n > 0) {
                /* the missing bytes could only be zero padding bits of the last sample */
            } else if (cut > 0) {
                assert_int_equal(it.err, VG_ECORRUPT);
            }
            free(p);
        }
        /* bit flips */
        for (int f = 0; f < 50; f++) {
            uint8_t *p = malloc(len);
            memcpy(p, e.buf, len);
            p[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            tsdb_xor_iter_t it;
            tsdb_xor_iter_init(&it, p, len);
            while (tsdb_xor_iter_next(&it)) {
            }
            tsdb_xor_enc_t r;
            if (tsdb_xor_enc_resume(&r, p, len) == 0) tsdb_xor_enc_deinit(&r);
            free(p);
        }
        tsdb_xor_enc_deinit(&e);
    }
    /* random garbage */
    for (int round = 0; round < 20000; round++) {
        size_t len = rnd() % 64;
        uint8_t *p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rnd();
        tsdb_xor_iter_t it;
        tsdb_xor_iter_init(&it, p, len);
        while (tsdb_xor_iter_next(&it)) {
        }
        free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(roundtrip_million), cmocka_unit_test(stale_marker_bit_exact),
                                       cmocka_unit_test(resume_matches_straight_encoding),
                                       cmocka_unit_test(corrupt_input_never_crashes),
                                       cmocka_unit_test(dense_decimals_and_rejections)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
