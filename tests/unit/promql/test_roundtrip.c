/* Every expression of Prometheus 2.42's own test files and of the PromQL compliance queries parses, prints
 * and re-parses to an equal tree; read from ../shared at run time, skipped when it is absent. */
#include "promql/promql.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *read_path(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    vg_buf_t b = VG_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) vg_buf_append(&b, chunk, n);
    fclose(f);
    return vg_buf_steal(&b, NULL);
}

static bool shared_dir(char *out, size_t cap, const char *sub) {
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    if (!root) return false;
    snprintf(out, cap, "%s/../shared/promql/%s", root, sub);
    DIR *d = opendir(out);
    if (!d) return false;
    closedir(d);
    return true;
}

/* 0 = round-trips, 1 = parse error (msg in err). Fails the test when a parsed query does not round-trip. */
static int roundtrip(const char *q, vg_error_t *err) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    promql_node_t *n, *n2;
    int rc = promql_parse(q, strlen(q), &a, &n, err);
    if (rc == 0) {
        vg_buf_t b = VG_BUF_INIT;
        assert_int_equal(promql_print(n, &b), 0);
        vg_error_t e2;
        if (promql_parse(b.data, b.len, &a, &n2, &e2) != 0) fail_msg("\"%s\" printed as \"%s\": %s", q, b.data, e2.msg);
        if (!promql_node_equal(n, n2)) fail_msg("\"%s\" printed as \"%s\" re-parses differently", q, b.data);
        vg_buf_deinit(&b);
    }
    vg_arena_deinit(&a);
    return rc == 0 ? 0 : 1;
}

/* The harness' eval regex: ^eval(?:_(fail|ordered))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$ */
static const char *eval_expr(char *line, bool *is_fail) {
    while (*line == ' ' || *line == '\t') line++;
    if (strncmp(line, "eval", 4) != 0) return NULL;
    char *p = line + 4;
    *is_fail = strncmp(p, "_fail", 5) == 0;
    if (*is_fail) p += 5;
    else if (strncmp(p, "_ordered", 8) == 0) p += 8;
    while (*p == ' ' || *p == '\t') p++;
    if (strncmp(p, "instant", 7) != 0) return NULL;
    p += 7;
    while (*p == ' ' || *p == '\t') p++;
    if (strncmp(p, "at", 2) == 0 && (p[2] == ' ' || p[2] == '\t')) {
        p += 2;
        while (*p == ' ' || *p == '\t') p++;
        while (*p && *p != ' ' && *p != '\t') p++; /* the time */
        while (*p == ' ' || *p == '\t') p++;
    }
    char *end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) *--end = '\0';
    return *p ? p : NULL;
}

static void testdata_v2_42(void **state) {
    (void)state;
    char dir[4096];
    if (!shared_dir(dir, sizeof dir, "testdata-v2.42.0")) {
        print_message("../shared/promql/testdata-v2.42.0 not found: skipping\n");
        skip();
    }
    DIR *d = opendir(dir);
    assert_non_null(d);
    int total = 0, ok = 0, files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl < 6 || strcmp(de->d_name + nl - 5, ".test") != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char *text = read_path(path);
        assert_non_null(text);
        files++;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            bool is_fail = false;
            const char *q = eval_expr(line, &is_fail);
            if (!q) continue;
            total++;
            vg_error_t err;
            /* In 2.42 a syntax error is a file error, so even eval_fail expressions must parse. */
            if (roundtrip(q, &err) != 0) fail_msg("%s: \"%s\" does not parse: %s", de->d_name, q, err.msg);
            ok++;
        }
        free(text);
    }
    closedir(d);
    print_message("testdata-v2.42.0: %d files, %d of %d expressions round-trip\n", files, ok, total);
    assert_int_equal(files, 11);
    assert_int_equal(total, 566);
}

static void compliance_queries(void **state) {
    (void)state;
    char dir[4096];
    if (!shared_dir(dir, sizeof dir, "compliance")) {
        print_message("../shared/promql/compliance not found: skipping\n");
        skip();
    }
    char path[8192];
    snprintf(path, sizeof path, "%s/expanded-queries.tsv", dir);
    char *text = read_path(path);
    if (!text) skip();
    int total = 0, ok = 0, failing_parse = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        bool should_fail = strncmp(line, "FAIL", 4) == 0;
        const char *q = tab + 1;
        total++;
        vg_error_t err;
        if (roundtrip(q, &err) == 0) {
            ok++;
        } else if (should_fail) {
            failing_parse++; /* e.g. {__name__=~".*"}: rejected at parse time, as Prometheus does */
        } else {
            fail_msg("compliance query \"%s\" does not parse: %s", q, err.msg);
        }
    }
    free(text);
    print_message("compliance: %d of %d queries round-trip, %d expected failures rejected by the parser\n", ok, total,
                  failing_parse);
    assert_int_equal(total, 539);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testdata_v2_42),
        cmocka_unit_test(compliance_queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
