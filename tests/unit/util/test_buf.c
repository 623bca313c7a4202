/* vg_buf and vg_arena: growth, formatting, ownership hand-off. */
#include "util/arena.h"
#include "util/buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void buf_grow(void **state) {
    (void)state;
    vg_buf_t b = VG_BUF_INIT;
    for (int i = 0; i < 10000; i++) vg_buf_putc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[b.len], '\0');
    vg_buf_reset(&b);
    vg_buf_printf(&b, "%s-%d-%0300d", "x", 7, 1);
    assert_int_equal(b.len, 4 + 300);
    vg_buf_reset(&b);
    vg_buf_put_i64(&b, INT64_MIN);
    assert_string_equal(b.data, "-9223372036854775808");
    size_t n;
    char *s = vg_buf_steal(&b, &n);
    assert_int_equal(n, 20);
    assert_null(b.data);
    free(s);
    vg_buf_deinit(&b);
}

static void arena(void **state) {
    (void)state;
    vg_arena_t a;
    vg_arena_init(&a, 128);
    char *p = NULL;
    for (int i = 0; i < 1000; i++) {
        p = vg_arena_alloc(&a, (size_t)(i % 300) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xAB, (size_t)(i % 300) + 1);
    }
    char *s = vg_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    vg_arena_reset(&a);
    assert_int_equal(a.total, 0);
    a.limit = 64;
    assert_non_null(vg_arena_alloc(&a, 48));
    assert_null(vg_arena_alloc(&a, 32));
    vg_arena_deinit(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(buf_grow), cmocka_unit_test(arena)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
