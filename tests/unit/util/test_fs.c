/* Secret files as every HTTP client config reads them: trailing newlines trimmed, never cut short. */
#include "util/error.h"
#include "util/fs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_secret(void **state) {
    (void)state;
    char dir[] = "/tmp/vigil-fs-XXXXXX", path[64], out[8];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s", dir);
    vg_error_t err = {0};

    write_file(path, "token\r\n\n");
    assert_int_equal(vg_fs_read_secret(path, out, sizeof out, &err), 0);
    assert_string_equal(out, "token");

    write_file(path, "1234567"); /* exactly cap - 1 bytes: fits */
    assert_int_equal(vg_fs_read_secret(path, out, sizeof out, &err), 0);
    assert_string_equal(out, "1234567");

    write_file(path, "12345678"); /* one byte more: refused, not cut */
    assert_int_equal(vg_fs_read_secret(path, out, sizeof out, &err), VG_ELIMIT);
    assert_non_null(strstr(err.msg, "longer than 7 bytes"));
    assert_string_equal(out, "");

    unlink(path);
    assert_int_equal(vg_fs_read_secret(path, out, sizeof out, &err), VG_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(vg_fs_read_secret(path, out, sizeof out, NULL), VG_EIO);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(read_secret)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
