/* model labels and symbols: normalisation, validation errors, hashing, ordering, interning. */
#include "model/labels.h"
#include "model/symbols.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void normalize_sorts_and_drops_empty(void **state) {
    (void)state;
    model_label_t l[] = {{"job", "api"}, {"__name__", "up"}, {"empty", ""}, {"instance", "a:1"}};
    size_t n = 4;
    vg_error_t err;
    assert_int_equal(model_labels_normalize(l, &n, NULL, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(l[0].name, "__name__");
    assert_string_equal(l[1].name, "instance");
    assert_string_equal(l[2].name, "job");
    assert_string_equal(model_labels_get(l, n, "job"), "api");
    assert_null(model_labels_get(l, n, "empty"));
    char buf[128];
    model_labels_format(l, n, buf, sizeof buf);
    assert_string_equal(buf, "up{instance=\"a:1\", job=\"api\"}");
}

static void validation_errors(void **state) {
    (void)state;
    vg_error_t err;
    struct {
        const char *name, *value;
        int code;
        const char *needle;
    } cases[] = {
        {"1abc", "x", VG_EINVAL, "invalid label name"},
        {"a-b", "x", VG_EINVAL, "invalid label name"},
        {"__name__", "9up", VG_EINVAL, "invalid metric name"},
        {"ok", "\xff\xfe", VG_EINVAL, "UTF-8"},
        {"ok", "\xed\xa0\x80", VG_EINVAL, "UTF-8"}, /* surrogate */
        {"ok", "\xc0\xaf", VG_EINVAL, "UTF-8"},     /* overlong */
        {"ok", "caf\xc3", VG_EINVAL, "UTF-8"},      /* truncated */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_label_t l[] = {{"__name__", "m"}, {cases[i].name, cases[i].value}};
        size_t n = 2;
        if (!strcmp(cases[i].name, "__name__")) n = 1, l[0].value = cases[i].value;
        int rc = model_labels_normalize(l, &n, NULL, &err);
        if (rc != cases[i].code || !strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: rc=%d msg=%s", i, rc, err.msg);
    }
    model_label_t dup[] = {{"a", "1"}, {"a", "2"}};
    size_t n = 2;
    assert_int_equal(model_labels_normalize(dup, &n, NULL, &err), VG_EINVAL);
    assert_non_null(strstr(err.msg, "duplicate"));
    model_label_limits_t lim = {.max_labels = 1, .max_name_len = 3, .max_value_len = 3};
    model_label_t two[] = {{"a", "1"}, {"b", "2"}};
    n = 2;
    assert_int_equal(model_labels_normalize(two, &n, &lim, &err), VG_ELIMIT);
    model_label_t longv[] = {{"a", "1234"}};
    n = 1;
    assert_int_equal(model_labels_normalize(longv, &n, &lim, &err), VG_ELIMIT);
    model_label_t ok[] = {{"a", "caf\xc3\xa9 \xf0\x9f\x98\x80"}};
    n = 1;
    assert_int_equal(model_labels_normalize(ok, &n, NULL, &err), 0);
}

static void hash_and_order(void **state) {
    (void)state;
    model_label_t a[] = {{"a", "1"}, {"b", "2"}};
    model_label_t b[] = {{"a", "1"}, {"b", "2"}};
    model_label_t c[] = {{"a", "12"}};
    model_label_t d[] = {{"a", "1"}, {"b", "3"}};
    assert_int_equal(model_labels_hash(a, 2), model_labels_hash(b, 2));
    assert_true(model_labels_hash(a, 2) != model_labels_hash(c, 1));
    assert_true(model_labels_hash(a, 2) != model_labels_hash(d, 2));
    assert_int_equal(model_labels_cmp(a, 2, b, 2), 0);
    assert_true(model_labels_cmp(a, 2, d, 2) < 0);
    assert_true(model_labels_cmp(a, 1, a, 2) < 0);
    /* long sets take the streaming path and must agree with the buffered one's determinism */
    static char big[2000];
    memset(big, 'x', sizeof big - 1);
    model_label_t e[] = {{"a", big}};
    assert_int_equal(model_labels_hash(e, 1), model_labels_hash(e, 1));
    model_label_t *dupd = model_labels_dup(a, 2);
    assert_true(model_labels_equal(dupd, 2, a, 2));
    assert_ptr_not_equal(dupd[0].name, a[0].name);
    free(dupd);
}

static void symbols_intern(void **state) {
    (void)state;
    model_symtab_t *t = model_symtab_new();
    const char *x = model_symtab_intern(t, "hello", 5);
    char tmp[] = "hello";
    assert_ptr_equal(model_symtab_intern(t, tmp, 5), x);
    assert_string_equal(x, "hello");
    const char *ptrs[20000];
    for (int i = 0; i < 20000; i++) {
        char b[32];
        int l = snprintf(b, sizeof b, "v%d", i);
        ptrs[i] = model_symtab_intern(t, b, (size_t)l);
    }
    for (int i = 0; i < 20000; i++) {
        char b[32];
        int l = snprintf(b, sizeof b, "v%d", i);
        assert_ptr_equal(model_symtab_intern(t, b, (size_t)l), ptrs[i]);
    }
    char *huge = malloc(100000);
    memset(huge, 'z', 99999);
    huge[99999] = 0;
    assert_string_equal(model_symtab_intern(t, huge, 99999), huge);
    free(huge);
    assert_int_equal(model_symtab_count(t), 20002);
    assert_true(model_symtab_bytes(t) > 0);
    model_symtab_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(normalize_sorts_and_drops_empty), cmocka_unit_test(validation_errors),
        cmocka_unit_test(hash_and_order), cmocka_unit_test(symbols_intern)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
