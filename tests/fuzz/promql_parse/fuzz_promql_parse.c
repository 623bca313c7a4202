/* libFuzzer target for the PromQL front end. Any input that parses must print, re-parse to an equal tree,
 * print identically again, and survive tenant enforcement (both policies) with the invariant "every
 * selector carries the tenant matcher and nothing else matches on that label" holding on a re-parse of
 * the enforced text. Violations abort. */
#include "promql/promql.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const promql_limits_t big = {1u << 24, 0, 0};

static void die(const char *what, const uint8_t *data, size_t size, const char *detail) {
    fprintf(stderr, "promql fuzz: %s\n  input: %.*s\n  detail: %s\n", what, (int)size, (const char *)data, detail);
    abort();
}

static void check_enforce(promql_node_t *n, const promql_enforced_label_t *l, size_t nl, promql_enforce_policy_t policy,
                          bool selector, vg_arena_t *a, const uint8_t *data, size_t size) {
    vg_error_t err;
    int rc = promql_enforce(n, l, nl, policy, a, &err);
    if (rc < 0) {
        if (policy == PROMQL_ENFORCE_OVERRIDE || rc != VG_EFORBIDDEN) die("enforce failed", data, size, err.msg);
        return;
    }
    vg_buf_t b = VG_BUF_INIT;
    if (promql_print(n, &b) != 0) die("print after enforce failed", data, size, "");
    promql_node_t *n2;
    rc = selector ? promql_parse_selector(b.data, b.len, &big, a, &n2, &err) : promql_parse_ex(b.data, b.len, &big, a, &n2, &err);
    if (rc != 0) die("enforced text does not parse", data, size, err.msg);
    if (!promql_node_equal(n, n2)) die("enforced text re-parses differently", data, size, b.data);
    if (promql_enforce_check(n2, l, nl, &err) != 0) die("enforcement invariant broken", data, size, b.data);
    vg_buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    vg_error_t err;
    promql_node_t *n;
    bool selector = size > 0 && data[0] == '!'; /* inputs starting with '!' exercise the match[] parser */
    const char *text = (const char *)data + (selector ? 1 : 0);
    size_t len = size - (selector ? 1 : 0);
    int rc = selector ? promql_parse_selector(text, len, NULL, &a, &n, &err) : promql_parse(text, len, &a, &n, &err);
    if (rc != 0) {
        if (n != NULL || err.code >= 0 || err.msg[0] == '\0') die("bad error report", data, size, err.msg);
        vg_arena_deinit(&a);
        return 0;
    }
    vg_buf_t b1 = VG_BUF_INIT, b2 = VG_BUF_INIT;
    if (promql_print(n, &b1) != 0) die("print failed", data, size, "");
    promql_node_t *n2;
    rc = selector ? promql_parse_selector(b1.data, b1.len, &big, &a, &n2, &err)
                  : promql_parse_ex(b1.data, b1.len, &big, &a, &n2, &err);
    if (rc != 0) die("printed text does not parse", data, size, err.msg);
    if (!promql_node_equal(n, n2)) die("printed text re-parses differently", data, size, b1.data);
    if (promql_print(n2, &b2) != 0 || strcmp(b1.data, b2.data) != 0) die("printing is not idempotent", data, size, b2.data);

    static const char *const one[] = {"client-alice"};
    static const char *const many[] = {"client-alice", "a|b", ".*", "x\"}\\", "\n"};
    const promql_enforced_label_t single = {"namespace", one, 1};
    const promql_enforced_label_t multi[] = {{"namespace", many, 5}, {"job", one, 1}};
    check_enforce(n2, &single, 1, PROMQL_ENFORCE_REJECT, selector, &a, data, size);
    check_enforce(n, &single, 1, PROMQL_ENFORCE_OVERRIDE, selector, &a, data, size);
    check_enforce(n, multi, 2, PROMQL_ENFORCE_OVERRIDE, selector, &a, data, size);
    vg_buf_deinit(&b1);
    vg_buf_deinit(&b2);
    vg_arena_deinit(&a);
    return 0;
}
