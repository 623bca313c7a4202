/* The `vigil promql fmt|enforce` subcommands: parse a query from the command line, print its canonical
 * form, optionally after tenant enforcement.
 *
 * Exit codes: 0 success, 1 the query was rejected (parse or enforcement error, printed to stderr as
 * "error: <message>"), 2 usage error. Nothing is written to stdout on failure. */
#include "promql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage_fmt(void) {
    fprintf(stderr, "usage: vigil promql fmt 'expr'\n");
    return 2;
}

static int usage_enforce(void) {
    fprintf(stderr, "usage: vigil promql enforce --label name=value [--label name=value ...] [--override] 'expr'\n"
                    "  Repeating a label name allows several values (matched with one =~ of quoted values).\n");
    return 2;
}

static void print_error(const char *expr, const vg_error_t *err) {
    fprintf(stderr, "error: %s\n", err->msg);
    if (err->pos >= 0 && expr && !strchr(expr, '\n')) {
        fprintf(stderr, "  %s\n  %*s^\n", expr, (int)err->pos, "");
    }
}

/* Parses, optionally enforces, prints. */
static int run(const char *expr, const promql_enforced_label_t *labels, size_t n_labels, promql_enforce_policy_t policy) {
    vg_arena_t arena;
    vg_arena_init(&arena, 8192);
    vg_error_t err;
    vg_error_clear(&err);
    promql_node_t *root;
    int rc = promql_parse(expr, strlen(expr), &arena, &root, &err);
    if (rc == 0 && labels) {
        rc = promql_enforce(root, labels, n_labels, policy, &arena, &err);
        if (rc > 0) rc = 0;
    }
    if (rc) {
        print_error(expr, &err);
        vg_arena_deinit(&arena);
        return 1;
    }
    vg_buf_t out = VG_BUF_INIT;
    rc = promql_print(root, &out);
    if (rc == 0) {
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
    } else {
        fprintf(stderr, "error: out of memory\n");
    }
    vg_buf_deinit(&out);
    vg_arena_deinit(&arena);
    return rc == 0 ? 0 : 1;
}

int promql_cmd_fmt(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) return usage_fmt();
    return run(argv[1], NULL, 0, PROMQL_ENFORCE_REJECT);
}

typedef struct label_arg {
    char *name;
    const char **values;
    size_t n_values;
} label_arg_t;

int promql_cmd_enforce(int argc, char **argv) {
    promql_enforce_policy_t policy = PROMQL_ENFORCE_REJECT;
    const char *expr = NULL;
    size_t n = 0;
    int rc = 2;
    label_arg_t *args = calloc((size_t)(argc > 0 ? argc : 1), sizeof *args);
    promql_enforced_label_t *labels = calloc((size_t)(argc > 0 ? argc : 1), sizeof *labels);
    if (!args || !labels) {
        fprintf(stderr, "error: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *spec = NULL;
        if (strcmp(a, "--override") == 0) {
            policy = PROMQL_ENFORCE_OVERRIDE;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) goto usage;
        if (strcmp(a, "--label") == 0 || strcmp(a, "-l") == 0) {
            if (++i >= argc) goto usage;
            spec = argv[i];
        } else if (strncmp(a, "--label=", 8) == 0) {
            spec = a + 8;
        } else if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
            fprintf(stderr, "error: unknown option %s\n", a);
            goto usage;
        } else {
            if (expr) goto usage;
            expr = a;
            continue;
        }
        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec) {
            fprintf(stderr, "error: --label wants name=value, got \"%s\"\n", spec);
            goto usage;
        }
        size_t nl = (size_t)(eq - spec);
        size_t k = 0;
        while (k < n && !(strlen(args[k].name) == nl && memcmp(args[k].name, spec, nl) == 0)) k++;
        if (k == n) {
            args[n].name = strndup(spec, nl);
            args[n].values = calloc((size_t)argc, sizeof *args[n].values);
            if (!args[n].name || !args[n].values) {
                fprintf(stderr, "error: out of memory\n");
                n++;
                rc = 1;
                goto out;
            }
            n++;
        }
        args[k].values[args[k].n_values++] = eq + 1;
    }
    if (!expr || n == 0) goto usage;
    for (size_t k = 0; k < n; k++) {
        labels[k].name = args[k].name;
        labels[k].values = args[k].values;
        labels[k].n_values = args[k].n_values;
    }
    rc = run(expr, labels, n, policy);
    goto out;
usage:
    rc = usage_enforce();
out:
    for (size_t k = 0; args && k < n; k++) {
        free(args[k].name);
        free(args[k].values);
    }
    free(args);
    free(labels);
    return rc;
}
