/* `vigil promql fmt|enforce`: output on stdout, errors on stderr, exit codes 0/1/2. */
#include "promql/promql.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef int (*cmd_fn)(int, char **);

/* Runs cmd with stdout and stderr captured into out/errout (each at least 4096 bytes). */
static int capture(cmd_fn cmd, int argc, char **argv, char *out, char *errout) {
    fflush(stdout);
    fflush(stderr);
    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    int rc = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    rewind(fo);
    rewind(fe);
    size_t n = fread(out, 1, 4095, fo);
    out[n] = '\0';
    n = fread(errout, 1, 4095, fe);
    errout[n] = '\0';
    fclose(fo);
    fclose(fe);
    return rc;
}

static void fmt_ok(void **state) {
    (void)state;
    char out[4096], err[4096];
    char *argv[] = {"fmt", "sum(rate(x{b=\"1\",a=\"2\"}[5m])) by (job)", NULL};
    assert_int_equal(capture(promql_cmd_fmt, 2, argv, out, err), 0);
    assert_string_equal(out, "sum by (job) (rate(x{a=\"2\",b=\"1\"}[5m]))\n");
    assert_string_equal(err, "");
}

static void fmt_errors(void **state) {
    (void)state;
    char out[4096], err[4096];
    char *bad[] = {"fmt", "sum(x", NULL};
    assert_int_equal(capture(promql_cmd_fmt, 2, bad, out, err), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "error: 1:6: parse error: unclosed left parenthesis"));
    char *usage[] = {"fmt", NULL};
    assert_int_equal(capture(promql_cmd_fmt, 1, usage, out, err), 2);
    assert_non_null(strstr(err, "usage"));
}

static void enforce_ok(void **state) {
    (void)state;
    char out[4096], err[4096];
    char *argv[] = {"enforce", "--label", "namespace=client-alice", "rate(x[5m]) / y", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 4, argv, out, err), 0);
    assert_string_equal(out, "rate(x{namespace=\"client-alice\"}[5m]) / y{namespace=\"client-alice\"}\n");
    char *multi[] = {"enforce", "--label=namespace=a", "-l", "namespace=b.c", "x", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 5, multi, out, err), 0);
    assert_string_equal(out, "x{namespace=~\"a|b\\\\.c\"}\n");
}

static void enforce_reject_override(void **state) {
    (void)state;
    char out[4096], err[4096];
    char *argv[] = {"enforce", "--label", "namespace=client-alice", "x{namespace=\"client-bob\"}", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 4, argv, out, err), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "error: label \"namespace\" is enforced"));
    char *ov[] = {"enforce", "--label", "namespace=client-alice", "--override", "x{namespace=\"client-bob\"}", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 5, ov, out, err), 0);
    assert_string_equal(out, "x{namespace=\"client-alice\"}\n");
    char *nolabel[] = {"enforce", "x", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 2, nolabel, out, err), 2);
    char *badlabel[] = {"enforce", "--label", "novalue", "x", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 4, badlabel, out, err), 2);
    char *badname[] = {"enforce", "--label", "1x=y", "x", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 4, badname, out, err), 1);
    char *unknown[] = {"enforce", "--frobnicate", "x", NULL};
    assert_int_equal(capture(promql_cmd_enforce, 3, unknown, out, err), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fmt_ok),
        cmocka_unit_test(fmt_errors),
        cmocka_unit_test(enforce_ok),
        cmocka_unit_test(enforce_reject_override),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
