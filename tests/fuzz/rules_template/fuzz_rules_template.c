/* libFuzzer target for alert templates: arbitrary bytes are parsed and, when they parse, executed with
 * fixed labels, value and a query function returning two samples. Parsing and execution must end in a
 * result or an error message (never a crash, a hang or a leak), an error must carry a message, and the
 * output must respect the size limit. Violations abort. */
#include "rules/template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int query(void *ctx, const char *expr, int64_t t_ms, vg_arena_t *arena, rules_tmpl_sample_t **out, size_t *n_out,
                 vg_error_t *err) {
    (void)ctx;
    (void)t_ms;
    static const model_label_t a[] = {{"__name__", "up"}, {"instance", "b:1"}}, b[] = {{"instance", "a:2"}};
    if (!strcmp(expr, "fail")) return vg_error_set(err, VG_EEXEC, "query failed");
    rules_tmpl_sample_t *v = vg_arena_alloc(arena, 2 * sizeof *v);
    if (!v) return vg_error_set(err, VG_ENOMEM, "out of memory");
    v[0] = (rules_tmpl_sample_t){a, 2, 1.5};
    v[1] = (rules_tmpl_sample_t){b, 1, -2};
    *out = v;
    *n_out = expr[0] ? 2 : 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const model_label_t labels[] = {{"instance", "web-1:9100"}, {"job", "node"}};
    static const model_label_t ext[] = {{"cluster", "eu"}};
    rules_template_t *t;
    vg_error_t err;
    vg_error_clear(&err);
    if (rules_template_parse("fuzz", (const char *)data, size, &t, &err) != 0) {
        if (!err.msg[0] || strncmp(err.msg, "template: fuzz:", 15) != 0) {
            fprintf(stderr, "parse error without a positioned message: %s\n", err.msg);
            abort();
        }
        return 0;
    }
    rules_tmpl_data_t d = {.labels = labels, .n_labels = 2, .external_labels = ext, .n_external_labels = 1,
                           .external_url = "http://x:9090/p", .value = 1234.5, .query = query};
    vg_buf_t out = VG_BUF_INIT;
    int rc = rules_template_exec(t, &d, &out, &err);
    if (rc < 0 && !err.msg[0]) {
        fprintf(stderr, "execution error without a message\n");
        abort();
    }
    if (rc == 0 && out.len > RULES_TMPL_MAX_OUTPUT) {
        fprintf(stderr, "output of %zu bytes passed the limit\n", out.len);
        abort();
    }
    vg_buf_deinit(&out);
    rules_template_free(t);
    return 0;
}
